"""Many clients, one conversation (issue 23): who caused a send, named connections, one
interleaved text in a deterministic causal order, fan-out figures."""

from __future__ import annotations

import ast
import asyncio
import itertools
import os
import random
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from difflib import SequenceMatcher

import pytest
from conftest import TIMEOUT_SCALE, wait_until
from fastapi import WebSocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wsbench
from wsbench.replay import MORE
from wsbench.replay_many import _Client, _compare, _step, replay_conversation
from wsbench.server import WS_IMPLEMENTATIONS
from wsbench.transcript import Event, Transcript, causal, conversation_order
from wsbench.transcript.fanout import fanout, summary

IMPLEMENTATIONS = WS_IMPLEMENTATIONS[1:]  # each of uvicorn's, not "auto" (which picks websockets-sansio)


def add_chat(
    bench: wsbench.Bench,
    path: str = "/chat/{who}",
    gate: threading.Event | None = None,
    skip_sender: bool = False,
    copies: int = 1,
    receipt: bool = False,
) -> None:
    """FastAPI's ConnectionManager chat: every message to everyone, a leave announced. With *gate*,
    a broadcast waits for it after the first two sends (so a test can close a client meanwhile);
    with *skip_sender*, a message goes to everyone but its sender; *copies* sends each one that
    many times; with *receipt*, the sender also gets "ok" after each broadcast."""
    clients: list[WebSocket] = []

    async def broadcast(text: str, sender: WebSocket | None = None) -> None:
        for n, client in enumerate([c for c in clients if not (skip_sender and c is sender)]):
            if gate is not None and n == 2:
                await asyncio.to_thread(gate.wait, 5 * TIMEOUT_SCALE)
            try:
                for _ in range(copies):
                    await client.send_text(text)
            except Exception:  # a client that is gone: drop it, tell the others
                if client in clients:
                    clients.remove(client)
        if receipt and sender is not None:
            await sender.send_text("ok")

    @bench.websocket(path)
    async def chat(websocket: WebSocket, who: str) -> None:
        await websocket.accept()
        clients.append(websocket)
        try:
            async for text in websocket.iter_text():
                await broadcast(f"{who}: {text}", websocket)
        finally:
            if websocket in clients:
                clients.remove(websocket)
        await broadcast(f"{who} left")


def chat_once(bench: wsbench.Bench) -> str:
    """Three named clients, each says something, one leaves: the bench's text."""
    add_chat(bench)
    ann = bench.connect("/chat/ann", name="ann")
    bob = bench.connect("/chat/bob", name="bob")
    cat = bench.connect("/chat/cat", name="cat")
    ann.send_text("hi")
    assert [c.receive_text() for c in (ann, bob, cat)] == ["ann: hi"] * 3
    bob.send_text("yo")
    assert [c.receive_text() for c in (ann, bob, cat)] == ["bob: yo"] * 3
    cat.close()
    assert [c.receive_text() for c in (ann, bob)] == ["cat left"] * 2
    ann.close()
    assert bob.receive_text() == "ann left"
    bob.close()
    bench.wait_idle()
    return str(bench.transcript)


# -- 1. who caused a send ------------------------------------------------------------------


@pytest.mark.parametrize("ws", IMPLEMENTATIONS)
def test_a_send_on_another_socket_names_the_handler_that_made_it(make_bench: Callable[..., wsbench.Bench], ws: str):
    """On each of uvicorn's implementations, the ASGI send on bob's socket runs in ann's handler
    task: the event says so (handler "ann") and which receive it answered (cause: its seq)."""
    bench = make_bench(ws=ws, endpoints=False)
    add_chat(bench)
    ann = bench.connect("/chat/ann", name="ann")
    bob = bench.connect("/chat/bob", name="bob")
    ann.send_text("hi")
    assert bob.receive_text() == "ann: hi" and ann.receive_text() == "ann: hi"
    ann.close()
    bob.close()
    bench.wait_idle()
    (hi,) = [e for e in bench.transcript if e.kind == "websocket.receive" and e.data == "hi"]
    assert hi.name == "ann"
    sends = [e for e in bench.transcript if e.kind == "websocket.send" and e.data == "ann: hi"]
    assert sorted((e.name, e.handler, e.cause) for e in sends) == [("ann", "ann", hi.seq), ("bob", "ann", hi.seq)]
    accepts = [e for e in bench.transcript if e.kind == "websocket.accept"]
    assert [(e.name, e.handler) for e in accepts] == [("ann", "ann"), ("bob", "bob")]
    text = str(bench.transcript)
    assert "bob server  → websocket.send text 'ann: hi' (by ann's handler)" in text
    assert "ann server  → websocket.send text 'ann: hi'  " in text  # its own handler: nothing added
    # bob's own view shows who sent on his socket, and stays a one-connection text
    assert "→ websocket.send text 'ann: hi' (by ann's handler)" in str(bob.transcript)
    assert not str(bob.transcript).startswith("bob")


