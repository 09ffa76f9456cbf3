"""wsbench.loop: the one background event loop thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest
from conftest import blocked_in, wait_until

import wsbench
from wsbench import loop


async def _thread_name() -> str:
    return threading.current_thread().name


def test_get_loop_is_one_daemon_thread():
    """get_loop() returns the same running loop each time, on one daemon thread named "wsbench-loop"."""
    first = loop.get_loop()
    assert loop.get_loop() is first
    assert first.is_running()
    threads = [t for t in threading.enumerate() if t.name == "wsbench-loop"]
    assert len(threads) == 1
    assert threads[0].daemon
    assert not loop.in_loop_thread()


def test_run_returns_the_result_from_the_loop_thread():
    """run() runs the coroutine on the loop thread and returns its result."""
    assert loop.run(_thread_name(), timeout=2, what="test") == "wsbench-loop"


def test_run_passes_exceptions_on():
    """An exception raised by the coroutine comes out of run() unchanged."""

    async def fail() -> None:
        raise LookupError("inside")

    with pytest.raises(LookupError, match="inside"):
        loop.run(fail(), timeout=2, what="test")


def test_run_passes_the_operations_own_timeout_on():
    """A Timeout raised by the operation itself comes out of run() as that Timeout."""

    async def own_timeout() -> None:
        raise wsbench.Timeout("the operation's own timeout")

    with pytest.raises(wsbench.Timeout, match="own timeout"):
        loop.run(own_timeout(), timeout=0.5, what="test")


def test_run_returns_a_result_that_came_just_after_a_heartbeat_ran_out(monkeypatch):
    """run() waits in beats; an operation that finishes between a beat running out and the look
    that follows returns its result, not the beat's TimeoutError (seen once: a LiveClient's stop at
    teardown, on Python 3.10, raised concurrent.futures' TimeoutError)."""

    class JustFinished(concurrent.futures.Future):  # the race, made certain: the beat ends, then it is done
        def result(self, timeout=None):
            if timeout is not None and not self.done():
                self.set_result("the result")
                raise concurrent.futures.TimeoutError()
            return super().result(timeout)

    def scheduled(coro, target):
        coro.close()
        return JustFinished()

    monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", scheduled)
    assert loop.run(asyncio.sleep(0), timeout=5, what="a beat") == "the result"


def test_run_reports_a_stuck_loop(monkeypatch):
    """run() raises Timeout naming a stuck loop when the coroutine blocks past timeout + STUCK_GRACE."""
    monkeypatch.setattr(loop, "STUCK_GRACE", 0.1)
    release = threading.Event()

    async def block() -> None:
        release.wait(10)  # blocks the loop itself, as a careless endpoint's time.sleep would, until released

    try:
        with pytest.raises(wsbench.Timeout) as info:
            loop.run(block(), timeout=0.1, what="blocking test")
        assert not release.is_set()  # run() reported while the loop was still blocked, not after
    finally:
        release.set()
    message = str(info.value)
    assert message.startswith("blocking test: ")
    assert "wsbench loop did not answer" in message
    assert "time.sleep" in message
    assert isinstance(info.value, TimeoutError)
    # the loop recovers once the blocking call ends
    assert loop.run(_thread_name(), timeout=2, what="after") == "wsbench-loop"


def test_run_from_inside_the_loop_raises_runtime_error():
    """run() called on the loop thread raises RuntimeError (it would deadlock) and closes the coroutine."""
    inner = asyncio.sleep(0)

    async def nested() -> str:
        assert loop.in_loop_thread()
        with pytest.raises(RuntimeError) as info:
            loop.run(inner, timeout=1, what="nested call")
        return str(info.value)

    message = loop.run(nested(), timeout=2, what="outer")
    assert message.startswith("nested call: ")
    assert "deadlock" in message
    assert inner.cr_frame is None  # closed, so no "never awaited" warning


def test_arun_from_another_loop():
    """arun() awaits a coroutine on the background loop from a different event loop."""

    async def main() -> tuple[str, str]:
        return threading.current_thread().name, await loop.arun(_thread_name())

    here, there = asyncio.run(main())
    assert here == threading.main_thread().name
    assert there == "wsbench-loop"


def test_arun_on_the_loop_itself_awaits_directly():
    """arun() called on the background loop awaits the coroutine in place."""

    async def outer() -> str:
        return await loop.arun(_thread_name())

    assert loop.run(outer(), timeout=2, what="test") == "wsbench-loop"


def test_keyboard_interrupt_in_run_cancels_that_operation():
    """A KeyboardInterrupt while run() waits cancels the operation; the loop goes on."""
    import signal

    assert threading.current_thread() is threading.main_thread()
    started = threading.Event()
    cancelled = threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(5)  # the operation being cancelled: slow on purpose
        except asyncio.CancelledError:
            cancelled.set()
            raise

    main = threading.main_thread()

    def interrupt() -> None:  # once run() waits for the running operation, not after a guessed time
        if started.wait(5):
            wait_until(lambda: blocked_in(main, loop.run))
            signal.pthread_kill(main.ident or 0, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupter = threading.Thread(target=interrupt, name="interrupter", daemon=True)
    try:
        interrupter.start()
        with pytest.raises(KeyboardInterrupt):
            loop.run(slow(), timeout=5, what="slow")  # without the SIGINT: a Timeout, and the test fails
    finally:
        interrupter.join(10)
        signal.signal(signal.SIGINT, previous)
    assert started.is_set()
    assert cancelled.wait(2)
    assert loop.run(_thread_name(), timeout=2, what="after") == "wsbench-loop"
