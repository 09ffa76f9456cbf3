"""Every member of FastAPI's WebSocket reference has its own notebook, stored with outputs.

nbval runs and compares the notebooks themselves (``make test``); this module checks
that the set is complete, so coverage cannot silently rot when FastAPI adds a member.
"""

import json
import re
from pathlib import Path

import fastapi.websockets
import pytest
from fastapi import WebSocket

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

#: Public members that live on instances only (set in __init__), so dir(WebSocket) misses them.
INSTANCE_MEMBERS = {"scope", "client_state", "application_state"}

#: Members taught inside another member's notebook, and where.
TAUGHT_IN = {
    "get": "scope",  # HTTPConnection is a Mapping over the scope
    "items": "scope",
    "keys": "scope",
    "values": "scope",
    "auth": "auth_user_session",
    "user": "auth_user_session",
    "session": "auth_user_session",
}

#: The other entries of the reference page, and the topics the issue asks for.
TOPICS = [
    "websocket_disconnect",
    "websocket_state",
    "status_codes",
    "websocket_exception",
    "dependencies",
    "send_denial_response",
    "testclient_vs_uvicorn",
    "nest_asyncio",
    "browser_client",
]


def _members() -> set[str]:
    return {name for name in dir(WebSocket) if not name.startswith("_")} | INSTANCE_MEMBERS


def _notebook_names() -> dict[str, Path]:
    found = {}
    for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"):
        found[re.sub(r"^\d\d_", "", path.stem)] = path
    return found


@pytest.mark.parametrize("member", sorted(_members()))
def test_every_websocket_member_has_a_notebook(member):
    """Each public member of fastapi.WebSocket is taught in a numbered notebook."""
    name = TAUGHT_IN.get(member, member)
    assert name in _notebook_names(), f"no notebooks/NN_{name}.ipynb for WebSocket.{member}"


@pytest.mark.parametrize("topic", TOPICS)
def test_every_reference_entry_and_topic_has_a_notebook(topic):
    """WebSocketDisconnect, WebSocketState, the status codes and the topic notebooks exist."""
    assert topic in _notebook_names(), f"no notebooks/NN_{topic}.ipynb"


def test_the_reference_module_has_no_entry_we_do_not_know():
    """fastapi.websockets exports only the three names the notebooks cover."""
    exported = {name for name in dir(fastapi.websockets) if not name.startswith("_")}
    assert exported == {"WebSocket", "WebSocketDisconnect", "WebSocketState"}


def test_notebook_numbers_are_unique_and_consecutive():
    """Notebooks are numbered 00, 01, 02 ... in lifecycle order, with no gap or duplicate."""
    numbers = sorted(int(path.name[:2]) for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert numbers == list(range(len(numbers)))


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_is_stored_with_outputs(path):
    """Every code cell has been run and kept its outputs: nbval compares against them."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    assert cells and all(c["execution_count"] is not None for c in cells), f"{path.name} stored without outputs"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_notebook_is_linked_from_the_readme_and_the_tour(path):
    """README.md and 00_start_here.ipynb both link every numbered notebook."""
    readme = (NOTEBOOKS.parent / "README.md").read_text()
    tour = (NOTEBOOKS / "00_start_here.ipynb").read_text()
    assert path.name in readme
    assert path.name in tour or path.name == "00_start_here.ipynb"


REFERENCE = sorted(path for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if not path.name.startswith("00_"))
#: Notebooks for learners beside the numbered ones, linked from README and the tour.
COMPANIONS = ["cheat_sheet.ipynb", "glossary.ipynb", "widgets_demo.ipynb", "exploratory_testing.ipynb"]


def _cells(path: Path, kind: str) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def _anchor(heading: str) -> str:
    """The id JupyterLab and nbconvert/nbviewer give a heading: its text with spaces as '-'."""
    return heading.strip().replace(" ", "-")


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: p.name)
def test_notebook_does_not_end_by_stopping_the_bench(path):
    """The last code cell leaves `bench` running, so the try-it panel still works after Run All."""
    last = _cells(path, "code")[-1]
    assert not re.search(r"\bbench\.stop\(\)", last), f"{path.name} ends with bench.stop()"


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: p.name)
def test_notebook_has_no_versions_cell_of_its_own(path):
    """Versions are shown once, in 00_start_here; the reference notebooks do not repeat them."""
    assert not any(re.match(r"#+ Versions\s*$", md, re.M) for md in _cells(path, "markdown")), path.name
    assert not any("websockets.__version__" in src for src in _cells(path, "code")), path.name


@pytest.mark.parametrize("name", COMPANIONS)
def test_companion_notebook_is_linked_from_the_readme_and_the_tour(name):
    """The cheat sheet, the glossary and the other companions are in README.md and the tour."""
    assert (NOTEBOOKS / name).exists()
    assert f"notebooks/{name}" in (NOTEBOOKS.parent / "README.md").read_text()
    assert f"({name}" in (NOTEBOOKS / "00_start_here.ipynb").read_text()


def test_tour_first_screen_speaks_to_learners():
    """00's first cell says what learners will learn and do, and nothing about pytest or nbval."""
    first = _cells(NOTEBOOKS / "00_start_here.ipynb", "markdown")[0]
    assert "learn" in first and "nbval" not in first and "pytest" not in first


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_links_into_the_tour_point_at_its_headings(path):
    """Every `00_start_here.ipynb#Anchor` link (e.g. why `seen` is a plain dict) names a heading of 00."""
    headings = {
        _anchor(line.lstrip("#"))
        for md in _cells(NOTEBOOKS / "00_start_here.ipynb", "markdown")
        for line in md.splitlines()
        if line.startswith("#")
    }
    assert "Reading-what-the-endpoint-saw" in headings
    text = "\n".join(_cells(path, "markdown"))
    for anchor in re.findall(r"00_start_here\.ipynb#([^)\s]+)", text):
        assert anchor in headings, f"{path.name} links to 00_start_here.ipynb#{anchor}, which is no heading there"