def test_a_background_task_is_named_as_such(bench: wsbench.Bench):
    """A send from a task that is no connection's handler names the task: by its name when it
    was given one, as "a background task" in the text when asyncio numbered it (Task-12)."""
    done: list[asyncio.Task] = []

    @bench.websocket("/ticker")
    async def ticker(websocket: WebSocket) -> None:
        await websocket.accept()

        async def tick(text: str) -> None:
            await websocket.send_text(text)

        await websocket.receive_text()
        done.append(asyncio.create_task(tick("named"), name="ticker"))
        done.append(asyncio.create_task(tick("unnamed")))
        await asyncio.gather(*done)
        await websocket.receive_text()

    conn = bench.connect("/ticker", name="ann")
    conn.send_text("go")
    assert {conn.receive_text(), conn.receive_text()} == {"named", "unnamed"}
    conn.close()
    conn.wait_endpoint()
    sends = {e.data: e for e in conn.transcript if e.kind == "websocket.send"}
    assert sends["named"].handler == "task ticker"
    assert sends["unnamed"].handler.startswith("task Task-")
    assert sends["named"].cause is None  # that task received nothing
    text = str(conn.transcript)
    assert "text 'named' (by task 'ticker')" in text
    assert "text 'unnamed' (by a background task)" in text


# -- 2. named clients ------------------------------------------------------------------------


def test_connections_are_named_c1_c2_by_default_and_as_given(bench: wsbench.Bench):
    """Default names count per bench in order of opening, skipping names given; every event of
    the connection, both sides, carries it; a bad name is refused before anything opens."""
    first = bench.connect("/echo")
    given_ = bench.connect("/echo", name="c2")
    third = bench.connect("/echo")
    assert (first.name, given_.name, third.name) == ("c1", "c2", "c3")
    for conn in (first, given_, third):
        conn.send_text("x")
        conn.receive_text()
        conn.close()
        conn.wait_endpoint()
        assert {e.name for e in conn.transcript} == {conn.name}
        assert {e.side for e in conn.transcript} == {"client", "server"}
    for bad in ("", " ann", "#1", "a\nb", "x" * 41):
        with pytest.raises(ValueError, match="name"):
            bench.connect("/echo", name=bad)
    for wrong in (7, b"ann"):  # not text: the usual TypeError
        with pytest.raises(TypeError, match="a connection's name is text, not"):
            bench.connect("/echo", name=wrong)
        with pytest.raises(TypeError, match="a connection's name is text, not"):
            bench.browser_connect("/echo", name=wrong)


def test_a_name_an_open_connection_holds_is_refused_and_free_again_once_it_closed(bench: wsbench.Bench):
    """Two open clients called "ann" would read as one in every view (a cell run twice): the second
    is refused, nothing opened, the error naming the holder; once ann closed, the name is free
    (ann came back), also for aconnect."""
    ann = bench.connect("/echo", name="ann")
    with pytest.raises(ValueError, match=r"name='ann' is taken: .*/echo.*close it first"):
        bench.connect("/echo", name="ann")
    with pytest.raises(ValueError, match="name='ann' is taken"):
        asyncio.run(bench.aconnect("/echo", name="ann"))
    assert {e.conn for e in bench.transcript if e.name == "ann"} == {ann.key}  # no other was opened
    ann.close()
    again = bench.connect("/echo", name="ann")
    assert again.name == "ann"
    again.close()


def test_aconnect_takes_a_name_too(bench: wsbench.Bench):
    """The coroutine form names its connection the same way, on both sides."""

    async def talk() -> wsbench.Connection:
        conn = await bench.aconnect("/echo", name="zed")
        await conn.asend_text("x")
        await conn.areceive_text()
        await conn.aclose()
        await conn.await_endpoint()
        return conn

    conn = asyncio.run(talk())
    assert conn.name == "zed"
    assert {(e.side, e.name) for e in conn.transcript} == {("client", "zed"), ("server", "zed")}


