"""Recording on arrival: websockets' client connections, subclassed so that each message
is handed to its owner the moment websockets' reader parses it, and the handshake and the
end are reported as they happen; nothing received is lost, also when a ``receive_*`` call raises.

It also keeps the bounds websockets leaves to the caller (flow control, write timeout, a
prompt end, a bounded abort). This and :mod:`.shared` (a bench's sync connection) are the
places that override websockets' internals; :class:`Owner` is what it needs from the other
side. Specification:
``docs/modules/wsbench.client.recording.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection as AsyncClientConnection
from websockets.exceptions import ConnectionClosed as WebSocketsClosed
from websockets.frames import DATA_OPCODES, Frame, Opcode
from websockets.protocol import OPEN
from websockets.sync.client import ClientConnection as SyncClientConnection
from websockets.sync.utils import Deadline
from websockets.version import version as _websockets_version

from .messages import Message

__all__ = ["LOGGER", "Owner", "RecordingAsyncConnection", "RecordingSyncConnection"]

_OVER = object()  # an event of our own, queued after the frame that ended the connection

# websockets 17.3 and later wait in select() before each read of the sync reader; earlier ones call
# recv() at once, so a socket timeout there would also drop a connection whose server is merely quiet
# for that long (1006, "no close frame received or sent"). There a timer bounds each write instead.
_READER_SELECTS = tuple(map(int, re.findall(r"\d+", _websockets_version)[:2])) >= (17, 3)


class _EndedKeepalive(logging.Filter):
    """Drops websockets' "keepalive ping failed" when the connection is what ended: its sync keepalive
    logs it, with a ConnectionClosed traceback, when the wait for a pong runs out while the connection
    closes, which the connection's transcript records already (the traceback landed in the cell)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ended = record.exc_info is not None and isinstance(record.exc_info[1], WebSocketsClosed)
        return not (ended and record.msg == "keepalive ping failed")


#: The logger wsbench's connections give websockets: its records go where websockets.client's go.
LOGGER = logging.getLogger("websockets.client.wsbench")
LOGGER.addFilter(_EndedKeepalive())


class Owner(Protocol):
    """What a recording connection reports to (every call may come from websockets' reader)."""

    def _requesting(self, headers: tuple[tuple[str, str], ...]) -> None:
        """The handshake request is about to be written, with these headers."""

    def _redirected(self, status: int, location: str) -> None:
        """The server answered the handshake with a 3xx; websockets follows it."""

    def _opened(self, ws: Any, response: Any) -> None:
        """The handshake succeeded (before any message is delivered)."""

    def _deliver(self, message: Message) -> None:
        """One whole message arrived."""

    def _ended(self, ws: Any, closed: WebSocketsClosed, note: str) -> None:
        """The connection is over (once): closing handshake done, failed, dropped or aborted;
        *closed* says what went on the wire, *note* what wsbench did about it ("" if nothing)."""


