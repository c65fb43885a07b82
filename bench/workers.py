"""Server and client processes, driven over a pipe.

Each library's server runs in its own process, and so does each client, so
that CPU time and memory can be read per process and no library shares an
interpreter with another. A worker process runs its event loop in the main
thread; a second thread waits on the pipe for commands and hands each to the
loop. That thread sleeps in a blocking read between commands, so it costs no
CPU while a workload runs.

The orchestrating process talks to a worker through :class:`Worker`: every
call has a timeout, and a worker that misses it is killed by its PID.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import random
import threading
import time
import traceback

from bench import peers


class WorkerError(Exception):
    """A command failed inside a worker; the message says why."""


class WorkerTimeout(WorkerError):
    """A worker did not answer in time and was killed."""


# --------------------------------------------------------------------------
# Payloads, built the same way in every process from (size, kind, seed).


def make_payload(size: int, kind: str = "random", seed: int = 0) -> bytes:
    """Return a deterministic payload of exactly ``size`` bytes.

    ``kind`` is ``"random"`` (incompressible) or ``"json"`` (compressible
    JSON-like records, cut to the size).
    """
    rng = random.Random(f"{kind}:{size}:{seed}")
    if kind == "random":
        return rng.getrandbits(8 * size).to_bytes(size, "little") if size else b""
    if kind == "json":
        words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
        parts = []
        total = 0
        n = 0
        while total < size:
            record = {
                "id": n,
                "user": f"user_{rng.randrange(100000):05d}",
                "score": round(rng.random() * 1000, 3),
                "active": rng.random() < 0.5,
                "tags": rng.sample(words, 3),
                "ts": f"2026-11-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:00:00Z",
            }
            text = json.dumps(record, separators=(",", ":"))
            parts.append(text)
            total += len(text) + 1
            n += 1
        return ("[" + ",".join(parts) + "]").encode()[:size]
    raise ValueError(f"unknown payload kind: {kind}")


def pipeline_payloads(size: int, count: int) -> list:
    """Distinct payloads, so that a reordered or lost echo is caught."""
    base = make_payload(size, "random")
    head = min(size, 4)
    return [i.to_bytes(4, "little")[:head] + base[head:] for i in range(count)]


# --------------------------------------------------------------------------
# Process measurements


def resident_memory() -> int:
    """Resident set size of this process in bytes."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        pass
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def new_event_loop(loop_name: str) -> asyncio.AbstractEventLoop:
    """Create an event loop: ``"asyncio"`` (the default loop) or ``"uvloop"``."""
    if loop_name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if loop_name == "asyncio":
        return asyncio.new_event_loop()
    raise ValueError(f"unknown loop: {loop_name}")


def _raise_fd_limit() -> None:
    # Thousands of idle connections need as many file descriptors.
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    except (ImportError, ValueError, OSError):
        pass


# --------------------------------------------------------------------------
# Roles: what a worker does with each command


class ServerRole:
    """An echo server; commands read its CPU and memory and broadcast."""

    def __init__(self, lib: str, settings: dict, options: dict):
        self.lib = peers.adapter(lib)
        self.settings = settings
        self.options = options
        self.port = None

    async def start(self) -> dict:
        self.port = await self.lib.start_server(self.settings)
        if self.options.get("tracemalloc"):
            import tracemalloc

            tracemalloc.start()
        return {"port": self.port}

    async def cmd_cpu(self) -> float:
        return time.process_time()

    async def cmd_memory(self) -> dict:
        gc.collect()
        result = {"rss": resident_memory(), "connections": len(self.lib.connections)}
        import tracemalloc

        if tracemalloc.is_tracing():
            result["traced"] = tracemalloc.get_traced_memory()[0]
            # tracemalloc's own tables live in this process's RSS too.
            result["tracemalloc_overhead"] = tracemalloc.get_tracemalloc_memory()
        return result

    async def cmd_wait_connections(self, count: int, timeout: float = 10) -> int:
        """Wait until the server holds ``count`` connections; return how many it holds."""
        deadline = time.monotonic() + timeout
        # A closed connection leaves the registry when the server has seen the
        # close, which can be a moment after the client's close() returned.
        while len(self.lib.connections) != count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return len(self.lib.connections)

    async def cmd_broadcast(self, size: int) -> dict:
        payload = make_payload(size, "random", seed=1)
        start = time.monotonic()
        count = self.lib.broadcast(payload)
        return {"start": start, "count": count, "call_seconds": time.monotonic() - start}

    async def shutdown(self) -> None:
        await self.lib.stop_server()


