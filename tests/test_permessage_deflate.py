"""permessage-deflate (RFC 7692): negotiation, frames, limits, memory, interop."""

import base64
import itertools
import json
import random
import struct
import tracemalloc
import zlib

import pytest
from websockets.extensions import permessage_deflate as ws_pmd
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side as WsSide

from websockets_fast.exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from websockets_fast.extensions import ClientExtensionFactory, Extension, ServerExtensionFactory
from websockets_fast.extensions.permessage_deflate import (
    DEFAULT_LEVEL,
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
    looks_incompressible,
)
from websockets_fast.frames import Frame, Opcode
from websockets_fast.protocol import CLIENT, CLOSED, CLOSING, SERVER, Protocol

MASK = b"\x0f\xf0\xaa\x55"


def raw(opcode, payload=b"", fin=True, rsv=0, mask=True):
    n = len(payload)
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


def deflate(data, wbits=15, compressor=None):
    """Compress one message as RFC 7692 says: sync flush, tail removed."""
    compressor = compressor or zlib.compressobj(wbits=-wbits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def deflating_server(max_size=2**20, **params):
    p = Protocol(SERVER, max_size=max_size)
    p.extensions = [PerMessageDeflate(**{**DEFAULTS, **params})]
    return p


DEFAULTS = dict(
    remote_no_context_takeover=False,
    local_no_context_takeover=False,
    remote_max_window_bits=15,
    local_max_window_bits=15,
)


def sent_close_code(p):
    frames = b"".join(p.data_to_send())
    assert frames[0] == 0x88, frames[:10]
    return int.from_bytes(frames[2:4], "big")


# Classes and API.


def test_base_classes_are_abstract():
    frame = Frame(Opcode.TEXT, b"")
    for call in (
        lambda: Extension().decode(frame),
        lambda: Extension().encode(frame),
        lambda: ClientExtensionFactory().get_request_params(),
        lambda: ClientExtensionFactory().process_response_params([], []),
        lambda: ServerExtensionFactory().process_request_params([], []),
    ):
        with pytest.raises(NotImplementedError):
            call()


def test_extension_has_slots_and_repr():
    ext = PerMessageDeflate(False, True, 12, 10)
    assert not hasattr(ext, "__dict__")
    assert repr(ext) == repr(ws_pmd.PerMessageDeflate(False, True, 12, 10))
    assert ext.name == "permessage-deflate"


def test_enable_defaults():
    (client,) = enable_client_permessage_deflate(None)
    assert client.get_request_params() == [("client_max_window_bits", None)]
    assert client.compress_settings == {"memLevel": 5}
    (server,) = enable_server_permessage_deflate([])
    assert (server.server_max_window_bits, server.client_max_window_bits) == (12, 12)
    assert server.compress_settings == {"memLevel": 5}
    # Already configured: left alone.
    custom = ServerPerMessageDeflateFactory(server_no_context_takeover=True)
    assert enable_server_permessage_deflate([custom]) == [custom]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(server_max_window_bits=7),
        dict(server_max_window_bits=16),
        dict(client_max_window_bits=8),
        dict(compress_settings={"wbits": 9}),
    ],
)
def test_client_factory_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        ClientPerMessageDeflateFactory(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(server_max_window_bits=8),
        dict(client_max_window_bits=7),
        dict(compress_settings={"wbits": 9}),
        dict(require_client_max_window_bits=True),
    ],
)
def test_server_factory_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        ServerPerMessageDeflateFactory(**kwargs)


# Negotiation: same answers as websockets for every combination.

CLIENT_CONFIGS = [
    dict(zip(("server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits"), values))
    for values in itertools.product([False, True], [False, True], [None, 8, 10, 15], [None, True, 9, 15])
]

SERVER_CONFIGS = [
    dict(zip(("server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits"), values))
    for values in itertools.product([False, True], [False, True], [None, 9, 12], [None, 8, 12])
]


def outcome(call):
    """The result of a negotiation step, comparable across libraries."""
    try:
        result = call()
    except Exception as exc:
        return type(exc).__name__
    if isinstance(result, tuple):
        params, ext = result
        return list(params), repr(ext)
    return repr(result)


