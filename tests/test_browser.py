"""The notebooks in real JupyterLab and headless Chromium, clicked through as a learner would.

Starts JupyterLab on 127.0.0.1 (token on, a free port) on copies of the notebooks without
outputs or widget state, and opens them in Debian's Chromium through Playwright (never
``playwright install``):

* widgets_demo.ipynb: Run All, check what the panel and the timeline show, then close from the
  panel's own controls with code 4001;
* the learner's path, on the student version of 18_receive_text.ipynb (solutions stripped as
  nbgrader does): Run All, scroll to the try-it panel, type and send with Ctrl+Enter, close with a custom code,
  reconnect; then answer Exercise 18.1 wrongly on purpose (the check shows its hint), then
  rightly (the check passes); and 00_start_here's "Reading what the endpoint saw" heading has
  the anchor the other notebooks link to.

Screenshots go to ``artifacts/`` (kept out of git). Every wait is bounded; JupyterLab and its
kernels are shut down at the end, and killed if they do not go.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest
from jupyter_run import CHROMIUM, FLAGS, jupyter
from notebook_run import read, student_version

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "widgets_demo.ipynb"
TOUR = ROOT / "notebooks" / "00_start_here.ipynb"
LEARNER = ROOT / "notebooks" / "18_receive_text.ipynb"  # its try-it panel (/upper) and Exercise 18.1
ARTIFACTS = ROOT / "artifacts"
# windowingMode "none" keeps off-screen cells in the DOM; the other two remove the news pop-up.
OVERRIDES = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
WAIT_MS = 60_000  # milliseconds for anything in the page


@pytest.fixture(scope="module")
def lab_settings() -> Iterator[Path]:
    """overrides.json in this venv's JupyterLab settings, merged with any there; restored afterwards."""
    path = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    before = path.read_text(encoding="utf-8") if path.exists() else None
    merged = json.loads(before) if before else {}
    for plugin, values in OVERRIDES.items():
        merged.setdefault(plugin, {}).update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2), encoding="utf-8")
    yield path
    if before is None:
        path.unlink()
    else:
        path.write_text(before, encoding="utf-8")


