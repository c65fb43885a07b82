"""The per-message path is one Python source, also compiled by Cython.

``websockets_fast/assembler.py`` and ``websockets_fast/asyncio/connection.py``
are built into ``websockets_fast._speedups.*`` with the C types of
``_speedups/*.pxd``. The whole suite runs on both backends; these tests check
that each backend really runs its own build, and that the compiled classes
behave as the Python ones for what programs do with them.
"""

import asyncio
import importlib
import pickle
import weakref

import pytest
from conftest import run

from websockets_fast import speedups
from websockets_fast.assembler import Assembler
from websockets_fast.asyncio.client import ClientConnection, connect
from websockets_fast.asyncio.connection import Connection, broadcast
from websockets_fast.asyncio.server import ServerConnection, serve
from websockets_fast.exceptions import ConnectionClosedOK

SOURCES = {
    "protocol": ("websockets_fast.protocol", ["Protocol"]),
    "assembler": ("websockets_fast.assembler", ["Assembler"]),
    "asyncio_connection": ("websockets_fast.asyncio.connection", ["Connection", "broadcast"]),
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
