"""The Autobahn harness's echo programs start, echo over 127.0.0.1 and stop.

No wstest here: compliance/run.py needs Python 2.7 and minutes. These tests
check the two programs it drives, on the library under test (and on the
reference library, which validates the tests themselves):
- echo_server.py echoes text and binary messages, compressed, and exits 0 on
  SIGTERM;
- echo_client.py follows the fuzzing server's protocol (getCaseCount, runCase
  for each case, updateReports) against a small stand-in written here with the
  reference library.
Each runs in a subprocess with the current environment, so the backend under
test (WEBSOCKETS_FAST_PURE) is the one the program reports.
"""

import asyncio
import importlib.util
import selectors
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import run, subprocess_env

import websockets.asyncio.server
import websockets.sync.client

ROOT = Path(__file__).resolve().parent.parent
COMPLIANCE = ROOT / "compliance"
STARTUP_TIMEOUT = 30
EXIT_TIMEOUT = 30


def has_module(name):
    """Whether the module exists; an import error inside it is raised."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError as exc:
        # A missing parent package (websockets_fast.asyncio) means "not yet".
        if exc.name and name.startswith(exc.name + "."):
            return False
        raise


def library(lib, impl):
    """A pytest.param for one library and I/O implementation."""
    module = f"{lib}.{impl}.server"
    marks = []
    if lib == "websockets_fast" and not has_module(module):
        marks.append(pytest.mark.skip(reason=f"{module} does not exist yet"))
    return pytest.param(lib, impl, marks=marks, id=f"{lib}-{impl}")


LIBRARIES = [
    library(lib, impl)
    for lib in ("websockets_fast", "websockets")
    for impl in ("asyncio", "sync", "legacy")
]


def expected_backend(lib):
    if lib == "websockets":
        return "reference"
    from websockets_fast import speedups

    return speedups.BACKEND


def read_line(process, timeout):
    """The next line of the process's stdout, or fail after ``timeout`` seconds."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout):
            pytest.fail(f"no output within {timeout}s")
        return process.stdout.readline().decode()
    finally:
        selector.close()


def stop(process):
    """SIGTERM, then SIGKILL if needed; return the exit status of SIGTERM."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(EXIT_TIMEOUT)
        return "killed"
    finally:
        process.stdout.close()


@pytest.mark.parametrize("lib,impl", LIBRARIES)
def test_echo_server_echoes_and_stops(lib, impl):
    process = subprocess.Popen(
        [sys.executable, str(COMPLIANCE / "echo_server.py"), "--lib", lib, "--impl", impl],
        stdout=subprocess.PIPE,
        env=subprocess_env(),
    )
    try:
        line = read_line(process, STARTUP_TIMEOUT)
        word, host, port, got_lib, got_impl, backend = line.split()
        assert (word, host, got_lib, got_impl) == ("LISTENING", "127.0.0.1", lib, impl)
        assert backend == expected_backend(lib)

        with websockets.sync.client.connect(
            f"ws://127.0.0.1:{port}", compression="deflate", max_size=2**21,
            open_timeout=10, close_timeout=10,
        ) as client:
            assert client.protocol.extensions, "permessage-deflate was not negotiated"
            for message in ["hello", "é" * 1000, b"\x00\xff" * 3, b"", "x" * 2**20]:
                client.send(message)
                assert client.recv(timeout=10) == message
            # Fragmented messages are echoed whole.
            client.send(["frag", "mented"])
            assert client.recv(timeout=10) == "fragmented"
    finally:
        status = stop(process)
    assert status == 0


def fuzzing_server_stand_in(case_count, messages, seen):
    """A handler that plays wstest's fuzzing server, enough for echo_client.py."""

    async def handler(websocket):
        url = urllib.parse.urlsplit(websocket.request.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        seen.append((url.path, query))
        if url.path == "/getCaseCount":
            await websocket.send(str(case_count))
        elif url.path == "/runCase":
            for message in messages:
                await websocket.send(message)
                assert await asyncio.wait_for(websocket.recv(), 10) == message
        elif url.path == "/updateReports":
            pass
        await websocket.close()

    return handler


@pytest.mark.parametrize("lib,impl", LIBRARIES)
def test_echo_client_follows_fuzzing_protocol(lib, impl):
    seen = []
    messages = ["text", b"\x01\x02binary", "é" * 5000]

    async def main():
        async with websockets.asyncio.server.serve(
            fuzzing_server_stand_in(3, messages, seen), "127.0.0.1", 0
        ) as server:
            port = server.sockets[0].getsockname()[1]
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(COMPLIANCE / "echo_client.py"),
                f"ws://127.0.0.1:{port}", "--agent", "test-agent",
                "--lib", lib, "--impl", impl, "--case-timeout", "20",
                stdout=subprocess.PIPE, env=subprocess_env(),
            )
            try:
                output, _ = await asyncio.wait_for(process.communicate(), 60)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            return process.returncode, output.decode()

    status, output = run(main(), timeout=90)
    assert status == 0, output
    assert f"CLIENT {lib} {impl} {expected_backend(lib)}" in output
    assert "RAN 3 cases, 0 did not complete" in output
    assert seen == [("/getCaseCount", {})] + [
        ("/runCase", {"case": str(n), "agent": "test-agent"}) for n in (1, 2, 3)
    ] + [("/updateReports", {"agent": "test-agent"})]


def load_run_module():
    spec = importlib.util.spec_from_file_location("compliance_run", COMPLIANCE / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_case_selection_and_verdicts():
    harness = load_run_module()
    assert harness.case_patterns("all") == ["*"]
    assert harness.case_patterns("1-10") == [f"{n}.*" for n in (1, 2, 3, 4, 5, 6, 7, 9, 10)]
    assert harness.case_patterns("9.3.*, 12.1.1,13") == ["9.3.*", "12.1.1", "13.*"]
    assert harness.case_patterns("ci")[:9] == harness.case_patterns("1-10")

    assert harness.verdict({"behavior": "OK", "behaviorClose": "OK"}) == "pass"
    assert harness.verdict({"behavior": "INFORMATIONAL", "behaviorClose": "OK"}) == "pass"
    assert harness.verdict({"behavior": "NON-STRICT", "behaviorClose": "OK"}) == "justify"
    assert harness.verdict({"behavior": "OK", "behaviorClose": "WRONG CODE"}) == "fail"
    assert harness.verdict({"behavior": "FAILED", "behaviorClose": "OK"}) == "fail"
    assert harness.verdict(None) == "fail"
    # Every justification is written out, never empty.
    assert all(reason.strip() for reason in harness.JUSTIFIED.values())
