"""The refresh thread: a view whose refresh raises shows why, and the others keep refreshing."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from conftest import TIMEOUT_SCALE, wait_until

import wsbench
from wsbench.transcript import Transcript, record
from wsbench.widgets import Panel, Timeline, _ticker
from wsbench.widgets.lanes import Lanes


class _Fake:
    """A view for the ticker: counts its ticks, raises when told to, records what it was shown."""

    def __init__(self, fail: bool = False) -> None:
        self._due = 0.0
        self.tick_error: BaseException | None = None
        self.fail = fail
        self.ticks = 0
        self.shown: list[BaseException] = []

    def _tick(self, now: float) -> None:
        self._due = now + 0.05
        self.ticks += 1
        if self.fail:
            raise RuntimeError("boom")

    def _tick_failed(self, exc: BaseException) -> None:
        self.shown.append(exc)


@pytest.fixture
def views() -> Iterator[list[_Fake]]:
    """Two fake views on the refresh thread, the first failing; both leave it after the test."""
    made = [_Fake(fail=True), _Fake()]
    for view in made:
        _ticker.add(view)
    yield made
    for view in made:
        _ticker.discard(view)


@pytest.fixture
def echo(bench: wsbench.Bench) -> Iterator[wsbench.Connection]:
    """An open connection to the bench's /echo endpoint."""
    conn = bench.connect("/echo", timeout=5)
    yield conn
    conn.close()


def test_a_failing_view_keeps_its_error_and_the_others_refresh(views):
    """The failing view's exception is kept and shown on it; the other view goes on ticking."""
    failing, healthy = views
    wait_until(lambda: failing.shown and healthy.ticks >= 5)
    assert isinstance(failing.tick_error, RuntimeError)
    assert failing.shown[0] is failing.tick_error
    assert healthy.tick_error is None


def test_a_failing_view_is_retried_after_retry_seconds():
    """After a failure the view's next turn is RETRY seconds on, and it is not dropped."""
    view = _Fake(fail=True)
    _ticker._failed(view, RuntimeError("boom"), now=10.0)
    assert view._due == 10.0 + _ticker.RETRY
    assert str(view.tick_error) == "boom"


def test_an_error_while_showing_the_error_is_swallowed():
    """When the view cannot show its error either, the error still stays readable on it."""
    view = _Fake()

    def cannot_show(exc: BaseException) -> None:
        raise ValueError("no")

    view._tick_failed = cannot_show  # type: ignore[method-assign]
    _ticker._failed(view, RuntimeError("boom"), now=0.0)
    assert str(view.tick_error) == "boom"


def test_panel_shows_its_refresh_error_and_another_panel_refreshes(bench, echo):
    """A panel whose refresh raises says so under its log; a second panel still follows its connection."""
    other = bench.connect("/echo", timeout=5)
    broken, healthy = Panel(echo), Panel(other)
    try:

        def boom() -> bool:
            raise RuntimeError("cannot draw")

        broken.flush = boom  # type: ignore[method-assign]
        echo.send_text("to the broken one")
        other.send_text("to the healthy one")
        wait_until(lambda: "RuntimeError: cannot draw" in broken.refresh_error.value)
        wait_until(lambda: "← text 18 B to the healthy one" in healthy.log_lines())
        assert isinstance(broken.tick_error, RuntimeError)
        assert "panel.tick_error" in broken.refresh_error.value
        assert healthy.refresh_error.value == ""
        assert (broken.refresh_error.layout.display, healthy.refresh_error.layout.display) == (None, "none")
        del broken.flush  # the cause passes: the next refresh works and the note goes
        wait_until(lambda: broken.refresh_error.value == "", timeout=5 + _ticker.RETRY)
        assert "→ text 17 B to the broken one" in broken.log_lines()
    finally:
        broken.close()
        healthy.close()
        other.close()


def test_timeline_shows_its_refresh_error_over_the_last_picture(echo):
    """A timeline whose refresh raises shows a red note above its last picture, then recovers."""
    timeline = Timeline(echo)
    try:

        def boom() -> bool:
            raise RuntimeError("cannot draw")

        timeline._take_in = boom  # type: ignore[method-assign]
        echo.send_text("later")
        wait_until(lambda: "the timeline stopped refreshing: RuntimeError: cannot draw" in timeline.value)
        assert "#1 /echo" in timeline.value  # the last picture stays under the note
        assert isinstance(timeline.tick_error, RuntimeError)
        del timeline._take_in
        wait_until(lambda: "'later'" in timeline.value and "stopped refreshing" not in timeline.value)
    finally:
        timeline.close()


def test_a_view_closed_while_the_refresh_thread_holds_its_lock_does_not_deadlock():
    """A widget collected inside the refresh thread's look at its views closes itself there (ipywidgets'
    __del__ calls close, which discards it): discard must not wait for the lock that thread holds."""
    view = _Fake()
    _ticker.add(view)
    finished = threading.Event()

    def collected_during_the_look() -> None:
        with _ticker._lock:  # as _run holds it while it copies the views, when a collection ran __del__
            _ticker.discard(view)
        finished.set()

    worker = threading.Thread(target=collected_during_the_look, daemon=True)
    worker.start()
    worker.join(5 * TIMEOUT_SCALE)
    assert finished.is_set(), "discard() waited for a lock its own thread held: the refresh thread would hang"
    ticks = view.ticks
    wait_until(lambda: not _ticker.running() or view not in list(_ticker._views))
    assert view.ticks <= ticks + 1  # a discarded view is not refreshed any more


def _waits_instead_of_drawing(seconds: float):
    """A drawing that takes *seconds* of wall time and no CPU: what a refresh thread descheduled, or
    waiting for the GIL while the kernel runs a busy cell, looks like from the inside."""

    def draw(*args, **kwargs):
        threading.Event().wait(seconds)  # stands in for time the thread did not run (not a synchronization)
        return ""

    return draw


@pytest.mark.parametrize("widget", ["timeline", "lanes"])
def test_a_slow_drawing_spaces_redraws_by_its_cpu_time_not_its_wall_time(widget, monkeypatch):
    """A live picture spaces its redraws by 20 times what drawing cost, to stay near 5 % of a core.
    Measured in wall time, a drawing the thread waited through (a loaded machine, a busy cell holding
    the GIL) pushed the next redraw out by 20 times the wait: 3 s of waiting, a minute of a stale
    picture (the browser test waited 60 s for one redraw on a loaded run). CPU time is the cost."""
    transcript = Transcript()
    record(transcript, side="client", kind="send", conn=1, data="hi")
    if widget == "timeline":
        view = Timeline(transcript, live=False)
        monkeypatch.setattr(view._windows, "html", _waits_instead_of_drawing(0.3))
        view._drawn = False  # draw on the next look
    else:
        view = Lanes(transcript, live=False)
        monkeypatch.setattr(view, "to_html", _waits_instead_of_drawing(0.3))
        view._seen = -1
    view._tick(100.0)
    assert view._due < 100.0 + 2.0, f"the next redraw is {view._due - 100.0:.1f} s away (interval {view.interval} s)"
