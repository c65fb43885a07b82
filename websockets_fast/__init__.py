"""websockets_fast: a fast, lean WebSocket library with the websockets API.

Submodules mirror the ``websockets`` library: ``websockets_fast.asyncio.client``,
``websockets_fast.asyncio.server``, ``websockets_fast.sync.client``,
``websockets_fast.sync.server``, ``websockets_fast.protocol`` and so on.
The top-level names are imported lazily, so that ``import websockets_fast``
stays cheap and imports no I/O layer that the program does not use.
"""

from .version import __version__

__all__ = ["__version__"]
