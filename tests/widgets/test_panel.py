"""The connection panel, driven from code against a real Bench (no browser): send, close, ping,
reconnect, the log and its timer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets
import pytest
from conftest import wait_until
from fastapi import WebSocket

import wsbench
from wsbench.codes import REGISTERED
from wsbench.errors import ConnectionRefused
from wsbench.transcript import IN_MEMORY, record
from wsbench.transcript.spool import LazyEvents
from wsbench.widgets import CUSTOM, CloseCodeTable, Panel, Timeline, _ticker


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


def test_panel_bundle_carries_the_log_as_static_html(echo, panels):
    """The display bundle: the widget view, the badge and log as text/html, and text/plain unchanged."""
    echo.send_text("for nbviewer")
    echo.receive_text(timeout=5)
    panel = panels(echo, live=False)
    bundle = panel._repr_mimebundle_()
    assert {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"} <= set(bundle)
    assert bundle["text/plain"] == "<Panel /echo open>" == repr(panel)
    html = bundle["text/html"]
    assert "for nbviewer" in html and "wsb-badge" in html and "<input" not in html and "<script" not in html


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


def submit_from_browser(panel: Panel) -> None:
    """What Ctrl+Enter in the panel's message box delivers to the kernel (as ipywidgets hands it over)."""
    panel.message._handle_msg({"content": {"data": {"method": "custom", "content": {"type": "submit"}}}, "buffers": []})


def test_ctrl_enter_sends_like_the_send_button(bench, echo, panels):
    """Ctrl+Enter in the box sends its text on the real connection, reaching the endpoint, as a click does."""
    panel = panels(echo)
    panel.message.value = "by keyboard"
    submit_from_browser(panel)
    assert echo.receive_text() == "by keyboard"
    seen = wait_until(lambda: bench.transcript.filter(side="server", kind="websocket.receive").events)
    assert [e.data for e in seen] == ["by keyboard"]
    assert sends(echo) == 1 and panel.send_error.value == ""


def test_ctrl_enter_sends_in_json_mode_and_shows_refusals(echo, panels):
    """Ctrl+Enter follows the mode and the send button's checks: bad JSON is refused inline, good JSON goes."""
    panel = panels(echo)
    panel.mode.value = "json"
    panel.message.value = "{not json"
    submit_from_browser(panel)
    assert panel.send_error.value.startswith("not JSON") and sends(echo) == 0
    panel.message.value = '{"a": 1}'
    submit_from_browser(panel)
    assert echo.receive_text() == '{"a":1}' and panel.send_error.value == ""


def test_message_box_keeps_value_and_placeholder(echo, panels):
    """``panel.message.value`` reads and writes the box, and the mode sets its placeholder."""
    panel = panels(echo)
    panel.message.value = "x"
    assert panel.message.value == "x"
    assert panel.message.placeholder == "a text message"
    panel.mode.value = "hex"
    assert panel.message.placeholder == "hex bytes, e.g. 68 69 00 ff"
    assert "wsbench-message" in panel.message._dom_classes


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
    assert not panel.custom_code.disabled


def _descendants(widget: ipywidgets.Widget) -> list[ipywidgets.Widget]:
    """Every widget under *widget*."""
    found, stack = [], list(widget.children)
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(getattr(child, "children", ()))
    return found


def test_layout_does_not_overflow_sideways(echo, panels):
    """Full-width children have no side margins (100% + 2 px margins overflowed) and rows wrap."""
    panel = panels(echo, live=False)
    inside = _descendants(panel)
    full = [w for w in inside if w.layout.width == "100%"]
    assert {panel.log_view, panel.message} <= set(full)
    assert all(w.layout.margin == "2px 0" for w in full)
    rows = [w for w in inside if isinstance(w, ipywidgets.HBox)]
    assert rows and all(w.layout.flex_flow == "row wrap" for w in rows)


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


@pytest.fixture
def whoami(bench: wsbench.Bench) -> str:
    """A /whoami endpoint on the bench that sends back the request's X-Course header and cookie."""

    @bench.websocket("/whoami")
    async def whoami(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"{websocket.headers.get('x-course')} {websocket.cookies.get('seat')}")
        await websocket.receive()

    return "/whoami"


