"""A long transcript: older events on disk, every reader still sees every event (issue 15)."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import pipelined_echo
from hypothesis import given, settings
from hypothesis import strategies as st

import wsbench
import wsbench.transcript as transcript_module
from wsbench.transcript import (
    IN_MEMORY,
    KEEP_UNDER_BUDGET,
    SHOW_ALL,
    SHOW_ENDS,
    Event,
    Transcript,
    _event_from_row,
    record,
    relay,
    spool,
)
from wsbench.transcript.spool import EventLog


def numbered(count: int, *, in_memory: int = 10, conns: int = 1) -> Transcript:
    """A transcript of *count* received messages "m0", "m1" ..., spread over *conns* connections."""
    transcript = Transcript(in_memory=in_memory)
    for i in range(count):
        record(transcript, side="client", kind="receive", conn=i % conns, data=f"m{i}")
    return transcript


def payloads(events: object) -> list[object]:
    """The payloads of some events, in the order given."""
    return [event.data for event in events]  # type: ignore[attr-defined]


def test_a_short_transcript_stays_in_memory_as_a_list():
    """Below its in_memory limit a transcript writes nothing and its events are a plain list."""
    transcript = numbered(IN_MEMORY - 1, in_memory=IN_MEMORY)
    assert transcript._log is None
    assert isinstance(transcript.events, list)
    assert isinstance(transcript.since(5), list)


def test_a_long_transcript_keeps_its_memory_bounded():
    """Past in_memory, the older half goes to disk: memory holds at most in_memory events."""
    transcript = numbered(1000, in_memory=10)
    assert transcript._log is not None
    assert len(transcript._events) < 10
    assert transcript._log.total + len(transcript._events) == 1000


def test_every_reader_sees_every_event():
    """len, iteration, indexing, slices, events, since, reversed and filter all see spooled events."""
    transcript = numbered(57)
    expected = [f"m{i}" for i in range(57)]
    assert len(transcript) == 57
    assert payloads(transcript) == expected
    assert payloads(transcript.events) == expected
    assert payloads(reversed(transcript.events)) == expected[::-1]
    assert (transcript[0].data, transcript[3].data, transcript[-1].data) == ("m0", "m3", "m56")
    assert payloads(transcript[2:50:7]) == expected[2:50:7]
    assert payloads(transcript.since(7)) == expected[7:]
    assert payloads(transcript.since(52)) == expected[52:]
    assert payloads(reversed(transcript.since(7))) == expected[7:][::-1]
    assert transcript.since(7)[0].data == "m7"
    assert payloads(transcript.filter(kind="receive")) == expected
    assert transcript.events == list(transcript)
    with pytest.raises(IndexError):
        transcript[57]


def test_records_save_and_load_carry_every_event(tmp_path: Path):
    """records, JSON Lines and a save/load round trip of a spooled transcript hold every event."""
    transcript = numbered(57, conns=2)
    assert [row["text"] for row in transcript.records()] == [f"m{i}" for i in range(57)]
    assert [row["conn"] for row in transcript.records()][:3] == [1, 2, 1]
    saved = transcript.save(tmp_path / "long.jsonl")
    assert saved.read_text(encoding="utf-8") == transcript.to_jsonl()
    loaded = Transcript.load(saved)
    assert loaded.to_jsonl() == transcript.to_jsonl()
    assert Transcript.from_jsonl(transcript.to_jsonl()).to_jsonl() == transcript.to_jsonl()


def test_the_full_text_of_a_spooled_transcript_equals_the_in_memory_one():
    """text(full=True) reads the spool and prints exactly what an all-in-memory transcript prints."""
    spooled = numbered(300, conns=3)
    in_memory = Transcript(list(spooled), in_memory=10_000)
    assert in_memory._log is None
    assert spooled.text(full=True) == in_memory.text(full=True)
    assert str(spooled) == str(in_memory)


def test_a_short_text_is_the_whole_conversation():
    """Up to SHOW_ALL events the text is every event, as it always was."""
    transcript = numbered(SHOW_ALL, in_memory=10_000)
    assert str(transcript) == transcript.text(full=True)
    assert str(transcript).count("\n") == SHOW_ALL - 1


def test_a_long_text_is_a_summary():
    """Past SHOW_ALL events the text shows counts by kind, both ends and how to see the rest."""
    transcript = numbered(SHOW_ALL + 1)
    record(transcript, side="client", kind="closed", conn=0, detail="sent 1000 (OK); then received 1000 (OK)")
    lines = str(transcript).split("\n")
    assert lines[0] == f"{SHOW_ALL + 2} events, 1 connection: client closed 1, client receive {SHOW_ALL + 1}"
    assert lines[1] == f"first {SHOW_ENDS}:"
    assert lines[2] == "client  ← text 'm0'"
    assert lines[2 + SHOW_ENDS].startswith(f"… {SHOW_ALL + 2 - 2 * SHOW_ENDS} events not shown: ")
    assert "transcript.text(full=True)" in lines[2 + SHOW_ENDS] and "transcript.save(path)" in lines[2 + SHOW_ENDS]
    assert lines[-1] == "client  closed: sent 1000 (OK); then received 1000 (OK)"
    assert len(lines) == 2 * SHOW_ENDS + 4


@pytest.mark.parametrize("rounds", [100, 101, 102, 103])
@pytest.mark.parametrize("ahead", [1, 3, 7])
def test_a_summary_ends_as_the_full_text_ends(rounds: int, ahead: int):
    """The last lines of a summary are the full text's last lines, wherever its window cuts a send from its receive."""
    transcript = pipelined_echo(Transcript(in_memory=64), rounds, ahead)
    summary = str(transcript).split("\n")
    full = transcript.text(full=True).split("\n")
    assert summary[-SHOW_ENDS:] == full[-SHOW_ENDS:]
    assert summary[2 : 2 + SHOW_ENDS] == full[:SHOW_ENDS]


