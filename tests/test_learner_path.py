"""A learner's Run All of the copy ``make lab`` gives them: each check fails with its own hint, and
the try-it panel is live and works with its own controls.

Each notebook (the tour and the reference notebooks) runs as its student version (solutions
stripped, as nbgrader's generate_assignment does: ``wsbench.student``) top to bottom in a real
kernel (nbclient), past the exercises' failures. Every check cell shows ``✗`` and its hint, never a
bare NameError or NotImplementedError, and no other cell fails (``notebook_run.student_problems``).
Then, in that same kernel, the test does what a learner does: finds ``panel`` open, types a
message and clicks *send* (``panel.message.value = ...; panel.send_button.click()``), sees it in
the panel's log, closes with a custom code and a reason from the panel's close row, clicks
*reconnect* and sees the new connection open. One kernel run per notebook serves both (they were
two runs, one of the full version, which nbval runs anyway and compares cell by cell, with its
"✓ … passed" lines: tests/test_exercise_notebooks.py reads them).

What a notebook's endpoint needs to hear comes from the panel's mode (text, JSON, hex) or
from :data:`MESSAGES`; endpoints that close when they get a message are in :data:`CLOSES_ITSELF`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notebook_run import NOTEBOOKS, ON_THEIR_OWN, REFERENCE, read, running, student_problems, student_version

pytestmark = pytest.mark.notebooks

NOTEBOOK_PATHS = [NOTEBOOKS / "00_start_here.ipynb", *(p for p in REFERENCE if p.stem not in ON_THEIR_OWN)]

#: A message each panel mode's endpoints accept, unless the notebook needs another (MESSAGES).
BY_MODE = {"text": "hello from a learner", "json": '{"a": 1}', "hex": "68 69"}
#: What a notebook's try-it endpoint needs to hear (its "Try it" text says so).
MESSAGES = {
    "23_iter_json": '{"add": [1, 2]}',  # /calc adds up the list under "add"
    "26_send_json": '{"a": 1}',  # /json-echo parses what it gets, in text mode
    "27_close": "4005 done",  # /close-on-command closes with the code it is sent
    "31_status_codes": "4000",  # /close-on-request closes with the code it is sent
    "34_testclient_vs_uvicorn": '{"a": 1}',  # /json receives JSON
}
#: Notebooks whose try-it endpoint closes the connection when it gets the message.
CLOSES_ITSELF = {"27_close", "31_status_codes"}
CUSTOM_CODE, REASON = 4321, "learner"

#: Runs in the notebook's kernel after Run All; prints what the learner saw as JSON.
LEARNER = rf"""
import json as _json, time as _time

def _wait(predicate, timeout=10.0):
    # poll for a marker on the panel, bounded in time (the endpoint answers on wsbench's thread)
    deadline = _time.monotonic() + timeout
    while True:
        panel.flush()
        if predicate():
            return True
        if _time.monotonic() > deadline:
            return False
        _time.sleep(0.01)

def _learner(message, closes_itself, code, reason):
    seen = {{"type": type(panel).__name__, "before": panel.status, "mode": panel.mode.value}}
    if seen["before"] != "open":
        return seen
    if message is None:
        message = {BY_MODE!r}[panel.mode.value]
    # the log shows JSON compact and bytes as hex pairs
    shown = _json.dumps(_json.loads(message), separators=(",", ":")) if panel.mode.value == "json" else message
    panel.message.value = message
    panel.send_button.click()
    seen["sent"] = _wait(lambda: any(l.startswith("→ ") and shown in l for l in panel.log_lines()))
    seen["send_error"] = panel.send_error.value
    if closes_itself:
        seen["closed_by_endpoint"] = _wait(lambda: panel.conn.state == "closed") and panel.status
        panel.reconnect_button.click()
        _wait(lambda: panel.conn.state == "open")
    seen["before_close"] = panel.status
    panel.custom_code.value = code            # typing a code selects "custom code ..."
    panel.reason.value = reason
    seen["selected"] = panel.selected_code()
    panel.close_button.click()
    _wait(lambda: panel.conn.state == "closed")
    seen["after_close"], seen["close_error"] = panel.status, panel.close_error.value
    closed_conn = panel.conn
    panel.reconnect_button.click()
    _wait(lambda: panel.conn is not closed_conn and panel.conn.state == "open")
    seen["after_reconnect"], seen["result"] = panel.status, panel.result.value
    seen["new_connection"] = panel.conn is not closed_conn
    seen["log"] = panel.log_lines()
    return seen
"""


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=[p.stem for p in NOTEBOOK_PATHS])
def test_run_all_of_the_student_version_gives_hints_and_a_live_panel(path: Path, tmp_path: Path):
    """Run All of the student version: every check fails with its hint; then send, see it in the log,
    close with a custom code and reconnect, all from the panel."""
    run_all_as_a_learner(path, tmp_path)


def run_all_as_a_learner(path: Path, tmp_path: Path) -> None:
    """The test above for one notebook (tests/test_37_load_runs.py runs it for notebook 37)."""
    notebook = student_version(read(path))
    with running(notebook, tmp_path) as kernel:
        problems = student_problems(notebook)
        assert not problems, f"{path.name}, student version:\n" + "\n\n".join(problems)
        kernel.run(LEARNER)
        arguments = (MESSAGES.get(path.stem), path.stem in CLOSES_ITSELF, CUSTOM_CODE, REASON)
        seen = kernel.run_json(f"print(_json.dumps(_learner(*{arguments!r})))")
    report = json.dumps(seen, indent=1, ensure_ascii=False)
    assert seen["type"] == "Panel", f"{path.name}: `panel` is a {seen['type']}"
    assert seen["before"] == "open", f"{path.name}: after Run All the panel is {seen['before']!r}, not open"
    assert seen["sent"] and seen["send_error"] == "", f"{path.name}: the message is not in the log\n{report}"
    if path.stem in CLOSES_ITSELF:
        assert seen["closed_by_endpoint"], f"{path.name}: the endpoint did not close\n{report}"
    assert seen["before_close"] == "open" and seen["selected"] == CUSTOM_CODE, report
    assert seen["after_close"] == f"closed {CUSTOM_CODE} (private use) {REASON}", f"{path.name}\n{report}"
    assert seen["close_error"] == "", f"{path.name}\n{report}"
    assert seen["new_connection"] and seen["after_reconnect"] == "open", f"{path.name}: no new connection\n{report}"
    assert seen["result"] == "reconnected" and "· reconnected" in seen["log"], f"{path.name}\n{report}"
