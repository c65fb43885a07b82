# cython: binding=False
# (Compiled: the methods are plain method descriptors, as in a .pyx; with
# Cython's default binding=True, each call from Python costs about a fifth more.)
"""FIFO of incoming frames with high and low water marks.

The one source of the frame queue: the pure-Python backend runs this file as
it is, and setup.py also compiles it, with Cython in pure-Python mode and the
C types of ``_speedups/ringbuffer.pxd``, into
:mod:`websockets_fast._speedups.ringbuffer`, whose ``FrameQueue`` the
compiled assembler calls in C.

The items live in a circular array whose size is a power of two, so that the
next slot is ``(head + count) & mask``. The array is a Python list: the
cyclic garbage collector then sees the items (a frame may well reference the
connection that owns this queue). It is allocated on the first push (4
slots), doubles when full, halves when a quarter full, and is released when
the queue empties, so that an idle connection holds no array at all.

Python code may run in the middle of a method: a finalizer (of an item
released, or of garbage that the cycle collector, started by an allocation,
frees) or a callback. The queue is whole whenever it does: fields that go
together are written together, arrays are allocated before the queue is
looked at, and items are released last.
"""

from __future__ import annotations

import operator
import sys
from typing import Any, Callable, List, Optional

__all__ = ["FrameQueue"]

MIN_CAPACITY = 4
# A finalizer that keeps filling the queue while it grows can make the new
# array too small again; give up after this many tries.
MAX_GROW_TRIES = 16


def _mark(value: int) -> int:
    # A mark above any possible length behaves as that length (and the
    # compiled build stores it in a C Py_ssize_t).
    return value if value < sys.maxsize else sys.maxsize


