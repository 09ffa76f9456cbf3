"""HTML for the widgets, from transcript events: log lines, the timeline picture, the code table.

Pure functions of their arguments (no ipywidgets, no I/O), so they are cheap to test
and the same markup serves the live widgets and the standalone export. The entry points
(:func:`log_line`, :func:`timeline_html`) mask secrets (:mod:`wsbench.secrets`) unless
given ``unmasked=True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

from ..codes import MAX_REASON_BYTES, REGISTERED, describe
from ..kinds import CLOSING, LOG_KINDS
from ..transcript import Event, causal_order, noticed

__all__ = [
    "LOG_KINDS",
    "LogLine",
    "body_kind",
    "code_table_html",
    "code_table_rows",
    "display_url",
    "hexdump",
    "log_line",
    "panel_style",
    "pretty_json",
    "reason_size_html",
    "timeline_html",
]

# LOG_KINDS (the client kinds the panel's log shows) is declared in wsbench.kinds, re-exported here.

_TEXT_CHARS = 600  # characters of a text body shown in one log line
_JSON_LINES = 30  # lines of pretty JSON shown in one log line
_HEX_ROWS = 8  # rows of 16 bytes shown in one log line
_LOOPBACK = ("127.", "localhost", "[::1]")


def _t(text: str) -> str:
    """Escape text for HTML content (quotes stay readable)."""
    return escape(text, quote=False)


def display_url(url: str) -> str:
    """Path and query for loopback URLs (their ports change from run to run), else the whole URL.

    Not a masking function: the views mask their events first (``Event.masked()``, which
    uses :func:`wsbench.secrets.mask_url`), so ``unmasked=True`` can still show the real URL.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # not a URL urllib can split ("ws://[::1"): shown as written
        return url
    if parts.netloc.startswith(_LOOPBACK) or host.startswith("127.") or host in ("localhost", "::1"):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url


# -- message bodies ---------------------------------------------------------------


def body_kind(data: str | bytes | None) -> str:
    """ "json" for text holding a JSON object or array, else "text" or "bytes"."""
    if isinstance(data, bytes):
        return "bytes"
    if isinstance(data, str) and data[:1] in "{[" and data:
        try:
            json.loads(data)
        except ValueError:
            return "text"
        return "json"
    return "text"


def hexdump(data: bytes, rows: int = _HEX_ROWS) -> str:
    """Offset, hex and ASCII columns, 16 bytes a row, like ``hexdump -C``; at most *rows* rows."""
    if not data:
        return "(empty)"
    lines = []
    for offset in range(0, min(len(data), rows * 16), 16):
        chunk = data[offset : offset + 16]
        left = " ".join(f"{b:02x}" for b in chunk[:8])
        right = " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {left:<23}  {right:<23}  |{text}|")
    if len(data) > rows * 16:
        lines.append(f"… {len(data) - rows * 16} more bytes")
    return "\n".join(lines)


def pretty_json(text: str, max_lines: int = _JSON_LINES) -> str:
    """Indented JSON, cut after *max_lines* lines."""
    lines = json.dumps(json.loads(text), indent=2, ensure_ascii=False).split("\n")
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"… {len(lines) - max_lines} more lines"]
    return "\n".join(lines)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def _one_line(text: str, limit: int = 60) -> str:
    flat = text.replace("\r", "").replace("\n", "⏎")
    return flat if len(flat) <= limit else flat[:limit] + "…"


def _size(size: int) -> str:
    return f"{size} B" if size < 10_000 else f"{size / 1024:.1f} KiB"


# -- log lines ------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    """One line of the panel's log: deterministic *text* (no time) and its *html*."""

    text: str
    html: str


def _control(event: Event) -> tuple[str, str]:
    """(arrow, words) for a client event that is not a message."""
    kind = event.kind
    if kind == "connect":
        return "·", f"connect {display_url(event.data) if isinstance(event.data, str) else ''}".rstrip()
    if kind == "open":
        return "·", "open" + (f" (subprotocol {event.detail!r})" if event.detail else "")
    if kind == "close":
        return "→", f"close {describe(event.code, event.reason or '')}"
    if kind == "closed":
        return "←", f"closed {describe(event.code, event.reason or '')}"
    if kind == "ping":
        return "→", "ping"
    if kind == "pong":
        return "←", "pong"
    if kind == "rejected":
        return "←", f"rejected: HTTP {event.code}"
    return "!", f"{kind}: {event.detail or ''}".rstrip(": ")


