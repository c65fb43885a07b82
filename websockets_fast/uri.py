"""Parsing of ``ws://`` and ``wss://`` URIs."""

from __future__ import annotations

import dataclasses
import sys
import urllib.parse
from typing import Optional, Tuple

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]

# gen-delims and sub-delims (RFC 3986 section 2.2): left as they are when
# percent-encoding the path and query of an IRI.
_DELIMITERS = ":/?#[]@!$&'()*+,;="


# A dataclass, as in websockets (dataclasses.replace() works); slots where
# Python supports them with dataclasses (3.10+).
# (Options rather than two decorators, so that type checkers see the dataclass.)
_dataclass_options = {"slots": True} if sys.version_info >= (3, 10) else {}


@dataclasses.dataclass(repr=False, **_dataclass_options)
class WebSocketURI:
    """
    A parsed WebSocket URI.

    Attributes:
        secure: True for ``wss``, False for ``ws``.
        host: host name, lower-cased, or IP address (without brackets).
        port: TCP port, the scheme's default (443 or 80) when the URI has none.
        path: path, possibly empty.
        query: query without the ``?``, possibly empty.
        username: user name from the URI's user information, or None.
        password: password from the URI's user information, or None.
    """

    secure: bool
    host: str
    port: int
    path: str
    query: str
    username: Optional[str] = None
    password: Optional[str] = None

    def __repr__(self) -> str:
        # The password stays out of logs and tracebacks.
        return (
            f"WebSocketURI(secure={self.secure!r}, host={self.host!r}, port={self.port!r}, "
            f"path={self.path!r}, query={self.query!r}, username={self.username!r}, "
            f"password={'***' if self.password is not None else None})"
        )

    @property
    def resource_name(self) -> str:
        """The request target: path (``/`` when empty) and ``?query`` if any."""
        resource = self.path or "/"
        if self.query:
            resource += "?" + self.query
        return resource

    @property
    def user_info(self) -> Optional[Tuple[str, str]]:
        """``(username, password)`` for HTTP Basic authentication, or None."""
        if self.username is None:
            return None
        return (self.username, self.password)  # type: ignore[return-value]


def parse_uri(uri: str) -> WebSocketURI:
    """
    Parse and validate a WebSocket URI.

    Non-ASCII URIs (IRIs) are converted: the host with IDNA, the path and
    query percent-encoded as UTF-8.

    Args:
        uri: a ``ws://`` or ``wss://`` URI.

    Raises:
        InvalidURI: the scheme is not ws or wss, the host is missing, the URI
            has a fragment, a port that is not a number, or a user name
            without a password.
    """
    try:
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme not in ("ws", "wss"):
            raise InvalidURI(uri, "scheme isn't ws or wss")
        if parsed.hostname is None:
            raise InvalidURI(uri, "hostname isn't provided")
        if parsed.fragment != "":
            raise InvalidURI(uri, "fragment identifier is meaningless")
        secure = parsed.scheme == "wss"
        host = parsed.hostname
        # .port raises ValueError for a port that is not a number or out of range.
        port = parsed.port or (443 if secure else 80)
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from exc
    path = parsed.path
    query = parsed.query
    username = parsed.username
    password = parsed.password
    # urlparse accepts a user name alone, which Basic authentication cannot use.
    if username is not None:
        if password is None:
            raise InvalidURI(uri, "username provided without password")
        try:
            username = urllib.parse.unquote(username, errors="strict")
            password = urllib.parse.unquote(password, errors="strict")
        except UnicodeDecodeError as exc:
            raise InvalidURI(uri, "user information isn't valid UTF-8") from exc
    if not uri.isascii():
        try:
            host = host.encode("idna").decode()
        except UnicodeError as exc:
            raise InvalidURI(uri, "hostname isn't a valid IDN") from exc
        path = urllib.parse.quote(path, safe=_DELIMITERS)
        query = urllib.parse.quote(query, safe=_DELIMITERS)
    return WebSocketURI(secure, host, port, path, query, username, password)
