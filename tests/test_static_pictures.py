"""The pictures without a kernel (issue 20): the stored notebooks carry every panel's and timeline's
static picture, and `jupyter nbconvert --to html` of a stored notebook shows them in Chromium with the
network off; a panel whose kernel went away shows one note, not a broken-link icon on every control.

Chromium is Debian's (/usr/bin/chromium) driven by Playwright (never ``playwright install``), with
the flags of the other browser tests and an offline context: nothing may come from a CDN.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_run import CHROMIUM, FLAGS

import wsbench
from wsbench.widgets._render import panel_style
from wsbench.widgets._svg import timeline_html

sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TOUR = ROOT / "notebooks" / "00_start_here.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WAIT_MS = 60_000
#: How to re-execute a notebook so that it keeps no widget state. store_widget_state=False writes no new
#: state but leaves the old one, so that goes first.
EXECUTE = (
    "python -c \"import nbformat as n, sys; p = sys.argv[1]; b = n.read(p, 4); b.metadata.pop('widgets', None); "
    'n.write(b, p)" X.ipynb && '
    "jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.store_widget_state=False X.ipynb"
)


def _widget_outputs(notebook: dict) -> Iterator[tuple[int, dict]]:
    """(cell number, data) of every output that shows a widget."""
    for number, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in output.get("data", {}):
                yield number, output["data"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_stored_notebooks_carry_the_static_pictures(path: Path):
    """Every panel and timeline output carries its picture as text/html beside the widget view, and the
    notebook keeps no widget state: with the state, nbconvert and nbviewer render the widget view, which
    needs ipywidgets' JavaScript from a CDN (blank offline), and never fall back to the picture."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    shown = list(_widget_outputs(notebook))
    if not shown:
        return
    assert "widgets" not in notebook["metadata"], (
        f"{path.name} stores widget state (metadata.widgets): re-execute it with `{EXECUTE}`"
    )
    for number, data in shown:
        plain = "".join(data.get("text/plain", ""))
        if plain.startswith(("<Panel ", "<Timeline")):
            assert "text/html" in data, f"{path.name} cell {number} ({plain}) has no static picture: `{EXECUTE}`"


def _browser(playwright):  # type: ignore[no-untyped-def]
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=WAIT_MS)


def test_nbconvert_html_of_the_tour_shows_the_pictures_offline(tmp_path: Path):
    """nbconvert's HTML of the stored 00_start_here, opened offline at 1000 px: the timeline's SVG with both
    lanes and every column in view, and the panel's badge and log lines as text."""
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir", str(tmp_path), str(TOUR)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    page_path = tmp_path / (TOUR.stem + ".html")
    with sync_api.sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            context = browser.new_context(viewport={"width": 1000, "height": 900}, offline=True)
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(page_path.as_uri())
            svg = page.locator(".wsb-timeline svg").first
            svg.wait_for(state="visible")
            box = svg.bounding_box()
            assert box is not None and 300 < box["width"] <= 1000 and box["height"] > 100
            for words in ("client", "server (endpoint)", "client_state", "application_state"):
                label = svg.locator("text", has_text=re.compile(f"^{re.escape(words)}$")).first
                assert label.is_visible(), words
                where = label.bounding_box()
                assert where is not None and where["x"] >= 0 and where["x"] + where["width"] <= 1000, (words, where)
            assert svg.locator("line.wsb-tl-lifeline").count() == 2
            assert svg.locator("g.wsb-tl-arrow-g").count() > 5
            panel = page.locator(".wsbench-static").first
            panel.wait_for(state="visible")
            text = panel.inner_text()
            assert "/echo" in text and "connect /echo" in text and "open" in text
            page.screenshot(path=str(tmp_path / "tour.png"), full_page=True)
        finally:
            browser.close()


def _disconnected_rule() -> str:
    """ipywidgets' own CSS for a widget whose kernel went away (a broken-link icon before it), read from
    the installed JupyterLab extension."""
    static = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter-widgets" / "jupyterlab-manager"
    for path in sorted(static.rglob("*.js")):
        found = re.search(r"\.jupyter-widgets-disconnected::before \{.*?\}", path.read_text(encoding="utf-8"), re.S)
        if found:
            return found.group(0).replace("\\\\", "\\").replace("\\n", "\n")
    raise AssertionError(f"no .jupyter-widgets-disconnected rule under {static}")


def test_a_disconnected_panel_shows_one_note_not_an_icon_per_control():
    """After a kernel restart ipywidgets marks every widget disconnected, and its CSS puts a broken-link
    icon before each: a panel filled with them. The panel's style hides those and says once what to do."""
    controls = "".join(f'<div class="widget-html jupyter-widgets-disconnected">control {n}</div>' for n in range(5))
    html = (
        f"<!DOCTYPE html><html><head><style>{_disconnected_rule()}</style></head><body>"
        f'<div class="wsbench-panel jupyter-widgets-disconnected">{panel_style()}{controls}</div></body></html>'
    )
    with sync_api.sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_context(offline=True).new_page()
            page.set_content(html)
            before = "(e) => getComputedStyle(e, '::before').content"
            icons = [page.locator(".widget-html").nth(n).evaluate(before) for n in range(5)]
            assert icons == ["none"] * 5
            note = page.locator(".wsbench-panel").evaluate(before)
            assert "disconnected from the kernel" in note and "run this cell again" in note
        finally:
            browser.close()


def test_where_styles_are_stripped_the_timeline_shows_one_line_not_its_labels_run_together():
    """A sanitizing viewer (JupyterLab, for an untrusted notebook) drops <style> and <svg>: the timeline's
    HTML then shows a one-line fallback naming its connections; with its style it shows the pictures."""
    events = [
        wsbench.Event(seq=1, time=1.0, side="client", kind="connect", conn=1, data="ws://127.0.0.1:1/echo"),
        wsbench.Event(seq=2, time=1.1, side="client", kind="open", conn=1),
    ]
    html = timeline_html(events)
    stripped = re.sub(r"<style>.*?</style>|<svg.*?</svg>", "", html, flags=re.S)  # what a sanitizer leaves
    with sync_api.sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_context(offline=True).new_page()
            page.set_content(html)
            assert page.locator("svg").first.is_visible()
            assert not page.locator(".wsb-tl-fallback").is_visible()
            page.set_content(stripped)
            assert page.locator("body").inner_text().strip() == (
                "Timeline of 1 connection (#1 /echo): the picture shows in a trusted notebook, or when the cell runs"
            )
        finally:
            browser.close()
