"""The client connection: Starlette's method names over a real ``websockets`` connection.

* Sync methods mirror Starlette's ``WebSocket`` names (``send_text``, ``receive_json``,
  ``iter_text``, ``close(code, reason)``); each has a coroutine twin prefixed with ``a``
  (``asend_text``, ``areceive_json``, ``aiter_text``, ``aclose``).
* :func:`connect` builds on ``websockets``' sync client: the caller's thread writes,
  a websockets thread reads. :func:`aconnect` builds on its asyncio client, on the
  caller's running loop. Each is what a user of ``websockets`` would write by hand, so
  wsbench adds little on top (``benchmarks/echo.py``); a design that moved every call
  to the background loop measured at 0.7-0.8x of them. The server stays on the
  background loop (:mod:`wsbench.loop`) either way, so a blocked cell never stalls it.
* Whichever reads (websockets' reader thread, or ``data_received`` on the loop), every
  message is recorded and queued the moment it arrives (:mod:`.recording`), so nothing
  received is lost, also when a ``receive_*`` call raises; the queue (:mod:`.inbox`)
  serves threads and coroutines on any loop alike.
* Options are checked and kept once (:class:`.handshake.Options`); the message rules
  live in :mod:`.messages`, the reconnect policy in :mod:`.reconnect`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import websockets
from websockets.asyncio.client import connect as async_connect
from websockets.sync.client import connect as sync_connect

from .. import loop
from .._gate import Gate
from ..codes import check_close, describe
from ..errors import (
    BenchError,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    SubprotocolNotAccepted,
    Timeout,
)
from ..secrets import display_url, mask_subprotocols
from ..transcript import Transcript, record
from .bounds import MAX_QUEUE, check_max_queue, check_timeout
from .handshake import PLAIN_CONNECTION, Options, check_url, connect_error
from .inbox import Inbox
from .messages import Message, check_encodable, encode_json, json_kind, parse_json, require
from .reconnect import RECONNECT_CODES, delays, worth_retrying
from .recording import RecordingAsyncConnection, RecordingSyncConnection

if TYPE_CHECKING:
    from .._service import Pairing
    from ..widgets import Panel, Timeline

__all__ = ["Connection", "aconnect", "connect"]

_keys = itertools.count(1 << 20)  # connection keys; bench connections use their TCP port instead


class Connection:
    """A client WebSocket connection, opened with :func:`connect` / ``bench.connect``
    (or :func:`aconnect` / ``bench.aconnect`` for a connection on the running event loop).

    Every ``receive_*`` / ``iter_*`` waits at most *timeout* seconds (default: the
    connection's ``timeout``), so a cell never hangs; a KeyboardInterrupt while
    waiting cancels that call only. Every other wait is bounded too: a send waits at
    most ``timeout`` for a server that does not read (then the connection is aborted
    and the send raises Timeout), ``close()`` at most ``close_timeout`` (then TCP is
    aborted, and the transcript's "closed" event says so), the handshake at most
    ``open_timeout``. Timeouts are finite numbers of seconds >= 0.

    ``max_queue``: how many received messages may wait unread before wsbench stops
    reading the socket, so that TCP slows the server down (websockets' flow control):
    16 by default, reading again once 4 are left; ``(high, low)`` sets both, None never
    stops. Whatever is read is recorded and queued; nothing is dropped.

    TLS: ``ca_file`` trusts a CA bundle, ``cert_file`` / ``key_file`` present a client
    certificate, ``insecure=True`` skips verification (with a warning). ``proxy`` is an
    ``http://`` or ``socks5://`` / ``socks5h://`` / ``socks4://`` proxy URL, ``True`` for the
    environment's ``HTTPS_PROXY`` / ``ALL_PROXY``, or None (default: connect directly).

    ``subprotocols``: offered in the handshake; a server that picks none of them is a
    SubprotocolNotAccepted unless ``require_subprotocol=False`` (then ``subprotocol`` is None).

    ``auto_reconnect=N`` (off by default): after the connection *drops* (a close code in
    :data:`RECONNECT_CODES`, never after your own ``close()``), the next call that needs it
    (send, receive, ping) reconnects to the same URL, up to N attempts, waiting
    ``backoff[0]`` seconds before the first and doubling up to ``backoff[1]``. Messages
    already received stay queued; each attempt is recorded ("reconnect"), and the new
    connection appears in the transcript as the next connection. A send that raced the
    drop is not resent: it raises ConnectionClosed, as it may or may not have arrived.
    """

    def __init__(
        self,
        url: str,
        *,
        # HTTP handshake
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        subprotocols: Sequence[str] | None = None,
        require_subprotocol: bool = True,
        origin: str | None = None,
        cookies: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        proxy: str | None = None,
        # WebSocket
        compression: bool = True,
        max_size: int | None = 2**20,
        ping_interval: float | None = 20.0,
        max_queue: int | tuple[int | None, int | None] | None = MAX_QUEUE,
        # TLS
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        insecure: bool = False,
        # Timeouts, in seconds
        open_timeout: float = 10.0,
        close_timeout: float = 10.0,
        timeout: float = 10.0,
        # Reconnecting after a drop (opt-in)
        auto_reconnect: int = 0,
        backoff: tuple[float, float] = (0.1, 5.0),
        pairing: Pairing | None = None,
    ) -> None:
        self.url = check_url(url, params)
        self._options = Options(
            headers=headers,
            subprotocols=subprotocols,
            require_subprotocol=require_subprotocol,
            origin=origin,
            cookies=cookies,
            proxy=proxy,
            compression=compression,
            max_size=max_size,
            ping_interval=ping_interval,
            max_queue=max_queue,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            insecure=insecure,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            timeout=timeout,
            auto_reconnect=auto_reconnect,
            backoff=backoff,
        ).check(self.url)
        self._start(pairing)

    @classmethod
    def _with(cls, url: str, options: Options, pairing: Pairing | None) -> Connection:
        """A new, unopened connection to *url* with *options* checked already (a reconnect)."""
        self = cls.__new__(cls)
        self.url, self._options = url, options
        self._start(pairing)
        return self

    def _start(self, pairing: Pairing | None) -> None:
        options = self._options
        self.timeout = options.timeout
        self.auto_reconnect = options.auto_reconnect
        self.transcript = Transcript()
        self.subprotocol: str | None = None
        self.response_headers: dict[str, str] = {}
        self._subprotocols = list(options.subprotocols) if options.subprotocols else None
        self._pairing = pairing
        self._open_timeout = options.open_timeout
        self._close_timeout = options.close_timeout
        self._connect_kwargs = options.websockets_kwargs()
        self._sinks = (self.transcript,) if pairing is None else (self.transcript, pairing.transcript)
        self._key = next(_keys)
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

    # -- opening --------------------------------------------------------------

    def open(self) -> Connection:
        """Run the opening handshake, waiting at most ``open_timeout``; returns self."""
        self._starting()
        _not_on_server_loop("open")
        self._mode = "sync"
        return self._open()

    def _open(self) -> Connection:
        options = dict(self._connect_kwargs)
        try:
            if self._pairing is not None:  # TCP first: the port pairs the bench's events with ours
                options["sock"] = self._pair(socket.create_connection(self._pairing.address, self._open_timeout))
            create = functools.partial(RecordingSyncConnection, owner=self, write_timeout=self.timeout)
            self._sync = sync_connect(self.url, create_connection=create, **options, **PLAIN_CONNECTION)  # type: ignore[call-overload]
        except BaseException as exc:
            self._failed(exc)
        if self._subprotocols and self.subprotocol is None and self._options.require_subprotocol:
            self.close(1000, "no subprotocol agreed")
            raise self._no_subprotocol()
        return self

    async def aopen(self) -> Connection:
        """Coroutine form of :meth:`open`; the connection then lives on the running loop."""
        self._starting()
        self._home = asyncio.get_running_loop()
        self._home_thread = threading.get_ident()
        self._mode = "async"
        return await self._aopen()

    async def _aopen(self) -> Connection:
        options = dict(self._connect_kwargs)
        try:
            if self._pairing is not None:
                address = self._pairing.address
                sock = socket.socket(_family(address[0]), socket.SOCK_STREAM)
                sock.setblocking(False)
                try:
                    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, address), self._open_timeout)
                except BaseException:
                    sock.close()
                    raise
                options["sock"] = self._pair(sock)
            create = functools.partial(RecordingAsyncConnection, owner=self, write_timeout=self.timeout)
            self._async = await async_connect(self.url, create_connection=create, **options)  # type: ignore[arg-type]
        except BaseException as exc:
            self._failed(exc)
        if self._subprotocols and self.subprotocol is None and self._options.require_subprotocol:
            await self.aclose(1000, "no subprotocol agreed")
            raise self._no_subprotocol()
        return self

    def _starting(self) -> None:
        if not self._inbox.move("new", "connecting"):
            raise ConnectError(f"{self} was opened already; connect again for a new connection")

    def _pair(self, sock: socket.socket) -> socket.socket:
        """Tell the bench which client port is ours, so it copies that connection's server events here."""
        assert self._pairing is not None
        self._key = sock.getsockname()[1]
        self._pairing.pair(self._key, self.transcript)
        return sock

    def _failed(self, exc: BaseException) -> None:
        """Record why the handshake failed and raise the wsbench error that names the fix."""
        if not self._connect_noted:
            self._connect_noted = True
            self._note("connect", data=self.url)
        error = connect_error(
            exc, self.url, self._display_url(), self._open_timeout, self._redirect, self._options.proxy
        )
        if isinstance(error, HandshakeRejected):
            self._note("rejected", data=error.body, code=error.status)
        else:
            self._note("error", detail=type(error).__name__)
        self._finish(ConnectionClosed(f"connection to {self} never opened: {error}", code=1006, reason=""))
        raise error from None

    # -- what the recording connection reports (recording.Owner) -----------------------

    def requesting(self, headers: tuple[tuple[str, str], ...]) -> None:
        """Record "connect" with the request headers as they go out (websockets adds Host,
        Sec-WebSocket-Key ... to ours); once, not again for each redirect websockets follows."""
        if not self._connect_noted:
            self._connect_noted = True
            self._note("connect", data=self.url, headers=headers)

    def redirected(self, status: int, location: str) -> None:
        """Keep the last 3xx: websockets follows redirects without chaining them to a later failure."""
        self._redirect = (status, location)

    def opened(self, ws: Any, response: Any) -> None:
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

    # -- arrivals -----------------------------------------------------------------

    def deliver(self, message: Message) -> None:
        """Record and queue one message, as it arrives (reader thread or task)."""
        self._note("receive", data=message)
        self._inbox.put(message)

    def ended(self, ws: Any, closed: websockets.ConnectionClosed, note: str) -> None:
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
        record(*self._sinks, side="client", kind=kind, conn=self._key, **fields)

    # -- state -------------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "new", "connecting", "open", "closing" or "closed"."""
        return self._inbox.state

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
        running its last lines. Call this before printing what the endpoint recorded.
        """
        timeout = self._bound(timeout)
        if self._endpoint_gate().wait(self._endpoint_done, timeout) is None:
            raise Timeout(f"wait_endpoint: the endpoint serving {self} is still running after {timeout} s")

    async def await_endpoint(self, timeout: float | None = None) -> None:
        """Coroutine form of :meth:`wait_endpoint`."""
        timeout = self._bound(timeout)
        if await self._endpoint_gate().await_(self._endpoint_done, timeout) is None:
            raise Timeout(f"await_endpoint: the endpoint serving {self} is still running after {timeout} s")

    def _endpoint_gate(self) -> Gate:
        if self._pairing is None:
            raise BenchError(f"{self} is not a connection to a Bench: there is no endpoint to wait for")
        return self._pairing.endpoint_ended

    def _endpoint_done(self) -> bool:
        """The server side of this connection has ended (its "return" or "exception" is recorded)."""
        return any(e.side == "server" and e.kind in ("return", "exception") for e in reversed(self.transcript.events))

    def wait_closed(self, timeout: float | None = None) -> int:
        """Wait until the connection has closed (either side's close, or a drop) and return the
        close code; Timeout if it is still open after *timeout* seconds. Never reconnects."""
        self._not_on_home("wait_closed")
        timeout = self._bound(timeout)
        self._drain()
        if not self._inbox.wait(self._inbox.is_closed, timeout):
            raise Timeout(f"wait_closed: {self} is still open after {timeout} s")
        return self._inbox.closed.code  # type: ignore[union-attr]  # is_closed

    async def await_closed(self, timeout: float | None = None) -> int:
        """Coroutine form of :meth:`wait_closed`."""
        timeout = self._bound(timeout)
        self._drain()
        if not await self._inbox.await_(self._inbox.is_closed, timeout):
            raise Timeout(f"await_closed: {self} is still open after {timeout} s")
        return self._inbox.closed.code  # type: ignore[union-attr]  # is_closed

    def _bound(self, timeout: Any) -> float:
        """A call's *timeout*, checked, or the connection's when None."""
        return self.timeout if timeout is None else check_timeout(timeout, "timeout", none=False)  # type: ignore[return-value]

    def _drain(self) -> None:
        """The caller waits for the end: let a paused reader read on (bounded) to see it come."""
        budget = (self._inbox.high or 1) * (self._options.max_size or 2**20)
        self._inbox.drain(max(budget, 32 * 2**20))  # at least what TCP may hold in flight on loopback

    def __repr__(self) -> str:
        closed = f" {describe(self.close_code, self.close_reason or '')}" if self._inbox.closed else ""
        return f"<Connection {self._display_url()} {self.state}{closed}>"

    def _display_url(self) -> str:
        return display_url(self.url)

    # -- sending -----------------------------------------------------------------

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self._send(require(data, str, "send_text", "send_bytes"), "send_text")

    def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message."""
        self._send(bytes(require(data, (bytes, bytearray, memoryview), "send_bytes", "send_text")), "send_bytes")

    def send_json(self, data: Any, mode: str = "text") -> None:
        """Send *data* as compact JSON, like Starlette's ``send_json``; TypeError before anything is sent."""
        self._send(encode_json(data, mode), "send_json")

    async def asend_text(self, data: str) -> None:
        """Coroutine form of :meth:`send_text`."""
        await self._asend(require(data, str, "asend_text", "asend_bytes"), "asend_text")

    async def asend_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Coroutine form of :meth:`send_bytes`."""
        await self._asend(
            bytes(require(data, (bytes, bytearray, memoryview), "asend_bytes", "asend_text")), "asend_bytes"
        )

    async def asend_json(self, data: Any, mode: str = "text") -> None:
        """Coroutine form of :meth:`send_json`."""
        await self._asend(encode_json(data, mode), "asend_json")

    def _send(self, message: Message, what: str) -> None:
        check_encodable(message, what)
        self._ensure_open("send")
        if self._sync is None:  # an aconnect() connection, used from sync code
            self._run(self._async_send(message, what), self.timeout * 2 + 1, what)  # a stuck write aborts first
            return
        self._note("send", data=message)
        try:
            self._sync.send(message)  # written by this thread, as websockets' sync client does
        except websockets.ConnectionClosed:
            self._sync.wait_ended(self._close_timeout)
            raise self._send_error(self._sync, what) from None

    async def _asend(self, message: Message, what: str) -> None:
        check_encodable(message, what)
        await self._aensure_open("send")
        if self._home_thread == threading.get_ident():  # the usual case: on its own loop
            await self._async_send(message, what)
        elif self._sync is not None:  # a connect() connection, used from async code
            self._send(message, what)
        else:
            await loop.arun(self._async_send(message, what), on=self._home)

    async def _async_send(self, message: Message, what: str) -> None:  # on the home loop
        self._note("send", data=message)
        try:
            await self._async.send(message)
        except websockets.ConnectionClosed:
            await self._wait_closed()
            raise self._send_error(self._async, what) from None

    def _send_error(self, ws: Any, what: str) -> ConnectionClosed | Timeout:
        """Why a send failed: a Timeout if the server did not read it (the connection is then aborted)."""
        if ws.write_timed_out:
            return Timeout(
                f"{what}: the server did not take the message within {self.timeout} s (it is not reading), "
                f"so {self} was aborted (TCP reset); messages received before stay queued"
            )
        return self._closed_error("send")

    def _ensure_open(self, action: str) -> None:
        """Raise ConnectionClosed unless open; with ``auto_reconnect``, reconnect after a drop first."""
        if self.state != "open":
            if not self._revivable():
                raise self._closed_error(action)
            self._revive(action)

    async def _aensure_open(self, action: str) -> None:
        if self.state != "open":
            if not self._revivable():
                raise self._closed_error(action)
            await self._arevive(action)

    def _closed_error(self, action: str) -> ConnectionClosed:
        closed = self._inbox.closed
        if closed is None:
            return ConnectionClosed(f"cannot {action}: {self} is {self.state}", code=1006, reason="")
        return ConnectionClosed(
            f"cannot {action}: {str(closed).split(': ', 1)[-1]}",
            code=closed.code,
            reason=closed.reason,
            sent_code=closed.sent_code,
            sent_reason=closed.sent_reason,
        )

    # -- receiving ---------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Message:
        """The next message, text (str) or binary (bytes)."""
        return self._take(None, timeout, "receive")

    def receive_text(self, timeout: float | None = None) -> str:
        """The next message, which must be text; a binary one stays queued and raises WrongMessageType."""
        return self._take(str, timeout, "receive_text")

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next message, which must be binary; a text one stays queued and raises WrongMessageType."""
        return self._take(bytes, timeout, "receive_bytes")

    def receive_json(self, mode: str = "text", timeout: float | None = None) -> Any:
        """The next message parsed as JSON (from a text frame, or a binary one with ``mode="binary"``)."""
        return self._take(json_kind(mode), timeout, "receive_json", parse=parse_json)

    async def areceive(self, timeout: float | None = None) -> Message:
        """Coroutine form of :meth:`receive`."""
        return await self._atake(None, timeout, "areceive")

    async def areceive_text(self, timeout: float | None = None) -> str:
        """Coroutine form of :meth:`receive_text`."""
        return await self._atake(str, timeout, "areceive_text")

    async def areceive_bytes(self, timeout: float | None = None) -> bytes:
        """Coroutine form of :meth:`receive_bytes`."""
        return await self._atake(bytes, timeout, "areceive_bytes")

    async def areceive_json(self, mode: str = "text", timeout: float | None = None) -> Any:
        """Coroutine form of :meth:`receive_json`."""
        return await self._atake(json_kind(mode), timeout, "areceive_json", parse=parse_json)

    def _take(self, kind: type | None, timeout: float | None, what: str, parse: Callable | None = None) -> Any:
        self._not_on_home(what)
        timeout = self._bound(timeout)
        if not self._inbox.wait(self._inbox.ready, timeout):
            raise self._timeout(what, timeout)
        for _ in range(self.auto_reconnect):  # each drop, once what came before it is taken, may reconnect
            if self._inbox or not self._revivable():
                break
            self._revive(what)
            if not self._inbox.wait(self._inbox.ready, timeout):
                raise self._timeout(what, timeout)
        return self._pop(kind, what, parse)

    async def _atake(self, kind: type | None, timeout: float | None, what: str, parse: Callable | None = None) -> Any:
        timeout = self._bound(timeout)
        if not await self._inbox.await_(self._inbox.ready, timeout):
            raise self._timeout(what, timeout)
        for _ in range(self.auto_reconnect):
            if self._inbox or not self._revivable():
                break
            await self._arevive(what)
            if not await self._inbox.await_(self._inbox.ready, timeout):
                raise self._timeout(what, timeout)
        return self._pop(kind, what, parse)

    def _timeout(self, what: str, timeout: float) -> Timeout:
        blocked = self._pairing.blocked_since(time.time() - timeout) if self._pairing is not None else None
        if blocked:  # the peer is not to blame: the bench could not run
            return Timeout(f"{what}: no message from {self} within {timeout} s: {blocked}; nothing was lost")
        return Timeout(
            f"{what}: no message from {self} within {timeout} s; nothing was lost, call again to keep waiting"
        )

    def _pop(self, kind: type | None, what: str, parse: Callable[[Message], Any] | None = None) -> Any:
        return self._inbox.pop(kind, what, parse, self._closed_error)

    # -- iterating ---------------------------------------------------------------

    def iter_messages(self, limit: int | None = None, timeout: float | None = None) -> Iterator[Message]:
        """Yield messages until the peer closes (quietly on 1000/1001, else ConnectionClosed) or *limit*."""
        return self._iter(self.receive, limit, self._iter_timeout(timeout))

    def iter_text(self, limit: int | None = None, timeout: float | None = None) -> Iterator[str]:
        """Like :meth:`iter_messages`, each message text."""
        return self._iter(self.receive_text, limit, self._iter_timeout(timeout))

    def iter_bytes(self, limit: int | None = None, timeout: float | None = None) -> Iterator[bytes]:
        """Like :meth:`iter_messages`, each message binary."""
        return self._iter(self.receive_bytes, limit, self._iter_timeout(timeout))

    def iter_json(self, limit: int | None = None, timeout: float | None = None) -> Iterator[Any]:
        """Like :meth:`iter_messages`, each message parsed as JSON."""
        return self._iter(lambda timeout: self.receive_json(timeout=timeout), limit, self._iter_timeout(timeout))

    def _iter_timeout(self, timeout: Any) -> float | None:
        """An iterator's *timeout*, checked when it is created rather than at its first message."""
        return check_timeout(timeout, "timeout")

    def _iter(self, take: Callable[[float | None], Any], limit: int | None, timeout: float | None) -> Iterator[Any]:
        count = 0
        while limit is None or count < limit:
            try:
                yield take(timeout)
            except ConnectionClosed as closed:
                if closed.ok:
                    return
                raise
            count += 1

    def aiter_messages(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[Message]:
        """Coroutine form of :meth:`iter_messages`."""
        return self._aiter(self.areceive, limit, self._iter_timeout(timeout))

    def aiter_text(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[str]:
        """Coroutine form of :meth:`iter_text`."""
        return self._aiter(self.areceive_text, limit, self._iter_timeout(timeout))

    def aiter_bytes(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[bytes]:
        """Coroutine form of :meth:`iter_bytes`."""
        return self._aiter(self.areceive_bytes, limit, self._iter_timeout(timeout))

    def aiter_json(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[Any]:
        """Coroutine form of :meth:`iter_json`."""
        return self._aiter(lambda timeout: self.areceive_json(timeout=timeout), limit, self._iter_timeout(timeout))

    async def _aiter(
        self, take: Callable[[float | None], Any], limit: int | None, timeout: float | None
    ) -> AsyncIterator[Any]:
        count = 0
        while limit is None or count < limit:
            try:
                yield await take(timeout)
            except ConnectionClosed as closed:
                if closed.ok:
                    return
                raise
            count += 1

    # -- ping and close ------------------------------------------------------------

    def ping(self, timeout: float | None = None) -> float:
        """Send a ping and return the round-trip time in seconds when the pong comes."""
        timeout = self._bound(timeout)
        self._ensure_open("ping")
        if self._sync is None:
            return self._run(self._async_ping(timeout), timeout * 2 + 1, "ping")  # a stuck write aborts first
        self._note("ping")
        start = time.perf_counter()
        try:
            pong = self._sync.ping()  # the write is bounded by the socket's timeout
        except websockets.ConnectionClosed:
            raise self._send_error(self._sync, "ping") from None
        if not pong.wait(timeout):
            raise Timeout(f"ping: no pong from {self} within {timeout} s")
        latency = time.perf_counter() - start
        self._note("pong")
        return latency

    async def aping(self, timeout: float | None = None) -> float:
        """Coroutine form of :meth:`ping`."""
        timeout = self._bound(timeout)
        await self._aensure_open("ping")
        if self._sync is not None:
            return await asyncio.to_thread(self.ping, timeout)
        return await loop.arun(self._async_ping(timeout), on=self._home)

    async def _async_ping(self, timeout: float) -> float:  # on the home loop
        self._note("ping")
        try:
            pong = await self._async.ping()  # the write is bounded by the drain's timeout
            latency = await asyncio.wait_for(pong, timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"ping: no pong from {self} within {timeout} s") from None
        except websockets.ConnectionClosed:
            raise self._send_error(self._async, "ping") from None
        self._note("pong")
        return float(latency)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with *code* and *reason* (checked first: nothing is sent if they are invalid).

        Returns when the closing handshake is over and the server closed TCP, or after
        ``close_timeout``: then TCP is aborted and the transcript's "closed" event says so.
        Closing a closed connection does nothing.
        """
        check_close(code, reason)
        if self.state in ("closed", "new"):
            return
        if self._sync is None:
            self._run(self._async_close(code, reason), self._close_timeout * 2 + 1, "close")
            return
        _not_on_server_loop("close")
        ws = self._sync
        deadline = time.monotonic() + self._close_timeout
        if self._closing(code, reason):
            self._drain()  # a paused reader must read on to see the server's close frame
            ws.send_close(code, reason, self._close_timeout)
        if not ws.wait_ended(max(0.0, deadline - time.monotonic())):
            ws.abort(self._close_note())
            ws.wait_ended(self._close_timeout)
        self._inbox.wait(self._inbox.is_closed, self._close_timeout)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Coroutine form of :meth:`close`."""
        check_close(code, reason)
        if self.state in ("closed", "new"):
            return
        if self._sync is not None:
            await asyncio.to_thread(self.close, code, reason)
            return
        await loop.arun(self._async_close(code, reason), on=self._home)

    async def _async_close(self, code: int, reason: str) -> None:  # on the home loop
        ws = self._async
        deadline = asyncio.get_running_loop().time() + self._close_timeout
        if self._closing(code, reason):
            self._drain()
            await ws.send_close(code, reason, self._close_timeout)
        try:
            await asyncio.wait_for(self._wait_closed(), max(0.0, deadline - asyncio.get_running_loop().time()))
        except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
            ws.abort(self._close_note())
            await self._wait_closed()  # connection_lost follows the abort at once

    def _close_note(self) -> str:
        return f"no closing handshake within close_timeout {self._close_timeout} s: TCP aborted"

    def _closing(self, code: int, reason: str) -> bool:
        """Mark the connection closing; True if this call is the one to send the close frame."""
        self._user_closed = True
        if not self._inbox.move("open", "closing"):
            return False
        self._note("close", code=code, reason=reason)
        return True

    async def _wait_closed(self) -> None:  # on the home loop
        """Wait until TCP is closed (connection_lost has run; the end is recorded by then)."""
        await asyncio.shield(self._async.wait_closed())

    def _run(self, coro: Any, timeout: float, what: str) -> Any:
        """Run a coroutine on an aconnect() connection's home loop from another thread, and wait."""
        try:
            self._not_on_home(what)
        except RuntimeError:
            coro.close()
            raise
        return loop.run(coro, timeout=timeout, what=f"{what} on {self}", on=self._home)

    def _not_on_home(self, what: str) -> None:
        """Refuse to block a thread whose loop must run for the call to finish."""
        if self._home_thread == threading.get_ident():
            raise RuntimeError(
                f"{what}: {self} was opened with aconnect() and lives on this thread's event loop, "
                f"so blocking here would deadlock; use the coroutine: await conn.a{what}(...)"
            )
        _not_on_server_loop(what)

    # -- reconnecting after a drop (auto_reconnect) -------------------------------------

    def _revivable(self) -> bool:
        """True if the connection dropped (not closed by us) in a way worth reconnecting after."""
        closed = self._inbox.closed
        return (
            self.auto_reconnect > 0 and not self._user_closed and closed is not None and closed.code in RECONNECT_CODES
        )

    def _delays(self) -> list[float]:
        return delays(self.auto_reconnect, self._options.backoff)

    def _attempts(self, what: str) -> Iterator[float]:
        """Yield the delay before each reconnect attempt, recording each and resetting the connection."""
        dropped = self._inbox.closed
        assert dropped is not None
        for attempt, delay in enumerate(self._delays(), 1):
            self._note(
                "reconnect",
                code=dropped.code,
                detail=f"attempt {attempt} of {self.auto_reconnect} in {delay:g} s, on {what}",
            )
            self._inbox.reopen()  # a fresh connection: new TCP port, new key; the queue stays
            self._sync = self._async = self._ws = None
            self._addresses, self._redirect, self._connect_noted = (None, None), None, False
            self.subprotocol, self.response_headers = None, {}
            self._key = next(_keys)
            yield delay

    def _gave_up(self, what: str, last: BaseException | None) -> ConnectionClosed:
        return ConnectionClosed(
            f"cannot {what}: {self} dropped and {self.auto_reconnect} reconnect attempts failed; last: {last}",
            code=1006,
            reason="",
        )

    def _revive(self, what: str) -> None:
        """Reconnect with bounded backoff (blocking); raise ConnectionClosed if every attempt fails."""
        if self._mode == "async":  # it lives on its home loop: reconnect there
            budget = sum(self._delays()) + self.auto_reconnect * self._open_timeout
            self._run(self._arevive(what), budget + 1, what)
            return
        last: BaseException | None = None
        for delay in self._attempts(what):
            time.sleep(delay)
            try:
                self._open()
                return
            except (ConnectError, Timeout) as exc:
                if not worth_retrying(exc):
                    raise
                last = exc
        raise self._gave_up(what, last)

    async def _arevive(self, what: str) -> None:
        """Coroutine form of :meth:`_revive`."""
        if self._mode == "sync":
            await asyncio.to_thread(self._revive, what)
            return
        if self._home_thread != threading.get_ident():
            await loop.arun(self._arevive(what), on=self._home)
            return
        last: BaseException | None = None
        for delay in self._attempts(what):
            await asyncio.sleep(delay)
            try:
                await self._aopen()
                return
            except (ConnectError, Timeout) as exc:
                if not worth_retrying(exc):
                    raise
                last = exc
        raise self._gave_up(what, last)

    def reconnect(self) -> Connection:
        """Open a new connection to the same URL with the same options (this one stays as it is)."""
        return Connection._with(self.url, self._options, self._pairing).open()

    async def areconnect(self) -> Connection:
        """Coroutine form of :meth:`reconnect`: the new connection lives on the running loop."""
        return await Connection._with(self.url, self._options, self._pairing).aopen()

    # -- widgets (imported on first use: the core works without ipywidgets) ----------

    def panel(self, **options: Any) -> Panel:
        """A live :class:`~wsbench.widgets.Panel` for this connection: log, send box, close, ping."""
        from ..widgets import Panel

        options.setdefault("reconnect", self.reconnect)
        return Panel(self, **options)

    def timeline(self, **options: Any) -> Timeline:
        """A :class:`~wsbench.widgets.Timeline` of this connection, client and server side by side."""
        from ..widgets import Timeline

        return Timeline(self.transcript, **options)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def connect(url: str, **options: Any) -> Connection:
    """Open a WebSocket connection to *url* (ws:// or wss://) and return it.

    Options are keyword-only, as for :class:`Connection`: ``headers``, ``subprotocols``,
    ``origin``, ``cookies``, ``params``, ``proxy``, ``compression``, ``max_size``,
    ``ping_interval``, ``max_queue``, ``ca_file``, ``cert_file``, ``key_file``, ``insecure``,
    ``open_timeout``, ``close_timeout``, ``timeout``, ``auto_reconnect``, ``backoff``.
    See :class:`Connection`.
    """
    return Connection(url, **options).open()


async def aconnect(url: str, **options: Any) -> Connection:
    """Coroutine form of :func:`connect`."""
    return await Connection(url, **options).aopen()


def _not_on_server_loop(what: str) -> None:
    """A blocking call on the background loop's thread (inside an endpoint) would freeze the server."""
    if loop.in_loop_thread():
        raise RuntimeError(
            f"{what}: a blocking call on the wsbench server's loop (inside an endpoint?) would deadlock; "
            f"use the coroutine: await conn.a{what}(...)"
        )


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
