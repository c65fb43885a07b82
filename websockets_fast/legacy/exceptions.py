"""
The exceptions of the legacy implementation, with the API of
``websockets.legacy.exceptions``.
"""

from __future__ import annotations

import http
from typing import Optional

from ..datastructures import Headers, HeadersLike
from ..exceptions import InvalidHandshake, InvalidMessage
from ..exceptions import ProtocolError as WebSocketProtocolError

__all__ = ["InvalidStatusCode", "AbortHandshake", "RedirectHandshake", "InvalidMessage", "WebSocketProtocolError"]


class InvalidStatusCode(InvalidHandshake):
    """The server answered the handshake with another status than 101."""

    def __init__(self, status_code: int, headers: Headers) -> None:
        self.status_code = status_code
        self.headers = headers

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.status_code}"


class AbortHandshake(InvalidHandshake):
    """
    Raised to send an HTTP response instead of opening the connection.

    ``process_request`` returning ``(status, headers, body)`` has the same
    effect; the server turns this exception into that response.

    Attributes:
        status (~http.HTTPStatus): status code.
        headers (Headers): response headers.
        body (bytes): response body.
    """

    def __init__(self, status: http.HTTPStatus | int, headers: HeadersLike, body: bytes = b"") -> None:
        self.status = http.HTTPStatus(status)
        self.headers = Headers(headers)
        self.body = body

    def __str__(self) -> str:
        return f"HTTP {self.status:d}, {len(self.headers)} headers, {len(self.body)} bytes"


class RedirectHandshake(InvalidHandshake):
    """The server redirected the handshake to :attr:`uri`; ``connect()`` follows it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __str__(self) -> str:
        return f"redirect to {self.uri}"
