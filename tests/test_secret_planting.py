"""Secrets planted in every place a credential can travel (a subprotocol, URL user info, a fragment, a header,
a query, a proxy URL, an error's text) must not show up in any view, export, repr or error of wsbench, and
must show up with unmasked=True. Plus the masking rules as hypothesis properties."""

from __future__ import annotations

import json
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from fastapi import WebSocket
from hypothesis import given, settings
from hypothesis import strategies as st

import wsbench
import wsbench.client.connection
import wsbench.client.handshake
from wsbench.errors import InvalidTranscript
from wsbench.secrets import (
    MASK,
    looks_secret,
    mask_headers,
    mask_protocol_header,
    mask_subprotocol,
    mask_subprotocols,
    mask_text,
    mask_url,
)
from wsbench.transcript import Event, Transcript
from wsbench.widgets import Panel
from wsbench.widgets._svg import timeline_html

SUBPROTOCOL = "plantedSubprotocolValue"  # after the marker "access_token", as browsers pass tokens
CHOSEN = "Zx8Kq2Lm9Vp4Rt7Wn3Yb"  # random-looking: a server that picks the token itself
PASSWORD = "plantedPassw0rd"
USER_TOKEN = "a1B2c3D4e5F6g7H8i9J0"  # ws://TOKEN@host
FRAGMENT = "plantedFragmentTok"
HEADER = "plantedHeaderTok"
QUERY = "plantedQueryTok"
ERROR_TEXT = "plantedInAnErrorText"


