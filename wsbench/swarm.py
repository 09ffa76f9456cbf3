"""A Locust swarm from a cell: :func:`load` runs Locust in a subprocess and shows it live.

The kernel never imports Locust (gevent's monkey-patching hangs an IPython kernel): the
locustfile and a small live hook go to a run folder, Locust runs in a process group of its
own, and the kernel redraws a figure from the hook's statistics. The result is data
(:class:`LoadResult`); everything is bounded and nothing is left running. Imports only the
standard library at import time. Specification: ``docs/modules/wsbench.swarm.md``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import html
import importlib.util
import io
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidURL, WsbenchError
from .secrets import mask_url

__all__ = ["HOOK", "LoadError", "LoadResult", "Swarm", "load", "locust_installed", "summary_figure", "summary_png"]

_GRACE = 30.0  # seconds past run_time a swarm may take to start and to stop before it is killed
_STOP_WAIT = 10.0  # seconds between SIGTERM and SIGKILL
_MAX_LINE = 1 << 20  # the longest live line read (a line is a few KiB)
_MAX_POINTS = 3600  # per-second points kept
_MAX_STEPS = 200  # steps shown and kept per snapshot
_PNG_STEPS = 30  # steps drawn in the PNG (the most requested; the HTML table lists them all)
_PNG_LABEL = 48  # characters of a step's name on the PNG

#: The live hook, loaded by Locust beside the locustfile (``-f locustfile.py,wsbench_live.py``):
#: fixed text, no data. It writes the statistics to the file named by WSBENCH_LIVE.
HOOK = '''"""wsbench's live hook: the statistics of a Locust run as JSON lines (written by wsbench.load)."""

import json
import os
import time

import gevent
from locust import events
from locust.runners import WorkerRunner
from locust.stats import StatsError

INTERVAL = float(os.environ.get("WSBENCH_LIVE_INTERVAL", "0.25"))


def _snapshot(environment, started, final=False):
    runner = environment.runner
    entries = []
    for entry in list(environment.stats.entries.values())[:200]:
        entries.append(
            {
                "type": entry.method,
                "name": entry.name,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "p50": entry.get_response_time_percentile(0.5),
                "p95": entry.get_response_time_percentile(0.95),
                "p99": entry.get_response_time_percentile(0.99),
                "avg": entry.avg_response_time,
                "max": entry.max_response_time or 0,
                "bytes": entry.total_content_length,
            }
        )
    errors = [
        {"name": e.name, "type": e.method, "error": StatsError.parse_error(e.error), "occurrences": e.occurrences}
        for e in list(environment.stats.errors.values())[:50]
    ]
    workers = len(getattr(runner, "clients", {}) or {})
    return {
        "t": round(time.monotonic() - started, 3),
        "users": runner.user_count if runner else 0,
        "workers": workers,
        "state": str(getattr(runner, "state", "")),
        "entries": entries,
        "errors": errors,
        "final": final,
    }


def _count_on_worker(environment, path):
    """A worker counts its own requests per step and writes them when it quits."""
    counts = {}

    @events.request.add_listener
    def _count(request_type, name, exception=None, **_kwargs):
        done = counts.setdefault(request_type + " " + name, [0, 0])
        done[0] += 1
        done[1] += exception is not None

    @events.quitting.add_listener
    def _write(**_kwargs):
        with open(f"{path}.worker-{os.getpid()}.json", "w", encoding="utf-8") as out:
            json.dump(counts, out)