def _headers_html(event: Event) -> str:
    """The request headers of a "connect" event, folded: a grid item under the event's words."""
    if event.kind != "connect" or not event.headers:
        return ""
    lines = "\n".join(f"{name}: {value}" for name, value in event.headers)
    return (
        f'<details class="wsb-headers"><summary>request headers ({len(event.headers)})</summary>'
        f'<pre class="wsb-body">{_t(lines)}</pre></details>'
    )


def log_line(event: Event, t0: float, *, unmasked: bool = False) -> LogLine:
    """The log line of one client-side event; *t0* is the time shown as +0; secrets masked unless *unmasked*."""
    if not unmasked:
        event = event.masked()
    elapsed = event.time - t0
    when = f"+{elapsed * 1000:.1f} ms" if elapsed < 1 else f"+{elapsed:.3f} s"
    if event.kind in ("send", "receive"):
        arrow = "→" if event.kind == "send" else "←"
        kind = body_kind(event.data)
        data = event.data
        if isinstance(data, bytes):
            preview = data[:16].hex(" ") + (" …" if len(data) > 16 else "")
            body = hexdump(data)
        else:
            text = data or ""
            preview = _one_line(text)
            body = pretty_json(text) if kind == "json" else _cut(text, _TEXT_CHARS)
        size = _size(event.size)
        plain = f"{arrow} {kind} {size} {preview}"
        html = (
            f'<div class="wsb-row wsb-{event.kind}"><span class="wsb-when">{when}</span>'
            f'<span class="wsb-dir">{arrow}</span><span class="wsb-kind">{kind}</span>'
            f'<span class="wsb-size">{size}</span><pre class="wsb-body">{_t(body)}</pre></div>'
        )
        return LogLine(plain, html)
    arrow, words = _control(event)
    extra = " wsb-closing" if event.kind in CLOSING else ""
    html = (
        f'<div class="wsb-row wsb-control{extra}"><span class="wsb-when">{when}</span>'
        f'<span class="wsb-dir">{arrow}</span><span class="wsb-event">{_t(words)}</span>{_headers_html(event)}</div>'
    )
    return LogLine(f"{arrow} {words}", html)


def reason_size_html(reason: str) -> str:
    """ "3/123 bytes", red when over the limit."""
    size = len(reason.encode("utf-8"))
    over = " wsb-over" if size > MAX_REASON_BYTES else ""
    return f'<span class="wsb-reason-size{over}">{size}/{MAX_REASON_BYTES} bytes</span>'


