"""One background event loop per process, where the server and all connections live.

A notebook kernel's own loop is busy whenever a cell runs, so a server or reader
living there stalls while a cell blocks and dies with an interrupt. Here they run
on one daemon thread; a cell hands a coroutine over with :func:`run` and waits with
a timeout. A KeyboardInterrupt while waiting cancels that one operation only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .errors import Timeout

__all__ = ["arun", "get_loop", "in_loop_thread", "run"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None

#: Extra seconds a waiting cell allows beyond an operation's own timeout before it
#: concludes that the loop itself is stuck (for example an endpoint calling time.sleep).
STUCK_GRACE = 5.0


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
