"""wsbench.client.connection: a Connection's send, receive, iterate, ping, close and state, in its
sync and async forms, against a real uvicorn server (wsbench.Bench) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator

import pytest
from conftest import blocked_in, wait_until
from fastapi import WebSocket
from websockets.sync.server import ServerConnection, serve

import wsbench
from wsbench.transcript import Transcript


def kinds(transcript: Transcript, side: str = "client") -> list[str]:
    """The kinds of *side*'s events, in order."""
    return [event.kind for event in transcript if event.side == side]


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


# -- receiving ------------------------------------------------------------------


def test_receive_timeout_says_what_was_awaited(bench):
    """receive_text(timeout=0.2) with nothing sent raises Timeout (a TimeoutError) naming the call; the
    connection keeps working."""
    conn = bench.connect("/echo")
    with pytest.raises(wsbench.Timeout) as info:
        conn.receive_text(timeout=0.2)
    assert isinstance(info.value, TimeoutError)
    assert "receive_text" in str(info.value)
    assert "no message" in str(info.value)
    assert "0.2 s" in str(info.value)
    conn.send_text("after")
    assert conn.receive_text(timeout=2) == "after"


@pytest.mark.parametrize("option", ["timeout", "open_timeout"])
@pytest.mark.parametrize("pairing", ["bench", "plain"])
def test_a_quiet_server_does_not_end_the_connection_after_timeout(bench, pairing, option):
    """timeout= bounds writes and open_timeout= the handshake, not silence: a server quiet for 3x that
    long leaves the connection open.

    Writes are bounded by a socket timeout where websockets' sync reader waits in select() before it
    reads (websockets 17.3 and later); before 17.3 it calls recv() at once, so that socket timeout, or
    the one left on a bench connection's socket from its TCP connect (open_timeout), dropped the
    connection (1006, no close frame) after that many seconds of silence. There (every websockets on
    Python 3.10) a timer bounds each write instead, and the connect's timeout is cleared."""
    options = {option: 0.2}
    url = bench.url_for("/echo")
    conn = bench.connect("/echo", **options) if pairing == "bench" else wsbench.connect(url, **options)
    with pytest.raises(wsbench.Timeout):
        conn.receive_text(timeout=0.6)
    assert conn.state == "open", conn.transcript
    conn.send_text("still here")
    assert conn.receive_text(timeout=2) == "still here"
    conn.close()
    assert [e.kind for e in conn.transcript if e.side == "client"][-1] == "closed"
    assert conn.close_code == 1000


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


# -- iterating ------------------------------------------------------------------


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


# -- iterating, async -------------------------------------------------------------

#: (the /send endpoint's kind, the async iterator, what /send's first three messages become)
AITER = [
    ("text", "aiter_messages", ["msg 0", "msg 1", "msg 2"]),
    ("text", "aiter_text", ["msg 0", "msg 1", "msg 2"]),
    ("bytes", "aiter_bytes", [b"msg 0", b"msg 1", b"msg 2"]),
    ("json", "aiter_json", [{"i": 0}, {"i": 1}, {"i": 2}]),
]
AITER_IDS = [method for _, method, _ in AITER]


@pytest.mark.parametrize(("kind", "method", "expected"), AITER, ids=AITER_IDS)
def test_aiter_yields_every_message_in_order_and_ends_quietly_on_1000(bench, kind, method, expected):
    """aiter_messages / aiter_text / aiter_bytes / aiter_json yield every message in order and end
    without raising when the server closes with 1000."""

    async def main() -> tuple[list[object], int | None]:
        conn = await bench.aconnect(f"/send?n=3&kind={kind}&code=1000")
        got = [message async for message in getattr(conn, method)(timeout=2)]
        return got, conn.close_code

    assert asyncio.run(main()) == (expected, 1000)


@pytest.mark.parametrize(("kind", "method", "expected"), AITER, ids=AITER_IDS)
def test_aiter_limit_stops_and_leaves_the_rest_queued(bench, kind, method, expected):
    """aiter_*(limit=2) yields two messages and leaves the third queued for the next call."""

    async def main() -> tuple[list[object], list[object], list[object]]:
        conn = await bench.aconnect(f"/send?n=3&kind={kind}")
        first = [message async for message in getattr(conn, method)(limit=2, timeout=2)]
        none = [message async for message in getattr(conn, method)(limit=0, timeout=2)]
        rest = [message async for message in getattr(conn, method)(limit=1, timeout=2)]
        await conn.aclose()
        return first, none, rest

    assert asyncio.run(main()) == (expected[:2], [], expected[2:])


