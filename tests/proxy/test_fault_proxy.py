"""FaultProxy, the control API (wsbench.proxy): targets, life cycle, transcripts, waiting for
idle, and the coroutine twins of its setters."""

from __future__ import annotations

import asyncio
import socket
import warnings

import pytest
from proxy_fixtures import kinds

import wsbench
from wsbench import loop
from wsbench.proxy import FaultProxy
from wsbench.transcript import Transcript

pytest_plugins = ["proxy_fixtures"]  # make_proxy, proxy

# -- targets and host -----------------------------------------------------------------------------


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


def test_no_warning_for_loopback(bench, make_proxy):
    """The default host is loopback: no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_proxy(bench)


# -- connecting and life cycle --------------------------------------------------------------------


def test_async_connect_through_the_proxy(proxy):
    """aconnect() through the proxy works on the caller's own event loop."""

    async def main() -> str:
        conn = await proxy.aconnect("/echo")
        await conn.asend_text("async")
        answer = await conn.areceive_text(timeout=5)
        await conn.aclose()
        return answer

    assert asyncio.run(main()) == "async"


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


def test_wait_idle_waits_for_every_link_to_end(bench, make_proxy):
    """wait_idle() times out while a connection passes through, and returns once both its ends are recorded."""
    proxy = make_proxy(bench, name="wait-idle")
    proxy.latency(0.1)  # the closing handshake and both FINs each take a delayed hop
    conn = proxy.connect("/echo", timeout=5)
    with pytest.raises(wsbench.Timeout, match="still pass through"):
        proxy.wait_idle(timeout=0.01)
    conn.close()
    proxy.wait_idle(timeout=5)
    assert proxy.connections == 0
    assert kinds(conn.transcript, "proxy").count("eof") == 2  # both ends recorded before wait_idle returned


# -- coroutine twins ------------------------------------------------------------------------------


def test_await_idle_and_astop_on_the_callers_loop(proxy):
    """await_idle() times out while a connection passes through and returns once it ended; astop() stops, twice too."""

    async def main() -> wsbench.Connection:
        conn = await proxy.aconnect("/echo")
        with pytest.raises(wsbench.Timeout, match="await_idle: 1 connection"):
            await proxy.await_idle(timeout=0.01)
        await conn.aclose()
        await proxy.await_idle(timeout=5)
        assert proxy.connections == 0
        await proxy.astop()
        await proxy.astop()
        return conn

    conn = asyncio.run(main())
    assert not proxy.running
    assert kinds(conn.transcript, "proxy").count("eof") == 2
    with pytest.raises(wsbench.BenchError, match="stopped"):
        asyncio.run(proxy.alatency(1))


def test_async_fault_setters_do_what_their_sync_forms_do(proxy):
    """alatency, abandwidth, aslow_reader, ahalf_open, aheal, aclear and acut set and lift the same
    faults as their sync forms, each recorded on the live connection."""

    async def main() -> wsbench.Connection:
        conn = await proxy.aconnect("/echo")
        await proxy.alatency(0.01)
        await proxy.abandwidth(100_000, direction="to_server")
        await proxy.aslow_reader(100_000)
        assert proxy.faults == [
            "latency 0.01 s each way",
            "bandwidth 100000 B/s (to_server)",
            "slow reader 100000 B/s (reads from the server)",
        ]
        await proxy.ahalf_open(direction="to_client")
        await conn.asend_text("held")
        with pytest.raises(wsbench.Timeout):
            await conn.areceive_text(timeout=0.2)
        await proxy.aheal(direction="to_client")
        assert await conn.areceive_text(timeout=5) == "held"
        await proxy.aclear()
        assert proxy.faults == []
        await proxy.acut()
        with pytest.raises(wsbench.ConnectionClosed):
            await conn.areceive_text(timeout=5)
        await proxy.aclear()
        return conn

    conn = asyncio.run(main())
    assert [e.detail for e in conn.transcript if e.side == "proxy"] == [
        "latency 0.01 s each way",
        "bandwidth 100000 B/s to_server",
        "slow reader 100000 B/s (reads from the server)",
        "stop forwarding (to_client)",
        "forwarding again (to_client)",
        "no faults",
        "cut after 0 bytes (either way)",
        "after 0 bytes (either way): reset both TCP connections",
    ]


def test_async_twins_run_on_the_wsbench_loop_itself(proxy):
    """The twins also work awaited on the wsbench loop itself (an endpoint's loop), where the sync forms would block."""

    async def main() -> list[str]:
        await proxy.alatency(0.5, direction="to_client")
        faults = proxy.faults
        await proxy.aclear()
        await proxy.await_idle(timeout=5)
        await proxy.astop()
        return faults

    assert loop.run(main(), timeout=10, what="the twins on the wsbench loop") == ["latency 0.5 s (to_client)"]
    assert not proxy.running and proxy.faults == []


# -- transcripts ----------------------------------------------------------------------------------


def _cut_scenario(make_bench, make_proxy) -> str:
    """Text of one connection through a latency, then cut after one more echo."""
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


def test_wait_endpoint_through_the_proxy_waits_for_the_benchs_endpoint(proxy):
    """A connection through a proxy to a bench waits for its endpoint on the bench (the Pairing contract)."""
    with proxy.connect("/echo") as conn:
        conn.send_text("hi")
        assert conn.receive_text(timeout=5) == "hi"
    conn.wait_endpoint(timeout=5)
    assert any(e.side == "server" and e.kind in ("return", "exception") for e in conn.transcript)


@pytest.mark.parametrize("url", ["http://127.0.0.1:80", "ws://127.0.0.1:9/echo", "ws://127.0.0.1:99999"])
def test_a_bad_target_url_raises_invalid_url_as_the_client_does(url):
    """One error for one mistake: a target URL the proxy cannot use is an InvalidURL, as for connect()."""
    with pytest.raises(wsbench.InvalidURL):
        FaultProxy(url, name="bad-url")
