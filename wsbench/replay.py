"""Replay the client side of a recorded conversation and say what the server answered differently.

:func:`replay` opens one recorded connection again on a new target and does what the client
did; differences (payloads, close, missing or extra messages) are data in a
:class:`ReplayResult`, shown as a unified diff, and every wait is bounded. Reading the
transcript and comparing JSON are :mod:`wsbench.conversation`'s; :func:`assert_json_matches`
and :func:`expect_close` live there too and are re-exported here. Specification:
``docs/modules/wsbench.replay.md``.
"""

from __future__ import annotations

import difflib
import itertools
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from ._text import preview
from .client import Connection
from .codes import describe
from .conversation import (
    MORE,
    assert_json_matches,
    compile_ignore,
    connection_label,
    differing_paths,
    expect_close,
    json_value,
    merge_query,
    plan,
    select,
    target_url,
    without_ignored,
)
from .errors import (
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    InvalidURL,
    SubprotocolNotAccepted,
    Timeout,
)
from .kinds import CLIENT_ACTIONS
from .secrets import display_url, mask_subprotocols, mask_url
from .server import Bench
from .transcript import Event, Transcript

__all__ = ["Difference", "ReplayResult", "assert_json_matches", "expect_close", "replay", "target_url"]

Payload = str | bytes | None

_SHOWN = 200  # characters of a payload's repr shown in a diff line
_bench_names = itertools.count(1)

# -- the records -------------------------------------------------------------------


class Difference(NamedTuple):
    """One way the replay differs from the recording."""

    position: int  #: the recorded client-side line (1-based) that differs, or that an extra one comes before
    what: str  #: e.g. "message changed", "missing message", "extra message", "close changed", "handshake changed"
    expected: str | None  #: the recorded line (None for an extra one)
    got: str | None  #: the replayed line (None for a missing one)
    details: tuple[str, ...] = ()  #: e.g. the differing JSON paths: ``$.n: 1 != 2``


class ReplayResult:
    """What a :func:`replay` found: ``ok``, the :attr:`differences`, and the replay's own transcript.

    True when the server answered as recorded. ``str(result)`` is a unified diff of the
    client-side lines (``-`` recorded, ``+`` replayed), deterministic: no ports, no times.
    """

    def __init__(
        self,
        label: str,
        expected: list[str],
        got: list[str],
        differences: list[Difference],
        transcript: Transcript,
    ) -> None:
        self.label = label  #: the replayed connection: its path and query, secrets masked
        self.expected = expected  #: the recorded client-side lines
        self.got = got  #: the replay's client-side lines
        self.differences = differences  #: one :class:`Difference` per changed, missing or extra line
        self.transcript = transcript  #: the replay's own transcript (both sides when the target is a Bench)

    @property
    def ok(self) -> bool:
        """True when the server answered exactly as recorded (ignored JSON fields aside)."""
        return not self.differences

    def __bool__(self) -> bool:
        return self.ok

    def text(self) -> str:
        """The header line, then one hunk per difference, each headed ``@@ line N: what @@``."""
        if self.ok:
            return f"replay of {self.label}: same answers ({len(self.expected)} lines)"
        count = len(self.differences)
        lines = [f"replay of {self.label}: {count} difference{'s' if count != 1 else ''} (- recorded, + replayed)"]
        for difference in self.differences:
            lines.extend(_hunk(difference, self.expected))
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"{len(self.differences)} differences"
        return f"<ReplayResult {self.label}: {state}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the diff
        printer.text(repr(self) if cycle else self.text())


def _hunk(difference: Difference, expected: list[str]) -> list[str]:
    position, what = difference.position, difference.what
    where = f"line {position}" if difference.expected is not None else f"before line {position}"
    if difference.expected is None and position > len(expected):
        where = f"after line {len(expected)}"
    lines = [f"@@ {where}: {what} @@"]
    if position >= 2:
        lines.append(f"  {expected[position - 2]}")
    if difference.expected is not None:
        lines.append(f"- {difference.expected}")
    if difference.got is not None:
        lines.append(f"+ {difference.got}")
    lines.extend(f"    {detail}" for detail in difference.details)
    return lines


