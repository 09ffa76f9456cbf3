"""Self-checks for notebook exercises: a check runs the learner's answer against the real
bench and asserts on both sides of the conversation, the way otter-grader's
``grader.check("q1")`` feels: a right answer says so in one line; a wrong or missing one
fails with a hint that teaches (what was expected, what happened, where to look), never a
bare NameError or NotImplementedError traceback. Every wait is bounded, so a learner's
endless loop or blocking endpoint ends in a hint, not a hung cell.

::

    with wsbench.exercises.check("18.1 shout back", bench) as ex:
        shout = ex.answer("shout")             # the learner's endpoint; a hint if it is missing
        conn = ex.connect(shout)                # served on a fresh path of the bench
        conn.send_text("hi")
        ex.equal(conn.receive_text(), "HI", "the reply to 'hi'")
        ex.expect(ex.server_saw(conn, "websocket.close"), "close the connection from the endpoint")

The check cell is what nbgrader grades (``grade: true``): it raises :class:`CheckFailed`
(an AssertionError) on a wrong answer, so an autograder counts it as failed, and IPython
shows only the hint (``_render_traceback_``), not a stack of wsbench frames.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from .codes import describe
from .errors import ConnectionClosed, HandshakeRejected, Timeout, WsbenchError
from .transcript import Event

if TYPE_CHECKING:
    from .client import Connection
    from .server import Bench

__all__ = ["Check", "CheckFailed", "check"]

_paths = itertools.count(1)


class CheckFailed(AssertionError):
    """Raised when an exercise's answer is wrong or missing; its message is the hint."""

    def __init__(self, name: str, hint: str) -> None:
        super().__init__(f"{name}: {hint}")
        self.name = name
        self.hint = hint

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"\x1b[31m✗ {self.name}\x1b[0m: {self.hint}"]


class _Hint(Exception):
    """A failed expectation inside a check (turned into :class:`CheckFailed` on the way out)."""


class Check:
    """One exercise's check: the learner's names, connections on the bench, expectations."""

    def __init__(self, name: str, bench: Bench | None, namespace: dict[str, Any], timeout: float) -> None:
        self.name = name
        self.bench = bench
        self.timeout = timeout
        self._namespace = namespace
        self._connections: list[Connection] = []

    def answer(self, name: str) -> Any:
        """The value the learner gave *name* (a function, a number, a string ...)."""
        if name not in self._namespace:
            raise _Hint(f"`{name}` is not defined yet: write it in the exercise cell above, then run that cell.")
        return self._namespace[name]

    def connect(self, endpoint: Callable[..., Any], *, path: str | None = None, **options: Any) -> Connection:
        """Serve *endpoint* on a fresh path of the bench and connect to it (closed when the check ends)."""
        if self.bench is None:
            raise RuntimeError(f"check({self.name!r}) was given no bench to serve the endpoint on")
        if not callable(endpoint):
            raise _Hint(f"expected an endpoint (an `async def` function taking a WebSocket), got {endpoint!r}.")
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "exercise"
        path = path or f"/check/{slug}-{next(_paths)}"
        self.bench.websocket(path)(endpoint)
        options.setdefault("timeout", self.timeout)
        options.setdefault("open_timeout", self.timeout)
        options.setdefault("close_timeout", self.timeout)
        conn = self.bench.connect(path, **options)
        self._connections.append(conn)
        return conn

    def expect(self, condition: object, hint: str) -> None:
        """Fail with *hint* unless *condition* holds."""
        if not condition:
            raise _Hint(hint)

    def equal(self, got: object, expected: object, what: str) -> None:
        """Fail unless *got* == *expected*, saying what was expected and what came instead."""
        if got != expected:
            raise _Hint(f"expected {what} to be {expected!r}, but it is {got!r}.")

    def server_saw(self, conn: Connection, kind: str) -> list[Event]:
        """The server side's events of *kind* on *conn*, once its endpoint has ended (bounded wait)."""
        conn.wait_endpoint(self.timeout)
        return [event for event in conn.transcript if event.side == "server" and event.kind == kind]

    def _close(self) -> None:
        for conn in self._connections:
            try:
                conn.close()
            except WsbenchError:  # already gone; the check's verdict is what matters
                pass


