"""wsbench.pytest_plugin and wsbench.testing: the fixtures, and the live session against Starlette's TestClient.

Where the two behave alike, a test runs over both (``client`` is parametrized): that the
TestClient passes it is the reference, that the live session passes it the evidence.
Where they cannot, the live behaviour is tested alone and listed in
docs/testclient_differences.md; cases where the TestClient blocks for ever are not run
with it.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from typing import Annotated

import httpx
import pytest
from conftest import wait_until
from fastapi import FastAPI, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse

import wsbench
from wsbench.testing import LiveClient, LiveWebSocketSession

with warnings.catch_warnings():
    # Starlette 1.10 warns when its TestClient runs on httpx rather than httpx2
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

pytest_plugins = ["pytester"]

WAIT = 5.0

# -- one app for both clients -------------------------------------------------------------

seen: dict[str, list] = {}  # what endpoints saw, by endpoint


def note(key: str, value: object) -> None:
    seen.setdefault(key, []).append(value)


def wait_for(key: str, timeout: float = WAIT) -> list:
    """What the endpoint *key* noted, once it noted something (bounded: the live endpoint ends a moment later)."""
    return wait_until(lambda: seen.get(key), timeout)


app = FastAPI()


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            note("echo", (message["code"], message.get("reason") or ""))
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


@app.websocket("/json")
async def json_echo(websocket: WebSocket, mode: str = "text") -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_json(await websocket.receive_json(mode=mode), mode=mode)
    except WebSocketDisconnect:
        pass


@app.websocket("/chat")
async def chat(websocket: WebSocket) -> None:
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol="chat.v2" if "chat.v2" in offered else None, headers=[(b"x-server", b"demo")])
    await websocket.send_json({"offered": offered})
    await websocket.close()


@app.websocket("/send")
async def send(websocket: WebSocket, code: int = 4001, reason: str = "done") -> None:
    await websocket.accept()
    await websocket.send_text("text")
    await websocket.send_bytes(b"bytes")
    await websocket.close(code, reason)


@app.websocket("/close-early")
async def close_early(websocket: WebSocket) -> None:
    await websocket.close(4003, "not you")


@app.websocket("/limited")
async def limited(websocket: WebSocket, n: Annotated[int, Query(le=10)]) -> None:
    await websocket.accept()
    await websocket.send_text(str(n))
    await websocket.close()


@app.websocket("/http-exception")
async def http_exception(websocket: WebSocket) -> None:
    raise HTTPException(status_code=401, detail="members only")


@app.websocket("/denial")
async def denial(websocket: WebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("go away", status_code=418))


@app.websocket("/raise-after")
async def raise_after(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    note("raise-after", "raising")  # the marker a test waits for
    raise ValueError("boom")


@app.websocket("/raise-before")
async def raise_before(websocket: WebSocket) -> None:
    raise ValueError("early")


@app.websocket("/loop")
async def loop(websocket: WebSocket) -> None:  # the FastAPI-docs shape: WebSocketDisconnect escapes
    await websocket.accept()
    while True:
        await websocket.send_text(await websocket.receive_text())


@app.websocket("/ticker")
async def ticker(websocket: WebSocket) -> None:  # sends until stopped (at most ~100 s): never reads
    await websocket.accept()
    for _ in range(10_000):
        await websocket.send_text("tick")
        await asyncio.sleep(0.01)  # the pace of a ticker, part of the behaviour


@app.websocket("/disconnect")
async def disconnect(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        await websocket.receive_text()
    except WebSocketDisconnect as exc:
        note("disconnect", (exc.code, exc.reason))


@app.websocket("/request")
async def request(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(
        {
            "x-token": websocket.headers.get("x-token"),
            "query": dict(websocket.query_params),
            "cookie": websocket.cookies.get("session"),
            "path": websocket.url.path,
        }
    )
    await websocket.close()


@app.websocket("/items/{item_id}")
async def item(websocket: WebSocket, item_id: int) -> None:
    await websocket.accept()
    await websocket.send_json({"item_id": item_id, "raw": websocket.path_params["item_id"]})
    await websocket.close()


@app.websocket("/scope")
async def scope(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(
        {
            "client": list(websocket.scope["client"]),
            "server": list(websocket.scope["server"]),
            "host": websocket.headers.get("host"),
            "user-agent": websocket.headers.get("user-agent"),
        }
    )
    await websocket.close()


@app.websocket("/silent")
async def silent(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


@app.websocket("/bad-code")
async def bad_code(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close(code=1006)  # may never be sent: uvicorn's close() raises


@app.websocket("/return-before")
async def return_before(websocket: WebSocket) -> None:
    return  # neither accept nor close


@app.websocket("/denial-then-raise")
async def denial_then_raise(websocket: WebSocket) -> None:
    await websocket.receive()  # the connect message
    await websocket.send({"type": "websocket.http.response.start", "status": 404, "headers": []})
    raise RuntimeError("boom after the denial started")


@app.get("/items/{item_id}")
def read_item(item_id: int) -> dict:
    return {"item_id": item_id}


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    seen.clear()


@pytest.fixture(params=["testclient", "live"])
def client(request: pytest.FixtureRequest, wsbench_client: Callable[..., LiveClient]) -> object:
    """The TestClient on ``app``, then the plugin's LiveClient on it: the one swapped fixture."""
    if request.param == "testclient":
        return TestClient(app)
    return wsbench_client(app)


