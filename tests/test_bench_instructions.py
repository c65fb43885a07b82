"""Smoke test of ``python -m bench instructions`` without valgrind.

The workloads that valgrind measures run here directly, a few messages each,
for every library that is installed: each one must finish with its exact
count (the echoes and pushed messages are checked byte for byte, and the
broadcast clients check every byte they receive). No time or instruction
count is asserted.
"""

import importlib.util
import os
import sys

import pytest

# bench/ lives next to tests/ and is not installed (see test_bench_smoke.py).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.append(ROOT)

from bench import instructions, peers  # noqa: E402


def _installed(lib):
    try:
        peers.adapter("websockets_fast" if lib == instructions.LOOP_TLS else lib)
    except ImportError:
        return False
    return True


LIBS = [lib for lib in instructions.LIBRARIES if _installed(lib)]
LOOPS = ["asyncio"] + (["uvloop"] if importlib.util.find_spec("uvloop") else [])


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("lib", [lib for lib in LIBS if instructions.supports("echo", lib)])
def test_echo(lib, loop):
    assert instructions.run_workload("echo", lib, loop, 5) == 5


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("lib", [lib for lib in LIBS if instructions.supports("push", lib)])
def test_push(lib, loop):
    assert instructions.run_workload("push", lib, loop, 5) == 5


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("lib", [lib for lib in LIBS if instructions.supports("wss-echo", lib)])
def test_wss_echo(lib, loop):
    pytest.importorskip("trustme")
    from websockets_fast.asyncio import tls

    before = tls.wrap_server_factory, tls.create_connection
    assert instructions.run_workload("wss-echo", lib, loop, 5) == 5
    # The loop-TLS row swaps them for its run only: the rest of this process
    # (the test suite) keeps our TLS layer and unix_connect.
    assert (tls.wrap_server_factory, tls.create_connection) == before


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("lib", [lib for lib in LIBS if instructions.supports("broadcast", lib)])
def test_broadcast(lib, loop):
    # Two rounds to five connections of the drainer process.
    assert instructions.run_workload("broadcast", lib, loop, 2, connections=5) == 2


@pytest.mark.parametrize("lib", [lib for lib in LIBS if instructions.supports("sync-echo", lib)])
def test_sync_echo(lib):
    assert instructions.run_workload("sync-echo", lib, instructions.THREADS, 5) == 5


def test_sync_echo_is_asked_for_and_runs_on_threads():
    assert "sync-echo" not in instructions.DEFAULT_WORKLOADS
    cases = instructions.plan(("sync-echo",), instructions.LIBRARIES, ("uvloop", "asyncio"), every_loop=True)
    # picows has no threading implementation.
    assert cases == [
        ("sync-echo", "threads", "websockets_fast"),
        ("sync-echo", "threads", "websockets"),
        ("sync-echo", "threads", "raw TCP"),
    ]
    with pytest.raises(peers.Unsupported):
        instructions.run_workload("sync-echo", "picows.websockets", instructions.THREADS, 1)


def test_raw_tcp_runs_the_echo_rows_only():
    cases = instructions.plan(instructions.DEFAULT_WORKLOADS, instructions.LIBRARIES, ("uvloop", "asyncio"))
    raw = {case for case in cases if case[2] == "raw TCP"}
    assert raw == {("echo", "uvloop", "raw TCP"), ("echo", "asyncio", "raw TCP")}
    loop_tls = {case for case in cases if case[2] == instructions.LOOP_TLS}
    assert loop_tls == {("wss-echo", "uvloop", instructions.LOOP_TLS), ("wss-echo", "asyncio", instructions.LOOP_TLS)}
    for workload in ("push", "wss-echo"):
        with pytest.raises(peers.Unsupported):
            instructions.run_workload(workload, "raw TCP", "asyncio", 1)


def test_plan_runs_push_and_broadcast_on_the_first_loop_unless_asked():
    loops = ("uvloop", "asyncio")
    quick = instructions.plan(instructions.DEFAULT_WORKLOADS, ("websockets_fast",), loops)
    assert quick == [
        ("echo", "uvloop", "websockets_fast"),
        ("echo", "asyncio", "websockets_fast"),
        ("push", "uvloop", "websockets_fast"),
        ("broadcast", "uvloop", "websockets_fast"),
        ("wss-echo", "uvloop", "websockets_fast"),
        ("wss-echo", "asyncio", "websockets_fast"),
    ]
    full = instructions.plan(instructions.DEFAULT_WORKLOADS, ("websockets_fast",), loops, every_loop=True)
    assert len(full) == 8


def test_read_total(tmp_path):
    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 841451033\n\ntotals: 841451033\n")
    assert instructions.read_total(str(out)) == 841451033
    out.write_text("events: Ir\n")
    with pytest.raises(ValueError):
        instructions.read_total(str(out))


def test_table_ratios_and_errors():
    def row(lib, per_message, error=None):
        return {"label": "echo 64 B binary", "loop": "uvloop", "library": lib,
                "per_message": per_message, "error": error}

    text = instructions.table([
        row("websockets_fast", 50_000.0),
        row("picows.websockets", 40_000.0),
        row("websockets", None, "RuntimeError: boom"),
        row("raw TCP", 20_000.0),
    ])
    assert "| echo 64 B binary | uvloop | 50.0k" in text
    assert "| 1.25" in text  # websockets_fast / picows.websockets
    assert "n/a: websockets, echo 64 B binary, uvloop: RuntimeError: boom" in text


def test_server_frame():
    assert instructions.server_frame("hi") == b"\x81\x02hi"


def test_wall_clock_runs_the_same_workloads(capsys):
    from bench import wall

    args = ["--workload", "wss-echo", "--messages", "3", "--reps", "1", "--loops", "asyncio"]
    assert wall.main(args + ["--libs", f"websockets_fast,{instructions.LOOP_TLS}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("wss echo")
    assert [line.split()[1] for line in lines[1:]] == ["websockets_fast", "websockets_fast+loop"]
