"""
A real browser against a websockets_fast server.

Starts a websockets_fast server (asyncio or threading) on 127.0.0.1 that
serves ``page.html`` over plain HTTP through ``process_request`` and echoes
WebSocket messages, then runs headless Chromium on that page. The page's
JavaScript sends text and binary messages (empty to 1 MiB, unicode), gets
fragmented messages and a ping from the server, closes from both sides and
sends one message over ``max_size``; it writes its results into the DOM and
sends them to ``GET /report``. This script then checks the browser's results
against what the server saw: the negotiated ``Sec-WebSocket-Extensions``
(permessage-deflate, or nothing with ``compression=None``) and the close
codes and reasons.

Usage, from the repository root (``python setup.py build_ext --inplace``
first for the compiled backend)::

    python tests/browser/run_browser_check.py                # all four runs
    python tests/browser/run_browser_check.py --server sync --compression none

The exit status is 0 when every run passed, 1 when one failed, 2 when no
Chromium was found. Chromium comes from ``--chromium``, the ``CHROMIUM``
environment variable, or the first of chromium, chromium-browser,
chromium-headless-shell, google-chrome on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import http
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

try:
    import websockets_fast  # noqa: F401
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from websockets_fast.exceptions import ConnectionClosed

PAGE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page.html")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome")

# The page gives each step 20 s; the whole page finishes well within this.
REPORT_TIMEOUT = 90.0
# How long handlers may take to finish once the page has reported.
HANDLERS_TIMEOUT = 15.0
# How long Chromium gets to exit after SIGTERM before SIGKILL.
BROWSER_EXIT_TIMEOUT = 10.0

MAX_SIZE = 2**20  # the server's max_size: the default, which the page relies on
FRAGMENTS = 5  # the /fragments handler sends each echo in this many frames


class CheckFailed(AssertionError):
    """The browser check found a problem; the message says which."""


def find_chromium(explicit=None):
    """
    Return the path of a Chromium executable, or :obj:`None`.

    Args:
        explicit: a path or name to use instead of searching; default none,
            then the ``CHROMIUM`` environment variable, then PATH.
    """
    for candidate in (explicit, os.environ.get("CHROMIUM")):
        if candidate:
            return shutil.which(candidate)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


class Collector:
    """
    What the server saw, shared by the server's handlers (threads or tasks)
    and the script: one record per WebSocket connection, and the page's
    report.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.handlers_running = 0
        self.handlers_done = threading.Condition(self.lock)
        self.report = None
        self.report_ready = threading.Event()
        self.errors = []

    def handler_started(self, record):
        with self.lock:
            self.records.append(record)
            self.handlers_running += 1

    def handler_finished(self):
        with self.lock:
            self.handlers_running -= 1
            self.handlers_done.notify_all()

    def wait_handlers(self, timeout):
        """Wait until no handler runs; False if ``timeout`` seconds passed first."""
        with self.lock:
            return self.handlers_done.wait_for(lambda: self.handlers_running == 0, timeout)


def make_process_request(collector):
    """Serve the page and the report over plain HTTP; let WebSocket paths through."""
    with open(PAGE_PATH, encoding="utf-8") as page_file:
        page = page_file.read()

    def process_request(connection, request):
        path, _, query = request.path.partition("?")
        if path == "/":
            response = connection.respond(http.HTTPStatus.OK, page)
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            return response
        if path == "/report":
            values = urllib.parse.parse_qs(query).get("r", ["null"])
            try:
                collector.report = json.loads(values[0])
            except ValueError as exc:
                collector.report = {"failures": [{"name": "report", "detail": f"not JSON: {exc}"}]}
            collector.report_ready.set()
            return connection.respond(http.HTTPStatus.OK, "thanks\n")
        if path not in ("/echo", "/fragments", "/chat", "/ping", "/close"):
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        return None

    return process_request


def make_process_response(collector):
    """Note the extensions offered and accepted, from the handshake objects."""

    def process_response(connection, request, response):
        if response.status_code == 101:
            with collector.lock:
                collector.records.append(
                    {
                        "handshake": request.path,
                        "offered": request.headers.get_all("Sec-WebSocket-Extensions"),
                        "accepted": response.headers.get_all("Sec-WebSocket-Extensions"),
                    }
                )
        return None

    return process_response


