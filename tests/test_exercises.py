"""wsbench.exercises: self-checks that run a learner's answer on a real bench and answer
with a hint that teaches, bounded in time."""

from __future__ import annotations

import asyncio
from unittest.mock import ANY

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


async def forgetful(websocket: WebSocket) -> None:
    """27.2's case: sends, then returns without close() (uvicorn drops the connection: the client sees 1006)."""
    await websocket.accept()
    await websocket.send_text("done")


def run_prediction_27_2(bench: wsbench.Bench, predicted: object) -> None:
    """Exercise 27.2's check, as the notebook's check cell runs it."""
    with check("27.2 predict", bench, namespace={"ex27_2_predicted_code": predicted}) as ex:
        conn = ex.connect(forgetful)
        ex.equal(conn.receive_text(), "done", "the message before the end")
        seen = conn.wait_closed()
        ex.predicted("ex27_2_predicted_code", seen, "the close code the client saw", closes=0)


def test_a_right_prediction_passes(bench, capsys):
    """The prediction is compared with what the live bench showed."""
    run_prediction_27_2(bench, 1006)
    assert capsys.readouterr().out == "✓ 27.2 predict: passed\n"


def test_a_wrong_prediction_shows_what_the_bench_showed_and_why(bench):
    """The hint names the prediction, the live value, and the explanation kept in wsbench.predictions."""
    with pytest.raises(
        CheckFailed, match=r"you predicted 1000, and the close code the client saw is 1006: .*closes TCP"
    ):
        run_prediction_27_2(bench, 1000)


def test_a_code_written_as_a_string_gets_a_hint_about_the_type(bench):
    """'1006' for a close code: the right number, as text; the hint says so (and nothing about the case)."""
    with pytest.raises(
        CheckFailed, match=r"you predicted '1006', a str, .* 1006, an int: .*remove the quotes"
    ) as failed:
        run_prediction_27_2(bench, "1006")
    assert "closes TCP" not in str(failed.value)
    with pytest.raises(CheckFailed, match=r"you predicted '4002', and .* is 1006 \(an int, not a str\)"):
        run_prediction_27_2(bench, "4002")


class _EqualsAll:
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


@pytest.mark.parametrize("cheat", [ANY, _EqualsAll(), [ANY], {"code": ANY}], ids=["ANY", "eq", "list", "dict"])
def test_an_object_that_equals_everything_fails_with_a_hint(bench, cheat):
    """unittest.mock.ANY, or any custom __eq__, is not a prediction: it fails (it passed every check before)."""
    with pytest.raises(CheckFailed, match=r"`ex27_2_predicted_code` is .*not a plain value"):
        run_prediction_27_2(bench, cheat)
    with pytest.raises(CheckFailed, match=r"claims to equal anything"):
        run_prediction_27_2(bench, ANY)


def test_equal_takes_plain_values_only(bench):
    """ex.equal compares the learner's value too (e.g. a reply the learner computed): ANY fails there as well."""
    with pytest.raises(CheckFailed, match=r"the reply is <ANY>, a _ANY: it claims to equal anything"):
        with check("9.1 reply", bench, namespace={"reply": ANY}) as ex:
            ex.equal(ex.answer("reply"), "echo: ping", "the reply")


def test_the_exercise_reproducer_no_longer_passes():
    """/work/shared/repro's prediction answered with ANY (notebook 01's check) now fails with the hint."""
    bench = wsbench.Bench()
    try:
        with pytest.raises(CheckFailed, match="claims to equal anything"):
            with check("01.2 predict scope['query_string']", bench, namespace={"predicted_query_string": ANY}) as ex:

                async def keep_query_string(websocket: WebSocket) -> None:
                    await websocket.accept()
                    await websocket.close()

                ex.connect(keep_query_string, params={"q": "café"}).wait_closed()
                ex.predicted("predicted_query_string", b"q=caf%C3%A9", "scope['query_string']")
    finally:
        bench.stop()


def test_a_list_prediction_explains_each_wrong_item(bench):
    """13.1's four moments: each wrong one is named with its own reason; a wrong length says how many to write."""
    namespace = {"predicted_13_states": ["CONNECTING", "CONNECTED", "DISCONNECTED", "DISCONNECTED"]}
    seen = ["CONNECTING", "CONNECTED", "CONNECTED", "DISCONNECTED"]
    with pytest.raises(
        CheckFailed, match=r"at \(3\) you said 'DISCONNECTED', the endpoint saw 'CONNECTED': .*reads"
    ) as failed:
        with check("13.1", bench, namespace=namespace) as ex:
            ex.predicted("predicted_13_states", seen, "the moments (1) to (4)")
    assert "at (1)" not in str(failed.value)
    with pytest.raises(
        CheckFailed, match=r"write a list of 4, one for each of the moments \(1\) to \(4\); you wrote 2"
    ):
        with check("13.1", bench, namespace={"predicted_13_states": ["CONNECTING", "CONNECTED"]}) as ex:
            ex.predicted("predicted_13_states", seen, "the moments (1) to (4)")


async def answers_once(websocket: WebSocket) -> None:
    """00.1 without the loop: one receive, one send, then the function ends (uvicorn drops the connection)."""
    await websocket.accept()
    await websocket.send_text((await websocket.receive_text()).upper())


def test_an_endpoint_without_a_loop_gets_the_loop_hint(bench):
    """A second message after the endpoint returned: the hint says it returned after one and to answer in a loop."""
    with pytest.raises(
        CheckFailed, match=r"returned \(its function ended\) after reading 1 message, .*keep answering in a loop"
    ):
        with check("00.1 shout back", bench, namespace={"ex00_1_shout": answers_once}) as ex:
            shout = ex.connect(ex.answer("ex00_1_shout"))
            shout.send_text("hello")
            ex.equal(shout.receive_text(), "HELLO", "the reply to 'hello'")
            shout.send_text("again")
            ex.equal(shout.receive_text(), "AGAIN", "the reply to a second message")


def test_a_plain_function_as_an_endpoint_gets_a_hint(bench):
    """`def` instead of `async def`: named before anything is served (FastAPI would fail inside the handshake)."""

    def shout_sync(websocket: WebSocket) -> None:
        return None

    with pytest.raises(CheckFailed, match=r"`shout_sync` is a plain function \(`def`\): an endpoint is `async def"):
        run_shout_check(bench, {"answer_endpoint": shout_sync})


def test_a_predicted_word_in_the_wrong_case_gets_a_hint(bench):
    """'Server' for 'server': the right word; the hint says to write it exactly, not why the answer is what it is."""
    with pytest.raises(CheckFailed, match=r"you predicted 'Server', and who closed is 'server': the right word"):
        with check("14.1", bench, namespace={"ex14_closed_first": "Server"}) as ex:
            ex.predicted("ex14_closed_first", "server", "who closed", detail="", server_code=4002)


def test_a_prediction_of_the_right_text_in_the_wrong_type_says_both(bench):
    """01.2 answered with a str where the scope holds bytes: the types are named, then why."""
    hint = r"you predicted 'q=caf%C3%A9', and .* is b'q=caf%C3%A9' \(a bytes, not a str\): the scope keeps .*bytes"
    with pytest.raises(CheckFailed, match=hint):
        with check("01.2", bench, namespace={"predicted_query_string": "q=caf%C3%A9"}) as ex:
            ex.predicted("predicted_query_string", b"q=caf%C3%A9", "scope['query_string']")
