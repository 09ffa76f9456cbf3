"""Tests for wsbench.kinds: every event kind wsbench records is declared, with its side and fields."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from conftest import wait_until
from fastapi import WebSocket
from ports import free_port

import wsbench
from wsbench import kinds, transcript
from wsbench.conversation import expect_close
from wsbench.kinds import KINDS, SIDES, Kind
from wsbench.proxy import FaultProxy
from wsbench.transcript import Event

_ALWAYS = set(kinds.ALWAYS)  # every event may carry these


def _undeclared(events: Iterable[Event]) -> list[str]:
    """Each recorded event whose kind is not declared for its side, or that carries a field its kind does not."""
    wrong = []
    for event in events:
        declared = KINDS.get((event.side, event.kind))
        if declared is None:
            wrong.append(f"{event.side} {event.kind!r} is not declared")
            continue
        carried = {name for name, value in event._asdict().items() if value is not None} - _ALWAYS
        if not carried <= set(declared.fields):
            wrong.append(f"{event.side} {event.kind!r} carries {sorted(carried - set(declared.fields))}")
    return wrong


# -- what wsbench records -------------------------------------------------------------------


def test_every_kind_a_bench_conversation_records_is_declared(bench):
    """Echo, ping, a client and a server close, rejections, an endpoint that raises or returns: all declared."""
    with bench.connect("/echo") as conn:
        conn.send_text("hi")
        conn.receive_text()
        conn.send_bytes(b"\x00")
        conn.receive_bytes()
        conn.ping()
        conn.close(4001, "bye")
    conn = bench.connect("/send?n=1&code=4000&reason=done")
    conn.receive_text()
    expect_close(conn)
    with bench.connect("/chat", subprotocols=["chat"]) as conn:
        conn.send_text("x")
        conn.receive_text()
    for path in ("/close-early", "/reject"):
        with pytest.raises(wsbench.HandshakeRejected):
            bench.connect(path)
    for path in ("/raise", "/return"):
        conn = bench.connect(path)
        conn.wait_closed()
    bench.wait_idle()
    events = bench.transcript.events
    assert _undeclared(events) == []
    seen = {(e.side, e.kind) for e in events}
    assert {("client", "pong"), ("server", "exception"), ("server", "return"), ("server", "websocket.close")} <= seen
    assert {"client", "server"} <= {e.by for e in events if e.kind == "closed"}  # who closed is data


def test_a_failed_handshake_and_a_reconnect_are_declared(make_bench):
    """A refused connection ("error") and auto_reconnect's note ("reconnect") are declared kinds."""
    conn = wsbench.Connection(f"ws://127.0.0.1:{free_port()}/nobody", open_timeout=5)
    with pytest.raises(wsbench.ConnectionRefused):
        conn.open()
    assert [e.kind for e in conn.transcript] == ["connect", "error"]
    assert _undeclared(conn.transcript) == []

    bench = make_bench(endpoints=False)

    @bench.websocket("/drop")
    async def drop(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        raise RuntimeError("drop")

    conn = bench.connect("/drop", auto_reconnect=1, backoff=(0.01, 0.01), timeout=5)
    conn.send_text("a")
    conn.wait_closed()
    conn.send_text("b")  # reconnects first
    conn.close()
    bench.wait_idle()
    assert "reconnect" in [e.kind for e in conn.transcript]
    assert _undeclared(bench.transcript) == []
    assert _undeclared(conn.transcript) == []


def test_every_kind_a_fault_proxy_records_is_declared(bench, request: pytest.FixtureRequest):
    """Faults set and lifted, a cut, a stop and an unreachable target: every proxy event is declared."""
    proxy = FaultProxy(bench, name=f"{request.node.nodeid}-proxy")
    try:
        conn = proxy.connect("/echo")
        proxy.latency(0.01)
        proxy.half_open(direction="to_server")
        proxy.heal()
        proxy.clear()
        conn.send_text("before")
        assert conn.receive_text(timeout=5) == "before"
        proxy.cut(after_frames=1, direction="to_client")
        conn.send_text("a")
        assert conn.receive_text(timeout=5) == "a"
        with pytest.raises(wsbench.ConnectionClosed):
            conn.receive_text(timeout=5)
        conn.wait_endpoint(5)
        proxy.clear()
        live = proxy.connect("/echo")
        live.send_text("x")
        live.receive_text(timeout=5)
    finally:
        proxy.stop()
    wait_until(lambda: any(e.kind == "stop" for e in proxy.transcript))
    unreachable = FaultProxy(("127.0.0.1", free_port()), name=f"{request.node.nodeid}-nowhere")
    try:
        with pytest.raises(wsbench.HandshakeRejected):
            unreachable.connect("/x")
    finally:
        unreachable.stop()
    events = [*proxy.transcript, *unreachable.transcript]
    assert _undeclared(events) == []
    recorded = {e.kind for e in events if e.side == "proxy"}
    assert {"fault", "half-open", "heal", "clear", "cut", "stop", "upstream error"} <= recorded


# -- the vocabulary itself ----------------------------------------------------------------------


def test_each_kind_has_a_side_a_meaning_and_event_fields():
    """Every Kind is keyed by (side, name), has a one-line meaning, and names only Event fields."""
    assert KINDS
    for (side, name), kind in KINDS.items():
        assert isinstance(kind, Kind) and (kind.side, kind.name) == (side, name)
        assert side in SIDES
        assert kind.meaning and "\n" not in kind.meaning
        assert set(kind.fields) <= set(Event._fields) - _ALWAYS, kind
    with pytest.raises(TypeError):
        KINDS[("client", "new")] = Kind("client", "new", "x")  # type: ignore[index]


def test_the_named_sets_name_declared_kinds_of_the_right_side():
    """Each named set holds declared kinds of the side it is about."""

    def names(side: str) -> set[str]:
        return {name for s, name in KINDS if s == side}

    client, server, proxy = names("client"), names("server"), names("proxy")
    assert kinds.READER_KINDS <= client
    assert set(kinds.CLIENT_ACTIONS) <= client
    assert kinds.LOG_KINDS <= client
    assert kinds.APP_SENDS <= server
    assert kinds.SETTINGS <= proxy and kinds.HEALS <= kinds.SETTINGS
    assert kinds.DISRUPTIONS <= proxy
    assert kinds.NOTICES <= set(KINDS)
    assert {pair for cause, effect in kinds.CAUSES for pair in (cause, effect)} <= set(KINDS)
    assert kinds.CLOSING <= client | server
    assert set(kinds.CLOSED_BY) == {"client", "server"}


def test_other_modules_use_the_declared_sets():
    """transcript and the widgets' renderer take their kind sets from wsbench.kinds (re-exported, not copied)."""
    from wsbench.widgets import _render

    assert transcript.DISRUPTIONS is kinds.DISRUPTIONS
    assert transcript.NOTICES is kinds.NOTICES
    assert _render.LOG_KINDS is kinds.LOG_KINDS
    assert _render.CLOSING is kinds.CLOSING


def test_every_declared_kind_renders_a_line():
    """The text form has a line for every declared kind, without times or ports."""
    for side, name in KINDS:
        line = Event(1, 1712345678.25, side, name, 54321).text()
        assert line.startswith(side) and "54321" not in line and "1712345678" not in line
