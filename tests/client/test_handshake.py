"""wsbench.client.handshake: opening a connection. URL, proxy and TLS option checks that name the
fix before anything is sent; handshake options as the server sees them; TLS with client
certificates; HTTP and SOCKS proxies; and each way opening fails, translated into the wsbench error.

Every server here is on 127.0.0.1: a Bench (TLS with certificates made by trustme in the test),
and two small proxies written below (an HTTP CONNECT proxy and a SOCKS5 one) that record what
they were asked to reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import rawws
import trustme
from conftest import wait_until
from fastapi import WebSocket
from ports import free_port

import wsbench

# -- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:8000/ws", "use ws:// for http://"),
        ("https://example.org/ws", "use wss:// for https://"),
        ("ws:///path", "no host"),
        ("garbage", "scheme must be ws:// or wss://"),
        ("ws://127.0.0.1:abc/", "Port could not be cast"),
        ("ws://127.0.0.1:0/", "port 0"),
        (42, "expected a str, got int"),
        (b"ws://127.0.0.1/", "expected a str, got bytes"),
    ],
)
def test_bad_url_raises_invalid_url_naming_the_problem(url, problem):
    """A URL that is not a connectable ws:// / wss:// URL raises InvalidURL (a ValueError) naming the problem."""
    with pytest.raises(wsbench.InvalidURL) as info:
        wsbench.connect(url)
    assert isinstance(info.value, ValueError)
    assert problem in str(info.value)


def test_params_are_added_to_the_query(bench):
    """params= adds a query string that the endpoint sees."""
    conn = bench.connect("/send", params={"n": 1, "code": 4002})
    assert list(conn.iter_text(limit=1, timeout=2)) == ["msg 0"]
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive_text(timeout=2)
    assert info.value.code == 4002


# -- errors when opening -------------------------------------------------------------


def test_refused_connection_raises_connection_refused():
    """Connecting to a loopback port nothing listens on raises ConnectionRefused."""
    port = free_port()
    with pytest.raises(wsbench.ConnectionRefused) as info:
        wsbench.connect(f"ws://127.0.0.1:{port}/", open_timeout=2)
    assert isinstance(info.value, wsbench.ConnectError)
    assert "connection refused" in str(info.value)


def test_refused_message_names_host_and_port():
    """ConnectionRefused names the host and port that refused, so the user can check the server."""
    port = free_port()
    with pytest.raises(wsbench.ConnectionRefused, match=rf"127\.0\.0\.1:{port} "):
        wsbench.connect(f"ws://127.0.0.1:{port}/x", open_timeout=2)


def test_http_exception_before_accept_raises_handshake_rejected(bench):
    """HTTPException(401) before accept: HandshakeRejected with status 401 and the JSON body."""
    with pytest.raises(wsbench.HandshakeRejected) as info:
        bench.connect("/reject")
    assert info.value.status == 401
    assert info.value.body == b'{"detail":"no token"}'
    assert info.value.headers["content-type"] == "application/json"
    assert "HTTP 401" in str(info.value)


def test_close_before_accept_raises_handshake_rejected_403(bench):
    """close() before accept: uvicorn answers HTTP 403 with an empty body; the code and reason are lost."""
    with pytest.raises(wsbench.HandshakeRejected) as info:
        bench.connect("/close-early")
    assert info.value.status == 403
    assert info.value.body == b""
    assert "4003" not in str(info.value)


def test_rejected_handshake_is_in_the_transcript(bench):
    """A rejected handshake leaves a "rejected" event with the status and body in the connection's transcript."""
    conn = wsbench.Connection(bench.url + "/reject")
    with pytest.raises(wsbench.HandshakeRejected):
        conn.open()
    rejected = conn.transcript.filter(kind="rejected")
    assert len(rejected) == 1
    assert rejected[0].code == 401
    assert rejected[0].data == b'{"detail":"no token"}'
    assert conn.state == "closed"


def test_rejected_handshake_through_bench_is_in_the_bench_transcript(bench):
    """bench.connect to a rejecting endpoint records the client's "rejected" event in the bench transcript."""
    with pytest.raises(wsbench.HandshakeRejected):
        bench.connect("/reject")
    assert [e.code for e in bench.transcript.filter(kind="rejected")] == [401]
    assert "rejected: HTTP 401" in str(bench.transcript)


