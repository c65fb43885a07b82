"""Frame headers and the incremental frame parser (websockets_fast.speedups).

The unit tests run on the active backend (compiled, or the twins with
WEBSOCKETS_FAST_PURE=1). The property tests import both implementations
directly and check that they agree on random and adversarial input.
"""

import enum
import errno
import importlib
import os
import socket
import struct
import sys
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from websockets_fast import speedups
from websockets_fast.speedups import (
    FrameParser,
    FrameProtocolError,
    FrameTooLarge,
    SPLIT_FRAME_SIZE,
    append_frame,
    build_frame,
    parse_header,
    serialize_header,
)

PURE = importlib.import_module("websockets_fast._pyspeedups.frames")
try:
    COMPILED = importlib.import_module("websockets_fast._speedups.frames")
except ImportError:  # not built: the comparisons have nothing to compare
    COMPILED = None

needs_compiled = pytest.mark.skipif(COMPILED is None, reason="compiled frames module not built")

try:
    from websockets.frames import Frame as PeerFrame
    from websockets.frames import Opcode as PeerOpcode
except ImportError:  # the no-compiler install check runs without test extras
    PeerFrame = PeerOpcode = None

needs_peer = pytest.mark.skipif(PeerFrame is None, reason="websockets (the interop peer) not installed")


class Opcode(enum.IntEnum):
    CONT = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


def peer_frame(opcode, data, fin=True):
    return PeerFrame(PeerOpcode(int(opcode)), data, fin=fin)

# Bounded and deterministic enough for a busy 2-core machine.
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEY = b"\x12\x34\x56\x78"


def unmasked(opcode, payload, fin=True, rsv=0):
    return serialize_header(fin, opcode, len(payload), rsv) + payload


def outcome(call, *args):
    """A function's result, or its exception's class and message."""
    try:
        return ("ok", call(*args))
    except Exception as exc:
        return ("error", type(exc), str(exc))


def feed_chunks(parser, data, cuts):
    """Feed ``data`` split at the sorted offsets ``cuts``; return the frames and state."""
    frames = []
    previous = 0
    for cut in list(cuts) + [len(data)]:
        frames.extend(parser.feed(data[previous:cut]))
        previous = cut
    exc = parser.exc
    return frames, None if exc is None else (type(exc), str(exc)), parser.buffered, parser.missing


# parse_header


def test_parse_header_short():
    assert parse_header(b"\x81\x05") == (True, 0, 1, False, 5, None, 2)


def test_parse_header_fields():
    header = parse_header(bytes([0x80 | 0x40 | 0x02, 0x80 | 3]) + KEY)
    assert header == (True, 4, 2, True, 3, KEY, 6)
    header = parse_header(bytes([0x30, 0x00]))
    assert header == (False, 3, 0, False, 0, None, 2)


@pytest.mark.parametrize(
    "length, header_length",
    [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (2**32, 10), (2**63 - 1, 10)],
)
@pytest.mark.parametrize("mask_key", [None, KEY])
def test_parse_header_length_encodings(length, header_length, mask_key):
    header = serialize_header(True, 2, length, mask_key=mask_key)
    extra = 4 if mask_key else 0
    assert len(header) == header_length + extra
    assert parse_header(header) == (True, 0, 2, mask_key is not None, length, mask_key, header_length + extra)


def test_parse_header_reads_16_and_64_bit_lengths_big_endian():
    assert parse_header(b"\x82\x7e\x01\x02")[4] == 0x0102
    assert parse_header(b"\x82\x7f" + bytes(range(1, 9)))[4] == 0x0102030405060708


@pytest.mark.parametrize(
    "data, missing",
    [
        (b"", 2),
        (b"\x81", 1),
        (b"\x81\x85", 4),
        (b"\x81\x85\x00\x00\x00", 1),
        (b"\x81\x7e", 2),
        (b"\x81\xfe\x00", 5),
        (b"\x81\x7f", 8),
        (b"\x81\xff", 12),
        (b"\x81\xff" + bytes(11), 1),
    ],
)
def test_parse_header_needs_more(data, missing):
    assert parse_header(data) == missing


def test_parse_header_offset():
    data = b"junk" + b"\x82\x02ab"
    assert parse_header(data, 4) == (True, 0, 2, False, 2, None, 2)
    assert parse_header(data, len(data)) == 2
    assert parse_header(data, len(data) - 1) == 1
    for offset in (-1, len(data) + 1, 2**70):
        with pytest.raises(ValueError):
            parse_header(data, offset)
    with pytest.raises(TypeError):
        parse_header(data, 1.0)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_parse_header_reserved_opcode(opcode):
    with pytest.raises(FrameProtocolError, match="reserved opcode"):
        parse_header(bytes([0x80 | opcode, 0]))


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_parse_header_control_frame_rules(opcode):
    with pytest.raises(FrameProtocolError, match="fragmented control frame"):
        parse_header(bytes([opcode, 0]))
    # Known from two bytes, before the extended length arrives.
    for length_code in (126, 127):
        with pytest.raises(FrameProtocolError, match="longer than 125"):
            parse_header(bytes([0x80 | opcode, length_code]))
    assert parse_header(bytes([0x80 | opcode, 125]))[4] == 125


def test_parse_header_64_bit_length_top_bit():
    with pytest.raises(FrameProtocolError, match="most significant bit"):
        parse_header(b"\x82\x7f\x80" + bytes(7))


def test_parse_header_buffers():
    data = b"\x82\x02ab"
    assert parse_header(bytearray(data)) == parse_header(data)
    assert parse_header(memoryview(data)) == parse_header(data)
    with pytest.raises(TypeError):
        parse_header("\x82\x02")
    with pytest.raises(BufferError):
        parse_header(memoryview(b"\x82\x00\x82\x00")[::2])


# serialize_header and build_frame


def test_serialize_header_bits():
    assert serialize_header(True, 1, 5) == b"\x81\x05"
    assert serialize_header(False, 0, 0, rsv=7) == b"\x70\x00"
    assert serialize_header(True, 2, 126) == b"\x82\x7e\x00\x7e"
    assert serialize_header(True, 2, 65536) == b"\x82\x7f" + struct.pack("!Q", 65536)
    assert serialize_header(True, 9, 0, mask_key=KEY) == b"\x89\x80" + KEY
    assert serialize_header(True, Opcode.TEXT, 1, mask_key=bytearray(KEY)) == b"\x81\x81" + KEY


def test_serialize_header_allows_invalid_frames_for_tests():
    assert serialize_header(False, 9, 200) == b"\x09\x7e\x00\xc8"
    assert serialize_header(True, 3, 0) == b"\x83\x00"


@pytest.mark.parametrize(
    "args, exc",
    [
        ((True, 16, 0), ValueError),
        ((True, -1, 0), ValueError),
        ((True, 2**80, 0), ValueError),
        ((True, 1, -1), ValueError),
        ((True, 1, 2**63), ValueError),
        ((True, 1, 0, 8), ValueError),
        ((True, 1, 0, -1), ValueError),
        ((True, 1, 0, 0, b"abc"), ValueError),
        ((True, 1, 0, 0, b"abcde"), ValueError),
        ((True, 1.0, 0), TypeError),
        ((True, 1, "0"), TypeError),
        ((True, 1, 0, 0, "abcd"), TypeError),
    ],
)
def test_serialize_header_bad_arguments(args, exc):
    with pytest.raises(exc):
        serialize_header(*args)


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70001])
def test_build_frame(length):
    payload = bytes(i % 251 for i in range(length))
    frame = build_frame(True, 2, payload, mask_key=KEY)
    header = serialize_header(True, 2, length, mask_key=KEY)
    assert frame[: len(header)] == header
    assert speedups.apply_mask(frame[len(header) :], KEY) == payload
    assert build_frame(False, 0, payload, rsv=4) == serialize_header(False, 0, length, rsv=4) + payload
    assert build_frame(True, 2, bytearray(payload)) == build_frame(True, 2, memoryview(payload))


