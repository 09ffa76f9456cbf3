"""The embedded server: real uvicorn on loopback, endpoints defined live, both sides recorded.

* :class:`Bench` runs ``uvicorn.Server`` on the wsbench background loop (see
  :mod:`wsbench.loop`), on a socket it binds itself on 127.0.0.1, port 0 by default.
* ``@bench.websocket(path)`` registers an endpoint into the live FastAPI app;
  registering a path again replaces it, so re-running a cell redefines it.
* :class:`Recorder` wraps the app and records every ASGI message in and out of each
  WebSocket connection, with ``client_state`` / ``application_state`` after it.
* A Bench replaces a running Bench of the same *name*, so re-running the cell that
  made it leaves no second server behind; all Benches stop at interpreter exit.
* A browser page as a client (:meth:`Bench.browser_connect`): the page reports what its
  ``WebSocket`` does over a control socket to the bench itself (:mod:`wsbench.browser_link`),
  never through the kernel, so a cell can wait for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import socket
import ssl
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar, overload
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute
from starlette.routing import Match, Mount, WebSocketRoute

from . import loop
from ._gate import Gate
from ._net import WS_IMPLEMENTATIONS
from ._paths import check_path
from ._service import LoopbackService, bind, note_blockage, warn_unless_loopback
from .browser_link import CONTROL_PREFIX, BrowserLink, control, pair
from .client import Connection
from .client.bounds import check_name, check_timeout
from .client.options import ConnectOptions, takes_options
from .errors import BenchError, HandshakeRejected, Timeout, TLSFailure, WsbenchError
from .states import CONNECTED, StateMirror
from .transcript import Event, Transcript, record, stores
from .transcript.fanout import Fanout, fanout

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's from Python 3.11 on

    from .widgets import Timeline
    from .widgets.browser import BrowserClient
    from .widgets.lanes import Lanes

__all__ = ["WS_IMPLEMENTATIONS", "Bench", "Blocker", "Recorder", "server_log"]

F = TypeVar("F", bound=Callable[..., Any])


class _LogBuffer(logging.Handler):
    """Keeps uvicorn's log lines instead of printing them into whichever cell runs."""

    def __init__(self, size: int = 500) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


_log = _LogBuffer()


