"""Tests for wsbench.secrets and the security defaults: secrets masked in everything wsbench
shows or exports (with an opt-out per call), and received data never evaluated. (Size limits,
enforced before buffering, are tested with the connection: tests/client/test_connection.py.)"""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import WebSocket
from hypothesis import given
from hypothesis import strategies as st

import wsbench
from wsbench.errors import InvalidTranscript
from wsbench.secrets import MASK, SECRET_HEADERS, SECRET_PARAMS, is_secret_param, mask_headers, mask_text, mask_url
from wsbench.transcript import Event, Transcript
from wsbench.widgets import Panel, Timeline

SECRETS = ("s3cret", "abc", "c00kie")  # the Authorization token, the ?token= value, the session cookie

# -- mask_url: the rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("ws://h/p?token=abc&x=1", "ws://h/p?token=***&x=1"),
        ("ws://h/p?x=1&token=abc", "ws://h/p?x=1&token=***"),
        ("wss://h:8443/p?access_token=abc", "wss://h:8443/p?access_token=***"),
        ("/members?token=sesame", "/members?token=***"),  # a path and query alone (the display form)
        ("ws://h/p?TOKEN=abc&Api_Key=k", "ws://h/p?TOKEN=***&Api_Key=***"),  # names: any case
        ("ws://h/p?api-key=k", "ws://h/p?api-key=***"),  # "-" counts as "_"
        (
            "ws://h/p?refresh_token=r&client_secret=c&db_password=p",
            "ws://h/p?refresh_token=***&client_secret=***&db_password=***",
        ),
        ("ws://h/p?sig=a%2Bb%3D%3D&exp=9", "ws://h/p?sig=***&exp=9"),
        ("ws://h/p?sig=a=b==", "ws://h/p?sig=***"),  # "=" inside a value: it is all masked
    ],
)
def test_mask_url_masks_token_like_parameters(url, masked):
    """Token-like parameters get "***" as their value; names and every other parameter stay."""
    assert mask_url(url) == masked


@pytest.mark.parametrize("name", sorted(SECRET_PARAMS))
def test_every_listed_name_is_masked(name):
    """Each name of SECRET_PARAMS is masked, as written and in upper case."""
    assert mask_url(f"ws://h/?{name}=v&{name.upper()}=v") == f"ws://h/?{name}=***&{name.upper()}=***"


@pytest.mark.parametrize("name", ["q", "keyboard", "tokens", "monkey", "sort_key", "author", "signal", "x"])
def test_ordinary_names_are_not_masked(name):
    """Names that merely contain a token-like word are left alone."""
    assert not is_secret_param(name)
    assert mask_url(f"ws://h/?{name}=v") == f"ws://h/?{name}=v"


def test_mask_url_masks_every_repeat_of_a_parameter():
    """A parameter given twice is masked twice; the order of parameters is kept."""
    assert mask_url("ws://h/p?token=a&x=1&token=b") == "ws://h/p?token=***&x=1&token=***"


