"""
The threading WebSocket server: :func:`serve`, :func:`unix_serve`,
:class:`Server`, :class:`ServerConnection`, :func:`basic_auth` and
:func:`broadcast`, mirroring ``websockets.sync.server``.

Each accepted connection gets one thread that performs the opening
handshake straight on the socket and then runs the handler, plus the
connection's reader thread once the handshake has succeeded.
"""

from __future__ import annotations

import http
import logging
import os
import selectors
import socket
import ssl as ssl_module
import threading
import time
import warnings
from collections.abc import Iterable
import re
from types import TracebackType
from typing import Any, Callable, Optional, Sequence, Set, Type, cast

from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..frames import CloseCode
from ..headers import validate_subprotocols
from ..http11 import SERVER, Request, Response
from ..protocol import State
from ..server import ServerProtocol
from ..typing import LoggerLike, Origin, StatusLike, Subprotocol
from ..utils import get_socket_name
from .client import _handshake_io, _write_all
from .connection import Connection, broadcast

__all__ = ["broadcast", "serve", "unix_serve", "ServerConnection", "Server", "basic_auth"]

OPEN = State.OPEN
CONNECTING = State.CONNECTING

# Server.__init__ takes an argument named socket, as in websockets.
_socketpair = socket.socketpair


class ServerConnection(Connection):
    """
    A server connection, as passed to the handler given to :func:`serve`.

    It provides :meth:`recv`, :meth:`send`, iteration over incoming messages
    and the rest of :class:`~websockets_fast.sync.connection.Connection`.

    Args:
        sock: socket connected to a WebSocket client.
        protocol: a :class:`~websockets_fast.server.ServerProtocol`.
        server: the :class:`Server` that accepted the connection.
        ping_interval, ping_timeout, close_timeout, max_queue: as in
            :func:`serve`.
    """

    __slots__ = ("server", "username", "handler", "handler_kwargs")

    protocol: ServerProtocol
    username: str
    # Set by the router (see router.py).
    handler: Callable[..., None]
    handler_kwargs: Any

    def __init__(
        self,
        sock: socket.socket,
        protocol: ServerProtocol,
        server: Server,
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
        self.server = server

    def respond(self, status: StatusLike, text: str) -> Response:
        """
        Build a plain text HTTP response, for ``process_request`` or
        ``process_response`` to return instead of the WebSocket handshake.

        Args:
            status: HTTP status code.
            text: body, encoded to UTF-8.
        """
        return self.protocol.reject(status, text)

    def handshake(
        self,
        process_request: Callable[[ServerConnection, Request], Optional[Response]] | None = None,
        process_response: Callable[[ServerConnection, Request, Response], Optional[Response]] | None = None,
        server_header: str | None = SERVER,
        timeout: float | None = None,
    ) -> None:
        """
        Perform the opening handshake. If it succeeds, the state is OPEN and
        the reader thread runs; otherwise the caller closes the socket.

        Args:
            process_request: as in :func:`serve`. Default none.
            process_response: as in :func:`serve`. Default none.
            server_header: ``Server`` header value; :obj:`None` omits it.
            timeout: seconds allowed; :obj:`None` (default) waits forever.

        Raises:
            TimeoutError: no complete request arrived in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        protocol = self.protocol
        _handshake_io(
            self,
            deadline,
            lambda: self.request is not None or protocol.handshake_exc is not None,
            "timed out while waiting for handshake request",
        )
        if self.request is None:
            # A malformed request or an early EOF; the protocol has already
            # written its error response, if any.
            return

        response = None
        if process_request is not None:
            try:
                response = process_request(self, self.request)
            except Exception as exc:
                protocol.handshake_exc = exc
                self.logger.error("process_request failed", exc_info=True)
                response = self._internal_error()
        self.response = protocol.accept(self.request) if response is None else response
        if server_header is not None:
            self.response.headers["Server"] = server_header
        if process_response is not None:
            try:
                response = process_response(self, self.request, self.response)
            except Exception as exc:
                protocol.handshake_exc = exc
                self.logger.error("process_response failed", exc_info=True)
                response = self._internal_error()
            if response is not None:
                self.response = response

        server = self.server
        # Deciding and sending the response under the server's lock means
        # that once shutdown() has started, no new connection opens, so it
        # sees every open connection.
        with server.lock:
            if self.response.status_code == 101 and server.closing:
                self.response = protocol.reject(http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n")
            if protocol.state is CONNECTING:
                # Frames that came right behind the request: the reader
                # parses them first, a slice at a time like any read.
                early = protocol.take_early_data() if self.response.status_code == 101 else None
                protocol.send_response(self.response)
                _write_all(self.socket, protocol.data_to_send())
                if early:
                    self._unparsed = memoryview(early)
            # Frames that came right behind the request may have started
            # closing the connection already: it is open all the same.
            opened = self.response.status_code == 101 and protocol.state is not CONNECTING
            if opened:
                server.all_connections.add(self)
        if opened:
            with self._lock:
                # Those frames, parsed by send_response(): the reader would
                # only see them after the next bytes from the client.
                for event in protocol.events_received():
                    self.process_event(event)
            self.start_reader()

    def _internal_error(self) -> Response:
        return self.protocol.reject(
            http.HTTPStatus.INTERNAL_SERVER_ERROR,
            "Failed to open a WebSocket connection.\nSee server log for more information.\n",
        )

    def process_handshake_event(self, event: Any) -> None:
        """Take the handshake request, then frames that came with it."""
        if self.request is None:
            self.request = event
        else:
            self.process_event(event)

    def _begin_close(self, code: int, reason: str) -> None:
        """Send a close frame without waiting for the closing handshake."""
        with self._lock:
            if self.protocol.state is not OPEN:
                return
            if self._send_in_progress:
                self.protocol.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
            else:
                self.protocol.send_close(code, reason)
            self._note_closing_locked()
            chunks = self.protocol.data_to_send()
            ticket = self._claim_write_locked(chunks)
        try:
            self._write(chunks, ticket)
        except Exception:
            pass


class Server:
    """
    A WebSocket server, as returned by :func:`serve`; its API follows
    :class:`socketserver.BaseServer`.

    Args:
        sock: the listening socket.
        handler: called in a new thread with ``(socket, address)`` for each
            accepted connection.
        logger: logger for the server; default
            ``logging.getLogger("websockets_fast.server")``.
    """

    def __init__(
        self, sock: socket.socket, handler: Callable[[socket.socket, Any], None], logger: Optional[LoggerLike] = None
    ) -> None:
        self.socket = sock
        """The listening socket."""
        self.handler = handler
        if logger is None:
            logger = logging.getLogger("websockets_fast.server")
        self.logger = logger
        self.lock = threading.Lock()
        self.all_connections: Set[ServerConnection] = set()
        self.handler_threads: Set[threading.Thread] = set()
        self.closing = False
        # Wakes serve_forever() from shutdown(); one pair per server.
        self._shutdown_watcher, self._shutdown_notifier = _socketpair()
        self._serving = threading.Lock()

    @property
    def connections(self) -> Set[ServerConnection]:
        """The connections that are open: handshake done, closing not started."""
        with self.lock:
            return {connection for connection in self.all_connections if connection.protocol.state is OPEN}

    def serve_forever(self) -> None:
        """
        Accept connections until :meth:`shutdown` is called from another
        thread. Typical use::

            with serve(handler, "127.0.0.1", 8765) as server:
                server.serve_forever()
        """
        with self._serving:
            selector = selectors.DefaultSelector()
            try:
                try:
                    selector.register(self._shutdown_watcher, selectors.EVENT_READ)
                    selector.register(self.socket, selectors.EVENT_READ)
                    self.logger.info("server listening on %s", get_socket_name(self.socket))
                except (OSError, ValueError):  # shutdown() already ran
                    return
                while not self.closing:
                    ready = selector.select()
                    if self.closing or not any(key.fileobj is self.socket for key, _ in ready):
                        break
                    try:
                        sock, address = self.socket.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        break
                    thread = threading.Thread(target=self._run_handler, args=(sock, address))
                    with self.lock:
                        if self.closing:
                            sock.close()
                            break
                        self.handler_threads.add(thread)
                    thread.start()
            finally:
                selector.close()

    def _run_handler(self, sock: socket.socket, address: Any) -> None:
        try:
            self.handler(sock, address)
        finally:
            with self.lock:
                self.handler_threads.discard(threading.current_thread())

    def shutdown(self, close_connections: bool = True, code: int = CloseCode.GOING_AWAY, reason: str = "") -> None:
        """
        Stop the server and wait for the connection handlers to finish.

        It stops accepting connections; with ``close_connections`` it also
        answers handshakes in progress with HTTP 503 and closes open
        connections with ``code`` and ``reason``. It is idempotent.

        Args:
            close_connections: close open connections (default) or let them
                run until their handlers return.
            code: close code. Default 1001 (going away).
            reason: close reason. Default empty.
        """
        with self.lock:
            first_call = not self.closing
            self.closing = True
        if first_call:
            self.logger.info("server closing")
            try:
                self._shutdown_notifier.send(b"x")
            except OSError:
                pass
        # Wait for serve_forever() to stop using the listening socket.
        with self._serving:
            if first_call:
                self.socket.close()
                self._shutdown_watcher.close()
                self._shutdown_notifier.close()
        if close_connections:
            with self.lock:
                connections = list(self.all_connections)
            for connection in connections:
                connection._begin_close(code, reason)
        while True:
            with self.lock:
                threads = [thread for thread in self.handler_threads if thread is not threading.current_thread()]
            if not threads:
                break
            for thread in threads:
                thread.join()
        if first_call:
            self.logger.info("server closed")

    def fileno(self) -> int:
        """The file descriptor of the listening socket."""
        return self.socket.fileno()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.shutdown()



def serve(
    handler: Callable[[ServerConnection], None],
    host: str | None = None,
    port: int | None = None,
    *,
    sock: socket.socket | None = None,
    ssl: ssl_module.SSLContext | None = None,
    origins: Sequence[Origin | re.Pattern[str] | None] | None = None,
    extensions: Sequence[ServerExtensionFactory] | None = None,
    subprotocols: Sequence[Subprotocol] | None = None,
    select_subprotocol: Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None] | None = None,
    compression: str | None = "deflate",
    process_request: Callable[[ServerConnection, Request], Optional[Response]] | None = None,
    process_response: Callable[[ServerConnection, Request, Response], Optional[Response]] | None = None,
    server_header: str | None = SERVER,
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    max_size: int | None | tuple[int | None, int | None] = 2**20,
    max_queue: int | None | tuple[int | None, int | None] = 16,
    logger: LoggerLike | None = None,
    create_connection: type[ServerConnection] | None = None,
    **kwargs: Any,
) -> Server:
    """
    Create a WebSocket server listening on ``host`` and ``port``.

    Each client gets a :class:`ServerConnection`, passed to ``handler`` in a
    thread of its own once the opening handshake has succeeded; when the
    handler returns (or raises), the connection is closed::

        def echo(websocket):
            for message in websocket:
                websocket.send(message)

        with serve(echo, "127.0.0.1", 8765) as server:
            server.serve_forever()

    Args:
        handler: the connection handler.
        host: interfaces to bind, as in :func:`socket.create_server`.
        port: TCP port, as in :func:`socket.create_server`.
        sock: an already listening socket, instead of ``host`` and ``port``.
        ssl: TLS configuration; default none (plain TCP).
        origins: acceptable ``Origin`` values (str for an exact match,
            compiled regex for a pattern, :obj:`None` for no header);
            default: any.
        extensions: extension factories, in negotiation order.
        subprotocols: supported subprotocols, by preference.
        select_subprotocol: ``(connection, subprotocols) -> subprotocol or
            None``, replacing the default choice.
        compression: ``"deflate"`` (default) supports permessage-deflate;
            :obj:`None` disables compression.
        process_request: ``(connection, request) -> response or None``;
            a response is sent instead of the handshake. Default none.
        process_response: ``(connection, request, response) -> response or
            None``; may change or replace the response. Default none.
        server_header: ``Server`` header value; :obj:`None` omits it.
        open_timeout: seconds allowed for TLS and the opening handshake;
            :obj:`None` disables it. Default 10.
        ping_interval: seconds between keepalive pings; :obj:`None` disables
            them. Default 20.
        ping_timeout: seconds to wait for a keepalive pong; :obj:`None`
            waits forever. Default 20.
        close_timeout: seconds allowed for closing; :obj:`None` waits
            forever. Default 10.
        max_size: largest incoming message in bytes (1 MiB by default), or a
            ``(max_message_size, max_fragment_size)`` tuple; :obj:`None`
            means no limit.
        max_queue: high-water mark of the incoming frame queue, default 16;
            low-water mark a quarter of it unless a ``(high, low)`` tuple is
            given; :obj:`None` disables flow control.
        logger: logger for the server and its connections; default
            ``logging.getLogger("websockets_fast.server")``.
        create_connection: factory for connections, e.g. a subclass of
            :class:`ServerConnection`. Default :class:`ServerConnection`.

    Other keyword arguments go to :func:`socket.create_server`.
    """
    if ssl is None and "ssl_context" in kwargs:
        ssl = kwargs.pop("ssl_context")
        warnings.warn("ssl_context was renamed to ssl", DeprecationWarning, stacklevel=2)
    if subprotocols is not None:
        validate_subprotocols(subprotocols)
    if compression == "deflate":
        extensions = enable_server_permessage_deflate(extensions)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    if create_connection is None:
        create_connection = ServerConnection

    unix = kwargs.pop("unix", False)
    path = kwargs.pop("path", None)
    if sock is None:
        if unix:
            if path is None:
                raise ValueError("missing path argument")
            kwargs.setdefault("family", socket.AF_UNIX)
            sock = socket.create_server(os.fspath(path), **kwargs)
        else:
            sock = socket.create_server((host, port), **kwargs)
    else:
        if host is not None:
            raise ValueError("host is incompatible with sock")
        if port is not None:
            raise ValueError("port is incompatible with sock")
        if path is not None:
            raise ValueError("path is incompatible with sock")
    if ssl is not None:
        sock = ssl.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)

    def handle(sock: socket.socket, address: Any) -> None:
        """Run one connection from accept() to close; never raises."""
        deadline = None if open_timeout is None else time.monotonic() + open_timeout
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if ssl is not None:
                sock.settimeout(open_timeout)
                cast(ssl_module.SSLSocket, sock).do_handshake()
                sock.settimeout(None)
            connection: Optional[ServerConnection] = None
            protocol_select_subprotocol: Optional[Callable[[ServerProtocol, Sequence[Subprotocol]], Optional[Subprotocol]]]
            if select_subprotocol is not None:

                def protocol_select_subprotocol(
                    protocol: ServerProtocol, subprotocols: Sequence[Subprotocol]
                ) -> Optional[Subprotocol]:
                    # The user's callback takes the connection, not the protocol.
                    assert connection is not None  # the handshake runs after it is made
                    return select_subprotocol(connection, subprotocols)

            else:
                protocol_select_subprotocol = None
            protocol = ServerProtocol(
                origins=origins,
                extensions=extensions,
                subprotocols=subprotocols,
                select_subprotocol=protocol_select_subprotocol,
                max_size=max_size,
                logger=logger,
            )
            connection = create_connection(
                sock,
                protocol,
                server,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_queue=max_queue,
            )
        except Exception:
            sock.close()
            return

        try:
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            connection.handshake(process_request, process_response, server_header, timeout)
        except Exception:
            connection.close_socket()
            return
        if connection._reader is None:
            # The handshake failed. (Checking the state instead would race
            # with the reader: the client may already be closing.)
            connection.close_socket()
            return
        try:
            with connection:
                handler(connection)
        except Exception:
            connection.logger.error("connection handler failed", exc_info=True)
        finally:
            # The handler may return while the closing handshake is still
            # going (close() timed out, or it never called it).
            connection.close()
            with server.lock:
                server.all_connections.discard(connection)

    server = Server(sock, handle, logger)
    return server


def unix_serve(handler: Callable[[ServerConnection], None], path: Any = None, **kwargs: Any) -> Server:
    """
    Create a WebSocket server listening on a Unix socket.

    Args:
        handler: the connection handler.
        path: file system path of the socket.

    Other keyword arguments are as in :func:`serve`.
    """
    return serve(handler, unix=True, path=path, **kwargs)


def basic_auth(
    realm: str = "",
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None = None,
    check_credentials: Callable[[str, str], bool] | None = None,
) -> Callable[[ServerConnection, Request], Response | None]:
    """
    Build a ``process_request`` that enforces HTTP Basic Authentication.

    On success the connection's ``username`` attribute is set; on failure
    the client gets HTTP 401 with a ``WWW-Authenticate`` challenge.

    Args:
        realm: scope of protection, ASCII. Default empty.
        credentials: a ``(username, password)`` pair or a list of pairs.
        check_credentials: ``(username, password) -> bool``. Give exactly
            one of ``credentials`` and ``check_credentials``.

    Raises:
        TypeError: ``credentials`` is malformed.
        ValueError: both or neither of ``credentials`` and
            ``check_credentials`` are given.
    """
    from ..exceptions import InvalidHeader
    from ..credentials import credentials_checker
    from ..credentials import unauthorized as _unauthorized
    from ..headers import parse_authorization_basic

    checker = credentials_checker(credentials, check_credentials)

    def unauthorized(connection: ServerConnection, text: str) -> Response:
        return _unauthorized(connection, realm, text)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        try:
            authorization = request.headers["Authorization"]
        except KeyError:
            return unauthorized(connection, "Missing credentials\n")
        try:
            username, password = parse_authorization_basic(authorization)
        except InvalidHeader:
            return unauthorized(connection, "Unsupported credentials\n")
        if not checker(username, password):
            return unauthorized(connection, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request

