"""FaultProxy: a real uvicorn server, a real client, and the proxy between them on 127.0.0.1.

Each fault is checked by what the peers observe: times only as lower bounds the proxy
guarantees (it waits at least that long), never as upper bounds. The frame counter is pure
and tested on bytes alone.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
import warnings
from collections.abc import Callable, Iterator

import pytest
from fastapi import WebSocket

import wsbench
from wsbench.proxy import FaultProxy, FrameCounter
from wsbench.transcript import Transcript

ProxyFactory = Callable[..., FaultProxy]


@pytest.fixture
def make_proxy(request: pytest.FixtureRequest) -> Iterator[ProxyFactory]:
    """Factory: ``make_proxy(target, **options)`` -> a running FaultProxy with a name unique to the test."""
    made: list[FaultProxy] = []

    def make(target: object, **options: object) -> FaultProxy:
        options.setdefault("name", f"{request.node.nodeid}-{len(made)}")
        proxy = FaultProxy(target, **options)  # type: ignore[arg-type]
        made.append(proxy)
        return proxy

    yield make
    for proxy in reversed(made):
        proxy.stop()


@pytest.fixture
def proxy(bench: wsbench.Bench, make_proxy: ProxyFactory) -> FaultProxy:
    """A FaultProxy in front of the test bench."""
    return make_proxy(bench)


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll *predicate* (bounded) until it is true; fail the test if it never is."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kinds(transcript: Transcript, side: str) -> list[str]:
    return [e.kind for e in transcript if e.side == side]


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


def test_async_connect_through_the_proxy(proxy):
    """aconnect() through the proxy works on the caller's own event loop."""

    async def main() -> str:
        conn = await proxy.aconnect("/echo")
        await conn.asend_text("async")
        answer = await conn.areceive_text(timeout=5)
        await conn.aclose()
        return answer

    assert asyncio.run(main()) == "async"


# -- latency and bandwidth ------------------------------------------------------------------------


def test_latency_delays_each_direction(proxy):
    """With latency L each way, a round trip takes at least 2L."""
    conn = proxy.connect("/echo")
    proxy.latency(0.15)
    start = time.monotonic()
    conn.send_text("slow")
    assert conn.receive_text(timeout=5) == "slow"
    assert time.monotonic() - start >= 0.3
    conn.close()


def test_latency_in_one_direction_keeps_order(proxy):
    """Latency to the server only delays, never reorders, the messages sent."""
    conn = proxy.connect("/echo")
    proxy.latency(0.1, direction="to_server")
    start = time.monotonic()
    for i in range(5):
        conn.send_text(str(i))
    assert [conn.receive_text(timeout=5) for _ in range(5)] == ["0", "1", "2", "3", "4"]
    assert time.monotonic() - start >= 0.1
    conn.close()


def test_bandwidth_caps_bytes_per_second(proxy):
    """A payload of N bytes at B bytes/s to the client takes at least N/B seconds."""
    conn = proxy.connect("/echo", compression=False)
    proxy.bandwidth(40_000, direction="to_client")
    payload = os.urandom(20_000)
    start = time.monotonic()
    conn.send_bytes(payload)
    assert conn.receive_bytes(timeout=10) == payload
    assert time.monotonic() - start >= 20_000 / 40_000
    proxy.bandwidth(None)
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
    received = [e.data for e in conn.transcript if e.kind == "websocket.receive"]
    assert received == ["whole"]
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


def test_report_says_how_long_each_side_took_to_notice(proxy):
    """report(): the cut, what the client and the server saw, seconds after it (0 or more)."""
    proxy.cut(after_frames=1, direction="to_client")
    conn = proxy.connect("/echo")
    conn.send_text("a")
    assert conn.receive_text(timeout=5) == "a"
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    conn.wait_endpoint(5)
    (row,) = proxy.report()
    assert row["conn"] == 1
    assert row["fault"].startswith("cut: after 1 frame (to_client)")
    assert row["client"].startswith("closed 1006")
    assert row["server"].startswith("websocket.disconnect")
    assert row["client_after"] >= 0 and row["server_after"] >= 0


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
    time.sleep(0.5)
    assert len(sent) < count  # 10 MB: more than every buffer on the way holds
    proxy.clear()
    got = [int.from_bytes(conn.receive_bytes(timeout=10)[:4], "big") for _ in range(count)]
    assert got == list(range(count))
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_bytes(timeout=5)
    assert conn.close_code == 1000


# -- target down, bad input, life cycle ----------------------------------------------------------


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


