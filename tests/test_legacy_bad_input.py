"""Bad input over the wire to the legacy server: the right close code (1002,
1007, 1009) or HTTP status, never a hang; floods stay bounded."""

import asyncio
import warnings

import pytest
from conftest import run
from test_asyncio_bad_input import HANDSHAKE, LOOPS, client_frame, open_raw, read_close_code

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from websockets_fast.legacy.server import WebSocketServerProtocol, serve

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def port_of(server):
    return server.sockets[0].getsockname()[1]


async def idle(ws):
    async for _ in ws:
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
        pytest.param([client_frame(2, b"x" * 600, fin=False), client_frame(0, b"x" * 600)], 1009, id="fragments-over-max-size"),
        pytest.param([client_frame(3, b"")], 1002, id="reserved-opcode"),
        pytest.param([client_frame(9, b"x" * 126)], 1002, id="long-ping"),
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
            (b"431",),
            id="too-many-headers",
        ),
        pytest.param(b"GET / HTTP/1.1\r\nX: " + b"y" * 10000 + b"\r\n\r\n", (b"431",), id="long-header"),
        pytest.param(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", (b"414",), id="long-request-line"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", (b"426",), id="not-an-upgrade"),
        pytest.param(HANDSHAKE.replace(b"13", b"8"), (b"400",), id="bad-version"),
    ],
)
def test_bad_request_http_status(request_head, statuses):
    async def main():
        async def handler(ws):
            raise AssertionError("never reached")

        async with serve(handler, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(request_head)
            response = await reader.read()
            assert response.split(b" ")[1] in statuses
            writer.close()
            await writer.wait_closed()

    run(main())


def test_header_flood_without_end_is_bounded():
    async def main():
        async with serve(idle, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(b"GET / HTTP/1.1\r\n")
            # Headers that never end: the server answers 431 at its limit
            # instead of buffering them.
            for i in range(2000):
                writer.write(b"X-Flood-%d: %s\r\n" % (i, b"v" * 100))
                if writer.transport.get_write_buffer_size() > 2**20:
                    break
            response = await reader.read()
            assert response.startswith(b"HTTP/1.1 431 ")
            writer.close()

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


class WatchedServer(WebSocketServerProtocol):
    instances = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        WatchedServer.instances.append(self)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_ping_flood_is_bounded(loop_factory):
    async def main():
        WatchedServer.instances = []
        async with serve(idle, "127.0.0.1", 0, create_protocol=WatchedServer) as server:
            reader, writer = await open_raw(port_of(server))
            server_ws = WatchedServer.instances[0]
            batch = client_frame(9, b"p" * 125) * 1000
            # A peer that pings and never reads the pongs: the server stops
            # reading from it once its own write buffer is full.
            for _ in range(2000):
                writer.write(batch)
                await asyncio.sleep(0)
                if server_ws._write_paused and not server_ws.transport.is_reading():
                    break
            else:
                raise AssertionError("the server kept reading")
            assert server_ws.transport.get_write_buffer_size() < 2**20
            writer.transport.abort()

    run(main(), loop_factory=loop_factory)


def test_frames_right_behind_the_request_reach_the_handler():
    async def main():
        async def handler(ws):
            assert await ws.recv() == "early"
            await ws.send("seen")

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(HANDSHAKE + client_frame(1, b"early"))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            assert await reader.readexactly(6) == b"\x81\x04seen"
            writer.close()

    run(main())
