# C types for websockets_fast/_pyspeedups/ringbuffer.py, compiled in Cython's
# pure-Python mode into websockets_fast._speedups.ringbuffer (see setup.py).
# The .py file is the source; this file only declares types, and FrameQueue
# for the modules that cimport it (the compiled assembler calls push_frames()
# and pop() in C). Keep the two in step: every attribute of
# FrameQueue.__slots__ is declared here.

cimport cython

from websockets_fast._speedups.framefields cimport object as FrameFields

cdef Py_ssize_t MIN_CAPACITY
cdef Py_ssize_t MAX_GROW_TRIES


cdef class FrameQueue:
    cdef list _items
    cdef Py_ssize_t _head
    cdef Py_ssize_t _count
    cdef Py_ssize_t _mask
    # -1 for an unbounded queue.
    cdef Py_ssize_t _high
    cdef Py_ssize_t _low
    cdef object _pause
    cdef object _resume
    cdef bint _paused

    # In this order: the vtable of the assembler's cimport.
    @cython.locals(fins=Py_ssize_t, frame=FrameFields)
    cpdef Py_ssize_t push_frames(self, list frames) except -1
    @cython.locals(items=list, count=Py_ssize_t, head=Py_ssize_t, capacity=Py_ssize_t)
    cpdef pop(self)
    @cython.locals(items=list, count=Py_ssize_t)
    cpdef push(self, item)


@cython.locals(i=Py_ssize_t)
cdef _release(list items, Py_ssize_t head, Py_ssize_t count, Py_ssize_t mask)
@cython.locals(capacity=Py_ssize_t, resized=list)
cdef _make_room(FrameQueue queue)
@cython.locals(resized=list)
cdef _shrink(FrameQueue queue, Py_ssize_t capacity)
@cython.locals(items=list, count=Py_ssize_t, head=Py_ssize_t, mask=Py_ssize_t, i=Py_ssize_t)
cdef _move(FrameQueue queue, list resized)
