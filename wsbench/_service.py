"""What a :class:`~wsbench.Bench` and a :class:`~wsbench.FaultProxy` share: a named listener on
loopback, run on the background loop (:mod:`wsbench.loop`).

* One running instance per class and *name*: creating another stops the old one, so
  re-running a notebook cell leaves nothing behind; all of them stop at interpreter exit.
* Loopback unless asked otherwise (and then a warning); port 0 by default, so the OS picks;
  a port in use is a :class:`~wsbench.BenchError` naming the fix.
* ``url``, ``port``, ``running``, ``stop()``, and use as a context manager.
"""

from __future__ import annotations

import asyncio
import atexit
import socket
import threading
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from . import loop
from ._gate import Gate
from ._net import is_loopback
from ._paths import check_path
from .errors import BenchError, Timeout

if TYPE_CHECKING:
    from .transcript import Transcript

__all__ = ["LoopbackService", "Pairing", "bind", "is_loopback", "note_blockage", "warn_unless_loopback"]


class Pairing(Protocol):
    """What a client needs from whatever it connects through (a Bench, a FaultProxy).

    The client opens TCP to :attr:`address` itself and calls :meth:`pair` with its own
    port before the handshake, so the events the far side records of that connection are
    copied into the client's transcript too; its own events go into :attr:`transcript`
    as well, so the service's transcript holds both sides of every connection.
    """

    @property
    def transcript(self) -> Transcript:
        """The transcript of every connection through it."""

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) to open TCP to."""

    def url_for(self, path: str) -> str:
        """The ws:// or wss:// URL of *path* there; BenchError when it no longer runs."""

    def pair(self, port: int, transcript: Transcript | None, name: str | None = None) -> None:
        """Copy the events of the client on TCP *port* into *transcript* (None: stop); *name*
        is what the client is called, for the events recorded of it there."""

    @property
    def endpoint_ended(self) -> Gate:
        """Notified whenever an endpoint behind it returns or raises."""

    def blocked_since(self, started: float) -> str | None:
        """What blocked the background loop since ``time.time()`` *started*, if anything did:
        a Timeout names it instead of blaming the peer."""


def warn_unless_loopback(host: str, what: str) -> None:
    """Warn the caller's caller (the cell that made the service) that *host* is reachable from elsewhere."""
    if not is_loopback(host):
        warnings.warn(f"{what} binds {host}, which is not loopback: other machines can reach it", stacklevel=3)


def bind(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket bound to *host*:*port* (not listening yet). Made with
    ``proto=IPPROTO_TCP``: asyncio switches Nagle off (TCP_NODELAY) only on accepted sockets of
    such a listener, and without it a send right after another waits for the peer's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BenchError(
            f"cannot bind {host}:{port}: {exc.strerror}; pass port=0 to let the OS pick a free one"
        ) from None
    sock.setblocking(False)
    return sock


