"""The legacy implementation's deadlines, on real sockets: open_timeout,
close_timeout, keepalive (ping_interval, ping_timeout), and pings that the
closing of the connection cuts short."""

import asyncio
import warnings

import pytest
from conftest import run
from test_asyncio_bad_input import HANDSHAKE, client_frame, open_raw, read_close_code, read_frame

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from websockets_fast.legacy.client import connect
    from websockets_fast.legacy.server import WebSocketServerProtocol, serve

from websockets_fast.exceptions import ConnectionClosed

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def port_of(server):
    return server.sockets[0].getsockname()[1]


class Recorded(WebSocketServerProtocol):
    instances = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Recorded.instances.append(self)


async def idle(ws):
    await ws.wait_closed()


def test_open_timeout_server_drops_a_silent_client():
    async def main():
        async with serve(idle, "127.0.0.1", 0, open_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(HANDSHAKE[:20])  # a request that never completes
            assert await reader.read() == b""
            writer.close()

    run(main())


def test_open_timeout_client_gives_up_on_a_silent_server():
    async def main():
        async def silent(reader, writer):
            await reader.read()  # never answers the request

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        async with server:
            with pytest.raises(asyncio.TimeoutError):
                await connect(f"ws://127.0.0.1:{port_of(server)}/", open_timeout=0.2)

    run(main())


def test_keepalive_ping_timeout_fails_1011():
    async def main():
        async with serve(idle, "127.0.0.1", 0, ping_interval=0.05, ping_timeout=0.05) as server:
            reader, writer = await open_raw(port_of(server))
            # A client that never answers the keepalive ping.
            opcode, _ = await read_frame(reader)
            assert opcode == 9
            assert await read_close_code(reader) == 1011
            writer.close()

    run(main())


def test_keepalive_pings_again_after_each_pong():
    async def main():
        async with serve(idle, "127.0.0.1", 0, ping_interval=0.01, ping_timeout=5) as server:
            reader, writer = await open_raw(port_of(server))
            for _ in range(3):
                opcode, payload = await read_frame(reader)
                assert opcode == 9
                writer.write(client_frame(10, payload))
            writer.write(client_frame(8, (1000).to_bytes(2, "big")))
            assert await read_close_code(reader) == 1000
            writer.close()

    run(main())


def test_close_timeout_aborts_when_the_peer_never_answers():
    async def main():
        Recorded.instances = []

        async def closer(ws):
            await ws.close()

        async with serve(closer, "127.0.0.1", 0, close_timeout=0.2, create_protocol=Recorded) as server:
            reader, writer = await open_raw(port_of(server))
            assert await read_close_code(reader) == 1000
            # The client never answers: the server aborts the connection.
            assert await reader.read() == b""
            server_ws = Recorded.instances[0]
            await server_ws.wait_closed()
            assert server_ws.closed and server_ws.close_code == 1006
            assert isinstance(server_ws.connection_closed_exc().__cause__, TimeoutError)
            writer.close()

    run(main())


def test_pending_ping_fails_when_the_connection_closes():
    async def main():
        Recorded.instances = []
        pinged = asyncio.Event()
        result = []

        async def pinger(ws):
            waiter = await ws.ping(b"x")
            pinged.set()
            try:
                await waiter
            except ConnectionClosed as exc:
                result.append(exc)

        async with serve(pinger, "127.0.0.1", 0, create_protocol=Recorded) as server:
            reader, writer = await open_raw(port_of(server))
            await pinged.wait()
            writer.transport.abort()
            await Recorded.instances[0].wait_closed()
        assert len(result) == 1

    run(main())


def test_ping_payloads_and_concurrency():
    async def main():
        async def handler(ws):
            first = await ws.ping("same")
            with pytest.raises(Exception, match="already waiting"):
                await ws.ping("same")
            await first
            latency = await (await ws.ping())
            assert latency >= 0
            await ws.send("done")

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                assert await ws.recv() == "done"

    run(main())