@pytest.mark.parametrize("url", ["ws://h/p?token=&x=1", "ws://h/p?token", "ws://h/p?x=1&token="])
def test_empty_values_stay_empty(url):
    """An empty value (or a bare name) has nothing to hide: it is shown as it is."""
    assert mask_url(url) == url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("ws://h/?%74oken=abc", "ws://h/?%74oken=***"),  # %74 = "t"
        ("ws://h/?access%5Ftoken=abc", "ws://h/?access%5Ftoken=***"),  # %5F = "_"
        ("ws://h/?%54OKEN=abc", "ws://h/?%54OKEN=***"),
        ("ws://h/?api+key=abc", "ws://h/?api+key=abc"),  # "+" is a space: "api key" is not a token name
    ],
)
def test_percent_encoded_names_are_decoded_before_the_check(url, masked):
    """The name is compared percent-decoded, and written back exactly as it was."""
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("ws://h/p?x=1#top", "ws://h/p?x=1#top"),
        ("ws://h/p?token=abc#top", "ws://h/p?token=***#top"),
        ("ws://h/p#access_token=abc&state=1", "ws://h/p#access_token=***&state=1"),  # OAuth's implicit flow
        ("ws://h/p?token=abc#token=def", "ws://h/p?token=***#token=***"),
        ("ws://h/p#?token=abc", "ws://h/p#?token=abc"),  # "?" after "#" starts no query; "?token" is no token
    ],
)
def test_fragments(url, masked):
    """The fragment is kept; key=value pairs in it follow the same rule as the query."""
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        "ws://h/p",
        "ws://h",
        "ws://h/p?",
        "ws://h/p?debug",
        "/search?debug&q=caf%C3%A9+au+lait&tag=hot&tag=sweet",  # notebook 06: kept byte for byte
        "ws://[::1]:8000/p?x=1",
        "ws://[::1",  # not even a URL: never raises
        "",
        "not a url",
    ],
)
def test_urls_without_secrets_are_unchanged(url):
    """A URL without secrets comes back exactly as given, also when it is odd or invalid."""
    assert mask_url(url) == url


def test_user_info_password_is_masked():
    """ws://user:password@host/ keeps the user name and masks the password (websockets sends it as Basic auth);
    a user name alone is masked (ws://TOKEN@host/ is how a token travels)."""
    assert mask_url("ws://ada:pw@h/p?x=1") == "ws://ada:***@h/p?x=1"
    assert mask_url("ws://ada@h/p") == "ws://***@h/p"


@given(
    user=st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~%", min_size=1, max_size=40),
    tail=st.sampled_from(["", "/", "/p?x=1", ":8765/p", "#top"]),
)
def test_a_user_name_without_a_password_is_always_masked(user: str, tail: str):
    """ws://USER@host, whatever USER is (a token, a word, percent-encoded) and whatever follows the
    host: the user name never shows, alone (mask_url) or inside a message (mask_text)."""
    url = f"ws://{user}@example.org{tail}"
    assert mask_url(url) == f"ws://{MASK}@example.org{tail}"
    assert mask_text(f"cannot connect to {url}: refused") == f"cannot connect to ws://{MASK}@example.org{tail}: refused"


def test_mask_url_is_idempotent():
    """Masking a masked URL changes nothing."""
    url = "ws://ada:pw@h/p?token=a&x=1#sig=s"
    assert mask_url(mask_url(url)) == mask_url(url)


# -- mask_headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "authorization",
        "AUTHORIZATION",
        "Proxy-Authorization",
        "Cookie",
        "cookie",
        "Set-Cookie",
        "Sec-WebSocket-Key",
        "sec-websocket-key",
        "Sec-WebSocket-Accept",
        "X-Token",
        "x-api-key",
        "X-Auth-Token",
    ],
)
def test_secret_headers_are_masked_whatever_the_case(name):
    """Header names are compared case-insensitively; the name stays as written."""
    assert mask_headers([(name, "value")]) == [(name, MASK)]


def test_mask_headers_keeps_order_duplicates_and_other_headers():
    """Every pair is kept in order, repeats included; only secret values change."""
    pairs = [
        ("Host", "h"),
        ("Cookie", "a=1"),
        ("X-Tag", "red"),
        ("Cookie", "b=2"),
        ("Authorization", ""),  # empty: nothing to hide
        ("User-Agent", "ua"),
    ]
    assert mask_headers(pairs) == [
        ("Host", "h"),
        ("Cookie", MASK),
        ("X-Tag", "red"),
        ("Cookie", MASK),
        ("Authorization", ""),
        ("User-Agent", "ua"),
    ]


def test_mask_headers_takes_a_mapping():
    """A dict of headers works too, in its order."""
    assert mask_headers({"Authorization": "Bearer t", "Accept": "*/*"}) == [("Authorization", MASK), ("Accept", "*/*")]


def test_the_listed_headers_are_the_documented_ones():
    """SECRET_HEADERS holds exactly the headers the policy names."""
    assert {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "sec-websocket-key",
        "sec-websocket-accept",
    } == SECRET_HEADERS


