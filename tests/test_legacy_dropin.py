"""Drop-in scenarios for the legacy implementation: programs written against
``websockets.legacy`` the way its documentation wrote them, each run with
websockets 17 and with websockets_fast (see test_dropin_scenarios.py)."""

import asyncio
import http
import importlib
import os
import tempfile
import types
import warnings

import pytest
from conftest import run
from test_dropin_scenarios import port_of, raw_http_get, scenarios

pytest.importorskip("websockets")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def load(name):
    """The library's legacy modules, under the names a program would import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return types.SimpleNamespace(
            name=name,
            top=importlib.import_module(name),
            server=importlib.import_module(name + ".legacy.server"),
            client=importlib.import_module(name + ".legacy.client"),
            protocol=importlib.import_module(name + ".legacy.protocol"),
            auth=importlib.import_module(name + ".legacy.auth"),
            legacy_exceptions=importlib.import_module(name + ".legacy.exceptions"),
            exceptions=importlib.import_module(name + ".exceptions"),
        )


@scenarios
def test_echo_server_and_client(lib_name):
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with lib.server.serve(echo, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}") as websocket:
                assert websocket.open and not websocket.closed
                await websocket.send("Hello world!")
                assert await websocket.recv() == "Hello world!"
                await websocket.send(b"\x00\xff")
                assert await websocket.recv() == b"\x00\xff"
            assert websocket.closed and websocket.close_code == 1000

    run(main())


@scenarios
def test_handler_with_path_and_await_serve(lib_name):
    """websockets < 10.1 handlers take (websocket, path); `await serve(...)`."""
    lib = load(lib_name)

    async def handler(websocket, path):
        await websocket.send(path)

    async def main():
        server = await lib.server.serve(handler, "127.0.0.1", 0)
        websocket = await lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/room/1")
        assert await websocket.recv() == "/room/1"
        await websocket.close()
        server.close()
        await server.wait_closed()

    run(main())


@scenarios
def test_health_check_with_process_request(lib_name):
    lib = load(lib_name)

    async def health_check(path, request_headers):
        if path == "/healthz":
            return http.HTTPStatus.OK, [], b"OK\n"

    async def handler(websocket):
        await websocket.send("ws")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, process_request=health_check) as server:
            status, _, body = await raw_http_get(port_of(server), "/healthz")
            assert status == "HTTP/1.1 200 OK" and body == b"OK\n"
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket:
                assert await websocket.recv() == "ws"

    run(main())


@scenarios
def test_query_token_authentication_in_a_protocol_subclass(lib_name):
    lib = load(lib_name)

    class QueryParamProtocol(lib.server.WebSocketServerProtocol):
        async def process_request(self, path, headers):
            token = path.partition("token=")[2]
            if token != "abc":
                return http.HTTPStatus.UNAUTHORIZED, [], b"Invalid token\n"
            self.user = "user-" + token

    async def handler(websocket):
        await websocket.send(websocket.user)

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, create_protocol=QueryParamProtocol) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/?token="
            async with lib.client.connect(uri + "abc") as websocket:
                assert await websocket.recv() == "user-abc"
            with pytest.raises(lib.top.InvalidStatusCode) as info:
                await lib.client.connect(uri + "nope")
            assert info.value.status_code == 401

    run(main())


@scenarios
def test_extra_headers_set_a_cookie(lib_name):
    lib = load(lib_name)

    def set_cookie(path, request_headers):
        return [("Set-Cookie", f"visited={path.strip('/')}")]

    async def handler(websocket):
        await websocket.send(websocket.request_headers.get("X-Client", ""))

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, extra_headers=set_cookie) as server:
            async with lib.client.connect(
                f"ws://127.0.0.1:{port_of(server)}/home", extra_headers={"X-Client": "scenario"}
            ) as websocket:
                assert websocket.response_headers["Set-Cookie"] == "visited=home"
                assert await websocket.recv() == "scenario"
                assert websocket.path == "/home"

    run(main())


@scenarios
def test_basic_auth_protocol_factory(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send(f"Hello {websocket.username}!")

    async def main():
        factory = lib.auth.basic_auth_protocol_factory(realm="example", credentials=("mary", "p@ssw0rd"))
        async with lib.server.serve(handler, "127.0.0.1", 0, create_protocol=factory) as server:
            async with lib.client.connect(f"ws://mary:p%40ssw0rd@127.0.0.1:{port_of(server)}/") as websocket:
                assert await websocket.recv() == "Hello mary!"
            with pytest.raises(lib.legacy_exceptions.InvalidStatusCode) as info:
                await lib.client.connect(f"ws://mary:wrong@127.0.0.1:{port_of(server)}/")
            assert info.value.status_code == 401

    run(main())


@scenarios
def test_broadcast_to_server_websockets(lib_name):
    lib = load(lib_name)

    async def main():
        joined = asyncio.Event()

        async def handler(websocket):
            if len(server.websockets) == 2:
                joined.set()
            await websocket.wait_closed()

        server = await lib.server.serve(handler, "127.0.0.1", 0)
        a = await lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/")
        b = await lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/")
        await joined.wait()
        lib.protocol.broadcast(server.websockets, "news")
        assert await a.recv() == "news" and await b.recv() == "news"
        await a.close()
        await b.close()
        server.close()
        await server.wait_closed()

    run(main())


@scenarios
def test_ping_latency_and_keepalive_arguments(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.wait_closed()

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            async with lib.client.connect(
                f"ws://127.0.0.1:{port_of(server)}/", ping_interval=5, ping_timeout=5, close_timeout=1
            ) as websocket:
                pong_waiter = await websocket.ping()
                latency = await pong_waiter
                assert latency >= 0 and websocket.latency == latency
                pong_waiter = await websocket.ping("custom")
                await pong_waiter

    run(main())


@scenarios
def test_normal_close_and_close_codes(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send("bye")
        await websocket.close(1001, "going away")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket:
                messages = [message async for message in websocket]
                assert messages == ["bye"]
                with pytest.raises(lib.exceptions.ConnectionClosedOK):
                    await websocket.send("too late")
            assert websocket.close_code == 1001 and websocket.close_reason == "going away"

    run(main())


@scenarios
def test_message_too_big_closes_1009(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        try:
            await websocket.recv()
        except lib.exceptions.ConnectionClosedError:
            pass

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0, max_size=1024) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket:
                await websocket.send("x" * 2048)
                with pytest.raises(lib.exceptions.ConnectionClosedError):
                    await websocket.recv()
            assert websocket.close_code == 1009

    run(main())


@scenarios
def test_reconnecting_client_loop(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        await websocket.send("welcome")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            count = 0
            async for websocket in lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/"):
                try:
                    assert await websocket.recv() == "welcome"
                    count += 1
                    if count == 2:
                        break
                    await websocket.recv()
                except lib.exceptions.ConnectionClosed:
                    continue
            assert count == 2

    run(main())


@scenarios
def test_subprotocol_selection_override(lib_name):
    lib = load(lib_name)

    class Strict(lib.server.WebSocketServerProtocol):
        def select_subprotocol(self, client_subprotocols, server_subprotocols):
            return "v2" if "v2" in client_subprotocols else None

    async def handler(websocket):
        await websocket.send(str(websocket.subprotocol))

    async def main():
        async with lib.server.serve(
            handler, "127.0.0.1", 0, create_protocol=Strict, subprotocols=["v1", "v2"]
        ) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/", subprotocols=["v1", "v2"]) as ws:
                assert ws.subprotocol == "v2" and await ws.recv() == "v2"
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/", subprotocols=["v1"]) as ws:
                assert ws.subprotocol is None and await ws.recv() == "None"

    run(main())


@scenarios
def test_server_shutdown_closes_with_1001(lib_name):
    lib = load(lib_name)

    async def main():
        entered = asyncio.Event()

        async def handler(websocket):
            entered.set()
            async for _ in websocket:
                pass

        server = await lib.server.serve(handler, "127.0.0.1", 0)
        websocket = await lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/")
        await entered.wait()
        server.close()
        await server.wait_closed()
        await websocket.wait_closed()
        assert websocket.close_code == 1001

    run(main())


@scenarios
def test_unix_socket_server(lib_name):
    lib = load(lib_name)

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "socket")
            async with lib.server.unix_serve(echo, path):
                async with lib.client.unix_connect(path) as websocket:
                    await websocket.send("unix")
                    assert await websocket.recv() == "unix"

    run(main())


@scenarios
def test_handler_exception_closes_1011(lib_name):
    lib = load(lib_name)

    async def handler(websocket):
        raise RuntimeError("bug in handler")

    async def main():
        async with lib.server.serve(handler, "127.0.0.1", 0) as server:
            async with lib.client.connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket:
                with pytest.raises(lib.exceptions.ConnectionClosedError):
                    await websocket.recv()
            assert websocket.close_code == 1011

    run(main())


@scenarios
def test_top_level_deprecated_names(lib_name):
    lib = load(lib_name)
    with pytest.warns(DeprecationWarning):
        server_protocol = lib.top.WebSocketServerProtocol
    assert server_protocol is lib.server.WebSocketServerProtocol
    with pytest.warns(DeprecationWarning):
        assert issubclass(lib.top.WebSocketClientProtocol, lib.protocol.WebSocketCommonProtocol)
