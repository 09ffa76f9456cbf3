"""``wsbench serve`` under a long conversation: RSS and $TMPDIR growth while one peer sends N echo
messages to /echo, against plain uvicorn serving the same demo app, in one run.

Each server runs in its own subprocess with a fresh $TMPDIR (where a transcript's spool would go);
the peer (websockets' sync client) sends 100-byte messages and reads each echo; every N/6 messages
the server's RSS and the size of its $TMPDIR are printed, and at the end the growth over the last
five sixths beside plain uvicorn's (target: flat, as plain uvicorn's), and the round trips a second
of both (their ratio: what recording and the log cost). ``--quiet`` serves without the
log, as the finding of issue 21 measured; ``--source DIR`` imports wsbench from another checkout
(e.g. main, for the figure before).

Run: .venv/bin/python benchmarks/serve_memory.py [--messages 300000] [--quiet] [--source DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from websockets.sync.client import connect


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


def du_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def run(command: list[str], messages: int, env: dict[str, str], label: str) -> tuple[float, float, float]:
    """Serve with *command*, talk, and return (RSS growth, $TMPDIR growth) over the last five sixths, MiB,
    and the echo round trips a second."""
    tmp = Path(tempfile.mkdtemp(prefix="wsbench-serve-memory-"))
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**env, "TMPDIR": str(tmp)}, text=True
    )
    try:
        url = None
        for _ in range(200):  # the banner, or uvicorn's start-up lines
            line = proc.stdout.readline()  # type: ignore[union-attr]
            found = re.search(r"(?:ws|http)://127\.0\.0\.1:\d+", line)
            if found:
                url = "ws://" + found.group().split("://", 1)[1]
                break
        assert url, "no URL printed"
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        step = max(1, messages // 6)
        marks = []
        started = time.perf_counter()
        with connect(url + "/echo", max_size=None) as ws:
            for n in range(1, messages + 1):
                ws.send("x" * 100)
                ws.recv(timeout=60)
                if n % step == 0:
                    marks.append((rss_mib(proc.pid), du_mib(tmp)))
                    print(f"  {label}: {n:>9,} messages: RSS {marks[-1][0]:7.1f} MiB, $TMPDIR {marks[-1][1]:7.1f} MiB")
        rate = messages / (time.perf_counter() - started)
        return marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1], rate
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--quiet", action="store_true", help="serve with --quiet (no log)")
    parser.add_argument("--source", help="import wsbench from this checkout (e.g. /work/main)")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.source, env.get("PYTHONPATH")]))
    serve = [sys.executable, "-m", "wsbench", "serve", "--port", "0", *(["--quiet"] if args.quiet else [])]
    plain = [sys.executable, "-m", "uvicorn", "--factory", "wsbench.demo:demo_app", "--port", "0"]
    print(f"{args.messages:,} echo messages of 100 B; wsbench from {args.source or 'this checkout'}")
    served = run(serve, args.messages, env, "wsbench serve" + (" --quiet" if args.quiet else ""))
    baseline = run(plain, args.messages, env, "plain uvicorn")
    print(
        f"growth over the last five sixths: RSS {served[0]:+.1f} MiB vs {baseline[0]:+.1f} MiB (plain uvicorn), "
        f"$TMPDIR {served[1]:+.1f} MiB vs {baseline[1]:+.1f} MiB; "
        f"{served[2]:,.0f} vs {baseline[2]:,.0f} round trips/s ({served[2] / baseline[2]:.2f}x)"
    )


if __name__ == "__main__":
    main()
