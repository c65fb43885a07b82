"""Run tests/typed_example.py: the program that mypy checks must also work."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import typed_example  # noqa: E402


def test_typed_example_runs():
    assert typed_example.main() == [
        "hello",
        "broadcast: 'hello'",
        b"\x00\x01",
        "broadcast: b'\\x00\\x01'",
        "authenticated",
        "hello, threads",
    ]