# -- lines ------------------------------------------------------------------------


class _Line(NamedTuple):
    key: tuple  # what is compared
    text: str  # what is shown
    data: Any = None  # the parsed JSON of a message, for the path details


def _payload(data: Payload) -> str:
    return preview(data, _SHOWN)


def _message_line(arrow: str, kind: str, data: Payload, compiled: list[tuple[str, Any]]) -> _Line:
    text = f"{arrow} {_payload(data)}"
    if isinstance(data, str):
        value = json_value(data)
        if value is not None:
            stripped = without_ignored(value, compiled)
            return _Line((kind, "json", json.dumps(stripped, sort_keys=True)), text, stripped)
        return _Line((kind, "text", data), text)
    return _Line((kind, "bytes", data), text)


def _closed_line(code: int | None, reason: Any, detail: str | None, by: str | None) -> _Line:
    detail = detail or ""
    who = by or "neither side"
    reason = reason if isinstance(reason, str) else json.dumps(reason) if reason is not None else ""
    return _Line(("closed", who, code, reason), f"closed: {detail or describe(code or 1006, reason)}", (who, code))


def _open_line(subprotocol: str | None) -> _Line:
    """The handshake succeeded, with the subprotocol the server agreed to (if any)."""
    return _Line(("open", subprotocol), "open" + (f" (subprotocol {subprotocol!r})" if subprotocol else ""))


def _event_line(event: Event, compiled: list[tuple[str, Any]], label: str) -> _Line:
    kind = event.kind
    if kind == "connect":
        return _Line(("connect",), f"connect {label}")
    if kind == "open":
        return _open_line(event.detail)
    if kind == "rejected":
        body = event.data if isinstance(event.data, bytes) else (event.data or "").encode()
        return _Line(("rejected", event.code, body), _rejected_text(event.code, body))
    if kind in ("send", "receive"):
        return _message_line("→" if kind == "send" else "←", kind, event.data, compiled)
    if kind == "ping":
        return _Line(("ping",), "→ ping")
    if kind == "pong":
        return _Line(("pong",), "← pong")
    if kind == "close":
        return _Line(("close", event.code, event.reason), f"→ close {describe(event.code or 1000, event.reason or '')}")
    if kind == "closed":
        return _closed_line(event.code, event.reason, event.detail, event.by)
    return _Line(("error", event.detail), f"error: {event.detail}")


def _rejected_text(status: int | None, body: bytes) -> str:
    return f"rejected: HTTP {status} " + (_payload(body) if body else "(empty body)")


# -- replaying ---------------------------------------------------------------------