def test_build_frame_bad_arguments():
    with pytest.raises(TypeError):
        build_frame(True, 1, "text")
    with pytest.raises(ValueError):
        build_frame(True, 1, b"", mask_key=b"")
    with pytest.raises(ValueError):
        build_frame(True, 20, b"")


@pytest.mark.parametrize("length", [0, 125, SPLIT_FRAME_SIZE - 1, SPLIT_FRAME_SIZE, 200_000])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("mask_key", [None, KEY])
def test_append_frame(length, kind, mask_key):
    payload = kind(bytes(i % 251 for i in range(length)))
    writes = [b"before"]
    append_frame(writes, False, 2, payload, 4, mask_key)
    assert writes[0] == b"before"
    assert b"".join(writes[1:]) == build_frame(False, 2, payload, 4, mask_key)
    if kind is bytes and mask_key is None and length >= SPLIT_FRAME_SIZE:
        # Appended apart from its header, not copied.
        assert writes[1:] == [serialize_header(False, 2, length, 4), payload]
        assert writes[2] is payload
    else:
        assert len(writes) == 2 and type(writes[1]) is bytes


def test_append_frame_bad_arguments():
    for bad in [(), None, b""]:
        with pytest.raises(TypeError):
            append_frame(bad, True, 2, b"x")
    writes = []
    with pytest.raises(TypeError):
        append_frame(writes, True, 1, "text")
    with pytest.raises(ValueError):
        append_frame(writes, True, 20, b"x" * SPLIT_FRAME_SIZE)
    with pytest.raises(ValueError):
        append_frame(writes, True, 2, b"x" * SPLIT_FRAME_SIZE, 8)
    assert writes == []


@needs_peer
def test_build_frame_matches_websockets_serializer():
    # websockets refuses RSV bits without an extension: none here.
    frame = peer_frame(Opcode.BINARY, b"\x00\xff" * 100, fin=False)
    ours = build_frame(False, 2, frame.data)
    assert ours == frame.serialize(mask=False)


# FrameParser


def test_parser_many_frames_in_one_feed():
    data = build_frame(True, 1, b"hello", mask_key=KEY) + build_frame(True, 9, b"", mask_key=KEY)
    data += build_frame(False, 2, b"x" * 70000, mask_key=KEY) + build_frame(True, 0, b"y" * 200, mask_key=KEY)
    parser = FrameParser(True)
    frames = parser.feed(data)
    assert frames == [
        (True, 0, 1, b"hello"),
        (True, 0, 9, b""),
        (False, 0, 2, b"x" * 70000),
        (True, 0, 0, b"y" * 200),
    ]
    assert all(type(payload) is bytes for _, _, _, payload in frames)
    assert parser.exc is None
    assert parser.buffered == 0


def test_parser_every_split_point():
    data = b"".join(build_frame(i % 2 == 0, 2 if i == 0 else 0, bytes([i]) * (i * 37), mask_key=KEY) for i in range(6))
    data += build_frame(True, 10, b"pong", mask_key=KEY)
    expected = FrameParser(True).feed(data)
    assert len(expected) == 7
    for cut in range(len(data) + 1):
        parser = FrameParser(True)
        assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == expected
        assert parser.buffered == 0


def test_parser_byte_by_byte():
    data = build_frame(True, 1, b"abcdefg" * 20, mask_key=KEY) * 3
    parser = FrameParser(True)
    frames = []
    for i in range(len(data)):
        frames += parser.feed(data[i : i + 1])
    assert frames == [(True, 0, 1, b"abcdefg" * 20)] * 3


def test_parser_client_side_unmasked():
    parser = FrameParser(False)
    assert parser.feed(unmasked(2, b"abc") + unmasked(8, b"\x03\xe8")) == [(True, 0, 2, b"abc"), (True, 0, 8, b"\x03\xe8")]


def test_parser_buffered_counts_incomplete_frame():
    frame = build_frame(True, 2, b"z" * 1000, mask_key=KEY)
    parser = FrameParser(True)
    assert parser.feed(frame[:3]) == []
    assert parser.buffered == 3
    assert parser.missing == 0  # the header isn't complete: the size is unknown
    assert parser.feed(frame[3:8]) == []
    assert parser.buffered == 8 - 8 + 0  # the 8-byte header is complete: no payload yet
    assert parser.missing == 1000
    assert parser.feed(frame[8:508]) == []
    assert parser.buffered == 500
    assert parser.missing == 500
    assert parser.feed(frame[508:]) == [(True, 0, 2, b"z" * 1000)]
    assert parser.buffered == 0
    assert parser.missing == 0


@pytest.mark.parametrize("mask_expected", [True, False])
def test_parser_masking_must_match_side(mask_expected):
    parser = FrameParser(mask_expected)
    good = build_frame(True, 1, b"ok", mask_key=KEY if mask_expected else None)
    bad = build_frame(True, 1, b"no", mask_key=None if mask_expected else KEY)
    assert parser.feed(good + bad + good) == [(True, 0, 1, b"ok")]
    assert isinstance(parser.exc, FrameProtocolError)
    assert "masked" in str(parser.exc)
    assert parser.feed(good) == []
    assert parser.buffered == 0


def test_parser_error_has_no_traceback():
    parser = FrameParser(True)
    parser.feed(b"\x83\x80" + KEY)
    assert isinstance(parser.exc, FrameProtocolError)
    assert parser.exc.__traceback__ is None


@pytest.mark.parametrize(
    "data",
    [
        b"\x83\x80" + KEY,  # reserved opcode
        b"\x09\x80" + KEY,  # fragmented ping
        b"\x89\xfe\x00\x80" + KEY,  # ping over 125 bytes
        b"\x82\xff\x80" + bytes(7) + KEY,  # 64-bit length, top bit set
    ],
)
def test_parser_header_rules(data):
    parser = FrameParser(True)
    good = build_frame(True, 2, b"fine", mask_key=KEY)
    assert parser.feed(good + data) == [(True, 0, 2, b"fine")]
    assert isinstance(parser.exc, FrameProtocolError)


def test_parser_reserved_bits():
    frame = build_frame(True, 1, b"x", rsv=4, mask_key=KEY)
    parser = FrameParser(True)
    assert parser.feed(frame) == []
    assert isinstance(parser.exc, FrameProtocolError)
    parser = FrameParser(True, allowed_rsv=4)
    assert parser.feed(frame) == [(True, 4, 1, b"x")]
    assert parser.feed(build_frame(True, 1, b"x", rsv=2, mask_key=KEY)) == []
    assert isinstance(parser.exc, FrameProtocolError)
    # Writable once extensions are negotiated.
    parser = FrameParser(True)
    parser.allowed_rsv = 4
    assert parser.allowed_rsv == 4
    assert parser.feed(frame) == [(True, 4, 1, b"x")]


def test_parser_max_frame_size():
    parser = FrameParser(True, max_frame_size=10)
    assert parser.feed(build_frame(True, 2, b"x" * 10, mask_key=KEY)) == [(True, 0, 2, b"x" * 10)]
    assert parser.feed(build_frame(True, 2, b"x" * 11, mask_key=KEY)) == []
    assert isinstance(parser.exc, FrameTooLarge)


def test_parser_max_size_sums_a_message_over_its_frames():
    parser = FrameParser(True, max_size=10)
    data = build_frame(False, 1, b"abcd", mask_key=KEY)
    data += build_frame(True, 9, b"ping ping ping", mask_key=KEY)  # control frames don't count
    data += build_frame(False, 0, b"efgh", mask_key=KEY)
    data += build_frame(True, 0, b"ij", mask_key=KEY)  # exactly 10
    data += build_frame(True, 2, b"0123456789", mask_key=KEY)  # a new message starts from 0
    assert len(parser.feed(data)) == 5
    assert parser.exc is None
    assert parser.feed(build_frame(False, 2, b"0123456", mask_key=KEY)) == [(False, 0, 2, b"0123456")]
    assert parser.feed(build_frame(True, 0, b"7890", mask_key=KEY)) == []
    assert isinstance(parser.exc, FrameTooLarge)