@events.init.add_listener
def _start(environment, **_kwargs):
    path = os.environ.get("WSBENCH_LIVE")
    if not path:
        return
    if isinstance(environment.runner, WorkerRunner):
        _count_on_worker(environment, path)
        return
    started = time.monotonic()
    out = open(path, "a", encoding="utf-8")  # open for the whole run

    def write(final=False):
        out.write(json.dumps(_snapshot(environment, started, final)) + "\\n")
        out.flush()

    def loop():
        while True:
            gevent.sleep(INTERVAL)
            write()

    gevent.spawn(loop)

    @events.quitting.add_listener
    def _final(**_kwargs):
        write(final=True)

    run_time = float(os.environ.get("WSBENCH_RUN_TIME", "0"))
    if run_time > 0:  # the run time counts from the start of the test (Locust's -t also counts its start-up)

        @events.test_start.add_listener
        def _timer(**_kwargs):
            gevent.spawn_later(run_time, environment.runner.quit)
'''


class LoadError(WsbenchError):
    """A swarm could not start, or Locust ended with an error before it ran."""


@dataclass
class LoadResult:
    """What a swarm did: per step, per second, the failures, and where Locust's reports are."""

    folder: Path  #: the run folder: locustfile, Locust's report.html and locust_*.csv, summary.html, live.jsonl
    steps: list[dict[str, Any]] = field(default_factory=list)  #: per step: type, name, requests, failures, p50 ...
    per_second: list[dict[str, Any]] = field(default_factory=list)  #: t, users, requests/s, failures/s
    failures: list[dict[str, Any]] = field(default_factory=list)  #: name, type, error, occurrences
    exit_code: int | None = None  #: Locust's (1 when a request failed)
    interrupted: bool = False  #: stopped before its run time (an interrupt)
    workers: int = 0  #: the most workers the master saw at once (0: a single process)
    #: per worker: "TYPE name" -> [requests, failures], as the worker itself counted them
    per_worker: list[dict[str, list[int]]] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Requests of every step (connects, steps, closes, pushes)."""
        return sum(step["requests"] for step in self.steps)

    @property
    def failed(self) -> int:
        """Failed requests of every step."""
        return sum(step["failures"] for step in self.steps)

    def step(self, name: str) -> dict[str, Any]:
        """The figures of the step called *name*; KeyError listing the names."""
        for step in self.steps:
            if step["name"] == name:
                return step
        raise KeyError(f"no step {name!r}; the steps are {[s['name'] for s in self.steps]}")

    @property
    def html_report(self) -> Path:
        """Locust's own HTML report."""
        return self.folder / "report.html"

    @property
    def csv_stats(self) -> Path:
        """Locust's CSV of the statistics per step."""
        return self.folder / "locust_stats.csv"

    @property
    def png_report(self) -> Path:
        """The static summary as a PNG, written when the swarm ended (if matplotlib could be imported)."""
        return self.folder / "summary.png"

    def figure(self) -> Any:
        """The static summary as a matplotlib Figure (:func:`summary_figure`)."""
        return summary_figure(self.steps, self.per_second, self.failures, title="Load: summary")

    def png(self) -> bytes:
        """The static summary as PNG bytes (:func:`summary_png`); LoadError if matplotlib is missing."""
        return summary_png(self.steps, self.per_second, self.failures, title="Load: summary")

    def _repr_html_(self) -> str:
        return summary_html(self.steps, self.per_second, self.failures, title="Load: summary")

    def _repr_png_(self) -> bytes | None:
        try:
            return self.png()
        except LoadError:  # no matplotlib: the HTML summary stands alone
            return None

    def __repr__(self) -> str:
        return (
            f"<LoadResult {len(self.steps)} steps, {self.requests} requests, {self.failed} failed"
            f"{', interrupted' if self.interrupted else ''}; reports in {self.folder}>"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _positive(name: str, value: Any, *, integer: bool = False, zero: bool = False) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite {'integer' if integer else 'number'}, not {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be {'>= 0' if zero else '> 0'}, not {value!r}")
    return value


def _target_url(target: Any, stack: contextlib.ExitStack) -> str | None:
    """The base URL Locust's --host gets: a Bench's, a URL, or an app's served on a new Bench."""
    if target is None:
        return None
    if isinstance(target, str):
        if not target.startswith(("ws://", "wss://")):
            raise InvalidURL(f"{mask_url(target)!r} isn't a ws:// or wss:// URL to load")
        return target
    from .server import Bench

    if isinstance(target, Bench):
        return target.url
    if callable(target):
        bench = stack.enter_context(Bench(target, name=f"wsbench.load-{os.getpid()}-{time.monotonic_ns()}"))
        return bench.url
    raise TypeError(f"cannot load {type(target).__name__}: give a Bench, an app or a ws:// URL")


class Swarm:
    """A running swarm: Locust's processes, the live view, and its result when it ends."""

    def __init__(
        self,
        command: list[str],
        worker_commands: list[list[str]],
        folder: Path,
        run_time: float,
        *,
        show: bool,
        refresh: float,
        stack: contextlib.ExitStack,
    ) -> None:
        self.folder = folder
        self._live = folder / "live.jsonl"
        self._live.write_bytes(b"")  # a folder used again starts afresh
        for old in folder.glob(self._live.name + ".worker-*.json"):
            old.unlink()
        self._run_time = run_time
        self._refresh = refresh
        self._stack = stack
        self._snapshots: list[dict[str, Any]] = []
        self._offset = 0
        self._interrupted = False
        self._result: LoadResult | None = None
        self._handle: Any = None
        self._text = False
        self._printed: Any = None
        self._lock = threading.Lock()
        env = dict(os.environ, WSBENCH_LIVE=str(self._live), WSBENCH_RUN_TIME=str(run_time), PYTHONUNBUFFERED="1")
        log = open(folder / "locust.log", "ab")
        self._stack.callback(log.close)
        self.processes: list[subprocess.Popen[bytes]] = []
        for cmd in [command, *worker_commands]:  # each in a session (process group) of its own
            self.processes.append(
                subprocess.Popen(
                    cmd,
                    cwd=folder,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        self._deadline = time.monotonic() + run_time + 2 * _GRACE
        atexit.register(self._kill)  # a kernel that exits (or restarts) leaves no swarm behind
        self._stack.callback(atexit.unregister, self._kill)
        if show:
            self._show()
        self._watcher = threading.Thread(target=self._watch, name="wsbench-swarm", daemon=True)
        self._watcher.start()

    # -- reading the live file -----------------------------------------------------------

    def _read(self) -> None:
        with self._lock:
            with open(self._live, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            self._offset += end
            for line in chunk[:end].splitlines():
                if len(line) > _MAX_LINE:
                    continue
                try:
                    snapshot = json.loads(line)
                except ValueError:
                    continue
                if isinstance(snapshot, dict):
                    self._snapshots.append(snapshot)
            if len(self._snapshots) > _MAX_POINTS * 4:  # bounded: keep the newest
                del self._snapshots[: len(self._snapshots) - _MAX_POINTS * 4]

    @property
    def running(self) -> bool:
        """True while any of its processes runs."""
        return any(p.poll() is None for p in self.processes)

    @property
    def pids(self) -> list[int]:
        """The process ids of the master (or the single process) and the workers."""
        return [p.pid for p in self.processes]

    def _watch(self) -> None:
        """Tail the live file and redraw, at most every *refresh* seconds, until the swarm ends."""
        while True:
            ended = not self.running
            self._read()
            self._draw()
            if ended:
                return
            if time.monotonic() > self._deadline:
                self._kill()
            time.sleep(self._refresh)

    # -- display -------------------------------------------------------------------------

    def _show(self) -> None:
        """In a kernel: a display the figures replace; elsewhere: a line a second on stderr."""
        self._text = True
        try:
            from IPython import get_ipython
            from IPython.display import HTML, display
        except ImportError:
            return
        shell = get_ipython()
        if shell is None or not hasattr(shell, "kernel"):
            return
        self._text = False
        self._handle = display(HTML("<i>starting Locust…</i>"), display_id=True)
        self._HTML = HTML

    def _draw(self, final: bool = False, png: bytes | None = None) -> None:
        steps, per_second, failures = _figures(self._snapshots)
        if self._text and per_second and not final and per_second[-1]["t"] != self._printed:
            point = per_second[-1]
            self._printed = point["t"]
            failed = sum(s["failures"] for s in steps)
            print(
                f"{point['t']:>4} s  {point['users']} users  {point['requests/s']:.0f} requests/s  {failed} failed",
                file=sys.stderr,
            )
        if self._handle is None:
            return
        title = "Load: summary" if final else f"Load: running ({len(per_second)} s)"
        shown = summary_html(steps, per_second, failures, title=title)
        if png is None:
            self._handle.update(self._HTML(shown))
        else:  # the static summary: HTML for the notebook, the PNG for what renders no HTML
            self._handle.update({"text/html": shown, "image/png": base64.b64encode(png).decode()}, raw=True)

    # -- ending --------------------------------------------------------------------------

    def _signal(self, sig: int) -> None:
        """Signal each process's group (what a process started, too)."""
        for p in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, sig)

    def _kill(self) -> None:
        """SIGTERM to the groups (Locust writes its reports), then SIGKILL after a bounded wait."""
        if not self.running:
            self._signal(signal.SIGKILL)  # anything a process left in its group
            return
        self._signal(signal.SIGTERM)
        limit = time.monotonic() + _STOP_WAIT
        for p in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.0, limit - time.monotonic()))
        self._signal(signal.SIGKILL)
        for p in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=_STOP_WAIT)

    def stop(self) -> LoadResult:
        """Stop the swarm now (all its processes) and return what it did."""
        self._interrupted = self._interrupted or self.running
        self._kill()
        return self.result()

    def wait(self) -> LoadResult:
        """Wait until the swarm ends (bounded by its run time and a grace period) and return its result;
        a KeyboardInterrupt stops it and its processes first."""
        try:
            for p in self.processes:
                p.wait(timeout=max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._kill()
        except KeyboardInterrupt:
            self.stop()
            raise
        return self.result()

    def result(self) -> LoadResult:
        """The result once the swarm has ended (waits for it)."""
        if self._result is not None:
            return self._result
        if self.running:
            return self.wait()
        self._kill()  # the rest of the group, if a worker is left
        self._watcher.join(timeout=_STOP_WAIT)
        self._read()
        self._stack.close()
        steps, per_second, failures = _figures(self._snapshots)
        per_worker = []
        for path in sorted(self.folder.glob(self._live.name + ".worker-*.json")):
            with contextlib.suppress(OSError, ValueError):
                counts = json.loads(path.read_text(encoding="utf-8")[:_MAX_LINE])
                if isinstance(counts, dict):
                    per_worker.append(counts)
        self._result = LoadResult(
            folder=self.folder,
            steps=steps,
            per_second=per_second,
            failures=failures,
            exit_code=self.processes[0].returncode,
            interrupted=self._interrupted,
            workers=max((int(s.get("workers", 0) or 0) for s in self._snapshots), default=0),
            per_worker=per_worker,
        )
        (self.folder / "summary.html").write_text(
            "<!doctype html><meta charset='utf-8'><title>wsbench load</title>"
            + summary_html(steps, per_second, failures, title="Load: summary"),
            encoding="utf-8",
        )
        png = None
        if importlib.util.find_spec("matplotlib") is not None:  # else the HTML summary stands alone
            png = self._result.png()
            self._result.png_report.write_bytes(png)
        self._draw(final=True, png=png)
        return self._result

    def __repr__(self) -> str:
        state = "running" if self.running else "ended"
        return f"<Swarm {state}, pids {self.pids}, reports in {self.folder}>"


def _figures(snapshots: list[dict[str, Any]]) -> tuple[list[dict], list[dict], list[dict]]:
    """(per step, per second, failures) from the hook's snapshots (cumulative counts)."""
    if not snapshots:
        return [], [], []
    last = snapshots[-1]
    steps = [dict(entry) for entry in last.get("entries", [])[:_MAX_STEPS]]
    per_second: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for snapshot in snapshots:
        second = int(snapshot.get("t", 0))
        if previous is not None and int(previous.get("t", 0)) == second and not snapshot.get("final"):
            continue  # one point a second: the first snapshot of each second
        requests = sum(e.get("requests", 0) for e in snapshot.get("entries", []))
        failures = sum(e.get("failures", 0) for e in snapshot.get("entries", []))
        if previous is None:
            rate = fail_rate = 0.0
        else:
            dt = max(float(snapshot.get("t", 0)) - float(previous.get("t", 0)), 1e-6)
            rate = (requests - previous["_requests"]) / dt
            fail_rate = (failures - previous["_failures"]) / dt
        point = {"t": second, "users": snapshot.get("users", 0), "requests/s": rate, "failures/s": fail_rate}
        per_second.append(point)
        previous = dict(snapshot, _requests=requests, _failures=failures)
    return steps, per_second[-_MAX_POINTS:], list(last.get("errors", []))


def _svg(points: list[dict[str, Any]], width: int = 360, height: int = 90) -> str:
    """Two lines, requests/s and users, over the seconds of the run (inline SVG, no library)."""
    if len(points) < 2:
        return ""
    xs = [p["t"] for p in points]
    span = max(max(xs) - min(xs), 1)

    def line(key: str, colour: str) -> str:
        top = max(max(p[key] for p in points), 1e-9)
        coords = " ".join(
            f"{(p['t'] - xs[0]) / span * (width - 4) + 2:.1f},{height - 2 - p[key] / top * (height - 14):.1f}"
            for p in points
        )
        return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>'

    top_rate = max(p["requests/s"] for p in points)
    top_users = max(p["users"] for p in points)
    return (
        f'<svg width="{width}" height="{height}" style="background:#fafafa">'
        + line("requests/s", "#1f77b4")
        + line("users", "#ff7f0e")
        + f'<text x="4" y="10" font-size="9" fill="#1f77b4">requests/s (max {top_rate:.0f})</text>'
        + f'<text x="{width - 4}" y="10" font-size="9" fill="#ff7f0e" text-anchor="end">users (max {top_users})</text>'
        + "</svg>"
    )


def summary_html(
    steps: list[dict[str, Any]], per_second: list[dict[str, Any]], failures: list[dict[str, Any]], *, title: str
) -> str:
    """The figure a cell shows: a chart of requests/s and users, a table per step, the failures."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(str(s['type']))}</td><td style='text-align:left'>{e(str(s['name']))}</td>"
        f"<td>{s['requests']}</td><td>{s['failures']}</td><td>{s['p50']}</td><td>{s['p95']}</td><td>{s['p99']}</td></tr>"
        for s in steps
    )
    table = (
        "<table><tr><th>type</th><th>step</th><th>requests</th><th>failures</th>"
        f"<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>{rows}</table>"
    )
    failed = "".join(
        f"<li>{e(str(f['type']))} {e(str(f['name']))}: {e(str(f['error']))} (×{f['occurrences']})</li>"
        for f in failures[:20]
    )
    users = per_second[-1]["users"] if per_second else 0
    peak = max((p["users"] for p in per_second), default=0)
    rate = per_second[-1]["requests/s"] if per_second else 0.0
    requests = sum(s["requests"] for s in steps)
    return (
        f"<div><b>{e(title)}</b>: {users} users (at most {peak}), {rate:.0f} requests/s now, "
        f"{requests} requests in all<br>{_svg(per_second)}{table}"
        + (f"<p>Failures:</p><ul>{failed}</ul>" if failed else "")
        + "</div>"
    )


def summary_figure(
    steps: list[dict[str, Any]], per_second: list[dict[str, Any]], failures: list[dict[str, Any]], *, title: str
) -> Any:
    """The static summary as a matplotlib Figure: requests/s, failures/s and users per second
    above; p50/p95/p99 per step below (the most requested steps, named on the axis); the title
    says the totals. Made without pyplot (no backend is chosen, nothing global changes)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise LoadError("the PNG summary needs matplotlib: pip install 'wsbench[load]'") from None
    shown = sorted(steps, key=lambda s: -int(s.get("requests", 0)))[:_PNG_STEPS]
    shown.sort(key=steps.index)  # in Locust's order, as the table lists them
    figure = Figure(figsize=(8, 3 + 0.28 * max(len(shown), 1)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    rates, bars = figure.subplots(2, 1, height_ratios=[2.2, 0.5 + 0.28 * max(len(shown), 1)])
    seconds = [p["t"] for p in per_second]
    rates.plot(seconds, [p["requests/s"] for p in per_second], color="#1f77b4", label="requests/s")
    rates.plot(seconds, [p["failures/s"] for p in per_second], color="#d62728", label="failures/s")
    rates.set_xlabel("seconds")
    rates.set_ylabel("per second")
    users = rates.twinx()
    users.plot(seconds, [p["users"] for p in per_second], color="#ff7f0e", label="users")
    users.set_ylabel("users")
    rates.legend(handles=[*rates.get_lines(), *users.get_lines()], loc="upper left", fontsize="small")
    names = [
        _cut(str(s["name"]), _PNG_LABEL) + (f" ({s['failures']} failed)" if s.get("failures") else "") for s in shown
    ]
    rows = range(len(shown))
    height = 0.27
    for offset, (key, colour) in enumerate((("p50", "#2ca02c"), ("p95", "#ff7f0e"), ("p99", "#d62728"))):
        values = [float(s.get(key) or 0) for s in shown]
        bars.barh([r + (offset - 1) * height for r in rows], values, height=height, color=colour, label=f"{key} ms")
    bars.set_yticks(list(rows), names, fontsize="small")
    bars.invert_yaxis()
    bars.set_xlabel("ms")
    bars.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")  # beside the bars, not on them
    requests = sum(int(s.get("requests", 0)) for s in steps)
    failed = sum(int(s.get("failures", 0)) for s in steps)
    peak = max((p["users"] for p in per_second), default=0)
    more = f" ({len(steps) - len(shown)} more steps in the table)" if len(steps) > len(shown) else ""
    figure.suptitle(f"{title}: {requests} requests, {failed} failed, at most {peak} users, {len(seconds)} s{more}")
    return figure


def summary_png(
    steps: list[dict[str, Any]], per_second: list[dict[str, Any]], failures: list[dict[str, Any]], *, title: str
) -> bytes:
    """:func:`summary_figure` as PNG bytes: the same bytes for the same figures (no date, no version in them)."""
    buffer = io.BytesIO()
    summary_figure(steps, per_second, failures, title=title).savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write_locustfile(source: Any, folder: Path, options: dict[str, Any]) -> Path:
    from .transcript import Transcript

    if isinstance(source, Transcript):
        from .locustgen import write_locustfile

        return write_locustfile(source, folder / "locustfile.py", **options)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file() or path.suffix != ".py":
            raise LoadError(f"{str(path)!r} is not a locustfile (a .py file)")
        if options:
            raise TypeError(f"{', '.join(options)} apply to a transcript, not to a locustfile")
        return path.resolve()
    raise TypeError(f"load() takes a Transcript or a locustfile path, not {type(source).__name__}")


def locust_installed(python: str) -> bool:
    """Whether *python* can import Locust (asked without importing it here: gevent would patch the kernel)."""
    if python == sys.executable:
        return importlib.util.find_spec("locust") is not None
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('locust') is None)"
    try:
        return subprocess.run([python, "-c", probe], capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def load(
    source: Any,
    *,
    users: int = 10,
    spawn_rate: float | None = None,
    run_time: float = 10.0,
    target: Any = None,
    workers: int = 0,
    folder: str | Path | None = None,
    wait: bool = True,
    show: bool = True,
    refresh: float = 0.5,
    python: str | None = None,
    locust_args: Iterable[str] = (),
    **transcript_options: Any,
) -> Any:
    """Swarm *target* with Locust users replaying *source* (a Transcript, or a locustfile path).

    *target* is a :class:`~wsbench.Bench`, an app (served on a new Bench for the run) or a
    ``ws://`` base URL (None: the locustfile's own host). *users* users are started at
    *spawn_rate* per second (default: all in the first second) for *run_time* seconds;
    *workers* > 0 runs a Locust master and that many workers on 127.0.0.1. The run folder
    (*folder*, default a new temporary one, kept) holds the locustfile, Locust's HTML and CSV
    reports, ``summary.html`` and the live statistics. *transcript_options* go to
    :func:`~wsbench.locustgen.write_locustfile` (``match``, ``ignore``, ``think`` ...).

    Returns a :class:`LoadResult` when the swarm ends (*wait*), else the running :class:`Swarm`
    at once (its ``result()`` waits). A KeyboardInterrupt stops the swarm and every process
    of it before it propagates. Locust runs with *python* (default: this interpreter).
    Raises ValueError, TypeError or InvalidURL for a bad argument, LoadError without Locust or a locustfile.
    """
    users = _positive("users", users, integer=True)
    rate = float(users if spawn_rate is None else _positive("spawn_rate", spawn_rate))
    run_time = float(_positive("run_time", run_time))
    workers = _positive("workers", workers, integer=True, zero=True)
    refresh = max(0.2, float(_positive("refresh", refresh)))
    extra = [str(arg) for arg in locust_args]
    stack = contextlib.ExitStack()
    try:
        host = _target_url(target, stack)
        run_folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="wsbench-load-"))
        run_folder.mkdir(parents=True, exist_ok=True)
        locustfile = _write_locustfile(source, run_folder, transcript_options)
        hook = run_folder / "wsbench_live.py"
        hook.write_text(HOOK, encoding="utf-8")
        files = f"{locustfile},{hook}"
        exe = python or sys.executable
        if not locust_installed(exe):
            raise LoadError(
                f"wsbench.load runs Locust, which {exe} cannot import: pip install 'wsbench[load]' "
                "(Locust 2.47 needs Python 3.11 or later)"
            )
        command = [exe, "-m", "locust", "-f", files, "--headless", "-u", str(users), "-r", str(rate)]
        # the hook stops the test run_time seconds after it starts; -t is the backstop
        command += ["-t", f"{math.ceil(run_time + _GRACE)}s", "--stop-timeout", "2", "--only-summary"]
        command += ["--csv", str(run_folder / "locust"), "--html", str(run_folder / "report.html")]
        command += ["--host", host] if host else []
        worker_commands: list[list[str]] = []
        if workers:
            port = _free_port()
            command += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
            command += ["--expect-workers", str(workers), "--expect-workers-max-wait", str(int(_GRACE))]
            # "-f -": each worker gets the files from the master, as a worker on another machine would
            worker = [exe, "-m", "locust", "-f", "-", "--worker", "--master-host", "127.0.0.1"]
            worker += ["--master-port", str(port)]
            worker_commands = [worker + extra for _ in range(workers)]
        command += extra
        swarm = Swarm(command, worker_commands, run_folder, run_time, show=show, refresh=refresh, stack=stack)
    except BaseException:
        stack.close()
        raise
    if not wait:
        return swarm
    return swarm.wait()


# -- the command line: `wsbench load FILE ...` (wsbench.cli adds it) ------------------------


def add_command(commands: Any) -> None:
    """Add ``load`` to the ``wsbench`` command's subparsers (*commands*)."""
    load_parser = commands.add_parser(
        "load",
        help="swarm a server with Locust users replaying a recorded conversation (needs wsbench[load])",
        description="Run Locust (in subprocesses) with users that replay FILE: a transcript saved with "
        "transcript.save() (.jsonl), or a locustfile (.py, e.g. one written by transcript.to_locustfile). "
        "Prints a line a second and a summary per step; keeps Locust's HTML and CSV reports in --folder.",
        epilog="Exit status: 0 when no request failed, 1 when some did, 2 for bad input, 130 after Ctrl-C.",
    )
    load_parser.add_argument("file", metavar="FILE", help="a transcript (.jsonl) or a locustfile (.py)")
    target = load_parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="the server: a ws:// or wss:// base URL (default: the locustfile's host)")
    target.add_argument("--app", metavar="MODULE:ATTR", help="serve this ASGI app on a loopback bench for the run")
    load_parser.add_argument("-u", "--users", type=int, default=10, help="concurrent users (default: 10)")
    load_parser.add_argument("-r", "--spawn-rate", type=float, help="users started per second (default: all at once)")
    load_parser.add_argument("-t", "--run-time", type=float, default=10.0, help="seconds (default: 10)")
    load_parser.add_argument("--workers", type=int, default=0, help="run a master and N workers on 127.0.0.1")
    load_parser.add_argument("--folder", help="where the reports go (default: a new temporary folder)")
    load_parser.add_argument("--conn", type=int, help="replay only this connection (#1, #2 ... of the transcript)")
    load_parser.add_argument("--match", metavar="JSONPATH", help="match replies by this JSON path, e.g. '$.id'")
    load_parser.add_argument(
        "--ignore", metavar="JSONPATH", action="append", default=[], help="leave out of comparisons (repeatable)"
    )
    load_parser.add_argument("--think", type=float, default=1.0, help="scale recorded think times (0: none)")
    load_parser.add_argument("--timeout", type=float, default=5.0, help="seconds each wait may take (default: 5)")


def run_command(args: Any, load_app: Any) -> int:
    """Run ``wsbench load`` with parsed *args* (*load_app* imports ``--app``); the exit status."""
    from .transcript import Transcript

    path = Path(args.file)
    options: dict[str, Any] = {}
    try:
        app = load_app(args.app) if args.app else None
    except Exception as exc:  # the command line's UsageError naming the problem
        print(f"wsbench load: error: {exc}", file=sys.stderr)
        return 2
    try:
        if path.suffix != ".py":
            source: Any = Transcript.load(path)
            options = {"conn": args.conn, "match": args.match, "ignore": args.ignore, "think": args.think}
            options["timeout"] = args.timeout
        else:
            source = path
        target: Any = app if app is not None else args.url
        swarm = load(
            source,
            users=args.users,
            spawn_rate=args.spawn_rate,
            run_time=args.run_time,
            target=target,
            workers=args.workers,
            folder=args.folder,
            wait=False,
            **options,
        )
    except (WsbenchError, ValueError, TypeError, OSError) as exc:
        print(f"wsbench load: error: {exc}", file=sys.stderr)
        return 2
    try:
        result = swarm.wait()
    except KeyboardInterrupt:
        print("wsbench load: interrupted; the swarm is stopped", file=sys.stderr)
        return 130
    print(summary_text(result))
    return 1 if result.failed else 0


def summary_text(result: LoadResult) -> str:
    """A plain-text table per step, the failures, and the folder."""
    width = max([len(str(s["name"])) for s in result.steps] + [4])
    lines = [f"{'type':<8} {'step':<{width}} {'requests':>8} {'failures':>8} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)"]
    for s in result.steps:
        lines.append(
            f"{s['type']:<8} {s['name']:<{width}} {s['requests']:>8} {s['failures']:>8} "
            f"{s['p50']:>6} {s['p95']:>6} {s['p99']:>6}"
        )
    lines += [f"failed: {f['type']} {f['name']}: {f['error']} (x{f['occurrences']})" for f in result.failures[:20]]
    lines.append(f"reports: {result.folder}")
    return "\n".join(lines)
