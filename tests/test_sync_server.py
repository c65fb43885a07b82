"""websockets_fast.sync.server and client: handshake hooks, auth, subprotocols,
Unix sockets, shutdown, broadcast, redirects, and no leaked threads.
"""

import contextlib
import http
import os
import socket
import sys
import tempfile
import threading
import time

import pytest
import websockets.sync.client

from websockets_fast.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus, InvalidURI
from websockets_fast.protocol import State
from websockets_fast.sync.client import connect, unix_connect
from websockets_fast.sync.server import Server, ServerConnection, basic_auth, broadcast, serve, unix_serve

BOUND = 10.0


@contextlib.contextmanager
def running(server):
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(BOUND)
        assert not thread.is_alive()


@contextlib.contextmanager
def running_server(handler, **kwargs):
    kwargs.setdefault("compression", None)
    with running(serve(handler, "127.0.0.1", 0, **kwargs)) as server:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}", server


def echo(websocket):
    for message in websocket:
        websocket.send(message)


def wait_for(predicate, what):
    deadline = time.monotonic() + BOUND
    event = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        event.wait(0.005)


def test_process_request_can_refuse():
    def process_request(connection, request):
        if request.path == "/forbidden":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")
        return None

    with running_server(echo, process_request=process_request) as (uri, _):
        with pytest.raises(InvalidStatus) as info:
            connect(uri + "/forbidden")
        assert info.value.response.status_code == 403
        with connect(uri + "/allowed") as websocket:
            websocket.send("ok")
            assert websocket.recv(timeout=BOUND) == "ok"


def test_process_request_failure_is_a_500():
    def process_request(connection, request):
        raise RuntimeError("oops")

    with running_server(echo, process_request=process_request) as (uri, _):
        with pytest.raises(InvalidStatus) as info:
            connect(uri)
        assert info.value.response.status_code == 500


def test_process_response_and_server_header():
    def process_response(connection, request, response):
        response.headers["X-Extra"] = "yes"

    with running_server(echo, process_response=process_response, server_header="test-server") as (uri, _):
        with connect(uri) as websocket:
            assert websocket.response.headers["X-Extra"] == "yes"
            assert websocket.response.headers["Server"] == "test-server"


def test_additional_headers_and_user_agent():
    seen = {}

    def handler(websocket):
        seen.update(headers=websocket.request.headers)

    with running_server(handler) as (uri, _):
        with connect(uri, additional_headers={"X-Token": "t"}, user_agent_header="agent/1") as websocket:
            with pytest.raises(ConnectionClosedOK):
                websocket.recv(timeout=BOUND)
    assert seen["headers"]["X-Token"] == "t"
    assert seen["headers"]["User-Agent"] == "agent/1"


def test_basic_auth():
    def handler(websocket):
        websocket.send(websocket.username)

    auth = basic_auth(realm="test", credentials=("alice", "secret"))
    with running_server(handler, process_request=auth) as (uri, _):
        host = uri[len("ws://") :]
        with connect(f"ws://alice:secret@{host}") as websocket:
            assert websocket.recv(timeout=BOUND) == "alice"
        with pytest.raises(InvalidStatus) as info:
            connect(f"ws://alice:wrong@{host}")
        assert info.value.response.status_code == 401
        assert "WWW-Authenticate" in info.value.response.headers
        with pytest.raises(InvalidStatus):
            connect(uri)


def test_basic_auth_arguments():
    with pytest.raises(ValueError):
        basic_auth()
    with pytest.raises(ValueError):
        basic_auth(credentials=("a", "b"), check_credentials=lambda u, p: True)
    with pytest.raises(TypeError):
        basic_auth(credentials=42)
    with pytest.raises(TypeError):
        basic_auth(credentials=[("a", "b"), 42])
    assert callable(basic_auth(check_credentials=lambda username, password: username == password))


