"""The suite's parts: every name in the slow list is a real test, and the markers select what they say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import SLOW

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(SLOW))
def test_slow_list_names_real_tests(name: str) -> None:
    """A slow test that was renamed or removed must leave the list too (else make check grows slow)."""
    path, _, function = name.partition("::")
    assert (ROOT / path).is_file(), f"{path} does not exist"
    if function:
        assert f"\ndef {function}(" in (ROOT / path).read_text(), f"{name}: no such test"


def test_longest_first_names_real_files() -> None:
    """The root conftest's run order names files that exist (a renamed one would silently go back
    to its place in the alphabet, and could again start last)."""
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    missing = [path for path in root.LONGEST_FIRST if not (ROOT / path).is_file()]
    assert not missing and len(set(root.LONGEST_FIRST)) == len(root.LONGEST_FIRST), missing
