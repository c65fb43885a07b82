"""Drop-in scenarios: programs written the way websockets' documentation writes them.

Each scenario is written once, against a namespace of library modules, and
runs twice: with websockets 17 and with websockets_fast. The scenarios pass
on websockets, so a failure on websockets_fast alone is a drop-in gap.

Real sockets on 127.0.0.1, every asyncio scenario bounded by ``run()``'s
timeout, no sleeps used for synchronisation.
"""

import asyncio
import functools
import http
import logging
import importlib
import socket
import tempfile
import os
import threading
import types

import pytest

from conftest import run

pytest.importorskip("websockets")

LIBRARIES = ["websockets", "websockets_fast"]

# Scenarios that fail on websockets_fast today: name -> the gap. Each is an
# xfail(strict) on websockets_fast only, so fixing it asks for the entry to go.
KNOWN_GAPS = {}


def load(name):
    """The library's modules, under the names a program would import."""
    return types.SimpleNamespace(
        name=name,
        top=importlib.import_module(name),
        client=importlib.import_module(name + ".asyncio.client"),
        server=importlib.import_module(name + ".asyncio.server"),
        sync_client=importlib.import_module(name + ".sync.client"),
        sync_server=importlib.import_module(name + ".sync.server"),
        exceptions=importlib.import_module(name + ".exceptions"),
        protocol=importlib.import_module(name + ".protocol"),
        frames=importlib.import_module(name + ".frames"),
        datastructures=importlib.import_module(name + ".datastructures"),
    )


# Bound on each scenario, sync ones included: a hang fails instead of stalling.
SCENARIO_TIMEOUT = 60


def bounded(func):
    """Run the test body in a daemon thread and fail if it outlives SCENARIO_TIMEOUT."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        outcome = {}

        def target():
            try:
                func(*args, **kwargs)
            except BaseException as exc:  # pytest's outcomes are BaseExceptions
                outcome["exc"] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(SCENARIO_TIMEOUT)
        if thread.is_alive():
            pytest.fail(f"scenario still running after {SCENARIO_TIMEOUT} s")
        if "exc" in outcome:
            raise outcome["exc"]

    return wrapper


def scenarios(func):
    """Run the scenario against websockets and websockets_fast, bounded in time."""
    func = bounded(func)
    params = []
    for name in LIBRARIES:
        marks = ()
        if name == "websockets_fast" and func.__name__ in KNOWN_GAPS:
            marks = pytest.mark.xfail(reason="gap: " + KNOWN_GAPS[func.__name__], strict=True)
        params.append(pytest.param(name, id=name, marks=marks))
    return pytest.mark.parametrize("lib_name", params)(func)


def port_of(server):
    return server.sockets[0].getsockname()[1]


async def raw_http_get(port, path, headers=""):
    """Send a plain HTTP GET and return (status line, headers text, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode())
        data = await reader.read(65536)
        # The server may split its response; read until it closes or the
        # announced body is complete, within a bounded number of reads.
        for _ in range(100):
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    key, _, value = line.partition(b":")
                    if key.strip().lower() == b"content-length":
                        length = int(value)
                if len(body) >= length:
                    break
            more = await reader.read(65536)
            if not more:
                break
            data += more
        head, _, body = data.partition(b"\r\n\r\n")
        status, _, rest = head.decode().partition("\r\n")
        return status, rest, body
    finally:
        writer.close()


# Quick start


@scenarios
def test_quickstart_echo(lib_name):
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                await websocket.send("Hello world!")
                assert await websocket.recv() == "Hello world!"
                await websocket.send(b"\x00\xff")
                assert await websocket.recv() == b"\x00\xff"

    run(main())


@scenarios
def test_top_level_connect_and_serve(lib_name):
    """`from websockets import connect, serve` are the asyncio ones."""
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.top.serve(echo, "127.0.0.1", 0) as server:
            assert isinstance(server, lib.top.Server)
            async with lib.top.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert isinstance(websocket, lib.top.ClientConnection)
                await websocket.send("hi")
                assert await websocket.recv() == "hi"

    run(main())


@scenarios
def test_await_connect_and_serve_then_close(lib_name):
    """`server = await serve(...)`, `websocket = await connect(...)`."""
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        server = await lib.server.serve(echo, "127.0.0.1", 0)
        websocket = await lib.client.connect(f"ws://127.0.0.1:{port_of(server)}")
        await websocket.send("ping")
        assert await websocket.recv() == "ping"
        await websocket.close()
        assert websocket.close_code == 1000
        server.close()
        await server.wait_closed()

    run(main())


@scenarios
def test_serve_forever_stopped_by_close(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send("welcome")
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            forever = asyncio.ensure_future(server.serve_forever())
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert await websocket.recv() == "welcome"
                server.close()
                # Closing the server closes its connections with 1001.
                with pytest.raises(lib.exceptions.ConnectionClosedOK):
                    await websocket.recv()
                assert websocket.close_code == 1001
            await forever
            assert not server.is_serving()

    run(main())


@scenarios
def test_server_close_keep_connections(lib_name):
    """close(close_connections=False) stops accepting, lets handlers finish."""
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        server = await lib.server.serve(echo, "127.0.0.1", 0)
        async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
            server.close(close_connections=False)
            await websocket.send("still here")
            assert await websocket.recv() == "still here"
        await server.wait_closed()

    run(main())


# HTTP hooks


@scenarios
def test_health_check_process_request(lib_name):
    lib = load(lib_name)

    def health_check(connection, request):
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, "127.0.0.1", 0, process_request=health_check) as server:
            status, headers, body = await raw_http_get(port_of(server), "/healthz")
            assert status == "HTTP/1.1 200 OK"
            assert body == b"OK\n"
            assert "content-type: text/plain; charset=utf-8" in headers.lower()
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket:
                await websocket.send("still a websocket server")
                assert await websocket.recv() == "still a websocket server"

    run(main())


@scenarios
def test_async_process_request_rejects(lib_name):
    """An async process_request; the client sees InvalidStatus with the response."""
    lib = load(lib_name)

    async def forbid(connection, request):
        if request.headers.get("Authorization") != "Bearer sesame":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "go away\n")

    async def handler(websocket):
        await websocket.send("in")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, process_request=forbid) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            with pytest.raises(lib.top.InvalidStatus) as info:
                async with lib.client.connect(uri):
                    pass
            assert info.value.response.status_code == 403
            assert info.value.response.body == b"go away\n"
            assert "HTTP 403" in str(info.value)
            async with lib.client.connect(uri, additional_headers={"Authorization": "Bearer sesame"}) as websocket:
                assert await websocket.recv() == "in"

    run(main())


@scenarios
def test_process_response_adds_header(lib_name):
    lib = load(lib_name)

    def add_header(connection, request, response):
        response.headers["X-Served-By"] = "scenario"

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, process_response=add_header) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert websocket.response.status_code == 101
                assert websocket.response.headers["X-Served-By"] == "scenario"

    run(main())