def panel_style() -> str:
    """The CSS of the panel, every selector under ``.wsbench-panel``."""
    return """<style>
.wsbench-panel{border:1px solid var(--jp-border-color1,#ccc);border-radius:6px;padding:6px;
  font-family:var(--jp-code-font-family,monospace);font-size:12px;max-width:960px}
.wsbench-panel .wsb-badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
.wsbench-panel .wsb-state-open{background:#2da44e}.wsbench-panel .wsb-state-connecting{background:#9a6700}
.wsbench-panel .wsb-state-closing{background:#bc4c00}.wsbench-panel .wsb-state-closed{background:#cf222e}
.wsbench-panel .wsb-url{margin-left:8px;color:var(--jp-content-font-color2,#555)}
.wsbench-panel .wsb-counts{color:var(--jp-content-font-color2,#555)}
.wsbench-panel .wsb-scroll{display:flex;flex-direction:column-reverse;max-height:280px;overflow:auto;
  border:1px solid var(--jp-border-color2,#ddd);background:var(--jp-layout-color1,#fafafa)}
.wsbench-panel .wsb-row{display:grid;grid-template-columns:6.5em 1.4em 3.6em 5.5em 1fr;gap:4px;
  padding:1px 4px;border-bottom:1px solid var(--jp-border-color3,#eee);align-items:start}
.wsbench-panel .wsb-control{grid-template-columns:6.5em 1.4em 1fr}
.wsbench-panel .wsb-when,.wsbench-panel .wsb-size{color:var(--jp-content-font-color3,#888)}
.wsbench-panel .wsb-send .wsb-dir{color:#1f6feb}.wsbench-panel .wsb-receive .wsb-dir{color:#2da44e}
.wsbench-panel .wsb-closing{color:#cf222e}
.wsbench-panel pre.wsb-body{margin:0;white-space:pre-wrap;word-break:break-all;font-size:12px}
.wsbench-panel .wsb-note{color:var(--jp-content-font-color3,#888);padding:1px 4px}
.wsbench-panel .wsb-headers{grid-column:3}.wsbench-panel .wsb-headers summary{cursor:pointer}
.wsbench-panel .widget-label.wsbench-send-error,.wsbench-panel .widget-label.wsbench-close-error,
.wsbench-panel .widget-label.wsbench-result{white-space:pre-wrap;height:auto;line-height:1.4;overflow:visible}
.wsbench-panel .wsb-reason-size{white-space:nowrap}
.wsbench-panel .wsb-over{color:#cf222e;font-weight:600}
.wsbench-panel .wsb-ok{color:var(--jp-content-font-color2,#555)}
</style>"""


# -- the timeline -------------------------------------------------------------------

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
)

_W = 1065
_X_CLIENT, _X_SERVER = 230, 560
_X_PROXY = (_X_CLIENT + _X_SERVER) // 2  # the middle lane, drawn when a FaultProxy took part
_X_CLIENT_STATE, _X_APP_STATE = 865, 945
_ROW, _HEAD = 20, 44
_LABEL_CHARS = 32


def _client_label(event: Event) -> str:
    if event.kind in ("send", "receive"):
        return f"{event.kind} {body_kind(event.data)} ({_size(event.size)})"
    return _control(event)[1]


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


def _arrow_label(cause: Event, effect: Event) -> str:
    if cause.kind in CLOSING:
        return describe(cause.code, cause.reason or "")
    if cause.kind == "connect":
        return f"GET {display_url(cause.data) if isinstance(cause.data, str) else ''} (upgrade)"
    if cause.kind == "websocket.accept":
        return "101 Switching Protocols" + (f", {cause.detail}" if cause.detail else "")
    if cause.kind == "websocket.http.response.start":
        return f"HTTP {cause.code}"
    data = cause.data
    if isinstance(data, bytes):
        return f"bytes {data[:12].hex(' ')}" + (" …" if len(data) > 12 else "")
    return _one_line(repr(data or ""), 40)


def _tip(event: Event) -> str:
    """A dot's tooltip: the event's text line, and the request headers of a "connect" (a loopback
    Host's port written <port>, as the picture leaves out what changes from run to run)."""
    text = event.text(unmasked=True).strip()  # timeline_html masked the events already, if asked to
    if event.kind == "connect" and event.headers:
        for name, value in event.headers:
            host, colon, port = value.rpartition(":")
            if name.lower() == "host" and value.startswith(_LOOPBACK) and colon and port.isdigit():
                value = f"{host}:<port>"
            text += f"\n{name}: {value}"
    return text


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _arrows(rows: list[Event]) -> list[tuple[int, int, bool]]:
    """(cause row, effect row, dashed) for each arrow between the lanes."""
    index = {id(e): i for i, e in enumerate(rows)}
    used: set[int] = set()
    found = []
    for (cause_side, cause_kind), (effect_side, effect_kind), dashed in _ARROWS:
        causes = [e for e in rows if e.side == cause_side and e.kind == cause_kind and (dashed or id(e) not in used)]
        effects = [e for e in rows if e.side == effect_side and e.kind == effect_kind and id(e) not in used]
        if dashed:
            causes = causes[:1] * len(effects)
        for cause, effect in zip(causes, effects, strict=False):  # unmatched ones: not arrived yet
            if index[id(cause)] <= index[id(effect)]:
                used.update((id(cause), id(effect)))
                found.append((index[id(cause)], index[id(effect)], dashed))
    return found


