"""Sans-I/O WebSocket server: the opening handshake, then :class:`Protocol`."""

from __future__ import annotations

import base64
import binascii
import email.utils
import http
import re
import time
from typing import TYPE_CHECKING, Callable, List, Optional, Pattern, Sequence, Tuple, Union

from .datastructures import Headers, MultipleValuesError
from .exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidState,
    InvalidUpgrade,
    NegotiationError,
    RequestLineTooLong,
    TooManyHeaders,
)
from .frames import CloseCode
from .headers import accept_key, build_extension, parse_connection, parse_extension, parse_subprotocol, parse_upgrade
from . import http11
from .http11 import Request, RequestParser, Response
from .protocol import MAX_FRAGMENTS, Protocol, State
from .states import CONNECTING, SERVER
from .typing import LoggerLike, Origin, StatusLike, Subprotocol

if TYPE_CHECKING:  # pragma: no cover
    from .extensions import Extension, ServerExtensionFactory

__all__ = ["ServerProtocol"]

# The Date header changes once a second; formatting it costs more than the
# rest of a response, so the last value is kept.
_date_cache = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


class ServerProtocol(Protocol):
    """
    Sans-I/O implementation of the server side of a WebSocket connection.

    Args:
        origins: acceptable values of the ``Origin`` header: strings for an
            exact match, compiled regular expressions for a full match, and
            None if a request without ``Origin`` is acceptable; default None,
            any origin (no check). Guards against cross-site WebSocket hijacking.
        extensions: extension factories, in the order to try them; default
            None, no extensions.
        subprotocols: supported subprotocols, in decreasing order of
            preference; default None.
        select_subprotocol: a function ``(protocol, offered) -> subprotocol or
            None`` that replaces :meth:`select_subprotocol`; default None.
        state: initial state; default CONNECTING.
        max_size: limit on incoming messages in bytes, an int, None for no
            limit, or a ``(max_message_size, max_fragment_size)`` tuple;
            default 1 MiB.
        max_fragments: limit on the frames of one message when the message
            size is unlimited; default 4096 (``WEBSOCKETS_MAX_FRAGMENTS``).
        logger: logger of this connection; default
            ``logging.getLogger("websockets_fast.server")``.

    Feed the client's bytes to :meth:`receive_data`. The
    :class:`~websockets_fast.http11.Request` event comes first; answer it
    with :meth:`accept` (or :meth:`reject`) and :meth:`send_response`.
    """

    __slots__ = (
        "origins",
        "available_extensions",
        "available_subprotocols",
        "accept_called",
        "_select_subprotocol",
        "_request_parser",
        "_early_data",
    )

    def __init__(
        self,
        *,
        origins: Optional[Sequence[Union[Origin, Pattern[str], None]]] = None,
        extensions: Optional[Sequence[ServerExtensionFactory]] = None,
        subprotocols: Optional[Sequence[Subprotocol]] = None,
        select_subprotocol: Optional[Callable[[ServerProtocol, Sequence[Subprotocol]], Optional[Subprotocol]]] = None,
        state: State = CONNECTING,
        max_size: Union[int, None, Tuple[Optional[int], Optional[int]]] = 2**20,
        max_fragments: Optional[int] = MAX_FRAGMENTS,
        logger: Optional[LoggerLike] = None,
    ) -> None:
        super().__init__(SERVER, state=state, max_size=max_size, max_fragments=max_fragments, logger=logger)
        self.origins = origins
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self._select_subprotocol = select_subprotocol
        # True once accept() was called: a rejection then is a failed
        # handshake rather than a plain HTTP response.
        self.accept_called = False
        # Collects the request; dropped once it is parsed.
        self._request_parser: Optional[RequestParser] = RequestParser() if state is CONNECTING else None
        # Bytes received after the request and before the response; a
        # bytearray, or None once more arrived than the head limit allows.
        self._early_data: Optional[bytearray] = bytearray() if state is CONNECTING else None

    # Receiving the request.

    def _receive_handshake(self, data: bytes) -> None:
        # Protocol.receive_data() calls this in CONNECTING, unless discarding.
        if self._eof_rcvd:
            raise EOFError("stream ended")
        parser = self._request_parser
        if parser is None:
            self._hold_early_data(data)
            return
        try:
            result = parser.feed(data)
        except RequestLineTooLong as exc:
            self._reject_request(exc, http.HTTPStatus.REQUEST_URI_TOO_LONG)
            return
        except (HeaderLineTooLong, TooManyHeaders) as exc:
            self._reject_request(exc, http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return
        except Exception as exc:
            self._invalid_request(exc)
            return
        if result is None:
            return
        request, following = result
        self._request_parser = None
        if self.debug:
            self.logger.debug("< %s %s %s", request.method, request.path, request.protocol)
            for name, value in request.headers.raw_items():
                self.logger.debug("< %s: %s", name, value)
        self.events.append(request)
        if following:
            self._hold_early_data(following)

    def receive_eof(self) -> None:
        """Note that the client closed the connection (EOF)."""
        if self._request_parser is not None and not self._discarding and not self._eof_rcvd:
            try:
                self._request_parser.feed_eof()
            except EOFError as exc:
                self._invalid_request(exc)
        Protocol.receive_eof(self)

    def _invalid_request(self, exc: Exception) -> None:
        """The request could not be parsed: close without answering."""
        if self.debug:
            self.logger.debug("! no valid HTTP request", exc_info=True)
        self.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
        self.handshake_exc.__cause__ = exc
        self._request_parser = None
        self.send_eof()
        self._discard()

    def _reject_request(self, exc: Exception, status: http.HTTPStatus) -> None:
        """Answer a request that broke a size limit, without parsing more."""
        if self.debug:
            self.logger.debug("! %s", exc)
        self.handshake_exc = exc
        self._request_parser = None
        self.send_response(self.reject(status, f"Failed to open a WebSocket connection: {exc}.\n"))

    def _hold_early_data(self, data: bytes) -> None:
        # A client must wait for the response before sending frames (RFC
        # 6455 section 4.1); keep what an eager one sends, within the same
        # budget as a request head, for the frame parser once OPEN.
        early = self._early_data
        if early is None:
            return
        if len(early) + len(data) > http11.MAX_LINE_LENGTH * (http11.MAX_NUM_HEADERS + 2):
            self._early_data = None
        else:
            early += data

    # Answering the request.

    def accept(self, request: Request) -> Response:
        """
        Build the response to a handshake request.

        A valid request gets a 101 response that accepts the upgrade, with
        the negotiated extensions and subprotocol. Otherwise the response
        rejects it: 400, 403 (origin), 405 (method), 426 (not an upgrade),
        505 (HTTP version), 500 (an error in ``select_subprotocol`` or an
        extension), with a plain text body saying why, and
        :attr:`handshake_exc` holds the exception.

        Send the response with :meth:`send_response`; add headers to it
        before that if needed (e.g. ``Server``).
        """
        self.accept_called = True
        try:
            accept_header, extensions_header, protocol_header = self.process_request(request)
        except InvalidOrigin as exc:
            return self._refuse(request, exc, http.HTTPStatus.FORBIDDEN, f"Failed to open a WebSocket connection: {exc}.\n")
        except InvalidMethod as exc:
            response = self._refuse(
                request, exc, http.HTTPStatus.METHOD_NOT_ALLOWED, f"Failed to open a WebSocket connection: {exc}.\n"
            )
            response.headers["Allow"] = "GET"
            return response
        except InvalidProtocol as exc:
            return self._refuse(
                request, exc, http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Failed to open a WebSocket connection: {exc}.\n"
            )
        except InvalidUpgrade as exc:
            response = self._refuse(
                request,
                exc,
                http.HTTPStatus.UPGRADE_REQUIRED,
                f"Failed to open a WebSocket connection: {exc}.\n"
                "\n"
                "You cannot access a WebSocket server directly with a browser. You need a WebSocket client.\n",
            )
            response.headers["Upgrade"] = "websocket"
            return response
        except InvalidHandshake as exc:
            # Name every cause, e.g. the base64 error behind a bad key.
            reasons = str(exc)
            cause = exc.__cause__
            while cause is not None:
                reasons += f"; {cause}"
                cause = cause.__cause__
            return self._refuse(request, exc, http.HTTPStatus.BAD_REQUEST, f"Failed to open a WebSocket connection: {reasons}.\n")
        except Exception as exc:
            # A bug in select_subprotocol or an extension: details go to the
            # log, not to the client.
            self.logger.error("opening handshake failed", exc_info=True)
            return self._refuse(
                request,
                exc,
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\nSee server log for more information.\n",
            )

        headers = Headers()
        headers.set_insecure("Date", _http_date())
        headers.set_insecure("Upgrade", "websocket")
        headers.set_insecure("Connection", "Upgrade")
        headers.set_insecure("Sec-WebSocket-Accept", accept_header)
        if extensions_header is not None:
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol_header is not None:
            headers["Sec-WebSocket-Protocol"] = protocol_header
        return Response(101, "Switching Protocols", headers)

    def _refuse(self, request: Request, exc: Exception, status: http.HTTPStatus, text: str) -> Response:
        if self.debug:
            self.logger.debug("! handshake refused: %s", exc, exc_info=True)
        request._exception = exc
        self.handshake_exc = exc
        return self.reject(status, text)

    def process_request(self, request: Request) -> Tuple[str, Optional[str], Optional[str]]:
        """
        Check a handshake request; negotiate extensions and subprotocol.

        The ``Host`` header is not checked: that is the HTTP layer's job.
        Sets :attr:`origin`, :attr:`extensions` and :attr:`subprotocol`.

        Returns:
            The values of the ``Sec-WebSocket-Accept``,
            ``Sec-WebSocket-Extensions`` and ``Sec-WebSocket-Protocol``
            response headers (the last two None when absent).

        Raises:
            InvalidMethod: not GET (405).
            InvalidProtocol: not HTTP/1.1 (505).
            InvalidUpgrade: not a WebSocket upgrade (426).
            InvalidOrigin: origin not acceptable (403).
            InvalidHandshake: anything else wrong (400).
        """
        if request.method != "GET":
            raise InvalidMethod(request.method)
        if request.protocol != "HTTP/1.1":
            raise InvalidProtocol(request.protocol)
        headers = request.headers

        connection = [option for value in headers.get_all("Connection") for option in parse_connection(value)]
        if not any(option.lower() == "upgrade" for option in connection):
            raise InvalidUpgrade("Connection", ", ".join(connection) if connection else None)

        upgrade = [protocol for value in headers.get_all("Upgrade") for protocol in parse_upgrade(value)]
        # RFC 6455 says "websocket", except in its IANA section: accept any case.
        if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
            raise InvalidUpgrade("Upgrade", ", ".join(upgrade) if upgrade else None)

        try:
            key = headers["Sec-WebSocket-Key"]
        except KeyError:
            raise InvalidHeader("Sec-WebSocket-Key") from None
        except MultipleValuesError:
            raise InvalidHeader("Sec-WebSocket-Key", "multiple values") from None
        try:
            raw_key = base64.b64decode(key.encode(), validate=True)
        except binascii.Error as exc:
            raise InvalidHeaderValue("Sec-WebSocket-Key", key) from exc
        if len(raw_key) != 16:
            raise InvalidHeaderValue("Sec-WebSocket-Key", key)

        try:
            version = headers["Sec-WebSocket-Version"]
        except KeyError:
            raise InvalidHeader("Sec-WebSocket-Version") from None
        except MultipleValuesError:
            raise InvalidHeader("Sec-WebSocket-Version", "multiple values") from None
        if version != "13":
            raise InvalidHeaderValue("Sec-WebSocket-Version", version)

        self.origin = self.process_origin(headers)
        extensions_header, self.extensions = self.process_extensions(headers)
        protocol_header = self.subprotocol = self.process_subprotocol(headers)
        return accept_key(key), extensions_header, protocol_header

    def process_origin(self, headers: Headers) -> Optional[Origin]:
        """
        Return the request's origin if it is acceptable, None when absent.

        Raises:
            InvalidHeader: more than one ``Origin`` header (RFC 6454 7.3).
            InvalidOrigin: the origin is not in :attr:`origins`.
        """
        try:
            origin = headers.get("Origin")
        except MultipleValuesError:
            raise InvalidHeader("Origin", "multiple values") from None
        if self.origins is not None:
            for allowed in self.origins:
                if allowed == origin:
                    break
                if isinstance(allowed, re.Pattern) and origin is not None and allowed.fullmatch(origin):
                    break
            else:
                raise InvalidOrigin(origin)
        return origin  # type: ignore[return-value]

    def process_extensions(self, headers: Headers) -> Tuple[Optional[str], List[Extension]]:
        """
        Accept the extensions offered by the client that a factory supports.

        Offers are taken in the client's order; each goes to the factories
        with its name, in :attr:`available_extensions` order, until one's
        ``process_request_params`` accepts it. Offers no factory accepts are
        declined, which does not fail the handshake.

        Returns:
            The ``Sec-WebSocket-Extensions`` response header (None when no
            extension was accepted) and the accepted extensions.

        Raises:
            InvalidHandshake: the header is malformed.
        """
        accepted: List[Extension] = []
        response_params = []
        values = headers.get_all("Sec-WebSocket-Extensions")
        if values and self.available_extensions:
            for name, params in [item for value in values for item in parse_extension(value)]:
                for factory in self.available_extensions:
                    if factory.name != name:
                        continue
                    try:
                        params_out, extension = factory.process_request_params(params, accepted)
                    except NegotiationError:
                        continue
                    response_params.append((name, params_out))
                    accepted.append(extension)
                    break
        return (build_extension(response_params) if response_params else None), accepted

    def process_subprotocol(self, headers: Headers) -> Optional[Subprotocol]:
        """
        Pick the subprotocol, with ``select_subprotocol``.

        Raises:
            InvalidHandshake: the header is malformed, or no subprotocol fits.
        """
        offered = [item for value in headers.get_all("Sec-WebSocket-Protocol") for item in parse_subprotocol(value)]
        if self._select_subprotocol is not None:
            return self._select_subprotocol(self, offered)
        return self.select_subprotocol(offered)

    def select_subprotocol(self, subprotocols: Sequence[Subprotocol]) -> Optional[Subprotocol]:
        """
        Pick a subprotocol among those the client offered.

        The first of :attr:`available_subprotocols` that the client offered
        wins. A server without subprotocols proceeds without one, whatever
        the client offers; a server with some refuses a client that offers
        none or none of them (400). Pass ``select_subprotocol`` to the
        constructor to decide otherwise.

        Args:
            subprotocols: subprotocols offered by the client, in its order.

        Returns:
            The subprotocol, or None to go on without one.

        Raises:
            NegotiationError: to refuse the handshake with a 400 error.
        """
        if not self.available_subprotocols:
            return None
        if not subprotocols:
            raise NegotiationError("missing subprotocol")
        offered = set(subprotocols)
        for subprotocol in self.available_subprotocols:
            if subprotocol in offered:
                return subprotocol
        raise NegotiationError("invalid subprotocol; expected one of " + ", ".join(self.available_subprotocols))

    def reject(self, status: StatusLike, text: str) -> Response:
        """
        Build a response that refuses the connection, with a plain text body.

        Send it with :meth:`send_response`; change its headers before that
        if needed.

        Args:
            status: HTTP status code (an int or :class:`http.HTTPStatus`).
            text: the body, encoded as UTF-8.
        """
        status = http.HTTPStatus(status)
        body = text.encode()
        headers = Headers()
        headers.set_insecure("Date", _http_date())
        headers.set_insecure("Connection", "close")
        headers.set_insecure("Content-Length", str(len(body)))
        headers.set_insecure("Content-Type", "text/plain; charset=utf-8")
        return Response(status.value, status.phrase, headers, body)

    def take_early_data(self) -> Optional[bytes]:
        """
        Return the bytes received after the request, and forget them.

        For an I/O layer that parses them itself once the response is sent,
        with :meth:`receive_data` (a slice at a time, say), instead of
        :meth:`send_response` parsing them all at once. Returns :obj:`None`,
        and forgets nothing, when more arrived than the head limits allow:
        :meth:`send_response` then fails the connection.
        """
        early = self._early_data
        if early is None:
            return None
        self._early_data = bytearray()
        return bytes(early)

    def send_response(self, response: Response) -> None:
        """
        Queue the handshake response for :meth:`data_to_send`.

        A 101 response opens the connection: the state becomes OPEN and
        frames that arrived early are processed. Any other response ends it:
        EOF follows the response and further input is ignored.

        Raises:
            InvalidState: a 101 response when the state is not CONNECTING.
        """
        if self.debug:
            self.logger.debug("> HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
            for name, value in response.headers.raw_items():
                self.logger.debug("> %s: %s", name, value)
            if response.body:
                self.logger.debug("> [body] (%d bytes)", len(response.body))

        if response.status_code == 101:
            if self._state is not CONNECTING:
                raise InvalidState(f"connection is {self._state.name.lower()}")
            self.writes.append(response.serialize())
            self._opened(self.extensions)
            self.logger.info("connection open")
            early, self._early_data = self._early_data, None
            if early is None:
                self.fail(CloseCode.PROTOCOL_ERROR, "too much data before the handshake response")
            elif early:
                Protocol.receive_data(self, bytes(early))
            return

        self.writes.append(response.serialize())
        self.logger.info(
            "connection rejected (%d %s)" if self.accept_called else "HTTP response sent (%d %s)",
            response.status_code,
            response.reason_phrase,
        )
        self._request_parser = None
        self._early_data = None
        if not self.eof_sent:
            self.send_eof()
        if not self._discarding:
            self._discard()
