"""Root conftest: what applies to notebooks as well as tests (nbval collects notebooks/ from here).

The test suite's own fixtures and helpers are in tests/conftest.py (imported there as
``from conftest import wait_until``: pytest's pythonpath puts tests/ first).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """nbval: leave the widgets' static HTML out of the comparison (a panel's or timeline's text/html
    shows whatever had arrived when the cell ended, and notebooks stored before it existed lack it);
    text/plain, their deterministic form, is still compared."""
    for item in items:
        parent = item.parent
        if type(parent).__name__ == "IPyNbFile" and "text/html" not in parent.skip_compare:  # type: ignore[union-attr]
            parent.skip_compare = (*parent.skip_compare, "text/html")  # type: ignore[union-attr]
