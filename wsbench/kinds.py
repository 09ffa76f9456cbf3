"""What events exist: every kind of :class:`~wsbench.Event`, with its side, meaning and fields.

The one place that says so: :data:`KINDS` (one :class:`Kind` per side and name) and the named
sets of kinds other modules take from here instead of spelling them out again. Nothing here
checks events; ``tests/test_kinds.py`` checks that every kind wsbench records is here. Standard
library only. The sides, the sets, who closed and who sent: ``docs/modules/wsbench.kinds.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "ALWAYS",
    "APP_SENDS",
    "BROWSER_ACTIONS",
    "CAUSED",
    "CAUSES",
    "CLIENT_ACTIONS",
    "CLIENT_SIDES",
    "CLOSED_BY",
    "CLOSING",
    "DISRUPTIONS",
    "HEALS",
    "KINDS",
    "LOG_KINDS",
    "NOTICES",
    "READER_KINDS",
    "SETTINGS",
    "SIDES",
    "Kind",
]

#: The sides an event comes from.
SIDES = ("client", "server", "proxy", "browser")

#: The sides that are a connection's client end: a wsbench Connection, or a browser page's WebSocket.
CLIENT_SIDES = ("client", "browser")

#: Who sent the first close frame, as a client's "closed" event records it (``Event.by``; None: neither).
CLOSED_BY = ("client", "server")


@dataclass(frozen=True)
class Kind:
    """One kind of event: its side, its name (``Event.kind``), what it means, and the
    :class:`~wsbench.Event` fields it may carry besides those every event may carry
    (:data:`ALWAYS`: seq, time, side, kind, conn and name)."""

    side: str
    name: str
    meaning: str
    fields: tuple[str, ...] = ()


#: The fields any event may carry, whatever its kind: name is the connection's (``bench.connect(path,
#: name="ann")``, or "c1", "c2" ... in order of opening), None where nothing named it.
ALWAYS = ("seq", "time", "side", "kind", "conn", "name")

#: On what the app sends (:data:`APP_SENDS`), who made it: ``handler`` names the task that ran the
#: ASGI send (the name of the connection whose handler it is, or ``task <task name>`` for any other
#: task), ``cause`` is the seq of that task's last ``websocket.receive`` (None: it had received none).
#: So a send on bob's socket made by ann's handler says so, and which of ann's messages it answers.
CAUSED = ("handler", "cause")

_STATES = ("client_state", "application_state")  # every ASGI message: the WebSocket's states after it
# detail on an ASGI message: the subprotocol of an accept, or the app's mistake (a payload neither str nor bytes)
_ASGI = ("detail", *_STATES)

_ALL = (
    # -- client: what a Connection did (its caller) and saw (its reader) --------------------
    Kind(
        "client", "connect", "starts the opening handshake: data is the URL, headers the request's", ("data", "headers")
    ),
    Kind("client", "open", "the handshake succeeded: detail is the agreed subprotocol", ("detail",)),
    Kind(
        "client",
        "rejected",
        "the server answered the handshake with HTTP: code is the status, data the body",
        ("data", "code"),
    ),
    Kind("client", "error", "the handshake failed without an HTTP answer: detail names the error", ("detail",)),
    Kind("client", "send", "sent a message: data is its text or bytes", ("data",)),
    Kind("client", "receive", "received a message: data is its text or bytes", ("data",)),
    Kind("client", "ping", "sent a ping"),
    Kind("client", "pong", "received the pong"),
    Kind("client", "close", "starts the closing handshake with code and reason", ("code", "reason")),
    Kind(
        "client",
        "closed",
        "the connection ended: code and reason, detail as websockets tells it, by who closed first",
        ("code", "reason", "detail", "by"),
    ),
    Kind(
        "client",
        "reconnect",
        "auto_reconnect tries again: code is why it dropped, detail the attempt",
        ("code", "detail"),
    ),
    # -- server: the ASGI messages in and out of the endpoint, and how it ended -------------
    Kind(
        "server",
        "websocket.connect",
        "the client asks to open: detail is the path and query it asked for, below root_path",
        _ASGI,
    ),
    Kind(
        "server",
        "websocket.accept",
        "the endpoint accepts: detail is the subprotocol, headers its own",
        ("headers", *_ASGI, *CAUSED),
    ),
    Kind("server", "websocket.receive", "a message from the client: data", ("data", *_ASGI)),
    Kind("server", "websocket.send", "the endpoint sends a message: data", ("data", *_ASGI, *CAUSED)),
    Kind(
        "server",
        "websocket.close",
        "the endpoint closes (before accepting: HTTP 403)",
        ("code", "reason", *_ASGI, *CAUSED),
    ),
    Kind("server", "websocket.disconnect", "the client is gone: code and reason", ("code", "reason", *_ASGI)),
    Kind(
        "server",
        "websocket.http.response.start",
        "a denial response starts: code is the status, headers the response's",
        ("code", "headers", *_ASGI, *CAUSED),
    ),
    Kind("server", "websocket.http.response.body", "a denial response's body: data", ("data", *_ASGI, *CAUSED)),
    Kind(
        "server",
        "send failed",
        "a message the endpoint sent did not go out: detail says why",
        ("detail", *CAUSED),
    ),
    Kind("server", "exception", "the endpoint raised: detail names the exception", ("detail",)),
    Kind("server", "return", "the endpoint returned", ("detail",)),
    Kind(
        "server",
        "blocked",
        "the endpoint blocked the bench's loop (time.sleep, CPU work): detail says how long",
        ("detail",),
    ),
    # -- browser: what a page's WebSocket did and saw, as the page reported it ----------------
    # The page reports over its own control socket (wsbench.server.BrowserLink); nothing here
    # depends on timing (bufferedAmount, ports), so these print alike on every run.
    Kind(
        "browser",
        "connect",
        "new WebSocket(url, protocols): data is the URL, headers the Sec-WebSocket-Protocol it asks for",
        ("data", "headers"),
    ),
    Kind(
        "browser", "open", "the open event: detail is the subprotocol the browser was given (ws.protocol)", ("detail",)
    ),
    Kind(
        "browser",
        "send",
        "ws.send(): data is its text or bytes; detail is ws.bufferedAmount just after, as the page reported it",
        ("data", "detail"),
    ),
    Kind(
        "browser",
        "message",
        "a message event: data is its text or bytes, detail the binaryType it came as (ArrayBuffer, Blob)",
        ("data", "detail"),
    ),
    Kind("browser", "error", "an error event (the browser says no more than that)", ("detail",)),
    Kind(
        "browser",
        "refused",
        "the page's WebSocket threw (close(1001), send() while CONNECTING ...): detail is the DOMException",
        ("detail",),
    ),
    Kind("browser", "close", "ws.close(code, reason): the page starts the closing handshake", ("code", "reason")),
    Kind(
        "browser",
        "closed",
        "the close event: code and reason, detail whether it was clean (wasClean)",
        ("code", "reason", "detail"),
    ),
    # -- proxy: what a FaultProxy did and saw (detail says what) -----------------------------
    Kind("proxy", "fault", "a fault set, or in force when the connection began", ("detail",)),
    Kind("proxy", "half-open", "stops forwarding one way or both", ("detail",)),
    Kind("proxy", "heal", "forwards again", ("detail",)),
    Kind("proxy", "clear", "every fault lifted", ("detail",)),
    Kind("proxy", "cut", "the cut point was reached: reset both TCP connections", ("detail",)),
    Kind("proxy", "reset", "one side reset its TCP connection: the proxy reset the other", ("detail",)),
    Kind("proxy", "eof", "one side closed its TCP connection", ("detail",)),
    Kind("proxy", "stop", "the proxy stopped: closed both TCP connections", ("detail",)),
    Kind("proxy", "upstream error", "cannot reach the target: answered HTTP 502 or closed", ("detail",)),
    # -- any side: the transcript's spool could not keep some events (the disk failed) ---------
    *(
        Kind(side, "not kept", "in place of events the disk failed to keep: detail says how many", ("detail",))
        for side in ("client", "server", "proxy", "browser")
    ),
)

#: Every kind, by (side, name).
KINDS: Mapping[tuple[str, str], Kind] = MappingProxyType({(kind.side, kind.name): kind for kind in _ALL})

# -- who records what --------------------------------------------------------------------

#: Client kinds its reader records (what arrives); the rest come from the calls a cell makes.
READER_KINDS = frozenset({"receive", "closed"})

#: Client kinds of what the client does; the rest is what it is answered.
CLIENT_ACTIONS = ("connect", "send", "ping", "close")

#: Browser kinds of what the page's WebSocket does (drawn →); the rest is what it is answered.
BROWSER_ACTIONS = ("connect", "send", "close")

#: Server kinds the app sends (drawn →); the rest it receives.
APP_SENDS = frozenset(
    {
        "websocket.accept",
        "websocket.send",
        "websocket.close",
        "websocket.http.response.start",
        "websocket.http.response.body",
    }
)

#: ((side, cause kind), (side, effect kind)): in one connection, the k-th cause precedes the k-th effect.
CAUSES = (
    (("client", "connect"), ("server", "websocket.connect")),
    (("server", "websocket.accept"), ("client", "open")),
    (("client", "send"), ("server", "websocket.receive")),
    (("server", "websocket.send"), ("client", "receive")),
    (("client", "close"), ("server", "websocket.disconnect")),
    (("server", "websocket.close"), ("client", "closed")),
    (("client", "close"), ("client", "closed")),
    (("client", "open"), ("client", "receive")),
    (("client", "open"), ("client", "closed")),
    (("server", "websocket.close"), ("client", "rejected")),  # close before accept: HTTP 403
    (("server", "websocket.http.response.body"), ("client", "rejected")),  # a denial response
    (("server", "exception"), ("client", "closed")),  # uvicorn drops the connection: 1006
    (("server", "return"), ("client", "closed")),
    (("client", "close"), ("server", "send failed")),  # the endpoint wrote to a closed connection
    (("proxy", "cut"), ("client", "closed")),  # the proxy reset both TCP connections
    (("proxy", "cut"), ("server", "websocket.disconnect")),
    (("proxy", "stop"), ("client", "closed")),
    (("proxy", "upstream error"), ("client", "rejected")),  # the proxy's own HTTP 502
    (("client", "closed"), ("client", "reconnect")),  # auto_reconnect: after the drop
    # a browser page's WebSocket: one chain of its own (the page reports in the order it saw)
    (("browser", "connect"), ("server", "websocket.connect")),
    (("server", "websocket.accept"), ("browser", "open")),
    (("browser", "send"), ("server", "websocket.receive")),
    (("server", "websocket.send"), ("browser", "message")),
    (("browser", "close"), ("server", "websocket.disconnect")),
    (("server", "websocket.close"), ("browser", "closed")),
    (("server", "websocket.close"), ("browser", "error")),  # close before accept: HTTP 403, an error event
    (("server", "websocket.http.response.body"), ("browser", "error")),  # a denial response
    (("server", "exception"), ("browser", "closed")),  # uvicorn drops the connection: 1006
    (("server", "return"), ("browser", "closed")),
)

# -- a proxy's faults and who noticed them -------------------------------------------------

#: Proxy kinds a cell causes (setting or lifting a fault), or the proxy records for the faults
#: in force before it forwards a connection's first byte.
SETTINGS = frozenset({"fault", "half-open", "heal", "clear"})

#: Proxy kinds that end a disruption.
HEALS = frozenset({"heal", "clear"})

#: Proxy kinds that disturb a connection: :func:`wsbench.transcript.noticed` measures from them.
DISRUPTIONS = frozenset({"cut", "half-open", "reset", "stop", "upstream error"})

#: (side, kind) of the events by which a side shows that it noticed a failure or an end.
NOTICES = frozenset(
    {
        ("client", "closed"),
        ("client", "error"),
        ("client", "rejected"),
        ("server", "websocket.disconnect"),
        ("server", "exception"),
        ("server", "send failed"),
    }
)

# -- what the widgets show ----------------------------------------------------------------

#: Kinds of the closing handshake, either side: the widgets draw them in the close colour.
CLOSING = frozenset({"close", "closed", "websocket.close", "websocket.disconnect"})

#: Client kinds the panel's log shows (every other event stays in the transcript only).
LOG_KINDS = frozenset({"connect", "open", "send", "receive", "ping", "pong", "close", "closed", "rejected", "error"})
