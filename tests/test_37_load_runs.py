"""Notebook 37's whole runs: Run All with the try-it panel (tests/test_learner_path.py) and the
student version's hints (tests/test_exercise_notebooks.py), the same tests in a file of their own
(notebook_run.ON_THEIR_OWN says why)."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_exercise_notebooks
import test_learner_path
from notebook_run import NOTEBOOKS, ON_THEIR_OWN

pytestmark = pytest.mark.notebooks

PATHS = [NOTEBOOKS / f"{stem}.ipynb" for stem in sorted(ON_THEIR_OWN)]


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_try_it_panel_works_after_run_all(path: Path, tmp_path: Path):
    """As tests/test_learner_path.py does for every other notebook."""
    test_learner_path.test_try_it_panel_works_after_run_all(path, tmp_path)


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_student_version_fails_every_check_with_its_hint(path: Path, tmp_path: Path):
    """As tests/test_exercise_notebooks.py does for every other notebook."""
    test_exercise_notebooks.test_student_version_fails_every_check_with_its_hint(path, tmp_path)
