"""One background event loop per process, where the server and all connections live.

A notebook kernel's own loop is busy whenever a cell runs, so a server or reader
living there stalls while a cell blocks and dies with an interrupt. Here they run
on one daemon thread; a cell hands a coroutine over with :func:`run` and waits with
a timeout. A KeyboardInterrupt while waiting cancels that one operation only.

Code that never yields (an endpoint's ``while True: pass``, a ``time.sleep``) stalls the
loop: a watchdog notices within :data:`BLOCKED_AFTER` s and tells its listeners while it
still blocks (:func:`blocked_now`) and again when it ends. :func:`interrupt` stops such a
task by raising :class:`Stopped` into it, only where that is safe; :func:`abandon` leaves a
loop that stays stuck behind, and the next :func:`get_loop` starts a fresh one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import functools
import linecache
import os
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, NamedTuple, TypeVar

from .errors import Timeout

__all__ = [
    "BLOCKED_AFTER",
    "STUCK_AFTER",
    "Blockage",
    "Stopped",
    "abandon",
    "arun",
    "blocked_now",
    "get_loop",
    "in_loop_thread",
    "interrupt",
    "is_abandoned",
    "on_blocked",
    "run",
    "where",
]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_threads: dict[asyncio.AbstractEventLoop, threading.Thread] = {}  #: every loop running, and its thread
#: The idents of their threads (replaced whole: read without the lock), for a check on every blocking call.
loop_idents: frozenset[int] = frozenset()
_abandoned: set[asyncio.AbstractEventLoop] = set()  #: loops left behind stuck (see abandon())

#: Extra seconds a waiting cell allows beyond an operation's own timeout before it
#: concludes that the loop itself is stuck (for example an endpoint calling time.sleep).
STUCK_GRACE = 5.0

#: Seconds the loop may go without running a callback before the watchdog calls it blocked.
BLOCKED_AFTER = 0.5
#: Seconds of blockage after which a call that needs the loop fails at once, naming what blocks it,
#: instead of waiting its whole timeout for a loop that may never answer.
STUCK_AFTER = 2.0
_BEAT = 0.1  # seconds between the watchdog's heartbeats while nothing is blocked


class Stopped(BaseException):
    """Raised by wsbench inside code that blocked the loop, to stop it (:func:`interrupt`).

    A BaseException, like KeyboardInterrupt, so that an ``except Exception`` in the blocked
    code does not swallow it; asyncio sets it on the task (it re-raises only
    KeyboardInterrupt and SystemExit), and the loop goes on."""


class Blockage(NamedTuple):
    """The background loop did not run for *seconds* (so far, while *ongoing*)."""

    started: float  #: ``time.time()`` when the heartbeat that waited was sent
    seconds: float
    stack: tuple[FrameType, ...]  #: the loop thread's frames while it was blocked, innermost first
    task: asyncio.Task | None = None  #: the task whose step blocked it (None: a plain callback)
    ongoing: bool = False  #: still blocked when this was made
    loop: asyncio.AbstractEventLoop | None = None
    at: str = ""  #: :func:`where` it blocked: now while ongoing, else where the watchdog first saw it


class _Watch:
    """One heartbeat sent to a loop; when late, the blockage it measures."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.loop, self.thread = loop, thread
        self.beat = threading.Event()
        self.started, self.clock = time.time(), time.monotonic()
        self.answered: float | None = None  # monotonic time the loop ran the heartbeat
        self.stack: tuple[FrameType, ...] = ()
        self.at = ""  # where(stack) at the first look (its frames' lines move on once the loop runs)
        self.task: asyncio.Task | None = None

    def answer(self) -> None:  # on the loop's thread
        self.answered = time.monotonic()
        self.beat.set()

    def blockage(self, ongoing: bool) -> Blockage:
        end = time.monotonic() if self.answered is None else self.answered
        stack = (_stack(self.thread) or self.stack) if ongoing else self.stack  # where it is now, while it blocks
        at = where(stack) if ongoing else self.at
        return Blockage(self.started, end - self.clock, stack, self.task, ongoing, self.loop, at)


_listeners: list[tuple[Callable[[Blockage], None], bool]] = []  #: (listener, told while it blocks too)
_open: dict[asyncio.AbstractEventLoop, _Watch] = {}  #: blockages noticed and not over yet, per loop


def on_blocked(listener: Callable[[Blockage], None], *, while_blocked: bool = False) -> None:
    """Call *listener* (from the watchdog thread) after each time something blocked the loop for
    more than :data:`BLOCKED_AFTER` s; with *while_blocked*, also as soon as it has (``ongoing``
    True: it still blocks). An endpoint calling ``time.sleep`` or doing CPU work stalls every bench
    and connection on the loop, so wsbench says who does it. Starts the watchdog."""
    if all(known is not listener for known, _ in _listeners):
        _listeners.append((listener, while_blocked))
    _start_watchdog()


_watchdog: threading.Thread | None = None