@scenarios
def test_basic_auth(lib_name):
    lib = load(lib_name)

    async def whoami(websocket):
        await websocket.send(websocket.username)

    async def main():
        auth = lib.server.basic_auth(realm="example", credentials=("alice", "secret"))
        async with lib.server.serve(whoami, "127.0.0.1", 0, process_request=auth) as server:
            port = port_of(server)
            async with lib.client.connect(f"ws://alice:secret@127.0.0.1:{port}") as websocket:
                assert await websocket.recv() == "alice"
            with pytest.raises(lib.top.InvalidStatus) as info:
                async with lib.client.connect(f"ws://alice:wrong@127.0.0.1:{port}"):
                    pass
            assert info.value.response.status_code == 401
            assert info.value.response.headers["WWW-Authenticate"] == 'Basic realm="example", charset="UTF-8"'
            status, _, _ = await raw_http_get(port, "/")
            assert status.startswith("HTTP/1.1 401")

    run(main())


@scenarios
def test_basic_auth_check_credentials(lib_name):
    lib = load(lib_name)
    users = {"bob": "builder"}

    async def check(username, password):
        return users.get(username) == password

    async def whoami(websocket):
        await websocket.send(websocket.username)

    async def main():
        auth = lib.server.basic_auth(check_credentials=check)
        async with lib.server.serve(whoami, "127.0.0.1", 0, process_request=auth) as server:
            async with lib.client.connect(f"ws://bob:builder@127.0.0.1:{port_of(server)}") as websocket:
                assert await websocket.recv() == "bob"

    run(main())


# Messages


@scenarios
def test_broadcast_to_server_connections(lib_name):
    lib = load(lib_name)
    clients = 3

    async def main():
        joined = asyncio.Event()
        count = 0

        async def handler(websocket):
            nonlocal count
            count += 1
            if count == clients:
                joined.set()
            await websocket.wait_closed()

        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            websockets = [await lib.client.connect(uri) for _ in range(clients)]
            await joined.wait()
            lib.server.broadcast(server.connections, "news")
            lib.top.broadcast(server.connections, b"binary news")
            for websocket in websockets:
                assert await websocket.recv() == "news"
                assert await websocket.recv() == b"binary news"
                await websocket.close()

    run(main())


@scenarios
def test_recv_streaming_and_fragmented_send(lib_name):
    lib = load(lib_name)

    async def collect(websocket):
        # Fragment boundaries are the sender's business (websockets ends an
        # iterable with an empty final frame); the joined content is not.
        for _ in range(3):
            fragments = [fragment async for fragment in websocket.recv_streaming()]
            await websocket.send(fragments[0][:0].join(fragments))

    async def main():
        async def agen():
            yield b"x"
            yield b"yz"

        async with lib.server.serve(collect, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}", compression=None) as websocket:
                await websocket.send(["Hel", "lo", "!"])
                assert await websocket.recv() == "Hello!"
                await websocket.send(agen())
                assert await websocket.recv() == b"xyz"
                fragments = []
                await websocket.send("streamed back")
                async for fragment in websocket.recv_streaming():
                    fragments.append(fragment)
                assert "".join(fragments) == "streamed back"

    run(main())


