"""The short cuts around the protocol's per-call layers, and their equivalence.

``Protocol.fast_parser`` with ``Protocol.receive_parsed``, ``Protocol.data_frame``,
``FrameQueue.push_frames`` and ``Assembler.put_frames`` let the asyncio layer
skip work on the hot path. Each is checked here against the slow path it
stands for: same events, same bytes out, same states, same pauses. The last
test runs both hot paths over real sockets, alternating with the slow ones.
"""

import asyncio
import logging
import socket
import sys

import pytest
import websockets.server
from conftest import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_asyncio_basic import LOOPS, port_of
from test_protocol import Reverse, close_payload, frame_strategy, raw, unmask
from test_speedups_ringbuffer import COMPILED, PURE, needs_compiled
from websockets.protocol import State as TheirState

from websockets_fast.assembler import Assembler
from websockets_fast.asyncio.client import connect
from websockets_fast.asyncio.connection import Connection, broadcast
from websockets_fast.asyncio.server import serve
from websockets_fast.client import ClientProtocol
from websockets_fast.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets_fast.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets_fast.frames import Frame, Opcode
from websockets_fast.protocol import CLIENT, CLOSED, CONNECTING, OPEN, SERVER, Protocol
from websockets_fast.server import ServerProtocol
from websockets_fast.speedups import SPLIT_FRAME_SIZE
from websockets_fast.speedups import FrameParser
from websockets_fast.uri import parse_uri

DEBUG_LOGGER = logging.getLogger("test.websockets_fast.fast_paths.debug")
DEBUG_LOGGER.setLevel(logging.DEBUG)
INFO_LOGGER = logging.getLogger("test.websockets_fast.fast_paths.info")
INFO_LOGGER.setLevel(logging.INFO)


def handshake(**kwargs):
    """Our ClientProtocol and ServerProtocol, opened through a real handshake.

    ``deflate=True`` negotiates permessage-deflate; other arguments go to both.
    """
    deflate = kwargs.pop("deflate", False)
    client = ClientProtocol(
        parse_uri("ws://localhost/"), extensions=[ClientPerMessageDeflateFactory()] if deflate else None, **kwargs
    )
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()] if deflate else None, **kwargs)
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    [request] = server.events_received()
    server.send_response(server.accept(request))
    client.receive_data(b"".join(server.data_to_send()))
    client.events_received()
    assert client.state is OPEN and server.state is OPEN
    assert bool(client.extensions) is bool(server.extensions) is deflate
    return client, server


def after(make, *calls):
    """A protocol from ``make()`` after ``calls``: (method name, *args) each."""

    def build():
        p = make()
        for name, *args in calls:
            getattr(p, name)(*args)
        p.data_to_send()
        p.events_received()
        return p

    return build


def request_sent():
    p = ClientProtocol(parse_uri("ws://localhost/"))
    p.send_request(p.connect())
    p.data_to_send()
    return p


def with_extension():
    p = Protocol(SERVER)
    p.extensions = [Reverse()]
    return p


def extension_removed():
    p = with_extension()
    p.extensions = []
    return p


closed_server = after(
    lambda: Protocol(SERVER), ("send_close", 1000), ("receive_data", raw(8, close_payload(1000))), ("receive_eof",)
)


# Which protocols expose fast_parser.

FAST = {
    "server": lambda: Protocol(SERVER),
    "client": lambda: Protocol(CLIENT),
    "ServerProtocol state=OPEN": lambda: ServerProtocol(state=OPEN),
    "ServerProtocol after handshake": lambda: handshake()[1],
    "ClientProtocol after handshake": lambda: handshake()[0],
    "logger at INFO": lambda: Protocol(SERVER, logger=INFO_LOGGER),
    "after data and a ping": after(lambda: Protocol(SERVER), ("receive_data", raw(2, b"x") + raw(9, b"p"))),
    "while sending fragments": after(lambda: Protocol(CLIENT), ("send_binary", b"a", False)),
    "extension removed": extension_removed,
}

