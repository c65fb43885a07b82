"""The public API of websockets_fast against websockets 17, name by name.

A program written for ``websockets`` should move over by changing its
imports. These tests walk websockets' public modules and check that every
public name exists here, that every parameter websockets accepts is accepted
here (with the same default where the default is part of the contract), that
classes have the same public members, enums the same members and values, and
exceptions the same hierarchy.

What websockets exposes but we deliberately leave out is listed in the
allow-lists below, each with its reason. Gaps that are not fixed yet are
``xfail(strict=True)`` entries in ``KNOWN_GAPS``: the suite stays green, the
gap stays visible, and fixing it turns the xfail into a failure that asks for
the entry to be removed.
"""

import asyncio
import enum
import importlib
import inspect
import threading

import pytest

from conftest import run

websockets = pytest.importorskip("websockets")

# Module pairs compared: websockets.<name> <-> websockets_fast.<name>.
MODULES = [
    "",
    "asyncio.client",
    "asyncio.server",
    "asyncio.connection",
    "sync.client",
    "sync.server",
    "sync.connection",
    "client",
    "server",
    "protocol",
    "frames",
    "http11",
    "datastructures",
    "exceptions",
    "extensions",
    "extensions.permessage_deflate",
    "typing",
    "uri",
    "asyncio.router",
    "sync.router",
    "headers",
    "proxy",
    "extensions.base",
    "version",
    "utils",
    "cli",
    # The legacy implementation (deprecated, but still shipped).
    "legacy.server",
    "legacy.client",
    "legacy.protocol",
    "legacy.auth",
    "legacy.exceptions",
    "legacy.framing",
    "legacy.handshake",
    "legacy.http",
]
# Not compared, on purpose: websockets.auth (a deprecated alias of
# websockets.legacy.auth), websockets.connection (a deprecated
# alias of protocol), websockets.trio (we have no trio layer), and the
# undocumented internals websockets.streams, websockets.imports,
# websockets.asyncio.messages, websockets.sync.messages, websockets.sync.utils.

# Names websockets exports that we leave out on purpose.
OMITTED_NAMES = {
    # websockets.legacy.framing and .exceptions have no __all__: these are
    # the modules' own imports (typing names, helpers), not their API.
    *(
        ("legacy.framing", name)
        for name in (
            "Any",
            "Awaitable",
            "BytesLike",
            "Callable",
            "DataLike",
            "PayloadTooBig",
            "ProtocolError",
            "Sequence",
            "apply_mask",
            "extensions",
            "struct",
        )
    ),
    ("legacy.exceptions", "StatusLike"),
    ("legacy.exceptions", "datastructures"),
}

# Public-looking members of websockets' classes that are implementation
# internals: absent from websockets' API reference (docs/reference/*.rst),
# they are how its I/O layers are built, not what programs call.
INTERNAL_MEMBERS = {
    # asyncio and sync Connection machinery.
    "acknowledge_pings",
    "drain",
    "keepalive",
    "process_event",
    "recv_events",
    "send_context",
    "send_data",
    "set_connection_exc",
    "start_keepalive",
    "terminate_pending_pings",
    "maybe_raise_legacy_warning",
    # sync.server.Server's polling of shutdown().
    "SHUTDOWN_POLLING_INTERVAL",
    # Sans-I/O Protocol's generator-based parser plumbing.
    "parse",
    "discard",
    "recv_frame",
    "send_frame",
    # Frame's repr/logging knobs.
    "DEFAULT_IS_TEXT",
    "MAX_LOG_SIZE",
    # sync.client.reconnect's connection steps.
    "enable_tls",
    "open_connection",
    "open_socket",
    "process_redirect",
    # The steps of websockets' legacy connection (its data transfer and
    # closing tasks, its stream reader): this legacy implementation runs on
    # the Sans-I/O protocol and has none of them. Undocumented.
    "abort_pings",
    "close_connection",
    "keepalive_ping",
    "read_data_frame",
    "read_frame",
    "read_message",
    "transfer_data",
    "wait_for_connection_lost",
    "write_close_frame",
    "write_frame",
    "write_frame_sync",
}

