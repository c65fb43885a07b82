"""
The side and the state of a WebSocket connection.

Public as :class:`websockets_fast.protocol.Side` and
:class:`websockets_fast.protocol.State`. They live in a module of their own
because protocol.py is also compiled into a second module
(``websockets_fast._speedups.protocol``): defined there, each build would
have its own enum, and ``state is OPEN`` would compare members of two.
"""

import enum

__all__ = ["Side", "State", "SERVER", "CLIENT", "CONNECTING", "OPEN", "CLOSING", "CLOSED"]


class Side(enum.IntEnum):
    """Which end of the connection this is."""

    SERVER = 0
    CLIENT = 1


SERVER = Side.SERVER
CLIENT = Side.CLIENT


class State(enum.IntEnum):
    """The four states of a WebSocket connection (RFC 6455 4.1, 4.2, 7.1)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


CONNECTING = State.CONNECTING
OPEN = State.OPEN
CLOSING = State.CLOSING
CLOSED = State.CLOSED


# Documented, pickled and shown where programs import them from.
Side.__module__ = State.__module__ = "websockets_fast.protocol"
