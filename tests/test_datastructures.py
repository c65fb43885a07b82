"""Headers: the same behaviour as websockets.datastructures.Headers."""

import pytest
import websockets.datastructures as theirs

from websockets_fast.datastructures import Headers, MultipleValuesError
from websockets_fast.exceptions import InvalidHeaderValue


def make():
    headers = Headers()
    headers["Connection"] = "Upgrade"
    headers["Server"] = "websockets_fast"
    return headers


def test_lookup_is_case_insensitive():
    headers = make()
    assert headers["connection"] == "Upgrade"
    assert headers["CONNECTION"] == "Upgrade"
    assert "server" in headers and "Server" in headers
    assert "missing" not in headers
    assert 42 not in headers
    with pytest.raises(KeyError):
        headers["missing"]
    assert headers.get("missing") is None
    assert headers.get("server") == "websockets_fast"


def test_multiple_values():
    headers = make()
    headers["Set-Cookie"] = "a=1"
    headers["set-cookie"] = "b=2"
    with pytest.raises(MultipleValuesError) as info:
        headers["Set-Cookie"]
    assert str(info.value) == "'Set-Cookie'"
    assert isinstance(info.value, LookupError)
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert headers.get_all("missing") == []
    assert list(headers.raw_items()) == [
        ("Connection", "Upgrade"),
        ("Server", "websockets_fast"),
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]
    assert len(headers) == 3
    assert list(headers) == ["connection", "server", "set-cookie"]


def test_delete_removes_every_value():
    headers = make()
    headers["server"] = "again"
    del headers["SERVER"]
    assert "server" not in headers
    assert list(headers.raw_items()) == [("Connection", "Upgrade")]
    with pytest.raises(KeyError):
        del headers["server"]


def test_str_and_serialize_match_websockets():
    headers = make()
    headers["X-Latin"] = "caf\xe9"
    reference = theirs.Headers(list(headers.raw_items()))
    assert str(headers) == str(reference)
    assert headers.serialize() == reference.serialize()
    assert headers.serialize().endswith(b"X-Latin: caf\xe9\r\n\r\n")
    assert repr(headers) == "Headers([('Connection', 'Upgrade'), ('Server', 'websockets_fast'), ('X-Latin', 'café')])"
    assert Headers().serialize() == b"\r\n"


@pytest.mark.parametrize("value", ["a\r\nInjected: yes", "a\nb", "a\x00", "\x7f", "snow\u2603"])
def test_unsafe_values_are_refused(value):
    headers = Headers()
    with pytest.raises(InvalidHeaderValue):
        headers["X"] = value
    assert list(headers.raw_items()) == []
    # Trusted code may bypass the check.
    headers.set_insecure("X", value)
    assert headers["X"] == value


def test_constructors_and_update():
    assert list(Headers({"A": "1"}, B="2").raw_items()) == [("A", "1"), ("B", "2")]
    assert list(Headers([("A", "1"), ("a", "2")]).raw_items()) == [("A", "1"), ("a", "2")]
    source = Headers([("A", "1"), ("a", "2")])
    copy = Headers(source)
    assert copy.get_all("a") == ["1", "2"]
    headers = make()
    headers.update({"Connection": "keep-alive"}, Extra="x")
    assert headers.get_all("connection") == ["Upgrade", "keep-alive"]
    assert headers["extra"] == "x"
    with pytest.raises(InvalidHeaderValue):
        headers.update({"Bad": "a\r\n"})


def test_copy_is_independent():
    headers = make()
    copy = headers.copy()
    assert copy == headers and copy is not headers
    copy["Connection"] = "close"
    assert headers.get_all("connection") == ["Upgrade"]
    assert copy.get_all("connection") == ["Upgrade", "close"]
    assert copy != headers


def test_equality_ignores_name_case_but_not_values():
    assert Headers(A="1") == Headers(a="1")
    assert Headers(A="1") != Headers(A="2")
    assert Headers() != {}  # not a Headers: NotImplemented, then identity
    headers = make()
    headers.clear()
    assert headers == Headers() and list(headers.raw_items()) == []


def test_mapping_methods():
    headers = make()
    assert dict(headers.items()) == {"connection": "Upgrade", "server": "websockets_fast"}
    assert headers.pop("server") == "websockets_fast"
    assert headers.setdefault("x", "1") == "1"
    assert headers.setdefault("X", "2") == "1"


def test_slots_keep_instances_small():
    with pytest.raises(AttributeError):
        Headers().anything = 1