# Members of INTERNAL_MEMBERS that are public API on some classes: these
# classmethods parse a frame or an HTTP message from a generator reader and
# appear in websockets' Sans-I/O documentation.
PUBLIC_ON = {
    ("frames", "Frame", "parse"),
    ("", "Frame", "parse"),
    ("http11", "Request", "parse"),
    ("", "Request", "parse"),
    ("http11", "Response", "parse"),
    ("", "Response", "parse"),
}

# Instance attributes of live connections and servers that are websockets'
# internals (waiters, flags and water marks of its own implementation).
INTERNAL_INSTANCE_ATTRIBUTES = INTERNAL_MEMBERS | {
    "close_deadline",
    "connection_exc",
    "connection_lost_waiter",
    "drain_waiters",
    "keepalive_task",
    "keepalive_thread",
    "max_queue_high",
    "max_queue_low",
    "paused",
    "pending_pings",
    "pending_legacy_warning",
    "protocol_mutex",
    "recv_events_thread",
    "recv_flow_control",
    "recv_messages",
    "request_rcvd",
    "response_rcvd",
    "send_in_progress",
    "shutdown_notifier",
    "shutdown_watcher",
    "socket_closed",
    "write_limit_high",
    "write_limit_low",
    # websockets' legacy connection: its tasks and stream reader, which the
    # legacy implementation here replaces with the Sans-I/O protocol and timers.
    "close_connection_task",
    "keepalive_ping_task",
    "reader",
    "transfer_data_exc",
    "transfer_data_task",
}

# Parameters whose default names the library itself, so it differs by design.
LIBRARY_NAMED_DEFAULTS = {"user_agent_header", "server_header"}

# Parameters websockets names explicitly that our function takes through
# **kwargs and handles itself (test_dropin_scenarios exercises them).
ACCEPTED_VIA_KWARGS = {
    ("sync.client", "connect", "legacy"),
    ("sync.client", "unix_connect", "legacy"),
}

# Functions whose **kwargs forward to another function: the names websockets
# accepts must be accepted by the target.
FORWARDS_KWARGS_TO = {
    ("sync.client", "reconnect"): ("sync.client", "connect"),
}

# Gaps not fixed yet: (check id) -> what is missing. Each is an xfail(strict).
KNOWN_GAPS = {
}


def modules(name):
    """Import websockets.<name> and websockets_fast.<name>."""
    suffix = "." + name if name else ""
    theirs = importlib.import_module("websockets" + suffix)
    ours = importlib.import_module("websockets_fast" + suffix)
    return theirs, ours


def modules_or_skip(name):
    """Like modules(), skipping when our module is missing (test_public_name_exists reports it)."""
    try:
        return modules(name)
    except ImportError:
        pytest.skip(f"websockets_fast.{name} missing; reported by test_public_name_exists")


def public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in dir(module) if not name.startswith("_")]
    return list(names)


def params_with_gaps(ids_and_values):
    """pytest.param for each (id, value), xfail(strict) when the id is a known gap."""
    params = []
    for check_id, value in ids_and_values:
        marks = ()
        if check_id in KNOWN_GAPS:
            marks = pytest.mark.xfail(reason="gap: " + KNOWN_GAPS[check_id], strict=True)
        params.append(pytest.param(value, id=check_id, marks=marks))
    return params


# Collection needs websockets' module contents; without websockets the
# importorskip above has already skipped the whole file.
def _collect():
    names, callables, classes, enums, exceptions = [], [], [], [], []
    for module_name in MODULES:
        try:
            theirs = importlib.import_module("websockets" + ("." + module_name if module_name else ""))
        except ImportError:
            # websockets' routers import werkzeug, an optional dependency.
            continue
        for name in public_names(theirs):
            if (module_name, name) in OMITTED_NAMES:
                continue
            key = (module_name, name)
            label = f"{module_name}.{name}"
            names.append((f"name:{label}", key))
            try:
                obj = getattr(theirs, name)
            except (AttributeError, ImportError):  # lazy names needing werkzeug
                continue
            if inspect.isclass(obj):
                if issubclass(obj, enum.Enum):
                    enums.append((f"enum:{label}", key))
                    continue
                if issubclass(obj, BaseException):
                    exceptions.append((f"hierarchy:{label}", key))
                if obj.__init__ is not object.__init__ or obj.__new__ is not object.__new__:
                    callables.append((f"signature:{label}", (module_name, name, None)))
                for member in dir(obj):
                    if member.startswith("_"):
                        continue
                    if member in INTERNAL_MEMBERS and (module_name, name, member) not in PUBLIC_ON:
                        continue
                    classes.append((f"member:{label}.{member}", (module_name, name, member)))
                    static = inspect.getattr_static(obj, member)
                    if inspect.isfunction(static) or isinstance(static, (staticmethod, classmethod)):
                        callables.append((f"signature:{label}.{member}", (module_name, name, member)))
            elif inspect.isfunction(obj):
                callables.append((f"signature:{label}", (module_name, name, None)))
    return names, callables, classes, enums, exceptions


