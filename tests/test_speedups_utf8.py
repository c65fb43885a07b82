"""Tests of UTF-8 validation: the compiled module and its pure-Python twin.

Both implementations are tested directly, whichever backend the package
selected, and compared with each other and with an oracle built on
``bytes.decode``. The compiled one is skipped, with the reason, when it was
not built.

Fail-fast is the point of the incremental validator: ``feed`` must answer
False at the chunk that holds the first byte no valid UTF-8 string could
have there. The oracle for that is ``is_valid_prefix`` below.
"""

import array
import itertools
import random
import threading
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from websockets_fast._pyspeedups import utf8 as pure_utf8

try:
    from websockets_fast._speedups import utf8 as compiled_utf8
except ImportError:  # installed without a C compiler, or on PyPy
    compiled_utf8 = None


NOT_COMPILED = "websockets_fast._speedups.utf8 is not built (pure-Python install)"
needs_compiled = pytest.mark.skipif(compiled_utf8 is None, reason=NOT_COMPILED)

IMPLEMENTATIONS = [
    pytest.param(compiled_utf8, id="compiled", marks=needs_compiled),
    pytest.param(pure_utf8, id="pure"),
]

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=300)


# -- the oracle --------------------------------------------------------------


def is_valid(data):
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Every way to finish a code point, up to what matters for validity: the
# second byte of a sequence is restricted to 80..BF, A0..BF (after E0),
# 80..9F (after ED), 90..BF (after F0) or 80..8F (after F4), and each of
# these ranges holds 80, 90 or A0; later bytes may always be 80.
COMPLETIONS = [b""] + [bytes([second]) + b"\x80" * more for second in (0x80, 0x90, 0xA0) for more in (0, 1, 2)]


def is_valid_prefix(data):
    """True if some bytes appended to data make valid UTF-8."""
    data = bytes(data)
    # An unfinished code point spans at most the last 3 bytes.
    for split in range(max(0, len(data) - 3), len(data) + 1):
        head, tail = data[:split], data[split:]
        if is_valid(head) and any(is_valid(tail + completion) for completion in COMPLETIONS):
            return True
    return False


def first_bad_index(data):
    """Index of the first byte that no valid UTF-8 string has there, or None."""
    if is_valid_prefix(data):
        return None
    # Not a valid prefix stays not a valid prefix when extended: bisect.
    low, high = 0, len(data) - 1
    while low < high:
        middle = (low + high) // 2
        if is_valid_prefix(data[: middle + 1]):
            low = middle + 1
        else:
            high = middle
    return low


def expected_answers(data, boundaries, final):
    """What feed() must answer for each chunk data[boundaries[i]:boundaries[i+1]]."""
    bad = first_bad_index(data)
    # data[:end] is a valid prefix unless it holds the first bad byte.
    answers = [bad is None or end <= bad for end in boundaries[1:]]
    if final:
        answers[-1] = is_valid(data)
    return answers


def feed_chunks(module, data, boundaries, final):
    validator = module.Utf8Validator()
    last = len(boundaries) - 2
    return [
        validator.feed(data[start:end], final=final and index == last)
        for index, (start, end) in enumerate(zip(boundaries, boundaries[1:]))
    ]


def outcome(function, *args):
    try:
        return ("ok", function(*args))
    except Exception as exc:
        return ("error", type(exc))


# -- Markus Kuhn's UTF-8 decoder stress test, rewritten as byte literals ----
#
# Each case: (name, bytes, where it fails). VALID: the whole string is valid.
# TRUNCATED: every prefix is fine, only the end of the string is missing
# bytes. An int: the index of the first byte that must make feed() fail.

VALID = "valid"
TRUNCATED = "truncated"