# -- events and transcripts (pure) -------------------------------------------------------------

_HEADERS = (("Host", "h"), ("Authorization", "Bearer s3cret"), ("X-Tag", "red"))


def _connect(**fields) -> Event:
    defaults = {
        "seq": 1,
        "time": 1.0,
        "side": "client",
        "kind": "connect",
        "conn": 1,
        "data": "ws://127.0.0.1:1/p?token=abc&x=1",
        "headers": _HEADERS,
    }
    return Event(**{**defaults, **fields})


def test_event_text_and_repr_mask():
    """Event.text() and repr(event) mask the connect URL and the headers; the event keeps the real values."""
    event = _connect()
    assert event.text() == "client  connect /p?token=***&x=1"
    assert event.text(unmasked=True) == "client  connect /p?token=abc&x=1"
    assert "abc" not in repr(event) and "s3cret" not in repr(event)
    assert "('Authorization', '***')" in repr(event) and "('X-Tag', 'red')" in repr(event)
    assert event.data.endswith("token=abc&x=1") and event.headers == _HEADERS


def test_masked_returns_the_event_itself_when_nothing_is_secret():
    """No copy for events without secrets (the common case, once per message)."""
    plain = Event(seq=2, time=1.0, side="client", kind="send", data="token=abc")
    assert plain.masked() is plain
    assert _connect(data="ws://h/p?x=1", headers=None).masked().data == "ws://h/p?x=1"


def test_message_payloads_are_never_masked():
    """Only the connect URL and headers are masked: a message is shown as it was sent."""
    transcript = Transcript([Event(seq=2, time=1.0, side="client", kind="send", data="?token=abc")])
    assert "token=abc" in transcript.text()
    assert transcript.records()[0]["text"] == "?token=abc"


def test_records_and_jsonl_mask_unless_asked():
    """records() / to_jsonl() mask by default; unmasked=True gives the real values."""
    transcript = Transcript([_connect()])
    [row] = transcript.records()
    assert row["text"] == "ws://127.0.0.1:1/p?token=***&x=1"
    assert row["headers"] == [["Host", "h"], ["Authorization", MASK], ["X-Tag", "red"]]
    assert not any(secret in transcript.to_jsonl() for secret in ("abc", "s3cret"))
    [raw] = transcript.records(unmasked=True)
    assert raw["text"].endswith("token=abc&x=1") and ["Authorization", "Bearer s3cret"] in raw["headers"]
    assert "s3cret" in transcript.to_jsonl(unmasked=True)


def test_jsonl_round_trip_keeps_headers():
    """Headers survive to_jsonl / from_jsonl (unmasked, so equal; masked, so masked)."""
    transcript = Transcript([_connect(), Event(seq=2, time=1.5, side="client", kind="open", conn=1)])
    assert Transcript.from_jsonl(transcript.to_jsonl(unmasked=True)).events == transcript.events
    loaded = Transcript.from_jsonl(transcript.to_jsonl())
    assert loaded[0].headers == (("Host", "h"), ("Authorization", MASK), ("X-Tag", "red"))
    assert loaded[1].headers is None


def test_jsonl_without_headers_still_loads():
    """A line written before events had headers (no "headers" key) loads with headers None."""
    line = json.dumps({"seq": 1, "time": 1.0, "side": "client", "kind": "open", "conn": 1, "text": None})
    assert Transcript.from_jsonl(line)[0].headers is None
    assert "headers" not in Transcript.from_jsonl(line).records()[0]  # and is written without one


@pytest.mark.parametrize("headers", ["Host: h", [["Host"]], [["Host", 1]], [("a", "b", "c")], {"Host": "h"}])
def test_bad_headers_field_is_named(headers):
    """A "headers" field that is not a list of [name, value] strings is refused with its name."""
    line = json.dumps({"seq": 1, "time": 1.0, "side": "client", "kind": "connect", "conn": 1, "headers": headers})
    with pytest.raises(InvalidTranscript, match="line 1: field 'headers'"):
        Transcript.from_jsonl(line)


