"""Frames, close payloads and masking keys (websockets_fast.frames)."""

import threading

import pytest
import websockets.frames as ws_frames

from websockets_fast import frames
from websockets_fast.exceptions import ProtocolError
from websockets_fast.frames import (
    CLOSE_CODE_EXPLANATIONS,
    CTRL_OPCODES,
    DATA_OPCODES,
    OK_CLOSE_CODES,
    Close,
    CloseCode,
    Frame,
    Opcode,
    new_mask_key,
)


def test_opcodes_match_websockets():
    assert {op.name: op.value for op in Opcode} == {op.name: op.value for op in ws_frames.Opcode}
    assert frames.OP_TEXT is Opcode.TEXT and frames.OP_PONG is Opcode.PONG
    assert DATA_OPCODES == (Opcode.CONT, Opcode.TEXT, Opcode.BINARY)
    assert CTRL_OPCODES == (Opcode.CLOSE, Opcode.PING, Opcode.PONG)


def test_close_codes_match_websockets():
    assert {c.name: c.value for c in CloseCode} == {c.name: c.value for c in ws_frames.CloseCode}
    assert CLOSE_CODE_EXPLANATIONS == ws_frames.CLOSE_CODE_EXPLANATIONS
    assert OK_CLOSE_CODES == {1000, 1001, 1005}


def test_frame_fields_defaults_and_slots():
    frame = Frame(Opcode.TEXT, b"hi")
    assert (frame.opcode, frame.data, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (
        Opcode.TEXT,
        b"hi",
        True,
        False,
        False,
        False,
    )
    assert not hasattr(frame, "__dict__")


def test_frame_equality_and_repr():
    assert Frame(Opcode.TEXT, b"a") == Frame(Opcode.TEXT, b"a", True, False, False, False)
    assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.TEXT, b"a", fin=False)
    assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.BINARY, b"a")
    assert Frame(Opcode.TEXT, b"a") != (Opcode.TEXT, b"a")
    assert repr(Frame(Opcode.TEXT, b"a")) == repr(ws_frames.Frame(ws_frames.Opcode.TEXT, b"a"))


@pytest.mark.parametrize(
    "frame",
    [
        Frame(Opcode.TEXT, b"hello"),
        Frame(Opcode.TEXT, b""),
        Frame(Opcode.BINARY, b"\x00\x01\x02"),
        Frame(Opcode.BINARY, b"text in binary"),
        Frame(Opcode.TEXT, "café".encode(), fin=False),
        Frame(Opcode.CONT, b"end"),
        Frame(Opcode.CLOSE, b"\x03\xe8bye"),
        Frame(Opcode.CLOSE, b""),
        Frame(Opcode.CLOSE, b"\x00"),
        Frame(Opcode.PING, b"ping"),
        Frame(Opcode.PONG, b"\xff\xfe\x00\x01"),
    ],
)
def test_frame_str_matches_websockets_on_common_frames(frame):
    theirs = ws_frames.Frame(ws_frames.Opcode(frame.opcode), frame.data, frame.fin)
    assert str(frame) == str(theirs)


def test_frame_str_of_a_fragment_cut_inside_a_character():
    assert str(Frame(Opcode.CONT, "é".encode()[1:] + b"abc", fin=False)) == "CONT 'abc' [text, 4 bytes, continued]"


def test_frame_str_is_robust_on_long_and_bad_payloads():
    for data in (b"x" * 10_000, bytes(range(256)) * 10, b"\xff" * 500, "é".encode() * 300):
        for opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            text = str(Frame(opcode, data, fin=False))
            assert len(text) < 200
            assert text.startswith(opcode.name)


