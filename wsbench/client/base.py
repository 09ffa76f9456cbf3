"""What a connection is without doing any I/O: its state, how it records what the
recording connection reports (:class:`~.recording.Owner`), the errors it raises and how it
shows itself. :class:`~.connection.Connection` adds the verbs (open, send, receive, ping,
close; sync and async) on top, as httpx's ``Client`` and ``AsyncClient`` sit on ``BaseClient``.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import websockets

from .. import loop
from .._gate import Gate
from ..codes import describe
from ..errors import BenchError, ConnectionClosed, SubprotocolNotAccepted, Timeout
from ..secrets import display_url, mask_subprotocols
from ..transcript import ConnectionView, Transcript, record, record_message, stores
from .bounds import check_max_queue, check_timeout
from .inbox import Inbox
from .messages import Message
from .options import Options
from .reconnect import RECONNECT_CODES, delays
from .recording import RecordingSyncConnection

if TYPE_CHECKING:
    from .._service import Pairing

__all__ = ["ConnectionBase"]

_keys = itertools.count(1 << 20)  # connection keys; bench connections use their TCP port instead


class ConnectionBase:
    """A connection's state and record, with no I/O (see the module docstring)."""

    url: str
    _options: Options

    def _start(self, pairing: Pairing | None) -> None:
        options = self._options
        self.timeout = options.timeout
        self.auto_reconnect = options.auto_reconnect
        self.name: str | None = options.name  #: what every view calls it (None: unnamed)
        self._key = next(_keys)
        source = pairing.transcript if pairing is not None else None
        if source is not None and source._keeps():  # a view of the bench's log: each event recorded once
            self._view: ConnectionView | None = source._connection_view(self._key)
            self.transcript: Transcript = self._view
        else:
            self._view, self.transcript = None, Transcript()
        self.subprotocol: str | None = None
        self.response_headers: dict[str, str] = {}
        self._subprotocols = list(options.subprotocols) if options.subprotocols else None
        self._pairing = pairing
        self._open_timeout = options.open_timeout
        self._close_timeout = options.close_timeout
        self._connect_kwargs = options.websockets_kwargs()
        self._sinks = stores(self.transcript, *((source,) if source is not None else ()))
        self._sink = self._sinks[0] if len(self._sinks) == 1 else None  # the hot path's one store
        self._user_closed = False  # close() was called: never reconnect after that
        self._connect_noted = False  # "connect" is recorded once per TCP connection
        self._mode = ""  # "sync" (open) or "async" (aopen): how a reconnect reopens
        self._sync: RecordingSyncConnection | None = None  # set by open()
        self._async: Any = None  # a websockets asyncio ClientConnection, set by aopen()
        self._home: asyncio.AbstractEventLoop | None = None  # aopen(): the loop it lives on
        self._home_thread: int | None = None
        self._inbox = Inbox(*check_max_queue(options.max_queue))
        self._ws: Any = None  # the recording connection that opened (set by opened())
        self._addresses: tuple[Any, Any] = (None, None)
        self._redirect: tuple[int, str] | None = None  # the last 3xx of the handshake, if any
        self._endpoint_seen, self._endpoint_ended = 0, False  # how far wait_endpoint has read, and what it found

    def _requesting(self, headers: tuple[tuple[str, str], ...]) -> None:
        """Record "connect" with the request headers as they go out (websockets adds Host,
        Sec-WebSocket-Key ... to ours); once, not again for each redirect websockets follows."""
        if not self._connect_noted:
            self._connect_noted = True
            self._note("connect", data=self.url, headers=headers)

    def _redirected(self, status: int, location: str) -> None:
        """Keep the last 3xx: websockets follows redirects without chaining them to a later failure."""
        self._redirect = (status, location)

    def _opened(self, ws: Any, response: Any) -> None:
        """The handshake succeeded (called from the reader, before any message)."""
        self._ws = ws
        self._inbox.attach(*ws.flow_control())  # before any message: the inbox pauses this reader
        self.subprotocol = ws.subprotocol
        self.response_headers = {k.lower(): v for k, v in response.headers.raw_items()}
        try:
            self._addresses = (ws.local_address, ws.remote_address)
        except OSError:  # reset together with the 101 response: the socket is no longer connected
            self._addresses = (None, None)
        self._inbox.move("connecting", "open")  # unless the peer closed already
        self._note("open", detail=self.subprotocol)

    def _no_subprotocol(self) -> SubprotocolNotAccepted:
        return SubprotocolNotAccepted(
            f"the server accepted none of the subprotocols {mask_subprotocols(self._subprotocols or [])}; "
            "offer one it supports, or check its accept(subprotocol=...)"
        )

    def _deliver(self, message: Message) -> None:
        """Record and queue one message, as it arrives (reader thread or task)."""
        if self._sink is not None:  # _note_message("receive", message), a call less per message
            record_message(self._sink, "client", "receive", self._key, message, self.name)
        else:
            self._note("receive", data=message)
        self._inbox.put(message, self._home)  # an aconnect() connection's reader runs on its home loop

    def _ended(self, ws: Any, closed: websockets.ConnectionClosed, note: str) -> None:
        """Record the end as it went on the wire (once: when the client failed the connection or
        the closing handshake completed, even if the server keeps TCP open; else when TCP closed
        or was aborted, *note* saying why), and wake every waiter."""
        if ws is not self._ws:
            return  # the handshake failed (_failed() tells that story), or an earlier connection
        sent, rcvd = closed.sent, closed.rcvd
        failed = sent is not None and rcvd is None and not self._user_closed  # the client failed it (1002, 1007 ...)
        # the code the peer closed with, 1006 if it sent none; when the client failed the connection, the
        # code it sent: that is how the connection ended (websockets' close_code would say 1006)
        code = int(rcvd.code) if rcvd else int(sent.code) if failed and sent else 1006  # a plain int, not an enum
        reason = rcvd.reason if rcvd else sent.reason if failed and sent else ""
        by = "server" if rcvd and (sent is None or closed.rcvd_then_sent) else "client" if sent else None
        detail = f"{closed}; {note}" if note else str(closed)
        self._note("closed", code=code, reason=reason, detail=detail, by=by)
        self._finish(
            ConnectionClosed(
                f"connection closed: {detail}",
                code=code,
                reason=reason,
                sent_code=int(sent.code) if sent else None,
                sent_reason=sent.reason if sent else "",
            )
        )

    def _finish(self, closed: ConnectionClosed) -> None:
        self._inbox.finish(closed)

    def _note(self, kind: str, **fields: Any) -> None:
        record(*self._sinks, side="client", kind=kind, conn=self._key, name=self.name, **fields)

    def _note_message(self, kind: str, data: Message) -> None:
        """Record a message sent or received (the hot path: one transcript, as a bench connection has)."""
        if self._sink is not None:
            record_message(self._sink, "client", kind, self._key, data, self.name)
        else:
            self._note(kind, data=data)

    @property
    def state(self) -> str:
        """ "new", "connecting", "open", "closing" or "closed"."""
        return self._inbox.state

    def _set_key(self, key: int) -> None:
        """This connection goes by *key* from now on (a reconnect, or the TCP port it paired with)."""
        self._key = key
        if self._view is not None:
            self._view.follow(key)

    @property
    def key(self) -> int:
        """The ``conn`` of this connection's events in transcripts (a bench connection's TCP port)."""
        return self._key

    @property
    def close_code(self) -> int | None:
        """The code the connection ended with, or None while open: the peer's close code (1006 if it
        dropped without a close frame), or the code the client sent when it failed the connection
        (1002, 1007, 1009 ...: it reads nothing after that)."""
        closed = self._inbox.closed
        return closed.code if closed else None

    @property
    def close_reason(self) -> str | None:
        """The reason the peer closed with, or None while open."""
        closed = self._inbox.closed
        return closed.reason if closed else None

    @property
    def local_address(self) -> Any:
        """This end's (host, port), or None before the handshake; the port changes every run."""
        return self._addresses[0]

    @property
    def remote_address(self) -> Any:
        """The server's (host, port), or None before the handshake; the port changes every run."""
        return self._addresses[1]

    def wait_endpoint(self, timeout: float | None = None) -> None:
        """Wait until the bench endpoint serving this connection has returned or raised.

        The client's calls return when the *client* is done; the endpoint may still be
        running its last lines. Call this before printing what the endpoint recorded. Raises
        Timeout when it still runs after *timeout*, BenchError for a connection not to a Bench.
        """
        timeout = self._bound(timeout)
        if self._endpoint_gate().wait(self._endpoint_done, timeout) is None:
            raise Timeout(f"wait_endpoint: the endpoint serving {self} is still running after {timeout} s")

    async def await_endpoint(self, timeout: float | None = None) -> None:
        """Coroutine form of :meth:`wait_endpoint`; raises as it does."""
        timeout = self._bound(timeout)
        if await self._endpoint_gate().await_(self._endpoint_done, timeout) is None:
            raise Timeout(f"await_endpoint: the endpoint serving {self} is still running after {timeout} s")

    def _endpoint_gate(self) -> Gate:
        if self._pairing is None:
            raise BenchError(f"{self} is not a connection to a Bench: there is no endpoint to wait for")
        return self._pairing.endpoint_ended

    def _endpoint_done(self) -> bool:
        """The server side of this connection has ended (its "return" or "exception" is recorded).

        Reads only what was recorded since the last look: the check runs on every endpoint end
        of the bench, and a long transcript's older events are on disk."""
        new = self.transcript.since(self._endpoint_seen)
        self._endpoint_seen += len(new)
        self._endpoint_ended = self._endpoint_ended or any(
            e.side == "server" and e.kind in ("return", "exception") for e in new
        )
        return self._endpoint_ended

    def _bound(self, timeout: Any) -> float:
        """A call's *timeout*, checked, or the connection's when None."""
        return self.timeout if timeout is None else check_timeout(timeout, "timeout", none=False)  # type: ignore[return-value]

    def __repr__(self) -> str:
        closed = f" {describe(self.close_code, self.close_reason or '')}" if self._inbox.closed else ""
        return f"<Connection {self._display_url()} {self.state}{closed}>"

    def _display_url(self) -> str:
        return display_url(self.url)

    def _closed_error(self, action: str) -> ConnectionClosed:
        closed = self._inbox.closed
        if closed is None:
            return ConnectionClosed(f"cannot {action}: {self} is {self.state}", code=1006, reason="")
        how = str(closed).split(": ", 1)[-1]
        return ConnectionClosed(
            f"cannot {action}: the connection is closed: close() was called ({how})"
            if self._user_closed
            else f"cannot {action}: {how}",
            code=closed.code,
            reason=closed.reason,
            sent_code=closed.sent_code,
            sent_reason=closed.sent_reason,
        )

    def _timeout(self, what: str, timeout: float) -> Timeout:
        blocked = self._pairing.blocked_since(time.time() - timeout) if self._pairing is not None else None
        if blocked:  # the peer is not to blame: the bench could not run
            return Timeout(f"{what}: no message from {self} within {timeout} s: {blocked}")
        return Timeout(
            f"{what}: no message from {self} within {timeout} s; nothing was lost, call again to keep waiting"
        )

    def _no_pong(self, timeout: float) -> Timeout:
        blocked = self._pairing.blocked_since(time.time() - timeout) if self._pairing is not None else None
        return Timeout(f"ping: no pong from {self} within {timeout} s" + (f": {blocked}" if blocked else ""))

    def _pop(self, kind: type | None, what: str, parse: Callable[[Message], Any] | None = None) -> Any:
        return self._inbox.pop(kind, what, parse, self._closed_error)

    def _close_note(self) -> str:
        return f"no closing handshake within close_timeout {self._close_timeout} s: TCP aborted"

    def _not_on_home(self, what: str) -> None:
        """Refuse to block a thread whose loop must run for the call to finish."""
        if self._home_thread == threading.get_ident() and self._mode == "async":  # a sync one lives on the bench loop
            raise RuntimeError(
                f"{what}: {self} was opened with aconnect() and lives on this thread's event loop, "
                f"so blocking here would deadlock; use the coroutine: await conn.a{what}(...)"
            )
        _not_on_server_loop(what)

    def _revivable(self) -> bool:
        """True if the connection dropped (not closed by us) in a way worth reconnecting after."""
        closed = self._inbox.closed
        return (
            self.auto_reconnect > 0 and not self._user_closed and closed is not None and closed.code in RECONNECT_CODES
        )

    def _delays(self) -> list[float]:
        return delays(self.auto_reconnect, self._options.backoff)

    def _gave_up(self, what: str, last: BaseException | None) -> ConnectionClosed:
        return ConnectionClosed(
            f"cannot {what}: {self} dropped and {self.auto_reconnect} reconnect attempts failed; last: {last}",
            code=1006,
            reason="",
        )


def _not_on_server_loop(what: str) -> None:
    """A blocking call on the background loop's thread (inside an endpoint) would freeze the server."""
    if loop.in_loop_thread():
        raise RuntimeError(
            f"{what}: a blocking call on the wsbench server's loop (inside an endpoint?) would deadlock; "
            f"use the coroutine: await conn.a{what}(...)"
        )
