"""UTF-8 validation, one-shot and incremental, pure Python.

Twin of the compiled :mod:`websockets_fast._speedups.utf8`: same arguments,
same answers, same exceptions.

CPython's own UTF-8 decoder does the work, in C: a chunk is valid when it
decodes, and ``codecs.utf_8_decode(..., final=False)`` stops before an
incomplete code point at its end, which is carried over to the next chunk.
The decoder already rejects most impossible prefixes of a code point at the
end of a chunk (E0 80, F0 80, F4 90, ...) but lets one through: ED followed
by A0..BF, which can only become a surrogate. That case is checked by hand,
so that this twin fails at the same chunk as the compiled validator.

Decoding builds a str that is thrown away, up to four times the size of the
bytes decoded. Large inputs are therefore decoded in slices of 64 KiB
(memoryview slices: no copy), which bounds that temporary str, and the
narrower draft the decoder widens into it, to about 320 KiB.
The compiled module allocates nothing.
"""

from __future__ import annotations

import codecs
from typing import Union

__all__ = ["validate_utf8", "Utf8Validator"]

_utf_8_decode = codecs.utf_8_decode

_Buffer = Union[bytes, bytearray, memoryview]

# Inputs longer than this are decoded one slice at a time.
_SLICE = 65536


def _as_bytes_like(data: _Buffer) -> _Buffer:
    """Return data as something the decoder reads byte by byte.

    bytes, bytearray and one-dimensional byte memoryviews come back as they
    are (no copy); other C-contiguous buffers (array('i'), 2-D views) are
    copied to bytes, because the decoder and slicing count in items.
    """
    if type(data) is bytes:
        return data
    view = memoryview(data)
    if not view.nbytes:
        # Contiguous whatever its strides, as PyBuffer_IsContiguous has it.
        return b""
    if not view.c_contiguous:
        raise BufferError("buffer is not C-contiguous")
    if view.ndim == 1 and view.format in ("B", "b", "c") and view.strides == (1,):
        return view
    # A one-byte view with a stride (memoryview(b"ab")[::2]) is contiguous,
    # but its slices are not: a split code point completed by its only
    # byte left an empty strided slice that the decoder refused.
    return view.tobytes()


def _sequence_length(lead: int) -> int:
    # Only called with a valid lead byte (C2..F4) held back by the decoder.
    if lead < 0xE0:
        return 2
    if lead < 0xF0:
        return 3
    return 4


def validate_utf8(data: _Buffer) -> bool:
    """Return True if ``data`` is a complete, valid UTF-8 string.

    ``data`` is any C-contiguous bytes-like object (bytes, bytearray,
    memoryview). Raises ``BufferError`` when it is not C-contiguous and
    ``TypeError`` when it is not bytes-like.
    """
    data = _as_bytes_like(data)
    if len(data) > _SLICE:
        return Utf8Validator().feed(data, final=True)
    try:
        _utf_8_decode(data, "strict", True)
    except UnicodeDecodeError:
        return False
    return True


class Utf8Validator:
    """Incremental UTF-8 validation of a string that arrives in chunks.

    Feed the chunks in order with :meth:`feed`; it answers False at the first
    chunk that contains a byte no valid UTF-8 string could have there, even
    when that chunk begins in the middle of a code point. Once False, always
    False until :meth:`reset`.
    """

    __slots__ = ("_pending", "_failed")

    def __init__(self) -> None:
        self._pending = b""  # the start of a code point split by a chunk end
        self._failed = False

    def feed(self, data: _Buffer, final: bool = False) -> bool:
        """Validate the next chunk ``data`` (any C-contiguous bytes-like).

        ``final`` (default False) says that this chunk ends the string: a
        code point left incomplete then makes it invalid. Without it, an
        incomplete code point at the end of the chunk is carried over.

        Returns True while everything fed so far can start (or, with
        ``final``, is) a valid UTF-8 string. Raises ``BufferError`` when
        ``data`` is not C-contiguous and ``TypeError`` when it is not
        bytes-like.
        """
        data = _as_bytes_like(data)
        if self._failed:
            return False
        final = bool(final)
        if len(data) <= _SLICE:
            return self._feed(data, final)
        view = memoryview(data)
        for start in range(0, len(view), _SLICE):
            end = start + _SLICE
            if not self._feed(view[start:end], final and end >= len(view)):
                return False
        return True

    def _feed(self, data: _Buffer, final: bool) -> bool:
        pending = self._pending
        if pending:
            # Finish the split code point from the first bytes of this chunk
            # rather than prepend it to the whole chunk (a copy).
            missing = _sequence_length(pending[0]) - len(pending)
            if len(data) < missing:
                self._pending = b""
                return self._check(pending + bytes(data), final)
            try:
                _utf_8_decode(pending + bytes(data[:missing]), "strict", True)
            except UnicodeDecodeError:
                self._failed = True
                return False
            self._pending = b""
            data = memoryview(data)[missing:]
        return self._check(data, final)

    def _check(self, data: _Buffer, final: bool) -> bool:
        try:
            _, consumed = _utf_8_decode(data, "strict", final)
        except UnicodeDecodeError:
            self._failed = True
            return False
        if consumed < len(data):  # only when not final: at most 3 bytes
            tail = bytes(data[consumed:])
            if len(tail) >= 2 and tail[0] == 0xED and tail[1] >= 0xA0:
                self._failed = True
                return False
            self._pending = tail
        return True

    def reset(self) -> None:
        """Forget everything fed so far: the next chunk starts a new string."""
        self._pending = b""
        self._failed = False
