"""
The legacy asyncio server: :func:`serve`, :func:`unix_serve`,
:class:`WebSocketServer` and :class:`WebSocketServerProtocol`, with the API of
``websockets.legacy.server``.

The opening handshake is the package's :class:`~websockets_fast.server.ServerProtocol`
(HTTP parsing with its limits, request checks); the legacy hooks
(``process_request(path, request_headers)``, ``process_origin``,
``process_extensions``, ``select_subprotocol``, ``extra_headers``) decide
what it answers.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import http
import inspect
import logging
import warnings
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Callable, Generator, List, Optional, Sequence, Set, Tuple, Type, Union

from ..asyncio import tls
from ..datastructures import Headers, HeadersLike, MultipleValuesError
from ..exceptions import InvalidHandshake, InvalidHeader, InvalidOrigin, InvalidUpgrade, NegotiationError
from ..extensions.base import Extension, ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..frames import CloseCode
from ..headers import build_extension, parse_extension, parse_subprotocol, validate_subprotocols
from ..http11 import SERVER, Response
from ..protocol import CONNECTING, OPEN
from ..server import ServerProtocol
from ..typing import ExtensionHeader, LoggerLike, Origin, StatusLike, Subprotocol
from ..utils import get_socket_name
from .exceptions import AbortHandshake
from .protocol import WebSocketCommonProtocol, pop_deprecated_arguments, broadcast

# What process_request returns to answer with plain HTTP: (status, headers, body).
HTTPResponse = Tuple[StatusLike, HeadersLike, bytes]

__all__ = ["serve", "unix_serve", "WebSocketServerProtocol", "WebSocketServer", "broadcast"]


class WebSocketServerProtocol(WebSocketCommonProtocol):
    """
    A WebSocket server connection, made by :func:`serve` for each client.

    It receives with :meth:`recv` (or ``async for``) and sends with
    :meth:`send`. Customise the opening handshake in a subclass by overriding
    :meth:`process_request` or :meth:`select_subprotocol`.

    See :func:`serve` for the arguments; the buffer and keepalive arguments
    are :class:`~websockets_fast.legacy.protocol.WebSocketCommonProtocol`'s.
    """

    is_client = False
    side = "server"

    protocol: ServerProtocol

    def __init__(
        self,
        ws_handler: Callable[..., Awaitable[Any]],
        ws_server: WebSocketServer,
        *,
        logger: Optional[LoggerLike] = None,
        origins: Optional[Sequence[Optional[Origin]]] = None,
        extensions: Optional[Sequence[ServerExtensionFactory]] = None,
        subprotocols: Optional[Sequence[Subprotocol]] = None,
        extra_headers: Optional[Union[HeadersLike, Callable[[str, Headers], HeadersLike]]] = None,
        server_header: Optional[str] = SERVER,
        process_request: Optional[Callable[[str, Headers], Union[Awaitable[Optional[HTTPResponse]], Optional[HTTPResponse]]]] = None,
        select_subprotocol: Optional[Callable[[Sequence[Subprotocol], Sequence[Subprotocol]], Optional[Subprotocol]]] = None,
        open_timeout: Optional[float] = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(logger=logger, **kwargs)
        if origins is not None and "" in origins:
            warnings.warn("use None instead of '' in origins", DeprecationWarning)
            origins = [None if origin == "" else origin for origin in origins]
        self.ws_handler = remove_path_argument(ws_handler)
        self.ws_server = ws_server
        self.origins = origins
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.extra_headers = extra_headers
        self.server_header = server_header
        self._process_request = process_request
        self._select_subprotocol = select_subprotocol
        self.open_timeout = open_timeout
        self.handler_task: Optional[asyncio.Task[None]] = None
        # Only the HTTP layer is checked by the Sans-I/O protocol; origins,
        # extensions and subprotocols are the legacy hooks' job.
        self._adopt_protocol(ServerProtocol(max_size=self.max_size, logger=logger))
        self._request: Any = None

    @property
    def origin(self) -> Optional[Origin]:
        """The request's ``Origin`` header, once the handshake checked it; else :obj:`None`."""
        return self.protocol.origin

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.ws_server.register(self)
        self.handler_task = self.loop.create_task(self.handler())

    async def handler(self) -> None:
        """The connection's lifecycle: handshake, ``ws_handler``, closing."""
        try:
            try:
                await asyncio.wait_for(
                    self.handshake(
                        origins=self.origins,
                        available_extensions=self.available_extensions,
                        available_subprotocols=self.available_subprotocols,
                        extra_headers=self.extra_headers,
                    ),
                    self.open_timeout,
                )
            except (asyncio.TimeoutError, ConnectionError):
                raise
            except Exception as exc:
                if self._lost or self.protocol.eof_sent:
                    # The request was malformed or over a limit: the protocol
                    # answered (or not) and closed already.
                    await self.close_transport()
                    return
                status, headers, body = self._error_response(exc)
                headers.setdefault("Date", email.utils.formatdate(usegmt=True))
                if self.server_header:
                    headers.setdefault("Server", self.server_header)
                headers.setdefault("Content-Length", str(len(body)))
                headers.setdefault("Content-Type", "text/plain")
                headers.setdefault("Connection", "close")
                self.write_http_response(status, headers, body)
                self.logger.info("connection rejected (%d %s)", status.value, status.phrase)
                await self.close_transport()
                return

            try:
                await self.ws_handler(self)
            except Exception:
                self.logger.error("connection handler failed", exc_info=True)
                if not self.closed:
                    self.fail_connection(CloseCode.INTERNAL_ERROR)
                raise

            await self.close()

        except Exception:
            if self.transport is not None:
                self.transport.close()
        finally:
            self.ws_server.unregister(self)

    def _error_response(self, exc: Exception) -> Tuple[http.HTTPStatus, Headers, bytes]:
        if isinstance(exc, AbortHandshake):
            return exc.status, exc.headers, exc.body
        if isinstance(exc, InvalidOrigin):
            return http.HTTPStatus.FORBIDDEN, Headers(), f"Failed to open a WebSocket connection: {exc}.\n".encode()
        if isinstance(exc, InvalidUpgrade):
            return (
                http.HTTPStatus.UPGRADE_REQUIRED,
                Headers([("Upgrade", "websocket")]),
                (
                    f"Failed to open a WebSocket connection: {exc}.\n\n"
                    "You cannot access a WebSocket server directly with a browser. You need a WebSocket client.\n"
                ).encode(),
            )
        if isinstance(exc, InvalidHandshake):
            reasons = str(exc)
            cause = exc.__cause__
            while cause is not None:
                reasons += f"; {cause}"
                cause = cause.__cause__
            return http.HTTPStatus.BAD_REQUEST, Headers(), f"Failed to open a WebSocket connection: {reasons}.\n".encode()
        self.logger.error("opening handshake failed", exc_info=True)
        return (
            http.HTTPStatus.INTERNAL_SERVER_ERROR,
            Headers(),
            b"Failed to open a WebSocket connection.\nSee server log for more information.\n",
        )

    async def read_http_request(self) -> Tuple[str, Headers]:
        """
        Wait for the handshake request; return its path and headers.

        Raises:
            InvalidMessage: the request is malformed, over a limit, or never
                came.
        """
        while self._request is None:
            protocol = self.protocol
            if self._lost or protocol.handshake_exc is not None or protocol.state is not CONNECTING:
                exc: Optional[BaseException] = protocol.handshake_exc
                if exc is None:
                    exc = self._connection_exc or EOFError("connection closed before the handshake request")
                raise exc
            self._recv_waiter = waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._recv_waiter = None
        request = self._request
        self.path = request.path
        self.request_headers = request.headers
        return request.path, request.headers

    def _handshake_events(self, events: List[Any]) -> List[Any]:
        if events and self._request is None:
            # The handshake request. Read no more until it is answered: a
            # client may not send frames before the response, and what an
            # eager one sends meanwhile would pile up, out of max_queue's
            # reach, for as long as process_request takes.
            self._request = events[0]
            if not self._lost:
                self._reading_held = True
                self._update_reading()
            events = events[1:]
        self._wake_reader()
        return events

    def write_http_response(self, status: http.HTTPStatus, headers: Headers, body: Optional[bytes] = None) -> None:
        """Write an HTTP response that ends the connection (not a 101)."""
        self.response_headers = headers
        status = http.HTTPStatus(status)
        response = Response(status.value, status.phrase, headers, b"" if body is None else body)
        if self.protocol.state is CONNECTING:
            self.protocol.send_response(response)
            self._flush()

    async def process_request(self, path: str, request_headers: Headers) -> Optional[HTTPResponse]:
        """
        Look at the request before the handshake; return an HTTP response
        ``(status, headers, body)`` to send instead, or :obj:`None` to go on.

        Override it in a subclass, or pass ``process_request`` to :func:`serve`
        (sync or async; this method calls it).
        """
        if self._process_request is not None:
            response = self._process_request(path, request_headers)
            if isinstance(response, Awaitable):
                return await response
            warnings.warn("declare process_request as a coroutine", DeprecationWarning)
            return response
        return None

    @staticmethod
    def process_origin(headers: Headers, origins: Optional[Sequence[Optional[Origin]]] = None) -> Optional[Origin]:
        """
        Return the request's ``Origin``, if acceptable.

        Raises:
            InvalidOrigin: the origin isn't in ``origins``.
        """
        try:
            origin = headers.get("Origin")
        except MultipleValuesError as exc:
            raise InvalidHeader("Origin", "multiple values") from exc
        if origins is not None and origin not in origins:
            raise InvalidOrigin(origin)
        return origin  # type: ignore[return-value]  # an Origin header

    @staticmethod
    def process_extensions(
        headers: Headers, available_extensions: Optional[Sequence[ServerExtensionFactory]]
    ) -> Tuple[Optional[str], List[Extension]]:
        """
        Accept the extensions offered by the client that a factory supports.

        Returns:
            The ``Sec-WebSocket-Extensions`` response header (or :obj:`None`)
            and the accepted extensions.
        """
        response_params = []
        accepted: List[Extension] = []
        values = headers.get_all("Sec-WebSocket-Extensions")
        if values and available_extensions:
            for name, params in [item for value in values for item in parse_extension(value)]:
                for factory in available_extensions:
                    if factory.name != name:
                        continue
                    try:
                        params_out, extension = factory.process_request_params(params, accepted)
                    except NegotiationError:
                        continue
                    response_params.append((name, params_out))
                    accepted.append(extension)
                    break
        return (build_extension(response_params) if response_params else None), accepted

    def process_subprotocol(
        self, headers: Headers, available_subprotocols: Optional[Sequence[Subprotocol]]
    ) -> Optional[Subprotocol]:
        """Return the subprotocol picked by :meth:`select_subprotocol`, or :obj:`None`."""
        values = headers.get_all("Sec-WebSocket-Protocol")
        if values and available_subprotocols:
            offered = [item for value in values for item in parse_subprotocol(value)]
            return self.select_subprotocol(offered, available_subprotocols)
        return None

    def select_subprotocol(
        self, client_subprotocols: Sequence[Subprotocol], server_subprotocols: Sequence[Subprotocol]
    ) -> Optional[Subprotocol]:
        """
        Pick a subprotocol both sides support, or :obj:`None` to go on without.

        Both sides' preferences weigh the same: the subprotocol with the
        smallest sum of its positions in the two lists wins. The
        ``select_subprotocol`` argument of :func:`serve` replaces this.
        """
        if self._select_subprotocol is not None:
            return self._select_subprotocol(client_subprotocols, server_subprotocols)
        common = set(client_subprotocols) & set(server_subprotocols)
        if not common:
            return None
        return min(common, key=lambda p: (client_subprotocols.index(p) + server_subprotocols.index(p), p))

    async def handshake(
        self,
        origins: Optional[Sequence[Optional[Origin]]] = None,
        available_extensions: Optional[Sequence[ServerExtensionFactory]] = None,
        available_subprotocols: Optional[Sequence[Subprotocol]] = None,
        extra_headers: Optional[Union[HeadersLike, Callable[[str, Headers], HeadersLike]]] = None,
    ) -> str:
        """
        Perform the server side of the opening handshake; return the path.

        Raises:
            InvalidHandshake: the handshake failed.
        """
        path, request_headers = await self.read_http_request()
        early_response: Any = self.process_request(path, request_headers)
        if isinstance(early_response, Awaitable):
            early_response = await early_response
        else:
            warnings.warn("declare process_request as a coroutine", DeprecationWarning)
        if self._lost:
            raise BrokenPipeError("connection closed during opening handshake")
        if not self.ws_server.is_serving():
            early_response = (http.HTTPStatus.SERVICE_UNAVAILABLE, [], b"Server is shutting down.\n")
        if early_response is not None:
            raise AbortHandshake(*early_response)

        protocol = self.protocol
        # The HTTP checks of the package's server (method, version, Upgrade,
        # key, version); with no origins, extensions or subprotocols
        # configured on it, it negotiates nothing.
        accept, _, _ = protocol.process_request(self._request)
        protocol.origin = self.process_origin(request_headers, origins)
        extensions_header, extensions = self.process_extensions(request_headers, available_extensions)
        protocol.extensions = extensions
        protocol_header = protocol.subprotocol = self.process_subprotocol(request_headers, available_subprotocols)

        headers = Headers()
        headers.set_insecure("Upgrade", "websocket")
        headers.set_insecure("Connection", "Upgrade")
        headers.set_insecure("Sec-WebSocket-Accept", accept)
        if extensions_header is not None:
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol_header is not None:
            headers["Sec-WebSocket-Protocol"] = protocol_header
        if callable(extra_headers):
            extra_headers = extra_headers(path, request_headers)
        if extra_headers is not None:
            headers.update(extra_headers)
        headers.setdefault("Date", email.utils.formatdate(usegmt=True))
        if self.server_header is not None:
            headers.setdefault("Server", self.server_header)
        self.response_headers = headers

        # Frames that came right behind the request are parsed once the
        # response is sent, like any read.
        early_data = protocol.take_early_data()
        protocol.send_response(Response(101, "Switching Protocols", headers))
        self._flush()
        if protocol.state is OPEN:
            self.connection_open()
            if early_data:
                self.data_received(early_data)
        self._request = None  # path and request_headers keep what's needed
        self._compact_headers()
        self._reading_held = False
        self._update_reading()
        return path


