"""The timeline's picture: one SVG per connection, both sides (and a proxy's) side by side,
in causal order; only what happened is drawn (see the layout notes below). Pure: events in,
HTML out; :mod:`wsbench.widgets.timeline` wraps it in a widget."""

from __future__ import annotations

import textwrap
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .._jupyter import no_proxy_port
from .._net import is_loopback, loopback_path
from .._text import cut, printable
from ..codes import describe
from ..kinds import CLIENT_SIDES, CLOSING
from ..transcript import Event, causal_order, noticed, paths_said, said_once
from ..transcript.causal import paired
from ._render import _control, _size, _t, body_kind

__all__ = ["Windows", "timeline_html"]


# -- the timeline -------------------------------------------------------------------
#
# Layout: one row per event, in causal order, rows as tall as their wrapped labels; client
# labels right-aligned left of the client lane, server labels right of the server lane (then
# the ASGI states), a proxy's under its diamond in the middle. Arrows join a message to its
# other end; each arrow's label sits above its line, next to the end it starts from (or the
# end it reaches, where another arrow arrives at its start), in room reserved above that row.
# Only what happened is drawn: a close frame is drawn to the client only if the client
# received one. A connection with no server-side events (a URL outside the bench) gets a
# "server (not observed)" lane: the client's frames go to it and what it received comes from it.
# Text is 12 px or more, dark on white, and every label has its full text as a tooltip.
# What the endpoint sent that is known never to have arrived (a close after the client left, a send
# that failed) is a stub ending in a cross, short of the client's lane, its label "(went nowhere)"
# beside the message on the server lane, where no arrow runs. A proxy's label goes where
# no arrow runs through it: between the lanes if there is room, else in the server's label column.
# The SVG is as wide as its container up to its natural width (a viewBox): in a narrow notebook it
# scales down, so every column (the states too) stays in view, and no scroll bar hides them.

# (cause side, cause kind) -> (effect side, effect kind): the k-th cause is drawn as an arrow to
# the k-th effect. The last rule is a fallback: the close frame uvicorn answers a client's close
# with is not an ASGI message, so it is drawn dashed from the endpoint's disconnect.
_ARROWS = (
    (("client", "connect"), ("server", "websocket.connect"), False),
    (("server", "websocket.accept"), ("client", "open"), False),
    (("client", "send"), ("server", "websocket.receive"), False),
    (("server", "websocket.send"), ("client", "receive"), False),
    (("client", "close"), ("server", "websocket.disconnect"), False),
    (("server", "websocket.close"), ("client", "closed"), False),
    (("server", "websocket.close"), ("client", "rejected"), False),
    (("server", "websocket.http.response.start"), ("client", "rejected"), False),
    (("server", "websocket.disconnect"), ("client", "closed"), True),
    # a browser page's WebSocket, drawn in the client's place (its lane says "browser")
    (("browser", "connect"), ("server", "websocket.connect"), False),
    (("server", "websocket.accept"), ("browser", "open"), False),
    (("browser", "send"), ("server", "websocket.receive"), False),
    (("server", "websocket.send"), ("browser", "message"), False),
    (("browser", "close"), ("server", "websocket.disconnect"), False),
    (("server", "websocket.close"), ("browser", "closed"), False),
    (("server", "websocket.close"), ("browser", "error"), False),
    (("server", "websocket.http.response.start"), ("browser", "error"), False),
    (("server", "websocket.disconnect"), ("browser", "closed"), True),
)

# Without the server's side: what the client sent (arrow to the unobserved server) and what it received.
_SENT = frozenset({"connect", "send", "ping", "close"})
_RECEIVED = frozenset({"open", "receive", "message", "pong", "rejected", "closed"})

_FONT, _LINE = 12, 15  # px: the smallest text, and the distance between two wrapped lines
_X_CLIENT, _X_SERVER = 250, 620
_X_PROXY = (_X_CLIENT + _X_SERVER) // 2  # the middle lane, drawn when a FaultProxy took part
_X_STUB = _X_SERVER - (_X_SERVER - _X_CLIENT) * 30 // 100  # where a message that went nowhere stops
_X_CLIENT_STATE, _X_APP_STATE = 935, 1045
_W_OBSERVED, _W_EXTERNAL = 1175, 720
_HEAD = 62  # the y of the first row when it needs no room above it
_CLIENT_CHARS, _SERVER_CHARS, _ARROW_CHARS, _PROXY_CHARS = 30, 40, 40, 44  # wrap widths (12 px monospace)
_V_CHARS = 24  # wrap width of a label between two arrows that meet (a V)
_MAX_LINES = 4  # a label longer than this many lines ends in "…" (its tooltip has all of it)
_CHAR = 0.61 * _FONT  # the width of one character (monospace)
_ROW_MIN = 26