def test_subprotocols():
    def handler(websocket):
        websocket.send(websocket.subprotocol or "none")

    with running_server(handler, subprotocols=["chat", "superchat"]) as (uri, _):
        with connect(uri, subprotocols=["superchat"]) as websocket:
            assert websocket.subprotocol == "superchat"
            assert websocket.recv(timeout=BOUND) == "superchat"


def test_select_subprotocol_gets_the_connection():
    seen = []

    def select_subprotocol(connection, subprotocols):
        seen.append(isinstance(connection, ServerConnection))
        return subprotocols[-1]

    with running_server(echo, subprotocols=["a", "b"], select_subprotocol=select_subprotocol) as (uri, _):
        with connect(uri, subprotocols=["a", "b"]) as websocket:
            assert websocket.subprotocol == "b"
    assert seen == [True]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="Unix sockets only")
def test_unix_sockets():
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        with running(unix_serve(echo, path, compression=None)):
            with unix_connect(path) as websocket:
                websocket.send("over unix")
                assert websocket.recv(timeout=BOUND) == "over unix"
                assert websocket.local_address == "" or isinstance(websocket.local_address, str)
            with pytest.raises(ValueError):
                unix_connect()


def test_serve_with_an_existing_socket():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with running(serve(echo, sock=listener)) as server:
        assert server.fileno() == listener.fileno()
        with connect(f"ws://127.0.0.1:{port}") as websocket:
            websocket.send("x")
            assert websocket.recv(timeout=BOUND) == "x"
    with pytest.raises(ValueError):
        serve(echo, "127.0.0.1", sock=socket.create_server(("127.0.0.1", 0)))


def test_connect_with_an_existing_socket():
    with running_server(echo) as (uri, server):
        sock = socket.create_connection(server.socket.getsockname())
        with connect("ws://example.invalid/", sock=sock) as websocket:
            websocket.send("x")
            assert websocket.recv(timeout=BOUND) == "x"


def test_bad_arguments():
    with pytest.raises(InvalidURI):
        connect("http://127.0.0.1/")
    with pytest.raises(ValueError):
        connect("ws://127.0.0.1:1/", compression="zstd")
    with pytest.raises(ValueError):
        serve(echo, "127.0.0.1", 0, compression="zstd")


def test_connections_and_shutdown_closes_with_1001():
    in_handler = threading.Event()

    def handler(websocket):
        in_handler.set()
        for message in websocket:
            pass

    server = serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    websocket = connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}")
    assert in_handler.wait(BOUND)
    assert len(server.connections) == 1
    server.shutdown(code=1012, reason="restart")
    thread.join(BOUND)
    assert not thread.is_alive()
    with pytest.raises(ConnectionClosedError) as info:
        websocket.recv(timeout=BOUND)
    assert info.value.rcvd.code == 1012
    assert server.connections == set()
    server.shutdown()  # idempotent


def test_shutdown_without_closing_connections_waits_for_handlers():
    release = threading.Event()
    finished = []

    def handler(websocket):
        release.wait(BOUND)
        finished.append(True)

    server = serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    websocket = connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}")
    wait_for(lambda: server.connections, "the connection to open")
    stopper = threading.Thread(target=server.shutdown, kwargs={"close_connections": False})
    stopper.start()
    thread.join(BOUND)
    assert not thread.is_alive()
    # The open connection still works while the listening socket is gone.
    assert websocket.ping().wait(BOUND)
    release.set()
    stopper.join(BOUND)
    assert not stopper.is_alive()
    assert finished == [True]
    websocket.close()


def test_shutdown_without_serve_forever():
    server = serve(echo, "127.0.0.1", 0)
    server.shutdown()
    server.shutdown()


def test_context_manager_and_class():
    with serve(echo, "127.0.0.1", 0) as server:
        assert isinstance(server, Server)
        assert server.socket.getsockname()[0] == "127.0.0.1"


