"""Turn a recorded conversation into a pytest file that replays it and asserts the answers.

:func:`write_pytest` (also ``transcript.to_pytest(path, ...)``) writes one test per recorded
connection: plain pytest with literal values, ruff-clean, the same bytes for the same transcript.
Recorded data is untrusted: it reaches the source only through safe literals, and secrets only
with ``unmasked=True``. Pure logic. Specification: ``docs/modules/wsbench.codegen.md``.
"""

from __future__ import annotations

import json
import keyword
import math
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .codes import describe
from .conversation import Plan, compile_ignore, connections, json_value, plan, secrets_in, select, target_url
from .errors import InvalidTranscript, InvalidURL
from .secrets import MASK, mask_subprotocol, mask_url
from .transcript import Event, Transcript

__all__ = ["pytest_source", "write_pytest"]

_WIDTH = 120  # the longest line written (ruff's E501 at the project's line length)
_INDENT = "    "
_IMPORT_STRING = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9_]{1,60}", re.ASCII)  # what name= may be
_STEM = 60  # characters of a test name taken from a path
_PROSE = 80  # columns of recorded data shown in one docstring line
_NESTING = 16  # JSON nested deeper is asserted as text (Python source allows 200 brackets, ruff's layout less)


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
    parameters and headers are written into the file only with *unmasked*. Raises ValueError or InvalidURL
    for a bad argument, InvalidTranscript for a recording that cannot be replayed.
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
    if app is not None and (
        not isinstance(app, str)
        or not _IMPORT_STRING.match(app)
        or any(keyword.iskeyword(part) for part in app.split(":")[1].split("."))
    ):
        raise ValueError(f"app={app!r} is not an import string like 'package.module:app'")
    if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
        raise ValueError(f"name={name!r} is not usable in a Python function name (1 to 60 ASCII letters, digits and _)")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive, finite number of seconds, not {timeout!r}")
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
    lines += ["import wsbench"] + (["import wsbench.asserts"] if uses_helpers else []) + [""]
    if app is not None:
        module, attr = app.split(":")  # checked above: ASCII identifiers, no keywords
        lines += ["#: The app under test, served on a wsbench.Bench by each test."]
        lines += _call("", "APP = importlib.import_module", [module], f".{attr}")
    elif url is not None:
        lines += [
            "#: The server under test: each test appends the recorded path to it."
            if _is_base(url)
            else "#: The endpoint under test: each test appends the recorded query to it."
        ]
        lines += _assign("URL", _url_constant(url))
    if paths:
        lines += ["#: JSON paths left out when comparing JSON messages."]
        lines += _assign("IGNORE", paths)
    return "\n".join(lines) + "\n\n\n" + body + "\n"


def _is_base(url: str) -> bool:
    """A URL with no path (or "/") is a base the recorded path goes after (replay's rule)."""
    return urlsplit(url).path in ("", "/")


def _url_constant(url: str) -> str:
    """What the generated file assigns to URL: scheme, host and (for a full URL) path; the query
    is merged into each test's suffix by :func:`~wsbench.conversation.target_url`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" + ("" if _is_base(url) else parts.path)


def _docstring(filename: str, count: int, *, url: str | None, app: str | None, paths: list[str]) -> str:
    target = (
        f"the app {_prose(app)}, served on a wsbench.Bench" if app else f"the server at {_prose(mask_url(url or ''))}"
    )
    tests = "one test" if count == 1 else f"{count} tests, one per connection"
    lines = [
        '"""Replays a WebSocket conversation recorded with wsbench and asserts the server\'s answers.',
        "",
        f"Generated by wsbench (transcript.to_pytest) from a recorded transcript: {tests},",
        f"against {target}.",
        "Each test sends what the client sent and asserts what it received, then how the",
        "connection closed." + (" JSON messages are compared without these JSON paths:" if paths else ""),
        *(f"    {_prose(path)}" for path in paths),
        "Edit it freely: it uses only the public wsbench API.",
        "",
        "Run it with:",
        "",
        f"    python -m pytest {_prose(filename)}",
        '"""',
    ]
    return "\n".join(lines)


def _never_opened(client: list[Event]) -> str:
    error = next((e for e in client if e.kind == "error"), None)
    return error.detail if error is not None and error.detail else "no 'open' event"