def _connection_svg(number: int, events: list[Event], limit: int) -> str:
    ordered = causal_order(events)
    arrows = _arrows(ordered)  # over every event, so the k-th send still meets the k-th receive
    rows: list[Event | None] = list(ordered)
    hidden = 0
    if len(rows) > limit:
        head, tail = limit // 2, limit - limit // 2
        hidden = len(rows) - limit
        rows = [*rows[:head], None, *rows[-tail:]]
    position = {id(e): i for i, e in enumerate(rows) if e is not None}
    connect = next((e for e in events if e.side == "client" and e.kind == "connect"), None)
    title = f"#{number} " + (display_url(connect.data) if connect and isinstance(connect.data, str) else "")
    proxied = any(e.side == "proxy" for e in events)
    after = {id(notice): (disruption, seconds) for disruption, notice, seconds in noticed(events)}
    height = _HEAD + _ROW * len(rows) + 10
    y_end = height - 6
    out = [
        f'<svg class="wsb-tl-svg" viewBox="0 0 {_W} {height}" width="100%" style="max-width:{_W}px" '
        f'xmlns="http://www.w3.org/2000/svg" role="img">',
        f"<title>{_t(title)}: client | server</title>",
        "<defs>"
        + "".join(
            f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
            for name, color in (("wsb-ah", "#666"), ("wsb-ah-close", "#cf222e"))
        )
        + "</defs>",
        f'<text x="8" y="16" class="wsb-tl-title">{_t(title)}</text>',
        f'<text x="{_X_CLIENT}" y="34" class="wsb-tl-lane wsb-client" text-anchor="middle">client</text>',
        f'<text x="{_X_SERVER}" y="34" class="wsb-tl-lane wsb-server" text-anchor="middle">server (endpoint)</text>',
        f'<text x="{_X_CLIENT_STATE}" y="34" class="wsb-tl-col">client_state</text>',
        f'<text x="{_X_APP_STATE}" y="34" class="wsb-tl-col">application_state</text>',
        f'<line x1="{_X_CLIENT}" y1="40" x2="{_X_CLIENT}" y2="{y_end}" class="wsb-tl-lifeline wsb-client"/>',
        f'<line x1="{_X_SERVER}" y1="40" x2="{_X_SERVER}" y2="{y_end}" class="wsb-tl-lifeline wsb-server"/>',
    ]
    if proxied:
        out.append(
            f'<text x="{_X_PROXY}" y="34" class="wsb-tl-lane wsb-proxy" text-anchor="middle">proxy</text>'
            f'<line x1="{_X_PROXY}" y1="40" x2="{_X_PROXY}" y2="{y_end}" class="wsb-tl-lifeline wsb-proxy"/>'
        )
    y = lambda i: _HEAD + _ROW * i + 12  # noqa: E731 - the baseline of row i
    for cause_i, effect_i, dashed in arrows:
        cause, effect = ordered[cause_i], ordered[effect_i]
        if id(cause) not in position or id(effect) not in position:
            continue  # an end is in the part not shown
        r1, r2 = position[id(cause)], position[id(effect)]
        x1, x2 = (_X_CLIENT, _X_SERVER) if cause.side == "client" else (_X_SERVER, _X_CLIENT)
        y1, y2 = y(r1) - 4, y(r2) - 4
        closing = cause.kind in CLOSING
        cls = "wsb-tl-arrow" + (" wsb-close" if closing else "") + (" wsb-dashed" if dashed else "")
        out.append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2 + (6 if x2 < x1 else -6)}" y2="{y2}" class="{cls}" '
            f'marker-end="url(#wsb-ah{"-close" if closing else ""})"/>'
        )
        label = _arrow_label(cause, effect) + (" (uvicorn's reply)" if dashed else "")
        out.append(
            f'<text x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2 - 4:.0f}" text-anchor="middle" '
            f'class="wsb-tl-al{" wsb-close" if closing else ""}">{_t(_short(label, 48))}</text>'
        )
    last_states: tuple[str | None, str | None] = (None, None)
    for i, event in enumerate(rows):
        if event is None:
            out.append(
                f'<text x="{(_X_CLIENT + _X_SERVER) / 2:.0f}" y="{y(i)}" text-anchor="middle" '
                f'class="wsb-tl-gap">… {hidden} events not shown …</text>'
            )
            last_states = (None, None)
            continue
        close_class = " wsb-close" if event.kind in CLOSING else ""
        tip = f"<title>{_t(_tip(event))}</title>"
        if id(event) in after:  # how long after the proxy's disruption this side noticed
            disruption, seconds = after[id(event)]
            left = event.side == "client"
            out.append(
                f'<text x="{_X_CLIENT + 8 if left else _X_SERVER - 8}" y="{y(i)}" '
                f'text-anchor="{"start" if left else "end"}" class="wsb-tl-after">'
                f"+{seconds * 1000:.1f} ms after {_t(disruption.kind)}</text>"
            )
        if event.side == "proxy":
            c = _X_PROXY
            out.append(
                f'<path d="M{c},{y(i) - 9} L{c + 5},{y(i) - 4} L{c},{y(i) + 1} L{c - 5},{y(i) - 4} z" '
                f'class="wsb-tl-dot wsb-proxy"/>'
            )
            out.append(
                f'<text x="{c}" y="{y(i) + 11}" text-anchor="middle" class="wsb-tl-ev wsb-proxy">'
                f"{tip}{_t(_short(_proxy_label(event), 48))}</text>"
            )
            continue
        if event.side == "client":
            label = _client_label(event)
            out.append(f'<circle cx="{_X_CLIENT}" cy="{y(i) - 4}" r="3" class="wsb-tl-dot wsb-client"/>')
            out.append(
                f'<text x="{_X_CLIENT - 10}" y="{y(i)}" text-anchor="end" '
                f'class="wsb-tl-ev wsb-client{close_class}">{tip}{_t(_short(label))}</text>'
            )
            continue
        label = _server_label(event)
        out.append(f'<circle cx="{_X_SERVER}" cy="{y(i) - 4}" r="3" class="wsb-tl-dot wsb-server"/>')
        out.append(
            f'<text x="{_X_SERVER + 10}" y="{y(i)}" class="wsb-tl-ev wsb-server{close_class}">'
            f"{tip}{_t(_short(label, 44))}</text>"
        )
        states = (event.client_state, event.application_state)
        if states != (None, None):
            for x, value, before in zip((_X_CLIENT_STATE, _X_APP_STATE), states, last_states, strict=True):
                changed = " wsb-changed" if value != before else ""
                out.append(f'<text x="{x}" y="{y(i)}" class="wsb-tl-state{changed}">{_t(value or "")}</text>')
            last_states = states
    out.append("</svg>")
    return "".join(out)


