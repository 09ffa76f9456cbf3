"""Where a long transcript keeps its older events: an append-only file on disk.

A :class:`~wsbench.Transcript` holds its recent events in memory; once it holds
``in_memory`` of them, the older part goes here as one *batch*, so memory stays flat
however long the conversation runs (issue 15). The format, and why:

* One file per transcript, in its own private directory (``tempfile.mkdtemp``: mode 0700),
  appended to and never rewritten; the directory goes when the transcript is garbage
  collected, or at interpreter exit (``weakref.finalize``).
* A batch is written by columns, so that the costly part of JSON, one value at a time, is
  left to the fields that are small: a 32-byte prefix (four little-endian lengths), then a
  JSON array of the fields of every event but time and payload, one list per field (header
  pairs read back as tuples through *make*; anything JSON has no form for, bytes in a reason
  say, as ``{"b": "<base64>"}``); the times as packed doubles (exact, and a tenth of what
  ``repr`` of a float costs); all text payloads as one UTF-8 run (``surrogatepass``, so a lone
  surrogate a text event may hold round-trips) and all binary payloads as one byte run, their
  lengths in the payload column (``n`` characters of text, ``~n`` bytes, null for none). An
  event reads back exactly as recorded. JSON and raw runs, not pickle: received data is only
  ever parsed as JSON in wsbench (tests/test_secrets.py checks that nothing unpickles). Writing
  costs about 1.7 µs an event of 256 B (a batch of rows in JSON cost 4.3: benchmarks/README.md).
* An index in memory: each batch's first position, file offset and length, plus its counts
  by (side, kind) and the connections in it, so ``len``, random access and a transcript's
  summary never read the file at all, and reading any event reads one batch.

Writes happen on the recording thread under :func:`wsbench.transcript.record`'s lock;
reads open the file for each batch and use ``os.pread``, so any thread may read, and a log
holds one file descriptor (a load test's thousand connections hold a thousand, not two).
Standard library only.
"""

from __future__ import annotations

import base64
import bisect
import json
import operator
import os
import shutil
import struct
import tempfile
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

__all__ = ["EventLog", "LazyEvents"]

T = TypeVar("T", bound=tuple)  # an event: a named tuple


