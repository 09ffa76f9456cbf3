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
import logging
import socket
import ssl
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute
from starlette.routing import WebSocketRoute

from . import loop
from ._gate import Gate
from ._service import LoopbackService, bind, note_blockage, warn_unless_loopback
from .browser_link import CONTROL_PREFIX, BrowserLink, control, pair
from .client import Connection, aconnect, connect
from .client.bounds import check_timeout
from .client.handshake import check_url
from .errors import BenchError, InvalidPath, Timeout, TLSFailure
from .states import StateMirror
from .transcript import Transcript, record

if TYPE_CHECKING:
    from .widgets import Timeline
    from .widgets.browser import BrowserClient

__all__ = ["WS_IMPLEMENTATIONS", "Bench", "Recorder", "server_log"]

#: uvicorn's WebSocket implementations ("auto" picks websockets-sansio).
WS_IMPLEMENTATIONS = ("auto", "websockets-sansio", "wsproto", "websockets")

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
    a background thread's output would land in whichever cell happens to run)."""
    return list(_log.lines)


#: Endpoint exceptions kept for paired clients that have not taken them (bounded: a client
#: that never asks must not make the bench grow).
_RAISED_KEPT = 64


def _route(scope: dict[str, Any]) -> str:
    """The request's path below the app's root_path."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class Recorder:
    """ASGI middleware recording each WebSocket connection's messages into transcripts."""

    def __init__(
        self,
        app: Any,
        transcript: Transcript,
        pairs: dict[int, Transcript],
        links: dict[str, BrowserLink] | None = None,
    ) -> None:
        self.app = app
        self.transcript = transcript
        self._pairs = pairs  # client port -> that client's own transcript
        self._links = links if links is not None else {}  # token -> a browser page's link
        self.running = 0  #: WebSocket endpoints running now
        self.changed = Gate()  #: notified whenever an endpoint ends
        #: the exception each paired connection's endpoint raised, until taken (the newest few)
        self._raised: OrderedDict[int, BaseException] = OrderedDict()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        route = _route(scope)
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
        sinks = (self.transcript, paired) if paired is not None else (self.transcript,)
        mirror = StateMirror()
        with self.changed.lock:
            self.running += 1

        def note(message: dict[str, Any], **extra: Any) -> None:
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
                extra["headers"] = tuple((str(k, "latin-1"), str(v, "latin-1")) for k, v in message["headers"])
            record(
                *sinks,
                side="server",
                kind=kind,
                conn=key,
                data=data,
                code=code,
                reason=reason,
                client_state=mirror.client_state,
                application_state=mirror.application_state,
                **extra,
            )

        async def recorded_receive() -> dict:
            message = await receive()
            mirror.received(message["type"])
            note(message)
            return message

        async def recorded_send(message: dict) -> None:
            mirror.sent(message)  # Starlette changes its state before sending, and so do we
            note(message)
            try:
                await send(message)
            except Exception as exc:  # recorded as sent above: say that it did not go out
                if isinstance(exc, OSError):
                    mirror.send_failed()
                detail = f"{message['type']} failed: {type(exc).__name__}: {exc}".rstrip(": ")
                record(*sinks, side="server", kind="send failed", conn=key, detail=detail)
                raise

        try:
            await self.app(scope, recorded_receive, recorded_send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if paired is not None:  # a client of ours may re-raise it (the pytest plugin does, as the TestClient)
                with self.changed.lock:
                    self._raised[key] = exc
                    while len(self._raised) > _RAISED_KEPT:
                        self._raised.popitem(last=False)
            record(
                *sinks, side="server", kind="exception", conn=key, detail=f"endpoint raised {type(exc).__name__}: {exc}"
            )
            raise
        else:
            record(*sinks, side="server", kind="return", conn=key, detail="endpoint returned")
        finally:
            self._pairs.pop(key, None)
            with self.changed.lock:
                self.running -= 1
                self.changed.notify()

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
        loop.on_blocked(_blocked)
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
        self._recorder = Recorder(self.app, self.transcript, self._pairs, self._links)
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
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise BenchError("the server stopped during start-up; see wsbench.server_log()")
            await asyncio.sleep(0.001)

    @staticmethod
    async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit:  # uvicorn exits the process when lifespan start-up fails
            raise BenchError("the app's lifespan start-up failed; see wsbench.server_log()") from None
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop the server: open connections get close code 1012 (service restart). Idempotent."""
        super().stop()

    async def _stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await asyncio.wait([self._task])

    def __repr__(self) -> str:
        return f"<Bench {self.name!r} ws={self.ws} {'running' if self.running else 'stopped'}>"

    # -- endpoints and clients ------------------------------------------------

    def websocket(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        """Decorator registering a WebSocket endpoint at *path*, replacing any endpoint there."""
        _check_path(path)
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

    def connect(self, path: str = "/", **options: Any) -> Connection:
        """Open a client :class:`~wsbench.Connection` to *path* on this bench."""
        return connect(self.url_for(path), pairing=self, **options)

    async def aconnect(self, path: str = "/", **options: Any) -> Connection:
        """Coroutine form of :meth:`connect`."""
        return await aconnect(self.url_for(path), pairing=self, **options)

    def browser_url(self, path: str = "/") -> str:
        """Where a browser in the same JupyterLab reaches *path* of this bench: through
        jupyter-server-proxy (``{base_url}proxy/127.0.0.1:{port}{path}``, relative to the page's
        host, behind Jupyter's own login) when Jupyter runs behind a base URL (a hub, Binder),
        else ``ws://127.0.0.1:{port}{path}``. The bench itself stays on loopback.
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
    ) -> BrowserClient:
        """A :class:`~wsbench.widgets.BrowserClient`: the browser page showing it opens its own
        ``WebSocket`` to *path* (a query allowed: browsers send tokens there), through
        jupyter-server-proxy where Jupyter runs behind a base URL (*via* "auto"; or "proxy",
        "direct"). What the page's WebSocket does is recorded on side "browser", beside the
        endpoint's side, in this bench's transcript and the widget's. *timeout* bounds the
        widget's waits (default: the bench's). Where no page shows it (nbval, a plain kernel),
        its waits and commands say so instead of hanging.
        """
        from .widgets.browser import BrowserClient

        if not isinstance(path, str) or not path.startswith("/") or "#" in path:
            raise InvalidPath(f"browser_connect needs a path starting with '/' and without '#', got {path!r}")
        if not self.running:
            raise BenchError(f"{self!r} is stopped: create a new Bench() to connect a browser to {path}")
        check_url(self.url + path, None)  # what a page's WebSocket would refuse (spaces, control characters)
        timeout = check_timeout(timeout, "timeout")
        link = BrowserLink(self.transcript, path, timeout=self.timeout if timeout is None else timeout)
        widget = BrowserClient(link, self.port, subprotocols=subprotocols, binary_type=binary_type, via=via)
        self._links[link.token] = link
        return widget

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no WebSocket endpoint is running, e.g. before printing what endpoints recorded.

        A client's call returns when the *client* is done (a rejected handshake, a close);
        the endpoint may still be running its last lines. For one connection, see
        :meth:`Connection.wait_endpoint`.
        """
        timeout = self.timeout if timeout is None else timeout
        if self._recorder.changed.wait(self._recorder.is_idle, timeout) is None:
            raise self._still_running("wait_idle", timeout)

    async def await_idle(self, timeout: float | None = None) -> None:
        """Coroutine form of :meth:`wait_idle`."""
        timeout = self.timeout if timeout is None else timeout
        if await self._recorder.changed.await_(self._recorder.is_idle, timeout) is None:
            raise self._still_running("await_idle", timeout)

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

    def timeline(self, **options: Any) -> Timeline:
        """A :class:`~wsbench.widgets.Timeline` of every connection to this bench, both sides."""
        from .widgets import Timeline

        return Timeline(self.transcript, **options)


def _check_path(path: object) -> None:
    """An endpoint path a WebSocket URL can reach: InvalidPath naming what is wrong otherwise."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidPath(f"endpoint path must start with '/', got {path!r}")
    if "?" in path:
        raise InvalidPath(
            f"endpoint path {path!r} holds '?', which starts a URL's query, so no URL reaches it: "
            f"register {path.partition('?')[0]!r} and read the query from websocket.query_params"
        )
    if "#" in path:
        raise InvalidPath(
            f"endpoint path {path!r} holds '#', which starts a URL's fragment (never sent to a server), "
            "so no URL reaches it"
        )


def _blocked(blockage: loop.Blockage) -> None:
    """The watchdog's listener: name the endpoint that blocked the loop, in its transcripts and the log."""
    found = next((frame.f_locals for frame in blockage.stack if frame.f_code is Recorder.__call__.__code__), None)
    where = f"endpoint {found['scope'].get('path', '?')}" if found else "code on it (not an endpoint)"
    message = (
        f"the bench's loop was blocked for {blockage.seconds:.1f} s by {where}: "
        "use `await asyncio.sleep`, or run blocking work in a thread (`await asyncio.to_thread(...)`)"
    )
    _log.lines.append(f"WARNING: {message}")
    note_blockage(blockage.started + blockage.seconds, message)
    if found is not None and "sinks" in found:
        record(*found["sinks"], side="server", kind="blocked", conn=found["key"], detail=message)


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
