"""transcript.to_locustfile: the file it writes, without running Locust (tests/test_locust_run.py runs it)."""

from __future__ import annotations

import ast
import sys

import pytest
from conftest import ruff_isolated
from fastapi import WebSocket

import wsbench
from wsbench.locustgen import locust_source
from wsbench.transcript import Event, Transcript


def conversation(*messages: tuple[str, str | bytes], conn: int = 7, url: str = "ws://127.0.0.1:9/echo") -> Transcript:
    """A recorded client side: connect, open, then ("send" | "receive", data) one a second, then a client close."""
    events = [
        Event(seq=1, time=100.0, side="client", kind="connect", conn=conn, data=url),
        Event(seq=2, time=100.0, side="client", kind="open", conn=conn),
    ]
    for i, (kind, data) in enumerate(messages, 3):
        events.append(Event(seq=i, time=100.0 + i, side="client", kind=kind, conn=conn, data=data))
    n = len(events) + 1
    events.append(Event(seq=n, time=200.0, side="client", kind="close", conn=conn, code=4001, reason="bye"))
    events.append(Event(seq=n + 1, time=200.0, side="client", kind="closed", conn=conn, code=4001, by="client"))
    return Transcript(events)


def recorded(source: str, number: int = 1, constant: str = "CONNECTION") -> dict:
    """The CONNECTION_<number> (or GROUP_<number>) literal of a generated file, read back with
    ast.literal_eval (never executed)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == f"{constant}_{number}":
            return ast.literal_eval(node.value)
    raise AssertionError(f"no {constant}_{number} in the file")


def add_chat(bench: wsbench.Bench, skip: str | None = None) -> None:
    """FastAPI's ConnectionManager chat on /chat/{who}: each message to every member, a leave
    announced to the others. With *skip*, that member never gets anything (an app with a bug)."""
    members: dict[WebSocket, str] = {}

    async def broadcast(text: str) -> None:
        for member, who in list(members.items()):
            if who != skip:
                try:
                    await member.send_text(text)
                except Exception:  # gone meanwhile: drop it, keep the others
                    members.pop(member, None)

    @bench.websocket("/chat/{who}")
    async def chat(websocket: WebSocket, who: str) -> None:
        await websocket.accept()
        members[websocket] = who
        try:
            async for text in websocket.iter_text():
                await broadcast(f"{who}: {text}")
        finally:
            members.pop(websocket, None)
        await broadcast(f"{who} left")


def record_chat(bench: wsbench.Bench) -> wsbench.Transcript:
    """Three named members (add_chat): ann and bob say something, each received by all three;
    cat leaves, then ann, then bob. A copy of the bench's transcript, both sides."""
    ann, bob, cat = (bench.connect(f"/chat/{who}", name=who) for who in ("ann", "bob", "cat"))
    ann.send_text("hi")
    assert [c.receive_text(timeout=5) for c in (ann, bob, cat)] == ["ann: hi"] * 3
    bob.send_text("yo")
    assert [c.receive_text(timeout=5) for c in (ann, bob, cat)] == ["bob: yo"] * 3
    cat.close()
    assert [c.receive_text(timeout=5) for c in (ann, bob)] == ["cat left"] * 2
    ann.close()
    assert bob.receive_text(timeout=5) == "ann left"
    bob.close()
    bench.wait_idle()
    return Transcript(list(bench.transcript))  # what was recorded, not what the bench records later


def test_three_steps_become_one_user_with_named_steps_and_recorded_think_times(tmp_path):
    t = conversation(("send", "a"), ("receive", "A"), ("send", "b"), ("receive", "B"), ("send", "c"), ("receive", "C"))
    path = t.to_locustfile(tmp_path / "locustfile.py", url="ws://127.0.0.1:9", think=0.5)
    source = path.read_text()
    data = recorded(source)
    assert data["path"] == "/echo"
    # think time: from the previous client event (open, then each reply) to the send, scaled by think=0.5
    assert data["steps"] == [
        ["/echo 1: 'a'", 1.5, "a", [[0, "A", True]], True],
        ["/echo 2: 'b'", 0.5, "b", [[1, "B", True]], True],
        ["/echo 3: 'c'", 0.5, "c", [[2, "C", True]], True],
    ]
    assert data["end"] == ["close", 4001, "bye"]
    assert "class Connection1(RecordedUser):" in source
    assert ruff_isolated(path).returncode == 0, ruff_isolated(path).stdout


