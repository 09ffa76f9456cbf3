"""The record of a conversation: every event of both sides, in order.

An :class:`Event` is immutable; a :class:`Transcript` only grows, and nothing received is
ever dropped from it. Its text form leaves out ports, times and ids and lists events in
causal order, so a notebook prints it alike on any machine; secrets are masked in everything
shown or exported. Memory stays flat however long the conversation (older events go to a
spool file). Pure logic: no I/O beyond JSON Lines files and the transcript's own spool file.
Specification: ``docs/modules/wsbench.transcript.md``.
"""

from __future__ import annotations

import ast
import base64
import itertools
import json
import math
import re
import threading
import time
import warnings
import weakref
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from .._jupyter import no_proxy_port
from .._text import preview, printable
from ..codes import describe
from ..kinds import APP_SENDS, CLIENT_SIDES, DISRUPTIONS, NOTICES, SIDES
from ..secrets import mask_headers, mask_subprotocol, mask_text, mask_url
from .causal import causal_order, conversation_order, noticed
from .rows import MAX_DEPTH, by_from_detail, event_fields, open_regular, read_rows
from .spool import SPOOL_DIR, EventLog, Keys, LazyEvents, spool_parent

if TYPE_CHECKING:  # for the signatures of the lazy delegators only: this module imports no client or server
    from ..replay import ReplayResult
    from ..replay_many import ConversationReplay

__all__ = [
    "DISRUPTIONS",  # re-exported from wsbench.kinds, where every event kind is declared
    "IN_MEMORY",
    "KEEP_UNDER_BUDGET",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MEMORY_BUDGET",
    "MEMORY_BYTES",
    "NOTICES",
    "SHOW_ALL",
    "SHOW_ENDS",
    "ConnectionView",
    "Event",
    "Transcript",
    "by_connection",
    "causal_order",
    "conversation_order",
    "labels",
    "noticed",
    "paths_said",
    "record",
    "record_message",
    "relay",
    "said_once",
    "stores",
]

Payload = str | bytes | None
_Spilled = tuple[list[tuple[Any, ...]], list[bytes]]  # what a spill wrote: the events and their pieces
_PREVIEW = 72  # characters of a payload shown in the text form
_OPTIONAL = ("name", "handler", "cause")  # fields a JSON Lines row holds only when set

#: The largest transcript file :meth:`Transcript.load` reads unless given ``max_bytes=``.
MAX_BYTES = 100 * 2**20
#: How many events a transcript keeps in memory before the older half goes to disk (:mod:`wsbench.transcript.spool`).
IN_MEMORY = 10_000
#: How many events all transcripts together keep in memory. Past it, a transcript that is
#: recorded to writes its older events to disk early, keeping its newest :data:`KEEP_UNDER_BUDGET`:
#: a thousand short connections add up as one long one does (a load test). A transcript made
#: with a larger ``in_memory`` than :data:`IN_MEMORY` keeps what it asked for.
MEMORY_BUDGET = 100_000
#: How many bytes of payload (characters of text) all transcripts together keep in memory: past
#: it, as past :data:`MEMORY_BUDGET`, and for every transcript, whatever its ``in_memory``. Large
#: messages reach it long before the count of events does (10,000 events of 1 MiB would be 10 GiB).
MEMORY_BYTES = 32 * 2**20
#: How many of its newest events a transcript keeps in memory when the budget is spent (fewer when
#: their payloads pass a 64th of :data:`MEMORY_BYTES`).
KEEP_UNDER_BUDGET = 64
#: The text form shows every event up to this many; past it, a summary (:meth:`Transcript.text`).
SHOW_ALL = 200
#: How many lines a summary shows at each end.
SHOW_ENDS = 20

_seq = itertools.count(1)
_now = time.time
_record_lock = threading.Lock()
_held = [0, 0]  # events, and bytes of payload, in memory in all transcripts (changed under _record_lock)
_freed: deque[tuple[int, int]] = deque()  # the same of collected transcripts, taken off _held at the next look
_told: deque[str] = deque()  # warnings a spill left, issued once the record lock is let go


