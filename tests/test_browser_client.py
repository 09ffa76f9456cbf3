"""Tests for the browser client (Bench.browser_connect, BrowserLink, BrowserClient) without a browser.

A fake page written in Python speaks the widget's control protocol against a real Bench: it says
hello on ``/.wsbench/browser/<token>``, opens its "WebSocket" when told to (with an Origin and a
User-Agent, as a browser does, and the one-time pairing secret the open command carries in its
query, as the widget's JavaScript does), reports each thing it does and sees, and carries out the
kernel's commands as a browser's WebSocket would (refusing close codes a browser refuses).
"""

from __future__ import annotations

import base64
import inspect
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TIMEOUT_SCALE, wait_until
from fastapi import WebSocket
from test_many_clients import add_chat
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import wsbench
from wsbench.browser_link import CONTROL_MAX, CONTROL_PREFIX, PAIR_PARAM
from wsbench.errors import InvalidPath
from wsbench.kinds import ALWAYS, KINDS

UA = "FakeBrowser/1.0 (wsbench tests)"
#: websockets 17 asks callers of connect() to choose between two behaviours; 16 has no such argument
#: (and the one behaviour these tests use: connect() returns the connection itself).
_LEGACY = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}
ORIGIN = "http://127.0.0.1:8888"
T = 5 * TIMEOUT_SCALE  # seconds: the bound of every wait here


def paired_url(url: str, secret: str) -> str:
    """*url* carrying a page's pairing secret, as the widget's JavaScript builds it."""
    return f"{url}{'&' if '?' in url else '?'}{PAIR_PARAM}={secret}"


