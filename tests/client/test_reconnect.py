"""wsbench.client.reconnect: the opt-in auto_reconnect policy (which drops are worth another
attempt, with bounded exponential backoff), and a Connection following it against a real
uvicorn server (wsbench.Bench) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from conftest import wait_until
from fastapi import WebSocket

import wsbench
from wsbench.client.reconnect import delays


@pytest.fixture
def flaky_bench(make_bench) -> wsbench.Bench:
    """``/flaky``: connection k sends "k:1", "k:2", then the endpoint raises (the client sees a drop)."""
    bench = make_bench()
    count = {"n": 0}

    @bench.websocket("/flaky")
    async def flaky(websocket: WebSocket) -> None:
        count["n"] += 1
        number = count["n"]
        await websocket.accept()
        await websocket.send_text(f"{number}:1")
        await websocket.send_text(f"{number}:2")
        await websocket.receive_text()  # wait for the client's word, then fail
        raise RuntimeError("flaky endpoint")

    return bench


def reconnects(conn: wsbench.Connection) -> list[str]:
    """The details of the connection's "reconnect" events, in order."""
    return [e.detail for e in conn.transcript if e.kind == "reconnect"]


# -- the policy --------------------------------------------------------------------------------


def test_backoff_starts_at_the_first_delay_doubles_and_is_capped():
    """The wait before each attempt is backoff[0], doubling each time, never more than backoff[1]."""
    assert delays(2, (0.01, 0.02)) == [0.01, 0.02]
    assert delays(6, (0.05, 0.4)) == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    assert delays(0, (1, 1)) == []


def test_reconnect_codes_are_drops_not_verdicts():
    """RECONNECT_CODES holds the drops worth retrying (1001, 1006, 1011-1014), not 1000 or a policy verdict."""
    assert wsbench.client.RECONNECT_CODES == {1001, 1006, 1011, 1012, 1013, 1014}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"auto_reconnect": -1}, "auto_reconnect must be a number of attempts"),
        ({"auto_reconnect": True}, "auto_reconnect must be a number of attempts"),
        ({"auto_reconnect": 2.5}, "auto_reconnect must be a number of attempts"),
        ({"backoff": (0, 1)}, "backoff must be"),
        ({"backoff": (2, 1)}, "backoff must be"),
        ({"backoff": 1}, "backoff must be"),
        ({"backoff": (1, float("inf"))}, "backoff must be"),
    ],
)
def test_bad_reconnect_options(options, message):
    """auto_reconnect= that is not an int >= 0, or a backoff that is not finite with 0 < first <= longest,
    raises ValueError before connecting."""
    with pytest.raises(ValueError, match=message):
        wsbench.connect("ws://127.0.0.1:1/", **options)


# -- a connection that reconnects ------------------------------------------------------------------


def test_auto_reconnect_after_a_drop_keeps_every_message(flaky_bench):
    """After a drop, receive_text reconnects (recording a "reconnect" event) and every message of both
    connections arrives, in order."""
    conn = flaky_bench.connect("/flaky", auto_reconnect=3, backoff=(0.01, 0.05), timeout=5)
    assert [conn.receive_text(), conn.receive_text()] == ["1:1", "1:2"]
    conn.send_text("fail now")
    assert conn.receive_text() == "2:1"  # the drop was noticed, the connection reopened
    assert conn.state == "open"
    assert conn.receive_text() == "2:2"
    conn.close()
    kinds = [e.kind for e in conn.transcript if e.side == "client"]
    assert kinds.count("connect") == 2 and kinds.count("reconnect") == 1
    reconnect = next(e for e in conn.transcript if e.kind == "reconnect")
    assert reconnect.code in wsbench.client.RECONNECT_CODES
    assert "attempt 1 of 3 in 0.01 s, on receive_text" in reconnect.detail
    assert "reconnect: attempt 1 of 3" in conn.transcript.text()
    received = [e.data for e in conn.transcript if e.side == "client" and e.kind == "receive"]
    assert received == ["1:1", "1:2", "2:1", "2:2"]


def test_auto_reconnect_on_send_after_a_drop(flaky_bench):
    """A send on a dropped connection reconnects first; nothing received before or after is lost."""
    conn = flaky_bench.connect("/flaky", auto_reconnect=2, backoff=(0.01, 0.05), timeout=5)
    conn.send_text("fail now")
    wait_until(lambda: conn.state == "closed")  # the drop arrives
    conn.send_text("hello again")  # reconnects first
    assert conn.state == "open"
    assert [conn.receive_text() for _ in range(4)] == ["1:1", "1:2", "2:1", "2:2"]  # nothing lost
    conn.close()
    assert conn.transcript.filter(kind="reconnect")[0].detail.endswith("on send")


