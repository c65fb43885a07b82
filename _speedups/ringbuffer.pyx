# cython: language_level=3, binding=False, always_allow_keywords=False
"""FIFO of incoming frames with high and low water marks, compiled.

The pure-Python twin is :mod:`websockets_fast._pyspeedups.ringbuffer`; both
behave the same and raise the same exceptions.

The items live in a circular array whose size is a power of two, so that the
next slot is ``(head + count) & mask``. The array is a Python list rather
than a bare ``PyObject *`` array: the cyclic garbage collector then sees the
items (a frame may well reference the connection that owns this queue), at
the cost of one list header. It is allocated on the first push (4 slots),
doubles when full, halves when a quarter full, and is released when the
queue empties, so that an idle connection holds no array at all.
"""

from websockets_fast._speedups.framefields cimport object as FrameFields

from operator import index as _operator_index

__all__ = ["FrameQueue"]

cdef enum:
    MIN_CAPACITY = 4


cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX


cdef Py_ssize_t _c_mark(object value) except -1:
    # A mark above any possible length behaves as that length.
    if value > PY_SSIZE_T_MAX:
        return PY_SSIZE_T_MAX
    return value


cdef class FrameQueue:
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

    # The attributes are declared in ringbuffer.pxd, so that the compiled
    # assembler calls push_frames() and pop() in C.

    def __init__(self, high=16, low=None, pause=None, resume=None):
        cdef Py_ssize_t c_high = -1
        cdef Py_ssize_t c_low = -1
        cdef list items
        cdef Py_ssize_t head, count, mask
        # Checked and completed exactly as the twin does, before anything
        # changes: a failed re-initialisation leaves the queue as it was.
        if high is not None:
            high = _operator_index(high)
        if low is not None:
            low = _operator_index(low)
        if high is None and low is not None:
            high = low * 4
        if high is not None and low is None:
            low = high // 4
        if high is not None:
            if high < 0:
                raise ValueError("high must be >= 0")
            if low < 0:
                raise ValueError("low must be >= 0")
            if low > high:
                raise ValueError("low must be <= high")
            c_high = _c_mark(high)
            c_low = _c_mark(low)
        items, head, count, mask = self._items, self._head, self._count, self._mask
        self._high = c_high
        self._low = c_low
        self._pause = pause
        self._resume = resume
        self._paused = False
        self._items = None
        self._head = 0
        self._count = 0
        self._mask = 0
        # The items of a re-initialised queue go last: their finalizers may
        # use the queue, which must be whole by then.
        _release(items, head, count, mask)

    @property
    def high(self):
        """High-water mark, or None when unbounded."""
        return None if self._high < 0 else self._high

    @property
    def low(self):
        """Low-water mark, or None when unbounded."""
        return None if self._low < 0 else self._low

    @property
    def paused(self):
        """Whether pause() was called and resume() not yet since."""
        return self._paused

    def __len__(self):
        return self._count

    def __bool__(self):
        return self._count != 0

    def push(self, item):
        """Add ``item`` at the end; call pause() if the length rises above high."""
        _push(self, item)

    cpdef Py_ssize_t push_frames(self, list frames) except -1:
        """Push each item of the list ``frames``, as push() does.

        Returns how many of them have a true ``fin`` attribute: the messages
        that they complete, for the caller's count.
        """
        cdef Py_ssize_t fins = 0
        cdef FrameFields frame
        if frames is None:
            raise TypeError("frames must be a list, not None")
        for frame in frames:
            if frame.fin:
                fins += 1
            _push(self, frame)
        return fins

    cpdef pop(self):
        """Remove and return the first item; call resume() on reaching low.

        ``IndexError`` when the queue is empty.
        """
        cdef list items = self._items
        cdef Py_ssize_t capacity
        if self._count == 0:
            raise IndexError("pop from an empty FrameQueue")
        item = items[self._head]
        items[self._head] = None
        self._head = (self._head + 1) & self._mask
        self._count -= 1
        capacity = self._mask + 1
        if self._count == 0:
            self._items = None
        elif capacity > MIN_CAPACITY and self._count <= capacity // 4:
            _shrink(self, capacity // 2)
        if self._paused and self._count <= self._low:
            self._paused = False
            if self._resume is not None:
                self._resume()
        return item

    def peek(self):
        """Return the first item without removing it; ``IndexError`` when empty."""
        if self._count == 0:
            raise IndexError("peek at an empty FrameQueue")
        return self._items[self._head]

    def clear(self):
        """Remove every item; call resume() if the queue was paused."""
        cdef list items = self._items
        cdef Py_ssize_t head = self._head, count = self._count, mask = self._mask
        cdef bint paused = self._paused
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

    def detach(self):
        """Forget ``pause`` and ``resume``: neither is called again.

        For an owner that is going away: the callbacks are usually its bound
        methods, and the queue would keep it alive through them (a reference
        cycle, freed only by the garbage collector).
        """
        self._pause = None
        self._resume = None

    def __repr__(self):
        return f"<FrameQueue len={self._count} high={self.high} low={self.low} paused={self._paused}>"


cdef int _release(list items, Py_ssize_t head, Py_ssize_t count, Py_ssize_t mask) except -1:
    """Drop the items of a detached array one by one, first in first out."""
    # The order in which their finalizers run, the same as the twin's. The
    # array is no longer the queue's: a finalizer using the queue can't
    # change it, so count and mask hold throughout. Only one digging it out
    # of gc.get_objects() could shorten it: the length is checked anyway.
    cdef Py_ssize_t i
    for i in range(count):
        if mask >= len(items):
            break
        items[(head + i) & mask] = None
    return 0


cdef int _push(FrameQueue queue, object item) except -1:
    if queue._items is None or queue._count > queue._mask:
        _make_room(queue)
    queue._items[(queue._head + queue._count) & queue._mask] = item
    queue._count += 1
    if not queue._paused and 0 <= queue._high < queue._count:
        queue._paused = True
        if queue._pause is not None:
            queue._pause()
    return 0


# Allocating a list may start the cycle collector, which may run finalizers
# that push or pop: the queue can differ before and after the allocation.
# Both functions below allocate first, then look at the queue afresh and
# move the items with no Python code running in between.

cdef enum:
    # A finalizer that keeps filling the queue while it grows can make the
    # new array too small again; give up after this many tries.
    MAX_GROW_TRIES = 16


cdef int _make_room(FrameQueue queue) except -1:
    """Give the queue at least one free slot."""
    # A function rather than a method: a cdef method would add a vtable
    # pointer to every queue.
    cdef list resized
    cdef Py_ssize_t capacity
    for _ in range(MAX_GROW_TRIES):
        capacity = MIN_CAPACITY if queue._items is None else 2 * (queue._mask + 1)
        resized = [None] * capacity
        if queue._items is None:
            # Empty (an empty queue holds no array).
            queue._items = resized
            queue._head = 0
            queue._mask = capacity - 1
            return 0
        if queue._count <= queue._mask:
            return 0
        if queue._count < capacity:
            _move(queue, resized)
            return 0
    raise RuntimeError("FrameQueue grew under a finalizer too many times")


cdef int _shrink(FrameQueue queue, Py_ssize_t capacity) except -1:
    """Move the items to an array of ``capacity`` slots, if they still fit."""
    cdef list resized = [None] * capacity
    # Shrinking is an optimisation: skip it when the queue changed meanwhile.
    if queue._items is not None and queue._count <= capacity < queue._mask + 1:
        _move(queue, resized)
    return 0


cdef int _move(FrameQueue queue, list resized) except -1:
    """Move the items, in order, to the start of ``resized`` (room for all)."""
    cdef list items = queue._items
    cdef Py_ssize_t i
    cdef Py_ssize_t count = queue._count
    cdef Py_ssize_t head = queue._head
    cdef Py_ssize_t mask = queue._mask
    # Plain reads and writes of list slots (replacing None): no Python code
    # runs in this loop, so count and both lists stay as checked.
    for i in range(count):
        resized[i] = items[(head + i) & mask]
    queue._items = resized
    queue._head = 0
    queue._mask = len(resized) - 1
    # The old array goes now; every item it held is also in resized, so no
    # finalizer runs.
    return 0
