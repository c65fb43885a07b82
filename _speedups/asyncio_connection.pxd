# C types for websockets_fast/asyncio/connection.py, compiled in Cython's
# pure-Python mode into websockets_fast._speedups.asyncio_connection (see
# setup.py). The .py file is the source; this file only declares types. Keep
# the two in step: every attribute of Connection.__slots__ is declared here,
# public so that the subclasses (ClientConnection, ServerConnection) and
# programs' own subclasses reach them as before.

# The type only, under another name: the module still creates its Assembler
# by the Python name (a subclass in place of it keeps working).
cimport cython

from websockets_fast._speedups.assembler cimport Assembler as CompiledAssembler
from websockets_fast._speedups.framefields cimport object as FrameFields
from websockets_fast._speedups.frames cimport FrameParser as CompiledFrameParser, recv_into_some, recv_some, send_some
from websockets_fast._speedups.protocol cimport Protocol as CompiledProtocol

# The Opcode members that the .py file imports from frames, as C globals:
# send() and the receive path read them without a lookup in the module's dict.
cdef object OP_CONT, OP_TEXT, OP_BINARY, OP_PONG


cdef class Connection:
    cdef public CompiledProtocol protocol
    cdef public object loop
    cdef public object transport
    cdef public object _request
    cdef public object _response
    cdef public object latency
    cdef public object ping_interval
    cdef public object ping_timeout
    cdef public object close_timeout
    cdef public object _max_queue
    cdef public tuple _write_limit
    cdef public CompiledAssembler recv_messages
    cdef public object _pings
    cdef public bint _recv_in_progress
    cdef public object _recv_waiter
    cdef public object _send_in_progress
    cdef public bint _write_paused
    cdef public list _pending
    cdef public Py_ssize_t _pending_size
    cdef public Py_ssize_t _pending_room
    cdef public bint _sent_since_read
    cdef public bint _reading_held
    cdef public object _unparsed
    cdef public Py_ssize_t _answers_size
    cdef public bint _discarding
    cdef public object _drain_waiters
    cdef public bint _lost
    cdef public object _lost_waiter
    cdef public object _connection_exc
    cdef public object _close_timer
    cdef public object _keepalive_timer
    cdef public bint _open
    cdef public Py_ssize_t _raw_fd
    cdef public object _uv_buffered
    cdef public object _uv_closing
    cdef public bint _own_reader
    cdef public bint _reads_full
    cdef public bint _zero_copy
    cdef object __weakref__
    cdef dict __dict__

    cpdef _flush(self)
    cdef _write_gathered(self)
    cdef _write(self, writes)
    cdef _transport_write(self, data)
    cdef _read_on_for_close(self)
    cdef _write_failed(self, exc)
    cdef _arm_close_timer(self)
    cdef _close_exc(self)
    cpdef _set_connection_exc(self, exc)
    cpdef _wake_reader(self)
    cpdef _parse_unparsed(self)
    cpdef _resume_transport_reading(self)
    cdef _data_received(self, data)
    @cython.locals(protocol=CompiledProtocol, parser=CompiledFrameParser)
    cdef _receive(self, data)
    @cython.locals(parser=CompiledFrameParser)
    cdef _receive_items(self, list frames)
    @cython.locals(protocol=CompiledProtocol)
    cdef _handle_events(self)
    @cython.locals(event=FrameFields)
    cdef _receive_events(self, events)


cdef bytes _encode_utf8(str text)


@cython.locals(protocol=CompiledProtocol)
cdef object _broadcast_to(Connection connection, object message, bint send_text)