def test_broadcast():
    count = 5
    ready = threading.Barrier(count + 1, timeout=BOUND)

    def handler(websocket):
        ready.wait()
        for message in websocket:
            pass

    with running_server(handler) as (uri, server):
        clients = [connect(uri) for _ in range(count)]
        ready.wait()
        broadcast(server.connections, "to all")
        broadcast(server.connections, b"bytes to all")
        broadcast(server.connections, "as bytes", text=False)
        for client in clients:
            assert client.recv(timeout=BOUND) == "to all"
            assert client.recv(timeout=BOUND) == b"bytes to all"
            assert client.recv(timeout=BOUND) == b"as bytes"
        with pytest.raises(TypeError):
            broadcast(server.connections, 42)
        # Closed connections are skipped silently.
        clients[0].close()
        wait_for(lambda: len(server.connections) == count - 1, "the server to see the close")
        broadcast([*server.connections, clients[0]], "rest", raise_exceptions=True)
        for client in clients[1:]:
            assert client.recv(timeout=BOUND) == "rest"
            client.close()


def test_broadcast_from_clients():
    with running_server(echo) as (uri, _):
        clients = [connect(uri) for _ in range(3)]
        broadcast(clients, "echoed")
        for client in clients:
            assert client.recv(timeout=BOUND) == "echoed"
            client.close()


def test_redirect_is_followed():
    def process_request(connection, request):
        if request.path == "/old":
            response = connection.respond(http.HTTPStatus.FOUND, "moved\n")
            response.headers["Location"] = "/new"
            return response
        return None

    def handler(websocket):
        websocket.send(websocket.request.path)

    with running_server(handler, process_request=process_request) as (uri, _):
        with connect(uri + "/old") as websocket:
            assert websocket.recv(timeout=BOUND) == "/new"


def test_websockets_client_is_refused_with_503_during_shutdown():
    # A connection accepted but not yet upgraded when shutdown starts gets 503.
    gate = threading.Event()
    entered = threading.Event()

    def process_request(connection, request):
        entered.set()
        gate.wait(BOUND)

    server = serve(echo, "127.0.0.1", 0, process_request=process_request)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    errors = []

    def client():
        try:
            websockets.sync.client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}")
        except Exception as exc:
            errors.append(exc)

    client_thread = threading.Thread(target=client)
    client_thread.start()
    assert entered.wait(BOUND)
    stopper = threading.Thread(target=server.shutdown)
    stopper.start()
    wait_for(lambda: server.closing, "shutdown to start")
    gate.set()
    for worker in (client_thread, stopper, thread):
        worker.join(BOUND)
        assert not worker.is_alive()
    assert len(errors) == 1
    assert errors[0].response.status_code == 503


def test_no_thread_leak_over_many_connections():
    """Threads come and go with connections: none remain afterwards."""
    before = threading.active_count()
    peak = 0
    with running_server(echo) as (uri, server):
        for i in range(1000):
            with connect(uri, compression=None) as websocket:
                websocket.send("x")
                assert websocket.recv(timeout=BOUND) == "x"
            if i % 100 == 0:
                peak = max(peak, threading.active_count())
        # While serving: the accept thread and, at most, the server side of
        # the last connections, which are finishing.
        assert peak <= before + 1 + 2 * 3
    # After shutdown: nothing left.
    wait_for(lambda: threading.active_count() == before, "threads to finish")
    assert threading.active_count() == before


def test_client_threads_end_when_the_server_drops_connections():
    before = threading.active_count()
    with running_server(echo) as (uri, _):
        clients = [connect(uri) for _ in range(20)]
    # Server shut down: every client connection is closed and its reader gone.
    for client in clients:
        assert client.wait_closed(BOUND)
        assert client.state is State.CLOSED
    wait_for(lambda: threading.active_count() == before, "threads to finish")


@pytest.mark.skipif(sys.platform == "win32", reason="fd counting uses /proc")
def test_no_fd_leak():
    def count_fds():
        return len(os.listdir(f"/proc/{os.getpid()}/fd"))

    with running_server(echo) as (uri, _):
        with connect(uri) as websocket:  # warm up lazily created fds
            websocket.send("x")
            websocket.recv(timeout=BOUND)
        before = count_fds()
        for _ in range(50):
            with connect(uri) as websocket:
                websocket.send("x")
                websocket.recv(timeout=BOUND)
        wait_for(lambda: count_fds() <= before, "server sockets to close")


