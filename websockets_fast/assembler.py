"""
Message assembly shared by the asyncio and threading connections.

Nothing here waits, locks or touches a socket: the I/O layers do that. This
module only keeps incoming data frames and answers, at once, the questions
both layers ask.

``Assembler(max_queue=16, pause=None, resume=None, max_size=2**20, max_fragments=4096)``

* ``put(frame)`` queues a data frame (TEXT, BINARY or CONT; any object with
  ``opcode``, ``data`` and ``fin`` attributes), or a whole message as its
  payload: ``bytes`` for BINARY, ``str`` for TEXT (what
  ``FrameParser.feed_messages()`` returns). It raises :exc:`EOFError`
  after :meth:`~Assembler.close`. When the queue grows above the high-water
  mark, ``pause()`` is called once; when the reader has consumed it down to
  the low-water mark, ``resume()`` is called once.
* ``complete`` is the number of complete messages queued. A reader may call
  :meth:`~Assembler.take` without waiting when ``complete or closed``; when
  ``queue`` (the frame queue: read it, don't push or pop) is empty too,
  there is nothing for take() to do.
* ``take(decode=None)`` returns the next complete message (``str`` or
  ``bytes``). When no message is complete yet it returns :obj:`None` after
  moving the fragments received so far out of the queue and into one
  growing buffer, so that the queue drains, reading resumes and the memory
  held stays bounded by ``max_size`` whatever the number of fragments. Call
  it again when more frames have arrived. It raises :exc:`EOFError` once the
  stream has ended and no complete message remains.
* ``take_fragment(decode=None)`` returns ``(fragment, fin)`` for the next
  frame of the current message, or :obj:`None` when none has arrived yet;
  :exc:`EOFError` once the stream has ended. This is ``recv_streaming()``.
* ``close()`` ends the stream: messages already complete can still be taken.

``decode`` is as in websockets' ``recv(decode=...)``: :obj:`None` decodes
TEXT messages to ``str`` and returns BINARY ones as ``bytes``, :obj:`True`
decodes both, :obj:`False` decodes neither. Invalid UTF-8 raises
:exc:`UnicodeDecodeError` (close the connection with 1007). When
``max_size`` is :obj:`None` (no size bound), a message of more than
``max_fragments`` frames raises :exc:`~websockets_fast.exceptions.TooManyFragments`
(close with 1009).

Serialising readers (``ConcurrencyError`` on two concurrent ``recv()``) is
the I/O layer's job; the assembler only refuses to mix ``take()`` into a
message that ``take_fragment()`` has started streaming.

:class:`PingTracker` keeps the pings waiting for a pong and computes the
latency when one arrives; :func:`parse_max_queue` and
:func:`parse_write_limit` turn the user's ``max_queue`` and ``write_limit``
arguments into ``(high, low)`` water marks, both with :func:`water_marks`.
"""

from __future__ import annotations

import codecs
import os
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

# Absolute imports: this file is also compiled as websockets_fast._speedups.assembler.
from websockets_fast.exceptions import ConcurrencyError, TooManyFragments
from websockets_fast.frames import MAX_FRAGMENTS, OP_TEXT
from websockets_fast.speedups import BACKEND, FrameQueue

if TYPE_CHECKING:
    from websockets_fast.frames import Frame
    from websockets_fast.typing import BytesLike, Data

__all__ = ["Assembler", "PingTracker", "water_marks", "parse_max_queue", "parse_write_limit", "MAX_FRAGMENTS"]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


def water_marks(value: Union[int, None, Tuple[Optional[int], Optional[int]]], name: str) -> Tuple[Optional[int], Optional[int]]:
    """
    Turn a ``max_queue`` or ``write_limit`` argument into ``(high, low)``.

    ``value`` is an int (the high-water mark) or a ``(high, low)`` tuple
    where either may be :obj:`None`. Given one mark, the other follows as in
    websockets and asyncio's ``set_write_buffer_limits()``: low is
    ``high // 4``, high is ``4 * low``. :obj:`None` or ``(None, None)``
    means no limit: ``(None, None)``. ``name`` is for the error message.
    """
    if value is None:
        return None, None
    high: Optional[int]
    low: Optional[int]
    if isinstance(value, int):
        high, low = value, None
    else:
        high, low = value
    if high is None:
        if low is None:
            return None, None
        high = low * 4
    elif low is None:
        low = high // 4
    if low < 0 or high < low:
        raise ValueError(f"{name} needs 0 <= low <= high")
    return high, low


