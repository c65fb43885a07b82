"""
The legacy asyncio connection: :class:`WebSocketCommonProtocol` and
:func:`broadcast`, with the API of ``websockets.legacy.protocol``.

The connection is the asyncio protocol of its transport and drives the
package's Sans-I/O :class:`~websockets_fast.protocol.Protocol`, as the new
asyncio implementation does. What differs is the buffering that the legacy
API documents:

* ``max_queue`` counts whole **messages**, decoded (text is ``str``) before
  they are queued in :attr:`messages`;
* when that queue is full, the connection stops parsing what it received;
  the bytes wait in a read buffer of the library's own, bounded by
  ``read_limit``: above it, the transport stops reading until the buffer is
  back under half of it, and the peer sees TCP backpressure;
* ``write_limit`` is the transport's write buffer high-water mark; above it,
  :meth:`send` waits until it drains under a quarter of it.

There is no read buffer at rest: while the queue has room, bytes are parsed
as they arrive and only an incomplete frame is kept (by the frame parser).
No task runs per connection (the server's handler task is the API's own):
keepalive and the closing deadline are ``loop.call_later`` timers.
"""

from __future__ import annotations

import asyncio
import collections
import warnings
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Deque, Dict, List, Optional, Tuple, Union

if TYPE_CHECKING:
    import uuid

    from ..datastructures import Headers
    from ..extensions.base import Extension
    from ..frames import Close, Frame
    from ..protocol import Protocol, State
    from ..typing import BytesLike, Data, DataLike, LoggerLike, Subprotocol

from ..assembler import PingTracker, parse_write_limit
from ..asyncio.connection import SourceConnection as _Source
from ..connection_logger import ConnectionLogger
from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK, InvalidState, ProtocolError
from ..frames import OP_BINARY, OP_PONG, OP_TEXT, CloseCode
from ..http11 import _headers
from ..protocol import CLOSED, CLOSING, CONNECTING, OPEN, PARSE_SLICE
from ..speedups import parse_request

__all__ = ["WebSocketCommonProtocol", "broadcast"]

BYTES_LIKE = (bytes, bytearray, memoryview)

# Largest read asked of asyncio's default socket transports: under glibc's
# mmap threshold (see websockets_fast.asyncio.connection.READ_SIZE).
READ_SIZE = 64 * 1024

# A message sent through the extensions at least this many seconds after the
# previous one (or first) releases the compressor after it: see _sent_message.
SPARSE_SEND_GAP = 1.0


