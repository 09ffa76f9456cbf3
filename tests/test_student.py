"""wsbench.student: the learner's copies of the notebooks (``make lab``), without the solutions,
made once and never written over."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from notebook_run import NOTEBOOKS, nbgrader

from wsbench.student import RECORD, main, write_copies

SOLUTION = "async def ex99_answer(websocket):\n    await websocket.accept()"


def _notebook(path: Path, answer: str = SOLUTION) -> None:
    """A small notebook like the real ones: prose with links, an answer cell with a region, a check cell."""
    answer_cell = nbformat.v4.new_code_cell(f"# Write ex99_answer.\n### BEGIN SOLUTION\n{answer}\n### END SOLUTION")
    answer_cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ex99-answer"}
    check_cell = nbformat.v4.new_code_cell("with check('99.1 x', bench) as ex: ...")
    check_cell.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": "ex99-check"}
    check_cell.outputs = [nbformat.v4.new_output("stream", text="✓ 99.1 x: passed\n")]
    shown = nbformat.v4.new_code_cell("print('hi')")
    shown.outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    prose = nbformat.v4.new_markdown_cell(
        "See [the data](data/x.jsonl), [01](01_scope.ipynb), [2](02_x.ipynb#Part), [web](https://a.b/c)."
    )
    nbformat.write(nbformat.v4.new_notebook(cells=[prose, shown, answer_cell, check_cell]), path)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "notebooks"
    source.mkdir()
    _notebook(source / "99_x.ipynb")
    return source, source / "student"


def test_a_copy_has_no_solution_and_no_exercise_output(folders: tuple[Path, Path]):
    """The region becomes nbgrader's stub; the exercise cells' outputs go; other outputs stay; links still lead."""
    source, target = folders
    assert write_copies(source, target)["written"] == ["99_x.ipynb"]
    copy = nbformat.read(target / "99_x.ipynb", as_version=4)  # a valid notebook, by nbformat's schema
    nbformat.validate(copy)
    prose, shown, answer, checked = copy.cells
    assert "async def ex99_answer" not in answer.source and "raise NotImplementedError()" in answer.source
    assert answer.source.startswith("# Write ex99_answer.")
    assert checked.outputs == [] and shown.outputs[0]["text"] == "hi\n"
    assert "(../data/x.jsonl)" in prose.source and "(01_scope.ipynb)" in prose.source  # the copy, beside it
    assert "(https://a.b/c)" in prose.source and "(02_x.ipynb#Part)" in prose.source


def test_the_learners_edit_stays_and_a_new_notebook_appears(folders: tuple[Path, Path]):
    """Edit a copy, make the copies again: the edit is still there; a notebook added since is copied."""
    source, target = folders
    write_copies(source, target)
    mine = target / "99_x.ipynb"
    edited = nbformat.read(mine, as_version=4)
    edited.cells[2].source = "async def ex99_answer(websocket):\n    pass  # my try"
    nbformat.write(edited, mine)
    _notebook(source / "99_x.ipynb", answer="async def ex99_answer(websocket):\n    await websocket.close()")
    _notebook(source / "98_new.ipynb")
    done = write_copies(source, target)
    assert done == {"written": ["98_new.ipynb"], "refreshed": [], "kept": ["99_x.ipynb"]}
    assert "# my try" in nbformat.read(mine, as_version=4).cells[2].source
    assert (target / "98_new.ipynb").is_file()


def test_an_untouched_copy_follows_the_full_notebook(folders: tuple[Path, Path]):
    """A copy the learner never changed is refreshed when the full notebook changes, and left alone when not."""
    source, target = folders
    write_copies(source, target)
    assert write_copies(source, target) == {"written": [], "refreshed": [], "kept": []}
    nb = nbformat.read(source / "99_x.ipynb", as_version=4)
    nb.cells[0].source = "New words."
    nbformat.write(nb, source / "99_x.ipynb")
    assert write_copies(source, target)["refreshed"] == ["99_x.ipynb"]
    assert nbformat.read(target / "99_x.ipynb", as_version=4).cells[0].source == "New words."


def test_a_copy_without_a_record_is_the_learners(folders: tuple[Path, Path]):
    """With the record gone, no copy can be told from the learner's work: all are kept."""
    source, target = folders
    write_copies(source, target)
    (target / RECORD).unlink()
    assert write_copies(source, target)["kept"] == ["99_x.ipynb"]


def test_bad_input_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """No notebooks, or a region without its end: a clear message and exit status."""
    assert main([str(tmp_path), str(tmp_path / "student")]) == 1
    assert "no notebooks" in capsys.readouterr().err
    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")])
    nbformat.write(broken, tmp_path / "broken.ipynb")
    assert main([str(tmp_path), str(tmp_path / "student")]) == 1
    assert "no END SOLUTION after BEGIN SOLUTION" in capsys.readouterr().err
    assert main([]) == 2


def test_the_real_notebooks_copy_without_a_solution(tmp_path: Path):
    """Every notebook copies; no copy holds a solution region, and every answer cell holds the stub."""
    shutil.copytree(NOTEBOOKS, tmp_path / "notebooks", ignore=shutil.ignore_patterns("student", ".ipynb_checkpoints"))
    done = write_copies(tmp_path / "notebooks", tmp_path / "notebooks" / "student")
    assert len(done["written"]) == len(list(NOTEBOOKS.glob("*.ipynb")))
    for path in sorted((tmp_path / "notebooks" / "student").glob("*.ipynb")):
        copy = json.loads(path.read_text())
        for cell in copy["cells"]:
            assert "BEGIN SOLUTION" not in cell["source"], path.name
            if nbgrader(cell).get("solution"):
                assert "raise NotImplementedError()" in cell["source"], path.name
            if nbgrader(cell):
                assert cell.get("outputs") == [], path.name
