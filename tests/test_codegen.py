"""Tests for wsbench.codegen: a recorded conversation becomes a pytest file that passes, and fails when the
server changes."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ruff_isolated
from fastapi import WebSocket

import wsbench
from wsbench.asserts import expect_close
from wsbench.codegen import pytest_source, write_pytest
from wsbench.errors import InvalidTranscript, InvalidURL
from wsbench.transcript import Event, Transcript

_modules = itertools.count(1)

APP_SOURCE = """
from fastapi import FastAPI, WebSocket

app = FastAPI()
STEP = {step}


@app.websocket("/api")
async def api(websocket: WebSocket, room: str = "") -> None:
    await websocket.accept()
    n = 0
    async for text in websocket.iter_text():
        n += 1
        await websocket.send_json({{"id": n * 100, "n": n * STEP, "room": room, "echo": text}})
        if text == "bye":
            await websocket.close(4000, "done")
            return


@app.websocket("/bin")
async def binary(websocket: WebSocket) -> None:
    await websocket.accept()
    data = await websocket.receive_bytes()
    await websocket.send_bytes(data[::-1])
    await websocket.send_text("plain " * STEP)
    await websocket.receive()
"""


def _write_app(directory: Path, name: str, step: int) -> Path:
    path = directory / f"{name}.py"
    path.write_text(APP_SOURCE.format(step=step))
    return path


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_pytest(file: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(file.parent)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(file)],
        cwd=file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _record(bench: wsbench.Bench) -> Transcript:
    """Two connections: JSON on /api (the server closes with 4000), bytes and text on /bin (the client closes)."""
    conn = bench.connect("/api?room=blue")
    for text in ("a", "b", "bye"):
        conn.send_text(text)
        conn.receive_json()
    expect_close(conn)
    conn = bench.connect("/bin")
    conn.send_bytes(b"\x00\x01\x02")
    conn.receive_bytes()
    conn.receive_text()
    conn.close(4001, "bye")
    bench.wait_idle()
    return Transcript.from_jsonl(bench.transcript.to_jsonl())


def test_generated_test_passes_against_the_app_and_fails_when_it_changes(make_bench, tmp_path: Path):
    """App mode: the generated file passes as recorded; after the app changes, it fails showing the assertion."""
    name = f"wsb_codegen_app_{next(_modules)}"
    module = _import(_write_app(tmp_path, name, step=1))
    recorded = _record(make_bench(app=module.app, endpoints=False))
    file = recorded.to_pytest(tmp_path / "test_generated.py", app=f"{name}:app", ignore=["$.id"])
    source = file.read_text()
    assert "def test_api():" in source and "def test_bin():" in source
    assert 'conn.send_text("a")' in source
    assert "import wsbench.asserts\n" in source
    assert "        wsbench.asserts.assert_json_matches(\n            conn.receive_json(),\n" in source
    assert '            {"id": 100, "n": 1, "room": "blue", "echo": "a"},\n            ignore=IGNORE,\n' in source
    assert 'assert conn.receive_bytes() == b"\\x02\\x01\\x00"' in source
    assert 'assert conn.receive_text() == "plain "' in source
    assert 'conn.close(4001, "bye")' in source
    assert "wsbench.asserts.expect_close(conn)" in source
    assert "assert conn.close_code == 4000" in source
    assert ruff_isolated(file).returncode == 0, ruff_isolated(file).stdout

    passed = _run_pytest(file)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "2 passed" in passed.stdout

    _write_app(tmp_path, name, step=2)  # n doubles, the text doubles
    failed = _run_pytest(file)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "2 failed" in failed.stdout
    assert "$.n: expected 1, got 2" in failed.stdout
    assert "assert 'plain plain ' == 'plain '" in failed.stdout


def test_generated_test_against_a_url(bench, tmp_path: Path):
    """URL mode: the file connects to URL + path and passes against the running bench; fails when it changes."""
    conn = bench.connect("/send?n=2&code=4000&reason=done")
    conn.receive_text()
    conn.receive_text()
    expect_close(conn)
    file = write_pytest(conn.transcript, tmp_path / "test_url.py", url=bench.url, name="two_messages")
    source = file.read_text()
    assert f'URL = "{bench.url}"' in source
    assert 'with wsbench.connect(URL + "/send?n=2&code=4000&reason=done", timeout=5.0) as conn:' in source
    assert "def test_two_messages():" in source
    assert 'assert conn.close_reason == "done"' in source
    assert ruff_isolated(file).returncode == 0, ruff_isolated(file).stdout
    result = _run_pytest(file)
    assert result.returncode == 0, result.stdout + result.stderr

    @bench.websocket("/send")
    async def closes_otherwise(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("msg 0")
        await websocket.send_text("msg 1")
        await websocket.close(1000)

    result = _run_pytest(file)
    assert result.returncode == 1
    assert "assert 1000 == 4000" in result.stdout


def test_output_is_deterministic_and_readable(bench, tmp_path: Path):
    """The same transcript gives the same bytes; the file has a docstring, literal values and no private names."""
    conn = bench.connect("/json")
    conn.send_json({"b": [1, 2], "a": None})
    conn.receive_json()
    conn.send_text("[1, 2.5, true]")
    conn.receive_json()
    conn.close()
    first = write_pytest(conn.transcript, tmp_path / "test_one.py", url="ws://127.0.0.1:8000")
    again = Transcript.from_jsonl(conn.transcript.to_jsonl())
    second = write_pytest(again, tmp_path / "test_two.py", url="ws://127.0.0.1:8000")
    assert first.read_text().replace("test_one", "X") == second.read_text().replace("test_two", "X")
    assert first.read_bytes() == write_pytest(conn.transcript, first, url="ws://127.0.0.1:8000").read_bytes()
    source = first.read_text()
    assert source.startswith('"""Replays a WebSocket conversation recorded with wsbench')
    assert "python -m pytest test_one.py" in source
    assert 'conn.send_json({"b": [1, 2], "a": None})' in source  # sent exactly as send_json writes it
    assert 'conn.send_text("[1, 2.5, true]")' in source  # not compact JSON: sent as the text it was
    assert "assert conn.receive_json() == [1, 2.5, True]" in source
    assert "assert conn.close_code == 1000" in source
    assert not re.search(r"\b_\w|\._", source.replace("__", "")), "a private name"
    assert "wsbench.asserts" not in source  # no helper needed: no ignore, the client closed
    assert ruff_isolated(first).returncode == 0


