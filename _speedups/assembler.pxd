# C types for websockets_fast/assembler.py, compiled in Cython's pure-Python
# mode into websockets_fast._speedups.assembler (see setup.py). The .py file
# is the source; this file only declares types. Keep the two in step: every
# attribute of Assembler.__slots__ is declared here.

cimport cython

from websockets_fast._speedups.framefields cimport object as FrameFields
from websockets_fast._speedups.ringbuffer cimport FrameQueue as CompiledFrameQueue

# A C int, set from frames.OP_TEXT when the module loads: take() compares
# opcodes in C.
cdef int OP_TEXT

cdef object _as_bytes(object data)
@cython.locals(raw=bytes)
cdef object _as_str(object data)
cdef object _whole_message(object data, object decode)


cdef class Assembler:
    # Public: the I/O layers (and tests) read them from Python.
    cdef public CompiledFrameQueue queue
    cdef public Py_ssize_t complete
    cdef public bint closed
    cdef public object _max_fragments
    cdef public object _first
    cdef public object _parts
    cdef public Py_ssize_t _count
    cdef public bint _text
    cdef public object _decoder
    cdef public bint _streaming

    # FrameFields: any object, whose opcode, data and fin are read fast
    # when it is a Frame (see framefields.pxd).
    cpdef put(self, FrameFields frame)
    cpdef put_frames(self, frames)
    cpdef close(self)
    @cython.locals(opcode=cython.int, frame=FrameFields)
    cpdef take(self, decode=*)
    @cython.locals(frame=FrameFields)
    cpdef take_fragment(self, decode=*)
    cdef _start_stream(self, bint text, decode)
    cdef _fragment(self, data, fin)
    cdef _reset(self)
