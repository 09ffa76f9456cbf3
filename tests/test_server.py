"""wsbench.server: the embedded uvicorn server, live endpoints and the server-side record."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import trustme
from conftest import wait_until
from fastapi import FastAPI, WebSocket

import wsbench
from wsbench._service import is_loopback as _is_loopback
from wsbench.server import WS_IMPLEMENTATIONS


def loop_threads() -> int:
    """How many threads named "wsbench-loop" are alive."""
    return sum(thread.name == "wsbench-loop" for thread in threading.enumerate())


# -- life cycle ----------------------------------------------------------------


def test_bench_starts_on_loopback(bench):
    """A new Bench is running on 127.0.0.1 at an OS-picked port, and its repr shows no port."""
    assert bench.running
    assert bench.host == "127.0.0.1"
    assert bench.port > 0
    assert bench.url == f"ws://127.0.0.1:{bench.port}"
    assert str(bench.port) not in repr(bench)
    assert "running" in repr(bench)


def test_stop_releases_the_port(make_bench):
    """After stop() the port is free again: binding it works."""
    bench = make_bench()
    port = bench.port
    bench.stop()
    assert not bench.running
    assert "stopped" in repr(bench)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_stop_is_idempotent(make_bench):
    """Calling stop() twice does nothing the second time."""
    bench = make_bench()
    bench.stop()
    bench.stop()
    assert not bench.running


def test_bench_is_a_context_manager(make_bench):
    """Leaving a with block stops the Bench."""
    with make_bench() as bench:
        assert bench.running
    assert not bench.running


def test_stop_closes_connected_clients_with_1012(bench):
    """Stopping the Bench closes every connected client with 1012 (service restart)."""
    conn = bench.connect("/echo")
    other = bench.connect("/echo")
    bench.stop()
    wait_until(lambda: conn.state == "closed" and other.state == "closed")
    assert conn.close_code == 1012
    assert other.close_code == 1012
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive_text(timeout=1)
    assert info.value.code == 1012
    assert "1012 (service restart)" in str(info.value)


def test_same_name_replaces_the_previous_bench(make_bench):
    """A second Bench with the same name stops the first; there is still one loop thread."""
    first = make_bench(name="replaced-bench")
    conn = first.connect("/echo")
    second = make_bench(name="replaced-bench")
    assert not first.running
    assert second.running
    assert loop_threads() == 1
    wait_until(lambda: conn.state == "closed")
    assert conn.close_code == 1012
    fresh = second.connect("/echo")
    fresh.send_text("hi")
    assert fresh.receive_text(timeout=2) == "hi"


def test_different_names_run_side_by_side(make_bench):
    """Benches with different names run at once, on different ports, on the one loop thread."""
    first, second = make_bench(), make_bench()
    assert first.running and second.running
    assert first.port != second.port
    assert loop_threads() == 1


def test_connecting_a_stopped_bench_raises_bench_error(make_bench):
    """bench.connect / bench.aconnect on a stopped Bench raise BenchError."""
    bench = make_bench()
    bench.stop()
    with pytest.raises(wsbench.BenchError, match="stopped"):
        bench.connect("/echo")
    with pytest.raises(wsbench.BenchError, match="stopped"):
        asyncio.run(bench.aconnect("/echo"))


def test_busy_port_raises_bench_error(request):
    """Bench(port=<a port in use>) raises BenchError naming the fix (port=0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(wsbench.BenchError, match="port=0"):
            wsbench.Bench(port=port, name=f"{request.node.nodeid}-busy")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, loopback):
    """_is_loopback (which decides the non-loopback warning) is true only for loopback hosts."""
    assert _is_loopback(host) is loopback


# -- endpoints and apps -----------------------------------------------------------


def test_endpoint_path_must_start_with_slash(bench):
    """Registering a path without a leading "/" raises ValueError; so does connecting to one."""
    with pytest.raises(ValueError, match="must start with '/'"):
        bench.websocket("echo")
    with pytest.raises(ValueError, match="must start with '/'"):
        bench.connect("echo")


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("", "must start with '/'"),
        ("no-slash", "must start with '/'"),
        ("/x?y", "starts a URL's query"),
        ("/x#y", "starts a URL's fragment"),
    ],
)
def test_a_path_no_url_reaches_is_an_invalid_path(bench, path, words):
    """Empty, relative, or holding '?' / '#': InvalidPath (a BenchError and a ValueError) saying why."""
    with pytest.raises(wsbench.InvalidPath, match=words) as info:
        bench.websocket(path)
    assert isinstance(info.value, wsbench.BenchError) and isinstance(info.value, ValueError)


