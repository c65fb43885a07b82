"""
A program typed against websockets' API, with only its imports swapped to
websockets_fast: tests/run.sh checks it with ``mypy --strict``, and checks the
same file with ``websockets_fast`` replaced by ``websockets`` too (websockets
ships its types), which shows that the swap is a faithful drop-in for a type
checker as well. test_typed_example.py runs it, on real sockets.

Everything below this import block must stay valid for both libraries.
"""

from __future__ import annotations

import asyncio
import http
import threading

from websockets_fast.asyncio.client import ClientConnection, connect
from websockets_fast.asyncio.server import Server, ServerConnection, basic_auth, broadcast, serve
from websockets_fast.datastructures import Headers
from websockets_fast.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus, WebSocketException
from websockets_fast.frames import CloseCode
from websockets_fast.http11 import Request, Response
from websockets_fast.sync.client import connect as sync_connect
from websockets_fast.sync.server import ServerConnection as SyncServerConnection
from websockets_fast.sync.server import serve as sync_serve
from websockets_fast.typing import Data

CLIENTS: set[ServerConnection] = set()


def health_check(connection: ServerConnection, request: Request) -> Response | None:
    """A process_request hook: answer plain HTTP on /healthz, upgrade the rest."""
    if request.path == "/healthz":
        return connection.respond(http.HTTPStatus.OK, "OK\n")
    if request.headers.get("X-Reject") is not None:
        response = connection.respond(http.HTTPStatus.FORBIDDEN, "Go away\n")
        response.headers["X-Reason"] = "asked for it"
        return response
    return None


async def chat(websocket: ServerConnection) -> None:
    """Echo each message, and broadcast it to every connected client."""
    CLIENTS.add(websocket)
    try:
        async for message in websocket:
            await websocket.send(message)
            broadcast(CLIENTS, f"broadcast: {message!r}")
    except ConnectionClosed as exc:
        code: int | None = exc.rcvd.code if exc.rcvd is not None else None
        websocket.logger.info("closed with %s", code)
    finally:
        CLIENTS.discard(websocket)


async def asyncio_client(port: int) -> list[Data]:
    received: list[Data] = []
    headers = Headers({"X-Client": "typed example"})
    async with connect(f"ws://127.0.0.1:{port}/chat", additional_headers=headers) as websocket:
        client: ClientConnection = websocket
        await client.send("hello")
        received.append(await client.recv())  # the echo
        received.append(await client.recv())  # the broadcast
        await client.send(b"\x00\x01")
        received.append(await client.recv(decode=False))
        received.append(await client.recv())
        latency = await (await client.ping())
        assert latency >= 0.0
        await client.close(CloseCode.NORMAL_CLOSURE, "done")
    try:
        await client.recv()
    except ConnectionClosedOK:
        pass
    try:
        async with connect(f"ws://127.0.0.1:{port}/", additional_headers={"X-Reject": "1"}):
            raise AssertionError("the server should have rejected the handshake")
    except InvalidStatus as exc:
        assert exc.response.status_code == 403
    return received


async def asyncio_main() -> list[Data]:
    server: Server
    async with serve(chat, "127.0.0.1", 0, process_request=health_check) as server:
        port = server.sockets[0].getsockname()[1]
        received = await asyncio_client(port)
        server.close()
        await server.wait_closed()
    # basic_auth builds a process_request too.
    auth = basic_auth(realm="example", credentials=("user", "secret"))
    async with serve(chat, "127.0.0.1", 0, process_request=auth) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://user:secret@127.0.0.1:{port}/") as websocket:
            await websocket.send("authenticated")
            received.append(await websocket.recv())
    return received


def sync_echo(websocket: SyncServerConnection) -> None:
    for message in websocket:
        websocket.send(message)


def sync_main() -> list[Data]:
    with sync_serve(sync_echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            with sync_connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as websocket:
                websocket.send("hello, threads")
                message: Data = websocket.recv(timeout=10)
                websocket.close()
        except WebSocketException:
            raise
        finally:
            server.shutdown()
            thread.join()
    return [message]


def main() -> list[Data]:
    return asyncio.run(asyncio_main()) + sync_main()


if __name__ == "__main__":
    print(main())
