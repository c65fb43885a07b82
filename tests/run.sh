#!/usr/bin/env bash
# The test command. On a fresh machine with Python 3.9+, pip and a C compiler:
#  1. builds an sdist, then a wheel from that sdist (python -m build), and
#     checks what they hold (tests/check_dist.py: the sdist has what building
#     needs and no build output; the wheel has the compiled modules; on Linux
#     `auditwheel show` finds it consistent with a manylinux tag and needing
#     no external library); then tests/check_workflow.py checks
#     .github/workflows/wheels.yml (Python 3.11+);
#  2. installs the wheel with its test dependencies into a fresh venv;
#  3. runs the suite on the compiled backend, then the microbenchmarks once
#     each as tests (pytest bench/ --benchmark-disable), then the suite on
#     the pure-Python twins;
#  4. type checks: mypy --strict on the package and tests/typed_example.py,
#     stubtest on the compiled modules' stubs (mypy needs Python 3.10+);
#  5. installs the sdist again with no working C compiler (CC=false) and checks
#     that installation succeeds with one warning and runs on the twins;
#  6. tests/sanitize.sh: the compiled modules built with AddressSanitizer and
#     UBSan, the speedups tests and a short differential fuzz pass on them
#     (about 2 minutes; needs gcc's libasan; SKIP_SANITIZE=1 skips it).
# Last, it builds the documentation (docs/, Sphinx) with warnings as errors.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -x -k frames`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.venv}
DIST=$ROOT/build/dist

"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip build

rm -rf "$DIST" && mkdir -p "$DIST"
"$VENV/bin/python" -m build -q --outdir "$DIST" . > "$ROOT/build/build.log" 2>&1 \
    || { cat "$ROOT/build/build.log"; exit 1; }
WHEEL=$(ls "$DIST"/*.whl)
SDIST=$(ls "$DIST"/*.tar.gz)
echo "built $(basename "$SDIST") and, from it, $(basename "$WHEEL")"
# pytest-benchmark: the microbenchmarks (bench/test_micro.py), not the suite.
"$VENV/bin/python" -m pip install -q "$WHEEL[test]" pytest-benchmark auditwheel
if [ "$(uname -s)" = Linux ]; then
    "$VENV/bin/python" tests/check_dist.py --auditwheel "$SDIST" "$WHEEL"
else
    "$VENV/bin/python" tests/check_dist.py "$SDIST" "$WHEEL"
fi

# The wheels workflow cannot run here: check it against its schema and
# against [tool.cibuildwheel], with the cibuildwheel version it pins.
echo "=== wheels workflow ==="
if "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    TOOLS=$ROOT/build/venv-tools
    CIBW_VERSION=$(sed -n 's/^ *CIBUILDWHEEL_VERSION: *"\(.*\)"/\1/p' .github/workflows/wheels.yml)
    "$PYTHON" -m venv --clear "$TOOLS"
    "$TOOLS/bin/python" -m pip install -q "cibuildwheel==$CIBW_VERSION" check-jsonschema pyyaml
    "$TOOLS/bin/python" tests/check_workflow.py
else
    echo "skipped: cibuildwheel and check-jsonschema need Python 3.11+"
fi

# From tests/, so that the installed package is imported, not the source tree.
cd "$ROOT/tests"
echo "=== compiled backend ==="
WEBSOCKETS_FAST_REQUIRE_COMPILED=1 "$VENV/bin/python" -m pytest -p no:cacheprovider -q "$@"
echo "=== microbenchmarks, each run once as a test ==="
# --import-mode=append: bench/ is a package of the checkout, whose folder
# pytest would otherwise put first on sys.path, before the installed wheel.
WEBSOCKETS_FAST_REQUIRE_COMPILED=1 "$VENV/bin/python" -m pytest -p no:cacheprovider -q \
    --import-mode=append --benchmark-disable "$ROOT/bench"
echo "=== pure-Python backend ==="
WEBSOCKETS_FAST_PURE=1 "$VENV/bin/python" -m pytest -p no:cacheprovider -q "$@"

echo "=== types ==="
# mypy --strict on the source tree; then, from outside it, on the typed
# example against the installed wheel (its py.typed and .pyi), on the same
# example importing websockets instead (the drop-in check), and stubtest of
# the compiled modules' .pyi against the modules themselves.
"$VENV/bin/python" -m pip install -q "$WHEEL[typecheck]"
if "$VENV/bin/python" -c "import mypy" 2>/dev/null; then
    (cd "$ROOT" && "$VENV/bin/python" -m mypy --strict websockets_fast)
    TYPED=$ROOT/build/typed
    rm -rf "$TYPED" && mkdir -p "$TYPED"
    cp "$ROOT/tests/typed_example.py" "$TYPED/"
    (cd "$TYPED" && "$VENV/bin/python" -m mypy --strict --no-incremental typed_example.py)
    if "$VENV/bin/python" -c "import websockets" 2>/dev/null; then
        sed 's/websockets_fast/websockets/g' "$ROOT/tests/typed_example.py" > "$TYPED/typed_example_websockets.py"
        (cd "$TYPED" && "$VENV/bin/python" -m mypy --strict --no-incremental typed_example_websockets.py)
    fi
    (cd "$TYPED" && "$VENV/bin/python" -m mypy.stubtest --ignore-disjoint-bases \
        --allowlist "$ROOT/tests/stubtest_allowlist.txt" \
        websockets_fast._speedups.mask websockets_fast._speedups.utf8 websockets_fast._speedups.http \
        websockets_fast._speedups.ringbuffer websockets_fast._speedups.frames)
else
    echo "mypy needs Python 3.10+: type checks skipped"
fi

echo "=== installation without a C compiler ==="
NOCC=$ROOT/build/venv-nocc
"$PYTHON" -m venv --clear "$NOCC"
"$NOCC/bin/python" -m pip install -q --upgrade pip
CC=false CXX=false "$NOCC/bin/python" -m pip install -v --no-cache-dir "$SDIST" > "$ROOT/build/nocc.log" 2>&1 \
    || { cat "$ROOT/build/nocc.log"; exit 1; }
grep -q "installing the pure-Python implementation" "$ROOT/build/nocc.log" \
    || { echo "no fallback warning in the build log"; exit 1; }
"$NOCC/bin/python" -c "
from websockets_fast import speedups
assert speedups.BACKEND == 'pure', speedups.BACKEND
print('installed without a compiler: backend', speedups.BACKEND)
"
"$NOCC/bin/python" -m pip install -q pytest pytest-timeout hypothesis
"$NOCC/bin/python" -m pytest -p no:cacheprovider -q test_speedups_*.py

if [ "${SKIP_SANITIZE:-0}" = 0 ]; then
    echo "=== sanitizer build ==="
    PYTHON=$PYTHON bash "$ROOT/tests/sanitize.sh"
fi

echo "=== documentation ==="
"$VENV/bin/python" -m pip install -q "$WHEEL[docs]"
"$VENV/bin/python" -m sphinx -W --keep-going -q -b html "$ROOT/docs" "$ROOT/build/docs"
echo "documentation built in build/docs"
