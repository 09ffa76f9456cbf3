"""wsbench.client against a real uvicorn server (wsbench.Bench) and the real websockets client."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Callable

import pytest
from fastapi import WebSocket

import wsbench
from wsbench.transcript import Transcript


def wait_until(predicate: Callable[[], object], timeout: float = 2.0) -> None:
    """Poll *predicate* (bounded) until it is true; fail the test if it never is."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def kinds(transcript: Transcript, side: str = "client") -> list[str]:
    """The kinds of *side*'s events, in order."""
    return [event.kind for event in transcript if event.side == side]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, noted, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- close-code validation ------------------------------------------------------


@pytest.mark.parametrize("code", [1005, 1006, 1015, 1004, 1016, 2999, 999, 5000])
def test_close_with_unsendable_code_raises_before_sending(bench, code):
    """close(code) with a code that may not be sent raises InvalidCloseCode and sends nothing."""
    conn = bench.connect("/echo")
    with pytest.raises(wsbench.InvalidCloseCode) as info:
        conn.close(code)
    assert str(code) in str(info.value)
    assert info.value.code == code
    assert conn.state == "open"
    assert len(conn.transcript.filter(kind="close")) == 0
    conn.send_text("still here")
    assert conn.receive_text(timeout=2) == "still here"


def test_close_with_124_byte_reason_raises_before_sending(bench):
    """close(1000, reason) with a 124-byte reason raises ReasonTooLong and sends nothing."""
    conn = bench.connect("/echo")
    with pytest.raises(wsbench.ReasonTooLong) as info:
        conn.close(1000, "x" * 124)
    assert info.value.size == 124
    assert "123" in str(info.value)
    assert conn.state == "open"
    assert len(conn.transcript.filter(kind="close")) == 0
    conn.send_text("still here")
    assert conn.receive_text(timeout=2) == "still here"


def test_close_with_123_byte_reason_is_sent(bench):
    """A reason of exactly 123 bytes is allowed and reaches the server."""
    conn = bench.connect("/echo")
    conn.close(4000, "x" * 123)
    assert conn.state == "closed"
    wait_until(lambda: bench.transcript.filter(kind="websocket.disconnect"))
    assert bench.transcript.filter(kind="websocket.disconnect")[0].reason == "x" * 123


def test_aclose_validates_the_code_too(bench):
    """aclose(1006) raises InvalidCloseCode before anything is sent."""
    conn = bench.connect("/echo")
    with pytest.raises(wsbench.InvalidCloseCode):
        asyncio.run(conn.aclose(1006))
    assert conn.state == "open"
    assert len(conn.transcript.filter(kind="close")) == 0


# -- bad URLs ---------------------------------------------------------------------------


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


def test_tls_options_on_a_ws_url_raise_invalid_url(bench):
    """ca_file= on a ws:// URL raises InvalidURL: there is no TLS to apply it to."""
    with pytest.raises(wsbench.InvalidURL, match="not a wss:// URL"):
        wsbench.connect(bench.url + "/echo", ca_file="/nonexistent.pem")


# -- errors when opening -------------------------------------------------------------


def test_refused_connection_raises_connection_refused():
    """Connecting to a loopback port nothing listens on raises ConnectionRefused."""
    port = free_port()
    with pytest.raises(wsbench.ConnectionRefused) as info:
        wsbench.connect(f"ws://127.0.0.1:{port}/", open_timeout=2)
    assert isinstance(info.value, wsbench.ConnectError)
    assert "connection refused" in str(info.value)


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


# -- errors when receiving ------------------------------------------------------


def test_receive_timeout_says_what_was_awaited(bench):
    """receive_text(timeout=0.2) with nothing sent raises Timeout (a TimeoutError) naming the call."""
    conn = bench.connect("/echo")
    start = time.monotonic()
    with pytest.raises(wsbench.Timeout) as info:
        conn.receive_text(timeout=0.2)
    assert 0.15 <= time.monotonic() - start < 1.5
    assert isinstance(info.value, TimeoutError)
    assert "receive_text" in str(info.value)
    assert "no message" in str(info.value)
    assert "0.2 s" in str(info.value)
    conn.send_text("after")
    assert conn.receive_text(timeout=2) == "after"