class Event(NamedTuple):
    """One thing one side did or saw (immutable; a named tuple, cheap to create per message)."""

    seq: int  #: process-wide order of recording
    time: float  #: wall-clock seconds (``time.time()``)
    side: str  #: "client", "server", "proxy" (a FaultProxy) or "browser" (a page's WebSocket)
    #: what happened: one of the kinds :mod:`wsbench.kinds` declares for the side (for the server, the
    #: ASGI message type), which also says which of the fields below each kind carries
    kind: str
    conn: int = 0  #: which connection (an opaque key; rendered as #1, #2 ... in order of appearance)
    data: Payload = None  #: text or bytes payload, URL for "connect", body for "rejected"
    code: int | None = None  #: close code, or HTTP status for "rejected" / response start
    reason: Any = None  #: close reason: a str, except that FastAPI's validation failure sends a list
    client_state: str | None = None  #: server side: ``websocket.client_state`` after the message
    application_state: str | None = None  #: server side: ``websocket.application_state`` after it
    #: anything else, deterministic (subprotocol, error text; on a server's "websocket.connect", the
    #: path and query the client asked for, below root_path: None in files written before it was recorded)
    detail: str | None = None
    headers: tuple[tuple[str, str], ...] | None = None  #: HTTP headers as sent (on "connect": the request's)
    #: on the client's "closed": who sent the first close frame, "client" or "server"
    #: (:data:`wsbench.kinds.CLOSED_BY`); None when no close frame went either way (the connection dropped)
    by: str | None = None
    #: the connection's name (``bench.connect(path, name="ann")``, or "c1", "c2" ... in order of
    #: opening on a bench); None where nothing named it (a connection to a URL, an old file)
    name: str | None = None
    #: on what the app sends: the task that sent it, the name of the connection whose handler it
    #: is ("ann": ann's handler, also when it sends on bob's socket) or ``task <name>`` for any other
    handler: str | None = None
    #: on what the app sends: the seq of the last "websocket.receive" of the task that sent it
    #: (what it was handling), None if that task had received no message
    cause: int | None = None

    @property
    def size(self) -> int:
        """Payload size in bytes (text counted as UTF-8)."""
        if isinstance(self.data, str):
            return len(self.data.encode("utf-8"))
        return len(self.data) if self.data is not None else 0

    def text(self, *, unmasked: bool = False) -> str:
        """One deterministic line: no time, port or id; secrets masked unless *unmasked*; what a peer
        chose (a close reason, a path) with its control characters escaped (:func:`~wsbench._text.printable`)."""
        body = printable(_render_body(self if unmasked else self.masked()))
        if self.handler is not None and self.handler != self.name:  # sent by another handler, or a task
            body += f" ({_sender(self.handler)})"
        if self.client_state is None:
            return f"{self.side:<6}  {body}"
        return (
            f"{self.side:<6}  {body:<48} [client_state={self.client_state} application_state={self.application_state}]"
        )

    def masked(self) -> Event:
        """This event as wsbench shows it, secrets replaced by ``***`` (:mod:`wsbench.secrets`):
        those of a "connect" URL and of the headers (the offered subprotocols among them), the
        chosen subprotocol ("open", "websocket.accept"), and URLs and tokens in a detail's text;
        the event itself when it has none."""
        if self.kind != "connect" and not self.headers and not self.detail:  # every message: nothing to mask
            return self
        data, headers, detail = self.data, self.headers, self.detail
        if self.kind == "connect" and isinstance(data, str):
            data = mask_url(data)
        if headers:
            headers = tuple(mask_headers(headers))
        if detail:
            detail = _masked_detail(self, detail)
        if data == self.data and headers == self.headers and detail == self.detail:
            return self
        return self._replace(data=data, headers=headers, detail=detail)

    def __repr__(self) -> str:  # the named tuple's form, secrets masked
        shown = self.masked()
        return f"Event({', '.join(f'{name}={getattr(shown, name)!r}' for name in self._fields)})"


