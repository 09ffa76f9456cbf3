"""The record of a conversation: every event of both sides, in order.

* An :class:`Event` is immutable: side (``client`` / ``server``, or ``proxy`` for what a
  :class:`~wsbench.proxy.FaultProxy` between them did and saw), kind, payload, close code
  and reason, the server-side ``WebSocket`` states, time and size.
* A :class:`Transcript` only grows; nothing received is ever dropped from it, also
  when a ``receive_*`` call raises.
* Its text form (``str(transcript)``) leaves out ports, times and ids, so a notebook
  can print it and nbval compares it on any machine. The full detail, in the order
  recorded and with times, stays available as data (:meth:`Transcript.records`, JSON Lines).
* The text form lists events in *causal* order, not clock order: each side keeps its
  own order, a message is shown sent before it is received, and where two events
  are independent (a client sending its next message while the server still answers
  the last one) a fixed rule decides, so the same conversation always prints alike.
* Secrets are masked in everything shown or exported (the text form, ``repr``, records,
  JSON Lines), the values kept as recorded: the token-like query parameters, user info and
  fragment of a "connect" URL, credential headers, subprotocols that carry a credential
  (offered or chosen), and URLs in an event's detail (:mod:`wsbench.secrets` says which).
  Each of those calls takes ``unmasked=True`` to show the real values.
* A saved file is untrusted input: :meth:`Transcript.load` reads only a regular file, at
  most ``max_bytes`` of it, and checks every field (depth, types, finite times, Unicode).

Pure logic: no I/O beyond reading and writing JSON Lines files.
"""

from __future__ import annotations

import ast
import base64
import itertools
import json
import math
import os
import re
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from .codes import describe
from .errors import InvalidTranscript
from .kinds import APP_SENDS, CAUSES, CLOSED_BY, DISRUPTIONS, HEALS, NOTICES, READER_KINDS, SETTINGS, SIDES
from .secrets import mask_headers, mask_subprotocol, mask_text, mask_url

if TYPE_CHECKING:  # for the signatures of the lazy delegators only: this module imports no client or server
    from .replay import ReplayResult

__all__ = [
    "DISRUPTIONS",  # re-exported from wsbench.kinds, where every event kind is declared
    "MAX_BYTES",
    "MAX_DEPTH",
    "NOTICES",
    "Event",
    "Transcript",
    "by_connection",
    "causal_order",
    "noticed",
    "record",
    "relay",
]

Payload = str | bytes | None
_PREVIEW = 72  # characters of a payload shown in the text form

#: The largest transcript file :meth:`Transcript.load` reads unless given ``max_bytes=``.
MAX_BYTES = 100 * 2**20
#: How deep a field's JSON may nest (a close reason FastAPI sends nests 3 deep).
MAX_DEPTH = 32

_seq = itertools.count(1)
_record_lock = threading.Lock()


class Event(NamedTuple):
    """One thing one side did or saw (immutable; a named tuple, cheap to create per message)."""

    seq: int  #: process-wide order of recording
    time: float  #: wall-clock seconds (``time.time()``)
    side: str  #: "client", "server" or "proxy"
    #: what happened: one of the kinds :mod:`wsbench.kinds` declares for the side (for the server, the
    #: ASGI message type), which also says which of the fields below each kind carries
    kind: str
    conn: int = 0  #: which connection (an opaque key; rendered as #1, #2 ... in order of appearance)
    data: Payload = None  #: text or bytes payload, URL for "connect", body for "rejected"
    code: int | None = None  #: close code, or HTTP status for "rejected" / response start
    reason: Any = None  #: close reason: a str, except that FastAPI's validation failure sends a list
    client_state: str | None = None  #: server side: ``websocket.client_state`` after the message
    application_state: str | None = None  #: server side: ``websocket.application_state`` after it
    detail: str | None = None  #: anything else, deterministic (subprotocol, error text)
    headers: tuple[tuple[str, str], ...] | None = None  #: HTTP headers as sent (on "connect": the request's)
    #: on the client's "closed": who sent the first close frame, "client" or "server"
    #: (:data:`wsbench.kinds.CLOSED_BY`); None when no close frame went either way (the connection dropped)
    by: str | None = None

    @property
    def size(self) -> int:
        """Payload size in bytes (text counted as UTF-8)."""
        if isinstance(self.data, str):
            return len(self.data.encode("utf-8"))
        return len(self.data) if self.data is not None else 0

    def text(self, *, unmasked: bool = False) -> str:
        """One deterministic line: no time, port or id; secrets masked unless *unmasked*."""
        body = _render_body(self if unmasked else self.masked())
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
    if event.side == "client" and event.kind == "open":
        return mask_subprotocol(detail)
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
    """Create one :class:`Event` and append it to each transcript, atomically in order."""
    with _record_lock:
        event = Event(seq=next(_seq), time=time.time(), **fields)
        for transcript in transcripts:
            transcript._events.append(event)
    return event


