"""The libraries under test, each behind the same small adapter.

Every library gets an echo *server* and a *client*. The workload loops
(echo, pipelined, broadcast receive) live in the client adapters themselves,
written in each library's own idiom, so that no generic wrapper adds a layer
to one library's hot path and not another's.

Libraries:

- ``websockets``: websockets' asyncio implementation (the API we mirror);
- ``websockets_fast``: this project, through the same API;
- ``picows.websockets``: picows's websockets-API layer, the same API again;
- ``picows``: the picows core API (listener callbacks, no compression);
- ``aiohttp``: aiohttp's server and ``ClientSession.ws_connect``;
- ``raw TCP``: no WebSocket at all, an :class:`asyncio.Protocol` echoing
  bytes: the floor that any library on asyncio pays for the same echo (echo
  workloads only).

The first three share one adapter, :class:`WebsocketsAPI`, parameterised by
the modules it imports.

Settings are one dict, equal for every library (see ``suite.SETTINGS``):
``max_size`` (bytes), ``compression`` (bool: permessage-deflate offered by
the client and accepted by the server), ``backlog`` (listen backlog) and
keepalive, which is always off.
"""

from __future__ import annotations

import asyncio
import importlib
import time
import warnings
from collections import deque

# Display order in tables and plots; the first is the library under test.
LIBRARIES = (
    "websockets_fast",
    "websockets",
    "picows.websockets",
    "picows",
    "aiohttp",
    "raw TCP",
    # The legacy implementations, side by side (their own API, mirrored).
    "websockets_fast.legacy",
    "websockets.legacy",
)

# Libraries that run the echo workloads only.
ECHO_ONLY = ("raw TCP",)

# Reference columns of the table: ratios are computed against these.
REFERENCES = ("websockets", "picows.websockets")

HOST = "127.0.0.1"


class EchoMismatch(AssertionError):
    """An echoed message differs from what was sent."""


class Unsupported(Exception):
    """The library cannot run this workload with these settings."""


def _check(reply, expected):
    if reply != expected:
        got = len(reply) if isinstance(reply, (bytes, bytearray, memoryview)) else type(reply).__name__
        raise EchoMismatch(f"echo mismatch: sent {len(expected)} bytes, got {got}")


def library_version(name: str) -> str:
    """Return the installed version of a library, or raise ImportError."""
    if name.split(".")[0].split("+")[0] == "websockets_fast":  # "+loop TLS": see instructions.py
        import websockets_fast
        from websockets_fast import speedups

        version = getattr(websockets_fast, "__version__", None)
        if version is None:
            from websockets_fast.version import __version__ as version
        return f"{version} ({speedups.BACKEND})"
    if name == "raw TCP":
        import platform

        return f"asyncio of {platform.python_implementation()} {platform.python_version()}"
    top = name.split(".")[0]
    module = importlib.import_module(top)
    version = getattr(module, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version(top)
    return str(version)


# --------------------------------------------------------------------------
# The websockets API: websockets, websockets_fast, picows.websockets


_WEBSOCKETS_API_MODULES = {
    # name: (module with connect, module with serve and broadcast)
    "websockets": ("websockets.asyncio.client", "websockets.asyncio.server"),
    "websockets_fast": ("websockets_fast.asyncio.client", "websockets_fast.asyncio.server"),
    "picows.websockets": ("picows.websockets", "picows.websockets"),
    "websockets_fast.legacy": ("websockets_fast.legacy.client", "websockets_fast.legacy.server"),
    "websockets.legacy": ("websockets.legacy.client", "websockets.legacy.server"),
}


def tls_contexts(files: dict):
    """``(server context, client context)`` for the wss:// rows, from the
    PEM files that the orchestrating process wrote (see suite._tls_files):
    ``files["chain"]`` holds the server's key and certificate, ``files["ca"]``
    the authority that the client trusts."""
    import ssl

    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files["chain"])
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(files["ca"])
    return server, client