@pytest.fixture
def live(wsbench_client: Callable[..., LiveClient]) -> LiveClient:
    """The plugin's LiveClient on ``app`` (for behaviour the TestClient cannot show)."""
    return wsbench_client(app)


# -- same behaviour, both clients -----------------------------------------------------------


def test_send_and_receive_text_and_bytes(client):
    """send_text/send_bytes reach the app; receive_text/receive_bytes return what it sent."""
    with client.websocket_connect("/echo") as websocket:
        websocket.send_text("héllo")
        assert websocket.receive_text() == "héllo"
        websocket.send_bytes(b"\x00\xff")
        assert websocket.receive_bytes() == b"\x00\xff"


def test_receive_returns_asgi_messages(client):
    """receive() returns the app's ASGI messages: websocket.send with text or bytes, then websocket.close."""
    with client.websocket_connect("/send?code=4001&reason=done") as websocket:
        assert websocket.receive() == {"type": "websocket.send", "text": "text"}
        assert websocket.receive() == {"type": "websocket.send", "bytes": b"bytes"}
        assert websocket.receive() == {"type": "websocket.close", "code": 4001, "reason": "done"}


@pytest.mark.parametrize("mode", ["text", "binary"])
def test_send_json_and_receive_json(client, mode):
    """send_json/receive_json round-trip compact JSON, in text frames or with mode="binary" binary ones."""
    value = {"a": [1, 2], "café": "ü"}
    with client.websocket_connect(f"/json?mode={mode}") as websocket:
        websocket.send_json(value, mode=mode)
        assert websocket.receive_json(mode=mode) == value
        websocket.send_json([1], mode=mode)
        kind = "text" if mode == "text" else "bytes"
        assert websocket.receive() == {"type": "websocket.send", kind: "[1]" if mode == "text" else b"[1]"}


def test_receive_text_on_close_raises_websocket_disconnect(client):
    """After the app closes, receive_text raises WebSocketDisconnect with its code and reason."""
    with client.websocket_connect("/send?code=4002&reason=bye") as websocket:
        websocket.receive_text()
        websocket.receive_bytes()
        with pytest.raises(WebSocketDisconnect) as closed:
            websocket.receive_text()
    assert (closed.value.code, closed.value.reason) == (4002, "bye")


