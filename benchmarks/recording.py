"""Recording at scale (issue 15): one connection receiving N pushed 64-byte messages.

Each case runs in its own subprocess (so its RSS growth is its own), all in one run:

* ``wsbench``: ``bench.connect(path)`` reading every message, both sides recorded
  (the client's transcript and the bench's) with the disk-backed transcript.
* ``raw``: the raw ``websockets.sync`` client on the same kind of Bench (the server side
  still records): the baseline for messages per second and memory.
* ``record``: ``record()`` alone into a disk-backed transcript against the same into an
  all-in-memory one (``in_memory`` above N, i.e. the transcript before issue 15); then how
  long ``save`` and ``load`` take for each, and ``str()``.

Ratios are wsbench / baseline. Figures are noisy on a shared machine: run it quietly.

Run: .venv/bin/python benchmarks/recording.py [--messages 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CASE = r"""
import json, os, sys, tempfile, time

def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024

case, n = sys.argv[1], int(sys.argv[2])
out = {}
if case in ("wsbench", "raw"):
    sys.path.insert(0, sys.argv[3])  # benchmarks/: the same /push endpoint as push.py
    from push import make_bench
    bench = make_bench()

    before = rss()
    start, cpu = time.perf_counter(), time.process_time()
    tenth, got = max(1, n // 10), 0
    if case == "wsbench":
        with bench.connect(f"/push?n={n}", ping_interval=None) as conn:
            for _ in conn.iter_text(limit=n, timeout=120):
                got += 1
                if got == tenth:
                    out["grown_tenth"] = rss() - before
    else:
        from websockets.sync.client import connect
        with connect(f"{bench.url}/push?n={n}", max_size=None, ping_interval=None) as ws:
            for _ in zip(range(n), iter(ws.recv, None)):
                got += 1
                if got == tenth:
                    out["grown_tenth"] = rss() - before
    out["seconds"] = time.perf_counter() - start
    out["cpu"] = time.process_time() - cpu  # client and server: both in this process
    out["grown"] = rss() - before
    assert got == n, got
    bench.stop()
else:
    from wsbench.transcript import Transcript, record
    t = Transcript(in_memory=10_000 if case == "spooled" else n + 1)
    before = rss()
    start = time.perf_counter()
    for i in range(n):
        record(t, side="client", kind="receive", conn=1, data=f"{i:064d}")
    out["seconds"] = time.perf_counter() - start
    out["grown"] = rss() - before
    start = time.perf_counter()
    out["str_chars"] = len(str(t))
    out["str"] = time.perf_counter() - start
    path = os.path.join(tempfile.mkdtemp(), "t.jsonl")
    start = time.perf_counter()
    t.save(path)
    out["save"] = time.perf_counter() - start
    del t
    start = time.perf_counter()
    loaded = Transcript.load(path, max_bytes=2**40)  # disk-backed in both cases: load reads into one
    out["load"] = time.perf_counter() - start
    out["peak"] = rss() - before
    assert len(loaded) == n
    os.remove(path)
print(json.dumps(out))
"""


#: Past this many events the all-in-memory baseline of record() is left out (it would need ~720 B an event).
MEMORY_BASELINE_MAX = 2_000_000


def run(case: str, n: int) -> dict[str, float]:
    here = str(Path(__file__).resolve().parent)
    done = subprocess.run([sys.executable, "-c", CASE, case, str(n), here], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{case}: {done.stderr[:2000]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    n = parser.parse_args().messages
    raw, ours = run("raw", n), run("wsbench", n)
    print(f"one connection, {n:,} pushed 64-byte messages (each case in its own process)")
    print(
        f"  messages/s: wsbench {n / ours['seconds']:,.0f} vs raw websockets {n / raw['seconds']:,.0f}"
        f" = {raw['seconds'] / ours['seconds']:.2f}x; per CPU second of the process"
        f" {raw['cpu'] / ours['cpu']:.2f}x (other processes' load changes it less)"
    )
    print(
        f"  RSS growth per message: wsbench {ours['grown'] * 2**20 / n:.1f} B vs raw {raw['grown'] * 2**20 / n:.1f} B"
    )
    print(
        f"  RSS growth: wsbench +{ours['grown']:.1f} MiB vs raw +{raw['grown']:.1f} MiB"
        f" ({ours['grown'] / max(raw['grown'], 0.1):.2f}x); over the last nine tenths:"
        f" +{ours['grown'] - ours['grown_tenth']:.1f} vs +{raw['grown'] - raw['grown_tenth']:.1f} MiB"
    )
    spooled = run("spooled", n)
    if n > MEMORY_BASELINE_MAX:
        print(f"record() alone, {n:,} events into a disk-backed transcript (no all-in-memory baseline past")
        print(f"  {MEMORY_BASELINE_MAX:,} events: it would hold ~{n * 720 / 2**30:.0f} GiB)")
        for name, what in (("seconds", "record"), ("str", "str()"), ("save", "save"), ("load", "load")):
            print(f"  {what:<7} {spooled[name]:8.2f} s ({spooled[name] * 1e6 / n:.2f} µs an event)")
        print(f"  RSS growth after recording: +{spooled['grown']:.1f} MiB; after save and load: +{spooled['peak']:.1f}")
        return
    memory = run("memory", n)
    print(f"record() alone, {n:,} events: disk-backed vs all in memory (the transcript before issue 15)")
    for name, what in (("seconds", "record"), ("str", "str()"), ("save", "save")):
        print(
            f"  {what:<7} {spooled[name]:8.2f} s vs {memory[name]:8.2f} s = {spooled[name] / memory[name]:.2f}x"
            + (f"   ({spooled['str_chars']:,} vs {memory['str_chars']:,} characters)" if name == "str" else "")
        )
    print(f"  load    {spooled['load']:8.2f} s ({spooled['load'] * 1e6 / n:.1f} µs an event; the same code for both)")
    print(
        f"  RSS growth after recording: +{spooled['grown']:.1f} MiB vs +{memory['grown']:.1f} MiB"
        f" = {spooled['grown'] / memory['grown']:.3f}x; after save and load: +{spooled['peak']:.1f} vs"
        f" +{memory['peak']:.1f} MiB"
    )


if __name__ == "__main__":
    main()