NAMES, CALLABLES, MEMBERS, ENUMS, EXCEPTIONS = _collect()


@pytest.mark.parametrize("key", params_with_gaps(NAMES))
def test_public_name_exists(key):
    module_name, name = key
    _, ours = modules(module_name)
    assert hasattr(ours, name), f"{ours.__name__} lacks {name}"


def lookup(module, name, member):
    obj = getattr(module, name)
    return obj if member is None else getattr(obj, member)


def accepted_parameters(func):
    """(parameters by name, accepts **kwargs, accepts *args) of a callable."""
    parameters = inspect.signature(func).parameters
    kinds = {p.kind for p in parameters.values()}
    return parameters, inspect.Parameter.VAR_KEYWORD in kinds, inspect.Parameter.VAR_POSITIONAL in kinds


def same_default(a, b):
    if callable(a) and callable(b):
        # Default hooks (process_exception, backoff) are our own functions.
        return getattr(a, "__name__", None) == getattr(b, "__name__", None)
    try:
        return bool(a == b)
    except Exception:
        return a is b


@pytest.mark.parametrize("key", params_with_gaps(CALLABLES))
def test_signature_accepts_websockets_parameters(key):
    """Every parameter websockets accepts is accepted here, same default."""
    module_name, name, member = key
    theirs_module, ours_module = modules_or_skip(module_name)
    theirs = lookup(theirs_module, name, member)
    if not hasattr(ours_module, name) or (member and not hasattr(getattr(ours_module, name), member)):
        pytest.skip("missing name; reported by the name and member checks")
    ours = lookup(ours_module, name, member)
    try:
        theirs_params, _, theirs_varargs = accepted_parameters(theirs)
    except (TypeError, ValueError):
        pytest.skip("websockets' callable has no signature")
    try:
        ours_params, ours_varkw, ours_varargs = accepted_parameters(ours)
    except (TypeError, ValueError):
        # A compiled (Cython) class may carry no signature; the Frame
        # constructor, the one such class today, is checked by a call below.
        pytest.skip("compiled callable without a signature")
    if ours_varkw and (module_name, name) in FORWARDS_KWARGS_TO:
        target_module, target_name = FORWARDS_KWARGS_TO[module_name, name]
        target = getattr(modules(target_module)[1], target_name)
        ours_params = {**inspect.signature(target).parameters, **ours_params}

    problems = []
    if theirs_varargs and not ours_varargs:
        problems.append("no *args")
    theirs_positional = []
    for pname, p in theirs_params.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            if p.kind is p.VAR_KEYWORD and not ours_varkw:
                problems.append("no **kwargs")
            continue
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            theirs_positional.append(pname)
        if pname not in ours_params:
            if member is None and ours_varkw and (module_name, name, pname) in ACCEPTED_VIA_KWARGS:
                continue
            problems.append(f"missing parameter {pname!r}")
            continue
        q = ours_params[pname]
        if p.kind is p.POSITIONAL_OR_KEYWORD and q.kind is not q.POSITIONAL_OR_KEYWORD:
            problems.append(f"{pname!r} is {q.kind.description} here, positional or keyword in websockets")
        if p.kind is p.KEYWORD_ONLY and q.kind not in (q.KEYWORD_ONLY, q.POSITIONAL_OR_KEYWORD):
            problems.append(f"{pname!r} is {q.kind.description} here, keyword-only in websockets")
        if p.default is not p.empty:
            if q.default is q.empty:
                problems.append(f"{pname!r} is required here, defaults to {p.default!r} in websockets")
            elif pname not in LIBRARY_NAMED_DEFAULTS and not same_default(p.default, q.default):
                problems.append(f"{pname!r} defaults to {q.default!r} here, {p.default!r} in websockets")
    ours_positional = [
        pname for pname, q in ours_params.items() if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)
    ]
    if ours_positional[: len(theirs_positional)] != theirs_positional:
        problems.append(f"positional parameters {ours_positional} here, {theirs_positional} in websockets")
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("key", params_with_gaps(MEMBERS))
def test_class_member_exists(key):
    module_name, name, member = key
    _, ours = modules_or_skip(module_name)
    if not hasattr(ours, name):
        pytest.skip("missing name; reported by test_public_name_exists")
    cls = getattr(ours, name)
    assert hasattr(cls, member), f"{ours.__name__}.{name} lacks {member}"
    theirs_static = inspect.getattr_static(getattr(modules(module_name)[0], name), member)
    ours_static = inspect.getattr_static(cls, member)
    # A property must stay readable on instances: a method in its place
    # would hand programs a bound method instead of a value.
    if isinstance(theirs_static, property):
        assert not inspect.isfunction(ours_static), f"{member} is a method here, a property in websockets"
    if inspect.isfunction(theirs_static):
        assert callable(getattr(cls, member)), f"{member} is not callable here"