@pytest.mark.parametrize("method", ["receive_bytes", "receive_json"])
def test_receive_of_the_other_kind_raises_key_error_and_consumes(client, method):
    """receive_bytes on a text message raises KeyError('bytes') (receive_json on bytes KeyError('text')),
    and the message is gone, as in the TestClient."""
    with client.websocket_connect("/send") as websocket:
        if method == "receive_json":
            websocket.receive_text()  # now a binary message is next
        with pytest.raises(KeyError) as missing:
            getattr(websocket, method)()
        assert missing.value.args == ("bytes" if method == "receive_bytes" else "text",)
        expected = {"type": "websocket.send", "bytes": b"bytes"} if method == "receive_bytes" else None
        if expected:
            assert websocket.receive() == expected


def test_receive_json_of_non_json_raises_json_error(client):
    """receive_json on text that is not JSON raises json.JSONDecodeError."""
    with client.websocket_connect("/echo") as websocket:
        websocket.send_text("{not json")
        with pytest.raises(json.JSONDecodeError):
            websocket.receive_json()


def test_subprotocol_and_extra_headers(client):
    """accepted_subprotocol is the app's choice; extra_headers the headers it passed to accept()."""
    with client.websocket_connect("/chat", ["chat.v1", "chat.v2"]) as websocket:
        assert websocket.accepted_subprotocol == "chat.v2"
        assert websocket.extra_headers == [(b"x-server", b"demo")]
        assert websocket.receive_json() == {"offered": ["chat.v1", "chat.v2"]}


def test_no_subprotocol_agreed_is_not_an_error(client):
    """Offering subprotocols the app does not pick connects with accepted_subprotocol None."""
    with client.websocket_connect("/chat", ["other"]) as websocket:
        assert websocket.accepted_subprotocol is None
        assert websocket.receive_json() == {"offered": ["other"]}


def test_close_before_accept_raises_websocket_disconnect(client):
    """A close before accept raises WebSocketDisconnect(code, reason) from websocket_connect's with."""
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect("/close-early"):
            pass  # pragma: no cover
    assert type(closed.value) is WebSocketDisconnect
    assert (closed.value.code, closed.value.reason) == (4003, "not you")


def test_unknown_path_raises_websocket_disconnect_1000(client):
    """A path with no route: the router closes before accept, WebSocketDisconnect(1000)."""
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect("/no-such-path"):
            pass  # pragma: no cover
    assert (closed.value.code, closed.value.reason) == (1000, "")


def test_validation_failure_raises_1008_with_the_errors(client):
    """A query parameter failing validation: WebSocketDisconnect(1008) whose reason is FastAPI's error list."""
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect("/limited?n=100"):
            pass  # pragma: no cover
    assert closed.value.code == 1008
    assert closed.value.reason[0]["loc"] == ["query", "n"]


@pytest.mark.parametrize(
    ("path", "status", "content"),
    [("/http-exception", 401, b'{"detail":"members only"}'), ("/denial", 418, b"go away")],
)
def test_denial_response_raises_websocket_denial_response(client, path, status, content):
    """An HTTPException or send_denial_response before accept raises WebSocketDenialResponse with status and body."""
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect(path):
            pass  # pragma: no cover
    assert isinstance(denied.value, WebSocketDisconnect)
    assert (denied.value.status_code, denied.value.content) == (status, content)
    assert denied.value.headers["content-type"].startswith("application/json" if status == 401 else "text/plain")


def test_exception_after_accept_reaches_the_test(client):
    """An exception the app raises after accept comes out of the with block in the test."""
    with pytest.raises(ValueError, match="boom"):
        with client.websocket_connect("/raise-after") as websocket:
            websocket.send_text("go")
            websocket.receive_text()


def test_exception_after_accept_reaches_the_test_at_exit(client):
    """Not receiving: the app's exception comes out when the with block ends."""
    with pytest.raises(ValueError, match="boom"):
        with client.websocket_connect("/raise-after") as websocket:
            websocket.send_text("go")
            wait_for("raise-after")  # the app has raised: the with block ends after that