_SUBPROTOCOL = re.compile(r"subprotocol ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def _masked_detail(event: Event, detail: str) -> str:
    """An event's detail as shown: the subprotocol a client's "open" holds (the value itself) or
    a server's accept names (``subprotocol '...'``), by :func:`~wsbench.secrets.mask_subprotocol`;
    any other text by :func:`~wsbench.secrets.mask_text` (URLs, user info, JWTs)."""
    if not isinstance(detail, str):
        return detail
    if event.side in ("client", "browser") and event.kind == "open":
        return mask_subprotocol(detail)
    if event.kind == "websocket.connect":  # the path and query the client asked for: masked as a URL is
        return mask_text(mask_url(detail))
    if "subprotocol " in detail:
        detail = _SUBPROTOCOL.sub(lambda m: f"subprotocol {_shown_repr(m.group(1))}", detail)
    return mask_text(detail)


def _shown_repr(literal: str) -> str:
    """The repr of a subprotocol (``'abc'``) with the value masked when it is a credential."""
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return literal
    shown = mask_subprotocol(value) if isinstance(value, str) else value
    return literal if shown == value else repr(shown)


def by_connection(events: Iterable[Event]) -> list[list[Event]]:
    """*events* grouped by connection, each group in the given order, the groups in order of
    their first event: the order that numbers connections #1, #2 ... in every view."""
    groups: dict[int, list[Event]] = {}
    for event in events:
        groups.setdefault(event.conn, []).append(event)
    return list(groups.values())


def record(*transcripts: Transcript, **fields: Any) -> Event:
    """Create one :class:`Event` and append it to each transcript, atomically in order; a
    :class:`ConnectionView` records into the transcript it views, and each transcript gets it once."""
    if len(transcripts) > 1:
        transcripts = stores(*transcripts)
    with _record_lock:
        event = Event(seq=next(_seq), time=time.time(), **fields)
        row = tuple(event)  # held as a plain tuple: see _event()
        spilled = None  # what a transcript spilled in this call: the next may write the same bytes
        for transcript in transcripts:
            spilled = _keep(transcript, row, spilled)
    if _told:
        _tell()
    return event


def record_message(
    transcript: Transcript, side: str, kind: str, conn: int, data: str | bytes, name: str | None
) -> None:
    """:func:`record` of a message into one transcript, its fields given in order: the hot path
    (a connection's sends and receives), without the cost of keyword arguments, nor of an Event
    nobody reads (the transcript makes one when it is read)."""
    if transcript._source is not None:  # a connection's view: its bench's transcript keeps the event
        transcript = transcript._source
    size = len(data)  # a message's payload: str or bytes
    with _record_lock:
        # the row made directly, as the transcript holds it (see _event); Event(...) would run a
        # Python __new__ taking 16 arguments
        seq, now = next(_seq), _now()
        row = (seq, now, side, kind, conn, data, None, None, None, None, None, None, None, name, None, None)
        events, held = transcript._events, _held
        if (
            events.__class__ is list
            and len(events) < transcript._spill_at - 1
            and held[0] < MEMORY_BUDGET
            and held[1] + size <= MEMORY_BYTES
        ):
            events.append(row)  # the usual case: _keep() would append and find nothing to spill
            held[0] += 1
            held[1] += size
            transcript._bytes += size
        else:
            _keep(transcript, row)
    if _told:
        _tell()


def _event(row: tuple[Any, ...]) -> Event:
    """The :class:`Event` of a row a transcript holds in memory.

    A transcript holds its events in memory as plain tuples, made events when read: the garbage
    collector stops tracking a tuple of plain values, but never a named tuple, so 100,000 events
    in memory were 100,000 more objects for every full collection to walk (about 25 ms each in a
    bench), and their growth set off those collections."""
    return _new_event(Event, row)


_new_event = tuple.__new__


def _keep(transcript: Transcript, event: tuple[Any, ...], spilled: _Spilled | None = None) -> _Spilled | None:
    """Append *event* (a row: see :func:`_event`) to *transcript* (under the record lock), spilling
    its older events to disk when it holds *in_memory* of them, or earlier when all transcripts
    together hold more than :data:`MEMORY_BUDGET` events or :data:`MEMORY_BYTES` of payload; return
    what was spilled in this call (see :meth:`Transcript._spill`)."""
    if transcript._source is not None:  # a connection's view: its bench's transcript keeps the event
        transcript = transcript._source
    events = transcript._events
    if events.__class__ is _Relay:  # a relay sink: its targets keep the copies
        events.append(event)
        return spilled
    events.append(event)
    size = _size(event)
    _held[0] += 1
    _held[1] += size
    transcript._bytes += size
    if len(events) >= transcript._spill_at:  # a long conversation: older events go to disk
        return transcript._spill(spilled) or spilled
    if (
        (_held[0] > MEMORY_BUDGET or _held[1] > MEMORY_BYTES)
        and (len(events) >= transcript._budget_at or transcript._bytes >= transcript._bytes_at)
        and _over_budget()
    ):
        return transcript._spill(spilled, keep=transcript._newest_to_keep()) or spilled
    return spilled


def stores(*transcripts: Transcript) -> tuple[Transcript, ...]:
    """Where recording into *transcripts* keeps the events: each, or for a view the transcript it
    views; each once (a bench connection's events go into the bench's log only)."""
    return tuple(dict.fromkeys(t._source if t._source is not None else t for t in transcripts))


def _not_kept(first: tuple[Any, ...], count: int, why: str) -> Event:
    """The note in place of *count* events from *first* (a row) on, which the disk failed to keep (*why*)."""
    detail = f"{count} event{'s' if count != 1 else ''} not kept from here on: the spool's disk failed ({why})"
    return Event(first[0], first[1], first[2], "not kept", first[4], detail=detail)


def _tell() -> None:
    """Issue the warnings spills left (outside the record lock: a warning may print, or raise)."""
    while _told:
        message = _told.popleft()
        try:
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        except Exception:  # warnings turned into errors: never into the recording thread
            pass


def _over_budget() -> bool:
    """Whether all transcripts hold more than the budget (of events or of bytes), once the collected
    ones are counted out."""
    while _freed:
        events, size = _freed.popleft()
        _held[0] -= events
        _held[1] -= size
    return _held[0] > MEMORY_BUDGET or _held[1] > MEMORY_BYTES


def _size(row: tuple[Any, ...]) -> int:
    """What a row's payload counts against :data:`MEMORY_BYTES`: its length, if text or bytes."""
    data = row[5]
    return len(data) if isinstance(data, (str, bytes)) else 0


def _release(events: list[tuple[Any, ...]]) -> None:
    """A transcript was collected: its events in memory no longer count (no lock: any thread, at any time)."""
    _freed.append((len(events), sum(map(_size, events))))


class _Relay(list):
    """The event list of a :func:`relay` sink: keeps nothing, copies each event on."""

    def __init__(self, conn: int, targets: tuple[Transcript, ...]) -> None:
        super().__init__()
        self.conn = conn
        self.targets = stores(*targets)

    def append(self, event: tuple[Any, ...]) -> None:  # what record() calls, under its lock
        copy = (*event[:4], self.conn, *event[5:])
        for target in self.targets:
            _keep(target, copy)


def relay(conn: int, *transcripts: Transcript) -> Transcript:
    """A sink for :func:`record` that keeps nothing itself and appends each event to
    *transcripts* under the connection key *conn*.

    A proxy between a client and a Bench hands this to the Bench in place of the client's
    transcript: the server knows the connection by the proxy's port, the client by its own,
    and the copies carry the client's key so both sides print as one connection.
    """
    sink = Transcript()
    sink._events = _Relay(conn, transcripts)
    return sink


def _event_from_row(row: tuple[Any, ...]) -> Event:
    """An event read back from the spool: its header pairs, stored as JSON lists, are tuples again."""
    event = Event._make(row)
    if event.headers is None:
        return event
    return event._replace(headers=tuple((name, value) for name, value in event.headers))


class Transcript:
    """An append-only, thread-safe list of :class:`Event`, printable deterministically.

    Memory stays flat however long the conversation: once *in_memory* events are held, the
    older half goes to a private file on disk (:mod:`wsbench.transcript.spool`), removed with the
    transcript; earlier when all transcripts together hold :data:`MEMORY_BYTES` of payload. Every
    reader still sees every event; those on disk are read when asked. A long transcript prints as
    a summary (:meth:`text`).
    """

    _source: Transcript | None = None  #: the transcript a :class:`ConnectionView` reads; None: its own events

    def __init__(self, events: Iterable[Event] = (), *, in_memory: int = IN_MEMORY) -> None:
        if isinstance(in_memory, bool) or not isinstance(in_memory, int) or in_memory < 2:
            raise ValueError(f"in_memory must be an integer of at least 2 events, not {in_memory!r}")
        self._hold = in_memory
        self._spill_at = in_memory  #: record() spills when this many events are in memory
        #: or this many, when all transcripts together hold too many (a transcript made with more
        #: than the default in_memory asked to keep that many: the budget leaves it alone)
        self._budget_at = 2 * KEEP_UNDER_BUDGET if in_memory <= IN_MEMORY else in_memory
        self._bytes = 0  #: bytes of payload of the events in memory
        #: or when these hold this many bytes and all transcripts together too many (whatever in_memory)
        self._bytes_at = MEMORY_BYTES // 32
        self._log: EventLog[Event] | None = None  # the older events, once there are many
        self._events: list[tuple[Any, ...]] = []  # the newest events, as rows (see _event), all until the first spill
        self._claims: dict[int, weakref.ref[ConnectionView]] = {}  # connection key -> the view that follows it
        weakref.finalize(self, _release, self._events)
        self._extend(events)

    def _spill(self, same_as: _Spilled | None = None, *, keep: int | None = None) -> _Spilled | None:
        """Write the older events in memory to disk (under the record lock), keeping the newest
        *keep* (half of *in_memory* unless told); return (those events, their bytes) for the next
        transcript :func:`record` spills in the same call (:meth:`EventLog.append`'s *same_as*),
        None when nothing was written.

        Should the disk fail (full, gone), those events are not kept: a "not kept" event takes their
        place (its detail says how many and why; their positions stay, so viewers counting positions
        see no jump) and a RuntimeWarning says so, once a transcript. Memory and the time a spill
        takes stay bounded however long the disk stays full, and the recording thread never sees
        the failure. An event the spool cannot write (a payload neither text nor bytes) stays in
        memory, and the next try comes after another half of *in_memory* events.
        """
        events = self._events
        count = len(events) - (self._hold // 2 if keep is None else keep)
        if count <= 0:
            return None
        batch = events[:count]
        if self._log is None:
            self._log = EventLog(_event_from_row)
        log = self._log
        try:
            data = log.append(batch, same_as=same_as)
        except OSError as exc:
            why = exc.strerror or str(exc)  # a string: the exception's traceback would hold this frame
            log.lose(batch, lambda first, n: _not_kept(first, n, why))
            if not log.lost - count:  # the first loss of this transcript: tell the user
                _told.append(
                    f"wsbench could not write a transcript's older events to disk ({exc}): {count} events "
                    "not kept, and more as long as that lasts; a 'not kept' event in the transcript marks "
                    f"where. Spools are made in {spool_parent()} (${SPOOL_DIR} chooses another folder)"
                )
            data = None
        except (TypeError, ValueError):
            self._spill_at = self._budget_at = len(events) + self._hold // 2
            self._bytes_at = self._bytes + MEMORY_BYTES // 64
            return None
        if log.removed():
            _told.append(
                f"wsbench's spool file {log.path} was removed (a temporary-file cleaner?): the transcript "
                "keeps reading and writing it through its open file, nothing is lost, and its disk space "
                "is freed when the transcript goes"
            )
        del events[:count]  # after the log holds them (or their note): a reader snapshots under the lock
        size = sum(map(_size, batch))
        _held[0] -= count
        _held[1] -= size
        self._bytes -= size
        self._spill_at = self._hold
        self._budget_at = 2 * KEEP_UNDER_BUDGET if self._hold <= IN_MEMORY else self._hold
        self._bytes_at = MEMORY_BYTES // 32
        return (batch, data) if data is not None else None

    def _newest_to_keep(self) -> int:
        """How many of its newest events a transcript keeps in memory when the budget is spent:
        :data:`KEEP_UNDER_BUDGET`, fewer when their payloads pass a 64th of :data:`MEMORY_BYTES`."""
        room, kept = MEMORY_BYTES // 64, 0
        for row in itertools.islice(reversed(self._events), KEEP_UNDER_BUDGET):
            room -= _size(row)
            if room < 0:
                break
            kept += 1
        return kept

    def _extend(self, events: Iterable[Event]) -> None:
        """Append *events* in order, spilling to disk as record() does (load, filter, the constructor)."""
        batch: list[Event] = []
        for event in events:
            batch.append(event)
            if len(batch) >= 1024:
                self._add(batch)
                batch = []
        self._add(batch)

    def _add(self, batch: list[Event]) -> None:
        with _record_lock:
            for event in batch:
                _keep(self, tuple(event))  # held as a plain tuple: see _event()
        if _told:
            _tell()

    def _view(self) -> LazyEvents[Event]:
        """A consistent snapshot of every event so far, those on disk read only when asked."""
        with _record_lock:
            log = self._log
            return LazyEvents(log, log.batches if log is not None else 0, self._events[:], _event)

    def __len__(self) -> int:
        if self._log is None:
            return len(self._events)
        with _record_lock:
            return self._log.total + len(self._events)

    def __iter__(self) -> Iterator[Event]:
        if self._log is None:
            events = self._events[:]
            if self._log is None:  # copied before any spill: every event is in the copy
                return map(_event, events)
        return iter(self._view())

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if self._log is None:
            if isinstance(index, slice):
                return list(map(_event, self._events[index]))
            return _event(self._events[index])
        return self._view()[index]

    @property
    def events(self) -> Sequence[Event]:
        """A snapshot of the events so far: a list, or for a long transcript a lazy sequence
        that reads the older events from disk as they are asked for."""
        if self._log is None:
            events = self._events[:]
            if self._log is None:
                return list(map(_event, events))
        return self._view()

    def since(self, index: int) -> Sequence[Event]:
        """Events from position *index* on: lets a viewer fetch only what is new. Raises nothing."""
        if self._log is None:
            events = self._events[index:]
            if self._log is None:
                return list(map(_event, events))
        with _record_lock:
            base = self._log.total
            if index >= base:
                return list(map(_event, self._events[index - base :]))
        view = self._view()
        return view[index:] if index < 0 else view.after(index)

    def _keeps(self) -> bool:
        """Whether this transcript keeps what is recorded into it (a :func:`relay` sink does not)."""
        return self._events.__class__ is not _Relay

    def _connection_view(self, key: int) -> ConnectionView:
        """A live view of the events of connection *key* in this transcript (a bench connection's
        transcript): it holds nothing itself, so each event is recorded once (issue 23)."""
        if not self._keeps():
            raise ValueError("a relay sink keeps no events: there is nothing to view")
        view = ConnectionView(self)
        view.follow(key)
        return view

    def _claim(self, key: int, view: ConnectionView | None = None) -> None:
        """Connection *key* starts here, followed by *view* (None: by no view). A view that followed
        an earlier connection with that key (its TCP port, reused) shows nothing of it from now on,
        and *view* nothing of the connections before it with that key, followed by a view that is
        gone or by none (a client claims its port before its handshake goes out: nothing of its
        own is recorded under that key before this)."""
        with _record_lock:
            ref = self._claims.get(key)
            earlier = ref() if ref is not None else None
            if earlier is view:  # the same view again, or no view after none: no line to draw
                if view is None:
                    self._claims.pop(key, None)  # a collected view's entry
                return
            start = next(_seq)  # a seq no event has: the line between the connections
            if earlier is not None:
                first, _ = earlier._keys.windows[key]
                earlier._keys.windows[key] = (first, start)
            if view is None:
                self._claims.pop(key, None)
            else:
                view._keys.windows[key] = (start, math.inf)
                self._claims[key] = weakref.ref(view)

    def filter(self, *, side: str | None = None, kind: str | None = None) -> Transcript:
        """A new transcript with the events of one side and/or one kind. Raises nothing."""
        return Transcript(
            (e for e in self if (side is None or e.side == side) and (kind is None or e.kind == kind)),
            in_memory=self._hold,
        )

    def select(self, *who: Any) -> Transcript:
        """A new transcript with the events of some connections: each of *who* a name ("ann"),
        a connection key (``conn.key``) or a Connection. Printed, several connections are one
        conversation (:meth:`text`). A name or a Connection selects that connection's events
        only; a key is a TCP port, which a later connection may reuse, and selects every
        connection that had it. Raises ValueError naming what matches no connection here."""
        events = self.events
        names = {e.name for e in events if e.name}
        keys = {e.conn for e in events}
        wanted: set[int] = set()
        named: set[str] = set()
        seqs: set[int] = set()
        for item in who:
            view = getattr(item, "transcript", None)
            if isinstance(view, ConnectionView) and view._source is self:  # its own window of its key
                seqs.update(e.seq for e in view.events)
                continue
            key = getattr(item, "key", item)
            if isinstance(key, str) and key in names:
                named.add(key)
            elif isinstance(key, int) and not isinstance(key, bool) and key in keys:
                wanted.add(key)
            else:
                known = ", ".join(repr(name) for name in dict.fromkeys(e.name for e in events if e.name)) or "none"
                raise ValueError(f"no connection {item!r} in this transcript (its named connections: {known})")
        chosen = (e for e in events if e.conn in wanted or e.name in named or e.seq in seqs)
        return Transcript(chosen, in_memory=self._hold)

    def text(self, *, unmasked: bool = False, full: bool = False) -> str:
        """All events, one line each, in causal order; several connections as one conversation
        (:func:`conversation_order`), each line led by its connection's name, or #1, #2 ... in
        order of appearance for unnamed ones (:func:`labels`). Secrets are masked unless *unmasked*.

        Past :data:`SHOW_ALL` events (unless *full*), a summary instead: the counts by
        kind, the first and last :data:`SHOW_ENDS` lines, and how to see the rest. Raises nothing.
        """
        events = self.events
        if full or len(events) <= SHOW_ALL:
            return _full_text(list(events), unmasked)
        assert isinstance(events, (list, LazyEvents))
        view = events if isinstance(events, LazyEvents) else LazyEvents(None, 0, events, _event)
        return _summary(view, unmasked)

    __str__ = text

    def __repr__(self) -> str:
        return f"<Transcript: {len(self)} events>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the text form
        printer.text(self.text() if not cycle else repr(self))

    # -- data -------------------------------------------------------------

    def records(self, *, unmasked: bool = False) -> list[dict[str, Any]]:
        """Every event as a JSON-ready dict (bytes as base64 under ``"bytes"``), connections numbered.

        Secrets are masked unless *unmasked*. ``"headers"`` ([name, value] pairs), ``"by"``
        (who closed), ``"name"`` (the connection's), ``"handler"`` and ``"cause"`` (who made a
        server-side send, :data:`wsbench.kinds.CAUSED`) are there only for events that carry them. Raises nothing.
        """
        return list(self._rows(unmasked))

    def _rows(self, unmasked: bool) -> Iterator[dict[str, Any]]:
        order: dict[int, int] = {}
        for event in self:
            if not unmasked:
                event = event.masked()
            row = event._asdict()
            headers = row.pop("headers")
            if headers is not None:
                row["headers"] = [[name, value] for name, value in headers]
            by = row.pop("by")
            if by is not None or (
                event.side == "client" and event.kind == "closed" and by_from_detail(event.detail) is not None
            ):  # null where load() would derive who closed from the detail of an old row
                row["by"] = by
            for name in _OPTIONAL:  # only where set: files of unnamed connections read as before
                if row[name] is None:
                    del row[name]
            row["conn"] = order.setdefault(event.conn, len(order) + 1)
            data = row.pop("data")
            row["text"] = data if isinstance(data, str) else None
            row["bytes"] = base64.b64encode(data).decode("ascii") if isinstance(data, bytes) else None
            row["size"] = event.size
            yield row

    def to_jsonl(self, *, unmasked: bool = False) -> str:
        """The transcript as JSON Lines text, one event a line; secrets masked unless *unmasked*. Raises nothing."""
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self._rows(unmasked))

    def save(self, path: str | Path, *, unmasked: bool = False) -> Path:
        """Write the transcript to *path* as JSON Lines (secrets masked unless *unmasked*) and return the path.

        Written as it is read, a batch of lines at a time, so saving a long transcript takes little memory.
        Raises OSError when *path* cannot be written.
        """
        path = Path(path)
        with path.open("w", encoding="utf-8", newline="\n") as file:
            rows = self._rows(unmasked)
            while chunk := list(itertools.islice(rows, 4096)):
                file.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in chunk))
        return path

    @classmethod
    def from_jsonl(cls, text: str) -> Transcript:
        """Parse JSON Lines text. Raises InvalidTranscript naming the bad line and field (the checks: :meth:`load`)."""
        # Split on "\n" only: str.splitlines() would also split inside text holding U+2028 and the like.
        return cls(Event(**event_fields(line, n)) for n, line in enumerate(text.split("\n"), 1) if line.strip())

    @classmethod
    def load(cls, path: str | Path, *, max_bytes: int = MAX_BYTES) -> Transcript:
        """Read a transcript saved with :meth:`save`; a file someone sent is untrusted input.

        Only a regular file (a FIFO, device or directory is refused before it is opened, so
        nothing blocks or reads for ever) of at most *max_bytes* bytes (default 100 MiB),
        read line by line and never past that limit, whatever its size claims. Each line is
        checked as :meth:`from_jsonl` does: JSON nested at most :data:`MAX_DEPTH` deep, strict
        field types (integers that are not booleans, finite times, Unicode text without lone
        surrogates). Anything else raises InvalidTranscript naming the file, line and field.
        A long file is read into a disk-backed transcript, so memory stays flat.
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive number of bytes, not {max_bytes!r}")
        transcript = cls()
        with open_regular(path, max_bytes) as file:
            transcript._extend(Event(**fields) for fields in read_rows(path, file, max_bytes))
        return transcript

    # -- replay and tests (in their own modules: this one stays pure) ----------------
    # The lazy delegators: replay(), to_pytest() and to_locustfile() are the only methods that reach up a layer,
    # each with the real signature of the function it calls and importing it on first use, so
    # this module loads no client, server or code generator.

    def replay(
        self,
        target: Any,
        *,
        ignore: str | Iterable[str] = (),
        timeout: float = 5.0,
        conn: int | None = None,
        **connect_options: Any,
    ) -> ReplayResult:
        """Replay the client side against *target* (a URL, a Bench or an app) and compare the
        answers: see :func:`wsbench.replay.replay`, which says what it raises."""
        from ..replay import replay

        return replay(self, target, ignore=ignore, timeout=timeout, conn=conn, **connect_options)

    def replay_all(self, target: Any, *, timeout: float = 2.0) -> ConversationReplay:
        """Replay every client of this conversation against *target* (a Bench or an app), in the
        recorded causal order, and compare what each received: see
        :func:`wsbench.replay_many.replay_conversation`, which says what it raises."""
        from ..replay_many import replay_conversation

        return replay_conversation(self, target, timeout=timeout)

    def to_pytest_all(self, path: str | Path, *, app: str, name: str = "conversation", timeout: float = 5.0) -> Path:
        """Write one pytest test that replays every client of this conversation in the recorded
        order against *app* (``package.module:app``); raises as :func:`wsbench.replay_many.write_pytest` does."""
        from ..replay_many import write_pytest

        return write_pytest(self, path, app=app, name=name, timeout=timeout)

    def to_pytest(
        self,
        path: str | Path,
        *,
        url: str | None = None,
        app: str | None = None,
        ignore: str | Iterable[str] = (),
        name: str | None = None,
        conn: int | None = None,
        timeout: float = 5.0,
        unmasked: bool = False,
    ) -> Path:
        """Write a pytest file that replays this conversation and asserts the answers:
        see :func:`wsbench.codegen.write_pytest`, which says what it raises."""
        from ..codegen import write_pytest

        return write_pytest(
            self, path, url=url, app=app, ignore=ignore, name=name, conn=conn, timeout=timeout, unmasked=unmasked
        )

    def to_locustfile(
        self,
        path: str | Path,
        *,
        url: str | None = None,
        conn: int | None = None,
        match: Any = None,
        ignore: str | Iterable[str] = (),
        check: bool = True,
        think: float = 1.0,
        pause: float = 0.0,
        timeout: float = 5.0,
        unmasked: bool = False,
    ) -> Path:
        """Write a locustfile whose users replay this conversation under load:
        see :func:`wsbench.locustgen.write_locustfile`, which says what it raises."""
        from ..locustgen import write_locustfile

        return write_locustfile(
            self,
            path,
            url=url,
            conn=conn,
            match=match,
            ignore=ignore,
            check=check,
            think=think,
            pause=pause,
            timeout=timeout,
            unmasked=unmasked,
        )


def paths_said(events: Iterable[Event]) -> set[int]:
    """The connections of *events* whose client side's "connect" is among them: its line says
    the path, so the server's "websocket.connect" line need not (:func:`said_once`)."""
    return {event.conn for event in events if event.kind == "connect" and event.side in CLIENT_SIDES}


