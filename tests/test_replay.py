"""Tests for wsbench.replay: replay a recorded client side against a real server and diff the answers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI, WebSocket
from IPython.lib.pretty import pretty

import wsbench
import wsbench.conversation
import wsbench.replay
from wsbench.conversation import expect_close
from wsbench.errors import ConnectionRefused, InvalidTranscript, InvalidURL
from wsbench.replay import Difference, ReplayResult, replay, target_url
from wsbench.transcript import Event, Transcript

FAST = 0.4  # seconds to wait for a message the changed server never sends


def _api(bench: wsbench.Bench, *, step: int = 1, close: tuple[int, str] | None = None, extra: bool = False) -> None:
    """Register /api: answers each text with {"id", "n", "echo", "ts"}; *step* changes n, *close* ends it."""

    @bench.websocket("/api")
    async def api(websocket: WebSocket) -> None:
        await websocket.accept()
        n = 0
        async for text in websocket.iter_text():
            n += 1
            await websocket.send_json({"id": 100 * step + n, "n": n * step, "echo": text, "ts": f"t{step}.{n}"})
            if extra:
                await websocket.send_text("and one more")
            if text == "bye":
                await websocket.close(*(close or (1000, "")))
                return


def _record(
    bench: wsbench.Bench, path: str = "/api", texts: tuple[str, ...] = ("a", "b", "bye"), **options
) -> Transcript:
    """Talk to *path* (one answer per text, the last one closes) and return the transcript, saved and reloaded."""
    conn = bench.connect(path, **options)
    for text in texts:
        conn.send_text(text)
        conn.receive()
    if conn.state == "open":
        expect_close(conn)
    return Transcript.from_jsonl(conn.transcript.to_jsonl(unmasked=True))


def test_replay_of_a_saved_transcript_against_the_same_server_is_ok(bench, tmp_path: Path):
    """Record, save as JSON Lines, load, replay against the same server: ok, no differences."""
    _api(bench)
    conn = bench.connect("/api?room=1")
    conn.send_text("a")
    assert conn.receive_json()["n"] == 1
    conn.close(4001, "bye")
    loaded = Transcript.load(conn.transcript.save(tmp_path / "api.jsonl"))
    result = loaded.replay(bench, ignore=["$.ts"])
    assert isinstance(result, ReplayResult)
    assert result.ok and bool(result) and result.differences == []
    assert str(result) == result.text() == "replay of /api?room=1: same answers (6 lines)"
    assert repr(result) == "<ReplayResult /api?room=1: ok>"
    assert result.expected == result.got


def test_a_changed_payload_is_a_readable_diff_naming_the_json_path(bench):
    """A server that answers differently: one 'message changed' per message, with the JSON paths."""
    _api(bench)
    recorded = _record(bench)
    _api(bench, step=2)
    result = replay(recorded, bench)
    assert not result.ok
    assert [d.what for d in result.differences] == ["message changed"] * 3
    first = result.differences[0]
    assert isinstance(first, Difference)
    assert first.position == 4
    assert first.expected == """← text '{"id":101,"n":1,"echo":"a","ts":"t1.1"}'"""
    assert first.got == """← text '{"id":201,"n":2,"echo":"a","ts":"t2.1"}'"""
    assert first.details == ("$.id: 101 != 201", "$.n: 1 != 2", '$.ts: "t1.1" != "t2.1"')
    text = result.text()
    assert text.splitlines()[:8] == [
        "replay of /api: 3 differences (- recorded, + replayed)",
        "@@ line 4: message changed @@",
        "  → text 'a'",
        """- ← text '{"id":101,"n":1,"echo":"a","ts":"t1.1"}'""",
        """+ ← text '{"id":201,"n":2,"echo":"a","ts":"t2.1"}'""",
        "    $.id: 101 != 201",
        "    $.n: 1 != 2",
        '    $.ts: "t1.1" != "t2.1"',
    ]
    assert pretty(result) == text


def test_ignore_paths_hide_id_and_timestamp_but_not_other_differences(bench):
    """ignore=["$.id", "$.ts"] removes those fields from both sides; the changed "n" still shows."""
    _api(bench)
    recorded = _record(bench)
    _api(bench, step=2)
    result = replay(recorded, bench, ignore=["$.id", "$.ts"])
    assert [d.details for d in result.differences] == [("$.n: 1 != 2",), ("$.n: 2 != 4",), ("$.n: 3 != 6",)]
    assert "$.id" not in result.text() and "$.ts" not in result.text()
    # Only the ignored fields changed: ok.
    _api(bench, step=1)
    recorded_other = _record(bench)
    assert replay(recorded_other, bench, ignore="$.ts").ok  # one path as a plain string works too


def test_ignore_paths_reach_into_lists(bench):
    """$.items[*].ts ignores a field in every element of a list."""
    stamp = {"value": 1}

    @bench.websocket("/items")
    async def items(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        await websocket.send_json({"items": [{"k": "a", "ts": stamp["value"]}, {"k": "b", "ts": stamp["value"]}]})
        await websocket.close()

    recorded = _record(bench, "/items", texts=("go",))
    stamp["value"] = 2
    assert not replay(recorded, bench).ok
    result = replay(recorded, bench, ignore=["$.items[*].ts"])
    assert result.ok, result.text()


def test_bad_ignore_path_raises_value_error_naming_it(bench):
    """A JSON path that does not parse is a ValueError naming the path, before anything connects."""
    recorded = Transcript([Event(1, 0.0, "client", "connect", 1, "ws://127.0.0.1:1/echo")])
    with pytest.raises(ValueError, match=r"ignore path '\$\.items\[' is not a valid JSON path"):
        replay(recorded, bench, ignore=["$.id", "$.items["])


def test_a_changed_close_code_and_reason(bench):
    """The server closes with another code and reason: 'close changed', code and reason named."""
    _api(bench, close=(1000, ""))
    recorded = _record(bench)
    _api(bench, close=(4000, "enough"))
    result = replay(recorded, bench)
    assert [(d.what, d.position) for d in result.differences] == [("close changed", 9)]
    (difference,) = result.differences
    assert difference.expected == "closed: received 1000 (OK); then sent 1000 (OK)"
    assert difference.got == "closed: received 4000 (private use) enough; then sent 4000 (private use) enough"
    assert difference.details == ("code: 1000 != 4000", "reason: '' != 'enough'")


def test_extra_and_missing_messages(bench):
    """One more message per answer shows as 'extra message'; a server that stays silent as 'missing message'."""
    _api(bench)
    recorded = _record(bench)
    _api(bench, extra=True)
    result = replay(recorded, bench, ignore=["$.ts"])
    assert [d.what for d in result.differences] == ["extra message"] * 3
    assert [d.got for d in result.differences] == ["← text 'and one more'"] * 3
    assert [d.position for d in result.differences] == [6, 8, 9]
    assert "@@ before line 6: extra message @@" in result.text()
    # Nothing received is lost: the replay's own transcript has every message.
    received = [e.data for e in result.transcript if e.side == "client" and e.kind == "receive"]
    assert received.count("and one more") == 3 and len(received) == 6

    @bench.websocket("/api")
    async def silent(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            if text == "bye":
                await websocket.close()
                return

    result = replay(recorded, bench, timeout=FAST)
    assert [d.what for d in result.differences] == ["missing message"] * 3
    assert result.differences[0].got is None
    assert result.differences[0].expected.startswith("← text '{")


def test_messages_in_another_order(bench):
    """Two answers that swap places read as 'message out of order'."""
    order = {"first": "one", "second": "two"}

    @bench.websocket("/pair")
    async def pair(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        await websocket.send_text(order["first"])
        await websocket.send_text(order["second"])
        await websocket.close()

    conn = bench.connect("/pair")
    conn.send_text("go")
    assert [conn.receive_text(), conn.receive_text()] == ["one", "two"]
    expect_close(conn)
    order.update(first="two", second="one")
    result = replay(conn.transcript, bench)
    assert [d.what for d in result.differences] == ["message out of order", "message out of order"]
    assert {d.got for d in result.differences} == {"← text 'two'", None}


def test_a_server_that_does_not_close_any_more(bench):
    """Recorded: the server closed. Replayed: it keeps the connection open; the replay closes it and says so."""
    conn = bench.connect("/send?n=1&code=4000&reason=done")
    assert conn.receive_text() == "msg 0"
    expect_close(conn)
    recorded = conn.transcript
    assert replay(recorded, bench).ok

    @bench.websocket("/send")
    async def stays_open(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("msg 0")
        async for _ in websocket.iter_text():
            pass

    result = replay(recorded, bench, timeout=FAST)
    (difference,) = result.differences
    assert difference.what == "close changed"
    assert difference.got == "closed: sent 1000 (OK); then received 1000 (OK)"
    assert difference.details == (
        "closed by: server != client",
        "code: 4000 != 1000",
        "reason: 'done' != ''",
        f"the server did not close within {FAST} s, so the replay closed it",
    )


def test_bytes_and_subprotocol_are_replayed(bench):
    """Binary messages compare as bytes; the agreed subprotocol is offered again."""
    conn = bench.connect("/chat", subprotocols=["chat"])
    conn.send_text("hi")
    conn.receive_text()
    conn.close()
    result = replay(Transcript.from_jsonl(conn.transcript.to_jsonl()), bench)
    assert result.ok, result.text()
    assert "open (subprotocol 'chat')" in result.got

    conn = bench.connect("/echo")
    conn.send_bytes(b"\x00\x01")
    conn.receive_bytes()
    conn.close()
    recorded = Transcript.from_jsonl(conn.transcript.to_jsonl())
    assert replay(recorded, bench).ok

    @bench.websocket("/echo")
    async def as_text(websocket: WebSocket) -> None:
        await websocket.accept()
        data = await websocket.receive_bytes()
        await websocket.send_text(data.hex())
        await websocket.receive()

    (difference,) = replay(recorded, bench).differences
    assert (difference.expected, difference.got) == ("← bytes b'\\x00\\x01' (2 bytes)", "← text '0001'")
    assert difference.details == ("a bytes message != a text message",)


def test_targets_bench_url_and_app(make_bench):
    """The same recording replays against a Bench, its ws:// URL, and a FastAPI app served for the occasion."""
    app = FastAPI()

    @app.websocket("/api")
    async def api(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text.upper())

    bench = make_bench(app=app, endpoints=False)
    conn = bench.connect("/api")
    conn.send_text("hi")
    assert conn.receive_text() == "HI"
    conn.close()
    recorded = conn.transcript
    for target in (bench, bench.url, bench.url + "/", app):
        result = replay(recorded, target)
        assert result.ok, (target, result.text())
        assert [e.data for e in result.transcript if e.kind == "receive"] == ["HI"]
    # Against the app, the temporary Bench records both sides and is stopped afterwards.
    result = replay(recorded, app)
    assert any(e.side == "server" for e in result.transcript)
    assert not any(b.name.startswith("wsbench.replay-") for b in wsbench.Bench._running.values())


