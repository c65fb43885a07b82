"""
WebSocket frames (RFC 6455 section 5) and close frame payloads (section 7).

The names mirror ``websockets.frames``: :class:`Opcode`, :class:`CloseCode`,
:class:`Frame`, :class:`Close`. Parsing whole frames from bytes is the job of
``speedups.FrameParser``, driven by :class:`~websockets_fast.protocol.Protocol`;
this module holds the values those frames carry and the rules about them.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import threading
from collections import deque
from typing import TYPE_CHECKING, Callable, Deque, Dict, Generator, Optional, Sequence, Tuple, Union

from .exceptions import PayloadTooBig, ProtocolError
from .speedups import FrameProtocolError, apply_mask, build_frame, parse_header
from .typing import BytesLike

if TYPE_CHECKING:
    from .extensions.base import Extension

__all__ = [
    "Opcode",
    "CloseCode",
    "Frame",
    "Close",
    "OP_CONT",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "DATA_OPCODES",
    "CTRL_OPCODES",
    "CLOSE_CODE_EXPLANATIONS",
    "OK_CLOSE_CODES",
    "new_mask_key",
]


class Opcode(enum.IntEnum):
    """Opcode of a WebSocket frame."""

    CONT = 0x00
    TEXT = 0x01
    BINARY = 0x02
    CLOSE = 0x08
    PING = 0x09
    PONG = 0x0A


OP_CONT = CONT = Opcode.CONT
OP_TEXT = TEXT = Opcode.TEXT
OP_BINARY = BINARY = Opcode.BINARY
OP_CLOSE = CLOSE = Opcode.CLOSE
OP_PING = PING = Opcode.PING
OP_PONG = PONG = Opcode.PONG

DATA_OPCODES = (CONT, TEXT, BINARY)
CTRL_OPCODES = (CLOSE, PING, PONG)

# Opcode members indexed by their integer value, so that turning a parsed int
# into the enum member costs one tuple lookup instead of an Enum call.
OPCODE_BY_VALUE: Tuple[Optional[Opcode], ...] = tuple(
    Opcode(value) if value in Opcode._value2member_map_ else None for value in range(16)
)


class CloseCode(enum.IntEnum):
    """Close codes registered by RFC 6455 and at IANA."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved.
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


CLOSE_CODE_EXPLANATIONS: Dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received [internal]",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure [internal]",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure [internal]",
}

# Codes that may appear in a close frame on the wire, besides 3000-4999.
# 1004 is reserved; 1005, 1006 and 1015 only ever describe a closure locally.
WIRE_CLOSE_CODES = frozenset(
    code for code in CloseCode if code not in (1005, 1006, 1015)
)

EXTERNAL_CLOSE_CODES = WIRE_CLOSE_CODES  # websockets' name for the same set

# Closures that count as normal: ConnectionClosedOK rather than ...Error.
OK_CLOSE_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)


# Read from the environment once, here: the parser's cap (protocol) and the
# frame queue's (assembler) must agree.
MAX_FRAGMENTS = int(os.environ.get("WEBSOCKETS_MAX_FRAGMENTS", "4096"))
"""Default cap on the frames of one message when ``max_size`` is None."""


# Masking keys. RFC 6455 10.3 wants them unpredictable, so they come from the
# operating system's CSPRNG. One os.urandom() call per frame would cost a
# system call per frame; instead one process-wide pool is refilled 4 KiB at a
# time. deque.popleft() and deque.extend() are atomic, so threads can share
# the pool without a lock; the lock only stops two threads from refilling at
# once, which would merely waste entropy, not reuse a key.
_MASK_KEYS_PER_REFILL = 1024
_mask_keys: Deque[bytes] = deque()
_refill_lock = threading.Lock()


def new_mask_key() -> bytes:
    """Return 4 fresh random bytes for masking one frame. Thread-safe."""
    while True:
        try:
            return _mask_keys.popleft()
        except IndexError:
            pass
        with _refill_lock:
            if not _mask_keys:
                pool = os.urandom(4 * _MASK_KEYS_PER_REFILL)
                _mask_keys.extend([pool[i : i + 4] for i in range(0, len(pool), 4)])


def _reseed_after_fork() -> None:
    # A forked child must not reuse keys that its parent will also use.
    _mask_keys.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


# Longest payload representation that Frame.__str__ shows, in characters.
MAX_LOG_SIZE = int(os.environ.get("WEBSOCKETS_MAX_LOG_SIZE", "75"))