NOT_FAST = {
    "Protocol CONNECTING": lambda: Protocol(SERVER, state=CONNECTING),
    "ClientProtocol CONNECTING": lambda: ClientProtocol(parse_uri("ws://localhost/")),
    "ClientProtocol request sent": request_sent,
    "ServerProtocol CONNECTING": lambda: ServerProtocol(),
    "deflate client": lambda: handshake(deflate=True)[0],
    "deflate server": lambda: handshake(deflate=True)[1],
    "toy extension": with_extension,
    "debug Protocol": lambda: Protocol(SERVER, logger=DEBUG_LOGGER),
    "debug ClientProtocol": lambda: handshake(logger=DEBUG_LOGGER)[0],
    "debug ServerProtocol": lambda: handshake(logger=DEBUG_LOGGER)[1],
    "server after send_close": after(lambda: Protocol(SERVER), ("send_close", 1000)),
    "client after send_close": after(lambda: Protocol(CLIENT), ("send_close",)),
    "server after fail": after(lambda: Protocol(SERVER), ("fail", 1011)),
    "client after fail": after(lambda: Protocol(CLIENT), ("fail", 1002, "bad")),
    "after a protocol error": after(lambda: Protocol(SERVER), ("receive_data", raw(3))),
    "server after a close frame": after(lambda: Protocol(SERVER), ("receive_data", raw(8, close_payload(1000)))),
    "client after a close frame": after(lambda: Protocol(CLIENT), ("receive_data", raw(8, mask=False))),
    "after EOF": after(lambda: Protocol(SERVER), ("receive_eof",)),
    "CLOSED": closed_server,
}


@pytest.mark.parametrize("make", FAST.values(), ids=FAST.keys())
def test_fast_parser_set_when_the_short_cut_applies(make):
    p = make()
    assert p.state is OPEN
    assert isinstance(p.fast_parser, FrameParser)


@pytest.mark.parametrize("make", NOT_FAST.values(), ids=NOT_FAST.keys())
def test_fast_parser_none_otherwise(make):
    p = make()
    assert p.fast_parser is None


def test_fast_parser_appears_when_the_handshake_completes():
    client = ClientProtocol(parse_uri("ws://localhost/"))
    server = ServerProtocol()
    assert client.fast_parser is server.fast_parser is None
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    [request] = server.events_received()
    assert server.fast_parser is None
    server.send_response(server.accept(request))
    assert server.fast_parser is not None
    client.receive_data(b"".join(server.data_to_send()))
    assert client.fast_parser is not None


# Receiving through fast_parser: the same as receive_data, frame for frame.


def observe(p):
    """Everything a protocol shows after a chunk; its sent frames unmasked."""
    return (
        p.events_received(),
        [unmask(data) if data else "EOF" for data in p.data_to_send()],
        p.state,
        p.close_code,
        p.close_rcvd,
        p.close_sent,
        p.close_rcvd_then_sent,
        type(p.parser_exc),
    )


def feed_fast(p, data, always, messages=False):
    """Feed ``data`` as the asyncio layer does; return the hot path's frames.

    With ``always``, frames go to receive_parsed even on the hot path. With
    ``messages``, the parser is fed with feed_messages(), as the asyncio
    connection does.
    """
    parser = p.fast_parser
    if parser is None:
        p.receive_data(data)
        return None
    frames = parser.feed_messages(data) if messages else parser.feed(data)
    if always or parser.control_frames or parser.exc is not None:
        p.receive_parsed(frames)
        return None
    return frames


def as_events(items):
    """feed_messages() items as the events they stand for."""
    events = []
    for item in items:
        if type(item) is bytes:
            events.append(Frame(Opcode.BINARY, item))
        elif type(item) is str:
            events.append(Frame(Opcode.TEXT, item.encode()))
        else:
            events.append(item)
    return events


