"""Tests for wsbench.states: the StateMirror on its own, and step by step against a real
starlette.websockets.WebSocket driven by scripted ASGI messages (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from wsbench import states
from wsbench.states import StateMirror

SCOPE = {
    "type": "websocket",
    "path": "/ws",
    "raw_path": b"/ws",
    "query_string": b"",
    "headers": [],
    "subprotocols": [],
    "extensions": {"websocket.http.response": {}},
}


class Pair:
    """A real WebSocket and a StateMirror fed the same ASGI messages.

    The mirror sits where wsbench's recorder sits: between the server's receive/send
    and the WebSocket, so it sees each message as it passes (see wsbench/server.py).
    """

    def __init__(self, incoming: list[dict]) -> None:
        self.incoming = list(incoming)
        self.outgoing: list[dict] = []
        self.fail_sends = False
        self.mirror = StateMirror()
        self.websocket = WebSocket(dict(SCOPE), self._receive, self._send)

    async def _server_receive(self) -> dict:
        return self.incoming.pop(0)

    async def _server_send(self, message: dict) -> None:
        if self.fail_sends:
            raise ConnectionResetError("peer gone")
        self.outgoing.append(message)

    async def _receive(self) -> dict:
        message = await self._server_receive()
        self.mirror.received(message["type"])
        return message

    async def _send(self, message: dict) -> None:
        self.mirror.sent(message)
        try:
            await self._server_send(message)
        except OSError:
            self.mirror.send_failed()
            raise

    def states(self) -> tuple[str, str]:
        """The real object's (client_state, application_state) names."""
        return self.websocket.client_state.name, self.websocket.application_state.name

    def mirrored(self) -> tuple[str, str]:
        """The mirror's (client_state, application_state)."""
        return self.mirror.client_state, self.mirror.application_state


def _drive(pair: Pair, steps: list[Callable[[WebSocket], Awaitable[object]]]) -> list[tuple[str, str]]:
    """Run each step on the real WebSocket, asserting after each that the mirror agrees; return the states."""
    seen = [pair.states()]
    assert pair.mirrored() == pair.states()

    async def run() -> None:
        for step in steps:
            await step(pair.websocket)
            assert pair.mirrored() == pair.states(), step
            seen.append(pair.states())

    asyncio.run(run())
    return seen


CONNECT = {"type": "websocket.connect"}
TEXT = {"type": "websocket.receive", "text": "hi"}
BYTES = {"type": "websocket.receive", "bytes": b"\x00"}
DISCONNECT = {"type": "websocket.disconnect", "code": 1001, "reason": ""}


# -- the mirror on its own ----------------------------------------------------


def test_state_names_are_starlettes():
    """The mirror's state names are exactly the members of Starlette's WebSocketState."""
    names = {states.CONNECTING, states.CONNECTED, states.DISCONNECTED, states.RESPONSE}
    assert names == set(WebSocketState.__members__)


def test_mirror_starts_connecting():
    """A new mirror has both states CONNECTING."""
    assert (StateMirror().client_state, StateMirror().application_state) == ("CONNECTING", "CONNECTING")


def test_connect_makes_client_connected():
    """Receiving websocket.connect makes client_state CONNECTED and leaves application_state."""
    mirror = StateMirror()
    mirror.received("websocket.connect")
    assert (mirror.client_state, mirror.application_state) == ("CONNECTED", "CONNECTING")


def test_receive_changes_nothing():
    """Receiving websocket.receive leaves both states."""
    mirror = StateMirror()
    mirror.received("websocket.connect")
    mirror.received("websocket.receive")
    assert (mirror.client_state, mirror.application_state) == ("CONNECTED", "CONNECTING")


def test_disconnect_makes_client_disconnected():
    """Receiving websocket.disconnect makes client_state DISCONNECTED only."""
    mirror = StateMirror()
    mirror.received("websocket.connect")
    mirror.sent({"type": "websocket.accept"})
    mirror.received("websocket.disconnect")
    assert (mirror.client_state, mirror.application_state) == ("DISCONNECTED", "CONNECTED")


def test_accept_makes_application_connected():
    """Sending websocket.accept makes application_state CONNECTED."""
    mirror = StateMirror()
    mirror.received("websocket.connect")
    mirror.sent({"type": "websocket.accept", "subprotocol": None})
    assert mirror.application_state == "CONNECTED"


def test_send_changes_nothing():
    """Sending websocket.send leaves both states."""
    mirror = StateMirror()
    mirror.received("websocket.connect")
    mirror.sent({"type": "websocket.accept"})
    mirror.sent({"type": "websocket.send", "text": "x"})
    assert (mirror.client_state, mirror.application_state) == ("CONNECTED", "CONNECTED")


@pytest.mark.parametrize("accept_first", [True, False])
def test_close_makes_application_disconnected(accept_first):
    """Sending websocket.close makes application_state DISCONNECTED, before or after accept."""
    mirror = StateMirror()
    mirror.received("websocket.connect")
    if accept_first:
        mirror.sent({"type": "websocket.accept"})
    mirror.sent({"type": "websocket.close", "code": 1000, "reason": ""})
    assert (mirror.client_state, mirror.application_state) == ("CONNECTED", "DISCONNECTED")


def test_denial_response_states():
    """response.start gives RESPONSE; a body with more_body stays there; the last body gives DISCONNECTED."""
    mirror = StateMirror()
    mirror.received("websocket.connect")
    mirror.sent({"type": "websocket.http.response.start", "status": 403, "headers": []})
    assert mirror.application_state == "RESPONSE"
    mirror.sent({"type": "websocket.http.response.body", "body": b"no", "more_body": True})
    assert mirror.application_state == "RESPONSE"
    mirror.sent({"type": "websocket.http.response.body", "body": b"pe"})
    assert mirror.application_state == "DISCONNECTED"


