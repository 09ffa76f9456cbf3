"""Self-checks for notebook exercises: a check runs the learner's answer against the real
bench and asserts on both sides of the conversation; a right answer says so in one line, a wrong
or missing one fails with a hint that teaches, never a bare traceback. Every wait is bounded.
It raises :class:`CheckFailed` (an AssertionError) on a wrong answer, which nbgrader counts.
How to write a check, predictions, what a check accepts: ``docs/modules/wsbench.exercises.md``.
"""

from __future__ import annotations

import enum
import inspect
import itertools
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from .codes import describe
from .errors import ConnectionClosed, HandshakeRejected, Timeout, WsbenchError
from .predictions import WHY
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
        if inspect.isfunction(endpoint) and not inspect.iscoroutinefunction(endpoint):
            raise _Hint(
                f"`{endpoint.__name__}` is a plain function (`def`): an endpoint is `async def "
                f"{endpoint.__name__}(websocket: WebSocket):`, and awaits accept(), receive and send."
            )
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
        """Fail unless *got* == *expected* (plain values both), saying what was expected and what came instead."""
        _require_plain(got, what)
        _require_plain(expected, what)
        if got != expected:
            raise _Hint(f"expected {what} to be {expected!r}, but it is {got!r}{_type_remark(got, expected)}.")

    def predicted(
        self, name: str, seen: object, what: str, *, convert: Callable[[Any], Any] | None = None, **facts: object
    ) -> None:
        """Fail unless the learner's prediction *name* equals *seen*, what the live bench showed.

        The hint says what was predicted and what *what* really is, then why
        (:data:`wsbench.predictions.WHY`, its fields filled from *facts* and ``seen``). A list
        answer is compared item by item when the explanation has one reason per item. *convert*
        turns the learner's plain value into the form of *seen* first (e.g. enum members to names).
        """
        said = self.answer(name)
        _require_plain(said, f"`{name}`")
        if convert is not None:
            try:
                said = convert(said)
            except (TypeError, ValueError, AttributeError):  # not the shape convert expects: compared as it is
                pass
        if said == seen:
            return
        why = WHY.get(name, "")
        if isinstance(why, tuple):
            raise _Hint(_itemwise(said, seen, what, why))
        if isinstance(said, str) and not isinstance(seen, str) and said.strip() == str(seen):
            raise _Hint(
                f"you predicted {said!r}, a str, and {what} is {seen!r}, {_a(seen)}: "
                "the right value, written as text: remove the quotes."
            )
        if isinstance(said, str) and isinstance(seen, str) and said.strip().lower() == seen.lower():
            raise _Hint(f"you predicted {said!r}, and {what} is {seen!r}: the right word; write it exactly so.")
        reason = why.format(seen=seen, **facts) if why else ""
        raise _Hint(f"you predicted {said!r}, and {what} is {seen!r}{_type_remark(said, seen)}: {reason}".rstrip(": "))

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
        return _closed_early(exc, current)
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


def _closed_early(exc: ConnectionClosed, current: Check) -> str:
    """A hint for a connection that closed while the check still talked to it (read from the transcript)."""
    closed = f"the connection closed with {describe(exc.code, exc.reason)} before the check was done"
    for conn in current._connections:
        events = list(conn.transcript)
        if any(e.side == "server" and e.kind == "return" for e in events):
            heard = sum(1 for e in events if e.side == "server" and e.kind == "websocket.receive")
            return (
                f"your endpoint returned (its function ended) after reading {heard} message"
                f"{'' if heard == 1 else 's'}, and with it {closed}. To answer every message, keep answering in "
                "a loop (`async for text in websocket.iter_text(): ...`) until the client leaves."
            )
    return f"{closed}."


def _plain(value: object, depth: int = 0) -> bool:
    """Whether *value* is plain data whose == is Python's own (nested at most 20 deep)."""
    if depth > 20:
        return False
    kind = type(value)
    if kind in (type(None), bool, int, float, str, bytes):
        return True
    if kind in (list, tuple, set, frozenset):
        return all(_plain(item, depth + 1) for item in value)  # type: ignore[attr-defined]
    if kind is dict:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())  # type: ignore[attr-defined]
    return isinstance(value, enum.Enum) and kind.__eq__ is object.__eq__


def _require_plain(value: object, what: str) -> None:
    """Fail with a hint unless *value* is plain data (an object may claim to equal anything)."""
    if _plain(value):
        return
    try:
        claims = value == object()  # nothing plain equals a fresh object
    except Exception:
        claims = False
    why = " it claims to equal anything (like unittest.mock.ANY)," if claims is True else ""
    raise _Hint(
        f"{what} is {value!r}, {_a(value)}:{why} not a plain value. A check compares plain values "
        "only: a number, a str, bytes, True/False/None, or a list, tuple, set or dict of those."
    )


def _type_remark(said: object, seen: object) -> str:
    """ " (a str, not an int)" when the two differ in type, beyond int/float/bool; else ""."""
    numbers = (int, float)
    if type(said) is type(seen) or (isinstance(said, numbers) and isinstance(seen, numbers)):
        return ""
    return f" ({_a(seen)}, not {_a(said)})"


def _a(value: object) -> str:
    """ "an int", "a str": the type of *value* with its article."""
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _itemwise(said: object, seen: object, what: str, reasons: tuple[str, ...]) -> str:
    """The hint for a list prediction with one reason per item: how many, then each wrong item and why."""
    if not isinstance(said, (list, tuple)) or not isinstance(seen, (list, tuple)) or len(said) != len(seen):
        count = len(said) if isinstance(said, (list, tuple)) else f"a {type(said).__name__}"
        return f"write a list of {len(reasons)}, one for each of {what}; you wrote {count}."
    return (
        "; ".join(
            f"at ({i + 1}) you said {mine!r}, the endpoint saw {theirs!r}"
            + (f": {reasons[i]}" if i < len(reasons) else "")
            for i, (mine, theirs) in enumerate(zip(said, seen, strict=True))
            if mine != theirs
        )
        + "."
    )
