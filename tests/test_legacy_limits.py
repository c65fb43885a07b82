"""The legacy implementation's documented buffers, each observed on real sockets:
max_queue (messages), read_limit (the read buffer), write_limit, max_size;
and the memory held while a handler doesn't read (tracemalloc).

Synchronisation uses events set from connection subclasses (the public
``create_protocol`` hook), never sleeps.
"""

import asyncio
import tracemalloc
import warnings

import pytest
from conftest import run

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import websockets.legacy.client as peer_client
    import websockets.legacy.server as peer_server
    from websockets import exceptions as peer_exceptions

    from websockets_fast.legacy.client import WebSocketClientProtocol, connect
    from websockets_fast.legacy.server import WebSocketServerProtocol, serve

try:
    import uvloop
except ImportError:  # not on PyPy or Windows
    uvloop = None

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LOOPS = [pytest.param(None, id="asyncio")]
if uvloop is not None:
    LOOPS.append(pytest.param(uvloop.new_event_loop, id="uvloop"))

# Most bytes a test writes before it must have seen the limit act.
MAX_BYTES_SENT = 256 * 2**20
# The most one read of the transport hands over: uvloop reads up to 256 KiB;
# on the default loop the connection lowers reads to 64 KiB.
MAX_READ = 256 * 1024


def port_of(server):
    return server.sockets[0].getsockname()[1]


class WatchedServer(WebSocketServerProtocol):
    """Records the read buffer's size at every pause and resume of reading."""

    instances = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        WatchedServer.instances.append(self)
        self.transitions = []
        self.queued = asyncio.Event()
        self.queued_target = None
        self.buffer_paused = asyncio.Event()

    def _update_reading(self):
        before = self._transport_paused
        super()._update_reading()
        if self._buffer_paused:
            self.buffer_paused.set()
        if self._transport_paused != before:
            size = 0 if self._read_buffer is None else len(self._read_buffer)
            self.transitions.append((self._transport_paused, size, self._buffer_paused, self._reading_held))

    def _assemble(self, frame):
        super()._assemble(frame)
        if self.queued_target is not None and len(self.messages) >= self.queued_target:
            self.queued.set()


class PausingPeerClient(peer_client.WebSocketClientProtocol):
    """websockets' legacy client, telling when its send() has to wait."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.write_paused = asyncio.Event()

    def pause_writing(self):
        super().pause_writing()
        self.write_paused.set()


class PausingClient(WebSocketClientProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.write_paused = asyncio.Event()
        self.buffer_at_resume = None

    def pause_writing(self):
        super().pause_writing()
        self.write_paused.set()

    def resume_writing(self):
        self.buffer_at_resume = self.transport.get_write_buffer_size()
        super().resume_writing()


async def send_until_blocked(ws, make_message):
    """Send numbered messages until a send() had to wait; return the count."""
    count = 0
    size = 0
    while size < MAX_BYTES_SENT:
        message = make_message(count)
        await ws.send(message)
        count += 1
        size += len(message)
        if ws.write_paused.is_set():
            return count
    raise AssertionError("the peer never pushed back")


async def send_until_stopped(ws, make_message, stop):
    """Send numbered messages until ``stop`` is set; return the count."""
    count = 0
    size = 0
    while size < MAX_BYTES_SENT and not stop.is_set():
        message = make_message(count)
        await ws.send(message)
        count += 1
        size += len(message)
    assert stop.is_set(), "the peer never pushed back"
    return count


def write_paused(ws):
    # websockets' legacy connection calls it _paused; ours _write_paused.
    return getattr(ws, "_paused", None) or getattr(ws, "_write_paused", False)


async def until_blocked(ws, server_ws):
    """Wait until the server stopped reading for its full read buffer, then
    until the peer's send() waits: from then on, nothing moves."""
    await server_ws.buffer_paused.wait()
    if not write_paused(ws):
        ws.write_paused.clear()
        await ws.write_paused.wait()