class WebsocketsAPI:
    """Client and server for any library with websockets' asyncio API."""

    def __init__(self, name: str):
        client_module, server_module = _WEBSOCKETS_API_MODULES[name]
        with warnings.catch_warnings():
            # The legacy packages warn that they are deprecated.
            warnings.simplefilter("ignore", DeprecationWarning)
            client = importlib.import_module(client_module)
            server = importlib.import_module(server_module)
        self._connect = client.connect
        self._serve = server.serve
        self._broadcast = server.broadcast
        self._server = None
        self.connections: set = set()

    # -- server --

    async def start_server(self, settings: dict, push: bool = False) -> int:
        """Start an echo server, or with ``push`` a server that answers a
        client's one request (see :meth:`push`) with a stream of messages."""
        connections = self.connections

        async def echo(ws):
            connections.add(ws)
            try:
                async for message in ws:
                    await ws.send(message)
            finally:
                connections.discard(ws)

        async def pusher(ws):
            connections.add(ws)
            try:
                count, batch, message = (await ws.recv()).split(" ", 2)
                count, batch = int(count), int(batch)
                for start in range(0, count, batch):
                    for _ in range(min(batch, count - start)):
                        await ws.send(message)
                    # The client's acknowledgement of the whole batch.
                    await ws.recv()
                # The client closes once it has them all; returning earlier
                # would race the close with its last reads.
                await ws.wait_closed()
            finally:
                connections.discard(ws)

        kwargs = {}
        if settings.get("tls"):
            kwargs["ssl"] = tls_contexts(settings["tls"])[0]
        self._server = await self._serve(
            pusher if push else echo,
            HOST,
            0,
            compression="deflate" if settings["compression"] else None,
            max_size=settings["max_size"],
            ping_interval=None,
            backlog=settings["backlog"],
            **kwargs,
        )
        return self._server.sockets[0].getsockname()[1]

    async def stop_server(self) -> None:
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 10)

    def broadcast(self, payload: bytes) -> int:
        self._broadcast(self.connections, payload)
        return len(self.connections)

    # -- client --

    async def open(self, uri: str, settings: dict, sock=None):
        kwargs = {}
        if sock is not None:
            # Connected already; the URI gives the Host header.
            kwargs["sock"] = sock
        if settings.get("tls"):
            kwargs["ssl"] = tls_contexts(settings["tls"])[1]
        return await self._connect(
            uri,
            compression="deflate" if settings["compression"] else None,
            max_size=settings["max_size"],
            ping_interval=None,
            open_timeout=30,
            close_timeout=10,
            **kwargs,
        )

    async def close(self, ws) -> None:
        await ws.close()

    async def send(self, ws, payload: bytes) -> None:
        await ws.send(payload)

    async def recv(self, ws) -> bytes:
        return await ws.recv()

    async def echo(self, ws, payload: bytes, count: int, deadline: float) -> int:
        send, recv, clock = ws.send, ws.recv, time.monotonic
        for i in range(count):
            await send(payload)
            reply = await recv()
            if reply != payload:
                _check(reply, payload)
            if clock() > deadline:
                return i + 1
        return count

    async def push(self, ws, message: str, count: int, batch: int, expect=None) -> int:
        """Ask a push server for ``count`` copies of ``message`` (text), sent
        ``batch`` at a time, and receive each with ``recv()``. The client
        acknowledges each batch with an empty message, which lets the server
        send the next one. Before the request and each acknowledgement,
        ``expect(n)`` (if given) hears how many messages the server sends
        next (0 at the end)."""
        recv, send = ws.recv, ws.send
        if expect is not None:
            expect(min(batch, count))
        await send(f"{count} {batch} {message}")
        for start in range(0, count, batch):
            for _ in range(min(batch, count - start)):
                reply = await recv()
                if reply != message:
                    _check(reply, message)
            if expect is not None:
                expect(min(batch, count - start - batch) if start + batch < count else 0)
            await send("")
        return count

    async def pipeline(self, ws, payloads: list) -> None:
        async def sender():
            for payload in payloads:
                await ws.send(payload)

        task = asyncio.ensure_future(sender())
        try:
            recv = ws.recv
            for expected in payloads:
                reply = await recv()
                if reply != expected:
                    _check(reply, expected)
            await task
        finally:
            task.cancel()