@pytest.mark.parametrize("client_config", CLIENT_CONFIGS, ids=str)
def test_negotiation_matches_websockets(client_config):
    offer = ClientPerMessageDeflateFactory(**client_config).get_request_params()
    assert offer == ws_pmd.ClientPerMessageDeflateFactory(**client_config).get_request_params()
    for server_config in SERVER_CONFIGS:
        ours = ServerPerMessageDeflateFactory(**server_config)
        theirs = ws_pmd.ServerPerMessageDeflateFactory(**server_config)
        answer = outcome(lambda: ours.process_request_params(offer, []))
        assert answer == outcome(lambda: theirs.process_request_params(offer, []))
        if isinstance(answer, tuple):
            params = answer[0]
            ours_c = ClientPerMessageDeflateFactory(**client_config)
            theirs_c = ws_pmd.ClientPerMessageDeflateFactory(**client_config)
            assert outcome(lambda: ours_c.process_response_params(params, [])) == outcome(
                lambda: theirs_c.process_response_params(params, [])
            )


@pytest.mark.parametrize(
    "params, error",
    [
        ([("server_no_context_takeover", None)] * 2, DuplicateParameter),
        ([("server_no_context_takeover", "1")], InvalidParameterValue),
        ([("client_no_context_takeover", "x")], InvalidParameterValue),
        ([("server_max_window_bits", "7")], InvalidParameterValue),
        ([("server_max_window_bits", "16")], InvalidParameterValue),
        ([("server_max_window_bits", None)], InvalidParameterValue),
        ([("server_max_window_bits", "09")], InvalidParameterValue),
        ([("client_max_window_bits", "abc")], InvalidParameterValue),
        ([("unknown", None)], InvalidParameterName),
    ],
)
def test_malformed_parameters(params, error):
    with pytest.raises(error):
        ServerPerMessageDeflateFactory().process_request_params(params, [])
    with pytest.raises(error):
        ClientPerMessageDeflateFactory().process_response_params(params, [])


def test_client_max_window_bits_without_value_only_in_offers():
    with pytest.raises(InvalidParameterValue):
        ClientPerMessageDeflateFactory().process_response_params([("client_max_window_bits", None)], [])


def test_duplicate_extension():
    ext = PerMessageDeflate(False, False, 15, 15)
    with pytest.raises(NegotiationError):
        ServerPerMessageDeflateFactory().process_request_params([], [ext])
    with pytest.raises(NegotiationError):
        ClientPerMessageDeflateFactory().process_response_params([], [ext])


# Decoding incoming frames.


def test_compressed_and_uncompressed_messages():
    p = deflating_server()
    p.receive_data(raw(1, deflate(b"hello"), rsv=4) + raw(1, b"plain") + raw(2, deflate(b"\x00" * 1000), rsv=4))
    assert p.events_received() == [
        Frame(Opcode.TEXT, b"hello"),
        Frame(Opcode.TEXT, b"plain"),
        Frame(Opcode.BINARY, b"\x00" * 1000),
    ]


def test_context_takeover_across_messages():
    compressor = zlib.compressobj(wbits=-15)
    p = deflating_server()
    first = deflate(b"repeated text " * 10, compressor=compressor)
    second = deflate(b"repeated text " * 10, compressor=compressor)
    assert len(second) < len(first)  # refers back to the first message
    p.receive_data(raw(1, first, rsv=4) + raw(1, second, rsv=4))
    assert [e.data for e in p.events_received()] == [b"repeated text " * 10] * 2


def test_fragmented_compressed_message_with_control_frame():
    data = deflate(bytes(range(256)) * 20)
    p = deflating_server()
    p.receive_data(raw(2, data[:10], fin=False, rsv=4) + raw(9, b"x") + raw(0, data[10:2000], fin=False) + raw(0, data[2000:]))
    events = p.events_received()
    assert [e.opcode for e in events] == [Opcode.BINARY, Opcode.PING, Opcode.CONT, Opcode.CONT]
    assert b"".join(e.data for e in events if e.opcode != Opcode.PING) == bytes(range(256)) * 20
    assert not any(e.rsv1 for e in events)


def test_large_frame_takes_the_two_call_path():
    data = bytes(range(256)) * 4000
    p = deflating_server()
    p.receive_data(raw(2, zlib_random_safe(data), rsv=4))
    assert p.events_received()[0].data == data


def zlib_random_safe(data):
    compressed = deflate(data)
    assert len(compressed) >= 2048
    return compressed


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_rsv1_on_control_frame(opcode):
    p = deflating_server()
    payload = b"\x03\xe8" if opcode == 8 else b""
    p.receive_data(raw(opcode, payload, rsv=4))
    assert sent_close_code(p) == 1002
    assert "control frame" in str(p.parser_exc)


def test_rsv1_on_continuation_frame():
    for first_rsv in (0, 4):
        p = deflating_server()
        first = deflate(b"ab")[:1] if first_rsv else b"a"
        p.receive_data(raw(1, first, fin=False, rsv=first_rsv) + raw(0, b"b", rsv=4))
        assert sent_close_code(p) == 1002
        assert "continuation frame" in str(p.parser_exc)


