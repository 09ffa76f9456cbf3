"""Every wait is bounded: a send to a server that never reads, close() against a server that
never answers, ping, open, and every timeout argument checked where it is given."""

from __future__ import annotations

import asyncio
import threading

import pytest
from conftest import wait_until
from peers import OP_TEXT, MiB, Peer, finishes, frame, never_reads, sends_then_holds

import wsbench


def received(conn: wsbench.Connection) -> list[object]:
    """The payloads of the client's "receive" events."""
    return [e.data for e in conn.transcript if e.side == "client" and e.kind == "receive"]


def closed_events(conn: wsbench.Connection) -> list[wsbench.Event]:
    """The client's "closed" events."""
    return [e for e in conn.transcript if e.side == "client" and e.kind == "closed"]


def test_send_to_a_server_that_never_reads_ends_with_a_timeout():
    """send_bytes(16 MiB) to a server that never reads raises Timeout (the connection aborted), not a hang."""
    with Peer(never_reads, frames=frame(OP_TEXT, b"before")) as peer:
        conn = wsbench.connect(peer.url, timeout=0.5, close_timeout=0.5, ping_interval=None)
        wait_until(lambda: received(conn) == ["before"])
        with pytest.raises(wsbench.Timeout) as info:
            finishes(lambda: conn.send_bytes(bytes(16 * MiB)))
        assert "not reading" in str(info.value)
        assert conn.state == "closed"
        assert "TCP aborted" in closed_events(conn)[-1].detail
        assert conn.receive_text() == "before"  # what came before is still there
        finishes(conn.close)  # and closing the aborted connection does nothing


def test_async_send_to_a_server_that_never_reads_ends_with_a_timeout():
    """asend_bytes(16 MiB) on aconnect() to a server that never reads raises Timeout, not a hang."""

    async def main(url: str) -> tuple[wsbench.Connection, BaseException]:
        conn = await wsbench.aconnect(url, timeout=0.5, close_timeout=0.5, ping_interval=None)
        assert await conn.areceive_text() == "before"
        try:
            await conn.asend_bytes(bytes(16 * MiB))
        except wsbench.Timeout as exc:
            return conn, exc
        raise AssertionError("asend_bytes did not raise")

    with Peer(never_reads, frames=frame(OP_TEXT, b"before")) as peer:
        conn, error = finishes(lambda: asyncio.run(main(peer.url)))
    assert "not reading" in str(error)
    assert conn.state == "closed"
    assert received(conn) == ["before"]
    assert "TCP aborted" in closed_events(conn)[-1].detail


def test_close_during_a_blocked_send_honours_close_timeout():
    """close() while another thread's send is stuck on a server that never reads ends within close_timeout."""
    with Peer(never_reads) as peer:
        conn = wsbench.connect(peer.url, timeout=60, close_timeout=0.5, ping_interval=None)
        errors: list[BaseException] = []

        def send() -> None:
            try:
                conn.send_bytes(bytes(32 * MiB))
            except (wsbench.ConnectionClosed, wsbench.Timeout) as exc:
                errors.append(exc)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        wait_until(lambda: [e for e in conn.transcript if e.kind == "send"])
        finishes(conn.close)  # the send's own bound (60 s) is far above the watchdog's
        sender.join(20)
        assert conn.state == "closed"
        assert errors, "the blocked send did not end with the connection"
        assert "TCP aborted" in closed_events(conn)[-1].detail


@pytest.mark.parametrize("answer_close", [False, True], ids=["never answers", "answers, keeps TCP"])
def test_close_against_a_server_that_keeps_tcp_open_is_bounded(answer_close):
    """close() to a server that does not answer (or answers but never closes TCP) returns; the transcript says so."""
    with Peer(sends_then_holds, answer_close=answer_close) as peer:
        conn = wsbench.connect(peer.url, timeout=2, close_timeout=0.5, ping_interval=None)
        finishes(conn.close)
        assert conn.state == "closed"
        closed = closed_events(conn)
        assert len(closed) == 1
        if answer_close:  # the closing handshake is complete: that is what is recorded
            assert (closed[0].code, closed[0].detail) == (1000, "sent 1000 (OK); then received 1000 (OK)")
        else:
            assert closed[0].code == 1006
            assert "no closing handshake within close_timeout 0.5 s: TCP aborted" in closed[0].detail
        wait_until(lambda: "close received" in peer.marks)


