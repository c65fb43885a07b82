"""Differential fuzz targets: the compiled modules against their twins.

Each target takes one input, ``bytes``, that it decodes into operations
(a :class:`Reader` turns bytes into choices), runs the operations on the
compiled module and on its pure-Python twin separately, and asserts that
everything observable agrees: results, exceptions (class, and message for
the library's own errors), and state read back after each step. Any input
is valid: atheris and hypothesis both feed raw bytes.

The operations reach the paths where Python code runs in the middle of
compiled code (finalizers, validators, re-initialisation), so that a build
with AddressSanitizer (tests/sanitize.sh) catches what the comparison can't.
"""

import importlib
import importlib.util
import sys
import zlib

NAMES = ("mask", "utf8", "frames", "http", "ringbuffer")
PURE = {name: importlib.import_module(f"websockets_fast._pyspeedups.{name}") for name in NAMES}
try:
    COMPILED = {name: importlib.import_module(f"websockets_fast._speedups.{name}") for name in NAMES}
except ImportError:  # not built: nothing to compare
    COMPILED = None

# Every loop over an input's operations stops here, whatever its length.
MAX_STEPS = 64


class Reader:
    """Choices drawn from the bytes of an input; past its end, zeros.

    Zero, the choice at the end of every input, is never the rare one.
    """

    def __init__(self, data):
        self.data = bytes(data)
        self.position = 0

    @property
    def done(self):
        return self.position >= len(self.data)

    def byte(self):
        if self.position >= len(self.data):
            return 0
        self.position += 1
        return self.data[self.position - 1]

    def below(self, n):
        """An int in range(n) (n <= 65536)."""
        if n <= 1:
            return 0
        value = self.byte() if n <= 256 else self.byte() << 8 | self.byte()
        return value % n

    def flag(self):
        return self.byte() & 1 == 1

    def choice(self, options):
        return options[self.below(len(options))]

    def mostly(self, good, bad):
        """One of ``good``, or now and then one of ``bad``."""
        return self.choice(bad) if self.below(16) == 15 else self.choice(good)

    def take(self, n):
        chunk = self.data[self.position : self.position + n]
        self.position += len(chunk)
        return chunk

    def blob(self, max_size):
        return self.take(self.below(max_size + 1))


def outcome(call, *args, **kwargs):
    """What a call does, in a form that two implementations can agree on."""
    try:
        return ("returned", call(*args, **kwargs))
    except Exception as exc:
        return ("raised",) + describe(exc)


def describe(exc):
    # The library's own messages must match; messages written by CPython for
    # a wrong type differ between a C call and a memoryview().
    if isinstance(exc, (ValueError, IndexError, RuntimeError)) and not isinstance(exc, UnicodeDecodeError):
        return type(exc).__name__, str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return type(exc).__name__, exc.reason
    return (type(exc).__name__,)


def as_buffer(data, kind):
    """data as bytes, bytearray, a memoryview slice or a strided view."""
    if kind == 1:
        return bytearray(data)
    if kind == 2:
        return memoryview(b"." + data + b".")[1:-1]
    if kind == 3 and len(data) > 1:
        return memoryview(data)[::2]  # not C-contiguous: BufferError
    return data


def differential(run):
    """Run ``run(modules)`` on both backends and compare what they return."""

    def target(data):
        if COMPILED is None:
            return
        expected = run(PURE, data)
        actual = run(COMPILED, data)
        assert actual == expected, f"compiled {actual!r}\n    pure {expected!r}"

    target.__name__ = run.__name__
    return target


# mask ------------------------------------------------------------------------


@differential
def mask(modules, data):
    module = modules["mask"]
    r = Reader(data)
    log = []
    for _ in range(r.below(4) + 1):
        key = r.take(4) if r.below(8) else r.blob(6)
        payload = r.blob(300)
        log.append(outcome(module.apply_mask, as_buffer(payload, r.below(4)), as_buffer(key, r.below(3))))
        target = bytearray(payload)
        view = memoryview(target)
        # The key may be a view into the buffer being masked.
        inplace_key = view[:4] if r.below(4) == 0 and len(target) >= 4 else key
        log.append(outcome(module.apply_mask_inplace, view if r.flag() else target, inplace_key))
        view.release()
        log.append(bytes(target))
        log.append(outcome(module.apply_mask_inplace, bytes(payload), key))
    return log


# utf8 ------------------------------------------------------------------------