def test_long_values_are_wrapped_to_fit(tmp_path: Path):
    """A long JSON message is laid out one item a line; ruff still passes."""
    message = '{"items": [' + ", ".join(f'{{"k": "{"word " * 12}", "i": {i}}}' for i in range(4)) + "]}"
    events = [
        Event(1, 0.0, "client", "connect", 1, "ws://127.0.0.1:1/long"),
        Event(2, 0.0, "client", "open", 1),
        Event(3, 0.0, "client", "receive", 1, message),
        Event(4, 0.0, "client", "receive", 1, "x" * 300),
    ]
    file = write_pytest(Transcript(events), tmp_path / "test_long.py", url="ws://127.0.0.1:1")
    lines = file.read_text().splitlines()
    assert '    with wsbench.connect(URL + "/long", timeout=5.0) as conn:' in lines
    assert "        assert conn.receive_json() == {" in lines
    assert '            "items": [' in lines
    assert all(len(line) <= 120 or line.endswith("# noqa: E501") for line in lines)
    assert ruff_isolated(file).returncode == 0, ruff_isolated(file).stdout
    compile(file.read_text(), str(file), "exec")


def test_a_rejected_handshake_becomes_an_expected_rejection(bench, tmp_path: Path):
    """A handshake rejected when recorded is asserted as HandshakeRejected with the same status."""
    with pytest.raises(wsbench.HandshakeRejected):
        bench.connect("/reject")
    source = pytest_source(bench.transcript, url=bench.url)
    assert "except wsbench.HandshakeRejected as exc:" in source
    assert "assert exc.status == 401" in source
    file = tmp_path / "test_reject.py"
    file.write_text(source)
    assert ruff_isolated(file).returncode == 0


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({}, ValueError, "exactly one target"),
        ({"url": "ws://h", "app": "m:app"}, ValueError, "exactly one target"),
        ({"url": "http://h"}, InvalidURL, "ws:// or wss://"),
        ({"app": "not an import string"}, ValueError, "package.module:app"),
        ({"url": "ws://h", "name": "bad name"}, ValueError, "name="),
        ({"url": "ws://h", "timeout": 0}, ValueError, "timeout"),
        ({"url": "ws://h", "ignore": ["$.["]}, ValueError, "ignore path"),
        ({"url": "ws://h", "conn": 2}, InvalidTranscript, "no connection #2"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, options, error, message):
    """Each bad option raises a clear error and writes nothing."""
    recorded = Transcript([Event(1, 0.0, "client", "connect", 1, "ws://h/p"), Event(2, 0.0, "client", "open", 1)])
    with pytest.raises(error, match=re.escape(message)):
        write_pytest(recorded, tmp_path / "test_x.py", **options)
    assert not (tmp_path / "test_x.py").exists()