@scenarios
def test_recv_decode(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send("text")
        await websocket.send(b"bytes")
        await websocket.send("raw", text=False)
        await websocket.send(b"cooked", text=True)
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert await websocket.recv(decode=False) == b"text"
                assert await websocket.recv(decode=True) == "bytes"
                assert await websocket.recv() == b"raw"
                assert await websocket.recv() == "cooked"

    run(main())


@scenarios
def test_ping_latency(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                pong_waiter = await websocket.ping()
                latency = await pong_waiter
                assert isinstance(latency, float) and latency >= 0
                assert websocket.latency == latency
                pong_waiter = await websocket.ping("custom")
                await pong_waiter
                await websocket.pong(b"unsolicited")

    run(main())


@scenarios
def test_concurrent_recv_raises_concurrency_error(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.recv()
        await websocket.send("done")
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                # Whichever recv() starts second fails; the other gets the message.
                first = asyncio.ensure_future(websocket.recv())
                second = asyncio.ensure_future(websocket.recv())
                await websocket.send("go")
                results = await asyncio.gather(first, second, return_exceptions=True)
                assert "done" in results
                (error,) = [r for r in results if r != "done"]
                assert isinstance(error, lib.top.ConcurrencyError)

    run(main())


# Closing


@scenarios
def test_connection_closed_ok_on_normal_close(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send("bye")
        await websocket.close(1001, "going away")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert await websocket.recv() == "bye"
                with pytest.raises(lib.top.ConnectionClosedOK) as info:
                    await websocket.recv()
                assert isinstance(info.value, lib.exceptions.ConnectionClosed)
                assert info.value.rcvd.code == 1001
                assert info.value.rcvd.reason == "going away"
                assert info.value.rcvd_then_sent is True
                assert websocket.close_code == 1001
                assert websocket.close_reason == "going away"
                assert websocket.state is lib.protocol.State.CLOSED
                assert websocket.state == lib.top.State.CLOSED

    run(main())


@scenarios
def test_async_for_ends_quietly_on_normal_close(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        for i in range(3):
            await websocket.send(str(i))
        # Returning from the handler closes with 1000.

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                received = [message async for message in websocket]
                assert received == ["0", "1", "2"]
                assert websocket.close_code == 1000

    run(main())


@scenarios
def test_handler_exception_closes_with_1011(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        raise RuntimeError("boom")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                with pytest.raises(lib.top.ConnectionClosedError) as info:
                    await websocket.recv()
                assert info.value.rcvd.code == 1011
                # async for re-raises errors other than a normal close.
                with pytest.raises(lib.top.ConnectionClosedError):
                    async for _ in websocket:
                        pass

    run(main())


@scenarios
def test_message_too_big_closes_with_1009(lib_name):
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, "127.0.0.1", 0, max_size=1024) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                await websocket.send(b"x" * 1024)
                assert await websocket.recv() == b"x" * 1024
                await websocket.send(b"x" * 1025)
                with pytest.raises(lib.top.ConnectionClosedError) as info:
                    await websocket.recv()
                assert info.value.rcvd.code == 1009

    run(main())


@scenarios
def test_send_after_close_raises_connection_closed(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                await websocket.close()
                await websocket.wait_closed()
                with pytest.raises(lib.top.ConnectionClosedOK):
                    await websocket.send("late")

    run(main())


# Reconnecting


@scenarios
def test_reconnect_loop_with_break(lib_name):
    lib = load(lib_name)

    async def main():
        connections = 0

        async def handler(websocket):
            nonlocal connections
            connections += 1
            if connections == 1:
                await websocket.close(1011, "restarting")
            else:
                await websocket.send("second life")
                await websocket.wait_closed()

        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            received = []
            attempts = 0
            async for websocket in lib.client.connect(f"ws://127.0.0.1:{port_of(server)}"):
                attempts += 1
                assert attempts <= 3, "the loop should have ended"
                try:
                    received.append(await websocket.recv())
                    break
                except lib.top.ConnectionClosed:
                    continue
            assert received == ["second life"]
            assert attempts == 2
            # The connection is closed when the loop is left.
            await asyncio.wait_for(websocket.wait_closed(), 10)

    run(main())


# Handshake details


@scenarios
def test_request_path_headers_and_additional_headers(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        request = websocket.request
        await websocket.send(request.path)
        await websocket.send(request.headers["X-Token"])
        await websocket.send(request.headers.get("User-Agent", "none"))
        await websocket.send(str(isinstance(request.headers, lib.top.Headers)))
        await websocket.send(repr(type(websocket.remote_address)))

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/chat?room=1"
            headers = lib.top.Headers()
            headers["X-Token"] = "abc"
            async with lib.client.connect(uri, additional_headers=headers, user_agent_header="scenario/1.0") as ws:
                assert await ws.recv() == "/chat?room=1"
                assert await ws.recv() == "abc"
                assert await ws.recv() == "scenario/1.0"
                assert await ws.recv() == "True"
                assert await ws.recv() == repr(tuple)
            async with lib.client.connect(uri, additional_headers=[("X-Token", "list")], user_agent_header=None) as ws:
                assert await ws.recv() == "/chat?room=1"
                assert await ws.recv() == "list"
                assert await ws.recv() == "none"

    run(main())


@scenarios
def test_server_header_none(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, server_header=None) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert "Server" not in websocket.response.headers
        async with lib.server.serve(handler, "127.0.0.1", 0, server_header="scenario") as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert websocket.response.headers["Server"] == "scenario"

    run(main())


@scenarios
def test_subprotocols(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send(str(websocket.subprotocol))
        await websocket.wait_closed()

    def select_subprotocol(connection, subprotocols):
        if "chat.v2" in subprotocols:
            return "chat.v2"
        return None

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, subprotocols=["chat.v1", "chat.v2"]) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with lib.client.connect(uri, subprotocols=["chat.v2"]) as websocket:
                assert websocket.subprotocol == "chat.v2"
                assert await websocket.recv() == "chat.v2"
        async with lib.server.serve(handler, "127.0.0.1", 0, select_subprotocol=select_subprotocol) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with lib.client.connect(uri, subprotocols=["chat.v1", "chat.v2"]) as websocket:
                assert websocket.subprotocol == "chat.v2"
                assert await websocket.recv() == "chat.v2"
            # A custom selector that returns None: no subprotocol.
            async with lib.client.connect(uri, subprotocols=["chat.v1"]) as websocket:
                assert websocket.subprotocol is None
                assert await websocket.recv() == "None"
        async with lib.server.serve(handler, "127.0.0.1", 0, subprotocols=["chat.v1"]) as server:
            # The default selector rejects a client with no common subprotocol.
            with pytest.raises(lib.top.InvalidStatus) as info:
                async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}", subprotocols=["other"]):
                    pass
            assert info.value.response.status_code == 400

    run(main())


@scenarios
def test_origins(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send(websocket.request.headers["Origin"])

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, origins=["https://example.com"]) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with lib.client.connect(uri, origin="https://example.com") as websocket:
                assert await websocket.recv() == "https://example.com"
            with pytest.raises(lib.top.InvalidStatus) as info:
                async with lib.client.connect(uri, origin="https://evil.example"):
                    pass
            assert info.value.response.status_code == 403

    run(main())


@scenarios
def test_connection_attributes(lib_name):
    lib = load(lib_name)
    import uuid
    import logging

    async def handler(websocket):
        await websocket.send(str(websocket.id))
        await websocket.wait_closed()

    async def main():
        logger = logging.getLogger("scenario")
        async with lib.server.serve(handler, "127.0.0.1", 0, logger=logger, ping_interval=None) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}", logger=logger) as websocket:
                assert isinstance(websocket.id, uuid.UUID)
                await websocket.recv()
                assert websocket.local_address[0] == "127.0.0.1"
                assert websocket.remote_address == ("127.0.0.1", port_of(server))
                assert websocket.state is lib.top.State.OPEN
                assert websocket.close_code is None and websocket.close_reason is None
                assert websocket.request.path == "/"
                assert websocket.response.reason_phrase == "Switching Protocols"
                assert websocket.latency == 0
                assert websocket.logger is not None
                (connection,) = server.connections
                assert connection.request.path == "/"
                assert connection.response.status_code == 101

    run(main())


@scenarios
def test_compression_negotiated_and_disabled(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send(websocket.request.headers.get("Sec-WebSocket-Extensions", "none"))
        await websocket.send("a" * 10000)
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with lib.client.connect(uri) as websocket:
                assert "permessage-deflate" in await websocket.recv()
                assert "permessage-deflate" in websocket.response.headers["Sec-WebSocket-Extensions"]
                assert await websocket.recv() == "a" * 10000
            async with lib.client.connect(uri, compression=None) as websocket:
                assert await websocket.recv() == "none"
                assert await websocket.recv() == "a" * 10000

    run(main())


@scenarios
def test_invalid_uri_and_refused_connection(lib_name):
    lib = load(lib_name)

    async def main():
        with pytest.raises(lib.top.InvalidURI):
            async with lib.client.connect("http://127.0.0.1/"):
                pass
        # A port nobody listens on: bind one, close it, connect to it.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        with pytest.raises(OSError):
            async with lib.client.connect(f"ws://127.0.0.1:{port}", open_timeout=10):
                pass

    run(main())


@scenarios
def test_plain_http_to_websocket_server(lib_name):
    """A browser-like GET without Upgrade gets 426 from the server."""
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            status, _, _ = await raw_http_get(port_of(server), "/")
            assert status.startswith("HTTP/1.1 426")

    run(main())


@scenarios
def test_unix_socket(lib_name):
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "ws.sock")
            async with lib.server.unix_serve(echo, path):
                async with lib.client.unix_connect(path) as websocket:
                    await websocket.send("over unix")
                    assert await websocket.recv() == "over unix"

    run(main())


# Threading API


def run_sync_server(lib, handler, **kwargs):
    """Start lib.sync.server.serve in a thread; return (server, thread)."""
    server = lib.sync_server.serve(handler, "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def stop_sync_server(server, thread):
    server.shutdown()
    thread.join(10)
    assert not thread.is_alive()


@scenarios
def test_sync_echo_with_recv_timeout(lib_name):
    lib = load(lib_name)

    def echo(websocket):
        for message in websocket:
            websocket.send(message)

    server, thread = run_sync_server(lib, echo)
    try:
        uri = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        with lib.sync_client.connect(uri) as websocket:
            websocket.send("Hello world!")
            assert websocket.recv(timeout=10) == "Hello world!"
            # Nothing was sent: recv gives up with TimeoutError.
            with pytest.raises(TimeoutError):
                websocket.recv(timeout=0.05)
            websocket.send(b"\x01")
            assert websocket.recv(timeout=10) == b"\x01"
            pong = websocket.ping()
            assert pong.wait(10)
            assert websocket.latency >= 0
            websocket.send(["frag", "ments"])
            assert websocket.recv(timeout=10) == "fragments"
        assert websocket.close_code == 1000
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_sync_context_manager_server(lib_name):
    """`with serve(...) as server: server.serve_forever()` as the docs show."""
    lib = load(lib_name)

    def handler(websocket):
        websocket.send(websocket.request.path)

    with lib.sync_server.serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with lib.sync_client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}/path") as websocket:
                assert websocket.recv(timeout=10) == "/path"
                with pytest.raises(lib.top.ConnectionClosedOK):
                    websocket.recv(timeout=10)
        finally:
            server.shutdown()
            thread.join(10)


@scenarios
def test_sync_health_check_and_basic_auth(lib_name):
    lib = load(lib_name)

    def health_check(connection, request):
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")

    def handler(websocket):
        websocket.send(websocket.username if hasattr(websocket, "username") else "anon")

    auth = lib.sync_server.basic_auth(realm="r", credentials=[("carol", "pw")])
    server, thread = run_sync_server(lib, handler, process_request=health_check)
    try:
        port = server.socket.getsockname()[1]
        status, _, body = run(raw_http_get(port, "/healthz"))
        assert status == "HTTP/1.1 200 OK" and body == b"OK\n"
    finally:
        stop_sync_server(server, thread)

    server, thread = run_sync_server(lib, handler, process_request=auth)
    try:
        port = server.socket.getsockname()[1]
        with lib.sync_client.connect(f"ws://carol:pw@127.0.0.1:{port}") as websocket:
            assert websocket.recv(timeout=10) == "carol"
        with pytest.raises(lib.top.InvalidStatus) as info:
            with lib.sync_client.connect(f"ws://carol:nope@127.0.0.1:{port}"):
                pass
        assert info.value.response.status_code == 401
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_sync_subprotocols_and_headers(lib_name):
    lib = load(lib_name)

    def handler(websocket):
        websocket.send(f"{websocket.subprotocol} {websocket.request.headers.get('X-Id')}")
        websocket.send(websocket.request.headers.get("User-Agent", "none"))

    server, thread = run_sync_server(lib, handler, subprotocols=["v1", "v2"], server_header=None)
    try:
        uri = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        with lib.sync_client.connect(
            uri, subprotocols=["v2"], additional_headers={"X-Id": "7"}, user_agent_header=None
        ) as websocket:
            assert websocket.subprotocol == "v2"
            assert websocket.recv(timeout=10) == "v2 7"
            assert websocket.recv(timeout=10) == "none"
            assert "Server" not in websocket.response.headers
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_sync_legacy_connect_and_reconnect(lib_name):
    lib = load(lib_name)

    def echo(websocket):
        for message in websocket:
            websocket.send(message)

    server, thread = run_sync_server(lib, echo)
    try:
        uri = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        websocket = lib.sync_client.connect(uri, legacy=True)
        try:
            websocket.send("legacy")
            assert websocket.recv(timeout=10) == "legacy"
        finally:
            websocket.close()
        attempts = 0
        for websocket in lib.sync_client.reconnect(uri):
            attempts += 1
            assert attempts <= 2
            websocket.send("again")
            assert websocket.recv(timeout=10) == "again"
            break
        assert attempts == 1
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_sync_handler_sees_close(lib_name):
    """A sync handler iterating messages ends when the client closes with 1000."""
    lib = load(lib_name)
    seen = []
    done = threading.Event()

    def handler(websocket):
        try:
            for message in websocket:
                seen.append(message)
        finally:
            seen.append(websocket.close_code)
            done.set()

    server, thread = run_sync_server(lib, handler)
    try:
        with lib.sync_client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}") as websocket:
            websocket.send("one")
            websocket.send("two")
        assert done.wait(10)
        assert seen == ["one", "two", 1000]
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_sync_client_against_asyncio_server(lib_name):
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"

            def client():
                with lib.sync_client.connect(uri) as websocket:
                    websocket.send("mixed")
                    return websocket.recv(timeout=10)

            assert await asyncio.get_running_loop().run_in_executor(None, client) == "mixed"

    run(main())


# Top-level names


@scenarios
def test_top_level_names(lib_name):
    lib = load(lib_name)
    top = lib.top
    headers = top.Headers([("Set-Cookie", "a=1")])
    headers["Set-Cookie"] = "b=2"
    assert headers.get_all("set-cookie") == ["a=1", "b=2"]
    with pytest.raises(top.MultipleValuesError):
        headers["Set-Cookie"]
    assert issubclass(top.ConnectionClosedOK, top.ConnectionClosed)
    assert issubclass(top.ConnectionClosedError, top.WebSocketException)
    assert issubclass(top.InvalidStatus, top.InvalidHandshake)
    assert top.CloseCode.NORMAL_CLOSURE == 1000
    assert top.Opcode.TEXT == 1
    assert top.State.OPEN.name == "OPEN"
    assert isinstance(top.__version__, str)
    closed = top.ConnectionClosedOK(top.Close(1000, "done"), top.Close(1000, "done"), True)
    assert str(closed) == "received 1000 (OK) done; then sent 1000 (OK) done"


# More of what programs do


@scenarios
def test_tls_wss(lib_name):
    trustme = pytest.importorskip("trustme")
    import ssl

    lib = load(lib_name)
    authority = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_context)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            uri = f"wss://127.0.0.1:{port_of(server)}"
            async with lib.client.connect(uri, ssl=client_context) as websocket:
                await websocket.send("secret")
                assert await websocket.recv() == "secret"

            def sync_client():
                with lib.sync_client.connect(uri, ssl=client_context) as websocket:
                    websocket.send("sync secret")
                    return websocket.recv(timeout=10)

            assert await asyncio.get_running_loop().run_in_executor(None, sync_client) == "sync secret"

    run(main())


@scenarios
def test_custom_connection_class(lib_name):
    """create_connection= with a subclass that adds state, as the docs suggest."""
    lib = load(lib_name)

    class ChatConnection(lib.server.ServerConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.nickname = "anonymous"

    class ChatClient(lib.client.ClientConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.greeting = None

    async def handler(websocket):
        assert isinstance(websocket, ChatConnection)
        websocket.nickname = websocket.request.path.strip("/")
        await websocket.send(websocket.nickname)
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, create_connection=ChatConnection) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/dave"
            async with lib.client.connect(uri, create_connection=ChatClient) as websocket:
                assert isinstance(websocket, ChatClient)
                websocket.greeting = await websocket.recv()
                assert websocket.greeting == "dave"
                assert [c.nickname for c in server.connections] == ["dave"]

    run(main())


@scenarios
def test_serve_on_existing_socket(lib_name):
    lib = load(lib_name)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, sock=sock) as server:
            assert port_of(server) == port
            async with lib.client.connect(f"ws://127.0.0.1:{port}") as websocket:
                await websocket.send("on my socket")
                assert await websocket.recv() == "on my socket"

    try:
        run(main())
    finally:
        sock.close()


@scenarios
def test_open_timeout_against_silent_server(lib_name):
    """A server that accepts TCP but never answers the handshake."""
    lib = load(lib_name)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    async def main():
        # Before Python 3.11, asyncio.TimeoutError is not the builtin TimeoutError.
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            async with lib.client.connect(f"ws://127.0.0.1:{port}", open_timeout=0.2):
                pass

    try:
        run(main())
        with pytest.raises(TimeoutError):
            with lib.sync_client.connect(f"ws://127.0.0.1:{port}", open_timeout=0.2):
                pass
    finally:
        listener.close()


@scenarios
def test_respond_with_not_found_and_custom_headers(lib_name):
    lib = load(lib_name)

    def route(connection, request):
        if request.path != "/ws":
            response = connection.respond(http.HTTPStatus.NOT_FOUND, "no such endpoint\n")
            response.headers["X-Reason"] = "path"
            return response

    async def handler(websocket):
        await websocket.send("routed")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, process_request=route) as server:
            port = port_of(server)
            with pytest.raises(lib.top.InvalidStatus) as info:
                async with lib.client.connect(f"ws://127.0.0.1:{port}/elsewhere"):
                    pass
            response = info.value.response
            assert response.status_code == 404
            assert response.reason_phrase == "Not Found"
            assert response.headers["X-Reason"] == "path"
            assert response.body == b"no such endpoint\n"
            async with lib.client.connect(f"ws://127.0.0.1:{port}/ws") as websocket:
                assert await websocket.recv() == "routed"

    run(main())


@scenarios
def test_process_request_exception_gives_500(lib_name):
    lib = load(lib_name)

    def broken(connection, request):
        raise RuntimeError("bug in the hook")

    async def handler(websocket):
        pass

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, process_request=broken) as server:
            with pytest.raises(lib.top.InvalidStatus) as info:
                async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}"):
                    pass
            assert info.value.response.status_code == 500

    run(main())