# Byte sequences around the edges of well-formed UTF-8 (Unicode table 3-7).
EDGES = (
    b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xe0\x9f\xbf", b"\xed\x9f\xbf", b"\xed\xa0\x80",
    b"\xee\x80\x80", b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x8f\xbf\xbf",
    b"\xf4\x90\x80\x80", b"\xc0\x80", b"\xc1\xbf", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xbf",
)


def utf8_text(r, max_parts):
    """Mostly UTF-8: ASCII runs, encoded code points, edge sequences, noise."""
    parts = []
    for _ in range(r.below(max_parts + 1)):
        kind = r.below(6)
        if kind == 0:
            parts.append(b"a" * r.below(80))
        elif kind == 1:
            code = r.below(65536) << 5 | r.below(32)
            code %= 0x110000
            if 0xD800 <= code < 0xE000:
                code -= 0x800
            parts.append(chr(code).encode())
        elif kind == 2:
            parts.append(r.choice(EDGES))
        elif kind == 3:
            parts.append(r.choice(EDGES)[: r.below(3) + 1])
        else:
            parts.append(r.blob(8))
    return b"".join(parts)


def utf8_reference(data):
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@differential
def utf8(modules, data):
    module = modules["utf8"]
    r = Reader(data)
    text = utf8_text(r, 12)
    log = [outcome(module.validate_utf8, as_buffer(text, r.below(4)))]
    if log[0][0] == "returned" and log[0][1] != utf8_reference(text):
        log.append(("disagrees with bytes.decode", text))
    validator = module.Utf8Validator()
    for _ in range(r.below(6) + 1):
        chunk = utf8_text(r, 4)
        op = r.below(8)
        if op == 0:
            validator.reset()
            log.append("reset")
        else:
            log.append(outcome(validator.feed, as_buffer(chunk, r.below(4)), final=op == 1))
    return log


# http ------------------------------------------------------------------------

HEAD_PIECES = (
    b"GET", b" ", b"/chat", b" ", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"\r\n", b"\r\n", b"\n", b"\r",
    b"Host", b": ", b"example.com", b"Upgrade", b":", b"websocket", b"\t", b" ", b"x-\xff", b"\x00", b"\x7f",
    b"101", b"200", b"099", b"600", b"Switching Protocols", b"\xe9t\xe9", b"(", b"@", b"a" * 40, b"\r\n\r\n",
)


def http_head(r, response):
    if r.below(8) == 0:
        return r.blob(200)
    first = b"HTTP/1.1 101 Switching Protocols\r\n" if response else b"GET /chat HTTP/1.1\r\n"
    parts = [first] if r.below(4) else []
    for _ in range(r.below(24)):
        parts.append(r.choice(HEAD_PIECES) if r.below(6) else r.blob(6))
    if r.below(4):
        parts.append(b"\r\n\r\n")
    data = b"".join(parts)
    if r.below(4) == 0 and data:
        # One byte changed.
        position = r.below(len(data))
        data = data[:position] + bytes([r.byte()]) + data[position + 1 :]
    return data


@differential
def http(modules, data):
    module = modules["http"]
    r = Reader(data)
    log = []
    for _ in range(r.below(3) + 1):
        response = r.flag()
        head = http_head(r, response)
        limits = {}
        if r.flag():
            limits["max_line"] = r.below(80) - 2
        if r.flag():
            limits["max_headers"] = r.below(6) - 1
        parse = module.parse_response if response else module.parse_request
        log.append(outcome(parse, as_buffer(head, r.below(4)), **limits))
        # The same head, received so far.
        log.append(outcome(parse, head[: r.below(len(head) + 1)], **limits))
    return log


# frames ----------------------------------------------------------------------


class Slotted:
    __slots__ = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")


class Subclass(Slotted):
    __slots__ = ("extra", "__dict__", "__weakref__")


class Wide:
    # The same fields at other offsets, past the end of a Slotted.
    __slots__ = tuple(f"pad{i}" for i in range(12)) + ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")


class DictBased(dict):
    __slots__ = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")


OPCODES = tuple(f"op{value}" for value in range(16))