class WebSocketServer:
    """
    The WebSocket server returned by :func:`serve`; mirrors :class:`asyncio.Server`.

    It keeps track of its connections in :attr:`websockets`, to close them
    when it shuts down.

    Args:
        logger: logger for this server. Default ``websockets_fast.server``.
    """

    def __init__(self, logger: Optional[LoggerLike] = None) -> None:
        if logger is None:
            logger = logging.getLogger("websockets_fast.server")
        self.logger = logger
        self.websockets: Set[WebSocketServerProtocol] = set()
        self.close_task: Optional[asyncio.Task[None]] = None
        # Set by wrap(), before anything uses them.
        self.closed_waiter: asyncio.Future[None] = None  # type: ignore[assignment]
        self.server: asyncio.Server = None  # type: ignore[assignment]

    def wrap(self, server: asyncio.Server) -> None:
        """Attach the :class:`asyncio.Server` that accepts the connections."""
        self.server = server
        for sock in server.sockets:
            self.logger.info("server listening on %s", get_socket_name(sock))
        self.closed_waiter = server.get_loop().create_future()

    def register(self, protocol: WebSocketServerProtocol) -> None:
        """Register a connection with this server."""
        self.websockets.add(protocol)

    def unregister(self, protocol: WebSocketServerProtocol) -> None:
        """Unregister a connection with this server."""
        self.websockets.discard(protocol)

    def close(self, close_connections: bool = True) -> None:
        """
        Close the server. Idempotent; :meth:`wait_closed` waits for the end.

        Stops accepting connections; with ``close_connections`` (default
        :obj:`True`), rejects handshakes in progress with HTTP 503 and closes
        open connections with 1001; then waits for every handler to return.
        """
        if self.close_task is None:
            self.close_task = self.get_loop().create_task(self._close(close_connections))

    async def _close(self, close_connections: bool) -> None:
        self.logger.info("server closing")
        self.server.close()
        if close_connections:
            tasks = [
                asyncio.ensure_future(websocket.close(CloseCode.GOING_AWAY))
                for websocket in self.websockets
                if websocket.state is not CONNECTING
            ]
            if tasks:
                await asyncio.wait(tasks)
        await self.server.wait_closed()
        handlers = [websocket.handler_task for websocket in self.websockets if websocket.handler_task is not None]
        if handlers:
            await asyncio.wait(handlers)
        self.closed_waiter.set_result(None)
        self.logger.info("server closed")

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection handler has returned."""
        await asyncio.shield(self.closed_waiter)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs on."""
        return self.server.get_loop()

    def is_serving(self) -> bool:
        """Whether the server accepts new connections."""
        return self.server is not None and self.server.is_serving()

    async def start_serving(self) -> None:
        """Start accepting connections (with ``start_serving=False``)."""
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        await self.server.serve_forever()

    @property
    def sockets(self) -> Any:
        """The listening sockets."""
        return self.server.sockets

    async def __aenter__(self) -> WebSocketServer:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()
        await self.wait_closed()


