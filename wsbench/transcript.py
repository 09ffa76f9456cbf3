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
  JSON Lines), the values kept as recorded: the token-like query parameters of a
  "connect" URL, and credential headers (:mod:`wsbench.secrets` says which). Each of
  those calls takes ``unmasked=True`` to show the real values.

Pure logic: no I/O beyond reading and writing JSON Lines files.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .codes import describe
from .errors import InvalidTranscript
from .kinds import APP_SENDS, CAUSES, CLOSED_BY, DISRUPTIONS, HEALS, NOTICES, READER_KINDS, SETTINGS, SIDES
from .secrets import mask_headers, mask_url

if TYPE_CHECKING:  # for the signatures of the lazy delegators only: this module imports no client or server
    from .replay import ReplayResult

__all__ = [
    "DISRUPTIONS",  # re-exported from wsbench.kinds, where every event kind is declared
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
        """This event as wsbench shows it: the secrets of a "connect" URL and of the headers
        replaced by ``***`` (:mod:`wsbench.secrets`); the event itself when it has none."""
        if self.kind != "connect" and not self.headers:  # every message: nothing to mask
            return self
        data, headers = self.data, self.headers
        if self.kind == "connect" and isinstance(data, str):
            data = mask_url(data)
        if headers:
            headers = tuple(mask_headers(headers))
        if data == self.data and headers == self.headers:
            return self
        return self._replace(data=data, headers=headers)

    def __repr__(self) -> str:  # the named tuple's form, secrets masked
        shown = self.masked()
        return f"Event({', '.join(f'{name}={getattr(shown, name)!r}' for name in self._fields)})"


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


class _Relay(list):  # type: ignore[type-arg]
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
            if by is not None:
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
        """Parse JSON Lines text; an error names the bad line and field."""
        # Split on "\n" only: str.splitlines() would also split inside text holding U+2028 and the like.
        return cls([_event_from_json(line, n) for n, line in enumerate(text.split("\n"), 1) if line.strip()])

    @classmethod
    def load(cls, path: str | Path) -> Transcript:
        """Read a transcript saved with :meth:`save`."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InvalidTranscript(f"{path}: not a UTF-8 text file, so not a JSON Lines transcript") from None
        return cls.from_jsonl(text)

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


_FIELDS: dict[str, type | tuple[type, ...]] = {"seq": int, "time": (int, float), "side": str, "kind": str, "conn": int}


def _event_from_json(line: str, number: int) -> Event:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidTranscript(f"line {number}: not JSON ({exc.msg} at column {exc.colno}): {line[:40]!r}") from None
    if not isinstance(row, dict):
        raise InvalidTranscript(f"line {number}: expected a JSON object, got {type(row).__name__}")
    for name, kind in _FIELDS.items():
        if not isinstance(row.get(name), kind):
            raise InvalidTranscript(f"line {number}: field {name!r} is missing or not {_kind_name(kind)}")
    if row["side"] not in SIDES:
        raise InvalidTranscript(f"line {number}: side must be 'client', 'server' or 'proxy', not {row['side']!r}")
    if row.get("reason") is not None and not isinstance(row["reason"], (str, list)):
        raise InvalidTranscript(f"line {number}: field 'reason' is not a string (or a list, as FastAPI sends)")
    for name in ("text", "client_state", "application_state", "detail"):
        if row.get(name) is not None and not isinstance(row[name], str):
            raise InvalidTranscript(f"line {number}: field {name!r} is not a string")
    if row.get("code") is not None and (type(row["code"]) is not int):
        raise InvalidTranscript(f"line {number}: field 'code' is not an integer")
    headers = row.get("headers")
    if headers is not None:
        if not isinstance(headers, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
            for pair in headers
        ):
            raise InvalidTranscript(f"line {number}: field 'headers' is not a list of [name, value] string pairs")
        headers = tuple((name, value) for name, value in headers)
    data: Payload = row.get("text")
    if row.get("bytes") is not None:
        try:
            data = base64.b64decode(row["bytes"], validate=True)
        except (ValueError, TypeError):
            raise InvalidTranscript(f"line {number}: field 'bytes' is not base64") from None
    if "by" in row:
        by = row["by"]
        if by is not None and by not in CLOSED_BY:
            raise InvalidTranscript(f"line {number}: field 'by' must be 'client', 'server' or null, not {by!r}")
    elif row["side"] == "client" and row["kind"] == "closed":
        # Saved before "closed" recorded who closed: derive it once, here, from websockets' account
        # of the closing handshake ("sent 1000 (OK); then received ..."), so old transcripts keep
        # working and nothing else reads that text.
        detail = row.get("detail") or ""
        by = "client" if detail.startswith("sent") else "server" if detail.startswith("received") else None
    else:
        by = None
    known = {"code", "reason", "client_state", "application_state", "detail"}
    return Event(
        seq=row["seq"],
        time=float(row["time"]),
        side=row["side"],
        kind=row["kind"],
        conn=row["conn"],
        data=data,
        headers=headers,
        by=by,
        **{k: row.get(k) for k in known},
    )


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


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return "a number" if isinstance(kind, tuple) else {int: "an integer", str: "a string"}[kind]


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
