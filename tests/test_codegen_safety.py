"""Generated tests are built from recorded data only through safe literals (wsbench.codegen): whatever a
transcript holds, the file parses, is ruff-clean, and holds no name or call the template did not write."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from wsbench.codegen import pytest_source, write_pytest
from wsbench.conversation import compile_ignore
from wsbench.secrets import MASK
from wsbench.transcript import Event, Transcript

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).with_name("ruff")

#: Every name the template writes, and every attribute it reads or calls: nothing else may appear.
NAMES = {"wsbench", "conn", "bench", "exc", "URL", "APP", "IGNORE", "importlib", "AssertionError"}
ATTRIBUTES = {
    "connect",
    "Bench",
    "HandshakeRejected",
    "asserts",
    "assert_json_matches",
    "expect_close",
    "send_text",
    "send_bytes",
    "send_json",
    "receive_text",
    "receive_bytes",
    "receive_json",
    "ping",
    "close",
    "close_code",
    "close_reason",
    "subprotocol",
    "status",
    "import_module",
    "app",  # the attribute of app="pkg.mod:app", given by the test
}
#: The syntax the template writes: an expression, a statement or a literal of any other kind is data run as code.
NODES = (
    ast.Module,
    ast.Expr,
    ast.Import,
    ast.alias,
    ast.Assign,
    ast.FunctionDef,
    ast.arguments,
    ast.With,
    ast.withitem,
    ast.Try,
    ast.ExceptHandler,
    ast.Raise,
    ast.Assert,
    ast.Compare,
    ast.Eq,
    ast.Call,
    ast.keyword,
    ast.Attribute,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.List,
    ast.Dict,
    ast.Tuple,
    ast.BinOp,
    ast.Add,
    ast.UnaryOp,
    ast.USub,
)
_TEST_NAME = re.compile(r"test_[a-z0-9_]+")


def check_source(source: str) -> ast.Module:
    """Assert that *source* parses and holds only the template's syntax, names and attributes; return its tree."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        assert isinstance(node, NODES), f"{type(node).__name__} at line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Name):
            assert node.id in NAMES, node.id
        elif isinstance(node, ast.Attribute):
            assert node.attr in ATTRIBUTES, node.attr
        elif isinstance(node, ast.Call):
            assert isinstance(node.func, (ast.Name, ast.Attribute)), ast.dump(node.func)
        elif isinstance(node, ast.FunctionDef):
            assert _TEST_NAME.fullmatch(node.name), node.name
            assert not node.decorator_list and not node.args.args
        elif isinstance(node, ast.BinOp):  # URL + "/path": the only operator the template writes
            assert isinstance(node.left, ast.Name) and node.left.id == "URL", ast.dump(node)
        elif isinstance(node, ast.UnaryOp):  # a negative number
            assert isinstance(node.operand, ast.Constant), ast.dump(node)
        elif isinstance(node, ast.alias):
            assert node.name in ("wsbench", "wsbench.asserts", "importlib") and node.asname is None
    return tree


def ruff_check(path: Path) -> None:
    """Assert that ruff, with the project's configuration, finds nothing in *path*. A repeated dict
    key (F601) is looked for here instead, by Python's own equality: ruff compares keys as Rust
    strings, which cannot hold a lone surrogate, so two header names that differ only there read to
    it as one (ruff 0.6 and 0.17; hypothesis found it)."""
    result = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), "--extend-ignore=F601", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            keys = [key.value for key in node.keys if isinstance(key, ast.Constant)]
            assert len(keys) == len(set(keys)), f"{path}: a dict literal repeats a key: {keys!r}"


# -- strategies: a recorded conversation holding anything -------------------------------------