def numbered(count, size):
    return f"{count:08d}".ljust(size, "m")


@pytest.mark.parametrize("peer", ["websockets", "websockets_fast"])
@pytest.mark.parametrize("loop_factory", LOOPS)
def test_handler_that_stops_reading_blocks_the_peer_without_loss(loop_factory, peer):
    max_queue, read_limit, size = 4, 2**14, 1000

    async def main():
        WatchedServer.instances = []
        release = asyncio.Event()
        received = []

        async def handler(ws):
            await release.wait()
            async for message in ws:
                received.append(message)

        async with serve(
            handler,
            "127.0.0.1",
            0,
            create_protocol=WatchedServer,
            max_queue=max_queue,
            read_limit=read_limit,
            compression=None,
        ) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            if peer == "websockets":
                client = peer_client.connect(uri, create_protocol=PausingPeerClient, compression=None)
            else:
                client = connect(uri, create_protocol=PausingClient, compression=None)
            async with client as ws:
                server_ws = WatchedServer.instances[0]
                stop = asyncio.Event()
                sender = asyncio.ensure_future(send_until_stopped(ws, lambda i: numbered(i, size), stop))
                await until_blocked(ws, server_ws)
                assert not sender.done()
                # The peer's send() waits: kernel buffers, our read buffer
                # and the queue are full.
                assert len(server_ws.messages) == max_queue
                assert all(type(message) is str for message in server_ws.messages)
                assert server_ws._transport_paused and not server_ws.transport.is_reading()
                assert read_limit < len(server_ws._read_buffer) <= read_limit + MAX_READ
                # Nothing further was parsed past the slice that filled the queue.
                assert len(server_ws._frames or ()) * size <= 16 * 1024 + size
                stop.set()
                release.set()
                sent = await sender
                await ws.send("last")
            await server_ws.wait_closed()
        # Every message, in order, once the handler read again.
        assert received == [numbered(i, size) for i in range(sent)] + ["last"]
        # Reading paused only above read_limit; resumed only under half of it.
        buffer_transitions = [t for t in server_ws.transitions if not t[3]]
        assert buffer_transitions, "reading never paused for the read buffer"
        for paused, buffered, _, _ in buffer_transitions:
            if paused:
                assert buffered > read_limit
            else:
                assert buffered <= read_limit // 2

    run(main(), timeout=60, loop_factory=loop_factory)


def test_max_queue_counts_messages_not_frames():
    async def main():
        WatchedServer.instances = []
        release = asyncio.Event()

        async def handler(ws):
            ws.queued_target = 3
            await release.wait()
            assert [await ws.recv() for _ in range(4)] == ["abc", "def", "ghi", "jkl"]

        async with serve(handler, "127.0.0.1", 0, create_protocol=WatchedServer, max_queue=3) as server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                server_ws = WatchedServer.instances[0]
                server_ws.queued_target = 3
                for message in (["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"], ["j", "k", "l"]):
                    await ws.send(message)
                await server_ws.queued.wait()
                # Three fragmented messages, nine frames: the queue is full.
                assert list(server_ws.messages) == ["abc", "def", "ghi"]
                release.set()
                await server_ws.wait_closed()

    run(main(), timeout=60)


def test_max_queue_none_queues_everything():
    async def main():
        WatchedServer.instances = []

        async def handler(ws):
            ws.queued_target = 200
            await ws.queued.wait()
            assert ws._read_buffer is None and len(ws.messages) == 200
            await ws.send("seen")

        async with serve(handler, "127.0.0.1", 0, create_protocol=WatchedServer, max_queue=None) as server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                for i in range(200):
                    await ws.send(str(i))
                assert await ws.recv() == "seen"

    run(main(), timeout=60)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_write_limit_send_waits_until_low_water_mark(loop_factory):
    write_limit = 2**15

    async def main():
        release = asyncio.Event()

        async def handler(ws):
            await release.wait()
            async for _ in ws:
                pass

        async with peer_server.serve(handler, "127.0.0.1", 0, max_queue=1, read_limit=2**12) as server:
            async with connect(
                f"ws://127.0.0.1:{port_of(server)}/",
                create_protocol=PausingClient,
                write_limit=write_limit,
                compression=None,
            ) as ws:
                sender = asyncio.ensure_future(send_until_blocked(ws, lambda i: b"w" * 8192))
                await ws.write_paused.wait()
                assert not sender.done()
                assert ws.transport.get_write_buffer_size() > write_limit
                release.set()
                await sender
                await ws.send(b"after")
                # send() returned once the buffer was under low (high // 4).
                assert ws.buffer_at_resume <= write_limit // 4

    run(main(), timeout=60, loop_factory=loop_factory)


