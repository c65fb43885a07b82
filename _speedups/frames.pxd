# The FrameParser type and the frame builders, for the modules that cimport
# them (the compiled protocol and connection). The code is in frames.pyx.

from cpython.ref cimport PyObject
from libc.stdint cimport uint64_t

cdef enum:
    # The longest header: 2 bytes, a 64-bit length and a masking key.
    MAX_HEADER_LENGTH = 14


cdef struct Header:
    bint fin
    int rsv
    int opcode
    bint masked
    uint64_t length
    unsigned char key[4]
    Py_ssize_t size


cpdef bytes build_frame(fin, opcode, payload, rsv=*, mask_key=*)
cpdef bytes build_data_frame(int opcode, payload, mask_key=*)
cpdef append_frame(list writes, fin, opcode, payload, rsv=*, mask_key=*)
cpdef Py_ssize_t send_some(int fd, data) except -1
cpdef object recv_some(int fd, Py_ssize_t size, bint large=*)
cpdef object recv_into_some(int fd, buffer)


cdef class FrameParser:
    cdef public bint mask_expected
    cdef public object exc
    cdef object _max_size
    cdef object _max_frame_size
    cdef uint64_t _c_max_size
    cdef uint64_t _c_max_frame_size
    cdef int _allowed_rsv
    # Bytes of the data message received so far, for max_size.
    cdef uint64_t _message_size
    # Whether that message is compressed (RSV1 on its first frame).
    cdef bint _compressed
    # An incomplete header: fewer than 14 bytes.
    cdef unsigned char _head[MAX_HEADER_LENGTH]
    cdef Py_ssize_t _head_length
    # An incomplete payload: a bytes object that nobody else has seen yet,
    # with room for _capacity bytes of which _filled are received; and the
    # header of its frame.
    cdef PyObject *_payload
    cdef Py_ssize_t _capacity
    cdef Py_ssize_t _filled
    # Message mode: bytes of the incomplete text payload already validated,
    # so that invalid UTF-8 fails as it arrives, not when the frame completes.
    cdef Py_ssize_t _validated
    cdef Header _frame
    # Message mode: None, or the class of the frames returned.
    cdef type _frame_class
    cdef Py_ssize_t _offsets[6]
    cdef tuple _opcodes
    cdef public object utf8
    cdef object _max_fragments
    cdef uint64_t _c_max_fragments
    cdef readonly Py_ssize_t control_frames
    cdef readonly bint fragments_exceeded
    cdef bint _in_message
    cdef bint _message_text
    cdef uint64_t _message_frames
    # Whether utf8 has seen only ASCII since the message started, so that
    # it need not be called for ASCII frames.
    cdef bint _utf8_clean
    # While feed() runs. The validator and the cycle collector (any
    # allocation may run finalizers) call Python code midway, which must not
    # feed or re-initialise this parser under the feet of the running feed.
    cdef bint _feeding
    # While feed_messages() runs: whole data messages go as their payload.
    cdef bint _messages

    cdef int _check_message(self, Header *h) except -1
    cdef int _start_message(self, Header *h) noexcept
    cdef int _check_text(self, bint fin, int opcode, bytes payload, Py_ssize_t done) except -1
    cdef int _check_text_bytes(self, const unsigned char *p, Py_ssize_t n, bint fin, bint continuation) except -1
    cdef bint _checks_text(self, int opcode) noexcept
    cdef int _deliver(self, bint fin, int rsv, int opcode, bytes payload, list frames, Py_ssize_t validated) except -1
    cdef int _check(self, Header *h) except -1
    cdef int _emit(self, Header *h, const unsigned char *src, list frames) except -1
    cdef Py_ssize_t _fill_payload(self, const unsigned char *src, Py_ssize_t available, list frames) except -1
    cdef int _resize_payload(self, Py_ssize_t capacity) except -1
    cdef int _unmask_into(self, const unsigned char *src, Py_ssize_t take) except -1
    cdef int _payload_added(self, Py_ssize_t take, list frames) except -1
    cdef Py_ssize_t _start_frame(self, Header *h, const unsigned char *src, Py_ssize_t available, list frames) except -1
    cdef int _feed(self, const unsigned char *data, Py_ssize_t end, list frames) except -1
    cdef int _feed_or_fail(self, const unsigned char *data, Py_ssize_t end, list frames) except -1
    cdef int _fail(self, exc) except -1
    cdef void _drop_payload(self) noexcept
    cpdef list payload_received(self, Py_ssize_t size)
    cpdef list feed(self, data)
    cpdef list feed_messages(self, data)
    cdef list _feed_data(self, data, bint messages)
