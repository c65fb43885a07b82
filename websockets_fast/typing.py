"""Type aliases used in the signatures of the public API, as in websockets.

They are plain aliases, usable at run time on Python 3.9 (hence ``Union``
rather than ``X | Y``).
"""

from __future__ import annotations

import http
import logging
import os
from typing import Any, NewType, Optional, Sequence, Tuple, Union

__all__ = [
    "Data",
    "BytesLike",
    "DataLike",
    "LoggerLike",
    "PathLike",
    "StatusLike",
    "Origin",
    "Subprotocol",
    "ExtensionName",
    "ExtensionParameter",
]

Data = Union[str, bytes]
"""A WebSocket message: :class:`str` for a text frame, :class:`bytes` for binary."""

BytesLike = Union[bytes, bytearray, memoryview]
"""What is accepted where :class:`bytes` is expected."""

DataLike = Union[str, bytes, bytearray, memoryview]
"""What is accepted where :data:`Data` is expected."""

LoggerLike = Union[logging.Logger, "logging.LoggerAdapter[Any]"]
"""What is accepted where a :class:`logging.Logger` is expected."""

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
"""What is accepted where a file system path is expected."""

StatusLike = Union[http.HTTPStatus, int]
"""What is accepted where an :class:`http.HTTPStatus` is expected."""

Origin = NewType("Origin", str)
"""The value of an ``Origin`` header."""

Subprotocol = NewType("Subprotocol", str)
"""A subprotocol named in a ``Sec-WebSocket-Protocol`` header."""

ExtensionName = NewType("ExtensionName", str)
"""The name of a WebSocket extension."""

ExtensionParameter = Tuple[str, Optional[str]]
"""A ``(name, value)`` parameter of an extension; value is None when absent."""

# Internal aliases, named as in websockets.

ExtensionHeader = Tuple[ExtensionName, Sequence[ExtensionParameter]]
"""One extension offered or accepted in a ``Sec-WebSocket-Extensions`` header."""

ConnectionOption = NewType("ConnectionOption", str)
"""A token of a ``Connection`` header."""

UpgradeProtocol = NewType("UpgradeProtocol", str)
"""A protocol named in an ``Upgrade`` header."""
