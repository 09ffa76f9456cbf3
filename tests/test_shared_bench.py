"""The bench the tests share (tests/conftest.py ``bench``): ``Bench._forget`` makes a running bench as new,
so no test sees what another left, and says so when it cannot."""

from __future__ import annotations

import asyncio
import threading

import pytest
from conftest import wait_until
from fastapi import WebSocket

import wsbench


def test_forget_closes_open_connections_and_starts_a_new_record(make_bench):
    """An open connection gets 1012, as a stop gives it; then the bench has a new, empty transcript,
    names its next connection "c1" again, and still serves its endpoints."""
    bench = make_bench()
    left = bench.connect("/echo")
    left.send_text("left behind")
    assert left.receive_text() == "left behind"
    old = bench.transcript
    bench._forget(timeout=5)
    assert left.wait_closed(timeout=5) == 1012
    assert len(old) > 0 and len(bench.transcript) == 0
    with bench.connect("/echo") as conn:
        assert conn.name == "c1"
        conn.send_text("new")
        assert conn.receive_text() == "new"
    bench.wait_idle()
    assert {e.name for e in bench.transcript if e.side == "server"} == {"c1"}
    assert "left behind" not in bench.transcript.text()


def test_forget_says_when_an_endpoint_does_not_end(make_bench):
    """An endpoint that ignores the close keeps running: Timeout, and the record is kept."""
    bench = make_bench()
    release = threading.Event()

    @bench.websocket("/stubborn")
    async def stubborn(websocket: WebSocket) -> None:
        await websocket.accept()
        for _ in range(1000):  # bounded: the test releases it
            if release.is_set():
                return
            await asyncio.sleep(0.01)

    conn = bench.connect("/stubborn")
    try:
        with pytest.raises(wsbench.Timeout, match="1 endpoint"):
            bench._forget(timeout=0.2)
        assert any(e.kind == "websocket.accept" for e in bench.transcript)
    finally:
        release.set()
        conn.close()
    wait_until(bench._recorder.is_idle)
