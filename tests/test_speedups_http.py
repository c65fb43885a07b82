"""HTTP/1.1 head parsing with hard limits (websockets_fast.speedups).

The unit tests run on the active backend; the property tests compare the
compiled parser with its twin on random and adversarial heads.
"""

import importlib
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from websockets_fast.speedups import HTTPLimitError, HTTPParseError, parse_request, parse_response

PURE = importlib.import_module("websockets_fast._pyspeedups.http")
try:
    COMPILED = importlib.import_module("websockets_fast._speedups.http")
except ImportError:  # not built: the comparisons have nothing to compare
    COMPILED = None

needs_compiled = pytest.mark.skipif(COMPILED is None, reason="compiled http module not built")

try:
    from websockets.datastructures import Headers as PeerHeaders
    from websockets.http11 import Request as PeerRequest
    from websockets.http11 import Response as PeerResponse
    from websockets.streams import StreamReader as PeerStreamReader
except ImportError:  # the no-compiler install check runs without test extras
    PeerRequest = None

needs_peer = pytest.mark.skipif(PeerRequest is None, reason="websockets (the interop peer) not installed")

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: example.com:8000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)


def outcome(call, *args, **kwargs):
    try:
        return ("ok", call(*args, **kwargs))
    except Exception as exc:
        return ("error", type(exc), str(exc))


def head(*lines):
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


# Requests