def test_parser_frame_too_large_from_the_header_alone():
    header = serialize_header(True, 2, 2**40, mask_key=KEY)
    for limits in ({"max_size": 2**20}, {"max_frame_size": 2**20}):
        parser = FrameParser(True, **limits)
        assert parser.feed(header) == []
        assert isinstance(parser.exc, FrameTooLarge)
        assert parser.buffered == 0


def test_parser_limits_are_writable():
    parser = FrameParser(True)
    assert parser.max_size is None and parser.max_frame_size is None
    parser.max_size = 5
    parser.max_frame_size = 4
    assert (parser.max_size, parser.max_frame_size) == (5, 4)
    parser.max_size = None
    assert parser.max_size is None
    assert parser.feed(build_frame(True, 2, b"12345", mask_key=KEY)) == []
    assert isinstance(parser.exc, FrameTooLarge)


def test_parser_bad_settings():
    with pytest.raises(ValueError):
        FrameParser(True, max_size=-1)
    with pytest.raises(ValueError):
        FrameParser(True, max_frame_size=-1)
    with pytest.raises(ValueError):
        FrameParser(True, allowed_rsv=8)
    with pytest.raises(TypeError):
        FrameParser(True, max_size="big")
    parser = FrameParser(True)
    with pytest.raises(ValueError):
        parser.allowed_rsv = -1


def test_parser_huge_limit_is_no_limit():
    parser = FrameParser(True, max_size=2**100, max_frame_size=2**64)
    assert parser.feed(build_frame(True, 2, b"x" * 300, mask_key=KEY)) == [(True, 0, 2, b"x" * 300)]


def test_parser_accepts_buffers():
    frame = build_frame(True, 2, b"payload", mask_key=KEY)
    for data in (bytearray(frame), memoryview(frame)):
        assert FrameParser(True).feed(data) == [(True, 0, 2, b"payload")]
    # The parser keeps no view of what it was fed: the caller may reuse it.
    buffer = bytearray(frame)
    parser = FrameParser(True)
    parser.feed(memoryview(buffer)[:10])
    buffer[:] = bytes(len(buffer))
    assert parser.feed(frame[10:]) == [(True, 0, 2, b"payload")]
    with pytest.raises(TypeError):
        FrameParser(True).feed("text")
    with pytest.raises(BufferError):
        FrameParser(True).feed(memoryview(frame)[::2])


def test_parser_empty_feed():
    parser = FrameParser(True)
    assert parser.feed(b"") == []
    assert parser.buffered == 0


def test_parser_memory_grows_only_with_received_bytes():
    # A peer announces a 64 MiB frame (under the limit) and sends 100 bytes:
    # the parser must hold about 100 bytes, not 64 MiB.
    parser = FrameParser(True, max_size=2**27)
    data = serialize_header(True, 2, 2**26, mask_key=KEY) + bytes(100)
    tracemalloc.start()
    try:
        parser.feed(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parser.buffered == 100
    assert peak < 64 * 1024


@pytest.mark.parametrize("received", [1000, 50_000, 200_000, 600_000])
def test_parser_holds_a_bounded_multiple_of_what_arrived(received):
    # Storage for a large frame grows with what arrived: at most eight times
    # it (the frame's whole size is taken once an eighth is here, so that
    # malloc can reuse one allocation from one large message to the next),
    # never the size the header announces before the bytes come.
    size = 2**20
    parser = FrameParser(True, max_size=size)
    data = serialize_header(True, 2, size, mask_key=KEY) + bytes(received)
    tracemalloc.start()
    try:
        assert parser.feed(data) == []
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parser.buffered == received
    assert held <= max(8 * received, 2 * 4096) + 1024


def test_parser_large_frame_in_many_chunks():
    payload = os.urandom(300_000)
    frame = build_frame(True, 2, payload, mask_key=KEY)
    parser = FrameParser(True)
    frames = []
    for start in range(0, len(frame), 65536):
        frames += parser.feed(frame[start : start + 65536])
    assert frames == [(True, 0, 2, payload)]


@needs_peer
def test_parser_reads_websockets_frames():
    frames = [
        peer_frame(Opcode.TEXT, "héllo".encode(), fin=False),
        peer_frame(Opcode.PING, b"ping"),
        peer_frame(Opcode.CONT, b"x" * 65536, fin=True),
        peer_frame(Opcode.BINARY, b""),
        peer_frame(Opcode.CLOSE, b"\x03\xe8bye"),
    ]
    data = b"".join(frame.serialize(mask=True) for frame in frames)
    parser = FrameParser(True, allowed_rsv=4)
    parsed = parser.feed(data)
    expected = [(f.fin, f.rsv1 << 2 | f.rsv2 << 1 | f.rsv3, int(f.opcode), f.data) for f in frames]
    assert parsed == expected


# The two implementations agree.

lengths = st.one_of(st.integers(0, 300), st.sampled_from([65535, 65536, 70000]))
header_args = st.tuples(
    st.booleans(),
    st.integers(-2, 17),
    st.one_of(st.integers(-1, 300), st.sampled_from([65535, 65536, 2**63 - 1, 2**63, 2**64])),
    st.integers(-1, 8),
    st.one_of(st.none(), st.binary(min_size=3, max_size=5)),
)


@needs_compiled
@PROPERTY
@given(st.binary(max_size=20), st.integers(-2, 22))
def test_same_parse_header(data, offset):
    assert outcome(COMPILED.parse_header, data, offset) == outcome(PURE.parse_header, data, offset)


@needs_compiled
@PROPERTY
@given(header_args)
def test_same_serialize_header(args):
    assert outcome(COMPILED.serialize_header, *args) == outcome(PURE.serialize_header, *args)


@needs_compiled
@PROPERTY
@given(header_args, st.binary(max_size=300))
def test_same_build_frame(args, payload):
    fin, opcode, _, rsv, mask_key = args
    assert outcome(COMPILED.build_frame, fin, opcode, payload, rsv, mask_key) == outcome(
        PURE.build_frame, fin, opcode, payload, rsv, mask_key
    )


@needs_compiled
@PROPERTY
@given(st.integers(-2, 17), st.binary(max_size=300), st.sampled_from([bytes, bytearray, memoryview]),
       st.one_of(st.none(), st.binary(min_size=3, max_size=5)))
def test_same_build_data_frame(opcode, payload, kind, mask_key):
    # build_frame(True, opcode, payload, 0, mask_key), in both twins.
    payload = kind(payload)
    expected = outcome(PURE.build_frame, True, opcode, payload, 0, mask_key)
    assert outcome(COMPILED.build_data_frame, opcode, payload, mask_key) == expected
    assert outcome(PURE.build_data_frame, opcode, payload, mask_key) == expected


@needs_compiled
@PROPERTY
@given(header_args, st.sampled_from([0, 1, 125, 65535, 65536, 70000]), st.sampled_from([bytes, bytearray]))
def test_same_append_frame(args, length, kind):
    fin, opcode, _, rsv, mask_key = args
    payload = kind(b"\xa5" * length)
    results = []
    for module in (COMPILED, PURE):
        writes = []
        results.append((outcome(module.append_frame, writes, fin, opcode, payload, rsv, mask_key), writes))
    assert results[0] == results[1]
    assert COMPILED.SPLIT_FRAME_SIZE == PURE.SPLIT_FRAME_SIZE


@st.composite
def frame_streams(draw):
    """Bytes of several frames, mostly valid, some breaking a rule."""
    masked = draw(st.booleans())
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["data", "data", "data", "control", "raw"]))
        if kind == "raw":
            parts.append(draw(st.binary(max_size=16)))
            continue
        opcode = draw(st.sampled_from([0, 1, 2]) if kind == "data" else st.sampled_from([8, 9, 10]))
        length = draw(lengths) if kind == "data" else draw(st.integers(0, 125))
        key = draw(st.binary(min_size=4, max_size=4)) if draw(st.integers(0, 9)) else None
        key = key if masked else (None if draw(st.integers(0, 9)) else b"\x00\x01\x02\x03")
        fin = draw(st.booleans()) if kind == "data" else True
        rsv = draw(st.sampled_from([0, 0, 0, 4, 2, 1]))
        payload = bytes((i * 7 + length) & 0xFF for i in range(length))
        parts.append(PURE.build_frame(fin, opcode, payload, rsv, key))
    return masked, b"".join(parts)


