"""Tests for loading untrusted transcript files (wsbench.transcript): bounded in size, depth and time,
regular files only, strict field types; and the JSON Lines round trip, as a hypothesis property."""

from __future__ import annotations

import inspect
import json
import math
import os
import stat
import threading
import tracemalloc
from pathlib import Path

import pytest
from conftest import TIMEOUT_SCALE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsbench.errors import InvalidTranscript
from wsbench.kinds import SIDES
from wsbench.transcript import Event, Transcript

TIME = 1712345678.25


def _row(**fields: object) -> str:
    """One JSON Lines row, valid unless *fields* breaks it."""
    row: dict[str, object] = {"seq": 1, "time": TIME, "side": "client", "kind": "send", "conn": 1, "text": "hi"}
    row.update(fields)
    return json.dumps(row)


def _load_with_watchdog(path: Path) -> BaseException | Transcript:
    """Transcript.load(path) in a thread; fail the test if it has not returned within 5 s (scaled)."""
    outcome: list[BaseException | Transcript] = []

    def run() -> None:
        try:
            outcome.append(Transcript.load(path))
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5 * TIMEOUT_SCALE)
    if thread.is_alive():  # release a reader blocked on a FIFO, so the thread ends, then fail
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(5 * TIMEOUT_SCALE)
        pytest.fail(f"Transcript.load({path.name!r}) hung")
    return outcome[0]


# -- what may be loaded at all -----------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_a_fifo_is_refused_at_once(tmp_path: Path):
    """A FIFO is not a regular file: InvalidTranscript at once, no hang waiting for a writer."""
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    outcome = _load_with_watchdog(fifo)
    assert isinstance(outcome, InvalidTranscript), outcome
    assert "not a regular file" in str(outcome) and "FIFO" in str(outcome)


