"""The widgets, driven from code against a real Bench (no browser): panel, timeline, close-code table."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets
import pytest

import wsbench
from wsbench.codes import REGISTERED
from wsbench.widgets import CUSTOM, CloseCodeTable, Panel, Timeline, _ticker
from wsbench.widgets._render import timeline_html


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll *predicate* until it is truthy and return its value; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {predicate}"
        time.sleep(0.01)
    return result


def comm_sends(widget: ipywidgets.Widget) -> list[dict]:
    """Record every message *widget* sends over its comm (what a front-end would receive)."""
    sent: list[dict] = []
    original = widget.comm.send

    def send(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        sent.append(data)
        original(data=data, metadata=metadata, buffers=buffers)

    widget.comm.send = send
    return sent


def sends(conn: wsbench.Connection) -> int:
    """How many messages the client has sent so far."""
    return len(conn.transcript.filter(side="client", kind="send"))


@pytest.fixture
def panels() -> Iterator[Callable[..., Panel]]:
    """Factory making panels that are closed (and so leave the refresh thread) after the test."""
    made: list[Panel] = []

    def make(conn: wsbench.Connection, **options: Any) -> Panel:
        panel = Panel(conn, **options)
        made.append(panel)
        return panel

    yield make
    for panel in made:
        panel.close()


@pytest.fixture
def echo(bench: wsbench.Bench) -> Iterator[wsbench.Connection]:
    """An open connection to the bench's /echo endpoint."""
    conn = bench.connect("/echo", timeout=5)
    yield conn
    conn.close()


# -- repr ----------------------------------------------------------------------------


def test_panel_repr_shows_path_and_state(echo, panels):
    """The panel's text repr is the path and the badge's words: no port, id or time."""
    panel = panels(echo)
    assert repr(panel) == "<Panel /echo open>"
    assert panel._repr_mimebundle_()["text/plain"] == "<Panel /echo open>"


def test_panel_repr_after_close_names_code_and_reason(echo, panels):
    """After a close the repr reads like wsbench.describe: 'closed 4001 (private use) bye'."""
    panel = panels(echo)
    echo.close(4001, "bye")
    assert repr(panel) == "<Panel /echo closed 4001 (private use) bye>"


def test_reprs_hold_no_port(bench, echo, panels):
    """No widget repr contains the bench's port."""
    texts = [repr(panels(echo)), repr(Timeline(bench)), repr(CloseCodeTable())]
    assert all(str(bench.port) not in text for text in texts)


# -- sending ---------------------------------------------------------------------------


def test_send_box_sends_text(echo, panels):
    """Text mode sends the box's text as a text message."""
    panel = panels(echo)
    panel.message.value = "hi"
    panel.send_button.click()
    assert echo.receive_text() == "hi"
    assert panel.send_error.value == ""


def test_send_box_sends_json(echo, panels):
    """JSON mode parses the box and sends compact JSON."""
    panel = panels(echo)
    panel.mode.value = "json"
    panel.message.value = '{"a": [1, 2]}'
    panel.send_button.click()
    assert echo.receive_text() == '{"a":[1,2]}'


def test_send_box_sends_hex_as_bytes(echo, panels):
    """Hex mode sends the bytes written as hex pairs, spaces allowed."""
    panel = panels(echo)
    panel.mode.value = "hex"
    panel.message.value = "68 69 00 ff"
    panel.send_button.click()
    assert echo.receive_bytes() == b"hi\x00\xff"


def test_bad_json_shows_error_and_sends_nothing(echo, panels):
    """Input that is not JSON shows an inline error and no message goes out."""
    panel = panels(echo)
    before = sends(echo)
    panel.mode.value = "json"
    panel.message.value = "{'single': 'quotes'}"
    panel.send_button.click()
    assert panel.send_error.value.startswith("not JSON: Expecting property name")
    assert "nothing was sent" in panel.send_error.value
    assert sends(echo) == before


@pytest.mark.parametrize(
    ("raw", "words"), [("68 6g", "'g' is not a hex digit"), ("686", "3 hex digits, an odd number")]
)
def test_bad_hex_shows_error_and_sends_nothing(echo, panels, raw, words):
    """Input that is not whole hex bytes shows an inline error and no message goes out."""
    panel = panels(echo)
    before = sends(echo)
    panel.mode.value = "hex"
    panel.message.value = raw
    panel.send_button.click()
    assert words in panel.send_error.value
    assert sends(echo) == before


def test_error_clears_after_a_good_send(echo, panels):
    """A successful send clears the previous error."""
    panel = panels(echo)
    panel.mode.value = "hex"
    panel.message.value = "zz"
    panel.send_button.click()
    assert panel.send_error.value
    panel.message.value = "00"
    panel.send_button.click()
    assert panel.send_error.value == ""