def test_wrong_message_type_keeps_the_message_queued(bench):
    """Bytes from the server: receive_text raises WrongMessageType, receive_bytes then returns them."""
    conn = bench.connect("/send?n=1&kind=bytes")
    with pytest.raises(wsbench.WrongMessageType) as info:
        conn.receive_text(timeout=2)
    assert isinstance(info.value, TypeError)
    assert "receive_bytes()" in str(info.value)
    assert conn.transcript.filter(kind="receive")[0].data == b"msg 0"
    assert conn.receive_bytes(timeout=2) == b"msg 0"


def test_wrong_message_type_the_other_way(bench):
    """Text from the server: receive_bytes raises WrongMessageType, receive_text then returns it."""
    conn = bench.connect("/echo")
    conn.send_text("words")
    with pytest.raises(wsbench.WrongMessageType, match="receive_text"):
        conn.receive_bytes(timeout=2)
    assert conn.receive_text(timeout=2) == "words"


def test_invalid_json_keeps_the_text_queued(bench):
    """receive_json on text that is not JSON raises InvalidJSON showing its start; the text stays queued."""
    conn = bench.connect("/echo")
    conn.send_text("not json {at all}")
    with pytest.raises(wsbench.InvalidJSON) as info:
        conn.receive_json(timeout=2)
    assert isinstance(info.value, ValueError)
    assert "'not json {at all}'" in str(info.value)
    assert conn.receive_text(timeout=2) == "not json {at all}"


def test_receive_json_binary_mode(bench):
    """receive_json(mode="binary") parses a binary message; send_json(mode="binary") sends one."""
    conn = bench.connect("/echo")
    conn.send_json({"x": 1}, mode="binary")
    assert conn.receive_json(mode="binary", timeout=2) == {"x": 1}


def test_server_close_raises_connection_closed_with_code_and_reason(bench):
    """The server closing with 4001 "bye": receive raises ConnectionClosed(4001, "bye") after the messages."""
    conn = bench.connect("/send?n=0&code=4001&reason=bye")
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive_text(timeout=2)
    assert info.value.code == 4001
    assert info.value.reason == "bye"
    assert not info.value.ok
    assert "4001 (private use) bye" in str(info.value)
    assert conn.state == "closed"
    assert conn.close_code == 4001
    assert conn.close_reason == "bye"


def test_messages_before_the_close_are_not_lost(bench):
    """Every message received before the close comes back, in order, before ConnectionClosed is raised."""
    conn = bench.connect("/send?n=5&code=4001&reason=bye")
    wait_until(lambda: conn.state == "closed")
    assert [conn.receive_text(timeout=1) for _ in range(5)] == [f"msg {i}" for i in range(5)]
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive_text(timeout=1)
    assert info.value.code == 4001
    with pytest.raises(wsbench.ConnectionClosed):  # and it keeps raising
        conn.receive(timeout=1)


def test_iter_text_ends_quietly_on_1000(bench):
    """iter_text yields every message and ends without raising when the server closes with 1000."""
    conn = bench.connect("/send?n=3&code=1000")
    assert list(conn.iter_text(timeout=2)) == ["msg 0", "msg 1", "msg 2"]
    assert conn.close_code == 1000


def test_iter_text_raises_on_4001_after_the_messages(bench):
    """iter_text yields every earlier message, then raises ConnectionClosed on a 4001 close."""
    conn = bench.connect("/send?n=3&code=4001&reason=bye")
    got = []
    with pytest.raises(wsbench.ConnectionClosed) as info:
        for text in conn.iter_text(timeout=2):
            got.append(text)
    assert got == ["msg 0", "msg 1", "msg 2"]
    assert info.value.code == 4001


def test_iter_limit_stops_and_leaves_the_rest_queued(bench):
    """iter_text(limit=2) yields two messages; the third stays queued."""
    conn = bench.connect("/send?n=3")
    assert list(conn.iter_text(limit=2, timeout=2)) == ["msg 0", "msg 1"]
    assert conn.receive_text(timeout=2) == "msg 2"


