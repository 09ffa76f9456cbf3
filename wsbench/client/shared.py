"""A bench's sync connection: read by the bench's loop, written by the caller's thread, its
handshake run on the caller's thread. Specification: ``docs/modules/wsbench.client.md``."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidMessage
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.http11 import USER_AGENT
from websockets.protocol import OPEN
from websockets.uri import parse_uri

from .._gate import Gate
from .messages import Message
from .recording import LOGGER, Owner, RecordingAsyncConnection

__all__ = ["READ_SIZE", "SharedConnection", "handshake"]

#: Bytes the loop reads at once: what websockets' sync reader reads. asyncio's default, 256 KiB,
#: can hold 40,000 small compressed messages, all parsed, recorded and queued in one go (60 B a
#: message of RSS at 3*10^5 pushed messages, against 33 with websockets' reader).
READ_SIZE = 65536


class SharedConnection(RecordingAsyncConnection):
    """websockets' asyncio client connection, made on the bench's loop before the handshake,
    attached to its socket after it; another thread may write to it (:meth:`write`)."""

    def __init__(self, protocol: Any, *args: Any, sock: socket.socket, **kwargs: Any) -> None:
        self._guard = threading.RLock()  # reentrant: data_received() calls send_data() with it held
        self._sock = sock  # the transport's socket once attached: closed only after connection_lost()
        self._rest: bytes | None = None  # the end of a frame write() left to the loop
        self._early: list[Any] = []  # frames that came with the handshake response
        self._reading = True  # what flow control asked for before the transport was there
        self._drop_attached = False  # dropped before the transport was there
        self._pings: dict[bytes, bool] = {}  # the pings sent from a thread: answered yet?
        self._pongs = Gate()  # notified when one is answered, and at the end
        self.lost = threading.Event()  #: set once TCP is closed (connection_lost() ran)
        super().__init__(protocol, *args, **kwargs)
        self._attached: asyncio.Future[None] = self.loop.create_future()

    # -- the caller's thread ---------------------------------------------------------

    def write(self, message: Message) -> bool | None:
        """Write one message from this thread: True once the socket took all of it; None when the
        loop writes (the end of) it: wait for that there, as a send on the loop waits; False when
        the connection is not open (nothing done: send on the loop, which says why)."""
        if message.__class__ is str:
            return self._emit(self.protocol.send_text, message.encode())
        return self._emit(self.protocol.send_binary, message)

    def ping_now(self) -> bytes | None:
        """Send a ping from this thread; its payload, to wait for with :meth:`wait_pong`, or None
        when the connection is not open."""
        with self._guard:
            data = struct.pack("!I", random.getrandbits(32))
            while data in self._pings or data in self.pending_pings:
                data = struct.pack("!I", random.getrandbits(32))
            if self._emit(self.protocol.send_ping, data) is False:
                return None
            self._pings[data] = False
        return data

    def wait_pong(self, data: bytes, timeout: float) -> str | None:
        """Wait up to *timeout* s for the pong to the ping *data*: "pong" when it came, "ended"
        when the connection ended first, None at the timeout."""

        def seen() -> str | None:
            if self._pings.get(data):
                return "pong"
            return "ended" if self.lost.is_set() else None

        try:
            return self._pongs.wait(seen, timeout)
        finally:
            self._pings.pop(data, None)

    def close_now(self, code: int, reason: str) -> None:
        """Send a close frame from this thread (the loop writes it if the socket cannot yet)."""
        self._emit(self.protocol.send_close, code, reason)

    def _emit(self, frame: Callable[..., Any], *args: Any) -> bool | None:
        """Add a frame to the protocol (``frame(*args)``) and write what it has to send from this
        thread if nothing is waiting to go before it; see :meth:`write` for what it returns."""
        with self._guard:
            if self.protocol.state is not OPEN or self.send_in_progress is not None:
                return False
            frame(*args)
            if self._rest is None and not (
                self._attached.done() and (self.paused or self.transport.get_write_buffer_size())
            ):
                data = b"".join(self.protocol.data_to_send())
                try:
                    sent = self._sock.send(data)
                except OSError:  # full (BlockingIOError), or broken: the loop sees that on its next read
                    sent = 0
                if sent == len(data):
                    return True
                self._rest = data[sent:]
        self.loop.call_soon_threadsafe(self.send_data)  # writes the rest, and what the protocol holds
        return None

    @property
    def local_address(self) -> Any:
        return self._sock.getsockname()

    @property
    def remote_address(self) -> Any:
        return self._sock.getpeername()

    def flow_control(self) -> tuple[Callable[[], Any], Callable[[], Any]]:
        def pause() -> None:  # the inbox pauses from the loop: its puts happen there
            self._reading = False
            if self._attached.done():
                self.transport.pause_reading()

        def resume() -> None:  # takes happen on any thread
            self._reading = True
            try:
                self.loop.call_soon_threadsafe(self._resume)
            except RuntimeError:  # the loop is closed: nothing is left to read
                pass

        return pause, resume

    def _resume(self) -> None:
        if self._reading and self._attached.done():
            self.transport.resume_reading()

    # -- the loop --------------------------------------------------------------------

    def attach(self) -> None:
        """Give the connection its transport, on its socket (on the loop, after the handshake)."""
        task = self.loop.create_task(self.loop.create_connection(lambda: self, sock=self._sock))
        task.add_done_callback(self._attach_failed)

    def _attach_failed(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is None:
            return
        with self._guard:  # the loop is closing: the connection ends here, unread
            self.protocol.receive_eof()
        self._sock.close()
        if not self._attached.done():  # what waits for the transport: it will not come
            self._attached.set_exception(self.protocol.close_exc)
            self._attached.exception()  # looked at: no "never retrieved" if nothing waited
        self.lost.set()
        self._ended()

    async def attached(self) -> None:
        await asyncio.shield(self._attached)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        with self._guard:
            super().connection_made(transport)
            if isinstance(getattr(transport, "max_size", None), int):  # asyncio's selector transports
                transport.max_size = READ_SIZE  # type: ignore[attr-defined]
            self._attached.set_result(None)
            if not self._reading:
                self.transport.pause_reading()
            if self.protocol.close_expected() and self.close_deadline is None and self.close_timeout is not None:
                self.close_deadline = self.loop.time() + self.close_timeout
            self.send_data()  # the end of a frame, and what the protocol answered to early frames
            early, self._early = self._early, []
            for event in early:
                self.process_event(event)
        if self._drop_attached:
            self._drop()
        else:
            self.start_keepalive()

    def send_data(self) -> None:
        with self._guard:
            if not self._attached.done():
                return  # connection_made() writes it
            rest, self._rest = self._rest, None
            if rest is not None:  # first: it ends a frame already on the wire
                self.transport.write(rest)
            super().send_data()

    @contextlib.asynccontextmanager
    async def send_context(self, *args: Any, **kwargs: Any) -> AsyncIterator[None]:
        async with super().send_context(*args, **kwargs):
            with self._guard:  # the body uses the protocol without awaiting; send_data() follows
                yield

    def data_received(self, data: bytes) -> None:
        with self._guard:
            super().data_received(data)

    def eof_received(self) -> None:
        with self._guard:
            super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        with self._guard:
            super().connection_lost(exc)
        self.lost.set()
        with self._pongs.lock:
            self._pongs.notify(self.loop)

    def acknowledge_pings(self, data: bytes) -> None:
        super().acknowledge_pings(data)
        if data in self._pings:
            with self._pongs.lock:
                self._pings[data] = True
                self._pongs.notify(self.loop)

    def _drop(self) -> None:
        if not self._attached.done():  # abort() before the loop attached it: drop it once attached
            self._drop_attached = True
            try:
                self._sock.shutdown(socket.SHUT_RDWR)  # the server sees the end now
            except OSError:
                pass
            return
        super()._drop()


async def made(owner: Owner, sock: socket.socket, kwargs: dict[str, Any], write_timeout: float) -> SharedConnection:
    """A new SharedConnection for *sock* with websockets' ``connect()`` *kwargs* (on the loop: it
    needs one running to be made)."""
    extensions = enable_client_permessage_deflate(None) if kwargs.get("compression") == "deflate" else None
    protocol = ClientProtocol(
        parse_uri(kwargs["uri"]),
        origin=kwargs.get("origin"),
        extensions=extensions,
        subprotocols=kwargs.get("subprotocols"),
        max_size=kwargs.get("max_size", 2**20),
        logger=LOGGER,
    )
    options = {k: kwargs[k] for k in ("ping_interval", "ping_timeout", "close_timeout") if k in kwargs}
    return SharedConnection(protocol, sock=sock, owner=owner, write_timeout=write_timeout, **options)


def handshake(ws: SharedConnection, kwargs: dict[str, Any], timeout: float) -> None:
    """Run the opening handshake on this thread, on *ws*'s blocking socket, within *timeout* s, as
    websockets' asyncio client does; raise what it raises when it fails (the socket is closed then).
    Then hand the socket to the loop (without waiting: it may be blocked)."""
    sock, protocol = ws._sock, ws.protocol
    deadline = time.monotonic() + timeout
    try:
        request = protocol.connect()
        if kwargs.get("additional_headers") is not None:
            request.headers.update(kwargs["additional_headers"])
        request.headers.setdefault("User-Agent", USER_AGENT)
        ws.request = request
        ws._owner._requesting(tuple(request.headers.raw_items()))
        protocol.send_request(request)
        sock.settimeout(timeout)
        events: list[Any] = []
        try:
            for data in protocol.data_to_send():
                sock.sendall(data)
        except ConnectionError:  # hung up already: read what it said, if anything
            pass
        while not events and protocol.handshake_exc is None:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data = sock.recv(65536)  # TimeoutError at the deadline
            except ConnectionError:  # reset: the end of what the server said, as websockets reads it
                data = b""
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            events = protocol.events_received()
            if not data:
                break
        if events:
            ws.process_event(events[0])  # the response: recorded, and the owner told it opened
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        if not events:  # websockets says why itself (handshake_exc) in every case it knows
            raise InvalidMessage("did not receive a valid HTTP response") from EOFError("no response")
        ws._early = events[1:]
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    ws.loop.call_soon_threadsafe(ws.attach)