def test_names_causes_and_selection_survive_json_lines(bench: wsbench.Bench, tmp_path):
    """The JSON Lines rows carry name, handler and cause; load reads them back and checks them;
    select() picks connections by name, key or Connection."""
    add_chat(bench)
    ann = bench.connect("/chat/ann", name="ann")
    bob = bench.connect("/chat/bob", name="bob")
    ann.send_text("hi")
    bob.receive_text()
    ann.receive_text()
    ann.close()
    bob.close()
    bench.wait_idle()
    loaded = Transcript.load(bench.transcript.save(tmp_path / "chat.jsonl"))
    fields = [(e.seq, e.kind, e.name, e.handler, e.cause) for e in bench.transcript]
    assert [(e.seq, e.kind, e.name, e.handler, e.cause) for e in loaded] == fields
    assert str(loaded) == str(bench.transcript)
    rows = bench.transcript.records()
    assert {row["name"] for row in rows} == {"ann", "bob"}
    assert any(row.get("handler") == "ann" and row["name"] == "bob" for row in rows)
    bad = tmp_path / "bad.jsonl"
    row = '{"seq": 1, "time": 0, "side": "server", "kind": "websocket.send", "conn": 1, "cause": "x"}\n'
    bad.write_text(row)
    with pytest.raises(wsbench.InvalidTranscript, match="cause"):
        Transcript.load(bad)
    bad.write_text(row.replace('"cause": "x"', '"name": 3'))
    with pytest.raises(wsbench.InvalidTranscript, match="name"):
        Transcript.load(bad)
    assert str(bench.transcript.select("bob")) == str(bob.transcript)
    assert str(bench.transcript.select(ann, bob.key)) == str(bench.transcript)
    with pytest.raises(ValueError, match="'ann', 'bob'"):
        bench.transcript.select("dan")


# -- 3. one conversation ---------------------------------------------------------------------


def test_a_three_client_chat_prints_alike_on_two_runs(make_bench: Callable[..., wsbench.Bench]):
    """The same chat on two benches prints the same interleaved text: every broadcast send on
    another socket names the handler that made it, and each client's lines come in causal order
    across connections (bob connects after ann's handshake; ann's "hi" reaches all three before
    bob says "yo")."""
    first = chat_once(make_bench(endpoints=False))
    second = chat_once(make_bench(endpoints=False))
    assert first == second
    lines = first.splitlines()
    assert lines[0].startswith("ann client  connect /chat/ann")
    assert "bob server  → websocket.send text 'ann: hi' (by ann's handler)" in first
    assert "cat server  → websocket.send text 'bob: yo' (by bob's handler)" in first
    assert "ann server  → websocket.send text 'cat left' (by cat's handler)" in first
    where = {line: n for n, line in reversed(list(enumerate(lines)))}  # first occurrence

    def at(prefix: str) -> int:
        return next(where[line] for line in where if line.startswith(prefix))

    assert at("ann client  open") < at("bob client  connect") < at("cat client  connect")
    assert at("cat client  ← text 'ann: hi'") < at("bob client  → text 'yo'")
    assert at("cat server  ← websocket.disconnect") < at("ann server  → websocket.send text 'cat left'")


def _orders(events: list[Event]) -> tuple[list[list[Event]], dict[int, list[int]]]:
    """The chains a recording can interleave (server, caller; each connection's reader) and the
    causes each event needs: what any real recording of this conversation keeps."""
    chains: dict[object, list[Event]] = {}
    needs: dict[int, list[int]] = {}
    for conn in dict.fromkeys(e.conn for e in events):
        group = [e for e in events if e.conn == conn]
        own, own_needs = causal._connection(group)
        for effect, causes in own_needs.items():
            needs.setdefault(effect, []).extend(causes)
        chains.setdefault("server", []).extend(own["server"])
        chains.setdefault("caller", []).extend(own["caller"])
        chains[conn] = own["reader"]
    for name in ("server", "caller"):
        chains[name].sort(key=lambda e: e.seq)
    return list(chains.values()), needs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_the_text_does_not_depend_on_how_the_recording_interleaved(chat_events: list[Event], seed: int):
    """Any recording of the same conversation (each chain in its order, each cause before its
    effect, independent events in any order: a reader thread late, a handler early) prints the
    same text: a random such interleaving, renumbered, prints as the real one did."""
    expected = str(Transcript(chat_events))
    chains, needs = _orders(chat_events)
    rng = random.Random(seed)
    position = [0] * len(chains)
    done: set[int] = set()
    shuffled: list[Event] = []
    while len(shuffled) < len(chat_events):
        ready = [
            n
            for n, chain in enumerate(chains)
            if position[n] < len(chain) and all(c in done for c in needs.get(id(chain[position[n]]), ()))
        ]
        n = rng.choice(ready)
        event = chains[n][position[n]]
        position[n] += 1
        done.add(id(event))
        shuffled.append(event)
    renumbered = [e._replace(seq=n) for n, e in enumerate(shuffled, 1)]
    cause_of = {e.seq: n for n, e in enumerate(shuffled, 1)}
    renumbered = [e._replace(cause=cause_of.get(e.cause)) if e.cause is not None else e for e in renumbered]
    assert str(Transcript(renumbered)) == expected