def test_exception_after_a_started_denial_reaches_the_test(client):
    """An app that starts a denial response, then raises: the app's exception (uvicorn answers nothing)."""
    with pytest.raises(RuntimeError, match="boom after the denial started"):
        with client.websocket_connect("/denial-then-raise"):
            pass  # pragma: no cover


def test_exception_before_accept_reaches_the_test(client):
    """An exception before accept comes out of websocket_connect's with."""
    with pytest.raises(ValueError, match="early"):
        with client.websocket_connect("/raise-before"):
            pass  # pragma: no cover


def test_disconnect_escaping_the_endpoint_is_raised_at_exit(client):
    """An endpoint that lets WebSocketDisconnect escape (the FastAPI-docs loop) fails the test at exit, in both."""
    with pytest.raises(WebSocketDisconnect) as escaped:
        with client.websocket_connect("/loop") as websocket:
            websocket.send_text("x")
            assert websocket.receive_text() == "x"
    assert escaped.value.code == 1000


def test_endpoint_that_never_reads_ends_quietly(client):
    """An endpoint that only sends is stopped at exit without an error (TestClient: cancelled; live: its
    next send fails with WebSocketDisconnect(1006), which the session does not report)."""
    with client.websocket_connect("/ticker") as websocket:
        assert websocket.receive_text() == "tick"


@pytest.mark.parametrize(
    ("args", "expected"), [((), (1000, "")), ((4002,), (4002, "")), ((4003, "why"), (4003, "why"))]
)
def test_close_reaches_the_app_as_websocket_disconnect(client, args, expected):
    """close(code, reason) reaches the app as WebSocketDisconnect(code, reason)."""
    with client.websocket_connect("/disconnect") as websocket:
        websocket.close(*args)
    assert wait_for("disconnect") == [expected]


def test_leaving_the_with_block_closes_with_1000(client):
    """Leaving the with block closes with 1000."""
    with client.websocket_connect("/echo") as websocket:
        websocket.send_text("x")
        websocket.receive_text()
    assert wait_for("echo") == [(1000, "")]


def test_send_raw_asgi_messages(client):
    """send() takes the client's ASGI messages: websocket.receive (text or bytes) and websocket.disconnect."""
    with client.websocket_connect("/echo") as websocket:
        websocket.send({"type": "websocket.receive", "text": "raw"})
        assert websocket.receive_text() == "raw"
        websocket.send({"type": "websocket.receive", "bytes": b"raw"})
        assert websocket.receive_bytes() == b"raw"
        websocket.send({"type": "websocket.disconnect", "code": 4005})
    assert wait_for("echo") == [(4005, "")]


def test_send_after_the_app_closed_does_not_raise(client):
    """Sending after the app closed is silently dropped, as the TestClient's queue takes it."""
    with client.websocket_connect("/send") as websocket:
        assert websocket.receive_text() == "text"
        assert websocket.receive_bytes() == b"bytes"
        with pytest.raises(WebSocketDisconnect):
            websocket.receive_text()
        websocket.send_text("nobody listens")
        websocket.send_json({"still": "fine"})


def test_headers_and_query_reach_the_app(client):
    """headers= and the URL's query string reach the app; params= replaces the query string (httpx's rule).

    That rule is httpx 0.28's: httpx 0.27 merged params= into the URL's query, and the TestClient builds
    its URL with the installed httpx, so there it gets both; the live session replaces on every version."""
    with client.websocket_connect("/request?a=1", headers={"x-token": "t0k"}) as websocket:
        assert websocket.receive_json() == {"x-token": "t0k", "query": {"a": "1"}, "cookie": None, "path": "/request"}
    merges = isinstance(client, TestClient) and tuple(int(p) for p in httpx.__version__.split(".")[:2]) < (0, 28)
    with client.websocket_connect("/request?a=1", params={"b": "2"}) as websocket:
        assert websocket.receive_json()["query"] == ({"a": "1", "b": "2"} if merges else {"b": "2"})


