"""The client side: a WebSocket connection to the bench or to any ws:// / wss:// URL.

* Built on the ``websockets`` asyncio client, living on the wsbench background loop
  (:mod:`wsbench.loop`) next to the embedded server.
* A reader task takes every message as it arrives, records it in the transcript and
  queues it, so nothing received is lost, also when a ``receive_*`` call raises.
* Sync methods mirror Starlette's ``WebSocket`` names (``send_text``,
  ``receive_json``, ``iter_text``, ``close(code, reason)``); each has a coroutine
  twin prefixed with ``a`` (``asend_text``, ``areceive_json``, ``aiter_text``,
  ``aclose``) for code that prefers ``await``.
* Sends are handed to the loop without a round trip, at most :data:`SEND_WINDOW`
  in flight (back-pressure); receives wait on a queue in the caller's own thread.
  One hand-off per message is what keeps the sync facade near the raw client's speed.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import urlencode, urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from . import loop
from .codes import check_close, describe
from .errors import (
    ConnectError,
    ConnectionClosed,
    ConnectionRefused,
    HandshakeRejected,
    InvalidJSON,
    InvalidURL,
    SubprotocolNotAccepted,
    Timeout,
    TLSFailure,
    WrongMessageType,
)
from .transcript import Transcript, record

if TYPE_CHECKING:
    from .server import Bench

__all__ = ["Connection", "SEND_WINDOW", "aconnect", "connect"]

Message = Union[str, bytes]

#: Messages handed to the loop but not yet written; a sender waits beyond this.
SEND_WINDOW = 64

_LOOPBACK = ("127.", "localhost", "[::1]")


class _Gate:
    """A condition that threads and coroutines on any event loop can wait on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._cond = threading.Condition(self.lock)
        self._futures: list[asyncio.Future] = []

    def notify(self) -> None:
        """Wake every waiter; call with :attr:`lock` held."""
        self._cond.notify_all()
        futures, self._futures = self._futures, []
        for future in futures:
            # Fix: a waiter that timed out or was cancelled left a done future behind, and its
            # event loop may be closed by now (asyncio.run returned): call_soon_threadsafe then
            # raised RuntimeError here, in the reader, which stopped reading (messages lost).
            if future.done():
                continue
            try:
                future.get_loop().call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that waiter's loop closed meanwhile: nobody is left to wake
                pass

    def wait(self, ready: Callable[[], Any], timeout: float | None) -> Any:
        """Block until ``ready()`` is truthy and return it, or return None at *timeout*."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while not (result := ready()):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return result

    async def await_(self, ready: Callable[[], Any], timeout: float | None) -> Any:
        """Coroutine form of :meth:`wait`, for any running event loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        running = asyncio.get_running_loop()
        while True:
            with self.lock:
                if result := ready():
                    return result
                future = running.create_future()
                self._futures.append(future)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            try:
                await asyncio.wait_for(future, remaining)
            except asyncio.TimeoutError:
                return None
            finally:  # Fix: drop this waiter's future, so timed-out waits do not pile up until a notify
                with self.lock:
                    if future in self._futures:
                        self._futures.remove(future)


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _kind(message: Message) -> str:
    return "text" if isinstance(message, str) else "bytes"


