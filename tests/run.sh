#!/usr/bin/env bash
# Sets up a fresh virtual environment, installs websockets_fast with its test
# dependencies (compiling the speedups), and runs the test suite twice: once
# on the compiled backend, once on the pure-Python twins.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q ".[test]"
# Run from tests/ against the installed package, not the source tree.
cd tests
echo "=== compiled backend ==="
WEBSOCKETS_FAST_REQUIRE_COMPILED=1 "../$VENV/bin/python" -m pytest -p no:cacheprovider -q "$@"
echo "=== pure-Python backend ==="
WEBSOCKETS_FAST_PURE=1 "../$VENV/bin/python" -m pytest -p no:cacheprovider -q "$@"
