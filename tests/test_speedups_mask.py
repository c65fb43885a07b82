"""Tests of XOR (un)masking: the compiled module and its pure-Python twin.

Both implementations are tested directly, whichever backend the package
selected, and compared with each other on random inputs. The compiled one is
skipped, with the reason, when it was not built.
"""

import array
import random
import threading
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from websockets_fast._pyspeedups import mask as pure_mask

try:
    from websockets_fast._speedups import mask as compiled_mask
except ImportError:  # installed without a C compiler, or on PyPy
    compiled_mask = None

try:
    from websockets.speedups import apply_mask as websockets_apply_mask
except ImportError:
    websockets_apply_mask = None


NOT_COMPILED = "websockets_fast._speedups.mask is not built (pure-Python install)"
needs_compiled = pytest.mark.skipif(compiled_mask is None, reason=NOT_COMPILED)

IMPLEMENTATIONS = [
    pytest.param(compiled_mask, id="compiled", marks=needs_compiled),
    pytest.param(pure_mask, id="pure"),
]

# Deterministic property tests: the same examples on every run, nothing
# written to disk, no deadline on a busy machine.
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=300)

KEY = b"\x3a\xc5\x0f\xf0"


def reference_mask(data, key):
    """The definition of masking, one byte at a time."""
    data = bytes(data)
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


def random_bytes(length, seed):
    generator = random.Random(seed)
    return bytes(generator.getrandbits(8) for _ in range(length))


def outcome(function, *args):
    """What a call gives: ("ok", result) or ("error", exception class)."""
    try:
        return ("ok", function(*args))
    except Exception as exc:
        return ("error", type(exc))


def inplace_outcome(module, buffer_factory, data, key):
    """Mask a fresh buffer in place; return the outcome and the bytes after."""
    buffer = buffer_factory(data)
    result = outcome(module.apply_mask_inplace, buffer, key)
    return result, bytes(buffer)


