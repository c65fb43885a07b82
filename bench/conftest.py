"""pytest configuration of the microbenchmarks (bench/test_micro.py).

The compiled modules are compared with their pure-Python twins. Where they
are not built, the compiled rows skip; with
``WEBSOCKETS_FAST_REQUIRE_COMPILED=1`` the run stops instead, as the test
suite does, so that a broken build cannot pass as a run of the twins alone.
"""

import importlib
import os

import pytest

COMPILED = ("mask", "utf8", "frames", "http", "ringbuffer")


def _missing_compiled():
    missing = []
    for name in COMPILED:
        try:
            importlib.import_module(f"websockets_fast._speedups.{name}")
        except ImportError:
            missing.append(name)
    return missing


def pytest_configure(config):
    if os.environ.get("WEBSOCKETS_FAST_REQUIRE_COMPILED", "") not in ("", "0"):
        missing = _missing_compiled()
        if missing:
            raise pytest.UsageError(f"compiled modules required but not importable: {', '.join(missing)}")


def pytest_report_header(config):
    import websockets_fast

    where = os.path.dirname(os.path.abspath(websockets_fast.__file__))
    missing = _missing_compiled()
    state = f"compiled modules missing: {', '.join(missing)}" if missing else "compiled modules built"
    return [f"websockets_fast from {where}: {state}"]
