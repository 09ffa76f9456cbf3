"""The client connection: Starlette's method names over a real ``websockets`` connection.

Sync methods mirror Starlette's ``WebSocket`` names, each with a coroutine twin prefixed with ``a``.
:func:`connect` builds on websockets' sync client, :func:`aconnect` on its asyncio client; every
message is recorded and queued the moment it arrives (:mod:`.recording`, :mod:`.inbox`); options are
declared once (:class:`.options.Options`). Design and measurements: ``docs/modules/wsbench.client.md``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import websockets
from websockets.asyncio.client import connect as async_connect
from websockets.protocol import OPEN
from websockets.sync.client import connect as sync_connect

from .. import loop
from ..codes import check_close
from ..errors import (
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    Timeout,
)
from ..transcript import record_message
from . import shared
from .base import ConnectionBase, _keys, _not_on_server_loop
from .bounds import check_timeout
from .handshake import PLAIN_CONNECTION, check_url, connect_error
from .messages import Message, check_encodable, encode_json, json_kind, parse_json, require
from .options import ConnectOptions, Options, takes_options
from .reconnect import worth_retrying
from .recording import LOGGER, RecordingAsyncConnection, RecordingSyncConnection
from .shared import SharedConnection
from .tls import ClientTLS

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's from Python 3.11 on

    from .._service import Pairing
    from ..widgets import Panel, Timeline

__all__ = ["Connection", "aconnect", "connect"]


class Connection(ConnectionBase):
    """A client WebSocket connection, opened with :func:`connect` / ``bench.connect``
    (or :func:`aconnect` / ``bench.aconnect`` for a connection on the running event loop).

    Every wait is bounded: ``receive_*`` / ``iter_*`` by their *timeout* (default: the
    connection's ``timeout``; a KeyboardInterrupt while waiting cancels that call only), a
    send by ``timeout``, ``close()`` by ``close_timeout``, the handshake by ``open_timeout``.
    The options (keyword-only) are :class:`~wsbench.client.options.Options`' fields, listed
    in the signature and ``docs/connection_options.md``; *params* adds query parameters to *url*.
    Raises InvalidURL for a URL that is not ws:// or wss://, TypeError for an unknown option,
    ValueError / TypeError for a bad value, naming it.
    """

    @takes_options
    def __init__(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        pairing: Pairing | None = None,
        **options: Unpack[ConnectOptions],
    ) -> None:
        self.url = check_url(url, params)
        self._options = Options.given(options).check(self.url)
        self._start(pairing)

    @classmethod
    def _with(cls, url: str, options: Options, pairing: Pairing | None) -> Connection:
        """A new, unopened connection to *url* with *options* checked already (a reconnect)."""
        self = cls.__new__(cls)
        self.url, self._options = url, options
        self._start(pairing)
        return self

    # -- opening --------------------------------------------------------------

    def open(self) -> Connection:
        """Run the opening handshake, waiting at most ``open_timeout``; returns self.

        Raises a ConnectError when it fails (ConnectionRefused, HandshakeRejected, SubprotocolNotAccepted,
        TLSFailure; also when opened already), Timeout after ``open_timeout``."""
        self._starting()
        _not_on_server_loop("open")
        self._mode = "sync"
        return self._open()

    def _open(self) -> Connection:
        if self._pairing is not None and self.url.startswith("ws:") and not self._options.proxy:
            return self._open_shared()
        options = dict(self._connect_kwargs, logger=LOGGER)
        try:
            if self._pairing is not None:  # TCP first: the port pairs the bench's events with ours
                sock = socket.create_connection(self._pairing.address, self._open_timeout)
                sock.settimeout(None)  # websockets bounds the handshake; before 17.3 its reader obeys this timeout
                options["sock"] = self._pair(sock)
            if self.url.startswith("wss:"):  # TLS the reader and writer threads can share (see .tls)
                options["ssl"] = ClientTLS(options.get("ssl") or ssl.create_default_context())
            create = functools.partial(RecordingSyncConnection, owner=self, write_timeout=self.timeout)
            self._sync = sync_connect(self.url, create_connection=create, **options, **PLAIN_CONNECTION)  # type: ignore[call-overload]
        except BaseException as exc:
            self._failed(exc)
        return self._agreed()

    async def aopen(self) -> Connection:
        """Coroutine form of :meth:`open`; the connection then lives on the running loop. Raises as it does."""
        self._starting()
        self._home = asyncio.get_running_loop()
        self._home_thread = threading.get_ident()
        self._mode = "async"
        return await self._aopen()

    def _open_shared(self) -> Connection:
        """Open a bench's own ws:// connection, which the bench's loop reads and this thread writes
        (:mod:`.shared`): no reader thread, and a thread hop less for each message."""
        assert self._pairing is not None
        deadline = time.monotonic() + self._open_timeout
        kwargs = dict(self._connect_kwargs, uri=self.url)
        sock = None
        try:
            sock = socket.create_connection(self._pairing.address, self._open_timeout)
            self._pair(sock)
            made = shared.made(self, sock, kwargs, self.timeout)
            ws = loop.run(made, timeout=self._open_timeout, what=f"opening {self}")
            self._home, self._home_thread, self._async = ws.loop, ws._loop_thread, ws
            shared.handshake(ws, kwargs, max(deadline - time.monotonic(), 0.001))
        except BaseException as exc:
            if sock is not None:
                sock.close()
            self._failed(exc)
        return self._agreed()

    def _agreed(self) -> Connection:
        """Self once open, unless ``require_subprotocol`` and none was agreed: then close and raise."""
        if self._subprotocols and self.subprotocol is None and self._options.require_subprotocol:
            self.close(1000, "no subprotocol agreed")
            raise self._no_subprotocol()
        return self

    async def _aopen(self) -> Connection:
        options = dict(self._connect_kwargs, logger=LOGGER)
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
        self._set_key(sock.getsockname()[1])
        self._pairing.pair(self._key, self.transcript, self.name)
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

    # -- arrivals -----------------------------------------------------------------

    # -- state -------------------------------------------------------------------

    def wait_closed(self, timeout: float | None = None) -> int:
        """Wait until the connection has closed (either side's close, or a drop) and return the
        close code. Raises Timeout when it is still open after *timeout* seconds. Never reconnects."""
        self._not_on_home("wait_closed")
        timeout = self._bound(timeout)
        self._drain()
        if not self._inbox.wait(self._inbox.is_closed, timeout):
            raise Timeout(f"wait_closed: {self} is still open after {timeout} s")
        return self._inbox.closed.code  # type: ignore[union-attr]  # is_closed

    async def await_closed(self, timeout: float | None = None) -> int:
        """Coroutine form of :meth:`wait_closed`; raises as it does."""
        timeout = self._bound(timeout)
        self._drain()
        if not await self._inbox.await_(self._inbox.is_closed, timeout):
            raise Timeout(f"await_closed: {self} is still open after {timeout} s")
        return self._inbox.closed.code  # type: ignore[union-attr]  # is_closed

    def _drain(self) -> None:
        """The caller waits for the end: let a paused reader read on (bounded) to see it come."""
        budget = (self._inbox.high or 1) * (self._options.max_size or 2**20)
        self._inbox.drain(max(budget, 32 * 2**20))  # at least what TCP may hold in flight on loopback

    # -- sending -----------------------------------------------------------------

    def send_text(self, data: str) -> None:
        """Send a text message. Raises ConnectionClosed when the connection is closed, Timeout when the server
        does not take it within ``timeout``, UnsendableText for a lone surrogate, TypeError for bytes."""
        self._send(data if data.__class__ is str else require(data, str, "send_text", "send_bytes"), "send_text")

    def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message. Raises ConnectionClosed when the connection is closed, Timeout when the server
        does not take it within ``timeout``, TypeError for a str."""
        self._send(bytes(require(data, (bytes, bytearray, memoryview), "send_bytes", "send_text")), "send_bytes")

    def send_json(self, data: Any, mode: str = "text") -> None:
        """Send *data* as compact JSON, like Starlette's ``send_json``. Raises TypeError (nothing sent) for what
        JSON cannot hold, and what :meth:`send_text` raises."""
        self._send(encode_json(data, mode), "send_json")

    async def asend_text(self, data: str) -> None:
        """Coroutine form of :meth:`send_text`; raises as it does."""
        if (
            data.__class__ is str
            and data.isascii()
            and self._home_thread == threading.get_ident()
            and self._inbox.state == "open"
        ):
            await self._async_send(data, "asend_text")  # the usual case, what _asend() comes to: a coroutine less
            return
        if data.__class__ is not str:
            data = require(data, str, "asend_text", "asend_bytes")
        await self._asend(data, "asend_text")

    async def asend_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Coroutine form of :meth:`send_bytes`; raises as it does."""
        await self._asend(
            bytes(require(data, (bytes, bytearray, memoryview), "asend_bytes", "asend_text")), "asend_bytes"
        )

    async def asend_json(self, data: Any, mode: str = "text") -> None:
        """Coroutine form of :meth:`send_json`; raises as it does."""
        await self._asend(encode_json(data, mode), "asend_json")

    def _send(self, message: Message, what: str) -> None:
        if message.__class__ is not str or not message.isascii():  # ASCII text encodes: the usual case
            check_encodable(message, what)
        if self._inbox.state != "open":
            self._ensure_open("send")
        if self._sync is None:  # a bench's sync connection, or an aconnect() one used from sync code
            ws = self._written_here()
            if ws is not None:
                self._note_message("send", message)
                written = ws.write(message)
                if written:
                    return
                # the loop writes it (False), or the rest of it (None): wait there, bounded as a send is
                self._run(self._async_write(message if written is False else None, what), self.timeout * 2 + 1, what)
                return
            self._run(self._async_send(message, what), self.timeout * 2 + 1, what)  # a stuck write aborts first
            return
        if self._sink is not None:  # _note_message("send", message), a call less per message
            record_message(self._sink, "client", "send", self._key, message, self.name)
        else:
            self._note("send", data=message)
        try:
            self._sync.send(message)  # written by this thread, as websockets' sync client does
        except websockets.ConnectionClosed:
            self._sync.wait_ended(self._close_timeout)
            raise self._send_error(self._sync, what) from None

    async def _asend(self, message: Message, what: str) -> None:
        if message.__class__ is not str or not message.isascii():  # ASCII text encodes: the usual case
            check_encodable(message, what)
        if self._inbox.state != "open":
            await self._aensure_open("send")
        if self._home_thread == threading.get_ident():  # the usual case: on its own loop
            await self._async_send(message, what)
        elif self._sync is not None:  # a connect() connection, used from async code
            self._send(message, what)
        else:
            await self._arun(self._async_send(message, what), what)

    async def _async_send(self, message: Message, what: str) -> None:  # on the home loop
        if self._sink is not None:  # _note_message("send", message), a call less per message
            record_message(self._sink, "client", "send", self._key, message, self.name)
        else:
            self._note("send", data=message)
        ws = self._async
        try:
            if (
                ws.__class__ is RecordingAsyncConnection
                and ws.protocol.state is OPEN
                and not ws.paused
                and ws.send_in_progress is None
            ):
                # What websockets' send() does with a message in one frame, as its broadcast() does it:
                # without its context manager, which cost the round trip of an echo 2-3 %
                # (benchmarks/README.md, "Eighth look"). Past the high-water mark, it waits as send() does.
                if message.__class__ is str:
                    ws.protocol.send_text(message.encode())
                else:
                    ws.protocol.send_binary(message)
                ws.send_data()
                if ws.paused:
                    async with ws.send_context():
                        pass
                return
            await ws.send(message)
        except websockets.ConnectionClosed:
            await self._wait_closed()
            raise self._send_error(self._async, what) from None

    async def _async_write(self, message: Message | None, what: str) -> None:  # on the home loop
        """A SharedConnection's send that its writer left to the loop: *message* (recorded
        already), or with None the rest of one it began; waited for as a send is."""
        try:
            if message is None:
                async with self._async.send_context():
                    pass  # send_data() writes the rest first
            else:
                await self._async.send(message)
        except websockets.ConnectionClosed:
            await self._wait_closed()
            raise self._send_error(self._async, what) from None

    def _written_here(self) -> SharedConnection | None:
        """The SharedConnection this thread writes to itself (a bench's sync connection, used off
        the bench's loop), or None."""
        ws = self._async
        return ws if ws.__class__ is SharedConnection and self._home_thread != threading.get_ident() else None

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

    # -- receiving ---------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Message:
        """The next message, text (str) or binary (bytes). Raises Timeout when none comes within *timeout*,
        ConnectionClosed once the connection closed and every message received before was taken."""
        return self._take(None, timeout, "receive")

    def receive_text(self, timeout: float | None = None) -> str:
        """The next message, which must be text. Raises WrongMessageType for a binary one (it stays queued), and
        what :meth:`receive` raises."""
        return self._take(str, timeout, "receive_text")

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next message, which must be binary. Raises WrongMessageType for a text one (it stays queued), and
        what :meth:`receive` raises."""
        return self._take(bytes, timeout, "receive_bytes")

    def receive_json(self, mode: str = "text", timeout: float | None = None) -> Any:
        """The next message parsed as JSON (from a text frame, or a binary one with ``mode="binary"``). Raises
        InvalidJSON when it is not JSON (it stays queued), and what :meth:`receive_text` raises."""
        return self._take(json_kind(mode), timeout, "receive_json", parse=parse_json)

    async def areceive(self, timeout: float | None = None) -> Message:
        """Coroutine form of :meth:`receive`; raises as it does."""
        return await self._atake(None, timeout, "areceive")

    async def areceive_text(self, timeout: float | None = None) -> str:
        """Coroutine form of :meth:`receive_text`; raises as it does."""
        return await self._atake(str, timeout, "areceive_text")

    async def areceive_bytes(self, timeout: float | None = None) -> bytes:
        """Coroutine form of :meth:`receive_bytes`; raises as it does."""
        return await self._atake(bytes, timeout, "areceive_bytes")

    async def areceive_json(self, mode: str = "text", timeout: float | None = None) -> Any:
        """Coroutine form of :meth:`receive_json`; raises as it does."""
        return await self._atake(json_kind(mode), timeout, "areceive_json", parse=parse_json)

    def _take(self, kind: type | None, timeout: float | None, what: str, parse: Callable | None = None) -> Any:
        ident = threading.get_ident()
        if ident == self._home_thread or ident in loop.loop_idents:  # what _not_on_home() checks, in one look
            self._not_on_home(what)
        timeout = self.timeout if timeout is None else self._bound(timeout)
        inbox = self._inbox
        if inbox._messages:  # queued already: take it without the wait's machinery
            return inbox.pop(kind, what, parse, self._closed_error)
        if inbox.gate.wait(inbox.ready, timeout) is None:  # inbox.wait(), a call less
            raise self._timeout(what, timeout)
        for _ in range(self.auto_reconnect):  # each drop, once what came before it is taken, may reconnect
            if self._inbox or not self._revivable():
                break
            self._revive(what)
            if not self._inbox.wait(self._inbox.ready, timeout):
                raise self._timeout(what, timeout)
        return self._pop(kind, what, parse)

    async def _atake(self, kind: type | None, timeout: float | None, what: str, parse: Callable | None = None) -> Any:
        timeout = self.timeout if timeout is None else self._bound(timeout)
        inbox = self._inbox
        if inbox._messages:  # queued already: take it without the wait's machinery
            return inbox.pop(kind, what, parse, self._closed_error)
        home = self._home if self._home_thread == threading.get_ident() else None  # known: not asked again
        if await inbox.gate.await_(inbox.ready, timeout, home) is None:  # inbox.await_(), a coroutine less
            raise self._timeout(what, timeout)
        for _ in range(self.auto_reconnect):
            if self._inbox or not self._revivable():
                break
            await self._arevive(what)
            if not await self._inbox.await_(self._inbox.ready, timeout):
                raise self._timeout(what, timeout)
        return inbox.pop(kind, what, parse, self._closed_error)

    # -- iterating ---------------------------------------------------------------

    def iter_messages(self, limit: int | None = None, timeout: float | None = None) -> Iterator[Message]:
        """Yield messages until the peer closes or *limit*. Raises ConnectionClosed for a close other than
        1000/1001 (those end it quietly), Timeout when no message comes within *timeout*."""
        return self._iter(self.receive, limit, self._iter_timeout(timeout))

    def iter_text(self, limit: int | None = None, timeout: float | None = None) -> Iterator[str]:
        """Like :meth:`iter_messages`, each message text; raises as it does, and WrongMessageType for a binary one."""
        return self._iter(self.receive_text, limit, self._iter_timeout(timeout))

    def iter_bytes(self, limit: int | None = None, timeout: float | None = None) -> Iterator[bytes]:
        """Like :meth:`iter_messages`, each message binary; raises as it does, and WrongMessageType for a text one."""
        return self._iter(self.receive_bytes, limit, self._iter_timeout(timeout))

    def iter_json(self, limit: int | None = None, timeout: float | None = None) -> Iterator[Any]:
        """Like :meth:`iter_messages`, each message parsed as JSON; raises as it does, and InvalidJSON."""
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
        """Coroutine form of :meth:`iter_messages`; raises as it does."""
        return self._aiter(self.areceive, limit, self._iter_timeout(timeout))

    def aiter_text(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[str]:
        """Coroutine form of :meth:`iter_text`; raises as it does."""
        return self._aiter(self.areceive_text, limit, self._iter_timeout(timeout))

    def aiter_bytes(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[bytes]:
        """Coroutine form of :meth:`iter_bytes`; raises as it does."""
        return self._aiter(self.areceive_bytes, limit, self._iter_timeout(timeout))

    def aiter_json(self, limit: int | None = None, timeout: float | None = None) -> AsyncIterator[Any]:
        """Coroutine form of :meth:`iter_json`; raises as it does."""
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
        """Send a ping and return the round-trip time in seconds when the pong comes. Raises Timeout when no
        pong comes within *timeout*, ConnectionClosed when the connection is closed."""
        timeout = self._bound(timeout)
        self._ensure_open("ping")
        ws = self._written_here()
        if ws is not None:
            return self._ping_shared(ws, timeout)
        if self._sync is None:
            return self._run(self._async_ping(timeout), timeout * 2 + 1, "ping")  # a stuck write aborts first
        self._note("ping")
        start = time.perf_counter()
        try:
            pong = self._sync.ping()  # the write is bounded by the socket's timeout
        except websockets.ConnectionClosed:
            raise self._send_error(self._sync, "ping") from None
        if not pong.wait(timeout):
            raise self._no_pong(timeout)
        latency = time.perf_counter() - start
        self._note("pong")
        return latency

    def _ping_shared(self, ws: SharedConnection, timeout: float) -> float:
        """ping() of a bench's sync connection: written and waited for on this thread, so a pong
        that does not come says why (the bench's loop blocked?) after *timeout*, as websockets' did."""
        self._note("ping")
        start = time.perf_counter()
        data = ws.ping_now()
        if data is None:
            raise self._send_error(ws, "ping")
        seen = ws.wait_pong(data, timeout)
        if seen is None:
            raise self._no_pong(timeout)
        if seen == "ended":
            raise self._send_error(ws, "ping")
        latency = time.perf_counter() - start
        self._note("pong")
        return latency

    async def aping(self, timeout: float | None = None) -> float:
        """Coroutine form of :meth:`ping`; raises as it does."""
        timeout = self._bound(timeout)
        await self._aensure_open("ping")
        if self._sync is not None:
            return await asyncio.to_thread(self.ping, timeout)
        return await self._arun(self._async_ping(timeout), "aping")

    async def _async_ping(self, timeout: float) -> float:  # on the home loop
        self._note("ping")
        try:
            pong = await self._async.ping()  # the write is bounded by the drain's timeout
            latency = await asyncio.wait_for(pong, timeout)
        except asyncio.TimeoutError:
            raise self._no_pong(timeout) from None
        except websockets.ConnectionClosed:
            raise self._send_error(self._async, "ping") from None
        self._note("pong")
        return float(latency)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with *code* and *reason* (checked first: nothing is sent if they are invalid).

        Returns when the closing handshake is over and the server closed TCP, or after
        ``close_timeout``: then TCP is aborted and the transcript's "closed" event says so.
        Closing a closed connection does nothing. Raises InvalidCloseCode or ReasonTooLong (nothing sent).
        """
        check_close(code, reason)
        if self.state in ("closed", "new"):
            return
        shared_ws = self._written_here()
        if shared_ws is not None:
            self._close_shared(shared_ws, code, reason)
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

    def _close_shared(self, ws: SharedConnection, code: int, reason: str) -> None:
        """close() of a bench's sync connection, from this thread as websockets' sync client does:
        also when the bench's loop is blocked, it returns after ``close_timeout``."""
        _not_on_server_loop("close")
        deadline = time.monotonic() + self._close_timeout
        if self._closing(code, reason):
            self._drain()  # a paused reader must read on to see the server's close frame
            ws.close_now(code, reason)
        if not ws.lost.wait(max(0.0, deadline - time.monotonic())):
            ws.abort(self._close_note())
            if loop.blocked_now(ws.loop) is None:  # else the loop drops TCP when it runs again
                ws.lost.wait(self._close_timeout)
        self._inbox.wait(self._inbox.is_closed, self._close_timeout)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Coroutine form of :meth:`close`; raises as it does."""
        check_close(code, reason)
        if self.state in ("closed", "new"):
            return
        if self._sync is not None:
            await asyncio.to_thread(self.close, code, reason)
            return
        try:
            await self._arun(self._async_close(code, reason), "aclose")
        except ConnectionClosed:  # it ended before the loop took it over: closed, which was the goal
            pass

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
        try:
            return loop.run(self._home_coro(coro, what), timeout=timeout, what=f"{what} on {self}", on=self._home)
        finally:
            _close_unstarted(coro)

    async def _arun(self, coro: Any, what: str) -> Any:
        """Await a coroutine on the connection's home loop from another loop."""
        try:
            return await loop.arun(self._home_coro(coro, what), on=self._home)
        finally:
            _close_unstarted(coro)

    def _home_coro(self, coro: Any, what: str) -> Any:
        """*coro*, to run on the home loop: a SharedConnection's once it has its transport."""
        return self._attached(coro, what) if self._async.__class__ is SharedConnection else coro

    async def _attached(self, coro: Any, what: str) -> Any:  # on the home loop
        try:
            await self._async.attached()
        except websockets.ConnectionClosed:  # the loop could not take it over: it ended there
            coro.close()
            raise self._closed_error(what.removeprefix("a")) from None
        return await coro

    # -- reconnecting after a drop (auto_reconnect) -------------------------------------

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
            self._set_key(next(_keys))
            yield delay

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
        """Open a new connection to the same URL with the same options (this one stays as it is); raises as
        :meth:`open` does."""
        return Connection._with(self.url, self._options, self._pairing).open()

    async def areconnect(self) -> Connection:
        """Coroutine form of :meth:`reconnect`: the new connection lives on the running loop; raises as it does."""
        return await Connection._with(self.url, self._options, self._pairing).aopen()

    # -- widgets (imported on first use: the core works without ipywidgets) ----------

    # -- widgets (imported on first use: the core works without ipywidgets) ----------

    def panel(self, **options: Any) -> Panel:
        """A live :class:`~wsbench.widgets.Panel` for this connection: log, send box, close, ping. Raises
        ValueError for a *ring* below 1 or an *interval* that is not positive."""
        from ..widgets import Panel

        options.setdefault("reconnect", self.reconnect)
        return Panel(self, **options)

    def timeline(self, **options: Any) -> Timeline:
        """A :class:`~wsbench.widgets.Timeline` of this connection, client and server side by side. Raises
        ValueError for a *limit* below 2 events."""
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


@takes_options
def connect(url: str, *, params: Mapping[str, Any] | None = None, **options: Unpack[ConnectOptions]) -> Connection:
    """Open a WebSocket connection to *url* (ws:// or wss://), with *params* added to its query, and return it.

    Raises InvalidURL for a URL that is not ws:// or wss://, TypeError for an unknown option, and when
    the handshake fails a ConnectError: ConnectionRefused, HandshakeRejected (an HTTP answer),
    SubprotocolNotAccepted, TLSFailure; Timeout after ``open_timeout``.
    """
    return Connection(url, params=params, **options).open()


@takes_options
async def aconnect(
    url: str, *, params: Mapping[str, Any] | None = None, **options: Unpack[ConnectOptions]
) -> Connection:
    """Coroutine form of :func:`connect` (the connection lives on the running loop); raises as it does."""
    return await Connection(url, params=params, **options).aopen()


def _close_unstarted(coro: Any) -> None:
    """Close *coro* if it never ran (its task was cancelled first), so Python does not warn that
    it was never awaited."""
    if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
        coro.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
