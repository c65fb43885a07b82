"""Shared pytest configuration.

The whole suite runs once per backend: compiled hot paths by default, their
pure-Python twins with ``WEBSOCKETS_FAST_PURE=1``. The report header says
which one this run tested, and ``WEBSOCKETS_FAST_REQUIRE_COMPILED=1`` turns a
silent fallback to the twins into an import error.
"""

import asyncio
import os

import pytest

from websockets_fast import speedups


def pytest_report_header(config):
    return f"websockets_fast backend: {speedups.BACKEND}"


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
