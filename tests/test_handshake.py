"""Opening handshake at the byte level, against websockets' Sans-I/O protocols.

Our client's request goes into websockets' ServerProtocol and websockets'
client request into ours; the responses travel back. Every rejection is
checked for its exact status code and exception.
"""

import base64
import re

import pytest
import websockets.client
import websockets.server
import websockets.uri
from websockets.protocol import State as TheirState

from websockets_fast import http11
from websockets_fast.client import ClientProtocol, backoff, process_exception
from websockets_fast.datastructures import Headers
from websockets_fast.exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from websockets_fast.frames import Frame, Opcode
from websockets_fast.headers import accept_key
from websockets_fast.http11 import Request, Response
from websockets_fast.protocol import CLOSED, CONNECTING, OPEN
from websockets_fast.server import ServerProtocol
from websockets_fast.uri import parse_uri

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def request_bytes(*extra, key=KEY, first_line="GET /chat HTTP/1.1", skip=()):
    """A valid handshake request, with header lines added or left out."""
    lines = [first_line, "Host: example.com"]
    for line in ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]:
        if line.split(":")[0] not in skip:
            lines.append(line)
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response_bytes(*extra, accept=ACCEPT, status="101 Switching Protocols", skip=()):
    lines = [f"HTTP/1.1 {status}"]
    for line in ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept}"]:
        if line.split(":")[0] not in skip:
            lines.append(line)
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def our_client(uri="ws://example.com/chat", **kwargs):
    client = ClientProtocol(parse_uri(uri), **kwargs)
    client.key = KEY
    return client


def server_response(data, **kwargs):
    """Feed a request to our server; return (server, request, response bytes)."""
    server = ServerProtocol(**kwargs)
    server.receive_data(data)
    [request] = server.events_received()
    response = server.accept(request)
    server.send_response(response)
    return server, request, response, b"".join(server.data_to_send())


# Interoperability with websockets, both directions.


def test_our_client_their_server():
    client = ClientProtocol(parse_uri("ws://localhost:8000/path?q=1"), subprotocols=["chat", "superchat"], origin="http://a")
    client.send_request(client.connect())
    theirs = websockets.server.ServerProtocol(subprotocols=["superchat"], origins=["http://a"])
    theirs.receive_data(b"".join(client.data_to_send()))
    [request] = theirs.events_received()
    assert request.path == "/path?q=1"
    assert request.headers["Host"] == "localhost:8000"
    response = theirs.accept(request)
    assert response.status_code == 101, response.body
    theirs.send_response(response)
    client.receive_data(b"".join(theirs.data_to_send()))
    [event] = client.events_received()
    assert isinstance(event, Response) and event.status_code == 101
    assert client.handshake_exc is None
    assert client.state is OPEN
    assert client.subprotocol == "superchat"
    # Frames flow both ways after the handshake.
    client.send_text(b"hello")
    theirs.receive_data(b"".join(client.data_to_send()))
    [frame] = theirs.events_received()
    assert frame.data == b"hello"
    theirs.send_binary(b"world")
    client.receive_data(b"".join(theirs.data_to_send()))
    [frame] = client.events_received()
    assert (frame.opcode, frame.data) == (Opcode.BINARY, b"world")


def test_their_client_our_server():
    theirs = websockets.client.ClientProtocol(websockets.uri.parse_uri("ws://localhost/"), subprotocols=["chat"])
    theirs.send_request(theirs.connect())
    server = ServerProtocol(subprotocols=["chat"])
    server.receive_data(b"".join(theirs.data_to_send()))
    [request] = server.events_received()
    assert isinstance(request, Request) and request.path == "/"
    response = server.accept(request)
    assert response.status_code == 101
    server.send_response(response)
    assert server.state is OPEN
    theirs.receive_data(b"".join(server.data_to_send()))
    [event] = theirs.events_received()
    assert event.status_code == 101
    assert theirs.handshake_exc is None
    assert theirs.state is TheirState.OPEN
    assert theirs.subprotocol == "chat"
    theirs.send_text(b"hi")
    server.receive_data(b"".join(theirs.data_to_send()))
    [frame] = server.events_received()
    assert frame.data == b"hi"