@pytest.fixture(scope="module")
def chat_events() -> list[Event]:
    """The events of one real three-client chat (recorded once for the property test)."""
    bench = wsbench.Bench(name="test_many_clients-chat_events")
    try:
        chat_once(bench)
        return list(bench.transcript)
    finally:
        bench.stop()


def test_conversation_order_keeps_every_cause_before_its_effect(chat_events: list[Event]):
    """In the one conversation, each connection's chains keep their order and each of its causes
    (send before receive, connect before the server's first event ...) comes before its effect;
    the server's events keep the loop's order, across connections."""
    ordered = conversation_order(chat_events)
    assert sorted(e.seq for e in ordered) == sorted(e.seq for e in chat_events)
    at = {id(e): n for n, e in enumerate(ordered)}
    chains, needs = _orders(chat_events)
    for chain in chains:
        assert [at[id(e)] for e in chain] == sorted(at[id(e)] for e in chain)
    assert all(at[cause] < at[effect] for effect, causes in needs.items() for cause in causes)


# -- 4. fan-out --------------------------------------------------------------------------------


def test_fanout_names_the_client_that_left_mid_broadcast(bench: wsbench.Bench):
    """ann's "bye" is broadcast to ann, bob and cat; cat closes while the broadcast is under
    way: cat never got it and is named; the others' delays are there as data."""
    gate = threading.Event()
    add_chat(bench, "/slow/{who}", gate=gate)
    ann = bench.connect("/slow/ann", name="ann")
    bob = bench.connect("/slow/bob", name="bob")
    cat = bench.connect("/slow/cat", name="cat")
    ann.send_text("bye")
    assert ann.receive_text() == "ann: bye" and bob.receive_text() == "ann: bye"
    cat.close()
    wait_until(lambda: bench.transcript.select("cat").filter(kind="return"))  # cat's handler has ended
    gate.set()  # now the broadcast goes on, to cat
    assert bob.receive_text() == "cat left"
    ann.close()
    bob.close()
    bench.wait_idle()
    (bye,) = [f for f in bench.fanout() if f.data == "bye"]
    assert (bye.sender, bye.handler) == ("ann", "ann")
    assert [d.to for d in bye.deliveries] == ["ann", "bob", "cat"]
    assert bye.missed == ("cat",)
    assert all(d >= 0 for d in bye.delays) and len(bye.delays) == 2
    expected = "ann sent 'bye': 3 sent by ann's handler, received by ann, bob; never got it: cat"
    assert bye.summary(times=False) == expected
    assert "min" in bye.summary() and "median" in bye.summary()
    line = summary(bench.fanout(), times=False)
    assert "never received: cat ('ann: bye')" in line
    assert fanout(bench.transcript) == bench.fanout()


# -- 6. replay of a multi-client conversation ------------------------------------------------


def test_a_three_client_chat_replays_with_no_difference_and_names_what_a_changed_app_misses(
    make_bench: Callable[..., wsbench.Bench],
):
    """Replayed against the same app, every client gets what it got; against an app that skips
    the sender, each sender's own copy is missing, and the difference names the client and the
    message. The replay keeps the recorded cross-client order (its transcript prints alike)."""
    recorded = make_bench(endpoints=False)
    chat_once(recorded)
    same = make_bench(endpoints=False)
    add_chat(same)
    result = recorded.transcript.replay_all(same)
    assert result.ok, str(result)
    assert result.clients == ["ann", "bob", "cat"]
    assert str(result) == f"replay of 3 clients (ann, bob, cat): same answers ({result.steps} client events)"
    same.wait_idle()
    assert str(result.transcript) == str(recorded.transcript)
    skipping = make_bench(endpoints=False)
    add_chat(skipping, skip_sender=True)
    changed = replay_conversation(recorded.transcript, skipping, timeout=0.5)
    assert [(d.client, d.what, d.expected) for d in changed.differences] == [
        ("ann", "missing message", "← text 'ann: hi'"),
        ("bob", "missing message", "← text 'bob: yo'"),
    ]
    assert "ann: missing message: expected ← text 'ann: hi'" in str(changed)