def said_once(event: Event, said: set[int]) -> Event:
    """*event* as a view of several events shows it: a server's "websocket.connect" without its
    path when its client's "connect" line says it (*said*: :func:`paths_said`); with it otherwise
    (an outside client, one through a FaultProxy), so every connection is labelled by its path."""
    if event.kind == "websocket.connect" and event.conn in said and event.detail is not None:
        return event._replace(detail=None)
    return event


def _full_text(events: list[Event], unmasked: bool) -> str:
    """Every event, one line each: one connection in causal order; several as one conversation
    (:func:`conversation_order`), each line led by its connection's label (:func:`labels`)."""
    groups = by_connection(events)
    said = paths_said(events)
    if len(groups) == 1:
        return "\n".join(said_once(event, said).text(unmasked=unmasked) for event in causal_order(groups[0]))
    shown = labels(events)
    return "\n".join(
        f"{shown[event.conn]} {said_once(event, said).text(unmasked=unmasked)}" for event in conversation_order(events)
    )


def labels(events: Iterable[Event], numbers: dict[int, int] | None = None) -> dict[int, str]:
    """What each connection of *events* is called in a view, by its key, padded to one width:
    its name (``bench.connect(path, name="ann")``, "c1" ...), else ``#n`` by order of appearance
    (or by *numbers*, key -> n)."""
    names: dict[int, str | None] = {}
    for event in events:
        if not names.get(event.conn):
            names[event.conn] = event.name or None
    if numbers is not None:
        names = {conn: names.get(conn) for conn in numbers}
    order = numbers if numbers is not None else {conn: n for n, conn in enumerate(names, 1)}
    shown = {conn: name if name is not None else f"#{order[conn]}" for conn, name in names.items()}
    width = max((len(label) for label in shown.values()), default=0)
    return {conn: label.ljust(width) for conn, label in shown.items()}