@pytest.mark.parametrize(
    ("kind", "method", "expected"),
    [
        ("text", "iter_messages", ["msg 0", "msg 1"]),
        ("bytes", "iter_bytes", [b"msg 0", b"msg 1"]),
        ("json", "iter_json", [{"i": 0}, {"i": 1}]),
    ],
)
def test_iter_variants_with_limit(bench, kind, method, expected):
    """iter_messages / iter_bytes / iter_json honour limit= too."""
    conn = bench.connect(f"/send?n=4&kind={kind}")
    assert list(getattr(conn, method)(limit=2, timeout=2)) == expected


def test_iter_limit_zero_yields_nothing(bench):
    """iter_text(limit=0) yields nothing and consumes nothing."""
    conn = bench.connect("/send?n=1")
    assert list(conn.iter_text(limit=0, timeout=2)) == []
    assert conn.receive_text(timeout=2) == "msg 0"


# -- sending ---------------------------------------------------------------------


def test_send_json_is_compact(bench):
    """send_json writes compact JSON, as Starlette's send_json does."""
    conn = bench.connect("/echo")
    conn.send_json({"a": [1, 2]})
    assert conn.receive_text(timeout=2) == '{"a":[1,2]}'


def test_send_json_keeps_non_ascii(bench):
    """send_json does not escape non-ASCII (ensure_ascii=False, like Starlette)."""
    conn = bench.connect("/echo")
    conn.send_json({"name": "Zoë"})
    assert conn.receive_text(timeout=2) == '{"name":"Zoë"}'


def test_json_round_trip_through_starlette(bench):
    """send_json / receive_json round-trip through Starlette's receive_json / send_json."""
    conn = bench.connect("/json")
    conn.send_json({"a": [1, 2], "b": None})
    assert conn.receive_json(timeout=2) == {"a": [1, 2], "b": None}


def test_send_json_unserialisable_raises_before_sending(bench):
    """send_json of a value JSON cannot encode raises TypeError and sends nothing."""
    conn = bench.connect("/echo")
    with pytest.raises(TypeError):
        conn.send_json({"when": object()})
    assert len(conn.transcript.filter(kind="send")) == 0
    conn.send_text("fine")
    assert conn.receive_text(timeout=2) == "fine"
    assert [e.data for e in conn.transcript.filter(kind="send")] == ["fine"]


def test_send_text_with_bytes_names_send_bytes(bench):
    """send_text(b"...") raises TypeError pointing at send_bytes."""
    conn = bench.connect("/echo")
    with pytest.raises(TypeError, match=r"send_bytes\(\)"):
        conn.send_text(b"raw")
    with pytest.raises(TypeError, match=r"send_text\(\)"):
        conn.send_bytes("text")
    assert len(conn.transcript.filter(kind="send")) == 0


def test_send_bytes_echo(bench):
    """send_bytes accepts bytes, bytearray and memoryview and the echo returns bytes."""
    conn = bench.connect("/echo")
    for data in (b"\x00\x01", bytearray(b"ab"), memoryview(b"cd")):
        conn.send_bytes(data)
    assert [conn.receive_bytes(timeout=2) for _ in range(3)] == [b"\x00\x01", b"ab", b"cd"]


def test_send_after_close_raises_connection_closed(bench):
    """Sending on a closed connection raises ConnectionClosed."""
    conn = bench.connect("/echo")
    conn.close()
    with pytest.raises(wsbench.ConnectionClosed, match="cannot send"):
        conn.send_text("late")


def test_many_sends_in_a_row_arrive_in_order(bench):
    """Many sends in a row, with no receive between them, all arrive, in order."""
    conn = bench.connect("/echo")
    count = 200
    for i in range(count):
        conn.send_text(str(i))
    assert list(conn.iter_text(limit=count, timeout=2)) == [str(i) for i in range(count)]


def test_sends_before_close_reach_the_server_first(bench):
    """Messages sent just before close() all reach the server before the close frame."""

    @bench.websocket("/sink")
    async def sink(websocket: WebSocket) -> None:  # reads only: an echo could fail on a send after the close
        await websocket.accept()
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    conn = bench.connect("/sink")
    for i in range(20):
        conn.send_text(str(i))
    conn.close(4000, "done")
    wait_until(lambda: bench.transcript.filter(kind="websocket.disconnect"))
    server = bench.transcript.filter(side="server")
    received = [e.data for e in server.filter(kind="websocket.receive")]
    assert received == [str(i) for i in range(20)]
    assert [e.kind for e in server].index("websocket.disconnect") > [e.kind for e in server].index("websocket.receive")


