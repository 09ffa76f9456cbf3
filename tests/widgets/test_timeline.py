"""The timeline widget: both lanes of a transcript, live or saved, and following a panel."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from conftest import pipelined_echo, wait_until
from fastapi import WebSocket

import wsbench
from wsbench.transcript import Transcript, causal_order, record
from wsbench.widgets import Panel, Timeline
from wsbench.widgets._svg import Windows, _all_arrows, timeline_html

_SVG = "{http://www.w3.org/2000/svg}"


def _svgs(html: str) -> list[ET.Element]:
    """Every connection's <svg> in a timeline's HTML, parsed (the picture is well-formed XML)."""
    return [ET.fromstring(m) for m in re.findall(r"<svg.*?</svg>", html, flags=re.S)]


def _arrows(html: str, source: str) -> list[ET.Element]:
    """The arrows leaving *source*'s lane ("client", "server" or "proxy")."""
    return [g for svg in _svgs(html) for g in svg.iter(f"{_SVG}g") if g.get("data-from") == source]


def _shown(element: ET.Element) -> str:
    """The text a <text> shows: its lines joined, without the tooltip."""
    return "".join(span.text or "" for span in element.iter(f"{_SVG}tspan"))


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


@pytest.mark.parametrize("look", ["save", "to_html", "repr"])
def test_a_saved_or_printed_timeline_still_redraws_what_it_saved(echo, tmp_path, look: str):
    """save(), to_html() and repr() read what was recorded since the last redraw: the widget still
    draws it at its next refresh. They took it in without drawing, and the refresh found nothing
    new, so the widget kept its picture from before until the next message (widgets_demo's
    timeline missed its last 'websocket.receive' in a fresh-clone CI run: a cell saves it)."""
    timeline = Timeline(echo, live=False)
    echo.send_text("after the last redraw")
    echo.receive_text()
    {"save": lambda: timeline.save(tmp_path / "t.html"), "to_html": timeline.to_html, "repr": lambda: repr(timeline)}[
        look
    ]()
    assert "after the last redraw" not in timeline.value
    assert timeline.refresh()
    assert "'after the last redraw'" in timeline.value
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
    assert ">noticed +2.0 ms after cut</tspan>" in html
    assert ">noticed +5.0 ms after cut</tspan>" in html
    assert len(_arrows(html, "proxy")) == 2  # dotted from the cut to each side that noticed it


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


@pytest.fixture
def proxy(bench: wsbench.Bench) -> Iterator[wsbench.FaultProxy]:
    """A FaultProxy in front of the test bench."""
    made = wsbench.FaultProxy(bench)
    yield made
    made.stop()


def test_timeline_after_a_cut_draws_no_reply_from_the_server(proxy):
    """After a real cut, nothing leaves the server lane: no close arrow, and the client's line says no frame came."""
    conn = proxy.connect("/echo", timeout=5)
    conn.send_text("before")
    assert conn.receive_text(timeout=5) == "before"
    proxy.cut()
    wait_until(lambda: conn.state == "closed")
    conn.wait_endpoint(5)
    html = Timeline(conn, live=False).value
    from_server = _arrows(html, "server")
    assert [g.get("data-cause") for g in from_server] == ["websocket.accept", "websocket.send"]  # before the cut
    svg = _svgs(html)[0]
    cut_y = min(
        float(p.get("d", "M0,0").split(",")[1].split()[0])
        for p in svg.iter(f"{_SVG}path")
        if p.get("class") == "wsb-tl-dot wsb-proxy"
    )
    for g in from_server:
        assert float(g.find(f"{_SVG}line").get("y1")) < cut_y
    closed = [_shown(t) for t in svg.iter(f"{_SVG}text") if "closed 1006" in _shown(t)]
    assert closed and "no close frame received" in closed[0]
    assert "uvicorn's reply" not in html
    assert {g.get("data-cause") for g in _arrows(html, "proxy")} == {"cut"}  # who noticed the cut


def test_timeline_text_is_at_least_12_px():
    """Every font size the picture sets, in its style and on the SVG, is 12 px or more."""
    html = timeline_html(_proxied_events())
    sizes = [int(n) for n in re.findall(r"font-size[:=]\"?(\d+)", html)]
    assert sizes and min(sizes) >= 12