class Connection:
    """A client WebSocket connection, opened with :func:`connect` or ``bench.connect``.

    Every ``receive_*`` / ``iter_*`` waits at most *timeout* seconds (default: the
    connection's ``timeout``), so a cell never hangs; a KeyboardInterrupt while
    waiting cancels that call only.
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
        insecure: bool = False,
        # Timeouts, in seconds
        open_timeout: float = 10.0,
        close_timeout: float = 10.0,
        timeout: float = 10.0,
        _bench: Bench | None = None,
    ) -> None:
        self.url = _check_url(url, params)
        self.timeout = timeout
        self.transcript = Transcript()
        self.subprotocol: str | None = None
        self.response_headers: dict[str, str] = {}
        self._subprotocols = list(subprotocols) if subprotocols else None
        self._bench = _bench
        self._open_timeout = open_timeout
        self._sinks: tuple[Transcript, ...] = (self.transcript,) if _bench is None else (self.transcript, _bench.transcript)
        self._key = id(self)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._gate = _Gate()
        self._inbox: deque[Message] = deque()
        self._in_flight = 0
        self._closed: ConnectionClosed | None = None
        self._send_error: BaseException | None = None
        self._state = "connecting"
        extra = list(headers.items() if isinstance(headers, Mapping) else headers or [])
        if cookies:
            extra.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
        self._options: dict[str, Any] = dict(
            additional_headers=extra or None, subprotocols=self._subprotocols, origin=origin, proxy=proxy,
            compression="deflate" if compression else None, max_size=max_size, ping_interval=ping_interval,
            open_timeout=open_timeout, close_timeout=close_timeout,
        )
        if self.url.startswith("wss://"):
            self._options["ssl"] = _tls_context(ca_file, insecure)
        elif ca_file or insecure:
            raise InvalidURL(f"{self.url} is not a wss:// URL, so ca_file / insecure have no TLS to apply to")

    # -- opening --------------------------------------------------------------

    def open(self) -> Connection:
        """Run the opening handshake, waiting at most ``open_timeout``; returns self."""
        loop.run(self._open(), timeout=self._open_timeout, what=f"opening {self}")
        return self

    async def aopen(self) -> Connection:
        """Coroutine form of :meth:`open`."""
        await loop.arun(self._open())
        return self

    async def _open(self) -> None:
        options = dict(self._options)
        try:
            if self._bench is not None:  # TCP first: the port pairs the bench's events with ours
                options["sock"] = await self._bench_socket()
            self._note("connect", data=self.url)
            self._ws = await ws_connect(self.url, **options)
        except BaseException as exc:
            if not self.transcript:
                self._note("connect", data=self.url)
            self._state = "closed"
            error = _connect_error(exc, self.url, self._open_timeout)
            if isinstance(error, HandshakeRejected):
                self._note("rejected", data=error.body, code=error.status)
            else:
                self._note("error", detail=type(error).__name__)
            self._finish(ConnectionClosed(f"connection to {self} never opened: {error}", code=1006, reason=""))
            raise error from None
        ws = self._ws
        self.subprotocol = ws.subprotocol
        self.response_headers = {k.lower(): v for k, v in ws.response.headers.raw_items()} if ws.response else {}
        self._state = "open"
        self._note("open", detail=self.subprotocol)
        self._reader = asyncio.ensure_future(self._read(ws))
        if self._subprotocols and self.subprotocol is None:
            await self._close(1000, "no subprotocol agreed")
            raise SubprotocolNotAccepted(
                f"the server accepted none of the subprotocols {self._subprotocols}; "
                "offer one it supports, or check its accept(subprotocol=...)"
            )

    async def _bench_socket(self) -> Any:
        """Connect TCP first, so the bench can pair its server-side events with this client."""
        import socket

        assert self._bench is not None
        sock = socket.socket(socket.AF_INET6 if ":" in self._bench.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (self._bench.host, self._bench.port))
        except BaseException:
            sock.close()
            raise
        self._key = sock.getsockname()[1]
        self._bench._pair(self._key, self.transcript)
        return sock

    # -- the reader -------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self._note("receive", data=message)
                with self._gate.lock:
                    self._inbox.append(message)
                    self._gate.notify()
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 - recorded and re-raised to readers as closed
            self._note("error", detail=f"{type(exc).__name__}: {exc}")
        await ws.wait_closed()
        exc = ws.close_exc
        code = ws.close_code if ws.close_code is not None else 1006
        reason = ws.close_reason or ""
        sent = exc.sent
        self._note("closed", code=code, reason=reason, detail=str(exc))
        self._finish(
            ConnectionClosed(
                f"connection closed: {exc}", code=code, reason=reason,
                sent_code=sent.code if sent else None, sent_reason=sent.reason if sent else "",
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
        """"connecting", "open", "closing" or "closed"."""
        return self._state

    @property
    def close_code(self) -> int | None:
        """The code the peer closed with (1006 if it dropped without a close frame), or None while open."""
        return self._closed.code if self._closed else None

    @property
    def close_reason(self) -> str | None:
        """The reason the peer closed with, or None while open."""
        return self._closed.reason if self._closed else None

    def __repr__(self) -> str:
        closed = f" {describe(self.close_code, self.close_reason or '')}" if self._closed else ""
        return f"<Connection {self._display_url()} {self._state}{closed}>"

    def _display_url(self) -> str:
        scheme, netloc, path, query, _ = urlsplit(self.url)
        if netloc.startswith(_LOOPBACK):  # ports change from run to run
            return path + (f"?{query}" if query else "")
        return self.url

    # -- sending -----------------------------------------------------------------

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self._send(_require(data, str, "send_text", "send_bytes"))

    def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message."""
        self._send(bytes(_require(data, (bytes, bytearray, memoryview), "send_bytes", "send_text")))

    def send_json(self, data: Any, mode: str = "text") -> None:
        """Send *data* as compact JSON, like Starlette's ``send_json``; TypeError before anything is sent."""
        self._send(_encode_json(data, mode))

    def _send(self, message: Message) -> None:
        if not self._gate.wait(lambda: self._can_send(), self.timeout):
            raise Timeout(f"send on {self}: {SEND_WINDOW} messages still unwritten after {self.timeout} s; is the peer reading?")
        self._dispatch(message)

    async def asend_text(self, data: str) -> None:
        """Coroutine form of :meth:`send_text`."""
        await self._asend(_require(data, str, "asend_text", "asend_bytes"))

    async def asend_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Coroutine form of :meth:`send_bytes`."""
        await self._asend(bytes(_require(data, (bytes, bytearray, memoryview), "asend_bytes", "asend_text")))

    async def asend_json(self, data: Any, mode: str = "text") -> None:
        """Coroutine form of :meth:`send_json`."""
        await self._asend(_encode_json(data, mode))

    async def _asend(self, message: Message) -> None:
        if not await self._gate.await_(lambda: self._can_send(), self.timeout):
            raise Timeout(f"send on {self}: {SEND_WINDOW} messages still unwritten after {self.timeout} s; is the peer reading?")
        self._dispatch(message)

    def _can_send(self) -> bool:
        """With the gate's lock held: True when a send may go, raising if it never can."""
        if self._send_error is not None:
            error, self._send_error = self._send_error, None
            raise ConnectError(f"an earlier send on {self} failed: {type(error).__name__}: {error}")
        if self._state != "open":
            raise self._closed_error("send")
        if self._in_flight < SEND_WINDOW:
            self._in_flight += 1
            return True
        return False

    def _dispatch(self, message: Message) -> None:
        self._note("send", data=message)
        loop.get_loop().call_soon_threadsafe(self._write, message)

    def _write(self, message: Message) -> None:  # on the loop
        assert self._ws is not None
        asyncio.ensure_future(self._ws.send(message)).add_done_callback(self._written)

    def _written(self, task: asyncio.Future) -> None:  # on the loop
        error = None if task.cancelled() else task.exception()
        with self._gate.lock:
            self._in_flight -= 1
            if error is not None and not isinstance(error, websockets.ConnectionClosed):
                self._send_error = error
            self._gate.notify()
        if error is not None and not isinstance(error, websockets.ConnectionClosed):
            self._note("error", detail=f"send failed: {type(error).__name__}")

    def _closed_error(self, action: str) -> ConnectionClosed:
        if self._closed is not None:
            closed = self._closed
            return ConnectionClosed(
                f"cannot {action}: {str(closed).split(': ', 1)[-1]}", code=closed.code, reason=closed.reason,
                sent_code=closed.sent_code, sent_reason=closed.sent_reason,
            )
        return ConnectionClosed(f"cannot {action}: {self} is {self._state}", code=1006, reason="")

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
        return self._take_json(mode, timeout)

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
        return await self._atake_json(mode, timeout)

    def _take(self, kind: type | None, timeout: float | None, what: str) -> Any:
        _not_on_loop(what)
        timeout = self.timeout if timeout is None else timeout
        if self._gate.wait(self._ready, timeout) is None:
            raise self._timeout(what, timeout)
        return self._pop(kind, what)

    async def _atake(self, kind: type | None, timeout: float | None, what: str) -> Any:
        timeout = self.timeout if timeout is None else timeout
        if await self._gate.await_(self._ready, timeout) is None:
            raise self._timeout(what, timeout)
        return self._pop(kind, what)

    def _take_json(self, mode: str, timeout: float | None) -> Any:
        _not_on_loop("receive_json")
        kind = _json_kind(mode)
        timeout = self.timeout if timeout is None else timeout
        if self._gate.wait(self._ready, timeout) is None:
            raise self._timeout("receive_json", timeout)
        return self._pop_json(kind)

    async def _atake_json(self, mode: str, timeout: float | None) -> Any:
        kind = _json_kind(mode)
        timeout = self.timeout if timeout is None else timeout
        if await self._gate.await_(self._ready, timeout) is None:
            raise self._timeout("areceive_json", timeout)
        return self._pop_json(kind)

    def _ready(self) -> bool:
        return bool(self._inbox) or self._closed is not None

    def _timeout(self, what: str, timeout: float) -> Timeout:
        return Timeout(f"{what}: no message from {self} within {timeout} s; nothing was lost, call again to keep waiting")

    def _pop(self, kind: type | None, what: str) -> Any:
        with self._gate.lock:
            if not self._inbox:
                assert self._closed is not None
                raise self._closed_error(what)
            message = self._inbox[0]
            if kind is not None and not isinstance(message, kind):
                raise _wrong_type(what, message)
            return self._inbox.popleft()

    def _pop_json(self, kind: type) -> Any:
        with self._gate.lock:
            if not self._inbox:
                assert self._closed is not None
                raise self._closed_error("receive_json")
            message = self._inbox[0]
            if not isinstance(message, kind):
                raise _wrong_type("receive_json", message)
            try:
                value = json.loads(message)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidJSON(
                    f"receive_json: the message is not JSON ({exc}); it starts {message[:40]!r} and stays "
                    f"queued: take it with receive_{_kind(message)}()"
                ) from None
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

    async def _aiter(self, take: Callable[[float | None], Any], limit: int | None, timeout: float | None) -> AsyncIterator[Any]:
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
        return loop.run(self._ping(timeout), timeout=timeout, what=f"ping on {self}")

    async def aping(self, timeout: float | None = None) -> float:
        """Coroutine form of :meth:`ping`."""
        return await loop.arun(self._ping(self.timeout if timeout is None else timeout))

    async def _ping(self, timeout: float) -> float:
        if self._state != "open" or self._ws is None:
            raise self._closed_error("ping")
        self._note("ping")
        try:
            latency = await asyncio.wait_for(await self._ws.ping(), timeout)
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
        if self._state != "closed":
            loop.run(self._close(code, reason), timeout=float(self._options["close_timeout"]), what=f"closing {self}")

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Coroutine form of :meth:`close`."""
        check_close(code, reason)
        if self._state != "closed":
            await loop.arun(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self._state == "open" and self._ws is not None:
            self._state = "closing"
            self._note("close", code=code, reason=reason)
            await self._ws.close(code, reason)
        if self._reader is not None:
            await asyncio.shield(self._reader)

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
    ``ping_interval``, ``ca_file``, ``insecure``, ``open_timeout``, ``close_timeout``,
    ``timeout``.
    """
    return Connection(url, **options).open()