def test_subprotocol_not_accepted(bench):
    """Offering subprotocols the server does not choose raises SubprotocolNotAccepted."""
    with pytest.raises(wsbench.SubprotocolNotAccepted) as info:
        bench.connect("/chat", subprotocols=["superchat"])
    assert isinstance(info.value, wsbench.ConnectError)
    assert "superchat" in str(info.value)


def test_subprotocol_accepted(bench):
    """Offering a subprotocol the server accepts sets conn.subprotocol."""
    conn = bench.connect("/chat", subprotocols=["superchat", "chat"])
    assert conn.subprotocol == "chat"
    assert conn.response_headers["sec-websocket-protocol"] == "chat"


# -- handshake options as the server sees them ------------------------------------------------


def test_headers_cookies_origin_subprotocols_and_compression_reach_the_server(make_bench):
    """headers=, cookies=, origin=, subprotocols= reach the endpoint as sent; permessage-deflate is offered
    unless compression=False."""
    bench = make_bench()

    @bench.websocket("/seen")
    async def seen(websocket: WebSocket) -> None:
        offered = websocket.scope["subprotocols"]
        await websocket.accept(subprotocol=offered[0] if offered else None)
        headers = websocket.headers
        await websocket.send_json(
            {
                "x-probe": headers.get("x-probe"),
                "cookies": websocket.cookies,
                "origin": headers.get("origin"),
                "subprotocols": offered,
                "extensions": headers.get("sec-websocket-extensions"),
            }
        )

    options = dict(
        headers={"X-Probe": "1"}, cookies={"session": "abc"}, origin="http://example.test", subprotocols=["v2", "v1"]
    )
    with bench.connect("/seen", timeout=5, **options) as conn:
        seen_with = conn.receive_json()
        assert conn.subprotocol == "v2"
        assert "permessage-deflate" in conn.response_headers.get("sec-websocket-extensions", "")
    assert seen_with["x-probe"] == "1"
    assert seen_with["cookies"] == {"session": "abc"}
    assert seen_with["origin"] == "http://example.test"
    assert seen_with["subprotocols"] == ["v2", "v1"]
    assert "permessage-deflate" in seen_with["extensions"]
    with bench.connect("/seen", compression=False, timeout=5) as conn:
        assert conn.receive_json()["extensions"] is None
        assert "sec-websocket-extensions" not in conn.response_headers


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A certificate authority made for this module's tests."""
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PEM files: the CA, a server certificate for 127.0.0.1 and a client certificate, each with its key."""
    folder = tmp_path_factory.mktemp("tls")
    files = {"ca": str(folder / "ca.pem")}
    ca.cert_pem.write_to_path(files["ca"])
    for name, identity in (("server", "127.0.0.1"), ("client", "client@wsbench.test")):
        cert = ca.issue_cert(identity)
        files[name] = str(folder / f"{name}.pem")
        files[f"{name}_key"] = str(folder / f"{name}.key")
        cert.cert_chain_pems[0].write_to_path(files[name])
        cert.private_key_pem.write_to_path(files[f"{name}_key"])
    return files


def _add_peer(bench: wsbench.Bench) -> None:
    """Add ``/peer``: it sends the scheme the server saw, then closes (the conftest endpoints are there too)."""

    @bench.websocket("/peer")
    async def peer(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"scheme": websocket.url.scheme})  # uvicorn has no scope["extensions"]["tls"]
        await websocket.close()


@pytest.fixture
def tls_bench(make_bench, tls_files) -> wsbench.Bench:
    """A TLS bench with a certificate for 127.0.0.1 signed by the test CA."""
    bench = make_bench(certfile=tls_files["server"], keyfile=tls_files["server_key"])
    _add_peer(bench)
    return bench


@pytest.fixture
def mtls_bench(make_bench, tls_files) -> wsbench.Bench:
    """A TLS bench that requires a client certificate signed by the test CA."""
    bench = make_bench(certfile=tls_files["server"], keyfile=tls_files["server_key"], client_ca_file=tls_files["ca"])
    _add_peer(bench)
    return bench


def test_wss_with_the_ca_file_talks(tls_bench, tls_files):
    """wss:// with ca_file= naming the CA that signed the server's certificate connects, talks and closes with 1000."""
    assert tls_bench.url.startswith("wss://127.0.0.1:")
    with wsbench.connect(tls_bench.url + "/echo", ca_file=tls_files["ca"], timeout=5) as conn:
        conn.send_text("over TLS")
        assert conn.receive_text() == "over TLS"
    assert conn.close_code == 1000


