"""The public names, pinned (as httpx's tests/test_exported_members.py does): adding or removing one
is a decision this file records, not a side effect of an import.

Public are ``wsbench`` and the modules in :data:`PUBLIC_MODULES` (what users and the notebooks import by
name); every other module is internal, and says so by its name (``_net``) or by the README, whose "What is
where" names the public modules (checked here)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import wsbench
import wsbench.asserts
from wsbench.transcript import Event, Transcript

PUBLIC = [
    "Bench",
    "BenchError",
    "CloseCode",
    "CodeInfo",
    "ConnectError",
    "Connection",
    "ConnectionClosed",
    "ConnectionRefused",
    "Event",
    "FaultProxy",
    "HandshakeRejected",
    "InvalidCloseCode",
    "InvalidJSON",
    "InvalidPath",
    "InvalidTranscript",
    "InvalidURL",
    "ReasonTooLong",
    "SubprotocolNotAccepted",
    "TLSFailure",
    "Timeout",
    "Transcript",
    "UnsendableText",
    "UpgradeError",
    "WrongMessageType",
    "WsbenchError",
    "aconnect",
    "check_close",
    "connect",
    "describe",
    "load",
    "lookup",
    "server_log",
    "upgrade_check",
]

#: What generated test files call: users' repositories depend on these staying put.
GENERATED_TESTS_CALL = ["Receiving", "assert_conversation", "assert_json_matches", "expect_close"]


def test_the_package_exports_exactly_the_public_names():
    assert sorted(wsbench.__all__) == PUBLIC


def test_every_public_name_resolves_to_an_object_of_that_name():
    for name in PUBLIC:
        value = getattr(wsbench, name)
        assert getattr(value, "__name__", name) == name, name


def _wsbench_imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] == "wsbench"}


def test_generated_test_files_import_only_the_stable_modules(tmp_path):
    """What transcript.to_pytest and to_pytest_all write imports wsbench and wsbench.asserts, nothing internal."""
    events = [
        Event(seq=1, time=0.0, side="client", kind="connect", conn=7, data="ws://127.0.0.1:9/echo", name="ann"),
        Event(seq=2, time=0.0, side="client", kind="open", conn=7, name="ann"),
        Event(seq=3, time=0.0, side="client", kind="send", conn=7, data='{"n": 1}', name="ann"),
        Event(seq=4, time=0.0, side="client", kind="receive", conn=7, data='{"n": 1, "id": 3}', name="ann"),
        Event(seq=5, time=0.0, side="client", kind="close", conn=7, code=1000, reason="", name="ann"),
        Event(seq=6, time=0.0, side="client", kind="closed", conn=7, code=1000, reason="", by="client", name="ann"),
    ]
    one = Transcript(events).to_pytest(tmp_path / "test_one.py", url="ws://127.0.0.1:9", ignore=["$.id"])
    many = Transcript(events).to_pytest_all(tmp_path / "test_many.py", app="m:app")
    assert _wsbench_imports(one.read_text()) == {"wsbench", "wsbench.asserts"}
    assert _wsbench_imports(many.read_text()) == {"wsbench.asserts"}


def test_what_generated_tests_call_stays_in_wsbench_asserts():
    assert set(GENERATED_TESTS_CALL) <= set(wsbench.asserts.__all__)
    for name in GENERATED_TESTS_CALL:
        assert callable(getattr(wsbench.asserts, name))


#: The public modules besides ``wsbench`` itself, and what each exports (its ``__all__``, pinned).
PUBLIC_MODULES = {
    "wsbench.asserts": [
        "Receiving",
        "STEP_FIELDS",
        "assert_conversation",
        "assert_json_matches",
        "compile_ignore",
        "differing_paths",
        "expect_close",
        "json_differences",
        "json_value",
        "without_ignored",
    ],
    "wsbench.client": ["Connection", "RECONNECT_CODES", "aconnect", "connect"],
    "wsbench.codes": [
        "CloseCode",
        "CodeInfo",
        "MAX_REASON_BYTES",
        "REGISTERED",
        "SENDABLE_RANGES",
        "check_close",
        "describe",
        "lookup",
    ],
    "wsbench.errors": [
        "BenchError",
        "ConnectError",
        "ConnectionClosed",
        "ConnectionRefused",
        "HandshakeRejected",
        "InvalidCloseCode",
        "InvalidJSON",
        "InvalidPath",
        "InvalidTranscript",
        "InvalidURL",
        "ReasonTooLong",
        "SubprotocolNotAccepted",
        "TLSFailure",
        "Timeout",
        "UnsendableText",
        "UpgradeError",
        "WrongMessageType",
        "WsbenchError",
    ],
    "wsbench.exercises": ["Check", "CheckFailed", "check"],
    "wsbench.pytest_plugin": ["wsbench_bench", "wsbench_client"],
    "wsbench.testing": ["LiveClient", "LiveWebSocketSession"],
    "wsbench.widgets": ["BrowserClient", "CUSTOM", "CloseCodeTable", "Panel", "Timeline"],
}
#: Public modules whose ``__all__`` holds these at least (and more that is not pinned yet).
PUBLIC_AT_LEAST = {"wsbench.transcript": ["Event", "Transcript"]}

README = Path(__file__).resolve().parents[1] / "README.md"


def _private(module: str) -> bool:
    return any(part.startswith("_") and part != "__main__" for part in module.split("."))


@pytest.mark.parametrize("module", sorted(PUBLIC_MODULES))
def test_each_public_module_exports_exactly_its_pinned_names(module):
    assert sorted(importlib.import_module(module).__all__, key=str.casefold) == sorted(
        PUBLIC_MODULES[module], key=str.casefold
    )


@pytest.mark.parametrize("module", sorted(PUBLIC_AT_LEAST))
def test_each_partly_pinned_module_exports_at_least_its_names(module):
    assert set(PUBLIC_AT_LEAST[module]) <= set(importlib.import_module(module).__all__)


@pytest.mark.parametrize("module", ["wsbench", *sorted(PUBLIC_MODULES), *sorted(PUBLIC_AT_LEAST)])
def test_public_names_are_defined_in_modules_users_may_import(module):
    """A public class or function names a module that is not private as its home (``__module__``, what
    reprs, tracebacks and help() show): a user following it never lands in an internal module's name."""
    imported = importlib.import_module(module)
    for name in imported.__all__:
        home = getattr(getattr(imported, name), "__module__", None)
        if home is not None and home.startswith("wsbench"):
            assert not _private(home), f"{module}.{name} is defined in the private module {home}"


