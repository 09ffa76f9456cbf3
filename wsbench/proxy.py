"""A fault-injecting TCP proxy on loopback, between a WebSocket client and its server.

* :class:`FaultProxy` listens on 127.0.0.1 and forwards each TCP connection it accepts to its
  target (a :class:`~wsbench.Bench`, a ``ws://host:port`` URL or a ``(host, port)`` pair),
  byte for byte, on the wsbench background loop (:mod:`wsbench.loop`): a few tasks per
  connection, no thread.
* Faults are set from a cell (or a test) at any time and apply at once to the live
  connections and to every new one, until :meth:`~FaultProxy.clear` (or, for half-open,
  :meth:`~FaultProxy.heal`): added latency, a bandwidth cap, a cut (a TCP reset of both
  connections) after N bytes or N WebSocket frames, half-open (stop forwarding, sockets kept
  open), and a slow reader (the proxy reads slowly from the server).
* It parses only what it must to count frames: the end of the HTTP upgrade in each direction,
  then each frame's header (FIN and opcode byte, mask bit, 7-, 16- or 64-bit length, masking
  key). Payloads pass untouched, masked, compressed or not; a non-101 answer or a TLS target
  leaves the stream opaque (bytes are still counted).
* What each side saw lands in one transcript: a :meth:`FaultProxy.connect` connection's
  ``conn.transcript`` gets the client's events, the server's (when the target is a Bench)
  and the proxy's own (side ``"proxy"``: faults set, the cut, "upstream error", each side's
  FIN or reset). :meth:`FaultProxy.report` says, per connection, how long after each
  disruption the client and the server noticed.
* A FaultProxy replaces a running one of the same *name*, so re-running the cell that made
  it leaves no listener behind; all stop at interpreter exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import loop
from ._service import LoopbackService, bind, warn_unless_loopback
from .client import Connection, aconnect, connect
from .codes import describe
from .errors import BenchError, Timeout
from .transcript import DISRUPTIONS, Event, Transcript, noticed, record, relay

if TYPE_CHECKING:
    from .server import Bench
    from .widgets import Timeline

__all__ = ["DIRECTIONS", "FaultProxy", "FrameCounter"]

#: Where a fault applies: the bytes the client sends, the bytes the server sends, or both.
DIRECTIONS = ("both", "to_server", "to_client")

_CHUNK = 65536  # bytes read at once
_WINDOW = 256 * 1024  # bytes a direction holds between reading and forwarding (latency, bandwidth)
_TICK = 0.05  # seconds: the pacing step of bandwidth and slow reader (at most 20 reads / writes a second)
_HEAD_LIMIT = 65536  # an HTTP head longer than this is not a WebSocket upgrade: stop parsing
_CONNECT_TIMEOUT = 5.0  # seconds the proxy waits for the target to accept a connection
_DRAIN = 2.0  # seconds the proxy waits for a client it answered 502 to hang up

# -- the pure part: counting frames ------------------------------------------------------------


class FrameCounter:
    """Counts WebSocket frames in one direction of a TCP byte stream (pure: bytes in, offsets out).

    The stream starts with an HTTP head (request or response) ended by an empty line; after a
    ``101`` answer (or any request) come frames. Only headers are read: byte 1's mask bit and
    7-bit length, the 16- or 64-bit extended length, the 4-byte masking key; the payload is
    skipped, never decoded. A head longer than 64 KiB, a non-101 response, or ``opaque=True``
    (a TLS stream) leaves the stream opaque: nothing more is counted.
    """

    def __init__(self, *, response: bool, opaque: bool = False) -> None:
        self.response = response
        self.state = "opaque" if opaque else "http"  #: "http", "frames" or "opaque"
        self.status: int | None = None  #: the response's status code, once read
        self.frames = 0  #: frames completed so far
        self._head = bytearray()
        self._header = bytearray()
        self._need = 2  # header bytes needed for the frame being read
        self._payload = 0  # payload bytes still to skip

    def feed(self, data: bytes) -> list[int]:
        """Offsets in *data* just past the last byte of each frame that ends in it."""
        start = 0
        if self.state == "http":
            start = self._read_head(data)
            if start < 0:
                return []
        if self.state != "frames":
            return []
        ends: list[int] = []
        i, n = start, len(data)
        while i < n:
            if self._payload:
                step = min(self._payload, n - i)
                i += step
                self._payload -= step
                if not self._payload:
                    ends.append(i)
                    self.frames += 1
                continue
            step = min(self._need - len(self._header), n - i)
            self._header += data[i : i + step]
            i += step
            if len(self._header) < self._need:
                break
            if len(self._header) == 2:  # the first two bytes say how long the header is
                length7, masked = self._header[1] & 0x7F, self._header[1] & 0x80
                self._need = 2 + {126: 2, 127: 8}.get(length7, 0) + (4 if masked else 0)
                if self._need > 2:
                    continue
            self._payload = self._length()
            self._header.clear()
            self._need = 2
            if not self._payload:
                ends.append(i)
                self.frames += 1
        return ends

    def _length(self) -> int:
        length7 = self._header[1] & 0x7F
        if length7 == 126:
            return int(struct.unpack("!H", self._header[2:4])[0])
        if length7 == 127:
            return int(struct.unpack("!Q", self._header[2:10])[0])
        return length7

    def _read_head(self, data: bytes) -> int:
        """Offset in *data* where the frames start, or -1 while the head goes on."""
        before = len(self._head)
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > _HEAD_LIMIT:
                self.state, self._head = "opaque", bytearray()
            return -1
        head, self._head = bytes(self._head[:end]), bytearray()
        if self.response:
            parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            if self.status != 101:
                self.state = "opaque"
                return -1
        self.state = "frames"
        return end + 4 - before


# -- faults --------------------------------------------------------------------------------------


def _directions(direction: str) -> tuple[str, ...]:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(map(repr, DIRECTIONS))}, not {direction!r}")
    return ("to_server", "to_client") if direction == "both" else (direction,)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    return float(value)


def _where(direction: str) -> str:
    return "each way" if direction == "both" else direction


def _rate(bytes_per_second: float) -> str:
    return f"{bytes_per_second:g} B/s"


@dataclass(frozen=True)
class _Cut:
    mode: str  # "bytes" or "frames"
    count: int
    direction: str

    def describe(self) -> str:
        unit = self.mode if self.count != 1 else self.mode[:-1]
        return f"cut after {self.count} {unit} ({'either way' if self.direction == 'both' else self.direction})"


@dataclass
class _Faults:
    latency: dict[str, float] = field(default_factory=lambda: {"to_server": 0.0, "to_client": 0.0})
    bandwidth: dict[str, float | None] = field(default_factory=lambda: {"to_server": None, "to_client": None})
    half_open: set[str] = field(default_factory=set)
    slow_reader: float | None = None
    cut: _Cut | None = None

    def lines(self) -> list[tuple[str, str]]:
        """(event kind, detail) of each fault in force, in a fixed order."""
        out: list[tuple[str, str]] = []
        out += _paired("latency", self.latency, lambda v: f"{v:g} s")
        out += _paired("bandwidth", self.bandwidth, _rate)
        if self.slow_reader is not None:
            out.append(("fault", f"slow reader {_rate(self.slow_reader)} (reads from the server)"))
        if self.half_open:
            both = len(self.half_open) == 2
            out.append(("half-open", f"stop forwarding ({_where('both' if both else next(iter(self.half_open)))})"))
        if self.cut is not None:
            out.append(("fault", self.cut.describe()))
        return out


def _paired(name: str, values: dict[str, Any], show: Callable[[Any], str]) -> list[tuple[str, str]]:
    up, down = values["to_server"], values["to_client"]
    if up == down:
        return [("fault", f"{name} {show(up)} each way")] if up else []
    return [("fault", f"{name} {show(v)} ({d})") for d, v in (("to_server", up), ("to_client", down)) if v]


# -- one proxied connection ---------------------------------------------------------------------


class _Pipe:
    """One direction of a link: a reader task fills a bounded queue, a writer task forwards it."""

    def __init__(self, link: _Link, direction: str, src: socket.socket, dst: socket.socket, opaque: bool) -> None:
        self.link, self.direction, self.src, self.dst = link, direction, src, dst
        self.counter = FrameCounter(response=direction == "to_client", opaque=opaque)
        self.items: deque[tuple[float, bytes]] = deque()  # (due time, chunk); b"" is the end of the stream
        self.queued = 0
        self.ready = asyncio.Event()  # items waiting
        self.space = asyncio.Event()  # queued < _WINDOW
        self.space.set()
        self.read_at = 0.0  # slow reader: when the next read may start
        self.send_at = 0.0  # bandwidth: when the last slice is due out

    @property
    def source(self) -> str:
        return "client" if self.direction == "to_server" else "server"

    def put(self, data: bytes) -> None:
        faults = self.link.proxy._faults
        self.items.append((time.monotonic() + faults.latency[self.direction], data))
        self.queued += len(data)
        self.ready.set()
        if self.queued >= _WINDOW:
            self.space.clear()

    async def read(self) -> None:
        """Read from the source until its end: paced by slow reader, held by half-open."""
        proxy = self.link.proxy
        aloop = asyncio.get_running_loop()
        while True:  # ends at the source's FIN or reset, or by cancellation
            await proxy._flowing[self.direction].wait()
            await self.space.wait()
            size, rate = _CHUNK, proxy._faults.slow_reader if self.direction == "to_client" else None
            if rate is not None:
                size = max(1, min(_CHUNK, int(rate * _TICK)))
                start = max(self.read_at, time.monotonic())
                await asyncio.sleep(start - time.monotonic())
            try:
                data = await aloop.sock_recv(self.src, size)
            except OSError as exc:
                self.link.reset(f"{self.source} reset its TCP connection ({type(exc).__name__})")
                return
            if rate is not None:
                self.read_at = start + len(data) / rate
            self.put(data)
            if not data:
                return

    async def write(self) -> None:
        """Forward each chunk when due (latency), paced (bandwidth), held (half-open), counted (cut)."""
        aloop = asyncio.get_running_loop()
        while True:  # ends at the end of the stream, a cut, or by cancellation
            await self.ready.wait()
            due, data = self.items.popleft()
            if not self.items:
                self.ready.clear()
            await asyncio.sleep(due - time.monotonic())
            if not data:
                await self.link.proxy._flowing[self.direction].wait()
                self.link.end_of_stream(self)
                return
            while data:  # one slice per bandwidth step
                await self.link.proxy._flowing[self.direction].wait()
                rate = self.link.proxy._faults.bandwidth[self.direction]
                size = len(data) if rate is None else max(1, int(rate * _TICK))
                piece, data = data[:size], data[size:]
                if rate is not None:
                    self.send_at = max(self.send_at, time.monotonic()) + len(piece) / rate
                    await asyncio.sleep(self.send_at - time.monotonic())
                cut_at = self.link.cut_point(self.direction, piece, self.counter.feed(piece))
                if cut_at is not None:
                    piece = piece[:cut_at]
                try:
                    if piece:
                        await aloop.sock_sendall(self.dst, piece)
                except OSError as exc:
                    other = "server" if self.direction == "to_server" else "client"
                    self.link.reset(f"{other} reset its TCP connection ({type(exc).__name__})")
                    return
                self.queued -= len(piece)
                if self.queued < _WINDOW:
                    self.space.set()
                if cut_at is not None:
                    self.link.cut()
                    return


class _Link:
    """One client's TCP connection, its upstream connection, the two pipes and the armed cut."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, key: int) -> None:
        self.proxy, self.client, self.key = proxy, client, key
        self.upstream: socket.socket | None = None
        self.sinks: tuple[Transcript, ...] = (proxy.transcript,)
        self.pipes: list[_Pipe] = []
        self.tasks: list[asyncio.Future[Any]] = []
        self.main: asyncio.Future[Any] | None = None  # the task serving this link
        self.cut_spec: _Cut | None = None
        self.cut_left = 0
        self.ended = 0  # directions whose end of stream was forwarded
        self.closed = False
        self.live = False  # faults set from now on are recorded here

    def note(self, kind: str, detail: str) -> Event:
        return record(*self.sinks, side="proxy", kind=kind, conn=self.key, detail=detail)

    async def run(self, first: bytes) -> None:
        proxy = self.proxy
        paired = proxy._pairs.pop(self.key, None)
        if paired is not None:
            self.sinks = (proxy.transcript, paired)
        self.live = True
        for kind, detail in proxy._faults.lines():
            self.note(kind, detail)
        host, port = proxy._target_address()
        try:
            self.upstream = await _open(host, port)
        except OSError as exc:
            await self.refuse(first, exc)
            return
        bench = proxy._bench
        if bench is not None:  # before the first byte: the Bench routes this connection's events here
            bench.pair(self.upstream.getsockname()[1], relay(self.key, *self.sinks))
        opaque = proxy._tls
        self.pipes = [
            _Pipe(self, "to_server", self.client, self.upstream, opaque),
            _Pipe(self, "to_client", self.upstream, self.client, opaque),
        ]
        self.pipes[0].put(first)
        if proxy._faults.cut is not None:
            self.arm(proxy._faults.cut)
        if self.closed:
            return
        self.tasks = [
            asyncio.ensure_future(self.pipes[0].write()),
            asyncio.ensure_future(self.pipes[1].read()),
            asyncio.ensure_future(self.pipes[1].write()),
            asyncio.ensure_future(self.pipes[0].read()),
        ]
        try:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        finally:
            self.close(reset=False)

    async def refuse(self, first: bytes, exc: OSError) -> None:
        """The target is down: answer the client's upgrade with 502 (504 on a timeout) naming it."""
        proxy = self.proxy
        if isinstance(exc, ConnectionRefusedError):
            why, status = "connection refused", "502 Bad Gateway"
        elif isinstance(exc, TimeoutError):
            why, status = f"no answer within {_CONNECT_TIMEOUT:g} s", "504 Gateway Timeout"
        else:
            why, status = (exc.strerror or str(exc) or type(exc).__name__).lower(), "502 Bad Gateway"
        if proxy._tls:  # the client expects TLS: no HTTP answer can reach it
            self.note("upstream error", f"cannot reach {proxy._target_label()} ({why}); closed the client's connection")
            self.close(reset=False)
            return
        self.note("upstream error", f"cannot reach {proxy._target_label()} ({why}); answered HTTP {status}")
        host, port = proxy._target_address()
        body = f"wsbench FaultProxy: cannot reach {host}:{port}: {why}".encode()
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        aloop = asyncio.get_running_loop()
        try:
            await aloop.sock_sendall(self.client, head + body)
            self.client.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + _DRAIN
            while time.monotonic() < deadline:  # read what it still sends, so closing sends no reset
                if not await asyncio.wait_for(aloop.sock_recv(self.client, _CHUNK), deadline - time.monotonic()):
                    break
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            self.close(reset=False)

    def arm(self, spec: _Cut) -> None:
        """Start counting toward *spec* from now; a count of 0 cuts at once."""
        self.cut_spec, self.cut_left = spec, spec.count
        if spec.count == 0 and self.pipes:
            self.cut()

    def cut_point(self, direction: str, piece: bytes, ends: list[int]) -> int | None:
        """How much of *piece* may pass before the armed cut, or None when it all may."""
        spec = self.cut_spec
        if spec is None or direction not in _directions(spec.direction):
            return None
        if spec.mode == "bytes":
            if len(piece) < self.cut_left:
                self.cut_left -= len(piece)
                return None
            return self.cut_left
        if len(ends) < self.cut_left:
            self.cut_left -= len(ends)
            return None
        return ends[self.cut_left - 1]

    def cut(self) -> None:
        assert self.cut_spec is not None
        self.note("cut", f"{self.cut_spec.describe().removeprefix('cut ')}: reset both TCP connections")
        self.close(reset=True)

    def reset(self, detail: str) -> None:
        if self.closed:
            return
        self.note("reset", f"{detail}; reset the other")
        self.close(reset=True)

    def end_of_stream(self, pipe: _Pipe) -> None:
        """The source closed its side (FIN): pass that on, as a half-close."""
        self.note("eof", f"{pipe.source} closed its TCP connection")
        with contextlib.suppress(OSError):
            pipe.dst.shutdown(socket.SHUT_WR)
        self.ended += 1

    def stop(self) -> None:
        if not self.closed:
            self.note("stop", "the proxy stopped: closed both TCP connections")
            self.close(reset=False)

    def close(self, *, reset: bool) -> None:
        """Close both sockets now (with a TCP reset if *reset*); idempotent, from any task of the link."""
        if self.closed:
            return
        self.closed = True
        aloop = asyncio.get_running_loop()
        current = asyncio.current_task()
        for task in (*self.tasks, self.main):
            if task is not None and task is not current:
                task.cancel()
        bench, upstream = self.proxy._bench, self.upstream
        if bench is not None and upstream is not None and (not self.pipes or self.pipes[0].counter.state == "http"):
            with contextlib.suppress(OSError):  # the server never saw a whole request: no endpoint will pop it
                bench.pair(upstream.getsockname()[1], None)
        for sock in (self.client, upstream):
            if sock is None or sock.fileno() < 0:
                continue
            aloop.remove_reader(sock.fileno())  # cancels pending sock_recv / sock_sendall callbacks
            aloop.remove_writer(sock.fileno())
            if reset:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        self.proxy._links.discard(self)


