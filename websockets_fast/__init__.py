"""websockets_fast: a fast, lean WebSocket library with the websockets API.

Submodules mirror the ``websockets`` library: ``websockets_fast.asyncio.client``,
``websockets_fast.asyncio.server``, ``websockets_fast.sync.client``,
``websockets_fast.sync.server``, ``websockets_fast.protocol`` and so on. As in
websockets, the top-level ``connect`` and ``serve`` are the asyncio ones.

Top-level names are imported lazily, on first access, so that
``import websockets_fast`` stays cheap and loads no I/O layer the program
does not use.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any, Dict, List

from .version import __version__

if TYPE_CHECKING:
    # What the lazy imports below give, spelled out for type checkers, which
    # do not run __getattr__.
    from .asyncio.client import (
        ClientConnection as ClientConnection,
        connect as connect,
        unix_connect as unix_connect,
    )
    from .asyncio.router import (
        Router as Router,
        route as route,
        unix_route as unix_route,
    )
    from .asyncio.server import (
        Server as Server,
        ServerConnection as ServerConnection,
        basic_auth as basic_auth,
        broadcast as broadcast,
        serve as serve,
        unix_serve as unix_serve,
    )
    from .client import (
        ClientProtocol as ClientProtocol,
    )
    from .datastructures import (
        Headers as Headers,
        HeadersLike as HeadersLike,
        MultipleValuesError as MultipleValuesError,
    )
    from .exceptions import (
        ConcurrencyError as ConcurrencyError,
        ConnectionClosed as ConnectionClosed,
        ConnectionClosedError as ConnectionClosedError,
        ConnectionClosedOK as ConnectionClosedOK,
        DuplicateParameter as DuplicateParameter,
        HeaderLineTooLong as HeaderLineTooLong,
        InvalidHandshake as InvalidHandshake,
        InvalidHeader as InvalidHeader,
        InvalidHeaderFormat as InvalidHeaderFormat,
        InvalidHeaderValue as InvalidHeaderValue,
        InvalidMessage as InvalidMessage,
        InvalidMethod as InvalidMethod,
        InvalidOrigin as InvalidOrigin,
        InvalidParameterName as InvalidParameterName,
        InvalidParameterValue as InvalidParameterValue,
        InvalidProtocol as InvalidProtocol,
        InvalidProxy as InvalidProxy,
        InvalidProxyMessage as InvalidProxyMessage,
        InvalidProxyStatus as InvalidProxyStatus,
        InvalidState as InvalidState,
        InvalidStatus as InvalidStatus,
        InvalidURI as InvalidURI,
        InvalidUpgrade as InvalidUpgrade,
        NegotiationError as NegotiationError,
        PayloadTooBig as PayloadTooBig,
        ProtocolError as ProtocolError,
        ProxyError as ProxyError,
        RequestLineTooLong as RequestLineTooLong,
        SecurityError as SecurityError,
        StatusLineTooLong as StatusLineTooLong,
        TooManyFragments as TooManyFragments,
        TooManyHeaders as TooManyHeaders,
        WebSocketException as WebSocketException,
    )
    from .frames import (
        Close as Close,
        CloseCode as CloseCode,
        Frame as Frame,
        Opcode as Opcode,
    )
    from .http11 import (
        Request as Request,
        Response as Response,
    )
    from .protocol import (
        Protocol as Protocol,
        Side as Side,
        State as State,
    )
    from .server import (
        ServerProtocol as ServerProtocol,
    )
    from .typing import (
        Data as Data,
        ExtensionName as ExtensionName,
        ExtensionParameter as ExtensionParameter,
        LoggerLike as LoggerLike,
        Origin as Origin,
        StatusLike as StatusLike,
        Subprotocol as Subprotocol,
    )

# name -> submodule that defines it
_LAZY: Dict[str, str] = {}
for _module, _names in {
    ".asyncio.client": ["connect", "unix_connect", "ClientConnection"],
    ".asyncio.server": ["basic_auth", "broadcast", "serve", "unix_serve", "ServerConnection", "Server"],
    ".asyncio.router": ["route", "unix_route", "Router"],
    ".client": ["ClientProtocol"],
    ".datastructures": ["Headers", "HeadersLike", "MultipleValuesError"],
    ".exceptions": [
        "ConcurrencyError",
        "ConnectionClosed",
        "ConnectionClosedError",
        "ConnectionClosedOK",
        "DuplicateParameter",
        "HeaderLineTooLong",
        "InvalidHandshake",
        "InvalidHeader",
        "InvalidHeaderFormat",
        "InvalidHeaderValue",
        "InvalidMessage",
        "InvalidMethod",
        "InvalidOrigin",
        "InvalidParameterName",
        "InvalidParameterValue",
        "InvalidProtocol",
        "InvalidProxy",
        "InvalidProxyMessage",
        "InvalidProxyStatus",
        "InvalidState",
        "InvalidStatus",
        "InvalidUpgrade",
        "InvalidURI",
        "NegotiationError",
        "PayloadTooBig",
        "ProtocolError",
        "ProxyError",
        "RequestLineTooLong",
        "SecurityError",
        "StatusLineTooLong",
        "TooManyFragments",
        "TooManyHeaders",
        "WebSocketException",
    ],
    ".frames": ["Close", "CloseCode", "Frame", "Opcode"],
    ".http11": ["Request", "Response"],
    ".protocol": ["Protocol", "Side", "State"],
    ".server": ["ServerProtocol"],
    ".typing": ["Data", "ExtensionName", "ExtensionParameter", "LoggerLike", "StatusLike", "Origin", "Subprotocol"],
}.items():
    for _name in _names:
        _LAZY[_name] = _module
del _module, _names, _name

__all__ = ["__version__", *_LAZY]

# The legacy implementation's names, as websockets 17 still exposes them at
# the top level: each access warns, and none is in __all__.
_DEPRECATED: Dict[str, str] = {}
for _module, _names in {
    ".legacy.auth": ["BasicAuthWebSocketServerProtocol", "basic_auth_protocol_factory"],
    ".legacy.client": ["WebSocketClientProtocol"],
    ".legacy.exceptions": ["AbortHandshake", "InvalidStatusCode", "RedirectHandshake", "WebSocketProtocolError"],
    ".legacy.protocol": ["WebSocketCommonProtocol"],
    ".legacy.server": ["WebSocketServer", "WebSocketServerProtocol"],
}.items():
    for _name in _names:
        _DEPRECATED[_name] = _module
del _module, _names, _name


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        if name in _DEPRECATED:
            return _deprecated(name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def _deprecated(name: str) -> Any:
    import warnings

    # As websockets does: a warning at every access, and the first one
    # imports the legacy package, whose import warns too.
    warnings.warn(f"{__name__}.{name} is deprecated", DeprecationWarning, stacklevel=3)
    return getattr(import_module(_DEPRECATED[name], __name__), name)


def __dir__() -> List[str]:
    # websockets lists its deprecated aliases too.
    return sorted([*__all__, *_DEPRECATED])