@pytest.mark.parametrize("key", params_with_gaps(ENUMS))
def test_enum_members_match(key):
    module_name, name = key
    theirs_module, ours_module = modules(module_name)
    theirs = getattr(theirs_module, name)
    ours = getattr(ours_module, name)
    assert {m.name: m.value for m in theirs} == {m.name: m.value for m in ours}
    # Programs compare with ints (close codes, opcodes) and with each other.
    for base in (int, str):
        if issubclass(theirs, base):
            assert issubclass(ours, base), f"{name} is not a {base.__name__} enum here"


@pytest.mark.parametrize("key", params_with_gaps(EXCEPTIONS))
def test_exception_hierarchy_matches(key):
    """`except X` catches the same exceptions here as in websockets."""
    module_name, name = key
    theirs_module, ours_module = modules(module_name)
    theirs = getattr(theirs_module, name)
    ours = getattr(ours_module, name)
    ours_exceptions = importlib.import_module("websockets_fast.exceptions")
    for base in theirs.__mro__[1:]:
        if base.__module__.startswith("websockets"):
            assert issubclass(ours, getattr(ours_exceptions, base.__name__)), f"{name} is not a {base.__name__}"
        else:
            assert issubclass(ours, base), f"{name} is not a {base.__name__}"


def test_top_level_exceptions_are_the_exceptions_module_classes():
    """websockets_fast.ConnectionClosed is websockets_fast.exceptions.ConnectionClosed."""
    import websockets_fast
    import websockets_fast.exceptions

    for name in websockets.exceptions.__all__:
        if hasattr(websockets, name):
            assert getattr(websockets_fast, name) is getattr(websockets_fast.exceptions, name), name


# Live objects: instance attributes set in __init__ do not show on the class.


def public_attributes(obj):
    return {name for name in dir(obj) if not name.startswith("_")}


async def asyncio_objects(lib):
    client = importlib.import_module(lib + ".asyncio.client")
    server_module = importlib.import_module(lib + ".asyncio.server")
    found = {}

    async def handler(websocket):
        found["asyncio server connection"] = public_attributes(websocket)
        await websocket.wait_closed()

    async with server_module.serve(handler, "127.0.0.1", 0) as server:
        found["asyncio server"] = public_attributes(server)
        port = server.sockets[0].getsockname()[1]
        async with client.connect(f"ws://127.0.0.1:{port}") as websocket:
            found["asyncio client connection"] = public_attributes(websocket)
            await websocket.ping()
    return found


def sync_objects(lib):
    client = importlib.import_module(lib + ".sync.client")
    server_module = importlib.import_module(lib + ".sync.server")
    found = {}

    def handler(websocket):
        found["sync server connection"] = public_attributes(websocket)
        for _ in websocket:
            pass

    with server_module.serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            found["sync server"] = public_attributes(server)
            port = server.socket.getsockname()[1]
            with client.connect(f"ws://127.0.0.1:{port}", open_timeout=10) as websocket:
                found["sync client connection"] = public_attributes(websocket)
        finally:
            server.shutdown()
            thread.join(10)
    return found