def test_send_failed_makes_application_disconnected():
    """send_failed() makes application_state DISCONNECTED."""
    mirror = StateMirror()
    mirror.received("websocket.connect")
    mirror.sent({"type": "websocket.accept"})
    mirror.sent({"type": "websocket.send", "text": "x"})
    mirror.send_failed()
    assert (mirror.client_state, mirror.application_state) == ("CONNECTED", "DISCONNECTED")


# -- against the real Starlette WebSocket -------------------------------------


def test_accept_receive_close_matches_starlette():
    """accept, receive text and bytes, send, close: the mirror matches the real WebSocket at every step."""
    pair = Pair([CONNECT, TEXT, BYTES])
    seen = _drive(
        pair,
        [
            lambda ws: ws.accept(),
            lambda ws: ws.receive_text(),
            lambda ws: ws.receive_bytes(),
            lambda ws: ws.send_text("echo"),
            lambda ws: ws.close(4001, "bye"),
        ],
    )
    assert seen[1] == ("CONNECTED", "CONNECTED")
    assert seen[-1] == ("CONNECTED", "DISCONNECTED")
    assert [m["type"] for m in pair.outgoing] == ["websocket.accept", "websocket.send", "websocket.close"]


def test_close_before_accept_matches_starlette():
    """receive the connect, then close without accepting: the mirror matches the real WebSocket."""
    seen = _drive(Pair([CONNECT]), [lambda ws: ws.receive(), lambda ws: ws.close(4003, "not you")])
    assert seen == [("CONNECTING", "CONNECTING"), ("CONNECTED", "CONNECTING"), ("CONNECTED", "DISCONNECTED")]


def test_close_before_connect_matches_starlette():
    """close before even receiving websocket.connect: the mirror matches the real WebSocket."""
    seen = _drive(Pair([CONNECT]), [lambda ws: ws.close()])
    assert seen[-1] == ("CONNECTING", "DISCONNECTED")


def test_raw_denial_response_matches_starlette():
    """http.response.start, a body with more_body True, one with more_body False: the mirror matches."""
    seen = _drive(
        Pair([CONNECT]),
        [
            lambda ws: ws.receive(),
            lambda ws: ws.send({"type": "websocket.http.response.start", "status": 403, "headers": []}),
            lambda ws: ws.send({"type": "websocket.http.response.body", "body": b"no", "more_body": True}),
            lambda ws: ws.send({"type": "websocket.http.response.body", "body": b"pe", "more_body": False}),
        ],
    )
    assert [application for _, application in seen] == [
        "CONNECTING",
        "CONNECTING",
        "RESPONSE",
        "RESPONSE",
        "DISCONNECTED",
    ]


def test_send_denial_response_matches_starlette():
    """send_denial_response(PlainTextResponse) ends DISCONNECTED in both the mirror and the real WebSocket."""
    pair = Pair([CONNECT])
    seen = _drive(
        pair,
        [
            lambda ws: ws.receive(),
            lambda ws: ws.send_denial_response(PlainTextResponse("go away", status_code=401)),
        ],
    )
    assert seen[-1] == ("CONNECTED", "DISCONNECTED")
    assert [m["type"] for m in pair.outgoing] == ["websocket.http.response.start", "websocket.http.response.body"]


def test_client_disconnect_matches_starlette():
    """The client disconnects after accept: client DISCONNECTED, application still CONNECTED, in both."""
    pair = Pair([CONNECT, TEXT, DISCONNECT])

    async def receive_until_disconnect(ws: WebSocket) -> None:
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()
        assert info.value.code == 1001

    seen = _drive(pair, [lambda ws: ws.accept(), lambda ws: ws.receive_text(), receive_until_disconnect])
    assert seen[-1] == ("DISCONNECTED", "CONNECTED")


def test_close_after_client_disconnect_matches_starlette():
    """Closing after the client disconnected leaves both sides DISCONNECTED, in both."""
    seen = _drive(
        Pair([CONNECT, DISCONNECT]),
        [
            lambda ws: ws.accept(),
            lambda ws: ws.receive(),
            lambda ws: ws.close(),
        ],
    )
    assert seen[-1] == ("DISCONNECTED", "DISCONNECTED")


def test_send_on_dead_socket_after_accept_matches_starlette():
    """A send that hits OSError after accept: Starlette and the mirror both say application DISCONNECTED."""
    pair = Pair([CONNECT])

    async def failing_send(ws: WebSocket) -> None:
        pair.fail_sends = True
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.send_text("lost")
        assert info.value.code == 1006

    seen = _drive(pair, [lambda ws: ws.accept(), failing_send])
    assert seen[-1] == ("CONNECTED", "DISCONNECTED")


@pytest.mark.parametrize(
    ("message", "real_state"),
    [
        ({"type": "websocket.accept"}, "CONNECTED"),
        ({"type": "websocket.http.response.start", "status": 403, "headers": []}, "RESPONSE"),
    ],
)
def test_send_on_dead_socket_before_accept_matches_starlette(message, real_state):
    """An OSError on accept or response start: Starlette keeps the state it set; the mirror must agree."""
    pair = Pair([CONNECT])

    async def failing_send(ws: WebSocket) -> None:
        pair.fail_sends = True
        with pytest.raises(OSError):
            await ws.send(message)

    seen = _drive(pair, [lambda ws: ws.receive(), failing_send])
    assert seen[-1] == ("CONNECTED", real_state)