def _where(bench: wsbench.Bench, *paths: str) -> Transcript:
    """Serve at each of *paths* an endpoint answering each text with the query it was opened with;
    return a recorded conversation with the first path, with ``?room=1``."""

    async def where(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(f"{text} from ?{websocket.url.query}")

    for path in paths:
        bench.websocket(path)(where)
    conn = bench.connect(f"{paths[0]}?room=1")
    conn.send_text("hi")
    assert conn.receive_text() == "hi from ?room=1"
    conn.close()
    return conn.transcript


def _opened(result: ReplayResult) -> str:
    """The URL the replay connected to."""
    (connect,) = [e for e in result.transcript if e.side == "client" and e.kind == "connect"]
    return str(connect.data)


@pytest.mark.parametrize(
    ("url", "recorded", "opened"),
    [
        ("ws://h:1", "/echo?room=1", "ws://h:1/echo?room=1"),
        ("ws://h:1/", "/echo", "ws://h:1/echo"),
        ("wss://h/", "/", "wss://h/"),
        ("ws://h:1/echo", "/echo?room=1", "ws://h:1/echo?room=1"),
        ("ws://h:1/v2/echo#top", "/echo", "ws://h:1/v2/echo"),
        ("ws://h:1/echo?token=abc&x=2", "/echo?token=***&room=1&token=z", "ws://h:1/echo?token=abc&room=1&x=2"),
        ("ws://h:1?room=2", "/echo?room=1&a=%20b", "ws://h:1/echo?room=2&a=%20b"),
    ],
)
def test_target_url_is_the_rule(url, recorded, opened):
    """A base URL gets the recorded path; a full URL keeps its own; the URL's query parameters replace
    the recorded ones of the same name in place, the others are added; nothing is re-encoded."""
    assert target_url(url, recorded) == opened


def test_a_base_url_or_a_bench_gets_the_recorded_path_and_query(bench):
    """bench.url, bench.url + "/" and the Bench itself replay /where?room=1 on that path."""
    recorded = _where(bench, "/where")
    for target in (bench.url, bench.url + "/", bench):
        result = replay(recorded, target)
        assert result.ok, (target, result.text())
        assert _opened(result) == bench.url + "/where?room=1"


def test_a_full_url_is_used_as_it_is(bench):
    """A URL with a path is the target itself: not /echo/echo, and another path works too; the query is kept."""
    recorded = _where(bench, "/where", "/v2/where")
    result = replay(recorded, bench.url + "/where")
    assert result.ok, result.text()
    assert _opened(result) == bench.url + "/where?room=1"
    result = replay(recorded, bench.url + "/v2/where")
    assert result.ok, result.text()
    assert _opened(result) == bench.url + "/v2/where?room=1"


def test_a_query_in_the_url_is_merged_into_the_recorded_one(bench):
    """?room=2&x=y on the target replaces room and adds x: the answer differs, and says so."""
    recorded = _where(bench, "/where")
    result = replay(recorded, bench.url + "/where?room=2&x=y")
    assert _opened(result) == bench.url + "/where?room=2&x=y"
    (difference,) = result.differences
    assert (difference.expected, difference.got) == ("← text 'hi from ?room=1'", "← text 'hi from ?room=2&x=y'")


def test_a_full_url_to_a_wrong_path_names_that_url(bench):
    """A full URL the server does not serve: 'handshake changed', its note naming that URL, not the recorded path."""
    recorded = _where(bench, "/where")
    result = replay(recorded, bench.url + "/nowhere")
    (difference,) = result.differences
    assert difference.what == "handshake changed"
    assert difference.got == "rejected: HTTP 403 (empty body)"
    assert difference.details[0].startswith("/nowhere?room=1 refused the handshake (HTTP 403):")
    assert str(bench.port) not in result.text()  # the loopback URL is shown as wsbench shows it: no port


def test_a_url_can_supply_a_masked_secret_and_errors_mask_it(bench, tmp_path: Path):
    """?token=... in the target replaces a token recorded as ***; an unreachable target's error names
    the URL with the token masked."""

    @bench.websocket("/members")
    async def members(websocket: WebSocket, token: str = "") -> None:
        await websocket.accept()
        await websocket.send_text(f"token={token} room={websocket.query_params.get('room')}")
        await websocket.close()

    conn = bench.connect("/members?token=sesame&room=1")
    conn.receive_text()
    expect_close(conn)
    masked = Transcript.load(conn.transcript.save(tmp_path / "masked.jsonl"))
    result = replay(masked, bench.url + "/members?token=sesame")
    assert result.ok, result.text()
    assert _opened(result) == bench.url + "/members?token=sesame&room=1"
    assert "sesame" not in result.text()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefused) as refused:
        replay(masked, f"ws://127.0.0.1:{port}/members?token=sesame")
    message = str(refused.value)
    assert f"ws://127.0.0.1:{port}/members?token=***&room=1" in message
    assert "sesame" not in message