@pytest.mark.parametrize("rsv", [1, 2, 6])
def test_other_rsv_bits_with_deflate(rsv):
    p = deflating_server()
    p.receive_data(raw(1, b"a", rsv=rsv))
    assert sent_close_code(p) == 1002


def test_corrupt_deflate_data():
    p = deflating_server()
    p.receive_data(raw(1, b"\xff\xff\xff\xff", rsv=4))
    assert sent_close_code(p) == 1002
    assert isinstance(p.parser_exc, ProtocolError)


def test_invalid_utf8_after_decompression():
    p = deflating_server()
    p.receive_data(raw(1, deflate(b"ok\xff"), rsv=4))
    assert sent_close_code(p) == 1007


# Limits and decompression bombs.


def test_exactly_max_size_after_decompression():
    p = deflating_server(max_size=10_000)
    p.receive_data(raw(2, deflate(b"a" * 10_000), rsv=4))
    assert len(p.events_received()[0].data) == 10_000


def test_one_byte_over_max_size_after_decompression():
    p = deflating_server(max_size=10_000)
    p.receive_data(raw(2, deflate(b"a" * 10_001), rsv=4))
    assert sent_close_code(p) == 1009
    assert isinstance(p.parser_exc, PayloadTooBig)


def test_budget_spans_compressed_fragments():
    data = deflate(b"a" * 3000)
    p = deflating_server(max_size=3000)
    p.receive_data(raw(2, data[:5], fin=False, rsv=4) + raw(0, data[5:]))
    assert sum(len(e.data) for e in p.events_received()) == 3000
    data = deflate(b"a" * 3001)
    p = deflating_server(max_size=3000)
    p.receive_data(raw(2, data[:5], fin=False, rsv=4) + raw(0, data[5:]))
    assert sent_close_code(p) == 1009
    assert "after reading" in str(p.parser_exc)


def test_incompressible_message_under_max_size_in_fragments():
    # Compressing random data makes it larger: a message under max_size once
    # inflated may take more than max_size on the wire (Chromium sends such
    # messages). Only the inflated size counts.
    message = random.Random(7).randbytes(10_000)
    data = deflate(message)
    assert len(data) > 10_000
    third = len(data) // 3
    p = deflating_server(max_size=10_000)
    p.receive_data(
        raw(2, data[:third], fin=False, rsv=4) + raw(0, data[third : 2 * third], fin=False) + raw(0, data[2 * third :])
    )
    assert b"".join(e.data for e in p.events_received()) == message
    # One byte more once inflated still fails, and uncompressed fragments
    # still count on the wire, from their headers.
    p = deflating_server(max_size=9_999)
    p.receive_data(raw(2, data[:third], fin=False, rsv=4) + raw(0, data[third:]))
    assert sent_close_code(p) == 1009
    p = deflating_server(max_size=9_999)
    p.receive_data(raw(2, message[:5000], fin=False) + raw(0, message[5000:]))
    assert sent_close_code(p) == 1009


def test_fragment_limit_applies_to_decompressed_size():
    p = deflating_server(max_size=(None, 100))
    p.receive_data(raw(2, deflate(b"a" * 101), rsv=4))
    assert sent_close_code(p) == 1009


def test_decompression_bomb_is_stopped_at_max_size():
    max_size = 2**20
    bomb = deflate(b"\x00" * (64 * 2**20))  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 100_000
    frame = raw(2, bomb, rsv=4)
    p = deflating_server(max_size=max_size)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        p.receive_data(frame)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert sent_close_code(p) == 1009
    # zlib stops one byte past max_size; the 64 MiB are never produced.
    # CPython's zlib joins its output blocks into one bytes object at the
    # end, so the peak is about twice the output, plus the frame itself.
    assert peak < 2 * max_size + 3 * len(frame) + 64 * 1024, peak


def test_unlimited_size_decompresses_everything():
    p = deflating_server(max_size=None)
    p.receive_data(raw(2, deflate(b"\x00" * 3 * 2**20), rsv=4))
    assert len(p.events_received()[0].data) == 3 * 2**20


# Encoding outgoing frames.


