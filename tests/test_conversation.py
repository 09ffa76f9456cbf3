"""Tests for wsbench.conversation: a transcript read as a conversation, and JSON compared with ignore paths."""

from __future__ import annotations

import pytest

from wsbench.conversation import (
    Plan,
    assert_json_matches,
    compile_ignore,
    connection_label,
    connections,
    differing_paths,
    expect_close,
    json_differences,
    json_value,
    plan,
    secrets_in,
    select,
    without_ignored,
)
from wsbench.errors import ConnectionClosed, InvalidTranscript
from wsbench.transcript import Event, Transcript

HINT = "pass them again"


def _client(seq: int, kind: str, conn: int = 1, **fields) -> Event:
    """A client event of connection *conn*."""
    return Event(seq, 0.0, "client", kind, conn, **fields)


# -- JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]", [1, 2]),
        ("hello", None),
        ("42", None),
        ('"text"', None),
        ("[NaN]", None),
        ("{not json", None),
    ],
)
def test_json_value_takes_objects_and_arrays_only(text, value):
    """json_value() parses a JSON object or array; plain text, bare scalars and NaN stay text (None)."""
    assert json_value(text) == value


def test_compile_ignore_takes_one_path_or_several():
    """A single path string or a list of them; each kept with its source text."""
    assert [path for path, _ in compile_ignore("$.id")] == ["$.id"]
    assert [path for path, _ in compile_ignore(["$.id", "$.items[*].ts"])] == ["$.id", "$.items[*].ts"]
    assert compile_ignore(()) == []


@pytest.mark.parametrize(
    ("ignore", "message"),
    [(["$.id", "$.items["], r"ignore path '\$\.items\[' is not a valid JSON path"), ([3], "must be strings")],
)
def test_compile_ignore_refuses_a_bad_path_naming_it(ignore, message):
    """A path that does not parse, or is not a string, is a ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        compile_ignore(ignore)


def test_without_ignored_removes_the_matched_fields_from_a_copy():
    """without_ignored() drops what the paths match, in lists too, and leaves the original alone."""
    value = {"id": 1, "items": [{"k": "a", "ts": 1}, {"k": "b", "ts": 2}]}
    stripped = without_ignored(value, compile_ignore(["$.id", "$.items[*].ts"]))
    assert stripped == {"items": [{"k": "a"}, {"k": "b"}]}
    assert value == {"id": 1, "items": [{"k": "a", "ts": 1}, {"k": "b", "ts": 2}]}
    assert without_ignored(value, []) is value


def test_json_differences_names_each_path_in_document_order():
    """Changed, missing and extra keys and items, each with its JSON path; 1 and 1.0 are equal, True and 1 not."""
    expected = {"n": 1, "a": [1, 2], "odd key": "x", "gone": 0, "flag": 1}
    got = {"n": 1.0, "a": [1, 3, 4], "odd key": "y", "flag": True, "new": None}
    paths = [(path, str(e), str(g)) for path, e, g in json_differences(expected, got)]
    assert [path for path, _, _ in paths] == ["$.a[1]", "$.a[2]", '$["odd key"]', "$.gone", "$.flag", "$.new"]


def test_differing_paths_lists_ten_and_counts_the_rest():
    """At most ten lines, then one that says how many more paths differ; absent values read "(absent)"."""
    lines = differing_paths({f"k{i}": i for i in range(12)}, {})
    assert len(lines) == 11
    assert lines[0] == "$.k0: 0 != (absent)"
    assert lines[-1] == "... and 2 more JSON paths"
    assert differing_paths([1], [1]) == ()


def test_assert_json_matches_names_the_paths():
    """assert_json_matches ignores the given paths and names the ones that differ."""
    assert_json_matches('{"id": 7, "n": 1}', {"id": 1, "n": 1}, ignore=["$.id"])
    assert_json_matches({"a": [1, 2.0]}, {"a": [1, 2]})
    with pytest.raises(AssertionError, match=r"(?s)ignoring \$\.id.*\$\.n: expected 1, got 2.*\$\.x: expected"):
        assert_json_matches({"id": 7, "n": 2, "x": True}, {"id": 1, "n": 1}, ignore=["$.id"])
    with pytest.raises(AssertionError, match="expected a JSON object or array"):
        assert_json_matches("hello", {"a": 1})


# -- expect_close -----------------------------------------------------------------------


class _Scripted:
    """A stand-in connection whose receive() returns a message, or raises ConnectionClosed when there is none."""

    def __init__(self, message: str | bytes | None) -> None:
        self.message = message
        self.timeouts: list[float | None] = []

    def receive(self, timeout: float | None = None) -> str | bytes:
        self.timeouts.append(timeout)
        if self.message is None:
            raise ConnectionClosed("connection closed", code=1000, reason="")
        return self.message


def test_expect_close_needs_only_receive():
    """expect_close() works on anything with receive(timeout): it returns on a close and passes the timeout on."""
    conn = _Scripted(None)
    expect_close(conn, timeout=2.5)
    assert conn.timeouts == [2.5]
    with pytest.raises(AssertionError, match=r"sent another message: b'\\x00'"):
        expect_close(_Scripted(b"\x00"))


def test_expect_close(bench):
    """expect_close returns when the server closes, and fails when a message comes first."""
    conn = bench.connect("/send?n=0")
    expect_close(conn)
    assert conn.close_code == 1000
    conn = bench.connect("/send?n=1")
    with pytest.raises(AssertionError, match="'msg 0'"):
        expect_close(conn)


# -- reading a transcript -------------------------------------------------------------------


def _two_connections() -> Transcript:
    """Connection 7 (client and server) and connection 3 (server only), then connection 5 (client)."""
    return Transcript(
        [
            _client(1, "connect", 7, data="ws://127.0.0.1:1/one?token=s3cret&room=1"),
            Event(2, 0.0, "server", "websocket.connect", 7),
            Event(3, 0.0, "server", "websocket.connect", 3),
            _client(5, "send", 7, data="late"),
            _client(4, "open", 7),
            _client(6, "connect", 5, data="ws://127.0.0.1:1/two"),
            _client(7, "reconnect", 5, detail="attempt 1 of 1"),
        ]
    )


def test_connections_are_numbered_as_printed_and_need_a_client_side():
    """connections() numbers every connection as the text form does, and lists those with a client connect."""
    found = connections(_two_connections())
    assert [(number, len(events)) for number, events in found] == [(1, 4), (3, 2)]


def test_select_gives_the_client_events_in_recorded_order():
    """select() picks a connection by number; its client events sorted by seq, auto_reconnect's note left out."""
    transcript = _two_connections()
    number, client = select(transcript, 1)
    assert number == 1
    assert [(e.seq, e.kind) for e in client] == [(1, "connect"), (4, "open"), (5, "send")]
    assert [e.kind for e in select(transcript, 3)[1]] == ["connect"]
    with pytest.raises(InvalidTranscript, match=r"2 connections \(#1 /one\?token=\*\*\*&room=1, #3 /two\); pick one"):
        select(transcript, None)
    with pytest.raises(InvalidTranscript, match="no connection #2 with a client side; it has 1, 3"):
        select(transcript, 2)
    with pytest.raises(TypeError, match=r"expected a wsbench\.Transcript"):
        select([], None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([], "it is empty"),
        ([Event(1, 0.0, "server", "websocket.connect", 1)], "all server-side"),
        ([Event(1, 0.0, "client", "send", 1, "hi")], "no client 'connect' event"),
    ],
)
def test_a_transcript_without_client_side_is_refused(events, message):
    """Nothing to replay: InvalidTranscript saying why and how to record one."""
    with pytest.raises(InvalidTranscript, match=message) as caught:
        select(Transcript(events), None)
    assert "bench.connect(path)" in str(caught.value)


