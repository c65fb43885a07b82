"""The interactive client, ``python -m websockets_fast <uri>``, run as a subprocess
against a server on 127.0.0.1."""

import subprocess
import sys
import threading

import pytest

from conftest import subprocess_env

from websockets_fast.sync.server import serve

TIMEOUT = 30


@pytest.fixture
def server():
    """A threading server; the handler is chosen by the request path."""

    def handler(connection):
        if connection.request.path == "/echo":
            for message in connection:
                connection.send(message)
        elif connection.request.path == "/goodbye":
            connection.send("bye\x1b[2J")
            connection.send(b"\x01\x02")
            connection.close(1001, "done")

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield "ws://127.0.0.1:%d" % server.socket.getsockname()[1]
        server.shutdown()
        thread.join(TIMEOUT)


def start_cli(*args):
    env = subprocess_env()
    process = subprocess.Popen(
        [sys.executable, "-m", "websockets_fast", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        bufsize=1,
    )
    # A hung client is killed, which ends its output: reads never block forever.
    watchdog = threading.Timer(TIMEOUT, process.kill)
    watchdog.start()
    return process, watchdog


def run_cli(*args, stdin=""):
    process, watchdog = start_cli(*args)
    try:
        out, err = process.communicate(stdin)
    finally:
        watchdog.cancel()
        process.kill()
    return process.returncode, out, err


def test_echo_then_end_of_input(server):
    process, watchdog = start_cli(server + "/echo")
    try:
        lines = [process.stdout.readline()]
        # One line at a time, waiting for each echo: a close right after the
        # last line would reach the server before it echoes (and it would
        # then rightly not echo any more).
        for message in ["hello", "wörld"]:
            process.stdin.write(message + "\n")
            process.stdin.flush()
            lines.append(process.stdout.readline())
        process.stdin.close()
        lines += process.stdout.readlines()
        status = process.wait()
    finally:
        watchdog.cancel()
        process.kill()
        process.stdout.close()
        process.stderr.close()
    assert status == 0
    assert [line.rstrip("\n") for line in lines] == [
        f"Connected to {server}/echo.",
        "< hello",
        "< wörld",
        "Connection closed: 1000 (OK).",
    ]


def test_server_closes_first(server):
    # Standard input stays open: the client still exits when the server closes.
    process, watchdog = start_cli(server + "/goodbye")
    try:
        out = process.stdout.read()
        status = process.wait()
    finally:
        watchdog.cancel()
        process.kill()
        process.stdin.close()
        process.stdout.close()
        process.stderr.close()
    assert status == 0
    assert out.splitlines() == [
        f"Connected to {server}/goodbye.",
        "< bye\\x1b[2J",  # control characters escaped, never sent to the terminal
        "< (binary) 0102",
        "Connection closed: 1001 (going away) done.",
    ]


def test_connection_refused():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    status, out, _ = run_cli(f"ws://127.0.0.1:{port}/", stdin="")
    assert status == 1
    assert out.startswith(f"Failed to connect to ws://127.0.0.1:{port}/: ")


def test_version_and_usage():
    from websockets_fast.version import version

    status, out, _ = run_cli("--version")
    assert (status, out) == (0, f"websockets_fast {version}\n")
    status, out, err = run_cli()
    assert status == 2 and "usage" in (out + err).lower()