class LoopbackService:
    """Base of the services wsbench runs on the background loop; subclasses set ``host``,
    ``name``, ``timeout`` and ``_tls`` and implement ``_start(port)`` (which sets ``_port``
    and ``_task``) and ``_stop()``."""

    _kinds: ClassVar[list[type[LoopbackService]]] = []
    _running: ClassVar[dict[str, Any]]  #: name -> the running instance, one dict per subclass
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()
    _what: ClassVar[str] = "service"  #: how messages name it

    host: str
    name: str
    timeout: float
    _tls: Any = None
    _port: int = 0
    _task: asyncio.Future | None = None
    _loop: asyncio.AbstractEventLoop | None = None  #: the loop it runs on (set by _launch)
    _left_behind = False  #: stopped while its loop stayed blocked: see _halt
    _pairs: dict[int, Transcript]  #: client TCP port -> the transcript its events are copied into

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._running = {}
        LoopbackService._kinds.append(cls)

    def _launch(self, port: int) -> None:
        """Stop the running service of this class and name, if any, then start this one: on the
        background loop, or on a fresh one if that loop is blocked (see :meth:`_halt`)."""
        registry = type(self)._running
        with LoopbackService._registry_lock:
            previous = registry.pop(self.name, None)
        if previous is not None:
            previous.stop()
        current = loop.get_loop()
        blocked = loop.blocked_now(current)
        if blocked is not None and blocked.seconds >= loop.STUCK_AFTER:  # stuck: start where it can run
            loop.abandon(current)
        self._loop = loop.get_loop()
        loop.run(self._start(port), timeout=self.timeout, what=f"starting the {self._what}", on=self._loop)
        with LoopbackService._registry_lock:
            registry[self.name] = self

    async def _start(self, port: int) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """True while it accepts connections."""
        return self._task is not None and not self._task.done() and not self._left_behind

    def stop(self) -> None:
        """Stop it (see the class for what connections see). Idempotent."""
        if self._unregister():
            self._halt()

    async def astop(self) -> None:
        """Coroutine form of :meth:`stop`, from any event loop; raises nothing."""
        if self._unregister():
            if loop.blocked_now(self._loop) is not None:
                await asyncio.to_thread(self._halt)
            else:
                await asyncio.wait_for(loop.arun(self._stop(), on=self._loop), self.timeout)

    def _halt(self) -> None:
        """Run :meth:`_stop` on the service's loop. If that loop is blocked, first stop what blocks
        it where that is safe (:meth:`_unblock`); if it stays blocked, leave the service behind:
        its stop runs whenever the loop wakes, and new services start on a fresh loop."""
        target = self._loop
        assert target is not None
        if loop.blocked_now(target) is not None:
            self._unblock()
        try:
            loop.run(self._stop(), timeout=self.timeout, what=f"stopping the {self._what}", on=target)
        except Timeout:  # stuck for STUCK_AFTER s (a short stall just delays the stop)
            if loop.blocked_now(target) is None:
                raise
            loop.abandon(target)
            self._left_behind = True
            target.call_soon_threadsafe(target.create_task, self._stop_left_behind())
            return
        _retire(target)

    async def _stop_left_behind(self) -> None:
        """Once the loop left behind wakes: stop the service, then the loop if nothing else runs on it."""
        try:
            await self._stop()
        finally:
            assert self._loop is not None
            _retire(self._loop)

    def _unblock(self) -> None:
        """Stop what of this service blocks its loop, if it can (a Bench: its endpoint)."""

    def _unregister(self) -> bool:
        """Take a running service out of the registry; False if it is not running."""
        if not self.running:
            return False
        registry = type(self)._running
        with LoopbackService._registry_lock:
            if registry.get(self.name) is self:
                del registry[self.name]
        return True

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the OS picked (changes every run: keep it out of compared output)."""
        return self._port

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>`` (``wss://`` with TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self._tls else 'ws'}://{host}:{self._port}"

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) to open TCP to: the :class:`Pairing` contract."""
        return self.host, self._port

    def url_for(self, path: str) -> str:
        """The URL of *path* here (the :class:`Pairing` contract). Raises BenchError when stopped, InvalidPath."""
        if not self.running:
            raise BenchError(f"{self!r} is stopped; create a new {type(self).__name__}() to connect")
        return self.url + check_path(path, fragment=True)  # a client records it, then refuses it (masked)

    @property
    def endpoint_ended(self) -> Gate:
        """Notified whenever an endpoint behind it ends; a service with no endpoints never notifies."""
        return _NEVER

    def blocked_since(self, started: float) -> str | None:
        """What blocks the service's loop now, or the last blockage that ended after *started*
        (the :class:`Pairing` contract); every service on a loop shares it, so every one can tell. Raises nothing."""
        now = loop.blocked_now(self._loop)
        if now is not None:
            return self._describe(now)
        with LoopbackService._registry_lock:
            last = _blockages[-1] if _blockages else None
        return last[1] if last is not None and last[0] >= started else None

    def _describe(self, blockage: loop.Blockage) -> str:
        """A blockage of its loop in words (a Bench names the endpoint)."""
        return loop._stuck(blockage)

    def pair(self, port: int, transcript: Transcript | None, name: str | None = None) -> None:
        """Route the events of the client on *port* into *transcript* as well (None: stop): a
        :class:`~wsbench.Connection` calls this with its TCP port before its handshake. Raises nothing."""
        if transcript is None:
            self._pairs.pop(port, None)
        else:
            self._pairs[port] = transcript


def _retire(target: asyncio.AbstractEventLoop) -> None:
    """Stop a loop :func:`wsbench.loop.abandon` left behind once no service runs on it any more: its
    thread then ends (a loop that is still blocked stops whenever it wakes)."""
    if not loop.is_abandoned(target):
        return
    with LoopbackService._registry_lock:
        busy = any(s._loop is target for kind in LoopbackService._kinds for s in kind._running.values())
    if not busy:
        target.call_soon_threadsafe(target.stop)


_NEVER = Gate()  # nothing ever notifies it: waiting on it ends at the timeout

#: (``time.time()`` it ended, what blocked the loop): the last few blockages the watchdog saw
_blockages: deque[tuple[float, str]] = deque(maxlen=16)


def note_blockage(ended: float, message: str) -> None:
    """Keep a blockage of the background loop (the bench's watchdog listener calls this)."""
    with LoopbackService._registry_lock:
        _blockages.append((ended, message))


@atexit.register
def _stop_all() -> None:
    for kind in LoopbackService._kinds:
        for service in list(kind._running.values()):
            try:
                service.stop()
            except Exception:  # interpreter exit: nothing left to report to
                pass
