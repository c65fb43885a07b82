"""Bad input over the wire: the server answers with the right close code or HTTP status."""

import asyncio
import os

import pytest
from conftest import run

from websockets_fast.asyncio.server import ServerConnection, serve

HANDSHAKE = (
    b"GET / HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


try:
    import uvloop
except ImportError:  # not on PyPy or Windows
    uvloop = None

LOOPS = [pytest.param(None, id="asyncio")]
if uvloop is not None:
    LOOPS.append(pytest.param(uvloop.new_event_loop, id="uvloop"))


def port_of(server):
    return server.sockets[0].getsockname()[1]


def client_frame(opcode, payload, fin=True, masked=True, length=None):
    """Serialise a frame by hand, possibly lying about its length."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload) if length is None else length
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = bytes([first, mask_bit | n])
    elif n < 2**16:
        head = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def open_raw(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HANDSHAKE)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    return reader, writer


async def read_frame(reader):
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await reader.readexactly(n)


async def read_close_code(reader):
    """Skip frames up to the close frame; return its code."""
    for _ in range(1000):
        opcode, payload = await read_frame(reader)
        if opcode == 8:
            return int.from_bytes(payload[:2], "big")
    raise AssertionError("no close frame")


async def idle(websocket):
    async for _ in websocket:
        pass


@pytest.mark.parametrize(
    "frames, code",
    [
        pytest.param([client_frame(1, b"hi", masked=False)], 1002, id="unmasked"),
        pytest.param([client_frame(1, b"caf\xc3")], 1007, id="truncated-utf8"),
        pytest.param([client_frame(1, b"\xff\xfe")], 1007, id="invalid-utf8"),
        pytest.param([client_frame(1, b"a\xed\xa0\x80", fin=False), client_frame(0, b"b")], 1007, id="surrogate"),
        pytest.param([client_frame(2, b"", length=2**40)], 1009, id="huge-length"),
        pytest.param([client_frame(2, b"", length=2**63)], 1002, id="length-top-bit"),
        pytest.param([client_frame(2, b"", length=1001)], 1009, id="over-max-size"),
        pytest.param([client_frame(3, b"")], 1002, id="reserved-opcode"),
        pytest.param([client_frame(9, b"x" * 126)], 1002, id="long-ping"),
        pytest.param([client_frame(9, b"", fin=False)], 1002, id="fragmented-ping"),
        pytest.param([client_frame(0, b"x")], 1002, id="lone-continuation"),
        pytest.param([client_frame(1, b"a", fin=False), client_frame(1, b"b")], 1002, id="text-in-text"),
        pytest.param([bytes([0xC1, 0x80]) + b"\0\0\0\0"], 1002, id="rsv1-without-extension"),
    ],
)
@pytest.mark.parametrize("loop_factory", LOOPS)
def test_bad_frame_close_code(frames, code, loop_factory):
    async def main():
        async with serve(idle, "127.0.0.1", 0, max_size=1000, compression=None) as server:
            reader, writer = await open_raw(port_of(server))
            for frame in frames:
                writer.write(frame)
            assert await read_close_code(reader) == code
            # The server then closes the TCP connection.
            assert await reader.read() == b""
            writer.close()

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize(
    "request_head, statuses",
    [
        pytest.param(
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500)) + b"\r\n",
            (b"431", b"400"),
            id="too-many-headers",
        ),
        pytest.param(b"GET / HTTP/1.1\r\nX: " + b"y" * 10000 + b"\r\n\r\n", (b"431", b"400"), id="long-header"),
        pytest.param(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", (b"414", b"400"), id="long-request-line"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", (b"426", b"400"), id="not-an-upgrade"),
    ],
)
def test_bad_request_http_status(request_head, statuses):
    async def main():
        async def handler(websocket):
            raise AssertionError("never reached")

        async with serve(handler, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(request_head)
            response = await reader.read()
            assert response.split(b" ")[1] in statuses
            writer.close()
            assert not server.connections

    run(main())


def test_garbage_request_closes():
    async def main():
        async with serve(idle, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 100 + b"\r\n\r\n")
            data = await reader.read()
            assert data == b"" or data.startswith(b"HTTP/1.1 4")
            writer.close()

    run(main())


class WatchedServerConnection(ServerConnection):
    instances = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        WatchedServerConnection.instances.append(self)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_ping_flood_is_bounded(loop_factory):
    async def main():
        WatchedServerConnection.instances = []
        async with serve(idle, "127.0.0.1", 0, create_connection=WatchedServerConnection) as server:
            reader, writer = await open_raw(port_of(server))
            server_ws = WatchedServerConnection.instances[0]
            ping = client_frame(9, b"p" * 125)
            batch = ping * 1000
            # A peer that pings and never reads the pongs: the server stops
            # reading from it once its own write buffer is full.
            for _ in range(2000):
                writer.write(batch)
                await asyncio.sleep(0)
                if server_ws._write_paused and not server_ws.transport.is_reading():
                    break
            else:
                raise AssertionError("the server kept reading")
            # What the server holds is the pongs of at most one read chunk
            # past the write_limit, not the flood.
            assert server_ws.transport.get_write_buffer_size() < 2**20
            writer.transport.abort()

    run(main(), loop_factory=loop_factory)


def test_peer_that_never_reads_blocks_send_not_memory():
    async def main():
        WatchedServerConnection.instances = []
        sent = []
        blocked = asyncio.Event()

        async def handler(websocket):
            chunk = b"s" * 65536
            for _ in range(4096):
                send = asyncio.ensure_future(websocket.send(chunk))
                await asyncio.sleep(0)
                if not send.done():
                    blocked.set()
                    break
                sent.append(1)
            await send

        async with serve(handler, "127.0.0.1", 0, create_connection=WatchedServerConnection, close_timeout=0.2) as server:
            reader, writer = await open_raw(port_of(server))
            await blocked.wait()
            server_ws = WatchedServerConnection.instances[0]
            # send() waits; the write buffer stays near write_limit (32 KiB)
            # plus the one message being sent.
            assert server_ws.transport.get_write_buffer_size() < 2**15 + 65536 + 16
            assert len(sent) < 4096
            writer.transport.abort()

    run(main())


def test_slow_handshake_times_out():
    async def main():
        async with serve(idle, "127.0.0.1", 0, open_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            # One byte of the request, then silence.
            writer.write(HANDSHAKE[:1])
            assert await reader.read() == b""
            writer.close()

    run(main())


def test_ping_flood_while_application_waits_to_send():
    # The application is blocked in send() (the peer never reads) and the
    # peer floods pings: the pongs are bounded too.
    async def main():
        WatchedServerConnection.instances = []
        blocked = asyncio.Event()

        async def handler(websocket):
            chunk = b"s" * 65536
            for _ in range(4096):
                send = asyncio.ensure_future(websocket.send(chunk))
                await asyncio.sleep(0)
                if not send.done():
                    blocked.set()
                    break
            await send

        async with serve(handler, "127.0.0.1", 0, create_connection=WatchedServerConnection, close_timeout=0.2) as server:
            reader, writer = await open_raw(port_of(server))
            await blocked.wait()
            server_ws = WatchedServerConnection.instances[0]
            before = server_ws.transport.get_write_buffer_size()
            batch = client_frame(9, b"p" * 125) * 1000
            for _ in range(2000):
                writer.write(batch)
                await asyncio.sleep(0)
                if not server_ws.transport.is_reading():
                    break
            else:
                raise AssertionError("the server kept reading")
            # At most write_limit (32 KiB) of pongs, plus those of one read.
            assert server_ws.transport.get_write_buffer_size() - before < 2**15 + 2**18 + 2**15
            writer.transport.abort()

    run(main())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_frames_right_behind_the_request_reach_the_handler(loop_factory):
    # RFC 6455 wants a client to wait for the response; frames sent with the
    # request are handled once it is sent, and reading waits until then, so
    # that process_request's time can't fill memory with unparsed frames.
    reading_during_hook = []

    async def process_request(connection, request):
        reading_during_hook.append(connection.transport.is_reading())
        await asyncio.sleep(0)  # an async hook, as one doing I/O would be

    async def echo_one(websocket):
        await websocket.send(await websocket.recv())
        await websocket.wait_closed()

    async def main():
        async with serve(echo_one, "127.0.0.1", 0, process_request=process_request) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(HANDSHAKE + client_frame(9, b"early ping") + client_frame(1, b"early"))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            assert await read_frame(reader) == (10, b"early ping")
            assert await read_frame(reader) == (1, b"early")
            writer.write(client_frame(8, (1000).to_bytes(2, "big")))
            assert await read_close_code(reader) == 1000
            writer.close()
        assert reading_during_hook == [False]

    run(main(), loop_factory=loop_factory)


def queue_watching(queue_lengths):
    """A server connection that appends its queue's length after each read."""

    class Watch(ServerConnection):
        def data_received(self, data):
            super().data_received(data)
            if self._open:
                queue_lengths.append(len(self.recv_messages))

    return Watch


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_reads_of_tiny_frames_are_parsed_a_slice_at_a_time(loop_factory):
    # A frame costs ~80 bytes once parsed: a 64-256 KiB read of 8-byte frames
    # parsed at once would queue ten times max_queue's worth of memory. The
    # rest of the read waits, unparsed, until the queue drains.
    from websockets_fast.asyncio.connection import PARSE_SLICE

    count = 30000  # 240 KB, 8 bytes per frame
    queue_lengths = []

    async def main():
        async def handler(websocket):
            # Whatever the timing of reads and recv() calls, the queue goes
            # past max_queue's high-water mark within any slice.
            in_order = 0
            for expected in range(count):
                message = await websocket.recv()
                queue_lengths.append(len(websocket.recv_messages))
                in_order += message == expected.to_bytes(2, "big")
            await websocket.send(str(in_order))
            await websocket.wait_closed()

        async with serve(
            handler, "127.0.0.1", 0, max_queue=(4, 1), ping_interval=None, create_connection=queue_watching(queue_lengths)
        ) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            frames = b"".join(client_frame(2, i.to_bytes(2, "big")) for i in range(count))
            writer.write(HANDSHAKE + frames)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            assert await read_frame(reader) == (1, str(count).encode())
            writer.write(client_frame(8, (1000).to_bytes(2, "big")))
            assert await read_close_code(reader) == 1000
            writer.close()

    run(main(), loop_factory=loop_factory)
    assert max(queue_lengths) <= PARSE_SLICE // 8 + 4


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_closing_parses_what_was_left_unparsed(loop_factory):
    # The client's frames and then its close frame come in one write, with
    # the request. The queue fills within the first slice, so the close
    # frame is in the part left unparsed; the server's close() must parse
    # that part to find it, instead of waiting for close_timeout.
    closed = []

    async def handler(websocket):
        assert websocket._unparsed is not None  # the test's premise
        await websocket.close()
        closed.append(websocket.close_code)

    async def main():
        async with serve(handler, "127.0.0.1", 0, max_queue=(4, 1), close_timeout=30, ping_interval=None) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            frames = b"".join(client_frame(2, b"ab") for _ in range(4000))
            writer.write(HANDSHAKE + frames + client_frame(8, (1000).to_bytes(2, "big")))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            assert await read_close_code(reader) == 1000
            assert await reader.read() == b""  # the server closed TCP
            writer.close()

    run(main(), timeout=10, loop_factory=loop_factory)
    assert closed == [1000]


def test_reads_of_tiny_compressed_frames_are_parsed_a_slice_at_a_time():
    # The same bound with permessage-deflate, where frames go through the
    # protocol's extensions rather than the parser's short cut.
    from websockets_fast.asyncio.client import connect
    from websockets_fast.asyncio.connection import PARSE_SLICE

    count = 30000
    queue_lengths = []

    async def main():
        async def handler(websocket):
            received = 0
            async for _ in websocket:
                queue_lengths.append(len(websocket.recv_messages))
                received += 1
                if received == count:
                    await websocket.send(str(received))

        async with serve(
            handler, "127.0.0.1", 0, max_queue=(4, 1), ping_interval=None, create_connection=queue_watching(queue_lengths)
        ) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", ping_interval=None) as ws:
                assert ws.protocol.extensions  # deflate was negotiated
                for _ in range(count):
                    await ws.send(b"ab")
                assert await ws.recv() == str(count)

    run(main())
    # A compressed frame is at least 6 bytes on the wire from a client.
    assert max(queue_lengths) <= PARSE_SLICE // 6 + 4
