"""The suite's parts: every name in the slow list is a real test, and the markers select what they say."""

from __future__ import annotations

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