def _client_label(event: Event) -> str:
    if event.kind in ("send", "receive", "message"):
        binary = f", {event.detail}" if event.kind == "message" and event.detail else ""  # ArrayBuffer, Blob
        return f"{event.kind} {body_kind(event.data)} ({_size(event.size)}{binary})"
    words = no_proxy_port(_control(event)[1])
    if event.kind == "closed" and not _close_frame_received(event) and event.detail:
        words += f": {event.detail}"  # "no close frame received or sent": the reason nothing is drawn to it
    return words


def _server_label(event: Event) -> str:
    if not event.kind.startswith("websocket."):
        return f"! {event.detail or event.kind}"
    if event.kind in ("websocket.close", "websocket.disconnect"):
        return f"{event.kind} {describe(event.code, event.reason or '')}"
    if event.kind == "websocket.http.response.start":
        return f"{event.kind} {event.code}"
    return event.kind


def _proxy_label(event: Event) -> str:
    return f"{event.kind}: {event.detail}" if event.detail else event.kind


def _arrow_label(cause: Event) -> str:
    if cause.kind in CLOSING:
        return describe(cause.code, cause.reason or "")
    if cause.kind == "connect":
        return f"GET {no_proxy_port(loopback_path(cause.data)) if isinstance(cause.data, str) else ''} (upgrade)"
    if cause.kind in ("websocket.accept", "open"):
        return "101 Switching Protocols" + (f", {cause.detail}" if cause.detail else "")
    if cause.kind in ("websocket.http.response.start", "rejected"):
        return f"HTTP {cause.code}"
    if cause.kind in ("ping", "pong"):
        return cause.kind
    data = cause.data
    if isinstance(data, bytes):
        return f"bytes {data[:12].hex(' ')}" + (" …" if len(data) > 12 else "")
    return cut(repr(data or ""), 80)


def _close_frame_received(event: Event) -> bool:
    """Whether a client's "closed" event says a close frame arrived (1006 and websockets' "no close
    frame received" say none did: then no close arrow may reach the client)."""
    return event.code != 1006 and "no close frame received" not in (event.detail or "")


def _close_went_out(close: Event, closed: Event) -> bool:
    """Whether the endpoint's *close* can be the close frame the client's *closed* event received.
    Not when the endpoint had heard the client leave before it (``client_state`` DISCONNECTED:
    uvicorn drops the close, exercise 21.1), nor when the client closed first and received a
    code other than this one (uvicorn answered the client's close frame itself)."""
    if close.client_state == "DISCONNECTED":
        return False
    return not (closed.by == "client" and closed.kind == "closed" and closed.code != close.code)


def _went_nowhere(rows: list[Event], i: int) -> str | None:
    """Why the endpoint's message at row *i* (a send or a close) never reached the client, if it
    is known that it did not: None when it may have (or may yet)."""
    event = rows[i]
    if event.side != "server" or event.kind not in ("websocket.send", "websocket.close"):
        return None
    if event.client_state == "DISCONNECTED":
        return "went nowhere: the endpoint had heard the client leave (websocket.disconnect) before it"
    after = next((e for e in rows[i + 1 :] if e.side == "server"), None)
    if after is not None and after.kind == "send failed":
        return f"went nowhere: {after.detail or 'the send failed'}"
    return None


def _tip(event: Event, said: set[int]) -> str:
    """A label's tooltip: the event's text line (a server's connect with its path where no client's
    connect says it: *said*), and the request headers of a "connect" (a loopback Host's port
    written <port>, as the picture leaves out what changes from run to run)."""
    text = said_once(event, said).text(unmasked=True).strip()  # timeline_html masked the events already, if asked to
    if event.kind == "connect" and event.headers:
        for name, value in event.headers:
            host, colon, port = value.rpartition(":")
            if name.lower() == "host" and is_loopback(host) and colon and port.isdigit():
                value = f"{host}:<port>"
            text += f"\n{name}: {value}"
    return text


def _wrap(text: str, width: int) -> list[str]:
    """*text* in lines of at most *width* characters, broken at spaces where it can be; each line
    but the last keeps its trailing space, so the lines joined are the text again (and a browser's
    textContent reads as the label). More than _MAX_LINES lines: the last shown ends in "…"."""
    flat = text.replace("\r", "").replace("\n", " ⏎ ")
    lines = textwrap.wrap(flat, width, drop_whitespace=False, break_on_hyphens=False) or [""]
    if len(lines) > _MAX_LINES:
        lines = [*lines[: _MAX_LINES - 1], lines[_MAX_LINES - 1].rstrip()[: width - 1] + "…"]
    return lines


