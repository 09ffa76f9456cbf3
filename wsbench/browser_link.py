"""A browser page as a client of a Bench: the bench's end of the page's control socket.

:meth:`wsbench.Bench.browser_connect` shows a widget whose JavaScript opens two sockets to the
bench: the learner's ``WebSocket`` to the endpoint, and a control socket to
:data:`CONTROL_PREFIX` ``+ token``, on which the page reports what its WebSocket does and the
bench sends it commands. The page reports to the bench, not to the kernel: comm messages reach a
kernel only between cells, so a cell could not wait for the page; the bench's loop thread hears it
at once. Every report is checked (:func:`_report`) before it is recorded: the page is a peer, its
messages are data.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from . import loop
from ._gate import Gate
from .errors import Timeout
from .transcript import Event, Transcript, record, stores

__all__ = ["CONTROL_MAX", "CONTROL_PREFIX", "PAIR_PARAM", "BrowserLink", "control", "pair"]


#: The reserved path of a browser page's control socket, ``/.wsbench/browser/<token>``: the Recorder
#: answers it itself, so the app never sees it and no transcript records it.
CONTROL_PREFIX = "/.wsbench/browser/"

#: The query parameter a page's WebSocket carries its link's one-time pairing secret in, last in the
#: query; the bench takes it out before the app sees the query. "token" in its name: Jupyter's access
#: log writes it as [secret].
PAIR_PARAM = "wsbench_pair_token"

#: The longest control message a page may send (characters of JSON): past it the bench closes the
#: control socket with 1009. The page reports a longer message of its WebSocket without the data.
CONTROL_MAX = 4 * 2**20

#: What a page reports, by kind ("hello" first, then the browser kinds of wsbench.kinds).
_REPORTS = frozenset({"hello", "connect", "open", "send", "message", "error", "refused", "close", "closed"})
_STR_FIELDS = {
    "text": CONTROL_MAX,
    "bytes": CONTROL_MAX,
    "data": 8192,
    "detail": 2000,
    "reason": 1000,
    "extensions": 1000,
    "ua": 2000,
    "origin": 2000,
}
_INT_FIELDS = ("n", "re", "code", "buffered")
#: How deep a report nests: an object holding one list (of protocols).
_DEPTH = 2
#: Strings and brackets a report holds at most: its fields, names and values, and 64 protocols.
_TOKENS = 256
_SPECIAL = re.compile(r'["\[\]{}]')
_NO_PAGE = (
    "no browser page is showing this widget (nbval, nbconvert and a plain kernel have none): "
    "display it in JupyterLab, where its JavaScript opens the WebSocket"
)
_GONE = (
    "the page that ran this widget's WebSocket has gone (closed, reloaded, or its report was refused: "
    "{why}); run the cell again for a new one"
)


class _Refused(Exception):
    """A control message the bench will not take: the close code and reason it answers with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _report(text: object, expected: int) -> dict[str, Any]:
    """One control message of a page, checked: a JSON object with the next number, a known kind and
    fields of the right types and sizes; _Refused (with the close code to answer) otherwise."""
    if not isinstance(text, str):
        raise _Refused(1003, "control messages are JSON text")
    if len(text) > CONTROL_MAX:
        raise _Refused(1009, f"control message over {CONTROL_MAX} characters")
    _check_shape(text)
    try:
        report = json.loads(text)
    except ValueError:
        raise _Refused(1007, "control message is not JSON") from None
    if not isinstance(report, dict):
        raise _Refused(1008, "control message is not a JSON object")
    unknown = set(report) - {"kind", "protocols", "clean", *_INT_FIELDS, *_STR_FIELDS}
    if unknown:
        raise _Refused(1008, f"unknown field {sorted(unknown)[0][:40]!r}")
    for name in _INT_FIELDS:
        value = report.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53):
            raise _Refused(1008, f"{name} must be a non-negative integer")
    for name, limit in _STR_FIELDS.items():
        value = report.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise _Refused(1008, f"{name} must be a string of at most {limit} characters")
    protocols = report.get("protocols", [])
    if not isinstance(protocols, list) or len(protocols) > 64 or not all(isinstance(p, str) for p in protocols):
        raise _Refused(1008, "protocols must be a list of at most 64 strings")
    if not isinstance(report.get("clean", False), bool):
        raise _Refused(1008, "clean must be true or false")
    if report.get("kind") not in _REPORTS:
        raise _Refused(1008, "kind must be one of " + ", ".join(sorted(_REPORTS)))
    if report.get("n") != expected:
        raise _Refused(1008, f"report number {report.get('n')!r} out of order: expected {expected}")
    if (expected == 0) != (report["kind"] == "hello"):
        raise _Refused(1008, "the first report, and only the first, is hello")
    try:
        for value in (report.get(name) for name in _STR_FIELDS):
            if value is not None:
                value.encode("utf-8")
        for value in protocols:
            value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused(1007, "text with a lone surrogate (not UTF-8)") from None
    if report.get("code") is not None and report["code"] > 65535:
        raise _Refused(1008, "code must be at most 65535")
    if "bytes" in report:
        try:
            report["bytes"] = base64.b64decode(report["bytes"], validate=True)
        except (binascii.Error, ValueError):
            raise _Refused(1008, "bytes must be base64") from None
    return report


