"""The rest of the asyncio API: reconnection, redirects, TLS, auth, proxies, hooks, server control."""

import asyncio
import http
import os
import socket
import ssl

import pytest
import trustme
from conftest import run

from websockets_fast.asyncio.client import connect, unix_connect
from websockets_fast.asyncio.server import basic_auth, serve, unix_serve
from websockets_fast.exceptions import ConnectionClosedOK, InvalidStatus, SecurityError


def port_of(server):
    return server.sockets[0].getsockname()[1]


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


def no_delays():
    while True:
        yield 0


# Reconnection


def test_connect_iterator_reconnects_after_transient_errors():
    attempts = []

    def process_request(connection, request):
        attempts.append(1)
        if len(attempts) < 3:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "later\n")
        return None

    async def handler(websocket):
        await websocket.send("welcome")

    async def main():
        async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async for ws in connect(uri, reconnect_delays=no_delays):
                assert await ws.recv() == "welcome"
                break
        assert len(attempts) == 3

    run(main())


def test_connect_iterator_raises_fatal_errors():
    def process_request(connection, request):
        return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    async def main():
        async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
            with pytest.raises(InvalidStatus) as info:
                async for _ in connect(f"ws://127.0.0.1:{port_of(server)}/", reconnect_delays=no_delays):
                    raise AssertionError("connected")
            assert info.value.response.status_code == 403

    run(main())


# Redirects


def test_redirect_followed():
    async def main():
        async with serve(echo, "127.0.0.1", 0) as target:
            target_uri = f"ws://127.0.0.1:{port_of(target)}/there"

            def process_request(connection, request):
                response = connection.respond(http.HTTPStatus.FOUND, "")
                response.headers["Location"] = target_uri
                return response

            async with serve(echo, "127.0.0.1", 0, process_request=process_request) as redirector:
                async with connect(f"ws://127.0.0.1:{port_of(redirector)}/here") as ws:
                    assert ws.request.path == "/there"
                    await ws.send("hop")
                    assert await ws.recv() == "hop"

    run(main())


def test_redirect_loop_is_bounded():
    def process_request(connection, request):
        response = connection.respond(http.HTTPStatus.FOUND, "")
        response.headers["Location"] = "/again"
        return response

    async def main():
        async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
            with pytest.raises(SecurityError):
                await connect(f"ws://127.0.0.1:{port_of(server)}/")

    run(main())


# TLS


def test_wss_with_ssl_context():
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(server_context)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_context)

    async def main():
        async with serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context) as ws:
                await ws.send("secret")
                assert await ws.recv() == "secret"
                assert ws.transport.get_extra_info("ssl_object") is not None
            assert ws.close_code == 1000
        with pytest.raises(ValueError):
            connect("ws://127.0.0.1/", ssl=client_context)

    run(main())


# Authentication and hooks


def test_basic_auth_from_uri_userinfo():
    async def handler(websocket):
        await websocket.send(websocket.username)

    async def main():
        auth = basic_auth(realm="test", credentials=("alice", "s3cret"))
        async with serve(handler, "127.0.0.1", 0, process_request=auth) as server:
            port = port_of(server)
            async with connect(f"ws://alice:s3cret@127.0.0.1:{port}/") as ws:
                assert await ws.recv() == "alice"
            with pytest.raises(InvalidStatus) as info:
                await connect(f"ws://alice:wrong@127.0.0.1:{port}/")
            assert info.value.response.status_code == 401
            assert "WWW-Authenticate" in info.value.response.headers
            with pytest.raises(InvalidStatus):
                await connect(f"ws://127.0.0.1:{port}/")

    run(main())


def test_basic_auth_check_credentials_async():
    async def check(username, password):
        return password == username[::-1]

    async def handler(websocket):
        await websocket.send(websocket.username)

    async def main():
        async with serve(handler, "127.0.0.1", 0, process_request=basic_auth(check_credentials=check)) as server:
            async with connect(f"ws://bob:bob@127.0.0.1:{port_of(server)}/") as ws:
                assert await ws.recv() == "bob"
        with pytest.raises(ValueError):
            basic_auth()
        with pytest.raises(TypeError):
            basic_auth(credentials=42)

    run(main())


@pytest.mark.parametrize("is_async", [False, True])
def test_process_request_and_response_hooks(is_async):
    def process_request(connection, request):
        if request.path == "/forbidden":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Forbidden\n")
        return None

    def process_response(connection, request, response):
        response.headers["X-Hook"] = "seen"
        return None

    if is_async:
        sync_request, sync_response = process_request, process_response

        async def process_request(connection, request):
            return sync_request(connection, request)

        async def process_response(connection, request, response):
            return sync_response(connection, request, response)

    async def main():
        async with serve(
            echo, "127.0.0.1", 0, process_request=process_request, process_response=process_response
        ) as server:
            port = port_of(server)
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                assert ws.response.headers["X-Hook"] == "seen"
            with pytest.raises(InvalidStatus) as info:
                await connect(f"ws://127.0.0.1:{port}/forbidden")
            assert info.value.response.status_code == 403
            assert info.value.response.body == b"Forbidden\n"

    run(main())


def test_process_request_error_is_500():
    def process_request(connection, request):
        raise RuntimeError("bug in hook")

    async def main():
        async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
            with pytest.raises(InvalidStatus) as info:
                await connect(f"ws://127.0.0.1:{port_of(server)}/")
            assert info.value.response.status_code == 500

    run(main())


