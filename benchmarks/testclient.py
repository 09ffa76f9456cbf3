"""Echo round trips/s: wsbench over a real socket against Starlette's in-process TestClient.

The TestClient needs no server and no socket, so it is the baseline a test suite would
otherwise use; the ratio says what running the same conversation over real uvicorn costs.

Run: .venv/bin/python benchmarks/testclient.py [--rounds N] [--runs N]
"""

from __future__ import annotations

import argparse
import time
import warnings

from echo import make_bench, paired, wsbench_sync

with warnings.catch_warnings():  # starlette 1.10 suggests httpx2 on import; irrelevant to timing
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def testclient_echo(app, payload: str, n: int) -> float:
    with TestClient(app) as client, client.websocket_connect("/echo") as ws:
        start = time.perf_counter()
        for _ in range(n):
            ws.send_text(payload)
            ws.receive_text()
        return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="round trips per measurement")
    parser.add_argument("--runs", type=int, default=5, help="alternating measurements per client")
    args = parser.parse_args()
    bench = make_bench()
    payload = "x" * 256
    base, ours, ratio, _cpu = paired(
        args.runs,
        lambda: testclient_echo(bench.app, payload, args.rounds),
        lambda: wsbench_sync(bench, payload, args.rounds),
    )
    print(f"{'case':<40}{'TestClient/s':>14}{'wsbench/s':>12}{'ratio':>8}")
    print(f"{'echo 256 B, in-process vs real socket':<40}{base:>14.0f}{ours:>12.0f}{ratio:>8.2f}")
    bench.stop()


if __name__ == "__main__":
    main()