def test_their_server_rejection_reaches_our_client():
    client = our_client()
    client.send_request(client.connect())
    theirs = websockets.server.ServerProtocol()
    theirs.receive_data(b"".join(client.data_to_send()))
    [request] = theirs.events_received()
    theirs.send_response(theirs.reject(503, "try later\n"))
    for chunk in theirs.data_to_send():
        if chunk:
            client.receive_data(chunk)
        else:
            client.receive_eof()
    [response] = client.events_received()
    assert response.status_code == 503
    assert response.body == b"try later\n"
    assert isinstance(client.handshake_exc, InvalidStatus)
    assert process_exception(client.handshake_exc) is None  # 503 is retryable
    assert client.data_to_send() == [b""]
    assert client.state is CLOSED


@pytest.mark.parametrize(
    "data, status, exc_type",
    [
        (request_bytes(skip=("Upgrade",)), 426, InvalidUpgrade),
        (request_bytes(skip=("Connection",)), 426, InvalidUpgrade),
        (request_bytes("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="), 400, InvalidHeader),
        (request_bytes(key="not base64!"), 400, InvalidHeaderValue),
        (request_bytes(key=base64.b64encode(b"x" * 15).decode()), 400, InvalidHeaderValue),
        (request_bytes(skip=("Sec-WebSocket-Version",)), 400, InvalidHeader),
        (request_bytes("Sec-WebSocket-Version: 13", skip=("Sec-WebSocket-Version",), first_line="POST / HTTP/1.1"), 405, InvalidMethod),
        (request_bytes(first_line="GET / HTTP/1.0"), 505, InvalidProtocol),
        (request_bytes("Connection: , ;"), 400, InvalidHeaderFormat),
    ],
)
def test_rejections_match_websockets(data, status, exc_type):
    server, request, response, out = server_response(data)
    assert response.status_code == status
    assert isinstance(server.handshake_exc, exc_type)
    assert out.startswith(f"HTTP/1.1 {status} ".encode())
    assert server.eof_sent  # EOF follows the response
    assert response.body.startswith(b"Failed to open a WebSocket connection: ")
    assert server.close_expected()
    # websockets answers the same request with the same status and text,
    # apart from the Date header.
    theirs = websockets.server.ServerProtocol()
    theirs.receive_data(data)
    [their_request] = theirs.events_received()
    their_response = theirs.accept(their_request)
    assert their_response.status_code == status
    assert their_response.body == response.body
    assert type(theirs.handshake_exc).__name__ == type(server.handshake_exc).__name__
    assert [(k, v) for k, v in their_response.headers.raw_items() if k != "Date"] == [
        (k, v) for k, v in response.headers.raw_items() if k != "Date"
    ]
    # After a rejection, EOF follows the response and the rest is ignored.
    server.receive_data(b"\x81\x00")
    assert server.events_received() == []
    server.receive_eof()
    assert server.state is CLOSED


def test_upgrade_required_body():
    server, _, response, _ = server_response(request_bytes(skip=("Upgrade",)))
    assert response.body == (
        b"Failed to open a WebSocket connection: missing Upgrade header.\n\n"
        b"You cannot access a WebSocket server directly with a browser. You need a WebSocket client.\n"
    )
    assert response.headers["Upgrade"] == "websocket"


def test_origin_checks():
    allowed = ["https://a.example", re.compile(r"https://[a-z]+\.b\.example")]
    ok, _, response, _ = server_response(request_bytes("Origin: https://x.b.example"), origins=allowed)
    assert response.status_code == 101 and ok.origin == "https://x.b.example"
    for origin in ["https://evil.example", "https://x.b.example.evil"]:
        server, _, response, _ = server_response(request_bytes(f"Origin: {origin}"), origins=allowed)
        assert response.status_code == 403
        assert isinstance(server.handshake_exc, InvalidOrigin)
        assert response.body == f"Failed to open a WebSocket connection: invalid Origin header: {origin}.\n".encode()
    server, _, response, _ = server_response(request_bytes(), origins=allowed)
    assert response.status_code == 403
    server, _, response, _ = server_response(request_bytes(), origins=allowed + [None])
    assert response.status_code == 101
    server, _, response, _ = server_response(request_bytes("Origin: https://a.example", "Origin: https://a.example"), origins=allowed)
    assert response.status_code == 400 and isinstance(server.handshake_exc, InvalidHeader)


