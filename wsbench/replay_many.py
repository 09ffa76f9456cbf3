"""Replay a conversation of several clients: each recorded client opens, sends, receives and
closes again, in the conversation's recorded causal order (:func:`~wsbench.transcript.conversation_order`),
so bob sends only after ann's broadcast reached him (a receive waits for the recorded message,
not merely the next one). Then what each client received, every message as it arrived (those no
step took too), is compared with what it received then, as one sequence: each difference (a
missing, extra, changed or out-of-order message, a close) names the client.

One connection at a time is :func:`wsbench.replay.replay` (with its JSON-path ignores, URL
targets and secret handling); this is its many-clients companion, for a Bench or an ASGI app.
Every wait is bounded by *timeout*: a missing message costs one *timeout*, an app whose messages
all changed one per client, and the replay goes on.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .asserts import STEP_FIELDS
from .client import Connection
from .client.messages import Message
from .conversation import MORE, as_clients, path_of
from .errors import ConnectError, ConnectionClosed, HandshakeRejected, Timeout, WsbenchError
from .server import Bench
from .transcript import Event, Transcript, conversation_order, labels

__all__ = ["ClientDifference", "ConversationReplay", "client_steps", "replay_conversation", "run_steps", "write_pytest"]

_names = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class ClientDifference:
    """One way a client's replay differs from the recording."""

    client: str  #: the client's name (or #n)
    #: "missing message", "extra message", "message changed", "message out of order", "more messages" (past
    #: what a replay compares), "close changed", "closed early", "send not taken", "handshake changed" or
    #: "handshake failed"
    what: str
    expected: str | None  #: the recorded line (None: an extra message)
    got: str | None  #: what the replay saw instead (None: nothing)

    def __str__(self) -> str:
        said = [f"expected {self.expected}"] if self.expected is not None else []
        said += [f"got {self.got}"] if self.got is not None else []
        return f"{self.client}: {self.what}: {', '.join(said)}"


class ConversationReplay:
    """What :func:`replay_conversation` found: ``ok``, the differences by client, the replay's transcript."""

    def __init__(self, clients: list[str], steps: int, differences: list[ClientDifference], transcript: Transcript):
        self.clients = clients  #: the clients replayed, in order of opening
        self.steps = steps  #: how many recorded client events were replayed
        self.differences = differences  #: in the order they were found
        self.transcript = transcript  #: the replay's own transcript (every client, both sides)

    @property
    def ok(self) -> bool:
        """True when every client received what it received in the recording."""
        return not self.differences

    def __bool__(self) -> bool:
        return self.ok

    def text(self) -> str:
        who = f"{len(self.clients)} client{'s' if len(self.clients) != 1 else ''} ({', '.join(self.clients)})"
        if self.ok:
            return f"replay of {who}: same answers ({self.steps} client events)"
        count = len(self.differences)
        return "\n".join(
            [f"replay of {who}: {count} difference{'s' if count != 1 else ''}", *map(str, self.differences)]
        )

    __str__ = text

    def __repr__(self) -> str:
        return f"<ConversationReplay {len(self.clients)} clients: {'ok' if self.ok else 'differences'}>"


def replay_conversation(transcript: Transcript, target: Any, *, timeout: float = 2.0) -> ConversationReplay:
    """Replay every client of *transcript* against *target* (a running Bench, or an ASGI app
    served on a temporary one) in the recorded causal order, and compare what each received.

    Each client connects again under its recorded name and path; a receive waits at most
    *timeout* seconds (a message that never comes is a "missing message", and the replay goes
    on); a recorded "closed" compares the close code. Raises TypeError for a target that is neither.
    """
    return run_steps(client_steps(transcript), target, timeout=timeout)


def client_steps(transcript: Transcript) -> list[Event]:
    """The client events of *transcript* in the conversation's causal order, each named (its
    connection's name, or #n): what :func:`run_steps` does again, one after the other. A browser
    page's WebSocket is replayed as the Python client doing what it did (:func:`~wsbench.conversation.as_clients`),
    its actions among the other clients' in the order the bench recorded them, as a cell's
    commands to the page came; each connects to a path (a written test names no port)."""
    events = [
        e._replace(data=path_of(e.data)) if e.side == "client" and e.kind == "connect" else e
        for e in as_clients(transcript)
        if e.side in ("client", "server")
    ]
    names = {conn: label.strip() for conn, label in labels(events).items()}
    return [e._replace(name=names[e.conn]) for e in conversation_order(events) if e.side == "client"]


