"""Smoke test of the benchmark suite (bench/): one tiny run, end to end.

No timing is asserted: the point is that the workers start, every echo comes
back byte for byte, the results are summarised, and the table, JSON and plot
are written. The `websockets` package (a test dependency) is the library run.
"""

import json
import os
import sys

import pytest

# bench/ lives next to tests/ and is not installed. Appended, not prepended,
# so that an installed websockets_fast keeps precedence over the source tree;
# worker processes inherit this sys.path.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.append(ROOT)

from bench import peers, report, suite, workers  # noqa: E402
from conftest import requires_peer  # noqa: E402

SETTINGS = dict(suite.SETTINGS, compression=False)


def test_payloads_are_deterministic_and_exact():
    for kind in ("random", "json"):
        for size in (0, 1, 64, 1000, 16 * 1024):
            payload = workers.make_payload(size, kind)
            assert len(payload) == size
            assert payload == workers.make_payload(size, kind)
    burst = workers.pipeline_payloads(256, 100)
    assert len(set(burst)) == 100
    assert all(len(p) == 256 for p in burst)


def test_echo_check_rejects_a_different_reply():
    peers._check(b"abc", b"abc")
    with pytest.raises(peers.EchoMismatch):
        peers._check(b"abd", b"abc")
    with pytest.raises(peers.EchoMismatch):
        peers._check("abc", b"abc")


def _pair(lib, server_lib=None):
    server = workers.Worker("server", server_lib or lib, "asyncio", SETTINGS)
    client = workers.Worker("client", lib, "asyncio", SETTINGS)
    return server, client


def _echo_round(server, client, size):
    assert server.wait_ready(60), server.error
    assert client.wait_ready(60), client.error
    uri = f"ws://127.0.0.1:{server.info['port']}/"
    # prepare_echo checks the first echo byte for byte; measure_echo checks
    # every reply and raises inside the worker on any difference.
    client.call("prepare_echo", uri, size, "random", warmup=5, timeout=60)
    result = client.call("measure_echo", 50, 60.0, timeout=90)
    client.call("release", timeout=30)
    assert 1 <= result["messages"] <= 50
    client.call("prepare_pipeline", uri, 256, 100, timeout=60)
    result = client.call("measure_pipeline", 2, 60.0, timeout=90)
    client.call("release", timeout=30)
    assert result["messages"] in (100, 200)


@requires_peer
def test_echo_end_to_end_in_worker_processes():
    server, client = _pair("websockets")
    try:
        for size in (64, 70_000):
            _echo_round(server, client, size)
        assert server.call("wait_connections", 0, timeout=30) == 0
    finally:
        client.stop()
        server.stop()
    assert not server.alive and not client.alive


@requires_peer
def test_websockets_fast_client_against_websockets_server():
    pytest.importorskip("websockets_fast.asyncio.client")
    server, client = _pair("websockets_fast", "websockets")
    try:
        _echo_round(server, client, 1000)
    finally:
        client.stop()
        server.stop()


def test_a_failing_library_is_reported_not_raised():
    worker = workers.Worker("server", "websockets", "no-such-loop", SETTINGS)
    try:
        assert not worker.wait_ready(60)
        assert "unknown loop" in worker.error
        with pytest.raises(workers.WorkerError):
            worker.call("cpu")
    finally:
        worker.stop()


@requires_peer
def test_quick_suite_one_library(tmp_path):
    options = suite.Options(
        quick=True,
        reps=1,
        loops=("asyncio",),
        libraries=("websockets",),
        quick_connections=5,
        seconds=0.05,
    )
    results = suite.run(options)
    rows = suite.summarize(results["cases"], results["samples"], results["errors"])
    assert {row["workload"] for row in rows} == {"echo", "pipelined", "memory"}
    for row in rows:
        assert row["median"] is not None, row["error"]
        assert not row["errors"], row["errors"]
    memory = [row for row in rows if row["workload"] == "memory"]
    assert all(row["median"]["count"] == 5 for row in memory)

    text = report.table(rows)
    assert "echo 64 B" in text and "pipelined" in text and "idle memory" in text

    meta = {"mode": "quick", "reps": 1, "versions": report.versions(["websockets"]),
            "machine": report.machine(), "settings": suite.SETTINGS}
    report.write_json(tmp_path / "results.json", rows, meta)
    loaded = json.loads((tmp_path / "results.json").read_text())
    assert loaded["meta"]["versions"]["websockets"]
    assert len(loaded["rows"]) == len(rows)
    pytest.importorskip("matplotlib")
    assert report.write_plot(tmp_path / "plot.png", rows, meta)
    assert (tmp_path / "plot.png").stat().st_size > 0


def test_raw_tcp_reference_echo_in_worker_processes():
    server, client = _pair("raw TCP")
    try:
        assert server.wait_ready(60), server.error
        assert client.wait_ready(60), client.error
        uri = f"ws://127.0.0.1:{server.info['port']}/"
        # A payload larger than one read: recv() must join the pieces.
        for size in (64, 300_000):
            client.call("prepare_echo", uri, size, "random", warmup=5, timeout=60)
            result = client.call("measure_echo", 20, 60.0, timeout=90)
            client.call("release", timeout=30)
            assert 1 <= result["messages"] <= 20
        assert server.call("wait_connections", 0, timeout=30) == 0
    finally:
        client.stop()
        server.stop()


def test_raw_tcp_is_planned_for_echo_only():
    for quick in (True, False):
        cases = suite.plan(suite.Options(quick=quick, loops=("asyncio",)))
        raw = [case for case in cases if "raw TCP" in (case.client, case.server)]
        assert raw, quick
        assert all(case.workload == "echo" and case.client == case.server and not case.compression for case in raw)
