# C types for websockets_fast/asyncio/tls.py, compiled in Cython's
# pure-Python mode into websockets_fast._speedups.tls (see setup.py). The .py
# file is the source; this file only declares types. Keep the two in step:
# every attribute of TLSLayer.__slots__ is declared here, public so that
# tests and programs reach them as before.

cimport cython

# C globals: the record pump compares states and sizes in C.
cdef int HANDSHAKE, OPEN, CLOSING, CLOSED
cdef Py_ssize_t RECORD_SIZE, BIO_CHUNK, MIN_READ, READ_SIZE, RECORD_HEADER, BATCH_RECORDS, MAX_RECORD
cdef int LOST


cdef class TLSLayer:
    # Objects first, then the C numbers: declared in this order, the fields
    # pack without padding (the instance's size is per connection).
    cdef public object app
    cdef public object context
    cdef public object server_hostname
    cdef public object handshake_timeout
    cdef public object waiter
    cdef public object transport
    cdef public object sslobj
    cdef public object sslcore
    cdef public object incoming
    cdef public object outgoing
    cdef public object timer
    cdef public bytearray backlog
    cdef public object exc
    cdef public object payload_source
    cdef public bint server_side
    cdef public int state
    cdef public bint app_paused
    cdef public bint read_scheduled
    cdef public bint write_paused
    cdef public bint eof_pending
    cdef public int raw_fd
    cdef public int partial
    cdef public int record_size

    cdef _handshake(self)
    cdef _fail_handshake(self, exc)
    cdef _received(self, bytearray data, Py_ssize_t end)
    cdef _feed(self, bytearray data, Py_ssize_t start, Py_ssize_t end)
    @cython.locals(partial=int, size=int, step=Py_ssize_t, byte=int)
    cdef _track(self, bytearray data, Py_ssize_t position, Py_ssize_t end)
    @cython.locals(limit=Py_ssize_t, partial=int, position=Py_ssize_t, size=Py_ssize_t)
    cdef Py_ssize_t _chunk_size(self, bytearray data, Py_ssize_t start, Py_ssize_t end) except -1
    @cython.locals(size=Py_ssize_t)
    cdef _pump(self, bytearray data, Py_ssize_t start, Py_ssize_t end)
    @cython.locals(backlog=bytearray)
    cdef _pump_backlog(self)
    @cython.locals(size=Py_ssize_t, got=Py_ssize_t)
    cdef bint _read_records(self) except -1
    cdef _app_eof(self)
    cdef _fatal(self, exc)
    cdef _flush(self)
    cdef bint _tcp_idle(self) except -1
    @cython.locals(sent=Py_ssize_t, record=bytes)
    cdef _send(self, list records)


@cython.locals(buffer=bytearray)
cdef bytearray _read_buffer()
