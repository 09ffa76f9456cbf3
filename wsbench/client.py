"""The client side: a WebSocket connection to the bench or to any ws:// / wss:// URL.

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
  message is recorded and queued the moment it arrives, so nothing received is lost,
  also when a ``receive_*`` call raises; the queue (a :class:`~wsbench._gate.Gate`)
  serves threads and coroutines on any loop alike.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import json
import socket
import ssl
import threading
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection as AsyncClientConnection
from websockets.asyncio.client import connect as async_connect
from websockets.frames import DATA_OPCODES, Frame, Opcode
from websockets.sync.client import ClientConnection as SyncClientConnection
from websockets.sync.client import connect as sync_connect

from . import loop
from ._gate import Gate
from .codes import check_close, describe
from .errors import (
    BenchError,
    ConnectError,
    ConnectionClosed,
    ConnectionRefused,
    HandshakeRejected,
    InvalidJSON,
    InvalidURL,
    SubprotocolNotAccepted,
    Timeout,
    TLSFailure,
    UnsendableText,
    WrongMessageType,
)
from .secrets import mask_url
from .transcript import Transcript, record

if TYPE_CHECKING:
    from ._service import Pairing
    from .widgets import Panel, Timeline

__all__ = ["Connection", "aconnect", "connect"]

Message = str | bytes

#: Close codes after which ``auto_reconnect`` tries again: the connection dropped (1006), the
#: server is going away or restarting (1001, 1012), failed (1011), is busy (1013), or a
#: gateway failed (1014). Not 1000 and not a policy or protocol verdict: those would repeat.
RECONNECT_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})

_keys = itertools.count(1 << 20)  # connection keys; bench connections use their TCP port instead

_LOOPBACK = ("127.", "localhost", "[::1]")

# websockets 17 asks sync connect() callers to pick the plain-connection form explicitly.
_PLAIN_CONNECTION = {"legacy": True} if "legacy" in inspect.signature(sync_connect).parameters else {}


def _kind(message: Message) -> str:
    return "text" if isinstance(message, str) else "bytes"


class _Recording:
    """For websockets' client connections: hand each message to the wsbench Connection the
    moment it arrives, instead of queueing it for ``recv()``; report the end of the connection."""

    _owner: Connection
    _fragments: list[Frame]
    response: Any
    protocol: Any

    def handshake(self, *args: Any, **kwargs: Any) -> Any:
        # Record "connect" with the request headers as they go out (websockets adds Host,
        # Sec-WebSocket-Key ... to ours), just before the request is written; once, not again
        # for each redirect websockets follows.
        send_request, owner = self.protocol.send_request, self._owner

        def recorded(request: Any) -> None:
            if not owner._connect_noted:
                owner._connect_noted = True
                owner._note("connect", data=owner.url, headers=tuple(request.headers.raw_items()))
            send_request(request)

        self.protocol.send_request = recorded
        return super().handshake(*args, **kwargs)  # type: ignore[misc]  # a coroutine for the asyncio client

    def process_event(self, event: Any) -> None:
        if self.response is None and 300 <= getattr(event, "status_code", 0) < 400:
            # websockets follows redirects itself, without chaining the 3xx to a later failure
            self._owner._redirect = (event.status_code, event.headers.get("Location", ""))
        if self.response is None and self.protocol.handshake_exc is None:
            # Recorded here, before websockets wakes the caller and before any message is
            # delivered, so "open" comes first in every view of the transcript.
            self._owner._opened(self, event)
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
            self._owner._deliver(bytes(data))
            return
        try:
            text = str(data, "utf-8")
        except UnicodeDecodeError:  # RFC 6455 §8.1: fail the connection with 1007
            self._fail_connection(1007, "invalid UTF-8 in a text message")
            return
        self._owner._deliver(text)

    def _fail_connection(self, code: int, reason: str) -> None:
        raise NotImplementedError


class _RecordingSyncConnection(_Recording, SyncClientConnection):
    """websockets' sync client connection; its reader thread hands messages over."""

    def __init__(self, *args: Any, owner: Connection, **kwargs: Any) -> None:
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
            self._owner._closed_by(self)


class _RecordingAsyncConnection(_Recording, AsyncClientConnection):
    """websockets' asyncio client connection; ``data_received`` hands messages over."""

    def __init__(self, *args: Any, owner: Connection, **kwargs: Any) -> None:
        self._owner = owner
        self._fragments = []
        super().__init__(*args, **kwargs)

    def _fail_connection(self, code: int, reason: str) -> None:
        self.protocol.fail(code, reason)
        self.send_data()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._owner._closed_by(self)


