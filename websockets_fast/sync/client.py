"""
The threading WebSocket client: :func:`connect`, :func:`unix_connect` and
:class:`ClientConnection`, mirroring ``websockets.sync.client``.

The opening handshake runs in the calling thread, straight on the socket;
the connection's reader thread starts only once it has succeeded, so a
refused connection costs no thread.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl as ssl_module
import time
import traceback
import urllib.parse
import warnings
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator, Literal, Optional, Sequence, Tuple, Type

from ..client import ClientProtocol, backoff, process_exception
from ..datastructures import Headers, HeadersLike
from ..exceptions import InvalidMessage, InvalidProxyMessage, InvalidProxyStatus, InvalidStatus, ProxyError, SecurityError
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import validate_subprotocols
from ..http11 import USER_AGENT
from ..proxy import Proxy
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import WebSocketURI, parse_uri
from .connection import Connection

if TYPE_CHECKING:
    from .server import ServerConnection

__all__ = ["connect", "unix_connect", "reconnect", "unix_reconnect", "ClientConnection"]

MAX_REDIRECTS = int(os.environ.get("WEBSOCKETS_MAX_REDIRECTS", "10"))

REDIRECT_STATUSES = (300, 301, 302, 303, 307, 308)


def _remaining(deadline: Optional[float]) -> Optional[float]:
    """Seconds left before ``deadline`` (a monotonic time or None); raise TimeoutError if none."""
    if deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out while opening the connection")
    return remaining


def _handshake_io(
    connection: ClientConnection | ServerConnection, deadline: Optional[float], done: Callable[[], bool], timeout_message: str
) -> None:
    """
    Read from the socket and feed the protocol until ``done()`` is true or
    the peer closes, within ``deadline``. Events are handed to
    ``connection.process_handshake_event``; bytes the protocol wants to send
    (an error response, pongs) are written at once.
    """
    sock = connection.socket
    protocol = connection.protocol
    try:
        while not done():
            sock.settimeout(_remaining(deadline))
            data = sock.recv(connection.recv_bufsize)
            with connection._lock:
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                for event in protocol.events_received():
                    connection.process_handshake_event(event)
                chunks = protocol.data_to_send()
            _write_all(sock, chunks)
            if not data:
                break
    except (socket.timeout, TimeoutError):
        raise TimeoutError(timeout_message) from None
    finally:
        try:
            sock.settimeout(None)
        except OSError:
            pass


def _write_all(sock: socket.socket, chunks: Sequence[bytes]) -> None:
    """Write protocol output during the opening handshake (no other writer exists yet)."""
    for chunk in chunks:
        if chunk:
            sock.sendall(chunk)
        else:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass


class ClientConnection(Connection):
    """
    A client connection, as returned by :func:`connect`.

    It provides :meth:`recv`, :meth:`send`, iteration over incoming messages
    and the rest of :class:`~websockets_fast.sync.connection.Connection`.

    Args:
        sock: socket connected to a WebSocket server.
        protocol: a :class:`~websockets_fast.client.ClientProtocol`.
        ping_interval, ping_timeout, close_timeout, max_queue: as in
            :func:`connect`.
    """

    __slots__ = ()

    protocol: ClientProtocol

    def __init__(
        self,
        sock: socket.socket,
        protocol: ClientProtocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | None | tuple[int | None, int | None] = 16,
    ) -> None:
        super().__init__(
            sock,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )

    def handshake(
        self,
        additional_headers: Optional[HeadersLike] = None,
        user_agent_header: str | None = USER_AGENT,
        timeout: float | None = None,
    ) -> None:
        """
        Perform the opening handshake, then start the reader thread.

        Args:
            additional_headers: headers added to the request. Default none.
            user_agent_header: value of the ``User-Agent`` header; :obj:`None`
                omits it. Default ``"Python/x.y websockets_fast/z"``.
            timeout: seconds allowed for the handshake; :obj:`None` (default)
                waits forever.

        Raises:
            InvalidHandshake: the server refused or answered badly.
            TimeoutError: ``timeout`` elapsed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        protocol = self.protocol
        self.request = protocol.connect()
        if additional_headers is not None:
            self.request.headers.update(additional_headers)
        if user_agent_header is not None:
            self.request.headers.setdefault("User-Agent", user_agent_header)
        protocol.send_request(self.request)
        _write_all(self.socket, protocol.data_to_send())
        _handshake_io(
            self,
            deadline,
            lambda: self.response is not None,
            "timed out while waiting for handshake response",
        )
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        if self.response is None:
            raise InvalidMessage("did not receive a valid HTTP response")
        self.start_reader()

    def process_handshake_event(self, event: Any) -> None:
        """Take the handshake response, then frames that came with it."""
        if self.response is None:
            self.response = event
        else:
            self.process_event(event)