# Frame and Close are dataclasses, as in websockets, so that extensions and
# hooks can use dataclasses.replace(), fields() and asdict() on them. Their
# __slots__ are written out rather than left to dataclass(slots=True), which
# Python 3.9 lacks: the frame parser fills those slots directly. A field with
# a default would be a class attribute, which slots forbid, so Frame keeps
# its own __init__ for the defaults.
@dataclasses.dataclass(init=False)
class Frame:
    """
    One WebSocket frame.

    Args:
        opcode: the :class:`Opcode`.
        data: the payload (bytes-like), unmasked.
        fin: FIN bit; default :obj:`True`.
        rsv1: RSV1 bit; default :obj:`False`.
        rsv2: RSV2 bit; default :obj:`False`.
        rsv3: RSV3 bit; default :obj:`False`.

    The mask bit, the masking key and the payload length exist only on the
    wire; they are worked out when the frame is parsed or serialized.

    The frame parser creates Frame objects without calling ``__init__``: it
    fills the slots below, which must stay the only fields.
    """

    __slots__ = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")

    opcode: Opcode
    data: bytes | bytearray | memoryview
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool

    def __init__(
        self,
        opcode: Opcode,
        data: BytesLike,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
    ) -> None:
        self.opcode = opcode
        self.data = data
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3

    def check(self) -> None:
        """
        Check the reserved bits and the control frame rules.

        Raises:
            ProtocolError: if a reserved bit is set, or a control frame is
                fragmented or longer than 125 bytes.
        """
        if self.rsv1 or self.rsv2 or self.rsv3:
            raise ProtocolError("reserved bits must be 0")
        if self.opcode in CTRL_OPCODES:
            if len(self.data) > 125:
                raise ProtocolError("control frame too long")
            if not self.fin:
                raise ProtocolError("fragmented control frame")

    @classmethod
    def parse(
        cls,
        read_exact: Callable[[int], Generator[None, None, BytesLike]],
        *,
        mask: bool,
        max_size: Optional[int] = None,
        extensions: Optional[Sequence[Extension]] = None,
    ) -> Generator[None, None, Frame]:
        """
        Read one frame with ``read_exact``; a generator-based coroutine.

        The protocol parses frames incrementally from whatever bytes arrive;
        this is the same rule set for code driving websockets' generator
        readers (such as ``StreamReader.read_exact``).

        Args:
            read_exact: generator-based coroutine returning exactly the
                number of bytes asked for, or raising :exc:`EOFError`.
            mask: whether the frame must be masked (on the server side).
            max_size: largest payload in bytes; default no limit.
            extensions: extensions whose ``decode`` to apply, in reverse
                order; default none.

        Raises:
            EOFError: if the stream ends inside the frame.
            PayloadTooBig: if the payload is larger than ``max_size``; raised
                from the header, before the payload is read.
            ProtocolError: if the frame breaks a rule.
        """
        head = bytes((yield from read_exact(2)))
        if bool(head[1] & 0x80) != mask:
            raise ProtocolError("incorrect masking")
        try:
            # The header's length says how many more bytes it takes.
            header = parse_header(head)
            if isinstance(header, int):
                head += yield from read_exact(header)
                header = parse_header(head)
        except FrameProtocolError as exc:
            raise ProtocolError(str(exc)) from None
        assert not isinstance(header, int)  # all of the header was read
        fin, rsv, opcode, _, length, mask_key, _ = header
        if max_size is not None and length > max_size:
            raise PayloadTooBig(length, max_size)
        data = yield from read_exact(length)
        if mask_key is not None:
            data = apply_mask(data, mask_key)
        frame = cls(Opcode(opcode), data, fin, bool(rsv & 4), bool(rsv & 2), bool(rsv & 1))
        for extension in reversed(extensions or ()):
            frame = extension.decode(frame, max_size=max_size)
        frame.check()
        return frame

    def serialize(self, *, mask: bool, extensions: Optional[Sequence[Extension]] = None) -> bytes:
        """
        Return the frame as bytes for the wire.

        Args:
            mask: whether to mask the payload (a client must, a server must not).
            extensions: extensions whose ``encode`` to apply, in order;
                default none.

        Raises:
            ProtocolError: if the frame breaks a rule (see :meth:`check`).
        """
        self.check()
        frame = self
        for extension in extensions or ():
            frame = extension.encode(frame)
        rsv = (4 if frame.rsv1 else 0) | (2 if frame.rsv2 else 0) | (1 if frame.rsv3 else 0)
        return build_frame(frame.fin, frame.opcode, frame.data, rsv, True if mask else None)

    def __str__(self) -> str:
        """A one-line summary for logs: opcode, start and end of the payload, size."""
        opcode = OPCODE_BY_VALUE[self.opcode & 15] if isinstance(self.opcode, int) else None
        name = opcode.name if opcode is not None else str(self.opcode)
        shown, looks_like_text = self._payload_summary()
        expected: Dict[Optional[Opcode], bool] = {TEXT: True, BINARY: False, CLOSE: True}
        expected_text = expected.get(opcode)
        details = []
        if expected_text is not looks_like_text and looks_like_text is not None:
            details.append("text" if looks_like_text else "binary")
        size = len(self.data)
        details.append(f"{size} byte{'' if size == 1 else 's'}")
        if not self.fin:
            details.append("continued")
        return f"{name} {shown} [{', '.join(details)}]"

    def _payload_summary(self) -> Tuple[str, Optional[bool]]:
        """Return (shown, looks_like_text) for :meth:`__str__`; never raises."""
        data = bytes(self.data)
        if not data:
            return "''", None
        if self.opcode == CLOSE:
            try:
                return str(Close.parse(data)), True
            except (ProtocolError, UnicodeDecodeError):
                return _elide(data.hex(" ")), False
        text = None
        if self.opcode in CTRL_OPCODES:
            # Printable ASCII only: a random 4-byte ping payload is often
            # valid UTF-8 by accident, which would mislead the reader.
            if all(32 <= byte < 127 or 9 <= byte <= 13 for byte in data):
                text = data.decode("ascii")
        else:
            # Only the ends are shown, so only the ends are decoded. A frame
            # of a fragmented message may start or end inside a character.
            keep = 2 * MAX_LOG_SIZE
            head, tail = (data, b"") if len(data) <= 2 * keep else (data[:keep], data[-keep:])
            text = _decode_fragment(head, self.opcode != CONT, self.fin or not tail)
            if text is not None and tail:
                tail_text = _decode_fragment(tail, False, self.fin)
                text = None if tail_text is None else text + tail_text
            if text is not None and any(not char.isprintable() and char not in "\t\n\r" for char in text):
                text = None
        if text is not None:
            return _elide(repr(text)), True
        if len(data) > 24:
            data = data[:16] + data[-8:]
            return _elide(data[:16].hex(" ") + " ... " + data[16:].hex(" ")), False
        return _elide(data.hex(" ")), False