# -- ping, close, state, repr ----------------------------------------------------


def test_ping_returns_a_positive_float(bench):
    """ping() returns the round-trip time, a positive float, and records ping and pong."""
    conn = bench.connect("/echo")
    latency = conn.ping(timeout=2)
    assert isinstance(latency, float)
    assert 0 < latency < 2
    assert kinds(conn.transcript)[-2:] == ["ping", "pong"]


def test_close_is_idempotent(bench):
    """Closing twice closes once: one "close" event, no error."""
    conn = bench.connect("/echo")
    conn.close(4000, "done")
    conn.close(4000, "done")
    conn.close()
    assert conn.state == "closed"
    assert len(conn.transcript.filter(kind="close")) == 1


def test_context_manager_closes(bench):
    """Leaving a with block closes the connection with 1000."""
    with bench.connect("/echo") as conn:
        conn.send_text("x")
        assert conn.receive_text(timeout=2) == "x"
        assert conn.state == "open"
    assert conn.state == "closed"
    assert conn.close_code == 1000
    assert conn.transcript.filter(kind="close")[0].code == 1000


def test_state_and_close_details(bench):
    """state, close_code and close_reason follow the connection through its life."""
    conn = bench.connect("/echo")
    assert conn.state == "open"
    assert conn.close_code is None
    assert conn.close_reason is None
    assert conn.subprotocol is None
    conn.close(4000, "bye")
    assert conn.state == "closed"
    assert conn.close_code == 4000  # the server's close frame echoes ours
    assert conn.close_reason == "bye"


def test_response_headers_are_lowercase(bench):
    """response_headers holds the 101 response's headers with lower-case names."""
    conn = bench.connect("/echo")
    assert conn.response_headers["upgrade"].lower() == "websocket"
    assert "sec-websocket-accept" in conn.response_headers
    assert all(name == name.lower() for name in conn.response_headers)


def test_repr_has_no_port(bench):
    """repr(conn) shows the path and state but not the port."""
    conn = bench.connect("/send?n=0&code=4001&reason=bye")
    wait_until(lambda: conn.state == "closed")
    text = repr(conn)
    assert str(bench.port) not in text
    assert text == "<Connection /send?n=0&code=4001&reason=bye closed 4001 (private use) bye>"


def test_transcript_text_has_no_port(bench):
    """The connection's transcript text names the path, not the host and port."""
    conn = bench.connect("/echo")
    conn.send_text("hi")
    conn.receive_text(timeout=2)
    conn.close()
    text = str(conn.transcript)
    assert "connect /echo" in text
    assert str(bench.port) not in text


def test_params_are_added_to_the_query(bench):
    """params= adds a query string that the endpoint sees."""
    conn = bench.connect("/send", params={"n": 1, "code": 4002})
    assert list(conn.iter_text(limit=1, timeout=2)) == ["msg 0"]
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive_text(timeout=2)
    assert info.value.code == 4002


# -- the async API ------------------------------------------------------------------


def test_async_api_echo(bench):
    """aconnect / asend_text / areceive_text / aiter_text / aclose work inside asyncio.run."""

    async def main() -> tuple[str, list[str], str, int | None]:
        conn = await bench.aconnect("/echo")
        await conn.asend_text("one")
        first = await conn.areceive_text(timeout=2)
        await conn.asend_text("two")
        await conn.asend_text("three")
        rest = [text async for text in conn.aiter_text(limit=2, timeout=2)]
        await conn.asend_bytes(b"\x01")
        assert await conn.areceive_bytes(timeout=2) == b"\x01"
        await conn.asend_json({"a": 1})
        assert await conn.areceive_json(timeout=2) == {"a": 1}
        await conn.aclose(4000, "async bye")
        return first, rest, conn.state, conn.close_code

    assert asyncio.run(main()) == ("one", ["two", "three"], "closed", 4000)


