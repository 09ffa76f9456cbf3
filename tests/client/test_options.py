"""wsbench.client.options: the connection options, declared once (``Options``), and every place that lists
them made from it or checked against it: ``ConnectOptions`` (for type checkers), the signatures and help of
every function that takes them, docs/connection_options.md, and the error an unknown name gets."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

import pytest

import wsbench
from wsbench.client.options import ConnectOptions, Options, markdown, option_names
from wsbench.proxy import FaultProxy

DOCS = Path(__file__).resolve().parents[2] / "docs" / "connection_options.md"

#: Every function that takes the connection options as keyword arguments.
TAKERS = {
    "wsbench.connect": wsbench.connect,
    "wsbench.aconnect": wsbench.aconnect,
    "wsbench.Connection": wsbench.Connection.__init__,
    "Bench.connect": wsbench.Bench.connect,
    "Bench.aconnect": wsbench.Bench.aconnect,
    "FaultProxy.connect": FaultProxy.connect,
    "FaultProxy.aconnect": FaultProxy.aconnect,
}
OWN = {"self", "url", "path", "params", "pairing"}  # what the takers have besides the options


def _type_text(annotation: object) -> str:
    return annotation.__forward_arg__ if isinstance(annotation, typing.ForwardRef) else str(annotation)


def test_connect_options_for_type_checkers_are_the_fields():
    """ConnectOptions (what mypy checks ``**options`` against) has exactly Options' option fields, same types."""
    fields = [f for f in dataclasses.fields(Options) if f.compare]
    assert [f.name for f in fields] == option_names()
    assert {name: _type_text(t) for name, t in ConnectOptions.__annotations__.items()} == {
        f.name: f.type for f in fields
    }
    assert ConnectOptions.__required_keys__ == frozenset()


def test_every_option_says_what_it_means():
    for f in dataclasses.fields(Options):
        if f.compare:
            assert len(f.metadata.get("doc", "")) > 10, f.name


@pytest.mark.parametrize("taker", list(TAKERS))
def test_every_signature_and_help_lists_exactly_the_options(taker):
    """help() and Jupyter's ``?`` show each option with Options' default, and its meaning."""
    function = TAKERS[taker]
    parameters = inspect.signature(function).parameters
    options = [name for name in parameters if name not in OWN]
    assert options == option_names()
    defaults = {f.name: f.default for f in dataclasses.fields(Options) if f.compare}
    assert {name: parameters[name].default for name in options} == defaults
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in options)
    doc = function.__doc__ or ""
    for f in dataclasses.fields(Options):
        if f.compare:
            assert f"{f.name}={f.default!r}: {f.metadata['doc']}" in doc, f.name


def test_the_docs_page_is_made_from_the_fields():
    assert DOCS.read_text() == markdown(), (
        "docs/connection_options.md is out of date: python -c 'from wsbench.client.options import markdown; "
        'print(markdown(), end="")\' > docs/connection_options.md'
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: wsbench.Connection("ws://127.0.0.1:9/", timout=3),
        lambda: wsbench.connect("ws://127.0.0.1:9/", timout=3),
    ],
    ids=["Connection", "connect"],
)
def test_an_unknown_option_is_named_with_the_known_ones(call):
    """A misspelt option fails before anything is sent, naming it, the likely one, and every known one."""
    with pytest.raises(TypeError) as caught:
        call()
    message = str(caught.value)
    assert "unknown connection option 'timout' (did you mean 'timeout'?)" in message
    assert message.endswith("the options are: " + ", ".join(option_names()))


def test_an_unknown_option_on_a_bench_is_named_too(bench):
    with pytest.raises(TypeError, match=r"unknown connection option 'subprotocol' \(did you mean 'subprotocols'\?\)"):
        bench.connect("/", subprotocol="chat")


def test_a_name_with_no_likely_option_lists_the_known_ones():
    with pytest.raises(TypeError, match=r"unknown connection option 'xyzzy'; the options are: headers, "):
        Options.given({"xyzzy": 1})


def test_chosen_options_open_a_connection_like_the_first():
    """What a reconnect or bench.reopen passes on: every option, and nothing else (not the TLS context)."""
    first = Options.given({"timeout": 3.0, "name": "ann", "subprotocols": ["chat"]})
    assert Options.given(first.chosen()) == first
    assert list(first.chosen()) == option_names()