def _check_shape(text: str) -> None:
    """Refuse, before it is parsed, a control message nested deeper than a report (:data:`_DEPTH`) or
    holding more strings and brackets (:data:`_TOKENS`): the parser recurses once a level, so a message
    nested 100k deep would end in a RecursionError. One pass, each string skipped by json's own scanner."""
    depth = pos = 0
    for _ in range(_TOKENS):
        found = _SPECIAL.search(text, pos)
        if found is None:
            return
        char, pos = found.group(), found.end()
        if char == '"':
            try:
                pos = scanstring(text, pos)[1]
            except ValueError:  # an unterminated string or a bad escape: the parser says "not JSON"
                return
        elif char in "[{":
            depth += 1
            if depth > _DEPTH:
                raise _Refused(1008, "control message nested too deep: a report is one JSON object with one list")
        else:
            depth -= 1
    if _SPECIAL.search(text, pos):
        raise _Refused(1008, f"control message holds more than {_TOKENS} strings and brackets: not a report")


def _out_of_order(kind: str, seen: set[str]) -> str | None:
    """Why a browser's WebSocket cannot report *kind* after the kinds *seen*; None when it can.

    One WebSocket a page: connect first; open only while connecting (no error yet); messages and
    errors between open (connect, for errors) and closed; send once no longer connecting and close
    after connect, also once closed (the browser does not throw); refused (what the browser threw)
    at any time.
    """
    if kind in ("hello", "refused"):
        return None
    if kind == "connect":
        return "a second 'connect'" if "connect" in seen else None
    if "connect" not in seen:
        return f"{kind!r} before 'connect'"
    if kind == "close":
        return None
    if kind == "send":  # send() throws only while connecting; past that the page reports it
        return None if seen & {"open", "close", "error", "closed"} else "'send' while connecting"
    if "closed" in seen:
        return f"{kind!r} after 'closed'"
    if kind == "open":
        return "a second 'open'" if "open" in seen else "'open' after 'error'" if "error" in seen else None
    if kind == "message" and "open" not in seen:
        return "'message' before 'open'"
    return None