class _Relay(list):
    """The event list of a :func:`relay` sink: keeps nothing, copies each event on."""

    def __init__(self, conn: int, targets: tuple[Transcript, ...]) -> None:
        super().__init__()
        self.conn = conn
        self.targets = targets

    def append(self, event: Event) -> None:  # what record() calls, under its lock
        copy = event._replace(conn=self.conn)
        for target in self.targets:
            target._events.append(copy)


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


class Transcript:
    """An append-only, thread-safe list of :class:`Event`, printable deterministically."""

    def __init__(self, events: list[Event] | tuple[Event, ...] = ()) -> None:
        self._events: list[Event] = list(events)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events[:])

    def __getitem__(self, index: int) -> Event:
        return self._events[index]

    @property
    def events(self) -> list[Event]:
        """A snapshot of the events so far."""
        return self._events[:]

    def since(self, index: int) -> list[Event]:
        """Events from position *index* on: lets a viewer fetch only what is new."""
        return self._events[index:]

    def filter(self, *, side: str | None = None, kind: str | None = None) -> Transcript:
        """A new transcript with the events of one side and/or one kind."""
        return Transcript(
            [e for e in self._events if (side is None or e.side == side) and (kind is None or e.kind == kind)]
        )

    def text(self, *, unmasked: bool = False) -> str:
        """All events, one line each, in causal order; connection by connection, numbered
        #1, #2 ... in order of appearance when there are several. Secrets are masked
        unless *unmasked*."""
        groups = by_connection(self._events[:])
        if len(groups) == 1:
            return "\n".join(event.text(unmasked=unmasked) for event in causal_order(groups[0]))
        return "\n".join(
            f"#{number} {event.text(unmasked=unmasked)}"
            for number, events in enumerate(groups, 1)
            for event in causal_order(events)
        )

    __str__ = text

    def __repr__(self) -> str:
        return f"<Transcript: {len(self._events)} events>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the text form
        printer.text(self.text() if not cycle else repr(self))

    # -- data -------------------------------------------------------------

    def records(self, *, unmasked: bool = False) -> list[dict[str, Any]]:
        """Every event as a JSON-ready dict (bytes as base64 under ``"bytes"``), connections numbered.

        Secrets are masked unless *unmasked*. ``"headers"`` ([name, value] pairs) and ``"by"``
        (who closed) are there only for events that carry them.
        """
        order: dict[int, int] = {}
        rows = []
        for event in self._events[:]:
            if not unmasked:
                event = event.masked()
            row = event._asdict()
            headers = row.pop("headers")
            if headers is not None:
                row["headers"] = [[name, value] for name, value in headers]
            by = row.pop("by")
            if by is not None or (
                event.side == "client" and event.kind == "closed" and _by_from_detail(event.detail) is not None
            ):  # null where load() would derive who closed from the detail of an old row
                row["by"] = by
            row["conn"] = order.setdefault(event.conn, len(order) + 1)
            data = row.pop("data")
            row["text"] = data if isinstance(data, str) else None
            row["bytes"] = base64.b64encode(data).decode("ascii") if isinstance(data, bytes) else None
            row["size"] = event.size
            rows.append(row)
        return rows

    def to_jsonl(self, *, unmasked: bool = False) -> str:
        """The transcript as JSON Lines text, one event a line; secrets masked unless *unmasked*."""
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.records(unmasked=unmasked))

    def save(self, path: str | Path, *, unmasked: bool = False) -> Path:
        """Write the transcript to *path* as JSON Lines (secrets masked unless *unmasked*) and return the path."""
        path = Path(path)
        path.write_text(self.to_jsonl(unmasked=unmasked), encoding="utf-8")
        return path

    @classmethod
    def from_jsonl(cls, text: str) -> Transcript:
        """Parse JSON Lines text; an error names the bad line and field (see :meth:`load` for the checks)."""
        # Split on "\n" only: str.splitlines() would also split inside text holding U+2028 and the like.
        return cls([_event_from_json(line, n) for n, line in enumerate(text.split("\n"), 1) if line.strip()])

    @classmethod
    def load(cls, path: str | Path, *, max_bytes: int = MAX_BYTES) -> Transcript:
        """Read a transcript saved with :meth:`save`; a file someone sent is untrusted input.

        Only a regular file (a FIFO, device or directory is refused before it is opened, so
        nothing blocks or reads for ever) of at most *max_bytes* bytes (default 100 MiB),
        read line by line and never past that limit, whatever its size claims. Each line is
        checked as :meth:`from_jsonl` does: JSON nested at most :data:`MAX_DEPTH` deep, strict
        field types (integers that are not booleans, finite times, Unicode text without lone
        surrogates). Anything else is an InvalidTranscript naming the file, line and field.
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive number of bytes, not {max_bytes!r}")
        with _open_regular(path, max_bytes) as file:
            events = []
            total = 0
            for number in itertools.count(1):
                line = file.readline(max_bytes - total + 1)  # never more than the limit allows, plus one
                if not line:
                    break
                total += len(line)
                if total > max_bytes:
                    raise InvalidTranscript(
                        f"{path}: longer than max_bytes={max_bytes} (at line {number}); "
                        "pass a larger max_bytes= to load it if you trust the file"
                    )
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidTranscript(
                        f"{path}: not a UTF-8 text file, so not a JSON Lines transcript (line {number})"
                    ) from None
                if text.strip():
                    events.append(_event_from_json(text, number))
        return cls(events)

    # -- replay and tests (in their own modules: this one stays pure) ----------------
    # The lazy delegators: replay() and to_pytest() are the only methods that reach up a layer,
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
        answers: see :func:`wsbench.replay.replay`."""
        from .replay import replay

        return replay(self, target, ignore=ignore, timeout=timeout, conn=conn, **connect_options)

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
        see :func:`wsbench.codegen.write_pytest`."""
        from .codegen import write_pytest

        return write_pytest(
            self, path, url=url, app=app, ignore=ignore, name=name, conn=conn, timeout=timeout, unmasked=unmasked
        )


_INTS = ("seq", "conn")  # integers, never booleans
_STRINGS = ("side", "kind", "text", "client_state", "application_state", "detail")


@contextmanager
def _open_regular(path: str | Path, limit: int) -> Iterator[BinaryIO]:
    """*path* opened for reading in binary, only if it is a regular file no larger than *limit*."""
    _check_regular(path, os.stat(path), limit)  # before opening: opening a FIFO would block
    # O_NONBLOCK: should the path be swapped for a FIFO after the check, opening still returns at once
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        _check_regular(path, os.fstat(fd), limit)  # the file actually opened
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        yield file


def _check_regular(path: str | Path, info: os.stat_result, limit: int) -> None:
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        what = (
            "a directory"
            if stat.S_ISDIR(mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a file"
        )
        raise InvalidTranscript(f"{path}: not a regular file ({what}), so not a saved transcript")
    if info.st_size > limit:
        raise InvalidTranscript(
            f"{path}: {info.st_size} bytes, over max_bytes={limit}; pass a larger max_bytes= to load it if you "
            "trust the file"
        )


def _event_from_json(line: str, number: int) -> Event:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidTranscript(f"line {number}: not JSON ({exc.msg} at column {exc.colno}): {line[:40]!r}") from None
    except RecursionError:
        raise InvalidTranscript(
            f"line {number}: JSON nested too deep to read (a row nests {MAX_DEPTH} levels at most)"
        ) from None
    except ValueError as exc:  # an integer too long to convert
        raise InvalidTranscript(f"line {number}: not a JSON Lines transcript row ({exc})") from None
    if not isinstance(row, dict):
        raise InvalidTranscript(f"line {number}: expected a JSON object, got {type(row).__name__}")

    def bad(name: str, what: str) -> InvalidTranscript:
        return InvalidTranscript(f"line {number}: field {name!r} {what}")

    for name in ("seq", "time", "side", "kind", "conn"):
        if row.get(name) is None:
            what = "a number" if name == "time" else "a string" if name in _STRINGS else "an integer"
            raise bad(name, f"is missing or not {what}")
    for name in _INTS:
        if type(row[name]) is not int:
            raise bad(name, "is missing or not an integer")
    time_ = row["time"]
    if isinstance(time_, bool) or not isinstance(time_, (int, float)) or not math.isfinite(time_):
        raise bad("time", f"is missing or not a number (finite seconds), not {time_!r}")
    for name in _STRINGS:
        value = row.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise bad(name, "is missing or not a string" if name in ("side", "kind") else "is not a string")
            _check_text(value, bad, name)
    if row["side"] not in SIDES:
        raise InvalidTranscript(f"line {number}: side must be 'client', 'server' or 'proxy', not {row['side']!r}")
    reason = row.get("reason")
    if reason is not None:
        if not isinstance(reason, (str, list)):
            raise bad("reason", "is not a string (or a list, as FastAPI sends)")
        _check_json(reason, bad, "reason")
    code = row.get("code")
    if code is not None and (type(code) is not int or not 0 <= code <= 65535):
        raise bad("code", f"is not an integer from 0 to 65535 (a close code or HTTP status), not {code!r}")
    headers = row.get("headers")
    if headers is not None:
        if not isinstance(headers, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
            for pair in headers
        ):
            raise bad("headers", "is not a list of [name, value] string pairs")
        for pair in headers:
            for part in pair:
                _check_text(part, bad, "headers")
        headers = tuple((name, value) for name, value in headers)
    data: Payload = row.get("text")
    if row.get("bytes") is not None:
        if data is not None:
            raise InvalidTranscript(
                f"line {number}: both 'text' and 'bytes' hold a payload; a message is one or the other"
            )
        if not isinstance(row["bytes"], str):
            raise bad("bytes", "is not base64 text")
        try:
            data = base64.b64decode(row["bytes"], validate=True)
        except (ValueError, TypeError):
            raise bad("bytes", "is not base64") from None
    if "by" in row:
        by = row["by"]
        if by is not None and (not isinstance(by, str) or by not in CLOSED_BY):
            raise bad("by", f"must be 'client', 'server' or null, not {by!r}")
    elif row["side"] == "client" and row["kind"] == "closed":
        # Saved before "closed" recorded who closed: derive it once, here, from websockets' account
        # of the closing handshake ("sent 1000 (OK); then received ..."), so old transcripts keep
        # working and nothing else reads that text.
        by = _by_from_detail(row.get("detail"))
    else:
        by = None
    known = {"code", "reason", "client_state", "application_state", "detail"}
    return Event(
        seq=row["seq"],
        time=float(time_),
        side=row["side"],
        kind=row["kind"],
        conn=row["conn"],
        data=data,
        headers=headers,
        by=by,
        **{k: row.get(k) for k in known},
    )


def _by_from_detail(detail: str | None) -> str | None:
    """Who closed, as websockets' account of the close (an old "closed" row's detail) tells it."""
    detail = detail or ""
    return "client" if detail.startswith("sent") else "server" if detail.startswith("received") else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(value: str, bad: Any, name: str) -> None:
    """Refuse a lone surrogate: JSON's "\\ud800" escape reads as one, but it is not Unicode text,
    and save() could not write it back as UTF-8."""
    found = _SURROGATE.search(value)
    if found:
        raise bad(
            name,
            f"holds a lone surrogate ({found.group()!r} at index {found.start()}), which is not Unicode text "
            "and could not be saved again",
        )


def _check_json(value: Any, bad: Any, name: str) -> None:
    """Walk a JSON value (without recursion): no deeper than MAX_DEPTH, text without lone surrogates."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise bad(name, f"is nested too deep (more than {MAX_DEPTH} levels)")
        if isinstance(item, str):
            _check_text(item, bad, name)
        elif isinstance(item, float) and not math.isfinite(item):
            raise bad(name, "holds a number that is not finite")
        elif isinstance(item, list):
            stack.extend((part, depth + 1) for part in item)
        elif isinstance(item, dict):
            stack.extend((part, depth + 1) for pair in item.items() for part in pair)


