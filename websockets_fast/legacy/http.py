"""
HTTP heads read from an :class:`asyncio.StreamReader`, for code written
against ``websockets.legacy.http``: :func:`read_request`,
:func:`read_response`, :func:`read_headers`, :func:`read_line`.

Lines are collected within ``MAX_LINE_LENGTH`` and ``MAX_NUM_HEADERS``, then
parsed by the package's HTTP parser (compiled), as the connections do. The
legacy connection itself doesn't use this module.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Tuple

from .._speedups import HTTPLimitError, HTTPParseError
from ..datastructures import Headers
from ..exceptions import SecurityError
from ..http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS, _headers
from ..speedups import parse_request, parse_response

__all__ = ["read_request", "read_response", "read_headers", "read_line", "MAX_LINE_LENGTH", "MAX_NUM_HEADERS"]


async def read_line(stream: asyncio.StreamReader) -> bytes:
    """
    Read one CRLF-terminated line; return it without its CRLF.

    Raises:
        EOFError: the stream ended first.
        SecurityError: the line is longer than ``MAX_LINE_LENGTH``.
        ValueError: the line doesn't end with CRLF.
    """
    try:
        line = await stream.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        raise EOFError("line without CRLF") from exc
    except asyncio.LimitOverrunError as exc:
        raise SecurityError("line too long") from exc
    if len(line) > MAX_LINE_LENGTH:
        raise SecurityError("line too long")
    if not line.endswith(b"\r\n"):
        raise ValueError("line without CRLF")
    return line[:-2]


async def _read_head(stream: asyncio.StreamReader) -> bytes:
    lines = [await read_line(stream)]
    while lines[-1] != b"":
        if len(lines) > MAX_NUM_HEADERS + 1:
            raise SecurityError("too many HTTP headers")
        lines.append(await read_line(stream))
    return b"\r\n".join(lines) + b"\r\n"


def _parse(parse: Callable[..., Any], head: bytes) -> Tuple[Any, ...]:
    try:
        *fields, headers, length = parse(head, MAX_LINE_LENGTH, MAX_NUM_HEADERS)
        # Non-ASCII bytes in values become ISO-8859-1, as in the connections.
        return (*fields, _headers(headers, head), length)
    except HTTPLimitError as exc:
        raise SecurityError(str(exc)) from None
    except HTTPParseError as exc:
        raise ValueError(str(exc)) from None


async def read_request(stream: asyncio.StreamReader) -> Tuple[str, Headers]:
    """
    Read an HTTP/1.1 GET request head; return ``(path, headers)``.

    Raises:
        EOFError: the stream ended first.
        SecurityError: a line is too long or there are too many headers.
        ValueError: the request is malformed or isn't an HTTP/1.1 GET.
    """
    method, path, version, headers, _ = _parse(parse_request, await _read_head(stream))
    if method != "GET":
        raise ValueError(f"unsupported HTTP method; expected GET; got {method}")
    if version != "HTTP/1.1":
        raise ValueError(f"unsupported protocol; expected HTTP/1.1: {version}")
    return path, headers


async def read_response(stream: asyncio.StreamReader) -> Tuple[int, str, Headers]:
    """
    Read an HTTP/1.1 response head; return ``(status_code, reason, headers)``.

    The body, if any, is left in ``stream``.

    Raises:
        EOFError: the stream ended first.
        SecurityError: a line is too long or there are too many headers.
        ValueError: the response is malformed or isn't HTTP/1.1.
    """
    version, status_code, reason, headers, _ = _parse(parse_response, await _read_head(stream))
    if version != "HTTP/1.1":
        raise ValueError(f"unsupported protocol; expected HTTP/1.1: {version}")
    return status_code, reason, headers


async def read_headers(stream: asyncio.StreamReader) -> Headers:
    """
    Read header lines up to the blank line; return them as :class:`Headers`.

    Raises:
        EOFError: the stream ended first.
        SecurityError: a line is too long or there are too many headers.
        ValueError: a header line is malformed.
    """
    head = await _read_head(stream)
    # The request parser checks header lines; give it a request line.
    _, _, _, headers, _ = _parse(parse_request, b"GET / HTTP/1.1\r\n" + head)
    return headers  # type: ignore[no-any-return]  # _headers() made it
