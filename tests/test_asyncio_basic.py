"""End-to-end tests of the asyncio client and server, and interop with websockets."""

import asyncio

import pytest
import websockets
import websockets.asyncio.client
import websockets.asyncio.server
from conftest import run

from websockets_fast.asyncio.client import ClientConnection, connect
from websockets_fast.asyncio.server import ServerConnection, serve
from websockets_fast.exceptions import ConcurrencyError, ConnectionClosedError, ConnectionClosedOK
from websockets_fast.protocol import State

try:
    import uvloop
except ImportError:  # not on PyPy or Windows
    uvloop = None

LOOPS = [pytest.param(None, id="asyncio")]
if uvloop is not None:
    LOOPS.append(pytest.param(uvloop.new_event_loop, id="uvloop"))


def port_of(server):
    return server.sockets[0].getsockname()[1]


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo_both_sides_ours(loop_factory, compression):
    async def main():
        async with serve(echo, "127.0.0.1", 0, compression=compression) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/path?q=1"
            async with connect(uri, compression=compression) as ws:
                assert isinstance(ws, ClientConnection)
                assert ws.state is State.OPEN
                assert ws.response.status_code == 101
                negotiated = ws.response.headers.get("Sec-WebSocket-Extensions")
                assert (negotiated is not None) == (compression == "deflate")
                for message in ["hello", b"\x00\xff", "é" * 1000, b"x" * 100_000, "", b""]:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send(bytearray(b"ba"))
                assert await ws.recv() == b"ba"
                await ws.send(memoryview(b"mv"))
                assert await ws.recv() == b"mv"
                await ws.send("as bytes")
                assert await ws.recv(decode=False) == b"as bytes"
                await ws.send(b"as str")
                assert await ws.recv(decode=True) == "as str"
                await ws.send(b"text frame", text=True)
                assert await ws.recv() == "text frame"
                await ws.send("binary frame", text=False)
                assert await ws.recv() == b"binary frame"
            assert ws.state is State.CLOSED
            assert ws.close_code == 1000

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("compression", ["deflate", None])
def test_our_client_their_server(loop_factory, compression):
    async def main():
        async def their_echo(websocket):
            async for message in websocket:
                await websocket.send(message)

        async with websockets.asyncio.server.serve(their_echo, "127.0.0.1", 0, compression=compression) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=compression) as ws:
                assert (ws.response.headers.get("Sec-WebSocket-Extensions") is not None) == (compression is not None)
                for message in ["hi", b"\x01\x02" * 5000, "ü" * 70000]:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send(["frag", "mented"])
                assert await ws.recv() == "fragmented"
            assert ws.close_code == 1000

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("compression", ["deflate", None])
def test_their_client_our_server(loop_factory, compression):
    async def main():
        async with serve(echo, "127.0.0.1", 0, compression=compression) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with websockets.asyncio.client.connect(uri, compression=compression) as ws:
                assert (ws.response.headers.get("Sec-WebSocket-Extensions") is not None) == (compression is not None)
                for message in ["hi", b"\x01\x02" * 5000, "ü" * 70000]:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send([b"frag", b"mented"])
                assert await ws.recv() == b"fragmented"
            assert ws.close_code == 1000

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_server_closes_normally(loop_factory):
    async def handler(websocket):
        await websocket.close(1001, "bye")

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                with pytest.raises(ConnectionClosedOK) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 1001 and info.value.rcvd.reason == "bye"
                # Every later call raises the same way.
                with pytest.raises(ConnectionClosedOK):
                    await ws.send("late")
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()
                assert ws.close_code == 1001 and ws.close_reason == "bye"

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_handler_error_closes_1011(loop_factory):
    async def handler(websocket):
        await websocket.recv()
        raise RuntimeError("boom")

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                await ws.send("go")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 1011

    run(main(), loop_factory=loop_factory)


def test_async_iteration_ends_on_normal_close():
    async def handler(websocket):
        for i in range(3):
            await websocket.send(str(i))

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                assert [message async for message in ws] == ["0", "1", "2"]

    run(main())