def _summary(events: LazyEvents[Event], unmasked: bool) -> str:
    """A long transcript in a few lines: the counts by kind, the first and last SHOW_ENDS lines
    (each end put in causal order within a window of its own), and how to see the rest.
    Reads two windows of events and the spool's index, whatever the length."""
    total = len(events)
    conns = events.connections()
    numbers = {conn: number for number, conn in enumerate(conns, 1)}
    counts = events.kind_counts()
    window = SHOW_ENDS * 4  # enough that a window's causes are mostly in it
    first = _window_lines(list(itertools.islice(events, window)), numbers, unmasked)[:SHOW_ENDS]
    last_events = list(itertools.islice(reversed(events), window))[::-1]
    before = None
    if len(conns) == 1:  # what came before the last window: its k-th send still meets its k-th receive
        before = counts - Counter((e.side, e.kind) for e in last_events)
    last = _window_lines(last_events, numbers, unmasked, before)[-SHOW_ENDS:]
    sides = {side: n for n, side in enumerate(SIDES)}
    keys = sorted(counts, key=lambda key: (sides.get(key[0], len(sides)), key))
    by_kind = ", ".join(f"{side} {kind} {counts[side, kind]}" for side, kind in keys)
    connections = f"{len(conns)} connection{'s' if len(conns) != 1 else ''}"
    return "\n".join(
        [
            f"{total} events, {connections}: {by_kind}",
            f"first {len(first)}:",
            *first,
            f"… {total - len(first) - len(last)} events not shown: transcript.text(full=True) shows every one, "
            "transcript.save(path) writes them as JSON Lines",
            f"last {len(last)}:",
            *last,
        ]
    )


