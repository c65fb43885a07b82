"""Run the Autobahn|Testsuite against websockets_fast, in one command.

    python compliance/run.py                 # cases 1-10, every role/impl/backend
    python compliance/run.py --ci            # what CI runs (see CI_CASES)
    python compliance/run.py --cases all     # the full suite, compression included
    python compliance/run.py --lib websockets --cases all   # the reference

For each configuration (role x implementation x backend) it:
  - installs wstest under compliance/.wstest/ if needed (setup_wstest.sh);
  - server role: starts echo_server.py on 127.0.0.1 and a free port, then
    ``wstest -m fuzzingclient`` against it;
  - client role: starts ``wstest -m fuzzingserver`` on 127.0.0.1 and a free
    port, then echo_client.py against it;
  - reads the JSON reports written under compliance/reports/.
Then it prints a table per case group, lists every case that is not OK with
what the suite expected and what it saw, writes summary.md and summary.json
into compliance/reports/<time>-<lib>/ (and reports/latest-summary.md), and exits with status 1 when a case FAILED (or had the wrong
close code, or closed uncleanly), when a NON-STRICT or UNIMPLEMENTED result is
not listed in JUSTIFIED below, or when a run did not complete. Every process it
starts runs in its own process group and is stopped by that group's id; every
wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPORTS = HERE / "reports"
HOST = "127.0.0.1"

GROUPS = ["1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13"]
GROUP_TITLES = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved Bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 Handling",
    "7": "Close Handling",
    "9": "Limits/Performance",
    "10": "Misc",
    "12": "WebSocket Compression (different payloads)",
    "13": "WebSocket Compression (different parameters)",
}

# What CI runs: groups 1-10 in full, and a sample of the compression groups,
# which take most of the suite's running time (about 10 of 11 minutes per
# configuration). 12.N.M sends 1000 messages of payload kind N at size M
# under the default parameters; 13.N.M does the same with negotiated
# parameters N. The sample takes one case from each subgroup N, with sizes M
# spread over the range (1-10: 16 B to 128 KiB; 11-18: fragmented messages).
CI_CASES = [f"{group}.*" for group in GROUPS[:9]] + [
    "12.1.1", "12.2.9", "12.3.4", "12.4.18", "12.5.12",
    "13.1.2", "13.2.9", "13.3.5", "13.4.11", "13.5.18", "13.6.7", "13.7.16",
]

# NON-STRICT or UNIMPLEMENTED results accepted, with the reason. Keys are case
# ids or patterns ending in "*" (e.g. "6.4.*"); an entry applies to both roles.
# Leave a case out unless the RFC allows the behaviour: a listed case still
# shows in the summary, but does not fail the run.
_FAIL_BEFORE_ECHO = (
    "RFC 6455 requires failing the connection on this frame, and it is failed with "
    "1002. The valid message before it arrives in the same read; the protocol fails "
    "the connection as soon as it parses the bad frame, before the application has "
    "echoed the valid message, and no data frame may follow the Close frame "
    "(RFC 6455, 5.5.1), so the echo wstest hoped for is not sent. wstest calls that "
    "NON-STRICT; the RFC does not ask for the earlier message to be answered first."
)
JUSTIFIED: dict[str, str] = {
    # Reserved bits set with no extension negotiated (RFC 6455, 5.2).
    "3.2": _FAIL_BEFORE_ECHO,
    "3.3": _FAIL_BEFORE_ECHO,
    "3.4": _FAIL_BEFORE_ECHO,
    # Reserved opcodes (RFC 6455, 5.2).
    "4.1.3": _FAIL_BEFORE_ECHO,
    "4.1.4": _FAIL_BEFORE_ECHO,
    "4.1.5": _FAIL_BEFORE_ECHO,
    "4.2.3": _FAIL_BEFORE_ECHO,
    "4.2.4": _FAIL_BEFORE_ECHO,
    "4.2.5": _FAIL_BEFORE_ECHO,
    # A continuation frame with nothing to continue (RFC 6455, 5.4).
    "5.15": _FAIL_BEFORE_ECHO,
    # Not listed, on purpose: 6.4.* (invalid UTF-8 must fail the connection
    # as soon as the bad byte arrives, even inside a frame that arrives in
    # pieces) and 12.*/13.* UNIMPLEMENTED (compression is enabled on both
    # sides).
}

# Outcomes, as wstest writes them in "behavior" and "behaviorClose".
PASSING = {"OK", "INFORMATIONAL"}
NEEDS_JUSTIFICATION = {"NON-STRICT", "UNIMPLEMENTED", "FAILED BY CLIENT"}
# Anything else (FAILED, WRONG CODE, UNCLEAN, a missing case) fails the run.

# Seconds a process gets to exit after SIGTERM: more than the libraries'
# default close_timeout (10 s), which bounds closing a connection on shutdown.
STOP_GRACE = 15


# ---------------------------------------------------------------- processes


class Process:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, name, args, log_path, env=None, cwd=None):
        self.name = name
        self.log_path = log_path
        self.log_file = open(log_path, "wb")
        self.popen = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group, stopped as one
        )

    @property
    def pid(self):
        return self.popen.pid

    def wait(self, timeout):
        """The exit status, or None if it still runs after ``timeout`` seconds."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM to the group, then SIGKILL after STOP_GRACE; reap the child."""
        for signum, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
            if self.popen.poll() is not None:
                break
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                break
            self.wait(grace)
        # The leader may be gone while children of its group live on.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log_file.close()
        return self.popen.returncode

    def output(self):
        return self.log_path.read_text(errors="replace")


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for_line(process, prefix, timeout):
    """Poll the process's log for a line starting with ``prefix``."""
    deadline = time.monotonic() + timeout
    while True:
        exited = process.popen.poll() is not None
        for line in process.output().splitlines():
            if line.startswith(prefix):
                return line
        if exited or time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def wait_for_port(process, port, timeout):
    """Wait until something accepts TCP connections on HOST:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


# ------------------------------------------------------------------- wstest


def wstest_env():
    """The environment for Python 2.7: nothing meant for Python 3 on its path."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(name, None)
    return env