parser_settings = st.tuples(
    st.one_of(st.none(), st.integers(0, 400)),
    st.one_of(st.none(), st.integers(0, 400)),
    st.sampled_from([0, 4, 7]),
)


def cut_points(data, draw_cuts):
    return sorted(set(min(cut, len(data)) for cut in draw_cuts))


@needs_compiled
@PROPERTY
@given(frame_streams(), parser_settings, st.lists(st.integers(0, 2000), max_size=8))
def test_same_frames_whatever_the_split(stream, limits, cuts):
    masked, data = stream
    max_size, max_frame_size, allowed_rsv = limits
    cuts = cut_points(data, cuts)
    results = [
        feed_chunks(module.FrameParser(masked, max_size, max_frame_size, allowed_rsv), data, cuts)
        for module in (COMPILED, PURE)
    ]
    assert results[0] == results[1]
    # One feed or many: the same frames, the same error.
    whole = feed_chunks(COMPILED.FrameParser(masked, max_size, max_frame_size, allowed_rsv), data, [])
    assert whole[:2] == results[0][:2]


@needs_compiled
@PROPERTY
@given(st.booleans(), st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_same_result_on_garbage(masked, data, cuts):
    cuts = cut_points(data, cuts)
    results = [feed_chunks(module.FrameParser(masked, 300, None, 7), data, cuts) for module in (COMPILED, PURE)]
    assert results[0] == results[1]


@PROPERTY
@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from([0, 1, 2]), lengths, st.binary(min_size=4, max_size=4)),
        min_size=1,
        max_size=5,
    ),
    st.integers(1, 97),
)
def test_round_trip_build_then_parse(frames, chunk):
    # Active backend: every frame built comes back out, fed in any chunk size.
    built = []
    data = b""
    for fin, opcode, length, key in frames:
        payload = os.urandom(length)
        built.append((fin, 0, opcode, payload))
        data += build_frame(fin, opcode, payload, mask_key=key)
    parser = FrameParser(True)
    parsed = []
    for start in range(0, len(data), chunk * 13):
        parsed += parser.feed(data[start : start + chunk * 13])
    assert parsed == built
    assert parser.exc is None and parser.buffered == 0


@needs_peer
@PROPERTY
@given(
    st.sampled_from([Opcode.CONT, Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG, Opcode.CLOSE]),
    st.binary(max_size=125),
    st.booleans(),
    st.booleans(),
)
def test_websockets_serializer_output_parsed(opcode, payload, fin, mask):
    if opcode >= 8:
        fin = True
    frame = peer_frame(opcode, payload, fin=fin)
    parser = FrameParser(mask)
    assert parser.feed(frame.serialize(mask=mask)) == [(fin, 0, int(opcode), payload)]


@PROPERTY
@given(
    st.sampled_from([0, 1, 2]),
    st.one_of(st.integers(0, 200), st.integers(126, 70000), st.integers(65536, 2**63 - 1)),
    st.integers(0, 70000),
    st.booleans(),
)
def test_limits_from_the_header_alone(opcode, length, limit, frame_limit):
    # Only the header is fed: a frame over a limit fails at once, holding
    # nothing; a frame within the limits waits for its payload.
    kwargs = {"max_frame_size": limit} if frame_limit else {"max_size": limit}
    header = serialize_header(True, opcode, length, mask_key=KEY)
    for module in (COMPILED, PURE) if COMPILED is not None else (PURE,):
        parser = module.FrameParser(True, **kwargs)
        frames = parser.feed(header)
        if length > limit:
            assert frames == [] and isinstance(parser.exc, FrameTooLarge)
        elif length == 0:
            assert frames == [(True, 0, opcode, b"")] and parser.exc is None
        else:
            assert frames == [] and parser.exc is None
        assert parser.buffered == 0


@needs_compiled
@PROPERTY
@given(st.binary(max_size=20), st.sampled_from([bytearray, memoryview]))
def test_same_parse_header_on_buffers(data, kind):
    assert outcome(COMPILED.parse_header, kind(data)) == outcome(PURE.parse_header, kind(data))


def test_parser_holds_no_memory_after_many_connections():
    # Complete, split, abandoned and failed frames, many times: whatever a
    # parser held is released with it (a leaked payload would add 10 KB).
    frame = build_frame(True, 2, b"y" * 10000, mask_key=KEY)
    bad = b"\x83\x80" + KEY

    def one_connection():
        parser = FrameParser(True, max_size=2**20)
        frames = parser.feed(frame[:5000]) + parser.feed(frame[5000:]) + parser.feed(frame + frame[:3])
        frames += parser.feed(frame[3:7000])
        frames += parser.feed(frame[7000:] + bad)
        assert len(frames) == 3 and isinstance(parser.exc, FrameProtocolError)
        FrameParser(True).feed(frame[:7000])

    for _ in range(20):
        one_connection()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(300):
            one_connection()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 5000


# build_frame(mask_key=True): keys from the CSPRNG pool


@pytest.mark.parametrize("module", [PURE, COMPILED] if COMPILED is not None else [PURE], ids=lambda m: m.__name__.split(".")[1])
def test_build_frame_draws_fresh_keys(module):
    payload = b"x" * 40
    wires = [module.build_frame(True, 2, payload, 0, True) for _ in range(2000)]
    keys = set()
    for wire in wires:
        assert wire[:2] == b"\x82\xa8"
        keys.add(wire[2:6])
        # Parsed back, whatever the key: the payload.
        assert module.FrameParser(True).feed(wire) == [(True, 0, 2, payload)]
    # 2000 draws cross the 1024-key refill; a repeated 32-bit key among them
    # has a probability of about 5e-4, so allow one.
    assert len(keys) >= 1999


FRAME_MODULES = [PURE, COMPILED] if COMPILED is not None else [PURE]


class Slotted:
    """What message mode needs of a frame class: these slots."""

    __slots__ = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")

    def __init__(self, *args):
        raise AssertionError("the parser fills the slots without calling __init__")


# Message mode: FrameParser(frame_class=..., opcodes=..., utf8=..., max_fragments=...)


OPCODES = tuple(Opcode(value) if value in (0, 1, 2, 8, 9, 10) else None for value in range(16))


def message_parser(module, utf8=True, **kwargs):
    from websockets_fast._pyspeedups import utf8 as pure_utf8

    validator = None
    if utf8:
        utf8_module = pure_utf8 if module is PURE else importlib.import_module("websockets_fast._speedups.utf8")
        validator = utf8_module.Utf8Validator()
    return module.FrameParser(True, frame_class=Slotted, opcodes=OPCODES, utf8=validator, **kwargs)


def as_tuples(frames):
    return [(f.fin, f.rsv1 * 4 + f.rsv2 * 2 + f.rsv3, int(f.opcode), f.data) for f in frames]


