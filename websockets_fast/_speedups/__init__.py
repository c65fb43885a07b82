"""Compiled hot paths, built from the top-level ``_speedups/*.pyx`` sources.

This package holds only the extension modules and the exception classes that
they share with their pure-Python twins in :mod:`websockets_fast._pyspeedups`.
Nothing here imports the rest of the package. Do not import the extension
modules directly: :mod:`websockets_fast.speedups` picks the implementation.
"""

__all__ = ["SpeedupsError", "FrameProtocolError", "FrameTooLarge", "HTTPParseError", "HTTPLimitError"]


class SpeedupsError(ValueError):
    """Base class of the errors raised by the hot-path parsers."""


class FrameProtocolError(SpeedupsError):
    """A frame breaks a rule of RFC 6455 (the connection closes with 1002)."""


class FrameTooLarge(SpeedupsError):
    """A frame header announces more than the size limit allows (close 1009)."""


class HTTPParseError(SpeedupsError):
    """An HTTP/1.1 head is malformed."""


class HTTPLimitError(HTTPParseError):
    """An HTTP/1.1 head exceeds a line-length or header-count limit."""
