"""Replay a conversation of several clients: each recorded client opens, sends, receives and
closes again, in the conversation's recorded causal order (:func:`~wsbench.transcript.conversation_order`),
so bob sends only after ann's broadcast reached him; what each client receives is compared with
what it received then, and each difference names the client.

One connection at a time is :func:`wsbench.replay.replay` (with its JSON-path ignores, URL
targets and secret handling); this is its many-clients companion, for a Bench or an ASGI app.
Every wait is bounded by *timeout*; a missing message costs one *timeout*, and the replay goes on.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .asserts import STEP_FIELDS
from .client import Connection
from .errors import ConnectError, ConnectionClosed, Timeout, WsbenchError
from .server import Bench
from .transcript import Event, Transcript, conversation_order, labels

__all__ = ["ClientDifference", "ConversationReplay", "client_steps", "replay_conversation", "run_steps", "write_pytest"]

_names = itertools.count(1)


@dataclass(frozen=True)
class ClientDifference:
    """One way a client's replay differs from the recording."""

    client: str  #: the client's name (or #n)
    what: str  #: "missing message", "message changed", "close changed", "handshake failed"
    expected: str | None  #: the recorded line
    got: str | None  #: what the replay saw instead (None: nothing)

    def __str__(self) -> str:
        got = f", got {self.got}" if self.got is not None else ""
        return f"{self.client}: {self.what}: expected {self.expected}{got}"


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
    connection's name, or #n): what :func:`run_steps` does again, one after the other."""
    events = [e for e in transcript if e.side in ("client", "server")]
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
    opened: dict[int, Connection | None] = {}
    with _serving(target) as bench:
        try:
            for event in steps:
                _step(bench, event, names[event.conn], opened, timeout, differences)
        finally:
            for conn in opened.values():
                if conn is not None:
                    try:
                        conn.close()
                    except WsbenchError:
                        pass
        clients = [names[conn] for conn in opened]
        replayed = [conn for conn in opened.values() if conn is not None]
        own = bench.transcript.select(*replayed) if replayed else Transcript()
        return ConversationReplay(clients, len(steps), differences, own)


def _step(
    bench: Bench,
    event: Event,
    name: str,
    opened: dict[int, Connection | None],
    timeout: float,
    differences: list[ClientDifference],
) -> None:
    """Do one recorded client event again (or compare what it saw)."""
    shown = event.text().split("  ", 1)[-1].strip()
    if event.kind == "connect":
        path = _path(event.data)
        try:
            given = None if name.startswith("#") else name  # an unnamed connection: the bench names it
            opened[event.conn] = bench.connect(
                path, name=given, timeout=timeout, open_timeout=timeout, close_timeout=timeout
            )
        except (ConnectError, Timeout) as exc:
            opened[event.conn] = None
            differences.append(ClientDifference(name, "handshake failed", shown, f"{type(exc).__name__}: {exc}"))
        return
    conn = opened.get(event.conn)
    if conn is None:
        return
    try:
        if event.kind == "send":
            if isinstance(event.data, bytes):
                conn.send_bytes(event.data)
            else:
                conn.send_text(event.data or "")
        elif event.kind == "receive":
            got = conn.receive(timeout=timeout)
            if got != event.data:
                differences.append(ClientDifference(name, "message changed", shown, f"← {got!r}"))
        elif event.kind == "close":
            conn.close(event.code or 1000, event.reason or "")
        elif event.kind == "closed" and event.code is not None:
            code = conn.wait_closed(timeout)
            if code != event.code:
                differences.append(ClientDifference(name, "close changed", f"closed {event.code}", f"closed {code}"))
    except Timeout:
        differences.append(ClientDifference(name, "missing message", shown, None))
    except ConnectionClosed as exc:
        differences.append(ClientDifference(name, "closed early", shown, f"closed {exc.code}"))
        opened[event.conn] = None


def _path(url: Any) -> str:
    """The path and query of a recorded URL."""
    rest = str(url or "/").split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


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


_DONE = frozenset({"connect", "send", "receive", "close", "closed"})  # what run_steps does or compares