def test_registering_after_stop_is_an_error(make_bench):
    """A stopped bench refuses new endpoints instead of accepting them silently."""
    bench = make_bench()
    bench.stop()
    with pytest.raises(wsbench.BenchError, match="is stopped"):
        bench.websocket("/late")


def test_an_endpoint_blocking_the_loop_is_named_in_its_transcript_and_the_log(bench):
    """The watchdog notices an endpoint that blocks the bench's loop (time.sleep) and names it."""

    @bench.websocket("/blocking")
    async def blocking(websocket: WebSocket) -> None:
        await websocket.accept()
        time.sleep(1.0)  # the mistake under test: blocking the loop
        await websocket.send_text("late")

    with bench.connect("/blocking") as conn:
        assert conn.receive_text(timeout=10) == "late"
        details = lambda: [e.detail for e in conn.transcript if e.side == "server" and e.kind == "blocked"]  # noqa: E731
        blocked = wait_until(lambda: len(details()) >= 2 and details())
    while_blocked, after = blocked  # one event while it still blocks, one when it has ended
    assert "still blocked" in while_blocked and "by endpoint /blocking, in blocking() line" in while_blocked
    assert "`time.sleep(1.0)`" in while_blocked and "await asyncio.sleep" in while_blocked
    assert "was blocked for" in after and "by endpoint /blocking" in after and "`time.sleep(1.0)`" in after
    assert any("by endpoint /blocking" in line for line in wsbench.server_log())
    assert bench.blocked_since(time.time() - 30) is not None


