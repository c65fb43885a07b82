"""Wall clock of the instruction workloads, libraries side by side.

``python -m bench.wall`` times the workloads of ``bench/instructions.py``
(the same code, not under valgrind) in this process: for each repetition,
each (loop, library) pair in turn, so that the machine's load falls on all
of them alike. It prints the median time per message. Only ratios within
one run mean anything on a shared machine.

Example, wss echo of 1 MiB against our connection over the loops' own TLS::

    BENCH_ECHO_SIZE=1048576 python -m bench.wall --workload wss-echo \\
        --libs "websockets_fast,websockets_fast+loop TLS" --messages 40
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from bench import instructions


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wall", description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="echo", choices=("echo", "wss-echo", "push"))
    parser.add_argument("--libs", default="websockets_fast,websockets_fast+loop TLS")
    parser.add_argument("--loops", default="uvloop,asyncio")
    parser.add_argument("--messages", type=int, default=1000, help="messages per sample (at most 100000)")
    parser.add_argument("--reps", type=int, default=5, help="samples of each pair, the median is printed (at most 50)")
    args = parser.parse_args(argv)
    messages = max(1, min(args.messages, 100_000))
    reps = max(1, min(args.reps, 50))
    tls = None
    if args.workload == "wss-echo":
        from bench.suite import _tls_files

        tls = _tls_files()
    pairs = [(loop, lib) for loop in args.loops.split(",") for lib in args.libs.split(",")]
    times = {pair: [] for pair in pairs}
    for _ in range(reps):
        for loop, lib in pairs:
            start = time.perf_counter()
            done = instructions.run_workload(args.workload, lib, loop, messages, tls=tls)
            elapsed = time.perf_counter() - start
            if done != messages:
                raise RuntimeError(f"{lib} on {loop}: ran {done} of {messages}")
            times[loop, lib].append(elapsed)
    print(f"{instructions.label(args.workload)}: median of {reps} samples of {messages} messages, per message")
    for loop, lib in pairs:
        print(f"  {loop:8} {lib:32} {statistics.median(times[loop, lib]) / messages * 1e6:10.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