@scenarios
def test_send_bytes_like_and_bad_types(lib_name):
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                await websocket.send(bytearray(b"array"))
                assert await websocket.recv() == b"array"
                await websocket.send(memoryview(b"view"))
                assert await websocket.recv() == b"view"
                with pytest.raises(TypeError):
                    await websocket.send({"not": "data"})
                with pytest.raises(TypeError):
                    await websocket.send(42)
                # Still usable afterwards.
                await websocket.send("ok")
                assert await websocket.recv() == "ok"

    run(main())


@scenarios
def test_close_with_unicode_reason(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.close(4000, "fermé ✓")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                with pytest.raises(lib.top.ConnectionClosed) as info:
                    await websocket.recv()
                # Only 1000 and 1001 are OK closes; 4000 is an error.
                assert isinstance(info.value, lib.top.ConnectionClosedError)
                assert info.value.rcvd.code == 4000
                assert websocket.close_code == 4000
                assert websocket.close_reason == "fermé ✓"

    run(main())


@scenarios
def test_client_closes_with_code_server_sees_it(lib_name):
    lib = load(lib_name)

    async def main():
        seen = asyncio.get_running_loop().create_future()

        async def handler(websocket):
            try:
                await websocket.recv()
            except lib.top.ConnectionClosed as exc:
                seen.set_result((type(exc).__name__, exc.rcvd.code, exc.rcvd.reason, websocket.close_code))

        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                await websocket.close(1001, "page closed")
            assert await seen == ("ConnectionClosedOK", 1001, "page closed", 1001)

    run(main())


@scenarios
def test_duplicate_ping_payload(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                waiter = await websocket.ping(b"same")
                with pytest.raises(lib.top.ConcurrencyError):
                    await websocket.ping(b"same")
                await waiter

    run(main())


@scenarios
def test_broadcast_raise_exceptions(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                await websocket.close()
                # A closed connection is skipped, even when asked to raise.
                lib.server.broadcast([websocket], "nobody")
                lib.server.broadcast([websocket], "nobody", raise_exceptions=True)

    run(main())


@scenarios
def test_headers_api(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        headers = websocket.request.headers
        await websocket.send(
            repr(
                [
                    "host" in headers,
                    headers["sec-websocket-version"],
                    headers.get_all("X-Multi"),
                    [key for key, _ in headers.raw_items()][:1],
                    str(headers).endswith("\r\n\r\n"),
                ]
            )
        )

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with lib.client.connect(uri, additional_headers=[("X-Multi", "1"), ("X-Multi", "2")]) as ws:
                assert await ws.recv() == repr([True, "13", ["1", "2"], ["Host"], True])

    run(main())


@scenarios
def test_max_size_and_max_queue_forms(lib_name):
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, "127.0.0.1", 0, max_size=None, max_queue=None, write_limit=(65536, 1024)) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with lib.client.connect(uri, max_size=2**21, max_queue=(32, 8), write_limit=2**16) as websocket:
                payload = b"z" * (2**20 + 1)
                await websocket.send(payload)
                assert await websocket.recv() == payload

    run(main())


@scenarios
def test_sync_recv_streaming_and_close_code(lib_name):
    lib = load(lib_name)

    def handler(websocket):
        websocket.send(["str", "eam"])
        websocket.close(1001, "done")

    server, thread = run_sync_server(lib, handler)
    try:
        with lib.sync_client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}") as websocket:
            assert "".join(websocket.recv_streaming()) == "stream"
            with pytest.raises(lib.top.ConnectionClosedOK):
                websocket.recv(timeout=10)
            assert (websocket.close_code, websocket.close_reason) == (1001, "done")
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_sync_process_response_and_broadcast(lib_name):
    lib = load(lib_name)
    joined = threading.Event()

    def add_header(connection, request, response):
        response.headers["X-Sync"] = "yes"

    def handler(websocket):
        joined.set()
        for _ in websocket:
            pass

    server, thread = run_sync_server(lib, handler, process_response=add_header)
    try:
        with lib.sync_client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}") as websocket:
            assert websocket.response.headers["X-Sync"] == "yes"
            assert joined.wait(10)
            # sync broadcast takes any iterable of connections.
            lib.sync_server.broadcast([websocket], "to myself")
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_sync_unix_socket(lib_name):
    lib = load(lib_name)

    def echo(websocket):
        for message in websocket:
            websocket.send(message)

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        with lib.sync_server.unix_serve(echo, path) as server:
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                with lib.sync_client.unix_connect(path) as websocket:
                    websocket.send("sync unix")
                    assert websocket.recv(timeout=10) == "sync unix"
            finally:
                server.shutdown()
                thread.join(10)


@scenarios
def test_sync_handler_exception_and_recv_decode(lib_name):
    lib = load(lib_name)

    def handler(websocket):
        websocket.send("text")
        websocket.send(b"bytes")
        raise RuntimeError("boom")

    server, thread = run_sync_server(lib, handler)
    try:
        with lib.sync_client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}") as websocket:
            assert websocket.recv(timeout=10, decode=False) == b"text"
            assert websocket.recv(timeout=10, decode=True) == "bytes"
            with pytest.raises(lib.top.ConnectionClosedError) as info:
                websocket.recv(timeout=10)
            assert info.value.rcvd.code == 1011
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_recv_cancelled_by_timeout_loses_nothing(lib_name):
    """`await asyncio.wait_for(websocket.recv(), t)` then recv() again: the docs say it is safe."""
    lib = load(lib_name)

    async def main():
        release = asyncio.Event()

        async def handler(websocket):
            await release.wait()
            await websocket.send("late news")
            await websocket.wait_closed()

        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(websocket.recv(), 0.05)
                release.set()
                assert await websocket.recv() == "late news"

    run(main())