def replay(
    transcript: Transcript,
    target: Any,
    *,
    ignore: str | Iterable[str] = (),
    timeout: float = 5.0,
    conn: int | None = None,
    **connect_options: Any,
) -> ReplayResult:
    """Replay the client side of one recorded connection against *target* and compare the answers.

    *target* is one of:

    * a running :class:`~wsbench.Bench`: the recorded path and query on it;
    * an ASGI app such as a FastAPI app: served on a temporary Bench, stopped afterwards;
    * a **base URL**, ``ws://`` / ``wss://`` with no path or just ``/`` (``ws://host:8765``):
      the recorded path and query are appended (``ws://host:8765/echo?room=1``);
    * a **full URL**, one with a path (``ws://host:8765/v2/echo``): used as it is, whatever
      path was recorded; this is how to replay under another path or a prefix.

    A query in the URL (base or full) is merged into the recorded one: each of its parameters
    replaces the recorded ones of the same name, in place, and the others are added at the
    end (recorded ``?token=***&room=1`` on ``.../echo?token=abc`` opens ``/echo?token=abc&room=1``),
    so a URL can also supply a secret recorded as ``***``. :func:`target_url` is this rule.

    *conn* picks a connection by its number (#1, #2 ... as the transcript prints them) when
    there are several. *ignore* lists JSON paths (``"$.id"``, ``"$.items[*].ts"``) left out
    when comparing JSON messages. Each recorded message is waited for at most *timeout*
    seconds; after the last recorded step, what else comes is taken for at most *timeout*
    seconds and :data:`MORE` messages in all, and a server that has not closed by then is
    closed by the replay, the close difference saying so ("the server did not close; N extra
    messages ..."): a server that sends for ever cannot keep a replay running.
    *connect_options* go to :func:`wsbench.connect`; ``params=`` and ``headers=``
    also supply secrets recorded as ``***``. Every error, and the note on a refused
    handshake, names the URL tried (secrets masked). Raises InvalidURL or TypeError for a bad target.
    """
    compiled = compile_ignore(ignore)
    _check_target(target)
    number, client = select(transcript, conn)
    label = connection_label(client)
    how = (
        "pass the real values, e.g. replay(..., params={'token': ...}, headers={'Authorization': ...}, "
        "subprotocols=['access_token', ...]), "
        "or replay a transcript saved with save(path, unmasked=True)"
    )
    connect = client[0]
    if isinstance(target, str) and isinstance(connect.data, str) and urlsplit(target).query:
        recorded = urlsplit(connect.data)  # the URL's query joins the recorded one before the secrets are checked
        merged = merge_query(recorded.query, urlsplit(target).query)
        connect = connect._replace(data=urlunsplit(recorded._replace(query=merged)))
    opening = plan(
        number,
        connect,
        client,
        params=connect_options.pop("params", None),
        headers=connect_options.pop("headers", None),
        subprotocols=connect_options.get("subprotocols"),  # replaces a recorded offer, masked ones included
        hint=how,
    )
    options = {**opening.options, **connect_options}
    options.setdefault("timeout", timeout)
    options.setdefault("open_timeout", timeout)
    options.setdefault("close_timeout", timeout)
    if opening.headers:
        options["headers"] = opening.headers
    expected = [_event_line(e, compiled, label) for e in client]
    with _serving(target) as open_connection:
        got, connection, notes = _run(client, compiled, label, timeout, lambda: open_connection(opening.path, options))
    if len(transcript) > 1 and number > 1:
        label = f"#{number} {label}"
    differences = _compare(expected, got, notes)
    return ReplayResult(
        label,
        [line.text for line in expected],
        [line.text for line in got],
        differences,
        connection.transcript if connection is not None else Transcript(),
    )


_TARGETS = "give a ws:// or wss:// base URL (or a full URL), a wsbench.Bench, or an ASGI app (a FastAPI app)"


def _check_target(target: Any) -> None:
    """InvalidURL or TypeError for what cannot be a replay target, before anything else is done."""
    if isinstance(target, str):
        if not target.startswith(("ws://", "wss://")):
            raise InvalidURL(f"{mask_url(target)!r} isn't a replay target: {_TARGETS}")
    elif not isinstance(target, Bench) and not callable(target):
        raise TypeError(f"cannot replay against {type(target).__name__}: {_TARGETS}")


@contextmanager
def _serving(target: Any) -> Iterator[Any]:
    """Yield a function (path and query, options) -> an unopened Connection to *target*."""
    if isinstance(target, str):
        yield lambda path, options: Connection(target_url(target, path), **options)
    elif isinstance(target, Bench):
        yield lambda path, options: Connection(target.url_for(path), pairing=target, **options)
    else:  # an ASGI app: serve it while replaying
        with Bench(target, name=f"wsbench.replay-{next(_bench_names)}") as bench:
            yield lambda path, options: Connection(bench.url_for(path), pairing=bench, **options)


