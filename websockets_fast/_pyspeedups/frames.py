"""WebSocket frame headers and an incremental frame parser (RFC 6455, 5.2), pure Python.

Twin of the compiled :mod:`websockets_fast._speedups.frames`: same functions,
same arguments, same results, same exceptions (and the same messages).

A frame header is 2 to 14 bytes::

    byte 0: FIN (0x80), RSV1-3 (0x70), opcode (0x0f)
    byte 1: MASK (0x80), payload length (0x7f): 0-125, or 126 then a 16-bit
            length, or 127 then a 64-bit length
    then:   the 4-byte masking key when MASK is set
"""

from __future__ import annotations

import errno
import operator
import os
import struct
import sys
import threading
import types
from collections import deque
from typing import Any, Deque, List, Literal, Optional, Sequence, Tuple, Union

from .._speedups import FrameProtocolError, FrameTooLarge, SpeedupsError
from .mask import apply_mask
from .utf8 import Utf8Validator

__all__ = [
    "parse_header",
    "serialize_header",
    "build_frame",
    "append_frame",
    "FrameParser",
    "SPLIT_FRAME_SIZE",
    "send_some",
    "recv_some",
    "recv_into_some",
    "build_data_frame",
]

_Buffer = Union[bytes, bytearray, memoryview]
# mask_key=True: a fresh key from the pool below (build_frame, append_frame).
_MaskKey = Union[_Buffer, Literal[True], None]
# (fin, rsv, opcode, masked, length, mask_key, header_length)
_Header = Tuple[bool, int, int, bool, int, Any, int]  # mask_key: bytes when masked, else None

# The longest header: 2 bytes, a 64-bit length and a masking key.
MAX_HEADER_LENGTH = 14

# Opcodes 3-7 and 11-15 are reserved (RFC 6455, 5.2).
_VALID_OPCODES = frozenset((0, 1, 2, 8, 9, 10))

_pack_16 = struct.Struct("!H").pack
_pack_64 = struct.Struct("!Q").pack
_unpack_16 = struct.Struct("!H").unpack_from
_unpack_64 = struct.Struct("!Q").unpack_from


def _byte_view(data: _Buffer) -> Union[bytes, memoryview]:
    # What the compiled module gets from the buffer protocol: the raw bytes
    # of any C-contiguous buffer. bytes are used as they are (the hot case).
    if type(data) is bytes:
        return data
    view = memoryview(data)
    if not view.c_contiguous:
        # An empty buffer counts as contiguous whatever its strides, as the
        # buffer protocol's own check (PyBuffer_IsContiguous) has it.
        if view.nbytes:
            raise BufferError("buffer is not C-contiguous")
        return b""
    return view.cast("B")


def _parse(data: Union[bytes, memoryview], offset: int, end: int) -> Union[int, _Header]:
    """Parse the header at ``data[offset:end]``: a tuple, or the bytes missing."""
    available = end - offset
    if available < 2:
        return 2 - available
    first = data[offset]
    second = data[offset + 1]
    fin = first & 0x80 != 0
    opcode = first & 0x0F
    if opcode not in _VALID_OPCODES:
        raise FrameProtocolError(f"reserved opcode {opcode}")
    length = second & 0x7F
    # A control frame's rules are known from the first two bytes already.
    if opcode >= 8:
        if not fin:
            raise FrameProtocolError("fragmented control frame")
        if length > 125:
            raise FrameProtocolError("control frame payload longer than 125 bytes")
    masked = second & 0x80 != 0
    header_length = 2
    if length == 126:
        header_length = 4
    elif length == 127:
        header_length = 10
    if masked:
        header_length += 4
    if available < header_length:
        return header_length - available
    if length == 126:
        (length,) = _unpack_16(data, offset + 2)
    elif length == 127:
        (length,) = _unpack_64(data, offset + 2)
        if length >> 63:
            raise FrameProtocolError("64-bit payload length with the most significant bit set")
    mask_key = bytes(data[offset + header_length - 4 : offset + header_length]) if masked else None
    return fin, (first >> 4) & 7, opcode, masked, length, mask_key, header_length


