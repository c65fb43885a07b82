# cython: language_level=3, binding=False
"""HTTP/1.1 request and response heads (RFC 9112), parsed with hard limits, compiled.

The pure-Python twin is :mod:`websockets_fast._pyspeedups.http`, whose
docstring states the rules; both give the same results and raise the same
exceptions with the same messages.

Lines are found with memchr over at most ``max_line`` bytes, and characters
are checked against 256-entry tables, so a head is scanned once and nothing
is copied except into the strings returned.
"""

# Why a .pyx and a twin, not one pure-Python-mode source (issue 13): the
# twin's idiom is re.match over the head, this file's a pointer walk with
# memchr and a class table; the two share no code to unify. Compiled as it
# is, the twin stays about 10 times slower (bench/micro_frames_http.py
# inputs, best of 7, 2026-12-05): parse_request of the 533 B browser
# request 17,100 ns (twin compiled by Cython) against 1,640 ns here,
# 18,000 ns as Python; parse_response of the 203 B 101 response 7,500 ns
# against 750 ns, 8,100 ns as Python. A single source fast compiled would
# need that byte loop in Python, far slower than the regexes when not
# compiled (PyPy, no compiler).

from cpython.buffer cimport PyBUF_FULL_RO, PyBuffer_IsContiguous, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.string cimport memchr, memcmp

from operator import index as _operator_index

from websockets_fast._speedups import HTTPLimitError, HTTPParseError

__all__ = ["parse_request", "parse_response"]


cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX


# Character classes, one bit each, indexed by byte value.
cdef enum:
    TOKEN = 1  # tchar (RFC 9110, 5.6.2)
    TARGET = 2  # visible ASCII: a request target
    TEXT = 4  # HTAB, SP, VCHAR, obs-text: field values, reason phrases

cdef unsigned char CLASSES[256]


cdef void _init_classes() noexcept:
    cdef int c
    cdef bytes extra = b"!#$%&'*+-.^_`|~"
    for c in range(256):
        CLASSES[c] = 0
        if 0x21 <= c <= 0x7E:
            CLASSES[c] |= TARGET | TEXT
        if c == 0x09 or c == 0x20 or c >= 0x80:
            CLASSES[c] |= TEXT
        if (ord("0") <= c <= ord("9")) or (ord("A") <= c <= ord("Z")) or (ord("a") <= c <= ord("z")):
            CLASSES[c] |= TOKEN
    for c in extra:
        CLASSES[c] |= TOKEN


_init_classes()


cdef bint _all(const unsigned char *p, Py_ssize_t length, unsigned char cls) noexcept:
    cdef Py_ssize_t i
    for i in range(length):
        if not CLASSES[p[i]] & cls:
            return False
    return True


cdef bint _is_ascii(const unsigned char *p, Py_ssize_t length) noexcept:
    cdef Py_ssize_t i
    for i in range(length):
        if p[i] & 0x80:
            return False
    return True


cdef str _show(const unsigned char *p, Py_ssize_t length):
    # Enough of the offending bytes to debug, readable whatever they are.
    if length > 80:
        length = 80
    # repr() escapes control characters and non-ASCII bytes alike.
    cdef str text = repr(PyBytes_FromStringAndSize(<const char *>p, length))
    return text[2 : len(text) - 1]


cdef str _ascii(const unsigned char *p, Py_ssize_t length):
    return PyUnicode_DecodeASCII(<const char *>p, length, NULL)


cdef str _text(const unsigned char *p, Py_ssize_t length):
    if _is_ascii(p, length):
        return PyUnicode_DecodeASCII(<const char *>p, length, NULL)
    return PyUnicode_DecodeASCII(<const char *>p, length, "surrogateescape")


cdef bint _is_version(const unsigned char *p, Py_ssize_t length) noexcept:
    return length == 8 and (memcmp(p, b"HTTP/1.1", 8) == 0 or memcmp(p, b"HTTP/1.0", 8) == 0)


