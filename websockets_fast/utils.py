"""
Small helpers of the websockets API: the handshake keys, masking, socket names.

``websockets.utils`` exports these names; code that imports them from there
imports them from here unchanged.
"""

from __future__ import annotations

import socket

from .headers import accept_key, generate_key  # noqa: F401 (websockets.utils has generate_key too)
from .speedups import apply_mask as _apply_mask
from .typing import BytesLike

__all__ = ["accept_key", "apply_mask", "get_socket_name"]


def apply_mask(data: BytesLike, mask: BytesLike) -> bytes:
    """
    Return ``data`` XORed with the 4-byte ``mask`` repeated: masking and
    unmasking are the same operation.

    Args:
        data: the bytes to mask (any bytes-like object).
        mask: the 4-byte masking key.

    Raises:
        ValueError: if ``mask`` is not 4 bytes long.
    """
    if isinstance(data, memoryview) and not data.c_contiguous:
        # The compiled XOR works on contiguous memory only.
        data = data.tobytes()
    return _apply_mask(data, mask)


def get_socket_name(sock: socket.socket) -> str:
    """
    Return ``sock.getsockname()`` as a string: ``host:port``, ``[host]:port``
    for IPv6, or the path of a Unix socket.
    """
    name = sock.getsockname()
    if sock.family == socket.AF_INET:
        return "%s:%d" % name
    if sock.family == socket.AF_INET6:
        return "[%s]:%d" % name[:2]
    return str(name)
