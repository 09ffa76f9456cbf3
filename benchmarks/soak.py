"""Soak: many concurrent connections and many sequence-numbered messages, against baselines.

Every round runs the same load three ways, each in a fresh subprocess (so that memory
figures do not inherit another variant's heap), alternating so background load hits all
alike:
  * wsbench  wsbench.Bench + ``bench.aconnect`` clients: both sides recorded
  * client   the same Bench, raw ``websockets.asyncio.client`` clients: the wsbench client removed
  * plain    plain uvicorn (same app, no wsbench recorder) + raw clients: no wsbench at all

Each connection's endpoint waits for "go", sends ``"<connection> <i>"`` for i = 0 .. n-1 and
closes with 1000; each client checks that it got every message once and in order.
Printed: throughput (messages/s), memory per connection (RSS delta after opening, both ends
in one process) and memory per message (RSS delta after the messages: what transcripts
keep), each as a ratio against the baselines of the same round (median over rounds).

Run:  .venv/bin/python benchmarks/soak.py [--connections 1000] [--messages 1000000]
          [--duration SECONDS] [--rounds N] [--compression]
(tests/test_load.py is the bounded version that runs in CI.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from fastapi import FastAPI, WebSocket

VARIANTS = ("plain", "client", "wsbench")
CHILD_TIMEOUT = 900.0  # seconds for one variant's run, however large the load


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_app() -> FastAPI:
    app = FastAPI()

    @app.websocket("/numbers")
    async def numbers(websocket: WebSocket, c: int, n: int) -> None:
        await websocket.accept()
        if await websocket.receive_text() != "go":
            await websocket.close(4000, "expected go")
            return
        for i in range(n):
            await websocket.send_text(f"{c} {i}")
        await websocket.close(1000)

    return app


def start_plain_uvicorn(app: Any) -> tuple[str, Any, threading.Thread]:
    """uvicorn on 127.0.0.1 in a thread with the stdlib asyncio loop, as Bench runs it."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, loop="asyncio", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("plain uvicorn did not start")
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"ws://127.0.0.1:{port}", server, thread


def check(c: int, got: list[str], n: int) -> dict[str, int]:
    """Count what went wrong on one connection: lost, duplicated, reordered (or foreign) messages."""
    expected = [f"{c} {i}" for i in range(n)]
    if got == expected:
        return {"lost": 0, "duplicated": 0, "reordered": 0}
    seen = set(got)
    return {
        "lost": sum(m not in seen for m in expected),
        "duplicated": len(got) - len(seen),
        "reordered": sum(a != b for a, b in zip(got, expected, strict=False)),  # positions that differ
    }


async def load(variant: str, connections: int, per_connection: int, compression: bool) -> dict[str, Any]:
    from websockets.asyncio.client import connect as raw_connect

    import wsbench

    bench = server = thread = None
    if variant == "plain":
        url, server, thread = start_plain_uvicorn(make_app())
    else:
        bench = wsbench.Bench(app=make_app(), name="soak")
        url = bench.url
    options = {"ping_interval": None, "compression": "deflate" if compression else None}

    async def open_one(c: int) -> Any:
        path = f"/numbers?c={c}&n={per_connection}"
        if variant == "wsbench":
            return await bench.aconnect(path, compression=compression, ping_interval=None)
        return await raw_connect(url + path, **options)

    async def drive(c: int, conn: Any) -> list[str]:
        if variant == "wsbench":
            await conn.asend_text("go")
            return [m async for m in conn.aiter_text(limit=per_connection + 1, timeout=60)]
        await conn.send("go")
        got = []
        async for message in conn:  # ends quietly on the server's 1000
            got.append(message)
            if len(got) > per_connection:
                break
        return got

    try:
        before = rss()
        start = time.perf_counter()
        conns = await asyncio.gather(*(open_one(c) for c in range(connections)))
        connected = time.perf_counter()
        opened = rss()
        received = await asyncio.gather(*(drive(c, conn) for c, conn in enumerate(conns)))
        done = time.perf_counter()
        after = rss()
        errors = {"lost": 0, "duplicated": 0, "reordered": 0}
        for c, got in enumerate(received):
            for key, count in check(c, got, per_connection).items():
                errors[key] += count
        messages = sum(map(len, received))
        closes = [conn.close_code for conn in conns]
        return {
            "variant": variant,
            "connections": connections,
            "messages": messages,
            "connect_s": connected - start,
            "messages_s": done - connected,
            "throughput": messages / (done - connected),
            "per_connection": (opened - before) / connections,
            "per_message": (after - opened) / max(messages, 1),
            "not_1000": sum(code != 1000 for code in closes),
            **errors,
        }
    finally:
        if bench is not None:
            bench.stop()
        if server is not None:
            server.should_exit = True
            thread.join(10)


