"""
TLS for the asyncio client and server, over :class:`ssl.MemoryBIO`.

asyncio's own TLS layer (``asyncio.sslproto``) allocates a 256 KiB read
buffer per connection, which is most of the memory of an idle wss://
connection. :class:`TLSTransport` holds only what the ``ssl`` module needs:
an :class:`ssl.SSLObject` and its two memory BIOs. It is at once the
protocol of the TCP transport (it receives ciphertext) and the transport of
the WebSocket connection (it receives plaintext to send), one object per
connection instead of two.

- Reading: the TCP transport reads into one buffer shared by the
  connections of the thread (a buffered protocol: uvloop would otherwise
  copy each read into a new bytes object). The ciphertext goes into the
  incoming BIO at most :data:`BIO_CHUNK` bytes at a time, ending where a
  record ends when it can, and plaintext comes out a record at a time, each
  delivered to the connection's ``data_received`` as it is decrypted. The
  layer follows the record headers in the ciphertext, so that it asks
  OpenSSL to decrypt only when a whole record is there: a read that meets
  part of one costs an :exc:`ssl.SSLWantReadError`, more than decrypting a
  small record. While the connection pauses reading, the TCP transport is
  paused too, and what's left of the last read waits, undecrypted, in a
  copy of its own.
- Writing: plaintext is encrypted a record at a time and each record goes
  out in the same call, straight to the socket while the TCP transport
  holds nothing (as the connection's plain writes do), else to the
  transport; records aren't joined into one more copy of a large message.
  So this layer holds no outgoing bytes between calls: the TCP transport's
  write buffer (ciphertext) is the one buffer that ``write_limit``
  governs, with the connection's water marks.
- Closing sends close_notify; a peer's close_notify reads as end of stream;
  a TLS error or a peer that drops the connection makes ``connection_lost``
  with the error, logged at debug level only.

The memory BIOs of OpenSSL never shrink: they keep the capacity of the
largest chunk written to them. Feeding them in chunks of about one TLS
record bounds what an idle connection keeps after a large message.

This file is also compiled by Cython into ``websockets_fast._speedups.tls``
with the C types of ``_speedups/tls.pxd`` (see setup.py): on the compiled
backend, :class:`TLSLayer` is a C type and the record pump runs in C.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, TypeVar, Union

# Absolute import: this file is also compiled as websockets_fast._speedups.tls.
from websockets_fast.asyncio.connection import raw_fd_of
from websockets_fast.speedups import BACKEND, send_some

try:
    from asyncio.selector_events import _SelectorSocketTransport  # type: ignore[attr-defined]  # private, not in typeshed
except ImportError:  # pragma: no cover - an interpreter without it
    _SelectorSocketTransport = None

__all__ = ["TLSLayer", "TLSTransport", "create_connection", "wrap_server_factory"]

_P = TypeVar("_P", bound=asyncio.Protocol)

logger = logging.getLogger("websockets_fast.tls")

# One TLS record holds up to 16 KiB of plaintext; a record's ciphertext adds
# at most 256 bytes to that (TLS 1.2 with CBC; TLS 1.3 adds 22).
RECORD_SIZE = 16 * 1024
# Ciphertext per MemoryBIO.write(): a record and a bit, so that the
# incoming BIO's capacity stays near one record. Plaintext goes to
# SSLObject.write() a record at a time, for the outgoing BIO's sake.
BIO_CHUNK = RECORD_SIZE + 512

# Records of a large write sent with one system call, at most: their
# ciphertext waits in a list meanwhile (under IOV_MAX, 1024 on Linux).
BATCH_RECORDS = 64

# Smallest read asked of the SSLObject.
MIN_READ = 1024

# The size of the buffer that the TCP transports read into (get_buffer),
# hence of their largest read: as connection.py's READ_SIZE.
READ_SIZE = 64 * 1024

HANDSHAKE, OPEN, CLOSING, CLOSED = range(4)

# A TLS record starts with a 5-byte header: content type (20 to 24: change
# cipher spec, alert, handshake, application data, heartbeat), protocol
# version (major 3), body length (2 bytes, big-endian).
RECORD_HEADER = 5
# TLSLayer.partial once the incoming bytes don't parse as TLS records.
LOST = -1
# Largest body of a record (RFC 5246: 2**14 bytes of plaintext and 2048 of
# expansion; TLS 1.3 allows 256).
MAX_RECORD = 2**14 + 2048

_EMPTY = bytearray()


def prepare_context(context: ssl.SSLContext) -> ssl.SSLContext:
    """Refuse renegotiation on ``context``: our layer never renegotiates,
    and a renegotiation request from the peer ends the connection."""
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"ssl must be an SSLContext, not {type(context).__name__}")
    if not context.options & ssl.OP_NO_RENEGOTIATION:
        context.options |= ssl.OP_NO_RENEGOTIATION
    return context


class TLSLayer:
    """
    What :class:`TLSTransport` does, with its arguments. This class has no
    Python base: it is compiled into a C type (see the end of this module).
    """

    __slots__ = (
        "app",
        "context",
        "server_side",
        "server_hostname",
        "handshake_timeout",
        "waiter",
        "transport",
        "sslobj",
        "sslcore",
        "incoming",
        "outgoing",
        "state",
        "timer",
        "backlog",
        "app_paused",
        "read_scheduled",
        "write_paused",
        "eof_pending",
        "exc",
        "payload_source",
        "raw_fd",
        "partial",
        "record_size",
    )

    def __init__(
        self,
        app: asyncio.Protocol,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: Optional[str] = None,
        handshake_timeout: Optional[float] = None,
        waiter: Optional[asyncio.Future[None]] = None,
    ) -> None:
        # app, transport, sslobj and the BIOs are None outside the
        # connection's life; Any rather than Optional: the methods that use
        # them run during it.
        self.app: Any = app
        self.context = context
        self.server_side = server_side
        self.server_hostname = server_hostname or None
        self.handshake_timeout = handshake_timeout
        self.waiter = waiter
        self.transport: Any = None
        self.sslobj: Any
        self.sslcore: Any
        self.incoming: Any
        self.outgoing: Any
        self.sslobj = self.sslcore = self.incoming = self.outgoing = None
        self.state = HANDSHAKE
        self.timer: Optional[asyncio.TimerHandle] = None
        # Ciphertext not yet in the incoming BIO, when reading paused
        # halfway through a read.
        self.backlog: Optional[bytearray] = None
        self.app_paused = False
        self.read_scheduled = False
        self.write_paused = False
        self.eof_pending = False
        self.exc: Optional[BaseException] = None
        # The application's _large_payload() (see _read_records), if it is
        # our WebSocket connection.
        self.payload_source: Any = getattr(app, "_large_payload", None)
        # The TCP socket's file descriptor, when records may be sent to it
        # directly (see _tcp_idle).
        self.raw_fd = -1
        # Where the incoming ciphertext stands in its TLS records (see
        # _track): the bytes of the current record seen so far (LOST once
        # the stream doesn't parse as records), and its size, header
        # included, once its header is complete.
        self.partial = 0
        self.record_size = 0

    # Protocol of the TCP transport

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.raw_fd = raw_fd_of(transport)
        try:
            self.sslobj = self.context.wrap_bio(
                self.incoming,
                self.outgoing,
                server_side=self.server_side,
                server_hostname=self.server_hostname,
            )
        except Exception as exc:
            self._fail_handshake(exc)
            transport.abort()
            return
        self.sslcore = _core_of(self.sslobj)
        if self.handshake_timeout is not None:
            self.timer = asyncio.get_running_loop().call_later(self.handshake_timeout, self._handshake_timed_out)
        self._handshake()

    def get_buffer(self, sizehint: int) -> bytearray:
        # A buffered protocol: asyncio's and uvloop's transports read into
        # this buffer, shared by the connections of the thread, instead of
        # into a new bytes object per read (uvloop copies into one).
        return _read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self._received(_read_buffer(), nbytes)

    def data_received(self, data: bytes) -> None:
        # From a transport that doesn't fill buffers (a proxy's tunnel over
        # TLS): what get_buffer() saves doesn't matter there.
        self._received(bytearray(data), len(data))

    def _received(self, data: bytearray, end: int) -> None:
        """Take ``data[:end]``, ciphertext from the peer. ``data`` may be
        the shared buffer of get_buffer(): nothing keeps it past this call."""
        if self.state == OPEN:
            if self.backlog is not None:
                # Reading is paused, and yet more came (the transport had
                # it already): after the rest. Rare, so copies are fine.
                self.backlog += memoryview(data)[:end]
            elif end <= BIO_CHUNK:
                self._feed(data, 0, end)
                self._read_records()
            else:
                self._pump(data, 0, end)
        elif self.state == HANDSHAKE:
            self._feed(data, 0, end)
            self._handshake()
        # CLOSING or CLOSED: nobody reads any more.

    def eof_received(self) -> bool:
        if self.state == HANDSHAKE:
            self._fail_handshake(ConnectionResetError("connection closed during TLS handshake"))
            return False  # the TCP transport closes itself
        if self.state != OPEN:
            return False
        if self.app_paused or self.backlog is not None:
            # Plaintext the connection hasn't read yet comes before the end.
            self.eof_pending = True
            return True
        self._app_eof()
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        state, self.state = self.state, CLOSED
        if exc is None:
            exc = self.exc
        # Free OpenSSL's state now: the connection object may outlive its
        # transport in the application's hands.
        self.sslobj = self.sslcore = self.incoming = self.outgoing = None
        self.backlog = None
        self.raw_fd = -1
        if state == HANDSHAKE:
            self._fail_handshake(exc or ConnectionResetError("connection closed during TLS handshake"))
        app, self.app = self.app, None
        if app is not None:
            # Only set while the application is connected.
            app.connection_lost(exc)
        # self.transport stays: its extra info (peername...) outlives it,
        # as with a plain connection.

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.state != HANDSHAKE and self.app is not None:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.state != HANDSHAKE and self.app is not None:
            self.app.resume_writing()

    # Handshake

    def _handshake(self) -> None:
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except Exception as exc:
            # Garbage, plaintext HTTP, a certificate the peer rejected...:
            # send the alert OpenSSL prepared, then close.
            self._flush()
            self._fail_handshake(exc)
            self.transport.close()
            return
        self._flush()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if type(self.sslobj) is ssl.SSLObject and self.sslcore is not self.sslobj:
            # Past the handshake, the C object does everything; the Python
            # wrapper (with its dict, and the C object's weak reference to
            # it) is 250 bytes per idle connection. get_extra_info() builds
            # another if a program asks for it.
            self.sslobj = None
        self.state = OPEN
        self.app.connection_made(self)
        if self.write_paused:
            self.app.pause_writing()
        waiter = self.waiter
        self.waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        # The peer may have sent data right after its last handshake message.
        if self.state == OPEN:
            self._pump_backlog()

    def _handshake_timed_out(self) -> None:
        self.timer = None
        if self.state == HANDSHAKE:
            self._fail_handshake(TimeoutError("TLS handshake timed out"))
            self.transport.abort()

    def _fail_handshake(self, exc: BaseException) -> None:
        """Give up the handshake; the caller closes the TCP transport."""
        self.state = CLOSED
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        # Not an error of ours: the client may be a port scanner, a
        # plaintext HTTP client, or gone.
        logger.debug("TLS handshake failed: %r", exc)
        waiter = self.waiter
        self.waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        # The connection never started: nothing refers to it any more.
        self.app = None

    # Reading

    def _feed(self, data: bytearray, start: int, end: int) -> None:
        """Write ``data[start:end]``, ciphertext, to the incoming BIO."""
        if end - start <= MIN_READ:
            # A copy of a small read costs less than a memoryview of it.
            self.incoming.write(data[start:end])
        else:
            self.incoming.write(memoryview(data)[start:end])
        if self.partial != LOST:
            self._track(data, start, end)

    def _track(self, data: bytearray, position: int, end: int) -> None:
        """
        Follow the record headers in ``data[position:end]``, the next
        ciphertext of the stream, so that ``partial`` counts the bytes of the
        last record that haven't all arrived: _read_records doesn't ask
        OpenSSL to decrypt while the BIO holds nothing else.

        OpenSSL itself may have taken the start of that record out of the
        BIO (the handshake does, and so does a read that met it). The BIO
        then holds less than ``partial``, and until the record is complete,
        nothing else: once it is, at least its last byte and what follows
        are in the BIO, more than the new ``partial``. Bytes that aren't
        records (a plaintext HTTP request, an SSLv2 hello) stop the count:
        reading then tries whenever the BIO holds anything, and OpenSSL
        reports what's wrong with them.
        """
        partial = self.partial
        size = self.record_size
        while position < end:
            if partial < RECORD_HEADER:
                byte = data[position]
                if partial == 0:
                    if byte < 20 or byte > 24:
                        self.partial = LOST
                        return
                elif partial == 1:
                    if byte != 3:
                        self.partial = LOST
                        return
                elif partial == 3:
                    size = byte << 8
                elif partial == 4:
                    size = RECORD_HEADER + (size | byte)
                    if size > RECORD_HEADER + MAX_RECORD:
                        # OpenSSL rejects such a record at once: don't wait
                        # for the rest of it.
                        self.partial = LOST
                        return
                partial += 1
                position += 1
            else:
                step = end - position
                if step > size - partial:
                    step = size - partial
                position += step
                partial += step
            if partial == size and partial >= RECORD_HEADER:
                # A whole record.
                partial = 0
        self.partial = partial
        self.record_size = size

    def _chunk_size(self, data: bytearray, start: int, end: int) -> int:
        """
        How much of ``data[start:end]``, the next ciphertext, to write to the
        incoming BIO at once: at most BIO_CHUNK bytes, and if possible up to
        the end of a record, so that reading the records leaves the BIO empty.
        OpenSSL moves what a write finds left in a memory BIO to the start
        of its buffer first: a partial record, each time, otherwise.
        """
        limit = start + BIO_CHUNK if end - start > BIO_CHUNK else end
        partial = self.partial
        if partial >= RECORD_HEADER:
            position = start + self.record_size - partial
        elif partial == 0:
            position = start
        else:
            # Lost, or in the middle of a header.
            return BIO_CHUNK
        size = 0
        while position <= limit:
            # A record boundary.
            size = position - start
            if position + RECORD_HEADER > end:
                break
            position += RECORD_HEADER + (data[position + 3] << 8 | data[position + 4])
        return size if size > 0 else BIO_CHUNK

    def _pump(self, data: bytearray, start: int, end: int) -> None:
        """Decrypt and deliver what the BIO holds, then ``data[start:end]``
        a chunk at a time, until it is consumed, reading pauses, or the
        connection closes. What's left when reading pauses is kept."""
        while self._read_records():
            if start == end:
                if self.eof_pending:
                    self.eof_pending = False
                    self._app_eof()
                    if self.transport is not None:
                        self.transport.close()
                return
            size = self._chunk_size(data, start, end)
            if size > end - start:
                size = end - start
            self._feed(data, start, start + size)
            start += size
        if start < end and self.state == OPEN:
            self.backlog = data[start:end]

    def _pump_backlog(self) -> None:
        """_pump() what the BIO and the backlog hold."""
        backlog = self.backlog
        if backlog is None:
            self._pump(_EMPTY, 0, 0)
        else:
            self.backlog = None
            self._pump(backlog, 0, len(backlog))

    def _read_records(self) -> bool:
        """Deliver the plaintext of the records in the incoming BIO. Return
        True when the BIO is drained and the connection reads on."""
        sslcore = self.sslcore
        incoming = self.incoming
        try:
            while not self.app_paused:
                # Plaintext is no larger than its ciphertext: reading what
                # is pending needs no larger buffer; one read returns at
                # most one record. Without read-ahead, which the ssl module
                # never enables, OpenSSL takes a record from the BIO only to
                # decrypt it: when both counts are 0, a read could only ask
                # for more input. Stopping then saves the SSLWantReadError,
                # which costs more than the read of a small record.
                # Nor when the BIO holds only part of a record (see
                # _track), which is what a read of 16 KiB chunks of a large
                # message leaves behind each time.
                size = incoming.pending
                if size == 0 or size <= self.partial:
                    # No whole record to decrypt; maybe the rest of one.
                    size = sslcore.pending()
                    if size == 0:
                        break
                # A full record, of a large frame that the application (our
                # WebSocket connection) receives straight into its payload:
                # decrypted there, rather than into a bytes object that its
                # parser then copies.
                parser = self.payload_source() if size >= RECORD_SIZE and self.payload_source is not None else None
                try:
                    if parser is not None:
                        view = parser.payload_view()
                        got = sslcore.read(len(view), view)
                    else:
                        data = sslcore.read(MIN_READ if size < MIN_READ else RECORD_SIZE if size > RECORD_SIZE else size)
                        got = len(data)
                except ssl.SSLWantReadError:
                    # Part of a record: the rest comes with the next read.
                    break
                if not got:
                    # The ssl module's way of saying close_notify.
                    raise ssl.SSLZeroReturnError
                if parser is not None:
                    self.app._payload_received(parser, got)
                else:
                    self.app.data_received(data)
                if self.state != OPEN:
                    return False
        except ssl.SSLZeroReturnError:
            # The peer's close_notify.
            self._flush()
            self._app_eof()
            self.close()
            return False
        except Exception as exc:
            # A TLS alert, a corrupt record, a renegotiation request...
            self._fatal(exc)
            return False
        if self.outgoing.pending:
            # Post-handshake messages (TLS 1.3 session tickets, key updates).
            self._flush()
        return not self.app_paused

    def _app_eof(self) -> None:
        # TLS can't half-close: what eof_received returns doesn't matter.
        app = self.app
        if app is not None:
            app.eof_received()

    def _fatal(self, exc: BaseException) -> None:
        logger.debug("TLS error: %r", exc)
        self.exc = exc
        self._flush()
        self.abort()

    def _scheduled_pump(self) -> None:
        self.read_scheduled = False
        if self.state == OPEN and not self.app_paused:
            self._pump_backlog()

    # Writing

    def _flush(self) -> None:
        """Send the records that OpenSSL wrote to the outgoing BIO."""
        outgoing = self.outgoing
        if outgoing is not None and outgoing.pending and self.transport is not None:
            self._send([outgoing.read()])

    # Transport of the application

    def write(self, data: Union[bytes, bytearray, memoryview]) -> None:
        if self.state != OPEN:
            # Like asyncio's transports: writing to a closing transport is a
            # no-op; connection_lost tells the application.
            return
        if len(data) <= RECORD_SIZE:
            self.sslcore.write(data)
            self._send([self.outgoing.read()])
            return
        # A record at a time: the outgoing BIO's capacity stays that of one
        # record. The records go out in batches, each in one system call
        # while the socket takes them, and aren't joined into one more copy
        # of the message.
        sslcore = self.sslcore
        outgoing = self.outgoing
        view = memoryview(data).cast("B")
        size = len(view)
        records = []
        for start in range(0, size, RECORD_SIZE):
            sslcore.write(view[start : start + RECORD_SIZE])
            records.append(outgoing.read())
            if len(records) == BATCH_RECORDS:
                self._send(records)
                records = []
        if records:
            self._send(records)

    def _send(self, records: List[bytes]) -> None:
        """Send records: as many as the socket takes while the TCP transport
        is idle (see _tcp_idle), the rest through the transport."""
        sent = 0
        if self._tcp_idle():
            if len(records) == 1:
                # C send(): one call less than os.writev() for one record.
                sent = send_some(self.raw_fd, records[0])
            else:
                try:
                    sent = os.writev(self.raw_fd, records)
                except OSError:
                    # The socket is full (EAGAIN), or broken: the transport
                    # takes everything, and meets the error again if any.
                    sent = 0
        transport = self.transport
        for record in records:
            if sent >= len(record):
                sent -= len(record)
                continue
            if sent:
                transport.write(memoryview(record)[sent:])
                sent = 0
            else:
                transport.write(record)

    def _tcp_idle(self) -> bool:
        """Whether ciphertext may go straight to the socket: the TCP
        transport holds nothing and isn't closing, as for the connection's
        own writes to a plain transport (see ``Connection._transport_write``)."""
        if self.raw_fd < 0:
            return False
        transport = self.transport
        if type(transport) is _SelectorSocketTransport:
            return not transport._buffer and not transport._conn_lost
        # uvloop's: its size counts the bytes of libuv's queued writes too.
        return not transport.get_write_buffer_size() and not transport.is_closing()

    def writelines(self, list_of_data: Iterable[Union[bytes, bytearray, memoryview]]) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS can't half-close a connection")

    def close(self) -> None:
        if self.state != OPEN:
            if self.state == HANDSHAKE:
                self.abort()
            return
        self.state = CLOSING
        try:
            # Writes close_notify; the peer's answer isn't awaited, as TLS
            # allows when the TCP connection closes right after.
            self.sslcore.shutdown() if self.sslobj is None else self.sslobj.unwrap()
        except ssl.SSLError:
            pass
        self._flush()
        self.transport.close()

    def abort(self) -> None:
        if self.state == HANDSHAKE:
            self._fail_handshake(ConnectionAbortedError("TLS handshake aborted"))
            self.transport.abort()
        elif self.state != CLOSED:
            self.state = CLOSED
            if self.transport is not None:
                self.transport.abort()

    def is_closing(self) -> bool:
        return self.state != OPEN

    def pause_reading(self) -> None:
        self.app_paused = True
        if self.state != CLOSED and self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.app_paused:
            return
        self.app_paused = False
        if self.state == CLOSED or self.transport is None:
            return
        if not self.eof_pending:
            self.transport.resume_reading()
        if not self.read_scheduled and self.state == OPEN:
            # Not from here: resume_reading() may be called inside recv() or
            # inside data_received(); deliver from the event loop instead.
            self.read_scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_pump)

    def is_reading(self) -> bool:
        return not self.app_paused

    def set_write_buffer_limits(self, high: Optional[int] = None, low: Optional[int] = None) -> None:
        self.transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> Tuple[int, int]:
        return self.transport.get_write_buffer_limits()  # type: ignore[no-any-return]

    def get_write_buffer_size(self) -> int:
        if self.transport is None:
            return 0
        return self.transport.get_write_buffer_size()  # type: ignore[no-any-return]

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.app = protocol
        self.payload_source = getattr(protocol, "_large_payload", None)

    def get_protocol(self) -> Any:
        return self.app

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        # The TLS keys but sslcontext give the default once the connection
        # is closed: its OpenSSL state is freed then.
        if name == "sslcontext":
            return self.context
        sslobj = self.sslobj
        if sslobj is None and self.sslcore is not None and name in ("ssl_object", "peercert", "cipher", "compression"):
            sslobj = self.sslobj = _rebuild_sslobject(self.sslcore)
        if name == "ssl_object":
            return default if sslobj is None else sslobj
        if name == "peercert":
            return default if sslobj is None else sslobj.getpeercert()
        if name == "cipher":
            return default if sslobj is None else sslobj.cipher()
        if name == "compression":
            return default if sslobj is None else sslobj.compression()
        if self.transport is None:
            return default
        return self.transport.get_extra_info(name, default)