def parse_header(data: _Buffer, offset: int = 0) -> Union[int, _Header]:
    """Parse the frame header that starts at ``data[offset]``.

    ``data`` is any C-contiguous bytes-like object; ``offset`` (default 0) is
    where the header starts. Returns ``(fin, rsv, opcode, masked, length,
    mask_key, header_length)``, where ``rsv`` is an int (RSV1=4, RSV2=2,
    RSV3=1) and ``mask_key`` is 4 bytes or None, or an int N > 0 when N more
    bytes are needed to know the header.

    Raises ``FrameProtocolError`` for a reserved opcode, a control frame
    without FIN or longer than 125 bytes, or a 64-bit length with its most
    significant bit set; ``ValueError`` when ``offset`` is outside ``data``.
    """
    data = _byte_view(data)
    offset = operator.index(offset)
    end = len(data)
    if offset < 0 or offset > end:
        raise ValueError("offset out of range")
    return _parse(data, offset, end)


# Masking keys for build_frame(..., mask_key=True), from the operating
# system's CSPRNG, 4 KiB at a time. deque.popleft() is atomic, so threads
# share the pool without a lock; the lock only stops two threads from
# refilling at once, which would merely waste entropy.
_KEY_POOL_SIZE = 4096
_keys: Deque[bytes] = deque()
_refill_lock = threading.Lock()


def _draw_key() -> bytes:
    while True:
        try:
            return _keys.popleft()
        except IndexError:
            pass
        with _refill_lock:
            if not _keys:
                pool = os.urandom(_KEY_POOL_SIZE)
                _keys.extend([pool[i : i + 4] for i in range(0, _KEY_POOL_SIZE, 4)])


if hasattr(os, "register_at_fork"):
    # A forked child must not reuse keys that its parent will also use.
    os.register_at_fork(after_in_child=_keys.clear)


def _header(fin: bool, opcode: int, length: int, rsv: int, mask_key: _MaskKey) -> Tuple[bytes, Optional[bytes]]:
    # Shared by serialize_header and build_frame: checks the arguments and
    # returns the header bytes and the key.
    opcode = operator.index(opcode)
    length = operator.index(length)
    rsv = operator.index(rsv)
    if not 0 <= opcode <= 15:
        raise ValueError("opcode must be between 0 and 15")
    if not 0 <= rsv <= 7:
        raise ValueError("rsv must be between 0 and 7")
    if not 0 <= length < 1 << 63:
        raise ValueError("length must be between 0 and 2**63 - 1")
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    mask_bit = 0
    if mask_key is True:
        mask_key = _draw_key()
        mask_bit = 0x80
    elif mask_key is not None:
        mask_key = bytes(_byte_view(mask_key))
        if len(mask_key) != 4:
            raise ValueError("mask must contain 4 bytes")
        mask_bit = 0x80
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 65536:
        header = bytes((first, mask_bit | 126)) + _pack_16(length)
    else:
        header = bytes((first, mask_bit | 127)) + _pack_64(length)
    if mask_key is not None:
        header += mask_key
    return header, mask_key


def serialize_header(
    fin: bool, opcode: int, length: int, rsv: int = 0, mask_key: Optional[_Buffer] = None
) -> bytes:
    """Return the header of a frame as bytes.

    ``fin`` is true for the last frame of a message; ``opcode`` is 0-15;
    ``length`` is the payload length, encoded in the shortest form;
    ``rsv`` (default 0) holds the RSV bits (RSV1=4, RSV2=2, RSV3=1);
    ``mask_key`` (default None: unmasked) is 4 bytes and sets the MASK bit.

    Any representable header is produced, reserved opcodes and invalid
    control frames included, so that tests can build bad frames. Raises
    ``ValueError`` for an opcode, rsv or length out of range or a key that
    is not 4 bytes.
    """
    return _header(fin, opcode, length, rsv, mask_key)[0]


