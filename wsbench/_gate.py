"""A condition that threads and coroutines on any event loop can wait on.

The connection's inbox is filled by a reader (a websockets thread, or a task on the
loop the connection lives on) and emptied by cells, threads and coroutines alike.
"""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Gate"]

_UNKNOWN = object()  # notify(): the caller does not say which loop runs on its thread


class Gate:
    """A condition that threads and coroutines on any event loop can wait on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._futures: list[asyncio.Future] = []
        # One held lock per sleeping thread, released to wake it (changed with the lock held): what
        # threading.Condition does, without its Python-level bookkeeping on every wait and notify.
        self._sleepers: list[Any] = []
        # see _arm: (the loop, its timer, when it rings by time.monotonic())
        self._alarm: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle, float] | None = None

    def notify(self, running: Any = _UNKNOWN) -> None:
        """Wake every waiter; call with :attr:`lock` held. *running* is the loop running on this
        thread (None: none), when the caller knows it: it spares asking (a system call each time)."""
        if self._sleepers:
            sleepers, self._sleepers = self._sleepers, []
            for sleeper in sleepers:
                sleeper.release()
        if not self._futures:  # the usual case of a put nobody waits for: nothing more to do
            return
        futures, self._futures = self._futures, []
        current = _running() if running is _UNKNOWN else running
        for future in futures:
            # A waiter that timed out or was cancelled may leave a done future behind, and its
            # loop may be closed by now: waking it would raise here, in the reader.
            if future.done():
                continue
            if future.get_loop() is current:  # same loop, same thread: no self-pipe round trip
                future.set_result(None)
                continue
            try:
                future.get_loop().call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that waiter's loop closed meanwhile: nobody is left to wake
                pass

    def wait(self, ready: Callable[[], Any], timeout: float | None) -> Any:
        """Block until ``ready()`` is truthy and return it, or return None at *timeout*."""
        lock = self.lock
        with lock:
            if result := ready():  # already there: no clock, no sleeper
                return result
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                remaining = -1.0 if deadline is None else deadline - time.monotonic()
                if deadline is not None and remaining <= 0:
                    return None
                sleeper = _thread.allocate_lock()
                sleeper.acquire()
                self._sleepers.append(sleeper)
                lock.release()
                try:
                    sleeper.acquire(True, remaining)  # released by notify()
                finally:
                    lock.acquire()
                    if sleeper in self._sleepers:  # woken by its timeout (or an interrupt), not by notify()
                        self._sleepers.remove(sleeper)
                if result := ready():
                    return result

    async def await_(
        self, ready: Callable[[], Any], timeout: float | None, running: asyncio.AbstractEventLoop | None = None
    ) -> Any:
        """Coroutine form of :meth:`wait`, for any running event loop (*running*, when the caller
        knows it is the one running this coroutine: it spares asking)."""
        deadline = None
        started = False
        lock = self.lock
        while True:
            with lock:
                if result := ready():  # found on the first look: no clock read, no future made
                    return result
                if not started:  # the first look: start the clock
                    started = True
                    if running is None:
                        running = asyncio.get_running_loop()
                    remaining = timeout
                    deadline = None if timeout is None else time.monotonic() + timeout
                else:
                    remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                assert running is not None
                future = running.create_future()
                self._futures.append(future)
                timer = None if deadline is None else self._arm(running, deadline, future)
            try:
                await future
            finally:  # drop this waiter's future, so timed-out waits do not pile up until a notify
                if timer is not None:
                    timer.cancel()
                with lock:
                    if future in self._futures:
                        self._futures.remove(future)

    def _arm(self, running: asyncio.AbstractEventLoop, deadline: float, future: asyncio.Future) -> Any:
        """Make sure a waiter on *running* wakes by *deadline* (``time.monotonic()``; with the lock held).

        One alarm per gate serves every wait on its loop: a receive that waits 10 s at most does
        not schedule (and cancel) a timer of its own. The alarm wakes that loop's waiters, and each
        looks again: the one whose time is up returns, the others sleep on (the next arms it anew).
        Returns the timer to cancel when this waiter's loop is not the alarm's."""
        alarm = self._alarm
        if alarm is not None and alarm[0] is running and alarm[2] <= deadline:
            return None  # it rings before this waiter's time is up (the usual case: no clock read)
        delay = deadline - time.monotonic()
        if alarm is None or alarm[0] is running or alarm[0].is_closed():
            if alarm is not None:
                alarm[1].cancel()
            self._alarm = (running, running.call_later(delay, self._ring, running), deadline)
            return None
        return running.call_later(delay, _wake, future)

    def _ring(self, running: asyncio.AbstractEventLoop) -> None:
        """The alarm: wake every waiter on *running*; each checks its own time."""
        with self.lock:
            if self._alarm is not None and self._alarm[0] is running:
                self._alarm = None
            futures = [future for future in self._futures if future.get_loop() is running]
        for future in futures:
            _wake(future)


def _running() -> asyncio.AbstractEventLoop | None:
    """The loop running on this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