class FakePage:
    """A page running a BrowserClient: a control socket, and a WebSocket opened when the bench says."""

    def __init__(self, bench: wsbench.Bench, widget: Any, *, ua: str = UA) -> None:
        self.bench, self.widget, self.ua = bench, widget, ua
        self.ctl = connect(f"ws://127.0.0.1:{bench.port}{CONTROL_PREFIX}{widget._token}", open_timeout=T, **_LEGACY)
        self.ws: ClientConnection | None = None
        self.pair = ""  #: the pairing secret of the open command
        self.n = 0
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def report(self, kind: str, **fields: Any) -> None:
        with self.lock:
            try:
                self.ctl.send(json.dumps({"n": self.n, "kind": kind, **fields}))
            except ConnectionClosed:  # the bench closed the report line (or the test did): a page drops it
                return
            self.n += 1

    def start(self) -> FakePage:
        """Say hello and carry out the bench's commands on a thread of its own."""
        self.report("hello", ua=self.ua, origin=ORIGIN)
        self._thread(self._commands)
        return self

    def _thread(self, target: Any) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _commands(self) -> None:
        try:
            for text in self.ctl:
                command = json.loads(text)
                self._do(command)
        except ConnectionClosed:
            pass

    def _do(self, command: dict[str, Any]) -> None:
        op, re = command["op"], command.get("id")
        if op == "open":
            self.pair = command["pair"]
            url = f"ws://127.0.0.1:{self.bench.port}{self.widget.path}"
            self.report("connect", data=url, protocols=list(self.widget._subprotocols))
            protocols = list(self.widget._subprotocols) or None
            self.ws = connect(
                paired_url(url, command["pair"]),
                origin=ORIGIN,
                user_agent_header=self.ua,
                subprotocols=protocols,
                open_timeout=T,
                **_LEGACY,
            )
            self.report("open", detail=self.ws.subprotocol or "", extensions="")
            self._thread(self._read)
        elif op == "send":
            assert self.ws is not None
            data = base64.b64decode(command["bytes"]) if "bytes" in command else command["text"]
            self.ws.send(data)
            fields = {"bytes": command["bytes"]} if "bytes" in command else {"text": data}
            self.report("send", re=re, buffered=len(command.get("text", "")), **fields)
        elif op == "close":
            code = command["code"]
            if code != 1000 and not 3000 <= code <= 4999:  # as a browser does
                detail = f"InvalidAccessError: The close code must be either 1000, or between 3000 and 4999. {code} is"
                self.report("refused", re=re, detail=detail)
                return
            self.report("close", re=re, code=code, reason=command["reason"], buffered=0)
            assert self.ws is not None
            self._thread(lambda: self.ws.close(code, command["reason"]))  # type: ignore[union-attr]

    def _read(self) -> None:
        assert self.ws is not None
        try:
            for message in self.ws:
                if isinstance(message, bytes):
                    self.report("message", bytes=base64.b64encode(message).decode(), detail="ArrayBuffer")
                else:
                    self.report("message", text=message)
        except ConnectionClosed:
            pass
        clean = self.ws.protocol.close_rcvd is not None
        code, reason = self.ws.close_code or 1006, self.ws.close_reason or ""
        self.report("closed", code=code, reason=reason, clean=clean)

    def stop(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.ctl.close()
        for thread in self.threads:
            thread.join(T)


@pytest.fixture
def page(bench: wsbench.Bench) -> Iterator[Any]:
    """Makes a widget for a path and a fake page running it; closes the pages afterwards."""
    pages: list[FakePage] = []

    def make(path: str = "/echo", **options: Any) -> tuple[Any, FakePage]:
        widget = bench.browser_connect(path, timeout=T, **options)
        fake = FakePage(bench, widget).start()
        pages.append(fake)
        return widget, fake

    yield make
    for fake in pages:
        fake.stop()


def _sides(events: Any) -> list[tuple[str, str]]:
    return [(e.side, e.kind) for e in events]


def _hi_and_bye(bench: wsbench.Bench, widget: wsbench.widgets.BrowserClient) -> None:
    """Through the page: open, send "hi" and take the echo, close with 4001 "bye"; wait until both sides ended."""
    widget.wait_open()
    widget.send("hi")
    widget.receive()
    widget.close(4001, "bye")
    widget.wait_closed()
    bench.wait_idle()


def test_a_page_conversation_is_recorded_on_both_sides_as_one_connection(bench, page):
    """Send from a cell, the echo, a close with 4001: both sides share one connection, in causal order."""
    widget, _fake = page("/echo")
    widget.wait_open()
    assert widget.state == "open" and widget.attached
    widget.send("hi")
    assert widget.receive() == "hi"
    widget.send(b"\x00\xff")
    assert widget.receive() == b"\x00\xff"
    widget.close(4001, "bye")
    widget.wait_closed()
    bench.wait_idle()
    events = list(widget.transcript)
    assert len({e.conn for e in events}) == 1
    assert [e for e in bench.transcript if e.conn == events[0].conn] == events
    assert _sides(wsbench.transcript.causal_order(events)) == [
        ("browser", "connect"),
        ("server", "websocket.connect"),
        ("server", "websocket.accept"),
        ("browser", "open"),
        ("browser", "send"),
        ("server", "websocket.receive"),
        ("server", "websocket.send"),
        ("browser", "message"),
        ("browser", "send"),
        ("server", "websocket.receive"),
        ("server", "websocket.send"),
        ("browser", "message"),
        ("browser", "close"),
        ("server", "websocket.disconnect"),
        ("server", "return"),
        ("browser", "closed"),
    ]
    assert ("server", "websocket.disconnect") in _sides(events)
    disconnect = next(e for e in events if e.kind == "websocket.disconnect")
    closed = next(e for e in events if e.side == "browser" and e.kind == "closed")
    assert (disconnect.code, disconnect.reason) == (4001, "bye")
    assert (closed.code, closed.reason, closed.detail) == (4001, "bye", "wasClean true")
    message = [e for e in events if e.side == "browser" and e.kind == "message"]
    assert [m.data for m in message] == ["hi", b"\x00\xff"] and message[1].detail == "ArrayBuffer"
    sends = [e for e in events if e.side == "browser" and e.kind == "send"]
    assert [s.detail for s in sends] == ["bufferedAmount 2", "bufferedAmount 0"]  # as the (fake) page reported
    assert "bufferedAmount" not in str(widget.transcript)  # it varies from run to run: records only
    assert widget.url == f"ws://127.0.0.1:{bench.port}/echo"
    assert repr(widget) == "<BrowserClient /echo closed 4001 (private use) bye>"


def test_a_page_conversation_is_kept_once(bench, page):
    """Each event of a page's conversation is held once, in the bench's log, which the widget's
    transcript views (as a wsbench client's transcript does: issue 23, item 7); it was held twice."""
    before = wsbench.transcript._held[0]
    widget, _fake = page("/echo")
    _hi_and_bye(bench, widget)
    mine = [e for e in bench.transcript if e.conn == widget.transcript[0].conn]
    assert list(widget.transcript) == mine and len(mine) > 10
    assert wsbench.transcript._held[0] - before == len(bench.transcript) == len(mine)


def test_every_browser_event_is_a_declared_kind_with_its_fields(bench, page):
    """What the bench records on side "browser" is declared in wsbench.kinds, with only its fields."""
    widget, _fake = page("/chat", subprotocols=["chat"])
    widget.wait_open()
    widget.send("x")
    widget.receive()
    with pytest.raises(wsbench.InvalidCloseCode):
        widget.close(1001)
    widget.close(1000)
    widget.wait_closed()
    browser = [e for e in widget.transcript if e.side == "browser"]
    assert {e.kind for e in browser} == {"connect", "open", "send", "message", "refused", "close", "closed"}
    for event in browser:
        fields = {k for k, v in event._asdict().items() if v is not None} - set(ALWAYS)
        assert fields <= set(KINDS["browser", event.kind].fields), event
    connect = next(e for e in browser if e.kind == "connect")
    assert connect.headers == (("Sec-WebSocket-Protocol", "chat"),)
    assert widget.protocol == "chat"


def test_the_text_form_is_the_same_on_every_run(make_bench):
    """Two runs of the same browser conversation on two benches print alike, with no port."""
    texts = []
    for _ in range(2):
        bench = make_bench()
        widget = bench.browser_connect("/echo", timeout=T)
        fake = FakePage(bench, widget).start()
        try:
            widget.wait_open()
            widget.send("hi")
            widget.receive()
            widget.close(4001, "bye")
            widget.wait_closed()
            bench.wait_idle()
        finally:
            fake.stop()
        text = str(widget.transcript)
        assert str(bench.port) not in text
        texts.append(text)
    assert texts[0] == texts[1]
    assert [line.split()[0] for line in texts[0].splitlines()][:4] == ["browser", "server", "server", "browser"]


def test_browser_events_print_in_the_browsers_words(bench, page):
    """A browser conversation's text form: connect path, open, → sends, ← messages, close and closed with code."""
    widget, _fake = page("/echo")
    _hi_and_bye(bench, widget)
    lines = [line for line in str(widget.transcript).splitlines() if line.startswith("browser")]
    assert lines == [
        "browser  connect /echo",
        "browser  open",
        "browser  → text 'hi'",
        "browser  ← text 'hi'",
        "browser  → close 4001 (private use) bye",
        "browser  closed: 4001 (private use) bye (wasClean true)",
    ]


def test_pairing_takes_the_pages_connection_not_a_wsbench_client(bench):
    """While a page is expected, a wsbench client on the same path stays its own connection (no Origin)."""
    widget = bench.browser_connect("/echo", timeout=T)
    fake = FakePage(bench, widget)
    fake.report("hello", ua=UA, origin=ORIGIN)
    wait_until(lambda: widget._link.expecting, T)
    try:
        with bench.connect("/echo") as conn:  # before the page connects: not the page's
            conn.send_text("python")
            assert conn.receive_text(timeout=T) == "python"
        assert all(e.side != "server" for e in widget.transcript)
        with connect(f"ws://127.0.0.1:{bench.port}/echo", origin=ORIGIN, user_agent_header="Other/2"):
            pass  # another browser (another User-Agent): not the page's either
        command = json.loads(fake.ctl.recv(timeout=T))
        assert command["op"] == "open" and set(command) == {"op", "pair"}
        fake._do(command)
        widget.wait_open()
        wait_until(lambda: sum(e.kind == "return" for e in bench.transcript) == 2, T)  # the two others ended
        server = [e for e in widget.transcript if e.side == "server"]
        assert [e.kind for e in server][:2] == ["websocket.connect", "websocket.accept"]
        assert len({e.conn for e in widget.transcript}) == 1
        assert len({e.conn for e in bench.transcript}) == 3
    finally:
        fake.stop()


def test_a_local_process_without_the_pages_secret_is_not_taken_for_the_page(bench):
    """Between the page's hello and its WebSocket's handshake, another local process connecting to the path
    with an Origin and the page's User-Agent (or a made-up secret) stays its own connection: the page pairs by
    the one-time secret its open command carried, and what its WebSocket sent is what the widget shows."""
    widget = bench.browser_connect("/echo", timeout=T)
    fake = FakePage(bench, widget)
    fake.report("hello", ua=UA, origin=ORIGIN)
    command = json.loads(fake.ctl.recv(timeout=T))
    url = f"ws://127.0.0.1:{bench.port}/echo"
    intruders = [url, paired_url(url, "guessed"), paired_url(url, command["pair"][:-1])]
    try:
        for n, target in enumerate(intruders):
            with connect(target, origin=ORIGIN, user_agent_header=UA, open_timeout=T, **_LEGACY) as evil:
                evil.send(f"injected {n}")
                assert evil.recv(timeout=T) == f"injected {n}"
        assert widget._link.expecting and not any(e.side == "server" for e in widget.transcript)
        fake._do(command)
        fake._thread(fake._commands)  # the page carries out the cell's commands from now on
        widget.wait_open()
        widget.send("the page's own message")
        assert widget.receive() == "the page's own message"
        with connect(paired_url(url, command["pair"]), origin=ORIGIN, user_agent_header=UA, **_LEGACY) as late:
            late.send("the secret again")  # used once: a second connection with it is not the page's
            assert late.recv(timeout=T) == "the secret again"
        wait_until(lambda: sum(e.kind == "return" for e in bench.transcript) == 4, T)
    finally:
        fake.stop()
    received = [e.data for e in widget.transcript if e.kind == "websocket.receive"]
    assert received == ["the page's own message"]
    assert len({e.conn for e in widget.transcript}) == 1
    assert len({e.conn for e in bench.transcript}) == 5  # three intruders, the page, the late one
    others = [e.data for e in bench.transcript if e.kind == "websocket.receive" and e.conn != widget.transcript[0].conn]
    assert others == ["injected 0", "injected 1", "injected 2", "the secret again"]


def test_the_pairing_secret_is_in_no_view_and_not_in_the_apps_query(bench, page):
    """The endpoint sees the query the widget asked for, without the secret; no transcript view, record or
    widget property holds the secret."""

    @bench.websocket("/query")
    async def query(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.scope["query_string"].decode() + " | " + str(websocket.url.query))
        await websocket.receive()

    widget, fake = page("/query?room=a&x=1")
    widget.wait_open()
    assert widget.receive() == "room=a&x=1 | room=a&x=1"
    widget.close(4001, "bye")
    widget.wait_closed()
    bench.wait_idle()
    secret = fake.pair
    shown = [str(widget.transcript), widget.transcript.to_jsonl(unmasked=True), str(bench.transcript)]
    shown += [bench.transcript.to_jsonl(unmasked=True), repr(widget), str(widget.url)]
    assert secret and not any(secret in text for text in shown)
    assert widget.url == f"ws://127.0.0.1:{bench.port}/query?room=a&x=1"


def test_the_pages_javascript_names_the_pairing_parameter_the_bench_takes():
    """The widget's JavaScript adds the secret under the very name :func:`wsbench.browser_link.pair` looks for."""
    assert f'const PAIR = "{PAIR_PARAM}";' in wsbench.widgets.BrowserClient._esm


def test_unknown_token_is_refused_with_1008_and_not_recorded(bench):
    """A control socket with a token no widget has is closed with 1008; nothing is recorded."""
    before = len(bench.transcript)
    with connect(f"ws://127.0.0.1:{bench.port}{CONTROL_PREFIX}nope", open_timeout=T) as ctl:
        with pytest.raises(ConnectionClosed):
            ctl.recv(timeout=T)
        assert (ctl.close_code, ctl.close_reason) == (1008, "unknown token")
    assert len(bench.transcript) == before


def test_a_second_page_for_the_same_widget_is_refused(bench, page):
    """One page runs a widget's WebSocket: a second control socket with its token gets 1008."""
    widget, _fake = page("/echo")
    widget.wait_open()
    with connect(f"ws://127.0.0.1:{bench.port}{CONTROL_PREFIX}{widget._token}", open_timeout=T) as ctl:
        with pytest.raises(ConnectionClosed):
            ctl.recv(timeout=T)
        assert ctl.close_code == 1008 and "already" in (ctl.close_reason or "")
    widget.send("still mine")
    assert widget.receive() == "still mine"


def test_commands_reach_the_page(bench):
    """send (text and bytes) and close go to the page over its control socket, numbered for their reports."""
    widget = bench.browser_connect("/echo", timeout=T)
    fake = FakePage(bench, widget)
    fake.report("hello", ua=UA, origin=ORIGIN)
    try:
        assert json.loads(fake.ctl.recv(timeout=T))["op"] == "open"
        done = threading.Event()
        raised: list[BaseException] = []

        def cell() -> None:
            try:
                widget.send(b"\x01")
            except wsbench.WsbenchError as exc:
                raised.append(exc)
            done.set()

        thread = threading.Thread(target=cell, daemon=True)
        thread.start()
        command = json.loads(fake.ctl.recv(timeout=T))
        assert command == {"op": "send", "id": 1, "bytes": base64.b64encode(b"\x01").decode()}
        assert not done.is_set()  # the cell waits for the page's report
        fake.report("refused", re=1, detail="InvalidStateError: Still in CONNECTING state.")
        thread.join(T)
        assert done.is_set() and "InvalidStateError" in str(raised[0])  # the browser refused
        assert widget.transcript[-1].kind == "refused"
    finally:
        fake.stop()


def test_send_while_connecting_raises_the_browsers_words(bench):
    """A send the page's WebSocket refuses raises with the DOMException the page reported."""
    widget = bench.browser_connect("/echo", timeout=T)
    fake = FakePage(bench, widget)
    fake.report("hello", ua=UA, origin=ORIGIN)
    try:
        assert json.loads(fake.ctl.recv(timeout=T))["op"] == "open"

        def answer() -> None:
            command = json.loads(fake.ctl.recv(timeout=T))
            fake.report("refused", re=command["id"], detail="InvalidStateError: Still in CONNECTING state.")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        with pytest.raises(wsbench.WsbenchError, match="InvalidStateError: Still in CONNECTING state"):
            widget.send("too early")
        thread.join(T)
    finally:
        fake.stop()


@pytest.mark.parametrize("call", ["wait_open", "wait_closed", "receive", "send", "close"])
def test_without_a_page_every_wait_and_command_says_so(bench, call):
    """No page shows the widget (nbval, a plain kernel): a Timeout naming that, within the timeout given."""
    widget = bench.browser_connect("/echo")
    method = getattr(widget, call)
    args = ("hi",) if call == "send" else ()
    with pytest.raises(wsbench.Timeout, match="no browser page is showing this widget"):
        method(*args, timeout=0.2)
    assert widget.state == "waiting for a page" and not widget.attached
    assert repr(widget) == "<BrowserClient /echo waiting for a page>"


def test_a_page_that_went_away_is_said_at_once(bench, page):
    """Once the page's control socket is gone, commands say so without waiting."""
    widget, fake = page("/echo")
    widget.wait_open()
    fake.ctl.close()
    wait_until(lambda: not widget.attached, T)
    with pytest.raises(wsbench.Timeout, match="has gone"):
        widget.send("x", timeout=60)


_BAD = [
    ("not json", "{nope", 1007),
    ("huge", "x" * (CONTROL_MAX + 1), 1009),
    ("binary", b"\x00", 1003),
    ("not an object", "[1, 2]", 1008),
    ("wrong type", json.dumps({"n": "0", "kind": "hello"}), 1008),
    ("a bool for an int", json.dumps({"n": True, "kind": "hello"}), 1008),
    ("unknown kind", json.dumps({"n": 0, "kind": "exec"}), 1008),
    ("unknown field", json.dumps({"n": 0, "kind": "hello", "eval": 1}), 1008),
    ("out of order", json.dumps({"n": 5, "kind": "hello"}), 1008),
    ("no hello first", json.dumps({"n": 0, "kind": "open"}), 1008),
    ("lone surrogate", '{"n": 0, "kind": "hello", "ua": "\\ud800"}', 1007),
    ("bad base64", None, 1008),
    ("a huge code", None, 1008),
]


@pytest.mark.parametrize(("what", "message", "code"), _BAD, ids=[b[0] for b in _BAD])
def test_malformed_control_messages_are_refused_with_a_clear_close(bench, what, message, code):
    """A control message that is not a well-formed report closes the control socket; nothing recorded, bench fine."""
    widget = bench.browser_connect("/echo", timeout=T)
    before = len(bench.transcript)
    with connect(f"ws://127.0.0.1:{bench.port}{CONTROL_PREFIX}{widget._token}", open_timeout=T) as ctl:
        if message is None:  # a good hello first, then the bad report
            ctl.send(json.dumps({"n": 0, "kind": "hello", "ua": UA}))
            assert json.loads(ctl.recv(timeout=T))["op"] == "open"
            bad = {"bytes": "***"} if what == "bad base64" else {"code": 70000, "reason": ""}
            message = json.dumps({"n": 1, "kind": "send" if what == "bad base64" else "close", **bad})
        ctl.send(message)
        with pytest.raises(ConnectionClosed):
            for _ in range(3):  # at most the "open" command before the close
                ctl.recv(timeout=T)
        assert ctl.close_code == code, (ctl.close_code, ctl.close_reason)
        assert ctl.close_reason
    assert len(bench.transcript) == before
    wait_until(lambda: not widget.attached, T)
    with pytest.raises(wsbench.Timeout, match="has gone"):
        widget.send("x")
    with bench.connect("/echo") as conn:  # the bench serves on
        conn.send_text("ok")
        assert conn.receive_text(timeout=T) == "ok"


def _refused(ctl: ClientConnection) -> tuple[int | None, str | None]:
    """The close code and reason the bench answered a control socket with (at most the "open" command first)."""
    with pytest.raises(ConnectionClosed):
        for _ in range(3):
            ctl.recv(timeout=T)
    return ctl.close_code, ctl.close_reason


@pytest.mark.parametrize(
    "nested", ["[" * 100_000 + "]" * 100_000, '{"n": 1, "kind": "send", "protocols": ' + "[" * 100_000]
)
def test_a_report_nested_100k_deep_is_refused_with_a_clear_close(bench, nested):
    """A control message nested past what a report holds: close 1008 naming it, before any parse (no
    RecursionError, no 1006, no "Exception in ASGI application"); nothing recorded; the bench serves on."""
    widget = bench.browser_connect("/echo", timeout=T)
    log_before = len(wsbench.server_log())
    with connect(f"ws://127.0.0.1:{bench.port}{CONTROL_PREFIX}{widget._token}", open_timeout=T, max_size=None) as ctl:
        ctl.send(json.dumps({"n": 0, "kind": "hello", "ua": UA}))
        assert json.loads(ctl.recv(timeout=T))["op"] == "open"
        ctl.send(nested)
        code, reason = _refused(ctl)
    assert code == 1008 and "nested too deep" in (reason or ""), (code, reason)
    wait_until(lambda: not widget.attached, T)
    assert "nested too deep" in widget._link.why_gone
    assert not any("Exception" in line for line in wsbench.server_log()[log_before:])
    assert not any(e.side == "browser" for e in bench.transcript)


def test_brackets_inside_report_text_are_not_nesting(bench, page):
    """A message the page received that is full of brackets (or quotes and backslashes) is a string: recorded."""
    widget, _fake = page("/echo")
    widget.wait_open()
    for text in ["[" * 100_000, '{"a": [' * 10_000, '\\"[' * 10_000, "\\" * 10_000 + "["]:
        widget.send(text)
        assert widget.receive() == text


#: After hello, reports no browser's WebSocket makes in this order; the last one is refused.
_IMPOSSIBLE = [
    ("closed before connect", [("closed", {"code": 1006, "reason": "", "clean": False})]),
    ("open before connect", [("open", {"detail": ""})]),
    ("a second connect", [("connect", {"data": "ws://x/echo"}), ("connect", {"data": "ws://x/echo"})]),
    ("open after closed", [("connect", {}), ("closed", {"code": 1006}), ("open", {"detail": ""})]),
    ("a second open", [("connect", {}), ("open", {}), ("open", {})]),
    ("open after error", [("connect", {}), ("error", {}), ("open", {})]),
    ("message before open", [("connect", {}), ("message", {"text": "x"})]),
    ("message after closed", [("connect", {}), ("open", {}), ("closed", {"code": 1000}), ("message", {"text": "x"})]),
    ("send while connecting", [("connect", {}), ("send", {"text": "x"})]),
    ("a second closed", [("connect", {}), ("closed", {"code": 1006}), ("closed", {"code": 1006})]),
]


@pytest.mark.parametrize("reports", [case[1] for case in _IMPOSSIBLE], ids=[case[0] for case in _IMPOSSIBLE])
def test_reports_in_an_order_no_browser_makes_are_refused_not_recorded(bench, reports):
    """A report a browser's WebSocket cannot make after the ones before it: close 1008 saying so; the reports
    before it are recorded, it is not."""
    widget = bench.browser_connect("/echo", timeout=T)
    fake = FakePage(bench, widget)
    try:
        fake.report("hello", ua=UA, origin=ORIGIN)
        assert json.loads(fake.ctl.recv(timeout=T))["op"] == "open"
        for kind, fields in reports:
            fake.report(kind, **fields)
        code, reason = _refused(fake.ctl)
    finally:
        fake.stop()
    assert code == 1008 and "not an order a browser's WebSocket reports" in (reason or ""), (code, reason)
    assert len(reason.encode()) <= 123
    browser = [e.kind for e in widget.transcript if e.side == "browser"]
    assert browser == [kind for kind, _ in reports[:-1]]


_POSSIBLE = [
    [
        ("refused", {"detail": "InvalidStateError: this page has no WebSocket yet"}),
        ("connect", {"data": "ws://127.0.0.1/echo"}),
        ("refused", {"detail": "InvalidStateError: Still in CONNECTING state."}),
        ("open", {"detail": ""}),
        ("send", {"text": "a"}),
        ("message", {"text": "a"}),
        ("close", {"code": 1000, "reason": ""}),
        ("message", {"text": "late"}),  # received while closing
        ("error", {}),
        ("closed", {"code": 1006, "reason": "", "clean": False}),
        ("send", {"text": "after"}),  # a browser's send() on a closed WebSocket does not throw
        ("close", {"code": 1000, "reason": ""}),  # nor does close()
    ],
    [  # a handshake that failed: send() no longer throws once the WebSocket is closed
        ("connect", {"data": "ws://127.0.0.1/nowhere"}),
        ("error", {}),
        ("send", {"text": "x"}),
        ("closed", {"code": 1006, "reason": "", "clean": False}),
        ("send", {"text": "y"}),
    ],
    [  # closed while connecting: closing, then closed
        ("connect", {"data": "ws://127.0.0.1/echo"}),
        ("close", {"code": 1000, "reason": ""}),
        ("send", {"text": "x"}),
        ("error", {}),
        ("closed", {"code": 1006, "reason": "", "clean": False}),
    ],
]


@pytest.mark.parametrize("reports", _POSSIBLE, ids=["open and closed", "failed handshake", "closed while connecting"])
def test_every_order_a_browser_makes_is_recorded(bench, reports):
    """What a browser can report after connect: error then closed; send and close after closed; refused anywhere."""
    widget = bench.browser_connect("/echo", timeout=T)
    fake = FakePage(bench, widget)
    try:
        fake.report("hello", ua=UA, origin=ORIGIN)
        assert json.loads(fake.ctl.recv(timeout=T))["op"] == "open"
        for kind, fields in reports:
            fake.report(kind, **fields)
        wait_until(lambda: len([e for e in widget.transcript if e.side == "browser"]) == len(reports), T)
        assert widget.attached
    finally:
        fake.stop()
    assert [e.kind for e in widget.transcript if e.side == "browser"] == [kind for kind, _ in reports]


def test_browser_connect_checks_its_arguments(bench):
    """A path without '/', a fragment, a wrong binary_type or via: refused before any page sees it."""
    with pytest.raises(wsbench.InvalidPath):
        bench.browser_connect("echo")
    with pytest.raises(wsbench.InvalidPath):
        bench.browser_connect("/echo#x")
    with pytest.raises(ValueError, match="binary_type"):
        bench.browser_connect("/echo", binary_type="text")
    with pytest.raises(ValueError, match="via"):
        bench.browser_connect("/echo", via="tunnel")
    with pytest.raises(TypeError):
        bench.browser_connect("/echo", subprotocols="chat")


def test_the_timeline_draws_a_browser_lane(bench, page):
    """A browser conversation's timeline names the client lane "browser", with arrows both ways to the server."""
    widget, _fake = page("/echo")
    _hi_and_bye(bench, widget)
    html = wsbench.widgets.Timeline(widget.transcript, live=False).to_html()
    assert 'class="wsb-tl-lane wsb-browser" text-anchor="middle">browser</text>' in html
    assert html.count('data-from="browser"') == 3  # connect, send, close
    assert 'data-from="server" data-cause="websocket.send"' in html
    assert "message text (2 B)" in html


def test_wait_attached_says_whether_a_page_came(bench):
    """wait_attached: False within its timeout without a page; True once a page said hello, and after it went."""
    widget = bench.browser_connect("/echo", timeout=T)
    assert widget.wait_attached(0.2) is False
    fake = FakePage(bench, widget).start()
    try:
        assert widget.wait_attached(T) is True
        widget.wait_open()
    finally:
        fake.stop()
    wait_until(lambda: not widget.attached, T)
    assert widget.wait_attached(0) is True  # a page came: commands now say it has gone


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"path": "/echo x"}, InvalidPath, "a space at position"),
        ({"path": "/echo\n"}, InvalidPath, "control character"),
        ({"subprotocols": ["a b"]}, ValueError, "'a b' is not a token"),
        ({"subprotocols": ["chat", "chat"]}, ValueError, "'chat' twice"),
        ({"subprotocols": [""]}, ValueError, "'' is not a token"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"timeout": "5"}, TypeError, "timeout"),
    ],
)
def test_what_a_browser_would_throw_on_is_refused_before_any_page_runs(bench, options, error, words):
    """A path, subprotocols or timeout a page's WebSocket could not take: a clear error in the cell, no widget."""
    path = options.pop("path", "/echo")
    with pytest.raises(error, match=re.escape(words)):
        bench.browser_connect(path, **options)
    assert not bench._links