class Connection:
    """A client WebSocket connection, opened with :func:`connect` / ``bench.connect``
    (or :func:`aconnect` / ``bench.aconnect`` for a connection on the running event loop).

    Every ``receive_*`` / ``iter_*`` waits at most *timeout* seconds (default: the
    connection's ``timeout``), so a cell never hangs; a KeyboardInterrupt while
    waiting cancels that call only.

    TLS: ``ca_file`` trusts a CA bundle, ``cert_file`` / ``key_file`` present a client
    certificate, ``insecure=True`` skips verification (with a warning). ``proxy`` is an
    ``http://`` or ``socks5://`` / ``socks5h://`` / ``socks4://`` proxy URL, ``True`` for the
    environment's ``HTTPS_PROXY`` / ``ALL_PROXY``, or None (default: connect directly).

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
        origin: str | None = None,
        cookies: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        proxy: str | None = None,
        # WebSocket
        compression: bool = True,
        max_size: int | None = 2**20,
        ping_interval: float | None = 20.0,
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
        self._given = {k: v for k, v in locals().items() if k not in ("self", "url", "params", "__class__")}
        self.url = _check_url(url, params)
        self.timeout = timeout
        self.transcript = Transcript()
        self.subprotocol: str | None = None
        self.response_headers: dict[str, str] = {}
        self._subprotocols = list(subprotocols) if subprotocols else None
        self._pairing = pairing
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._sinks = (self.transcript,) if pairing is None else (self.transcript, pairing.transcript)
        self._key = next(_keys)
        self.auto_reconnect = _check_reconnect(auto_reconnect, backoff)
        self._backoff = backoff
        self._user_closed = False  # close() was called: never reconnect after that
        self._connect_noted = False  # "connect" is recorded once per TCP connection
        self._mode = ""  # "sync" (open) or "async" (aopen): how a reconnect reopens
        self._sync: SyncClientConnection | None = None  # set by open()
        self._async: Any = None  # a websockets asyncio ClientConnection, set by aopen()
        self._home: asyncio.AbstractEventLoop | None = None  # aopen(): the loop it lives on
        self._home_thread: int | None = None
        self._gate = Gate()
        self._inbox: deque[Message] = deque()
        self._closed: ConnectionClosed | None = None
        self._addresses: tuple[Any, Any] = (None, None)
        self._redirect: tuple[int, str] | None = None  # the last 3xx of the handshake, if any
        self._state = "new"
        _check_proxy(proxy)
        extra = list(headers.items() if isinstance(headers, Mapping) else headers or [])
        if cookies:
            extra.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
        self._options: dict[str, Any] = dict(
            additional_headers=extra or None,
            subprotocols=self._subprotocols,
            origin=origin,
            proxy=proxy,
            compression="deflate" if compression else None,
            max_size=max_size,
            ping_interval=ping_interval,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
        )
        if self.url.startswith("wss://"):
            self._options["ssl"] = _tls_context(ca_file, insecure, cert_file, key_file)
        elif ca_file or insecure or cert_file or key_file:
            raise InvalidURL(
                f"{self.url} is not a wss:// URL, so ca_file / cert_file / key_file / insecure have no TLS to apply to"
            )

    # -- opening --------------------------------------------------------------

    def open(self) -> Connection:
        """Run the opening handshake, waiting at most ``open_timeout``; returns self."""
        self._starting()
        _not_on_server_loop("open")
        self._mode = "sync"
        return self._open()

    def _open(self) -> Connection:
        options = dict(self._options)
        try:
            if self._pairing is not None:  # TCP first: the port pairs the bench's events with ours
                options["sock"] = self._pair(socket.create_connection(self._pairing.address, self._open_timeout))
            create = functools.partial(_RecordingSyncConnection, owner=self)  # records "connect" (handshake)
            self._sync = sync_connect(self.url, create_connection=create, **options, **_PLAIN_CONNECTION)  # type: ignore[call-overload]
        except BaseException as exc:
            self._failed(exc)
        if self._subprotocols and self.subprotocol is None:
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
        options = dict(self._options)
        try:
            if self._pairing is not None:
                address = self._pairing.address
                sock = socket.socket(_family(address[0]), socket.SOCK_STREAM)
                sock.setblocking(False)
                try:
                    await self._home.sock_connect(sock, address)
                except BaseException:
                    sock.close()
                    raise
                options["sock"] = self._pair(sock)
            create = functools.partial(_RecordingAsyncConnection, owner=self)  # records "connect" (handshake)
            self._async = await async_connect(self.url, create_connection=create, **options)  # type: ignore[arg-type]
        except BaseException as exc:
            self._failed(exc)
        if self._subprotocols and self.subprotocol is None:
            await self.aclose(1000, "no subprotocol agreed")
            raise self._no_subprotocol()
        return self

    def _starting(self) -> None:
        if self._state != "new":
            raise ConnectError(f"{self} was opened already; connect again for a new connection")
        self._state = "connecting"

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
        error = _connect_error(
            exc, self.url, self._display_url(), self._open_timeout, self._redirect, self._options["proxy"]
        )
        if isinstance(error, HandshakeRejected):
            self._note("rejected", data=error.body, code=error.status)
        else:
            self._note("error", detail=type(error).__name__)
        self._finish(ConnectionClosed(f"connection to {self} never opened: {error}", code=1006, reason=""))
        raise error from None

    def _opened(self, ws: Any, response: Any) -> None:
        """The handshake succeeded (called from the reader, before any message)."""
        self.subprotocol = ws.subprotocol
        self.response_headers = {k.lower(): v for k, v in response.headers.raw_items()}
        try:
            self._addresses = (ws.local_address, ws.remote_address)
        except OSError:  # reset together with the 101 response: the socket is no longer connected
            self._addresses = (None, None)
        with self._gate.lock:
            if self._closed is None:  # the peer may have closed already
                self._state = "open"
        self._note("open", detail=self.subprotocol)

    def _no_subprotocol(self) -> SubprotocolNotAccepted:
        return SubprotocolNotAccepted(
            f"the server accepted none of the subprotocols {self._subprotocols}; "
            "offer one it supports, or check its accept(subprotocol=...)"
        )

    # -- arrivals -----------------------------------------------------------------

    def _deliver(self, message: Message) -> None:
        """Record and queue one message, as it arrives (reader thread or task)."""
        self._note("receive", data=message)
        with self._gate.lock:
            self._inbox.append(message)
            self._gate.notify()

    def _closed_by(self, ws: Any) -> None:
        """Record the closing handshake as websockets saw it, and wake every waiter."""
        if ws.response is None or ws.response.status_code != 101:
            return  # the handshake failed: _failed() tells that story
        exc = ws.protocol.close_exc  # the protocol's: websockets < 17 sync connections lack close_exc
        code = int(ws.close_code) if ws.close_code is not None else 1006  # a plain int, not an enum
        reason = ws.close_reason or ""
        sent, rcvd = exc.sent, exc.rcvd
        by = "server" if rcvd and (sent is None or exc.rcvd_then_sent) else "client" if sent else None
        self._note("closed", code=code, reason=reason, detail=str(exc), by=by)
        self._finish(
            ConnectionClosed(
                f"connection closed: {exc}",
                code=code,
                reason=reason,
                sent_code=int(sent.code) if sent else None,
                sent_reason=sent.reason if sent else "",
            )
        )

    def _finish(self, closed: ConnectionClosed) -> None:
        with self._gate.lock:
            self._closed = closed
            self._state = "closed"
            self._gate.notify()

    def _note(self, kind: str, **fields: Any) -> None:
        record(*self._sinks, side="client", kind=kind, conn=self._key, **fields)

    # -- state -------------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "new", "connecting", "open", "closing" or "closed"."""
        return self._state

    @property
    def close_code(self) -> int | None:
        """The code the peer closed with (1006 if it dropped without a close frame), or None while open."""
        return self._closed.code if self._closed else None

    @property
    def close_reason(self) -> str | None:
        """The reason the peer closed with, or None while open."""
        return self._closed.reason if self._closed else None

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
        if self._pairing is None:
            raise BenchError(f"{self} is not a connection to a Bench: there is no endpoint to wait for")
        timeout = self.timeout if timeout is None else timeout
        deadline, seen = time.monotonic() + timeout, 0
        while True:
            new = self.transcript.since(seen)
            seen += len(new)
            if any(e.side == "server" and e.kind in ("return", "exception") for e in new):
                return
            if time.monotonic() > deadline:
                raise Timeout(f"wait_endpoint: the endpoint serving {self} is still running after {timeout} s")
            time.sleep(0.002)

    def wait_closed(self, timeout: float | None = None) -> int:
        """Wait until the connection has closed (either side's close, or a drop) and return the
        close code; Timeout if it is still open after *timeout* seconds. Never reconnects."""
        self._not_on_home("wait_closed")
        timeout = self.timeout if timeout is None else timeout
        if self._gate.wait(lambda: self._closed is not None, timeout) is None:
            raise Timeout(f"wait_closed: {self} is still open after {timeout} s")
        assert self._closed is not None
        return self._closed.code

    async def await_closed(self, timeout: float | None = None) -> int:
        """Coroutine form of :meth:`wait_closed`."""
        timeout = self.timeout if timeout is None else timeout
        if await self._gate.await_(lambda: self._closed is not None, timeout) is None:
            raise Timeout(f"await_closed: {self} is still open after {timeout} s")
        assert self._closed is not None
        return self._closed.code

    def __repr__(self) -> str:
        closed = f" {describe(self.close_code, self.close_reason or '')}" if self._closed else ""
        return f"<Connection {self._display_url()} {self._state}{closed}>"

    def _display_url(self) -> str:
        """The URL without a loopback host and port, which change from run to run, secrets masked."""
        _, netloc, path, query, _ = urlsplit(self.url)
        if netloc.startswith(_LOOPBACK):
            return mask_url(path + (f"?{query}" if query else ""))
        return mask_url(self.url)

    # -- sending -----------------------------------------------------------------

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self._send(_require(data, str, "send_text", "send_bytes"), "send_text")

    def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message."""
        self._send(bytes(_require(data, (bytes, bytearray, memoryview), "send_bytes", "send_text")), "send_bytes")

    def send_json(self, data: Any, mode: str = "text") -> None:
        """Send *data* as compact JSON, like Starlette's ``send_json``; TypeError before anything is sent."""
        self._send(_encode_json(data, mode), "send_json")

    async def asend_text(self, data: str) -> None:
        """Coroutine form of :meth:`send_text`."""
        await self._asend(_require(data, str, "asend_text", "asend_bytes"), "asend_text")

    async def asend_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Coroutine form of :meth:`send_bytes`."""
        await self._asend(
            bytes(_require(data, (bytes, bytearray, memoryview), "asend_bytes", "asend_text")), "asend_bytes"
        )

    async def asend_json(self, data: Any, mode: str = "text") -> None:
        """Coroutine form of :meth:`send_json`."""
        await self._asend(_encode_json(data, mode), "asend_json")

    def _send(self, message: Message, what: str) -> None:
        _check_encodable(message, what)
        self._ensure_open("send")
        if self._sync is None:  # an aconnect() connection, used from sync code
            self._run(self._async_send(message), self.timeout, what)
            return
        self._note("send", data=message)
        try:
            self._sync.send(message)  # written by this thread, as websockets' sync client does
        except websockets.ConnectionClosed:
            self._sync.wait_closed(self._close_timeout)
            raise self._closed_error("send") from None

    async def _asend(self, message: Message, what: str) -> None:
        _check_encodable(message, what)
        await self._aensure_open("send")
        if self._home_thread == threading.get_ident():  # the usual case: on its own loop
            await self._async_send(message)
        elif self._sync is not None:  # a connect() connection, used from async code
            self._send(message, what)
        else:
            await loop.arun(self._async_send(message), on=self._home)

    async def _async_send(self, message: Message) -> None:  # on the home loop
        self._note("send", data=message)
        try:
            await self._async.send(message)
        except websockets.ConnectionClosed:
            await self._wait_closed()
            raise self._closed_error("send") from None

    def _ensure_open(self, action: str) -> None:
        """Raise ConnectionClosed unless open; with ``auto_reconnect``, reconnect after a drop first."""
        if self._state != "open":
            if not self._revivable():
                raise self._closed_error(action)
            self._revive(action)

    async def _aensure_open(self, action: str) -> None:
        if self._state != "open":
            if not self._revivable():
                raise self._closed_error(action)
            await self._arevive(action)

    def _closed_error(self, action: str) -> ConnectionClosed:
        closed = self._closed
        if closed is None:
            return ConnectionClosed(f"cannot {action}: {self} is {self._state}", code=1006, reason="")
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
        return self._take(_json_kind(mode), timeout, "receive_json", parse=_parse_json)

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
        return await self._atake(_json_kind(mode), timeout, "areceive_json", parse=_parse_json)

    def _take(self, kind: type | None, timeout: float | None, what: str, parse: Callable | None = None) -> Any:
        self._not_on_home(what)
        timeout = self.timeout if timeout is None else timeout
        if self._gate.wait(self._ready, timeout) is None:
            raise self._timeout(what, timeout)
        for _ in range(self.auto_reconnect):  # each drop, once what came before it is taken, may reconnect
            if self._inbox or not self._revivable():
                break
            self._revive(what)
            if self._gate.wait(self._ready, timeout) is None:
                raise self._timeout(what, timeout)
        return self._pop(kind, what, parse)

    async def _atake(self, kind: type | None, timeout: float | None, what: str, parse: Callable | None = None) -> Any:
        timeout = self.timeout if timeout is None else timeout
        if await self._gate.await_(self._ready, timeout) is None:
            raise self._timeout(what, timeout)
        for _ in range(self.auto_reconnect):
            if self._inbox or not self._revivable():
                break
            await self._arevive(what)
            if await self._gate.await_(self._ready, timeout) is None:
                raise self._timeout(what, timeout)
        return self._pop(kind, what, parse)

    def _ready(self) -> bool:
        return bool(self._inbox) or self._closed is not None

    def _timeout(self, what: str, timeout: float) -> Timeout:
        return Timeout(
            f"{what}: no message from {self} within {timeout} s; nothing was lost, call again to keep waiting"
        )

    def _pop(self, kind: type | None, what: str, parse: Callable | None = None) -> Any:
        """Take the next message if it is of *kind* (and *parse* accepts it); otherwise it stays queued."""
        with self._gate.lock:
            if not self._inbox:
                assert self._closed is not None
                raise self._closed_error(what)
            message = self._inbox[0]
            if kind is not None and not isinstance(message, kind):
                raise _wrong_type(what, message)
            value = message if parse is None else parse(message)
            self._inbox.popleft()
            return value

    # -- iterating ---------------------------------------------------------------

    def iter_messages(self, limit: int | None = None, timeout: float | None = None) -> Iterator[Message]:
        """Yield messages until the peer closes (quietly on 1000/1001, else ConnectionClosed) or *limit*."""
        return self._iter(self.receive, limit, timeout)

    def iter_text(self, limit: int | None = None, timeout: float | None = None) -> Iterator[str]:
        """Like :meth:`iter_messages`, each message text."""
        return self._iter(self.receive_text, limit, timeout)

    def iter_bytes(self, limit: int | None = None, timeout: float | None = None) -> Iterator[bytes]:
        """Like :meth:`iter_messages`, each message binary."""
        return self._iter(self.receive_bytes, limit, timeout)

    def iter_json(self, limit: int | None = None, timeout: float | None = None) -> Iterator[Any]:
        """Like :meth:`iter_messages`, each message parsed as JSON."""
        return self._iter(lambda timeout: self.receive_json(timeout=timeout), limit, timeout)

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
        return self._aiter(self.areceive, limit, timeout)

    def aiter_text(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[str]:
        """Coroutine form of :meth:`iter_text`."""
        return self._aiter(self.areceive_text, limit, timeout)

    def aiter_bytes(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[bytes]:
        """Coroutine form of :meth:`iter_bytes`."""
        return self._aiter(self.areceive_bytes, limit, timeout)

    def aiter_json(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[Any]:
        """Coroutine form of :meth:`iter_json`."""
        return self._aiter(lambda timeout: self.areceive_json(timeout=timeout), limit, timeout)

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
        timeout = self.timeout if timeout is None else timeout
        self._ensure_open("ping")
        if self._sync is None:
            return self._run(self._async_ping(timeout), timeout, "ping")
        self._note("ping")
        start = time.perf_counter()
        try:
            pong = self._sync.ping()
        except websockets.ConnectionClosed:
            raise self._closed_error("ping") from None
        if not pong.wait(timeout):
            raise Timeout(f"ping: no pong from {self} within {timeout} s")
        latency = time.perf_counter() - start
        self._note("pong")
        return latency

    async def aping(self, timeout: float | None = None) -> float:
        """Coroutine form of :meth:`ping`."""
        timeout = self.timeout if timeout is None else timeout
        await self._aensure_open("ping")
        if self._sync is not None:
            return await asyncio.to_thread(self.ping, timeout)
        return await loop.arun(self._async_ping(timeout), on=self._home)

    async def _async_ping(self, timeout: float) -> float:  # on the home loop
        self._note("ping")
        try:
            latency = await asyncio.wait_for(await self._async.ping(), timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"ping: no pong from {self} within {timeout} s") from None
        except websockets.ConnectionClosed:
            raise self._closed_error("ping") from None
        self._note("pong")
        return float(latency)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with *code* and *reason* (checked first: nothing is sent if they are invalid).

        Returns when the closing handshake is over. Closing a closed connection does nothing.
        """
        check_close(code, reason)
        if self._state in ("closed", "new"):
            return
        if self._sync is None:
            self._run(self._async_close(code, reason), self._close_timeout, "close")
            return
        _not_on_server_loop("close")
        if self._closing(code, reason):
            self._sync.close(code, reason)
        self._gate.wait(lambda: self._closed is not None, self._close_timeout)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Coroutine form of :meth:`close`."""
        check_close(code, reason)
        if self._state in ("closed", "new"):
            return
        if self._sync is not None:
            await asyncio.to_thread(self.close, code, reason)
            return
        await loop.arun(self._async_close(code, reason), on=self._home)

    async def _async_close(self, code: int, reason: str) -> None:  # on the home loop
        if self._closing(code, reason):
            await self._async.close(code, reason)
        await self._wait_closed()

    def _closing(self, code: int, reason: str) -> bool:
        """Mark the connection closing; True if this call is the one to send the close frame."""
        self._user_closed = True
        with self._gate.lock:
            if self._state != "open":
                return False
            self._state = "closing"
        self._note("close", code=code, reason=reason)
        return True

    async def _wait_closed(self) -> None:  # on the home loop
        """Wait until the connection is closed and its end recorded (connection_lost has run)."""
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
        closed = self._closed
        return (
            self.auto_reconnect > 0 and not self._user_closed and closed is not None and closed.code in RECONNECT_CODES
        )

    def _delays(self) -> list[float]:
        """The wait before each reconnect attempt: ``backoff[0]``, doubling, at most ``backoff[1]``."""
        first, cap = self._backoff
        return [min(cap, first * 2**k) for k in range(self.auto_reconnect)]

    def _attempts(self, what: str) -> Iterator[float]:
        """Yield the delay before each reconnect attempt, recording each and resetting the connection."""
        dropped = self._closed
        assert dropped is not None
        for attempt, delay in enumerate(self._delays(), 1):
            self._note(
                "reconnect",
                code=dropped.code,
                detail=f"attempt {attempt} of {self.auto_reconnect} in {delay:g} s, on {what}",
            )
            with self._gate.lock:  # a fresh connection: new TCP port, new key; the inbox stays
                self._sync = self._async = self._closed = None
                self._state = "connecting"
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
                if not _worth_retrying(exc):
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
                if not _worth_retrying(exc):
                    raise
                last = exc
        raise self._gave_up(what, last)

    def reconnect(self) -> Connection:
        """Open a new connection to the same URL with the same options (this one stays as it is)."""
        return Connection(self.url, **self._given).open()

    # -- widgets (imported on first use: the core works without ipywidgets) ----------

    def panel(self, **options: Any) -> Panel:
        """A live :class:`~wsbench.widgets.Panel` for this connection: log, send box, close, ping."""
        from .widgets import Panel

        options.setdefault("reconnect", self.reconnect)
        return Panel(self, **options)

    def timeline(self, **options: Any) -> Timeline:
        """A :class:`~wsbench.widgets.Timeline` of this connection, client and server side by side."""
        from .widgets import Timeline

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
    ``ping_interval``, ``ca_file``, ``cert_file``, ``key_file``, ``insecure``,
    ``open_timeout``, ``close_timeout``, ``timeout``, ``auto_reconnect``, ``backoff``.
    See :class:`Connection`.
    """
    return Connection(url, **options).open()


