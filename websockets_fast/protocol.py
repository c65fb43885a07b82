"""
Sans-I/O WebSocket connection: bytes in, events out; calls in, bytes out.

:class:`Protocol` implements the data transfer and closing parts of RFC 6455
(and hosts the extensions of RFC 7692). The opening handshake lives in its
subclasses :class:`~websockets_fast.client.ClientProtocol` and
:class:`~websockets_fast.server.ServerProtocol`. No sockets, no asyncio, no
threads here: the I/O layers feed received bytes to :meth:`Protocol.receive_data`
and write what :meth:`Protocol.data_to_send` returns.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, List, Literal, NoReturn, Optional, Sequence, Tuple, Union

# Absolute imports: this file is also compiled as websockets_fast._speedups.protocol.
from websockets_fast.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
)
from websockets_fast.frames import (
    BINARY,
    CLOSE,
    CONT,
    MAX_FRAGMENTS,
    OK_CLOSE_CODES,
    OPCODE_BY_VALUE,
    PING,
    PONG,
    TEXT,
    Close,
    CloseCode,
    Frame,
)

from websockets_fast.speedups import (
    BACKEND,
    SPLIT_FRAME_SIZE,
    FrameParser,
    FrameTooLarge,
    Utf8Validator,
    append_frame,
    build_data_frame,
    build_frame,
    parse_header,
    validate_utf8,
)

# Also importable from here, as from websockets.protocol ("X as X" says so to type checkers).
from websockets_fast.states import (
    CLIENT as CLIENT,
    CLOSED as CLOSED,
    CLOSING as CLOSING,
    CONNECTING as CONNECTING,
    OPEN as OPEN,
    SERVER as SERVER,
    Side as Side,
    State as State,
)

if TYPE_CHECKING:
    from websockets_fast.exceptions import ConnectionClosed
    from websockets_fast.extensions.base import Extension
    from websockets_fast.frames import Opcode
    from websockets_fast.http11 import Request, Response
    from websockets_fast.typing import BytesLike, LoggerLike, Origin, Subprotocol

    Event = Union[Request, Response, Frame]

__all__ = ["Protocol", "Side", "State", "SEND_EOF", "MAX_FRAGMENTS", "PARSE_SLICE"]

# The I/O layers parse a read this many bytes at a time (see next_slice()),
# and no further while the frame queue is above its high-water mark. Parsed
# frames weigh more than their bytes: a read of empty 6-byte frames becomes
# 14x its size in frame objects (81 bytes each), so a whole 256 KiB read
# could queue 3.5 MiB whatever max_queue says.
PARSE_SLICE = 16 * 1024


SEND_EOF = b""
"""Item of :meth:`Protocol.data_to_send` meaning: half-close the connection."""

# Close reasons travel in a control frame: 125 bytes minus the 2-byte code.
_MAX_REASON_BYTES = 123


class Protocol:
    """
    Sans-I/O implementation of a WebSocket connection.

    Args:
        side: :attr:`Side.CLIENT` or :attr:`Side.SERVER`.
        state: initial state; default :attr:`State.OPEN`, because the
            opening handshake belongs to the subclasses.
        max_size: limit on incoming messages, in bytes. An int limits
            messages; a ``(max_message_size, max_fragment_size)`` tuple also
            limits each frame; :obj:`None` disables the limit. Default 1 MiB.
            A frame header that announces more than the limit fails the
            connection with 1009 before its payload is read; with
            permessage-deflate, decompression stops at the limit too.
        max_fragments: limit on the number of frames in one message, enforced
            only when the message size is unlimited (``max_size`` None or
            ``(None, ...)``). When ``max_size`` is set, the bytes already bound
            memory, because the layer above joins the fragments into one
            buffer as it consumes them, so any number of tiny fragments is
            accepted. Exceeding it fails the connection with 1009. Default
            4096, or ``WEBSOCKETS_MAX_FRAGMENTS`` from the environment;
            :obj:`None` disables it.
        logger: logger for this connection; default
            ``logging.getLogger("websockets_fast.client")`` or ``...server``.

    Incoming frames are checked as they arrive: masking (mandatory from
    client to server, forbidden from server to client), reserved bits (only
    those negotiated by an extension), fragment sequencing, UTF-8 in text
    messages (failing as soon as a fragment cannot be the start of valid
    text), close codes, sizes. Breaking a rule fails the connection with the
    close code RFC 6455 prescribes (1002, 1007, 1009) and records the cause
    in :attr:`parser_exc`.
    """

    __slots__ = (
        "__weakref__",
        "_id",
        "logger",
        "debug",
        "side",
        "_state",
        "max_message_size",
        "max_fragment_size",
        "max_fragments",
        "origin",
        "_extensions",
        "subprotocol",
        "close_rcvd",
        "close_sent",
        "close_rcvd_then_sent",
        "handshake_exc",
        "parser_exc",
        "eof_sent",
        "events",
        "writes",
        "_parser",
        "_mask",
        "_mask_key",
        "_plain_send",
        "fast_parser",
        "_eof_rcvd",
        "_discarding",
        "_in_message",
        "_message_text",
        "_message_size",
        "_utf8",
        "_sending_fragments",
    )

    def __init__(
        self,
        side: Side,
        *,
        state: State = OPEN,
        max_size: Union[int, None, Tuple[Optional[int], Optional[int]]] = 2**20,
        max_fragments: Optional[int] = MAX_FRAGMENTS,
        logger: Optional[LoggerLike] = None,
    ) -> None:
        self._id: Optional[uuid.UUID] = None
        if logger is None:
            logger = logging.getLogger(f"websockets_fast.{side.name.lower()}")
        self.logger: LoggerLike = logger
        """Logger of this connection."""
        # Checked before every logging call, so that logging costs nothing
        # on the hot path unless DEBUG is on.
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.side = side
        self._state = state

        if max_size is None or isinstance(max_size, int):
            self.max_message_size: Optional[int]
            self.max_fragment_size: Optional[int]
            self.max_message_size, self.max_fragment_size = max_size, None
        else:
            self.max_message_size, self.max_fragment_size = max_size
        self.max_fragments: Optional[int] = max_fragments

        self.origin: Optional[Origin] = None
        self.subprotocol: Optional[Subprotocol] = None
        self.close_rcvd: Optional[Close] = None
        self.close_sent: Optional[Close] = None
        self.close_rcvd_then_sent: Optional[bool] = None
        self.handshake_exc: Optional[Exception] = None
        """Exception that made the opening handshake fail, else None."""
        self.parser_exc: Optional[Exception] = None
        """Exception that made the connection fail while reading, else None."""
        self.eof_sent = False

        self.events: List[Event] = []
        """Events not yet fetched by :meth:`events_received`."""
        self.writes: List[bytes] = []
        """Bytes not yet fetched by :meth:`data_to_send`; b"" means EOF."""

        self._mask = side is CLIENT
        # build_frame's mask_key: True draws a fresh key from its CSPRNG pool.
        self._mask_key: Optional[Literal[True]] = True if side is CLIENT else None
        # The parser checks the frames and the rules of messages and hands
        # over Frame objects; it validates UTF-8 too, unless an extension
        # transforms the payload first (see the extensions setter).
        self._utf8 = Utf8Validator()
        self._parser: Optional[FrameParser] = FrameParser(
            side is SERVER,
            self.max_message_size,
            self.max_fragment_size,
            0,
            frame_class=Frame,
            opcodes=OPCODE_BY_VALUE,
            utf8=self._utf8,
            # When the message size is limited, the bytes bound memory; when
            # it is not, bound the number of frames instead.
            max_fragments=max_fragments if self.max_message_size is None else None,
        )
        self._extensions: List[Extension] = []
        self.fast_parser: Optional[FrameParser] = None
        self._eof_rcvd = False
        # After a close frame or a failure, incoming data is dropped until EOF.
        self._discarding = False

        # With extensions only (the parser tracks messages otherwise): the
        # incoming fragmented message in progress, if _in_message, after
        # decoding.
        self._in_message = False
        self._message_text = False
        self._message_size = 0

        # True while sending a fragmented message.
        self._sending_fragments = False
        self._update_plain_send()

    # Properties.

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection, for logs."""
        # Made on first use: most connections never show it, and a UUID
        # costs 100 bytes per idle connection.
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    @id.setter
    def id(self, value: uuid.UUID) -> None:
        self._id = value

    @property
    def state(self) -> State:
        """State of the connection: CONNECTING, OPEN, CLOSING or CLOSED."""
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        if self.debug:
            self.logger.debug("= connection is %s", state.name)
        self._state = state
        self._update_plain_send()

    @property
    def extensions(self) -> List[Extension]:
        """Negotiated extensions, in the order they apply when sending."""
        return self._extensions

    @extensions.setter
    def extensions(self, extensions: Sequence[Extension]) -> None:
        self._extensions = list(extensions)
        # An extension may declare the RSV bits it uses (RSV1=4, RSV2=2,
        # RSV3=1). One that does not is given all three; its decode() must
        # clear them, or the frame is rejected after decoding.
        allowed = 0
        for extension in self._extensions:
            allowed |= getattr(extension, "rsv_bits", 7)
        if self._parser is not None:
            self._parser.allowed_rsv = allowed
            # Text is validated after decoding when extensions transform it.
            self._parser.utf8 = None if self._extensions else self._utf8
        self._update_plain_send()

    def _update_plain_send(self) -> None:
        # send_text/send_binary and data_frame() take a short cut while this
        # is True. debug is read here only: like websockets, it is fixed at
        # construction.
        plain = self._state is OPEN and not self._extensions and not self.debug
        self._plain_send = plain and not self._sending_fragments
        # The parser is exposed while every frame it returns without a
        # control frame among them is an event as it is (see fast_parser).
        self.fast_parser = self._parser if plain else None

    @property
    def close_code(self) -> Optional[int]:
        """Close code received from the peer; 1006 without one; None until CLOSED."""
        if self._state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return CloseCode.ABNORMAL_CLOSURE
        return self.close_rcvd.code

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason received from the peer; "" without one; None until CLOSED."""
        if self._state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return ""
        return self.close_rcvd.reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """
        The exception for using a closed connection.

        :exc:`~websockets_fast.exceptions.ConnectionClosedOK` when close
        frames with OK codes (1000, 1001, none) were both received and sent,
        :exc:`~websockets_fast.exceptions.ConnectionClosedError` otherwise.
        Chained to :attr:`parser_exc`. Only valid once the state is CLOSED.
        """
        assert self._state is CLOSED, "connection isn't closed yet"
        rcvd, sent = self.close_rcvd, self.close_sent
        if rcvd is not None and sent is not None and rcvd.code in OK_CLOSE_CODES and sent.code in OK_CLOSE_CODES:
            exc: ConnectionClosed = ConnectionClosedOK(rcvd, sent, self.close_rcvd_then_sent)
        else:
            exc = ConnectionClosedError(rcvd, sent, self.close_rcvd_then_sent)
        exc.__cause__ = self.parser_exc
        return exc

    # Receiving.

    def receive_data(self, data: BytesLike) -> None:
        """
        Feed bytes received from the network.

        Afterwards, write out :meth:`data_to_send` (pongs, close frames) and
        process :meth:`events_received`.

        Raises:
            EOFError: if :meth:`receive_eof` was called before.
        """
        parser = self.fast_parser
        if parser is not None:
            # Set only while OPEN, so none of the checks below apply.
            frames = parser.feed(data)
            if not parser.control_frames and parser.exc is None:
                # Only data frames, checked by the parser: they are the
                # events as they are. This is the hot path. The parser's
                # list is new and nobody else's: when no event is waiting,
                # it becomes the events list itself, with no copy.
                if self.events:
                    self.events += frames
                else:
                    self.events = frames
            else:
                self.receive_parsed(frames)
            return
        parser = self._parser
        # No parser once discarding (_discard), which EOF always leads to.
        if parser is None:
            if self._eof_rcvd:
                raise EOFError("stream ended")
            return
        if self._state is CONNECTING:
            self._receive_handshake(data)  # type: ignore[arg-type]  # bytes: the HTTP parsers need them
            return
        self.receive_parsed(parser.feed(data))

    def _receive_handshake(self, data: bytes) -> None:
        """
        Take bytes of the opening handshake; the subclasses parse the HTTP head.

        A hook rather than an override of :meth:`receive_data`, so that frames
        once the connection is open cost no extra call. Protocol alone has no
        handshake: its frames are parsed as they come.
        """
        self.receive_parsed(self._parser.feed(data))  # type: ignore[union-attr]  # None after _discard() only

    def next_slice(self, data: BytesLike, start: int = 0) -> int:
        """
        How many bytes of ``data[start:]`` to parse next, when an I/O layer
        parses a read a slice at a time: :data:`PARSE_SLICE`, or more when
        they all belong to one frame (the one in progress, or the one whose
        header starts there), which goes in one piece: it is one frame, and
        its storage is allocated once, at its size.
        """
        parser = self._parser
        if parser is None:
            return PARSE_SLICE
        frame = parser.missing
        if not frame and not parser.buffered:
            try:
                header = parse_header(data, start)
            except Exception:
                header = 0  # the parser will say what's wrong with it
            if type(header) is tuple:
                frame = header[6] + header[4]
        return frame if frame > PARSE_SLICE else PARSE_SLICE

    def receive_parsed(self, frames: List[Union[Frame, bytes, str]]) -> None:
        """
        Finish :meth:`receive_data` for ``frames = fast_parser.feed(data)``
        or ``fast_parser.feed_messages(data)``.

        :attr:`fast_parser` is the frame parser while the connection is OPEN
        with no extension and no debug log; otherwise it is :obj:`None`. While
        it is set, an I/O layer may feed received bytes to it directly, which
        saves the calls of :meth:`receive_data` on the hot path: when
        ``fast_parser.control_frames`` is 0 and ``fast_parser.exc`` is
        :obj:`None`, the frames it returned are data frames, checked against
        every rule, and are the events, delivered to nobody else. Otherwise,
        or to have them delivered as events, pass them to this method, then
        proceed as after :meth:`receive_data`.
        """
        parser: FrameParser = self._parser  # type: ignore[assignment]  # None after _discard() only
        if frames:
            _as_frames(frames)
            if parser.control_frames or self._extensions or self.debug:
                self._receive_frames(frames)  # type: ignore[arg-type]  # Frames now
            else:
                # Only data frames, checked by the parser: deliver them as
                # they are. This is the hot path.
                self.events += frames  # type: ignore[arg-type]  # Frames now
        if parser.exc is not None and not self._discarding:
            self._parser_failed(parser)

    def _parser_failed(self, parser: FrameParser) -> None:
        exc = parser.exc
        if isinstance(exc, UnicodeDecodeError):
            self._fail_reading(CloseCode.INVALID_DATA, exc, f"{exc.reason} at position {exc.start}")
        elif parser.fragments_exceeded:
            self._fail_reading(CloseCode.MESSAGE_TOO_BIG, TooManyFragments(parser.max_fragments), "too many fragments")  # type: ignore[arg-type]
        elif isinstance(exc, FrameTooLarge):
            self._fail_reading(CloseCode.MESSAGE_TOO_BIG, PayloadTooBig(str(exc)))
        else:
            self._fail_reading(CloseCode.PROTOCOL_ERROR, ProtocolError(str(exc)))

    def receive_eof(self) -> None:
        """
        Note that the network connection was closed by the peer (EOF).

        Afterwards, write out :meth:`data_to_send`: it holds ``b""`` when this
        side must now close its half of the connection. Idempotent.
        """
        if self._eof_rcvd:
            return
        self._eof_rcvd = True
        if self._discarding:
            self._finish_closing()
            return
        if self.debug:
            self.logger.debug("< EOF")
        # EOF before the closing handshake completed.
        self._fail_reading(CloseCode.ABNORMAL_CLOSURE, EOFError("unexpected end of stream"))

    def _receive_frames(self, frames: List[Frame]) -> None:
        """Deliver a batch of frames that holds control frames or needs decoding."""
        append = self.events.append
        extensions = self._extensions
        try:
            for frame in frames:
                opcode = frame.opcode
                if extensions:
                    frame = self._decode(frame, opcode)
                if self.debug:
                    self.logger.debug("< %s", frame)
                if opcode is PING:
                    # Answer with a pong carrying the same payload.
                    self._send_frame(PONG, frame.data)
                elif opcode is CLOSE:
                    # The closing handshake; the rest of the batch is dropped.
                    self._receive_close(frame.data)
                    append(frame)
                    return
                # A PONG needs nothing here: the I/O layer matches pings.
                append(frame)

        except ProtocolError as exc:
            self._fail_reading(CloseCode.PROTOCOL_ERROR, exc)
        except UnicodeDecodeError as exc:
            self._fail_reading(CloseCode.INVALID_DATA, exc, f"{exc.reason} at position {exc.start}")
        except PayloadTooBig as exc:
            if exc.message is None and self._in_message and exc.current_size is None:
                exc.set_current_size(self._message_size)
            self._fail_reading(CloseCode.MESSAGE_TOO_BIG, exc)
        except Exception as exc:
            # A bug, likely in an extension: say so in the logs, not on the
            # wire, where details could help an attacker.
            self.logger.error("parser failed", exc_info=True)
            self._fail_reading(CloseCode.INTERNAL_ERROR, exc, "")

    def _decode(self, frame: Frame, opcode: Opcode) -> Frame:
        """Run a frame through the extensions; validate the text they produce."""
        # Decoding may grow the payload (decompression): bound it by what is
        # left of the message budget.
        max_size = self.max_message_size
        if max_size is not None and opcode is CONT and self._in_message:
            max_size -= self._message_size
        if self.max_fragment_size is not None and (max_size is None or self.max_fragment_size < max_size):
            max_size = self.max_fragment_size
        extensions = self._extensions
        if len(extensions) == 1:
            frame = extensions[0].decode(frame, max_size=max_size)
        else:
            for extension in reversed(extensions):
                frame = extension.decode(frame, max_size=max_size)
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            raise ProtocolError("reserved bits must be 0")
        # The parser checked the order of the frames already.
        data = frame.data
        if opcode is TEXT or opcode is BINARY:
            if not frame.fin:
                self._start_message(opcode, data)
            elif opcode is TEXT and not validate_utf8(data):
                # Whole message in one frame: validate it in one go.
                _raise_decode_error(data)
        elif opcode is CONT:
            self._continue_message(frame.fin, data)
        return frame

    def _start_message(self, opcode: Opcode, data: BytesLike) -> None:
        self._in_message = True
        self._message_size = len(data)
        self._message_text = opcode is TEXT
        if self._message_text:
            self._utf8.reset()
            if not self._utf8.feed(data):
                _raise_decode_error(data)

    def _continue_message(self, fin: bool, data: BytesLike) -> None:
        if self._message_text and not self._utf8.feed(data, fin):
            raise UnicodeDecodeError("utf-8", bytes(data[:16]), 0, 1, "invalid UTF-8 in fragmented text message")
        if fin:
            self._in_message = False
            self._message_size = 0
        else:
            self._message_size += len(data)

    def _receive_close(self, data: BytesLike) -> None:
        # RFC 6455 7.1.5 and 7.1.6: the close code and reason.
        self.close_rcvd = Close.parse(data)
        if self._state is CLOSING:
            # We had sent a close frame first.
            self.close_rcvd_then_sent = False
        # RFC 6455 5.4 allows control frames, close included, between the
        # frames of a fragmented message: the message is then abandoned and
        # the closing handshake proceeds as usual (Autobahn case 7.1.5).
        # websockets fails the connection with 1002 instead.
        self._in_message = False
        if self._state is OPEN:
            # RFC 6455 5.5.1: answer a close frame with a close frame. Echo
            # the payload as received: an empty one stays empty rather than
            # being re-serialized as the 1005 that Close.parse() reported.
            self._send_frame(CLOSE, data)
            self.close_sent = self.close_rcvd
            self.close_rcvd_then_sent = True
            self.state = CLOSING
        # The server closes the TCP connection first (RFC 6455 7.1.1); the
        # client waits for it.
        if self.side is SERVER:
            self.send_eof()
        # RFC 6455 1.4: after a close frame, discard everything else.
        self._discard()

    def _fail_reading(self, code: int, exc: Exception, reason: Optional[str] = None) -> None:
        """Fail the connection because of what was received; keep the cause."""
        self.fail(code, str(exc) if reason is None else reason)
        self.parser_exc = exc

    def _discard(self) -> None:
        """
        Drop all incoming data from now on; move to CLOSED at EOF.

        The handshake subclasses call this when the opening handshake fails,
        after :meth:`send_eof`.
        """
        if self._discarding:
            return  # e.g. fail() after the closing handshake: nothing to do
        self._discarding = True
        # Free the parser's buffer: nothing more will be parsed.
        self._parser = None
        self.fast_parser = None
        if self._eof_rcvd:
            self._finish_closing()

    def _finish_closing(self) -> None:
        # EOF arrived while discarding. A client half-closes only now, after
        # the server did (RFC 6455 7.1.1), unless the handshake never
        # completed, in which case it already sent EOF.
        if self.side is CLIENT and self._state is not CONNECTING and not self.eof_sent:
            self.send_eof()
        self.state = CLOSED
        if self.side is SERVER:
            self.logger.info("connection closed")

    # Sending.

    def send_continuation(self, data: BytesLike, fin: bool) -> None:
        """
        Send a continuation frame, the next part of a fragmented message.

        Args:
            data: payload, of the same kind as the message's first frame.
            fin: :obj:`True` for the last frame of the message.

        Raises:
            ProtocolError: if no fragmented message is in progress.
            InvalidState: if the connection is not OPEN.
        """
        if not self._sending_fragments:
            raise ProtocolError("unexpected continuation frame")
        if self._state is not OPEN:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        self._sending_fragments = not fin
        self._update_plain_send()
        self._send_frame(CONT, data, fin)

    def send_text(self, data: BytesLike, fin: bool = True) -> None:
        """
        Send a text frame.

        Args:
            data: payload, text encoded in UTF-8 (bytes-like).
            fin: :obj:`False` for the first frame of a fragmented message;
                default :obj:`True`.

        Raises:
            ProtocolError: if a fragmented message is in progress.
            InvalidState: if the connection is not OPEN.
        """
        # The common case first: OPEN, a whole message, no extension, no
        # debug log (see _update_plain_send). This is the hot path.
        if self._plain_send and fin:
            append_frame(self.writes, True, TEXT, data, 0, self._mask_key)
        else:
            self._send_data(TEXT, data, fin)

    def send_binary(self, data: BytesLike, fin: bool = True) -> None:
        """
        Send a binary frame.

        Args:
            data: payload (bytes-like).
            fin: :obj:`False` for the first frame of a fragmented message;
                default :obj:`True`.

        Raises:
            ProtocolError: if a fragmented message is in progress.
            InvalidState: if the connection is not OPEN.
        """
        # The common case first: OPEN, a whole message, no extension, no
        # debug log (see _update_plain_send). This is the hot path.
        if self._plain_send and fin:
            append_frame(self.writes, True, BINARY, data, 0, self._mask_key)
        else:
            self._send_data(BINARY, data, fin)

    def data_frame(self, opcode: int, data: BytesLike) -> Optional[bytes]:
        """
        Return the bytes of a whole message in one data frame, to write now.

        The short cut of :meth:`send_text` and :meth:`send_binary` for an I/O
        layer that writes the frame itself instead of fetching it from
        :meth:`data_to_send`. It returns :obj:`None`, and sends nothing, when
        the message must go through :meth:`send_text` or :meth:`send_binary`
        instead: the connection isn't OPEN, a fragmented message is being
        sent, an extension transforms frames, or the debug log is on; or
        the frame is unmasked and its payload is large (``SPLIT_FRAME_SIZE``
        bytes or more), which :meth:`data_to_send` then returns apart from
        its header, so that the I/O layer writes it without a copy.

        Args:
            opcode: 1 (TEXT; ``data`` must be UTF-8) or 2 (BINARY).
            data: payload (bytes-like).
        """
        return self._data_frame(opcode, data)

    def _data_frame(self, opcode: int, data: BytesLike) -> Optional[bytes]:
        # data_frame(), which the compiled connection calls in C (see the .pxd).
        if self._plain_send:
            mask_key = self._mask_key
            if mask_key is None and len(data) >= SPLIT_FRAME_SIZE:
                return None
            return build_data_frame(opcode, data, mask_key)
        return None

    def _send_data(self, opcode: int, data: BytesLike, fin: bool) -> None:
        """send_text/send_binary when the short cut does not apply."""
        if self._sending_fragments:
            raise ProtocolError("expected a continuation frame")
        if self._state is not OPEN:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        self._sending_fragments = not fin
        self._update_plain_send()
        self._send_frame(opcode, data, fin)

    def send_close(self, code: Optional[int] = None, reason: str = "") -> None:
        """
        Send a close frame, starting the closing handshake.

        Args:
            code: close code; default :obj:`None`, an empty close frame.
            reason: close reason; default "". Needs a code.

        Raises:
            ProtocolError: if the code may not be sent, a reason comes
                without a code, or the reason is longer than 123 bytes.
            InvalidState: if the connection is not OPEN.
        """
        # RFC 6455 allows only one close frame per side; sending a second
        # one is a mistake of the caller.
        if self._state is not OPEN:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        if code is None:
            if reason != "":
                raise ProtocolError("cannot send a reason without a code")
            close = Close(CloseCode.NO_STATUS_RCVD, "")
            data = b""
        else:
            close = Close(code, reason)
            data = close.serialize()
            if len(data) > 125:
                raise ProtocolError("control frame too long")
        self._send_frame(CLOSE, data)
        # The state was OPEN, so no close frame was received: nothing to
        # record in close_rcvd_then_sent.
        self.close_sent = close
        self.state = CLOSING

    def send_ping(self, data: BytesLike) -> None:
        """
        Send a ping frame.

        Args:
            data: payload, at most 125 bytes.

        Raises:
            ProtocolError: if the payload is too long.
            InvalidState: if the connection is neither OPEN nor CLOSING.
        """
        # RFC 6455 allows control frames during the closing handshake.
        if self._state is not OPEN and self._state is not CLOSING:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        if len(data) > 125:
            raise ProtocolError("control frame too long")
        self._send_frame(PING, data)

    def send_pong(self, data: BytesLike) -> None:
        """
        Send a pong frame.

        Args:
            data: payload, at most 125 bytes.

        Raises:
            ProtocolError: if the payload is too long.
            InvalidState: if the connection is neither OPEN nor CLOSING.
        """
        if self._state is not OPEN and self._state is not CLOSING:
            raise InvalidState(f"connection is {self._state.name.lower()}")
        if len(data) > 125:
            raise ProtocolError("control frame too long")
        self._send_frame(PONG, data)

    def fail(self, code: int, reason: str = "") -> None:
        """
        Fail the connection (RFC 6455 7.1.7).

        Sends a close frame with ``code`` and ``reason`` if the state is OPEN
        (unless ``code`` is 1006, which means the network connection is
        already gone), then ignores all incoming data. A server also closes
        its half of the connection at once; a client waits for the server to
        do so. A reason longer than 123 bytes is cut.

        Args:
            code: close code.
            reason: close reason; default "".

        Raises:
            ProtocolError: if the code may not be sent in a close frame.
        """
        if self._state is OPEN and code != CloseCode.ABNORMAL_CLOSURE:
            close = Close(code, _truncate_reason(reason))
            self._send_frame(CLOSE, close.serialize())
            self.close_sent = close
            # A close frame may have been received, then rejected (for
            # example inside a fragmented message) before being answered.
            if self.close_rcvd is not None:
                self.close_rcvd_then_sent = True
            self.state = CLOSING
        if self.side is SERVER and not self.eof_sent:
            self.send_eof()
        # RFC 6455 7.1.7: do not process anything the peer sends after this.
        self._discard()

    # Fetching results.

    def events_received(self) -> List[Event]:
        """
        Return the events received since the last call.

        Events are :class:`~websockets_fast.frames.Frame` objects once the
        connection is open (``Request``/``Response`` during the handshake).
        """
        events, self.events = self.events, []
        return events

    def data_to_send(self) -> List[bytes]:
        """
        Return the bytes to write to the network since the last call.

        An empty bytes object (:data:`SEND_EOF`) means: close the writing
        half of the connection (``write_eof``/``shutdown(SHUT_WR)``).
        """
        writes, self.writes = self.writes, []
        return writes

    def close_expected(self) -> bool:
        """
        Tell whether the network connection should close soon.

        True once this side sent a close frame (state CLOSING), or when the
        opening handshake failed and EOF was sent: the I/O layer should then
        close the connection after a timeout if the peer does not.
        """
        state = self._state
        if state is OPEN:
            return False
        if state is CLOSING:
            return True
        if state is CLOSED:
            return False
        return self.eof_sent

    def send_eof(self) -> None:
        """Queue :data:`SEND_EOF`: this side writes no more."""
        assert not self.eof_sent, "EOF was sent already"
        self.eof_sent = True
        if self.debug:
            self.logger.debug("> EOF")
        self.writes.append(SEND_EOF)

    def compact(self) -> None:
        """
        Let the extensions drop what an idle connection doesn't need.

        For the I/O layers, once per keepalive interval: permessage-deflate
        then keeps 4 KiB of history instead of 38 KiB of zlib compressor (see
        :meth:`~websockets_fast.extensions.permessage_deflate.PerMessageDeflate.compact`).
        Extensions without a ``compact()`` method are left alone.
        """
        for extension in self._extensions:
            compact = getattr(extension, "compact", None)
            if compact is not None:
                compact()

    def _opened(self, extensions: Sequence[Extension] = ()) -> None:
        """
        Move from CONNECTING to OPEN once the opening handshake succeeded.

        The handshake subclasses call this with the negotiated extensions,
        then pass any bytes received after the HTTP head to
        ``Protocol.receive_data(self, leftover)``.
        """
        self.extensions = extensions
        self.state = OPEN

    def _send_frame(self, opcode: int, data: BytesLike, fin: bool = True) -> None:
        """Serialize one frame into :attr:`writes`, through the extensions."""
        rsv = 0
        # As websockets does, the log shows the frame the application sent,
        # before extensions (compression) encode it.
        if self.debug:
            self.logger.debug("> %s", Frame(OPCODE_BY_VALUE[opcode], data, fin))  # type: ignore[arg-type]
        if self._extensions:
            frame = Frame(OPCODE_BY_VALUE[opcode], data, fin)  # type: ignore[arg-type]
            for extension in self._extensions:
                frame = extension.encode(frame)
            data, fin = frame.data, frame.fin
            rsv = (4 if frame.rsv1 else 0) | (2 if frame.rsv2 else 0) | (1 if frame.rsv3 else 0)
        append_frame(self.writes, fin, opcode, data, rsv, self._mask_key)


def _as_frames(frames: List[Union[Frame, bytes, str]]) -> None:
    """Turn the whole messages of ``FrameParser.feed_messages()`` back into
    frames, in place: its caller hands a batch over only when it needs more
    than queueing (a control frame, an error), which is rare."""
    for i, frame in enumerate(frames):
        if type(frame) is bytes:
            frames[i] = Frame(BINARY, frame)
        elif type(frame) is str:
            frames[i] = Frame(TEXT, frame.encode())


def _raise_decode_error(data: BytesLike) -> NoReturn:
    """Raise the UnicodeDecodeError that says where ``data`` stops being UTF-8."""
    try:
        bytes(data).decode()
    except UnicodeDecodeError:
        raise
    # The fail-fast validator stops on a truncated sequence that decode()
    # would only report at the end; either way it is invalid.
    raise UnicodeDecodeError("utf-8", bytes(data[-4:]), 0, 1, "invalid UTF-8")


def _truncate_reason(reason: str) -> str:
    encoded = reason.encode()
    if len(encoded) <= _MAX_REASON_BYTES:
        return reason
    return encoded[:_MAX_REASON_BYTES].decode(errors="ignore")


# This file is also compiled by Cython into websockets_fast._speedups.protocol,
# with the C types of _speedups/protocol.pxd: on the compiled backend, its
# build of the class replaces the one above.
if __name__ == "websockets_fast.protocol" and BACKEND == "compiled":
    from websockets_fast._speedups.protocol import Protocol  # noqa: F811, E402