def test_async_receive_timeout(bench):
    """areceive_text(timeout=0.2) with nothing sent raises Timeout; the connection keeps working."""

    async def main() -> str:
        conn = await bench.aconnect("/echo")
        with pytest.raises(wsbench.Timeout, match="areceive_text"):
            await conn.areceive_text(timeout=0.2)
        await conn.asend_text("after")
        return await conn.areceive_text(timeout=2)

    assert asyncio.run(main()) == "after"


def test_async_iter_ends_quietly_and_context_manager(bench):
    """aiter_text ends quietly on 1000; async with closes the connection."""

    async def main() -> tuple[list[str], int | None]:
        async with await bench.aconnect("/send?n=2") as conn:
            texts = [text async for text in conn.aiter_text(timeout=2)]
        return texts, conn.close_code

    assert asyncio.run(main()) == (["msg 0", "msg 1"], 1000)


def test_async_wait_that_timed_out_loses_nothing(bench):
    """areceive timing out, then waiting again: every later message still arrives, then the close."""

    async def main() -> tuple[list[str], int]:
        conn = await bench.aconnect("/send?n=3&delay=0.3&code=4001")
        with pytest.raises(wsbench.Timeout):
            await conn.areceive_text(timeout=0.05)
        texts = [await conn.areceive_text(timeout=2) for _ in range(3)]
        with pytest.raises(wsbench.ConnectionClosed) as info:
            await conn.areceive_text(timeout=2)
        assert len(conn.transcript.filter(kind="error")) == 0
        return texts, info.value.code

    assert asyncio.run(main()) == (["msg 0", "msg 1", "msg 2"], 4001)


def test_sync_call_on_the_loop_an_async_connection_lives_on_is_refused(bench):
    """A blocking call from the thread whose loop runs an aconnect() connection raises instead of hanging."""

    async def main() -> str:
        conn = await bench.aconnect("/echo")
        with pytest.raises(RuntimeError, match=r"await conn\.areceive_text"):
            conn.receive_text(timeout=1)
        with pytest.raises(RuntimeError, match=r"await conn\.asend_text"):
            conn.send_text("not like this")
        await conn.asend_text("still fine")
        text = await conn.areceive_text(timeout=2)
        await conn.aclose()
        return text

    assert asyncio.run(main()) == "still fine"


def test_async_and_sync_waiters_on_other_loops_are_all_woken(bench):
    """A timed-out async wait from a finished loop does not stop a live async waiter from being woken."""
    conn = bench.connect("/echo")

    async def time_out() -> None:
        with pytest.raises(wsbench.Timeout):
            await conn.areceive_text(timeout=0.05)

    asyncio.run(time_out())

    async def echo() -> str:
        await conn.asend_text("woken")
        return await conn.areceive_text(timeout=2)

    assert asyncio.run(echo()) == "woken"


def test_sync_receive_inside_the_loop_raises_runtime_error(bench):
    """A sync receive_* on the wsbench loop (e.g. in an endpoint) raises RuntimeError instead of freezing it."""
    conn = bench.connect("/echo")
    conn.send_text("queued")

    async def on_the_loop() -> list[str]:
        messages = []
        for call in (conn.receive_text, conn.receive_json):
            with pytest.raises(RuntimeError) as info:
                call(timeout=0.5)
            messages.append(str(info.value))
        return messages

    start = time.monotonic()
    messages = wsbench.loop.run(on_the_loop(), timeout=2, what="test")
    assert time.monotonic() - start < 0.4  # refused at once, not after blocking the loop for 0.5 s
    assert messages[0].startswith("receive_text: ")
    assert all("deadlock" in message and "await conn.a" in message for message in messages)
    assert conn.receive_text(timeout=2) == "queued"


def test_module_level_aconnect(bench):
    """wsbench.aconnect opens a connection to any ws:// URL from a coroutine; aping answers."""

    async def main() -> float:
        conn = await wsbench.aconnect(bench.url + "/echo")
        latency = await conn.aping(timeout=2)
        await conn.aclose()
        return latency

    assert asyncio.run(main()) > 0


# -- KeyboardInterrupt ------------------------------------------------------------