class TLSTransport(TLSLayer, asyncio.BufferedProtocol):
    """
    TLS between a TCP transport and an :class:`asyncio.Protocol`: the
    protocol of the TCP transport and the transport of ``app``.

    It has the methods of :class:`asyncio.Transport` but not that class as
    a base, whose instance layout a C type can't share (uvloop's transports
    don't have it either).

    Args:
        app: the protocol on top (the WebSocket connection); its
            ``connection_made`` is called when the TLS handshake completes.
        context: the :class:`ssl.SSLContext`.
        server_side: whether this is the server end.
        server_hostname: name to check the server's certificate against and
            to send in SNI (client only).
        handshake_timeout: seconds the TLS handshake may take; :obj:`None`
            waits forever.
        waiter: optional future, done when the handshake completes or fails.
    """

    __slots__ = ()


# The buffer of get_buffer(), one per thread: an event loop fills it, then
# calls buffer_updated() at once.
_read_buffers = threading.local()


def _read_buffer() -> bytearray:
    try:
        return _read_buffers.buffer  # type: ignore[no-any-return]
    except AttributeError:
        buffer = _read_buffers.buffer = bytearray(READ_SIZE)
        return buffer


def _rebuild_sslobject(core: Any) -> ssl.SSLObject:
    """An :class:`ssl.SSLObject` around ``core``, what ``SSLObject._create``
    makes minus the handshake: the object that :meth:`TLSLayer._handshake`
    let go of."""
    sslobj = ssl.SSLObject.__new__(ssl.SSLObject)
    sslobj._sslobj = core  # type: ignore[attr-defined]  # set by SSLObject._create too
    # Callbacks (SNI, msg_callback) receive the owner.
    core.owner = sslobj
    return sslobj