def test_cookies_reach_the_app(live):
    """cookies= is sent as a Cookie header (the TestClient's per-request cookies= is deprecated by httpx)."""
    with live.websocket_connect("/request", cookies={"session": "s1"}) as websocket:
        assert websocket.receive_json()["cookie"] == "s1"


def test_path_params_and_full_testserver_url(client):
    """Path parameters work; a full ws://testserver/ URL (the TestClient's host) reaches the same app."""
    with client.websocket_connect("ws://testserver/items/3") as websocket:
        assert websocket.receive_json() == {"item_id": 3, "raw": "3"}


def test_http_requests_share_the_client(client):
    """client.get() works on both: the LiveClient sends it to the same live server through httpx."""
    assert client.get("/items/5").json() == {"item_id": 5}


# -- the live session alone: what the TestClient cannot show --------------------------------


def test_receive_times_out_and_the_session_stays_usable(live):
    """receive on a silent endpoint raises wsbench.Timeout after timeout s (the TestClient blocks for ever);
    the session stays usable."""
    with live.websocket_connect("/silent") as websocket:
        with pytest.raises(wsbench.Timeout, match="the TestClient would wait for ever"):
            websocket.receive_text(timeout=0.2)
        websocket.send_text("still here")
        assert websocket.receive_text() == "still here"


def test_session_timeout_is_the_default_for_every_wait(live):
    """websocket_connect(timeout=) sets the session's default wait; TimeoutError catches it too."""
    with live.websocket_connect("/silent", timeout=0.1) as websocket:
        with pytest.raises(TimeoutError):
            websocket.receive()


def test_receive_after_the_close_repeats_it(live):
    """After the close, receive() returns the close message again (the TestClient blocks for ever)."""
    with live.websocket_connect("/send") as websocket:
        for _ in range(2):
            websocket.receive()
        closes = [websocket.receive(), websocket.receive()]
    assert closes == [{"type": "websocket.close", "code": 4001, "reason": "done"}] * 2


def test_return_without_accepting_is_a_500_denial(live):
    """An endpoint returning without accept or close: uvicorn answers HTTP 500 (the TestClient blocks for ever)."""
    with pytest.raises(WebSocketDenialResponse) as denied:
        with live.websocket_connect("/return-before"):
            pass  # pragma: no cover
    assert denied.value.status_code == 500


def test_invalid_close_code_is_refused_before_sending(live, client):
    """close(1006): the TestClient hands the app 1006; a real client may not send it, so nothing is sent."""
    if isinstance(client, TestClient):
        with client.websocket_connect("/disconnect") as websocket:
            websocket.close(1006)
        assert wait_for("disconnect") == [(1006, "")]
        return
    with client.websocket_connect("/disconnect") as websocket:
        with pytest.raises(wsbench.InvalidCloseCode, match="1006 may not be sent"):
            websocket.close(1006)
    assert wait_for("disconnect") == [(1000, "")]  # the with block's own close


def test_invalid_close_code_from_the_app(client):
    """The app closing with 1006: the TestClient passes the message on; uvicorn refuses it (close() raises
    ProtocolError in the app), drops the connection, and that exception reaches the test at exit."""
    with pytest.raises(Exception) if isinstance(client, LiveClient) else _nothing() as raised:
        with client.websocket_connect("/bad-code") as websocket:
            assert websocket.receive() == {"type": "websocket.close", "code": 1006, "reason": ""}
    if raised is not None:
        assert type(raised.value).__name__ == "ProtocolError"