def masked(opcode, payload, fin=True):
    return build_frame(fin, opcode, payload, mask_key=KEY)


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_message_mode_returns_frames(module):
    parser = message_parser(module)
    data = masked(1, b"caf\xc3\xa9", fin=False) + masked(9, b"ping") + masked(0, b"!") + masked(2, b"\x00\xff")
    frames = parser.feed(data)
    assert [type(f) for f in frames] == [Slotted] * 4
    assert frames[0].opcode is Opcode.TEXT and frames[1].opcode is Opcode.PING
    assert as_tuples(frames) == [(False, 0, 1, b"caf\xc3\xa9"), (True, 0, 9, b"ping"), (True, 0, 0, b"!"), (True, 0, 2, b"\x00\xff")]
    assert parser.control_frames == 1 and parser.exc is None
    assert parser.feed(masked(2, b"x")) and parser.control_frames == 0


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
@pytest.mark.parametrize(
    "data, message",
    [
        (masked(0, b"x"), "unexpected continuation frame"),
        (masked(1, b"a", fin=False) + masked(1, b"b"), "expected a continuation frame"),
        (masked(2, b"a", fin=False) + masked(9, b"") + masked(2, b"b"), "expected a continuation frame"),
        (masked(2, b"a", fin=False) + masked(0, b"b") + masked(0, b"c"), "unexpected continuation frame"),
    ],
)
def test_message_mode_continuation_rules(module, data, message):
    parser = message_parser(module)
    parser.feed(data)
    assert type(parser.exc) is FrameProtocolError and str(parser.exc) == message


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_message_mode_rules_are_checked_from_the_header(module):
    # A continuation frame out of place fails before its payload arrives.
    parser = message_parser(module)
    parser.feed(serialize_header(True, 0, 1000, mask_key=KEY))
    assert isinstance(parser.exc, FrameProtocolError) and parser.buffered == 0


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_message_mode_close_abandons_the_message(module):
    parser = message_parser(module)
    frames = parser.feed(masked(1, b"a", fin=False) + masked(8, b"\x03\xe8") + masked(1, b"b"))
    assert as_tuples(frames) == [(False, 0, 1, b"a"), (True, 0, 8, b"\x03\xe8"), (True, 0, 1, b"b")]
    assert parser.exc is None


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_message_mode_max_fragments(module):
    parser = message_parser(module, max_fragments=3)
    frames = parser.feed(masked(2, b"a", fin=False) + masked(0, b"b", fin=False) + masked(0, b"c"))
    assert len(frames) == 3 and parser.exc is None and not parser.fragments_exceeded
    frames = parser.feed(masked(2, b"a", fin=False) + masked(0, b"b", fin=False) + masked(0, b"c", fin=False) + masked(0, b"d"))
    assert len(frames) == 3
    assert type(parser.exc) is FrameTooLarge and parser.fragments_exceeded
    assert str(parser.exc) == "fragmented message exceeds limit of 3 frames"
    assert message_parser(module).max_fragments is None
    with pytest.raises(ValueError):
        message_parser(module, max_fragments=-1)


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
@pytest.mark.parametrize(
    "frames, delivered, reason",
    [
        ([(1, b"ok \xff", True)], 0, "invalid start byte"),
        ([(1, b"\xe2\x82", True)], 0, "unexpected end of data"),
        ([(1, b"ab", False), (0, b"\xc3", False), (0, b"(", True)], 2, "invalid UTF-8 in fragmented text message"),
        ([(1, b"\xed\xa0", False)], 0, "invalid continuation byte"),
        ([(1, b"a\xc3", False), (0, b"\xa9", False), (0, b"\xf0\x9f", True)], 2, "invalid UTF-8 in fragmented text message"),
    ],
)
def test_message_mode_utf8(module, frames, delivered, reason):
    data = b"".join(masked(opcode, payload, fin) for opcode, payload, fin in frames)
    parser = message_parser(module)
    assert len(parser.feed(data)) == delivered
    assert type(parser.exc) is UnicodeDecodeError and parser.exc.reason == reason
    assert parser.exc.__traceback__ is None
    # Without a validator, text is not checked (an extension decodes it first).
    parser = message_parser(module, utf8=False)
    assert len(parser.feed(data)) == len(frames) and parser.exc is None


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_message_mode_utf8_split_characters(module):
    text = "naïve — 🎉 ok".encode()
    for cut in range(len(text) + 1):
        parser = message_parser(module)
        frames = parser.feed(masked(1, text[:cut], fin=False) + masked(0, text[cut:]))
        assert parser.exc is None and b"".join(f.data for f in frames) == text, cut
    # Binary messages are never checked.
    assert message_parser(module).feed(masked(2, b"\xff")) and True


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_message_mode_bad_settings(module):
    class Dict:
        pass

    class SomeSlots:
        __slots__ = ("opcode", "data", "fin")

    class Properties(SomeSlots):
        __slots__ = ()
        rsv1 = rsv2 = rsv3 = property(lambda self: False)

    class Borrowed:
        # Another class's slots: their offsets mean nothing here.
        __slots__ = ("__dict__", "__weakref__")
        opcode, data, fin, rsv1, rsv2, rsv3 = (Slotted.__dict__[name] for name in Slotted.__slots__)

    for bad in (tuple, Dict, SomeSlots, Properties, Borrowed, "Frame", None.__class__):
        with pytest.raises(TypeError):
            module.FrameParser(True, frame_class=bad, opcodes=OPCODES)
    with pytest.raises(ValueError):
        module.FrameParser(True, frame_class=Slotted, opcodes=OPCODES[:8])

    class More(Slotted):
        # A subclass with more fields or a __dict__ works: they stay unset.
        __slots__ = ("extra", "__dict__")

    parser = module.FrameParser(True, frame_class=More, opcodes=OPCODES)
    (frame,) = parser.feed(masked(2, b"x"))
    assert type(frame) is More and frame.data == b"x" and not hasattr(frame, "extra")
    frame.anything = 1


@st.composite
def message_streams(draw):
    """Frames that mostly follow the message rules, text included."""
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        opcode = draw(st.sampled_from([0, 0, 1, 1, 2, 8, 9, 10]))
        if opcode == 1 or opcode == 0:
            text = draw(st.text(max_size=12)).encode()
            if draw(st.integers(0, 5)) == 0:
                text = text[: draw(st.integers(0, len(text)))] + draw(st.binary(max_size=2))
            payload = text
        else:
            payload = draw(st.binary(max_size=20))
        fin = True if opcode >= 8 else draw(st.booleans())
        parts.append(build_frame(fin, opcode, payload, mask_key=KEY))
    return b"".join(parts)


@needs_compiled
@PROPERTY
@given(message_streams(), st.lists(st.integers(0, 400), max_size=6), st.sampled_from([None, 2, 3]), st.booleans())
def test_same_messages_whatever_the_split(data, cuts, max_fragments, utf8):
    cuts = cut_points(data, cuts)
    results = []
    for module in (COMPILED, PURE):
        parser = message_parser(module, utf8=utf8, max_fragments=max_fragments)
        frames, previous = [], 0
        for cut in cuts + [len(data)]:
            frames += parser.feed(data[previous:cut])
            previous = cut
        exc = parser.exc
        results.append((as_tuples(frames), None if exc is None else (type(exc), str(exc)), parser.fragments_exceeded))
    assert results[0] == results[1]


# feed_messages(): feed(), with a whole data message as its payload.


def as_frame_tuples(items):
    """feed_messages() items as feed() would have given them, as tuples."""
    result = []
    for item in items:
        if type(item) is bytes:
            result.append((True, 0, 2, item))
        elif type(item) is str:
            assert item.isascii()
            result.append((True, 0, 1, item.encode()))
        else:
            result.append(as_tuples([item])[0])
    return result