def _text(x: float, y: float, lines: list[str], cls: str, tip: str, *, anchor: str = "start", up: bool = False) -> str:
    """One <text> of *lines*, the first baseline at *y* (with *up*, the last one, lines stacked
    above it), and its full text as a <title> tooltip. Right-aligned lines carry the space they
    were broken at in front, not behind, so it does not push them off the alignment."""
    if anchor == "end":
        lines = [(" " if k and lines[k - 1].endswith(" ") else "") + line.rstrip(" ") for k, line in enumerate(lines)]
    top = y - (len(lines) - 1) * _LINE if up else y
    spans = "".join(f'<tspan x="{x:.0f}" y="{top + k * _LINE:.0f}">{_t(line)}</tspan>' for k, line in enumerate(lines))
    return f'<text text-anchor="{anchor}" class="{cls}"><title>{_t(tip)}</title>{spans}</text>'


def _backdrop(x: float, y: float, lines: list[str]) -> str:
    """A rectangle of the background colour behind centred *lines* (first baseline *y*): a lane
    line under a label would read as striking it through."""
    width = max(len(line.strip()) for line in lines) * _CHAR + 8
    return (
        f'<rect x="{x - width / 2:.0f}" y="{y - _FONT:.0f}" width="{width:.0f}" '
        f'height="{len(lines) * _LINE + 4}" class="wsb-tl-bg"/>'
    )


@dataclass
class _Arrow:
    """One arrow between two lanes: rows of its ends (equal for the unobserved server's), its label."""

    start: int
    end: int
    x1: int
    x2: int
    label: list[str]
    tip: str
    cls: str  # wsb-close, wsb-dashed, wsb-notice ...
    cause: str  # the cause's kind, kept on the SVG element (data-cause) for tests and readers
    source: str  # the lane it leaves: client, server or proxy
    arriving: _Arrow | None = None  # another arrow that ends where this one starts (a V): the label goes
    # along this one's line until it clears that one's
    gap: float = 0.0  # for a V: how far from its start, along x, the label's near edge sits


def _arrows(rows: list[Event], before: Mapping[tuple[str, str], int]) -> list[tuple[int, int, bool]]:
    """(cause row, effect row, dashed) for each arrow between the client and server lanes, for the
    events that happened: a close frame reaches the client only if its "closed" event says one did.
    *before* counts, by (side, kind), the connection's events before *rows* (a window of a long one)."""
    index = {id(e): i for i, e in enumerate(rows)}
    used: set[int] = set()
    found = []
    for (cause_side, cause_kind), (effect_side, effect_kind), dashed in _ARROWS:
        causes = [e for e in rows if e.side == cause_side and e.kind == cause_kind and (dashed or id(e) not in used)]
        effects = [e for e in rows if e.side == effect_side and e.kind == effect_kind and id(e) not in used]
        shift = before.get((cause_side, cause_kind), 0) - before.get((effect_side, effect_kind), 0)
        if dashed:
            causes, shift = causes[:1] * len(effects), 0
        for cause, effect in paired(causes, effects, shift):  # unmatched ones: not arrived yet
            if effect_kind == "closed" and not _close_frame_received(effect):
                continue  # the connection was dropped: no close frame came, so no arrow either
            if cause_kind == "websocket.close" and not _close_went_out(cause, effect):
                continue  # the client's "closed" came from another close frame (uvicorn's reply)
            if dashed and effect.code != cause.code:
                continue  # another answered the close (a proxy between them): not uvicorn's reply
            if index[id(cause)] <= index[id(effect)]:
                used.update((id(cause), id(effect)))
                found.append((index[id(cause)], index[id(effect)], dashed))
    return found