class Serve:
    """
    Start a WebSocket server listening on ``host`` and ``port``.

    ``server = await serve(...)`` or ``async with serve(...) as server:``. For
    each client, the opening handshake runs, then ``await ws_handler(websocket)``,
    then the closing handshake.

    Args:
        ws_handler: coroutine function receiving the
            :class:`WebSocketServerProtocol` (a second ``path`` argument is
            deprecated but supported).
        host: interfaces to bind; see :meth:`asyncio.loop.create_server`.
        port: TCP port.
        create_protocol: :class:`WebSocketServerProtocol` subclass or factory
            (``klass`` is its deprecated name).
        logger: logger. Default ``logging.getLogger("websockets_fast.server")``.
        compression: ``"deflate"`` (default) or :obj:`None`.
        origins: acceptable ``Origin`` values; include :obj:`None` to accept
            requests without one. Default: any.
        extensions: server extension factories.
        subprotocols: supported subprotocols, by preference.
        extra_headers: headers added to the 101 response: a mapping, a list
            of pairs, or a callable ``(path, request_headers)`` returning one.
        server_header: ``Server`` header; :obj:`None` omits it.
        process_request: ``(path, request_headers)`` -> :obj:`None` or
            ``(status, headers, body)``, a coroutine function (a plain
            function is deprecated but supported).
        select_subprotocol: ``(client_subprotocols, server_subprotocols)`` ->
            subprotocol or :obj:`None`.
        open_timeout: seconds for the opening handshake. Default 10.
        ping_interval, ping_timeout, close_timeout, max_size, max_queue,
        read_limit, write_limit: see
            :class:`~websockets_fast.legacy.protocol.WebSocketCommonProtocol`.

    Other keyword arguments go to :meth:`asyncio.loop.create_server`
    (``ssl``, ``sock``, ``reuse_port``...).
    """

    def __init__(
        self,
        ws_handler: Callable[..., Awaitable[Any]],
        host: Optional[Union[str, Sequence[str]]] = None,
        port: Optional[int] = None,
        *,
        create_protocol: Optional[Callable[..., WebSocketServerProtocol]] = None,
        logger: Optional[LoggerLike] = None,
        compression: Optional[str] = "deflate",
        origins: Optional[Sequence[Optional[Origin]]] = None,
        extensions: Optional[Sequence[ServerExtensionFactory]] = None,
        subprotocols: Optional[Sequence[Subprotocol]] = None,
        extra_headers: Optional[Union[HeadersLike, Callable[[str, Headers], HeadersLike]]] = None,
        server_header: Optional[str] = SERVER,
        process_request: Optional[Callable[[str, Headers], Union[Awaitable[Optional[HTTPResponse]], Optional[HTTPResponse]]]] = None,
        select_subprotocol: Optional[Callable[[Sequence[Subprotocol], Sequence[Subprotocol]], Optional[Subprotocol]]] = None,
        open_timeout: Optional[float] = 10,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = None,
        max_size: Optional[int] = 2**20,
        max_queue: Optional[int] = 2**5,
        read_limit: int = 2**16,
        write_limit: int = 2**16,
        **kwargs: Any,
    ) -> None:
        close_timeout, create_protocol, legacy_recv, loop = pop_deprecated_arguments(
            kwargs, close_timeout, create_protocol, WebSocketServerProtocol
        )

        ws_server = WebSocketServer(logger=logger)
        secure = kwargs.get("ssl") is not None
        if compression == "deflate":
            extensions = enable_server_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        if subprotocols is not None:
            validate_subprotocols(subprotocols)

        factory = functools.partial(
            create_protocol,
            remove_path_argument(ws_handler),
            ws_server,
            host=host,
            port=port,
            secure=secure,
            open_timeout=open_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            max_queue=max_queue,
            read_limit=read_limit,
            write_limit=write_limit,
            loop=loop,
            legacy_recv=legacy_recv,
            origins=origins,
            extensions=extensions,
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            server_header=server_header,
            process_request=process_request,
            select_subprotocol=select_subprotocol,
            logger=logger,
        )
        # With ssl, our TLS layer rather than asyncio's (see asyncio/tls.py).
        factory = tls.wrap_server_factory(factory, kwargs, open_timeout)  # type: ignore[assignment]  # with ssl, a TLSTransport's
        if kwargs.pop("unix", False):
            path = kwargs.pop("path", None)
            assert host is None and port is None, "a Unix server takes a path, not host and port"

            async def create_server() -> asyncio.Server:
                return await asyncio.get_running_loop().create_unix_server(factory, path, **kwargs)

        else:

            async def create_server() -> asyncio.Server:
                return await asyncio.get_running_loop().create_server(factory, host, port, **kwargs)

        self._create_server = create_server
        self.ws_server = ws_server

    async def __aenter__(self) -> WebSocketServer:
        return await self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.ws_server.close()
        await self.ws_server.wait_closed()

    def __await__(self) -> Generator[Any, None, WebSocketServer]:
        return self.__await_impl__().__await__()

    async def __await_impl__(self) -> WebSocketServer:
        server = await self._create_server()
        self.ws_server.wrap(server)
        return self.ws_server

    __iter__ = __await__


serve = Serve


def unix_serve(ws_handler: Callable[..., Awaitable[Any]], path: Optional[str] = None, **kwargs: Any) -> Serve:
    """
    Start a WebSocket server listening on a Unix socket at ``path``.

    Same arguments as :func:`serve`, except ``host`` and ``port``.
    """
    return serve(ws_handler, path=path, unix=True, **kwargs)


def remove_path_argument(ws_handler: Callable[..., Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """Adapt a deprecated ``ws_handler(websocket, path)`` to one argument."""
    try:
        inspect.signature(ws_handler).bind(None)
    except TypeError:
        try:
            inspect.signature(ws_handler).bind(None, "")
        except TypeError:
            pass
        else:
            warnings.warn("remove second argument of ws_handler", DeprecationWarning)

            async def _ws_handler(websocket: Any) -> Any:
                return await ws_handler(websocket, websocket.path)

            return _ws_handler
    except ValueError:
        pass  # no signature (a builtin): call it as it is
    return ws_handler
