"""
wss:// on asyncio: our TLS layer (websockets_fast/asyncio/tls.py) against
real peers, on the default loop and uvloop, with certificates from trustme.
"""

import asyncio
import gc
import importlib
import logging
import os
import socket
import ssl
import sys

import pytest
from conftest import run

trustme = pytest.importorskip("trustme")
import websockets.asyncio.client  # noqa: E402
import websockets.asyncio.server  # noqa: E402
import websockets.legacy.client  # noqa: E402
import websockets.legacy.server  # noqa: E402

from websockets_fast.asyncio import tls  # noqa: E402
from websockets_fast.asyncio.client import connect, unix_connect  # noqa: E402
from websockets_fast.asyncio.server import serve, unix_serve  # noqa: E402
from websockets_fast.exceptions import ConnectionClosedError  # noqa: E402

try:
    import uvloop
except ImportError:  # not on PyPy or Windows
    uvloop = None

LOOPS = [pytest.param(None, id="asyncio")]
if uvloop is not None:
    LOOPS.append(pytest.param(uvloop.new_event_loop, id="uvloop"))

COMPRESSIONS = [pytest.param("deflate", id="deflate"), pytest.param(None, id="uncompressed")]

# Bounds for waits that only end early on success.
BOUND = 10.0

# Larger than a TLS record, so that messages span records and reads.
MESSAGES = ["hello", os.urandom(200_000), "é" * 50_000, b""]


@pytest.fixture(scope="module")
def authority():
    return trustme.CA()


@pytest.fixture(scope="module")
def certificate(authority):
    return authority.issue_cert("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def contexts(authority, certificate):
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(server_context)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_context)
    return server_context, client_context


def port_of(server):
    return server.sockets[0].getsockname()[1]


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def exchange(websocket):
    """Echo MESSAGES one at a time, then a burst of small ones."""
    for message in MESSAGES:
        await websocket.send(message)
        assert await websocket.recv() == message
    for i in range(100):
        await websocket.send(str(i))
    for i in range(100):
        assert await websocket.recv() == str(i)


# Interop: our server with every client.


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("client", ["ours", "websockets", "websockets-legacy", "ours-legacy", "aiohttp"])
def test_our_server_over_tls(contexts, loop_factory, compression, client):
    server_context, client_context = contexts

    async def main():
        async with serve(echo, "127.0.0.1", 0, ssl=server_context, compression=compression) as server:
            uri = f"wss://127.0.0.1:{port_of(server)}/"
            if client == "aiohttp":
                await exchange_aiohttp(uri, client_context, compression)
                return
            if client == "ours":
                connect_function = connect
            elif client == "websockets":
                connect_function = websockets.asyncio.client.connect
            elif client == "websockets-legacy":
                connect_function = websockets.legacy.client.connect
            else:
                from websockets_fast.legacy.client import connect as connect_function
            async with connect_function(uri, ssl=client_context, compression=compression) as websocket:
                await exchange(websocket)
                if client.endswith("legacy"):
                    headers = websocket.response_headers
                else:
                    headers = websocket.response.headers
                extensions = headers.get("Sec-WebSocket-Extensions")
                assert (extensions is not None) == (compression is not None)

    run(main(), loop_factory=loop_factory)


async def exchange_aiohttp(uri, client_context, compression):
    aiohttp = pytest.importorskip("aiohttp")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(uri, ssl=client_context, compress=15 if compression else 0) as websocket:
            assert bool(websocket.compress) == (compression is not None)
            for message in MESSAGES:
                if isinstance(message, str):
                    await websocket.send_str(message)
                    assert (await websocket.receive_str()) == message
                else:
                    await websocket.send_bytes(message)
                    assert (await websocket.receive_bytes()) == message


