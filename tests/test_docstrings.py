"""Docstrings: public methods say what they raise, and no module or class docstring holds a long specification
(that goes to docs/, with a one-line pointer)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import wsbench
from wsbench.widgets import Panel, Timeline

ROOT = Path(wsbench.__file__).parent

#: The objects learners and testers hold: each public method says what it raises.
CLASSES = [wsbench.Connection, wsbench.Bench, wsbench.Transcript, wsbench.FaultProxy, Panel, Timeline]

SAYS_WHAT_IT_RAISES = re.compile(r"\b[Rr]aises?\b")


def _public_methods(cls: type) -> list[str]:
    names = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        value = inspect.getattr_static(cls, name)
        function = getattr(value, "__func__", value)
        if inspect.isfunction(function) and function.__module__.startswith("wsbench"):
            names.append(name)
    return names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_public_methods_say_what_they_raise(cls):
    quiet = [name for name in _public_methods(cls) if not SAYS_WHAT_IT_RAISES.search(getattr(cls, name).__doc__ or "")]
    assert quiet == [], f"{cls.__name__}: these docstrings do not say what they raise (or 'raises nothing')"


def test_public_functions_say_what_they_raise():
    functions = [name for name in wsbench.__all__ if inspect.isfunction(getattr(wsbench, name))]
    quiet = [name for name in functions if not SAYS_WHAT_IT_RAISES.search(getattr(wsbench, name).__doc__ or "")]
    assert quiet == []


LONGEST = 15  # lines: past it, a docstring's specification goes to docs/ with a one-line pointer


def _long_docstrings() -> set[str]:
    found = set()
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]:
            doc = ast.get_docstring(node, clean=False)
            if doc and len(doc.splitlines()) > LONGEST:
                found.add(f"{path.relative_to(ROOT.parent)}:{getattr(node, 'name', '<module>')}")
    return found


def test_no_module_or_class_docstring_holds_a_long_specification():
    assert _long_docstrings() == set(), "move the specification to docs/, with a one-line pointer"


def test_every_pointer_to_docs_leads_to_a_file():
    for path in sorted(ROOT.rglob("*.py")):
        for target in re.findall(r"``(docs/[\w./-]+\.md)``", path.read_text()):
            assert (ROOT.parent / target).is_file(), f"{path.name} points to {target}, which does not exist"
