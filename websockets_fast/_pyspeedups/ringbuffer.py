"""FIFO of incoming frames with high and low water marks, pure Python.

Twin of the compiled :mod:`websockets_fast._speedups.ringbuffer`: same
arguments, same behaviour, same exceptions. A deque gives O(1) push and pop;
it is created on the first push and dropped whenever the queue empties, so
that an idle connection holds no storage for it.
"""

from __future__ import annotations

import operator
import sys
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Tuple

__all__ = ["FrameQueue"]


def _water_marks(high: Optional[int], low: Optional[int]) -> Tuple[Optional[int], Optional[int]]:
    """Check and complete the water marks as websockets does for max_queue."""
    if high is not None:
        high = operator.index(high)
    if low is not None:
        low = operator.index(low)
    if high is None and low is not None:
        high = low * 4
    if high is not None and low is None:
        low = high // 4
    if high is not None:
        assert low is not None  # set from high above
        if high < 0:
            raise ValueError("high must be >= 0")
        if low < 0:
            raise ValueError("low must be >= 0")
        if low > high:
            raise ValueError("low must be <= high")
        # A mark above any possible length behaves as that length (and the
        # compiled twin stores it in a C Py_ssize_t).
        high = min(high, sys.maxsize)
        low = min(low, sys.maxsize)
    return high, low


def _release(items: Optional[Deque[Any]]) -> None:
    """Drop the items of a detached deque one by one, first in first out.

    The order in which their finalizers run, the same as the compiled
    twin's. The deque is no longer the queue's: a finalizer using the queue
    can't change it, so the loop ends after its length.
    """
    while items:
        items.popleft()


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

    __slots__ = ("_items", "_high", "_low", "_pause", "_resume", "_paused")

    def __init__(
        self,
        high: Optional[int] = 16,
        low: Optional[int] = None,
        pause: Optional[Callable[[], object]] = None,
        resume: Optional[Callable[[], object]] = None,
    ) -> None:
        self._high, self._low = _water_marks(high, low)
        self._pause = pause
        self._resume = resume
        self._paused = False
        # The items of a re-initialised queue go last: their finalizers may
        # use the queue, which must be whole by then.
        items = getattr(self, "_items", None)
        self._items: Optional[Deque[Any]] = None
        _release(items)

    @property
    def high(self) -> Optional[int]:
        """High-water mark, or None when unbounded."""
        return self._high

    @property
    def low(self) -> Optional[int]:
        """Low-water mark, or None when unbounded."""
        return self._low

    @property
    def paused(self) -> bool:
        """Whether pause() was called and resume() not yet since."""
        return self._paused

    def __len__(self) -> int:
        items = self._items
        return 0 if items is None else len(items)

    def __bool__(self) -> bool:
        return self._items is not None

    def push(self, item: Any, /) -> None:
        """Add ``item`` at the end; call pause() if the length rises above high."""
        items = self._items
        if items is None:
            items = self._items = deque()
        items.append(item)
        if not self._paused and self._high is not None and len(items) > self._high:
            self._paused = True
            if self._pause is not None:
                self._pause()

    def push_frames(self, frames: List[Any], /) -> int:
        """Push each item of the list ``frames``, as push() does.

        Returns how many of them have a true ``fin`` attribute: the messages
        that they complete, for the caller's count.
        """
        if type(frames) is not list:
            raise TypeError(f"frames must be a list, not {type(frames).__name__}")
        fins = 0
        for frame in frames:
            if frame.fin:
                fins += 1
            self.push(frame)
        return fins

    def pop(self) -> Any:
        """Remove and return the first item; call resume() on reaching low.

        ``IndexError`` when the queue is empty.
        """
        items = self._items
        if items is None:
            raise IndexError("pop from an empty FrameQueue")
        item = items.popleft()
        if not items:
            self._items = None
        if self._paused and len(items) <= self._low:  # type: ignore[operator]  # paused: marks are set
            self._paused = False
            if self._resume is not None:
                self._resume()
        return item

    def peek(self) -> Any:
        """Return the first item without removing it; ``IndexError`` when empty."""
        items = self._items
        if items is None:
            raise IndexError("peek at an empty FrameQueue")
        return items[0]

    def clear(self) -> None:
        """Remove every item; call resume() if the queue was paused."""
        items = self._items
        paused = self._paused
        # As the compiled twin: the queue is empty and resumed before any
        # item is released, so that a finalizer pushing above high pauses
        # it again, after the resume.
        self._items = None
        self._paused = False
        try:
            if paused and self._resume is not None:
                self._resume()
        finally:
            _release(items)

    def detach(self) -> None:
        """Forget ``pause`` and ``resume``: neither is called again.

        For an owner that is going away: the callbacks are usually its bound
        methods, and the queue would keep it alive through them (a reference
        cycle, freed only by the garbage collector).
        """
        self._pause = None
        self._resume = None

    def __repr__(self) -> str:
        return f"<FrameQueue len={len(self)} high={self._high} low={self._low} paused={self._paused}>"
