"""A saved transcript's rows, read back: every field of a JSON Lines line checked.

A saved file is untrusted input: :meth:`wsbench.Transcript.load` opens only a regular file
(:func:`open_regular`) and turns each line into an event's fields with :func:`event_fields`,
which checks depth, types, finite times and Unicode and names the line and field of any
fault. Pure logic beyond opening the file.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InvalidTranscript
from ..kinds import CLOSED_BY, SIDES

__all__ = ["MAX_DEPTH", "by_from_detail", "event_fields", "open_regular", "read_rows"]

#: How deep a field's JSON may nest (a close reason FastAPI sends nests 3 deep).
MAX_DEPTH = 32

_INTS = ("seq", "conn")  # integers, never booleans
_STRINGS = ("side", "kind", "text", "client_state", "application_state", "detail", "name", "handler")


@contextmanager
def open_regular(path: str | Path, limit: int) -> Iterator[BinaryIO]:
    """*path* opened for reading in binary, only if it is a regular file no larger than *limit*."""
    _check_regular(path, os.stat(path), limit)  # before opening: opening a FIFO would block
    # O_NONBLOCK: should the path be swapped for a FIFO after the check, opening still returns at once
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        _check_regular(path, os.fstat(fd), limit)  # the file actually opened
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        yield file


def _check_regular(path: str | Path, info: os.stat_result, limit: int) -> None:
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        what = (
            "a directory"
            if stat.S_ISDIR(mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a file"
        )
        raise InvalidTranscript(f"{path}: not a regular file ({what}), so not a saved transcript")
    if info.st_size > limit:
        raise InvalidTranscript(
            f"{path}: {info.st_size} bytes, over max_bytes={limit}; pass a larger max_bytes= to load it if you "
            "trust the file"
        )


def event_fields(line: str, number: int) -> dict[str, Any]:
    """The fields of the event on line *number*; InvalidTranscript names the line and field of a fault."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidTranscript(f"line {number}: not JSON ({exc.msg} at column {exc.colno}): {line[:40]!r}") from None
    except RecursionError:
        raise InvalidTranscript(
            f"line {number}: JSON nested too deep to read (a row nests {MAX_DEPTH} levels at most)"
        ) from None
    except ValueError as exc:  # an integer too long to convert
        raise InvalidTranscript(f"line {number}: not a JSON Lines transcript row ({exc})") from None
    if not isinstance(row, dict):
        raise InvalidTranscript(f"line {number}: expected a JSON object, got {type(row).__name__}")

    def bad(name: str, what: str) -> InvalidTranscript:
        return InvalidTranscript(f"line {number}: field {name!r} {what}")

    for name in ("seq", "time", "side", "kind", "conn"):
        if row.get(name) is None:
            what = "a number" if name == "time" else "a string" if name in _STRINGS else "an integer"
            raise bad(name, f"is missing or not {what}")
    for name in _INTS:
        if type(row[name]) is not int:
            raise bad(name, "is missing or not an integer")
    time_ = row["time"]
    if isinstance(time_, bool) or not isinstance(time_, (int, float)) or not math.isfinite(time_):
        raise bad("time", f"is missing or not a number (finite seconds), not {time_!r}")
    for name in _STRINGS:
        value = row.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise bad(name, "is missing or not a string" if name in ("side", "kind") else "is not a string")
            _check_text(value, bad, name)
    if row["side"] not in SIDES:
        raise InvalidTranscript(f"line {number}: side must be one of {', '.join(SIDES)}, not {row['side']!r}")
    reason = row.get("reason")
    if reason is not None:
        if not isinstance(reason, (str, list)):
            raise bad("reason", "is not a string (or a list, as FastAPI sends)")
        _check_json(reason, bad, "reason")
    cause = row.get("cause")
    if cause is not None and type(cause) is not int:
        raise bad("cause", f"is not an integer (the seq of the receive a send answers), not {cause!r}")
    code = row.get("code")
    if code is not None and (type(code) is not int or not 0 <= code <= 65535):
        raise bad("code", f"is not an integer from 0 to 65535 (a close code or HTTP status), not {code!r}")
    headers = row.get("headers")
    if headers is not None:
        if not isinstance(headers, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
            for pair in headers
        ):
            raise bad("headers", "is not a list of [name, value] string pairs")
        for pair in headers:
            for part in pair:
                _check_text(part, bad, "headers")
        headers = tuple((name, value) for name, value in headers)
    data: str | bytes | None = row.get("text")
    if row.get("bytes") is not None:
        if data is not None:
            raise InvalidTranscript(
                f"line {number}: both 'text' and 'bytes' hold a payload; a message is one or the other"
            )
        if not isinstance(row["bytes"], str):
            raise bad("bytes", "is not base64 text")
        try:
            data = base64.b64decode(row["bytes"], validate=True)
        except (ValueError, TypeError):
            raise bad("bytes", "is not base64") from None
    if "by" in row:
        by = row["by"]
        if by is not None and (not isinstance(by, str) or by not in CLOSED_BY):
            raise bad("by", f"must be 'client', 'server' or null, not {by!r}")
    elif row["side"] == "client" and row["kind"] == "closed":
        # Saved before "closed" recorded who closed: derive it once, here, from websockets' account
        # of the closing handshake ("sent 1000 (OK); then received ..."), so old transcripts keep
        # working and nothing else reads that text.
        by = by_from_detail(row.get("detail"))
    else:
        by = None
    known = {"code", "reason", "client_state", "application_state", "detail", "name", "handler", "cause"}
    return dict(
        seq=row["seq"],
        time=float(time_),
        side=row["side"],
        kind=row["kind"],
        conn=row["conn"],
        data=data,
        headers=headers,
        by=by,
        **{k: row.get(k) for k in known},
    )