# --------------------------------------------------------------------------
# picows core API


def _picows_classes():
    import picows

    class CoreEchoListener(picows.WSListener):
        """Server side: echo every message, assembling fragments if any."""

        def __init__(self, registry: set):
            self.registry = registry
            self.parts: list = []
            self.first_type = None

        def on_ws_connected(self, transport):
            self.registry.add(transport)

        def on_ws_disconnected(self, transport):
            self.registry.discard(transport)

        def on_ws_frame(self, transport, frame):
            msg_type = frame.msg_type
            if msg_type == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
                return
            if msg_type == picows.WSMsgType.CONTINUATION:
                self.parts.append(frame.get_payload_as_bytes())
            elif msg_type in (picows.WSMsgType.BINARY, picows.WSMsgType.TEXT):
                if frame.fin:
                    # The common case: a whole message in one frame, echoed
                    # straight from picows's read buffer.
                    transport.send(msg_type, frame.get_payload_as_memoryview())
                    return
                self.first_type = msg_type
                self.parts = [frame.get_payload_as_bytes()]
            else:
                return  # pings are answered by picows itself
            if frame.fin:
                transport.send(self.first_type, b"".join(self.parts))
                self.parts = []

    class CoreClientListener(picows.WSListener):
        """Client side: queue received messages for ``recv()``."""

        def __init__(self):
            self.transport = None
            self.messages: deque = deque()
            self.waiter = None
            self.parts: list = []
            self.closed = False

        def on_ws_connected(self, transport):
            self.transport = transport

        def on_ws_disconnected(self, transport):
            self.closed = True
            self._wake()

        def _wake(self):
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

        def on_ws_frame(self, transport, frame):
            msg_type = frame.msg_type
            if msg_type == picows.WSMsgType.CLOSE:
                if not transport.is_close_frame_sent:
                    transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if msg_type in (picows.WSMsgType.BINARY, picows.WSMsgType.TEXT):
                if frame.fin:
                    self.messages.append(frame.get_payload_as_bytes())
                    self._wake()
                else:
                    self.parts = [frame.get_payload_as_bytes()]
            elif msg_type == picows.WSMsgType.CONTINUATION:
                self.parts.append(frame.get_payload_as_bytes())
                if frame.fin:
                    self.messages.append(b"".join(self.parts))
                    self.parts = []
                    self._wake()

        async def recv(self) -> bytes:
            messages = self.messages
            while not messages:
                if self.closed:
                    raise ConnectionError("connection closed")
                self.waiter = asyncio.get_running_loop().create_future()
                await self.waiter
                self.waiter = None
            return messages.popleft()

    return picows, CoreEchoListener, CoreClientListener


class PicowsCore:
    """Client and server for the picows core API (no permessage-deflate)."""

    def __init__(self, name: str = "picows"):
        self._picows, self._EchoListener, self._ClientListener = _picows_classes()
        self._server = None
        self.connections: set = set()

    @staticmethod
    def _refuse_compression(settings):
        if settings["compression"]:
            raise Unsupported("the picows core API has no permessage-deflate")

    async def start_server(self, settings: dict) -> int:
        self._refuse_compression(settings)
        registry = self.connections
        self._server = await self._picows.ws_create_server(
            lambda request: self._EchoListener(registry),
            HOST,
            0,
            max_frame_size=settings["max_size"],
            enable_auto_ping=False,
            backlog=settings["backlog"],
        )
        return self._server.sockets[0].getsockname()[1]

    async def stop_server(self) -> None:
        if self._server is not None:
            for transport in list(self.connections):
                transport.disconnect()
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 10)

    def broadcast(self, payload: bytes) -> int:
        binary = self._picows.WSMsgType.BINARY
        for transport in self.connections:
            transport.send(binary, payload)
        return len(self.connections)

    async def open(self, uri: str, settings: dict):
        self._refuse_compression(settings)
        _transport, listener = await self._picows.ws_connect(
            self._ClientListener,
            uri,
            max_frame_size=settings["max_size"],
            enable_auto_ping=False,
            websocket_handshake_timeout=30,
        )
        return listener

    async def close(self, listener) -> None:
        transport = listener.transport
        transport.send_close(self._picows.WSCloseCode.OK)
        await asyncio.wait_for(transport.wait_disconnected(), 10)

    async def send(self, listener, payload: bytes) -> None:
        listener.transport.send(self._picows.WSMsgType.BINARY, payload)

    async def recv(self, listener) -> bytes:
        return await listener.recv()

    async def echo(self, listener, payload: bytes, count: int, deadline: float) -> int:
        send, recv, clock = listener.transport.send, listener.recv, time.monotonic
        binary = self._picows.WSMsgType.BINARY
        for i in range(count):
            send(binary, payload)
            reply = await recv()
            if reply != payload:
                _check(reply, payload)
            if clock() > deadline:
                return i + 1
        return count

    async def pipeline(self, listener, payloads: list) -> None:
        # picows's send never blocks: it buffers in the transport, like the
        # other libraries' writes below their write limit.
        send, recv = listener.transport.send, listener.recv
        binary = self._picows.WSMsgType.BINARY
        for payload in payloads:
            send(binary, payload)
        for expected in payloads:
            reply = await recv()
            if reply != expected:
                _check(reply, expected)