def test_unencodable_text_cannot_be_sent(client):
    """A lone surrogate: the TestClient hands it to the app; a real socket must encode UTF-8 and cannot."""
    with client.websocket_connect("/echo") as websocket:
        if isinstance(client, TestClient):
            websocket.send_text("\ud800")
            assert websocket.receive_text() == "\ud800"
        else:
            with pytest.raises(wsbench.UnsendableText, match="lone surrogate"):
                websocket.send_text("\ud800")
            websocket.send_text("fine")  # nothing was sent: the connection is intact
            assert websocket.receive_text() == "fine"


def test_server_side_asgi_messages_cannot_be_sent(live):
    """send() of a message only a server sends (websocket.accept, websocket.http.response.*) is a ValueError."""
    with live.websocket_connect("/echo") as websocket:
        with pytest.raises(ValueError, match=r"not 'websocket\.http\.response\.start'"):
            websocket.send({"type": "websocket.http.response.start", "status": 200})


def test_scope_is_the_real_connections(client):
    """The scope describes the real TCP connection: client address, server, Host and User-Agent differ."""
    with client.websocket_connect("/scope") as websocket:
        got = websocket.receive_json()
    if isinstance(client, TestClient):
        assert got == {"client": ["testclient", 50000], "server": ["testserver", 80], "host": "testserver",
                       "user-agent": "testclient"}  # fmt: skip
    else:
        assert got["client"][0] == "127.0.0.1" and got["client"][1] > 0
        assert got["server"] == ["127.0.0.1", client.bench.port]
        assert got["host"] == f"127.0.0.1:{client.bench.port}"
        assert got["user-agent"].startswith("Python/")


def test_denial_response_headers_include_the_servers(client):
    """A denial's headers: the app's in the TestClient; on the wire uvicorn adds its own (date, server)."""
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect("/denial"):
            pass  # pragma: no cover
    has_date = "date" in denied.value.headers
    assert has_date is isinstance(client, LiveClient)


def test_raise_server_exceptions_false_shows_the_wire(wsbench_client):
    """raise_server_exceptions=False: the app's exception stays on the server; the test sees what a client sees."""
    live = wsbench_client(app, raise_server_exceptions=False)
    with live.websocket_connect("/raise-after") as websocket:
        websocket.send_text("go")
        assert websocket.receive() == {"type": "websocket.close", "code": 1006, "reason": ""}
    with pytest.raises(WebSocketDenialResponse) as denied:
        with live.websocket_connect("/raise-before"):
            pass  # pragma: no cover
    assert denied.value.status_code == 500


def test_lifespan_runs_without_with(wsbench_client):
    """The live server runs the app's lifespan when it starts; the TestClient only inside ``with TestClient(app)``."""
    events: list[str] = []

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        events.append("startup")
        yield {"greeting": "hi"}
        events.append("shutdown")

    spanned = FastAPI(lifespan=lifespan)

    @spanned.websocket("/state")
    async def state(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.state.greeting)
        await websocket.close()

    TestClient(spanned)  # no with: no lifespan
    assert events == []
    live = wsbench_client(spanned)
    assert events == ["startup"]
    with live.websocket_connect("/state") as websocket:
        assert websocket.receive_text() == "hi"
    live.close()
    assert events == ["startup", "shutdown"]


def test_session_needs_with(live):
    """Using a session before ``with`` raises a RuntimeError that says so (the TestClient: AttributeError)."""
    session = live.websocket_connect("/echo")
    assert isinstance(session, LiveWebSocketSession)
    with pytest.raises(RuntimeError, match=r"with client\.websocket_connect"):
        session.send_text("x")
    assert "not connected" in repr(session)


def test_live_client_context_manager_stops_the_server():
    """``with LiveClient(app)`` stops its server on exit; relative URLs resolve against it."""
    with LiveClient(app) as live:
        assert live.url.startswith("ws://127.0.0.1:")
        assert live.base_url == "http" + live.url[2:]
        with live.websocket_connect("echo") as websocket:  # relative, as urljoin reads it
            websocket.send_text("x")
            assert websocket.receive_text() == "x"
        assert "running" in repr(live)
    assert not live.bench.running
    assert "stopped" in repr(live)


