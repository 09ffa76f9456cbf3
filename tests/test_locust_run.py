"""Generated locustfiles under a real Locust (subprocesses) against a real bench, and wsbench.load.

Locust is never imported here (gevent would monkey-patch the test process): it runs as
``python -m locust``. Each run is a few seconds with a few users, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI, WebSocket
from test_locustgen import add_chat, record_chat

import wsbench
from wsbench.loop import BLOCKED_AFTER
from wsbench.transcript.fanout import fanout

pytestmark = [
    pytest.mark.load,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="needs the load extra (locust)"),
]

RUN_TIMEOUT = 120  # seconds any Locust run of these tests may take, start-up included


def three_steps(bench: wsbench.Bench, path: str = "/echo") -> wsbench.Transcript:
    """A recorded 3-step conversation on the bench's echo endpoint."""
    conn = bench.connect(path)
    for message in ("hello", '{"id": 1, "op": "add"}', "bye"):
        conn.send_text(message)
        conn.receive_text(timeout=5)
    conn.close()
    return conn.transcript


def run_locust(
    locustfile: Path, host: str, folder: Path, *, users: int = 2, seconds: int = 8, extra: tuple[str, ...] = ()
) -> dict[str, dict]:
    """``locust -f FILE --headless`` as a user would run it; the rows of its stats CSV by name.

    Locust rewrites its CSV files once a second and not at the end (2.47), and its -t counts from
    before the users start: a run shorter than a few seconds can leave them empty.
    """
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users)]
    command += ["-r", str(users), "-t", f"{seconds}s", "--host", host, "--csv", str(folder / "run"), "--only-summary"]
    command += extra
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False, cwd=folder)
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: some request failed
    with open(folder / "run_stats.csv", newline="", encoding="utf-8") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def failures(folder: Path) -> list[str]:
    with open(folder / "run_failures.csv", newline="", encoding="utf-8") as f:
        return [f"{row['Name']}: {row['Error']}" for row in csv.DictReader(f)]


def test_a_recorded_three_step_conversation_runs_under_plain_locust(bench, tmp_path):
    """The file runs unchanged under ``locust -f ... --headless``: per-step send-to-reply percentiles in its CSV."""
    path = three_steps(bench).to_locustfile(tmp_path / "locustfile.py", think=0)
    rows = run_locust(path, bench.url, tmp_path)
    steps = ["connect /echo", "/echo 1: 'hello'", '/echo 2: \'{"id": 1, "op": "add"}\'', "/echo 3: 'bye'"]
    for name in [*steps, "close /echo"]:
        assert int(rows[name]["Request Count"]) > 0, name
        assert int(rows[name]["Failure Count"]) == 0, failures(tmp_path)
        for column in ("50%", "95%", "99%"):
            assert float(rows[name][column]) >= 0
    assert rows["/echo 1: 'hello'"]["Type"] == "WS" and rows["connect /echo"]["Type"] == "CONNECT"


