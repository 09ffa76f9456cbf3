"""Every view labels a connection by its path, also one with no client side in the transcript
(an outside client, or one through a FaultProxy): the server's "websocket.connect" records the
path the client asked for (below root_path, secrets masked when shown) (issue 20, item 4)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as raw_connect

import wsbench
from wsbench import FaultProxy
from wsbench.transcript import Transcript
from wsbench.widgets._lanes import lanes_html
from wsbench.widgets._svg import timeline_html

SECRET = "s3cr3t-value-42"


def _outside_echo(url: str) -> None:
    """One round trip by a client wsbench does not know: a plain websockets client."""
    with raw_connect(url, open_timeout=5, close_timeout=5) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"


def _titles(html: str) -> list[str]:
    """The headings of a timeline's connection pictures."""
    return re.findall(r'class="wsb-tl-title">([^<]*)<', html)


@pytest.fixture
def outside(bench: wsbench.Bench) -> Iterator[wsbench.Bench]:
    """A bench two outside clients talked to: /echo with a token in the query, then /chat."""
    _outside_echo(bench.url_for(f"/echo?token={SECRET}&room=7"))
    _outside_echo(bench.url_for("/chat"))
    bench.wait_idle(timeout=5)
    yield bench


def test_the_servers_connect_records_the_path_below_root_path(make_bench):
    """The path the client asked for, without the app's root_path, its query kept (masked when shown)."""
    bench = make_bench(root_path="/api")
    _outside_echo(bench.url_for("/echo?token=abc"))
    bench.wait_idle(timeout=5)
    connect = next(e for e in bench.transcript if e.side == "server" and e.kind == "websocket.connect")
    assert connect.detail == "/echo?token=abc"
    assert connect.masked().detail == "/echo?token=***"


def test_text_names_the_path_of_a_connection_with_no_client_side(outside):
    text = outside.transcript.text(full=True)
    assert "websocket.connect /echo?token=***&room=7" in text
    assert "websocket.connect /chat" in text
    assert SECRET not in text
    assert SECRET in outside.transcript.text(full=True, unmasked=True)


def test_one_connection_alone_names_its_path(bench):
    _outside_echo(bench.url_for("/echo"))
    bench.wait_idle(timeout=5)
    assert "← websocket.connect /echo" in str(bench.transcript)


def test_timeline_heads_a_connection_with_no_client_side_with_its_path(outside):
    html = timeline_html(outside.transcript)
    assert _titles(html) == ["#1 /echo?token=***&amp;room=7", "#2 /chat"]
    assert SECRET not in html
    assert "Timeline of 2 connections (#1 /echo?token=***&amp;room=7, #2 /chat)" in html  # the text-only fallback


def test_lanes_say_the_path_of_a_connection_with_no_client_side(outside):
    html = lanes_html(outside.transcript)
    assert "websocket.connect /echo?token=***&amp;room=7" in html
    assert "websocket.connect /chat" in html
    assert SECRET not in html


def test_a_client_through_a_fault_proxy_is_labelled_by_its_path(bench, request):
    """A client wsbench does not know, through a FaultProxy: the proxy's and the bench's transcripts
    hold only the server's side (and the proxy's), and both name the path."""
    proxy = FaultProxy(bench, name=f"{request.node.nodeid}-proxy")
    try:
        _outside_echo(proxy.url_for("/echo"))
        bench.wait_idle(timeout=5)
    finally:
        proxy.stop()
    for transcript in (proxy.transcript, bench.transcript):
        assert not any(e.side == "client" for e in transcript)
        assert "websocket.connect /echo" in transcript.text(full=True)
        assert _titles(timeline_html(transcript)) == ["#1 /echo"]


def test_a_connection_with_its_client_side_says_its_path_once(bench):
    """Where the client's "connect" line shows the path, the server's connect line does not repeat it."""
    conn = bench.connect("/echo", timeout=5)
    conn.send_text("hi")
    conn.receive_text(timeout=5)
    conn.close()
    conn.wait_endpoint(5)
    server_connect = next(e for e in conn.transcript if e.side == "server" and e.kind == "websocket.connect")
    assert server_connect.detail == "/echo"  # recorded all the same
    for text in (conn.transcript.text(full=True), bench.transcript.text(full=True)):
        assert text.count("/echo") == 1, text
        assert re.search(r"websocket\.connect\s+\[client_state", text), text
    assert _titles(timeline_html(conn.transcript)) == ["#1 /echo"]
    assert "websocket.connect /echo" not in lanes_html(bench.transcript)


def test_a_file_from_before_the_path_was_recorded_still_loads(tmp_path):
    """A JSON Lines file written before: its server connect has no path, and it loads and shows as before."""
    path = tmp_path / "old.jsonl"
    path.write_text(
        '{"seq": 1, "time": 1.0, "side": "server", "kind": "websocket.connect", "conn": 5, "code": null, '
        '"reason": null, "client_state": "CONNECTING", "application_state": "CONNECTING", "detail": null, '
        '"text": null, "bytes": null, "size": 0}\n',
        encoding="utf-8",
    )
    loaded = Transcript.load(path)
    assert loaded[0].detail is None
    assert re.search(r"← websocket\.connect\s+\[client_state=CONNECTING", loaded.text())
    assert _titles(timeline_html(loaded)) == ["#1"]


def test_the_path_survives_a_file_masked(outside, tmp_path):
    """transcript.save masks the query's secret in the recorded path too; the file loads with the path."""
    path = outside.transcript.save(tmp_path / "outside.jsonl")
    assert SECRET not in path.read_text(encoding="utf-8")
    loaded = Transcript.load(path)
    assert loaded.text(full=True) == outside.transcript.text(full=True)
    assert "websocket.connect /echo?token=***&room=7" in loaded.text(full=True, unmasked=True)


def test_a_path_a_peer_chose_is_escaped_in_every_view(bench):
    """uvicorn decodes %1b into ESC in the scope's path: the recorded path keeps it, every view escapes it."""

    @bench.websocket("/room/{name}")
    async def room(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        await websocket.close()

    with raw_connect(bench.url_for("/room/a%1b%5b31mred%07"), open_timeout=5, close_timeout=5) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    bench.wait_idle(timeout=5)
    connect = next(e for e in bench.transcript if e.kind == "websocket.connect")
    assert connect.detail == "/room/a\x1b[31mred\x07"
    views = [bench.transcript.text(full=True), timeline_html(bench.transcript), lanes_html(bench.transcript)]
    for shown in views:
        assert "\x1b" not in shown and "\x07" not in shown
        assert "/room/a\\x1b[31mred\\x07" in shown
