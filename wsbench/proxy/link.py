"""The data plane of a :class:`~wsbench.FaultProxy`: accept each client, open its upstream
socket, and move the bytes both ways through the faults in force.

* :class:`Target` is where links forward to; :func:`open_upstream` opens TCP there.
* :class:`Plane` is what the links of one proxy share: the accept loop, the faults in force, the
  directions that flow (half-open clears them), the live links and a Gate notified as each ends.
* :class:`Link` is one client's connection and its upstream; :class:`Pipe` one direction of it,
  a reader task filling a bounded queue and a writer task forwarding it, on the wsbench loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._gate import Gate
from .._net import is_loopback
from ..errors import InvalidURL
from ..secrets import mask_url
from ..transcript import Event, Transcript, record, relay, stores
from .faults import Cut, Faults, directions_of
from .frames import FrameCounter

if TYPE_CHECKING:
    from ..server import Bench

__all__ = ["CONNECT_TIMEOUT", "Link", "Pipe", "Plane", "Target", "open_upstream"]

CONNECT_TIMEOUT = 5.0  #: seconds the proxy waits for the target to accept a connection
_CHUNK = 65536  # bytes read at once
_WINDOW = 256 * 1024  # bytes a direction holds between reading and forwarding (latency, bandwidth)
_TICK = 0.05  # seconds: the pacing step of bandwidth and slow reader (at most 20 reads / writes a second)
_DRAIN = 2.0  # seconds the proxy waits for a client it answered 502 to hang up


@dataclass(frozen=True)
class Target:
    """Where the links forward to: a Bench (its address read at each connection, its server
    events paired with the client's), or a fixed (host, port); *tls* leaves the stream opaque."""

    bench: Bench | None
    fixed: tuple[str, int]
    tls: bool

    @classmethod
    def parse(cls, target: Bench | str | tuple[str, int]) -> Target:
        """A Target from a Bench, a ``ws://host:port`` URL or a ``(host, port)`` pair; InvalidURL for a bad URL
        (as the client raises), ValueError for anything else."""
        from ..server import Bench

        if isinstance(target, Bench):
            return cls(target, ("", 0), target.url.startswith("wss://"))
        if isinstance(target, str):
            parts = urlsplit(target)
            if parts.scheme not in ("ws", "wss") or not parts.hostname:
                raise InvalidURL(f"target URL must be ws://host:port (or wss://), not {mask_url(target)!r}")
            if parts.path not in ("", "/") or parts.query:
                raise InvalidURL(
                    f"target URL {mask_url(target)!r} has a path: give ws://host:port; connect(path) picks the path"
                )
            try:
                port = parts.port or (443 if parts.scheme == "wss" else 80)
            except ValueError:
                raise InvalidURL(f"target URL {mask_url(target)!r} has an invalid port") from None
            fixed, tls = (parts.hostname, port), parts.scheme == "wss"
        elif (
            isinstance(target, tuple)
            and len(target) == 2
            and isinstance(target[0], str)
            and isinstance(target[1], int)
            and not isinstance(target[1], bool)
        ):
            fixed, tls = (target[0], target[1]), False
        else:
            raise ValueError(f"target must be a Bench, a ws://host:port URL or a (host, port) pair, not {target!r}")
        if not 0 < fixed[1] < 65536:
            raise ValueError(f"target port must be 1-65535, not {fixed[1]}")
        return cls(None, fixed, tls)

    def address(self) -> tuple[str, int]:
        """(host, port) to open TCP to now."""
        return self.bench.address if self.bench is not None else self.fixed

    def label(self) -> str:
        """The target without a loopback port (it changes every run): for the text form and repr."""
        if self.bench is not None:
            return f"Bench {self.bench.name!r}"
        host, port = self.fixed
        return f"{host}:<port>" if is_loopback(host) else f"{host}:{port}"


async def open_upstream(host: str, port: int) -> socket.socket:
    """A connected, non-blocking TCP socket to *host*:*port*; TimeoutError after :data:`CONNECT_TIMEOUT`."""
    aloop = asyncio.get_running_loop()
    infos = await aloop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(aloop.sock_connect(sock, address), CONNECT_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException as exc:
        sock.close()
        if isinstance(exc, asyncio.TimeoutError):
            raise TimeoutError(f"no answer within {CONNECT_TIMEOUT} s") from None
        raise
    return sock


class Plane:
    """What the links of one proxy share; lives on the wsbench loop (the Gate excepted)."""

    def __init__(self, target: Target, transcript: Transcript, pairs: dict[int, Transcript]) -> None:
        self.target = target
        self.transcript = transcript  #: every connection through the proxy
        self.pairs = pairs  #: client TCP port -> that client's transcript (the proxy's Pairing)
        self.faults = Faults()
        self.flowing = {d: asyncio.Event() for d in ("to_server", "to_client")}  #: cleared while half-open
        for event in self.flowing.values():
            event.set()
        self.links: set[Link] = set()
        self.idle = Gate()  #: notified whenever a link ends (guards :attr:`links`)

    async def accept(self, listener: socket.socket) -> None:
        """Accept clients on *listener* and serve each on its own link, until cancelled."""
        aloop = asyncio.get_running_loop()
        while True:  # until the proxy's stop cancels it
            try:
                sock, address = await aloop.sock_accept(listener)
            except OSError:  # out of file descriptors and the like: try again shortly
                await asyncio.sleep(0.05)
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = Link(self, sock, address[1])
            with self.idle.lock:
                self.links.add(link)
            link.main = asyncio.ensure_future(self._serve(link))

    async def _serve(self, link: Link) -> None:
        aloop = asyncio.get_running_loop()
        try:
            # The first bytes come after the client told us its port (pair): read them, then pair.
            first = await aloop.sock_recv(link.client, _CHUNK)
        except OSError:
            first = b""
        if not first or link.closed:  # the client left before saying anything
            self.pairs.pop(link.key, None)
            link.close(reset=False)
            return
        await link.run(first)

    def ended(self, link: Link) -> None:
        """*link* closed both its sockets: forget it and wake whoever waits for the proxy to be idle."""
        with self.idle.lock:
            self.links.discard(link)
            self.idle.notify()

    def live(self) -> list[Link]:
        """The links that record faults set from now on."""
        return [link for link in self.links if link.live and not link.closed]

    def announce(self, kind: str, detail: str) -> None:
        """Record a proxy event on every live link."""
        for link in self.live():
            link.note(kind, detail)

    def stop(self) -> None:
        """Close every link (each peer sees a FIN)."""
        for link in list(self.links):
            link.stop()


class Pipe:
    """One direction of a link: a reader task fills a bounded queue, a writer task forwards it."""

    def __init__(self, link: Link, direction: str, src: socket.socket, dst: socket.socket, opaque: bool) -> None:
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
        faults = self.link.plane.faults
        self.items.append((time.monotonic() + faults.latency[self.direction], data))
        self.queued += len(data)
        self.ready.set()
        if self.queued >= _WINDOW:
            self.space.clear()

    async def read(self) -> None:
        """Read from the source until its end: paced by slow reader, held by half-open."""
        plane = self.link.plane
        aloop = asyncio.get_running_loop()
        while True:  # ends at the source's FIN or reset, or by cancellation
            await plane.flowing[self.direction].wait()
            await self.space.wait()
            size, rate = _CHUNK, plane.faults.slow_reader if self.direction == "to_client" else None
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
        plane = self.link.plane
        aloop = asyncio.get_running_loop()
        while True:  # ends at the end of the stream, a cut, or by cancellation
            await self.ready.wait()
            due, data = self.items.popleft()
            if not self.items:
                self.ready.clear()
            await asyncio.sleep(due - time.monotonic())
            if not data:
                await plane.flowing[self.direction].wait()
                self.link.end_of_stream(self)
                return
            while data:  # one slice per bandwidth step
                await plane.flowing[self.direction].wait()
                rate = plane.faults.bandwidth[self.direction]
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


class Link:
    """One client's TCP connection, its upstream connection, the two pipes and the armed cut."""

    def __init__(self, plane: Plane, client: socket.socket, key: int) -> None:
        self.plane, self.client, self.key = plane, client, key
        self.upstream: socket.socket | None = None
        self.sinks: tuple[Transcript, ...] = (plane.transcript,)
        self.pipes: list[Pipe] = []
        self.tasks: list[asyncio.Future[Any]] = []
        self.main: asyncio.Future[Any] | None = None  # the task serving this link
        self.cut_spec: Cut | None = None
        self.cut_left = 0
        self.closed = False
        self.live = False  # faults set from now on are recorded here

    def note(self, kind: str, detail: str) -> Event:
        return record(*self.sinks, side="proxy", kind=kind, conn=self.key, detail=detail)

    async def run(self, first: bytes) -> None:
        plane = self.plane
        paired = plane.pairs.pop(self.key, None)
        if paired is not None:
            self.sinks = stores(plane.transcript, paired)
        else:  # no view follows this connection: a view of an earlier one with this port ends here
            plane.transcript._claim(self.key)
        self.live = True
        for kind, detail in plane.faults.lines():
            self.note(kind, detail)
        host, port = plane.target.address()
        try:
            self.upstream = await open_upstream(host, port)
        except OSError as exc:
            await self.refuse(first, exc)
            return
        bench = plane.target.bench
        if bench is not None:  # before the first byte: the Bench routes this connection's events here
            bench.pair(self.upstream.getsockname()[1], relay(self.key, *self.sinks))
        opaque = plane.target.tls
        self.pipes = [
            Pipe(self, "to_server", self.client, self.upstream, opaque),
            Pipe(self, "to_client", self.upstream, self.client, opaque),
        ]
        self.pipes[0].put(first)
        if plane.faults.cut is not None:
            self.arm(plane.faults.cut)
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
        target = self.plane.target
        if isinstance(exc, ConnectionRefusedError):
            why, status = "connection refused", "502 Bad Gateway"
        elif isinstance(exc, TimeoutError):
            why, status = f"no answer within {CONNECT_TIMEOUT:g} s", "504 Gateway Timeout"
        else:
            why, status = (exc.strerror or str(exc) or type(exc).__name__).lower(), "502 Bad Gateway"
        if target.tls:  # the client expects TLS: no HTTP answer can reach it
            self.note("upstream error", f"cannot reach {target.label()} ({why}); closed the client's connection")
            self.close(reset=False)
            return
        self.note("upstream error", f"cannot reach {target.label()} ({why}); answered HTTP {status}")
        host, port = target.address()
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

    def arm(self, spec: Cut) -> None:
        """Start counting toward *spec* from now; a count of 0 cuts at once."""
        self.cut_spec, self.cut_left = spec, spec.count
        if spec.count == 0 and self.pipes:
            self.cut()

    def cut_point(self, direction: str, piece: bytes, ends: list[int]) -> int | None:
        """How much of *piece* may pass before the armed cut, or None when it all may."""
        spec = self.cut_spec
        if spec is None or direction not in directions_of(spec.direction):
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

    def end_of_stream(self, pipe: Pipe) -> None:
        """The source closed its side (FIN): pass that on, as a half-close."""
        self.note("eof", f"{pipe.source} closed its TCP connection")
        with contextlib.suppress(OSError):
            pipe.dst.shutdown(socket.SHUT_WR)

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
        bench, upstream = self.plane.target.bench, self.upstream
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
        self.plane.ended(self)