def compare(side, chunks, always, messages=False, **kwargs):
    """Feed ``chunks`` both ways, then EOF; the observations must match."""
    twin, fast = Protocol(side, **kwargs), Protocol(side, **kwargs)
    hot_paths = 0
    for chunk in chunks:
        twin.receive_data(chunk)
        expected = observe(twin)
        frames = feed_fast(fast, chunk, always, messages)
        got = observe(fast)
        if frames is not None:
            # The frames were the events: the protocol kept none of them.
            assert got[0] == []
            if messages:
                frames = as_events(frames)
            assert frames == expected[0]
            got = (frames,) + got[1:]
            hot_paths += 1
        assert got == expected
    for p in (twin, fast):
        p.receive_eof()
    assert observe(fast) == observe(twin)
    assert type(fast.close_exc) is type(twin.close_exc)
    with pytest.raises(EOFError):
        twin.receive_data(b"x")
    with pytest.raises(EOFError):
        fast.receive_data(b"x")
    return hot_paths


# Each scenario: chunks built by ``r`` (frames masked as the side expects)
# and ``bad`` (masked the other way), and the protocols' arguments.
SCENARIOS = {
    "text": (lambda r, bad: [r(1, "héllo".encode())], {}),
    "binary": (lambda r, bad: [r(2, bytes(range(256)) * 4)], {}),
    "batch": (lambda r, bad: [r(1, b"a") + r(2, b"b") + r(1, "é€".encode()) + r(2, b"")], {}),
    "byte by byte": (lambda r, bad: [bytes([b]) for b in r(1, "é".encode()) + r(2, b"x" * 200)], {}),
    "fragmented": (lambda r, bad: [r(1, b"fr", False), r(0, b"ag", False) + r(0, b"men", False), r(0, b"ted")], {}),
    "ping and pong inside fragmented": (
        lambda r, bad: [
            r(2, b"a", False) + r(9, b"ping") + r(0, b"b", False),
            r(10, b"pong") + r(0, b"c") + r(2, b"d"),
        ],
        {},
    ),
    "close": (lambda r, bad: [r(1, b"x") + r(8, close_payload(1000, "bye")) + r(1, b"dropped"), r(2, b"dropped")], {}),
    "empty close": (lambda r, bad: [r(2, b"x"), r(8)], {}),
    "close inside fragmented": (lambda r, bad: [r(1, b"a", False), r(8, close_payload(1001))], {}),
    "invalid close code": (lambda r, bad: [r(8, close_payload(999))], {}),
    "invalid utf-8": (lambda r, bad: [r(1, b"ok") + r(1, b"\xff") + r(1, b"dropped")], {}),
    "invalid utf-8 across fragments": (lambda r, bad: [r(1, b"\xc3", False), r(0, b"(")], {}),
    "too big": (lambda r, bad: [r(2, b"x" * 64), r(2, b"x" * 65)], {"max_size": 64}),
    "too big across fragments": (lambda r, bad: [r(2, b"x" * 40, False), r(0, b"x" * 40)], {"max_size": 64}),
    "too big announced": (lambda r, bad: [r(2, b"x") + r(2, length=1000)], {"max_size": 64}),
    "frame too big": (lambda r, bad: [r(2, b"x" * 20, False) + r(0, b"x" * 21)], {"max_size": (64, 20)}),
    "too many fragments": (
        lambda r, bad: [r(1, b"a", False) + r(0, b"b", False), r(0, b"c", False) + r(0, b"d")],
        {"max_size": None, "max_fragments": 3},
    ),
    "wrong masking": (lambda r, bad: [r(2, b"ok"), bad(2, b"x")], {}),
    "reserved bits": (lambda r, bad: [r(2, b"x", rsv=4)], {}),
    "reserved opcode": (lambda r, bad: [r(2, b"1") + r(3)], {}),
    "control frame too long": (lambda r, bad: [r(9, b"p" * 126)], {}),
    "continuation without message": (lambda r, bad: [r(0, b"x")], {}),
}


@pytest.mark.parametrize("messages", [False, True], ids=["feed", "feed_messages"])
@pytest.mark.parametrize("always", [False, True], ids=["hot path kept", "always receive_parsed"])
@pytest.mark.parametrize("side", [SERVER, CLIENT], ids=["server", "client"])
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_fast_parser_and_receive_parsed_match_receive_data(scenario, side, always, messages):
    build, kwargs = scenario
    masked = side is SERVER

    def r(opcode, payload=b"", fin=True, **kw):
        return raw(opcode, payload, fin, mask=masked, **kw)

    def bad(opcode, payload=b"", fin=True, **kw):
        return raw(opcode, payload, fin, mask=not masked, **kw)

    hot_paths = compare(side, build(r, bad), always, messages, **kwargs)
    if always:
        assert hot_paths == 0