def _window_lines(
    events: list[Event], numbers: dict[int, int], unmasked: bool, before: Counter[tuple[str, str]] | None = None
) -> list[str]:
    """The lines of a window of events in causal order: of one connection, *before* counting its
    events before the window (:func:`causal_order`); of several, as one conversation."""
    said = paths_said(events)
    if len(numbers) == 1:
        return [said_once(event, said).text(unmasked=unmasked) for event in causal_order(events, before)]
    shown = labels(events)
    width = max((len(label) for label in shown.values()), default=0)
    return [
        f"{shown[event.conn].strip() if event.name else f'#{numbers[event.conn]}':<{width}} "
        f"{said_once(event, said).text(unmasked=unmasked)}"
        for event in conversation_order(events)
    ]


# -- rendering -------------------------------------------------------------


def _close(event: Event) -> str:
    return describe(event.code, event.reason or "")


_CLIENT = {
    "send": lambda e: f"→ {preview(e.data, _PREVIEW)}",
    "receive": lambda e: f"← {preview(e.data, _PREVIEW)}",
    "ping": lambda e: "→ ping",
    "pong": lambda e: "← pong",
    "close": lambda e: f"→ close {_close(e)}",
    "closed": lambda e: f"closed: {e.detail}",
    "connect": lambda e: f"connect {_path(e.data)}",
    "open": lambda e: "open" + (f" (subprotocol {e.detail!r})" if e.detail else ""),
    "rejected": lambda e: (
        f"rejected: HTTP {e.code} {_no_ports(preview(e.data, _PREVIEW)) if e.data else '(empty body)'}"
    ),
    "error": lambda e: f"error: {e.detail}",
    "reconnect": lambda e: f"reconnect: {e.detail}",
}