def test_connection_label_is_the_path_and_query_with_secrets_masked():
    """A connection is named by the path and query it opened, its secret values masked."""
    assert connection_label(select(_two_connections(), 1)[1]) == "/one?token=***&room=1"
    assert connection_label([_client(1, "connect", data="ws://127.0.0.1:1")]) == "/"


def _recorded(url: str, headers: list[tuple[str, str]], *, agreed: str | None = None) -> list[Event]:
    """The client events of a recorded connection to *url* with request *headers*."""
    return [_client(1, "connect", data=url, headers=tuple(headers)), _client(2, "open", detail=agreed)]


def test_plan_reopens_the_path_with_the_users_headers_and_options():
    """plan(): path and query as recorded, protocol headers left out, subprotocols, origin and compression kept."""
    headers = [
        ("Host", "127.0.0.1:1"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", "abc"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Origin", "http://example.org"),
        ("X-Room", "blue"),
    ]
    client = _recorded("ws://127.0.0.1:1/chat?room=1", headers, agreed="chat")
    opening = plan(1, client[0], client, hint=HINT)
    assert isinstance(opening, Plan)
    assert opening == Plan(
        "/chat?room=1",
        [("X-Room", "blue")],
        {"subprotocols": ["chat", "superchat"], "origin": "http://example.org", "compression": False},
    )
    without_headers = [_client(1, "connect", data="ws://h/x"), _client(2, "open", detail="chat")]
    assert plan(1, without_headers[0], without_headers, hint=HINT).options == {"subprotocols": ["chat"]}


def test_plan_never_sends_a_masked_secret():
    """A value recorded as *** must be given again; given, it replaces the mask, and extra params are appended."""
    client = _recorded("ws://h/m?token=***&room=1", [("Authorization", "***"), ("Sec-WebSocket-Extensions", "x")])
    with pytest.raises(InvalidTranscript) as caught:
        plan(2, client[0], client, hint=HINT)
    assert str(caught.value) == (
        "connection #2 was saved with its secrets masked (query parameter 'token', header 'Authorization'), "
        f"and wsbench will not send '***' as if it were the real value: {HINT}"
    )
    opening = plan(
        2, client[0], client, params={"token": "a b", "lang": "en"}, headers={"Authorization": "Bearer t"}, hint=HINT
    )
    assert opening.path == "/m?token=a%20b&room=1&lang=en"
    assert opening.headers == [("Authorization", "Bearer t")]
    assert opening.options == {}


def test_secrets_in_names_secret_params_and_headers():
    """secrets_in() lists the secret query parameters and headers a plan would send (values left out)."""
    opening = Plan("/m?token=t0k&room=1&api_key=", [("Authorization", "Bearer x"), ("X-Room", "blue")], {})
    assert secrets_in(opening) == ["query parameter 'token'", "header 'Authorization'"]
    assert secrets_in(Plan("/m?room=1", [], {})) == []
