"""HTTP/1.1 requests and responses of the WebSocket opening handshake.

:class:`Request` and :class:`Response` are the handshake events. The
incremental parsers :class:`RequestParser` and :class:`ResponseParser` turn
bytes received in any number of pieces into those events, within hard limits:

``WEBSOCKETS_MAX_LINE_LENGTH`` (default 8192 bytes)
    longest request line, status line or header line;
``WEBSOCKETS_MAX_NUM_HEADERS`` (default 128)
    most header lines in a request or response;
``WEBSOCKETS_MAX_BODY_SIZE`` (default 1 MiB)
    largest body of a response that rejects the upgrade (an error page).

Set these environment variables before importing websockets_fast to change
the limits; they are read once, into the module constants below, as in
websockets. A parser never holds more than
``MAX_LINE_LENGTH * (MAX_NUM_HEADERS + 2)`` bytes of a head, plus the body of
an error response.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import warnings
from typing import Any, Callable, Generator, List, Optional, Tuple, Type, Union

from . import speedups
from .datastructures import Headers
from .exceptions import (
    HeaderLineTooLong,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from .version import version as websockets_fast_version

__all__ = [
    "SERVER",
    "USER_AGENT",
    "MAX_LINE_LENGTH",
    "MAX_NUM_HEADERS",
    "MAX_BODY_SIZE",
    "Request",
    "Response",
    "RequestParser",
    "ResponseParser",
]

PYTHON_VERSION = "{}.{}".format(*sys.version_info)

USER_AGENT = os.environ.get("WEBSOCKETS_USER_AGENT", f"Python/{PYTHON_VERSION} websockets_fast/{websockets_fast_version}")
"""Default ``User-Agent`` header of handshake requests (``WEBSOCKETS_USER_AGENT``)."""

SERVER = os.environ.get("WEBSOCKETS_SERVER", f"Python/{PYTHON_VERSION} websockets_fast/{websockets_fast_version}")
"""Default ``Server`` header of handshake responses (``WEBSOCKETS_SERVER``)."""

MAX_LINE_LENGTH = int(os.environ.get("WEBSOCKETS_MAX_LINE_LENGTH", "8192"))
"""Longest line of a head, in bytes (``WEBSOCKETS_MAX_LINE_LENGTH``)."""

MAX_NUM_HEADERS = int(os.environ.get("WEBSOCKETS_MAX_NUM_HEADERS", "128"))
"""Most header lines in a head (``WEBSOCKETS_MAX_NUM_HEADERS``)."""

MAX_BODY_SIZE = int(os.environ.get("WEBSOCKETS_MAX_BODY_SIZE", "1048576"))
"""Largest response body, in bytes (``WEBSOCKETS_MAX_BODY_SIZE``)."""


# Dataclasses, as in websockets, so that hooks can use dataclasses.replace().
# No slots: as in websockets, a hook may annotate a request (request.user =
# ...). The asyncio connection keeps only their bytes once open anyway.


@dataclasses.dataclass
class Request:
    """
    A handshake request.

    Args:
        path: request target: path and optional query, not URL-decoded.
        headers: request headers.
        method: request method; default ``"GET"``, the only one WebSocket uses.
        protocol: HTTP version; default ``"HTTP/1.1"``.

    ``method`` and ``path`` are ASCII. Header values received from the network
    with bytes outside ASCII hold them as ISO-8859-1 characters.
    """

    path: str
    headers: Headers
    method: str = "GET"
    protocol: str = "HTTP/1.1"
    _exception: Optional[Exception] = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def exception(self) -> Optional[Exception]:  # pragma: no cover - deprecated
        warnings.warn("Request.exception is deprecated; use ServerProtocol.handshake_exc instead", DeprecationWarning)
        return self._exception

    @classmethod
    def parse(
        cls,
        read_line: Callable[[int, Type[Exception]], Generator[None, None, Union[bytes, bytearray]]],
    ) -> Generator[None, None, Request]:
        """
        Read a request with ``read_line``; a generator-based coroutine.

        The protocol parses the head incrementally from whatever bytes arrive;
        this is the same parser for code driving websockets' generator
        readers (such as ``StreamReader.read_line``).

        Args:
            read_line: generator-based coroutine ``read_line(limit,
                too_long_exc_type)`` returning one line with its LF, raising
                ``too_long_exc_type`` when the line would exceed ``limit``
                bytes and :exc:`EOFError` when the stream ends first.

        Raises:
            EOFError: if the stream ends before the request is complete.
            SecurityError: if a line is too long or there are too many
                headers.
            ValueError: if the request is malformed.
            NotImplementedError: if the request has a ``Transfer-Encoding``.
        """
        parser = RequestParser()
        result: Optional[Tuple[Request, bytes]] = yield from _read_head_line(parser, read_line, True)
        while result is None:
            result = yield from _read_head_line(parser, read_line, False)
        return result[0]

    def serialize(self) -> bytes:
        """Return the request head as bytes, ready to send."""
        # The request line must be ASCII: a non-ASCII path raises here rather
        # than reaching the network.
        return f"{self.method} {self.path} {self.protocol}\r\n".encode("ascii") + self.headers.serialize()


@dataclasses.dataclass
class Response:
    """
    A handshake response.

    Args:
        status_code: HTTP status code, 101 to accept the upgrade.
        reason_phrase: reason phrase of the status line.
        headers: response headers.
        body: response body; default empty. Only responses that reject the
            upgrade have one, usually a short error message.
    """

    status_code: int
    reason_phrase: str
    headers: Headers
    body: Union[bytes, bytearray] = b""
    _exception: Optional[Exception] = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def exception(self) -> Optional[Exception]:  # pragma: no cover - deprecated
        warnings.warn("Response.exception is deprecated; use ClientProtocol.handshake_exc instead", DeprecationWarning)
        return self._exception

    @classmethod
    def parse(
        cls,
        read_line: Callable[[int, Type[Exception]], Generator[None, None, Union[bytes, bytearray]]],
        read_exact: Callable[[int], Generator[None, None, Union[bytes, bytearray]]],
        read_to_eof: Callable[[int, Type[Exception]], Generator[None, None, Union[bytes, bytearray]]],
        proxy: bool = False,
    ) -> Generator[None, None, Response]:
        """
        Read a response with generator readers; a generator-based coroutine.

        The head is read line by line; the body, if any, according to
        ``Content-Length``, chunked ``Transfer-Encoding`` or up to the end of
        the stream, at most :data:`MAX_BODY_SIZE` bytes.

        Args:
            read_line: as for :meth:`Request.parse`.
            read_exact: generator-based coroutine returning exactly the
                number of bytes asked for, or raising :exc:`EOFError`.
            read_to_eof: generator-based coroutine ``read_to_eof(limit,
                too_long_exc_type)`` returning the rest of the stream, and
                raising ``too_long_exc_type`` past ``limit`` bytes.
            proxy: parse the answer of a proxy to ``CONNECT``: accept
                HTTP/1.0 and read no body; default False.

        Raises:
            EOFError: if the stream ends before the response is complete.
            SecurityError: if a line is too long, there are too many headers,
                or the body is too large.
            ValueError: if the response is malformed.
            NotImplementedError: for a transfer coding other than chunked.
        """
        parser = ResponseParser(proxy=proxy)
        result: Optional[Tuple[Response, bytes]] = yield from _read_head_line(parser, read_line, True)
        while result is None and parser._state == _HEAD:
            result = yield from _read_head_line(parser, read_line, False)
        # The parser's state says what part of the body comes next.
        while result is None:
            state = parser._state
            if state == _LENGTH or state == _CHUNK_DATA:
                result = parser.feed(bytes((yield from read_exact(parser._remaining))))
            elif state == _CHUNK_END:
                result = parser.feed(bytes((yield from read_exact(2))))
            elif state == _TO_EOF:
                parser.feed(bytes((yield from read_to_eof(parser.max_body, SecurityError))))
                return parser.feed_eof()
            else:  # a chunk size or trailer line
                result = parser.feed(bytes((yield from read_line(parser.max_line, SecurityError))))
        return result[0]

    def serialize(self) -> bytes:
        """Return the status line, headers and body as bytes, ready to send."""
        # ISO-8859-1 round-trips a reason phrase received with non-ASCII bytes.
        status_line = f"HTTP/1.1 {self.status_code} {self.reason_phrase}\r\n".encode("iso-8859-1")
        return status_line + self.headers.serialize() + self.body


def _display(data: Union[bytes, bytearray]) -> str:
    """Decode bytes for an error message without ever failing."""
    return bytes(data).decode(errors="backslashreplace")


class _HeadParser:
    """
    Collects the bytes of an HTTP head until it is complete, then parses it.

    The compiled parser (``speedups.parse_request``/``parse_response``)
    validates the whole head at once. Calling it on every piece of a head that
    trickles in byte by byte would cost quadratic time, so between calls this
    class follows the lines as they arrive and calls the parser only when the
    head is complete, when a line breaks a framing rule (bare LF, overlong
    line, too many lines: reported as soon as the offending byte arrives), or
    when the count of complete lines reaches a power of two (so that a
    malformed line is reported early, at a linear total cost).
    """

    __slots__ = ("max_line", "max_headers", "_buffer", "_scanned", "_searched", "_lines")

    # Raised when the first line is too long; set by subclasses.
    first_line_too_long = SecurityError

    def __init__(self, max_line: Optional[int] = None, max_headers: Optional[int] = None) -> None:
        self.max_line = MAX_LINE_LENGTH if max_line is None else max_line
        self.max_headers = MAX_NUM_HEADERS if max_headers is None else max_headers
        # Bytes of an incomplete head, the offset of the first line not yet
        # checked, how far that line is known to hold no LF (so that a line
        # trickling in byte by byte is searched once, not once per byte),
        # and how many complete lines precede it.
        self._buffer = bytearray()
        self._scanned = 0
        self._searched = 0
        self._lines = 0

    def _parse(self, data: bytes) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _feed_head(self, data: bytes) -> Optional[Tuple[Any, int, bytes]]:
        """
        Add bytes; return ``(parsed head, head length, bytes)`` or None.

        ``bytes`` is what the head was parsed from: slice it at the head
        length to get the bytes that followed the head.
        """
        buffer = self._buffer
        if not buffer:
            # Fast path: the whole head in one piece, the usual case.
            if b"\r\n\r\n" in data:
                parsed = self._parse(data)
                if parsed is not None:
                    return parsed, parsed[-1], data
            elif data[:2] == b"\r\n":
                self._parse(data)  # an empty first line: let the parser say why it is invalid
        buffer += data
        if self._must_parse():
            parsed = self._parse(bytes(buffer))
            if parsed is not None:
                self._buffer = bytearray()
                return parsed, parsed[-1], bytes(buffer)
        if len(buffer) > self.max_line * (self.max_headers + 2):
            # Unreachable when the parser enforces its limits; a hard stop anyway.
            raise TooManyHeaders(f"HTTP head exceeds {self.max_line * (self.max_headers + 2)} bytes")
        return None

    def _must_parse(self) -> bool:
        """Tell whether the bytes seen so far end the head or break a rule."""
        buffer = self._buffer
        max_line = self.max_line
        while True:
            end = buffer.find(b"\n", max(self._scanned, self._searched))
            if end == -1:
                self._searched = len(buffer)
                # An unfinished line already too long, even without its CRLF.
                return len(buffer) - self._scanned >= max_line
            length = end + 1 - self._scanned
            if end == 0 or buffer[end - 1] != 0x0D or length > max_line or self._lines > self.max_headers:
                return True  # bare LF, overlong line or too many lines
            if length == 2:
                return True  # the empty line that ends the head
            self._lines += 1
            self._scanned = end + 1
            if self._lines & (self._lines - 1) == 0:
                # After 1, 2, 4, 8... complete lines, let the parser check
                # them: a malformed line is reported without waiting for the
                # end of the head, and the total parsing work stays linear.
                return True

    def _limit_error(self, data: bytes, exc: Exception) -> SecurityError:
        """Turn the parser's limit error into the exception websockets raises."""
        # Walk the lines in the parser's order to find the one it stopped at:
        # a line without LF within max_line bytes is too long; a header line
        # past max_headers is one too many.
        max_line = self.max_line
        message = str(exc)
        end = data.find(b"\n", 0, max_line)
        if end < 0:
            return self.first_line_too_long(message)
        count = 0
        while True:
            start = end + 1
            end = data.find(b"\n", start, start + max_line)
            if end < 0 or end - start == 1:
                return HeaderLineTooLong(message)
            if count == self.max_headers:
                return TooManyHeaders(message)
            count += 1

    def _eof_error(self, what: str) -> EOFError:
        buffer = self._buffer
        if buffer.find(b"\r\n") == -1:
            return EOFError(f"connection closed while reading HTTP {what} line")
        return EOFError("connection closed while reading HTTP headers")