def test_hot_path_is_taken_for_data_frames():
    p = Protocol(SERVER)
    data = raw(1, b"a") + raw(2, b"b", fin=False) + raw(0, b"c")
    frames = p.fast_parser.feed(data)
    assert p.fast_parser.control_frames == 0 and p.fast_parser.exc is None
    assert frames == [Frame(Opcode.TEXT, b"a"), Frame(Opcode.BINARY, b"b", False), Frame(Opcode.CONT, b"c")]
    assert p.events_received() == [] and p.data_to_send() == []
    # receive_parsed delivers the same frames as events.
    p.receive_parsed(frames)
    assert p.events_received() == frames
    # A control frame makes the batch need receive_parsed.
    frames = p.fast_parser.feed(raw(2, b"d") + raw(9, b"p"))
    assert p.fast_parser.control_frames == 1
    p.receive_parsed(frames)
    assert p.events_received() == frames
    assert unmask(b"".join(p.data_to_send())) == [(True, 0, 10, b"p")]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(frame_strategy, max_size=12),
    st.lists(st.integers(0, 2000), max_size=6),
    st.sampled_from([None, 64]),
    st.booleans(),
    st.booleans(),
)
def test_random_streams_fast_path_matches_receive_data(frames, cuts, max_size, always, messages):
    stream = b"".join(raw(op, data, fin, rsv, masked) for op, data, fin, rsv, masked in frames)
    bounds = sorted(c % (len(stream) + 1) for c in cuts)
    chunks = [stream[a:b] for a, b in zip([0] + bounds, bounds + [len(stream)])]
    compare(SERVER, chunks, always, messages, max_size=max_size)


def test_receive_parsed_takes_whole_messages_as_payloads():
    p = Protocol(SERVER)
    parser = p.fast_parser
    items = parser.feed_messages(raw(1, b"a") + raw(2, b"b") + raw(1, "é".encode()) + raw(9, b"p") + raw(2, b""))
    assert [type(item) for item in items] == [str, bytes, Frame, Frame, bytes]
    assert parser.control_frames == 1
    p.receive_parsed(items)
    assert p.events_received() == [
        Frame(Opcode.TEXT, b"a"),
        Frame(Opcode.BINARY, b"b"),
        Frame(Opcode.TEXT, "é".encode()),
        Frame(Opcode.PING, b"p"),
        Frame(Opcode.BINARY, b""),
    ]
    assert unmask(b"".join(p.data_to_send())) == [(True, 0, 10, b"p")]
    # A batch cut short by an error: the items before it are events.
    items = parser.feed_messages(raw(1, b"ok") + raw(2, b"x", rsv=4))
    assert items == ["ok"] and parser.exc is not None
    p.receive_parsed(items)
    assert p.events_received() == [Frame(Opcode.TEXT, b"ok")]
    assert p.close_sent.code == 1002


# data_frame: the send short cut.

PAYLOADS = [
    (1, b""),
    (1, "héllo".encode()),
    (1, bytearray("é".encode())),
    (2, b"\x00\xff"),
    (2, memoryview(b"view")),
    (2, b"x" * 125),
    (2, b"x" * 126),
    (2, b"x" * 65535),
    (2, b"x" * 65536),
    (2, bytearray(b"x" * 70000)),
]
PAYLOAD_IDS = [f"{opcode}-{type(data).__name__}-{len(data)}" for opcode, data in PAYLOADS]


def send(p, opcode, data):
    (p.send_text if opcode == 1 else p.send_binary)(data)