def test_request():
    method, target, version, headers, length = parse_request(REQUEST + b"\x81\x00 frames follow")
    assert (method, target, version, length) == ("GET", "/chat?room=1", "HTTP/1.1", len(REQUEST))
    assert headers == [
        ("Host", "example.com:8000"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]


def test_request_without_headers_and_http_1_0():
    assert parse_request(b"OPTIONS * HTTP/1.0\r\n\r\n") == ("OPTIONS", "*", "HTTP/1.0", [], 22)


def test_request_buffers():
    expected = parse_request(REQUEST)
    assert parse_request(bytearray(REQUEST)) == expected
    assert parse_request(memoryview(REQUEST)) == expected
    with pytest.raises(TypeError):
        parse_request(REQUEST.decode())
    with pytest.raises(BufferError):
        parse_request(memoryview(REQUEST)[::2])


def test_request_incremental():
    # None at every prefix, then the head; never an error on a valid prefix.
    for cut in range(len(REQUEST)):
        assert parse_request(REQUEST[:cut]) is None
    assert parse_request(REQUEST)[4] == len(REQUEST)


def run_generator(gen):
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def peer_request(data):
    reader = PeerStreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return run_generator(PeerRequest.parse(reader.read_line))


def peer_response(data):
    reader = PeerStreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return run_generator(PeerResponse.parse(reader.read_line, reader.read_exact, reader.read_to_eof))


@needs_peer
def test_same_as_websockets_on_a_handshake():
    request = peer_request(REQUEST)
    ours = parse_request(REQUEST)
    assert ours[1] == request.path
    assert ours[3] == list(request.headers.raw_items())
    response = peer_response(RESPONSE)
    ours = parse_response(RESPONSE)
    assert (ours[1], ours[2]) == (response.status_code, response.reason_phrase)
    assert ours[3] == list(response.headers.raw_items())


@pytest.mark.parametrize(
    "line",
    [
        b"GET /",  # no version
        b"GET",
        b"",  # an empty request line
        b"GET  / HTTP/1.1",  # empty target
        b" GET / HTTP/1.1",  # empty method
        b"G(T / HTTP/1.1",  # method not a token
        b"GET /\x7f HTTP/1.1",  # control character in target
        b"GET /caf\xc3\xa9 HTTP/1.1",  # non-ASCII target
        b"GET / HTTP/1.1 ",
        b"GET / HTTP/2.0",
        b"GET / HTTP/1.10",
        b"GET / http/1.1",
        b"GET / HTTP/1.1\x00",
        b"GET / / HTTP/1.1",
    ],
)
def test_request_line_rejected(line):
    with pytest.raises(HTTPParseError) as info:
        parse_request(line + b"\r\nHost: x\r\n\r\n")
    assert type(info.value) is HTTPParseError


# Responses


def test_response():
    version, status, reason, headers, length = parse_response(RESPONSE)
    assert (version, status, reason, length) == ("HTTP/1.1", 101, "Switching Protocols", len(RESPONSE))
    assert headers[2] == ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


@pytest.mark.parametrize(
    "line, status, reason",
    [
        (b"HTTP/1.1 200 OK", 200, "OK"),
        (b"HTTP/1.1 404", 404, ""),
        (b"HTTP/1.1 404 ", 404, ""),
        (b"HTTP/1.0 503 Service  Unavailable\t", 503, "Service  Unavailable\t"),
        (b"HTTP/1.1 100 Caf\xe9", 100, "Caf\udce9"),
        (b"HTTP/1.1 599 x", 599, "x"),
    ],
)
def test_status_line(line, status, reason):
    assert parse_response(line + b"\r\n\r\n")[1:3] == (status, reason)


@pytest.mark.parametrize(
    "line",
    [
        b"HTTP/1.1",
        b"HTTP/1.1 ",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 099 Low",
        b"HTTP/1.1 600 High",
        b"HTTP/1.1 1x1 Bad",
        b"HTTP/1.1 +01 Bad",
        b"HTTP/1.1  200 OK",
        b"HTTP/2 200 OK",
        b"ICY 200 OK",
        b"HTTP/1.1 200 O\x00K",
        b"HTTP/1.1 200 OK\x7f",
        b"HTTP/1.1 200 O\rK",
    ],
)
def test_status_line_rejected(line):
    with pytest.raises(HTTPParseError) as info:
        parse_response(line + b"\r\n\r\n")
    assert type(info.value) is HTTPParseError


def test_response_incremental():
    for cut in range(len(RESPONSE)):
        assert parse_response(RESPONSE[:cut]) is None
    assert parse_response(RESPONSE)[4] == len(RESPONSE)


# Header fields, shared by both


@pytest.mark.parametrize("parse, start", [(parse_request, b"GET / HTTP/1.1"), (parse_response, b"HTTP/1.1 200 OK")])
class TestHeaders:
    def test_value_whitespace_stripped(self, parse, start):
        headers = parse(head(start, b"A:  b c \t", b"Empty:", b"Tab:\tx"))[3]
        assert headers == [("A", "b c"), ("Empty", ""), ("Tab", "x")]

    def test_value_obs_text_surrogateescape(self, parse, start):
        headers = parse(head(start, b"X: caf\xe9 \xff"))[3]
        assert headers == [("X", "caf\udce9 \udcff")]
        assert headers[0][1].encode("ascii", "surrogateescape") == b"caf\xe9 \xff"

    def test_repeated_names_kept_in_order(self, parse, start):
        headers = parse(head(start, b"Set: 1", b"set: 2", b"Set: 3"))[3]
        assert headers == [("Set", "1"), ("set", "2"), ("Set", "3")]

    def test_colon_in_value(self, parse, start):
        assert parse(head(start, b"Host: a:1"))[3] == [("Host", "a:1")]

    @pytest.mark.parametrize(
        "line",
        [
            b" folded",  # obs-fold
            b"\tfolded",
            b"NoColon",
            b": empty name",
            b"Sp ace: x",
            b"Trailing : x",
            b"N\x00: x",
            b"N\xe9: x",
            b"A: b\x00c",
            b"A: b\x1bc",
            b"A: b\x7f",
            b"A: b\rc",
        ],
    )
    def test_bad_header_line(self, parse, start, line):
        with pytest.raises(HTTPParseError) as info:
            parse(head(start, b"Good: 1", line))
        assert type(info.value) is HTTPParseError

    def test_bare_lf_rejected(self, parse, start):
        for data in (
            start + b"\n\r\n",
            start + b"\r\nA: b\n\r\n",
            start + b"\r\nA: b\r\n\n",
            start + b"\r\n\n",
        ):
            with pytest.raises(HTTPParseError, match="bare LF") as info:
                parse(data)
            assert type(info.value) is HTTPParseError

    def test_cr_without_lf_at_the_end_is_incomplete(self, parse, start):
        assert parse(start + b"\r\nA: b\r") is None
        assert parse(start + b"\r\nA: b\r\n\r") is None

    def test_max_headers_boundary(self, parse, start):
        lines = [b"H%d: v" % i for i in range(128)]
        assert len(parse(head(start, *lines))[3]) == 128
        with pytest.raises(HTTPLimitError):
            parse(head(start, *lines, b"One: more"))
        assert len(parse(head(start, *lines[:3]), max_headers=3)[3]) == 3
        with pytest.raises(HTTPLimitError):
            parse(head(start, *lines[:4]), max_headers=3)
        assert parse(head(start), max_headers=0)[3] == []
        with pytest.raises(HTTPLimitError):
            parse(head(start, b"A: b"), max_headers=0)

    def test_max_line_boundary(self, parse, start):
        # A line is at most max_line bytes, CRLF included.
        name = b"X: "
        exact = name + b"v" * (8192 - len(name) - 2)
        assert parse(head(start, exact))[3][0][1] == "v" * (8192 - len(name) - 2)
        with pytest.raises(HTTPLimitError):
            parse(head(start, exact + b"v"))
        # A smaller limit, which the start line itself just meets.
        limit = len(start) + 2
        fits = b"A: " + b"x" * (limit - 5)
        assert parse(head(start, fits), max_line=limit) is not None
        with pytest.raises(HTTPLimitError):
            parse(head(start, fits + b"x"), max_line=limit)
        with pytest.raises(HTTPLimitError):
            parse(head(start), max_line=limit - 1)

    def test_overlong_line_raises_before_its_end_arrives(self, parse, start):
        prefix = start + b"\r\nX: "
        partial = prefix + b"v" * (8192 - 3)  # the header line is now 8192 bytes without LF
        assert parse(partial[:-1]) is None
        with pytest.raises(HTTPLimitError):
            parse(partial)
        # The start line, too.
        assert parse(b"G" * 8191) is None
        with pytest.raises(HTTPLimitError):
            parse(b"G" * 8192)

    def test_huge_input_is_not_scanned(self, parse, start):
        # 16 MiB of garbage without a newline: rejected after max_line bytes,
        # without copying it.
        data = bytearray(16 * 1024 * 1024)
        tracemalloc.start()
        try:
            with pytest.raises(HTTPLimitError):
                parse(memoryview(data))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 1024 * 1024

    def test_head_length_excludes_what_follows(self, parse, start):
        data = head(start, b"A: b")
        assert parse(data + b"GET / HTTP/1.1\r\n\r\n")[4] == len(data)

    def test_bad_limits(self, parse, start):
        for kwargs in ({"max_line": 0}, {"max_headers": -1}):
            with pytest.raises(ValueError) as info:
                parse(head(start), **kwargs)
            assert not isinstance(info.value, HTTPParseError)
        with pytest.raises(TypeError):
            parse(head(start), max_line=8192.0)

    def test_huge_limits(self, parse, start):
        assert parse(head(start, b"A: b"), max_line=2**80, max_headers=2**80)[3] == [("A", "b")]


# The two implementations agree.

tokens = st.sampled_from([b"GET", b"POST", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"101", b"200", b"099", b"600", b""])
pieces = st.one_of(
    tokens,
    st.sampled_from([b" ", b"  ", b"\t", b":", b": ", b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\r\n ", b"/", b"\x00", b"\xff"]),
    st.binary(max_size=12),
    st.text(alphabet="abcXYZ-_019!~ ", max_size=12).map(str.encode),
)
heads = st.lists(pieces, max_size=30).map(b"".join)
limits = st.tuples(st.integers(1, 40), st.integers(0, 4))


def structured_head(draw, first_line):
    lines = [first_line]
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.sampled_from([b"Host", b"X-A", b"a b", b"", b"N\x00", b"Upgrade"]))
        value = draw(st.sampled_from([b"x", b" padded\t", b"", b"caf\xe9", b"b\x00d", b"x\ry"]))
        separator = draw(st.sampled_from([b": ", b":", b" : ", b""]))
        lines.append(draw(st.sampled_from([b"", b" ", b"\t"])) + name + separator + value)
    ending = draw(st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"]))
    return b"".join(line + ending for line in lines) + draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b""]))


