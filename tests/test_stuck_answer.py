"""A stuck answer never costs the kernel: the learner's path through notebook 00's exercise, wrong
answers first, in a real kernel (nbclient), with no restart.

After Run All, in the same kernel: exercise 00.1 answered with a loop that never awaits (its check
fails naming the line, and wsbench stops it), then the right answer (passes); then an answer blocked
in C, which cannot be stopped (its check says so; the right answer's check blames it, not itself);
re-running the ``Bench()`` cell, the endpoint cell and a connect then work. Also: an error raised
through the public API shows the learner's cell and the message, not wsbench's frames.
"""

from __future__ import annotations

import re
from pathlib import Path

from notebook_run import NOTEBOOKS, errors, nbgrader, read, running, text

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BUSY = """async def ex00_1_shout(websocket: WebSocket):
    await websocket.accept()
    while True:
        pass
"""
BLOCKED_IN_C = """import threading
release = threading.Event()
async def ex00_1_shout(websocket: WebSocket):
    await websocket.accept()
    release.wait(600)
"""


def _plain(cell) -> str:
    return ANSI.sub("", text(cell))


def test_a_stuck_answer_to_00_1_then_the_right_one_then_bench_rerun_no_restart(tmp_path: Path):
    notebook = read(NOTEBOOKS / "00_start_here.ipynb")
    cells = {nbgrader(c).get("grade_id"): c.source for c in notebook.cells if nbgrader(c).get("grade_id")}
    answer, check = cells["ex00-1-answer"], cells["ex00-1-check"]
    make_bench = next(c.source for c in notebook.cells if "wsbench.Bench()" in c.source)
    echo = next(c.source for c in notebook.cells if c.source.startswith('@bench.websocket("/echo")'))
    with running(notebook, tmp_path) as kernel:
        kernel.run(BUSY)
        busy = kernel.run(check)
        hint = _plain(busy)
        assert "✗ 00.1 shout back" in hint and "your endpoint blocked the bench's loop" in hint
        assert re.search(r"in ex00_1_shout\(\) line (3: `while True:`|4: `pass`)", hint), hint
        assert "wsbench stopped it" in hint

        kernel.run(answer)
        assert "✓ 00.1 shout back: passed" in _plain(kernel.run(check))

        kernel.run(BLOCKED_IN_C)
        blocked = _plain(kernel.run(check))
        assert "in ex00_1_shout() line 5: `release.wait(600)`" in blocked and "It is still blocked" in blocked
        kernel.run(answer)
        blamed = _plain(kernel.run(check))
        assert "still blocked by an earlier answer, not this one: endpoint /check/00-1-shout-back-" in blamed
        assert "release.wait(600)" in blamed and "Does the endpoint accept()" not in blamed

        for source in (make_bench, echo):  # the learner re-runs the Bench() cell and the endpoint's cell
            cell = kernel.run(source)
            assert not errors(cell), _plain(cell)
        talk = kernel.run('conn = bench.connect("/echo")\nconn.send_text("hi")\nprint(conn.receive_text(timeout=5))')
        assert not errors(talk) and "echo: hi" in _plain(talk), _plain(talk)
        assert "✓ 00.1 shout back: passed" in _plain(kernel.run(check))
        kernel.run("release.set()")

        missing = kernel.run('bench.connect("/nope")')
        [error] = errors(missing)
        shown = ANSI.sub("", "\n".join(error["traceback"]))
        assert error["ename"] == "HandshakeRejected"
        assert "no endpoint at /nope on this bench (it has: /echo" in shown and "run the cell that defines it" in shown
        assert 'bench.connect("/nope")' in shown and "Cell In[" in shown
        assert "wsbench/" not in shown and "site-packages" not in shown
        assert len(shown.strip().splitlines()) <= 6, shown