@pytest.mark.parametrize("loop_factory", LOOPS)
def test_async_iteration_raises_on_error_close(loop_factory):
    # Only a normal closure ends the loop quietly; 1011 comes out of it.
    async def handler(websocket):
        await websocket.send("one")
        await websocket.recv()
        raise RuntimeError("boom")

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                received = []
                with pytest.raises(ConnectionClosedError) as info:
                    async for message in ws:
                        received.append(message)
                        await ws.send("go")
                assert received == ["one"]
                assert info.value.rcvd.code == 1011

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_async_iteration_break_cancel_and_resume(loop_factory):
    # Leaving `async for` by break, or by cancelling the task waiting in it,
    # loses no message: recv() and a new `async for` go on where it stopped.
    async def handler(websocket):
        async for message in websocket:
            for i in range(int(message)):
                await websocket.send(str(i))

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                await ws.send("3")
                async for message in ws:
                    assert message == "0"
                    break
                assert await ws.recv() == "1"
                iterator = ws.__aiter__()  # aiter() is 3.10+
                assert await iterator.__anext__() == "2"

                async def iterate(into):
                    async for message in ws:
                        into.append(message)

                received = []
                task = asyncio.ensure_future(iterate(received))
                # The task is waiting in recv() once recv() is in progress.
                for _ in range(10_000):
                    if ws._recv_in_progress:
                        break
                    await asyncio.sleep(0)
                assert ws._recv_in_progress
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert not ws._recv_in_progress and received == []
                await ws.send("2")
                assert [await ws.recv(), await ws.recv()] == ["0", "1"]
                await ws.close()
                # After a normal closure, iterating again ends at once.
                assert [message async for message in ws] == []
                # recv() itself still raises: only `async for` stops quietly.
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()

    run(main(), loop_factory=loop_factory)


def test_idle_async_iteration_holds_no_async_generator():
    # An idle handler in `async for` is the common case at scale: what it
    # waits on is a small awaitable, not an async generator that the loop
    # tracks (and keeps a weak reference to) for each connection.
    async def main():
        loop = asyncio.get_running_loop()
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                await ws.send("ping")
                assert await ws.recv() == "ping"
                assert len(loop._asyncgens) == 0

    run(main())

def test_await_connect_and_close_by_client():
    closed = []

    async def handler(websocket):
        try:
            await websocket.recv()
        except ConnectionClosedError as exc:  # 4000 isn't a "normal" code
            closed.append(exc.rcvd.code)

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            ws = await connect(f"ws://127.0.0.1:{port_of(server)}/")
            assert ws.local_address[0] == "127.0.0.1"
            assert ws.remote_address[1] == port_of(server)
            await ws.close(4000, "client done")
            await ws.wait_closed()
            await ws.close()  # idempotent
            assert ws.close_code == 4000
        assert closed == [4000]

    run(main())


def test_fragmented_messages_and_streaming():
    async def handler(websocket):
        await websocket.send(["caf", "é"])
        await websocket.send([b"a", b"b", b"c"])

        async def chunks():
            for chunk in ["x", "y"]:
                yield chunk

        await websocket.send(chunks())
        await websocket.send(["str", "eam"])
        await websocket.recv()

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                assert await ws.recv() == "café"
                assert await ws.recv() == b"abc"
                assert await ws.recv() == "xy"
                fragments = [fragment async for fragment in ws.recv_streaming()]
                assert fragments == ["str", "eam", ""]

    run(main())


def test_send_type_errors():
    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                with pytest.raises(TypeError):
                    await ws.send({"a": 1})
                with pytest.raises(TypeError):
                    await ws.send(42)
                await ws.send([])  # nothing to send
                # A mixed iterable fails the connection: half a message was sent.
                with pytest.raises(TypeError):
                    await ws.send(["a", b"b"])
                with pytest.raises(ConnectionClosedError):
                    await ws.send("next")
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()

    run(main())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_send_after_a_fragmented_send_cut_short_by_closing(loop_factory):
    async def handler(websocket):
        # The first fragment has arrived; close before the rest does.
        await websocket.recv_streaming().__anext__()
        await websocket.close(1001, "bye")

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:

                async def chunks():
                    yield "a"
                    await ws.wait_closed()
                    yield "b"

                with pytest.raises(ConnectionClosedOK):
                    await ws.send(chunks())
                # The protocol still expects the rest of that message; the
                # caller hears that the connection is closed.
                with pytest.raises(ConnectionClosedOK) as raised:
                    await ws.send("next")
                assert raised.value.rcvd.code == 1001

    run(main(), loop_factory=loop_factory)


