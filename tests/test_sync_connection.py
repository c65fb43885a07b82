"""websockets_fast.sync: messages, fragments, pings, timeouts, closing, concurrency.

Our client against our server over real sockets on 127.0.0.1.
"""

import contextlib
import socket
import threading
import time

import pytest

from websockets_fast.exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets_fast.protocol import State
from websockets_fast.sync.client import connect
from websockets_fast.sync.server import serve

# Bound on every wait in these tests: a hang fails the test instead of CI.
BOUND = 10.0


@contextlib.contextmanager
def running_server(handler, **kwargs):
    """Run a sync server in a thread; yield its ws:// URI."""
    kwargs.setdefault("compression", None)
    address = {} if "sock" in kwargs else {"host": "127.0.0.1", "port": 0}
    with serve(handler, **address, **kwargs) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            yield f"ws://127.0.0.1:{port}", server
        finally:
            server.shutdown()
            thread.join(BOUND)
            assert not thread.is_alive()


def echo(websocket):
    for message in websocket:
        websocket.send(message)


def wait_for(predicate, what):
    """Wait, bounded, for a condition that another thread makes true."""
    deadline = time.monotonic() + BOUND
    event = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        event.wait(0.005)


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_echo_text_and_binary(compression):
    with running_server(echo, compression=compression) as (uri, _):
        with connect(uri, compression=compression) as websocket:
            websocket.send("café")
            assert websocket.recv(timeout=BOUND) == "café"
            websocket.send(b"\x00\xff")
            assert websocket.recv(timeout=BOUND) == b"\x00\xff"
            websocket.send(bytearray(b"ab"))
            assert websocket.recv(timeout=BOUND) == b"ab"
            websocket.send(memoryview(b"cd"))
            assert websocket.recv(timeout=BOUND) == b"cd"
            websocket.send("x" * 100_000)
            assert websocket.recv(timeout=BOUND) == "x" * 100_000


def test_decode_overrides():
    with running_server(echo) as (uri, _):
        with connect(uri) as websocket:
            websocket.send("text")
            assert websocket.recv(timeout=BOUND, decode=False) == b"text"
            websocket.send(b"bytes")
            assert websocket.recv(timeout=BOUND, decode=True) == "bytes"
            websocket.send(b"as text", text=True)
            assert websocket.recv(timeout=BOUND) == "as text"
            websocket.send("as binary", text=False)
            assert websocket.recv(timeout=BOUND) == b"as binary"


def test_fragmented_send_and_recv_streaming():
    def handler(websocket):
        # Stream the first message back fragment by fragment.
        fragments = list(websocket.recv_streaming())
        websocket.send(repr(fragments))
        websocket.send(fragments)
        websocket.send(iter([b"x", b"y", b"z"]))

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            websocket.send(["caf", "é", "!"])
            # As in websockets, send() ends with an empty final frame.
            assert websocket.recv(timeout=BOUND) == repr(["caf", "é", "!", ""])
            assert websocket.recv(timeout=BOUND) == "café!"
            assert list(websocket.recv_streaming()) == [b"x", b"y", b"z", b""]


def test_recv_streaming_decodes_split_characters():
    def handler(websocket):
        encoded = "é".encode()
        websocket.send([encoded[:1], encoded[1:]], text=True)

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            assert "".join(websocket.recv_streaming()) == "é"


