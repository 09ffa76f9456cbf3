"""The code passes its own static checks: mypy on the package, ruff's lint and format on
package and tests. Run here so that CI (which runs the README's one test command) runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    """Run a checker from this environment in the project root; bounded in time."""
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_mypy_finds_no_errors_in_wsbench():
    """mypy (configured in pyproject.toml) reports no error in wsbench/."""
    done = run(str(BIN / "mypy"), "wsbench")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_lint_is_clean():
    """ruff check (the rules in pyproject.toml) passes on the package, tests and benchmarks."""
    done = run(str(BIN / "ruff"), "check", "--no-cache", "wsbench", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_clean():
    """The code is as ruff format writes it."""
    done = run(str(BIN / "ruff"), "format", "--check", "--no-cache", "wsbench", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr
