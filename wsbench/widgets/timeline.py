"""The timeline: a two-lane picture (client | server) of a transcript, live or exported; a proxy
lane between them where a :class:`~wsbench.proxy.FaultProxy` took part. Given a
:class:`~wsbench.widgets.Panel`, it draws every connection the panel has driven, so it follows
the panel's reconnects."""

from __future__ import annotations

import threading
import time
from html import escape
from pathlib import Path
from typing import Any, Protocol

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..transcript import Event, Transcript
from . import _ticker
from ._svg import Windows
from .panel import Panel, _with_html

__all__ = ["Timeline"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body style="margin:16px;background:#fff">
{body}
</body>
</html>
"""


class _Recorded(Protocol):
    """Anything with a transcript: a Connection, a Bench, a FaultProxy."""

    @property
    def transcript(self) -> Transcript: ...


class Timeline(widgets.HTML):
    """Both sides of each connection in a transcript, in causal order, as an SVG sequence chart.

    *source* is a :class:`~wsbench.Transcript`, anything with a ``.transcript`` (a Connection, a
    Bench) or a :class:`~wsbench.widgets.Panel` (then it follows the panel's reconnects). A connection
    with more than *limit* events shows its first and last ``limit / 2``; while *live* it follows the
    transcript at most once per *interval* seconds. Secrets show as ``***`` unless ``unmasked=True``.
    What each lane shows: ``docs/modules/wsbench.widgets.md``.
    """

    value: str  # the widget's trait (ipywidgets is untyped): the picture's HTML

    def __init__(
        self,
        source: Transcript | Panel | _Recorded,
        *,
        limit: int = 400,
        live: bool = True,
        interval: float = 0.1,
        unmasked: bool = False,
    ) -> None:
        self._panel = source if isinstance(source, Panel) else None
        fixed = source if isinstance(source, Transcript) else getattr(source, "transcript", None)
        if self._panel is None and not isinstance(fixed, Transcript):
            raise TypeError(
                f"Timeline() takes a Transcript, a Connection, a Bench or a Panel, not {type(source).__name__}"
            )
        windows = Windows(limit)  # checks limit
        super().__init__()
        self.add_class("wsbench-timeline")
        self._fixed = fixed if isinstance(fixed, Transcript) else None
        self._windows = windows
        self._taken: dict[int, tuple[Transcript, int]] = {}  # id(transcript) -> (it, how many events taken in)
        self.interval = interval
        self.unmasked = unmasked
        self.updates = 0  #: how many times the picture was sent to the front-end
        self._lock = threading.RLock()
        self._drawn = False
        self._cost = 0.0
        self._due = 0.0
        self._picture = ""  # the last picture drawn, shown under an error note if a refresh fails
        self.tick_error: BaseException | None = None  #: the last exception the refresh timer met here
        self.refresh()
        if live:
            _ticker.add(self)

    @property
    def transcript(self) -> Transcript:
        """What the picture shows: the transcript given, or (for a panel) a snapshot of the
        transcripts of all its connections, one after the other."""
        return self._fixed if self._fixed is not None else Transcript(self._events())

    def _transcripts(self) -> list[Transcript]:
        if self._panel is None:
            assert self._fixed is not None
            return [self._fixed]
        found: dict[int, Transcript] = {}  # by identity: two connections may share one transcript
        for conn in self._panel.connections:
            found.setdefault(id(conn.transcript), conn.transcript)
        return list(found.values())

    def _events(self) -> list[Event]:
        return [event for t in self._transcripts() for event in t.events]

    @property
    def limit(self) -> int:
        """Events drawn per connection at most: past it, the first and last ``limit / 2``."""
        return self._windows.limit

    @limit.setter
    def limit(self, limit: int) -> None:
        with self._lock:
            self._windows = Windows(limit)  # checks limit
            self._taken.clear()  # the next look takes every event in again
            self._drawn = False

    def _take_in(self) -> bool:
        """Give the picture's windows what the transcripts recorded since the last look (so a
        redraw reads only new events, not the whole conversation); True when there was some.
        What it takes is not drawn yet: the next :meth:`refresh` draws it, whoever took it in
        (``save()``, ``to_html()`` and ``repr()`` look too)."""
        grew = False
        for transcript in self._transcripts():
            _, taken = self._taken.get(id(transcript), (transcript, 0))
            new = transcript.since(taken)
            if new:
                self._windows.add(new)
                grew = True
            self._taken[id(transcript)] = (transcript, taken + len(new))
        if grew:
            self._drawn = False
        return grew

    def to_html(self, *, unmasked: bool | None = None) -> str:
        """The picture as an HTML fragment (its own ``<style>`` included), masked as the widget unless *unmasked*;
        raises nothing."""
        unmasked = self.unmasked if unmasked is None else unmasked
        with self._lock:
            self._take_in()
            return self._windows.html(unmasked=unmasked)

    def refresh(self) -> bool:
        """Redraw now if the transcript grew; True when the picture changed. Raises nothing."""
        with self._lock:
            if not self._take_in() and self._drawn:
                return False
            start = time.thread_time()  # CPU time: waiting for the GIL or a core costs the picture nothing
            value = self._windows.html(unmasked=self.unmasked)
            self._cost = time.thread_time() - start
            self._drawn = True
            self._picture = value
            if value == self.value:
                return False
            self.value = value
            self.updates += 1
            return True

    def _tick(self, now: float) -> None:
        """Called by the refresh thread; a costly drawing spaces the next ones out (at most ~5% of a core,
        in CPU time: the drawing thread waiting for a core or the GIL costs nothing)."""
        self.refresh()
        self._due = now + max(self.interval, 20 * self._cost)

    def _tick_failed(self, exc: BaseException) -> None:
        """Called by the refresh thread when :meth:`_tick` raised: a red note above the last picture."""
        note = (
            '<div class="wsb-tl-error" style="color:#cf222e;white-space:pre-wrap">'
            f"the timeline stopped refreshing: {escape(type(exc).__name__)}: {escape(str(exc))} "
            "(timeline.tick_error has the traceback; timeline.refresh() tries again now)</div>"
        )
        self.value = note + self._picture

    def save(self, path: str | Path, *, unmasked: bool | None = None) -> Path:
        """Write the picture as a standalone HTML page (no scripts, no network) and return the path;
        secrets masked unless *unmasked* (default: as the widget shows them). Raises OSError when it cannot."""
        path = Path(path)
        path.write_text(_PAGE.format(title="wsbench timeline", body=self.to_html(unmasked=unmasked)), encoding="utf-8")
        return path

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """ipywidgets' bundle (the widget view, the ``text/plain`` repr unchanged) plus the picture
        as static ``text/html``, which GitHub, nbviewer and nbconvert show where no kernel runs."""
        return _with_html(super()._repr_mimebundle_(**kwargs), self.to_html())

    def __repr__(self) -> str:
        with self._lock:
            self._take_in()
            count = len(self._windows)
        return f"<Timeline: {count} connection{'' if count == 1 else 's'}>"

    def close(self) -> None:
        """Close the widget and stop following the transcript; raises nothing."""
        _ticker.discard(self)
        super().close()
