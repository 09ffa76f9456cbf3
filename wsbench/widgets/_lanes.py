"""One picture of many clients: a lane per client, the server's lane between them, one row per
event in the conversation's causal order (:func:`~wsbench.transcript.conversation_order`).

Arrows join each message to its other end; an arrow the server sends is coloured by the handler
that sent it (ann's colour for everything ann's handler sent, on any socket), so a broadcast
reads as a fan of one colour. Each row's words stand in a column on the right (the connection's
name, the side, what happened, who sent it), so lanes stay narrow and twenty clients fit; past
*max_lanes* clients, the last lane holds the rest, each event there named. Hovering an arrow
that delivered a broadcast says how long after the client's send it arrived
(as :mod:`wsbench.transcript.fanout` counts it). Pure: events in, HTML out.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..kinds import CLIENT_SIDES, CLOSING
from ..transcript import Event, conversation_order, labels, paths_said, said_once
from ..transcript.causal import paired
from ._render import _t

__all__ = ["MAX_LANES", "lanes_html"]

#: Client lanes drawn at most; past it the last lane holds the rest.
MAX_LANES = 12

_ROW = 20  # px between rows
_LANE = 64  # px between lanes
_HEAD = 56  # the y of the first row
_LEFT = 24  # the x of the first lane
_CHARS = 72  # characters of a row's text shown (the tooltip holds all of it)
# colour-blind-safe, dark enough on white for 1.5 px lines (Okabe-Ito, darkened)
_PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8a6d00", "#56b4e9", "#6a3d9a", "#b15928")
_SERVER = "#1a7f37"

# (cause side, kind) -> (effect side, kind): the k-th cause of a connection drawn to its k-th effect
_PAIRS = (
    (("client", "connect"), ("server", "websocket.connect")),
    (("server", "websocket.accept"), ("client", "open")),
    (("client", "send"), ("server", "websocket.receive")),
    (("server", "websocket.send"), ("client", "receive")),
    (("client", "close"), ("server", "websocket.disconnect")),
    (("server", "websocket.close"), ("client", "closed")),
    (("browser", "connect"), ("server", "websocket.connect")),
    (("server", "websocket.accept"), ("browser", "open")),
    (("browser", "send"), ("server", "websocket.receive")),
    (("server", "websocket.send"), ("browser", "message")),
    (("browser", "close"), ("server", "websocket.disconnect")),
    (("server", "websocket.close"), ("browser", "closed")),
)

_STYLE = """<style>
.wsb-lanes{font-family:var(--jp-code-font-family,monospace);overflow-x:auto}
.wsb-lanes svg text{font-family:var(--jp-code-font-family,monospace);font-size:12px;
  fill:var(--jp-content-font-color0,#1f2328)}
.wsb-lanes text.wsb-ln-name{font-weight:700;font-size:13px}
.wsb-lanes text.wsb-ln-gap{font-style:italic;fill:var(--jp-content-font-color1,#424a53)}
.wsb-lanes line.wsb-ln-life{stroke-width:2;stroke-dasharray:1 3}
.wsb-lanes line.wsb-ln-arrow{stroke-width:1.5}
.wsb-lanes line.wsb-ln-close{stroke-dasharray:5 3}
</style>"""


def lanes_html(events: Iterable[Event], *, limit: int = 400, max_lanes: int = MAX_LANES, unmasked: bool = False) -> str:
    """The picture of *events* (several connections of one bench), as an HTML fragment.

    A conversation of more than *limit* events shows its first and last ``limit / 2`` (in causal
    order each), with a row saying how many are not drawn. Secrets masked unless *unmasked*.
    """
    if limit < 2 or max_lanes < 2:
        raise ValueError(f"limit and max_lanes must be at least 2, not {limit} and {max_lanes}")
    events = sorted(events, key=lambda e: e.seq)
    if not events:
        return f'<div class="wsb-lanes">{_STYLE}<div>no events yet</div></div>'
    names = {conn: label.strip() for conn, label in labels(events).items()}
    conns = list(names)  # in order of appearance
    if len(events) > limit:
        half = limit // 2
        rows: list[Event | None] = [*conversation_order(events[:half]), None, *conversation_order(events[-half:])]
        hidden = len(events) - 2 * half
    else:
        rows, hidden = list(conversation_order(events)), 0
    shown = [e for e in rows if e is not None]
    said = paths_said(events)
    lane_of, heads = _lanes(conns, names, max_lanes)
    colour = {conn: _PALETTE[n % len(_PALETTE)] for n, conn in enumerate(conns)}
    by_name = {names[conn]: conn for conn in conns}
    server_x = _LEFT + heads.index("server") * _LANE
    text_x = _LEFT + (len(heads) - 1) * _LANE + 36
    width = text_x + _CHARS * 7.4 + 16
    height = _HEAD + len(rows) * _ROW + 12
    y = {id(e): _HEAD + n * _ROW for n, e in enumerate(rows) if e is not None}

    def x_of(event: Event) -> float:
        return server_x if event.side == "server" else _LEFT + lane_of[event.conn] * _LANE

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
        f'font-size="12" font-family="monospace" role="img" aria-label="conversation of {len(conns)} clients">',
        '<defs><marker id="wsb-ln-ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>',
    ]
    for n, head in enumerate(heads):  # lane names and lifelines
        x = _LEFT + n * _LANE
        stroke = _SERVER if head == "server" else colour.get(by_name.get(head, -1), "#424a53")
        head_y = _HEAD - 30 - (n % 2) * 14 * (len(heads) > 6)  # many lanes: every other name higher
        out.append(
            f'<text x="{x}" y="{head_y}" text-anchor="middle" class="wsb-ln-name" '
            f'fill="{stroke}"><title>{_t(head)}</title>{_t(head if len(head) <= 10 else head[:9] + "…")}</text>'
        )
        out.append(
            f'<line x1="{x}" y1="{_HEAD - 12}" x2="{x}" y2="{height - 8}" class="wsb-ln-life" stroke="{stroke}"/>'
        )
    delays = _delays(shown)
    for cause, effect in _arrows(shown):
        sender = by_name.get(cause.handler or "", cause.conn) if cause.side == "server" else cause.conn
        tip = f"{names[cause.conn]}: {_line(cause, unmasked, said)}"
        if id(effect) in delays:
            tip += f"\nreceived {delays[id(effect)] * 1000:.1f} ms after the client's send"
        dashed = " wsb-ln-close" if cause.kind in CLOSING else ""
        x1, x2 = x_of(cause), x_of(effect)
        toward = 1 if x2 > x1 else -1
        out.append(
            f'<line x1="{x1 + 4 * toward}" y1="{y[id(cause)]}" x2="{x2 - 6 * toward}" y2="{y[id(effect)]}" '
            f'class="wsb-ln-arrow{dashed}" stroke="{colour.get(sender, _SERVER)}" marker-end="url(#wsb-ln-ah)" '
            f'data-from="{_t(names[sender]) if sender in names else "task"}"><title>{_t(tip)}</title></line>'
        )
    for n, event in enumerate(rows):
        row_y = _HEAD + n * _ROW
        if event is None:
            out.append(
                f'<text x="{_LEFT}" y="{row_y + 4}" class="wsb-ln-gap">… {hidden} events not drawn: '
                "transcript.text(full=True) has them all</text>"
            )
            continue
        fill = _SERVER if event.side == "server" else colour[event.conn]
        out.append(f'<circle cx="{x_of(event)}" cy="{row_y}" r="3.5" fill="{fill}"/>')
        line = f"{names[event.conn]:<{max(len(name) for name in names.values())}} {_line(event, unmasked, said)}"
        shown_line = line if len(line) <= _CHARS else line[: _CHARS - 1] + "…"
        out.append(
            f'<text x="{text_x}" y="{row_y + 4}" xml:space="preserve"><title>{_t(line)}</title>{_t(shown_line)}</text>'
        )
    out.append("</svg>")
    return f'<div class="wsb-lanes">{_STYLE}{"".join(out)}</div>'


def _lanes(conns: list[int], names: dict[int, str], max_lanes: int) -> tuple[dict[int, int], list[str]]:
    """Each connection's lane number and the lanes' headings: the clients split around the server's
    lane, the first half left of it; past *max_lanes*, the last lane holds the rest."""
    own = conns if len(conns) <= max_lanes else conns[: max_lanes - 1]
    heads = [names[conn] for conn in own]
    if len(own) < len(conns):
        heads.append(f"+{len(conns) - len(own)} more")
    left = (len(heads) + 1) // 2
    heads.insert(left, "server")
    lane_of = {}
    for n, conn in enumerate(conns):
        slot = min(n, len(heads) - 2)  # the last client lane holds the rest
        lane_of[conn] = slot if slot < left else slot + 1
    return lane_of, heads


def _arrows(events: list[Event]) -> list[tuple[Event, Event]]:
    """(cause, effect) for each message drawn: per connection, the k-th cause with the k-th effect."""
    found: list[tuple[Event, Event]] = []
    by_conn: dict[int, list[Event]] = {}
    for event in events:
        by_conn.setdefault(event.conn, []).append(event)
    for group in by_conn.values():
        for (cause_side, cause_kind), (effect_side, effect_kind) in _PAIRS:
            causes = [e for e in group if e.side == cause_side and e.kind == cause_kind]
            effects = [e for e in group if e.side == effect_side and e.kind == effect_kind]
            if cause_kind == "close":
                causes = causes[:1]
            found += paired(causes, effects, 0)
    return found


def _delays(events: list[Event]) -> dict[int, float]:
    """id(receive event) -> seconds after the client's send it arrived, for what a handler sent
    because of a client's message (its ``cause``: :mod:`wsbench.transcript.fanout` counts the same way)."""
    receives: dict[int, list[Event]] = {}
    sends: dict[int, list[Event]] = {}
    for event in events:
        if event.side in CLIENT_SIDES and event.kind in ("receive", "message"):
            receives.setdefault(event.conn, []).append(event)
        elif event.side == "server" and event.kind == "websocket.send":
            sends.setdefault(event.conn, []).append(event)
    found: dict[int, float] = {}
    starts: dict[int, float] = {}  # the seq of a server receive -> the time of the client's send
    client_sends: dict[int, list[Event]] = {}
    server_receives: dict[int, list[Event]] = {}
    for event in events:
        if event.side in CLIENT_SIDES and event.kind == "send":
            client_sends.setdefault(event.conn, []).append(event)
        elif event.side == "server" and event.kind == "websocket.receive":
            server_receives.setdefault(event.conn, []).append(event)
    for conn, received in server_receives.items():
        for origin, receive in zip(client_sends.get(conn, []), received, strict=False):
            starts[receive.seq] = origin.time
    for conn, out in sends.items():
        for send, arrived in zip(out, receives.get(conn, []), strict=False):
            if send.cause in starts:
                found[id(arrived)] = max(arrived.time - starts[send.cause], 0.0)
    return found


def _line(event: Event, unmasked: bool, said: set[int]) -> str:
    """The event as the text form says it, without the ASGI states (the tooltip of the row); a
    server's connect says the path where no client's connect line does (*said*: ``paths_said``)."""
    shown = said_once(event, said)
    shown = shown if shown.client_state is None else shown._replace(client_state=None)
    return shown.text(unmasked=unmasked)