def _open_tcp(ws_uri: WebSocketURI, deadline: Optional[float], kwargs: Any) -> socket.socket:
    kwargs.setdefault("address", (ws_uri.host, ws_uri.port))
    kwargs.setdefault("timeout", _remaining(deadline))
    return socket.create_connection(**kwargs)


def _open_unix(path: Any, deadline: Optional[float]) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(_remaining(deadline))
        sock.connect(os.fspath(path))
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_socks_proxy(proxy: Proxy, ws_uri: WebSocketURI, deadline: Optional[float], kwargs: Any) -> socket.socket:
    try:
        from python_socks import ProxyType
        from python_socks.sync import Proxy as SocksProxy
    except ImportError:
        raise ImportError("connecting through a SOCKS proxy requires python-socks") from None
    proxy_type = {
        "socks5h": ProxyType.SOCKS5,
        "socks5": ProxyType.SOCKS5,
        "socks4a": ProxyType.SOCKS4,
        "socks4": ProxyType.SOCKS4,
    }[proxy.scheme]
    # The "h" and "a" variants let the proxy resolve the host name.
    rdns = proxy.scheme in ("socks5h", "socks4a")
    socks_proxy = SocksProxy(proxy_type, proxy.host, proxy.port, proxy.username, proxy.password, rdns)
    try:
        return socks_proxy.connect(
            ws_uri.host,
            ws_uri.port,
            timeout=_remaining(deadline),
            local_addr=kwargs.pop("source_address", None),
        )
    except (OSError, TimeoutError, socket.timeout):
        raise
    except Exception as exc:
        raise ProxyError("failed to connect to SOCKS proxy") from exc


def _connect_http_proxy(
    proxy: Proxy,
    ws_uri: WebSocketURI,
    deadline: Optional[float],
    user_agent_header: Optional[str],
    proxy_ssl: Optional[ssl_module.SSLContext],
    proxy_server_hostname: Optional[str],
    kwargs: Any,
) -> socket.socket:
    from ..proxy import prepare_connect_request
    from ..speedups import HTTPParseError, parse_response

    kwargs.setdefault("timeout", _remaining(deadline))
    sock = socket.create_connection((proxy.host, proxy.port), **kwargs)
    try:
        if proxy.scheme == "https":
            context = proxy_ssl if proxy_ssl is not None else ssl_module.create_default_context()
            sock.settimeout(_remaining(deadline))
            sock = context.wrap_socket(sock, server_hostname=proxy_server_hostname or proxy.host)
        elif proxy_ssl is not None:
            raise ValueError("proxy_ssl argument is incompatible with an http:// proxy")
        sock.sendall(prepare_connect_request(proxy, ws_uri, user_agent_header))
        # Read exactly the response head: what follows belongs to the
        # WebSocket handshake. A CONNECT response carries no body.
        head = b""
        parsed = None
        while parsed is None:
            sock.settimeout(_remaining(deadline))
            byte = sock.recv(1)
            if not byte:
                raise InvalidProxyMessage("did not receive a valid HTTP response from proxy")
            head += byte
            if head.endswith(b"\r\n\r\n"):
                try:
                    parsed = parse_response(head)
                except HTTPParseError as exc:
                    raise InvalidProxyMessage("did not receive a valid HTTP response from proxy") from exc
                if parsed is None:
                    raise InvalidProxyMessage("did not receive a valid HTTP response from proxy")
            elif len(head) > 65536:
                raise InvalidProxyMessage("proxy response is too long")
        _version, status_code, reason, headers, _length = parsed
        if not 200 <= status_code < 300:
            from ..http11 import Response

            raise InvalidProxyStatus(Response(status_code, reason, Headers(headers)))
        sock.settimeout(None)
        return sock
    except socket.timeout:
        sock.close()
        raise TimeoutError("timed out while connecting to HTTP proxy") from None
    except BaseException:
        sock.close()
        raise


