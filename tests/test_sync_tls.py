"""websockets_fast.sync over TLS (wss://), with certificates from trustme."""

import contextlib
import ssl
import threading

import pytest

trustme = pytest.importorskip("trustme")
import websockets.sync.client  # noqa: E402
import websockets.sync.server  # noqa: E402

from websockets_fast.sync.client import connect  # noqa: E402
from websockets_fast.sync.server import serve  # noqa: E402

BOUND = 10.0


@pytest.fixture(scope="module")
def contexts():
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(server_context)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_context)
    return server_context, client_context


@contextlib.contextmanager
def running(serve_function, handler, **kwargs):
    with serve_function(handler, "127.0.0.1", 0, **kwargs) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield f"wss://127.0.0.1:{server.socket.getsockname()[1]}"
        finally:
            server.shutdown()
            thread.join(BOUND)
            assert not thread.is_alive()


def echo(websocket):
    for message in websocket:
        websocket.send(message)


# Larger than a TLS record, so that decrypted bytes wait in the TLS layer.
MESSAGES = ["hello", b"x" * 100_000, "é" * 50_000]


def test_our_client_and_server_over_tls(contexts):
    server_context, client_context = contexts
    with running(serve, echo, ssl=server_context) as uri:
        with connect(uri, ssl=client_context, ping_interval=0.05) as websocket:
            for message in MESSAGES:
                websocket.send(message)
                assert websocket.recv(timeout=BOUND) == message
            # Many small messages at once: several frames per TLS record.
            for i in range(100):
                websocket.send(str(i))
            assert [websocket.recv(timeout=BOUND) for _ in range(100)] == [str(i) for i in range(100)]
            assert websocket.ping().wait(BOUND)


def test_tls_interop(contexts):
    server_context, client_context = contexts
    with running(websockets.sync.server.serve, echo, ssl=server_context) as uri:
        with connect(uri, ssl=client_context) as websocket:
            for message in MESSAGES:
                websocket.send(message)
                assert websocket.recv(timeout=BOUND) == message
    with running(serve, echo, ssl=server_context) as uri:
        with websockets.sync.client.connect(uri, ssl=client_context) as websocket:
            for message in MESSAGES:
                websocket.send(message)
                assert websocket.recv(timeout=BOUND) == message


def test_ssl_with_ws_uri_is_refused(contexts):
    _, client_context = contexts
    with pytest.raises(ValueError):
        connect("ws://127.0.0.1:1/", ssl=client_context)


def test_untrusted_certificate_fails(contexts):
    server_context, _ = contexts
    with running(serve, echo, ssl=server_context) as uri:
        with pytest.raises(ssl.SSLError):
            connect(uri, ssl=ssl.create_default_context())