def build_frame(fin: bool, opcode: int, payload: _Buffer, rsv: int = 0, mask_key: _MaskKey = None) -> bytes:
    """Return a whole frame, header and payload, as one bytes object.

    Arguments are those of :func:`serialize_header`, with the payload (any
    C-contiguous bytes-like object) instead of its length. With
    ``mask_key``, the payload is masked with it; ``mask_key=True`` masks it
    with a fresh key from a process-wide pool filled from ``os.urandom``.
    """
    payload = _byte_view(payload)
    header, mask_key = _header(fin, opcode, len(payload), rsv, mask_key)
    if mask_key is not None:
        return header + apply_mask(payload, mask_key)
    return header + payload


def build_data_frame(opcode: int, payload: _Buffer, mask_key: _MaskKey = None) -> bytes:
    """Return ``build_frame(True, opcode, payload, 0, mask_key)``.

    A message in one frame, with the opcode as a C int: what the protocol's
    hot path of sending calls, without build_frame's conversions.
    """
    return build_frame(True, opcode, payload, 0, mask_key)


# append_frame() appends an unmasked bytes payload of at least this many
# bytes apart from its header instead of copying it into one frame.
SPLIT_FRAME_SIZE = 65536


def append_frame(
    writes: List[Any], fin: bool, opcode: int, payload: _Buffer, rsv: int = 0, mask_key: _MaskKey = None
) -> None:
    """Append a whole frame to the list ``writes``, to be written in order.

    Arguments are those of :func:`build_frame`, which makes the frame,
    except that an unmasked ``bytes`` payload of ``SPLIT_FRAME_SIZE`` bytes
    or more is appended as it is after its header: nothing copies it, and
    the I/O layer writes the two one after the other without joining them.
    """
    if type(writes) is not list:
        raise TypeError(f"writes must be a list, not {type(writes).__name__}")
    if mask_key is None and type(payload) is bytes and len(payload) >= SPLIT_FRAME_SIZE:
        header, _ = _header(fin, opcode, len(payload), rsv, None)
        writes.append(header)
        writes.append(payload)
    else:
        writes.append(build_frame(fin, opcode, payload, rsv, mask_key))


def send_some(fd: int, data: _Buffer) -> int:
    """Send what a socket takes of ``data`` at once; return how many bytes.

    ``fd`` is the file descriptor of a connected stream socket, ``data`` a
    C-contiguous bytes-like object. The call never blocks, and an error
    (the socket's buffer full, the connection reset) sends nothing and
    returns 0: the caller hands the rest to its transport, which meets the
    error again and reports it its own way.
    """
    # On Windows a socket is no file descriptor, and a number that is one
    # would be some other file: nothing sent, as the compiled twin.
    if os.name != "posix":
        return 0
    # os.write: the compiled twin's send() without flags. An event loop's
    # sockets are non-blocking, and Python ignores SIGPIPE.
    try:
        return os.write(fd, data)
    except OSError:
        return 0


def recv_some(fd: int, size: int, large: bool = False) -> Optional[bytes]:
    """Receive what a socket holds, at most ``size`` bytes; never block.

    ``fd`` is the file descriptor of a connected, non-blocking stream socket
    (POSIX only). Returns the bytes received, ``b""`` at the end of the
    stream, or None when nothing is there yet. An error (the connection
    reset, say) raises the matching :exc:`OSError`. At most 64 KiB are read
    at once, whatever ``size``.

    ``large`` says how the compiled twin allocates (see there); os.read
    here allocates as it does either way.
    """
    if size <= 0:
        raise ValueError("size must be > 0")
    if os.name != "posix":
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    # os.read: recv() without flags, on a non-blocking socket.
    try:
        return os.read(fd, min(size, _RECV_SIZE))
    except (BlockingIOError, InterruptedError):
        return None


# The compiled twin reads into a buffer of this size.
_RECV_SIZE = 65536


def recv_into_some(fd: int, buffer: Any) -> Optional[int]:
    """Receive what a socket holds into ``buffer`` (writable, contiguous),
    at most its size; never block.

    ``fd`` is as for :func:`recv_some`. Returns the number of bytes
    received, 0 at the end of the stream, or None when nothing is there
    yet. An error raises the matching :exc:`OSError`.
    """
    view = memoryview(buffer)
    if view.readonly:
        raise BufferError("buffer must be writable")  # as the compiled twin
    if view.nbytes == 0:
        raise ValueError("buffer must not be empty")
    if os.name != "posix":
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    # os.readv: recv() without flags, on a non-blocking socket.
    try:
        return os.readv(fd, [view.cast("B")])
    except (BlockingIOError, InterruptedError):
        return None