def test_wss_carries_messages_of_many_tls_records_both_ways(tls_bench, tls_files):
    """Messages far larger than a TLS record (16 KiB) and than one read of the socket go through whole,
    text and binary, one after the other and several in flight at once."""
    text, blob = "ü" * 200_000, bytes(range(256)) * 1200
    with wsbench.connect(tls_bench.url + "/echo", ca_file=tls_files["ca"], timeout=10, max_size=None) as conn:
        for _ in range(3):
            conn.send_text(text)
            conn.send_bytes(blob)
        for _ in range(3):
            assert conn.receive_text() == text
            assert conn.receive_bytes() == blob
    assert conn.close_code == 1000


def test_an_idle_wss_reader_waits_for_data_outside_the_tls_read(tls_bench, tls_files):
    """The sync reader of a wss:// connection, idle, waits for data before it reads: it is never
    inside OpenSSL's read while the user's thread writes on the same connection, which OpenSSL does
    not allow. websockets 17.3 and later wait so themselves; before, wsbench makes its reader wait
    (the raw client lost the server's close frame now and then: 1006, about 1 close in 20 under
    four busy workers)."""
    with wsbench.connect(tls_bench.url + "/echo", ca_file=tls_files["ca"], timeout=5) as conn:
        conn.send_text("over TLS")
        assert conn.receive_text() == "over TLS"
        reader = conn._sync.recv_events_thread  # type: ignore[union-attr]

        def waiting() -> bool:
            frame = sys._current_frames().get(reader.ident or 0)
            names = []
            while frame is not None and len(names) < 50:
                names.append((frame.f_code.co_filename, frame.f_code.co_name))
                frame = frame.f_back
            in_recv_events = any(name == "recv_events" for _, name in names)
            in_tls_read = any(path.endswith("ssl.py") and name in ("recv", "read") for path, name in names)
            return in_recv_events and not in_tls_read and bool(names)

        wait_until(waiting)  # the reader's own stack, idle: the marker, not a sleep
    assert conn.close_code == 1000


class _TLSPeer:
    """The server side of one TLS connection, run in memory (``ssl.MemoryBIO``): what a test's raw
    server sends goes out in one write, TLS records and all, as an asyncio server may send them."""

    def __init__(self, raw: socket.socket, context: ssl.SSLContext) -> None:
        self.raw = raw
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self._run(self.tls.do_handshake)  # its session tickets go out with its end

    def _run(self, step: Callable[[], Any]) -> Any:
        for _ in range(1000):  # a bound: a handshake or a request head takes a few reads
            try:
                result = step()
            except ssl.SSLWantReadError:
                self.raw.sendall(self.outgoing.read())
                data = self.raw.recv(65536)
                if not data:
                    raise ConnectionError("the client hung up") from None
                self.incoming.write(data)
            else:
                self.raw.sendall(self.outgoing.read())
                return result
        raise AssertionError("too many reads")

    def read_head(self) -> bytes:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            head += self._run(lambda: self.tls.read(65536))
        return head

    def send(self, data: bytes, *, close_notify: bool = False) -> None:
        """Write *data* and, if told, TLS's close_notify after it, in one write on the socket."""
        self.tls.write(data)
        if close_notify:
            with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the client's: not read here
                self.tls.unwrap()
        self.raw.sendall(self.outgoing.read())


