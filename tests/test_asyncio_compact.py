"""Keepalive (asyncio timer, threading deadline) releases permessage-deflate's compressor between messages."""

import pytest

websockets = pytest.importorskip("websockets")

from conftest import run  # noqa: E402
from websockets_fast.asyncio.server import serve  # noqa: E402
from websockets_fast.extensions.permessage_deflate import PerMessageDeflate  # noqa: E402


def test_keepalive_compacts_the_compressor_and_traffic_goes_on():
    async def main():
        connections = []

        async def handler(connection):
            connections.append(connection)
            async for message in connection:
                await connection.send(message)

        # A keepalive interval too long to fire by itself: the test fires it.
        async with serve(handler, "127.0.0.1", 0, ping_interval=3600) as server:
            port = server.sockets[0].getsockname()[1]
            async with websockets.connect(f"ws://127.0.0.1:{port}", compression="deflate") as client:
                messages = ['{"id": %d, "text": "hello hello hello"}' % i for i in range(6)]
                await client.send(messages[0])
                assert await client.recv() == messages[0]
                [connection] = connections
                [extension] = connection.protocol.extensions
                assert isinstance(extension, PerMessageDeflate)
                assert extension._encoder is not None
                # What the keepalive timer does every ping_interval.
                connection._keepalive_ping()
                assert extension._encoder is None
                # The peer's decompressor keeps its context: later messages,
                # compressed from the kept history, still decode.
                for message in messages[1:]:
                    await client.send(message)
                    assert await client.recv() == message
                    connection._keepalive_ping()
                    assert extension._encoder is None

    run(main())


def test_sync_keepalive_compacts_the_compressor_and_traffic_goes_on():
    import threading
    import time

    from websockets.sync.server import serve as ws_serve

    from websockets_fast.sync.client import connect

    def echo(connection):
        for message in connection:
            connection.send(message)

    with ws_serve(echo, "127.0.0.1", 0, compression="deflate") as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            # A keepalive interval too long to fire by itself: the test fires it.
            with connect(f"ws://127.0.0.1:{port}", compression="deflate", ping_interval=3600) as client:
                [extension] = client.protocol.extensions
                assert isinstance(extension, PerMessageDeflate)
                messages = ['{"id": %d, "text": "hello hello hello"}' % i for i in range(6)]
                client.send(messages[0])
                assert client.recv(timeout=10) == messages[0]
                assert extension._encoder is not None
                for message in messages[1:]:
                    # What the keepalive deadline does every ping_interval.
                    client._keepalive_ping(time.monotonic())
                    assert extension._encoder is None
                    client.send(message)
                    assert client.recv(timeout=10) == message
        finally:
            server.shutdown()
            thread.join(10)