def test_subprotocol_selection():
    _, _, response, _ = server_response(request_bytes("Sec-WebSocket-Protocol: a, b"), subprotocols=["b", "a"])
    assert response.headers["Sec-WebSocket-Protocol"] == "b"
    server, _, response, _ = server_response(request_bytes(), subprotocols=["b"])
    assert response.status_code == 400 and isinstance(server.handshake_exc, NegotiationError)
    server, _, response, _ = server_response(request_bytes("Sec-WebSocket-Protocol: c"), subprotocols=["b"])
    assert response.status_code == 400
    server, _, response, _ = server_response(
        request_bytes("Sec-WebSocket-Protocol: x, y"), select_subprotocol=lambda protocol, offered: offered[-1]
    )
    assert server.subprotocol == "y" and response.headers["Sec-WebSocket-Protocol"] == "y"

    def broken(protocol, offered):
        raise RuntimeError("bug")

    server, _, response, _ = server_response(request_bytes(), select_subprotocol=broken)
    assert response.status_code == 500
    assert b"bug" not in response.body
    assert isinstance(server.handshake_exc, RuntimeError)


def test_extension_negotiation_with_a_simple_factory():
    class Ext:
        name = "x-test"
        rsv_bits = 4

        def decode(self, frame, *, max_size=None):
            return frame

        def encode(self, frame):
            return frame

    class ServerFactory:
        name = "x-test"

        def process_request_params(self, params, accepted):
            if params != [("p", "1")]:
                raise NegotiationError("no")
            return [("p", "1")], Ext()

    class ClientFactory:
        name = "x-test"

        def get_request_params(self):
            return [("p", "1")]

        def process_response_params(self, params, accepted):
            return Ext()

    client = our_client(extensions=[ClientFactory()])
    request = client.connect()
    assert request.headers["Sec-WebSocket-Extensions"] == "x-test; p=1"
    client.send_request(request)
    server, _, response, out = server_response(b"".join(client.data_to_send()), extensions=[ServerFactory()])
    assert response.headers["Sec-WebSocket-Extensions"] == "x-test; p=1"
    assert [type(e) for e in server.extensions] == [Ext]
    client.receive_data(out)
    assert client.state is OPEN and [type(e) for e in client.extensions] == [Ext]
    # An offer no factory accepts is declined, not an error.
    _, _, response, _ = server_response(request_bytes("Sec-WebSocket-Extensions: x-test; p=2"), extensions=[ServerFactory()])
    assert response.status_code == 101 and "Sec-WebSocket-Extensions" not in response.headers
    # A client refuses an extension it did not offer.
    client = our_client()
    client.receive_data(response_bytes("Sec-WebSocket-Extensions: x-test"))
    assert isinstance(client.handshake_exc, NegotiationError)


def test_permessage_deflate_interop():
    pmd = pytest.importorskip("websockets_fast.extensions.permessage_deflate")
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory as TheirClientFactory
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory as TheirServerFactory

    # Our client, their server.
    client = ClientProtocol(parse_uri("ws://localhost/"), extensions=[pmd.ClientPerMessageDeflateFactory()])
    client.send_request(client.connect())
    theirs = websockets.server.ServerProtocol(extensions=[TheirServerFactory()])
    theirs.receive_data(b"".join(client.data_to_send()))
    [request] = theirs.events_received()
    theirs.send_response(theirs.accept(request))
    client.receive_data(b"".join(theirs.data_to_send()))
    assert client.state is OPEN, client.handshake_exc
    assert [e.name for e in client.extensions] == ["permessage-deflate"]
    client.send_text(b"compressed " * 10)
    theirs.receive_data(b"".join(client.data_to_send()))
    [frame] = theirs.events_received()
    assert frame.data == b"compressed " * 10

    # Their client, our server.
    theirs = websockets.client.ClientProtocol(websockets.uri.parse_uri("ws://localhost/"), extensions=[TheirClientFactory()])
    theirs.send_request(theirs.connect())
    server = ServerProtocol(extensions=[pmd.ServerPerMessageDeflateFactory()])
    server.receive_data(b"".join(theirs.data_to_send()))
    [request] = server.events_received()
    server.send_response(server.accept(request))
    theirs.receive_data(b"".join(server.data_to_send()))
    assert theirs.state is TheirState.OPEN
    theirs.send_text(b"again " * 10)
    server.receive_data(b"".join(theirs.data_to_send()))
    [frame] = server.events_received()
    assert frame.data == b"again " * 10


# Client-side validation of responses.