@pytest.mark.parametrize(("kind", "method", "expected"), AITER, ids=AITER_IDS)
def test_aiter_raises_on_4001_after_the_messages(bench, kind, method, expected):
    """aiter_* yields every earlier message, then raises ConnectionClosed on a 4001 close."""

    async def main() -> tuple[list[object], int]:
        conn = await bench.aconnect(f"/send?n=3&kind={kind}&code=4001&reason=bye")
        got: list[object] = []
        with pytest.raises(wsbench.ConnectionClosed) as info:
            async for message in getattr(conn, method)(timeout=2):
                got.append(message)
        return got, info.value.code

    assert asyncio.run(main()) == (expected, 4001)


def test_aiter_messages_yields_text_and_bytes_as_they_came(bench):
    """aiter_messages yields each message as it came: str for text, bytes for binary, in order."""

    async def main() -> list[object]:
        conn = await bench.aconnect("/echo")
        await conn.asend_text("one")
        await conn.asend_bytes(b"\x02")
        await conn.asend_text("three")
        got = [message async for message in conn.aiter_messages(limit=3, timeout=2)]
        await conn.aclose()
        return got

    assert asyncio.run(main()) == ["one", b"\x02", "three"]


def test_aiter_bytes_and_aiter_json_stop_at_a_message_they_cannot_take(bench):
    """aiter_bytes meeting text raises WrongMessageType, aiter_json meeting non-JSON InvalidJSON; the
    message stays queued for the receive that can take it."""

    async def main() -> str:
        conn = await bench.aconnect("/echo")
        await conn.asend_text("not json")
        with pytest.raises(wsbench.WrongMessageType):
            [message async for message in conn.aiter_bytes(limit=1, timeout=2)]
        with pytest.raises(wsbench.InvalidJSON):
            [message async for message in conn.aiter_json(limit=1, timeout=2)]
        text = await conn.areceive_text(timeout=2)
        await conn.aclose()
        return text

    assert asyncio.run(main()) == "not json"


# -- sending ---------------------------------------------------------------------


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
    assert latency > 0
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

    @bench.websocket("/on-request")
    async def on_request(websocket: WebSocket) -> None:  # silent until asked
        await websocket.accept()
        await websocket.receive_text()
        for i in range(3):
            await websocket.send_text(f"msg {i}")
        await websocket.close(4001)

    async def main() -> tuple[list[str], int]:
        conn = await bench.aconnect("/on-request")
        with pytest.raises(wsbench.Timeout):
            await conn.areceive_text(timeout=0.05)
        await conn.asend_text("now")
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
    """A sync receive_* on the wsbench loop (e.g. in an endpoint) raises RuntimeError at once instead of
    freezing the loop."""
    conn = bench.connect("/echo")
    conn.send_text("queued")

    async def on_the_loop() -> list[str]:
        messages = []
        for call in (conn.receive_text, conn.receive_json):
            with pytest.raises(RuntimeError) as info:
                call(timeout=30)  # a wait of its own would outlast run()'s bound below: run() would raise Timeout
            messages.append(str(info.value))
        return messages

    messages = wsbench.loop.run(on_the_loop(), timeout=5, what="test")
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
    main = threading.main_thread()
    assert threading.current_thread() is main
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    conn = bench.connect("/echo")

    def interrupt() -> None:  # once the main thread waits inside receive_text, not after a guessed time
        wait_until(lambda: blocked_in(main, wsbench.Connection.receive_text))
        signal.pthread_kill(main.ident or 0, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt, name="interrupter", daemon=True)
    try:
        interrupter.start()
        with pytest.raises(KeyboardInterrupt):
            conn.receive_text(timeout=30)  # without the SIGINT: a Timeout, and the test fails
    finally:
        interrupter.join(10)
        signal.signal(signal.SIGINT, previous)
    assert conn.state == "open"
    conn.send_text("still here")
    assert conn.receive_text(timeout=2) == "still here"
    other = bench.connect("/echo")
    other.send_text("new")
    assert other.receive_text(timeout=2) == "new"


# -- addresses, the endpoint, the end ----------------------------------------------


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


