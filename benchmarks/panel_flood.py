"""Flood a displayed Panel with messages in a real IPython kernel; count what reaches the front-end.

Each case runs in a fresh kernel (``jupyter_client``), as in JupyterLab: a Bench whose
``/flood`` endpoint sends N messages (a third each text, JSON and bytes) to one client
connection as fast as it can, and a widget displayed in the kernel. What the widgets send
is read where a front-end reads it (a thread in the kernel reads the messages, as a feed's consumer
would: unread, flow control stops the socket at ``max_queue``): every ``comm_msg`` on the kernel's IOPub channel,
counted with its JSON and buffer bytes. While the flood runs, a new cell (``1``) is
executed every 0.1 s and the time to its reply recorded: how long a user would wait.

Cases, each measured in this run:
  * none   the flood with no widget: the baseline for memory and for answering cells
  * Panel  wsbench.widgets.Panel: ring of 300 lines, flushed by a timer at most 10 times/s
  * naive  an ipywidgets.HTML set once per message to the same 300-line ring (same HTML)
           -- the per-message update the design rules out; run at a smaller N, since its
           traffic grows with N x ring size, and compared with the Panel at that same N

Figures are ratios against those baselines; the issue's targets are printed beside them
(<= 10 updates/s per panel, <= 50 MiB growth per 10^6 messages, a cell answered within
200 ms during the flood). Memory is the kernel's RSS (Linux /proc).

Run: .venv/bin/python benchmarks/panel_flood.py [--messages 100000] [--naive-messages 2000]
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

from jupyter_client.manager import start_new_kernel

SETUP = r"""
import json, threading, time
import ipywidgets
import wsbench
from fastapi import WebSocket

# Count what every widget hands to its comm, before ZMQ (IOPub drops messages past its high-water mark).
_sent = {"msgs": 0, "bytes": 0}
_original_send = ipywidgets.Widget._send
def _counting_send(self, msg, buffers=None):
    _sent["msgs"] += 1
    _sent["bytes"] += len(json.dumps(msg)) + sum(len(b) for b in buffers or ())
    return _original_send(self, msg, buffers)
ipywidgets.Widget._send = _counting_send

bench = wsbench.Bench(name="flood")

@bench.websocket("/flood")
async def flood(websocket: WebSocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        for i in range(int(text)):
            if i % 3 == 0:
                await websocket.send_text(f"message {i}")
            elif i % 3 == 1:
                await websocket.send_text(json.dumps({"i": i, "tags": ["a", "b"]}))
            else:
                await websocket.send_bytes(i.to_bytes(4, "big") + b"payload")

# No keepalive pings: behind a long backlog of messages a pong comes late, and the client
# would close the connection with 1011 (keepalive ping timeout) in the middle of a big flood.
conn = bench.connect("/flood", max_size=None, ping_interval=None)

def rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

view = None
def seen():  # how many transcript events the view has taken in
    return len(conn.transcript)
"""

VIEWS = {
    "none": "",
    "Panel": r"""
from wsbench.widgets import Panel
view = Panel(conn)
display(view)
def seen():
    return view.events_seen
def log_model():
    return view.log_view.model_id
def retained():
    return sum(len(line.html) + len(line.text) for line in view._lines) + len(view.log_view.value)
""",
    "naive": r"""
import collections, ipywidgets
from wsbench.widgets._render import LOG_KINDS, log_line

view = ipywidgets.HTML()
display(view)
_state = {"seen": 0}

def _naive():  # once per message: append the line, send the whole ring
    ring, t0 = collections.deque(maxlen=300), None
    while True:
        new = conn.transcript.since(_state["seen"])
        for event in new:
            t0 = t0 or event.time
            if event.side == "client" and event.kind in LOG_KINDS:
                ring.append(log_line(event, t0))
                view.value = "".join(line.html for line in ring)
            _state["seen"] += 1
        if not new:
            time.sleep(0.001)

threading.Thread(target=_naive, daemon=True).start()
def seen():
    return _state["seen"]
def log_model():
    return view.model_id
def retained():
    return len(view.value)
""",
}

FLOOD = r"""
_target = len(conn.transcript) + 2 + 2 * {n}   # our send + its ASGI receive, then a send and a receive per message
_times = {{"start": time.perf_counter()}}
_sent.update(msgs=0, bytes=0)
def _watch():
    while len(conn.transcript) < _target:
        time.sleep(0.005)
    _times["flood"] = time.perf_counter() - _times["start"]
    while seen() < _target:
        time.sleep(0.005)
    _times["caught_up"] = time.perf_counter() - _times["start"]
threading.Thread(target=_watch, daemon=True).start()
# A reader, as a feed's consumer would be: unread, the inbox stops the socket at max_queue (flow control).
threading.Thread(target=lambda: sum(1 for _ in conn.iter_messages(limit={n}, timeout=600)), daemon=True).start()
conn.send_text("{n}")
"""


@dataclass
class IOPub:
    """Reads the kernel's IOPub channel in a thread, counting comm messages per model."""

    kc: Any
    counting: bool = False
    messages: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # comm id -> (time, bytes)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                msg = self.kc.iopub_channel.get_msg(timeout=0.1)
            except Empty:
                continue
            if msg["msg_type"] == "comm_msg" and self.counting:
                size = len(json.dumps(msg["content"])) + sum(len(b) for b in msg.get("buffers") or ())
                self.messages.setdefault(msg["content"]["comm_id"], []).append((time.perf_counter(), size))

    def total(self) -> tuple[int, int]:
        return sum(len(v) for v in self.messages.values()), sum(s for v in self.messages.values() for _, s in v)


def execute(kc: Any, code: str, expressions: dict[str, str] | None = None, timeout: float = 120) -> dict[str, Any]:
    """Run *code* in the kernel; return the user expressions, evaluated (raises on an error)."""
    msg_id = kc.execute(code, user_expressions=expressions or {}, silent=False, store_history=False)
    deadline = time.monotonic() + timeout
    while True:
        reply = kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.01))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    content = reply["content"]
    if content["status"] != "ok":
        raise RuntimeError(f"kernel: {content.get('ename')}: {content.get('evalue')}")
    values = {}
    for name, result in content["user_expressions"].items():
        if result["status"] != "ok":
            raise RuntimeError(f"kernel expression {name}: {result.get('ename')}: {result.get('evalue')}")
        values[name] = ast.literal_eval(result["data"]["text/plain"])
    return values


