"""websockets_fast.sync.client through an HTTP CONNECT proxy on 127.0.0.1."""

import contextlib
import socket
import threading

import pytest

from websockets_fast.exceptions import InvalidProxyMessage, InvalidProxyStatus
from websockets_fast.sync.client import connect
from websockets_fast.sync.server import serve

BOUND = 10.0


@contextlib.contextmanager
def echo_server():
    def echo(websocket):
        for message in websocket:
            websocket.send(message)

    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield server.socket.getsockname()[1]
        finally:
            server.shutdown()
            thread.join(BOUND)
            assert not thread.is_alive()


def relay(source, destination):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            destination.sendall(data)
        destination.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@contextlib.contextmanager
def connect_proxy(answer=None):
    """
    A one-connection HTTP CONNECT proxy. With ``answer``, it replies that
    instead of connecting. Yields ``(proxy URL, list of request heads)``.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(BOUND)
    requests = []

    def run():
        try:
            client, _ = listener.accept()
        except OSError:
            return
        with client:
            client.settimeout(BOUND)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            requests.append(head)
            if answer is not None:
                client.sendall(answer)
                return
            target = head.split(b" ")[1].decode()
            host, port = target.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=BOUND) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                upstream.settimeout(None)
                client.settimeout(None)
                back = threading.Thread(target=relay, args=(upstream, client))
                back.start()
                relay(client, upstream)
                back.join(BOUND)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests
    finally:
        listener.close()
        thread.join(BOUND)
        assert not thread.is_alive()


def test_through_a_connect_proxy():
    with echo_server() as port:
        with connect_proxy() as (proxy, requests):
            with connect(f"ws://127.0.0.1:{port}/", proxy=proxy, compression=None) as websocket:
                websocket.send("via proxy")
                assert websocket.recv(timeout=BOUND) == "via proxy"
    assert requests[0].startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n".encode())


def test_proxy_refusal():
    with connect_proxy(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n") as (proxy, _):
        with pytest.raises(InvalidProxyStatus) as info:
            connect("ws://127.0.0.1:1/", proxy=proxy)
        assert info.value.response.status_code == 407


def test_proxy_garbage():
    with connect_proxy(b"garbage\r\n\r\n") as (proxy, _):
        with pytest.raises(InvalidProxyMessage):
            connect("ws://127.0.0.1:1/", proxy=proxy)


def test_proxy_none_ignores_the_environment(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")
    monkeypatch.setenv("all_proxy", "http://127.0.0.1:1")
    with echo_server() as port:
        with connect(f"ws://127.0.0.1:{port}/", proxy=None) as websocket:
            websocket.send("direct")
            assert websocket.recv(timeout=BOUND) == "direct"