def setup_wstest():
    result = subprocess.run(
        ["bash", str(HERE / "setup_wstest.sh")],
        stdout=subprocess.PIPE,
        timeout=1800,
        check=True,
        text=True,
    )
    wstest = Path(result.stdout.strip().splitlines()[-1])
    # wstest_loopback.py runs on the virtualenv's Python 2.7.
    return wstest.parent / "python"


def wstest_versions(python2):
    result = subprocess.run(
        [str(python2), "-c", "import autobahntestsuite, autobahn;"
         "print(autobahntestsuite.__version__ + ' ' + autobahn.version)"],
        stdout=subprocess.PIPE, text=True, timeout=60, env=wstest_env(),
    )
    words = result.stdout.split()
    return {"autobahntestsuite": words[0] if words else "?",
            "autobahn": words[1] if len(words) > 1 else "?"}


def list_cases(python2, patterns, work_dir):
    spec_path = work_dir / "cases.json"
    spec_path.write_text(json.dumps({"cases": patterns, "exclude-cases": []}))
    result = subprocess.run(
        [str(python2), str(HERE / "wstest_loopback.py"), "--list-cases", str(spec_path)],
        stdout=subprocess.PIPE, text=True, timeout=120, check=True, env=wstest_env(),
    )
    return result.stdout.split()


def case_patterns(cases):
    """Turn --cases into wstest patterns: all, ci, 1-10, or a list (9.3.*,12.1.1)."""
    if cases == "all":
        return ["*"]
    if cases == "ci":
        return list(CI_CASES)
    patterns = []
    for item in cases.split(","):
        item = item.strip()
        first, dash, last = item.partition("-")
        if dash and first.isdigit() and last.isdigit():
            patterns += [f"{n}.*" for n in range(int(first), int(last) + 1) if str(n) in GROUPS]
        elif item.isdigit():
            patterns.append(f"{item}.*")
        elif item:
            patterns.append(item)
    return patterns