# Interop: our client with every server.


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("server", ["websockets", "websockets-legacy", "ours-legacy"])
def test_our_client_over_tls(contexts, loop_factory, compression, server):
    server_context, client_context = contexts
    if server == "websockets":
        serve_function = websockets.asyncio.server.serve
    elif server == "websockets-legacy":
        serve_function = websockets.legacy.server.serve
    else:
        from websockets_fast.legacy.server import serve as serve_function

    async def legacy_echo(websocket, path=None):
        async for message in websocket:
            await websocket.send(message)

    handler = echo if server == "websockets" else legacy_echo

    async def main():
        async with serve_function(handler, "127.0.0.1", 0, ssl=server_context, compression=compression) as server:
            uri = f"wss://localhost:{port_of(server)}/"
            async with connect(uri, ssl=client_context, host="127.0.0.1", compression=compression) as websocket:
                await exchange(websocket)
            if server != "ours-legacy":
                return
            # Our legacy client with our legacy server.
            from websockets_fast.legacy.client import connect as legacy_connect

            async with legacy_connect(uri, ssl=client_context, host="127.0.0.1", compression=compression) as websocket:
                await exchange(websocket)

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_unix_socket_over_tls(contexts, loop_factory, tmp_path):
    server_context, client_context = contexts
    path = str(tmp_path / "wss.sock")

    async def main():
        async with unix_serve(echo, path, ssl=server_context):
            async with unix_connect(path, ssl=client_context) as websocket:
                await exchange(websocket)

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_ssl_object_is_rebuilt_after_the_handshake(contexts, loop_factory):
    # Past the handshake the layer keeps only the SSLObject's C object (an
    # idle connection's memory); the SSLObject that programs ask for is
    # built again on demand, around the same C object, once.
    server_context, client_context = contexts
    seen = {}

    async def handler(websocket):
        transport = websocket.transport
        seen["kept"] = transport.sslobj
        first = transport.get_extra_info("ssl_object")
        seen["same"] = first is transport.get_extra_info("ssl_object")
        seen["core"] = first._sslobj is transport.sslcore
        seen["owner"] = transport.sslcore.owner is first
        seen["version"] = first.version()
        await websocket.send("done")
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=server_context) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context) as websocket:
                assert await websocket.recv() == "done"
                transport = websocket.transport
                assert transport.sslobj is None
                # Keys answered by the SSLObject work before ssl_object is asked.
                name, version, bits = transport.get_extra_info("cipher")
                assert version.startswith("TLS")
                assert transport.get_extra_info("ssl_object").server_hostname == "127.0.0.1"
            # Closed: the TLS keys give the default, and the close went out
            # through the C object (close_notify, see the test below).
            assert transport.get_extra_info("ssl_object", "gone") == "gone"
        assert seen == {"kept": None, "same": True, "core": True, "owner": True, "version": "TLSv1.3"}

    run(main(), loop_factory=loop_factory)


# What programs ask the transport.


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_get_extra_info(contexts, certificate, loop_factory):
    _, client_context = contexts
    # A context of its own: the SNI callback records the name the client sent.
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(server_context)
    seen = {}

    def sni_callback(ssl_object, server_name, context):
        seen["server_name"] = server_name

    server_context.sni_callback = sni_callback

    async def handler(websocket):
        transport = websocket.transport
        seen["server_object"] = transport.get_extra_info("ssl_object")
        seen["server_context"] = transport.get_extra_info("sslcontext")
        seen["server_peername"] = transport.get_extra_info("peername")
        await websocket.send("done")
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=server_context) as server:
            uri = f"wss://localhost:{port_of(server)}/"
            async with connect(uri, ssl=client_context, host="127.0.0.1") as websocket:
                assert await websocket.recv() == "done"
                transport = websocket.transport
                # asyncio.Transport's methods, not the class (see TLSTransport).
                assert isinstance(transport, tls.TLSTransport)
                assert all(callable(getattr(transport, name)) for name in dir(asyncio.Transport) if name[0] != "_")
                assert isinstance(transport.get_extra_info("ssl_object"), ssl.SSLObject)
                assert transport.get_extra_info("ssl_object").server_hostname == "localhost"
                assert transport.get_extra_info("sslcontext") is client_context
                peercert = transport.get_extra_info("peercert")
                assert ("DNS", "localhost") in peercert["subjectAltName"]
                name, version, bits = transport.get_extra_info("cipher")
                assert version.startswith("TLS") and bits >= 128
                assert transport.get_extra_info("compression") is None
                assert transport.get_extra_info("peername") == ("127.0.0.1", port_of(server))
                assert transport.get_extra_info("sockname") == websocket.local_address
                assert isinstance(transport.get_extra_info("socket").fileno(), int)
                assert transport.get_extra_info("no such key", "default") == "default"
                assert not transport.can_write_eof()
                assert websocket.remote_address == ("127.0.0.1", port_of(server))
                local_address = websocket.local_address
            # As without TLS, the addresses outlive the connection.
            assert websocket.remote_address == ("127.0.0.1", port_of(server))
            assert websocket.local_address == local_address
        assert isinstance(seen["server_object"], ssl.SSLObject)
        assert seen["server_context"] is server_context
        assert seen["server_peername"] == local_address
        # SNI: the server saw the name the client asked for.
        assert seen["server_name"] == "localhost"

    run(main(), loop_factory=loop_factory)