def _test_name(name: str | None, connect: Event, number: int, count: int) -> str:
    """``test_<name>``, or ``test_<the path>`` made of ``[a-z0-9_]`` only (a path holds anything)."""
    if name is not None:
        return f"test_{name}" if count == 1 else f"test_{name}_{number}"
    path = connect.data.split("://", 1)[-1] if isinstance(connect.data, str) else ""
    path = path[path.find("/") :] if "/" in path else "/"
    stem = re.sub(r"[^a-z0-9]+", "_", path.split("?")[0].lower())[:_STEM].strip("_") or "root"
    return f"test_{stem}"


def _test(
    test_name: str, number: int, client: list[Event], *, url: str | None, timeout: float, ignore: bool, unmasked: bool
) -> tuple[str, bool]:
    """The source of one test function, and whether it calls wsbench.conversation helpers."""
    hint = "record it again and call to_pytest(path, unmasked=True), or save it with save(path, unmasked=True)"
    opening = plan(number, client[0], client, hint=hint)
    agreed = next((e.detail for e in client if e.kind == "open"), None)
    if not unmasked:
        found = secrets_in(opening)
        if isinstance(agreed, str) and mask_subprotocol(agreed) != agreed and not found:
            found = ["the subprotocol the server chose"]
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
        by = f"by the {closed.by} " if closed.by in ("client", "server") else ""
        summary += f", closed {by}with {describe(_code(closed.code) or 1006)}"
    indent = _INDENT
    body = _docstring_lines(indent, f"Connection #{number} {_prose(mask_url(opening.path))}", f"{summary}.")
    args = _connect_args(opening, timeout)
    if url is None:
        body.append(f"{indent}with wsbench.Bench(APP, name={_repr(test_name)}) as bench:")
        indent += _INDENT
        opener = "bench.connect"
    else:
        opener = "wsbench.connect"
        args[0] = _Code(f"URL + {_repr(target_url(url, opening.path)[len(_url_constant(url)) :])}")
    if rejected is not None:
        message = f"the server accepted the handshake; it was rejected with HTTP {rejected.code} when recorded"
        body += [f"{indent}try:", *_call(indent + _INDENT, opener, args)]
        body += [f"{indent}except wsbench.HandshakeRejected as exc:"]
        body += _assert_equal(indent + _INDENT, "exc.status", _code(rejected.code))
        body += [f"{indent}else:", *_call(indent + _INDENT, "raise AssertionError", [message])]
        return "\n".join([f"def {test_name}():", *body]), False
    if url is None:
        body += _call(indent, f"conn = {opener}", args)
    else:
        body += _call(indent, f"with {opener}", args, " as conn:")
        indent += _INDENT
    uses_helpers = False
    if isinstance(agreed, str) and agreed and MASK not in agreed:  # a masked one cannot be checked
        body += _assert_equal(indent, "conn.subprotocol", agreed)
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
            code, reason = _code(event.code) or 1000, event.reason if isinstance(event.reason, str) else ""
            close_args = [] if (code, reason) == (1000, "") else [code, reason] if reason else [code]
            body += _call(indent, "conn.close", close_args)
        elif event.kind == "closed":
            break
    if closed is None:
        body.append(f"{indent}conn.close()")
    else:
        if closed.by != "client":
            uses_helpers = True
            body.append(f"{indent}wsbench.asserts.expect_close(conn)  # the server closes: no more messages")
        reason = "" if closed.reason is None else closed.reason
        if not isinstance(reason, str):  # a list, as FastAPI's validation failure gives it
            reason = json.dumps(reason)
        close_code = _code(closed.code)
        if close_code is None:  # no close frame came: E711 wants "is None"
            body.append(f"{indent}assert conn.close_code is None")
        else:
            body += _assert_equal(indent, "conn.close_code", close_code)
        body += _assert_equal(indent, "conn.close_reason", reason or "")
    return "\n".join([f"def {test_name}():", *body]), uses_helpers


def _docstring_lines(indent: str, title: str, summary: str) -> list[str]:
    """A one-line docstring if it fits, else the title, a blank line and the summary (*title*
    and *summary* are safe in a docstring already: built with :func:`_prose`)."""
    one = f'{indent}"""{title}: {_prose(summary)}"""'
    if _columns(one) <= _WIDTH:
        return [one]
    return [f'{indent}"""{title}.', "", f"{indent}{_prose(summary[0].upper() + summary[1:])}", f'{indent}"""']