@scenarios
def test_redirect_is_followed(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send(f"arrived at {websocket.request.path}")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as target:
            location = f"ws://127.0.0.1:{port_of(target)}/new"

            def moved(connection, request):
                response = connection.respond(http.HTTPStatus.MOVED_PERMANENTLY, "moved\n")
                response.headers["Location"] = location
                return response

            async with lib.server.serve(handler, "127.0.0.1", 0, process_request=moved) as old:
                async with lib.client.connect(f"ws://127.0.0.1:{port_of(old)}/old") as websocket:
                    assert await websocket.recv() == "arrived at /new"

                def sync_client():
                    with lib.sync_client.connect(f"ws://127.0.0.1:{port_of(old)}/old") as websocket:
                        return websocket.recv(timeout=10)

                loop = asyncio.get_running_loop()
                assert await loop.run_in_executor(None, sync_client) == "arrived at /new"

    run(main())


@scenarios
def test_reconnect_gives_up_on_fatal_error(lib_name):
    """`async for websocket in connect(...)` re-raises fatal handshake errors (HTTP 4xx)."""
    lib = load(lib_name)

    def forbid(connection, request):
        return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    async def handler(websocket):
        pass

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, process_request=forbid) as server:
            attempts = 0
            with pytest.raises(lib.top.InvalidStatus):
                async for websocket in lib.client.connect(f"ws://127.0.0.1:{port_of(server)}"):
                    attempts += 1
                    break
            assert attempts == 0

    run(main())


