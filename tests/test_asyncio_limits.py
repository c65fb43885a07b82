"""The documented limits of the asyncio implementation, each observed on real sockets.

Synchronisation uses events set from connection subclasses (the public
``create_connection`` hook), never sleeps.
"""

import asyncio

import pytest
from conftest import run

from websockets_fast.asyncio.client import ClientConnection, connect
from websockets_fast.asyncio.server import ServerConnection, broadcast, serve
from websockets_fast.exceptions import ConcurrencyError, ConnectionClosedError, ConnectionClosedOK
from websockets_fast.protocol import State

try:
    import uvloop
except ImportError:  # not on PyPy or Windows
    uvloop = None

LOOPS = [pytest.param(None, id="asyncio")]
if uvloop is not None:
    LOOPS.append(pytest.param(uvloop.new_event_loop, id="uvloop"))

# Most bytes a test writes before it must have seen the limit act.
MAX_BYTES_SENT = 256 * 2**20


def port_of(server):
    return server.sockets[0].getsockname()[1]


class Watched:
    """Mixin: the connection sets events on flow-control transitions."""

    def setup_watch(self):
        self.events = {name: asyncio.Event() for name in ("queued", "pause_writing", "resume_writing")}
        self.queued_target = None
        self.buffer_at_resume = None

    def data_received(self, data):
        super().data_received(data)
        if self.queued_target is not None and len(self.recv_messages) >= self.queued_target:
            self.events["queued"].set()

    def pause_writing(self):
        super().pause_writing()
        self.events["pause_writing"].set()

    def resume_writing(self):
        self.buffer_at_resume = self.transport.get_write_buffer_size()
        super().resume_writing()
        self.events["resume_writing"].set()


class WatchedServerConnection(Watched, ServerConnection):
    # A subclass without __slots__ gets a __dict__ for the test attributes.
    instances = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_watch()
        WatchedServerConnection.instances.append(self)


class WatchedClientConnection(Watched, ClientConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_watch()


@pytest.fixture(autouse=True)
def reset_instances():
    WatchedServerConnection.instances = []


# max_queue


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_max_queue_pauses_reading_and_peer_sees_tcp_backpressure(loop_factory):
    async def main():
        release = asyncio.Event()
        received = []

        async def handler(websocket):
            websocket.queued_target = 5
            await release.wait()
            async for message in websocket:
                received.append(len(message))

        async with serve(
            handler, "127.0.0.1", 0, max_queue=(4, 1), create_connection=WatchedServerConnection
        ) as server:
            async with connect(
                f"ws://127.0.0.1:{port_of(server)}/", compression=None, create_connection=WatchedClientConnection
            ) as ws:
                # connect() returned: the server connection exists.
                server_ws = WatchedServerConnection.instances[0]
                server_ws.queued_target = 5
                for _ in range(5):
                    await ws.send(b"m" * 100)
                await server_ws.events["queued"].wait()
                # Above the high-water mark of 4 frames: reading is paused.
                assert len(server_ws.recv_messages) == 5
                assert server_ws.recv_messages.paused
                assert not server_ws.transport.is_reading()

                # The client keeps sending: the kernel buffers fill, then the
                # client's own write buffer, and its send() blocks.
                chunk = b"x" * 65536
                sender = asyncio.ensure_future(send_until_blocked(ws, chunk))
                await ws.events["pause_writing"].wait()
                assert not sender.done()
                # The server read nothing more while the client was blocked.
                assert len(server_ws.recv_messages) == 5
                assert not server_ws.transport.is_reading()

                release.set()
                sent = await sender
                await ws.close()
            await server_ws.wait_closed()
        # Every message got through once the application read.
        assert received[:5] == [100] * 5
        assert received[5:] == [65536] * sent

    run(main(), loop_factory=loop_factory)


async def send_until_blocked(ws, chunk):
    """Send until a send() had to wait for the write buffer; return the count."""
    count = 0
    while count * len(chunk) < MAX_BYTES_SENT:
        await ws.send(chunk)
        count += 1
        if ws.events["pause_writing"].is_set():
            return count
    raise AssertionError("the peer never pushed back")


def test_max_queue_resumes_at_low_water_mark():
    async def main():
        release = asyncio.Event()
        states = []

        async def handler(websocket):
            await release.wait()
            for _ in range(9):
                await websocket.recv()
                states.append((len(websocket.recv_messages), websocket.transport.is_reading()))

        async with serve(
            handler, "127.0.0.1", 0, max_queue=(8, 2), create_connection=WatchedServerConnection
        ) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None) as ws:
                server_ws = WatchedServerConnection.instances[0]
                server_ws.queued_target = 9
                for i in range(9):
                    await ws.send(str(i))
                await server_ws.events["queued"].wait()
                assert not server_ws.transport.is_reading()
                release.set()
                await server_ws.wait_closed()
        # Reading resumes exactly when the queue falls to the low-water mark.
        assert states[:6] == [(8, False), (7, False), (6, False), (5, False), (4, False), (3, False)]
        assert states[6] == (2, True)

    run(main())