def test_renegotiation_refused(contexts):
    server_context, client_context = contexts

    async def main():
        async with serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context) as websocket:
                await websocket.send("x")
                assert await websocket.recv() == "x"

    run(main())
    assert server_context.options & ssl.OP_NO_RENEGOTIATION
    assert client_context.options & ssl.OP_NO_RENEGOTIATION


# Closing.


def raw_tls_session(port, client_context):
    """
    In a thread, with a blocking ssl socket: open a WebSocket connection,
    close it, and return what the last recv() on the TLS socket gave after
    the server's close frame (b"" when the server sent close_notify).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as raw:
        with client_context.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(
                b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(4096)
                assert chunk, "the server closed during the handshake"
                received += chunk
            assert received.startswith(b"HTTP/1.1 101 ")
            # A masked close frame, 1000, with a zero mask.
            sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
            frames = received.partition(b"\r\n\r\n")[2]
            for _ in range(100):
                chunk = sock.recv(4096)
                if not chunk:
                    return frames, chunk
                frames += chunk
            raise AssertionError("the server never closed")


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_close_sends_close_notify(contexts, loop_factory):
    server_context, client_context = contexts

    async def main():
        async with serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            return await asyncio.to_thread(raw_tls_session, port_of(server), client_context)

    # Without close_notify, recv() would raise SSLEOFError.
    frames, last = run(main(), loop_factory=loop_factory)
    assert frames == b"\x88\x02\x03\xe8"
    assert last == b""


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_server_close_over_tls(contexts, loop_factory):
    server_context, client_context = contexts
    codes = []

    async def handler(websocket):
        await websocket.close(4000, "bye")
        codes.append(websocket.close_code)

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=server_context) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context) as websocket:
                await websocket.wait_closed()
                assert websocket.close_code == 4000 and websocket.close_reason == "bye"

    run(main(), loop_factory=loop_factory)
    assert codes == [4000]


# Bad peers.


def no_errors_logged(caplog):
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    return not problems, [(r.name, r.getMessage()) for r in problems]


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_handshake_that_never_finishes(contexts, loop_factory, caplog):
    """A client that connects and sends half a ClientHello is closed at open_timeout."""
    server_context, _ = contexts
    caplog.set_level(logging.DEBUG)
    handled = []

    async def handler(websocket):
        handled.append(websocket)

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=server_context, open_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(b"\x16\x03\x01\x02\x00\x01")
            try:
                # Bounded by the test's timeout; ends when the server closes.
                assert await reader.read() == b""
            except ConnectionResetError:
                pass
            writer.close()

    run(main(), loop_factory=loop_factory)
    assert handled == []
    ok, problems = no_errors_logged(caplog)
    assert ok, problems
    assert any("TLS handshake failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_client_handshake_timeout(contexts, loop_factory):
    """A server that accepts TCP but never answers TLS: connect() fails at open_timeout."""
    _, client_context = contexts

    async def main():
        accepted = []

        async def silent(reader, writer):
            accepted.append(writer)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(TimeoutError):
                await connect(f"wss://127.0.0.1:{port}/", ssl=client_context, open_timeout=0.2)
            for writer in accepted:
                writer.close()

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_plaintext_http_to_tls_port(contexts, loop_factory, caplog):
    server_context, _ = contexts
    caplog.set_level(logging.DEBUG)
    handled = []

    async def handler(websocket):
        handled.append(websocket)

    async def main():
        loop = asyncio.get_running_loop()
        errors = []
        loop.set_exception_handler(lambda loop, context: errors.append(context))
        async with serve(handler, "127.0.0.1", 0, ssl=server_context) as server:
            for request in [
                b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n",
                os.urandom(600),
            ]:
                reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
                writer.write(request)
                try:
                    # At most an alert, then EOF; never an HTTP response.
                    answer = await reader.read()
                except ConnectionResetError:
                    answer = b""
                assert not answer.startswith(b"HTTP")
                writer.close()
        return errors

    errors = run(main(), loop_factory=loop_factory)
    assert errors == []
    assert handled == []
    ok, problems = no_errors_logged(caplog)
    assert ok, problems


def corrupt_record():
    # An application data record whose authentication must fail.
    return b"\x17\x03\x03\x00\x20" + os.urandom(32)


def plaintext_alert():
    # A fatal alert (internal_error) in the clear.
    return b"\x15\x03\x03\x00\x02\x02\x50"


def oversized_record():
    # The header of a record longer than TLS allows, and a little of it:
    # OpenSSL refuses it at once, nobody waits for the rest.
    return b"\x17\x03\x03\xff\xff" + os.urandom(100)


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize(
    "bad",
    [corrupt_record, plaintext_alert, oversized_record, None],
    ids=["garbage", "alert", "oversized", "tcp-reset"],
)
def test_bad_tls_mid_message_gives_1006(contexts, loop_factory, bad, caplog):
    """The client sends the first fragment of a message, then garbage, an
    alert, or drops the TCP connection: the server's handler sees 1006."""
    server_context, client_context = contexts
    caplog.set_level(logging.DEBUG)
    outcome = []

    async def handler(websocket):
        try:
            await websocket.recv()
        except ConnectionClosedError as exc:
            outcome.append((websocket.close_code, exc.rcvd))

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=server_context) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context) as websocket:
                # A text frame without FIN, masked with a zero key.
                websocket.transport.write(b"\x01\x83\x00\x00\x00\x00hel")
                tcp = websocket.transport.get_extra_info("socket")
                if bad is None:
                    # RST instead of FIN.
                    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    websocket.transport.abort()
                else:
                    websocket.transport.transport.write(bad())
                try:
                    await websocket.wait_closed()
                except Exception:
                    pass
            # The handler ends when the server sees the connection fail.
            if server.handler_tasks:
                await asyncio.wait(list(server.handler_tasks), timeout=BOUND)

    run(main(), loop_factory=loop_factory)
    assert outcome == [(1006, None)]
    ok, problems = no_errors_logged(caplog)
    assert ok, problems


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_server_garbage_gives_1006_to_client(contexts, loop_factory):
    server_context, client_context = contexts

    async def handler(websocket):
        await websocket.send("hello")
        websocket.transport.transport.write(corrupt_record())
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=server_context) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context) as websocket:
                assert await websocket.recv() == "hello"
                with pytest.raises(ConnectionClosedError):
                    await websocket.recv()
                assert websocket.close_code == 1006

    run(main(), loop_factory=loop_factory)


