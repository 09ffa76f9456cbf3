"""A catalogue of bad inputs: each gives one clear error and leaves things in a known state.

Every case names the input, the exception class and a fragment of its message naming the
problem, then checks what is left: the connection's state (and that it still echoes where it
stays open), the transcript holding every frame received before the error, the bench serving on.

* ``shared_bench``: one Bench for the whole module, with the conftest endpoints and a few
  misbehaving ones (starting and stopping a Bench per case would take most of the run);
  tests that stop a bench make their own with ``make_bench``.
* :class:`RawServer`: a minimal RFC 6455 server (socket + one thread, 127.0.0.1 only) that
  misbehaves on purpose, for what uvicorn never sends: invalid UTF-8 in a text frame, masked
  or reserved-bit frames, broken handshakes, missing pongs, an untrusted TLS certificate.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rawws
import trustme
import websockets
from conftest import TIMEOUT_SCALE, add_endpoints, wait_until
from fastapi import WebSocket
from ports import free_port
from rawws import OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, request_headers, switching
from rawws import frame as ws_frame
from starlette.responses import PlainTextResponse, RedirectResponse
from traitlets import TraitError

import wsbench
from wsbench.client.handshake import SYNC_FOLLOWS_REDIRECTS
from wsbench.codes import describe
from wsbench.widgets import CUSTOM, Panel

# -- helpers ---------------------------------------------------------------------------


def received(conn: wsbench.Connection) -> list[Any]:
    """The payloads the client recorded as received, in order."""
    return [e.data for e in conn.transcript if e.side == "client" and e.kind == "receive"]


def client_events(conn: wsbench.Connection, kind: str) -> list[wsbench.Event]:
    """The client's events of one *kind*."""
    return [e for e in conn.transcript if e.side == "client" and e.kind == kind]


def assert_echoes(conn: wsbench.Connection) -> None:
    """The connection is open and a text message comes back from /echo."""
    assert conn.state == "open"
    conn.send_text("still here")
    assert conn.receive_text(timeout=2) == "still here"


# -- a raw RFC 6455 server ------------------------------------------------------------------


def recv_exact(sock: socket.socket, size: int) -> bytes:
    """Exactly *size* bytes from *sock*; EOFError if the peer closes first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One frame from the client: (opcode, unmasked payload)."""
    return rawws.read_frame(lambda size: recv_exact(sock, size))


def read_request(sock: socket.socket) -> dict[str, str]:
    """The client's opening handshake headers, names lower-cased ({} if it hangs up first)."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            return {}
        data += chunk
    return request_headers(data)


class RawServer:
    """One connection's worth of a hand-written WebSocket server on 127.0.0.1.

    ``script(server, sock)`` talks to the accepted client; frames the client sends that
    :meth:`until_close` reads land in ``frames``. Use as a context manager: the thread is
    joined (bounded) on exit.
    """

    def __init__(self, script: Callable[[RawServer, socket.socket], None], tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.frames: list[tuple[int, bytes]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.url = f"{'wss' if tls else 'ws'}://127.0.0.1:{self.port}/raw"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(5)
        self.listener.close()

    def _serve(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        sock.settimeout(5)
        try:
            conn = self.tls.wrap_socket(sock, server_side=True) if self.tls else sock
            with conn:
                self.script(self, conn)
        except (OSError, EOFError):  # the client gave up first (a failed TLS handshake, a timeout)
            pass
        finally:
            sock.close()

    def until_close(self, sock: socket.socket) -> None:
        """Read the client's frames (bounded) until its close frame, echo that, and return."""
        for _ in range(100):
            opcode, payload = read_frame(sock)
            self.frames.append((opcode, payload))
            if opcode == OP_CLOSE:
                sock.sendall(ws_frame(OP_CLOSE, payload))
                return


def accept_then(*frames: bytes, extra: str = "") -> Callable[[RawServer, socket.socket], None]:
    """Script: complete the handshake, send *frames*, then answer the client's close."""

    def script(server: RawServer, sock: socket.socket) -> None:
        sock.sendall(switching(read_request(sock)["sec-websocket-key"], extra))
        sock.sendall(b"".join(frames))
        server.until_close(sock)

    return script


def answer(response: bytes | Callable[[str], bytes]) -> Callable[[RawServer, socket.socket], None]:
    """Script: read the request and write *response* (or response(key)) instead of a good 101."""

    def script(server: RawServer, sock: socket.socket) -> None:
        key = read_request(sock).get("sec-websocket-key", "")
        sock.sendall(response(key) if callable(response) else response)

    return script


def silent(server: RawServer, sock: socket.socket) -> None:
    """Script: read the request and never answer, until the client hangs up."""
    read_request(sock)
    sock.recv(1)


# -- fixtures ----------------------------------------------------------------------------------