def _start_watchdog() -> None:
    global _watchdog
    with _lock:
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watch, name="wsbench-watchdog", daemon=True)
            _watchdog.start()


def _tell(blockage: Blockage) -> None:
    for listener, while_blocked in list(_listeners):
        if blockage.ongoing and not while_blocked:
            continue
        try:
            listener(blockage)
        except Exception:  # a listener's bug must not stop the watchdog
            pass


def _watch() -> None:
    """Send the current loop a heartbeat every _BEAT s; when one waits longer than BLOCKED_AFTER,
    note the loop thread's stack and task and tell the listeners at once; tell them again when
    the heartbeat has run (for a loop left behind too, whenever it wakes)."""
    while True:  # a daemon thread for the life of the process; each turn is bounded in time
        with _lock:
            current, thread = _loop, _thread
        for watch in list(_open.values()):
            if watch.beat.is_set():
                del _open[watch.loop]
                _tell(watch.blockage(ongoing=False))
        if current is None or thread is None or current in _open:
            time.sleep(_BEAT)
            continue
        watch = _Watch(current, thread)
        try:
            current.call_soon_threadsafe(watch.answer)
        except RuntimeError:  # the loop closed (interpreter exit)
            time.sleep(_BEAT)
            continue
        if watch.beat.wait(BLOCKED_AFTER):
            time.sleep(_BEAT)
            continue
        watch.stack = _stack(thread)  # now: once the loop runs again, its coroutines' frames unlink
        watch.at = where(watch.stack)
        try:
            watch.task = asyncio.current_task(current)
        except RuntimeError:
            watch.task = None
        if watch.beat.is_set():  # it ended while we looked: only the end is news
            _tell(watch.blockage(ongoing=False))
            continue
        _open[current] = watch
        _tell(watch.blockage(ongoing=True))


def _stack(thread: threading.Thread | None) -> tuple[FrameType, ...]:
    """*thread*'s frames, innermost first (bounded: a stack is at most a few hundred deep)."""
    frame = sys._current_frames().get(thread.ident) if thread is not None and thread.ident else None
    frames: list[FrameType] = []
    while frame is not None and len(frames) < 1000:
        frames.append(frame)
        frame = frame.f_back
    return tuple(frames)


def blocked_now(on: asyncio.AbstractEventLoop | None = None) -> Blockage | None:
    """The blockage of the loop *on* (default: the current background loop) if it is blocked now
    (noticed by the watchdog, i.e. for at least :data:`BLOCKED_AFTER` s), else None."""
    watch = _open.get(on if on is not None else _loop)  # type: ignore[arg-type]
    if watch is None or watch.beat.is_set():
        return None
    return watch.blockage(ongoing=True)


_LIBRARY = tuple(
    os.path.normcase(os.path.realpath(path)) + os.sep
    for path in {
        os.path.dirname(os.path.abspath(__file__)),  # wsbench itself
        *(sysconfig.get_paths().get(name, "") for name in ("stdlib", "platstdlib", "purelib", "platlib")),
    }
    if path
)


def _is_library(frame: FrameType) -> bool:
    return _is_library_file(frame.f_code.co_filename)


@functools.lru_cache(maxsize=1024)
def _is_library_file(name: str) -> bool:
    if name.startswith("<frozen"):
        return True
    return os.path.normcase(os.path.realpath(name)).startswith(_LIBRARY)


def where(stack: tuple[FrameType, ...]) -> str:
    """Where *stack* (innermost first) is in the user's own code: ``name() line N: `source```,
    for the innermost frame outside wsbench, the standard library and site-packages."""
    for frame in stack:
        if not _is_library(frame):
            line = frame.f_lineno or 0
            source = linecache.getline(frame.f_code.co_filename, line, frame.f_globals).split("  #")[0].strip()
            if len(source) > 60:
                source = source[:60] + "…"
            return f"{frame.f_code.co_name}() line {line}" + (f": `{source}`" if source else "")
    return ""


def _set_async_exc(ident: int, exc: type[BaseException] | None) -> int:
    """Python's PyThreadState_SetAsyncExc: *exc* is raised in thread *ident* at its next check."""
    argument = ctypes.py_object(exc) if exc is not None else None
    return int(ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), argument))


