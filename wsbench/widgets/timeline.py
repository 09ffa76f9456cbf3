"""The timeline: a two-lane picture (client | server) of a transcript, live or exported; a proxy
lane between them where a :class:`~wsbench.proxy.FaultProxy` took part."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..transcript import Transcript
from . import _ticker
from ._render import timeline_html

__all__ = ["Timeline"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body style="margin:16px;background:#fff">
{body}
</body>
</html>
"""


class Timeline(widgets.HTML):
    """Both sides of each connection in a transcript, in causal order, as an SVG sequence chart.

    The client lane shows what the client did (connect, send, receive, close ...); the server
    lane every ASGI message the endpoint saw or sent, with ``client_state`` and
    ``application_state`` after it (changes in bold); arrows join each message to its other
    end, close frames in red with their code. Where a :class:`~wsbench.proxy.FaultProxy` took part,
    a proxy lane in the middle shows its events (faults set, cuts, each side's FIN or reset), and
    each side's first sign of trouble says how many ms after the proxy's disruption it came.
    *source* is a :class:`~wsbench.Transcript`, or
    anything with a ``.transcript`` (a Connection, a Bench). A connection with more than
    *limit* events shows its first and last ``limit / 2``. While *live*, the picture follows
    the transcript, redrawn at most once per *interval* seconds (less often when drawing takes
    long); :meth:`save` writes a standalone HTML file.

    Secrets (token-like query parameters, credential headers: :mod:`wsbench.secrets`) show
    as ``***``, in the widget and in what it saves; ``unmasked=True`` shows them (and
    :meth:`to_html` / :meth:`save` take ``unmasked=`` for one call).
    """

    def __init__(
        self, source: Any, *, limit: int = 400, live: bool = True, interval: float = 0.1, unmasked: bool = False
    ) -> None:
        transcript = source if isinstance(source, Transcript) else getattr(source, "transcript", None)
        if not isinstance(transcript, Transcript):
            raise TypeError(f"Timeline() takes a Transcript, or a Connection or Bench, not {type(source).__name__}")
        if limit < 2:
            raise ValueError(f"limit must be at least 2 events, not {limit}")
        super().__init__()
        self.add_class("wsbench-timeline")
        self.transcript = transcript
        self.limit = limit
        self.interval = interval
        self.unmasked = unmasked
        self.updates = 0  #: how many times the picture was sent to the front-end
        self._lock = threading.Lock()
        self._seen = -1
        self._cost = 0.0
        self._due = 0.0
        self._tick_error: BaseException | None = None
        self.refresh()
        if live:
            _ticker.add(self)

    def to_html(self, *, unmasked: bool | None = None) -> str:
        """The picture as an HTML fragment (its own ``<style>`` included); *unmasked* defaults to the widget's."""
        unmasked = self.unmasked if unmasked is None else unmasked
        return timeline_html(self.transcript.events, limit=self.limit, unmasked=unmasked)

    def refresh(self) -> bool:
        """Redraw now if the transcript grew; True when the picture changed."""
        with self._lock:
            events = self.transcript.events
            if len(events) == self._seen:
                return False
            start = time.perf_counter()
            value = timeline_html(events, limit=self.limit, unmasked=self.unmasked)
            self._cost = time.perf_counter() - start
            self._seen = len(events)
            if value == self.value:
                return False
            self.value = value
            self.updates += 1
            return True

    def _tick(self, now: float) -> None:
        """Called by the refresh thread; a costly drawing spaces the next ones out (at most ~5% of a core)."""
        self.refresh()
        self._due = now + max(self.interval, 20 * self._cost)

    def save(self, path: str | Path, *, unmasked: bool | None = None) -> Path:
        """Write the picture as a standalone HTML page (no scripts, no network) and return the path;
        secrets masked unless *unmasked* (default: as the widget shows them)."""
        path = Path(path)
        path.write_text(_PAGE.format(title="wsbench timeline", body=self.to_html(unmasked=unmasked)), encoding="utf-8")
        return path

    def __repr__(self) -> str:
        count = len({event.conn for event in self.transcript.events})
        return f"<Timeline: {count} connection{'' if count == 1 else 's'}>"

    def close(self) -> None:
        """Close the widget and stop following the transcript."""
        _ticker.discard(self)
        super().close()
