"""One daemon thread that refreshes every live widget on a timer, coalescing updates.

A view registers itself with :func:`add`; every :data:`TICK` seconds the thread calls
``view._tick(now)`` for each view whose ``_due`` time has come. A view decides itself
whether anything changed (a transcript grew, a state moved) and sets its next ``_due``,
so a view refreshes at most once per its interval (0.1 s: 10 updates a second) however
many messages arrive: never once per message. Views are held weakly; the thread ends
when no view is left and starts again with the next one.

A view whose ``_tick`` raises is not dropped and does not stop the others: the exception is
kept on the view (``view.tick_error``, traceback included), the view shows it in its own
area (``view._tick_failed``), and it is tried again after :data:`RETRY` seconds, as the
cause may pass. Nothing is printed: from this thread, print output would land in whichever
cell happens to run.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Protocol

__all__ = ["RETRY", "TICK", "add", "discard", "running"]

#: Seconds between two looks at the views.
TICK = 0.05

#: Seconds a view whose refresh raised waits before it is tried again.
RETRY = 1.0


class _View(Protocol):
    _due: float
    _discarded: bool  # set by discard(): skipped, then forgotten at the next look
    tick_error: BaseException | None

    def _tick(self, now: float) -> None: ...

    def _tick_failed(self, exc: BaseException) -> None: ...


_views: weakref.WeakSet[_View] = weakref.WeakSet()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def add(view: _View) -> None:
    """Refresh *view* on the timer from now on."""
    global _thread
    with _lock:
        view._discarded = False  # (again, if it was discarded before)
        _views.add(view)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="wsbench-widgets", daemon=True)
            _thread.start()


def discard(view: _View) -> None:
    """Stop refreshing *view*: the thread skips it from now on, and forgets it now if its lock is
    free, else at its next look.

    Never waits for the lock: a widget that is garbage collected in the refresh thread, while that thread
    holds the lock to copy its views, closes itself there (ipywidgets' ``__del__`` calls
    ``close``), and would wait for ever for a lock its own thread holds."""
    view._discarded = True
    if _lock.acquire(blocking=False):  # free: forget it now
        try:
            _views.discard(view)
        finally:
            _lock.release()


def running() -> bool:
    """True while the refresh thread runs."""
    return _thread is not None and _thread.is_alive()


def _run() -> None:
    global _thread
    while True:
        time.sleep(TICK)  # the timer itself, not a wait for another thread
        with _lock:
            views = list(_views)
            for view in views:
                if view._discarded:
                    _views.discard(view)
            views = [view for view in views if not view._discarded]
            if not views:
                _thread = None
                return
        now = time.monotonic()
        for view in views:
            if now < view._due or view._discarded:
                continue
            try:
                view._tick(now)
            except Exception as exc:
                _failed(view, exc, now)
        del views


def _failed(view: _View, exc: Exception, now: float) -> None:
    """Keep *exc* on *view*, let the view show it, and try the view again after RETRY seconds."""
    view._due = now + RETRY
    view.tick_error = exc
    try:
        view._tick_failed(exc)
    except Exception:  # showing it failed too: it stays readable as view.tick_error
        pass
