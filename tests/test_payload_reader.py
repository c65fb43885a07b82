"""Receiving the rest of a large frame straight into its payload's storage
(FrameParser.payload_view), on the compiled backend: on uvloop through
_PayloadReader, rather than into uvloop's buffer, then a bytes object, then
the payload; on asyncio's default loop through Connection._read_socket.

Each case runs over real sockets: messages of every size around the switch,
masked and unmasked, with reading paused by max_queue; invalid UTF-8 and a
peer gone in the middle of a large frame.
"""

import asyncio
import importlib
import socket
import struct

import pytest
from conftest import run
from test_asyncio_basic import port_of

from websockets_fast.asyncio import connection as connection_module
from websockets_fast.asyncio.client import connect
from websockets_fast.asyncio.server import serve
from websockets_fast.exceptions import ConnectionClosedError
from websockets_fast.speedups import BACKEND

uvloop = pytest.importorskip("uvloop")

pytestmark = pytest.mark.skipif(BACKEND != "compiled", reason="the pure-Python backend reads through uvloop's buffer")

MIB = 2**20


@pytest.fixture
def reads_into_payloads(monkeypatch):
    """Counts the reads that went into a payload, by side."""
    counts = {}
    # The compiled module's class: the compiled Connection uses that one.
    module = importlib.import_module(connection_module.Connection.__module__)
    original = module._PayloadReader.buffer_updated

    def buffer_updated(self, nbytes):
        side = self.connection.protocol.side.name
        counts[side] = counts.get(side, 0) + 1
        original(self, nbytes)

    monkeypatch.setattr(module._PayloadReader, "buffer_updated", buffer_updated)
    return counts


LOOPS = [pytest.param(uvloop.new_event_loop, id="uvloop"), pytest.param(asyncio.new_event_loop, id="asyncio")]


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_large_messages_both_ways_every_size_around_the_switch(reads_into_payloads, loop_factory):
    # Binary and text (ASCII and not), from 3 MiB down to a few bytes, with
    # small messages between large ones; max_queue=1 on both sides, so that
    # reading pauses and resumes while frames are received into payloads.
    sizes = [3 * MIB, 10, MIB + 1, 65_536, 65_537, 200_000, 1, 131_072, 70_000]
    messages = []
    for n, size in enumerate(sizes):
        messages.append(bytes((n * 31 + i) & 0xFF for i in range(256)) * (size // 256) + b"x" * (size % 256))
        messages.append(("é" if n % 2 else "a") * (size // 2 if n % 2 else size))

    async def main():
        async def handler(ws):
            async for message in ws:
                await ws.send(message)

        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None, max_queue=1) as server:
            async with connect(
                f"ws://127.0.0.1:{port_of(server)}/", compression=None, max_size=None, max_queue=1
            ) as ws:
                received = []
                for message in messages:
                    await ws.send(message)
                    received.append(await ws.recv())
                # Once the frames are complete, the connection is the
                # transport's protocol again.
                assert ws.transport.get_protocol() is ws
                return received

    received = run(main(), loop_factory=loop_factory)
    assert len(received) == len(messages)
    for got, sent in zip(received, messages):
        assert type(got) is type(sent) and got == sent
    if loop_factory is uvloop.new_event_loop:
        # Both sides received into payloads: the server unmasks in place.
        assert reads_into_payloads.get("SERVER", 0) > 0 and reads_into_payloads.get("CLIENT", 0) > 0


def test_small_messages_never_switch(reads_into_payloads):
    async def main():
        async def handler(ws):
            async for message in ws:
                await ws.send(message)

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                for i in range(200):
                    await ws.send(b"m" * (i * 300))
                    assert await ws.recv() == b"m" * (i * 300)

    run(main(), loop_factory=uvloop.new_event_loop)
    assert reads_into_payloads == {}


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_invalid_utf8_in_a_large_frame_closes_1007(reads_into_payloads, loop_factory):
    # The invalid byte arrives in a read into the payload: the text is
    # checked as it arrives, and the connection fails with 1007.
    text = b"a" * (2 * MIB) + b"\xff" + b"b" * 1000

    async def main():
        async def handler(ws):
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            return info.value

        errors = []

        async def recording(ws):
            errors.append(await handler(ws))

        async with serve(recording, "127.0.0.1", 0, compression=None, max_size=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None) as ws:
                # Sent as raw text bytes in one frame: send() would refuse them.
                ws.protocol.send_text(text)
                ws._flush()
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 1007
        assert errors and errors[0].sent.code == 1007

    run(main(), loop_factory=loop_factory)
    if loop_factory is uvloop.new_event_loop:
        assert reads_into_payloads.get("SERVER", 0) > 0


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_peer_gone_in_the_middle_of_a_large_frame(reads_into_payloads, loop_factory):
    # A raw client announces 8 MiB, sends 1 MiB of it, then closes or resets
    # the connection: 1006 for the handler, nothing for the loop's
    # exception handler.
    for reset in (False, True):
        unexpected = []

        async def main():
            asyncio.get_running_loop().set_exception_handler(lambda loop, context: unexpected.append(context))
            closed = asyncio.get_running_loop().create_future()

            async def handler(ws):
                try:
                    await ws.recv()
                except ConnectionClosedError as exc:
                    closed.set_result(exc)

            async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
                reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
                writer.write(
                    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
                writer.write(bytes([0x82, 0xFF]) + struct.pack("!Q", 8 * MIB) + b"\x00\x00\x00\x00")
                for _ in range(16):
                    writer.write(b"\x00" * 65536)
                    await writer.drain()
                if reset:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.close()
                exc = await asyncio.wait_for(closed, 10)
                assert exc.rcvd is None and exc.sent is None  # 1006

        run(main(), loop_factory=loop_factory)
        assert unexpected == []
    if loop_factory is uvloop.new_event_loop:
        assert reads_into_payloads.get("SERVER", 0) > 0
