"""Where the echo's gap to the raw client goes: benchmarks/echo.py's 256 B case with parts of the
client's recording cut out, each against the raw client in the same run.

A diagnostic, not a target: it swaps wsbench internals for the length of one case (so it reaches
into private names, and may need mending when they change). Cases, each a ratio of CPU time per
round trip, raw client / wsbench, median of alternating pairs (as echo.py's "cpu" column):
  * as shipped: the client records its send and its receive in the bench's log;
  * spill not written: the log drops what it would write to its disk spool (the server's events
    too, so the baseline also gets faster);
  * kept in a bare list: the client's two events go into a list trimmed as the log would be,
    instead of the log (no lock, no sequence number, no spill);
  * not recorded: the client records nothing.

With ``--threads`` (Linux: it reads /proc), the sync client's cases instead say where the time
goes: each thread's CPU time per round trip (the caller, websockets' reader, the bench's server
loop) and how often a round trip put it to sleep (voluntary switches: waiting for data, a lock or
the GIL) or took the CPU from it (involuntary), for the raw client and wsbench one after the other.

Run: .venv/bin/python benchmarks/echo_parts.py [--rounds N] [--runs N] [--cpu N] [--modes sync,async] [--threads]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import echo

import wsbench.client.base as client_base
import wsbench.client.connection as client_connection
from wsbench.transcript import spool


@contextlib.contextmanager
def client_recording(record: Callable[..., None]) -> Iterator[None]:
    """The client's connections record messages with *record* instead of the log's record_message."""
    saved = client_base.record_message, client_connection.record_message
    client_base.record_message = client_connection.record_message = record
    try:
        yield
    finally:
        client_base.record_message, client_connection.record_message = saved


@contextlib.contextmanager
def spill_not_written() -> Iterator[None]:
    saved = spool.EventLog.append
    spool.EventLog.append = lambda self, events, same_as=None: []  # type: ignore[method-assign]
    try:
        yield
    finally:
        spool.EventLog.append = saved  # type: ignore[method-assign]


def bare_list() -> Callable[..., None]:
    kept: list[tuple[Any, ...]] = []
    now = time.time

    def record(transcript: Any, side: str, kind: str, conn: int, data: Any, name: str | None) -> None:
        kept.append((0, now(), side, kind, conn, data, None, None, None, None, None, None, None, name, None, None))
        if len(kept) >= 10_000:  # what the log keeps in memory before it spills half
            del kept[:5_000]

    return record


def not_recorded(*args: Any) -> None:
    return None


CASES: dict[str, Callable[[], Any]] = {
    "as shipped": contextlib.nullcontext,
    "spill not written": spill_not_written,
    "kept in a bare list": lambda: client_recording(bare_list()),
    "not recorded": lambda: client_recording(not_recorded),
}


def thread_counters() -> dict[int, tuple[int, int, int]]:
    """Each thread of this process: (CPU ns, voluntary, involuntary context switches), from /proc."""
    found = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as stat:
                cpu = int(stat.read().split()[0])
            with open(f"/proc/self/task/{tid}/status") as status:
                switches = dict(line.split(":") for line in status if "ctxt_switches" in line)
        except FileNotFoundError:  # it ended meanwhile
            continue
        found[int(tid)] = (cpu, int(switches["voluntary_ctxt_switches"]), int(switches["nonvoluntary_ctxt_switches"]))
    return found


def per_thread(round_trip: Callable[[], Any], n: int) -> dict[str, tuple[float, float, float]]:
    """Run *round_trip* *n* times (after 200 to warm up): per thread role ("caller", "server",
    "reader": the others), its CPU µs and voluntary and involuntary switches per round trip."""
    for _ in range(200):
        round_trip()
    before = thread_counters()
    for _ in range(n):
        round_trip()
    after = thread_counters()
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    roles: dict[str, list[float]] = {}
    for tid, (cpu, voluntary, involuntary) in after.items():
        if tid not in before:
            continue
        name = names.get(tid, "")
        role = "caller" if tid == threading.main_thread().native_id else "server" if "loop" in name else "reader"
        old = before[tid]
        costs = roles.setdefault(role, [0.0, 0.0, 0.0])
        costs[0] += (cpu - old[0]) / n / 1000
        costs[1] += (voluntary - old[1]) / n
        costs[2] += (involuntary - old[2]) / n
    return {role: (costs[0], costs[1], costs[2]) for role, costs in roles.items()}


def show_threads(bench: Any, payload: str, n: int, runs: int) -> None:
    """The sync client's cases, raw and wsbench alternately *runs* times each: the median per thread role."""
    url = bench.url + "/echo"

    def raw() -> dict[str, tuple[float, float, float]]:
        with echo.raw_connect(url, max_size=None) as ws:
            return per_thread(lambda: (ws.send(payload), ws.recv()), n)

    def ours() -> dict[str, tuple[float, float, float]]:
        with bench.connect("/echo", max_size=None) as conn:
            return per_thread(lambda: (conn.send_text(payload), conn.receive_text()), n)

    print(
        f"{'sync, 256 B echo':<28}{'client':<9}"
        + "".join(f"{role + ' µs/vol/invol':>25}" for role in ROLES)
        + "   total"
    )
    for case, patched in CASES.items():
        with patched():
            measured: dict[str, list[dict[str, tuple[float, float, float]]]] = {"raw": [], "wsbench": []}
            for _ in range(runs):
                measured["raw"].append(raw())
                measured["wsbench"].append(ours())
        for client, rows in measured.items():
            medians = {
                role: tuple(statistics.median(row.get(role, (0, 0, 0))[k] for row in rows) for k in range(3))
                for role in ROLES
            }
            cells = "".join(f"{c:>13.1f}{v:>6.2f}{i:>6.2f}" for c, v, i in medians.values())
            print(f"{case:<28}{client:<9}{cells}{sum(c for c, _, _ in medians.values()):>8.1f}", flush=True)


ROLES = ("caller", "reader", "server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="round trips per measurement (256 B)")
    parser.add_argument("--runs", type=int, default=16, help="alternating measurements per case")
    parser.add_argument("--cpu", type=int, help="run on this CPU only (see echo.py)")
    parser.add_argument("--modes", default="sync,async", help="sync, async or both")
    parser.add_argument("--threads", action="store_true", help="per thread CPU and switches, sync client (Linux)")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    bench = echo.make_bench()
    if args.threads:
        show_threads(bench, "x" * 256, args.rounds, max(args.runs // 4, 1))
        bench.stop()
        return
    url, payload, n = bench.url + "/echo", "x" * 256, args.rounds
    clients = {
        "sync": (lambda: echo.raw_sync(url, payload, n), lambda: echo.wsbench_sync(bench, payload, n)),
        "async": (
            lambda: asyncio.run(echo.raw_async(url, payload, n)),
            lambda: asyncio.run(echo.wsbench_async(bench, payload, n)),
        ),
    }
    print(f"{'case (256 B echo)':<34}{'rate':>8}{'cpu':>6}")
    for mode in args.modes.split(","):
        raw, ours = clients[mode]
        for case, patched in CASES.items():
            with patched():
                raw(), ours()  # warm up this case's code
                _, _, rate, cpu = echo.paired(args.runs, raw, ours)
            print(f"{mode + ', ' + case:<34}{rate:>8.3f}{cpu:>6.3f}", flush=True)
    bench.stop()


if __name__ == "__main__":
    main()