def _stripped_copy(source: Path, target: Path) -> None:
    """The notebook without outputs, execution counts or saved widget state."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    notebook["metadata"].pop("widgets", None)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    target.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


@pytest.fixture
def lab(lab_settings: Path, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """JupyterLab on 127.0.0.1 serving copies of the notebooks; yields notebook name -> URL with the token."""
    _stripped_copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    _stripped_copy(TOUR, tmp_path / TOUR.name)
    nbformat.write(student_version(read(LEARNER)), tmp_path / LEARNER.name)
    try:
        with jupyter(tmp_path, tmp_path) as (root, token):
            yield lambda name: f"{root}lab/tree/{name}?reset&token={token}"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "browser_lab.log").write_bytes((tmp_path / "lab.log").read_bytes())


def test_widgets_render_and_close_with_4001_in_jupyterlab(lab: Callable[[str], str]):
    """Run All shows the panel and timeline with the messages; the panel's close with 4001 reaches both sides."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser_failure.png").unlink(missing_ok=True)  # from an earlier run
    console: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=WAIT_MS)
        page = browser.new_page(viewport={"width": 1280, "height": 2400})
        try:
            page.set_default_timeout(WAIT_MS)
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            page.goto(lab(NOTEBOOK.name), timeout=WAIT_MS)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=WAIT_MS)
            # The indicator reads idle while the kernel is still "Initializing" / "Connecting"; a Run All
            # then can run nothing. The status bar's kernel status says when it is really ready.
            page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=WAIT_MS)

            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            page.wait_for_selector(".jp-OutputArea-output:has-text('timeline.html begins')", state="attached")

            panel = page.locator(".wsbench-panel").first
            timeline = page.locator(".wsbench-timeline").first
            panel.wait_for(state="visible")
            timeline.locator("svg").first.wait_for(state="visible")
            panel.locator(".wsb-receive .wsb-body", has_text="de ad be ef").first.wait_for(state="attached")
            panel.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_run_all.png"))

            assert "Error displaying widget" not in page.content()
            assert page.locator(".wsbench-panel").count() == 1
            assert panel.locator(".wsbench-badge").inner_text().startswith("open")
            for direction in ("send", "receive"):
                assert panel.locator(f".wsb-{direction} .wsb-body", has_text="typed into the panel").count() == 1
                assert panel.locator(f".wsb-{direction} .wsb-body", has_text='"greeting"').count() == 1
            received = timeline.locator("text.wsb-server", has_text="websocket.receive")
            received.nth(3).wait_for(state="attached")  # the timeline redraws on its own timer
            assert received.count() == 4  # hi, typed into the panel, the JSON, the bytes
            assert timeline.locator("text.wsb-server", has_text="websocket.accept").count() == 1

            panel.locator(".wsbench-message textarea").fill("typed in chromium")
            panel.locator(".wsbench-mode").get_by_role("button", name="text", exact=True).click()
            panel.locator("button.wsbench-send-button").click()
            panel.locator(".wsb-receive .wsb-body", has_text="typed in chromium").wait_for(state="attached")

            # ipywidgets' Dropdown shows each label with non-breaking spaces (the option's value keeps the
            # label as given); playwright's label= matches that only from 1.60 on, value= on every version.
            panel.locator(".wsbench-code select").select_option(value="custom code …")
            panel.locator(".wsbench-custom-code input").fill("4001")
            panel.locator(".wsbench-custom-code input").press("Enter")
            panel.locator(".wsbench-reason input").fill("bye")
            panel.locator(".wsbench-reason input").press("Tab")
            panel.locator("button.wsbench-close-button").click()

            panel.locator(".wsbench-badge", has_text="closed 4001 (private use) bye").wait_for(state="attached")
            timeline.locator("text.wsb-server", has_text="websocket.disconnect 4001 (private use) bye").wait_for(
                state="attached"
            )
            closed_line = panel.locator(".wsb-control .wsb-event", has_text="closed 4001 (private use) bye")
            closed_line.wait_for(state="attached")
            assert panel.locator(".wsbench-close-error").inner_text().strip() == ""
            assert "Error displaying widget" not in page.content()

            page.screenshot(path=str(ARTIFACTS / "browser_closed.png"))
            panel.screenshot(path=str(ARTIFACTS / "browser_panel.png"))
            timeline.screenshot(path=str(ARTIFACTS / "browser_timeline.png"))
            top, bottom = panel.bounding_box(), timeline.bounding_box()
            assert top is not None and bottom is not None
            page.screenshot(
                path=str(ARTIFACTS / "panel_and_timeline.png"),
                clip={
                    "x": top["x"] - 8,
                    "y": top["y"] - 8,
                    "width": max(top["width"], bottom["width"]) + 16,
                    "height": bottom["y"] + bottom["height"] - top["y"] + 16,
                },
            )
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "browser_failure.png"), timeout=WAIT_MS)
            raise
        finally:
            (ARTIFACTS / "browser_console.txt").write_text("\n".join(console), encoding="utf-8")
            browser.close()


#: Exercise 18.1 answered the way many learners first do: iter_text() dies on the binary message.
#: (The first line is the answer cell's own comment, which the learner keeps: it also finds the cell.)
WRONG_ANSWER = """# Write ex18_endpoint(websocket) as specified above.
async def ex18_endpoint(websocket: WebSocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text[::-1])
"""
#: ... and as the notebook's solution does.
RIGHT_ANSWER = """# Write ex18_endpoint(websocket) as specified above.
async def ex18_endpoint(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            try:
                text = await websocket.receive_text()
            except KeyError:
                await websocket.send_text("text only, please")
                continue
            await websocket.send_text(text[::-1])
    except WebSocketDisconnect:
        pass
"""


