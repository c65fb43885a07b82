"""The rest of the legacy API: basic auth, broadcast, the deprecated top-level
aliases, and the framing, handshake and http modules."""

import asyncio
import importlib
import warnings

import pytest
from conftest import run

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import websockets.legacy.client as peer_client
    from websockets.exceptions import InvalidStatusCode as PeerInvalidStatusCode

    from websockets_fast.legacy import framing, handshake
    from websockets_fast.legacy import http as legacy_http
    from websockets_fast.legacy.auth import BasicAuthWebSocketServerProtocol, basic_auth_protocol_factory
    from websockets_fast.legacy.client import connect
    from websockets_fast.legacy.protocol import broadcast
    from websockets_fast.legacy.server import serve

import websockets_fast
from websockets_fast.datastructures import Headers
from websockets_fast.exceptions import InvalidHeaderValue, InvalidUpgrade, PayloadTooBig, ProtocolError, SecurityError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def port_of(server):
    return server.sockets[0].getsockname()[1]


async def whoami(ws):
    await ws.send(ws.username)


def test_basic_auth_with_static_credentials():
    async def main():
        factory = basic_auth_protocol_factory(realm="test", credentials=[("alice", "s3cret"), ("bob", "pw")])
        async with serve(whoami, "127.0.0.1", 0, create_protocol=factory) as server:
            port = port_of(server)
            async with peer_client.connect(f"ws://alice:s3cret@127.0.0.1:{port}/") as ws:
                assert await ws.recv() == "alice"
            async with connect(f"ws://bob:pw@127.0.0.1:{port}/") as ws:
                assert await ws.recv() == "bob"
            for uri in (f"ws://127.0.0.1:{port}/", f"ws://alice:wrong@127.0.0.1:{port}/"):
                with pytest.raises(PeerInvalidStatusCode) as info:
                    await peer_client.connect(uri)
                assert info.value.status_code == 401
                assert info.value.headers["WWW-Authenticate"] == 'Basic realm="test", charset="UTF-8"'

    run(main())


def test_basic_auth_with_check_credentials_and_subclass():
    async def main():
        async def check(username, password):
            return password == username[::-1]

        factory = basic_auth_protocol_factory(check_credentials=check)
        async with serve(whoami, "127.0.0.1", 0, create_protocol=factory) as server:
            async with connect(f"ws://abc:cba@127.0.0.1:{port_of(server)}/") as ws:
                assert await ws.recv() == "abc"

        class OnlyRoot(BasicAuthWebSocketServerProtocol):
            async def check_credentials(self, username, password):
                return username == "root"

        async with serve(whoami, "127.0.0.1", 0, create_protocol=OnlyRoot) as server:
            async with connect(f"ws://root:x@127.0.0.1:{port_of(server)}/") as ws:
                assert await ws.recv() == "root"

    run(main())


def test_basic_auth_factory_arguments():
    with pytest.raises(TypeError):
        basic_auth_protocol_factory()
    with pytest.raises(TypeError):
        basic_auth_protocol_factory(credentials=("a", "b"), check_credentials=lambda u, p: True)
    with pytest.raises(TypeError):
        basic_auth_protocol_factory(credentials=[("a", 1)])


