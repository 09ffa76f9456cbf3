"""The data plane (wsbench.proxy.link): a real uvicorn server, a real client, and the proxy between
them on 127.0.0.1; each fault checked by what the peers observe.

No test measures time: a fault's hold is shown by what has not arrived while the proxy holds
bytes it read (:func:`proxy_fixtures.held`), with faults far longer than any test runs.
"""

from __future__ import annotations

import os

import pytest
from conftest import wait_until
from fastapi import WebSocket
from ports import free_port
from proxy_fixtures import held, kinds

import wsbench

pytest_plugins = ["proxy_fixtures"]  # make_proxy, proxy

HOUR = 3600.0  # a latency no test waits out: what it holds stays held


def server_received(conn: wsbench.Connection) -> list[object]:
    """What the endpoint received on *conn*, in order."""
    return [e.data for e in conn.transcript if e.kind == "websocket.receive"]


# -- plain forwarding ---------------------------------------------------------------------------


def test_echo_through_the_proxy_records_client_and_server_as_one_connection(proxy):
    """A message goes through and back; the server's events land in the client's transcript."""
    with proxy.connect("/echo") as conn:
        conn.send_text("hi")
        assert conn.receive_text(timeout=5) == "hi"
    conn.wait_endpoint(5)
    text = str(conn.transcript)
    assert not text.startswith("#")  # one connection, not two
    assert "server  ← websocket.receive text 'hi'" in text
    assert "client  ← text 'hi'" in text
    assert {e.conn for e in conn.transcript} == {conn.local_address[1]}


def test_proxy_transcript_holds_every_side(proxy):
    """The proxy's own transcript has the client's, the server's and its own events."""
    with proxy.connect("/echo") as conn:
        conn.send_text("x")
        conn.receive_text(timeout=5)
    conn.wait_endpoint(5)
    wait_until(lambda: kinds(proxy.transcript, "proxy").count("eof") == 2)
    sides = {e.side for e in proxy.transcript}
    assert sides == {"client", "server", "proxy"}


def test_tuple_target_forwards(bench, make_proxy):
    """A (host, port) target forwards like a Bench (without the server's events)."""
    proxy = make_proxy(("127.0.0.1", bench.port))
    with proxy.connect("/echo") as conn:
        conn.send_text("t")
        assert conn.receive_text(timeout=5) == "t"
    assert "server" not in {e.side for e in conn.transcript}


# -- latency and bandwidth ------------------------------------------------------------------------


def test_latency_delays_each_direction(proxy):
    """Latency holds what the proxy read, each way: held toward the client, the echo does not
    arrive; held toward the server, the endpoint does not get the message."""
    conn = proxy.connect("/echo")
    proxy.latency(HOUR, direction="to_client")
    conn.send_text("a")
    wait_until(lambda: held(proxy, "to_client"))  # the echo left the server; the proxy holds it
    with pytest.raises(wsbench.Timeout):
        conn.receive_text(timeout=0.2)
    proxy.latency(HOUR, direction="to_server")
    conn.send_text("b")
    wait_until(lambda: held(proxy, "to_server"))
    assert server_received(conn) == ["a"]  # "a" went through before; "b" waits in the proxy
    proxy.cut()  # what is held would wait an hour: end the connection now
    assert conn.wait_closed(5) == 1006


def test_latency_in_one_direction_keeps_order(proxy):
    """Latency to the server only delays, never reorders, the messages sent."""
    conn = proxy.connect("/echo")
    proxy.latency(0.1, direction="to_server")
    for i in range(5):
        conn.send_text(str(i))
    assert [conn.receive_text(timeout=5) for _ in range(5)] == ["0", "1", "2", "3", "4"]
    conn.close()


def test_bandwidth_caps_bytes_per_second(proxy):
    """Capped at B bytes/s, an N-byte message is not whole at the client before N/B seconds (20 s
    here); lifting the cap forwards the rest at once, intact."""
    conn = proxy.connect("/echo", compression=False)
    proxy.bandwidth(1000, direction="to_client")
    payload = os.urandom(20_000)
    conn.send_bytes(payload)
    wait_until(lambda: held(proxy, "to_client"))  # the echo left the server; the proxy paces it
    with pytest.raises(wsbench.Timeout):
        conn.receive_bytes(timeout=0.2)
    proxy.bandwidth(None)
    assert conn.receive_bytes(timeout=10) == payload
    conn.close()


# -- cuts -----------------------------------------------------------------------------------------


def test_cut_after_frames_delivers_those_frames_then_resets(proxy):
    """cut(after_frames=3) set before connecting: the client gets exactly 3 messages, then 1006."""
    proxy.cut(after_frames=3, direction="to_client")
    # delay: the server sends once the client has taken in the 101 (a reset arriving with the 101
    # itself trips the client while it reads its peer's address: see the report of this change)
    conn = proxy.connect("/send?n=5&delay=0.2")
    assert [conn.receive_text(timeout=5) for _ in range(3)] == ["msg 0", "msg 1", "msg 2"]
    with pytest.raises(wsbench.ConnectionClosed) as caught:
        conn.receive_text(timeout=5)
    assert caught.value.code == 1006
    assert conn.close_code == 1006
    assert "proxy   cut: after 3 frames (to_client): reset both TCP connections" in str(conn.transcript)


