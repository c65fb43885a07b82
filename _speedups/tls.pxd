# C types for websockets_fast/asyncio/tls.py, compiled in Cython's
# pure-Python mode into websockets_fast._speedups.tls (see setup.py). The .py
# file is the source; this file only declares types. Keep the two in step:
# every attribute of TLSLayer.__slots__ is declared here, public so that
# tests and programs reach them as before.

cimport cython

# C globals: the record pump compares states and sizes in C.
cdef int HANDSHAKE, OPEN, CLOSING, CLOSED
cdef Py_ssize_t RECORD_SIZE, BIO_CHUNK, MIN_READ, READ_SIZE


cdef class TLSLayer:
    cdef public object app
    cdef public object context
    cdef public bint server_side
    cdef public object server_hostname
    cdef public object handshake_timeout
    cdef public object waiter
    cdef public object transport
    cdef public object sslobj
    cdef public object sslcore
    cdef public object incoming
    cdef public object outgoing
    cdef public int state
    cdef public object timer
    cdef public object backlog
    cdef public bint app_paused
    cdef public bint read_scheduled
    cdef public bint write_paused
    cdef public bint eof_pending
    cdef public object exc
    cdef public object payload_source

    cdef _handshake(self)
    cdef _fail_handshake(self, exc)
    cdef _add_backlog(self, data)
    @cython.locals(backlog=object)
    cdef _pump(self)
    @cython.locals(size=Py_ssize_t, waiting=Py_ssize_t, got=Py_ssize_t)
    cdef bint _read_records(self) except -1
    cdef _app_eof(self)
    cdef _fatal(self, exc)
    cdef _flush(self)