def test_reconnect_keeps_the_connections_options(bench, whoami, panels):
    """Panel(conn) reconnects with conn.reconnect(): same headers, cookies and bench pairing."""
    conn = bench.connect(whoami, headers={"X-Course": "ws101"}, cookies={"seat": "7"}, timeout=5)
    assert conn.receive_text() == "ws101 7"
    panel = panels(conn, live=False)
    panel.reconnect_button.click()
    assert panel.result.value == "reconnected"
    assert (panel.conn.url, panel.conn.state) == (conn.url, "open")
    assert panel.conn.receive_text() == "ws101 7"
    wait_until(lambda: panel.conn.transcript.filter(side="server", kind="websocket.accept").events)  # paired
    panel.conn.close()


def test_panel_and_conn_panel_reconnect_alike(bench, whoami, panels):
    """conn.panel() and Panel(conn) both reconnect with the connection's own options."""
    conn = bench.connect(whoami, headers={"X-Course": "ws101"}, cookies={"seat": "7"}, timeout=5)
    for panel in (panels(conn, live=False), conn.panel(live=False)):
        panel.reconnect_button.click()
        assert panel.conn.receive_text(timeout=5) == "ws101 7"
        panel.conn.close()
        panel.close()


def test_reconnect_follows_the_live_connection(echo, panels):
    """After a reconnect panel.conn is the new, open connection and the panel's controls drive it."""
    panel = panels(echo, live=False)
    echo.close()
    panel.reconnect_button.click()
    assert panel.conn is not echo and panel.conn.state == "open"
    assert panel.connections == (echo, panel.conn)
    panel.message.value = "again"
    panel.send_button.click()
    assert panel.conn.receive_text() == "again"
    panel.conn.close()


def test_reconnect_clears_the_old_errors(echo, panels):
    """A send or close error from the old connection is gone once the reconnect succeeds."""
    panel = panels(echo, live=False)
    echo.close()
    panel.message.value = "late"
    panel.send_button.click()
    panel.close_button.click()
    assert panel.send_error.value.startswith("ConnectionClosed")
    panel.reconnect_button.click()
    assert (panel.send_error.value, panel.close_error.value, panel.result.value) == ("", "", "reconnected")
    panel.conn.close()


def test_one_log_across_reconnects_with_counts_that_match(echo, panels):
    """The log runs on through a '· reconnected' line, and the counts add up both connections."""
    panel = panels(echo, live=False)
    echo.send_text("one")
    echo.receive_text()
    panel.reconnect_button.click()
    panel.conn.send_text("two")
    panel.conn.receive_text()
    panel.flush()
    lines = panel.log_lines()
    assert lines == [
        "· connect /echo",
        "· open",
        "→ text 3 B one",
        "← text 3 B one",
        "→ close 1000 (OK) reconnect",
        "← closed 1000 (OK) reconnect",
        "· reconnected",
        "· connect /echo",
        "· open",
        "→ text 3 B two",
        "← text 3 B two",
    ]
    sent = sum(line.startswith("→ text") for line in lines)
    received = sum(line.startswith("← text") for line in lines)
    assert (sent, received) == (2, 2)
    assert f"{sent} sent · {received} received" in panel.counts.value
    assert "wsb-mark" in panel.log_view.value
    panel.conn.close()


def test_a_failed_reconnect_shows_why_and_keeps_the_connection(echo, panels):
    """A reconnect that fails shows the error in result; the panel stays on the old connection."""

    def refused() -> wsbench.Connection:
        raise ConnectionRefused("nothing listens there")

    panel = panels(echo, live=False, reconnect=refused)
    panel.reconnect_button.click()
    assert panel.result.value == "ConnectionRefused: nothing listens there"
    assert panel.conn is echo and panel.connections == (echo,)


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
    """Left to the timer, the log changes at most once per refresh turn, however many messages arrive."""
    panel = panels(echo, interval=0.1)
    turns: list[float] = []
    tick = panel._tick

    def counted(now: float) -> None:
        turns.append(now)
        tick(now)

    panel._tick = counted
    sent = comm_sends(panel.log_view)
    for i in range(500):
        echo.send_text(f"m{i}")
    for _ in range(500):
        echo.receive_text()
    wait_until(lambda: "m499" in panel.log_view.value)
    assert 1 <= len(sent) <= len(turns)
    assert len(sent) < 500


