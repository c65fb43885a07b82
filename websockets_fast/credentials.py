"""
What the asyncio and threading ``basic_auth()`` share: checking credentials
and building the 401 response. Each I/O layer adds its ``process_request``
(which may await an async ``check_credentials`` in asyncio).
"""

from __future__ import annotations

import hmac
import http
from collections.abc import Iterable
from typing import Any, Awaitable, Callable, Optional, Union

from .headers import build_www_authenticate_basic
from .http11 import Response

__all__ = ["credentials_checker", "unauthorized"]


def _is_credentials(value: Any) -> bool:
    try:
        username, password = value
    except (TypeError, ValueError):
        return False
    return isinstance(username, str) and isinstance(password, str)


# What check_credentials returns: a bool, or an awaitable of one in asyncio.
Checker = Callable[[str, str], Union[bool, Awaitable[bool]]]


def credentials_checker(
    credentials: Any,
    check_credentials: Optional[Checker],
) -> Checker:
    """
    Return ``check_credentials``, or a checker of the static ``credentials``:
    one ``(username, password)`` pair or an iterable of pairs.

    Raises:
        TypeError: ``credentials`` is malformed.
        ValueError: both or neither were given.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    if credentials is None:
        assert check_credentials is not None  # checked above
        return check_credentials
    if _is_credentials(credentials):
        credentials_list = [credentials]
    elif isinstance(credentials, Iterable):
        credentials_list = list(credentials)
        if not all(_is_credentials(item) for item in credentials_list):
            raise TypeError(f"invalid credentials argument: {credentials}")
    else:
        raise TypeError(f"invalid credentials argument: {credentials}")
    passwords = dict(credentials_list)

    def check(username: str, password: str) -> bool:
        expected = passwords.get(username)
        if expected is None:
            return False
        # Constant-time comparison: no timing oracle on the password.
        return hmac.compare_digest(
            expected.encode(errors="surrogateescape"),
            password.encode(errors="surrogateescape"),
        )

    return check


def unauthorized(connection: Any, realm: str, text: str) -> Response:
    """A 401 response asking for Basic credentials in ``realm``."""
    response: Response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
    response.headers["WWW-Authenticate"] = build_www_authenticate_basic(realm)
    return response