def _open_socket(
    ws_uri: WebSocketURI,
    deadline: Optional[float],
    proxy: Optional[str | Literal[True]],
    proxy_ssl: Optional[ssl_module.SSLContext],
    proxy_server_hostname: Optional[str],
    user_agent_header: Optional[str],
    kwargs: Any,
) -> socket.socket:
    """Open a TCP or Unix connection to the server, possibly through a proxy."""
    kwargs = dict(kwargs)
    if kwargs.pop("unix", False):
        return _open_unix(kwargs.pop("path"), deadline)
    if proxy is True:
        from ..proxy import get_proxy

        proxy = get_proxy(ws_uri)
    if proxy is None:
        return _open_tcp(ws_uri, deadline, kwargs)
    from ..proxy import parse_proxy

    parsed = parse_proxy(proxy)
    if parsed.scheme.startswith("socks"):
        return _connect_socks_proxy(parsed, ws_uri, deadline, kwargs)
    if parsed.scheme.startswith("http"):
        return _connect_http_proxy(parsed, ws_uri, deadline, user_agent_header, proxy_ssl, proxy_server_hostname, kwargs)
    raise AssertionError("parse_proxy returned an unsupported proxy")


def connect(
    uri: str,
    *,
    sock: socket.socket | None = None,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    origin: Origin | None = None,
    extensions: Sequence[ClientExtensionFactory] | None = None,
    subprotocols: Sequence[Subprotocol] | None = None,
    compression: str | None = "deflate",
    additional_headers: HeadersLike | None = None,
    user_agent_header: str | None = USER_AGENT,
    proxy: str | Literal[True] | None = True,
    proxy_ssl: ssl_module.SSLContext | None = None,
    proxy_server_hostname: str | None = None,
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    max_size: int | None | tuple[int | None, int | None] = 2**20,
    max_queue: int | None | tuple[int | None, int | None] = 16,
    logger: LoggerLike | None = None,
    create_connection: type[ClientConnection] | None = None,
    **kwargs: Any,
) -> ClientConnection:
    """
    Connect to the WebSocket server at ``uri`` and return the connection.

    Use it as a context manager to close the connection on the way out::

        with connect("ws://127.0.0.1:8765") as websocket:
            websocket.send("hello")
            print(websocket.recv())

    Args:
        uri: URI of the server, ``ws://`` or ``wss://``.
        sock: an already connected socket to use instead of opening one to
            the host and port of ``uri``. Default :obj:`None`.
        ssl: TLS configuration for ``wss://``; a default context when
            :obj:`None`.
        server_hostname: host name for TLS; default the host of ``uri``.
        origin: value of the ``Origin`` header. Default none.
        extensions: extension factories, in negotiation order. Default none.
        subprotocols: supported subprotocols, by preference. Default none.
        compression: ``"deflate"`` (default) offers permessage-deflate;
            :obj:`None` disables compression.
        additional_headers: extra request headers. Default none.
        user_agent_header: ``User-Agent`` value; :obj:`None` omits it.
        proxy: :obj:`True` (default) uses the proxy configured in the
            environment; a proxy URL uses that proxy; :obj:`None` none.
        proxy_ssl: TLS configuration for an ``https://`` proxy.
        proxy_server_hostname: host name for TLS with the proxy.
        open_timeout: seconds allowed to open the connection (TCP, TLS and
            the opening handshake); :obj:`None` disables it. Default 10.
        ping_interval: seconds between keepalive pings; :obj:`None` disables
            them. Default 20.
        ping_timeout: seconds to wait for a keepalive pong before failing
            the connection; :obj:`None` waits forever. Default 20.
        close_timeout: seconds allowed for closing; :obj:`None` waits
            forever. Default 10.
        max_size: largest incoming message in bytes (1 MiB by default), or a
            ``(max_message_size, max_fragment_size)`` tuple; :obj:`None`
            means no limit.
        max_queue: high-water mark of the incoming frame queue, default 16;
            the low-water mark defaults to a quarter of it; a ``(high, low)``
            tuple sets both; :obj:`None` disables flow control.
        logger: logger for this connection; default
            ``logging.getLogger("websockets_fast.client")``.
        create_connection: factory for the connection, e.g. a subclass of
            :class:`ClientConnection`. Default :class:`ClientConnection`.

    Other keyword arguments go to :func:`socket.create_connection`. As in
    websockets 17, ``legacy=False`` returns a :class:`reconnect` instead.

    Raises:
        InvalidURI: ``uri`` isn't a WebSocket URI.
        OSError: the TCP connection failed.
        InvalidHandshake: the opening handshake failed.
        TimeoutError: ``open_timeout`` elapsed.
    """
    if ssl is None and "ssl_context" in kwargs:
        ssl = kwargs.pop("ssl_context")
        warnings.warn("ssl_context was renamed to ssl", DeprecationWarning, stacklevel=2)
    # As in websockets 17: legacy=False asks for the reconnecting form.
    if kwargs.pop("legacy", None) is False:
        return reconnect(  # type: ignore[return-value]  # websockets types it with an overload
            uri,
            sock=sock,
            ssl=ssl,
            server_hostname=server_hostname,
            origin=origin,
            extensions=extensions,
            subprotocols=subprotocols,
            compression=compression,
            additional_headers=additional_headers,
            user_agent_header=user_agent_header,
            proxy=proxy,
            proxy_ssl=proxy_ssl,
            proxy_server_hostname=proxy_server_hostname,
            open_timeout=open_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            max_queue=max_queue,
            logger=logger,
            create_connection=create_connection,
            **kwargs,
        )

    ws_uri = parse_uri(uri)
    if not ws_uri.secure and ssl is not None:
        raise ValueError("ssl argument is incompatible with a ws:// URI")
    if subprotocols is not None:
        validate_subprotocols(subprotocols)
    if compression == "deflate":
        extensions = enable_client_permessage_deflate(extensions)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    if create_connection is None:
        create_connection = ClientConnection
    if kwargs.get("unix", False):
        proxy = None

    deadline = None if open_timeout is None else time.monotonic() + open_timeout

    for _ in range(MAX_REDIRECTS):
        connection_sock = sock if sock is not None else _open_socket(
            ws_uri, deadline, proxy, proxy_ssl, proxy_server_hostname, user_agent_header, kwargs
        )
        try:
            if connection_sock.family in (socket.AF_INET, socket.AF_INET6):
                connection_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if ws_uri.secure:
                context = ssl if ssl is not None else ssl_module.create_default_context()
                connection_sock.settimeout(_remaining(deadline))
                connection_sock = context.wrap_socket(
                    connection_sock,
                    server_hostname=server_hostname if server_hostname is not None else ws_uri.host,
                )
                connection_sock.settimeout(None)
            protocol = ClientProtocol(
                ws_uri,
                origin=origin,
                extensions=extensions,
                subprotocols=subprotocols,
                max_size=max_size,
                logger=logger,
            )
            connection = create_connection(
                connection_sock,
                protocol,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_queue=max_queue,
            )
        except BaseException:
            connection_sock.close()
            raise
        try:
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            connection.handshake(additional_headers, user_agent_header, timeout)
        except BaseException as exc:
            connection.close_socket()
            redirect = _redirect_target(exc, uri, ws_uri, sock, kwargs)
            if redirect is None:
                raise
            uri, cross_origin = redirect
            ws_uri = parse_uri(uri)
            if additional_headers is not None and cross_origin:
                additional_headers = _without_credentials(additional_headers)
            continue
        return connection
    raise SecurityError(f"more than {MAX_REDIRECTS} redirects")