# -- causal order -------------------------------------------------------------

# A client's events come from two places: the calls a cell makes (connect, send, close ...)
# and the reader that takes what arrives (READER_KINDS: receive, closed). The server's events
# of one connection come from its endpoint. A proxy between them (side "proxy") is a fourth
# chain. Each keeps its own order; what causes what is wsbench.kinds.CAUSES.
_CHAINS = ("server", "reader", "caller", "proxy")  # when several could come next, the first wins
# A proxy's SETTINGS (set or lift a fault, or the faults in force before it forwards a
# connection's first byte) take their place among the caller's events by recording order,
# which the caller's own thread (or the proxy's forwarding) fixes.


def _chain_of(side: str, kind: str) -> str:
    if side != "client":
        return side
    return "reader" if kind in READER_KINDS else "caller"


def _chain(event: Event) -> str:
    return _chain_of(event.side, event.kind)


# (cause kind, chain) -> (effect kind, chain): the k-th cause precedes the k-th effect.
_CAUSES = tuple(
    ((cause, _chain_of(cause_side, cause)), (effect, _chain_of(effect_side, effect)))
    for (cause_side, cause), (effect_side, effect) in CAUSES
)


def causal_order(events: list[Event]) -> list[Event]:
    """One connection's events in a deterministic order that respects cause and effect.

    Without the server's side (a connection to a URL), the client's recorded order is kept:
    it is what the client saw, and nothing else can tell which answer followed which send.
    """
    chains: dict[str, list[Event]] = {name: [] for name in _CHAINS}
    for event in events:
        chains[_chain(event)].append(event)
    if not chains["server"]:
        return sorted(events, key=lambda event: event.seq)
    needs: dict[int, list[int]] = {}
    for (cause_kind, cause_chain), (effect_kind, effect_chain) in _CAUSES:
        causes = [e for e in chains[cause_chain] if e.kind == cause_kind]
        effects = [e for e in chains[effect_chain] if e.kind == effect_kind]
        if effect_kind in ("closed", "receive") and cause_kind in ("open", "close"):
            causes = causes[:1] * len(effects)  # one open / close precedes every such effect
        for cause, effect in zip(causes, effects, strict=False):
            needs.setdefault(id(effect), []).append(id(cause))
    connects = [e for e in chains["caller"] if e.kind == "connect"]
    if connects and chains["server"]:  # nothing happens on the server before the client connects
        needs.setdefault(id(chains["server"][0]), []).append(id(connects[0]))
    if chains["proxy"]:
        _proxy_needs(chains, needs, connects[0] if connects else None)
    done: set[int] = set()
    position = dict.fromkeys(_CHAINS, 0)
    ordered: list[Event] = []
    while len(ordered) < len(events):
        heads = [(name, chains[name][position[name]]) for name in _CHAINS if position[name] < len(chains[name])]
        ready = [(name, e) for name, e in heads if all(cause in done for cause in needs.get(id(e), ()))]
        name, event = ready[0] if ready else min(heads, key=lambda head: head[1].seq)  # min: never for real data
        position[name] += 1
        done.add(id(event))
        ordered.append(event)
    return ordered