def _run(
    client: list[Event], compiled: list[tuple[str, Any]], label: str, timeout: float, make: Any
) -> tuple[list[_Line], Connection, dict[int, tuple[str, ...]]]:
    """Do what the client did; return the replay's lines, its connection, and notes by line index."""
    got: list[_Line] = [_Line(("connect",), f"connect {label}")]
    notes: dict[int, tuple[str, ...]] = {}
    conn: Connection = make()
    tried = display_url(conn.url)  # what the diff shows: secrets masked, no loopback port
    try:
        conn.open()
    except HandshakeRejected as exc:
        notes[len(got)] = (
            f"{tried} refused the handshake (HTTP {exc.status}): is it the server this was recorded from, "
            "and does it serve that path?",
        )
        got.append(_Line(("rejected", exc.status, exc.body), _rejected_text(exc.status, exc.body)))
        return got, conn, notes
    except SubprotocolNotAccepted:
        notes[len(got)] = (
            f"{tried} accepted none of the subprotocols offered: {mask_subprotocols(conn._subprotocols or [])}",
        )
        got.append(_Line(("open", None), "open"))
        return got, conn, notes
    except (ConnectError, Timeout) as exc:  # nothing to compare: raise, naming the URL tried
        named = _naming(exc, conn.url)
        if named is exc:
            raise
        raise named from exc
    agreed = conn.subprotocol
    got.append(_open_line(agreed))
    waited_out = False  # a message did not come in time: wait no more until the client acts again
    pongs = 0
    closed_recorded = any(e.kind == "closed" for e in client)
    for event in client[1:]:
        kind = event.kind
        if kind in ("send", "ping", "close"):
            waited_out = False
            line = _event_line(event, compiled, label)
            if conn.state != "open":
                line = _Line((*line.key, "not sent"), f"{line.text} (not sent: the connection was closed)")
                closed_with = describe(conn.close_code or 1006, conn.close_reason or "")
                notes[len(got)] = (f"the server had closed it: {closed_with}",)
            elif kind == "send":
                try:
                    if isinstance(event.data, bytes):
                        conn.send_bytes(event.data)
                    else:
                        conn.send_text(event.data or "")
                except ConnectionClosed as exc:
                    line = _Line((*line.key, "not sent"), f"{line.text} (not sent: the connection was closed)")
                    notes[len(got)] = (f"the server had closed it: {describe(exc.code, exc.reason)}",)
            elif kind == "ping":
                try:
                    conn.ping(timeout)
                    pongs += 1
                except (ConnectionClosed, Timeout):
                    pass
            else:
                conn.close(event.code or 1000, event.reason if isinstance(event.reason, str) else "")
            got.append(line)
        elif kind == "pong" and pongs:
            pongs -= 1
            got.append(_Line(("pong",), "← pong"))
        elif kind == "receive":
            try:
                message = conn.receive(timeout=0 if waited_out else timeout)
            except ConnectionClosed:
                continue
            except Timeout:
                waited_out = True
                continue
            got.append(_message_line("←", "receive", message, compiled))
        elif kind == "closed":
            break
    # The end: take what else comes, for at most *timeout* seconds and MORE messages in all (a server
    # may send for ever); wait for the server's close if it closed in the recording, else close.
    if not closed_recorded:
        conn.close()
    before = sum(line.key[0] == "receive" for line in got)  # messages taken so far: the extra ones come after
    deadline = time.monotonic() + timeout
    taken = 0
    while taken < MORE:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            message = conn.receive(timeout=left)
        except (ConnectionClosed, Timeout):
            break
        got.append(_message_line("←", "receive", message, compiled))
        taken += 1
    close_note: tuple[str, ...] = ()
    if conn.state == "open":  # it did not close within the bounds: the replay closes it
        conn.close()
        extra = _received(conn) - before
        if extra:
            bound = f"within {timeout} s" if taken < MORE else f"after {MORE} messages"
            close_note = (
                f"the server did not close; {extra} extra messages, the replay took {taken} of them "
                f"and closed it {bound}",
            )
        else:
            close_note = (f"the server did not close within {timeout} s, so the replay closed it",)
    elif taken == MORE and _received(conn) - before > taken:  # the client closed: the rest is not shown
        notes[len(got) - 1] = (f"{_received(conn) - before} extra messages; the replay shows the first {MORE}",)
    if closed_recorded:
        closed = next((e for e in conn.transcript if e.side == "client" and e.kind == "closed"), None)
        if close_note:
            notes[len(got)] = close_note
        if closed is not None:
            got.append(_closed_line(closed.code, closed.reason, closed.detail, closed.by))
        else:
            got.append(_closed_line(conn.close_code, conn.close_reason, None, None))
    return got, conn, notes