def add_misbehaving_endpoints(bench: wsbench.Bench) -> None:
    """Endpoints that answer the handshake oddly or send too much."""

    @bench.websocket("/noaccept")
    async def noaccept(websocket: WebSocket) -> None:
        return  # neither accept nor close: uvicorn answers HTTP 500

    @bench.websocket("/teapot")
    async def teapot(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("short and stout", status_code=418))

    @bench.websocket("/moved")
    async def moved(websocket: WebSocket, to: int = 1) -> None:
        await websocket.send_denial_response(RedirectResponse(f"ws://127.0.0.1:{to}/gone"))

    @bench.websocket("/loop")
    async def loop(websocket: WebSocket) -> None:
        await websocket.send_denial_response(RedirectResponse("/loop"))

    @bench.websocket("/big")
    async def big(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("small")
        await websocket.send_text("x" * 2000)
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


@pytest.fixture(scope="module")
def shared_bench() -> Iterator[wsbench.Bench]:
    """One running Bench for the module: the conftest endpoints plus the misbehaving ones."""
    bench = wsbench.Bench(name="test_bad_inputs")
    add_endpoints(bench)
    add_misbehaving_endpoints(bench)
    yield bench
    bench.stop()


@pytest.fixture
def echo(shared_bench: wsbench.Bench) -> Iterator[wsbench.Connection]:
    """An open connection to /echo, which has already received one message ("kept")."""
    conn = shared_bench.connect("/echo", timeout=2)
    conn.send_text("kept")
    assert conn.receive_text() == "kept"
    yield conn
    conn.close()


@pytest.fixture
def panel(echo: wsbench.Connection) -> Iterator[Panel]:
    """A panel on the /echo connection (no refresh thread: flush() is called explicitly)."""
    widget = Panel(echo, live=False)
    yield widget
    widget.close()


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A certificate for 127.0.0.1 from a CA made here, nobody's trust store: (CA path, cert path, key path)."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    paths = str(folder / "ca.pem"), str(folder / "cert.pem"), str(folder / "key.pem")
    ca.cert_pem.write_to_path(paths[0])
    leaf.cert_chain_pems[0].write_to_path(paths[1])
    leaf.private_key_pem.write_to_path(paths[2])
    return paths


# -- malformed and unsupported URLs ----------------------------------------------------------

BAD_URLS = [
    ("http://127.0.0.1:8000/ws", "use ws:// for http://"),
    ("https://example.org/ws", "use wss:// for https://"),
    ("ftp://127.0.0.1/ws", "the scheme must be ws:// or wss://"),
    ("garbage", "the scheme must be ws:// or wss://"),
    ("", "the scheme must be ws:// or wss://"),
    ("127.0.0.1:8000/ws", "the scheme must be ws:// or wss://"),
    ("ws:///path", "it has no host"),
    ("ws://:8000/", "it has no host"),
    ("wss://", "it has no host"),
    ("ws://127.0.0.1:abc/", "Port could not be cast"),
    ("ws://127.0.0.1:80 80/", "contains a space"),
    ("ws://127.0.0.1:-1/", "Port could not be cast"),
    ("ws://127.0.0.1:99999/", "Port out of range"),
    ("ws://127.0.0.1:0/", "port 0 cannot be connected to"),
    ("ws://[::1/", "Invalid IPv6 URL"),
    ("ws://127.0.0.1/#top", "fragment"),
    ("ws://127.0.0 .1/", "space"),  # BUG today: looked up in DNS, ConnectError "Name or service not known"
    (42, "expected a str, got int"),
    (None, "expected a str, got NoneType"),
    (b"ws://127.0.0.1/", "expected a str, got bytes"),
]


@pytest.mark.parametrize(("url", "problem"), BAD_URLS, ids=[repr(url) for url, _ in BAD_URLS])
def test_bad_url_raises_invalid_url_before_connecting(url, problem):
    """A URL that is not a connectable ws:// / wss:// URL raises InvalidURL (a ValueError) naming the problem."""
    with pytest.raises(wsbench.InvalidURL) as info:
        wsbench.connect(url, open_timeout=1)
    assert isinstance(info.value, ValueError)
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/ec ho", "space"),
        ("/echo?q=a b", "space"),
        ("/ec\x00ho", "control character"),
        ("/ec\x7fho", "control character"),
    ],
    ids=["space in path", "space in query", "NUL in path", "DEL in path"],
)
def test_unsendable_character_in_path_raises_invalid_path(shared_bench, path, problem):
    """A space or control character in the path or query raises InvalidPath (a ValueError, as every bad path
    at every entry point: tests/test_paths.py) before any request line is written."""
    # BUG once: the raw character went into "GET /ec ho HTTP/1.1" and uvicorn answered HTTP 400
    # "Invalid HTTP request received." (HandshakeRejected), which does not name the problem.
    with pytest.raises(wsbench.InvalidPath) as info:
        shared_bench.connect(path)
    assert problem in str(info.value)
    assert_echoes(shared_bench.connect("/echo", timeout=2))


# -- unreachable ports, stopped benches, misuse ---------------------------------------------


def test_port_nothing_listens_on_raises_connection_refused():
    """A loopback port nothing listens on raises ConnectionRefused naming host and port; the connection is closed."""
    port = free_port()
    conn = wsbench.Connection(f"ws://127.0.0.1:{port}/", open_timeout=2)
    with pytest.raises(wsbench.ConnectionRefused) as info:
        conn.open()
    assert f"127.0.0.1:{port} (connection refused)" in str(info.value)
    assert conn.state == "closed"
    assert [e.kind for e in conn.transcript] == ["connect", "error"]


def test_redirect_to_a_closed_port_names_where_it_was_refused(shared_bench):
    """A redirect to a port nothing listens on: ConnectionRefused names that port and the redirect, not the bench.

    websockets' sync connect() follows redirects from 17.1 on (17 needs Python 3.11); before (every
    Python 3.10) it stops at the 307, and wsbench's HandshakeRejected says where it redirects, that
    this websockets does not follow it, and what to do."""
    # BUG today: "nothing accepts connections at 127.0.0.1:<bench port> ... is the server running?",
    # while the bench is running and answered (with the redirect); the refused port was the target's.
    port = free_port()
    if not SYNC_FOLLOWS_REDIRECTS:
        with pytest.raises(wsbench.HandshakeRejected) as rejected:
            wsbench.connect(f"{shared_bench.url}/moved?to={port}", open_timeout=2)
        assert rejected.value.status == 307
        assert f"it redirects to ws://127.0.0.1:{port}/gone" in str(rejected.value)
        assert f"websockets {websockets.__version__}'s sync connect() does not follow" in str(rejected.value)
        return
    with pytest.raises(wsbench.ConnectionRefused) as info:
        wsbench.connect(f"{shared_bench.url}/moved?to={port}", open_timeout=2)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert f"127.0.0.1:{shared_bench.port}" not in str(info.value)
    assert "redirect" in str(info.value)


def test_aconnect_follows_a_redirect_on_every_websockets(shared_bench):
    """aconnect() follows the redirect (websockets' asyncio client does on every supported version):
    ConnectionRefused names the port redirected to, as connect() does from websockets 17.1 on."""
    port = free_port()

    async def main() -> None:
        await wsbench.aconnect(f"{shared_bench.url}/moved?to={port}", open_timeout=2)

    with pytest.raises(wsbench.ConnectionRefused) as info:
        asyncio.run(main())
    assert f"127.0.0.1:{port}, where /moved?to={port} redirected to (HTTP 307)" in str(info.value)


def test_redirect_loop_raises_connect_error(shared_bench):
    """An endpoint redirecting to itself: ConnectError after websockets' 10 redirects; the bench goes on.
    (websockets < 17.1: connect() does not follow, HandshakeRejected 307 says so; see above.)"""
    expected = wsbench.ConnectError if SYNC_FOLLOWS_REDIRECTS else wsbench.HandshakeRejected
    message = "more than 10 redirects" if SYNC_FOLLOWS_REDIRECTS else "redirects to .*/loop, which websockets"
    with pytest.raises(expected, match=message):
        wsbench.connect(shared_bench.url + "/loop", open_timeout=2)
    assert_echoes(shared_bench.connect("/echo", timeout=2))