async def aconnect(url: str, **options: Any) -> Connection:
    """Coroutine form of :func:`connect`."""
    return await Connection(url, **options).aopen()


# -- helpers ------------------------------------------------------------------


def _check_url(url: str, params: Mapping[str, Any] | None) -> str:
    if not isinstance(url, str):
        raise InvalidURL(f"{url!r} isn't a valid WebSocket URL: expected a str, got {type(url).__name__}")
    shown = mask_url(url)  # error messages end up in notebooks and logs: no tokens in them
    bad = next((i for i, ch in enumerate(url) if ch <= " " or ch == "\x7f"), None)
    if bad is not None:  # it would go raw into the request line, and the server would answer 400
        what = "a space" if url[bad] == " " else f"the control character {url[bad]!r}"
        raise InvalidURL(
            f"{shown!r} isn't a valid WebSocket URL: it contains {what} at position {bad}; "
            f"percent-encode it (%{ord(url[bad]):02X})"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"{shown!r} isn't a valid WebSocket URL: {exc}") from None
    if parts.scheme not in ("ws", "wss"):
        hint = {"http": " (use ws:// for http://)", "https": " (use wss:// for https://)"}.get(parts.scheme, "")
        raise InvalidURL(f"{shown!r} isn't a valid WebSocket URL: the scheme must be ws:// or wss://{hint}")
    if not parts.hostname:
        raise InvalidURL(f"{shown!r} isn't a valid WebSocket URL: it has no host")
    if port == 0:
        raise InvalidURL(f"{shown!r} isn't a valid WebSocket URL: port 0 cannot be connected to")
    if params:
        query = "&".join(q for q in (parts.query, urlencode(params, doseq=True)) if q)
        url = urlunsplit(parts._replace(query=query))
    return url