def _browser_message(e: Event) -> str:
    if e.data is None:  # the page could not report it (too long): detail says what it was
        return f"← {e.detail}"
    return f"← {preview(e.data, _PREVIEW)}" + (f" as {e.detail}" if isinstance(e.data, bytes) and e.detail else "")


#: A browser page's WebSocket (:meth:`wsbench.Bench.browser_connect`): as the client's where the two
#: do the same; its URL's jupyter-server-proxy port written <port>, which changes from run to run.
_BROWSER = {
    "send": _CLIENT["send"],
    "open": _CLIENT["open"],
    "close": _CLIENT["close"],
    "connect": lambda e: "connect " + no_proxy_port(_path(e.data)),
    "message": _browser_message,
    "error": lambda e: "error" + (f": {e.detail}" if e.detail else ""),
    "refused": lambda e: f"refused: {e.detail}",
    "closed": lambda e: f"closed: {_close(e)}" + (f" ({e.detail})" if e.detail else ""),
}

_LOOPBACK_PORT = re.compile(r"\b(127(?:\.\d{1,3}){3}|localhost|\[::1\]):\d{1,5}\b")


def _no_ports(shown: str) -> str:
    """A body as shown, loopback ports written <port> (a proxy's 502 names its target's)."""
    return _LOOPBACK_PORT.sub(r"\1:<port>", shown)