def test_the_file_is_deterministic_and_imports_no_wsbench(tmp_path):
    t = conversation(("send", "a"), ("receive", "A"))
    first = locust_source(t, url="ws://127.0.0.1:9")
    assert first == locust_source(t, url="ws://127.0.0.1:9")
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name).split(".")[0]
        for node in ast.parse(first).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    }
    assert imported == {"json", "time", "locust", "websockets"}


def test_hostile_data_reaches_the_file_only_as_literals(tmp_path):
    """A payload that would end a string or a docstring, or run code, is data: read back equal, ruff-clean."""
    nasty = '"""\nimport os; os.system("echo pwned")  # \'\'\'\\x00\u200b'
    t = conversation(("send", nasty), ("receive", b"\x00\xff" + nasty.encode()), url="ws://127.0.0.1:9/p?q=\"'")
    path = t.to_locustfile(tmp_path / "locustfile.py")
    data = recorded(path.read_text())
    assert data["steps"][0][2] == nasty
    assert data["steps"][0][3] == [[0, b"\x00\xff" + nasty.encode(), True]]
    assert ruff_isolated(path).returncode == 0, ruff_isolated(path).stdout
    tree = ast.parse(path.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "system"]
    assert calls == []


def test_match_by_json_path_awaits_each_reply_where_it_was_recorded(tmp_path):
    """Replies out of order, after a push: each is awaited after the send it came after, owned by its id's send."""
    t = conversation(
        ("send", '{"id": 1, "op": "a"}'),
        ("receive", '{"push": 1}'),
        ("send", '{"id": 2, "op": "b"}'),
        ("receive", '{"id": 2, "ok": true}'),
        ("receive", '{"id": 1, "ok": true}'),
    )
    path = t.to_locustfile(tmp_path / "locustfile.py", match="$.id", think=0)
    source = path.read_text()
    steps = recorded(source)["steps"]
    assert [s[3] for s in steps] == [[], [[1, '{"id": 2, "ok": true}', True], [0, '{"id": 1, "ok": true}', True]]]
    assert [s[4] for s in steps] == [True, True]
    assert "from jsonpath_ng.ext import parse" in source and 'MATCH = "$.id"' in source
    assert ruff_isolated(path).returncode == 0, ruff_isolated(path).stdout


def key_of(message):
    """A match function: the text before the first colon."""
    return message.split(":", 1)[0] if isinstance(message, str) else None


def test_match_by_function_copies_its_source(tmp_path):
    t = conversation(("send", "x:1"), ("receive", "y:push"), ("receive", "x:done"))
    path = t.to_locustfile(tmp_path / "locustfile.py", match=key_of, think=0)
    source = path.read_text()
    assert recorded(source)["steps"][0][3] == [[0, "x:done", True]]
    assert "def key_of(message):" in source and "KEY = key_of" in source
    with pytest.raises(ValueError, match="defined with def"):
        t.to_locustfile(tmp_path / "other.py", match=lambda m: m)


def test_messages_before_the_first_send_are_a_step_of_their_own():
    t = conversation(("receive", "welcome"), ("send", "a"), ("receive", "A"))
    steps = recorded(locust_source(t))["steps"]
    assert steps[0] == ["/echo 0: (before the first send)", 0.0, None, [[0, "welcome", True]], True]


def test_secrets_are_written_only_when_asked():
    t = conversation(("send", "a"), url="ws://127.0.0.1:9/feed?token=s3cret")
    with pytest.raises(wsbench.InvalidTranscript, match="unmasked=True"):
        locust_source(t)
    assert "s3cret" in locust_source(t, unmasked=True)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"think": -1}, "think must be >= 0"),
        ({"timeout": 0}, "timeout must be > 0"),
        ({"timeout": float("nan")}, "timeout must be a finite number"),
        ({"url": "http://x"}, "ws:// or wss://"),
        ({"match": "$[[["}, "not a valid JSON path"),
        ({"match": 3}, "match must be None"),
    ],
)
def test_bad_options_name_the_problem(options, error):
    t = conversation(("send", "a"))
    with pytest.raises((ValueError, TypeError, wsbench.InvalidURL), match=error):
        locust_source(t, **options)


