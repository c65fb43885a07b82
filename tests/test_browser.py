"""
A real browser (headless Chromium) against our asyncio and threading servers,
with and without permessage-deflate. See tests/browser/README.md.

Optional: skipped when no Chromium is installed (CI installs none). Each
server and compression setting runs the page once; the tests share that run.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser"))

import run_browser_check  # noqa: E402

CHROMIUM = run_browser_check.find_chromium()

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless Chromium: install the chromium package, or set CHROMIUM to its path",
)

SETTINGS = [
    ("asyncio", "deflate"),
    ("asyncio", None),
    ("sync", "deflate"),
    ("sync", None),
]


@pytest.fixture(scope="module")
def outcomes():
    """Run the page once per setting, on demand; keep the report or the failure."""
    cache = {}

    def outcome(server, compression):
        key = (server, compression)
        if key not in cache:
            try:
                cache[key] = run_browser_check.run_check(server, compression, CHROMIUM)
            except run_browser_check.CheckFailed as exc:
                cache[key] = exc
        return cache[key]

    return outcome


def setting_id(setting):
    server, compression = setting
    return f"{server}-{compression or 'uncompressed'}"


@pytest.mark.parametrize("setting", SETTINGS, ids=setting_id)
def test_browser(outcomes, setting):
    """Every message echoes intact; closes carry their codes and reasons;
    permessage-deflate is negotiated exactly when compression is on."""
    server, compression = setting
    report = outcomes(server, compression)
    if isinstance(report, Exception):
        pytest.fail(str(report), pytrace=False)
    assert report["failures"] == []
    extensions = report["sockets"]["echo"]["extensions"]
    if compression == "deflate":
        assert extensions.startswith("permessage-deflate")
    else:
        assert extensions == ""


@pytest.mark.parametrize("setting", SETTINGS, ids=setting_id)
def test_browser_incompressible_message_under_max_size(outcomes, setting):
    """A random 1 MiB - 100 B message is within max_size and must echo, even
    though Chromium's compressed frames for it add up to more than 1 MiB."""
    server, compression = setting
    report = outcomes(server, compression)
    if isinstance(report, Exception):
        pytest.skip("the browser run failed; see test_browser")
    incompressible = report.get("incompressible", {})
    assert incompressible.get("ok"), incompressible.get("detail")