@pytest.mark.parametrize(
    "data, exc_type, message",
    [
        (response_bytes("Content-Length: 0", status="200 OK", skip=("Upgrade", "Connection", "Sec-WebSocket-Accept")), InvalidStatus, "HTTP 200"),
        (response_bytes(skip=("Connection",)), InvalidUpgrade, "missing Connection header"),
        (response_bytes("Connection: close", skip=("Connection",)), InvalidUpgrade, "invalid Connection header: close"),
        (response_bytes(skip=("Upgrade",)), InvalidUpgrade, "missing Upgrade header"),
        (response_bytes("Upgrade: h2c", skip=("Upgrade",)), InvalidUpgrade, "invalid Upgrade header: h2c"),
        (response_bytes(skip=("Sec-WebSocket-Accept",)), InvalidHeader, "missing Sec-WebSocket-Accept header"),
        (response_bytes(accept="wrong"), InvalidHeaderValue, "invalid Sec-WebSocket-Accept header: wrong"),
        (response_bytes(f"Sec-WebSocket-Accept: {ACCEPT}"), InvalidHeader, "invalid Sec-WebSocket-Accept header: multiple values"),
        (response_bytes("Sec-WebSocket-Protocol: chat"), NegotiationError, "no subprotocols supported"),
        (response_bytes("Sec-WebSocket-Extensions: permessage-deflate"), NegotiationError, "no extensions supported"),
    ],
)
def test_client_rejects_bad_responses(data, exc_type, message):
    client = our_client()
    client.send_request(client.connect())
    client.data_to_send()
    client.receive_data(data)
    [response] = client.events_received()
    assert type(client.handshake_exc) is exc_type
    assert str(client.handshake_exc) == message if exc_type is not InvalidStatus else message in str(client.handshake_exc)
    assert response._exception is client.handshake_exc
    assert client.data_to_send() == [b""]
    assert client.close_expected()
    assert client.state is CONNECTING
    client.receive_data(b"\x81\x00")  # ignored
    client.receive_eof()
    assert client.state is CLOSED
    assert client.data_to_send() == []


def test_client_subprotocol_checks():
    client = our_client(subprotocols=["a", "b"])
    client.receive_data(response_bytes("Sec-WebSocket-Protocol: b"))
    assert client.subprotocol == "b" and client.state is OPEN
    client = our_client(subprotocols=["a", "b"])
    client.receive_data(response_bytes("Sec-WebSocket-Protocol: a, b"))
    assert isinstance(client.handshake_exc, InvalidHeader)
    client = our_client(subprotocols=["a"])
    client.receive_data(response_bytes("Sec-WebSocket-Protocol: c"))
    assert isinstance(client.handshake_exc, NegotiationError)


def test_client_request_contents():
    client = ClientProtocol(parse_uri("wss://user:p%40ss@[::1]:8443"), origin="https://o")
    request = client.connect()
    assert request.path == "/"
    assert request.headers["Host"] == "[::1]:8443"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert request.headers["Origin"] == "https://o"
    assert len(base64.b64decode(request.headers["Sec-WebSocket-Key"])) == 16
    assert ClientProtocol(parse_uri("ws://h")).key != ClientProtocol(parse_uri("ws://h")).key
    # Its bytes parse cleanly with websockets' own parser.
    theirs = websockets.server.ServerProtocol()
    theirs.receive_data(request.serialize())
    [their_request] = theirs.events_received()
    assert list(their_request.headers.raw_items()) == list(request.headers.raw_items())


# Frames that arrive together with the handshake are not lost.


def test_frames_after_response_in_same_chunk():
    theirs = websockets.server.ServerProtocol()
    client = ClientProtocol(parse_uri("ws://localhost/"))
    client.send_request(client.connect())
    theirs.receive_data(b"".join(client.data_to_send()))
    [request] = theirs.events_received()
    theirs.send_response(theirs.accept(request))
    theirs.send_text(b"first")
    theirs.send_ping(b"p")
    client.receive_data(b"".join(theirs.data_to_send()))
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert [(e.opcode, e.data) for e in events[1:]] == [(Opcode.TEXT, b"first"), (Opcode.PING, b"p")]
    assert client.data_to_send()  # the pong


