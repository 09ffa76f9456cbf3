"""Where a long transcript keeps its older events: an append-only file on disk.

A :class:`~wsbench.Transcript` holds its recent events in memory; past ``in_memory`` of them
the older part goes here as one *batch*, so memory stays flat however long the conversation
runs (issue 15). One private file per transcript, locked for its life and removed with it;
batches written by columns (JSON and raw runs, never pickle), indexed in memory; a failed
write writes nothing. Standard library only (``fcntl`` where there is one). The format and
why: ``docs/modules/wsbench.transcript.spool.md``.
"""

from __future__ import annotations

import base64
import bisect
import copy
import json
import operator
import os
import shutil
import stat
import struct
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

try:
    import fcntl
except ImportError:  # not on Windows: no lock, so no sweeping of other processes' spools either
    fcntl = None  # type: ignore[assignment]

__all__ = ["PREFIX", "SPOOL_DIR", "EventLog", "Keys", "LazyEvents", "spool_parent", "sweep"]

#: The environment variable naming the folder spools are made in (default: the system's temporary folder).
SPOOL_DIR = "WSBENCH_SPOOL_DIR"
#: How a spool's directory name starts.
PREFIX = "wsbench-spool-"
_FILE = "events.locked"  # locked for the life of its log (before issue 21: "events.json", never locked)
_UNLOCKED = "events.json"
#: A spool directory with no file in it is left alone this long (seconds): it may be in the making.
_YOUNG = 3600.0
#: A spool of a wsbench from before the lock (its file never locked, so its process cannot be told
#: alive or dead) is removed once its file is this old (seconds).
_OLD = 7 * 86400.0

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
_SEQ = operator.itemgetter(0)
_TIME, _DATA = 1, 5  # the fields stored apart from the JSON columns
_CONN_FIELD = 4  # what a payload repeats is looked for on its connection
_PLAIN = {str, bytes, type(None)}
_TEXT = {str}