# -- through a real Bench -------------------------------------------------------------------------


@pytest.fixture
def secret_bench(make_bench: Callable[..., wsbench.Bench]) -> tuple[wsbench.Bench, dict]:
    """A Bench whose /whoami endpoint keeps what it received, answers and closes."""
    bench = make_bench(endpoints=False)
    seen: dict = {}

    @bench.websocket("/whoami")
    async def whoami(websocket: WebSocket) -> None:
        seen["authorization"] = websocket.headers.get("authorization")
        seen["token"] = websocket.query_params.get("token")
        seen["session"] = websocket.cookies.get("session")
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.receive()

    return bench, seen


@pytest.fixture
def conn(secret_bench) -> Iterator[wsbench.Connection]:
    """A connection to /whoami with an Authorization header, a cookie and ?token=abc, closed after one message."""
    bench, _ = secret_bench
    conn = bench.connect(
        "/whoami?token=abc&x=1", headers={"Authorization": "Bearer s3cret"}, cookies={"session": "c00kie"}
    )
    assert conn.receive_text() == "hello"
    conn.close()
    conn.wait_endpoint()
    yield conn


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_the_endpoint_receives_the_real_values(secret_bench, conn):
    """Masking changes what is shown, never what is sent: the server sees the real credentials."""
    _, seen = secret_bench
    assert seen == {"authorization": "Bearer s3cret", "token": "abc", "session": "c00kie"}
    assert conn.url.endswith("/whoami?token=abc&x=1")  # conn.url stays real: it is needed to connect


def test_connect_event_holds_the_request_headers_as_sent(conn):
    """The "connect" event keeps the request headers, websockets' own ones included."""
    [connect] = conn.transcript.filter(kind="connect")
    names = [name.lower() for name, _ in connect.headers]
    assert {"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version"} <= set(names)
    assert ("Authorization", "Bearer s3cret") in connect.headers
    assert ("Cookie", "session=c00kie") in connect.headers


def test_nothing_shown_holds_a_secret(secret_bench, conn, tmp_path):
    """No text form, repr, record, widget or saved file of the conversation holds a secret."""
    bench, _ = secret_bench
    panel = Panel(conn, live=False)
    timeline = Timeline(conn, live=False)
    try:
        shown = {
            "str(transcript)": str(conn.transcript),
            "bench transcript": str(bench.transcript),
            "to_jsonl": conn.transcript.to_jsonl(),
            "records": json.dumps(conn.transcript.records()),
            "repr(conn)": repr(conn),
            "repr(events)": repr(conn.transcript.events),
            "log_lines": "\n".join(panel.log_lines()),
            "log html": panel.log_view.value,
            "badge": panel.badge.value,
            "repr(panel)": repr(panel),
            "timeline html": timeline.to_html(),
            "timeline widget": timeline.value,
            "saved jsonl": conn.transcript.save(tmp_path / "t.jsonl").read_text(encoding="utf-8"),
            "saved html": timeline.save(tmp_path / "t.html").read_text(encoding="utf-8"),
        }
    finally:
        panel.close()
        timeline.close()
    assert {where: _leaks(text) for where, text in shown.items() if _leaks(text)} == {}
    assert "token=***&x=1" in shown["str(transcript)"] and "token=***" in shown["repr(conn)"]
    assert "· connect /whoami?token=***&x=1" in shown["log_lines"]
    assert "Authorization: ***" in shown["log html"] and "Authorization: ***" in shown["timeline html"]


