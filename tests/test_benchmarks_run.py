"""Every benchmark still runs: each script in benchmarks/, at a size that takes seconds, exits 0
and prints its table. No figure is checked (no test has a timing threshold); a benchmark that a
change of the code around it broke fails here instead of on the day someone measures with it
(flood.py lost its path to tests/rawws.py, testclient.py a change of echo.paired()).

Left out: panel_flood.py starts a Jupyter kernel in its own process, on ports jupyter_client
picks from the ephemeral range, which this suite's other workers use up connecting (tests/ports.py);
``make bench`` runs it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
LOCUST = importlib.util.find_spec("locust") is not None

#: (script and small arguments, a line its output starts its table with)
RUNS = [
    ("echo.py --rounds 20 --runs 1", "case"),
    ("echo_parts.py --rounds 20 --runs 1", "case (256 B echo)"),
    ("sync_designs.py --rounds 20 --runs 1", "case (sync 256 B echo)"),
    ("testclient.py --rounds 20 --runs 1", "case"),
    ("push.py --messages 200 --runs 1", "CPU time:"),
    ("recording.py --messages 2000", "messages/s: wsbench"),
    ("flood.py --count 4 --size-mib 0.25", "case"),
    ("soak.py --connections 5 --messages 100 --duration 0 --rounds 1 --max-rounds 1", "round variant"),
    ("serve_memory.py --messages 1000", "wsbench serve:"),
    ("secret_heuristic.py --samples 100", "tokens shown in clear"),
    pytest.param(
        "load.py --seconds 1 --runs 1 --users 5",
        "generated vs hand-written",
        marks=[
            pytest.mark.load,
            pytest.mark.skipif(not LOCUST, reason="load.py runs Locust: the load extra, which needs Python 3.11+"),
        ],
    ),
]


@pytest.mark.parametrize(("command", "table"), RUNS)
def test_a_benchmark_runs(command: str, table: str) -> None:
    script, *arguments = command.split()
    done = subprocess.run(
        [sys.executable, script, *arguments],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{command} printed nothing"
    assert table in done.stdout, f"{command} printed no table:\n{done.stdout[-2000:]}"


def test_every_benchmark_is_run_or_said_to_be_left_out() -> None:
    """A new benchmark joins the list above, or the docstring says why not."""
    listed = {getattr(run, "values", run)[0].split()[0] for run in RUNS}  # a pytest.param holds its values
    scripts = {path.name for path in BENCHMARKS.glob("*.py") if not path.name.startswith("_")}
    assert scripts - listed == {"panel_flood.py"}
