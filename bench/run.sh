#!/usr/bin/env bash
# Set up the benchmark environment and run the suite.
#
#   bash bench/run.sh            # the short suite (1-3 minutes), prints the table
#   bash bench/run.sh --full     # everything (about 15 minutes on 2 cores)
#
# Creates .venv-bench (once), installs websockets_fast from this checkout with
# its peers (the "bench" extra: websockets, picows, aiohttp, uvloop, matplotlib,
# psutil) at their latest releases, then runs `python -m bench`. Arguments go
# to `python -m bench` (see `python -m bench --help`). Results land in
# bench/results/.
#
# Then, when valgrind is there (or can be installed with apt-get as root), it
# runs `python -m bench instructions` (about 5 minutes; `--full` is passed on):
# instructions per message, which the machine's load does not move.
# BENCH_INSTRUCTIONS=0 skips it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
VENV=${BENCH_VENV:-$ROOT/.venv-bench}

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
fi
# Reinstalled every time, so that the code measured is the code checked out.
echo "installing websockets_fast from $ROOT with the bench extra (compiles the speedups)"
"$VENV/bin/python" -m pip install -q --upgrade --upgrade-strategy eager "$ROOT[bench]"

# bench/ itself is not installed: a .pth file puts the checkout at the END of
# sys.path, so `import bench` finds it while `import websockets_fast` finds
# the installed (compiled) package, not the source tree.
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$ROOT" > "$SITE/websockets_fast_bench.pth"

FULL=
for arg in "$@"; do
    if [ "$arg" = --full ]; then
        FULL=--full
    fi
done
if [ $# -eq 0 ]; then
    set -- --quick
fi
# Run from outside the checkout for the same reason as the .pth file.
cd "$VENV"
# Help, or another command than the suite: that alone.
case " $* " in
    *" -h "* | *" --help "* | *" micro "* | *" instructions "*) exec "$VENV/bin/python" -m bench "$@" ;;
esac
"$VENV/bin/python" -m bench "$@"

if [ "${BENCH_INSTRUCTIONS:-1}" = 0 ]; then
    exit 0
fi
if ! command -v valgrind >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing valgrind (apt-get) for the instruction counts"
    # A fresh container has no package lists yet: update once, then retry.
    apt-get install -y -qq valgrind >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq valgrind >/dev/null 2>&1; } \
        || true
fi
if ! command -v valgrind >/dev/null 2>&1; then
    echo "instruction counts skipped: valgrind is not installed (python -m bench instructions needs it)"
    exit 0
fi
echo
# $FULL unquoted on purpose: empty, it is no argument at all.
exec "$VENV/bin/python" -m bench instructions $FULL
