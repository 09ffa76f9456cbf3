"""Echo round trips/s: wsbench against the raw ``websockets`` clients, on one embedded server.

Prints ratios against baselines measured in the same run, alternating the two so that
background load hits both alike (ratio = median of the per-pair ratios; "cpu" = the median
ratio of this process's CPU time per round trip, baseline / wsbench, which other processes'
load on a shared machine changes far less than the rates):
  * wsbench sync  vs websockets.sync.client     (target >= 0.95x, issue 23)
  * wsbench async vs websockets.asyncio.client  (target >= 0.95x)
  * Bench() to first accepted connection vs `python -m uvicorn` in a subprocess (target <= 0.2 s)

Run: make bench  (or .venv/bin/python benchmarks/echo.py [--rounds N] [--runs N] [--cpu N])
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from fastapi import WebSocket
from websockets.asyncio.client import connect as raw_aconnect
from websockets.sync.client import connect as raw_connect

import wsbench


def make_bench() -> wsbench.Bench:
    bench = wsbench.Bench(name="benchmark")

    @bench.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])

    return bench


def raw_sync(url: str, payload: str, n: int) -> float:
    with raw_connect(url, max_size=None) as ws:
        start = time.perf_counter()
        for _ in range(n):
            ws.send(payload)
            ws.recv()
        return n / (time.perf_counter() - start)


def wsbench_sync(bench: wsbench.Bench, payload: str, n: int) -> float:
    with bench.connect("/echo", max_size=None) as conn:
        start = time.perf_counter()
        for _ in range(n):
            conn.send_text(payload)
            conn.receive_text()
        return n / (time.perf_counter() - start)


async def raw_async(url: str, payload: str, n: int) -> float:
    async with raw_aconnect(url, max_size=None) as ws:
        start = time.perf_counter()
        for _ in range(n):
            await ws.send(payload)
            await ws.recv()
        return n / (time.perf_counter() - start)


async def wsbench_async(bench: wsbench.Bench, payload: str, n: int) -> float:
    async with await bench.aconnect("/echo", max_size=None) as conn:
        start = time.perf_counter()
        for _ in range(n):
            await conn.asend_text(payload)
            await conn.areceive_text()
        return n / (time.perf_counter() - start)


def timed(measure) -> tuple[float, float]:
    """(round trips/s, CPU seconds of this process) of one measurement, from a collected heap: a full
    collection (20-30 ms here) falls inside a measurement by what the ones before left, not by chance."""
    gc.collect()
    start = time.process_time()
    rate = measure()
    return rate, time.process_time() - start


def paired(runs: int, baseline, ours) -> tuple[float, float, float, float]:
    """Measure baseline and wsbench alternately *runs* times, each pair in the other order than the
    one before (what runs second in a pair may pay for what the first left, a collection say);
    return the best of each, the median of the per-pair ratios (alternating keeps background noise
    out of the ratio) and the median ratio of CPU time per round trip (what other processes' load
    changes least)."""
    pairs, cpu = [], []
    for run in range(runs):
        if run % 2:
            (o, o_cpu), (b, b_cpu) = timed(ours), timed(baseline)
        else:
            (b, b_cpu), (o, o_cpu) = timed(baseline), timed(ours)
        pairs.append((b, o))
        cpu.append(b_cpu / o_cpu)  # CPU seconds per round trip (same count): baseline / ours
    ratios, cpu = sorted(o / b for b, o in pairs), sorted(cpu)
    return max(b for b, _ in pairs), max(o for _, o in pairs), ratios[len(ratios) // 2], cpu[len(cpu) // 2]


def show(name: str, figures: tuple[float, float, float, float]) -> None:
    baseline, ours, ratio, cpu = figures
    print(f"{name:<34}{baseline:>12.0f}{ours:>12.0f}{ratio:>8.2f}{cpu:>6.2f}  >= 0.95")


def start_times(runs: int) -> tuple[float, float]:
    """Seconds from asking for a server to its first accepted WebSocket, best of *runs*."""
    embedded, subprocess_ = [], []
    app = Path(__file__).with_name("_echo_app.py")
    for _ in range(runs):
        start = time.perf_counter()
        bench = make_bench()
        with bench.connect("/echo"):
            embedded.append(time.perf_counter() - start)
        bench.stop()

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        start = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(app.parent),
                "_echo_app:app",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--log-level",
                "warning",
            ],
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with raw_connect(f"ws://127.0.0.1:{port}/echo", open_timeout=1):
                        break
                except OSError:
                    time.sleep(0.005)
            subprocess_.append(time.perf_counter() - start)
        finally:
            proc.terminate()
            proc.wait(10)
    return min(embedded), min(subprocess_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000, help="round trips per measurement (256 B)")
    parser.add_argument("--runs", type=int, default=15, help="alternating measurements per client")
    parser.add_argument(
        "--cpu",
        type=int,
        help="run on this CPU only: client, server and reader threads share one core, with far less noise "
        "than when the scheduler moves them between cores (a different figure: see benchmarks/README.md)",
    )
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    bench = make_bench()
    url = bench.url + "/echo"
    print(f"{'case':<34}{'baseline/s':>12}{'wsbench/s':>12}{'ratio':>8}{'cpu':>6}  target")
    cases = (("256 B", "x" * 256, args.rounds), ("64 KiB", "x" * 65536, max(args.rounds // 10, 50)))
    for label, payload, n in cases:
        sync = paired(
            args.runs,
            lambda payload=payload, n=n: raw_sync(url, payload, n),
            lambda payload=payload, n=n: wsbench_sync(bench, payload, n),
        )
        show("sync  " + label + " vs websockets.sync", sync)
        asynchronous = paired(
            args.runs,
            lambda payload=payload, n=n: asyncio.run(raw_async(url, payload, n)),
            lambda payload=payload, n=n: asyncio.run(wsbench_async(bench, payload, n)),
        )
        show("async " + label + " vs websockets.asyncio", asynchronous)
    bench.stop()
    embedded, external = start_times(3)
    name = "start to first accept (s)"
    print(f"{name:<34}{external:>12.3f}{embedded:>12.3f}{embedded / external:>8.2f}  wsbench <= 0.2 s")


if __name__ == "__main__":
    main()
