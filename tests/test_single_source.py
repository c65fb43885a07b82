"""The per-message path is one Python source, also compiled by Cython.

``websockets_fast/protocol.py``, ``websockets_fast/assembler.py``,
``websockets_fast/asyncio/connection.py`` and
``websockets_fast/sync/connection.py`` are built into ``websockets_fast._speedups.*`` with the C types of
``_speedups/*.pxd``. The whole suite runs on both backends; these tests check
that each backend really runs its own build, and that the compiled classes
behave as the Python ones for what programs do with them.
"""

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import pickle
import threading
import weakref

import pytest
from conftest import run

from websockets_fast import speedups
from websockets_fast.assembler import Assembler
from websockets_fast.asyncio.client import ClientConnection, connect
from websockets_fast.asyncio.connection import Connection, broadcast
from websockets_fast.asyncio.server import ServerConnection, serve
from websockets_fast.exceptions import ConnectionClosedOK
from websockets_fast.sync import connection as sync_connection
from websockets_fast.sync.client import ClientConnection as SyncClientConnection
from websockets_fast.sync.client import connect as sync_connect
from websockets_fast.sync.server import ServerConnection as SyncServerConnection
from websockets_fast.sync.server import serve as sync_serve

SOURCES = {
    "protocol": ("websockets_fast.protocol", ["Protocol"]),
    "assembler": ("websockets_fast.assembler", ["Assembler"]),
    "asyncio_connection": ("websockets_fast.asyncio.connection", ["Connection", "broadcast"]),
    "sync_connection": ("websockets_fast.sync.connection", ["Connection", "broadcast"]),
    "tls": ("websockets_fast.asyncio.tls", ["TLSLayer", "TLSTransport"]),
}


def test_every_compiled_module_is_listed():
    assert set(SOURCES) == set(speedups.SINGLE_SOURCE)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_backend_runs_its_own_build(name):
    module_name, names = SOURCES[name]
    module = importlib.import_module(module_name)
    compiled_name = f"websockets_fast._speedups.{name}"
    if speedups.BACKEND == "compiled":
        compiled = importlib.import_module(compiled_name)
        for attribute in names:
            assert getattr(module, attribute) is getattr(compiled, attribute), attribute
        assert getattr(module, names[0]).__module__ == compiled_name
    else:
        # The source's own class (the differential fuzz tests may have
        # imported the compiled build meanwhile, for their comparison).
        assert getattr(module, names[0]).__module__ == module_name


def test_compiled_build_is_the_same_source():
    # The compiled module runs the same file: its docstring is the source's.
    if speedups.BACKEND != "compiled":
        pytest.skip("pure-Python backend")
    for name, (module_name, _) in SOURCES.items():
        source = importlib.import_module(module_name)
        compiled = importlib.import_module(f"websockets_fast._speedups.{name}")
        assert compiled.__doc__ == source.__doc__


def test_connections_are_asyncio_protocols_with_dict_and_weakref():
    for cls in (ClientConnection, ServerConnection):
        assert issubclass(cls, Connection)
        assert issubclass(cls, asyncio.Protocol)


def test_programs_attach_attributes_and_subclass_connections():
    class MyConnection(ServerConnection):
        __slots__ = ("role",)

    seen = {}

    async def handler(ws):
        ws.user = "alice"  # an attribute of the program's own
        ws.role = "admin"
        seen["ws"] = weakref.ref(ws)
        seen["attributes"] = (ws.user, ws.role, type(ws).__name__)
        await ws.send(await ws.recv())

    async def main():
        async with serve(handler, "127.0.0.1", 0, create_connection=MyConnection) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("hello")
                assert await ws.recv() == "hello"
                ws.note = 1
                assert vars(ws) == {"note": 1}

    run(main())
    assert seen["attributes"] == ("alice", "admin", "MyConnection")
    assert isinstance(seen["ws"], weakref.ref)


def test_assembler_subclass_overrides_compiled_methods():
    calls = []

    class Counting(Assembler):
        def put(self, frame):
            calls.append(frame)
            super().put(frame)

    class Frame:
        opcode, data, fin = 2, b"x", True

    assembler = Counting()
    assembler.put(Frame())
    assert calls and assembler.complete == 1 and assembler.take() == b"x"


def test_connection_closed_pickles():
    async def handler(ws):
        await ws.close()

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                with pytest.raises(ConnectionClosedOK) as info:
                    await ws.recv()
        return info.value

    exc = run(main())
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is ConnectionClosedOK and again.rcvd.code == 1000


# The threading implementation


def _sync_source_module():
    """sync/connection.py run as Python under another name, so that it keeps
    its own classes whatever the backend."""
    name = "websockets_fast.sync._connection_as_python"
    spec = importlib.util.spec_from_file_location(name, sync_connection.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parameters(function):
    # Names, kinds and defaults; annotations are strings either way.
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_sync_connection_keeps_the_signatures_of_its_source():
    source = _sync_source_module()
    assert source.Connection is not sync_connection.Connection
    names = [
        name
        for name, value in vars(source.Connection).items()
        if inspect.isfunction(value) and (not name.startswith("_") or name in ("__enter__", "__exit__"))
    ]
    assert {"recv", "recv_streaming", "send", "ping", "pong", "close", "process_event"} <= set(names)
    for name in names:
        assert _parameters(getattr(sync_connection.Connection, name)) == _parameters(
            getattr(source.Connection, name)
        ), name
    for name in ("local_address", "remote_address", "state", "subprotocol", "close_code", "close_reason"):
        assert hasattr(sync_connection.Connection, name), name
    assert _parameters(sync_connection.broadcast) == _parameters(source.broadcast)
    assert sync_connection.broadcast.__module__ == "websockets_fast.sync.server"


@contextlib.contextmanager
def _sync_server(handler, **kwargs):
    with sync_serve(handler, "127.0.0.1", 0, compression=None, **kwargs) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        finally:
            server.shutdown()
            thread.join(10)


def test_sync_programs_attach_attributes_and_subclass_connections():
    for cls in (SyncClientConnection, SyncServerConnection):
        assert issubclass(cls, sync_connection.Connection)

    class MyConnection(SyncServerConnection):
        __slots__ = ("role",)

    seen = {}

    def handler(ws):
        ws.user = "alice"  # an attribute of the program's own
        ws.role = "admin"
        seen["ws"] = weakref.ref(ws)
        seen["attributes"] = (ws.user, ws.role, type(ws).__name__, dict(vars(ws)))
        ws.send(ws.recv())

    with _sync_server(handler, create_connection=MyConnection) as uri:
        with sync_connect(uri, compression=None) as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "hello"
            ws.note = 1
            assert vars(ws) == {"note": 1}
    assert seen["attributes"] == ("alice", "admin", "MyConnection", {"user": "alice"})
    assert isinstance(seen["ws"], weakref.ref)


def test_sync_subclass_overrides_process_event():
    # The compiled read path calls process_event() for each frame: a
    # subclass's own must run instead.
    frames = []

    class Recording(SyncClientConnection):
        def process_event(self, event):
            frames.append(event.opcode)
            super().process_event(event)

    def handler(ws):
        for message in ws:
            ws.send(message)

    with _sync_server(handler) as uri:
        with sync_connect(uri, compression=None, create_connection=Recording) as ws:
            for message in (b"one", "two"):
                ws.send(message)
                assert ws.recv(timeout=10) == message
    assert frames[:2] == [2, 1]