def test_encode_sets_rsv1_on_first_frame_only():
    p = Protocol(SERVER)
    p.extensions = [PerMessageDeflate(False, False, 15, 15)]
    p.send_text(b"abc", fin=False)
    p.send_ping(b"ping")
    p.send_continuation(b"def", fin=True)
    first, ping, last = p.data_to_send()
    assert first[0] == 0x41 and ping == b"\x89\x04ping" and last[0] == 0x80
    decoder = zlib.decompressobj(wbits=-15)
    assert decoder.decompress(first[2:] + last[2:] + b"\x00\x00\xff\xff") == b"abcdef"


def test_control_frames_pass_through_encode_and_decode():
    ext = PerMessageDeflate(False, False, 15, 15)
    ping = Frame(Opcode.PING, b"x")
    assert ext.encode(ping) is ping and ext.decode(ping) is ping


# Lazy zlib objects and memory.


def exchange_one_message(p):
    p.receive_data(raw(1, deflate(b"hello " * 20, wbits=12), rsv=4))
    p.send_text(b"hello " * 20)
    p.events_received()
    p.data_to_send()


def test_zlib_objects_created_lazily():
    p = deflating_server(remote_max_window_bits=12, local_max_window_bits=12)
    ext = p.extensions[0]
    assert ext._decoder is None and ext._encoder is None
    p.receive_data(raw(1, deflate(b"x", wbits=12), rsv=4))
    # The decoder lives only during a message; the inflated bytes it may
    # refer to later are kept instead.
    assert ext._decoder is None and ext._window == b"x"
    assert ext._encoder is None
    p.send_text(b"y")
    assert ext._encoder is not None


def test_decoder_lives_only_during_a_message():
    p = deflating_server(remote_max_window_bits=12, local_max_window_bits=12)
    ext = p.extensions[0]
    data = deflate(b"a" * 100, wbits=12)
    p.receive_data(raw(1, data[:3], fin=False, rsv=4))
    assert ext._decoder is not None
    p.receive_data(raw(0, data[3:]))
    assert ext._decoder is None
    assert b"".join(e.data for e in p.events_received()) == b"a" * 100


