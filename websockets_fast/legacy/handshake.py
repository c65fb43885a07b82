"""
Handshake headers for code written against ``websockets.legacy.handshake``:
:func:`build_request`, :func:`check_request`, :func:`build_response`,
:func:`check_response`.

The checks are those of the package's Sans-I/O client and server
(:class:`~websockets_fast.client.ClientProtocol`,
:class:`~websockets_fast.server.ServerProtocol`), run on the headers alone.
"""

from __future__ import annotations

from ..client import ClientProtocol
from ..datastructures import Headers
from ..headers import accept_key, generate_key
from ..http11 import Request, Response
from ..server import ServerProtocol
from ..uri import parse_uri

__all__ = ["build_request", "check_request", "build_response", "check_response"]


def build_request(headers: Headers) -> str:
    """Add the handshake request headers to ``headers``; return the key."""
    key = generate_key()
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Key"] = key
    headers["Sec-WebSocket-Version"] = "13"
    return key


def check_request(headers: Headers) -> str:
    """
    Check the handshake request headers; return the key.

    Raises:
        InvalidHandshake: the headers aren't a valid handshake request.
    """
    # Nothing configured: the server only checks the upgrade headers.
    ServerProtocol().process_request(Request("/", headers))
    return headers["Sec-WebSocket-Key"]


def build_response(headers: Headers, key: str) -> None:
    """Add the handshake response headers, for ``key``, to ``headers``."""
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Accept"] = accept_key(key)


def check_response(headers: Headers, key: str) -> None:
    """
    Check the handshake response headers against the request's ``key``.

    Raises:
        InvalidHandshake: the headers aren't a valid handshake response.
    """
    client = ClientProtocol(parse_uri("ws://localhost/"))
    client.key = key
    # Extensions and subprotocol are the caller's to negotiate.
    headers = headers.copy()
    for name in ("Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"):
        if name in headers:
            del headers[name]
    client.process_response(Response(101, "Switching Protocols", headers))