async def aconnect(url: str, **options: Any) -> Connection:
    """Coroutine form of :func:`connect`."""
    return await Connection(url, **options).aopen()


# -- helpers ------------------------------------------------------------------


def _check_url(url: str, params: Mapping[str, Any] | None) -> str:
    if not isinstance(url, str):
        raise InvalidURL(f"{url!r} isn't a valid WebSocket URL: expected a str, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"{url!r} isn't a valid WebSocket URL: {exc}") from None
    if parts.scheme not in ("ws", "wss"):
        hint = {"http": " (use ws:// for http://)", "https": " (use wss:// for https://)"}.get(parts.scheme, "")
        raise InvalidURL(f"{url!r} isn't a valid WebSocket URL: the scheme must be ws:// or wss://{hint}")
    if not parts.hostname:
        raise InvalidURL(f"{url!r} isn't a valid WebSocket URL: it has no host")
    if port == 0:
        raise InvalidURL(f"{url!r} isn't a valid WebSocket URL: port 0 cannot be connected to")
    if params:
        query = "&".join(q for q in (parts.query, urlencode(params, doseq=True)) if q)
        url = urlunsplit(parts._replace(query=query))
    return url


def _tls_context(ca_file: str | None, insecure: bool) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TLSFailure(f"cannot load the CA file {ca_file!r}: {exc}") from None
    if insecure:
        warnings.warn("insecure=True: the server's TLS certificate is not checked", stacklevel=4)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connect_error(exc: BaseException, url: str, open_timeout: float) -> BaseException:
    """Translate what opening a connection raised into the wsbench error that names the fix."""
    host = urlsplit(url).netloc
    if isinstance(exc, websockets.InvalidStatus):
        response = exc.response
        body = bytes(response.body or b"")
        return HandshakeRejected(
            f"{url} rejected the WebSocket handshake with HTTP {response.status_code} {response.reason_phrase}"
            + (f": {body[:80]!r}" if body else " (empty body)"),
            status=response.status_code, headers={k.lower(): v for k, v in response.headers.raw_items()}, body=body,
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
    if isinstance(exc, websockets.InvalidHandshake):
        return ConnectError(f"the WebSocket handshake with {url} failed: {exc}")
    if isinstance(exc, OSError):
        return ConnectError(f"cannot connect to {host}: {exc.strerror or exc}")
    return exc


def _not_on_loop(what: str) -> None:
    # Fix: a sync receive from the wsbench loop's own thread (for example inside an endpoint)
    # blocked the loop, so the reader could never deliver and the call ended in a false Timeout
    # after freezing the server; refuse it as loop.run() does for the other blocking calls.
    if loop.in_loop_thread():
        raise RuntimeError(f"{what}: a blocking call from inside the wsbench loop would deadlock; use the a* coroutine")


def _require(data: Any, kinds: type | tuple[type, ...], method: str, other: str) -> Any:
    if not isinstance(data, kinds):
        raise TypeError(f"{method}() takes {'str' if kinds is str else 'bytes'}, not {type(data).__name__}; "
                        f"{'use ' + other + '()' if isinstance(data, (str, bytes)) else 'convert it first'}")
    return data


def _encode_json(data: Any, mode: str) -> Message:
    kind = _json_kind(mode)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text if kind is str else text.encode("utf-8")


def _json_kind(mode: str) -> type:
    if mode not in ("text", "binary"):
        raise ValueError(f'mode must be "text" or "binary", not {mode!r}')
    return str if mode == "text" else bytes


def _wrong_type(what: str, message: Message) -> WrongMessageType:
    got = f"a text message ({len(message)} characters)" if isinstance(message, str) else f"a binary message ({len(message)} bytes)"
    return WrongMessageType(f"{what}: received {got}; it stays queued: take it with receive_{_kind(message)}() or receive()")