def _chat_with_a_page(bench: wsbench.Bench) -> None:
    """On *bench*, FastAPI's chat (tests/test_many_clients.py) with a page as ann: ann joins, then
    bob; ann says "hi", bob "yo", each heard by both; ann leaves with 4001, bob hears it and leaves."""
    from test_many_clients import add_chat

    add_chat(bench)
    widget = bench.browser_connect("/chat/ann", timeout=T, name="ann")
    fake = FakePage(bench, widget).start()
    try:
        widget.wait_open()
        bob = bench.connect("/chat/bob", name="bob")
        widget.send("hi")
        assert widget.receive() == "ann: hi" and bob.receive_text() == "ann: hi"
        bob.send_text("yo")
        assert widget.receive() == "bob: yo" and bob.receive_text() == "bob: yo"
        widget.close(4001, "bye")
        widget.wait_closed()
        assert bob.receive_text() == "ann left"
        bob.close()
        bench.wait_idle()
    finally:
        fake.stop()


def test_a_page_in_a_chat_is_replayed_as_a_client_and_its_missing_messages_named(make_bench):
    """A class's chat with a browser page in it: replay drives the page's part too (as a Python
    client, on the path its endpoint saw, not the page's own URL), so the same app gives the same
    answers, and an app that skips the sender names what the page missed. Before, the page was left
    out: bob waited in vain for "ann: hi", which nobody sent, and the result did not say why."""
    recorded = make_bench(endpoints=False)
    _chat_with_a_page(recorded)
    same = make_bench(endpoints=False)
    add_chat(same)
    result = recorded.transcript.replay_all(same)
    assert result.ok, str(result)
    assert result.clients == ["ann", "bob"]
    skipping = make_bench(endpoints=False)
    add_chat(skipping, skip_sender=True)
    changed = recorded.transcript.replay_all(skipping, timeout=0.5)
    assert [(d.client, d.what, d.expected) for d in changed.differences] == [
        ("ann", "missing message", "← text 'ann: hi'"),
        ("bob", "missing message", "← text 'bob: yo'"),
    ]


