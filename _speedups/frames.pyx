# cython: language_level=3, binding=False
"""WebSocket frame headers and an incremental frame parser (RFC 6455, 5.2), compiled.

The pure-Python twin is :mod:`websockets_fast._pyspeedups.frames`; both give
the same results and raise the same exceptions with the same messages.

``FrameParser.feed`` is the receive hot path of every connection: it walks
the bytes it is given in C, unmasks each payload while copying it into the
bytes object handed to the caller, and keeps only the bytes of a frame that
is not complete yet, in storage that grows with what has arrived of it (at
most twice that, or 4 KiB, and never more than the frame needs).
"""

# Why a .pyx and a twin, not one pure-Python-mode source (issue 13): the
# header is read through a C pointer into the caller's buffer (no slicing,
# no int.from_bytes), the payload unmasked by xormask.h while it is copied,
# and the parser's state kept in C fields written directly; the twin does
# the same with struct, memoryviews and mask.py's apply_mask, the Python
# idioms that are fast when not compiled. The two share the rules, not the
# code: the differential tests and tests/fuzz keep them in step.

from cpython.buffer cimport PyBUF_FULL_RO, PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_IsContiguous, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongAndOverflow, PyLong_Check, PyLong_CheckExact
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

import os as _os
from types import MemberDescriptorType as _MemberDescriptorType
from operator import index as _operator_index

from websockets_fast._speedups import FrameProtocolError, FrameTooLarge, SpeedupsError


cdef extern from "xormask.h":
    void wsf_xor_mask(const unsigned char *src, unsigned char *dst, size_t length, const unsigned char *key) nogil


cdef extern from "Python.h":
    # The raw forms: the incomplete payload is a bytes object owned through
    # a PyObject* so that it can be grown in place with _PyBytes_Resize.
    PyObject *_new_bytes "PyBytes_FromStringAndSize"(const char *, Py_ssize_t) except NULL
    int _PyBytes_Resize(PyObject **, Py_ssize_t) except -1
    char *_bytes_data "PyBytes_AS_STRING"(PyObject *)
    const Py_ssize_t PY_SSIZE_T_MAX
    # payload_view(): a writable view of a payload's storage.
    object PyMemoryView_FromMemory(char *, Py_ssize_t, int)
    const int PyBUF_WRITE
    # An ASCII str of a given length, filled in before anyone sees it.
    object PyUnicode_New(Py_ssize_t, Py_UCS4)
    void *PyUnicode_DATA(object)


__all__ = [
    "parse_header", "serialize_header", "build_frame", "append_frame", "FrameParser", "SPLIT_FRAME_SIZE", "send_some",
    "recv_some", "recv_into_some", "build_data_frame",
]

# append_frame() appends an unmasked bytes payload of at least this many
# bytes apart from its header instead of copying it into one frame.
cdef Py_ssize_t _SPLIT_FRAME_SIZE = 65536
SPLIT_FRAME_SIZE = _SPLIT_FRAME_SIZE

# MAX_HEADER_LENGTH: in frames.pxd.
cdef enum:
    # Storage for an incomplete payload starts at this size (or the frame's
    # size if smaller) and doubles, so that a large frame arriving in many
    # reads is copied O(1) times per byte.
    MIN_PAYLOAD_CAPACITY = 4096
    # Once 1/EAGER_PAYLOAD_FRACTION of a frame's payload has arrived, its
    # storage takes the frame's whole size (see _fill_payload).
    EAGER_PAYLOAD_FRACTION = 8
    # payload_view() offers at least this much room (or the rest of the frame).
    VIEW_MIN_SIZE = 65536

cdef uint64_t NO_LIMIT = <uint64_t>-1

# Masking a large payload takes long enough that other threads should run
# meanwhile; a small one takes less time than handing the GIL over.
cdef Py_ssize_t NOGIL_THRESHOLD = 65536


cdef inline void _xor(const unsigned char *src, unsigned char *dst, Py_ssize_t length, const unsigned char *key):
    # Only for a src held by a buffer export and a dst that is a new bytes
    # object nobody else has seen: nothing another thread does can move them.
    if length >= NOGIL_THRESHOLD:
        with nogil:
            wsf_xor_mask(src, dst, <size_t>length, key)
    else:
        wsf_xor_mask(src, dst, <size_t>length, key)


# struct Header: in frames.pxd.


cdef inline bint _valid_opcode(int opcode) noexcept:
    return opcode <= 2 or 8 <= opcode <= 10


cdef Py_ssize_t _parse(const unsigned char *p, Py_ssize_t available, Header *h) except -1:
    """Fill ``h`` from the header at ``p``: 0, or the number of bytes missing."""
    cdef unsigned char first, second
    cdef uint64_t length
    cdef Py_ssize_t size, i
    if available < 2:
        return 2 - available
    first = p[0]
    second = p[1]
    h.fin = (first & 0x80) != 0
    h.rsv = (first >> 4) & 7
    h.opcode = first & 0x0F
    if not _valid_opcode(h.opcode):
        raise FrameProtocolError(f"reserved opcode {h.opcode}")
    length = second & 0x7F
    # A control frame's rules are known from the first two bytes already.
    if h.opcode >= 8:
        if not h.fin:
            raise FrameProtocolError("fragmented control frame")
        if length > 125:
            raise FrameProtocolError("control frame payload longer than 125 bytes")
    h.masked = (second & 0x80) != 0
    size = 2
    if length == 126:
        size = 4
    elif length == 127:
        size = 10
    if h.masked:
        size += 4
    if available < size:
        return size - available
    if length == 126:
        length = (<uint64_t>p[2] << 8) | p[3]
    elif length == 127:
        length = 0
        for i in range(2, 10):
            length = (length << 8) | p[i]
        if length >> 63:
            raise FrameProtocolError("64-bit payload length with the most significant bit set")
    if h.masked:
        memcpy(h.key, p + size - 4, 4)
    h.length = length
    h.size = size
    return 0