@pytest.mark.parametrize(
    "make", [lambda: Protocol(SERVER), lambda: ServerProtocol(state=OPEN)], ids=["Protocol", "ServerProtocol"]
)
@pytest.mark.parametrize("opcode, data", PAYLOADS, ids=PAYLOAD_IDS)
def test_data_frame_on_server_is_what_send_writes(make, opcode, data):
    p, twin = make(), make()
    frame = p.data_frame(opcode, data)
    assert p.data_to_send() == []
    send(twin, opcode, data)
    writes = twin.data_to_send()
    if len(data) >= SPLIT_FRAME_SIZE:
        # Left to send_*, which writes a large payload apart from its header.
        assert frame is None
        assert b"".join(writes) == raw(opcode, data, mask=False)
        if type(data) is bytes:
            assert writes[1] is data
    else:
        assert type(frame) is bytes
        assert writes == [frame]


@pytest.mark.parametrize("opcode, data", PAYLOADS, ids=PAYLOAD_IDS)
def test_data_frame_on_client_is_masked_and_understood_by_websockets(opcode, data):
    p = Protocol(CLIENT)
    frame = p.data_frame(opcode, data)
    assert type(frame) is bytes and frame[1] & 0x80
    assert p.data_to_send() == []
    theirs = websockets.server.ServerProtocol(state=TheirState.OPEN, max_size=None)
    theirs.receive_data(frame)
    [event] = theirs.events_received()
    assert (int(event.opcode), event.data, event.fin) == (opcode, bytes(data), True)
    assert theirs.parser_exc is None and theirs.data_to_send() == []
    # A fresh mask key for each frame.
    assert p.data_frame(opcode, data) != frame


NO_DATA_FRAME = {
    "Protocol CONNECTING": NOT_FAST["Protocol CONNECTING"],
    "ClientProtocol CONNECTING": NOT_FAST["ClientProtocol CONNECTING"],
    "ServerProtocol CONNECTING": NOT_FAST["ServerProtocol CONNECTING"],
    "server after send_close": NOT_FAST["server after send_close"],
    "client after a close frame": NOT_FAST["client after a close frame"],
    "after fail": NOT_FAST["server after fail"],
    "CLOSED": closed_server,
    "server sending fragments": after(lambda: Protocol(SERVER), ("send_binary", b"a", False)),
    "client sending fragments": after(
        lambda: Protocol(CLIENT), ("send_text", b"a", False), ("send_continuation", b"b", False)
    ),
    "deflate client": NOT_FAST["deflate client"],
    "deflate server": NOT_FAST["deflate server"],
    "toy extension": with_extension,
    "debug server": NOT_FAST["debug Protocol"],
    "debug client": lambda: Protocol(CLIENT, logger=DEBUG_LOGGER),
}


@pytest.mark.parametrize("make", NO_DATA_FRAME.values(), ids=NO_DATA_FRAME.keys())
def test_data_frame_none_when_the_short_cut_does_not_apply(make):
    p = make()
    assert p.data_frame(1, b"text") is None
    assert p.data_frame(2, b"binary") is None
    assert p.data_to_send() == [] and p.events_received() == []


def test_data_frame_returns_once_the_fragmented_message_ends():
    p = Protocol(SERVER)
    p.send_binary(b"a", fin=False)
    assert p.data_frame(2, b"x") is None
    p.send_continuation(b"b", fin=True)
    assert p.data_frame(2, b"x") == raw(2, b"x", mask=False)
    assert unmask(b"".join(p.data_to_send())) == [(False, 0, 2, b"a"), (True, 0, 0, b"b")]


# push_frames: push() for each item of a list, counting fins.


class Item:
    __slots__ = ("fin", "n")

    def __init__(self, fin, n=0):
        self.fin, self.n = fin, n


