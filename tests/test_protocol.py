"""The Sans-I/O state machine (websockets_fast.protocol), byte by byte.

Frames are built here by hand, independently of the code under test, and
every rule is checked by the close code that goes out on the wire.
"""

import logging
import os

import pytest
from websockets.frames import Close as WsClose
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side as WsSide

from websockets_fast.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
)
from websockets_fast.frames import Close, Frame, Opcode
from websockets_fast.protocol import CLIENT, CLOSED, CLOSING, CONNECTING, OPEN, SERVER, Protocol, Side, State

MASK = b"\x12\x34\x56\x78"


def raw(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """One frame on the wire; ``length`` overrides the announced length."""
    n = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head.append(bit | n)
    elif n < 65536:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if mask:
        head += MASK
        payload = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes(head) + payload


def unmask(wire):
    """Parse frames from bytes we sent: [(fin, rsv, opcode, payload)]."""
    out, pos = [], 0
    while pos < len(wire):
        b0, b1 = wire[pos], wire[pos + 1]
        n, pos = b1 & 127, pos + 2
        if n == 126:
            n, pos = int.from_bytes(wire[pos : pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(wire[pos : pos + 8], "big"), pos + 8
        key = None
        if b1 & 0x80:
            key, pos = wire[pos : pos + 4], pos + 4
        data = wire[pos : pos + n]
        if key:
            data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
        out.append((bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 15, data))
        pos += n
    return out


def close_payload(code, reason=""):
    return code.to_bytes(2, "big") + reason.encode()


def server(**kwargs):
    return Protocol(SERVER, **kwargs)


def client(**kwargs):
    return Protocol(CLIENT, **kwargs)


def sent_close_code(protocol):
    """Close code of the close frame just written, or None; checks EOF rules."""
    writes = protocol.data_to_send()
    frames = unmask(b"".join(writes))
    closes = [f for f in frames if f[2] == 8]
    if not closes:
        return None
    data = closes[0][3]
    return int.from_bytes(data[:2], "big") if data else 1005


def assert_failed(protocol, code):
    """The protocol sent a close frame with ``code`` and drops further input."""
    writes = protocol.data_to_send()
    frames = unmask(b"".join(writes))
    assert frames and frames[-1][2] == 8, f"no close frame in {writes}"
    assert int.from_bytes(frames[-1][3][:2], "big") == code
    assert protocol.state is CLOSING
    # A server closes TCP at once; a client waits for the server.
    assert (writes[-1] == b"") == (protocol.side is SERVER)
    # Nothing after failing is processed.
    protocol.events_received()
    protocol.receive_data(raw(9, b"after", mask=protocol.side is SERVER))
    assert protocol.events_received() == [] and protocol.data_to_send() == []
    protocol.receive_eof()
    assert protocol.state is CLOSED
    assert protocol.close_code == 1006
    assert isinstance(protocol.close_exc, ConnectionClosedError)
    return protocol.parser_exc


# Construction and attributes.


def test_defaults():
    p = server()
    assert p.side is Side.SERVER and p.state is State.OPEN
    assert p.max_message_size == 2**20 and p.max_fragment_size is None
    assert p.max_fragments == 4096
    assert p.extensions == [] and p.subprotocol is None
    assert p.close_rcvd is p.close_sent is p.close_rcvd_then_sent is None
    assert p.close_code is None and p.close_reason is None
    assert p.handshake_exc is None and not p.close_expected()
    assert p.logger.name == "websockets_fast.server"
    assert not hasattr(p, "__dict__")


def test_max_size_forms():
    assert (server(max_size=None).max_message_size, server(max_size=None).max_fragment_size) == (None, None)
    p = server(max_size=(1000, 100))
    assert (p.max_message_size, p.max_fragment_size) == (1000, 100)


def test_env_var_sets_default_max_fragments():
    # The default is read at import time, like websockets' MAX_FRAGMENTS.
    import subprocess
    import sys

    code = "from websockets_fast.protocol import Protocol, SERVER; print(Protocol(SERVER).max_fragments)"
    env = dict(os.environ, WEBSOCKETS_MAX_FRAGMENTS="7")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "7", out.stderr


# Receiving data frames.


def test_receive_text_and_binary():
    p = server()
    p.receive_data(raw(1, b"hello") + raw(2, b"\x00\xff"))
    assert p.events_received() == [Frame(Opcode.TEXT, b"hello"), Frame(Opcode.BINARY, b"\x00\xff")]
    assert p.data_to_send() == []


def test_events_carry_opcode_enum_members():
    p = server()
    p.receive_data(raw(1, b"a") + raw(2, b"b", fin=False) + raw(0, b"c"))
    assert [e.opcode for e in p.events_received()] == [Opcode.TEXT, Opcode.BINARY, Opcode.CONT]


def test_receive_empty_messages():
    p = server()
    p.receive_data(raw(1) + raw(2))
    assert p.events_received() == [Frame(Opcode.TEXT, b""), Frame(Opcode.BINARY, b"")]


def test_receive_byte_by_byte_equals_all_at_once():
    stream = (
        raw(1, "héllo".encode(), fin=False)
        + raw(9, b"ping")
        + raw(0, b" world")
        + raw(2, bytes(300))
        + raw(2, bytes(70000))
    )
    whole = server()
    whole.receive_data(stream)
    pieces = server()
    for i in range(len(stream)):
        pieces.receive_data(stream[i : i + 1])
    assert pieces.events_received() == whole.events_received()
    assert pieces.data_to_send() == whole.data_to_send()


def test_receive_accepts_bytearray_and_memoryview():
    p = server()
    p.receive_data(bytearray(raw(1, b"a")))
    p.receive_data(memoryview(raw(1, b"b")))
    assert [e.data for e in p.events_received()] == [b"a", b"b"]


def test_fragmented_message_with_interleaved_control_frames():
    p = server()
    p.receive_data(raw(1, b"a", fin=False) + raw(9, b"1") + raw(0, b"b", fin=False) + raw(10, b"2") + raw(0, b"c"))
    assert p.events_received() == [
        Frame(Opcode.TEXT, b"a", fin=False),
        Frame(Opcode.PING, b"1"),
        Frame(Opcode.CONT, b"b", fin=False),
        Frame(Opcode.PONG, b"2"),
        Frame(Opcode.CONT, b"c"),
    ]
    assert unmask(b"".join(p.data_to_send())) == [(True, 0, 10, b"1")]


# Masking.


def test_server_rejects_unmasked_frame():
    p = server()
    p.receive_data(raw(1, b"a", mask=False))
    assert isinstance(assert_failed(p, 1002), ProtocolError)


def test_client_rejects_masked_frame():
    p = client()
    p.receive_data(raw(1, b"a", mask=True))
    assert_failed(p, 1002)


def test_client_masks_with_fresh_keys_and_server_does_not_mask():
    c = client()
    for _ in range(3):
        c.send_binary(b"same")
    wires = c.data_to_send()
    assert all(w[1] & 0x80 for w in wires)
    assert len({w[2:6] for w in wires}) == 3
    assert [f[3] for f in unmask(b"".join(wires))] == [b"same"] * 3
    s = server()
    s.send_binary(b"same")
    assert s.data_to_send() == [b"\x82\x04same"]


# Reserved bits and opcodes.


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_reserved_bits_without_extension(rsv):
    p = server()
    p.receive_data(raw(1, b"a", rsv=rsv))
    assert_failed(p, 1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_reserved_opcodes(opcode):
    p = server()
    p.receive_data(raw(opcode, b"a"))
    assert_failed(p, 1002)


def test_frames_before_a_bad_one_are_delivered():
    p = server()
    p.receive_data(raw(1, b"ok") + raw(5, b"bad") + raw(1, b"never"))
    assert p.events_received() == [Frame(Opcode.TEXT, b"ok")]
    assert_failed(p, 1002)


# Fragment sequencing and control frame rules.


def test_continuation_without_a_message():
    p = server()
    p.receive_data(raw(0, b"a"))
    assert str(assert_failed(p, 1002)) == "unexpected continuation frame"


def test_new_message_inside_a_fragmented_one():
    for opcode in (1, 2):
        p = server()
        p.receive_data(raw(2, b"a", fin=False) + raw(opcode, b"b"))
        assert p.events_received() == [Frame(Opcode.BINARY, b"a", fin=False)]
        assert str(assert_failed(p, 1002)) == "expected a continuation frame"


def test_fragmented_control_frame():
    p = server()
    p.receive_data(raw(9, b"a", fin=False))
    assert_failed(p, 1002)


def test_control_frame_longer_than_125_bytes():
    p = server()
    p.receive_data(raw(9, b"x" * 126))
    assert_failed(p, 1002)


def test_control_frame_of_125_bytes():
    p = server()
    p.receive_data(raw(9, b"x" * 125))
    assert p.events_received() == [Frame(Opcode.PING, b"x" * 125)]
    assert unmask(b"".join(p.data_to_send())) == [(True, 0, 10, b"x" * 125)]


def test_64_bit_length_with_top_bit_set():
    p = server(max_size=None)
    p.receive_data(b"\x82\xff" + (2**63).to_bytes(8, "big") + MASK)
    assert_failed(p, 1002)


# UTF-8.


def test_invalid_utf8_in_text_message():
    p = server()
    p.receive_data(raw(1, b"ok \xff"))
    exc = assert_failed(p, 1007)
    assert isinstance(exc, UnicodeDecodeError)


def test_invalid_utf8_fails_fast_in_first_fragment():
    p = server()
    p.receive_data(raw(1, b"\xc0\xaf", fin=False))  # overlong "/"
    assert p.events_received() == []
    assert_failed(p, 1007)


def test_invalid_utf8_fails_fast_before_the_message_ends():
    p = server()
    p.receive_data(raw(1, b"abc", fin=False) + raw(0, b"\xed\xa0\x80", fin=False))  # surrogate
    assert p.events_received() == [Frame(Opcode.TEXT, b"abc", fin=False)]
    assert_failed(p, 1007)


@pytest.mark.parametrize("continuation", [False, True])
def test_invalid_utf8_fails_fast_inside_a_frame_arriving_in_pieces(continuation):
    # Autobahn 6.4.3/6.4.4: one text frame in chunks; the connection fails
    # (1007) when the first impossible byte arrives, before the frame ends.
    head = raw(1, "κόσμε".encode(), fin=False) if continuation else b""
    payload = "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"edited"
    frame = raw(0 if continuation else 1, payload)
    header_length = len(frame) - len(payload)
    first_bad = header_length + len("κόσμε".encode()) + 2  # \xf4\x90 is already impossible
    for split in range(header_length, len(frame)):
        p = server()
        p.receive_data(head + frame[:split])
        if split >= first_bad:
            assert_failed(p, 1007)
        else:
            assert p.parser_exc is None, split
            assert sent_close_code(p) is None
            p.receive_data(frame[split:])
            assert_failed(p, 1007)


def test_valid_text_frame_arriving_in_pieces():
    payload = ("héllo wörld 😀 " * 40).encode()
    frame = raw(1, payload)
    for split in range(1, len(frame)):
        p = server()
        p.receive_data(frame[:split])
        p.receive_data(frame[split:])
        assert p.events_received() == [Frame(Opcode.TEXT, payload)]
        assert p.data_to_send() == []


def test_code_point_split_across_fragments_is_valid():
    encoded = "€😀".encode()
    p = server()
    p.receive_data(b"".join(raw(0 if i else 1, encoded[i : i + 1], fin=i == len(encoded) - 1) for i in range(len(encoded))))
    assert b"".join(e.data for e in p.events_received()) == encoded
    assert p.data_to_send() == []


def test_truncated_code_point_at_end_of_message():
    p = server()
    p.receive_data(raw(1, b"a\xe2\x82", fin=False))
    assert len(p.events_received()) == 1
    p.receive_data(raw(0, b""))
    assert_failed(p, 1007)


def test_binary_messages_are_not_validated():
    p = server()
    p.receive_data(raw(2, b"\xff") + raw(2, b"\xc0", fin=False) + raw(0, b"\xff"))
    assert len(p.events_received()) == 3


def test_validator_is_reset_between_messages():
    p = server()
    p.receive_data(raw(1, b"\xe2", fin=False) + raw(0, b"\x82\xac") + raw(1, b"\x82", fin=False))
    assert len(p.events_received()) == 2
    assert_failed(p, 1007)


# Close frames received.


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_close_with_invalid_code(code):
    p = server()
    p.receive_data(raw(8, close_payload(code)))
    assert p.events_received() == []
    writes = p.data_to_send()
    assert int.from_bytes(unmask(writes[0])[0][3][:2], "big") == 1002
    assert writes[-1] == b""
    p.receive_eof()
    assert p.state is CLOSED and p.close_code == 1006
    assert isinstance(p.parser_exc, ProtocolError)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999])
def test_close_with_valid_code_is_echoed(code):
    p = server()
    p.receive_data(raw(8, close_payload(code, "bye")))
    assert p.events_received() == [Frame(Opcode.CLOSE, close_payload(code, "bye"))]
    assert p.data_to_send() == [raw(8, close_payload(code, "bye"), mask=False), b""]
    assert p.state is CLOSING and p.close_rcvd == Close(code, "bye") and p.close_rcvd_then_sent


def test_close_with_one_byte_payload():
    p = server()
    p.receive_data(raw(8, b"\x03"))
    assert sent_close_code(p) == 1002


def test_close_with_invalid_utf8_reason():
    p = server()
    p.receive_data(raw(8, close_payload(1000) + b"\xff"))
    assert sent_close_code(p) == 1007


def test_empty_close_is_echoed_empty():
    p = server()
    p.receive_data(raw(8))
    assert p.data_to_send() == [b"\x88\x00", b""]
    p.receive_eof()
    assert p.close_code == 1005 and p.close_reason == ""
    assert isinstance(p.close_exc, ConnectionClosedOK)


def test_close_inside_fragmented_message_abandons_it():
    # RFC 6455 5.4: control frames may come between fragments, close too.
    p = server()
    p.receive_data(raw(1, b"a", fin=False) + raw(8, close_payload(1000)) + raw(0, b"b"))
    assert p.events_received() == [
        Frame(Opcode.TEXT, b"a", fin=False),
        Frame(Opcode.CLOSE, close_payload(1000)),
    ]
    assert p.data_to_send() == [raw(8, close_payload(1000), mask=False), b""]
    p.receive_eof()
    assert p.close_code == 1000 and isinstance(p.close_exc, ConnectionClosedOK)


def test_data_after_close_is_discarded():
    p = server()
    p.receive_data(raw(8, close_payload(1000)) + raw(1, b"late") + b"\x00garbage")
    assert [e.opcode for e in p.events_received()] == [Opcode.CLOSE]
    p.receive_data(raw(1, b"later"))
    assert p.events_received() == []


# Closing handshake.


def test_server_closing_handshake_started_by_client():
    p = server()
    p.receive_data(raw(8, close_payload(1000, "done")))
    assert p.state is CLOSING and p.close_expected()
    assert p.data_to_send() == [raw(8, close_payload(1000, "done"), mask=False), b""]
    p.receive_eof()
    assert p.state is CLOSED and not p.close_expected()
    assert p.data_to_send() == []
    assert (p.close_code, p.close_reason) == (1000, "done")
    exc = p.close_exc
    assert isinstance(exc, ConnectionClosedOK) and exc.rcvd_then_sent is True


def test_client_closing_handshake_started_by_server():
    p = client()
    p.receive_data(raw(8, close_payload(1001), mask=False))
    writes = p.data_to_send()
    assert len(writes) == 1 and unmask(writes[0]) == [(True, 0, 8, close_payload(1001))]
    assert p.state is CLOSING and p.close_expected()
    p.receive_eof()
    assert p.data_to_send() == [b""]
    assert p.state is CLOSED and p.close_code == 1001
    assert isinstance(p.close_exc, ConnectionClosedOK)


def test_server_starts_closing_handshake():
    p = server()
    p.send_close(1000, "bye")
    assert p.data_to_send() == [raw(8, close_payload(1000, "bye"), mask=False)]
    assert p.state is CLOSING and p.close_expected()
    p.receive_data(raw(1, b"still delivered") + raw(8, close_payload(1000)))
    assert [e.opcode for e in p.events_received()] == [Opcode.TEXT, Opcode.CLOSE]
    assert p.data_to_send() == [b""]
    assert p.close_rcvd_then_sent is False
    p.receive_eof()
    assert p.state is CLOSED and isinstance(p.close_exc, ConnectionClosedOK)


def test_client_starts_closing_handshake():
    p = client()
    p.send_close()
    assert unmask(b"".join(p.data_to_send())) == [(True, 0, 8, b"")]
    p.receive_data(raw(8, mask=False))
    assert p.data_to_send() == []
    p.receive_eof()
    assert p.data_to_send() == [b""]
    assert p.state is CLOSED and p.close_code == 1005
    assert p.close_sent == Close(1005, "") and isinstance(p.close_exc, ConnectionClosedOK)


def test_error_close_code_gives_connection_closed_error():
    p = server()
    p.receive_data(raw(8, close_payload(1011)))
    p.receive_eof()
    assert isinstance(p.close_exc, ConnectionClosedError)


def test_pings_answered_while_closing():
    p = server()
    p.send_close(1000)
    p.data_to_send()
    p.receive_data(raw(9, b"x"))
    assert p.data_to_send() == [b"\x8a\x01x"]


def test_unexpected_eof():
    for p in (server(), client()):
        p.receive_data(raw(1, b"partial frame", mask=p.side is SERVER)[:5])
        p.receive_eof()
        assert p.data_to_send() == [b""]
        assert p.state is CLOSED and p.close_code == 1006
        assert isinstance(p.parser_exc, EOFError)
        exc = p.close_exc
        assert isinstance(exc, ConnectionClosedError) and exc.__cause__ is p.parser_exc


def test_receive_eof_is_idempotent_and_data_after_eof_raises():
    p = server()
    p.receive_eof()
    p.receive_eof()
    with pytest.raises(EOFError):
        p.receive_data(b"x")


def test_eof_while_closing():
    p = server()
    p.send_close(1000)
    p.receive_eof()
    assert p.state is CLOSED and p.close_code == 1006
    assert p.data_to_send()[-1] == b""


# Failing.


def test_fail_server_sends_close_and_eof():
    p = server()
    p.fail(1011, "oops")
    assert p.data_to_send() == [raw(8, close_payload(1011, "oops"), mask=False), b""]
    assert p.state is CLOSING and p.close_sent == Close(1011, "oops")


def test_fail_client_sends_close_only():
    p = client()
    p.fail(1008)
    writes = p.data_to_send()
    assert len(writes) == 1 and unmask(writes[0])[0][2] == 8
    p.receive_eof()
    assert p.data_to_send() == [b""] and p.state is CLOSED


def test_fail_with_1006_sends_no_close_frame():
    p = server()
    p.fail(1006)
    assert p.data_to_send() == [b""]
    assert p.close_sent is None


def test_fail_when_closing_sends_only_eof():
    p = server()
    p.send_close(1000)
    p.data_to_send()
    p.fail(1002)
    assert p.data_to_send() == [b""]


def test_fail_truncates_long_reason():
    p = server()
    p.fail(1011, "é" * 100)
    frame = unmask(p.data_to_send()[0])[0]
    assert len(frame[3]) <= 125
    frame[3][2:].decode()


# Sending.


def test_send_frames_bytes():
    p = server()
    p.send_text(b"hi")
    p.send_binary(b"\x00", fin=False)
    p.send_continuation(b"\x01", fin=True)
    p.send_ping(b"p")
    p.send_pong(b"q")
    assert p.data_to_send() == [b"\x81\x02hi", b"\x02\x01\x00", b"\x80\x01\x01", b"\x89\x01p", b"\x8a\x01q"]


def test_send_large_frames():
    p = server()
    for size in (125, 126, 65535, 65536):
        p.send_binary(bytes(size))
    assert [f[3] for f in unmask(b"".join(p.data_to_send()))] == [bytes(s) for s in (125, 126, 65535, 65536)]


def test_send_sequencing_errors():
    p = server()
    with pytest.raises(ProtocolError):
        p.send_continuation(b"", fin=True)
    p.send_text(b"a", fin=False)
    with pytest.raises(ProtocolError):
        p.send_text(b"b")
    with pytest.raises(ProtocolError):
        p.send_binary(b"b")
    p.send_continuation(b"c", fin=True)
    p.send_text(b"d")


def test_send_close_errors():
    p = server()
    with pytest.raises(ProtocolError):
        p.send_close(None, "reason without code")
    with pytest.raises(ProtocolError):
        p.send_close(1006)
    with pytest.raises(ProtocolError):
        p.send_close(1000, "x" * 124)
    assert p.state is OPEN and p.data_to_send() == []


def test_send_control_frame_too_long():
    p = server()
    with pytest.raises(ProtocolError):
        p.send_ping(b"x" * 126)
    with pytest.raises(ProtocolError):
        p.send_pong(b"x" * 126)


def test_send_in_wrong_state():
    p = server()
    p.send_close(1000)
    for call in (lambda: p.send_text(b""), lambda: p.send_binary(b""), lambda: p.send_close(1000)):
        with pytest.raises(InvalidState):
            call()
    p.send_ping(b"")  # allowed while closing
    p.receive_eof()
    with pytest.raises(InvalidState):
        p.send_ping(b"")
    p = server(state=CONNECTING)
    with pytest.raises(InvalidState):
        p.send_text(b"")


def test_send_continuation_in_wrong_state():
    p = server()
    p.send_text(b"a", fin=False)
    p.fail(1011)
    with pytest.raises(InvalidState):
        p.send_continuation(b"b", fin=True)


# Size limits.


def test_header_announcing_too_much_fails_before_payload():
    p = server(max_size=1000)
    # Only the header arrives: the limit is enforced from it alone.
    p.receive_data(raw(2, b"", length=1001)[:8])
    exc = assert_failed(p, 1009)
    assert isinstance(exc, PayloadTooBig)


def test_exactly_max_size_is_accepted():
    p = server(max_size=1000)
    p.receive_data(raw(2, bytes(1000)))
    assert len(p.events_received()[0].data) == 1000


def test_message_budget_across_fragments():
    p = server(max_size=1000)
    p.receive_data(raw(2, bytes(600), fin=False) + raw(0, bytes(400)))
    assert len(p.events_received()) == 2
    p.receive_data(raw(2, bytes(600), fin=False) + raw(9, bytes(100)) + raw(0, bytes(401)))
    assert len(p.events_received()) == 2
    assert_failed(p, 1009)


def test_fragment_limit_from_tuple():
    p = server(max_size=(1000, 100))
    p.receive_data(raw(2, bytes(100), fin=False) + raw(0, bytes(100), fin=False) + raw(0, bytes(100)))
    assert len(p.events_received()) == 3
    p.receive_data(raw(2, bytes(101)))
    assert_failed(p, 1009)


def test_unlimited_size():
    p = server(max_size=None)
    p.receive_data(raw(2, bytes(2**21)))
    assert len(p.events_received()[0].data) == 2**21


def test_many_tiny_fragments_accepted_when_max_size_is_set():
    # Autobahn 9.3/9.4: long messages in tiny fragments. The byte budget
    # bounds memory, so no fragment count applies.
    p = server(max_size=2**20)
    n = 10_000
    p.receive_data(raw(1, b"a", fin=False) + raw(0, b"a", fin=False) * (n - 2) + raw(0, b"a"))
    assert len(p.events_received()) == n
    assert p.data_to_send() == []


def test_fragment_count_cap_when_max_size_is_none():
    p = server(max_size=None, max_fragments=10)
    p.receive_data(raw(2, b"a", fin=False) + raw(0, b"a", fin=False) * 8 + raw(0, b"a"))
    assert len(p.events_received()) == 10
    p.receive_data(raw(2, b"a", fin=False) + raw(0, b"a", fin=False) * 10)
    assert len(p.events_received()) == 10
    exc = assert_failed(p, 1009)
    assert isinstance(exc, TooManyFragments)


def test_default_fragment_count_cap():
    p = server(max_size=None)
    p.receive_data(raw(2, b"", fin=False) + raw(0, b"", fin=False) * 4095)
    assert len(p.events_received()) == 4096
    p.receive_data(raw(0, b""))
    assert_failed(p, 1009)


def test_fragment_count_cap_disabled():
    p = server(max_size=None, max_fragments=None)
    p.receive_data(raw(2, b"", fin=False) + raw(0, b"", fin=False) * 5000 + raw(0, b""))
    assert len(p.events_received()) == 5002


def test_control_frames_do_not_count_towards_message_size():
    p = server(max_size=10)
    p.receive_data(raw(2, bytes(10), fin=False) + raw(9, bytes(100)) + raw(0, b""))
    assert len(p.events_received()) == 3


# Opening handshake hooks for the subclasses.


def test_opened_from_connecting():
    p = server(state=CONNECTING)
    assert p.state is CONNECTING and not p.close_expected()
    p._opened([])
    assert p.state is OPEN
    p.receive_data(raw(1, b"x"))
    assert p.events_received() == [Frame(Opcode.TEXT, b"x")]


def test_handshake_failure_discards_until_eof():
    # What ServerProtocol does after rejecting a request.
    p = server(state=CONNECTING)
    p.send_eof()
    p._discard()
    assert p.close_expected()
    p.receive_data(b"anything")
    p.receive_eof()
    assert p.state is CLOSED and p.data_to_send() == [b""]
    c = client(state=CONNECTING)
    c.send_eof()
    c._discard()
    c.receive_eof()
    assert c.state is CLOSED and c.data_to_send() == [b""]


def test_debug_logging(caplog):
    logger = logging.getLogger("test.websockets_fast.protocol")
    logger.setLevel(logging.DEBUG)
    p = Protocol(SERVER, logger=logger)
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        p.receive_data(raw(1, b"hello"))
        p.send_text(b"bye")
        p.send_close(1000)
    messages = [r.getMessage() for r in caplog.records]
    assert "< TEXT 'hello' [5 bytes]" in messages
    assert "> TEXT 'bye' [3 bytes]" in messages
    assert "= connection is CLOSING" in messages


# Interoperability with websockets' own Protocol.


def pump(sender, receiver):
    """Move bytes from one protocol to the other; EOF included."""
    for data in sender.data_to_send():
        if data:
            receiver.receive_data(data)
        else:
            receiver.receive_eof()


def as_tuples(events):
    return [(int(e.opcode), bytes(e.data), e.fin) for e in events]


CONVERSATION = [
    ("send_text", ("héllo".encode(),)),
    ("send_binary", (bytes(range(256)) * 300,)),
    ("send_text", (b"frag", False)),
    ("send_ping", (b"in the middle",)),
    ("send_continuation", ("ment€d".encode(), False)),
    ("send_pong", (b"",)),
    ("send_continuation", (b"", True)),
    ("send_binary", (b"",)),
]


@pytest.mark.parametrize("we_are", ["client", "server"])
def test_interop_messages_both_ways(we_are):
    ours = Protocol(CLIENT if we_are == "client" else SERVER)
    theirs = WsProtocol(WsSide.SERVER if we_are == "client" else WsSide.CLIENT)
    for sender, receiver in ((ours, theirs), (theirs, ours)):
        for method, args in CONVERSATION:
            getattr(sender, method)(*args)
        pump(sender, receiver)
        received = as_tuples(receiver.events_received())
        expected = [(int(op), data, fin) for op, data, fin in EXPECTED_EVENTS]
        assert received == expected
        # The pings were answered with pongs, which the sender sees.
        pump(receiver, sender)
        assert as_tuples(sender.events_received()) == [(10, b"in the middle", True)]


EXPECTED_EVENTS = [
    (Opcode.TEXT, "héllo".encode(), True),
    (Opcode.BINARY, bytes(range(256)) * 300, True),
    (Opcode.TEXT, b"frag", False),
    (Opcode.PING, b"in the middle", True),
    (Opcode.CONT, "ment€d".encode(), False),
    (Opcode.PONG, b"", True),
    (Opcode.CONT, b"", True),
    (Opcode.BINARY, b"", True),
]


@pytest.mark.parametrize("we_are", ["client", "server"])
@pytest.mark.parametrize("we_close", [True, False])
def test_interop_closing_handshake(we_are, we_close):
    ours = Protocol(CLIENT if we_are == "client" else SERVER)
    theirs = WsProtocol(WsSide.SERVER if we_are == "client" else WsSide.CLIENT)
    first, second = (ours, theirs) if we_close else (theirs, ours)
    first.send_close(1001, "going")
    # Bounded: the handshake needs at most a few exchanges.
    for _ in range(4):
        pump(first, second)
        pump(second, first)
    assert ours.state is CLOSED and int(theirs.state) == int(CLOSED)
    assert (ours.close_code, ours.close_reason) == (1001, "going")
    assert (theirs.close_code, theirs.close_reason) == (1001, "going")
    assert isinstance(ours.close_exc, ConnectionClosedOK)
    assert ours.close_rcvd_then_sent is (not we_close)
    assert theirs.close_rcvd_then_sent is we_close


@pytest.mark.parametrize("we_are", ["client", "server"])
def test_interop_failure_is_seen_by_peer(we_are):
    ours = Protocol(CLIENT if we_are == "client" else SERVER)
    theirs = WsProtocol(WsSide.SERVER if we_are == "client" else WsSide.CLIENT)
    ours.receive_data(b"\x83\x00" if we_are == "client" else b"\x83\x80" + MASK)  # opcode 3
    for _ in range(4):
        pump(ours, theirs)
        pump(theirs, ours)
    assert theirs.close_rcvd == WsClose(1002, "invalid opcode") or theirs.close_rcvd.code == 1002
    assert ours.state is CLOSED


def test_states_and_sides_match_websockets():
    import websockets.protocol as ws

    assert {s.name: s.value for s in State} == {s.name: s.value for s in ws.State}
    assert {s.name: s.value for s in Side} == {s.name: s.value for s in ws.Side}


# Random streams: same verdict as websockets, whatever the chunking.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# (opcode, payload, fin, rsv, masked): mostly valid frames, some broken ones.
frame_strategy = st.one_of(
    st.tuples(st.sampled_from([0, 2]), st.binary(max_size=40), st.booleans(), st.just(0), st.just(True)),
    st.tuples(st.just(1), st.text(max_size=10).map(str.encode), st.booleans(), st.just(0), st.just(True)),
    st.tuples(st.sampled_from([9, 10]), st.binary(max_size=20), st.just(True), st.just(0), st.just(True)),
    st.tuples(
        st.integers(0, 15), st.binary(max_size=130), st.booleans(), st.integers(0, 7), st.booleans()
    ),
    st.tuples(
        st.just(8),
        st.one_of(st.just(b""), st.integers(0, 5000).map(lambda c: c.to_bytes(2, "big") + b"r")),
        st.just(True),
        st.just(0),
        st.just(True),
    ),
)


def outcome_of(protocol, stream, cuts):
    """Feed ``stream`` cut at ``cuts``; return (events, close code sent or None)."""
    start = 0
    for cut in sorted(cuts) + [len(stream)]:
        if protocol.state is CLOSED:
            break
        protocol.receive_data(stream[start:cut])
        start = max(start, cut)
    events = [(int(e.opcode), bytes(e.data), e.fin) for e in protocol.events_received()]
    frames = unmask(b"".join(d for d in protocol.data_to_send() if d))
    closes = [f for f in frames if f[2] == 8]
    code = None
    if closes:
        code = int.from_bytes(closes[0][3][:2], "big") if closes[0][3] else 1005
    return events, code


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frame_strategy, max_size=12), st.lists(st.integers(0, 2000), max_size=6), st.sampled_from([None, 64]))
def test_random_streams_match_websockets(frames, cuts, max_size):
    stream = b"".join(raw(op, data, fin, rsv, masked) for op, data, fin, rsv, masked in frames)
    cuts = [c % (len(stream) + 1) for c in cuts]
    ours = outcome_of(Protocol(SERVER, max_size=max_size), stream, cuts)
    whole = outcome_of(Protocol(SERVER, max_size=max_size), stream, [])
    assert ours == whole
    theirs = WsProtocol(WsSide.SERVER, max_size=max_size)
    theirs.receive_data(stream)
    their_events = [(int(e.opcode), bytes(e.data), e.fin) for e in theirs.events_received()]
    their_frames = unmask(b"".join(d for d in theirs.data_to_send() if d))
    their_closes = [f for f in their_frames if f[2] == 8]
    their_code = None
    if their_closes:
        data = their_closes[0][3]
        their_code = int.from_bytes(data[:2], "big") if data else 1005
    # Where we deliberately differ: a close frame between fragments is
    # accepted and echoed (RFC 6455 5.4, Autobahn 7.1.5); websockets fails.
    if str(theirs.parser_exc) == "incomplete fragmented message":
        close = theirs.close_rcvd
        their_events.append((8, close.serialize() if close.code != 1005 else b"", True))
        their_code = close.code
    # websockets leaves UTF-8 to its I/O layer; we check it here (1007).
    if ours[1] == 1007:
        assert their_events[: len(ours[0])] == ours[0]
        return
    assert ours == (their_events, their_code)