@scenarios
def test_concurrent_senders(lib_name):
    """Several tasks send on one connection; every message arrives whole."""
    lib = load(lib_name)

    async def main():
        received = []
        done = asyncio.Event()

        async def handler(websocket):
            async for message in websocket:
                received.append(message)
                if len(received) == 40:
                    done.set()

        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:

                async def sender(tag):
                    for i in range(10):
                        await websocket.send(f"{tag}{i}" * 100)

                await asyncio.gather(*(sender(tag) for tag in "abcd"))
                await done.wait()
        assert sorted(received) == sorted(f"{tag}{i}" * 100 for tag in "abcd" for i in range(10))

    run(main())


@scenarios
def test_sync_refused_and_recv_timeout_zero(lib_name):
    lib = load(lib_name)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        with lib.sync_client.connect(f"ws://127.0.0.1:{port}", open_timeout=10):
            pass

    def handler(websocket):
        for _ in websocket:
            pass

    server, thread = run_sync_server(lib, handler)
    try:
        with lib.sync_client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}") as websocket:
            # timeout=0 polls: nothing is there.
            with pytest.raises(TimeoutError):
                websocket.recv(timeout=0)
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_abnormal_closure_1006(lib_name):
    """The peer drops TCP without a close frame: ConnectionClosedError, code 1006."""
    lib = load(lib_name)

    async def main():
        outcome = asyncio.get_running_loop().create_future()

        async def handler(websocket):
            await websocket.send("ready")
            try:
                await websocket.recv()
            except lib.top.ConnectionClosed as exc:
                outcome.set_result((type(exc).__name__, exc.rcvd, exc.sent, websocket.close_code, str(exc)))

        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            websocket = await lib.client.connect(f"ws://127.0.0.1:{port_of(server)}")
            assert await websocket.recv() == "ready"
            websocket.transport.abort()
            name, rcvd, sent, code, text = await outcome
            assert (name, rcvd, sent, code) == ("ConnectionClosedError", None, None, 1006)
            assert text == "no close frame received or sent"

    run(main())


@scenarios
def test_close_from_another_task_wakes_recv(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                pending = asyncio.ensure_future(websocket.recv())
                await websocket.close()
                with pytest.raises(lib.top.ConnectionClosedOK):
                    await pending
                await websocket.close()  # closing twice is harmless

    run(main())


@scenarios
def test_connect_with_host_port_override_and_sock(lib_name):
    """Extra kwargs reach loop.create_connection: host/port override the URI, sock= works."""
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send(websocket.request.headers["Host"])

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, reuse_port=True) as server:
            port = port_of(server)
            async with lib.client.connect("ws://example.invalid/", host="127.0.0.1", port=port) as websocket:
                assert await websocket.recv() == "example.invalid"
            sock = socket.create_connection(("127.0.0.1", port))
            async with lib.client.connect("ws://example.invalid/", sock=sock) as websocket:
                assert await websocket.recv() == "example.invalid"

            def sync_client():
                sync_sock = socket.create_connection(("127.0.0.1", port))
                with lib.sync_client.connect("ws://example.invalid/", sock=sync_sock) as websocket:
                    return websocket.recv(timeout=10)

            assert await asyncio.get_running_loop().run_in_executor(None, sync_client) == "example.invalid"

    run(main())


@scenarios
def test_sync_close_from_another_thread_wakes_recv(lib_name):
    lib = load(lib_name)

    def handler(websocket):
        for _ in websocket:
            pass

    server, thread = run_sync_server(lib, handler)
    try:
        with lib.sync_client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}") as websocket:
            outcome = []

            def reader():
                try:
                    websocket.recv(timeout=10)
                except Exception as exc:
                    outcome.append(type(exc).__name__)

            reader_thread = threading.Thread(target=reader)
            reader_thread.start()
            websocket.close()
            reader_thread.join(10)
            assert outcome == ["ConnectionClosedOK"]
    finally:
        stop_sync_server(server, thread)