_PROXY_SCHEMES = ("http", "socks5h", "socks5", "socks4a", "socks4")


def _check_proxy(proxy: Any) -> None:
    """A proxy URL websockets can use (https:// proxies need TLS options wsbench does not pass), True, or None."""
    if proxy is None or proxy is True:
        return
    scheme = urlsplit(proxy).scheme if isinstance(proxy, str) else None
    if scheme not in _PROXY_SCHEMES or not urlsplit(proxy).hostname:
        raise InvalidURL(
            f"proxy={proxy!r} is not a proxy URL wsbench can use: give http://host:port or "
            "socks5://, socks5h://, socks4://, socks4a://host:port (or True for the environment's proxy)"
        )


def _check_reconnect(attempts: int, backoff: tuple[float, float]) -> int:
    if type(attempts) is not int or attempts < 0:  # bool is not a count: say auto_reconnect=3
        raise ValueError(f"auto_reconnect must be a number of attempts (an int >= 0), not {attempts!r}")
    try:
        first, cap = backoff
        valid = 0 < first <= cap and cap < float("inf")
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            f"backoff must be (first delay, longest delay) in seconds, 0 < first <= longest, not {backoff!r}"
        )
    return attempts


def _worth_retrying(exc: ConnectError | Timeout) -> bool:
    """Refused, timed out, reset, or a 5xx from the server or a proxy: may pass; a 4xx, TLS or URL error will not."""
    if isinstance(exc, HandshakeRejected):
        return exc.status >= 500
    return not isinstance(exc, (TLSFailure, SubprotocolNotAccepted))


