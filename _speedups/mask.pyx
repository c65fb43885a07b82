# cython: language_level=3
"""WebSocket (un)masking (RFC 6455, section 5.3), compiled.

The pure-Python twin is :mod:`websockets_fast._pyspeedups.mask`; both accept
the same arguments and raise the same exceptions.
"""

from cpython.buffer cimport (
    PyBUF_FULL_RO,
    PyBuffer_IsContiguous,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcpy


cdef extern from "xormask.h":
    void wsf_xor_mask(const unsigned char *src, unsigned char *dst, size_t length, const unsigned char *key) nogil


__all__ = ["apply_mask", "apply_mask_inplace"]

# Masking a large buffer takes long enough (tens of microseconds) that other
# threads should run meanwhile. Handing the GIL over and back costs about
# 70 ns, measurable on 64 KiB (about 1.3 us of work): smaller buffers keep it.
cdef Py_ssize_t NOGIL_THRESHOLD = 262144


cdef int _get_contiguous(object obj, Py_buffer *view) except -1:
    # PyBUF_FULL_RO asks for what memoryview(obj) asks for, so this function
    # and the twin see the same buffer and fail in the same cases.
    PyObject_GetBuffer(obj, view, PyBUF_FULL_RO)
    if not PyBuffer_IsContiguous(view, b'C'):
        PyBuffer_Release(view)
        raise BufferError("buffer is not C-contiguous")
    return 0


cdef int _read_key(object mask, unsigned char *key) except -1:
    cdef Py_buffer view
    if PyBytes_CheckExact(mask):
        if PyBytes_GET_SIZE(mask) != 4:
            raise ValueError("mask must contain 4 bytes")
        memcpy(key, PyBytes_AS_STRING(mask), 4)
        return 0
    _get_contiguous(mask, &view)
    try:
        if view.len != 4:
            raise ValueError("mask must contain 4 bytes")
        # A copy: the key may be a view into the very buffer being masked.
        memcpy(key, view.buf, 4)
    finally:
        PyBuffer_Release(&view)
    return 0


cdef inline void _xor(const unsigned char *src, unsigned char *dst, Py_ssize_t length, const unsigned char *key):
    if length >= NOGIL_THRESHOLD:
        with nogil:
            wsf_xor_mask(src, dst, <size_t>length, key)
    else:
        wsf_xor_mask(src, dst, <size_t>length, key)


def apply_mask(data, mask):
    """Return ``data`` XOR-ed with the 4-byte ``mask`` repeated, as bytes.

    ``data`` is any C-contiguous bytes-like object (bytes, bytearray,
    memoryview); ``mask`` is a bytes-like object of exactly 4 bytes.
    Masking and unmasking are the same operation.

    Raises ``ValueError`` when ``mask`` is not 4 bytes long, ``BufferError``
    when a buffer is not C-contiguous and ``TypeError`` when an argument is
    not bytes-like.
    """
    cdef unsigned char key[4]
    cdef Py_buffer view
    cdef bytes result
    cdef Py_ssize_t length

    # bytes is what the frame layer passes nearly every time: skip the
    # buffer protocol for it.
    if PyBytes_CheckExact(data):
        _read_key(mask, key)
        length = PyBytes_GET_SIZE(data)
        result = PyBytes_FromStringAndSize(NULL, length)
        _xor(<const unsigned char *>PyBytes_AS_STRING(data),
             <unsigned char *>PyBytes_AS_STRING(result), length, key)
        return result

    _get_contiguous(data, &view)
    try:
        _read_key(mask, key)
        result = PyBytes_FromStringAndSize(NULL, view.len)
        _xor(<const unsigned char *>view.buf,
             <unsigned char *>PyBytes_AS_STRING(result), view.len, key)
    finally:
        PyBuffer_Release(&view)
    return result


def apply_mask_inplace(buffer, mask):
    """XOR the writable ``buffer`` in place with the 4-byte ``mask`` repeated.

    ``buffer`` is a writable C-contiguous buffer (bytearray, writable
    memoryview); ``mask`` is a bytes-like object of exactly 4 bytes, which
    may itself be a view into ``buffer``. Returns None.

    Raises ``TypeError`` when ``buffer`` is read-only or not bytes-like,
    ``BufferError`` when a buffer is not C-contiguous and ``ValueError`` when
    ``mask`` is not 4 bytes long.
    """
    cdef unsigned char key[4]
    cdef Py_buffer view

    PyObject_GetBuffer(buffer, &view, PyBUF_FULL_RO)
    try:
        if view.readonly:
            raise TypeError("buffer is read-only")
        if not PyBuffer_IsContiguous(&view, b'C'):
            raise BufferError("buffer is not C-contiguous")
        _read_key(mask, key)
        _xor(<const unsigned char *>view.buf, <unsigned char *>view.buf, view.len, key)
    finally:
        PyBuffer_Release(&view)