def frame_stream(r, mask_keys):
    """Frames, mostly well formed, with UTF-8-ish text, and some noise."""
    parts = []
    # Mostly following the message rules, to get past them.
    in_message = False
    for _ in range(r.below(8)):
        kind = r.below(24)
        if kind == 0:
            parts.append(r.blob(20))
            continue
        opcode = r.mostly((0, 0, 0, 8, 9, 10) if in_message else (1, 1, 2, 8, 9, 10), (0, 1, 3, 7, 11, 15))
        payload = utf8_text(r, 6) if opcode in (0, 1) and r.below(4) else r.blob(40)
        if kind == 1:
            payload += b"a" * (r.below(4) << 8)
        if opcode >= 8 and len(payload) > 125 and r.below(8):
            payload = payload[:125]
        fin = r.below(4) != 0 or opcode >= 8
        if opcode < 8:
            in_message = not fin
        rsv = r.below(8) if r.below(16) == 15 else 0
        key = None
        flip = r.below(12) == 11  # now and then, not as the parser expects
        if mask_keys != flip:
            key = r.take(4).ljust(4, b"\x00")
        parts.append(PURE["frames"].build_frame(fin, opcode, payload, rsv=rsv, mask_key=key))
    return b"".join(parts)


def parser_args(r, mask_expected=None):
    kwargs = {}
    args = [r.flag() if mask_expected is None or r.below(8) == 7 else mask_expected]
    if r.flag():
        kwargs["max_size"] = r.mostly((None, 0, 5, 50, 300, 2**70), (-1, "1"))
    if r.flag():
        kwargs["max_frame_size"] = r.mostly((None, 0, 10, 125, 1000), (-1,))
    if r.flag():
        kwargs["allowed_rsv"] = r.mostly((0, 4, 7), (8, -1))
    if r.below(4):
        kwargs["frame_class"] = r.mostly((Slotted, Slotted, Subclass, Wide), (DictBased, dict, "Slotted"))
        kwargs["opcodes"] = r.mostly((OPCODES,), (OPCODES[:3], OPCODES * 2, iter(OPCODES)))
        kwargs["max_fragments"] = r.mostly((None, None, 1, 2, 5), (-1,))
        kwargs["utf8"] = r.below(4) != 0
    return args, kwargs


def parser_state(parser):
    exc = parser.exc
    return (
        None if exc is None else describe(exc),
        parser.buffered,
        parser.missing,
        parser.control_frames,
        getattr(parser, "fragments_exceeded", None),
        parser.max_size,
        parser.max_frame_size,
        parser.allowed_rsv,
        parser.mask_expected,
    )


def frame_tuple(frame):
    if type(frame) is tuple:
        return frame
    if type(frame) is bytes or type(frame) is str:
        # A whole message from feed_messages().
        return (type(frame).__name__, frame)
    return (type(frame).__name__, frame.opcode, frame.data, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3)


class CallingBack:
    """A validator that calls back into the parser while it parses."""

    def __init__(self, validator, action, parser_box):
        self.validator = validator
        self.action = action
        self.parser_box = parser_box

    def reset(self):
        self.validator.reset()

    def feed(self, data, final=False):
        action, self.action = self.action, None
        if action is not None:
            self.parser_box.append(outcome(action, self.parser_box[0]))
        return self.validator.feed(data, final)


def make_validator(modules, kind, box):
    validator = modules["utf8"].Utf8Validator()
    if kind == 1:
        return CallingBack(validator, lambda parser: parser.feed(b"\x82\x00"), box)
    if kind == 2:
        return CallingBack(validator, lambda parser: parser.__init__(False), box)
    return validator