def _core_of(sslobj: ssl.SSLObject) -> Any:
    """
    The object to call ``read``, ``write`` and ``pending`` on.

    :class:`ssl.SSLObject`'s are Python functions that call the same
    methods of its C object, ``_sslobj``; calling that one saves a Python
    call per record. Not when a subclass (``SSLContext.sslobject_class``)
    has methods of its own, nor when the ``ssl`` module has no such object.
    """
    cls = type(sslobj)
    core = getattr(sslobj, "_sslobj", None)
    if (
        core is None
        or cls.read is not ssl.SSLObject.read
        or cls.write is not ssl.SSLObject.write
        or cls.pending is not ssl.SSLObject.pending
        or not all(callable(getattr(core, name, None)) for name in ("read", "write", "pending"))
    ):
        return sslobj
    return core


def wrap_server_factory(
    protocol_factory: Callable[[], asyncio.Protocol], kwargs: Dict[str, Any], handshake_timeout: Optional[float] = None
) -> Callable[[], asyncio.BaseProtocol]:
    """
    Return the protocol factory for a server with ``kwargs``, the arguments of
    ``loop.create_server``: ``protocol_factory`` itself without ``ssl``; with
    it, a factory of :class:`TLSTransport` over ``protocol_factory()``. Pops
    the TLS arguments from ``kwargs``. ``ssl_handshake_timeout`` overrides
    ``handshake_timeout``.
    """
    context = kwargs.pop("ssl", None)
    timeout = kwargs.pop("ssl_handshake_timeout", handshake_timeout)
    kwargs.pop("ssl_shutdown_timeout", None)  # close_notify isn't awaited
    if context is None:
        return protocol_factory
    prepare_context(context)

    def factory() -> TLSTransport:
        return TLSTransport(protocol_factory(), context, server_side=True, handshake_timeout=timeout)

    return factory


