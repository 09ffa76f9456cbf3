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

from .._net import loopback_path
from .._text import cut
from ..codes import MAX_REASON_BYTES, REGISTERED, describe
from ..kinds import CLOSING, LOG_KINDS
from ..transcript import Event

__all__ = [
    "LOG_KINDS",
    "LogLine",
    "body_kind",
    "code_table_html",
    "code_table_rows",
    "hexdump",
    "log_line",
    "panel_style",
    "pretty_json",
    "reason_size_html",
]

# LOG_KINDS (the client kinds the panel's log shows) is declared in wsbench.kinds, re-exported here.

_TEXT_CHARS = 600  # characters of a text body shown in one log line
_PREVIEW_CHARS = 60  # characters of a text body in the line's plain form (``panel.log_lines()``)
_JSON_LINES = 30  # lines of pretty JSON shown in one log line
_HEX_ROWS = 8  # rows of 16 bytes shown in one log line


def _t(text: str) -> str:
    """Escape text for HTML content (quotes stay readable)."""
    return escape(text, quote=False)


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
        return "·", f"connect {loopback_path(event.data) if isinstance(event.data, str) else ''}".rstrip()
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
            preview = cut(text, _PREVIEW_CHARS)
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
.wsbench-panel .wsb-inactive input{color:var(--jp-content-font-color3,#888)}
.wsbench-panel .jupyter-widgets-disconnected::before{content:none;display:none}
.wsbench-panel.jupyter-widgets-disconnected::before{
  content:"disconnected from the kernel (restarted or stopped): run this cell again";
  display:block;font:italic 12px var(--jp-ui-font-family,sans-serif);color:#cf222e;padding:2px 4px}
.wsbench-panel .wsb-over{color:#cf222e;font-weight:600}
.wsbench-panel .wsb-ok{color:var(--jp-content-font-color2,#555)}
</style>"""


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
