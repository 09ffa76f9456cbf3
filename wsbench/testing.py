"""A live client for TestClient-style WebSocket tests: the app on real uvicorn, Starlette's API.

``LiveClient(app)`` serves *app* on 127.0.0.1 (a :class:`~wsbench.Bench`); its
``websocket_connect(url)`` returns a :class:`LiveWebSocketSession` with the API of Starlette's
``WebSocketTestSession``, over a real socket with timeouts, so a test written for
``TestClient(app)`` runs against uvicorn. The pytest fixtures that build one are in
:mod:`wsbench.pytest_plugin`. Importing this module starts nothing and loads no server or client.
How the session matches the TestClient where the wire loses information, and what it cannot
match: ``docs/testclient_differences.md``.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from .errors import ConnectError, ConnectionClosed, Timeout
from .transcript import Event, Transcript

if TYPE_CHECKING:
    import httpx

    from ._gate import Gate
    from .client import Connection
    from .server import Bench

__all__ = ["LiveClient", "LiveWebSocketSession"]

#: The fixtures live in :mod:`wsbench.pytest_plugin`; these names stay importable from here (and
#: ``pytest_plugins = ["wsbench.testing"]`` keeps offering them), as they were defined here first.
_FIXTURES = ("wsbench_bench", "wsbench_client")


def __getattr__(name: str) -> object:
    if name in _FIXTURES:
        from . import pytest_plugin

        return getattr(pytest_plugin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FIXTURES))


#: Seconds ``__exit__`` waits, after closing, for the endpoint to finish so that an
#: exception it raises reaches the test (the TestClient cancels the endpoint instead).
EXIT_GRACE = 1.0

_names = itertools.count(1)

Message = dict[str, Any]


# -- the client ----------------------------------------------------------------------


class LiveClient:
    """*app* served by real uvicorn on 127.0.0.1, with the TestClient's ``websocket_connect``.

    ``raise_server_exceptions``, ``root_path`` mean what they mean for Starlette's
    ``TestClient``; ``ws`` picks uvicorn's WebSocket implementation; ``timeout`` bounds
    every wait of a session (seconds). HTTP methods (``get``, ``post``, ...) go to the
    same server through an ``httpx.Client`` (:attr:`http`) when httpx is installed. Stop it
    with :meth:`close` or ``with``; the ``wsbench_client`` fixture stops it after the test.
    """

    __test__ = False  # not a test class, whatever pytest's naming rules say

    def __init__(
        self,
        app: Any,
        *,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        ws: str = "auto",
        timeout: float = 5.0,
        name: str | None = None,
    ) -> None:
        from .server import Bench

        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.timeout = timeout
        self.bench: Bench = Bench(
            app,
            ws=ws,
            root_path=root_path,
            name=name or f"wsbench.testing-{os.getpid()}-{next(_names)}",
            timeout=max(timeout, 10.0),
        )
        self._http: httpx.Client | None = None

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>``: relative URLs given to :meth:`websocket_connect` resolve against it."""
        return self.bench.url

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, the server's HTTP address."""
        return "http" + self.bench.url[2:]

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        params: Mapping[str, Any] | None = None,
        cookies: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> LiveWebSocketSession:
        """A session to *url* (``"/ws"``, or a full ``ws://`` URL; ``ws://testserver/...`` means this server).

        Like the TestClient's, it connects on ``with ... as websocket:`` (``__enter__``).
        """
        parts = urlsplit(urljoin(self.url, url))
        if parts.hostname == "testserver":  # the TestClient's host: a test may spell it out
            parts = parts._replace(netloc=urlsplit(self.url).netloc)
        if params:  # replaces the URL's query string, as httpx (and so the TestClient) does
            parts = parts._replace(query=urlencode(params, doseq=True))
        extra = list(headers.items() if isinstance(headers, Mapping) else headers or [])
        if cookies:
            extra.append(("cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
        return LiveWebSocketSession(
            self,
            urlunsplit(parts),
            subprotocols=subprotocols,
            headers=extra,
            timeout=self.timeout if timeout is None else timeout,
        )

    # -- HTTP, through httpx (as the TestClient is an httpx client) ------------------------

    @property
    def http(self) -> httpx.Client:
        """An ``httpx.Client`` for the same server (made on first use; needs httpx)."""
        if self._http is None:
            try:
                import httpx
            except ModuleNotFoundError:
                raise RuntimeError("LiveClient's HTTP methods need httpx: pip install httpx") from None
            self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout)
        return self._http

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """``httpx.Client.request`` against this server."""
        return self.http.request(method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``httpx.Client.get`` against this server."""
        return self.http.get(url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        """``httpx.Client.head`` against this server."""
        return self.http.head(url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        """``httpx.Client.options`` against this server."""
        return self.http.options(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``httpx.Client.post`` against this server."""
        return self.http.post(url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        """``httpx.Client.put`` against this server."""
        return self.http.put(url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        """``httpx.Client.patch`` against this server."""
        return self.http.patch(url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        """``httpx.Client.delete`` against this server."""
        return self.http.delete(url, **kwargs)

    def stream(self, method: str, url: str, **kwargs: Any) -> AbstractContextManager[httpx.Response]:
        """``httpx.Client.stream`` against this server."""
        return self.http.stream(method, url, **kwargs)

    def close(self) -> None:
        """Stop the server (open sessions see close code 1012). Idempotent."""
        if self._http is not None:
            self._http.close()
        self.bench.stop()

    def __enter__(self) -> LiveClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LiveClient {'running' if self.bench.running else 'stopped'} ws={self.bench.ws}>"


class LiveWebSocketSession:
    """A real WebSocket connection with the API of Starlette's ``WebSocketTestSession``.

    ``receive()`` returns the ASGI message the app sent (``{"type": "websocket.send",
    "text": ...}``, ``{"type": "websocket.close", "code": ..., "reason": ...}``);
    ``receive_text`` / ``receive_bytes`` / ``receive_json`` raise
    ``WebSocketDisconnect(code, reason)`` on a close and ``KeyError`` on the other kind
    of message (which is consumed, as in the TestClient). Every wait ends after
    ``timeout`` seconds with :class:`wsbench.Timeout` instead of blocking for ever.

    Built on :class:`wsbench.Connection`. For this client's own server it is paired with
    the bench, so the server's side of the conversation is in :attr:`transcript` too: that
    is how the session knows what the wire does not say (the code of a close before accept,
    whether the app closed, the headers it accepted with, the exception it raised).
    """

    __test__ = False

    def __init__(
        self,
        client: LiveClient,
        url: str,
        *,
        subprotocols: Sequence[str] | None,
        headers: list[tuple[str, str]],
        timeout: float,
    ) -> None:
        self.client = client
        self.url = url
        self.timeout = timeout
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] | None = None
        self._subprotocols = list(subprotocols) if subprotocols is not None else None
        self._headers = headers
        self._conn: Connection | None = None  # set by __enter__
        self._ours = False  # connected to the client's own server (paired with its bench)
        self._closing = False  # close() was called by the test
        self._reported = False  # the app's exception reached the test already

    @property
    def transcript(self) -> Transcript:
        """Both sides of this session's connection (the server's only for this client's own server)."""
        if self._conn is None:
            raise RuntimeError(f"{self!r} has no connection yet: enter it with `with ...`")
        return self._conn.transcript

    # -- opening ------------------------------------------------------------------

    def __enter__(self) -> LiveWebSocketSession:
        if self._conn is not None:
            raise RuntimeError(f"{self!r} was entered already; call websocket_connect() again for a new one")
        from .client import Connection

        bench = self.client.bench
        parts = urlsplit(self.url)
        self._ours = (parts.scheme, parts.hostname, parts.port) == ("ws", bench.host, bench.port)
        conn = Connection(
            self.url,
            pairing=_CarryingContext(bench, contextvars.copy_context()) if self._ours else None,
            subprotocols=self._subprotocols,
            require_subprotocol=False,  # the TestClient lets the app pick none
            headers=self._headers,
            open_timeout=self.timeout,
            close_timeout=self.timeout,
            timeout=self.timeout,
            ping_interval=None,  # no keepalive traffic of our own
            max_size=None,  # the TestClient has no size limit either
        )
        try:
            conn.open()
        except ConnectError as error:
            self._conn = conn
            self._rejected(error)
        self._conn = conn
        self.accepted_subprotocol = conn.subprotocol
        accept = self._server_event("websocket.accept")
        if accept is not None:  # as the app gave them
            self.extra_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in accept.headers or ()]
        else:  # another server: what came over the wire
            self.extra_headers = [(k.encode(), v.encode()) for k, v in conn.response_headers.items()]
        return self

    def _rejected(self, error: ConnectError) -> NoReturn:
        """Raise what the TestClient raises for a handshake the app did not accept."""
        from starlette.websockets import WebSocketDisconnect

        from .errors import HandshakeRejected

        exception = self._app_exception()
        if exception is not None:  # uvicorn answered 500, or hung up: the TestClient re-raises it
            raise exception
        refusal = self._server_event("websocket.close")
        if refusal is not None:  # uvicorn answered 403: the code and reason only the bench knows
            raise WebSocketDisconnect(code=refusal.code or 1000, reason=refusal.reason or "")
        if isinstance(error, HandshakeRejected):
            raise _denial_response(error.status, list(error.headers.items()), error.body) from None
        raise error

    def _server_event(self, kind: str) -> Event | None:
        """The first server-side event of *kind* on this connection (None for another server's)."""
        assert self._conn is not None
        return next((e for e in self._conn.transcript if e.side == "server" and e.kind == kind), None)

    def _app_exception(self, wait: float = 0.0) -> BaseException | None:
        """The app's exception, once (after waiting up to *wait* s for the endpoint to end), if
        it raised one and ``raise_server_exceptions`` asks for it; None otherwise."""
        conn = self._conn
        if conn is None or not self._ours or self._reported or not self.client.raise_server_exceptions:
            return None
        if wait:
            try:
                conn.wait_endpoint(wait)
            except Timeout:
                return None
        exception = self.client.bench.take_exception(conn.key)
        if exception is not None:
            self._reported = True
        return exception

    # -- sending ------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Send an ASGI ``websocket.receive`` (a message) or ``websocket.disconnect`` (a close) message."""
        kind = message.get("type")
        if kind == "websocket.receive":
            if message.get("text") is not None:
                self.send_text(message["text"])
            else:
                self.send_bytes(message["bytes"])
        elif kind == "websocket.disconnect":
            self.close(message.get("code", 1000), message.get("reason"))
        else:
            raise ValueError(
                f"a client can send 'websocket.receive' or 'websocket.disconnect' messages, not {kind!r}: "
                "the other ASGI messages are the server's"
            )

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self._send(self._open("send").send_text, data)

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self._send(self._open("send").send_bytes, bytes(data))

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send *data* as compact JSON (``ensure_ascii=False``): text frame, or binary with ``mode="binary"``."""
        conn = self._open("send")
        self._send(lambda value: conn.send_json(value, mode=mode), data)

    def _send(self, send: Callable[[Any], None], data: Any) -> None:
        try:
            send(data)
        except ConnectionClosed:
            pass  # as in the TestClient, where a message to a finished app goes into a queue nobody reads

    # -- receiving ----------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Message:
        """The next ASGI message the app sent: ``websocket.send`` (text or bytes) or ``websocket.close``."""
        conn = self._open("receive")
        timeout = self.timeout if timeout is None else timeout
        try:
            data = conn.receive(timeout=timeout)
        except Timeout:
            raise Timeout(
                f"receive: no message from {self.url} within {timeout} s "
                "(the TestClient would wait for ever; pass timeout=... to wait longer)"
            ) from None
        except ConnectionClosed as closed:
            return self._close_message(closed)
        if isinstance(data, str):
            return {"type": "websocket.send", "text": data}
        return {"type": "websocket.send", "bytes": data}

    def _close_message(self, closed: ConnectionClosed) -> Message:
        """The close as an ASGI message; the app's exception instead if it raised (as the TestClient does)."""
        if not self._closing and self._server_event("websocket.close") is None:
            exception = self._app_exception(wait=self.timeout)
            if exception is not None:
                raise exception
        return {"type": "websocket.close", "code": closed.code, "reason": closed.reason}

    def receive_text(self, timeout: float | None = None) -> str:
        """The next message's text; ``WebSocketDisconnect`` on a close, ``KeyError`` on a binary message."""
        message = self.receive(timeout)
        _raise_on_close(message)
        return message["text"]

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next message's bytes; ``WebSocketDisconnect`` on a close, ``KeyError`` on a text message."""
        message = self.receive(timeout)
        _raise_on_close(message)
        return message["bytes"]

    def receive_json(self, mode: Literal["text", "binary"] = "text", timeout: float | None = None) -> Any:
        """The next message parsed as JSON, from a text frame (or a binary one with ``mode="binary"``)."""
        message = self.receive(timeout)
        _raise_on_close(message)
        text = message["text"] if mode == "text" else message["bytes"].decode("utf-8")
        return json.loads(text)

    # -- closing ------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with *code* and *reason*; the app sees ``WebSocketDisconnect(code, reason)``.

        Unlike the TestClient's, it checks the code first (1005, 1006, 1015 and the reserved
        codes cannot go on the wire: :class:`wsbench.InvalidCloseCode`) and returns when
        the closing handshake is over.
        """
        from .codes import check_close

        check_close(code, reason or "")
        conn = self._open("close")
        self._closing = True
        conn.close(code, reason or "")

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self._conn is None:
            return
        if not self._closing:
            self._closing = True
            self._conn.close(1000)  # as the TestClient's exit does
        error = self._app_exception(wait=EXIT_GRACE)
        if error is None:
            return
        if _caused_by_our_close(error):
            return
        if exc is None:
            raise error
        if hasattr(exc, "add_note"):  # Python 3.11+: keep the test's own error, mention the app's
            exc.add_note(f"meanwhile the app raised {type(error).__name__}: {error}")

    def _open(self, action: str) -> Connection:
        if self._conn is None:
            raise RuntimeError(
                f"cannot {action}: the session is not connected; "
                f"use it as `with client.websocket_connect(url) as websocket:`"
            )
        return self._conn

    def __repr__(self) -> str:
        state = "not connected" if self._conn is None else self._conn.state
        return f"<LiveWebSocketSession {urlsplit(self.url).path or '/'} {state}>"


# -- helpers -------------------------------------------------------------------------


class _CarryingContext:
    """The bench as a session's pairing, handing the opening call's context to its handler: the
    endpoint sees the context variables the test set, as through the TestClient's portal."""

    def __init__(self, bench: Bench, context: contextvars.Context) -> None:
        self._bench, self._context = bench, context

    @property
    def transcript(self) -> Transcript:
        return self._bench.transcript

    @property
    def address(self) -> tuple[str, int]:
        return self._bench.address

    def url_for(self, path: str) -> str:
        return self._bench.url_for(path)

    def pair(self, port: int, transcript: Transcript | None, name: str | None = None) -> None:
        self._bench.carry_context(port, self._context if transcript is not None else None)
        self._bench.pair(port, transcript, name)

    @property
    def endpoint_ended(self) -> Gate:
        return self._bench.endpoint_ended

    def blocked_since(self, started: float) -> str | None:
        return self._bench.blocked_since(started)


def _raise_on_close(message: Message) -> None:
    from starlette.websockets import WebSocketDisconnect

    if message["type"] == "websocket.close":
        raise WebSocketDisconnect(code=message.get("code", 1000), reason=message.get("reason", ""))


def _caused_by_our_close(error: BaseException) -> bool:
    """A send into the connection the test closed: the TestClient cancels the app before that happens."""
    from starlette.websockets import WebSocketDisconnect

    return isinstance(error, WebSocketDisconnect) and error.code == 1006


def _denial_response(status: int, headers: list[tuple[str, str]], body: bytes) -> BaseException:
    """Starlette's ``WebSocketDenialResponse`` (an httpx.Response and a WebSocketDisconnect)."""
    try:
        with warnings.catch_warnings():
            # Starlette 1.10 warns when its TestClient module runs on httpx rather than httpx2
            warnings.simplefilter("ignore")
            from starlette.testclient import WebSocketDenialResponse
    except (ImportError, RuntimeError):  # neither httpx nor httpx2: a stand-in with the same fields
        return _fallback_denial(status, headers, body)
    # mypy resolves the name to starlette.websockets' class of that name (a plain exception);
    # starlette.testclient's is an httpx.Response too, built with its arguments
    return WebSocketDenialResponse(status_code=status, headers=headers, content=body)  # type: ignore[call-arg]


_fallback: type | None = None


def _fallback_denial(status: int, headers: list[tuple[str, str]], body: bytes) -> BaseException:
    """A stand-in for Starlette's ``WebSocketDenialResponse`` where httpx is not installed."""
    global _fallback
    if _fallback is None:
        from starlette.websockets import WebSocketDisconnect

        class WebSocketDenialResponse(WebSocketDisconnect):
            """Raised for a denial response; has the httpx.Response fields a test reads."""

            def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                super().__init__(code=1000)
                self.status_code = status
                self.headers = dict(headers)
                self.content = body

        _fallback = WebSocketDenialResponse
    return _fallback(status, headers, body)