def _tls_context(ca_file: str | None, insecure: bool, cert_file: str | None, key_file: str | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TLSFailure(f"cannot load the CA file {ca_file!r}: {exc}") from None
    if key_file is not None and cert_file is None:
        raise TLSFailure("key_file needs cert_file: pass the client certificate it belongs to")
    if cert_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSFailure(f"cannot load the client certificate {cert_file!r} / key {key_file!r}: {exc}") from None
    if insecure:
        warnings.warn("insecure=True: the server's TLS certificate is not checked", stacklevel=4)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connect_error(
    exc: BaseException,
    real_url: str,
    url: str,
    open_timeout: float,
    redirect: tuple[int, str] | None = None,
    proxy: Any = None,
) -> BaseException:
    """Translate what opening a connection raised into the wsbench error that names the fix."""
    host = urlsplit(real_url).netloc  # *url* is the display form: no loopback host and port
    if isinstance(proxy, str):  # every TCP connection goes to the proxy: name it, not the target
        import python_socks  # here, not at import: only a failed proxied connection needs it

        parts = urlsplit(proxy)
        shown = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")  # no credentials
        if isinstance(exc, (python_socks.ProxyError, websockets.InvalidProxyStatus, websockets.InvalidProxyMessage)):
            return ConnectError(f"the proxy {shown} did not open a tunnel to {host}: {exc}")
        if isinstance(exc, (ConnectionRefusedError, python_socks.ProxyConnectionError)):
            return ConnectionRefused(
                f"nothing accepts connections at the proxy {shown} (connection refused): is the proxy running?"
            )
    if isinstance(exc, ValueError) and isinstance(exc.__context__, websockets.InvalidStatus):
        exc = exc.__context__  # a bench connection's own socket cannot follow a redirect
    elif redirect is not None and isinstance(exc, OSError):  # websockets followed it, then failed there
        host = f"{urlsplit(urljoin(real_url, redirect[1])).netloc}, where {url} redirected to (HTTP {redirect[0]})"
    if isinstance(exc, websockets.InvalidStatus):
        response = exc.response
        body = bytes(response.body or b"")
        return HandshakeRejected(
            f"{url} rejected the WebSocket handshake with HTTP {response.status_code}"
            + (f" {response.reason_phrase}" if response.reason_phrase else "")
            + (f": {body[:80]!r}" if body else " (empty body)"),
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.raw_items()},
            body=body,
        )
    if isinstance(exc, websockets.InvalidURI):
        return InvalidURL(str(exc))
    if isinstance(exc, ssl.SSLError):
        # Fix: the ca_file hint only fits a certificate that did not verify; a server that does
        # not speak TLS at all (a plain ws:// server) answers with WRONG_VERSION_NUMBER.
        if isinstance(exc, ssl.SSLCertVerificationError):
            hint = "pass ca_file=... to trust its certificate"
        elif exc.reason == "WRONG_VERSION_NUMBER":
            hint = "the server does not speak TLS there: use ws:// instead of wss://"
        else:
            hint = "check that the server speaks TLS at this port and that its certificate is trusted (ca_file=...)"
        return TLSFailure(f"TLS handshake with {host} failed: {exc.reason or exc}; {hint}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return Timeout(f"opening {url}: no handshake response within {open_timeout} s")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(f"nothing accepts connections at {host} (connection refused): is the server running?")
    if isinstance(exc, websockets.ConnectionClosed) or (
        isinstance(exc, websockets.InvalidMessage) and isinstance(exc.__cause__, EOFError)
    ):  # the server hung up before (or while) the request was written, or before answering it
        hint = (
            "; over TLS, this is what a server that requires a client certificate does when none, or an "
            "untrusted one, is presented (cert_file=..., key_file=...)"
            if real_url.startswith("wss://")
            else ""
        )
        return ConnectError(f"{url} closed the connection without answering the WebSocket handshake{hint}")
    if isinstance(exc, websockets.InvalidProxy):
        return InvalidURL(f"{exc}: use an http://, socks5://, socks5h://, socks4:// or socks4a:// proxy URL")
    if isinstance(exc, websockets.InvalidHandshake):
        return ConnectError(f"the WebSocket handshake with {url} failed: {exc}")
    if isinstance(exc, OSError):
        return ConnectError(f"cannot connect to {host}: {exc.strerror or exc}")
    return exc


def _check_encodable(message: Message, what: str) -> None:
    """Text must encode as UTF-8; a lone surrogate would fail deep inside websockets' send()."""
    if isinstance(message, str) and not message.isascii():
        try:
            message.encode()
        except UnicodeEncodeError as exc:
            raise UnsendableText(
                f"{what}: the text holds a lone surrogate {message[exc.start]!r} at position {exc.start}, "
                "which UTF-8 cannot encode; nothing was sent"
            ) from None


def _require(data: Any, kinds: type | tuple[type, ...], method: str, other: str) -> Any:
    if not isinstance(data, kinds):
        raise TypeError(
            f"{method}() takes {'str' if kinds is str else 'bytes'}, not {type(data).__name__}; "
            f"{'use ' + other + '()' if isinstance(data, (str, bytes)) else 'convert it first'}"
        )
    return data


def _encode_json(data: Any, mode: str) -> Message:
    kind = _json_kind(mode)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text if kind is str else text.encode("utf-8")


def _json_kind(mode: str) -> type:
    if mode not in ("text", "binary"):
        raise ValueError(f'mode must be "text" or "binary", not {mode!r}')
    return str if mode == "text" else bytes


def _parse_json(message: Message) -> Any:
    try:
        return json.loads(message)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSON(
            f"receive_json: the message is not JSON ({exc}); it starts {message[:40]!r} and stays "
            f"queued: take it with receive_{_kind(message)}()"
        ) from None


def _wrong_type(what: str, message: Message) -> WrongMessageType:
    got = (
        f"a text message ({len(message)} characters)"
        if isinstance(message, str)
        else f"a binary message ({len(message)} bytes)"
    )
    return WrongMessageType(
        f"{what}: received {got}; it stays queued: take it with receive_{_kind(message)}() or receive()"
    )


def _not_on_server_loop(what: str) -> None:
    """A blocking call on the background loop's thread (inside an endpoint) would freeze the server."""
    if loop.in_loop_thread():
        raise RuntimeError(
            f"{what}: a blocking call on the wsbench server's loop (inside an endpoint?) would deadlock; "
            f"use the coroutine: await conn.a{what}(...)"
        )


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
