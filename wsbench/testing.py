"""pytest plugin: run TestClient-style WebSocket tests against a real uvicorn server.

Loaded into every pytest run of an environment where wsbench is installed (entry point
``pytest11``), so this module only defines fixtures and classes: importing it starts
nothing, and the heavy imports (uvicorn, websockets) happen when a fixture is used.

* ``wsbench_client`` is a factory fixture: ``client = wsbench_client(app)`` serves *app*
  on a real uvicorn server on 127.0.0.1 (a :class:`~wsbench.Bench`) and returns a
  :class:`LiveClient`, stopped after the test. Its ``websocket_connect(url, subprotocols)``
  returns a :class:`LiveWebSocketSession`, which speaks the API of Starlette's
  ``WebSocketTestSession`` (``send_text``, ``receive_json``, ``close(code, reason)``,
  ``with ... as websocket:``), so a test written for ``TestClient(app)`` runs over a
  real socket by swapping the one fixture that builds the client.
* ``wsbench_bench`` is a fresh :class:`~wsbench.Bench` with no endpoints, for tests that
  define endpoints inline with ``@wsbench_bench.websocket(path)``.

How the session matches the TestClient where the wire loses information: the served app
is wrapped in a small ASGI middleware that notes, per client port, what the app did in
the handshake (accepted with which headers, closed before accept with which code and
reason, raised which exception). A rejected handshake is only an HTTP status on the
wire (uvicorn answers 403 to a close before accept), and an exception in the app is
only a dropped connection; the note lets the session raise what the TestClient raises
(``WebSocketDisconnect(code, reason)``, the app's own exception). What cannot be matched
is listed in ``docs/testclient_differences.md``.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import pytest

if TYPE_CHECKING:
    from .server import Bench

__all__ = ["LiveClient", "LiveWebSocketSession", "wsbench_bench", "wsbench_client"]

#: Seconds ``__exit__`` waits, after closing, for the endpoint to finish so that an
#: exception it raises reaches the test (the TestClient cancels the endpoint instead).
EXIT_GRACE = 1.0

_names = itertools.count(1)

Message = dict[str, Any]


# -- what the app did, seen from inside the server -------------------------------------


class _Outcome:
    """What one WebSocket connection's app did, written on the server loop."""

    def __init__(self) -> None:
        self.accept: Message | None = None  #: the websocket.accept message
        self.refusal: Message | None = None  #: a websocket.close sent before accept
        self.closed_by_app = False  #: the app sent websocket.close after accept
        self.exception: BaseException | None = None
        self.done = threading.Event()  #: set when the app returned or raised


class _Observer:
    """ASGI middleware noting, per client port, what the app did with each WebSocket."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._outcomes: dict[int, _Outcome] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        client = scope.get("client")
        if scope["type"] != "websocket" or not client:
            await self.app(scope, receive, send)
            return
        outcome = _Outcome()
        with self._lock:
            self._outcomes[client[1]] = outcome

        async def observed_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "websocket.accept" and outcome.accept is None:
                outcome.accept = message
            elif kind == "websocket.close":
                if outcome.accept is None:
                    outcome.refusal = message
                else:
                    outcome.closed_by_app = True
            await send(message)  # noted first: the client learns of it only after this

        try:
            await self.app(scope, receive, observed_send)
        except Exception as exc:
            outcome.exception = exc  # noted before uvicorn answers 500 or drops the connection
            raise
        finally:
            outcome.done.set()

    def forget(self, port: int) -> None:
        with self._lock:
            self._outcomes.pop(port, None)

    def get(self, port: int) -> _Outcome | None:
        with self._lock:
            return self._outcomes.get(port)


# -- the client ----------------------------------------------------------------------


class LiveClient:
    """*app* served by real uvicorn on 127.0.0.1, with the TestClient's ``websocket_connect``.

    ``raise_server_exceptions``, ``root_path`` mean what they mean for Starlette's
    ``TestClient``; ``ws`` picks uvicorn's WebSocket implementation; ``timeout`` bounds
    every wait of a session (seconds). HTTP methods (``get``, ``post``, ...) go to the
    same server through an ``httpx.Client`` when httpx is installed. Stop it with
    :meth:`close` or ``with``; the ``wsbench_client`` fixture stops it after the test.
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
        self._observer = _Observer(app)
        self.bench: Bench = Bench(
            self._observer,  # type: ignore[arg-type]  # any ASGI app serves
            ws=ws,
            root_path=root_path,
            name=name or f"wsbench.testing-{os.getpid()}-{next(_names)}",
            timeout=max(timeout, 10.0),
        )
        self._http: Any = None

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

    def close(self) -> None:
        """Stop the server (open sessions see close code 1012). Idempotent."""
        if self._http is not None:
            self._http.close()
        self.bench.stop()

    def __enter__(self) -> LiveClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in _HTTP_METHODS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if self.__dict__.get("_http") is None:
            try:
                import httpx
            except ModuleNotFoundError:
                raise AttributeError(f"LiveClient.{name}() needs httpx: pip install httpx") from None
            self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout)
        return getattr(self._http, name)

    def __repr__(self) -> str:
        return f"<LiveClient {'running' if self.bench.running else 'stopped'} ws={self.bench.ws}>"