def test_async_close_against_a_server_that_never_answers_is_bounded():
    """aclose() to a server that never answers the close frame returns after close_timeout, recorded as aborted."""

    async def main(url: str) -> wsbench.Connection:
        conn = await wsbench.aconnect(url, timeout=2, close_timeout=0.5, ping_interval=None)
        await conn.aclose()
        return conn

    with Peer(sends_then_holds) as peer:
        conn = finishes(lambda: asyncio.run(main(peer.url)))
    assert conn.state == "closed"
    assert "TCP aborted" in closed_events(conn)[-1].detail


def test_ping_to_a_server_that_never_answers_times_out():
    """ping(timeout=0.3) to a server that never reads raises Timeout; the connection stays open."""
    with Peer(never_reads) as peer:
        conn = wsbench.connect(peer.url, timeout=2, close_timeout=0.5, ping_interval=None)
        with pytest.raises(wsbench.Timeout):
            finishes(lambda: conn.ping(timeout=0.3))
        assert conn.state == "open"
        finishes(conn.close)


def test_open_against_a_server_that_never_answers_times_out():
    """A server that accepts TCP and never answers the handshake: Timeout after open_timeout."""

    async def silent(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(30)

    with Peer(silent) as peer:
        with pytest.raises(wsbench.Timeout) as info:
            finishes(lambda: wsbench.connect(peer.url, open_timeout=0.3))
    assert "no handshake response within 0.3 s" in str(info.value)


BAD_TIMEOUTS = [
    (float("nan"), ValueError),
    (float("inf"), ValueError),
    (1e10, ValueError),
    (-1, ValueError),
    ("2", TypeError),
    (True, TypeError),
]
IDS = ["nan", "inf", "1e10", "negative", "str", "bool"]


@pytest.fixture(scope="module")
def held():
    """One open connection to a server that keeps it open (and sends nothing)."""
    with Peer(sends_then_holds) as peer:
        conn = wsbench.connect(peer.url, timeout=2, close_timeout=0.5, ping_interval=None)
        yield conn
        conn.close()


CALLS = {
    "receive": lambda conn, t: conn.receive(timeout=t),
    "receive_text": lambda conn, t: conn.receive_text(timeout=t),
    "receive_json": lambda conn, t: conn.receive_json(timeout=t),
    "iter_text": lambda conn, t: conn.iter_text(timeout=t),
    "iter_messages": lambda conn, t: conn.iter_messages(timeout=t),
    "ping": lambda conn, t: conn.ping(timeout=t),
    "wait_closed": lambda conn, t: conn.wait_closed(timeout=t),
    "areceive": lambda conn, t: asyncio.run(conn.areceive(timeout=t)),
    "aiter_bytes": lambda conn, t: conn.aiter_bytes(timeout=t),
    "await_closed": lambda conn, t: asyncio.run(conn.await_closed(timeout=t)),
}


@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
@pytest.mark.parametrize(("value", "error"), BAD_TIMEOUTS, ids=IDS)
def test_bad_timeout_argument_is_refused_where_it_is_given(held, call, value, error):
    """timeout=nan/inf/1e10/-1/"2"/True raises a ValueError/TypeError naming timeout, at once, not a hang."""
    with pytest.raises(error) as info:
        finishes(lambda: CALLS[call](held, value))
    assert "timeout must be a number of seconds" in str(info.value)
    assert held.state == "open"


@pytest.mark.parametrize("option", ["timeout", "open_timeout", "close_timeout", "ping_interval"])
@pytest.mark.parametrize(("value", "error"), BAD_TIMEOUTS, ids=IDS)
def test_bad_timeout_option_is_refused_before_connecting(option, value, error):
    """A connect option timeout of nan/inf/1e10/-1/"2"/True raises naming the option; nothing is opened."""
    with pytest.raises(error) as info:
        wsbench.Connection("ws://127.0.0.1:9/x", **{option: value})
    assert f"{option} must be a number of seconds" in str(info.value)


@pytest.mark.parametrize("value", [-1, (4, 16), (1, 2, 3), 1.5, True, "16"])
def test_bad_max_queue_is_refused(value):
    """max_queue must be an int >= 0, a (high, low) pair with low <= high, or None."""
    with pytest.raises(ValueError, match="max_queue"):
        wsbench.Connection("ws://127.0.0.1:9/x", max_queue=value)
