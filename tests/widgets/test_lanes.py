"""The many-clients picture (issue 23): a lane per client, the server between them, a handler's
sends marked as its own, readable at 20 clients."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from test_many_clients import add_chat

import wsbench
from wsbench.widgets._lanes import lanes_html
from wsbench.widgets.lanes import Lanes

_SVG = "{http://www.w3.org/2000/svg}"


def _svg(html: str) -> ET.Element:
    (found,) = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    return ET.fromstring(found)


def _chat(bench: wsbench.Bench, names: list[str]) -> None:
    """Everyone joins; the first two speak; the last leaves; the rest close."""
    add_chat(bench)
    conns = [bench.connect(f"/chat/{name}", name=name) for name in names]
    for speaker in conns[:2]:
        speaker.send_text("hi")
        for conn in conns:
            conn.receive_text()
    conns[-1].close()
    for conn in conns[:-1]:
        assert conn.receive_text().endswith("left")
        conn.close()
    bench.wait_idle()


def test_one_diagram_with_a_lane_per_client_and_the_fan_out_marked_by_its_handler(bench: wsbench.Bench):
    """Three clients: one <svg>, lanes ann, server, bob, cat (the server between them); ann's
    broadcast is three arrows from the server lane marked as ann's (data-from, her colour), one
    of them ending on bob's lane; hovering it says how long after ann's send it arrived."""
    _chat(bench, ["ann", "bob", "cat"])
    lanes = bench.timeline(lanes=True, live=False)
    assert isinstance(lanes, Lanes) and repr(lanes) == "<Lanes: 3 clients>"
    svg = _svg(lanes.value)
    heads = [t.findtext(f"{_SVG}title") for t in svg.iter(f"{_SVG}text") if t.get("class") == "wsb-ln-name"]
    assert heads == ["ann", "bob", "server", "cat"]
    xs = {t.findtext(f"{_SVG}title"): float(t.get("x", 0)) for t in svg.iter(f"{_SVG}text") if t.get("class")}
    arrows = [line for line in svg.iter(f"{_SVG}line") if "wsb-ln-arrow" in (line.get("class") or "")]
    by_ann = [a for a in arrows if a.get("data-from") == "ann"]
    broadcast = [a for a in by_ann if "'ann: hi'" in (a.findtext(f"{_SVG}title") or "")]
    assert len(broadcast) == 3
    assert all(abs(float(a.get("x1", 0)) - xs["server"]) <= 4 for a in broadcast)  # all from the server lane
    assert len({a.get("stroke") for a in by_ann}) == 1  # one colour: ann's
    to_bob = [a for a in broadcast if abs(float(a.get("x2", 0)) - xs["bob"]) < 10]
    assert len(to_bob) == 1
    assert "ms after the client's send" in (to_bob[0].findtext(f"{_SVG}title") or "")
    left = [a for a in arrows if "'cat left'" in (a.findtext(f"{_SVG}title") or "")]
    assert {a.get("data-from") for a in left} == {"cat"}  # the leave broadcast: cat's handler
    rows = [t.findtext(f"{_SVG}title") for t in svg.iter(f"{_SVG}text") if t.get("class") is None]
    assert "bob server  → websocket.send text 'ann: hi' (by ann's handler)" in rows


def test_twenty_clients_stay_readable(make_bench):
    """20 clients: at most MAX_LANES client lanes (the last holding the rest, each of its rows
    named), and the picture no wider than a screen and a half."""
    bench = make_bench(endpoints=False)
    names = [f"u{n:02d}" for n in range(20)]
    _chat(bench, names)
    html = lanes_html(bench.transcript.events, max_lanes=8)
    svg = _svg(html)
    heads = [t.findtext(f"{_SVG}title") for t in svg.iter(f"{_SVG}text") if t.get("class") == "wsb-ln-name"]
    assert heads == ["u00", "u01", "u02", "u03", "server", "u04", "u05", "u06", "+13 more"]
    assert float(svg.get("width", 0)) < 1400
    rows = [t.findtext(f"{_SVG}title") or "" for t in svg.iter(f"{_SVG}text") if t.get("class") is None]
    assert any(row.startswith("u19 client  connect /chat/u19") for row in rows)


def test_a_long_conversation_is_windowed_and_the_widget_saves_a_page(bench: wsbench.Bench, tmp_path):
    """Past *limit* events: the first and last halves and a row naming how many are not drawn;
    save() writes a standalone page; bad limits are refused."""
    _chat(bench, ["ann", "bob", "cat"])
    html = lanes_html(bench.transcript.events, limit=20)
    hidden = len(bench.transcript) - 20
    assert f"… {hidden} events not drawn" in html
    assert len([c for c in _svg(html).iter(f"{_SVG}circle")]) == 20
    page = Lanes(bench, live=False).save(tmp_path / "lanes.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    with pytest.raises(ValueError, match="at least 2"):
        lanes_html([], limit=1)
