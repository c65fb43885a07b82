"""WebSocket (un)masking (RFC 6455, section 5.3), pure Python.

Twin of the compiled :mod:`websockets_fast._speedups.mask`: same arguments,
same results, same exceptions.

Python has no fast byte loop, but it has arbitrary-precision integers: the
payload and the repeated key become two big integers, one XOR masks every
byte at once, and the result converts back to bytes. Each step runs in C.

Large payloads go through in slices of 64 KiB: the temporary integers then
stay small (five of them, the size of the data, would exist at once
otherwise) and in the CPU cache, which also makes it about three times
faster on 1 MiB.
"""

from __future__ import annotations

from typing import Iterator, Union

__all__ = ["apply_mask", "apply_mask_inplace"]

_Buffer = Union[bytes, bytearray, memoryview]

# A multiple of 4, so that every slice starts with the key in phase.
_SLICE = 65536


def _contiguous_view(obj: _Buffer) -> memoryview:
    # memoryview() takes any bytes-like object and raises TypeError for the
    # rest; the compiled module asks the buffer protocol for the same thing.
    view = memoryview(obj)
    # An empty buffer counts as contiguous whatever its strides, as the
    # buffer protocol's own check (PyBuffer_IsContiguous) has it.
    if not view.c_contiguous and view.nbytes:
        raise BufferError("buffer is not C-contiguous")
    return view


def _read_key(mask: _Buffer) -> bytes:
    if type(mask) is not bytes:
        # A copy: the key may be a view into the very buffer being masked.
        mask = _contiguous_view(mask).tobytes()
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    return mask


def _xor(data: _Buffer, key: bytes, length: int) -> bytes:
    if length == 0:
        return b""
    # The key is repeated to the payload's length, so that both integers
    # line up byte for byte; little-endian keeps byte 0 at the low end.
    repeated = (key * ((length >> 2) + 1))[:length]
    value = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
    return value.to_bytes(length, "little")


def _masked_slices(view: _Buffer, key: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, masked bytes) for each 64 KiB slice of a byte view."""
    whole_key = int.from_bytes(key * (_SLICE // 4), "little")
    for start in range(0, len(view), _SLICE):
        piece = view[start : start + _SLICE]
        size = len(piece)
        if size == _SLICE:
            value = int.from_bytes(piece, "little") ^ whole_key
            yield start, value.to_bytes(size, "little")
        else:
            yield start, _xor(piece, key, size)


def _byte_view(view: memoryview) -> memoryview:
    """The same memory as a one-dimensional view of bytes."""
    if view.ndim == 1 and view.format in ("B", "b", "c"):
        return view
    try:
        return view.cast("B")
    except (TypeError, ValueError):  # a format memoryview cannot cast
        return memoryview(view.tobytes())


def apply_mask(data: _Buffer, mask: _Buffer) -> bytes:
    """Return ``data`` XOR-ed with the 4-byte ``mask`` repeated, as bytes.

    ``data`` is any C-contiguous bytes-like object (bytes, bytearray,
    memoryview); ``mask`` is a bytes-like object of exactly 4 bytes.
    Masking and unmasking are the same operation.

    Raises ``ValueError`` when ``mask`` is not 4 bytes long, ``BufferError``
    when a buffer is not C-contiguous and ``TypeError`` when an argument is
    not bytes-like.
    """
    if type(data) is bytes:
        key = _read_key(mask)
        if len(data) <= _SLICE:
            return _xor(data, key, len(data))
        with memoryview(data) as view:
            return b"".join([piece for _, piece in _masked_slices(view, key)])
    view = _contiguous_view(data)
    with view:
        key = _read_key(mask)
        if view.nbytes <= _SLICE:
            return _xor(view, key, view.nbytes)
        return b"".join([piece for _, piece in _masked_slices(_byte_view(view), key)])


def apply_mask_inplace(buffer: Union[bytearray, memoryview], mask: _Buffer) -> None:
    """XOR the writable ``buffer`` in place with the 4-byte ``mask`` repeated.

    ``buffer`` is a writable C-contiguous buffer (bytearray, writable
    memoryview); ``mask`` is a bytes-like object of exactly 4 bytes, which
    may itself be a view into ``buffer``. Returns None.

    Raises ``TypeError`` when ``buffer`` is read-only or not bytes-like,
    ``BufferError`` when a buffer is not C-contiguous and ``ValueError`` when
    ``mask`` is not 4 bytes long.
    """
    view = memoryview(buffer)
    with view:
        if view.readonly:
            raise TypeError("buffer is read-only")
        if not view.c_contiguous and view.nbytes:
            raise BufferError("buffer is not C-contiguous")
        key = _read_key(mask)
        if not view.nbytes:
            return
        flat = view.cast("B")
        with flat:
            if view.nbytes <= _SLICE:
                flat[:] = _xor(flat, key, view.nbytes)
                return
            # Each slice is read (copied) before it is written back.
            for start, piece in _masked_slices(flat, key):
                flat[start : start + len(piece)] = piece