def test_a_summary_numbers_connections_as_the_full_text_does():
    """Each line of a summary of several connections carries the connection's #number."""
    lines = str(numbered(1000, conns=2)).split("\n")
    assert lines[0] == "1000 events, 2 connections: client receive 1000"
    assert lines[2] == "#1 client  ← text 'm0'"
    assert lines[-1] == "#2 client  ← text 'm999'"


def test_the_spool_goes_with_the_transcript():
    """The spool's directory is removed when its transcript is garbage collected."""
    transcript = numbered(100)
    assert transcript._log is not None
    directory = transcript._log.directory
    assert os.path.isdir(directory)
    del transcript
    gc.collect()
    assert not os.path.exists(directory)


def test_relay_sinks_spool_their_targets():
    """Events relayed under a connection key reach a long target transcript, spooled, in full."""
    target = Transcript(in_memory=10)
    sink = relay(7, target)
    for i in range(100):
        record(sink, side="server", kind="websocket.send", conn=1, data=f"m{i}")
    assert len(sink) == 0
    assert payloads(target) == [f"m{i}" for i in range(100)]
    assert {event.conn for event in target} == {7}


def test_two_transcripts_of_one_connection_encode_each_batch_once(monkeypatch: pytest.MonkeyPatch):
    """A connection's and its bench's transcripts spill the same events together: encoded once, written twice."""
    packed: list[int] = []
    original = spool._pack

    def counting(events: object) -> list[bytes]:
        packed.append(len(events))  # type: ignore[arg-type]
        return original(events)  # type: ignore[arg-type]

    monkeypatch.setattr(spool, "_pack", counting)
    mine, bench, other = Transcript(in_memory=10), Transcript(in_memory=10), Transcript(in_memory=10)
    for i in range(100):
        record(mine, bench, side="client", kind="receive", conn=0, data=f"m{i}")
    assert mine._log is not None and bench._log is not None
    assert len(packed) == mine._log.batches == bench._log.batches > 1
    assert payloads(mine) == payloads(bench) == [f"m{i}" for i in range(100)]
    record(other, side="client", kind="receive", conn=1, data="x")  # another connection: its own bytes
    for i in range(100):
        record(bench if i % 2 else other, side="client", kind="receive", conn=1, data=f"n{i}")
    assert payloads(bench)[100:] == [f"n{i}" for i in range(1, 100, 2)]