IMPLEMENTATIONS = [
    pytest.param(PURE, id="pure"),
    pytest.param(COMPILED, id="compiled", marks=needs_compiled),
]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_push_frames_returns_fins_and_keeps_order(impl):
    queue = impl.FrameQueue(None)
    items = [Item(True, 0), Item(False, 1), Item(0, 2), Item(1, 3), Item(None, 4)]
    assert queue.push_frames(items) == 2
    assert queue.push_frames([]) == 0
    assert queue.push_frames([Item(True, 5)]) == 1
    assert len(items) == 5  # the list is left alone
    assert [queue.pop().n for _ in range(len(queue))] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_push_frames_counts_bytes_and_str_as_fins(impl):
    queue = impl.FrameQueue(None)
    items = [b"binary", Item(False, 1), "text", Item(True, 3), b"", "", bytearray(b"x"), Item(0, 7)]
    with pytest.raises(AttributeError):
        # Only bytes and str are whole messages; anything else is a frame.
        queue.push_frames(items)
    queue.clear()
    del items[6]
    assert queue.push_frames(items) == 5
    assert [queue.pop() for _ in range(len(queue))] == items


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("frames", [(Item(True),), None, iter([Item(True)])], ids=["tuple", "None", "iterator"])
def test_push_frames_needs_a_list(impl, frames):
    queue = impl.FrameQueue(None)
    with pytest.raises(TypeError):
        queue.push_frames(frames)
    assert len(queue) == 0


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_push_frames_stops_where_push_raises(impl):
    def fail():
        raise RuntimeError("pause failed")

    batched, single = impl.FrameQueue(1, 0, fail), impl.FrameQueue(1, 0, fail)
    with pytest.raises(RuntimeError):
        batched.push_frames([Item(True, n) for n in range(4)])
    single.push(Item(True, 0))
    with pytest.raises(RuntimeError):
        single.push(Item(True, 1))
    assert len(batched) == len(single) == 2 and batched.paused and single.paused


def push_one_by_one(queue, frames):
    fins = 0
    for frame in frames:
        if frame.fin:
            fins += 1
        queue.push(frame)
    return fins


def drive_batches(cls, high, low, ops, push):
    """Apply ``ops`` (lists of fins to push, or pop counts) with ``push``.

    Returns everything observable; the callbacks log the length at the call,
    which tells at which item of a batch they happened.
    """
    log = []
    queue = cls(high, low, lambda: log.append(("pause", len(queue))), lambda: log.append(("resume", len(queue))))
    n = 0
    for op in ops:
        if isinstance(op, list):
            items = [Item(fin, n + i) for i, fin in enumerate(op)]
            n += len(op)
            log.append(("pushed", push(queue, items)))
        else:
            log.append(("popped", [queue.pop().n for _ in range(min(op, len(queue)))]))
        log.append((len(queue), queue.paused))
    return log


batch_ops = st.lists(st.one_of(st.lists(st.booleans(), max_size=12), st.integers(0, 12)), max_size=20)
batch_marks = st.integers(0, 10).flatmap(lambda high: st.tuples(st.just(high), st.integers(0, high)))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=150, deadline=None)
@given(marks=st.one_of(batch_marks, st.just((None, None))), ops=batch_ops)
def test_push_frames_is_push_one_by_one(impl, marks, ops):
    high, low = marks
    batched = drive_batches(impl.FrameQueue, high, low, ops, impl.FrameQueue.push_frames)
    assert batched == drive_batches(impl.FrameQueue, high, low, ops, push_one_by_one)


@needs_compiled
@settings(max_examples=200, deadline=None)
@given(marks=st.one_of(batch_marks, st.just((None, None))), ops=batch_ops)
def test_push_frames_compiled_and_pure_agree(marks, ops):
    high, low = marks
    compiled = drive_batches(COMPILED.FrameQueue, high, low, ops, COMPILED.FrameQueue.push_frames)
    assert compiled == drive_batches(PURE.FrameQueue, high, low, ops, PURE.FrameQueue.push_frames)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_push_frames_pauses_once_mid_batch(impl):
    calls = []
    queue = impl.FrameQueue(3, 1, lambda: calls.append(("pause", len(queue))), lambda: calls.append("resume"))
    assert queue.push_frames([Item(True) for _ in range(6)]) == 6
    assert calls == [("pause", 4)] and queue.paused
    assert queue.push_frames([Item(False)]) == 0
    assert calls == [("pause", 4)]


# Assembler.put_frames.