def test_frames_before_response_are_held_until_open():
    theirs = websockets.client.ClientProtocol(websockets.uri.parse_uri("ws://localhost/"))
    theirs.send_request(theirs.connect())
    request = b"".join(theirs.data_to_send())
    early = Frame(Opcode.TEXT, b"eager").serialize(mask=True) if hasattr(Frame, "serialize") else None
    if early is None:
        early = b"\x81\x85\x00\x00\x00\x00eager"
    server = ServerProtocol()
    server.receive_data(request + early[:3])
    server.receive_data(early[3:])
    [event] = server.events_received()
    assert isinstance(event, Request)
    server.send_response(server.accept(event))
    [frame] = server.events_received()
    assert frame.data == b"eager"


def test_early_data_flood_fails_after_open(monkeypatch):
    monkeypatch.setattr(http11, "MAX_LINE_LENGTH", 100)
    monkeypatch.setattr(http11, "MAX_NUM_HEADERS", 10)
    server = ServerProtocol()
    server.receive_data(request_bytes())
    [request] = server.events_received()
    for _ in range(20):
        server.receive_data(b"\x82\x80\x00\x00\x00\x00" * 20)
    assert server._early_data is None
    # Nothing to take: the response fails the connection all the same.
    assert server.take_early_data() is None
    server.send_response(server.accept(request))
    assert server.state is not OPEN
    assert server.close_sent is not None and server.close_sent.code == 1002


def test_take_early_data_leaves_them_to_the_caller():
    server = ServerProtocol()
    frame = b"\x81\x85\x00\x00\x00\x00eager"
    server.receive_data(request_bytes() + frame[:4])
    server.receive_data(frame[4:])
    [request] = server.events_received()
    assert server.take_early_data() == frame
    server.send_response(server.accept(request))
    assert server.state is OPEN
    assert server.events_received() == []
    server.receive_data(frame)
    [event] = server.events_received()
    assert event.data == b"eager"


# Byte-by-byte delivery.


def test_slow_request_and_response():
    client = our_client()
    client.send_request(client.connect())
    request = b"".join(client.data_to_send())
    server = ServerProtocol()
    for i in range(len(request)):
        assert server.events_received() == []
        server.receive_data(request[i : i + 1])
    [event] = server.events_received()
    server.send_response(server.accept(event))
    response = b"".join(server.data_to_send()) + b"\x81\x02ok"
    for i in range(len(response)):
        client.receive_data(response[i : i + 1])
    events = client.events_received()
    assert events[0].status_code == 101
    assert events[1].data == b"ok"


def test_slow_error_response_with_body():
    body = b"nope, not here\n"
    data = (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    client = our_client()
    for i in range(len(data)):
        client.receive_data(data[i : i + 1])
    [response] = client.events_received()
    assert response.body == body
    assert isinstance(client.handshake_exc, InvalidStatus)


def test_error_response_read_to_eof_and_chunked():
    client = our_client()
    client.receive_data(b"HTTP/1.1 500 Internal Server Error\r\n\r\npart one, ")
    client.receive_data(b"part two")
    assert client.events_received() == []
    client.receive_eof()
    [response] = client.events_received()
    assert response.body == b"part one, part two"
    assert process_exception(client.handshake_exc) is None
    assert client.state is CLOSED

    client = our_client()
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nno!\n\r\n0\r\n\r\n")
    [response] = client.events_received()
    assert response.status_code == 403 and response.body == b"no!\n"


# Limits and malformed input.


def test_request_line_too_long_gets_414():
    server = ServerProtocol()
    server.receive_data(b"GET /" + b"a" * 9000)
    assert isinstance(server.handshake_exc, RequestLineTooLong)
    response, eof = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 414 ")
    assert eof == b""
    assert server._request_parser is None


@pytest.mark.parametrize(
    "data, exc_type",
    [
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 9000, HeaderLineTooLong),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200, TooManyHeaders),
    ],
)
def test_header_limits_get_431(data, exc_type):
    server = ServerProtocol()
    server.receive_data(data)
    assert isinstance(server.handshake_exc, exc_type)
    response, eof = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 431 ")
    assert eof == b""