def test_send_rejects_bad_types():
    with running_server(echo) as (uri, _):
        with connect(uri) as websocket:
            with pytest.raises(TypeError):
                websocket.send({"a": 1})
            with pytest.raises(TypeError):
                websocket.send(42)
            with pytest.raises(TypeError):
                websocket.send([1, 2])
            # Still usable: nothing was sent.
            websocket.send("ok")
            assert websocket.recv(timeout=BOUND) == "ok"
            # Mixed fragments: half a message went out, the connection fails.
            with pytest.raises(TypeError):
                websocket.send(["a", b"b"])
            with pytest.raises(ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.sent.code == 1011


def test_empty_iterable_sends_nothing():
    with running_server(echo) as (uri, _):
        with connect(uri) as websocket:
            websocket.send([])
            websocket.send("after")
            assert websocket.recv(timeout=BOUND) == "after"


def test_iteration_ends_on_normal_close():
    def handler(websocket):
        for i in range(3):
            websocket.send(str(i))

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            assert list(websocket) == ["0", "1", "2"]
            assert websocket.close_code == 1000
            assert websocket.state is State.CLOSED


def test_close_code_and_reason_reach_the_peer():
    def handler(websocket):
        websocket.close(4000, "bye")

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            with pytest.raises(ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.rcvd.code == 4000
            assert info.value.rcvd.reason == "bye"
            assert websocket.close_code == 4000
            assert websocket.close_reason == "bye"
            assert websocket.close_exc.rcvd.code == 4000
            # Later calls raise the same way, and close() is a no-op.
            with pytest.raises(ConnectionClosed):
                websocket.send("late")
            with pytest.raises(ConnectionClosed):
                websocket.ping()
            websocket.close()


def test_handler_exception_closes_with_1011():
    def handler(websocket):
        raise RuntimeError("boom")

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            with pytest.raises(ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.rcvd.code == 1011


def test_client_close_completes_handshake():
    closed = threading.Event()
    codes = []

    def handler(websocket):
        try:
            websocket.recv()
        except ConnectionClosedOK as exc:
            codes.append(exc.rcvd.code)
        closed.set()

    with running_server(handler) as (uri, _):
        websocket = connect(uri)
        websocket.close(1001, "going")
        assert websocket.state is State.CLOSED
        assert websocket.wait_closed(BOUND)
        assert closed.wait(BOUND)
        assert codes == [1001]


def test_ping_pong_and_latency():
    with running_server(echo) as (uri, _):
        with connect(uri, ping_interval=None) as websocket:
            assert websocket.latency == 0.0
            pong = websocket.ping(b"abcd")
            # Nobody is in recv(): the reader thread gets the pong.
            assert pong.wait(BOUND)
            assert websocket.latency > 0.0
            with pytest.raises(TypeError):
                websocket.ping(42)
            waiter = websocket.ping("text")
            assert waiter.wait(BOUND)
            websocket.pong(b"unsolicited")
            websocket.pong("text pong")
            with pytest.raises(TypeError):
                websocket.pong(None)


def test_ping_ack_on_close():
    def handler(websocket):
        websocket.close()

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            try:
                event = websocket.ping(b"x", ack_on_close=True)
            except ConnectionClosed:
                return  # the server was faster; nothing to test
            assert event.wait(BOUND)


def test_recv_timeout():
    release = threading.Event()

    def handler(websocket):
        release.wait(BOUND)
        websocket.send("late")
        websocket.recv()

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            with pytest.raises(TimeoutError):
                websocket.recv(timeout=0)
            with pytest.raises(TimeoutError):
                websocket.recv(timeout=-1)
            with pytest.raises(TimeoutError):
                websocket.recv(timeout=0.05)
            release.set()
            assert websocket.recv(timeout=BOUND) == "late"


def test_recv_timeout_keeps_a_half_received_message():
    release = threading.Event()

    def fragments():
        yield "first half, "
        release.wait(BOUND)
        yield "second half"

    def handler(websocket):
        websocket.send(fragments())
        websocket.recv()

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            with pytest.raises(TimeoutError):
                websocket.recv(timeout=0.1)
            release.set()
            assert websocket.recv(timeout=BOUND) == "first half, second half"


def test_concurrent_recv_is_refused():
    release = threading.Event()

    def handler(websocket):
        release.wait(BOUND)
        websocket.send("one")
        websocket.recv()

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            results = []
            thread = threading.Thread(target=lambda: results.append(websocket.recv(timeout=BOUND)))
            thread.start()
            wait_for(lambda: websocket._recv_in_progress, "recv() in the other thread")
            with pytest.raises(ConcurrencyError):
                websocket.recv(timeout=0)
            with pytest.raises(ConcurrencyError):
                next(websocket.recv_streaming())
            release.set()
            thread.join(BOUND)
            assert results == ["one"]


def test_concurrent_sends_from_several_threads():
    threads_count, per_thread = 4, 250

    with running_server(echo) as (uri, _):
        with connect(uri) as websocket:
            def sender(index):
                for i in range(per_thread):
                    websocket.send(f"{index}:{i}")

            senders = [threading.Thread(target=sender, args=(index,)) for index in range(threads_count)]
            for thread in senders:
                thread.start()
            received = [websocket.recv(timeout=BOUND) for _ in range(threads_count * per_thread)]
            for thread in senders:
                thread.join(BOUND)
                assert not thread.is_alive()
    # Every message arrived intact, each thread's messages in order.
    for index in range(threads_count):
        mine = [int(message.split(":")[1]) for message in received if message.startswith(f"{index}:")]
        assert mine == list(range(per_thread))


def test_concurrent_fragmented_send_is_refused():
    release = threading.Event()
    first_sent = threading.Event()

    def fragments():
        yield "a"
        first_sent.set()
        release.wait(BOUND)
        yield "b"

    with running_server(echo) as (uri, _):
        with connect(uri) as websocket:
            thread = threading.Thread(target=websocket.send, args=(fragments(),))
            thread.start()
            assert first_sent.wait(BOUND)
            with pytest.raises(ConcurrencyError):
                websocket.send("interleaved")
            release.set()
            thread.join(BOUND)
            assert websocket.recv(timeout=BOUND) == "ab"


def test_keepalive_measures_latency():
    with running_server(echo, ping_interval=None) as (uri, _):
        with connect(uri, ping_interval=0.02, ping_timeout=BOUND) as websocket:
            # No recv() in progress: the reader thread sends the pings.
            wait_for(lambda: websocket.latency > 0, "a keepalive pong")
            # And while the application is in recv(), that thread does.
            websocket.latency = 0.0
            with pytest.raises(TimeoutError):
                websocket.recv(timeout=0.2)
            wait_for(lambda: websocket.latency > 0, "a keepalive pong")


def test_server_keepalive():
    seen = []

    def handler(websocket):
        wait_for(lambda: websocket.latency > 0, "a keepalive pong")
        seen.append(websocket.latency)

    with running_server(handler, ping_interval=0.02, ping_timeout=BOUND) as (uri, _):
        with connect(uri, ping_interval=None) as websocket:
            with pytest.raises(ConnectionClosedOK):
                websocket.recv(timeout=BOUND)
    assert seen and seen[0] > 0


def test_attributes():
    with running_server(echo) as (uri, server):
        with connect(uri) as websocket:
            assert websocket.state is State.OPEN
            assert websocket.local_address[0] == "127.0.0.1"
            assert websocket.remote_address == server.socket.getsockname()
            assert websocket.subprotocol is None
            assert websocket.close_code is None
            assert websocket.close_reason is None
            assert websocket.request.path == "/"
            assert websocket.response.status_code == 101
            assert websocket.id is not None
            assert websocket.logger is not None


def test_context_manager_closes_with_1011_on_error():
    codes = []

    def handler(websocket):
        try:
            websocket.recv()
        except ConnectionClosed as exc:
            codes.append(exc.rcvd.code)

    with running_server(handler) as (uri, _):
        with pytest.raises(ZeroDivisionError):
            with connect(uri):
                1 / 0
    assert codes == [1011]


def small_buffers(sock):
    """Shrink kernel buffers so that a few messages fill them."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
    return sock


def test_concurrent_large_sends_to_an_echo_peer_do_not_deadlock():
    # Several senders fill the socket buffers both ways while one thread
    # receives: a sender blocked on a full socket mustn't stop reading.
    threads_count, per_thread, size = 3, 12, 256 * 1024
    listener = small_buffers(socket.socket())  # accepted sockets inherit the sizes
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    with running_server(echo, sock=listener, max_queue=2) as (uri, server):
        client_socket = small_buffers(socket.socket())
        client_socket.connect(server.socket.getsockname())
        with connect(uri, sock=client_socket, max_queue=2) as websocket:

            def sender(index):
                for _ in range(per_thread):
                    websocket.send(bytes([index]) * size)

            senders = [threading.Thread(target=sender, args=(index,)) for index in range(threads_count)]
            for thread in senders:
                thread.start()
            received = [websocket.recv(timeout=BOUND) for _ in range(threads_count * per_thread)]
            for thread in senders:
                thread.join(BOUND)
                assert not thread.is_alive()
    assert sorted(message[0] for message in received) == sorted(list(range(threads_count)) * per_thread)
    assert all(message == message[:1] * size for message in received)


@pytest.mark.parametrize("keepalive", [None, 0.05])
def test_close_from_another_thread_while_receiving(keepalive):
    with running_server(echo) as (uri, _):
        websocket = connect(uri, ping_interval=keepalive)
        outcome = []

        def receive():
            try:
                websocket.recv()
            except ConnectionClosedOK as exc:
                outcome.append(exc.sent.code)

        receiver = threading.Thread(target=receive)
        receiver.start()
        wait_for(lambda: websocket._recv_in_progress, "recv() in the other thread")
        websocket.close(1001)
        receiver.join(BOUND)
        assert not receiver.is_alive()
        assert outcome == [1001]
        assert websocket.wait_closed(0)
        assert websocket.state is State.CLOSED


def test_messages_queued_before_the_close_are_delivered():
    # Fewer than max_queue messages: reading doesn't pause before the close.
    def handler(websocket):
        for i in range(10):
            websocket.send(str(i))
        websocket.close()

    with running_server(handler) as (uri, _):
        with connect(uri) as websocket:
            assert websocket.wait_closed(BOUND)
            # Closed, yet the messages that came before the close remain.
            assert [websocket.recv(timeout=0) for _ in range(10)] == [str(i) for i in range(10)]
            with pytest.raises(ConnectionClosedOK):
                websocket.recv(timeout=0)


def test_interrupted_processing_drops_the_connection_cleanly():
    # KeyboardInterrupt can strike the main thread while it processes bytes
    # it has just read: the connection must end, not misread what follows.
    from websockets_fast.sync.client import ClientConnection

    class Interrupted(ClientConnection):
        armed = False

        def process_event(self, event):
            if self.armed:
                self.armed = False
                raise KeyboardInterrupt
            super().process_event(event)

    with running_server(echo) as (uri, _):
        websocket = connect(uri, create_connection=Interrupted)
        websocket.armed = True
        websocket.send("x")
        # KeyboardInterrupt if this thread was processing, ConnectionClosed
        # if the reader thread was.
        with pytest.raises((KeyboardInterrupt, ConnectionClosedError)):
            websocket.recv(timeout=BOUND)
        with pytest.raises(ConnectionClosedError):
            websocket.recv(timeout=BOUND)
        with pytest.raises(ConnectionClosedError):
            websocket.send("y")
        websocket.close()
        assert websocket.state is State.CLOSED