class WebSocketCommonProtocol(asyncio.Protocol):
    """
    A legacy WebSocket connection: what clients and servers share.

    Use :class:`~websockets_fast.legacy.server.WebSocketServerProtocol` (made
    by :func:`~websockets_fast.legacy.server.serve`) or
    :class:`~websockets_fast.legacy.client.WebSocketClientProtocol` (made by
    :func:`~websockets_fast.legacy.client.connect`).

    Args:
        logger: logger for this connection; default
            ``logging.getLogger("websockets_fast.server")`` or ``...client``.
        ping_interval: seconds between keepalive pings; :obj:`None` disables
            keepalive. Default 20.
        ping_timeout: seconds to wait for the keepalive pong before failing
            the connection with 1011; :obj:`None` waits forever. Default 20.
        close_timeout: seconds the closing handshake and the TCP close may
            take before the connection is aborted. Default 10.
        max_size: largest incoming message in bytes; a larger one fails the
            connection with 1009. :obj:`None` disables the limit. Default 1 MiB.
        max_queue: most incoming messages kept until :meth:`recv` takes them;
            when the queue is full, received bytes wait unparsed in the read
            buffer. :obj:`None` for no limit. Default 32.
        read_limit: high-water mark of the read buffer in bytes: above it,
            the connection stops reading from the network until the buffer is
            back under half of it. Default 64 KiB.
        write_limit: high-water mark of the write buffer in bytes (an int, or
            a ``(high, low)`` tuple; low defaults to high // 4): above it,
            :meth:`send` waits until the buffer drains under low. Default 64 KiB.

    Worst case memory held for a connection's incoming messages:
    ``4 * max_size * max_queue`` (text decoded to ``str`` takes up to 4 bytes
    per character) plus ``read_limit`` and one read of the transport.
    """

    is_client = False
    side = "undefined"

    __slots__ = (
        "protocol",
        "loop",
        "transport",
        "_logger",
        "ping_interval",
        "ping_timeout",
        "close_timeout",
        "max_size",
        "max_queue",
        "read_limit",
        "write_limit",
        "_write_limits",
        "_host",
        "_port",
        "_secure",
        "legacy_recv",
        "path",
        "_request_headers",
        "_response_headers",
        "messages",
        "latency",
        "_frames",
        "_parts",
        "_parts_text",
        "_read_buffer",
        "_buffer_paused",
        "_reading_held",
        "_transport_paused",
        "_answers_size",
        "_discarding",
        "_recv_waiter",
        "_pings",
        "_send_in_progress",
        "_pending",
        "_pending_size",
        "_sent_since_read",
        "_pending_room",
        "_raw_fd",
        "_write_paused",
        "_drain_waiters",
        "_lost",
        "_lost_waiter",
        "_connection_exc",
        "_close_timer",
        "_keepalive_timer",
        "_open",
        "_last_sent_at",
        "__weakref__",
        # Programs attach their own attributes to connections (ws.user =
        # ...) and subclasses add theirs: the dict exists once they do.
        "__dict__",
    )

    def __init__(
        self,
        *,
        logger: Optional[LoggerLike] = None,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = None,
        max_size: Optional[int] = 2**20,
        max_queue: Optional[int] = 2**5,
        read_limit: int = 2**16,
        write_limit: Union[int, Tuple[int, Optional[int]]] = 2**16,
        host: Optional[str] = None,
        port: Optional[int] = None,
        secure: Optional[bool] = None,
        legacy_recv: bool = False,
        loop: Optional[asyncio.AbstractEventLoop] = None,
        timeout: Optional[float] = None,
    ) -> None:
        if legacy_recv:
            warnings.warn("legacy_recv is deprecated", DeprecationWarning)
        if timeout is None:
            timeout = 10
        else:
            warnings.warn("rename timeout to close_timeout", DeprecationWarning)
        if close_timeout is None:
            close_timeout = timeout
        if loop is None:
            loop = asyncio.get_event_loop()
        else:
            warnings.warn("remove loop argument", DeprecationWarning)
        if max_queue is not None and max_queue < 1:
            raise ValueError("max_queue must be at least 1 or None")
        self.loop = loop
        self.transport: Any = None  # an asyncio.Transport once connected
        self._logger = logger
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_size = max_size
        self.max_queue = max_queue
        self.read_limit = read_limit
        self.write_limit = write_limit
        self._write_limits = parse_write_limit(write_limit)
        self._host = host
        self._port = port
        self._secure = secure
        self.legacy_recv = legacy_recv
        # The Sans-I/O protocol: the server's exists from the start, the
        # client's is made by handshake(), which knows the URI.
        # None until then, which only the properties below check for.
        self.protocol: Protocol = None  # type: ignore[assignment]
        self.path: Optional[str] = None
        self._request_headers: Union[Headers, bytes, None] = None
        self._response_headers: Union[Headers, bytes, None] = None
        self.messages: Deque[Data] = collections.deque()
        self.latency = 0.0
        # Data frames parsed from the slice of a read that filled the queue:
        # they become messages as recv() makes room (at most one slice).
        self._frames: Optional[Deque[Frame]] = None
        # The fragments of a message being received, and whether it's text.
        self._parts: Optional[List[BytesLike]] = None
        self._parts_text = False
        # The library-level read buffer: bytes received while the queue was
        # full, a bytearray, or None when there are none (the usual case).
        self._read_buffer: Optional[bytearray] = None
        # Why reading is paused: the read buffer is above read_limit, or our
        # automatic answers (pongs) fill a peer's unread write buffer.
        self._buffer_paused = False
        self._reading_held = False
        self._transport_paused = False
        self._answers_size = 0
        # True once incoming data frames are dropped (see _read_on_for_close).
        self._discarding = False
        self._recv_waiter: Optional[asyncio.Future[None]] = None
        self._pings: Optional[PingTracker] = None
        # A future while a fragmented message is being sent.
        self._send_in_progress: Optional[asyncio.Future[None]] = None
        # Frames that send() gathers during a loop iteration (see _send_frame).
        self._pending: Optional[List[bytes]] = None
        self._pending_size = 0
        self._sent_since_read = False
        # As the asyncio connection's (see _transport_write there); this
        # connection always writes through its transport.
        self._pending_room = -1
        self._raw_fd = -1
        self._write_paused = False
        self._drain_waiters: Optional[List[asyncio.Future[None]]] = None
        self._lost = False
        self._lost_waiter: Optional[asyncio.Future[None]] = None
        self._connection_exc: Optional[BaseException] = None
        self._close_timer: Optional[asyncio.TimerHandle] = None
        self._keepalive_timer: Optional[asyncio.TimerHandle] = None
        # False until the opening handshake completes.
        self._open = False
        # When the last message went through the extensions (loop time).
        self._last_sent_at: Optional[float] = None

    # The closing deadline, keepalive and pongs, as timers rather than
    # tasks: the asyncio connection's methods, run as they are on this class
    # (the compiled build of that connection is a C class, which can't pass
    # them on by inheritance).
    if TYPE_CHECKING:
        # What mypy sees of the assignments below: it would not bind the
        # asyncio connection's methods to this class.
        def _arm_close_timer(self) -> None: ...
        def _close_timed_out(self) -> None: ...
        async def _wait_lost(self) -> None: ...
        async def _closed_error(self) -> ConnectionClosed: ...
        def _close_exc(self) -> ConnectionClosed: ...
        def _set_connection_exc(self, exc: Optional[BaseException]) -> None: ...
        def _start_keepalive(self) -> None: ...
        def _keepalive_ping(self) -> None: ...
        def _keepalive_timed_out(self) -> None: ...
        def _acknowledge_pings(self, data: BytesLike) -> None: ...
        def _write_pending(self) -> None: ...
        def _write_gathered(self) -> bool: ...
        def _transport_write(self, data: BytesLike) -> None: ...
        async def _drain(self) -> None: ...
        def _wake_drain_waiters(self) -> None: ...
    else:
        _arm_close_timer = _Source._arm_close_timer
        _close_timed_out = _Source._close_timed_out
        _wait_lost = _Source._wait_lost
        _closed_error = _Source._closed_error
        _close_exc = _Source._close_exc
        _set_connection_exc = _Source._set_connection_exc
        _start_keepalive = _Source._start_keepalive
        _keepalive_ping = _Source._keepalive_ping
        _keepalive_timed_out = _Source._keepalive_timed_out
        _acknowledge_pings = _Source._acknowledge_pings
        # And writing: the frames send() gathers (see _send_frame), and the
        # wait for the write buffer to drain.
        _write_pending = _Source._write_pending
        _write_gathered = _Source._write_gathered
        _transport_write = _Source._transport_write
        _drain = _Source._drain
        _wake_drain_waiters = _Source._wake_drain_waiters

    def _adopt_protocol(self, protocol: Protocol) -> None:
        """Drive ``protocol`` (Sans-I/O); log records carry this connection."""
        protocol.logger = ConnectionLogger(protocol.logger, self)
        self.protocol = protocol

    # Attributes

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection (a UUID), for logs."""
        return self.protocol.id

    @property
    def logger(self) -> LoggerLike:
        """Logger of this connection."""
        return self.protocol.logger

    @property
    def debug(self) -> bool:
        return self.protocol.debug if self.protocol is not None else False

    @property
    def state(self) -> State:
        """State of the WebSocket connection (:class:`~websockets_fast.protocol.State`)."""
        if self.protocol is None:
            return CONNECTING
        state = self.protocol.state
        # The Sans-I/O protocol is CLOSED at the peer's EOF; the connection
        # is CLOSED once the TCP connection is.
        if state is CLOSED and not self._lost:
            return CLOSING
        return state

    @property
    def host(self) -> Optional[str]:
        warnings.warn("use remote_address[0] instead of host", DeprecationWarning)
        return self._host

    @property
    def port(self) -> Optional[int]:
        warnings.warn("use remote_address[1] instead of port", DeprecationWarning)
        return self._port

    @property
    def secure(self) -> Optional[bool]:
        warnings.warn("don't use secure", DeprecationWarning)
        return self._secure

    @property
    def local_address(self) -> Any:
        """Local address of the socket, e.g. ``(host, port)``; :obj:`None` before it's connected."""
        if self.transport is None:
            return None
        return self.transport.get_extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """Remote address of the socket, e.g. ``(host, port)``; :obj:`None` before it's connected."""
        if self.transport is None:
            return None
        return self.transport.get_extra_info("peername")

    @property
    def open(self) -> bool:
        """Whether the connection is open: :meth:`send` and :meth:`recv` may work."""
        return self._open and self.protocol.state is OPEN and not self._lost

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (the TCP connection too)."""
        return self.state is CLOSED

    @property
    def extensions(self) -> List[Extension]:
        """Negotiated extensions."""
        return [] if self.protocol is None else self.protocol.extensions

    @extensions.setter
    def extensions(self, extensions: List[Extension]) -> None:
        self.protocol.extensions = extensions

    @property
    def subprotocol(self) -> Optional[Subprotocol]:
        """Negotiated subprotocol, or :obj:`None`."""
        return None if self.protocol is None else self.protocol.subprotocol

    @subprotocol.setter
    def subprotocol(self, subprotocol: Optional[Subprotocol]) -> None:
        self.protocol.subprotocol = subprotocol

    @property
    def close_code(self) -> Optional[int]:
        """Close code of the connection once closed (1006 without one), else :obj:`None`."""
        if self.state is not CLOSED:
            return None
        return self.protocol.close_code

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason of the connection once closed, else :obj:`None`."""
        if self.state is not CLOSED:
            return None
        return self.protocol.close_reason

    @property
    def pings(self) -> Dict[bytes, Tuple[Any, float]]:
        """Pings awaiting their pong: ``{payload: (waiter, time sent)}``, oldest first (a copy)."""
        pending = None if self._pings is None else self._pings._pending
        # None marks a keepalive ping, which has no waiter to show.
        return {data: entry for data, entry in (pending or {}).items() if entry[0] is not None}

    @property
    def close_sent(self) -> Optional[Close]:
        return None if self.protocol is None else self.protocol.close_sent

    @property
    def close_rcvd(self) -> Optional[Close]:
        return None if self.protocol is None else self.protocol.close_rcvd

    @property
    def close_rcvd_then_sent(self) -> Optional[bool]:
        return None if self.protocol is None else self.protocol.close_rcvd_then_sent

    @property
    def request_headers(self) -> Headers:
        """Headers of the opening handshake request (:class:`~websockets_fast.datastructures.Headers`)."""
        headers = self._request_headers
        if type(headers) is bytes:
            headers = self._request_headers = _parse_headers(headers)
        return headers  # type: ignore[return-value]  # None only before the handshake

    @request_headers.setter
    def request_headers(self, headers: Headers) -> None:
        self._request_headers = headers

    @property
    def response_headers(self) -> Headers:
        """Headers of the opening handshake response (:class:`~websockets_fast.datastructures.Headers`)."""
        headers = self._response_headers
        if type(headers) is bytes:
            headers = self._response_headers = _parse_headers(headers)
        return headers  # type: ignore[return-value]  # None only before the handshake

    @response_headers.setter
    def response_headers(self, headers: Headers) -> None:
        self._response_headers = headers

    def _compact_headers(self) -> None:
        # Parsed headers cost about 2 KiB each, their bytes about 200: an
        # open connection keeps the bytes and parses them again on first
        # access (most handlers never look).
        for name in ("_request_headers", "_response_headers"):
            headers = getattr(self, name)
            if headers is None or type(headers) is bytes:
                continue
            try:
                head = headers.serialize()
                # Headers that a hook set may not survive the round trip
                # (a value our parser refuses): keep those as they are.
                parse_request(b"GET / HTTP/1.1\r\n" + head)
            except Exception:
                continue
            setattr(self, name, head)

    # Iteration

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Yield incoming messages until the connection closes normally."""
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    # Receiving

    async def recv(self) -> Data:
        """
        Receive the next message: ``str`` for text, ``bytes`` for binary.

        Messages queued before the connection closed are returned first; then
        :exc:`~websockets_fast.exceptions.ConnectionClosed` is raised
        (:exc:`~websockets_fast.exceptions.ConnectionClosedOK` after a normal
        closure). Cancelling recv() loses no message.

        Raises:
            ConcurrencyError: another coroutine is waiting in recv().
        """
        if self._recv_waiter is not None:
            raise ConcurrencyError(
                "cannot call recv while another coroutine is already waiting for the next message"
            )
        messages = self.messages
        while not messages:
            if self._frames or self._read_buffer:
                self._fill_queue()
                if messages:
                    break
            if self._lost or self.protocol.state is CLOSED:
                # Nothing more will arrive.
                exc = await self._closed_error()
                if self.legacy_recv:
                    return None  # type: ignore[return-value]  # the deprecated behaviour of websockets < 3
                raise exc
            self._recv_waiter = waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._recv_waiter = None
        message = messages.popleft()
        if self._frames or self._read_buffer:
            # The queue has room again: what waited behind it comes next.
            self._fill_queue()
        return message

    # Sending

    async def send(self, message: Union[DataLike, Iterable[DataLike], AsyncIterable[DataLike]]) -> None:
        """
        Send a message.

        ``str`` is sent as a text frame, bytes-like as a binary frame. An
        iterable or async iterable of ``str`` (or of bytes-like) sends one
        fragmented message, one frame per item. send() returns at once while
        the write buffer is under ``write_limit``; above it, it waits until
        the buffer drains under its low-water mark.

        Raises:
            ConnectionClosed: the connection is closed.
            TypeError: unsupported message type.
        """
        protocol = self.protocol
        if protocol is None or protocol.state is not OPEN or not self._open:
            await self.ensure_open()
        # Other messages wait while a fragmented one is being sent.
        while self._send_in_progress is not None:
            await asyncio.shield(self._send_in_progress)
        kind = type(message)
        if kind is str or kind is bytes or kind is bytearray or kind is memoryview:
            if kind is str:
                message = message.encode()  # type: ignore[union-attr]  # kind is str
                opcode = OP_TEXT
            else:
                opcode = OP_BINARY
            frame = protocol.data_frame(opcode, message)  # type: ignore[arg-type]  # bytes-like by now
            if frame is None:
                # Through the protocol's extensions, or its state check.
                try:
                    if opcode == OP_TEXT:
                        protocol.send_text(message)  # type: ignore[arg-type]
                    else:
                        protocol.send_binary(message)  # type: ignore[arg-type]
                except (InvalidState, ProtocolError):
                    if protocol.state is OPEN:
                        raise
                    raise await self._closed_error() from None
                self._sent_message()
                if not self._send_writes(protocol.data_to_send()):
                    raise await self._closed_error()
            elif not self._send_frame(frame):
                raise await self._closed_error()
            if self._write_paused:
                await self._drain()
            return
        if isinstance(message, str):
            return await self.send(str(message))
        if isinstance(message, BYTES_LIKE):
            return await self.send(bytes(message))
        if isinstance(message, Mapping):
            # Iterating a dict sends its keys, which is never what was meant.
            raise TypeError("data is a dict-like object")
        if isinstance(message, Iterable):
            return await self._send_fragments(iter(message), False)
        if isinstance(message, AsyncIterable):
            return await self._send_fragments(message.__aiter__(), True)
        raise TypeError("data must be str, bytes-like, or iterable")

    async def _send_fragments(self, chunks: Any, is_async: bool) -> None:
        try:
            chunk = await chunks.__anext__() if is_async else next(chunks)
        except (StopIteration, StopAsyncIteration):
            return
        self._send_in_progress = self.loop.create_future()
        protocol = self.protocol
        try:
            if isinstance(chunk, str):
                is_str = True
                await self._send_fragment(protocol.send_text, chunk.encode())
            elif isinstance(chunk, BYTES_LIKE):
                is_str = False
                await self._send_fragment(protocol.send_binary, chunk)
            else:
                raise TypeError("iterable must contain bytes or str")
            while True:
                try:
                    chunk = await chunks.__anext__() if is_async else next(chunks)
                except (StopIteration, StopAsyncIteration):
                    break
                if is_str and isinstance(chunk, str):
                    chunk = chunk.encode()
                elif is_str or not isinstance(chunk, BYTES_LIKE):
                    raise TypeError("iterable must contain uniform types")
                await self._send_fragment(protocol.send_continuation, chunk)
            await self._send_fragment(protocol.send_continuation, b"", True)
            self._sent_message()
        except ConnectionClosed:
            raise
        except BaseException:
            # Half a message can't be finished: the connection is unusable.
            if protocol.state is OPEN:
                protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
                self._flush()
            raise
        finally:
            self._send_in_progress.set_result(None)
            self._send_in_progress = None

    async def _send_fragment(self, method: Any, data: BytesLike, fin: bool = False) -> None:
        if self.protocol.state is not OPEN:
            raise await self._closed_error()
        method(data, fin=fin)
        if not self._send_writes(self.protocol.data_to_send()):
            raise await self._closed_error()
        if self._write_paused:
            await self._drain()

    def _sent_message(self) -> None:
        """
        After a message that went through the protocol's extensions: drop
        the compressor of a connection that sends rarely.

        permessage-deflate keeps its compressor between messages (38 KiB at
        12-bit windows and memLevel 5) while its last message's window is
        4 KiB at most: on a connection that sends a message now and then,
        the compressor is most of what it holds. When this message came
        SPARSE_SEND_GAP or more after the previous one, or is the first,
        Protocol.compact() releases the compressor; the next message builds
        another one from the kept window (a few µs, once per sparse
        message). A connection that sends in bursts keeps its compressor
        until the burst ends and keepalive's compact() comes.
        """
        now = self.loop.time()
        last, self._last_sent_at = self._last_sent_at, now
        if last is None or now - last >= SPARSE_SEND_GAP:
            self.protocol.compact()

    async def ping(self, data: Optional[DataLike] = None) -> Awaitable[float]:
        """
        Send a ping.

        Args:
            data: payload; ``str`` is encoded to UTF-8. Default: four random
                bytes.

        Returns:
            A future that resolves to the latency in seconds when the
            matching pong arrives: ``latency = await (await ws.ping())``.

        Raises:
            ConnectionClosed: the connection is closed.
            ConcurrencyError: a ping with the same payload awaits its pong.
        """
        await self.ensure_open()
        if data is not None:
            data = _control_payload(data)
        if self._pings is None:
            self._pings = PingTracker()
        if data is None:
            data = self._pings.new_payload()
        pong_waiter = self.loop.create_future()
        self._pings.add(data, pong_waiter, self.loop.time())
        self.protocol.send_ping(data)
        if not self._flush():
            raise await self._closed_error()
        if self._write_paused:
            await self._drain()
        return asyncio.shield(pong_waiter)

    async def pong(self, data: DataLike = b"") -> None:
        """
        Send a pong (an unsolicited one: pings are answered automatically).

        Args:
            data: payload; ``str`` is encoded to UTF-8. Default empty.
        """
        await self.ensure_open()
        self.protocol.send_pong(_control_payload(data))
        if not self._flush():
            raise await self._closed_error()
        if self._write_paused:
            await self._drain()

    # Closing

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """
        Perform the closing handshake and wait for the TCP connection to close.

        Idempotent. Bounded by ``close_timeout``, after which the connection
        is aborted. Messages already queued can still be received.

        Args:
            code: close code. Default 1000.
            reason: close reason. Default empty.
        """
        protocol = self.protocol
        if protocol is not None and protocol.state is OPEN:
            if self._send_in_progress is not None:
                protocol.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
            else:
                protocol.send_close(code, reason)
            self._flush()
        if self.transport is not None and not self._lost:
            self._arm_close_timer()
            await self._wait_lost()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (the TCP connection too)."""
        await self._wait_lost()

    async def ensure_open(self) -> None:
        """
        Return at once while the connection is open; raise its
        :exc:`~websockets_fast.exceptions.ConnectionClosed` otherwise, once
        it is closed.

        Raises:
            InvalidState: the opening handshake isn't complete.
        """
        protocol = self.protocol
        if protocol is not None and protocol.state is OPEN and self._open and not self._lost:
            return
        if protocol is None or (protocol.state is CONNECTING and not self._lost):
            raise InvalidState("WebSocket connection isn't established yet")
        raise await self._closed_error()

    async def close_transport(self) -> None:
        """Wait for the peer to close the TCP connection, within close_timeout;
        abort it then."""
        # A server holds reading from the handshake request to its response
        # (see the server's _handshake_events): the peer's EOF must be read.
        self._reading_held = False
        self._update_reading()
        if self.transport is not None and not self._lost:
            self._arm_close_timer()
            await self._wait_lost()

    def fail_connection(self, code: int = CloseCode.ABNORMAL_CLOSURE, reason: str = "") -> None:
        """
        Fail the connection: send a close frame with ``code`` unless it is
        1006, then close the TCP connection (at once for 1006, else once the
        peer answers or ``close_timeout`` expires).
        """
        protocol = self.protocol
        if protocol is not None and protocol.state is OPEN and code != CloseCode.ABNORMAL_CLOSURE:
            protocol.fail(code, reason)
            self._flush()
        elif self.transport is not None and not self._lost:
            self.transport.abort()

    def connection_closed_exc(self) -> ConnectionClosed:
        """The :exc:`~websockets_fast.exceptions.ConnectionClosed` of a closed connection."""
        return self._close_exc()

    # Internals: writing

    def _flush(self) -> bool:
        """Write what the protocol has to send. Returns False if the transport failed."""
        return self._write(self.protocol.data_to_send())

    def _send_writes(self, writes: List[bytes]) -> bool:
        """The data frame (or fragment) that send() had the protocol make."""
        if len(writes) == 1:
            return self._send_frame(writes[0])
        # A large payload apart from its header (see Protocol.data_frame):
        # joining it to gather it would copy it and save no system call.
        self._sent_since_read = True
        return self._write(writes)

    def _send_frame(self, frame: bytes) -> bool:
        """
        Write one data frame of send(), at once or gathered with the next.
        Returns False if the transport failed.

        A frame sent when nothing was sent since the last read goes to the
        transport at once (the echo pattern: receive, send, receive), and
        the transport sends it at once when its buffer is empty. Frames sent
        after it, with nothing received in between (a burst, or a handler
        answering the many messages of one read), are gathered and written
        together at the end of the loop iteration: one system call instead
        of one each.
        """
        pending = self._pending
        if pending is None and not self._sent_since_read:
            self._sent_since_read = True
            try:
                self.transport.write(frame)
            except Exception as exc:
                self._write_failed(exc)
                return False
            return True
        if pending is None:
            self._pending = pending = []
            self._pending_size = 0
            self.loop.call_soon(self._write_pending)
        pending.append(frame)
        self._pending_size += len(frame)
        # What is gathered counts towards write_limit: past the high-water
        # mark, hand it to the transport now, which pauses writing and makes
        # send() wait for the drain.
        if self._pending_size + self.transport.get_write_buffer_size() > self._write_limits[0]:
            return self._write_gathered()
        return True

    def _write(self, writes: List[bytes]) -> bool:
        transport = self.transport
        if self._pending:
            # Frames gathered by send() go first.
            self._write_gathered()
        try:
            for data in writes:
                if data:
                    transport.write(data)
                elif transport.can_write_eof():
                    # Half-close: the peer sees EOF, we may still read.
                    try:
                        transport.write_eof()
                    except Exception:
                        pass  # uvloop raises when the peer already closed
                else:
                    transport.close()  # TLS can't half-close
        except Exception as exc:
            self._write_failed(exc)
            return False
        if self.protocol.state is not OPEN:
            if self.protocol.close_expected():
                self._arm_close_timer()
            self._read_on_for_close()
        return True

    def _write_failed(self, exc: BaseException) -> None:
        self._set_connection_exc(exc)
        self.transport.abort()

    def connection_open(self) -> None:
        """Note that the opening handshake succeeded: start keepalive."""
        self._open = True
        self._start_keepalive()

    # Internals: reading

    def _queue_full(self) -> bool:
        max_queue = self.max_queue
        return max_queue is not None and len(self.messages) >= max_queue and not self._discarding

    def _receive(self, data: BytesLike) -> None:
        """Parse bytes from the transport or the read buffer (one slice at most)."""
        self._sent_since_read = False
        protocol = self.protocol
        parser = protocol.fast_parser
        if parser is not None and self._open:
            # The hot path (see Protocol.receive_parsed): data frames only.
            frames: Any = parser.feed(data)
            if not parser.control_frames and parser.exc is None:
                if frames:
                    self._put_frames(frames)
                return
            protocol.receive_parsed(frames)
        else:
            protocol.receive_data(data)
        events: List[Any] = protocol.events_received()
        # Automatic answers (pong, close) go out before events are handled.
        writes = protocol.data_to_send()
        if writes:
            self._write(writes)
            if self._write_paused and not self._lost:
                # Our answers pile up in the write buffer of a peer that sends
                # (pings, say) but doesn't read: read no more from it until it
                # catches up. While the application itself waits to write,
                # allow a write_limit's worth of answers first, so that two
                # endpoints streaming both ways keep reading each other.
                if self._drain_waiters:
                    for item in writes:
                        self._answers_size += len(item)
                if not self._drain_waiters or self._answers_size > self._write_limits[0]:
                    self._reading_held = True
                    self._update_reading()
        if not self._open:
            events = self._handshake_events(events)
        frames = None
        for event in events:  # frames, once open
            opcode = event.opcode
            if opcode <= OP_BINARY:
                if frames is None:
                    frames = []
                frames.append(event)
            elif opcode == OP_PONG:
                self._acknowledge_pings(event.data)
        if frames is not None:
            self._put_frames(frames)
        if self.protocol.state is not OPEN:
            # A close frame: a waiting recv() must learn that nothing more
            # comes once the connection is closed.
            self._wake_reader()

    def _handshake_events(self, events: List[Any]) -> List[Any]:
        """Take the handshake's event (the subclasses); return the rest."""
        return events

    def _put_frames(self, frames: List[Frame]) -> None:
        """Assemble data frames into messages while the queue has room."""
        if self._discarding:
            return
        if self._frames is None and not self._queue_full():
            assemble = self._assemble
            for index, frame in enumerate(frames):
                assemble(frame)
                if self._queue_full() and index + 1 < len(frames):
                    self._frames = collections.deque(frames[index + 1 :])
                    break
            self._wake_reader()
        elif self._frames is None:
            self._frames = collections.deque(frames)
        else:
            self._frames.extend(frames)

    def _assemble(self, frame: Frame) -> None:
        parts = self._parts
        if parts is None:
            if frame.fin:
                data = frame.data
                if frame.opcode == OP_TEXT:
                    # The protocol validated the UTF-8 already.
                    self.messages.append(data.decode())  # type: ignore[union-attr]  # bytes from the parser
                else:
                    self.messages.append(data if type(data) is bytes else bytes(data))
                return
            self._parts = [frame.data]
            self._parts_text = frame.opcode == OP_TEXT
            return
        parts.append(frame.data)
        if frame.fin:
            self._parts = None
            data = b"".join(parts)
            self.messages.append(data.decode() if self._parts_text else data)

    def _wake_reader(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fill_queue(self) -> None:
        """Move waiting frames, then buffered bytes, into the queue while it has room."""
        frames = self._frames
        if frames is not None:
            assemble = self._assemble
            while frames and not self._queue_full():
                assemble(frames.popleft())
            if frames:
                return
            self._frames = None
        buffer = self._read_buffer
        if buffer is None:
            return
        protocol = self.protocol
        while buffer and not self._queue_full() and self._frames is None:
            size = protocol.next_slice(buffer) if self._open else PARSE_SLICE
            chunk = bytes(buffer[:size])
            del buffer[:size]
            self._receive(chunk)
        if not buffer:
            self._read_buffer = None
        if self._buffer_paused and len(buffer) <= self.read_limit // 2:
            self._buffer_paused = False
            self._update_reading()

    def _parse_all_buffered(self) -> None:
        """At the end of the stream: parse what the read buffer holds, so that
        the protocol sees the peer's last frames before its EOF. The queue is
        full (that's why there is a buffer): the data frames wait in _frames,
        within the buffer's bound, for recv()."""
        buffer, self._read_buffer = self._read_buffer, None
        if buffer:
            self._receive(bytes(buffer))

    def _update_reading(self) -> None:
        if self._lost or self.transport is None:
            return
        paused = self._buffer_paused or self._reading_held
        if paused and not self._transport_paused:
            self._transport_paused = True
            self.transport.pause_reading()
        elif not paused and self._transport_paused:
            self._transport_paused = False
            self.transport.resume_reading()

    def _read_on_for_close(self) -> None:
        # We sent a close frame while the application leaves messages unread:
        # the queue is full and the peer's close frame would sit unparsed
        # behind it until close_timeout. Nobody will read data sent after our
        # close: drop it and read on.
        if not self._discarding and self.protocol.close_sent is not None and self._queue_full():
            self._discarding = True
            self._frames = None
            self._parts = None
            buffer, self._read_buffer = self._read_buffer, None
            if buffer:
                self._receive(bytes(buffer))
            if self._buffer_paused:
                self._buffer_paused = False
                self._update_reading()

    # asyncio.Protocol callbacks

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if type(getattr(transport, "max_size", None)) is int and transport.max_size > READ_SIZE:
            # asyncio's socket transports allocate max_size bytes per read;
            # at 256 KiB, past malloc's mmap threshold, that maps and unmaps
            # memory every time. uvloop reads into its own buffer.
            transport.max_size = READ_SIZE
        high, low = self._write_limits
        transport.set_write_buffer_limits(high, low)

    def data_received(self, data: bytes) -> None:
        buffer = self._read_buffer
        if buffer is not None or self._queue_full() or self._frames is not None:
            self._buffer(data)
            return
        if len(data) <= PARSE_SLICE or not self._open:
            self._receive(data)
            return
        protocol = self.protocol
        if protocol.next_slice(data) >= len(data):
            # One large frame (or its rest): in one piece.
            self._receive(data)
            return
        view = memoryview(data)
        start, end = 0, len(data)
        while start < end:
            if self._queue_full() or self._frames is not None:
                self._buffer(view[start:])
                return
            size = protocol.next_slice(view, start)
            self._receive(view[start : start + size])
            start += size

    def _buffer(self, data: BytesLike) -> None:
        if self._read_buffer is None:
            self._read_buffer = bytearray(data)
        else:
            self._read_buffer += data
        if not self._buffer_paused and len(self._read_buffer) > self.read_limit:
            self._buffer_paused = True
            self._update_reading()

    def eof_received(self) -> None:
        self._parse_all_buffered()
        self.protocol.receive_eof()
        self._flush()
        self._receive_events_at_eof()
        self._wake_reader()
        # Returning None closes the transport.

    def _receive_events_at_eof(self) -> None:
        events = self.protocol.events_received()
        if not self._open:
            self._handshake_events(events)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.protocol is not None:
            self._parse_all_buffered()
            self.protocol.receive_eof()
            self.protocol.data_to_send()  # nothing can be written any more
        self._lost = True
        self._set_connection_exc(exc)
        for timer in (self._close_timer, self._keepalive_timer):
            if timer is not None:
                timer.cancel()
        self._close_timer = self._keepalive_timer = None
        self._wake_reader()
        if self._pings is not None and len(self._pings):
            close_exc = self._close_exc()
            for waiter in self._pings.clear():
                if waiter is not None and not waiter.done():
                    waiter.set_exception(close_exc)
                    # Marks the exception as retrieved: nobody may await this ping.
                    waiter.exception()
        if self._lost_waiter is not None and not self._lost_waiter.done():
            self._lost_waiter.set_result(None)
        self._write_paused = False
        self._wake_drain_waiters()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._answers_size = 0
        if self._reading_held:
            self._reading_held = False
            self._update_reading()
        self._wake_drain_waiters()


def _parse_headers(head: bytes) -> Headers:
    """Headers from the bytes that Headers.serialize() made."""
    head = b"GET / HTTP/1.1\r\n" + head
    return _headers(parse_request(head)[3], head)  # type: ignore[index]  # a whole head


def _control_payload(data: DataLike) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, BYTES_LIKE):
        return bytes(data)
    raise TypeError("data must be str or bytes-like")