def run_steps(steps: list[Event], target: Any, *, timeout: float = 2.0) -> ConversationReplay:
    """Do *steps* (:func:`client_steps`) again against *target*, in their order, and compare
    what each client receives (what :func:`replay_conversation` and a written test run)."""
    if not isinstance(target, Bench) and not callable(target):
        raise TypeError(f"replay_conversation needs a wsbench.Bench or an ASGI app, not {type(target).__name__}")
    names: dict[int, str] = {}
    for event in steps:
        names.setdefault(event.conn, event.name or f"#{len(names) + 1}")
    differences: list[ClientDifference] = []
    clients: dict[int, _Client] = {}
    refused = {e.conn: e for e in steps if e.kind == "rejected"}  # the handshakes the app refused then
    with _serving(target) as bench:
        try:
            for event in steps:
                _step(bench, event, names[event.conn], clients, timeout, differences, refused.get(event.conn))
        finally:
            # Those the recording left open are closed first: all the server sent before it read the
            # close has come by then, as the one-connection replay does after its last step.
            for client in clients.values():
                if client.conn is not None:
                    try:
                        client.conn.close()
                    except WsbenchError:
                        pass
        recorded: dict[int, list[Event]] = {key: [] for key in clients}
        for event in steps:
            if event.kind == "receive" and event.conn in recorded:
                recorded[event.conn].append(event)
        for key, client in clients.items():
            if client.conn is not None:  # what it received: as many as recorded and MORE beyond, counting the rest
                first, more = client.arrivals(len(recorded[key]) + MORE)
                differences += _compare(names[key], recorded[key], first)
                if more:
                    differences.append(
                        ClientDifference(names[key], "more messages", None, f"{more} more, not compared")
                    )
        replayed = [client.conn for client in clients.values() if client.conn is not None]
        own = bench.transcript.select(*replayed) if replayed else Transcript()
        order = {name: n for n, name in enumerate(names[key] for key in clients)}
        differences.sort(key=lambda d: order[d.client])  # stable: each client's in the order found
        return ConversationReplay([names[key] for key in clients], len(steps), differences, own)


class _Client:
    """One replayed client: its connection, the messages it took that no step has matched yet,
    whether a receive waited in vain since the conversation last moved on, and whether its answers
    differ already (it got another message and the recorded one never came)."""

    def __init__(self, conn: Connection | None) -> None:
        self.conn = conn
        self.unmatched: list[Message] = []
        self.waited_out = False
        self.differs = False
        self.closed_early = False

    def arrivals(self, most: int) -> tuple[list[Event], int]:
        """The first *most* messages this client received so far, as its transcript recorded them on
        arrival (those no step took too), and how many more it received."""
        if self.conn is None:
            return [], 0
        received = (e for e in self.conn.transcript if e.side == "client" and e.kind == "receive")
        first = list(itertools.islice(received, most))
        return first, sum(1 for _ in received)

    def receive(self, expected: Message, timeout: float) -> None:
        """Wait (at most *timeout*) until the recorded message came, so that what the conversation
        does next happens after it, as it did; messages that come instead stay unmatched (extra, or
        changed: the comparison at the end says which). Once a client's answers differ, a step takes
        what came without waiting for the recorded message: an app that changed every message costs
        one *timeout* per client, not one per message."""
        if expected in self.unmatched:  # it came already, after one that was not recorded
            self.unmatched.remove(expected)
            return
        assert self.conn is not None
        deadline = time.monotonic() + (0 if self.waited_out else timeout)
        other = False
        for _ in range(MORE + 1):  # a server that never stops sending gives up the step after MORE others
            try:
                got = self.conn.receive(timeout=max(deadline - time.monotonic(), 0))
            except Timeout:
                self.waited_out = True  # no more waiting until someone acts again
                self.differs = self.differs or other
                return
            if got == expected:
                return
            self.unmatched.append(got)
            other = True
            if self.differs:
                return
        self.differs = True


def _step(
    bench: Bench,
    event: Event,
    name: str,
    clients: dict[int, _Client],
    timeout: float,
    differences: list[ClientDifference],
    refused: Event | None,
) -> None:
    """Do one recorded client event again (a receive waits for its message: see :class:`_Client`);
    *refused* is the recorded refusal of this client's handshake, if the app refused it then."""
    shown = _shown(event)
    if event.kind == "connect":
        path = path_of(event.data)
        recorded = _shown(refused) if refused is not None else "open"
        try:
            given = None if name.startswith("#") else name  # an unnamed connection: the bench names it
            conn = bench.connect(path, name=given, timeout=timeout, open_timeout=timeout, close_timeout=timeout)
        except HandshakeRejected as exc:
            clients[event.conn] = _Client(None)
            again = event._replace(kind="rejected", data=exc.body, code=exc.status)
            if refused is None or (refused.code, refused.data or b"") != (exc.status, exc.body):
                differences.append(ClientDifference(name, "handshake changed", recorded, _shown(again)))
            return
        except (ConnectError, Timeout) as exc:
            clients[event.conn] = _Client(None)
            differences.append(ClientDifference(name, "handshake failed", shown, f"{type(exc).__name__}: {exc}"))
            return
        clients[event.conn] = _Client(conn)
        if refused is not None:
            differences.append(ClientDifference(name, "handshake changed", recorded, "open"))
        return
    client = clients.get(event.conn)
    if client is None or client.conn is None or client.closed_early:
        return
    conn = client.conn
    if event.kind in ("send", "close"):  # the conversation moves on: a message may come again
        for other in clients.values():
            other.waited_out = False
    try:
        if event.kind == "send":
            if isinstance(event.data, bytes):
                conn.send_bytes(event.data)
            else:
                conn.send_text(event.data or "")
        elif event.kind == "receive" and event.data is not None:
            client.receive(event.data, timeout)
        elif event.kind == "close":
            conn.close(event.code or 1000, event.reason or "")
        elif event.kind == "closed" and event.code is not None:
            try:
                seen = f"closed {conn.wait_closed(timeout)}"
            except Timeout:
                seen = "still open"
            if seen != f"closed {event.code}":
                differences.append(ClientDifference(name, "close changed", f"closed {event.code}", seen))
    except Timeout:  # a send the server did not read in time: the connection was aborted
        differences.append(ClientDifference(name, "send not taken", shown, f"not read within {timeout} s"))
        client.closed_early = True
    except ConnectionClosed as exc:
        differences.append(ClientDifference(name, "closed early", shown, f"closed {exc.code}"))
        client.closed_early = True  # nothing more is done on it; what it received is compared at the end