def test_a_replay_names_the_messages_a_client_got_beyond_the_recording(make_bench: Callable[..., wsbench.Bench]):
    """An app that says more than it did: a receipt to each sender, or every message twice. Each
    client's extra messages are named as extra (also those it never took, nor waited for), not as
    a cascade of changed ones, and the replay still keeps the recorded cross-client order (so the
    same differences come out every time)."""
    recorded = make_bench(endpoints=False)
    chat_once(recorded)
    receipts = make_bench(endpoints=False)
    add_chat(receipts, receipt=True)
    result = replay_conversation(recorded.transcript, receipts, timeout=0.5)
    assert [(d.client, d.what, d.expected, d.got) for d in result.differences] == [
        ("ann", "extra message", None, "← text 'ok'"),
        ("bob", "extra message", None, "← text 'ok'"),
    ], str(result)
    assert "ann: extra message: got ← text 'ok'" in str(result)
    doubled = make_bench(endpoints=False)
    add_chat(doubled, copies=2)
    result = replay_conversation(recorded.transcript, doubled, timeout=0.5)
    assert {d.what for d in result.differences} == {"extra message"}, str(result)
    assert [(d.client, d.got) for d in result.differences] == [
        ("ann", "← text 'ann: hi'"),
        ("ann", "← text 'bob: yo'"),
        ("ann", "← text 'cat left'"),
        ("bob", "← text 'ann: hi'"),
        ("bob", "← text 'bob: yo'"),
        ("bob", "← text 'cat left'"),
        ("bob", "← text 'ann left'"),
        ("cat", "← text 'ann: hi'"),
        ("cat", "← text 'bob: yo'"),
    ], str(result)


def test_a_replay_against_an_app_that_changed_every_message_pairs_them_up(
    make_bench: Callable[..., wsbench.Bench],
):
    """An app that shouts the sender's name: each client's messages come out as changed, recorded
    beside replayed (not as a missing and an extra one)."""
    recorded = make_bench(endpoints=False)
    chat_once(recorded)
    shouting = make_bench(endpoints=False)
    clients: list[WebSocket] = []

    @shouting.websocket("/chat/{who}")
    async def chat(websocket: WebSocket, who: str) -> None:
        await websocket.accept()
        clients.append(websocket)
        try:
            async for text in websocket.iter_text():
                for client in list(clients):
                    await client.send_text(f"{who.upper()}: {text}")
        finally:
            clients.remove(websocket)
        for client in list(clients):
            await client.send_text(f"{who} left")

    result = replay_conversation(recorded.transcript, shouting, timeout=0.3)
    assert {d.what for d in result.differences} == {"message changed"}, str(result)
    assert [(d.client, d.expected, d.got) for d in result.differences if d.client == "ann"] == [
        ("ann", "← text 'ann: hi'", "← text 'ANN: hi'"),
        ("ann", "← text 'bob: yo'", "← text 'BOB: yo'"),
    ]
    assert "bob: message changed: expected ← text 'bob: yo', got ← text 'BOB: yo'" in str(result)


def test_a_replay_against_a_server_that_never_stops_sending_stays_short(make_bench: Callable[..., wsbench.Bench]):
    """A server that answers with a flood: each client's comparison takes what it recorded and
    MORE messages beyond, and one line counts the rest; a receive waiting for a recorded message
    takes at most MORE others (so a flood cannot keep it busy)."""
    recorded = make_bench(endpoints=False)
    chat_once(recorded)
    flooding = make_bench(endpoints=False)

    @flooding.websocket("/chat/{who}")
    async def flood(websocket: WebSocket, who: str) -> None:
        await websocket.accept()
        for n in itertools.count():
            await websocket.send_text(f"spam {n}")
            if n % 50 == 0:
                await asyncio.sleep(0)

    result = replay_conversation(recorded.transcript, flooding, timeout=0.5)
    for name, received in (("ann", 3), ("bob", 4), ("cat", 2)):
        mine = [d for d in result.differences if d.client == name and "message" in d.what]
        assert len(mine) == received + MORE + 1, str(result)[:2000]
        assert [d.what for d in mine[:received]] == ["message changed"] * received
        assert {d.what for d in mine[received:-1]} == {"extra message"}
        assert re.fullmatch(r"more messages: got \d+ more, not compared", str(mine[-1]).split(": ", 1)[1])