def _redirect_target(
    exc: BaseException, uri: str, ws_uri: WebSocketURI, sock: Optional[socket.socket], kwargs: Any
) -> Optional[Tuple[str, bool]]:
    """
    ``(new_uri, cross_origin)`` when ``exc`` is a redirect to follow, :obj:`None`
    when it isn't a redirect (re-raise ``exc``); raise when it can't be followed.
    """
    if not (
        isinstance(exc, InvalidStatus)
        and exc.response.status_code in REDIRECT_STATUSES
        and "Location" in exc.response.headers
    ):
        return None
    new_uri = urllib.parse.urljoin(uri, exc.response.headers["Location"])
    new_ws_uri = parse_uri(new_uri)
    if sock is not None:
        raise ValueError(f"cannot follow redirect to {new_uri} with a preexisting socket") from exc
    if ws_uri.secure and not new_ws_uri.secure:
        raise SecurityError(f"cannot follow redirect to non-secure URI {new_uri}") from exc
    cross_origin = (ws_uri.secure, ws_uri.host, ws_uri.port) != (new_ws_uri.secure, new_ws_uri.host, new_ws_uri.port)
    if cross_origin and kwargs.get("unix", False):
        raise ValueError(f"cannot follow cross-origin redirect to {new_uri} with a Unix socket") from exc
    if cross_origin and kwargs.get("address") is not None:
        raise ValueError(f"cannot follow cross-origin redirect to {new_uri} with an explicit host and port") from exc
    return new_uri, cross_origin