def test_redirect_on_a_bench_connection_raises_handshake_rejected(shared_bench):
    """bench.connect cannot follow a redirect (its socket is made first): HandshakeRejected 307 with the Location."""
    # BUG today: a bare ValueError "cannot follow redirect to ... with a preexisting socket" (not a
    # WsbenchError: the panel's reconnect button, which catches WsbenchError, would let it escape).
    with pytest.raises(wsbench.HandshakeRejected) as info:
        shared_bench.connect("/loop")
    assert info.value.status == 307
    assert info.value.headers["location"] == "/loop"
    assert "HTTP 307" in str(info.value)
    assert_echoes(shared_bench.connect("/echo", timeout=2))


@pytest.mark.parametrize("how", ["bench.connect", "bench.aconnect", "its old URL"])
def test_connecting_a_stopped_bench(make_bench, how):
    """A stopped bench: BenchError from bench.connect / aconnect, ConnectionRefused at its URL; stop() again: no-op."""
    bench = make_bench()
    open_before = bench.connect("/echo", timeout=2)
    bench.stop()
    if how == "its old URL":
        with pytest.raises(wsbench.ConnectionRefused, match="connection refused"):
            wsbench.connect(bench.url + "/echo", open_timeout=2)
    else:
        with pytest.raises(wsbench.BenchError) as info:
            if how == "bench.connect":
                bench.connect("/echo")
            else:
                asyncio.run(bench.aconnect("/echo"))
        assert "is stopped; create a new Bench() to connect" in str(info.value)
    assert not bench.running
    wait_until(lambda: open_before.state == "closed")
    assert open_before.close_code == 1012  # service restart: what stop() promises open connections
    bench.stop()  # again: nothing happens
    assert repr(bench).endswith("stopped>")