def _size_limit(value: Optional[int], name: str) -> Optional[int]:
    if value is None:
        return None
    value = operator.index(value)
    if value < 0:
        raise ValueError(f"{name} must be None or >= 0")
    return value


# Message mode creates the frame objects itself, as instances of a class
# with __slots__ for these fields (the compiled twin writes the slots).
FRAME_FIELDS = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")


_HEAPTYPE = 1 << 9
_POINTER_SIZE = struct.calcsize("P")


def _plain_layout(cls: Any) -> bool:
    """Whether an instance of ``cls`` is object's header plus slots only.

    The compiled twin allocates frames zero-filled and calls no ``__new__``:
    valid for slots, ``__dict__`` and ``__weakref__``, which start empty,
    but not for a base with its own C layout (``dict``, ``int``, a compiled
    class), whose fields its ``__new__`` would have set up. Both twins
    accept the same classes.
    """
    # Bounded: each step goes to the base, and the chain ends at object.
    while cls is not object:
        if not cls.__flags__ & _HEAPTYPE or cls.__itemsize__:
            return False
        own = vars(cls)
        fields = sum([type(value) is types.MemberDescriptorType for value in own.values()])
        fields += ("__dict__" in own) + ("__weakref__" in own)
        if cls.__basicsize__ - cls.__base__.__basicsize__ > fields * _POINTER_SIZE:
            return False
        cls = cls.__base__
    return True


def _own_slot(cls: type, descriptor: object) -> bool:
    # A slot of cls or of a base class, whose layout it shares.
    return type(descriptor) is types.MemberDescriptorType and issubclass(cls, descriptor.__objclass__)


def _utf8_error(data: _Buffer, continuation: bool) -> UnicodeDecodeError:
    """The UnicodeDecodeError for a text frame that failed validation."""
    if continuation:
        return UnicodeDecodeError("utf-8", bytes(data[:16]), 0, 1, "invalid UTF-8 in fragmented text message")
    try:
        bytes(data).decode()
    except UnicodeDecodeError as exc:
        return exc.with_traceback(None)
    # The fail-fast validator stops on a truncated sequence that decode()
    # accepts as the start of a fragmented message; it is invalid either way.
    return UnicodeDecodeError("utf-8", bytes(data[max(0, len(data) - 4) :]), 0, 1, "invalid UTF-8")


# payload_view() offers at least this much room (or the rest of the frame).
VIEW_MIN_SIZE = 65536

