"""
The logger of a connection, shared by the asyncio and threading layers.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any, MutableMapping, Optional

from .typing import LoggerLike

__all__ = ["ConnectionLogger"]


if TYPE_CHECKING:
    _LoggerAdapter = logging.LoggerAdapter[Any]
else:
    _LoggerAdapter = logging.LoggerAdapter  # not subscriptable before 3.11


class ConnectionLogger(_LoggerAdapter):
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

    def __init__(self, logger: LoggerLike, connection: object) -> None:
        # LoggerAdapter.__init__ would set a per-instance dict; not called.
        self.logger = logger
        self._websocket = weakref.proxy(connection)
        self._extra: Optional[MutableMapping[str, Any]] = None

    @property
    def extra(self) -> MutableMapping[str, Any]:
        if self._extra is None:
            self._extra = {"websocket": self._websocket}
        return self._extra

    @extra.setter
    def extra(self, extra: MutableMapping[str, Any]) -> None:
        self._extra = extra
