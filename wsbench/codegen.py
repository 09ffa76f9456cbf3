"""Turn a recorded conversation into a pytest file that replays it and asserts the answers.

* :func:`write_pytest` (also ``transcript.to_pytest(path, ...)``) writes one
  ``def test_<name>()`` per recorded connection: it opens the same path and query, sends
  what the client sent, asserts each message the client received (``receive_text``,
  ``receive_bytes``, or ``receive_json`` for a JSON object or array), and asserts the close.
* The target is a ``ws://`` / ``wss://`` base URL, or an app given as an import string
  (``"package.module:app"``) that the test serves on a :class:`~wsbench.Bench`.
* The file is plain pytest with literal values, uses only the public wsbench API, passes
  ``ruff check``, and is the same bytes for the same transcript and options, so it can be
  committed and diffed.
* Secrets follow :mod:`wsbench.secrets`: values recorded as ``***`` cannot be written into
  a test, and real ones are written only with ``unmasked=True``.

Pure logic: builds text; :func:`write_pytest` writes one file. It reads the transcript
through :mod:`wsbench.conversation`, and the tests it writes call that module's helpers, so
neither this module nor a generated file imports wsbench's server or a web framework for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .codes import describe
from .conversation import Plan, compile_ignore, connections, json_value, plan, secrets_in, select
from .errors import InvalidTranscript, InvalidURL
from .secrets import mask_url
from .transcript import Event, Transcript

__all__ = ["pytest_source", "write_pytest"]

_WIDTH = 120  # the longest line written (ruff's E501 at the project's line length)
_INDENT = "    "
_IMPORT_STRING = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def write_pytest(
    transcript: Transcript,
    path: str | Path,
    *,
    url: str | None = None,
    app: str | None = None,
    ignore: str | Iterable[str] = (),
    name: str | None = None,
    conn: int | None = None,
    timeout: float = 5.0,
    unmasked: bool = False,
) -> Path:
    """Write a pytest file to *path* that replays *transcript* and asserts the server's answers; return the path.

    Give exactly one target: *url*, a ``ws://`` / ``wss://`` base URL the recorded path is
    appended to, or *app*, an import string (``"package.module:app"``) for an ASGI app the
    test serves on a :class:`~wsbench.Bench`. *conn* picks one connection (#1, #2 ... as the
    transcript prints them; default: every connection, one test each). *name* names the
    test (``test_<name>``; default: from the path). *ignore* lists JSON paths left out of
    the comparison of JSON messages; *timeout* bounds each wait in the test. Secret query
    parameters and headers are written into the file only with *unmasked*.
    """
    path = Path(path)
    source = pytest_source(
        transcript,
        url=url,
        app=app,
        ignore=ignore,
        name=name,
        conn=conn,
        timeout=timeout,
        unmasked=unmasked,
        filename=path.name,
    )
    path.write_text(source, encoding="utf-8")
    return path


def pytest_source(
    transcript: Transcript,
    *,
    url: str | None = None,
    app: str | None = None,
    ignore: str | Iterable[str] = (),
    name: str | None = None,
    conn: int | None = None,
    timeout: float = 5.0,
    unmasked: bool = False,
    filename: str = "test_replay.py",
) -> str:
    """The text :func:`write_pytest` writes (*filename* is named in its docstring)."""
    if (url is None) == (app is None):
        raise ValueError("give exactly one target: url='ws://host:port' or app='package.module:app'")
    if url is not None and (not isinstance(url, str) or not url.startswith(("ws://", "wss://"))):
        raise InvalidURL(f"{mask_url(url)!r} isn't a ws:// or wss:// base URL to write into the test")
    if app is not None and (not isinstance(app, str) or not _IMPORT_STRING.match(app)):
        raise ValueError(f"app={app!r} is not an import string like 'package.module:app'")
    if name is not None and not re.fullmatch(r"\w+", name):
        raise ValueError(f"name={name!r} is not usable in a Python function name (letters, digits, _)")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    compiled = compile_ignore(ignore)
    paths = [path for path, _ in compiled]
    if conn is not None:
        chosen = [select(transcript, conn)]
    else:
        found = connections(transcript)
        if not found:
            select(transcript, None)  # raises: the transcript has no client side
        chosen = [select(transcript, number) for number, _ in found]
    tests = []
    names: set[str] = set()
    for number, client in chosen:
        if not any(e.kind in ("open", "rejected") for e in client):
            if conn is not None or len(chosen) == 1:
                raise InvalidTranscript(
                    f"connection #{number} never opened ({_never_opened(client)}): there are no answers to assert"
                )
            continue
        test_name = _test_name(name, client[0], number, len(chosen))
        while test_name in names:
            test_name += "_"
        names.add(test_name)
        tests.append(_test(test_name, number, client, url=url, timeout=timeout, ignore=bool(paths), unmasked=unmasked))
    if not tests:
        raise InvalidTranscript("no connection of the transcript opened: there are no answers to assert")
    body = "\n\n\n".join(text for text, _ in tests)
    uses_helpers = any(uses for _, uses in tests)
    lines = [_docstring(filename, len(tests), url=url, app=app, paths=paths), ""]
    if app is not None:
        lines += ["import importlib", ""]
    lines += ["import wsbench"] + (["import wsbench.conversation"] if uses_helpers else []) + [""]
    if app is not None:
        module, attr = app.split(":")
        lines += [
            "#: The app under test, served on a wsbench.Bench by each test.",
            f"APP = importlib.import_module({_repr(module)}).{attr}",
        ]
    elif url is not None:
        lines += [
            "#: The server under test: each test appends the recorded path to it.",
            f"URL = {_repr(url.rstrip('/'))}",
        ]
    if paths:
        lines += ["#: JSON paths left out when comparing JSON messages.", f"IGNORE = {_repr(paths)}"]
    return "\n".join(lines) + "\n\n\n" + body + "\n"


def _docstring(filename: str, count: int, *, url: str | None, app: str | None, paths: list[str]) -> str:
    target = f"the app {app!r}, served on a wsbench.Bench" if app else f"the server at {mask_url(url or '')}"
    tests = "one test" if count == 1 else f"{count} tests, one per connection"
    lines = [
        '"""Replays a WebSocket conversation recorded with wsbench and asserts the server\'s answers.',
        "",
        f"Generated by wsbench (transcript.to_pytest) from a recorded transcript: {tests},",
        f"against {target}.",
        "Each test sends what the client sent and asserts what it received, then how the",
        "connection closed." + (f" JSON messages are compared without {', '.join(paths)}." if paths else ""),
        "Edit it freely: it uses only the public wsbench API.",
        "",
        "Run it with:",
        "",
        f"    python -m pytest {filename}",
        '"""',
    ]
    return "\n".join(lines)


