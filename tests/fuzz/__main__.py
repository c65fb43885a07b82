"""Run the differential fuzz targets for a while.

    python -m tests.fuzz TARGET[,TARGET...]|all [SECONDS] [--engine atheris|hypothesis]
    python -m tests.fuzz TARGET --replay FILE...

TARGET is one of tests/fuzz/targets.py's TARGETS (mask, utf8, frames, http,
ringbuffer, protocol); several, comma-separated, or ``all`` run in turn for
SECONDS each (default 10), the next one even when one fails.
The engine is atheris when it imports, hypothesis otherwise. Each run ends
with one line: ``fuzz TARGET: N inputs in S s (ENGINE)``. An input that
fails is written to build/fuzz-failures/ (atheris: crash-* files there) and
the run exits non-zero; ``--replay`` runs saved inputs again.
Run it from the repository root, under tests/sanitize.sh for a build with
AddressSanitizer: ``bash tests/sanitize.sh fuzz frames 600``.
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import time

FAILURES = os.path.join("build", "fuzz-failures")
# targets.TARGETS, named here so that the atheris child imports the targets
# (and the library) only once its instrumentation is on.
NAMES = ("frames", "http", "mask", "protocol", "ringbuffer", "utf8")
# Inputs longer than this add length, not new paths.
MAX_LENGTH = 4096


def saving(name):
    """The target ``name``, writing any input that fails to FAILURES before it raises."""
    from tests.fuzz.targets import TARGETS

    target = TARGETS[name]

    def run(data):
        try:
            target(data)
        except BaseException:
            os.makedirs(FAILURES, exist_ok=True)
            path = os.path.join(FAILURES, f"{name}-{hashlib.sha1(data).hexdigest()[:16]}.bin")
            with open(path, "wb") as file:
                file.write(data)
            sys.stderr.write(f"fuzz {name}: failing input saved to {path}\n")
            raise

    return run


def with_hypothesis(name, seconds):
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    target = saving(name)
    count = 0

    @settings(
        max_examples=500,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    # Long inputs as often as short ones: the targets decode a few bytes per
    # operation, and binary()'s sizes are mostly small.
    @given(st.one_of(st.binary(max_size=64), st.binary(min_size=64, max_size=MAX_LENGTH)))
    def batch(data):
        nonlocal count
        count += 1
        target(data)

    start = time.monotonic()
    # Bounded by the clock: each batch is at most 500 inputs.
    while time.monotonic() - start < seconds:
        batch()
    return count, time.monotonic() - start


def with_atheris(name, seconds):
    """Run atheris in a child process (libFuzzer exits when it is done)."""
    os.makedirs(FAILURES, exist_ok=True)
    start = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-m", "tests.fuzz", name, str(seconds), "--atheris-child"],
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    elapsed = time.monotonic() - start
    done = re.search(r"Done (\d+) runs in", child.stderr)
    if child.returncode != 0 or done is None:
        sys.stderr.write(child.stderr[-20000:])
        raise SystemExit(f"fuzz {name}: atheris failed (exit status {child.returncode})")
    return int(done.group(1)), elapsed


def atheris_child(name, seconds):
    import atheris

    # Coverage feedback from the Python code of the library (the twins, the
    # protocol) and of the targets; the compiled modules are not
    # instrumented. Only these: instrumenting every loaded module takes
    # minutes under the sanitizer.
    with atheris.instrument_imports(include=["websockets_fast", "tests.fuzz"]):
        target = saving(name)
    atheris.Setup(
        # -len_control=0: inputs of any length from the start. Without
        # coverage feedback (under the sanitizer) the length limit would
        # otherwise grow only with time, and long inputs reach deeper.
        [sys.argv[0], f"-max_total_time={seconds}", f"-max_len={MAX_LENGTH}", "-len_control=0",
         f"-artifact_prefix={FAILURES}/", "-print_final_stats=0"],
        target,
    )
    atheris.Fuzz()


def main():
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help=f"one of {', '.join(NAMES)}, several separated by commas, or all")
    parser.add_argument("seconds", nargs="?", type=float, default=10.0)
    parser.add_argument("--engine", choices=["atheris", "hypothesis"])
    parser.add_argument("--replay", nargs="+", metavar="FILE")
    parser.add_argument("--atheris-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = NAMES if args.target == "all" else tuple(args.target.split(","))
    for name in names:
        if name not in NAMES:
            parser.error(f"unknown target {name!r}: one of {', '.join(NAMES)} or all")
    if args.atheris_child:
        atheris_child(args.target, int(args.seconds))
        return
    from tests.fuzz.targets import COMPILED, TARGETS

    if COMPILED is None:
        raise SystemExit("fuzz: the compiled modules are not built; nothing to compare")
    if args.replay:
        for path in args.replay:
            with open(path, "rb") as file:
                TARGETS[args.target](file.read())
            print(f"fuzz {args.target}: {path} passes")
        return
    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "hypothesis"
        else:
            engine = "atheris"
    failed = []
    for name in names:
        run = with_atheris if engine == "atheris" else with_hypothesis
        try:
            count, elapsed = run(name, args.seconds)
        except (Exception, SystemExit) as exc:
            print(f"fuzz {name}: FAILED ({engine}): {str(exc)[:2000]}", flush=True)
            failed.append(name)
        else:
            print(f"fuzz {name}: {count} inputs in {elapsed:.0f} s ({engine})", flush=True)
    if failed:
        raise SystemExit(f"fuzz: {', '.join(failed)} failed")


if __name__ == "__main__":
    main()