def _payload_length(data: Any) -> int | None:
    """What the payload column holds for *data*: n characters of text, ~n bytes, None."""
    if data is None:
        return None
    if data.__class__ is str:
        return len(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return ~len(data)
    raise TypeError(f"an event's payload is str, bytes or None, not {type(data).__name__}")


#: Payloads joined into one piece of a batch at a time: at most this many, and about :data:`_RUN_SIZE`
#: characters or bytes. A batch of 5,000 echo messages joined whole made buffers of megabytes, which
#: malloc takes from the kernel and gives back at every spill: a page fault every few events (0.23 an
#: event of 256 B), the largest cost of a spill; 128 messages of 64 KiB joined (8 MiB) cost 20 an
#: event, and made packing them twice as slow as pieces of one message. Pieces stay far below that.
_RUN = 128
_RUN_SIZE = 2**16


def _runs(payloads: Sequence[Any], encode: bool) -> list[bytes]:
    """*payloads* (all text, or all bytes) joined in pieces of at most :data:`_RUN`, fewer when
    they are large (by their average size: about :data:`_RUN_SIZE` a piece)."""
    size = sum(map(len, payloads))
    run = max(1, min(_RUN, _RUN_SIZE * len(payloads) // size)) if size else _RUN
    starts = range(0, len(payloads), run)
    if encode:
        return ["".join(payloads[at : at + run]).encode("utf-8", "surrogatepass") for at in starts]
    return [b"".join(payloads[at : at + run]) for at in starts]


#: From this average payload size on (characters or bytes), a batch writes a payload that repeats
#: the one before it on the same connection as a reference (see :func:`_repeats`).
REPEATS_FROM = 2**12


def _repeats(conns: Sequence[Any], payloads: Sequence[Any]) -> list[int | None]:
    """For each payload, the index in the batch of the equal payload it repeats, else None.

    A bench records each message twice, once by the side that sent it and once by the side that
    received it, on the same connection key, one right after the other (and an echo's answer
    repeats it once more). A payload equal to (and of the type of) the last one written on its
    connection is written once: half the bytes of a bench conversation of large messages, which
    otherwise cost a spill most of its time (encoding, page faults, the disk's bandwidth)."""
    last: dict[Any, tuple[int, Any]] = {}
    repeats: list[int | None] = []
    for index, (conn, data) in enumerate(zip(conns, payloads, strict=True)):
        before = last.get(conn) if data is not None else None
        if before is not None and (before[1] is data or (before[1].__class__ is data.__class__ and before[1] == data)):
            repeats.append(before[0])
            continue
        if data is not None:
            last[conn] = (index, data)
        repeats.append(None)
    return repeats


def _pack(events: Sequence[tuple[Any, ...]]) -> list[bytes]:
    """One batch in the column format above, as the pieces to write one after the other (never
    joined: see :data:`_RUN`)."""
    columns: list[Any] = list(zip(*events, strict=True))
    count = len(events)
    times = struct.pack(f"<{count}d", *columns[_TIME])
    payloads = columns[_DATA]
    types = set(map(type, payloads))
    repeats = None
    if types <= _PLAIN and sum(map(len, filter(None, payloads))) >= REPEATS_FROM * count:  # large messages
        repeats = _repeats(columns[_CONN_FIELD], payloads)
        payloads = [None if repeat is not None else data for data, repeat in zip(payloads, repeats, strict=True)]
    if types == _TEXT and repeats is None:  # a run of text messages (an echo, a push): no Python step per event
        texts, blobs = _runs(payloads, True), []
        columns[_DATA] = list(map(len, payloads))
    else:
        texts = _runs([d for d in payloads if d.__class__ is str], True)
        blobs = _runs([d for d in payloads if d is not None and d.__class__ is not str], False)
        if types <= _PLAIN:  # the usual case, without a call per event
            columns[_DATA] = [None if d is None else len(d) if d.__class__ is str else ~len(d) for d in payloads]
        else:
            columns[_DATA] = list(map(_payload_length, payloads))
        if repeats is not None:
            columns[_DATA] = [[r] if r is not None else n for n, r in zip(columns[_DATA], repeats, strict=True)]
    del columns[_TIME]
    for n, column in enumerate(columns):  # a column of one value (most are all None) is that value once
        if (
            count > 1
            and column[-1] == column[0]  # a cheap first look: a column whose ends differ is not one value
            and column.count(column[0]) == count
            and (column[0] is None or len(set(map(type, column))) == 1)  # 1, True and 1.0 are equal, not alike
        ):
            columns[n] = column[:1]
    # The JSON array of the columns, a column at a time: the same bytes as encoding the list whole
    head = [b"["]
    for column in columns:
        head += (_ENCODER.encode(column).encode(), b",")
    head[-1] = b"]"
    sizes = (sum(map(len, head)), len(times), sum(map(len, texts)), sum(map(len, blobs)))
    return [_PREFIX.pack(*sizes), *head, times, *texts, *blobs]


_IOV_MAX = 512  # pieces per writev call: within every system's IOV_MAX (1024 on Linux)


def _write(fd: int, pieces: list[bytes]) -> None:
    """Write *pieces* one after the other at the end of *fd*, whole (OSError: maybe a part written)."""
    if not hasattr(os, "writev"):  # Windows
        pieces = [b"".join(pieces)]
    at = 0
    while at < len(pieces):
        group = pieces[at : at + _IOV_MAX]
        written = os.writev(fd, group) if len(group) > 1 else os.write(fd, group[0])
        at += len(group)
        size = sum(map(len, group))
        if written < size:  # a short write (a signal, a filling disk): the rest of this group one by one
            rest = b"".join(group)[written:]
            while rest:
                rest = rest[os.write(fd, rest) :]


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
    columns = [column * len(times) if len(column) == 1 else column for column in columns]
    at += times_size
    texts = data[at : at + texts_size].decode("utf-8", "surrogatepass")
    blobs = data[at + texts_size : at + texts_size + blobs_size]
    payloads: list[str | bytes | None] = []
    text_at = blob_at = 0
    for length in columns[_DATA - 1]:
        if length is None:
            payloads.append(None)
        elif length.__class__ is list:  # [i]: the payload of event i, written once (see _repeats)
            if len(length) != 1 or length[0].__class__ is not int or not 0 <= length[0] < len(payloads):
                raise ValueError(f"a corrupt batch: a payload repeats {length!r}, not an event before it")
            payloads.append(payloads[length[0]])
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


def spool_parent(directory: str | None = None) -> str:
    """The folder spools are made in: *directory*, else ``$WSBENCH_SPOOL_DIR``, else the system's temporary folder."""
    return directory or os.environ.get(SPOOL_DIR) or tempfile.gettempdir()


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _remove(fd: int, directory: str, identity: tuple[int, int]) -> None:
    """Remove the spool *directory* if it is still the one made (not one re-created under its name); close *fd*."""
    try:
        if _identity(os.lstat(directory)) == identity:
            shutil.rmtree(directory, ignore_errors=True)
    except OSError:
        pass
    try:
        os.close(fd)  # last: the lock goes with it
    except OSError:
        pass


def sweep(parent: str | None = None) -> list[str]:
    """Remove the spools in *parent* (see :func:`spool_parent`) that no living process holds, and return them.

    A spool's file is locked (``flock``) for as long as its log is open, and the kernel lets go of
    the lock when the process dies however it dies (SIGKILL, SIGTERM of a script, a crash). So a
    spool of this user whose lock can be taken is stale: its process is gone. A spool directory with
    no file in it is left alone for an hour (it may be in the making). Only directories owned by
    this user, never a symbolic link, and nothing but ``wsbench-spool-*``.
    """
    if fcntl is None:
        return []
    parent = spool_parent(parent)
    removed = []
    try:
        names = [name for name in os.listdir(parent) if name.startswith(PREFIX)]
    except OSError:
        return []
    for name in names:
        directory = os.path.join(parent, name)
        try:
            info = os.lstat(directory)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        try:
            fd = os.open(os.path.join(directory, _FILE), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            if time.time() - _changed(directory, info) > (_OLD if _has(directory, _UNLOCKED) else _YOUNG):
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a living process's spool
            os.close(fd)
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode) and _identity(os.lstat(directory)) == _identity(info):
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
        except OSError:
            pass
        finally:
            os.close(fd)  # the lock goes with it: a log that opened the file meanwhile sees it unlinked
    return removed


def _has(directory: str, name: str) -> bool:
    return os.path.lexists(os.path.join(directory, name))


def _changed(directory: str, info: os.stat_result) -> float:
    """When the spool in *directory* last changed: its directory's or its old file's mtime, the later."""
    try:
        return max(info.st_mtime, os.lstat(os.path.join(directory, _UNLOCKED)).st_mtime)
    except OSError:
        return info.st_mtime


_sweeps: dict[str, threading.Thread] = {}  # by parent folder: the sweep this process started there
_sweeps_lock = threading.Lock()


def _sweep_once(parent: str) -> None:
    """Sweep *parent* once per process, in a thread of its own (removing a big stale spool takes time)."""
    with _sweeps_lock:
        if parent in _sweeps:
            return
        thread = threading.Thread(target=sweep, args=(parent,), name="wsbench-spool-sweep", daemon=True)
        _sweeps[parent] = thread
    thread.start()


def _make(parent: str) -> tuple[str, int, tuple[int, int]]:
    """A new spool in *parent*: its directory (0700), its file (0600, open for reading and appending
    and locked for the life of the descriptor), and the directory's identity."""
    os.makedirs(parent, mode=0o700, exist_ok=True)  # $WSBENCH_SPOOL_DIR may name a folder not made yet
    for _ in range(5):
        directory = tempfile.mkdtemp(prefix=PREFIX, dir=parent)
        identity = _identity(os.lstat(directory))
        try:
            fd = os.open(
                os.path.join(directory, _FILE),
                os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                0o600,
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        if fcntl is None:
            return directory, fd, identity
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_nlink:
                return directory, fd, identity
        except BlockingIOError:  # a sweep took it for stale in the instant before the lock: it removes it
            pass
        except BaseException:
            _remove(fd, directory, identity)
            raise
        os.close(fd)  # swept already: make another
    raise OSError(f"could not make a spool in {parent}: each new one was swept away at once")


class EventLog(Generic[T]):
    """Batches of events appended to one private file, read back by position.

    *make* turns a stored row back into an event (lists it stored for tuples made tuples again).
    The file is made at the first :meth:`append`, in *directory* (see :func:`spool_parent`).
    """

    def __init__(self, make: Callable[[Any], T], *, directory: str | None = None) -> None:
        self._make = make
        self._parent = directory
        self.directory: str | None = None  #: the spool's own directory, once made
        self.path: str | None = None  #: its file (shown in messages; never opened again by this name)
        self._fd = -1  # the one descriptor: every write and every read goes through it
        self._finalizer: weakref.finalize | None = None
        self._removed = False  # the file was found removed from its directory (and the caller told)
        self._end = 0  # bytes written so far
        self.starts: list[int] = []  #: each batch's first position
        self._places: list[tuple[int, int]] = []  # each batch's (offset, length) in the file; (-1, 0) for a hole
        self._holes: dict[int, tuple[tuple[Any, ...], T]] = {}  # a batch not kept: (its first row, its note)
        self.kinds: list[Counter[tuple[str, str]]] = []  #: each batch's counts by (side, kind)
        self.conns: list[tuple[int, ...]] = []  #: each batch's connections, in order of first appearance
        self.counts: list[dict[int, int]] = []  #: each batch's events by connection (a hole: its note)
        self.seqs: list[tuple[int, int]] = []  #: each batch's first and last seq
        self.total = 0  #: events written, or not kept (each has its position)
        self.lost = 0  #: events not kept (the disk failed)
        self._cache: tuple[int, list[T]] = (-1, [])  # the batch read last: sequential reads decode it once

    @property
    def batches(self) -> int:
        """How many batches are written (holes included)."""
        return len(self.starts)

    def removed(self) -> bool:
        """True the first time this is asked after the spool's file was removed from its directory (a
        /tmp cleaner): it is still read and written through the open descriptor, and freed when the log goes."""
        if self._fd < 0 or self._removed:
            return False
        try:
            self._removed = os.fstat(self._fd).st_nlink == 0
        except OSError:
            return False
        return self._removed

    def _open(self) -> None:
        parent = spool_parent(self._parent)
        _sweep_once(parent)
        self.directory, self._fd, identity = _make(parent)
        self.path = os.path.join(self.directory, _FILE)
        self._finalizer = weakref.finalize(self, _remove, self._fd, self.directory, identity)

    def append(
        self, events: Sequence[tuple[Any, ...]], *, same_as: tuple[Sequence[tuple[Any, ...]], list[bytes]] | None = None
    ) -> list[bytes]:
        """Write *events* as one batch and return it as written (its pieces); on OSError (disk full
        or gone) nothing is written and the caller keeps them (or calls :meth:`lose`).

        *same_as* is (events, pieces) another log has just written: when it holds the very same
        event objects (two transcripts of one connection spill the same events at the same
        moment), its pieces are written again instead of encoding the events a second time.
        """
        if not events:
            return []
        if self._fd < 0:
            self._open()
        if same_as is not None and len(same_as[0]) == len(events) and all(map(operator.is_, same_as[0], events)):
            pieces = same_as[1]
        else:
            pieces = _pack(events)
        size = sum(map(len, pieces))
        try:
            _write(self._fd, pieces)
        except OSError:
            os.ftruncate(self._fd, self._end)  # a torn batch: cut it off, so the file holds whole batches only
            raise
        self._index(events, (self._end, size), Counter(map(_SIDE_KIND, events)), Counter(map(_CONN, events)))
        self._end += size
        return pieces

    def lose(self, events: Sequence[tuple[Any, ...]], note: Callable[[tuple[Any, ...], int], T]) -> None:
        """Keep only a note in place of *events* (the disk failed): ``note(first event, count)`` makes
        it. Their positions stay (a viewer counting positions sees no jump); reading any of them gives
        the note, iterating gives it once. Holes next to each other are one, with one note."""
        if not events:
            return
        self.lost += len(events)
        number = self.batches - 1
        if number in self._holes:  # the one before was not kept either: one hole, one note
            first, _ = self._holes[number]
            count = self.total - self.starts[number] + len(events)
            marker = note(first, count)
            self._holes[number] = (first, marker)
            self.kinds[number] = Counter({_SIDE_KIND(marker): count})
            self.conns[number] = tuple(dict.fromkeys((*self.conns[number], *map(_CONN, events))))
            self.seqs[number] = (self.seqs[number][0], max(self.seqs[number][1], *map(_SEQ, events)))
            self.total += len(events)
            return
        marker = note(events[0], len(events))
        self._holes[self.batches] = (events[0], marker)
        self._index(events, (-1, 0), Counter({_SIDE_KIND(marker): len(events)}), {_CONN(marker): 1})

    def _index(
        self,
        events: Sequence[tuple[Any, ...]],
        place: tuple[int, int],
        kinds: Counter[tuple[str, str]],
        counts: dict[int, int],
    ) -> None:
        self.kinds.append(kinds)  # fields 2, 3: side, kind
        self.conns.append(tuple(dict.fromkeys(map(_CONN, events))))  # field 4: conn
        self.counts.append(counts)
        seqs = list(map(_SEQ, events))  # field 0: seq
        self.seqs.append((min(seqs), max(seqs)))
        self._places.append(place)
        self.starts.append(self.total)  # last: a reader that sees the batch sees its index entries
        self.total += len(events)

    def batch(self, number: int) -> list[T]:
        """The events of batch *number*, read from the file (the last one read is cached); a hole
        (a batch not kept) reads as its one note."""
        cached, events = self._cache
        if cached == number:
            return events
        if number in self._holes:
            return [self._holes[number][1]]
        offset, length = self._places[number]
        data = os.pread(self._fd, length, offset)  # the open descriptor, never the path: see the module
        if len(data) != length:
            raise OSError(f"{self.path}: batch {number} is cut short ({len(data)} of {length} bytes)")
        events = [self._make(row) for row in _unpack(data)]
        self._cache = (number, events)
        return events

    def at(self, number: int, index: int) -> T:
        """The event at *index* in batch *number*: in a hole, its note."""
        events = self.batch(number)
        return events[index] if number not in self._holes else events[0]

    def find(self, position: int) -> tuple[int, int]:
        """(batch number, index in it) of the event at *position* (0 <= position < total)."""
        number = bisect.bisect_right(self.starts, position) - 1
        return number, position - self.starts[number]

    def close(self) -> None:
        """Remove the file and its directory now (also done when this log is collected, or at exit)."""
        if self._finalizer is not None:
            self._finalizer()


class LazyEvents(Sequence[T]):
    """A snapshot of a transcript's events from position *start* on, the older ones read from
    its :class:`EventLog` only when asked; with *keys*, only the events of those connections
    (a connection's view of its bench's log: positions count the selected events only).

    Fixed at creation: events recorded later are not in it. Indexing, slicing, ``len``,
    iteration and ``reversed`` work as on a list; iterating reads one batch at a time, and a
    selection reads only the batches that hold one of its connections.
    """

    def __init__(
        self,
        log: EventLog[T] | None,
        batches: int,
        tail: list[tuple[Any, ...]],
        event: Callable[[tuple[Any, ...]], T],
        start: int = 0,
        keys: Keys | None = None,
    ) -> None:
        self._log = log
        self._batches = batches
        self._keys = keys
        self._event = event  # what a row of *tail* (the events in memory, plain tuples) is made into when read
        self._ends = _ends(log, batches, keys)  # how many events it holds up to the end of each batch
        self._base = self._ends[-1] if self._ends else 0  # events in those batches: the tail starts there
        self._tail = tail if keys is None else [e for e in tail if keys.holds(e)]
        self._start = max(0, min(start, self._base + len(self._tail)))

    def after(self, start: int) -> LazyEvents[T]:
        """The same snapshot from position *start* (of this one) on, still lazy."""
        view = copy.copy(self)
        view._start = max(0, min(self._start + start, self._base + len(self._tail)))
        return view

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
            return self._event(self._tail[index - self._base])
        assert self._log is not None
        number, at = self._find(index)
        if self._keys is None:
            return self._log.at(number, at)
        return self._batch(number)[at]

    def _find(self, position: int) -> tuple[int, int]:
        """(batch number, index among the batch's events in this snapshot) of *position* < base."""
        number = bisect.bisect_right(self._ends, position)
        return number, position - (self._ends[number - 1] if number else 0)

    def _batch(self, number: int) -> list[T]:
        """The events of batch *number* in this snapshot (a hole: its note, if selected)."""
        assert self._log is not None
        events = self._log.batch(number)
        keys = self._keys
        return events if keys is None else [e for e in events if keys.holds(e)]

    def _numbers(self, first: int) -> Iterator[int]:
        """The batches from *first* on that hold events of this snapshot."""
        ends = self._ends
        return (n for n in range(first, self._batches) if ends[n] != (ends[n - 1] if n else 0))

    def __iter__(self) -> Iterator[T]:
        if self._start < self._base:
            first, offset = self._find(self._start)
            yield from self._batch(first)[offset:]
            for number in self._numbers(first + 1):
                yield from self._batch(number)
        yield from map(self._event, self._tail[max(0, self._start - self._base) :])

    def __reversed__(self) -> Iterator[T]:
        yield from map(self._event, reversed(self._tail[max(0, self._start - self._base) :]))
        if self._start < self._base:
            first, offset = self._find(self._start)
            for number in reversed(list(self._numbers(first + 1))):
                yield from reversed(self._batch(number))
            yield from reversed(self._batch(first)[offset:])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable like one

    def __repr__(self) -> str:
        return f"<{len(self)} events, {max(0, self._base - self._start)} of them on disk>"

    def kind_counts(self) -> Counter[tuple[str, str]]:
        """Events by (side, kind) of the whole snapshot (from position 0), from the log's index
        and the events in memory: reads no file, except a selection's batches shared with
        other connections."""
        counts: Counter[tuple[str, str]] = Counter()
        if self._log is not None:
            for number, batch in enumerate(self._log.kinds[: self._batches]):
                keys = self._keys
                if keys is None or (
                    keys.covers(self._log.counts[number], self._log.seqs[number])
                    and all(conn in keys.windows for conn in self._log.counts[number])
                ):
                    counts.update(batch)
                elif self._ends[number] != (self._ends[number - 1] if number else 0):
                    counts.update(_SIDE_KIND(e) for e in self._batch(number))
        counts.update((e[2], e[3]) for e in self._tail)
        return counts

    def connections(self) -> list[int]:
        """The connection keys of the whole snapshot in order of first appearance: reads no file."""
        found: dict[int, None] = {}
        if self._log is not None:
            for conns in self._log.conns[: self._batches]:
                found.update(dict.fromkeys(conns))
        found.update(dict.fromkeys(e[4] for e in self._tail))
        keys = self._keys
        return list(found) if keys is None else [conn for conn in found if conn in keys.windows]


class Keys:
    """Which events of a log a connection's view holds: those of its connection keys, each from
    the seq it was taken on (a reconnect takes a new key; a later connection that reuses the TCP
    port, and so the key, ends the earlier one's window there)."""

    def __init__(self) -> None:
        self.windows: dict[int, tuple[int, float]] = {}  #: key -> (first seq, seq it ended at or inf)

    def holds(self, event: Any) -> bool:
        window = self.windows.get(event[4])
        return window is not None and window[0] <= event[0] < window[1]

    def covers(self, conns: Iterable[int], seqs: tuple[int, int]) -> bool:
        """Every event of these connections with a seq in *seqs* (first, last) is held."""
        first, last = seqs
        for conn in conns:
            window = self.windows.get(conn)
            if window is not None and not window[0] <= first <= last < window[1]:
                return False
        return True

    def count(self, counts: dict[int, int]) -> int:
        """How many of *counts* (events by connection) are of these keys."""
        return sum(n for conn, n in counts.items() if conn in self.windows)

    def snapshot(self) -> Keys:
        """A copy that later changes leave alone."""
        keys = Keys()
        keys.windows = dict(self.windows)
        return keys


def _ends(log: EventLog[Any] | None, batches: int, keys: Keys | None) -> list[int]:
    """How many events of the first *batches* batches of *log* a snapshot holds, cumulated: from
    the index, or for a batch only partly in a selection's windows, by reading it."""
    if log is None or batches == 0:
        return []
    if keys is None:
        return [*log.starts[1:batches], _base(log, batches)]
    ends, total = [], 0
    for number in range(batches):
        counts = log.counts[number]
        if any(conn in keys.windows for conn in counts):
            if keys.covers(counts, log.seqs[number]):
                total += keys.count(counts)
            else:
                total += sum(map(keys.holds, log.batch(number)))
        ends.append(total)
    return ends


def _base(log: EventLog[Any] | None, batches: int) -> int:
    """How many events the first *batches* batches of *log* hold."""
    if log is None or batches == 0:
        return 0
    return log.total if batches == log.batches else log.starts[batches]