def test_wait_endpoint_needs_a_bench_and_times_out(bench):
    """wait_endpoint raises Timeout while the endpoint still runs, returns once it ended, and raises
    BenchError on a connection opened by URL (no bench to ask)."""

    @bench.websocket("/linger")
    async def linger(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive()  # runs until the client closes

    conn = bench.connect("/linger")
    with pytest.raises(wsbench.Timeout, match="still running"):
        conn.wait_endpoint(timeout=0.1)
    conn.close()
    conn.wait_endpoint(timeout=3)
    external = wsbench.connect(bench.url + "/linger")
    with pytest.raises(wsbench.BenchError):
        external.wait_endpoint()
    external.close()


def test_wait_closed_returns_the_close_code_or_times_out(bench):
    """wait_closed() returns the close code once the connection is closed (what came before stays queued),
    and raises Timeout while it is still open."""
    conn = bench.connect("/send?n=1&code=4001&reason=done", timeout=5)
    assert conn.wait_closed() == 4001
    assert conn.receive_text() is not None  # what came before the close stays queued
    echo = bench.connect("/echo", timeout=5)
    with pytest.raises(wsbench.Timeout, match=r"still open after 0\.05 s"):
        echo.wait_closed(timeout=0.05)
    echo.close()
    assert echo.wait_closed() == 1000


def test_await_closed(bench):
    """await_closed() is the coroutine form of wait_closed(): it returns the server's close code."""

    async def main() -> int:
        conn = await bench.aconnect("/send?n=0&code=4002", timeout=5)
        return await conn.await_closed()

    assert asyncio.run(main()) == 4002


# -- size limits are enforced before buffering -------------------------------------------------------


def test_message_over_max_size_is_refused_with_1009_and_not_delivered(make_bench):
    """A message larger than max_size fails the connection with 1009; it never reaches the inbox or the transcript."""
    bench = make_bench(endpoints=False)

    @bench.websocket("/big")
    async def big(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_bytes(b"x" * 2000)
        await websocket.receive()

    conn = bench.connect("/big", max_size=1000)
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive(timeout=5)
    assert info.value.sent_code == 1009
    assert "message too big" in str(info.value)
    conn.wait_endpoint()
    assert conn.transcript.filter(side="client", kind="receive").events == []
    [disconnect] = conn.transcript.filter(side="server", kind="websocket.disconnect")
    assert disconnect.code == 1009  # the server was told why
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive(timeout=0.1)  # nothing queued behind the error either


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[ServerConnection], None]], str]]:
    """Factory: a plain websockets server on 127.0.0.1 running *handler*; returns its ws:// URL."""
    servers = []

    def start(handler: Callable[[ServerConnection], None]) -> str:
        server = serve(handler, "127.0.0.1", 0)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"

    yield start
    for server in servers:
        server.shutdown()


def test_size_limit_is_checked_on_the_frame_header_before_the_payload(raw_server):
    """A frame header announcing 1 TiB is refused with 1009 on the header alone: the payload never comes,
    so the connection is failed without waiting for (or buffering) it."""

    def announce_a_huge_frame(ws: ServerConnection) -> None:
        ws.socket.sendall(b"\x82\x7f" + (2**40).to_bytes(8, "big"))  # binary, 64-bit length, no payload follows
        try:
            ws.recv(timeout=5)
        except Exception:
            pass

    conn = wsbench.connect(raw_server(announce_a_huge_frame), max_size=1000)
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive(timeout=5)
    assert info.value.sent_code == 1009
    assert conn.transcript.filter(kind="receive").events == []


def test_size_limit_counts_every_fragment_of_a_message(raw_server):
    """Fragments that are small alone but over max_size together are refused with 1009, the message not delivered."""

    def send_in_fragments(ws: ServerConnection) -> None:
        ws.send(["x" * 400, "x" * 400, "x" * 400])  # one text message in three frames: 1200 bytes
        try:
            ws.recv(timeout=5)
        except Exception:
            pass

    conn = wsbench.connect(raw_server(send_in_fragments), max_size=1000)
    with pytest.raises(wsbench.ConnectionClosed) as info:
        conn.receive(timeout=5)
    assert info.value.sent_code == 1009
    assert conn.transcript.filter(kind="receive").events == []


def test_use_after_close_says_the_connection_is_closed(bench):
    """send/receive after close() say the connection is closed, then how it closed (not only the close frames)."""
    conn = bench.connect("/echo")
    conn.close(4001, "done")
    for call in (lambda: conn.send_text("late"), lambda: conn.receive_text(timeout=1)):
        with pytest.raises(wsbench.ConnectionClosed) as info:
            call()
        assert "the connection is closed: close() was called" in str(info.value)
        assert "sent 4001 (private use) done" in str(info.value)
