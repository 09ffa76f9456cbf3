"""wsbench.load in a real IPython kernel (jupyter_client): live figures, a kernel that answers during the
swarm, and an interrupt that leaves no Locust process behind. Locust never enters the kernel."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from jupyter_client.manager import start_new_kernel

pytestmark = [
    pytest.mark.load,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="needs the load extra (locust)"),
]

LIMIT = 120.0  # seconds any one wait below may take (a bound, not an assertion on time)

SETUP = """
import json, sys
import wsbench
from fastapi import WebSocket

bench = wsbench.Bench(name="kernel-load")

@bench.websocket("/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)

conn = bench.connect("/echo")
for message in ("a", "b", "c"):
    conn.send_text(message)
    conn.receive_text(timeout=5)
conn.close()
print("ready")
"""


class Session:
    """A kernel and its client; every message of iopub kept, by the request it answers."""

    def __init__(self, cwd: Path) -> None:
        self.manager, self.client = start_new_kernel(kernel_name="python3", cwd=str(cwd), startup_timeout=LIMIT)
        self.messages: list[dict[str, Any]] = []

    def drain(self, timeout: float = 0.05) -> None:
        while True:
            try:
                self.messages.append(self.client.get_iopub_msg(timeout=timeout))
            except queue.Empty:
                return

    def execute(self, code: str) -> str:
        return self.client.execute(code)

    def reply(self, msg_id: str) -> dict[str, Any]:
        """The execute reply of *msg_id*, iopub drained meanwhile (bounded)."""
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            self.drain()
            try:
                reply = self.client.get_shell_msg(timeout=0.1)
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                self.drain()
                return reply
        raise AssertionError(f"no reply to {msg_id} within {LIMIT} s")

    def stdout(self, msg_id: str) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages
            if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream"
        )

    def run(self, code: str) -> str:
        msg_id = self.execute(code)
        reply = self.reply(msg_id)
        assert reply["content"]["status"] == "ok", reply["content"]
        return self.stdout(msg_id)

    def updates(self) -> list[str]:
        """The HTML of every live update of a display (update_display_data), in order."""
        return [
            m["content"]["data"].get("text/html", "") for m in self.messages if m["msg_type"] == "update_display_data"
        ]

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    s = Session(tmp_path)
    try:
        assert "ready" in s.run(SETUP)
        yield s
    finally:
        s.close()


def locust_processes(folder: Path) -> list[int]:
    """Live (not zombie) Locust processes whose environment names *folder* (WSBENCH_LIVE): the swarm's."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"WSBENCH_LIVE={folder}" in environ and "locust" in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def test_a_swarm_from_a_cell_shows_live_figures_while_the_kernel_answers(session, tmp_path):
    folder = tmp_path / "run"
    session.run(
        f"swarm = wsbench.load(conn.transcript, users=2, run_time=5, target=bench, think=0, wait=False, "
        f"refresh=0.2, folder={str(folder)!r})"
    )
    # the swarm runs: live figures arrive while the kernel takes more cells
    wait_until(lambda: session.drain() or any("Load: running" in html for html in session.updates()), timeout=LIMIT)
    answer = session.run("print(6 * 7, swarm.running)")
    assert answer.split() == ["42", "True"]  # it answered, and the swarm was still running then
    done = json.loads(
        session.run(
            "result = swarm.result()\n"
            "print(json.dumps({'steps': [s['name'] for s in result.steps], 'failed': result.failed,"
            " 'locust': 'locust' in sys.modules, 'gevent': 'gevent' in sys.modules}))"
        )
    )
    assert done == {
        "steps": ["connect /echo", "/echo 1: 'a'", "/echo 2: 'b'", "/echo 3: 'c'", "close /echo"],
        "failed": 0,
        "locust": False,
        "gevent": False,
    }
    assert "Load: summary" in session.updates()[-1]  # the live chart ends as its static summary
    assert "p95 ms" in session.updates()[-1] and "<svg" in session.updates()[-1]
    assert (folder / "summary.html").is_file() and (folder / "report.html").is_file()
    # and as a PNG, for what shows no HTML (the kernel has matplotlib: the load extra brings it)
    final = [m for m in session.messages if m["msg_type"] == "update_display_data"][-1]["content"]["data"]
    assert base64.b64decode(final["image/png"]) == (folder / "summary.png").read_bytes()
    assert locust_processes(folder) == []


def test_an_interrupt_stops_the_swarm_and_leaves_no_process(session, tmp_path):
    folder = tmp_path / "run"
    msg_id = session.execute(
        f"wsbench.load(conn.transcript, users=2, run_time=120, target=bench, think=0, workers=1, "
        f"refresh=0.2, folder={str(folder)!r})"
    )
    # wait until the master and the worker run and the figures move
    wait_until(lambda: session.drain() or any("Load: running" in html for html in session.updates()), timeout=LIMIT)
    running = locust_processes(folder)
    assert len(running) == 2, running  # the master and one worker
    session.manager.interrupt_kernel()
    reply = session.reply(msg_id)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    assert locust_processes(folder) == []
    for pid in running:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    assert session.run("print(6 * 7)").strip() == "42"  # and the kernel goes on