def test_frame_check():
    Frame(Opcode.PING, b"x" * 125).check()
    with pytest.raises(ProtocolError, match="control frame too long"):
        Frame(Opcode.PING, b"x" * 126).check()
    with pytest.raises(ProtocolError, match="fragmented control frame"):
        Frame(Opcode.CLOSE, b"", fin=False).check()
    for bits in ((True, False, False), (False, True, False), (False, False, True)):
        with pytest.raises(ProtocolError, match="reserved bits"):
            Frame(Opcode.TEXT, b"", True, *bits).check()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_frame_serialize_unmasked_matches_websockets(size):
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    ours = Frame(Opcode.BINARY, data).serialize(mask=False)
    theirs = ws_frames.Frame(ws_frames.Opcode.BINARY, data).serialize(mask=False)
    assert ours == theirs


def test_frame_serialize_masked_unmasks_to_payload():
    data = b"masked payload"
    wire = Frame(Opcode.TEXT, data).serialize(mask=True)
    assert wire[0] == 0x81 and wire[1] == 0x80 | len(data)
    key = wire[2:6]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(wire[6:])) == data


def test_close_parse_valid_codes():
    valid = list(range(1000, 1004)) + list(range(1007, 1015)) + [3000, 3999, 4000, 4999]
    for code in valid:
        close = Close.parse(code.to_bytes(2, "big") + b"why")
        assert close == Close(code, "why")
        assert Close(code, "why").serialize() == code.to_bytes(2, "big") + b"why"


def test_close_parse_rejects_codes_not_allowed_on_the_wire():
    invalid = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]
    for code in invalid:
        with pytest.raises(ProtocolError, match="invalid status code"):
            Close.parse(code.to_bytes(2, "big"))
        with pytest.raises(ProtocolError):
            Close(code, "").serialize()


def test_close_parse_empty_and_short_payloads():
    assert Close.parse(b"") == Close(CloseCode.NO_STATUS_RCVD, "")
    with pytest.raises(ProtocolError, match="close frame too short"):
        Close.parse(b"\x03")


def test_close_parse_reason_must_be_utf8():
    assert Close.parse(b"\x03\xe8" + "café".encode()).reason == "café"
    with pytest.raises(UnicodeDecodeError):
        Close.parse(b"\x03\xe8\xff")
    with pytest.raises(UnicodeDecodeError):
        Close.parse(b"\x03\xe8\xc3")  # truncated sequence


def test_close_str_matches_websockets():
    for code, reason in [(1000, ""), (1001, "bye"), (3001, ""), (4001, "x"), (1011, "oops")]:
        assert str(Close(code, reason)) == str(ws_frames.Close(code, reason))


def test_mask_keys_are_4_bytes_and_do_not_repeat():
    keys = [new_mask_key() for _ in range(3000)]  # crosses two refills
    assert all(isinstance(key, bytes) and len(key) == 4 for key in keys)
    # 3000 draws from 2**32 values: a repeat is a ~0.1% event, so allow one.
    assert len(set(keys)) >= len(keys) - 1


def test_mask_keys_are_shared_safely_between_threads():
    results = [[] for _ in range(4)]

    def draw(out):
        for _ in range(2000):
            out.append(new_mask_key())

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    keys = [key for out in results for key in out]
    assert len(keys) == 8000
    # Each pool slot is handed out once: ids of the bytes objects are distinct
    # while they are alive, and values repeat only by chance (~1%).
    assert len({id(key) for key in keys}) == 8000
    assert len(set(keys)) >= 8000 - 2


def test_frame_made_by_the_parser_is_a_normal_frame():
    # The frame parser fills Frame's slots without calling __init__.
    import pickle

    from websockets_fast.speedups import FrameParser

    parser = FrameParser(True, frame_class=Frame, opcodes=frames.OPCODE_BY_VALUE)
    (frame,) = parser.feed(b"\x81\x82" + b"\x00" * 4 + b"hi")
    assert type(frame) is Frame and frame == Frame(Opcode.TEXT, b"hi")
    assert repr(frame) == repr(Frame(Opcode.TEXT, b"hi"))
    assert frame.opcode is Opcode.TEXT and frame.fin is True and frame.rsv1 is False
    assert pickle.loads(pickle.dumps(frame)) == frame
    frame.data = b"changed"
    assert frame.data == b"changed"
    with pytest.raises(TypeError):
        hash(frame)
