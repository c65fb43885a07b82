"""HTTP/1.1 request and response heads (RFC 9112), parsed with hard limits, pure Python.

Twin of the compiled :mod:`websockets_fast._speedups.http`: same arguments,
same results, same exceptions (and the same messages).

Both functions take the bytes received so far and return None until the
head is complete, so that the caller can feed them again as more arrives.
Each line, CRLF included, is at most ``max_line`` bytes: a longer line is
rejected as soon as ``max_line`` bytes of it have arrived without its LF, so
no scan goes further than the limits allow. A head has at most
``max_headers`` header fields.

Rejected with ``HTTPParseError``: a line ending in a bare LF, obs-fold (a
header line starting with a space or tab), a header line without a colon, a
name that is not a token, a control character in a value or in the reason
phrase, a version other than HTTP/1.1 or HTTP/1.0, a method that is not a
token, a target with a space or a control character or non-ASCII, a status
code that is not 3 digits between 100 and 599. ``HTTPLimitError`` (a
subclass) for a line or a header count over the limits.
"""

from __future__ import annotations

import operator
import re
from typing import List, Optional, Tuple, Union

from .._speedups import HTTPLimitError, HTTPParseError

__all__ = ["parse_request", "parse_response"]

_Buffer = Union[bytes, bytearray, memoryview]
_Headers = List[Tuple[str, str]]

_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
# Request targets are visible ASCII: URIs are percent-encoded (RFC 3986).
_TARGET = re.compile(rb"[\x21-\x7e]+")
# Field values and reason phrases: HTAB, SP, VCHAR and obs-text.
_TEXT = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_STATUS = re.compile(rb"[0-9]{3}")
_VERSIONS = (b"HTTP/1.1", b"HTTP/1.0")


def _show(raw: _Buffer) -> str:
    # Enough of the offending bytes to debug, readable whatever they are.
    # repr() escapes control characters and non-ASCII bytes alike.
    return repr(bytes(raw[:80]))[2:-1]


def _limits(max_line: int, max_headers: int) -> Tuple[int, int]:
    max_line = operator.index(max_line)
    max_headers = operator.index(max_headers)
    if max_line < 1:
        raise ValueError("max_line must be >= 1")
    if max_headers < 0:
        raise ValueError("max_headers must be >= 0")
    return max_line, max_headers


def _prepare(data: _Buffer) -> _Buffer:
    """Return ``data`` as bytes or bytearray, or as a flat memoryview."""
    if type(data) is bytes or type(data) is bytearray:
        return data
    view = memoryview(data)
    if not view.c_contiguous:
        # An empty buffer counts as contiguous whatever its strides, as the
        # buffer protocol's own check (PyBuffer_IsContiguous) has it.
        if view.nbytes:
            raise BufferError("buffer is not C-contiguous")
        return b""
    return view.cast("B")


def _text(raw: Union[bytes, bytearray]) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return raw.decode("ascii", "surrogateescape")


class _Lines:
    """Cuts CRLF-terminated lines out of ``data``, enforcing ``max_line``."""

    __slots__ = ("data", "position", "max_line")

    def __init__(self, data: _Buffer, max_line: int) -> None:
        self.data = data
        self.position = 0
        self.max_line = max_line

    def next(self) -> Optional[Union[bytes, bytearray]]:
        """The next line without its CRLF, or None if it is not complete yet."""
        data = self.data
        start = self.position
        if type(data) is memoryview:
            # A view has no find(): copy what this line may span, no more.
            window = data[start : start + self.max_line].tobytes()
            data, start = window, 0
            end = window.find(b"\n")
            available = len(window)
        else:
            end = data.find(b"\n", start, start + self.max_line)
            available = len(data) - start
        if end < 0:
            if available >= self.max_line:
                raise HTTPLimitError(f"line longer than {self.max_line} bytes")
            return None
        if end == start or data[end - 1] != 13:
            raise HTTPParseError("line ending in a bare LF")
        self.position += end + 1 - start
        return data[start : end - 1]


