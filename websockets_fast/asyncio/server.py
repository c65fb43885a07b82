"""
The asyncio WebSocket server: :func:`serve`, :func:`unix_serve`,
:class:`Server`, :class:`ServerConnection`, :func:`basic_auth` and
:func:`broadcast`, with the API of ``websockets.asyncio.server``.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
import socket
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Callable, Coroutine, Generator, Iterable, Optional, Sequence, Set, Tuple, Type, Union

from ..credentials import credentials_checker
from ..credentials import unauthorized as _unauthorized
from ..exceptions import InvalidHeader
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..frames import CloseCode
from ..headers import parse_authorization_basic, validate_subprotocols
from ..http11 import SERVER, Request, Response
from ..states import CONNECTING, OPEN
from ..server import ServerProtocol
from ..typing import LoggerLike, Origin, StatusLike, Subprotocol
from ..utils import get_socket_name
from . import tls
from .connection import Connection, broadcast

__all__ = ["broadcast", "serve", "unix_serve", "ServerConnection", "Server", "basic_auth"]


class ServerConnection(Connection, asyncio.Protocol):
    """
    A WebSocket connection accepted by a :class:`Server`.

    It receives with :meth:`recv` (or ``async for``) and sends with
    :meth:`send`. The keyword arguments mean the same as in :func:`serve`.

    Args:
        protocol: the Sans-I/O server protocol.
        server: the :class:`Server` that accepted the connection.
    """

    __slots__ = ("server", "username", "handler", "handler_kwargs", "_task", "_open_timer", "_open_timed_out")

    protocol: ServerProtocol
    username: str
    # Set by the router (see router.py).
    handler: Callable[..., Awaitable[None]]
    handler_kwargs: Any

    def __init__(
        self,
        protocol: ServerProtocol,
        server: Server,
        *,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = 10,
        max_queue: Union[int, None, Tuple[Optional[int], Optional[int]]] = 16,
        write_limit: Union[int, Tuple[int, Optional[int]]] = 2**15,
    ) -> None:
        super().__init__(
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        self.server = server
        self._task: Optional[asyncio.Task[None]] = None
        self._open_timer: Optional[asyncio.TimerHandle] = None
        self._open_timed_out = False

    def respond(self, status: StatusLike, text: str) -> Response:
        """
        Build a plain-text HTTP response for ``process_request`` or
        ``process_response`` to return instead of opening the connection.

        Args:
            status: HTTP status code.
            text: body, encoded to UTF-8.
        """
        return self.protocol.reject(status, text)

    async def handshake(
        self,
        process_request: Optional[Callable[[ServerConnection, Request], Union[Awaitable[Optional[Response]], Response, None]]] = None,
        process_response: Optional[Callable[[ServerConnection, Request, Response], Union[Awaitable[Optional[Response]], Response, None]]] = None,
        server_header: Optional[str] = SERVER,
    ) -> None:
        """Perform the opening handshake (the server calls it; you don't)."""
        if self.request is None:
            while self.request is None and not self._lost and not self.protocol.close_expected():
                # _wake_reader() completes this when data or EOF arrives.
                self._recv_waiter = waiter = self.loop.create_future()
                try:
                    await waiter
                finally:
                    self._recv_waiter = None
            if self.request is None:
                return  # the connection was lost or the request was invalid

        protocol = self.protocol
        request = self.request
        response: Any = None
        if process_request is not None:
            try:
                response = process_request(self, request)
                if isinstance(response, Awaitable):
                    response = await response
            except Exception as exc:
                protocol.handshake_exc = exc
                self.logger.error("process_request failed", exc_info=True)
                response = self._internal_error()
        self.response = protocol.accept(request) if response is None else response
        if server_header is not None:
            self.response.headers["Server"] = server_header

        if process_response is not None:
            try:
                response = process_response(self, request, self.response)
                if isinstance(response, Awaitable):
                    response = await response
            except Exception as exc:
                protocol.handshake_exc = exc
                self.logger.error("process_response failed", exc_info=True)
                response = self._internal_error()
            if response is not None:
                self.response = response

        # No await between this check and send_response(): a server that
        # starts closing must not open new connections.
        if self.response.status_code == 101 and not self.server.is_serving():
            self.response = protocol.reject(http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n")
        if protocol.state is CONNECTING and not self._lost:
            # Frames that came right behind the request are parsed once the
            # response is sent, a slice at a time like any read.
            early = protocol.take_early_data() if self.response.status_code == 101 else None
            protocol.send_response(self.response)
            if protocol.state is OPEN:
                self._open = True
                self._compact_handshake()
                if self._open_timer is not None:
                    self._open_timer.cancel()
                    self._open_timer = None
                if early:
                    self._unparsed = memoryview(early)
                    self._parse_unparsed()
            self._flush()
        self._release_handshake_hold()

    def _release_handshake_hold(self) -> None:
        # Reading was paused when the request arrived (see process_event);
        # the queue may have paused it again with the early frames.
        if self._reading_held:
            self._reading_held = False
            if not self._lost and not self.recv_messages.paused:
                self._resume_transport_reading()

    def _internal_error(self) -> Response:
        return self.protocol.reject(
            http.HTTPStatus.INTERNAL_SERVER_ERROR,
            "Failed to open a WebSocket connection.\nSee server log for more information.\n",
        )

    def process_event(self, event: Any) -> None:
        if self.request is None:
            # The first event is the handshake request. Read no more until
            # it is answered: a client may not send frames before the
            # response, and what an eager one sends meanwhile would pile up
            # unparsed, out of max_queue's reach, for as long as
            # process_request takes.
            self.request = event
            if not self._lost:
                self._reading_held = True
                self.transport.pause_reading()
        else:
            super().process_event(event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        open_timeout = self.server.open_timeout
        if open_timeout is not None:
            self._open_timer = self.loop.call_later(open_timeout, self._open_timeout_expired)
        # Registered now rather than inside the task, so that a server closing
        # right after this can't miss it.
        self._task = self.loop.create_task(self.server.handler(self))
        self.server.handler_tasks.add(self._task)

    def _open_timeout_expired(self) -> None:
        self._open_timer = None
        if self.protocol.state is not CONNECTING:
            return
        self._open_timed_out = True
        self._set_connection_exc(TimeoutError("timed out during opening handshake"))
        self.transport.abort()
        # The handler task may be inside process_request/process_response.
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        super().connection_lost(exc)


class Server:
    """
    The WebSocket server returned by :func:`serve`; mirrors :class:`asyncio.Server`.

    Use it as ``async with serve(...) as server:`` or ``server = await
    serve(...)``. Closing it closes open connections with 1001 by default.

    Args:
        create_server: coroutine function that creates the asyncio server.
        handler: coroutine run in one task per connection (the whole
            connection lifecycle).
        logger: logger for this server. Default ``websockets_fast.server``.
    """

    def __init__(
        self,
        create_server: Callable[[], Coroutine[Any, Any, asyncio.Server]],
        handler: Callable[[ServerConnection], Coroutine[Any, Any, None]],
        logger: Optional[LoggerLike] = None,
    ) -> None:
        self.create_server = create_server
        self.handler = handler
        if logger is None:
            logger = logging.getLogger("websockets_fast.server")
        self.logger = logger
        self.open_timeout: Optional[float] = None
        # Connections past their opening handshake, and all handler tasks.
        self.all_connections: Set[ServerConnection] = set()
        self.handler_tasks: Set[asyncio.Task[None]] = set()
        self.close_task: Optional[asyncio.Task[None]] = None
        self.handlers_waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Set by the first await (see _start).
        self.server: asyncio.Server = None  # type: ignore[assignment]

    @property
    def connections(self) -> Set[ServerConnection]:
        """Set of open connections (handshake done, closing not started)."""
        return {connection for connection in self.all_connections if connection.protocol.state is OPEN}

    def close(self, close_connections: bool = True, code: int = CloseCode.GOING_AWAY, reason: str = "") -> None:
        """
        Close the server. Idempotent; :meth:`wait_closed` waits for the end.

        Stops accepting connections; with ``close_connections`` (default
        :obj:`True`), rejects handshakes in progress with HTTP 503 and closes
        open connections with ``code`` (default 1001) and ``reason``; then
        waits for every handler to return.
        """
        if self.close_task is None:
            self.close_task = self.get_loop().create_task(self._close(close_connections, code, reason))

    async def _close(self, close_connections: bool, code: int, reason: str) -> None:
        self.logger.info("server closing")
        self.server.close()
        if close_connections:
            tasks = [
                asyncio.ensure_future(connection.close(code, reason))
                for connection in self.all_connections
                if connection.protocol.state is OPEN
            ]
            if tasks:
                await asyncio.wait(tasks)
        await self._wait_server_closed()
        if self.handler_tasks:
            await asyncio.wait(self.handler_tasks)
        self.handlers_waiter.set_result(None)
        self.logger.info("server closed")

    async def _wait_server_closed(self) -> None:
        # Python >= 3.12's wait_closed() waits for every connection; older
        # versions return at once. Either way, handlers are awaited next.
        await self.server.wait_closed()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs on."""
        return self.server.get_loop()

    def is_serving(self) -> bool:
        """Whether the server accepts new connections."""
        return self.server.is_serving()

    async def start_serving(self) -> None:
        """Start accepting connections (with ``start_serving=False``)."""
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        """Serve until cancelled or closed; cancelling closes the server."""
        try:
            if not self.is_serving():
                await self.start_serving()
            await self.wait_closed()
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection handler has returned."""
        await asyncio.shield(self.handlers_waiter)

    @property
    def sockets(self) -> Tuple[socket.socket, ...]:
        """The listening sockets."""
        return self.server.sockets

    async def _start(self) -> Server:
        if self.server is None:
            self.server = await self.create_server()
            if self.server.is_serving():
                for sock in self.server.sockets:
                    self.logger.info("server listening on %s", get_socket_name(sock))
        return self

    def __await__(self) -> Generator[Any, None, Server]:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()
        await self.wait_closed()


def serve(
    handler: Callable[[ServerConnection], Awaitable[None]],
    host: Optional[str] = None,
    port: Optional[int] = None,
    *,
    origins: Optional[Sequence[Union[Origin, re.Pattern[str], None]]] = None,
    extensions: Optional[Sequence[ServerExtensionFactory]] = None,
    subprotocols: Optional[Sequence[Subprotocol]] = None,
    select_subprotocol: Optional[Callable[[ServerConnection, Sequence[Subprotocol]], Optional[Subprotocol]]] = None,
    compression: Optional[str] = "deflate",
    process_request: Optional[Callable[[ServerConnection, Request], Union[Awaitable[Optional[Response]], Response, None]]] = None,
    process_response: Optional[Callable[[ServerConnection, Request, Response], Union[Awaitable[Optional[Response]], Response, None]]] = None,
    server_header: Optional[str] = SERVER,
    open_timeout: Optional[float] = 10,
    ping_interval: Optional[float] = 20,
    ping_timeout: Optional[float] = 20,
    close_timeout: Optional[float] = 10,
    max_size: Union[int, None, Tuple[Optional[int], Optional[int]]] = 2**20,
    max_queue: Union[int, None, Tuple[Optional[int], Optional[int]]] = 16,
    write_limit: Union[int, Tuple[int, Optional[int]]] = 2**15,
    logger: Optional[LoggerLike] = None,
    create_connection: Optional[Type[ServerConnection]] = None,
    **kwargs: Any,
) -> Server:
    """
    Create a WebSocket server listening on ``host`` and ``port``.

    Use it as ``async with serve(handler, host, port) as server:`` or
    ``server = await serve(...)``. For each connection, the opening handshake
    runs, then ``await handler(connection)``, then the closing handshake.

    Args:
        handler: coroutine function receiving a :class:`ServerConnection`.
        host: interfaces to bind; see :meth:`asyncio.loop.create_server`.
        port: TCP port.
        origins: acceptable ``Origin`` values (str, compiled regex, or
            :obj:`None` for no header). Default: any.
        extensions: server extension factories, in negotiation order.
        subprotocols: supported subprotocols, by preference.
        select_subprotocol: ``(connection, offered) -> subprotocol or None``
            to override the choice.
        compression: ``"deflate"`` (default) enables permessage-deflate;
            :obj:`None` disables it.
        process_request: ``(connection, request) -> Response or None``, sync
            or async; a response is sent instead of opening the connection.
        process_response: ``(connection, request, response) -> Response or
            None``, sync or async; a response replaces the one computed.
        server_header: ``Server`` header value; :obj:`None` omits it.
        open_timeout: seconds for the whole opening handshake, including a
            client that sends its request slowly; :obj:`None` disables it.
            Default 10.
        ping_interval, ping_timeout, close_timeout, max_queue, write_limit:
            see :class:`~websockets_fast.asyncio.connection.Connection`.
        max_size: largest incoming message in bytes (close 1009 above it);
            :obj:`None` for no limit; or ``(message, fragment)`` limits.
            Default 1 MiB.
        logger: logger. Default ``logging.getLogger("websockets_fast.server")``.
        create_connection: :class:`ServerConnection` subclass to use.

    Other keyword arguments go to :meth:`asyncio.loop.create_server`:
    ``ssl``, ``sock``, ``reuse_port``, ``backlog``, ``start_serving``...
    """
    if subprotocols is not None:
        validate_subprotocols(subprotocols)
    if compression == "deflate":
        extensions = enable_server_permessage_deflate(extensions)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    if create_connection is None:
        create_connection = ServerConnection
    unix = kwargs.pop("unix", False)

    async def create_server() -> asyncio.Server:
        loop = asyncio.get_running_loop()
        if unix:
            return await loop.create_unix_server(server_factory, **kwargs)
        return await loop.create_server(server_factory, host, port, **kwargs)

    def protocol_factory() -> ServerConnection:
        bound_select: Optional[Callable[[ServerProtocol, Sequence[Subprotocol]], Optional[Subprotocol]]] = None
        if select_subprotocol is not None:

            def bound_select(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Optional[Subprotocol]:
                # The callback receives the connection, not the protocol.
                return select_subprotocol(connection, offered)

        protocol = ServerProtocol(
            origins=origins,
            extensions=extensions,
            subprotocols=subprotocols,
            select_subprotocol=bound_select,
            max_size=max_size,
            logger=logger,
        )
        connection = create_connection(
            protocol,
            server,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        return connection

    # With ssl, our TLS layer (see tls.py) rather than asyncio's.
    server_factory = tls.wrap_server_factory(protocol_factory, kwargs, open_timeout)

    async def connection_handler(connection: ServerConnection) -> None:
        # The one task of the connection: handshake, handler, closing.
        try:
            try:
                await connection.handshake(process_request, process_response, server_header)
            except asyncio.CancelledError:
                if not connection._open_timed_out:
                    raise
                # Our open_timeout cancelled a slow process_request; the
                # transport is already aborted.
                task = asyncio.current_task()
                if task is not None and hasattr(task, "uncancel"):
                    task.uncancel()
                return
            if connection.protocol.state is not OPEN:
                # Rejected or failed: the response and EOF are written; the
                # client closes, or close_timeout aborts.
                await connection.wait_closed()
                return
            server.all_connections.add(connection)
            connection._start_keepalive()
            try:
                async with connection:
                    await handler(connection)
            except Exception:
                connection.logger.error("connection handler failed", exc_info=True)
            finally:
                server.all_connections.discard(connection)
        except Exception:
            # Never leak a connection on an unexpected error.
            connection.logger.error("connection failed", exc_info=True)
            connection.transport.abort()
        finally:
            server.handler_tasks.discard(asyncio.current_task())

    server = Server(create_server, connection_handler, logger)
    server.open_timeout = open_timeout
    return server


def unix_serve(
    handler: Callable[[ServerConnection], Awaitable[None]], path: Optional[str] = None, **kwargs: Any
) -> Server:
    """
    Create a WebSocket server listening on a Unix socket at ``path``.

    Same arguments as :func:`serve`, with ``path`` instead of host and port.
    """
    return serve(handler, unix=True, path=path, **kwargs)


def basic_auth(
    realm: str = "",
    credentials: Union[Tuple[str, str], Iterable[Tuple[str, str]], None] = None,
    check_credentials: Optional[Callable[[str, str], Union[Awaitable[bool], bool]]] = None,
) -> Callable[[ServerConnection, Request], Awaitable[Optional[Response]]]:
    """
    Build a ``process_request`` that enforces HTTP Basic Authentication.

    On success the connection's ``username`` is set; on failure the client
    gets HTTP 401. Give exactly one of ``credentials`` or ``check_credentials``.

    Args:
        realm: protection scope shown to the client (ASCII). Default empty.
        credentials: a ``(username, password)`` pair or an iterable of them.
        check_credentials: ``(username, password) -> bool``, sync or async.

    Raises:
        TypeError: ``credentials`` or ``check_credentials`` is malformed.
        ValueError: both or neither were given.
    """
    checker = credentials_checker(credentials, check_credentials)

    def unauthorized(connection: ServerConnection, text: str) -> Response:
        return _unauthorized(connection, realm, text)

    async def process_request(connection: ServerConnection, request: Request) -> Optional[Response]:
        try:
            authorization = request.headers["Authorization"]
        except KeyError:
            return unauthorized(connection, "Missing credentials\n")
        try:
            username, password = parse_authorization_basic(authorization)
        except InvalidHeader:
            return unauthorized(connection, "Unsupported credentials\n")
        valid = checker(username, password)
        if isinstance(valid, Awaitable):
            valid = await valid
        if not valid:
            return unauthorized(connection, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request