def _never_opened(client: list[Event]) -> str:
    error = next((e for e in client if e.kind == "error"), None)
    return error.detail if error is not None and error.detail else "no 'open' event"


def _test_name(name: str | None, connect: Event, number: int, count: int) -> str:
    if name is not None:
        return f"test_{name}" if count == 1 else f"test_{name}_{number}"
    path = connect.data.split("://", 1)[-1] if isinstance(connect.data, str) else ""
    path = path[path.find("/") :] if "/" in path else "/"
    stem = re.sub(r"\W+", "_", path.split("?")[0]).strip("_").lower() or "root"
    return f"test_{stem}"


def _test(
    test_name: str, number: int, client: list[Event], *, url: str | None, timeout: float, ignore: bool, unmasked: bool
) -> tuple[str, bool]:
    """The source of one test function, and whether it calls wsbench.conversation helpers."""
    hint = "record it again and call to_pytest(path, unmasked=True), or save it with save(path, unmasked=True)"
    opening = plan(number, client[0], client, hint=hint)
    if not unmasked:
        found = secrets_in(opening)
        if found:
            raise InvalidTranscript(
                f"connection #{number} sends secrets ({', '.join(found)}); wsbench writes them into a test file "
                "only when asked: pass unmasked=True (and keep the file out of version control), "
                "or remove them from the recording"
            )
    sent = sum(e.kind == "send" for e in client)
    received = sum(e.kind == "receive" for e in client)
    closed = next((e for e in client if e.kind == "closed"), None)
    rejected = next((e for e in client if e.kind == "rejected"), None)
    summary = f"{sent} sent, {received} received"
    if rejected is not None:
        summary = f"handshake rejected with HTTP {rejected.code}"
    elif closed is not None:
        summary += f", closed {f'by the {closed.by} ' if closed.by else ''}with {describe(closed.code or 1006)}"
    indent = _INDENT
    body = _docstring_lines(indent, f"Connection #{number} {mask_url(opening.path)}", f"{summary}.")
    args = _connect_args(opening, timeout)
    if url is None:
        body.append(f"{indent}with wsbench.Bench(APP, name={_repr(test_name)}) as bench:")
        indent += _INDENT
        opener = "bench.connect"
    else:
        opener = "wsbench.connect"
        args[0] = _Code(f"URL + {_repr(opening.path)}")
    if rejected is not None:
        message = f"the server accepted the handshake; it was rejected with HTTP {rejected.code} when recorded"
        body += [f"{indent}try:", *_call(indent + _INDENT, opener, args)]
        body += [
            f"{indent}except wsbench.HandshakeRejected as exc:",
            f"{indent}{_INDENT}assert exc.status == {rejected.code!r}",
        ]
        body += [f"{indent}else:", *_call(indent + _INDENT, "raise AssertionError", [message])]
        return "\n".join([f"def {test_name}():", *body]), False
    if url is None:
        body += _call(indent, f"conn = {opener}", args)
    else:
        body += _call(indent, f"with {opener}", args, " as conn:")
        indent += _INDENT
    uses_helpers = False
    agreed = next((e.detail for e in client if e.kind == "open"), None)
    if agreed:
        body.append(f"{indent}assert conn.subprotocol == {_repr(agreed)}")
    for event in client[1:]:
        if event.kind == "send":
            body += _send(indent, event.data)
        elif event.kind == "receive":
            lines, uses = _receive(indent, event.data, ignore)
            uses_helpers |= uses
            body += lines
        elif event.kind == "ping":
            body.append(f"{indent}conn.ping()")
        elif event.kind == "close":
            code, reason = event.code or 1000, event.reason if isinstance(event.reason, str) else ""
            close_args = [] if (code, reason) == (1000, "") else [code, reason] if reason else [code]
            body += _call(indent, "conn.close", close_args)
        elif event.kind == "closed":
            break
    if closed is None:
        body.append(f"{indent}conn.close()")
    else:
        if closed.by != "client":
            uses_helpers = True
            body.append(f"{indent}wsbench.conversation.expect_close(conn)  # the server closes: no more messages")
        reason = closed.reason if isinstance(closed.reason, str) else json.dumps(closed.reason)
        body.append(f"{indent}assert conn.close_code == {closed.code!r}")
        body += _assert_equal(indent, "conn.close_reason", reason or "")
    return "\n".join([f"def {test_name}():", *body]), uses_helpers