@pytest.mark.parametrize("bits", [8, 9, 12, 15])
def test_context_takeover_through_the_kept_window(bits):
    # A peer that keeps its compressor refers back across messages of all
    # sizes; each of our decoders starts from the kept window alone.
    rng = random.Random(bits)
    words = [bytes(rng.choice(b"abcdefgh") for _ in range(6)) for _ in range(50)]
    compressor = zlib.compressobj(wbits=-max(bits, 9))
    p = deflating_server(max_size=None, remote_max_window_bits=bits)
    ext = p.extensions[0]
    sent = []
    for size in [1, 10, 300, 5000, 40000, 3, 70000, 200, 1 << bits, (1 << bits) + 1]:
        message = b" ".join(rng.choice(words) for _ in range(size // 7 + 1))[:size]
        sent.append(message)
        p.receive_data(raw(2, deflate(message, compressor=compressor), rsv=4))
        assert len(ext._window) <= 1 << bits
        assert ext._window == b"".join(sent)[-(1 << bits):]
    assert [e.data for e in p.events_received()] == sent


def test_window_dropped_after_a_final_deflate_block():
    # A peer may end a message's deflate stream with BFINAL; the next
    # message is a new stream, which must not refer to the old one.
    p = deflating_server()
    ext = p.extensions[0]
    final = zlib.compressobj(wbits=-15)
    payload = final.compress(b"end of stream") + final.flush(zlib.Z_FINISH)
    p.receive_data(raw(1, payload, rsv=4))
    assert ext._window == b"" and ext._decoder is None
    p.receive_data(raw(1, deflate(b"fresh"), rsv=4))
    assert [e.data for e in p.events_received()] == [b"end of stream", b"fresh"]
    assert ext._window == b"fresh"


def test_reference_before_the_window_fails_with_1002():
    # Data that refers further back than anything received is invalid.
    p = deflating_server()
    compressor = zlib.compressobj(wbits=-15)
    deflate(b"never sent " * 10, compressor=compressor)
    p.receive_data(raw(1, deflate(b"never sent " * 10, compressor=compressor), rsv=4))
    assert p.state is CLOSING and sent_close_code(p) == 1002


def test_no_context_takeover_drops_zlib_objects_after_each_message():
    p = deflating_server(
        remote_no_context_takeover=True,
        local_no_context_takeover=True,
        remote_max_window_bits=12,
        local_max_window_bits=12,
    )
    ext = p.extensions[0]
    # Each message is compressed independently: a fresh compressor each time.
    for _ in range(3):
        exchange_one_message(p)
        assert ext._decoder is None and ext._encoder is None
    # Mid-message, the decoder lives until the last fragment.
    data = deflate(b"a" * 100, wbits=12)
    p.receive_data(raw(1, data[:3], fin=False, rsv=4))
    assert ext._decoder is not None
    p.receive_data(raw(0, data[3:]))
    assert ext._decoder is None
    assert b"".join(e.data for e in p.events_received()) == b"a" * 100


def held_bytes(make):
    """Bytes still allocated by ``make()``'s result, per tracemalloc."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del kept
    return held


def test_memory_held_per_connection_ordering():
    def connection(nct):
        p = deflating_server(
            remote_no_context_takeover=nct,
            local_no_context_takeover=nct,
            remote_max_window_bits=12,
            local_max_window_bits=12,
        )
        p.extensions[0].compress_settings = {"memLevel": 5}
        return p

    def after_one_message(nct):
        p = connection(nct)
        exchange_one_message(p)
        return p

    def after_receiving_a_lot():
        p = connection(False)
        for i in range(10):
            p.receive_data(raw(2, deflate(bytes(range(256)) * 40, wbits=12), rsv=4))
        p.events_received()
        return p

    idle = held_bytes(lambda: connection(False))
    takeover = held_bytes(lambda: after_one_message(False))
    no_takeover = held_bytes(lambda: after_one_message(True))
    receiving = held_bytes(after_receiving_a_lot)
    # zlib's compressor is ~38 KiB; without it, a connection holds a few KiB.
    assert idle < 8 * 1024, idle
    assert no_takeover < 8 * 1024, no_takeover
    assert takeover > idle + 20 * 1024, (idle, takeover)
    # The goal at the default 12/5 settings: at most 48 KiB after traffic.
    assert takeover <= 48 * 1024, takeover
    # No decompressor is kept between messages, only a 4 KiB window.
    assert receiving < idle + 4096 + 1024, (idle, receiving)


# Sending: what is compressed, and how.


def payloads():
    rng = random.Random(7)
    records = [{"id": i, "user": f"user_{rng.randrange(10**5):05d}", "score": rng.random()} for i in range(400)]
    text = ("Memory is a feature. Compression state dominates the cost of a connection. " * 300).encode()
    return {
        "random": rng.getrandbits(8 * 16384).to_bytes(16384, "little"),
        "random 1 KiB": rng.getrandbits(8 * 1024).to_bytes(1024, "little"),
        "json": json.dumps(records).encode()[:16384],
        "text": text[:16384],
        "utf-8 cjk": ("内存是一个特性。每个连接的内存很重要，压缩状态占主导。" * 400).encode()[:16384],
        "base64": base64.b64encode(rng.getrandbits(8 * 12288).to_bytes(12288, "little")),
        "small ints": struct.pack("<4096i", *[rng.randrange(1000) for _ in range(4096)]),
        "zeros": bytes(16384),
    }


INCOMPRESSIBLE = {"random", "random 1 KiB"}


@pytest.mark.parametrize("kind", sorted(payloads()))
def test_looks_incompressible(kind):
    data = payloads()[kind]
    assert looks_incompressible(data) is (kind in INCOMPRESSIBLE)
    assert looks_incompressible(bytearray(data)) is (kind in INCOMPRESSIBLE)
    assert looks_incompressible(memoryview(data)) is (kind in INCOMPRESSIBLE)
    # Classified as incompressible only when deflate saves little.
    ratio = len(zlib.compress(data, 1)) / len(data)
    assert (ratio > 0.9) is (kind in INCOMPRESSIBLE), ratio


def test_random_bytes_of_any_size_are_recognised():
    # A miss only costs CPU (the message is compressed), but should be rare:
    # about 1 in 3,000 with these thresholds.
    sizes = [1024, 1500, 2048, 5000, 16384, 65536]
    missed = 0
    for seed in range(300):
        size = sizes[seed % len(sizes)]
        data = random.Random(seed).getrandbits(8 * size).to_bytes(size, "little")
        missed += not looks_incompressible(data)
    assert missed <= 2, missed


def test_float_arrays_are_borderline():
    # Random doubles: mostly noise; deflate saves about 5%. Either
    # answer is fine, as long as it is an answer.
    rng = random.Random(3)
    data = struct.pack("<2048d", *[rng.random() for _ in range(2048)])
    assert looks_incompressible(data) in (True, False)
    assert len(zlib.compress(data, 1)) > 0.9 * len(data)


def test_looks_incompressible_on_typed_memoryview():
    data = memoryview(struct.pack("<4096i", *range(4096))).cast("i")
    assert looks_incompressible(data) is False


@pytest.mark.parametrize("kind", sorted(payloads()))
def test_incompressible_messages_are_sent_uncompressed(kind):
    data = payloads()[kind]
    ext = PerMessageDeflate(False, False, 12, 12)
    frame = ext.encode(Frame(Opcode.BINARY, data))
    if kind in INCOMPRESSIBLE:
        assert frame.rsv1 is False and frame.data is data
        assert ext._encoder is None  # nothing compressed yet: no compressor
    else:
        assert frame.rsv1 is True and len(frame.data) < len(data)


def test_small_messages_are_always_compressed():
    ext = PerMessageDeflate(False, False, 12, 12)
    data = payloads()["random"][:1023]
    frame = ext.encode(Frame(Opcode.BINARY, data))
    assert frame.rsv1 is True


def test_fragmented_message_follows_its_first_frame():
    ext = PerMessageDeflate(False, False, 12, 12)
    noise, text = payloads()["random"], payloads()["text"]
    # Incompressible first frame: the whole message goes uncompressed.
    first = ext.encode(Frame(Opcode.BINARY, noise, fin=False))
    rest = ext.encode(Frame(Opcode.CONT, text, fin=True))
    assert (first.rsv1, first.data, rest.rsv1, rest.data) == (False, noise, False, text)
    # Compressible first frame: every frame is deflated, even random ones.
    first = ext.encode(Frame(Opcode.BINARY, text, fin=False))
    ping = ext.encode(Frame(Opcode.PING, b"p"))
    rest = ext.encode(Frame(Opcode.CONT, noise, fin=True))
    assert first.rsv1 is True and ping.data == b"p" and rest.rsv1 is False
    decoder = zlib.decompressobj(wbits=-12)
    assert decoder.decompress(bytes(first.data) + bytes(rest.data) + b"\x00\x00\xff\xff") == text + noise


def test_default_level_and_memlevel_follow_the_window():
    data = payloads()["json"]
    for bits in (9, 12, 15):
        ext = PerMessageDeflate(False, False, 15, bits)
        sent = ext.encode(Frame(Opcode.TEXT, data)).data
        reference = zlib.compressobj(DEFAULT_LEVEL, zlib.DEFLATED, -bits, bits - 7)
        assert bytes(sent) == deflate(data, compressor=reference)
    # compress_settings win.
    ext = PerMessageDeflate(False, False, 15, 12, {"level": 9, "memLevel": 9})
    sent = ext.encode(Frame(Opcode.TEXT, data)).data
    assert bytes(sent) == deflate(data, compressor=zlib.compressobj(9, zlib.DEFLATED, -12, 9))


def test_skipped_messages_keep_context_takeover_in_step():
    # websockets' decoder follows a stream where compressed messages, which
    # refer back to each other, alternate with incompressible ones sent as is.
    ours = Protocol(CLIENT)
    ours.extensions = [PerMessageDeflate(False, False, 12, 12)]
    theirs = WsProtocol(WsSide.SERVER)
    theirs.extensions = [ws_pmd.PerMessageDeflate(False, False, 12, 12)]
    sent = []
    for i in range(6):
        for data in (payloads()["json"][i * 100 : i * 100 + 3000], payloads()["random"][i:]):
            ours.send_binary(data)
            sent.append(data)
    frames = ours.data_to_send()
    assert [frame[0] & 0x40 != 0 for frame in frames] == [True, False] * 6
    for frame in frames:
        theirs.receive_data(frame)
    assert [e.data for e in theirs.events_received()] == sent


# compact(): the compressor released while idle.


def their_server_and_our_client(nct=False):
    ours = Protocol(CLIENT)
    ours.extensions = [PerMessageDeflate(False, nct, 12, 12)]
    theirs = WsProtocol(WsSide.SERVER)
    theirs.extensions = [ws_pmd.PerMessageDeflate(nct, False, 12, 12)]
    return ours, theirs


def test_compact_releases_the_compressor_and_keeps_context_takeover():
    ours, theirs = their_server_and_our_client()
    ext = ours.extensions[0]
    message = b"a message that repeats, as chat messages do. " * 3
    sizes, sent = [], []
    for i in range(6):
        data = message + str(i).encode()
        ours.send_text(data)
        sent.append(data)
        (frame,) = ours.data_to_send()
        sizes.append(len(frame))
        theirs.receive_data(frame)
        ext.compact()
        assert ext._encoder is None
        assert ext._sent == b"".join(sent[1:])[-4096:]  # kept from the first compact() on
    assert [e.data for e in theirs.events_received()] == sent
    # Message 1 follows the first compact(): no history, full size. The
    # next ones refer back to what the released compressors had seen.
    assert sizes[2] < sizes[1] // 2 and sizes[5] == sizes[2], sizes


def test_compact_keeps_a_window_of_at_most_the_window_size():
    ours, theirs = their_server_and_our_client()
    ext = ours.extensions[0]
    ours.send_text(b"start")
    ext.compact()
    text = payloads()["text"]
    for data in (text[:100], memoryview(text)[:9000], bytearray(text[50:3000]), text[:5000]):
        ours.send_binary(data)
        ext.compact()
        assert isinstance(ext._sent, bytes) and len(ext._sent) <= 4096
    ours.send_binary(text[:4096])  # refers to the window
    for frame in ours.data_to_send():
        theirs.receive_data(frame)
    assert theirs.events_received()[-1].data == text[:4096]


def test_compact_waits_for_the_end_of_a_message():
    ours, theirs = their_server_and_our_client()
    ext = ours.extensions[0]
    ours.send_text(b"first half, ", fin=False)
    ext.compact()
    assert ext._encoder is not None
    ours.send_continuation(b"second half", fin=True)
    ext.compact()
    assert ext._encoder is None
    for frame in ours.data_to_send():
        theirs.receive_data(frame)
    assert b"".join(e.data for e in theirs.events_received()) == b"first half, second half"


def test_compact_with_no_context_takeover_keeps_nothing():
    ours, theirs = their_server_and_our_client(nct=True)
    ext = ours.extensions[0]
    for i in range(3):
        ours.send_text(b"hello " * 30)
        ext.compact()
        assert ext._encoder is None and ext._sent is None
    for frame in ours.data_to_send():
        theirs.receive_data(frame)
    assert [e.data for e in theirs.events_received()] == [b"hello " * 30] * 3


def test_memory_after_compact():
    def compacted():
        p = deflating_server(remote_max_window_bits=12, local_max_window_bits=12)
        exchange_one_message(p)
        p.extensions[0].compact()
        exchange_one_message(p)
        p.extensions[0].compact()
        return p

    def idle():
        return deflating_server(remote_max_window_bits=12, local_max_window_bits=12)

    # Two windows of 120 bytes instead of 38 KiB of zlib state.
    assert held_bytes(compacted) < held_bytes(idle) + 1024


# Interoperability with websockets, every parameter combination.

INTEROP_CONFIGS = list(
    itertools.product([False, True], [False, True], [None, 9, 12, 15], [None, True, 9, 12, 15])
)


NOISE = random.Random(1).getrandbits(8 * 3000).to_bytes(3000, "little")


def messages():
    yield ("send_text", ("hello, world".encode(),))
    yield ("send_text", ("hello, world".encode(),))  # context takeover at work
    yield ("send_binary", (bytes(range(256)) * 64,))
    yield ("send_binary", (b"",))
    yield ("send_binary", (NOISE,))  # sent uncompressed by us
    yield ("send_text", ("hello, world".encode(),))  # refers back across it
    yield ("send_text", ("frag".encode(), False))
    yield ("send_ping", (b"p",))
    yield ("send_continuation", ("mént".encode(), False))
    yield ("send_continuation", (b"ed" * 2000, True))


def pump(sender, receiver):
    for data in sender.data_to_send():
        if data:
            receiver.receive_data(data)
        else:
            receiver.receive_eof()


def conversation(ours, theirs):
    for sender, receiver in ((ours, theirs), (theirs, ours)):
        expected = []
        for method, args in messages():
            getattr(sender, method)(*args)
            data, fin = args[0], args[1] if len(args) > 1 else True
            expected.append((data, fin))
        pump(sender, receiver)
        events = receiver.events_received()
        assert [(bytes(e.data), e.fin) for e in events] == expected
        assert not any(e.rsv1 for e in events)
        pump(receiver, sender)  # the pong
        sender.events_received()
    # Close from our side and finish cleanly.
    ours.send_close(1000)
    for _ in range(4):
        pump(ours, theirs)
        pump(theirs, ours)
    assert ours.state is CLOSED and ours.close_code == 1000


@pytest.mark.parametrize("config", INTEROP_CONFIGS, ids=str)
def test_interop_our_client_their_server(config):
    server_nct, client_nct, server_bits, client_bits = config
    ours_f = ClientPerMessageDeflateFactory(server_nct, client_nct, server_bits, client_bits)
    theirs_f = ws_pmd.ServerPerMessageDeflateFactory()
    params, theirs_ext = theirs_f.process_request_params(ours_f.get_request_params(), [])
    ours_ext = ours_f.process_response_params(params, [])
    ours = Protocol(CLIENT)
    ours.extensions = [ours_ext]
    theirs = WsProtocol(WsSide.SERVER)
    theirs.extensions = [theirs_ext]
    conversation(ours, theirs)


@pytest.mark.parametrize("config", INTEROP_CONFIGS, ids=str)
def test_interop_their_client_our_server(config):
    server_nct, client_nct, server_bits, client_bits = config
    if server_bits is not None and server_bits < 9:
        pytest.skip("zlib cannot compress with 8-bit windows")
    # Our server is configured with the combination; their client offers
    # client_max_window_bits (as by default) so that we may set it.
    ours_f = ServerPerMessageDeflateFactory(
        server_nct, client_nct, server_bits, None if client_bits is True else client_bits
    )
    theirs_f = ws_pmd.ClientPerMessageDeflateFactory()
    params, ours_ext = ours_f.process_request_params(theirs_f.get_request_params(), [])
    theirs_ext = theirs_f.process_response_params(params, [])
    ours = Protocol(SERVER)
    ours.extensions = [ours_ext]
    theirs = WsProtocol(WsSide.CLIENT)
    theirs.extensions = [theirs_ext]
    conversation(ours, theirs)


def test_interop_compressed_close_after_failure():
    # Their client sends a bomb to our server: 1009 reaches them.
    ours = Protocol(SERVER, max_size=1000)
    ours.extensions = [PerMessageDeflate(False, False, 15, 15)]
    theirs = WsProtocol(WsSide.CLIENT, max_size=None)
    theirs.extensions = [ws_pmd.PerMessageDeflate(False, False, 15, 15)]
    theirs.send_binary(b"\x00" * 100_000)
    pump(theirs, ours)
    assert ours.state is CLOSING
    pump(ours, theirs)
    assert theirs.close_rcvd.code == 1009
    assert int(theirs.state) == int(CLOSED)  # our server also sent EOF


# Random messages and fragmentations, random parameters, both directions.

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

message_strategy = st.tuples(
    st.booleans(),  # text?
    st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=4).map(lambda b: b * 500),
        # Random bytes, which we send uncompressed from 1 KiB up.
        st.integers(0, 2**32).map(lambda seed: random.Random(seed).getrandbits(8 * 1500).to_bytes(1500, "little")),
    ),
    st.lists(st.integers(0, 3000), max_size=3),  # fragment boundaries
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(message_strategy, min_size=1, max_size=6),
    st.sampled_from(INTEROP_CONFIGS),
    st.booleans(),
    st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_random_compressed_conversations(messages_, config, we_are_client, compact_after):
    server_nct, client_nct, server_bits, client_bits = config
    client_factory = ClientPerMessageDeflateFactory(server_nct, client_nct, server_bits, client_bits)
    theirs_factory = ws_pmd.ServerPerMessageDeflateFactory()
    params, theirs_server_ext = theirs_factory.process_request_params(client_factory.get_request_params(), [])
    if we_are_client:
        ours, theirs = Protocol(CLIENT, max_size=None), WsProtocol(WsSide.SERVER, max_size=None)
        ours.extensions = [client_factory.process_response_params(params, [])]
        theirs.extensions = [theirs_server_ext]
    else:
        ours_factory = ServerPerMessageDeflateFactory(server_nct, client_nct)
        theirs_client = ws_pmd.ClientPerMessageDeflateFactory(server_nct, client_nct)
        params, ours_ext = ours_factory.process_request_params(theirs_client.get_request_params(), [])
        ours, theirs = Protocol(SERVER, max_size=None), WsProtocol(WsSide.CLIENT, max_size=None)
        ours.extensions = [ours_ext]
        theirs.extensions = [theirs_client.process_response_params(params, [])]
    for sender, receiver in ((ours, theirs), (theirs, ours)):
        for (is_text, data, cuts), compact in zip(messages_, compact_after):
            if is_text:
                data = data.decode("latin-1").encode()  # valid UTF-8
            bounds = sorted({c % (len(data) + 1) for c in cuts})
            pieces = [data[a:b] for a, b in zip([0] + bounds, bounds + [len(data)])]
            first = sender.send_text if is_text else sender.send_binary
            first(pieces[0], fin=len(pieces) == 1)
            for i, piece in enumerate(pieces[1:], 2):
                sender.send_continuation(piece, fin=i == len(pieces))
            pump(sender, receiver)
            events = receiver.events_received()
            assert b"".join(bytes(e.data) for e in events) == data
            assert [e.fin for e in events] == [False] * (len(pieces) - 1) + [True]
            if compact:
                ours.extensions[0].compact()
