"""Recorded once (issue 23, item 7): a bench connection's transcript is a view of the bench's log.

Each event is kept (and spilled to disk) once, in the bench's transcript; ``conn.transcript``
selects that connection's events from it and reads, prints and saves as before.
"""

from __future__ import annotations

import gc
import os
import socket
from collections import Counter
from pathlib import Path

import pytest
from fastapi import WebSocket
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

import wsbench
from wsbench.transcript import IN_MEMORY, Event, Transcript, record, record_message
from wsbench.transcript.spool import PREFIX, LazyEvents


def two_connections(count: int, *, in_memory: int = 10) -> Transcript:
    """Events of connections 1 and 2, interleaved: "a0", "b1", "a2" ... (a: 1, b: 2)."""
    transcript = Transcript(in_memory=in_memory)
    for i in range(count):
        conn = 1 if i % 2 == 0 else 2
        record(transcript, side="client", kind="receive" if i % 3 else "send", conn=conn, data=f"{'ab'[conn - 1]}{i}")
    return transcript


def alone(events: object) -> Transcript:
    """A transcript of its own holding *events* (what a connection's transcript held before the views)."""
    return Transcript(list(events), in_memory=10**6)  # type: ignore[call-overload]


@pytest.mark.parametrize("count", [7, 95])  # all in memory; most on disk (in_memory 10)
def test_a_view_reads_as_a_transcript_of_that_connection_alone(count: int):
    """len, indexing, slices, since, reversed, the text form, records and kind counts are those
    of a transcript holding the connection's events only, also once most of them are on disk."""
    source = Transcript(in_memory=10)
    view = source._connection_view(1)
    for i in range(count):
        conn = 1 if i % 2 == 0 else 2
        record(source, side="client", kind="receive" if i % 3 else "send", conn=conn, data=f"{'ab'[conn - 1]}{i}")
    mine = alone(e for e in source if e.conn == 1)
    assert len(view) == len(mine) == (count + 1) // 2
    assert list(view) == list(mine)
    assert [view[i] for i in range(-len(view), len(view))] == [mine[i] for i in range(-len(mine), len(mine))]
    assert view[2:9] == mine[2:9]
    assert list(view.since(5)) == list(mine.since(5)) and list(view.since(-3)) == list(mine.since(-3))
    assert list(reversed(view.events)) == list(reversed(mine.events))
    assert str(view) == str(mine) and view.text(full=True) == mine.text(full=True)
    assert view.records() == mine.records()
    events = view.since(0)
    if isinstance(events, LazyEvents):
        assert events.kind_counts() == Counter((e.side, e.kind) for e in mine)
        assert events.connections() == [1]


def test_a_view_grows_with_what_is_recorded_later_and_records_into_its_source():
    """A view is live: events recorded into its source later show; recording into it keeps the event in the source."""
    source = Transcript()
    view = source._connection_view(5)
    assert len(view) == 0
    record(source, side="client", kind="send", conn=5, data="one")
    record(view, side="client", kind="send", conn=5, data="two")
    record(source, side="client", kind="send", conn=6, data="other")
    assert [e.data for e in view] == ["one", "two"]
    assert [e.data for e in source] == ["one", "two", "other"]


def test_recording_into_a_view_and_its_source_keeps_the_event_once():
    """The bench and the connection's view as two sinks of one record(): the bench holds the event once."""
    source = Transcript()
    view = source._connection_view(5)
    record(source, view, side="client", kind="send", conn=5, data="once")
    assert [e.data for e in source] == ["once"]
    assert [e.data for e in view] == ["once"]


def test_a_later_connection_on_the_same_port_is_not_in_an_earlier_ones_view():
    """Keys are TCP ports, which come back: a view shows its own connection's events only, whether
    the later connection is followed by a view of its own or by none (a raw client)."""
    source = Transcript(in_memory=4)
    first = source._connection_view(7)
    record(source, side="client", kind="send", conn=7, data="first's")
    second = source._connection_view(7)
    record(source, side="client", kind="send", conn=7, data="second's")
    source._claim(7)  # a raw client on that port: no view follows it
    for i in range(10):  # enough that the windows' edges fall on disk
        record(source, side="server", kind="websocket.send", conn=7, data=f"raw {i}")
    assert [e.data for e in first] == ["first's"]
    assert [e.data for e in second] == ["second's"]
    assert len(first) == 1 and len(second) == 1
    assert len(source) == 12


def test_a_new_view_on_a_reused_port_shows_nothing_of_the_connections_before_it():
    """A port comes back after the earlier connection's view was dropped (its Connection collected),
    or after a connection no view ever followed: the new view starts where it claims the port. (The
    lowest-versions run caught it on a module's long-lived bench: a view showed an earlier
    connection's "kept" and "still here" before its own "kept".)"""
    source = Transcript(in_memory=4)
    gone = source._connection_view(7)
    record(source, side="client", kind="receive", conn=7, data="a collected connection's")
    del gone
    record(source, side="server", kind="websocket.send", conn=8, data="a raw client's")
    for key in (7, 8):
        view = source._connection_view(100 + key)  # a client's first, provisional key
        view.follow(key)  # then its TCP port, before its handshake goes out
        record(source, side="client", kind="receive", conn=key, data=f"mine on {key}")
        assert [e.data for e in view] == [f"mine on {key}"]


