"""Instructions per message, counted by valgrind's callgrind.

``python -m bench instructions`` prints one table: for each workload and
event loop, the CPU instructions each library executes per message. On a
shared machine wall-clock and CPU time move from one run to the next;
callgrind counts instructions, which barely move at all.

Method: each measurement runs one Python process under
``valgrind --tool=callgrind`` twice, doing the workload ``N1`` and then ``N2``
times; instructions per message = (Ir(N2) - Ir(N1)) / (N2 - N1). Interpreter
start-up, imports, the handshake and the close are the same in both runs and
cancel out.

Workloads (``WORKLOADS``):

- ``echo``: 64 B binary round trips, the client's ``send()`` then ``recv()``,
  the server's ``async for message in ws: await ws.send(message)``. Client and
  server share the process: the figure is both sides of one round trip.
- ``push``: the server sends 100-character text messages, the client
  ``recv()``s each one. Both sides, per message. The messages go in batches
  of ``PUSH_BATCH``, so that every library gets the same reads: the server
  ``send()``s a batch, then waits for the client's acknowledgement (an empty
  message) before the next one; the client sets SO_RCVLOWAT on its socket to
  the bytes of the batch it awaits, so that its event loop sees the socket
  readable only once the whole batch has arrived, reads it in one go,
  ``recv()``s its messages, and acknowledges. Without the batches, how many
  messages one read carries would depend on when the kernel delivers them,
  which differs from run to run on a loaded machine, and so would the
  count. The acknowledgements (one empty message each way per batch, about
  1/``PUSH_BATCH`` of an echo round trip per message) are in the figure,
  the same for every library.
- ``wss-echo``: ``echo`` over TLS (wss://, a certificate from trustme):
  each library with its own TLS (ours: ``websockets_fast.asyncio.tls``; the
  others: asyncio's ``sslproto`` on the default loop, uvloop's compiled TLS
  on uvloop). Both sides, per round trip.
- ``broadcast``: the server calls the library's ``broadcast(connections,
  message)`` with a 100-character text to 500 connections. Server only, per
  recipient: the clients are a separate plain-socket process (not under
  valgrind, the same for every library) that does the opening handshakes and
  then reads and checks the bytes; it sends no frame until the server's loop
  has stopped, so while measured the server does nothing but the broadcast.

- ``sync-echo`` (optional: only with ``--workloads sync-echo``): the echo
  above over the threading implementations (``websockets_fast.sync``,
  ``websockets.sync``; picows has none), in one process: the server's
  ``serve_forever()`` in a thread, its handler ``for message in ws:
  ws.send(message)`` in another, the client's ``send()`` then ``recv()`` in
  the main thread. The "loop" column says ``threads``. Valgrind runs one
  thread at a time, which changes when threads switch but not what each one
  executes: the count holds the locks, the thread hand-offs and the system
  call wrappers as the library does them.

``raw TCP`` (an asyncio.Protocol echo, no WebSocket) runs the echo rows: the
floor of the same round trip on the same loop; in the ``sync-echo`` row, a
blocking-socket echo thread and a client that ``sendall()``s then
``recv()``s.

The same module is the program valgrind runs: ``python -m bench.instructions
run WORKLOAD LIB LOOP COUNT`` (and ``drain``, the broadcast clients).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import select
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib import import_module

from bench import peers, workers
from bench.suite import SETTINGS

# Table columns, in order; the first is the library under test.
# "websockets_fast+loop TLS": our connection over the event loop's own TLS
# (asyncio's sslproto, uvloop's compiled one) instead of our layer, the
# reference of the wss-echo rows.
LOOP_TLS = "websockets_fast+loop TLS"
LIBRARIES = ("websockets_fast", "picows.websockets", "websockets", "raw TCP", LOOP_TLS)
WORKLOADS = ("echo", "push", "broadcast", "wss-echo", "sync-echo")
# What `python -m bench instructions` measures unless --workloads says.
DEFAULT_WORKLOADS = ("echo", "push", "broadcast", "wss-echo")
LOOPS = ("uvloop", "asyncio")
# The "loop" of the threading workloads, whatever --loops says.
THREADS = "threads"

# Libraries with a threading implementation: (server module, client module).
SYNC_MODULES = {
    "websockets_fast": ("websockets_fast.sync.server", "websockets_fast.sync.client"),
    "websockets": ("websockets.sync.server", "websockets.sync.client"),
}

# The echo rows' message size; BENCH_ECHO_SIZE=1048576 measures large
# messages (with --messages 2,7: each round trip of 1 MiB takes millions).
ECHO_SIZE = int(os.environ.get("BENCH_ECHO_SIZE", "64"))
PUSH_SIZE = 100
# Messages per read in the push workload (see above); the counts of MESSAGES
# are multiples of it.
PUSH_BATCH = 100
BROADCAST_SIZE = 100
BROADCAST_CONNECTIONS = 500

# Small enough that valgrind (about 50 times slower) stays quick, large enough
# that the difference dwarfs the few instructions that vary between runs.
MESSAGES = (200, 1200)
ROUNDS = (2, 12)  # broadcast rounds, each to every connection

# Bounds of one workload run under valgrind, and of the drainer's wait.
RUN_TIMEOUT = 600
DRAIN_TIMEOUT = 300


def text_message(size: int) -> str:
    """A deterministic ASCII text of ``size`` characters."""
    return workers.make_payload(size, "json").decode()


def label(workload: str, connections: int = BROADCAST_CONNECTIONS) -> str:
    if workload == "echo":
        return f"echo {ECHO_SIZE} B binary"
    if workload == "wss-echo":
        return f"wss echo {ECHO_SIZE} B binary"
    if workload == "push":
        return f"push {PUSH_SIZE} B text"
    if workload == "sync-echo":
        return f"sync echo {ECHO_SIZE} B binary"
    return f"broadcast {BROADCAST_SIZE} B text to {connections}"


def unit(workload: str) -> str:
    return "per recipient, server only" if workload == "broadcast" else "per message, client + server"


def supports(workload: str, lib: str) -> bool:
    if workload == "sync-echo":
        return lib in SYNC_MODULES or lib == "raw TCP"
    if lib == LOOP_TLS:
        return workload == "wss-echo"
    # Raw TCP is a stream: only a round trip of known size maps onto it.
    return workload == "echo" or lib != "raw TCP"


def loops_of(workload: str, loops, every_loop: bool = False) -> tuple:
    """The loops that ``workload`` runs on (see :func:`plan`)."""
    if workload == "sync-echo":
        return (THREADS,)
    return tuple(loops if every_loop or workload in ("echo", "wss-echo") else loops[:1])


# --------------------------------------------------------------------------
# The workloads, run in one process (under valgrind or not)


async def echo(lib: str, count: int, tls: dict | None = None) -> int:
    """``count`` echo round trips; client and server in this process. With
    ``tls`` (the PEM files of suite._tls_files), over wss://."""
    if lib == LOOP_TLS:
        with _loop_tls():
            return await echo("websockets_fast", count, tls)
    adapter = peers.adapter(lib)
    payload = workers.make_payload(ECHO_SIZE, "random")
    settings = dict(SETTINGS, tls=tls) if tls else SETTINGS
    port = await adapter.start_server(settings)
    try:
        ws = await adapter.open(f"{'wss' if tls else 'ws'}://{peers.HOST}:{port}/", settings)
        try:
            done = await adapter.echo(ws, payload, count, time.monotonic() + RUN_TIMEOUT)
        finally:
            await adapter.close(ws)
    finally:
        await adapter.stop_server()
    return done