def child(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * args.connections + 512
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (min(needed, hard) if hard != resource.RLIM_INFINITY else needed, hard)
        )
    per_connection = args.messages // args.connections
    result = asyncio.run(
        asyncio.wait_for(load(args.child, args.connections, per_connection, args.compression), CHILD_TIMEOUT)
    )
    print(json.dumps(result))


def run_child(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", variant, "--connections", str(args.connections)]
    command += ["--messages", str(args.messages)] + (["--compression"] if args.compression else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT + 60, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1_000)
    parser.add_argument("--messages", type=int, default=1_000_000, help="in total, split evenly over the connections")
    parser.add_argument("--duration", type=float, default=0.0, help="keep running rounds for this many seconds")
    parser.add_argument("--rounds", type=int, default=1, help="at least this many rounds")
    parser.add_argument("--max-rounds", type=int, default=50)
    parser.add_argument("--compression", action="store_true", help="permessage-deflate on every connection")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    print(
        f"{args.connections} connections, {args.messages // args.connections * args.connections:,} messages per run, "
        f"compression {'on' if args.compression else 'off'}"
    )
    print(f"{'round':>5} {'variant':<8} {'connect s':>9} {'msg/s':>9} {'KiB/conn':>9} {'B/msg':>7} {'errors':>6}")
    rounds: list[dict[str, dict[str, Any]]] = []
    start = time.monotonic()
    while len(rounds) < args.max_rounds and (len(rounds) < args.rounds or time.monotonic() - start < args.duration):
        results = {}
        order = VARIANTS if len(rounds) % 2 == 0 else tuple(reversed(VARIANTS))
        for variant in order:
            r = results[variant] = run_child(variant, args)
            errors = r["lost"] + r["duplicated"] + r["reordered"] + r["not_1000"]
            print(
                f"{len(rounds) + 1:>5} {variant:<8} {r['connect_s']:>9.2f} {r['throughput']:>9,.0f} "
                f"{r['per_connection'] / 1024:>9.1f} {r['per_message']:>7.0f} {errors:>6}"
            )
            if errors:
                raise SystemExit(f"{variant}: {r}")
        rounds.append(results)

    def median(key: str, a: str, b: str) -> float:
        return statistics.median(r[a][key] / r[b][key] if r[b][key] > 0 else float("nan") for r in rounds)

    print(f"\nmedian over {len(rounds)} round(s), wsbench against each baseline:")
    for baseline in ("client", "plain"):
        print(
            f"  vs {baseline:<6}  throughput {median('throughput', 'wsbench', baseline):.2f}x   "
            f"memory/connection {median('per_connection', 'wsbench', baseline):.2f}x   "
            f"memory/message {median('per_message', 'wsbench', baseline):.2f}x"
        )
    print(
        "  (memory/message: every variant keeps the received lists; client adds the bench's server-side\n"
        "   transcript, wsbench both sides' transcripts, which keep every message by design)"
    )


if __name__ == "__main__":
    main()
