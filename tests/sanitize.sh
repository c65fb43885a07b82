#!/usr/bin/env bash
# The compiled modules under AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Builds the extensions with -fsanitize=address,undefined (gcc, through the
# CFLAGS/LDFLAGS that setup.py passes on) in a copy of the source tree under
# build/sanitize/, then runs, with the sanitizer runtime preloaded into an
# uninstrumented Python:
#   1. the speedups tests (tests/test_speedups_*.py) on the compiled backend;
#   2. the differential fuzz targets (tests/fuzz/), a short pass each.
# Any sanitizer report aborts the run and fails the script.
#
#   bash tests/sanitize.sh                    # what tests/run.sh runs (about 2 minutes)
#   bash tests/sanitize.sh fuzz frames 600    # one target for 600 s (see tests/fuzz/README.md)
#   bash tests/sanitize.sh fuzz all 600       # each target in turn, 600 s each
#
# PYTHON (default python3) makes the venv build/sanitize/venv; SANITIZE_VENV
# names an existing venv to use instead (it needs Cython, setuptools, pytest,
# pytest-timeout and hypothesis; atheris is used when present).
# SANITIZE_DIR (default build/sanitize) is where the copy is built: a long
# run in one directory goes on while another builds elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
WORK=${SANITIZE_DIR:-$ROOT/build/sanitize}
SRC=$WORK/src

CC=${CC:-gcc}
LIBASAN=$("$CC" -print-file-name=libasan.so)
LIBUBSAN=$("$CC" -print-file-name=libubsan.so)
# -print-file-name echoes the bare name when it finds nothing.
if [ "$LIBASAN" = libasan.so ] || [ ! -e "$LIBASAN" ]; then
    echo "sanitize: $CC has no libasan (on Debian: apt-get install gcc, which brings libasan8)" >&2
    exit 1
fi

if [ -n "${SANITIZE_VENV:-}" ]; then
    VENV=$SANITIZE_VENV
else
    VENV=$WORK/venv
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q "Cython>=3.0.10" setuptools pytest pytest-timeout "hypothesis>=6.80"
        # Optional: the long fuzz runs use it where it installs.
        "$VENV/bin/python" -m pip install -q atheris 2>/dev/null || echo "sanitize: atheris did not install; fuzzing with hypothesis"
    fi
fi

# A copy, so that the instrumented modules never land in the source tree.
rm -rf "$SRC" && mkdir -p "$SRC"
tar -C "$ROOT" -cf - --exclude=./build --exclude=./.venv --exclude='./.venv-*' --exclude=.git \
    --exclude='*.so' --exclude='_speedups/*.c' --exclude=__pycache__ --exclude=.hypothesis . | tar -C "$SRC" -xf -
(
    cd "$SRC"
    # setup.py as it is: its -O3 is kept, which ASan handles.
    CC=$CC CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g" \
        LDFLAGS="-fsanitize=address,undefined" \
        "$VENV/bin/python" setup.py -q build_ext --inplace > "$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log"; exit 1; }
)
built=$(ls "$SRC"/websockets_fast/_speedups/*.so | wc -l)
# The .pyx modules and the modules compiled from .py files (setup.py's
# SINGLE_SOURCE, read as tests/check_dist.py reads it).
expected=$(( $(ls "$SRC"/_speedups/*.pyx | wc -l) + $(cd "$SRC/tests" && "$VENV/bin/python" -c 'from check_dist import single_source_modules; print(len(single_source_modules()))') ))
if [ "$built" -ne "$expected" ]; then
    cat "$WORK/build.log"
    echo "sanitize: $built of $expected compiled modules built" >&2
    exit 1
fi
if ! grep -q "fsanitize=address" "$WORK/build.log" && ! nm -D "$(ls "$SRC"/websockets_fast/_speedups/frames*.so)" | grep -q __asan_; then
    echo "sanitize: the modules were built without AddressSanitizer" >&2
    exit 1
fi

# The runtime first, as ASan requires; CPython's own "leaks" at exit are not
# ours to report. PYTHONMALLOC=malloc puts every Python object and list on
# the instrumented heap (pymalloc arenas would hide an overflow).
export LD_PRELOAD="$LIBASAN $LIBUBSAN"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONMALLOC=malloc
export WEBSOCKETS_FAST_REQUIRE_COMPILED=1
export PYTHONPATH=$SRC
cd "$SRC"

if [ "${1:-}" = fuzz ]; then
    shift
    exec "$VENV/bin/python" -m tests.fuzz "$@"
fi

echo "=== sanitizer build: speedups tests ==="
"$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/test_speedups_*.py
echo "=== sanitizer build: differential fuzz, short pass ==="
# hypothesis here: atheris spends a minute instrumenting before its first input.
"$VENV/bin/python" -m tests.fuzz all "${FUZZ_SECONDS:-5}" --engine hypothesis
