"""Echo round trips over the threading implementations, side by side.

websockets_fast.sync against websockets.sync, each library's client talking
to its own server, 64 B and 1 KiB binary messages, no compression, no
keepalive. The server runs in a child process (so client and server don't
share a GIL, as in production); the client sends one message and waits for
the echo before sending the next. Libraries alternate within each
repetition and the median of the repetitions is reported.

    python bench/bench_sync.py            # full run
    python bench/bench_sync.py --quick    # a few seconds

``run(quick)`` returns one dict per (size, library) with ``messages_per_s``
and ``ratio`` (against websockets.sync).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

LIBRARIES = {
    "websockets_fast.sync": ("websockets_fast.sync.server", "websockets_fast.sync.client"),
    "websockets.sync": ("websockets.sync.server", "websockets.sync.client"),
}
BASELINE = "websockets.sync"
SIZES = (64, 1024)

# The child process: an echo server that prints its port and stops when
# its stdin closes.
SERVER_CODE = """
import sys, threading
from {module} import serve

def echo(websocket):
    for message in websocket:
        websocket.send(message)

with serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None, max_size=2**20) as server:
    print(server.socket.getsockname()[1], flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()
"""


class EchoServer:
    """An echo server of one library in a child process."""

    def __init__(self, library):
        env = dict(os.environ)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER_CODE.format(module=LIBRARIES[library][0])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"{library} server didn't start")
        self.port = int(line)

    def stop(self):
        try:
            self.process.stdin.close()
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def echo_rate(library, port, size, duration):
    """Round trips per second over ``duration`` seconds (after a warm-up)."""
    connect = __import__(LIBRARIES[library][1], fromlist=["connect"]).connect
    message = b"x" * size
    with connect(f"ws://127.0.0.1:{port}", compression=None, ping_interval=None, max_size=2**20) as websocket:
        for _ in range(200):
            websocket.send(message)
            websocket.recv()
        count = 0
        start = time.perf_counter()
        deadline = start + duration
        while True:
            # Check the clock every 100 round trips only.
            for _ in range(100):
                websocket.send(message)
                websocket.recv()
            count += 100
            now = time.perf_counter()
            if now >= deadline:
                return count / (now - start)


def run(quick: bool) -> list[dict]:
    """Measure; return one dict per (size, library)."""
    repetitions, duration = (3, 0.3) if quick else (7, 1.0)
    servers = {library: EchoServer(library) for library in LIBRARIES}
    try:
        rates = {(size, library): [] for size in SIZES for library in LIBRARIES}
        order = list(LIBRARIES)
        for repetition in range(repetitions):
            for size in SIZES:
                # Rotate the order so that noise doesn't favour one library.
                for library in order[repetition % 2 :] + order[: repetition % 2]:
                    rates[size, library].append(echo_rate(library, servers[library].port, size, duration))
    finally:
        for server in servers.values():
            server.stop()

    from websockets_fast import speedups

    results = []
    for size in SIZES:
        baseline = statistics.median(rates[size, BASELINE])
        for library in LIBRARIES:
            median = statistics.median(rates[size, library])
            results.append(
                {
                    "workload": "sync echo",
                    "size": size,
                    "library": library,
                    "messages_per_s": round(median),
                    "ratio": round(median / baseline, 2),
                    "repetitions": repetitions,
                    "backend": speedups.BACKEND,
                }
            )
    return results


def main():
    quick = "--quick" in sys.argv[1:]
    results = run(quick)
    print(f"sync echo, round trips/s (median of {results[0]['repetitions']}), backend {results[0]['backend']}")
    print(f"{'size':>6}  {'library':<22} {'msg/s':>9}  {'vs websockets.sync':>18}")
    for row in results:
        print(f"{row['size']:>6}  {row['library']:<22} {row['messages_per_s']:>9}  {row['ratio']:>17.2f}x")


if __name__ == "__main__":
    main()
