# -*- coding: utf-8 -*-
"""Start wstest with every listening socket bound to 127.0.0.1. (Python 2.7)

wstest's fuzzing server listens on all interfaces and offers no option to
choose one; this wrapper makes the Twisted reactor bind 127.0.0.1 unless an
interface is given, then runs wstest with the same command line.

    python2.7 wstest_loopback.py -m fuzzingserver -s spec.json --webport 0
    python2.7 wstest_loopback.py --list-cases spec.json

``--list-cases`` prints the case ids a spec selects, one a line, in the order
wstest runs them, so that run.py can check that a report is complete.
"""

import json
import sys

# wstest imports this first to install the fastest reactor; so do we, before
# anything imports twisted.internet.reactor.
from autobahntestsuite import choosereactor  # noqa: F401
from twisted.internet import reactor

_listen_tcp = reactor.listenTCP


def listen_loopback(port, factory, backlog=50, interface=""):
    return _listen_tcp(port, factory, backlog, interface or "127.0.0.1")


def list_cases(spec_path):
    from autobahntestsuite.case import (
        CaseBasename,
        CaseCategories,
        Cases,
        CaseSetname,
        CaseSubCategories,
    )
    from autobahntestsuite.caseset import CaseSet

    with open(spec_path) as spec_file:
        spec = json.load(spec_file)
    case_set = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)
    for case_id in case_set.parseSpecCases(spec):
        print(case_id)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--list-cases":
        list_cases(sys.argv[2])
        return 0
    reactor.listenTCP = listen_loopback
    from autobahntestsuite.wstest import run

    sys.argv[0] = "wstest"
    return run()


if __name__ == "__main__":
    sys.exit(main())