def _path(url: Payload) -> str:
    """The path and query of a URL: the host and port change from run to run."""
    if not isinstance(url, str):
        return ""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


_DEFAULT_TASK = re.compile(r"task Task-\d+")


def _sender(handler: str) -> str:
    """Who sent, as the text form says it: "by ann's handler", "by task 'ticker'", or "by a
    background task" for a task asyncio numbered (its number changes from run to run)."""
    if _DEFAULT_TASK.fullmatch(handler):
        return "by a background task"
    if handler.startswith("task "):
        return f"by task {handler[5:]!r}"
    return f"by {handler}'s handler"


def _render_body(event: Event) -> str:
    if event.kind == "not kept":  # any side: the spool's disk failed
        return f"! {event.detail}"
    if event.side == "proxy":
        return f"{event.kind}: {event.detail}" if event.detail else event.kind
    if event.side in ("client", "browser"):
        render = (_CLIENT if event.side == "client" else _BROWSER).get(event.kind)
        return render(event) if render else event.kind
    if not event.kind.startswith("websocket."):
        return f"! {event.detail}"
    parts = ["→" if event.kind in APP_SENDS else "←", event.kind]
    if event.data is not None:
        parts.append(preview(event.data, _PREVIEW))
    if event.kind in ("websocket.close", "websocket.disconnect"):
        parts.append(_close(event))
    elif event.code is not None:
        parts.append(str(event.code))
    if event.detail:
        parts.append(event.detail)
    return " ".join(parts)


# -- a connection's view of its bench's transcript (issue 23: recorded once) -----


class ConnectionView(Transcript):
    """A connection's transcript as a view of its bench's (or proxy's) transcript: the events of
    its connection keys (``Transcript._connection_view``), read from there, so each event is recorded and
    spilled once. It reads, prints and saves as a transcript of its own; recording into it records
    into the transcript it views."""

    _source: Transcript

    def __init__(self, source: Transcript) -> None:  # holds no events: no Transcript.__init__
        self._source = source
        self._keys = Keys()
        self._hold = source._hold
        # what len() counted last: (the source's events up to there, how many were this view's, its keys then)
        self._counted: tuple[int, int, Keys] = (0, 0, Keys())

    @property
    def _log(self) -> EventLog[Event] | None:
        """The log of the transcript it views."""
        return self._source._log

    @_log.setter
    def _log(self, log: EventLog[Event] | None) -> None:
        raise AttributeError("a connection view has no log of its own")

    def follow(self, key: int) -> None:
        """Also show connection *key* from now on (a reconnect, or the TCP port it paired with)."""
        self._source._claim(key, self)

    def _view(self) -> LazyEvents[Event]:
        with _record_lock:  # a consistent snapshot; selecting from it (which may read the disk) comes after
            log = self._source._log
            batches = log.batches if log is not None else 0
            tail, keys = self._source._events[:], self._keys.snapshot()
        return LazyEvents(log, batches, tail, _event, keys=keys)

    def __len__(self) -> int:
        """Counts only what the source recorded since the last count (a panel asks at every tick,
        and the source may hold thousands of other connections' events in memory); all again
        after a spill took uncounted events to disk, or when the view's keys changed."""
        with _record_lock:
            log, tail = self._source._log, self._source._events
            spilled = log.total if log is not None else 0
            batches = log.batches if log is not None else 0
            end, keys = spilled + len(tail), self._keys.snapshot()
            seen, count, counted_with = self._counted
            fresh = counted_with.windows == keys.windows and spilled <= seen <= end
            rows = tail[seen - spilled :] if fresh else tail[:]
        if fresh:
            count += sum(map(keys.holds, rows))
        else:
            count = len(LazyEvents(log, batches, rows, _event, keys=keys))
        self._counted = (end, count, keys)
        return count

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        events = self.events
        return events[index] if isinstance(index, int) else list(events[index])

    @property
    def events(self) -> Sequence[Event]:
        view = self._view()
        return list(view) if view._log is None else view

    def since(self, index: int) -> Sequence[Event]:
        events = self.events
        if isinstance(events, list):
            return events[index:]
        assert isinstance(events, LazyEvents)
        return events[index:] if index < 0 else events.after(index)