def test_tuple_target_forwards(bench, make_proxy):
    """A (host, port) target forwards like a Bench (without the server's events)."""
    proxy = make_proxy(("127.0.0.1", bench.port))
    with proxy.connect("/echo") as conn:
        conn.send_text("t")
        assert conn.receive_text(timeout=5) == "t"
    assert "server" not in {e.side for e in conn.transcript}


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda p: p.latency(-1), "latency must be 0 or more"),
        (lambda p: p.latency(float("inf")), "latency must be finite"),
        (lambda p: p.latency("1"), "latency must be a number"),
        (lambda p: p.bandwidth(0), "bandwidth must be more than 0"),
        (lambda p: p.bandwidth(-5), "bandwidth must be more than 0"),
        (lambda p: p.latency(1, direction="up"), "direction must be one of"),
        (lambda p: p.half_open(direction="sideways"), "direction must be one of"),
        (lambda p: p.cut(after_bytes=1, after_frames=1), "not both"),
        (lambda p: p.cut(after_frames=-1), "whole number"),
        (lambda p: p.cut(after_bytes=1.5), "whole number"),
        (lambda p: p.cut(after_bytes=True), "whole number"),
        (lambda p: p.slow_reader(0), "slow_reader must be more than 0"),
    ],
)
def test_bad_fault_arguments_raise_value_error(proxy, call, says):
    """Bad fault arguments raise ValueError naming the problem; nothing changes."""
    with pytest.raises(ValueError, match=says):
        call(proxy)
    assert proxy.faults == []


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("http://127.0.0.1:80", "ws://host:port"),
        ("ws://127.0.0.1:9/echo", "has a path"),
        (("127.0.0.1",), "Bench, a ws://host:port URL"),
        (("127.0.0.1", 0), "port must be 1-65535"),
        (8080, "Bench, a ws://host:port URL"),
    ],
)
def test_bad_targets_raise_value_error(target, says):
    """A target that is not a Bench, a ws:// URL or a (host, port) pair is refused up front."""
    with pytest.raises(ValueError, match=says):
        FaultProxy(target, name="bad-target")


def test_non_loopback_host_warns(bench, make_proxy):
    """Binding other than loopback draws a warning."""
    with pytest.warns(UserWarning, match="not loopback"):
        make_proxy(bench, host="0.0.0.0")


def test_same_name_replaces_the_running_proxy(bench, make_proxy):
    """Re-creating a FaultProxy of the same name stops the old one (a re-run cell leaks nothing)."""
    first = make_proxy(bench, name="cell")
    conn = first.connect("/echo")
    second = make_proxy(bench, name="cell")
    assert not first.running and second.running
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", first.port), timeout=2):
        pass


def test_stop_releases_the_port_and_closes_connections(bench, make_proxy):
    """stop(): live connections end (a "stop" event), the port can be bound again; stop twice is fine."""
    proxy = make_proxy(bench)
    conn = proxy.connect("/echo")
    port = proxy.port
    proxy.stop()
    proxy.stop()
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    assert "stop" in kinds(conn.transcript, "proxy")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
    with pytest.raises(wsbench.BenchError, match="stopped"):
        proxy.connect("/echo")
    with pytest.raises(wsbench.BenchError, match="stopped"):
        proxy.latency(1)


def test_context_manager_stops(bench):
    """``with FaultProxy(...)`` stops it on exit."""
    with FaultProxy(bench, name="ctx") as proxy:
        assert proxy.running
    assert not proxy.running


def test_repr_and_faults_hold_no_port(proxy):
    """repr and the fault list name the target and the faults, never a port."""
    proxy.latency(0.25)
    proxy.bandwidth(1000, direction="to_server")
    assert proxy.faults == ["latency 0.25 s each way", "bandwidth 1000 B/s (to_server)"]
    assert str(proxy.port) not in repr(proxy)
    assert "latency 0.25 s each way" in repr(proxy)
    proxy.clear()
    assert proxy.faults == []


# -- transcripts ----------------------------------------------------------------------------------


def _cut_scenario(make_bench, make_proxy) -> str:
    bench = make_bench()
    proxy = make_proxy(bench)
    proxy.latency(0.01)
    conn = proxy.connect("/echo")
    conn.send_text("a")
    conn.receive_text(timeout=5)
    proxy.cut(after_frames=1, direction="to_client")
    conn.send_text("b")
    conn.receive_text(timeout=5)
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    conn.wait_endpoint(5)
    return str(conn.transcript)


