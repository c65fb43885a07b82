"""The legacy implementation against websockets' own legacy client and server,
both directions, on real sockets: messages, handshake hooks, closing."""

import asyncio
import http
import warnings

import pytest
from conftest import run

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import websockets.legacy.client as peer_client
    import websockets.legacy.server as peer_server
    from websockets import exceptions as peer_exceptions
    from websockets.exceptions import InvalidStatusCode as PeerInvalidStatusCode

    from websockets_fast.legacy.client import WebSocketClientProtocol, connect, unix_connect
    from websockets_fast.legacy.exceptions import InvalidStatusCode
    from websockets_fast.legacy.server import WebSocketServerProtocol, serve, unix_serve

from websockets_fast.exceptions import ConcurrencyError, ConnectionClosedError, ConnectionClosedOK, InvalidHandshake

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def port_of(server):
    return server.sockets[0].getsockname()[1]


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def exchange(ws):
    """What a client sees of an echo server, message kinds included."""
    results = []
    for message in ["hello", b"\x00\xff", "é" * 1000, b"x" * 100_000, ""]:
        await ws.send(message)
        results.append(await ws.recv())
    await ws.send(["frag", "mented"])
    results.append(await ws.recv())
    await ws.send([b"a", b"b", b"c"])
    results.append(await ws.recv())

    async def chunks():
        yield "as"
        yield "ync"

    await ws.send(chunks())
    results.append(await ws.recv())
    return results


EXPECTED = ["hello", b"\x00\xff", "é" * 1000, b"x" * 100_000, "", "fragmented", b"abc", "async"]


@pytest.mark.parametrize("compression", ["deflate", None])
def test_our_server_peer_client(compression):
    async def main():
        async with serve(echo, "127.0.0.1", 0, compression=compression) as server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/", compression=compression) as ws:
                assert await exchange(ws) == EXPECTED
                latency = await (await ws.ping())
                assert latency >= 0
                assert ws.extensions != [] if compression else ws.extensions == []
            assert ws.close_code == 1000

    run(main())


@pytest.mark.parametrize("compression", ["deflate", None])
def test_our_client_peer_server(compression):
    async def main():
        async with peer_server.serve(echo, "127.0.0.1", 0, compression=compression) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=compression) as ws:
                assert await exchange(ws) == EXPECTED
                latency = await (await ws.ping())
                assert latency >= 0 and ws.latency == latency
                assert (ws.extensions != []) == (compression is not None)
            assert ws.closed
            assert ws.close_code == 1000

    run(main())


def test_our_client_our_server():
    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                assert await exchange(ws) == EXPECTED
                await ws.pong(b"unsolicited")
                assert ws.open and not ws.closed
                assert ws.local_address[0] == "127.0.0.1"
                assert ws.remote_address[1] == port_of(server)
            assert ws.close_code == 1000 and ws.close_reason == ""
            assert not ws.open

    run(main())


def test_path_headers_and_subprotocol_seen_by_handler():
    async def main():
        seen = {}

        async def handler(ws):
            seen["path"] = ws.path
            seen["agent"] = ws.request_headers["X-Test"]
            seen["subprotocol"] = ws.subprotocol
            seen["response"] = ws.response_headers["X-Extra"]
            await ws.send("done")

        async with serve(
            handler, "127.0.0.1", 0, subprotocols=["chat", "superchat"], extra_headers=[("X-Extra", "1")]
        ) as server:
            async with peer_client.connect(
                f"ws://127.0.0.1:{port_of(server)}/path?q=1",
                subprotocols=["superchat", "chat"],
                extra_headers={"X-Test": "yes"},
            ) as ws:
                assert await ws.recv() == "done"
                assert ws.subprotocol == "chat"
                assert ws.response_headers["X-Extra"] == "1"
        # Equal weights: chat is 0 + 1, superchat is 1 + 0; the name breaks the tie.
        assert seen == {"path": "/path?q=1", "agent": "yes", "subprotocol": "chat", "response": "1"}

    run(main())


def test_extra_headers_callable_and_mapping():
    async def main():
        def extra(path, request_headers):
            return {"X-Path": path}

        async with serve(echo, "127.0.0.1", 0, extra_headers=extra) as server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/abc") as ws:
                assert ws.response_headers["X-Path"] == "/abc"
        async with serve(echo, "127.0.0.1", 0, extra_headers={"X-Map": "m"}) as server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                assert ws.response_headers["X-Map"] == "m"

    run(main())