_TIMELINE_STYLE = """<style>
.wsb-timeline{font-family:var(--jp-code-font-family,monospace);max-width:1065px}
.wsb-timeline svg text{font-family:var(--jp-code-font-family,monospace);font-size:11px;
  fill:var(--jp-content-font-color1,#222)}
.wsb-timeline .wsb-tl-title{font-weight:600;font-size:12px}
.wsb-timeline .wsb-tl-lane{font-weight:600;font-size:12px}
.wsb-timeline .wsb-tl-col{fill:var(--jp-content-font-color2,#555);font-size:10px}
.wsb-timeline .wsb-tl-lifeline{stroke-width:2}
.wsb-timeline line.wsb-client,.wsb-timeline circle.wsb-client{stroke:#1f6feb;fill:#1f6feb}
.wsb-timeline line.wsb-server,.wsb-timeline circle.wsb-server{stroke:#2da44e;fill:#2da44e}
.wsb-timeline text.wsb-tl-lane.wsb-client{fill:#1f6feb}.wsb-timeline text.wsb-tl-lane.wsb-server{fill:#2da44e}
.wsb-timeline .wsb-tl-arrow{stroke:var(--jp-content-font-color2,#666);stroke-width:1.2}
.wsb-timeline .wsb-tl-arrow.wsb-close{stroke:#cf222e}
.wsb-timeline .wsb-dashed{stroke-dasharray:4 3}
.wsb-timeline text.wsb-tl-al{fill:var(--jp-content-font-color2,#555);font-size:10px;paint-order:stroke;
  stroke:var(--jp-layout-color0,#fff);stroke-width:3px}
.wsb-timeline text.wsb-close{fill:#cf222e}
.wsb-timeline text.wsb-tl-state{fill:var(--jp-content-font-color3,#999);font-size:10px}
.wsb-timeline text.wsb-tl-state.wsb-changed{fill:#bc4c00;font-weight:600}
.wsb-timeline line.wsb-proxy{stroke:#8250df;stroke-dasharray:2 3}.wsb-timeline path.wsb-proxy{fill:#8250df}
.wsb-timeline text.wsb-proxy{fill:#8250df;paint-order:stroke;stroke:var(--jp-layout-color0,#fff);stroke-width:3px}
.wsb-timeline text.wsb-tl-after{fill:#cf222e;font-size:10px;font-style:italic}
.wsb-timeline text.wsb-tl-gap{fill:var(--jp-content-font-color3,#999);font-style:italic}
</style>"""