# ------------------------------------------------------------------- roles


class Config:
    __slots__ = ("role", "impl", "backend", "lib", "installed")

    def __init__(self, role, impl, backend, lib, installed=False):
        self.role, self.impl, self.backend, self.lib = role, impl, backend, lib
        self.installed = installed

    @property
    def agent(self):
        return f"{self.lib}-{self.impl}-{self.backend}"

    @property
    def label(self):
        return f"{self.role}/{self.impl}/{self.backend}"

    def env(self):
        env = dict(os.environ)
        env.pop("WEBSOCKETS_FAST_PURE", None)
        if self.backend == "pure":
            env["WEBSOCKETS_FAST_PURE"] = "1"
        if not self.installed:
            # Import the library from this checkout (built in place), as tests/ does.
            env["PYTHONPATH"] = os.pathsep.join(
                [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
            )
        return env

    def check_backend(self, announced):
        """The backend the program reported must be the one asked for."""
        expected = "reference" if self.lib == "websockets" else self.backend
        if announced != expected:
            raise RunError(f"asked for the {expected} backend, the program runs {announced}")


class RunError(Exception):
    pass


def run_server_role(config, python2, patterns, out_dir, timeout):
    """Our echo server, wstest's fuzzing client. Returns the report's cases."""
    server = Process(
        "echo_server",
        [sys.executable, str(HERE / "echo_server.py"), "--lib", config.lib, "--impl", config.impl],
        out_dir / "echo_server.log",
        env=config.env(),
    )
    try:
        line = wait_for_line(server, "LISTENING ", 60)
        if line is None:
            raise RunError(f"echo server did not start:\n{server.output()[-3000:]}")
        _, host, port, _, _, backend = line.split()
        config.check_backend(backend)
        spec = {
            "outdir": str(out_dir),
            "servers": [{"agent": config.agent, "url": f"ws://{host}:{port}"}],
            "cases": patterns,
            "exclude-cases": [],
            "exclude-agent-cases": {},
        }
        spec_path = out_dir / "fuzzingclient.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        client = Process(
            "wstest fuzzingclient",
            [str(python2), str(HERE / "wstest_loopback.py"),
             "-m", "fuzzingclient", "-s", str(spec_path)],
            out_dir / "wstest.log",
            env=wstest_env(),
            cwd=out_dir,
        )
        try:
            status = client.wait(timeout)
            if status is None:
                raise RunError(f"wstest fuzzingclient still running after {timeout}s")
            if status != 0:
                raise RunError(f"wstest fuzzingclient exited with {status}")
        finally:
            client.stop()
        if server.popen.poll() is not None:
            raise RunError(f"echo server died:\n{server.output()[-3000:]}")
    finally:
        status = server.stop()
        if status not in (0, None):
            print(f"  note: echo server exited with {status}, see {server.log_path}")
    return read_report(out_dir, config.agent)


def start_fuzzing_server(python2, patterns, out_dir):
    """Start wstest's fuzzing server on a free port; returns (process, port).

    The port is free when chosen but could be taken before wstest binds it;
    wstest then exits, and another port is tried, three times at most.
    """
    for attempt in range(3):
        port = free_port()
        spec = {
            "url": f"ws://{HOST}:{port}",
            "outdir": str(out_dir),
            "cases": patterns,
            "exclude-cases": [],
            "exclude-agent-cases": {},
        }
        spec_path = out_dir / "fuzzingserver.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        server = Process(
            "wstest fuzzingserver",
            [str(python2), str(HERE / "wstest_loopback.py"),
             "-m", "fuzzingserver", "-s", str(spec_path), "--webport", "0"],
            out_dir / "wstest.log",
            env=wstest_env(),
            cwd=out_dir,
        )
        if wait_for_port(server, port, 60):
            return server, port
        server.stop()
    raise RunError(f"wstest fuzzingserver did not start:\n{server.output()[-3000:]}")