@pytest.fixture
def planted(bench: wsbench.Bench) -> wsbench.Bench:
    """The bench with /echo (accepts the subprotocol access_token), /pick (the last subprotocol offered) and
    /raise-url (raises with a URL)."""

    @bench.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol="access_token" if "access_token" in offered else None)
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    @bench.websocket("/pick")
    async def pick(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol=websocket.scope["subprotocols"][-1])
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    @bench.websocket("/raise-url")
    async def raise_url(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError(f"cannot reach ws://svc:{PASSWORD}@db.internal/x?token={ERROR_TEXT}")

    return bench


def _port(bench: wsbench.Bench) -> int:
    return int(bench.url.rsplit(":", 1)[1])


def _talk(conn: wsbench.Connection, *, bench: bool = True) -> wsbench.Connection:
    """One message each way, then close (and for a *bench* connection, wait for the endpoint to return)."""
    conn.send_text("hi")
    assert conn.receive_text(timeout=5) == "hi"
    conn.close()
    if bench:
        conn.wait_endpoint()
    return conn


def _views(conn: wsbench.Connection, tmp_path: Path, *, unmasked: bool = False) -> dict[str, str]:
    """Every view and export of *conn*'s conversation, by name."""
    transcript = conn.transcript
    events = transcript.events
    panel = Panel(conn, live=False, unmasked=unmasked)
    try:
        views = {
            "str(transcript)": transcript.text(unmasked=unmasked),
            "records": json.dumps(transcript.records(unmasked=unmasked), ensure_ascii=False),
            "to_jsonl": transcript.to_jsonl(unmasked=unmasked),
            "saved": transcript.save(tmp_path / "t.jsonl", unmasked=unmasked).read_text(encoding="utf-8"),
            "timeline html": timeline_html(events, unmasked=unmasked),
            "panel log html": panel.log_view.value,
            "panel badge": panel.badge.value,
        }
    finally:
        panel.close()
    if not unmasked:
        views |= {"repr(conn)": repr(conn), "repr(events)": repr(events), "repr(panel)": repr(panel)}
    return views


def _leaks(views: dict[str, str], secret: str) -> list[str]:
    return [name for name, text in views.items() if secret in text]


def _pytest_source(conn: wsbench.Connection, tmp_path: Path, *, unmasked: bool) -> str:
    """The generated test's source; without unmasked, the InvalidTranscript's message instead."""
    path = tmp_path / "test_generated.py"
    try:
        conn.transcript.to_pytest(path, url="ws://example.invalid", unmasked=unmasked)
    except InvalidTranscript as exc:
        assert not path.exists()
        return str(exc)
    return path.read_text(encoding="utf-8")


# -- planted in a real conversation ---------------------------------------------------------------


def test_a_token_passed_as_a_subprotocol_is_masked_everywhere(planted, tmp_path: Path):
    """["access_token", TOKEN] (as browsers pass tokens): the token shows nowhere, and everywhere with unmasked=True."""
    conn = _talk(planted.connect("/echo", subprotocols=["access_token", SUBPROTOCOL]))
    assert conn.subprotocol == "access_token"
    views = _views(conn, tmp_path)
    views["bench transcript"] = planted.transcript.text()
    views["test source or error"] = _pytest_source(conn, tmp_path, unmasked=False)
    assert _leaks(views, SUBPROTOCOL) == []
    assert "Sec-WebSocket-Protocol: access_token, ***" in views["panel log html"]
    assert "subprotocols ['access_token', '***']" in views["test source or error"]
    shown = _views(conn, tmp_path, unmasked=True)
    assert _leaks(shown, SUBPROTOCOL) == ["records", "to_jsonl", "saved", "timeline html", "panel log html"]
    assert SUBPROTOCOL in _pytest_source(conn, tmp_path, unmasked=True)


def test_a_chosen_subprotocol_that_is_a_token_is_masked(planted, tmp_path: Path):
    """A server that picks a random-looking token as subprotocol: the client's open and the accept mask it."""
    conn = _talk(planted.connect("/pick", subprotocols=["chat", CHOSEN]))
    assert conn.subprotocol == CHOSEN  # kept as it is: only what is shown is masked
    views = _views(conn, tmp_path)
    views["test source or error"] = _pytest_source(conn, tmp_path, unmasked=False)
    assert _leaks(views, CHOSEN) == []
    assert "open (subprotocol '***')" in views["str(transcript)"]
    assert "websocket.accept subprotocol '***'" in views["str(transcript)"]
    assert CHOSEN in _views(conn, tmp_path, unmasked=True)["str(transcript)"]
    assert f"assert conn.subprotocol == {CHOSEN!r}".replace("'", '"') in _pytest_source(conn, tmp_path, unmasked=True)


#: What secrets.token_urlsafe(16) made once, which main showed in clear (about 1 token in 9 was missed).
URLSAFE_TOKEN = "7UdcIpnEWcFBtvQHAR-QoQ"


def test_a_token_urlsafe_chosen_as_subprotocol_is_masked(planted, tmp_path: Path):
    """A server that picks the secrets.token_urlsafe(16) offered: masked in every view and export."""
    conn = _talk(planted.connect("/pick", subprotocols=["chat", URLSAFE_TOKEN]))
    assert conn.subprotocol == URLSAFE_TOKEN
    views = _views(conn, tmp_path)
    views["bench transcript"] = planted.transcript.text()
    assert _leaks(views, URLSAFE_TOKEN) == []
    assert "open (subprotocol '***')" in views["str(transcript)"]


@pytest.mark.parametrize("user", [URLSAFE_TOKEN, "ada"])
def test_a_user_name_without_password_is_masked_in_the_invalid_url_error(planted, user: str):
    """ws://TOKEN@host/ (websockets refuses a user name without a password): the InvalidURL masks it,
    whatever it looks like."""
    error = _error(lambda: wsbench.connect(f"ws://{user}@127.0.0.1:{_port(planted)}/echo", open_timeout=5))
    assert isinstance(error, wsbench.InvalidURL)
    assert f"{user}@" not in str(error) and "***@127.0.0.1" in str(error)


def test_a_password_in_the_url_user_info_is_masked_everywhere(planted, tmp_path: Path):
    """ws://ada:PASSWORD@host/: the password (sent as Basic auth) shows nowhere, the user name stays."""
    conn = _talk(wsbench.connect(f"ws://ada:{PASSWORD}@127.0.0.1:{_port(planted)}/echo"), bench=False)
    [connect] = conn.transcript.filter(kind="connect")
    assert PASSWORD in connect.data  # the event keeps the real URL
    views = _views(conn, tmp_path)
    views["test source or error"] = _pytest_source(conn, tmp_path, unmasked=False)
    assert _leaks(views, PASSWORD) == []
    assert "ada:***@" in views["to_jsonl"] and "Authorization: ***" in views["panel log html"]
    assert "ws://ada:" + PASSWORD in _views(conn, tmp_path, unmasked=True)["to_jsonl"]


def test_a_header_token_is_masked_everywhere(planted, tmp_path: Path):
    """Authorization: Bearer TOKEN: masked in every view and export; the generated test needs unmasked=True."""
    conn = _talk(planted.connect("/echo", headers={"Authorization": f"Bearer {HEADER}"}))
    views = _views(conn, tmp_path)
    views["test source or error"] = _pytest_source(conn, tmp_path, unmasked=False)
    assert _leaks(views, HEADER) == []
    assert "header 'Authorization'" in views["test source or error"]
    assert _leaks(_views(conn, tmp_path, unmasked=True), HEADER)
    assert HEADER in _pytest_source(conn, tmp_path, unmasked=True)


def test_a_query_token_is_masked_everywhere(planted, tmp_path: Path):
    """?token=TOKEN: masked in every view, export and repr; in a generated test only with unmasked=True."""
    conn = _talk(planted.connect(f"/echo?token={QUERY}"))
    views = _views(conn, tmp_path)
    views["test source or error"] = _pytest_source(conn, tmp_path, unmasked=False)
    assert _leaks(views, QUERY) == []
    assert "token=***" in views["repr(conn)"]
    assert QUERY in _pytest_source(conn, tmp_path, unmasked=True)


def test_a_url_in_an_endpoint_error_is_masked(planted, tmp_path: Path):
    """An endpoint raising with a URL holding a password and a token: the "exception" event's text masks both."""
    conn = planted.connect("/raise-url")
    wait_until(lambda: conn.transcript.filter(kind="exception").events)
    conn.close()
    views = _views(conn, tmp_path)
    assert _leaks(views, PASSWORD) == [] and _leaks(views, ERROR_TEXT) == []
    assert "ws://svc:***@db.internal/x?token=***" in views["str(transcript)"]
    assert ERROR_TEXT in conn.transcript.text(unmasked=True)


def test_a_fragment_token_is_masked_in_the_transcript(planted, tmp_path: Path):
    """#access_token=TOKEN (OAuth's implicit flow): refused by websockets, and masked in what was recorded."""
    with pytest.raises(wsbench.InvalidURL):
        planted.connect(f"/echo#access_token={FRAGMENT}")
    transcript = planted.transcript
    shown = transcript.text() + transcript.to_jsonl() + repr(transcript.events) + timeline_html(transcript.events)
    assert FRAGMENT not in shown and "#access_token=***" in shown
    assert FRAGMENT in transcript.to_jsonl(unmasked=True)


# -- planted in an error's message (wsbench/client/handshake.py) ----------------------------------------


def _error(connect: Callable[[], object]) -> BaseException:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # insecure=True warns
        with pytest.raises(wsbench.WsbenchError) as info:
            connect()
    return info.value


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


def test_a_refused_connection_does_not_print_the_password(closed_port: int):
    """ConnectionRefused names the host without the user info's password."""
    error = _error(lambda: wsbench.connect(f"ws://ada:{PASSWORD}@127.0.0.1:{closed_port}/", open_timeout=5))
    assert isinstance(error, wsbench.ConnectionRefused)
    assert PASSWORD not in str(error) and "ada:***@127.0.0.1" in str(error)


def test_a_tls_failure_does_not_print_the_password(planted):
    """wss:// to a plain server: TLSFailure names the host without the password."""
    error = _error(lambda: wsbench.connect(f"wss://ada:{PASSWORD}@127.0.0.1:{_port(planted)}/echo", open_timeout=5))
    assert isinstance(error, wsbench.TLSFailure)
    assert PASSWORD not in str(error)


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        (f"ws://{USER_TOKEN}@127.0.0.1:{{port}}/echo", USER_TOKEN),  # websockets: username without password
        (f"ws://127.0.0.1:{{port}}/echo#access_token={FRAGMENT}", FRAGMENT),  # websockets: fragment meaningless
    ],
)
def test_websockets_invalid_uri_is_translated_masked(planted, url: str, secret: str):
    """websockets' InvalidURI prints the whole URL: wsbench's InvalidURL masks it."""
    error = _error(lambda: wsbench.connect(url.format(port=_port(planted)), open_timeout=5))
    assert isinstance(error, wsbench.InvalidURL)
    assert secret not in str(error) and MASK in str(error)