def test_max_queue_none_never_pauses():
    async def main():
        async def handler(websocket):
            websocket.queued_target = 100
            await websocket.events["queued"].wait()
            assert websocket.transport.is_reading()
            assert len(websocket.recv_messages) == 100
            await websocket.send("seen")

        async with serve(handler, "127.0.0.1", 0, max_queue=None, create_connection=WatchedServerConnection) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                for i in range(100):
                    await ws.send(str(i))
                assert await ws.recv() == "seen"

    run(main())


# write_limit


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_write_limit_send_waits_until_low_water_mark(loop_factory):
    async def main():
        release = asyncio.Event()

        async def handler(websocket):
            await release.wait()
            async for _ in websocket:
                pass

        high, low = 100_000, 10_000
        async with serve(handler, "127.0.0.1", 0, max_queue=1, max_size=None) as server:
            async with connect(
                f"ws://127.0.0.1:{port_of(server)}/",
                compression=None,
                write_limit=(high, low),
                create_connection=WatchedClientConnection,
            ) as ws:
                chunk = b"w" * 50_000
                count = 0
                while not ws.events["pause_writing"].is_set():
                    # Under the high-water mark, send() returns at once.
                    send = asyncio.ensure_future(ws.send(chunk))
                    await asyncio.sleep(0)
                    count += 1
                    assert count * len(chunk) < MAX_BYTES_SENT
                    if not ws.events["pause_writing"].is_set():
                        assert send.done()
                # Above it, send() waits.
                assert ws.transport.get_write_buffer_size() > high
                assert not send.done()
                release.set()
                await send
                # It returned once the buffer drained under the low-water mark.
                assert ws.events["resume_writing"].is_set()
                assert ws.buffer_at_resume <= low

    run(main(), loop_factory=loop_factory)


# broadcast