def run_client_role(config, python2, patterns, out_dir, timeout):
    """wstest's fuzzing server, our echo client. Returns the report's cases."""
    server, port = start_fuzzing_server(python2, patterns, out_dir)
    try:
        client = Process(
            "echo_client",
            [sys.executable, str(HERE / "echo_client.py"), f"ws://{HOST}:{port}",
             "--agent", config.agent, "--lib", config.lib, "--impl", config.impl],
            out_dir / "echo_client.log",
            env=config.env(),
        )
        try:
            status = client.wait(timeout)
            if status is None:
                raise RunError(f"echo client still running after {timeout}s")
        finally:
            client.stop()
        line = wait_for_line(client, "CLIENT ", 0)
        if line is None:
            raise RunError(f"echo client did not start:\n{client.output()[-3000:]}")
        config.check_backend(line.split()[-1])
        if status != 0:
            print(f"  note: echo client exited with {status}, see {client.log_path}")
    finally:
        server.stop()
    return read_report(out_dir, config.agent)


def read_report(out_dir, agent):
    """{case_id: result} from wstest's index.json, with each case's details."""
    index_path = out_dir / "index.json"
    if not index_path.exists():
        raise RunError(f"no report at {index_path}")
    index = json.loads(index_path.read_text())
    cases = index.get(agent, {})
    for result in cases.values():
        detail_path = out_dir / result.get("reportfile", "")
        if result.get("reportfile") and detail_path.exists():
            detail = json.loads(detail_path.read_text())
            for key in ("description", "expectation", "result", "resultClose",
                        "expected", "received", "expectedClose"):
                if key in detail:
                    result[key] = detail[key]
    return cases


# ---------------------------------------------------------------- verdicts


def case_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def justification(case_id):
    for pattern, reason in JUSTIFIED.items():
        if case_id == pattern or (pattern.endswith("*") and case_id.startswith(pattern[:-1])):
            return reason
    return None


def verdict(result):
    """One of: pass, justify (NON-STRICT and the like), fail."""
    if result is None:
        return "fail"
    outcomes = {result.get("behavior"), result.get("behaviorClose")}
    if outcomes <= PASSING:
        return "pass"
    if outcomes <= PASSING | NEEDS_JUSTIFICATION:
        return "justify"
    return "fail"


def summarize(results, expected_cases, configs):
    """Print and return the per-group table and the list of cases not OK."""
    lines = []
    header = ["group", "cases"] + [c.label for c in configs]
    rows = []
    for group in GROUPS:
        ids = [case for case in expected_cases if case.split(".")[0] == group]
        if not ids:
            continue
        row = [f"{group} {GROUP_TITLES[group]}", str(len(ids))]
        for config in configs:
            cases = results.get(config.label)
            if cases is None:
                row.append("not run")
                continue
            counts = {}
            for case in ids:
                result = cases.get(case)
                name = "MISSING" if result is None else result.get("behavior", "?")
                if result is not None and name in PASSING and result.get("behaviorClose") not in PASSING:
                    name = result.get("behaviorClose")
                counts[name] = counts.get(name, 0) + 1
            ok = counts.pop("OK", 0)
            cell = f"{ok} OK" if not counts else ", ".join(
                [f"{ok} OK"] + [f"{n} {name}" for name, n in sorted(counts.items())]
            )
            row.append(cell)
        rows.append(row)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")

    problems = []
    for config in configs:
        cases = results.get(config.label)
        if cases is None:
            continue
        for case in expected_cases:
            result = cases.get(case)
            kind = verdict(result)
            if kind == "pass":
                continue
            reason = justification(case) if kind == "justify" else None
            problems.append((config, case, result, kind if reason is None else "justified", reason))
    return lines, problems


def slowest_cases(results, count):
    """The ``count`` cases with the longest duration in any configuration (ms)."""
    longest = {}
    for cases in results.values():
        for case, result in cases.items():
            longest[case] = max(longest.get(case, 0), result.get("duration") or 0)
    return sorted(longest.items(), key=lambda item: -item[1])[:count]