def test_cut_on_a_live_connection_both_sides_notice(proxy):
    """A cut counted from when it is set: the echoes before it arrive; client 1006, server a disconnect."""
    conn = proxy.connect("/echo")
    conn.send_text("before")
    assert conn.receive_text(timeout=5) == "before"
    proxy.cut(after_frames=2, direction="to_client")
    conn.send_text("a")
    assert conn.receive_text(timeout=5) == "a"
    conn.send_text("b")
    assert conn.receive_text(timeout=5) == "b"
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    assert conn.close_code == 1006
    conn.wait_endpoint(5)
    disconnects = [e for e in conn.transcript if e.kind == "websocket.disconnect"]
    assert len(disconnects) == 1 and disconnects[0].code in (1005, 1006)  # uvicorn's code for a vanished peer
    assert [e.data for e in conn.transcript if e.kind == "receive"] == ["before", "a", "b"]  # nothing lost


def test_cut_after_bytes_stops_mid_message(proxy):
    """cut(after_bytes=N) toward the server: a message longer than N never reaches the endpoint."""
    conn = proxy.connect("/echo", compression=False)
    conn.send_text("whole")
    assert conn.receive_text(timeout=5) == "whole"
    proxy.cut(after_bytes=10, direction="to_server")
    conn.send_text("x" * 1000)
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    conn.wait_endpoint(5)
    assert server_received(conn) == ["whole"]
    assert any(e.kind == "websocket.disconnect" for e in conn.transcript)


def test_cut_now_resets_live_connections(proxy):
    """cut() with no count resets every live connection at once."""
    conn = proxy.connect("/echo")
    proxy.cut()
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    assert conn.close_code == 1006
    proxy.clear()
    with proxy.connect("/echo") as again:  # cleared: new connections pass
        again.send_text("ok")
        assert again.receive_text(timeout=5) == "ok"


# -- half-open and slow reader ------------------------------------------------------------------


def test_half_open_silences_then_heal_delivers(proxy):
    """Half-open: receive and ping time out, nothing closes; heal() delivers what was held."""
    conn = proxy.connect("/echo")
    proxy.half_open()
    conn.send_text("held")
    with pytest.raises(wsbench.Timeout):
        conn.receive_text(timeout=0.3)
    with pytest.raises(wsbench.Timeout):
        conn.ping(timeout=0.3)
    assert conn.state == "open"
    proxy.heal()
    assert conn.receive_text(timeout=5) == "held"
    conn.close()
    assert conn.close_code == 1000


def test_half_open_one_way(proxy):
    """Half-open toward the client only: the server still gets what the client sends."""
    conn = proxy.connect("/echo")
    proxy.half_open(direction="to_client")
    conn.send_text("one way")
    wait_until(lambda: any(e.kind == "websocket.receive" for e in conn.transcript))
    with pytest.raises(wsbench.Timeout):
        conn.receive_text(timeout=0.2)
    proxy.clear()
    assert conn.receive_text(timeout=5) == "one way"
    conn.close()


def test_slow_reader_blocks_the_servers_send_then_all_arrive_in_order(bench, proxy):
    """A slow reader fills the server's buffers so its send() waits; after clear() all arrive in order."""
    count, size = 160, 65536
    sent: list[int] = []

    @bench.websocket("/flood")
    async def flood(websocket: WebSocket) -> None:
        await websocket.accept()
        block = os.urandom(size)
        for i in range(count):
            await websocket.send_bytes(i.to_bytes(4, "big") + block)
            sent.append(i)
        await websocket.close()

    proxy.slow_reader(32_768)
    conn = proxy.connect("/flood", compression=False)
    first = conn.receive_bytes(timeout=10)  # the marker: the proxy reads from the server, slowly
    assert len(sent) < count  # 10 MB: more than every buffer on the way holds, so send() waits
    proxy.clear()
    got = [first] + [conn.receive_bytes(timeout=10) for _ in range(count - 1)]
    assert [int.from_bytes(message[:4], "big") for message in got] == list(range(count))
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_bytes(timeout=5)
    assert conn.close_code == 1000


# -- target down ----------------------------------------------------------------------------------


def test_stopped_bench_target_answers_502_naming_it(make_bench, make_proxy):
    """Target down: HandshakeRejected with HTTP 502 and a body naming the target; a proxy event too."""
    dead = make_bench()
    port = dead.port
    dead.stop()
    proxy = make_proxy(dead)
    with pytest.raises(wsbench.HandshakeRejected) as caught:
        proxy.connect("/echo")
    assert caught.value.status == 502
    assert caught.value.body == f"wsbench FaultProxy: cannot reach 127.0.0.1:{port}: connection refused".encode()
    assert "502 Bad Gateway" in str(caught.value)
    events = [e for e in proxy.transcript if e.side == "proxy"]
    assert [e.kind for e in events] == ["upstream error"]
    assert "connection refused" in (events[0].detail or "")


def test_url_target_down_answers_502(make_proxy):
    """A ws:// URL target with nothing listening: the same clear 502."""
    port = free_port()
    proxy = make_proxy(f"ws://127.0.0.1:{port}")
    with pytest.raises(wsbench.HandshakeRejected, match=r"cannot reach 127\.0\.0\.1"):
        proxy.connect("/")
