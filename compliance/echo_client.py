"""Echo client for the Autobahn|Testsuite client role (wstest -m fuzzingserver).

Drives the fuzzing server's protocol: asks ``/getCaseCount``, then for each
case connects to ``/runCase?case=N&agent=AGENT`` and echoes every message it
receives until the server closes the connection, then asks
``/updateReports?agent=AGENT`` so that the server writes its reports.
Compression (permessage-deflate) is offered and ``max_size`` is raised to the
suite's largest message (16 MiB, in cases 9.1.6 and 9.2.6).

    python compliance/echo_client.py ws://127.0.0.1:PORT --agent NAME
                                     [--lib websockets_fast|websockets]
                                     [--impl asyncio|sync|legacy]

Each case is bounded by ``--case-timeout`` seconds (default 120); a case that
runs over is abandoned, its connection closed, and the run goes on (the
fuzzing server then reports that case as failed). Exit status: 0 when every
case ran, 1 when a case could not connect or ran over, 2 for usage errors.
"""

import argparse
import asyncio
import importlib
import logging
import sys
import time
import urllib.parse
import warnings

# See echo_server.py: the limit is exactly the largest message of the suite.
MAX_SIZE = 2**24


def backend_name(lib):
    if lib == "websockets_fast":
        return importlib.import_module("websockets_fast.speedups").BACKEND
    return "reference"


def case_uri(server, case, agent):
    query = urllib.parse.urlencode({"case": case, "agent": agent})
    return f"{server}/runCase?{query}"


def reports_uri(server, agent):
    return f"{server}/updateReports?{urllib.parse.urlencode({'agent': agent})}"


class AsyncioRunner:
    """Runs the fuzzing server's protocol with the asyncio implementation."""

    def __init__(self, lib, case_timeout, impl="asyncio"):
        if impl == "legacy":
            # The legacy connect() takes the same arguments here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.connect = importlib.import_module(f"{lib}.legacy.client").connect
        else:
            self.connect = importlib.import_module(f"{lib}.asyncio.client").connect
        self.closed = importlib.import_module(f"{lib}.exceptions").ConnectionClosed
        self.case_timeout = case_timeout

    def open(self, uri):
        return self.connect(
            uri, max_size=MAX_SIZE, compression="deflate", ping_interval=None
        )

    async def case_count(self, server):
        async with self.open(f"{server}/getCaseCount") as websocket:
            return int(await asyncio.wait_for(websocket.recv(), self.case_timeout))

    async def echo(self, uri):
        try:
            async with self.open(uri) as websocket:
                async for message in websocket:
                    await websocket.send(message)
        except self.closed:
            # Many cases end with the server breaking the protocol on purpose.
            pass

    async def run_case(self, uri):
        await asyncio.wait_for(self.echo(uri), self.case_timeout)

    async def update_reports(self, server, agent):
        async with self.open(reports_uri(server, agent)) as websocket:
            # The server closes the connection once the reports are written.
            async for _ in websocket:
                pass

    def run(self, server, agent):
        return asyncio.run(self.main(server, agent))

    async def main(self, server, agent):
        count = await self.case_count(server)
        failures = 0
        for case in range(1, count + 1):
            try:
                await self.run_case(case_uri(server, case, agent))
            except asyncio.TimeoutError:
                failures += 1
                print(f"case {case}: timed out after {self.case_timeout}s", file=sys.stderr)
            except Exception as exc:
                failures += 1
                print(f"case {case}: {exc!r}", file=sys.stderr)
        await asyncio.wait_for(self.update_reports(server, agent), self.case_timeout)
        return count, failures


class SyncRunner:
    """Runs the fuzzing server's protocol with the threading implementation."""

    def __init__(self, lib, case_timeout):
        self.connect = importlib.import_module(f"{lib}.sync.client").connect
        self.closed = importlib.import_module(f"{lib}.exceptions").ConnectionClosed
        self.case_timeout = case_timeout

    def open(self, uri):
        return self.connect(
            uri,
            max_size=MAX_SIZE,
            compression="deflate",
            open_timeout=self.case_timeout,
            close_timeout=10,
            ping_interval=None,
        )

    def case_count(self, server):
        with self.open(f"{server}/getCaseCount") as websocket:
            return int(websocket.recv(timeout=self.case_timeout))

    def echo(self, uri):
        """Echo until the server closes; TimeoutError past the deadline."""
        deadline = time.monotonic() + self.case_timeout
        try:
            with self.open(uri) as websocket:
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError
                    websocket.send(websocket.recv(timeout=remaining))
        except self.closed:
            pass

    def run(self, server, agent):
        count = self.case_count(server)
        failures = 0
        for case in range(1, count + 1):
            try:
                self.echo(case_uri(server, case, agent))
            except TimeoutError:
                failures += 1
                print(f"case {case}: timed out after {self.case_timeout}s", file=sys.stderr)
            except Exception as exc:
                failures += 1
                print(f"case {case}: {exc!r}", file=sys.stderr)
        with self.open(reports_uri(server, agent)) as websocket:
            try:
                websocket.recv(timeout=self.case_timeout)
            except self.closed:
                pass
        return count, failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", help="fuzzing server URI, e.g. ws://127.0.0.1:9001")
    parser.add_argument("--agent", required=True, help="agent name in the reports")
    parser.add_argument(
        "--lib",
        default="websockets_fast",
        choices=["websockets_fast", "websockets"],
        help="library under test (default: websockets_fast)",
    )
    parser.add_argument(
        "--impl",
        default="asyncio",
        choices=["asyncio", "sync", "legacy"],
        help="I/O implementation (default: asyncio)",
    )
    parser.add_argument(
        "--case-timeout",
        type=float,
        default=120,
        help="seconds allowed for one case (default: 120)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="log the library's debug messages"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if args.impl == "sync":
        runner = SyncRunner(args.lib, args.case_timeout)
    else:
        runner = AsyncioRunner(args.lib, args.case_timeout, args.impl)
    print(f"CLIENT {args.lib} {args.impl} {backend_name(args.lib)}", flush=True)
    count, failures = runner.run(args.server.rstrip("/"), args.agent)
    print(f"RAN {count} cases, {failures} did not complete", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