def _headers(pairs: List[Tuple[str, str]], head: bytes) -> Headers:
    """Build :class:`Headers` from parsed pairs."""
    if not head.isascii():
        # The parser hands non-ASCII bytes back as surrogate escapes; Headers
        # holds them as ISO-8859-1, which round-trips and never fails to encode.
        pairs = [
            (name, value if value.isascii() else value.encode("ascii", "surrogateescape").decode("iso-8859-1"))
            for name, value in pairs
        ]
    return Headers._from_parsed(pairs)


def _read_head_line(
    parser: Union[RequestParser, ResponseParser],
    read_line: Callable[[int, Type[Exception]], Generator[None, None, Union[bytes, bytearray]]],
    first: bool,
) -> Generator[None, None, Any]:
    """Read one line of a head for the ``parse()`` classmethods and feed it to ``parser``."""
    try:
        line = yield from read_line(parser.max_line, parser.first_line_too_long if first else HeaderLineTooLong)
    except EOFError:
        parser.feed_eof()  # raises the EOFError that says where the head stopped
        raise
    return parser.feed(bytes(line))


class RequestParser(_HeadParser):
    """
    Incremental parser of a handshake request, for servers.

    Args:
        max_line: longest line in bytes; default :data:`MAX_LINE_LENGTH`.
        max_headers: most header lines; default :data:`MAX_NUM_HEADERS`.

    :meth:`feed` raises :exc:`RequestLineTooLong`, :exc:`HeaderLineTooLong`
    or :exc:`TooManyHeaders` when a limit is exceeded, :exc:`ValueError` for
    a malformed request, :exc:`NotImplementedError` for a request with a
    ``Transfer-Encoding``; :meth:`feed_eof` raises :exc:`EOFError`.
    """

    __slots__ = ()

    first_line_too_long = RequestLineTooLong

    def _parse(self, data: bytes) -> Optional[Tuple[str, str, str, List[Tuple[str, str]], int]]:
        try:
            return speedups.parse_request(data, self.max_line, self.max_headers)
        except speedups.HTTPLimitError as exc:
            raise self._limit_error(data, exc) from None

    def feed(self, data: bytes) -> Optional[Tuple[Request, bytes]]:
        """
        Add received bytes; return ``(request, following bytes)`` once complete.

        Returns None while the head is incomplete. The following bytes are
        whatever arrived after the head (frames sent without waiting).
        """
        result = self._feed_head(data)
        if result is None:
            return None
        (method, target, version, pairs, head_length), _, head = result
        if version != "HTTP/1.1" and version != "HTTP/1.0":
            raise ValueError(f"unsupported protocol; expected HTTP/1.1 or HTTP/1.0: {version}")
        headers = _headers(pairs, head[:head_length])
        # A handshake request has no body (RFC 6455 section 4.1).
        if "Transfer-Encoding" in headers:
            raise NotImplementedError("transfer codings aren't supported")
        # Some clients send Content-Length: 0; any other length is a body.
        if not set(headers.get_all("Content-Length")) <= {"0"}:
            raise ValueError("unsupported request body")
        return Request(target, headers, method, version), head[head_length:]

    def feed_eof(self) -> None:
        """Report the end of the stream; always raises :exc:`EOFError`."""
        raise self._eof_error("request")


