"""Flood, unread: RSS growth of a client that does not read while a server sends 200 x 1 MiB,
wsbench against the raw ``websockets`` clients, each in its own subprocess, in one run.

The server (raw asyncio on 127.0.0.1, ``tests/hostile/peers.py``) writes as fast as TCP
takes the data; the client connects and reads nothing. Each client is measured once its
growth has settled (no new RSS high for 1 s) or the server has sent everything, and the
ratio wsbench / websockets is printed (target: <= 2x; without flow control it was ~10x).

Run: .venv/bin/python benchmarks/flood.py [--count 200] [--size-mib 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE.parent / "tests" / "hostile"  # peers.py, which imports tests/rawws.py

CLIENT = """
import asyncio, json, sys, time
from peers import MiB, Peer, flood, rss

KIND, COUNT, SIZE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def settle(peer):
    # wait until RSS has made no new high for 1 s, or the server sent everything (at most 60 s)
    best, since, end = rss(), time.monotonic(), time.monotonic() + 60
    while time.monotonic() < end and time.monotonic() - since < 1.0 and "done" not in peer.marks:
        time.sleep(0.05)
        if rss() > best:
            best, since = rss(), time.monotonic()
    return max(best, rss())

with Peer(flood, count=COUNT, size=SIZE) as peer:
    base = rss()
    if KIND == "wsbench-sync":
        import wsbench
        conn = wsbench.connect(peer.url, timeout=30, close_timeout=1, ping_interval=None, max_size=2 * SIZE)
        peak = settle(peer)
        conn.close()
    elif KIND == "websockets-sync":
        from websockets.sync.client import connect
        conn = connect(peer.url, ping_interval=None, close_timeout=1, max_size=2 * SIZE)
        peak = settle(peer)
        conn.close()
    elif KIND == "wsbench-async":
        import wsbench
        async def main():
            conn = await wsbench.aconnect(peer.url, timeout=30, close_timeout=1, ping_interval=None, max_size=2 * SIZE)
            peak = await asyncio.to_thread(settle, peer)
            await conn.aclose()
            return peak
        peak = asyncio.run(main())
    else:
        from websockets.asyncio.client import connect
        async def main():
            conn = await connect(peer.url, ping_interval=None, close_timeout=1, max_size=2 * SIZE)
            peak = await asyncio.to_thread(settle, peer)
            await conn.close()
            return peak
        peak = asyncio.run(main())
    print(json.dumps({"grown": peak - base, "written": peer.counts.get("written", 0)}))
"""


def measure(kind: str, count: int, size: int) -> dict[str, float]:
    """RSS growth (bytes) and messages the server got out, for one client *kind*, in a subprocess."""
    path = [str(PEERS), str(PEERS.parent), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, kind, str(count), str(size)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size-mib", type=float, default=1.0)
    args = parser.parse_args()
    size = int(args.size_mib * 2**20)
    print(f"{args.count} x {args.size_mib:g} MiB to a client that does not read")
    print(f"{'case':<34}{'websockets':>12}{'wsbench':>10}{'ratio':>8}  target")
    for mode in ("sync", "async"):
        raw = measure(f"websockets-{mode}", args.count, size)
        ours = measure(f"wsbench-{mode}", args.count, size)
        ratio = ours["grown"] / max(raw["grown"], 1)
        print(
            f"{mode + ' RSS growth (MiB)':<34}{raw['grown'] / 2**20:>12.1f}{ours['grown'] / 2**20:>10.1f}"
            f"{ratio:>8.2f}  <= 2x"
        )
        print(f"{mode + ' messages the server got out':<34}{raw['written']:>12}{ours['written']:>10}")


if __name__ == "__main__":
    main()