def test_an_open_page_holds_its_name_and_a_rerun_cell_may_take_it_again(bench, page):
    """A Python client may not take the name of a page's open WebSocket (both would read as one
    "ann"), as a page may not take an open client's; once the page's WebSocket closed, the name is
    free. A page that never came holds nothing (nbval), and a browser_connect cell run again may
    reuse its name: the earlier output, and its page, go away."""
    widget, _fake = page("/echo", name="ann")
    widget.wait_open()
    with pytest.raises(ValueError, match=r"name='ann' is taken: a browser page's WebSocket .* open \(to /echo\)"):
        bench.connect("/echo", name="ann")
    bob = bench.connect("/echo", name="bob")
    with pytest.raises(ValueError, match=r"name='bob' is taken: a connection .* open"):
        bench.browser_connect("/echo", name="bob")
    bob.close()
    again = bench.browser_connect("/echo", name="ann")  # the cell run again: no page for it here
    assert again._link.name == "ann"
    widget.close(1000, "")
    widget.wait_closed()
    ann = bench.connect("/echo", name="ann")
    assert ann.name == "ann"
    ann.close()
    bench.browser_connect("/echo", name="cat")  # no page ever comes
    bench.connect("/echo", name="cat").close()


def test_a_pages_broadcast_is_timed_from_the_endpoints_receive(make_bench):
    """A page reports its send after the fact, often after the broadcast it caused reached the
    others: fan-out delays of a page's message count from the endpoint's receive of it (bob's was
    0 before: his receive came before the page's report, and the delay was clamped)."""
    bench = make_bench(endpoints=False)
    _chat_with_a_page(bench)
    events = list(bench.transcript)
    got = next(e for e in events if e.side == "server" and e.kind == "websocket.receive")
    arrived = {e.name: e.time for e in events if e.data == "ann: hi" and e.side in ("client", "browser")}
    hi = bench.fanout()[0]
    assert hi.sender == "ann" and [d.to for d in hi.deliveries] == ["ann", "bob"]
    assert [d.delay for d in hi.deliveries] == [max(arrived[d.to] - got.time, 0.0) for d in hi.deliveries]


