"""
The legacy asyncio implementation, with the API of ``websockets.legacy``:
:mod:`.server` (``serve``, ``WebSocketServerProtocol``), :mod:`.client`
(``connect``, ``WebSocketClientProtocol``), :mod:`.protocol`
(``WebSocketCommonProtocol``, ``broadcast``), :mod:`.auth`,
:mod:`.exceptions`, :mod:`.framing`, :mod:`.handshake` and :mod:`.http`.

As in websockets, it is deprecated: importing it warns. New programs use
:mod:`websockets_fast.asyncio`; this package lets programs written for
``websockets.legacy`` move over by changing their imports.
"""

from __future__ import annotations

import warnings

warnings.warn(
    "websockets_fast.legacy is deprecated (as websockets.legacy is); "
    "see https://websockets.readthedocs.io/en/stable/howto/upgrade.html for upgrade instructions",
    DeprecationWarning,
    stacklevel=2,
)
