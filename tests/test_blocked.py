"""An endpoint that never yields (a loop without `await`, time.sleep, a call blocked in C) stalls the
bench's loop. It is named while it still blocks (which endpoint, which line, for how long), and it
never costs the process: a failed check, ``bench.stop()`` or re-running ``Bench()`` stops it where
that is safe (``wsbench.loop.Stopped`` raised into it), or leave a loop blocked in C behind and go on
on a fresh one. Every blocking endpoint here waits on a threading.Event the test sets at the end, so
nothing outlives its test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from conftest import wait_until
from fastapi import WebSocket

import wsbench
from wsbench import loop, server
from wsbench.exercises import CheckFailed, check


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test: what a blocking endpoint waits for (blocking the loop in C)."""
    event = threading.Event()
    yield event
    event.set()


def _blocked_events(conn: wsbench.Connection) -> list[str]:
    return [e.detail or "" for e in conn.transcript if e.side == "server" and e.kind == "blocked"]


def test_a_timeout_while_an_endpoint_still_blocks_names_it_and_its_line(bench, release):
    """While the endpoint still blocks, a receive Timeout says which endpoint, which line, for how long,
    and "still blocked"; not "nothing was lost, call again" (waiting again would not help)."""

    @bench.websocket("/hog")
    async def hog(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        release.wait(60)  # the mistake under test: blocks the loop until the test ends

    with bench.connect("/hog") as conn:
        conn.send_text("go")
        with pytest.raises(wsbench.Timeout) as info:
            conn.receive_text(timeout=1.5)
        message = str(info.value)
        assert not release.is_set()  # said while it still blocks
        assert "still blocked, for " in message and " s now, by endpoint /hog, in hog() line " in message
        assert "`release.wait(60)`" in message
        assert "call again" not in message and "nothing was lost" not in message
        # the transcript says so too, while it lasts
        assert any("still blocked" in detail for detail in _blocked_events(conn))
        release.set()


def test_a_check_stops_its_own_endpoint_that_never_yields_and_the_next_answer_passes(bench, capsys):
    """The busy-loop answer fails with a hint naming its line; wsbench stops it, so the right answer to
    the next check passes on the same bench, without a restart."""

    async def busy(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        while text:  # forgot to read the next message: spins for ever
            text = text.upper()

    async def right(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text((await websocket.receive_text()).upper())

    def run(answer: Callable[..., object]) -> None:
        with check("shout", bench, timeout=1.5, namespace={"shout": answer}) as ex:
            conn = ex.connect(ex.answer("shout"))
            conn.send_text("hello")
            ex.equal(conn.receive_text(), "HELLO", "the reply")

    with pytest.raises(CheckFailed) as info:
        run(busy)
    hint = info.value.hint
    assert "your endpoint blocked the bench's loop" in hint and "in busy() line " in hint
    assert "`text = text.upper()`" in hint or "`while text:`" in hint
    assert "wsbench stopped it" in hint
    assert loop.blocked_now(bench._loop) is None
    run(right)
    assert "✓ shout: passed" in capsys.readouterr().out


def test_the_next_check_blames_an_earlier_answer_that_still_blocks(bench, release):
    """An answer blocked in C cannot be stopped: its check says so, and the next check, with a right
    answer, blames that earlier endpoint (its path and line), not the new answer."""

    async def sleeper(websocket: WebSocket) -> None:
        await websocket.accept()
        release.wait(60)  # blocked in C: Stopped only lands when it returns

    async def right(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("HELLO")

    with pytest.raises(CheckFailed) as first:
        with check("first", bench, timeout=1.0, namespace={}) as ex:
            ex.equal(ex.connect(sleeper).receive_text(), "HELLO", "the reply")
    assert "in sleeper() line " in first.value.hint and "It is still blocked" in first.value.hint
    with pytest.raises(CheckFailed) as second:
        with check("second", bench, timeout=1.0, namespace={}) as ex:
            ex.equal(ex.connect(right).receive_text(), "HELLO", "the reply")
    hint = second.value.hint
    assert "still blocked by an earlier answer, not this one: endpoint /check/first-" in hint
    assert "in sleeper() line " in hint and "Bench()" in hint
    assert "Does the endpoint accept()" not in hint


def test_rerunning_bench_stops_an_endpoint_that_never_yields(make_bench):
    """Re-running the Bench() cell (a Bench of the same name) stops the old bench's busy endpoint on the
    same loop: the new bench answers, the old connection is closed with 1011 saying why."""
    name = "rerun-busy"
    old = make_bench(name=name)

    @old.websocket("/busy")
    async def busy(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            pass

    stuck = old.connect("/busy")
    wait_until(lambda: loop.blocked_now(old._loop))
    new = make_bench(name=name)
    assert not old.running and new.running
    assert new._loop is old._loop and not loop.is_abandoned(old._loop)
    with new.connect("/echo") as conn:
        conn.send_text("hi")
        assert conn.receive_text(timeout=5) == "hi"
    assert stuck.wait_closed(5) == 1011
    assert "wsbench stopped the endpoint" in (stuck.close_reason or "")


def test_rerunning_bench_leaves_a_loop_blocked_in_c_behind(make_bench, release):
    """An endpoint blocked in C cannot be stopped at once: the new bench starts on a fresh loop and works;
    the old bench stops whenever its loop wakes (here: when released), leaving nothing serving, and
    that loop's thread ends."""
    name = "rerun-sleeper"
    old = make_bench(name=name)

    @old.websocket("/sleeper")
    async def sleeper(websocket: WebSocket) -> None:
        await websocket.accept()
        release.wait(60)

    old.connect("/sleeper")
    wait_until(lambda: loop.blocked_now(old._loop))
    left = loop._threads[old._loop]
    new = make_bench(name=name)
    assert not old.running and new.running
    assert loop.is_abandoned(old._loop) and new._loop is not old._loop
    with new.connect("/echo") as conn:
        conn.send_text("hi")
        assert conn.receive_text(timeout=5) == "hi"
    release.set()

    def old_port_refused() -> bool:
        try:
            socket.create_connection(old.address, timeout=1).close()
        except ConnectionRefusedError:
            return True
        except OSError:  # reset: the listener is closing
            return False
        return False

    wait_until(old_port_refused)
    wait_until(lambda: not left.is_alive())  # nothing else ran on it: its thread ended
    assert old._loop.is_closed() and new._loop is loop.get_loop()


def test_connecting_to_a_stuck_bench_fails_at_once_naming_what_blocks_it(bench, release, monkeypatch):
    """A connect to a bench whose loop has been blocked for STUCK_AFTER s does not wait its open_timeout."""
    monkeypatch.setattr(loop, "STUCK_AFTER", 0.6)

    @bench.websocket("/sleeper")
    async def sleeper(websocket: WebSocket) -> None:
        await websocket.accept()
        release.wait(60)

    bench.connect("/sleeper")
    wait_until(lambda: (blocked := loop.blocked_now(bench._loop)) and blocked.seconds >= 0.6)
    with pytest.raises(wsbench.Timeout) as info:
        bench.connect("/echo", open_timeout=60)  # without the early answer: 60 s, and the test times out
    assert str(info.value).startswith("cannot connect to /echo: the bench's loop is still blocked")
    assert "by endpoint /sleeper, in sleeper() line " in str(info.value)


def test_a_stray_stopped_in_the_loops_own_code_does_not_kill_it():
    """If a Stopped lands in asyncio's own code (the blockage ended just before it was raised), the loop
    thread's runner catches it and runs the loop on: services on it keep working."""

    async def name() -> str:
        return threading.current_thread().name

    current = loop.get_loop()
    thread = loop._threads[current]
    assert thread.ident is not None
    assert loop._set_async_exc(thread.ident, loop.Stopped) == 1  # lands when the idle loop next runs Python
    for _ in range(3):
        assert loop.run(name(), timeout=5, what="after a stray Stopped") == "wsbench-loop"
    assert thread.is_alive() and loop.get_loop() is current


def test_interrupt_refuses_a_task_that_is_not_what_blocks_the_loop(bench, release):
    """interrupt() raises only into the task whose step blocks the loop now: not into another endpoint's
    task, and not once the blockage is over."""

    @bench.websocket("/sleeper")
    async def sleeper(websocket: WebSocket) -> None:
        await websocket.accept()
        release.wait(60)

    with bench.connect("/echo") as echo:
        bench.connect("/sleeper")
        blocker = wait_until(bench.blocker)
        assert blocker.path == "/sleeper" and blocker.at.startswith("sleeper() line ")
        other = next(task for task, serving in server._serving.items() if serving.key == echo.key)
        assert loop.interrupt(other, bench._loop, wait=0.1) is False
        assert not release.is_set() and bench.blocker() is not None  # nothing was raised: still blocked
        release.set()
        wait_until(lambda: bench.blocker() is None)
        assert loop.interrupt(blocker.task, bench._loop, wait=0.1) is False  # not blocked any more
        echo.send_text("still here")
        assert echo.receive_text(timeout=5) == "still here"


def test_a_panel_on_a_stuck_bench_names_what_blocks_it(bench, release, monkeypatch):
    """The panel's ping and reconnect say which endpoint blocks the bench, and that it still does."""
    from wsbench.widgets import Panel

    monkeypatch.setattr(loop, "STUCK_AFTER", 0.6)

    @bench.websocket("/sleeper")
    async def sleeper(websocket: WebSocket) -> None:
        await websocket.accept()
        release.wait(60)

    panel = Panel(bench.connect("/echo", timeout=1, close_timeout=1), live=False)
    try:
        bench.connect("/sleeper")
        wait_until(lambda: (blocked := loop.blocked_now(bench._loop)) and blocked.seconds >= 0.6)
        panel.ping_button.click()
        said = panel.result.value
        assert said.startswith("Timeout: ping: no pong from <Connection /echo open> within 1 s: ")
        assert "still blocked" in said and "by endpoint /sleeper, in sleeper() line " in said
        panel.reconnect_button.click()
        assert panel.result.value.startswith("Timeout: cannot connect to /echo: the bench's loop is still blocked")
    finally:
        panel.close()


def test_run_on_a_loop_blocked_for_long_fails_at_once_naming_the_line(release, monkeypatch):
    """loop.run() on a loop blocked for STUCK_AFTER s (by code that is no endpoint) does not wait its
    timeout plus grace: it says at once where the loop is stuck, and that it still is."""
    monkeypatch.setattr(loop, "STUCK_AFTER", 0.6)
    loop.on_blocked(lambda blockage: None)  # the watchdog runs (a Bench starts it too)

    async def block() -> None:
        release.wait(60)  # the mistake under test: code on the loop that never awaits

    async def fine() -> str:
        return "ran"

    stuck = asyncio.run_coroutine_threadsafe(block(), loop.get_loop())
    wait_until(lambda: (blocked := loop.blocked_now()) and blocked.seconds >= 0.6)
    with pytest.raises(wsbench.Timeout) as info:
        loop.run(fine(), timeout=60, what="a test call")
    message = str(info.value)
    assert message.startswith("a test call: the wsbench loop is still blocked, for ")
    assert "by block() line " in message and "`release.wait(60)`" in message
    release.set()
    stuck.result(5)
    assert loop.run(fine(), timeout=5, what="after") == "ran"