def test_process_request_argument_async_and_sync():
    async def main():
        async def health(path, request_headers):
            if path == "/health":
                return http.HTTPStatus.OK, [("X-Health", "ok")], b"OK\n"
            return None

        async with serve(echo, "127.0.0.1", 0, process_request=health) as server:
            with pytest.raises(PeerInvalidStatusCode) as info:
                await peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/health")
            assert info.value.status_code == 200
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/other") as ws:
                await ws.send("x")
                assert await ws.recv() == "x"

        def forbid(path, request_headers):
            return 403, {}, b"no\n"

        async with serve(echo, "127.0.0.1", 0, process_request=forbid) as server:
            with pytest.warns(DeprecationWarning, match="coroutine"):
                with pytest.raises(InvalidStatusCode) as info:
                    await connect(f"ws://127.0.0.1:{port_of(server)}/")
            assert info.value.status_code == 403

    run(main())


class TokenServerProtocol(WebSocketServerProtocol):
    async def process_request(self, path, request_headers):
        if request_headers.get("Authorization") != "Bearer good":
            return http.HTTPStatus.UNAUTHORIZED, [], b"who are you?\n"
        self.user = "alice"  # programs keep state on the connection
        return await super().process_request(path, request_headers)


def test_process_request_method_in_subclass():
    async def main():
        async def handler(ws):
            await ws.send(ws.user)

        async with serve(handler, "127.0.0.1", 0, create_protocol=TokenServerProtocol) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            with pytest.raises(PeerInvalidStatusCode) as info:
                await peer_client.connect(uri)
            assert info.value.status_code == 401
            async with peer_client.connect(uri, extra_headers={"Authorization": "Bearer good"}) as ws:
                assert await ws.recv() == "alice"

    run(main())


def test_origins_and_select_subprotocol_argument():
    async def main():
        def pick(client, server):
            return client[-1]

        async with serve(
            echo, "127.0.0.1", 0, origins=["https://ok"], subprotocols=["a", "b"], select_subprotocol=pick
        ) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            with pytest.raises(PeerInvalidStatusCode) as info:
                await peer_client.connect(uri, origin="https://evil")
            assert info.value.status_code == 403
            async with peer_client.connect(uri, origin="https://ok", subprotocols=["a", "b"]) as ws:
                assert ws.subprotocol == "b"

    run(main())


def test_handler_with_path_argument_is_deprecated_but_works():
    async def main():
        async def handler(ws, path):
            await ws.send(path)

        with pytest.warns(DeprecationWarning, match="second argument"):
            server = await serve(handler, "127.0.0.1", 0)
        async with server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/p") as ws:
                assert await ws.recv() == "/p"

    run(main())