def test_fail_after_close_is_harmless():
    for p in (server(), client()):
        p.send_close(1000)
        p.receive_data(raw(8, close_payload(1000), mask=p.side is SERVER))
        p.receive_eof()
        p.data_to_send()
        assert p.state is CLOSED
        p.fail(1011)
        assert p.data_to_send() == [] and p.state is CLOSED and p.close_code == 1000


# The short cuts: Frame events straight from the parser, one-call sends.


def test_events_are_frames_with_opcode_members():
    p = server()
    p.receive_data(raw(1, b"a") + raw(2, b"b") + raw(1, "é".encode()))
    events = p.events_received()
    assert [type(e) for e in events] == [Frame] * 3
    assert [e.opcode for e in events] == [Opcode.TEXT, Opcode.BINARY, Opcode.TEXT]
    assert all(type(e.opcode) is Opcode for e in events)
    assert events[2].data == "é".encode()


def test_ping_in_a_batch_of_data_frames():
    p = server()
    p.receive_data(raw(2, b"1") + raw(9, b"p") + raw(2, b"2") + raw(10, b"q") + raw(2, b"3"))
    assert [(e.opcode, e.data) for e in p.events_received()] == [
        (Opcode.BINARY, b"1"), (Opcode.PING, b"p"), (Opcode.BINARY, b"2"), (Opcode.PONG, b"q"), (Opcode.BINARY, b"3"),
    ]
    assert unmask(b"".join(p.data_to_send())) == [(True, 0, 10, b"p")]
    # The next batch, data only, takes the short cut again.
    p.receive_data(raw(2, b"4"))
    assert [e.data for e in p.events_received()] == [b"4"]