def by_from_detail(detail: str | None) -> str | None:
    """Who closed, as websockets' account of the close (an old "closed" row's detail) tells it."""
    detail = detail or ""
    return "client" if detail.startswith("sent") else "server" if detail.startswith("received") else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(value: str, bad: Any, name: str) -> None:
    """Refuse a lone surrogate: JSON's "\\ud800" escape reads as one, but it is not Unicode text,
    and save() could not write it back as UTF-8."""
    found = _SURROGATE.search(value)
    if found:
        raise bad(
            name,
            f"holds a lone surrogate ({found.group()!r} at index {found.start()}), which is not Unicode text "
            "and could not be saved again",
        )


def _check_json(value: Any, bad: Any, name: str) -> None:
    """Walk a JSON value (without recursion): no deeper than MAX_DEPTH, text without lone surrogates."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise bad(name, f"is nested too deep (more than {MAX_DEPTH} levels)")
        if isinstance(item, str):
            _check_text(item, bad, name)
        elif isinstance(item, float) and not math.isfinite(item):
            raise bad(name, "holds a number that is not finite")
        elif isinstance(item, list):
            stack.extend((part, depth + 1) for part in item)
        elif isinstance(item, dict):
            stack.extend((part, depth + 1) for pair in item.items() for part in pair)


def read_rows(path: str | Path, file: BinaryIO, max_bytes: int) -> Iterator[dict[str, Any]]:
    """The checked fields of each line of *file* (opened by :func:`open_regular`), read line by
    line and never past *max_bytes*, whatever the file's size claims."""
    total = 0
    for number in itertools.count(1):
        line = file.readline(max_bytes - total + 1)  # never more than the limit allows, plus one
        if not line:
            break
        total += len(line)
        if total > max_bytes:
            raise InvalidTranscript(
                f"{path}: longer than max_bytes={max_bytes} (at line {number}); "
                "pass a larger max_bytes= to load it if you trust the file"
            )
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidTranscript(
                f"{path}: not a UTF-8 text file, so not a JSON Lines transcript (line {number})"
            ) from None
        if text.strip():
            yield event_fields(text, number)