def test_broadcast_never_waits_and_skips():
    async def main():
        ready = asyncio.Event()
        go_on = asyncio.Event()
        connections = []

        async def handler(websocket):
            connections.append(websocket)
            if len(connections) == 3:
                ready.set()
            await websocket.wait_closed()

        async with serve(handler, "127.0.0.1", 0, write_limit=1000) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            # A client that stops reading at once: its queue of 1 fills up.
            slow = await connect(uri, max_queue=1, compression=None)
            fast = await connect(uri, compression=None)
            other = await connect(uri, compression=None)
            await ready.wait()
            slow_srv, fast_srv, other_srv = connections

            # Mid-fragmented send: broadcast skips it.
            async def fragments():
                yield "part one"
                await go_on.wait()
                yield "part two"

            fragmented = asyncio.ensure_future(fast_srv.send(fragments()))
            while fast_srv._send_in_progress is None:
                await asyncio.sleep(0)
            with pytest.raises(BaseException) as info:
                broadcast(connections, "hello", raise_exceptions=True)
            assert any(isinstance(exc, ConcurrencyError) for exc in getattr(info.value, "exceptions", [info.value]))
            go_on.set()
            await fragmented
            assert await fast.recv() == "part onepart two"
            assert await other.recv() == "hello"
            # The skipped connection never got "hello".
            await fast_srv.send("after")
            assert await fast.recv() == "after"

            # Broadcasting returns synchronously even when the slow client's
            # buffer is far past write_limit: no backpressure, no waiting.
            message = b"b" * 10_000
            for _ in range(MAX_BYTES_SENT // len(message)):
                broadcast([slow_srv], message)
                if slow_srv.transport.get_write_buffer_size() > 100 * 1000:
                    break
            assert slow_srv.transport.get_write_buffer_size() > 100 * 1000

            # A closed connection is skipped silently.
            await other.close()
            await other_srv.wait_closed()
            broadcast([other_srv], "skipped")
            broadcast([other_srv], "skipped", raise_exceptions=True)

            for ws in (slow, fast):
                ws.transport.abort()

    run(main())


# max_size


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_max_size_closes_1009(loop_factory):
    async def main():
        async def handler(websocket):
            await websocket.recv()

        async with serve(handler, "127.0.0.1", 0, max_size=1000) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri) as ws:
                await ws.send(b"x" * 1001)
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 1009
            # Fragments adding up past the limit too.
            async with connect(uri) as ws:
                await ws.send([b"x" * 600, b"y" * 600])
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 1009
            # Exactly at the limit is fine.
            async with connect(uri) as ws:
                await ws.send(b"x" * 1000)
                with pytest.raises(Exception):
                    await ws.recv()
                assert ws.close_code == 1000

    run(main(), loop_factory=loop_factory)


def test_max_size_client_side():
    async def handler(websocket):
        await websocket.send("y" * 2000)
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", max_size=1999) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.sent.code == 1009

    run(main())


# Timeouts


def test_open_timeout_server_slow_request():
    async def main():
        async def handler(websocket):
            raise AssertionError("never reached")

        async with serve(handler, "127.0.0.1", 0, open_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            # Half a request, then nothing: the server gives up.
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert await reader.read() == b""
            writer.close()
            assert not server.connections

    run(main())


def test_open_timeout_server_slow_process_request():
    async def main():
        started = asyncio.Event()

        async def process_request(connection, request):
            started.set()
            await asyncio.Event().wait()

        async def handler(websocket):
            raise AssertionError("never reached")

        async with serve(handler, "127.0.0.1", 0, open_timeout=0.2, process_request=process_request) as server:
            with pytest.raises(Exception):
                await connect(f"ws://127.0.0.1:{port_of(server)}/", open_timeout=5)
            assert started.is_set()

    run(main())


def test_open_timeout_client():
    async def main():
        async def silent(reader, writer):
            await reader.read()
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        try:
            with pytest.raises(TimeoutError):
                await connect(f"ws://127.0.0.1:{port_of(server)}/", open_timeout=0.2)
        finally:
            server.close()

    run(main())


class DeafServerConnection(ServerConnection):
    """Once open, ignores everything the client sends (no pongs, no close)."""

    def data_received(self, data):
        if self.protocol.state is State.CONNECTING:
            super().data_received(data)


def test_close_timeout_aborts():
    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, create_connection=DeafServerConnection, close_timeout=0.2) as server:
            ws = await connect(f"ws://127.0.0.1:{port_of(server)}/", close_timeout=0.2)
            await ws.close()
            # No close frame came back: the client gave up and aborted.
            assert ws.state is State.CLOSED
            assert ws.protocol.close_rcvd is None
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert isinstance(info.value.__cause__, TimeoutError)

    run(main())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_keepalive_ping_timeout_fails_1011(loop_factory):
    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, create_connection=DeafServerConnection, close_timeout=0.2) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.2) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.sent.code == 1011
                assert info.value.sent.reason == "keepalive ping timeout"

    run(main(), loop_factory=loop_factory)