def _all_arrows(
    ordered: list[Event],
    observed: bool,
    notices: list[tuple[Event, Event, float]],
    before: Mapping[tuple[str, str], int],
) -> list[_Arrow]:
    """Every arrow of one connection (or of a window of it: *before* as for :func:`_arrows`), by row of *ordered*."""
    found: list[_Arrow] = []
    if not observed:  # the server is outside the bench: the client's frames go to it, what it got comes from it
        for i, event in enumerate(ordered):
            closing = " wsb-close" if event.kind in CLOSING else ""
            if event.side not in CLIENT_SIDES:
                continue
            if event.kind in _SENT:
                x1, x2, source = _X_CLIENT, _X_SERVER, "client"
            elif event.kind in _RECEIVED and (event.kind != "closed" or _close_frame_received(event)):
                x1, x2, source = _X_SERVER, _X_CLIENT, "server"
            else:
                continue
            label = _arrow_label(event)
            found.append(_Arrow(i, i, x1, x2, _wrap(label, _ARROW_CHARS), label, closing, event.kind, source))
        return found
    pairs = _arrows(ordered, before)
    for cause_i, effect_i, dashed in pairs:
        cause = ordered[cause_i]
        label = _arrow_label(cause) + (" (uvicorn's reply)" if dashed else "")
        x1, x2 = (_X_CLIENT, _X_SERVER) if cause.side in CLIENT_SIDES else (_X_SERVER, _X_CLIENT)
        cls = (" wsb-close" if cause.kind in CLOSING else "") + (" wsb-dashed" if dashed else "")
        found.append(_Arrow(cause_i, effect_i, x1, x2, _wrap(label, _ARROW_CHARS), label, cls, cause.kind, cause.side))
    causes = {cause_i for cause_i, _, _ in pairs}
    for i, event in enumerate(ordered):  # what the endpoint sent that never arrived: a stub ending in a cross
        why = None if i in causes else _went_nowhere(ordered, i)
        if why is not None:  # no label of its own (arrows may pass there): the server lane's label says it
            tip = f"{_arrow_label(event)}: {why}"
            cls = (" wsb-close" if event.kind in CLOSING else "") + " wsb-nowhere"
            found.append(_Arrow(i, i, _X_SERVER, _X_STUB, [], tip, cls, event.kind, "server"))
    index = {id(e): i for i, e in enumerate(ordered)}
    for disruption, notice, _seconds in notices:  # the proxy's disruption, dotted to each side that noticed it
        x2 = _X_CLIENT if notice.side in CLIENT_SIDES else _X_SERVER
        start, end = index[id(disruption)], index[id(notice)]
        found.append(_Arrow(start, end, _X_PROXY, x2, [], "", " wsb-notice", disruption.kind, "proxy"))
    arrivals = {(a.end, a.x2): a for a in found if a.label and a.start != a.end}
    for arrow in found:
        if arrow.start != arrow.end and arrow.label:
            arrow.arriving = arrivals.get((arrow.start, arrow.x1))
            if arrow.arriving is not None:  # a V: a narrower label fits between the two lines sooner
                arrow.label = _wrap(arrow.tip, _V_CHARS)
    return found