# Flow control.


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_write_limit_over_tls(contexts, loop_factory, monkeypatch):
    """A client that doesn't read: the server's send() waits, and what the
    TLS layer holds (the TCP transport's buffer of ciphertext) stays near
    write_limit."""
    server_context, client_context = contexts
    size, count, high = 64 * 1024, 256, 256 * 1024
    pauses = []
    paused = None
    pause_writing = tls.TLSTransport.pause_writing

    def recording_pause_writing(self):
        # The buffer is at its largest when the TCP transport pauses us.
        pauses.append(self.transport.get_write_buffer_size())
        if self.server_side:
            paused.set()
        pause_writing(self)

    monkeypatch.setattr(tls.TLSTransport, "pause_writing", recording_pause_writing)

    async def handler(websocket):
        transport = websocket.transport
        # Bounded kernel buffers (no autotuning up to tcp_wmem/tcp_rmem), so
        # that the transport's buffer fills up within count messages.
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        for _ in range(count):
            await websocket.send(bytes(size))
            # Nothing waits in the TLS layer itself.
            assert transport.get_write_buffer_size() == transport.transport.get_write_buffer_size()
        await websocket.send("end")
        await websocket.wait_closed()

    async def main():
        nonlocal paused
        paused = asyncio.Event()
        async with serve(handler, "127.0.0.1", 0, ssl=server_context, write_limit=high, compression=None) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context, max_queue=1, compression=None) as websocket:
                websocket.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
                # The server fills the socket buffers, then its send() waits.
                await asyncio.wait_for(paused.wait(), BOUND * 3)
                received = 0
                while await websocket.recv() != "end":
                    received += 1
                assert received == count

    run(main(), timeout=BOUND * 6, loop_factory=loop_factory)
    assert pauses
    # One message of ciphertext (plus its records' headers) past high at most.
    assert max(pauses) <= high + size + size // 100