def _all_modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(wsbench.__path__, prefix="wsbench.")]


def test_the_readme_names_the_public_modules_and_calls_the_rest_internal():
    """README, What is where: one sentence names the public modules; every other one is internal."""
    text = README.read_text()
    sentence = re.search(r"Public modules \(.*?\): (.*?)\. Every other module is internal", text, re.S)
    assert sentence, "README's What is where lost the sentence naming the public modules"
    named = re.findall(r"`(wsbench[\w.]*)`", sentence.group(1))
    assert sorted(named) == sorted(["wsbench", *PUBLIC_MODULES, *PUBLIC_AT_LEAST])
    assert all(not _private(module) for module in named)


def test_the_public_modules_exist():
    assert set(PUBLIC_MODULES) | set(PUBLIC_AT_LEAST) <= set(_all_modules())


def _what_is_where() -> dict[str, str]:
    """README, What is where: each path the layer table names -> its row."""
    section = README.read_text().split("## What is where", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`wsbench/" in line]
    return {path: row for row in rows for path in re.findall(r"`(wsbench/[\w/.]*)`", row.split(" | ")[1])}


def test_the_readme_lists_every_module_and_no_other():
    """Each module file is in the table (a package's modules by name in its package's row); each path there exists."""
    table = _what_is_where()
    root = Path(wsbench.__file__).parent
    for path in table:
        assert (root.parent / path).exists(), f"README's What is where names {path}, which does not exist"
    missing = []
    for module in _all_modules():
        parts = module.split(".")
        file = "/".join(parts) + ("/" if (root.parent / "/".join(parts)).is_dir() else ".py")
        if file in table:
            continue
        package = "/".join(parts[:-1]) + "/"
        if package in table and f"`{parts[-1]}`" in table[package]:
            continue
        missing.append(module)
    assert missing == [], f"README's What is where does not say where these are: {missing}"