def interrupt(task: asyncio.Task, on: asyncio.AbstractEventLoop, wait: float = 1.0) -> bool:
    """Stop *task* if it is what blocks the loop *on* now, by raising :class:`Stopped` into the
    loop's thread; True if the loop answers within *wait* s afterwards.

    Safe only there, so only then: the loop has been blocked for at least BLOCKED_AFTER s
    (its thread is inside a callback, not in asyncio's own scheduling) and that callback is
    *task*'s step (asyncio.current_task), so the exception rises in the task's innermost
    Python frame and asyncio sets it on the task. If the blockage ends in the microseconds
    between that look and the raise, the loop thread's runner (:func:`_run_loop`) catches a
    Stopped that lands in asyncio's code and runs the loop on. Code blocked in C (a long
    ``time.sleep``, a socket read) gets the exception when the call returns: the loop does not
    answer in time, and the caller can :func:`abandon` it.
    """
    watch = _open.get(on)
    if watch is None or watch.beat.is_set() or watch.thread.ident is None:
        return False
    try:
        if asyncio.current_task(on) is not task:
            return False
    except RuntimeError:
        return False
    if not _set_async_exc(watch.thread.ident, Stopped):
        return False
    return watch.beat.wait(wait)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread: run *loop* for ever; a Stopped meant for a task that had just yielded
    (see :func:`interrupt`) lands here instead, and the loop runs on."""
    while not loop.is_closed():
        try:
            loop.run_forever()
        except Stopped:
            continue
        if loop in _abandoned:  # stopped once nothing runs on it any more: its thread ends here
            with _lock:
                _forget(loop)
            loop.close()
        return


def get_loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use (and again after :func:`abandon`)."""
    global _loop, _thread
    if _loop is not None and _thread is not None and _thread.is_alive():  # the usual case, no lock
        return _loop
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_run_loop, args=(_loop,), name="wsbench-loop", daemon=True)
            _threads[_loop] = _thread
            _thread.start()
            _refresh_threads()  # after start(): a thread has its ident once started
        return _loop


def abandon(loop: asyncio.AbstractEventLoop) -> None:
    """Leave *loop* behind, stuck: its thread goes on (nothing can stop a thread blocked in C), what
    runs on it waits until it wakes, and the next :func:`get_loop` starts a fresh loop and thread."""
    global _loop, _thread
    with _lock:
        _abandoned.add(loop)
        if _loop is loop:
            _loop = _thread = None


def is_abandoned(loop: asyncio.AbstractEventLoop | None) -> bool:
    """True for a loop :func:`abandon` left behind."""
    return loop in _abandoned


def in_loop_thread() -> bool:
    """True when called from a background loop's thread (the current one or one left behind)."""
    return threading.get_ident() in loop_idents


def _forget(loop: asyncio.AbstractEventLoop) -> None:
    """Forget *loop*, whose thread ends; under ``_lock``."""
    _threads.pop(loop, None)
    _refresh_threads()


def _refresh_threads() -> None:
    global loop_idents
    loop_idents = frozenset(thread.ident for thread in _threads.values() if thread.ident is not None)


def run(
    coro: Coroutine[Any, Any, T], *, timeout: float | None, what: str, on: asyncio.AbstractEventLoop | None = None
) -> T:
    """Run *coro* on the background loop (or the loop *on*) and wait for its result from this thread.

    *timeout* is the operation's own limit (the coroutine enforces it precisely);
    the wait here adds :data:`STUCK_GRACE` and reports a stuck loop if that passes, or as soon as
    the loop has been blocked for :data:`STUCK_AFTER` s (naming what blocks it).
    """
    if in_loop_thread():
        coro.close()
        raise RuntimeError(f"{what}: a blocking call from inside the wsbench loop would deadlock; use the a* coroutine")
    target = on or get_loop()
    future = asyncio.run_coroutine_threadsafe(coro, target)
    deadline = None if timeout is None else time.monotonic() + timeout + STUCK_GRACE
    try:
        while True:  # each turn bounded; the whole by the deadline, or by a loop stuck for STUCK_AFTER s
            try:
                return future.result(_BEAT)
            except concurrent.futures.TimeoutError:
                pass  # the beat ran out, or the operation raised its own Timeout (a TimeoutError too)
            if future.done():  # finished after the beat ran out, or raised: pass it on, outside the handler
                return future.result()
            blocked = blocked_now(target)
            if blocked is not None and blocked.seconds >= STUCK_AFTER:
                future.cancel()
                raise Timeout(f"{what}: {_stuck(blocked)}") from None
            if deadline is not None and time.monotonic() > deadline:
                future.cancel()
                raise Timeout(
                    f"{what}: the wsbench loop did not answer within {timeout} s; is an endpoint blocking it "
                    "(time.sleep, CPU work)? use 'await asyncio.sleep(...)' in endpoints"
                ) from None
    except KeyboardInterrupt:
        future.cancel()  # this one operation only; the loop, server and connection go on
        raise


def _stuck(blocked: Blockage) -> str:
    """A still-blocked loop, said generically (a Bench says which endpoint: wsbench.server)."""
    at = blocked.at
    return (
        f"the wsbench loop is still blocked, for {blocked.seconds:.1f} s now"
        + (f", by {at}" if at else "")
        + ": code that never awaits (time.sleep, CPU work, a loop without `await`) stops every bench; "
        "re-run the cell that makes the bench (wsbench.Bench()) to leave it behind"
    )


async def arun(coro: Coroutine[Any, Any, T], *, on: asyncio.AbstractEventLoop | None = None) -> T:
    """Await *coro* on the background loop (or the loop *on*) from any event loop."""
    loop = on or get_loop()
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))