#: Any text, lone surrogates included (a JSON "\\ud800" escape reads as one).
_any_text = st.text(st.characters() | st.characters(categories=["Cs"]))
#: Long text of characters whose width matters: wide, combining, a URL's "://", quotes, backslashes.
_long_text = st.text(st.sampled_from(list("日本語😀é\u0301a  ://\\\"'x")), min_size=60, max_size=400)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_payload = (
    st.text()
    | st.binary()
    | _json.map(lambda v: json.dumps(v, ensure_ascii=False))
    | st.sampled_from(['{"a": NaN}', "[1e400]", "[" * 300 + "]" * 300, '"""', "\\N{x}", "\\x", '{"k": "\\ud800"}'])
)
_no_mask = (_any_text | _long_text).filter(lambda t: MASK not in t)


@st.composite
def conversations(draw: st.DrawFn) -> Transcript:
    """A transcript of one or two connections: any path, headers, subprotocols, payloads, close and rejection."""
    events: list[Event] = []
    seq = iter(range(1, 10_000))
    for conn in range(1, draw(st.integers(1, 2)) + 1):

        def add(kind: str, conn: int = conn, **fields: Any) -> None:
            events.append(Event(next(seq), 0.0, "client", kind, conn, **fields))

        path = draw(_no_mask | st.sampled_from(['a"""+__import__("os").system("x")+"""', "\\N", "½", "?q=1#f"]))
        headers = draw(st.lists(st.tuples(_no_mask, _no_mask), max_size=3))
        offered = draw(st.lists(_no_mask.filter(lambda t: "," not in t and t.strip()), max_size=3))
        if offered:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(offered)))
        add("connect", data="ws://127.0.0.1:1/" + path, headers=tuple(headers) or None)
        if draw(st.booleans()) and conn > 1:
            add("rejected", code=draw(st.integers(100, 599)), data=draw(st.binary(max_size=20)))
            continue
        agreed = draw(st.none() | _no_mask)
        add("open", detail=agreed)
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["send", "receive", "ping"]))
            add(kind, data=None if kind == "ping" else draw(_payload))
        code = draw(st.integers(1000, 4999))
        reason = draw(st.text(max_size=30) | st.lists(st.dictionaries(st.text(), st.text(), max_size=2), max_size=2))
        if draw(st.booleans()):
            add("close", code=code, reason=reason if isinstance(reason, str) else "")
        by = draw(st.sampled_from([None, "client", "server", "nobody", 'x"""']))
        add("closed", code=code, reason=reason, by=by, detail=draw(st.text(max_size=20)))
    return Transcript(events)


_ignore_path = st.text().map(lambda t: "$['" + t.replace("\\", "\\\\").replace("'", "\\'") + "']") | st.sampled_from(
    ["$.id", "$.items[*].ts", """$['x\"\"\"+__import__("os")']"""]
)


def _compiles(paths: list[str]) -> bool:
    try:
        compile_ignore(paths)
    except ValueError:
        return False
    return True


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    transcript=conversations(),
    ignore=st.lists(_ignore_path, max_size=3),
    target=st.sampled_from(["url", "app"]),
    base=st.text().map(lambda t: "ws://h/" + t),
    filename=st.text(min_size=1),
)
@example(
    transcript=Transcript(
        [
            Event(1, 0.0, "client", "connect", 1, 'ws://h/a"""+__import__("os").system("touch pwned")+"""'),
            Event(2, 0.0, "client", "open", 1),
        ]
    ),
    ignore=['$[\'"""\']'],
    target="url",
    base='ws://h/"""\\N',
    filename='x"""\\x.py',
)
@example(  # two header names that differ only in lone surrogates: one key to ruff, two to Python
    transcript=Transcript(
        [
            Event(1, 0.0, "client", "connect", 1, "ws://h/", headers=(("\ud8b0\ud88b", ""), ("\ud8b0\ud800", "x"))),
            Event(2, 0.0, "client", "open", 1),
        ]
    ),
    ignore=[],
    target="url",
    base="ws://h/",
    filename="x.py",
)
def test_generated_source_holds_data_only_as_literals(
    tmp_path: Path, transcript: Transcript, ignore: list[str], target: str, base: str, filename: str
):
    """Any recorded data: the generated file parses, holds only the template's names and calls, and is ruff-clean."""
    assume(_compiles(ignore))
    options: dict[str, Any] = {"url": base} if target == "url" else {"app": "pkg.mod:app"}
    source = pytest_source(transcript, ignore=ignore, unmasked=True, filename=filename, **options)
    tree = check_source(source)
    sent = [e.data for e in transcript if e.kind == "send" and isinstance(e.data, bytes)]
    constants = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert all(data in constants for data in sent)  # the data is there, as itself
    path = tmp_path / "test_generated.py"
    path.write_text(source, encoding="utf-8")
    ruff_check(path)