@st.composite
def request_heads(draw):
    method = draw(st.sampled_from([b"GET", b"G T", b"", b"P\xffST"]))
    target = draw(st.sampled_from([b"/", b"/a?b=c", b"", b"/\x01", b"/\xe9", b"*"]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"", b"HTTP/1.1 "]))
    return structured_head(draw, method + b" " + target + b" " + version)


@st.composite
def response_heads(draw):
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b""]))
    status = draw(st.sampled_from([b"101", b"200", b"404", b"99", b"600", b"1a1", b""]))
    reason = draw(st.sampled_from([b"", b" OK", b" Caf\xe9", b" bad\x00", b" two  spaces", b"  x"]))
    return structured_head(draw, version + b" " + status + reason)


def same_both_ways(data, max_line, max_headers):
    for name in ("parse_request", "parse_response"):
        for kwargs in ({}, {"max_line": max_line, "max_headers": max_headers}):
            compiled = outcome(getattr(COMPILED, name), data, **kwargs)
            assert compiled == outcome(getattr(PURE, name), data, **kwargs)
            assert compiled == outcome(getattr(PURE, name), memoryview(data), **kwargs)


@needs_compiled
@PROPERTY
@given(heads, limits)
def test_same_on_random_input(data, limits):
    same_both_ways(data, *limits)


@needs_compiled
@PROPERTY
@given(st.one_of(request_heads(), response_heads()), limits, st.integers(0, 400))
def test_same_on_structured_input_and_every_prefix(data, limits, cut):
    same_both_ways(data, *limits)
    same_both_ways(data[:cut], *limits)


@needs_peer
@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(["Host", "X-Key", "Upgrade"]), st.text("abc xyz=/", max_size=20)), max_size=10))
def test_websockets_serializer_output_parsed(fields):
    headers = PeerHeaders()
    for name, value in fields:
        headers[name] = value
    data = PeerRequest("/path?q", headers).serialize()
    parsed = parse_request(data)
    assert parsed[:3] == ("GET", "/path?q", "HTTP/1.1")
    assert parsed[3] == [(name, value.strip(" ")) for name, value in headers.raw_items()]
    assert parsed[4] == len(data)