def test_bench_on_a_busy_port_raises_bench_error():
    """Bench(port=p) while something listens on 127.0.0.1:p raises BenchError naming the fix (port=0)."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(wsbench.BenchError) as info:
            wsbench.Bench(name="test_bad_inputs-busy", port=port)
    assert f"cannot bind 127.0.0.1:{port}" in str(info.value)
    assert "pass port=0" in str(info.value)
    assert "test_bad_inputs-busy" not in wsbench.Bench._running


@pytest.mark.parametrize(
    ("call", "error", "problem"),
    [
        (lambda bench: wsbench.Bench(ws="bogus"), ValueError, "is not one of uvicorn's WebSocket implementations"),
        (lambda bench: bench.connect("echo"), ValueError, "path must start with '/'"),
        (lambda bench: bench.websocket("echo"), ValueError, "endpoint path must start with '/'"),
        (lambda bench: wsbench.connect(bench.url + "/echo", timeout=2).wait_endpoint(), wsbench.BenchError, "not a"),
        (lambda bench: bench.connect("/echo", timeout=2).open(), wsbench.ConnectError, "was opened already"),
    ],
    ids=[
        "unknown ws implementation",
        "path without slash",
        "endpoint without slash",
        "wait_endpoint off a bench",
        "open twice",
    ],
)
def test_misuse_of_bench_and_connection(shared_bench, call, error, problem):
    """Misusing the bench or a connection raises a clear error naming the problem; the bench goes on serving."""
    with pytest.raises(error) as info:
        call(shared_bench)
    assert problem in str(info.value)
    assert shared_bench.running
    assert_echoes(shared_bench.connect("/echo", timeout=2))


# -- refused and rejected handshakes ---------------------------------------------------------

REJECTIONS = [
    ("/close-early", 403, b""),
    ("/reject", 401, b'{"detail":"no token"}'),
    ("/noaccept", 500, b"Internal Server Error"),
    ("/no-such-endpoint", 403, b""),
    ("/teapot", 418, b"short and stout"),
]


@pytest.mark.parametrize(("path", "status", "body"), REJECTIONS, ids=[path for path, _, _ in REJECTIONS])
def test_rejected_handshake_raises_handshake_rejected(shared_bench, path, status, body):
    """A non-101 answer raises HandshakeRejected with status and body, recorded as "rejected"; the bench goes on."""
    conn = wsbench.Connection(shared_bench.url + path, open_timeout=2)
    with pytest.raises(wsbench.HandshakeRejected) as info:
        conn.open()
    assert isinstance(info.value, wsbench.ConnectError)
    assert (info.value.status, info.value.body) == (status, body)
    assert f"{path} rejected the WebSocket handshake with HTTP {status}" in str(info.value)
    assert conn.state == "closed"
    assert [(e.kind, e.code, e.data) for e in conn.transcript][-1] == ("rejected", status, body)
    assert_echoes(shared_bench.connect("/echo", timeout=2))


BROKEN_HANDSHAKES = [
    ("garbage", answer(b"hello there\r\n\r\n"), {}, wsbench.ConnectError, "did not receive a valid HTTP response"),
    (
        "hang-up",
        answer(b""),
        {},
        wsbench.ConnectError,
        "closed the connection without answering the WebSocket handshake",
    ),
    (
        "wrong Sec-WebSocket-Accept",
        answer(lambda key: switching("AAAAAAAAAAAAAAAAAAAAAA==")),
        {},
        wsbench.ConnectError,
        "invalid Sec-WebSocket-Accept header",
    ),
    (
        "no Upgrade header",
        answer(lambda key: switching(key).replace(b"Upgrade: websocket\r\n", b"")),
        {},
        wsbench.ConnectError,
        "missing Upgrade header",
    ),
    (
        "unknown extension",
        answer(lambda key: switching(key, "Sec-WebSocket-Extensions: x-evil\r\n")),
        {},
        wsbench.ConnectError,
        "Unsupported extension: name = x-evil",
    ),
    (
        "subprotocol never offered",
        accept_then(extra="Sec-WebSocket-Protocol: evil\r\n"),
        {},
        wsbench.ConnectError,
        "no subprotocols supported",
    ),
    (
        "subprotocol other than offered",
        accept_then(extra="Sec-WebSocket-Protocol: evil\r\n"),
        {"subprotocols": ["chat"]},
        wsbench.ConnectError,
        "unsupported subprotocol: evil",
    ),
    (
        "200 instead of 101",
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
        {},
        wsbench.HandshakeRejected,
        "HTTP 200 OK: b'hello'",
    ),
    ("no answer", silent, {"open_timeout": 0.3}, wsbench.Timeout, "no handshake response within 0.3 s"),
]


@pytest.mark.parametrize(
    ("script", "options", "error", "problem"),
    [case[1:] for case in BROKEN_HANDSHAKES],
    ids=[case[0] for case in BROKEN_HANDSHAKES],
)
def test_broken_handshake_from_a_raw_server(script, options, error, problem):
    """A server answering the handshake wrongly (or not at all) gives one clear error; the connection ends closed."""
    with RawServer(script) as server:
        conn = wsbench.Connection(server.url, **{"open_timeout": 2, **options})
        with pytest.raises(error) as info:
            conn.open()
    assert problem in str(info.value)
    assert conn.state == "closed"
    assert client_events(conn, "receive") == []
    assert conn.transcript[-1].kind in ("error", "rejected")


@pytest.mark.parametrize(("path", "offered"), [("/chat", ["superchat"]), ("/echo", ["chat"])])
def test_subprotocol_mismatch_raises_subprotocol_not_accepted(shared_bench, path, offered):
    """The server chose none of the offered subprotocols: SubprotocolNotAccepted, after a clean 1000 close."""
    conn = wsbench.Connection(shared_bench.url + path, subprotocols=offered, timeout=2)
    with pytest.raises(wsbench.SubprotocolNotAccepted) as info:
        conn.open()
    assert isinstance(info.value, wsbench.ConnectError)
    assert f"accepted none of the subprotocols {offered}" in str(info.value)
    assert conn.state == "closed"
    assert conn.subprotocol is None
    assert [(e.code, e.reason) for e in client_events(conn, "close")] == [(1000, "no subprotocol agreed")]
    agreed = shared_bench.connect("/chat", subprotocols=["chat"], timeout=2)
    assert agreed.subprotocol == "chat"
    assert_echoes(agreed)


# -- TLS failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "error", "problem"),
    [
        ("wss:// to the plain bench", wsbench.TLSFailure, "use ws:// instead of wss://"),
        ("ca_file that does not exist", wsbench.TLSFailure, "No such file or directory"),
        ("ca_file that is not a certificate", wsbench.TLSFailure, "NO_CERTIFICATE_OR_CRL_FOUND"),
        ("ca_file that is a directory", wsbench.TLSFailure, "Is a directory"),
        ("ca_file on a ws:// URL", wsbench.InvalidURL, "is not a wss:// URL"),
    ],
)
def test_tls_failure(shared_bench, tmp_path, case, error, problem):
    """TLS that cannot work raises TLSFailure (a ConnectError) naming why; the bench goes on serving."""
    wss = shared_bench.url.replace("ws://", "wss://") + "/echo"
    not_a_cert = tmp_path / "not-a-cert.pem"
    not_a_cert.write_text("hello, I am not a certificate\n")
    options = {
        "wss:// to the plain bench": (wss, {}),
        "ca_file that does not exist": (wss, {"ca_file": str(tmp_path / "missing.pem")}),
        "ca_file that is not a certificate": (wss, {"ca_file": str(not_a_cert)}),
        "ca_file that is a directory": (wss, {"ca_file": str(tmp_path)}),
        "ca_file on a ws:// URL": (shared_bench.url + "/echo", {"ca_file": str(not_a_cert)}),
    }
    url, extra = options[case]
    with pytest.raises(error) as info:
        wsbench.connect(url, open_timeout=2, **extra)
    assert problem in str(info.value)
    if "ca_file" in extra and error is wsbench.TLSFailure:
        assert Path(extra["ca_file"]).name in str(info.value)
    assert_echoes(shared_bench.connect("/echo", timeout=2))


def test_untrusted_certificate_raises_tls_failure_naming_ca_file(untrusted_tls):
    """A certificate from a CA not trusted: TLSFailure saying to pass ca_file=...; with it, the connection opens."""
    ca, cert, key = untrusted_tls
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with RawServer(accept_then(), tls=context) as server:
        # a bound, not what is tested: the refusal comes at once (2 s was missed once under load)
        with pytest.raises(wsbench.TLSFailure) as info:
            wsbench.connect(server.url, open_timeout=10 * TIMEOUT_SCALE)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert "pass ca_file=" in str(info.value)
    with RawServer(accept_then(), tls=context) as server:
        conn = wsbench.connect(server.url, ca_file=ca, open_timeout=10 * TIMEOUT_SCALE, timeout=2)
        assert conn.state == "open"
        conn.close(1000)
    assert conn.close_code == 1000


# -- invalid close codes and over-long reasons (client side) ------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "error", "problem"),
    [
        (1006, "", wsbench.InvalidCloseCode, "close code 1006 may not be sent"),
        (1005, "", wsbench.InvalidCloseCode, "close code 1005 may not be sent"),
        (999, "", wsbench.InvalidCloseCode, "close code 999 may not be sent"),
        (5000, "", wsbench.InvalidCloseCode, "close code 5000 may not be sent"),
        ("1000", "", wsbench.InvalidCloseCode, "close code must be an int, not str"),
        (True, "", wsbench.InvalidCloseCode, "close code must be an int, not bool"),
        (None, "", wsbench.InvalidCloseCode, "close code must be an int, not NoneType"),
        (1000, "x" * 124, wsbench.ReasonTooLong, "close reason is 124 bytes of UTF-8"),
        (1000, "é" * 62, wsbench.ReasonTooLong, "close reason is 124 bytes of UTF-8"),
        (1000, b"bye", TypeError, "close reason must be a str, not bytes"),
    ],
    ids=["1006", "1005", "999", "5000", "str code", "bool code", "None code", "124 x", "62 é", "bytes reason"],
)
def test_bad_close_arguments_send_nothing(echo, code, reason, error, problem):
    """close() with a code that may not be sent or a reason over 123 bytes raises first; the connection stays open."""
    with pytest.raises(error) as info:
        echo.close(code, reason)
    assert problem in str(info.value)
    assert echo.state == "open"
    assert client_events(echo, "close") == []
    assert received(echo) == ["kept"]
    assert_echoes(echo)


# -- wrong payload types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "problem"),
    [
        (lambda conn: conn.send_text(b"raw"), TypeError, "send_text() takes str, not bytes; use send_bytes()"),
        (lambda conn: conn.send_text(None), TypeError, "send_text() takes str, not NoneType; convert it first"),
        (lambda conn: conn.send_bytes("text"), TypeError, "send_bytes() takes bytes, not str; use send_text()"),
        (lambda conn: conn.send_bytes(42), TypeError, "send_bytes() takes bytes, not int"),
        (lambda conn: conn.send_json({1, 2}), TypeError, "set is not JSON serializable"),
        (lambda conn: conn.send_json({"a": 1}, mode="xml"), ValueError, 'mode must be "text" or "binary"'),
    ],
    ids=[
        "send_text(bytes)",
        "send_text(None)",
        "send_bytes(str)",
        "send_bytes(int)",
        "send_json(set)",
        "send_json(mode=xml)",
    ],
)
def test_wrong_payload_type_sends_nothing(echo, call, error, problem):
    """A payload of the wrong type raises before anything is sent or recorded; the connection stays open."""
    with pytest.raises(error) as info:
        call(echo)
    assert problem in str(info.value)
    assert [e.data for e in client_events(echo, "send")] == ["kept"]
    assert_echoes(echo)


@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda conn: conn.send_text("a\ud800b"), "send_text"),
        (lambda conn: conn.send_json({"x": "\ud800"}), "send_json"),
    ],
    ids=["send_text", "send_json"],
)
def test_text_that_is_not_utf8_encodable_sends_nothing(echo, call, method):
    """Text with a lone surrogate raises a ValueError naming it before sending; the connection stays open."""
    # BUG today: websockets' encode() fails inside send(): it logs "unexpected internal error", drops
    # the TCP connection without a close frame (1006), the transcript shows a "send" that never went
    # out, and the call raises ConnectionClosed "cannot send: no close frame received or sent".
    with pytest.raises(ValueError) as info:
        call(echo)
    assert method in str(info.value)
    assert "surrogate" in str(info.value)
    assert [e.data for e in client_events(echo, "send")] == ["kept"]
    assert_echoes(echo)


# -- receiving the wrong kind, invalid JSON -----------------------------------------------------


@pytest.mark.parametrize(
    ("message", "call", "error", "problem"),
    [
        (b"\x00\x01", lambda conn: conn.receive_text(), wsbench.WrongMessageType, "take it with receive_bytes()"),
        ("words", lambda conn: conn.receive_bytes(), wsbench.WrongMessageType, "take it with receive_text()"),
        (b"{}", lambda conn: conn.receive_json(), wsbench.WrongMessageType, "receive_json: received a binary"),
        ("{}", lambda conn: conn.receive_json(mode="binary"), wsbench.WrongMessageType, "received a text message"),
        (b"\x00", lambda conn: next(conn.iter_text()), wsbench.WrongMessageType, "receive_text: received a binary"),
        ("not json {", lambda conn: conn.receive_json(), wsbench.InvalidJSON, "it starts 'not json {'"),
        ("", lambda conn: conn.receive_json(), wsbench.InvalidJSON, "the message is not JSON (Expecting value"),
        (b"\xff\xfe", lambda conn: conn.receive_json(mode="binary"), wsbench.InvalidJSON, "take it with receive_bytes"),
        ("{}", lambda conn: conn.receive_json(mode="yaml"), ValueError, 'mode must be "text" or "binary"'),
    ],
    ids=[
        "bytes for receive_text",
        "text for receive_bytes",
        "bytes for receive_json",
        "text for receive_json binary",
        "bytes for iter_text",
        "text not JSON",
        "empty text as JSON",
        "non-UTF-8 bytes as JSON",
        "receive_json yaml",
    ],
)
def test_wrong_kind_or_invalid_json_keeps_the_message_queued(echo, message, call, error, problem):
    """Receiving the wrong kind or non-JSON raises naming it; the message stays queued and in the transcript."""
    if isinstance(message, str):
        echo.send_text(message)
    else:
        echo.send_bytes(message)
    wait_until(lambda: len(received(echo)) == 2)
    with pytest.raises(error) as info:
        call(echo)
    assert problem in str(info.value)
    assert received(echo) == ["kept", message]
    assert echo.receive() == message  # still queued, first in line
    assert_echoes(echo)


# -- non-UTF-8 text and other frames a server must not send -----------------------------------

BAD_FRAMES = [
    ("non-UTF-8 text", ws_frame(OP_TEXT, b"\xff\xfe"), 1007, "invalid UTF-8 in a text message"),
    (
        "non-UTF-8 across fragments",
        ws_frame(OP_TEXT, b"ok\xc3", fin=False) + ws_frame(OP_CONT, b"("),
        1007,
        "invalid UTF-8 in a text message",
    ),
    ("masked frame", ws_frame(OP_TEXT, b"hi", mask=True), 1002, "incorrect masking"),
    ("reserved bit", ws_frame(OP_TEXT, b"hi", rsv=0x40), 1002, "reserved bits must be 0"),
    ("unknown opcode", ws_frame(0x3, b"hi"), 1002, "invalid opcode"),
    ("lone continuation", ws_frame(OP_CONT, b"hi"), 1002, "unexpected continuation frame"),
    (
        "new message inside a fragmented one",
        ws_frame(OP_TEXT, b"a", fin=False) + ws_frame(OP_TEXT, b"b"),
        1002,
        "expected a continuation frame",
    ),
    ("ping over 125 bytes", ws_frame(OP_PING, b"p" * 126), 1002, "control frame too long"),
    ("fragmented ping", ws_frame(OP_PING, b"p", fin=False), 1002, "fragmented control frame"),
    ("close code 1005 on the wire", ws_frame(OP_CLOSE, struct.pack("!H", 1005)), 1002, "invalid status code"),
    ("close frame of 1 byte", ws_frame(OP_CLOSE, b"\x03"), 1002, "close frame too short"),
    (
        "non-UTF-8 close reason",
        ws_frame(OP_CLOSE, struct.pack("!H", 4000) + b"\xff"),
        1007,
        "invalid start byte at position 0",
    ),
]


@pytest.mark.parametrize(
    ("bad", "code", "problem"), [case[1:] for case in BAD_FRAMES], ids=[case[0] for case in BAD_FRAMES]
)
def test_bad_frame_from_the_server_fails_the_connection(bad, code, problem):
    """The client fails the connection with 1007/1002 (RFC 6455 §7.1.7) after delivering every earlier message."""
    with RawServer(accept_then(ws_frame(OP_TEXT, b"before"), bad)) as server:
        conn = wsbench.connect(server.url, timeout=2)
        assert conn.receive_text() == "before"
        with pytest.raises(wsbench.ConnectionClosed) as info:
            conn.receive_text()
    assert info.value.sent_code == code
    assert info.value.sent_reason == problem
    assert f"sent {describe(code)} {problem}; no close frame received" in str(info.value)
    # A client that fails the connection reads nothing more, not even the server's close frame: the
    # connection ended with the code the client sent (issue 10: failure is a state).
    assert (info.value.code, conn.close_code, conn.state) == (code, code, "closed")
    assert received(conn) == ["before"]
    assert server.frames[-1] == (OP_CLOSE, struct.pack("!H", code) + problem.encode())  # what went on the wire


def test_non_utf8_text_fails_an_async_connection_with_1007_too():
    """aconnect(): a text frame b"\\xff\\xfe" fails the connection with 1007 after the earlier message."""

    async def main(url: str) -> tuple[wsbench.Connection, str, wsbench.ConnectionClosed]:
        conn = await wsbench.aconnect(url, timeout=2)
        first = await conn.areceive_text()
        try:
            await conn.areceive_text()
        except wsbench.ConnectionClosed as closed:
            return conn, first, closed
        raise AssertionError("areceive_text did not raise ConnectionClosed")

    with RawServer(accept_then(ws_frame(OP_TEXT, b"before"), ws_frame(OP_TEXT, b"\xff\xfe"))) as server:
        conn, first, closed = asyncio.run(main(server.url))
    assert first == "before"
    assert (closed.sent_code, closed.code, conn.state) == (1007, 1007, "closed")  # ended with the code sent
    assert received(conn) == ["before"]
    assert server.frames[-1] == (OP_CLOSE, struct.pack("!H", 1007) + b"invalid UTF-8 in a text message")


# -- oversized messages --------------------------------------------------------------------------


def test_message_over_max_size_fails_the_connection_with_1009(shared_bench):
    """max_size=1000 and a 2000-byte message: the client closes with 1009; the server sees 1009; "small" is kept."""
    conn = shared_bench.connect("/big", max_size=1000, timeout=2)
    assert conn.receive_text() == "small"
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive_text()
    assert info.value.sent_code == 1009
    assert "sent 1009 (message too big) frame exceeds limit of 1000 bytes" in str(info.value)
    assert info.value.code == 1009  # ended with the code the failing client sent (it reads no answering frame)
    assert conn.state == "closed"
    conn.wait_endpoint(timeout=2)
    server_saw = [(e.code, e.reason) for e in conn.transcript if e.kind == "websocket.disconnect"]
    assert server_saw == [(1009, "frame exceeds limit of 1000 bytes")]
    assert received(conn) == ["small"]


def test_fragmented_message_over_max_size_fails_the_connection_with_1009():
    """max_size counts the whole message: three 400-byte fragments against max_size=1000 give 1009."""
    fragments = ws_frame(OP_TEXT, b"a" * 400, fin=False) + ws_frame(OP_CONT, b"b" * 400, fin=False)
    with RawServer(accept_then(ws_frame(OP_TEXT, b"before"), fragments + ws_frame(OP_CONT, b"c" * 400))) as server:
        conn = wsbench.connect(server.url, max_size=1000, timeout=2)
        assert conn.receive_text() == "before"
        with pytest.raises(wsbench.ConnectionClosed) as info:
            conn.receive_text()
    assert info.value.sent_code == 1009
    assert "exceeds limit of 1000 bytes" in str(info.value)
    assert received(conn) == ["before"]
    assert server.frames[-1][1][:2] == struct.pack("!H", 1009)


def test_message_over_the_servers_limit_is_closed_by_the_server_with_1009(echo):
    """16 MiB + 1 byte to uvicorn (limit 16 MiB): the server closes with 1009, which the client receives."""
    echo.send_bytes(bytes(16 * 2**20 + 1))
    with pytest.raises(wsbench.ConnectionClosed) as info:
        echo.receive_bytes(timeout=5)
    assert (info.value.code, info.value.reason) == (1009, "frame exceeds limit of 16777216 bytes")
    assert "received 1009 (message too big)" in str(info.value)
    assert (echo.state, echo.close_code) == ("closed", 1009)
    assert received(echo) == ["kept"]


# -- receive timeouts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda conn: conn.receive(timeout=0.1), "receive"),
        (lambda conn: conn.receive_text(timeout=0.1), "receive_text"),
        (lambda conn: conn.receive_bytes(timeout=0.1), "receive_bytes"),
        (lambda conn: conn.receive_json(timeout=0.1), "receive_json"),
        (lambda conn: next(conn.iter_text(timeout=0.1)), "receive_text"),
        (lambda conn: next(conn.iter_messages(timeout=0.1)), "receive"),
    ],
    ids=["receive", "receive_text", "receive_bytes", "receive_json", "iter_text", "iter_messages"],
)
def test_receive_timeout_leaves_the_connection_usable(echo, call, what):
    """Nothing arrives in 0.1 s: Timeout (a TimeoutError) naming the call; the connection stays open and echoes."""
    with pytest.raises(wsbench.Timeout) as info:
        call(echo)
    assert isinstance(info.value, TimeoutError)
    assert f"{what}: no message from <Connection /echo open> within 0.1 s" in str(info.value)
    assert received(echo) == ["kept"]
    assert_echoes(echo)


def test_ping_without_pong_times_out_and_the_connection_stays_open():
    """A server that never pongs: ping(timeout=0.2) raises Timeout; the connection stays open and closes cleanly."""
    with RawServer(accept_then(ws_frame(OP_TEXT, b"before"))) as server:
        conn = wsbench.connect(server.url, timeout=2)
        assert conn.receive_text() == "before"
        with pytest.raises(wsbench.Timeout, match=r"ping: no pong from <Connection /raw open> within 0\.2 s"):
            conn.ping(timeout=0.2)
        assert conn.state == "open"
        conn.close(4000, "done")
    assert (conn.state, conn.close_code) == ("closed", 4000)
    assert [opcode for opcode, _ in server.frames] == [OP_PING, OP_CLOSE]
    assert received(conn) == ["before"]


def test_a_keepalive_pong_that_never_comes_while_closing_logs_no_error(monkeypatch, caplog):
    """A server that reads but answers nothing, not even the close: the keepalive ping's wait for
    its pong runs out while the connection is closing. websockets' sync keepalive then logs "keepalive
    ping failed" with a ConnectionClosed traceback (printed in the learner's cell); the connection's
    end is in its transcript already, so wsbench's connections keep that one quiet."""
    pinged = threading.Event()

    def reads_and_never_answers(server: RawServer, sock: socket.socket) -> None:
        sock.sendall(switching(read_request(sock)["sec-websocket-key"]))
        for _ in range(100):  # a bound: a ping, a close, then the client hangs up
            opcode, payload = read_frame(sock)
            server.frames.append((opcode, payload))
            if opcode == OP_PING:
                pinged.set()

    websockets_kwargs = wsbench.client.options.Options.websockets_kwargs
    monkeypatch.setattr(
        wsbench.client.options.Options,
        "websockets_kwargs",
        lambda self: {**websockets_kwargs(self), "ping_timeout": 0.2},
    )
    with RawServer(reads_and_never_answers) as server:
        conn = wsbench.connect(server.url, ping_interval=0.05, close_timeout=1, timeout=2)
        wait_until(pinged.is_set)  # the keepalive waits for its pong now (0.2 s)
        with caplog.at_level("ERROR"):
            conn.close()  # no answer: closing until close_timeout, while the pong wait runs out
            conn._sync.keepalive_thread.join(5)  # type: ignore[union-attr]
    assert conn.close_code == 1006
    assert [r.getMessage() for r in caplog.records if r.name.startswith("websockets")] == []


