"""The one switch between the compiled hot paths and their pure-Python twins.

Set ``WEBSOCKETS_FAST_PURE=1`` in the environment to force the pure-Python
twins. Otherwise the compiled modules are used when they were built, and the
twins when they were not (no C compiler at install time, or PyPy).
``BACKEND`` says which one is active: ``"compiled"`` or ``"pure"``.

Every other module imports the hot paths from here and nowhere else.

The per-message path (``SINGLE_SOURCE``: the Sans-I/O protocol, the assembler,
the asyncio and threading connections and the TLS layer) has no twin: it is Python source that setup.py also compiles,
with Cython, into ``websockets_fast._speedups.<name>``. Each of those modules
ends by replacing its classes with their compiled build when ``BACKEND`` is
``"compiled"``.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import TYPE_CHECKING, Tuple

from ._speedups import FrameProtocolError, FrameTooLarge, HTTPLimitError, HTTPParseError, SpeedupsError

__all__ = [
    "BACKEND",
    "SINGLE_SOURCE",
    "SpeedupsError",
    "FrameProtocolError",
    "FrameTooLarge",
    "HTTPParseError",
    "HTTPLimitError",
    "apply_mask",
    "apply_mask_inplace",
    "validate_utf8",
    "Utf8Validator",
    "parse_header",
    "serialize_header",
    "build_frame",
    "append_frame",
    "send_some",
    "recv_some",
    "recv_into_some",
    "build_data_frame",
    "SPLIT_FRAME_SIZE",
    "FrameParser",
    "parse_request",
    "parse_response",
    "FrameQueue",
]


def _load(package: str) -> Tuple[ModuleType, ...]:
    from importlib import import_module

    return tuple(import_module(f"{package}.{name}") for name in ("mask", "utf8", "frames", "http", "ringbuffer"))


# Modules compiled from the package's own .py files (see setup.py).
SINGLE_SOURCE = ("protocol", "assembler", "asyncio_connection", "sync_connection", "tls")


def _check_single_source_built() -> None:
    # Found, not imported: they import this module.
    from importlib.util import find_spec

    for name in SINGLE_SOURCE:
        if find_spec(f"websockets_fast._speedups.{name}") is None:
            raise ImportError(f"websockets_fast._speedups.{name} is not built")


_PURE_REQUESTED = os.environ.get("WEBSOCKETS_FAST_PURE", "") not in ("", "0")

if _PURE_REQUESTED:
    _modules = _load("websockets_fast._pyspeedups")
    BACKEND = "pure"
else:
    try:
        _modules = _load("websockets_fast._speedups")
        _check_single_source_built()
        BACKEND = "compiled"
    except ImportError:
        if os.environ.get("WEBSOCKETS_FAST_REQUIRE_COMPILED", "") not in ("", "0"):
            raise
        _modules = _load("websockets_fast._pyspeedups")
        BACKEND = "pure"

_mask, _utf8, _frames, _http, _ringbuffer = _modules
del _modules

if TYPE_CHECKING:
    # The signatures of _speedups/*.pyi: the compiled modules are checked
    # against them by stubtest (tests/run.sh), and the pure twins carry the
    # same annotations.
    from ._speedups.frames import (
        SPLIT_FRAME_SIZE,
        FrameParser,
        append_frame,
        build_data_frame,
        build_frame,
        parse_header,
        recv_into_some,
        recv_some,
        send_some,
        serialize_header,
    )
    from ._speedups.http import parse_request, parse_response
    from ._speedups.mask import apply_mask, apply_mask_inplace
    from ._speedups.ringbuffer import FrameQueue
    from ._speedups.utf8 import Utf8Validator, validate_utf8
else:
    apply_mask = _mask.apply_mask
    apply_mask_inplace = _mask.apply_mask_inplace
    validate_utf8 = _utf8.validate_utf8
    Utf8Validator = _utf8.Utf8Validator
    parse_header = _frames.parse_header
    serialize_header = _frames.serialize_header
    build_frame = _frames.build_frame
    build_data_frame = _frames.build_data_frame
    append_frame = _frames.append_frame
    send_some = _frames.send_some
    recv_some = _frames.recv_some
    recv_into_some = _frames.recv_into_some
    SPLIT_FRAME_SIZE = _frames.SPLIT_FRAME_SIZE
    FrameParser = _frames.FrameParser
    parse_request = _http.parse_request
    parse_response = _http.parse_response
    FrameQueue = _ringbuffer.FrameQueue