# --------------------------------------------------------------------------
# aiohttp


class Aiohttp:
    """Client and server for aiohttp (server: web.WebSocketResponse)."""

    def __init__(self, name: str = "aiohttp"):
        import aiohttp
        from aiohttp import web

        self._aiohttp = aiohttp
        self._web = web
        self._runner = None
        self._session = None
        self.connections: set = set()

    async def start_server(self, settings: dict) -> int:
        import socket

        web, aiohttp = self._web, self._aiohttp
        connections = self.connections
        binary, text = aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT

        async def echo(request):
            ws = web.WebSocketResponse(
                compress=bool(settings["compression"]),
                max_msg_size=settings["max_size"],
                heartbeat=None,
                autoping=True,
            )
            await ws.prepare(request)
            connections.add(ws)
            try:
                async for msg in ws:
                    if msg.type == binary:
                        await ws.send_bytes(msg.data)
                    elif msg.type == text:
                        await ws.send_str(msg.data)
            finally:
                connections.discard(ws)
            return ws

        app = web.Application()
        app.router.add_get("/", echo)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        # A socket bound here, so that the port is known without private API.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        site = web.SockSite(self._runner, sock, backlog=settings["backlog"])
        await site.start()
        return sock.getsockname()[1]

    async def stop_server(self) -> None:
        if self._runner is not None:
            for ws in list(self.connections):
                await ws.close()
            await asyncio.wait_for(self._runner.cleanup(), 20)

    def broadcast(self, payload: bytes) -> int:
        # aiohttp has no broadcast helper and its send_bytes is a coroutine:
        # schedule one write per connection without waiting for each.
        for ws in self.connections:
            asyncio.ensure_future(ws.send_bytes(payload))
        return len(self.connections)

    async def open(self, uri: str, settings: dict):
        if self._session is None:
            # No connection limit: the idle-memory workload opens thousands.
            connector = self._aiohttp.TCPConnector(limit=0)
            self._session = self._aiohttp.ClientSession(connector=connector)
        return await self._session.ws_connect(
            uri,
            compress=15 if settings["compression"] else 0,
            max_msg_size=settings["max_size"],
            heartbeat=None,
            autoping=True,
            timeout=self._aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10)
            if hasattr(self._aiohttp, "ClientWSTimeout")
            else 10.0,
        )

    async def close(self, ws) -> None:
        await ws.close()

    async def send(self, ws, payload: bytes) -> None:
        await ws.send_bytes(payload)

    async def recv(self, ws) -> bytes:
        return await ws.receive_bytes()

    async def echo(self, ws, payload: bytes, count: int, deadline: float) -> int:
        send, recv, clock = ws.send_bytes, ws.receive_bytes, time.monotonic
        for i in range(count):
            await send(payload)
            reply = await recv()
            if reply != payload:
                _check(reply, payload)
            if clock() > deadline:
                return i + 1
        return count

    async def pipeline(self, ws, payloads: list) -> None:
        async def sender():
            for payload in payloads:
                await ws.send_bytes(payload)

        task = asyncio.ensure_future(sender())
        try:
            recv = ws.receive_bytes
            for expected in payloads:
                reply = await recv()
                if reply != expected:
                    _check(reply, expected)
            await task
        finally:
            task.cancel()

    async def shutdown_client(self) -> None:
        if self._session is not None:
            await self._session.close()


