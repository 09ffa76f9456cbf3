"""Tests for wsbench.transcript: recording, the deterministic text form, and JSON Lines."""

from __future__ import annotations

import inspect
import json
import threading
from pathlib import Path

import pytest
from IPython.lib.pretty import pretty

from wsbench.errors import InvalidTranscript
from wsbench.transcript import Event, Transcript, by_connection, causal_order, noticed, record, relay

PORT = 54321
TIME = 1712345678.25


def _event(**fields) -> Event:
    """An Event with defaults for the fields a test does not care about."""
    defaults = {"seq": 1, "time": TIME, "side": "client", "kind": "send", "conn": 1}
    return Event(**{**defaults, **fields})


def _conversation(transcript: Transcript, conn: int) -> None:
    """Record one short conversation of both sides on connection *conn*."""
    record(transcript, side="client", kind="connect", conn=conn, data=f"ws://127.0.0.1:{conn}/echo?room=1")
    record(
        transcript,
        side="server",
        kind="websocket.connect",
        conn=conn,
        client_state="CONNECTED",
        application_state="CONNECTING",
    )
    record(
        transcript,
        side="server",
        kind="websocket.accept",
        conn=conn,
        client_state="CONNECTED",
        application_state="CONNECTED",
    )
    record(transcript, side="client", kind="open", conn=conn)
    record(transcript, side="client", kind="send", conn=conn, data="hi")
    record(transcript, side="client", kind="close", conn=conn, code=4001, reason="bye")


def _row(**fields) -> str:
    """One JSON Lines row, valid unless *fields* breaks it."""
    row = {"seq": 1, "time": TIME, "side": "client", "kind": "send", "conn": 1, "text": "hi", "bytes": None}
    row.update(fields)
    return json.dumps(row)


# -- record -----------------------------------------------------------------


def test_record_appends_one_event_to_each_transcript():
    """record() appends one event to every transcript given, in order, with increasing seq: one copy
    held by them all (each read makes its Event of it: see transcript._event)."""
    a, b, c = Transcript(), Transcript(), Transcript()
    first = record(a, b, c, side="client", kind="send", data="one")
    second = record(a, b, c, side="client", kind="send", data="two")
    for transcript in (a, b, c):
        assert transcript.events == [first, second]
    assert a._events[0] is b._events[0] is c._events[0]
    assert first.seq < second.seq
    assert first.time <= second.time


def test_record_into_no_transcript_still_returns_the_event():
    """record() with no transcript creates and returns the Event."""
    event = record(side="server", kind="websocket.connect")
    assert isinstance(event, Event)
    assert (event.side, event.kind) == ("server", "websocket.connect")


