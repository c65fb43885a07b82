# cython: language_level=3
"""UTF-8 validation, one-shot and incremental, compiled.

The pure-Python twin is :mod:`websockets_fast._pyspeedups.utf8`; both accept
the same arguments, give the same answers and raise the same exceptions.

Validation runs a small state machine over the bytes (the well-formed byte
sequences of Unicode, table 3-7). Each state says which byte range may come
next, so a sequence is rejected at its first impossible byte: an overlong
form after its lead byte (C0, C1, E0 80..9F, F0 80..8F), a surrogate at its
second byte (ED A0..BF), a code point above U+10FFFF at its lead byte
(F5..FF) or its second byte (F4 90..BF). This is what lets a WebSocket
connection fail a text message (close code 1007) at the first bad fragment,
even when a code point is split across fragments.
"""

from cpython.buffer cimport (
    PyBUF_FULL_RO,
    PyBuffer_IsContiguous,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from libc.stdint cimport uint64_t
from libc.string cimport memcpy


__all__ = ["validate_utf8", "Utf8Validator"]


cdef extern from *:
    """
    #include <stddef.h>
    #include <stdint.h>
    #include <string.h>
    #if defined(__SSE2__) || defined(_M_X64)
    #include <emmintrin.h>
    #define WSF_ASCII_SSE2 1
    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    #include <immintrin.h>
    #define WSF_ASCII_AVX2 1
    #endif
    #endif

    #if defined(WSF_ASCII_AVX2)
    /* 128 bytes per round with AVX2, picked at run time: wheels are built
       for baseline x86-64, yet most machines that run them have AVX2. */
    __attribute__((target("avx2"))) static size_t
    wsf_ascii_run_avx2(const unsigned char *data, size_t length)
    {
        size_t i = 0;
        for (; i + 128 <= length; i += 128) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(data + i));
            __m256i b = _mm256_loadu_si256((const __m256i *)(data + i + 32));
            __m256i c = _mm256_loadu_si256((const __m256i *)(data + i + 64));
            __m256i d = _mm256_loadu_si256((const __m256i *)(data + i + 96));
            __m256i any = _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
            if (_mm256_movemask_epi8(any) != 0) {
                break;
            }
        }
        return i;
    }
    #endif

    /* How many leading bytes of data are surely ASCII: a multiple of 8, at
       most length, stopping at or before the first byte >= 0x80. */
    static size_t
    wsf_ascii_run(const unsigned char *data, size_t length)
    {
        size_t i = 0;
        uint64_t w0, w1, w2, w3;
    #if defined(WSF_ASCII_AVX2)
        if (length >= 256 && __builtin_cpu_supports("avx2")) {
            i = wsf_ascii_run_avx2(data, length);
        }
    #endif
    #if defined(WSF_ASCII_SSE2)
        for (; i + 64 <= length; i += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(data + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(data + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(data + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(data + i + 48));
            __m128i any = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));
            if (_mm_movemask_epi8(any) != 0) {
                break;
            }
        }
    #endif
        for (; i + 32 <= length; i += 32) {
            memcpy(&w0, data + i, 8);
            memcpy(&w1, data + i + 8, 8);
            memcpy(&w2, data + i + 16, 8);
            memcpy(&w3, data + i + 24, 8);
            if ((w0 | w1 | w2 | w3) & 0x8080808080808080ULL) {
                break;
            }
        }
        for (; i + 8 <= length; i += 8) {
            memcpy(&w0, data + i, 8);
            if (w0 & 0x8080808080808080ULL) {
                break;
            }
        }
        return i;
    }
    """
    size_t wsf_ascii_run(const unsigned char *data, size_t length) nogil


# States. ACCEPT: between code points. The others wait for a continuation
# byte; their names say how many are still missing and any restriction on
# the next one. REJECT is final.
cdef enum:
    ACCEPT = 0
    NEED1 = 1            # 80..BF, then ACCEPT
    NEED2 = 2            # 80..BF, then NEED1
    NEED2_AFTER_E0 = 3   # A0..BF (no overlong 3-byte form), then NEED1
    NEED2_AFTER_ED = 4   # 80..9F (no surrogate), then NEED1
    NEED3 = 5            # 80..BF, then NEED2
    NEED3_AFTER_F0 = 6   # 90..BF (no overlong 4-byte form), then NEED2
    NEED3_AFTER_F4 = 7   # 80..8F (nothing above U+10FFFF), then NEED2
    REJECT = 8

cdef unsigned char NEXT_LOW[9]
cdef unsigned char NEXT_HIGH[9]
cdef unsigned char NEXT_STATE[9]
cdef unsigned char LEAD_STATE[256]

# The state machine, packed for speed: TRANSITIONS[byte] holds, for every
# state s, the next state after that byte, as a 6-bit field at bit 6 * s. A
# state is kept as its own bit offset (6 * s), so one step is
#     state = (TRANSITIONS[byte] >> state) & 63
# a shift and a mask, with no branch that random text could mispredict.
cdef uint64_t TRANSITIONS[256]
cdef enum:
    BITS = 6
cdef unsigned int ACCEPTED = ACCEPT * BITS
cdef unsigned int REJECTED = REJECT * BITS

# Validating a large buffer takes long enough that other threads should run
# meanwhile; handing the GIL over costs more than validating a small one.
cdef Py_ssize_t NOGIL_THRESHOLD = 262144

cdef uint64_t HIGH_BITS = 0x8080808080808080ULL


cdef void _fill_tables():
    cdef int byte, state, next_state
    for byte in range(256):
        if byte < 0x80:
            LEAD_STATE[byte] = ACCEPT
        elif byte < 0xC2:      # a continuation byte, or C0/C1 (overlong)
            LEAD_STATE[byte] = REJECT
        elif byte < 0xE0:
            LEAD_STATE[byte] = NEED1
        elif byte == 0xE0:
            LEAD_STATE[byte] = NEED2_AFTER_E0
        elif byte == 0xED:
            LEAD_STATE[byte] = NEED2_AFTER_ED
        elif byte < 0xF0:
            LEAD_STATE[byte] = NEED2
        elif byte == 0xF0:
            LEAD_STATE[byte] = NEED3_AFTER_F0
        elif byte < 0xF4:
            LEAD_STATE[byte] = NEED3
        elif byte == 0xF4:
            LEAD_STATE[byte] = NEED3_AFTER_F4
        else:                  # F5..FF: beyond U+10FFFF
            LEAD_STATE[byte] = REJECT
    _set_next(NEED1, 0x80, 0xBF, ACCEPT)
    _set_next(NEED2, 0x80, 0xBF, NEED1)
    _set_next(NEED2_AFTER_E0, 0xA0, 0xBF, NEED1)
    _set_next(NEED2_AFTER_ED, 0x80, 0x9F, NEED1)
    _set_next(NEED3, 0x80, 0xBF, NEED2)
    _set_next(NEED3_AFTER_F0, 0x90, 0xBF, NEED2)
    _set_next(NEED3_AFTER_F4, 0x80, 0x8F, NEED2)
    for byte in range(256):
        TRANSITIONS[byte] = 0
        for state in range(REJECT + 1):
            if state == ACCEPT:
                next_state = LEAD_STATE[byte]
            elif state == REJECT:
                next_state = REJECT
            elif NEXT_LOW[state] <= byte <= NEXT_HIGH[state]:
                next_state = NEXT_STATE[state]
            else:
                next_state = REJECT
            TRANSITIONS[byte] |= (<uint64_t>(next_state * BITS)) << (state * BITS)


cdef void _set_next(int state, unsigned char low, unsigned char high, unsigned char next_state):
    NEXT_LOW[state] = low
    NEXT_HIGH[state] = high
    NEXT_STATE[state] = next_state


_fill_tables()


cdef unsigned int _advance(unsigned int state, const unsigned char *data, Py_ssize_t length) noexcept nogil:
    """Run the state machine over data from state (a bit offset); return the new one."""
    cdef Py_ssize_t i = 0
    cdef uint64_t w0
    cdef int k
    while i + 8 <= length:
        if state == ACCEPTED:
            # ASCII fast path: most text on the wire is mostly ASCII. One
            # word first, so that text with few ASCII runs does not pay for
            # starting the wide scan between every two characters.
            memcpy(&w0, data + i, 8)
            if not (w0 & HIGH_BITS):
                i += 8
                i += <Py_ssize_t>wsf_ascii_run(data + i, <size_t>(length - i))
                continue
        # REJECT leads only to REJECT: checking once per 8 bytes is enough.
        for k in range(8):
            state = (TRANSITIONS[data[i + k]] >> state) & 63
        i += 8
        if state == REJECTED:
            return REJECTED
    while i < length:
        state = (TRANSITIONS[data[i]] >> state) & 63
        i += 1
    return state


cdef unsigned int _advance_object(unsigned int state, object data) except 0xFFFF:
    """Run the state machine over a bytes-like object; return the new state."""
    cdef Py_buffer view
    cdef const unsigned char *start
    cdef Py_ssize_t length
    if PyBytes_CheckExact(data):
        start = <const unsigned char *>PyBytes_AS_STRING(data)
        length = PyBytes_GET_SIZE(data)
        if length >= NOGIL_THRESHOLD:
            with nogil:
                state = _advance(state, start, length)
        else:
            state = _advance(state, start, length)
        return state
    # PyBUF_FULL_RO asks for what memoryview(data) asks for, so this module
    # and the twin see the same bytes and fail in the same cases.
    PyObject_GetBuffer(data, &view, PyBUF_FULL_RO)
    try:
        if not PyBuffer_IsContiguous(&view, b'C'):
            raise BufferError("buffer is not C-contiguous")
        start = <const unsigned char *>view.buf
        length = view.len
        if length >= NOGIL_THRESHOLD:
            with nogil:
                state = _advance(state, start, length)
        else:
            state = _advance(state, start, length)
    finally:
        PyBuffer_Release(&view)
    return state


def validate_utf8(data):
    """Return True if ``data`` is a complete, valid UTF-8 string.

    ``data`` is any C-contiguous bytes-like object (bytes, bytearray,
    memoryview). Raises ``BufferError`` when it is not C-contiguous and
    ``TypeError`` when it is not bytes-like.
    """
    return _advance_object(ACCEPTED, data) == ACCEPTED


cdef class Utf8Validator:
    """Incremental UTF-8 validation of a string that arrives in chunks.

    Feed the chunks in order with :meth:`feed`; it answers False at the first
    chunk that contains a byte no valid UTF-8 string could have there, even
    when that chunk begins in the middle of a code point. Once False, always
    False until :meth:`reset`.
    """

    cdef unsigned int _state  # a bit offset, as in TRANSITIONS

    def __init__(self):
        self._state = ACCEPTED

    def feed(self, data, final=False):
        """Validate the next chunk ``data`` (any C-contiguous bytes-like).

        ``final`` (default False) says that this chunk ends the string: a
        code point left incomplete then makes it invalid. Without it, an
        incomplete code point at the end of the chunk is carried over.

        Returns True while everything fed so far can start (or, with
        ``final``, is) a valid UTF-8 string. Raises ``BufferError`` when
        ``data`` is not C-contiguous and ``TypeError`` when it is not
        bytes-like.
        """
        cdef unsigned int state = _advance_object(self._state, data)
        if final and state != ACCEPTED:
            state = REJECTED
        self._state = state
        return state != REJECTED

    def reset(self):
        """Forget everything fed so far: the next chunk starts a new string."""
        self._state = ACCEPTED