def test_auto_reconnect_gives_up_after_the_attempts_and_says_so(make_bench):
    """When every attempt is refused, ConnectionClosed says how many failed and the last error; each
    attempt is recorded with the backoff it waited."""
    bench = make_bench()
    conn = bench.connect("/echo", auto_reconnect=2, backoff=(0.01, 0.02), timeout=5)
    bench.stop()  # clients see 1012 (service restart), then nothing listens
    with pytest.raises(wsbench.ConnectionClosed, match=r"2 reconnect attempts failed; last: .*connection refused"):
        conn.receive_text()
    assert reconnects(conn) == [
        "attempt 1 of 2 in 0.01 s, on receive_text",
        "attempt 2 of 2 in 0.02 s, on receive_text",
    ]


def test_auto_reconnect_reaches_a_server_that_comes_back(make_bench):
    """A send while the server is down keeps reconnecting (refused) until a server listens on the port
    again, then goes through there."""
    bench = make_bench()
    port = bench.port
    conn = wsbench.connect(bench.url + "/echo", auto_reconnect=8, backoff=(0.05, 1.0), timeout=5)
    conn.send_text("before")
    assert conn.receive_text() == "before"
    bench.stop()
    wait_until(lambda: conn.state == "closed")  # the 1012 arrived
    errors: list[BaseException] = []

    def send() -> None:  # blocks while it reconnects
        try:
            conn.send_text("after")
        except BaseException as exc:  # handed to the test thread, which checks it
            errors.append(exc)

    sender = threading.Thread(target=send, name="sender", daemon=True)
    sender.start()
    try:
        wait_until(lambda: len(reconnects(conn)) >= 2)  # attempt 1 was refused: nothing listens
        make_bench(port=port)  # the server comes back on the same port, with /echo
        sender.join(15)
        assert not sender.is_alive()
        assert errors == []
        assert conn.receive_text() == "after"
    finally:
        conn.close()
    assert conn.close_code == 1000


def test_no_reconnect_after_own_close_or_a_normal_close(flaky_bench, bench):
    """A connection closed by the caller, or by the server with 1000, is not reopened."""
    conn = flaky_bench.connect("/flaky", auto_reconnect=3, backoff=(0.01, 0.05), timeout=5)
    conn.close()
    with pytest.raises(wsbench.ConnectionClosed):
        conn.send_text("closed by me")
    normal = bench.connect("/send?n=1&code=1000", auto_reconnect=3, backoff=(0.01, 0.05), timeout=5)
    assert normal.receive_text() is not None
    with pytest.raises(wsbench.ConnectionClosed) as info:
        normal.receive_text()
    assert info.value.code == 1000
    assert not any(e.kind == "reconnect" for e in normal.transcript)


def test_auto_reconnect_async(flaky_bench):
    """areceive_text on an aconnect() connection reconnects after a drop, once."""

    async def main() -> wsbench.Connection:
        conn = await flaky_bench.aconnect("/flaky", auto_reconnect=3, backoff=(0.01, 0.05), timeout=5)
        assert [await conn.areceive_text(), await conn.areceive_text()] == ["1:1", "1:2"]
        await conn.asend_text("fail now")
        assert await conn.areceive_text() == "2:1"
        await conn.aclose()
        return conn

    conn = asyncio.run(main())
    assert sum(e.kind == "reconnect" for e in conn.transcript) == 1


def test_reconnect_options_survive_json(flaky_bench):
    """The transcript of a reconnecting client saves to JSON Lines and loads back with its "reconnect" event."""
    conn = flaky_bench.connect("/flaky", auto_reconnect=1, backoff=(0.01, 0.01), timeout=5)
    conn.send_text("fail now")
    assert [conn.receive_text() for _ in range(3)] == ["1:1", "1:2", "2:1"]
    conn.close()
    loaded = wsbench.Transcript.from_jsonl(conn.transcript.to_jsonl())
    assert loaded.text() == conn.transcript.text()
    assert [json.loads(line)["kind"] for line in conn.transcript.to_jsonl().splitlines()].count("reconnect") == 1