def _decode_fragment(data: bytes, clean_start: bool, clean_end: bool) -> Optional[str]:
    """Decode UTF-8 that may be cut inside a character at either end, or None."""
    start, end = 0, len(data)
    if not clean_start:
        while start < min(3, end) and data[start] & 0xC0 == 0x80:
            start += 1
    if not clean_end:
        # Drop an incomplete multi-byte character at the end.
        for back in range(1, min(4, end - start) + 1):
            byte = data[end - back]
            if byte & 0xC0 != 0x80:
                needed = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
                if needed > back:
                    end -= back
                break
    try:
        return data[start:end].decode()
    except UnicodeDecodeError:
        return None


def _elide(text: str) -> str:
    if len(text) <= MAX_LOG_SIZE:
        return text
    third = MAX_LOG_SIZE // 3 - 1
    return text[: 2 * third] + "..." + text[-third:]


@dataclasses.dataclass
class Close:
    """
    Code and reason carried by a close frame.

    Args:
        code: the close code (a :class:`CloseCode` or an int).
        reason: the close reason, a str.
    """

    __slots__ = ("code", "reason")

    code: int
    reason: str

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        if self.reason:
            return f"{self.code} ({explanation}) {self.reason}"
        return f"{self.code} ({explanation})"

    @classmethod
    def parse(cls, data: BytesLike) -> Close:
        """
        Read the payload of a close frame.

        An empty payload means that no code was given: it reads as 1005.

        Raises:
            ProtocolError: if the payload is 1 byte long or the code is not
                allowed on the wire.
            UnicodeDecodeError: if the reason is not valid UTF-8.
        """
        if len(data) >= 2:
            close = cls(int.from_bytes(data[:2], "big"), bytes(data[2:]).decode())
            close.check()
            return close
        if len(data) == 0:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        raise ProtocolError("close frame too short")

    def serialize(self) -> bytes:
        """Return the payload of a close frame; raise ProtocolError for a bad code."""
        self.check()
        return self.code.to_bytes(2, "big") + self.reason.encode()

    def check(self) -> None:
        """
        Check that the code may be sent in a close frame.

        Raises:
            ProtocolError: for 0-999, 1004-1006, 1015, 1016-2999 and 5000 up.
        """
        if not (self.code in WIRE_CLOSE_CODES or 3000 <= self.code < 5000):
            raise ProtocolError("invalid status code")
