"""Microbenchmarks of the hot paths, for pytest-benchmark.

    pytest bench/ --benchmark-only                  # measure (see bench/README.md)
    pytest bench/ --benchmark-disable               # run each once, as tests

Each benchmark group holds one operation on one input, and a row per
implementation: the compiled module (``compiled``), its pure-Python twin
(``pure``, websockets_fast/_pyspeedups/), and websockets where it has the
same operation: its C ``websockets.speedups.apply_mask`` for masking, its
Python parsers and serializer for frames and HTTP. Validation has no
websockets counterpart: websockets validates text by decoding it,
``bytes.decode`` is that row. The frame queue's reference is a
``collections.deque``.

Every benchmark first checks that the call gives the right answer, so
that ``--benchmark-disable`` is a test run. The inputs are those of
``python -m bench micro`` (bench/micro_frames_http.py) where both have them.
"""

import collections
import importlib

import pytest

from bench import micro_frames_http as micro
from bench.micro_frames_http import BROWSER_REQUEST, FRAME_COUNT, FRAME_SIZE, KEY, SERVER_RESPONSE, frame_stream
from bench.micro_mask_utf8 import ascii_text
from websockets_fast._pyspeedups import frames as pure_frames
from websockets_fast._pyspeedups import http as pure_http
from websockets_fast._pyspeedups import mask as pure_mask
from websockets_fast._pyspeedups import ringbuffer as pure_ringbuffer
from websockets_fast._pyspeedups import utf8 as pure_utf8


def _compiled(name):
    try:
        return importlib.import_module(f"websockets_fast._speedups.{name}")
    except ImportError:  # not built: bench/conftest.py says so in the header
        return None


compiled_mask = _compiled("mask")
compiled_utf8 = _compiled("utf8")
compiled_frames = _compiled("frames")
compiled_http = _compiled("http")
compiled_ringbuffer = _compiled("ringbuffer")

try:
    from websockets.speedups import apply_mask as websockets_apply_mask
except ImportError:  # websockets 17 needs Python 3.11+, or built without C
    websockets_apply_mask = None

SIZES = [
    pytest.param(6, id="6 B"),
    pytest.param(125, id="125 B"),
    pytest.param(64 * 1024, id="64 KiB"),
    pytest.param(1024 * 1024, id="1 MiB"),
]


def size_label(size):
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale:
            return f"{size // scale} {unit}"
    return f"{size} B"


def payload(size):
    # Deterministic, and not one repeated byte, which some code could
    # special-case.
    return bytes((index * 131 + 7) & 0xFF for index in range(size))