def test_record_is_thread_safe():
    """4 threads x 2000 record() calls give 8000 events with seq strictly increasing in list order."""
    transcript = Transcript()
    threads_count, calls = 4, 2000
    start = threading.Barrier(threads_count)

    def work(n: int) -> None:
        start.wait(timeout=10)
        for i in range(calls):
            record(transcript, side="client", kind="send", conn=n, data=str(i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert len(transcript) == threads_count * calls
    seqs = [event.seq for event in transcript]
    assert seqs == sorted(set(seqs))  # strictly increasing
    for n in range(threads_count):
        assert [e.data for e in transcript if e.conn == n] == [str(i) for i in range(calls)]


# -- the text form ----------------------------------------------------------


def test_text_leaves_out_ports_times_and_ids():
    """The text form shows the URL path but no port number, host, time or seq."""
    transcript = Transcript()
    _conversation(transcript, PORT)
    record(transcript, side="server", kind="websocket.receive", conn=PORT, data="x" * 5)
    text = transcript.text()
    assert "/echo?room=1" in text
    assert str(PORT) not in text
    assert "127.0.0.1" not in text
    for event in transcript:
        assert str(event.time) not in text
        assert str(int(event.time)) not in text
    built = Transcript([_event(seq=987654, conn=PORT, data="hi")]).text()
    assert "987654" not in built
    assert str(PORT) not in built
    assert str(int(TIME)) not in built


def test_text_is_the_same_for_two_runs():
    """Two transcripts recorded at different times on different connection keys print the same text."""
    first, second = Transcript(), Transcript()
    _conversation(first, PORT)
    _conversation(first, PORT + 1)
    _conversation(second, 40000)
    _conversation(second, 40001)
    assert [e.seq for e in first] != [e.seq for e in second]
    assert first.text() == second.text()
    assert str(first) == first.text()


def test_text_renders_known_lines():
    """Events render as documented: arrows, payload kind, close code with label, server states."""
    transcript = Transcript(
        [
            _event(seq=1, kind="send", data="hi"),
            _event(
                seq=2,
                side="server",
                kind="websocket.receive",
                data="hi",
                client_state="CONNECTED",
                application_state="CONNECTED",
            ),
            _event(seq=3, kind="close", code=4001, reason="bye"),
        ]
    )
    lines = transcript.text().splitlines()
    assert lines[0] == "client  → text 'hi'"
    assert lines[1].startswith("server  ← websocket.receive text 'hi'")
    assert lines[1].endswith("[client_state=CONNECTED application_state=CONNECTED]")
    assert lines[2] == "client  → close 4001 (private use) bye"


def test_one_connection_has_no_number():
    """With a single connection no line carries a "#n" prefix."""
    transcript = Transcript()
    _conversation(transcript, PORT)
    assert not any(line.startswith("#") for line in transcript.text().splitlines())


def test_connections_are_numbered_in_order_of_appearance():
    """With several connections, one conversation (issue 23): the lines of unnamed connections are
    prefixed "#1", "#2" by first appearance, and interleaved (clients alone: in recorded order)."""
    transcript = Transcript(
        [
            _event(seq=1, conn=900, data="a"),
            _event(seq=2, conn=17, data="b"),
            _event(seq=3, conn=900, data="c"),
            _event(seq=4, conn=5, data="d"),
        ]
    )
    lines = transcript.text().splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["#1", "#2", "#1", "#3"]
    assert [line[-2] for line in lines] == ["a", "b", "c", "d"]


def test_long_text_preview_is_truncated():
    """A text payload longer than the preview ends with "…" and does not show it all."""
    data = "a" * 70 + "BCDEFGHIJ"
    line = Transcript([_event(data=data)]).text()
    assert "…" in line
    assert "J" not in line
    assert line.endswith("…")


def test_short_text_preview_is_not_truncated():
    """A short text payload is shown whole, without "…"."""
    line = Transcript([_event(data="hello")]).text()
    assert "'hello'" in line
    assert "…" not in line


def test_bytes_preview_shows_the_size():
    """A bytes payload shows "(N bytes)", truncated with "…" when long."""
    long_line = Transcript([_event(data=b"\x00" * 100)]).text()
    assert "(100 bytes)" in long_line
    assert "…" in long_line
    short_line = Transcript([_event(data=b"ab")]).text()
    assert short_line.endswith("bytes b'ab' (2 bytes)")


def test_event_size_counts_utf8_bytes():
    """Event.size counts text as UTF-8 bytes, bytes by length, and no payload as 0."""
    assert _event(data="é").size == 2
    assert _event(data=b"\x00\x01\x02").size == 3
    assert _event(data=None).size == 0


def test_repr_counts_events():
    """repr() reads "<Transcript: N events>"."""
    assert repr(Transcript()) == "<Transcript: 0 events>"
    assert repr(Transcript([_event(), _event(seq=2)])) == "<Transcript: 2 events>"


def test_ipython_pretty_shows_the_text_form():
    """IPython's pretty printer shows the text form, not the repr."""
    transcript = Transcript()
    _conversation(transcript, PORT)
    assert pretty(transcript) == transcript.text()


# -- causal order -----------------------------------------------------------


def _client(kind: str, data: str | None = None) -> dict:
    return {"side": "client", "kind": kind, "data": data}


def _server(kind: str, data: str | None = None) -> dict:
    return {"side": "server", "kind": kind, "data": data}


def _echo_events(interleaved: bool, conn: int) -> list[Event]:
    """An echo of "a" and "b", recorded in one of two clock orders that both respect causality."""
    start = [
        _client("connect", "ws://127.0.0.1:1/echo"),
        _server("websocket.connect"),
        _server("websocket.accept"),
        _client("open"),
    ]
    if interleaved:  # the client sends "b" before the server has answered "a"
        middle = [
            _client("send", "a"),
            _client("send", "b"),
            _server("websocket.receive", "a"),
            _server("websocket.send", "a"),
            _server("websocket.receive", "b"),
            _client("receive", "a"),
            _server("websocket.send", "b"),
            _client("receive", "b"),
        ]
    else:
        middle = [
            _client("send", "a"),
            _server("websocket.receive", "a"),
            _server("websocket.send", "a"),
            _client("receive", "a"),
            _client("send", "b"),
            _server("websocket.receive", "b"),
            _server("websocket.send", "b"),
            _client("receive", "b"),
        ]
    end = [_client("close", None), _server("websocket.disconnect"), _client("closed")]
    rows = start + middle + end
    return [_event(seq=100 * conn + n, time=TIME + n, conn=conn, **row) for n, row in enumerate(rows)]


def _chain_of(event: Event) -> str:
    if event.side == "server":
        return "server"
    return "reader" if event.kind in ("receive", "closed") else "caller"


def test_text_shows_a_send_before_its_receive():
    """A server receive recorded before the client's send is still printed after it."""
    transcript = Transcript(
        [
            _event(seq=1, side="server", kind="websocket.receive", data="a"),
            _event(seq=2, side="client", kind="send", data="a"),
        ]
    )
    assert transcript.text().splitlines() == ["client  → text 'a'", "server  ← websocket.receive text 'a'"]


def test_text_is_the_same_for_two_interleavings():
    """The same echo conversation recorded in two clock orders prints the same text."""
    first = Transcript(_echo_events(interleaved=False, conn=7))
    second = Transcript(_echo_events(interleaved=True, conn=9))
    assert first.text() == second.text()


@pytest.mark.parametrize("interleaved", [False, True])
def test_causal_order_keeps_each_side_in_order(interleaved):
    """causal_order is a permutation that keeps the server, the client calls and the client reader in order."""
    events = _echo_events(interleaved, conn=1)
    ordered = causal_order(events)
    assert sorted(ordered, key=lambda e: e.seq) == events
    for chain in ("server", "reader", "caller"):
        assert [e for e in ordered if _chain_of(e) == chain] == [e for e in events if _chain_of(e) == chain]


@pytest.mark.parametrize("interleaved", [False, True])
def test_causal_order_puts_causes_first(interleaved):
    """Each message is shown sent before it is received, and the handshake before what needs it."""
    ordered = causal_order(_echo_events(interleaved, conn=1))
    where = {(e.side, e.kind, e.data): n for n, e in enumerate(ordered)}
    pairs = [
        (("client", "connect", "ws://127.0.0.1:1/echo"), ("server", "websocket.connect", None)),
        (("server", "websocket.accept", None), ("client", "open", None)),
        (("client", "send", "a"), ("server", "websocket.receive", "a")),
        (("client", "send", "b"), ("server", "websocket.receive", "b")),
        (("server", "websocket.send", "a"), ("client", "receive", "a")),
        (("server", "websocket.send", "b"), ("client", "receive", "b")),
        (("client", "open", None), ("client", "receive", "a")),
        (("client", "close", None), ("server", "websocket.disconnect", None)),
        (("client", "close", None), ("client", "closed", None)),
    ]
    for cause, effect in pairs:
        assert where[cause] < where[effect], (cause, effect)


def test_jsonl_keeps_the_recorded_order():
    """to_jsonl keeps the order of recording (by seq), not the causal order of the text."""
    events = _echo_events(interleaved=True, conn=1)
    rows = [json.loads(line) for line in Transcript(events).to_jsonl().splitlines()]
    assert [row["seq"] for row in rows] == [e.seq for e in events]


# -- access -----------------------------------------------------------------


def test_len_iter_and_getitem():
    """len(), iteration and indexing see the events in order."""
    events = [_event(seq=n, data=str(n)) for n in range(1, 4)]
    transcript = Transcript(events)
    assert len(transcript) == 3
    assert list(transcript) == events
    assert transcript[0] == events[0]
    assert transcript[-1] == events[2]


def test_iteration_is_a_snapshot():
    """Recording while iterating does not change what the running iteration yields."""
    transcript = Transcript([_event(data="a")])
    seen = []
    for event in transcript:
        seen.append(event)
        record(transcript, side="client", kind="send", data="more")
    assert len(seen) == 1
    assert len(transcript) == 2


def test_since_returns_only_new_events():
    """since(i) returns the events from position i on."""
    transcript = Transcript()
    record(transcript, side="client", kind="send", data="old")
    mark = len(transcript)
    new = record(transcript, side="client", kind="send", data="new")
    assert transcript.since(mark) == [new]
    assert transcript.since(0) == transcript.events
    assert transcript.since(len(transcript)) == []


def test_filter_by_side_and_kind():
    """filter() keeps the events of one side and/or kind, in order, as a new Transcript."""
    transcript = Transcript()
    _conversation(transcript, PORT)
    server = transcript.filter(side="server")
    assert isinstance(server, Transcript)
    assert [e.kind for e in server] == ["websocket.connect", "websocket.accept"]
    assert [e.data for e in transcript.filter(kind="send")] == ["hi"]
    assert len(transcript.filter(side="server", kind="send")) == 0
    assert len(transcript.filter()) == len(transcript)


# -- JSON Lines -------------------------------------------------------------


def _varied_transcript() -> Transcript:
    return Transcript(
        [
            _event(seq=1, kind="connect", data="ws://127.0.0.1:54321/x"),
            _event(seq=2, kind="send", data="héllo ✓ 日本 🎉"),
            _event(seq=3, kind="send", data=b"\x00\xff\xfe binary"),
            _event(
                seq=4,
                side="server",
                kind="websocket.receive",
                conn=2,
                data=b"",
                client_state="CONNECTED",
                application_state="CONNECTED",
            ),
            _event(seq=5, kind="close", code=4001, reason="au revoir ✓", time=TIME + 0.125),
            _event(seq=6, kind="open", detail="subprotocol 'chat'"),
        ]
    )


def test_jsonl_round_trip():
    """from_jsonl(to_jsonl()) gives back equal events, bytes (base64) and non-ASCII text included."""
    transcript = _varied_transcript()
    loaded = Transcript.from_jsonl(transcript.to_jsonl())
    assert loaded.events == transcript.events
    assert isinstance(loaded[2].data, bytes)
    assert isinstance(loaded[3].data, bytes)


def test_jsonl_format():
    """to_jsonl writes one JSON object a line, non-ASCII unescaped, bytes as base64 under "bytes"."""
    text = _varied_transcript().to_jsonl()
    lines = text.splitlines()
    assert len(lines) == 6
    assert text.endswith("\n")
    assert "日本" in text
    assert json.loads(lines[2])["bytes"] == "AP/+IGJpbmFyeQ=="
    assert json.loads(lines[2])["text"] is None
    assert json.loads(lines[2])["size"] == 10


def test_jsonl_numbers_connections():
    """Opaque connection keys are written as 1, 2... so a reload keeps the grouping and the text."""
    transcript = Transcript()
    _conversation(transcript, PORT)
    _conversation(transcript, 40000)
    loaded = Transcript.from_jsonl(transcript.to_jsonl())
    assert sorted({e.conn for e in loaded}) == [1, 2]
    assert loaded.text() == transcript.text()


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x1c", "\r", "\x0b"])
def test_jsonl_round_trip_of_line_separators_in_text(separator):
    """Text containing Unicode line separators (U+2028, U+2029, NEL...) survives a JSON Lines round trip."""
    transcript = Transcript([_event(data=f"before{separator}after")])
    loaded = Transcript.from_jsonl(transcript.to_jsonl())
    assert loaded.events == transcript.events


def test_save_and_load(tmp_path):
    """save() writes a file that load() reads back into equal events."""
    transcript = _varied_transcript()
    path = transcript.save(tmp_path / "run.jsonl")
    assert path == tmp_path / "run.jsonl"
    assert Transcript.load(path).events == transcript.events
    assert Transcript.load(str(path)).events == transcript.events


def test_load_skips_blank_lines():
    """Blank lines in a JSON Lines text are ignored."""
    loaded = Transcript.from_jsonl("\n" + _row() + "\n\n   \n")
    assert len(loaded) == 1


@pytest.mark.parametrize(
    ("bad_line", "says"),
    [
        ("this is not json", "not JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        (json.dumps({"seq": 1, "time": TIME, "side": "client", "conn": 1}), "'kind'"),
        (_row(seq="1"), "'seq'"),
        (_row(side="robot"), "side must be one of client, server, proxy, browser"),
        (_row(text=None, bytes="!!not base64!!"), "'bytes' is not base64"),
    ],
)
def test_bad_jsonl_names_the_line(bad_line, says):
    """A bad line raises InvalidTranscript naming its line number and the problem."""
    text = _row() + "\n\n" + bad_line + "\n" + _row()
    with pytest.raises(InvalidTranscript) as info:
        Transcript.from_jsonl(text)
    assert "line 3" in str(info.value)
    assert says in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("field", [{"text": 5}, {"text": ["a"]}, {"code": "1000"}])
def test_jsonl_field_of_wrong_type_is_refused(field):
    """A text payload or close code of the wrong JSON type raises InvalidTranscript naming the line."""
    with pytest.raises(InvalidTranscript) as info:
        Transcript.from_jsonl(_row(**field))
    assert "line 1" in str(info.value)


def test_load_binary_file_is_invalid_transcript(tmp_path):
    """load() of a file that is not UTF-8 raises InvalidTranscript, not UnicodeDecodeError."""
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    with pytest.raises(InvalidTranscript) as info:
        Transcript.load(path)
    assert "UTF-8" in str(info.value)


def test_jsonl_round_trip_keeps_a_list_reason():
    """FastAPI closes a failed validation with a list as reason; JSON Lines keeps it as a list."""
    transcript = Transcript()
    record(transcript, side="server", kind="websocket.close", conn=7, code=1008, reason=[{"type": "int_parsing"}])
    again = Transcript.from_jsonl(transcript.to_jsonl())
    assert again[0].reason == [{"type": "int_parsing"}]
    assert str(again) == str(transcript)


def test_a_corrupt_json_lines_file_names_the_line(tmp_path: Path):
    """Loading a damaged file raises InvalidTranscript with the line number and what is wrong."""
    path = tmp_path / "broken.jsonl"
    path.write_text('{"seq": 1, "time": 0, "side": "client", "kind": "connect", "conn": 1}\n{"seq": 2, "ti\n')
    with pytest.raises(InvalidTranscript, match=r"^line 2: not JSON"):
        Transcript.load(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(InvalidTranscript, match="not a UTF-8 text file"):
        Transcript.load(path)


# -- who closed ---------------------------------------------------------------------


_ROW_KEYS = [
    "seq",
    "time",
    "side",
    "kind",
    "conn",
    "code",
    "reason",
    "client_state",
    "application_state",
    "detail",
    "text",
    "bytes",
    "size",
]


def test_by_is_written_only_for_events_that_carry_it():
    """records() and to_jsonl() hold "by" only on a "closed" event that knows who closed; other rows are as before."""
    transcript = Transcript(
        [
            _event(seq=1, kind="send", data="hi"),
            _event(seq=2, kind="closed", code=1000, detail="received 1000 (OK); then sent 1000 (OK)", by="server"),
            _event(seq=3, kind="closed", code=1006, detail="no close frame received or sent", conn=2),
        ]
    )
    rows = transcript.records()
    assert list(rows[0]) == _ROW_KEYS and list(rows[2]) == _ROW_KEYS
    assert rows[1]["by"] == "server" and set(rows[1]) == {*_ROW_KEYS, "by"}
    lines = [json.loads(line) for line in transcript.to_jsonl().splitlines()]
    assert [line.get("by", "-") for line in lines] == ["-", "server", "-"]
    assert Transcript.from_jsonl(transcript.to_jsonl()).events == transcript.events


@pytest.mark.parametrize("by", ["nobody", 1, ["client"], "Client"])
def test_a_bad_by_is_refused_naming_line_and_field(by):
    """ "by" must be "client", "server" or null: anything else is InvalidTranscript naming the line and field."""
    text = _row() + "\n" + _row(kind="closed", text=None, by=by)
    with pytest.raises(InvalidTranscript, match=r"^line 2: field 'by' must be 'client', 'server' or null"):
        Transcript.from_jsonl(text)


@pytest.mark.parametrize(
    ("detail", "by"),
    [
        ("sent 1000 (OK); then received 1000 (OK)", "client"),
        ("sent 1000 (OK); no close frame received", "client"),
        ("received 4000 (private use) done; then sent 4000 (private use) done", "server"),
        ("received 1001 (going away); no close frame sent", "server"),
        ("no close frame received or sent", None),
        (None, None),
    ],
)
def test_an_old_closed_row_without_by_gets_it_from_the_close_text(detail, by):
    """A client "closed" row saved before "by" existed gets it from websockets' account of the close, once, at load."""
    (event,) = Transcript.from_jsonl(_row(kind="closed", text=None, detail=detail))
    assert event.by == by


def test_a_by_written_as_null_or_on_other_rows_is_kept():
    """Only a missing "by" on a client "closed" row is derived; null stays None, other kinds never get one."""
    closed = _row(kind="closed", text=None, detail="sent 1000 (OK); then received 1000 (OK)", by=None)
    other = _row(kind="send", detail="sent something")
    proxy = _row(side="proxy", kind="closed", text=None, detail="sent")
    assert [e.by for e in Transcript.from_jsonl("\n".join([closed, other, proxy]))] == [None, None, None]


# -- grouping and the lazy delegators ------------------------------------------------


def test_by_connection_groups_in_order_of_first_appearance():
    """by_connection() keeps each connection's events in order, the connections in order of their first event."""
    events = [_event(seq=1, conn=9), _event(seq=2, conn=4), _event(seq=3, conn=9), _event(seq=4, conn=1)]
    assert [[e.seq for e in group] for group in by_connection(events)] == [[1, 3], [2], [4]]
    assert by_connection([]) == []
    transcript = Transcript()
    _conversation(transcript, PORT)
    _conversation(transcript, 40000)
    assert [len(group) for group in by_connection(transcript)] == [6, 6]


def test_replay_and_to_pytest_have_the_real_signatures():
    """Transcript.replay / to_pytest take the same parameters as replay() / write_pytest(), not **options."""
    from wsbench.codegen import write_pytest
    from wsbench.replay import replay

    def parameters(function) -> list[tuple[str, object, object]]:
        found = list(inspect.signature(function).parameters.values())[1:]  # without self / transcript
        return [(p.name, p.kind, p.default) for p in found]

    assert parameters(Transcript.replay) == parameters(replay)
    assert parameters(Transcript.to_pytest) == parameters(write_pytest)


# -- proxy events ------------------------------------------------------------------------------


def _cut_events(cut_first: bool) -> list[Event]:
    """An echo of "a" through a proxy that cuts after the echo; *cut_first* races the cut ahead of the reader."""
    rows = [
        _client("connect", "ws://127.0.0.1:1/echo"),
        {"side": "proxy", "kind": "fault", "detail": "cut after 1 frame (to_client)"},
        _server("websocket.connect"),
        _server("websocket.accept"),
        _client("open"),
        _client("send", "a"),
        _server("websocket.receive", "a"),
        _server("websocket.send", "a"),
    ]
    cut = {"side": "proxy", "kind": "cut", "detail": "after 1 frame (to_client): reset both TCP connections"}
    tail = [_client("receive", "a"), cut] if not cut_first else [cut, _client("receive", "a")]
    rows += [*tail, {**_server("websocket.disconnect"), "code": 1005}, {**_client("closed"), "code": 1006}]
    return [_event(seq=n, time=TIME + n / 1000, conn=3, **row) for n, row in enumerate(rows, 1)]


def test_proxy_events_print_in_a_fixed_place():
    """Proxy events render without times or ports; a racing cut prints the same way either order."""
    first, second = Transcript(_cut_events(False)).text(), Transcript(_cut_events(True)).text()
    assert first == second
    lines = first.splitlines()
    assert lines[1] == "proxy   fault: cut after 1 frame (to_client)"
    assert lines.index("proxy   cut: after 1 frame (to_client): reset both TCP connections") < lines.index(
        "client  closed: None"
    )
    assert lines[-1] == "client  closed: None"


def test_proxy_setting_takes_its_place_among_the_callers_events():
    """A fault set between two sends prints between them."""
    events = [
        _event(seq=1, kind="connect", data="ws://127.0.0.1:1/"),
        _event(seq=2, kind="open"),
        _event(seq=3, kind="send", data="a"),
        _event(seq=4, side="proxy", kind="half-open", detail="stop forwarding (each way)"),
        _event(seq=5, kind="send", data="b"),
    ]
    assert [e.seq for e in causal_order(events)] == [1, 2, 3, 4, 5]


def test_upstream_error_precedes_the_rejection():
    """The proxy's "upstream error" prints before the client's rejection; the body's loopback port is hidden."""
    body = b"wsbench FaultProxy: cannot reach 127.0.0.1:40123: connection refused"
    transcript = Transcript(
        [
            _event(seq=1, kind="connect", data="ws://127.0.0.1:1/"),
            _event(seq=3, kind="rejected", code=502, data=body),
            _event(seq=2, side="proxy", kind="upstream error", detail="cannot reach Bench 'main'"),
        ]
    )
    lines = transcript.text().splitlines()
    assert lines[1] == "proxy   upstream error: cannot reach Bench 'main'"
    assert "127.0.0.1:<port>" in lines[2] and "40123" not in lines[2]


def test_jsonl_round_trip_of_proxy_events():
    """Proxy events survive JSON Lines."""
    transcript = Transcript(_cut_events(False))
    again = Transcript.from_jsonl(transcript.to_jsonl())
    assert again.text() == transcript.text()
    assert [e.side for e in again].count("proxy") == 2


def test_relay_copies_under_another_connection_key():
    """record() into a relay appends a copy, relabelled, to each target; the relay keeps nothing."""
    first, second = Transcript(), Transcript()
    sink = relay(42, first, second)
    event = record(sink, side="server", kind="websocket.connect", conn=7)
    assert event.conn == 7
    assert [e.conn for e in first] == [42] and [e.conn for e in second] == [42]
    assert len(sink) == 0


def test_noticed_measures_from_the_latest_disruption():
    """noticed(): each side's first notice after a disruption, with the seconds between; heal ends it."""
    events = _cut_events(False)
    found = noticed(events)
    assert [(d.kind, n.side, n.kind) for d, n, _ in found] == [
        ("cut", "server", "websocket.disconnect"),
        ("cut", "client", "closed"),
    ]
    assert all(seconds > 0 for _, _, seconds in found)
    healed = [
        _event(seq=1, side="proxy", kind="half-open", detail="x"),
        _event(seq=2, side="proxy", kind="heal", detail="x"),
        _event(seq=3, kind="closed", code=1000),
    ]
    assert noticed(healed) == []


def test_a_peers_control_characters_never_reach_the_terminal_through_the_text():
    """print(transcript) escapes what a peer chose: a close reason or a path with a newline, ESC or BEL
    cannot forge a line, colour the terminal or set its title (issue 21, finding 4, beyond serve)."""
    transcript = Transcript()
    record(transcript, side="client", kind="connect", conn=1, data="ws://h/echo%0a\n#9 /admin open\x1b]0;pwned\x07")
    record(transcript, side="server", kind="websocket.close", conn=1, code=4000, reason="bye\n\x1b[31mred")
    text = transcript.text()
    assert "\x1b" not in text and "\x07" not in text
    assert len(text.splitlines()) == 2  # one line per event, whatever the peer sent
    assert "\\x1b[31mred" in text and "\\n#9 /admin open" in text