def test_reconnect_after_transient_failures():
    attempts = []

    def process_request(connection, request):
        attempts.append(request.path)
        if len(attempts) == 1:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "try again\n")
        return None

    def handler(websocket):
        websocket.send(f"connection {len(attempts)}")
        if len(attempts) == 2:
            websocket.close(1011, "fail once")

    delays = []

    def no_delays():
        while True:
            delays.append(0.0)
            yield 0.0

    from websockets_fast.sync.client import reconnect

    with running_server(handler, process_request=process_request) as (uri, _):
        greetings = []
        for websocket in reconnect(uri, reconnect_delays=no_delays):
            greetings.append(websocket.recv(timeout=BOUND))
            if len(greetings) == 2:
                break
        assert greetings == ["connection 2", "connection 3"]
        assert len(delays) == 1  # one failed attempt: the 503
        # connect(legacy=False) is the same thing.
        with connect(uri, legacy=False) as websocket:
            assert websocket.recv(timeout=BOUND) == "connection 4"


def test_reconnect_raises_fatal_errors():
    from websockets_fast.sync.client import reconnect

    def process_request(connection, request):
        return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    with running_server(echo, process_request=process_request) as (uri, _):
        with pytest.raises(InvalidStatus):
            for _ in reconnect(uri):
                pass


def test_broadcast_large_messages_finish_in_the_background():
    # Too big for the socket buffers: the non-blocking write is partial and
    # the executor finishes it while the clients read.
    count, size = 3, 8 * 2**20
    ready = threading.Barrier(count + 1, timeout=BOUND)

    def handler(websocket):
        ready.wait()
        for message in websocket:
            pass

    with running_server(handler) as (uri, server):
        clients = [connect(uri, max_size=None) for _ in range(count)]
        ready.wait()
        received = []
        readers = [threading.Thread(target=lambda c=c: received.append(len(c.recv(timeout=BOUND)))) for c in clients]
        for reader in readers:
            reader.start()
        broadcast(server.connections, b"x" * size, raise_exceptions=True)
        broadcast(server.connections, "small", raise_exceptions=True)
        for reader in readers:
            reader.join(BOUND)
            assert not reader.is_alive()
        assert received == [size] * count
        for client in clients:
            assert client.recv(timeout=BOUND) == "small"
            client.close()


def test_broadcast_skips_connections_sending_fragments():
    release = threading.Event()
    first_sent = threading.Event()

    def fragments():
        yield "a"
        first_sent.set()
        release.wait(BOUND)
        yield "b"

    with running_server(echo) as (uri, _):
        client = connect(uri)
        sender = threading.Thread(target=client.send, args=(fragments(),))
        sender.start()
        assert first_sent.wait(BOUND)
        try:
            with pytest.raises(Exception) as info:
                broadcast([client], "no", raise_exceptions=True)
            assert "skipped broadcast" in str(info.value)
            broadcast([client], "no")  # logged, not raised
        finally:
            release.set()
            sender.join(BOUND)
        assert client.recv(timeout=BOUND) == "ab"
        client.close()


def test_no_memory_leak_over_many_connections():
    import gc
    import tracemalloc

    def session(uri):
        with connect(uri) as websocket:
            websocket.send("x" * 100)
            websocket.recv(timeout=BOUND)
            websocket.ping().wait(BOUND)

    with running_server(echo) as (uri, server):
        for _ in range(20):  # warm up caches, lazily created objects
            session(uri)
        wait_for(lambda: not server.handler_threads, "handlers to finish")
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(200):
                session(uri)
            wait_for(lambda: not server.handler_threads, "handlers to finish")
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    # A leaked connection would keep kilobytes each; allow noise only.
    assert grown < 200 * 1024, f"{grown} bytes kept after 200 connections"
