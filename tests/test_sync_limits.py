"""websockets_fast.sync: bad input, limits, backpressure and timeouts.

Misbehaving peers are raw sockets on 127.0.0.1 that speak just enough of
the protocol to misbehave; well-behaved ones are our own client and server.
"""

import base64
import contextlib
import hashlib
import os
import socket
import struct
import threading
import time

import pytest

from websockets_fast.exceptions import ConcurrencyError, ConnectionClosedError
from websockets_fast.protocol import State
from websockets_fast.sync.client import connect
from websockets_fast.sync.server import serve

BOUND = 10.0
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@contextlib.contextmanager
def running_server(handler, **kwargs):
    kwargs.setdefault("compression", None)
    with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield server.socket.getsockname()[1], server
        finally:
            server.shutdown()
            thread.join(BOUND)
            assert not thread.is_alive()


def build_frame(opcode, payload, fin=True, mask=True, rsv=0):
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


def read_frames(sock, data=b""):
    """Read frames until EOF (bounded by the socket timeout); return [(opcode, payload)]."""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    frames = []
    while len(data) >= 2:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        masked = data[1] & 0x80
        offset = 2
        if length == 126:
            (length,) = struct.unpack("!H", data[2:4])
            offset = 4
        elif length == 127:
            (length,) = struct.unpack("!Q", data[2:10])
            offset = 10
        if masked:
            key = data[offset : offset + 4]
            offset += 4
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[offset : offset + length]))
        else:
            payload = data[offset : offset + length]
        frames.append((opcode, payload))
        data = data[offset + length :]
    return frames


def close_code(frames):
    codes = [struct.unpack("!H", payload[:2])[0] for opcode, payload in frames if opcode == 8 and len(payload) >= 2]
    assert codes, f"no close frame in {frames}"
    return codes[0]


def raw_client(port, early=b""):
    """Open a connection and perform the opening handshake by hand; ``early``
    is sent right behind the request, in the same write."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        + early
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "server closed during the handshake"
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock, rest


@contextlib.contextmanager
def raw_server(behaviour):
    """
    Accept one connection, answer the handshake by hand, then call
    ``behaviour(sock)`` in a thread. Yield the ws:// URI.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(BOUND)
    port = listener.getsockname()[1]

    def run():
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        with sock:
            sock.settimeout(BOUND)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                request += chunk
            key = [
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            ][0]
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            behaviour(sock)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        listener.close()
        thread.join(BOUND)
        assert not thread.is_alive()


# Bad input from a client: the server fails the connection with the right code.


@pytest.mark.parametrize(
    "frames, code",
    [
        pytest.param([build_frame(2, b"x", mask=False)], 1002, id="unmasked"),
        pytest.param([build_frame(1, b"\xff\xfe")], 1007, id="invalid-utf8"),
        pytest.param([build_frame(1, "é".encode()[:1], fin=False), build_frame(0, b"\xff")], 1007, id="invalid-utf8-split"),
        pytest.param([build_frame(2, b"x" * 2000)], 1009, id="too-big"),
        pytest.param([build_frame(2, b"x" * 600, fin=False), build_frame(0, b"x" * 600)], 1009, id="too-big-fragmented"),
        pytest.param([build_frame(3, b"x")], 1002, id="reserved-opcode"),
        pytest.param([build_frame(2, b"x", rsv=4)], 1002, id="rsv1-without-extension"),
        pytest.param([build_frame(0, b"x")], 1002, id="unexpected-continuation"),
        pytest.param([build_frame(9, b"x" * 126)], 1002, id="long-control-frame"),
    ],
)
def test_server_fails_bad_input(frames, code):
    seen = []

    def handler(websocket):
        try:
            websocket.recv()
        except ConnectionClosedError as exc:
            seen.append(exc.sent.code)

    with running_server(handler, max_size=1000) as (port, _):
        sock, rest = raw_client(port)
        with sock:
            sock.sendall(b"".join(frames))
            assert close_code(read_frames(sock, rest)) == code
    assert seen == [code]