def _proxy_needs(chains: dict[str, list[Event]], needs: dict[int, list[int]], connect: Event | None) -> None:
    """Where a proxy's events go: after the client's connect (the proxy learns of a connection
    from its request); those recorded before the server's first event, before it (the proxy
    records them before forwarding a byte); settings among the caller's events by recording
    order. Everything else of the proxy's comes as late as its causes allow (last chain)."""
    proxy = chains["proxy"]
    if connect is not None:
        needs.setdefault(id(proxy[0]), []).append(id(connect))
    if chains["server"]:
        first = chains["server"][0]
        before = [e for e in proxy if e.seq < first.seq]
        if before:
            needs.setdefault(id(first), []).append(id(before[-1]))
    settings = [e for e in proxy if e.kind in SETTINGS]
    caller = chains["caller"]
    for setting in settings:
        earlier = [e for e in caller if e.seq < setting.seq]
        if earlier:
            needs.setdefault(id(setting), []).append(id(earlier[-1]))
    for event in caller:
        earlier = [s for s in settings if s.seq < event.seq]
        if earlier:
            needs.setdefault(id(event), []).append(id(earlier[-1]))


# -- a proxy's faults and who noticed them --------------------------------------------
# DISRUPTIONS and NOTICES are declared in wsbench.kinds and re-exported here.