def test_close_codes_both_ways():
    async def main():
        async def handler(ws):
            await ws.close(4000, "bye")

        async with serve(handler, "127.0.0.1", 0) as server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                with pytest.raises(peer_exceptions.ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 4000 and info.value.rcvd.reason == "bye"

        async with peer_server.serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 4000
            assert ws.close_code == 4000 and ws.close_reason == "bye"

        async def ok(ws):
            await ws.close()

        async with serve(ok, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()
                # Closed: send() raises too.
                with pytest.raises(ConnectionClosedOK):
                    await ws.send("late")

    run(main())


def test_messages_queued_before_close_are_received():
    async def main():
        async def handler(ws):
            for i in range(5):
                await ws.send(str(i))
            await ws.close()

        async with peer_server.serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                await ws.wait_closed()
                assert [message async for message in ws] == ["0", "1", "2", "3", "4"]

    run(main())


def test_handler_exception_closes_1011():
    async def main():
        async def handler(ws):
            raise RuntimeError("boom")

        async with serve(handler, "127.0.0.1", 0) as server:
            async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                with pytest.raises(peer_exceptions.ConnectionClosedError):
                    await ws.recv()
            assert ws.close_code == 1011

    run(main())


def test_concurrent_recv_is_an_error():
    async def main():
        async with peer_server.serve(echo, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                first = asyncio.ensure_future(ws.recv())
                await asyncio.sleep(0)
                with pytest.raises(ConcurrencyError):
                    await ws.recv()
                await ws.send("unblock")
                assert await first == "unblock"

    run(main())


def test_our_client_follows_redirects_and_reports_status():
    async def main():
        async def redirect(path, request_headers):
            if path == "/old":
                return http.HTTPStatus.FOUND, [("Location", "/new")], b""
            if path == "/missing":
                return http.HTTPStatus.NOT_FOUND, [], b"not here\n"
            return None

        async def handler(ws):
            await ws.send(ws.path)

        async with peer_server.serve(handler, "127.0.0.1", 0, process_request=redirect) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/old") as ws:
                assert await ws.recv() == "/new"
            with pytest.raises(InvalidStatusCode) as info:
                await connect(f"ws://127.0.0.1:{port_of(server)}/missing")
            assert info.value.status_code == 404
            assert isinstance(info.value, InvalidHandshake)

    run(main())


def test_reconnecting_iterator():
    async def main():
        attempts = []

        async def flaky(path, request_headers):
            attempts.append(path)
            if len(attempts) < 3:
                return http.HTTPStatus.SERVICE_UNAVAILABLE, [], b"later\n"
            return None

        async def handler(ws):
            await ws.send("in")

        class FastConnect(connect):
            BACKOFF_INITIAL = 0
            BACKOFF_MIN = 0.01
            BACKOFF_FACTOR = 1.5

        async with peer_server.serve(handler, "127.0.0.1", 0, process_request=flaky) as server:
            async for ws in FastConnect(f"ws://127.0.0.1:{port_of(server)}/"):
                assert await ws.recv() == "in"
                break
        assert len(attempts) == 3

    run(main())


def test_unix_sockets(tmp_path):
    async def main():
        path = str(tmp_path / "legacy.sock")
        async with unix_serve(echo, path):
            async with unix_connect(path) as ws:
                await ws.send("over unix")
                assert await ws.recv() == "over unix"
            async with peer_client.unix_connect(path) as ws:
                await ws.send("peer over unix")
                assert await ws.recv() == "peer over unix"

    run(main())


def test_server_close_closes_connections_1001():
    async def main():
        entered = asyncio.Event()

        async def handler(ws):
            entered.set()
            await ws.wait_closed()

        server = await serve(handler, "127.0.0.1", 0)
        async with peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
            await entered.wait()
            assert len(server.websockets) == 1
            server.close()
            await server.wait_closed()
            with pytest.raises(peer_exceptions.ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1001
        assert not server.websockets

    run(main())


def test_client_protocol_subclass_and_headers():
    async def main():
        class Client(WebSocketClientProtocol):
            pass

        seen = {}

        async def handler(ws):
            seen["agent"] = ws.request_headers.get("User-Agent")
            seen["extra"] = ws.request_headers.get("X-Client")
            await ws.send("hi")

        async with peer_server.serve(handler, "127.0.0.1", 0) as server:
            ws = await connect(
                f"ws://127.0.0.1:{port_of(server)}/",
                create_protocol=Client,
                extra_headers=[("X-Client", "c")],
                user_agent_header="agent/1",
            )
            assert isinstance(ws, Client)
            assert await ws.recv() == "hi"
            assert ws.request_headers["X-Client"] == "c"
            assert ws.response_headers["Upgrade"].lower() == "websocket"
            await ws.close()
        assert seen == {"agent": "agent/1", "extra": "c"}

    run(main())


@pytest.mark.parametrize("server_kind", ["websockets", "ours"])
def test_client_subclass_negotiates_through_its_overrides(server_kind):
    """process_extensions and process_subprotocol of a WebSocketClientProtocol
    subclass decide the negotiation, as in websockets.legacy: static methods
    or plain ones, their exceptions failing the handshake."""
    server_serve = peer_server.serve if server_kind == "websockets" else serve
    calls = []

    class Recording(WebSocketClientProtocol):
        @staticmethod
        def process_extensions(headers, available_extensions):
            calls.append(("extensions", headers["Sec-WebSocket-Extensions"], len(available_extensions)))
            return WebSocketClientProtocol.process_extensions(headers, available_extensions)

        def process_subprotocol(self, headers, available_subprotocols):
            calls.append(("subprotocol", headers["Sec-WebSocket-Protocol"], available_subprotocols))
            return "chat"

    class RefusesDeflate(WebSocketClientProtocol):
        @staticmethod
        def process_extensions(headers, available_extensions):
            raise InvalidHandshake("no deflate here")

    class RefusesSubprotocol(WebSocketClientProtocol):
        @staticmethod
        def process_subprotocol(headers, available_subprotocols):
            raise InvalidHandshake(f"not {headers['Sec-WebSocket-Protocol']}")

    async def handler(ws):
        # Compressible, so that the deflate negotiated is in use at once.
        await ws.send("negotiated " * 50)
        await ws.wait_closed()

    async def main():
        async with server_serve(handler, "127.0.0.1", 0, subprotocols=["chat", "superchat"]) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri, create_protocol=Recording, subprotocols=["chat"]) as ws:
                assert await ws.recv() == "negotiated " * 50
                assert ws.subprotocol == "chat"
                assert [type(extension).__name__ for extension in ws.extensions] == ["PerMessageDeflate"]
            assert [call[0] for call in calls] == ["extensions", "subprotocol"]
            assert calls[0][1].startswith("permessage-deflate") and calls[0][2] == 1
            assert calls[1][1:] == ("chat", ["chat"])
            with pytest.raises(InvalidHandshake, match="no deflate here"):
                await connect(uri, create_protocol=RefusesDeflate)
            with pytest.raises(InvalidHandshake, match="not chat"):
                await connect(uri, create_protocol=RefusesSubprotocol, subprotocols=["chat"])

    run(main())