class BrowserLink:
    """The bench's end of one browser page's WebSocket (see :meth:`Bench.browser_connect`).

    The page reports on a control socket what its WebSocket did and saw, and takes the commands of
    :meth:`command`; its WebSocket is paired with this link by a one-time secret (:attr:`pair_secret`)
    in its query. Specification (the two sockets, pairing): ``docs/modules/wsbench.browser_link.md``.
    """

    def __init__(self, bench_transcript: Transcript, path: str, *, timeout: float) -> None:
        self.token = secrets.token_urlsafe(16)
        #: the secret the page's WebSocket carries in its query (:data:`PAIR_PARAM`), handed over with "open"
        self.pair_secret = secrets.token_urlsafe(16)
        self.path = path  #: as the page asks for it (a query included)
        self.route = path.partition("?")[0]
        self.timeout = timeout
        self.key = id(self)  #: the conn key of its events (both sides print as one connection)
        #: this page's conversation, both sides: a view of the bench's log (each event kept once),
        #: or a transcript of its own beside a bench that keeps nothing (``wsbench serve``'s)
        self.transcript: Transcript = (
            bench_transcript._connection_view(self.key) if bench_transcript._keeps() else Transcript()
        )
        self.name: str | None = None  #: what every view calls it (the bench names it)
        self.gate = Gate()  #: notified on every report and when the page comes or goes
        self._sinks = stores(bench_transcript, self.transcript)
        # the rest is guarded by gate.lock
        self.attached = False  #: a page runs it now
        self.ever_attached = False
        self.state = "waiting for a page"  #: then connecting, open, closing, closed (the WebSocket's)
        self.url: str | None = None  #: the URL the page opened
        self.protocol = ""  #: ws.protocol
        self.extensions = ""  #: ws.extensions
        self.buffered_amount = 0  #: ws.bufferedAmount, as the page last reported it
        self.close_code: int | None = None
        self.close_reason = ""
        self.why_gone = ""  #: why the bench closed the page's control socket, if it did
        self.user_agent = ""  #: the browser's, as the page said hello
        self.expecting = False  #: the page's WebSocket may connect now (once, with the secret)
        self._next = 0
        self._seen: set[str] = set()  # the kinds reported so far
        self._ids = 0
        self._waiting: dict[int, Event | None] = {}  # command id -> the report answering it
        self._outbox: asyncio.Queue[dict[str, Any]] | None = None

    # -- on the bench's loop ------------------------------------------------------------

    def claim(self) -> asyncio.Queue[dict[str, Any]] | None:
        """A page's control socket arrived: its queue of commands, or None if a page came before."""
        with self.gate.lock:
            if self.ever_attached:
                return None
            self.attached = self.ever_attached = True
            self._outbox = asyncio.Queue()
            self.gate.notify()
            return self._outbox

    def detach(self, why: str = "") -> None:
        """The page's control socket ended."""
        with self.gate.lock:
            self.attached = self.expecting = False
            self.why_gone = self.why_gone or why
            self.gate.notify()

    def take(self, text: object) -> None:
        """Check one report of the page and record it; _Refused if it is not one the bench takes."""
        with self.gate.lock:
            report = _report(text, self._next)
            self._next += 1
            kind = report["kind"]
            why = _out_of_order(kind, self._seen)
            if why is not None:
                raise _Refused(1008, f"{why}: not an order a browser's WebSocket reports")
            self._seen.add(kind)
            if kind == "hello":
                self.user_agent = report.get("ua") or ""
                self.expecting = True
                assert self._outbox is not None
                self._outbox.put_nowait({"op": "open", "pair": self.pair_secret})
                return
            fields: dict[str, Any] = {}
            if kind == "connect":
                self.url, self.state = report.get("data"), "connecting"
                fields["data"] = self.url
                if report.get("protocols"):
                    fields["headers"] = (("Sec-WebSocket-Protocol", ", ".join(report["protocols"])),)
            elif kind == "open":
                self.state, self.protocol = "open", report.get("detail") or ""
                self.extensions = report.get("extensions") or ""
                fields["detail"] = self.protocol or None
            elif kind == "message":
                fields["data"] = report.get("text", report.get("bytes"))
                fields["detail"] = report.get("detail")
            elif kind == "send":  # bufferedAmount: in records and JSON Lines, not in the text form (it varies)
                fields["data"] = report.get("text", report.get("bytes"))
                if report.get("buffered") is not None:
                    fields["detail"] = f"bufferedAmount {report['buffered']}"
            elif kind == "close":
                self.state = "closing" if self.state != "closed" else self.state
                fields.update(code=report.get("code"), reason=report.get("reason") or "")
            elif kind == "closed":
                self.state, self.expecting = "closed", False
                self.close_code, self.close_reason = report.get("code"), report.get("reason") or ""
                clean = "true" if report.get("clean") else "false"
                fields.update(code=self.close_code, reason=self.close_reason, detail=f"wasClean {clean}")
            else:  # error, refused
                fields["detail"] = report.get("detail")
            if report.get("buffered") is not None:
                self.buffered_amount = report["buffered"]
            event = record(*self._sinks, side="browser", kind=kind, conn=self.key, name=self.name, **fields)
            if report.get("re") in self._waiting:
                self._waiting[report["re"]] = event
            self.gate.notify()

    # -- from a cell's thread -------------------------------------------------------------

    def command(self, op: str, timeout: float | None = None, **fields: Any) -> Event:
        """Have the page do *op* (``send`` with ``text`` or ``bytes``, ``close`` with ``code`` and
        ``reason``) and return the event it reports for it ("refused" when its WebSocket threw).

        Waits up to *timeout* seconds for a page to show the widget, then for its report: a
        :class:`~wsbench.Timeout` that says so otherwise. Nothing is queued for a page to come.
        """
        timeout = self.timeout if timeout is None else timeout
        if self.gate.wait(lambda: self.ever_attached, timeout) is None:
            raise Timeout(f"{op}: {_NO_PAGE} (waited {timeout} s)")
        with self.gate.lock:
            if not self.attached:
                raise Timeout(f"{op}: {_GONE.format(why=self.why_gone or 'the page went away')}")
            self._ids += 1
            ident = self._ids
            self._waiting[ident] = None
            outbox = self._outbox
        assert outbox is not None
        if "bytes" in fields:
            fields["bytes"] = base64.b64encode(fields["bytes"]).decode("ascii")
        loop.get_loop().call_soon_threadsafe(outbox.put_nowait, {"op": op, "id": ident, **fields})
        try:
            answered = self.gate.wait(lambda: self._waiting[ident] or (not self.attached and "gone"), timeout)
        finally:
            with self.gate.lock:
                event = self._waiting.pop(ident, None)
        if event is not None:
            return event
        if answered == "gone":
            raise Timeout(f"{op}: {_GONE.format(why=self.why_gone or 'the page went away')}")
        raise Timeout(f"{op}: the page did not report doing it within {timeout} s")

    def wait(self, ready: Callable[[], Any], what: str, timeout: float | None) -> Any:
        """Wait until ``ready()`` (called with the lock held) is truthy and return it; a Timeout that
        says whether a page ever showed the widget otherwise."""
        timeout = self.timeout if timeout is None else timeout
        result = self.gate.wait(lambda: ready() or (self.ever_attached and not self.attached and "gone"), timeout)
        if result == "gone" and not ready():
            raise Timeout(f"{what}: {_GONE.format(why=self.why_gone or 'the page went away')}")
        if result is None:
            if not self.ever_attached:
                raise Timeout(f"{what}: {_NO_PAGE} (waited {timeout} s)")
            raise Timeout(f"{what}: not within {timeout} s (the WebSocket is {self.state})")
        return result