def test_masked_secrets_are_never_replayed_as_is(bench, tmp_path: Path):
    """A transcript saved masked needs the real token and header passed again; unmasked it replays as is."""

    @bench.websocket("/members")
    async def members(websocket: WebSocket, token: str = "") -> None:
        await websocket.accept()
        await websocket.send_text(f"token={token} auth={websocket.headers.get('authorization')}")
        await websocket.close()

    conn = bench.connect("/members?token=sesame&room=1", headers={"Authorization": "Bearer s3cret"})
    conn.receive_text()
    expect_close(conn)
    masked = Transcript.load(conn.transcript.save(tmp_path / "masked.jsonl"))
    with pytest.raises(InvalidTranscript) as caught:
        replay(masked, bench)
    message = str(caught.value)
    assert "query parameter 'token'" in message and "header 'Authorization'" in message
    assert "params=" in message and "headers=" in message and "unmasked=True" in message
    assert "sesame" not in message and "s3cret" not in message

    result = replay(masked, bench, params={"token": "sesame"}, headers={"Authorization": "Bearer s3cret"})
    assert result.ok, result.text()
    assert result.text() == "replay of /members?token=***&room=1: same answers (4 lines)"  # still masked
    unmasked = Transcript.load(conn.transcript.save(tmp_path / "unmasked.jsonl", unmasked=True))
    assert replay(unmasked, bench).ok