def noticed(events: list[Event]) -> list[tuple[Event, Event, float]]:
    """(disruption, notice, seconds) for one connection's *events*: for each side, the first
    event by which it noticed (:data:`NOTICES`) after each proxy disruption
    (:data:`DISRUPTIONS`), and the seconds between the two as recorded. A "heal" or
    "clear" ends a disruption; notices with none before them are left out.

    Times are wall-clock and differ on every run: they belong in records and pictures,
    never in the text form.
    """
    found: list[tuple[Event, Event, float]] = []
    current: Event | None = None
    sides: set[str] = set()
    for event in sorted(events, key=lambda e: e.seq):
        if event.side == "proxy":
            if event.kind in DISRUPTIONS:
                current, sides = event, set()
            elif event.kind in HEALS:
                current = None
        elif current is not None and (event.side, event.kind) in NOTICES and event.side not in sides:
            sides.add(event.side)
            found.append((current, event, event.time - current.time))
    return found


# -- rendering -------------------------------------------------------------


def _preview(data: Payload) -> str:
    if data is None:
        return ""
    shown = repr(data[:_PREVIEW])
    more = "…" if len(data) > _PREVIEW else ""
    if isinstance(data, bytes):
        return f"bytes {shown}{more} ({len(data)} bytes)"
    return f"text {shown}{more}"


