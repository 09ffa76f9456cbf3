"""wsbench.exercises: self-checks that run a learner's answer on a real bench and answer
with a hint that teaches, bounded in time."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import WebSocket

import wsbench
from wsbench.exercises import CheckFailed, check


async def shout(websocket: WebSocket) -> None:
    """A right answer: echo one text message in capitals, then close."""
    await websocket.accept()
    await websocket.send_text((await websocket.receive_text()).upper())
    await websocket.close()


async def mumble(websocket: WebSocket) -> None:
    """A wrong answer: echo as it came."""
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


async def silent(websocket: WebSocket) -> None:
    """Never answers: accepts, then waits for ever (as a learner's forgotten send would)."""
    await websocket.accept()
    await asyncio.Event().wait()


async def broken(websocket: WebSocket) -> None:
    """Raises after accepting."""
    await websocket.accept()
    message = await websocket.receive()
    raise KeyError(message["oops"])


async def refuses(websocket: WebSocket) -> None:
    """Returns without accepting (uvicorn answers 403)."""
    await websocket.close()


def run_shout_check(bench: wsbench.Bench, namespace: dict) -> None:
    """The check an exercise cell would run against the learner's `answer_endpoint`."""
    with check("1.1 shout", bench, namespace=namespace) as ex:
        conn = ex.connect(ex.answer("answer_endpoint"))
        conn.send_text("hi")
        ex.equal(conn.receive_text(), "HI", "the reply to 'hi'")
        ex.expect(ex.server_saw(conn, "websocket.close"), "close the connection from the endpoint")


def test_a_right_answer_passes_and_says_so(bench, capsys):
    """The right endpoint passes, and the check prints one line saying so."""
    run_shout_check(bench, {"answer_endpoint": shout})
    assert capsys.readouterr().out == "✓ 1.1 shout: passed\n"


def test_a_missing_answer_names_what_to_define(bench):
    """A name the learner has not defined yet gives a hint, not a NameError."""
    with pytest.raises(CheckFailed, match="`answer_endpoint` is not defined yet"):
        run_shout_check(bench, {})


def test_a_wrong_reply_says_what_was_expected_and_what_came(bench):
    """A wrong answer says what was expected and what came instead."""
    with pytest.raises(CheckFailed, match=r"expected the reply to 'hi' to be 'HI', but it is 'hi'"):
        run_shout_check(bench, {"answer_endpoint": mumble})


def test_an_endpoint_that_never_answers_ends_in_a_hint(bench):
    """A silent endpoint ends in a bounded hint about accept, answers and blocking, not a hung cell."""
    with pytest.raises(CheckFailed, match="nothing came back within"):
        with check("1.2 silent", bench, timeout=0.5, namespace={"answer_endpoint": silent}) as ex:
            conn = ex.connect(ex.answer("answer_endpoint"))
            conn.send_text("hi")
            conn.receive_text()


def test_an_endpoint_that_raises_is_named_in_the_hint(bench):
    """The exception the learner's endpoint raised is in the hint (read from the bench's record)."""
    with pytest.raises(CheckFailed, match="your endpoint raised KeyError"):
        run_shout_check(bench, {"answer_endpoint": broken})


def test_a_refused_handshake_points_at_accept(bench):
    """An endpoint that never accepts gives a hint about accept()."""
    with pytest.raises(CheckFailed, match=r"HTTP 403.*accept\(\)"):
        run_shout_check(bench, {"answer_endpoint": refuses})


def test_a_stub_that_raises_not_implemented_gets_a_hint(bench):
    """nbgrader's stub (raise NotImplementedError()) reaching the check becomes a hint."""

    def stub() -> None:
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="still raises NotImplementedError"):
        with check("1.3 stub", bench, namespace={}):
            stub()


def test_ipython_shows_only_the_hint():
    """A failed check renders as one line (IPython's _render_traceback_), not a traceback."""
    failed = CheckFailed("2.1 close code", "expected 4003")
    assert failed._render_traceback_() == ["\x1b[31m✗ 2.1 close code\x1b[0m: expected 4003"]
    assert isinstance(failed, AssertionError)  # an autograder counts the check cell as failed


def test_the_default_namespace_is_the_callers_globals(bench):
    """Without namespace=, answers are looked up in the calling module's globals (a notebook's names)."""
    with pytest.raises(CheckFailed, match="`no_such_answer_here` is not defined yet"):
        with check("1.4 globals", bench) as ex:
            ex.answer("no_such_answer_here")
    with check("1.5 globals", bench) as ex:
        assert ex.answer("shout") is shout