def test_several_connections_need_conn(bench):
    """A transcript of several connections replays one: conn= picks it, and leaving it out is a clear error."""
    for text in ("one", "two"):
        conn = bench.connect("/echo")
        conn.send_text(text)
        conn.receive_text()
        conn.close()
    bench.wait_idle()
    recorded = Transcript.from_jsonl(bench.transcript.to_jsonl())
    with pytest.raises(InvalidTranscript, match=r"2 connections \(#1 /echo, #2 /echo\); pick one with conn="):
        replay(recorded, bench)
    result = replay(recorded, bench, conn=2)
    assert result.ok
    assert result.label == "#2 /echo"
    assert "→ text 'two'" in result.expected
    with pytest.raises(InvalidTranscript, match="no connection #3"):
        replay(recorded, bench, conn=3)


def test_a_transcript_without_client_side_is_refused_before_connecting(bench):
    """Nothing to replay (wsbench.conversation.select says why): InvalidTranscript, and no connection made."""
    with pytest.raises(InvalidTranscript, match="it is empty"):
        replay(Transcript(), bench)
    assert len(bench.transcript) == 0


def test_the_helpers_of_generated_tests_are_still_importable_from_replay():
    """assert_json_matches and expect_close moved to wsbench.conversation; wsbench.replay re-exports them."""
    assert wsbench.replay.assert_json_matches is wsbench.conversation.assert_json_matches
    assert wsbench.replay.expect_close is wsbench.conversation.expect_close
    assert {"assert_json_matches", "expect_close"} <= set(wsbench.replay.__all__)


