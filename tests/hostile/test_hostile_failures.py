"""Failure is a state: after the client fails the connection (1002, 1007, 1009) or completes the
closing handshake, while the server keeps TCP open, the connection is "closed" at once, every
receive says why, and close() records nothing that did not go on the wire."""

from __future__ import annotations

import asyncio
import struct

import pytest
from conftest import wait_until
from peers import OP_BINARY, OP_CLOSE, OP_TEXT, Peer, close_payload, finishes, frame, sends_then_holds

import wsbench

BAD = [
    ("masked frame", frame(OP_TEXT, b"hi", mask=True), 1002, "incorrect masking"),
    ("invalid UTF-8", frame(OP_TEXT, b"\xff\xfe"), 1007, "invalid UTF-8 in a text message"),
    ("RSV bits", frame(OP_TEXT, b"hi", rsv=0x40), 1002, "reserved bits must be 0"),
    ("1-byte close payload", frame(OP_CLOSE, b"\x03"), 1002, "close frame too short"),
    ("over max_size", frame(OP_BINARY, bytes(2000)), 1009, "frame with 2000 bytes exceeds limit of 1000 bytes"),
]


def client(conn: wsbench.Connection, kind: str) -> list[wsbench.Event]:
    """The client's events of *kind*."""
    return [e for e in conn.transcript if e.side == "client" and e.kind == kind]


@pytest.mark.parametrize(("bad", "code", "problem"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_failing_the_connection_is_a_state_while_the_server_keeps_tcp_open(bad, code, problem):
    """After a bad frame the client sends its close code; the connection is closed at once, receive says why."""
    before = frame(OP_TEXT, b"before")
    with Peer(sends_then_holds, frames=before + bad) as peer:
        conn = wsbench.connect(peer.url, timeout=5, close_timeout=0.5, ping_interval=None, max_size=1000)
        assert conn.receive_text() == "before"
        with pytest.raises(wsbench.ConnectionClosed) as info:
            conn.receive_text()  # at once: not "Timeout ... nothing was lost, call again"
        assert (info.value.sent_code, info.value.sent_reason) == (code, problem)
        assert conn.state == "closed"
        assert conn.close_code == code  # the connection ended with the code the client sent
        wait_until(lambda: (OP_CLOSE, close_payload(code, problem.encode())) in peer.frames)
        with pytest.raises(wsbench.ConnectionClosed):
            conn.send_text("after")  # nothing more goes out
        finishes(conn.close)  # records nothing: no close frame goes on the wire
        assert client(conn, "close") == []
        assert client(conn, "send") == []
        [closed] = client(conn, "closed")
        assert (closed.code, closed.by) == (code, "client")
        assert f"sent {code}" in closed.detail
        assert [e.data for e in client(conn, "receive")] == ["before"]
        assert [op for op, _ in peer.frames].count(OP_CLOSE) == 1


@pytest.mark.parametrize(("bad", "code", "problem"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_failing_an_async_connection_is_a_state_too(bad, code, problem):
    """aconnect(): the same bad frames close the connection at once, with the code sent."""

    async def main(url: str) -> tuple[wsbench.Connection, wsbench.ConnectionClosed]:
        conn = await wsbench.aconnect(url, timeout=5, close_timeout=0.5, ping_interval=None, max_size=1000)
        assert await conn.areceive_text() == "before"
        try:
            await conn.areceive_text()
        except wsbench.ConnectionClosed as closed:
            await conn.aclose()
            return conn, closed
        raise AssertionError("areceive_text did not raise")

    with Peer(sends_then_holds, frames=frame(OP_TEXT, b"before") + bad) as peer:
        conn, closed = finishes(lambda: asyncio.run(main(peer.url)))
        wait_until(lambda: (OP_CLOSE, close_payload(code, problem.encode())) in peer.frames)
    assert (closed.sent_code, conn.state) == (code, "closed")
    assert client(conn, "close") == []
    assert len(client(conn, "closed")) == 1
    assert [e.data for e in client(conn, "receive")] == ["before"]


def test_server_close_while_it_keeps_tcp_open_closes_at_once():
    """The server sends close 4000 and keeps TCP open: the client answers, and is closed at once with 4000."""
    frames = frame(OP_TEXT, b"before") + frame(OP_CLOSE, struct.pack("!H", 4000) + b"bye")
    with Peer(sends_then_holds, frames=frames) as peer:
        conn = wsbench.connect(peer.url, timeout=5, close_timeout=0.5, ping_interval=None)
        assert conn.receive_text() == "before"
        with pytest.raises(wsbench.ConnectionClosed) as info:
            conn.receive_text()
        assert (info.value.code, info.value.reason) == (4000, "bye")
        assert (conn.state, conn.close_code) == ("closed", 4000)
        wait_until(lambda: "close received" in peer.marks)  # our answer went out
        finishes(conn.close)
        assert client(conn, "close") == []
        [closed] = client(conn, "closed")
        assert (closed.code, closed.by) == (4000, "server")


def test_closing_handshake_complete_while_the_server_keeps_tcp_open():
    """close() answered by a server that keeps TCP open: "closed" 1000 recorded once, TCP dropped by close_timeout."""
    with Peer(sends_then_holds, answer_close=True) as peer:
        conn = wsbench.connect(peer.url, timeout=5, close_timeout=0.5, ping_interval=None)
        finishes(conn.close)
        assert (conn.state, conn.close_code) == ("closed", 1000)
        with pytest.raises(wsbench.ConnectionClosed):
            conn.receive_text()
        assert [(e.kind, e.code) for e in conn.transcript if e.side == "client"][-2:] == [
            ("close", 1000),
            ("closed", 1000),
        ]
