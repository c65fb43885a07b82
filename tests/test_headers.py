"""Header grammars: the same results and errors as websockets.headers."""

import pytest
import websockets.exceptions
import websockets.headers as theirs
from hypothesis import given, settings
from hypothesis import strategies as st

from websockets_fast import headers as ours
from websockets_fast.exceptions import InvalidHeaderFormat, InvalidHeaderValue

PARSERS = ["parse_connection", "parse_upgrade", "parse_extension", "parse_subprotocol"]


def outcome(module, errors, name, value):
    try:
        return ("ok", getattr(module, name)(value))
    except errors as exc:
        return (type(exc).__name__, str(exc))


def compare(name, value):
    mine = outcome(ours, (InvalidHeaderFormat, InvalidHeaderValue), name, value)
    reference = outcome(
        theirs, (websockets.exceptions.InvalidHeaderFormat, websockets.exceptions.InvalidHeaderValue), name, value
    )
    assert mine == reference


CASES = [
    "",
    ",",
    ",,",
    "a",
    "a,b",
    ",a",
    "a,",
    "a, ,b",
    "a b",
    "a , b ,, c",
    "Upgrade, keep-alive",
    "websocket",
    "WebSocket/13",
    "h2c, websocket",
    "a/",
    "a/b/c",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
    'a; b="c"',
    'a; b="c d"',
    'a; b="\\c"',
    'a; b="',
    "a;b=",
    "a; b = c ; d",
    "a, b; c=1, d",
    "a;;",
    "a; b=c=d",
    "x-webkit-deflate-frame",
    "a\tb",
    "é",
]


@pytest.mark.parametrize("name", PARSERS)
@pytest.mark.parametrize("value", CASES)
def test_parsers_match_websockets(name, value):
    compare(name, value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab=;,/" \t\\x1-')), max_size=24))
def test_parsers_match_websockets_on_random_input(value):
    for name in PARSERS:
        compare(name, value)


def test_error_names_position():
    with pytest.raises(InvalidHeaderFormat) as info:
        ours.parse_connection("Upgrade;x")
    assert str(info.value) == "invalid Connection header: expected comma at 7 in Upgrade;x"
    with pytest.raises(InvalidHeaderFormat) as info:
        ours.parse_extension('a; b="c d"')
    assert str(info.value) == 'invalid Sec-WebSocket-Extensions header: invalid quoted header content at 5 in a; b="c d"'


def test_build_extension_and_subprotocol_round_trip():
    extensions = [("permessage-deflate", [("client_max_window_bits", None), ("server_max_window_bits", "10")]), ("x", [])]
    header = ours.build_extension(extensions)
    assert header == theirs.build_extension(extensions)
    assert ours.parse_extension(header) == extensions
    assert ours.build_subprotocol(["chat", "v2.json"]) == "chat, v2.json"
    assert ours.parse_subprotocol("chat, v2.json") == ["chat", "v2.json"]


def test_validate_subprotocols():
    ours.validate_subprotocols(["chat", "v1.x"])
    ours.validate_subprotocols(())
    with pytest.raises(TypeError):
        ours.validate_subprotocols("chat")
    with pytest.raises(TypeError):
        ours.validate_subprotocols({"chat"})
    with pytest.raises(ValueError):
        ours.validate_subprotocols(["has space"])


@pytest.mark.parametrize(
    "host, port, secure, always, expected",
    [
        ("example.com", 80, False, False, "example.com"),
        ("example.com", 443, True, False, "example.com"),
        ("example.com", 443, False, False, "example.com:443"),
        ("example.com", 80, True, True, "example.com:80"),
        ("127.0.0.1", 8000, False, False, "127.0.0.1:8000"),
        ("::1", 80, False, False, "[::1]"),
        ("::1", 8000, True, False, "[::1]:8000"),
    ],
)
def test_build_host(host, port, secure, always, expected):
    assert ours.build_host(host, port, secure, always_include_port=always) == expected
    assert theirs.build_host(host, port, secure, always_include_port=always) == expected


def test_basic_authentication():
    header = ours.build_authorization_basic("user", "pa:ss\u00e9")
    assert header == theirs.build_authorization_basic("user", "pa:ss\u00e9")
    assert ours.parse_authorization_basic(header) == ("user", "pa:ss\u00e9")
    assert ours.build_www_authenticate_basic('my "realm"') == theirs.build_www_authenticate_basic('my "realm"')
    with pytest.raises(ValueError):
        ours.build_authorization_basic("us:er", "x")
    with pytest.raises(ValueError):
        ours.build_www_authenticate_basic("bad\nrealm")


@pytest.mark.parametrize(
    "value",
    [
        "Basic dXNlcjpwYXNz",
        "basic dXNlcjpwYXNz",
        "Bearer x",
        "Basic",
        "Basic  x",
        "Basic dXNlcg==",
        "Basic !!",
        "Basic abc= x",
        "Basic abc",
        "Basic /w==",
        "",
    ],
)
def test_parse_authorization_matches_websockets(value):
    compare("parse_authorization_basic", value)


def test_keys():
    assert ours.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3
    keys = {ours.generate_key() for _ in range(8)}
    assert len(keys) == 8 and all(len(key) == 24 for key in keys)