def test_concurrent_recv_raises():
    async def handler(websocket):
        await websocket.recv()

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                first = asyncio.ensure_future(ws.recv())
                await asyncio.sleep(0)  # let it start waiting
                with pytest.raises(ConcurrencyError):
                    await ws.recv()
                first.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await first
                await ws.send("done")

    run(main())


def test_cancelled_recv_loses_nothing():
    release = None

    async def handler(websocket):
        await release.wait()
        await websocket.send(["fir", "st"])
        await websocket.send("second")
        await websocket.recv()

    async def main():
        nonlocal release
        release = asyncio.Event()
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.01)
                release.set()
                assert await ws.recv() == "first"
                assert await ws.recv() == "second"
                await ws.send("bye")

    run(main())


def test_ping_pong_latency():
    async def handler(websocket):
        await websocket.recv()

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                pong = await ws.ping()
                latency = await pong
                assert latency >= 0 and ws.latency == latency
                pong = await ws.ping("custom")
                with pytest.raises(ConcurrencyError):
                    await ws.ping("custom")
                await pong
                await ws.pong(b"unsolicited")
                await ws.send("bye")

    run(main())


def test_pending_ping_fails_on_close():
    async def handler(websocket):
        pass

    async def main():
        async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", ping_interval=None) as ws:
                try:
                    pong = await ws.ping()
                except ConnectionClosedOK:
                    return  # closed before the ping went out
                await ws.wait_closed()
                with pytest.raises(ConnectionClosedOK):
                    await pong

    run(main())


def test_server_connection_attributes():
    seen = {}

    async def handler(websocket):
        assert isinstance(websocket, ServerConnection)
        seen["path"] = websocket.request.path
        seen["subprotocol"] = websocket.subprotocol
        seen["id"] = websocket.id
        seen["connections"] = len(websocket.server.connections)
        await websocket.send("ok")

    async def main():
        async with serve(handler, "127.0.0.1", 0, subprotocols=["chat"]) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/a/b?c"
            async with connect(uri, subprotocols=["chat"]) as ws:
                assert ws.subprotocol == "chat"
                assert await ws.recv() == "ok"
        assert seen["path"] == "/a/b?c" and seen["subprotocol"] == "chat"
        assert seen["connections"] == 1 and seen["id"] is not None

    run(main())


def test_server_close_closes_connections_1001():
    started = None

    async def handler(websocket):
        started.set()
        await websocket.wait_closed()

    async def main():
        nonlocal started
        started = asyncio.Event()
        server = await serve(handler, "127.0.0.1", 0)
        ws = await connect(f"ws://127.0.0.1:{port_of(server)}/")
        await started.wait()
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.recv()
        assert info.value.rcvd.code == 1001

    run(main())


def test_default_loop_reads_at_most_read_size():
    # The default loop's socket transports would allocate 256 KiB per read
    # (past malloc's mmap threshold); both sides lower it to READ_SIZE, and a
    # message many reads long still arrives whole.
    from websockets_fast.asyncio.connection import READ_SIZE

    async def main():
        transports = []

        async def handler(websocket):
            transports.append(websocket.transport)
            await websocket.send(await websocket.recv())

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", max_size=None) as ws:
                message = bytes(range(256)) * (4 * READ_SIZE // 256 + 1)
                await ws.send(message)
                assert await ws.recv() == message
                transports.append(ws.transport)
        assert [transport.max_size for transport in transports] == [READ_SIZE, READ_SIZE]

    run(main())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_burst_of_small_and_large_messages_keeps_its_order(loop_factory):
    # The server's large payloads are written apart from their header, right
    # away; small ones sent in the same burst are gathered. The order on the
    # wire must still be the order of send().
    from websockets_fast.speedups import SPLIT_FRAME_SIZE

    messages = []
    for i in range(12):
        size = SPLIT_FRAME_SIZE + i if i % 3 == 1 else 10 + i
        messages.append(bytes([i]) * size if i % 2 else str(i) * size)

    async def main():
        async def handler(websocket):
            await websocket.recv()
            for message in messages:
                await websocket.send(message)

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None, max_size=None) as ws:
                await ws.send("go")
                assert [await ws.recv() for _ in messages] == messages

    run(main(), loop_factory=loop_factory)