def parse_max_queue(max_queue: Union[int, None, Tuple[Optional[int], Optional[int]]]) -> Tuple[Optional[int], Optional[int]]:
    """
    Turn a ``max_queue`` argument into ``(high, low)`` frame counts (see
    :func:`water_marks`); :obj:`None` is an unbounded queue that never
    pauses reading.
    """
    return water_marks(max_queue, "max_queue")


def parse_write_limit(write_limit: Union[int, Tuple[int, Optional[int]]]) -> Tuple[int, int]:
    """
    Turn a ``write_limit`` argument into ``(high, low)`` byte counts (see
    :func:`water_marks`). Writing is always limited: it needs a mark.
    """
    high, low = water_marks(write_limit, "write_limit")
    if high is None:
        raise TypeError("write_limit must be an int or a (high, low) tuple")
    marks: Tuple[int, int] = (high, low)  # type: ignore[assignment]  # low is set when high is
    # Connections keep these marks: those of one server share one tuple (and
    # its ints), rather than each keeping 90 bytes of its own.
    if len(_SHARED_WRITE_LIMITS) < 16:
        return _SHARED_WRITE_LIMITS.setdefault(marks, marks)
    return _SHARED_WRITE_LIMITS.get(marks, marks)


_SHARED_WRITE_LIMITS: Dict[Tuple[int, int], Tuple[int, int]] = {}


def _message_limit(max_size: Union[int, None, Tuple[Optional[int], Optional[int]]]) -> Optional[int]:
    """The message size limit out of a ``max_size`` int, tuple or None."""
    if isinstance(max_size, tuple):
        return max_size[0]
    return max_size


def _as_bytes(data: BytesLike) -> bytes:
    return data if type(data) is bytes else bytes(data)


# Fragments of at least this many bytes are joined without an intermediate
# copy (see Assembler.take); the list entry costs under 0.5 % of them.
_SHARED_PART_SIZE = 4096


def _as_str(data: BytesLike) -> str:
    if type(data) is bytes:
        # A local of its own: the compiled build types it bytes and decodes
        # it with one C call (see assembler.pxd).
        raw = data
        return raw.decode("utf-8")
    return str(data, "utf-8")


def _whole_message(data: Union[bytes, str], decode: Optional[bool]) -> Data:
    """A whole message queued as its payload (see Assembler.put), as ``decode`` asks."""
    if isinstance(data, bytes):
        return _as_str(data) if decode else data
    return data.encode() if decode is False else data


