"""
Frame.parse, Request.parse and Response.parse: the generator-based readers of
the websockets API, driven by websockets' own StreamReader and compared with
websockets' parsers on the same bytes.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from websockets_fast import exceptions, frames, http11
from websockets_fast.datastructures import Headers
from websockets_fast.extensions import permessage_deflate as pmd
from websockets_fast.speedups import build_frame

websockets = pytest.importorskip("websockets")
from websockets import frames as ws_frames  # noqa: E402
from websockets import http11 as ws_http11  # noqa: E402
from websockets.streams import StreamReader  # noqa: E402


def drive(make_parser, data, chunk=None, eof=True):
    """
    Run a generator-based parser over ``data`` fed ``chunk`` bytes at a time.

    Returns ("ok", value) or ("error", exception type name, exception).
    Raises AssertionError if the parser waits for more once the stream ended.
    """
    reader = StreamReader()
    parser = make_parser(reader)
    chunk = chunk or max(1, len(data))
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    try:
        next(parser)
        for piece in pieces:
            reader.feed_data(piece)
            next(parser)
        if eof:
            reader.feed_eof()
            next(parser)
        raise AssertionError("parser still waiting at the end of the stream")
    except StopIteration as exc:
        return ("ok", exc.value)
    except AssertionError:
        raise
    except Exception as exc:
        return ("error", type(exc).__name__, exc)


def same_error(ours, theirs, error):
    """Both failed, ours with ``error``, theirs with websockets' class of the same name."""
    assert ours[0] == "error" and isinstance(ours[2], error), ours
    assert theirs[0] == "error", theirs
    assert error.__name__ in [cls.__name__ for cls in type(theirs[2]).__mro__], theirs


def outcome(result):
    """What to compare between the two libraries: the value's fields or the error's class."""
    if result[0] == "error":
        return result[:2]
    value = result[1]
    if isinstance(value, (frames.Frame, ws_frames.Frame)):
        return ("frame", int(value.opcode), bytes(value.data), value.fin, value.rsv1, value.rsv2, value.rsv3)
    return ("ok", value)


# Frames.

