"""Microbenchmark of masking and UTF-8 validation: compiled, twin, and peer.

    python bench/micro_mask_utf8.py [--full]

Each row times one function on one input, in this process, best of N runs:
- ``apply_mask`` (new bytes) at 125 B, 64 KiB and 1 MiB, against websockets'
  C ``websockets.speedups.apply_mask``; ``apply_mask_inplace`` alongside
  (websockets has no in-place variant);
- ``validate_utf8`` on 1 MiB of ASCII and 1 MiB of mixed 1- to 4-byte text,
  against ``bytes.decode("utf-8")``, which is how websockets validates (it
  also builds the str, work that validation alone does not need).

"x peer" is the peer's time divided by the compiled time (above 1: faster
than the peer); "x twin" the same against the pure-Python twin.
``run(quick)`` returns the rows; the script prints them as a table.
"""

from __future__ import annotations

import os
import random
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from websockets_fast._pyspeedups import mask as pure_mask
from websockets_fast._pyspeedups import utf8 as pure_utf8

try:
    from websockets_fast._speedups import mask as compiled_mask
    from websockets_fast._speedups import utf8 as compiled_utf8
except ImportError:  # a pure-Python install: the compiled columns say n/a
    compiled_mask = compiled_utf8 = None

try:
    from websockets.speedups import apply_mask as websockets_apply_mask
except ImportError:
    websockets_apply_mask = None

KEY = b"\x12\x34\x56\x78"
MASK_SIZES = ((125, "125 B"), (64 * 1024, "64 KiB"), (1024 * 1024, "1 MiB"))
TEXT_SIZE = 1024 * 1024


def best_times(calls, quick):
    """Best time of one call of each of ``calls``, in nanoseconds.

    Calls are grouped into runs of about 2 ms (10 ms with --full) so that
    the clock's resolution does not matter. The candidates take turns, one
    run each per round, so that a burst of noise from other processes on
    the machine hits them alike; the best of 9 rounds (15 with --full) is
    the least disturbed. At most 10,000 calls per run: bounded in time.
    """
    target = 0.002 if quick else 0.010
    rounds = 9 if quick else 15
    numbers = []
    for call in calls:
        for _ in range(3):  # warm up: first-call costs, caches, allocator
            call()
        start = time.perf_counter()
        call()
        once = max(time.perf_counter() - start, 1e-7)
        numbers.append(max(1, min(10_000, int(target / once))))
    best = [float("inf")] * len(calls)
    for _ in range(rounds):
        for index, (call, number) in enumerate(zip(calls, numbers)):
            start = time.perf_counter()
            for _ in range(number):
                call()
            best[index] = min(best[index], (time.perf_counter() - start) / number)
    return [seconds * 1e9 for seconds in best]


def ascii_text(size):
    line = b"GET /chat HTTP/1.1 - plain ASCII text, as most JSON on the wire is.\n"
    return (line * (size // len(line) + 1))[:size]


def mixed_text(size):
    """Valid UTF-8 of about ``size`` bytes, characters of 1 to 4 bytes mixed."""
    generator = random.Random(6455)
    alphabet = "aeiou, .ßéü€中文😀"
    text = "".join(generator.choice(alphabet) for _ in range(size // 2)).encode()
    # Cut at a character boundary.
    return text[:size].decode("utf-8", "ignore").encode()


def cases():
    """(function, input label, compiled call, twin call, peer name, peer call)."""
    generator = random.Random(1)
    result = []
    for size, label in MASK_SIZES:
        data = bytes(generator.getrandbits(8) for _ in range(size)) if size < 4096 else os.urandom(size)
        buffer = bytearray(data)
        result.append((
            "apply_mask",
            label,
            compiled_mask and (lambda data=data: compiled_mask.apply_mask(data, KEY)),
            lambda data=data: pure_mask.apply_mask(data, KEY),
            "websockets C",
            websockets_apply_mask and (lambda data=data: websockets_apply_mask(data, KEY)),
        ))
        result.append((
            "apply_mask_inplace",
            label,
            compiled_mask and (lambda buffer=buffer: compiled_mask.apply_mask_inplace(buffer, KEY)),
            lambda buffer=buffer: pure_mask.apply_mask_inplace(buffer, KEY),
            None,
            None,
        ))
    for label, text in (("1 MiB ASCII", ascii_text(TEXT_SIZE)), ("1 MiB mixed", mixed_text(TEXT_SIZE))):
        result.append((
            "validate_utf8",
            label,
            compiled_utf8 and (lambda text=text: compiled_utf8.validate_utf8(text)),
            lambda text=text: pure_utf8.validate_utf8(text),
            "bytes.decode",
            lambda text=text: text.decode("utf-8"),
        ))
    return result


def run(quick: bool) -> list[dict]:
    """Run the benchmark (shorter runs when ``quick``); return the table rows."""
    rows = []
    plan = cases()
    for function, label, compiled, _, peer_name, peer in plan:
        present = [call for call in (compiled, peer) if call]
        times = dict(zip(present, best_times(present, quick)))
        compiled_ns, peer_ns = times.get(compiled), times.get(peer)
        rows.append({
            "function": function,
            "input": label,
            "compiled ns": compiled_ns,
            "twin ns": None,
            "peer": peer_name,
            "peer ns": peer_ns,
            "x peer": peer_ns / compiled_ns if compiled_ns and peer_ns else None,
            "x twin": None,
        })
    # The twins run last: their large temporary objects change the state of
    # the allocator (glibc's mmap threshold), which would otherwise change
    # what a fresh 64 KiB or 1 MiB bytes object costs in the rows after.
    for row, (_, _, _, twin, _, _) in zip(rows, plan):
        (row["twin ns"],) = best_times([twin], quick)
        if row["compiled ns"]:
            row["x twin"] = row["twin ns"] / row["compiled ns"]
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
    if compiled_mask is None:
        print("compiled modules not built: run `python setup.py build_ext --inplace` or `pip install .`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