# -- use after close, double close ---------------------------------------------------------------

AFTER_CLOSE = [
    (lambda conn: conn.send_text("late"), "cannot send"),
    (lambda conn: conn.send_bytes(b"late"), "cannot send"),
    (lambda conn: conn.send_json({"late": True}), "cannot send"),
    (lambda conn: conn.receive(timeout=1), "cannot receive"),
    (lambda conn: conn.receive_text(timeout=1), "cannot receive_text"),
    (lambda conn: conn.receive_json(timeout=1), "cannot receive_json"),
    (lambda conn: conn.ping(timeout=1), "cannot ping"),
]


@pytest.mark.parametrize(
    ("call", "problem"),
    AFTER_CLOSE,
    ids=["send_text", "send_bytes", "send_json", "receive", "receive_text", "receive_json", "ping"],
)
def test_use_after_close_raises_connection_closed(echo, call, problem):
    """Using a connection this side closed raises ConnectionClosed with both close frames; the record stays."""
    echo.close(4000, "done")
    with pytest.raises(wsbench.ConnectionClosed) as info:
        call(echo)
    # it says the connection is closed, by this side's close(), then how (issue 10: "use after close")
    message = "the connection is closed: close() was called (sent 4000 (private use) done; then received 4000"
    assert f"{problem}: {message}" in str(info.value)
    assert (info.value.code, info.value.sent_code) == (4000, 4000)
    assert echo.state == "closed"
    assert received(echo) == ["kept"]
    assert [e.data for e in client_events(echo, "send")] == ["kept"]