def test_a_failing_step_says_what_was_expected_and_what_arrived(bench, make_bench, tmp_path):
    """Against an endpoint that answers otherwise, the failure names the recorded reply and the one that came."""
    recorded = three_steps(bench)
    other = make_bench(endpoints=False)

    @other.websocket("/echo")
    async def shout(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            if text != "bye":  # and "bye" gets no answer at all
                await websocket.send_text(text.upper())

    options = {"users": 2, "run_time": 3, "target": other, "think": 0, "timeout": 0.5, "show": False}
    result = wsbench.load(recorded, folder=tmp_path / "checked", **options)
    assert result.step("/echo 1: 'hello'")["failures"] > 0
    found = [f"{f['name']}: {f['error']}" for f in result.failures]
    assert "/echo 1: 'hello': StepFailed(\"expected 'hello', arrived 'HELLO'\")" in found, found
    result = wsbench.load(recorded, folder=tmp_path / "unchecked", check=False, **options)
    found = [f"{f['name']}: {f['error']}" for f in result.failures]
    assert "/echo 3: 'bye': StepFailed(\"expected 'bye' within 0.5 s, nothing arrived\")" in found, found
    # Locust's own failures CSV says the same (it is rewritten once a second: some runs end before)
    with open(tmp_path / "checked" / "locust_failures.csv", newline="", encoding="utf-8") as f:
        assert all("StepFailed(" in row["Error"] for row in csv.DictReader(f))


def test_replies_matched_by_id_among_interleaved_pushes(make_bench, tmp_path):
    """match="$.id": the reply is the message with the sent id; the pushes around it are counted, not failures."""
    bench = make_bench(endpoints=False)

    @bench.websocket("/rpc")
    async def rpc(websocket: WebSocket) -> None:
        await websocket.accept()
        pending: list[dict] = []
        async for request in websocket.iter_json():
            pending.append(request)
            await websocket.send_json({"push": len(pending)})  # a push before any reply
            if len(pending) == 2:  # the replies out of order: the second request's first
                for done in reversed(pending):
                    await websocket.send_json({"id": done["id"], "ok": True})
                pending.clear()

    conn = bench.connect("/rpc")
    conn.send_json({"id": 1})
    conn.receive_json(timeout=5)
    conn.send_json({"id": 2})
    for _ in range(3):
        conn.receive_json(timeout=5)
    conn.close()
    result = wsbench.load(
        conn.transcript, users=2, run_time=3, target=bench, match="$.id", think=0, timeout=2, show=False
    )
    for name in ("/rpc 1: '{\"id\":1}'", "/rpc 2: '{\"id\":2}'"):
        assert result.step(name)["requests"] > 0
        assert result.step(name)["failures"] == 0, result.failures
    assert result.step("push /rpc")["requests"] > 0  # the pushes: read and counted


def test_load_from_python_returns_data_and_keeps_the_reports(bench, tmp_path):
    """wsbench.load: per step and per second, Locust's reports in the folder; Locust never imported here."""
    result = wsbench.load(three_steps(bench), users=2, run_time=2, target=bench, think=0, folder=tmp_path, show=False)
    assert result.folder == tmp_path
    assert {p.name for p in tmp_path.iterdir()} >= {"locustfile.py", "report.html", "locust_stats.csv", "summary.html"}
    if importlib.util.find_spec("matplotlib") is not None:  # the load extra brings it; without it, no PNG
        assert result.png_report.read_bytes() == result.png() and result.png().startswith(b"\x89PNG\r\n\x1a\n")
    step = result.step("/echo 1: 'hello'")
    assert step["requests"] > 0 and step["failures"] == 0
    assert set(step) >= {"p50", "p95", "p99"}
    assert result.per_second and {"t", "users", "requests/s", "failures/s"} <= set(result.per_second[0])
    assert not result.interrupted and result.failed == 0
    assert "locust" not in sys.modules and "gevent" not in sys.modules


def test_load_serves_an_app(tmp_path, bench):
    """An app as the target is served on a bench of its own for the run."""
    app = FastAPI()

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    result = wsbench.load(three_steps(bench), users=1, run_time=1, target=app, think=0, folder=tmp_path, show=False)
    assert result.step("/echo 3: 'bye'")["requests"] > 0 and result.failed == 0


def test_a_master_and_two_workers_totals_add_up(bench, tmp_path):
    """workers=2: a --master and two --worker processes on 127.0.0.1; the master's totals are the workers' sums."""
    result = wsbench.load(
        three_steps(bench), users=4, run_time=3, target=bench, think=0, workers=2, folder=tmp_path, show=False
    )
    assert result.workers == 2 and len(result.per_worker) == 2
    for step in result.steps:
        key = f"{step['type']} {step['name']}"
        counts = [worker[key][0] for worker in result.per_worker]
        assert all(count > 0 for count in counts), (key, counts)
        assert step["requests"] == sum(counts), (key, step["requests"], counts)


def test_bad_arguments_are_refused_before_anything_starts(bench, tmp_path):
    t = three_steps(bench)
    with pytest.raises(ValueError, match="users must be > 0"):
        wsbench.load(t, users=0, target=bench)
    with pytest.raises(wsbench.InvalidURL, match="ws:// or wss://"):
        wsbench.load(t, target="http://127.0.0.1:1")
    with pytest.raises(TypeError, match="apply to a transcript"):
        (tmp_path / "f.py").write_text("")
        wsbench.load(tmp_path / "f.py", target=bench, think=0)


def test_an_endpoint_that_blocks_the_loop_is_named_under_load(make_bench, tmp_path):
    """Swarmed, an endpoint that blocks the event loop (time.sleep) is named by the bench's watchdog
    on the connections it served; one that awaits is not. (Facts, not times: a ratio of percentiles
    failed a CI run on a loaded machine.)"""
    bench = make_bench(endpoints=False)

    @bench.websocket("/fast")
    async def fast(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await asyncio.sleep(0.01)
            await websocket.send_text(text)

    @bench.websocket("/slow")
    async def slow(websocket: WebSocket) -> None:
        import time

        await websocket.accept()
        async for text in websocket.iter_text():
            time.sleep(2 * BLOCKED_AFTER)  # blocks every connection's handler meanwhile
            await websocket.send_text(text)

    runs = {}
    for path in ("/fast", "/slow"):
        conn = bench.connect(path)
        conn.send_text("x")
        conn.receive_text(timeout=10)
        conn.close()
        conn.wait_endpoint(timeout=10)
        before = len(bench.transcript)
        runs[path] = wsbench.load(
            conn.transcript, users=3, run_time=2, target=bench, think=0, folder=tmp_path / path[1:], show=False
        )
        runs[path, "blocked"] = [e.detail for e in list(bench.transcript)[before:] if e.kind == "blocked"]
    assert runs["/fast"].step("/fast 1: 'x'")["requests"] > 0 and runs["/slow"].step("/slow 1: 'x'")["requests"] > 0
    assert runs["/fast", "blocked"] == []
    assert runs["/slow", "blocked"] and all("/slow" in detail for detail in runs["/slow", "blocked"])


def test_a_transcript_of_several_connections_swarms_each_of_them(make_bench, tmp_path):
    """Two recorded connections of one bench (an echo and a JSON echo): one user class each, both replayed."""
    bench = make_bench()
    echo = bench.connect("/echo")
    echo.send_text("hi")
    echo.receive_text(timeout=5)
    echo.close()
    json_echo = bench.connect("/json")
    json_echo.send_json({"n": 1})
    json_echo.receive_json(timeout=5)
    json_echo.close()
    result = wsbench.load(bench.transcript, users=2, run_time=2, target=bench, think=0, folder=tmp_path, show=False)
    assert result.step("#1 /echo 1: 'hi'")["requests"] > 0
    assert result.step("#2 /json 1: '{\"n\":1}'")["requests"] > 0
    assert result.failed == 0, result.failures


def test_a_three_client_chat_reports_each_fan_out_receipt_under_plain_locust(make_bench, tmp_path):
    """A recorded 3-client chat: one Locust user drives the three clients; each broadcast's receipt by
    each other client is a FANOUT request named after the sender's step (the time from the send to
    that receipt), as many as the recording has receipts, in every conversation, with no failure.

    The counts are read from Locust's --json-file, written at the end (its CSV is rewritten once a
    second and misses the last moment); --stop-timeout lets each conversation finish."""
    bench = make_bench(endpoints=False)
    add_chat(bench)
    transcript = record_chat(bench)
    path = transcript.to_locustfile(tmp_path / "locustfile.py", think=0)
    extra = ("--stop-timeout", "30", "--json-file", str(tmp_path / "final"))
    rows = run_locust(path, bench.url, tmp_path, users=2, seconds=4, extra=extra)
    # per conversation, from the recording: each message's receipts by the other members, each leave's
    expected = {}
    for sent in fanout(list(transcript)):
        expected[f"fanout {sent.sender} 1: {sent.data!r}"] = sum(d.to != sent.sender for d in sent.deliveries)
    for who in ("cat", "ann"):
        left = [e for e in transcript if e.side == "client" and e.kind == "receive" and e.data == f"{who} left"]
        expected[f"fanout close {who}"] = len(left)
    assert expected == {"fanout ann 1: 'hi'": 2, "fanout bob 1: 'yo'": 2, "fanout close cat": 2, "fanout close ann": 1}
    for name in expected:
        assert rows[name]["Type"] == "FANOUT" and int(rows[name]["Request Count"]) > 0, name
        assert float(rows[name]["50%"]) <= float(rows[name]["99%"])
    with open(tmp_path / "final.json", encoding="utf-8") as f:
        final = {entry["name"]: entry for entry in json.load(f)}
    conversations = final["connect ann"]["num_requests"]
    assert conversations > 0
    assert sum(entry["num_failures"] for entry in final.values()) == 0, failures(tmp_path)
    for name, receipts in expected.items():
        assert final[name]["num_requests"] == receipts * conversations, (name, final[name]["num_requests"])
    assert final["ann 1: 'hi'"]["num_requests"] == conversations  # the sender's own reply: a WS step


def test_a_member_the_app_skips_is_a_fan_out_failure_naming_the_client_and_the_message(make_bench, tmp_path):
    """Against a chat that never sends to cat, each broadcast cat should have received fails, saying
    who expected what; the receipts of the others still count."""
    recorded = make_bench(endpoints=False)
    add_chat(recorded)
    transcript = record_chat(recorded)
    buggy = make_bench(endpoints=False)
    add_chat(buggy, skip="cat")
    options = {"users": 1, "run_time": 3, "think": 0, "timeout": 0.5, "show": False}
    result = wsbench.load(transcript, target=buggy, folder=tmp_path, **options)
    found = {f"{f['type']} {f['name']}: {f['error']}" for f in result.failures}
    assert found == {
        "FANOUT fanout ann 1: 'hi': StepFailed(\"expected 'ann: hi' at cat within 0.5 s, nothing arrived\")",
        "FANOUT fanout bob 1: 'yo': StepFailed(\"expected 'bob: yo' at cat within 0.5 s, nothing arrived\")",
    }, found
    hi = result.step("fanout ann 1: 'hi'")
    assert hi["requests"] == 2 * hi["failures"] > 0  # bob's receipt arrived, cat's did not
    assert result.step("ann 1: 'hi'")["failures"] == 0
