"""Exercises in every reference notebook (01-36) and the tour, both ways: as committed and as students get them.

The committed notebooks hold the solutions (nbval runs them and compares the "✓ … passed"
lines). A teacher's student version is what nbgrader's ``generate_assignment`` makes: each
solution region, from the ``### BEGIN SOLUTION`` line to the ``### END SOLUTION`` line, is
replaced by ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (indented like the BEGIN
line), and a solution cell without a region becomes that stub entirely. :func:`student_version`
(``wsbench.student``, which ``make lab`` uses for the learner's copies) does exactly that (nbgrader
0.9's ``ClearSolutions._replace_solution_region``, re-stated so that neither wsbench nor the suite
depends on nbgrader, whose JupyterLab extensions would change the lab the browser test drives). The
full version shows ``✓`` in every check cell. A prediction check compares with the live bench through
``ex.predicted`` and spells no predicted value; and the wrong answers learners gave (issue 20) get,
in a real kernel, the hint for their mistake. The student version's Run All (each check fails with
its own hint, then the try-it panel) is tests/test_learner_path.py: one kernel run per notebook.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from notebook_run import (
    ANSI,
    BEGIN,
    CHECK_NAME,
    END,
    NOTEBOOKS,
    REFERENCE,
    check_cells,
    errors,
    nbgrader,
    read,
    running,
    strip_region,
    student_version,
    text,
)

from wsbench.predictions import WHY

pytestmark = pytest.mark.notebooks


#: The reference notebooks, and the tour's exercise that shows learners how exercises work.
WITH_EXERCISES = [NOTEBOOKS / "00_start_here.ipynb", *REFERENCE]
ids = [path.stem for path in WITH_EXERCISES]


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
    checks = [c for _, c in check_cells(notebook)]
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
def test_the_full_version_passes_every_check(path: Path):
    """The committed notebook (its outputs are what a run gives: nbval compares them) shows ✓ for every check."""
    notebook = nbformat.read(path, as_version=4)
    for index, cell in check_cells(notebook):
        match = CHECK_NAME.search(cell.source)
        assert match, f"{path.name}: check cell {index} names no check"
        assert f"✓ {match.group(2)}: passed" in text(cell), (
            f"{path.name}: check cell {index} did not pass:\n{text(cell)}"
        )


def _predictions(notebook: nbformat.NotebookNode) -> list[tuple[dict[str, object], str]]:
    """Each prediction exercise: the values its solution assigns (literals only), and its check cell's source."""
    found = []
    cells = notebook.cells
    for i, cell in enumerate(cells):
        if not nbgrader(cell).get("solution") or BEGIN not in cell.source:
            continue
        region = cell.source.split(BEGIN, 1)[1].split("\n", 1)[1].split(END, 1)[0].rsplit("\n", 1)[0]
        try:
            statements = ast.parse(textwrap.dedent(region)).body
            values = {
                target.id: ast.literal_eval(statement.value)
                for statement in statements
                if isinstance(statement, ast.Assign)
                for target in statement.targets
                if isinstance(target, ast.Name)
            }
        except (SyntaxError, ValueError):
            continue
        if values and len(values) == len(statements):
            check_cell = next(c for c in cells[i + 1 :] if nbgrader(c).get("grade"))
            found.append((values, check_cell.source))
    return found


def _messages(source: str) -> list[str]:
    """The text a check cell writes in its messages: the str parts of ex.expect / ex.equal / ex.predicted
    calls and of print (not the case it sets up, which may hold the same value on purpose)."""
    texts = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("ex.expect", "ex.equal", "ex.predicted", "print"):
                texts += [c.value for arg in node.args for c in ast.walk(arg) if isinstance(c, ast.Constant)]
    return [text for text in texts if isinstance(text, str)]


def _gives_away(value: object, messages: list[str], source: str) -> bool:
    """Whether a check's messages spell *value*: a number or a str in a message, a container's repr anywhere."""
    if isinstance(value, bool):
        return False  # True/False: a message cannot avoid the words
    if isinstance(value, (int, float)):
        return any(re.search(rf"(?<![\d.]){re.escape(str(value))}(?!\d|\.\d)", text) for text in messages)
    if isinstance(value, str):
        return any(value in text for text in messages)
    return repr(value) in source


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=ids)
def test_a_prediction_check_does_not_spell_the_answer(path: Path):
    """Each predicted name is compared by ex.predicted (live value, explanation kept in wsbench.predictions),
    and no message in the check cell holds the predicted value."""
    for values, source in _predictions(nbformat.read(path, as_version=4)):
        messages = _messages(source)
        for name, value in values.items():
            assert f'ex.predicted("{name}"' in source, f"{path.name}: {name} is not checked with ex.predicted"
            assert name in WHY, f"{path.name}: no explanation for {name} in wsbench.predictions"
            assert not _gives_away(value, messages, source), f"{path.name}: the check of {name} spells {value!r}"


NO_LOOP = """async def ex00_1_shout(websocket: WebSocket):
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(text.upper())"""

NO_DISCARD = """ex29_1_members = set()

async def ex29_1_room(websocket: WebSocket):
    ex29_1_members.add(websocket)
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            for other in ex29_1_members - {websocket}:
                await other.send_text(text)
    except WebSocketDisconnect as exc:
        for other in ex29_1_members:
            await other.send_text(f"left: {exc.code} {exc.reason}")"""

#: Wrong answers as learners wrote them (issue 20), and the hint each one's check must give.
WRONG_ANSWERS = [
    ("00_start_here", "ex00-1-answer", NO_LOOP, r"returned \(its function ended\) after reading 1 message.*in a loop"),
    (
        "21_iter_text",
        "ex21-1-answer",
        "predicted_21_code = '4002'\npredicted_21_raises = False",
        r"'4002', a str.*quotes",
    ),
    ("29_websocket_disconnect", "ex29-1-answer", NO_DISCARD, r"'left: 4001 lunch' to ada herself.*\.discard\("),
    (
        "01_scope",
        "ex01-2-answer",
        "from unittest.mock import ANY\npredicted_query_string = ANY",
        "claims to equal anything",
    ),
]


@pytest.mark.parametrize(("name", "answer_id", "answer", "hint"), WRONG_ANSWERS, ids=[w[0] for w in WRONG_ANSWERS])
def test_a_wrong_answer_gets_the_hint_for_its_mistake(
    name: str, answer_id: str, answer: str, hint: str, tmp_path: Path
):
    """The notebook, run in a real kernel up to the check with the wrong answer in place: ✗ and that hint."""
    notebook = read(NOTEBOOKS / f"{name}.ipynb")
    index = next(i for i, c in enumerate(notebook.cells) if nbgrader(c).get("grade_id") == answer_id)
    notebook.cells[index].source = answer
    check_index = next(i for i in range(index + 1, len(notebook.cells)) if nbgrader(notebook.cells[i]).get("grade"))
    notebook.cells = notebook.cells[: check_index + 1]
    with running(notebook, tmp_path):
        pass
    shown = ANSI.sub("", text(notebook.cells[check_index]))
    assert [e["ename"] for e in errors(notebook.cells[check_index])] == ["CheckFailed"], shown
    assert re.search(hint, shown), shown