def multibyte_text(size):
    """Valid UTF-8 of exactly ``size`` bytes: characters of 2, 3 and 4 bytes
    in turn, the tail padded with ASCII."""
    text = ("é€😀" * (size // 9 + 1)).encode()[:size].decode("utf-8", "ignore").encode()
    return text + b"a" * (size - len(text))


def need(implementation, what):
    if implementation is None:
        # The compiled modules are built or not; websockets (3.11+) installed
        # or not.
        pytest.skip(f"{what}: {'not built' if what.startswith('compiled') else 'not installed'}")
    return implementation


def reference_mask(data):
    return bytes(byte ^ KEY[index % 4] for index, byte in enumerate(data))


# Masking.

MASKERS = {
    "compiled apply_mask": lambda: compiled_mask and compiled_mask.apply_mask,
    "pure apply_mask": lambda: pure_mask.apply_mask,
    "websockets C apply_mask": lambda: websockets_apply_mask,
    "compiled apply_mask_inplace": lambda: compiled_mask and compiled_mask.apply_mask_inplace,
    "pure apply_mask_inplace": lambda: pure_mask.apply_mask_inplace,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("implementation", list(MASKERS))
def test_mask(benchmark, implementation, size):
    benchmark.group = f"mask {size_label(size)}"
    function = need(MASKERS[implementation](), implementation)
    data = payload(size)
    expected = reference_mask(data)
    if implementation.endswith("_inplace"):
        buffer = bytearray(data)
        function(buffer, KEY)
        assert buffer == expected
        # Each call flips the buffer between masked and unmasked: the same
        # work every time.
        benchmark(function, buffer, KEY)
    else:
        assert benchmark(function, data, KEY) == expected


# UTF-8 validation.

VALIDATORS = {
    "compiled validate_utf8": lambda: compiled_utf8 and compiled_utf8.validate_utf8,
    "pure validate_utf8": lambda: pure_utf8.validate_utf8,
    "bytes.decode": lambda: bytes.decode,
}
TEXTS = {"ASCII": ascii_text, "multibyte": multibyte_text}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", list(TEXTS))
@pytest.mark.parametrize("implementation", list(VALIDATORS))
def test_utf8(benchmark, implementation, kind, size):
    benchmark.group = f"utf8 {kind} {size_label(size)}"
    function = need(VALIDATORS[implementation](), implementation)
    text = TEXTS[kind](size)
    assert len(text) == size
    if function is bytes.decode:
        assert benchmark(function, text, "utf-8") == text.decode()
    else:
        assert benchmark(function, text) is True
        assert function(text + b"\xff") is False


# Frames.

FRAMES = {"compiled": lambda: compiled_frames, "pure": lambda: pure_frames}


@pytest.mark.parametrize("size", [pytest.param(125, id="125 B"), pytest.param(64 * 1024, id="64 KiB")])
@pytest.mark.parametrize("implementation", list(FRAMES))
def test_parse_header(benchmark, implementation, size):
    benchmark.group = f"frame header parse, masked, {size_label(size)} payload"
    module = need(FRAMES[implementation](), implementation)
    header = pure_frames.serialize_header(True, 2, size, 0, KEY)
    fin, rsv, opcode, masked, length, mask_key, header_length = benchmark(module.parse_header, header)
    assert (fin, rsv, opcode, masked, length, bytes(mask_key), header_length) == (
        True, 0, 2, True, size, KEY, len(header)
    )


@pytest.mark.parametrize("implementation", list(FRAMES) + ["websockets Frame.parse"])
def test_frame_parser(benchmark, implementation):
    benchmark.group = f"frame parse, {FRAME_COUNT} x {FRAME_SIZE} B masked frames in one read"
    data = frame_stream()
    if implementation == "websockets Frame.parse":
        need(micro.PeerFrame, "websockets")
        frames = benchmark(micro.peer_frame_parse(data))
        payloads = [bytes(frame.data) for frame in frames]
    else:
        module = need(FRAMES[implementation](), implementation)

        def parse():
            return module.FrameParser(True, max_size=2**21).feed(data)

        frames = benchmark(parse)
        payloads = [bytes(payload) for fin, rsv, opcode, payload in frames]
    assert payloads == [bytes(range(FRAME_SIZE))] * FRAME_COUNT


@pytest.mark.parametrize("implementation", list(FRAMES))
def test_serialize_header(benchmark, implementation):
    benchmark.group = "frame header build, masked, 125 B payload"
    module = need(FRAMES[implementation](), implementation)
    header = benchmark(module.serialize_header, True, 2, 125, 0, KEY)
    assert bytes(header) == b"\x82\xfd" + KEY


@pytest.mark.parametrize("size", [pytest.param(125, id="125 B"), pytest.param(64 * 1024, id="64 KiB")])
@pytest.mark.parametrize("implementation", list(FRAMES) + ["websockets Frame.serialize"])
def test_build_frame(benchmark, implementation, size):
    benchmark.group = f"frame build, masked, {size_label(size)} payload"
    data = payload(size)
    if implementation == "websockets Frame.serialize":
        Frame = need(micro.PeerFrame, "websockets")
        frame = benchmark(lambda: Frame(micro.PeerOpcode.BINARY, data).serialize(mask=True))
        # websockets draws a random key: unmask with the key it wrote.
        parsed = pure_frames.parse_header(frame)
    else:
        module = need(FRAMES[implementation](), implementation)
        frame = benchmark(module.build_frame, True, 2, data, 0, KEY)
        parsed = module.parse_header(frame)
    fin, rsv, opcode, masked, length, mask_key, header_length = parsed
    assert (fin, opcode, masked, length) == (True, 2, True, size)
    assert pure_mask.apply_mask(bytes(frame[header_length:]), bytes(mask_key)) == data


# HTTP.

HTTP = {"compiled": lambda: compiled_http, "pure": lambda: pure_http}


@pytest.mark.parametrize("implementation", list(HTTP) + ["websockets Request.parse"])
def test_parse_request(benchmark, implementation):
    benchmark.group = f"http request parse, browser handshake, {len(BROWSER_REQUEST)} B"
    if implementation == "websockets Request.parse":
        need(micro.PeerFrame, "websockets")
        request = benchmark(micro.peer_http(True, BROWSER_REQUEST))
        assert request.path == "/chat" and request.headers["Sec-WebSocket-Version"] == "13"
    else:
        module = need(HTTP[implementation](), implementation)
        parsed = benchmark(module.parse_request, BROWSER_REQUEST)
        assert parsed is not None and parsed[:3] == ("GET", "/chat", "HTTP/1.1")


@pytest.mark.parametrize("implementation", list(HTTP) + ["websockets Response.parse"])
def test_parse_response(benchmark, implementation):
    benchmark.group = f"http response parse, 101, {len(SERVER_RESPONSE)} B"
    if implementation == "websockets Response.parse":
        need(micro.PeerFrame, "websockets")
        response = benchmark(micro.peer_http(False, SERVER_RESPONSE))
        assert response.status_code == 101
    else:
        module = need(HTTP[implementation](), implementation)
        parsed = benchmark(module.parse_response, SERVER_RESPONSE)
        assert parsed is not None and parsed[:3] == ("HTTP/1.1", 101, "Switching Protocols")


# The frame queue.

QUEUES = {"compiled": lambda: compiled_ringbuffer, "pure": lambda: pure_ringbuffer}


@pytest.mark.parametrize("implementation", list(QUEUES) + ["collections.deque"])
def test_frame_queue(benchmark, implementation):
    benchmark.group = "frame queue push + pop, 16 queued"
    if implementation == "collections.deque":
        queue = collections.deque(range(16))
        push, pop = queue.append, queue.popleft
    else:
        module = need(QUEUES[implementation](), implementation)
        queue = module.FrameQueue(32)
        for item in range(16):
            queue.push(item)
        push, pop = queue.push, queue.pop

    def push_pop():
        push(16)
        return pop()

    # First in, first out: the oldest item comes back, and 16 stay queued.
    assert push_pop() == 0
    benchmark(push_pop)
    assert len(queue) == 16