def test_a_timeout_while_an_endpoint_blocked_the_loop_names_that_endpoint(bench):
    """A receive that times out because an endpoint blocked the bench says which endpoint, not 'call again'."""

    @bench.websocket("/hog")
    async def hog(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        time.sleep(1.5)  # the mistake under test: blocking the loop
        await websocket.receive_text()  # then silent until the client closes

    with bench.connect("/hog") as conn:
        conn.send_text("go")
        with pytest.raises(wsbench.Timeout) as info:
            conn.receive_text(timeout=3)
        message = str(info.value)
    assert "blocked for" in message and "by endpoint /hog" in message and "await asyncio.sleep" in message


def test_reregistering_a_path_replaces_the_endpoint(bench):
    """Registering the same path again replaces the endpoint (re-running a cell)."""

    @bench.websocket("/version")
    async def one(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("one")
        await websocket.close()

    @bench.websocket("/version")
    async def two(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("two")
        await websocket.close()

    assert list(bench.connect("/version").iter_text(timeout=2)) == ["two"]
    assert [getattr(r, "path", None) for r in bench.app.router.routes].count("/version") == 1


def test_unknown_path_is_rejected_with_403(bench):
    """Connecting to a path with no endpoint: Starlette closes before accept, so uvicorn answers HTTP 403."""
    with pytest.raises(wsbench.HandshakeRejected) as info:
        bench.connect("/no-such-endpoint")
    assert info.value.status == 403


def test_bench_serves_an_existing_app(make_bench):
    """Bench(app=my_app) serves the app's own WebSocket and HTTP routes."""
    app = FastAPI()

    @app.websocket("/hello")
    async def hello(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello from my app")
        await websocket.close()

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    bench = make_bench(app=app, endpoints=False)
    assert bench.app is app
    assert list(bench.connect("/hello").iter_text(timeout=2)) == ["hello from my app"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    with opener.open(f"http://127.0.0.1:{bench.port}/health", timeout=2) as response:
        assert response.read() == b'{"ok":true}'


@pytest.mark.parametrize("ws", ["websockets-sansio", "wsproto", "websockets"])
@pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated")  # uvicorn 0.54, legacy ws only
def test_each_ws_implementation_echoes(make_bench, ws):
    """ws= each of uvicorn's implementations serves an echo and passes the client's close code on."""
    bench = make_bench(ws=ws)
    assert bench.ws == ws
    conn = bench.connect("/echo")
    conn.send_text("hi")
    conn.send_bytes(b"\x00")
    assert conn.receive_text(timeout=2) == "hi"
    assert conn.receive_bytes(timeout=2) == b"\x00"
    conn.close(4000, "bye")
    wait_until(lambda: bench.transcript.filter(kind="websocket.disconnect"))
    disconnect = bench.transcript.filter(kind="websocket.disconnect")[0]
    assert (disconnect.code, disconnect.reason) == (4000, "bye")


def test_invalid_ws_implementation_raises_value_error():
    """ws= anything else raises ValueError listing the choices, before anything starts."""
    with pytest.raises(ValueError) as info:
        wsbench.Bench(ws="tornado", name="never-started")
    for name in WS_IMPLEMENTATIONS:
        assert name in str(info.value)


# -- TLS options -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PEM files made by trustme: a server certificate for 127.0.0.1 and its key."""
    folder = tmp_path_factory.mktemp("server-tls")
    cert = trustme.CA().issue_cert("127.0.0.1")
    files = {"server": str(folder / "server.pem"), "server_key": str(folder / "server.key")}
    cert.cert_chain_pems[0].write_to_path(files["server"])
    cert.private_key_pem.write_to_path(files["server_key"])
    return files


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"certfile": "{tmp}/nope.pem"}, "cannot load the server certificate"),
        ({"certfile": "{tmp}/garbage.pem"}, "cannot load the server certificate"),
        ({"certfile": "{server}", "keyfile": "{server_key}", "client_ca_file": "{tmp}/nope.pem"}, "client CA file"),
    ],
)
def test_bench_with_invalid_tls_files_names_the_file(options, message, server_tls_files, tmp_path):
    """Bench(certfile=...) with a file that is missing or not PEM raises TLSFailure naming it, before serving."""
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    given = {name: value.format(tmp=tmp_path, **server_tls_files) for name, value in options.items()}
    with pytest.raises(wsbench.TLSFailure, match=message):
        wsbench.Bench(name="bad-tls", **given)


def test_bench_keyfile_without_certfile_is_refused():
    """Bench(keyfile=...) without certfile= raises ValueError: TLS starts with the server's certificate."""
    with pytest.raises(ValueError, match="need certfile"):
        wsbench.Bench(name="bad-tls", keyfile="key.pem")


# -- the server-side record ----------------------------------------------------------


def test_client_close_4000_recorded_with_states(bench):
    """The client closing with 4000: the server records websocket.disconnect, client DISCONNECTED, app CONNECTED."""
    conn = bench.connect("/echo")
    conn.send_text("hi")
    conn.receive_text(timeout=2)
    conn.close(4000, "done")
    wait_until(lambda: bench.transcript.filter(kind="websocket.disconnect"))
    server = bench.transcript.filter(side="server")
    assert [e.kind for e in server][:4] == [
        "websocket.connect",
        "websocket.accept",
        "websocket.receive",
        "websocket.send",
    ]
    accept = server.filter(kind="websocket.accept")[0]
    assert (accept.client_state, accept.application_state) == ("CONNECTED", "CONNECTED")
    disconnect = server.filter(kind="websocket.disconnect")[0]
    assert (disconnect.code, disconnect.reason) == (4000, "done")
    assert disconnect.client_state == "DISCONNECTED"
    assert disconnect.application_state == "CONNECTED"
    assert "[client_state=DISCONNECTED application_state=CONNECTED]" in str(bench.transcript)


def test_endpoint_exception_is_recorded_and_client_sees_1006(bench):
    """An endpoint raising after accept: an "exception" event, and the client sees 1006 (no close frame)."""
    conn = bench.connect("/raise")
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive_text(timeout=2)
    assert info.value.code == 1006
    assert conn.close_code == 1006
    wait_until(lambda: bench.transcript.filter(kind="exception"))
    exception = bench.transcript.filter(kind="exception")[0]
    assert exception.side == "server"
    assert exception.detail == "endpoint raised RuntimeError: boom"
    assert "! endpoint raised RuntimeError: boom" in str(bench.transcript)
    assert any("Exception in ASGI application" in line for line in wsbench.server_log())


def test_endpoint_returning_without_close_gives_1006(bench):
    """An endpoint returning after accept sends no close frame: the client sees 1006, the server records "return"."""
    conn = bench.connect("/return")
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive_text(timeout=2)
    assert info.value.code == 1006
    wait_until(lambda: bench.transcript.filter(kind="return"))
    assert len(bench.transcript.filter(kind="websocket.close")) == 0


def test_close_before_accept_recorded_with_states(bench):
    """close() before accept: the server records websocket.close with client CONNECTING, app DISCONNECTED."""
    with pytest.raises(wsbench.HandshakeRejected):
        bench.connect("/close-early")
    close = bench.transcript.filter(kind="websocket.close")[0]
    assert (close.code, close.reason) == (4003, "not you")
    assert (close.client_state, close.application_state) == ("CONNECTING", "DISCONNECTED")


def test_denial_response_recorded(bench):
    """HTTPException before accept: the server records the denial response (401, then the body)."""
    with pytest.raises(wsbench.HandshakeRejected):
        bench.connect("/reject")
    server = bench.transcript.filter(side="server")
    start = server.filter(kind="websocket.http.response.start")[0]
    body = server.filter(kind="websocket.http.response.body")[0]
    assert start.code == 401
    assert start.application_state == "RESPONSE"
    assert body.data == b'{"detail":"no token"}'
    assert body.application_state == "DISCONNECTED"


def test_subprotocol_recorded_on_accept(bench):
    """accept(subprotocol="chat") is recorded with its subprotocol."""
    bench.connect("/chat", subprotocols=["chat"])
    accept = bench.transcript.filter(kind="websocket.accept")[0]
    assert accept.detail == "subprotocol 'chat'"


def test_connection_transcript_holds_both_sides_of_that_connection_only(bench):
    """Two connections in turn: each one's transcript has its own client and server events, not the other's."""
    transcripts = []
    for word in ("first", "second"):
        conn = bench.connect("/echo")
        conn.send_text(word)
        assert conn.receive_text(timeout=2) == word
        conn.close()
        wait_until(lambda conn=conn: conn.transcript.filter(kind="websocket.disconnect"))
        transcripts.append(conn.transcript)
    first, second = transcripts
    for transcript, mine, other in ((first, "first", "second"), (second, "second", "first")):
        assert {e.side for e in transcript} == {"client", "server"}
        assert len({e.conn for e in transcript}) == 1
        assert [e.data for e in transcript.filter(side="server", kind="websocket.receive")] == [mine]
        assert other not in str(transcript)
        assert not str(transcript).startswith("#")  # one connection: no numbering
    assert len({e.conn for e in bench.transcript}) == 2
    assert str(bench.transcript).startswith("c1 ")  # the bench names its connections c1, c2 ... (issue 23)


def test_bench_transcript_has_no_port(bench):
    """The bench transcript's text has no port number in it."""
    conn = bench.connect("/echo")
    conn.send_text("hi")
    conn.receive_text(timeout=2)
    conn.close(4000, "bye")
    with pytest.raises(wsbench.HandshakeRejected):
        bench.connect("/reject")
    wait_until(lambda: bench.transcript.filter(kind="websocket.disconnect"))
    text = str(bench.transcript)
    assert str(bench.port) not in text
    assert "connect /echo" in text


def test_denial_prints_after_the_client_connect(bench):
    """A denial sent before websocket.connect is read still prints after the client's connect."""
    from fastapi.responses import PlainTextResponse

    @bench.websocket("/deny")
    async def deny(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("members only", status_code=401))

    with pytest.raises(wsbench.HandshakeRejected) as info:
        bench.connect("/deny")
    assert info.value.status == 401
    lines = str(bench.transcript).splitlines()
    assert lines[0] == "client  connect /deny"
    assert lines.index("client  rejected: HTTP 401 bytes b'members only' (12 bytes)") > 2


def test_endpoint_exception_prints_before_the_client_sees_1006(bench):
    """The endpoint's exception is printed before the client's 1006, and after the message that caused it."""

    @bench.websocket("/boom")
    async def boom(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_json()

    conn = bench.connect("/boom")
    conn.send_text("{not json")
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive(timeout=2)
    assert info.value.code == 1006
    conn.wait_endpoint(timeout=2)
    kinds = [line.split()[1] for line in str(conn.transcript).splitlines()]
    assert kinds.index("→") < kinds.index("!") < kinds.index("closed:")


def test_recorder_keeps_odd_payloads_deterministic(bench):
    """bytearray/memoryview payloads are recorded as bytes; a non-str/bytes payload is named, not crashed on."""

    @bench.websocket("/odd")
    async def odd(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_bytes(bytearray(b"ba"))
        await websocket.send_bytes(memoryview(b"mv"))
        try:
            await websocket.send_text({"a": 1})  # type: ignore[arg-type]
        except Exception:
            pass
        await websocket.close()

    conn = bench.connect("/odd")
    assert conn.receive_bytes(timeout=2) == b"ba"
    assert conn.receive_bytes(timeout=2) == b"mv"
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive(timeout=2)
    conn.wait_endpoint(timeout=2)
    text = str(conn.transcript)
    assert "bytes b'ba' (2 bytes)" in text and "bytes b'mv' (2 bytes)" in text
    assert "0x" not in text
    assert "payload is dict, not str or bytes" in text
    assert "! websocket.send failed: AttributeError" in text


def test_root_path_is_passed_to_uvicorn():
    """Bench(root_path=...) is uvicorn's --root-path: the endpoint sees it in its scope."""
    seen = {}
    with wsbench.Bench(name="root-path-test", root_path="/api") as bench:

        @bench.websocket("/where")
        async def where(websocket: WebSocket) -> None:
            seen["root_path"] = websocket.scope["root_path"]
            await websocket.accept()
            await websocket.close()

        conn = bench.connect("/where")
        conn.wait_endpoint(timeout=2)
    assert seen["root_path"] == "/api"


def test_wait_idle_waits_for_an_endpoint_after_a_rejected_handshake(bench):
    """After a rejected handshake there is no connection; bench.wait_idle() waits for the endpoint's end."""
    seen = []
    release = threading.Event()

    @bench.websocket("/slow-no")
    async def slow_no(websocket: WebSocket) -> None:
        await websocket.close(1008)
        await asyncio.to_thread(release.wait, 10)  # still running after the client has its answer, until released
        seen.append("done")

    try:
        with pytest.raises(wsbench.HandshakeRejected):
            bench.connect("/slow-no")
        with pytest.raises(wsbench.Timeout):
            bench.wait_idle(timeout=0.1)  # the client is done; the endpoint is not
    finally:
        release.set()
    bench.wait_idle(timeout=3)
    assert seen == ["done"]


def test_wait_idle_times_out_while_an_endpoint_runs(bench):
    """wait_idle raises Timeout, naming how many endpoints still run."""

    @bench.websocket("/hold")
    async def hold(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive()  # runs until the client closes

    conn = bench.connect("/hold")
    with pytest.raises(wsbench.Timeout, match="1 endpoint"):
        bench.wait_idle(timeout=0.1)
    conn.close()
    bench.wait_idle(timeout=3)


def test_importing_wsbench_changes_no_logging():
    """The pytest plugin imports wsbench in every test run: uvicorn's loggers stay as they were
    until the first Bench starts (then its lines go to wsbench.server_log(), not into cells)."""
    code = (
        "import logging, wsbench\n"
        "before = [logging.getLogger(n).propagate for n in ('uvicorn', 'uvicorn.error', 'uvicorn.access')]\n"
        "with wsbench.Bench(name='logging-check'):\n"
        "    after = [logging.getLogger(n).propagate for n in ('uvicorn', 'uvicorn.error', 'uvicorn.access')]\n"
        "print(before, after)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["[True,", "True,", "True]", "[False,", "False,", "False]"]


def _server_side_sockets(port: int) -> list[socket.socket]:
    """The accepted sockets of whatever listens on *port* in this process."""
    import gc

    found = []
    for obj in gc.get_objects():
        # type(), not isinstance(): a dead weakref.proxy among gc's objects raises ReferenceError on isinstance
        if (
            issubclass(type(obj), socket.socket)
            and obj.fileno() >= 0
            and obj.family in (socket.AF_INET, socket.AF_INET6)
        ):
            try:
                if obj.getsockname()[1] == port and obj.getpeername():
                    found.append(obj)
            except OSError:
                continue
    return found


def test_a_bench_sends_without_nagle_delay(bench):
    """The bench's accepted sockets have TCP_NODELAY, as uvicorn's own do: a server send right
    after an unacknowledged one is not held back for the peer's delayed ACK (about 40 ms on Linux:
    it showed as a broadcast reaching one chat member 43 ms late). asyncio sets it only on sockets
    created with proto=IPPROTO_TCP, which the bench's bound socket was not."""

    @bench.websocket("/nodelay")
    async def nodelay(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    with bench.connect("/nodelay"):
        accepted = _server_side_sockets(bench.port)
        assert accepted, "the bench's accepted socket was not found"
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted)

    proxy = wsbench.FaultProxy(bench, name=f"{bench.name}-nodelay-proxy")
    try:
        with proxy.connect("/nodelay"):
            accepted = _server_side_sockets(proxy.port)
            assert accepted, "the proxy's accepted socket was not found"
            assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted)
    finally:
        proxy.stop()