def _received(conn: Connection) -> int:
    """How many messages *conn* has received (its transcript counts those a close read past too)."""
    return sum(e.side == "client" and e.kind == "receive" for e in conn.transcript.since(0))


def _naming(exc: ConnectError | Timeout, url: str) -> BaseException:
    """*exc* again, its message starting with the URL the replay tried (secrets masked)."""
    shown = mask_url(url)
    if shown in str(exc):
        return exc
    try:
        return type(exc)(f"replay against {shown}: {exc}")
    except TypeError:  # an error class with more to say than a message: keep it as it is
        return exc


def _compare(expected: list[_Line], got: list[_Line], notes: dict[int, tuple[str, ...]]) -> list[Difference]:
    """Differences between the recorded and the replayed lines.

    The client's own actions (:data:`~wsbench.kinds.CLIENT_ACTIONS`) are replayed one for
    one, so they pair up in order (and differ only when one could not be sent). The answers
    (handshake, messages, pongs, close) are compared as one sequence with difflib, so an
    extra message shifts nothing after it, whichever receive point happened to take it.
    """
    found: list[tuple[Difference, tuple | None]] = []  # with the key of a missing or extra message
    actions = [(i, line) for i, line in enumerate(expected) if line.key[0] in CLIENT_ACTIONS]
    done = [(j, line) for j, line in enumerate(got) if line.key[0] in CLIENT_ACTIONS]
    for (i, e), (j, g) in zip(actions, done, strict=False):
        if e.key != g.key:
            found.append((Difference(i + 1, _what(e, g), e.text, g.text, notes.get(j, ())), None))
    recorded = [(i, line) for i, line in enumerate(expected) if line.key[0] not in CLIENT_ACTIONS]
    answered = [(j, line) for j, line in enumerate(got) if line.key[0] not in CLIENT_ACTIONS]
    matcher = difflib.SequenceMatcher(
        a=[line.key for _, line in recorded], b=[line.key for _, line in answered], autojunk=False
    )

    def line_number(k: int) -> int:  # the recorded line an answer at position k replaces or comes before
        return recorded[k][0] + 1 if k < len(recorded) else len(expected) + 1

    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        # Within a changed block, pair answers of the same kind (a message with a message,
        # a close with a close); the rest are missing or extra.
        nouns = difflib.SequenceMatcher(
            a=[_noun(line) for _, line in recorded[i1:i2]],
            b=[_noun(line) for _, line in answered[j1:j2]],
            autojunk=False,
        )
        for sub, a1, a2, b1, b2 in nouns.get_opcodes():
            if sub == "equal":
                for k in range(a2 - a1):
                    (i, e), (j, g) = recorded[i1 + a1 + k], answered[j1 + b1 + k]
                    details = _details(e, g) + notes.get(j, ())
                    found.append((Difference(i + 1, _what(e, g), e.text, g.text, details), None))
                continue
            for i, e in recorded[i1 + a1 : i1 + a2]:
                found.append((Difference(i + 1, f"missing {_noun(e)}", e.text, None), _movable(e)))
            for j, g in answered[j1 + b1 : j1 + b2]:
                before = line_number(i1 + a2)
                found.append((Difference(before, f"extra {_noun(g)}", None, g.text, notes.get(j, ())), _movable(g)))
    found.sort(key=lambda item: item[0].position)  # stable: in order of the recorded lines
    differences = _mark_moves(found)
    rejected = [i for i, line in enumerate(got) if line.key[0] == "rejected"]
    if rejected and not any(line.key[0] == "rejected" for line in expected):
        # Nothing after the handshake was replayed: one difference says so, not one per line.
        shown = [d for d in differences if d.position <= 2 or d.got is not None]
        skipped = len(expected) - 2
        if skipped > 0 and shown:
            shown[0] = shown[0]._replace(
                details=(*shown[0].details, f"the {skipped} recorded lines after it were not replayed")
            )
        differences = shown
    return differences


