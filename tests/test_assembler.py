"""Tests for websockets_fast.assembler: message assembly without I/O."""

import dataclasses

import pytest

from websockets_fast.assembler import Assembler, PingTracker, parse_max_queue, parse_write_limit
from websockets_fast.exceptions import ConcurrencyError, TooManyFragments
from websockets_fast.frames import Frame as RealFrame
from websockets_fast.frames import Opcode

CONT, TEXT, BINARY = 0, 1, 2


class Frame:
    """The three attributes the assembler reads from a frame."""

    __slots__ = ("opcode", "data", "fin")

    def __init__(self, opcode, data, fin=True):
        self.opcode, self.data, self.fin = opcode, data, fin


class Flow:
    """Records pause/resume calls."""

    def __init__(self):
        self.calls = []

    def pause(self):
        self.calls.append("pause")

    def resume(self):
        self.calls.append("resume")


# Water marks


@pytest.mark.parametrize(
    "arg, expected",
    [
        (16, (16, 4)),
        ((16, 2), (16, 2)),
        ((16, None), (16, 4)),
        ((None, 3), (12, 3)),
        (0, (0, 0)),
        (None, (None, None)),
        ((None, None), (None, None)),
    ],
)
def test_parse_max_queue(arg, expected):
    assert parse_max_queue(arg) == expected


@pytest.mark.parametrize("arg", [(2, 3), (4, -1)])
def test_parse_max_queue_invalid(arg):
    with pytest.raises(ValueError):
        parse_max_queue(arg)