# -- the cases of issue 10, as plain tests -------------------------------------------------------------


def _one(path: str) -> Transcript:
    """A connection to *path* that opened and received one JSON message."""
    return Transcript(
        [
            Event(1, 0.0, "client", "connect", 1, "ws://127.0.0.1:9" + path),
            Event(2, 0.0, "client", "open", 1),
            Event(3, 0.0, "client", "receive", 1, '{"id": 1}'),
        ]
    )


def test_a_path_with_triple_quotes_does_not_run_when_the_test_runs(tmp_path: Path):
    """A path of '/a\"\"\"+__import__("os").system("touch pwned")+\"\"\"' stays data: running the test runs nothing."""
    path = '/a"""+__import__("os").system("touch pwned")+"""'
    file = write_pytest(_one(path), tmp_path / "test_pwn.py", url="ws://127.0.0.1:9")
    check_source(file.read_text())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", file.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert not (tmp_path / "pwned").exists()
    assert f"URL + {path!r}" in file.read_text()  # the real path is in the test, as a literal


@pytest.mark.parametrize("path", ["/a\\x", "/\\N", "/\\N{BULLET}", "/end\\", '/q"', "/\x00\n\u2028"])
def test_backslashes_and_odd_characters_in_a_path_parse(path: str):
    """A path with \\x, \\N, a trailing backslash, a quote or control characters gives a file that parses."""
    check_source(pytest_source(_one(path), url="ws://127.0.0.1:9"))


@pytest.mark.parametrize(
    ("path", "name"), [("/½", "test_root"), ("/Ünïcode/päth", "test_n_code_p_th"), ("/A-B", "test_a_b")]
)
def test_a_test_name_is_made_of_ascii_letters_digits_and_underscores(path: str, name: str):
    """A test name from a path keeps only [a-z0-9_]: /½ gives test_root, not an invalid identifier."""
    tree = check_source(pytest_source(_one(path), url="ws://127.0.0.1:9"))
    assert [node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)] == [name]


def test_a_very_long_path_gives_a_short_test_name():
    """A 5,000-character path: the name stays short enough for one line."""
    tree = check_source(pytest_source(_one("/" + "x" * 5000), url="ws://127.0.0.1:9"))
    (function,) = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    assert len(function.name) <= 80


def test_an_ignore_path_with_triple_quotes_stays_in_the_docstring():
    """An ignore= JSON path holding \"\"\" and a call reaches the module docstring inert."""
    ignore = """$['x\"\"\"+__import__("os").system("touch pwned")+\"\"\"']"""
    source = pytest_source(_one("/p"), url="ws://127.0.0.1:9", ignore=[ignore])
    tree = check_source(source)
    assert "__import__" in (ast.get_docstring(tree) or "")  # shown, as text


@pytest.mark.parametrize("text", ["[1e400]", "[" * 300 + "]" * 300, '{"a": -1e400}'])
def test_json_that_python_cannot_write_back_compares_as_text(text: str):
    """A JSON message holding an infinite number or nested deeper than Python source allows is asserted as text."""
    recorded = Transcript([*[*_one("/p")][:2], Event(3, 0.0, "client", "receive", 1, text)])
    tree = check_source(pytest_source(recorded, url="ws://127.0.0.1:9"))
    assert text in {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), True])
def test_a_timeout_that_is_no_finite_number_is_refused(timeout: float):
    """timeout=inf would be written as the name inf: refused like any other bad timeout."""
    with pytest.raises(ValueError, match="timeout"):
        pytest_source(_one("/p"), url="ws://127.0.0.1:9", timeout=timeout)
