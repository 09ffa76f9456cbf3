"""Push receive: wsbench against the raw ``websockets`` sync client, alternating in one process.

One Bench endpoint pushes N text messages of 64 B and closes; each client reads them all
(wsbench with ``iter_text``, the raw client with ``recv()``), both sides recorded by the Bench
as in :mod:`benchmarks.recording`. The two clients alternate *runs* times on the same Bench, so
background load hits both alike; printed are the medians of the per-pair ratios, wall clock and
CPU time of this process (client and server share it; other processes' load changes CPU time
far less). Target (issue 23): >= 0.90x. ``recording.py`` measures the same in separate processes
(for memory); this one is the ratio to quote.

Run: .venv/bin/python benchmarks/push.py [--messages 50000] [--runs 9] [--cpu N]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable

from fastapi import WebSocket
from websockets.sync.client import connect as raw_connect

import wsbench


def make_bench() -> wsbench.Bench:
    bench = wsbench.Bench(name="push")

    @bench.websocket("/push")
    async def push(websocket: WebSocket, n: int) -> None:
        await websocket.accept()
        payload = "x" * 64
        for _ in range(n):
            await websocket.send_text(payload)
        await websocket.close()

    return bench


def raw(bench: wsbench.Bench, n: int) -> int:
    got = 0
    with raw_connect(f"{bench.url}/push?n={n}", max_size=None, ping_interval=None) as ws:
        for _ in range(n):
            ws.recv()
            got += 1
    return got


def ours(bench: wsbench.Bench, n: int) -> int:
    got = 0
    with bench.connect(f"/push?n={n}", ping_interval=None) as conn:
        for _ in conn.iter_text(limit=n, timeout=120):
            got += 1
    return got


def measure(read: Callable[[wsbench.Bench, int], int], bench: wsbench.Bench, n: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to receive *n* messages, from a collected heap (see echo.py)."""
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    got = read(bench, n)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if got != n:
        raise SystemExit(f"{read.__name__} received {got} of {n} messages")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000, help="messages pushed per measurement (64 B)")
    parser.add_argument("--runs", type=int, default=9, help="alternating measurements per client")
    parser.add_argument("--cpu", type=int, help="run on this CPU only (see echo.py)")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    bench = make_bench()
    measure(raw, bench, 1000)  # warm up both paths (imports, first connection)
    measure(ours, bench, 1000)
    walls, cpus = [], []
    for run in range(args.runs):  # each pair in the other order than the one before
        n = args.messages
        if run % 2:
            (our_wall, our_cpu), (raw_wall, raw_cpu) = measure(ours, bench, n), measure(raw, bench, n)
        else:
            (raw_wall, raw_cpu), (our_wall, our_cpu) = measure(raw, bench, n), measure(ours, bench, n)
        walls.append(raw_wall / our_wall)
        cpus.append(raw_cpu / our_cpu)
    bench.stop()
    print(f"push receive, {args.messages:,} messages of 64 B, {args.runs} alternating pairs in one process")
    print(f"  wsbench / raw websockets.sync, wall clock: median {statistics.median(walls):.2f}x", end="")
    print(f"  ({' '.join(f'{r:.2f}' for r in sorted(walls))})")
    print(f"  wsbench / raw websockets.sync, CPU time:   median {statistics.median(cpus):.2f}x", end="")
    print(f"  ({' '.join(f'{r:.2f}' for r in sorted(cpus))})  target >= 0.90")


if __name__ == "__main__":
    main()