cdef int _get_buffer(object obj, Py_buffer *view) except -1:
    # The same request and the same failure as the twin's memoryview().
    PyObject_GetBuffer(obj, view, PyBUF_FULL_RO)
    if not PyBuffer_IsContiguous(view, b'C'):
        PyBuffer_Release(view)
        raise BufferError("buffer is not C-contiguous")
    return 0


def parse_header(data, offset=0):
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
    cdef Py_buffer view
    cdef Header h
    cdef Py_ssize_t missing
    cdef Py_ssize_t start
    _get_buffer(data, &view)
    try:
        offset = _index(offset)
        if offset < 0 or offset > view.len:
            raise ValueError("offset out of range")
        start = offset
        missing = _parse(<const unsigned char *>view.buf + start, view.len - start, &h)
    finally:
        PyBuffer_Release(&view)
    if missing:
        return missing
    mask_key = PyBytes_FromStringAndSize(<char *>h.key, 4) if h.masked else None
    return h.fin, h.rsv, h.opcode, h.masked, h.length, mask_key, h.size


cdef Py_ssize_t _write_header(unsigned char *out, bint fin, int opcode, uint64_t length, int rsv,
                              const unsigned char *key) noexcept:
    """Write a header into ``out`` (14 bytes of room); return its length."""
    cdef Py_ssize_t size, i
    cdef unsigned char mask_bit = 0x80 if key != NULL else 0
    out[0] = (0x80 if fin else 0) | (rsv << 4) | opcode
    if length < 126:
        out[1] = mask_bit | <unsigned char>length
        size = 2
    elif length < 65536:
        out[1] = mask_bit | 126
        out[2] = <unsigned char>(length >> 8)
        out[3] = <unsigned char>length
        size = 4
    else:
        out[1] = mask_bit | 127
        for i in range(8):
            out[2 + i] = <unsigned char>(length >> (56 - 8 * i))
        size = 10
    if key != NULL:
        memcpy(out + size, key, 4)
        size += 4
    return size


cdef int _check_header_args(int opcode, object length, int rsv) except -1:
    if not 0 <= opcode <= 15:
        raise ValueError("opcode must be between 0 and 15")
    if not 0 <= rsv <= 7:
        raise ValueError("rsv must be between 0 and 7")
    if length < 0 or length > 0x7FFFFFFFFFFFFFFF:
        raise ValueError("length must be between 0 and 2**63 - 1")
    return 0


cdef int _read_key(object mask_key, unsigned char *key) except -1:
    cdef Py_buffer view
    _get_buffer(mask_key, &view)
    try:
        if view.len != 4:
            raise ValueError("mask must contain 4 bytes")
        memcpy(key, view.buf, 4)
    finally:
        PyBuffer_Release(&view)
    return 0


def serialize_header(fin, opcode, length, rsv=0, mask_key=None):
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
    cdef unsigned char out[MAX_HEADER_LENGTH]
    cdef unsigned char key[4]
    cdef Py_ssize_t size
    cdef int c_opcode, c_rsv
    # Convert as the twin does (operator.index) before any range check.
    c_opcode = _small_index(opcode)
    length = _index(length)
    c_rsv = _small_index(rsv)
    _check_header_args(c_opcode, length, c_rsv)
    if mask_key is not None:
        _read_key(mask_key, key)
    size = _write_header(out, fin, c_opcode, <uint64_t>length, c_rsv, key if mask_key is not None else NULL)
    return PyBytes_FromStringAndSize(<char *>out, size)


cdef inline object _index(object value):
    # Plain ints, by far the most common, skip the call to operator.index.
    if PyLong_CheckExact(value):
        return value
    return _operator_index(value)


cdef int _small_index(object value) except? -1:
    # An int argument in a C int: out-of-range values become a sentinel that
    # fails the range checks, instead of an OverflowError the twin lacks.
    cdef long result
    cdef int overflow
    # An int subclass, such as the Opcode members the callers pass, is read
    # as it is: operator.index would only make a plain copy of it.
    result = PyLong_AsLongAndOverflow(value if PyLong_Check(value) else _operator_index(value), &overflow)
    if overflow or result < -1 or result > 255:
        return 255
    return <int>result


# Masking keys for build_frame(..., mask_key=True). RFC 6455 10.3 wants them
# unpredictable, so they come from the operating system's CSPRNG, fetched
# 4 KiB at a time rather than one system call per frame. The GIL serialises
# the draws; two threads refilling at once merely both draw fresh bytes.
cdef enum:
    KEY_POOL_SIZE = 4096

cdef unsigned char _key_pool[KEY_POOL_SIZE]
cdef Py_ssize_t _key_next = KEY_POOL_SIZE


cdef int _draw_key(unsigned char *key) except -1:
    global _key_next
    cdef bytes fresh
    if _key_next + 4 > KEY_POOL_SIZE:
        fresh = _os.urandom(KEY_POOL_SIZE)
        memcpy(_key_pool, PyBytes_AS_STRING(fresh), KEY_POOL_SIZE)
        _key_next = 0
    memcpy(key, _key_pool + _key_next, 4)
    _key_next += 4
    return 0


def _forget_keys():
    # A forked child must not reuse keys that its parent will also use.
    global _key_next
    _key_next = KEY_POOL_SIZE


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_forget_keys)