def test_proxy_credentials_are_not_printed(closed_port: int):
    """A proxy URL wsbench cannot use: the InvalidURL names it without its password."""
    error = _error(lambda: wsbench.connect("ws://h/", proxy=f"ftp://u:{PASSWORD}@127.0.0.1:{closed_port}"))
    assert isinstance(error, wsbench.InvalidURL)
    assert PASSWORD not in str(error) and "u:***@" in str(error)


def test_no_subprotocol_accepted_does_not_print_the_token(planted):
    """SubprotocolNotAccepted lists the offered subprotocols masked: ["token", TOKEN] shows as ['token', '***']."""
    error = _error(lambda: planted.connect("/echo", subprotocols=["token", SUBPROTOCOL]))
    assert isinstance(error, wsbench.SubprotocolNotAccepted)
    assert SUBPROTOCOL not in str(error) and "['token', '***']" in str(error)


def test_insecure_on_a_ws_url_does_not_print_the_token(closed_port: int):
    """insecure=True on ws://...?token=: the InvalidURL masks the token."""
    error = _error(lambda: wsbench.connect(f"ws://127.0.0.1:{closed_port}/?token={QUERY}", insecure=True))
    assert isinstance(error, wsbench.InvalidURL)
    assert QUERY not in str(error)


# -- the rules, as properties ---------------------------------------------------------------------

