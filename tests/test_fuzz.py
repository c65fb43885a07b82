"""The differential fuzz targets of tests/fuzz/, a short pass.

Each target runs the compiled module and its twin on the same operations,
decoded from random bytes, and compares everything they do. This pass is
bounded (FUZZ_EXAMPLES inputs per target, default 200); long runs go
through ``python -m tests.fuzz`` (tests/fuzz/README.md), under the
sanitizer build with ``bash tests/sanitize.sh fuzz TARGET SECONDS``.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.targets import COMPILED, TARGETS

pytestmark = pytest.mark.skipif(COMPILED is None, reason="compiled modules not built: nothing to compare")

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_compiled_and_pure_agree(name):
    target = TARGETS[name]

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.binary(max_size=2048))
    def run(data):
        target(data)

    run()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_any_input_is_valid(name):
    # Edges of the byte decoding: empty, all zeros (every choice the first
    # one), all ones.
    for data in (b"", b"\x00" * 64, b"\xff" * 64, bytes(range(256))):
        TARGETS[name](data)
