"""A fault-injecting TCP proxy on loopback, between a WebSocket client and its server.

:class:`FaultProxy` is the control API; under it, arrows pointing one way: :mod:`.frames` (the
frame counter) and :mod:`.faults` (the fault model) <- :mod:`.link` (the data plane) <- here;
:mod:`.report` (who noticed what) <- here. Specification: ``docs/modules/wsbench.proxy.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .. import loop
from .._gate import Gate
from .._service import LoopbackService, bind, warn_unless_loopback
from ..client import Connection
from ..client.options import ConnectOptions, takes_options
from ..errors import BenchError, Timeout
from ..transcript import Transcript
from .faults import DIRECTIONS, Cut, Faults, check_number, directions_of, rate, where
from .frames import FrameCounter
from .link import Plane, Target
from .report import report_rows

if TYPE_CHECKING:
    import socket

    from typing_extensions import Unpack  # typing's from Python 3.11 on

    from ..server import Bench
    from ..widgets import Timeline

__all__ = ["DIRECTIONS", "FaultProxy", "FrameCounter"]

_Change = Callable[[], None]  # a fault change, run on the wsbench loop where the links live


class FaultProxy(LoopbackService):
    """A TCP proxy on loopback between a client and *target*, injecting faults on demand.

    *target* is a :class:`~wsbench.Bench`, a ``ws://host:port`` URL (``wss://`` passes TLS through
    untouched) or a ``(host, port)`` pair. Faults (:meth:`latency`, :meth:`bandwidth`, :meth:`cut`,
    :meth:`half_open`, :meth:`slow_reader`) apply at once to live and new connections until
    :meth:`clear`, each recorded on side ``"proxy"``; each setter has a coroutine twin (``alatency`` ...).
    What each fault does: ``docs/modules/wsbench.proxy.md``.
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
        self._target = Target.parse(target)  #: where it forwards: the target Bench, or a fixed address
        self._tls = self._target.tls
        warn_unless_loopback(host, "FaultProxy")
        self.host = host
        self.name = name
        self.timeout = timeout
        self.transcript = Transcript()  #: every connection through this proxy: client, proxy and server events
        self._pairs: dict[int, Transcript] = {}
        self._plane = Plane(self._target, self.transcript, self._pairs)
        self._sock: socket.socket | None = None
        self._launch(port)

    # -- life cycle ---------------------------------------------------------

    async def _start(self, port: int) -> None:
        sock = bind(self.host, port)
        sock.listen(128)
        self._sock = sock
        self._port = sock.getsockname()[1]
        self._task = asyncio.ensure_future(self._plane.accept(sock))

    def stop(self) -> None:
        """Stop listening and close every proxied connection (each peer sees a FIN). Idempotent; raises nothing."""
        super().stop()

    async def _stop(self) -> None:
        assert self._task is not None and self._sock is not None
        self._task.cancel()
        await asyncio.wait([self._task])
        self._sock.close()
        self._plane.stop()

    def __repr__(self) -> str:
        faults = "; ".join(detail for _, detail in self._plane.faults.lines()) or "no faults"
        state = "running" if self.running else "stopped"
        return f"<FaultProxy {self.name!r} -> {self._target.label()} {state}, {faults}>"

    # -- where it listens, where it forwards ------------------------------------------

    @property
    def endpoint_ended(self) -> Gate:
        """The target bench's (the :class:`~wsbench._service.Pairing` contract): a connection through
        the proxy waits for its endpoint there; a fixed address has no endpoints to wait for."""
        bench = self._target.bench
        return bench.endpoint_ended if bench is not None else super().endpoint_ended

    @property
    def connections(self) -> int:
        """How many connections pass through the proxy now."""
        return len(self._plane.links)

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no connection passes through the proxy (both TCP ends closed and recorded),
        e.g. before printing a transcript or setting a fault meant only for the next connection. Raises
        Timeout when one still does after *timeout*."""
        timeout = self.timeout if timeout is None else timeout
        if self._plane.idle.wait(self._idle, timeout) is None:
            raise Timeout(self._still_busy("wait_idle", timeout))

    async def await_idle(self, timeout: float | None = None) -> None:
        """Coroutine form of :meth:`wait_idle`; raises as it does."""
        timeout = self.timeout if timeout is None else timeout
        if await self._plane.idle.await_(self._idle, timeout) is None:
            raise Timeout(self._still_busy("await_idle", timeout))

    def _idle(self) -> bool:
        return not self._plane.links

    def _still_busy(self, what: str, timeout: float) -> str:
        return f"{what}: {len(self._plane.links)} connection(s) still pass through {self!r} after {timeout} s"

    @takes_options
    def connect(
        self, path: str = "/", *, params: Mapping[str, Any] | None = None, **options: Unpack[ConnectOptions]
    ) -> Connection:
        """Open a client :class:`~wsbench.Connection` to *path* through the proxy; its transcript
        gets the client's, the proxy's and (for a Bench target) the server's events. Raises BenchError
        when the proxy is stopped, and what :func:`wsbench.connect` raises."""
        return Connection(self.url_for(path), params=params, pairing=self, **options).open()

    @takes_options
    async def aconnect(
        self, path: str = "/", *, params: Mapping[str, Any] | None = None, **options: Unpack[ConnectOptions]
    ) -> Connection:
        """Coroutine form of :meth:`connect`; raises as it does."""
        return await Connection(self.url_for(path), params=params, pairing=self, **options).aopen()

    # -- faults: each setter checks its arguments here, then its change runs on the loop ------

    @property
    def faults(self) -> list[str]:
        """The faults in force, one line each, as the transcripts show them."""
        return [detail for _, detail in self._plane.faults.lines()]

    def latency(self, seconds: float, *, direction: str = "both") -> None:
        """Delay each chunk *seconds* before forwarding it, in *direction* (a round trip through
        ``latency(L)`` takes at least 2L); 0 removes it. Chunks already read keep their delay.
        Raises ValueError for a bad value or direction, BenchError when the proxy is stopped."""
        self._apply(self._latency(seconds, direction))

    async def alatency(self, seconds: float, *, direction: str = "both") -> None:
        """Coroutine form of :meth:`latency`; raises as it does."""
        await self._aapply(self._latency(seconds, direction))

    def _latency(self, seconds: float, direction: str) -> _Change:
        value = check_number(seconds, "latency")
        if value < 0:
            raise ValueError(f"latency must be 0 or more seconds, not {seconds}")
        each = directions_of(direction)

        def change() -> None:
            for d in each:
                self._plane.faults.latency[d] = value
            self._plane.announce("fault", f"latency {value:g} s {where(direction)}")

        return change

    def bandwidth(self, bytes_per_second: float | None, *, direction: str = "both") -> None:
        """Forward at most *bytes_per_second* in *direction*, per connection (in slices of a
        twentieth of a second's worth); None removes the cap. Raises ValueError for a bad value or
        direction, BenchError when the proxy is stopped."""
        self._apply(self._bandwidth(bytes_per_second, direction))

    async def abandwidth(self, bytes_per_second: float | None, *, direction: str = "both") -> None:
        """Coroutine form of :meth:`bandwidth`; raises as it does."""
        await self._aapply(self._bandwidth(bytes_per_second, direction))

    def _bandwidth(self, bytes_per_second: float | None, direction: str) -> _Change:
        value = None if bytes_per_second is None else check_number(bytes_per_second, "bandwidth")
        if value is not None and value <= 0:
            raise ValueError(
                f"bandwidth must be more than 0 bytes per second, not {bytes_per_second}; "
                "to stop forwarding use half_open()"
            )
        each = directions_of(direction)

        def change() -> None:
            for d in each:
                self._plane.faults.bandwidth[d] = value
                for link in self._plane.links:
                    for pipe in link.pipes:
                        pipe.send_at = 0.0
            shown = "unlimited" if value is None else rate(value)
            self._plane.announce("fault", f"bandwidth {shown} {where(direction)}")

        return change

    def cut(self, *, after_bytes: int | None = None, after_frames: int | None = None, direction: str = "both") -> None:
        """Reset both TCP connections of each proxied connection once *after_bytes* more bytes,
        or *after_frames* more WebSocket frames (control frames count), have been forwarded in
        *direction* ("both": counted together); with neither, at once. Live connections count
        from now, new ones from their first byte (frames: from the end of the HTTP upgrade).
        In force until :meth:`clear`. Raises ValueError for a bad count or direction (also for both
        counts, or frames through TLS), BenchError when the proxy is stopped."""
        self._apply(self._cut(after_bytes, after_frames, direction))

    async def acut(
        self, *, after_bytes: int | None = None, after_frames: int | None = None, direction: str = "both"
    ) -> None:
        """Coroutine form of :meth:`cut`; raises as it does."""
        await self._aapply(self._cut(after_bytes, after_frames, direction))

    def _cut(self, after_bytes: int | None, after_frames: int | None, direction: str) -> _Change:
        if after_bytes is not None and after_frames is not None:
            raise ValueError("cut: give after_bytes or after_frames, not both")
        mode, count = ("frames", after_frames) if after_frames is not None else ("bytes", after_bytes or 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"cut: after_{mode} must be a whole number, 0 or more, not {count!r}")
        directions_of(direction)
        if mode == "frames" and self._tls:
            raise ValueError("cut: after_frames needs a ws:// target; TLS hides the frames (use after_bytes)")
        spec = Cut(mode, count, direction)

        def change() -> None:
            self._plane.faults.cut = spec
            for link in self._plane.live():
                link.note("fault", spec.describe())
                link.arm(spec)

        return change

    def half_open(self, *, direction: str = "both") -> None:
        """Stop reading and forwarding in *direction*, sockets kept open: the peers see silence,
        no FIN, no reset. :meth:`heal` resumes and delivers what was held. Raises ValueError for a bad
        direction, BenchError when the proxy is stopped."""
        self._apply(self._half_open(direction))

    async def ahalf_open(self, *, direction: str = "both") -> None:
        """Coroutine form of :meth:`half_open`; raises as it does."""
        await self._aapply(self._half_open(direction))

    def _half_open(self, direction: str) -> _Change:
        each = directions_of(direction)

        def change() -> None:
            for d in each:
                self._plane.faults.half_open.add(d)
                self._plane.flowing[d].clear()
            self._plane.announce("half-open", f"stop forwarding ({where(direction)})")

        return change

    def heal(self, *, direction: str = "both") -> None:
        """End :meth:`half_open` in *direction*: what was held is forwarded, in order. Raises ValueError
        for a bad direction, BenchError when the proxy is stopped."""
        self._apply(self._heal(direction))

    async def aheal(self, *, direction: str = "both") -> None:
        """Coroutine form of :meth:`heal`; raises as it does."""
        await self._aapply(self._heal(direction))

    def _heal(self, direction: str) -> _Change:
        each = directions_of(direction)

        def change() -> None:
            for d in each:
                self._plane.faults.half_open.discard(d)
                self._plane.flowing[d].set()
            self._plane.announce("heal", f"forwarding again ({where(direction)})")

        return change

    def slow_reader(self, bytes_per_second: float | None) -> None:
        """Read from the server at most *bytes_per_second* (reads of a twentieth of a second's
        worth), per connection, forwarding what was read at once; None removes it. What the
        server sends beyond that fills the proxy's socket receive buffer, the server's socket
        send buffer, then uvicorn's write buffer, whose high-water mark makes the endpoint's
        ``send`` wait. Raises ValueError for a bad value, BenchError when the proxy is stopped."""
        self._apply(self._slow_reader(bytes_per_second))

    async def aslow_reader(self, bytes_per_second: float | None) -> None:
        """Coroutine form of :meth:`slow_reader`; raises as it does."""
        await self._aapply(self._slow_reader(bytes_per_second))

    def _slow_reader(self, bytes_per_second: float | None) -> _Change:
        value = None if bytes_per_second is None else check_number(bytes_per_second, "slow_reader")
        if value is not None and value <= 0:
            raise ValueError(
                f"slow_reader must be more than 0 bytes per second, not {bytes_per_second}; "
                "to stop reading use half_open(direction='to_client')"
            )

        def change() -> None:
            self._plane.faults.slow_reader = value
            for link in self._plane.links:
                for pipe in link.pipes:
                    pipe.read_at = 0.0
            shown = "off" if value is None else f"{rate(value)} (reads from the server)"
            self._plane.announce("fault", f"slow reader {shown}")

        return change

    def clear(self) -> None:
        """Remove every fault (half-open healed, held bytes forwarded); connections already cut stay cut.
        Raises BenchError when the proxy is stopped."""
        self._apply(self._clear())

    async def aclear(self) -> None:
        """Coroutine form of :meth:`clear`; raises as it does."""
        await self._aapply(self._clear())

    def _clear(self) -> _Change:
        def change() -> None:
            self._plane.faults = Faults()
            for event in self._plane.flowing.values():
                event.set()
            for link in self._plane.live():
                link.cut_spec = None
            self._plane.announce("clear", "no faults")

        return change

    def _apply(self, change: _Change) -> None:
        """Run *change* on the loop, where the connections live, and return once it is in force."""
        self._check_running()
        if loop.in_loop_thread():
            change()
            return
        loop.run(_run(change), timeout=self.timeout, what="setting a fault")

    async def _aapply(self, change: _Change) -> None:
        """Coroutine form of :meth:`_apply`, from any event loop."""
        self._check_running()
        await loop.arun(_run(change))

    def _check_running(self) -> None:
        if not self.running:
            raise BenchError(f"{self!r} is stopped; create a new FaultProxy() to set faults")

    # -- what each side saw ------------------------------------------------------------

    def report(self) -> list[dict[str, Any]]:
        """For each disruption of each connection (cut, half-open, reset, stop, upstream error):
        the connection's number (#1, #2 ... as in the text form), the disruption, what the
        client noticed and how many seconds after it, and the same for the server (None for a
        side that has not noticed, or was not recorded). Raises nothing."""
        return report_rows(self.transcript)

    def timeline(self, **options: Any) -> Timeline:
        """A :class:`~wsbench.widgets.Timeline` of every connection through this proxy: client,
        proxy and server lanes, with how long after each disruption each side noticed. Raises ValueError for a
        *limit* below 2 events."""
        from ..widgets import Timeline

        return Timeline(self.transcript, **options)


async def _run(change: _Change) -> None:
    change()