def _connection_svg(number: int, window: _Window, unmasked: bool) -> str:
    """One connection's picture: every event, or for a long one its first and last events (each
    window in causal order, the last knowing what came before it) around a row that says how many
    are not shown."""
    head = window.head if unmasked else [e.masked() for e in window.head]
    tail = list(window.tail) if unmasked else [e.masked() for e in window.tail]
    hidden = window.hidden
    if not hidden:
        head, tail = head + tail, []
    events = head + tail
    observed = any(e.side == "server" for e in events)
    ordered = causal_order(head)
    notices = noticed(head)
    arrows = _all_arrows(ordered, observed, notices, {})
    rows: list[Event | None] = list(ordered)
    if hidden:
        counted = window.before()
        later = causal_order(tail, counted)
        later_notices = noticed(tail)
        offset = len(rows) + 1  # the "not shown" row between the two windows
        for arrow in _all_arrows(later, observed, later_notices, counted):
            arrow.start, arrow.end = arrow.start + offset, arrow.end + offset
            arrows.append(arrow)
        rows += [None, *later]
        notices += later_notices
    shown = arrows
    after = {id(notice): (disruption, seconds) for disruption, notice, seconds in notices}
    proxied = any(e.side == "proxy" for e in events)

    # what each row holds: its label lines (and a notice line), the room it needs above and below its y
    labels: list[list[str]] = []
    nowhere = {arrow.start for arrow in shown if " wsb-nowhere" in arrow.cls}
    above = [10] * len(rows)
    below = [8] * len(rows)
    for i, event in enumerate(rows):
        if event is None:
            lines = [f"… {hidden} events not shown …"]
        elif event.side == "proxy":
            lines = _wrap(_proxy_label(event), _PROXY_CHARS)
        elif event.side in CLIENT_SIDES:
            lines = _wrap(_client_label(event), _CLIENT_CHARS)
        else:
            lines = _wrap(_server_label(event) + (" (went nowhere)" if i in nowhere else ""), _SERVER_CHARS)
        if event is not None and id(event) in after:
            disruption, seconds = after[id(event)]
            lines = [*lines, f"noticed +{seconds * 1000:.1f} ms after {disruption.kind}"]
        labels.append(lines)
        if event is not None and event.side == "proxy":  # the label above the diamond, the notice arrows below
            above[i], below[i] = 14 + len(lines) * _LINE, 10
        else:
            below[i] = 6 + (len(lines) - 1) * _LINE
    for arrow in shown:
        if arrow.label:
            room = 10 + len(arrow.label) * _LINE
            if arrow.arriving is None:
                above[arrow.start] = max(above[arrow.start], room)
    ys: list[float] = []
    for i in range(len(rows)):
        ys.append(_HEAD + above[i] - 10 if i == 0 else ys[-1] + max(_ROW_MIN, below[i - 1] + above[i] + 4))
        for arrow in shown:
            if arrow.end == i and arrow.arriving is not None and arrow.arriving.start < arrow.start:
                ys[i] = max(ys[i], _v_room(arrow, ys))
    height = (ys[-1] + below[-1] + 14) if rows else _HEAD + 10
    y_end = height - 6
    width = _W_OBSERVED if observed else _W_EXTERNAL

    client = "browser" if any(e.side == "browser" for e in events) else "client"  # the client lane's name
    title = _title(number, events)
    said = paths_said(events)
    server_lane = "server (endpoint)" if observed else "server (not observed)"
    out = [
        f'<svg class="wsb-tl-svg" viewBox="0 0 {width} {height:.0f}" width="100%" '
        f'style="max-width:{width}px;height:auto" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" font-family="monospace" font-size="{_FONT}">',
        f"<title>{_t(title)}: {client} | {server_lane}</title>",
        "<defs>"
        + "".join(
            f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
            f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
            for name, color in (("wsb-ah", "#424a53"), ("wsb-ah-close", "#cf222e"), ("wsb-ah-notice", "#8250df"))
        )
        + "</defs>",
        f'<rect x="0" y="0" width="{width}" height="{height:.0f}" class="wsb-tl-bg"/>',
        f'<text x="8" y="20" class="wsb-tl-title">{_t(title)}</text>',
        f'<text x="{_X_CLIENT}" y="42" class="wsb-tl-lane wsb-{client}" text-anchor="middle">{client}</text>',
        f'<text x="{_X_SERVER}" y="42" class="wsb-tl-lane wsb-server{"" if observed else " wsb-unobserved"}" '
        f'text-anchor="middle">{server_lane}</text>',
        f'<line x1="{_X_CLIENT}" y1="48" x2="{_X_CLIENT}" y2="{y_end:.0f}" class="wsb-tl-lifeline wsb-{client}"/>',
        f'<line x1="{_X_SERVER}" y1="48" x2="{_X_SERVER}" y2="{y_end:.0f}" '
        f'class="wsb-tl-lifeline wsb-server{"" if observed else " wsb-unobserved"}"/>',
    ]
    if observed:
        out.append(
            f'<text x="{_X_CLIENT_STATE}" y="42" class="wsb-tl-col">client_state</text>'
            f'<text x="{_X_APP_STATE}" y="42" class="wsb-tl-col">application_state</text>'
        )
    if proxied:
        out.append(
            f'<text x="{_X_PROXY}" y="42" class="wsb-tl-lane wsb-proxy" text-anchor="middle">proxy</text>'
            f'<line x1="{_X_PROXY}" y1="48" x2="{_X_PROXY}" y2="{y_end:.0f}" class="wsb-tl-lifeline wsb-proxy"/>'
        )
    for arrow in shown:
        out.append(_arrow_svg(arrow, ys[arrow.start], ys[arrow.end]))
    last_states: tuple[str | None, str | None] = (None, None)
    for i, event in enumerate(rows):
        y = ys[i]
        lines = labels[i]
        if event is None:
            out.append(_text(_X_PROXY, y + 4, lines, "wsb-tl-gap", lines[0], anchor="middle"))
            last_states = (None, None)
            continue
        close_class = " wsb-close" if event.kind in CLOSING else ""
        tip = _tip(event, said)
        notice = id(event) in after
        if event.side == "proxy":
            c = _X_PROXY
            out.append(
                f'<path d="M{c},{y - 6:.0f} L{c + 6},{y:.0f} L{c},{y + 6:.0f} L{c - 6},{y:.0f} z" '
                'class="wsb-tl-dot wsb-proxy"/>'
            )
            first = y - 12 - (len(lines) - 1) * _LINE
            label_width = max(len(line.strip()) for line in lines) * _CHAR + 8
            free = _clear_of(shown, ys, c, first - _FONT, y - 8, label_width)
            if free is None and observed:  # arrows fill the middle here: the server's label column is free
                out.append(_text(_X_SERVER + 12, y + 4, lines, "wsb-tl-ev wsb-proxy", tip))
                continue
            out.append(_backdrop(free or c, first, lines))
            out.append(_text(free or c, first, lines, "wsb-tl-ev wsb-proxy", tip, anchor="middle"))
            continue
        lane = _X_CLIENT if event.side in CLIENT_SIDES else _X_SERVER
        x, anchor = (lane - 12, "end") if event.side in CLIENT_SIDES else (lane + 12, "start")
        out.append(f'<circle cx="{lane}" cy="{y:.0f}" r="4" class="wsb-tl-dot wsb-{event.side}"/>')
        out.append(
            _text(
                x,
                y + 4,
                lines[:-1] if notice else lines,
                f"wsb-tl-ev wsb-{event.side}{close_class}",
                tip,
                anchor=anchor,
            )
        )
        if notice:
            out.append(_text(x, y + 4 + (len(lines) - 1) * _LINE, lines[-1:], "wsb-tl-after", lines[-1], anchor=anchor))
        if event.side != "server":
            continue
        states = (event.client_state, event.application_state)
        if states != (None, None):
            for sx, value, before in zip((_X_CLIENT_STATE, _X_APP_STATE), states, last_states, strict=True):
                changed = " wsb-changed" if value != before else ""
                out.append(f'<text x="{sx}" y="{y + 4:.0f}" class="wsb-tl-state{changed}">{_t(value or "")}</text>')
            last_states = states
    out.append("</svg>")
    return "".join(out)