def test_parse_write_limit():
    assert parse_write_limit(32768) == (32768, 8192)
    assert parse_write_limit((100, 10)) == (100, 10)
    assert parse_write_limit((100, None)) == (100, 25)
    with pytest.raises(ValueError):
        parse_write_limit((10, 20))
    # The same defaults as max_queue: high follows from low alone.
    assert parse_write_limit((None, 10)) == (40, 10)
    with pytest.raises(TypeError):
        parse_write_limit(None)
    # Equal limits are one tuple, with the same int objects: every
    # connection of a server keeps them.
    assert parse_write_limit(2**16) is parse_write_limit((2**16, None))
    high, low = parse_write_limit(2**16)
    assert low is parse_write_limit(2**16)[1] and (high, low) == (65536, 16384)
    # A program that makes a limit per connection doesn't grow the table.
    for i in range(100):
        assert parse_write_limit(1000 + i) == (1000 + i, (1000 + i) // 4)
    from websockets_fast import assembler

    assert len(assembler._SHARED_WRITE_LIMITS) <= 16


# Whole messages


def test_text_and_binary():
    asm = Assembler()
    asm.put(Frame(TEXT, b"caf\xc3\xa9"))
    asm.put(Frame(BINARY, bytearray(b"\x00\x01")))
    assert asm.complete == 2
    assert asm.take() == "café"
    data = asm.take()
    assert data == b"\x00\x01" and type(data) is bytes
    assert asm.complete == 0
    assert asm.take() is None


@pytest.mark.parametrize(
    "opcode, decode, expected",
    [
        (TEXT, False, b"abc"),
        (TEXT, True, "abc"),
        (BINARY, True, "abc"),
        (BINARY, False, b"abc"),
    ],
)
def test_decode_override(opcode, decode, expected):
    for frames in ([Frame(opcode, b"abc")], [Frame(opcode, b"a", False), Frame(CONT, b"bc")]):
        asm = Assembler()
        for frame in frames:
            asm.put(frame)
        assert asm.take(decode) == expected


def test_memoryview_data():
    asm = Assembler()
    asm.put(Frame(TEXT, memoryview(b"hi")))
    asm.put(Frame(BINARY, memoryview(b"yo")))
    assert asm.take() == "hi"
    assert asm.take() == b"yo"


def test_invalid_utf8_raises():
    asm = Assembler()
    asm.put(Frame(TEXT, b"\xff"))
    with pytest.raises(UnicodeDecodeError):
        asm.take()
    # The bad message was consumed; the next one is readable.
    asm.put(Frame(TEXT, b"ok"))
    assert asm.take() == "ok"


# Fragmented messages


def test_fragments_are_joined():
    asm = Assembler()
    asm.put(Frame(TEXT, b"caf\xc3", fin=False))
    assert asm.complete == 0
    assert asm.take() is None
    asm.put(Frame(CONT, b"\xa9 ", fin=False))
    assert asm.take() is None
    asm.put(Frame(CONT, b"noir"))
    assert asm.complete == 1
    assert asm.take() == "café noir"


def test_fragments_then_next_message():
    asm = Assembler()
    for frame in [Frame(BINARY, b"a", False), Frame(CONT, b"b"), Frame(TEXT, b"c")]:
        asm.put(frame)
    assert asm.complete == 2
    assert asm.take() == b"ab"
    assert asm.take() == "c"


def test_fragments_drain_the_queue_so_reading_resumes():
    # A message of many more fragments than max_queue must not deadlock:
    # take() moves fragments out of the queue, which resumes reading.
    flow = Flow()
    asm = Assembler(max_queue=(4, 1), pause=flow.pause, resume=flow.resume)
    asm.put(Frame(BINARY, b"x", False))
    for _ in range(4):
        asm.put(Frame(CONT, b"x", False))
    assert flow.calls == ["pause"] and asm.paused
    assert asm.take() is None
    assert len(asm) == 0 and flow.calls == ["pause", "resume"]
    for _ in range(100):
        asm.put(Frame(CONT, b"x", False))
        assert asm.take() is None
    asm.put(Frame(CONT, b"y"))
    assert asm.take() == b"x" * 105 + b"y"


def test_too_many_fragments_only_without_max_size():
    asm = Assembler(max_size=None, max_fragments=3)
    asm.put(Frame(BINARY, b"a", False))
    asm.put(Frame(CONT, b"b", False))
    asm.put(Frame(CONT, b"c", False))
    assert asm.take() is None
    asm.put(Frame(CONT, b"d"))
    with pytest.raises(TooManyFragments):
        asm.take()

    asm = Assembler(max_size=2**20, max_fragments=3)
    for frame in [Frame(BINARY, b"a", False)] + [Frame(CONT, b"b", False)] * 5 + [Frame(CONT, b"c")]:
        asm.put(frame)
    assert asm.take() == b"abbbbbc"

    asm = Assembler(max_size=(None, 1000), max_fragments=1)
    asm.put(Frame(BINARY, b"a", False))
    asm.put(Frame(CONT, b"b"))
    with pytest.raises(TooManyFragments):
        asm.take()


def test_joining_buffer_bounded_by_message_size():
    # Memory held while joining is one buffer of the bytes received so far,
    # not one object per fragment.
    asm = Assembler(max_queue=None)
    asm.put(Frame(BINARY, b"", False))
    for _ in range(1000):
        asm.put(Frame(CONT, b"z", False))
    assert asm.take() is None
    assert len(asm) == 0
    # The first fragment, then one buffer for all the small ones.
    assert [len(part) for part in asm._parts] == [0, 1000]
    asm.put(Frame(CONT, b""))
    assert asm.take() == b"z" * 1000


@pytest.mark.parametrize("decode", [None, True])
def test_large_and_small_fragments_joined_in_order(decode):
    # Large fragments are kept as they are until the join, small ones are
    # gathered into one buffer between them: the message is the same.
    sizes = [5000, 3, 4096, 1, 2, 4095, 10000, 7]
    pieces = [bytes([65 + i]) * size for i, size in enumerate(sizes)]
    asm = Assembler(max_queue=None)
    for i, piece in enumerate(pieces):
        asm.put(Frame(BINARY if i == 0 else CONT, piece, i == len(pieces) - 1))
        if i == 3:
            assert asm.take() is None
            # The large pieces are the frames' own objects, not copies.
            assert asm._parts[0] is pieces[0] and asm._parts[2] is pieces[2]
    expected = b"".join(pieces)
    assert asm.take(decode) == (expected.decode() if decode else expected)
    assert asm._parts is None


# Flow control


def test_pause_and_resume_at_water_marks():
    flow = Flow()
    asm = Assembler(max_queue=(3, 1), pause=flow.pause, resume=flow.resume)
    for i in range(3):
        asm.put(Frame(BINARY, b"%d" % i))
    assert flow.calls == [] and not asm.paused
    asm.put(Frame(BINARY, b"3"))
    asm.put(Frame(BINARY, b"4"))
    assert flow.calls == ["pause"] and asm.paused
    asm.take()
    asm.take()
    asm.take()
    assert flow.calls == ["pause"]
    asm.take()
    assert flow.calls == ["pause", "resume"] and not asm.paused
    assert len(asm) == 1


def test_unbounded_queue_never_pauses():
    flow = Flow()
    asm = Assembler(max_queue=None, pause=flow.pause, resume=flow.resume)
    for _ in range(1000):
        asm.put(Frame(BINARY, b""))
    assert flow.calls == []


# End of stream


def test_close_keeps_complete_messages():
    asm = Assembler()
    asm.put(Frame(TEXT, b"last"))
    asm.put(Frame(TEXT, b"partial", False))
    asm.close()
    with pytest.raises(EOFError):
        asm.put(Frame(TEXT, b"late"))
    assert asm.take() == "last"
    with pytest.raises(EOFError):
        asm.take()
    with pytest.raises(EOFError):
        asm.take()


def test_close_empty():
    asm = Assembler()
    asm.close()
    with pytest.raises(EOFError):
        asm.take()
    with pytest.raises(EOFError):
        asm.take_fragment()


# Streaming


def test_take_fragment_text_split_code_point():
    asm = Assembler()
    assert asm.take_fragment() is None
    asm.put(Frame(TEXT, b"caf\xc3", False))
    assert asm.take_fragment() == ("caf", False)
    assert asm.take_fragment() is None
    asm.put(Frame(CONT, b"\xa9"))
    assert asm.take_fragment() == ("é", True)
    assert asm.complete == 0
    asm.put(Frame(BINARY, b"b"))
    assert asm.take_fragment() == (b"b", True)


def test_take_fragment_decode_override():
    asm = Assembler()
    asm.put(Frame(TEXT, b"a", False))
    asm.put(Frame(CONT, bytearray(b"b")))
    assert asm.take_fragment(False) == (b"a", False)
    data, fin = asm.take_fragment(False)
    assert data == b"b" and type(data) is bytes and fin


def test_take_fragment_invalid_utf8():
    asm = Assembler()
    asm.put(Frame(TEXT, b"\xc3", False))
    asm.take_fragment()
    asm.put(Frame(CONT, b"a"))
    with pytest.raises(UnicodeDecodeError):
        asm.take_fragment()


def test_take_during_stream_is_refused():
    asm = Assembler()
    asm.put(Frame(TEXT, b"a", False))
    asm.take_fragment()
    asm.put(Frame(CONT, b"b"))
    with pytest.raises(ConcurrencyError):
        asm.take()
    assert asm.take_fragment() == ("b", True)


def test_stream_after_interrupted_take():
    asm = Assembler()
    asm.put(Frame(TEXT, b"a", False))
    asm.put(Frame(CONT, b"b", False))
    assert asm.take() is None
    assert asm.take_fragment() == ("ab", False)
    asm.put(Frame(CONT, b"c"))
    assert asm.take_fragment() == ("c", True)


def test_stream_eof_mid_message():
    asm = Assembler()
    asm.put(Frame(BINARY, b"a", False))
    asm.close()
    assert asm.take_fragment() == (b"a", False)
    with pytest.raises(EOFError):
        asm.take_fragment()


# Whole messages as their payload (what FrameParser.feed_messages() gives
# the asyncio connection): bytes for BINARY, str for TEXT.

# (item, decode, what take() and take_fragment() return)
PAYLOAD_ITEMS = [
    (b"abc", None, b"abc"),
    (b"abc", False, b"abc"),
    (b"abc", True, "abc"),
    (b"caf\xc3\xa9", True, "café"),
    (b"", None, b""),
    (b"", True, ""),
    ("abc", None, "abc"),
    ("abc", True, "abc"),
    ("abc", False, b"abc"),
    ("café", False, "café".encode()),
    ("", None, ""),
    ("", False, b""),
]


@pytest.mark.parametrize("item, decode, expected", PAYLOAD_ITEMS)
def test_payload_items_take(item, decode, expected):
    for put in ("put", "put_frames"):
        asm = Assembler()
        if put == "put":
            asm.put(item)
        else:
            asm.put_frames([item])
        assert asm.complete == 1 and len(asm) == 1
        result = asm.take(decode)
        assert result == expected and type(result) is type(expected)
        assert asm.complete == 0 and len(asm) == 0 and asm.take() is None


@pytest.mark.parametrize("item, decode, expected", PAYLOAD_ITEMS)
def test_payload_items_take_fragment(item, decode, expected):
    asm = Assembler()
    asm.put_frames([item, Frame(TEXT, b"next")])
    assert asm.complete == 2
    data, fin = asm.take_fragment(decode)
    assert (data, fin) == (expected, True) and type(data) is type(expected)
    assert asm.complete == 1
    # No stream is left open: take() may follow.
    assert asm.take() == "next"


def test_payload_items_mixed_with_frames_keep_their_order():
    asm = Assembler(max_queue=None)
    asm.put_frames([b"1", Frame(TEXT, b"fr", False), Frame(CONT, b"ag"), "3", Frame(BINARY, b"4")])
    asm.put("5")
    asm.put(Frame(BINARY, b"6", False))
    asm.put_frames([Frame(CONT, b"6"), b"7"])
    assert asm.complete == 7
    assert [asm.take() for _ in range(7)] == [b"1", "frag", "3", b"4", "5", b"66", b"7"]
    assert asm.take() is None and asm.complete == 0


def test_payload_items_invalid_utf8_as_bytes_decoded():
    asm = Assembler()
    asm.put_frames([b"\xff", b"\xc3", b"ok"])
    with pytest.raises(UnicodeDecodeError):
        asm.take(True)
    with pytest.raises(UnicodeDecodeError):
        asm.take_fragment(True)
    # Each bad message was consumed, as a frame's would be.
    assert asm.complete == 1 and asm.take(True) == "ok"


def test_payload_items_after_streams():
    asm = Assembler()
    # After a streamed message, and after one whose take() was interrupted
    # (its caller cancelled) and which is then streamed.
    asm.put(Frame(TEXT, b"a", False))
    assert asm.take_fragment() == ("a", False)
    asm.put_frames([Frame(CONT, b"b"), "c"])
    with pytest.raises(ConcurrencyError):
        asm.take()
    assert asm.take_fragment() == ("b", True)
    assert asm.take_fragment() == ("c", True)
    asm.put(Frame(BINARY, b"d", False))
    assert asm.take() is None
    asm.put_frames([Frame(CONT, b"e"), b"f"])
    assert asm.take_fragment() == (b"d", False)
    assert asm.take_fragment() == (b"e", True)
    assert asm.take_fragment(True) == ("f", True)
    assert asm.complete == 0 and asm.take_fragment() is None


def test_payload_items_pause_and_resume():
    flow = Flow()
    asm = Assembler(max_queue=(2, 1), pause=flow.pause, resume=flow.resume)
    asm.put_frames([b"a", "b", b"c"])
    assert flow.calls == ["pause"] and asm.paused
    assert (asm.take(), asm.take()) == (b"a", "b")
    assert flow.calls == ["pause", "resume"]
    asm.close()
    assert asm.take() == b"c"
    with pytest.raises(EOFError):
        asm.take()
    with pytest.raises(EOFError):
        asm.put(b"late")
    with pytest.raises(EOFError):
        asm.put_frames(["late"])


# Pings


def test_ping_tracker():
    pings = PingTracker()
    assert len(pings) == 0
    assert pings.acknowledge(b"none", 1.0) is None
    pings.add(b"a", "wa", 1.0)
    pings.add(b"b", "wb", 2.0)
    pings.add(b"c", "wc", 3.0)
    with pytest.raises(ConcurrencyError):
        pings.add(b"b", "again", 4.0)
    assert b"b" in pings and len(pings) == 3
    # A pong for b acknowledges a and b.
    assert pings.acknowledge(b"b", 5.0) == (3.0, [("wa", 4.0), ("wb", 3.0)])
    assert len(pings) == 1
    assert pings.acknowledge(b"unsolicited", 5.0) is None
    payload = pings.new_payload()
    assert len(payload) == 4 and payload not in pings
    assert pings.clear() == ["wc"]
    assert len(pings) == 0 and pings.clear() == []


# The compiled build reads a Frame's opcode, data and fin at their slots'
# offsets (framefields.pxd), and anything else through getattr().


class SubFrame(RealFrame):
    __slots__ = ("extra",)


@pytest.mark.parametrize("frame_class", [RealFrame, SubFrame, Frame], ids=["Frame", "subclass", "lookalike"])
def test_frames_of_any_class(frame_class):
    assembler = Assembler()
    assembler.put(frame_class(Opcode.TEXT, b"ca", False))
    assembler.put_frames([frame_class(Opcode.CONT, "fé".encode(), True), frame_class(Opcode.BINARY, b"\x00")])
    assembler.put(frame_class(Opcode.BINARY, bytearray(b"\x01"), False))
    assembler.put(frame_class(Opcode.CONT, memoryview(b"\x02"), True))
    assert (assembler.take(), assembler.take(), assembler.take()) == ("café", b"\x00", b"\x01\x02")
    # What an extension makes of a frame.
    if frame_class is RealFrame:
        assembler.put(dataclasses.replace(frame_class(Opcode.TEXT, b"x"), fin=False))
    else:
        assembler.put(frame_class(Opcode.TEXT, b"x", False))
    assembler.put(frame_class(Opcode.CONT, b"y", True))
    assert (assembler.take_fragment(), assembler.take_fragment()) == (("x", False), ("y", True))


def test_frame_with_an_empty_slot():
    frame = RealFrame.__new__(RealFrame)
    frame.opcode, frame.data = Opcode.BINARY, b"x"
    assembler = Assembler()
    with pytest.raises(AttributeError, match="fin"):
        assembler.put(frame)
    with pytest.raises(AttributeError, match="fin"):
        assembler.put_frames([frame])
    frame.fin = 1  # true, not True
    assembler.put_frames([frame])
    del frame.data
    with pytest.raises(AttributeError, match="data"):
        assembler.take()
