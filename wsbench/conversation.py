"""A transcript read as a conversation: which connections it holds, how to open one again.

* :func:`connections` and :func:`select` find the connections with a client side, numbered
  #1, #2 ... as the transcript prints them, and a connection's client events in order; a
  browser page's WebSocket is one, read as the Python client doing what it did (:func:`as_clients`).
* :func:`plan` says how to open a recorded connection again (path and query, extra
  headers, subprotocols, origin, compression); it never sends what was recorded as
  ``***``: a masked secret must be given again (:func:`secrets_in` lists what a plan holds).
* JSON compared with ignore paths, and the helpers generated tests call, live in
  :mod:`wsbench.asserts` (re-exported here for test files generated before it existed).

Pure logic: :mod:`wsbench.replay` (the executor and the diff) and :mod:`wsbench.codegen`
(pytest source) are built on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote_plus, urlsplit, urlunsplit

from .asserts import (
    Receiving,
    assert_json_matches,
    compile_ignore,
    differing_paths,
    expect_close,
    json_differences,
    json_value,
    without_ignored,
)
from .errors import InvalidTranscript
from .secrets import MASK, is_secret_header, is_secret_param, mask_subprotocols, mask_url
from .transcript import Event, Transcript, by_connection

__all__ = [
    "MORE",
    "Plan",
    "Receiving",
    "as_clients",
    "assert_json_matches",
    "compile_ignore",
    "connection_label",
    "connections",
    "differing_paths",
    "expect_close",
    "json_differences",
    "json_value",
    "merge_query",
    "path_of",
    "plan",
    "secrets_in",
    "select",
    "target_url",
    "without_ignored",
]

#: The most messages a replay takes past the recorded ones (a server may send for ever): after the
#: last recorded step of one connection (:mod:`wsbench.replay`), and for each client of several,
#: while waiting for a recorded message and in the comparison (:mod:`wsbench.replay_many`).
MORE = 100

# Request headers the WebSocket client writes itself: not replayed as extra headers.
_PROTOCOL_HEADERS = {
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "user-agent",
    "origin",
}


# -- reading a transcript ----------------------------------------------------------------


#: What a browser page's WebSocket did, as the Python client that does it again does it (its
#: other events, an error or a call the browser refused, are nothing a client does again).
_BROWSER_AS_CLIENT = {
    "connect": "connect",
    "open": "open",
    "send": "send",
    "message": "receive",
    "close": "close",
    "closed": "closed",
}


def as_clients(events: Iterable[Event]) -> list[Event]:
    """*events*, each browser page's WebSocket (side "browser") as the Python client doing what it
    did: its message events are its receives, it connects to the path and query its endpoint saw
    (the page's own URL may go through Jupyter's proxy), and its end says who closed first (the
    page, when it called close; else the server, when the close was clean). The rest as they are."""
    events = list(events)
    if not any(e.side == "browser" for e in events):
        return events
    asked = {e.conn: e.detail for e in events if e.side == "server" and e.kind == "websocket.connect" and e.detail}
    closing: set[int] = set()  # pages that called close()
    mapped = []
    for event in events:
        if event.side != "browser":
            mapped.append(event)
            continue
        kind = _BROWSER_AS_CLIENT.get(event.kind)
        if kind is None:
            continue
        fields: dict[str, Any] = {"side": "client", "kind": kind, "detail": event.detail if kind == "open" else None}
        if kind == "connect":
            fields["data"] = asked.get(event.conn) or path_of(event.data)
        elif kind == "close":
            closing.add(event.conn)
        elif kind == "closed":
            fields["by"] = "client" if event.conn in closing else "server" if event.detail == "wasClean true" else None
        mapped.append(event._replace(**fields))
    return mapped


def path_of(url: Any) -> str:
    """The path and query of a recorded URL ("/" when it has none): the host and port change
    from run to run, and a replay goes to its own target."""
    rest = str(url or "/").split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def connections(transcript: Iterable[Event]) -> list[tuple[int, list[Event]]]:
    """(number, events) of each connection with a client side (a browser page's too: :func:`as_clients`),
    numbered as the transcript prints them."""
    found = []
    for number, events in enumerate(by_connection(transcript), 1):
        events = as_clients(events)
        if any(e.side == "client" and e.kind == "connect" for e in events):
            found.append((number, events))
    return found


def select(transcript: Transcript, conn: int | None) -> tuple[int, list[Event]]:
    """The connection *conn* (numbered #1, #2 ... as printed), or the only one; its client events in order."""
    if not isinstance(transcript, Transcript):
        raise TypeError(f"expected a wsbench.Transcript, got {type(transcript).__name__}")
    found = connections(transcript)
    if not found:
        has_client = any(e.side == "client" for e in transcript)
        raise InvalidTranscript(
            "the transcript has no client side to replay: "
            + (
                "no client 'connect' event"
                if has_client
                else f"its {len(transcript)} events are all server-side"
                if len(transcript)
                else "it is empty"
            )
            + "; record one with wsbench.connect(url) or bench.connect(path) and use conn.transcript"
        )
    if conn is None:
        if len(found) > 1:
            listed = ", ".join(f"#{n} {connection_label(events)}" for n, events in found)
            raise InvalidTranscript(
                f"the transcript holds {len(found)} connections ({listed}); pick one with conn=<number>"
            )
        number, events = found[0]
    else:
        chosen = [(n, events) for n, events in found if n == conn]
        if not chosen:
            numbers = ", ".join(str(n) for n, _ in found)
            raise InvalidTranscript(f"the transcript has no connection #{conn} with a client side; it has {numbers}")
        number, events = chosen[0]
    # "reconnect" is auto_reconnect's note that this connection ended and the next began: not part of it
    client = sorted((e for e in events if e.side == "client" and e.kind != "reconnect"), key=lambda e: e.seq)
    if client[0].kind != "connect" or not isinstance(client[0].data, str):
        raise InvalidTranscript(f"connection #{number}: the client side does not start with a 'connect' event")
    return number, client


def connection_label(events: list[Event]) -> str:
    """The path and query a connection's client "connect" event opened, secrets masked: how it is named."""
    connect = next(e for e in events if e.side == "client" and e.kind == "connect")
    url = connect.data if isinstance(connect.data, str) else ""
    parts = urlsplit(url)
    return mask_url((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))


class Plan(NamedTuple):
    """How to open a recorded connection again: path and query, and the options of ``connect``."""

    path: str  #: path and query, with the real secret values
    headers: list[tuple[str, str]]  #: request headers the user added (protocol headers left out)
    options: dict[str, Any]  #: subprotocols, origin, compression, as recorded


def plan(
    number: int,
    connect: Event,
    client: list[Event],
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    subprotocols: Sequence[str] | None = None,
    hint: str,
) -> Plan:
    """The path, headers and options to open connection *number* again; InvalidTranscript for
    a value recorded as ``***`` that neither *params*, *headers* nor *subprotocols* (which
    replaces the recorded offer) supplies (*hint* says how)."""
    assert isinstance(connect.data, str)
    given_params = dict(params or {})
    given_headers = list(headers.items() if isinstance(headers, Mapping) else headers or [])
    given_names = {name.lower() for name, _ in given_headers}
    missing: list[str] = []
    parts = urlsplit(connect.data)
    pairs = []
    for pair in parts.query.split("&") if parts.query else []:
        name, _, value = pair.partition("=")
        plain_name = unquote_plus(name)
        if value == MASK:
            if plain_name in given_params:
                pair = f"{name}={quote(str(given_params.pop(plain_name)), safe='')}"
            else:
                missing.append(f"query parameter {plain_name!r}")
        pairs.append(pair)
    if given_params:  # the rest are added to the query, as connect(params=...) does
        pairs.extend(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in given_params.items())
    path = (parts.path or "/") + ("?" + "&".join(pairs) if pairs else "")
    recorded = list(connect.headers or ())
    names = {name.lower() for name, _ in recorded}
    extra = []
    for name, value in recorded:
        lower = name.lower()
        if lower in _PROTOCOL_HEADERS or lower in given_names:
            continue
        if value == MASK:
            missing.append(f"header {name!r}")
        extra.append((name, value))
    extra.extend(given_headers)
    options: dict[str, Any] = {}
    offered = next((v for n, v in recorded if n.lower() == "sec-websocket-protocol"), None)
    agreed = next((e.detail for e in client if e.kind == "open" and e.detail), None)
    if subprotocols is not None:
        options["subprotocols"] = list(subprotocols)
    elif offered:
        options["subprotocols"] = [p.strip() for p in offered.split(",") if p.strip()]
    elif agreed:
        options["subprotocols"] = [agreed]
    if any(MASK in value for value in options.get("subprotocols", ())):
        missing.append(f"subprotocols {options['subprotocols']!r}")
    if missing:
        raise InvalidTranscript(
            f"connection #{number} was saved with its secrets masked ({', '.join(missing)}), and wsbench "
            f"will not send {MASK!r} as if it were the real value: {hint}"
        )
    origin = next((v for n, v in recorded if n.lower() == "origin"), None)
    if origin:
        options["origin"] = origin
    if recorded and "sec-websocket-extensions" not in names:
        options["compression"] = False
    return Plan(path, extra, options)


def secrets_in(plan: Plan) -> list[str]:
    """What in a plan is a secret (:mod:`wsbench.secrets`): "query parameter 'token'", "header
    'Authorization'", "subprotocols ['access_token', '***']" (shown masked)."""
    parts = urlsplit(plan.path)
    found = [
        f"query parameter {name!r}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if value and is_secret_param(name)
    ]
    found += [f"header {name!r}" for name, value in plan.headers if value and is_secret_header(name)]
    offered = plan.options.get("subprotocols") or []
    shown = mask_subprotocols(offered)
    if shown != list(offered):
        found.append(f"subprotocols {shown!r}")
    return found


def target_url(url: str, recorded: str) -> str:
    """The URL a replay opens on *url* for a connection recorded at *recorded* (its path and query).

    A base URL (no path, or ``/``) gets the recorded path; a full URL (with a path) keeps its
    own. Either way the recorded query is kept, merged with the URL's: a parameter of the URL
    replaces the recorded ones of that name, in place; the others are added at the end. The
    URL's fragment is dropped (it is never sent). Pure: no I/O, no checks.
    """
    parts = urlsplit(url)
    done = urlsplit(recorded)
    path = (done.path or "/") if parts.path in ("", "/") else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, merge_query(done.query, parts.query), ""))


def merge_query(recorded: str, given: str) -> str:
    """*recorded* with the parameters of *given* in place of those of the same name; the rest of
    *given* at the end. Pairs are kept as written (no re-encoding); names compare decoded."""
    given_pairs = [pair for pair in given.split("&") if pair]
    by_name: dict[str, list[str]] = {}
    for pair in given_pairs:
        by_name.setdefault(unquote_plus(pair.partition("=")[0]), []).append(pair)
    merged: list[str] = []
    for pair in (p for p in recorded.split("&") if p):
        name = unquote_plus(pair.partition("=")[0])
        if name not in by_name:
            merged.append(pair)
        elif by_name[name]:  # the first recorded one is replaced by the given ones; later ones dropped
            merged.extend(by_name[name])
            by_name[name] = []
    merged.extend(pair for pairs in by_name.values() for pair in pairs)
    return "&".join(merged)