_DIGITS = re.compile(rb"[0-9]{1,18}")
_HEX_DIGITS = re.compile(rb"[0-9a-fA-F]{1,15}")

# Where ResponseParser is.
_HEAD, _LENGTH, _TO_EOF, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _DONE = range(8)


class ResponseParser(_HeadParser):
    """
    Incremental parser of a handshake response, for clients.

    Args:
        max_line: longest line in bytes; default :data:`MAX_LINE_LENGTH`.
        max_headers: most header lines; default :data:`MAX_NUM_HEADERS`.
        max_body: largest body in bytes; default :data:`MAX_BODY_SIZE`.
        proxy: parse the answer of a proxy to ``CONNECT``: accept HTTP/1.0
            and read no body; default False.

    A response that rejects the upgrade carries a body, read according to
    ``Content-Length``, chunked ``Transfer-Encoding`` or to the end of the
    stream, at most ``max_body`` bytes. A 101 response has none: what follows
    its head are WebSocket frames.

    :meth:`feed` and :meth:`feed_eof` raise :exc:`StatusLineTooLong`,
    :exc:`HeaderLineTooLong` or :exc:`TooManyHeaders` when a limit is
    exceeded, :exc:`SecurityError` for a body too large or a bad length,
    :exc:`ValueError` for a malformed response, :exc:`NotImplementedError` for
    a transfer coding other than chunked, :exc:`EOFError` when the stream ends
    early.
    """

    __slots__ = ("max_body", "proxy", "_state", "_response", "_pending", "_body", "_remaining")

    first_line_too_long = StatusLineTooLong

    def __init__(
        self,
        max_line: Optional[int] = None,
        max_headers: Optional[int] = None,
        max_body: Optional[int] = None,
        proxy: bool = False,
    ) -> None:
        super().__init__(max_line, max_headers)
        self.max_body = MAX_BODY_SIZE if max_body is None else max_body
        self.proxy = proxy
        self._state = _HEAD
        self._response: Optional[Response] = None
        # Body bytes not yet consumed, the body so far, and how many bytes
        # of the body or of the current chunk are still expected.
        self._pending = bytearray()
        self._body = bytearray()
        self._remaining = 0

    def _parse(self, data: bytes) -> Optional[Tuple[str, int, str, List[Tuple[str, str]], int]]:
        try:
            return speedups.parse_response(data, self.max_line, self.max_headers)
        except speedups.HTTPLimitError as exc:
            raise self._limit_error(data, exc) from None

    def feed(self, data: bytes) -> Optional[Tuple[Response, bytes]]:
        """
        Add received bytes; return ``(response, following bytes)`` once complete.

        Returns None while the response is incomplete. The following bytes are
        whatever arrived after the response: frames after a 101.
        """
        if self._state == _HEAD:
            result = self._feed_head(data)
            if result is None:
                return None
            (version, status_code, reason, pairs, head_length), _, head = result
            self._start_body(version, status_code, reason, _headers(pairs, head[:head_length]))
            data = head[head_length:]
            if self._state == _DONE:
                return self._response, data  # type: ignore[return-value]
        elif self._state == _DONE:
            raise RuntimeError("the response is already complete")
        self._pending += data
        return self._read_body()

    def feed_eof(self) -> Response:
        """Report the end of the stream; return the response it completes."""
        if self._state == _HEAD:
            raise self._eof_error("status")
        if self._state == _TO_EOF:
            self._state = _DONE
            self._response.body = bytes(self._body)  # type: ignore[union-attr]
            return self._response  # type: ignore[return-value]
        if self._state == _DONE:
            return self._response  # type: ignore[return-value]
        raise EOFError(f"connection closed while reading HTTP body after {len(self._body)} bytes")

    def _start_body(self, version: str, status_code: int, reason: str, headers: Headers) -> None:
        if version != "HTTP/1.1" and not (self.proxy and version == "HTTP/1.0"):
            raise ValueError(f"unsupported protocol; expected HTTP/1.1: {version}")
        if not 100 <= status_code < 600:
            raise ValueError(f"invalid status code; expected 100–599; got {status_code}")
        if not reason.isascii():
            reason = reason.encode("ascii", "surrogateescape").decode("iso-8859-1")
        self._response = Response(status_code, reason, headers)
        self._buffer = bytearray()  # the head is no longer needed
        # Only GET is sent, so every response has a body except 1xx, 204,
        # 304 (RFC 9112 section 6.3); a proxy's answer to CONNECT has none.
        if self.proxy or 100 <= status_code < 200 or status_code == 204 or status_code == 304:
            self._state = _DONE
            return
        coding = headers.get("Transfer-Encoding")
        if coding is not None:
            if coding != "chunked":
                raise NotImplementedError(f"transfer coding {coding} isn't supported")
            self._state = _CHUNK_SIZE
            return
        length = headers.get("Content-Length")
        if length is not None:
            if not _DIGITS.fullmatch(length.encode("iso-8859-1")):
                raise SecurityError(f"invalid content length: {length}")
            self._remaining = int(length)
            if self._remaining > self.max_body:
                raise SecurityError(f"body too large: {self._remaining} bytes")
            self._state = _LENGTH
            return
        self._state = _TO_EOF

    def _read_body(self) -> Optional[Tuple[Response, bytes]]:
        pending = self._pending
        while True:
            state = self._state
            if state == _TO_EOF:
                self._body += pending
                pending.clear()
                if len(self._body) > self.max_body:
                    raise SecurityError(f"read {len(self._body)} bytes, expected no more than {self.max_body} bytes")
                return None
            if state == _LENGTH or state == _CHUNK_DATA:
                taken = pending[: self._remaining]
                del pending[: self._remaining]
                self._body += taken
                self._remaining -= len(taken)
                if self._remaining:
                    return None
                if state == _CHUNK_DATA:
                    self._state = _CHUNK_END
                    continue
                return self._finish()
            if state == _CHUNK_END:
                if len(pending) < 2:
                    return None
                if pending[:2] != b"\r\n":
                    raise ValueError("chunk without CRLF")
                del pending[:2]
                self._state = _CHUNK_SIZE
                continue
            # _CHUNK_SIZE and _TRAILER read one line at a time.
            end = pending.find(b"\r\n", 0, self.max_line)
            if end == -1:
                if len(pending) >= self.max_line:
                    raise SecurityError(f"line exceeds limit of {self.max_line} bytes in chunked body")
                return None
            line = bytes(pending[:end])
            del pending[: end + 2]
            if state == _CHUNK_SIZE:
                size = line.split(b";", 1)[0]
                if not _HEX_DIGITS.fullmatch(size):
                    raise SecurityError(f"invalid chunk size: {_display(size)}")
                self._remaining = int(size, 16)
                if self._remaining == 0:
                    self._state = _TRAILER
                    self._lines = 0
                elif len(self._body) + self._remaining > self.max_body:
                    raise SecurityError(f"chunk too large: {self._remaining} bytes after {len(self._body)} bytes")
                else:
                    self._state = _CHUNK_DATA
            elif line:  # a trailer field: checked for shape, then dropped
                self._lines += 1
                if self._lines > self.max_headers:
                    raise TooManyHeaders(f"expected no more than {self.max_headers} trailer fields")
                if b":" not in line:
                    raise ValueError(f"invalid HTTP trailer line: {_display(line)}")
            else:
                return self._finish()

    def _finish(self) -> Tuple[Response, bytes]:
        self._state = _DONE
        response = self._response
        response.body = bytes(self._body)  # type: ignore[union-attr]
        following = bytes(self._pending)
        self._pending = bytearray()
        self._body = bytearray()
        return response, following  # type: ignore[return-value]
