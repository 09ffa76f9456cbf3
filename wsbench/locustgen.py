"""Turn a recorded conversation into a Locust file whose users replay its client side under load.

:func:`write_locustfile` (also ``transcript.to_locustfile(path, ...)``) writes one Locust
``User`` class per recorded connection (or per conversation of linked connections), timing
each send to its reply. The file needs locust and websockets, not wsbench, so a worker on
another machine can run it; recorded data reaches it only through safe literals, secrets only
with ``unmasked=True``. Pure logic: it imports neither locust nor gevent (a kernel that
imported them would be monkey-patched). Specification: ``docs/modules/wsbench.locustgen.md``.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .codegen import _INDENT, _assign, _prose
from .conversation import (
    as_clients,
    compile_ignore,
    connection_label,
    connections,
    json_value,
    plan,
    secrets_in,
    select,
)
from .errors import InvalidTranscript, InvalidURL
from .secrets import mask_url
from .transcript import Event, Transcript, conversation_order

__all__ = ["locust_source", "write_locustfile"]

_THINK_CAP = 60.0  # the longest recorded think time replayed, in seconds (before scaling)
_NAME_PREVIEW = 24  # characters of a sent message shown in its step's name
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,59}", re.ASCII)

Match = str | Callable[[Any], Any] | None


def write_locustfile(
    transcript: Transcript,
    path: str | Path,
    *,
    url: str | None = None,
    conn: int | None = None,
    match: Match = None,
    ignore: str | Iterable[str] = (),
    check: bool = True,
    think: float = 1.0,
    pause: float = 0.0,
    timeout: float = 5.0,
    unmasked: bool = False,
) -> Path:
    """Write a locustfile to *path* whose users replay *transcript*'s client side; return the path.

    *url* is the default host (``ws://host:port``; Locust's ``--host`` overrides it). *conn*
    picks one connection (default: each one that opened, one user class each, or one per
    conversation of several linked clients, with fan-out receipt times). *match* says
    which message answers a send: None (the recorded order), a JSON path such as ``"$.id"``,
    or a function ``message -> key`` (a top-level ``def``; its source is copied into the file).
    *ignore* lists JSON paths left out when a reply is compared with the recorded one;
    ``check=False`` compares nothing (any reply, or any with the right key, will do). *think*
    scales the recorded think times (0: none); *pause* is the wait between two conversations of
    one user; *timeout* bounds each wait for a reply, the handshake and the close. Raises ValueError,
    TypeError or InvalidURL for a bad argument, InvalidTranscript for a recording that cannot be replayed.
    """
    path = Path(path)
    source = locust_source(
        transcript,
        url=url,
        conn=conn,
        match=match,
        ignore=ignore,
        check=check,
        think=think,
        pause=pause,
        timeout=timeout,
        unmasked=unmasked,
        filename=path.name,
    )
    path.write_text(source, encoding="utf-8")
    return path


def _seconds(name: str, value: Any, *, zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be {'>= 0' if zero else '> 0'}, not {value!r}")
    return float(value)


def _key_function(match: Match) -> tuple[Callable[[Any], Any] | None, str | None, str | None]:
    """(key of a message, the JSON path to write, the function's source to write) for *match*."""
    if match is None:
        return None, None, None
    if isinstance(match, str):
        [(text, expr)] = compile_ignore([match])  # ValueError naming a path that does not parse

        def by_path(message: Any) -> Any:
            value = json_value(message) if isinstance(message, str) else None
            found = expr.find(value) if value is not None else []
            return json.dumps(found[0].value, sort_keys=True) if found else None

        return by_path, text, None
    if not callable(match):
        raise TypeError(f"match must be None, a JSON path like '$.id' or a function, not {type(match).__name__}")
    name = getattr(match, "__name__", "")
    if not _FUNCTION_NAME.fullmatch(name) or name == "<lambda>":
        raise ValueError(f"match={match!r}: give a function defined with def (its source is copied into the file)")
    try:
        source = textwrap.dedent(inspect.getsource(match))
    except (OSError, TypeError) as exc:
        raise ValueError(f"the source of match={name} cannot be read ({exc}): define it in a file or a cell") from None
    if not source.lstrip().startswith("def "):
        raise ValueError(f"match={name}: give a plain function defined with def, without decorators")
    return match, None, source.rstrip() + "\n"


def _safe_key(key: Callable[[Any], Any], message: Any) -> Any:
    try:
        return key(message)
    except Exception:  # the user's function on recorded data: no key, as in the file's runtime
        return None


def _steps(
    client: list[Event], label: str, key: Callable[[Any], Any] | None, think: float
) -> tuple[list[list[Any]], list[Any]]:
    """The steps of one connection and its end ([kind, code, reason]).

    A step is [name, think, message, replies, answered]: the replies awaited after its send, each
    [owner, expected, last] (the index of the step whose send it answers, the recorded message, and
    whether it is that send's last reply), and whether any reply answers its own send (if not, its
    event fires when it is sent). In the recorded order a step's replies are the messages recorded
    after its send; by key, each message goes where it was recorded, owned by the last send with its key.
    """
    steps: list[list[Any]] = []
    keys: list[Any] = []
    end: list[Any] = ["open", None, ""]
    last = next((e.time for e in client if e.kind == "open"), client[0].time)
    for event in client[1:]:
        if event.kind == "receive":
            last = event.time
            if key is None:  # recorded order: a reply of the last send (or a message before the first send)
                if not steps:
                    steps.append([f"{label} 0: (before the first send)", 0.0, None, [], False])
                    keys.append(None)
                steps[-1][3].append([len(steps) - 1, event.data, False])
                continue
            wanted = _safe_key(key, event.data)
            owner = next((i for i in range(len(keys) - 1, -1, -1) if wanted is not None and keys[i] == wanted), None)
            if owner is not None:  # else a push: read and counted, not awaited
                steps[-1][3].append([owner, event.data, False])
        elif event.kind == "send":
            pause = round(min(max(event.time - last, 0.0), _THINK_CAP) * think, 3)
            number = sum(step[2] is not None for step in steps) + 1
            data = event.data if event.data is not None else ""
            shown = repr(data[:_NAME_PREVIEW]) + ("…" if len(data) > _NAME_PREVIEW else "")
            steps.append([f"{label} {number}: {shown}", pause, event.data, [], False])
            keys.append(_safe_key(key, event.data) if key is not None else None)
            last = event.time
        elif event.kind == "close":
            end = ["close", event.code if isinstance(event.code, int) else 1000, event.reason or ""]
        elif event.kind == "closed":
            if end[0] != "close" and event.by == "server":
                end = ["closed", event.code if isinstance(event.code, int) else None, event.reason or ""]
            break
    seen: set[int] = set()
    for step in reversed(steps):  # mark each send's last reply, and which sends get one
        for reply in reversed(step[3]):
            if reply[0] not in seen:
                seen.add(reply[0])
                reply[2] = True
    for index, step in enumerate(steps):
        step[4] = index in seen
    return steps, end


def _opening(opening: Any) -> dict[str, Any]:
    """How the file opens a recorded connection again: path, headers, connect() options."""
    options: dict[str, Any] = {k: opening.options[k] for k in ("subprotocols", "origin") if k in opening.options}
    if opening.options.get("compression") is False:
        options["compression"] = None
    return {"path": opening.path, "headers": [list(pair) for pair in opening.headers], "options": options}


def _owners(events: list[Event], conns: set[int]) -> dict[int, int]:
    """The seq of each client receive on *conns* -> the seq of the client action (connect, send or
    close) whose arrival at the server made a handler send it.

    As :mod:`wsbench.transcript.fanout` reads a bench's record: a server send's ``cause`` is the
    server receive its handler was handling; the k-th server receive of a message on a connection
    is that client's k-th send (``websocket.connect`` its connect, ``websocket.disconnect`` its
    close); the k-th server send on a connection is the k-th message its client received. A
    recording without the server's side (a URL) has no causes: every connection then stands alone.
    """
    ordered = sorted((e for e in events if e.conn in conns), key=lambda e: e.seq)
    done: dict[tuple[int, str], list[Event]] = {}  # (conn, kind) -> the client's actions, in order
    seen: dict[tuple[int, str], list[Event]] = {}  # (conn, the action's kind) -> the server's receives of them
    sends: dict[int, list[Event]] = {}  # conn -> the server's sends of messages, in order
    receives: dict[int, list[Event]] = {}  # conn -> the client's receives, in order
    for event in ordered:
        if event.side == "client" and event.kind in ("connect", "send", "close"):
            done.setdefault((event.conn, event.kind), []).append(event)
        elif event.side == "client" and event.kind == "receive":
            receives.setdefault(event.conn, []).append(event)
        elif event.side == "server" and event.kind == "websocket.send":
            sends.setdefault(event.conn, []).append(event)
        elif event.side == "server" and event.kind in _SERVER_RECEIVES:
            seen.setdefault((event.conn, _SERVER_RECEIVES[event.kind]), []).append(event)
    # the k-th of a client's actions of a kind is the k-th the server received (a browser page
    # reports its send after the fact, often after the server's receive of it: not by seq)
    actions = {  # the seq of a server receive -> the seq of the client action it was
        receive.seq: action.seq
        for key, received in seen.items()
        for receive, action in zip(received, done.get(key, []), strict=False)
    }
    owners: dict[int, int] = {}
    for conn, sent in sends.items():
        for send, receive in zip(sent, receives.get(conn, []), strict=False):
            if send.cause in actions:
                owners[receive.seq] = actions[send.cause]
    return owners


#: what a client action is called when the server receives it
_SERVER_RECEIVES = {"websocket.connect": "connect", "websocket.receive": "send", "websocket.disconnect": "close"}


def _groups(chosen: list[tuple[int, list[Event]]], owners: dict[int, int]) -> list[list[tuple[int, list[Event]]]]:
    """The chosen connections, joined where one's action made the server send to another (a
    conversation of several clients); in the order of their first connection."""
    conn_of = {e.seq: e.conn for _, client in chosen for e in client}
    parent = {client[0].conn: client[0].conn for _, client in chosen}

    def root(conn: int) -> int:
        while parent[conn] != conn:
            conn = parent[conn]
        return conn

    for _, client in chosen:
        for event in client:
            sender = conn_of.get(owners.get(event.seq, -1))
            if sender is not None and sender != event.conn:
                parent[root(sender)] = root(event.conn)
    joined: dict[int, list[tuple[int, list[Event]]]] = {}
    for number, client in chosen:
        joined.setdefault(root(client[0].conn), []).append((number, client))
    return list(joined.values())


def _group_class(
    members: list[tuple[int, list[Event]]],
    events: list[Event],
    owners: dict[int, int],
    openings: dict[int, Any],
    think: float,
) -> str:
    """The GROUP_<n> constant and user class of a conversation of several clients: the clients,
    and their actions and awaited receipts in the recorded causal order (``RecordedGroup``).

    An action is ``["connect", client, think, name]``, ``["send", client, think, name, message,
    answered]``, ``["close", client, think, name, code, reason]`` or ``["closed", client, name,
    code, reason]`` (the server closes); a receipt is ``["receive", client, message, owner,
    last]``: the index of the action that caused it (None: unknown) and whether it is the last
    reply of its owner's own send.
    """
    first = members[0][0]
    keys = {client[0].conn: index for index, (_, client) in enumerate(members)}
    clients = []
    for number, client in members:
        name = next((e.name.strip() for e in client if e.name and e.name.strip()), "")
        label = name if name and " " not in name else f"#{number} {connection_label(client)}"
        clients.append({"label": label, **_opening(openings[number])})
    ordered = [e for e in conversation_order([e for e in events if e.conn in keys]) if e.side == "client"]
    actions: list[list[Any]] = []
    index_of: dict[int, int] = {}  # the seq of a client action -> its index in actions
    sent = [0] * len(members)
    ended = [False] * len(members)
    closing = [False] * len(members)
    last = ordered[0].time if ordered else 0.0
    for event in ordered:
        c = keys[event.conn]
        label = clients[c]["label"]
        pause = round(min(max(event.time - last, 0.0), _THINK_CAP) * think, 3)
        last = max(last, event.time)
        if ended[c]:
            continue
        if event.kind == "connect":
            index_of[event.seq] = len(actions)
            actions.append(["connect", c, pause, f"connect {label}"])
        elif event.kind == "send":
            sent[c] += 1
            data = event.data if event.data is not None else ""
            shown = repr(data[:_NAME_PREVIEW]) + ("…" if len(data) > _NAME_PREVIEW else "")
            index_of[event.seq] = len(actions)
            actions.append(["send", c, pause, f"{label} {sent[c]}: {shown}", event.data, False])
        elif event.kind == "receive" and not closing[c]:
            actions.append(["receive", c, event.data, index_of.get(owners.get(event.seq, -1)), False])
        elif event.kind == "close":
            closing[c] = True
            index_of[event.seq] = len(actions)
            actions.append(["close", c, pause, f"close {label}", event.code or 1000, event.reason or ""])
        elif event.kind == "closed":
            ended[c] = True
            if not closing[c] and event.by == "server":
                actions.append(["closed", c, f"close {label}", event.code, event.reason or ""])
            elif not closing[c]:  # it ended otherwise: close it
                actions.append(["close", c, 0.0, f"close {label}", 1000, ""])
    for c, label in enumerate(client["label"] for client in clients):
        if not ended[c] and not closing[c]:  # still open when the recording ended: close it
            actions.append(["close", c, 0.0, f"close {label}", 1000, ""])
    seen: set[int] = set()
    for action in reversed(actions):  # mark each send's last reply on its own connection
        if action[0] == "receive" and action[3] is not None:
            owner = actions[action[3]]
            if owner[0] == "send" and owner[1] == action[1] and action[3] not in seen:
                seen.add(action[3])
                action[4] = True
                owner[5] = True
    fanouts = sum(1 for a in actions if a[0] == "receive" and a[3] is not None and actions[a[3]][1] != a[1])
    who = ", ".join(_prose(mask_url(client["label"])) for client in clients)
    summary = f"{len(clients)} clients ({who}), {len(actions)} actions and receipts, {fanouts} fan-out receipts"
    lines = [f"#: Conversation #{first}: {summary}."]
    lines += _assign(f"GROUP_{first}", {"clients": clients, "actions": actions})
    lines += ["", "", f"class Conversation{first}(RecordedGroup):"]
    lines.append(f'{_INDENT}"""Replays the conversation of connections {", ".join(f"#{n}" for n, _ in members)}."""')
    lines += ["", f"{_INDENT}recorded = GROUP_{first}"]
    return "\n".join(lines)


def locust_source(
    transcript: Transcript,
    *,
    url: str | None = None,
    conn: int | None = None,
    match: Match = None,
    ignore: str | Iterable[str] = (),
    check: bool = True,
    think: float = 1.0,
    pause: float = 0.0,
    timeout: float = 5.0,
    unmasked: bool = False,
    filename: str = "locustfile.py",
) -> str:
    """The text :func:`write_locustfile` writes (*filename* is named in its docstring)."""
    if url is not None and (not isinstance(url, str) or not url.startswith(("ws://", "wss://"))):
        raise InvalidURL(f"{mask_url(url)!r} isn't a ws:// or wss:// base URL to write into the locustfile")
    think = _seconds("think", think, zero=True)
    pause = _seconds("pause", pause, zero=True)
    timeout = _seconds("timeout", timeout, zero=False)
    if not isinstance(check, bool):
        raise TypeError(f"check must be True or False, not {check!r}")
    key, match_path, match_source = _key_function(match)
    paths = [path for path, _ in compile_ignore(ignore)]
    if conn is not None:
        chosen = [select(transcript, conn)]
    else:
        found = connections(transcript)
        if not found:
            select(transcript, None)  # raises: the transcript has no client side
        chosen = [select(transcript, number) for number, _ in found]
    chosen = [(n, client) for n, client in chosen if any(e.kind == "open" for e in client)]
    if not chosen:
        raise InvalidTranscript("no chosen connection of the transcript opened: there is nothing to replay")
    several = len(chosen) > 1
    hint = "record it again and call to_locustfile(path, unmasked=True), or save it with save(path, unmasked=True)"
    openings = {}
    for number, client in chosen:
        opening = plan(number, client[0], client, hint=hint)
        found_secrets = secrets_in(opening)
        if found_secrets and not unmasked:
            raise InvalidTranscript(
                f"connection #{number} sends secrets ({', '.join(found_secrets)}); wsbench writes them into a "
                "locustfile only when asked: pass unmasked=True (and keep the file out of version control)"
            )
        openings[number] = opening
    events = as_clients(transcript) if several else []  # a browser page's WebSocket among them
    owners = _owners(events, {client[0].conn for _, client in chosen}) if several else {}
    grouped = _groups(chosen, owners)
    users: list[str] = []
    groups = 0
    for members in grouped:
        if len(members) > 1:
            groups += 1
            users.append(_group_class(members, events, owners, openings, think))
            continue
        [(number, client)] = members
        opening = openings[number]
        label = (f"#{number} " if several else "") + connection_label(client)
        steps, end = _steps(client, label, key, think)
        recorded = {"label": label, **_opening(opening), "steps": steps, "end": end}
        summary = f"{len(steps)} steps, then {'the server closes' if end[0] == 'closed' else 'close'}"
        lines = [f"#: Connection #{number} {_prose(mask_url(label))}: {summary}."]
        lines += _assign(f"CONNECTION_{number}", recorded)
        lines += ["", "", f"class Connection{number}(RecordedUser):"]
        lines.append(f'{_INDENT}"""Replays connection #{number}."""')
        lines += ["", f"{_INDENT}recorded = CONNECTION_{number}"]
        users.append("\n".join(lines))
    imports = ["import json", "import time", ""]
    uses_jsonpath = bool(paths) or match_path is not None
    if groups:
        imports += ["import gevent"]
        imports += ["from gevent.queue import Empty, Queue"]
    if uses_jsonpath:
        imports += ["from jsonpath_ng.ext import parse"]
    imports += [
        "from locust import User, constant, task",
        "from websockets.exceptions import ConnectionClosed",
        "from websockets.sync.client import connect",
    ]
    docstring = _docstring(
        filename, len(users) - groups, groups, url=url, match=match_path or match_source, uses=uses_jsonpath
    )
    constants = [docstring, ""]
    constants += [*imports, ""]
    constants += ["#: The default host; locust's --host replaces it.", *_assign("HOST", url)]
    constants += ["#: Seconds each wait may take: the handshake, each reply, the close.", *_assign("TIMEOUT", timeout)]
    constants += ["#: Seconds a user waits between two conversations.", *_assign("PAUSE", pause)]
    constants += ["#: Compare each reply with the recorded one (else any reply will do).", *_assign("CHECK", check)]
    constants += ["#: JSON paths left out when comparing JSON replies.", *_assign("IGNORE", paths)]
    if match_path is not None:
        constants += ["#: A reply is the message whose value at this JSON path equals the sent message's."]
        constants += _assign("MATCH", match_path)
    runtime = _RUNTIME
    if match_path is not None:
        runtime = runtime.replace(_KEY_NONE, _KEY_PATH)
    elif match_source is not None:
        runtime = runtime.replace(_KEY_NONE, f"{match_source}\n\nKEY = {getattr(match, '__name__', '')}\n")
    if not uses_jsonpath:
        runtime = runtime.replace(_IGNORE_PATHS, "_IGNORE = []\n")
    if groups:
        runtime += "\n\n" + _GROUP_RUNTIME
    body = "\n\n\n".join(users)
    return "\n".join(constants) + "\n\n" + runtime + "\n\n" + body + "\n"


def _docstring(filename: str, count: int, groups: int, *, url: str | None, match: str | None, uses: bool) -> str:
    classes = []
    if count:
        classes.append("one user class" if count == 1 else f"{count} user classes, one per recorded connection")
    if groups:
        several = "one user class" if groups == 1 else f"{groups} user classes"
        classes.append(f"{several} per conversation of several clients")
    host = "" if url else " --host ws://HOST:PORT"
    needs = "locust, websockets" + (" and jsonpath-ng" if uses else "")
    how = "in the recorded order" if match is None else "by key (MATCH / KEY below)"
    lines = [
        '"""Replays a WebSocket conversation recorded with wsbench, as Locust users.',
        "",
        f"Generated by wsbench (transcript.to_locustfile): {' and '.join(classes)}.",
    ]
    if count:
        lines += [
            "Each user connects, sends what the client sent after the recorded think time, waits for",
            f"each reply ({how}), counts every other message as a push, and closes as recorded.",
        ]
    if groups:
        lines += [
            "A conversation of several clients (a chat: one client's message reaches the others) is",
            "one user that drives one connection per recorded client, in the recorded causal order,",
            "from one greenlet; a reader greenlet per connection stamps each message when it arrives,",
            "so every time is on one clock in one process. Which message a send caused on which",
            "connection is known from the recording (the server recorded who sent what because of",
            "what): the sender's own are its reply (request WS, send to last reply), each other",
            "client's is a fan-out receipt (request FANOUT, 'fanout <step>', send to that receipt).",
            "An awaited message is the first with the recorded content (or KEY) that arrives after",
            "its cause; others are pushes (in a room shared by several conversations, an identical",
            "message of another one can stand in for it). A missing receipt is a failure naming the",
            "client and the message; the conversation goes on (each wait: TIMEOUT from its cause).",
            "A user is a whole conversation: -u 10 runs 10 conversations of all its clients.",
        ]
    lines += [
        "Each step is a Locust request: its name says which; a failure says what was expected",
        "and what arrived.",
        f"Needs {needs} (not wsbench), so Locust workers can get it with -f -.",
        "",
        "Run it with:",
        "",
        f"    locust -f {_prose(filename)} --headless -u 10 -r 5 -t 30s{host}",
        '"""',
    ]
    return "\n".join(lines)


_KEY_NONE = "KEY = None  # a reply is the next message, as recorded\n"
_KEY_PATH = '''_MATCH = parse(MATCH)


def KEY(message):
    """The value at the MATCH path of a JSON message, or None."""
    if not isinstance(message, str) or not message.lstrip().startswith(("{", "[")):
        return None
    try:
        found = _MATCH.find(json.loads(message))
    except ValueError:
        return None
    return json.dumps(found[0].value, sort_keys=True) if found else None
'''
_IGNORE_PATHS = "_IGNORE = [parse(path) for path in IGNORE]\n"

#: The runtime every generated file carries (fixed text: no recorded data reaches it).
_RUNTIME = (
    '''
class StepFailed(Exception):
    """A step did not get what was recorded: the message says what was expected and what arrived."""


'''
    + _KEY_NONE
    + "\n"
    + _IGNORE_PATHS
    + '''

def _shown(message):
    text = repr(message)
    return text if len(text) <= 80 else text[:79] + "…"


def _key(message):
    try:
        return KEY(message) if KEY is not None else None
    except Exception:
        return None


def _json(text):
    try:
        value = json.loads(text)
    except ValueError:
        return None
    for path in _IGNORE:
        value = path.filter(lambda _: True, value)
    return value


def _open(host, recorded):
    """A connection to *host* as the recorded client opened it: its path, headers and options."""
    return connect(
        host.rstrip("/") + recorded["path"],
        additional_headers=recorded["headers"] or None,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
        **recorded["options"],
    )


def _same(expected, got):
    """True if *got* is the recorded reply *expected*: JSON compared as values, without IGNORE paths."""
    if not CHECK or expected == got:
        return True
    if isinstance(expected, str) and isinstance(got, str) and expected.lstrip().startswith(("{", "[")):
        value = _json(expected)
        return value is not None and value == _json(got)
    return False


class RecordedUser(User):
    """Replays one recorded connection (``recorded``: see the CONNECTION_ constants)."""

    abstract = True
    wait_time = constant(PAUSE)
    host = HOST
    recorded = None

    def _fire(self, kind, name, started, length=0, exception=None):
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=(time.perf_counter() - started) * 1000 if started else 0,
            response_length=length,
            exception=exception,
            context={},
        )

    def _push(self, message):
        self._fire("PUSH", "push " + self.recorded["label"], None, len(message))

    def _receive(self, ws, deadline):
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError
        return ws.recv(timeout=remaining)

    def _classify(self, message, pending):
        """A message nobody awaits now: kept for a send that will await it (by key), else a push."""
        key = _key(message) if KEY is not None else None
        if key is not None and key in pending:
            self._early.setdefault(key, []).append(message)
        else:
            self._push(message)

    def _read_pushes(self, ws, seconds, pending):
        """Wait *seconds* (a think time), reading what arrives meanwhile."""
        deadline = time.perf_counter() + seconds
        while seconds > 0:
            try:
                self._classify(self._receive(ws, deadline), pending)
            except TimeoutError:
                return

    def _reply(self, ws, expected, key, deadline, pending):
        """The next message (recorded order), or the next with *key* (by key); the others are put aside."""
        early = self._early.get(key)
        got = early.pop(0) if early else None
        while got is None:
            try:
                message = self._receive(ws, deadline)
            except TimeoutError:
                raise StepFailed(f"expected {_shown(expected)} within {TIMEOUT} s, nothing arrived") from None
            except ConnectionClosed as exc:
                raise StepFailed(f"expected {_shown(expected)}, the connection closed: {exc}") from None
            if KEY is None or _key(message) == key:
                got = message
            else:
                self._classify(message, pending)
        if not _same(expected, got):
            raise StepFailed(f"expected {_shown(expected)}, arrived {_shown(got)}")
        return got

    def _steps(self, ws):
        """Each step: think, send, await the replies recorded before the next send; one request event per
        send, fired at its last reply (or when sent, if none answers it). False if a step failed."""
        sent = {}  # step index -> [started, name, key, bytes received]
        pending = set()
        self._early = {}
        for index, (name, think, message, replies, answered) in enumerate(self.recorded["steps"]):
            self._read_pushes(ws, think, pending)
            started = begun = time.perf_counter()
            current = name
            try:
                if message is not None:
                    ws.send(message)
                key = _key(message) if KEY is not None and message is not None else None
                sent[index] = [started, name, key, 0]
                pending.add(key)
                if not answered:
                    self._fire("WS", name, started)
                for owner, expected, last in replies:
                    begun, current, key = sent[owner][:3]
                    sent[owner][3] += len(self._reply(ws, expected, key, begun + TIMEOUT, pending))
                    if last:
                        self._fire("WS", current, begun, sent[owner][3])
            except (StepFailed, ConnectionClosed, OSError) as exc:
                self._fire("WS", current, begun, 0, exc)
                return False
        for messages in self._early.values():  # replies nobody awaited after all: pushes
            for message in messages:
                self._push(message)
        return True

    def _finish(self, ws):
        """Close as recorded: the client's close, or wait for the server's (and check its code)."""
        kind, code, reason = self.recorded["end"]
        name = "close " + self.recorded["label"]
        started = time.perf_counter()
        if kind != "closed":
            ws.close(code or 1000, reason)
            self._fire("WS", name, started)
            return
        try:
            while True:  # the server closes: what comes before is pushed
                self._push(self._receive(ws, started + TIMEOUT))
        except TimeoutError:
            self._fire("WS", name, started, 0, StepFailed(f"expected the server to close within {TIMEOUT} s"))
            return
        except ConnectionClosed:
            pass
        if code is not None and ws.close_code != code:
            got = f"close {ws.close_code} {ws.close_reason!r}"
            self._fire("WS", name, started, 0, StepFailed(f"expected close {code} {reason!r}, arrived {got}"))
            return
        self._fire("WS", name, started)

    @task
    def conversation(self):
        """One recorded conversation: connect (timed), the steps, the close."""
        if not self.host:
            raise ValueError("no host: pass --host ws://HOST:PORT")
        recorded = self.recorded
        name = "connect " + recorded["label"]
        started = time.perf_counter()
        try:
            ws = _open(self.host, recorded)
        except Exception as exc:
            self._fire("CONNECT", name, started, 0, exc)
            return
        self._fire("CONNECT", name, started)
        with ws:
            if self._steps(ws):
                self._finish(ws)
'''
)

#: The runtime of a conversation of several clients (fixed text, appended when the file has one).
_GROUP_RUNTIME = '''
def _wanted(expected, got):
    """True if *got* is the awaited *expected*: the same KEY if there is one, else the same content."""
    key = _key(expected) if KEY is not None else None
    if key is not None:
        return _key(got) == key
    return _same(expected, got)


class RecordedGroup(User):
    """Replays one recorded conversation of several clients (``recorded``: see the GROUP_ constants).

    This user's greenlet does each client's actions in the recorded order; a reader greenlet per
    connection stamps each message as it arrives (one process, one clock), so a receipt's time is
    from the action that caused it to its arrival, however late the driver gets to it.
    """

    abstract = True
    wait_time = constant(PAUSE)
    host = HOST
    recorded = None

    def _fire(self, kind, name, milliseconds=0, length=0, exception=None):
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=milliseconds,
            response_length=length,
            exception=exception,
            context={},
        )

    def _read(self, c, ws):
        """Put each message of connection *c* with its arrival time in its inbox; then why it ended."""
        try:
            while True:
                message = ws.recv()
                self._inbox[c].put((time.perf_counter(), message))
        except Exception as exc:  # ConnectionClosed: the end of the connection (anything else ends it too)
            self._inbox[c].put((time.perf_counter(), exc))

    def _next(self, c, deadline):
        """The next (arrival, message) of client *c* from its inbox; None at the deadline."""
        if self._ended[c] is not None:
            return None
        try:
            arrival, message = self._inbox[c].get(timeout=max(deadline - time.perf_counter(), 0))
        except Empty:
            return None
        if isinstance(message, Exception):
            self._ended[c] = message
            return None
        return arrival, message

    def _take(self, c, expected, since, deadline):
        """The first message of client *c* that arrived after *since* and is *expected*; the others
        are held (later receipts or pushes). StepFailed says what was expected and what arrived."""
        label = self.recorded["clients"][c]["label"]
        held = self._held[c]
        for i, (arrival, message) in enumerate(held):
            if arrival >= since and _wanted(expected, message):
                del held[i]
                return self._checked(label, expected, arrival, message)
        while True:
            got = self._next(c, deadline)
            if got is None:
                break
            if got[0] >= since and _wanted(expected, got[1]):
                return self._checked(label, expected, *got)
            held.append(got)
        if self._ended[c] is not None:
            raise StepFailed(f"expected {_shown(expected)} at {label}, the connection closed: {self._ended[c]}")
        others = [_shown(message) for arrival, message in held if arrival >= since]
        if not others:
            raise StepFailed(f"expected {_shown(expected)} at {label} within {TIMEOUT} s, nothing arrived")
        arrived = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise StepFailed(f"expected {_shown(expected)} at {label} within {TIMEOUT} s, arrived {arrived}")

    def _checked(self, label, expected, arrival, message):
        if not _same(expected, message):  # the KEY matched, the content did not
            raise StepFailed(f"expected {_shown(expected)} at {label}, arrived {_shown(message)}")
        return arrival, message

    def _receipt(self, index, action):
        """Await a recorded receipt: a reply (WS, fired at the last one), a fan-out receipt (FANOUT,
        one each) or a message of unknown cause (PUSH)."""
        _, c, expected, owner, last = action
        label = self.recorded["clients"][c]["label"]
        cause = self.recorded["actions"][owner] if owner is not None else None
        if cause is not None and (owner not in self._done or owner in self._failed):
            return  # its cause was not done (or its step failed already): nothing to await
        since = self._done[owner][0] if cause is not None else 0.0
        deadline = (since if cause is not None else time.perf_counter()) + TIMEOUT
        if cause is None:
            kind, name = "PUSH", "push " + label
        elif cause[1] != c:
            kind, name = "FANOUT", "fanout " + cause[3]
        else:
            kind, name = "WS", cause[3]
        try:
            arrival, message = self._take(c, expected, since, deadline)
        except StepFailed as exc:
            self._fire(kind, name, 0, 0, exc)
            if kind == "WS":
                self._failed.add(owner)
            return
        if kind == "FANOUT":
            self._fire(kind, name, (arrival - since) * 1000, len(message))
        elif kind == "WS":
            self._done[owner][1] += len(message)
            if last:
                self._fire(kind, name, (arrival - since) * 1000, self._done[owner][1])
        else:
            self._fire(kind, name, 0, len(message))

    def _connect(self, index, c, name):
        client = self.recorded["clients"][c]
        started = time.perf_counter()
        try:
            ws = _open(self.host, client)
        except Exception as exc:
            self._fire("CONNECT", name, (time.perf_counter() - started) * 1000, 0, exc)
            return
        self._fire("CONNECT", name, (time.perf_counter() - started) * 1000)
        self._ws[c] = ws
        self._readers.append(gevent.spawn(self._read, c, ws))
        self._done[index] = [started, 0]

    def _closed(self, c, name, code, reason):
        """Wait for the server's close (what comes before is held: pushes) and check its code."""
        started = time.perf_counter()
        while self._ended[c] is None and time.perf_counter() < started + TIMEOUT:
            got = self._next(c, started + TIMEOUT)
            if got is not None:
                self._held[c].append(got)
        if self._ended[c] is None:
            self._fire("WS", name, 0, 0, StepFailed(f"expected the server to close within {TIMEOUT} s"))
            return
        ws = self._ws[c]
        if code is not None and ws.close_code != code:
            got = f"close {ws.close_code} {ws.close_reason!r}"
            self._fire("WS", name, 0, 0, StepFailed(f"expected close {code} {reason!r}, arrived {got}"))
            return
        self._fire("WS", name, (time.perf_counter() - started) * 1000)

    def _act(self, index, action):
        kind, c = action[0], action[1]
        if kind == "receive":
            if self._ws[c] is not None:
                self._receipt(index, action)
            return
        if kind == "closed":
            if self._ws[c] is not None:
                self._closed(c, *action[2:])
            return
        gevent.sleep(action[2])  # the recorded think time (the readers read meanwhile)
        if kind == "connect":
            self._connect(index, c, action[3])
            return
        ws = self._ws[c]
        if ws is None:
            return  # a client that did not connect does nothing more
        started = time.perf_counter()
        if kind == "send":
            name, message, answered = action[3:]
            try:
                ws.send(message)
            except (ConnectionClosed, OSError) as exc:
                self._fire("WS", name, 0, 0, StepFailed(f"sending {_shown(message)}, the connection closed: {exc}"))
                return
            self._done[index] = [started, 0]
            if not answered:
                self._fire("WS", name)
        elif kind == "close":
            name, code, reason = action[3:]
            self._done[index] = [started, 0]
            ws.close(code, reason)
            self._fire("WS", name, (time.perf_counter() - started) * 1000)

    @task
    def conversation(self):
        """One recorded conversation of all its clients."""
        if not self.host:
            raise ValueError("no host: pass --host ws://HOST:PORT")
        count = len(self.recorded["clients"])
        self._ws = [None] * count
        self._inbox = [Queue() for _ in range(count)]
        self._held = [[] for _ in range(count)]
        self._ended = [None] * count
        self._readers = []
        self._done = {}  # action index -> [when it was done, bytes of its replies]
        self._failed = set()  # the sends whose step failed
        try:
            for index, action in enumerate(self.recorded["actions"]):
                self._act(index, action)
        finally:
            for ws in self._ws:
                if ws is not None:
                    ws.close()
            gevent.joinall(self._readers, timeout=TIMEOUT)
            gevent.killall(self._readers, block=False)
        for c in range(count):  # what nobody awaited: pushes
            label = self.recorded["clients"][c]["label"]
            while not self._inbox[c].empty():
                arrival, message = self._inbox[c].get()
                if not isinstance(message, Exception):
                    self._held[c].append((arrival, message))
            for _arrival, message in self._held[c]:
                self._fire("PUSH", "push " + label, 0, len(message))
'''
