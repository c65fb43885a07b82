#!/usr/bin/env bash
# Install the Autobahn|Testsuite (wstest) under compliance/.wstest/, idempotently.
#
# autobahntestsuite 25.10.1 runs on Python 2.7 only. Debian bookworm has no
# Python 2, so, when /usr/bin/python2.7 is missing, this script adds a bullseye
# apt source pinned at priority 100 (bullseye packages are then installed only
# when bookworm has none, i.e. python2.7 and its libraries) and installs
# python2.7 from it. The source reuses the URIs of the machine's own bookworm
# source, so that no mirror host name is written into the project.
#
# Then: a Python 3 venv holding virtualenv<20.22 (the last release that builds
# Python 2.7 environments), a Python 2.7 virtualenv made with it, and the
# pinned dependency set below (the sdist of autobahntestsuite declares none).
#
# Prints the path of the wstest executable as its last line. Environment:
#   WSTEST_HOME  where to install (default: compliance/.wstest next to this script)
#   PYTHON3      the Python 3 used to run virtualenv (default: python3)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WSTEST_HOME=${WSTEST_HOME:-$HERE/.wstest}
PYTHON3=${PYTHON3:-python3}
PYTHON2=/usr/bin/python2.7

AUTOBAHNTESTSUITE="autobahntestsuite==25.10.1"
# Resolved and run on this machine's kind (see issue 6). Changing this list
# changes the stamp below, which reinstalls the environment.
PINS="attrs==21.4.0 autobahn==0.10.9 Automat==22.10.0 cffi==1.15.1
constantly==15.1.0 cryptography==3.3.2 enum34==1.1.10 hyperlink==21.0.0
idna==2.10 incremental==16.10.1 ipaddress==1.0.23 Jinja2==2.11.3 klein==17.10.0
linecache2==1.0.0 MarkupSafe==1.1.1 pyasn1==0.5.1 pyasn1-modules==0.3.0
pycparser==2.21 PyHamcrest==1.10.1 pyOpenSSL==19.1.0 service-identity==18.1.0
six==1.16.0 traceback2==1.4.0 Twisted==19.10.0 txaio==2.1.0 typing==3.10.0.0
ujson==2.0.3 unittest2==1.1.0 Werkzeug==1.0.1 wsaccel==0.6.6
zope.interface==4.6.0"
STAMP_TEXT="$AUTOBAHNTESTSUITE $(echo $PINS)"

VENV2=$WSTEST_HOME/py2
WSTEST=$VENV2/bin/wstest
STAMP=$WSTEST_HOME/installed.txt

if [ -x "$WSTEST" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_TEXT" ]; then
    echo "$WSTEST"
    exit 0
fi

log() { echo "setup_wstest: $*" >&2; }

# Print the URIs of the enabled Debian source that serves the bookworm suite,
# from deb822 files (*.sources) or one-line sources.list entries.
bookworm_uris() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (is_deb && has_bookworm && uris != "") print uris
                is_deb = 0; has_bookworm = 0; uris = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]*#/ { next }
            tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") is_deb = 1 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == "bookworm") has_bookworm = 1 }
            tolower($1) == "uris:" { for (i = 2; i <= NF; i++) uris = uris " " $i }
            END { flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [options] URI bookworm components...
        awk '$1 == "deb" {
            n = 2; if ($2 ~ /^\[/) { while (n <= NF && $n !~ /\]$/) n++; n++ }
            if ($(n + 1) == "bookworm") print $n
        }' "$f"
    done
}

install_python2() {
    local uris
    uris=$(bookworm_uris | tr ' ' '\n' | grep -v '^$' | sort -u | tr '\n' ' ')
    if [ -z "$uris" ]; then
        log "no enabled Debian bookworm apt source found: cannot derive a bullseye source"
        exit 1
    fi
    log "adding a bullseye apt source (priority 100) with the bookworm URIs: $uris"
    cat > /etc/apt/sources.list.d/wstest-bullseye.sources <<EOF
# Added by websockets_fast compliance/setup_wstest.sh: Python 2.7 for wstest.
Types: deb
URIs: $uris
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat > /etc/apt/preferences.d/wstest-bullseye <<EOF
# Added by websockets_fast compliance/setup_wstest.sh: bullseye only for what bookworm lacks.
Package: *
Pin: release n=bullseye
Pin-Priority: 100
EOF
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python2.7 python2.7-dev >&2
}

mkdir -p "$WSTEST_HOME"
# The headers too: wsaccel and ujson compile against them.
if [ ! -x "$PYTHON2" ] || [ ! -f /usr/include/python2.7/Python.h ]; then
    install_python2
fi
log "using $($PYTHON2 --version 2>&1)"

INSTALL_LOG=$WSTEST_HOME/install.log
fail() { log "$1"; tail -n 40 "$INSTALL_LOG" >&2; exit 1; }
: > "$INSTALL_LOG"

TOOLS=$WSTEST_HOME/tools
if [ ! -x "$TOOLS/bin/virtualenv" ]; then
    log "installing virtualenv<20.22 into $TOOLS"
    "$PYTHON3" -m venv --clear "$TOOLS"
    "$TOOLS/bin/python" -m pip install "virtualenv<20.22" >> "$INSTALL_LOG" 2>&1 \
        || fail "installing virtualenv failed"
fi

log "creating the Python 2.7 environment $VENV2 (log: $INSTALL_LOG)"
rm -f "$STAMP"
"$TOOLS/bin/virtualenv" -q --clear -p "$PYTHON2" "$VENV2" >> "$INSTALL_LOG" 2>&1 \
    || fail "virtualenv failed"
# --no-deps: the set above is complete; resolving from scratch on Python 2.7
# picks releases that no longer install there.
# shellcheck disable=SC2086
"$VENV2/bin/pip" install --no-deps $PINS >> "$INSTALL_LOG" 2>&1 \
    || fail "installing the pinned dependencies failed"
"$VENV2/bin/pip" install --no-deps "$AUTOBAHNTESTSUITE" >> "$INSTALL_LOG" 2>&1 \
    || fail "installing $AUTOBAHNTESTSUITE failed"
"$WSTEST" --autobahnversion >> "$INSTALL_LOG" 2>&1 || fail "wstest does not start"
echo "$STAMP_TEXT" > "$STAMP"
log "installed $AUTOBAHNTESTSUITE"
echo "$WSTEST"
