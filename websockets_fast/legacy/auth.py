"""
HTTP Basic Auth for the legacy server: :class:`BasicAuthWebSocketServerProtocol`
and :func:`basic_auth_protocol_factory`, with the API of ``websockets.legacy.auth``.
"""

from __future__ import annotations

import functools
import http
from typing import Any, Awaitable, Callable, Iterable, Optional, Tuple, Union

from ..credentials import credentials_checker
from ..datastructures import Headers
from ..exceptions import InvalidHeader
from ..headers import build_www_authenticate_basic, parse_authorization_basic
from .server import HTTPResponse, WebSocketServerProtocol

__all__ = ["BasicAuthWebSocketServerProtocol", "basic_auth_protocol_factory"]


class BasicAuthWebSocketServerProtocol(WebSocketServerProtocol):
    """
    A server connection that requires HTTP Basic Auth credentials.

    Args:
        realm: scope of protection (ASCII); default the class attribute "".
        check_credentials: coroutine function ``(username, password) -> bool``.

    Once authenticated, :attr:`username` holds the user's name.
    """

    realm: str = ""
    username: Optional[str] = None

    def __init__(
        self,
        *args: Any,
        realm: Optional[str] = None,
        check_credentials: Optional[Callable[[str, str], Awaitable[bool]]] = None,
        **kwargs: Any,
    ) -> None:
        if realm is not None:
            self.realm = realm
        self._check_credentials = check_credentials
        super().__init__(*args, **kwargs)

    async def check_credentials(self, username: str, password: str) -> bool:
        """Whether the credentials are valid; override it, or pass ``check_credentials``."""
        if self._check_credentials is not None:
            return await self._check_credentials(username, password)
        return False

    def _unauthorized(self, text: bytes) -> HTTPResponse:
        return (
            http.HTTPStatus.UNAUTHORIZED,
            [("WWW-Authenticate", build_www_authenticate_basic(self.realm))],
            text,
        )

    async def process_request(self, path: str, request_headers: Headers) -> Optional[HTTPResponse]:
        """Answer 401 unless the request carries valid credentials."""
        try:
            authorization = request_headers["Authorization"]
        except KeyError:
            return self._unauthorized(b"Missing credentials\n")
        try:
            username, password = parse_authorization_basic(authorization)
        except InvalidHeader:
            return self._unauthorized(b"Unsupported credentials\n")
        if not await self.check_credentials(username, password):
            return self._unauthorized(b"Invalid credentials\n")
        self.username = username
        return await super().process_request(path, request_headers)


def basic_auth_protocol_factory(
    realm: Optional[str] = None,
    credentials: Union[Tuple[str, str], Iterable[Tuple[str, str]], None] = None,
    check_credentials: Optional[Callable[[str, str], Awaitable[bool]]] = None,
    create_protocol: Optional[Callable[..., BasicAuthWebSocketServerProtocol]] = None,
) -> Callable[..., BasicAuthWebSocketServerProtocol]:
    """
    A ``create_protocol`` for :func:`~websockets_fast.legacy.server.serve`
    that enforces HTTP Basic Auth::

        serve(..., create_protocol=basic_auth_protocol_factory(
            realm="my dev server", credentials=("hello", "iloveyou")))

    Args:
        realm: scope of protection (ASCII).
        credentials: a ``(username, password)`` pair or an iterable of pairs.
        check_credentials: coroutine function ``(username, password) -> bool``;
            give it or ``credentials``, not both.
        create_protocol: the class to make; default
            :class:`BasicAuthWebSocketServerProtocol`.

    Raises:
        TypeError: ``credentials`` or ``check_credentials`` is wrong.
    """
    try:
        check = credentials_checker(credentials, check_credentials)
    except ValueError as exc:
        raise TypeError(str(exc)) from None
    if credentials is not None:
        sync_check = check

        async def check(username: str, password: str) -> bool:
            return sync_check(username, password)  # type: ignore[return-value]  # static credentials: a bool

    if create_protocol is None:
        create_protocol = BasicAuthWebSocketServerProtocol
    return functools.partial(create_protocol, realm=realm, check_credentials=check)  # type: ignore[arg-type]  # async, or made so above