def _keep_uvicorn_logs() -> None:
    """Route uvicorn's log lines into :func:`server_log` from the first Bench on, not at import:
    importing wsbench (as the pytest plugin does in every test run) changes no logging."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if _log not in logger.handlers:
            logger.addHandler(_log)
            logger.propagate = False


def server_log() -> list[str]:
    """The last uvicorn log lines of every Bench in this process (not printed, since
    a background thread's output would land in whichever cell happens to run). Raises nothing."""
    return list(_log.lines)


#: Endpoint exceptions kept for paired clients that have not taken them (bounded: a client
#: that never asks must not make the bench grow).
_RAISED_KEPT = 64


_Holder = TypeVar("_Holder", Connection, BrowserLink)


def _holds(holder: Connection | BrowserLink) -> bool:
    """Whether *holder* still has its name: a connection until it is closed, a browser page's
    WebSocket while a page runs it and it is not closed (a page that never came, as under nbval,
    or that went away, holds none)."""
    if isinstance(holder, BrowserLink):
        return holder.attached and holder.state in ("connecting", "open", "closing")
    return holder.state != "closed"


class Names:
    """The names of a bench's connections: given (``bench.connect(path, name="ann")``) or by
    default "c1", "c2" ... in order of opening, skipping those taken, so the same conversation
    names its connections alike on every run."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._used: set[str] = set()
        self._waiting: dict[int, str] = {}  # client port -> the name its server side takes
        self._holders: dict[str, weakref.ref[Connection | BrowserLink]] = {}  # given names, by who has each

    def next(self) -> str:
        """A default name not given yet: "c1", "c2" ..."""
        while True:
            name = f"c{next(self._numbers)}"
            if name not in self._used:
                self._used.add(name)
                return name

    def give(self, name: str | None, *, page: bool = False) -> str:
        """*name* (checked: :func:`~wsbench.client.bounds.check_name`), or the next default when None.
        ValueError when a connection of this bench that is not closed has it, or a browser page's
        WebSocket that a page runs and that is not closed: two open clients called "ann" (a cell
        run twice) would read as one in every view. A new *page* may take the name of an earlier
        page: the cell that made it is being run again, and its old output goes away."""
        if name is None:
            return self.next()
        holder = self._holders.get(check_name(name))
        held = holder() if holder is not None else None
        if held is not None and _holds(held) and not (page and isinstance(held, BrowserLink)):
            what = "a browser page's WebSocket" if isinstance(held, BrowserLink) else "a connection"
            to = held.route if isinstance(held, BrowserLink) else urlsplit(held.url).path or "/"
            raise ValueError(
                f"name={name!r} is taken: {what} of this bench called that is {held.state} (to {to}); "
                "close it first, or give another name"
            )
        self._used.add(name)
        return name

    def hold(self, holder: _Holder) -> _Holder:
        """*holder* (a Connection, or a browser page's link) has its name until it closes (see :meth:`give`)."""
        if holder.name is not None:
            self._holders[holder.name] = weakref.ref(holder)
        return holder

    def expect(self, port: int, name: str) -> None:
        """The connection from client TCP *port* is called *name* (a Connection pairs before its handshake)."""
        self._waiting[port] = name

    def take(self, port: int) -> str:
        """The name of the connection from *port*: the one expected, or the next default."""
        name = self._waiting.pop(port, None)
        return name if name is not None else self.next()


class _Serving(NamedTuple):
    """A WebSocket endpoint running now: what a blockage of the loop is blamed on."""

    path: str  #: the route it serves
    key: int  #: its connection's ``conn`` (the client's TCP port)
    sinks: tuple[Transcript, ...]  #: where its events are recorded
    recorder: Recorder


#: The WebSocket endpoints running now, by the asyncio task that runs each one: kept by
#: :class:`Recorder`, read by the watchdog's listener (the task whose step blocked the loop).
_serving: dict[asyncio.Task, _Serving] = {}


class Blocker(NamedTuple):
    """What blocks a bench's loop now (:meth:`Bench.blocker`)."""

    key: int | None  #: the ``conn.key`` of the connection whose endpoint blocks it; None: not an endpoint
    path: str | None  #: that endpoint's path
    seconds: float  #: for how long so far
    at: str  #: where in the code: ``name() line N: `source```
    text: str  #: all of it in words, as a Timeout says it
    task: asyncio.Task | None


def route_path(scope: dict[str, Any]) -> str:
    """The request's path below the app's root_path (uvicorn prefixes it; the app's routes do
    not), as Starlette's routing reads it: ``/api/echo`` under ``/api`` is ``/echo``, ``/apiary`` stays."""
    path, root = str(scope.get("path") or ""), str(scope.get("root_path") or "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def request_path(scope: dict[str, Any]) -> str:
    """The path and query a WebSocket connection asked for, below the app's root_path: what the
    server's "websocket.connect" records, and what ``wsbench serve`` logs (shown masked, as URLs are)."""
    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    return (route_path(scope) or "/") + (f"?{query}" if query else "")


class Recorder:
    """ASGI middleware recording each WebSocket connection's messages into transcripts."""

    def __init__(
        self,
        app: Any,
        transcript: Transcript,
        pairs: dict[int, Transcript],
        links: dict[str, BrowserLink] | None = None,
        contexts: dict[int, contextvars.Context] | None = None,
        names: Names | None = None,
    ) -> None:
        self.app = app
        self.transcript = transcript
        self._pairs = pairs  # client port -> that client's own transcript
        self._contexts = contexts if contexts is not None else {}  # client port -> its caller's context
        self._links = links if links is not None else {}  # token -> a browser page's link
        self.names = names if names is not None else Names()  #: the connections' names
        # Who caused a send (kinds.CAUSED): the task that runs the ASGI send is the one that
        # called websocket.send_*, also on another connection's socket (a broadcast).
        self._handlers: dict[asyncio.Task[Any], str] = {}  # each running handler's task -> its connection's name
        #: each task's last ASGI receive (its seq): what a send from that task answers
        self._received: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = weakref.WeakKeyDictionary()
        self.running = 0  #: WebSocket endpoints running now
        self.changed = Gate()  #: notified whenever an endpoint ends
        #: the exception each paired connection's endpoint raised, until taken (the newest few)
        self._raised: OrderedDict[int, BaseException] = OrderedDict()
        self.lifespan: asyncio.Task | None = None  #: the task running the app's lifespan, once it started

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "websocket":
            if scope["type"] == "lifespan":
                self.lifespan = asyncio.current_task()
            await self.app(scope, receive, send)
            return
        route = route_path(scope)
        if route.startswith(CONTROL_PREFIX):  # a page's control socket: answered here, never recorded
            await control(self._links.get(route[len(CONTROL_PREFIX) :]), receive, send)
            return
        client = scope.get("client")
        key = client[1] if client else id(scope)
        paired = self._pairs.get(key)
        page = pair(self._links, route, scope) if paired is None else None
        if page is not None:  # a browser page's WebSocket: its events join the page's; its secret leaves the query
            link, scope = page
            key, paired = link.key, link.transcript
        if paired is None:  # a connection no view follows: a view of an earlier one with this port ends here
            self.transcript._claim(key)
        sinks = stores(self.transcript, paired) if paired is not None else (self.transcript,)
        name = (page[0].name if page is not None else None) or self.names.take(key)
        context = self._contexts.pop(key, None)
        if context is not None:  # the values the opening call saw, set in this handler's own task
            for variable, value in context.items():
                variable.set(value)
        mirror = StateMirror()
        asked = request_path(scope)
        task = asyncio.current_task()
        if task is not None:
            self._handlers[task] = name
            _serving[task] = _Serving(route, key, sinks, self)
        with self.changed.lock:
            self.running += 1

        def note(message: dict[str, Any], **extra: Any) -> Event:
            kind = message["type"]
            data = message.get("text")
            if data is None:
                data = message.get("bytes") if kind != "websocket.http.response.body" else message.get("body")
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            elif data is not None and not isinstance(data, (str, bytes)):  # the app's mistake: show, not crash
                extra["detail"] = f"payload is {type(data).__name__}, not str or bytes"
                data = None
            code = reason = None
            if kind in ("websocket.close", "websocket.disconnect"):
                code, reason = int(message.get("code", 1000)), message.get("reason") or ""  # int, not an enum
            elif kind == "websocket.http.response.start":
                code = message.get("status")
            extra.setdefault("detail", message.get("subprotocol") and f"subprotocol {message['subprotocol']!r}")
            if message.get("headers"):  # what the app gave with an accept or a denial response
                extra["headers"] = tuple((_latin1(k), _latin1(v)) for k, v in message["headers"])
            return record(
                *sinks,
                side="server",
                kind=kind,
                conn=key,
                data=data,
                code=code,
                reason=reason,
                client_state=mirror.client_state,
                application_state=mirror.application_state,
                name=name,
                **extra,
            )

        async def recorded_receive() -> dict:
            message = await receive()
            mirror.received(message["type"])
            # the connect says which path the client asked for: where no client side is recorded
            # (an outside client, one through a FaultProxy) it is the only place that says so
            event = note(message, detail=asked) if message["type"] == "websocket.connect" else note(message)
            sender = asyncio.current_task()
            if sender is not None:
                self._received[sender] = event.seq
            return message

        async def recorded_send(message: dict) -> None:
            mirror.sent(message)  # Starlette changes its state before sending, and so do we
            caused = self._caused_by()
            note(message, **caused)
            try:
                await send(message)
            except Exception as exc:  # recorded as sent above: say that it did not go out
                if isinstance(exc, OSError):
                    mirror.send_failed()
                detail = f"{message['type']} failed: {type(exc).__name__}: {exc}".rstrip(": ")
                record(*sinks, side="server", kind="send failed", conn=key, detail=detail, name=name, **caused)
                raise

        try:
            await self.app(scope, recorded_receive, recorded_send)
        except asyncio.CancelledError:
            raise
        except loop.Stopped:  # wsbench stopped it: it blocked the loop (Bench.stop_blocker)
            detail = "wsbench stopped the endpoint: it blocked the bench's loop"
            accepted = mirror.application_state == CONNECTED
            if accepted:  # tell the client why, rather than dropping it (1006)
                try:
                    await recorded_send({"type": "websocket.close", "code": 1011, "reason": detail})
                except Exception:
                    pass
            record(*sinks, side="server", kind="exception", conn=key, detail=f"endpoint raised Stopped: {detail}")
            if not accepted:
                raise  # before accept: uvicorn answers HTTP 500
        except BaseException as exc:
            if paired is not None:  # a client of ours may re-raise it (the pytest plugin does, as the TestClient)
                with self.changed.lock:
                    self._raised[key] = exc
                    while len(self._raised) > _RAISED_KEPT:
                        self._raised.popitem(last=False)
            record(
                *sinks,
                side="server",
                kind="exception",
                conn=key,
                detail=f"endpoint raised {type(exc).__name__}: {exc}",
                name=name,
            )
            raise
        else:
            record(*sinks, side="server", kind="return", conn=key, detail="endpoint returned", name=name)
        finally:
            if task is not None:
                _serving.pop(task, None)
                self._handlers.pop(task, None)
            self._pairs.pop(key, None)
            with self.changed.lock:
                self.running -= 1
                self.changed.notify()

    def _caused_by(self) -> dict[str, Any]:
        """Who makes the send being recorded: ``handler`` (the name of the connection whose
        handler task runs it, or ``task <name>``) and ``cause`` (that task's last receive)."""
        task = asyncio.current_task()
        if task is None:  # not from a task (a callback): nothing to say
            return {}
        handler = self._handlers.get(task)
        return {"handler": handler or f"task {task.get_name()}", "cause": self._received.get(task)}

    def is_idle(self) -> bool:
        """No WebSocket endpoint is running."""
        return self.running == 0

    def take_exception(self, port: int) -> BaseException | None:
        """The exception the endpoint of the client on TCP *port* raised, once (None if it did not)."""
        with self.changed.lock:
            return self._raised.pop(port, None)


class Bench(LoopbackService):
    """A real FastAPI app served by uvicorn on loopback, for a notebook or a test.

    ``ws`` picks uvicorn's WebSocket implementation (see :data:`WS_IMPLEMENTATIONS`);
    ``root_path`` is uvicorn's ``--root-path``, for an app served behind a path prefix.
    ``host`` other than loopback must be asked for explicitly and draws a warning.
    ``certfile`` / ``keyfile`` serve TLS (the URL becomes ``wss://``); ``client_ca_file``
    then also requires each client to present a certificate signed by that CA.
    """

    _what = "bench"

    def __init__(
        self,
        app: FastAPI | None = None,
        *,
        ws: str = "auto",
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "main",
        root_path: str = "",
        timeout: float = 10.0,
        certfile: str | None = None,
        keyfile: str | None = None,
        client_ca_file: str | None = None,
    ) -> None:
        if ws not in WS_IMPLEMENTATIONS:
            raise ValueError(
                f"ws={ws!r} is not one of uvicorn's WebSocket implementations: {', '.join(WS_IMPLEMENTATIONS)}"
            )
        warn_unless_loopback(host, "Bench")
        _keep_uvicorn_logs()
        loop.on_blocked(_blocked, while_blocked=True)
        self.app: FastAPI = app if app is not None else FastAPI()
        self.ws = ws
        self.host = host
        self.name = name
        self.timeout = timeout
        self.root_path = root_path
        self._tls = _tls_options(certfile, keyfile, client_ca_file)
        self.transcript = Transcript()
        self._pairs: dict[int, Transcript] = {}
        self._links: dict[str, BrowserLink] = {}
        self.names = Names()  #: its connections' names, given or "c1", "c2" ... in order of opening
        self._contexts: dict[int, contextvars.Context] = {}
        self._recorder = Recorder(self.app, self.transcript, self._pairs, self._links, self._contexts, self.names)
        self._server: uvicorn.Server | None = None
        self._launch(port)

    # -- life cycle ---------------------------------------------------------

    async def _start(self, port: int) -> None:
        sock = bind(self.host, port)
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._recorder,
            ws=self.ws,
            log_config=None,
            root_path=self.root_path,
            lifespan="auto",
            timeout_graceful_shutdown=2,
            **self._tls,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.ensure_future(self._serve(self._server, sock))
        deadline = asyncio.get_running_loop().time() + self.timeout
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise BenchError("the server stopped during start-up; see wsbench.server_log()")
            if asyncio.get_running_loop().time() > deadline:
                raise BenchError(await self._give_up_starting())
            await asyncio.sleep(0.001)

    async def _give_up_starting(self) -> str:
        """Stop what a start that took too long started (uvicorn, the app's lifespan), and say why it
        did not start: nothing may go on serving the port after Bench() has raised."""
        assert self._server is not None and self._task is not None
        startup = getattr(getattr(self._server, "lifespan", None), "startup_event", None)  # uvicorn's LifespanOn
        in_lifespan = startup is not None and not startup.is_set()
        self._server.should_exit = True
        started = [task for task in (self._task, self._recorder.lifespan) if task is not None and not task.done()]
        for task in started:
            task.cancel()
        if started:
            await asyncio.wait(started, timeout=2)
        cause = (
            "the app's lifespan start-up (its code before `yield`) did not finish"
            if in_lifespan
            else "uvicorn did not report that it started"
        )
        message = (
            f"the bench did not start within its timeout of {self.timeout:g} s: {cause}. wsbench stopped the "
            "server and the lifespan, so nothing serves its port; make the start-up faster, or give it longer "
            "(Bench(app, timeout=...))"
        )
        _log.lines.append(f"ERROR: {message}")
        return message

    @staticmethod
    async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit:  # uvicorn exits the process when lifespan start-up fails
            raise BenchError("the app's lifespan start-up failed; see wsbench.server_log()") from None
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop the server: open connections get close code 1012 (service restart). Idempotent; raises nothing."""
        super().stop()

    async def _stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await asyncio.wait([self._task])

    def _describe(self, blockage: loop.Blockage) -> str:
        return _describe(blockage)

    def blocker(self) -> Blocker | None:
        """What blocks the bench's loop now (noticed by the watchdog), or None; raises nothing."""
        blockage = loop.blocked_now(self._loop)
        if blockage is None:
            return None
        serving, _ = _blamed(blockage)
        return Blocker(
            serving.key if serving else None,
            serving.path if serving else None,
            blockage.seconds,
            blockage.at,
            _describe(blockage),
            blockage.task,
        )

    def stop_blocker(self, blocker: Blocker) -> bool:
        """Stop the endpoint that blocks the loop (raise :class:`wsbench.loop.Stopped` into it, see
        :func:`wsbench.loop.interrupt`); True if the loop runs again. Not for code that is no endpoint."""
        if blocker.task is None or blocker.key is None or self._loop is None:
            return False
        return loop.interrupt(blocker.task, self._loop)

    def _unblock(self) -> None:
        """Stopping or replacing the bench: stop its own endpoint that blocks the loop, if one does."""
        blocker = self.blocker()
        serving = _serving.get(blocker.task) if blocker is not None and blocker.task is not None else None
        if blocker is not None and serving is not None and serving.recorder is self._recorder:
            self.stop_blocker(blocker)

    def __repr__(self) -> str:
        return f"<Bench {self.name!r} ws={self.ws} {'running' if self.running else 'stopped'}>"

    # -- endpoints and clients ------------------------------------------------

    def websocket(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        """Decorator registering a WebSocket endpoint at *path*, replacing any endpoint there. Raises InvalidPath
        for a path that is not one, BenchError when the bench is stopped."""
        check_path(path, noun="endpoint path", template=True, query=False)
        if not self.running:
            raise BenchError(f"{self!r} is stopped: create a new Bench() to serve {path}")

        def register(endpoint: F) -> F:
            routes = self.app.router.routes
            routes[:] = [
                r for r in routes if not (isinstance(r, (APIWebSocketRoute, WebSocketRoute)) and r.path == path)
            ]
            self.app.add_api_websocket_route(path, endpoint, name=name)
            return endpoint

        return register

    @takes_options
    def connect(
        self, path: str = "/", *, params: Mapping[str, Any] | None = None, **options: Unpack[ConnectOptions]
    ) -> Connection:
        """Open a client :class:`~wsbench.Connection` to *path* on this bench, called ``name`` in
        every view ("ann"; by default "c1", "c2" ... in order of opening). Raises BenchError when the
        bench is stopped, and what :func:`wsbench.connect` raises; a HandshakeRejected or Timeout
        says what the bench saw of it."""
        url, began = self._url_to(path), time.time()
        options["name"] = self.names.give(options.get("name"))
        try:
            return self.names.hold(Connection(url, params=params, pairing=self, **options)).open()
        except (HandshakeRejected, Timeout) as exc:
            raise self._explained(exc, path, began) from None

    @takes_options
    async def aconnect(
        self, path: str = "/", *, params: Mapping[str, Any] | None = None, **options: Unpack[ConnectOptions]
    ) -> Connection:
        """Coroutine form of :meth:`connect`; raises as it does."""
        url, began = self._url_to(path), time.time()
        options["name"] = self.names.give(options.get("name"))
        try:
            return await self.names.hold(Connection(url, params=params, pairing=self, **options)).aopen()
        except (HandshakeRejected, Timeout) as exc:
            raise self._explained(exc, path, began) from None

    def pair(self, port: int, transcript: Transcript | None, name: str | None = None) -> None:
        """Route the events of the client on *port* into *transcript* as well, and call its
        server side *name* (the :class:`~wsbench._service.Pairing` contract); raises nothing."""
        super().pair(port, transcript, name)
        if transcript is not None and name is not None:
            self.names.expect(port, name)

    def reopen(self, conn: Connection) -> Connection:
        """A new connection like *conn* (its path, query and options): on this bench while it runs, else
        on the bench that replaced it (the same *name*: its cell was re-run); raises BenchError saying what
        to run if none did. A panel's reconnect button goes this way, so it follows a replaced bench and
        names what blocks a stuck one."""
        successor: Bench | None = self
        if not self.running:
            with LoopbackService._registry_lock:
                successor = type(self)._running.get(self.name)
        if successor is None or not successor.running:
            raise BenchError(
                f"{self!r} was stopped and no bench replaced it: run the cell that makes the bench, "
                "then the cell that made this connection (or panel) again"
            )
        parts = urlsplit(conn.url)  # this bench's URL, then the path and query the connection asked for
        path = parts.path
        return successor.connect(path + (f"?{parts.query}" if parts.query else ""), **conn._options.chosen())

    def _url_to(self, path: str) -> str:
        """The URL of *path*, once the bench is known to be able to answer: a Timeout at once, naming
        what blocks its loop, when that has lasted :data:`wsbench.loop.STUCK_AFTER` s already."""
        url = self.url_for(path)
        blocked = loop.blocked_now(self._loop)
        if blocked is not None and blocked.seconds >= loop.STUCK_AFTER:
            raise Timeout(f"cannot connect to {path}: {_describe(blocked)}")
        return url

    def _explained(self, exc: WsbenchError, path: str, began: float) -> WsbenchError:
        """*exc* (a failed connect to *path*, begun at ``time.time()`` *began*) with the cause the bench
        knows: no endpoint there, or its loop blocked meanwhile."""
        if isinstance(exc, HandshakeRejected) and exc.status == 403:
            missing = self._no_endpoint(path)
            if missing:
                return HandshakeRejected(
                    f"{missing} (uvicorn refused the handshake: HTTP 403)",
                    status=exc.status,
                    headers=exc.headers,
                    body=exc.body,
                )
        if isinstance(exc, Timeout):
            blocked = self.blocked_since(began)
            if blocked:
                return Timeout(f"{exc}: {blocked}")
        return exc

    def _no_endpoint(self, path: str) -> str | None:
        """ "no endpoint at *path* on this bench (it has: ...): ..." when no route of the app matches
        *path*; None when one does, or when the app has no router to ask."""
        routes = getattr(getattr(self.app, "router", None), "routes", None)
        if not isinstance(routes, list):
            return None
        route_path = urlsplit(path).path
        scope = {"type": "websocket", "path": route_path, "root_path": "", "path_params": {}, "headers": []}
        try:
            if any(route.matches(scope)[0] == Match.FULL for route in routes):
                return None
        except Exception:  # a route that cannot judge a bare scope: do not guess
            return None
        paths = [r.path for r in routes if isinstance(r, (APIWebSocketRoute, WebSocketRoute))]
        paths += [f"{r.path}/..." for r in routes if isinstance(r, Mount)]
        shown = ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")
        has = f"it has: {shown}" if paths else "it has no WebSocket endpoints yet"
        if self.root_path and route_path.startswith(self.root_path):
            fix = f"a client talking to the bench directly leaves out its root_path {self.root_path}"
        else:
            fix = "run the cell that defines it"
        return f"no endpoint at {route_path} on this bench ({has}): {fix}"

    def browser_url(self, path: str = "/") -> str:
        """Where a browser in the same JupyterLab reaches *path* of this bench: through
        jupyter-server-proxy (``{base_url}proxy/127.0.0.1:{port}{path}``, relative to the page's
        host, behind Jupyter's own login) when Jupyter runs behind a base URL (a hub, Binder),
        else ``ws://127.0.0.1:{port}{path}``. The bench itself stays on loopback. Raises InvalidPath for a bad *path*.
        """
        from ._jupyter import browser_url

        return browser_url(self.port, path, secure=self.url.startswith("wss:"))

    def browser_connect(
        self,
        path: str = "/",
        *,
        subprotocols: tuple[str, ...] | list[str] = (),
        binary_type: str = "arraybuffer",
        via: str = "auto",
        timeout: float | None = None,
        name: str | None = None,
    ) -> BrowserClient:
        """A :class:`~wsbench.widgets.BrowserClient`: the browser page showing it opens its own
        ``WebSocket`` to *path* (a query allowed: browsers send tokens there), through
        jupyter-server-proxy where Jupyter runs behind a base URL (*via* "auto"; or "proxy",
        "direct"). What the page's WebSocket does is recorded on side "browser", beside the
        endpoint's side, in this bench's transcript and the widget's. *timeout* bounds the
        widget's waits (default: the bench's). Where no page shows it (nbval, a plain kernel),
        its waits and commands say so instead of hanging. *name* is what every view calls it,
        as for :meth:`connect`. Raises InvalidPath, ValueError or TypeError for a bad argument, BenchError
        when the bench is stopped.
        """
        from .widgets.browser import BrowserClient

        check_path(path)
        if not self.running:
            raise BenchError(f"{self!r} is stopped: create a new Bench() to connect a browser to {path}")
        timeout = check_timeout(timeout, "timeout")
        link = BrowserLink(self.transcript, path, timeout=self.timeout if timeout is None else timeout)
        link.name = self.names.give(name, page=True)
        self.names.hold(link)
        widget = BrowserClient(link, self.port, subprotocols=subprotocols, binary_type=binary_type, via=via)
        self._links[link.token] = link
        return widget

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no WebSocket endpoint is running, e.g. before printing what endpoints recorded.

        A client's call returns when the *client* is done (a rejected handshake, a close);
        the endpoint may still be running its last lines. For one connection, see
        :meth:`Connection.wait_endpoint`. Raises Timeout when one still runs after *timeout*.
        """
        timeout = self.timeout if timeout is None else timeout
        if self._recorder.changed.wait(self._recorder.is_idle, timeout) is None:
            raise self._still_running("wait_idle", timeout)

    async def await_idle(self, timeout: float | None = None) -> None:
        """Coroutine form of :meth:`wait_idle`; raises as it does."""
        timeout = self.timeout if timeout is None else timeout
        if await self._recorder.changed.await_(self._recorder.is_idle, timeout) is None:
            raise self._still_running("await_idle", timeout)

    def carry_context(self, port: int, context: contextvars.Context | None) -> None:
        """Set the values of *context* in the handler of the client on TCP *port* (None: forget it),
        as Starlette's TestClient runs the app in a copy of its caller's context (the pytest plugin). Raises nothing."""
        if context is None:
            self._contexts.pop(port, None)
        else:
            self._contexts[port] = context

    def take_exception(self, key: int) -> BaseException | None:
        """The exception the endpoint serving connection *key* (``conn.key``) raised, once; None if
        it did not. For a client that re-raises it, as the pytest plugin does like the TestClient."""
        return self._recorder.take_exception(key)

    @property
    def endpoint_ended(self) -> Gate:
        """Notified whenever one of its endpoints returns or raises (the :class:`Pairing` contract)."""
        return self._recorder.changed

    def _still_running(self, what: str, timeout: float) -> Timeout:
        return Timeout(f"{what}: {self._recorder.running} endpoint(s) of {self!r} still running after {timeout} s")

    def fanout(self) -> list[Fanout]:
        """For each client message an endpoint answered with sends (a broadcast), who received
        them and how long after the client sent it, and who never did: one
        :class:`~wsbench.transcript.fanout.Fanout` each (``.summary()`` says it in a line). Raises nothing."""
        return fanout(self.transcript)

    @overload
    def timeline(self, *, lanes: Literal[False] = False, **options: Any) -> Timeline: ...

    @overload
    def timeline(self, *, lanes: Literal[True], **options: Any) -> Lanes: ...

    def timeline(self, *, lanes: bool = False, **options: Any) -> Timeline | Lanes:
        """A :class:`~wsbench.widgets.Timeline` of every connection to this bench, both sides; with
        *lanes*, one diagram of them all instead (:class:`~wsbench.widgets.lanes.Lanes`): a lane per
        client, the server between them, a handler's sends in its connection's colour. Raises TypeError for
        an option the picture does not take."""
        if lanes:
            from .widgets.lanes import Lanes

            return Lanes(self.transcript, **options)
        from .widgets import Timeline

        return Timeline(self.transcript, **options)

    def _forget(self, timeout: float = 2.0) -> None:
        """Be as new without a restart: close every open connection as :meth:`stop` does (1012), wait
        (up to *timeout* s: Timeout) for every endpoint to end, then forget what it recorded and whom it
        named: a new transcript, names from "c1" again, no pairings, carried contexts, pages or kept
        exceptions. For a test suite that serves many tests from one bench (tests/conftest.py)."""
        server = self._server
        assert server is not None

        async def shut_down() -> None:
            for connection in list(server.server_state.connections):
                connection.shutdown()

        loop.run(shut_down(), timeout=timeout, what="closing the bench's connections", on=self._loop)
        self.wait_idle(timeout)
        self.transcript = self._recorder.transcript = Transcript()
        self.names = self._recorder.names = Names()
        for kept in (self._pairs, self._contexts, self._links, self._recorder._raised):
            kept.clear()


_FIX = "use `await asyncio.sleep`, or run blocking work in a thread (`await asyncio.to_thread(...)`)"


def _blamed(blockage: loop.Blockage, serving: _Serving | None = None) -> tuple[_Serving | None, str]:
    """The endpoint that blocks (or blocked) the loop, if one did, and who and where in words:
    ``endpoint /echo, in echo() line 4: `while True: pass```."""
    if serving is None and blockage.task is not None:
        serving = _serving.get(blockage.task)
    at = blockage.at
    who = f"endpoint {serving.path}" if serving is not None else "code on it (not an endpoint)"
    return serving, who + (f", in {at}" if at else "")


def _describe(blockage: loop.Blockage, serving: _Serving | None = None) -> str:
    """A blockage in words: who, where, how long, still blocked or not, and the fix."""
    _, who = _blamed(blockage, serving)
    if blockage.ongoing:
        return (
            f"the bench's loop is still blocked, for {blockage.seconds:.1f} s now, by {who}: it never awaits, "
            "so nothing on any bench runs until it does. Re-run the cell that makes the bench "
            f"(wsbench.Bench()) to get going again; then {_FIX}"
        )
    return f"the bench's loop was blocked for {blockage.seconds:.1f} s by {who}: {_FIX}"


#: The endpoint blamed for each blockage still going on (by its start), so that its end is recorded
#: with it even when the endpoint has finished by then (bounded: a blockage ends or its loop is left).
_blamed_for: OrderedDict[float, _Serving] = OrderedDict()


def _blocked(blockage: loop.Blockage) -> None:
    """The watchdog's listener: name the endpoint that blocks the loop, while it blocks and when it
    ends, in its transcripts and the log."""
    serving = _blamed_for.pop(blockage.started, None) or _blamed(blockage)[0]
    if blockage.ongoing and serving is not None:
        _blamed_for[blockage.started] = serving
        while len(_blamed_for) > 64:
            _blamed_for.popitem(last=False)
    message = _describe(blockage, serving)
    _log.lines.append(f"WARNING: {message}")
    if not blockage.ongoing:
        note_blockage(blockage.started + blockage.seconds, message)
    if serving is not None:
        record(*serving.sinks, side="server", kind="blocked", conn=serving.key, detail=message)


def _tls_options(certfile: str | None, keyfile: str | None, client_ca_file: str | None) -> dict[str, Any]:
    """uvicorn's ssl_* settings, each file checked now so a mistake names the file, not a stack."""
    if certfile is None:
        if keyfile or client_ca_file:
            raise ValueError("keyfile / client_ca_file need certfile: TLS starts with the server's certificate")
        return {}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise TLSFailure(f"cannot load the server certificate {certfile!r} / key {keyfile!r}: {exc}") from None
    options: dict[str, Any] = {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    if client_ca_file is not None:
        try:
            context.load_verify_locations(client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSFailure(f"cannot load the client CA file {client_ca_file!r}: {exc}") from None
        options.update(ssl_ca_certs=client_ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


def _latin1(value: object) -> str:
    """A header name or value as the transcript shows it: bytes decoded; anything else (the app's
    mistake, e.g. a str) as it is, so the recorder never raises in place of the server."""
    return str(value, "latin-1") if isinstance(value, (bytes, bytearray)) else str(value)