def test_header_flood_byte_by_byte_is_bounded():
    # The flood is cut as soon as the 129th header line appears; the
    # buffer never holds more than the documented bound.
    server = ServerProtocol()
    chunk = b"X-Flood: y\r\n"
    server.receive_data(b"GET / HTTP/1.1\r\n")
    for _ in range(http11.MAX_NUM_HEADERS + 2):
        for i in range(len(chunk)):
            if server.handshake_exc is not None:
                break
            server.receive_data(chunk[i : i + 1])
    assert isinstance(server.handshake_exc, TooManyHeaders)
    assert server._request_parser is None


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: \x00\r\n\r\n",
        b"GET /\r\n\r\n",
        b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    ],
)
def test_malformed_requests_close_without_response(data):
    server = ServerProtocol()
    server.receive_data(data)
    assert isinstance(server.handshake_exc, InvalidMessage)
    assert isinstance(server.handshake_exc.__cause__, (ValueError, NotImplementedError))
    assert server.events_received() == []
    assert server.data_to_send() == [b""]
    server.receive_eof()
    assert server.state is CLOSED


def test_bare_lf_fails_immediately_byte_by_byte():
    server = ServerProtocol()
    for byte in b"GET / HTTP/1.1\n":
        server.receive_data(bytes([byte]))
    assert isinstance(server.handshake_exc, InvalidMessage)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTP/1.1\r\n",  # bad request line, head not finished
        b"GET / HTTP/1.1\r\nHost: x\r\r\n",  # CR inside a value
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nBad header\r\n",
    ],
)
def test_malformed_lines_fail_before_the_head_ends(data):
    # websockets rejects these as soon as the line is complete; so do we,
    # without waiting for the blank line that ends the head.
    server = ServerProtocol()
    for i in range(0, len(data), 5):
        server.receive_data(data[i : i + 5])
    assert isinstance(server.handshake_exc, InvalidMessage)
    assert server.data_to_send() == [b""]


def test_eof_during_request():
    server = ServerProtocol()
    server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n")
    server.receive_eof()
    assert isinstance(server.handshake_exc, InvalidMessage)
    assert isinstance(server.handshake_exc.__cause__, EOFError)
    assert server.data_to_send() == [b""]
    assert server.state is CLOSED


def test_eof_after_request_before_response():
    server = ServerProtocol()
    server.receive_data(request_bytes())
    server.receive_eof()
    assert server.state is CLOSED
    assert server.data_to_send() == [b""]


def test_eof_during_response():
    client = our_client()
    client.receive_data(b"HTTP/1.1 101 Switching")
    client.receive_eof()
    assert isinstance(client.handshake_exc, InvalidMessage)
    assert isinstance(client.handshake_exc.__cause__, EOFError)
    assert process_exception(client.handshake_exc) is None
    assert client.data_to_send() == [b""]
    assert client.state is CLOSED


