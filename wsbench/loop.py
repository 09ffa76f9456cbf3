"""One background event loop per process, where the server and all connections live.

A notebook kernel's own loop is busy whenever a cell runs, so a server or reader
living there stalls while a cell blocks and dies with an interrupt. Here they run
on one daemon thread; a cell hands a coroutine over with :func:`run` and waits with
a timeout. A KeyboardInterrupt while waiting cancels that one operation only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, NamedTuple, TypeVar

from .errors import Timeout

__all__ = ["BLOCKED_AFTER", "Blockage", "arun", "get_loop", "in_loop_thread", "on_blocked", "run"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None

#: Extra seconds a waiting cell allows beyond an operation's own timeout before it
#: concludes that the loop itself is stuck (for example an endpoint calling time.sleep).
STUCK_GRACE = 5.0


#: Seconds the loop may go without running a callback before the watchdog calls it blocked.
BLOCKED_AFTER = 0.5
_BEAT = 0.1  # seconds between the watchdog's heartbeats while nothing is blocked


class Blockage(NamedTuple):
    """The background loop did not run for *seconds*; *stack* is what it ran meanwhile."""

    started: float  #: ``time.time()`` when the heartbeat that waited was sent
    seconds: float
    stack: tuple[FrameType, ...]  #: the loop thread's frames while it was blocked, innermost first


_listeners: list[Callable[[Blockage], None]] = []


def on_blocked(listener: Callable[[Blockage], None]) -> None:
    """Call *listener* (from the watchdog thread) after each time something blocked the loop for
    more than :data:`BLOCKED_AFTER` s: an endpoint calling ``time.sleep`` or doing CPU work stalls
    every bench and connection in the process, so wsbench says who did it. Starts the watchdog."""
    if listener not in _listeners:
        _listeners.append(listener)
    _start_watchdog()


_watchdog: threading.Thread | None = None


def _start_watchdog() -> None:
    global _watchdog
    with _lock:
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watch, name="wsbench-watchdog", daemon=True)
            _watchdog.start()


def _watch() -> None:
    """Send the loop a heartbeat every _BEAT s; when one waits longer than BLOCKED_AFTER, note the
    loop thread's frame, wait for the heartbeat to run, and tell the listeners how long it took."""
    while True:  # a daemon thread for the life of the process; each turn is bounded by the loop's answer
        loop, thread = get_loop(), _thread
        beat = threading.Event()
        started, clock = time.time(), time.monotonic()
        try:
            loop.call_soon_threadsafe(beat.set)
        except RuntimeError:  # the loop closed (interpreter exit)
            return
        if not beat.wait(BLOCKED_AFTER):
            stack = _stack(thread)  # now: once the loop runs again, its coroutines' frames unlink
            while not beat.wait(1.0):  # still blocked: keep the frame of the first look
                if loop.is_closed():
                    return
            blockage = Blockage(started, time.monotonic() - clock, stack)
            for listener in list(_listeners):
                try:
                    listener(blockage)
                except Exception:  # a listener's bug must not stop the watchdog
                    pass
        time.sleep(_BEAT)


def _stack(thread: threading.Thread | None) -> tuple[FrameType, ...]:
    """*thread*'s frames, innermost first (bounded: a stack is at most a few hundred deep)."""
    frame = sys._current_frames().get(thread.ident) if thread is not None and thread.ident else None
    frames: list[FrameType] = []
    while frame is not None and len(frames) < 1000:
        frames.append(frame)
        frame = frame.f_back
    return tuple(frames)


def get_loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use."""
    global _loop, _thread
    if _loop is not None and _thread is not None and _thread.is_alive():  # the usual case, no lock
        return _loop
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_loop.run_forever, name="wsbench-loop", daemon=True)
            _thread.start()
        return _loop


def in_loop_thread() -> bool:
    """True when called from the background loop's own thread."""
    return _thread is not None and threading.current_thread() is _thread


def run(
    coro: Coroutine[Any, Any, T], *, timeout: float | None, what: str, on: asyncio.AbstractEventLoop | None = None
) -> T:
    """Run *coro* on the background loop (or the loop *on*) and wait for its result from this thread.

    *timeout* is the operation's own limit (the coroutine enforces it precisely);
    the wait here adds :data:`STUCK_GRACE` and reports a stuck loop if that passes.
    """
    if in_loop_thread():
        coro.close()
        raise RuntimeError(f"{what}: a blocking call from inside the wsbench loop would deadlock; use the a* coroutine")
    future = asyncio.run_coroutine_threadsafe(coro, on or get_loop())
    try:
        return future.result(None if timeout is None else timeout + STUCK_GRACE)
    except concurrent.futures.TimeoutError:
        if future.done():  # the operation's own Timeout (a TimeoutError too): pass it on
            raise
        future.cancel()
        raise Timeout(
            f"{what}: the wsbench loop did not answer within {timeout} s; is an endpoint blocking it "
            "(time.sleep, CPU work)? use 'await asyncio.sleep(...)' in endpoints"
        ) from None
    except KeyboardInterrupt:
        future.cancel()  # this one operation only; the loop, server and connection go on
        raise


async def arun(coro: Coroutine[Any, Any, T], *, on: asyncio.AbstractEventLoop | None = None) -> T:
    """Await *coro* on the background loop (or the loop *on*) from any event loop."""
    loop = on or get_loop()
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))