def test_who_closed_is_read_from_the_event_also_in_an_old_saved_transcript(bench):
    """Replay compares Event.by; a file saved before "by" existed gets it from the close text when loaded."""
    _api(bench)
    recorded = _record(bench)
    closed = next(e for e in recorded if e.kind == "closed")
    assert closed.by == "server"
    rows = [json.loads(line) for line in recorded.to_jsonl(unmasked=True).splitlines()]
    old = "".join(json.dumps({k: v for k, v in row.items() if k != "by"}) + "\n" for row in rows)
    assert '"by"' not in old
    loaded = Transcript.from_jsonl(old)
    assert loaded.events == recorded.events
    result = replay(loaded, bench, ignore=["$.ts"])
    assert result.ok, result.text()
    assert result.expected[-1] == "closed: received 1000 (OK); then sent 1000 (OK)"


def test_a_transcript_from_another_server_is_a_rejected_handshake_difference(bench):
    """Replaying a path the target does not serve: one 'handshake changed' difference that says what to check."""
    conn = bench.connect("/echo")
    conn.send_text("hi")
    conn.receive_text()
    conn.close()
    other = FastAPI()  # serves nothing at /echo: uvicorn answers 403
    result = replay(conn.transcript, other)
    assert not result.ok
    (difference,) = result.differences
    assert difference.what == "handshake changed"
    assert (difference.expected, difference.got) == ("open", "rejected: HTTP 403 (empty body)")
    assert "does it serve that path?" in difference.details[0]
    assert difference.details[-1] == "the 4 recorded lines after it were not replayed"
    assert "@@ line 2: handshake changed @@" in result.text()


