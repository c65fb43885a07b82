# C types for websockets_fast/protocol.py, compiled in Cython's pure-Python
# mode into websockets_fast._speedups.protocol (see setup.py). The .py file is
# the source; this file only declares types. Keep the two in step: every
# attribute of Protocol.__slots__ is declared here, public so that the
# handshake subclasses (ClientProtocol, ServerProtocol), the I/O layers and
# programs reach them as before.

cimport cython

# The C functions and type, under the names the .py file imports them by
# (from speedups): the compiled build calls them in C.
from websockets_fast._speedups.frames cimport FrameParser as CompiledFrameParser, append_frame, build_data_frame, build_frame

# The Opcode members that the .py file imports from frames, as C globals:
# the per-frame paths read them without a lookup in the module's dict.
cdef object CONT, TEXT, BINARY, CLOSE, PING, PONG


cdef class Protocol:
    cdef object __weakref__
    cdef object _id
    cdef public object logger
    cdef public bint debug
    cdef public object side
    cdef public object _state
    cdef public object max_message_size
    cdef public object max_fragment_size
    cdef public object max_fragments
    cdef public object origin
    cdef public list _extensions
    cdef public object subprotocol
    cdef public object close_rcvd
    cdef public object close_sent
    cdef public object close_rcvd_then_sent
    cdef public object handshake_exc
    cdef public object parser_exc
    cdef public bint eof_sent
    cdef public list events
    cdef public list writes
    cdef public CompiledFrameParser _parser
    cdef public bint _mask
    cdef public object _mask_key
    cdef public bint _plain_send
    cdef public CompiledFrameParser fast_parser
    cdef public bint _eof_rcvd
    cdef public bint _discarding
    cdef public bint _in_message
    cdef public bint _message_text
    cdef public Py_ssize_t _message_size
    cdef public object _utf8
    cdef public bint _sending_fragments

    # data_frame() is a Python method that calls this; the compiled
    # connection calls this one in C. A cpdef method would first look its
    # name up on the instance, on every call, because ClientProtocol and
    # ServerProtocol are Python subclasses.
    cdef _data_frame(self, int opcode, data)
    cpdef send_text(self, data, fin=*)
    cpdef send_binary(self, data, fin=*)
    @cython.locals(parser=CompiledFrameParser)
    cpdef receive_parsed(self, frames)
    cpdef events_received(self)
    cpdef data_to_send(self)
    cpdef close_expected(self)