cdef Py_ssize_t _find(const unsigned char *p, Py_ssize_t length, unsigned char c) noexcept:
    cdef const void *found = memchr(p, c, length)
    if found == NULL:
        return -1
    return <const unsigned char *>found - p


cdef struct Lines:
    const unsigned char *data
    Py_ssize_t length
    Py_ssize_t position
    Py_ssize_t max_line


cdef int _next_line(Lines *lines, Py_ssize_t *start, Py_ssize_t *length) except -1:
    """Find the next line: 1 with its bounds (CRLF excluded), 0 if incomplete."""
    cdef Py_ssize_t begin = lines.position
    cdef Py_ssize_t available = lines.length - begin
    cdef Py_ssize_t end
    if available > lines.max_line:
        available = lines.max_line
    end = _find(lines.data + begin, available, b"\n")
    if end < 0:
        if available >= lines.max_line:
            raise HTTPLimitError(f"line longer than {lines.max_line} bytes")
        return 0
    end += begin
    if end == begin or lines.data[end - 1] != b"\r":
        raise HTTPParseError("line ending in a bare LF")
    lines.position = end + 1
    start[0] = begin
    length[0] = end - 1 - begin
    return 1


cdef object _parse_headers(Lines *lines, Py_ssize_t max_headers):
    """Parse header fields up to the empty line: a list, or None if incomplete."""
    cdef list headers = []
    cdef Py_ssize_t start, length, colon, value_start, value_end
    cdef const unsigned char *line
    while True:
        if not _next_line(lines, &start, &length):
            return None
        if length == 0:
            return headers
        if len(headers) == max_headers:
            raise HTTPLimitError(f"more than {max_headers} header fields")
        line = lines.data + start
        if line[0] == b" " or line[0] == b"\t":
            raise HTTPParseError("obsolete line folding is not supported")
        colon = _find(line, length, b":")
        if colon < 0:
            raise HTTPParseError(f"header line without a colon: {_show(line, length)}")
        if colon == 0 or not _all(line, colon, TOKEN):
            raise HTTPParseError(f"invalid header name: {_show(line, colon)}")
        value_start = colon + 1
        value_end = length
        while value_start < value_end and (line[value_start] == b" " or line[value_start] == b"\t"):
            value_start += 1
        while value_end > value_start and (line[value_end - 1] == b" " or line[value_end - 1] == b"\t"):
            value_end -= 1
        if not _all(line + value_start, value_end - value_start, TEXT):
            raise HTTPParseError(
                f"invalid character in header value: {_show(line + value_start, value_end - value_start)}"
            )
        headers.append((_ascii(line, colon), _text(line + value_start, value_end - value_start)))


cdef int _limits(object max_line, object max_headers, Lines *lines, Py_ssize_t *c_max_headers) except -1:
    max_line = _operator_index(max_line)
    max_headers = _operator_index(max_headers)
    if max_line < 1:
        raise ValueError("max_line must be >= 1")
    if max_headers < 0:
        raise ValueError("max_headers must be >= 0")
    # Limits above any possible length behave as that length.
    lines.max_line = PY_SSIZE_T_MAX if max_line > PY_SSIZE_T_MAX else max_line
    c_max_headers[0] = PY_SSIZE_T_MAX if max_headers > PY_SSIZE_T_MAX else max_headers
    return 0


cdef int _get_buffer(object obj, Py_buffer *view) except -1:
    # The same request and the same failure as the twin's memoryview().
    PyObject_GetBuffer(obj, view, PyBUF_FULL_RO)
    if not PyBuffer_IsContiguous(view, b'C'):
        PyBuffer_Release(view)
        raise BufferError("buffer is not C-contiguous")
    return 0


