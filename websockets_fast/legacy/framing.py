"""
Frames for code written against ``websockets.legacy.framing``: :class:`Frame`
(with its async :meth:`Frame.read` and :meth:`Frame.write`),
:func:`prepare_data`, :func:`prepare_ctrl`, :func:`parse_close` and
:func:`serialize_close`.

The framing rules are :class:`websockets_fast.frames.Frame`'s (the compiled
header parser and mask): this module only adapts them to the legacy calling
conventions. The legacy connection itself doesn't use it.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Generator, NamedTuple, Optional, Sequence, Tuple

from .. import frames
from ..extensions.base import Extension
from ..frames import Close
from ..typing import BytesLike, DataLike

__all__ = ["Frame", "prepare_data", "prepare_ctrl", "encode_data", "parse_close", "serialize_close"]

BYTES_LIKE = (bytes, bytearray, memoryview)


def _request(size: int) -> Generator[Any, Any, Any]:
    # The driver in Frame.read() answers with the bytes.
    return (yield size)


class Frame(NamedTuple):
    """A WebSocket frame, as a tuple (websockets' legacy representation)."""

    fin: bool
    opcode: frames.Opcode
    data: bytes
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    @property
    def new_frame(self) -> frames.Frame:
        """The same frame as a :class:`websockets_fast.frames.Frame`."""
        return frames.Frame(self.opcode, self.data, self.fin, self.rsv1, self.rsv2, self.rsv3)

    def __str__(self) -> str:
        return str(self.new_frame)

    def check(self) -> None:
        """Raise :exc:`~websockets_fast.exceptions.ProtocolError` if the frame breaks a rule."""
        return self.new_frame.check()

    @classmethod
    async def read(
        cls,
        reader: Callable[[int], Awaitable[bytes]],
        *,
        mask: bool,
        max_size: Optional[int] = None,
        extensions: Optional[Sequence[Extension]] = None,
    ) -> Frame:
        """
        Read one frame with ``reader``, a coroutine function ``(n) -> n bytes``
        (``StreamReader.readexactly``).

        Raises:
            PayloadTooBig: the frame is larger than ``max_size``.
            ProtocolError: the frame breaks a rule.
        """
        # _request yields the sizes it wants and receives the bytes.
        parse: Any = frames.Frame.parse(_request, mask=mask, max_size=max_size, extensions=extensions)
        try:
            size = next(parse)
            while True:
                size = parse.send(await reader(size))
        except StopIteration as done:
            frame = done.value
        return cls(frame.fin, frame.opcode, frame.data, frame.rsv1, frame.rsv2, frame.rsv3)

    def write(
        self,
        write: Callable[[bytes], Any],
        *,
        mask: bool,
        extensions: Optional[Sequence[Extension]] = None,
    ) -> None:
        """Serialise the frame and pass its bytes to ``write``."""
        write(self.new_frame.serialize(mask=mask, extensions=extensions))


def prepare_data(data: DataLike) -> Tuple[int, BytesLike]:
    """Return ``(opcode, payload)`` for a data frame carrying ``data`` (str or bytes-like)."""
    if isinstance(data, str):
        return frames.Opcode.TEXT, data.encode()
    if isinstance(data, BYTES_LIKE):
        return frames.Opcode.BINARY, data
    raise TypeError("data must be str or bytes-like")


def prepare_ctrl(data: DataLike) -> bytes:
    """Return the payload of a control frame carrying ``data`` (str or bytes-like) as bytes."""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, BYTES_LIKE):
        return bytes(data)
    raise TypeError("data must be str or bytes-like")


encode_data = prepare_ctrl


def parse_close(data: bytes) -> Tuple[int, str]:
    """Return ``(code, reason)`` from a close frame's payload."""
    close = Close.parse(data)
    close.check()
    return close.code, close.reason


def serialize_close(code: int, reason: str) -> bytes:
    """Return the payload of a close frame."""
    return Close(code, reason).serialize()