cpdef bytes build_frame(fin, opcode, payload, rsv=0, mask_key=None):
    """Return a whole frame, header and payload, as one bytes object.

    Arguments are those of :func:`serialize_header`, with the payload (any
    C-contiguous bytes-like object) instead of its length. With
    ``mask_key``, the payload is masked with it; ``mask_key=True`` masks it
    with a fresh key from a process-wide pool filled from ``os.urandom``.
    """
    return _build_frame(fin, opcode, payload, rsv, mask_key)


cpdef append_frame(list writes, fin, opcode, payload, rsv=0, mask_key=None):
    """Append a whole frame to the list ``writes``, to be written in order.

    Arguments are those of :func:`build_frame`, which makes the frame,
    except that an unmasked ``bytes`` payload of ``SPLIT_FRAME_SIZE`` bytes
    or more is appended as it is after its header: nothing copies it, and
    the I/O layer writes the two one after the other without joining them.
    """
    cdef int c_opcode, c_rsv
    if writes is None:
        raise TypeError("writes must be a list, not None")
    if mask_key is None and PyBytes_CheckExact(payload) and PyBytes_GET_SIZE(payload) >= _SPLIT_FRAME_SIZE:
        c_opcode = _small_index(opcode)
        c_rsv = _small_index(rsv)
        writes.append(_build(fin, c_opcode, NULL, PyBytes_GET_SIZE(payload), c_rsv, None, True))
        writes.append(payload)
    else:
        writes.append(_build_frame(fin, opcode, payload, rsv, mask_key))


cdef extern from *:
    """
    #if defined(_WIN32)
    /* Sockets are not file descriptors there: send nothing, the caller
       hands everything to its transport. */
    static Py_ssize_t wsf_send(int fd, const char *buf, Py_ssize_t len) { return 0; }
    #else
    #include <errno.h>
    #include <sys/socket.h>
    #ifndef MSG_NOSIGNAL
    #define MSG_NOSIGNAL 0  /* macOS: SO_NOSIGPIPE, or Python's SIG_IGN */
    #endif
    static Py_ssize_t wsf_send(int fd, const char *buf, Py_ssize_t len) {
        ssize_t sent;
        do {
            sent = send(fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (sent < 0 && errno == EINTR);
        return sent < 0 ? 0 : (Py_ssize_t)sent;
    }
    #endif
    """
    # Never blocks, never raises, keeps the GIL (a non-blocking send is
    # shorter than giving the GIL away and taking it back).
    Py_ssize_t wsf_send(int fd, const char *buf, Py_ssize_t length) nogil