class FrameQueue:
    """First-in, first-out queue with flow control callbacks.

    ``high`` (default 16) is the high-water mark: when a push makes the
    length rise above it, ``pause()`` is called, once. ``low`` (default
    ``high // 4``) is the low-water mark: when, after that, the length falls
    to ``low`` or below, ``resume()`` is called, once. ``high=None`` makes
    the queue unbounded: it never pauses (given ``low`` alone, high is
    ``4 * low``, as websockets does). ``pause`` and ``resume`` default to
    None: nothing is called. ``ValueError`` when ``high < 0``, ``low < 0``
    or ``low > high``.
    """

    # Declared with their C types in ringbuffer.pxd. _high and _low are -1
    # for an unbounded queue; _items is None when the queue is empty.
    __slots__ = ("_items", "_head", "_count", "_mask", "_high", "_low", "_pause", "_resume", "_paused")

    def __init__(
        self,
        high: Optional[int] = 16,
        low: Optional[int] = None,
        pause: Optional[Callable[[], object]] = None,
        resume: Optional[Callable[[], object]] = None,
    ) -> None:
        # Checked and completed before anything changes: a failed
        # re-initialisation leaves the queue as it was.
        if high is not None:
            high = operator.index(high)
        if low is not None:
            low = operator.index(low)
        if high is None and low is not None:
            high = low * 4
        if high is not None and low is None:
            low = high // 4
        c_high = c_low = -1
        if high is not None:
            assert low is not None  # set from high above
            if high < 0:
                raise ValueError("high must be >= 0")
            if low < 0:
                raise ValueError("low must be >= 0")
            if low > high:
                raise ValueError("low must be <= high")
            c_high = _mark(high)
            c_low = _mark(low)
        try:
            items, head, count, mask = self._items, self._head, self._count, self._mask
        except AttributeError:  # a new queue, run as Python (compiled, its fields start zeroed)
            items, head, count, mask = None, 0, 0, 0
        self._high: int = c_high
        self._low: int = c_low
        self._pause: Optional[Callable[[], object]] = pause
        self._resume: Optional[Callable[[], object]] = resume
        self._paused: bool = False
        self._items: Optional[List[Any]] = None
        self._head: int = 0
        self._count: int = 0
        self._mask: int = 0
        # The items of a re-initialised queue go last: their finalizers may
        # use the queue, which must be whole by then.
        _release(items, head, count, mask)

    @property
    def high(self) -> Optional[int]:
        """High-water mark, or None when unbounded."""
        return None if self._high < 0 else self._high

    @property
    def low(self) -> Optional[int]:
        """Low-water mark, or None when unbounded."""
        return None if self._low < 0 else self._low

    @property
    def paused(self) -> bool:
        """Whether pause() was called and resume() not yet since."""
        return self._paused

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count != 0

    def push(self, item: Any, /) -> None:
        """Add ``item`` at the end; call pause() if the length rises above high."""
        if self._items is None:
            # The common case, inline: every message finds the queue empty
            # when it is read as fast as it comes.
            items: List[Any] = [None] * MIN_CAPACITY
            # The allocation may have run finalizers that pushed.
            if self._items is None:
                self._items = items
                self._head = 0
                self._mask = MIN_CAPACITY - 1
        if self._count > self._mask:
            _make_room(self)
        count = self._count
        self._items[(self._head + count) & self._mask] = item
        count += 1
        self._count = count
        if not self._paused and 0 <= self._high < count:
            self._paused = True
            if self._pause is not None:
                self._pause()

    def push_frames(self, frames: List[Any], /) -> int:
        """Push each item of the list ``frames``, as push() does.

        Returns how many of them are a ``bytes`` or ``str`` (a whole message,
        as FrameParser.feed_messages() returns it) or have a true ``fin``
        attribute: the messages that they complete, for the caller's count.
        """
        if type(frames) is not list:
            raise TypeError(f"frames must be a list, not {type(frames).__name__}")
        fins = 0
        for frame in frames:
            if type(frame) is bytes or type(frame) is str or frame.fin:
                fins += 1
            self.push(frame)
        return fins

    def pop(self) -> Any:
        """Remove and return the first item; call resume() on reaching low.

        ``IndexError`` when the queue is empty.
        """
        items = self._items
        count = self._count
        if count == 0 or items is None:
            raise IndexError("pop from an empty FrameQueue")
        head = self._head
        item = items[head]
        items[head] = None
        self._head = (head + 1) & self._mask
        count -= 1
        self._count = count
        if count == 0:
            self._items = None
        else:
            capacity = self._mask + 1
            if capacity > MIN_CAPACITY and count <= capacity // 4:
                _shrink(self, capacity // 2)
        if self._paused and self._count <= self._low:
            self._paused = False
            if self._resume is not None:
                self._resume()
        return item

    def peek(self) -> Any:
        """Return the first item without removing it; ``IndexError`` when empty."""
        items = self._items
        if self._count == 0 or items is None:
            raise IndexError("peek at an empty FrameQueue")
        return items[self._head]

    def clear(self) -> None:
        """Remove every item; call resume() if the queue was paused."""
        items = self._items
        head, count, mask = self._head, self._count, self._mask
        paused = self._paused
        # The queue is empty before any item is released: an item's
        # finalizer may push or pop, and must find a queue that is whole.
        self._items = None
        self._head = 0
        self._count = 0
        self._mask = 0
        self._paused = False
        try:
            if paused and self._resume is not None:
                self._resume()
        finally:
            # After resume(): a finalizer that pushes above high pauses the
            # queue again, in that order.
            _release(items, head, count, mask)

    def detach(self) -> None:
        """Forget ``pause`` and ``resume``: neither is called again.

        For an owner that is going away: the callbacks are usually its bound
        methods, and the queue would keep it alive through them (a reference
        cycle, freed only by the garbage collector).
        """
        self._pause = None
        self._resume = None

    def __repr__(self) -> str:
        return f"<FrameQueue len={self._count} high={self.high} low={self.low} paused={self._paused}>"


def _release(items: Optional[List[Any]], head: int, count: int, mask: int) -> None:
    """Drop the items of a detached array one by one, first in first out."""
    # The array is no longer the queue's: a finalizer using the queue can't
    # change it, so count and mask hold throughout. Only one digging it out
    # of gc.get_objects() could shorten it: the length is checked anyway.
    if items is None:
        return
    for i in range(count):
        if mask >= len(items):
            break
        items[(head + i) & mask] = None


# Allocating a list may start the cycle collector, which may run finalizers
# that push or pop: the queue can differ before and after the allocation.
# The functions below allocate first, then look at the queue afresh and
# move the items with no Python code running in between.


def _make_room(queue: FrameQueue) -> None:
    """Give the queue at least one free slot."""
    for _ in range(MAX_GROW_TRIES):
        capacity = MIN_CAPACITY if queue._items is None else 2 * (queue._mask + 1)
        resized: List[Any] = [None] * capacity
        if queue._items is None:
            # Empty (an empty queue holds no array).
            queue._items = resized
            queue._head = 0
            queue._mask = capacity - 1
            return
        if queue._count <= queue._mask:
            return
        if queue._count < capacity:
            _move(queue, resized)
            return
    raise RuntimeError("FrameQueue grew under a finalizer too many times")


def _shrink(queue: FrameQueue, capacity: int) -> None:
    """Move the items to an array of ``capacity`` slots, if they still fit."""
    resized: List[Any] = [None] * capacity
    # Shrinking is an optimisation: skip it when the queue changed meanwhile.
    if queue._items is not None and queue._count <= capacity < queue._mask + 1:
        _move(queue, resized)


def _move(queue: FrameQueue, resized: List[Any]) -> None:
    """Move the items, in order, to the start of ``resized`` (room for all)."""
    items = queue._items
    assert items is not None  # the callers checked
    count, head, mask = queue._count, queue._head, queue._mask
    # Plain reads and writes of list slots (replacing None): no Python code
    # runs in this loop, so count and both lists stay as checked.
    for i in range(count):
        resized[i] = items[(head + i) & mask]
    queue._items = resized
    queue._head = 0
    queue._mask = len(resized) - 1
    # The old array goes now; every item it held is also in resized, so no
    # finalizer runs.