@differential
def frames(modules, data):
    module = modules["frames"]
    r = Reader(data)
    log = []
    # The header functions, on noise and on chosen arguments.
    noise = r.blob(16)
    log.append(outcome(module.parse_header, as_buffer(noise, r.below(4)), r.below(20) - 2))
    header_args = (r.flag(), r.below(18) - 1, r.choice((0, 1, 125, 126, 65535, 65536, 2**63 - 1, 2**63, -1)))
    rsv, key = r.below(9), r.choice((None, b"abcd", b"abc", bytearray(b"wxyz")))
    log.append(outcome(module.serialize_header, *header_args, rsv=rsv, mask_key=key))
    payload = r.blob(30)
    log.append(outcome(module.build_frame, header_args[0], header_args[1], payload, rsv=rsv, mask_key=key))
    writes = []
    log.append(outcome(module.append_frame, writes, header_args[0], header_args[1], payload, rsv, key))
    log.append(writes)

    args, kwargs = parser_args(r)
    box = []
    if kwargs.get("utf8"):
        kwargs["utf8"] = make_validator(modules, r.below(8), box)
    else:
        kwargs.pop("utf8", None)
    made = outcome(module.FrameParser, *args, **kwargs)
    log.append(made[0] if made[0] == "returned" else made)
    if made[0] != "returned":
        return log
    parser = made[1]
    box.append(parser)
    stream = frame_stream(r, args[0])
    position = 0
    for _ in range(MAX_STEPS):
        if r.done and position >= len(stream):
            break
        op = r.below(12)
        if op < 8 or r.done:
            size = r.below(len(stream) - position + 1) if op else len(stream) - position
            chunk = stream[position : position + size]
            position += size
            feed = parser.feed_messages if r.flag() else parser.feed
            result = outcome(feed, as_buffer(chunk, r.below(3)))
            if result[0] == "returned":
                result = ("returned", [frame_tuple(frame) for frame in result[1]])
            log.append(result)
        elif op == 8:
            parser.utf8 = make_validator(modules, r.below(4), box) if r.flag() else None
            log.append("utf8")
        elif op == 9:
            name = r.choice(("max_size", "max_frame_size", "allowed_rsv", "max_fragments"))
            log.append(outcome(setattr, parser, name, r.mostly((None, 0, 3, 4, 100), (8, -1))))
        elif op == 10:
            args, kwargs = parser_args(r, parser.mask_expected)
            if kwargs.pop("utf8", False):
                kwargs["utf8"] = make_validator(modules, 0, box)
            log.append(outcome(parser.__init__, *args, **kwargs))
        else:
            stream += frame_stream(r, parser.mask_expected)
        log.append(parser_state(parser))
        log.append(box[1:])
    return log


# ringbuffer ------------------------------------------------------------------


class Finalizing:
    """An item that uses the queue from its finalizer, as a frame's owner might."""

    def __init__(self, queue, action, log):
        self.queue = queue
        self.action = action
        self.log = log

    # How many finalizers are running, one inside the other. Past about 50
    # nested deallocations CPython defers the next ones (its "trashcan"),
    # at depths that differ between the backends' call paths: the chains
    # stop well before.
    nested = 0

    def __del__(self):
        queue, log = self.queue, self.log
        if Finalizing.nested >= 8:
            log.append("finalizer too deep")
            return
        Finalizing.nested += 1
        try:
            self.act(queue, log)
        finally:
            Finalizing.nested -= 1

    def act(self, queue, log):
        if self.action == 0:
            queue.push("pushed by a finalizer")
        elif self.action == 1:
            log.append(("finalizer pop", item_name(outcome(queue.pop)[-1])))
        elif self.action == 2:
            queue.clear()
        elif self.action == 3:
            for _ in range(5):
                queue.push("pushed by a finalizer")
        else:
            log.append(("finalizer len", len(queue), queue.paused))


class Fin:
    __slots__ = ("fin",)

    def __init__(self, fin):
        self.fin = fin


def item_name(item):
    # Numbers and strings as they are; objects by class, not identity.
    return item if type(item) in (int, str) else type(item).__name__


def marks(r):
    return r.mostly((None, 0, 1, 2, 4, 16, 2**70), (-1, "1")), r.mostly((None, None, 0, 1, 3), (-1, 100))


@differential
def ringbuffer(modules, data):
    module = modules["ringbuffer"]
    r = Reader(data)
    log = []
    made = outcome(module.FrameQueue, *marks(r), lambda: log.append("pause"), lambda: log.append("resume"))
    log.append(made[0] if made[0] == "returned" else made)
    if made[0] != "returned":
        return log
    queue = made[1]
    counter = 0
    for _ in range(MAX_STEPS * 4):
        if r.done:
            break
        op = r.below(16)
        if op < 5:
            counter += 1
            queue.push(counter)
        elif op < 7:
            queue.push(Finalizing(queue, r.below(5), log))
        elif op < 10:
            result = outcome(queue.pop)
            log.append(("pop", result[:-1] + (item_name(result[-1]),)))
            del result  # the finalizer, if any, runs here in both
        elif op == 10:
            result = outcome(queue.peek)
            log.append(("peek", result[:-1] + (item_name(result[-1]),)))
            del result
        elif op == 11:
            queue.clear()
        elif op == 12:
            log.append(("push_frames", outcome(queue.push_frames, [Fin(r.flag()) for _ in range(r.below(9))])))
        elif op == 13:
            log.append(("init", outcome(queue.__init__, *marks(r), lambda: log.append("pause2"), None)))
        elif op == 14:
            queue.detach()
        else:
            log.append(("state", len(queue), bool(queue), queue.paused, queue.high, queue.low))
    log.append(("end", len(queue), queue.paused))
    queue.clear()
    return log


# protocol with permessage-deflate -------------------------------------------