def _clear_of(arrows: list[_Arrow], ys: list[float], x: float, top: float, bottom: float, width: float) -> float | None:
    """The centre nearest *x* for a label *width* wide between the client and server lanes, from *top*
    to *bottom*, that no arrow's line runs through (a proxy's label: arrows pass its lane while its
    events happen); None when there is none."""
    taken = []
    for arrow in arrows:
        y1, y2 = ys[arrow.start], ys[arrow.end]
        if arrow.source == "proxy" or max(y1, y2) < top or min(y1, y2) > bottom:
            continue
        xs: list[float]
        if y1 == y2:
            xs = [arrow.x1, arrow.x2]
        else:  # where the line is at the band's top and bottom (or at its own ends, inside the band)
            ts = [min(max((y - y1) / (y2 - y1), 0.0), 1.0) for y in (top, bottom)]
            xs = [arrow.x1 + (arrow.x2 - arrow.x1) * t for t in ts]
        taken.append((min(xs) - 6, max(xs) + 6))
    low, high = _X_CLIENT + 10 + width / 2, _X_SERVER - 10 - width / 2
    candidates = [x] + [edge for a, b in taken for edge in (a - width / 2, b + width / 2)]
    free = [
        c for c in candidates if low <= c <= high and all(b <= c - width / 2 or a >= c + width / 2 for a, b in taken)
    ]
    return min(free, key=lambda c: abs(c - x)) if free else None


def _title(number: int, events: Iterable[Event]) -> str:
    """A connection's heading: "#2 /echo" (its number, and the path of its client's connect, or
    where no client side was recorded, the path the server's connect says the client asked for)."""
    events = list(events)
    connect = next((e for e in events if e.side in CLIENT_SIDES and e.kind == "connect"), None)
    if connect is not None and isinstance(connect.data, str):
        path = loopback_path(connect.data)
    else:
        asked = next((e for e in events if e.side == "server" and e.kind == "websocket.connect"), None)
        path = asked.detail if asked is not None and isinstance(asked.detail, str) else ""
    return no_proxy_port(f"#{number} {printable(path)}".rstrip())


def _v_room(arrow: _Arrow, ys: list[float]) -> float:
    """The least y of a V arrow's end row such that its label fits between its line and the arriving
    one's (whose rows are placed already); sets ``arrow.gap``, how far from the start it sits."""
    arriving = arrow.arriving
    assert arriving is not None
    span = abs(arrow.x2 - arrow.x1) or 1
    width = max(len(line) for line in arrow.label) * _CHAR
    height = len(arrow.label) * _LINE + 8
    rise_in = (ys[arriving.end] - ys[arriving.start]) / span  # per px, toward the V's point
    room = span - 28 - width  # where along x the label's near edge can go
    need = max(0.05, height / max(room, 1) - rise_in)  # the slope this arrow needs for the label to fit
    arrow.gap = min(max(room, 0.0), height / (need + rise_in))
    return ys[arrow.start] + need * span


def _arrow_svg(arrow: _Arrow, y1: float, y2: float) -> str:
    """The line of *arrow* from (x1, y1) to (x2, y2), and its label above it."""
    toward = 1 if arrow.x2 > arrow.x1 else -1
    start = arrow.x1 + toward * (8 if arrow.source == "proxy" else 5)
    head = "-close" if " wsb-close" in arrow.cls else "-notice" if " wsb-notice" in arrow.cls else ""
    if " wsb-nowhere" in arrow.cls:  # a stub that stops short of the other lane, ending in a cross
        end = arrow.x2
        out = [
            f'<g class="wsb-tl-arrow-g" data-from="{arrow.source}" data-cause="{_t(arrow.cause)}" data-to="nowhere">'
            f"<title>{_t(arrow.tip)}</title>"
            f'<line x1="{start}" y1="{y1:.0f}" x2="{end}" y2="{y2:.0f}" class="wsb-tl-arrow{arrow.cls}"/>'
            f'<path d="M{end - 6},{y2 - 6:.0f} L{end + 6},{y2 + 6:.0f} '
            f'M{end - 6},{y2 + 6:.0f} L{end + 6},{y2 - 6:.0f}" class="wsb-tl-cross{arrow.cls}"/>'
        ]
    else:
        out = [
            f'<g class="wsb-tl-arrow-g" data-from="{arrow.source}" data-cause="{_t(arrow.cause)}">'
            f'<line x1="{start}" y1="{y1:.0f}" x2="{arrow.x2 - toward * 6}" y2="{y2:.0f}" '
            f'class="wsb-tl-arrow{arrow.cls}" marker-end="url(#wsb-ah{head})"/>'
        ]
    if arrow.label:
        span = abs(arrow.x2 - arrow.x1) or 1
        # next to its start (for a V, along the line until it clears the arriving one), above the
        # line, which runs down and away from there
        x, anchor = arrow.x1 + toward * (14 + arrow.gap), "start" if toward > 0 else "end"
        y = y1 + (y2 - y1) * (14 + arrow.gap) / span - 6
        cls = "wsb-tl-al" + (" wsb-close" if " wsb-close" in arrow.cls else "")
        out.append(_text(x, y, arrow.label, cls, arrow.tip, anchor=anchor, up=True))
    out.append("</g>")
    return "".join(out)


