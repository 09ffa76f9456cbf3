"""wsbench.client.recording: each message recorded the moment it arrives, in the order it happened,
against a real uvicorn server (wsbench.Bench) on 127.0.0.1."""

from __future__ import annotations

import pytest
from fastapi import WebSocket

import wsbench


def test_open_is_recorded_before_a_message_sent_right_after_accept(bench):
    """A greeting sent right after accept() is recorded after "open", in the recorded order too."""

    @bench.websocket("/greet")
    async def greet(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.receive()

    for _ in range(10):
        conn = bench.connect("/greet")
        assert conn.receive_text(timeout=2) == "hello"
        kinds = [e.kind for e in conn.transcript if e.side == "client"]
        assert kinds[:3] == ["connect", "open", "receive"]
        conn.close()


def test_client_only_transcript_keeps_the_recorded_order(make_bench):
    """A connection to a URL records no server side: the text keeps the client's own order
    (each echo after the send that caused it), not the reader's events first."""
    bench = make_bench()
    conn = wsbench.connect(bench.url + "/echo", timeout=5)
    for word in ("one", "two"):
        conn.send_text(word)
        assert conn.receive_text() == word
    conn.close()
    lines = [line.split(None, 1)[1] for line in conn.transcript.text().splitlines()]
    assert lines == [
        "connect /echo",
        "open",
        "→ text 'one'",
        "← text 'one'",
        "→ text 'two'",
        "← text 'two'",
        "→ close 1000 (OK)",
        "closed: sent 1000 (OK); then received 1000 (OK)",
    ]


def test_a_message_is_recorded_on_arrival_before_any_receive(bench):
    """A message is in the transcript as soon as it arrives, before (and whether or not) a receive_* takes it."""
    conn = bench.connect("/send?n=2&code=4001")
    assert conn.wait_closed(timeout=5) == 4001  # nothing was received by the caller yet
    assert [e.data for e in conn.transcript.filter(side="client", kind="receive")] == ["msg 0", "msg 1"]
    with pytest.raises(wsbench.WrongMessageType):
        conn.receive_bytes(timeout=2)  # a receive that raises takes nothing and records nothing more
    assert len(conn.transcript.filter(side="client", kind="receive")) == 2
