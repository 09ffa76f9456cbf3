"""The timeline widget: both lanes of a transcript, live or saved, and following a panel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import wait_until

import wsbench
from wsbench.widgets import Panel, Timeline
from wsbench.widgets._render import timeline_html


@pytest.fixture
def echo(bench: wsbench.Bench) -> Iterator[wsbench.Connection]:
    """An open connection to the bench's /echo endpoint."""
    conn = bench.connect("/echo", timeout=5)
    yield conn
    conn.close()


def test_timeline_shows_both_lanes_and_close_code(bench, echo):
    """The picture has a client and a server lane, the ASGI messages, states and the close code."""
    echo.send_text("hi")
    echo.receive_text()
    echo.close(4001, "bye")
    wait_until(lambda: echo.transcript.filter(side="server", kind="websocket.disconnect").events)
    timeline = Timeline(echo, live=False)
    html = timeline.value
    for text in (
        "client",
        "server (endpoint)",
        "websocket.accept",
        "websocket.receive",
        "101 Switching Protocols",
        "websocket.disconnect 4001 (private use) bye",
        "DISCONNECTED",
        "'hi'",
    ):
        assert text in html
    assert repr(timeline) == "<Timeline: 1 connection>"
    timeline.close()


def test_timeline_numbers_connections(bench):
    """A bench transcript with two connections draws #1 and #2."""
    for _ in range(2):
        bench.connect("/echo").close()
    timeline = Timeline(bench.transcript, live=False)
    assert "#1 /echo" in timeline.value and "#2 /echo" in timeline.value
    assert repr(timeline) == "<Timeline: 2 connections>"
    timeline.close()


def test_timeline_limit_elides_the_middle(echo):
    """Over *limit* events, the middle is replaced by a count of what is not shown."""
    for i in range(30):
        echo.send_text(str(i))
        echo.receive_text()
    timeline = Timeline(echo.transcript, limit=10, live=False)
    assert f"… {len(echo.transcript) - 10} events not shown …" in timeline.value
    assert ">'29'<" in timeline.value  # the last echo's arrows are drawn
    assert "'15'" not in timeline.value
    timeline.close()


def test_timeline_follows_the_transcript(echo):
    """A live timeline redraws by itself when the transcript grows."""
    timeline = Timeline(echo)
    echo.send_text("later")
    echo.receive_text()
    wait_until(lambda: "'later'" in timeline.value)
    timeline.close()


def test_timeline_save_writes_standalone_html(echo, tmp_path):
    """save() writes a whole HTML page with the SVG and no script."""
    echo.send_text("saved")
    echo.receive_text()
    timeline = Timeline(echo, live=False)
    path = timeline.save(tmp_path / "t.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<svg" in text and "'saved'" in text
    assert "<script" not in text
    timeline.close()


def test_timeline_refuses_other_sources():
    """Timeline() names what it accepts when given something else."""
    with pytest.raises(TypeError, match="takes a Transcript"):
        Timeline(42)


def _proxied_events() -> list[wsbench.Event]:
    """A connection a FaultProxy cut: client and server notice 2 ms and 5 ms after the cut."""
    rows = [
        ("client", "connect", {"data": "ws://127.0.0.1:1/echo"}),
        ("server", "websocket.connect", {}),
        ("server", "websocket.accept", {}),
        ("client", "open", {}),
        ("proxy", "cut", {"detail": "after 0 bytes (either way): reset both TCP connections"}),
        ("client", "closed", {"code": 1006}),
        ("server", "websocket.disconnect", {"code": 1005}),
    ]
    times = [0.0, 0.001, 0.002, 0.003, 1.0, 1.002, 1.005]
    return [
        wsbench.Event(seq=n, time=100 + t, side=side, kind=kind, conn=1, **extra)
        for n, ((side, kind, extra), t) in enumerate(zip(rows, times, strict=True), 1)
    ]


def test_timeline_draws_a_proxy_lane_with_time_to_notice():
    """A proxied connection gets a proxy lane, and each side's notice says how long after the cut it came."""
    html = timeline_html(_proxied_events())
    assert ">proxy</text>" in html
    assert "cut: after 0 bytes" in html
    assert ">+2.0 ms after cut</text>" in html
    assert ">+5.0 ms after cut</text>" in html


def test_timeline_without_a_proxy_has_no_proxy_lane(echo):
    """A direct connection's picture is unchanged: two lanes, no times."""
    echo.send_text("x")
    echo.receive_text(timeout=5)
    html = timeline_html(echo.transcript.events)
    assert "wsb-proxy" not in html.split("</style>", 1)[1]
    assert "ms after" not in html


def test_panel_timeline_follows_reconnects(echo):
    """panel.timeline() draws the panel's new connection after a reconnect, live."""
    panel = Panel(echo, live=False)
    timeline = panel.timeline()
    try:
        assert repr(timeline) == "<Timeline: 1 connection>"
        panel.reconnect_button.click()
        panel.conn.send_text("after")
        panel.conn.receive_text()
        wait_until(lambda: "#2 /echo" in timeline.value and "'after'" in timeline.value)
        assert "#1 /echo" in timeline.value
        assert repr(timeline) == "<Timeline: 2 connections>"
        assert len(timeline.transcript) == len(echo.transcript) + len(panel.conn.transcript)
    finally:
        timeline.close()
        panel.conn.close()
        panel.close()


def test_timeline_of_a_panel_equals_timeline_given_the_panel(echo):
    """Timeline(panel) is what panel.timeline() gives: it follows panel.connections."""
    panel = Panel(echo, live=False)
    panel.reconnect_button.click()
    try:
        assert Timeline(panel, live=False).value == panel.timeline(live=False).value
        assert "#2 /echo" in Timeline(panel, live=False).value
        assert "#2 /echo" not in Timeline(echo, live=False).value  # a connection's timeline stays with it
    finally:
        panel.conn.close()
        panel.close()