def test_select_subprotocol_and_headers():
    def select(connection, offered):
        assert connection.request.path == "/"
        return "second" if "second" in offered else None

    async def handler(websocket):
        await websocket.send(websocket.request.headers["X-Extra"])

    async def main():
        async with serve(handler, "127.0.0.1", 0, subprotocols=["first", "second"], select_subprotocol=select) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(
                uri, subprotocols=["first", "second"], additional_headers={"X-Extra": "yes"}, user_agent_header=None
            ) as ws:
                assert ws.subprotocol == "second"
                assert await ws.recv() == "yes"
                assert "User-Agent" not in ws.request.headers

    run(main())


# Server control


def test_close_without_closing_connections():
    async def main():
        server = await serve(echo, "127.0.0.1", 0)
        ws = await connect(f"ws://127.0.0.1:{port_of(server)}/")
        server.close(close_connections=False)
        # The connection keeps working while the server waits for it.
        await ws.send("still here")
        assert await ws.recv() == "still here"
        assert not server.is_serving()
        await ws.close()
        await server.wait_closed()

    run(main())


def test_serve_forever_cancelled_closes():
    async def main():
        server = await serve(echo, "127.0.0.1", 0)
        ws = await connect(f"ws://127.0.0.1:{port_of(server)}/")
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()

    run(main())


def test_start_serving_false_and_sockets():
    async def main():
        server = await serve(echo, "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving()
        assert len(server.sockets) == 1
        await server.start_serving()
        async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
        server.close()
        await server.wait_closed()

    run(main())


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_reuse_port_reaches_create_server():
    async def main():
        async with serve(echo, "127.0.0.1", 0, reuse_port=True) as server:
            sock = server.sockets[0]
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
            async with serve(echo, "127.0.0.1", port_of(server), reuse_port=True) as twin:
                assert port_of(twin) == port_of(server)

    run(main())


def test_existing_socket():
    async def main():
        sock = socket.create_server(("127.0.0.1", 0))
        async with serve(echo, sock=sock) as server:
            client_sock = socket.create_connection(("127.0.0.1", port_of(server)))
            async with connect("ws://127.0.0.1/", sock=client_sock) as ws:
                await ws.send("sock")
                assert await ws.recv() == "sock"

    run(main())


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_unix_sockets(tmp_path):
    path = os.path.join(str(tmp_path), "ws.sock")

    async def main():
        async with unix_serve(echo, path):
            async with unix_connect(path) as ws:
                await ws.send("unix")
                assert await ws.recv() == "unix"

    run(main())


# Proxies


async def http_connect_proxy(seen):
    """A minimal HTTP CONNECT proxy on 127.0.0.1."""

    async def pipe(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n")[0].split(b" ")
        seen.append((method, target))
        host, port = target.rsplit(b":", 1)
        up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_http_connect_proxy():
    async def main():
        seen = []
        proxy = await http_connect_proxy(seen)
        try:
            async with serve(echo, "127.0.0.1", 0) as server:
                port = port_of(server)
                proxy_uri = f"http://127.0.0.1:{port_of(proxy)}"
                async with connect(f"ws://127.0.0.1:{port}/", proxy=proxy_uri) as ws:
                    await ws.send("via proxy")
                    assert await ws.recv() == "via proxy"
                assert seen == [(b"CONNECT", f"127.0.0.1:{port}".encode())]
        finally:
            proxy.close()

    run(main())


def test_http_proxy_refusal():
    async def main():
        async def refuse(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        proxy = await asyncio.start_server(refuse, "127.0.0.1", 0)
        try:
            from websockets_fast.exceptions import InvalidProxyStatus

            with pytest.raises(InvalidProxyStatus):
                await connect("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{port_of(proxy)}")
        finally:
            proxy.close()

    run(main())


async def socks5_proxy(seen):
    """A minimal SOCKS5 proxy (no authentication, CONNECT only) on 127.0.0.1."""

    async def pipe(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(reader, writer):
        version, count = await reader.readexactly(2)
        await reader.readexactly(count)
        writer.write(b"\x05\x00")  # no authentication
        version, command, _, address_type = await reader.readexactly(4)
        if address_type == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        else:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        port = int.from_bytes(await reader.readexactly(2), "big")
        seen.append((host, port))
        up_reader, up_writer = await asyncio.open_connection(host, port)
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\x00\x00")
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_socks5_proxy():
    pytest.importorskip("python_socks")

    async def main():
        seen = []
        proxy = await socks5_proxy(seen)
        try:
            async with serve(echo, "127.0.0.1", 0) as server:
                port = port_of(server)
                async with connect(f"ws://127.0.0.1:{port}/", proxy=f"socks5h://127.0.0.1:{port_of(proxy)}") as ws:
                    await ws.send("via socks")
                    assert await ws.recv() == "via socks"
                assert seen == [("127.0.0.1", port)]
        finally:
            proxy.close()

    run(main())


def test_proxy_from_environment(monkeypatch):
    async def main():
        seen = []
        proxy = await http_connect_proxy(seen)
        try:
            async with serve(echo, "127.0.0.1", 0) as server:
                port = port_of(server)
                monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port_of(proxy)}")
                monkeypatch.delenv("no_proxy", raising=False)
                monkeypatch.delenv("NO_PROXY", raising=False)
                async with connect(f"ws://127.0.0.1:{port}/") as ws:
                    await ws.send("env")
                    assert await ws.recv() == "env"
                assert len(seen) == 1
                # proxy=None ignores the environment.
                async with connect(f"ws://127.0.0.1:{port}/", proxy=None) as ws:
                    await ws.send("direct")
                    assert await ws.recv() == "direct"
                assert len(seen) == 1
        finally:
            proxy.close()

    run(main())