def test_put_frames_counts_complete_messages_and_take_returns_them():
    calls = []
    asm = Assembler(max_queue=(2, 0), pause=lambda: calls.append("pause"), resume=lambda: calls.append("resume"))
    asm.put_frames([Frame(Opcode.TEXT, b"hel", False), Frame(Opcode.CONT, b"lo"), Frame(Opcode.BINARY, b"\x00")])
    assert asm.complete == 2 and len(asm) == 3
    assert calls == ["pause"] and asm.paused
    asm.put_frames([])
    asm.put_frames([Frame(Opcode.TEXT, "é".encode())])
    assert asm.complete == 3 and calls == ["pause"]
    assert [asm.take(), asm.take(), asm.take()] == ["hello", b"\x00", "é"]
    assert asm.take() is None and asm.complete == 0
    assert calls == ["pause", "resume"]


def test_put_frames_after_close_raises_eof():
    asm = Assembler()
    asm.put_frames([Frame(Opcode.TEXT, b"kept")])
    asm.close()
    for frames in ([Frame(Opcode.TEXT, b"late")], []):
        with pytest.raises(EOFError):
            asm.put_frames(frames)
    assert asm.complete == 1 and len(asm) == 1
    assert asm.take() == "kept"
    with pytest.raises(EOFError):
        asm.take()


# End to end: the hot paths and the slow paths alternating over sockets.


def script(tag, rounds):
    """What one side sends, in rounds: [(items, messages)].

    Items are (kind, payload, ping data). Both sides send a round back to
    back, then read the peer's: each round reaches the peer in a few reads,
    and the rounds without control frames take the hot path.
    """
    script = []
    for r in range(rounds):
        items, messages = [], []
        for k in range(1 + r * 7 % 20):
            if k % 6 == 0:
                message = b""
            elif k % 2:
                message = f"{tag}{r}.{k}-é"
            else:
                message = f"{tag}{r}.{k}".encode() * k
            items.append(("send", message, None))
            messages.append(message)
            if k == 2 and r % 5 == 0:
                items.append(("ping", None, f"{tag}ping{r}"))
            if k == 3 and r % 7 == 3:
                parts = [f"{tag}{r}-frag{n}" for n in range(3)]
                items.append(("send", parts, None))
                messages.append("".join(parts))
            if k == 4 and r % 11 == 6:
                # A ping between two frames of a fragmented message.
                parts = [f"{tag}{r}-frag{n}".encode() for n in range(3)]
                items.append(("fragments with a ping", parts, f"{tag}fragping{r}"))
                messages.append(b"".join(parts))
        script.append((items, messages))
    return script


async def exchange(ws, mine, theirs):
    """Send each round of ``mine`` while receiving ``theirs``'s; return what arrived."""
    pongs, received = [], []

    async def fragments(parts, ping):
        for k, part in enumerate(parts):
            yield part
            if k == 0:
                pongs.append(await ws.ping(ping))

    async def send_round(items):
        for kind, payload, ping in items:
            if kind == "send":
                await ws.send(payload)
            elif kind == "ping":
                pongs.append(await ws.ping(ping))
            else:
                await ws.send(fragments(payload, ping))

    async def receive_round(messages):
        for _ in messages:
            received.append(await ws.recv())

    for (items, _), (_, messages) in zip(mine, theirs):
        await asyncio.gather(send_round(items), receive_round(messages))
    await asyncio.gather(*pongs)
    return received


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("max_queue", [16, 2])
def test_many_messages_both_ways_over_sockets(loop_factory, max_queue, monkeypatch):
    counts = {"hot": 0, "slow": 0}
    receive_parsed = Protocol.receive_parsed

    # The compiled Assembler is a C type, whose methods can't be replaced:
    # the connections get a subclass that counts instead.
    class CountingAssembler(Assembler):
        def put_frames(self, frames):
            counts["hot"] += 1
            return super().put_frames(frames)

    def counting_receive_parsed(self, frames):
        counts["slow"] += 1
        return receive_parsed(self, frames)

    monkeypatch.setattr(sys.modules[Connection.__module__], "Assembler", CountingAssembler)
    # Likewise, the compiled Protocol is a C type: patch its subclasses.
    for protocol_class in (ClientProtocol, ServerProtocol):
        monkeypatch.setattr(protocol_class, "receive_parsed", counting_receive_parsed)

    client_script, server_script = script("c", 150), script("s", 150)

    async def main():
        server_result = asyncio.get_running_loop().create_future()

        async def handler(ws):
            try:
                received = await exchange(ws, server_script, client_script)
                # Wait for the client's close: nothing more is sent.
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()
            except BaseException as exc:
                server_result.set_exception(exc)
                raise
            server_result.set_result(received)

        # Without compression (on by default), which would bar the short cuts.
        options = {"compression": None, "max_queue": max_queue}
        async with serve(handler, "127.0.0.1", 0, **options) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
                received = await exchange(ws, client_script, server_script)
                assert ws.protocol.fast_parser is not None
            assert ws.close_code == 1000
            return received, await server_result

    received_by_client, received_by_server = run(main(), loop_factory=loop_factory)
    assert received_by_client == [m for _, messages in server_script for m in messages]
    assert received_by_server == [m for _, messages in client_script for m in messages]
    # Both paths were taken, many times.
    assert counts["hot"] > 20 and counts["slow"] > 20, counts