def test_a_close_that_never_comes_is_named_as_such(make_bench: Callable[..., wsbench.Bench]):
    """Replayed against an app that never closes: bob's recorded close by the server is named as a
    close that did not come ("still open"), not as a missing message."""
    recorded = make_bench(endpoints=False)

    @recorded.websocket("/talk/{who}")
    async def talk(websocket: WebSocket, who: str) -> None:
        await websocket.accept()
        await websocket.send_text("bye")
        await websocket.close()

    bob = recorded.connect("/talk/bob", name="bob")
    assert bob.receive_text() == "bye"
    assert bob.wait_closed() == 1000
    recorded.wait_idle()
    deaf = make_bench(endpoints=False)
    hold = threading.Event()

    @deaf.websocket("/talk/{who}")
    async def never_closes(websocket: WebSocket, who: str) -> None:
        await websocket.accept()
        await websocket.send_text("bye")
        await asyncio.to_thread(hold.wait, 20 * TIMEOUT_SCALE)

    try:
        result = replay_conversation(recorded.transcript, deaf, timeout=0.5)
    finally:
        hold.set()
    assert [(d.client, d.what, d.expected, d.got) for d in result.differences] == [
        ("bob", "close changed", "closed 1000", "still open"),
    ], str(result)


def test_a_send_the_server_did_not_take_is_named_and_ends_that_client(bench: wsbench.Bench):
    """A send that times out (the server stopped reading; wsbench aborts the connection) is named
    as not taken, and nothing more is done on that client. (uvicorn reads whatever comes, its
    app reading or not, so a stand-in connection plays the server that stops.)"""

    class Deaf:
        def send_text(self, data: str) -> None:
            raise wsbench.Timeout("the server did not take the message")

    client, found = _Client(Deaf()), []  # type: ignore[arg-type]
    send = Event(seq=1, time=0.0, side="client", kind="send", conn=7, data="hi", name="ann")
    _step(bench, send, "ann", {7: client}, 0.5, found, None)
    _step(bench, send._replace(seq=2), "ann", {7: client}, 0.5, found, None)  # not tried: it ended
    assert [(d.client, d.what, d.expected, d.got) for d in found] == [
        ("ann", "send not taken", "→ text 'hi'", "not read within 0.5 s")
    ]
    assert client.closed_early


def test_two_long_messages_that_look_alike_are_not_taken_for_one_out_of_order():
    """A message missing in one place and another extra in another are "out of order" only when they
    are the same message, not when their shortened lines look alike (a long JSON whose end differs)."""
    first, second = "x" * 300 + "1", "x" * 300 + "2"

    def events(messages: list[str]) -> list[Event]:
        return [
            Event(seq=n, time=0.0, side="client", kind="receive", data=m, name="ann") for n, m in enumerate(messages)
        ]

    found = _compare("ann", events([first, "m"]), events(["m", second]))
    assert [d.what for d in found] == ["missing message", "extra message"]
    found = _compare("ann", events([first, "m"]), events(["m", first]))
    assert [d.what for d in found] == ["message out of order"] * 2


def add_door(bench: wsbench.Bench, refused: str) -> None:
    """A room that refuses the client named *refused* (a close before accept: HTTP 403) and
    welcomes the others."""

    @bench.websocket("/room/{who}")
    async def room(websocket: WebSocket, who: str) -> None:
        if who == refused:
            await websocket.close(code=1008)
            return
        await websocket.accept()
        await websocket.send_text(f"welcome {who}")
        async for _ in websocket.iter_text():
            pass


