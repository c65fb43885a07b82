"""parse_uri: the same results as websockets.uri.parse_uri."""

import dataclasses
import sys

import pytest
import websockets.uri as theirs

from websockets_fast.exceptions import InvalidURI
from websockets_fast.uri import WebSocketURI, parse_uri

VALID = [
    "ws://localhost/",
    "wss://localhost/",
    "ws://localhost",
    "ws://localhost/path?query",
    "ws://localhost/path;params",
    "WS://LOCALHOST/PATH?QUERY",
    "ws://localhost:8080/",
    "wss://localhost:443/",
    "ws://[::1]:9000/",
    "ws://127.0.0.1/",
    "ws://user:pass@localhost/",
    "ws://us%3Aer:p%40ss@localhost/",
    "ws://user:@localhost/",
    "ws://héllo.example/päth?qüery",
    "wss://localhost/?",
]


@pytest.mark.parametrize("uri", VALID)
def test_same_as_websockets(uri):
    ours = parse_uri(uri)
    reference = theirs.parse_uri(uri)
    for name in ("secure", "host", "port", "path", "query", "username", "password", "resource_name", "user_info"):
        assert getattr(ours, name) == getattr(reference, name), name


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost/",
        "https://localhost/",
        "localhost/",
        "ws:///path",
        "ws://localhost/#fragment",
        "ws://user@localhost/",
        "ws://localhost:port/",
        "ws://localhost:99999/",
        "ws://u%ff:p@localhost/",
    ],
)
def test_invalid(uri):
    with pytest.raises(InvalidURI) as info:
        parse_uri(uri)
    assert uri in str(info.value)


def test_resource_name_and_user_info():
    uri = parse_uri("wss://a:b@example.com:8443")
    assert uri.resource_name == "/"
    assert uri.user_info == ("a", "b")
    assert uri.port == 8443 and uri.secure
    assert parse_uri("ws://example.com/x?y=1").resource_name == "/x?y=1"
    assert parse_uri("ws://example.com").user_info is None


def test_equality_repr_and_slots():
    assert parse_uri("ws://h/p") == WebSocketURI(False, "h", 80, "/p", "")
    assert parse_uri("ws://h/p") != parse_uri("ws://h/q")
    assert "secret" not in repr(parse_uri("ws://u:secret@h/"))
    if sys.version_info >= (3, 10):  # dataclass slots
        with pytest.raises(AttributeError):
            parse_uri("ws://h/").extra = 1


def test_a_dataclass_as_in_websockets():
    uri = parse_uri("ws://u:p@h:8080/p?q")
    assert [field.name for field in dataclasses.fields(uri)] == [
        field.name for field in dataclasses.fields(theirs.WebSocketURI)
    ]
    assert dataclasses.replace(uri, port=9090).port == 9090
    assert dataclasses.astuple(uri) == (False, "h", 8080, "/p", "q", "u", "p")
