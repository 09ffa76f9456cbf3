"""What tests written by :mod:`wsbench.codegen` call, and JSON compared with ignore paths.

Generated test files in users' repositories import this module (``import wsbench.asserts``), so
its names and their behaviour stay stable. Text holding a JSON object or array
(:func:`json_value`) compares as JSON after removing the fields matched by *ignore* JSON paths
(:func:`compile_ignore`; `jsonpath-ng <https://github.com/h2non/jsonpath-ng>`_ syntax: ``$.id``,
``$.items[*].ts``); :func:`json_differences` names the paths that differ. Importing it loads no
client, server or web framework.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from jsonpath_ng.ext import parse as _parse_jsonpath

from .errors import ConnectionClosed

__all__ = [
    "STEP_FIELDS",
    "Receiving",
    "assert_conversation",
    "assert_json_matches",
    "compile_ignore",
    "differing_paths",
    "expect_close",
    "json_differences",
    "json_value",
    "without_ignored",
]

_MAX_PATHS = 10  # differing JSON paths listed per message


# -- JSON ---------------------------------------------------------------------------


class _Absent:
    pass


_ABSENT: Any = _Absent()  # a key or index one side lacks


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: Python reads it as inf, which no JSON or literal can hold
        raise ValueError(text)
    return value


def json_value(text: str) -> dict | list | None:
    """The JSON object or array in *text*, or None: plain text, a bare scalar, NaN, a number too
    large for a float (``1e400``) or JSON nested too deep to read compare as text."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, (dict, list)) else None


def compile_ignore(ignore: str | Iterable[str]) -> list[tuple[str, Any]]:
    """Parse the *ignore* JSON paths; ValueError naming a path that does not parse."""
    paths = [ignore] if isinstance(ignore, str) else list(ignore)
    compiled = []
    for path in paths:
        if not isinstance(path, str):
            raise ValueError(f"ignore paths must be strings like '$.id', not {path!r}")
        try:
            compiled.append((path, _parse_jsonpath(path)))
        except Exception as exc:  # jsonpath-ng raises its own lexer/parser errors
            raise ValueError(
                f"ignore path {path!r} is not a valid JSON path ({exc}); write it like '$.id' or '$.items[*].ts'"
            ) from None
    return compiled


def without_ignored(value: Any, compiled: list[tuple[str, Any]]) -> Any:
    """A copy of *value* without the fields the compiled paths (:func:`compile_ignore`) match."""
    if not compiled:
        return value
    value = copy.deepcopy(value)
    for _, expr in compiled:
        value = expr.filter(lambda _: True, value)
    return value


def _path_step(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def json_differences(expected: Any, got: Any, path: str = "$") -> Iterator[tuple[str, Any, Any]]:
    """(JSON path, expected, got) for each place two JSON values differ, in document order."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in [*expected, *(k for k in got if k not in expected)]:
            yield from json_differences(expected.get(key, _ABSENT), got.get(key, _ABSENT), _path_step(path, key))
    elif isinstance(expected, list) and isinstance(got, list):
        for index in range(max(len(expected), len(got))):
            yield from json_differences(
                expected[index] if index < len(expected) else _ABSENT,
                got[index] if index < len(got) else _ABSENT,
                _path_step(path, index),
            )
    elif expected != got or (type(expected) is not type(got) and not _same_number(expected, got)):
        yield path, expected, got


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool)


def differing_paths(expected: Any, got: Any) -> tuple[str, ...]:
    """One line per JSON path where two values differ (``$.n: 1 != 2``), at most ten and a count of the rest."""
    found = list(json_differences(expected, got))
    lines = [f"{path}: {_shown(e)} != {_shown(g)}" for path, e, g in found[:_MAX_PATHS]]
    if len(found) > _MAX_PATHS:
        lines.append(f"... and {len(found) - _MAX_PATHS} more JSON paths")
    return tuple(lines)


def assert_json_matches(got: Any, expected: Any, *, ignore: str | Iterable[str] = ()) -> None:
    """Assert that *got* (a JSON value, or JSON text) equals *expected* once the fields matched
    by the *ignore* JSON paths are removed from both; the AssertionError names the paths that differ."""
    compiled = compile_ignore(ignore)
    if isinstance(got, str):
        parsed = json_value(got)
        if parsed is None:
            raise AssertionError(f"expected a JSON object or array, got the text {got!r}")
        got = parsed
    left, right = without_ignored(expected, compiled), without_ignored(got, compiled)
    found = list(json_differences(left, right))
    if found:
        shown = "\n".join(f"  {path}: expected {_shown(e)}, got {_shown(g)}" for path, e, g in found[:_MAX_PATHS])
        more = f"\n  ... and {len(found) - _MAX_PATHS} more" if len(found) > _MAX_PATHS else ""
        skipped = f" (ignoring {', '.join(path for path, _ in compiled)})" if compiled else ""
        raise AssertionError(f"JSON message differs{skipped}:\n{shown}{more}")


class Receiving(Protocol):
    """What :func:`expect_close` needs of a connection (a :class:`~wsbench.Connection` has it):
    ``receive(timeout)`` returning the next message, raising ConnectionClosed once closed."""

    def receive(self, timeout: float | None = None) -> str | bytes: ...


def expect_close(conn: Receiving, *, timeout: float | None = None) -> None:
    """Wait until the peer closes *conn*; AssertionError if a message comes first, and
    :class:`~wsbench.Timeout` if it stays open for *timeout* seconds."""
    try:
        message = conn.receive(timeout=timeout)
    except ConnectionClosed:
        return
    raise AssertionError(f"expected the server to close the connection, but it sent another message: {message!r}")


#: What each step of :func:`assert_conversation` holds, in this order (files written by
#: ``transcript.to_pytest_all`` depend on it).
STEP_FIELDS = ("conn", "kind", "data", "code", "reason", "name")


def assert_conversation(steps: Iterable[Sequence[Any]], app: Any, *, timeout: float) -> None:
    """Replay a conversation of several clients against *app* (served on a temporary
    :class:`~wsbench.Bench`), each client doing its recorded *steps* (tuples of
    :data:`STEP_FIELDS`) in their order; AssertionError naming the client and the message where an
    answer differs. Raises TypeError for an *app* that is not an ASGI app."""
    from .replay_many import run_steps  # the server, on first use: importing this module loads none
    from .transcript import Event

    events = [
        Event(seq=n, time=0.0, side="client", **dict(zip(STEP_FIELDS, step, strict=True)))
        for n, step in enumerate(steps, 1)
    ]
    result = run_steps(events, app, timeout=timeout)
    assert result.ok, str(result)
