"""websockets_fast.asyncio.router: dispatch by URL with werkzeug URL maps; and
the asyncio connection's close_exc."""

import asyncio
import os
import shutil
import sys
import tempfile

import pytest

routing = pytest.importorskip("werkzeug.routing")

import websockets  # noqa: E402
import websockets.asyncio.client  # noqa: E402
from conftest import run  # noqa: E402

from websockets_fast.asyncio.client import connect, unix_connect  # noqa: E402
from websockets_fast.asyncio.router import Router, route, unix_route  # noqa: E402
from websockets_fast.asyncio.server import serve  # noqa: E402
from websockets_fast.exceptions import ConnectionClosedOK, InvalidStatus  # noqa: E402

BOUND = 10.0


async def hello(websocket):
    await websocket.send("hello")


async def room(websocket, number):
    await websocket.send(f"room {number} {type(number).__name__}")


def make_map():
    return routing.Map(
        [
            routing.Rule("/", endpoint=hello),
            routing.Rule("/room/<int:number>", endpoint=room),
            routing.Rule("/old", redirect_to="/"),
        ]
    )


def port_of(server):
    return server.sockets[0].getsockname()[1]


async def raw_response(port, path, host="127.0.0.1"):
    """Send a WebSocket opening request by hand; return the response head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        return (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)).decode()
    finally:
        writer.close()


def test_route():
    seen = []

    async def process_request(connection, request):
        seen.append(request.path)

    async def main():
        async with route(make_map(), "127.0.0.1", 0, process_request=process_request) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with connect(uri + "/") as websocket:
                assert await websocket.recv() == "hello"
            async with connect(uri + "/room/42?x=1") as websocket:
                assert await websocket.recv() == "room 42 int"
            async with connect(uri + "/old") as websocket:  # redirected to /
                assert await websocket.recv() == "hello"
            with pytest.raises(InvalidStatus) as info:
                await connect(uri + "/nowhere")
            assert info.value.response.status_code == 404

    run(main())
    assert seen == ["/", "/room/42?x=1", "/old", "/", "/nowhere"]


def test_route_with_websockets_client():
    async def main():
        async with route(make_map(), "127.0.0.1", 0, compression=None) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with websockets.asyncio.client.connect(uri + "/room/7") as websocket:
                assert await websocket.recv() == "room 7 int"
            with pytest.raises(websockets.InvalidStatus) as info:
                await websockets.asyncio.client.connect(uri + "/nowhere")
            assert info.value.response.status_code == 404

    run(main())


def test_process_request_answers_before_routing():
    def process_request(connection, request):
        if request.path == "/":
            return connection.respond(403, "Forbidden")

    async def main():
        async with route(make_map(), "127.0.0.1", 0, process_request=process_request) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            with pytest.raises(InvalidStatus) as info:
                await connect(uri + "/")
            assert info.value.response.status_code == 403
            async with connect(uri + "/room/1") as websocket:
                assert await websocket.recv() == "room 1 int"

    run(main())


def test_redirect_uses_server_name_and_wss_behind_proxy():
    async def main():
        # ssl=True: TLS ends at a reverse proxy, so the server itself is plain.
        async with route(make_map(), "127.0.0.1", 0, ssl=True, server_name="example.com") as server:
            head = await raw_response(port_of(server), "/old", host="internal:1234")
        assert head.startswith("HTTP/1.1 302")
        assert "Location: wss://example.com/\r\n" in head
        async with route(make_map(), "127.0.0.1", 0) as server:
            head = await raw_response(port_of(server), "/old", host="localhost:8000")
        assert "Location: ws://localhost:8000/\r\n" in head

    run(main())


def test_create_router():
    class GoneRouter(Router):
        def not_found(self, connection):
            return connection.respond(410, "Gone")

    async def main():
        async with route(make_map(), "127.0.0.1", 0, create_router=GoneRouter) as server:
            with pytest.raises(InvalidStatus) as info:
                await connect(f"ws://127.0.0.1:{port_of(server)}/nowhere")
            assert info.value.response.status_code == 410

    run(main())


@pytest.mark.skipif(not hasattr(asyncio, "open_unix_connection"), reason="no Unix sockets")
def test_unix_route():
    # A short directory: Unix socket paths are limited to about 100 bytes.
    directory = tempfile.mkdtemp(prefix="wsf")
    path = os.path.join(directory, "s")
    try:

        async def main():
            async with unix_route(make_map(), path):
                async with unix_connect(path, "ws://localhost/room/3") as websocket:
                    assert await websocket.recv() == "room 3 int"

        run(main())
    finally:
        shutil.rmtree(directory)


def test_route_without_werkzeug(monkeypatch):
    # None in sys.modules makes the import fail, as if werkzeug were missing.
    monkeypatch.setitem(sys.modules, "werkzeug", None)
    monkeypatch.setitem(sys.modules, "werkzeug.routing", None)
    with pytest.raises(ImportError, match="werkzeug"):
        route(None, "127.0.0.1", 0)


def test_close_exc():
    server_side = []

    async def handler(websocket):
        server_side.append(websocket)
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                pass
            await websocket.wait_closed()
            await server_side[0].wait_closed()
        for connection in (websocket, server_side[0]):
            exc = connection.close_exc
            assert isinstance(exc, ConnectionClosedOK)
            assert exc.rcvd.code == 1000 or exc.sent.code == 1000

    run(main())
