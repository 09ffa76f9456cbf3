"""Exercises in every reference notebook (01-36) and the tour, both ways: as committed and as students get them.

The committed notebooks hold the solutions (nbval runs them and compares the "✓ … passed"
lines). A teacher's student version is what nbgrader's ``generate_assignment`` makes: each
solution region, from the ``### BEGIN SOLUTION`` line to the ``### END SOLUTION`` line, is
replaced by ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (indented like the BEGIN
line), and a solution cell without a region becomes that stub entirely. :func:`student_version`
(in notebook_run) does exactly that (nbgrader 0.9's ``ClearSolutions._replace_solution_region``, re-stated so
the suite does not depend on nbgrader, whose JupyterLab extensions would change the lab the
browser test drives). Run top to bottom, the student version must fail in every check cell
with the check's own hint (``✗ name: …``), never a NameError or NotImplementedError
traceback, and still reach the last cell.

One test per notebook, so pytest-xdist can spread them (``--dist load``); under ``make
test``'s ``--dist loadfile`` this file runs on one worker beside the others.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from notebook_run import (
    BEGIN,
    END,
    NOTEBOOKS,
    REFERENCE,
    errors,
    nbgrader,
    read,
    running,
    strip_region,
    student_version,
    text,
)

pytestmark = pytest.mark.notebooks

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHECK_NAME = re.compile(r"""check\(\s*f?(["'])(.+?)\1""")

#: The reference notebooks, and the tour's exercise that shows learners how exercises work.
WITH_EXERCISES = [NOTEBOOKS / "00_start_here.ipynb", *REFERENCE]
ids = [path.stem for path in WITH_EXERCISES]


def _check_cells(notebook: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    return [(i, c) for i, c in enumerate(notebook.cells) if c.cell_type == "code" and nbgrader(c).get("grade")]


def test_student_version_replaces_regions_as_nbgrader_does():
    """A region becomes the two-line stub, indented like its BEGIN line; the lines around it stay."""
    source = "# write it\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\nx = 2"
    assert strip_region(source) == (
        "# write it\ndef f():\n    # YOUR CODE HERE\n    raise NotImplementedError()\nx = 2",
        True,
    )
    assert strip_region("a = 1") == ("a = 1", False)


def test_student_version_matches_nbgraders_own_clear_solutions():
    """Where nbgrader is installed, its ClearSolutions gives the same student version of every notebook."""
    preprocessors = pytest.importorskip("nbgrader.preprocessors")
    for path in WITH_EXERCISES:
        ours = student_version(read(path))
        theirs, _ = preprocessors.ClearSolutions().preprocess(read(path), {})
        assert [c.source for c in ours.cells] == [c.source for c in theirs.cells], path.name


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=ids)
def test_exercises_follow_nbgraders_conventions(path: Path):
    """At least one solution cell with a delimited region and one locked check cell with points and a grade_id."""
    notebook = nbformat.read(path, as_version=4)
    solutions = [c for c in notebook.cells if nbgrader(c).get("solution")]
    checks = [c for _, c in _check_cells(notebook)]
    assert any(BEGIN in c.source and END in c.source for c in solutions), f"{path.name}: no solution region"
    assert checks, f"{path.name}: no check cell (nbgrader grade: true)"
    for cell in notebook.cells:
        meta = nbgrader(cell)
        if BEGIN in cell.source:  # nbgrader refuses a region outside a solution cell
            assert meta.get("solution") is True, f"{path.name}: a solution region in a cell without solution: true"
        if meta:
            assert meta.get("grade_id") and meta.get("schema_version") == 3, f"{path.name}: {meta}"
    for cell in checks:
        meta = nbgrader(cell)
        assert meta["locked"] is True and meta["solution"] is False and meta["points"] > 0, f"{path.name}: {meta}"
        assert "check(" in cell.source, f"{path.name}: check cell {meta['grade_id']} does not call check()"
    grade_ids = [nbgrader(c)["grade_id"] for c in notebook.cells if nbgrader(c)]
    assert len(grade_ids) == len(set(grade_ids)), f"{path.name}: repeated grade_id in {grade_ids}"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=ids)
def test_student_version_fails_every_check_with_its_hint(path: Path, tmp_path: Path):
    """With the solutions stripped, each check cell shows ✗ and its hint; other cells run as before, to the end."""
    notebook = student_version(read(path))
    with running(notebook, tmp_path):
        pass
    checks = _check_cells(notebook)
    assert checks, f"{path.name}: no check cell"
    problems = []
    for index, cell in checks:
        shown = ANSI.sub("", text(cell))
        names = [e["ename"] for e in errors(cell)]
        match = CHECK_NAME.search(cell.source)
        name = match.group(2) if match else ""
        if names != ["CheckFailed"] or f"✗ {name}" not in shown:
            problems.append(f"check cell {index} ({nbgrader(cell)['grade_id']}) raised {names}:\n{shown[-800:]}")
        if "NameError" in shown or ("NotImplementedError" in shown and "still raises NotImplementedError" not in shown):
            problems.append(f"check cell {index} shows a bare NameError/NotImplementedError:\n{shown[-800:]}")
    check_indexes = {index for index, _ in checks}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or index in check_indexes or nbgrader(cell).get("solution"):
            continue
        if errors(cell) and "NBVAL_RAISES_EXCEPTION" not in cell.source:
            problems.append(f"cell {index} fails in the student version:\n{ANSI.sub('', text(cell))[-800:]}")
    last = next(c for c in reversed(notebook.cells) if c.cell_type == "code")
    assert last.execution_count is not None, f"{path.name}: the run did not reach the last cell"
    assert not problems, f"{path.name}:\n" + "\n\n".join(problems)