def _parse_headers(lines: _Lines, max_headers: int) -> Optional[_Headers]:
    """Parse header fields up to the empty line: a list, or None if incomplete."""
    headers: _Headers = []
    while True:
        line = lines.next()
        if line is None:
            return None
        if not line:
            return headers
        if len(headers) == max_headers:
            raise HTTPLimitError(f"more than {max_headers} header fields")
        if line[0] in b" \t":
            raise HTTPParseError("obsolete line folding is not supported")
        colon = line.find(b":")
        if colon < 0:
            raise HTTPParseError(f"header line without a colon: {_show(line)}")
        name = line[:colon]
        if _TOKEN.fullmatch(name) is None:
            raise HTTPParseError(f"invalid header name: {_show(name)}")
        value = line[colon + 1 :].strip(b" \t")
        if _TEXT.fullmatch(value) is None:
            raise HTTPParseError(f"invalid character in header value: {_show(value)}")
        headers.append((name.decode("ascii"), _text(value)))


def parse_request(
    data: _Buffer, max_line: int = 8192, max_headers: int = 128
) -> Optional[Tuple[str, str, str, _Headers, int]]:
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
    max_line, max_headers = _limits(max_line, max_headers)
    lines = _Lines(_prepare(data), max_line)
    line = lines.next()
    if line is None:
        return None
    first = line.find(b" ")
    second = line.find(b" ", first + 1) if first >= 0 else -1
    if second < 0:
        raise HTTPParseError(f"invalid request line: {_show(line)}")
    method = line[:first]
    target = line[first + 1 : second]
    version = line[second + 1 :]
    if _TOKEN.fullmatch(method) is None:
        raise HTTPParseError(f"invalid method: {_show(method)}")
    if _TARGET.fullmatch(target) is None:
        raise HTTPParseError(f"invalid request target: {_show(target)}")
    if version not in _VERSIONS:
        raise HTTPParseError(f"unsupported HTTP version: {_show(version)}")
    headers = _parse_headers(lines, max_headers)
    if headers is None:
        return None
    return method.decode("ascii"), target.decode("ascii"), version.decode("ascii"), headers, lines.position


def parse_response(
    data: _Buffer, max_line: int = 8192, max_headers: int = 128
) -> Optional[Tuple[str, int, str, _Headers, int]]:
    """Parse the head of an HTTP/1.1 response from the bytes received so far.

    Arguments are those of :func:`parse_request`. Returns None until the head
    is complete, then ``(version, status_code, reason, headers,
    head_length)``: the status code is an int, the reason a string decoded
    as ASCII with ``surrogateescape`` (empty when the status line stops
    after the code).
    """
    max_line, max_headers = _limits(max_line, max_headers)
    lines = _Lines(_prepare(data), max_line)
    line = lines.next()
    if line is None:
        return None
    first = line.find(b" ")
    if first < 0:
        raise HTTPParseError(f"invalid status line: {_show(line)}")
    second = line.find(b" ", first + 1)
    if second < 0:
        second = len(line)
    version = line[:first]
    status = line[first + 1 : second]
    reason = line[second + 1 :]
    if version not in _VERSIONS:
        raise HTTPParseError(f"unsupported HTTP version: {_show(version)}")
    if _STATUS.fullmatch(status) is None:
        raise HTTPParseError(f"invalid status code: {_show(status)}")
    status_code = int(status)
    if not 100 <= status_code <= 599:
        raise HTTPParseError(f"status code out of range: {status_code}")
    if _TEXT.fullmatch(reason) is None:
        raise HTTPParseError(f"invalid reason phrase: {_show(reason)}")
    headers = _parse_headers(lines, max_headers)
    if headers is None:
        return None
    return version.decode("ascii"), status_code, _text(reason), headers, lines.position