_HTTP_METHODS = frozenset({"request", "get", "head", "options", "post", "put", "patch", "delete", "stream"})


class LiveWebSocketSession:
    """A real WebSocket connection with the API of Starlette's ``WebSocketTestSession``.

    ``receive()`` returns the ASGI message the app sent (``{"type": "websocket.send",
    "text": ...}``, ``{"type": "websocket.close", "code": ..., "reason": ...}``);
    ``receive_text`` / ``receive_bytes`` / ``receive_json`` raise
    ``WebSocketDisconnect(code, reason)`` on a close and ``KeyError`` on the other kind
    of message (which is consumed, as in the TestClient). Every wait ends after
    ``timeout`` seconds with :class:`wsbench.Timeout` instead of blocking for ever.
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
        self._ws: Any = None  # a websockets sync ClientConnection, set by __enter__
        self._port: int | None = None  # our local port, when the server is the client's own
        self._closing = False  # close() was called by the test
        self._reported = False  # the app's exception reached the test already

    # -- opening ------------------------------------------------------------------

    def __enter__(self) -> LiveWebSocketSession:
        if self._ws is not None:
            raise RuntimeError(f"{self!r} was entered already; call websocket_connect() again for a new one")
        from websockets import InvalidStatus
        from websockets.sync.client import connect

        from .errors import ConnectError, ConnectionRefused, Timeout

        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"{self.url!r} is not a ws:// or wss:// URL")
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        try:
            sock = socket.create_connection((parts.hostname, port), timeout=self.timeout)
        except ConnectionRefusedError:
            raise ConnectionRefused(f"nothing accepts connections at {parts.netloc}: is the server running?") from None
        except TimeoutError:
            raise Timeout(f"connecting to {parts.netloc}: no TCP connection within {self.timeout} s") from None
        except OSError as exc:
            raise ConnectError(f"cannot connect to {parts.netloc}: {exc.strerror or exc}") from None
        bench = self.client.bench
        if (parts.hostname, port) == (bench.host, bench.port):
            self._port = sock.getsockname()[1]
            self.client._observer.forget(self._port)  # a note left by an earlier connection from this port
        options: dict[str, Any] = {}
        if "legacy" in _connect_parameters():  # websockets 17 asks for the plain connection explicitly
            options["legacy"] = True
        if parts.scheme == "wss":
            import ssl

            options["ssl"] = ssl.create_default_context()
        try:
            self._ws = connect(
                self.url,
                sock=sock,
                subprotocols=self._subprotocols,  # type: ignore[arg-type]
                additional_headers=self._headers or None,
                open_timeout=self.timeout,
                close_timeout=self.timeout,
                ping_interval=None,  # no keepalive traffic of our own
                max_size=None,  # the TestClient has no size limit either
                max_queue=None,  # nor a limit on unread messages
                **options,
            )
        except InvalidStatus as exc:
            sock.close()
            self._rejected(exc.response)
        except TimeoutError:
            sock.close()
            raise Timeout(f"opening {self.url}: no handshake response within {self.timeout} s") from None
        except BaseException:
            sock.close()
            raise
        self.accepted_subprotocol = self._ws.subprotocol
        outcome = self._outcome()
        if outcome is not None and outcome.accept is not None:
            self.extra_headers = list(outcome.accept.get("headers") or [])  # as the app gave them
        else:  # another server: what came over the wire
            self.extra_headers = [(k.lower().encode(), v.encode()) for k, v in self._ws.response.headers.raw_items()]
        return self

    def _rejected(self, response: Any) -> None:
        """Raise what the TestClient raises for a handshake the app did not accept."""
        from starlette.websockets import WebSocketDisconnect

        outcome = self._outcome()
        if outcome is not None:
            if outcome.exception is not None and self.client.raise_server_exceptions:
                self._reported = True
                raise outcome.exception  # uvicorn answered 500; the TestClient re-raises it
            if outcome.refusal is not None:  # uvicorn answered 403: code and reason only we know
                refusal = outcome.refusal
                raise WebSocketDisconnect(code=refusal.get("code", 1000), reason=refusal.get("reason", ""))
        headers = [(k.lower(), v) for k, v in response.headers.raw_items()]
        raise _denial_response(response.status_code, headers, bytes(response.body or b""))

    def _outcome(self, wait: float = 0.0) -> _Outcome | None:
        """The server's note on this connection, after waiting up to *wait* s for the app to finish."""
        if self._port is None:
            return None
        outcome = self.client._observer.get(self._port)
        if outcome is not None and wait:
            outcome.done.wait(wait)
        return outcome

    # -- sending ------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Send an ASGI ``websocket.receive`` (a message) or ``websocket.disconnect`` (a close) message."""
        kind = message.get("type")
        if kind == "websocket.receive":
            if message.get("text") is not None:
                self._send(message["text"])
            else:
                self._send(bytes(message["bytes"]))
        elif kind == "websocket.disconnect":
            self.close(message.get("code", 1000), message.get("reason"))
        else:
            raise ValueError(
                f"a client can send 'websocket.receive' or 'websocket.disconnect' messages, not {kind!r}: "
                "the other ASGI messages are the server's"
            )

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self._send(data)

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self._send(bytes(data))

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send *data* as compact JSON (``ensure_ascii=False``): text frame, or binary with ``mode="binary"``."""
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        self._send(text if mode == "text" else text.encode("utf-8"))

    def _send(self, data: str | bytes) -> None:
        from websockets import ConnectionClosed

        ws = self._open("send")
        if isinstance(data, str) and not data.isascii():
            try:
                data.encode()
            except UnicodeEncodeError as exc:  # websockets would fail the connection with 1011
                from .errors import UnsendableText

                raise UnsendableText(
                    f"send_text: the text holds a lone surrogate {data[exc.start]!r} at position {exc.start}, "
                    "which UTF-8 cannot encode; nothing was sent"
                ) from None
        try:
            ws.send(data)
        except ConnectionClosed:
            pass  # as in the TestClient, where a message to a finished app goes into a queue nobody reads

    # -- receiving ----------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Message:
        """The next ASGI message the app sent: ``websocket.send`` (text or bytes) or ``websocket.close``."""
        from websockets import ConnectionClosed

        from .errors import Timeout

        ws = self._open("receive")
        timeout = self.timeout if timeout is None else timeout
        try:
            data = ws.recv(timeout=timeout)
        except TimeoutError:
            raise Timeout(
                f"receive: no message from {self.url} within {timeout} s "
                "(the TestClient would wait for ever; pass timeout=... to wait longer)"
            ) from None
        except ConnectionClosed:
            return self._close_message()
        if isinstance(data, str):
            return {"type": "websocket.send", "text": data}
        return {"type": "websocket.send", "bytes": data}

    def _close_message(self) -> Message:
        """The close as an ASGI message; the app's exception instead if it raised (as the TestClient does)."""
        outcome = self._outcome()
        if (
            outcome is not None
            and not self._closing
            and not outcome.closed_by_app
            and self.client.raise_server_exceptions
            and not self._reported
        ):
            outcome.done.wait(self.timeout)
            if outcome.exception is not None:
                self._reported = True
                raise outcome.exception
        close = self._ws.protocol.close_rcvd
        if close is None:  # the connection dropped without a close frame
            return {"type": "websocket.close", "code": 1006, "reason": ""}
        return {"type": "websocket.close", "code": int(close.code), "reason": close.reason}

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
        ws = self._open("close")
        self._closing = True
        ws.close(code, reason or "")

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self._ws is None:
            return
        try:
            if not self._closing:
                self._closing = True
                self._ws.close(1000)  # as the TestClient's exit does
        finally:
            outcome = self._outcome(wait=EXIT_GRACE)
            if self._port is not None:
                self.client._observer.forget(self._port)
        error = outcome.exception if outcome is not None else None
        if error is None or self._reported or not self.client.raise_server_exceptions:
            return
        if _caused_by_our_close(error):
            return
        self._reported = True
        if exc is None:
            raise error
        if hasattr(exc, "add_note"):  # Python 3.11+: keep the test's own error, mention the app's
            exc.add_note(f"meanwhile the app raised {type(error).__name__}: {error}")

    def _open(self, action: str) -> Any:
        if self._ws is None:
            raise RuntimeError(
                f"cannot {action}: the session is not connected; "
                f"use it as `with client.websocket_connect(url) as websocket:`"
            )
        return self._ws

    def __repr__(self) -> str:
        state = "not connected" if self._ws is None else self._ws.protocol.state.name.lower()
        return f"<LiveWebSocketSession {urlsplit(self.url).path or '/'} {state}>"


