"""The widgets in real JupyterLab and headless Chromium: notebooks/widgets_demo.ipynb, run from the Run menu.

Starts JupyterLab on 127.0.0.1 (token on, a free port) on a copy of the notebook without
outputs or widget state, opens it in Debian's Chromium through Playwright (never
``playwright install``), runs all cells, checks what the panel and the timeline show, then
closes the connection from the panel's own controls with code 4001. Screenshots go to
``artifacts/`` (kept out of git). Every wait is bounded; JupyterLab and its kernel are shut
down at the end, and killed if they do not go.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "widgets_demo.ipynb"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("WSBENCH_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# windowingMode "none" keeps off-screen cells in the DOM; the other two remove the news pop-up.
OVERRIDES = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
START_TIMEOUT = 90.0  # seconds for JupyterLab to answer
WAIT_MS = 60_000  # milliseconds for anything in the page


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, method: str = "GET") -> int:
    with urllib.request.urlopen(
        urllib.request.Request(url, method=method, data=b"" if method == "POST" else None), timeout=5
    ) as response:
        return response.status


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


def _stripped_copy(target: Path) -> None:
    """The notebook without outputs, execution counts or saved widget state."""
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    notebook["metadata"].pop("widgets", None)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    target.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


@pytest.fixture
def lab(lab_settings: Path, tmp_path: Path) -> Iterator[str]:
    """JupyterLab on 127.0.0.1 serving a stripped copy of widgets_demo.ipynb; yields its URL with the token."""
    _stripped_copy(tmp_path / "widgets_demo.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),  # no tabs from earlier sessions
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "user-settings"),  # none of this user's settings
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    log = (tmp_path / "lab.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={tmp_path}",
            f"--IdentityProvider.token={token}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        for _ in range(int(START_TIMEOUT / 0.25) + 1):  # poll for the marker (HTTP 200), bounded in count and time
            assert process.poll() is None, f"JupyterLab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"JupyterLab did not answer in {START_TIMEOUT} s"
            try:
                if _request(f"{base}/api/status?token={token}") == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)  # the poll interval, not a synchronization: the loop waits for the 200
        else:
            raise AssertionError(f"JupyterLab did not answer in {START_TIMEOUT} s")
        yield f"{base}/lab/tree/widgets_demo.ipynb?reset&token={token}"
    finally:
        try:  # shuts the kernels down too
            _request(f"{base}/api/shutdown?token={token}", method="POST")
            process.wait(timeout=20)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            pass
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the session this test started
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "browser_lab.log").write_bytes((tmp_path / "lab.log").read_bytes())


def test_widgets_render_and_close_with_4001_in_jupyterlab(lab: str):
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
            page.goto(lab, timeout=WAIT_MS)
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

            panel.locator(".wsbench-code select").select_option(label="custom code …")
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