def test_a_refresh_turn_sets_the_next_one_an_interval_later(echo, panels):
    """After a turn at time t the panel's next turn is due at t + interval."""
    panel = panels(echo, live=False, interval=0.25)
    panel._tick(100.0)
    assert panel._due == 100.25


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
    assert panel._discarded  # skipped from now on; forgotten now, or at the thread's next look
    wait_until(lambda: panel not in list(_ticker._views))
    assert panel.send_button.comm is None


def test_bad_options_are_refused(echo):
    """ring and interval must be positive."""
    with pytest.raises(ValueError, match="ring must be at least 1"):
        Panel(echo, ring=0)
    with pytest.raises(ValueError, match="interval must be a positive"):
        Panel(echo, interval=0)


def test_a_panel_opened_on_a_long_conversation_shows_what_an_early_one_shows(echo, panels):
    """A panel opened after 20,000 events (most on disk) shows the counts and lines of one open from the start."""
    early = panels(echo, live=False, ring=5)
    early.flush()
    conn = echo.transcript[0].conn
    for i in range(2 * IN_MEMORY):
        record(echo.transcript, side="client", kind="receive" if i % 3 else "send", conn=conn, data=f"m{i}")
    early.flush()
    assert isinstance(echo.transcript.since(0), LazyEvents)  # the long path, counts from the spool's index
    late = panels(echo, live=False, ring=5)
    late.flush()
    assert late.counts.value == early.counts.value
    assert late.log_view.value == early.log_view.value
    assert "m19999" in late.log_view.value


# -- a panel says why it dropped, and the custom code box (issue 20) --------------------------


def test_a_dropped_panel_says_why(bench, panels):
    """An endpoint that raises drops the connection (1006): the badge and the repr name the exception,
    which before was only in print(panel.conn.transcript)."""

    @bench.websocket("/wants-text")
    async def wants_text(websocket: WebSocket):
        await websocket.accept()
        await websocket.receive_text()

    conn = bench.connect("/wants-text", timeout=5)
    panel = panels(conn, live=False)
    conn.send_bytes(b"\x00")
    conn.wait_closed(5)
    conn.wait_endpoint(5)
    panel.flush()
    why = "closed 1006 (abnormal closure [internal]): endpoint raised KeyError: 'text'"
    assert panel.status == why
    assert repr(panel) == f"<Panel /wants-text {why}>"
    assert "endpoint raised KeyError: &#x27;text&#x27;" in panel.badge.value
    assert "endpoint raised KeyError" in panel.static_html()


def test_a_clean_close_names_no_cause(bench, echo, panels):
    """A close with a frame says its code and reason only, even after an earlier connection of the panel dropped."""
    panel = panels(echo, live=False)
    echo.close(4001, "bye")
    panel.flush()
    assert panel.status == "closed 4001 (private use) bye"


def test_the_custom_code_box_can_be_typed_in_before_choosing_custom(echo, panels):
    """The custom code box is never disabled (a browser does not let one type into a disabled box): it is
    dimmed until chosen, and typing into it (each keystroke synced) selects "custom code"."""
    panel = panels(echo, live=False)
    assert panel.code.value == 1000
    assert not panel.custom_code.disabled and panel.custom_code.continuous_update
    assert "wsb-inactive" in panel.custom_code._dom_classes
    panel.custom_code.value = 4002  # what a keystroke in the browser does
    assert (panel.code.value, panel.selected_code()) == (CUSTOM, 4002)
    assert "wsb-inactive" not in panel.custom_code._dom_classes
    panel.code.value = 1001
    assert "wsb-inactive" in panel.custom_code._dom_classes and panel.selected_code() == 1001