async def legacy_objects(lib):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = importlib.import_module(lib + ".legacy.client")
        server_module = importlib.import_module(lib + ".legacy.server")
    found = {}

    async def handler(websocket):
        found["legacy server connection"] = public_attributes(websocket)
        await websocket.wait_closed()

    async with server_module.serve(handler, "127.0.0.1", 0) as server:
        found["legacy server"] = public_attributes(server)
        port = server.sockets[0].getsockname()[1]
        async with client.connect(f"ws://127.0.0.1:{port}") as websocket:
            found["legacy client connection"] = public_attributes(websocket)
            await websocket.ping()
    return found


LIVE_OBJECTS = [
    "legacy server",
    "legacy server connection",
    "legacy client connection",
    "asyncio server",
    "asyncio server connection",
    "asyncio client connection",
    "sync server",
    "sync server connection",
    "sync client connection",
]

_live_cache = {}


def live_attributes(lib):
    if lib not in _live_cache:
        found = run(asyncio_objects(lib))
        found.update(run(legacy_objects(lib)))
        found.update(sync_objects(lib))
        _live_cache[lib] = found
    return _live_cache[lib]


@pytest.mark.parametrize("kind", params_with_gaps([(f"instance:{kind}", kind) for kind in LIVE_OBJECTS]))
def test_live_objects_have_websockets_attributes(kind):
    theirs = live_attributes("websockets")[kind]
    ours = live_attributes("websockets_fast")[kind]
    missing = theirs - ours - INTERNAL_INSTANCE_ATTRIBUTES
    # username is set by basic_auth only; the handler here uses none.
    assert not missing, f"{kind} lacks {sorted(missing)}"


def test_frame_constructor_keywords():
    """Frame(...) takes websockets' parameters by keyword and by position, compiled or not."""
    from websockets_fast.frames import Frame, Opcode

    by_keyword = Frame(opcode=Opcode.TEXT, data=b"hi", fin=False, rsv1=True, rsv2=False, rsv3=True)
    by_position = Frame(Opcode.TEXT, b"hi", False, True, False, True)
    for frame in (by_keyword, by_position):
        assert (frame.opcode, frame.data, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (
            Opcode.TEXT,
            b"hi",
            False,
            True,
            False,
            True,
        )
    default = Frame(Opcode.BINARY, b"")
    assert (default.fin, default.rsv1, default.rsv2, default.rsv3) == (True, False, False, False)
    theirs = websockets.frames.Frame(websockets.frames.Opcode.TEXT, b"hi")
    assert str(Frame(Opcode.TEXT, b"hi")) == str(theirs)


EVENT_CLASSES = [
    ("frames", "Frame", lambda m, headers: m.Frame(m.Opcode.TEXT, b"x"), {"data": b"y"}),
    ("frames", "Close", lambda m, headers: m.Close(1000, "bye"), {"reason": "later"}),
    ("http11", "Request", lambda m, headers: m.Request("/", headers), {"path": "/x"}),
    ("http11", "Response", lambda m, headers: m.Response(200, "OK", headers), {"status_code": 404}),
]


def replace_event(lib, module_name, make, change):
    """Build an event with lib's classes and dataclasses.replace() it."""
    import dataclasses

    module = importlib.import_module(f"{lib}.{module_name}")
    headers = importlib.import_module(f"{lib}.datastructures").Headers()
    event = make(module, headers)
    changed = dataclasses.replace(event, **change)
    for field, value in change.items():
        assert getattr(changed, field) == value
    assert dataclasses.replace(event) == event


@pytest.mark.parametrize(
    "entry",
    params_with_gaps(
        [(f"dataclass:{module}.{name}", (module, make, change)) for module, name, make, change in EVENT_CLASSES]
    ),
)
def test_events_support_dataclasses_replace(entry):
    """websockets' events are dataclasses: extensions and hooks use dataclasses.replace()."""
    module_name, make, change = entry
    # The check itself is right: it passes on websockets.
    replace_event("websockets", module_name, make, change)
    replace_event("websockets_fast", module_name, make, change)