def test_a_failing_disk_keeps_memory_bounded_and_says_what_was_not_kept(monkeypatch: pytest.MonkeyPatch):
    """When the spool cannot be written, the older events give way to one "not kept" event (their
    positions kept) and a warning; memory stays bounded; once the disk works again, nothing more is lost."""

    def full(self: EventLog[Event], events: object, **options: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(EventLog, "append", full)
    with pytest.warns(RuntimeWarning, match=r"No space left on device.*not kept"):
        transcript = numbered(100)
    assert len(transcript._events) < 10 and len(transcript) == 100
    monkeypatch.undo()
    for i in range(100, 120):
        record(transcript, side="client", kind="receive", conn=0, data=f"m{i}")
    shown = list(transcript)
    assert shown[0].kind == "not kept" and shown[0].detail is not None
    lost = int(shown[0].detail.split()[0])
    assert payloads(shown[1:]) == [f"m{i}" for i in range(lost, 120)]
    assert len(transcript) == 120 and transcript[lost - 1] == shown[0]  # every lost position reads as the note
    assert transcript.text().splitlines()[0] == f"client  ! {lost} events not kept from here on: " + (
        "the spool's disk failed (No space left on device)"
    )


def test_an_event_the_spool_cannot_write_stays_in_memory():
    """A payload that is neither text nor bytes cannot be spooled: it stays in memory, none is lost."""
    transcript = Transcript(in_memory=10)
    record(transcript, side="client", kind="receive", conn=0, data=12345)
    for i in range(30):
        record(transcript, side="client", kind="receive", conn=0, data=f"m{i}")
    assert payloads(transcript) == [12345, *(f"m{i}" for i in range(30))]


def test_a_spooled_event_reads_back_exactly_as_recorded():
    """Bytes, text with a lone surrogate, a list reason and header pairs survive the spool's JSON as they were."""
    events = [
        Event(1, 0.5, "client", "receive", 7, b"\x00\xffbin"),
        Event(2, 0.5, "client", "receive", 7, "x\ud800y"),
        Event(3, 0.5, "server", "websocket.close", 7, None, 1008, [{"loc": ["query", "q"], "msg": "missing"}]),
        Event(4, 0.5, "client", "connect", 7, "ws://h/", headers=(("Host", "h"), ("X-A", "b"))),
    ]
    log = EventLog(_event_from_row)
    try:
        log.append(events)
        assert log.batch(0) == events
        assert isinstance(log.batch(0)[0].data, bytes) and isinstance(log.batch(0)[3].headers[0], tuple)
    finally:
        log.close()


_text = st.text(st.characters(codec=None))  # any code point, lone surrogates included
_payload = st.none() | _text | st.binary(max_size=64)
_events = st.builds(
    Event,
    seq=st.integers(0, 2**62),
    time=st.floats(allow_nan=False, allow_infinity=False),
    side=st.sampled_from(["client", "server", "proxy"]),
    kind=_text,
    conn=st.integers(-(2**62), 2**62),
    data=_payload,
    code=st.none() | st.integers(0, 65535),
    reason=st.none() | _text | st.lists(st.dictionaries(_text, _text, max_size=2), max_size=2),
    detail=st.none() | _text,
    headers=st.none() | st.lists(st.tuples(_text, _text), max_size=3).map(tuple),
    by=st.none() | st.sampled_from(["client", "server"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_events, min_size=1, max_size=20))
def test_any_batch_reads_back_exactly(events: list[Event]):
    """Whatever the fields hold (any code point, bytes, exact floats, nested reasons), a batch reads back equal."""
    log = EventLog(_event_from_row)
    try:
        log.append(events)
        log.append(events[::-1])
        assert log.batch(0) == events
        assert log.batch(1) == events[::-1]
        assert [type(e.data) for e in log.batch(0)] == [type(e.data) for e in events]
    finally:
        log.close()


def test_in_memory_must_be_a_count():
    """in_memory below 2 or not an integer is refused with the value named."""
    with pytest.raises(ValueError, match="in_memory"):
        Transcript(in_memory=1)


_MILLION = textwrap.dedent(
    """
    from wsbench.transcript import Transcript, record

    def rss():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024

    n = 1_000_000
    t = Transcript()
    before = rss()
    for i in range(n):
        record(t, side="client", kind="receive", conn=1, data=f"{i:064d}")
    grown = rss() - before
    assert len(t) == n, len(t)
    assert t[0].data == f"{0:064d}" and t[-1].data == f"{n - 1:064d}", (t[0], t[-1])
    for i in (1, 4_999, 5_000, 123_457, n // 2, 777_777, n - 10_001):
        assert t[i].data == f"{i:064d}", (i, t[i])
    assert [int(e.data) for e in t.since(n - 20_000)] == list(range(n - 20_000, n))
    seqs = [e.seq for e in t]
    assert len(seqs) == n and all(b == a + 1 for a, b in zip(seqs, seqs[1:]))
    print(f"grown {grown:.1f} MiB")
    assert grown < 100, f"memory grew by {grown:.1f} MiB for 10^6 events"
    """
)


def test_a_million_messages_lose_none_and_stay_small():
    """10^6 events recorded through the disk-backed path: all there, in order, memory bounded."""
    done = subprocess.run([sys.executable, "-c", _MILLION], capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "grown" in done.stdout


def test_a_real_connection_records_50000_messages_through_the_spool(bench: wsbench.Bench):
    """50,000 messages pushed by a Bench endpoint: both sides recorded in full, the older on disk."""
    n = 50_000
    with bench.connect(f"/send?n={n}") as conn:
        got = list(conn.iter_text(limit=n, timeout=60))
        conn.wait_closed(timeout=30)
    assert got == [f"msg {i}" for i in range(n)]
    client = [e.data for e in conn.transcript if e.side == "client" and e.kind == "receive"]
    assert client == got
    assert conn.transcript._log is not None
    sent = [e.data for e in bench.transcript if e.side == "server" and e.kind == "websocket.send"]
    assert sent[0] == "msg 0" and sent[-1] == f"msg {n - 1}" and len(sent) >= n


def test_many_short_transcripts_share_one_memory_budget(monkeypatch: pytest.MonkeyPatch):
    """300 connections of 600 events each: past the shared budget each keeps only its newest events in memory."""
    monkeypatch.setattr(transcript_module, "MEMORY_BUDGET", 20_000)
    many = [Transcript() for _ in range(300)]  # each far below its own in_memory
    for i in range(600):
        for n, transcript in enumerate(many):
            record(transcript, side="client", kind="receive", conn=n, data=f"{n}:{i}")
    in_memory = sum(len(t._events) for t in many)
    assert in_memory <= 20_000 + 300 * 2 * KEEP_UNDER_BUDGET
    assert sum(t._log is not None for t in many) > 250
    assert all(payloads(t) == [f"{n}:{i}" for i in range(600)] for n, t in enumerate(many))
    asked = Transcript(in_memory=IN_MEMORY + 1)  # asked to keep more than the default: the budget leaves it
    for i in range(1000):
        record(asked, side="client", kind="receive", conn=0, data=f"a{i}")
    assert asked._log is None and len(asked._events) == 1000


def test_a_collected_transcript_gives_its_share_of_the_budget_back():
    """The events a dropped transcript held no longer count against the shared budget."""
    gc.collect()
    transcript_module._over_budget()  # count out what earlier tests left behind
    before = transcript_module._held[0]
    transcript = numbered(500, in_memory=1000)
    assert transcript_module._held[0] == before + 500
    del transcript
    gc.collect()
    transcript_module._over_budget()
    assert transcript_module._held[0] == before


def _bytes_in_memory(*transcripts: Transcript) -> int:
    return sum(len(row[5]) for t in transcripts for row in t._events if isinstance(row[5], (str, bytes)))


def test_large_messages_keep_memory_bounded_in_bytes_too(monkeypatch):
    """Memory is bounded in payload bytes as well as in events: 10,000 events of 1 MiB were 10 GiB
    in memory before the first spill. Past MEMORY_BYTES a transcript keeps its newest events only,
    and every message still reads back whole, recorded by record() or by record_message()."""
    monkeypatch.setattr(transcript_module, "MEMORY_BYTES", 2**20)
    big = "x" * 2**16
    recorded, messages = Transcript(), Transcript()
    for i in range(200):  # 12.8 MiB each, far below 10,000 events
        record(recorded, side="client", kind="receive", conn=0, data=f"{i:04}{big}")
        transcript_module.record_message(messages, "client", "send", 0, f"{i:04}{big}".encode(), None)
        assert _bytes_in_memory(recorded, messages) <= 2**20 + 2 * KEEP_UNDER_BUDGET * (2**16 + 4)
    assert recorded._log is not None and messages._log is not None
    assert payloads(recorded) == [f"{i:04}{big}" for i in range(200)]
    assert payloads(messages) == [f"{i:04}{big}".encode() for i in range(200)]


def test_a_bench_conversation_of_large_messages_stays_within_the_byte_budget(bench):
    """The same through a bench: 120 echoes of 512 KiB (120 MiB of payload, both sides recorded)
    leave at most the documented 32 MiB and a few messages in memory, and every one reads back."""
    assert transcript_module.MEMORY_BYTES == 32 * 2**20  # what docs/modules/wsbench.transcript.md says
    payload = "y" * 2**19
    with bench.connect("/echo", max_size=None) as conn:
        for i in range(120):
            conn.send_text(f"{i:03}{payload}")
            assert conn.receive_text() == f"{i:03}{payload}"
            assert _bytes_in_memory(bench.transcript) <= transcript_module.MEMORY_BYTES + 4 * (2**19 + 3)
    sent = [e.data for e in conn.transcript if e.side == "client" and e.kind == "send"]
    assert sent == [f"{i:03}{payload}" for i in range(120)]


def test_a_collected_transcript_gives_its_bytes_back_too():
    """The payload bytes a dropped transcript held no longer count against the byte budget."""
    gc.collect()
    transcript_module._over_budget()
    before = transcript_module._held[1]
    transcript = Transcript()
    for _ in range(10):
        record(transcript, side="client", kind="receive", conn=0, data="z" * 1000)
    assert transcript_module._held[1] == before + 10_000
    del transcript
    gc.collect()
    transcript_module._over_budget()
    assert transcript_module._held[1] == before


# -- a full disk, a removed spool, a planted file, a killed process (issue 21) -----------------------

_DISK_FULL = textwrap.dedent(
    """
    import json, resource, signal, warnings
    from wsbench.transcript import Transcript, record, spool

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails (EFBIG) instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))  # no file of this process grows past 1 MiB
    packed = []
    pack = spool._pack
    spool._pack = lambda events: (packed.append(len(events)), pack(events))[1]
    n, hold = 50_000, 1000
    t = Transcript(in_memory=hold)
    most = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(n):
            record(t, side="client", kind="receive", conn=1, data=f"{i:08d}" + "x" * 200)
            most = max(most, len(t._events))
    events = list(t)
    notes = [(k, e.detail) for k, e in enumerate(events) if e.kind == "not kept"]
    kept = [int(e.data[:8]) for e in events if e.kind != "not kept"]
    print(json.dumps({"len": len(t), "most": most, "packed": max(packed), "notes": notes, "kept": kept,
                      "text": t.text(full=True).splitlines()[notes[0][0] if notes else 0],
                      "warnings": [str(w.message) for w in caught if w.category is RuntimeWarning]}))
    """
)


def test_a_full_disk_costs_bounded_memory_and_time_and_says_what_was_not_kept(tmp_path: Path):
    """The spool's file may not grow past 1 MiB (RLIMIT_FSIZE, in a subprocess): recording goes on with
    at most in_memory events in memory, each spill packs at most half of them (no re-packing of a growing
    backlog), the events the disk could not keep give way to one "not kept" event saying how many, and a
    warning says so; everything before and after the gap is there, in order."""
    env = dict(os.environ, WSBENCH_SPOOL_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", _DISK_FULL], capture_output=True, text=True, timeout=280, check=False, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["len"] == 50_000
    assert found["most"] <= 1000 and found["packed"] <= 500
    ((where, detail),) = found["notes"]  # one gap: the failed spills in a row are one note
    lost = int(detail.split()[0])
    assert detail == f"{lost} events not kept from here on: the spool's disk failed (File too large)"
    assert found["kept"] == list(range(where)) + list(range(where + lost, 50_000))
    assert 0 < where and lost >= 40_000
    assert found["text"] == f"client  ! {detail}"
    (warning,) = found["warnings"]  # once a transcript
    assert "File too large" in warning and "events not kept" in warning


def test_a_removed_spool_keeps_every_view_working_and_says_so(tmp_path: Path):
    """A /tmp cleaner removes the spool's directory: every view still reads every event (through the
    file the transcript holds open), recording goes on, and a warning says the file was removed."""
    transcript = numbered(500, in_memory=100)
    assert transcript._log is not None and transcript._log.directory is not None
    shutil.rmtree(transcript._log.directory)
    with pytest.warns(RuntimeWarning, match="was removed"):
        for i in range(500, 1000):
            record(transcript, side="client", kind="receive", conn=0, data=f"m{i}")
    expected = [f"m{i}" for i in range(1000)]
    assert payloads(transcript) == expected
    assert transcript[0].data == "m0" and transcript[499].data == "m499"
    assert [row["text"] for row in transcript.records()] == expected
    assert payloads(Transcript.load(transcript.save(tmp_path / "saved.jsonl"))) == expected
    assert transcript.text().splitlines()[2] == "client  ← text 'm0'"


def echo_batch(rounds: int) -> list[Event]:
    """The events of *rounds* echo round trips of 256-character messages, as a bench records them."""
    t = Transcript(in_memory=10**6)
    for i in range(rounds):
        text = f"{i:08d}" + "x" * 248
        record(t, side="client", kind="send", conn=5, data=text)
        record(t, side="server", kind="websocket.receive", conn=5, data=text, client_state="CONNECTED")
        record(t, side="server", kind="websocket.send", conn=5, data=text, handler="c1", cause=i)
        record(t, side="client", kind="receive", conn=5, data=text)
    return list(t)


def test_a_batch_is_written_in_small_pieces_that_make_the_documented_format():
    """A spill of 5,000 echo events writes pieces far below malloc's mmap threshold (128 KiB: joined
    whole, a batch's megabyte buffers cost a page fault every few events), and the pieces are byte for
    byte the format docs/modules/wsbench.transcript.spool.md describes, encoded here independently."""
    events = echo_batch(1250)
    pieces = spool._pack(events)
    sizes = [len(piece) for piece in pieces]
    assert len(sizes) > 1 and max(sizes) < 2**17
    columns = [list(column) for column in zip(*events, strict=True)]
    times, texts = columns.pop(1), columns[4]
    columns[4] = list(map(len, texts))
    columns = [c[:1] if all(v is None for v in c) or len(set(c)) == 1 else c for c in columns]
    head = json.dumps(columns, separators=(",", ":")).encode()
    run = "".join(texts).encode()
    expected = spool._PREFIX.pack(len(head), 8 * len(times), len(run), 0) + head
    expected += spool.struct.pack(f"<{len(times)}d", *times) + run
    assert b"".join(pieces) == expected
    assert [_event_from_row(row) for row in spool._unpack(expected)] == events


def test_a_short_write_still_writes_the_whole_batch(monkeypatch: pytest.MonkeyPatch):
    """writev may write less than asked (a signal, a filling disk): the rest follows, in order."""
    writev = os.writev
    monkeypatch.setattr(spool.os, "writev", lambda fd, pieces: writev(fd, [b"".join(pieces)[:1000]]))
    transcript = Transcript(in_memory=2000)
    for i in range(4000):
        record(transcript, side="client", kind="receive", conn=5, data=f"{i:08d}" + "x" * 248)
    assert transcript._log is not None and transcript._log.batches >= 2
    assert payloads(transcript) == [f"{i:08d}" + "x" * 248 for i in range(4000)]


def test_a_file_planted_under_the_spools_name_is_never_read():
    """Once the spool's directory is gone, whoever re-creates it and its file by that name cannot put
    events into the transcript: reads go through the descriptor opened at the start, never by name."""
    transcript = numbered(100, in_memory=100)
    log = transcript._log
    assert log is not None and log.directory is not None and log.path is not None and log.batches == 1
    shutil.rmtree(log.directory)
    planted = [tuple(Event(i, 1.0, "client", "receive", 0, "INJECTED")) for i in range(50)]
    os.mkdir(log.directory, 0o755)
    try:
        with open(log.path, "wb") as file:
            file.write(b"".join(spool._pack(planted)).ljust(1 << 16, b"\0"))
        assert payloads(transcript) == [f"m{i}" for i in range(100)]
        assert transcript[0].data == "m0"
    finally:
        shutil.rmtree(log.directory)


_SPOOLER = textwrap.dedent(
    """
    import sys, time
    from wsbench.transcript import Transcript, record, spool
    t = Transcript(in_memory=10)
    for i in range(100):
        record(t, side="client", kind="send", conn=1, data=f"token=SECRET{i}")
    spool._sweeps[spool.spool_parent()].join(60)  # its own start-up sweep is over before the test goes on
    print(t._log.directory, flush=True)
    time.sleep(float(sys.argv[1]))
    """
)

_SWEEPER = textwrap.dedent(
    """
    from wsbench.transcript import Transcript, record, spool
    t = Transcript(in_memory=10)
    for i in range(100):
        record(t, side="client", kind="send", conn=1, data=f"m{i}")
    sweep = spool._sweeps[spool.spool_parent()]
    sweep.join(60)
    print("swept" if not sweep.is_alive() else "still sweeping", flush=True)
    """
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_spool_of_a_dead_process_is_removed_by_the_next_one(tmp_path: Path, how: signal.Signals):
    """A process killed (SIGKILL; SIGTERM of a plain script) leaves its spool (0700, its file 0600) in
    $WSBENCH_SPOOL_DIR; the next process that spools removes it, and leaves a living process's spool alone."""
    env = dict(os.environ, WSBENCH_SPOOL_DIR=str(tmp_path))
    spoolers = [
        subprocess.Popen([sys.executable, "-c", _SPOOLER, "120"], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    try:
        alive, dead = (Path(spooler.stdout.readline().strip()) for spooler in spoolers)  # type: ignore[union-attr]
        assert alive.parent == tmp_path and dead.parent == tmp_path
        spoolers[1].send_signal(how)
        assert spoolers[1].wait(30) == -how
        for directory in (alive, dead):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700
            assert [stat.S_IMODE(f.stat().st_mode) for f in directory.iterdir()] == [0o600]
        assert b"SECRET1" in next(dead.iterdir()).read_bytes()  # what is at stake
        done = subprocess.run(
            [sys.executable, "-c", _SWEEPER], capture_output=True, text=True, timeout=120, env=env, check=False
        )
        assert done.stdout.strip() == "swept", done.stderr[-2000:]
        assert not dead.exists()
        assert alive.is_dir() and [f.is_file() for f in alive.iterdir()] == [True]
        assert [p.name for p in tmp_path.iterdir()] == [alive.name]  # the sweeper's own spool went at its exit
    finally:
        for spooler in spoolers:
            spooler.kill()
            spooler.wait(30)
    assert alive.exists()  # SIGKILLed: the next process would remove it, as above


def test_a_sweep_leaves_alone_what_it_cannot_tell_is_stale(tmp_path: Path):
    """Not removed: another name, a symbolic link, a spool in the making (no file yet), a spool of a
    wsbench from before the lock (an unlocked events.json) changed within 7 days; removed: such an old
    one not changed for longer, and a locked-protocol spool nobody holds."""
    keep = [tmp_path / name for name in ("other-dir", "wsbench-spool-new", "wsbench-spool-recent")]
    for directory in keep:
        directory.mkdir()
    (tmp_path / "wsbench-spool-recent" / "events.json").write_bytes(b"x")
    (tmp_path / "wsbench-spool-link").symlink_to(tmp_path / "other-dir")
    old = tmp_path / "wsbench-spool-old"
    old.mkdir()
    (old / "events.json").write_bytes(b"x")
    week = 8 * 86400
    for path in (old / "events.json", old):
        os.utime(path, (path.stat().st_atime - week, path.stat().st_mtime - week))
    unheld = tmp_path / "wsbench-spool-unheld"
    unheld.mkdir()
    (unheld / "events.locked").write_bytes(b"x")
    assert sorted(spool.sweep(str(tmp_path))) == [str(old), str(unheld)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(d.name for d in keep), "wsbench-spool-link"])


def test_a_field_every_event_of_a_batch_shares_reads_back_exactly():
    """A value all of a batch's events share is written once (the common case: most fields are None
    in every event) and reads back in each; equal values of other types (1 and 1.0) stay apart."""
    shared = [
        Event(n, 1.0, "server", "websocket.close", 3, "t", 1000, [{"loc": "q"}], "connected", name="c1")
        for n in range(5)
    ]
    mixed = [Event(n, 1.0, "client", "closed", 3, reason=1 if n % 2 else 1.0, detail="d") for n in range(4)]
    for events in (shared, mixed):
        log: EventLog[Event] = EventLog(_event_from_row)
        log.append(events)
        assert log.batch(0) == events
        assert [type(e.reason) for e in log.batch(0)] == [type(e.reason) for e in events]
        log.close()


def test_a_bench_conversation_of_large_messages_writes_each_payload_once(bench, monkeypatch):
    """A bench records each message on both sides (and an echo repeats it): the spool writes a
    payload equal to the last one on its connection once, so 60 echoes of 64 KiB cost about 60
    payloads of disk, not the 240 they were recorded as (four times as much before; a little more
    than one where a spill's batch starts in the middle of a round trip), and every event still
    reads back whole."""
    monkeypatch.setattr(transcript_module, "MEMORY_BYTES", 2**20)  # spill early: 1 MiB in memory
    payload = "z" * 2**16
    with bench.connect("/echo", max_size=None) as conn:
        for i in range(60):
            conn.send_text(f"{i:02}{payload}")
            assert conn.receive_text() == f"{i:02}{payload}"
    log = bench.transcript._log
    assert log is not None and log.total >= 200  # most of the conversation went to the spool
    spilled_payloads = log.total // 4  # four events a round trip: the client's two, the server's two
    assert log._end < 1.5 * spilled_payloads * len(payload)  # before: 4.0 times that
    for side in ("client", "server"):
        said = [e.data for e in conn.transcript if e.side == side and e.kind in MESSAGES]
        assert said == [f"{i // 2:02}{payload}" for i in range(120)]


MESSAGES = {"send", "receive", "websocket.send", "websocket.receive"}


def test_a_repeated_payload_is_stored_once_and_read_back_shared():
    """Within a batch of large messages, a payload equal to the last one on its connection is a
    reference to it; text never stands for equal-looking bytes, nor one connection for another."""
    big = "q" * 2**13
    events = [
        Event(1, 0.5, "client", "send", 7, big),
        Event(2, 0.5, "server", "websocket.receive", 7, "q" * 2**13),  # equal, another object
        Event(3, 0.5, "server", "websocket.send", 8, big),  # another connection: written again
        Event(4, 0.5, "client", "receive", 7, big.encode()),  # bytes, not the text: written again
        Event(5, 0.5, "client", "receive", 7, big.encode()),
        Event(6, 0.5, "client", "closed", 7),
    ]
    pieces = spool._pack(events)
    head_size, _, texts_size, blobs_size = spool._PREFIX.unpack(pieces[0])
    assert (texts_size, blobs_size) == (2 * 2**13, 2**13)
    assert json.loads(b"".join(pieces[1:])[:head_size])[4] == [2**13, [0], 2**13, ~(2**13), [3], None]
    back = spool._unpack(b"".join(pieces))
    assert [_event_from_row(row) for row in back] == events
    assert back[1][5] is back[0][5] and back[4][5] is back[3][5]  # one object in memory, as on disk


@pytest.mark.parametrize("reference", [b"[1]", b"[9]", b"[ ]"])  # itself, one after, no index (same length)
def test_a_reference_to_no_payload_before_it_is_a_corrupt_batch(reference: bytes):
    """A payload column entry that names no event before it (itself, one after, not an index) is a
    corrupt batch: ValueError, not a payload read from the wrong event."""
    events = [Event(1, 0.5, "client", "send", 7, "a" * 2**13), Event(2, 0.5, "client", "send", 7, "a" * 2**13)]
    data = b"".join(spool._pack(events)).replace(b"[0]", reference, 1)
    with pytest.raises(ValueError, match="corrupt batch"):
        spool._unpack(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(_events, min_size=1, max_size=20), st.data())
def test_any_batch_with_repeats_reads_back_exactly(events: list[Event], data: st.DataObject):
    """With repeats looked for in every batch, whatever the payloads (text and bytes alike,
    on few connections, repeated or not), a batch reads back equal, each payload of its type."""
    conns = data.draw(st.lists(st.sampled_from([1, 2]), min_size=len(events), max_size=len(events)))
    repeat = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    events = [
        e._replace(conn=c, data=events[i - 1].data if again and i else e.data)
        for i, (e, c, again) in enumerate(zip(events, conns, repeat, strict=True))
    ]
    original = spool.REPEATS_FROM
    spool.REPEATS_FROM = 0
    try:
        back = [_event_from_row(row) for row in spool._unpack(b"".join(spool._pack(events)))]
    finally:
        spool.REPEATS_FROM = original
    assert back == events
    assert [type(e.data) for e in back] == [type(e.data) for e in events]