def timeline_html(events: list[Event], *, limit: int = 400, unmasked: bool = False) -> str:
    """A two-lane picture (client | server) of each connection, in causal order; a third lane
    in the middle for a :class:`~wsbench.proxy.FaultProxy`'s events, where it took part, and
    next to each side's first sign of trouble how long after the proxy's disruption it came.

    Connections are numbered #1, #2 ... in order of appearance, as in ``Transcript.text``;
    a connection with more than *limit* events shows its first and last ``limit / 2``.
    Secrets are masked unless *unmasked*.
    """
    by_conn: dict[int, list[Event]] = {}
    for event in events if unmasked else (e.masked() for e in events):
        by_conn.setdefault(event.conn, []).append(event)
    blocks = [_connection_svg(n, evs, limit) for n, evs in enumerate(by_conn.values(), 1)]
    body = "".join(blocks) or '<div class="wsb-tl-empty">no events yet</div>'
    return f'<div class="wsb-timeline">{_TIMELINE_STYLE}{body}</div>'


# -- the close-code table ---------------------------------------------------------------

_TABLE_STYLE = """<style>
.wsb-codes{border-collapse:collapse;font-size:12px}
.wsb-codes th,.wsb-codes td{border:1px solid var(--jp-border-color2,#ddd);padding:2px 6px;text-align:left;
  vertical-align:top}
.wsb-codes th{background:var(--jp-layout-color2,#eee)}
.wsb-codes .wsb-no{color:#cf222e}.wsb-codes .wsb-yes{color:#2da44e}
.wsb-codes code{font-size:11px}
</style>"""


def code_table_rows() -> list[dict[str, Any]]:
    """One dict per registered code: code, label, may_send, rule, fastapi_name, meaning."""
    return [
        {
            "code": i.code,
            "label": i.label,
            "may_send": i.may_send,
            "rule": i.rule,
            "fastapi_name": i.fastapi_name,
            "meaning": i.meaning,
        }
        for i in REGISTERED
    ]


def code_table_html() -> str:
    """The registry as an HTML table: code, label, may be sent (with the rule), fastapi.status name, meaning."""
    cells = []
    for row in code_table_rows():
        may = (
            '<span class="wsb-yes">yes</span>'
            if row["may_send"]
            else (f'<span class="wsb-no">no</span> — {_t(row["rule"])}')
        )
        name = f"<code>{row['fastapi_name']}</code>" if row["fastapi_name"] else "—"
        cells.append(
            f"<tr><td>{row['code']}</td><td>{_t(row['label'])}</td><td>{may}</td><td>{name}</td>"
            f"<td>{_t(row['meaning'])}</td></tr>"
        )
    head = "<tr><th>code</th><th>label</th><th>may be sent</th><th>fastapi.status</th><th>meaning</th></tr>"
    return f'{_TABLE_STYLE}<table class="wsb-codes">{head}{"".join(cells)}</table>'