def test_a_refused_client_replays_as_refused_and_a_changed_door_is_named(
    make_bench: Callable[..., wsbench.Bench], tmp_path, monkeypatch
):
    """A client the app refused (HTTP 403) is part of the conversation: refused again, it is the
    same answer, in a replay and in a written test; let in, or refused with another status, the
    difference names it."""
    recorded = make_bench(endpoints=False)
    add_door(recorded, refused="mallory")
    ann = recorded.connect("/room/ann", name="ann")
    with pytest.raises(wsbench.HandshakeRejected):
        recorded.connect("/room/mallory", name="mallory")
    assert ann.receive_text() == "welcome ann"
    ann.close()
    recorded.wait_idle()
    same = make_bench(endpoints=False)
    add_door(same, refused="mallory")
    result = replay_conversation(recorded.transcript, same, timeout=0.5)
    assert result.ok, str(result)
    assert result.clients == ["ann", "mallory"]
    opened = make_bench(endpoints=False)
    add_door(opened, refused="nobody")
    result = replay_conversation(recorded.transcript, opened, timeout=0.5)
    assert [(d.client, d.what, d.expected, d.got) for d in result.differences] == [
        ("mallory", "handshake changed", "rejected: HTTP 403 (empty body)", "open"),
        ("mallory", "extra message", None, "← text 'welcome mallory'"),
    ], str(result)
    closed = make_bench(endpoints=False)
    add_door(closed, refused="ann")
    result = replay_conversation(recorded.transcript, closed, timeout=0.5)
    assert [(d.client, d.what, d.expected, d.got) for d in result.differences] == [
        ("ann", "handshake changed", "open", "rejected: HTTP 403 (empty body)"),
        ("mallory", "handshake changed", "rejected: HTTP 403 (empty body)", "open"),
        ("mallory", "extra message", None, "← text 'welcome mallory'"),
    ], str(result)
    (tmp_path / "door.py").write_text(
        "from fastapi import FastAPI, WebSocket\n\napp = FastAPI()\n\n\n"
        "@app.websocket('/room/{who}')\n"
        "async def room(websocket: WebSocket, who: str):\n"
        "    if who == 'mallory':\n"
        "        await websocket.close(code=1008)\n"
        "        return\n"
        "    await websocket.accept()\n"
        "    await websocket.send_text(f'welcome {who}')\n"
        "    async for _ in websocket.iter_text():\n"
        "        pass\n"
    )
    written = recorded.transcript.to_pytest_all(tmp_path / "test_door.py", app="door:app", timeout=0.5)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {}
    exec(compile(written.read_text(), str(written), "exec"), namespace)
    namespace["test_conversation"]()  # raises AssertionError naming a difference


@settings(max_examples=300, deadline=None)
@given(
    recorded=st.lists(st.sampled_from(["a", "b", "c", b"a"]), max_size=8),
    got=st.lists(st.sampled_from(["a", "b", "c", "d", b"a"]), max_size=8),
)
def test_each_message_of_either_side_is_accounted_for_once(recorded: list, got: list):
    """The comparison at the end of a replay: every recorded message is matched or named once
    (changed, missing, out of order), every replayed one too (changed, extra, out of order); none
    when both sides are the same; a text and a binary message with the same bytes differ."""

    def events(messages: list) -> list[Event]:
        return [
            Event(seq=n, time=0.0, side="client", kind="receive", data=m, name="ann") for n, m in enumerate(messages)
        ]

    differences = _compare("ann", events(recorded), events(got))
    named = [d for d in differences if d.expected is not None]
    made = [d for d in differences if d.got is not None]
    equal = sum(
        size
        for *_, size in SequenceMatcher(
            a=[(type(m), m) for m in recorded], b=[(type(m), m) for m in got], autojunk=False
        ).get_matching_blocks()
    )
    assert equal + len(named) == len(recorded) and equal + len(made) == len(got)
    assert all(
        d.client == "ann" and d.what in {"message changed", "missing message", "extra message", "message out of order"}
        for d in differences
    )
    assert (recorded == got) == (not differences)
    sides = {"message changed": {(True, True)}, "missing message": {(True, False)}, "extra message": {(False, True)}}
    sides["message out of order"] = {(True, False), (False, True)}  # one of a missing and an extra of one message
    assert all((d.expected is not None, d.got is not None) in sides[d.what] for d in differences)


_CHAT_APP = """
from fastapi import FastAPI, WebSocket

app = FastAPI()
clients = []


@app.websocket("/chat/{who}")
async def chat(websocket: WebSocket, who: str):
    await websocket.accept()
    clients.append(websocket)
    try:
        async for text in websocket.iter_text():
            for client in list(clients):
                if SKIP_SENDER and client is websocket:
                    continue
                await client.send_text(f"{who}: {text}")
    finally:
        clients.remove(websocket)
    for client in list(clients):
        await client.send_text(f"{who} left")
"""


