"""Connecting like to an external server: handshake options, TLS with client certificates,
HTTP and SOCKS proxies, and opt-in auto-reconnect with bounded backoff.

Every server here is on 127.0.0.1: a Bench (TLS with certificates made by trustme in the
test), and two small proxies written below (an HTTP CONNECT proxy and a SOCKS5 one) that
record what they were asked to reach.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import trustme
from fastapi import WebSocket

import wsbench

# -- certificates ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
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


def _add_echo(bench: wsbench.Bench) -> None:
    @bench.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    @bench.websocket("/peer")
    async def peer(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"scheme": websocket.url.scheme})  # uvicorn has no scope["extensions"]["tls"]
        await websocket.close()


@pytest.fixture
def tls_bench(make_bench, tls_files) -> wsbench.Bench:
    bench = make_bench(certfile=tls_files["server"], keyfile=tls_files["server_key"])
    _add_echo(bench)
    return bench


@pytest.fixture
def mtls_bench(make_bench, tls_files) -> wsbench.Bench:
    """A TLS bench that requires a client certificate signed by the test CA."""
    bench = make_bench(certfile=tls_files["server"], keyfile=tls_files["server_key"], client_ca_file=tls_files["ca"])
    _add_echo(bench)
    return bench


# -- TLS -----------------------------------------------------------------------------------


def test_wss_with_the_ca_file_talks(tls_bench, tls_files):
    assert tls_bench.url.startswith("wss://127.0.0.1:")
    with wsbench.connect(tls_bench.url + "/echo", ca_file=tls_files["ca"], timeout=5) as conn:
        conn.send_text("over TLS")
        assert conn.receive_text() == "over TLS"
    assert conn.close_code == 1000


def test_wss_without_trusting_the_ca_names_the_fix(tls_bench):
    with pytest.raises(wsbench.TLSFailure, match=r"CERTIFICATE_VERIFY_FAILED.*pass ca_file="):
        wsbench.connect(tls_bench.url + "/echo", open_timeout=5)


def test_insecure_skips_verification_with_a_visible_warning(tls_bench):
    with pytest.warns(UserWarning, match="not checked"):
        conn = wsbench.connect(tls_bench.url + "/echo", insecure=True, timeout=5)
    with conn:
        conn.send_text("unverified")
        assert conn.receive_text() == "unverified"


def test_client_certificate_is_presented_to_a_server_that_requires_one(mtls_bench, tls_files):
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


BAD_TLS_FILES = [
    ("missing client certificate", {"cert_file": "{tmp}/nope.pem"}, "cannot load the client certificate"),
    ("client certificate that is not PEM", {"cert_file": "{tmp}/garbage.pem"}, "cannot load the client certificate"),
    ("key that does not match", {"cert_file": "{client}", "key_file": "{server_key}"}, "KEY_VALUES_MISMATCH"),
    ("key without certificate", {"key_file": "{client_key}"}, "key_file needs cert_file"),
    ("missing CA file", {"ca_file": "{tmp}/nope.pem"}, "cannot load the CA file"),
]


@pytest.mark.parametrize(("case", "options", "message"), BAD_TLS_FILES, ids=[case for case, _, _ in BAD_TLS_FILES])
def test_invalid_tls_files_raise_tls_failure_naming_them(case, options, message, tls_files, tmp_path):
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    given = {name: value.format(tmp=tmp_path, **tls_files) for name, value in options.items()}
    with pytest.raises(wsbench.TLSFailure, match=message):
        wsbench.connect("wss://127.0.0.1:1/", open_timeout=1, **given)  # checked before connecting


def test_tls_files_on_a_ws_url_are_refused():
    with pytest.raises(wsbench.InvalidURL, match="not a wss:// URL"):
        wsbench.connect("ws://127.0.0.1:1/", cert_file="client.pem")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"certfile": "{tmp}/nope.pem"}, "cannot load the server certificate"),
        ({"certfile": "{tmp}/garbage.pem"}, "cannot load the server certificate"),
        ({"certfile": "{server}", "keyfile": "{server_key}", "client_ca_file": "{tmp}/nope.pem"}, "client CA file"),
    ],
)
def test_bench_with_invalid_tls_files_names_the_file(options, message, tls_files, tmp_path):
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    given = {name: value.format(tmp=tmp_path, **tls_files) for name, value in options.items()}
    with pytest.raises(wsbench.TLSFailure, match=message):
        wsbench.Bench(name="bad-tls", **given)


def test_bench_keyfile_without_certfile_is_refused():
    with pytest.raises(ValueError, match="need certfile"):
        wsbench.Bench(name="bad-tls", keyfile="key.pem")


# -- handshake options as the server sees them ------------------------------------------------


def test_headers_cookies_origin_subprotocols_and_compression_reach_the_server(make_bench):
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
            while data := await reader.read(65536):
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
    running = _Proxy(request.param)
    yield running
    running.stop()


@pytest.fixture
def echo_bench(make_bench) -> wsbench.Bench:
    bench = make_bench()
    _add_echo(bench)
    return bench


def test_connect_through_a_proxy(proxy, echo_bench):
    url = echo_bench.url + "/echo"
    with wsbench.connect(url, proxy=f"{proxy.kind}://127.0.0.1:{proxy.port}", timeout=5) as conn:
        conn.send_text("via proxy")
        assert conn.receive_text() == "via proxy"
    assert proxy.targets == [f"127.0.0.1:{echo_bench.port}"]


def test_aconnect_through_a_proxy(proxy, echo_bench):
    async def main() -> str:
        url = echo_bench.url + "/echo"
        async with await wsbench.aconnect(url, proxy=f"{proxy.kind}://127.0.0.1:{proxy.port}", timeout=5) as conn:
            await conn.asend_text("via proxy, async")
            return await conn.areceive_text()

    assert asyncio.run(main()) == "via proxy, async"
    assert proxy.targets == [f"127.0.0.1:{echo_bench.port}"]


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_proxy_down_names_the_proxy(scheme, echo_bench):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        wsbench.ConnectionRefused, match=rf"the proxy {scheme}://127\.0\.0\.1:{port} \(connection refused"
    ):
        wsbench.connect(echo_bench.url + "/echo", proxy=f"{scheme}://127.0.0.1:{port}", open_timeout=5)


def test_unsupported_proxy_scheme_is_refused(echo_bench):
    for bad in ("ftp://127.0.0.1:1", "127.0.0.1:3128", "http://", 3128):
        with pytest.raises(wsbench.InvalidURL, match="is not a proxy URL wsbench can use"):
            wsbench.connect(echo_bench.url + "/echo", proxy=bad, open_timeout=5)


# -- auto-reconnect ----------------------------------------------------------------------------


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


def test_auto_reconnect_after_a_drop_keeps_every_message(flaky_bench):
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
    conn = flaky_bench.connect("/flaky", auto_reconnect=2, backoff=(0.01, 0.05), timeout=5)
    conn.send_text("fail now")
    deadline = time.monotonic() + 5
    while conn.state != "closed" and time.monotonic() < deadline:  # the drop arrives
        time.sleep(0.01)
    assert conn.state == "closed"
    conn.send_text("hello again")  # reconnects first
    assert conn.state == "open"
    assert [conn.receive_text() for _ in range(4)] == ["1:1", "1:2", "2:1", "2:2"]  # nothing lost
    conn.close()
    assert conn.transcript.filter(kind="reconnect")[0].detail.endswith("on send")


def test_auto_reconnect_gives_up_after_the_attempts_and_says_so(make_bench):
    bench = make_bench()
    _add_echo(bench)
    conn = bench.connect("/echo", auto_reconnect=2, backoff=(0.01, 0.02), timeout=5)
    bench.stop()  # clients see 1012 (service restart), then nothing listens
    start = time.monotonic()
    with pytest.raises(wsbench.ConnectionClosed, match=r"2 reconnect attempts failed; last: .*connection refused"):
        conn.receive_text()
    assert time.monotonic() - start >= 0.01 + 0.02  # it did wait the backoff, both times
    details = [e.detail for e in conn.transcript if e.kind == "reconnect"]
    assert details == ["attempt 1 of 2 in 0.01 s, on receive_text", "attempt 2 of 2 in 0.02 s, on receive_text"]


def test_auto_reconnect_reaches_a_server_that_comes_back(make_bench):
    bench = make_bench()
    _add_echo(bench)
    port = bench.port
    conn = wsbench.connect(bench.url + "/echo", auto_reconnect=6, backoff=(0.05, 0.4), timeout=5)
    conn.send_text("before")
    assert conn.receive_text() == "before"
    bench.stop()
    restarted: list[wsbench.Bench] = []
    timer = threading.Timer(0.2, lambda: restarted.append(make_bench(port=port)))
    timer.start()
    try:
        deadline = time.monotonic() + 10
        while not restarted and time.monotonic() < deadline:
            time.sleep(0.01)
        _add_echo(restarted[0])
        conn.send_text("after")  # reconnects first: refused until the new server listens
        assert conn.receive_text() == "after"
    finally:
        timer.cancel()
        conn.close()
    assert conn.close_code == 1000


def test_no_reconnect_after_own_close_or_a_normal_close(flaky_bench, bench):
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
    async def main() -> wsbench.Connection:
        conn = await flaky_bench.aconnect("/flaky", auto_reconnect=3, backoff=(0.01, 0.05), timeout=5)
        assert [await conn.areceive_text(), await conn.areceive_text()] == ["1:1", "1:2"]
        await conn.asend_text("fail now")
        assert await conn.areceive_text() == "2:1"
        await conn.aclose()
        return conn

    conn = asyncio.run(main())
    assert sum(e.kind == "reconnect" for e in conn.transcript) == 1


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
    with pytest.raises(ValueError, match=message):
        wsbench.connect("ws://127.0.0.1:1/", **options)


def test_reconnect_options_survive_json(flaky_bench):  # the transcript of a reconnecting client saves and loads
    conn = flaky_bench.connect("/flaky", auto_reconnect=1, backoff=(0.01, 0.01), timeout=5)
    conn.send_text("fail now")
    assert [conn.receive_text() for _ in range(3)] == ["1:1", "1:2", "2:1"]
    conn.close()
    loaded = wsbench.Transcript.from_jsonl(conn.transcript.to_jsonl())
    assert loaded.text() == conn.transcript.text()
    assert [json.loads(line)["kind"] for line in conn.transcript.to_jsonl().splitlines()].count("reconnect") == 1