@pytest.mark.parametrize(
    "call", [lambda conn: conn.send_text("late"), lambda conn: conn.ping(timeout=1)], ids=["send", "ping"]
)
def test_use_after_the_server_closed_raises_connection_closed(shared_bench, call):
    """After the server closed with 4001 "bye": ConnectionClosed(4001); the messages before stay receivable."""
    conn = shared_bench.connect("/send?n=2&code=4001&reason=bye", timeout=2)
    wait_until(lambda: conn.state == "closed")
    with pytest.raises(wsbench.ConnectionClosed) as info:
        call(conn)
    assert (info.value.code, info.value.reason) == (4001, "bye")
    assert "received 4001 (private use) bye" in str(info.value)
    assert [conn.receive_text(), conn.receive_text()] == ["msg 0", "msg 1"]
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text()


def test_async_use_after_close_raises_connection_closed(shared_bench):
    """asend_text / areceive_text / aping after aclose raise ConnectionClosed, as their sync forms do."""

    async def main() -> list[str]:
        conn = await shared_bench.aconnect("/echo", timeout=2)
        await conn.aclose()
        problems = []
        for call in (conn.asend_text("late"), conn.areceive_text(timeout=1), conn.aping(timeout=1)):
            with pytest.raises(wsbench.ConnectionClosed) as info:
                await call
            problems.append(str(info.value).split(":")[0])
        return problems

    assert asyncio.run(main()) == ["cannot send", "cannot areceive_text", "cannot ping"]


