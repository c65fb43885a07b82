"""Proxy addresses and the environment, compared with websockets.proxy."""

import pytest
import websockets.proxy as theirs
import websockets.uri

from websockets_fast.exceptions import InvalidProxy
from websockets_fast.proxy import Proxy, get_proxy, parse_proxy, prepare_connect_request
from websockets_fast.uri import parse_uri

VALID = [
    "http://proxy",
    "https://proxy",
    "http://proxy:8080",
    "https://proxy/",
    "socks5h://proxy:1080",
    "socks5://proxy:1080",
    "socks4a://proxy:1080",
    "socks4://proxy:1080",
    "http://user:pass@proxy:3128",
    "http://us%40er:p%3Ass@proxy",
    "http://[::1]:3128",
    "http://prôxy.example",
]


@pytest.mark.parametrize("proxy", VALID)
def test_same_as_websockets(proxy):
    ours = parse_proxy(proxy)
    reference = theirs.parse_proxy(proxy)
    for name in ("scheme", "host", "port", "username", "password", "user_info"):
        assert getattr(ours, name) == getattr(reference, name), name


@pytest.mark.parametrize(
    "proxy, message",
    [
        ("ftp://proxy", "scheme ftp isn't supported"),
        ("http://", "hostname isn't provided"),
        ("http://proxy/path", "path is meaningless"),
        ("http://proxy/?q", "query is meaningless"),
        ("http://proxy/#f", "fragment is meaningless"),
        ("http://user@proxy", "username provided without password"),
        ("http://proxy:nope", None),
    ],
)
def test_invalid(proxy, message):
    with pytest.raises(InvalidProxy) as info:
        parse_proxy(proxy)
    if message is not None:
        assert str(info.value) == f"{proxy} isn't a valid proxy: {message}"


ENV = ["ws_proxy", "wss_proxy", "socks_proxy", "https_proxy", "http_proxy", "all_proxy", "no_proxy"]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "env, uri",
    [
        ({}, "ws://example.com/"),
        ({"http_proxy": "http://h:1"}, "ws://example.com/"),
        ({"http_proxy": "http://h:1"}, "wss://example.com/"),
        ({"https_proxy": "http://s:2", "http_proxy": "http://h:1"}, "ws://example.com/"),
        ({"socks_proxy": "http://k:3", "https_proxy": "http://s:2"}, "wss://example.com/"),
        ({"wss_proxy": "http://w:4", "socks_proxy": "socks5h://k:3"}, "wss://example.com/"),
        ({"ws_proxy": "http://w:4"}, "ws://example.com/"),
        ({"http_proxy": "http://h:1", "no_proxy": "example.com"}, "ws://example.com/"),
    ],
)
def test_get_proxy_same_as_websockets(clean_env, env, uri):
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert get_proxy(parse_uri(uri)) == theirs.get_proxy(websockets.uri.parse_uri(uri))


def test_get_proxy_socks_from_http_form(clean_env):
    clean_env.setenv("socks_proxy", "http://k:3")
    assert get_proxy(parse_uri("ws://example.com/")) == "socks5h://k:3"


def test_connect_request():
    proxy = parse_proxy("http://user:pass@proxy:3128")
    request = prepare_connect_request(proxy, parse_uri("wss://example.com/chat"), "agent/1")
    reference = theirs.prepare_connect_request(
        theirs.parse_proxy("http://user:pass@proxy:3128"), websockets.uri.parse_uri("wss://example.com/chat"), "agent/1"
    )
    assert request == reference
    assert request.startswith(b"CONNECT example.com:443 HTTP/1.1\r\n")
    bare = prepare_connect_request(parse_proxy("http://proxy"), parse_uri("ws://[::1]:8000/"), None)
    assert bare == b"CONNECT [::1]:8000 HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n"


def test_proxy_object():
    assert parse_proxy("http://proxy") == Proxy("http", "proxy", 80)
    assert parse_proxy("http://proxy").user_info is None
    assert "s3cret" not in repr(parse_proxy("http://u:s3cret@proxy"))