async def _open(host: str, port: int) -> socket.socket:
    aloop = asyncio.get_running_loop()
    infos = await aloop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(aloop.sock_connect(sock, address), _CONNECT_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException as exc:
        sock.close()
        if isinstance(exc, asyncio.TimeoutError):
            raise TimeoutError(f"no answer within {_CONNECT_TIMEOUT} s") from None
        raise
    return sock


# -- the proxy ----------------------------------------------------------------------------------


class FaultProxy(LoopbackService):
    """A TCP proxy on loopback between a client and *target*, injecting faults on demand.

    *target* is a :class:`~wsbench.Bench` (its server-side events then land in each proxied
    connection's transcript too), a ``ws://host:port`` URL (``wss://`` passes TLS through
    untouched: no frame counting, no HTTP answers of its own) or a ``(host, port)`` pair.
    ``host`` other than loopback must be asked for explicitly and draws a warning.

    Faults (each applies at once to live connections and to every new one until
    :meth:`clear`; each connection's transcript records those in force when it starts and
    each one set while it lives, side ``"proxy"``):

    * :meth:`latency` — each chunk read waits *seconds* before it is forwarded, per
      direction; order is kept and throughput is not divided by it.
    * :meth:`bandwidth` — at most *bytes_per_second* forwarded per direction per connection.
    * :meth:`cut` — after N more bytes or N more WebSocket frames have been forwarded, reset
      both TCP connections (SO_LINGER 0, so each peer gets an RST: no FIN, no close frame).
    * :meth:`half_open` — stop reading and forwarding, sockets kept open; :meth:`heal` resumes
      and delivers what was held (as TCP does when a network comes back in time).
    * :meth:`slow_reader` — read from the server at most *bytes_per_second*; what it sends
      beyond that waits in TCP buffers and then in uvicorn's, and the endpoint's ``send``
      blocks.
    """

    _what = "fault proxy"

    def __init__(
        self,
        target: Bench | str | tuple[str, int],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "proxy",
        timeout: float = 10.0,
    ) -> None:
        from .server import Bench

        self._bench: Bench | None = None
        self._tls = False
        if isinstance(target, Bench):
            self._bench = target
            self._tls = target.url.startswith("wss://")
        elif isinstance(target, str):
            parts = urlsplit(target)
            if parts.scheme not in ("ws", "wss") or not parts.hostname:
                raise ValueError(f"target URL must be ws://host:port (or wss://), not {target!r}")
            if parts.path not in ("", "/") or parts.query:
                raise ValueError(f"target URL {target!r} has a path: give ws://host:port; connect(path) picks the path")
            try:
                target_port = parts.port or (443 if parts.scheme == "wss" else 80)
            except ValueError:
                raise ValueError(f"target URL {target!r} has an invalid port") from None
            self._address = (parts.hostname, target_port)
            self._tls = parts.scheme == "wss"
        elif (
            isinstance(target, tuple)
            and len(target) == 2
            and isinstance(target[0], str)
            and isinstance(target[1], int)
            and not isinstance(target[1], bool)
        ):
            self._address = (target[0], target[1])
        else:
            raise ValueError(f"target must be a Bench, a ws://host:port URL or a (host, port) pair, not {target!r}")
        if self._bench is None and not 0 < self._address[1] < 65536:
            raise ValueError(f"target port must be 1-65535, not {self._address[1]}")
        warn_unless_loopback(host, "FaultProxy")
        self.host = host
        self.name = name
        self.timeout = timeout
        self.transcript = Transcript()  #: every connection through this proxy: client, proxy and server events
        self._faults = _Faults()
        self._flowing: dict[str, asyncio.Event] = {}
        self._pairs: dict[int, Transcript] = {}
        self._links: set[_Link] = set()
        self._sock: socket.socket | None = None
        self._launch(port)

    # -- life cycle ---------------------------------------------------------

    async def _start(self, port: int) -> None:
        self._flowing = {d: asyncio.Event() for d in ("to_server", "to_client")}
        for event in self._flowing.values():
            event.set()
        sock = bind(self.host, port)
        sock.listen(128)
        self._sock = sock
        self._port = sock.getsockname()[1]
        self._task = asyncio.ensure_future(self._accept(sock))

    async def _accept(self, listener: socket.socket) -> None:
        aloop = asyncio.get_running_loop()
        while True:  # until stop() cancels it
            try:
                sock, address = await aloop.sock_accept(listener)
            except OSError:  # out of file descriptors and the like: try again shortly
                await asyncio.sleep(0.05)
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, sock, address[1])
            self._links.add(link)
            link.main = asyncio.ensure_future(self._serve(link))

    async def _serve(self, link: _Link) -> None:
        aloop = asyncio.get_running_loop()
        try:
            # The first bytes come after the client told us its port (_pair): read them, then pair.
            first = await aloop.sock_recv(link.client, _CHUNK)
        except OSError:
            first = b""
        if not first or link.closed:  # the client left before saying anything
            self._pairs.pop(link.key, None)
            link.close(reset=False)
            return
        await link.run(first)

    def stop(self) -> None:
        """Stop listening and close every proxied connection (each peer sees a FIN). Idempotent."""
        super().stop()

    async def _stop(self) -> None:
        assert self._task is not None and self._sock is not None
        self._task.cancel()
        await asyncio.wait([self._task])
        self._sock.close()
        for link in list(self._links):
            link.stop()

    def __repr__(self) -> str:
        faults = "; ".join(detail for _, detail in self._faults.lines()) or "no faults"
        state = "running" if self.running else "stopped"
        return f"<FaultProxy {self.name!r} -> {self._target_label()} {state}, {faults}>"

    # -- where it listens, where it forwards ------------------------------------------

    @property
    def connections(self) -> int:
        """How many connections pass through the proxy now."""
        return len(self._links)

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no connection passes through the proxy (both TCP ends closed and recorded),
        e.g. before printing a transcript or setting a fault meant only for the next connection."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while self._links:
            if time.monotonic() > deadline:
                raise Timeout(
                    f"wait_idle: {len(self._links)} connection(s) still pass through {self!r} after {timeout} s"
                )
            time.sleep(0.005)

    def _target_address(self) -> tuple[str, int]:
        if self._bench is not None:
            return self._bench.host, self._bench.port
        return self._address

    def _target_label(self) -> str:
        """The target without a loopback port (it changes every run): for the text form and repr."""
        if self._bench is not None:
            return f"Bench {self._bench.name!r}"
        host, port = self._address
        loopback = host == "localhost" or host.startswith("127.") or host == "::1"
        return f"{host}:<port>" if loopback else f"{host}:{port}"

    def connect(self, path: str = "/", **options: Any) -> Connection:
        """Open a client :class:`~wsbench.Connection` to *path* through the proxy; its transcript
        gets the client's, the proxy's and (for a Bench target) the server's events."""
        return connect(self.url_for(path), pairing=self, **options)

    async def aconnect(self, path: str = "/", **options: Any) -> Connection:
        """Coroutine form of :meth:`connect`."""
        return await aconnect(self.url_for(path), pairing=self, **options)

    # -- faults ------------------------------------------------------------------------

    @property
    def faults(self) -> list[str]:
        """The faults in force, one line each, as the transcripts show them."""
        return [detail for _, detail in self._faults.lines()]

    def latency(self, seconds: float, *, direction: str = "both") -> None:
        """Delay each chunk *seconds* before forwarding it, in *direction* (a round trip through
        ``latency(L)`` takes at least 2L); 0 removes it. Chunks already read keep their delay."""
        value = _number(seconds, "latency")
        if value < 0:
            raise ValueError(f"latency must be 0 or more seconds, not {seconds}")
        where = _directions(direction)

        def apply() -> None:
            for d in where:
                self._faults.latency[d] = value
            self._announce("fault", f"latency {value:g} s {_where(direction)}")

        self._apply(apply)

    def bandwidth(self, bytes_per_second: float | None, *, direction: str = "both") -> None:
        """Forward at most *bytes_per_second* in *direction*, per connection (in slices of a
        twentieth of a second's worth); None removes the cap."""
        value = None if bytes_per_second is None else _number(bytes_per_second, "bandwidth")
        if value is not None and value <= 0:
            raise ValueError(
                f"bandwidth must be more than 0 bytes per second, not {bytes_per_second}; "
                "to stop forwarding use half_open()"
            )
        where = _directions(direction)

        def apply() -> None:
            for d in where:
                self._faults.bandwidth[d] = value
                for link in self._links:
                    for pipe in link.pipes:
                        pipe.send_at = 0.0
            shown = "unlimited" if value is None else _rate(value)
            self._announce("fault", f"bandwidth {shown} {_where(direction)}")

        self._apply(apply)

    def cut(self, *, after_bytes: int | None = None, after_frames: int | None = None, direction: str = "both") -> None:
        """Reset both TCP connections of each proxied connection once *after_bytes* more bytes,
        or *after_frames* more WebSocket frames (control frames count), have been forwarded in
        *direction* ("both": counted together); with neither, at once. Live connections count
        from now, new ones from their first byte (frames: from the end of the HTTP upgrade).
        In force until :meth:`clear`."""
        if after_bytes is not None and after_frames is not None:
            raise ValueError("cut: give after_bytes or after_frames, not both")
        mode, count = ("frames", after_frames) if after_frames is not None else ("bytes", after_bytes or 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"cut: after_{mode} must be a whole number, 0 or more, not {count!r}")
        _directions(direction)
        if mode == "frames" and self._tls:
            raise ValueError("cut: after_frames needs a ws:// target; TLS hides the frames (use after_bytes)")
        spec = _Cut(mode, count, direction)

        def apply() -> None:
            self._faults.cut = spec
            for link in self._live():
                link.note("fault", spec.describe())
                link.arm(spec)

        self._apply(apply)

    def half_open(self, *, direction: str = "both") -> None:
        """Stop reading and forwarding in *direction*, sockets kept open: the peers see silence,
        no FIN, no reset. :meth:`heal` resumes and delivers what was held."""
        where = _directions(direction)

        def apply() -> None:
            for d in where:
                self._faults.half_open.add(d)
                self._flowing[d].clear()
            self._announce("half-open", f"stop forwarding ({_where(direction)})")

        self._apply(apply)

    def heal(self, *, direction: str = "both") -> None:
        """End :meth:`half_open` in *direction*: what was held is forwarded, in order."""
        where = _directions(direction)

        def apply() -> None:
            for d in where:
                self._faults.half_open.discard(d)
                self._flowing[d].set()
            self._announce("heal", f"forwarding again ({_where(direction)})")

        self._apply(apply)

    def slow_reader(self, bytes_per_second: float | None) -> None:
        """Read from the server at most *bytes_per_second* (reads of a twentieth of a second's
        worth), per connection, forwarding what was read at once; None removes it. What the
        server sends beyond that fills the proxy's socket receive buffer, the server's socket
        send buffer, then uvicorn's write buffer, whose high-water mark makes the endpoint's
        ``send`` wait."""
        value = None if bytes_per_second is None else _number(bytes_per_second, "slow_reader")
        if value is not None and value <= 0:
            raise ValueError(
                f"slow_reader must be more than 0 bytes per second, not {bytes_per_second}; "
                "to stop reading use half_open(direction='to_client')"
            )

        def apply() -> None:
            self._faults.slow_reader = value
            for link in self._links:
                for pipe in link.pipes:
                    pipe.read_at = 0.0
            shown = "off" if value is None else f"{_rate(value)} (reads from the server)"
            self._announce("fault", f"slow reader {shown}")

        self._apply(apply)

    def clear(self) -> None:
        """Remove every fault (half-open healed, held bytes forwarded); connections already cut stay cut."""

        def apply() -> None:
            self._faults = _Faults()
            for event in self._flowing.values():
                event.set()
            for link in self._live():
                link.cut_spec = None
            self._announce("clear", "no faults")

        self._apply(apply)

    def _live(self) -> list[_Link]:
        return [link for link in self._links if link.live and not link.closed]

    def _announce(self, kind: str, detail: str) -> None:
        for link in self._live():
            link.note(kind, detail)

    def _apply(self, change: Callable[[], None]) -> None:
        """Run *change* on the loop, where the connections live, and return once it is in force."""
        if not self.running:
            raise BenchError(f"{self!r} is stopped; create a new FaultProxy() to set faults")
        if loop.in_loop_thread():
            change()
            return

        async def run() -> None:
            change()

        loop.run(run(), timeout=self.timeout, what="setting a fault")

    # -- what each side saw ------------------------------------------------------------

    def report(self) -> list[dict[str, Any]]:
        """For each disruption of each connection (cut, half-open, reset, stop, upstream error):
        the connection's number (#1, #2 ... as in the text form), the disruption, what the
        client noticed and how many seconds after it, and the same for the server (None for a
        side that has not noticed, or was not recorded)."""
        by_conn: dict[int, list[Event]] = {}
        for event in self.transcript.events:
            by_conn.setdefault(event.conn, []).append(event)
        rows: list[dict[str, Any]] = []
        for number, events in enumerate(by_conn.values(), 1):
            rows_here: dict[int, dict[str, Any]] = {}
            for event in events:
                if event.side == "proxy" and event.kind in DISRUPTIONS:
                    rows_here[id(event)] = {
                        "conn": number,
                        "fault": f"{event.kind}: {event.detail}",
                        "client": None,
                        "client_after": None,
                        "server": None,
                        "server_after": None,
                    }
            for disruption, notice, seconds in noticed(events):
                row = rows_here[id(disruption)]
                row[notice.side] = _noticed_as(notice)
                row[f"{notice.side}_after"] = seconds
            rows.extend(rows_here.values())
        return rows

    def timeline(self, **options: Any) -> Timeline:
        """A :class:`~wsbench.widgets.Timeline` of every connection through this proxy: client,
        proxy and server lanes, with how long after each disruption each side noticed."""
        from .widgets import Timeline

        return Timeline(self.transcript, **options)


def _noticed_as(event: Event) -> str:
    if event.kind in ("closed", "websocket.disconnect"):
        return f"{event.kind} {describe(event.code, event.reason or '')}"
    if event.kind == "rejected":
        return f"rejected HTTP {event.code}"
    return f"{event.kind}: {event.detail}" if event.detail else event.kind