# -- apply_mask ------------------------------------------------------------


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_every_length_up_to_300(module):
    data = random_bytes(300, seed=1)
    for length in range(301):
        chunk = data[:length]
        assert module.apply_mask(chunk, KEY) == reference_mask(chunk, KEY), length


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
@pytest.mark.parametrize("length", [4096 + 3, 65536, 65536 + 1, 262144 + 7, 2**20, 2**20 + 5])
def test_large_lengths(module, length):
    # Above 256 KiB the compiled module releases the GIL: same result.
    data = random_bytes(997, seed=length) * (length // 997 + 1)
    data = data[:length]
    expected = (int.from_bytes(data, "big") ^ int.from_bytes((KEY * (length // 4 + 1))[:length], "big")).to_bytes(
        length, "big"
    )
    assert module.apply_mask(data, KEY) == expected
    assert module.apply_mask(bytearray(data), KEY) == expected
    assert module.apply_mask(memoryview(b"123" + data)[3:], KEY) == expected
    buffer = bytearray(b"123" + data)
    module.apply_mask_inplace(memoryview(buffer)[3:], KEY)
    assert buffer[:3] == b"123" and buffer[3:] == expected


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_large_multibyte_item_buffers(module):
    items = array.array("i", range(100_000))  # 400 KB of 4-byte items
    expected = reference_mask(items.tobytes()[:1000], KEY)
    assert module.apply_mask(items, KEY)[:1000] == expected
    assert module.apply_mask(items, KEY) == pure_mask.apply_mask(items.tobytes(), KEY)
    module.apply_mask_inplace(items, KEY)
    assert items.tobytes()[:1000] == expected


def test_twin_memory_is_bounded_on_large_inputs():
    # Masking 1 MiB in one go would hold five 1 MiB temporaries at once.
    data = random_bytes(1000, seed=11) * 1049
    buffer = bytearray(data)
    tracemalloc.start()
    try:
        pure_mask.apply_mask(data, KEY)
        _, peak_new = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        pure_mask.apply_mask_inplace(buffer, KEY)
        _, peak_inplace = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_new < 2 * len(data) + 512 * 1024  # the slices and their join
    assert peak_inplace < 512 * 1024


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_every_alignment(module):
    backing = random_bytes(1100, seed=2)
    lengths = [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255, 256, 257, 300, 1000]
    for offset in range(16):
        for length in lengths:
            view = memoryview(backing)[offset : offset + length]
            assert module.apply_mask(view, KEY) == reference_mask(view, KEY), (offset, length)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_accepts_bytes_like_and_returns_bytes(module):
    data = random_bytes(77, seed=3)
    expected = reference_mask(data, KEY)
    for value in (data, bytearray(data), memoryview(data), memoryview(bytearray(data))):
        for key in (KEY, bytearray(KEY), memoryview(KEY), memoryview(b"xx" + KEY)[2:]):
            result = module.apply_mask(value, key)
            assert type(result) is bytes
            assert result == expected


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_multibyte_item_buffers_are_masked_as_raw_bytes(module):
    items = array.array("i", range(-50, 50))
    assert module.apply_mask(items, KEY) == reference_mask(items.tobytes(), KEY)
    matrix = memoryview(bytes(range(24))).cast("B", (4, 6))
    assert module.apply_mask(matrix, KEY) == reference_mask(bytes(range(24)), KEY)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_masking_twice_restores_the_data(module):
    data = random_bytes(1000, seed=4)
    assert module.apply_mask(module.apply_mask(data, KEY), KEY) == data


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_input_is_not_modified(module):
    data = bytearray(random_bytes(100, seed=5))
    before = bytes(data)
    module.apply_mask(data, KEY)
    assert data == before


@pytest.mark.skipif(websockets_apply_mask is None, reason="websockets.speedups is not installed")
@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_same_as_websockets(module):
    for length in (0, 1, 5, 125, 126, 4099, 65536):
        data = random_bytes(length, seed=length)
        assert module.apply_mask(data, KEY) == websockets_apply_mask(data, KEY)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_threads_masking_at_once(module):
    # Large buffers are masked without the GIL in the compiled module: two
    # threads at once must each get their own, correct result.
    data = random_bytes(1013, seed=10) * 600  # about 600 KB, above 256 KiB
    keys = [b"\x01\x02\x03\x04", b"\xf0\x0f\xaa\x55"]
    expected = [pure_mask.apply_mask(data, key) for key in keys]
    results = [[], []]

    def work(index):
        buffer = bytearray(data)
        for _ in range(3):
            results[index].append(module.apply_mask(data, keys[index]))
        module.apply_mask_inplace(buffer, keys[index])
        results[index].append(bytes(buffer))

    threads = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    for index in range(2):
        assert results[index] == [expected[index]] * 4


# -- apply_mask_inplace ----------------------------------------------------


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_inplace_every_length_up_to_300(module):
    data = random_bytes(300, seed=6)
    for length in range(301):
        buffer = bytearray(data[:length])
        assert module.apply_mask_inplace(buffer, KEY) is None
        assert buffer == reference_mask(data[:length], KEY), length


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_inplace_large(module):
    data = random_bytes(1009, seed=7) * 1100  # about 1.1 MB: the GIL-free path
    buffer = bytearray(data)
    module.apply_mask_inplace(buffer, KEY)
    assert module.apply_mask(buffer, KEY) == data


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_inplace_every_alignment_touches_only_the_view(module):
    original = random_bytes(1100, seed=8)
    lengths = [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255, 256, 257, 300, 1000]
    for offset in range(16):
        for length in lengths:
            backing = bytearray(original)
            view = memoryview(backing)[offset : offset + length]
            module.apply_mask_inplace(view, KEY)
            # Bytes around the view are untouched: no write past either end.
            assert backing[:offset] == original[:offset]
            assert backing[offset + length :] == original[offset + length :]
            assert backing[offset : offset + length] == reference_mask(original[offset : offset + length], KEY)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_inplace_multibyte_item_buffer(module):
    items = array.array("i", range(100))
    expected = reference_mask(items.tobytes(), KEY)
    module.apply_mask_inplace(items, KEY)
    assert items.tobytes() == expected


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_inplace_key_inside_the_buffer(module):
    # The key is read before the buffer changes, even when they overlap.
    original = random_bytes(64, seed=9)
    buffer = bytearray(original)
    module.apply_mask_inplace(buffer, memoryview(buffer)[:4])
    assert buffer == reference_mask(original, original[:4])


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "readonly",
    [b"abcdefgh", memoryview(b"abcdefgh"), memoryview(bytearray(b"abcdefgh")).toreadonly()],
    ids=["bytes", "memoryview-of-bytes", "readonly-memoryview"],
)
def test_inplace_rejects_read_only_buffers(module, readonly):
    before = bytes(readonly)
    with pytest.raises(TypeError):
        module.apply_mask_inplace(readonly, KEY)
    assert bytes(readonly) == before


# -- bad arguments -----------------------------------------------------------


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
@pytest.mark.parametrize("key", [b"", b"\x01", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05", bytearray(8)])
def test_bad_key_length(module, key):
    with pytest.raises(ValueError, match="mask must contain 4 bytes"):
        module.apply_mask(b"data", key)
    buffer = bytearray(b"data")
    with pytest.raises(ValueError, match="mask must contain 4 bytes"):
        module.apply_mask_inplace(buffer, key)
    assert buffer == b"data"


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
@pytest.mark.parametrize("value", ["text", 1234, None, [1, 2, 3, 4]], ids=["str", "int", "None", "list"])
def test_not_bytes_like_is_a_type_error(module, value):
    with pytest.raises(TypeError):
        module.apply_mask(value, KEY)
    with pytest.raises(TypeError):
        module.apply_mask(b"data", value)
    with pytest.raises(TypeError):
        module.apply_mask_inplace(value, KEY)
    with pytest.raises(TypeError):
        module.apply_mask_inplace(bytearray(b"data"), value)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_non_contiguous_buffers_are_a_buffer_error(module):
    strided = memoryview(bytearray(range(32)))[::2]
    with pytest.raises(BufferError):
        module.apply_mask(strided, KEY)
    with pytest.raises(BufferError):
        module.apply_mask_inplace(strided, KEY)
    assert bytes(strided) == bytes(range(0, 32, 2))
    with pytest.raises(BufferError):
        module.apply_mask(b"data", memoryview(b"\x01\x02\x03\x04\x05\x06\x07\x08")[::2])


# -- compiled against twin ---------------------------------------------------


@needs_compiled
@PROPERTY
@given(
    data=st.binary(max_size=600),
    key=st.binary(min_size=3, max_size=5),
    offset=st.integers(0, 15),
    kind=st.sampled_from(["bytes", "bytearray", "memoryview", "strided"]),
)
def test_compiled_equals_twin(data, key, offset, kind):
    padded = b"\xaa" * offset + data
    if kind == "bytes":
        value = padded[offset:]
    elif kind == "bytearray":
        value = bytearray(padded[offset:])
    elif kind == "memoryview":
        value = memoryview(padded)[offset:]
    else:
        value = memoryview(padded)[offset::2]
    assert outcome(compiled_mask.apply_mask, value, key) == outcome(pure_mask.apply_mask, value, key)


@needs_compiled
@PROPERTY
@given(
    data=st.binary(max_size=600),
    key=st.binary(min_size=3, max_size=5),
    offset=st.integers(0, 15),
    kind=st.sampled_from(["bytearray", "memoryview", "readonly", "strided"]),
)
def test_compiled_equals_twin_inplace(data, key, offset, kind):
    def make(data):
        backing = bytearray(b"\x55" * offset + data)
        if kind == "bytearray":
            return backing
        if kind == "memoryview":
            return memoryview(backing)[offset:]
        if kind == "readonly":
            return memoryview(backing)[offset:].toreadonly()
        return memoryview(backing)[offset::2]

    assert inplace_outcome(compiled_mask, make, data, key) == inplace_outcome(pure_mask, make, data, key)


def test_switch_exports_the_active_backend():
    speedups = pytest.importorskip("websockets_fast.speedups")
    expected = compiled_mask if speedups.BACKEND == "compiled" else pure_mask
    assert speedups.apply_mask is expected.apply_mask
    assert speedups.apply_mask_inplace is expected.apply_mask_inplace
