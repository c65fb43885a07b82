"""Entry point: ``python -m bench [--quick | --full] ...``, ``python -m bench micro``
and ``python -m bench instructions``.

Run ``python -m bench --help`` for the options.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import sys
import time

MICRO_MODULES = ("micro_mask_utf8", "micro_frames_http", "bench_protocol", "bench_sync")

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="websockets_fast side by side with websockets, picows and aiohttp.",
    )
    parser.add_argument("command", nargs="?", default="suite", choices=("suite", "micro", "instructions"),
                        help="suite (default): the side-by-side suite; micro: the microbenchmarks; "
                             "instructions: instructions per message under valgrind's callgrind")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="the short suite (default): echo 64 B and 1 KiB, pipelined 256 B, idle memory")
    mode.add_argument("--full", action="store_true",
                      help="everything: all echo sizes, cross rows, compression, handshakes, broadcast")
    parser.add_argument("--reps", type=int, default=5,
                        help="repetitions of each throughput case; the median is reported (default 5)")
    parser.add_argument("--memory-reps", type=int, default=3,
                        help="repetitions of each idle-memory case, at most --reps (default 3)")
    parser.add_argument("--loops", default=None,
                        help="comma-separated event loops among uvloop,asyncio (default: both when uvloop is installed)")
    parser.add_argument("--libs", default=None, help="comma-separated libraries (default: all)")
    parser.add_argument("--connections", type=int, default=2000,
                        help="idle connections for the memory workload of --full (default 2000, up to 10000)")
    parser.add_argument("--quick-connections", type=int, default=500,
                        help="idle connections for the memory workload of --quick (default 500)")
    parser.add_argument("--broadcast", type=int, default=1000,
                        help="connections for the broadcast workload of --full (default 1000)")
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="time per throughput sample (default 0.2 s quick, 0.6 s full)")
    instructions = parser.add_argument_group("instructions (python -m bench instructions)")
    instructions.add_argument("--workloads", default="echo,push,broadcast,wss-echo",
                              help="comma-separated among echo,push,broadcast,wss-echo,sync-echo (default: the "
                                   "first four); push and broadcast run on the first loop only unless --full; "
                                   "sync-echo (the threading implementations) runs on threads")
    instructions.add_argument("--messages", default="200,1200",
                              help="N1,N2: messages of the two runs of echo, wss-echo and push (default 200,1200)")
    instructions.add_argument("--rounds", default="2,12",
                              help="R1,R2: broadcast rounds of the two runs (default 2,12)")
    instructions.add_argument("--recipients", type=int, default=500,
                              help="connections that each broadcast reaches (default 500)")
    parser.add_argument("--out", default=RESULTS_DIR, help="directory of the JSON and PNG (default bench/results)")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    return parser.parse_args(argv)


def run_micro(quick: bool) -> int:
    """Import each microbenchmark module that exists and print its rows."""
    found = 0
    for name in MICRO_MODULES:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                print(f"bench/{name}.py: not present yet")
                continue
            raise
        found += 1
        print(f"\n== bench/{name}.py")
        rows = module.run(quick)
        if not rows:
            print("(no results)")
            continue
        keys = list(dict.fromkeys(k for row in rows for k in row))
        widths = {k: max(len(k), *(len(_cell(row.get(k))) for row in rows)) for k in keys}
        print("  ".join(k.ljust(widths[k]) for k in keys))
        for row in rows:
            print("  ".join(_cell(row.get(k)).ljust(widths[k]) for k in keys))
    return 0 if found else 1


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def _pair(text: str, option: str):
    try:
        first, second = (int(part) for part in text.split(","))
    except ValueError:
        first = second = 0
    if not 0 < first < second:
        raise SystemExit(f"{option} wants two counts, the first smaller, as in 200,1200: got {text}")
    return first, second


def _default_loops():
    try:
        import uvloop  # noqa: F401

        return ("uvloop", "asyncio")
    except ImportError:
        return ("asyncio",)


def run_instructions(args, argv) -> int:
    """Instructions per message of each library under callgrind: print the
    table and write the JSON."""
    from bench import instructions, report

    valgrind = instructions.valgrind_version()
    if not valgrind:
        print("valgrind is not installed: python -m bench instructions needs it (apt-get install valgrind)")
        return 1
    loops = tuple(args.loops.split(",")) if args.loops else _default_loops()
    libraries = tuple(args.libs.split(",")) if args.libs else instructions.LIBRARIES
    workloads = tuple(args.workloads.split(","))
    unknown = (
        (set(libraries) - set(instructions.LIBRARIES))
        | (set(workloads) - set(instructions.WORKLOADS))
        | (set(loops) - set(instructions.LOOPS))
    )
    if unknown:
        print(f"unknown: {', '.join(sorted(unknown))}; libraries: {', '.join(instructions.LIBRARIES)}; "
              f"workloads: {', '.join(instructions.WORKLOADS)}; loops: {', '.join(instructions.LOOPS)}")
        return 2
    messages = _pair(args.messages, "--messages")
    rounds = _pair(args.rounds, "--rounds")
    meta = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *argv]),
        "method": "(Ir(N2) - Ir(N1)) / (N2 - N1), two valgrind --tool=callgrind runs of one process",
        "valgrind": valgrind,
        "messages": messages,
        "rounds": rounds,
        "recipients": args.recipients,
        "loops": list(loops),
        "versions": report.versions(libraries),
        "machine": report.machine(),
    }
    print(f"websockets_fast instructions per message, {valgrind}: N = {messages[0]} and {messages[1]} messages, "
          f"broadcast {rounds[0]} and {rounds[1]} rounds to {args.recipients} connections")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    sys.stdout.flush()
    started = time.monotonic()
    rows = instructions.run(workloads, libraries, loops, every_loop=args.full, messages=messages, rounds=rounds,
                            connections=args.recipients, progress=report.Progress())
    meta["seconds"] = round(time.monotonic() - started, 1)
    print(instructions.table(rows, libraries))
    for row in rows:
        if row.get("version") and row["version"] != meta["versions"][row["library"]]:
            print(f"warning: the measured process imported {row['library']} {row['version']}, "
                  f"this one {meta['versions'][row['library']]}")

    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, f"instructions-{time.strftime('%Y%m%d-%H%M%S')}.json")
    report.write_json(json_path, rows, meta)
    print(f"\nraw results: {json_path}")
    print(f"ran in {meta['seconds']:.0f} s")
    return 0 if all(row["error"] is None for row in rows) else 1


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.command == "micro":
        return run_micro(quick=not args.full)
    if args.command == "instructions":
        return run_instructions(args, argv)

    from bench import peers, report, suite

    loops = tuple(args.loops.split(",")) if args.loops else _default_loops()
    libraries = tuple(args.libs.split(",")) if args.libs else peers.LIBRARIES
    unknown = set(libraries) - set(peers.LIBRARIES)
    if unknown:
        print(f"unknown libraries: {', '.join(sorted(unknown))}; known: {', '.join(peers.LIBRARIES)}")
        return 2
    options = suite.Options(
        quick=not args.full,
        reps=max(1, args.reps),
        memory_reps=max(1, args.memory_reps),
        loops=loops,
        libraries=libraries,
        connections=args.connections,
        quick_connections=args.quick_connections,
        broadcast_connections=args.broadcast,
        seconds=args.seconds,
    )

    meta = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if options.quick else "full",
        "reps": options.reps,
        "memory_reps": min(options.reps, options.memory_reps),
        "loops": list(loops),
        "settings": suite.SETTINGS,
        "versions": report.versions(libraries),
        "machine": report.machine(),
        "sample_seconds": options.sample_seconds,
    }
    print(f"websockets_fast benchmark, {meta['mode']} suite, median of {options.reps} repetitions "
          f"({meta['memory_reps']} for idle memory), {options.sample_seconds:g} s per throughput sample")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    m = meta["machine"]
    print(f"machine: {m['processor']}, {m['cpus']} CPUs, {m['platform']}, {m['python']}")
    print(report.settings_line())
    sys.stdout.flush()

    results = suite.run(options, progress=report.Progress())
    rows = suite.summarize(results["cases"], results["samples"], results["errors"])
    meta["seconds"] = round(results["seconds"], 1)
    print(report.table(rows))

    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = os.path.join(args.out, f"bench-{stamp}.json")
    report.write_json(json_path, rows, meta)
    print(f"\nraw results: {json_path}")
    if not args.no_plot:
        png_path = os.path.join(args.out, f"bench-{stamp}.png")
        if report.write_plot(png_path, rows, meta):
            print(f"plot: {png_path}")
        else:
            print("plot skipped: matplotlib is not installed")
    print(f"ran in {meta['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
