"""
The asyncio WebSocket client: :func:`connect`, :func:`unix_connect`,
:class:`ClientConnection` and :func:`process_exception`, with the API of
``websockets.asyncio.client``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import traceback
import urllib.parse
from types import TracebackType
from typing import Any, AsyncIterator, Callable, Dict, Generator, Literal, Optional, Sequence, Tuple, Type, Union, cast

from ..client import ClientProtocol, backoff, process_exception
from ..datastructures import Headers, HeadersLike
from ..exceptions import InvalidProxyMessage, InvalidProxyStatus, InvalidStatus, ProxyError, SecurityError
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import validate_subprotocols
from ..http11 import USER_AGENT, Response, ResponseParser
from ..proxy import Proxy, get_proxy, parse_proxy, prepare_connect_request
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import WebSocketURI, parse_uri
from . import tls
from .connection import Connection

__all__ = ["connect", "unix_connect", "ClientConnection", "process_exception"]

MAX_REDIRECTS = int(os.environ.get("WEBSOCKETS_MAX_REDIRECTS", "10"))

REDIRECT_STATUSES = (300, 301, 302, 303, 307, 308)


class ClientConnection(Connection, asyncio.Protocol):
    """
    A WebSocket connection opened by :func:`connect`.

    It receives with :meth:`recv` (or ``async for``) and sends with
    :meth:`send`. The keyword arguments mean the same as in :func:`connect`.

    Args:
        protocol: the Sans-I/O client protocol.
    """

    __slots__ = ()

    protocol: ClientProtocol

    async def handshake(
        self,
        additional_headers: Optional[HeadersLike] = None,
        user_agent_header: Optional[str] = USER_AGENT,
    ) -> None:
        """Perform the opening handshake (:func:`connect` calls it; you don't)."""
        protocol = self.protocol
        self.request = request = protocol.connect()
        if additional_headers is not None:
            request.headers.update(additional_headers)
        if user_agent_header is not None:
            request.headers.setdefault("User-Agent", user_agent_header)
        protocol.send_request(request)
        self._flush()
        while self.response is None and not self._lost:
            # _wake_reader() completes this when data or EOF arrives.
            self._recv_waiter = waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._recv_waiter = None
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        if self.response is None:
            # The connection ended before any response, without the protocol
            # noticing (it learns of EOF only through connection_lost()).
            raise self._connection_exc or EOFError("connection closed during opening handshake")
        self._open = True
        self._compact_handshake()

    def process_event(self, event: Any) -> None:
        if self.response is None:
            # The first event is the handshake response.
            self.response = event
        else:
            super().process_event(event)


class connect:
    """
    Connect to the WebSocket server at ``uri``.

    Use it as ``async with connect(uri) as websocket:``, as ``websocket =
    await connect(uri)`` (then close it yourself), or as ``async for
    websocket in connect(uri):`` to reconnect with backoff after transient
    errors.

    Args:
        uri: ``ws://`` or ``wss://`` URI; ``user:password@`` sends HTTP Basic
            credentials.
        origin: ``Origin`` header value. Default none.
        extensions: client extension factories, in negotiation order.
        subprotocols: subprotocols to offer, by preference.
        compression: ``"deflate"`` (default) offers permessage-deflate;
            :obj:`None` disables it.
        additional_headers: extra request headers.
        user_agent_header: ``User-Agent`` value; :obj:`None` omits it.
        proxy: :obj:`True` (default) uses the proxy from the environment,
            a URL (``http://``, ``https://``, ``socks5h://``...) uses that
            proxy, :obj:`None` connects directly. SOCKS needs python-socks.
        process_exception: when reconnecting, ``exc -> None`` to retry or an
            exception to raise. Default :func:`process_exception`.
        open_timeout: seconds for TCP connect, proxy, TLS, redirects and the
            opening handshake together; :obj:`None` disables it. Default 10.
        ping_interval, ping_timeout, close_timeout, max_queue, write_limit:
            see :class:`~websockets_fast.asyncio.connection.Connection`.
        reconnect_delays: generator function of delays between reconnection
            attempts. Default: exponential backoff.
        max_size: largest incoming message in bytes (close 1009 above it);
            :obj:`None` for no limit; or ``(message, fragment)`` limits.
            Default 1 MiB.
        logger: logger. Default ``logging.getLogger("websockets_fast.client")``.
        create_connection: :class:`ClientConnection` subclass to use.

    Other keyword arguments go to :meth:`asyncio.loop.create_connection`:
    ``ssl``, ``server_hostname``, ``sock``, ``host``, ``port``,
    ``local_addr``... With an HTTP proxy, ``proxy_ssl`` and other ``proxy_``
    arguments configure the connection to the proxy.

    Raises:
        InvalidURI: ``uri`` isn't a WebSocket URI.
        OSError: the TCP connection failed.
        InvalidHandshake: the opening handshake failed.
        TimeoutError: the opening handshake timed out.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: Optional[Origin] = None,
        extensions: Optional[Sequence[ClientExtensionFactory]] = None,
        subprotocols: Optional[Sequence[Subprotocol]] = None,
        compression: Optional[str] = "deflate",
        additional_headers: Optional[HeadersLike] = None,
        user_agent_header: Optional[str] = USER_AGENT,
        proxy: Union[str, Literal[True], None] = True,
        process_exception: Callable[[Exception], Optional[Exception]] = process_exception,
        open_timeout: Optional[float] = 10,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = 10,
        reconnect_delays: Callable[[], Generator[float, None, None]] = backoff,
        max_size: Union[int, None, Tuple[Optional[int], Optional[int]]] = 2**20,
        max_queue: Union[int, None, Tuple[Optional[int], Optional[int]]] = 16,
        write_limit: Union[int, Tuple[int, Optional[int]]] = 2**15,
        logger: Optional[LoggerLike] = None,
        create_connection: Optional[Type[ClientConnection]] = None,
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        self.ws_uri = parse_uri(uri)
        if not self.ws_uri.secure and kwargs.get("ssl") is not None:
            raise ValueError("ssl argument is incompatible with a ws:// URI")
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        if logger is None:
            logger = logging.getLogger("websockets_fast.client")
        if create_connection is None:
            create_connection = ClientConnection
        self.additional_headers = additional_headers
        self.user_agent_header = user_agent_header
        self.proxy = proxy
        self.process_exception = process_exception
        self.open_timeout = open_timeout
        self.reconnect_delays = reconnect_delays
        self.logger = logger
        self.create_connection_kwargs = kwargs

        def factory(ws_uri: WebSocketURI) -> ClientConnection:
            protocol = ClientProtocol(
                ws_uri,
                origin=origin,
                extensions=extensions,
                subprotocols=subprotocols,
                max_size=max_size,
                logger=logger,
            )
            return create_connection(
                protocol,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_queue=max_queue,
                write_limit=write_limit,
            )

        self.factory = factory

    async def open_tcp_connection(self) -> ClientConnection:
        """Open the TCP (or Unix, or proxied) connection and its ClientConnection."""
        kwargs = self.create_connection_kwargs.copy()
        ws_uri = self.ws_uri

        def factory() -> ClientConnection:
            return self.factory(ws_uri)

        proxy = self.proxy
        if kwargs.get("unix", False) or kwargs.get("sock") is not None:
            proxy = None
        if proxy is True:
            proxy = get_proxy(ws_uri)

        if ws_uri.secure:
            kwargs.setdefault("ssl", True)
            if kwargs.get("ssl") is None:
                raise ValueError("ssl=None is incompatible with a wss:// URI")
            kwargs.setdefault("server_hostname", ws_uri.host)

        # With ssl, tls.create_connection uses our TLS layer rather than asyncio's.
        if kwargs.pop("unix", False):
            _, connection = await tls.create_connection(factory, unix=True, **kwargs)
            return connection

        if proxy is None:
            if kwargs.get("sock") is None:
                kwargs.setdefault("host", ws_uri.host)
                kwargs.setdefault("port", ws_uri.port)
            _, connection = await tls.create_connection(factory, **kwargs)
            return connection

        proxy_config = parse_proxy(proxy)
        if proxy_config.scheme.startswith("socks"):
            sock = await connect_socks_proxy(proxy_config, ws_uri, local_addr=kwargs.pop("local_addr", None))
            _, connection = await tls.create_connection(factory, sock=sock, **kwargs)
            return connection

        # HTTP(S) proxy: TLS settings without a prefix are for the server,
        # proxy_* ones and the rest are for the proxy.
        proxy_kwargs: Dict[str, Any] = {}
        server_kwargs: Dict[str, Any] = {}
        for key, value in kwargs.items():
            if key.startswith("ssl") or key == "server_hostname":
                server_kwargs[key] = value
            elif key.startswith("proxy_"):
                proxy_kwargs[key[6:]] = value
            else:
                proxy_kwargs[key] = value
        if proxy_config.scheme == "https":
            proxy_kwargs.setdefault("ssl", True)
            if proxy_kwargs.get("ssl") is None:
                raise ValueError("proxy_ssl=None is incompatible with an https:// proxy")
        elif proxy_kwargs.get("ssl") is not None:
            raise ValueError("proxy_ssl argument is incompatible with an http:// proxy")
        transport = await connect_http_proxy(proxy_config, ws_uri, user_agent_header=self.user_agent_header, **proxy_kwargs)
        if server_kwargs.get("ssl") is not None:
            try:
                _, connection = await tls.create_connection(factory, transport=transport, **server_kwargs)
            except BaseException:
                transport.abort()
                raise
            return connection
        connection = factory()
        transport.set_protocol(connection)
        connection.connection_made(transport)
        return connection

    def process_redirect(self, exc: Exception) -> Union[Exception, str]:
        """Return the URI to follow if ``exc`` is a valid redirect, else an exception."""
        if not (
            isinstance(exc, InvalidStatus)
            and exc.response.status_code in REDIRECT_STATUSES
            and "Location" in exc.response.headers
        ):
            return exc
        old_uri = self.ws_uri
        new_uri = urllib.parse.urljoin(self.uri, exc.response.headers["Location"])
        new_ws_uri = parse_uri(new_uri)
        kwargs = self.create_connection_kwargs
        if kwargs.get("sock") is not None:
            return ValueError(f"cannot follow redirect to {new_uri} with a preexisting socket")
        if old_uri.secure and not new_ws_uri.secure:
            return SecurityError(f"cannot follow redirect to non-secure URI {new_uri}")
        if (old_uri.secure, old_uri.host, old_uri.port) != (new_ws_uri.secure, new_ws_uri.host, new_ws_uri.port):
            if kwargs.get("unix", False):
                return ValueError(f"cannot follow cross-origin redirect to {new_uri} with a Unix socket")
            if kwargs.get("host") is not None or kwargs.get("port") is not None:
                return ValueError(f"cannot follow cross-origin redirect to {new_uri} with an explicit host or port")
            # Credentials mustn't leak to another origin.
            if self.additional_headers is not None:
                self.additional_headers = Headers(
                    (key, value)
                    for key, value in Headers(self.additional_headers).raw_items()
                    if key.lower() not in ("authorization", "cookie", "proxy-authorization")
                )
        return new_uri

    async def _connect(self) -> ClientConnection:
        for _ in range(MAX_REDIRECTS):
            connection = await self.open_tcp_connection()
            try:
                await connection.handshake(self.additional_headers, self.user_agent_header)
            except asyncio.CancelledError:
                connection.transport.abort()
                raise
            except Exception as exc:
                # The protocol can't be reused for another request: close.
                connection.transport.abort()
                uri_or_exc = self.process_redirect(exc)
                if isinstance(uri_or_exc, Exception):
                    if uri_or_exc is exc:
                        raise
                    raise uri_or_exc from exc
                self.uri = uri_or_exc
                self.ws_uri = parse_uri(uri_or_exc)
                continue
            connection._start_keepalive()
            return connection
        raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

    async def connect(self) -> ClientConnection:
        try:
            if self.open_timeout is None:
                return await self._connect()
            return await asyncio.wait_for(self._connect(), self.open_timeout)
        except asyncio.TimeoutError as exc:
            raise TimeoutError("timed out during opening handshake") from exc

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self.connect().__await__()

    async def __aenter__(self) -> ClientConnection:
        if hasattr(self, "connection"):
            raise RuntimeError("connect() isn't reentrant")
        self.connection = await self
        return await self.connection.__aenter__()

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        try:
            return await self.connection.__aexit__(exc_type, exc_value, traceback)
        finally:
            del self.connection

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        delays = None
        while True:
            try:
                async with self as connection:
                    yield connection
            except Exception as exc:
                # process_exception returns an exception (fatal) or None
                # (retry); raising is tolerated since it's a common mistake.
                try:
                    new_exc = self.process_exception(exc)
                except Exception as raised:
                    new_exc = raised
                if new_exc is exc:
                    raise
                if new_exc is not None:
                    raise new_exc from exc
                if delays is None:
                    delays = self.reconnect_delays()
                delay = next(delays)
                self.logger.info(
                    "connect failed; reconnecting in %.1f seconds: %s",
                    delay,
                    traceback.format_exception_only(type(exc), exc)[0].strip(),
                )
                await asyncio.sleep(delay)
            else:
                delays = None


def unix_connect(path: Optional[str] = None, uri: Optional[str] = None, **kwargs: Any) -> connect:
    """
    Connect to a WebSocket server listening on a Unix socket at ``path``.

    Same arguments as :func:`connect`. ``uri`` defaults to
    ``ws://localhost/`` (``wss://localhost/`` when ``ssl`` is given).
    """
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return connect(uri=uri, unix=True, path=path, **kwargs)


try:
    from python_socks import ProxyType
    from python_socks.async_.asyncio import Proxy as SocksProxy
except ImportError:

    async def connect_socks_proxy(proxy: Proxy, ws_uri: WebSocketURI, **kwargs: Any) -> Any:
        raise ImportError("connecting through a SOCKS proxy requires python-socks")

else:
    SOCKS_PROXY_TYPES = {
        "socks5h": ProxyType.SOCKS5,
        "socks5": ProxyType.SOCKS5,
        "socks4a": ProxyType.SOCKS4,
        "socks4": ProxyType.SOCKS4,
    }
    # The "h" and "a" variants let the proxy resolve the host name.
    SOCKS_PROXY_RDNS = {"socks5h": True, "socks5": False, "socks4a": True, "socks4": False}

    async def connect_socks_proxy(proxy: Proxy, ws_uri: WebSocketURI, **kwargs: Any) -> Any:
        """Connect through a SOCKS proxy; return the connected socket."""
        socks_proxy = SocksProxy(
            SOCKS_PROXY_TYPES[proxy.scheme],
            proxy.host,
            proxy.port,
            proxy.username,
            proxy.password,
            SOCKS_PROXY_RDNS[proxy.scheme],
        )
        try:
            return await socks_proxy.connect(ws_uri.host, ws_uri.port, **kwargs)
        except OSError:
            raise
        except Exception as exc:
            raise ProxyError("failed to connect to SOCKS proxy") from exc


class _HTTPProxyConnection(asyncio.Protocol):
    """Sends CONNECT to an HTTP proxy and reads its answer."""

    def __init__(self, ws_uri: WebSocketURI, proxy: Proxy, user_agent_header: Optional[str]) -> None:
        self.ws_uri = ws_uri
        self.proxy = proxy
        self.user_agent_header = user_agent_header
        self.parser = ResponseParser(proxy=True)
        self.response: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.transport: Optional[asyncio.BaseTransport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        cast(asyncio.Transport, transport).write(prepare_connect_request(self.proxy, self.ws_uri, self.user_agent_header))

    def _done(self, result: Optional[Response] = None, exc: Optional[BaseException] = None) -> None:
        if self.response.done():
            return
        if exc is not None:
            error = InvalidProxyMessage("did not receive a valid HTTP response from proxy")
            error.__cause__ = exc
            self.response.set_exception(error)
            return
        assert result is not None  # given when exc isn't
        if 200 <= result.status_code < 300:
            self.response.set_result(result)
        else:
            self.response.set_exception(InvalidProxyStatus(result))

    def data_received(self, data: bytes) -> None:
        if self.response.done():
            return
        try:
            parsed = self.parser.feed(data)
        except Exception as exc:
            self._done(exc=exc)
            return
        if parsed is not None:
            response, rest = parsed
            if rest:
                # The server can't speak before our handshake request.
                self._done(exc=ValueError("unexpected data after proxy response"))
            else:
                self._done(response)

    def eof_received(self) -> None:
        if not self.response.done():
            try:
                self._done(self.parser.feed_eof())
            except Exception as exc:
                self._done(exc=exc)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.response.done():
            self._done(exc=exc or EOFError("proxy closed the connection"))


async def connect_http_proxy(
    proxy: Proxy, ws_uri: WebSocketURI, *, user_agent_header: Optional[str] = None, **kwargs: Any
) -> asyncio.Transport:
    """Open a tunnel through an HTTP proxy with CONNECT; return its transport."""
    transport, protocol = await asyncio.get_running_loop().create_connection(
        lambda: _HTTPProxyConnection(ws_uri, proxy, user_agent_header),
        proxy.host,
        proxy.port,
        **kwargs,
    )
    try:
        await protocol.response
    except BaseException:
        transport.abort()
        raise
    return transport