def _encode(value: Any) -> Any:
    """JSON for what json cannot write itself: bytes outside the payload column (a reason, say)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"a spool batch holds plain values only, not {type(value).__name__}")


#: The column writer: C-fast, no circular-reference bookkeeping (events hold none).
_ENCODER = json.JSONEncoder(default=_encode, separators=(",", ":"), check_circular=False)
_PREFIX = struct.Struct("<4Q")  # lengths of: the JSON columns, the times, the text run, the byte run
_SIDE_KIND = operator.itemgetter(2, 3)
_CONN = operator.itemgetter(4)
_TIME, _DATA = 1, 5  # the fields stored apart from the JSON columns


def _payload_length(data: Any) -> int | None:
    """What the payload column holds for *data*: n characters of text, ~n bytes, None."""
    if data is None:
        return None
    if data.__class__ is str:
        return len(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return ~len(data)
    raise TypeError(f"an event's payload is str, bytes or None, not {type(data).__name__}")


def _pack(events: Sequence[tuple[Any, ...]]) -> bytes:
    """One batch in the column format above."""
    columns: list[Any] = list(zip(*events, strict=True))
    count = len(events)
    times = struct.pack(f"<{count}d", *columns[_TIME])
    payloads = columns[_DATA]
    texts = "".join([d for d in payloads if d.__class__ is str]).encode("utf-8", "surrogatepass")
    blobs = b"".join([d for d in payloads if d is not None and d.__class__ is not str])
    columns[_DATA] = list(map(_payload_length, payloads))
    del columns[_TIME]
    head = _ENCODER.encode(columns).encode()
    return _PREFIX.pack(len(head), len(times), len(texts), len(blobs)) + head + times + texts + blobs


def _unpack(data: bytes) -> list[tuple[Any, ...]]:
    """The events of one batch, each a tuple of its fields in order (*make* finishes them)."""
    head_size, times_size, texts_size, blobs_size = _PREFIX.unpack_from(data)
    at = _PREFIX.size
    head = data[at : at + head_size]
    columns = json.loads(head)
    if b'{"b":' in head:  # bytes outside the payload column (rare): restore them
        columns = [[_restored(value) for value in column] for column in columns]
    at += head_size
    times = struct.unpack_from(f"<{times_size // 8}d", data, at)
    at += times_size
    texts = data[at : at + texts_size].decode("utf-8", "surrogatepass")
    blobs = data[at + texts_size : at + texts_size + blobs_size]
    payloads: list[str | bytes | None] = []
    text_at = blob_at = 0
    for length in columns[_DATA - 1]:
        if length is None:
            payloads.append(None)
        elif length >= 0:
            payloads.append(texts[text_at : text_at + length])
            text_at += length
        else:
            payloads.append(blobs[blob_at : blob_at + ~length])
            blob_at += ~length
    columns[_DATA - 1] = payloads
    columns.insert(_TIME, times)
    return list(zip(*columns, strict=True))  # unequal columns: a corrupt batch, ValueError


def _restored(value: Any) -> Any:
    return base64.b64decode(value["b"]) if isinstance(value, dict) and value.keys() == {"b"} else value


def _remove(fd: int, directory: str) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
    shutil.rmtree(directory, ignore_errors=True)


class EventLog(Generic[T]):
    """Batches of events appended to one private file, read back by position.

    *make* turns a stored row back into an event (lists it stored for tuples made tuples again).
    """

    def __init__(self, make: Callable[[Any], T], *, directory: str | None = None) -> None:
        self._make = make
        self.directory = tempfile.mkdtemp(prefix="wsbench-spool-", dir=directory)
        self.path = os.path.join(self.directory, "events.json")
        try:
            write = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        self._write = write  # one descriptor a log: a reader opens the file for each batch it reads
        self._finalizer = weakref.finalize(self, _remove, write, self.directory)
        self._end = 0  # bytes written so far
        self.starts: list[int] = []  #: each batch's first position
        self._places: list[tuple[int, int]] = []  # each batch's (offset, length) in the file
        self.kinds: list[Counter[tuple[str, str]]] = []  #: each batch's counts by (side, kind)
        self.conns: list[tuple[int, ...]] = []  #: each batch's connections, in order of first appearance
        self.total = 0  #: events written
        self._cache: tuple[int, list[T]] = (-1, [])  # the batch read last: sequential reads decode it once

    @property
    def batches(self) -> int:
        """How many batches are written."""
        return len(self.starts)

    def append(self, events: Sequence[T], *, same_as: tuple[Sequence[T], bytes] | None = None) -> bytes:
        """Write *events* as one batch and return it as written; on OSError (disk full) nothing is
        written and the caller keeps them.

        *same_as* is (events, bytes) another log has just written: when it holds the very same
        event objects (two transcripts of one connection spill the same events at the same
        moment), its bytes are written again instead of encoding the events a second time.
        """
        if not events:
            return b""
        if same_as is not None and len(same_as[0]) == len(events) and all(map(operator.is_, same_as[0], events)):
            data = same_as[1]
        else:
            data = _pack(events)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._write, data[written:])
        except OSError:
            if written:  # a torn batch: cut it off, so the file holds whole batches only
                os.ftruncate(self._write, self._end)
            raise
        self.kinds.append(Counter(map(_SIDE_KIND, events)))  # fields 2, 3: side, kind
        self.conns.append(tuple(dict.fromkeys(map(_CONN, events))))  # field 4: conn
        self._places.append((self._end, len(data)))
        self._end += len(data)
        self.starts.append(self.total)  # last: a reader that sees the batch sees its index entries
        self.total += len(events)
        return data

    def batch(self, number: int) -> list[T]:
        """The events of batch *number*, read from the file (the last one read is cached)."""
        cached, events = self._cache
        if cached == number:
            return events
        offset, length = self._places[number]
        fd = os.open(self.path, os.O_RDONLY)
        try:
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            raise OSError(f"{self.path}: batch {number} is cut short ({len(data)} of {length} bytes)")
        events = [self._make(row) for row in _unpack(data)]
        self._cache = (number, events)
        return events

    def find(self, position: int) -> tuple[int, int]:
        """(batch number, index in it) of the event at *position* (0 <= position < total)."""
        number = bisect.bisect_right(self.starts, position) - 1
        return number, position - self.starts[number]

    def close(self) -> None:
        """Remove the file and its directory now (also done when this log is collected, or at exit)."""
        self._finalizer()


class LazyEvents(Sequence[T]):
    """A snapshot of a transcript's events from position *start* on, the older ones read from
    its :class:`EventLog` only when asked.

    Fixed at creation: events recorded later are not in it. Indexing, slicing, ``len``,
    iteration and ``reversed`` work as on a list; iterating reads one batch at a time.
    """

    def __init__(self, log: EventLog[T] | None, batches: int, tail: list[T], start: int = 0) -> None:
        self._log = log
        self._batches = batches
        self._base = _base(log, batches)  # events in those batches: the tail starts there
        self._tail = tail
        self._start = max(0, min(start, self._base + len(tail)))

    def after(self, start: int) -> LazyEvents[T]:
        """The same snapshot from position *start* (of this one) on, still lazy."""
        return LazyEvents(self._log, self._batches, self._tail, self._start + start)

    def __len__(self) -> int:
        return self._base + len(self._tail) - self._start

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("transcript index out of range")
        index += self._start
        if index >= self._base:
            return self._tail[index - self._base]
        assert self._log is not None
        number, offset = self._log.find(index)
        return self._log.batch(number)[offset]

    def __iter__(self) -> Iterator[T]:
        if self._start < self._base:
            assert self._log is not None
            first, offset = self._log.find(self._start)
            yield from self._log.batch(first)[offset:]
            for number in range(first + 1, self._batches):
                yield from self._log.batch(number)
        yield from self._tail[max(0, self._start - self._base) :]

    def __reversed__(self) -> Iterator[T]:
        yield from reversed(self._tail[max(0, self._start - self._base) :])
        if self._start < self._base:
            assert self._log is not None
            first, offset = self._log.find(self._start)
            for number in reversed(range(first + 1, self._batches)):
                yield from reversed(self._log.batch(number))
            yield from reversed(self._log.batch(first)[offset:])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable like one

    def __repr__(self) -> str:
        return f"<{len(self)} events, {max(0, self._base - self._start)} of them on disk>"

    def kind_counts(self) -> Counter[tuple[str, str]]:
        """Events by (side, kind) of the whole snapshot (from position 0), from the log's index
        and the events in memory: reads no file."""
        counts: Counter[tuple[str, str]] = Counter()
        if self._log is not None:
            for batch in self._log.kinds[: self._batches]:
                counts.update(batch)
        counts.update((e[2], e[3]) for e in self._tail)
        return counts

    def connections(self) -> list[int]:
        """The connection keys of the whole snapshot in order of first appearance: reads no file."""
        found: dict[int, None] = {}
        if self._log is not None:
            for conns in self._log.conns[: self._batches]:
                found.update(dict.fromkeys(conns))
        found.update(dict.fromkeys(e[4] for e in self._tail))
        return list(found)


def _base(log: EventLog[Any] | None, batches: int) -> int:
    """How many events the first *batches* batches of *log* hold."""
    if log is None or batches == 0:
        return 0
    return log.total if batches == log.batches else log.starts[batches]