def test_a_directory_is_refused(tmp_path: Path):
    """A directory: InvalidTranscript naming it, not IsADirectoryError."""
    with pytest.raises(InvalidTranscript, match=r"not a regular file .*directory"):
        Transcript.load(tmp_path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_without_reading():
    """/dev/zero (endless NULs) is refused before a byte is read, not read until MemoryError."""
    with pytest.raises(InvalidTranscript, match=r"not a regular file .*device"):
        Transcript.load("/dev/zero")


def test_a_missing_file_is_still_file_not_found(tmp_path: Path):
    """A path that does not exist raises FileNotFoundError, as opening any file does."""
    with pytest.raises(FileNotFoundError):
        Transcript.load(tmp_path / "nothing.jsonl")


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path):
    """A 200 MB file (sparse: no disk used) is refused by its size, under the 100 MiB default, reading nothing."""
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as file:
        file.truncate(200 * 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidTranscript, match=r"huge\.jsonl.*209715200 bytes.*max_bytes=104857600"):
            Transcript.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_max_bytes_is_configurable(tmp_path: Path):
    """max_bytes lowers (or raises) the limit; a file exactly at it loads."""
    path = tmp_path / "run.jsonl"
    line = _row() + "\n"
    path.write_text(line * 3)
    size = len(line.encode()) * 3
    assert len(Transcript.load(path, max_bytes=size)) == 3
    with pytest.raises(InvalidTranscript, match="max_bytes"):
        Transcript.load(path, max_bytes=size - 1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100"])
def test_max_bytes_must_be_a_positive_integer(tmp_path: Path, bad):
    """max_bytes that is not a positive int is a ValueError naming it."""
    path = tmp_path / "run.jsonl"
    path.write_text(_row() + "\n")
    with pytest.raises(ValueError, match="max_bytes"):
        Transcript.load(path, max_bytes=bad)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_reading_is_bounded_even_when_the_size_lies():
    """A regular file whose size reads 0 (/proc) is still read only up to max_bytes, then refused."""
    assert stat.S_ISREG(os.stat("/proc/self/environ").st_mode)
    with pytest.raises(InvalidTranscript, match="max_bytes=4"):
        Transcript.load("/proc/self/environ", max_bytes=4)


def test_a_long_line_is_not_read_whole(tmp_path: Path):
    """Reading stops at max_bytes: a 3 MiB line under max_bytes=1 MiB costs far less than the line."""
    path = tmp_path / "long.jsonl"
    path.write_text(_row(text="x" * (3 * 2**20)) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(InvalidTranscript, match="max_bytes"):
            Transcript.load(path, max_bytes=2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 2**20


# -- what a line may hold --------------------------------------------------------------


def test_deep_nesting_is_invalid_transcript_not_recursion_error():
    """100k nested lists on line 2: InvalidTranscript naming the line, not RecursionError."""
    text = _row() + "\n" + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(InvalidTranscript, match=r"^line 2: .*nest"):
        Transcript.from_jsonl(text)


def test_deep_nesting_in_a_field_is_refused(tmp_path: Path):
    """A reason nested deeper than any close reason FastAPI sends is refused, naming the line and field."""
    nested: object = "x"
    for _ in range(200):
        nested = [nested]
    path = tmp_path / "deep.jsonl"
    path.write_text(_row(kind="close", text=None, code=1008, reason=nested) + "\n")
    with pytest.raises(InvalidTranscript, match=r"line 1: field 'reason' .*nest"):
        Transcript.load(path)


@pytest.mark.parametrize("field", ["seq", "conn", "code"])
def test_a_boolean_is_not_an_integer(field):
    """true/false where an integer belongs (seq, conn, code) is refused, naming the line and field."""
    with pytest.raises(InvalidTranscript, match=rf"^line 1: field '{field}'"):
        Transcript.from_jsonl(_row(**{field: True}))


@pytest.mark.parametrize("value", ["1e400", "-1e400", "NaN", "Infinity", "true"])
def test_time_must_be_a_finite_number(value):
    """time 1e400 (infinite once read), NaN, Infinity or a boolean: InvalidTranscript naming line and field."""
    line = _row().replace(f'"time": {TIME}', f'"time": {value}')
    with pytest.raises(InvalidTranscript, match=r"^line 1: field 'time'"):
        Transcript.from_jsonl(line)


@pytest.mark.parametrize("code", [-1, 65536, 10**30])
def test_code_must_be_in_range(code):
    """A close code or HTTP status outside 0-65535 is refused."""
    with pytest.raises(InvalidTranscript, match=r"^line 1: field 'code'"):
        Transcript.from_jsonl(_row(code=code))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", "a\ud800b"),
        ("detail", "\udfff"),
        ("reason", "\ud83d"),
        ("kind", "send\ud800"),
        ("headers", [["X-A", "\ud800"]]),
        ("reason", [{"msg": "\ud800"}]),
    ],
)
def test_a_lone_surrogate_is_refused_at_load(field, value):
    """A lone surrogate (not Unicode text; save() could not write it back) is refused, naming line and field."""
    fields: dict[str, object] = {field: value}
    if field == "reason":
        fields.update(kind="close", code=1000)
    with pytest.raises(InvalidTranscript, match=rf"^line 1: field '{field}' .*surrogate"):
        Transcript.from_jsonl(_row(**fields))


def test_a_surrogate_pair_is_one_character_and_loads():
    """An escaped surrogate *pair* is one character (an emoji): it loads and saves again."""
    (event,) = Transcript.from_jsonl(
        '{"seq": 1, "time": 0, "side": "client", "kind": "send", "conn": 1, "text": "\\ud83d\\ude00"}'
    )
    assert event.data == "\U0001f600"
    assert Transcript([event]).to_jsonl()


def test_text_and_bytes_together_are_refused():
    """A row with both "text" and "bytes" is ambiguous: refused."""
    with pytest.raises(InvalidTranscript, match=r"^line 1: .*'text' and 'bytes'"):
        Transcript.from_jsonl(_row(bytes="aGk="))


@pytest.mark.parametrize("bad", [5, ["aGk="], {"b": 1}])
def test_bytes_must_be_a_base64_string(bad):
    """ "bytes" that is not a string is refused naming the field."""
    with pytest.raises(InvalidTranscript, match=r"^line 1: field 'bytes'"):
        Transcript.from_jsonl(_row(text=None, bytes=bad))


# -- round trip --------------------------------------------------------------------------

_text = st.text(max_size=40)
_json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text
_reason = st.none() | _text | st.lists(st.dictionaries(_text, _json_leaf, max_size=3), max_size=3)
_events = st.builds(
    Event,
    seq=st.integers(0, 2**63),
    time=st.floats(allow_nan=False, allow_infinity=False),
    side=st.sampled_from(SIDES),
    kind=st.sampled_from(["connect", "open", "send", "receive", "close", "closed", "websocket.accept"]) | _text,
    conn=st.integers(0, 2**16),
    data=st.none() | _text | st.binary(max_size=40),
    code=st.none() | st.integers(0, 65535),
    reason=_reason,
    client_state=st.none() | _text,
    application_state=st.none() | _text,
    detail=st.none() | _text | st.sampled_from(["sent 1000 (OK); then received 1000 (OK)", "received 1001"]),
    headers=st.none() | st.lists(st.tuples(_text, _text), max_size=4).map(tuple),
    by=st.sampled_from([None, "client", "server"]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(_events, max_size=8))
def test_load_of_save_is_the_same_transcript(tmp_path: Path, events: list[Event]):
    """load(save(t, unmasked=True)) holds the same events, connections numbered in order of appearance."""
    transcript = Transcript(events)
    number: dict[int, int] = {}
    expected = [e._replace(conn=number.setdefault(e.conn, len(number) + 1)) for e in events]
    loaded = Transcript.load(transcript.save(tmp_path / "t.jsonl", unmasked=True))
    assert loaded.events == expected
    assert Transcript.from_jsonl(transcript.to_jsonl(unmasked=True)).events == expected
    assert all(math.isfinite(e.time) for e in loaded)


def test_a_closed_event_without_by_keeps_none_through_a_round_trip():
    """Found by the round trip: a client "closed" with by=None and a detail starting "sent" stays None."""
    event = Event(1, 0.0, "client", "closed", 1, code=1000, detail="sent 1000 (OK); then received 1000 (OK)")
    assert Transcript.from_jsonl(Transcript([event]).to_jsonl()).events == [event]


def test_the_limits_are_named_in_the_signature():
    """load() takes max_bytes (default 100 MiB) as a keyword."""
    parameter = inspect.signature(Transcript.load).parameters["max_bytes"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default == 100 * 2**20