def parse_request(data, max_line=8192, max_headers=128):
    """Parse the head of an HTTP/1.1 request from the bytes received so far.

    ``data`` is any C-contiguous bytes-like object starting with the request
    line. ``max_line`` (default 8192) is the longest line in bytes, CRLF
    included; ``max_headers`` (default 128) the most header fields.

    Returns None until the head is complete, then ``(method, target,
    version, headers, head_length)``: strings, a list of ``(name, value)``
    tuples, and the number of bytes of the head, final CRLF included. Names
    are ASCII, values ASCII with ``surrogateescape`` for other bytes.

    Raises ``HTTPParseError`` for a malformed head, ``HTTPLimitError`` when
    it goes over a limit, ``ValueError`` for a bad limit.
    """
    cdef Lines lines
    cdef Py_ssize_t c_max_headers, start, length, first, second
    cdef const unsigned char *line
    cdef Py_buffer view
    _limits(max_line, max_headers, &lines, &c_max_headers)
    _get_buffer(data, &view)
    try:
        lines.data = <const unsigned char *>view.buf
        lines.length = view.len
        lines.position = 0
        if not _next_line(&lines, &start, &length):
            return None
        line = lines.data + start
        first = _find(line, length, b" ")
        second = _find(line + first + 1, length - first - 1, b" ") if first >= 0 else -1
        if second < 0:
            raise HTTPParseError(f"invalid request line: {_show(line, length)}")
        second += first + 1
        if first == 0 or not _all(line, first, TOKEN):
            raise HTTPParseError(f"invalid method: {_show(line, first)}")
        if second == first + 1 or not _all(line + first + 1, second - first - 1, TARGET):
            raise HTTPParseError(f"invalid request target: {_show(line + first + 1, second - first - 1)}")
        if not _is_version(line + second + 1, length - second - 1):
            raise HTTPParseError(f"unsupported HTTP version: {_show(line + second + 1, length - second - 1)}")
        headers = _parse_headers(&lines, c_max_headers)
        if headers is None:
            return None
        return (
            _ascii(line, first),
            _ascii(line + first + 1, second - first - 1),
            _ascii(line + second + 1, length - second - 1),
            headers,
            lines.position,
        )
    finally:
        PyBuffer_Release(&view)


def parse_response(data, max_line=8192, max_headers=128):
    """Parse the head of an HTTP/1.1 response from the bytes received so far.

    Arguments are those of :func:`parse_request`. Returns None until the head
    is complete, then ``(version, status_code, reason, headers,
    head_length)``: the status code is an int, the reason a string decoded
    as ASCII with ``surrogateescape`` (empty when the status line stops
    after the code).
    """
    cdef Lines lines
    cdef Py_ssize_t c_max_headers, start, length, first, second
    cdef const unsigned char *line
    cdef const unsigned char *status
    cdef int status_code
    cdef Py_buffer view
    _limits(max_line, max_headers, &lines, &c_max_headers)
    _get_buffer(data, &view)
    try:
        lines.data = <const unsigned char *>view.buf
        lines.length = view.len
        lines.position = 0
        if not _next_line(&lines, &start, &length):
            return None
        line = lines.data + start
        first = _find(line, length, b" ")
        if first < 0:
            raise HTTPParseError(f"invalid status line: {_show(line, length)}")
        second = _find(line + first + 1, length - first - 1, b" ")
        second = length if second < 0 else second + first + 1
        if not _is_version(line, first):
            raise HTTPParseError(f"unsupported HTTP version: {_show(line, first)}")
        status = line + first + 1
        if not (
            second - first - 1 == 3
            and b"0" <= status[0] <= b"9"
            and b"0" <= status[1] <= b"9"
            and b"0" <= status[2] <= b"9"
        ):
            raise HTTPParseError(f"invalid status code: {_show(status, second - first - 1)}")
        status_code = (status[0] - 48) * 100 + (status[1] - 48) * 10 + (status[2] - 48)
        if not 100 <= status_code <= 599:
            raise HTTPParseError(f"status code out of range: {status_code}")
        # The reason starts after the second space, if there is one.
        if second < length:
            second += 1
        if not _all(line + second, length - second, TEXT):
            raise HTTPParseError(f"invalid reason phrase: {_show(line + second, length - second)}")
        reason = _text(line + second, length - second)
        headers = _parse_headers(&lines, c_max_headers)
        if headers is None:
            return None
        return _ascii(line, first), status_code, reason, headers, lines.position
    finally:
        PyBuffer_Release(&view)