@pytest.mark.parametrize("side", ["server", "client"])
def test_max_size_fails_1009(side):
    async def main():
        codes = []

        async def sender(ws):
            await ws.send("x" * 2000)
            await ws.wait_closed()
            codes.append(ws.close_code)

        async def receiver(ws):
            with pytest.raises(Exception) as info:
                await ws.recv()
            return info.value

        if side == "server":
            result = []

            async def handler(ws):
                result.append(await receiver(ws))

            async with serve(handler, "127.0.0.1", 0, max_size=1000) as server:
                async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                    with pytest.raises(peer_exceptions.ConnectionClosedError):
                        await ws.send("y" * 2000)
                        await ws.recv()
                assert ws.close_code == 1009
            assert result[0].sent.code == 1009
        else:
            async with peer_server.serve(sender, "127.0.0.1", 0) as server:
                async with connect(f"ws://127.0.0.1:{port_of(server)}/", max_size=1000) as ws:
                    exc = await receiver(ws)
                assert exc.sent.code == 1009
            # websockets' server received our 1009.
            assert codes == [1009]

    run(main(), timeout=60)


def test_memory_held_while_the_handler_does_not_read_stays_within_the_formula():
    """4 × max_size × max_queue (decoded text) + read_limit + one read, plus
    what the peer (in this process) holds in its own write buffer."""
    max_size, max_queue, read_limit, write_limit = 2**16, 8, 2**16, 2**16

    async def main():
        WatchedServer.instances = []
        release = asyncio.Event()
        count = []

        async def handler(ws):
            await release.wait()
            async for _ in ws:
                count.append(1)

        async with serve(
            handler,
            "127.0.0.1",
            0,
            create_protocol=WatchedServer,
            max_size=max_size,
            max_queue=max_queue,
            read_limit=read_limit,
            compression=None,
        ) as server:
            async with peer_client.connect(
                f"ws://127.0.0.1:{port_of(server)}/",
                create_protocol=PausingPeerClient,
                compression=None,
                write_limit=write_limit,
            ) as ws:
                # Text of 4-byte characters, just under max_size.
                message = "\U0001f600" * (max_size // 4 - 16)
                tracemalloc.start()
                try:
                    before = tracemalloc.get_traced_memory()[0]
                    tracemalloc.reset_peak()
                    stop = asyncio.Event()
                    sender = asyncio.ensure_future(send_until_stopped(ws, lambda i: message, stop))
                    await until_blocked(ws, WatchedServer.instances[0])
                    held = tracemalloc.get_traced_memory()[0] - before
                    peak = tracemalloc.get_traced_memory()[1] - before
                finally:
                    tracemalloc.stop()
                server_ws = WatchedServer.instances[0]
                assert len(server_ws.messages) == max_queue
                formula = 4 * max_size * max_queue + read_limit + MAX_READ
                peer_side = write_limit + 2 * max_size  # its buffer and the frame being written
                assert held <= formula + peer_side, (held, formula)
                assert peak <= formula + peer_side + 2 * max_size, (peak, formula)
                stop.set()
                release.set()
                sent = await sender
            await server_ws.wait_closed()
        assert len(count) == sent

    run(main(), timeout=60)


def test_closing_with_a_full_queue_reads_on_to_the_close_frame():
    async def main():
        WatchedServer.instances = []
        closed = asyncio.Event()

        async def handler(ws):
            ws.queued_target = 2
            await ws.queued.wait()
            await ws.close()
            closed.set()

        async with serve(
            handler, "127.0.0.1", 0, create_protocol=WatchedServer, max_queue=2, read_limit=2**12, close_timeout=30
        ) as server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None) as ws:
                try:
                    for _ in range(1000):
                        await ws.send("z" * 1000)
                except peer_exceptions.ConnectionClosed:
                    pass
                await closed.wait()
            server_ws = WatchedServer.instances[0]
            # The closing handshake completed: no close_timeout, no 1006.
            assert server_ws.close_code == 1000

    run(main(), timeout=60)