# Memory.


def resident_memory():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def live_tls_transports():
    return sum(1 for obj in gc.get_objects() if type(obj) is tls.TLSTransport)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("loop_factory", LOOPS)
def test_connect_close_cycles_leave_flat_memory(contexts, loop_factory):
    """1,000 wss connect/close cycles: nothing per cycle stays behind."""
    server_context, client_context = contexts
    warmup, cycles = 200, 800

    async def main():
        async with serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            uri = f"wss://127.0.0.1:{port_of(server)}/"

            async def cycle():
                async with connect(uri, ssl=client_context) as websocket:
                    await websocket.send("hello")
                    assert await websocket.recv() == "hello"

            for _ in range(warmup):
                await cycle()
            gc.collect()
            before = resident_memory()
            for _ in range(cycles):
                await cycle()
            if server.handler_tasks:
                await asyncio.wait(list(server.handler_tasks), timeout=BOUND)
            gc.collect()
            return before, resident_memory(), live_tls_transports()

    before, after, live = run(main(), timeout=120, loop_factory=loop_factory)
    assert live == 0
    # A leaked connection costs ~40 KiB here (both ends): 800 leaks would
    # be 30 MiB. Allow for the allocator's fragmentation.
    assert after - before < 4 * 1024 * 1024, (after - before) / cycles