def _docstring_lines(indent: str, title: str, summary: str) -> list[str]:
    """A one-line docstring if it fits, else the title, a blank line and the summary."""
    one = f'{indent}"""{title}: {summary}"""'
    if len(one) <= _WIDTH:
        return [one]
    if len(f'{indent}"""{title}.') <= _WIDTH:
        return [f'{indent}"""{title}.', "", f"{indent}{summary[0].upper()}{summary[1:]}", f'{indent}"""']
    return [one + "  # noqa: E501"]


def _repr(value: Any) -> str:
    """``repr`` with the quotes ruff format prefers: double, unless that would need escapes."""
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, (str, bytes)):
        text = repr(value)
        prefix = "b" if isinstance(value, bytes) else ""
        has_double = (b'"' in value) if isinstance(value, bytes) else ('"' in value)
        if text.startswith(prefix + "'") and not has_double:
            return f'{prefix}"{text[len(prefix) + 1 : -1]}"'
        return text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_repr(k)}: {_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_repr(item) for item in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_repr(item) for item in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


class _Code(str):
    """Source code written as is where a literal would go."""

    def __repr__(self) -> str:
        return str(self)


def _connect_args(opening: Plan, timeout: float) -> list[Any]:
    args: list[Any] = [opening.path]
    if opening.headers:
        names = [name.lower() for name, _ in opening.headers]
        headers = dict(opening.headers) if len(set(names)) == len(names) else opening.headers
        args.append(("headers", headers))
    args += [(key, opening.options[key]) for key in ("subprotocols", "origin", "compression") if key in opening.options]
    args.append(("timeout", float(timeout)))
    return args


def _send(indent: str, data: Any) -> list[str]:
    if isinstance(data, bytes):
        return _call(indent, "conn.send_bytes", [data])
    value = json_value(data or "")
    if value is not None and json.dumps(value, separators=(",", ":"), ensure_ascii=False) == data:
        return _call(indent, "conn.send_json", [value])  # send_json writes exactly this text
    return _call(indent, "conn.send_text", [data or ""])


def _receive(indent: str, data: Any, ignore: bool) -> tuple[list[str], bool]:
    if isinstance(data, bytes):
        return _assert_equal(indent, "conn.receive_bytes()", data), False
    value = json_value(data or "")
    if value is None:
        return _assert_equal(indent, "conn.receive_text()", data or ""), False
    if ignore:
        args = [_Code("conn.receive_json()"), value, ("ignore", _Code("IGNORE"))]
        return _call(indent, "wsbench.conversation.assert_json_matches", args), True
    return _assert_equal(indent, "conn.receive_json()", value), False


# -- layout: black-like, so long values stay readable and every line fits -----------------


def _assert_equal(indent: str, expression: str, value: Any) -> list[str]:
    head = f"{indent}assert {expression} == "
    lines = _literal(value, indent, _WIDTH - len(head))
    return _fit([head + lines[0], *lines[1:]])


def _call(indent: str, function: str, args: list[Any], tail: str = "") -> list[str]:
    """``function(args)tail`` on one line if it fits, else one argument a line; an arg is a
    value or a (keyword, value) pair."""
    parts = [f"{arg[0]}={_repr(arg[1])}" if isinstance(arg, tuple) else _repr(arg) for arg in args]
    one = f"{indent}{function}({', '.join(parts)}){tail}"
    if len(one) <= _WIDTH:
        return [one]
    inner = indent + _INDENT
    lines = [f"{indent}{function}("]
    for arg in args:
        keyword, value = arg if isinstance(arg, tuple) else ("", arg)
        head = f"{inner}{keyword}=" if keyword else inner
        value_lines = _literal(value, inner, _WIDTH - len(head) - 1)
        lines += [head + value_lines[0], *value_lines[1:]]
        lines[-1] += ","
    lines.append(f"{indent}){tail}")
    return _fit(lines)


def _literal(value: Any, indent: str, room: int) -> list[str]:
    """*value* as Python source: one line if it fits in *room*, else one item a line
    (continuation lines start with *indent* and deeper), long strings split into chunks."""
    one = _repr(value)
    if len(one) <= room or isinstance(value, _Code):
        return [one]
    inner = indent + _INDENT
    if isinstance(value, dict) and value:
        lines = ["{"]
        for key, item in value.items():
            head = f"{inner}{_repr(key)}: "
            item_lines = _literal(item, inner, _WIDTH - len(head) - 1)
            lines += [head + item_lines[0], *item_lines[1:]]
            lines[-1] += ","
        return [*lines, indent + "}"]
    if isinstance(value, (list, tuple)) and value:
        opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")")
        lines = [opening]
        for item in value:
            item_lines = _literal(item, inner, _WIDTH - len(inner) - 1)
            lines += [inner + item_lines[0], *item_lines[1:]]
            lines[-1] += ","
        return [*lines, indent + closing]
    if isinstance(value, (str, bytes)):
        chunks = _chunks(value, _WIDTH - len(inner))
        if len(chunks) > 1:
            return ["(", *(inner + _repr(chunk) for chunk in chunks), indent + ")"]
    return [one]


def _chunks(value: str | bytes, room: int) -> list[Any]:
    """*value* cut into pieces whose repr fits in *room*: text after whitespace where it can."""
    if isinstance(value, bytes):
        pieces: list[Any] = [value[i : i + 1] for i in range(len(value))]
    else:
        pieces = [piece for piece in re.findall(r"\S+\s*|\s+", value)]
        pieces = [p[i : i + max(room // 4, 1)] for p in pieces for i in range(0, len(p), max(room // 4, 1))]
    chunks: list[Any] = []
    for piece in pieces:
        if chunks and len(_repr(chunks[-1] + piece)) <= room:
            chunks[-1] += piece
        else:
            chunks.append(piece)
    return chunks


def _fit(lines: list[str]) -> list[str]:
    """Lines longer than the width (an unsplittable value) tell ruff that it is on purpose."""
    return [line if len(line) <= _WIDTH else line + "  # noqa: E501" for line in lines]