@scenarios
def test_custom_permessage_deflate_settings(lib_name):
    """The compression guide's tuned permessage-deflate factories."""
    lib = load(lib_name)
    deflate = importlib.import_module(lib_name + ".extensions.permessage_deflate")

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        server_extensions = [
            deflate.ServerPerMessageDeflateFactory(
                server_max_window_bits=11,
                client_max_window_bits=11,
                compress_settings={"memLevel": 4},
            )
        ]
        client_extensions = [
            deflate.ClientPerMessageDeflateFactory(
                server_max_window_bits=11,
                client_max_window_bits=11,
                compress_settings={"memLevel": 4},
            )
        ]
        async with lib.server.serve(echo, "127.0.0.1", 0, extensions=server_extensions, compression=None) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with lib.client.connect(uri, extensions=client_extensions, compression=None) as websocket:
                offer = websocket.response.headers["Sec-WebSocket-Extensions"]
                assert "server_max_window_bits=11" in offer and "client_max_window_bits=11" in offer
                message = "compressible " * 1000
                await websocket.send(message)
                assert await websocket.recv() == message
            # The server's tuned factory also answers a default client.
            async with lib.client.connect(uri) as websocket:
                await websocket.send("default client")
                assert await websocket.recv() == "default client"

    run(main())


@scenarios
def test_sans_io_handshake_and_messages(lib_name):
    """The Sans-I/O guide: ClientProtocol and ServerProtocol talking through bytes."""
    lib = load(lib_name)
    client_module = importlib.import_module(lib_name + ".client")
    server_module = importlib.import_module(lib_name + ".server")
    uri_module = importlib.import_module(lib_name + ".uri")

    client = client_module.ClientProtocol(uri_module.parse_uri("ws://example.com/chat"))
    server = server_module.ServerProtocol()

    request = client.connect()
    request.headers["X-Trace"] = "1"
    client.send_request(request)
    server.receive_data(b"".join(client.data_to_send()))
    (received_request,) = server.events_received()
    assert received_request.path == "/chat"
    assert received_request.headers["X-Trace"] == "1"

    response = server.accept(received_request)
    server.send_response(response)
    assert server.state is lib.protocol.State.OPEN
    client.receive_data(b"".join(server.data_to_send()))
    (received_response,) = client.events_received()
    assert received_response.status_code == 101
    assert client.state is lib.protocol.State.OPEN

    client.send_text(b"hello")
    client.send_binary(b"\x00\x01", fin=False)
    client.send_continuation(b"\x02", fin=True)
    server.receive_data(b"".join(client.data_to_send()))
    frames = server.events_received()
    assert [(f.opcode, f.data, f.fin) for f in frames] == [
        (lib.frames.Opcode.TEXT, b"hello", True),
        (lib.frames.Opcode.BINARY, b"\x00\x01", False),
        (lib.frames.Opcode.CONT, b"\x02", True),
    ]

    server.send_ping(b"p")
    client.receive_data(b"".join(server.data_to_send()))
    (ping,) = client.events_received()
    assert ping.opcode is lib.frames.Opcode.PING
    # The client answered the ping by itself.
    server.receive_data(b"".join(client.data_to_send()))
    (pong,) = server.events_received()
    assert (pong.opcode, pong.data) == (lib.frames.Opcode.PONG, b"p")

    server.send_close(1000, "done")
    assert server.state is lib.protocol.State.CLOSING
    client.receive_data(b"".join(server.data_to_send()))
    client.events_received()
    assert client.close_expected()
    server.receive_data(b"".join(client.data_to_send()))
    server.events_received()
    # The server ends the TCP connection: its last output is the EOF marker.
    assert server.data_to_send()[-1:] == [b""]
    server.receive_eof()
    assert server.state is lib.protocol.State.CLOSED
    assert server.close_code == 1000 and server.close_reason == "done"
    assert isinstance(server.close_exc, lib.top.ConnectionClosedOK)


@scenarios
def test_sans_io_rejects_bad_request(lib_name):
    lib = load(lib_name)
    server_module = importlib.import_module(lib_name + ".server")
    server = server_module.ServerProtocol()
    server.receive_data(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    (request,) = server.events_received()
    response = server.accept(request)
    assert response.status_code == 426
    server.send_response(response)
    assert server.handshake_exc is not None
    assert isinstance(server.handshake_exc, lib.top.InvalidHandshake)
    assert server.data_to_send()[-1:] == [b""]


@scenarios
def test_quickstart_on_uvloop(lib_name):
    """Programs that run on uvloop: echo, ping, close."""
    uvloop = pytest.importorskip("uvloop")
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                await websocket.send("on uvloop")
                assert await websocket.recv() == "on uvloop"
                await (await websocket.ping())
            assert websocket.close_code == 1000

    run(main(), loop_factory=uvloop.new_event_loop)


async def silent_websocket_server():
    """A server that completes the handshake, then never reads or answers again.

    The handshake is computed by websockets' Sans-I/O server, so the peer is
    the same for both libraries under test.
    """
    import websockets.server

    async def serve_one(reader, writer):
        protocol = websockets.server.ServerProtocol()
        for _ in range(100):
            data = await reader.read(4096)
            if not data:
                return
            protocol.receive_data(data)
            events = protocol.events_received()
            if events:
                protocol.send_response(protocol.accept(events[0]))
                writer.write(b"".join(protocol.data_to_send()))
                break
        # Hold the connection open without reading until the client goes.
        await closed.wait()
        writer.close()

    closed = asyncio.Event()
    server = await asyncio.start_server(serve_one, "127.0.0.1", 0)
    return server, closed


@scenarios
def test_keepalive_ping_timeout(lib_name):
    """No pong within ping_timeout: the connection fails with 1011."""
    lib = load(lib_name)

    async def main():
        server, closed = await silent_websocket_server()
        try:
            port = server.sockets[0].getsockname()[1]
            async with lib.client.connect(
                f"ws://127.0.0.1:{port}", ping_interval=0.05, ping_timeout=0.05, close_timeout=0.1
            ) as websocket:
                with pytest.raises(lib.top.ConnectionClosedError) as info:
                    await websocket.recv()
                assert info.value.sent.code == 1011
                assert info.value.sent.reason == "keepalive ping timeout"
                assert info.value.rcvd is None
                assert websocket.close_code == 1006
        finally:
            closed.set()
            server.close()
            await server.wait_closed()

    run(main())


@scenarios
def test_sync_keepalive_ping_timeout(lib_name):
    lib = load(lib_name)

    async def main():
        server, closed = await silent_websocket_server()
        try:
            port = server.sockets[0].getsockname()[1]

            def client():
                with lib.sync_client.connect(
                    f"ws://127.0.0.1:{port}", ping_interval=0.05, ping_timeout=0.05, close_timeout=0.1
                ) as websocket:
                    try:
                        websocket.recv(timeout=20)
                    except lib.top.ConnectionClosedError as exc:
                        return exc.sent.code, exc.sent.reason, exc.rcvd
                    return "no error"

            outcome = await asyncio.get_running_loop().run_in_executor(None, client)
            assert outcome == (1011, "keepalive ping timeout", None)
        finally:
            closed.set()
            server.close()
            await server.wait_closed()

    run(main())


@scenarios
def test_max_size_message_and_fragment_tuple(lib_name):
    """max_size=(max_message_size, max_fragment_size): long messages in short fragments."""
    lib = load(lib_name)

    async def echo_length(websocket):
        async for message in websocket:
            await websocket.send(str(len(message)))

    async def main():
        async with lib.server.serve(echo_length, "127.0.0.1", 0, max_size=(10000, 1000), compression=None) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}"
            async with lib.client.connect(uri, compression=None) as websocket:
                # 9 fragments of 1000 bytes: within both limits.
                await websocket.send([b"f" * 1000] * 9)
                assert await websocket.recv() == "9000"
                # One 1001-byte frame breaks the fragment limit.
                await websocket.send(b"f" * 1001)
                with pytest.raises(lib.top.ConnectionClosedError) as info:
                    await websocket.recv()
                assert info.value.rcvd.code == 1009
            async with lib.client.connect(uri, compression=None) as websocket:
                # 11 fragments of 1000 bytes break the message limit.
                await websocket.send([b"f" * 1000] * 11)
                with pytest.raises(lib.top.ConnectionClosedError) as info:
                    await websocket.recv()
                assert info.value.rcvd.code == 1009

    run(main())


