"""One daemon thread that refreshes every live widget on a timer, coalescing updates.

A view registers itself with :func:`add`; every :data:`TICK` seconds the thread calls
``view._tick(now)`` for each view whose ``_due`` time has come. A view decides itself
whether anything changed (a transcript grew, a state moved) and sets its next ``_due``,
so a view refreshes at most once per its interval (0.1 s: 10 updates a second) however
many messages arrive: never once per message. Views are held weakly; the thread ends
when no view is left and starts again with the next one.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Protocol

__all__ = ["TICK", "add", "discard", "running"]

#: Seconds between two looks at the views.
TICK = 0.05


class _View(Protocol):
    _due: float
    _tick_error: BaseException | None

    def _tick(self, now: float) -> None: ...


_views: weakref.WeakSet = weakref.WeakSet()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def add(view: _View) -> None:
    """Refresh *view* on the timer from now on."""
    global _thread
    with _lock:
        _views.add(view)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="wsbench-widgets", daemon=True)
            _thread.start()


def discard(view: _View) -> None:
    """Stop refreshing *view*."""
    with _lock:
        _views.discard(view)


def running() -> bool:
    """True while the refresh thread runs."""
    return _thread is not None and _thread.is_alive()


def _run() -> None:
    global _thread
    while True:
        time.sleep(TICK)
        with _lock:
            views = list(_views)
            if not views:
                _thread = None
                return
        now = time.monotonic()
        for view in views:
            if now < view._due:
                continue
            try:
                view._tick(now)
            except Exception as exc:  # kept on the view: printing would land in whichever cell runs
                view._tick_error = exc
        del views