class ClientRole:
    """A client: one measured connection, or many idle ones."""

    def __init__(self, lib: str, settings: dict, options: dict):
        self.lib = peers.adapter(lib)
        self.settings = settings
        self.conn = None
        self.payload = b""
        self.payloads: list = []
        self.idle: list = []
        self.waiters: list = []

    async def start(self) -> dict:
        return {}

    def _settings(self, overrides):
        return dict(self.settings, **(overrides or {}))

    async def cmd_prepare_echo(self, uri, size, kind="random", settings=None, warmup=20):
        """Connect, then warm up with up to ``warmup`` round trips."""
        await self.cmd_release()
        self.payload = make_payload(size, kind)
        self.conn = await self.lib.open(uri, self._settings(settings))
        # The first echo is always checked byte for byte, whatever happens.
        await self.lib.send(self.conn, self.payload)
        peers._check(await self.lib.recv(self.conn), self.payload)
        await self.lib.echo(self.conn, self.payload, warmup, time.monotonic() + 0.2)

    async def cmd_measure_echo(self, count: int, seconds: float) -> dict:
        start_cpu, start = time.process_time(), time.monotonic()
        done = await self.lib.echo(self.conn, self.payload, count, start + seconds)
        return {"messages": done, "wall": time.monotonic() - start, "cpu": time.process_time() - start_cpu}

    async def cmd_prepare_pipeline(self, uri, size, burst, settings=None):
        await self.cmd_release()
        self.payloads = pipeline_payloads(size, burst)
        self.conn = await self.lib.open(uri, self._settings(settings))
        await self.lib.pipeline(self.conn, self.payloads)  # warm-up burst

    async def cmd_measure_pipeline(self, bursts: int, seconds: float) -> dict:
        start_cpu, start = time.process_time(), time.monotonic()
        deadline = start + seconds
        done = 0
        for _ in range(bursts):
            await self.lib.pipeline(self.conn, self.payloads)
            done += 1
            if time.monotonic() > deadline:
                break
        return {
            "messages": done * len(self.payloads),
            "wall": time.monotonic() - start,
            "cpu": time.process_time() - start_cpu,
        }

    async def cmd_release(self) -> None:
        """Close the measured connection, if any."""
        conn, self.conn = self.conn, None
        if conn is not None:
            await asyncio.wait_for(self.lib.close(conn), 10)

    async def _open_one(self, uri, settings, payload):
        conn = await self.lib.open(uri, settings)
        if payload is not None:
            await self.lib.send(conn, payload)
            peers._check(await self.lib.recv(conn), payload)
        return conn

    async def _open_many(self, uri, settings, count, batch, payload):
        opened = []
        try:
            for first in range(0, count, batch):
                n = min(batch, count - first)
                opened += await asyncio.gather(*[self._open_one(uri, settings, payload) for _ in range(n)])
        except BaseException:
            await self._close_many(opened)
            raise
        return opened

    async def _close_many(self, conns):
        results = await asyncio.gather(
            *[asyncio.wait_for(self.lib.close(c), 10) for c in conns], return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise WorkerError(f"{len(errors)} of {len(conns)} closes failed: {errors[0]!r}")

    async def cmd_open_idle(self, uri, count, batch=100, settings=None, message_size=64) -> dict:
        """Open ``count`` connections, ``batch`` at a time, one echo each."""
        payload = make_payload(message_size, "json") if message_size else None
        start = time.monotonic()
        self.idle += await self._open_many(uri, self._settings(settings), count, batch, payload)
        return {"open": len(self.idle), "seconds": time.monotonic() - start}

    async def cmd_close_idle(self) -> None:
        conns, self.idle = self.idle, []
        for task in self.waiters:
            task.cancel()
        self.waiters = []
        await self._close_many(conns)

    async def cmd_handshakes(self, uri, concurrency, rounds, seconds, settings=None) -> dict:
        """Open ``concurrency`` connections at once, then close them; repeat."""
        settings = self._settings(settings)
        start_cpu, start = time.process_time(), time.monotonic()
        opening = 0.0
        done = 0
        for _ in range(rounds):
            t0 = time.monotonic()
            conns = await self._open_many(uri, settings, concurrency, concurrency, None)
            opening += time.monotonic() - t0
            done += len(conns)
            await self._close_many(conns)
            if time.monotonic() - start > seconds:
                break
        return {
            "handshakes": done,
            "open_seconds": opening,
            "wall": time.monotonic() - start,
            "cpu": time.process_time() - start_cpu,
        }

    async def cmd_arm_broadcast(self, size: int) -> int:
        """Start one receiver per idle connection, waiting for one message."""
        expected = make_payload(size, "random", seed=1)
        lib = self.lib

        async def receive(conn):
            message = await lib.recv(conn)
            arrived = time.monotonic()
            peers._check(message, expected)
            return arrived

        self.waiters = [asyncio.ensure_future(receive(conn)) for conn in self.idle]
        return len(self.waiters)

    async def cmd_wait_broadcast(self, timeout: float) -> dict:
        start_cpu = time.process_time()
        waiters, self.waiters = self.waiters, []
        times = await asyncio.wait_for(asyncio.gather(*waiters), timeout)
        return {"first": min(times), "last": max(times), "count": len(times), "cpu": time.process_time() - start_cpu}

    async def cmd_cpu(self) -> float:
        return time.process_time()

    async def shutdown(self) -> None:
        await self.cmd_release()
        if self.idle:
            await self.cmd_close_idle()
        closer = getattr(self.lib, "shutdown_client", None)
        if closer is not None:
            await closer()


# --------------------------------------------------------------------------
# Inside the worker process


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def worker_main(conn, role_name: str, lib: str, loop_name: str, settings: dict, options: dict) -> None:
    """Entry point of a worker process (spawned by :class:`Worker`)."""
    _raise_fd_limit()
    try:
        loop = new_event_loop(loop_name)
        asyncio.set_event_loop(loop)
        role_class = ServerRole if role_name == "server" else ClientRole
        role = role_class(lib, settings, options)
        info = loop.run_until_complete(asyncio.wait_for(role.start(), 30))
    except BaseException as exc:
        conn.send(("error", _describe(exc)))
        return
    conn.send(("ready", info))

    def serve_commands():
        while True:
            try:
                name, args, kwargs = conn.recv()
            except (EOFError, OSError):
                name, args, kwargs = "stop", (), {}
            if name == "stop":
                future = asyncio.run_coroutine_threadsafe(role.shutdown(), loop)
                try:
                    future.result(30)
                except BaseException:
                    pass
                loop.call_soon_threadsafe(loop.stop)
                try:
                    conn.send(("ok", None))
                except (OSError, ValueError):
                    pass
                return
            try:
                method = getattr(role, "cmd_" + name)
                future = asyncio.run_coroutine_threadsafe(method(*args, **kwargs), loop)
                reply = ("ok", future.result())
            except BaseException as exc:
                if os.environ.get("BENCH_DEBUG"):
                    traceback.print_exc()
                reply = ("error", _describe(exc))
            try:
                conn.send(reply)
            except (OSError, ValueError):
                return

    thread = threading.Thread(target=serve_commands, name="bench-control", daemon=True)
    thread.start()
    try:
        loop.run_forever()
    finally:
        thread.join(5)
        loop.close()


# --------------------------------------------------------------------------
# In the orchestrating process


_CONTEXT = multiprocessing.get_context("spawn")


class Worker:
    """A worker process seen from the orchestrator.

    ``role`` is ``"server"`` or ``"client"``; ``lib`` a name from
    ``peers.LIBRARIES``; ``loop`` ``"asyncio"`` or ``"uvloop"``; ``settings``
    the shared settings dict; ``options`` role extras (``tracemalloc``).
    """

    def __init__(self, role: str, lib: str, loop: str, settings: dict, options: dict = None):
        self.role, self.lib, self.loop = role, lib, loop
        self.info: dict = {}
        self.ready = False
        self.error: str = ""
        self._conn, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(
            target=worker_main,
            args=(child, role, lib, loop, settings, options or {}),
            name=f"bench-{role}-{lib}-{loop}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self.pid = self._process.pid

    def wait_ready(self, timeout: float = 60) -> bool:
        """Wait for start-up; on failure ``error`` says why and it is stopped."""
        if self.ready or self.error:
            return self.ready
        if not self._conn.poll(timeout):
            self.error = "did not start in time"
            self.kill()
            return False
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            status, value = "error", "worker exited during start-up"
        if status != "ready":
            self.error = value
            self.kill()
            return False
        self.info = value
        self.ready = True
        return True

    @property
    def alive(self) -> bool:
        return not self.error and self._process.is_alive()

    def call(self, name: str, *args, timeout: float = 60, **kwargs):
        """Run a command in the worker and return its result."""
        if self.error:
            raise WorkerError(self.error)
        try:
            self._conn.send((name, args, kwargs))
            ready = self._conn.poll(timeout)
        except (OSError, EOFError) as exc:
            self.error = f"worker pipe broken: {exc}"
            self.kill()
            raise WorkerError(self.error) from None
        if not ready:
            self.error = f"{name} timed out after {timeout:g} s"
            self.kill()
            raise WorkerTimeout(self.error)
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            self.error = "worker died"
            self.kill()
            raise WorkerError(self.error) from None
        if status != "ok":
            raise WorkerError(value)
        return value

    def stop(self, timeout: float = 20) -> None:
        """Ask the worker to shut down cleanly; kill it by PID if it does not."""
        if self._process.is_alive() and not self.error:
            try:
                self._conn.send(("stop", (), {}))
                if self._conn.poll(timeout):
                    self._conn.recv()
            except (OSError, EOFError):
                pass
            self._process.join(timeout)
        self.kill()

    def kill(self) -> None:
        """Stop the process by its PID, first politely, then not."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()