def describe(config, case, result, kind, reason):
    if result is None:
        return f"- {config.label} {case}: MISSING from the report"
    text = (
        f"- {config.label} {case}: {result.get('behavior')} / close {result.get('behaviorClose')}"
        f" (remote close code {result.get('remoteCloseCode')})"
    )
    if kind == "justified":
        # The reason in full is in JUSTIFIED; its first sentence is enough here.
        return text + f" - justified: {reason.split('. ')[0]}."
    details = []
    if result.get("description"):
        details.append(f"    case: {result['description']}")
    if result.get("expectation"):
        details.append(f"    expected: {result['expectation']}")
    if result.get("behavior") not in PASSING and result.get("result"):
        details.append(f"    actual: {result['result']}")
    if result.get("behaviorClose") not in PASSING and result.get("resultClose"):
        details.append(f"    close: {result['resultClose']}")
        expected_close = result.get("expectedClose") or {}
        if expected_close.get("closeCode"):
            details.append(f"    expected close codes: {expected_close['closeCode']}")
    return "\n".join([text] + [" ".join(d.split()) for d in details])


# -------------------------------------------------------------------- main


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cases", default="1-10",
        help="all, ci, a range of groups (1-10), or a list of ids and patterns "
        "(9.3.*,12.1.1) (default: 1-10)",
    )
    parser.add_argument("--roles", default="server,client", help="default: server,client")
    parser.add_argument("--backends", default="compiled,pure", help="default: compiled,pure")
    parser.add_argument("--impl", default="asyncio,sync,legacy", help="default: asyncio,sync,legacy")
    parser.add_argument(
        "--lib", default="websockets_fast", choices=["websockets_fast", "websockets"],
        help="library under test (default: websockets_fast)",
    )
    parser.add_argument(
        "--ci", action="store_true",
        help="CI mode: --cases ci, both roles, both backends, asyncio, sync and legacy "
        "(an explicit --impl etc. still applies)",
    )
    parser.add_argument(
        "--installed", action="store_true",
        help="test the library installed in this Python (e.g. a wheel in a venv) "
        "rather than this checkout built in place",
    )
    parser.add_argument(
        "--timeout", type=float, default=None,
        help="seconds allowed for one configuration's run "
        "(default: 3600, 900 with --ci)",
    )
    args = parser.parse_args(argv)
    if args.ci and args.cases == "1-10":
        args.cases = "ci"
    if args.timeout is None:
        args.timeout = 900 if args.ci else 3600
    for name, allowed in (("roles", {"server", "client"}),
                          ("backends", {"compiled", "pure"}),
                          ("impl", {"asyncio", "sync", "legacy"})):
        values = [v.strip() for v in getattr(args, name).split(",") if v.strip()]
        if not values or not set(values) <= allowed:
            parser.error(f"--{name} takes a comma-separated list of {sorted(allowed)}")
        setattr(args, name, values)
    if args.lib == "websockets":
        # The reference has one backend; running it twice would measure nothing new.
        args.backends = ["reference"]
    return args


