"""Starlette's ``WebSocket`` state machine, mirrored from the ASGI messages alone.

The recorder sits between uvicorn and the app, so it never holds the endpoint's
``WebSocket`` object; it replays the transitions of ``starlette.websockets.WebSocket``
(``receive`` / ``send``) to show ``client_state`` and ``application_state`` after each
message. ``tests/test_states.py`` checks the mirror against the real object.
Pure logic: no I/O, no third-party imports.
"""

from __future__ import annotations

__all__ = ["StateMirror"]

CONNECTING, CONNECTED, DISCONNECTED, RESPONSE = "CONNECTING", "CONNECTED", "DISCONNECTED", "RESPONSE"


class StateMirror:
    """``client_state`` and ``application_state`` as a Starlette WebSocket would hold them."""

    __slots__ = ("_before", "application_state", "client_state")

    def __init__(self) -> None:
        self.client_state = CONNECTING
        self.application_state = CONNECTING
        self._before = CONNECTING  # application_state before the last sent message

    def received(self, message_type: str) -> None:
        """Apply an ASGI message the app received (``websocket.connect`` / ``.receive`` / ``.disconnect``)."""
        if message_type == "websocket.connect":
            self.client_state = CONNECTED
        elif message_type == "websocket.disconnect":
            self.client_state = DISCONNECTED

    def sent(self, message: dict) -> None:
        """Apply an ASGI message the app sent."""
        kind = message.get("type")
        self._before = self.application_state
        if kind == "websocket.accept" and self.application_state == CONNECTING:
            self.application_state = CONNECTED
        elif kind == "websocket.close":
            self.application_state = DISCONNECTED
        elif kind == "websocket.http.response.start":
            self.application_state = RESPONSE
        elif kind == "websocket.http.response.body" and not message.get("more_body", False):
            self.application_state = DISCONNECTED

    def send_failed(self) -> None:
        """A send hit a dead socket (OSError): Starlette marks the app side DISCONNECTED,
        but only when it was CONNECTED; otherwise it keeps the state it set before sending."""
        if self._before == CONNECTED:
            self.application_state = DISCONNECTED
