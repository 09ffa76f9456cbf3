"""Recording on arrival: websockets' client connections, subclassed so that each message
is handed to its owner the moment websockets' reader parses it (instead of waiting in
websockets' queue for ``recv()``), and the handshake and the end are reported as they
happen. The owner (a :class:`~wsbench.client.connection.Connection`) records and queues;
nothing received is lost, also when a ``receive_*`` call raises.

This is the one place that overrides websockets' internals (``handshake``,
``process_event``, ``recv_events``, ``connection_lost``); :class:`Owner` is what it needs
from the other side.
"""

from __future__ import annotations

from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection as AsyncClientConnection
from websockets.frames import DATA_OPCODES, Frame, Opcode
from websockets.sync.client import ClientConnection as SyncClientConnection

from .messages import Message

__all__ = ["Owner", "RecordingAsyncConnection", "RecordingSyncConnection"]


class Owner(Protocol):
    """What a recording connection reports to (every call may come from websockets' reader)."""

    def requesting(self, headers: tuple[tuple[str, str], ...]) -> None:
        """The handshake request is about to be written, with these headers."""

    def redirected(self, status: int, location: str) -> None:
        """The server answered the handshake with a 3xx; websockets follows it."""

    def opened(self, ws: Any, response: Any) -> None:
        """The handshake succeeded (before any message is delivered)."""

    def deliver(self, message: Message) -> None:
        """One whole message arrived."""

    def ended(self, ws: Any) -> None:
        """The connection is over (closing handshake done, or dropped)."""


class _Recording:
    """For websockets' client connections: hand each message to the wsbench Connection the
    moment it arrives, instead of queueing it for ``recv()``; report the end of the connection."""

    _owner: Owner
    _fragments: list[Frame]
    response: Any
    protocol: Any

    def handshake(self, *args: Any, **kwargs: Any) -> Any:
        # Record "connect" with the request headers as they go out (websockets adds Host,
        # Sec-WebSocket-Key ... to ours), just before the request is written; once, not again
        # for each redirect websockets follows.
        send_request, owner = self.protocol.send_request, self._owner

        def recorded(request: Any) -> None:
            owner.requesting(tuple(request.headers.raw_items()))
            send_request(request)

        self.protocol.send_request = recorded
        return super().handshake(*args, **kwargs)  # type: ignore[misc]  # a coroutine for the asyncio client

    def process_event(self, event: Any) -> None:
        if self.response is None and 300 <= getattr(event, "status_code", 0) < 400:
            # websockets follows redirects itself, without chaining the 3xx to a later failure
            self._owner.redirected(event.status_code, event.headers.get("Location", ""))
        if self.response is None and self.protocol.handshake_exc is None:
            # Recorded here, before websockets wakes the caller and before any message is
            # delivered, so "open" comes first in every view of the transcript.
            self._owner.opened(self, event)
        if self.response is None or not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)  # type: ignore[misc]  # handshake response, pings, pongs, close
            return
        if event.fin and not self._fragments:  # the usual case: a message in one frame
            opcode, data = event.opcode, event.data
        else:
            self._fragments.append(event)
            if not event.fin:
                return
            frames, self._fragments = self._fragments, []
            opcode, data = frames[0].opcode, b"".join(frame.data for frame in frames)
        if opcode is not Opcode.TEXT:
            self._owner.deliver(bytes(data))
            return
        try:
            text = str(data, "utf-8")
        except UnicodeDecodeError:  # RFC 6455 §8.1: fail the connection with 1007
            self._fail_connection(1007, "invalid UTF-8 in a text message")
            return
        self._owner.deliver(text)

    def _fail_connection(self, code: int, reason: str) -> None:
        raise NotImplementedError


class RecordingSyncConnection(_Recording, SyncClientConnection):
    """websockets' sync client connection; its reader thread hands messages over."""

    def __init__(self, *args: Any, owner: Owner, **kwargs: Any) -> None:
        self._owner = owner  # set first: the reader thread starts inside __init__
        self._fragments = []
        super().__init__(*args, **kwargs)

    def _fail_connection(self, code: int, reason: str) -> None:
        with self.protocol_mutex:
            self.protocol.fail(code, reason)
            self.send_data()

    def recv_events(self) -> None:
        try:
            super().recv_events()
        finally:
            self._owner.ended(self)


class RecordingAsyncConnection(_Recording, AsyncClientConnection):
    """websockets' asyncio client connection; ``data_received`` hands messages over."""

    def __init__(self, *args: Any, owner: Owner, **kwargs: Any) -> None:
        self._owner = owner
        self._fragments = []
        super().__init__(*args, **kwargs)

    def _fail_connection(self, code: int, reason: str) -> None:
        self.protocol.fail(code, reason)
        self.send_data()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._owner.ended(self)