def _open_and_run_all(page, url: str) -> None:
    page.goto(url, timeout=WAIT_MS)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=WAIT_MS)
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=WAIT_MS)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def _answer(page, cell, source: str) -> None:
    """Replace the answer cell's text as a learner types it, then run it and the check below (Shift+Enter twice)."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(source)  # no auto-indent or auto-closed brackets, as pasting
    page.keyboard.press("Shift+Enter")  # runs the answer, selects the check cell
    page.keyboard.press("Shift+Enter")  # runs the check


def test_learner_path_in_jupyterlab(lab: Callable[[str], str]):
    """Run All on a student copy, use the try-it panel, fail Exercise 18.1 with its hint, then pass it."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "learner_failure.png").unlink(missing_ok=True)
    console: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=WAIT_MS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            page.set_default_timeout(WAIT_MS)
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            _open_and_run_all(page, lab(LEARNER.name))
            # In the student copy Run All stops at the first exercise cell, as it does for a learner.
            answer = page.locator(".jp-CodeCell", has_text="Write ex18_endpoint").first
            answer.locator(".jp-OutputArea-output", has_text="NotImplementedError").wait_for(state="attached")
            assert "Error displaying widget" not in page.content()

            # The try-it panel: scroll to it, type and send, close with a custom code, reconnect.
            panel = page.locator(".jp-CodeCell", has_text='panel = bench.connect("/upper")').locator(".wsbench-panel")
            panel.wait_for(state="attached")
            panel.scroll_into_view_if_needed()
            assert panel.locator(".wsbench-badge").inner_text().startswith("open")
            panel.locator(".wsbench-message textarea").fill("typed by a learner")
            panel.locator(".wsbench-message textarea").press("Control+Enter")  # sends, as the button does
            panel.locator(".wsb-send .wsb-body", has_text="typed by a learner").wait_for(state="attached")
            panel.locator(".wsb-receive .wsb-body", has_text="TYPED BY A LEARNER").wait_for(state="attached")
            assert panel.locator(".wsbench-message textarea").input_value() == "typed by a learner"  # no newline
            panel.locator(".wsbench-code select").select_option(value="custom code …")  # see above: value=
            panel.locator(".wsbench-custom-code input").fill("4005")
            panel.locator(".wsbench-custom-code input").press("Tab")
            panel.locator(".wsbench-reason input").fill("from chromium")
            panel.locator(".wsbench-reason input").press("Tab")
            panel.locator("button.wsbench-close-button").click()
            panel.locator(".wsbench-badge", has_text="closed 4005 (private use) from chromium").wait_for(
                state="attached"
            )
            page.screenshot(path=str(ARTIFACTS / "learner_panel_closed.png"))
            panel.locator("button.wsbench-reconnect-button").click()
            panel.locator(".wsb-event", has_text="reconnected").wait_for(state="attached")
            panel.locator(".wsbench-badge", has_text="open").wait_for(state="attached")
            panel.locator(".wsbench-message textarea").fill("again")
            panel.locator("button.wsbench-send-button").click()
            panel.locator(".wsb-receive .wsb-body", has_text="AGAIN").wait_for(state="attached")
            assert panel.locator(".wsbench-close-error").inner_text().strip() == ""
            panel.screenshot(path=str(ARTIFACTS / "learner_panel_reconnected.png"))

            # Exercise 18.1: wrong first (the hint), then right (passed).
            check_cell = page.locator(".jp-CodeCell", has_text='check("18.1').first
            _answer(page, answer, WRONG_ANSWER)
            hint = check_cell.locator(".jp-OutputArea-output", has_text="✗ 18.1")
            hint.wait_for(state="attached")
            shown = hint.inner_text()
            assert "receive_text() raises KeyError('text') on a binary message" in shown, shown
            assert "Traceback" not in shown and "NameError" not in shown, shown
            check_cell.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "learner_exercise_hint.png"))
            _answer(page, answer, RIGHT_ANSWER)
            passed = check_cell.locator(".jp-OutputArea-output", has_text="✓ 18.1")
            passed.wait_for(state="attached")
            assert "passed" in passed.inner_text()
            assert check_cell.locator(".jp-OutputArea-output", has_text="✗ 18.1").count() == 0
            check_cell.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "learner_exercise_passed.png"))

            # The anchor the reference notebooks link to ("why `seen` is a plain dict"). JupyterLab 4.5 and
            # later's sanitizer moves a heading's id to data-jupyter-id, and resolves #fragments against it;
            # up to 4.4 the heading keeps its id (checked in the wheels: 4.4.0's static files have no
            # data-jupyter-id, 4.5.0's do).
            page.goto(lab(TOUR.name), timeout=WAIT_MS)
            lab_version = tuple(int(part) for part in version("jupyterlab").split(".")[:2])
            anchor = "data-jupyter-id" if lab_version >= (4, 5) else "id"
            heading = page.locator(f"h2[{anchor}='Reading-what-the-endpoint-saw']")
            heading.wait_for(state="attached")
            assert heading.inner_text().startswith("Reading what the endpoint saw")
            assert "Error displaying widget" not in page.content()
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "learner_failure.png"), timeout=WAIT_MS)
            raise
        finally:
            (ARTIFACTS / "learner_console.txt").write_text("\n".join(console), encoding="utf-8")
            browser.close()
