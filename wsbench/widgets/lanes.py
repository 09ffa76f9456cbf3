"""The many-clients picture as a widget: a lane per client, the server between them
(:mod:`._lanes` draws it), following the transcript live, with a static HTML copy beside the
widget for viewers without a kernel and :meth:`Lanes.save` for a standalone page."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..transcript import Transcript
from . import _ticker
from ._lanes import MAX_LANES, lanes_html
from .panel import _with_html
from .timeline import _PAGE

__all__ = ["Lanes"]


class Lanes(widgets.HTML):
    """Every connection of a transcript in one diagram: a lane per client (by name), the server's
    lane between them, arrows from each message to its other end, a handler's sends in its
    connection's colour (a broadcast is a fan of one colour), a row of text per event.

    *source* is a :class:`~wsbench.Transcript` or anything with a ``.transcript`` (a Bench).
    Past *max_lanes* clients the last lane holds the rest; past *limit* events the first and
    last ``limit / 2`` are drawn. While *live* it follows the transcript (at most once per
    *interval* seconds). Secrets are masked unless *unmasked*.
    """

    value: str

    def __init__(
        self,
        source: Any,
        *,
        limit: int = 400,
        max_lanes: int = MAX_LANES,
        live: bool = True,
        interval: float = 0.1,
        unmasked: bool = False,
    ) -> None:
        transcript = source if isinstance(source, Transcript) else getattr(source, "transcript", None)
        if not isinstance(transcript, Transcript):
            raise TypeError(f"Lanes() takes a Transcript or a Bench, not {type(source).__name__}")
        if limit < 2 or max_lanes < 2:
            raise ValueError(f"limit and max_lanes must be at least 2, not {limit} and {max_lanes}")
        super().__init__()
        self.add_class("wsbench-lanes")
        self._transcript = transcript
        self.limit, self.max_lanes, self.interval, self.unmasked = limit, max_lanes, interval, unmasked
        self.updates = 0
        self._seen = -1
        self._lock = threading.RLock()
        self._due = 0.0
        self._discarded = False
        self.tick_error: BaseException | None = None
        self.refresh()
        if live:
            _ticker.add(self)

    @property
    def transcript(self) -> Transcript:
        """What the picture shows."""
        return self._transcript

    def to_html(self, *, unmasked: bool | None = None) -> str:
        """The picture as an HTML fragment (its ``<style>`` included)."""
        unmasked = self.unmasked if unmasked is None else unmasked
        return lanes_html(self._transcript.events, limit=self.limit, max_lanes=self.max_lanes, unmasked=unmasked)

    def refresh(self) -> bool:
        """Redraw now if the transcript grew; True when the picture changed."""
        with self._lock:
            count = len(self._transcript)
            if count == self._seen:
                return False
            self._seen = count
            value = self.to_html()
            if value == self.value:
                return False
            self.value = value
            self.updates += 1
            return True

    def _tick(self, now: float) -> None:
        """Called by the refresh thread; a costly drawing (in CPU time, as the timeline's) spaces the next out."""
        start = time.thread_time()
        self.refresh()
        self._due = now + max(self.interval, 20 * (time.thread_time() - start))

    def _tick_failed(self, exc: BaseException) -> None:
        self.value = f'<div style="color:#cf222e">the picture stopped refreshing: {type(exc).__name__}</div>'

    def save(self, path: str | Path, *, unmasked: bool | None = None) -> Path:
        """Write the picture as a standalone HTML page (no scripts, no network) and return the path."""
        path = Path(path)
        html = _PAGE.format(title="wsbench: many clients", body=self.to_html(unmasked=unmasked))
        path.write_text(html, encoding="utf-8")
        return path

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view, plus the picture as static ``text/html`` for viewers without a kernel."""
        return _with_html(super()._repr_mimebundle_(**kwargs), self.to_html())

    def __repr__(self) -> str:
        clients = len({e.conn for e in self._transcript})
        return f"<Lanes: {clients} client{'' if clients == 1 else 's'}>"

    def close(self) -> None:
        """Close the widget and stop following the transcript."""
        _ticker.discard(self)
        super().close()