STRESS_CASES = [
    # 1 Some correct UTF-8 text
    ("1 kosme", b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", VALID),
    ("autobahn 6.2", b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", VALID),
    # 2.1 First possible sequence of a certain length
    ("2.1.1 U+0000", b"\x00", VALID),
    ("2.1.2 U+0080", b"\xc2\x80", VALID),
    ("2.1.3 U+0800", b"\xe0\xa0\x80", VALID),
    ("2.1.4 U+10000", b"\xf0\x90\x80\x80", VALID),
    ("2.1.5 5 bytes", b"\xf8\x88\x80\x80\x80", 0),
    ("2.1.6 6 bytes", b"\xfc\x84\x80\x80\x80\x80", 0),
    # 2.2 Last possible sequence of a certain length
    ("2.2.1 U+007F", b"\x7f", VALID),
    ("2.2.2 U+07FF", b"\xdf\xbf", VALID),
    ("2.2.3 U+FFFF", b"\xef\xbf\xbf", VALID),
    ("2.2.4 U+1FFFFF", b"\xf7\xbf\xbf\xbf", 0),
    ("2.2.5 U+3FFFFFF", b"\xfb\xbf\xbf\xbf\xbf", 0),
    ("2.2.6 U+7FFFFFFF", b"\xfd\xbf\xbf\xbf\xbf\xbf", 0),
    # 2.3 Other boundary conditions
    ("2.3.1 U+D7FF", b"\xed\x9f\xbf", VALID),
    ("2.3.2 U+E000", b"\xee\x80\x80", VALID),
    ("2.3.3 U+FFFD", b"\xef\xbf\xbd", VALID),
    ("2.3.4 U+10FFFF", b"\xf4\x8f\xbf\xbf", VALID),
    ("2.3.5 U+110000", b"\xf4\x90\x80\x80", 1),
    # 3.1 Unexpected continuation bytes
    ("3.1.1 first continuation byte", b"\x80", 0),
    ("3.1.2 last continuation byte", b"\xbf", 0),
    ("3.1.3 2 continuation bytes", b"\x80\xbf", 0),
    ("3.1.4 3 continuation bytes", b"\x80\xbf\x80", 0),
    ("3.1.5 4 continuation bytes", b"\x80\xbf\x80\xbf", 0),
    ("3.1.6 5 continuation bytes", b"\x80\xbf\x80\xbf\x80", 0),
    ("3.1.7 6 continuation bytes", b"\x80\xbf\x80\xbf\x80\xbf", 0),
    ("3.1.8 7 continuation bytes", b"\x80\xbf\x80\xbf\x80\xbf\x80", 0),
    ("3.1.9 all 64 continuation bytes", bytes(range(0x80, 0xC0)), 0),
    ("3.1 after valid text", b"abc\xc3\xa9\x80", 5),
    # 3.2 Lonely start characters, each followed by a space
    ("3.2.1 2-byte starts", b"".join(bytes([lead, 0x20]) for lead in range(0xC0, 0xE0)), 0),
    ("3.2.1 C2 and a space", b"\xc2\x20", 1),
    ("3.2.2 3-byte starts", b"".join(bytes([lead, 0x20]) for lead in range(0xE0, 0xF0)), 1),
    ("3.2.3 4-byte starts", b"".join(bytes([lead, 0x20]) for lead in range(0xF0, 0xF8)), 1),
    ("3.2.4 5-byte starts", b"".join(bytes([lead, 0x20]) for lead in range(0xF8, 0xFC)), 0),
    ("3.2.5 6-byte starts", b"\xfc\x20\xfd\x20", 0),
    # 3.3 Sequences with the last continuation byte missing
    ("3.3.1 2-byte U+0000", b"\xc0", 0),
    ("3.3.2 3-byte U+0000", b"\xe0\x80", 1),
    ("3.3.3 4-byte U+0000", b"\xf0\x80\x80", 1),
    ("3.3.4 5-byte U+0000", b"\xf8\x80\x80\x80", 0),
    ("3.3.5 6-byte U+0000", b"\xfc\x80\x80\x80\x80", 0),
    ("3.3.6 2-byte U+07FF", b"\xdf", TRUNCATED),
    ("3.3.7 3-byte U+FFFF", b"\xef\xbf", TRUNCATED),
    ("3.3.8 4-byte U+1FFFFF", b"\xf7\xbf\xbf", 0),
    ("3.3.9 5-byte U+3FFFFFF", b"\xfb\xbf\xbf\xbf", 0),
    ("3.3.10 6-byte U+7FFFFFFF", b"\xfd\xbf\xbf\xbf\xbf", 0),
    ("3.3 valid 3-byte prefix", b"\xe2\x82", TRUNCATED),
    ("3.3 valid 4-byte prefix", b"\xf0\x9f\x98", TRUNCATED),
    ("3.3 U+10FFFF prefix", b"\xf4\x8f\xbf", TRUNCATED),
    # 3.4 Concatenation of the incomplete sequences of 3.3
    (
        "3.4 concatenation",
        b"\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80"
        b"\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf",
        0,
    ),
    ("3.4 valid-prefix concatenation", b"\xdf\xef\xbf", 1),
    # 3.5 Impossible bytes
    ("3.5.1 FE", b"\xfe", 0),
    ("3.5.2 FF", b"\xff", 0),
    ("3.5.3 FE FE FF FF", b"\xfe\xfe\xff\xff", 0),
    ("3.5 F5 after text", b"ok \xf5\x80\x80\x80", 3),
    # 4.1 Overlong forms of "/" (U+002F)
    ("4.1.1 2-byte /", b"\xc0\xaf", 0),
    ("4.1.2 3-byte /", b"\xe0\x80\xaf", 1),
    ("4.1.3 4-byte /", b"\xf0\x80\x80\xaf", 1),
    ("4.1.4 5-byte /", b"\xf8\x80\x80\x80\xaf", 0),
    ("4.1.5 6-byte /", b"\xfc\x80\x80\x80\x80\xaf", 0),
    # 4.2 Maximum overlong sequences
    ("4.2.1 U+007F as 2 bytes", b"\xc1\xbf", 0),
    ("4.2.2 U+07FF as 3 bytes", b"\xe0\x9f\xbf", 1),
    ("4.2.3 U+FFFF as 4 bytes", b"\xf0\x8f\xbf\xbf", 1),
    ("4.2.4 U+1FFFFF as 5 bytes", b"\xf8\x87\xbf\xbf\xbf", 0),
    ("4.2.5 U+3FFFFFF as 6 bytes", b"\xfc\x83\xbf\xbf\xbf\xbf", 0),
    # 4.3 Overlong forms of NUL
    ("4.3.1 2-byte NUL", b"\xc0\x80", 0),
    ("4.3.2 3-byte NUL", b"\xe0\x80\x80", 1),
    ("4.3.3 4-byte NUL", b"\xf0\x80\x80\x80", 1),
    ("4.3.4 5-byte NUL", b"\xf8\x80\x80\x80\x80", 0),
    ("4.3.5 6-byte NUL", b"\xfc\x80\x80\x80\x80\x80", 0),
    # 5.1 Single UTF-16 surrogates
    ("5.1.1 U+D800", b"\xed\xa0\x80", 1),
    ("5.1.2 U+DB7F", b"\xed\xad\xbf", 1),
    ("5.1.3 U+DB80", b"\xed\xae\x80", 1),
    ("5.1.4 U+DBFF", b"\xed\xaf\xbf", 1),
    ("5.1.5 U+DC00", b"\xed\xb0\x80", 1),
    ("5.1.6 U+DF80", b"\xed\xbe\x80", 1),
    ("5.1.7 U+DFFF", b"\xed\xbf\xbf", 1),
    ("5.1 surrogate after text", b"\xce\xba\xed\xa0\x80", 3),
    # 5.2 Paired UTF-16 surrogates
    ("5.2.1 U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80", 1),
    ("5.2.2 U+D800 U+DFFF", b"\xed\xa0\x80\xed\xbf\xbf", 1),
    ("5.2.3 U+DB7F U+DC00", b"\xed\xad\xbf\xed\xb0\x80", 1),
    ("5.2.4 U+DB7F U+DFFF", b"\xed\xad\xbf\xed\xbf\xbf", 1),
    ("5.2.5 U+DB80 U+DC00", b"\xed\xae\x80\xed\xb0\x80", 1),
    ("5.2.6 U+DB80 U+DFFF", b"\xed\xae\x80\xed\xbf\xbf", 1),
    ("5.2.7 U+DBFF U+DC00", b"\xed\xaf\xbf\xed\xb0\x80", 1),
    ("5.2.8 U+DBFF U+DFFF", b"\xed\xaf\xbf\xed\xbf\xbf", 1),
    # 5.3 Noncharacters are valid UTF-8
    ("5.3.1 U+FFFE", b"\xef\xbf\xbe", VALID),
    ("5.3.2 U+FFFF", b"\xef\xbf\xbf", VALID),
    ("5.3.3 U+FDD0", b"\xef\xb7\x90", VALID),
    ("5.3.4 U+10FFFE", b"\xf4\x8f\xbf\xbe", VALID),
    # Edges of the restricted second bytes
    ("E0 A0 (smallest 3-byte)", b"\xe0\xa0\x80", VALID),
    ("ED 9F (last before surrogates)", b"\xed\x9f\x80", VALID),
    ("F0 90 (smallest 4-byte)", b"\xf0\x90\x80\x80", VALID),
    ("F4 8F (largest 4-byte)", b"\xf4\x8f\x80\x80", VALID),
    ("missing continuation then ASCII", b"\xe2\x82a", 2),
    ("empty", b"", VALID),
]

STRESS_IDS = [name for name, _, _ in STRESS_CASES]


@pytest.mark.parametrize("name, data, fails_at", STRESS_CASES, ids=STRESS_IDS)
def test_stress_case_table_agrees_with_the_oracle(name, data, fails_at):
    # Check the table itself, so that the tests below test the right thing.
    assert is_valid(data) == (fails_at == VALID)
    expected_index = fails_at if isinstance(fails_at, int) else None
    assert first_bad_index(data) == expected_index


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
@pytest.mark.parametrize("name, data, fails_at", STRESS_CASES, ids=STRESS_IDS)
def test_stress_case_one_shot(module, name, data, fails_at):
    assert module.validate_utf8(data) == (fails_at == VALID)
    assert module.Utf8Validator().feed(data, final=True) == (fails_at == VALID)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
@pytest.mark.parametrize("name, data, fails_at", STRESS_CASES, ids=STRESS_IDS)
def test_stress_case_byte_by_byte_fails_at_the_first_bad_byte(module, name, data, fails_at):
    validator = module.Utf8Validator()
    answers = [validator.feed(data[index : index + 1]) for index in range(len(data))]
    if isinstance(fails_at, int):
        assert answers == [True] * fails_at + [False] * (len(data) - fails_at)
        assert validator.feed(b"", final=True) is False
    else:
        assert all(answers)
        assert validator.feed(b"", final=True) == (fails_at == VALID)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
@pytest.mark.parametrize("name, data, fails_at", STRESS_CASES, ids=STRESS_IDS)
def test_stress_case_every_split_point(module, name, data, fails_at):
    # Two chunks, split at every position, inside a little context so that
    # the ASCII fast path runs before and after the code point.
    text = b"prefix: " + data + b" :suffix and some more ASCII text"
    for split in range(len(text) + 1):
        for final in (True, False):
            boundaries = [0, split, len(text)]
            assert feed_chunks(module, text, boundaries, final) == expected_answers(text, boundaries, final), split


# -- code point edges --------------------------------------------------------


def encode_unchecked(code_point):
    """UTF-8 bytes of any code point below 2**21, surrogates and all."""
    if code_point < 0x80:
        return bytes([code_point])
    if code_point < 0x800:
        return bytes([0xC0 | code_point >> 6, 0x80 | code_point & 0x3F])
    if code_point < 0x10000:
        return bytes([0xE0 | code_point >> 12, 0x80 | code_point >> 6 & 0x3F, 0x80 | code_point & 0x3F])
    return bytes(
        [0xF0 | code_point >> 18, 0x80 | code_point >> 12 & 0x3F, 0x80 | code_point >> 6 & 0x3F, 0x80 | code_point & 0x3F]
    )


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_code_point_edges(module):
    for code_point in (0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF):
        assert module.validate_utf8(encode_unchecked(code_point)), hex(code_point)
    for code_point in (0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0x110000, 0x13FFFF, 0x1FFFFF):
        assert not module.validate_utf8(encode_unchecked(code_point)), hex(code_point)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_overlong_forms_of_every_ascii_character(module):
    for code_point in range(0x80):
        overlong_2 = bytes([0xC0 | code_point >> 6, 0x80 | code_point & 0x3F])
        overlong_3 = bytes([0xE0, 0x80 | code_point >> 6, 0x80 | code_point & 0x3F])
        overlong_4 = bytes([0xF0, 0x80, 0x80 | code_point >> 6, 0x80 | code_point & 0x3F])
        for encoded in (overlong_2, overlong_3, overlong_4):
            assert not module.validate_utf8(encoded)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_every_two_byte_string(module):
    for first in range(256):
        for second in range(0, 256, 1):
            data = bytes([first, second])
            assert module.validate_utf8(data) == is_valid(data), data


# A byte from every range the state machine distinguishes, and its edges.
INTERESTING = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1]
INTERESTING += [0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_every_short_string_of_interesting_bytes_fed_byte_by_byte(module):
    for length in (1, 2, 3):
        for combination in itertools.product(INTERESTING, repeat=length):
            data = bytes(combination)
            boundaries = list(range(length + 1))
            assert feed_chunks(module, data, boundaries, True) == expected_answers(data, boundaries, True), data


# -- the incremental API -----------------------------------------------------


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_truncated_is_invalid_only_when_final(module):
    validator = module.Utf8Validator()
    assert validator.feed(b"caf\xc3") is True
    assert validator.feed(b"\xa9 ", final=True) is True
    validator = module.Utf8Validator()
    assert validator.feed(b"caf\xc3") is True
    assert validator.feed(b"", final=True) is False
    assert module.Utf8Validator().feed(b"caf\xc3", final=True) is False


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_false_is_sticky_until_reset(module):
    validator = module.Utf8Validator()
    assert validator.feed(b"\xff") is False
    assert validator.feed(b"valid") is False
    assert validator.feed(b"valid", final=True) is False
    validator.reset()
    assert validator.feed(b"valid", final=True) is True
    # A truncated final also sticks.
    validator.reset()
    assert validator.feed(b"\xe2\x82", final=True) is False
    assert validator.feed(b"ok") is False


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_reset_drops_a_pending_code_point(module):
    validator = module.Utf8Validator()
    assert validator.feed(b"\xf0\x9f") is True
    validator.reset()
    assert validator.feed(b"\x98\x80") is False  # continuation bytes alone
    validator.reset()
    assert validator.feed(b"\xf0\x9f") is True
    validator.reset()
    assert validator.feed(b"abc", final=True) is True


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_split_code_point_across_many_empty_and_tiny_chunks(module):
    validator = module.Utf8Validator()
    for chunk in (b"", b"\xf0", b"", b"\x9f", b"", b"\x98", b"", b"\x80", b""):
        assert validator.feed(chunk) is True
    assert validator.feed(b"", final=True) is True


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_final_accepts_any_truthy_value(module):
    assert module.Utf8Validator().feed(b"\xc3", 1) is False
    assert module.Utf8Validator().feed(b"\xc3", final=0) is True
    assert module.Utf8Validator().feed(b"\xc3", final=None) is True


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_results_are_bools(module):
    assert module.validate_utf8(b"a") is True
    assert module.validate_utf8(b"\xff") is False
    assert module.Utf8Validator().feed(b"a") is True


# -- long inputs and the ASCII fast path ------------------------------------


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_one_bad_byte_at_every_position_in_ascii(module):
    # Exercises every ASCII loop (128, 64, 32 and 8 bytes per round; the
    # widest one runs on 256 bytes or more) and each way out of them.
    base = bytearray(b"0123456789abcdefghijklmnopqrstuvwxyz" * 20)
    for index in range(len(base)):
        for bad in (b"\x80", b"\xff", b"\xc0"):
            data = bytes(base[:index] + bad + base[index + 1 :])
            assert module.validate_utf8(data) is False, index
            validator = module.Utf8Validator()
            assert validator.feed(data[: index + 1]) is False, index
        valid = bytes(base[:index]) + "é".encode() + bytes(base[index:])
        assert module.validate_utf8(valid) is True, index


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
@pytest.mark.parametrize("length", [300_000, 2**20 + 3])
def test_large_inputs(module, length):
    # Above 256 KiB the compiled module releases the GIL: same answers.
    ascii_text = (b"plain ASCII text, " * (length // 18 + 1))[:length]
    mixed_text = ("ascii é€😀 " * (length // 15 + 1)).encode()[:length]
    mixed_text = mixed_text[: len(mixed_text.decode("utf-8", "ignore").encode())]
    assert module.validate_utf8(ascii_text) is True
    assert module.validate_utf8(mixed_text) is True
    assert module.validate_utf8(bytearray(mixed_text)) is True
    for position in (0, length // 2, length - 1):
        broken = bytearray(ascii_text)
        broken[position] = 0xFF
        assert module.validate_utf8(broken) is False, position
        assert module.Utf8Validator().feed(memoryview(broken)) is False, position
    validator = module.Utf8Validator()
    assert validator.feed(mixed_text[: length // 2 + 1]) is True
    assert validator.feed(mixed_text[length // 2 + 1 :], final=True) is True


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_code_points_across_64_kib_slice_boundaries(module):
    # The twin decodes large inputs 64 KiB at a time: code points cut by a
    # slice boundary, and bad bytes just after one, are handled like others.
    emoji = "😀".encode()
    for shift in range(-4, 5):
        head = b"a" * (65536 + shift)
        assert module.validate_utf8(head + emoji + b"tail") is True, shift
        assert module.validate_utf8(head + emoji[:2] + b"x" + emoji[3:]) is False, shift
        assert module.validate_utf8(head + emoji[:3]) is False, shift
        validator = module.Utf8Validator()
        assert validator.feed(head + emoji[:3]) is True, shift
        assert validator.feed(emoji[3:] + head, final=True) is True, shift
        assert module.validate_utf8(b"a" * (131072 + shift) + b"\xff") is False, shift


def test_twin_memory_is_bounded_on_large_inputs():
    # One astral character makes CPython's decoder build a 4-bytes-per-
    # character str: decoding 1 MiB at once would allocate 4 MiB.
    data = ("a" * (2**20 - 4) + "😀").encode()
    tracemalloc.start()
    try:
        assert pure_utf8.validate_utf8(data) is True
        assert pure_utf8.Utf8Validator().feed(data, final=True) is True
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024  # about 5 x 64 KiB: the str and its narrower first draft


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_threads_validating_at_once(module):
    # Large inputs are validated without the GIL in the compiled module.
    valid = ("ascii é€😀 " * 30000).encode()  # about 450 KB, above 256 KiB
    invalid = valid[:-3] + b"\xff" + valid[-2:]
    results = [[], []]

    def work(index, data):
        for _ in range(3):
            results[index].append(module.validate_utf8(data))
            validator = module.Utf8Validator()
            results[index].append(validator.feed(data[:300001]) and validator.feed(data[300001:], final=True))

    threads = [threading.Thread(target=work, args=(0, valid)), threading.Thread(target=work, args=(1, invalid))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert results == [[True] * 6, [False] * 6]


# -- argument types ----------------------------------------------------------


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_accepts_bytes_like(module):
    text = "naïve café 😀".encode()
    for value in (text, bytearray(text), memoryview(text), memoryview(b"xx" + text)[2:]):
        assert module.validate_utf8(value) is True
        assert module.Utf8Validator().feed(value, final=True) is True
    # Buffers of wider items are read as raw bytes.
    assert module.validate_utf8(array.array("H", [0x4241, 0x4443])) is True
    assert module.validate_utf8(array.array("H", [0xFFFF])) is False
    assert module.validate_utf8(memoryview(b"abcdef").cast("B", (2, 3))) is True


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
@pytest.mark.parametrize("value", ["text", 1234, None, [0x41]], ids=["str", "int", "None", "list"])
def test_not_bytes_like_is_a_type_error(module, value):
    with pytest.raises(TypeError):
        module.validate_utf8(value)
    with pytest.raises(TypeError):
        module.Utf8Validator().feed(value)


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_non_contiguous_is_a_buffer_error(module):
    strided = memoryview(b"abcdefgh")[::2]
    with pytest.raises(BufferError):
        module.validate_utf8(strided)
    with pytest.raises(BufferError):
        module.Utf8Validator().feed(strided)
    # An empty view is contiguous whatever its strides.
    assert module.validate_utf8(memoryview(b"")[::2]) is True


# -- compiled against twin, and both against the oracle ----------------------

# Bytes that matter to UTF-8, weighted towards the interesting ones, plus
# valid text: random bytes alone are invalid at once almost every time.
utf8_bytes = st.one_of(
    st.binary(max_size=80),
    st.lists(st.sampled_from(INTERESTING), max_size=40).map(bytes),
    st.text(max_size=40).map(lambda text: text.encode("utf-8", "surrogatepass")),
)


@st.composite
def mutated_text(draw):
    """Valid UTF-8 with a few bytes replaced, inserted or deleted."""
    data = bytearray(draw(st.text(min_size=1, max_size=60)).encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        if action == "replace":
            data[position] = draw(st.sampled_from(INTERESTING))
        elif action == "insert":
            data.insert(position, draw(st.sampled_from(INTERESTING)))
        else:
            del data[position]
    return bytes(data)


@st.composite
def chunked(draw, data_strategy):
    data = draw(data_strategy)
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=6))
    return data, [0] + sorted(cuts) + [len(data)]


@PROPERTY
@given(chunked(st.one_of(utf8_bytes, mutated_text())), st.booleans())
def test_twin_against_the_oracle(sample, final):
    data, boundaries = sample
    assert pure_utf8.validate_utf8(data) == is_valid(data)
    assert feed_chunks(pure_utf8, data, boundaries, final) == expected_answers(data, boundaries, final)


@needs_compiled
@PROPERTY
@given(chunked(st.one_of(utf8_bytes, mutated_text())), st.booleans())
def test_compiled_against_the_oracle(sample, final):
    data, boundaries = sample
    assert compiled_utf8.validate_utf8(data) == is_valid(data)
    assert feed_chunks(compiled_utf8, data, boundaries, final) == expected_answers(data, boundaries, final)


@needs_compiled
@settings(derandomize=True, database=None, deadline=None, max_examples=500)
@given(chunked(st.one_of(utf8_bytes, mutated_text(), st.binary(max_size=600))), st.booleans())
def test_compiled_equals_twin(sample, final):
    data, boundaries = sample
    assert compiled_utf8.validate_utf8(data) == pure_utf8.validate_utf8(data)
    assert feed_chunks(compiled_utf8, data, boundaries, final) == feed_chunks(pure_utf8, data, boundaries, final)


@needs_compiled
@PROPERTY
@given(st.binary(max_size=64), st.integers(0, 15), st.sampled_from(["bytes", "bytearray", "view", "strided"]))
def test_compiled_equals_twin_on_argument_kinds(data, offset, kind):
    padded = b"a" * offset + data
    value = {
        "bytes": padded[offset:],
        "bytearray": bytearray(padded[offset:]),
        "view": memoryview(padded)[offset:],
        "strided": memoryview(padded)[offset::2],
    }[kind]
    assert outcome(compiled_utf8.validate_utf8, value) == outcome(pure_utf8.validate_utf8, value)
    assert outcome(compiled_utf8.Utf8Validator().feed, value) == outcome(pure_utf8.Utf8Validator().feed, value)


@needs_compiled
def test_compiled_equals_twin_on_seeded_random_fuzz():
    # A bounded, seeded fuzz over longer inputs than hypothesis draws: valid
    # text with one corrupted byte, validated whole and in random chunks.
    generator = random.Random(1234)
    alphabet = "aZ09 ~é߿ࠀ€퟿�𐀀😀􏿿"
    for _ in range(300):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randrange(1, 200)))
        data = bytearray(text.encode())
        if generator.random() < 0.7:
            data[generator.randrange(len(data))] = generator.randrange(256)
        data = bytes(data)
        cuts = sorted(generator.randrange(len(data) + 1) for _ in range(generator.randrange(0, 8)))
        boundaries = [0] + cuts + [len(data)]
        assert compiled_utf8.validate_utf8(data) == pure_utf8.validate_utf8(data) == is_valid(data)
        expected = feed_chunks(pure_utf8, data, boundaries, True)
        assert feed_chunks(compiled_utf8, data, boundaries, True) == expected


def test_incremental_decoder_quirk_is_handled():
    # CPython's decoder (3.9 to 3.13 at least) keeps ED A0 at the end of a
    # chunk as the start of a code point, though only a surrogate can follow;
    # the twin checks this case by hand.
    assert pure_utf8.Utf8Validator().feed(b"\xed\xa0") is False
    assert pure_utf8.Utf8Validator().feed(b"abc\xed\xbf") is False
    assert pure_utf8.Utf8Validator().feed(b"abc\xed\x9f") is True


def test_switch_exports_the_active_backend():
    speedups = pytest.importorskip("websockets_fast.speedups")
    expected = compiled_utf8 if speedups.BACKEND == "compiled" else pure_utf8
    assert speedups.validate_utf8 is expected.validate_utf8
    assert speedups.Utf8Validator is expected.Utf8Validator


@pytest.mark.parametrize("module", IMPLEMENTATIONS)
def test_one_byte_strided_view_completes_a_split_code_point(module):
    # memoryview(...)[::2] of two bytes is one byte with a stride of 2: C-
    # contiguous, as PyBuffer_IsContiguous has it, but the twin's slice of
    # what was left after the code point was not (found by tests/fuzz).
    validator = module.Utf8Validator()
    assert validator.feed(b"\xf0\x9f\x98")
    assert validator.feed(memoryview(b"\x80\x00")[::2], final=True) is True
    validator.reset()
    assert validator.feed(b"\xc3")
    assert validator.feed(memoryview(b"(\x00")[::2]) is False
    assert module.validate_utf8(memoryview(b"\xc3\xa9")[::2]) is False