def _movable(line: _Line) -> tuple | None:
    return line.key if line.key[0] == "receive" else None


def _noun(line: _Line) -> str:
    return {
        "receive": "message",
        "send": "send",
        "closed": "close",
        "close": "close call",
        "open": "handshake",
        "rejected": "handshake",
        "ping": "ping",
        "pong": "pong",
        "connect": "connect",
    }.get(line.key[0], "line")


def _what(expected: _Line, got: _Line) -> str:
    first, second = _noun(expected), _noun(got)
    if first == second and got.key[-1] == "not sent":
        return f"{first} not sent"
    if expected.key[0] == "open" and got.key[0] == "open":
        return "subprotocol changed"
    if first == second:
        return f"{first} changed"
    return f"{first} changed to {second}"


def _details(expected: _Line, got: _Line) -> tuple[str, ...]:
    ek, gk = expected.key, got.key
    if ek[0] == gk[0] == "receive":
        if ek[1] == gk[1] == "json":
            return differing_paths(expected.data, got.data)
        kinds = {"json": "text", "text": "text", "bytes": "bytes"}
        if kinds[ek[1]] != kinds[gk[1]]:
            return (f"a {kinds[ek[1]]} message != a {kinds[gk[1]]} message",)
        if ek[1] == gk[1] == "text" and (len(ek[2]) > _SHOWN // 2 or len(gk[2]) > _SHOWN // 2):
            same = next((i for i, (a, b) in enumerate(zip(ek[2], gk[2], strict=False)) if a != b), None)
            at = same if same is not None else min(len(ek[2]), len(gk[2]))
            return (f"first difference at character {at} (lengths {len(ek[2])} and {len(gk[2])})",)
        return ()
    if ek[0] == gk[0] == "closed":
        lines = []
        if ek[1] != gk[1]:
            lines.append(f"closed by: {ek[1]} != {gk[1]}")
        if ek[2] != gk[2]:
            lines.append(f"code: {ek[2]} != {gk[2]}")
        if ek[3] != gk[3]:
            lines.append(f"reason: {ek[3]!r} != {gk[3]!r}")
        return tuple(lines)
    if ek[0] == gk[0] == "rejected" and ek[1] != gk[1]:
        return (f"status: {ek[1]} != {gk[1]}",)
    return ()


def _mark_moves(found: list[tuple[Difference, tuple | None]]) -> list[Difference]:
    """A message missing in one place and extra in another came in another order: say so."""
    differences = [d for d, _ in found]
    missing = {key: i for i, (d, key) in enumerate(found) if key is not None and d.got is None}
    for i, (d, key) in enumerate(found):
        if key is not None and d.expected is None and key in missing:
            j = missing.pop(key)
            recorded = differences[j]
            when = "earlier" if d.position <= recorded.position else "later"
            differences[i] = d._replace(what="message out of order", details=(f"recorded at line {recorded.position}",))
            differences[j] = recorded._replace(
                what="message out of order", details=(f"received {when}, before line {d.position}",)
            )
    return differences