def test_messages_sent_before_the_peer_left_are_all_received():
    """The peer sends and goes away while the queue, the read buffer and the
    kernel buffers hold its messages: the handler still receives every one,
    in order, then ConnectionClosed."""
    from test_asyncio_bad_input import HANDSHAKE, client_frame

    count, size = 300, 1000

    async def main():
        WatchedServer.instances = []
        gone = asyncio.Event()
        received = []
        outcome = []

        async def handler(ws):
            await gone.wait()
            try:
                async for message in ws:
                    received.append(message)
            except Exception as exc:
                outcome.append(exc)

        async with serve(
            handler, "127.0.0.1", 0, create_protocol=WatchedServer, max_queue=4, read_limit=2**14, compression=None
        ) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(HANDSHAKE)
            await reader.readuntil(b"\r\n\r\n")
            writer.transport.set_write_buffer_limits(0)
            writer.write(b"".join(client_frame(1, numbered(i, size).encode()) for i in range(count)))
            await writer.drain()  # all handed to the kernel
            writer.close()
            await writer.wait_closed()
            server_ws = WatchedServer.instances[0]
            await server_ws.buffer_paused.wait()
            gone.set()
            await server_ws.wait_closed()
        assert received == [numbered(i, size) for i in range(count)]
        assert len(outcome) == 1 and outcome[0].rcvd is None  # 1006: no close frame

    run(main(), timeout=60)


def encoder_of(ws):
    """The zlib compressor that the connection's permessage-deflate holds, or None."""
    (extension,) = ws.protocol.extensions
    return extension._encoder


@pytest.mark.parametrize("peer", ["websockets", "ours"])
def test_sparse_sender_keeps_no_compressor(peer, monkeypatch):
    """A compressed message sent long after the previous one (or first)
    releases the compressor (38 KiB) after it; messages sent back to back
    keep it. Every message still reaches the peer intact, with context
    takeover on both sides."""
    from websockets_fast.legacy import protocol as legacy_protocol

    client_connect = peer_client.connect if peer == "websockets" else connect
    text = "the same words again and again, " * 8

    async def main():
        server_connections = []

        async def handler(ws):
            server_connections.append(ws)
            async for message in ws:
                count = int(message.split()[0])
                for i in range(count):
                    await ws.send(f"{i} {text}")

        async with serve(handler, "127.0.0.1", 0) as server:
            async with client_connect(f"ws://127.0.0.1:{port_of(server)}/") as client:
                (ws,) = server_connections
                assert ws.protocol.extensions, "permessage-deflate negotiated"
                # The first message: nothing kept after it.
                await client.send("1")
                assert await client.recv() == f"0 {text}"
                assert encoder_of(ws) is None
                # Back to back: the compressor serves the whole burst.
                monkeypatch.setattr(legacy_protocol, "SPARSE_SEND_GAP", float("inf"))
                await client.send("5")
                assert [await client.recv() for _ in range(5)] == [f"{i} {text}" for i in range(5)]
                assert encoder_of(ws) is not None
                # Every message sparse: rebuilt from the kept window each time.
                monkeypatch.setattr(legacy_protocol, "SPARSE_SEND_GAP", 0.0)
                await client.send("20")
                assert [await client.recv() for _ in range(20)] == [f"{i} {text}" for i in range(20)]
                assert encoder_of(ws) is None
                # Our client compacts its own compressor the same way.
                if peer == "ours":
                    await client.send("1 more")
                    assert encoder_of(client) is None

    run(main())