@pytest.fixture
def raw_tls_server(tls_files) -> Iterator[Callable[[Callable[[_TLSPeer, bytes], None]], str]]:
    """``start(answer)``: a raw TLS 1.3 server on 127.0.0.1 for one connection, its wss:// URL returned.
    It completes the TLS handshake, reads the request head, calls ``answer(peer, head)``, then keeps
    the connection open, reading, until the client hangs up or the test ends."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files["server"], tls_files["server_key"])
    threads: list[threading.Thread] = []
    accepted: list[socket.socket] = []

    def start(answer: Callable[[_TLSPeer, bytes], None]) -> str:
        listener = socket.create_server(("127.0.0.1", free_port()))
        listener.settimeout(30)

        def serve() -> None:
            with listener:
                try:
                    raw, _ = listener.accept()
                except OSError:
                    return
            accepted.append(raw)
            with raw, contextlib.suppress(OSError):
                raw.settimeout(60)
                peer = _TLSPeer(raw, context)
                answer(peer, peer.read_head())
                while raw.recv(65536):  # until the client hangs up (or the test ends: shutdown below)
                    pass

        threads.append(threading.Thread(target=serve, daemon=True))
        threads[-1].start()
        return f"wss://127.0.0.1:{listener.getsockname()[1]}/"

    yield start
    for raw in accepted:
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)
    for thread in threads:
        thread.join(10)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_wss_open_that_gets_no_answer_times_out_while_the_server_holds_the_connection(
    raw_tls_server, tls_files, mode
):
    """open_timeout bounds a wss:// open whose server never answers the request. The sync reader once
    read TLS 1.3's session tickets inside OpenSSL's blocking read, where closing the socket does not
    wake it: the timed-out open waited for that thread until the server hung up (for ever, for a server
    that holds on). Under four busy clients the same read also lost the request now and then (about 1
    handshake in 200 stalled), since OpenSSL does not allow another thread to write meanwhile."""
    request_read = threading.Event()
    url = raw_tls_server(lambda peer, head: request_read.set())
    outcome: list[BaseException | None] = []

    async def aopen() -> None:
        conn = await wsbench.aconnect(url, ca_file=tls_files["ca"], open_timeout=0.5)
        await conn.aclose()

    def try_open() -> None:
        try:
            if mode == "sync":
                wsbench.connect(url, ca_file=tls_files["ca"], open_timeout=0.5).close()
            else:
                asyncio.run(aopen())
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    opener = threading.Thread(target=try_open, daemon=True)
    opener.start()
    opener.join(30)  # a bound, not a figure: the server holds the connection open far longer
    assert request_read.is_set(), "the request never reached the server"
    assert not opener.is_alive(), "open() still waits on a server that holds on, long after its open_timeout of 0.5 s"
    assert isinstance(outcome[0], wsbench.Timeout), outcome


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_close_frame_that_comes_with_tls_close_notify_ends_the_connection(raw_tls_server, tls_files, mode):
    """A server's close frame and TLS's close_notify in one read (an asyncio server, uvicorn's, writes
    them back to back, then waits for the client's end before closing TCP): the client ends the
    connection then, not after close_timeout. The reader once went back to waiting on the socket for
    an end it had already read (1 close in 3 under four busy clients took close_timeout)."""

    def accept_then_close(peer: _TLSPeer, head: bytes) -> None:
        key = rawws.request_headers(head)["sec-websocket-key"]
        peer.send(rawws.switching(key))
        peer.send(rawws.frame(rawws.OP_CLOSE, rawws.close_payload(1000, b"bye")), close_notify=True)

    url = raw_tls_server(accept_then_close)
    opened: list[wsbench.Connection] = []

    async def aopen_and_close() -> None:
        opened.append(await wsbench.aconnect(url, ca_file=tls_files["ca"], timeout=5, close_timeout=60))
        await opened[0].aclose()

    if mode == "sync":
        opened.append(wsbench.connect(url, ca_file=tls_files["ca"], timeout=5, close_timeout=60))
        closer = threading.Thread(target=opened[0].close, daemon=True)
    else:
        closer = threading.Thread(target=asyncio.run, args=(aopen_and_close(),), daemon=True)
    closer.start()
    closer.join(30)  # a bound, not a figure: close_timeout is 60 s
    assert not closer.is_alive(), "close() waits for close_timeout on an end it has read"
    (conn,) = opened
    assert (conn.close_code, conn.close_reason) == (1000, "bye")
    assert "TCP aborted" not in conn.transcript[-1].detail


def test_wss_without_trusting_the_ca_names_the_fix(tls_bench):
    """An untrusted server certificate raises TLSFailure naming CERTIFICATE_VERIFY_FAILED and the fix, ca_file=."""
    with pytest.raises(wsbench.TLSFailure, match=r"CERTIFICATE_VERIFY_FAILED.*pass ca_file="):
        wsbench.connect(tls_bench.url + "/echo", open_timeout=5)


def test_insecure_skips_verification_with_a_visible_warning(tls_bench):
    """insecure=True connects to an untrusted certificate and warns that it was not checked."""
    with pytest.warns(UserWarning, match="not checked"):
        conn = wsbench.connect(tls_bench.url + "/echo", insecure=True, timeout=5)
    with conn:
        conn.send_text("unverified")
        assert conn.receive_text() == "unverified"


def test_client_certificate_is_presented_to_a_server_that_requires_one(mtls_bench, tls_files):
    """cert_file= and key_file= present a client certificate: a server that requires one accepts it."""
    conn = wsbench.connect(
        mtls_bench.url + "/peer",
        ca_file=tls_files["ca"],
        cert_file=tls_files["client"],
        key_file=tls_files["client_key"],
        timeout=5,
    )
    assert conn.receive_json() == {"scheme": "wss"}  # the server requires a certificate: ours was accepted
    conn.close()


def test_server_requiring_a_client_certificate_refuses_a_client_without_one(mtls_bench, tls_files):
    """The server's TLS alert is not visible to the client (websockets reads an end of stream),
    so the error says what such an end usually means over wss://."""
    with pytest.raises(wsbench.ConnectError, match="requires a client certificate"):
        wsbench.connect(mtls_bench.url + "/peer", ca_file=tls_files["ca"], open_timeout=5, timeout=5)


def test_wss_to_a_plain_ws_server_raises_tls_failure(bench):
    """wss:// to the plain ws:// bench fails the TLS handshake: TLSFailure (a ConnectError)."""
    with pytest.raises(wsbench.TLSFailure) as info:
        wsbench.connect(bench.url.replace("ws://", "wss://") + "/echo", open_timeout=2)
    assert isinstance(info.value, wsbench.ConnectError)
    assert "TLS handshake" in str(info.value)
    assert "WRONG_VERSION_NUMBER" in str(info.value)
    assert "use ws:// instead of wss://" in str(info.value)
    assert "ca_file" not in str(info.value)  # trusting a certificate would not help: there is no TLS


def test_missing_ca_file_raises_tls_failure(tmp_path):
    """ca_file= naming a file that does not exist raises TLSFailure before connecting."""
    missing = tmp_path / "missing.pem"
    with pytest.raises(wsbench.TLSFailure) as info:
        wsbench.connect("wss://127.0.0.1:1/", ca_file=str(missing))
    assert "missing.pem" in str(info.value)


BAD_TLS_FILES = [
    ("missing client certificate", {"cert_file": "{tmp}/nope.pem"}, "cannot load the client certificate"),
    ("client certificate that is not PEM", {"cert_file": "{tmp}/garbage.pem"}, "cannot load the client certificate"),
    ("key that does not match", {"cert_file": "{client}", "key_file": "{server_key}"}, "KEY_VALUES_MISMATCH"),
    ("key without certificate", {"key_file": "{client_key}"}, "key_file needs cert_file"),
    ("missing CA file", {"ca_file": "{tmp}/nope.pem"}, "cannot load the CA file"),
]


@pytest.mark.parametrize(("case", "options", "message"), BAD_TLS_FILES, ids=[case for case, _, _ in BAD_TLS_FILES])
def test_invalid_tls_files_raise_tls_failure_naming_them(case, options, message, tls_files, tmp_path):
    """A TLS file that is missing, not PEM, or does not match raises TLSFailure naming it, before connecting."""
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    given = {name: value.format(tmp=tmp_path, **tls_files) for name, value in options.items()}
    with pytest.raises(wsbench.TLSFailure, match=message):
        wsbench.connect("wss://127.0.0.1:1/", open_timeout=1, **given)  # checked before connecting


def test_tls_files_on_a_ws_url_are_refused():
    """cert_file= on a ws:// URL raises InvalidURL: there is no TLS to present it in."""
    with pytest.raises(wsbench.InvalidURL, match="not a wss:// URL"):
        wsbench.connect("ws://127.0.0.1:1/", cert_file="client.pem")


def test_tls_options_on_a_ws_url_raise_invalid_url(bench):
    """ca_file= on a ws:// URL raises InvalidURL: there is no TLS to apply it to."""
    with pytest.raises(wsbench.InvalidURL, match="not a wss:// URL"):
        wsbench.connect(bench.url + "/echo", ca_file="/nonexistent.pem")


# -- proxies -------------------------------------------------------------------------------------


class _Proxy:
    """A loopback proxy on its own thread and loop: HTTP CONNECT or SOCKS5 (no auth), recording targets."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.targets: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self.loop
        ).result(5)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            host, port = await asyncio.wait_for(
                self._http_connect(reader, writer) if self.kind == "http" else self._socks5(reader, writer), 5
            )
            self.targets.append(f"{host}:{port}")
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            writer.close()
            return
        if self.kind == "http":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack("!H", 0))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _http_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int]:
        request = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        method, target, _ = request.split(" ", 2)
        assert method == "CONNECT", request
        host, port = target.rsplit(":", 1)
        return host, int(port)

    @staticmethod
    async def _socks5(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int]:
        version, count = await reader.readexactly(2)
        assert version == 5
        await reader.readexactly(count)
        writer.write(b"\x05\x00")  # no authentication
        _, command, _, address_type = await reader.readexactly(4)
        assert command == 1  # CONNECT
        if address_type == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif address_type == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            raise OSError("IPv6 is not used in these tests")
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        return host, port

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):  # ends when the peer closes: each read makes progress
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(params=["http", "socks5"])
def proxy(request) -> Iterator[_Proxy]:
    """A running loopback proxy, HTTP CONNECT then SOCKS5; stopped after the test."""
    running = _Proxy(request.param)
    yield running
    running.stop()


def test_connect_through_a_proxy(proxy, bench):
    """connect(proxy=...) reaches the server through an HTTP or SOCKS5 proxy, which was asked for that server."""
    url = bench.url + "/echo"
    with wsbench.connect(url, proxy=f"{proxy.kind}://127.0.0.1:{proxy.port}", timeout=5) as conn:
        conn.send_text("via proxy")
        assert conn.receive_text() == "via proxy"
    assert proxy.targets == [f"127.0.0.1:{bench.port}"]


def test_wss_through_a_proxy(proxy, tls_bench, tls_files):
    """wss:// through an HTTP or SOCKS5 proxy: TLS runs over the tunnel, end to end with the server."""
    url = tls_bench.url + "/echo"
    proxy_url = f"{proxy.kind}://127.0.0.1:{proxy.port}"
    with wsbench.connect(url, proxy=proxy_url, ca_file=tls_files["ca"], timeout=5) as conn:
        conn.send_text("via proxy, over TLS")
        assert conn.receive_text() == "via proxy, over TLS"
    assert conn.close_code == 1000
    assert proxy.targets == [f"127.0.0.1:{tls_bench.port}"]


def test_aconnect_through_a_proxy(proxy, bench):
    """aconnect(proxy=...) reaches the server through an HTTP or SOCKS5 proxy, which was asked for that server."""

    async def main() -> str:
        url = bench.url + "/echo"
        async with await wsbench.aconnect(url, proxy=f"{proxy.kind}://127.0.0.1:{proxy.port}", timeout=5) as conn:
            await conn.asend_text("via proxy, async")
            return await conn.areceive_text()

    assert asyncio.run(main()) == "via proxy, async"
    assert proxy.targets == [f"127.0.0.1:{bench.port}"]


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_proxy_down_names_the_proxy(scheme, bench):
    """A proxy that refuses the connection raises ConnectionRefused naming the proxy, not the server."""
    port = free_port()
    with pytest.raises(
        wsbench.ConnectionRefused, match=rf"the proxy {scheme}://127\.0\.0\.1:{port} \(connection refused"
    ):
        wsbench.connect(bench.url + "/echo", proxy=f"{scheme}://127.0.0.1:{port}", open_timeout=5)


def test_unsupported_proxy_scheme_is_refused(bench):
    """A proxy that is not an http:// or socks:// URL with a host raises InvalidURL before connecting."""
    for bad in ("ftp://127.0.0.1:1", "127.0.0.1:3128", "http://", 3128):
        with pytest.raises(wsbench.InvalidURL, match="is not a proxy URL wsbench can use"):
            wsbench.connect(bench.url + "/echo", proxy=bad, open_timeout=5)
