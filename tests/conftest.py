"""Shared pytest configuration.

The whole suite runs once per backend: compiled hot paths by default, their
pure-Python twins with ``WEBSOCKETS_FAST_PURE=1``. The report header says
which one this run tested, and ``WEBSOCKETS_FAST_REQUIRE_COMPILED=1`` turns a
silent fallback to the twins into an import error.
"""

import asyncio
import os
import re

import pytest

from websockets_fast import speedups

try:
    import websockets  # noqa: F401 (the interop peer)

    HAVE_PEER = True
except ImportError:
    HAVE_PEER = False

# The interop peer, websockets 17, needs Python 3.11+. Where it can't be
# installed, the test modules that import it are not collected (rather than
# failing to import), which the report header says.
requires_peer = pytest.mark.skipif(not HAVE_PEER, reason="websockets (the interop peer, Python 3.11+) not installed")
_PEER_IMPORT = re.compile(r"^(import|from) websockets\b", re.MULTILINE)


def pytest_ignore_collect(collection_path, config):
    if HAVE_PEER or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    if _PEER_IMPORT.search(collection_path.read_text(encoding="utf-8")):
        return True
    return None


def pytest_report_header(config):
    lines = [f"websockets_fast backend: {speedups.BACKEND}"]
    if not HAVE_PEER:
        lines.append("websockets (the interop peer) not installed: modules that import it are not collected")
    return lines


def subprocess_env():
    """The environment for a Python subprocess that must import the same
    websockets_fast as the tests: the installed wheel under tests/run.sh,
    the checkout in development (whose source tree has no compiled speedups
    after a clean checkout)."""
    import websockets_fast

    where = os.path.dirname(os.path.dirname(os.path.abspath(websockets_fast.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([where] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def pytest_configure(config):
    if os.environ.get("WEBSOCKETS_FAST_REQUIRE_COMPILED", "") not in ("", "0"):
        if not os.environ.get("WEBSOCKETS_FAST_PURE") and speedups.BACKEND != "compiled":
            raise pytest.UsageError("compiled backend required but not importable")


# Every asyncio test is bounded in time: a hang is a failure, not a stuck CI.
ASYNC_TEST_TIMEOUT = float(os.environ.get("WEBSOCKETS_FAST_TEST_TIMEOUT", "30"))


def run(coro, timeout=ASYNC_TEST_TIMEOUT, loop_factory=None):
    """Run a coroutine to completion on a fresh event loop, within a timeout."""

    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    if loop_factory is None:
        return asyncio.run(bounded())
    loop = loop_factory()
    try:
        return loop.run_until_complete(bounded())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