def test_keyboard_interrupt_cancels_only_the_wait(bench):
    """A real SIGINT during receive_text raises KeyboardInterrupt; the connection and bench go on working."""
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    conn = bench.connect("/echo")
    timer = threading.Timer(0.2, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    start = time.monotonic()
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            conn.receive_text(timeout=5)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - start < 2
    assert conn.state == "open"
    conn.send_text("still here")
    assert conn.receive_text(timeout=2) == "still here"
    other = bench.connect("/echo")
    other.send_text("new")
    assert other.receive_text(timeout=2) == "new"


def test_open_is_recorded_before_a_message_sent_right_after_accept(bench):
    """A greeting sent right after accept() is recorded after "open", in the recorded order too."""

    @bench.websocket("/greet")
    async def greet(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.receive()

    for _ in range(10):
        conn = bench.connect("/greet")
        assert conn.receive_text(timeout=2) == "hello"
        kinds = [e.kind for e in conn.transcript if e.side == "client"]
        assert kinds[:3] == ["connect", "open", "receive"]
        conn.close()


def test_local_and_remote_address(bench):
    """local_address is the client's own (host, port), the one the endpoint sees as websocket.client."""
    seen = {}

    @bench.websocket("/who")
    async def who(websocket: WebSocket) -> None:
        seen["client"] = tuple(websocket.client)
        await websocket.accept()
        await websocket.close()

    conn = bench.connect("/who")
    conn.wait_endpoint(timeout=2)
    assert tuple(conn.local_address) == seen["client"]
    assert conn.remote_address[1] == bench.port


def test_wait_endpoint_needs_a_bench_and_times_out():
    """wait_endpoint raises BenchError off a bench, and Timeout while the endpoint still runs."""
    with wsbench.Bench(name="wait-endpoint-test") as bench:

        @bench.websocket("/linger")
        async def linger(websocket: WebSocket) -> None:
            await websocket.accept()
            await asyncio.sleep(0.5)

        conn = bench.connect("/linger")
        with pytest.raises(wsbench.Timeout, match="still running"):
            conn.wait_endpoint(timeout=0.1)
        conn.wait_endpoint(timeout=3)
        external = wsbench.connect(bench.url + "/linger")
        with pytest.raises(wsbench.BenchError):
            external.wait_endpoint()
        external.close()


def test_refused_message_names_host_and_port():
    """ConnectionRefused names the host and port that refused, so the user can check the server."""
    port = free_port()
    with pytest.raises(wsbench.ConnectionRefused, match=rf"127\.0\.0\.1:{port} "):
        wsbench.connect(f"ws://127.0.0.1:{port}/x", open_timeout=2)


def test_client_only_transcript_keeps_the_recorded_order(make_bench):
    """A connection to a URL records no server side: the text keeps the client's own order
    (each echo after the send that caused it), not the reader's events first."""
    bench = make_bench()
    conn = wsbench.connect(bench.url + "/echo", timeout=5)
    for word in ("one", "two"):
        conn.send_text(word)
        assert conn.receive_text() == word
    conn.close()
    lines = [line.split(None, 1)[1] for line in conn.transcript.text().splitlines()]
    assert lines == [
        "connect /echo",
        "open",
        "→ text 'one'",
        "← text 'one'",
        "→ text 'two'",
        "← text 'two'",
        "→ close 1000 (OK)",
        "closed: sent 1000 (OK); then received 1000 (OK)",
    ]


def test_wait_closed_returns_the_close_code_or_times_out(bench):
    conn = bench.connect("/send?n=1&code=4001&reason=done", timeout=5)
    assert conn.wait_closed() == 4001
    assert conn.receive_text() is not None  # what came before the close stays queued
    echo = bench.connect("/echo", timeout=5)
    with pytest.raises(wsbench.Timeout, match=r"still open after 0\.05 s"):
        echo.wait_closed(timeout=0.05)
    echo.close()
    assert echo.wait_closed() == 1000


def test_await_closed(bench):
    async def main() -> int:
        conn = await bench.aconnect("/send?n=0&code=4002", timeout=5)
        return await conn.await_closed()

    assert asyncio.run(main()) == 4002
