"""Load: 1,000 concurrent connections to the embedded server and 10^6 sequence-numbered messages.

The test is bounded (a hard timeout around the whole run, a limit on every loop) and
prints what it measured: connect time, messages per second, and memory per connection
and per message (RSS of this process, which holds both the server and the clients).
The longer, configurable soak with a baseline is ``benchmarks/soak.py``.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Iterator

import pytest
from conftest import TIMEOUT_SCALE
from fastapi import WebSocket

import wsbench

CONNECTIONS = 1_000
MESSAGES = 1_000_000  # in total, MESSAGES // CONNECTIONS per connection
#: A bound against a hang, not a speed check (benchmarks/soak.py measures speed): the whole run took
#: ~30 s on the 2-core machine on a quiet day and 75-90 s on 2026-11-30, when everything ran about
#: three times slower there (the benchmarks' baselines too), and 90 s failed a CI run.
HARD_TIMEOUT = 240.0 * TIMEOUT_SCALE
NEEDED_FDS = 2 * CONNECTIONS + 512  # both ends of every connection live in this process


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def enough_fds() -> Iterator[None]:
    """Raise the soft file descriptor limit for the test, if it is below what 1,000 connections need."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < NEEDED_FDS:
        if hard != resource.RLIM_INFINITY and hard < NEEDED_FDS:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {NEEDED_FDS} needed for {CONNECTIONS} connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (NEEDED_FDS, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_1000_connections_and_a_million_messages_arrive_once_in_order(make_bench, enough_fds):
    """1,000 concurrent aconnect() connections receive 10^6 numbered messages: none lost, duplicated,
    reordered or misrouted. (compression=False: permessage-deflate halves throughput and changes
    nothing being checked here; the soak can turn it on.)"""
    bench = make_bench(endpoints=False)
    per_connection = MESSAGES // CONNECTIONS
    running = peak = 0

    @bench.websocket("/numbers")
    async def numbers(websocket: WebSocket, c: int, n: int) -> None:
        nonlocal running, peak
        await websocket.accept()
        running += 1
        peak = max(peak, running)
        try:
            assert await websocket.receive_text() == "go"
            for i in range(n):
                await websocket.send_text(f"{c} {i}")
            await websocket.close(1000)
        finally:
            running -= 1

    async def main() -> dict[str, float]:
        before = rss()
        start = time.perf_counter()
        conns = await asyncio.gather(
            *(
                bench.aconnect(f"/numbers?c={c}&n={per_connection}", compression=False, ping_interval=None)
                for c in range(CONNECTIONS)
            )
        )
        connected = time.perf_counter()
        opened = rss()

        async def drive(c: int, conn: wsbench.Connection) -> list[str]:
            await conn.asend_text("go")
            # limit one past the count: a duplicate would show, and the loop stays bounded; on a loaded
            # machine one connection can wait long for its turn, so only the overall bound applies
            return [m async for m in conn.aiter_text(limit=per_connection + 1, timeout=HARD_TIMEOUT)]

        received = await asyncio.gather(*(drive(c, conn) for c, conn in enumerate(conns)))
        done = time.perf_counter()
        after = rss()
        for c, (conn, got) in enumerate(zip(conns, received, strict=True)):
            assert got == [f"{c} {i}" for i in range(per_connection)], f"connection {c}"
            assert conn.close_code == 1000
        return {
            "connect_s": connected - start,
            "messages": sum(map(len, received)),
            "messages_s": done - connected,
            "per_connection": (opened - before) / CONNECTIONS,
            "per_message": (after - opened) / MESSAGES,
        }

    figures = asyncio.run(asyncio.wait_for(main(), HARD_TIMEOUT))
    bench.wait_idle(timeout=30)
    assert peak == CONNECTIONS
    assert figures["messages"] == MESSAGES
    assert not [e for e in bench.transcript if e.kind in ("exception", "send failed")]
    print(
        f"\n{CONNECTIONS} connections opened in {figures['connect_s']:.2f} s; "
        f"{MESSAGES} messages in {figures['messages_s']:.2f} s = {MESSAGES / figures['messages_s']:,.0f} msg/s; "
        f"memory {figures['per_connection'] / 1024:.1f} KiB per connection (both ends), "
        f"{figures['per_message']:.0f} B per message kept in transcripts"
    )