def check(
    name: str, bench: Bench | None = None, *, timeout: float = 3.0, namespace: dict[str, Any] | None = None
) -> AbstractContextManager[Check]:
    """Run one exercise's self-check (see the module docstring); prints ``✓ name: passed``.

    The learner's answers are looked up in *namespace*, by default the caller's globals
    (in a notebook: the names its cells defined).
    """
    return _checking(name, bench, sys._getframe(1).f_globals if namespace is None else namespace, timeout)


@contextmanager
def _checking(name: str, bench: Bench | None, namespace: dict[str, Any], timeout: float) -> Iterator[Check]:
    current = Check(name, bench, namespace, timeout)
    try:
        yield current
    except _Hint as hint:
        raise CheckFailed(name, str(hint)) from None
    except NotImplementedError:
        raise CheckFailed(
            name, "the exercise cell still raises NotImplementedError: replace it with your answer."
        ) from None
    except Exception as exc:
        raise CheckFailed(name, _explain(exc, current)) from None
    finally:
        current._close()
    print(f"✓ {name}: passed")


def _explain(exc: Exception, current: Check) -> str:
    """A hint for what went wrong while the check talked to the learner's endpoint."""
    stuck = _stuck(current)
    if stuck:
        return stuck
    raised = _endpoint_error(current)
    if raised:
        return f"your endpoint raised {raised}: read the message, fix the endpoint, run its cell and this one again."
    if isinstance(exc, Timeout):
        return (
            f"nothing came back within {current.timeout} s. Does the endpoint accept() and then answer? "
            "An endpoint that waits for something that never comes, loops for ever, or calls time.sleep "
            "(use `await asyncio.sleep`) never answers."
        )
    if isinstance(exc, HandshakeRejected):
        return (
            f"the handshake was refused with HTTP {exc.status}: the endpoint closed (or returned) before "
            "`await websocket.accept()`."
        )
    if isinstance(exc, ConnectionClosed):
        return f"the connection closed with {describe(exc.code, exc.reason)} before the check was done."
    return f"{type(exc).__name__}: {exc}"


def _stuck(current: Check) -> str | None:
    """A hint when the bench's loop is blocked now: by this check's endpoint (then wsbench stops it
    where it can, so the next answer gets a working bench), or by an earlier answer (blamed, not this one)."""
    bench = current.bench
    blocker = bench.blocker() if bench is not None else None
    if bench is None or blocker is None:
        return None
    fix = "re-run the cell that makes the bench (`bench = wsbench.Bench()`) to get going again"
    if blocker.key is not None and blocker.key in {conn.key for conn in current._connections}:
        stopped = bench.stop_blocker(blocker)
        return (
            f"your endpoint blocked the bench's loop for {blocker.seconds:.1f} s, in {blocker.at or 'it'}: it never "
            "awaits, so nothing else could run, not even its reply. "
            + ("wsbench stopped it. " if stopped else f"It is still blocked: {fix}. ")
            + "Wait with `await` (`await websocket.receive_text()`, `async for ... in websocket.iter_text()`, "
            "`await asyncio.sleep(...)`), never in a loop that does not await, nor with time.sleep."
        )
    who = f"endpoint {blocker.path}" if blocker.path else "code that is no endpoint"
    return (
        f"the bench's loop is still blocked by an earlier answer, not this one: {who}"
        + (f", in {blocker.at}" if blocker.at else "")
        + f", for {blocker.seconds:.0f} s now. Nothing on the bench runs until it ends: {fix}, then run this check."
    )


def _endpoint_error(current: Check) -> str | None:
    """The exception the learner's endpoint raised, as recorded by the bench, if any."""
    for conn in current._connections:
        for event in conn.transcript:
            if event.side == "server" and event.kind == "exception" and event.detail:
                return event.detail.removeprefix("endpoint raised ")
    return None
