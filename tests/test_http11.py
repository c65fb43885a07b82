"""HTTP/1.1 heads of the handshake: serialising, incremental parsing, limits."""

import os
import subprocess
import sys

import pytest
import websockets.http11 as their_http11
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.streams import StreamReader

from websockets_fast import http11
from websockets_fast.datastructures import Headers
from websockets_fast.exceptions import HeaderLineTooLong, RequestLineTooLong, SecurityError, StatusLineTooLong, TooManyHeaders
from websockets_fast.http11 import Request, RequestParser, Response, ResponseParser
from websockets_fast.version import version

REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def their_request(data):
    reader = StreamReader()
    reader.feed_data(data)
    parser = their_http11.Request.parse(reader.read_line)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete")


def their_response(data):
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = their_http11.Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete")


def parse_request(data):
    return RequestParser().feed(data)


def test_request_matches_websockets():
    request, following = parse_request(REQUEST + b"\x81\x00")
    assert following == b"\x81\x00"
    reference = their_request(REQUEST)
    assert (request.method, request.path, request.protocol) == (reference.method, reference.path, reference.protocol)
    assert list(request.headers.raw_items()) == list(reference.headers.raw_items())
    assert request.serialize() == REQUEST == reference.serialize()


def test_response_serialize_matches_websockets():
    headers = Headers([("Content-Type", "text/plain"), ("X-Latin", "caf\xe9")])
    ours = Response(404, "Not Found", headers, b"nope")
    theirs = their_http11.Response(404, "Not Found", their_http11.Headers(list(headers.raw_items())), b"nope")
    assert ours.serialize() == theirs.serialize()
    assert ours == Response(404, "Not Found", headers.copy(), b"nope")
    assert "Not Found" in repr(ours)


def test_request_refuses_non_ascii_path_on_serialize():
    with pytest.raises(UnicodeEncodeError):
        Request("/caf\xe9", Headers()).serialize()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(REQUEST)), max_size=12))
def test_any_split_gives_the_same_request(cuts):
    parser = RequestParser()
    positions = sorted(set(cuts)) + [len(REQUEST) + 2]
    start = 0
    data = REQUEST + b"\x88\x80"
    result = None
    for end in positions:
        piece = data[start:end]
        start = end
        if result is None:
            result = parser.feed(piece)
            if result is not None:
                following = result[1] + data[end:]
                break
    request, _ = result
    assert request == parse_request(REQUEST)[0]
    assert following == b"\x88\x80"


def test_non_ascii_values_are_iso_8859_1():
    request, _ = parse_request(b"GET / HTTP/1.1\r\nX-Name: caf\xe9\xff\r\n\r\n")
    assert request.headers["X-Name"] == "caf\xe9\xff"
    assert request.serialize() == b"GET / HTTP/1.1\r\nX-Name: caf\xe9\xff\r\n\r\n"
    response, _ = ResponseParser().feed(b"HTTP/1.1 101 Sw\xefitching\r\n\r\n")
    assert response.reason_phrase == "Sw\xefitching"
    assert response.reason_phrase == their_response(b"HTTP/1.1 101 Sw\xefitching\r\n\r\n").reason_phrase


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
        b"GET / HTTP/2\r\n\r\n",
        b"GET /a b HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX\r\n\r\n",
    ],
)
def test_request_errors(data):
    with pytest.raises((ValueError, NotImplementedError)):
        parse_request(data)


