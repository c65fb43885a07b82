"""WebSocket (un)masking (RFC 6455, section 5.3), pure Python.

Twin of the compiled :mod:`websockets_fast._speedups.mask`: same arguments,
same results, same exceptions.

Python has no fast byte loop, but it has arbitrary-precision integers: the
payload and the repeated key become two big integers, one XOR masks every
byte at once, and the result converts back to bytes. Each step runs in C.
"""

__all__ = ["apply_mask", "apply_mask_inplace"]


def _contiguous_view(obj):
    # memoryview() takes any bytes-like object and raises TypeError for the
    # rest; the compiled module asks the buffer protocol for the same thing.
    view = memoryview(obj)
    # An empty buffer counts as contiguous whatever its strides, as the
    # buffer protocol's own check (PyBuffer_IsContiguous) has it.
    if not view.c_contiguous and view.nbytes:
        raise BufferError("buffer is not C-contiguous")
    return view


def _read_key(mask):
    if type(mask) is not bytes:
        # A copy: the key may be a view into the very buffer being masked.
        mask = _contiguous_view(mask).tobytes()
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    return mask


def _xor(data, key, length):
    if length == 0:
        return b""
    # The key is repeated to the payload's length, so that both integers
    # line up byte for byte; little-endian keeps byte 0 at the low end.
    repeated = (key * ((length >> 2) + 1))[:length]
    value = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
    return value.to_bytes(length, "little")


def apply_mask(data, mask):
    """Return ``data`` XOR-ed with the 4-byte ``mask`` repeated, as bytes.

    ``data`` is any C-contiguous bytes-like object (bytes, bytearray,
    memoryview); ``mask`` is a bytes-like object of exactly 4 bytes.
    Masking and unmasking are the same operation.

    Raises ``ValueError`` when ``mask`` is not 4 bytes long, ``BufferError``
    when a buffer is not C-contiguous and ``TypeError`` when an argument is
    not bytes-like.
    """
    if type(data) is bytes:
        return _xor(data, _read_key(mask), len(data))
    view = _contiguous_view(data)
    with view:
        return _xor(view, _read_key(mask), view.nbytes)


def apply_mask_inplace(buffer, mask):
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
            flat[:] = _xor(flat, key, view.nbytes)
