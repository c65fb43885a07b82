"""
The threading implementation of a WebSocket connection.

Each connection has exactly one helper thread, the reader. Reading the
socket, feeding the Sans-I/O protocol, queueing incoming data frames in the
shared :class:`~websockets_fast.assembler.Assembler`, answering pings and
keeping time (keepalive pings, the closing deadline, computed from the read
timeout: there is no keepalive thread) is the job of whichever thread holds
the read token: the reader thread, or a thread in ``recv()`` that found the
socket idle and reads it itself, which saves two thread switches per
message.

There are no library-level buffers. Outgoing frames go straight to the
socket with ``sendall()``. Incoming frames wait in the assembler's frame
queue; when it grows above the ``max_queue`` high-water mark nobody calls
``recv()`` on the socket until the application has consumed the queue down
to the low-water mark, so the peer feels TCP backpressure.

Locking. ``_lock`` guards the protocol, the assembler and every attribute
that changes after the opening handshake; three conditions share it:
``recv()`` waits for a message, the reader thread for its turn to read, and
writers for their frames to be written. Writes happen outside ``_lock``: a
thread claims the socket while it holds ``_lock``, right after the protocol
produced its frames; a thread that finds the socket claimed queues its
frames for the writing thread, which writes them next (and waits until they
are written). Frames thus reach the socket in the order the protocol
produced them (which compression requires), and a ``send()`` blocked by a
slow peer never stops the connection from reading.
"""

from __future__ import annotations

import concurrent.futures
import select
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, NoReturn, Optional, Tuple

from ..assembler import Assembler, PingTracker
from ..connection_logger import ConnectionLogger
from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK, TooManyFragments
from ..frames import OP_BINARY, OP_PONG, CloseCode
from ..protocol import PARSE_SLICE, State
from ..speedups import BACKEND

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..http11 import Request, Response
    from ..protocol import Protocol
    from ..typing import BytesLike, Data, DataLike

__all__ = ["Connection", "broadcast"]

CONNECTING = State.CONNECTING
OPEN = State.OPEN
CLOSING = State.CLOSING
CLOSED = State.CLOSED

BYTES_LIKE = (bytes, bytearray, memoryview)

# After recv() returns, the reader thread leaves the socket alone this long
# (seconds) in case recv() is called again, as it is in a receive loop.
RECV_HANDOVER = 0.005

# When a keepalive ping finds another thread writing, it tries again after
# this many seconds rather than queue behind a slow write.
KEEPALIVE_RETRY = 1.0

# Most writes (pongs, close frames) the reading thread queues behind a busy
# writer before it waits for them, which stops reading. Each holds the
# replies to one read, so this bounds the memory a peer that pings without
# reading can make us hold.
MAX_QUEUED_REPLIES = 4

# What one _read_step() did.
READ_OVER = -1  # the connection is over: call _finish_reading()
READ_TIMED_OUT = 0  # its deadline passed without data
READ_DATA = 1  # it processed data
READ_HANDED_OVER = 2  # ... and woke a thread waiting in recv() to take it

_monotonic = time.monotonic

# send() flag for a write that never blocks (not on Windows).
_NONBLOCKING_FLAG = getattr(socket, "MSG_DONTWAIT", None)


def _readiness_waiter(sock: socket.socket) -> Callable[[float], bool]:
    """
    Return a function ``wait(timeout)`` that waits until ``sock`` has data
    to read (or EOF, or an error) for at most ``timeout`` seconds and tells
    whether it does.
    """
    if hasattr(select, "poll"):
        # poll() has no limit on file descriptor numbers, unlike select().
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        poll = poller.poll

        def wait(timeout: float) -> bool:
            # poll() counts milliseconds; round up so a due timer is due.
            return bool(poll(timeout * 1000.0 + 1.0))

    else:  # Windows

        def wait(timeout: float) -> bool:
            readable, _, _ = select.select([sock], [], [], timeout)
            return bool(readable)

    return wait