def _shown(event: Event) -> str:
    """An event as a difference shows it: its line without the name (``← text 'hi'``)."""
    return event.text().split("  ", 1)[-1].strip()


def _compare(name: str, recorded: list[Event], got: list[Event]) -> list[ClientDifference]:
    """What *name* received in the replay against the recording, as one sequence (difflib): an
    extra message shifts nothing after it; within a changed stretch, messages pair up in order
    as changed and the rest are missing or extra; one missing here and extra there came out of order."""
    a, b = list(map(_message_key, recorded)), list(map(_message_key, got))
    found: list[tuple[ClientDifference, tuple[bool, Any] | None]] = []  # with a missing or extra message's key
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)
        for e, g in zip(recorded[i1 : i1 + paired], got[j1 : j1 + paired], strict=True):
            found.append((ClientDifference(name, "message changed", _shown(e), _shown(g)), None))
        found += [
            (ClientDifference(name, "missing message", _shown(recorded[i]), None), a[i]) for i in range(i1 + paired, i2)
        ]
        found += [(ClientDifference(name, "extra message", None, _shown(got[j])), b[j]) for j in range(j1 + paired, j2)]
    missing = {key for d, key in found if d.what == "missing message"}
    moved = {key for d, key in found if d.what == "extra message"} & missing
    return [dataclasses.replace(d, what="message out of order") if key in moved else d for d, key in found]


def _message_key(event: Event) -> tuple[bool, Any]:
    return isinstance(event.data, bytes), event.data


@contextmanager
def _serving(target: Any) -> Iterator[Bench]:
    if isinstance(target, Bench):
        yield target
    else:
        with Bench(target, name=f"wsbench.replay-many-{next(_names)}") as bench:
            yield bench


_IMPORT_STRING = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", re.ASCII)  # package.module:app

_TEMPLATE = '''"""Written by wsbench (issue 23): replays a conversation of {count} clients against
{app}, each client doing what it did in the recorded causal order, and fails naming the client
and the message where an answer differs."""

import importlib

import wsbench.asserts

APP = getattr(importlib.import_module({module!r}), {attr!r})

#: {fields} of each client event, in the recorded order
STEPS = {steps}


def test_{function}():
    wsbench.asserts.assert_conversation(STEPS, APP, timeout={timeout!r})
'''


def write_pytest(
    transcript: Transcript, path: str | Path, *, app: str, name: str = "conversation", timeout: float = 5.0
) -> Path:
    """Write one pytest test that opens every client of *transcript* in the recorded order and
    replays the conversation against *app* (an import string, ``package.module:app``): it fails
    naming the client and the message where an answer differs. The recorded messages are data
    in the file (each a ``repr``), never code; secrets stay masked as recorded. Raises ValueError for a bad
    *app*, *name* or *timeout*."""
    if not isinstance(app, str) or not _IMPORT_STRING.fullmatch(app):
        raise ValueError(f"app={app!r} is not an import string like 'package.module:app'")
    if not re.fullmatch(r"[A-Za-z0-9_]{1,60}", name):
        raise ValueError(f"name={name!r} is not usable in a Python function name (1 to 60 letters, digits and _)")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < 3600:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    steps = [e.masked() for e in client_steps(transcript)]
    numbers: dict[int, int] = {}
    rows = [
        (numbers.setdefault(e.conn, len(numbers) + 1), *(getattr(e, field) for field in STEP_FIELDS[1:]))
        for e in steps
        if e.kind in _DONE
    ]
    names = list(dict.fromkeys(str(row[5]) for row in rows))
    module, attr = app.split(":")
    text = _TEMPLATE.format(
        count=len(names),  # the names themselves are data, in STEPS: never pasted into the source
        app=app,
        module=module,
        attr=attr,
        steps="[\n" + "".join(f"    {row!r},\n" for row in rows) + "]",
        fields=", ".join(STEP_FIELDS),
        function=name,
        timeout=float(timeout),
    )
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


_DONE = frozenset({"connect", "rejected", "send", "receive", "close", "closed"})  # what run_steps does or compares
