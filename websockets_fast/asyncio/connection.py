"""
The asyncio connection shared by clients and servers.

A :class:`Connection` is the asyncio protocol of its transport and drives a
Sans-I/O :class:`~websockets_fast.protocol.Protocol`: bytes from the
transport go to the protocol at once (no read buffer of our own), data frames
go to an :class:`~websockets_fast.assembler.Assembler`, and what the protocol
wants to send goes to the transport: at once for a lone message, in one
write per loop iteration for messages sent back to back. On a plain TCP
connection of asyncio's default loop or of uvloop, while the transport's
buffer is empty, bytes go to the socket directly rather than through the
transport's ``write()`` (see ``Connection._transport_write``).

No task runs per connection beyond the server's handler task: keepalive, the
closing handshake deadline and the opening handshake deadline are
``loop.call_later`` timers, and futures are created only when a coroutine
actually has to wait.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Iterator, List, NoReturn, Optional, Tuple, Union

# Absolute imports: this file is also compiled as
# websockets_fast._speedups.asyncio_connection.
from websockets_fast.assembler import Assembler, PingTracker, parse_write_limit
from websockets_fast.connection_logger import ConnectionLogger
from websockets_fast.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidState,
    ProtocolError,
    TooManyFragments,
)
from websockets_fast.frames import OP_BINARY, OP_CONT, OP_PONG, OP_TEXT, CloseCode
from websockets_fast.http11 import Request, RequestParser, Response, ResponseParser
from websockets_fast.protocol import OPEN, PARSE_SLICE
from websockets_fast.speedups import BACKEND, recv_into_some, recv_some, send_some

if TYPE_CHECKING:
    import uuid
    from types import TracebackType

    from typing_extensions import Self

    from websockets_fast.protocol import Event, Protocol, State
    from websockets_fast.typing import BytesLike, Data, DataLike, LoggerLike, Subprotocol

try:
    from asyncio.selector_events import _SelectorSocketTransport  # type: ignore[attr-defined]  # private, not in typeshed
except ImportError:  # pragma: no cover - an interpreter without it
    _SelectorSocketTransport = None

__all__ = ["Connection", "broadcast"]

BYTES_LIKE = (bytes, bytearray, memoryview)

# Largest read asked of asyncio's socket transports (see connection_made):
# under glibc's default mmap threshold of 128 KiB.
READ_SIZE = 64 * 1024

# Once this much of a frame's payload is still to come, the rest is
# received straight into its storage (see Connection._large_payload); on
# uvloop, only after a read at least this large.
ZERO_COPY_MIN = 64 * 1024

_POSIX = os.name == "posix"


class Connection:
    """
    An asyncio WebSocket connection: what clients and servers share.

    Use :class:`~websockets_fast.asyncio.client.ClientConnection` or
    :class:`~websockets_fast.asyncio.server.ServerConnection`, which are
    also :class:`asyncio.Protocol` subclasses. This class has no Python
    base: it is compiled into a C type (see the end of this module).

    Args:
        protocol: the Sans-I/O protocol of this connection.
        ping_interval: seconds between keepalive pings; :obj:`None` disables
            keepalive. Default 20.
        ping_timeout: seconds to wait for a keepalive pong before failing the
            connection with 1011; :obj:`None` waits forever. Default 20.
        close_timeout: seconds the closing handshake and the TCP close may
            take before the connection is aborted; :obj:`None` waits forever.
            Default 10.
        max_queue: high-water mark of the queue of incoming frames (int,
            ``(high, low)`` or :obj:`None`); above it the connection stops
            reading until the application consumes down to low. Default 16.
        write_limit: high-water mark of the transport's write buffer in bytes
            (int or ``(high, low)``); above it :meth:`send` waits until the
            buffer drains under low. Default 32 KiB (low 8 KiB).
    """

    __slots__ = (
        "protocol",
        "loop",
        "transport",
        "_request",
        "_response",
        "latency",
        "ping_interval",
        "ping_timeout",
        "close_timeout",
        "_max_queue",
        "_write_limit",
        "recv_messages",
        "_pings",
        "_recv_in_progress",
        "_recv_waiter",
        "_send_in_progress",
        "_write_paused",
        "_pending",
        "_pending_size",
        "_pending_room",
        "_sent_since_read",
        "_reading_held",
        "_unparsed",
        "_answers_size",
        "_discarding",
        "_drain_waiters",
        "_lost",
        "_lost_waiter",
        "_connection_exc",
        "_close_timer",
        "_keepalive_timer",
        "_open",
        "_raw_fd",
        "_uv_buffered",
        "_uv_closing",
        "_own_reader",
        "_reads_full",
        "_zero_copy",
        "__weakref__",
        # Programs attach their own attributes (ws.user = ...), as websockets
        # allows. The dict only exists once they do; until then it costs a
        # pointer.
        "__dict__",
    )

    def __init__(
        self,
        protocol: Protocol,
        *,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = 10,
        max_queue: Union[int, None, Tuple[Optional[int], Optional[int]]] = 16,
        write_limit: Union[int, Tuple[int, Optional[int]]] = 2**15,
    ) -> None:
        # Log records carry the connection as the "websocket" extra, as in
        # websockets: logging adapters and formatters rely on it.
        protocol.logger = ConnectionLogger(protocol.logger, self)
        self.protocol = protocol
        self.loop = asyncio.get_running_loop()
        # Set by connection_made(), before anything uses it.
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        # The handshake request and response; their bytes once open (see the
        # request property).
        self._request: Any = None
        self._response: Any = None
        self.latency = 0.0
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self._max_queue = max_queue
        self._write_limit = parse_write_limit(write_limit)
        self.recv_messages: Assembler = None  # type: ignore[assignment]  # created in connection_made()
        self._pings: Optional[PingTracker] = None  # a PingTracker, from the first ping
        # recv() and recv_streaming() exclude each other.
        self._recv_in_progress = False
        self._recv_waiter: Optional[asyncio.Future[None]] = None
        # A future while a fragmented message is being sent.
        self._send_in_progress: Optional[asyncio.Future[None]] = None
        self._write_paused = False
        # Frames that send() gathers during a loop iteration (see send()).
        self._pending: Optional[List[bytes]] = None
        self._pending_size = 0
        # How many bytes may be gathered before the transport's buffer and
        # the gathered frames pass write_limit's high-water mark; -1 until
        # worked out. Within a loop iteration the transport's buffer grows
        # only by our own writes, which reset it (see _transport_write),
        # so send() asks the transport for its buffer size once per burst,
        # not once per message.
        self._pending_room = -1
        self._sent_since_read = False
        # True while reading is paused for another reason than the queue:
        # our answers to the peer's frames (pongs) fill the write buffer, or
        # a server's handshake request awaits its response.
        self._reading_held = False
        # A memoryview of the rest of a read, while the queue is too full to
        # parse it (see PARSE_SLICE): it waits until the application has
        # consumed the queue down to its low-water mark; reading is paused
        # meanwhile.
        self._unparsed: Any = None  # a memoryview, or None
        # Bytes of answers written while the buffer was full and the
        # application waited to write (see data_received).
        self._answers_size = 0
        # True once incoming data frames are dropped (see _read_on_for_close).
        self._discarding = False
        self._drain_waiters: Optional[List[asyncio.Future[None]]] = None
        self._lost = False
        self._lost_waiter: Optional[asyncio.Future[None]] = None
        self._connection_exc: Optional[BaseException] = None
        self._close_timer: Optional[asyncio.TimerHandle] = None
        self._keepalive_timer: Optional[asyncio.TimerHandle] = None
        # False until the opening handshake completes; data_received() takes
        # a slower path meanwhile.
        self._open = False
        # The file descriptor of the socket of a plain TCP transport of
        # asyncio's default loop or of uvloop, which _transport_write() sends
        # to directly (see there); else -1. On uvloop, the transport's
        # get_write_buffer_size and is_closing, bound once.
        self._raw_fd = -1
        self._uv_buffered: Any = None
        self._uv_closing: Any = None
        self._own_reader = False
        # Whether the last read of _read_socket filled READ_SIZE.
        self._reads_full = False
        # Whether uvloop may receive a large frame into its payload (see
        # _PayloadReader).
        self._zero_copy = False

    # Attributes

    @property
    def request(self) -> Optional[Request]:
        """
        The opening handshake request (:class:`~websockets_fast.http11.Request`).

        Once the connection is open, only the request's bytes are kept: parsed
        headers cost about 2 KiB per connection. Each access then parses them
        again and returns a new object; keep a reference if you use it often.
        Changes made to that object are not kept. A request that a hook
        annotated (``request.user = ...`` in ``process_request``) is kept
        whole, as the same object.
        """
        request = self._request
        if type(request) is bytes:
            return RequestParser().feed(request)[0]  # type: ignore[index]  # the bytes of a whole request
        return request  # type: ignore[no-any-return]

    @request.setter
    def request(self, request: Optional[Request]) -> None:
        self._request = request

    @property
    def response(self) -> Optional[Response]:
        """
        The opening handshake response (:class:`~websockets_fast.http11.Response`).

        Kept as bytes once the connection is open, like :attr:`request`.
        """
        response = self._response
        if type(response) is bytes:
            return ResponseParser().feed(response)[0]  # type: ignore[index]  # the bytes of a whole response
        return response  # type: ignore[no-any-return]

    @response.setter
    def response(self, response: Optional[Response]) -> None:
        self._response = response

    def _compact_handshake(self) -> None:
        # Called once the connection is open (see the request property). A
        # request or response that a hook annotated (request.user = ...) is
        # kept whole: its bytes would lose the annotation.
        if _is_plain_event(self._request):
            self._request = self._request.serialize()
        if _is_plain_event(self._response):
            self._response = self._response.serialize()

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
        return self.protocol.debug

    @property
    def local_address(self) -> Any:
        """Local address of the socket, e.g. ``(host, port)`` for IPv4."""
        return self.transport.get_extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """Remote address of the socket, e.g. ``(host, port)`` for IPv4."""
        return self.transport.get_extra_info("peername")

    @property
    def state(self) -> State:
        """State of the WebSocket connection (:class:`~websockets_fast.protocol.State`)."""
        return self.protocol.state

    @property
    def subprotocol(self) -> Optional[Subprotocol]:
        """Subprotocol negotiated in the opening handshake, or :obj:`None`."""
        return self.protocol.subprotocol

    @property
    def close_code(self) -> Optional[int]:
        """Close code once the connection is closed, else :obj:`None`."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason once the connection is closed, else :obj:`None`."""
        return self.protocol.close_reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """The ConnectionClosed exception that calls raise; valid only once :attr:`state` is CLOSED."""
        return self._close_exc()

    # Context manager and iteration

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.close(CloseCode.INTERNAL_ERROR)

    def __aiter__(self) -> AsyncIterator[Data]:
        """Yield incoming messages until the connection closes normally."""
        # Not an async generator, as in websockets: an idle handler waits in
        # `async for` for as long as the connection lives, and an async
        # generator costs more memory there (its frame, and the loop's weak
        # reference to every async generator) than recv()'s coroutine alone.
        return _Messages(self)

    # Receiving

    async def recv(self, decode: Optional[bool] = None) -> Data:
        """
        Receive the next message: ``str`` for text, ``bytes`` for binary.

        Fragmented messages are returned whole. Cancelling recv() loses no
        data: the next call returns the next message.

        Args:
            decode: :obj:`False` returns text messages as ``bytes`` (no UTF-8
                decoding); :obj:`True` decodes binary messages to ``str``.
                Default :obj:`None`: by frame type.

        Raises:
            ConnectionClosed: once the connection is closed
                (:exc:`ConnectionClosedOK` after a normal closure).
            ConcurrencyError: another coroutine is running recv() or
                recv_streaming().
        """
        # `async for` calls recv(_ITERATION): decode by frame type, and a
        # normal closure ends the loop (StopAsyncIteration) rather than
        # raising ConnectionClosedOK. Not a coroutine around recv(): see
        # __aiter__.
        iterating = decode is _ITERATION
        if iterating:
            decode = None
        if self._recv_in_progress:
            raise ConcurrencyError(
                "cannot call recv while another coroutine is already running recv or recv_streaming"
            )
        messages = self.recv_messages
        # One coroutine, no helper: an idle connection's handler sits here,
        # and every frame of the await chain costs memory.
        try:
            # Fast path: a message is already here, no need to wait.
            if messages.complete:
                return messages.take(decode)  # type: ignore[return-value]  # complete: not None
            self._recv_in_progress = True
            try:
                while True:
                    # take() joins the fragments queued so far, returns a
                    # complete message or raises EOFError; with none of these
                    # to do, skip the call.
                    if messages.complete or messages.queue or messages.closed:
                        message = messages.take(decode)
                        if message is not None:
                            return message
                    if self._pending:
                        # The coroutine yields to the loop here: what send()
                        # gathered goes now, not in a later iteration of the
                        # loop, so the peer can answer it sooner.
                        self._write_gathered()
                    self._recv_waiter = waiter = self.loop.create_future()
                    try:
                        await waiter
                    finally:
                        self._recv_waiter = None
            finally:
                self._recv_in_progress = False
        except EOFError:
            pass
        except (UnicodeDecodeError, TooManyFragments) as exc:
            await self._fail_bad_message(exc)
        error = await self._closed_error()
        if iterating and isinstance(error, ConnectionClosedOK):
            raise StopAsyncIteration
        raise error

    async def recv_streaming(self, decode: Optional[bool] = None) -> AsyncIterator[Data]:
        """
        Receive the next message fragment by fragment (an async iterator).

        The iterator must be consumed to the end, else the connection can't
        receive further messages. Arguments and exceptions are as
        :meth:`recv`'s.
        """
        if self._recv_in_progress:
            raise ConcurrencyError(
                "cannot call recv_streaming while another coroutine is already running recv or recv_streaming"
            )
        messages = self.recv_messages
        self._recv_in_progress = True
        try:
            while True:
                fragment = messages.take_fragment(decode)
                if fragment is None:
                    self._recv_waiter = waiter = self.loop.create_future()
                    try:
                        await waiter
                    finally:
                        self._recv_waiter = None
                    continue
                data, fin = fragment
                yield data
                if fin:
                    return
        except EOFError:
            pass
        except UnicodeDecodeError as exc:
            await self._fail_bad_message(exc)
        finally:
            self._recv_in_progress = False
        raise await self._closed_error()

    async def _fail_bad_message(self, exc: Exception) -> NoReturn:
        """Fail the connection for a message the assembler couldn't deliver."""
        self._set_connection_exc(exc)
        if self.protocol.state is OPEN:
            if isinstance(exc, UnicodeDecodeError):
                self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            else:
                self.protocol.fail(CloseCode.MESSAGE_TOO_BIG, "too many fragments")
            self._flush()
        raise await self._closed_error()

    # Sending

    async def send(
        self,
        message: Union[DataLike, Iterable[DataLike], AsyncIterable[DataLike]],
        text: Optional[bool] = None,
    ) -> None:
        """
        Send a message.

        ``str`` is sent as a text frame, bytes-like as a binary frame. An
        iterable or async iterable of ``str`` or bytes-like sends one
        fragmented message, one frame per item. send() returns at once while
        the write buffer is under the ``write_limit`` high-water mark; above
        it, it waits until the buffer drains under the low-water mark.

        A message sent when nothing was sent since the last one received
        goes to the socket at once. Messages sent after it, with nothing
        received in between, are gathered and written together at the end
        of the event loop's iteration, in one system call: they wait for
        the coroutine to yield to the event loop. :meth:`close` and
        :func:`broadcast` write what was gathered first.

        Args:
            message: the message or its fragments.
            text: :obj:`True` sends bytes-like as a text frame (it must be
                UTF-8), :obj:`False` sends ``str`` as a binary frame. Default
                :obj:`None`: by type.

        Raises:
            ConnectionClosed: the connection is closed.
            TypeError: unsupported message type.
        """
        # Other messages wait while a fragmented one is being sent.
        while self._send_in_progress is not None:
            await asyncio.shield(self._send_in_progress)
        protocol = self.protocol
        kind = type(message)
        if kind is bytes or kind is str or kind is bytearray or kind is memoryview:
            # The hot path: one frame.
            if kind is str:
                message = _encode_utf8(message)  # type: ignore[arg-type]  # kind is str
                opcode = OP_BINARY if text is False else OP_TEXT
            else:
                opcode = OP_TEXT if text else OP_BINARY
            # self.protocol, not the local: the compiled build calls it in C.
            frame = self.protocol._data_frame(opcode, message)  # type: ignore[arg-type]  # bytes-like by now
            if frame is None:
                # Through the protocol's extensions, or its state check.
                try:
                    if opcode == OP_TEXT:
                        protocol.send_text(message)  # type: ignore[arg-type]
                    else:
                        protocol.send_binary(message)  # type: ignore[arg-type]
                except InvalidState:
                    raise await self._closed_error() from None
                except ProtocolError:
                    # "expected a continuation frame": a fragmented send was
                    # cut short by the closing of the connection, which is
                    # what the caller needs to hear about.
                    if protocol.state is OPEN:
                        raise
                    raise await self._closed_error() from None
                # One data frame, never with an EOF.
                writes = protocol.data_to_send()
                if len(writes) > 1:
                    # A large payload after its header (see data_frame):
                    # gathering it would save no system call. _write()
                    # writes what was gathered, then each of these, without
                    # joining them.
                    self._sent_since_read = True
                    if not self._write(writes):
                        raise await self._closed_error()
                    if self._write_paused:
                        await self._drain()
                    return
                frame = writes[0]
            pending = self._pending
            if pending is None and not self._sent_since_read:
                # A lone message (the echo pattern: receive, send, receive)
                # goes straight to the transport, which sends at once when
                # its buffer is empty.
                self._sent_since_read = True
                try:
                    self._transport_write(frame)
                except Exception as exc:
                    self._write_failed(exc)
                    raise await self._closed_error() from None
            else:
                # A burst: messages sent one after the other with nothing
                # received in between are gathered and written together at
                # the end of this loop iteration, one system call instead
                # of one each.
                if pending is None:
                    self._pending = pending = []
                    self._pending_size = 0
                    self.loop.call_soon(self._write_pending)
                pending.append(frame)
                self._pending_size += len(frame)
                # What is gathered counts towards write_limit: past the
                # high-water mark, hand it to the transport now, which
                # pauses writing and makes this send() wait for the drain.
                if self._pending_size > self._pending_room:
                    self._pending_room = self._write_limit[0] - self.transport.get_write_buffer_size()
                    if self._pending_size > self._pending_room and not self._write_gathered():
                        raise await self._closed_error()
            if self._write_paused:
                await self._drain()
            return
        if isinstance(message, str):  # a subclass
            return await self.send(str(message), text=text)
        if isinstance(message, BYTES_LIKE):  # a subclass
            return await self.send(bytes(message), text=text)
        if isinstance(message, Mapping):
            # Iterating a dict sends its keys, which is never what was meant.
            raise TypeError("data is a dict-like object")
        if isinstance(message, Iterable):
            return await self._send_fragments(iter(message), text)
        if isinstance(message, AsyncIterable):
            return await self._send_async_fragments(message.__aiter__(), text)
        raise TypeError("data must be str, bytes, iterable, or async iterable")

    async def _send_fragments(self, chunks: Iterator[DataLike], text: Optional[bool]) -> None:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        self._send_in_progress = self.loop.create_future()
        try:
            is_str = await self._send_first_fragment(chunk, text)
            for chunk in chunks:
                await self._send_next_fragment(chunk, is_str)
            await self._send_frame_and_drain(OP_CONT, b"", True)
        except ConnectionClosed:
            raise
        except Exception:
            await self._abandon_fragments()
            raise
        finally:
            self._send_in_progress.set_result(None)
            self._send_in_progress = None

    async def _send_async_fragments(self, chunks: AsyncIterator[DataLike], text: Optional[bool]) -> None:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        self._send_in_progress = self.loop.create_future()
        try:
            is_str = await self._send_first_fragment(chunk, text)
            async for chunk in chunks:
                await self._send_next_fragment(chunk, is_str)
            await self._send_frame_and_drain(OP_CONT, b"", True)
        except ConnectionClosed:
            raise
        except Exception:
            await self._abandon_fragments()
            raise
        finally:
            self._send_in_progress.set_result(None)
            self._send_in_progress = None

    async def _send_first_fragment(self, chunk: DataLike, text: Optional[bool]) -> bool:
        if isinstance(chunk, str):
            await self._send_frame_and_drain(OP_BINARY if text is False else OP_TEXT, chunk.encode(), False)
            return True
        if isinstance(chunk, BYTES_LIKE):
            await self._send_frame_and_drain(OP_TEXT if text else OP_BINARY, chunk, False)
            return False
        raise TypeError("iterable must contain bytes or str")

    async def _send_next_fragment(self, chunk: DataLike, is_str: bool) -> None:
        if is_str and isinstance(chunk, str):
            chunk = chunk.encode()
        elif is_str or not isinstance(chunk, BYTES_LIKE):
            raise TypeError("iterable must contain uniform types")
        await self._send_frame_and_drain(OP_CONT, chunk, False)

    async def _send_frame_and_drain(self, opcode: int, data: BytesLike, fin: bool) -> None:
        if self.protocol.state is not OPEN:
            raise await self._closed_error()
        protocol = self.protocol
        if opcode == OP_CONT:
            protocol.send_continuation(data, fin)
        elif opcode == OP_TEXT:
            protocol.send_text(data, fin)
        else:
            protocol.send_binary(data, fin)
        if not self._flush():
            raise await self._closed_error()
        if self._write_paused:
            await self._drain()

    async def _abandon_fragments(self) -> None:
        # Half a message can't be finished: the connection is unusable.
        if self.protocol.state is OPEN:
            self.protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
            self._flush()

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
        if isinstance(data, BYTES_LIKE):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        elif data is not None:
            raise TypeError("data must be str or bytes-like")
        if self.protocol.state is not OPEN:
            raise await self._closed_error()
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
        return pong_waiter

    async def pong(self, data: DataLike = b"") -> None:
        """
        Send an unsolicited pong.

        Args:
            data: payload; ``str`` is encoded to UTF-8. Default empty.
        """
        if isinstance(data, BYTES_LIKE):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        else:
            raise TypeError("data must be str or bytes-like")
        if self.protocol.state is not OPEN:
            raise await self._closed_error()
        self.protocol.send_pong(data)
        if not self._flush():
            raise await self._closed_error()
        if self._write_paused:
            await self._drain()

    # Closing

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """
        Perform the closing handshake and wait for the TCP connection to close.

        Idempotent. Bounded by ``close_timeout``, after which the connection
        is aborted.

        Args:
            code: close code. Default 1000.
            reason: close reason. Default empty.
        """
        protocol = self.protocol
        if protocol.state is OPEN:
            if self._send_in_progress is not None:
                protocol.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
            else:
                protocol.send_close(code, reason)
            self._flush()
        if not self._lost:
            self._arm_close_timer()
            await self._wait_lost()

    async def wait_closed(self) -> None:
        """Wait until the closing handshake completes and the TCP connection is closed."""
        await self._wait_lost()

    # Internals: writing

    def _flush(self) -> bool:
        """
        Write what the protocol has to send. Returns False if the transport failed.
        """
        return self._write(self.protocol.data_to_send())

    def _write_pending(self) -> None:
        # Scheduled by send(): the end of the loop iteration.
        self._write_gathered()
        self._pending = None
        self._sent_since_read = False

    def _write_gathered(self) -> bool:
        """Write the frames send() gathered. Returns False if the transport failed."""
        pending = self._pending
        if not pending or self._lost:
            return not self._lost
        self._pending = []
        self._pending_size = 0
        try:
            self._transport_write(b"".join(pending))
        except Exception as exc:
            self._write_failed(exc)
            return False
        return True

    def _transport_write(self, data: BytesLike) -> None:
        """
        Write ``data`` (not empty) to the transport.

        ``transport.write`` sends at once when the transport's buffer is
        empty, but it costs, per message, about as much as the rest of
        sending a small message (Python code on asyncio's default loop,
        buffer bookkeeping and a GIL release on uvloop), and :func:`broadcast`
        runs it once per recipient. So, on those two loops' plain TCP
        transports, this sends to the socket itself while the transport holds
        nothing and isn't closing (the order of the bytes can't change, and
        nothing goes out after a close or an abort), and hands the transport
        only what the socket didn't take. Errors, too, go to the transport,
        which meets them again and reports them its own way.
        """
        self._pending_room = -1
        fd = self._raw_fd
        if fd >= 0:
            # Any: asyncio's private attributes, checked in connection_made.
            transport: Any = self.transport
            if self._uv_buffered is None:
                # asyncio's _SelectorSocketTransport: write() drops what it
                # gets once _conn_lost is set (close or abort).
                idle = not transport._buffer and not transport._conn_lost
            else:
                # uvloop: the size counts both its own buffer and the
                # bytes of libuv's queued write requests.
                idle = not self._uv_buffered(transport) and not self._uv_closing(transport)
            if idle:
                sent = send_some(fd, data)
                if sent == len(data):
                    return
                if sent:
                    data = memoryview(data)[sent:]
        self.transport.write(data)

    def _write(self, writes: List[bytes]) -> bool:
        transport = self.transport
        if self._pending:
            # Frames gathered by send() go first.
            self._write_gathered()
        try:
            for data in writes:
                if data:
                    self._transport_write(data)
                elif transport.can_write_eof():
                    # Half-close: the peer sees EOF, we may still read.
                    try:
                        transport.write_eof()
                    except Exception:
                        # uvloop may raise when the peer already closed.
                        pass
                else:
                    # TLS can't half-close.
                    transport.close()
        except Exception as exc:
            self._write_failed(exc)
            return False
        if not self._open or self.protocol._state is not OPEN:
            if self.protocol.close_expected():
                self._arm_close_timer()
            self._read_on_for_close()
        return True

    def _read_on_for_close(self) -> None:
        # We sent a close frame while the application leaves messages unread:
        # the queue is full and reading paused, so the peer's close frame
        # would never be read and closing would wait for close_timeout.
        # Nobody will read data sent after our close: drop it and read on.
        if (
            not self._discarding
            and self.recv_messages is not None
            and self.recv_messages.paused
            and self.protocol.close_sent is not None
        ):
            self._discarding = True
            if self._unparsed is not None:
                self._parse_unparsed()
            if not self._reading_held and not self._lost:
                self._resume_transport_reading()

    def _write_failed(self, exc: BaseException) -> None:
        if self.protocol.debug:
            self.protocol.logger.debug("! error while sending data", exc_info=True)
        self._set_connection_exc(exc)
        self.transport.abort()

    async def _drain(self) -> None:
        # Wait until resume_writing() (buffer under low) or connection_lost().
        if not self._write_paused or self._lost:
            return
        waiter = self.loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        try:
            await waiter
        finally:
            self._drain_waiters.remove(waiter)
        if self._lost and self._connection_exc is not None:
            raise await self._closed_error()

    def _wake_drain_waiters(self) -> None:
        for waiter in self._drain_waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # Internals: closing

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and self.close_timeout is not None and not self._lost:
            self._close_timer = self.loop.call_later(self.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        self._set_connection_exc(TimeoutError("timed out while closing connection"))
        self.transport.abort()

    async def _wait_lost(self) -> None:
        if self._lost:
            return
        if self._lost_waiter is None:
            self._lost_waiter = self.loop.create_future()
        # Shielded: several coroutines may wait on the one future, and
        # cancelling one of them mustn't cancel it for the others.
        await asyncio.shield(self._lost_waiter)

    async def _closed_error(self) -> ConnectionClosed:
        """Wait until the connection is closed, then return its ConnectionClosed."""
        if not self._lost:
            # The connection is closing: it ends within close_timeout.
            self._arm_close_timer()
            await self._wait_lost()
        return self._close_exc()

    def _close_exc(self) -> ConnectionClosed:
        exc = self.protocol.close_exc
        if self._connection_exc is not None:
            exc.__cause__ = self._connection_exc
        return exc

    def _set_connection_exc(self, exc: Optional[BaseException]) -> None:
        if self._connection_exc is None:
            self._connection_exc = exc

    # Internals: keepalive, as timers rather than a task.

    def _start_keepalive(self) -> None:
        if self.ping_interval is not None:
            self._keepalive_timer = self.loop.call_later(self.ping_interval, self._keepalive_ping)

    def _keepalive_ping(self) -> None:
        self._keepalive_timer = None
        if self.protocol.state is not OPEN:
            return
        self.protocol.compact()
        if self._pings is None:
            self._pings = PingTracker()
        data = self._pings.new_payload()
        # A None waiter marks the keepalive ping (see _acknowledge_pings).
        self._pings.add(data, None, self.loop.time())
        self.protocol.send_ping(data)
        if self.protocol.debug:
            self.protocol.logger.debug("% sent keepalive ping")
        self._flush()
        if self.ping_timeout is not None:
            self._keepalive_timer = self.loop.call_later(self.ping_timeout, self._keepalive_timed_out)
        else:
            self._keepalive_timer = self.loop.call_later(self.ping_interval, self._keepalive_ping)  # type: ignore[arg-type]  # set: keepalive runs

    def _keepalive_timed_out(self) -> None:
        self._keepalive_timer = None
        if self.protocol.state is OPEN:
            if self.protocol.debug:
                self.protocol.logger.debug("- timed out waiting for keepalive pong")
            self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            self._flush()
            self._arm_close_timer()

    def _acknowledge_pings(self, data: BytesLike) -> None:
        if self._pings is None:
            return  # unsolicited
        acknowledged = self._pings.acknowledge(bytes(data), self.loop.time())
        if acknowledged is None:
            return  # unsolicited
        self.latency, waiters = acknowledged
        for waiter, latency in waiters:
            if waiter is None:
                # The keepalive pong: stop its timeout, schedule the next
                # ping one interval after the ping was sent.
                if self.protocol.debug:
                    self.protocol.logger.debug("% received keepalive pong")
                if self._keepalive_timer is not None:
                    self._keepalive_timer.cancel()
                delay = max(0.0, self.ping_interval - latency)  # type: ignore[operator]  # set: keepalive runs
                self._keepalive_timer = self.loop.call_later(delay, self._keepalive_ping)
            elif not waiter.done():
                waiter.set_result(latency)

    # Internals: events

    def process_event(self, event: Any) -> None:
        """Handle one event; the handshake subclasses add Request/Response."""
        opcode = event.opcode
        if opcode <= OP_BINARY:
            self.recv_messages.put(event)
        elif opcode == OP_PONG:
            self._acknowledge_pings(event.data)

    def _wake_reader(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # asyncio.Protocol callbacks

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if type(getattr(transport, "max_size", None)) is int and transport.max_size > READ_SIZE:
            # asyncio's socket transports read with sock.recv(max_size), which
            # allocates max_size bytes and shrinks them to what arrived. At
            # 256 KiB, past malloc's mmap threshold, each read maps and
            # unmaps memory: ~14 µs per read on Linux, more than the rest of
            # a small message's handling. uvloop reads into its own buffer.
            transport.max_size = READ_SIZE
        high, low = self._write_limit
        transport.set_write_buffer_limits(high, low)
        # Checked once here rather than on every write: _transport_write
        # relies on these attributes and methods of the two transports.
        self._raw_fd = raw_fd_of(transport)
        if self._raw_fd < 0:
            pass
        elif type(transport) is _SelectorSocketTransport:
            # Reading, too (see _read_socket), unless a subclass handles
            # data_received itself. Compiled only: in Python, this costs
            # what the transport's reader does. After the transport's own
            # reader is set: that is the next callback of the loop.
            if (
                BACKEND == "compiled"
                and type(self).data_received is Connection.data_received
                and hasattr(self.loop, "_add_reader")
                and hasattr(transport, "_read_ready")
                and hasattr(transport, "_fatal_error")
            ):
                self._own_reader = True
                self.loop.call_soon(self._read_for_transport)
        else:
            # uvloop's. The class's functions, shared by every connection:
            # bound methods would cost 128 bytes per idle connection.
            self._uv_buffered = type(transport).get_write_buffer_size
            self._uv_closing = type(transport).is_closing
            # Compiled only: the pure parser's payload_view() copies.
            self._zero_copy = BACKEND == "compiled" and type(self).data_received is Connection.data_received
        self.recv_messages = Assembler(
            self._max_queue,
            transport.pause_reading,
            self._resume_reading,
            self.protocol.max_message_size,
        )

    def _resume_reading(self) -> None:
        # The queue may drain after the transport closed; don't touch it then.
        if self._lost:
            return
        # What's left of the last read comes before anything new; it may
        # fill the queue again.
        if self._unparsed is not None and not self._parse_unparsed():
            return
        # Reading stays paused while held by a full write buffer (see
        # data_received); resume_writing() resumes it then.
        if not self._reading_held and not self.recv_messages.paused:
            self._resume_transport_reading()

    def _resume_transport_reading(self) -> None:
        self.transport.resume_reading()
        if self._own_reader:
            # The transport put its own reader back.
            self._read_for_transport()

    def _read_for_transport(self) -> None:
        """Become the reader of the socket in place of the transport's
        ``_read_ready`` (scheduled by connection_made, and after each resume
        of reading)."""
        transport: Any = self.transport
        if not self._lost and transport.is_reading():
            # Replaces the transport's reader. Its pause_reading(), close()
            # and abort() remove this one as they would theirs.
            loop: Any = self.loop  # a selector loop: checked in connection_made
            loop._add_reader(self._raw_fd, self._read_socket)

    def _read_socket(self) -> None:
        """Read the socket as asyncio's transport does, in compiled code.

        asyncio's ``_SelectorSocketTransport._read_ready`` is Python code
        that asks ``sock.recv()`` for 64 KiB, allocated and shrunk on every
        read: on small messages, it costs more than handling the message.
        What is unusual goes back to the transport, which handles it its
        own way: the end of the stream (which the transport reads again)
        and errors.
        """
        transport: Any = self.transport
        if transport._conn_lost:
            return
        # A large message arriving: the rest of a large frame goes straight
        # into its payload's storage, as _PayloadReader has uvloop do.
        parser = self._large_payload() if self._reads_full else None
        data: Any = None
        try:
            if parser is not None:
                size = recv_into_some(self._raw_fd, parser.payload_view())
            else:
                # While a large message arrives, reads fill READ_SIZE: then
                # receiving straight into a new bytes object saves a copy.
                data = recv_some(self._raw_fd, READ_SIZE, self._reads_full)
                size = None if data is None else len(data)
        except OSError as exc:
            transport._fatal_error(exc, "Fatal read error on socket transport")
            return
        if size is None:
            return
        if not size:
            transport._read_ready()
            return
        try:
            if parser is not None:
                self._payload_received(parser, size)
            else:
                self._reads_full = size == READ_SIZE
                self._data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def data_received(self, data: bytes) -> None:
        self._data_received(data)

    def _data_received(self, data: bytes) -> None:
        # A read of one large frame (or its rest) goes in one piece.
        if len(data) > PARSE_SLICE and self._open and self.protocol.next_slice(data) < len(data):
            self._unparsed = memoryview(data)
            self._parse_unparsed()
        else:
            self._receive(data)
        if self._zero_copy and len(data) >= ZERO_COPY_MIN and not self._lost:
            parser = self._large_payload()
            if parser is not None:
                self.transport.set_protocol(_PayloadReader(self, parser))

    def _large_payload(self) -> Any:
        """The frame parser while the rest of a large frame may be received
        straight into its payload (FrameParser.payload_view); else None.
        See _PayloadReader, _read_socket and the TLS layer."""
        parser = self.protocol.fast_parser
        if parser is not None and self._open and self._unparsed is None and parser.missing >= ZERO_COPY_MIN:
            return parser
        return None

    def _payload_received(self, parser: Any, size: int) -> None:
        """``size`` bytes of a large frame arrived in its payload (see
        _PayloadReader, _read_socket and the TLS layer)."""
        frames = parser.payload_received(size)
        self._sent_since_read = False
        if self.protocol.fast_parser is parser and self._open:
            self._receive_items(frames)
        else:
            # Closing meanwhile: the general path.
            self.protocol.receive_parsed(frames)
            self._handle_events()

    def _parse_unparsed(self) -> bool:
        """Parse what's left of a read, a slice at a time, until the queue is
        above its high-water mark. Return True when nothing is left."""
        view, self._unparsed = self._unparsed, None
        messages = self.recv_messages
        protocol = self.protocol
        start, end = 0, len(view)
        while start < end:
            size = protocol.next_slice(view, start)
            self._receive(view[start : start + size])
            start += size
            if start < end and messages.paused and not self._discarding:
                self._unparsed = view[start:]
                return False
        return True

    def _receive(self, data: BytesLike) -> None:
        """Handle bytes from the transport (all of a read, or a slice of it)."""
        self._sent_since_read = False
        protocol = self.protocol
        parser = protocol.fast_parser
        if parser is not None and self._open:
            self._receive_items(parser.feed_messages(data))
        else:
            protocol.receive_data(data)
            self._handle_events()

    def _receive_items(self, frames: List[Any]) -> None:
        """Handle what the fast parser returned while the connection is OPEN."""
        parser: Any = self.protocol.fast_parser
        if not parser.control_frames and parser.exc is None:
            # The hot path (see Protocol.receive_parsed): only data frames,
            # which go straight to the queue; a whole message as its payload,
            # with no Frame made (see Assembler.put).
            if frames:
                self.recv_messages.put_frames(frames)
                waiter = self._recv_waiter
                if waiter is not None:
                    # Rather than asking done() first, on every message:
                    # the waiter is done only when recv() was cancelled
                    # and hasn't run since.
                    try:
                        waiter.set_result(None)
                    except asyncio.InvalidStateError:
                        pass
            return
        self.protocol.receive_parsed(frames)
        self._handle_events()

    def _handle_events(self) -> None:
        """Handle the protocol's events and answers after receiving."""
        protocol = self.protocol
        events = protocol.events_received()
        # Automatic answers (pong, close) go out before events are handled.
        writes = protocol.data_to_send()
        if writes:
            self._write(writes)
            if self._write_paused and not self._lost:
                # Our answers to this peer pile up: it sends (pings, say) but
                # doesn't read. Read no more from it until it catches up, so
                # that a ping flood can't grow the write buffer. While the
                # application itself waits to write, allow a write_limit's
                # worth of answers first: two endpoints that stream both
                # ways must keep reading each other's pings and data.
                if self._drain_waiters:
                    for data in writes:
                        self._answers_size += len(data)
                if not self._drain_waiters or self._answers_size > self._write_limit[0]:
                    self._reading_held = True
                    self.transport.pause_reading()
        if self._open:
            self._receive_events(events)
        else:
            for event in events:
                self.process_event(event)
            self._wake_reader()

    def _receive_events(self, events: List[Any]) -> None:
        """Handle the events of an OPEN connection: queue data frames."""
        messages = self.recv_messages
        got_data = False
        for event in events:
            opcode = event.opcode
            if opcode <= OP_BINARY:
                if not self._discarding:
                    messages.put(event)
                got_data = True
            elif opcode == OP_PONG:
                self._acknowledge_pings(event.data)
        if got_data:
            waiter = self._recv_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if self.protocol.close_sent is not None:
                self._read_on_for_close()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        events = self.protocol.events_received()
        self._flush()
        for event in events:
            self.process_event(event)
        # Returning None closes the transport: the WebSocket closing
        # handshake never needs to write after the peer's EOF.

    def connection_lost(self, exc: Optional[Exception]) -> None:
        # First: the transport closes the socket when this returns, and its
        # number may then be given to another file.
        self._raw_fd = -1
        self._uv_buffered = self._uv_closing = None
        self._own_reader = self._zero_copy = False
        # receive_eof() is idempotent: this makes the state CLOSED for sure.
        self.protocol.receive_eof()
        self.protocol.data_to_send()  # nothing can be written any more
        self._lost = True
        self._unparsed = None
        self._set_connection_exc(exc)
        for timer in (self._close_timer, self._keepalive_timer):
            if timer is not None:
                timer.cancel()
        self._close_timer = self._keepalive_timer = None
        if self.recv_messages is not None:
            self.recv_messages.close()
            # Reading can't be paused or resumed any more; the queue's
            # reference to _resume_reading would keep this connection alive
            # in a cycle until the garbage collector's next full pass.
            self.recv_messages.queue.detach()
        self._wake_reader()
        if self._pings is not None and len(self._pings):
            close_exc = self.protocol.close_exc
            for waiter in self._pings.clear():
                if waiter is not None and not waiter.done():
                    waiter.set_exception(close_exc)
                    # Marks the exception as retrieved: nobody may await
                    # this ping and asyncio would log it otherwise.
                    waiter.cancel()
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
            if not self._lost and not self.recv_messages.paused:
                self._resume_transport_reading()
        self._wake_drain_waiters()



# Request and Response fields, in an instance's __dict__ when nobody added
# attributes of their own.
_EVENT_FIELDS = frozenset(field.name for event in (Request, Response) for field in dataclasses.fields(event))


def raw_fd_of(transport: Any) -> int:
    """
    The file descriptor of the socket of ``transport`` if it is one that
    its protocol may send to directly while the transport holds nothing
    (see ``Connection._transport_write``): the TCP transport of asyncio's
    default loop or of uvloop, with the attributes that the check relies on.
    Otherwise -1, and always on Windows, where a socket is no file
    descriptor (see send_some).
    """
    if not _POSIX:
        return -1
    if type(transport) is _SelectorSocketTransport:
        sock = getattr(transport, "_sock", None)
        if sock is not None and hasattr(transport, "_buffer") and hasattr(transport, "_conn_lost"):
            return sock.fileno()  # type: ignore[no-any-return]
    elif _is_uvloop_tcp(transport):
        sock = transport.get_extra_info("socket")
        if sock is not None:
            return sock.fileno()  # type: ignore[no-any-return]
    return -1


def _is_uvloop_tcp(transport: object) -> bool:
    # By name: uvloop needn't be installed, nor imported here.
    kind = type(transport)
    return kind.__name__ == "TCPTransport" and kind.__module__ == "uvloop.loop"


def _is_plain_event(event: object) -> bool:
    """Whether a Request or Response can be kept as its bytes: it is one and
    carries no attribute that a hook attached to it."""
    return event is not None and type(event) is not bytes and vars(event).keys() <= _EVENT_FIELDS


def broadcast(
    connections: Iterable[Connection],
    message: DataLike,
    *,
    text: Optional[bool] = None,
    raise_exceptions: bool = False,
) -> None:
    """
    Send a message to several connections without waiting.

    Connections that are not open, or that are in the middle of sending a
    fragmented message, are skipped. There is no backpressure: a slow
    connection's write buffer grows until keepalive or the application closes
    it.

    Args:
        connections: the connections.
        message: ``str`` (text frame) or bytes-like (binary frame).
        text: :obj:`True` sends bytes-like as text, :obj:`False` sends
            ``str`` as binary. Default :obj:`None`: by type.
        raise_exceptions: collect failures and raise them as an
            :exc:`ExceptionGroup` (Python 3.11+) instead of logging them.
            Default :obj:`False`.

    Raises:
        TypeError: unsupported message type.
    """
    if isinstance(message, str):
        send_text = text is not False
        message = message.encode()
    elif isinstance(message, BYTES_LIKE):
        send_text = text is True
    else:
        raise TypeError("data must be str or bytes")
    exceptions = []
    for connection in connections:
        error = _broadcast_to(connection, message, send_text)
        if error is None:
            continue
        if raise_exceptions:
            exceptions.append(error)
        elif isinstance(error, ConcurrencyError):
            connection.protocol.logger.warning("skipped broadcast: %s", error)
        else:
            connection.protocol.logger.warning("skipped broadcast: %s: %r", error, error.__cause__)
    if raise_exceptions and exceptions:
        try:
            group = ExceptionGroup  # type: ignore[name-defined, unused-ignore]  # noqa: F821 (Python 3.11+)
        except NameError:
            # Python < 3.11: no exception groups; raise the first failure.
            raise exceptions[0]
        raise group("skipped broadcast", exceptions)


broadcast.__module__ = "websockets_fast.asyncio.server"


def _encode_utf8(text: str) -> bytes:
    # A function of its own so that the compiled build types ``text`` as
    # str and encodes it with one C call (see the .pxd).
    return text.encode("utf-8")


def _broadcast_to(connection: Connection, message: BytesLike, send_text: bool) -> Optional[Exception]:
    """
    Send the encoded ``message`` of :func:`broadcast` to one connection.

    Return :obj:`None` when it was sent or the connection isn't open, else
    the exception that says why it was skipped. A function of its own so
    that the compiled build types the connection (see the .pxd).
    """
    protocol = connection.protocol
    # _state, not the state property: a C field in the compiled build.
    if protocol._state is not OPEN:
        return None
    if connection._send_in_progress is not None:
        return ConcurrencyError("sending a fragmented message")
    try:
        # A plain connection takes the frame as one bytes object; the
        # others (compression, debug log) build it through the protocol.
        frame = protocol._data_frame(OP_TEXT if send_text else OP_BINARY, message)
        if frame is not None:
            if connection._pending:
                # Frames gathered by send() go first.
                connection._write_gathered()
            try:
                connection._transport_write(frame)
            except Exception as exc:
                connection._write_failed(exc)
                raise
        else:
            if send_text:
                protocol.send_text(message)
            else:
                protocol.send_binary(message)
            if not connection._flush():
                raise connection._connection_exc  # type: ignore[misc]  # set by the failed write
    except Exception as exc:
        error = RuntimeError("failed to write message")
        error.__cause__ = exc
        return error
    return None


# What `async for` passes to recv() as decode (see recv).
_ITERATION: Any = object()


class _Messages:
    """The async iterator of :meth:`Connection.__aiter__`."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def __aiter__(self) -> _Messages:
        return self

    def __anext__(self) -> Awaitable[Data]:
        return self._connection.recv(_ITERATION)


class _PayloadReader(asyncio.BufferedProtocol):
    """
    uvloop's protocol while the rest of a large frame arrives.

    uvloop reads into a buffer of its own, then copies each read into a
    bytes object, which the parser copies into the frame's payload. This
    one has uvloop receive straight into the payload's storage
    (:meth:`FrameParser.payload_view`): two copies of every byte fewer.
    :meth:`Connection._data_received` puts it in place, for the rest of one
    frame; :meth:`buffer_updated` puts the connection back once the frame
    is complete. Meanwhile ``transport.get_protocol()`` returns it.
    """

    __slots__ = ("connection", "parser")

    def __init__(self, connection: Connection, parser: Any) -> None:
        self.connection = connection
        self.parser = parser

    def get_buffer(self, sizehint: int) -> memoryview:
        view = self.parser.payload_view()
        if view is None:  # the parser failed: the connection is closing
            raise RuntimeError("no incomplete payload to receive into")
        return view  # type: ignore[no-any-return]

    def buffer_updated(self, nbytes: int) -> None:
        connection, parser = self.connection, self.parser
        connection._payload_received(parser, nbytes)
        if not parser.missing or parser.exc is not None:
            # The frame is complete (or the parser failed): reads go into
            # uvloop's buffer again.
            connection.transport.set_protocol(connection)  # type: ignore[arg-type]  # a protocol by its methods

    def eof_received(self) -> Optional[bool]:
        return self.connection.eof_received()  # type: ignore[func-returns-value]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.connection.connection_lost(exc)

    def pause_writing(self) -> None:
        self.connection.pause_writing()

    def resume_writing(self) -> None:
        self.connection.resume_writing()

# The class above, which the compiled build replaces below: the legacy
# connection runs some of its methods (closing deadline, keepalive).
SourceConnection = Connection

# This file is also compiled by Cython into
# websockets_fast._speedups.asyncio_connection, with the C types of
# _speedups/asyncio_connection.pxd: on the compiled backend, its builds of
# Connection and broadcast replace the ones above.
if __name__ == "websockets_fast.asyncio.connection" and BACKEND == "compiled":
    from websockets_fast._speedups.asyncio_connection import Connection, broadcast  # noqa: F811, E402

