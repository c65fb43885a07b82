"""
The exceptions of the legacy implementation, with the API of
``websockets.legacy.exceptions``.
"""

from __future__ import annotations

import http

from ..datastructures import Headers
from ..exceptions import InvalidHandshake, InvalidMessage
from ..exceptions import ProtocolError as WebSocketProtocolError

__all__ = ["InvalidStatusCode", "AbortHandshake", "RedirectHandshake", "InvalidMessage", "WebSocketProtocolError"]


class InvalidStatusCode(InvalidHandshake):
    """The server answered the handshake with another status than 101."""

    def __init__(self, status_code, headers):
        self.status_code = status_code
        self.headers = headers

    def __str__(self):
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

    def __init__(self, status, headers, body=b""):
        self.status = http.HTTPStatus(status)
        self.headers = Headers(headers)
        self.body = body

    def __str__(self):
        return f"HTTP {self.status:d}, {len(self.headers)} headers, {len(self.body)} bytes"


class RedirectHandshake(InvalidHandshake):
    """The server redirected the handshake to :attr:`uri`; ``connect()`` follows it."""

    def __init__(self, uri):
        self.uri = uri

    def __str__(self):
        return f"redirect to {self.uri}"
