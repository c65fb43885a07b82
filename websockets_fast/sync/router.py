"""
Routing connections to handlers by URL, with werkzeug's URL maps, as in
``websockets.sync.router``: :func:`route`, :func:`unix_route`, :class:`Router`.

werkzeug is optional: it is imported when :func:`route` is first called.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..http11 import Request, Response

from ..routing import RouterBase
from .server import Server, ServerConnection, serve

__all__ = ["route", "unix_route", "Router"]


class Router(RouterBase):
    """
    Dispatches connections to the handlers of a werkzeug URL map.

    Args:
        url_map: a :class:`werkzeug.routing.Map` whose rule endpoints are
            handlers; they receive the connection and the values captured in
            the URL as keyword arguments.
        server_name: host name the clients see, for redirects; default the
            request's ``Host`` header.
        url_scheme: ``"ws"`` (default) or ``"wss"``, for redirects.
    """

    def handler(self, connection: ServerConnection) -> None:
        """Connection handler: run the handler that route_request picked."""
        connection.handler(connection, **connection.handler_kwargs)


def route(
    url_map: Any,
    *args: Any,
    server_name: str | None = None,
    ssl: Any = None,
    create_router: Callable[..., Router] | None = None,
    **kwargs: Any,
) -> Server:
    """
    Create a WebSocket server that dispatches connections by URL::

        from werkzeug.routing import Map, Rule

        def channel(websocket, channel_id):
            ...

        url_map = Map([Rule("/channel/<uuid:channel_id>", endpoint=channel)])
        with route(url_map, "127.0.0.1", 8765) as server:
            server.serve_forever()

    Requires werkzeug. Unmatched paths get HTTP 404; ``redirect_to`` rules
    get HTTP 302.

    Args:
        url_map: werkzeug URL map whose endpoints are handlers.
        server_name: host name seen by clients, for redirects; default the
            ``Host`` header.
        ssl: TLS configuration as in :func:`~websockets_fast.sync.server.serve`,
            or :obj:`True` when a reverse proxy terminates TLS (redirects then
            use ``wss://``).
        create_router: factory for the :class:`Router`. Default
            :class:`Router`.

    Other arguments are as in :func:`~websockets_fast.sync.server.serve`;
    a ``process_request`` runs before routing.
    """
    try:
        import werkzeug.routing  # noqa: F401
    except ImportError:
        raise ImportError("route() requires werkzeug") from None
    url_scheme = "ws" if ssl is None else "wss"
    if ssl is not True and ssl is not None:
        kwargs["ssl"] = ssl
    router = (Router if create_router is None else create_router)(url_map, server_name, url_scheme)

    user_process_request = kwargs.pop("process_request", None)
    if user_process_request is None:
        process_request = router.route_request
    else:

        def process_request(connection: ServerConnection, request: Request) -> Optional[Response]:
            response: Optional[Response] = user_process_request(connection, request)
            if response is not None:
                return response
            routed: Optional[Response] = router.route_request(connection, request)
            return routed

    return serve(router.handler, *args, process_request=process_request, **kwargs)


def unix_route(url_map: Any, path: Any = None, **kwargs: Any) -> Server:
    """:func:`route` on a Unix socket at ``path``, as :func:`~websockets_fast.sync.server.unix_serve`."""
    return route(url_map, unix=True, path=path, **kwargs)