def select_subprotocol(connection, offered):
    """Pick chat.v1 when offered (the page's /chat socket); else none."""
    return "chat.v1" if "chat.v1" in offered else None


def split(message, count):
    """Cut a message into ``count`` pieces at most, none empty; joined, they are the message."""
    step = max(1, -(-len(message) // count))
    return [message[i : i + step] for i in range(0, len(message), step)]


def new_record(connection):
    # connection.request is rebuilt from bytes once the connection is open:
    # reading it here checks that path too.
    return {
        "path": connection.request.path,
        "request_extensions": connection.request.headers.get_all("Sec-WebSocket-Extensions"),
        "response_extensions": connection.response.headers.get_all("Sec-WebSocket-Extensions"),
        "subprotocol": connection.subprotocol,
        "messages": 0,
    }


def finish_record(record, connection, exc=None):
    record["close_code"] = connection.close_code
    record["close_reason"] = connection.close_reason
    if exc is not None:
        record["exception"] = type(exc).__name__
        record["sent_code"] = exc.sent.code if exc.sent is not None else None
        record["rcvd_code"] = exc.rcvd.code if exc.rcvd is not None else None


def make_asyncio_handler(collector):
    async def handler(connection):
        record = new_record(connection)
        collector.handler_started(record)
        try:
            path = record["path"]
            if path in ("/echo", "/fragments", "/chat"):
                async for message in connection:
                    record["messages"] += 1
                    if path == "/fragments" and len(message) > 1:
                        await connection.send(split(message, FRAGMENTS))
                    else:
                        await connection.send(message)
            elif path == "/ping":
                pong = await connection.ping()
                latency = await asyncio.wait_for(pong, 20)
                await connection.send(f"pong received after {latency:.6f} s")
                await connection.close()
            elif path == "/close":
                await connection.close(4000, "bye ✓")
            finish_record(record, connection)
        except ConnectionClosed as exc:
            finish_record(record, connection, exc)
        except Exception as exc:
            record["error"] = repr(exc)
            raise
        finally:
            collector.handler_finished()

    return handler


def make_sync_handler(collector):
    def handler(connection):
        record = new_record(connection)
        collector.handler_started(record)
        try:
            path = record["path"]
            if path in ("/echo", "/fragments", "/chat"):
                for message in connection:
                    record["messages"] += 1
                    if path == "/fragments" and len(message) > 1:
                        connection.send(split(message, FRAGMENTS))
                    else:
                        connection.send(message)
            elif path == "/ping":
                started = time.monotonic()
                if not connection.ping().wait(20):
                    raise TimeoutError("no pong within 20 s")
                connection.send(f"pong received after {time.monotonic() - started:.6f} s")
                connection.close()
            elif path == "/close":
                connection.close(4000, "bye ✓")
            finish_record(record, connection)
        except ConnectionClosed as exc:
            finish_record(record, connection, exc)
        except Exception as exc:
            record["error"] = repr(exc)
            raise
        finally:
            collector.handler_finished()

    return handler


class Browser:
    """
    Headless Chromium on one URL, in a process group of its own so that its
    helper processes stop with it. Network access other than to 127.0.0.1 is
    routed to a closed port and host names do not resolve.
    """

    def __init__(self, chromium, url, ignore_certificate_errors=False):
        self.profile = tempfile.mkdtemp(prefix="wsf-chromium-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        command = [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--disable-breakpad",
            "--no-pings",
            "--proxy-server=http://127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ]
        if ignore_certificate_errors:
            # The tls check's certificate comes from a throwaway authority.
            command.append("--ignore-certificate-errors")
        command.append(url)
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log_tail(self, lines=15):
        self.log.flush()
        with open(self.log_path, "rb") as log:
            return b"".join(log.readlines()[-lines:]).decode(errors="replace")

    def stop(self):
        """Stop Chromium and its helpers (its process group, by its id); remove the profile."""
        try:
            if self.process.poll() is None:
                # The browser alone first: it stops and reaps its helpers.
                self.process.terminate()
                try:
                    self.process.wait(BROWSER_EXIT_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self.process.wait(BROWSER_EXIT_TIMEOUT)
            # Helpers may outlive the main process by a moment.
            self._signal(signal.SIGKILL)
        finally:
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def _signal(self, signum):
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


def wait_for_report(collector, browser):
    """Wait for the page's report, failing early if Chromium exits."""
    deadline = time.monotonic() + REPORT_TIMEOUT
    while not collector.report_ready.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CheckFailed(
                f"no report from the page within {REPORT_TIMEOUT} s; Chromium said:\n{browser.log_tail()}"
            )
        if browser.process.poll() is not None:
            raise CheckFailed(
                f"Chromium exited with {browser.process.returncode} before reporting:\n{browser.log_tail()}"
            )
        # Wakes at once on the report; the bound only lets us notice a dead browser.
        collector.report_ready.wait(min(remaining, 1.0))


def server_tls_context():
    """An SSLContext with a certificate for 127.0.0.1 from a throwaway
    authority (trustme, a test dependency)."""
    import ssl

    import trustme

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    return context


def run_asyncio(chromium, compression, tls=False):
    from websockets_fast.asyncio.server import serve

    collector = Collector()
    kwargs = {"ssl": server_tls_context()} if tls else {}

    async def main():
        async with serve(
            make_asyncio_handler(collector),
            "127.0.0.1",
            0,
            compression=compression,
            max_size=MAX_SIZE,
            select_subprotocol=select_subprotocol,
            process_request=make_process_request(collector),
            process_response=make_process_response(collector),
            **kwargs,
        ) as server:
            port = server.sockets[0].getsockname()[1]
            loop = asyncio.get_running_loop()
            scheme = "https" if tls else "http"
            browser = Browser(chromium, f"{scheme}://127.0.0.1:{port}/", ignore_certificate_errors=tls)
            try:
                # In a thread: the server keeps running on this loop meanwhile.
                await loop.run_in_executor(None, wait_for_report, collector, browser)
                if not await loop.run_in_executor(None, collector.wait_handlers, HANDLERS_TIMEOUT):
                    collector.errors.append("handlers still running after the report")
            finally:
                await loop.run_in_executor(None, browser.stop)

    asyncio.run(asyncio.wait_for(main(), REPORT_TIMEOUT + HANDLERS_TIMEOUT + 3 * BROWSER_EXIT_TIMEOUT))
    return collector


def run_sync(chromium, compression):
    from websockets_fast.sync.server import serve

    collector = Collector()
    server = serve(
        make_sync_handler(collector),
        "127.0.0.1",
        0,
        compression=compression,
        max_size=MAX_SIZE,
        select_subprotocol=select_subprotocol,
        process_request=make_process_request(collector),
        process_response=make_process_response(collector),
    )
    thread = threading.Thread(target=server.serve_forever, name="browser-check-server")
    thread.start()
    browser = None
    try:
        port = server.socket.getsockname()[1]
        browser = Browser(chromium, f"http://127.0.0.1:{port}/")
        wait_for_report(collector, browser)
        if not collector.wait_handlers(HANDLERS_TIMEOUT):
            collector.errors.append("handlers still running after the report")
    finally:
        if browser is not None:
            browser.stop()
        server.shutdown()
        thread.join(HANDLERS_TIMEOUT)
    return collector


def check(collector, compression):
    """Raise :exc:`CheckFailed` listing every difference from the expected results."""
    report = collector.report or {}
    problems = list(collector.errors)
    for failure in report.get("failures", []):
        problems.append(f"browser: {failure['name']}: {failure['detail']}")
    if report.get("more_failures"):
        problems.append(f"browser: {report['more_failures']} more failures")

    sockets = report.get("sockets", {})
    for label in ("echo", "fragments"):
        extensions = sockets.get(label, {}).get("extensions")
        if compression == "deflate" and not (extensions or "").startswith("permessage-deflate"):
            problems.append(f"browser: {label}: WebSocket.extensions is {extensions!r}, expected permessage-deflate")
        if compression is None and extensions != "":
            problems.append(f"browser: {label}: WebSocket.extensions is {extensions!r}, expected ''")

    handshakes = [record for record in collector.records if "handshake" in record]
    connections = [record for record in collector.records if "path" in record]
    # echo, fragments, burst, chat, ping, close, too big, incompressible.
    if len(handshakes) != 8 or len(connections) != 8:
        problems.append(f"server: {len(handshakes)} handshakes, {len(connections)} connections; expected 8 each")
    for record in handshakes + connections:
        offered = record.get("offered", record.get("request_extensions"))
        accepted = record.get("accepted", record.get("response_extensions"))
        where = record.get("handshake", record.get("path"))
        if not any("permessage-deflate" in value for value in offered):
            problems.append(f"server: {where}: the browser offered no permessage-deflate: {offered!r}")
        if compression == "deflate" and not (len(accepted) == 1 and accepted[0].startswith("permessage-deflate")):
            problems.append(f"server: {where}: Sec-WebSocket-Extensions accepted {accepted!r}")
        if compression is None and accepted:
            problems.append(f"server: {where}: Sec-WebSocket-Extensions {accepted!r} with compression=None")
    for record in connections:
        if "error" in record:
            problems.append(f"server: {record['path']}: handler failed: {record['error']}")

    def expect(path, description, test):
        matching = [record for record in connections if record["path"] == path and test(record)]
        if not matching:
            seen = [record for record in connections if record["path"] == path]
            problems.append(f"server: {path}: no connection {description}; saw {seen!r}")

    def closed(code, reason=None):
        # The handler ended without ConnectionClosedError, on this close code.
        return lambda r: r["close_code"] == code and reason in (None, r["close_reason"]) and "exception" not in r

    expect("/echo", "closed by the browser with 1000 'done ✓'", closed(1000, "done ✓"))
    expect("/echo", "failed with 1009 sent", lambda r: r.get("sent_code") == 1009)
    expect("/echo", "that echoed the burst of 2000 messages", lambda r: r["messages"] == 2000 and closed(1000)(r))
    expect("/fragments", "closed with 1000", closed(1000))
    expect("/chat", "with subprotocol chat.v1", lambda r: r["subprotocol"] == "chat.v1")
    expect("/chat", "closed without a code (1005)", closed(1005))
    expect("/ping", "closed with 1000 after the pong", closed(1000))
    expect("/close", "closed with 4000 'bye ✓' echoed", closed(4000, "bye ✓"))

    if problems:
        raise CheckFailed("\n".join(problems))
    return report


def run_check(server="asyncio", compression="deflate", chromium=None, tls=False):
    """
    Run the page in headless Chromium against one server; return the page's
    report, or raise :exc:`CheckFailed`.

    The report's ``incompressible`` entry (a random message just under
    max_size) is not checked here: see README.md, "Known issues".

    Args:
        server: ``"asyncio"`` (default) or ``"sync"``: which server to start.
        compression: ``"deflate"`` (default) or :obj:`None`, passed to serve().
        chromium: path of the Chromium executable; default: :func:`find_chromium`.
        tls: serve the page and the WebSockets over TLS (asyncio server only).
    """
    chromium = chromium or find_chromium()
    if chromium is None:
        raise CheckFailed("no Chromium found")
    if tls:
        if server != "asyncio":
            raise ValueError("tls: asyncio server only")
        collector = run_asyncio(chromium, compression, tls=True)
    else:
        runner = {"asyncio": run_asyncio, "sync": run_sync}[server]
        collector = runner(chromium, compression)
    return check(collector, compression)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("asyncio", "sync", "all"), default="all")
    parser.add_argument("--compression", choices=("deflate", "none", "all"), default="all")
    parser.add_argument("--chromium", help="Chromium executable; default: search PATH")
    args = parser.parse_args(argv)

    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("no Chromium found: install the chromium package or pass --chromium", file=sys.stderr)
        return 2
    from websockets_fast import speedups

    print(f"Chromium: {chromium}; websockets_fast backend: {speedups.BACKEND}")
    servers = ("asyncio", "sync") if args.server == "all" else (args.server,)
    if args.compression == "all":
        compressions = ("deflate", None)
    else:
        compressions = ({"deflate": "deflate", "none": None}[args.compression],)
    failed = 0
    for server in servers:
        for compression in compressions:
            name = f"{server} server, compression={compression}"
            try:
                report = run_check(server, compression, chromium)
            except CheckFailed as exc:
                failed += 1
                print(f"FAIL {name}:\n{exc}")
            else:
                extensions = report["sockets"]["echo"]["extensions"]
                print(f"ok   {name}: {len(report['passed'])} browser checks passed; extensions {extensions!r}")
                incompressible = report.get("incompressible", {})
                if not incompressible.get("ok"):
                    print(f"     known issue: 1 MiB - 100 random bytes not echoed: {incompressible.get('detail')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