# --------------------------------------------------------------------------
# raw TCP: the floor


class _RawEchoServer(asyncio.Protocol):
    """Writes back every chunk as it arrives."""

    def __init__(self, registry: set):
        self.registry = registry

    def connection_made(self, transport):
        self.transport = transport
        self.registry.add(transport)

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        self.registry.discard(self.transport)


class _RawEchoClient(asyncio.Protocol):
    """Collects what arrives; ``recv(n)`` returns the first ``n`` bytes."""

    def __init__(self):
        self.chunks: list = []
        self.size = 0
        self.wanted = 0
        self.waiter = None
        self.lost = None
        self.sent: deque = deque()  # sizes sent with send(), for recv()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.chunks.append(data)
        self.size += len(data)
        if self.size >= self.wanted and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc):
        self.lost = exc or ConnectionError("connection closed")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    async def recv(self, size: int) -> bytes:
        while self.size < size:
            if self.lost is not None:
                raise self.lost
            self.wanted = size
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        # One chunk is returned as it is: join and slice copy nothing then.
        data = b"".join(self.chunks)
        self.chunks = [data[size:]] if len(data) > size else []
        self.size -= size
        return data[:size]


class RawTCP:
    """An asyncio Protocol echo with no WebSocket framing, the reference for
    the echo workloads: what a round trip of the same payload costs on the
    same event loop before any library does anything."""

    def __init__(self, name: str = "raw TCP"):
        self._server = None
        self.connections: set = set()

    @staticmethod
    def _echo_only(settings):
        if settings["compression"]:
            raise Unsupported("raw TCP has no compression")

    async def start_server(self, settings: dict) -> int:
        self._echo_only(settings)
        registry = self.connections
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _RawEchoServer(registry), HOST, 0, backlog=settings["backlog"])
        return self._server.sockets[0].getsockname()[1]

    async def stop_server(self) -> None:
        if self._server is not None:
            for transport in list(self.connections):
                transport.close()
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 10)

    def broadcast(self, payload: bytes) -> int:
        raise Unsupported("raw TCP runs the echo workloads only")

    async def open(self, uri: str, settings: dict):
        from urllib.parse import urlsplit

        self._echo_only(settings)
        parts = urlsplit(uri)
        loop = asyncio.get_running_loop()
        _transport, protocol = await loop.create_connection(_RawEchoClient, parts.hostname, parts.port)
        return protocol

    async def close(self, protocol) -> None:
        protocol.transport.close()

    async def send(self, protocol, payload: bytes) -> None:
        # No framing: recv() returns as many bytes as were sent, in order.
        protocol.sent.append(len(payload))
        protocol.transport.write(payload)

    async def recv(self, protocol) -> bytes:
        return await protocol.recv(protocol.sent.popleft())

    async def echo(self, protocol, payload: bytes, count: int, deadline: float) -> int:
        write, recv, clock, size = protocol.transport.write, protocol.recv, time.monotonic, len(payload)
        for i in range(count):
            write(payload)
            reply = await recv(size)
            if reply != payload:
                _check(reply, payload)
            if clock() > deadline:
                return i + 1
        return count

    async def pipeline(self, protocol, payloads: list) -> None:
        raise Unsupported("raw TCP runs the echo workloads only")


def adapter(name: str):
    """Import a library and return its adapter; ImportError if unavailable."""
    if name in _WEBSOCKETS_API_MODULES:
        return WebsocketsAPI(name)
    if name == "picows":
        return PicowsCore()
    if name == "aiohttp":
        return Aiohttp()
    if name == "raw TCP":
        return RawTCP()
    raise ValueError(f"unknown library: {name}")
