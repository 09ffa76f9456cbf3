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

Run: .venv/bin/python benchmarks/echo_parts.py [--rounds N] [--runs N] [--cpu N] [--modes sync,async]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="round trips per measurement (256 B)")
    parser.add_argument("--runs", type=int, default=16, help="alternating measurements per case")
    parser.add_argument("--cpu", type=int, help="run on this CPU only (see echo.py)")
    parser.add_argument("--modes", default="sync,async", help="sync, async or both")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    bench = echo.make_bench()
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