@pytest.mark.parametrize("case", ["twice", "after the server closed", "never opened", "after a failed open"])
def test_double_close_is_harmless(shared_bench, case):
    """close() on a closed, never-opened or failed connection does nothing: no error, no second close frame."""
    if case == "twice":
        conn = shared_bench.connect("/echo", timeout=2)
        conn.close(4000, "done")
    elif case == "after the server closed":
        conn = shared_bench.connect("/send?n=0&code=4001&reason=bye", timeout=2)
        wait_until(lambda: conn.state == "closed")
    elif case == "never opened":
        conn = wsbench.Connection(shared_bench.url + "/echo")
    else:
        conn = wsbench.Connection(f"ws://127.0.0.1:{free_port()}/", open_timeout=2)
        with pytest.raises(wsbench.ConnectionRefused):
            conn.open()
    before = (conn.state, conn.close_code, len(client_events(conn, "close")))
    conn.close()
    conn.close(4002, "again")
    assert (conn.state, conn.close_code, len(client_events(conn, "close"))) == before
    with pytest.raises(wsbench.InvalidCloseCode):  # the arguments are still checked first
        conn.close(1006)


# -- the panel's inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "raw", "problem"),
    [
        ("json", "{bad", "not JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        ("json", '{"type": hello}', "not JSON: Expecting value (line 1, column 10)"),
        ("json", "", "not JSON: Expecting value (line 1, column 1)"),
        ("json", '{"a": 1} trailing', "not JSON: Extra data"),
        ("hex", "zz", "not hex: 'z' is not a hex digit"),
        ("hex", "0xg1", "not hex: 'g' is not a hex digit"),
        ("hex", "١٢", "not hex: '١' is not a hex digit"),
        ("hex", "abc", "not hex: 3 hex digits, an odd number"),
        ("hex", "68 6", "not hex: 3 hex digits, an odd number"),
    ],
    ids=[
        "json unclosed",
        "json bare word",
        "json empty",
        "json trailing",
        "hex zz",
        "hex 0xg1",
        "hex arabic digits",
        "hex odd",
        "hex odd spaced",
    ],
)
def test_panel_refuses_input_that_does_not_parse(panel, echo, mode, raw, problem):
    """Bad JSON or hex in the send box shows the problem in send_error and sends nothing; a good send then works."""
    panel.mode.value = mode
    panel.message.value = raw
    panel.send_button.click()
    assert panel.send_error.value.startswith(problem)
    assert panel.send_error.value.endswith("nothing was sent")
    assert [e.data for e in client_events(echo, "send")] == ["kept"]
    assert echo.state == "open"
    panel.mode.value = "text"
    panel.message.value = "good"
    panel.send_button.click()
    assert panel.send_error.value == ""
    assert echo.receive_text() == "good"


