"""
The part of URL routing that the asyncio and threading routers share: match a
request against a werkzeug URL map and store the handler on the connection,
or answer with a redirect or a 404. Each I/O layer's ``router`` module adds
the connection handler (a coroutine or a function) and ``route()``.
"""

from __future__ import annotations

import http
import urllib.parse
from typing import Any

__all__ = ["RouterBase"]


class RouterBase:
    """
    Dispatches connections to the handlers of a werkzeug URL map.

    Args:
        url_map: a :class:`werkzeug.routing.Map` whose rule endpoints are
            handlers; they receive the connection and the values captured in
            the URL as keyword arguments.
        server_name: host name the clients see, for redirects; default
            :obj:`None`, meaning the request's ``Host`` header.
        url_scheme: ``"ws"`` (default) or ``"wss"``, for redirects.
    """

    def __init__(self, url_map: Any, server_name: str | None = None, url_scheme: str = "ws") -> None:
        self.url_map = url_map
        self.server_name = server_name
        self.url_scheme = url_scheme
        # Every rule serves WebSocket connections; nobody should have to say so.
        for rule in url_map.iter_rules():
            rule.websocket = True

    def get_server_name(self, connection: Any, request: Any) -> str:
        """The host name to match rules and build redirects with."""
        return request.headers["Host"] if self.server_name is None else self.server_name

    def redirect(self, connection: Any, url: str) -> Any:
        """The response for a rule that redirects: 302 to ``url``."""
        response = connection.respond(http.HTTPStatus.FOUND, f"Found at {url}")
        response.headers["Location"] = url
        return response

    def not_found(self, connection: Any) -> Any:
        """The response when no rule matches: 404."""
        return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found")

    def route_request(self, connection: Any, request: Any) -> Any:
        """
        ``process_request`` hook: find the handler for ``request`` and store
        it on the connection, or return a redirect or a 404.
        """
        from werkzeug.exceptions import NotFound
        from werkzeug.routing import RequestRedirect

        adapter = self.url_map.bind(
            server_name=self.get_server_name(connection, request),
            url_scheme=self.url_scheme,
        )
        target = urllib.parse.urlparse(request.path)
        try:
            handler, kwargs = adapter.match(path_info=target.path, query_args=target.query)
        except RequestRedirect as redirect:
            return self.redirect(connection, redirect.new_url)
        except NotFound:
            return self.not_found(connection)
        connection.handler, connection.handler_kwargs = handler, kwargs
        return None