def _close(event: Event) -> str:
    return describe(event.code, event.reason or "")


_CLIENT = {
    "send": lambda e: f"→ {_preview(e.data)}",
    "receive": lambda e: f"← {_preview(e.data)}",
    "ping": lambda e: "→ ping",
    "pong": lambda e: "← pong",
    "close": lambda e: f"→ close {_close(e)}",
    "closed": lambda e: f"closed: {e.detail}",
    "connect": lambda e: f"connect {_path(e.data)}",
    "open": lambda e: "open" + (f" (subprotocol {e.detail!r})" if e.detail else ""),
    "rejected": lambda e: f"rejected: HTTP {e.code} {_no_ports(_preview(e.data)) if e.data else '(empty body)'}",
    "error": lambda e: f"error: {e.detail}",
    "reconnect": lambda e: f"reconnect: {e.detail}",
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


def _render_body(event: Event) -> str:
    if event.side == "proxy":
        return f"{event.kind}: {event.detail}" if event.detail else event.kind
    if event.side == "client":
        render = _CLIENT.get(event.kind)
        return render(event) if render else event.kind
    if not event.kind.startswith("websocket."):
        return f"! {event.detail}"
    parts = ["→" if event.kind in APP_SENDS else "←", event.kind]
    if event.data is not None:
        parts.append(_preview(event.data))
    if event.kind in ("websocket.close", "websocket.disconnect"):
        parts.append(_close(event))
    elif event.code is not None:
        parts.append(str(event.code))
    if event.detail:
        parts.append(event.detail)
    return " ".join(parts)