class CountingTransport:
    """The transport, counting the writes the connection makes."""

    def __init__(self, transport):
        self.transport = transport
        self.writes = []

    def write(self, data):
        self.writes.append(len(data))
        self.transport.write(data)

    def __getattr__(self, name):
        return getattr(self.transport, name)


class CountingServer(WebSocketServerProtocol):
    instances = []

    def connection_made(self, transport):
        CountingServer.instances.append(self)
        super().connection_made(CountingTransport(transport))


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_burst_of_sends_is_gathered_into_one_write(loop_factory):
    """A handler's sends with nothing received in between: the first goes
    out at once, the rest together at the end of the loop iteration."""
    from websockets_fast.speedups import SPLIT_FRAME_SIZE

    count = 100

    async def handler(ws):
        await ws.recv()
        for i in range(count):
            await ws.send(f"message {i}")
        # A large payload (unmasked: apart from its header) and fragments.
        await ws.send(b"L" * SPLIT_FRAME_SIZE)
        await ws.send(["frag", "ments"])
        await ws.send("last")
        await ws.recv()  # then the closing handshake

    async def main():
        CountingServer.instances = []
        async with serve(handler, "127.0.0.1", 0, create_protocol=CountingServer, compression=None) as server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/", max_size=None) as client:
                counting = CountingServer.instances[0].transport
                writes_before = len(counting.writes)  # the handshake response
                await client.send("go")
                expected = [f"message {i}" for i in range(count)] + [b"L" * SPLIT_FRAME_SIZE, "fragments", "last"]
                assert [await client.recv() for _ in expected] == expected
                writes = counting.writes[writes_before:]
                await client.send("done")
        # One at once; the gathered ones; header and payload of the large
        # one, written apart; the fragments and the last message, gathered.
        assert len(writes) == 5, writes
        assert writes[3] == SPLIT_FRAME_SIZE

    run(main(), loop_factory=loop_factory)


def test_bursts_keep_order_with_control_frames():
    """Pings, fragmented messages and large frames don't overtake the
    messages gathered before them."""
    from websockets_fast.speedups import SPLIT_FRAME_SIZE

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with serve(echo, "127.0.0.1", 0, max_size=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", max_size=None, max_queue=None) as ws:
                pongs = []
                expected = []
                for i in range(1000):
                    await ws.send(str(i))
                    expected.append(str(i))
                    if i % 100 == 50:
                        pongs.append(await ws.ping())
                    if i % 250 == 0:
                        await ws.send([f"frag{i}-", "end"])
                        expected.append(f"frag{i}-end")
                    if i % 333 == 0:
                        large = bytes([i % 256]) * SPLIT_FRAME_SIZE
                        await ws.send(large)
                        expected.append(large)
                assert [await ws.recv() for _ in expected] == expected
                await asyncio.gather(*pongs)

    run(main())


class DrainWatchedClient(WebSocketClientProtocol):
    instances = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        DrainWatchedClient.instances.append(self)
        self.paused = False

    def pause_writing(self):
        self.paused = True
        super().pause_writing()


def test_bursts_respect_write_limit():
    """Gathered frames count towards write_limit: past it, send() waits."""
    high = 20_000

    async def main():
        release = asyncio.Event()

        async def handler(ws):
            await release.wait()
            async for _ in ws:
                pass

        async with serve(handler, "127.0.0.1", 0, max_queue=1, read_limit=2**14) as server:
            ws = await connect(
                f"ws://127.0.0.1:{port_of(server)}/",
                compression=None,
                write_limit=high,
                create_protocol=DrainWatchedClient,
            )
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
                assert ws.paused
            finally:
                release.set()
                ws.transport.abort()

    run(main())