def broadcast(websockets: Iterable[WebSocketCommonProtocol], message: DataLike, raise_exceptions: bool = False) -> None:
    """
    Send a message to several connections without waiting.

    Connections that aren't open, or that are in the middle of sending a
    fragmented message, are skipped. There is no backpressure: a slow
    connection's write buffer grows until keepalive or the application closes
    it.

    Args:
        websockets: the connections.
        message: ``str`` (text frame) or bytes-like (binary frame).
        raise_exceptions: collect failures and raise them as an
            :exc:`ExceptionGroup` (Python 3.11+) instead of logging them.
            Default :obj:`False`.

    Raises:
        TypeError: unsupported message type.
    """
    if isinstance(message, str):
        text = True
        message = message.encode()
    elif isinstance(message, BYTES_LIKE):
        text = False
    else:
        raise TypeError("data must be str or bytes-like")
    exceptions: List[Exception] = []
    for websocket in websockets:
        protocol = websocket.protocol
        if protocol is None or protocol.state is not OPEN or not websocket._open:
            continue
        if websocket._send_in_progress is not None:
            if raise_exceptions:
                exceptions.append(ConcurrencyError("sending a fragmented message"))
            else:
                websocket.logger.warning("skipped broadcast: sending a fragmented message")
            continue
        try:
            if text:
                protocol.send_text(message)
            else:
                protocol.send_binary(message)
            websocket._sent_message()
            if not websocket._flush():
                raise websocket._connection_exc  # type: ignore[misc]  # set by the failed write
        except Exception as exc:
            if raise_exceptions:
                error = RuntimeError("failed to write message")
                error.__cause__ = exc
                exceptions.append(error)
            else:
                websocket.logger.warning("skipped broadcast: failed to write message: %r", exc)
    if raise_exceptions and exceptions:
        try:
            group = ExceptionGroup  # type: ignore[name-defined, unused-ignore]  # noqa: F821 (Python 3.11+)
        except NameError:
            raise exceptions[0]
        raise group("skipped broadcast", exceptions)