@contextlib.contextmanager
def _loop_tls():
    """Make websockets_fast's serve() and connect() hand ``ssl`` to the event
    loop instead of our TLS layer, until the block ends (the test suite runs
    the workloads in its own process, where the switch must not outlive
    them)."""
    from websockets_fast.asyncio import tls

    def wrap_server_factory(protocol_factory, kwargs, handshake_timeout=None):
        return protocol_factory

    async def create_connection(protocol_factory, host=None, port=None, *, unix=False, path=None, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.create_connection(protocol_factory, host, port, **kwargs)

    saved = tls.wrap_server_factory, tls.create_connection
    tls.wrap_server_factory = wrap_server_factory
    tls.create_connection = create_connection
    try:
        yield
    finally:
        tls.wrap_server_factory, tls.create_connection = saved


async def push(lib: str, count: int) -> int:
    """``count`` text messages from the server, each ``recv()``'d by the
    client, ``PUSH_BATCH`` per read."""
    adapter = peers.adapter(lib)
    if not hasattr(adapter, "push"):
        raise peers.Unsupported(f"{lib} has no push workload")
    port = await adapter.start_server(SETTINGS, push=True)
    message = text_message(PUSH_SIZE)
    frame_size = len(server_frame(message))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    # Our own handle on the socket, whoever owns the one given to the library.
    control = socket.socket(fileno=os.dup(sock.fileno()))
    try:
        await asyncio.get_running_loop().sock_connect(sock, (peers.HOST, port))
        ws = await adapter.open(f"ws://{peers.HOST}:{port}/", SETTINGS, sock=sock)
    except BaseException:
        sock.close()
        control.close()
        raise

    def expect(messages: int) -> None:
        # The socket reads as readable once the whole batch has arrived.
        control.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, max(1, messages * frame_size))

    try:
        try:
            done = await adapter.push(ws, message, count, PUSH_BATCH, expect)
        finally:
            await adapter.close(ws)
    finally:
        control.close()
        await adapter.stop_server()
    return done