def test_send_on_closed_connection_shows_why(echo, panels):
    """Sending on a closed connection shows ConnectionClosed inline instead of raising."""
    panel = panels(echo)
    echo.close()
    panel.message.value = "late"
    panel.send_button.click()
    assert panel.send_error.value.startswith("ConnectionClosed: cannot send")


# -- closing ----------------------------------------------------------------------------


def test_code_picker_lists_every_registered_code_and_custom(echo, panels):
    """The picker offers every registered code, labelled as '1000 (OK)', then a custom entry; 1000 first."""
    picker = panels(echo).code
    assert list(picker.options) == [
        *[(str(info) + ("" if info.may_send else " - may not be sent"), info.code) for info in REGISTERED],
        ("custom code …", CUSTOM),
    ]
    assert picker.value == 1000


def test_close_with_custom_4001_closes_both_sides(bench, echo, panels):
    """Custom code 4001 and reason 'bye' from the picker close the client and the endpoint with 4001."""
    panel = panels(echo)
    panel.code.value = CUSTOM
    panel.custom_code.value = 4001
    panel.reason.value = "bye"
    panel.close_button.click()
    assert (echo.close_code, echo.close_reason) == (4001, "bye")
    seen = wait_until(lambda: bench.transcript.filter(side="server", kind="websocket.disconnect").events)
    assert [(e.code, e.reason) for e in seen] == [(4001, "bye")]
    assert repr(panel) == "<Panel /echo closed 4001 (private use) bye>"
    assert "closed 4001 (private use) bye" in panel.badge.value


def test_typing_a_custom_code_selects_custom(echo, panels):
    """Setting the custom code field switches the picker to its custom entry."""
    panel = panels(echo)
    panel.custom_code.value = 4321
    assert (panel.code.value, panel.selected_code()) == (CUSTOM, 4321)


@pytest.mark.parametrize("code", [1006, 1005, 1015, 2000, 999])
def test_unsendable_code_is_refused_with_the_rule(echo, panels, code):
    """A code that may not be sent shows check_close's rule inline; the connection stays open."""
    panel = panels(echo)
    if code in {info.code for info in REGISTERED}:
        panel.code.value = code
    else:
        panel.custom_code.value = code
    panel.close_button.click()
    assert f"close code {code} may not be sent" in panel.close_error.value
    assert "RFC 6455 §7.4" in panel.close_error.value
    assert echo.state == "open"
    assert not echo.transcript.filter(side="client", kind="close").events


def test_reason_over_123_bytes_is_refused(echo, panels):
    """A reason of 124 bytes of UTF-8 (62 × 'é') is refused inline; nothing is sent."""
    panel = panels(echo)
    panel.reason.value = "é" * 62
    panel.close_button.click()
    assert panel.close_error.value.startswith("close reason is 124 bytes of UTF-8")
    assert "124/123 bytes" in panel.reason_size.value
    assert echo.state == "open"


def test_reason_of_exactly_123_bytes_closes(echo, panels):
    """A reason of exactly 123 bytes is allowed and reaches the peer."""
    panel = panels(echo)
    panel.reason.value = "r" * 123
    panel.close_button.click()
    assert panel.close_error.value == ""
    assert (echo.close_code, echo.close_reason) == (1000, "r" * 123)


# -- ping and reconnect -------------------------------------------------------------------


def test_ping_shows_round_trip(echo, panels):
    """The ping button shows the round-trip time and logs ping and pong."""
    panel = panels(echo, live=False)
    panel.ping_button.click()
    assert panel.result.value.startswith("ping: round trip ")
    assert panel.result.value.endswith(" ms")
    assert panel.log_lines()[-2:] == ["→ ping", "← pong"]


def test_ping_on_closed_connection_shows_why(echo, panels):
    """Ping on a closed connection shows the error inline."""
    panel = panels(echo)
    echo.close()
    panel.ping_button.click()
    assert panel.result.value.startswith("ConnectionClosed: cannot ping")


def test_reconnect_uses_the_given_function(bench, echo, panels):
    """Reconnect closes the open connection with 1000 and follows the new one."""
    panel = panels(echo, live=False, reconnect=lambda: bench.connect("/echo"))
    panel.reconnect_button.click()
    assert echo.close_code == 1000
    assert panel.conn is not echo
    assert repr(panel) == "<Panel /echo open>"
    assert panel.log_lines()[-3:] == ["· reconnected", "· connect /echo", "· open"]
    panel.conn.close()