class PongCountingClientConnection(ClientConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pongs = asyncio.Queue()

    def _acknowledge_pings(self, data):
        super()._acknowledge_pings(data)
        self.pongs.put_nowait(self.latency)


def test_keepalive_keeps_pinging_with_timers_not_tasks():
    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, ping_interval=0.01) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            baseline = len([task for task in asyncio.all_tasks() if not task.done()])
            clients = [
                await connect(uri, ping_interval=0.01, create_connection=PongCountingClientConnection) for _ in range(5)
            ]
            # Three keepalive round trips on each client.
            for ws in clients:
                for _ in range(3):
                    latency = await ws.pongs.get()
                    assert latency >= 0
            # One task per server connection (its handler), none per client.
            tasks = [task for task in asyncio.all_tasks() if not task.done()]
            assert len(tasks) == baseline + len(clients), tasks
            for ws in clients:
                await ws.close()

    run(main())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_full_duplex_streaming_does_not_deadlock(loop_factory):
    # Both sides write faster than the other reads, so both write buffers
    # overflow at times; each must keep reading the other.
    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        count, chunk = 2000, b"d" * 16384
        async with serve(echo, "127.0.0.1", 0, write_limit=4096, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", write_limit=4096, compression=None) as ws:

                async def sender():
                    for _ in range(count):
                        await ws.send(chunk)

                task = asyncio.ensure_future(sender())
                for _ in range(count):
                    assert await ws.recv() == chunk
                await task

    run(main(), loop_factory=loop_factory)


def test_close_with_unread_messages_completes_handshake():
    # The handler returns leaving messages queued past max_queue, so reading
    # is paused; closing must still read the client's close frame rather
    # than wait for close_timeout and abort.
    async def handler(websocket):
        # Above max_queue: reading is paused.
        websocket.queued_target = 5
        await websocket.events["queued"].wait()

    async def main():
        async with serve(
            handler, "127.0.0.1", 0, max_queue=4, close_timeout=30, create_connection=WatchedServerConnection
        ) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", close_timeout=30) as ws:
                for i in range(10):
                    await ws.send(str(i))
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()
            assert ws.close_code == 1000
            server_ws = WatchedServerConnection.instances[0]
            await server_ws.wait_closed()
            assert server_ws.protocol.close_rcvd is not None

    run(main(), timeout=10)


def test_bursts_keep_order_with_control_frames():
    # Messages sent back to back are gathered into one write; pings and
    # fragmented messages in the middle must not overtake them.
    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                pongs = []
                for i in range(1000):
                    await ws.send(str(i))
                    if i % 100 == 50:
                        pongs.append(await ws.ping())
                    if i % 250 == 0:
                        await ws.send([f"frag{i}-", "end"])
                expected = []
                for i in range(1000):
                    expected.append(str(i))
                    if i % 250 == 0:
                        expected.append(f"frag{i}-end")
                assert [await ws.recv() for _ in expected] == expected
                await asyncio.gather(*pongs)

    run(main())


def test_bursts_respect_write_limit():
    async def main():
        release = asyncio.Event()

        async def handler(websocket):
            await release.wait()
            async for _ in websocket:
                pass

        high = 20_000
        async with serve(handler, "127.0.0.1", 0, max_queue=1) as server:
            async with connect(
                f"ws://127.0.0.1:{port_of(server)}/",
                compression=None,
                write_limit=high,
                create_connection=WatchedClientConnection,
            ) as ws:
                message = b"m" * 1000
                try:
                    # Back-to-back sends, as in a burst, without yielding.
                    for _ in range(MAX_BYTES_SENT // len(message)):
                        send = ws.send(message).__await__()
                        try:
                            next(send)
                        except StopIteration:
                            pass  # returned without waiting
                        else:
                            # It waits for the drain: the limit was reached.
                            send.close()
                            break
                        # Gathered and buffered bytes: at most high + one frame.
                        buffered = ws._pending_size + ws.transport.get_write_buffer_size()
                        assert buffered <= high + len(message) + 14
                    else:
                        raise AssertionError("the peer never pushed back")
                    assert ws.events["pause_writing"].is_set()
                finally:
                    release.set()

    run(main())
