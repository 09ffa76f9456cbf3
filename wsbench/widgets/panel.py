"""The connection panel: state badge, live message log, send box, close-with-code, ping, reconnect.

One panel follows one conversation across reconnects: ``panel.conn`` is the live connection,
``panel.connections`` every one it has driven, and the log and the counts run on through a
"reconnected" mark instead of starting again. A :class:`~wsbench.widgets.Timeline` given the
panel (``panel.timeline()``) draws all of them.
"""

from __future__ import annotations

import itertools
import json
import string
import threading
from collections import deque
from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from .._net import loopback_path
from ..client import Connection
from ..codes import REGISTERED, check_close, describe
from ..errors import InvalidCloseCode, ReasonTooLong, WsbenchError
from ..kinds import DISRUPTIONS
from ..secrets import display_url
from ..transcript import Event
from ..transcript.spool import LazyEvents
from . import _ticker
from ._render import LOG_KINDS, LogLine, log_line, panel_style, reason_size_html
from ._sendbox import SendBox

if TYPE_CHECKING:
    from .timeline import Timeline

__all__ = ["CUSTOM", "Panel"]

#: The value of the code picker's "custom code" entry: the custom code field then gives the code.
CUSTOM = 0
#: Close codes that say the connection dropped (no close frame, or the server's internal error):
#: the badge then adds the cause the transcript knows.
_DROPS = frozenset({1006, 1011})
#: A panel opened on a long conversation reads at most this many times its ring of the newest events.
_LOOK_BACK = 20

_RED = "#cf222e"
_MODES = (("text", "text"), ("JSON", "json"), ("bytes (hex)", "hex"))
_MARK = LogLine(
    "· reconnected",
    '<div class="wsb-row wsb-control wsb-mark" style="border-top:2px solid #1f6feb;color:#1f6feb;font-weight:600">'
    '<span class="wsb-when"></span><span class="wsb-dir">·</span><span class="wsb-event">reconnected</span></div>',
)
_PLACEHOLDERS = {"text": "a text message", "json": 'JSON, e.g. {"type": "hello"}', "hex": "hex bytes, e.g. 68 69 00 ff"}


def _full_width() -> widgets.Layout:
    """The panel's whole width. A widget's 2 px side margins on top of width 100% overflowed the
    panel by 4 px (a horizontal scrollbar), so this one has none."""
    return widgets.Layout(width="100%", margin="2px 0")


def _row(children: list[widgets.Widget]) -> widgets.HBox:
    """A row of controls that wraps onto a second line in a narrow notebook instead of scrolling."""
    return widgets.HBox(children, layout=widgets.Layout(flex_flow="row wrap"))


class _Refused(Exception):
    """What the user typed cannot be sent; the message says why."""


def _parse_hex(raw: str) -> bytes:
    digits = "".join(raw.split()).replace(":", "")
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    bad = next((i for i, ch in enumerate(digits) if ch not in string.hexdigits), None)
    if bad is not None:
        raise _Refused(f"not hex: {digits[bad]!r} is not a hex digit; write pairs such as '68 69'; nothing was sent")
    if len(digits) % 2:
        raise _Refused(f"not hex: {len(digits)} hex digits, an odd number; each byte takes two; nothing was sent")
    return bytes.fromhex(digits)


def _parse_json(raw: str) -> Any:
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _Refused(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}); nothing was sent") from None


def _no_constant(name: str) -> Any:
    """Python's json reads NaN and Infinity, which JSON (and a browser's JSON.parse) does not have."""
    raise _Refused(f"not JSON: {name} is not a JSON value (use null or a string); nothing was sent")