def _narrow(char: str) -> bool:
    """True for a printable character one column wide, as ruff measures lines (ASCII, accented
    letters, Cyrillic ...)."""
    if " " <= char <= "~":
        return True
    if not char.isprintable() or unicodedata.combining(char) or unicodedata.category(char).startswith("M"):
        return False
    return unicodedata.east_asian_width(char) in ("N", "Na", "H", "A") and not "\u1160" <= char <= "\u11ff"


def _wide(char: str) -> bool:
    """True for a printable character two columns wide (CJK, most emoji), not combining."""
    return (
        char.isprintable()
        and unicodedata.east_asian_width(char) in ("W", "F")
        and not unicodedata.category(char).startswith("M")
    )


def _shown(char: str) -> bool:
    """Written as itself in the source: its width is certain (one or two columns); every other
    character (zero-width, combining, unprintable) is written as an escape."""
    return _narrow(char) or _wide(char)


def _columns(text: str) -> int:
    """How wide *text* (of characters :func:`_shown` allows, and escapes) is, as ruff measures it."""
    return len(text) if text.isascii() else len(text) + sum(_wide(char) for char in text)


def _escape(char: str) -> str:
    """The Python escape of one character: ``\\x..``, ``\\u....`` or ``\\U........``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _prose(value: object, width: int = _PROSE) -> str:
    """*value* as text safe in a generated docstring: every backslash, double quote and character
    :func:`_shown` refuses written as an escape with its backslash doubled (so the docstring
    shows the escape and nothing can end it, start an escape or a line), a leading or trailing
    space as ``\\x20`` (no trailing whitespace), at most *width* columns (then "…")."""
    text = str(value)
    pieces: list[str] = []
    used = 0
    for i, char in enumerate(text):
        if char == "\\" or char == '"':
            piece = "\\" + char
        elif char == " " and (i == 0 or i == len(text) - 1):
            piece = "\\x20"
        elif _shown(char):
            piece = char
        else:
            piece = "\\" + _escape(char)
        if used + _columns(piece) > width:
            while pieces and used + 1 > width:
                used -= _columns(pieces.pop())
            pieces.append("…")
            break
        pieces.append(piece)
        used += _columns(piece)
    return "".join(pieces)


def _code(value: Any) -> int | None:
    """A recorded close code or HTTP status: an int (not a bool) or None, else InvalidTranscript."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise InvalidTranscript(f"a close code or HTTP status must be an integer, not {type(value).__name__}")


def _string(value: str | bytes) -> str:
    """``repr`` of str or bytes, with the quotes ruff format prefers (double, unless that would need
    escapes) and every character :func:`_shown` refuses escaped."""
    text = repr(value)
    prefix = "b" if isinstance(value, bytes) else ""
    has_double = (b'"' in value) if isinstance(value, bytes) else ('"' in value)
    if text.startswith(prefix + "'") and not has_double:
        text = f'{prefix}"{text[len(prefix) + 1 : -1]}"'
    if text.isascii():
        return text
    return "".join(char if _shown(char) else _escape(char) for char in text)


def _repr(value: Any) -> str:
    """*value* as a Python literal: the only way recorded data reaches the source. Takes str,
    bytes, int, finite float, bool, None, and lists, tuples and dicts of them (and :class:`_Code`,
    the template's own code); anything else is refused."""
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, (str, bytes)):
        return _string(value)
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):  # repr would write the name inf or nan
            raise InvalidTranscript(f"{value!r} cannot be written as a Python literal")
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_repr(k)}: {_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_repr(item) for item in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_repr(item) for item in value) + ("," if len(value) == 1 else "") + ")"
    raise InvalidTranscript(f"a {type(value).__name__} cannot be written into a test as a literal")


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


def _json(text: str) -> Any:
    """The JSON object or array in *text* to write as a literal, or None: also None when it nests
    deeper than the source can lay out (it is then compared as text)."""
    value = json_value(text)
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > _NESTING:
                return None
            stack.extend((part, depth + 1) for part in (item.values() if isinstance(item, dict) else item))
    return value