def test_a_rejected_handshake_replays_as_a_rejection(bench):
    """Recorded as rejected (HTTP 401) and rejected again: ok; accepted now: a difference."""
    with pytest.raises(wsbench.HandshakeRejected):
        bench.connect("/reject")
    recorded = Transcript.from_jsonl(bench.transcript.to_jsonl())
    assert replay(recorded, bench).ok

    @bench.websocket("/reject")
    async def accepts(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    (difference,) = replay(recorded, bench).differences
    assert difference.what == "handshake changed"
    assert difference.got == "open"


def test_target_down_raises_connection_refused_naming_the_address(bench):
    """Nothing listening at the URL: ConnectionRefused naming the URL tried (host, port, path), not a diff."""
    conn = bench.connect("/echo")
    conn.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefused, match=f"^replay against ws://127.0.0.1:{port}/echo: .*127.0.0.1:{port}"):
        replay(conn.transcript, f"ws://127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("target", "error"), [("http://127.0.0.1:1", InvalidURL), (42, TypeError), ("example.org", InvalidURL)]
)
def test_a_target_that_is_not_a_server_is_refused(bench, target, error):
    """A target must be a ws:// URL, a Bench or an app."""
    conn = bench.connect("/echo")
    conn.close()
    with pytest.raises(error, match="ws:// or wss:// base URL"):
        replay(conn.transcript, target)


def test_the_text_is_deterministic(bench: wsbench.Bench):
    """The same replay twice prints the same text, with no port or time in it."""
    _api(bench)
    recorded = _record(bench)
    _api(bench, step=3, close=(4002, "changed"))
    first, second = replay(recorded, bench), replay(recorded, bench)
    assert first.text() == second.text()
    assert str(bench.port) not in first.text()
    assert "closed by" not in first.text()  # the server closes in both: only code and reason differ
    assert "code: 1000 != 4002" in first.text()


def test_replay_of_a_connection_that_auto_reconnected(make_bench):
    """auto_reconnect's "reconnect" note belongs to no connection: each one replays cleanly on its own."""
    bench = make_bench()
    state = {"connections": 0}

    @bench.websocket("/twice")
    async def twice(websocket: WebSocket) -> None:
        state["connections"] += 1
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"got {text}")
        if state["connections"] == 1:
            raise RuntimeError("drop the first connection")  # the client sees 1011 or 1006
        await websocket.receive_text()

    conn = bench.connect("/twice", auto_reconnect=2, backoff=(0.01, 0.01), timeout=5)
    conn.send_text("a")
    assert conn.receive_text() == "got a"
    conn.wait_closed()
    conn.send_text("b")  # reconnects first
    assert conn.receive_text() == "got b"
    conn.close()
    bench.wait_idle()
    assert sum(e.kind == "reconnect" for e in conn.transcript) == 1
    state["connections"] = 0  # the next connection is dropped again, as the first was
    first = conn.transcript.replay(bench, conn=1)
    assert first.ok, first.text()
    state["connections"] = 1  # the next one behaves as the second did
    second = conn.transcript.replay(bench, conn=2)
    assert second.ok, second.text()