class _Recording:
    """For websockets' client connections: hand each message to the wsbench Connection the
    moment it arrives, instead of queueing it for ``recv()``; report the end of the connection."""

    _owner: Owner
    _fragments: list[Frame]
    _write_timeout: float | None
    _failed: bool  # the protocol failed the connection: nothing more is read
    _over: bool  # the end was reported
    _over_lock: threading.Lock
    _note: str  # what wsbench did to end it, for the "closed" event
    write_timed_out: bool  # a write waited write_timeout for a peer that does not read
    response: Any
    protocol: Any
    close_timeout: float | None

    def _setup(self, owner: Owner, write_timeout: float | None, protocol: Any) -> None:
        """Before websockets' __init__: the reader may start inside it."""
        self._owner, self._fragments, self._write_timeout = owner, [], write_timeout
        self._failed = self._over = False
        self._over_lock = threading.Lock()
        self._note = ""
        self.write_timed_out = False
        fail, events_received = protocol.fail, protocol.events_received

        def failing(code: int, reason: str = "") -> None:
            self._failed = True
            fail(code, reason)

        def received() -> list[Any]:
            events = events_received()
            if protocol.handshake_exc is not None and self.response is None and not events:
                # The response did not parse (too long, not HTTP, body too large): websockets would
                # wait for the server to hang up before telling the reason it already has.
                self._handshake_failed()
            elif protocol.close_sent is not None and (self._failed or protocol.close_rcvd is not None):
                events.append(_OVER)  # after the frames that came with it, in order
            return events

        protocol.fail, protocol.events_received = failing, received

    def handshake(self, *args: Any, **kwargs: Any) -> Any:
        # Record "connect" with the request headers as they go out (websockets adds Host,
        # Sec-WebSocket-Key ... to ours), just before the request is written; once, not again
        # for each redirect websockets follows.
        send_request, owner = self.protocol.send_request, self._owner

        def recorded(request: Any) -> None:
            owner._requesting(tuple(request.headers.raw_items()))
            send_request(request)

        self.protocol.send_request = recorded
        return super().handshake(*args, **kwargs)  # type: ignore[misc]  # a coroutine for the asyncio client

    def process_event(self, event: Any) -> None:
        if (
            event.__class__ is Frame
            and event.fin
            and self.response is not None
            and not self._fragments
            and not self._over
        ):
            # the usual case, a message in one frame once open: what the path below does, in fewer steps
            opcode = event.opcode
            if opcode is Opcode.TEXT:
                try:
                    text = str(event.data, "utf-8")
                except UnicodeDecodeError:
                    pass  # the path below fails the connection
                else:
                    self._owner._deliver(text)
                    return
            elif opcode is Opcode.BINARY:
                self._owner._deliver(bytes(event.data))
                return
        if event is _OVER:
            self._end()
            return
        if self.response is None and 300 <= getattr(event, "status_code", 0) < 400:
            # websockets follows redirects itself, without chaining the 3xx to a later failure
            self._owner._redirected(event.status_code, event.headers.get("Location", ""))
        if self.response is None and self.protocol.handshake_exc is None:
            # Recorded here, before websockets wakes the caller and before any message is
            # delivered, so "open" comes first in every view of the transcript.
            self._opening()
            self._owner._opened(self, event)
        if self.response is None or not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)  # type: ignore[misc]  # handshake response, pings, pongs, close
            return
        if self._over:  # the end is recorded (after invalid UTF-8: RFC 6455 §7.1.7): nothing after it
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
            self._end()
            return
        self._owner._deliver(text)

    def _claim_end(self) -> bool:
        """True for the one caller that reports the end."""
        with self._over_lock:
            over, self._over = self._over, True
            return not over

    def _closed_now(self) -> WebSocketsClosed:
        """What went on the wire so far, as websockets' ConnectionClosed (before TCP is closed)."""
        protocol = self.protocol
        return WebSocketsClosed(protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)

    def _end(self) -> None:
        """Report the end now (the client failed the connection, or the closing handshake is
        complete) and drop TCP after close_timeout unless the server closes it first."""
        if self.response is None or not self._claim_end():
            return
        self._owner._ended(self, self._closed_now(), "")
        self._abort_later(self.close_timeout or 0.0)

    def _ended(self) -> None:
        """TCP is closed: report the end unless it was reported already."""
        if self._claim_end():
            self._owner._ended(self, self.protocol.close_exc, self._note)

    def abort(self, note: str) -> None:
        """Give up on the peer: report the end (if not yet) with *note*, and drop TCP at once."""
        if self._claim_end():
            self._owner._ended(self, self._closed_now(), note)
        self._note = self._note or note
        self._drop()

    def _timed_out(self) -> None:
        self.write_timed_out = True
        self._note = self._note or (
            f"a write did not finish within {self._write_timeout} s (the server is not reading): TCP aborted"
        )

    def flow_control(self) -> tuple[Callable[[], Any], Callable[[], Any]]:
        """(pause, resume) for the owner's inbox: stop and restart reading the socket."""
        raise NotImplementedError

    def _opening(self) -> None:
        """The handshake succeeded: set what the open connection needs."""

    def _handshake_failed(self) -> None:
        raise NotImplementedError

    def _abort_later(self, delay: float) -> None:
        raise NotImplementedError

    def _drop(self) -> None:
        raise NotImplementedError

    def _fail_connection(self, code: int, reason: str) -> None:
        raise NotImplementedError


