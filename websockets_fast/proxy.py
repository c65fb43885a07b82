"""Proxy addresses: parsing them and finding the one the environment sets."""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import Optional, Tuple

from .datastructures import Headers
from .exceptions import InvalidProxy
from .headers import build_authorization_basic, build_host
from .http11 import USER_AGENT
from .uri import WebSocketURI

__all__ = ["Proxy", "parse_proxy", "get_proxy"]

_SCHEMES = ("socks5h", "socks5", "socks4a", "socks4", "https", "http")


class Proxy:
    """
    A parsed proxy address.

    Attributes:
        scheme: ``"socks5h"``, ``"socks5"``, ``"socks4a"``, ``"socks4"``,
            ``"https"`` or ``"http"``.
        host: host name, lower-cased, or IP address.
        port: TCP port, 443 for https and 80 otherwise when the address has none.
        username: user name from the address's user information, or None.
        password: password from the address's user information, or None.
    """

    __slots__ = ("scheme", "host", "port", "username", "password")

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        username: Optional[str] = None,
        password: Optional[str] = None,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.username = username
        self.password = password

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Proxy):
            return NotImplemented
        return (self.scheme, self.host, self.port, self.username, self.password) == (
            other.scheme,
            other.host,
            other.port,
            other.username,
            other.password,
        )

    def __repr__(self) -> str:
        return (
            f"Proxy(scheme={self.scheme!r}, host={self.host!r}, port={self.port!r}, "
            f"username={self.username!r}, password={'***' if self.password is not None else None})"
        )

    @property
    def user_info(self) -> Optional[Tuple[str, str]]:
        """``(username, password)`` for proxy authentication, or None."""
        if self.username is None:
            return None
        return (self.username, self.password)  # type: ignore[return-value]


def parse_proxy(proxy: str) -> Proxy:
    """
    Parse and validate a proxy address such as ``socks5h://host:1080``.

    Args:
        proxy: the proxy's URL.

    Raises:
        InvalidProxy: unsupported scheme, missing host, a path, query or
            fragment, a bad port, or a user name without a password.
    """
    try:
        parsed = urllib.parse.urlparse(proxy)
        if parsed.scheme not in _SCHEMES:
            raise InvalidProxy(proxy, f"scheme {parsed.scheme} isn't supported")
        if parsed.hostname is None:
            raise InvalidProxy(proxy, "hostname isn't provided")
        if parsed.path not in ("", "/"):
            raise InvalidProxy(proxy, "path is meaningless")
        if parsed.query != "":
            raise InvalidProxy(proxy, "query is meaningless")
        if parsed.fragment != "":
            raise InvalidProxy(proxy, "fragment is meaningless")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidProxy(proxy, str(exc)) from exc
    host = parsed.hostname
    username = parsed.username
    password = parsed.password
    if username is not None:
        if password is None:
            raise InvalidProxy(proxy, "username provided without password")
        try:
            username = urllib.parse.unquote(username, errors="strict")
            password = urllib.parse.unquote(password, errors="strict")
        except UnicodeDecodeError as exc:
            raise InvalidProxy(proxy, "user information isn't valid UTF-8") from exc
    if not proxy.isascii():
        try:
            host = host.encode("idna").decode()
        except UnicodeError as exc:
            raise InvalidProxy(proxy, "hostname isn't a valid IDN") from exc
    return Proxy(parsed.scheme, host, port, username, password)


def get_proxy(uri: WebSocketURI) -> Optional[str]:
    """
    Return the address of the proxy to use for ``uri``, or None for none.

    Reads the environment (``ws_proxy``, ``wss_proxy``, ``socks_proxy``,
    ``https_proxy``, ``http_proxy``, ``no_proxy`` and the platform's
    settings, through :mod:`urllib.request`). A proxy set for the WebSocket
    scheme wins, then SOCKS (as RFC 6455 suggests), then HTTPS, then HTTP
    (the latter for ``ws`` URIs only).
    """
    if urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None
    proxies = urllib.request.getproxies()
    schemes = ("wss", "socks", "https") if uri.secure else ("ws", "socks", "https", "http")
    for scheme in schemes:
        proxy = proxies.get(scheme)
        if proxy is not None:
            # A SOCKS proxy configured in the operating system can come back
            # as http://host:port; it still speaks SOCKS.
            if scheme == "socks" and proxy.startswith("http://"):
                proxy = "socks5h://" + proxy[len("http://") :]
            return proxy
    return None


def prepare_connect_request(proxy: Proxy, ws_uri: WebSocketURI, user_agent_header: Optional[str] = USER_AGENT) -> bytes:
    """
    Build the ``CONNECT`` request that opens a tunnel through an HTTP proxy.

    Args:
        proxy: the HTTP(S) proxy; its user information becomes a
            ``Proxy-Authorization`` header.
        ws_uri: the WebSocket server to reach.
        user_agent_header: value of the ``User-Agent`` header, None to omit
            it; defaults to :data:`~websockets_fast.http11.USER_AGENT`.
    """
    target = build_host(ws_uri.host, ws_uri.port, ws_uri.secure, always_include_port=True)
    headers = Headers()
    headers["Host"] = build_host(ws_uri.host, ws_uri.port, ws_uri.secure)
    if user_agent_header is not None:
        headers["User-Agent"] = user_agent_header
    if proxy.user_info is not None:
        headers["Proxy-Authorization"] = build_authorization_basic(*proxy.user_info)
    return f"CONNECT {target} HTTP/1.1\r\n".encode() + headers.serialize()