async def create_connection(
    protocol_factory: Callable[[], _P],
    host: Optional[str] = None,
    port: Optional[int] = None,
    *,
    unix: bool = False,
    path: Optional[str] = None,
    transport: Any = None,
    **kwargs: Any,
) -> Tuple[Union[asyncio.Transport, TLSTransport], _P]:
    """
    ``loop.create_connection`` (``loop.create_unix_connection`` with
    ``unix``), with :class:`TLSTransport` when ``ssl`` is given. With
    ``transport``, start TLS on that connected transport instead (a proxy's
    tunnel). Return ``(transport, protocol)``; the protocol is connected
    when the TLS handshake has completed.
    """
    loop = asyncio.get_running_loop()
    context = kwargs.pop("ssl", None)
    server_hostname = kwargs.pop("server_hostname", None)
    timeout = kwargs.pop("ssl_handshake_timeout", None)
    kwargs.pop("ssl_shutdown_timeout", None)
    if context is None or context is False:
        if server_hostname is not None:
            raise ValueError("server_hostname is only meaningful with ssl")
        if unix:
            return await loop.create_unix_connection(protocol_factory, path, **kwargs)
        return await loop.create_connection(protocol_factory, host, port, **kwargs)  # type: ignore[arg-type]  # None with sock
    if context is True:
        context = ssl.create_default_context()
    prepare_context(context)
    if server_hostname is None:
        # As asyncio does: the host's name; '' disables the check.
        if host is None and (unix or transport is not None or kwargs.get("sock") is not None):
            raise ValueError("you must set server_hostname when using ssl without a host")
        server_hostname = host
    waiter = loop.create_future()
    tls = TLSTransport(
        protocol_factory(),
        context,
        server_side=False,
        server_hostname=server_hostname,
        handshake_timeout=timeout,
        waiter=waiter,
    )
    if transport is not None:
        transport.set_protocol(tls)
        tls.connection_made(transport)
    elif unix:
        transport, _ = await loop.create_unix_connection(lambda: tls, path, **kwargs)
    else:
        transport, _ = await loop.create_connection(lambda: tls, host, port, **kwargs)  # type: ignore[arg-type]  # None with sock
    app = tls.app
    try:
        await waiter
    except BaseException:
        transport.abort()
        raise
    return tls, app


# This file is also compiled by Cython into websockets_fast._speedups.tls,
# with the C types of _speedups/tls.pxd: on the compiled backend, its
# TLSLayer (a C type) and the TLSTransport built on it replace the ones above.
if __name__ == "websockets_fast.asyncio.tls" and BACKEND == "compiled":
    from websockets_fast._speedups.tls import TLSLayer, TLSTransport  # noqa: F811, E402