def test_full_url_of_another_server_maps_refusals_to_denials(wsbench_client):
    """A full ws:// URL of a server the client does not serve: no note from inside, so a close before
    accept is what the wire says, WebSocketDenialResponse(403)."""
    other = wsbench_client(app)
    live = wsbench_client(FastAPI())
    with live.websocket_connect(other.url + "/echo") as websocket:
        websocket.send_text("x")
        assert websocket.receive_text() == "x"
    with pytest.raises(WebSocketDenialResponse) as denied:
        with live.websocket_connect(other.url + "/close-early"):
            pass  # pragma: no cover
    assert (denied.value.status_code, denied.value.content) == (403, b"")


def test_wsbench_bench_fixture(wsbench_bench):
    """wsbench_bench is a running Bench with no endpoints, for endpoints defined in the test."""
    assert wsbench_bench.running

    @wsbench_bench.websocket("/hi")
    async def hi(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    conn = wsbench_bench.connect("/hi", timeout=WAIT)
    assert conn.receive_text() == "hi"


class _nothing:
    """Stands where pytest.raises would, for the client that raises nothing."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


# -- the plugin in a pytest run of its own -----------------------------------------------------

APP_MODULE = """
from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_text()
            await websocket.send_text(f"Message text was: {data}")
    except WebSocketDisconnect:
        pass


@app.websocket("/items/{item_id}")
async def items(websocket: WebSocket, item_id: int, q: str | None = None):
    await websocket.accept()
    await websocket.send_json({"item_id": item_id, "q": q})
    await websocket.close(code=4000, reason="done")


@app.websocket("/private")
async def private(websocket: WebSocket):
    await websocket.close(code=1008, reason="no entry")


@app.websocket("/members")
async def members(websocket: WebSocket):
    raise HTTPException(status_code=401, detail="members only")


@app.websocket("/broken")
async def broken(websocket: WebSocket):
    await websocket.accept()
    raise RuntimeError("bug")


@app.get("/")
def root():
    return {"hello": "world"}
"""

TEST_MODULE = """
import warnings

import pytest
from fastapi import WebSocketDisconnect

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import WebSocketDenialResponse


def test_echo(client):
    with client.websocket_connect("/ws") as websocket:
        websocket.send_text("hello")
        assert websocket.receive_text() == "Message text was: hello"


def test_items(client):
    with client.websocket_connect("/items/3?q=x") as websocket:
        assert websocket.receive_json() == {"item_id": 3, "q": "x"}
        with pytest.raises(WebSocketDisconnect) as exc:
            websocket.receive_text()
    assert (exc.value.code, exc.value.reason) == (4000, "done")


def test_private(client):
    with pytest.raises(WebSocketDisconnect) as exc:
        with client.websocket_connect("/private"):
            pass
    assert (exc.value.code, exc.value.reason) == (1008, "no entry")


def test_members(client):
    with pytest.raises(WebSocketDenialResponse) as exc:
        with client.websocket_connect("/members"):
            pass
    assert exc.value.status_code == 401


def test_broken(client):
    with pytest.raises(RuntimeError, match="bug"):
        with client.websocket_connect("/broken") as websocket:
            websocket.receive_text()


def test_http(client):
    assert client.get("/").json() == {"hello": "world"}
"""

TESTCLIENT_CONFTEST = """
import warnings

import pytest

from app_module import app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture
def client():
    return TestClient(app)
"""

LIVE_CONFTEST = """
import pytest

from app_module import app


@pytest.fixture
def client(wsbench_client):
    return wsbench_client(app)
"""


@pytest.mark.parametrize("conftest", [TESTCLIENT_CONFTEST, LIVE_CONFTEST], ids=["testclient", "live"])
def test_an_existing_testclient_suite_passes_with_the_fixture_swapped(pytester, conftest):
    """The same TestClient-style test file passes with TestClient(app) and with wsbench_client(app)."""
    pytester.makepyfile(app_module=APP_MODULE, test_ws=TEST_MODULE, conftest=conftest)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=6)


def test_plugin_is_loaded_by_entry_point(pytester):
    """A pytest run anywhere offers the fixtures, without -p: the pytest11 entry point loads the plugin."""
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider", timeout=60)
    result.stdout.fnmatch_lines(["*wsbench_client*", "*wsbench_bench*"])
    assert result.ret == 0


def test_the_entry_point_is_the_plugin_module():
    """The pytest11 entry point names the fixtures' module, not the live client's."""
    from importlib.metadata import entry_points

    import wsbench.pytest_plugin

    (point,) = [p for p in entry_points(group="pytest11") if p.name == "wsbench"]
    assert point.value == "wsbench.pytest_plugin"
    assert point.load() is wsbench.pytest_plugin


def test_the_plugin_registered_by_its_old_name_still_offers_the_fixtures(pytester, monkeypatch):
    """``pytest_plugins = ["wsbench.testing"]`` (or ``-p wsbench.testing``), written before the fixtures moved to
    wsbench.pytest_plugin, still offers them, with the entry point's autoload off."""
    pytester.makepyfile(
        test_old="""
        pytest_plugins = ["wsbench.testing"]

        def test_fixtures(wsbench_client, wsbench_bench):
            assert callable(wsbench_client) and wsbench_bench.running
        """
    )
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=1)