def test_reconnect_defaults_to_the_same_url(echo, panels):
    """Without a reconnect function the panel connects to the same URL."""
    panel = panels(echo, live=False)
    echo.close()
    panel.reconnect_button.click()
    assert (panel.conn.url, panel.conn.state) == (echo.url, "open")
    panel.conn.close()


# -- the log ---------------------------------------------------------------------------------


def test_log_shows_each_kind(echo, panels):
    """The log renders text, pretty JSON and a hex + ASCII dump of bytes."""
    panel = panels(echo, live=False)
    echo.send_text("plain")
    echo.send_json({"k": [1, 2]})
    echo.send_bytes(b"AB\x00")
    for _ in range(3):
        echo.receive()
    panel.flush()
    html = panel.log_view.value
    assert "→ text 5 B plain" in panel.log_lines()
    assert '{\n  "k": [\n    1,' in html
    assert "00000000  41 42 00" in html and "|AB.|" in html


def test_ring_keeps_only_the_last_lines(echo, panels):
    """With ring=5 the log shows the last 5 lines and says how many earlier ones it dropped."""
    panel = panels(echo, live=False, ring=5)
    for i in range(20):
        echo.send_text(f"m{i}")
    for _ in range(20):
        echo.receive_text()
    panel.flush()
    lines = panel.log_lines()
    assert len(lines) == 5
    assert lines[-1] == "← text 3 B m19"
    assert "37 earlier lines not shown" in panel.log_view.value  # connect, open, 40 messages = 42 lines
    assert panel.events_seen == len(echo.transcript)


def test_filter_narrows_the_log(echo, panels):
    """The filter box keeps the lines containing its text, case-insensitively."""
    panel = panels(echo, live=False)
    for word in ("apple", "banana", "APPLE pie"):
        echo.send_text(word)
        echo.receive_text()
    panel.flush()
    panel.filter.value = "apple"
    assert panel.log_lines() == ["→ text 5 B apple", "← text 5 B apple", "→ text 9 B APPLE pie", "← text 9 B APPLE pie"]
    assert "filter 'apple': 4 of 8 lines" in panel.log_view.value


def test_flush_sends_one_log_update_for_many_messages(echo, panels):
    """200 messages taken in by one flush cost one comm message for the log, not 200."""
    panel = panels(echo, live=False)
    sent = comm_sends(panel.log_view)
    for i in range(100):
        echo.send_text(f"m{i}")
    for _ in range(100):
        echo.receive_text()
    panel.flush()
    assert len(sent) == 1
    assert panel.flush() is False
    assert len(sent) == 1


def test_timer_coalesces_updates(echo, panels):
    """Left to the timer, the log refreshes at most once per interval however many messages arrive."""
    panel = panels(echo, interval=0.1)
    sent = comm_sends(panel.log_view)
    start = time.monotonic()
    for i in range(500):
        echo.send_text(f"m{i}")
    for _ in range(500):
        echo.receive_text()
    wait_until(lambda: "m499" in panel.log_view.value)
    elapsed = time.monotonic() - start
    assert 1 <= len(sent) <= elapsed / 0.1 + 2
    assert len(sent) < 500


def test_timer_refreshes_badge_when_the_server_closes(bench, panels):
    """A close by the server reaches the badge through the timer, with no call from the test."""
    conn = bench.connect("/send?n=2&code=4003&reason=go")
    panel = panels(conn)
    wait_until(lambda: "closed 4003 (private use) go" in panel.badge.value)
    assert panel.log_lines()[-1] == "← closed 4003 (private use) go"


def test_closing_the_widget_stops_its_refresh(echo):
    """Panel.close() closes every child widget and leaves the refresh thread."""
    panel = Panel(echo)
    assert panel in _ticker._views
    panel.close()
    assert panel not in _ticker._views
    assert panel.send_button.comm is None


def test_bad_options_are_refused(echo):
    """ring and interval must be positive."""
    with pytest.raises(ValueError, match="ring must be at least 1"):
        Panel(echo, ring=0)
    with pytest.raises(ValueError, match="interval must be a positive"):
        Panel(echo, interval=0)


# -- timeline ---------------------------------------------------------------------------------


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


# -- close-code table --------------------------------------------------------------------------


def test_close_code_table_lists_every_code():
    """The table has a row per registered code with may-be-sent, the rule and the fastapi.status name."""
    table = CloseCodeTable()
    assert [row["code"] for row in table.rows] == [info.code for info in REGISTERED]
    assert table.value.count("<tr>") == len(REGISTERED) + 1
    assert "WS_1008_POLICY_VIOLATION" in table.value
    assert 'RFC 6455 §7.4.1: reserved for "abnormal closure"' in table.value
    assert repr(table) == f"<CloseCodeTable: {len(REGISTERED)} codes>"


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