def _without_credentials(headers: HeadersLike) -> Headers:
    """Drop credentials so that a redirect doesn't leak them to another origin."""
    return Headers(
        (name, value)
        for name, value in Headers(headers).raw_items()
        if name.lower() not in ("authorization", "cookie", "proxy-authorization")
    )


def unix_connect(path: Any = None, uri: str | None = None, **kwargs: Any) -> ClientConnection:
    """
    Connect to a WebSocket server listening on a Unix socket.

    Args:
        path: file system path of the socket.
        uri: URI for the handshake; default ``ws://localhost/``, or
            ``wss://localhost/`` when ``ssl`` is given.

    Other keyword arguments are as in :func:`connect`.
    """
    sock = kwargs.get("sock")
    if path is None and sock is None:
        raise ValueError("missing path argument")
    if path is not None and sock is not None:
        raise ValueError("path is incompatible with sock")
    if uri is None:
        if kwargs.get("ssl") is None and kwargs.get("ssl_context") is None:
            uri = "ws://localhost/"
        else:
            uri = "wss://localhost/"
    return connect(uri=uri, unix=True, path=path, **kwargs)


class reconnect:
    """
    :func:`connect` that reconnects after failures, as in websockets 17.

    Use it as an iterator that yields a new connection after each failure,
    with exponential backoff between attempts::

        for websocket in reconnect("ws://127.0.0.1:8765"):
            try:
                for message in websocket:
                    print(message)
            except ConnectionClosed:
                continue

    or as a context manager, like :func:`connect`. Each connection is closed
    when the loop moves on.

    Args:
        uri: as in :func:`connect`.
        process_exception: ``(exception) -> exception or None``; None means
            the failure is transient: reconnect. Default
            :func:`websockets_fast.client.process_exception` (network errors,
            timeouts and HTTP 500, 502, 503, 504 are transient).
        reconnect_delays: generator of delays in seconds between attempts.
            Default :func:`websockets_fast.client.backoff`.

    Other keyword arguments are as in :func:`connect`.
    """

    def __init__(
        self,
        uri: str,
        *,
        process_exception: Callable[[Exception], Exception | None] = process_exception,
        reconnect_delays: Callable[[], Generator[float, None, None]] = backoff,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("legacy", None)
        self.uri = uri
        self.process_exception = process_exception
        self.reconnect_delays = reconnect_delays
        self.kwargs = kwargs
        logger = kwargs.get("logger")
        self.logger = logger if logger is not None else logging.getLogger("websockets_fast.client")
        self.connection: Optional[ClientConnection] = None

    def connect(self) -> ClientConnection:
        """Open one connection, as :func:`connect` does."""
        return connect(self.uri, **self.kwargs)

    def __enter__(self) -> ClientConnection:
        if self.connection is not None:
            raise RuntimeError("connect() isn't reentrant")
        self.connection = self.connect()
        return self.connection

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        connection, self.connection = self.connection, None
        assert connection is not None  # set by __enter__
        connection.__exit__(exc_type, exc_value, traceback)

    def __iter__(self) -> Iterator[ClientConnection]:
        delays: Optional[Generator[float, None, None]] = None
        while True:
            try:
                with self as connection:
                    yield connection
            except Exception as exc:
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
                time.sleep(delay)
            else:
                delays = None


def unix_reconnect(path: Any = None, uri: str | None = None, **kwargs: Any) -> reconnect:
    """:func:`unix_connect` that reconnects after failures; see :class:`reconnect`."""
    if path is None and kwargs.get("sock") is None:
        raise ValueError("missing path argument")
    if path is not None and kwargs.get("sock") is not None:
        raise ValueError("path is incompatible with sock")
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return reconnect(uri, unix=True, path=path, **kwargs)