# A browser.


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_chromium_over_tls(compression):
    """The browser check (tests/browser) over https:// and wss://, on our
    asyncio server. Skipped without Chromium, as test_browser.py is."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser"))
    import run_browser_check

    chromium = run_browser_check.find_chromium()
    if chromium is None:
        pytest.skip("no headless Chromium: install the chromium package, or set CHROMIUM to its path")
    try:
        report = run_browser_check.run_check("asyncio", compression, chromium, tls=True)
    except run_browser_check.CheckFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    assert report["failures"] == []


# The SSLObject's C object.


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_sslobject_subclass_methods_are_called(authority, certificate, loop_factory):
    """The layer calls the SSLObject's C object directly only when
    ssl.SSLObject's own read/write/pending would: a subclass's run."""
    calls = {"read": 0, "write": 0}

    class CountingSSLObject(ssl.SSLObject):
        def read(self, *args, **kwargs):
            calls["read"] += 1
            return super().read(*args, **kwargs)

        def write(self, data):
            calls["write"] += 1
            return super().write(data)

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(server_context)
    server_context.sslobject_class = CountingSSLObject
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_context)

    async def main():
        async with serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context) as websocket:
                # The client's plain SSLObject: its C object.
                assert websocket.transport.sslcore is websocket.transport.get_extra_info("ssl_object")._sslobj
                for message in MESSAGES:
                    await websocket.send(message)
                    assert await websocket.recv() == message

    run(main(), loop_factory=loop_factory)
    assert calls["read"] >= len(MESSAGES) and calls["write"] >= len(MESSAGES)


# Large frames: records decrypted straight into the payload.


def counting_payload_source(transport, counts, side):
    """Wrap the TLS layer's payload_source to count the records that went
    into a payload."""
    original = transport.payload_source

    def source():
        parser = original()
        if parser is not None:
            counts[side] = counts.get(side, 0) + 1
        return parser

    transport.payload_source = source


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_large_messages_decrypted_into_their_payload(contexts, loop_factory):
    server_context, client_context = contexts
    sizes = [3 * 2**20, 10, 2**20 + 1, 65_536, 70_000, 1, 200_000]
    messages = []
    for n, size in enumerate(sizes):
        messages.append(bytes((n * 31 + i) & 0xFF for i in range(256)) * (size // 256) + b"x" * (size % 256))
        messages.append(("é" if n % 2 else "a") * (size // 2 if n % 2 else size))
    counts = {}

    async def handler(websocket):
        counting_payload_source(websocket.transport, counts, "server")
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=server_context, compression=None, max_size=None, max_queue=1) as server:
            uri = f"wss://127.0.0.1:{port_of(server)}/"
            async with connect(uri, ssl=client_context, compression=None, max_size=None, max_queue=1) as websocket:
                counting_payload_source(websocket.transport, counts, "client")
                received = []
                for message in messages:
                    await websocket.send(message)
                    received.append(await websocket.recv())
                return received

    received = run(main(), loop_factory=loop_factory)
    for got, sent in zip(received, messages):
        assert type(got) is type(sent) and got == sent
    assert len(received) == len(messages)
    assert counts.get("server", 0) > 0 and counts.get("client", 0) > 0


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_invalid_utf8_decrypted_into_a_payload_closes_1007(contexts, loop_factory):
    server_context, client_context = contexts
    text = b"a" * (2 * 2**20) + b"\xff" + b"b" * 1000
    closed = []

    async def handler(websocket):
        try:
            await websocket.recv()
        except ConnectionClosedError as exc:
            closed.append(exc)

    async def main():
        async with serve(handler, "127.0.0.1", 0, ssl=server_context, compression=None, max_size=None) as server:
            uri = f"wss://127.0.0.1:{port_of(server)}/"
            async with connect(uri, ssl=client_context, compression=None) as websocket:
                # Raw text bytes in one frame: send() would refuse them.
                websocket.protocol.send_text(text)
                websocket._flush()
                with pytest.raises(ConnectionClosedError) as info:
                    await websocket.recv()
                assert info.value.rcvd.code == 1007

    run(main(), loop_factory=loop_factory)
    assert closed and closed[0].sent.code == 1007


# Reading: record boundaries anywhere in the reads.


@pytest.fixture
def read_size():
    """Make the transports read at most ``read_size(n)`` bytes at a time in
    this thread: the size of the buffer that the TLS layer gives them."""
    buffers = importlib.import_module(tls.TLSTransport.__module__)._read_buffers
    saved = getattr(buffers, "buffer", None)

    def set_size(size):
        buffers.buffer = bytearray(size)

    yield set_size
    if saved is None:
        vars(buffers).pop("buffer", None)
    else:
        buffers.buffer = saved


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("size", [1, 3, 5, 6, 7, 1000, 16_411, 16_412, 17_000, 40_000])
def test_reads_of_any_size(contexts, loop_factory, size, read_size):
    """Records split across reads at every offset (headers included), or
    several records per read: what the record tracking of the incoming
    ciphertext must follow (see TLSLayer._track and _chunk_size)."""
    server_context, client_context = contexts
    large = 50_000 if size < 1000 else 300_000
    messages = [b"", "x", os.urandom(125), os.urandom(16_384), "é" * (large // 2), os.urandom(large)]

    async def main():
        read_size(size)
        async with serve(echo, "127.0.0.1", 0, ssl=server_context, compression=None, max_size=None) as server:
            uri = f"wss://127.0.0.1:{port_of(server)}/"
            async with connect(uri, ssl=client_context, compression=None, max_size=None) as websocket:
                for message in messages:
                    await websocket.send(message)
                    assert await websocket.recv() == message
                # A burst: many records in one read.
                for message in messages:
                    await websocket.send(message)
                for message in messages:
                    assert await websocket.recv() == message

    run(main(), loop_factory=loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("size", [None, 1000, 16_411, 20_000])
def test_large_message_reads_without_a_want_read_per_record(authority, certificate, loop_factory, size, read_size):
    """The layer asks OpenSSL to decrypt only when the BIO holds a whole
    record: a 1 MiB message (64 records) costs a handful of
    SSLWantReadError, not one per read, whatever the size of the reads."""
    want_reads = []

    class CountingSSLObject(ssl.SSLObject):
        def read(self, *args, **kwargs):
            try:
                return super().read(*args, **kwargs)
            except ssl.SSLWantReadError:
                want_reads.append(self)
                raise

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(server_context)
    server_context.sslobject_class = CountingSSLObject
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_context)
    message = os.urandom(2**20)

    async def main():
        if size is not None:
            read_size(size)
        async with serve(echo, "127.0.0.1", 0, ssl=server_context, compression=None) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context, compression=None) as websocket:
                for _ in range(3):
                    await websocket.send(message)
                    assert await websocket.recv() == message

    run(main(), loop_factory=loop_factory)
    # 3 × 64 records came in; at most one WANT_READ after the handshake
    # (TLS 1.3 session tickets) and a few around it.
    assert len(want_reads) < 10


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_paused_reading_keeps_its_ciphertext(contexts, loop_factory):
    """A connection that pauses reading halfway through a read (its queue
    is full) keeps the rest of that read while other connections of the
    thread read into the same buffer."""
    server_context, client_context = contexts
    messages = [os.urandom(1000 + 37 * i) for i in range(100)]
    received = []

    async def main():
        all_received = asyncio.Event()

        async def handler(websocket):
            if websocket.request.path == "/slow":
                async for message in websocket:
                    received.append(message)
                    if len(received) == len(messages):
                        all_received.set()
            else:
                async for message in websocket:
                    await websocket.send(message)

        async with serve(handler, "127.0.0.1", 0, ssl=server_context, compression=None, max_queue=1) as server:
            base = f"wss://127.0.0.1:{port_of(server)}"
            async with connect(f"{base}/slow", ssl=client_context, compression=None) as slow, connect(
                f"{base}/busy", ssl=client_context, compression=None
            ) as busy:
                # A burst: many messages per read for the server, whose
                # queue of one message pauses reading after each.
                for message in messages:
                    await slow.send(message)
                # Meanwhile, traffic on another connection of this thread.
                for message in messages:
                    await busy.send(message)
                    assert await busy.recv() == message
                await asyncio.wait_for(all_received.wait(), BOUND)

    run(main(), loop_factory=loop_factory)
    assert received == messages


def test_event_loops_in_threads_read_into_their_own_buffers(contexts):
    """The read buffer is per thread: two event loops in two threads, each
    with wss traffic of its own, never see each other's bytes."""
    import threading

    server_context, client_context = contexts
    results = {}

    def worker(name):
        messages = [os.urandom(5000 + 997 * i) for i in range(80)]

        async def main():
            async with serve(echo, "127.0.0.1", 0, ssl=server_context, compression=None) as server:
                uri = f"wss://127.0.0.1:{port_of(server)}/"
                async with connect(uri, ssl=client_context, compression=None) as websocket:
                    for message in messages:
                        await websocket.send(message)
                        assert await websocket.recv() == message
            return len(messages)

        try:
            results[name] = run(main())
        except BaseException as exc:  # reported below
            results[name] = exc

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND * 3)
    assert results == {"a": 80, "b": 80}