def _wait_writable(sock: socket.socket, timeout: Optional[float]) -> None:
    """Wait until ``sock`` can be written (or has failed), at most ``timeout``
    seconds, or without limit when it is :obj:`None`."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLOUT)
            poller.poll(None if timeout is None else timeout * 1000.0 + 1.0)
        else:
            select.select([], [sock], [sock], timeout)
    except ValueError:
        pass  # closed by another thread meanwhile: the next send() says so


class Connection:
    """
    A WebSocket connection over a blocking socket, shared by clients and
    servers. Use :class:`~websockets_fast.sync.client.ClientConnection` or
    :class:`~websockets_fast.sync.server.ServerConnection`.

    Args:
        sock: the connected socket (TCP, Unix or TLS); the connection owns
            it and closes it.
        protocol: the Sans-I/O protocol, in state CONNECTING before the
            opening handshake or OPEN after it.
        ping_interval: seconds between keepalive pings; :obj:`None` disables
            keepalive. Default 20.
        ping_timeout: seconds to wait for the pong of a keepalive ping before
            failing the connection with 1011; :obj:`None` waits forever.
            Default 20.
        close_timeout: seconds to wait for the closing handshake and the TCP
            close before dropping the connection; :obj:`None` waits forever.
            Default 10.
        max_queue: high-water mark of the incoming frame queue (an int, a
            ``(high, low)`` tuple, or :obj:`None` for no flow control); the
            low-water mark defaults to ``high // 4``. Default 16.
    """

    __slots__ = (
        "socket",
        "protocol",
        "ping_interval",
        "ping_timeout",
        "close_timeout",
        "id",
        "logger",
        "debug",
        "request",
        "response",
        "latency",
        "recv_messages",
        "_lock",
        "_writing",
        "_outgoing",
        "_write_seq",
        "_written_seq",
        "_written",
        "_write_error",
        "_message_ready",
        "_reader_wake",
        "_paused",
        "_unparsed",
        "_discarding",
        "_token_busy",
        "_reader_waiting",
        "_recv_waiting",
        "_recv_left_at",
        "_finished",
        "_pending",
        "_wait_readable",
        "_recv_in_progress",
        "_send_in_progress",
        "_pings",
        "_keepalive_payload",
        "_ping_due",
        "_pong_due",
        "_close_due",
        "_aborted",
        "_connection_exc",
        "_reader",
        "__weakref__",
        # Programs attach their own attributes (ws.user = ...), as websockets
        # allows; the dict only exists once they do.
        "__dict__",
    )

    recv_bufsize = 65536

    def __init__(
        self,
        sock: socket.socket,
        protocol: Protocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | None | tuple[int | None, int | None] = 16,
    ) -> None:
        self.socket = sock
        self.protocol = protocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout

        # Log records carry the connection, as in websockets.
        protocol.logger = ConnectionLogger(protocol.logger, self)
        self.id: uuid.UUID = protocol.id
        """Unique identifier of the connection. Useful in logs."""
        self.logger = protocol.logger
        """Logger for this connection."""
        self.debug = protocol.debug

        self.request: Optional[Request] = None
        """Opening handshake request."""
        self.response: Optional[Response] = None
        """Opening handshake response."""
        self.latency: float = 0.0
        """
        Round-trip time of the last ping answered by a pong, in seconds;
        ``0.0`` before the first measurement. Keepalive pings update it.
        """

        self._lock = threading.Lock()
        # Writing: the thread that claimed the socket writes; others queue
        # their frames in _outgoing and wait on _written (see _write).
        self._writing = False
        self._outgoing: List[bytes] = []
        self._write_seq = 0
        self._written_seq = 0
        self._written = threading.Condition(self._lock)
        self._write_error: Optional[BaseException] = None
        self._message_ready = threading.Condition(self._lock)
        # The reader thread waits on this one: to resume reading, for the
        # read token, or for recv() to be done with the socket.
        self._reader_wake = threading.Condition(self._lock)
        self._paused = False
        # True once incoming data frames are dropped (see _pause_reading).
        self._discarding = False
        # A memoryview of the rest of a read, parsed one slice per
        # _read_step() and not while the queue is paused. Only the holder of
        # the read token touches it.
        self._unparsed: Any = None  # a memoryview, or None
        self._token_busy = False
        self._reader_waiting = False
        self._recv_waiting = False
        self._recv_left_at = 0.0
        self._finished = False
        self._pending: Any = None
        self._wait_readable: Optional[Callable[[float], bool]] = None
        self.recv_messages = Assembler(
            max_queue,
            pause=self._pause_reading,
            resume=self._resume_reading,
            max_size=(protocol.max_message_size, protocol.max_fragment_size),
        )
        self._recv_in_progress = False
        self._send_in_progress = False
        self._pings = PingTracker()
        self._keepalive_payload: Optional[bytes] = None
        # Monotonic times at which the reader must act, or None.
        self._ping_due: Optional[float] = None
        self._pong_due: Optional[float] = None
        self._close_due: Optional[float] = None
        self._aborted = False
        # The error that broke the connection, chained to ConnectionClosed.
        self._connection_exc: Optional[BaseException] = None
        self._reader: Optional[threading.Thread] = None
        if protocol.state is not CONNECTING:
            self.start_reader()

    # Public attributes

    @property
    def local_address(self) -> Any:
        """Local address of the connection, as :meth:`socket.socket.getsockname`."""
        return self.socket.getsockname()

    @property
    def remote_address(self) -> Any:
        """Remote address of the connection, as :meth:`socket.socket.getpeername`."""
        return self.socket.getpeername()

    @property
    def state(self) -> State:
        """State of the WebSocket connection (RFC 6455): CONNECTING, OPEN, CLOSING or CLOSED."""
        return self.protocol.state

    @property
    def subprotocol(self) -> str | None:
        """Subprotocol negotiated in the opening handshake, or :obj:`None`."""
        return self.protocol.subprotocol

    @property
    def close_code(self) -> int | None:
        """Close code received from the peer once the connection is closed, else :obj:`None`."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """Close reason received from the peer once the connection is closed, else :obj:`None`."""
        return self.protocol.close_reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """
        The :exc:`~websockets_fast.exceptions.ConnectionClosed` exception
        that calls raise once the connection is closed, chained to the error
        that broke it, if any. Only valid once :attr:`state` is CLOSED.
        """
        exc = self.protocol.close_exc
        if self._connection_exc is not None:
            exc.__cause__ = self._connection_exc
        return exc

    # Context manager and iteration

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close(CloseCode.INTERNAL_ERROR)

    def __iter__(self) -> Iterator[str | bytes]:
        """
        Yield incoming messages until the connection closes.

        The iteration ends quietly after a normal closure (1000, 1001 or no
        code) and raises :exc:`~websockets_fast.exceptions.ConnectionClosedError`
        otherwise.
        """
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    # Receiving

    def recv(self, timeout: float | None = None, decode: bool | None = None) -> str | bytes:
        """
        Receive the next message.

        Args:
            timeout: seconds to wait for a complete message before raising
                :exc:`TimeoutError`; :obj:`None` (default) waits forever, and
                zero or less only returns a message already received.
            decode: :obj:`None` (default) returns :class:`str` for a text
                message and :class:`bytes` for a binary one; :obj:`True`
                decodes both as UTF-8; :obj:`False` decodes neither.

        Raises:
            ConnectionClosed: the connection is closed (``ConnectionClosedOK``
                after a normal closure, ``ConnectionClosedError`` otherwise).
            ConcurrencyError: another thread is already in :meth:`recv` or
                :meth:`recv_streaming`.
            TimeoutError: ``timeout`` elapsed first. A message half-received
                is kept for the next call.
        """
        lock = self._lock
        chunks = None
        lock.acquire()
        try:
            if self._recv_in_progress:
                raise ConcurrencyError(
                    "cannot call recv while another thread is already running recv or recv_streaming"
                )
            try:
                message = self.recv_messages.take(decode)
                if message is not None:
                    return message
                deadline = None if timeout is None else _monotonic() + timeout
                self._recv_in_progress = True
                try:
                    while True:
                        if not self._token_busy and not self._finished:
                            # Nobody is reading the socket: read it in this
                            # thread rather than wake the reader thread.
                            self._token_busy = True
                            lock.release()
                            try:
                                status = self._read_step(deadline)
                                if status == READ_OVER:
                                    self._finish_reading()
                            finally:
                                lock.acquire()
                                self._release_token_locked()
                        elif not self._finished:
                            # The reader thread is reading: it will hand over.
                            self._recv_waiting = True
                            try:
                                if deadline is None:
                                    self._message_ready.wait()
                                else:
                                    self._message_ready.wait(max(deadline - _monotonic(), 0.0))
                            finally:
                                self._recv_waiting = False
                        message = self.recv_messages.take(decode)
                        if message is not None:
                            return message
                        if deadline is not None and _monotonic() >= deadline:
                            raise TimeoutError(f"timed out in {timeout:.1f}s")
                finally:
                    self._recv_in_progress = False
            except EOFError:
                pass
            except UnicodeDecodeError as exc:
                chunks = self._fail_locked(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}", exc)
            except TooManyFragments as exc:
                chunks = self._fail_locked(CloseCode.MESSAGE_TOO_BIG, "too many fragments", exc)
        finally:
            lock.release()
        self._write_quietly(chunks)
        raise self._closed_error()

    def recv_streaming(self, decode: bool | None = None) -> Iterator[str | bytes]:
        """
        Receive the next message fragment by fragment.

        Returns an iterator that yields each frame's payload as it arrives.
        Consume it fully: until it ends, :meth:`recv` and
        :meth:`recv_streaming` raise :exc:`ConcurrencyError`.

        Args:
            decode: as in :meth:`recv`. Text fragments are decoded
                incrementally, so a character split across frames is fine.

        Raises:
            ConnectionClosed: the connection is closed.
            ConcurrencyError: another thread is already receiving.
        """
        with self._lock:
            if self._recv_in_progress:
                raise ConcurrencyError(
                    "cannot call recv_streaming while another thread is already running recv or recv_streaming"
                )
            self._recv_in_progress = True
        closed = False
        item = None
        chunks = None
        try:
            while True:
                with self._lock:
                    try:
                        item = self.recv_messages.take_fragment(decode)
                        while item is None:
                            self._recv_waiting = True
                            # The reader may be leaving the socket to recv().
                            self._reader_wake.notify()
                            try:
                                self._message_ready.wait()
                            finally:
                                self._recv_waiting = False
                            item = self.recv_messages.take_fragment(decode)
                    except EOFError:
                        closed = True
                        break
                    except UnicodeDecodeError as exc:
                        chunks = self._fail_locked(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}", exc)
                        closed = True
                        break
                fragment, fin = item
                yield fragment
                if fin:
                    break
        finally:
            # Only a fully consumed iterator releases recv(); one abandoned
            # half-way leaves the connection unusable, as in websockets.
            if closed or (item is not None and item[1]):
                with self._lock:
                    self._recv_in_progress = False
        if closed:
            self._write_quietly(chunks)
            raise self._closed_error()

    # Sending

    def send(self, message: DataLike | Iterable[DataLike], text: bool | None = None) -> None:
        """
        Send a message.

        A :class:`str` goes in a text frame, a bytes-like object in a binary
        frame. An iterable of str or of bytes-like objects is sent as one
        fragmented message, one frame per item.

        Args:
            message: the message or its fragments.
            text: :obj:`True` sends bytes (already UTF-8) as text; :obj:`False`
                sends a str as binary; :obj:`None` (default) goes by the type.

        Raises:
            ConnectionClosed: the connection is closed.
            ConcurrencyError: another thread is sending a fragmented message.
            TypeError: ``message`` has an unsupported type (a dict is refused).
        """
        if isinstance(message, str):
            data = message.encode()
            as_text = text is not False
        elif isinstance(message, BYTES_LIKE):
            data = message  # type: ignore[assignment]
            as_text = text is True
        elif isinstance(message, Mapping):
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):
            self._send_fragments(message, text)
            return
        else:
            raise TypeError("data must be str, bytes, or iterable")
        self._send_data(data, as_text, True)

    def _send_fragments(self, message: Iterable[DataLike], text: Optional[bool]) -> None:
        chunks = iter(message)
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        data: BytesLike
        if isinstance(chunk, str):
            encode = True
            data = chunk.encode()
        elif isinstance(chunk, BYTES_LIKE):
            encode = False
            data = chunk
        else:
            raise TypeError("iterable must contain bytes or str")
        as_text = text is not False if encode else text is True
        self._send_data(data, as_text, False)

        try:
            for chunk in chunks:
                if encode and isinstance(chunk, str):
                    data = chunk.encode()
                elif not encode and isinstance(chunk, BYTES_LIKE):
                    data = chunk
                else:
                    raise TypeError("iterable must contain uniform types")
                self._send_continuation(data, False)
            self._send_continuation(b"", True)
        except ConnectionClosed:
            raise
        except BaseException:
            # Half a message is out and the rest will never come: the
            # connection can't carry another message.
            with self._lock:
                claim = self._fail_locked(CloseCode.INTERNAL_ERROR, "error in fragmented message")
            self._write_quietly(claim)
            raise

    def _send_continuation(self, data: BytesLike, fin: bool) -> None:
        self._send_frames(self._send_continuation_locked, data, fin)

    def _send_data(self, data: BytesLike, text: Optional[bool], fin: bool) -> None:
        """
        :meth:`_send_frames` with :meth:`_send_data_locked`, written out:
        the compiled build calls each step in C, where a bound method and
        ``*args`` would go through Python calls on every message.
        """
        protocol = self.protocol
        with self._lock:
            # _state, not the state property: a C field in the compiled build.
            if protocol._state is OPEN:
                self._send_data_locked(data, text, fin)
                chunks = protocol.data_to_send()
                ticket = self._claim_write_locked(chunks)
            else:
                chunks = None
        if chunks is None:
            raise self._closed_error()
        self._write(chunks, ticket)

    def _send_data_locked(self, data: BytesLike, text: Optional[bool], fin: bool) -> None:
        if self._send_in_progress:
            raise ConcurrencyError("cannot call send while another thread is already running send")
        if text:
            self.protocol.send_text(data, fin)
        else:
            self.protocol.send_binary(data, fin)
        self._send_in_progress = not fin

    def _send_continuation_locked(self, data: BytesLike, fin: bool) -> None:
        self.protocol.send_continuation(data, fin)
        if fin:
            self._send_in_progress = False

    def ping(self, data: Optional[DataLike] = None, *, ack_on_close: bool = False) -> threading.Event:
        """
        Send a ping.

        Args:
            data: payload; a str is encoded to UTF-8; :obj:`None` (default)
                picks four random bytes.
            ack_on_close: also set the returned event when the connection
                closes, so that waiting on it never hangs; then check
                :attr:`state` to tell a pong from a closure. Default False.

        Returns:
            A :class:`threading.Event` set when the matching pong arrives;
            :attr:`latency` then holds the round-trip time.

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
        pong_received = threading.Event()
        self._send_frames(self._send_ping_locked, data, (pong_received, ack_on_close))
        return pong_received

    def _send_ping_locked(self, data: Optional[bytes], waiter: Tuple[threading.Event, bool]) -> None:
        if data is None:
            data = self._pings.new_payload()
        self._pings.add(data, waiter, _monotonic())
        self.protocol.send_ping(data)

    def pong(self, data: DataLike = b"") -> None:
        """
        Send an unsolicited pong, e.g. as a one-way heartbeat.

        Args:
            data: payload; a str is encoded to UTF-8. Default empty.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        if isinstance(data, BYTES_LIKE):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        else:
            raise TypeError("data must be str or bytes-like")
        self._send_frames(self.protocol.send_pong, data)

    # Closing

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """
        Perform the closing handshake and wait for the TCP connection to end.

        It waits at most ``close_timeout`` seconds, then drops the
        connection. Calling it again, or on a closed connection, does nothing.

        Args:
            code: close code. Default 1000.
            reason: close reason. Default empty.
        """
        claim = None
        with self._lock:
            state = self.protocol.state
            if state is OPEN:
                if self._send_in_progress:
                    claim = self._fail_locked(CloseCode.INTERNAL_ERROR, "close during fragmented message")
                else:
                    self.protocol.send_close(code, reason)
                    self._note_closing_locked()
                    claim = self._claim_output_locked()
        if state is CONNECTING:
            # The opening handshake didn't complete: nothing to say.
            self.close_socket()
            return
        self._write_quietly(claim)
        self._wait_reader()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """
        Wait until the connection is closed.

        Args:
            timeout: seconds to wait at most; :obj:`None` (default) waits
                forever.

        Returns:
            Whether the connection is closed.
        """
        reader = self._reader
        if reader is None:
            return self.protocol.state is CLOSED
        reader.join(timeout)
        return not reader.is_alive()

    def close_socket(self) -> None:
        """Drop the TCP connection now, without a closing handshake."""
        if self._reader is None:
            with self._lock:
                self._finished = self._aborted = True
                self.protocol.receive_eof()
                self.recv_messages.close()
                self.recv_messages.queue.detach()  # see _finish_reading
            try:
                self.socket.close()
            except OSError:
                pass
        else:
            self._abort()
            self._wait_reader()

    # Internals: writing

    def _send_frames(self, make: Callable[..., None], *args: Any) -> None:
        """
        The write path of the sending methods: under ``_lock``, if the
        connection is OPEN, ``make(*args)`` has the protocol make frames
        (or raises before it does), and this thread claims the socket for
        them or queues them; then, without the lock, they are written.
        Raise ConnectionClosed if the connection isn't OPEN or the write
        fails.
        """
        with self._lock:
            if self.protocol.state is OPEN:
                make(*args)
                chunks = self.protocol.data_to_send()
                ticket = self._claim_write_locked(chunks)
            else:
                chunks = None
        if chunks is None:
            raise self._closed_error()
        self._write(chunks, ticket)

    def _claim_write_locked(self, chunks: List[bytes]) -> int:
        """
        Claim the socket to write ``chunks``, or queue them behind the thread
        that is writing. The caller holds ``_lock``, then releases it and
        calls :meth:`_write` with ``chunks`` and the returned ticket: 0 means
        "you write", any other value "your frames are queued".
        """
        if self._writing or self._outgoing or self._write_error is not None:
            if len(chunks) == 1:
                self._outgoing.append(chunks[0])
            else:
                # One read can answer thousands of pings: keep one object,
                # not thousands. An EOF (b"") can only come last.
                self._outgoing.append(b"".join(chunks))
                if not chunks[-1]:
                    self._outgoing.append(b"")
            self._write_seq += 1
            return self._write_seq
        self._writing = True
        return 0

    def _write(self, chunks: List[bytes], ticket: int, wait: bool = True) -> bool:
        """
        Write ``chunks`` from the protocol to the socket, as claimed by
        :meth:`_claim_write_locked`.

        The writing thread also writes what other threads queued meanwhile,
        in order, so that no thread ever waits for the socket while holding
        ``_lock``. A write error drops the connection and raises
        ConnectionClosed.

        With ``wait=False``, for the thread that reads the socket: a queued
        write returns at once, unless too many are queued already; a claimed
        write leaves what others queued to them, so that reading goes on;
        and a write error returns False (the reading thread must not wait
        for the connection to close: it is the one closing it).
        """
        if ticket:
            if wait:
                if not self._wait_written(ticket):
                    raise self._closed_error()
            elif ticket - self._written_seq > MAX_QUEUED_REPLIES:
                # A peer that sends pings but doesn't read would grow the
                # queue without end: stop reading until it drains.
                return self._wait_written(ticket)
            return True
        if not self._write_batches(chunks, 0, hand_over=not wait):
            if wait:
                raise self._closed_error()
            return False
        return True

    def _write_batches(self, chunks: List[bytes], written: int, hand_over: bool) -> bool:
        """
        As the writing thread, write ``chunks`` (the queue up to ticket
        ``written``), then what was queued meanwhile, until the queue is
        empty; with ``hand_over``, leave the queue to the threads waiting on
        it instead. Return False after a write error.
        """
        lock = self._lock
        sock = self.socket
        try:
            while True:
                for chunk in chunks:
                    if chunk:
                        self._send_all(sock, chunk)
                    else:
                        # The protocol asks to half-close the connection.
                        sock.shutdown(socket.SHUT_WR)
                with lock:
                    if written:
                        self._written_seq = written
                        self._written.notify_all()
                    chunks = self._outgoing
                    if not chunks or hand_over:
                        self._writing = False
                        if chunks or self._finished:
                            # Wake a waiting writer to take over, or the
                            # reader waiting to close the socket.
                            self._written.notify_all()
                        return True
                    self._outgoing = []
                    written = self._write_seq
        except BaseException as exc:
            # Whatever happened (a network error, or KeyboardInterrupt in
            # sendall()), the stream of frames is cut: no write may follow.
            with lock:
                self._writing = False
                self._outgoing = []
                if self._write_error is None:
                    self._write_error = exc
                self._written.notify_all()
            if self.debug:
                self.logger.debug("! error while sending data", exc_info=True)
            self._abort(exc)
            if not isinstance(exc, OSError):
                raise
            return False

    def _send_all(self, sock: socket.socket, chunk: bytes) -> None:
        """
        sendall(), except that a write which makes no progress gives up at
        :meth:`_write_deadline` with TimeoutError: a peer that never reads
        must not hold this thread (the application's, or the reader's with a
        pong) forever. Where a send can't be tried without blocking (Windows,
        TLS), this is sendall().
        """
        if _NONBLOCKING_FLAG is None or isinstance(sock, ssl.SSLSocket):
            sock.sendall(chunk)
            return
        try:
            sent = sock.send(chunk, _NONBLOCKING_FLAG)
        except BlockingIOError:
            sent = 0
        if sent == len(chunk):
            return  # the common case: all of it at once
        view = memoryview(chunk)[sent:]
        deadline = None
        while view:
            try:
                sent = sock.send(view, _NONBLOCKING_FLAG)
            except BlockingIOError:
                sent = 0
            if sent:
                view = view[sent:]
                # The peer reads: it gets a whole deadline again.
                deadline = None
                continue
            if deadline is None:
                deadline = self._write_deadline()
            remaining = None if deadline is None else deadline - _monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("timed out while sending data: the peer reads nothing")
            _wait_writable(sock, remaining)

    def _write_deadline(self) -> Optional[float]:
        """
        When a write that makes no progress from now on gives up: after
        ``ping_timeout`` with keepalive on (a peer that reads nothing for
        that long would fail keepalive anyway, and can't be sent a close
        frame), and at the closing deadline while closing. :obj:`None`
        (keepalive off, not closing): never, as websockets does.
        """
        deadline = None
        if self.ping_interval is not None and self.ping_timeout is not None:
            deadline = _monotonic() + self.ping_timeout
        close_due = self._close_due
        if close_due is not None and (deadline is None or close_due < deadline):
            deadline = close_due
        return deadline

    def _wait_written(self, ticket: int) -> bool:
        """
        Wait until the frames queued with ``ticket`` are written, writing
        them if the writing thread handed the queue over. Return False if
        they won't be (the connection broke).
        """
        with self._lock:
            while self._written_seq < ticket and self._write_error is None:
                if not self._writing:
                    # Handed over: this thread writes the queue now.
                    self._writing = True
                    chunks, self._outgoing = self._outgoing, []
                    written = self._write_seq
                    break
                self._written.wait()
            else:
                return self._written_seq >= ticket
        return self._write_batches(chunks, written, hand_over=False)

    def _fail_locked(self, code: int, reason: str, exc: Optional[BaseException] = None) -> Optional[Tuple[List[bytes], int]]:
        """
        Fail the connection with ``code``; ``exc`` is its cause, if any. The
        caller holds ``_lock``; it must pass the result to
        :meth:`_write_quietly` once it has released ``_lock``.
        """
        self._set_connection_exc(exc)
        if self.protocol.state is OPEN:
            self.protocol.fail(code, reason)
            self._note_closing_locked()
        return self._claim_output_locked()

    def _claim_output_locked(self) -> Optional[Tuple[List[bytes], int]]:
        """
        Claim the socket for what the protocol has to send, or queue it; the
        caller holds ``_lock``. Return :obj:`None` if there is nothing, else
        the ``(chunks, ticket)`` for :meth:`_write_quietly` or :meth:`_write`.
        """
        chunks = self.protocol.data_to_send()
        if not chunks:
            return None
        return chunks, self._claim_write_locked(chunks)

    def _write_quietly(self, claim: Optional[Tuple[List[bytes], int]]) -> None:
        """Write the output of :meth:`_fail_locked`; errors are already handled."""
        if claim is not None:
            try:
                self._write(*claim)
            except ConnectionClosed:
                pass

    def _note_closing_locked(self) -> None:
        """Start the close timer once we expect the TCP connection to end."""
        if self._paused and self.protocol.close_sent is not None:
            self._read_on_for_close()
        if self._close_due is None and self.close_timeout is not None:
            self._close_due = _monotonic() + self.close_timeout
            # The reader may be leaving the socket to recv(): it's needed now.
            self._reader_wake.notify()

    # Internals: closing

    def _closed_error(self) -> ConnectionClosed:
        """Wait until the connection is closed, then return its ConnectionClosed."""
        self._wait_reader()
        with self._lock:
            # The reader feeds EOF when it exits; this covers a connection
            # whose reader never started.
            self.protocol.receive_eof()
            return self.close_exc

    def _set_connection_exc(self, exc: Optional[BaseException]) -> None:
        """Keep the first error that broke the connection; the caller holds ``_lock``."""
        if self._connection_exc is None:
            self._connection_exc = exc

    def _wait_reader(self) -> None:
        reader = self._reader
        if reader is None or reader is threading.current_thread():
            return
        # Whoever reads may be blocked in recv() without a timeout, or in a
        # write to a peer that doesn't read: at the deadline, drop the
        # connection, which wakes them up.
        close_due = self._close_due
        timeout = None if close_due is None else max(close_due - _monotonic(), 0.0)
        reader.join(timeout)
        if reader.is_alive():
            self._abort(TimeoutError("timed out while closing connection"))
            reader.join()

    def _abort(self, exc: Optional[BaseException] = None) -> None:
        """Drop the TCP connection; the reader notices and cleans up."""
        with self._lock:
            if exc is not None:
                self._set_connection_exc(exc)
            self._aborted = True
            self._reader_wake.notify_all()
        try:
            # shutdown() rather than close(): it wakes the reader blocked in
            # recv() or poll() and a writer blocked in sendall(), and the fd
            # stays valid until the reader closes it.
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # Internals: flow control (called by the assembler, under _lock)

    def _pause_reading(self) -> None:
        if self.protocol.close_sent is not None:
            self._read_on_for_close()
        else:
            self._paused = True

    def _read_on_for_close(self) -> None:
        # We sent a close frame while the application leaves messages
        # unread: with reading paused, the peer's close frame would never be
        # read and closing would wait for close_timeout. Nobody will read
        # data sent after our close: drop it and read on.
        self._discarding = True
        if self._paused:
            self._paused = False
            self._reader_wake.notify()

    def _resume_reading(self) -> None:
        self._paused = False
        # A pong may have been waiting unread while reading was paused: give
        # it the full ping_timeout from now rather than fail at once.
        if self._pong_due is not None:
            self._pong_due = max(self._pong_due, _monotonic() + self.ping_timeout)  # type: ignore[operator]  # set: keepalive runs
        self._reader_wake.notify()

    # Internals: reading.
    #
    # One thread at a time reads the socket: the holder of the read token
    # (``_token_busy``). It feeds the protocol, queues frames, answers pings
    # and runs the timers. The reader thread holds it when no application
    # thread is receiving; a thread in recv() takes it when it is free and
    # reads for itself, which saves two thread switches per message. The
    # reader then stays away for RECV_HANDOVER seconds after recv() returns,
    # so that a loop of recv() calls keeps the socket, and takes over when
    # the application is busy elsewhere, so pings, closes and keepalive are
    # always handled.

    def start_reader(self) -> None:
        """Start the reader thread; the opening handshake must be complete."""
        sock = self.socket
        # TLS sockets may hold decrypted bytes that poll() can't see.
        self._pending = getattr(sock, "pending", None)
        self._wait_readable = _readiness_waiter(sock)
        if self.ping_interval is not None:
            self._ping_due = _monotonic() + self.ping_interval
        with self._lock:
            if self.protocol.close_expected():
                # Frames that came with the handshake already closed it.
                self._note_closing_locked()
        # A daemon thread: an idle connection mustn't keep the interpreter
        # alive at exit.
        self._reader = threading.Thread(target=self._read_loop, name=f"websockets_fast-reader-{self.id}", daemon=True)
        self._reader.start()

    def _read_step(self, until: Optional[float] = None) -> int:
        """
        Run the timers, then read the socket once and process what came.

        The caller holds the read token, not ``_lock``. ``until`` is a
        monotonic time after which to stop waiting for data. Return
        READ_DATA after processing data, READ_HANDED_OVER if that woke a
        thread waiting in recv(), READ_TIMED_OUT when ``until`` passed
        without data, READ_OVER when the connection is over (call
        :meth:`_finish_reading`).
        """
        timeout = self._run_timers()
        if timeout == READ_OVER:
            return READ_OVER
        if until is not None:
            remaining = until - _monotonic()
            if remaining < 0:
                remaining = 0.0
            if timeout is None or remaining < timeout:
                timeout = remaining
        if self._unparsed is not None:
            # What's left of the last read comes before anything new.
            data = self._next_slice()
        else:
            sock = self.socket
            try:
                if timeout is not None:
                    pending = self._pending
                    if not (pending is not None and pending()) and not self._wait_readable(timeout):  # type: ignore[misc]  # set by start_reader()
                        return READ_TIMED_OUT
                data = sock.recv(self.recv_bufsize)  # type: ignore[assignment]
            except OSError as exc:
                if self.debug:
                    self.logger.debug("! error while receiving data", exc_info=True)
                with self._lock:
                    self._set_connection_exc(exc)
                return READ_OVER
            if not data:
                return READ_OVER
            # A read of one large frame (or its rest) goes in one piece.
            if len(data) > PARSE_SLICE and self.protocol.next_slice(data) < len(data):
                self._unparsed = memoryview(data)
                data = self._next_slice()
        protocol = self.protocol
        chunks = ticket = None
        try:
            with self._lock:
                protocol.receive_data(data)
                for event in protocol.events_received():
                    self.process_event(event)
                chunks = protocol.data_to_send()
                if chunks:
                    ticket = self._claim_write_locked(chunks)
                if self._close_due is None and protocol.close_expected():
                    self._note_closing_locked()
                status = READ_DATA
                if self._recv_waiting:
                    # Cleared here, not by the woken thread, so that the reader
                    # doesn't take the token back before that thread runs.
                    self._recv_waiting = False
                    self._message_ready.notify()
                    status = READ_HANDED_OVER
        except BaseException as exc:
            # Interrupted half-way (KeyboardInterrupt in the main thread, or
            # a bug): the bytes just read may be half processed, so what
            # follows can't be trusted. Drop the connection, don't misread.
            with self._lock:
                if chunks and ticket == 0:
                    self._writing = False  # claimed, never written
                if self._write_error is None:
                    self._write_error = exc
                self._written.notify_all()
            self._abort(exc)
            raise
        # Don't wait behind another writer: keep reading.
        if chunks and not self._write(chunks, ticket, wait=False):  # type: ignore[arg-type]  # set with chunks
            return READ_OVER
        return status

    def _next_slice(self) -> memoryview:
        """Take the next slice of the unparsed rest of a read."""
        view: memoryview = self._unparsed
        size = self.protocol.next_slice(view)
        if len(view) > size:
            self._unparsed = view[size:]
            return view[:size]
        self._unparsed = None
        return view

    def _release_token_locked(self) -> None:
        """Give up the read token after recv(); the caller holds ``_lock``."""
        self._token_busy = False
        self._recv_left_at = _monotonic()
        if self._reader_waiting:
            self._reader_wake.notify()

    def _take_token_for_reader(self) -> bool:
        """
        Wait until the reader thread should read, and take the read token.
        Return False when the connection is over.
        """
        with self._lock:
            while True:
                if self._finished:
                    return False
                if self._token_busy:
                    self._reader_waiting = True
                    try:
                        self._reader_wake.wait()
                    finally:
                        self._reader_waiting = False
                    continue
                if self._aborted:
                    pass  # read at once: the socket is shut down, reading ends it
                elif self._paused:
                    close_due = self._close_due
                    if close_due is None:
                        self._reader_wake.wait()
                        continue
                    remaining = close_due - _monotonic()
                    if remaining > 0:
                        self._reader_wake.wait(remaining)
                        continue
                    # Overdue: the timers in _read_step drop the connection.
                elif not self._recv_waiting and self._close_due is None:
                    remaining = self._recv_left_at + RECV_HANDOVER - _monotonic()
                    if remaining > 0:
                        self._reader_wake.wait(remaining)
                        continue
                self._token_busy = True
                return True

    def _read_loop(self) -> None:
        try:
            while self._take_token_for_reader():
                status = READ_TIMED_OUT
                try:
                    while True:
                        status = self._read_step()
                        if status == READ_OVER:
                            self._finish_reading()
                            return
                        # Leave the socket to the thread just woken in
                        # recv(), and stop reading when the queue is full.
                        if status == READ_HANDED_OVER or self._paused:
                            break
                finally:
                    with self._lock:
                        self._token_busy = False
                        if status == READ_HANDED_OVER:
                            self._recv_left_at = _monotonic()
        except BaseException as exc:  # a bug: log it and drop the connection
            self.logger.error("unexpected internal error", exc_info=True)
            with self._lock:
                self._set_connection_exc(exc)
            self._finish_reading()

    def process_event(self, event: Any) -> None:
        """Handle one frame from the protocol (called by the reader, under ``_lock``)."""
        opcode = event.opcode
        if opcode <= OP_BINARY:
            if not self._discarding:
                self.recv_messages.put(event)
        elif opcode == OP_PONG:
            self._acknowledge_pings(bytes(event.data))

    def _acknowledge_pings(self, data: bytes) -> None:
        result = self._pings.acknowledge(data, _monotonic())
        if result is None:
            return
        self.latency, acknowledged = result
        for waiter, _ in acknowledged:
            if waiter is not None:
                waiter[0].set()
        if self._keepalive_payload is not None and self._keepalive_payload not in self._pings:
            self._keepalive_payload = None
            self._pong_due = None

    def _close_timed_out(self) -> None:
        self._set_connection_exc(TimeoutError("timed out while closing connection"))

    def _run_timers(self) -> Optional[float]:
        """
        Act on the keepalive and closing deadlines that are due.

        Return the seconds until the next deadline, :obj:`None` when there is
        none, or READ_OVER when the connection must be dropped.
        """
        ping_due = self._ping_due
        pong_due = self._pong_due
        close_due = self._close_due
        if ping_due is None and pong_due is None and close_due is None:
            return None
        now = _monotonic()
        if (
            (ping_due is None or now < ping_due)
            and (pong_due is None or now < pong_due)
            and (close_due is None or now < close_due)
        ):
            return self._time_to_next_deadline()
        if close_due is not None and now >= close_due:
            with self._lock:
                self._close_timed_out()
            return READ_OVER
        if pong_due is not None and now >= pong_due:
            if self.debug:
                self.logger.debug("- timed out waiting for keepalive pong")
            with self._lock:
                self._pong_due = self._ping_due = None
                claim = self._fail_locked(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            if claim is not None and not self._write(*claim, wait=False):
                return READ_OVER
        elif ping_due is not None and now >= ping_due:
            self._keepalive_ping(now)
        return self._time_to_next_deadline()

    def _time_to_next_deadline(self) -> Optional[float]:
        next_due = None
        for due in (self._ping_due, self._pong_due, self._close_due):
            if due is not None and (next_due is None or due < next_due):
                next_due = due
        if next_due is None:
            return None
        return max(next_due - _monotonic(), 0.0)

    def _keepalive_ping(self, now: float) -> None:
        with self._lock:
            if self.protocol.state is not OPEN:
                self._ping_due = None
                return
            # Another thread is writing, maybe to a slow peer: the connection
            # is busy, hence alive. Try again a little later.
            if self._writing:
                self._ping_due = now + min(KEEPALIVE_RETRY, self.ping_interval)  # type: ignore[operator, type-var]  # set: keepalive runs
                return
            # Nobody is writing: a good time to drop idle state.
            self.protocol.compact()
            payload = self._pings.new_payload()
            self._pings.add(payload, None, now)
            self.protocol.send_ping(payload)
            chunks = self.protocol.data_to_send()
            ticket = self._claim_write_locked(chunks)
            self._ping_due = now + self.ping_interval  # type: ignore[operator]
            if self.ping_timeout is not None and self._keepalive_payload is None:
                self._keepalive_payload = payload
                self._pong_due = now + self.ping_timeout
        if self.debug:
            self.logger.debug("% sent keepalive ping")
        # A failure shows up at the next read.
        self._write(chunks, ticket, wait=False)

    def _finish_reading(self) -> None:
        """
        End the connection: close the protocol, the queue and the socket.
        Called once reading has ended, by the thread that holds the token.
        """
        sock = self.socket
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self._aborted = True
            # No write may start now: the socket is about to close.
            if self._write_error is None:
                self._write_error = EOFError("connection closed")
            self._written.notify_all()
            self.protocol.receive_eof()
            self.protocol.data_to_send()  # at most the EOF: the socket closes below
            self.recv_messages.close()
            # Nothing reads any more. The queue's references to our
            # _pause_reading and _resume_reading would keep this connection
            # alive in a cycle until the garbage collector's next full pass.
            self.recv_messages.queue.detach()
            self._unparsed = None
            self._message_ready.notify_all()
            self._reader_wake.notify_all()
            self._paused = False
            self._ping_due = self._pong_due = None
            for waiter in self._pings.clear():
                if waiter is not None and waiter[1]:
                    waiter[0].set()
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        # A writer in sendall() has just failed on the shut-down socket; let
        # it finish before the fd is closed, so it never writes to a reused fd.
        with self._lock:
            while self._writing:
                self._written.wait()
        try:
            sock.close()
        except OSError:
            pass


def broadcast(
    connections: Iterable[Connection],
    message: DataLike,
    *,
    raise_exceptions: bool = False,
    text: bool | None = None,
    **kwargs: Any,
) -> None:
    """
    Send a message to several connections, skipping those that aren't open.

    A str goes in a text frame, a bytes-like object in a binary frame. Each
    frame goes out at once when the connection's socket takes it whole
    without blocking, which is the common case; the writes that would block
    (slow peers, or a connection busy with another write) finish in a
    :class:`concurrent.futures.ThreadPoolExecutor` so that one slow peer
    doesn't hold up the others, and :func:`broadcast` returns when they are
    done. Extra keyword arguments (such as ``max_workers``) configure the
    executor.

    Args:
        connections: the connections to send to.
        message: the message; fragmented messages aren't supported.
        raise_exceptions: collect failures and raise them in an
            ``ExceptionGroup`` (otherwise they are logged). Default False.
        text: as in :meth:`Connection.send`. Default :obj:`None`.

    Raises:
        TypeError: ``message`` is neither str nor bytes-like.
    """
    if isinstance(message, str):
        as_text = text is not False
        message = message.encode()
    elif isinstance(message, BYTES_LIKE):
        as_text = text is True
    else:
        raise TypeError("data must be str or bytes")

    exceptions: List[Exception] = []
    # (connection, chunks, ticket): writes to finish in the executor.
    unfinished = []

    for connection in connections:
        with connection._lock:
            if connection.protocol.state is not OPEN:
                continue
            if connection._send_in_progress:
                if raise_exceptions:
                    exceptions.append(ConcurrencyError("sending a fragmented message"))
                else:
                    connection.logger.warning("skipped broadcast: sending a fragmented message")
                continue
            if as_text:
                connection.protocol.send_text(message)
            else:
                connection.protocol.send_binary(message)
            chunks = connection.protocol.data_to_send()
            ticket = connection._claim_write_locked(chunks)
        if ticket == 0 and _NONBLOCKING_FLAG is not None and not isinstance(connection.socket, ssl.SSLSocket):
            # This thread holds the socket: try to write the frame without
            # blocking, and release the socket if nothing else is queued.
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            try:
                sent = connection.socket.send(data, _NONBLOCKING_FLAG)
            except OSError:  # would block, or broken: the executor sorts it out
                sent = 0
            if sent == len(data):
                with connection._lock:
                    if not connection._outgoing:
                        connection._writing = False
                        if connection._finished:
                            connection._written.notify_all()
                        continue
                chunks = []
            else:
                chunks = [data[sent:]]
        unfinished.append((connection, chunks, ticket))

    def finish(item: Tuple[Connection, List[bytes], int]) -> None:
        connection, chunks, ticket = item
        if _finish_write(connection, chunks, ticket):
            return
        write_exception = connection._write_error
        if raise_exceptions:
            exception = RuntimeError("failed to write message")
            exception.__cause__ = write_exception
            exceptions.append(exception)
        else:
            connection.logger.warning(
                "skipped broadcast: failed to write message: %s",
                traceback.format_exception_only(type(write_exception), write_exception)[0].strip(),
            )

    if unfinished:
        with concurrent.futures.ThreadPoolExecutor(**kwargs) as executor:
            # list() re-raises a bug in finish() rather than losing it.
            list(executor.map(finish, unfinished))

    if raise_exceptions and exceptions:
        if sys.version_info >= (3, 11):
            raise ExceptionGroup("skipped broadcast", exceptions)  # noqa: F821
        try:
            from exceptiongroup import ExceptionGroup as _ExceptionGroup  # type: ignore[import-not-found, unused-ignore]  # Python < 3.11
        except ImportError:
            raise exceptions[0]
        raise _ExceptionGroup("skipped broadcast", exceptions)


# broadcast() is documented in the server module, as in websockets.
broadcast.__module__ = "websockets_fast.sync.server"


def _finish_write(connection: Connection, chunks: List[bytes], ticket: int) -> bool:
    """
    Finish a write that :func:`broadcast` started; tell whether it was
    written. A function of its own so that the compiled build types the
    connection and reaches its C methods (see the .pxd).
    """
    if ticket:
        return connection._wait_written(ticket)
    return connection._write_batches(chunks, 0, hand_over=False)


# This file is also compiled by Cython into
# websockets_fast._speedups.sync_connection, with the C types of
# _speedups/sync_connection.pxd: on the compiled backend, its builds of
# Connection and broadcast replace the ones above.
if __name__ == "websockets_fast.sync.connection" and BACKEND == "compiled":
    from websockets_fast._speedups.sync_connection import Connection, broadcast  # noqa: F811, E402