@dataclass
class Result:
    case: str
    n: int
    flood_s: float
    caught_up_s: float
    sent_msgs: int
    sent_bytes: int
    comm_msgs: int
    comm_bytes: int
    log_msgs: int
    max_per_second: int
    rss_growth_mib: float
    retained_bytes: int
    answer_ms: list[float]
    after_ms: dict[str, float] = field(default_factory=dict)  # what a cell does after the flood -> slowest answer


#: Cells run after the flood (each a few times; the slowest answer is kept): what a user types next.
AFTER = {
    "1": "1",
    "len(conn.transcript)": "len(conn.transcript)",
    "conn.transcript (summary shown)": "conn.transcript",
    "a new Panel(conn) shown": (
        "from wsbench.widgets import Panel as _P; _p = _P(conn); _p.flush(); display(_p); _p.close()"
    ),
}


def measure(case: str, n: int, timeout: float, verbose: bool = False) -> Result:
    """One case in a fresh kernel."""
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    iopub = IOPub(kc)
    reader = threading.Thread(target=iopub.run, daemon=True)
    reader.start()
    try:
        execute(kc, SETUP)
        execute(kc, VIEWS[case])
        time.sleep(0.5)  # let the widgets' first messages go by
        before = execute(kc, "import gc; gc.collect()", {"rss": "rss_mib()"})["rss"]
        iopub.counting = True
        execute(kc, FLOOD.format(n=n))
        answers = []
        began = time.monotonic()
        deadline = began + timeout
        while True:
            start = time.perf_counter()
            probe = execute(
                kc, "1", {"done": "'caught_up' in _times", "events": "len(conn.transcript)", "state": "repr(conn)"}
            )
            answers.append((time.perf_counter() - start) * 1000)
            done = probe["done"]
            if not done and "closed" in probe["state"]:
                raise RuntimeError(f"{case}: the connection closed during the flood: {probe['state']}")
            if verbose and len(answers) % 50 == 0:
                print(f"  {time.monotonic() - began:5.0f} s: {probe['events']:,} events", flush=True)
            if done:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{case}: not caught up after {timeout} s")
            time.sleep(0.05)
        time.sleep(0.5)  # the last flush
        iopub.counting = False
        end = execute(kc, "gc.collect()", {"rss": "rss_mib()", "times": "_times", "sent": "dict(_sent)"})
        extra = execute(kc, "", {"model": "log_model()", "retained": "retained()"}) if case != "none" else {}
        msgs, size = iopub.total()
        after = {}
        for label, code in AFTER.items():
            took = []
            for _ in range(3):
                start = time.perf_counter()
                execute(kc, code)
                took.append((time.perf_counter() - start) * 1000)
            after[label] = max(took)
        log = iopub.messages.get(extra.get("model", ""), [])
        stamps = [t for t, _ in log]
        per_second = max((sum(1 for u in stamps if t <= u < t + 1.0) for t in stamps), default=0)
        return Result(
            case,
            n,
            end["times"]["flood"],
            end["times"]["caught_up"],
            end["sent"]["msgs"],
            end["sent"]["bytes"],
            msgs,
            size,
            len(log),
            per_second,
            end["rss"] - before,
            extra.get("retained", 0),
            answers,
            after,
        )
    finally:
        iopub.stop.set()
        reader.join(2)
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _ratio(ours: float, base: float) -> str:
    return f"{ours / base:.3g}x" if base else "-"


