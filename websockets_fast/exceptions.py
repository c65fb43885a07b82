"""
Exceptions, with the same names and hierarchy as the ``websockets`` library.

* :exc:`WebSocketException`
    * :exc:`ConnectionClosed`
        * :exc:`ConnectionClosedOK`
        * :exc:`ConnectionClosedError`
    * :exc:`InvalidURI`
    * :exc:`InvalidProxy`
    * :exc:`InvalidHandshake`
        * :exc:`SecurityError`
            * :exc:`RequestLineTooLong`
            * :exc:`StatusLineTooLong`
            * :exc:`HeaderLineTooLong`
            * :exc:`TooManyHeaders`
        * :exc:`ProxyError`
            * :exc:`InvalidProxyMessage`
            * :exc:`InvalidProxyStatus`
        * :exc:`InvalidMessage`
        * :exc:`InvalidMethod`
        * :exc:`InvalidProtocol`
        * :exc:`InvalidStatus`
        * :exc:`InvalidHeader`
            * :exc:`InvalidHeaderFormat`
            * :exc:`InvalidHeaderValue`
            * :exc:`InvalidOrigin`
            * :exc:`InvalidUpgrade`
        * :exc:`NegotiationError`
            * :exc:`DuplicateParameter`
            * :exc:`InvalidParameterName`
            * :exc:`InvalidParameterValue`
    * :exc:`ProtocolError`
    * :exc:`PayloadTooBig`
    * :exc:`TooManyFragments`
    * :exc:`InvalidState`
    * :exc:`ConcurrencyError`

This module stands on the ground floor: it imports nothing of the package, so
that every other module may import it without creating an import cycle.
Objects such as close frames and responses are only stored and formatted.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, List, Optional

if TYPE_CHECKING:  # for annotations only: this module imports nothing at run time
    from .frames import Close
    from .http11 import Response

__all__ = [
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidURI",
    "InvalidProxy",
    "InvalidHandshake",
    "SecurityError",
    "RequestLineTooLong",
    "StatusLineTooLong",
    "HeaderLineTooLong",
    "TooManyHeaders",
    "ProxyError",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidProtocol",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "ProtocolError",
    "PayloadTooBig",
    "TooManyFragments",
    "InvalidState",
    "ConcurrencyError",
]


class WebSocketException(Exception):
    """Base class for all exceptions defined by websockets_fast."""


class ConnectionClosed(WebSocketException):
    """
    Raised when trying to interact with a closed connection.

    Attributes:
        rcvd: the close frame received (``rcvd.code``, ``rcvd.reason``), if any.
        sent: the close frame sent (``sent.code``, ``sent.reason``), if any.
        rcvd_then_sent: when close frames were both received and sent, whether
            the received one came first, from this side's point of view.
    """

    def __init__(self, rcvd: Optional[Close], sent: Optional[Close], rcvd_then_sent: Optional[bool] = None) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        if (rcvd_then_sent is None) != (rcvd is None or sent is None):
            raise ValueError("rcvd_then_sent must be set when, and only when, both rcvd and sent are")

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    # Deprecated in websockets 13.1 and kept there for old programs; kept here
    # for the same programs, with the same warning.

    @property
    def code(self) -> int:
        """Deprecated: use ``rcvd.code`` or the connection's ``close_code``."""
        warnings.warn(
            "ConnectionClosed.code is deprecated; use Protocol.close_code or ConnectionClosed.rcvd.code",
            DeprecationWarning,
            stacklevel=2,
        )
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """Deprecated: use ``rcvd.reason`` or the connection's ``close_reason``."""
        warnings.warn(
            "ConnectionClosed.reason is deprecated; use Protocol.close_reason or ConnectionClosed.rcvd.reason",
            DeprecationWarning,
            stacklevel=2,
        )
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed):
    """Like :exc:`ConnectionClosed`, when the connection terminated properly.

    A close frame with code 1000 (OK), 1001 (going away) or no code was
    received and sent.
    """


class ConnectionClosedError(ConnectionClosed):
    """Like :exc:`ConnectionClosed`, when the connection terminated with an error.

    A close frame with another code was received or sent, or the closing
    handshake did not complete properly.
    """