# -- helpers -------------------------------------------------------------------------


def _raise_on_close(message: Message) -> None:
    from starlette.websockets import WebSocketDisconnect

    if message["type"] == "websocket.close":
        raise WebSocketDisconnect(code=message.get("code", 1000), reason=message.get("reason", ""))


def _caused_by_our_close(error: BaseException) -> bool:
    """A send into the connection the test closed: the TestClient cancels the app before that happens."""
    from starlette.websockets import WebSocketDisconnect

    return isinstance(error, WebSocketDisconnect) and error.code == 1006


_parameters: frozenset[str] | None = None


def _connect_parameters() -> frozenset[str]:
    global _parameters
    if _parameters is None:
        import inspect

        from websockets.sync.client import connect

        _parameters = frozenset(inspect.signature(connect).parameters)
    return _parameters


def _denial_response(status: int, headers: list[tuple[str, str]], body: bytes) -> BaseException:
    """Starlette's ``WebSocketDenialResponse`` (an httpx.Response and a WebSocketDisconnect)."""
    try:
        with warnings.catch_warnings():
            # Starlette 1.10 warns when its TestClient module runs on httpx rather than httpx2
            warnings.simplefilter("ignore")
            from starlette.testclient import WebSocketDenialResponse
    except (ImportError, RuntimeError):  # neither httpx nor httpx2: a stand-in with the same fields
        return _fallback_denial(status, headers, body)
    return WebSocketDenialResponse(status_code=status, headers=headers, content=body)


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


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture
def wsbench_client() -> Iterator[Callable[..., LiveClient]]:
    """Factory: ``wsbench_client(app, **options)`` -> a :class:`LiveClient` serving *app*, stopped after the test.

    Options: ``raise_server_exceptions``, ``root_path``, ``ws`` (uvicorn's WebSocket
    implementation), ``timeout``. Swap it in for ``TestClient(app)``::

        @pytest.fixture
        def client(wsbench_client):
            return wsbench_client(app)      # was: TestClient(app)
    """
    made: list[LiveClient] = []

    def make(app: Any, **options: Any) -> LiveClient:
        client = LiveClient(app, **options)
        made.append(client)
        return client

    yield make
    for client in reversed(made):
        client.close()


@pytest.fixture
def wsbench_bench() -> Iterator[Bench]:
    """A fresh :class:`~wsbench.Bench` with no endpoints (add them with ``@wsbench_bench.websocket``), stopped after."""
    from .server import Bench

    bench = Bench(name=f"wsbench.testing-bench-{os.getpid()}-{next(_names)}")
    try:
        yield bench
    finally:
        bench.stop()
