"""Errors a learner can act on: a path with no endpoint, a panel whose bench was replaced (its cell
re-run), and what a wsbench error shows in IPython (the learner's lines and the message, not
wsbench's frames; tests/test_stuck_answer.py checks it in a real kernel)."""

from __future__ import annotations

import asyncio

import pytest
from conftest import wait_until
from fastapi import WebSocket

import wsbench
from wsbench.widgets import Panel


def test_a_path_with_no_endpoint_says_so_and_lists_the_endpoints(bench):
    """One short error naming the path, the bench's endpoints and the fix, instead of 'HTTP 403'."""
    with pytest.raises(wsbench.HandshakeRejected) as info:
        bench.connect("/nope?x=1")
    message = str(info.value)
    assert message.startswith("no endpoint at /nope on this bench (it has: /echo, /json, /send, ")
    assert message.endswith("): run the cell that defines it (uvicorn refused the handshake: HTTP 403)")
    assert info.value.status == 403  # still what the server answered


def test_a_path_with_no_endpoint_async_and_on_an_empty_bench(make_bench):
    empty = make_bench(endpoints=False)
    with pytest.raises(wsbench.HandshakeRejected, match=r"^no endpoint at /echo on this bench \(it has no WebSocket"):
        asyncio.run(empty.aconnect("/echo"))


def test_an_endpoint_that_refuses_keeps_the_http_403_message(bench):
    """A route that exists and closes before accept() is the endpoint's answer, not a missing endpoint."""
    with pytest.raises(wsbench.HandshakeRejected) as info:
        bench.connect("/close-early")
    assert "no endpoint" not in str(info.value) and "HTTP 403" in str(info.value)


def test_a_path_holding_the_root_path_says_to_leave_it_out(make_bench):
    """Behind a root_path a client talking to the bench directly must not send the prefix: say so."""
    proxied = make_bench(root_path="/api")
    with pytest.raises(wsbench.HandshakeRejected) as info:
        proxied.connect("/api/echo")
    assert "no endpoint at /api/echo on this bench (it has: /echo" in str(info.value)
    assert "leaves out its root_path /api" in str(info.value)


def test_a_panel_of_a_replaced_bench_reconnects_to_the_new_bench(make_bench):
    """Re-running the Bench() cell replaces the bench; the old panel's reconnect follows the new one
    (same path, query and options), instead of 'nothing accepts connections ... is the server running?'."""
    old = make_bench(name="replaced-panel")
    panel = Panel(old.connect("/echo?room=a", timeout=5), live=False)
    try:
        new = make_bench(name="replaced-panel")
        panel.reconnect_button.click()
        assert panel.result.value == "reconnected", panel.result.value
        assert panel.conn.url == new.url + "/echo?room=a" and panel.conn.timeout == 5
        panel.conn.send_text("hi")
        assert panel.conn.receive_text() == "hi"
        assert panel.conn.transcript.filter(side="server", kind="websocket.accept").events  # paired with the new bench
        panel.conn.close()
    finally:
        panel.close()


def test_a_panel_of_a_stopped_bench_says_which_cell_to_run(make_bench):
    stopped = make_bench(name="stopped-panel")
    panel = Panel(stopped.connect("/echo", timeout=5), live=False)
    try:
        stopped.stop()
        panel.reconnect_button.click()
        result = panel.result.value
        assert result.startswith("BenchError: <Bench 'stopped-panel' ws=auto stopped> was stopped and no bench")
        assert "run the cell that makes the bench" in result and "is the server running" not in result
    finally:
        panel.close()


def test_a_wsbench_error_shows_the_callers_lines_and_the_message_not_wsbench_frames(bench):
    """Without IPython's formatter (plain Python), the same cut: the caller's frames, then the message."""

    def learner_cell() -> None:
        bench.connect("/nope")

    with pytest.raises(wsbench.HandshakeRejected) as info:
        learner_cell()
    lines = info.value._render_traceback_()
    shown = "\n".join(lines)
    assert "in learner_cell" in shown and 'bench.connect("/nope")' in shown
    assert "wsbench/" not in shown.replace("tests/", "")
    assert lines[-1].startswith("wsbench.errors.HandshakeRejected: no endpoint at /nope")


def test_an_endpoint_wsbench_stopped_closes_with_1011_saying_why(bench):
    """An endpoint stopped by wsbench (Bench.stop_blocker) closes with 1011 and a reason a learner can read."""

    @bench.websocket("/busy")
    async def busy(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            pass

    conn = bench.connect("/busy")
    blocker = wait_until(bench.blocker)
    assert bench.stop_blocker(blocker)
    assert conn.wait_closed(5) == 1011
    assert conn.close_reason == "wsbench stopped the endpoint: it blocked the bench's loop"