#: A planted secret: upper case and digits, so it cannot be a piece of the lower-case text around it.
_secret = st.text(st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"), min_size=8, max_size=30)
_plain = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz/-_."), max_size=12)


@settings(max_examples=200)
@given(password=_secret, token=_secret, fragment=_secret, path=_plain)
def test_no_secret_survives_mask_url(password: str, token: str, fragment: str, path: str):
    """A password, a ?token= value and a #access_token= value never survive mask_url, nor mask_text around it."""
    url = f"ws://user:{password}@h.example/{path}?x=1&token={token}#access_token={fragment}"
    for shown in (mask_url(url), mask_text(f"failed: {url} isn't valid"), mask_text(f"at user:{password}@h:1")):
        assert password not in shown and token not in shown and fragment not in shown


@settings(max_examples=200)
@given(token=_secret, marker=st.sampled_from(["access_token", "token", "Bearer", "Authorization", "jwt", "api-key"]))
def test_no_secret_survives_a_marker_in_the_subprotocols(token: str, marker: str):
    """The value after an auth marker is masked, in a list and in the Sec-WebSocket-Protocol header."""
    assert mask_subprotocols(["chat", marker, token]) == ["chat", marker, MASK]
    header = mask_headers([("Sec-WebSocket-Protocol", f"chat, {marker}, {token}")])
    assert header == [("Sec-WebSocket-Protocol", f"chat, {marker}, {MASK}")]
    assert token not in mask_subprotocol(f"{marker} {token}") and token not in mask_subprotocol(f"{marker}={token}")


@given(st.binary(min_size=16, max_size=48))
def test_random_tokens_in_hex_look_secret(raw: bytes):
    """A hex key of 8 bytes or more (a hash, a session id) looks like a credential, unless it is all digits."""
    assert looks_secret(raw.hex()) or raw.hex().isdigit()


def test_a_jwt_is_masked_as_a_subprotocol_a_fragment_and_in_text():
    """A JWT (eyJ...) is masked alone, as a fragment, and inside a message."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"
    assert mask_subprotocol(jwt) == MASK and mask_subprotocols([jwt]) == [MASK]
    assert mask_url(f"ws://h/p#{jwt}") == "ws://h/p#***"
    assert jwt not in mask_text(f"token {jwt} expired")


@pytest.mark.parametrize(
    "name",
    [
        "chat",
        "graphql-transport-ws",
        "graphql-ws",
        "v12.stomp",
        "wamp.2.json.batched",
        "mqtt",
        "ocpp2.0.1",
        "com.microsoft.signalr.json",
        "v5.channel.k8s.io",
        "SecWebSocketVersion",
        "MyCustomProtocolV2",
    ],
)
def test_ordinary_subprotocol_names_stay(name: str):
    """Subprotocol names in use (GraphQL, STOMP, WAMP, MQTT, OCPP, SignalR, Kubernetes ...) are not masked."""
    assert mask_subprotocols([name, "chat"]) == [name, "chat"]
    assert mask_protocol_header(f"{name}, chat") == f"{name}, chat"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("access_token, abc", "access_token, ***"),
        ("Bearer abc", "Bearer ***"),
        ("base64url.bearer.authorization.k8s.io.abc", "base64url.bearer.***"),
        ("chat,  token ,abc", "chat,  token ,***"),
        ("", ""),
    ],
)
def test_the_protocol_header_is_masked_value_by_value(value: str, shown: str):
    """Sec-WebSocket-Protocol keeps its spacing and every value that is not a credential."""
    assert mask_protocol_header(value) == shown


def test_user_info_rules():
    """The password is always masked; a user name alone always (it is how tokens travel: ws://TOKEN@host),
    one with a password only when it looks like a credential; #top stays."""
    assert mask_url("ws://ada:pw@h/p") == "ws://ada:***@h/p"
    assert mask_url("ws://ada@h/p") == "ws://***@h/p"
    assert mask_url("ws://@h/p") == "ws://@h/p"  # nothing to hide
    assert mask_url(f"ws://{USER_TOKEN}@h/p") == "ws://***@h/p"
    assert mask_url(f"ws://{USER_TOKEN}:pw@h/p") == "ws://***:***@h/p"
    assert mask_url("http://u:p@proxy:3128") == "http://u:***@proxy:3128"
    assert mask_url("ws://h/p#top") == "ws://h/p#top"


def test_events_mask_the_offered_and_the_chosen_subprotocol():
    """Event.masked() covers the Sec-WebSocket-Protocol header, the client's open and the server's accept."""
    connect = Event(1, 0.0, "client", "connect", 1, "ws://h/p", headers=(("Sec-WebSocket-Protocol", f"jwt, {QUERY}"),))
    opened = Event(2, 0.0, "client", "open", 1, detail=CHOSEN)
    accept = Event(3, 0.0, "server", "websocket.accept", 1, detail=f"subprotocol {CHOSEN!r}")
    transcript = Transcript([connect, opened, accept])
    shown = transcript.text() + transcript.to_jsonl() + repr(transcript.events)
    assert QUERY not in shown and CHOSEN not in shown
    assert accept.masked().detail == "subprotocol '***'" and opened.masked().detail == MASK
    assert connect.masked().headers == (("Sec-WebSocket-Protocol", "jwt, ***"),)
