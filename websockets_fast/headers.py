"""Parsers and builders for the header grammars of the WebSocket handshake.

The grammars come from RFC 6455 section 9.1 and RFC 9110 (tokens, lists,
quoted strings). Parsers take one header value, which the HTTP parser already
stripped of surrounding whitespace, and raise
:exc:`~websockets_fast.exceptions.InvalidHeaderFormat` naming the header, the
problem and its position.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
import secrets
from typing import Callable, List, Optional, Sequence, Tuple, TypeVar

from .exceptions import InvalidHeaderFormat, InvalidHeaderValue
from .typing import (
    ConnectionOption,
    ExtensionHeader,
    ExtensionName,
    ExtensionParameter,
    Subprotocol,
    UpgradeProtocol,
)

__all__ = [
    "build_host",
    "parse_connection",
    "parse_upgrade",
    "parse_extension",
    "build_extension",
    "parse_subprotocol",
    "build_subprotocol",
    "validate_subprotocols",
    "build_www_authenticate_basic",
    "parse_authorization_basic",
    "build_authorization_basic",
    "generate_key",
    "accept_key",
]

T = TypeVar("T")


def build_host(host: str, port: int, secure: bool, *, always_include_port: bool = False) -> str:
    """
    Build the value of a ``Host`` header.

    Args:
        host: host name or IP address; IPv6 addresses get their brackets.
        port: TCP port; left out when it is the scheme's default, unless
            ``always_include_port`` is set (default False).
        secure: whether the scheme is ``wss`` (default port 443) or ``ws`` (80).
    """
    # Only IPv6 addresses contain colons; skip the costly check for others.
    if ":" in host:
        try:
            if ipaddress.ip_address(host).version == 6:
                host = f"[{host}]"
        except ValueError:
            pass  # not an address after all
    if always_include_port or port != (443 if secure else 80):
        host = f"{host}:{port}"
    return host


# Building blocks (RFC 9110 section 5.6).

_TCHAR = r"-!#$%&'*+.^_`|~0-9a-zA-Z"
_token = re.compile(f"[{_TCHAR}]+")
_whitespace = re.compile(r"[\t ]*")
# A quoted-string: qdtext or quoted-pair between double quotes.
_quoted_string = re.compile(r'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e]|\\[\t\x20-\x7e\x80-\xff])*"')
_quoted_pair = re.compile(r"\\(.)", re.DOTALL)
_quotable = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_needs_escape = re.compile(r'(["\\])')
# An Upgrade protocol: name, optionally followed by /version.
_upgrade_protocol = re.compile(f"[{_TCHAR}]+(?:/[{_TCHAR}]+)?")
# token68 (RFC 9110 section 11.2), the form of Basic credentials.
_token68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _skip_whitespace(header: str, pos: int) -> int:
    return _whitespace.match(header, pos).end()  # type: ignore[union-attr]  # always matches


def _parse_token(header: str, pos: int, name: str) -> Tuple[str, int]:
    match = _token.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token", header, pos)
    return match.group(), match.end()


def _parse_quoted_string(header: str, pos: int, name: str) -> Tuple[str, int]:
    match = _quoted_string.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected quoted string", header, pos)
    return _quoted_pair.sub(r"\1", match.group()[1:-1]), match.end()


def _build_quoted_string(value: str) -> str:
    if _quotable.fullmatch(value) is None:
        raise ValueError("invalid characters for quoted-string encoding")
    return '"' + _needs_escape.sub(r"\\\1", value) + '"'


def _parse_list(parse_item: Callable[[str, int, str], Tuple[T, int]], header: str, name: str) -> List[T]:
    """
    Parse a comma-separated list of at least one item (``1#item``).

    Empty elements (``a, , b``) are skipped, as RFC 9110 section 5.6.1 asks of
    recipients; ``header`` has no leading or trailing whitespace.
    """
    end = len(header)
    pos = 0
    items: List[T] = []
    while True:
        # Skip empty elements before the item.
        while pos < end and header[pos] == ",":
            pos = _skip_whitespace(header, pos + 1)
        if items and pos == end:
            return items
        item, pos = parse_item(header, pos, name)
        items.append(item)
        pos = _skip_whitespace(header, pos)
        if pos == end:
            return items
        if header[pos] != ",":
            raise InvalidHeaderFormat(name, "expected comma", header, pos)


def _parse_connection_option(header: str, pos: int, name: str) -> Tuple[ConnectionOption, int]:
    return _parse_token(header, pos, name)  # type: ignore[return-value]


def parse_connection(header: str) -> List[ConnectionOption]:
    """
    Parse a ``Connection`` header into its list of options (tokens).

    Raises:
        InvalidHeaderFormat: the value does not follow the grammar.
    """
    # The usual value is one token, e.g. "Upgrade".
    if _token.fullmatch(header):
        return [header]  # type: ignore[list-item]
    return _parse_list(_parse_connection_option, header, "Connection")


def _parse_upgrade_protocol(header: str, pos: int, name: str) -> Tuple[UpgradeProtocol, int]:
    match = _upgrade_protocol.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected protocol", header, pos)
    return match.group(), match.end()  # type: ignore[return-value]


def parse_upgrade(header: str) -> List[UpgradeProtocol]:
    """
    Parse an ``Upgrade`` header into its list of protocols (``name[/version]``).

    Raises:
        InvalidHeaderFormat: the value does not follow the grammar.
    """
    # The usual value is one protocol, e.g. "websocket".
    if _upgrade_protocol.fullmatch(header):
        return [header]  # type: ignore[list-item]
    return _parse_list(_parse_upgrade_protocol, header, "Upgrade")


def _parse_extension_param(header: str, pos: int, name: str) -> Tuple[ExtensionParameter, int]:
    param, pos = _parse_token(header, pos, name)
    pos = _skip_whitespace(header, pos)
    value: Optional[str] = None
    if pos < len(header) and header[pos] == "=":
        pos = _skip_whitespace(header, pos + 1)
        if pos < len(header) and header[pos] == '"':
            start = pos
            value, pos = _parse_quoted_string(header, pos, name)
            # RFC 6455 section 9.1: once unquoted, the value must be a token.
            if _token.fullmatch(value) is None:
                raise InvalidHeaderFormat(name, "invalid quoted header content", header, start)
        else:
            value, pos = _parse_token(header, pos, name)
        pos = _skip_whitespace(header, pos)
    return (param, value), pos


def _parse_extension_item(header: str, pos: int, name: str) -> Tuple[ExtensionHeader, int]:
    extension, pos = _parse_token(header, pos, name)
    pos = _skip_whitespace(header, pos)
    params = []
    while pos < len(header) and header[pos] == ";":
        pos = _skip_whitespace(header, pos + 1)
        param, pos = _parse_extension_param(header, pos, name)
        params.append(param)
    return (ExtensionName(extension), params), pos


def parse_extension(header: str) -> List[ExtensionHeader]:
    """
    Parse a ``Sec-WebSocket-Extensions`` header.

    Returns a list of ``(extension name, [(parameter name, value), ...])``
    where a value is None when the parameter has none, e.g.
    ``[("permessage-deflate", [("client_max_window_bits", None)])]``.

    Raises:
        InvalidHeaderFormat: the value does not follow the grammar.
    """
    return _parse_list(_parse_extension_item, header, "Sec-WebSocket-Extensions")


parse_extension_list = parse_extension  # older name, kept as websockets does


def _build_extension_item(name: ExtensionName, params: Sequence[ExtensionParameter]) -> str:
    # Values are tokens by construction, so they never need quoting.
    return "; ".join([name] + [param if value is None else f"{param}={value}" for param, value in params])


def build_extension(extensions: Sequence[ExtensionHeader]) -> str:
    """Build a ``Sec-WebSocket-Extensions`` header; the reverse of :func:`parse_extension`."""
    return ", ".join([_build_extension_item(name, params) for name, params in extensions])


build_extension_list = build_extension


def _parse_subprotocol_item(header: str, pos: int, name: str) -> Tuple[Subprotocol, int]:
    return _parse_token(header, pos, name)  # type: ignore[return-value]


def parse_subprotocol(header: str) -> List[Subprotocol]:
    """
    Parse a ``Sec-WebSocket-Protocol`` header into its list of subprotocols.

    Raises:
        InvalidHeaderFormat: the value does not follow the grammar.
    """
    return _parse_list(_parse_subprotocol_item, header, "Sec-WebSocket-Protocol")


parse_subprotocol_list = parse_subprotocol


def build_subprotocol(subprotocols: Sequence[Subprotocol]) -> str:
    """Build a ``Sec-WebSocket-Protocol`` header; the reverse of :func:`parse_subprotocol`."""
    return ", ".join(subprotocols)


build_subprotocol_list = build_subprotocol


def validate_subprotocols(subprotocols: Sequence[Subprotocol]) -> None:
    """
    Check that ``subprotocols`` can be sent with :func:`build_subprotocol`.

    Raises:
        TypeError: ``subprotocols`` is not a list (a str is refused too).
        ValueError: a subprotocol is not a token.
    """
    if not isinstance(subprotocols, Sequence):
        raise TypeError("subprotocols must be a list")
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols must be a list, not a str")
    for subprotocol in subprotocols:
        if not isinstance(subprotocol, str) or _token.fullmatch(subprotocol) is None:
            raise ValueError(f"invalid subprotocol: {subprotocol}")


def build_www_authenticate_basic(realm: str) -> str:
    """
    Build a ``WWW-Authenticate`` header asking for HTTP Basic credentials.

    Args:
        realm: the protection space, shown to users by some clients.
    """
    return f"Basic realm={_build_quoted_string(realm)}, charset={_build_quoted_string('UTF-8')}"


def parse_authorization_basic(header: str) -> Tuple[str, str]:
    """
    Parse an ``Authorization`` header carrying HTTP Basic credentials.

    Returns ``(username, password)``. Bytes that are not UTF-8 come back as
    surrogate code points (``errors="surrogateescape"``).

    Raises:
        InvalidHeaderFormat: the value does not follow the grammar.
        InvalidHeaderValue: the scheme is not Basic or the credentials do
            not decode to ``username:password``.
    """
    name = "Authorization"
    scheme, pos = _parse_token(header, 0, name)
    if scheme.lower() != "basic":
        raise InvalidHeaderValue(name, f"unsupported scheme: {scheme}")
    if header[pos : pos + 1] != " ":
        raise InvalidHeaderFormat(name, "expected space after scheme", header, pos)
    match = _token68.match(header, pos + 1)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token68", header, pos + 1)
    if match.end() < len(header):
        raise InvalidHeaderFormat(name, "trailing data", header, match.end())
    try:
        credentials = base64.b64decode(match.group().encode())
    except binascii.Error:
        raise InvalidHeaderValue(name, "expected base64-encoded credentials") from None
    username, colon, password = credentials.decode(errors="surrogateescape").partition(":")
    if not colon:
        raise InvalidHeaderValue(name, "expected username:password credentials")
    return username, password


def build_authorization_basic(username: str, password: str) -> str:
    """
    Build an ``Authorization`` header with HTTP Basic credentials.

    The reverse of :func:`parse_authorization_basic`. ``username`` cannot
    contain a colon (:exc:`ValueError`).
    """
    if ":" in username:
        raise ValueError("username cannot contain a colon")
    credentials = f"{username}:{password}".encode(errors="surrogateescape")
    return "Basic " + base64.b64encode(credentials).decode()


# RFC 6455 section 1.3: the GUID appended to the client's key.
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def generate_key() -> str:
    """Return a fresh ``Sec-WebSocket-Key``: 16 random bytes from a CSPRNG, base64."""
    return base64.b64encode(secrets.token_bytes(16)).decode()


def accept_key(key: str) -> str:
    """
    Return the ``Sec-WebSocket-Accept`` value that answers ``key``.

    Args:
        key: the ``Sec-WebSocket-Key`` of the request, as sent.
    """
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