cpdef Py_ssize_t send_some(int fd, data) except -1:
    """Send what a socket takes of ``data`` at once; return how many bytes.

    ``fd`` is the file descriptor of a connected stream socket, ``data`` a
    C-contiguous bytes-like object. The call never blocks, and an error
    (the socket's buffer full, the connection reset) sends nothing and
    returns 0: the caller hands the rest to its transport, which meets the
    error again and reports it its own way.
    """
    cdef Py_buffer view
    cdef Py_ssize_t sent
    if PyBytes_CheckExact(data):
        return wsf_send(fd, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        sent = wsf_send(fd, <const char *>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return sent


cdef extern from *:
    """
    #if defined(_WIN32)
    static Py_ssize_t wsf_recv(int fd, char *buf, Py_ssize_t len) { errno = EBADF; return -1; }
    #else
    #include <errno.h>
    #include <sys/socket.h>
    static Py_ssize_t wsf_recv(int fd, char *buf, Py_ssize_t len) {
        ssize_t got;
        do {
            got = recv(fd, buf, (size_t)len, MSG_DONTWAIT);
        } while (got < 0 && errno == EINTR);
        return (Py_ssize_t)got;
    }
    #endif
    static int wsf_would_block(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }
    """
    Py_ssize_t wsf_recv(int fd, char *buf, Py_ssize_t length) nogil
    int wsf_would_block() nogil

from libc.errno cimport errno
from libc.string cimport strerror

# Where recv_some() reads before copying what arrived into a bytes object of
# that size. Reading into a new bytes object of the largest size, as
# sock.recv() does, costs a large malloc and a realloc per read, more than
# the copy. One buffer serves every connection of the process: it is only
# used with the GIL held, from the recv() to the copy.
cdef enum:
    RECV_BUFFER_SIZE = 65536
cdef char _recv_buffer[RECV_BUFFER_SIZE]


cpdef object recv_some(int fd, Py_ssize_t size, bint large=False):
    """Receive what a socket holds, at most ``size`` bytes; never block.

    ``fd`` is the file descriptor of a connected, non-blocking stream socket
    (POSIX only). Returns the bytes received, ``b""`` at the end of the
    stream, or None when nothing is there yet. An error (the connection
    reset, say) raises the matching :exc:`OSError`. At most 64 KiB are read
    at once, whatever ``size``.

    ``large=True`` receives into a new bytes object of ``size`` bytes,
    returned as it is when the read fills it: for a caller whose last read
    did (a large message arriving), which then copies nothing. Otherwise the
    bytes go through one buffer shared by the process and are copied out at
    their size, which costs less than allocating ``size`` bytes per read.
    """
    cdef Py_ssize_t got
    cdef bytes data
    if size <= 0:
        raise ValueError("size must be > 0")
    if size > RECV_BUFFER_SIZE:
        size = RECV_BUFFER_SIZE
    if large:
        data = PyBytes_FromStringAndSize(NULL, size)
        got = wsf_recv(fd, PyBytes_AS_STRING(data), size)
    else:
        got = wsf_recv(fd, _recv_buffer, size)
    if got < 0:
        if wsf_would_block():
            return None
        code = errno
        raise OSError(code, strerror(code).decode("utf-8", "replace"))
    if not large:
        return PyBytes_FromStringAndSize(_recv_buffer, got)
    if got == size:
        return data
    # The end of a large message: one copy of what arrived.
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(data), got)


cpdef object recv_into_some(int fd, buffer):
    """Receive what a socket holds into ``buffer`` (writable, contiguous),
    at most its size; never block.

    ``fd`` is as for :func:`recv_some`. Returns the number of bytes
    received, 0 at the end of the stream, or None when nothing is there
    yet. An error raises the matching :exc:`OSError`.
    """
    cdef Py_buffer view
    cdef Py_ssize_t got
    PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
    try:
        if view.len == 0:
            raise ValueError("buffer must not be empty")
        got = wsf_recv(fd, <char *>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    if got < 0:
        if wsf_would_block():
            return None
        code = errno
        raise OSError(code, strerror(code).decode("utf-8", "replace"))
    return got


cdef bytes _build_frame(fin, opcode, payload, rsv, mask_key):
    return _build_payload(fin, _small_index(opcode), payload, _small_index(rsv), mask_key)


cpdef bytes build_data_frame(int opcode, payload, mask_key=None):
    """Return ``build_frame(True, opcode, payload, 0, mask_key)``.

    A message in one frame, with the opcode as a C int: what the protocol's
    hot path of sending calls, without build_frame's conversions.
    """
    return _build_payload(True, opcode, payload, 0, mask_key)


cdef bytes _build_payload(bint fin, int opcode, payload, int rsv, mask_key):
    cdef Py_buffer view
    if PyBytes_CheckExact(payload):
        # bytes, what send_text/send_binary get most: no buffer export.
        return _build(fin, opcode, <const unsigned char *>PyBytes_AS_STRING(payload),
                      PyBytes_GET_SIZE(payload), rsv, mask_key, False)
    _get_buffer(payload, &view)
    try:
        return _build(fin, opcode, <const unsigned char *>view.buf, view.len, rsv, mask_key, False)
    finally:
        PyBuffer_Release(&view)


cdef bytes _build(bint fin, int opcode, const unsigned char *payload, Py_ssize_t length, int rsv, object mask_key,
                  bint header_only):
    # header_only: the header of a frame of ``length`` bytes, for a payload
    # written apart (unmasked only).
    cdef unsigned char header[MAX_HEADER_LENGTH]
    cdef unsigned char key[4]
    cdef const unsigned char *c_key = NULL
    cdef Py_ssize_t size
    cdef bytes frame
    cdef unsigned char *out
    # The checks of _check_header_args, in C: a buffer's length always fits.
    if not 0 <= opcode <= 15:
        raise ValueError("opcode must be between 0 and 15")
    if not 0 <= rsv <= 7:
        raise ValueError("rsv must be between 0 and 7")
    if mask_key is True:
        _draw_key(key)
        c_key = key
    elif mask_key is not None:
        _read_key(mask_key, key)
        c_key = key
    size = _write_header(header, fin, opcode, <uint64_t>length, rsv, c_key)
    if header_only:
        return PyBytes_FromStringAndSize(<char *>header, size)
    frame = PyBytes_FromStringAndSize(NULL, size + length)
    out = <unsigned char *>PyBytes_AS_STRING(frame)
    memcpy(out, header, size)
    if c_key != NULL:
        _xor(payload, out + size, length, key)
    else:
        memcpy(out + size, payload, length)
    return frame


cdef uint64_t _c_limit(object value, str name) except? 0:
    # None is "no limit"; a limit above any possible length is as good as none.
    if value is None:
        return NO_LIMIT
    value = _index(value)
    if value < 0:
        raise ValueError(f"{name} must be None or >= 0")
    if value >= NO_LIMIT:
        return NO_LIMIT
    return <uint64_t>value


# Message mode creates the frame objects itself: instances of a Python class
# with __slots__ for these fields, written straight into the slots. Slots,
# rather than a compiled class, because Python reads slot attributes fastest.
FRAME_FIELDS = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")

cdef extern from "structmember.h":
    # What a __slots__ entry is: an object member at an offset.
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
    enum: T_OBJECT_EX

cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    object PyType_GenericAlloc(type, Py_ssize_t)
    void PyObject_GC_UnTrack(void *)
    bint PyObject_IS_GC(object)


cdef int _slot_offsets(type frame_class, Py_ssize_t *offsets) except -1:
    """Find where instances of ``frame_class`` keep FRAME_FIELDS."""
    cdef PyMemberDescrObject *member
    for i, name in enumerate(FRAME_FIELDS):
        descriptor = getattr(frame_class, name, None)
        # A slot of frame_class or of a base class, whose layout it shares.
        if type(descriptor) is not _MemberDescriptorType or not issubclass(frame_class, descriptor.__objclass__):
            raise TypeError(f"frame_class must have __slots__ for {', '.join(FRAME_FIELDS)}")
        member = <PyMemberDescrObject *>descriptor
        if member.d_member.type != T_OBJECT_EX or member.d_member.offset + <Py_ssize_t>sizeof(PyObject *) > frame_class.__basicsize__:
            raise TypeError(f"frame_class must have __slots__ for {', '.join(FRAME_FIELDS)}")
        offsets[i] = member.d_member.offset
    return 0


cdef enum:
    Py_TPFLAGS_HEAPTYPE_BIT = 1 << 9


def _plain_layout(cls):
    """Whether an instance of ``cls`` is object's header plus slots only.

    Message mode allocates frames zero-filled and calls no ``__new__``:
    valid for slots, ``__dict__`` and ``__weakref__``, which start empty,
    but not for a base with its own C layout (``dict``, ``int``, a compiled
    class), whose fields its ``__new__`` would have set up.
    """
    cdef Py_ssize_t pointer = sizeof(PyObject *)
    # Bounded: each step goes to the base, and the chain ends at object.
    while cls is not object:
        if not cls.__flags__ & Py_TPFLAGS_HEAPTYPE_BIT or cls.__itemsize__:
            return False
        own = vars(cls)
        fields = sum([type(value) is _MemberDescriptorType for value in own.values()])
        fields += ("__dict__" in own) + ("__weakref__" in own)
        if cls.__basicsize__ - cls.__base__.__basicsize__ > fields * pointer:
            return False
        cls = cls.__base__
    return True


cdef inline void _set_slot(object obj, Py_ssize_t offset, object value) noexcept:
    # The slot is still empty (NULL): the allocator zeroes the object.
    Py_INCREF(value)
    (<PyObject **>(<char *><PyObject *>obj + offset))[0] = <PyObject *>value


cdef inline bint _is_ascii(const unsigned char *p, Py_ssize_t length) noexcept:
    cdef uint64_t seen = 0
    cdef uint64_t word
    cdef Py_ssize_t i = 0
    while i + 8 <= length:
        memcpy(&word, p + i, 8)
        seen |= word
        i += 8
    while i < length:
        seen |= p[i]
        i += 1
    return (seen & 0x8080808080808080ULL) == 0


cdef inline bint _is_ascii_unmasked(const unsigned char *p, Py_ssize_t length, const unsigned char *key) noexcept:
    """Whether ``p`` unmasked with ``key`` (NULL: not masked) is ASCII."""
    cdef uint64_t seen = 0
    cdef uint64_t word, key8
    cdef Py_ssize_t i = 0
    if key == NULL:
        return _is_ascii(p, length)
    # Byte j of the payload goes with key[j % 4]: at an offset that is a
    # multiple of 8, a word goes with the key twice over.
    memcpy(&key8, key, 4)
    memcpy(<unsigned char *>&key8 + 4, key, 4)
    while i + 8 <= length:
        memcpy(&word, p + i, 8)
        seen |= word ^ key8
        i += 8
    while i < length:
        seen |= p[i] ^ key[i & 3]
        i += 1
    return (seen & 0x8080808080808080ULL) == 0


def _utf8_error(data, continuation):
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


cdef class FrameParser:
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

    # The attributes and C methods are declared in frames.pxd, so that the
    # compiled protocol and connection call feed() and read control_frames
    # and exc in C.

    def __cinit__(self):
        self._payload = NULL

    def __init__(self, mask_expected, max_size=None, max_frame_size=None, allowed_rsv=0, *,
                 frame_class=None, opcodes=None, utf8=None, max_fragments=None):
        cdef bint c_mask_expected
        cdef uint64_t c_max_size, c_max_frame_size, c_max_fragments
        cdef int c_allowed_rsv
        cdef Py_ssize_t offsets[6]
        cdef int i
        if self._feeding:
            raise RuntimeError("__init__() called while this parser is parsing")
        # Everything is checked and converted first (Python code may run:
        # __index__, __bool__, iterating opcodes); then assigned with no
        # Python code in between. A failed call leaves the parser as it was.
        c_mask_expected = mask_expected
        c_max_size = _c_limit(max_size, "max_size")
        max_size = None if max_size is None else _index(max_size)
        c_max_frame_size = _c_limit(max_frame_size, "max_frame_size")
        max_frame_size = None if max_frame_size is None else _index(max_frame_size)
        allowed_rsv = _index(allowed_rsv)
        if not 0 <= allowed_rsv <= 7:
            raise ValueError("allowed_rsv must be between 0 and 7")
        c_allowed_rsv = allowed_rsv
        c_max_fragments = _c_limit(max_fragments, "max_fragments")
        max_fragments = None if max_fragments is None else _index(max_fragments)
        if frame_class is not None:
            if not isinstance(frame_class, type):
                raise TypeError(f"frame_class must have __slots__ for {', '.join(FRAME_FIELDS)}")
            _slot_offsets(frame_class, offsets)
            if not _plain_layout(frame_class):
                raise TypeError("frame_class must derive from object alone (no built-in base with its own layout)")
            opcodes = tuple(opcodes)
            if len(opcodes) != 16:
                raise ValueError("opcodes must hold 16 values")
        else:
            opcodes = None
        # The old values live until the end, so that no finalizer runs
        # before every field is set.
        old = (self.exc, self._max_size, self._max_frame_size, self._frame_class, self._opcodes, self.utf8,
               self._max_fragments)
        if self._feeding:
            # Another thread started a feed while Python code above ran.
            raise RuntimeError("__init__() called while this parser is parsing")
        self.mask_expected = c_mask_expected
        self._c_max_size = c_max_size
        self._max_size = max_size
        self._c_max_frame_size = c_max_frame_size
        self._max_frame_size = max_frame_size
        self._allowed_rsv = c_allowed_rsv
        self._c_max_fragments = c_max_fragments
        self._max_fragments = max_fragments
        self.exc = None
        self._frame_class = frame_class
        if frame_class is not None:
            for i in range(6):
                self._offsets[i] = offsets[i]
        self._opcodes = opcodes
        self.utf8 = utf8
        # A fresh start, as the twin: no incomplete frame or message.
        self._message_size = 0
        self._compressed = False
        self._head_length = 0
        self._drop_payload()
        self.control_frames = 0
        self.fragments_exceeded = False
        self._in_message = False
        self._message_text = False
        self._message_frames = 0
        self._utf8_clean = False

    def __dealloc__(self):
        Py_XDECREF(self._payload)
        self._payload = NULL

    @property
    def max_size(self):
        """Largest data message in bytes, or None for no limit."""
        return self._max_size

    @max_size.setter
    def max_size(self, value):
        self._c_max_size = _c_limit(value, "max_size")
        self._max_size = None if value is None else _index(value)

    @property
    def max_frame_size(self):
        """Largest frame payload in bytes, or None for no limit."""
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value):
        self._c_max_frame_size = _c_limit(value, "max_frame_size")
        self._max_frame_size = None if value is None else _index(value)

    @property
    def allowed_rsv(self):
        """RSV bits that frames may carry, as an int (RSV1=4, RSV2=2, RSV3=1)."""
        return self._allowed_rsv

    @allowed_rsv.setter
    def allowed_rsv(self, value):
        value = _index(value)
        if not 0 <= value <= 7:
            raise ValueError("allowed_rsv must be between 0 and 7")
        self._allowed_rsv = value

    @property
    def max_fragments(self):
        """Most frames in one message in message mode, or None for no limit."""
        return self._max_fragments

    @max_fragments.setter
    def max_fragments(self, value):
        self._c_max_fragments = _c_limit(value, "max_fragments")
        self._max_fragments = None if value is None else _index(value)

    @property
    def buffered(self):
        """Bytes held for an incomplete frame: its header or its payload so far."""
        if self._payload != NULL:
            return self._filled
        return self._head_length

    @property
    def missing(self):
        """Payload bytes that the incomplete frame still needs; 0 unless its
        header has been parsed."""
        if self._payload != NULL:
            return <Py_ssize_t>self._frame.length - self._filled
        return 0

    cdef int _check_message(self, Header *h) except -1:
        """Message mode: the continuation rules and the fragment limit."""
        if h.opcode == 0:
            if not self._in_message:
                raise FrameProtocolError("unexpected continuation frame")
            self._message_frames += 1
            if self._message_frames > self._c_max_fragments:
                self.fragments_exceeded = True
                raise FrameTooLarge(f"fragmented message exceeds limit of {self._max_fragments} frames")
        elif self._in_message:
            raise FrameProtocolError("expected a continuation frame")
        return 0

    cdef int _start_message(self, Header *h) noexcept:
        """Message mode: note where a data frame leaves its message."""
        if h.opcode != 0:
            self._message_text = h.opcode == 1
            self._message_frames = 1
            self._utf8_clean = True
        self._in_message = not h.fin
        return 0

    cdef int _check_text(self, bint fin, int opcode, bytes payload, Py_ssize_t done) except -1:
        """Message mode: fail as soon as a text message cannot be valid UTF-8.

        ``done``: how many bytes at the start of ``payload`` were validated
        as they arrived (at most its length).
        """
        if done:
            return self._check_text_bytes(
                <const unsigned char *>PyBytes_AS_STRING(payload) + done, PyBytes_GET_SIZE(payload) - done, fin, True)
        return self._check_text_bytes(
            <const unsigned char *>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), fin, opcode == 0)

    cdef int _check_text_bytes(self, const unsigned char *p, Py_ssize_t n, bint fin, bint continuation) except -1:
        # One validator for both calls: reset() may replace self.utf8.
        validator = self.utf8
        if self._utf8_clean and _is_ascii(p, n):
            return 0
        if self._utf8_clean:
            validator.reset()
            self._utf8_clean = False
        chunk = PyBytes_FromStringAndSize(<const char *>p, n)
        if not validator.feed(chunk, fin):
            raise _utf8_error(chunk, continuation)
        return 0

    cdef bint _checks_text(self, int opcode) noexcept:
        return self._frame_class is not None and self.utf8 is not None and (
            opcode == 1 or (opcode == 0 and self._message_text))

    cdef int _deliver(self, bint fin, int rsv, int opcode, bytes payload, list frames, Py_ssize_t validated) except -1:
        cdef Py_ssize_t length
        if self._frame_class is None:
            frames.append((fin, rsv, opcode, payload))
            return 0
        if self._messages and fin and rsv == 0 and (opcode == 1 or opcode == 2):
            # feed_messages(): a whole message as its payload, no frame.
            if opcode == 2:
                frames.append(payload)
                return 0
            length = PyBytes_GET_SIZE(payload)
            if _is_ascii(<const unsigned char *>PyBytes_AS_STRING(payload), length):
                # ASCII needs no validation, and its str holds a byte per
                # character, as the bytes did: the queue's memory bound holds.
                text = PyUnicode_New(length, 127)
                memcpy(PyUnicode_DATA(text), PyBytes_AS_STRING(payload), length)
                frames.append(text)
                return 0
        if self.utf8 is not None and (opcode == 1 or (opcode == 0 and self._message_text)):
            self._check_text(fin, opcode, payload, validated)
        frame = PyType_GenericAlloc(self._frame_class, 0)
        _set_slot(frame, self._offsets[0], self._opcodes[opcode])
        _set_slot(frame, self._offsets[1], payload)
        _set_slot(frame, self._offsets[2], True if fin else False)
        _set_slot(frame, self._offsets[3], True if rsv & 4 else False)
        _set_slot(frame, self._offsets[4], True if rsv & 2 else False)
        _set_slot(frame, self._offsets[5], True if rsv & 1 else False)
        # What the frame holds (bytes, an opcode, bools) cannot form a
        # reference cycle, so the cycle collector need not scan it: in a
        # large batch, scanning thousands of live frames cost as much as
        # parsing them. A cycle made later through an attribute assigned by
        # the application would be freed only when broken by hand.
        if PyObject_IS_GC(frame):
            PyObject_GC_UnTrack(<void *>frame)
        if opcode >= 8:
            self.control_frames += 1
            if opcode == 8:
                # RFC 6455 5.4: a close frame may come inside a fragmented
                # message, which is then abandoned.
                self._in_message = False
        frames.append(frame)
        return 0

    cdef int _check(self, Header *h) except -1:
        """Apply the rules that need this parser's settings; raise on a violation."""
        cdef uint64_t total
        if h.masked != self.mask_expected:
            raise FrameProtocolError("expected a masked frame" if self.mask_expected else "expected an unmasked frame")
        if h.rsv & ~self._allowed_rsv:
            raise FrameProtocolError(f"reserved bits {h.rsv:#x} not allowed")
        if self._frame_class is not None and h.opcode < 8:
            self._check_message(h)
        if h.length > self._c_max_frame_size:
            raise FrameTooLarge(f"frame of {h.length} bytes exceeds the limit of {self._max_frame_size} bytes")
        if h.opcode < 8:
            if h.opcode != 0:
                self._compressed = h.rsv & 4 != 0
            total = h.length
            # A compressed message can take more bytes on the wire than
            # inflated (random data does): only each of its frames is bounded
            # here; its inflated size is the protocol's to check, frame by frame.
            if h.opcode == 0 and not self._compressed:
                # Saturate rather than wrap around (only without a limit,
                # after exabytes, could the sum get there).
                total = NO_LIMIT if self._message_size > NO_LIMIT - h.length else self._message_size + h.length
            if total > self._c_max_size:
                raise FrameTooLarge(f"message of at least {total} bytes exceeds the limit of {self._max_size} bytes")
            self._message_size = 0 if h.fin else total
        if h.length > <uint64_t>PY_SSIZE_T_MAX:
            raise FrameTooLarge(f"frame of {h.length} bytes is too large for this platform")
        if self._frame_class is not None and h.opcode < 8:
            self._start_message(h)
        return 0

    cdef int _emit(self, Header *h, const unsigned char *src, list frames) except -1:
        cdef Py_ssize_t length = <Py_ssize_t>h.length
        cdef bytes payload
        if (self._messages and h.opcode == 1 and h.fin and h.rsv == 0 and self._frame_class is not None
                and _is_ascii_unmasked(src, length, h.key if h.masked else NULL)):
            # feed_messages() and ASCII text (see _deliver): unmasked
            # straight into the str, with no bytes object in between.
            text = PyUnicode_New(length, 127)
            if h.masked:
                _xor(src, <unsigned char *>PyUnicode_DATA(text), length, h.key)
            else:
                memcpy(PyUnicode_DATA(text), src, length)
            frames.append(text)
            return 0
        payload = PyBytes_FromStringAndSize(NULL, length)
        if h.masked:
            _xor(src, <unsigned char *>PyBytes_AS_STRING(payload), length, h.key)
        else:
            memcpy(PyBytes_AS_STRING(payload), src, length)
        return self._deliver(h.fin, h.rsv, h.opcode, payload, frames, 0)

    cdef Py_ssize_t _fill_payload(self, const unsigned char *src, Py_ssize_t available, list frames) except -1:
        """Add up to ``available`` bytes to the incomplete payload; return how many."""
        cdef Py_ssize_t length = <Py_ssize_t>self._frame.length
        cdef Py_ssize_t take = length - self._filled
        cdef Py_ssize_t capacity
        if take > available:
            take = available
        if self._payload == NULL or self._filled + take > self._capacity:
            # Grow geometrically, never beyond the frame's size. Storage is
            # allocated even for 0 bytes: it marks the payload as started.
            capacity = self._capacity * 2
            if capacity < MIN_PAYLOAD_CAPACITY:
                capacity = MIN_PAYLOAD_CAPACITY
            if capacity < self._filled + take:
                capacity = self._filled + take
            if self._filled + take >= length // EAGER_PAYLOAD_FRACTION:
                # An eighth of the frame is here: take the whole size at
                # once. One allocation of the final size is one that malloc
                # reuses from one large message to the next, where a series
                # of reallocs gets fresh pages (a page fault each) every
                # time. A peer that announces a large frame and sends little
                # still makes it hold at most eight times what it sent.
                capacity = length
            self._resize_payload(capacity)
        self._unmask_into(src, take)
        self._payload_added(take, frames)
        return take

    cdef int _resize_payload(self, Py_ssize_t capacity) except -1:
        if capacity > <Py_ssize_t>self._frame.length:
            capacity = <Py_ssize_t>self._frame.length
        if self._payload == NULL:
            self._payload = _new_bytes(NULL, capacity)
        else:
            _PyBytes_Resize(&self._payload, capacity)
        self._capacity = capacity
        return 0

    cdef int _unmask_into(self, const unsigned char *src, Py_ssize_t take) except -1:
        """Copy ``take`` bytes from ``src`` to the payload's end (``src`` may
        be that end itself), unmasking them if the frame is masked."""
        cdef unsigned char key[4]
        cdef unsigned char *dst = <unsigned char *>_bytes_data(self._payload) + self._filled
        cdef Py_ssize_t i
        if self._frame.masked:
            # The key continues where the previous chunk stopped.
            for i in range(4):
                key[i] = self._frame.key[(self._filled + i) & 3]
            # With the GIL held: the storage belongs to this parser, and a
            # second thread feeding it meanwhile could move it.
            wsf_xor_mask(src, dst, <size_t>take, key)
        elif src != dst:
            memcpy(dst, src, take)
        return 0

    cdef int _payload_added(self, Py_ssize_t take, list frames) except -1:
        """``take`` more bytes of the incomplete payload are in place."""
        cdef Py_ssize_t validated
        self._filled += take
        if self._filled < <Py_ssize_t>self._frame.length and self._checks_text(self._frame.opcode):
            # Fail fast (RFC 6455 8.1): a text frame that arrives in pieces
            # is validated piece by piece.
            self._check_text_bytes(
                <const unsigned char *>_bytes_data(self._payload) + self._validated,
                self._filled - self._validated, False, True)
            self._validated = self._filled
        if self._filled == <Py_ssize_t>self._frame.length:
            payload = <object>self._payload
            # Reset whether or not the frame is validated now (utf8 may have
            # been set to None meanwhile): the next frame starts at 0.
            validated = self._validated
            self._drop_payload()
            self._deliver(self._frame.fin, self._frame.rsv, self._frame.opcode, payload, frames, validated)
        return 0

    def payload_view(self):
        """Where the next bytes of an incomplete payload go, for a reader
        that receives into a buffer (asyncio's BufferedProtocol): a writable
        memoryview of the payload's own storage, or None when no payload is
        incomplete. Receive into it, then call :meth:`payload_received`.

        The view is valid until then, and only then: nothing else may feed
        this parser meanwhile. Its storage grows as feed() grows it: up to
        twice what arrived, or 64 KiB, until an eighth of the frame is here.
        """
        cdef Py_ssize_t length, target
        if self._payload == NULL or self.exc is not None or self._feeding:
            return None
        length = <Py_ssize_t>self._frame.length
        if self._filled == self._capacity:
            target = self._filled + (self._filled if self._filled > VIEW_MIN_SIZE else VIEW_MIN_SIZE)
            if self._filled >= length // EAGER_PAYLOAD_FRACTION:
                target = length
            self._resize_payload(target)
        return PyMemoryView_FromMemory(
            _bytes_data(self._payload) + self._filled, self._capacity - self._filled, PyBUF_WRITE)

    cpdef list payload_received(self, Py_ssize_t size):
        """The first ``size`` bytes of :meth:`payload_view`'s view are
        received: parse them as :meth:`feed_messages` would."""
        cdef list frames = []
        if self._feeding:
            raise RuntimeError("payload_received() called while this parser is parsing")
        if self._payload == NULL or self.exc is not None or size < 0 or size > self._capacity - self._filled:
            raise ValueError("no payload_view() of this size to receive into")
        self.control_frames = 0
        self._feeding = True
        self._messages = True
        try:
            try:
                self._unmask_into(<const unsigned char *>_bytes_data(self._payload) + self._filled, size)
                self._payload_added(size, frames)
            except (SpeedupsError, UnicodeDecodeError) as exc:
                self._fail(exc)
        finally:
            self._feeding = False
        return frames

    cdef Py_ssize_t _start_frame(self, Header *h, const unsigned char *src, Py_ssize_t available,
                                 list frames) except -1:
        """Handle a frame whose payload starts at ``src``; return the bytes used."""
        self._check(h)
        if h.length <= <uint64_t>available:
            self._emit(h, src, frames)
            return <Py_ssize_t>h.length
        self._frame = h[0]
        self._filled = 0
        self._validated = 0
        self._capacity = 0
        return self._fill_payload(src, available, frames)

    cdef int _feed(self, const unsigned char *data, Py_ssize_t end, list frames) except -1:
        cdef Py_ssize_t start = 0
        cdef Py_ssize_t take, missing
        cdef Header h
        if self._payload != NULL:
            start = self._fill_payload(data, end, frames)
            if self._payload != NULL:
                return 0
        if self._head_length:
            take = MAX_HEADER_LENGTH - self._head_length
            if take > end - start:
                take = end - start
            memcpy(self._head + self._head_length, data + start, take)
            missing = _parse(self._head, self._head_length + take, &h)
            if missing:
                # 14 bytes hold any header: all of data went into _head.
                self._head_length += take
                return 0
            start += h.size - self._head_length
            self._head_length = 0
            start += self._start_frame(&h, data + start, end - start, frames)
        while start < end and self._payload == NULL:
            missing = _parse(data + start, end - start, &h)
            if missing:
                memcpy(self._head, data + start, end - start)
                self._head_length = end - start
                break
            start += h.size
            start += self._start_frame(&h, data + start, end - start, frames)
        return 0

    cdef int _feed_or_fail(self, const unsigned char *data, Py_ssize_t end, list frames) except -1:
        try:
            self._feed(data, end, frames)
        except (SpeedupsError, UnicodeDecodeError) as exc:
            self._fail(exc)
        return 0

    cdef int _fail(self, exc) except -1:
        # No traceback: it would keep this parser alive through a cycle.
        self.exc = exc.with_traceback(None)
        self._head_length = 0
        self._drop_payload()
        return 0

    cdef void _drop_payload(self) noexcept:
        """Forget the incomplete payload, if any."""
        Py_XDECREF(self._payload)
        self._payload = NULL
        self._capacity = 0
        self._filled = 0
        self._validated = 0

    cpdef list feed(self, data):
        """Parse ``data`` (any C-contiguous bytes-like object): a list of frames.

        Each frame is ``(fin: bool, rsv: int, opcode: int, payload: bytes)``,
        or a ``frame_class`` object in message mode.
        """
        return self._feed_data(data, False)

    cpdef list feed_messages(self, data):
        """As :meth:`feed`, except that, in message mode, a data frame that is
        a whole message (FIN, TEXT or BINARY, no RSV bit) comes as its
        payload instead of a frame: ``bytes`` for BINARY, ``str`` for TEXT
        that is all ASCII. Other TEXT stays a frame (validated as by feed()).
        """
        return self._feed_data(data, True)

    cdef list _feed_data(self, data, bint messages):
        cdef Py_buffer view
        cdef list frames = []
        if self._feeding:
            raise RuntimeError("feed() called while this parser is parsing")
        self.control_frames = 0
        if self.exc is not None:
            return frames
        if PyBytes_CheckExact(data):
            # bytes, what the event loop hands over: no buffer export needed.
            self._feeding = True
            self._messages = messages
            try:
                self._feed_or_fail(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), frames)
            finally:
                self._feeding = False
            return frames
        _get_buffer(data, &view)
        self._feeding = True
        self._messages = messages
        try:
            self._feed_or_fail(<const unsigned char *>view.buf, view.len, frames)
        finally:
            self._feeding = False
            PyBuffer_Release(&view)
        return frames
