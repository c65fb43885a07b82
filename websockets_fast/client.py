"""Sans-I/O WebSocket client: the opening handshake, then :class:`Protocol`."""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Generator, List, Optional, Sequence, Tuple, Union

from .datastructures import Headers, MultipleValuesError
from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    StatusLineTooLong,
)
from .headers import (
    accept_key,
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    generate_key,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
)
from .http11 import Request, Response, ResponseParser
from .protocol import MAX_FRAGMENTS, Protocol, State
from .states import CLIENT, CONNECTING
from .typing import LoggerLike, Origin, Subprotocol
from .uri import WebSocketURI

if TYPE_CHECKING:  # pragma: no cover
    from .extensions import ClientExtensionFactory, Extension

__all__ = ["ClientProtocol", "process_exception", "backoff"]


class ClientProtocol(Protocol):
    """
    Sans-I/O implementation of the client side of a WebSocket connection.

    Args:
        uri: the server's URI, from :func:`~websockets_fast.uri.parse_uri`.
        origin: value of the ``Origin`` header, for servers that check it
            against cross-site WebSocket hijacking; default None, no header.
        extensions: extension factories, in the order to offer them;
            default None, no extensions.
        subprotocols: subprotocols, in decreasing order of preference;
            default None, no ``Sec-WebSocket-Protocol`` header.
        state: initial state; default CONNECTING.
        max_size: limit on incoming messages in bytes, an int, None for no
            limit, or a ``(max_message_size, max_fragment_size)`` tuple;
            default 1 MiB.
        max_fragments: limit on the frames of one message when the message
            size is unlimited; default 4096 (``WEBSOCKETS_MAX_FRAGMENTS``).
        logger: logger of this connection; default
            ``logging.getLogger("websockets_fast.client")``.

    Call :meth:`connect` then :meth:`send_request`, write out
    :meth:`data_to_send`, and feed the server's bytes to
    :meth:`receive_data`. The :class:`~websockets_fast.http11.Response` event
    comes first; if the handshake failed, :attr:`handshake_exc` says why.
    """

    __slots__ = ("uri", "available_extensions", "available_subprotocols", "key", "_response_parser")

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        origin: Optional[Origin] = None,
        extensions: Optional[Sequence[ClientExtensionFactory]] = None,
        subprotocols: Optional[Sequence[Subprotocol]] = None,
        state: State = CONNECTING,
        max_size: Union[int, None, Tuple[Optional[int], Optional[int]]] = 2**20,
        max_fragments: Optional[int] = MAX_FRAGMENTS,
        logger: Optional[LoggerLike] = None,
    ) -> None:
        super().__init__(CLIENT, state=state, max_size=max_size, max_fragments=max_fragments, logger=logger)
        self.uri = uri
        self.origin = origin
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.key = generate_key()
        # Collects the response; dropped once the handshake is over.
        self._response_parser: Optional[ResponseParser] = ResponseParser() if state is CONNECTING else None

    def connect(self) -> Request:
        """
        Build the handshake request.

        Send it with :meth:`send_request`; add headers to it before that if
        needed (e.g. ``User-Agent``).
        """
        uri = self.uri
        headers = Headers()
        headers["Host"] = build_host(uri.host, uri.port, uri.secure)
        if uri.user_info:
            headers["Authorization"] = build_authorization_basic(*uri.user_info)
        if self.origin is not None:
            headers["Origin"] = self.origin
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = "13"
        if self.available_extensions is not None:
            headers["Sec-WebSocket-Extensions"] = build_extension(
                [(factory.name, factory.get_request_params()) for factory in self.available_extensions]
            )
        if self.available_subprotocols is not None:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol(self.available_subprotocols)
        return Request(uri.resource_name, headers)

    def send_request(self, request: Request) -> None:
        """Queue the handshake request for :meth:`data_to_send`."""
        if self.debug:
            self.logger.debug("> %s %s %s", request.method, request.path, request.protocol)
            for name, value in request.headers.raw_items():
                self.logger.debug("> %s: %s", name, value)
        self.writes.append(request.serialize())

    def process_response(self, response: Response) -> None:
        """
        Check the handshake response; negotiate extensions and subprotocol.

        Sets :attr:`extensions` and :attr:`subprotocol`.

        Raises:
            InvalidStatus: the status is not 101.
            InvalidUpgrade: ``Connection`` or ``Upgrade`` is not right.
            InvalidHeader: ``Sec-WebSocket-Accept`` is missing, repeated or wrong.
            NegotiationError: extensions or subprotocol are not acceptable.
        """
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers

        connection = [option for value in headers.get_all("Connection") for option in parse_connection(value)]
        if not any(option.lower() == "upgrade" for option in connection):
            raise InvalidUpgrade("Connection", ", ".join(connection) if connection else None)

        upgrade = [protocol for value in headers.get_all("Upgrade") for protocol in parse_upgrade(value)]
        # RFC 6455 says "websocket"; some servers capitalise it.
        if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
            raise InvalidUpgrade("Upgrade", ", ".join(upgrade) if upgrade else None)

        try:
            accept = headers["Sec-WebSocket-Accept"]
        except KeyError:
            raise InvalidHeader("Sec-WebSocket-Accept") from None
        except MultipleValuesError:
            raise InvalidHeader("Sec-WebSocket-Accept", "multiple values") from None
        if accept != accept_key(self.key):
            raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)

        self.extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)

    def process_extensions(self, headers: Headers) -> List[Extension]:
        """
        Build the extensions the server accepted.

        Each extension in the response must match one of :attr:`available_extensions`
        by name and be accepted by its factory's ``process_response_params``;
        otherwise the handshake fails.

        Raises:
            NegotiationError: an extension was not offered or its parameters
                are not acceptable.
            InvalidHeaderFormat: the header is malformed.
        """
        accepted: List[Extension] = []
        values = headers.get_all("Sec-WebSocket-Extensions")
        if not values:
            return accepted
        if self.available_extensions is None:
            raise NegotiationError("no extensions supported")
        for name, params in [item for value in values for item in parse_extension(value)]:
            for factory in self.available_extensions:
                if factory.name != name:
                    continue
                try:
                    extension = factory.process_response_params(params, accepted)
                except NegotiationError:
                    continue  # this variant does not fit; try the next one
                accepted.append(extension)
                break
            else:
                raise NegotiationError(f"Unsupported extension: name = {name}, params = {params}")
        return accepted

    def process_subprotocol(self, headers: Headers) -> Optional[Subprotocol]:
        """
        Return the subprotocol the server selected, None if it selected none.

        Raises:
            NegotiationError: it was not offered.
            InvalidHeader: the server selected more than one.
        """
        values = headers.get_all("Sec-WebSocket-Protocol")
        if not values:
            return None
        if self.available_subprotocols is None:
            raise NegotiationError("no subprotocols supported")
        selected = [item for value in values for item in parse_subprotocol(value)]
        if len(selected) > 1:
            raise InvalidHeader("Sec-WebSocket-Protocol", f"multiple values: {', '.join(selected)}")
        if selected[0] not in self.available_subprotocols:
            raise NegotiationError(f"unsupported subprotocol: {selected[0]}")
        return selected[0]

    def _receive_handshake(self, data: bytes) -> None:
        # Protocol.receive_data() calls this in CONNECTING, unless discarding.
        if self._eof_rcvd:
            raise EOFError("stream ended")
        try:
            result = self._response_parser.feed(data)  # type: ignore[union-attr]
        except Exception as exc:
            self._reject_response(exc)
            return
        if result is not None:
            self._receive_response(*result)

    def receive_eof(self) -> None:
        """Note that the server closed the connection (EOF)."""
        if self._state is CONNECTING and not self._discarding and not self._eof_rcvd:
            # EOF may complete a response whose body runs to the end of the
            # stream; either way the handshake ends here.
            try:
                response = self._response_parser.feed_eof()  # type: ignore[union-attr]
            except Exception as exc:
                self._reject_response(exc)
            else:
                self._receive_response(response, b"")
        Protocol.receive_eof(self)

    def _reject_response(self, exc: Exception) -> None:
        """The response could not be parsed: fail the handshake."""
        if self.debug:
            self.logger.debug("! invalid HTTP response", exc_info=exc)
        if isinstance(exc, StatusLineTooLong):
            self.handshake_exc = exc
        else:
            self.handshake_exc = InvalidMessage("did not receive a valid HTTP response")
            self.handshake_exc.__cause__ = exc
        self._end_handshake()

    def _receive_response(self, response: Response, following: bytes) -> None:
        self._response_parser = None
        if self.debug:
            self.logger.debug("< HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
            for name, value in response.headers.raw_items():
                self.logger.debug("< %s: %s", name, value)
            if response.body:
                self.logger.debug("< [body] (%d bytes)", len(response.body))
        try:
            self.process_response(response)
        except Exception as exc:
            if not isinstance(exc, InvalidHandshake):
                # A factory or header parser failed in an unexpected way.
                self.logger.error("opening handshake failed", exc_info=True)
            response._exception = exc
            self.events.append(response)
            self.handshake_exc = exc
            self._end_handshake()
            return
        self.events.append(response)
        self._opened(self.extensions)
        if following:
            # Frames that arrived in the same read as the response.
            Protocol.receive_data(self, following)

    def _end_handshake(self) -> None:
        """After a failed handshake: close our side and ignore the rest."""
        self._response_parser = None
        self.send_eof()
        self._discard()


def process_exception(exc: Exception) -> Optional[Exception]:
    """
    Tell whether a failed connection attempt is worth retrying.

    The reconnecting ``connect()`` calls this after each failed attempt.
    Returns None to retry: network errors (:exc:`OSError`, timeouts), a
    connection closed during the handshake (:exc:`InvalidMessage` caused by
    :exc:`EOFError`), and server or proxy errors (:exc:`InvalidStatus` with
    500, 502, 503 or 504). Returns the exception to raise for anything else.
    """
    if isinstance(exc, (OSError, TimeoutError)):
        return None
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return None
    if isinstance(exc, InvalidStatus) and exc.response.status_code in (500, 502, 503, 504):
        return None
    return exc


BACKOFF_INITIAL_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_INITIAL_DELAY", "5"))
BACKOFF_MIN_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_MIN_DELAY", "3.1"))
BACKOFF_MAX_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_MAX_DELAY", "90.0"))
BACKOFF_FACTOR = float(os.environ.get("WEBSOCKETS_BACKOFF_FACTOR", "1.618"))


def backoff(
    initial_delay: float = BACKOFF_INITIAL_DELAY,
    min_delay: float = BACKOFF_MIN_DELAY,
    max_delay: float = BACKOFF_MAX_DELAY,
    factor: float = BACKOFF_FACTOR,
) -> Generator[float, None, None]:
    """
    Yield the delays, in seconds, to wait between reconnection attempts.

    Args:
        initial_delay: the first delay is random, up to this; default 5
            (``WEBSOCKETS_BACKOFF_INITIAL_DELAY``), so that clients cut off
            together do not all come back at once (RFC 6455 section 7.2.3).
        min_delay: the second delay; default 3.1 (``WEBSOCKETS_BACKOFF_MIN_DELAY``).
        max_delay: the delays grow up to this, then stay; default 90
            (``WEBSOCKETS_BACKOFF_MAX_DELAY``).
        factor: growth factor between delays; default 1.618
            (``WEBSOCKETS_BACKOFF_FACTOR``).
    """
    # Jitter, not secrecy: the random module is right here.
    yield random.random() * initial_delay
    delay = min_delay
    while delay < max_delay:
        yield delay
        delay *= factor
    while True:
        yield max_delay