# Presentation: 12 px and up, dark text on white (contrast 7:1 or more; the colours at least 4.5:1),
# JupyterLab's theme colours where it sets them. The SVG also carries font size and family as
# attributes. The pictures sit in a hidden block (``hidden="hidden"``, as JupyterLab's sanitizer drops
# an empty one, and ``display:none``) that only this style shows: a renderer that
# drops <style> drops <svg> too (JupyterLab's sanitizer, for an untrusted notebook) and would run
# the labels' text together, so there the one-line fallback shows instead.
_TIMELINE_STYLE = """<style>
.wsb-timeline{font-family:var(--jp-code-font-family,monospace);overflow-x:auto}
.wsb-timeline .wsb-tl-pictures{display:block!important}.wsb-timeline .wsb-tl-fallback{display:none}
.wsb-timeline svg{display:block;margin-bottom:8px}
.wsb-timeline svg text{font-family:var(--jp-code-font-family,monospace);font-size:12px;
  fill:var(--jp-content-font-color0,#1f2328)}
.wsb-timeline .wsb-tl-bg{fill:var(--jp-layout-color0,#fff)}
.wsb-timeline text.wsb-tl-title{font-weight:700;font-size:14px}
.wsb-timeline text.wsb-tl-lane{font-weight:700;font-size:13px}
.wsb-timeline text.wsb-tl-col{fill:var(--jp-content-font-color1,#424a53);font-size:12px;font-weight:600}
.wsb-timeline .wsb-tl-lifeline{stroke-width:2}
.wsb-timeline line.wsb-client,.wsb-timeline circle.wsb-client{stroke:#0969da;fill:#0969da}
.wsb-timeline line.wsb-server,.wsb-timeline circle.wsb-server{stroke:#1a7f37;fill:#1a7f37}
.wsb-timeline line.wsb-unobserved{stroke:#6e7781;stroke-dasharray:6 4}
.wsb-timeline text.wsb-tl-lane.wsb-client{fill:#0969da}.wsb-timeline text.wsb-tl-lane.wsb-server{fill:#1a7f37}
.wsb-timeline line.wsb-browser,.wsb-timeline circle.wsb-browser{stroke:#8a4600;fill:#8a4600}
.wsb-timeline text.wsb-tl-lane.wsb-browser{fill:#8a4600}
.wsb-timeline text.wsb-tl-lane.wsb-unobserved{fill:var(--jp-content-font-color1,#424a53);font-style:italic}
.wsb-timeline .wsb-tl-arrow{stroke:var(--jp-content-font-color1,#424a53);stroke-width:1.5}
.wsb-timeline .wsb-tl-arrow.wsb-close{stroke:#cf222e}
.wsb-timeline .wsb-tl-arrow.wsb-notice{stroke:#8250df;stroke-dasharray:2 3}
.wsb-timeline .wsb-dashed{stroke-dasharray:6 4}
.wsb-timeline .wsb-tl-arrow.wsb-nowhere{stroke-dasharray:3 3}
.wsb-timeline .wsb-tl-cross{stroke:var(--jp-content-font-color1,#424a53);stroke-width:2.5;fill:none}
.wsb-timeline .wsb-tl-cross.wsb-close{stroke:#cf222e}
.wsb-timeline text.wsb-tl-al{fill:var(--jp-content-font-color0,#1f2328);paint-order:stroke;
  stroke:var(--jp-layout-color0,#fff);stroke-width:4px;stroke-linejoin:round}
.wsb-timeline text.wsb-close{fill:#cf222e}
.wsb-timeline text.wsb-tl-state{fill:var(--jp-content-font-color1,#424a53)}
.wsb-timeline text.wsb-tl-state.wsb-changed{fill:#bc4c00;font-weight:700}
.wsb-timeline line.wsb-proxy{stroke:#8250df;stroke-dasharray:2 3}.wsb-timeline path.wsb-proxy{fill:#8250df}
.wsb-timeline text.wsb-proxy{fill:#8250df;paint-order:stroke;stroke:var(--jp-layout-color0,#fff);stroke-width:4px;
  stroke-linejoin:round}
.wsb-timeline text.wsb-tl-after{fill:#8250df;font-style:italic;font-weight:600}
.wsb-timeline text.wsb-tl-gap{fill:var(--jp-content-font-color1,#424a53);font-style:italic}
.wsbench-timeline.jupyter-widgets-disconnected::before{content:none;display:none}
.wsbench-timeline.jupyter-widgets-disconnected .wsb-timeline::before{
  content:"disconnected from the kernel: the picture no longer follows; run its cell again";
  display:block;font:italic 12px var(--jp-ui-font-family,sans-serif);color:#cf222e;padding:2px 4px}
</style>"""