def _send(indent: str, data: Any) -> list[str]:
    if isinstance(data, bytes):
        return _call(indent, "conn.send_bytes", [data])
    value = _json(data or "")
    if value is not None and json.dumps(value, separators=(",", ":"), ensure_ascii=False) == data:
        return _call(indent, "conn.send_json", [value])  # send_json writes exactly this text
    return _call(indent, "conn.send_text", [data or ""])


def _receive(indent: str, data: Any, ignore: bool) -> tuple[list[str], bool]:
    if isinstance(data, bytes):
        return _assert_equal(indent, "conn.receive_bytes()", data), False
    value = _json(data or "")
    if value is None:
        return _assert_equal(indent, "conn.receive_text()", data or ""), False
    if ignore:
        args = [_Code("conn.receive_json()"), value, ("ignore", _Code("IGNORE"))]
        return _call(indent, "wsbench.asserts.assert_json_matches", args), True
    return _assert_equal(indent, "conn.receive_json()", value), False


# -- layout: black-like, so long values stay readable and every line fits -----------------


def _assert_equal(indent: str, expression: str, value: Any) -> list[str]:
    head = f"{indent}assert {expression} == "
    lines = _literal(value, indent, _WIDTH - _columns(head))
    return _fit([head + lines[0], *lines[1:]])


def _assign(name: str, value: Any) -> list[str]:
    head = f"{name} = "
    lines = _literal(value, "", _WIDTH - _columns(head))
    return _fit([head + lines[0], *lines[1:]])


def _call(indent: str, function: str, args: list[Any], tail: str = "") -> list[str]:
    """``function(args)tail`` on one line if it fits, else one argument a line; an arg is a
    value or a (keyword, value) pair."""
    parts = [f"{arg[0]}={_repr(arg[1])}" if isinstance(arg, tuple) else _repr(arg) for arg in args]
    one = f"{indent}{function}({', '.join(parts)}){tail}"
    if _columns(one) <= _WIDTH:
        return [one]
    inner = indent + _INDENT
    lines = [f"{indent}{function}("]
    for arg in args:
        keyword, value = arg if isinstance(arg, tuple) else ("", arg)
        head = f"{inner}{keyword}=" if keyword else inner
        value_lines = _literal(value, inner, _WIDTH - _columns(head) - 1)
        lines += [head + value_lines[0], *value_lines[1:]]
        lines[-1] += ","
    lines.append(f"{indent}){tail}")
    return _fit(lines)


def _literal(value: Any, indent: str, room: int) -> list[str]:
    """*value* as Python source: one line if it fits in *room*, else one item a line
    (continuation lines start with *indent* and deeper), long strings split into chunks."""
    one = _repr(value)
    if _columns(one) <= room or isinstance(value, _Code):
        return [one]
    inner = indent + _INDENT
    if isinstance(value, dict) and value:
        lines = ["{"]
        for key, item in value.items():
            head = f"{inner}{_repr(key)}: "
            item_lines = _literal(item, inner, _WIDTH - _columns(head) - 1)
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
    """*value* cut into pieces whose repr fits in *room*: text after whitespace where it can,
    anywhere else where it must."""
    if isinstance(value, bytes):
        pieces: list[Any] = [value[i : i + 1] for i in range(len(value))]
    else:
        pieces = []
        for word in re.findall(r"\S+\s*|\s+", value):
            pieces.extend([word] if _columns(_repr(word)) <= room else list(word))
    chunks: list[Any] = []
    for piece in pieces:
        if chunks and _columns(_repr(chunks[-1] + piece)) <= room:
            chunks[-1] += piece
        else:
            chunks.append(piece)
    return chunks


def _fit(lines: list[str]) -> list[str]:
    """Lines that stay too long (an unsplittable value) tell ruff that it is on purpose: ``# noqa:
    E501`` exactly where ruff's E501 would fire, so the comment is never unused (RUF100): every
    character written has a certain width (:func:`_shown`), so :func:`_columns` measures as ruff does."""
    return [line + "  # noqa: E501" if _too_long(line) else line for line in lines]


def _too_long(line: str) -> bool:
    """ruff's E501 rule: wider than the limit, not a single word, and not ending in a URL that starts
    within the limit."""
    if _columns(line) <= _WIDTH:
        return False
    words = line.split()
    if len(words) < 2:
        return False
    return not ("://" in words[-1] and _columns(line) - _columns(words[-1]) <= _WIDTH)
