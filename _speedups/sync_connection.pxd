# C types for websockets_fast/sync/connection.py, compiled in Cython's
# pure-Python mode into websockets_fast._speedups.sync_connection (see
# setup.py). The .py file is the source; this file only declares types. Keep
# the two in step: every attribute of Connection.__slots__ is declared here,
# public so that the subclasses (ClientConnection, ServerConnection), the
# opening handshake code and programs' own subclasses reach them as before.
#
# The blocking calls (socket reads and writes, lock and condition waits) stay
# Python calls into the objects' own C code, which releases the GIL as before:
# compiling changes no threading behaviour, only the cost of the Python code
# between those calls.

cimport cython

from websockets_fast._speedups.assembler cimport Assembler as CompiledAssembler
from websockets_fast._speedups.protocol cimport Protocol as CompiledProtocol

# Module constants that the per-message path reads, as C globals: no lookup
# in the module's dict.
cdef object CONNECTING, OPEN, CLOSING, CLOSED
cdef object OP_BINARY, OP_PONG
cdef tuple BYTES_LIKE
cdef int READ_OVER, READ_TIMED_OUT, READ_DATA, READ_HANDED_OVER
cdef object _monotonic, _NONBLOCKING_FLAG


cdef class Connection:
    cdef public object socket
    cdef public CompiledProtocol protocol
    cdef public object ping_interval
    cdef public object ping_timeout
    cdef public object close_timeout
    cdef public object id
    cdef public object logger
    cdef public bint debug
    cdef public object request
    cdef public object response
    cdef public object latency
    cdef public CompiledAssembler recv_messages
    cdef public object _lock
    cdef public bint _writing
    cdef public list _outgoing
    cdef public Py_ssize_t _write_seq
    cdef public Py_ssize_t _written_seq
    cdef public object _written
    cdef public object _write_error
    cdef public object _message_ready
    cdef public object _reader_wake
    cdef public bint _paused
    cdef public object _unparsed
    cdef public bint _discarding
    cdef public bint _token_busy
    cdef public bint _reader_waiting
    cdef public bint _recv_waiting
    cdef public double _recv_left_at
    cdef public bint _finished
    cdef public object _pending
    cdef public object _wait_readable
    cdef public bint _recv_in_progress
    cdef public bint _send_in_progress
    cdef public object _pings
    cdef public object _keepalive_payload
    cdef public object _ping_due
    cdef public object _pong_due
    cdef public object _close_due
    cdef public bint _aborted
    cdef public object _connection_exc
    cdef public object _reader
    cdef object __weakref__
    cdef dict __dict__

    # cdef: called from this module only. cpdef: also from the handshake
    # code of sync/client.py and sync/server.py.
    @cython.locals(protocol=CompiledProtocol)
    cdef _send_data(self, data, text, bint fin)
    cdef _send_data_locked(self, data, text, bint fin)
    cpdef _claim_write_locked(self, list chunks)
    cpdef _write(self, chunks, ticket, bint wait=*)
    cdef _write_batches(self, chunks, written, bint hand_over)
    cdef _send_all(self, sock, chunk)
    cdef _wait_written(self, ticket)
    @cython.locals(protocol=CompiledProtocol)
    cdef _read_step(self, until=*)
    cdef _next_slice(self)
    cdef _release_token_locked(self)
    cdef _take_token_for_reader(self)
    cpdef process_event(self, event)
    cdef _run_timers(self)


cdef _finish_write(Connection connection, chunks, ticket)