def timeline_html(events: Iterable[Event], *, limit: int = 400, unmasked: bool = False) -> str:
    """A two-lane picture (client | server) of each connection, in causal order (a browser page's
    WebSocket, from :meth:`~wsbench.Bench.browser_connect`, in the client's place, its lane named
    "browser"); a third lane
    in the middle for a :class:`~wsbench.proxy.FaultProxy`'s events, where it took part, with a
    dotted arrow from its disruption to each side that noticed it and how long after it came.
    A connection with no server-side events (a server outside the bench) gets a
    "server (not observed)" lane, with the client's frames as arrows to it and no state columns.

    Connections are numbered #1, #2 ... in order of appearance, as in ``Transcript.text``;
    a connection with more than *limit* events shows its first and last ``limit / 2``
    (:class:`Windows`). Secrets are masked unless *unmasked*.
    """
    windows = Windows(limit)
    windows.add(events)
    return windows.html(unmasked=unmasked)


@dataclass
class _Window:
    """What the picture keeps of one connection: its first events, its newest, and counts by
    (side, kind) of those between (dropped from memory as they fall out of the newest)."""

    first: int  # how many of the first events are kept: half the timeline's limit
    last: int  # how many of the newest: the other half
    head: list[Event] = field(default_factory=list)
    tail: deque[Event] = field(default_factory=deque)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    total: int = 0

    def add(self, event: Event) -> None:
        self.total += 1
        if len(self.head) < self.first:
            self.head.append(event)
            return
        if len(self.tail) == self.last:
            dropped = self.tail.popleft()
            self.skipped[dropped.side, dropped.kind] += 1
        self.tail.append(event)

    @property
    def hidden(self) -> int:
        """Events between the two windows, not drawn."""
        return self.total - len(self.head) - len(self.tail)

    def before(self) -> Counter[tuple[str, str]]:
        """The connection's events before the newest window, by (side, kind)."""
        return self.skipped + Counter((e.side, e.kind) for e in self.head)


class Windows:
    """Each connection's events as the timeline draws them, taken in as they come: every event
    of a connection up to *limit*; past it its first ``limit / 2`` and its last ``limit / 2``,
    the ones between counted, not kept. So a redraw costs what the picture shows, not the length
    of the conversation, and a live timeline reads each event once (issue 15)."""

    def __init__(self, limit: int) -> None:
        if limit < 2:
            raise ValueError(f"limit must be at least 2 events, not {limit}")
        self.limit = limit
        self._windows: dict[int, _Window] = {}  # by connection, in order of appearance

    def add(self, events: Iterable[Event]) -> None:
        """Take in *events* (in recording order)."""
        windows, first = self._windows, self.limit // 2
        for event in events:
            window = windows.get(event.conn)
            if window is None:
                window = windows[event.conn] = _Window(first, self.limit - first)
            window.add(event)

    def __len__(self) -> int:
        return len(self._windows)

    def html(self, *, unmasked: bool = False) -> str:
        """The picture of every connection taken in so far."""
        windows = list(self._windows.values())
        blocks = [_connection_svg(n, window, unmasked) for n, window in enumerate(windows, 1)]
        body = "".join(blocks) or '<div class="wsb-tl-empty">no events yet</div>'
        # Where HTML is sanitized (an untrusted notebook in JupyterLab), <style> and <svg> are dropped
        # and their text would run together: there the pictures stay hidden and one line shows instead.
        titles = ", ".join(
            _title(n, window.head if unmasked else [e.masked() for e in window.head])  # secrets masked here too
            for n, window in enumerate(windows, 1)
        ).strip()
        fallback = (
            f"Timeline of {len(windows)} connection{'' if len(windows) == 1 else 's'}"
            + (f" ({_t(titles)})" if titles else "")
            + ": the picture shows in a trusted notebook, or when the cell runs"
        )
        return (
            f'<div class="wsb-timeline">{_TIMELINE_STYLE}<div class="wsb-tl-fallback">{fallback}</div>'
            f'<div class="wsb-tl-pictures" hidden="hidden" style="display:none">{body}</div></div>'
        )