def library_version(lib, installed):
    """The version of the library under test, and where it is imported from."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {lib}; print({lib}.__version__, {lib}.__file__)"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60,
        cwd=HERE,  # as the echo programs, whose folder is first on sys.path
        env=Config("server", "asyncio", "compiled", lib, installed).env(),
    )
    words = result.stdout.split()
    return tuple(words) if len(words) == 2 else ("?", "?")


def checkout_revision():
    """The commit of this checkout, with -dirty when files differ from it."""
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return result.stdout.strip() or "?"


def main(argv=None):
    args = parse_args(argv)
    # A SIGTERM (e.g. from CI's own timeout) unwinds through the finally
    # blocks, which stop every child process group.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.monotonic()
    version, location = library_version(args.lib, args.installed)
    if location == "?":
        where = "installed in this Python" if args.installed else f"importable from {ROOT}"
        sys.exit(f"compliance: {args.lib} is not {where}")
    source = ""
    if args.lib == "websockets_fast" and not args.installed:
        # At the start: the checkout may move on while the suite runs.
        source = f" (git {checkout_revision()})"
    print(f"testing {args.lib} {version}{source} from {location}")
    python2 = setup_wstest()
    versions = wstest_versions(python2)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = REPORTS / f"{stamp}-{args.lib}"
    run_dir.mkdir(parents=True, exist_ok=True)
    patterns = case_patterns(args.cases)
    expected_cases = list_cases(python2, patterns, run_dir)
    if not expected_cases:
        sys.exit(f"no case matches {args.cases!r}")

    configs = [
        Config(role, impl, backend, args.lib, args.installed)
        for role in args.roles
        for impl in args.impl
        for backend in args.backends
    ]
    print(f"{len(expected_cases)} cases x {len(configs)} configurations; reports in {run_dir}")
    results, errors, durations = {}, [], {}
    for config in configs:
        out_dir = run_dir / config.role / f"{config.impl}-{config.backend}"
        out_dir.mkdir(parents=True, exist_ok=True)
        runner = run_server_role if config.role == "server" else run_client_role
        print(f"== {config.label}: running", flush=True)
        t0 = time.monotonic()
        try:
            results[config.label] = runner(config, python2, patterns, out_dir, args.timeout)
        except (RunError, OSError, subprocess.SubprocessError) as exc:
            errors.append(f"{config.label}: {exc}")
            print(f"== {config.label}: ERROR {exc}", flush=True)
        durations[config.label] = time.monotonic() - t0
        print(f"== {config.label}: done in {durations[config.label]:.0f}s", flush=True)

    table, problems = summarize(results, expected_cases, configs)
    elapsed = time.monotonic() - started
    heading = (
        f"Autobahn|Testsuite {versions['autobahntestsuite']} (autobahn {versions['autobahn']}), "
        f"{args.lib} {version}{source}, Python {sys.version.split()[0]}, "
        f"cases {args.cases!r} ({len(expected_cases)}), "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min"
    )
    failed = [p for p in problems if p[3] in ("fail", "justify")]
    report = [heading, ""] + table + [""]
    report += [f"Not OK ({len(problems)}):" if problems else "Every case OK."]
    report += [describe(*p) for p in problems]
    report += [f"ERROR {e}" for e in errors]
    if failed:
        # One line per case that fails the run, with the configurations.
        by_case = {}
        for config, case, result, _, _ in failed:
            outcome = "MISSING" if result is None else (
                f"{result.get('behavior')}/{result.get('behaviorClose')}")
            by_case.setdefault((case, outcome), []).append(config.label)
        report += ["", "Failing the run:"]
        report += [
            f"- {case} {outcome}: {len(labels)} of {len(configs)} configurations"
            f" ({', '.join(labels)})"
            for (case, outcome), labels in sorted(by_case.items(), key=lambda i: case_key(i[0][0]))
        ]
    report += ["", "Durations: " + ", ".join(f"{k} {v:.0f}s" for k, v in durations.items())]
    report += ["Slowest cases: " + ", ".join(
        f"{case} {ms / 1000:.1f}s" for case, ms in slowest_cases(results, 10)
    )]
    text = "\n".join(report)
    print()
    print(text)
    (run_dir / "summary.md").write_text(text + "\n")
    (REPORTS / "latest-summary.md").write_text(text + "\n")
    (run_dir / "summary.json").write_text(json.dumps({
        "heading": heading,
        "durations": durations,
        "errors": errors,
        "problems": [
            {"config": p[0].label, "case": p[1], "verdict": p[3],
             "behavior": (p[2] or {}).get("behavior"),
             "behaviorClose": (p[2] or {}).get("behaviorClose"),
             "remoteCloseCode": (p[2] or {}).get("remoteCloseCode")}
            for p in problems
        ],
    }, indent=2))
    # The closing line CI reads: case results over every configuration; a
    # configuration that did not complete counts all its cases as failed.
    total = len(expected_cases) * len(configs)
    n_failed = len(failed) + sum(
        len(expected_cases) for c in configs if c.label not in results
    )
    if errors:
        print(f"compliance: {len(errors)} configuration(s) did not complete")
    print(f"compliance: {total - n_failed} passed, {n_failed} failed")
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
