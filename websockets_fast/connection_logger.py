"""
The logger of a connection, shared by the asyncio and threading layers.
"""

from __future__ import annotations

import logging
import weakref

__all__ = ["ConnectionLogger"]


class ConnectionLogger(logging.LoggerAdapter):
    """
    A :class:`logging.LoggerAdapter` whose records carry the connection as
    the ``websocket`` extra, as websockets' connection loggers do: adapters
    and formatters (``%(websocket)s``) written for websockets rely on it.

    The connection is held through a weak proxy, so that the logger keeps
    no connection alive. The ``extra`` dict is built on first use: most
    connections never log a record, and every connection has a logger.
    """

    __slots__ = ("logger", "_websocket", "_extra")

    # LoggerAdapter.process() reads it on Python 3.13+.
    merge_extra = False

    def __init__(self, logger, connection):
        # LoggerAdapter.__init__ would set a per-instance dict; not called.
        self.logger = logger
        self._websocket = weakref.proxy(connection)
        self._extra = None

    @property
    def extra(self):
        if self._extra is None:
            self._extra = {"websocket": self._websocket}
        return self._extra

    @extra.setter
    def extra(self, extra):
        self._extra = extra