def test_transcript_text_is_the_same_for_two_runs(make_bench, make_proxy):
    """The same proxied scenario prints the same text twice (no ports, no times)."""
    first = _cut_scenario(make_bench, make_proxy)
    second = _cut_scenario(make_bench, make_proxy)
    assert first == second
    assert first.splitlines()[1] == "proxy   fault: latency 0.01 s each way"
    assert first.index("proxy   cut:") < first.index("client  closed:")
    assert first.index("proxy   cut:") < first.index("server  ← websocket.disconnect")


def test_jsonl_round_trip_keeps_proxy_events(proxy, tmp_path):
    """A transcript with proxy events saves and loads unchanged, and prints alike."""
    proxy.cut(after_frames=1, direction="to_client")
    conn = proxy.connect("/echo")
    conn.send_text("a")
    conn.receive_text(timeout=5)
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    conn.wait_endpoint(5)
    loaded = Transcript.load(conn.transcript.save(tmp_path / "cut.jsonl"))
    assert loaded.records() == conn.transcript.records()  # as saved: connections numbered, secrets masked
    assert str(loaded) == str(conn.transcript)
    assert "proxy" in {e.side for e in loaded}


def test_timeline_draws_a_proxy_lane_and_how_long_each_side_took(proxy):
    """proxy.timeline(): a proxy lane, and "ms after cut" beside the client's and the server's notice."""
    pytest.importorskip("ipywidgets")
    proxy.cut(after_frames=1, direction="to_client")
    conn = proxy.connect("/echo")
    conn.send_text("a")
    conn.receive_text(timeout=5)
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    conn.wait_endpoint(5)
    timeline = proxy.timeline(live=False)
    html = timeline.to_html()
    timeline.close()
    assert ">proxy</text>" in html
    assert html.count("ms after cut</text>") == 2


# -- the frame counter (pure) --------------------------------------------------------------------


def frame(payload: bytes, *, opcode: int = 1, mask: bool = False) -> bytes:
    """One WebSocket frame, header by RFC 6455 §5.2 (masked payloads left as is: only lengths matter)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    return head + (b"\x01\x02\x03\x04" if mask else b"") + payload


RESPONSE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


def test_frame_counter_finds_each_frame_end():
    """Frame ends are found after the head, for 7-, 16- and 64-bit lengths, masked or not, and empty frames."""
    frames = [frame(b"hi"), frame(b"x" * 300, mask=True), frame(b"y" * 70000), frame(b"", opcode=9), frame(b"z")]
    stream = RESPONSE + b"".join(frames)
    counter = FrameCounter(response=True)
    ends = counter.feed(stream)
    expected, at = [], len(RESPONSE)
    for f in frames:
        at += len(f)
        expected.append(at)
    assert ends == expected
    assert counter.frames == 5 and counter.status == 101


def test_frame_counter_one_byte_at_a_time():
    """Fed a byte at a time, the counter finds the same frames."""
    stream = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + frame(b"a" * 200, mask=True) + frame(b"", opcode=8, mask=True)
    counter = FrameCounter(response=False)
    ends = [i + 1 for i in range(len(stream)) if counter.feed(stream[i : i + 1])]
    assert ends == [len(stream) - 6, len(stream)]


def test_frame_counter_stays_opaque_after_a_non_101_answer():
    """A 403 answer is not followed by frames: nothing is counted."""
    counter = FrameCounter(response=True)
    assert counter.feed(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n\x81\x00") == []
    assert counter.state == "opaque" and counter.status == 403


def test_frame_counter_gives_up_on_an_endless_head():
    """A head without an end within 64 KiB leaves the stream opaque."""
    counter = FrameCounter(response=False)
    counter.feed(b"x" * 70000)
    assert counter.state == "opaque"
    assert counter.feed(frame(b"a")) == []


def test_no_warning_for_loopback(bench, make_proxy):
    """The default host is loopback: no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_proxy(bench)


def test_wait_idle_waits_for_every_link_to_end(bench):
    proxy = wsbench.FaultProxy(bench, name="wait-idle")
    try:
        proxy.latency(0.1)  # the closing handshake and both FINs each take a delayed hop
        conn = proxy.connect("/echo", timeout=5)
        with pytest.raises(wsbench.Timeout, match="still pass through"):
            proxy.wait_idle(timeout=0.01)
        conn.close()
        proxy.wait_idle(timeout=5)
        assert proxy.connections == 0
        kinds = [e.kind for e in conn.transcript if e.side == "proxy"]
        assert kinds.count("eof") == 2  # both ends recorded before wait_idle returned
    finally:
        proxy.stop()