def _send_timeout(sock: socket.socket, seconds: float) -> bool:
    """Make a blocking send on *sock* give up after *seconds* (SO_SNDTIMEO); False where it cannot."""
    seconds = max(seconds, 0.001)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(seconds), int(seconds % 1 * 1e6)))
    except (OSError, AttributeError, struct.error):
        return False
    return True


def _reset_on_close(sock: Any) -> None:
    """Closing *sock* sends RST instead of lingering on data the peer never read."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, AttributeError):
        pass


class RecordingSyncConnection(_Recording, SyncClientConnection):
    """websockets' sync client connection; its reader thread hands messages over."""

    def __init__(
        self, sock: socket.socket, protocol: Any, *args: Any, owner: Owner, write_timeout: float | None, **kwargs: Any
    ) -> None:
        self._setup(owner, write_timeout, protocol)  # first: the reader thread starts inside __init__
        self._abort_timer: threading.Timer | None = None
        self._timed_writes = False
        super().__init__(sock, protocol, *args, **kwargs)

    def wait_ended(self, timeout: float | None) -> bool:
        """True once the reader thread has ended, waiting at most *timeout* (websockets 16's sync
        connection has no ``wait_closed``; 17's joins the same thread)."""
        self.recv_events_thread.join(timeout)
        return not self.recv_events_thread.is_alive()

    def flow_control(self) -> tuple[Callable[[], Any], Callable[[], Any]]:
        # websockets' reader waits on this lock before each read (its Assembler pauses it the same way)
        return self.recv_flow_control.acquire, self.recv_flow_control.release

    def _opening(self) -> None:
        # A write to a peer that does not read blocks in sendall holding the protocol lock: bound
        # it. The kernel's send timeout does it at no cost per call; a socket timeout (where there
        # is no SO_SNDTIMEO) costs a poll() before each send and read, and leaves reads unaffected
        # only where the reader reads once select() says data is there.
        if self._write_timeout is not None and _READER_SELECTS and not _send_timeout(self.socket, self._write_timeout):
            self.socket.settimeout(max(self._write_timeout, 0.001))
        self._timed_writes = self._write_timeout is not None and not _READER_SELECTS

    def send_data(self) -> None:
        timer = None
        if self._timed_writes:  # websockets < 17.3: a timer, not a socket timeout (_READER_SELECTS)
            timer = threading.Timer(max(self._write_timeout or 0.0, 0.001), self._write_stuck)
            timer.daemon = True
            timer.start()
        try:
            super().send_data()
        except (TimeoutError, BlockingIOError):  # a socket timeout, or the kernel's (SO_SNDTIMEO)
            self._timed_out()
            _reset_on_close(self.socket)
            raise TimeoutError(self._note) from None
        except OSError:
            if timer is not None and self.write_timed_out:  # the timer broke the stuck write
                raise TimeoutError(self._note) from None
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _write_stuck(self) -> None:
        """The timer of a write that did not finish: break it as a socket timeout would."""
        self._timed_out()
        _reset_on_close(self.socket)
        try:
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the sendall blocked on the peer
        except OSError:
            pass

    def send_close(self, code: int, reason: str, timeout: float) -> None:
        """Send a close frame, waiting at most *timeout* for the protocol lock and the write;
        abort if either does not come (a send blocked on a peer that does not read)."""
        note = f"the close frame could not be written within close_timeout {timeout} s: TCP aborted"
        if not self.protocol_mutex.acquire(timeout=timeout):
            self.abort(note)
            return
        try:
            if self.protocol.state is not OPEN:
                return
            self.protocol.send_close(code, reason)
            if self.close_deadline is None:
                self.close_deadline = Deadline(timeout)
            self.send_data()
        except (OSError, TimeoutError):
            pass  # aborted below, lock released first
        else:
            return
        finally:
            self.protocol_mutex.release()
        self.abort(note)

    def _fail_connection(self, code: int, reason: str) -> None:
        with self.protocol_mutex:
            self.protocol.fail(code, reason)
            try:
                self.send_data()
            except OSError:
                pass  # the reader sees the broken socket next

    def _handshake_failed(self) -> None:
        self.response_rcvd.set()

    def _abort_later(self, delay: float) -> None:
        timer = threading.Timer(delay, self._drop)
        timer.daemon = True
        self._abort_timer = timer
        timer.start()

    def _drop(self) -> None:
        if not self.recv_events_thread.is_alive():
            return
        _reset_on_close(self.socket)
        try:
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes a sendall blocked on the peer
        except OSError:
            pass
        self.close_socket()

    def recv_events(self) -> None:
        try:
            super().recv_events()
        finally:
            if self._abort_timer is not None:
                self._abort_timer.cancel()
            self._ended()


