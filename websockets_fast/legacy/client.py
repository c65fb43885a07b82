"""
The legacy asyncio client: :func:`connect`, :func:`unix_connect` and
:class:`WebSocketClientProtocol`, with the API of ``websockets.legacy.client``.

The opening handshake is the package's :class:`~websockets_fast.client.ClientProtocol`;
its failures become the legacy exceptions (:exc:`InvalidStatusCode`,
:exc:`RedirectHandshake`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import traceback
import urllib.parse
import weakref
from types import TracebackType
from typing import Any, AsyncIterator, Callable, Generator, List, Optional, Sequence, Tuple, Type, Union

from ..asyncio import tls
from ..client import ClientProtocol
from ..datastructures import Headers, HeadersLike
from ..exceptions import InvalidHeader, InvalidMessage, InvalidStatus, SecurityError
from ..extensions.base import ClientExtensionFactory, Extension
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import validate_subprotocols
from ..http11 import USER_AGENT, Request
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import WebSocketURI, parse_uri
from .exceptions import InvalidStatusCode, RedirectHandshake
from .protocol import WebSocketCommonProtocol, pop_deprecated_arguments

__all__ = ["connect", "unix_connect", "WebSocketClientProtocol"]

REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def _checker(
    extensions: Optional[Sequence[ClientExtensionFactory]] = None,
    subprotocols: Optional[Sequence[Subprotocol]] = None,
) -> ClientProtocol:
    # The package's client holds the negotiation rules.
    return ClientProtocol(parse_uri("ws://localhost/"), extensions=extensions, subprotocols=subprotocols)


class WebSocketClientProtocol(WebSocketCommonProtocol):
    """
    A WebSocket client connection, made by :func:`connect`.

    It receives with :meth:`recv` (or ``async for``) and sends with
    :meth:`send`. See :func:`connect` for the arguments; the buffer and
    keepalive arguments are
    :class:`~websockets_fast.legacy.protocol.WebSocketCommonProtocol`'s.
    """

    is_client = True
    side = "client"

    protocol: ClientProtocol

    def __init__(
        self,
        *,
        logger: Optional[LoggerLike] = None,
        origin: Optional[Origin] = None,
        extensions: Optional[Sequence[ClientExtensionFactory]] = None,
        subprotocols: Optional[Sequence[Subprotocol]] = None,
        extra_headers: Optional[HeadersLike] = None,
        user_agent_header: Optional[str] = USER_AGENT,
        **kwargs: Any,
    ) -> None:
        super().__init__(logger=logger, **kwargs)
        self.origin = origin
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.extra_headers = extra_headers
        self.user_agent_header = user_agent_header
        self._response: Any = None

    async def handshake(
        self,
        wsuri: WebSocketURI,
        origin: Optional[Origin] = None,
        available_extensions: Optional[Sequence[ClientExtensionFactory]] = None,
        available_subprotocols: Optional[Sequence[Subprotocol]] = None,
        extra_headers: Optional[HeadersLike] = None,
    ) -> None:
        """
        Perform the client side of the opening handshake.

        Raises:
            InvalidStatusCode: the server answered with another status than 101.
            RedirectHandshake: the server redirects (:func:`connect` follows).
            InvalidHandshake: the response is not a valid handshake response.
        """
        cls = type(self)
        if (
            cls.process_extensions is WebSocketClientProtocol.process_extensions
            and cls.process_subprotocol is WebSocketClientProtocol.process_subprotocol
        ):
            protocol_class = ClientProtocol
        else:
            protocol_class = _NegotiatedBy
        protocol = protocol_class(
            wsuri,
            origin=origin,
            extensions=available_extensions,
            subprotocols=available_subprotocols,
            max_size=self.max_size,
            logger=self._logger,
        )
        if protocol_class is _NegotiatedBy:
            protocol.connection = weakref.ref(self)  # type: ignore[attr-defined]  # a _NegotiatedBy
        self._adopt_protocol(protocol)
        request = protocol.connect()
        if extra_headers is not None:
            request.headers.update(extra_headers)
        if self.user_agent_header:
            request.headers.setdefault("User-Agent", self.user_agent_header)
        self.write_http_request(request.path, request.headers)
        status_code, headers = await self.read_http_response()
        if status_code in REDIRECT_STATUSES:
            if "Location" not in headers:
                raise InvalidHeader("Location")
            raise RedirectHandshake(headers["Location"])
        if status_code != 101:
            raise InvalidStatusCode(status_code, headers)
        # The protocol checked the rest of the response and negotiated.
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        self._compact_headers()
        self.connection_open()

    def write_http_request(self, path: str, headers: Headers) -> None:
        """Send the handshake request (``GET path``) with ``headers``."""
        self.path = path
        self.request_headers = headers
        self.protocol.send_request(Request(path, headers))
        self._flush()

    async def read_http_response(self) -> Tuple[int, Headers]:
        """
        Wait for the handshake response; return its status code and headers.

        Raises:
            InvalidMessage: the response is malformed or never came.
        """
        protocol = self.protocol
        while self._response is None and protocol.handshake_exc is None and not self._lost:
            self._recv_waiter = waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._recv_waiter = None
        response, self._response = self._response, None
        exc = protocol.handshake_exc
        if response is None and isinstance(exc, InvalidStatus):
            response = exc.response
        if response is None:
            if exc is not None:
                raise exc
            raise InvalidMessage("did not receive a valid HTTP response") from (
                self._connection_exc or EOFError("connection closed during opening handshake")
            )
        self.response_headers = response.headers
        return response.status_code, response.headers

    @staticmethod
    def process_extensions(
        headers: Headers, available_extensions: Optional[Sequence[ClientExtensionFactory]]
    ) -> List[Extension]:
        """
        Return the extensions the server accepted, from the response headers.

        Raises:
            InvalidHandshake: an extension wasn't offered or its parameters
                aren't acceptable.
        """
        return _checker(extensions=available_extensions).process_extensions(headers)

    @staticmethod
    def process_subprotocol(
        headers: Headers, available_subprotocols: Optional[Sequence[Subprotocol]]
    ) -> Optional[Subprotocol]:
        """
        Return the subprotocol the server selected, or :obj:`None`.

        Raises:
            InvalidHandshake: it wasn't offered, or several were selected.
        """
        return _checker(subprotocols=available_subprotocols).process_subprotocol(headers)

    def _handshake_events(self, events: List[Any]) -> List[Any]:
        if events and self._response is None:
            # The handshake response; frames may follow in the same read.
            self._response = events[0]
            events = events[1:]
            if self.protocol.handshake_exc is not None:
                events = []
        self._wake_reader()
        if events:
            # Frames right behind the response: the connection is open as
            # far as reading goes.
            self._open = True
        return events



class _NegotiatedBy(ClientProtocol):
    """
    The handshake of a :class:`WebSocketClientProtocol` subclass that
    overrides ``process_extensions`` or ``process_subprotocol``: the
    Sans-I/O client negotiates through them, as websockets.legacy calls
    them, before it parses the frames that follow the response.
    """

    # A weak reference: the connection holds this protocol.
    __slots__ = ("connection",)
    connection: weakref.ref[WebSocketClientProtocol]

    def process_extensions(self, headers: Headers) -> List[Extension]:
        return self.connection().process_extensions(headers, self.available_extensions)  # type: ignore[union-attr]  # alive: it holds us

    def process_subprotocol(self, headers: Headers) -> Optional[Subprotocol]:
        return self.connection().process_subprotocol(headers, self.available_subprotocols)  # type: ignore[union-attr]  # alive: it holds us


class Connect:
    """
    Connect to the WebSocket server at ``uri``.

    ``websocket = await connect(uri)``, ``async with connect(uri) as
    websocket:``, or ``async for websocket in connect(uri):`` to reconnect
    with exponential backoff after any error.

    Args:
        uri: URI of the WebSocket server.
        create_protocol: :class:`WebSocketClientProtocol` subclass or factory
            (``klass`` is its deprecated name).
        logger: logger. Default ``logging.getLogger("websockets_fast.client")``.
        compression: ``"deflate"`` (default) or :obj:`None`.
        origin: value of the ``Origin`` header.
        extensions: client extension factories.
        subprotocols: subprotocols, by preference.
        extra_headers: headers added to the request (a mapping or pairs).
        user_agent_header: ``User-Agent`` header; :obj:`None` omits it.
        open_timeout: seconds for connecting and the opening handshake.
            Default 10.
        ping_interval, ping_timeout, close_timeout, max_size, max_queue,
        read_limit, write_limit: see
            :class:`~websockets_fast.legacy.protocol.WebSocketCommonProtocol`.

    Other keyword arguments go to :meth:`asyncio.loop.create_connection`
    (``ssl``, ``sock``, ``host``, ``port``, ``local_addr``...).

    Raises:
        InvalidURI: ``uri`` isn't a WebSocket URI.
        OSError: the TCP connection failed.
        InvalidHandshake: the opening handshake failed.
        TimeoutError: the opening handshake timed out.
    """

    MAX_REDIRECTS_ALLOWED = int(os.environ.get("WEBSOCKETS_MAX_REDIRECTS", "10"))

    BACKOFF_INITIAL = float(os.environ.get("WEBSOCKETS_BACKOFF_INITIAL_DELAY", "5"))
    BACKOFF_MIN = float(os.environ.get("WEBSOCKETS_BACKOFF_MIN_DELAY", "3.1"))
    BACKOFF_MAX = float(os.environ.get("WEBSOCKETS_BACKOFF_MAX_DELAY", "90.0"))
    BACKOFF_FACTOR = float(os.environ.get("WEBSOCKETS_BACKOFF_FACTOR", "1.618"))

    def __init__(
        self,
        uri: str,
        *,
        create_protocol: Optional[Callable[..., WebSocketClientProtocol]] = None,
        logger: Optional[LoggerLike] = None,
        compression: Optional[str] = "deflate",
        origin: Optional[Origin] = None,
        extensions: Optional[Sequence[ClientExtensionFactory]] = None,
        subprotocols: Optional[Sequence[Subprotocol]] = None,
        extra_headers: Optional[HeadersLike] = None,
        user_agent_header: Optional[str] = USER_AGENT,
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
            kwargs, close_timeout, create_protocol, WebSocketClientProtocol
        )

        wsuri = parse_uri(uri)
        if wsuri.secure:
            kwargs.setdefault("ssl", True)
        elif kwargs.get("ssl") is not None:
            raise ValueError(
                "connect() received a ssl argument for a ws:// URI, use a wss:// URI to enable TLS"
            )
        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        if subprotocols is not None:
            validate_subprotocols(subprotocols)

        self._factory = functools.partial(
            create_protocol,
            logger=logger,
            origin=origin,
            extensions=extensions,
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            user_agent_header=user_agent_header,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            max_queue=max_queue,
            read_limit=read_limit,
            write_limit=write_limit,
            host=wsuri.host,
            port=wsuri.port,
            secure=wsuri.secure,
            legacy_recv=legacy_recv,
            loop=loop,
        )
        self._unix = kwargs.pop("unix", False)
        self._path = kwargs.pop("path", None)
        if not self._unix:
            if kwargs.get("sock") is None:
                host, port = wsuri.host, wsuri.port
            else:
                host, port = None, None
                if kwargs.get("ssl"):
                    kwargs.setdefault("server_hostname", wsuri.host)
            self._host = kwargs.pop("host", host)
            self._port = kwargs.pop("port", port)
        self._kwargs = kwargs
        self.open_timeout = open_timeout
        if logger is None:
            logger = logging.getLogger("websockets_fast.client")
        self.logger = logger
        self._uri = uri
        self._wsuri = wsuri
        self.protocol: Optional[WebSocketClientProtocol] = None

    async def _create_connection(self) -> Tuple[Union[asyncio.BaseTransport, tls.TLSTransport], WebSocketClientProtocol]:
        # With ssl, our TLS layer rather than asyncio's (see asyncio/tls.py).
        kwargs = dict(self._kwargs)
        if self._unix:
            return await tls.create_connection(self._factory, unix=True, path=self._path, **kwargs)
        return await tls.create_connection(self._factory, self._host, self._port, **kwargs)

    def handle_redirect(self, uri: str) -> None:
        """Connect to ``uri`` next (a redirect's ``Location``, relative or not)."""
        old_wsuri = self._wsuri
        new_uri = urllib.parse.urljoin(self._uri, uri)
        new_wsuri = parse_uri(new_uri)
        if old_wsuri.secure and not new_wsuri.secure:
            raise SecurityError("redirect from WSS to WS")
        same_origin = (
            old_wsuri.secure == new_wsuri.secure
            and old_wsuri.host == new_wsuri.host
            and old_wsuri.port == new_wsuri.port
        )
        if not same_origin:
            keywords = dict(self._factory.keywords, host=new_wsuri.host, port=new_wsuri.port)
            if new_wsuri.secure and not old_wsuri.secure:
                keywords["secure"] = True
                self._kwargs.setdefault("ssl", True)
            extra_headers = keywords.get("extra_headers")
            if extra_headers is not None:
                # Credentials don't follow a redirect to another origin.
                keywords["extra_headers"] = Headers(
                    (key, value)
                    for key, value in Headers(extra_headers).raw_items()
                    if key.lower() not in ("authorization", "cookie", "proxy-authorization")
                )
            self._factory = functools.partial(self._factory.func, *self._factory.args, **keywords)
            if not self._unix:
                self._host, self._port = new_wsuri.host, new_wsuri.port
        self._uri = new_uri
        self._wsuri = new_wsuri

    async def __aiter__(self) -> AsyncIterator[WebSocketClientProtocol]:
        backoff_delay = self.BACKOFF_MIN / self.BACKOFF_FACTOR
        while True:
            try:
                async with self as protocol:
                    yield protocol
            except Exception as exc:
                # RFC 6455 7.2.3: a random delay first, so that clients cut
                # off together don't all come back at once.
                if backoff_delay == self.BACKOFF_MIN:
                    delay = random.random() * self.BACKOFF_INITIAL
                else:
                    delay = int(backoff_delay)
                self.logger.info(
                    "connect failed; reconnecting in %.1f seconds: %s",
                    delay,
                    traceback.format_exception_only(type(exc), exc)[0].strip(),
                )
                await asyncio.sleep(delay)
                backoff_delay = min(backoff_delay * self.BACKOFF_FACTOR, self.BACKOFF_MAX)
                continue
            else:
                backoff_delay = self.BACKOFF_MIN

    async def __aenter__(self) -> WebSocketClientProtocol:
        return await self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await self.protocol.close()  # type: ignore[union-attr]  # set by __aenter__

    def __await__(self) -> Generator[Any, None, WebSocketClientProtocol]:
        return self.__await_impl__().__await__()

    async def __await_impl__(self) -> WebSocketClientProtocol:
        return await asyncio.wait_for(self._connect(), self.open_timeout)

    async def _connect(self) -> WebSocketClientProtocol:
        for _ in range(self.MAX_REDIRECTS_ALLOWED):
            _transport, protocol = await self._create_connection()
            try:
                await protocol.handshake(
                    self._wsuri,
                    origin=protocol.origin,
                    available_extensions=protocol.available_extensions,
                    available_subprotocols=protocol.available_subprotocols,
                    extra_headers=protocol.extra_headers,
                )
            except RedirectHandshake as exc:
                protocol.fail_connection()
                await protocol.wait_closed()
                self.handle_redirect(exc.uri)
            except BaseException:
                # Don't leak a connected socket when the handshake fails.
                protocol.fail_connection()
                await protocol.wait_closed()
                raise
            else:
                self.protocol = protocol
                return protocol
        raise SecurityError("too many redirects")

    __iter__ = __await__


connect = Connect


def unix_connect(path: Optional[str] = None, uri: str = "ws://localhost/", **kwargs: Any) -> Connect:
    """
    Connect to a WebSocket server listening on a Unix socket at ``path``.

    Same arguments as :func:`connect`; ``uri`` gives the ``Host`` header.
    """
    return connect(uri=uri, path=path, unix=True, **kwargs)