frame_bytes = st.builds(
    lambda fin, opcode, payload, rsv, masked: build_frame(fin, opcode, payload, rsv, True if masked else None),
    st.booleans(),
    st.sampled_from([0, 1, 2, 3, 8, 9, 10, 11]),
    # Around the 16-bit length boundary too; generated cheaply rather than at random.
    st.one_of(st.binary(max_size=130), st.integers(65530, 65540).map(lambda n: bytes(range(256)) * (n // 256) + bytes(n % 256))),
    st.integers(0, 7),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(frame_bytes, st.booleans(), st.sampled_from([None, 100, 70000]), st.integers(1, 300), st.integers(0, 3))
def test_frame_parse_matches_websockets(data, mask, max_size, chunk, cut):
    # Long frames in 1-byte pieces would only make the test slow.
    chunk = chunk if len(data) < 1000 else chunk * 64
    # cut > 0 ends the stream early, inside the frame.
    data = data[: len(data) - cut] if cut else data
    ours = drive(lambda r: frames.Frame.parse(r.read_exact, mask=mask, max_size=max_size), data, chunk)
    theirs = drive(lambda r: ws_frames.Frame.parse(r.read_exact, mask=mask, max_size=max_size), data, chunk)
    if outcome(ours) == ("error", "ProtocolError") and outcome(theirs) in [("error", "EOFError"), ("error", "PayloadTooBig")]:
        # A control frame header that breaks a rule (fragmented, or longer
        # than 125 bytes) fails here at once; websockets checks it after the
        # payload, so it first reaches the end of a truncated stream or its
        # max_size.
        assert data[0] & 0x08
        return
    assert outcome(ours) == outcome(theirs)
    if ours[0] == "ok":
        assert isinstance(ours[1], frames.Frame)
        assert isinstance(ours[1].opcode, frames.Opcode)


@pytest.mark.parametrize(
    "data, mask, max_size, error",
    [
        (build_frame(True, 1, b"hi", 0, True), False, None, exceptions.ProtocolError),  # masked, not expected
        (build_frame(True, 1, b"hi", 0, None), True, None, exceptions.ProtocolError),  # unmasked, expected
        (build_frame(True, 3, b"", 0, None), False, None, exceptions.ProtocolError),  # reserved opcode
        (build_frame(False, 9, b"", 0, None), False, None, exceptions.ProtocolError),  # fragmented ping
        (build_frame(True, 9, b"x" * 126, 0, None), False, None, exceptions.ProtocolError),  # long ping
        (build_frame(True, 1, b"x", 4, None), False, None, exceptions.ProtocolError),  # RSV1 without extension
        (build_frame(True, 2, b"x" * 101, 0, None), False, 100, exceptions.PayloadTooBig),
        (build_frame(True, 2, b"x" * 10, 0, None)[:-1], False, None, EOFError),
    ],
)
def test_frame_parse_errors(data, mask, max_size, error):
    result = drive(lambda r: frames.Frame.parse(r.read_exact, mask=mask, max_size=max_size), data)
    assert result[0] == "error" and isinstance(result[2], error), result


def test_frame_parse_too_big_before_payload_is_read():
    # The header alone is enough to refuse: the payload never arrives.
    header = build_frame(True, 2, b"x" * 70000, 0, None)[:10]
    result = drive(lambda r: frames.Frame.parse(r.read_exact, mask=False, max_size=65536), header, eof=False)
    assert result[0] == "error" and isinstance(result[2], exceptions.PayloadTooBig)


@pytest.mark.parametrize("server_side", [True, False])
def test_frame_parse_with_deflate(server_side):
    sender = pmd.PerMessageDeflate(False, False, 12, 12)
    receiver = pmd.PerMessageDeflate(False, False, 12, 12)
    payload = b"compress me " * 50
    frame = frames.Frame(frames.Opcode.BINARY, payload)
    data = frame.serialize(mask=server_side, extensions=[sender])
    assert len(data) < len(payload)
    result = drive(lambda r: frames.Frame.parse(r.read_exact, mask=server_side, extensions=[receiver]), data)
    assert outcome(result) == ("frame", 2, payload, True, False, False, False)


# Requests.

REQUEST = (
    b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.parametrize("chunk", [1, 7, None])
def test_request_parse(chunk):
    ours = drive(lambda r: http11.Request.parse(r.read_line), REQUEST, chunk)
    theirs = drive(lambda r: ws_http11.Request.parse(r.read_line), REQUEST, chunk)
    assert ours[0] == theirs[0] == "ok"
    request, expected = ours[1], theirs[1]
    assert isinstance(request, http11.Request) and isinstance(request.headers, Headers)
    assert request.path == expected.path == "/chat?x=1"
    assert list(request.headers.raw_items()) == list(expected.headers.raw_items())


@pytest.mark.parametrize(
    "data, error",
    [
        (REQUEST[:30], EOFError),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", exceptions.SecurityError),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", exceptions.SecurityError),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", exceptions.SecurityError),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", ValueError),
        (b"GARBAGE\r\n\r\n", ValueError),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", NotImplementedError),
        (b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", ValueError),
    ],
)
def test_request_parse_errors(data, error):
    ours = drive(lambda r: http11.Request.parse(r.read_line), data)
    theirs = drive(lambda r: ws_http11.Request.parse(r.read_line), data)
    same_error(ours, theirs, error)


def test_request_line_too_long_type():
    data = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n"
    assert isinstance(drive(lambda r: http11.Request.parse(r.read_line), data)[2], exceptions.RequestLineTooLong)
    data = b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"
    assert isinstance(drive(lambda r: http11.Request.parse(r.read_line), data)[2], exceptions.HeaderLineTooLong)


# Responses.

HEAD_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)

RESPONSES = [
    (HEAD_101, False),
    (b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!", False),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
    (b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n", False),
    (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nuntil the end", False),
    (b"HTTP/1.1 204 No Content\r\n\r\n", False),
    (b"HTTP/1.0 200 Connection established\r\n\r\n", True),
]


@pytest.mark.parametrize("data, proxy", RESPONSES)
@pytest.mark.parametrize("chunk", [1, 5, None])
def test_response_parse(data, proxy, chunk):
    def ours_parser(r):
        return http11.Response.parse(r.read_line, r.read_exact, r.read_to_eof, proxy=proxy)

    def theirs_parser(r):
        return ws_http11.Response.parse(r.read_line, r.read_exact, r.read_to_eof, proxy=proxy)

    ours, theirs = drive(ours_parser, data, chunk), drive(theirs_parser, data, chunk)
    assert ours[0] == theirs[0] == "ok", (ours, theirs)
    response, expected = ours[1], theirs[1]
    assert isinstance(response, http11.Response)
    assert (response.status_code, response.reason_phrase, bytes(response.body)) == (
        expected.status_code,
        expected.reason_phrase,
        bytes(expected.body),
    )
    assert list(response.headers.raw_items()) == list(expected.headers.raw_items())


def test_response_parse_reads_no_further_than_its_body():
    # A 101's frames, or what follows a body, stay in the reader.
    reader = StreamReader()
    reader.feed_data(HEAD_101 + b"\x81\x02hi")
    parser = http11.Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof)
    with pytest.raises(StopIteration) as exc_info:
        next(parser)
    assert exc_info.value.value.status_code == 101
    assert bytes(reader.buffer) == b"\x81\x02hi"


@pytest.mark.parametrize(
    "data, error",
    [
        (HEAD_101[:20], EOFError),
        (HEAD_101[:-2], EOFError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", EOFError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", exceptions.SecurityError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", exceptions.SecurityError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", NotImplementedError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", exceptions.SecurityError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX", ValueError),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (http11.MAX_BODY_SIZE + 1), exceptions.SecurityError),
        (b"HTTP/1.0 101 Switching Protocols\r\n\r\n", ValueError),
        (b"HTTP/1.1 99 Weird\r\n\r\n", ValueError),
        (b"HTTP/1.1 " + b"2" * 9000 + b"\r\n\r\n", exceptions.SecurityError),
    ],
)
def test_response_parse_errors(data, error):
    def ours_parser(r):
        return http11.Response.parse(r.read_line, r.read_exact, r.read_to_eof)

    def theirs_parser(r):
        return ws_http11.Response.parse(r.read_line, r.read_exact, r.read_to_eof)

    ours, theirs = drive(ours_parser, data, 4096), drive(theirs_parser, data, 4096)
    same_error(ours, theirs, error)