def pair(
    links: Mapping[str, BrowserLink], route: str, scope: dict[str, Any]
) -> tuple[BrowserLink, dict[str, Any]] | None:
    """The link whose page's WebSocket this new connection on *route* is, and the scope its app sees; None
    for any other connection.

    The page's WebSocket carries its link's one-time secret as the last query parameter
    (:data:`PAIR_PARAM`); the link takes the first connection that does, on its path, while it expects
    its page's (compared in constant time). The app's scope is a copy with the parameter taken out, so
    the endpoint sees the query the widget asked for.
    """
    query = bytes(scope.get("query_string") or b"")
    head, _, last = query.rpartition(b"&")
    name, equals, value = last.partition(b"=")
    if name != _PAIR_NAME or not equals:
        return None
    for link in list(links.values()):  # a cell may add one meanwhile
        with link.gate.lock:
            if link.expecting and route == link.route and hmac.compare_digest(value, link.pair_secret.encode()):
                link.expecting = False
                return link, {**scope, "query_string": head}
    return None


_PAIR_NAME = PAIR_PARAM.encode()


async def control(link: BrowserLink | None, receive: Callable, send: Callable) -> None:
    """Answer a page's control socket: take its reports, send it the link's commands."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    outbox = link.claim() if link is not None else None
    if link is None or outbox is None:
        reason = "unknown token" if link is None else "another page runs this widget's WebSocket already"
        await send({"type": "websocket.close", "code": 1008, "reason": reason})
        return

    async def write() -> None:
        while True:
            await send({"type": "websocket.send", "text": json.dumps(await outbox.get())})

    writer = asyncio.ensure_future(write())
    writer.add_done_callback(lambda task: task.cancelled() or task.exception())  # a closed socket: nobody to tell
    why = ""
    try:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                break
            try:
                link.take(message.get("text") if message.get("text") is not None else message.get("bytes"))
            except _Refused as refused:
                why = f"{refused.code} {refused.reason}"
                await send({"type": "websocket.close", "code": refused.code, "reason": refused.reason})
                break
    finally:
        writer.cancel()
        link.detach(why)
