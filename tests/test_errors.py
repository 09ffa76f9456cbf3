"""Tests for wsbench.errors: the tree drawn in docs/modules/wsbench.errors.md (its docstring points
there), the docstrings, and the public names of every wsbench module."""

from __future__ import annotations

import builtins
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import wsbench
from wsbench import errors
from wsbench.errors import ConnectionClosed, WsbenchError

# "    │   ├── ConnectionRefused" -> depth 1; "    ├── InvalidURL   (also ValueError)" -> depth 0
_TREE_LINE = re.compile(r"^(?P<indent>(?:│   |    )*)[├└]── (?P<name>\w+)(?:\s+\(also (?P<also>\w+)\))?\s*$")


TREE_DOC = Path(__file__).resolve().parents[1] / "docs" / "modules" / "wsbench.errors.md"


def _docstring_tree() -> dict[str, tuple[str, str | None]]:
    """Parse the drawing in docs/modules/wsbench.errors.md into {name: (parent, also)}."""
    assert TREE_DOC.name in errors.__doc__  # the docstring points to it
    lines = TREE_DOC.read_text().splitlines()
    root_index = next(i for i, line in enumerate(lines) if line.strip() == "WsbenchError")
    margin = lines[root_index].index("WsbenchError")
    parents = ["WsbenchError"]
    tree: dict[str, tuple[str, str | None]] = {}
    for line in lines[root_index + 1 :]:
        if not line.strip() or line.startswith("```"):
            break
        match = _TREE_LINE.match(line[margin:])
        assert match, f"unreadable tree line: {line!r}"
        depth = len(match["indent"]) // 4
        name = match["name"]
        tree[name] = (parents[depth], match["also"])
        del parents[depth + 1 :]
        parents.append(name)
    return tree


def test_docstring_tree_names_every_exception():
    """The docstring drawing names exactly the exceptions in errors.__all__."""
    tree = _docstring_tree()
    assert set(tree) | {"WsbenchError"} == set(errors.__all__)


def test_docstring_tree_matches_the_classes():
    """Each class in the drawing has the drawn parent and 'also' class as its direct bases, and no others."""
    for name, (parent, also) in _docstring_tree().items():
        cls = getattr(errors, name)
        expected = [getattr(errors, parent)]
        if also is not None:
            expected.append(getattr(builtins, also))
        assert list(cls.__bases__) == expected, name


def test_wsbench_error_is_an_exception():
    """WsbenchError derives directly from Exception."""
    assert WsbenchError.__bases__ == (Exception,)


def test_base_docstring_says_it_is_the_base():
    """WsbenchError's docstring says it is the base class of every wsbench error."""
    assert WsbenchError.__doc__.startswith("Base class of every error wsbench raises")


@pytest.mark.parametrize("name", [n for n in errors.__all__ if n != "WsbenchError"])
def test_class_docstrings_start_with_raised_when(name):
    """Every exception class but the base documents itself with "Raised when…"."""
    assert getattr(errors, name).__doc__.startswith("Raised when ")


def test_every_exception_in_the_module_is_public():
    """Every exception class defined in wsbench.errors is listed in its __all__."""
    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == errors.__name__
    }
    assert defined == set(errors.__all__)


def test_errors_are_reexported_by_the_package():
    """Every name in errors.__all__ is in wsbench.__all__ and is the same object."""
    for name in errors.__all__:
        assert name in wsbench.__all__
        assert getattr(wsbench, name) is getattr(errors, name)


@pytest.mark.parametrize("code", [1000, 1001])
def test_connection_closed_ok_for_normal_closure(code):
    """ConnectionClosed.ok is True for 1000 and 1001."""
    assert ConnectionClosed("closed", code=code, reason="").ok is True


@pytest.mark.parametrize("code", [1002, 1005, 1006, 1011, 3000, 4000, 4999])
def test_connection_closed_not_ok_otherwise(code):
    """ConnectionClosed.ok is False for every other code, 1005 and 1006 included."""
    assert ConnectionClosed("closed", code=code, reason="").ok is False


def test_connection_closed_keeps_both_close_frames():
    """ConnectionClosed keeps the received and the sent code and reason, and its message."""
    exc = ConnectionClosed("msg", code=4001, reason="bye", sent_code=1000, sent_reason="done")
    assert (exc.code, exc.reason, exc.sent_code, exc.sent_reason) == (4001, "bye", 1000, "done")
    assert str(exc) == "msg"


def _wsbench_modules() -> list[str]:
    return ["wsbench", *(f"wsbench.{m.name}" for m in pkgutil.iter_modules(wsbench.__path__))]


@pytest.mark.parametrize("module_name", _wsbench_modules())
def test_every_module_has_all(module_name):
    """Every wsbench module declares __all__ and every name in it exists."""
    module = importlib.import_module(module_name)
    assert isinstance(module.__all__, list)
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name}"


def test_package_all_names_exist():
    """Every name in wsbench.__all__ is an attribute of the package."""
    missing = [name for name in wsbench.__all__ if not hasattr(wsbench, name)]
    assert missing == []


def test_package_names_load_on_first_use():
    """wsbench's names come from their modules on first use, so importing the package (as the
    pytest plugin does in every test run) loads no server or client library."""
    code = (
        "import sys, wsbench, wsbench.pytest_plugin, wsbench.testing\n"
        "heavy = [m for m in ('fastapi', 'starlette', 'uvicorn', 'websockets', 'ipywidgets') if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "assert sorted(wsbench._HOME_OF) == sorted(wsbench.__all__)\n"
        "from wsbench.server import Bench\n"
        "assert wsbench.Bench is Bench and 'Bench' in dir(wsbench)\n"
        "try:\n"
        "    wsbench.Nope\n"
        "except AttributeError as exc:\n"
        "    assert \"no attribute 'Nope'\" in str(exc)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
