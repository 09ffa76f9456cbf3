"""Notebook 37's Run All as a learner (tests/test_learner_path.py), in a file of its own
(notebook_run.ON_THEIR_OWN says why)."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_run import NOTEBOOKS, ON_THEIR_OWN
from test_learner_path import run_all_as_a_learner

pytestmark = pytest.mark.notebooks

PATHS = [NOTEBOOKS / f"{stem}.ipynb" for stem in sorted(ON_THEIR_OWN)]


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_run_all_of_the_student_version_gives_hints_and_a_live_panel(path: Path, tmp_path: Path):
    """As tests/test_learner_path.py does for every other notebook."""
    run_all_as_a_learner(path, tmp_path)