class InvalidURI(WebSocketException):
    """Raised when connecting to a URI that is not a valid WebSocket URI."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"


class InvalidProxy(WebSocketException):
    """Raised when connecting through a proxy that is not valid."""

    def __init__(self, proxy: str, msg: str) -> None:
        self.proxy = proxy
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.proxy} isn't a valid proxy: {self.msg}"


class InvalidHandshake(WebSocketException):
    """Base class for exceptions raised when the opening handshake fails."""


class SecurityError(InvalidHandshake):
    """Raised when a handshake request or response breaks a security limit."""


class RequestLineTooLong(SecurityError):
    """Raised when the request line of a handshake request is too long."""


class StatusLineTooLong(SecurityError):
    """Raised when the status line of a handshake response is too long."""


class HeaderLineTooLong(SecurityError):
    """Raised when a header line of a handshake request or response is too long."""


class TooManyHeaders(SecurityError):
    """Raised when a handshake request or response has too many headers."""


class ProxyError(InvalidHandshake):
    """Raised when connecting to a proxy fails."""


class InvalidProxyMessage(ProxyError):
    """Raised when an HTTP proxy response is malformed."""


class InvalidProxyStatus(ProxyError):
    """Raised when an HTTP proxy rejects the connection."""

    def __init__(self, response: Response) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"proxy rejected connection: HTTP {self.response.status_code:d}"


class InvalidMessage(InvalidHandshake):
    """Raised when a handshake request or response is malformed."""


class InvalidMethod(InvalidHandshake):
    """Raised when a handshake request does not use HTTP GET."""

    def __init__(self, method: str) -> None:
        self.method = method

    def __str__(self) -> str:
        return f"unsupported HTTP method: {self.method}"


class InvalidProtocol(InvalidHandshake):
    """Raised when a handshake request does not use HTTP/1.1."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    def __str__(self) -> str:
        return f"unsupported HTTP version: {self.protocol}"


class InvalidStatus(InvalidHandshake):
    """Raised when a handshake response rejects the WebSocket upgrade."""

    def __init__(self, response: Response) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"


class InvalidHeader(InvalidHandshake):
    """Raised when an HTTP header does not have a valid format or value."""

    def __init__(self, name: str, value: Optional[str] = None) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """Raised when an HTTP header does not match the grammar of that header."""

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")


class InvalidHeaderValue(InvalidHeader):
    """Raised when an HTTP header is well-formed but its value is not acceptable."""


class InvalidOrigin(InvalidHeader):
    """Raised when the Origin header of a request is not allowed."""

    def __init__(self, origin: Optional[str]) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """Raised when the Upgrade or Connection header is not correct."""


class NegotiationError(InvalidHandshake):
    """Raised when negotiating an extension or a subprotocol fails."""


class DuplicateParameter(NegotiationError):
    """Raised when a parameter name is repeated in an extension header."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """Raised when a parameter name in an extension header is invalid."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """Raised when a parameter value in an extension header is invalid."""

    def __init__(self, name: str, value: Optional[str]) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class ProtocolError(WebSocketException):
    """Raised when receiving or sending a frame that breaks the protocol."""


class PayloadTooBig(WebSocketException):
    """
    Raised when a frame or message exceeds the size limit (``max_size``).

    The Sans-I/O layer turns it into a close with code 1009. Extensions raise
    it from :meth:`~websockets_fast.extensions.Extension.decode` when decoding
    a frame would exceed the limit.
    """

    def __init__(
        self,
        size_or_message: int | str | None,
        max_size: Optional[int] = None,
        current_size: Optional[int] = None,
    ) -> None:
        self.message: str | None
        self.size: int | None
        self.max_size: int | None
        self.current_size: int | None
        if isinstance(size_or_message, str):
            # The one-argument message form is deprecated in websockets 14.
            self.message = size_or_message
            self.size = None
            self.max_size = max_size
            self.current_size = current_size
            return
        if max_size is None:
            raise TypeError("PayloadTooBig needs max_size")
        self.message = None
        self.size = size_or_message
        self.max_size = max_size
        self.current_size = None
        self.set_current_size(current_size)

    def __str__(self) -> str:
        if self.message is not None:
            return self.message
        message = "frame "
        if self.size is not None:
            message += f"with {self.size} bytes "
        if self.current_size is not None:
            message += f"after reading {self.current_size} bytes "
        return message + f"exceeds limit of {self.max_size} bytes"

    def set_current_size(self, current_size: Optional[int]) -> None:
        """Account for the bytes of the message read before this frame."""
        if self.current_size is not None:
            raise ValueError("current_size is already set")
        if current_size is not None:
            assert self.max_size is not None  # set with size, in __init__
            self.max_size += current_size
            self.current_size = current_size


class TooManyFragments(WebSocketException):
    """Raised when a fragmented message has more frames than allowed."""

    def __init__(self, max_fragments: int) -> None:
        self.max_fragments = max_fragments
        super().__init__(f"fragmented message exceeds limit of {max_fragments} frames")


class InvalidState(WebSocketException, AssertionError):
    """Raised when sending a frame is forbidden in the current state."""


class ConcurrencyError(WebSocketException, RuntimeError):
    """Raised when receiving or sending messages concurrently."""


# The legacy implementation's exceptions, which websockets 17 still exposes
# here, deprecated: each access warns, and the first one also imports
# websockets_fast.legacy, which warns in turn. Not in __all__; in dir().
_DEPRECATED = frozenset(["AbortHandshake", "InvalidStatusCode", "RedirectHandshake", "WebSocketProtocolError"])


def __getattr__(name: str) -> Any:
    if name not in _DEPRECATED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import warnings

    warnings.warn(f"{__name__}.{name} is deprecated", DeprecationWarning, stacklevel=2)
    from .legacy import exceptions

    return getattr(exceptions, name)


def __dir__() -> List[str]:
    return sorted(set(globals()) | _DEPRECATED)
