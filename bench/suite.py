"""What to measure and how: the plan, the repetitions, the medians.

A *case* is one measurement (a workload, a client library, a server library,
an event loop). The plan is the list of cases; each repetition runs every
case once, with the order of the libraries rotated from one repetition to
the next so that a burst of noise on this shared machine does not always
fall on the same library. The reported figure is the median of the
repetitions.

Servers and clients run in worker processes (see ``workers.py``) that live
for the whole run, one pair per library and loop (and compression setting),
except the idle-memory servers: each memory measurement starts a fresh server
so that memory freed by an earlier measurement cannot hide new allocations.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

from bench import peers
from bench.workers import Worker, WorkerError

KIB = 1024
MIB = 1024 * 1024

# Equal for every library, and printed with the results.
SETTINGS = {
    # Above the largest echo payload (1 MiB), so no library rejects it;
    # aiohttp refuses a message of exactly its limit.
    "max_size": 2 * MIB,
    "compression": False,
    "backlog": 1024,
    "keepalive": None,  # no pings: nothing runs on an idle connection
}

ECHO_SIZES = (64, 1 * KIB, 16 * KIB, 256 * KIB, 1 * MIB)
PIPELINE_SIZE = 256
PIPELINE_BURST = 1000
COMPRESSION_SIZE = 16 * KIB
BROADCAST_SIZE = 256
HANDSHAKE_CONCURRENCY = 100
# Idle connections of the memory rows are opened this many at a time.
OPEN_BATCH = 100
IDLE_MESSAGE_SIZE = 64
# Libraries of the idle wss:// row: those with websockets' API and TLS.
TLS_LIBRARIES = ("websockets_fast", "websockets", "picows.websockets")


def size_label(size: int) -> str:
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} B"


@dataclasses.dataclass(frozen=True)
class Case:
    """One measurement. ``server`` is the library whose server is used."""

    workload: str  # echo | pipelined | memory | handshake | broadcast
    client: str
    server: str
    loop: str
    size: int = 0
    kind: str = "random"  # payload: random (incompressible) or json
    compression: bool = False
    connections: int = 0
    tls: bool = False  # wss:// (the idle-memory row only)

    @property
    def label(self) -> str:
        if self.workload == "echo":
            text = f"echo {size_label(self.size)}"
            if self.kind == "json" or self.compression:
                text += " JSON-like" if self.kind == "json" else " random"
                text += ", deflate" if self.compression else ", no deflate"
            return text
        if self.workload == "pipelined":
            return f"pipelined {PIPELINE_BURST} x {size_label(self.size)}"
        if self.workload == "memory" and self.tls:
            return f"idle wss connection, server RSS, {self.connections} conns"
        if self.workload == "memory":
            deflate = "deflate" if self.compression else "no deflate"
            return f"idle memory, {self.connections} conns, {deflate}"
        if self.workload == "handshake":
            return f"handshakes, {HANDSHAKE_CONCURRENCY} concurrent"
        if self.workload == "broadcast":
            return f"broadcast {size_label(self.size)} to {self.connections} conns"
        return self.workload

    @property
    def group(self) -> tuple:
        """Cases that share a group are compared with each other."""
        return (self.label, self.loop)

    @property
    def cross(self) -> bool:
        return self.client != self.server


@dataclasses.dataclass
class Options:
    """How long and how much. ``quick`` picks the short default suite."""

    quick: bool = True
    reps: int = 5  # throughput samples per case; the median is reported
    memory_reps: int = 3  # idle-memory samples per case (slow, and steady)
    loops: tuple = ("uvloop", "asyncio")
    libraries: tuple = peers.LIBRARIES
    connections: int = 2000  # idle-memory connections in the full suite
    quick_connections: int = 500
    broadcast_connections: int = 1000
    seconds: float = 0.0  # time per throughput sample; 0 picks by mode

    @property
    def sample_seconds(self) -> float:
        return self.seconds or (0.2 if self.quick else 0.6)

    def reps_of(self, case) -> int:
        return min(self.reps, self.memory_reps) if case.workload == "memory" else self.reps


def plan(options: Options) -> list:
    """The cases of one repetition, in a fixed order (rotated per repetition)."""
    echo_libs = [lib for lib in peers.LIBRARIES if lib in options.libraries]
    # The rest of the workloads need WebSocket libraries.
    libs = [lib for lib in echo_libs if lib not in peers.ECHO_ONLY]
    cases = []
    echo_sizes = (64, 1 * KIB) if options.quick else ECHO_SIZES
    for loop in options.loops:
        for size in echo_sizes:
            cases += [Case("echo", lib, lib, loop, size) for lib in echo_libs]
            if not options.quick and "websockets_fast" in libs:
                # Our client against each peer's server.
                cases += [Case("echo", "websockets_fast", lib, loop, size) for lib in libs if lib != "websockets_fast"]
        cases += [Case("pipelined", lib, lib, loop, PIPELINE_SIZE) for lib in libs]
        if not options.quick:
            for compression in (False, True):
                for kind in ("random", "json"):
                    cases += [
                        Case("echo", lib, lib, loop, COMPRESSION_SIZE, kind, compression)
                        for lib in libs
                        if not (compression and lib == "picows")
                    ]
            cases += [Case("handshake", lib, lib, loop) for lib in libs]
            n = options.broadcast_connections
            cases += [Case("broadcast", lib, lib, loop, BROADCAST_SIZE, connections=n) for lib in libs]
    # Memory on the first loop only in the quick suite: it is the slowest.
    memory_loops = options.loops[:1] if options.quick else options.loops
    n = options.quick_connections if options.quick else options.connections
    for loop in memory_loops:
        for compression in (False, True):
            cases += [
                Case("memory", lib, lib, loop, IDLE_MESSAGE_SIZE, "json", compression, n)
                for lib in libs
                if not (compression and lib == "picows")
            ]
        cases += [
            Case("memory", lib, lib, loop, IDLE_MESSAGE_SIZE, "json", False, n, tls=True)
            for lib in libs
            if lib in TLS_LIBRARIES
        ]
    # The 16 KiB random echo without deflate is both an echo size and a
    # compression row: measure it once.
    return list(dict.fromkeys(cases))


def rotated(cases: list, rep: int, libraries: list) -> list:
    """Reorder the libraries within each workload, rotating by ``rep``."""
    order = {lib: (i - rep) % len(libraries) for i, lib in enumerate(libraries)}
    # Keep workloads in plan order; within a workload, rotate the libraries.
    blocks: dict = {}
    for case in cases:
        blocks.setdefault(case.group, []).append(case)
    result = []
    for block in blocks.values():
        result += sorted(block, key=lambda c: (order.get(c.client, 0), order.get(c.server, 0)))
    return result


# --------------------------------------------------------------------------
# Running


class Pool:
    """Long-lived worker processes, started on first use and restarted after
    a crash (not after a start-up failure, which is reported as the reason)."""

    MAX_RESTARTS = 2

    def __init__(self):
        self.workers: dict = {}
        self.failures: dict = {}
        self.restarts: dict = {}

    def start(self, role, lib, loop, compression=False):
        key = (role, lib, loop, compression)
        if key not in self.workers and key not in self.failures:
            settings = dict(SETTINGS, compression=compression)
            self.workers[key] = Worker(role, lib, loop, settings)

    def get(self, role, lib, loop, compression=False) -> Worker:
        key = (role, lib, loop, compression)
        if key in self.failures:
            raise WorkerError(self.failures[key])
        worker = self.workers.get(key)
        if worker is not None and worker.ready and not worker.alive:
            # Crashed or killed after a timeout: one fresh process, a few times.
            worker.kill()
            del self.workers[key]
            worker = None
            if self.restarts.get(key, 0) >= self.MAX_RESTARTS:
                self.failures[key] = "worker kept failing"
                raise WorkerError(self.failures[key])
            self.restarts[key] = self.restarts.get(key, 0) + 1
        if worker is None:
            self.start(role, lib, loop, compression)
            worker = self.workers[key]
        if not worker.wait_ready():
            self.failures[key] = worker.error
            del self.workers[key]
            raise WorkerError(worker.error)
        return worker

    def wait_all(self):
        """Wait until every started worker is ready (or failed)."""
        for key, worker in list(self.workers.items()):
            if not worker.wait_ready():
                self.failures[key] = worker.error
                del self.workers[key]

    def stop_all(self):
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()


def _uri(server: Worker) -> str:
    return f"ws://{peers.HOST}:{server.info['port']}/"


def _rate_sample(result, server_cpu, count_key="messages", wall_key="wall"):
    count = result[count_key]
    return {
        "count": count,
        "wall": result[wall_key],
        "rate": count / result[wall_key],
        "client_cpu_us": 1e6 * result["cpu"] / count,
        "server_cpu_us": 1e6 * server_cpu / count,
        "cpu_us": 1e6 * (result["cpu"] + server_cpu) / count,
    }


def measure_echo(case: Case, pool: Pool, options: Options) -> dict:
    server = pool.get("server", case.server, case.loop, case.compression)
    client = pool.get("client", case.client, case.loop)
    settings = {"compression": case.compression}
    client.call("prepare_echo", _uri(server), case.size, case.kind, settings=settings, timeout=60)
    try:
        before = server.call("cpu")
        result = client.call("measure_echo", 1_000_000, options.sample_seconds, timeout=60 + 10 * options.sample_seconds)
        server_cpu = server.call("cpu") - before
    finally:
        client.call("release", timeout=30)
    return _rate_sample(result, server_cpu)


def measure_pipeline(case: Case, pool: Pool, options: Options) -> dict:
    server = pool.get("server", case.server, case.loop, case.compression)
    client = pool.get("client", case.client, case.loop)
    settings = {"compression": case.compression}
    client.call("prepare_pipeline", _uri(server), case.size, PIPELINE_BURST, settings=settings, timeout=60)
    try:
        before = server.call("cpu")
        result = client.call("measure_pipeline", 200, options.sample_seconds, timeout=60 + 10 * options.sample_seconds)
        server_cpu = server.call("cpu") - before
    finally:
        client.call("release", timeout=30)
    return _rate_sample(result, server_cpu)


def measure_handshake(case: Case, pool: Pool, options: Options) -> dict:
    server = pool.get("server", case.server, case.loop, case.compression)
    client = pool.get("client", case.client, case.loop)
    before = server.call("cpu")
    result = client.call(
        "handshakes", _uri(server), HANDSHAKE_CONCURRENCY, 20, options.sample_seconds,
        settings={"compression": case.compression}, timeout=120,
    )
    server_cpu = server.call("cpu") - before
    sample = _rate_sample(result, server_cpu, "handshakes", "open_seconds")
    sample["note"] = "rate: opening phase; CPU: open + close"
    return sample


def _open_timeout(connections: int) -> float:
    return 60 + connections / 20  # 20 handshakes/s would be pathologically slow


def measure_broadcast(case: Case, pool: Pool, options: Options) -> dict:
    server = pool.get("server", case.server, case.loop, case.compression)
    client = pool.get("client", case.client, case.loop)
    n = case.connections
    client.call("open_idle", _uri(server), n, settings={"compression": case.compression}, timeout=_open_timeout(n))
    try:
        if client.call("arm_broadcast", case.size) != n:
            raise WorkerError("not every connection is listening")
        before = server.call("cpu")
        sent = server.call("broadcast", case.size)
        got = client.call("wait_broadcast", 60, timeout=90)
        server_cpu = server.call("cpu") - before
    finally:
        client.call("close_idle", timeout=_open_timeout(n))
    if sent["count"] != n or got["count"] != n:
        raise WorkerError(f"broadcast reached {got['count']} of {n} (server saw {sent['count']})")
    return {
        "count": n,
        "delivery_ms": 1e3 * (got["last"] - sent["start"]),
        "first_ms": 1e3 * (got["first"] - sent["start"]),
        "server_cpu_ms": 1e3 * server_cpu,
        "server_cpu_us": 1e6 * server_cpu / n,
    }


_TLS_FILES: dict = {}


def _tls_files() -> dict:
    """Write a certificate authority and a server certificate for 127.0.0.1
    (trustme, from the bench extra) once per run; return their paths."""
    if not _TLS_FILES:
        import atexit
        import shutil
        import tempfile

        try:
            import trustme
        except ImportError as exc:
            raise WorkerError("the wss:// row needs trustme (pip install trustme)") from exc
        directory = tempfile.mkdtemp(prefix="bench-tls-")
        atexit.register(shutil.rmtree, directory, True)
        authority = trustme.CA()
        files = {"ca": f"{directory}/ca.pem", "chain": f"{directory}/chain.pem"}
        authority.cert_pem.write_to_path(files["ca"])
        authority.issue_cert(peers.HOST).private_key_and_cert_chain_pem.write_to_path(files["chain"])
        _TLS_FILES.update(files)
    return dict(_TLS_FILES)


def measure_memory(case: Case, pool: Pool, options: Options) -> dict:
    # Two servers, one after the other: RSS is read in a process without
    # tracemalloc, whose tables (a few allocations per traced block, each
    # with malloc's own overhead) grow the resident set by more than
    # tracemalloc reports of itself: 2.4 KiB per idle connection reported,
    # 3.7 KiB measured, on CPython 3.11.
    rss = _memory_sample(case, pool, traced=False)
    traced = _memory_sample(case, pool, traced=True)
    measured = rss["measured"]
    return {
        "count": case.connections,
        "rss_kib": rss["rss"] / measured / KIB,
        "traced_kib": traced["traced"] / measured / KIB,
        "rss_traced_kib": traced["rss"] / measured / KIB,
    }


def _memory_sample(case: Case, pool: Pool, traced: bool) -> dict:
    """Growth of the server's memory (RSS, and traced memory if ``traced``)
    in bytes, over the ``measured`` idle connections opened last of
    ``case.connections``.

    The first batch of connections (``OPEN_BATCH``, at most a fifth of
    them) is opened before the baseline and held: so that the memory a
    batch of concurrent handshakes needs at its peak (TLS's above all),
    which is the same whatever the number of connections, doesn't count per
    connection. It did until 2026-12-06: 3.5 KiB more per idle wss
    connection at 500 connections than at 2,000.
    """
    n = case.connections
    client = pool.get("client", case.client, case.loop)
    settings = dict(SETTINGS, compression=case.compression)
    if case.tls:
        settings["tls"] = _tls_files()
    # A fresh server process for every sample: memory a process has freed
    # stays in its RSS and would be reused by the next connections.
    server = Worker("server", case.server, case.loop, settings, {"tracemalloc": traced})
    try:
        if not server.wait_ready():
            raise WorkerError(server.error)
        uri = _uri(server)
        conn_settings = {"compression": case.compression}
        if case.tls:
            uri = "wss" + uri[2:]
            conn_settings["tls"] = settings["tls"]
        # One connection first, so that lazy imports and caches are paid for
        # before the baseline.
        client.call("open_idle", uri, 1, settings=conn_settings, message_size=case.size, timeout=60)
        client.call("close_idle", timeout=60)
        server.call("wait_connections", 0, timeout=30)
        held = min(OPEN_BATCH, n // 5)
        try:
            if held:
                client.call("open_idle", uri, held, batch=OPEN_BATCH, settings=conn_settings, message_size=case.size,
                            timeout=_open_timeout(held))
                server.call("wait_connections", held, timeout=30)
            base = server.call("memory")
            client.call("open_idle", uri, n - held, batch=OPEN_BATCH, settings=conn_settings, message_size=case.size,
                        timeout=_open_timeout(n - held))
            server.call("wait_connections", n, timeout=30)
            after = server.call("memory", timeout=60)
        finally:
            client.call("close_idle", timeout=_open_timeout(n))
    finally:
        server.stop()
    if base["connections"] != held or after["connections"] != n:
        raise WorkerError(
            f"server holds {base['connections']} then {after['connections']} connections, expected {held} then {n}"
        )
    growth = {"rss": after["rss"] - base["rss"], "measured": n - held}
    if traced:
        # What tracemalloc says it uses itself, at least, is not the library's.
        growth["rss"] -= after["tracemalloc_overhead"] - base["tracemalloc_overhead"]
        growth["traced"] = after["traced"] - base["traced"]
    return growth


MEASURES = {
    "echo": measure_echo,
    "pipelined": measure_pipeline,
    "handshake": measure_handshake,
    "broadcast": measure_broadcast,
    "memory": measure_memory,
}

# The headline metric of each workload and whether higher is better.
PRIMARY = {
    "echo": ("rate", True),
    "pipelined": ("rate", True),
    "handshake": ("rate", True),
    "broadcast": ("delivery_ms", False),
    "memory": ("rss_kib", False),
}


def run(options: Options, progress=None) -> dict:
    """Run the plan ``options.reps`` times; return the results by case.

    ``progress(done, total, text)`` is called before each measurement.
    """
    libraries = [lib for lib in peers.LIBRARIES if lib in options.libraries]
    cases = plan(options)
    total = sum(options.reps_of(case) for case in cases)
    samples = {case: [] for case in cases}
    errors = {case: [] for case in cases}
    pool = Pool()
    started = time.time()
    try:
        # Start every long-lived worker at once: their start-up overlaps.
        for case in cases:
            if case.workload != "memory":
                pool.start("server", case.server, case.loop, case.compression)
            pool.start("client", case.client, case.loop)
        # Measure nothing while other workers are still importing.
        if progress is not None:
            progress(0, total, f"starting {len(pool.workers)} worker processes")
        pool.wait_all()
        done = 0
        for rep in range(options.reps):
            for case in rotated(cases, rep, libraries):
                if rep >= options.reps_of(case):
                    continue
                if progress is not None:
                    progress(done, total, f"rep {rep + 1}/{options.reps} {case.label} {case.client} {case.loop}")
                done += 1
                try:
                    samples[case].append(MEASURES[case.workload](case, pool, options))
                except (WorkerError, OSError) as exc:
                    errors[case].append(str(exc))
        if progress is not None:
            progress(total, total, "done")
    finally:
        pool.stop_all()
    return {
        "cases": cases,
        "samples": samples,
        "errors": errors,
        "seconds": time.time() - started,
    }


def summarize(cases, samples, errors) -> list:
    """One row per case: medians of every metric, or the reason it is n/a."""
    rows = []
    for case in cases:
        got = samples[case]
        row = dataclasses.asdict(case)
        row.update(label=case.label, samples=got, errors=errors[case])
        if got:
            keys = [k for k, v in got[0].items() if isinstance(v, (int, float))]
            row["median"] = {k: statistics.median(s[k] for s in got) for k in keys}
            if errors[case]:
                row["note"] = f"{len(errors[case])} of {len(got) + len(errors[case])} samples failed: {errors[case][0]}"
        else:
            row["median"] = None
            row["error"] = errors[case][0] if errors[case] else "not measured"
        rows.append(row)
    return rows
