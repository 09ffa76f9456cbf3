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