def test_several_connections_become_one_user_class_each():
    t = Transcript([*conversation(("send", "a"), conn=1), *conversation(("send", "b"), conn=2, url="ws://h:1/chat")])
    source = locust_source(t)
    assert recorded(source, 1)["label"] == "#1 /echo" and recorded(source, 2)["label"] == "#2 /chat"
    assert "class Connection1(RecordedUser):" in source and "class Connection2(RecordedUser):" in source


def test_load_without_locust_says_how_to_get_it(tmp_path):
    """An interpreter that cannot import Locust (here: this one without its site-packages, -S) gets one
    clear error before anything starts, not an empty result (found by hand on Python 3.10)."""
    from wsbench.swarm import LoadError, load, locust_installed

    bare = tmp_path / "python-without-site-packages"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    assert not locust_installed(str(bare))
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text("raise SystemExit('never run')\n")
    with pytest.raises(LoadError, match=r"pip install 'wsbench\[load\]'"):
        load(str(locustfile), users=1, run_time=1, target="ws://127.0.0.1:9", python=str(bare), folder=tmp_path / "run")


def test_a_chat_of_three_clients_becomes_one_user_driving_all_three(make_bench, tmp_path):
    """Connections linked by the server's record of who caused what (ann's message sent to bob and
    cat by ann's handler) become one user class: its actions in the recorded order, and each
    receipt tied to the action that caused it: the sender's own as its reply, the others' as
    fan-out receipts (a leave announced after a close: caused by that close)."""
    bench = make_bench(endpoints=False)
    add_chat(bench)
    transcript = record_chat(bench)
    path = transcript.to_locustfile(tmp_path / "locustfile.py", think=0)
    source = path.read_text()
    group = recorded(source, 1, "GROUP")
    assert [c["label"] for c in group["clients"]] == ["ann", "bob", "cat"]
    assert [c["path"] for c in group["clients"]] == ["/chat/ann", "/chat/bob", "/chat/cat"]
    actions = group["actions"]
    names = {i: a[3] for i, a in enumerate(actions) if a[0] != "receive"}
    clients = ["ann", "bob", "cat"]
    receipts = [(clients[a[1]], a[2], names[a[3]], a[4]) for a in actions if a[0] == "receive"]
    assert receipts == [
        ("ann", "ann: hi", "ann 1: 'hi'", True),  # the reply to ann's own send: its step's last reply
        ("bob", "ann: hi", "ann 1: 'hi'", False),  # fan-out receipts
        ("cat", "ann: hi", "ann 1: 'hi'", False),
        ("ann", "bob: yo", "bob 1: 'yo'", False),
        ("bob", "bob: yo", "bob 1: 'yo'", True),
        ("cat", "bob: yo", "bob 1: 'yo'", False),
        ("ann", "cat left", "close cat", False),
        ("bob", "cat left", "close cat", False),
        ("bob", "ann left", "close ann", False),
    ]
    order = [a[3] for a in actions if a[0] != "receive"]
    assert order == [
        "connect ann",
        "connect bob",
        "connect cat",
        "ann 1: 'hi'",
        "bob 1: 'yo'",
        "close cat",
        "close ann",
        "close bob",
    ]
    assert "class Conversation1(RecordedGroup):" in source and "class Connection" not in source
    assert "import gevent" in source and "'fanout <step>'" in source  # the design, in the header
    assert ruff_isolated(path).returncode == 0, ruff_isolated(path).stdout
    # without the server's side (a recording against a URL) nothing says who caused what: one class each
    alone = locust_source(transcript.filter(side="client"))
    assert "class Connection1(RecordedUser):" in alone and "RecordedGroup" not in alone
