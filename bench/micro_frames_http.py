"""Microbenchmark of frame parsing, HTTP head parsing and the frame queue.

    python bench/micro_frames_http.py [--full]

Each row times one operation in this process, best of N runs, for the
compiled module, its pure-Python twin, and the nearest peer:
- ``FrameParser.feed`` on 1000 concatenated masked 64-byte binary frames
  (parse every header, unmask every payload) against websockets' Sans-I/O
  parser: ``websockets.frames.Frame.parse`` driven by a
  ``websockets.streams.StreamReader``, and the whole
  ``websockets.protocol.Protocol.receive_data`` + ``events_received``;
- the same bytes fed 1460 bytes at a time (frames cut across feeds), and a
  1 MiB masked frame fed 64 KiB at a time;
- ``parse_header``, ``serialize_header`` and ``build_frame`` of one frame;
- ``parse_request`` of a typical browser handshake and ``parse_response`` of
  the server's answer, against websockets' ``http11.Request.parse`` and
  ``http11.Response.parse``;
- ``FrameQueue`` push then pop with 16 frames queued, against a deque.

"x peer" is the peer's time divided by the compiled time (above 1: faster
than the peer); "x twin" the same against the twin. The measurement is
bounded: runs of about 5 ms (1 ms quick), best of 7 (3 quick).
``run(quick)`` returns the rows; the script prints them as a table.
"""

from __future__ import annotations

import collections
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from websockets_fast._pyspeedups import frames as pure_frames
from websockets_fast._pyspeedups import http as pure_http
from websockets_fast._pyspeedups import ringbuffer as pure_ringbuffer

try:
    from websockets_fast._speedups import frames as compiled_frames
    from websockets_fast._speedups import http as compiled_http
    from websockets_fast._speedups import ringbuffer as compiled_ringbuffer
except ImportError:  # a pure-Python install: the compiled columns say n/a
    compiled_frames = compiled_http = compiled_ringbuffer = None

try:
    from websockets.frames import Frame as PeerFrame
    from websockets.frames import Opcode as PeerOpcode
    from websockets.http11 import Request as PeerRequest
    from websockets.http11 import Response as PeerResponse
    from websockets.protocol import Protocol as PeerProtocol
    from websockets.protocol import Side as PeerSide
    from websockets.protocol import State as PeerState
    from websockets.streams import StreamReader as PeerStreamReader
except ImportError:  # no peer installed: the peer columns say n/a
    PeerFrame = None

KEY = b"\x12\x34\x56\x78"
FRAME_COUNT = 1000
FRAME_SIZE = 64
# A typical TCP segment's payload: what one read often returns.
SEGMENT = 1460
# What asyncio's selector loop reads at most at once.
BIG_READ = 65536

BROWSER_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: example.com:8000\r\n"
    b"Connection: Upgrade\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/131.0.0.0 Safari/537.36\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: https://example.com\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: session=4f2a9c1e7b3d; theme=dark\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"\r\n"
)
SERVER_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Date: Tue, 24 Nov 2026 12:00:00 GMT\r\n"
    b"Server: Python/3.11 websockets/17.4\r\n"
    b"\r\n"
)


