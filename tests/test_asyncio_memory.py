"""Memory per idle server connection, measured with tracemalloc.

The clients run in another process (the ``websockets`` library), so that only
the server's allocations are counted. The goal is 6 KiB per connection
without compression, and with deflate negotiated before any compressed
message (zlib state is allocated lazily).
"""

import asyncio
import gc
import subprocess
import sys
import threading
import tracemalloc
import weakref

import pytest
from conftest import requires_peer, run

from websockets_fast.asyncio.server import serve

CONNECTIONS = 200

# The goal, measured on CPython 3.11. Older interpreters spend about 2 KiB
# more on the handler's coroutine frames and the transport.
GOAL = 6 * 1024 if sys.version_info >= (3, 11) else 8 * 1024

CLIENT = """
import asyncio, sys
from websockets.asyncio.client import connect

async def main(port, count, compression, send):
    connections = []
    for _ in range(count):
        ws = await connect(f"ws://127.0.0.1:{port}/", compression=compression, ping_interval=None)
        if send:
            await ws.send("hello")
            assert await ws.recv() == "hello"
        connections.append(ws)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

port, count, compression, send = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
asyncio.run(main(port, count, None if compression == "none" else "deflate", send))
"""


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


@requires_peer
@pytest.mark.parametrize(
    "compression, send",
    [("none", True), ("deflate", False)],
    ids=["no-compression-after-one-message", "deflate-negotiated-idle"],
)
def test_idle_server_connection_memory(compression, send):
    async def main():
        async with serve(
            echo, "127.0.0.1", 0, compression=None if compression == "none" else "deflate", ping_interval=None
        ) as server:
            port = server.sockets[0].getsockname()[1]
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                client = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    CLIENT,
                    str(port),
                    str(CONNECTIONS),
                    compression,
                    "1" if send else "0",
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
                try:
                    assert await client.stdout.readline() == b"ready\n"
                    gc.collect()
                    growth = tracemalloc.get_traced_memory()[0] - before
                    assert len(server.connections) == CONNECTIONS
                finally:
                    client.stdin.close()
                    await client.wait()
            finally:
                tracemalloc.stop()
        per_connection = growth / CONNECTIONS
        print(f"{per_connection / 1024:.2f} KiB per connection")
        assert per_connection <= GOAL

    run(main(), timeout=60)


def test_closed_connections_are_freed_without_the_garbage_collector():
    # A server with many short connections must not keep closed ones until
    # the cycle collector's next full pass: reference counting frees them.
    from websockets_fast.asyncio.client import connect

    watched = []

    async def handler(websocket):
        watched.append(weakref.ref(websocket))
        await websocket.send("hello")
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as websocket:
                watched.append(weakref.ref(websocket))
                assert await websocket.recv() == "hello"
            await websocket.wait_closed()
            del websocket

    gc.collect()
    gc.disable()
    try:
        run(main())
        assert len(watched) == 2
        assert [ref() for ref in watched] == [None, None]
    finally:
        gc.enable()


def test_closed_sync_connections_are_freed_without_the_garbage_collector():
    from websockets_fast.sync.client import connect as sync_connect
    from websockets_fast.sync.server import serve as sync_serve

    watched = []

    def handler(websocket):
        watched.append(weakref.ref(websocket))
        websocket.send("hello")

    gc.collect()
    gc.disable()
    try:
        with sync_serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            thread = threading.Thread(target=server.serve_forever)
            thread.start()
            try:
                with sync_connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}/", ping_interval=None) as websocket:
                    watched.append(weakref.ref(websocket))
                    assert websocket.recv(timeout=10) == "hello"
                del websocket
            finally:
                server.shutdown()
                thread.join(10)
        assert len(watched) == 2
        assert [ref() for ref in watched] == [None, None]
    finally:
        gc.enable()
