"""Flow control: a client that does not read stops reading its socket past max_queue, so TCP
slows a flooding server down and memory stays bounded; nothing read is dropped, and waiting
for the end (close, wait_closed) still sees it come."""

from __future__ import annotations

import asyncio

import pytest
from conftest import wait_until
from peers import MiB, Peer, finishes, flood, run_in_subprocess

import wsbench

# Run in a fresh interpreter: 200 x 1 MiB from a server to a client that does not read; RSS
# measured once the client has stopped reading (or once everything arrived, without flow control).
UNREAD = """
import asyncio, json
from conftest import wait_until
from peers import MiB, Peer, flood, rss
import wsbench

def stopped(conn, peer):
    return getattr(conn._inbox, "paused", False) or "done" in peer.marks

async def main(url, peer):
    base = rss()
    conn = await wsbench.aconnect(url, timeout=30, close_timeout=1, ping_interval=None, max_size=2 * MiB)
    for _ in range(6000):  # until reading stops (or all 200 arrived), at most 60 s
        if stopped(conn, peer):
            break
        await asyncio.sleep(0.01)
    grown = rss() - base
    unread = sum(e.kind == "receive" for e in conn.transcript)
    sizes = [len(await conn.areceive_bytes()) for _ in range(200)]
    return grown, unread, sizes, conn

with Peer(flood, count=200, size=MiB) as peer:
    if MODE == "sync":
        base = rss()
        conn = wsbench.connect(peer.url, timeout=30, close_timeout=1, ping_interval=None, max_size=2 * MiB)
        wait_until(lambda: stopped(conn, peer), 60)
        grown = rss() - base
        unread = sum(e.kind == "receive" for e in conn.transcript)
        sizes = [len(conn.receive_bytes()) for _ in range(200)]
    else:
        grown, unread, sizes, conn = asyncio.run(main(peer.url, peer))
    recorded = sum(e.kind == "receive" for e in conn.transcript)
    print(json.dumps({"grown": grown, "unread": unread, "sizes": sizes, "recorded": recorded}))
"""


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_unread_flood_keeps_memory_bounded_and_loses_nothing(mode):
    """200 x 1 MiB to a client that does not read: RSS grows < 100 MiB; then all 200 are received and recorded."""
    result = run_in_subprocess(f"MODE = {mode!r}\n" + UNREAD)
    assert result["grown"] < 100 * MiB, f"RSS grew {result['grown'] / MiB:.0f} MiB while nothing was read"
    assert result["unread"] < 100  # reading stopped near max_queue, far from 200
    assert result["sizes"] == [MiB] * 200  # nothing read was dropped; the rest came once read
    assert result["recorded"] == 200


def test_max_queue_none_reads_without_bound():
    """max_queue=None: the client reads on (no flow control), as before; every message recorded."""
    with Peer(flood, count=40, size=64 * 1024) as peer:
        conn = wsbench.connect(peer.url, timeout=10, close_timeout=1, ping_interval=None, max_queue=None)
        finishes(lambda: [conn.receive_bytes() for _ in range(40)])
        assert not conn._inbox.paused
        conn.close()


def test_close_while_reading_is_paused_completes_the_closing_handshake():
    """close() on a paused client reads on (bounded) until the server's answer: a clean 1000, not an abort."""
    with Peer(flood, count=200, size=64 * 1024, answer_close=True, hang_up=True) as peer:
        conn = wsbench.connect(peer.url, timeout=10, close_timeout=10, ping_interval=None, max_queue=4)
        wait_until(lambda: conn._inbox.paused, 20)  # reading stopped, the server still sending
        finishes(conn.close)
        assert (conn.state, conn.close_code) == ("closed", 1000)
        [closed] = [e for e in conn.transcript if e.side == "client" and e.kind == "closed"]
        assert "aborted" not in closed.detail
        got = sum(e.kind == "receive" for e in conn.transcript)
        assert [len(conn.receive_bytes()) for _ in range(got - 1)] == [64 * 1024] * (got - 1)  # all still queued


def test_wait_closed_reads_past_unread_messages_to_see_the_end(bench):
    """A server sends 100 messages and closes with 4001; the client reads none: wait_closed() still sees 4001."""
    conn = bench.connect("/send?n=100&code=4001", max_queue=4)
    assert finishes(lambda: conn.wait_closed(timeout=10)) == 4001
    assert sum(e.kind == "receive" and e.side == "client" for e in conn.transcript) == 100
    assert [conn.receive_text() for _ in range(100)] == [f"msg {i}" for i in range(100)]


def test_async_wait_closed_reads_past_unread_messages_too(bench):
    """aconnect(): await_closed() reads on past unread messages and returns the server's code."""

    async def main() -> tuple[int, int]:
        conn = await bench.aconnect("/send?n=100&code=4001", max_queue=4)
        code = await conn.await_closed(timeout=10)
        return code, sum(e.kind == "receive" and e.side == "client" for e in conn.transcript)

    assert finishes(lambda: asyncio.run(main())) == (4001, 100)