def pop_deprecated_arguments(
    kwargs: Dict[str, Any], close_timeout: Optional[float], create_protocol: Any, default_class: Any
) -> Tuple[Optional[float], Any, bool, Optional[asyncio.AbstractEventLoop]]:
    """
    Take connect()'s and serve()'s deprecated arguments out of ``kwargs``,
    with a DeprecationWarning each, as websockets.legacy does: ``timeout``
    (now ``close_timeout``, default 10), ``klass`` (now ``create_protocol``,
    default ``default_class``), ``loop`` and ``legacy_recv``.
    Return ``(close_timeout, create_protocol, legacy_recv, loop)``.
    """
    timeout = kwargs.pop("timeout", None)
    if timeout is None:
        timeout = 10
    else:
        warnings.warn("rename timeout to close_timeout", DeprecationWarning)
    if close_timeout is None:
        close_timeout = timeout
    klass = kwargs.pop("klass", None)
    if klass is None:
        klass = default_class
    else:
        warnings.warn("rename klass to create_protocol", DeprecationWarning)
    if create_protocol is None:
        create_protocol = klass
    loop = kwargs.pop("loop", None)
    if loop is not None:
        warnings.warn("remove loop argument", DeprecationWarning)
    return close_timeout, create_protocol, kwargs.pop("legacy_recv", False), loop