def test_panel_refuses_json_nan(panel, echo):
    """JSON mode refuses NaN (not JSON per RFC 8259; a browser's JSON.parse rejects it) and sends nothing."""
    # BUG today (a judgment call): json.loads accepts NaN and Infinity, so the text {"x":NaN} goes out.
    panel.mode.value = "json"
    panel.message.value = '{"x": NaN}'
    panel.send_button.click()
    assert panel.send_error.value.startswith("not JSON")
    assert "NaN" in panel.send_error.value
    assert [e.data for e in client_events(echo, "send")] == ["kept"]


def test_panel_text_with_a_lone_surrogate_shows_the_error(panel, echo):
    """Text mode with a lone surrogate: send_error names it, nothing is sent, the connection stays open."""
    # BUG today: the send tears the connection down (see test_text_that_is_not_utf8_encodable_sends_nothing)
    # and the panel shows "ConnectionClosed: cannot send: no close frame received or sent".
    panel.message.value = "a\ud800"
    panel.send_button.click()
    assert "surrogate" in panel.send_error.value
    assert_echoes(echo)


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ({"code": 1006}, "close code 1006 may not be sent"),
        ({"code": 1015}, "close code 1015 may not be sent"),
        ({"custom_code": 0}, "close code 0 may not be sent"),
        ({"custom_code": 2999}, "close code 2999 may not be sent"),
        ({"custom_code": 5000}, "close code 5000 may not be sent"),
        ({"reason": "x" * 124}, "close reason is 124 bytes of UTF-8"),
        ({"reason": "é" * 62}, "close reason is 124 bytes of UTF-8"),
    ],
    ids=["picker 1006", "picker 1015", "custom 0", "custom 2999", "custom 5000", "reason 124 x", "reason 62 é"],
)
def test_panel_refuses_close_that_may_not_be_sent(panel, echo, setting, problem):
    """A code that may not be sent or a reason over 123 bytes shows the rule in close_error; nothing is sent."""
    for name, value in setting.items():
        getattr(panel, name).value = value
    panel.close_button.click()
    assert panel.close_error.value.startswith(problem)
    assert panel.close_error.value.endswith("Nothing was sent.")
    assert echo.state == "open"
    assert client_events(echo, "close") == []
    panel.code.value, panel.custom_code.value, panel.reason.value = CUSTOM, 4000, "fine"
    panel.close_button.click()
    assert panel.close_error.value == ""
    assert (echo.state, echo.close_code, echo.close_reason) == ("closed", 4000, "fine")


@pytest.mark.parametrize("empty", ["", None])
def test_panel_empty_custom_code_is_refused_by_the_field(panel, echo, empty):
    """An empty custom code cannot be set (IntText refuses it); the previous code stays selected and nothing is sent."""
    panel.custom_code.value = 4001
    with pytest.raises(TraitError, match="expected an int"):
        panel.custom_code.value = empty
    assert (panel.code.value, panel.selected_code()) == (CUSTOM, 4001)
    assert echo.state == "open"
    assert client_events(echo, "close") == []


@pytest.mark.parametrize("button", ["send", "ping", "close"])
def test_panel_on_a_closed_connection(panel, echo, button):
    """Send and ping on a closed connection show ConnectionClosed inline; close does nothing more."""
    echo.close(4000, "done")
    panel.message.value = "late"
    getattr(panel, f"{button}_button").click()
    shown = {"send": panel.send_error, "ping": panel.result, "close": panel.close_error}[button].value
    expected = {"send": "ConnectionClosed: cannot send", "ping": "ConnectionClosed: cannot ping", "close": ""}[button]
    assert shown.startswith(expected)
    assert len(client_events(echo, "close")) == 1
    panel.flush()
    assert panel.status == "closed 4000 (private use) done"


# -- the async twins -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "error", "problem"),
    [
        ("http://127.0.0.1/ws", wsbench.InvalidURL, "use ws:// for http://"),
        ("ws://127.0.0.1:{free}/", wsbench.ConnectionRefused, "(connection refused)"),
    ],
    ids=["aconnect http://", "aconnect refused"],
)
def test_aconnect_bad_url_or_refused(url, error, problem):
    """aconnect raises the same errors as connect for a bad URL and a refused port."""
    with pytest.raises(error) as info:
        asyncio.run(wsbench.aconnect(url.format(free=free_port()), open_timeout=2))
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("prepare", "call", "error", "problem"),
    [
        (None, lambda conn: conn.areceive_text(timeout=0.1), wsbench.Timeout, "areceive_text: no message"),
        (b"\x01", lambda conn: conn.areceive_text(timeout=2), wsbench.WrongMessageType, "take it with receive_bytes()"),
        ("nope", lambda conn: conn.areceive_json(timeout=2), wsbench.InvalidJSON, "it starts 'nope'"),
        (None, lambda conn: conn.asend_text(b"raw"), TypeError, "use asend_bytes()"),
        (None, lambda conn: conn.aclose(1006), wsbench.InvalidCloseCode, "close code 1006 may not be sent"),
    ],
    ids=[
        "areceive_text timeout",
        "bytes for areceive_text",
        "areceive_json not JSON",
        "asend_text(bytes)",
        "aclose(1006)",
    ],
)
def test_async_bad_calls_leave_the_connection_usable(shared_bench, prepare, call, error, problem):
    """The coroutine forms raise the same clear errors; the aconnect() connection stays open and echoes."""

    async def main() -> tuple[str, str, list[Any]]:
        conn = await shared_bench.aconnect("/echo", timeout=2)
        if prepare is not None:
            # the echo of it is what the call below finds: it waits for that message (timeout=2)
            await (conn.asend_text(prepare) if isinstance(prepare, str) else conn.asend_bytes(prepare))
        with pytest.raises(error) as info:
            await call(conn)
        state = conn.state
        queued = [await conn.areceive()] if prepare is not None else []  # still queued, first in line
        await conn.asend_text("still here")
        queued.append(await conn.areceive_text())
        await conn.aclose()
        return str(info.value), state, queued

    message, state, queued = asyncio.run(main())
    assert problem in message
    assert state == "open"
    assert queued == ([] if prepare is None else [prepare]) + ["still here"]