def _protocol_copy(modules):
    """websockets_fast.protocol, with the speedups of ``modules`` bound in it."""
    import types

    from websockets_fast import speedups

    namespace = types.ModuleType("websockets_fast.speedups")
    namespace.__dict__.update(vars(speedups))
    for module in modules.values():
        for name in module.__all__:
            setattr(namespace, name, getattr(module, name))
    # protocol.py ends by swapping in its compiled build on the compiled
    # backend: the pure copy must keep its own Protocol, bound to the twins.
    namespace.BACKEND = "compiled" if modules is COMPILED else "pure"
    spec = importlib.util.find_spec("websockets_fast.protocol")
    copy = importlib.util.module_from_spec(spec)
    saved = sys.modules["websockets_fast.speedups"]
    sys.modules["websockets_fast.speedups"] = namespace
    try:
        spec.loader.exec_module(copy)
    finally:
        sys.modules["websockets_fast.speedups"] = saved
    return copy


_PROTOCOLS = {}


def _protocol_module(modules):
    key = id(modules)
    if key not in _PROTOCOLS:
        _PROTOCOLS[key] = _protocol_copy(modules)
    return _PROTOCOLS[key]


def deflate(data, context):
    compressor = context or zlib.compressobj(1, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(b"\x00\x00\xff\xff") else out


def event_tuple(event):
    return (int(event.opcode), event.data, event.fin, event.rsv1, event.rsv2, event.rsv3)


@differential
def protocol(modules, data):
    from websockets_fast.extensions.permessage_deflate import PerMessageDeflate

    module = _protocol_module(modules)
    frames_module = modules["frames"]
    r = Reader(data)
    side = module.Side.SERVER if r.below(4) else module.Side.CLIENT
    protocol = module.Protocol(side, max_size=r.choice((2**20, 100, 1000, None)), max_fragments=r.choice((4096, 2)))
    if r.below(4):
        window = r.choice((9, 12, 15))
        protocol.extensions = [PerMessageDeflate(r.flag(), r.flag(), window, window)]
    log = []
    masked = side == module.Side.SERVER
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    for _ in range(MAX_STEPS):
        if r.done:
            break
        op = r.below(10)
        if op < 6:
            opcode = r.choice((1, 2, 0, 9, 10, 8, 1))
            payload = utf8_text(r, 6) if r.flag() else r.blob(60)
            rsv = 0
            if r.below(3) == 0 and opcode < 8:
                payload = deflate(payload, compressor if r.flag() else None)
                rsv = 4
            if r.below(10) == 9:
                rsv |= r.below(8)
            if opcode == 8 and r.flag():
                payload = (r.choice((1000, 1001, 1002, 999, 4000, 1005)) % 65536).to_bytes(2, "big") + payload[:20]
            key = b"\x01\x02\x03\x04" if masked != (r.below(16) == 15) else None
            frame = frames_module.build_frame(r.below(4) != 0 or opcode >= 8, opcode, payload[:125] if opcode >= 8 else payload, rsv=rsv, mask_key=key)
            cut = r.below(len(frame) + 1)
            log.append(outcome(protocol.receive_data, frame[:cut]))
            log.append(outcome(protocol.receive_data, frame[cut:]))
        elif op == 6:
            log.append(outcome(protocol.receive_data, r.blob(12)))
        elif op == 7:
            payload = utf8_text(r, 3)
            which = r.below(4)
            if which < 2:
                call = protocol.send_text if which == 0 else protocol.send_binary
                log.append(outcome(call, payload, fin=r.below(3) != 0))
            else:
                log.append(outcome(protocol.send_ping if which == 2 else protocol.send_pong, payload[:125]))
        elif op == 8:
            log.append(outcome(protocol.send_close, r.choice((None, 1000, 1001, 3000)), "bye"))
        else:
            log.append(outcome(protocol.receive_eof))
        events = [event_tuple(event) for event in protocol.events_received()]
        writes = protocol.data_to_send()
        # A client masks with fresh random keys: compare its writes' sizes.
        log.append((events, writes if masked else [len(write) for write in writes], int(protocol.state)))
        exc = protocol.parser_exc
        log.append(None if exc is None else (type(exc).__name__, str(exc)))
        log.append((protocol.close_code, protocol.close_reason))
    return log


# tests/fuzz/__main__.py names them too.
TARGETS = {
    "mask": mask,
    "utf8": utf8,
    "frames": frames,
    "http": http,
    "ringbuffer": ringbuffer,
    "protocol": protocol,
}