def test_broadcast_to_open_connections():
    async def main():
        connected = set()
        ready = asyncio.Event()

        async def handler(ws):
            connected.add(ws)
            if len(connected) == 3:
                ready.set()
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            clients = [await peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/") for _ in range(3)]
            await ready.wait()
            broadcast(connected, "to all")
            broadcast(connected, b"\x01\x02")
            for client in clients:
                assert await client.recv() == "to all"
                assert await client.recv() == b"\x01\x02"
            await clients[0].close()
            closed = [ws for ws in connected if ws.remote_address[1] == clients[0].local_address[1]][0]
            await closed.wait_closed()
            # A closed connection is skipped.
            broadcast(connected, "again")
            for client in clients[1:]:
                assert await client.recv() == "again"
                await client.close()
            with pytest.raises(TypeError):
                broadcast(connected, 42)

    run(main())


LEGACY_ALIASES = [
    ("BasicAuthWebSocketServerProtocol", "websockets_fast.legacy.auth"),
    ("basic_auth_protocol_factory", "websockets_fast.legacy.auth"),
    ("WebSocketClientProtocol", "websockets_fast.legacy.client"),
    ("AbortHandshake", "websockets_fast.legacy.exceptions"),
    ("InvalidStatusCode", "websockets_fast.legacy.exceptions"),
    ("RedirectHandshake", "websockets_fast.legacy.exceptions"),
    ("WebSocketProtocolError", "websockets_fast.legacy.exceptions"),
    ("WebSocketCommonProtocol", "websockets_fast.legacy.protocol"),
    ("WebSocketServer", "websockets_fast.legacy.server"),
    ("WebSocketServerProtocol", "websockets_fast.legacy.server"),
]


@pytest.mark.parametrize("name, module", LEGACY_ALIASES)
def test_deprecated_top_level_alias(name, module):
    with pytest.warns(DeprecationWarning, match=name):
        value = getattr(websockets_fast, name)
    assert value is getattr(importlib.import_module(module), name)
    # Deprecated names aren't advertised.
    assert name not in websockets_fast.__all__


LEGACY_EXCEPTIONS = ["AbortHandshake", "InvalidStatusCode", "RedirectHandshake", "WebSocketProtocolError"]


@pytest.mark.parametrize("name", LEGACY_EXCEPTIONS)
def test_deprecated_exception_in_exceptions_module(name):
    import websockets_fast.exceptions as exceptions
    from websockets_fast.legacy import exceptions as legacy_exceptions

    for _ in range(2):  # every access warns, not only the first
        with pytest.warns(DeprecationWarning, match=f"websockets_fast.exceptions.{name} is deprecated") as record:
            value = getattr(exceptions, name)
        assert value is getattr(legacy_exceptions, name)
        # The warning points at the line that used the name.
        assert record[0].filename == __file__
    assert name in dir(exceptions)
    assert name not in exceptions.__all__


def test_unknown_name_in_exceptions_module():
    import websockets_fast.exceptions as exceptions

    with pytest.raises(AttributeError, match="no attribute 'InvalidStatusCodes'"):
        exceptions.InvalidStatusCodes  # noqa: B018


# Run in a fresh interpreter, so that the legacy package is imported by the
# statement: prints each warning up to "deprecated" (our texts go on
# differently), the package's name replaced by PKG.
WARNINGS_SCRIPT = """
import sys, warnings
package = sys.argv[1]
__import__(package + ".exceptions")
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    exec(sys.argv[2].replace("PKG", package), {})
for warning in caught:
    print(warning.category.__name__, warning.message.args[0].replace(package, "PKG").partition(" deprecated")[0],
          "here" if warning.filename == "<string>" else "elsewhere")
"""


@pytest.mark.parametrize(
    "statement",
    [
        "from PKG.exceptions import InvalidStatusCode",
        "import PKG.exceptions as e; e.AbortHandshake; e.AbortHandshake",
        "from PKG.exceptions import RedirectHandshake, WebSocketProtocolError",
        "import PKG; PKG.InvalidStatusCode; PKG.WebSocketServerProtocol",
        "from PKG import WebSocketProtocolError, basic_auth_protocol_factory",
    ],
)
def test_deprecation_warnings_are_those_of_websockets(statement):
    """The same warnings, in the same order, as websockets 17 gives."""
    import subprocess
    import sys

    def warnings_of(package):
        command = [sys.executable, "-c", WARNINGS_SCRIPT, package, statement.replace("; ", "\n")]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()

    ours = warnings_of("websockets_fast")
    assert ours == warnings_of("websockets")
    assert ours and all(line.startswith("DeprecationWarning") for line in ours)


def test_importing_legacy_warns():
    import sys

    saved = {name: module for name, module in sys.modules.items() if name.startswith("websockets_fast.legacy")}
    for name in saved:
        del sys.modules[name]
    try:
        with pytest.warns(DeprecationWarning, match="legacy is deprecated"):
            importlib.import_module("websockets_fast.legacy")
    finally:
        sys.modules.update(saved)


def test_framing_round_trip_uses_the_frame_rules():
    async def main():
        reader = asyncio.StreamReader()
        written = []
        framing.Frame(True, framing.frames.Opcode.TEXT, b"hello").write(written.append, mask=True)
        reader.feed_data(written[0])
        frame = await framing.Frame.read(reader.readexactly, mask=True)
        assert frame == framing.Frame(True, framing.frames.Opcode.TEXT, b"hello")

        reader = asyncio.StreamReader()
        reader.feed_data(written[0])
        with pytest.raises(ProtocolError):
            await framing.Frame.read(reader.readexactly, mask=False)

        reader = asyncio.StreamReader()
        reader.feed_data(written[0])
        with pytest.raises(PayloadTooBig):
            await framing.Frame.read(reader.readexactly, mask=True, max_size=3)

    run(main())
    assert framing.prepare_data("é") == (framing.frames.Opcode.TEXT, "é".encode())
    assert framing.prepare_ctrl(bytearray(b"x")) == b"x"
    assert framing.parse_close(framing.serialize_close(4000, "bye")) == (4000, "bye")
    with pytest.raises(TypeError):
        framing.prepare_data(42)


def test_handshake_helpers():
    request = Headers()
    key = handshake.build_request(request)
    assert handshake.check_request(request) == key
    response = Headers()
    handshake.build_response(response, key)
    handshake.check_response(response, key)
    with pytest.raises(InvalidHeaderValue):
        handshake.check_response(response, handshake.build_request(Headers()))
    del request["Upgrade"]
    with pytest.raises(InvalidUpgrade):
        handshake.check_request(request)


def test_http_readers():
    async def read(function, data):
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await function(reader)

    async def main():
        path, headers = await read(legacy_http.read_request, b"GET /p?q HTTP/1.1\r\nHost: h\r\n\r\n")
        assert path == "/p?q" and headers["Host"] == "h"
        status, reason, headers = await read(legacy_http.read_response, b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\nbody")
        assert (status, reason, headers["A"]) == (404, "Not Found", "b")
        with pytest.raises(ValueError):
            await read(legacy_http.read_request, b"POST / HTTP/1.1\r\n\r\n")
        with pytest.raises(EOFError):
            await read(legacy_http.read_request, b"GET / HTTP/1.1\r\nHost: h\r\n")
        with pytest.raises(SecurityError):
            await read(legacy_http.read_request, b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n")
        with pytest.raises(SecurityError):
            await read(legacy_http.read_request, b"GET / HTTP/1.1\r\nX: " + b"y" * 9000 + b"\r\n\r\n")

    run(main())


def test_open_connection_keeps_handshake_headers_as_bytes_until_read():
    async def main():
        seen = []

        async def handler(ws):
            # Kept compact once open; parsed on first access, then cached.
            seen.append(type(ws._request_headers))
            headers = ws.request_headers
            seen.append(headers["X-Test"])
            seen.append(ws.request_headers is headers)
            seen.append(ws.response_headers["Upgrade"])
            await ws.send("ok")

        async with serve(handler, "127.0.0.1", 0, extra_headers={"X-Extra": "é"}) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", extra_headers={"X-Test": "t"}) as ws:
                assert await ws.recv() == "ok"
                assert type(ws._response_headers) is bytes
                # Non-ASCII (ISO-8859-1) values survive the round trip.
                assert ws.response_headers["X-Extra"] == "é"
        assert seen == [bytes, "t", True, "websocket"]

    run(main())


def test_klass_is_a_deprecated_create_protocol():
    async def main():
        class Custom(BasicAuthWebSocketServerProtocol.__mro__[1]):  # WebSocketServerProtocol
            pass

        async def handler(ws):
            await ws.send(type(ws).__name__)

        with pytest.warns(DeprecationWarning, match="klass"):
            server = serve(handler, "127.0.0.1", 0, klass=Custom)
        async with server as started:
            async with connect(f"ws://127.0.0.1:{port_of(started)}/") as ws:
                assert await ws.recv() == "Custom"

    run(main())


def test_log_records_carry_the_connection():
    import logging

    paths = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.getMessage() == "from the handler":
                # The "websocket" extra, as websockets' records have it.
                paths.append(record.websocket.path)

    async def main():
        async def handler(ws):
            ws.logger.info("from the handler")

        async with serve(handler, "127.0.0.1", 0, logger=logger) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/x") as ws:
                await ws.wait_closed()

    logger = logging.getLogger("legacy.test")
    logger.setLevel(logging.INFO)
    collect = Collect()
    logger.addHandler(collect)
    try:
        run(main())
    finally:
        logger.removeHandler(collect)
    assert paths == ["/x"]


def test_failing_process_request_answers_500():
    async def main():
        async def broken(path, request_headers):
            raise RuntimeError("bug")

        async with serve(whoami, "127.0.0.1", 0, process_request=broken) as server:
            with pytest.raises(PeerInvalidStatusCode) as info:
                await peer_client.connect(f"ws://127.0.0.1:{port_of(server)}/")
            assert info.value.status_code == 500

    run(main())


def test_legacy_recv_returns_none_once_closed():
    async def main():
        async def closer(ws):
            await ws.close()

        async with serve(closer, "127.0.0.1", 0) as server:
            with pytest.warns(DeprecationWarning, match="legacy_recv"):
                ws = await connect(f"ws://127.0.0.1:{port_of(server)}/", legacy_recv=True)
            assert await ws.recv() is None
            await ws.close()

    run(main())