def best_time(call, quick):
    """Best time of one call of ``call()``, in nanoseconds.

    Calls are grouped into runs of about 5 ms (1 ms when ``quick``) so that
    the clock's resolution does not matter; the best of 7 runs (3 when
    ``quick``) is the least disturbed by other processes on the machine.
    At most 10,000 calls per run.
    """
    target = 0.001 if quick else 0.005
    repeats = 3 if quick else 7
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, min(10_000, int(target / once)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            call()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e9


def row(function, size, compiled, twin, peer_name, peer, quick):
    compiled_ns = best_time(compiled, quick) if compiled else None
    twin_ns = best_time(twin, quick)
    peer_ns = best_time(peer, quick) if peer else None
    return {
        "function": function,
        "input": size,
        "compiled ns": compiled_ns,
        "twin ns": twin_ns,
        "peer": peer_name if peer else None,
        "peer ns": peer_ns,
        "x peer": peer_ns / compiled_ns if compiled_ns and peer_ns else None,
        "x twin": twin_ns / compiled_ns if compiled_ns else None,
    }


def frame_stream():
    payload = bytes(range(FRAME_SIZE))
    return pure_frames.build_frame(True, 2, payload, 0, KEY) * FRAME_COUNT


# Peers: websockets' Sans-I/O parser, as its protocol drives it.


def peer_frame_parse(data):
    def parse():
        reader = PeerStreamReader()
        reader.feed_data(data)
        frames = []
        for _ in range(FRAME_COUNT):
            parser = PeerFrame.parse(reader.read_exact, mask=True, max_size=2**20)
            try:
                next(parser)
            except StopIteration as done:
                frames.append(done.value)
        assert len(frames) == FRAME_COUNT
        return frames

    return parse


def peer_protocol(data, segment=None, count=FRAME_COUNT):
    def receive():
        protocol = PeerProtocol(PeerSide.SERVER, state=PeerState.OPEN, max_size=2**21)
        if segment is None:
            protocol.receive_data(data)
        else:
            for start in range(0, len(data), segment):
                protocol.receive_data(data[start : start + segment])
        events = protocol.events_received()
        assert len(events) == count
        return events

    return receive


def peer_http(is_request, data):
    def call():
        reader = PeerStreamReader()
        reader.feed_data(data)
        if is_request:
            generator = PeerRequest.parse(reader.read_line)
        else:
            generator = PeerResponse.parse(reader.read_line, reader.read_exact, reader.read_to_eof)
        try:
            next(generator)
        except StopIteration as done:
            return done.value
        raise AssertionError("incomplete head")

    return call


# Ours.


def ours_feed(module, data, segment=None, count=FRAME_COUNT):
    if module is None:
        return None

    def feed():
        parser = module.FrameParser(True, max_size=2**21)
        if segment is None:
            frames = parser.feed(data)
        else:
            frames = []
            for start in range(0, len(data), segment):
                frames += parser.feed(data[start : start + segment])
        assert len(frames) == count
        return frames

    return feed


def ours_queue(module):
    if module is None:
        return None
    queue = module.FrameQueue(32)
    for i in range(16):
        queue.push(i)
    push, pop = queue.push, queue.pop

    def push_pop():
        push(1)
        pop()

    return push_pop


def deque_queue():
    queue = collections.deque(range(16))
    append, popleft = queue.append, queue.popleft

    def push_pop():
        append(1)
        popleft()

    return push_pop


def run(quick: bool) -> list[dict]:
    """Run the benchmark (shorter runs when ``quick``); return the table rows."""
    have_peer = PeerFrame is not None
    data = frame_stream()
    label = f"{FRAME_COUNT} x {FRAME_SIZE} B masked"
    c, p = compiled_frames, pure_frames
    header = p.serialize_header(True, 2, FRAME_SIZE, 0, KEY)
    big = p.build_frame(True, 2, os.urandom(2**20), 0, KEY)
    payload = bytes(FRAME_SIZE)
    rows = [
        row(
            "FrameParser.feed",
            label,
            ours_feed(c, data),
            ours_feed(p, data),
            "websockets Frame.parse",
            have_peer and peer_frame_parse(data),
            quick,
        ),
        row(
            "FrameParser.feed",
            label,
            ours_feed(c, data),
            ours_feed(p, data),
            "websockets Protocol",
            have_peer and peer_protocol(data),
            quick,
        ),
        row(
            "FrameParser.feed",
            label + f", {SEGMENT} B reads",
            ours_feed(c, data, SEGMENT),
            ours_feed(p, data, SEGMENT),
            "websockets Protocol",
            have_peer and peer_protocol(data, SEGMENT),
            quick,
        ),
        row(
            "FrameParser.feed",
            f"1 MiB masked, {BIG_READ // 1024} KiB reads",
            ours_feed(c, big, BIG_READ, 1),
            ours_feed(p, big, BIG_READ, 1),
            "websockets Protocol",
            have_peer and peer_protocol(big, BIG_READ, 1),
            quick,
        ),
        row(
            "parse_header",
            "6 B header",
            c and (lambda: c.parse_header(header)),
            lambda: p.parse_header(header),
            None,
            None,
            quick,
        ),
        row(
            "serialize_header",
            "64 B masked",
            c and (lambda: c.serialize_header(True, 2, FRAME_SIZE, 0, KEY)),
            lambda: p.serialize_header(True, 2, FRAME_SIZE, 0, KEY),
            None,
            None,
            quick,
        ),
        row(
            "build_frame",
            "64 B masked",
            c and (lambda: c.build_frame(True, 2, payload, 0, KEY)),
            lambda: p.build_frame(True, 2, payload, 0, KEY),
            "websockets Frame.serialize",
            have_peer and (lambda: PeerFrame(PeerOpcode.BINARY, payload).serialize(mask=True)),
            quick,
        ),
        row(
            "parse_request",
            f"browser handshake, {len(BROWSER_REQUEST)} B",
            compiled_http and (lambda: compiled_http.parse_request(BROWSER_REQUEST)),
            lambda: pure_http.parse_request(BROWSER_REQUEST),
            "websockets Request.parse",
            have_peer and peer_http(True, BROWSER_REQUEST),
            quick,
        ),
        row(
            "parse_response",
            f"101 response, {len(SERVER_RESPONSE)} B",
            compiled_http and (lambda: compiled_http.parse_response(SERVER_RESPONSE)),
            lambda: pure_http.parse_response(SERVER_RESPONSE),
            "websockets Response.parse",
            have_peer and peer_http(False, SERVER_RESPONSE),
            quick,
        ),
        row(
            "FrameQueue push+pop",
            "16 queued",
            ours_queue(compiled_ringbuffer),
            ours_queue(pure_ringbuffer),
            "collections.deque",
            deque_queue(),
            quick,
        ),
    ]
    return rows


def _cell(value):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    rows = run(quick="--full" not in argv)
    keys = list(rows[0])
    cells = [[_cell(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths)))
    for line in cells:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths)))
    if compiled_frames is None:
        print("compiled modules not built: run `python setup.py build_ext --inplace` or `pip install .`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