def test_send_short_cut_follows_state():
    p = server()
    p.send_text(b"a")
    p.send_text(b"b", fin=False)
    with pytest.raises(ProtocolError):
        p.send_text(b"c")
    with pytest.raises(ProtocolError):
        p.send_binary(b"c")
    p.send_continuation(b"c", fin=True)
    p.send_binary(b"d")
    assert unmask(b"".join(p.data_to_send())) == [
        (True, 0, 1, b"a"), (False, 0, 1, b"b"), (True, 0, 0, b"c"), (True, 0, 2, b"d"),
    ]
    p.send_close(1000)
    p.data_to_send()
    with pytest.raises(InvalidState):
        p.send_text(b"e")
    with pytest.raises(InvalidState):
        p.send_binary(b"e")
    assert p.data_to_send() == []


def test_send_in_connecting_state_fails():
    p = Protocol(SERVER, state=CONNECTING)
    with pytest.raises(InvalidState):
        p.send_text(b"a")
    p.state = OPEN
    p.send_text(b"a")
    assert unmask(b"".join(p.data_to_send())) == [(True, 0, 1, b"a")]


class Reverse:
    """A toy extension: reverses payloads, uses RSV2."""

    name = "x-reverse"
    rsv_bits = 2

    def encode(self, frame):
        if frame.opcode >= 8:
            return frame
        return Frame(frame.opcode, bytes(frame.data)[::-1], frame.fin, frame.rsv1, True, frame.rsv3)

    def decode(self, frame, *, max_size=None):
        if not frame.rsv2:
            return frame
        return Frame(frame.opcode, bytes(frame.data)[::-1], frame.fin, frame.rsv1, False, frame.rsv3)