def _chatty(bench: wsbench.Bench, path: str, *, gap: float) -> None:
    """Serve at *path* an endpoint that sends "tick" every *gap* seconds and never closes (for at most 60 s)."""

    @bench.websocket(path)
    async def chatty(websocket: WebSocket) -> None:
        await websocket.accept()
        for _ in range(int(60 / max(gap, 0.001))):
            await websocket.send_text("tick")
            await asyncio.sleep(gap)


def _returns(call: Callable[[], ReplayResult], within: float = 60.0) -> ReplayResult:
    """``call()``'s result, or fail if it has not returned within *within* seconds (a watchdog for a
    replay that used to run for ever, far above what it should take; not a timing assertion)."""
    outcome: list[ReplayResult] = []
    thread = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    thread.start()
    thread.join(within)
    assert outcome, f"replay still running after {within} s"
    return outcome[0]


def test_a_server_that_keeps_sending_and_never_closes(bench):
    """Recorded: one message, then the server closed. Replayed against a server that sends for ever:
    replay returns (bounded in time), and the close difference says the server did not close and how
    many extra messages came; the diff shows a bounded number of them."""

    @bench.websocket("/feed")
    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("tick")
        await websocket.close(1000)

    with bench.connect("/feed") as conn:
        assert conn.receive_text() == "tick"
        conn.wait_closed()
    recorded = conn.transcript
    _chatty(bench, "/feed", gap=0.01)
    result = _returns(lambda: replay(recorded, bench, timeout=FAST))
    close = [d for d in result.differences if d.what == "close changed"]
    assert len(close) == 1, result.text()
    note = close[0].details[-1]
    extra = [d for d in result.differences if d.what == "extra message"]
    received = sum(e.side == "client" and e.kind == "receive" for e in result.transcript)
    assert note.startswith(f"the server did not close; {received - 1} extra messages"), note
    assert received - 1 >= len(extra) >= 1
    assert len(result.got) <= len(result.expected) + wsbench.replay.MORE


def test_a_flood_after_the_recorded_end_is_cut_at_a_number_of_messages(bench):
    """A server that sends as fast as it can after the last recorded message: replay stops taking
    them after MORE messages, whatever the timeout, and says how many came."""

    @bench.websocket("/feed")
    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("tick")
        await websocket.close(1000)

    with bench.connect("/feed") as conn:
        conn.receive_text()
        conn.wait_closed()
    recorded = conn.transcript
    _chatty(bench, "/feed", gap=0)
    result = _returns(lambda: replay(recorded, bench, timeout=30))
    extra = [d for d in result.differences if d.what == "extra message"]
    assert len(extra) == wsbench.replay.MORE
    (close,) = [d for d in result.differences if d.what == "close changed"]
    received = sum(e.side == "client" and e.kind == "receive" for e in result.transcript)
    assert received - 1 >= wsbench.replay.MORE
    assert close.details[-1].startswith(f"the server did not close; {received - 1} extra messages")


def test_a_flood_before_the_clients_close_is_shown_in_part_and_counted(bench):
    """Recorded: the client closed. Replayed against a server that floods after its answer: the replay
    shows MORE extra messages, the last saying how many came in all."""

    @bench.websocket("/api")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.receive()

    conn = bench.connect("/api")
    conn.send_text("a")
    assert conn.receive_text() == "a"
    conn.close()
    recorded = conn.transcript

    @bench.websocket("/api")
    async def floods(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        for _ in range(2 * wsbench.replay.MORE):
            await websocket.send_text("more")
        await websocket.receive()

    result = _returns(lambda: replay(recorded, bench, timeout=5))
    extra = [d for d in result.differences if d.what == "extra message"]
    assert len(extra) == wsbench.replay.MORE
    received = sum(e.side == "client" and e.kind == "receive" for e in result.transcript)
    assert received == 2 * wsbench.replay.MORE + 1  # every one recorded in the replay's transcript
    assert extra[-1].details == (f"{received - 1} extra messages; the replay shows the first {wsbench.replay.MORE}",)