def test_timeline_wraps_long_labels_and_keeps_the_full_text_on_hover():
    """A long close reason is wrapped onto lines (none cut short), and its full text is the tooltip."""
    reason = "class is over for today, see you all tomorrow"
    events = [
        wsbench.Event(seq=1, time=1.0, side="client", kind="connect", conn=1, data="ws://127.0.0.1:1/x"),
        wsbench.Event(seq=2, time=1.1, side="client", kind="close", conn=1, code=1001, reason=reason),
    ]
    svg = _svgs(timeline_html(events))[0]
    label = next(t for t in svg.iter(f"{_SVG}text") if "close 1001" in _shown(t))
    assert len(list(label.iter(f"{_SVG}tspan"))) > 1
    assert _shown(label) == f"close 1001 (going away) {reason}"
    assert reason in label.find(f"{_SVG}title").text


def test_timeline_labels_sit_above_their_arrows():
    """An arrow's label ends above its line's start, so the line never runs through the text."""
    svg = _svgs(timeline_html(_proxied_events()))[0]
    for g in svg.iter(f"{_SVG}g"):
        line, text = g.find(f"{_SVG}line"), g.find(f"{_SVG}text")
        if text is not None:
            last = max(float(span.get("y")) for span in text.iter(f"{_SVG}tspan"))
            assert last < float(line.get("y1"))


def test_timeline_of_an_external_server_has_an_unobserved_lane():
    """A connection with no server-side events: a "server (not observed)" lane, arrows to and from it, no states."""
    events = [e for e in _proxied_events() if e.side == "client"]
    events.insert(3, wsbench.Event(seq=20, time=100.5, side="client", kind="send", conn=1, data="hi"))
    html = timeline_html(events)
    assert "server (not observed)" in html and "server (endpoint)" not in html
    assert "client_state" not in html and "application_state" not in html
    assert [g.get("data-cause") for g in _arrows(html, "client")] == ["connect", "send"]
    assert [g.get("data-cause") for g in _arrows(html, "server")] == ["open"]  # the 101 came from it