def sync_echo(lib: str, count: int) -> int:
    """``count`` echo round trips over the threading implementation; client
    and server in this process."""
    payload = workers.make_payload(ECHO_SIZE, "random")
    if lib == "raw TCP":
        return _raw_sync_echo(payload, count)
    if lib not in SYNC_MODULES:
        raise peers.Unsupported(f"{lib} has no threading implementation")
    server_module, client_module = (import_module(name) for name in SYNC_MODULES[lib])
    options = {"compression": None, "ping_interval": None, "max_size": SETTINGS["max_size"]}

    def handler(ws):
        for message in ws:
            ws.send(message)

    server = server_module.serve(handler, peers.HOST, 0, **options)
    acceptor = threading.Thread(target=server.serve_forever, daemon=True)
    acceptor.start()
    try:
        port = server.socket.getsockname()[1]
        with client_module.connect(f"ws://{peers.HOST}:{port}/", proxy=None, **options) as ws:
            # recv() without a timeout, as a program calls it, takes the
            # path measured; a shut-down socket ends a run that hangs.
            watchdog = threading.Timer(RUN_TIMEOUT, _shutdown_quietly, (ws.socket,))
            watchdog.daemon = True
            watchdog.start()
            try:
                for _ in range(count):
                    ws.send(payload)
                    peers._check(ws.recv(), payload)
            finally:
                watchdog.cancel()
    finally:
        server.shutdown()
        acceptor.join(30)
    return count