def test_content_length_zero_is_tolerated():
    request, _ = parse_request(b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n")
    assert request.headers.get_all("content-length") == ["0", "0"]


def test_eof_errors():
    parser = RequestParser()
    parser.feed(b"GET / HT")
    with pytest.raises(EOFError, match="request line"):
        parser.feed_eof()
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost")
    with pytest.raises(EOFError, match="headers"):
        parser.feed_eof()
    parser = ResponseParser()
    with pytest.raises(EOFError, match="status line"):
        parser.feed_eof()


# Limits, exactly as websockets counts them: a line is at most
# MAX_LINE_LENGTH bytes with its CRLF; at most MAX_NUM_HEADERS headers.


def classify(parse, data):
    try:
        parse(data)
    except SecurityError as exc:
        return type(exc).__name__
    return "ok"


LINE = http11.MAX_LINE_LENGTH


@pytest.mark.parametrize(
    "data",
    [
        b"GET /" + b"a" * (LINE - 16) + b" HTTP/1.1\r\n\r\n",  # request line of exactly LINE bytes
        b"GET /" + b"a" * (LINE - 15) + b" HTTP/1.1\r\n\r\n",  # one byte more
        b"GET / HTTP/1.1\r\nX: " + b"a" * (LINE - 5) + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: " + b"a" * (LINE - 4) + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * http11.MAX_NUM_HEADERS + b"\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (http11.MAX_NUM_HEADERS + 1) + b"\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * http11.MAX_NUM_HEADERS + b"X: " + b"a" * LINE + b"\r\n\r\n",
    ],
)
def test_request_limits_match_websockets(data):
    import websockets.exceptions as their_exceptions

    try:
        their_request(data)
        expected = "ok"
    except their_exceptions.SecurityError as exc:
        expected = type(exc).__name__
    assert classify(parse_request, data) == expected
    # Delivered in small pieces, the verdict is the same.
    parser = RequestParser()
    verdict = "ok"
    try:
        for i in range(0, len(data), 7):
            parser.feed(data[i : i + 7])
    except SecurityError as exc:
        verdict = type(exc).__name__
    assert verdict == expected


def test_status_line_limit():
    data = b"HTTP/1.1 200 " + b"O" * LINE + b"\r\n\r\n"
    with pytest.raises(StatusLineTooLong):
        ResponseParser().feed(data)
    with pytest.raises(StatusLineTooLong):
        ResponseParser().feed(data[: LINE + 1])  # no CRLF yet: rejected already


def test_overlong_line_rejected_before_its_end_arrives():
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(HeaderLineTooLong):
        for _ in range(LINE):
            parser.feed(b"a")
    assert len(parser._buffer) <= 16 + LINE


def test_small_limits_bound_the_buffer():
    parser = RequestParser(max_line=64, max_headers=4)
    with pytest.raises(TooManyHeaders):
        for _ in range(100):
            parser.feed(b"X: y\r\n" if parser._buffer else b"GET / HTTP/1.1\r\n")
            assert len(parser._buffer) <= 64 * (4 + 2)
    with pytest.raises(RequestLineTooLong):
        RequestParser(max_line=64).feed(b"GET /" + b"a" * 64)


# Response bodies.


@pytest.mark.parametrize(
    "data, body",
    [
        (b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 5\r\n\r\n", b""),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", b""),
        (b"HTTP/1.1 100 Continue\r\n\r\n", b""),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nTrailer: x\r\n\r\n", b"hello!"),
    ],
)
def test_bodies_match_websockets(data, body):
    response, following = ResponseParser().feed(data + b"rest")
    assert response.body == body
    assert following == b"rest"
    assert their_response(data).body == body


def test_body_to_eof():
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\n\r\nabc") is None
    assert parser.feed(b"def") is None
    response = parser.feed_eof()
    assert response.body == b"abcdef"


def test_body_limits_are_exact():
    limit = 100
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * limit
    assert ResponseParser(max_body=limit).feed(ok)[0].body == b"x" * limit
    with pytest.raises(SecurityError, match="body too large"):
        ResponseParser(max_body=limit).feed(b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n")
    parser = ResponseParser(max_body=limit)
    parser.feed(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * limit)
    assert parser.feed_eof().body == b"x" * limit
    parser = ResponseParser(max_body=limit)
    with pytest.raises(SecurityError):
        parser.feed(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (limit + 1))
    parser = ResponseParser(max_body=limit)
    with pytest.raises(SecurityError, match="chunk too large"):
        parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + b"x" * 100 + b"\r\n1\r\n")


@pytest.mark.parametrize(
    "data, error",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", SecurityError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", LookupError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", NotImplementedError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", SecurityError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", ValueError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n", ValueError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 9000, SecurityError),
        (b"HTTP/1.0 200 OK\r\n\r\n", ValueError),
        (b"HTTP/1.1 2000 OK\r\n\r\n", ValueError),
    ],
)
def test_response_errors(data, error):
    with pytest.raises(error):
        ResponseParser().feed(data)


def test_truncated_body_is_eof_error():
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(EOFError):
        parser.feed_eof()


def test_proxy_mode():
    parser = ResponseParser(proxy=True)
    response, following = parser.feed(b"HTTP/1.0 200 Connection established\r\n\r\n")
    assert response.status_code == 200 and response.body == b"" and following == b""
    response, _ = ResponseParser(proxy=True).feed(b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\n")
    assert response.status_code == 407 and response.body == b""


# Defaults and their environment variables.


def test_default_header_strings():
    assert http11.USER_AGENT.endswith(f"websockets_fast/{version}")
    assert http11.SERVER.endswith(f"websockets_fast/{version}")
    assert http11.USER_AGENT.startswith("Python/")


def test_limits_come_from_the_environment():
    env = dict(
        os.environ,
        WEBSOCKETS_MAX_LINE_LENGTH="100",
        WEBSOCKETS_MAX_NUM_HEADERS="3",
        WEBSOCKETS_MAX_BODY_SIZE="10",
        WEBSOCKETS_USER_AGENT="agent/1",
        WEBSOCKETS_SERVER="server/1",
    )
    code = (
        "from websockets_fast import http11 as h; "
        "p = h.RequestParser(); "
        "print(h.MAX_LINE_LENGTH, h.MAX_NUM_HEADERS, h.MAX_BODY_SIZE, h.USER_AGENT, h.SERVER, p.max_line, p.max_headers)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["100", "3", "10", "agent/1", "server/1", "100", "3"], result.stderr