class Panel(widgets.VBox):
    """A live view of one :class:`~wsbench.Connection`, with controls that drive it.

    A badge, a log of the last *ring* client-side events, a send box, close with a code, ping and
    reconnect; every control works from code (``panel.send_button.click()``); the log refreshes at
    most once per *interval* seconds, :meth:`flush` at once. Secrets show as ``***`` unless
    ``unmasked=True``. Each control, and what reconnect does: ``docs/modules/wsbench.widgets.md``.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        ring: int = 300,
        interval: float = 0.1,
        reconnect: Callable[[], Connection] | None = None,
        live: bool = True,
        unmasked: bool = False,
    ) -> None:
        if ring < 1:
            raise ValueError(f"ring must be at least 1 line, not {ring}")
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval}")
        self.badge = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.counts = widgets.HTML()
        self.log_view = widgets.HTML(layout=_full_width())
        self.filter = widgets.Text(placeholder="filter the log", layout=widgets.Layout(width="260px"))
        self.mode = widgets.ToggleButtons(options=_MODES, value="text", style={"button_width": "auto"})
        self.message = SendBox(placeholder=_PLACEHOLDERS["text"], rows=2, layout=_full_width())
        self.send_button = widgets.Button(description="send", button_style="primary")
        self.send_error = widgets.Label(style={"text_color": _RED})
        self.code = widgets.Dropdown(
            options=[(str(info) + ("" if info.may_send else " - may not be sent"), info.code) for info in REGISTERED]
            + [("custom code …", CUSTOM)],
            value=1000,
            layout=widgets.Layout(width="330px"),
        )
        # never disabled: a browser lets no one type into a disabled box; dimmed until chosen, and a
        # keystroke in it (synced at once) chooses "custom code" (issue 20)
        self.custom_code = widgets.IntText(value=4000, continuous_update=True, layout=widgets.Layout(width="90px"))
        self.reason = widgets.Text(placeholder="reason (at most 123 bytes)", layout=widgets.Layout(width="220px"))
        self.reason_size = widgets.HTML(reason_size_html(""), layout=widgets.Layout(min_width="100px"))
        self.close_button = widgets.Button(description="close", button_style="danger")
        self.close_error = widgets.Label(style={"text_color": _RED})
        self.ping_button = widgets.Button(description="ping")
        self.reconnect_button = widgets.Button(description="reconnect")
        self.result = widgets.Label()
        self.refresh_error = widgets.Label(style={"text_color": _RED}, layout=widgets.Layout(display="none"))
        for name in (
            "badge",
            "counts",
            "log_view",
            "refresh_error",
            "filter",
            "mode",
            "message",
            "send_button",
            "send_error",
            "code",
            "custom_code",
            "reason",
            "reason_size",
            "close_button",
            "close_error",
            "ping_button",
            "reconnect_button",
            "result",
        ):
            getattr(self, name).add_class("wsbench-" + name.replace("_", "-"))
        self.custom_code.add_class("wsb-inactive")
        super().__init__(
            children=[
                widgets.HTML(panel_style(), layout=widgets.Layout(display="none")),
                _row([self.badge, self.counts]),
                self.log_view,
                self.refresh_error,
                _row([self.filter]),
                _row([self.mode, self.send_button]),
                self.message,
                self.send_error,
                _row([self.code, self.custom_code, self.reason, self.reason_size, self.close_button]),
                self.close_error,
                _row([self.ping_button, self.reconnect_button, self.result]),
            ]
        )
        self.add_class("wsbench-panel")
        self.conn = conn  #: the live connection: the one given, or the last reconnect's
        self._connections = [conn]
        self.unmasked = unmasked
        self.ring = ring
        self.interval = interval
        self.updates = 0  #: how many times the log's value was sent to the front-end
        self._reconnect = reconnect
        self._lock = threading.RLock()
        self._lines: deque[LogLine] = deque(maxlen=ring)
        self._lines_total = 0
        self._index = 0
        self._sent = self._received = 0
        self._t0: float | None = None
        self._cause: str | None = None  # why the live connection dropped, when its transcript says
        self._due = 0.0
        self.tick_error: BaseException | None = None  #: the last exception the refresh timer met here
        self.send_button.on_click(self._on_send)
        self.message.on_submit(self._on_send)  # Ctrl+Enter (Cmd+Enter) in the box: the send button's path
        self.close_button.on_click(self._on_close)
        self.ping_button.on_click(self._on_ping)
        self.reconnect_button.on_click(self._on_reconnect)
        self.mode.observe(self._on_mode, names="value")
        self.filter.observe(lambda _: self._render_log(), names="value")
        self.custom_code.observe(self._on_custom_code, names="value")
        self.code.observe(self._on_code, names="value")
        self.reason.observe(
            lambda change: setattr(self.reason_size, "value", reason_size_html(change["new"])), names="value"
        )
        self.flush()
        if live:
            _ticker.add(self)

    # -- what it shows --------------------------------------------------------------

    @property
    def status(self) -> str:
        """The badge's words: "open", "closed 4001 (private use) bye", ..."""
        conn = self.conn
        if conn.state != "closed":
            return conn.state
        closed = f"closed {describe(conn.close_code, conn.close_reason or '')}"
        cause = self._cause if conn.close_code in _DROPS else None
        return f"{closed}: {cause}" if cause else closed

    def __repr__(self) -> str:
        return f"<Panel {self._url()} {self.status}>"

    def static_html(self) -> str:
        """The badge, the counts and the log as one static HTML fragment (no controls): what a
        notebook shows of the panel where no kernel runs (GitHub, nbviewer, nbconvert). Raises nothing."""
        with self._lock:
            self.flush()
            return (
                f'<div class="wsbench-panel wsbench-static">{panel_style()}'
                f"<div>{self.badge.value} {self.counts.value}</div>{self.log_view.value}</div>"
            )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """ipywidgets' bundle (the widget view, the ``text/plain`` repr unchanged) plus
        :meth:`static_html` as ``text/html``, for viewers without a kernel."""
        return _with_html(super()._repr_mimebundle_(**kwargs), self.static_html())

    def _url(self) -> str:
        return loopback_path(self.conn.url) if self.unmasked else display_url(self.conn.url)

    def log_lines(self) -> list[str]:
        """The log lines shown now (filter applied), as deterministic text without times. Raises nothing."""
        with self._lock:
            return [line.text for line in self._visible()]

    @property
    def connections(self) -> tuple[Connection, ...]:
        """Every connection this panel has driven, oldest first; the last one is :attr:`conn`."""
        with self._lock:
            return tuple(self._connections)

    @property
    def events_seen(self) -> int:
        """How many events of ``conn.transcript`` the panel has taken in so far."""
        return self._index

    def flush(self) -> bool:
        """Take in the transcript's new events and update the badge, counts and log now.

        Returns True when some value changed (and so went to the front-end). Raises nothing.
        """
        with self._lock:
            conn = self.conn
            new = conn.transcript.since(self._index)
            if self._index == 0 and isinstance(new, LazyEvents):  # opened on a long conversation
                shown = self._take_in_long(new)
            else:
                shown = self._take_in(new)
            self._index += len(new)
            for event in shown[-self.ring :]:  # older ones would fall out of the ring at once
                self._lines.append(log_line(event, self._t0 or 0.0, unmasked=self.unmasked))
            changed = self._render_log() if shown or not self.log_view.value else False
            counts = f'<span class="wsb-counts">{self._sent} sent · {self._received} received</span>'
            changed |= _set(self.counts, counts)
            state = conn.state
            badge = (
                f'<span class="wsb-badge wsb-state-{state}">{escape(self.status)}</span>'
                f'<span class="wsb-url">{escape(self._url())}</span>'
            )
            changed |= _set(self.badge, badge)
            return changed

    def _take_in(self, new: Sequence[Event]) -> list[Event]:
        """Count *new* events and return those the log shows."""
        shown = []
        for event in new:
            if event.side != "client":
                self._note_cause(event)
                continue
            if event.kind == "send":
                self._sent += 1
            elif event.kind == "receive":
                self._received += 1
            if event.kind in LOG_KINDS:
                shown.append(event)
        if new and self._t0 is None:
            self._t0 = new[0].time
        self._lines_total += len(shown)
        return shown

    def _note_cause(self, event: Event) -> None:
        """Keep what the other side or a proxy recorded that drops a connection: the endpoint's
        exception ("endpoint raised KeyError: 'text'"), a proxy's cut."""
        if (event.side, event.kind) == ("server", "exception") or (event.side == "proxy" and event.kind in DISRUPTIONS):
            shown = event if self.unmasked else event.masked()
            words = shown.detail or ""
            self._cause = words if event.side == "server" else f"the proxy's {event.kind}: {words}".rstrip(": ")

    def _take_in_long(self, events: LazyEvents[Event]) -> list[Event]:
        """As :meth:`_take_in` for a whole long transcript, in time that does not grow with it:
        the counts come from the spool's index, and only the newest events are read, backwards,
        until the ring is full (or :data:`_LOOK_BACK` times the ring has been looked at)."""
        counts = events.kind_counts()
        self._sent += counts["client", "send"]
        self._received += counts["client", "receive"]
        self._lines_total += sum(counts["client", kind] for kind in LOG_KINDS)
        for event in itertools.islice(reversed(events), self.ring * _LOOK_BACK):  # the newest cause, if near the end
            if event.side != "client":
                self._note_cause(event)
                if self._cause is not None:
                    break
        if events and self._t0 is None:
            self._t0 = events[0].time
        newest = itertools.islice(reversed(events), self.ring * _LOOK_BACK)
        shown = [e for e in newest if e.side == "client" and e.kind in LOG_KINDS][: self.ring]
        return shown[::-1]

    def _visible(self) -> list[LogLine]:
        wanted = self.filter.value.strip().lower()
        lines = list(self._lines)
        return [line for line in lines if wanted in line.text.lower()] if wanted else lines

    def _render_log(self) -> bool:
        with self._lock:
            visible = self._visible()
            notes = []
            hidden = self._lines_total - len(self._lines)
            if hidden:
                notes.append(
                    f"… {hidden} earlier lines not shown (the panel keeps {self.ring}); "
                    "the full record is conn.transcript"
                )
            if self.filter.value.strip():
                notes.append(f"filter {self.filter.value.strip()!r}: {len(visible)} of {len(self._lines)} lines")
            if not self._lines:
                notes.append("no messages yet")
            note = "".join(f'<div class="wsb-note">{escape(n, quote=False)}</div>' for n in notes)
            value = f'<div class="wsb-scroll"><div>{note}{"".join(line.html for line in visible)}</div></div>'
            if _set(self.log_view, value):
                self.updates += 1
                return True
            return False

    def _tick(self, now: float) -> None:
        """Called by the refresh thread: flush when the transcript grew or the state moved."""
        self._due = now + self.interval
        if len(self.conn.transcript) != self._index or self.status not in self.badge.value:
            if self._lock.acquire(blocking=False):  # a control is busy: try again next time
                try:
                    self.flush()
                    self._show_refresh_error("")
                finally:
                    self._lock.release()

    def _tick_failed(self, exc: BaseException) -> None:
        """Called by the refresh thread when :meth:`_tick` raised: say so under the log."""
        self._show_refresh_error(
            f"the log stopped refreshing: {type(exc).__name__}: {exc} "
            "(panel.tick_error has the traceback; panel.flush() tries again now)"
        )

    def _show_refresh_error(self, text: str) -> None:
        """Show *text* under the log; an empty line takes no room."""
        if _set(self.refresh_error, text):
            self.refresh_error.layout.display = None if text else "none"

    def timeline(self, *, limit: int = 400, live: bool = True, interval: float = 0.1) -> Timeline:
        """A :class:`~wsbench.widgets.Timeline` of this panel's connections, which follows its
        reconnects (``Timeline(conn)`` stays with that one connection); masked as the panel is. Raises
        ValueError for a *limit* below 2 events."""
        from .timeline import Timeline  # timeline.py imports this module

        return Timeline(self, limit=limit, live=live, interval=interval, unmasked=self.unmasked)

    # -- controls ------------------------------------------------------------------------

    def _on_mode(self, change: dict[str, Any]) -> None:
        self.message.placeholder = _PLACEHOLDERS[change["new"]]
        self.send_error.value = ""

    def _on_custom_code(self, change: dict[str, Any]) -> None:
        self.code.value = CUSTOM

    def _on_code(self, change: dict[str, Any]) -> None:
        """Dim the custom code box unless it is the code that is sent (one code on screen reads as sent)."""
        if change["new"] == CUSTOM:
            self.custom_code.remove_class("wsb-inactive")
        else:
            self.custom_code.add_class("wsb-inactive")

    def selected_code(self) -> int:
        """The code the close button would send: the picker's, or the custom field's. Raises nothing."""
        code: int = self.custom_code.value if self.code.value == CUSTOM else self.code.value
        return code

    def _on_send(self, _button: Any = None) -> None:
        raw = self.message.value
        try:
            if self.mode.value == "json":
                self.conn.send_json(_parse_json(raw))
            elif self.mode.value == "hex":
                self.conn.send_bytes(_parse_hex(raw))
            else:
                self.conn.send_text(raw)
        except _Refused as exc:
            self.send_error.value = str(exc)
        except WsbenchError as exc:
            self.send_error.value = f"{type(exc).__name__}: {exc}"
        else:
            self.send_error.value = ""

    def _on_close(self, _button: Any = None) -> None:
        code, reason = self.selected_code(), self.reason.value
        try:
            check_close(code, reason)
        except (InvalidCloseCode, ReasonTooLong) as exc:
            self.close_error.value = f"{exc}. Nothing was sent."
            return
        try:
            self.conn.close(code, reason)
        except WsbenchError as exc:
            self.close_error.value = f"{type(exc).__name__}: {exc}"
        else:
            self.close_error.value = ""
        self.flush()

    def _on_ping(self, _button: Any = None) -> None:
        try:
            seconds = self.conn.ping()
        except WsbenchError as exc:
            self.result.value = f"{type(exc).__name__}: {exc}"
        else:
            self.result.value = f"ping: round trip {seconds * 1000:.2f} ms"
        self.flush()

    def _on_reconnect(self, _button: Any = None) -> None:
        old = self.conn
        try:
            if old.state == "open":
                old.close(1000, "reconnect")
            new = self._reconnect() if self._reconnect is not None else _reconnect(old)
        except WsbenchError as exc:
            self.result.value = f"{type(exc).__name__}: {exc}"
            self.flush()
            return
        with self._lock:
            self.flush()  # the old connection's last lines first
            self.conn = new
            self._connections.append(new)
            self._index = 0  # of the new transcript; the counts and the times (t0) run on
            self._cause = None
            self._lines.append(_MARK)
            self._lines_total += 1
            self.send_error.value = self.close_error.value = ""
            self.result.value = "reconnected"
            self.flush()
            self._render_log()  # the mark, even if the new transcript had nothing new yet

    def close(self) -> None:
        """Close the widget (not the connection: that is the close button) and stop refreshing it; raises nothing."""
        _ticker.discard(self)
        for child in self._all_children():
            child.close()
        super().close()

    def _all_children(self) -> list[widgets.Widget]:
        found: list[widgets.Widget] = []
        stack = list(self.children)
        while stack:
            widget = stack.pop()
            found.append(widget)
            stack.extend(getattr(widget, "children", ()))
        return found


def _reconnect(conn: Connection) -> Connection:
    """``conn.reconnect()``; for a bench's connection ``bench.reopen(conn)``: when that bench was
    replaced (its cell re-run), the same path on the new bench, or a BenchError saying which cell to run."""
    from ..server import Bench

    bench = conn._pairing
    return bench.reopen(conn) if isinstance(bench, Bench) else conn.reconnect()


def _with_html(bundle: Any, html: str) -> Any:
    """*bundle* (ipywidgets' ``data`` dict, or ``(data, metadata)``) with a static ``text/html`` added.

    A live front-end renders the widget view (it ranks above HTML); a static viewer cannot and
    shows the HTML instead. ``text/plain``, which nbval compares, is left as it is."""
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    if isinstance(data, dict):
        data["text/html"] = html
    return bundle


def _set(widget: widgets.Widget, value: str) -> bool:
    """Assign *value* only when it differs: every assignment is a message to the front-end."""
    if widget.value == value:
        return False
    widget.value = value
    return True