class Assembler:
    """
    Queue of incoming data frames that hands out whole messages or fragments.

    Args:
        max_queue: high-water mark of the frame queue, as an int, a
            ``(high, low)`` tuple or :obj:`None` (see :func:`parse_max_queue`).
            Default 16 (low 4).
        pause: called once when the queue rises above the high-water mark;
            it should stop reading from the network. Default: nothing.
        resume: called once when the queue is back down to the low-water
            mark; it should resume reading. Default: nothing.
        max_size: the connection's ``max_size`` (int, tuple or None); it only
            decides whether the fragment cap applies. Default 1 MiB.
        max_fragments: most frames in one message when ``max_size`` is
            :obj:`None`. Default 4096 (``WEBSOCKETS_MAX_FRAGMENTS``).
    """

    __slots__ = (
        "queue",
        "complete",
        "closed",
        "_max_fragments",
        "_first",
        "_parts",
        "_count",
        "_text",
        "_decoder",
        "_streaming",
    )

    def __init__(
        self,
        max_queue: Union[int, None, Tuple[Optional[int], Optional[int]]] = 16,
        pause: Optional[Callable[[], object]] = None,
        resume: Optional[Callable[[], object]] = None,
        max_size: Union[int, None, Tuple[Optional[int], Optional[int]]] = 2**20,
        max_fragments: Optional[int] = MAX_FRAGMENTS,
    ) -> None:
        high, low = parse_max_queue(max_queue)
        self.queue = FrameQueue(high, low, pause, resume)
        # Number of messages whose last frame is queued.
        self.complete = 0
        self.closed = False
        # The fragment cap exists to bound memory; max_size already does.
        self._max_fragments: Optional[int] = max_fragments if _message_limit(max_size) is None else None
        # A message being joined by take(): its first frame's data, then,
        # once a second fragment arrives, its parts, joined when the last
        # one comes.
        self._first: Optional[BytesLike] = None
        self._parts: Optional[List[BytesLike]] = None
        self._count = 0
        self._text = False
        # A message being streamed by take_fragment().
        self._decoder: Optional[codecs.IncrementalDecoder] = None
        self._streaming = False

    def __len__(self) -> int:
        """Number of frames in the queue."""
        return len(self.queue)

    @property
    def paused(self) -> bool:
        """Whether the queue is above its high-water mark (reading paused)."""
        return self.queue.paused

    def put(self, frame: Union[Frame, bytes, str]) -> None:
        """Queue a data frame or a whole message (``bytes`` or ``str``).

        Raises :exc:`EOFError` after :meth:`close`.
        """
        if self.closed:
            raise EOFError("stream of frames ended")
        if type(frame) is bytes or type(frame) is str or frame.fin:  # type: ignore[union-attr]  # a Frame
            self.complete += 1
        self.queue.push(frame)

    def put_frames(self, frames: List[Union[Frame, bytes, str]]) -> None:
        """Queue a list of data frames or whole messages, as :meth:`put` each."""
        if self.closed:
            raise EOFError("stream of frames ended")
        self.complete += self.queue.push_frames(frames)

    def close(self) -> None:
        """End the stream of frames. Complete messages remain available."""
        self.closed = True

    def take(self, decode: Optional[bool] = None) -> Optional[Data]:
        """
        Return the next complete message, or :obj:`None` if none is complete.

        Args:
            decode: :obj:`None` (default) returns ``str`` for TEXT and
                ``bytes`` for BINARY; :obj:`True` always ``str``;
                :obj:`False` always ``bytes``.

        Raises:
            EOFError: the stream ended and no complete message remains.
            UnicodeDecodeError: the message should be text but isn't UTF-8.
            TooManyFragments: see the class docstring.
            ConcurrencyError: a message is being streamed by take_fragment().
        """
        if self._streaming:
            raise ConcurrencyError("a message is being streamed")
        queue = self.queue
        # Move what has arrived of the current message into one buffer; an
        # unfragmented message returns on the first iteration.
        while queue:
            frame = queue.pop()
            # A whole message as its payload (see put()); it comes only
            # between messages, never inside a fragmented one.
            if type(frame) is bytes or type(frame) is str:
                self.complete -= 1
                return _whole_message(frame, decode)
            if self._first is None:
                # A C int in the compiled build (see assembler.pxd).
                opcode = frame.opcode
                if frame.fin:
                    self.complete -= 1
                    data = frame.data
                    if decode is None:
                        decode = opcode == OP_TEXT
                    if decode:
                        return _as_str(data)
                    return data if type(data) is bytes else bytes(data)
                self._first = frame.data
                self._text = opcode == OP_TEXT
                self._count = 1
                continue
            self._count += 1
            if self._max_fragments is not None and self._count > self._max_fragments:
                self._reset()
                raise TooManyFragments(self._max_fragments)
            parts = self._parts
            if parts is None:
                self._parts = parts = [self._first]
            # Large fragments are kept as they are and copied once, by the
            # join at the end. Small ones are copied into a bytearray as
            # they come, so that a message of many tiny fragments holds one
            # buffer, not an object per fragment.
            data = frame.data
            if len(data) >= _SHARED_PART_SIZE:
                parts.append(data)
            elif type(parts[-1]) is bytearray:
                parts[-1] += data
            else:
                parts.append(bytearray(data))
            if frame.fin:
                self.complete -= 1
                data = b"".join(self._parts)  # type: ignore[arg-type]  # parts, set above
                if decode is None:
                    decode = self._text
                self._reset()
                return data.decode() if decode else data
        if self.closed:
            raise EOFError("stream of frames ended")
        return None

    def take_fragment(self, decode: Optional[bool] = None) -> Optional[Tuple[Data, bool]]:
        """
        Return ``(fragment, fin)`` for the next frame of the current message.

        Returns :obj:`None` when the next frame hasn't arrived yet. The first
        call picks str or bytes for the whole message, as ``decode`` in
        :meth:`take`; the message ends with the fragment where ``fin`` is
        true.

        Raises:
            EOFError: the stream ended before the next frame.
            UnicodeDecodeError: a text fragment isn't valid UTF-8.
        """
        if not self._streaming and self._first is not None:
            # take() was interrupted half-way through this message (its
            # caller was cancelled): stream what it had joined first.
            data: Any = self._first if self._parts is None else b"".join(self._parts)
            text = self._text
            self._reset()
            self._start_stream(text, decode)
            return self._fragment(data, False), False
        queue = self.queue
        if not queue:
            if self.closed:
                raise EOFError("stream of frames ended")
            return None
        frame = queue.pop()
        if type(frame) is bytes or type(frame) is str:
            # A whole message as its payload (see put()): its first fragment
            # is its last, as for a frame with fin.
            self.complete -= 1
            self._streaming = False
            self._decoder = None
            return _whole_message(frame, decode), True
        if not self._streaming:
            self._start_stream(frame.opcode == OP_TEXT, decode)
        fin = frame.fin
        if fin:
            self.complete -= 1
            self._streaming = False
        data = self._fragment(frame.data, fin)
        if fin:
            self._decoder = None
        return data, fin

    def _start_stream(self, text: bool, decode: Optional[bool]) -> None:
        self._streaming = True
        if decode is None:
            decode = text
        self._decoder = _Utf8Decoder() if decode else None

    def _fragment(self, data: BytesLike, fin: bool) -> Data:
        if self._decoder is None:
            return _as_bytes(data)
        return self._decoder.decode(data, fin)

    def _reset(self) -> None:
        self._first = None
        self._parts = None
        self._count = 0