class RecordingHandler(logging.Handler):
    """Keeps (logger name, level, message) of every record."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append((record.name, record.levelname, record.getMessage()))


@scenarios
def test_logging_messages(lib_name):
    """The logging guide's messages, on the library's own logger hierarchy.

    websockets logs to "websockets.server" / "websockets.client"; a drop-in
    library logs the same messages under its own package name.
    """
    lib = load(lib_name)
    handler_log = RecordingHandler()
    package_logger = logging.getLogger(lib_name)
    previous_level = package_logger.level
    package_logger.addHandler(handler_log)
    package_logger.setLevel(logging.INFO)

    async def handler(websocket):
        raise RuntimeError("boom")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                with pytest.raises(lib.top.ConnectionClosedError):
                    await websocket.recv()
            return port_of(server)

    try:
        port = run(main())
    finally:
        package_logger.removeHandler(handler_log)
        package_logger.setLevel(previous_level)
    server_logger = lib_name + ".server"
    for expected in [
        (server_logger, "INFO", f"server listening on 127.0.0.1:{port}"),
        (server_logger, "INFO", "connection open"),
        (server_logger, "ERROR", "connection handler failed"),
        (server_logger, "INFO", "connection closed"),
        (server_logger, "INFO", "server closing"),
        (server_logger, "INFO", "server closed"),
    ]:
        assert expected in handler_log.records


@scenarios
def test_debug_log_shows_sent_frames_before_compression(lib_name):
    """At DEBUG level, a sent frame is logged as the application sent it."""
    lib = load(lib_name)
    handler_log = RecordingHandler()
    server_logger = logging.getLogger(lib_name + ".server")
    previous_level = server_logger.level
    server_logger.addHandler(handler_log)
    server_logger.setLevel(logging.DEBUG)

    async def handler(websocket):
        await websocket.send("hello")
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert await websocket.recv() == "hello"

    try:
        run(main())
    finally:
        server_logger.removeHandler(handler_log)
        server_logger.setLevel(previous_level)
    sent = [message for _, _, message in handler_log.records if message.startswith("> TEXT")]
    assert sent == ["> TEXT 'hello' [5 bytes]"]


@scenarios
def test_serve_forever_cancelled_stops_server(lib_name):
    """Cancelling serve_forever() stops the server, as asyncio.Server does."""
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        server = await lib.server.serve(handler, "127.0.0.1", 0)
        forever = asyncio.ensure_future(server.serve_forever())
        async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
            forever.cancel()
            with pytest.raises(asyncio.CancelledError):
                await forever
            assert not server.is_serving()
            await websocket.wait_closed()
            assert websocket.close_code == 1001
        await server.wait_closed()

    run(main())


class ConnectionContext(logging.LoggerAdapter):
    """The logging guide's adapter: prefixes messages with the connection's id."""

    def process(self, msg, kwargs):
        try:
            websocket = kwargs["extra"]["websocket"]
        except KeyError:
            return msg, kwargs
        return f"{websocket.id} {msg}", kwargs


@scenarios
def test_log_records_carry_the_connection(lib_name):
    """Records logged for a connection have it as the ``websocket`` extra,
    asyncio and threading alike, and ``websocket.logger`` adds it too."""
    lib = load(lib_name)
    handler_log = RecordingHandler()
    records = []

    def emit(record):
        # The connection is a weak proxy: read it while the record is emitted.
        websocket = getattr(record, "websocket", None)
        records.append((record.getMessage(), None if websocket is None else websocket.id))

    handler_log.emit = emit
    base = logging.getLogger("scenario.context")
    base.addHandler(handler_log)
    base.setLevel(logging.INFO)
    base.propagate = False
    ids = []

    async def handler(websocket):
        ids.append(websocket.id)
        websocket.logger.info("from the handler")
        await websocket.send("hi")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, logger=ConnectionContext(base, None)) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert await websocket.recv() == "hi"

    def sync_handler(websocket):
        ids.append(websocket.id)
        websocket.logger.info("from the handler")
        websocket.send("hi")

    try:
        run(main())
        server, thread = run_sync_server(lib, sync_handler, logger=ConnectionContext(base, None))
        try:
            with lib.sync_client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}") as websocket:
                assert websocket.recv(timeout=10) == "hi"
        finally:
            stop_sync_server(server, thread)
    finally:
        base.removeHandler(handler_log)
        base.propagate = True
    from_handler = [record for record in records if record[0].endswith("from the handler")]
    assert from_handler == [(f"{connection_id} from the handler", connection_id) for connection_id in ids]


@scenarios
def test_programs_attach_attributes_to_connections_and_requests(lib_name):
    """process_request annotates the connection and the request; the handler
    reads both back, and a client connection takes attributes too."""
    lib = load(lib_name)

    def process_request(connection, request):
        connection.session = "s1"
        request.user = "alice"

    async def handler(websocket):
        websocket.seen = True
        await websocket.send(f"{websocket.session} {websocket.request.user} {websocket.seen}")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                websocket.tag = "mine"
                assert await websocket.recv() == "s1 alice True"
                assert websocket.tag == "mine"

    run(main())

    def sync_handler(websocket):
        websocket.send(f"{websocket.session} {websocket.request.user}")

    server, thread = run_sync_server(lib, sync_handler, process_request=process_request)
    try:
        with lib.sync_client.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}") as websocket:
            websocket.tag = "mine"
            assert websocket.recv(timeout=10) == "s1 alice"
    finally:
        stop_sync_server(server, thread)
