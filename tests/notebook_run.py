"""Run a notebook top to bottom in a real kernel (nbclient) and keep that kernel for more cells;
read a notebook's cells; its student version is wsbench.student's (as nbgrader's generate_assignment makes it),
and what a run of it must show (:func:`student_problems`).

The one helper behind ``test_learner_path.py`` (Run All of the student version, its hints, then
the try-it panel in the same kernel) and ``test_exercise_notebooks.py`` (wrong answers in a
kernel). Cells run with ``allow_errors=True`` so a failing cell does not stop the run: the tests
read each cell's outputs and decide. Every cell has a bounded time (``CELL_TIMEOUT``,
scaled by WSBENCH_TEST_TIMEOUT_SCALE like every bound of the suite).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
from conftest import TIMEOUT_SCALE
from nbclient import NotebookClient

from wsbench.student import BEGIN, END, strip_region, student_version

__all__ = [
    "ANSI",
    "BEGIN",
    "CELL_TIMEOUT",
    "CHECK_NAME",
    "END",
    "NOTEBOOKS",
    "REFERENCE",
    "Kernel",
    "check_cells",
    "errors",
    "nbgrader",
    "read",
    "running",
    "strip_region",
    "student_problems",
    "student_version",
    "text",
]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: The reference notebooks 01-36 (00 is the tour).
REFERENCE = sorted(path for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if not path.name.startswith("00_"))
#: Notebooks whose Run All as a learner (tests/test_learner_path.py) lives in a test file of its own:
#: 37 swarms with Locust for about a minute a run, and make test's ``--dist loadfile`` gives each
#: file one worker, so in the long files it made them the run's longest (tests/test_37_load_runs.py).
ON_THEIR_OWN = frozenset({"37_load"})
CELL_TIMEOUT = 90 * TIMEOUT_SCALE  # seconds for one cell on a busy 2-core machine
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: The name a check cell gives its check: ``check("name", ...)``.
CHECK_NAME = re.compile(r"""check\(\s*f?(["'])(.+?)\1""")


def read(path: Path) -> nbformat.NotebookNode:
    """The notebook at *path*, without its stored outputs and widget state (they are rebuilt by the run)."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def nbgrader(cell: Any) -> dict[str, Any]:
    """The cell's nbgrader metadata ({} when it has none)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def text(cell: Any) -> str:
    """Everything a code cell printed or displayed as text (streams, text/plain, error tracebacks)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") == "error":
            parts.extend(output.get("traceback", []))
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def errors(cell: Any) -> list[dict[str, Any]]:
    """The cell's error outputs (ename, evalue, traceback)."""
    return [output for output in cell.get("outputs", []) if output.get("output_type") == "error"]


def check_cells(notebook: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    """The check cells (nbgrader ``grade: true``) with their indexes."""
    return [(i, c) for i, c in enumerate(notebook.cells) if c.cell_type == "code" and nbgrader(c).get("grade")]


def student_problems(notebook: nbformat.NotebookNode) -> list[str]:
    """What is wrong with a run of a student version (solutions stripped), run past failures to the
    end: each check cell must fail with its own hint (``✗ name``, CheckFailed), never a bare NameError
    or NotImplementedError; every other cell that is not a solution must run as in the full version."""
    checks = check_cells(notebook)
    if not checks:
        return ["no check cell"]
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
    if last.execution_count is None:
        problems.append("the run did not reach the last cell")
    return problems


class Kernel:
    """The kernel a notebook ran in, still alive: run more code in it as one more cell."""

    def __init__(self, client: NotebookClient, notebook: nbformat.NotebookNode) -> None:
        self._client = client
        self.notebook = notebook  #: the notebook as it ran, outputs included

    def run(self, source: str) -> nbformat.NotebookNode:
        """Run *source* as one more code cell at the end (bounded by CELL_TIMEOUT); return that cell, with outputs."""
        cell = nbformat.v4.new_code_cell(source)
        self.notebook.cells.append(cell)  # nbclient stores the cell's outputs at its index
        self._client.execute_cell(cell, len(self.notebook.cells) - 1)
        return cell

    def run_json(self, source: str) -> Any:
        """Run *source*, which prints one JSON document as its last line, and return it decoded."""
        cell = self.run(source)
        assert not errors(cell), "\n".join(ANSI.sub("", line) for e in errors(cell) for line in e["traceback"])
        return json.loads(text(cell).strip().splitlines()[-1])


@contextmanager
def running(notebook: nbformat.NotebookNode, cwd: Path) -> Iterator[Kernel]:
    """Run every cell of *notebook* in a fresh python3 kernel started in *cwd*; yield it still running."""
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        startup_timeout=120 * TIMEOUT_SCALE,
        kernel_name="python3",
        allow_errors=True,
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.reset_execution_trackers()
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        yield Kernel(client, notebook)