def test_a_bench_connection_is_kept_once_on_disk(bench: wsbench.Bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A long bench conversation spills to one spool (the bench's), not one per transcript: the
    connection's transcript reads its older events from the bench's, and holds all of them."""
    monkeypatch.setenv("WSBENCH_SPOOL_DIR", str(tmp_path))
    n = IN_MEMORY  # with the server's events, twice in_memory: both halves of the log spill
    with bench.connect(f"/send?n={n}", timeout=60) as conn:
        got = list(conn.iter_text(limit=n, timeout=60))
        conn.wait_closed(timeout=30)
        conn.wait_endpoint(timeout=30)
    assert got == [f"msg {i}" for i in range(n)]
    assert [e.data for e in conn.transcript if e.side == "client" and e.kind == "receive"] == got
    assert [e.data for e in conn.transcript if e.kind == "websocket.send"] == got
    assert all(e.conn == conn.key for e in conn.transcript)
    assert [e.seq for e in conn.transcript] == [e.seq for e in bench.transcript if e.conn == conn.key]
    spools = [name for name in os.listdir(tmp_path) if name.startswith(PREFIX)]
    assert len(spools) == 1, spools


def test_a_reconnected_connection_shows_both_connections(bench: wsbench.Bench):
    """After reconnect() the old connection's transcript still shows only itself, the new one only itself."""
    with bench.connect("/echo") as first:
        first.send_text("one")
        assert first.receive_text() == "one"
    with first.reconnect() as second:
        second.send_text("two")
        assert second.receive_text() == "two"
    second.wait_endpoint(5)
    assert [e.data for e in first.transcript if e.kind == "send"] == ["one"]
    assert [e.data for e in second.transcript if e.kind == "send"] == ["two"]
    assert {e.conn for e in first.transcript} == {first.key}


def test_the_hot_path_records_what_record_does():
    """record_message (a connection's sends and receives, fields in order) makes the event record() makes."""
    transcript = Transcript()
    record_message(transcript, "client", "receive", 9, "hi", "ann")
    fast = transcript[-1]
    slow = record(transcript, side="client", kind="receive", conn=9, data="hi", name="ann")
    assert fast._replace(seq=0, time=0.0) == slow._replace(seq=0, time=0.0)
    assert list(transcript) == [fast, slow]


def test_selecting_a_connection_leaves_out_a_later_one_on_its_port(bench: wsbench.Bench):
    """A client port comes back (after a swarm, often): selecting "ann" by name or by her Connection
    gives her events only, not those of the outside client that later connected from her port."""

    @bench.websocket("/echo-reuse")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            await websocket.send_text(await websocket.receive_text())

    for attempt in range(5):  # another process's connection can take the freed port first: a new ann
        name = f"ann{attempt or ''}"
        ann = bench.connect("/echo-reuse", name=name, timeout=5)
        ann.send_text("hi")
        assert ann.receive_text() == "hi"
        port = ann.key
        ann.close()
        bench.wait_idle(timeout=5)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))  # the server closed first: the port is free on the client's side
            break
        except OSError:  # EADDRINUSE: taken meanwhile (make test's other workers connect all the time)
            sock.close()
    else:
        pytest.fail("five client ports in a row were taken by other connections before they could be reused")
    sock.settimeout(5)
    sock.connect(("127.0.0.1", bench.port))
    with connect(f"ws://127.0.0.1:{bench.port}/echo-reuse", sock=sock, open_timeout=5) as outsider:
        outsider.send("intruder")
        assert outsider.recv(timeout=5) == "intruder"
    bench.wait_idle(timeout=5)
    assert "intruder" in bench.transcript.text(full=True)
    for chosen in (bench.transcript.select(name), bench.transcript.select(ann)):
        assert "intruder" not in chosen.text(full=True)
        assert {e.name for e in chosen} == {name}
        assert [e.data for e in chosen if e.kind == "websocket.receive"] == ["hi"]


def test_events_in_memory_are_nothing_for_the_garbage_collector_to_walk():
    """A transcript holds its events in memory as plain tuples, which the collector stops tracking (a
    named tuple it tracks for ever: 100,000 events were 100,000 more objects for every full collection);
    every read still gives Events, equal to what record() returned."""
    transcript = Transcript()
    made = [record(transcript, side="client", kind="receive", conn=1, data=f"m{i}") for i in range(1000)]
    record_message(transcript, "client", "send", 1, "hi", "ann")
    last = transcript[-1]  # its seq and time as recorded; every other field as given
    made.append(Event(last.seq, last.time, "client", "send", 1, "hi", name="ann"))
    gc.collect()
    assert transcript._events and not any(map(gc.is_tracked, transcript._events))
    assert all(type(event) is Event for event in transcript)
    assert list(transcript) == transcript.events == transcript[:] == transcript.since(0) == made
    assert transcript[-1] == made[-1] and transcript[-1].name == "ann"


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("record"), st.integers(1, 3), st.integers(1, 9)),  # n events of connection 1, 2 or 3
            st.tuples(st.just("claim"), st.integers(0, 2), st.integers(1, 3)),  # view n takes key k (a new TCP port)
        ),
        max_size=60,
    )
)
def test_a_views_len_is_the_number_of_its_events_whatever_came_between(steps):
    """len(view), which a panel asks at every tick, counts only what was recorded since it last
    counted: it always equals the number of events the view reads, across spills (in_memory 6; up
    to 9 events between two counts, so some go to disk uncounted), keys taken over by another
    view, and views taking new keys."""
    source = Transcript(in_memory=6)
    views = [source._connection_view(key) for key in (1, 2, 3)]
    for step in steps:
        if step[0] == "record":
            for _ in range(step[2]):
                record_message(source, "client", "send", step[1], "x", None)
        elif step[0] == "claim":
            views[step[1]].follow(step[2])
        assert all(len(view) == len(list(view)) for view in views), step