@pytest.mark.parametrize(
    "data, cause",
    [
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 9000, HeaderLineTooLong),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200, TooManyHeaders),
        (b"HTTP/1.0 101 Switching Protocols\r\n\r\n", ValueError),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 2000000\r\n\r\n", SecurityError),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: -1\r\n\r\n", SecurityError),
        (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: gzip\r\n\r\n", NotImplementedError),
        (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", SecurityError),
        (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd", ValueError),
    ],
)
def test_client_invalid_responses(data, cause):
    client = our_client()
    client.receive_data(data)
    assert isinstance(client.handshake_exc, InvalidMessage)
    assert isinstance(client.handshake_exc.__cause__, cause)
    assert client.events_received() == []
    assert client.data_to_send() == [b""]


def test_status_line_too_long_is_not_wrapped():
    client = our_client()
    client.receive_data(b"HTTP/1.1 200 " + b"O" * 9000)
    assert isinstance(client.handshake_exc, StatusLineTooLong)


def test_error_body_read_to_eof_is_bounded(monkeypatch):
    client = our_client()
    client.receive_data(b"HTTP/1.1 500 Oops\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(http11.MAX_BODY_SIZE // len(chunk) + 2):
        if client.handshake_exc is not None:
            break
        client.receive_data(chunk)
    assert isinstance(client.handshake_exc, InvalidMessage)
    assert isinstance(client.handshake_exc.__cause__, SecurityError)


def test_non_ascii_header_value_round_trips():
    server = ServerProtocol()
    server.receive_data(request_bytes("X-Name: caf\xe9".encode("latin-1").decode("latin-1")).replace(b"caf\xc3\xa9", b"caf\xe9"))
    [request] = server.events_received()
    assert request.headers["X-Name"] == "caf\xe9"
    assert b"X-Name: caf\xe9\r\n" in request.serialize()


# State and memory after the handshake.


def test_nothing_of_the_handshake_is_kept_once_open():
    client = our_client()
    client.receive_data(response_bytes())
    assert client.state is OPEN
    assert client._response_parser is None
    server, _, _, _ = server_response(request_bytes())
    assert server._request_parser is None and server._early_data is None


def test_process_exception_and_backoff():
    assert process_exception(OSError()) is None
    assert process_exception(TimeoutError()) is None
    exc = InvalidStatus(Response(403, "Forbidden", Headers()))
    assert process_exception(exc) is exc
    exc = ValueError()
    assert process_exception(exc) is exc
    delays = backoff(initial_delay=1, min_delay=2, max_delay=10, factor=2)
    assert 0 <= next(delays) <= 1
    assert [next(delays) for _ in range(5)] == [2, 4, 8, 10, 10]


def test_handshake_exceptions_are_invalid_handshake():
    for exc_type in (InvalidMessage, InvalidStatus, InvalidUpgrade, SecurityError, NegotiationError):
        assert issubclass(exc_type, InvalidHandshake)
    assert accept_key(KEY) == ACCEPT


# Differential check on mutated requests: whatever websockets refuses, we
# refuse; when both parse the request, both answer with the same status.


def _outcome(protocol_class, data):
    server = protocol_class()
    server.receive_data(data)
    events = server.events_received()
    if not events:
        return None
    return server.accept(events[0]).status_code


def test_mutated_requests_against_websockets():
    import random

    rng = random.Random(6455)
    base = request_bytes("Sec-WebSocket-Protocol: chat", "Origin: http://example.com")
    alphabet = b" \t\r\n:,;=/\"\x00\x7f\x80\xffaZ0-"
    for _ in range(1500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[position] = rng.choice(alphabet)
            elif choice < 0.7:
                del data[position]
            else:
                data.insert(position, rng.choice(alphabet))
        data = bytes(data)
        ours = _outcome(ServerProtocol, data)
        theirs = _outcome(websockets.server.ServerProtocol, data)
        if ours == 101:
            assert theirs == 101, data
        if ours is not None and theirs is not None:
            assert ours == theirs, data


# Over real TCP sockets on 127.0.0.1, against websockets' threading implementation.


def _pump(sock, protocol, until, max_reads=1000):
    """Read from ``sock`` into ``protocol`` until ``until(events)`` holds."""
    events = []
    for _ in range(max_reads):
        for data in protocol.data_to_send():
            if data:
                sock.sendall(data)
        if until(events):
            return events
        data = sock.recv(65536)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events.extend(protocol.events_received())
    raise AssertionError("no progress")


def test_our_client_over_tcp_against_websockets_server():
    import socket
    import threading

    from websockets.sync.server import serve

    def echo(connection):
        for message in connection:
            connection.send(message)

    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            host, port = server.socket.getsockname()
            with socket.create_connection((host, port), timeout=10) as sock:
                client = ClientProtocol(parse_uri(f"ws://{host}:{port}/"))
                client.send_request(client.connect())
                [response] = _pump(sock, client, lambda events: events)
                assert response.status_code == 101 and client.state is OPEN
                client.send_text("héllo".encode())
                [frame] = _pump(sock, client, lambda events: events)
                assert frame.data.decode() == "héllo"
                client.send_close(1000)
                _pump(sock, client, lambda events: client.state is CLOSED)
                assert client.close_code == 1000
        finally:
            server.shutdown()
            thread.join(10)


def test_websockets_client_over_tcp_against_our_server():
    import socket
    import threading

    from websockets.sync.client import connect

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    failures = []

    def serve_one():
        try:
            sock, _ = listener.accept()
            with sock:
                sock.settimeout(10)
                server = ServerProtocol(subprotocols=["chat"])
                [request] = _pump(sock, server, lambda events: events)
                server.send_response(server.accept(request))
                [frame] = _pump(sock, server, lambda events: events)
                server.send_text(frame.data)
                _pump(sock, server, lambda events: any(e.opcode is Opcode.CLOSE for e in events))
                for data in server.data_to_send():
                    if data:
                        sock.sendall(data)
                    else:
                        sock.shutdown(socket.SHUT_WR)
        except Exception as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        with connect(f"ws://127.0.0.1:{port}/", subprotocols=["chat"], open_timeout=10, close_timeout=10) as websocket:
            assert websocket.subprotocol == "chat"
            websocket.send("ping?")
            assert websocket.recv(timeout=10) == "ping?"
            websocket.close()
    finally:
        thread.join(10)
        listener.close()
    assert not failures, failures