class RecordingAsyncConnection(_Recording, AsyncClientConnection):
    """websockets' asyncio client connection; ``data_received`` hands messages over."""

    #: Held around each use of websockets' protocol here: nothing for a connection only its loop
    #: uses; a lock for one another thread writes to as well (:class:`SharedConnection`).
    _guard: Any = contextlib.nullcontext()

    def __init__(self, protocol: Any, *args: Any, owner: Owner, write_timeout: float | None, **kwargs: Any) -> None:
        self._setup(owner, write_timeout, protocol)
        self._abort_handle: asyncio.TimerHandle | None = None
        self._loop_thread = threading.get_ident()  # created by the loop's protocol factory
        super().__init__(protocol, *args, **kwargs)

    def flow_control(self) -> tuple[Callable[[], Any], Callable[[], Any]]:
        transport, loop = self.transport, self.loop

        def resume() -> None:  # takes happen on any thread; the transport lives on its loop
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                transport.resume_reading()
                return
            try:
                loop.call_soon_threadsafe(transport.resume_reading)
            except RuntimeError:  # the loop is closed: nothing is left to read
                pass

        return transport.pause_reading, resume

    async def drain(self) -> None:
        if not self.paused:  # the usual case: websockets' drain() does nothing either unless closing
            if self.transport.is_closing():
                await super().drain()
            return
        if self._write_timeout is None:
            await super().drain()
            return
        try:
            await asyncio.wait_for(super().drain(), self._write_timeout)
        except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
            self._timed_out()
            _reset_on_close(self.transport.get_extra_info("socket"))
            raise

    async def send_close(self, code: int, reason: str, timeout: float) -> None:
        """Send a close frame, waiting at most *timeout* for the write; abort if it does not finish."""
        with self._guard:
            if self.protocol.state is not OPEN:
                return
            self.protocol.send_close(code, reason)
            self.send_data()
        try:
            await asyncio.wait_for(self.drain(), timeout)
        except (asyncio.TimeoutError, OSError):
            self.abort(f"the close frame could not be written within close_timeout {timeout} s: TCP aborted")

    def _fail_connection(self, code: int, reason: str) -> None:
        with self._guard:
            self.protocol.fail(code, reason)
            self.send_data()

    def _handshake_failed(self) -> None:
        if not self.response_rcvd.done():
            self.response_rcvd.set_result(None)

    def _abort_later(self, delay: float) -> None:
        self._abort_handle = self.loop.call_later(delay, self._drop)

    def _drop(self) -> None:
        if self.loop.is_closed():
            return
        if threading.get_ident() != self._loop_thread:
            self.loop.call_soon_threadsafe(self._drop)
            return
        if not self.connection_lost_waiter.done():
            _reset_on_close(self.transport.get_extra_info("socket"))
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._abort_handle is not None:
            self._abort_handle.cancel()
        self._ended()
