# The FrameQueue type, for the modules that cimport it (the compiled
# assembler). Its code is in ringbuffer.pyx.

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

    cpdef Py_ssize_t push_frames(self, list frames) except -1
    cpdef pop(self)