def report(none: Result, panel: Result, naive: Result, panel_small: Result) -> None:
    def answers(r: Result) -> str:
        ms = sorted(r.answer_ms)
        return f"{statistics.median(ms):.0f}/{ms[int(len(ms) * 0.95)]:.0f}/{ms[-1]:.0f}"

    n = panel.n
    print(f"\nflood of {n:,} messages (1/3 text, 1/3 JSON, 1/3 bytes) into one connection, real kernel\n")
    print(f"{'':<40}{'none':>14}{'Panel':>14}{'Panel/none':>12}   target")
    print(
        f"{'flood time, endpoint to transcript (s)':<40}{none.flood_s:>14.2f}{panel.flood_s:>14.2f}"
        f"{_ratio(panel.flood_s, none.flood_s):>12}"
    )
    print(f"{'panel caught up after (s)':<40}{'':>14}{panel.caught_up_s:>14.2f}")
    print(f"{'comm messages sent by the widgets':<40}{none.sent_msgs:>14,}{panel.sent_msgs:>14,}")
    print(f"{'comm bytes sent by the widgets':<40}{none.sent_bytes:>14,}{panel.sent_bytes:>14,}")
    print(f"{'comm messages received on IOPub':<40}{none.comm_msgs:>14,}{panel.comm_msgs:>14,}")
    print(f"{'  of which log updates':<40}{'':>14}{panel.log_msgs:>14,}")
    print(f"{'comm bytes received on IOPub':<40}{none.comm_bytes:>14,}{panel.comm_bytes:>14,}")
    rate = panel.log_msgs / panel.caught_up_s
    print(
        f"{'log updates/s (mean | busiest second)':<40}{'':>14}{f'{rate:.1f} | {panel.max_per_second}':>14}"
        f"{'':>12}   <= 10"
    )
    print(f"{'messages per log update':<40}{'':>14}{n / max(panel.log_msgs, 1):>14,.0f}")
    print(
        f"{'kernel RSS growth (MiB)':<40}{none.rss_growth_mib:>14.1f}{panel.rss_growth_mib:>14.1f}"
        f"{_ratio(panel.rss_growth_mib, none.rss_growth_mib):>12}"
    )
    own = panel.rss_growth_mib - none.rss_growth_mib
    print(f"{'  the Panel own (Panel - none), per 10^6':<40}{'':>14}{own * 1e6 / n:>14.1f}{'':>12}   <= 50 MiB")
    print(f"{'  retained by the Panel (ring + value, B)':<40}{'':>14}{panel.retained_bytes:>14,}")
    print(
        f"{'a new cell answered in (ms) med/p95/max':<40}{answers(none):>14}{answers(panel):>14}"
        f"{_ratio(max(panel.answer_ms), max(none.answer_ms)):>12}   max <= 200"
    )
    print(f"{'  cells run during the flood':<40}{len(none.answer_ms):>14}{len(panel.answer_ms):>14}")
    print("after the flood, a cell answered in (ms, slowest of 3):")
    for label in AFTER:
        ms_none, ms_panel = none.after_ms[label], panel.after_ms[label]
        print(f"{'  ' + label:<40}{ms_none:>14.0f}{ms_panel:>14.0f}{_ratio(ms_panel, ms_none):>12}   <= 200")

    m = naive.n
    print(f"\nsame {m:,}-message flood: the Panel against a naive per-message update of the same 300-line HTML\n")
    print(f"{'':<40}{'naive':>14}{'Panel':>14}{'Panel/naive':>12}")
    rows = (
        ("comm messages sent by the widgets", naive.sent_msgs, panel_small.sent_msgs, ","),
        ("comm bytes sent by the widgets", naive.sent_bytes, panel_small.sent_bytes, ","),
        ("comm messages received on IOPub", naive.comm_msgs, panel_small.comm_msgs, ","),
        ("comm bytes received on IOPub", naive.comm_bytes, panel_small.comm_bytes, ","),
        ("view caught up after (s)", naive.caught_up_s, panel_small.caught_up_s, ".2f"),
        ("a new cell answered in, max (ms)", max(naive.answer_ms), max(panel_small.answer_ms), ".0f"),
        ("kernel RSS growth (MiB)", naive.rss_growth_mib, panel_small.rss_growth_mib, ".1f"),
    )
    for label, base, ours, fmt in rows:
        print(f"{label:<40}{base:>14{fmt}}{ours:>14{fmt}}{_ratio(ours, base):>12}")
    print(
        f"{'log updates/s (busiest second)':<40}{naive.max_per_second:>14}{panel_small.max_per_second:>14}"
        f"{_ratio(panel_small.max_per_second, naive.max_per_second):>12}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages in the main flood")
    parser.add_argument("--naive-messages", type=int, default=2_000, help="messages in the naive comparison")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per case")
    parser.add_argument("--verbose", action="store_true", help="print progress during each flood")
    args = parser.parse_args()
    results = []
    for case, n in (
        ("none", args.messages),
        ("Panel", args.messages),
        ("naive", args.naive_messages),
        ("Panel", args.naive_messages),
    ):
        print(f"measuring {case} with {n:,} messages ...", flush=True)
        results.append(measure(case, n, args.timeout, args.verbose))
    report(*results)


if __name__ == "__main__":
    main()