def test_extension_set_after_construction_applies_both_ways():
    p = server()
    p.extensions = [Reverse()]
    p.send_text(b"abc")
    assert unmask(b"".join(p.data_to_send())) == [(True, 2, 1, b"cba")]
    p.receive_data(raw(1, b"olleh", rsv=2) + raw(1, b"ab", rsv=2, fin=False) + raw(0, b"dc", rsv=2))
    assert [e.data for e in p.events_received()] == [b"hello", b"ba", b"cd"]
    # Text is validated after decoding: the bytes reversed are invalid.
    p.receive_data(raw(1, "é".encode(), rsv=2))
    assert p.events_received() == []
    assert_failed(p, 1007)


def test_extension_removed_restores_the_short_cuts():
    p = client()
    p.extensions = [Reverse()]
    p.extensions = []
    p.send_binary(b"abc")
    assert unmask(b"".join(p.data_to_send())) == [(True, 0, 2, b"abc")]
    p.receive_data(raw(1, b"\xff", mask=False))
    assert_failed(p, 1007)


def test_next_slice_takes_a_large_frame_in_one_piece():
    from websockets_fast.protocol import PARSE_SLICE
    from websockets_fast.speedups import build_frame

    frame = build_frame(True, 2, b"z" * 40000, 0, b"abcd")  # 8-byte header
    p = Protocol(SERVER)
    assert p.next_slice(frame) == 40008
    assert p.next_slice(b"xx" + frame, 2) == 40008
    assert p.next_slice(frame[:3]) == PARSE_SLICE  # header incomplete
    assert p.next_slice(b"\x83\x80abcd") == PARSE_SLICE  # reserved opcode: the parser's to reject
    small = build_frame(True, 2, b"z" * 1000, 0, b"abcd")
    assert p.next_slice(small) == PARSE_SLICE  # small frames: a slice of them
    p.receive_data(frame[:108])
    assert p.next_slice(frame[108:]) == 39900  # the rest of the frame in progress
    p.receive_data(frame[108:])
    assert [event.data for event in p.events_received()] == [b"z" * 40000]
    assert p.next_slice(frame) == 40008