def tagged(items):
    """Items with their kind, so that bytes, str and frames compare apart."""
    return [(type(item).__name__, item if type(item) in (bytes, str) else as_tuples([item])[0]) for item in items]


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_feed_messages_returns_whole_messages_as_payloads(module):
    parser = message_parser(module, allowed_rsv=4)
    data = (
        masked(2, b"\x00\xff")
        + masked(1, b"ascii")
        + masked(1, "café".encode())
        + masked(9, b"ping")
        + masked(2, b"")
        + masked(1, b"")
        + masked(1, b"frag", fin=False)
        + masked(0, b"ment")
        + build_frame(True, 2, b"deflated", rsv=4, mask_key=KEY)
    )
    items = parser.feed_messages(data)
    assert tagged(items) == [
        ("bytes", b"\x00\xff"),
        ("str", "ascii"),
        ("Slotted", (True, 0, 1, "café".encode())),
        ("Slotted", (True, 0, 9, b"ping")),
        ("bytes", b""),
        ("str", ""),
        ("Slotted", (False, 0, 1, b"frag")),
        ("Slotted", (True, 0, 0, b"ment")),
        ("Slotted", (True, 4, 2, b"deflated")),
    ]
    assert parser.control_frames == 1 and parser.exc is None
    # feed() itself is unchanged: frames only.
    assert [type(f) for f in message_parser(module, allowed_rsv=4).feed(data)] == [Slotted] * 9


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
@pytest.mark.parametrize("size", [1, 7, 8, 9, 125, 126, 4095, 70_000])
def test_feed_messages_ascii_text_is_a_compact_str(module, size):
    text = bytes(32 + i % 95 for i in range(size))
    for split in (None, 3, size // 2):
        parser = message_parser(module)
        data = masked(1, text)
        cuts = [len(data)] if split is None else [split, len(data)]
        items, previous = [], 0
        for cut in cuts:
            items += parser.feed_messages(data[previous:cut])
            previous = cut
        (item,) = items
        assert type(item) is str and item == text.decode() and hash(item) == hash(text.decode())
        # One byte per character, as the bytes took: max_queue x max_size holds.
        assert sys.getsizeof(item) == sys.getsizeof(text.decode())
    # A non-ASCII character anywhere keeps the frame, validated as by feed().
    for position in (0, size - 1):
        bad = text[:position] + b"\xc3\xa9" + text[position + 1 :]
        (frame,) = message_parser(module).feed_messages(masked(1, bad))
        assert type(frame) is Slotted and frame.data == bad
        parser = message_parser(module)
        assert parser.feed_messages(masked(1, bad[:-1] + b"\xff")) == [] and type(parser.exc) is UnicodeDecodeError


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
@pytest.mark.parametrize("key", [b"\xff\x80\x7f\x00", b"\x00\x00\x00\x80"])
def test_feed_messages_ascii_seen_through_the_mask(module, key):
    # Masked bytes with the high bit set may be ASCII once unmasked, and the
    # other way round: the non-ASCII byte at every position of every length
    # up to three words, whichever byte of the key it meets.
    for length in range(25):
        text = bytes(65 + i % 26 for i in range(length))
        (item,) = message_parser(module).feed_messages(build_frame(True, 1, text, mask_key=key))
        assert type(item) is str and item == text.decode()
        for position in range(length):
            latin = text[:position] + b"\xc2\xa0"[: 2 if position < length - 1 else 1] + text[position + 2 :]
            parser = message_parser(module, utf8=False)
            (frame,) = parser.feed_messages(build_frame(True, 1, latin, mask_key=key))
            assert type(frame) is Slotted and frame.data == latin


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_feed_messages_errors_as_feed(module):
    cases = [
        (masked(1, b"ok") + masked(1, b"\xff") + masked(2, b"dropped"), {}),
        (masked(2, b"x" * 10) + masked(2, b"x" * 11), {"max_size": 10}),
        (masked(2, b"ok") + masked(0, b"x"), {}),
        (masked(2, b"ok") + build_frame(True, 2, b"x", rsv=4, mask_key=KEY), {}),
        (masked(2, b"ok") + build_frame(True, 2, b"x"), {}),
    ]
    for data, kwargs in cases:
        by_feed, by_messages = message_parser(module, **kwargs), message_parser(module, **kwargs)
        frames, items = by_feed.feed(data), by_messages.feed_messages(data)
        assert as_tuples(frames) == as_frame_tuples(items)
        assert (type(by_feed.exc), str(by_feed.exc)) == (type(by_messages.exc), str(by_messages.exc))
        assert by_messages.exc is not None and by_messages.feed_messages(masked(2, b"late")) == []


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_feed_messages_without_frame_class_is_feed(module):
    data = masked(2, b"a") + masked(1, b"b") + masked(9, b"")
    assert module.FrameParser(True).feed_messages(data) == module.FrameParser(True).feed(data)


@st.composite
def message_streams_any_side(draw):
    """message_streams() material, masked or not, with RSV1 on some frames."""
    mask = draw(st.booleans())
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        opcode = draw(st.sampled_from([0, 0, 1, 1, 1, 2, 2, 8, 9, 10]))
        if opcode == 1 or opcode == 0:
            text = draw(st.one_of(st.text(max_size=12), st.text(alphabet=st.characters(max_codepoint=127), max_size=200)))
            payload = text.encode()
            if draw(st.integers(0, 5)) == 0:
                payload = payload[: draw(st.integers(0, len(payload)))] + draw(st.binary(max_size=2))
        else:
            payload = draw(st.binary(max_size=20 if opcode >= 8 else 200))
        fin = True if opcode >= 8 else draw(st.booleans())
        rsv = 4 if opcode < 8 and draw(st.integers(0, 7)) == 0 else 0
        parts.append(build_frame(fin, opcode, payload, rsv, mask_key=KEY if mask else None))
    return mask, b"".join(parts)


@needs_compiled
@PROPERTY
@given(
    message_streams_any_side(),
    st.lists(st.integers(0, 800), max_size=6),
    st.sampled_from([None, 2, 3]),
    st.sampled_from([None, 40, 150]),
    st.booleans(),
)
def test_feed_messages_same_in_both_twins_and_as_feed(stream, cuts, max_fragments, max_size, utf8):
    mask, data = stream
    cuts = cut_points(data, cuts)
    results = []
    for module in (COMPILED, PURE):
        outcomes = []
        for method in ("feed", "feed_messages"):
            parser = message_parser(module, utf8=utf8, max_fragments=max_fragments, max_size=max_size, allowed_rsv=4)
            parser.mask_expected = mask
            items, previous, controls = [], 0, 0
            for cut in cuts + [len(data)]:
                items += getattr(parser, method)(data[previous:cut])
                controls += parser.control_frames
                previous = cut
            exc = parser.exc
            outcomes.append((items, None if exc is None else (type(exc), str(exc)), parser.fragments_exceeded, controls))
        (frames, *state), (items, *state_of_messages) = outcomes
        assert as_tuples(frames) == as_frame_tuples(items) and state == state_of_messages
        # Exactly the whole, unextended data messages became payloads; ASCII
        # text only.
        for frame, item in zip(frames, items):
            whole = frame.fin and int(frame.opcode) in (1, 2) and not frame.rsv1
            if whole and int(frame.opcode) == 2:
                assert type(item) is bytes
            elif whole and frame.data.isascii():
                assert type(item) is str
            else:
                assert type(item) is Slotted
        results.append((tagged(items), state_of_messages))
    assert results[0] == results[1]


@needs_compiled
def test_message_mode_frames_are_not_tracked_by_the_cycle_collector():
    # They hold bytes, an opcode and bools: no cycle is possible, so the
    # compiled parser spares the collector from scanning them. They are
    # still freed by reference counting.
    import gc
    import sys

    parser = COMPILED.FrameParser(True, frame_class=Slotted, opcodes=OPCODES)
    frames = parser.feed(masked(2, b"abc") * 3)
    assert [gc.is_tracked(frame) for frame in frames] == [False] * 3
    # Counted outside assert statements, which pytest rewrites to keep
    # references to what they evaluate.
    frame_refs = sys.getrefcount(frames[0])  # the list's and the argument's
    data = frames[0].data
    del frames
    data_refs = sys.getrefcount(data)  # the local's and the argument's
    assert (frame_refs, data_refs) == (2, 2)


# Memory safety (issue 17). Under tests/sanitize.sh, the compiled parser's
# old behaviour in these tests was a heap-buffer-overflow or a read out of
# range; in a normal build, wrong frames or a crash.

FIELDS = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")
Big = type("Big", (), {"__slots__": FIELDS + tuple(f"extra{i}" for i in range(64))})


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_failed_reinit_changes_nothing(module):
    parser = message_parser(module, max_size=100)
    # A fragmented message in progress, and the start of its next frame.
    assert len(parser.feed(masked(1, b"ab", fin=False) + masked(0, b"cd")[:3])) == 1
    with pytest.raises(ValueError):
        parser.__init__(False, frame_class=Big, opcodes=OPCODES[:3])
    with pytest.raises(TypeError):
        parser.__init__(False, max_size=10, frame_class=dict, opcodes=OPCODES)
    with pytest.raises(ValueError):
        parser.__init__(False, max_size=10, max_fragments=-1)
    assert parser.mask_expected is True and parser.max_size == 100 and parser.max_fragments is None
    (frame,) = parser.feed(masked(0, b"cd")[3:])
    assert type(frame) is Slotted and frame.data == b"cd" and frame.fin and parser.exc is None
    parser = message_parser(module)
    with pytest.raises(ValueError):
        parser.__init__(False, frame_class=Big, opcodes=OPCODES[:3])
    (frame,) = parser.feed(masked(2, b"abc"))
    assert type(frame) is Slotted and frame.data == b"abc" and frame.opcode is Opcode.BINARY
    # Unmasked: still refused, mask_expected did not change.
    assert parser.feed(b"\x82\x03abc") == [] and type(parser.exc) is FrameProtocolError


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_reinit_starts_afresh(module):
    parser = message_parser(module)
    parser.feed(masked(1, b"ab", fin=False) + masked(2, b"xyz")[:4])
    assert parser.buffered
    parser.__init__(True, frame_class=Big, opcodes=OPCODES)
    assert parser.buffered == 0 and parser.missing == 0 and parser.exc is None
    (frame,) = parser.feed(masked(2, b"abc"))
    assert type(frame) is Big and frame.data == b"abc"
    parser.__init__(True)
    assert parser.feed(masked(0, b"x")) == [(True, 0, 0, b"x")]


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
@pytest.mark.parametrize("base", [dict, list, Exception, set])
def test_frame_class_with_a_builtin_layout_is_refused(module, base):
    # Frames are allocated without __new__: a base whose instances need it
    # (their own C fields) would be used uninitialised.
    frame_class = type("F", (base,), {"__slots__": FIELDS})
    with pytest.raises(TypeError, match="derive from object alone"):
        module.FrameParser(True, frame_class=frame_class, opcodes=OPCODES)
    subclass = type("G", (frame_class,), {"__slots__": ()})
    with pytest.raises(TypeError, match="derive from object alone"):
        module.FrameParser(True, frame_class=subclass, opcodes=OPCODES)


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_frame_class_through_plain_bases_is_accepted(module):
    class Base:
        __slots__ = ("opcode", "data", "__weakref__")

    class Mixin:
        __slots__ = ()

    class Frame(Base, Mixin):
        __slots__ = ("fin", "rsv1", "rsv2", "rsv3")

    (frame,) = module.FrameParser(True, frame_class=Frame, opcodes=OPCODES).feed(masked(2, b"x"))
    assert type(frame) is Frame and frame.data == b"x" and frame.fin is True


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_partial_validation_does_not_carry_over_to_the_next_frame(module):
    parser = message_parser(module)
    text = "é" * 10  # 20 bytes, none ASCII
    data = masked(1, text.encode())
    header = len(data) - 20
    parser.feed(data[: header + 10])
    parser.utf8 = None
    (frame,) = parser.feed(data[header + 10 :])
    assert frame.data == text.encode()
    parser.utf8 = message_parser(module).utf8
    # Its first bytes are invalid: they must be validated, all of them.
    assert parser.feed(masked(1, b"\xff" + b"a" * 11)) == []
    assert type(parser.exc) is UnicodeDecodeError
    # Shorter than what was validated of the earlier frame.
    parser = message_parser(module)
    parser.feed(data[: header + 10])
    parser.utf8 = None
    parser.feed(data[header + 10 :])
    parser.utf8 = message_parser(module).utf8
    assert parser.feed(masked(1, b"\xff\xfe")) == [] and type(parser.exc) is UnicodeDecodeError


class ReentrantValidator:
    """A validator that calls back into the parser, as a finalizer could."""

    def __init__(self, action):
        self.action = action
        self.parser = None

    def reset(self):
        pass

    def feed(self, data, final=False):
        self.action(self.parser)
        return True


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
@pytest.mark.parametrize(
    "action",
    [
        lambda parser: parser.feed(masked(2, b"x" * 100)),
        lambda parser: parser.__init__(False),
        lambda parser: parser.__init__(True, frame_class=Big, opcodes=OPCODES),
    ],
    ids=["feed", "init", "init-frame-class"],
)
@pytest.mark.parametrize("split", [False, True], ids=["whole", "partial"])
def test_no_feed_or_init_while_parsing(module, action, split):
    validator = ReentrantValidator(action)
    parser = module.FrameParser(True, frame_class=Slotted, opcodes=OPCODES, utf8=validator)
    validator.parser = parser
    data = masked(1, "é".encode() * 50)
    with pytest.raises(RuntimeError, match="while this parser is parsing"):
        parser.feed(data[:60] if split else data)
    # Still whole and usable.
    validator.action = lambda parser: None
    frames = parser.feed(data[60:] if split else masked(2, b"ok"))
    assert frames and type(frames[-1]) is Slotted


# send_some: what the asyncio connection sends to its socket directly.


@pytest.mark.skipif(os.name != "posix", reason="sockets are file descriptors on POSIX only")
@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_send_some(module):
    import socket

    left, right = socket.socketpair()
    with left, right:
        left.setblocking(False)
        right.setblocking(False)
        assert module.send_some(left.fileno(), b"abc") == 3
        assert module.send_some(left.fileno(), memoryview(b"xdefx")[1:4]) == 3
        assert module.send_some(left.fileno(), bytearray(b"gh")) == 2
        assert right.recv(100) == b"abcdefgh"
        # Full: part of it, then nothing, never a block nor an exception.
        left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        chunk = b"x" * 65536
        total = 0
        while (sent := module.send_some(left.fileno(), chunk)) > 0:
            total += sent
        assert sent == 0 and total > 0
        received = 0
        while received < total:
            received += len(right.recv(total - received))
        # The peer gone: an error, which returns 0 (and no SIGPIPE).
        right.close()
        sent = [module.send_some(left.fileno(), b"abc") for _ in range(3)]
        assert sent[-1] == 0


# recv_some: what the asyncio connection reads from its socket directly.


def tcp_pair():
    """A connected pair of non-blocking TCP sockets on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    client.setblocking(False)
    server.setblocking(False)
    return client, server


@pytest.mark.skipif(os.name != "posix", reason="sockets are file descriptors on POSIX only")
@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_recv_some(module):
    import select

    left, right = tcp_pair()
    with left, right:
        # Nothing there yet: None, at once.
        assert module.recv_some(right.fileno(), 100) is None
        left.sendall(b"abcdefgh")
        select.select([right], [], [], 10)
        assert module.recv_some(right.fileno(), 3) == b"abc"
        # Into a new bytes object of the size asked: filled, then not.
        assert module.recv_some(right.fileno(), 2, True) == b"de"
        assert module.recv_some(right.fileno(), 100, True) == b"fgh"
        assert module.recv_some(right.fileno(), 100, True) is None
        assert module.recv_some(right.fileno(), 100) is None
        # At most 64 KiB at once, whatever the size asked.
        left.setblocking(True)
        left.sendall(b"x" * 100_000)
        received = b""
        for attempt in range(1000):
            select.select([right], [], [], 10)
            chunk = module.recv_some(right.fileno(), 1 << 20, attempt % 2 == 1)
            if chunk is None:
                continue
            assert 0 < len(chunk) <= 65536
            received += chunk
            if len(received) == 100_000:
                break
        assert received == b"x" * 100_000
        # The end of the stream: b"", every time.
        left.shutdown(socket.SHUT_WR)
        select.select([right], [], [], 10)
        assert module.recv_some(right.fileno(), 100) == b""
        assert module.recv_some(right.fileno(), 100, True) == b""
        with pytest.raises(ValueError):
            module.recv_some(right.fileno(), 0)


@pytest.mark.skipif(os.name != "posix", reason="sockets are file descriptors on POSIX only")
@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_recv_into_some(module):
    import select

    left, right = tcp_pair()
    with left, right:
        buffer = bytearray(10)
        assert module.recv_into_some(right.fileno(), buffer) is None
        left.sendall(b"abcdefgh")
        select.select([right], [], [], 10)
        # Into a part of a buffer, through a memoryview: at most its size.
        assert module.recv_into_some(right.fileno(), memoryview(buffer)[2:5]) == 3
        assert module.recv_into_some(right.fileno(), memoryview(buffer)[5:]) == 5
        assert buffer == b"\x00\x00abcdefgh"
        assert module.recv_into_some(right.fileno(), buffer) is None
        with pytest.raises(ValueError):
            module.recv_into_some(right.fileno(), bytearray())
        with pytest.raises(BufferError):
            module.recv_into_some(right.fileno(), b"read-only")
        left.shutdown(socket.SHUT_WR)
        select.select([right], [], [], 10)
        assert module.recv_into_some(right.fileno(), buffer) == 0
    left, right = tcp_pair()
    with left, right:
        left.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        left.close()
        select.select([right], [], [], 10)
        with pytest.raises(ConnectionResetError):
            module.recv_into_some(right.fileno(), bytearray(10))
    with pytest.raises(OSError) as caught:
        module.recv_into_some(-1, bytearray(10))
    assert caught.value.errno == errno.EBADF


@pytest.mark.skipif(os.name != "posix", reason="sockets are file descriptors on POSIX only")
@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_recv_some_errors(module):
    import select

    left, right = tcp_pair()
    with left, right:
        # A reset (close with SO_LINGER 0 sends RST): ConnectionResetError.
        left.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        left.close()
        select.select([right], [], [], 10)
        with pytest.raises(ConnectionResetError):
            module.recv_some(right.fileno(), 100)
    # Not a file descriptor: the OSError of the system call.
    with pytest.raises(OSError) as caught:
        module.recv_some(-1, 100)
    assert caught.value.errno == errno.EBADF


# payload_view() / payload_received(): a reader that receives the rest of a
# large payload into the parser's own storage (asyncio's BufferedProtocol).


def feed_like_a_buffered_reader(parser, data, read_size):
    """Receive ``data`` as a reader would, ``read_size`` bytes at most per
    read: into payload_view() while a payload is incomplete, else through
    feed_messages(). Return the items, the error, and the control frames."""
    items, position, controls = [], 0, 0
    for _ in range(len(data) + 2):  # at least a byte per step
        if position == len(data):
            break
        view = parser.payload_view()
        if view is not None:
            assert len(view) > 0 and not view.readonly
            size = min(len(view), read_size, len(data) - position)
            view[:size] = data[position : position + size]
            items += parser.payload_received(size)
        else:
            size = min(read_size, len(data) - position)
            items += parser.feed_messages(data[position : position + size])
        controls += parser.control_frames
        position += size
    exc = parser.exc
    return items, None if exc is None else (type(exc), str(exc)), controls


@needs_compiled
@PROPERTY
@given(message_streams_any_side(), st.integers(1, 300), st.sampled_from([None, 150]), st.booleans())
def test_payload_views_give_what_feed_messages_gives(stream, read_size, max_size, utf8):
    mask, data = stream
    results = []
    for module in (COMPILED, PURE):
        outcomes = []
        for reader in ("views", "feed_messages"):
            parser = message_parser(module, utf8=utf8, max_size=max_size, allowed_rsv=4)
            parser.mask_expected = mask
            if reader == "views":
                outcomes.append(feed_like_a_buffered_reader(parser, data, read_size))
            else:
                items = parser.feed_messages(data)
                exc = parser.exc
                outcomes.append((items, None if exc is None else (type(exc), str(exc)), parser.control_frames))
        (items, error, _), (expected, expected_error, _) = outcomes
        # The same items and the same error; its message may tell another
        # position: the views cut the data elsewhere (and differently in
        # each twin, whose storage grows differently).
        assert tagged(items) == tagged(expected)
        assert (error and error[0]) == (expected_error and expected_error[0])
        results.append((tagged(items), error and error[0]))
    assert results[0] == results[1]


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
@pytest.mark.parametrize("mask_key", [KEY, None], ids=["masked", "unmasked"])
def test_payload_view_of_a_large_frame(module, mask_key):
    payload = bytes(range(256)) * 4096  # 1 MiB
    data = build_frame(True, 2, payload, mask_key=mask_key) + build_frame(True, 1, b"next", mask_key=mask_key)
    parser = message_parser(module)
    parser.mask_expected = mask_key is not None
    assert parser.payload_view() is None  # nothing incomplete
    with pytest.raises(ValueError):
        parser.payload_received(1)
    assert parser.feed_messages(data[:1000]) == []
    items = feed_like_a_buffered_reader(parser, data[1000:], 200_000)[0]
    assert items == [payload, "next"]
    assert parser.payload_view() is None and parser.buffered == 0


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_payload_view_misuse(module):
    parser = message_parser(module)
    parser.feed_messages(masked(2, b"x" * 100_000)[:50])
    missing = parser.missing
    view = parser.payload_view()
    with pytest.raises(ValueError):
        parser.payload_received(len(view) + 1)
    with pytest.raises(ValueError):
        parser.payload_received(-1)
    view = parser.payload_view()
    # Nothing received: nothing changes.
    assert parser.payload_received(0) == [] and parser.missing == missing == 100_000 - (50 - 14)


@pytest.mark.parametrize("module", FRAME_MODULES, ids=lambda m: m.__name__.split(".")[1])
def test_payload_view_invalid_text_fails_as_it_arrives(module):
    text = b"a" * 70_000 + b"\xff" + b"b" * 70_000
    parser = message_parser(module)
    data = masked(1, text)
    parser.feed_messages(data[:100])
    items, error, _ = feed_like_a_buffered_reader(parser, data[100:80_000], 65536)
    assert items == [] and error[0] is UnicodeDecodeError
    assert parser.payload_view() is None and parser.feed_messages(data[80_000:]) == []


@needs_compiled
def test_payload_view_storage_grows_with_what_arrived():
    # A peer that announces a 64 MiB frame and sends little makes the parser
    # hold about twice what it sent (at least 64 KiB), not 64 MiB.
    parser = COMPILED.FrameParser(True, None)
    parser.feed(serialize_header(True, 2, 64 * 2**20, 0, KEY) + b"x" * 1024)
    filled = 1024
    tracemalloc.start()
    try:
        for _ in range(6):
            view = parser.payload_view()
            storage = filled + len(view)
            assert storage <= max(2 * filled, filled + 65536)
            assert tracemalloc.get_traced_memory()[0] <= storage + 4096
            view[:] = b"y" * len(view)
            assert parser.payload_received(len(view)) == []
            filled += len(view)
        assert filled < 2 * 2**20 and parser.missing == 64 * 2**20 - filled
    finally:
        tracemalloc.stop()