def test_the_fixtures_stay_importable_from_wsbench_testing():
    import wsbench.pytest_plugin
    import wsbench.testing

    assert wsbench.testing.wsbench_client is wsbench.pytest_plugin.wsbench_client
    assert wsbench.testing.wsbench_bench is wsbench.pytest_plugin.wsbench_bench
    assert {"wsbench_client", "wsbench_bench"} <= set(dir(wsbench.testing))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        wsbench.testing.nope  # noqa: B018


def test_the_live_client_needs_no_pytest():
    """wsbench.testing is a library (LiveClient in a script, or another runner): importing it loads no pytest."""
    code = "import sys, wsbench.testing; assert 'pytest' not in sys.modules, 'pytest loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_importing_the_plugin_starts_nothing():
    """Importing wsbench.pytest_plugin (as every pytest run does) or wsbench.testing starts no thread, loop or
    server."""
    code = textwrap.dedent(
        """
        import threading
        import wsbench.pytest_plugin, wsbench.testing, wsbench.loop, wsbench.server
        assert threading.active_count() == 1, threading.enumerate()
        assert wsbench.loop._loop is None
        assert not wsbench.server.Bench._running
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


# -- the caller's context reaches the endpoint, as through the TestClient's portal ----------------

request_scope: contextvars.ContextVar[str] = contextvars.ContextVar("request_scope", default="unset")
context_app = FastAPI()


@context_app.websocket("/context")
async def context_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(request_scope.get())
    request_scope.set("changed by the endpoint")  # stays in the endpoint's copy
    await websocket.close()


@pytest.mark.parametrize("kind", ["testclient", "live"])
def test_a_context_variable_the_test_sets_reaches_the_endpoint(kind, wsbench_client):
    """Starlette's TestClient runs the app in a copy of the caller's context (FastAPI's tests of
    yield-dependency scopes rely on it); the live session carries a copy too, and the endpoint's
    own changes do not leak back."""
    client = TestClient(context_app) if kind == "testclient" else wsbench_client(context_app)
    token = request_scope.set(f"set by the test ({kind})")
    try:
        with client.websocket_connect("/context") as session:
            assert session.receive_text() == f"set by the test ({kind})"
        assert request_scope.get() == f"set by the test ({kind})"
    finally:
        request_scope.reset(token)
    with client.websocket_connect("/context") as session:
        assert session.receive_text() == "unset"  # each session takes the context of its own call