def _raw_sync_echo(payload: bytes, count: int) -> int:
    listener = socket.create_server((peers.HOST, 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        # Blocking, as the libraries' sockets are (a timeout would add a
        # poll() to every recv()); the watchdog ends a run that hangs.
        with socket.create_connection(listener.getsockname()) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            watchdog = threading.Timer(RUN_TIMEOUT, _shutdown_quietly, (sock,))
            watchdog.daemon = True
            watchdog.start()
            try:
                for _ in range(count):
                    sock.sendall(payload)
                    reply = b""
                    while len(reply) < len(payload):
                        chunk = sock.recv(65536)
                        if not chunk:
                            raise ConnectionError("the echo thread closed the connection")
                        reply += chunk
                    peers._check(reply, payload)
            finally:
                watchdog.cancel()
    finally:
        listener.close()
        server.join(30)
    return count


def _shutdown_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def broadcast(lib: str, rounds: int, connections: int, loop) -> int:
    """``rounds`` broadcasts to ``connections`` clients of a drainer process.

    Returns ``rounds`` once the drainer has checked every byte.
    """
    if lib == "raw TCP":
        raise peers.Unsupported("raw TCP runs the echo rows only")
    adapter = peers.adapter(lib)
    port = loop.run_until_complete(adapter.start_server(SETTINGS))
    # The drainer imports nothing of the libraries, so the checkout may go
    # on its path, which lets it start from any directory (tests included).
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=f"{path}{os.pathsep}{root}" if path else root)
    drainer = subprocess.Popen(
        [sys.executable, "-m", "bench.instructions", "drain", str(port), str(connections), str(rounds)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
    )
    try:
        work = _broadcast_rounds(adapter, drainer, text_message(BROADCAST_SIZE), rounds, connections)
        loop.run_until_complete(asyncio.wait_for(work, RUN_TIMEOUT))
    finally:
        # The drainer closes its connections only now, while the loop is
        # stopped: had the server seen them close while it ran, how many it
        # handled per loop iteration would vary, and so would the count.
        drainer.stdin.close()
        try:
            drainer.wait(30)
        except subprocess.TimeoutExpired:
            drainer.kill()
            drainer.wait(5)
        drainer.stdout.close()
    loop.run_until_complete(asyncio.wait_for(adapter.stop_server(), 30))
    return rounds


async def _broadcast_rounds(adapter, drainer, message: str, rounds: int, connections: int) -> None:
    loop = asyncio.get_running_loop()

    async def drainer_says(expected: bytes) -> None:
        # A blocking read in a thread, so that the loop goes on serving the
        # handshakes meanwhile.
        line = await asyncio.wait_for(loop.run_in_executor(None, drainer.stdout.readline), DRAIN_TIMEOUT)
        if line.strip() != expected:
            raise RuntimeError(f"broadcast clients: {line.decode(errors='replace').strip() or 'exited'}")

    await drainer_says(b"connected")
    # The drainer has every 101 response; a server may start the handler (and
    # register the connection) a moment after sending it.
    for _ in range(100):
        if len(adapter.connections) == connections:
            break
        await asyncio.sleep(0.01)
    if len(adapter.connections) != connections:
        raise RuntimeError(f"{len(adapter.connections)} of {connections} connections registered")
    for _ in range(rounds):
        adapter.broadcast(message)
        # uvloop queues writes until the end of a loop iteration.
        await asyncio.sleep(0)
    await drainer_says(b"received")


def server_frame(text: str) -> bytes:
    """The unmasked frame of a short text message, as a server sends it."""
    data = text.encode()
    assert len(data) < 126, "one length byte only"
    return bytes((0x81, len(data))) + data


def drain(port: int, connections: int, rounds: int) -> int:
    """The broadcast clients: plain sockets, handshake, then read and check.

    Prints ``connected`` once every handshake is done, ``received`` once every
    connection has exactly ``rounds`` frames, then waits for stdin to close.
    """
    deadline = time.monotonic() + DRAIN_TIMEOUT
    key = base64.b64encode(b"bench-instrs-key").decode()
    request = (
        f"GET / HTTP/1.1\r\nHost: {peers.HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    expected = server_frame(text_message(BROADCAST_SIZE)) * rounds
    socks, received = [], []
    try:
        # One at a time, so that the server sees the same sequence every run.
        for _ in range(connections):
            sock = socket.create_connection((peers.HOST, port), timeout=60)
            socks.append(sock)
            sock.sendall(request)
            response = b""
            while b"\r\n\r\n" not in response and time.monotonic() < deadline:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                response += chunk
            head, _, rest = response.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                print(f"handshake failed: {head[:60]!r}", flush=True)
                return 1
            received.append(rest)
        print("connected", flush=True)

        selector = selectors.DefaultSelector()
        for index, sock in enumerate(socks):
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, index)
        waiting = sum(len(data) < len(expected) for data in received)
        while waiting and time.monotonic() < deadline:
            for key_, _ in selector.select(1):
                index = key_.data
                before = len(received[index])
                chunk = socks[index].recv(65536)
                if not chunk:
                    print(f"connection {index} closed by the server", flush=True)
                    return 1
                received[index] += chunk
                if before < len(expected) <= len(received[index]):
                    waiting -= 1
        wrong = sum(data != expected for data in received)
        if waiting or wrong:
            print(f"{waiting} connections short, {wrong} wrong of {connections}", flush=True)
            return 1
        print("received", flush=True)
        # Keep the connections open until the server's loop has stopped
        # (see broadcast()): it closes our stdin then.
        select.select([sys.stdin], [], [], max(0.0, deadline - time.monotonic()))
        # A close frame (code 1000, masked with a zero key) before the TCP
        # close, so that the server ends each connection as a normal close.
        for sock in socks:
            sock.setblocking(True)
            sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
        return 0
    finally:
        for sock in socks:
            sock.close()


def run_workload(workload: str, lib: str, loop_name: str, count: int, connections: int = BROADCAST_CONNECTIONS,
                 tls: dict | None = None) -> int:
    """Run one workload to completion on a fresh event loop; return its count
    (messages, or broadcast rounds) once every message has been checked.
    ``tls``: the certificate files of wss-echo (written here when None)."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload: {workload}")
    if not supports(workload, lib):
        raise peers.Unsupported(f"{lib} doesn't run {workload}")
    if workload == "sync-echo":
        return sync_echo(lib, count)
    if workload == "wss-echo" and tls is None:
        from bench.suite import _tls_files

        tls = _tls_files()
    loop = workers.new_event_loop(loop_name)
    try:
        if workload == "broadcast":
            return broadcast(lib, count, connections, loop)
        if workload == "echo":
            work = echo(lib, count)
        elif workload == "wss-echo":
            work = echo(lib, count, tls)
        else:
            work = push(lib, count)
        return loop.run_until_complete(asyncio.wait_for(work, RUN_TIMEOUT))
    finally:
        loop.close()


# --------------------------------------------------------------------------
# Under valgrind


def valgrind_version() -> str:
    """valgrind's version, or "" when it is not installed."""
    if shutil.which("valgrind") is None:
        return ""
    try:
        return subprocess.run(["valgrind", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def read_total(path: str) -> int:
    """The total instruction count (Ir) of a callgrind output file."""
    with open(path) as out:
        for line in out:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise ValueError(f"no totals line in {path}")


def callgrind(workload: str, lib: str, loop: str, count: int, connections: int, out_file: str):
    """Run one workload under callgrind; return the instructions executed
    and the version of the library that the measured process imported."""
    command = [
        "valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out_file}",
        sys.executable, "-m", "bench.instructions", "run", workload, lib, loop, str(count),
        "--connections", str(connections),
    ]
    if workload == "wss-echo":
        # Written here, once: certificates made in the measured process would
        # count towards it (and trustme's keys differ from run to run).
        from bench.suite import _tls_files

        files = _tls_files()
        command += ["--ca", files["ca"], "--chain", files["chain"]]
    # A fixed hash seed: set and dict layouts, hence some instruction counts,
    # otherwise change from one run to the next.
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT + 60)
    if proc.returncode != 0:
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit status {proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["done"] != count:
        raise RuntimeError(f"ran {result['done']} of {count}")
    return read_total(out_file), result["version"]


def measure(workload: str, lib: str, loop: str, counts, connections: int, tmpdir: str) -> dict:
    """Instructions per message (per recipient for broadcast) from two runs."""
    n1, n2 = counts
    name = f"{workload}-{lib.replace(' ', '_')}-{loop}"
    ir1, version = callgrind(workload, lib, loop, n1, connections, os.path.join(tmpdir, f"{name}-{n1}.out"))
    ir2, _ = callgrind(workload, lib, loop, n2, connections, os.path.join(tmpdir, f"{name}-{n2}.out"))
    per_run = connections if workload == "broadcast" else 1
    return {"ir1": ir1, "ir2": ir2, "per_message": (ir2 - ir1) / ((n2 - n1) * per_run), "version": version}


def plan(workloads, libraries, loops, every_loop=False):
    """(workload, loop, lib) of every measurement, row by row.

    Echo and wss-echo run on every loop; push and broadcast on the first
    loop only, unless ``every_loop``: each valgrind run takes seconds.
    sync-echo runs on threads, not on a loop.
    """
    return [
        (workload, loop, lib)
        for workload in workloads
        for loop in loops_of(workload, loops, every_loop)
        for lib in libraries
        if supports(workload, lib)
    ]


def run(workloads=DEFAULT_WORKLOADS, libraries=LIBRARIES, loops=LOOPS, every_loop=False, messages=MESSAGES,
        rounds=ROUNDS, connections=BROADCAST_CONNECTIONS, progress=None) -> list:
    """Measure every case, one valgrind at a time; return the result rows."""
    cases = plan(workloads, libraries, loops, every_loop)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as tmpdir:
        for index, (workload, loop, lib) in enumerate(cases):
            counts = rounds if workload == "broadcast" else messages
            row = {"workload": workload, "label": label(workload, connections), "loop": loop, "library": lib,
                   "counts": list(counts), "unit": unit(workload), "error": None}
            if progress:
                progress(index, len(cases), f"{row['label']}, {loop}, {lib}")
            started = time.monotonic()
            try:
                row.update(measure(workload, lib, loop, counts, connections, tmpdir))
            except Exception as exc:  # reported in the table, not fatal
                row["error"] = workers._describe(exc)
            row["seconds"] = round(time.monotonic() - started, 1)
            rows.append(row)
        if progress:
            progress(len(cases), len(cases), "done")
    return rows


# --------------------------------------------------------------------------
# Output


def _kilo(value) -> str:
    return "-" if value is None else f"{value / 1000:.1f}k"


def table(rows, libraries=LIBRARIES) -> str:
    """The terminal table: one line per workload and loop, one column per library."""
    libs = [lib for lib in libraries if any(row["library"] == lib for row in rows)]
    cells = {(row["label"], row["loop"], row["library"]): row for row in rows}
    groups = list(dict.fromkeys((row["label"], row["loop"]) for row in rows))
    ratios = [ref for ref in ("picows.websockets", "websockets") if ref in libs and "websockets_fast" in libs]
    header = ["workload", "loop", *libs] + [f"fast / {'pws' if ref.startswith('picows') else 'ws'}" for ref in ratios]
    lines = [header]
    notes = []
    for group in groups:
        line = list(group)
        for lib in libs:
            row = cells.get((*group, lib))
            if row is None:
                line.append("-")
            elif row["error"]:
                notes.append(f"{lib}, {group[0]}, {group[1]}: {row['error']}")
                line.append("n/a")
            else:
                line.append(_kilo(row["per_message"]))
        ours = cells.get((*group, "websockets_fast"))
        for ref in ratios:
            theirs = cells.get((*group, ref))
            if ours and theirs and not ours["error"] and not theirs["error"]:
                line.append(f"{ours['per_message'] / theirs['per_message']:.2f}")
            else:
                line.append("-")
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    text.append("")
    text.append("Instructions (valgrind callgrind, Ir) per message: echo, wss echo and push count client + server in one")
    text.append("process; broadcast counts the server only, per recipient. fast / pws and fast / ws: websockets_fast")
    text.append("divided by picows.websockets and by websockets (below 1: fewer instructions). raw TCP (an")
    text.append("asyncio.Protocol echo, no WebSocket) runs the echo rows only.")
    if any(row.get("workload") == "sync-echo" for row in rows):
        text.append("sync echo: the threading implementations (client, server handler and reader threads in one")
        text.append("process); its raw TCP is a blocking-socket echo thread.")
    text.extend(f"n/a: {note}" for note in notes)
    return "\n".join(text)


# --------------------------------------------------------------------------
# Entry point of the measured process (and of the drainer)


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions",
                                     description="What `python -m bench instructions` runs under valgrind.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run one workload COUNT times and print a JSON line")
    run_parser.add_argument("workload", choices=WORKLOADS)
    run_parser.add_argument("lib", choices=LIBRARIES)
    run_parser.add_argument("loop", choices=LOOPS + (THREADS,), help=f"{THREADS} for sync-echo")
    run_parser.add_argument("count", type=int, help="messages, or broadcast rounds")
    run_parser.add_argument("--connections", type=int, default=BROADCAST_CONNECTIONS, help="broadcast only")
    run_parser.add_argument("--ca", help="wss-echo only: the authority's PEM file")
    run_parser.add_argument("--chain", help="wss-echo only: the server's key and certificate")
    drain_parser = commands.add_parser("drain", help="the broadcast clients")
    for name in ("port", "connections", "rounds"):
        drain_parser.add_argument(name, type=int)
    args = parser.parse_args(argv)
    if args.command == "drain":
        return drain(args.port, args.connections, args.rounds)
    tls = {"ca": args.ca, "chain": args.chain} if args.ca and args.chain else None
    done = run_workload(args.workload, args.lib, args.loop, args.count, args.connections, tls)
    print(json.dumps({"done": done, "version": peers.library_version(args.lib)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
