"""wsbench.load's static summary as a PNG: what it plots, that it is a PNG, and the error without matplotlib.

No Locust here: a LoadResult is data, built as the swarm builds it from the hook's reports.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from wsbench.swarm import LoadError, LoadResult

image = pytest.importorskip("matplotlib.image", reason="the PNG summary needs the load extra (matplotlib)")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def result(folder: Path, seconds: int = 5) -> LoadResult:
    """A run of *seconds* seconds: three steps, one of them failing now and then, users ramping up."""
    steps = [
        {"type": "CONNECT", "name": "connect /echo", "requests": 40, "failures": 0, "p50": 3, "p95": 9, "p99": 12},
        {"type": "WS", "name": "/echo 1: 'hello'", "requests": 40, "failures": 2, "p50": 1, "p95": 4, "p99": 30},
        {"type": "FANOUT", "name": "fanout ann 1: 'hi'", "requests": 80, "failures": 0, "p50": 2, "p95": 5, "p99": 7},
    ]
    per_second = [
        {"t": t, "users": min(2 * t, 6), "requests/s": 10.0 * t, "failures/s": float(t % 2)} for t in range(seconds)
    ]
    failures = [{"name": "/echo 1: 'hello'", "type": "WS", "error": "StepFailed('...')", "occurrences": 2}]
    return LoadResult(folder=folder, steps=steps, per_second=per_second, failures=failures)


def test_the_figure_plots_the_runs_seconds_and_steps(tmp_path):
    """One point a measured second for requests/s, failures/s and users; one row of p50/p95/p99 bars a step,
    named after it (with its failures); the title says the totals."""
    run = result(tmp_path, seconds=7)
    figure = run.figure()
    rates, bars, users = figure.axes  # the twin axis of the users comes last
    lines = {line.get_label(): line for line in [*rates.get_lines(), *users.get_lines()]}
    assert set(lines) == {"requests/s", "failures/s", "users"}
    for label, key in (("requests/s", "requests/s"), ("failures/s", "failures/s"), ("users", "users")):
        assert list(lines[label].get_xdata()) == [p["t"] for p in run.per_second]
        assert list(lines[label].get_ydata()) == [p[key] for p in run.per_second]
    assert [tick.get_text() for tick in bars.get_yticklabels()] == [
        "connect /echo",
        "/echo 1: 'hello' (2 failed)",
        "fanout ann 1: 'hi'",
    ]
    widths = [patch.get_width() for patch in bars.patches]
    assert widths == [3, 1, 2, 9, 4, 5, 12, 30, 7]  # p50 of each step, then p95, then p99
    assert figure.get_suptitle() == "Load: summary: 160 requests, 2 failed, at most 6 users, 7 s"


def test_the_png_is_a_png_of_that_figure_and_the_same_bytes_each_time(tmp_path):
    run = result(tmp_path)
    png = run.png()
    assert png.startswith(PNG_SIGNATURE)
    pixels = image.imread(io.BytesIO(png), format="png")  # it decodes
    width, height = run.figure().get_size_inches() * run.figure().dpi
    assert pixels.shape[:2] == (round(height), round(width))
    assert run._repr_png_() == png == run.png()  # no date or version inside: a notebook stores the same bytes
    assert b"Software" not in png and b"Matplotlib" not in png


def test_many_steps_keep_the_png_readable(tmp_path):
    """At most 30 steps are drawn (the most requested); the title says how many more the table has."""
    run = result(tmp_path)
    run.steps = [
        {"type": "WS", "name": f"step {i} " + "x" * 60, "requests": i, "failures": 0, "p50": 1, "p95": 2, "p99": 3}
        for i in range(45)
    ]
    figure = run.figure()
    labels = [tick.get_text() for tick in figure.axes[1].get_yticklabels()]
    assert len(labels) == 30 and labels[0].startswith("step 15 ") and labels[0].endswith("…")
    assert "(15 more steps in the table)" in figure.get_suptitle()


def test_without_matplotlib_the_error_says_how_to_get_it(tmp_path, monkeypatch):
    """matplotlib is part of the load extra; without it png() says so, and a notebook shows the HTML alone."""
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib... raises ImportError
    run = result(tmp_path)
    with pytest.raises(LoadError, match=r"needs matplotlib: pip install 'wsbench\[load\]'"):
        run.png()
    assert run._repr_png_() is None
    assert "Load: summary" in run._repr_html_()
