"""``wsbench load FILE ...``: the command line's way to a swarm."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.load,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="needs the load extra (locust)"),
]


def wsbench_load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsbench", "load", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_saved_transcript_swarms_a_server_from_the_command_line(bench, tmp_path):
    conn = bench.connect("/echo")
    for message in ("one", "two", "three"):
        conn.send_text(message)
        conn.receive_text(timeout=5)
    conn.close()
    saved = conn.transcript.save(tmp_path / "echo.jsonl")
    folder = tmp_path / "run"
    done = wsbench_load(str(saved), "--url", bench.url, "-u", "2", "-t", "2", "--think", "0", "--folder", str(folder))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "/echo 3: 'three'" in done.stdout and f"reports: {folder}" in done.stdout
    assert "users" in done.stderr  # the live lines
    assert (folder / "report.html").is_file() and (folder / "locustfile.py").is_file()


def test_bad_input_is_one_line_and_status_2(tmp_path):
    done = wsbench_load(str(tmp_path / "missing.jsonl"), "--url", "ws://127.0.0.1:9")
    assert done.returncode == 2 and done.stderr.startswith("wsbench load: error:"), done.stderr
    done = wsbench_load(str(tmp_path / "missing.jsonl"), "--url", "http://127.0.0.1:9")
    assert done.returncode == 2 and "wsbench load: error:" in done.stderr