def test_no_client_side_is_refused(tmp_path: Path):
    """A transcript with nothing the client did: InvalidTranscript."""
    with pytest.raises(InvalidTranscript, match="no client side"):
        write_pytest(Transcript(), tmp_path / "test_x.py", url="ws://h")


def test_secrets_are_written_only_when_asked(make_bench, tmp_path: Path):
    """Masked values cannot be written; real ones need unmasked=True."""
    bench = make_bench(endpoints=False)

    @bench.websocket("/members")
    async def members(websocket: WebSocket, token: str = "") -> None:
        await websocket.accept()
        await websocket.send_text(f"hello {token}")
        await websocket.close()

    conn = bench.connect("/members?token=sesame", headers={"X-Api-Key": "k3y", "X-Room": "blue"})
    conn.receive_text()
    expect_close(conn)
    masked = Transcript.from_jsonl(conn.transcript.to_jsonl())
    with pytest.raises(InvalidTranscript, match=r"masked \(query parameter 'token', header 'X-Api-Key'\)"):
        write_pytest(masked, tmp_path / "test_x.py", url=bench.url)
    with pytest.raises(InvalidTranscript, match="pass unmasked=True") as caught:
        write_pytest(conn.transcript, tmp_path / "test_x.py", url=bench.url)
    assert "sesame" not in str(caught.value)
    file = write_pytest(conn.transcript, tmp_path / "test_members.py", url=bench.url, unmasked=True)
    source = file.read_text()
    assert '"/members?token=sesame"' in source
    assert 'headers={"X-Api-Key": "k3y", "X-Room": "blue"}' in source
    assert _run_pytest(file).returncode == 0


def test_generated_helpers_come_from_wsbench_asserts():
    """A generated file imports only wsbench and wsbench.asserts (the stable module), and calls the helpers there."""
    events = [
        Event(1, 0.0, "client", "connect", 1, "ws://127.0.0.1:1/api"),
        Event(2, 0.0, "client", "open", 1),
        Event(3, 0.0, "client", "receive", 1, '{"id": 1, "n": 2}'),
        Event(4, 0.0, "client", "closed", 1, code=1000, detail="received 1000 (OK); then sent 1000 (OK)", by="server"),
    ]
    source = pytest_source(Transcript(events), url="ws://127.0.0.1:1", ignore=["$.id"])
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported == {"wsbench", "wsbench.asserts"}
    assert not any(isinstance(node, ast.ImportFrom) for node in ast.walk(tree))
    helpers = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "wsbench.asserts"
    }
    assert helpers == {"assert_json_matches", "expect_close"}
    assert "# the server closes" in source and "closed by the server with 1000 (OK)" in source


def test_who_closed_comes_from_the_event_not_its_text():
    """The close is asserted as the server's when Event.by says so; a client close needs no helper."""
    opened = [Event(1, 0.0, "client", "connect", 1, "ws://127.0.0.1:1/x"), Event(2, 0.0, "client", "open", 1)]
    by_client = Event(3, 0.0, "client", "closed", 1, code=1000, detail="(not parsed)", by="client")
    source = pytest_source(Transcript([*opened, by_client]), url="ws://127.0.0.1:1")
    assert "expect_close" not in source and "closed by the client with 1000 (OK)" in source
    dropped = by_client._replace(code=1006, by=None)
    source = pytest_source(Transcript([*opened, dropped]), url="ws://127.0.0.1:1")
    assert "wsbench.asserts.expect_close(conn)" in source and "0 received, closed with 1006" in source


@pytest.mark.parametrize(
    ("url", "constant", "suffix"),
    [
        ("ws://example.org:8765", "ws://example.org:8765", "/echo?room=1"),
        ("ws://example.org:8765/", "ws://example.org:8765", "/echo?room=1"),
        ("ws://example.org:8765/echo", "ws://example.org:8765/echo", "?room=1"),
        ("ws://example.org:8765/other?x=2", "ws://example.org:8765/other", "?room=1&x=2"),
    ],
)
def test_url_follows_replays_rule_base_or_full(url, constant, suffix):
    """url= is a base (the recorded path goes after it) or a full URL (kept, queries merged): never /echo/echo."""
    events = [
        Event(1, 0.0, "client", "connect", 7, "ws://127.0.0.1:9/echo?room=1"),
        Event(2, 0.0, "client", "open", 7),
        Event(3, 0.0, "client", "close", 7, code=1000, reason=""),
        Event(4, 0.0, "client", "closed", 7, code=1000, reason="", by="client"),
    ]
    source = pytest_source(Transcript(events), url=url)
    assert f"URL = {constant!r}".replace("'", '"') in source
    assert f"wsbench.connect(URL + {suffix!r}".replace("'", '"') in source