def test_a_pages_conversation_replays_and_writes_tests_and_load_as_a_client(bench, page, tmp_path):
    """The one-connection tools take a page's WebSocket as the Python client doing what it did: a
    replay against the same bench gives the same answers, to_pytest writes its steps, and a chat's
    locustfile puts the page in its group, its broadcasts owned by its sends. Before, each said the
    transcript had no client side (the page alone), or left the page out of the group."""
    widget, _fake = page("/echo", name="pat")
    _hi_and_bye(bench, widget)
    recorded = widget.transcript
    result = recorded.replay(bench, timeout=T)
    assert result.ok, str(result)
    written = recorded.to_pytest(tmp_path / "test_page.py", url=bench.url).read_text()
    assert 'conn.send_text("hi")' in written and 'URL + "/echo"' in written
    chat = wsbench.Bench(name="page-chat-for-locust")
    try:
        _chat_with_a_page(chat)
        source = chat.transcript.to_locustfile(tmp_path / "locustfile.py").read_text()
    finally:
        chat.stop()
    assert "class Conversation1(RecordedGroup)" in source, source[-2000:]
    group = source[source.index("GROUP_1 = ") : source.index("class Conversation1")]
    assert '"connect ann"' in group and '"connect bob"' in group
    # bob's copy of ann's "hi" is owned by her send (action 2), though the page reported it late
    assert '["send", 0, ' in group and '["receive", 1, "ann: hi", 2, False]' in group