def test_timeline_bundle_carries_the_picture_as_static_html(echo):
    """The display bundle: the widget view, the SVG as text/html, and text/plain exactly as repr()."""
    echo.send_text("static")
    echo.receive_text(timeout=5)
    timeline = Timeline(echo, live=False)
    try:
        bundle = timeline._repr_mimebundle_()
        assert {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"} <= set(bundle)
        assert bundle["text/plain"] == "<Timeline: 1 connection>"
        assert "<svg" in bundle["text/html"] and "'static'" in bundle["text/html"]
    finally:
        timeline.close()


# -- long conversations (issue 15) ---------------------------------------------------


@pytest.mark.parametrize("rounds", [500, 501, 503])
def test_the_last_window_of_a_long_connection_joins_each_message_to_its_own_other_end(rounds: int):
    """Past the limit, the newest window's arrows still join 'mK' to 'mK', wherever the window cut a pair."""
    windows = Windows(40)
    windows.add(pipelined_echo(Transcript(), rounds, 3))
    (window,) = windows._windows.values()
    assert window.hidden == 4 * rounds - 40
    before = window.before()
    later = causal_order(list(window.tail), before)
    arrows = _all_arrows(later, True, [], before)
    assert len(arrows) >= 8  # 20 events: five rounds, the cut ones without their other end
    for arrow in arrows:
        assert later[arrow.start].data == later[arrow.end].data, (later[arrow.start], later[arrow.end])


def test_a_live_timeline_reads_each_event_once(monkeypatch: pytest.MonkeyPatch):
    """A timeline of 30,000 events (most on disk) shows both ends, then reads only what is new at each redraw."""
    transcript = pipelined_echo(Transcript(), 7500, 1)
    timeline = Timeline(transcript, live=False)
    try:
        assert f"… {30_000 - 400} events not shown …" in timeline.value
        asked: list[int] = []
        since = transcript.since
        monkeypatch.setattr(transcript, "since", lambda index: asked.append(index) or since(index))
        record(transcript, side="client", kind="send", conn=7, data="one more")
        assert timeline.refresh()
        assert asked == [30_000]
        assert "one more" in timeline.value and f"… {30_001 - 400} events not shown …" in timeline.value
    finally:
        timeline.close()


# -- pictures that tell the truth (issue 20) -------------------------------------------------


def _line(g: ET.Element) -> ET.Element:
    line = g.find(f"{_SVG}line")
    assert line is not None
    return line


def _lane_x(svg: ET.Element, lane: str) -> float:
    """The x of *lane*'s lifeline ("client", "server", "proxy")."""
    return float(
        next(e for e in svg.iter(f"{_SVG}line") if f"wsb-tl-lifeline wsb-{lane}" in e.get("class", "")).get("x1")
    )


def _row_of(svg: ET.Element, words: str) -> float:
    """The y of the dot on the row whose label shows *words*."""
    label = next(t for t in svg.iter(f"{_SVG}text") if words in _shown(t))
    return float(next(iter(label.iter(f"{_SVG}tspan"))).get("y")) - 4


def test_a_close_after_the_client_left_is_drawn_going_nowhere(bench):
    """Exercise 21.1: the endpoint's close(1000) after the client's close 4002 went nowhere, and is drawn
    so (a stub ending in a cross before the client's lane); the close the client did receive, uvicorn's
    reply 4002, is the arrow that reaches its "closed 4002"."""

    @bench.websocket("/close-after-loop")
    async def probe(websocket: WebSocket):
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(f"echo: {text}")
        await websocket.close(1000, "stopped")

    conn = bench.connect("/close-after-loop", timeout=5)
    conn.send_text("a")
    assert conn.receive_text(timeout=5) == "echo: a"
    conn.close(4002, "kicked")
    conn.wait_endpoint(5)
    html = Timeline(conn, live=False).value
    svg = _svgs(html)[0]
    client_x = _lane_x(svg, "client")
    closed_y = _row_of(svg, "closed 4002")
    late = [g for g in _arrows(html, "server") if g.get("data-cause") == "websocket.close"]
    assert len(late) == 1 and late[0].get("data-to") == "nowhere"
    line = _line(late[0])
    assert float(line.get("x2")) > client_x + 100  # it stops well before the client's lane
    assert late[0].find(f"{_SVG}path") is not None  # the cross it ends in
    assert "websocket.close 1000 (OK) stopped (went nowhere)" in [_shown(t) for t in svg.iter(f"{_SVG}text")]
    assert "had heard the client leave" in late[0].find(f"{_SVG}title").text
    reaching = [g for g in _arrows(html, "server") if abs(float(_line(g).get("y2")) - closed_y) < 1]
    assert [g.get("data-cause") for g in reaching] == ["websocket.disconnect"]  # uvicorn's reply, dashed
    assert "wsb-dashed" in _line(reaching[0]).get("class")
    label = _shown(reaching[0].find(f"{_SVG}text"))
    assert "4002" in label and "uvicorn's reply" in label
    assert abs(float(_line(reaching[0]).get("x2")) - client_x) < 10
    assert not _crossings(html)


_CHAR = 0.61 * 12  # px: one character of the 12 px monospace labels


def _boxes(svg: ET.Element) -> list[tuple[float, float, float, float, str]]:
    """(left, top, right, bottom, words) of every line of text the picture shows."""
    boxes = []
    for text in svg.iter(f"{_SVG}text"):
        anchor = text.get("text-anchor", "start")
        spans = list(text.iter(f"{_SVG}tspan")) or [text]
        for span in spans:
            x, y, words = float(span.get("x")), float(span.get("y")), (span.text or "").strip()
            width = len(words) * _CHAR
            left = {"start": x, "end": x - width, "middle": x - width / 2}[anchor]
            boxes.append((left + 1, y - 10, left + width - 1, y + 2, words))
    return boxes


def _crossings(html: str) -> list[str]:
    """Every label of the picture that an arrow's line runs through: the label's text and the arrow's cause."""
    found = []
    for svg in _svgs(html):
        boxes = _boxes(svg)
        for g in svg.iter(f"{_SVG}g"):
            line = _line(g)
            x1, y1, x2, y2 = (float(line.get(k)) for k in ("x1", "y1", "x2", "y2"))
            points = [(x1 + (x2 - x1) * k / 400, y1 + (y2 - y1) * k / 400) for k in range(401)]
            for left, top, right, bottom, words in boxes:
                if any(left < x < right and top < y < bottom for x, y in points):
                    found.append(f"{words!r} crossed by the arrow of {g.get('data-cause')}")
    return found


def _faulted_events() -> list[wsbench.Event]:
    """A connection through a FaultProxy with latency set before it: the proxy records the fault
    before forwarding the handshake, so the GET's arrow passes the proxy's row."""
    rows = [
        ("client", "connect", {"data": "ws://127.0.0.1:1/orders"}),
        ("proxy", "fault", {"detail": "latency 0.2 s each way"}),
        ("server", "websocket.connect", {"client_state": "CONNECTED", "application_state": "CONNECTING"}),
        ("server", "websocket.accept", {"client_state": "CONNECTED", "application_state": "CONNECTED"}),
        ("client", "open", {}),
        ("client", "close", {"code": 1000}),
        ("server", "websocket.disconnect", {"code": 1000, "client_state": "DISCONNECTED"}),
        ("client", "closed", {"code": 1000, "by": "client", "detail": "sent 1000 (OK); then received 1000 (OK)"}),
    ]
    return [
        wsbench.Event(seq=n, time=100 + n / 100, side=side, kind=kind, conn=1, **extra)
        for n, (side, kind, extra) in enumerate(rows, 1)
    ]


def test_a_proxy_label_is_never_crossed_by_an_arrow():
    """A fault set before the handshake: its label goes where the GET's arrow does not run through it."""
    html = timeline_html(_faulted_events())
    assert "fault: latency 0.2 s each way" in html
    assert _crossings(html) == []
    assert _crossings(timeline_html(_proxied_events())) == []


def test_the_timeline_scales_to_a_narrow_notebook():
    """Every connection's SVG is as wide as its container (width 100%) up to its natural width, its
    viewBox holding every column (the state columns too): a narrow notebook scales it, never cuts it."""
    external = [e for e in _proxied_events() if e.side == "client"]
    for html in (timeline_html(_faulted_events()), timeline_html(external)):
        for svg in _svgs(html):
            assert svg.get("width") == "100%" and svg.get("height") is None
            _, _, width, _ = (float(n) for n in svg.get("viewBox").split())
            assert f"max-width:{width:.0f}px" in svg.get("style") and "height:auto" in svg.get("style")
            for left, _, right, _, words in _boxes(svg):  # the states and lane names all inside the viewBox
                assert 0 <= left and right <= width, (words, left, right, width)


def test_a_send_that_failed_is_drawn_going_nowhere():
    """The endpoint wrote to a connection the client had dropped: its send stops short in a cross, and
    its tooltip says why (the "send failed" detail); nothing is drawn reaching the client."""
    rows = [
        ("client", "connect", {"data": "ws://127.0.0.1:1/room"}),
        ("server", "websocket.connect", {"client_state": "CONNECTED", "application_state": "CONNECTING"}),
        ("server", "websocket.accept", {"client_state": "CONNECTED", "application_state": "CONNECTED"}),
        ("client", "open", {}),
        ("client", "closed", {"code": 1006, "detail": "no close frame received or sent"}),
        ("server", "websocket.send", {"data": "to a member who left", "client_state": "CONNECTED"}),
        ("server", "send failed", {"detail": "websocket.send failed: ClientDisconnected"}),
    ]
    events = [
        wsbench.Event(seq=n, time=100 + n / 100, side=side, kind=kind, conn=1, **extra)
        for n, (side, kind, extra) in enumerate(rows, 1)
    ]
    html = timeline_html(events)
    svg = _svgs(html)[0]
    sent = [g for g in _arrows(html, "server") if g.get("data-cause") == "websocket.send"]
    assert len(sent) == 1 and sent[0].get("data-to") == "nowhere"
    assert "ClientDisconnected" in sent[0].find(f"{_SVG}title").text
    assert any(_shown(t).endswith("(went nowhere)") for t in svg.iter(f"{_SVG}text"))
    assert float(_line(sent[0]).get("x2")) > _lane_x(svg, "client") + 100
    assert _crossings(html) == []