# Whole messages reach the queue as their payload, without a Frame
# (FrameParser.feed_messages): ASCII text as str, other text as a frame,
# binary as bytes. Each must come out of recv() and recv_streaming() as
# before, whatever decode says.

WHOLE_MESSAGES = ["hello", "", "café 🎉", b"\x00\xff", b"", "a" * 100_000, "é" * 50_000, b"\x01" * 100_000]
DECODED = {
    None: lambda message: message,
    True: lambda message: message if isinstance(message, str) else message.decode("latin-1"),
    False: lambda message: message.encode() if isinstance(message, str) else message,
}


def whole_messages_for(decode):
    # decode=True on binary needs UTF-8: only ASCII bytes then.
    if decode:
        return [m if isinstance(m, str) or m.isascii() else m.replace(b"\xff", b"\x7f") for m in WHOLE_MESSAGES]
    return WHOLE_MESSAGES


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize("decode", [None, True, False])
def test_recv_whole_messages_with_decode(loop_factory, compression, decode):
    messages = whole_messages_for(decode)

    async def handler(websocket):
        await websocket.recv()
        for message in messages:
            await websocket.send(message)
        # A ping among data frames: that read goes through receive_parsed.
        await websocket.ping()
        for message in messages:
            await websocket.send(message)
        await websocket.recv()

    async def main():
        async with serve(handler, "127.0.0.1", 0, compression=compression) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=compression, max_size=None) as ws:
                await ws.send("go")
                for message in messages:
                    received = await ws.recv(decode)
                    expected = DECODED[decode](message)
                    assert received == expected and type(received) is type(expected)
                for message in messages:
                    fragments = [fragment async for fragment in ws.recv_streaming(decode)]
                    expected = DECODED[decode](message)
                    assert fragments == [expected] and type(fragments[0]) is type(expected)
                await ws.send("done")

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_recv_whole_messages_both_directions_and_between_fragments(loop_factory):
    # The server receives masked frames, the client unmasked ones; fragmented
    # messages and whole ones alternate.
    async def handler(websocket):
        async for message in websocket:
            await websocket.send(message)
            await websocket.send([message[:1], message[1:]])

    async def main():
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None) as ws:
                for message in ["ascii", "naïve", b"\x00binary"]:
                    await ws.send(message)
                    assert await ws.recv() == message
                    assert await ws.recv() == message
                    await ws.send(message)
                    assert [f async for f in ws.recv_streaming()] == [message]
                    assert [f async for f in ws.recv_streaming()] == [message[:1], message[1:], message[:0]]

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_cancelled_recv_loses_no_whole_message(loop_factory):
    # recv() cancelled wherever it happens to be (waiting, or woken with a
    # message queued): each message is still received once, in order.
    messages = [f"text {i}" if i % 3 == 0 else "ü" * i if i % 3 == 1 else bytes([i]) * i for i in range(60)]

    async def handler(websocket):
        for message in messages:
            await websocket.recv()
            await websocket.send(message)

    async def main():
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None) as ws:
                received = []
                for i in range(len(messages)):
                    task = asyncio.ensure_future(ws.recv())
                    await ws.send("next")
                    if i % 2:
                        # Once the reply is queued: yield to the loop until
                        # it is (a condition, not a duration).
                        for _ in range(10_000):
                            if ws.recv_messages.complete or task.done():
                                break
                            await asyncio.sleep(0)
                    task.cancel()
                    try:
                        received.append(await task)
                    except asyncio.CancelledError:
                        received.append(await ws.recv())
                assert received == messages
                assert ws.recv_messages.complete == 0 and not ws.recv_messages.queue

    run(main(), loop_factory=loop_factory)
