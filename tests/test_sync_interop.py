"""websockets_fast.sync against the real websockets library, both directions.

Peers: websockets.sync (threads) and websockets.asyncio (an event loop in a
thread), with and without permessage-deflate.
"""

import asyncio
import contextlib
import threading

import pytest
import websockets.asyncio.client
import websockets.asyncio.server
import websockets.exceptions
import websockets.sync.client
import websockets.sync.server

from websockets_fast.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets_fast.sync.client import connect
from websockets_fast.sync.server import serve

BOUND = 10.0
MESSAGES = ["hello", "café " * 1000, b"\x00\x01\x02", b"x" * 200_000, ""]


def echo(websocket):
    for message in websocket:
        websocket.send(message)


async def async_echo(websocket):
    async for message in websocket:
        await websocket.send(message)


@contextlib.contextmanager
def sync_server(serve_function, handler, **kwargs):
    with serve_function(handler, "127.0.0.1", 0, **kwargs) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        finally:
            server.shutdown()
            thread.join(BOUND)
            assert not thread.is_alive()


@contextlib.contextmanager
def asyncio_server(handler, **kwargs):
    """Run a websockets.asyncio server on an event loop in a thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state = {}

    async def main():
        async with websockets.asyncio.server.serve(handler, "127.0.0.1", 0, **kwargs) as server:
            state["port"] = server.sockets[0].getsockname()[1]
            state["stop"] = loop.create_future()
            started.set()
            await asyncio.wait_for(state["stop"], BOUND * 3)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),))
    thread.start()
    try:
        assert started.wait(BOUND)
        yield f"ws://127.0.0.1:{state['port']}"
    finally:
        loop.call_soon_threadsafe(lambda: state["stop"].done() or state["stop"].set_result(None))
        thread.join(BOUND * 4)
        loop.close()
        assert not thread.is_alive()


def run_in_loop(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, BOUND * 2))


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_our_client_with_websockets_sync_server(compression):
    with sync_server(websockets.sync.server.serve, echo, compression=compression) as uri:
        with connect(uri, compression=compression) as websocket:
            for message in MESSAGES:
                websocket.send(message)
                assert websocket.recv(timeout=BOUND) == message
            websocket.send(["frag", "ments"])
            assert websocket.recv(timeout=BOUND) == "fragments"
            assert websocket.ping().wait(BOUND)
            if compression:
                assert "permessage-deflate" in websocket.response.headers["Sec-WebSocket-Extensions"]


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_websockets_sync_client_with_our_server(compression):
    with sync_server(serve, echo, compression=compression) as uri:
        with websockets.sync.client.connect(uri, compression=compression) as websocket:
            for message in MESSAGES:
                websocket.send(message)
                assert websocket.recv(timeout=BOUND) == message
            websocket.send([b"frag", b"ments"])
            assert websocket.recv(timeout=BOUND) == b"fragments"
            assert websocket.ping().wait(BOUND)


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_our_client_with_websockets_asyncio_server(compression):
    with asyncio_server(async_echo, compression=compression) as uri:
        with connect(uri, compression=compression) as websocket:
            for message in MESSAGES:
                websocket.send(message)
                assert websocket.recv(timeout=BOUND) == message
            assert websocket.ping().wait(BOUND)


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_websockets_asyncio_client_with_our_server(compression):
    async def client(uri):
        async with websockets.asyncio.client.connect(uri, compression=compression) as websocket:
            for message in MESSAGES:
                await websocket.send(message)
                assert await websocket.recv() == message
            pong = await websocket.ping()
            await asyncio.wait_for(pong, BOUND)

    with sync_server(serve, echo, compression=compression) as uri:
        run_in_loop(client(uri))


def test_close_codes_across_implementations():
    def closes_with_4001(websocket):
        websocket.close(4001, "custom")

    # Our server closes; websockets' client sees the code.
    with sync_server(serve, closes_with_4001) as uri:
        with websockets.sync.client.connect(uri) as websocket:
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.rcvd.code == 4001
            assert info.value.rcvd.reason == "custom"

    # websockets' server closes; our client sees the code.
    with sync_server(websockets.sync.server.serve, closes_with_4001) as uri:
        with connect(uri) as websocket:
            with pytest.raises(ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.rcvd.code == 4001
            assert info.value.rcvd.reason == "custom"


def test_normal_closure_both_ways():
    closed = []

    def handler(websocket):
        try:
            websocket.recv()
        except websockets.exceptions.ConnectionClosedOK as exc:
            closed.append(exc.rcvd.code)

    with sync_server(websockets.sync.server.serve, handler) as uri:
        websocket = connect(uri)
        websocket.close()
        assert websocket.close_code == 1000
    assert closed == [1000]

    with sync_server(serve, lambda websocket: None) as uri:
        with websockets.sync.client.connect(uri) as websocket:
            with pytest.raises(websockets.exceptions.ConnectionClosedOK):
                websocket.recv(timeout=BOUND)


def test_streaming_from_websockets():
    def handler(websocket):
        websocket.send(["a", "b", "c"])

    with sync_server(websockets.sync.server.serve, handler) as uri:
        with connect(uri) as websocket:
            assert list(websocket.recv_streaming()) == ["a", "b", "c", ""]


def test_backpressure_with_a_websockets_sender():
    """websockets' client blocks in send() while our server's queue is full."""
    size, count = 64 * 1024, 400
    consume = threading.Event()
    connections = []
    received = []

    def handler(websocket):
        connections.append(websocket)
        assert consume.wait(BOUND)
        for _ in range(count):
            received.append(len(websocket.recv(timeout=BOUND)))

    with sync_server(serve, handler, max_queue=4, compression=None) as uri:
        with websockets.sync.client.connect(uri, compression=None) as websocket:
            sent = []

            def sender():
                for _ in range(count):
                    websocket.send(b"x" * size)
                    sent.append(1)

            thread = threading.Thread(target=sender)
            thread.start()
            waiter = threading.Event()
            for _ in range(2000):
                if connections and connections[0]._paused:
                    break
                waiter.wait(0.005)
            assert connections and connections[0]._paused
            thread.join(0.5)
            assert thread.is_alive() and len(sent) < count
            consume.set()
            thread.join(BOUND * 3)
            assert not thread.is_alive()
    assert received == [size] * count


def test_our_iteration_ends_with_websockets_server_close():
    def handler(websocket):
        websocket.send("one")
        websocket.send("two")

    with sync_server(websockets.sync.server.serve, handler) as uri:
        with connect(uri) as websocket:
            assert list(websocket) == ["one", "two"]
            with pytest.raises(ConnectionClosedOK):
                websocket.recv(timeout=BOUND)


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_websockets_client_hits_our_max_size(compression):
    # With deflate, 100 kB of zeros arrive as a tiny frame: the limit applies
    # to the decompressed size.
    with sync_server(serve, echo, max_size=1000, compression=compression) as uri:
        with websockets.sync.client.connect(uri, compression=compression) as websocket:
            websocket.send(b"\x00" * 1000)
            assert websocket.recv(timeout=BOUND) == b"\x00" * 1000
            websocket.send(b"\x00" * 100_000)
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.rcvd.code == 1009


def test_invalid_utf8_from_websockets_gets_1007():
    with sync_server(serve, echo) as uri:
        with websockets.sync.client.connect(uri) as websocket:
            websocket.send(b"\xff\xfe", text=True)
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                websocket.recv(timeout=BOUND)
            assert info.value.rcvd.code == 1007
