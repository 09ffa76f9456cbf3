"""The gate threads and coroutines wait on: every wait ends at its own timeout, however the waits overlap."""

from __future__ import annotations

import asyncio
import threading

from wsbench._gate import Gate


def test_a_short_wait_ends_at_its_timeout_while_a_long_one_waits_on():
    """A coroutine waiting 0.05 s returns None at its time although another waits 30 s on the same gate
    (one alarm serves both); the long one still gets what comes later, and none is left waiting."""
    gate = Gate()
    box: list[str] = []

    async def main() -> tuple[object, object]:
        long = asyncio.ensure_future(gate.await_(lambda: box[:], 30))
        await asyncio.sleep(0)  # the long wait arms the alarm first
        short = await asyncio.wait_for(gate.await_(lambda: box[:], 0.05), 5)
        assert not long.done()
        with gate.lock:
            box.append("late")
            gate.notify()
        return short, await asyncio.wait_for(long, 5)

    assert asyncio.run(main()) == (None, ["late"])
    assert gate._futures == []


def test_waits_on_two_loops_each_end_at_their_timeout():
    """Coroutines on two loops (threads) waiting on one gate each return at their own timeout."""
    gate = Gate()
    results: list[object] = []

    async def wait(timeout: float) -> None:
        results.append(await asyncio.wait_for(gate.await_(lambda: False, timeout), 5))

    other = threading.Thread(target=asyncio.run, args=(wait(0.2),))
    other.start()
    asyncio.run(wait(0.05))
    other.join(10)
    assert results == [None, None]


def test_a_sleeping_thread_is_woken_by_notify_and_a_timed_out_one_leaves_nothing_behind():
    """A thread sleeping on the gate returns what ready() gives once notified; one that times out
    returns None and leaves no sleeper behind for notify() to wake (each sleeps on a lock of its own)."""
    gate = Gate()
    box: list[str] = []
    assert gate.wait(lambda: box[:], 0.01) is None
    assert gate._sleepers == []
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(gate.wait(lambda: box[:], 30)))
    waiter.start()
    for _ in range(10_000):  # until it sleeps (bounded): its lock is in the list
        with gate.lock:
            if gate._sleepers:
                box.append("put")
                gate.notify()
                break
        waiter.join(0.001)
    waiter.join(10)
    assert results == [["put"]]
    assert gate._sleepers == []


def test_a_wait_finds_what_is_ready_without_sleeping():
    """ready() true at once: the wait returns it, with no sleeper and no future made."""
    gate = Gate()
    assert gate.wait(lambda: "there", 1) == "there"
    assert asyncio.run(gate.await_(lambda: "there", 1)) == "there"
    assert gate._sleepers == [] and gate._futures == []


def test_a_waiter_is_woken_whoever_says_which_loop_runs_where():
    """notify(running) spares asking which loop runs on the caller's thread: told its own loop, it wakes
    that loop's waiters at once; told None (websockets' reader thread), it hands the wake to each
    waiter's loop; told nothing, it asks. Every waiter gets what was put, on its own loop."""
    gate = Gate()
    box: list[str] = []

    def put(item: str, running: object) -> None:
        with gate.lock:
            box.append(item)
            if running == "ask":
                gate.notify()
            else:
                gate.notify(running)

    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        got = []
        for item, running in (("own", loop), ("ask", "ask")):
            waiter = asyncio.ensure_future(gate.await_(lambda: box[:], 30, loop))
            await asyncio.sleep(0)
            put(item, running)
            got.append(await asyncio.wait_for(waiter, 5))
            box.clear()
        waiter = asyncio.ensure_future(gate.await_(lambda: box[:], 30))
        await asyncio.sleep(0)
        thread = threading.Thread(target=put, args=("thread", None))
        thread.start()
        got.append(await asyncio.wait_for(waiter, 5))
        thread.join(5)
        return got

    assert asyncio.run(main()) == [["own"], ["ask"], ["thread"]]
    assert gate._futures == []