class FrameParser:
    """Incremental parser turning received bytes into unmasked frames.

    ``mask_expected``: True on the server side, where every frame from the
    client must be masked; False on the client side, where none may be.
    ``max_size`` (default None: no limit): the largest data message, in
    bytes, summed over its frames; control frames do not count.
    ``max_frame_size`` (default None: no limit): the largest frame payload.
    ``allowed_rsv`` (default 0): the RSV bits that negotiated extensions
    allow (RSV1=4 for permessage-deflate).

    ``feed(data)`` returns the complete frames as ``(fin, rsv, opcode,
    payload)`` tuples. Only the bytes of a frame that is not complete yet are
    kept, and the size limits are checked from its header, before any of its
    payload is kept. An error does not raise: ``feed`` returns the frames
    before the bad one and stores the exception in ``exc``; later feeds
    return nothing.

    Message mode, for the protocol: with ``frame_class`` (default None) set
    to a class with ``__slots__`` for ``opcode``, ``data``, ``fin``,
    ``rsv1``, ``rsv2`` and ``rsv3`` (its ``__init__`` is not called), and ``opcodes``
    a sequence of 16 values (the ``Opcode`` member for each opcode), ``feed``
    returns ``frame_class`` objects instead, ``opcode`` taken from
    ``opcodes``, and also enforces the rules of messages: continuation
    frames only inside a fragmented message and data frames only outside one
    (``FrameProtocolError``); at most ``max_fragments`` frames in a message
    (default None: no limit; ``FrameTooLarge``, with ``fragments_exceeded``
    set); and, when ``utf8`` is an ``Utf8Validator`` (default None: not
    checked), valid UTF-8 in text messages (``UnicodeDecodeError``, as soon
    as a frame cannot continue valid text). ``control_frames`` counts the
    control frames that the last ``feed`` returned.
    """

    __slots__ = (
        "_frame_class",
        "_opcodes",
        "utf8",
        "_max_fragments",
        "control_frames",
        "fragments_exceeded",
        "_in_message",
        "_message_text",
        "_message_frames",
        "_utf8_clean",
        "_mask_expected",
        "_max_size",
        "_max_frame_size",
        "_allowed_rsv",
        "exc",
        "_message_size",
        "_compressed",
        "_validated",
        "_head",
        "_payload",
        "_frame",
        "_feeding",
        "_messages",
        "_view_buffer",
    )

    exc: Optional[Exception]
    utf8: Optional[Utf8Validator]
    control_frames: int
    fragments_exceeded: bool
    _frame_class: Optional[type]
    _opcodes: Any  # a tuple of 16 values in message mode, else None
    # An incomplete payload (bytearray) and its header, or None and None.
    _payload: Any
    _frame: Any

    def __init__(self, mask_expected: bool, max_size: Optional[int] = None, max_frame_size: Optional[int] = None,
                 allowed_rsv: int = 0, *, frame_class: Optional[type] = None, opcodes: Optional[Sequence[Any]] = None,
                 utf8: Optional[Utf8Validator] = None, max_fragments: Optional[int] = None) -> None:
        if getattr(self, "_feeding", False):
            raise RuntimeError("__init__() called while this parser is parsing")
        # Everything is checked and converted before anything changes, in
        # the compiled twin's order: a failed call leaves the parser as it was.
        mask_expected = bool(mask_expected)
        max_size = _size_limit(max_size, "max_size")
        max_frame_size = _size_limit(max_frame_size, "max_frame_size")
        allowed_rsv = operator.index(allowed_rsv)
        if not 0 <= allowed_rsv <= 7:
            raise ValueError("allowed_rsv must be between 0 and 7")
        max_fragments = _size_limit(max_fragments, "max_fragments")
        if frame_class is not None:
            if not isinstance(frame_class, type) or not all(
                _own_slot(frame_class, getattr(frame_class, name, None)) for name in FRAME_FIELDS
            ):
                raise TypeError(f"frame_class must have __slots__ for {', '.join(FRAME_FIELDS)}")
            if not _plain_layout(frame_class):
                raise TypeError("frame_class must derive from object alone (no built-in base with its own layout)")
            opcodes = tuple(opcodes)  # type: ignore[arg-type]  # None: TypeError, as in the compiled twin
            if len(opcodes) != 16:
                raise ValueError("opcodes must hold 16 values")
        else:
            opcodes = None
        self._feeding = False
        # While feed_messages() runs: whole data messages go as their payload.
        self._messages = False
        self._mask_expected = mask_expected
        self._max_size = max_size
        self._max_frame_size = max_frame_size
        self._allowed_rsv = allowed_rsv
        self._max_fragments = max_fragments
        self.exc = None
        self._frame_class = frame_class
        self._opcodes = opcodes
        self.utf8 = utf8
        self.control_frames = 0
        self.fragments_exceeded = False
        self._in_message = False
        self._message_text = False
        self._message_frames = 0
        # Whether utf8 has seen only ASCII since the message started, so that
        # it need not be called for ASCII frames.
        self._utf8_clean = False
        # Bytes of the data message received so far, for max_size.
        self._message_size = 0
        # Whether that message is compressed (RSV1 on its first frame).
        self._compressed = False
        # An incomplete header: fewer than 14 bytes.
        self._head = b""
        # An incomplete payload, and (fin, rsv, opcode, masked, length,
        # mask_key) of its frame.
        self._payload = None
        self._frame = None
        # Message mode: bytes of the incomplete text payload already
        # validated, so that invalid UTF-8 fails as it arrives.
        self._validated = 0
        # What payload_view() handed out, until payload_received().
        self._view_buffer: Optional[bytearray] = None

    @property
    def mask_expected(self) -> bool:
        """Whether frames must be masked (server side) or must not (client)."""
        return self._mask_expected

    @mask_expected.setter
    def mask_expected(self, value: bool) -> None:
        self._mask_expected = bool(value)

    @property
    def max_size(self) -> Optional[int]:
        """Largest data message in bytes, or None for no limit."""
        return self._max_size

    @max_size.setter
    def max_size(self, value: Optional[int]) -> None:
        self._max_size = _size_limit(value, "max_size")

    @property
    def max_frame_size(self) -> Optional[int]:
        """Largest frame payload in bytes, or None for no limit."""
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: Optional[int]) -> None:
        self._max_frame_size = _size_limit(value, "max_frame_size")

    @property
    def allowed_rsv(self) -> int:
        """RSV bits that frames may carry, as an int (RSV1=4, RSV2=2, RSV3=1)."""
        return self._allowed_rsv

    @allowed_rsv.setter
    def allowed_rsv(self, value: int) -> None:
        value = operator.index(value)
        if not 0 <= value <= 7:
            raise ValueError("allowed_rsv must be between 0 and 7")
        self._allowed_rsv = value

    @property
    def max_fragments(self) -> Optional[int]:
        """Most frames in one message in message mode, or None for no limit."""
        return self._max_fragments

    @max_fragments.setter
    def max_fragments(self, value: Optional[int]) -> None:
        self._max_fragments = _size_limit(value, "max_fragments")

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame: its header or its payload so far."""
        if self._payload is not None:
            return len(self._payload)
        return len(self._head)

    @property
    def missing(self) -> int:
        """Payload bytes that the incomplete frame still needs; 0 unless its
        header has been parsed."""
        if self._payload is not None:
            frame: _Header = self._frame
            return frame[4] - len(self._payload)
        return 0

    def _check_message(self, opcode: int) -> None:
        """Message mode: the continuation rules and the fragment limit."""
        if opcode == 0:
            if not self._in_message:
                raise FrameProtocolError("unexpected continuation frame")
            self._message_frames += 1
            if self._max_fragments is not None and self._message_frames > self._max_fragments:
                self.fragments_exceeded = True
                raise FrameTooLarge(f"fragmented message exceeds limit of {self._max_fragments} frames")
        elif self._in_message:
            raise FrameProtocolError("expected a continuation frame")

    def _start_message(self, fin: bool, opcode: int) -> None:
        """Message mode: note where a data frame leaves its message."""
        if opcode != 0:
            self._message_text = opcode == 1
            self._message_frames = 1
            self._utf8_clean = True
        self._in_message = not fin

    def _check_text(self, fin: bool, opcode: int, payload: bytes, done: int) -> None:
        """Message mode: fail as soon as a text message cannot be valid UTF-8.

        ``done``: how many bytes at the start of ``payload`` were validated
        as they arrived.
        """
        if done:
            self._check_text_bytes(payload[done:], fin, True)
        else:
            self._check_text_bytes(payload, fin, opcode == 0)

    def _check_text_bytes(self, chunk: Union[bytes, bytearray], fin: bool, continuation: bool) -> None:
        # One validator for both calls: reset() may replace self.utf8.
        validator: Any = self.utf8  # not None: the callers check
        if self._utf8_clean:
            if chunk.isascii():
                return
            validator.reset()
            self._utf8_clean = False
        chunk = bytes(chunk)
        if not validator.feed(chunk, fin):
            raise _utf8_error(chunk, continuation)

    def _check_partial_text(self, header: _Header, payload: bytearray) -> None:
        """Message mode: validate the text of an incomplete frame as it arrives.

        Fail fast (RFC 6455 8.1): invalid UTF-8 fails the connection when its
        bytes arrive, not when the frame completes.
        """
        opcode = header[2]
        if self._frame_class is None or self.utf8 is None:
            return
        if not (opcode == 1 or (opcode == 0 and self._message_text)):
            return
        done = self._validated
        chunk: Union[bytes, bytearray] = payload[done:]
        if header[3]:
            key = header[5]
            shift = done % 4
            chunk = apply_mask(chunk, key[shift:] + key[:shift])
        self._check_text_bytes(chunk, False, True)
        self._validated = len(payload)

    def _deliver(self, fin: bool, rsv: int, opcode: int, payload: bytes, frames: List[Any], validated: int = 0) -> None:
        if self._frame_class is None:
            frames.append((fin, rsv, opcode, payload))
            return
        if self._messages and fin and not rsv and (opcode == 1 or opcode == 2):
            # feed_messages(): a whole message as its payload, no frame.
            if opcode == 2:
                frames.append(payload)
                return
            if payload.isascii():
                # ASCII needs no validation, and its str holds a byte per
                # character, as the bytes did: the queue's memory bound holds.
                frames.append(payload.decode("ascii"))
                return
        if self.utf8 is not None and (opcode == 1 or (opcode == 0 and self._message_text)):
            self._check_text(fin, opcode, payload, validated)
        # As the compiled twin: fill the slots without calling __init__.
        frame: Any = object.__new__(self._frame_class)
        for name, value in zip(FRAME_FIELDS, (self._opcodes[opcode], payload, fin, rsv & 4 != 0, rsv & 2 != 0, rsv & 1 != 0)):
            setattr(frame, name, value)
        frames.append(frame)
        if opcode >= 8:
            self.control_frames += 1
            if opcode == 8:
                # RFC 6455 5.4: a close frame may come inside a fragmented
                # message, which is then abandoned.
                self._in_message = False

    def _check(self, header: _Header) -> None:
        """Apply the rules that need this parser's settings; raise on a violation."""
        fin, rsv, opcode, masked, length, _, _ = header
        if masked != self._mask_expected:
            raise FrameProtocolError("expected a masked frame" if self._mask_expected else "expected an unmasked frame")
        if rsv & ~self._allowed_rsv:
            raise FrameProtocolError(f"reserved bits {rsv:#x} not allowed")
        if self._frame_class is not None and opcode < 8:
            self._check_message(opcode)
        if self._max_frame_size is not None and length > self._max_frame_size:
            raise FrameTooLarge(f"frame of {length} bytes exceeds the limit of {self._max_frame_size} bytes")
        if opcode < 8:
            if opcode != 0:
                self._compressed = rsv & 4 != 0
            # A compressed message can take more bytes on the wire than
            # inflated (random data does): only each of its frames is bounded
            # here; its inflated size is the protocol's to check, frame by frame.
            total = self._message_size + length if opcode == 0 and not self._compressed else length
            if self._max_size is not None and total > self._max_size:
                raise FrameTooLarge(f"message of at least {total} bytes exceeds the limit of {self._max_size} bytes")
            self._message_size = 0 if fin else total
        if length > sys.maxsize:
            raise FrameTooLarge(f"frame of {length} bytes is too large for this platform")
        if self._frame_class is not None and opcode < 8:
            self._start_message(fin, opcode)

    def _emit(self, header: _Header, payload: _Buffer, frames: List[Any], validated: int = 0) -> None:
        fin, rsv, opcode, masked, _, mask_key, _ = header
        if masked:
            payload = apply_mask(payload, mask_key)
        elif type(payload) is not bytes:
            payload = bytes(payload)
        self._deliver(fin, rsv, opcode, payload, frames, validated)

    def _fill_payload(self, data: Union[bytes, memoryview], start: int, end: int, frames: List[Any]) -> int:
        """Add ``data[start:end]`` to the incomplete payload; return the new start."""
        payload: bytearray = self._payload
        header: _Header = self._frame
        take = min(header[4] - len(payload), end - start)
        payload += data[start : start + take]
        if len(payload) == header[4]:
            self._payload = None
            self._frame = None
            # Reset whether or not the frame is validated now (utf8 may have
            # been set to None meanwhile): the next frame starts at 0.
            validated = self._validated
            self._validated = 0
            self._emit(header, payload, frames, validated)
        else:
            self._check_partial_text(header, payload)
        return start + take

    def _start_frame(
        self, header: _Header, data: Union[bytes, memoryview], start: int, end: int, frames: List[Any]
    ) -> int:
        """Handle a frame whose payload starts at ``data[start]``; return the new start."""
        self._check(header)
        length = header[4]
        if length <= end - start:
            self._emit(header, data[start : start + length], frames)
            return start + length
        self._payload = bytearray(data[start:end])
        self._frame = header
        self._validated = 0
        self._check_partial_text(header, self._payload)
        return end

    def feed(self, data: _Buffer) -> List[Any]:
        """Parse ``data`` (any C-contiguous bytes-like object): a list of frames.

        Each frame is ``(fin: bool, rsv: int, opcode: int, payload: bytes)``,
        or a ``frame_class`` object in message mode.
        """
        return self._feed_data(data, False)

    def feed_messages(self, data: _Buffer) -> List[Any]:
        """As :meth:`feed`, except that, in message mode, a data frame that is
        a whole message (FIN, TEXT or BINARY, no RSV bit) comes as its
        payload instead of a frame: ``bytes`` for BINARY, ``str`` for TEXT
        that is all ASCII. Other TEXT stays a frame (validated as by feed()).
        """
        return self._feed_data(data, True)

    def payload_view(self) -> Optional[memoryview]:
        """Where the next bytes of an incomplete payload go, for a reader
        that receives into a buffer (asyncio's BufferedProtocol): a writable
        memoryview, or None when no payload is incomplete. Receive into it,
        then call :meth:`payload_received`.

        The compiled twin hands out the payload's own storage; this one, a
        buffer of the same size that payload_received() feeds on: the same
        frames, with one copy more.
        """
        if self._payload is None or self.exc is not None or self._feeding:
            return None
        filled = len(self._payload)
        # As much as arrived so far, at least 64 KiB, at most the rest.
        size = min(max(filled, VIEW_MIN_SIZE), self._frame[4] - filled)
        self._view_buffer = bytearray(size)
        return memoryview(self._view_buffer)

    def payload_received(self, size: int) -> List[Any]:
        """The first ``size`` bytes of :meth:`payload_view`'s view are
        received: parse them as :meth:`feed_messages` would."""
        if self._feeding:
            raise RuntimeError("payload_received() called while this parser is parsing")
        buffer, self._view_buffer = self._view_buffer, None
        if buffer is None or self._payload is None or self.exc is not None or not 0 <= size <= len(buffer):
            raise ValueError("no payload_view() of this size to receive into")
        return self._feed_data(memoryview(buffer)[:size], True)

    def _feed_data(self, data: _Buffer, messages: bool) -> List[Any]:
        frames: List[Any] = []
        if self._feeding:
            raise RuntimeError("feed() called while this parser is parsing")
        self.control_frames = 0
        if self.exc is not None:
            return frames
        # A view unless data is bytes: its slices copy nothing until kept.
        data = _byte_view(data)
        self._feeding = True
        self._messages = messages
        try:
            self._feed(data, frames)
        finally:
            self._feeding = False
        return frames

    def _feed(self, data: Union[bytes, memoryview], frames: List[Any]) -> None:
        end = len(data)
        start = 0
        try:
            if self._payload is not None:
                start = self._fill_payload(data, start, end, frames)
                if self._payload is not None:
                    return
            if self._head:
                old = len(self._head)
                head = self._head + bytes(data[: MAX_HEADER_LENGTH - old])
                header = _parse(head, 0, len(head))
                if isinstance(header, int):
                    # 14 bytes hold any header: all of data went into head.
                    self._head = head
                    return
                self._head = b""
                start = self._start_frame(header, data, header[6] - old, end, frames)
            while start < end and self._payload is None:
                header = _parse(data, start, end)
                if isinstance(header, int):
                    self._head = bytes(data[start:end])
                    break
                start = self._start_frame(header, data, start + header[6], end, frames)
        except (SpeedupsError, UnicodeDecodeError) as exc:
            # No traceback: it would keep this parser alive through a cycle.
            self.exc = exc.with_traceback(None)
            self._head = b""
            self._payload = None
            self._frame = None
            self._validated = 0