def test_a_written_test_opens_all_clients_in_order_and_names_a_difference(
    make_bench: Callable[..., wsbench.Bench], tmp_path
):
    """to_pytest_all writes one test (data, not pasted code) that replays the 3-client chat: it
    passes against the same app and fails against one that skips the sender, naming ann. The same
    conversation recorded again writes the same file: paths, not the bench's URL with its port."""
    recorded = make_bench(endpoints=False)
    chat_once(recorded)
    (tmp_path / "chat_same.py").write_text("SKIP_SENDER = False\n" + _CHAT_APP)
    (tmp_path / "chat_skip.py").write_text("SKIP_SENDER = True\n" + _CHAT_APP)
    same = recorded.transcript.to_pytest_all(tmp_path / "test_same.py", app="chat_same:app", timeout=0.5)
    skip = recorded.transcript.to_pytest_all(tmp_path / "test_skip.py", app="chat_skip:app", timeout=0.5)
    text = same.read_text()
    assert "(1, 'connect', '/chat/ann', None, None, 'ann')" in text and "exec(" not in text
    again = make_bench(endpoints=False)
    chat_once(again)
    assert again.transcript.to_pytest_all(tmp_path / "again.py", app="chat_same:app", timeout=0.5).read_text() == text
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-p", "no:randomly"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    passed = subprocess.run([*run, str(same)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0, passed.stdout[-2000:]
    failed = subprocess.run([*run, str(skip)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed.stdout[-2000:]
    assert "ann: missing message: expected ← text 'ann: hi'" in failed.stdout
    with pytest.raises(ValueError, match="import string"):
        recorded.transcript.to_pytest_all(tmp_path / "x.py", app="not an app")


def test_a_written_test_holds_names_and_messages_as_data_only(tmp_path):
    """A hostile name or message cannot become code in the written test: both are repr() data,
    and the file's statements are the template's, whatever the transcript holds."""
    hostile = '"""; import os; os._exit(3) #\n\nraise SystemExit'
    events = [
        Event(seq=1, time=0.0, side="client", kind="connect", conn=1, data="ws://h/x", name=hostile),
        Event(seq=2, time=0.0, side="client", kind="send", conn=1, data=hostile, name=hostile),
    ]
    source = Transcript(events).to_pytest_all(tmp_path / "test_hostile.py", app="m:app").read_text()
    tree = ast.parse(source)
    kinds = [type(node).__name__ for node in tree.body]
    assert kinds == ["Expr", "Import", "Import", "Assign", "Assign", "FunctionDef"]
    steps = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "STEPS")  # type: ignore[attr-defined]
    assert ast.literal_eval(steps.value) == [
        (1, "connect", "/x", None, None, hostile),  # the path the client asked for
        (1, "send", hostile, None, None, hostile),
    ]


def _reference_walk(chains: list[list[Event]], needs: dict[int, list[int]], total: int) -> list[Event]:
    """The plain form of causal._walk: each step, the first chain whose head has all its causes
    taken; with none, the head recorded first."""
    done: set[int] = set()
    position = [0] * len(chains)
    ordered: list[Event] = []
    while len(ordered) < total:
        heads = [(n, chain[position[n]]) for n, chain in enumerate(chains) if position[n] < len(chain)]
        ready = next((h for h in heads if all(c in done for c in needs.get(id(h[1]), ()))), None)
        n, event = ready if ready is not None else min(heads, key=lambda head: head[1].seq)
        position[n] += 1
        done.add(id(event))
        ordered.append(event)
    return ordered


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_walk_takes_what_the_plain_walk_takes(data: st.DataObject):
    """The heap-driven walk orders any chains and needs (contradictory ones included) as the plain
    walk does, which looks at every chain at every step."""
    count = data.draw(st.integers(1, 25))
    events = [Event(seq=n, time=0.0, side="client", kind="send", conn=0) for n in range(count)]
    order = data.draw(st.permutations(events))
    width = data.draw(st.integers(1, 5))
    chains: list[list[Event]] = [[] for _ in range(width)]
    for event in order:
        chains[data.draw(st.integers(0, width - 1))].append(event)
    needs: dict[int, list[int]] = {}
    for _ in range(data.draw(st.integers(0, 30))):
        cause, effect = data.draw(st.sampled_from(events)), data.draw(st.sampled_from(events))
        needs.setdefault(id(effect), []).append(id(cause))
    assert causal._walk(chains, needs, count) == _reference_walk(chains, needs, count)