class PingTracker:
    """
    Pings waiting for their pong, in the order they were sent.

    Each ping carries an opaque ``waiter`` (a future, an event, or
    :obj:`None`) that the I/O layer completes with the latency.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        # Created on the first ping: most connections never ping by hand
        # and an idle connection shouldn't pay for an empty dict.
        self._pending: Optional[Dict[bytes, Tuple[Any, float]]] = None

    def __len__(self) -> int:
        return 0 if self._pending is None else len(self._pending)

    def __contains__(self, data: object) -> bool:
        return self._pending is not None and data in self._pending

    def new_payload(self) -> bytes:
        """Four random bytes that no pending ping uses."""
        while True:
            data = os.urandom(4)
            if data not in self:
                return data

    def add(self, data: bytes, waiter: Any, now: float) -> None:
        """
        Record a ping with payload ``data`` sent at time ``now``.

        Raises:
            ConcurrencyError: a ping with the same payload awaits its pong.
        """
        if self._pending is None:
            self._pending = {}
        elif data in self._pending:
            raise ConcurrencyError("already waiting for a pong with the same data")
        self._pending[data] = (waiter, now)

    def acknowledge(self, data: bytes, now: float) -> Optional[Tuple[float, List[Tuple[Any, float]]]]:
        """
        Handle a pong with payload ``data`` received at time ``now``.

        A pong answers its ping and every earlier one (RFC 6455 allows
        answering only the latest). Returns ``(latency, acknowledged)`` where
        ``acknowledged`` lists ``(waiter, latency)`` pairs, or :obj:`None`
        for an unsolicited pong.
        """
        pending = self._pending
        if pending is None or data not in pending:
            return None
        acknowledged = []
        for key in list(pending):
            waiter, sent = pending.pop(key)
            acknowledged.append((waiter, now - sent))
            if key == data:
                return now - sent, acknowledged
        raise AssertionError("unreachable: data was in pending")

    def clear(self) -> List[Any]:
        """Forget every pending ping; returns their waiters."""
        pending, self._pending = self._pending, None
        return [] if pending is None else [waiter for waiter, _ in pending.values()]


# This file is also compiled by Cython into websockets_fast._speedups.assembler,
# with the C types of _speedups/assembler.pxd: on the compiled backend, its
# build of the class replaces the one above.
if __name__ == "websockets_fast.assembler" and BACKEND == "compiled":
    from websockets_fast._speedups.assembler import Assembler  # noqa: F811, E402