def test_unmasked_opt_outs_show_the_secrets(conn, tmp_path):
    """Each view takes unmasked=True, for one call or one widget."""
    transcript = conn.transcript
    assert "token=abc" in transcript.text(unmasked=True)
    for text in (
        transcript.to_jsonl(unmasked=True),
        json.dumps(transcript.records(unmasked=True)),
        transcript.save(tmp_path / "t.jsonl", unmasked=True).read_text(encoding="utf-8"),
    ):
        assert _leaks(text) == list(SECRETS)
    panel = conn.panel(live=False, unmasked=True)
    timeline = conn.timeline(live=False)
    try:
        assert "· connect /whoami?token=abc&x=1" in panel.log_lines()
        assert "token=abc" in repr(panel) and "Bearer s3cret" in panel.log_view.value
        assert _leaks(timeline.to_html()) == [] and _leaks(timeline.to_html(unmasked=True)) == list(SECRETS)
        saved = timeline.save(tmp_path / "t.html", unmasked=True).read_text(encoding="utf-8")
        assert _leaks(saved) == list(SECRETS)
    finally:
        panel.close()
        timeline.close()
    unmasked_timeline = Timeline(conn, live=False, unmasked=True)
    try:
        assert "Bearer s3cret" in unmasked_timeline.value
        assert _leaks(unmasked_timeline.to_html(unmasked=False)) == []
    finally:
        unmasked_timeline.close()


def test_aconnect_records_and_masks_alike(secret_bench):
    """A connection opened with aconnect records the request headers and masks the same way."""
    bench, seen = secret_bench

    async def main() -> wsbench.Connection:
        conn = await bench.aconnect("/whoami", params={"token": "abc"}, headers=[("Authorization", "Bearer s3cret")])
        assert await conn.areceive_text() == "hello"
        await conn.aclose()
        return conn

    conn = asyncio.run(main())
    assert seen["authorization"] == "Bearer s3cret" and seen["token"] == "abc"
    [connect] = conn.transcript.filter(kind="connect")
    assert ("Authorization", "Bearer s3cret") in connect.headers
    assert _leaks(str(conn.transcript) + conn.transcript.to_jsonl() + repr(conn)) == []


def test_a_rejected_handshake_shows_no_secret(make_bench):
    """The error and the transcript of a refused handshake mask the URL too."""
    bench = make_bench()
    with pytest.raises(wsbench.HandshakeRejected) as info:
        bench.connect("/reject", params={"token": "abc"}, headers={"Authorization": "Bearer s3cret"})
    assert "token=***" in str(info.value) and _leaks(str(info.value)) == []
    transcript = bench.transcript
    assert [e.kind for e in transcript.filter(side="client")] == ["connect", "rejected"]
    assert _leaks(str(transcript) + transcript.to_jsonl() + repr(transcript.events)) == []


# -- received data is never evaluated ------------------------------------------------------------

_PACKAGE = Path(wsbench.__file__).parent
_CALLS = {"eval", "exec", "compile", "__import__", "execfile"}
_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "jsonpickle"}


def _findings(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if name in _CALLS and owner in ("", "builtins"):  # not re.compile(): only the built-ins
                found.append(f"{path.name}:{node.lineno}: {name}()")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{path.name}:{node.lineno}: import {m}" for m in modules if m.split(".")[0] in _MODULES]
        elif isinstance(node, ast.Attribute) and node.attr in ("loads", "load", "Unpickler"):
            if isinstance(node.value, ast.Name) and node.value.id in _MODULES:
                found.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_package_never_evaluates_or_unpickles():
    """No eval/exec/compile/__import__ and no pickle, marshal or shelve anywhere in wsbench: received
    data is only ever decoded as UTF-8 text or parsed as JSON."""
    files = sorted(_PACKAGE.rglob("*.py"))
    assert len(files) > 10  # the scan sees the whole package
    assert [finding for path in files for finding in _findings(path)] == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The scan above is not vacuous: it reports each forbidden construct, and not re.compile."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle\nfrom marshal import loads\nimport re\n"
        "eval('1')\nexec('x = 1')\nbuiltins.eval('2')\nre.compile('x')\npickle.loads(b'')\n"
    )
    assert sorted(_findings(bad)) == [
        "bad.py:1: import pickle",
        "bad.py:2: import marshal",
        "bad.py:4: eval()",
        "bad.py:5: exec()",
        "bad.py:6: eval()",
        "bad.py:8: pickle.loads",
    ]