# Connection._transport_write: on asyncio's default loop and on uvloop, a
# plain connection sends to its socket itself while the transport's buffer is
# empty.


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_direct_send_on_plain_transports(loop_factory):
    async def main():
        async def handler(ws):
            await ws.send(str(ws._raw_fd >= 0))
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                fd = ws.transport.get_extra_info("socket").fileno()
                direct = ws._raw_fd == fd, await ws.recv()
            # The transport closes the socket after connection_lost().
            assert ws._raw_fd == -1
            return direct

    assert run(main(), loop_factory=loop_factory) == (True, "True")


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_no_direct_send_once_the_transport_is_closing(loop_factory):
    # After abort() the transport drops what it is given; the direct send
    # must not send it either, though the socket is still open until the
    # transport calls connection_lost().
    async def main():
        async def handler(ws):
            await ws.recv()
            ws.transport.abort()
            broadcast([ws], "after abort")
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            sock = socket.create_connection(("127.0.0.1", port_of(server)))
            sock.setblocking(False)
            async with connect("ws://127.0.0.1/", sock=sock, compression=None) as ws:
                await ws.send("go")
                # A message here would be the one sent after the abort.
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
                return ws.close_code

    # 1006: the TCP connection closed without a close frame.
    assert run(main(), loop_factory=loop_factory) == 1006


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_messages_keep_their_order_when_the_socket_fills(loop_factory):
    # broadcast() writes each message at once, in batches, while the client
    # reads slowly: the small socket buffers fill, a send goes out in part
    # and the transport buffers the rest; the socket drains between batches
    # while the transport still holds a backlog, and later messages must
    # queue behind it instead of going to the socket first.
    messages = [bytes([n % 251]) * (1 + n * 7919 % 4000) for n in range(600)]

    async def main():
        async def handler(ws):
            ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            most_buffered = 0
            for start in range(0, len(messages), 20):
                for message in messages[start : start + 20]:
                    broadcast([ws], message)
                    most_buffered = max(most_buffered, ws.transport.get_write_buffer_size())
                # Let the loop run: the client reads, the transport writes.
                await asyncio.sleep(0)
            await ws.send(str(most_buffered))
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port_of(server)))
            # max_queue=1: the client stops reading after a frame or two.
            async with connect("ws://127.0.0.1/", sock=sock, compression=None, max_queue=1) as ws:
                received = [await ws.recv() for _ in messages]
                return received, int(await ws.recv())

    received, most_buffered = run(main(), loop_factory=loop_factory)
    assert received == messages
    # The transport did hold a backlog: the case above happened.
    assert most_buffered > 0


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_message_arriving_after_recv_was_cancelled_is_kept(loop_factory):
    # The cancelled recv()'s waiter is done until its task runs: the
    # receive path must neither fail on it nor lose the message.
    async def main():
        async def handler(ws):
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None) as ws:
                task = asyncio.ensure_future(ws.recv())
                await asyncio.sleep(0)  # the task now waits for a message
                task.cancel()
                ws.data_received(b"\x81\x01x")  # a text frame from the server
                with pytest.raises(asyncio.CancelledError):
                    await task
                return await ws.recv()

    assert run(main(), loop_factory=loop_factory) == "x"