@pytest.mark.parametrize(
    "frame, code",
    [
        pytest.param(build_frame(2, b"x", mask=True), 1002, id="masked-from-server"),
        pytest.param(build_frame(1, b"\xc3", mask=False), 1007, id="invalid-utf8"),
        pytest.param(build_frame(2, b"x" * 2000, mask=False), 1009, id="too-big"),
    ],
)
def test_client_fails_bad_input(frame, code):
    received = []

    def behaviour(sock):
        sock.sendall(frame)
        received.extend(read_frames(sock))

    with raw_server(behaviour) as uri:
        # The raw server never closes TCP: the client gives up after close_timeout.
        with connect(uri, max_size=1000, compression=None, close_timeout=0.3) as websocket:
            with pytest.raises(ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.sent.code == code
    assert close_code(received) == code


def test_max_size_accepts_exactly_the_limit():
    with running_server(lambda ws: ws.send(ws.recv()), max_size=1000) as (port, _):
        with connect(f"ws://127.0.0.1:{port}", max_size=1000, compression=None) as websocket:
            websocket.send(b"x" * 1000)
            assert websocket.recv(timeout=BOUND) == b"x" * 1000


# Backpressure: max_queue bounds the frames held, and the peer's send() blocks.


def test_backpressure_blocks_a_fast_sender_then_resumes():
    size, count = 64 * 1024, 400  # 25 MiB: more than the queue and every kernel buffer
    high = 4
    consume = threading.Event()
    connections = []
    received = []

    def handler(websocket):
        connections.append(websocket)
        assert consume.wait(BOUND)
        for _ in range(count):
            received.append(len(websocket.recv(timeout=BOUND)))

    with running_server(handler, max_queue=high, max_size=2**20) as (port, _):
        with connect(f"ws://127.0.0.1:{port}", compression=None) as websocket:
            sent = []

            def sender():
                for _ in range(count):
                    websocket.send(b"x" * size)
                    sent.append(1)

            thread = threading.Thread(target=sender)
            thread.start()
            deadline = time.monotonic() + BOUND
            wait = threading.Event()
            while not (connections and connections[0]._paused):
                assert time.monotonic() < deadline, "reading never paused"
                wait.wait(0.005)
            server_connection = connections[0]
            # The sender can't finish: 25 MiB don't fit anywhere.
            thread.join(0.5)
            assert thread.is_alive()
            assert len(sent) < count
            # The queue holds at most what crossed the mark in one read.
            assert len(server_connection.recv_messages) <= high + 2
            consume.set()
            thread.join(BOUND * 3)
            assert not thread.is_alive()
            assert len(sent) == count
    assert received == [size] * count


def test_max_queue_none_never_pauses():
    release = threading.Event()
    connections = []

    def handler(websocket):
        connections.append(websocket)
        release.wait(BOUND)
        for _ in range(50):
            websocket.recv(timeout=BOUND)

    with running_server(handler, max_queue=None) as (port, _):
        with connect(f"ws://127.0.0.1:{port}", compression=None) as websocket:
            for _ in range(50):
                websocket.send(b"x")
            try:
                assert websocket.ping().wait(BOUND)  # the server has read everything before the pong
                waiter = threading.Event()
                for _ in range(2000):  # the handler starts after the server's reader
                    if connections:
                        break
                    waiter.wait(0.005)
                assert len(connections[0].recv_messages) == 50
                assert not connections[0]._paused
            finally:
                release.set()


# Timeouts


def test_client_open_timeout():
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        port = listener.getsockname()[1]
        # The kernel completes the TCP handshake; nobody answers the HTTP one.
        with pytest.raises(TimeoutError):
            connect(f"ws://127.0.0.1:{port}", open_timeout=0.2)


def test_server_open_timeout_drops_silent_clients():
    with running_server(lambda ws: None, open_timeout=0.2) as (port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as sock:
            assert sock.recv(4096) == b""


def test_close_timeout_when_the_peer_ignores_the_close():
    received = []

    def behaviour(sock):
        # Read the close frame but never answer it nor close the TCP connection.
        data = b""
        while len(data) < 4:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        received.append(data)
        sock.recv(4096)  # until the client gives up and drops the connection

    with raw_server(behaviour) as uri:
        websocket = connect(uri, compression=None, close_timeout=0.2)
        closer = threading.Thread(target=websocket.close)
        closer.start()
        closer.join(BOUND)
        assert not closer.is_alive()
        assert websocket.state is State.CLOSED
        assert isinstance(websocket._connection_exc, TimeoutError)
    assert received and received[0][0] == 0x88


def test_keepalive_timeout_fails_the_connection():
    def behaviour(sock):
        # Complete the handshake, then never answer anything.
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass

    with raw_server(behaviour) as uri:
        with connect(uri, compression=None, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.2) as websocket:
            with pytest.raises(ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.sent.code == 1011
            assert "keepalive" in info.value.sent.reason


def test_server_keepalive_timeout():
    seen = []

    def handler(websocket):
        try:
            websocket.recv()
        except ConnectionClosedError as exc:
            seen.append(exc.sent.code)

    with running_server(handler, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.2) as (port, _):
        sock, rest = raw_client(port)
        with sock:
            frames = read_frames(sock, rest)
    assert frames[0][0] == 9  # a ping first
    assert close_code(frames) == 1011
    assert seen == [1011]


def test_duplicate_ping_payload_is_refused():
    def behaviour(sock):
        # Never answer pings.
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass

    with raw_server(behaviour) as uri:
        websocket = connect(uri, compression=None, ping_interval=None, close_timeout=0.2)
        websocket.ping(b"same")
        with pytest.raises(ConcurrencyError):
            websocket.ping(b"same")
        other = websocket.ping(b"other")
        assert not other.is_set()
        websocket.close()


def test_decode_true_on_invalid_utf8_fails_with_1007():
    def handler(websocket):
        websocket.send(b"\xff\xfe")
        websocket.send(b"\xff\xfe")
        try:
            websocket.recv()
        except ConnectionClosedError:
            pass

    with running_server(handler) as (port, _):
        with connect(f"ws://127.0.0.1:{port}", compression=None) as websocket:
            assert websocket.recv(timeout=BOUND) == b"\xff\xfe"
            with pytest.raises(ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND, decode=True)
            assert info.value.sent.code == 1007


def test_recv_streaming_decode_true_on_invalid_utf8_fails_with_1007():
    def handler(websocket):
        websocket.send([b"ok", b"\xff"])
        try:
            websocket.recv()
        except ConnectionClosedError:
            pass

    with running_server(handler) as (port, _):
        with connect(f"ws://127.0.0.1:{port}", compression=None) as websocket:
            fragments = websocket.recv_streaming(decode=True)
            assert next(fragments) == "ok"
            with pytest.raises(ConnectionClosedError) as info:
                next(fragments)
            assert info.value.sent.code == 1007


def test_too_many_fragments_without_max_size_fails_with_1009():
    def handler(websocket):
        websocket.send([b"x"] * 5000)
        try:
            websocket.recv()
        except ConnectionClosedError:
            pass

    with running_server(handler, max_size=None) as (port, _):
        with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None) as websocket:
            with pytest.raises(ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.sent.code == 1009


def test_ping_flood_from_a_peer_that_does_not_read_is_bounded():
    # The peer floods pings and never reads: our writer is stuck, so pongs
    # can't go out. They must not pile up in memory without bound.
    from websockets_fast.sync.connection import MAX_QUEUED_REPLIES

    pings = 2_000_000  # 4 MB: more than the kernel buffers take
    start_flood = threading.Event()
    done = threading.Event()

    def behaviour(sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        start_flood.wait(BOUND)
        try:
            sock.sendall(b"\x89\x00" * pings)
        except OSError:
            pass
        done.wait(BOUND)

    with raw_server(behaviour) as uri:
        websocket = connect(uri, compression=None, ping_interval=None, close_timeout=0.2)
        sender = threading.Thread(target=lambda: pytest.raises(Exception, websocket.send, b"x" * (32 * 2**20)))
        sender.start()
        # Flood once the sender holds the socket: pongs queue behind it.
        deadline = time.monotonic() + BOUND
        waiter = threading.Event()
        while not websocket._writing:
            assert time.monotonic() < deadline, "the sender never started writing"
            waiter.wait(0.001)
        start_flood.set()
        while websocket._write_seq - websocket._written_seq <= MAX_QUEUED_REPLIES:
            assert time.monotonic() < deadline, "pongs never queued up"
            waiter.wait(0.005)
        # Reading has stopped: the queue stays bounded however many pings come
        # (each entry answers at most one read of recv_bufsize bytes).
        sender.join(0.3)
        queued = websocket._outgoing
        assert len(queued) <= 2 * (MAX_QUEUED_REPLIES + 1)
        assert sum(map(len, queued)) <= (MAX_QUEUED_REPLIES + 1) * 4 * websocket.recv_bufsize
        done.set()
        websocket.close_socket()
        sender.join(BOUND)
        assert not sender.is_alive()


def test_frames_right_behind_the_request_are_handled_without_more_input():
    # RFC 6455 wants a client to wait for the response, but frames sent
    # with the request must not wait for the client's next bytes.
    def handler(websocket):
        websocket.send(websocket.recv())

    with running_server(handler) as (port, _):
        sock, data = raw_client(port, early=build_frame(9, b"early ping") + build_frame(1, b"early"))
        with sock:
            frames = frames_until_close(sock, data)
    assert frames[:2] == [(10, b"early ping"), (1, b"early")]
    assert close_code(frames) == 1000


def frames_until_close(sock, data):
    """Read frames up to the server's close frame, answer it; return them.
    ``data`` is what came after the handshake response."""
    # The frames may have come with the response already.
    frames = parse_frames(data)
    for _ in range(1000):
        if any(opcode == 8 for opcode, _ in frames):
            break
        chunk = sock.recv(65536)
        assert chunk, f"EOF before the close frame, after {frames}"
        data += chunk
        frames = parse_frames(data)
    sock.sendall(build_frame(8, struct.pack("!H", 1000)))
    return frames


def parse_frames(data):
    """The complete unmasked frames at the start of ``data``."""
    frames = []
    while len(data) >= 2 and data[1] & 0x7F < 126 and len(data) >= 2 + (data[1] & 0x7F):
        length = data[1] & 0x7F
        frames.append((data[0] & 0x0F, data[2 : 2 + length]))
        data = data[2 + length :]
    return frames


def test_reads_of_tiny_frames_are_parsed_a_slice_at_a_time():
    # See the asyncio test of the same name: parsed tiny frames weigh ten
    # times their bytes, so no more than a slice is parsed past max_queue.
    from websockets_fast.sync.connection import PARSE_SLICE

    count = 30000  # 240 KB, 8 bytes per frame
    queue_lengths = []

    def handler(websocket):
        in_order = 0
        for expected in range(count):
            message = websocket.recv(timeout=BOUND)
            queue_lengths.append(len(websocket.recv_messages))
            in_order += message == expected.to_bytes(2, "big")
        websocket.send(str(in_order))

    frames = b"".join(build_frame(2, i.to_bytes(2, "big")) for i in range(count))
    with running_server(handler, max_queue=(4, 1), ping_interval=None) as (port, _):
        # Half the frames come with the request, half after the response.
        sock, data = raw_client(port, early=frames[: len(frames) // 2])
        with sock:
            sock.sendall(frames[len(frames) // 2 :])
            received = frames_until_close(sock, data)
    assert received[0] == (1, str(count).encode())
    assert max(queue_lengths) <= PARSE_SLICE // 8 + 4


def test_close_with_a_full_queue_reads_on_to_the_peer_close_frame():
    # As in asyncio: the handler closes, leaving messages queued past
    # max_queue, so reading is paused; closing must still read the client's
    # close frame (dropping the data before it) rather than wait for
    # close_timeout and abort with 1006.
    from websockets_fast.exceptions import ConnectionClosedOK
    from websockets_fast.sync.server import ServerConnection

    paused = threading.Event()

    class Watched(ServerConnection):
        def _pause_reading(self):
            super()._pause_reading()
            paused.set()

    codes = []

    def handler(websocket):
        assert paused.wait(BOUND)
        websocket.close()
        codes.append(websocket.close_code)

    with running_server(handler, max_queue=(4, 1), close_timeout=30, create_connection=Watched) as (port, _):
        with connect(f"ws://127.0.0.1:{port}", close_timeout=30) as client:
            # The server may close before the last sends: they raise then.
            with pytest.raises(ConnectionClosedOK):
                for i in range(10):
                    client.send(str(i))
                client.recv(timeout=BOUND)
        assert client.close_code == 1000
    assert codes == [1000]


# A peer that never reads: a write that makes no progress gives up at the
# keepalive deadline (ping_timeout) and drops the connection (1006), instead
# of holding a server thread forever.


def _never_reading_client(port, rcvbuf=4096):
    """A client socket past the handshake, with a small receive buffer."""
    sock, _ = raw_client(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    return sock


def test_send_to_a_peer_that_never_reads_gives_up_at_the_keepalive_deadline():
    outcome = {}
    finished = threading.Event()

    def handler(websocket):
        try:
            for _ in range(1000):  # bounded: 1000 MiB, far past any buffer
                websocket.send(b"x" * 2**20)
        except ConnectionClosedError as exc:
            outcome["exc"] = exc
            outcome["code"] = websocket.close_code
        finally:
            finished.set()

    with running_server(handler, ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3) as (port, _):
        with _never_reading_client(port):
            assert finished.wait(BOUND), "send() is still blocked on a peer that never reads"
    assert outcome["code"] == 1006
    assert isinstance(outcome["exc"].__cause__, TimeoutError)


def test_pongs_to_a_peer_that_never_reads_give_up_at_the_keepalive_deadline():
    # The peer floods pings and reads nothing: the thread that reads the
    # socket writes the pongs, and must not block on them forever.
    outcome = {}
    finished = threading.Event()

    def handler(websocket):
        try:
            websocket.recv(timeout=3 * BOUND)
        except ConnectionClosedError as exc:
            outcome["code"] = websocket.close_code
        except TimeoutError:
            outcome["code"] = "recv timed out"
        finally:
            finished.set()

    flood = build_frame(9, b"p" * 125) * 40_000  # 5 MB of pings

    def send_flood(sock):
        try:
            sock.sendall(flood)
        except OSError:
            pass  # the server dropped the connection: what this test wants

    with running_server(handler, ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3) as (port, _):
        with _never_reading_client(port) as sock:
            sender = threading.Thread(target=send_flood, args=(sock,))
            sender.start()
            assert finished.wait(2 * BOUND), "the connection is still up with pongs blocked"
            with contextlib.suppress(OSError):  # already gone: the server dropped it
                sock.shutdown(socket.SHUT_RDWR)  # unblocks the flood if it is still sending
            sender.join(BOUND)
            assert not sender.is_alive()
    assert outcome["code"] == 1006


def test_a_slow_reader_is_not_a_dead_one():
    # Progress resets the deadline: a peer that reads slowly, but reads,
    # gets the whole message even when that takes far longer than
    # ping_timeout.
    size = 2 * 2**20
    outcome = {}
    finished = threading.Event()

    def handler(websocket):
        try:
            websocket.send(b"y" * size)
            outcome["sent"] = True
        except ConnectionClosedError as exc:
            outcome["sent"] = exc
        finally:
            finished.set()

    # ping_timeout of 1 s: a pause of the reader's thread on a loaded
    # machine (this test once failed beside a benchmark of 2,000 wss
    # connections with 0.3 s) must not look like a dead peer.
    with running_server(handler, ping_interval=0.5, ping_timeout=1.0, close_timeout=0.3) as (port, _):
        with _never_reading_client(port, rcvbuf=64 * 1024) as sock:
            received, pace = 0, threading.Event()
            for _ in range(10_000):  # bounded; about 32 reads of 64 KiB
                chunk = sock.recv(64 * 1024)
                assert chunk, "the server dropped a peer that was reading"
                received += len(chunk)
                if received >= size:  # the payload, plus a 10-byte header
                    break
                pace.wait(0.1)  # a slow reader: at most 640 KB/s, about 3 s in all
            assert finished.wait(BOUND)
    assert outcome["sent"] is True
