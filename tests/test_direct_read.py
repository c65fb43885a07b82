"""Connection._read_socket: on asyncio's default loop, a plain connection of
the compiled backend reads its socket itself in place of the transport's
``_read_ready``.

What is unusual goes back to the transport (the end of the stream, errors,
pausing and resuming): each case is run here over real sockets.
"""

import asyncio
import socket
import struct

import pytest
from conftest import run
from test_asyncio_basic import port_of

from websockets_fast.asyncio.client import ClientConnection, connect
from websockets_fast.asyncio.server import serve
from websockets_fast.exceptions import ConnectionClosedError
from websockets_fast.speedups import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "compiled", reason="the pure-Python backend keeps asyncio's reader")


def reader_of(ws):
    """The callback that the loop runs when the connection's socket is readable."""
    fd = ws.transport.get_extra_info("socket").fileno()
    key = ws.loop._selector.get_map().get(fd)
    if key is None or key.data[0] is None:
        return None
    return key.data[0]._callback


def reads_itself(ws):
    return reader_of(ws) == ws._read_socket


def test_both_sides_read_their_socket():
    async def main():
        async def handler(ws):
            message = await ws.recv()
            await ws.send(f"{message} {reads_itself(ws)}")
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                await ws.send("server:")
                answer = await ws.recv()
                return answer, reads_itself(ws)

    assert run(main()) == ("server: True", True)


def test_reading_resumes_with_the_connections_reader():
    # max_queue=1: the client's queue fills, its transport stops reading,
    # then resumes as the application catches up, over and over.
    messages = [bytes([n % 256]) * (1 + n * 37 % 3000) for n in range(300)]

    async def main():
        async def handler(ws):
            for message in messages:
                await ws.send(message)
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None, max_queue=1) as ws:
                received = []
                paused = 0
                for _ in messages:
                    if reader_of(ws) is None:
                        paused += 1
                    received.append(await ws.recv())
                return received, paused, reads_itself(ws)

    received, paused, reads = run(main())
    assert received == messages
    assert paused > 0  # reading did stop, and came back
    assert reads


def test_the_end_of_the_stream_goes_to_the_transport():
    # The server closes TCP without a closing handshake: the client sees EOF.
    async def main():
        async def handler(ws):
            await ws.recv()
            ws.transport.close()
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                assert reads_itself(ws)
                await ws.send("bye")
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
                return ws.close_code

    assert run(main()) == 1006


def test_a_reset_goes_to_the_transport():
    # The server resets the TCP connection: the client's read fails with
    # ECONNRESET, which the transport handles as its own read would (1006,
    # nothing for the loop's exception handler).
    errors = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))

        async def handler(ws):
            await ws.recv()
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.transport.abort()
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                assert reads_itself(ws)
                await ws.send("reset me")
                with pytest.raises(ConnectionClosedError) as caught:
                    await ws.recv()
                await ws.wait_closed()
                return ws.close_code, caught.value.__cause__

    code, cause = run(main())
    assert code == 1006
    assert isinstance(cause, ConnectionResetError)
    assert errors == []


def test_a_subclass_with_its_own_data_received_keeps_the_transports_reader():
    seen = []

    class Counting(ClientConnection):
        def data_received(self, data):
            seen.append(len(data))
            super().data_received(data)

    async def main():
        async def handler(ws):
            await ws.send(await ws.recv())
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", create_connection=Counting) as ws:
                await ws.send("echo")
                return await ws.recv(), reads_itself(ws)

    assert run(main()) == ("echo", False)
    assert seen  # every read went through the override


def test_large_messages_arrive_whole():
    # Reads that fill 64 KiB switch to receiving into a new bytes object of
    # that size; the short read that ends a message switches back.
    messages = [bytes([n]) * size for n, size in enumerate([3 << 20, 65536, 65535, 65537, 10, 1 << 20])]

    async def main():
        async def handler(ws):
            async for message in ws:
                await ws.send(message)

        async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", max_size=None) as ws:
                assert reads_itself(ws)
                received = []
                for message in messages:
                    await ws.send(message)
                    received.append(await ws.recv())
                return received

    assert run(main()) == messages
