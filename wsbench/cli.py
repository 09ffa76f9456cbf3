"""The ``wsbench`` command (also ``python -m wsbench``).

``wsbench serve`` runs the embedded uvicorn server (a :class:`~wsbench.Bench`) with the
notebooks' demo endpoints (:mod:`wsbench.demo`) or your own app, on loopback, until
Ctrl-C or SIGTERM, so a browser or ``wscat`` can connect. Bad input is one line on
stderr and exit status 2.

While it serves it prints one line per connection, message and close (``--quiet``: none),
read from the bench's transcript, where the server side of every connection is recorded
anyway (:class:`_ConnectionLog`); the only thing the transcript lacks is the path each
connection asked for, which a thin ASGI wrapper notes (:class:`_Paths`). Secrets in paths and
payloads are masked, long payloads cut.

Behind a path prefix — jupyter-server-proxy's ``{base_url}proxy/{port}/`` on JupyterHub or
Binder — the page works as it is (it builds its URLs from its own location) and
``--root-path`` tells uvicorn the prefix (FastAPI's ``/docs`` needs it); routes and the log
still see the paths without it. In a Jupyter terminal the banner also names the proxied URL.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from .transcript import Event, Transcript

__all__ = ["DEFAULT_PORT", "main"]

#: The port ``wsbench serve`` listens on unless told otherwise (the one the websockets docs use).
DEFAULT_PORT = 8765

_WS_CHOICES = ("auto", "websockets-sansio", "wsproto", "websockets")  # wsbench.server.WS_IMPLEMENTATIONS
_POLL = 0.1  # seconds between two looks at the transcript while serving: lines show within this
_SHOWN = 60  # characters of a payload shown in a log line; longer ones are cut, with their size


class UsageError(Exception):
    """Bad input on the command line: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem, not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def _root_path(text: str) -> str:
    """``--root-path``: "" or a path such as /user/ann/proxy/8765 (ASCII, no query; trailing "/" dropped)."""
    if text in ("", "/"):
        return ""
    if not text.startswith("/"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a path prefix: start it with '/', e.g. /{text}")
    if not text.isascii() or any(char.isspace() or char in "?#" for char in text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a path prefix: ASCII without spaces, '?' or '#' (percent-encode the rest)"
        )
    return text.rstrip("/")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="wsbench",
        description="wsbench: a workbench for WebSockets with FastAPI.",
        epilog="Run 'wsbench serve --help' for the options of serve.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wsbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    serve = commands.add_parser(
        "serve",
        help="run the embedded server with the demo endpoints (or --app) on loopback",
        description="Run a real uvicorn server with the notebooks' demo endpoints, or with your own "
        "ASGI app, until Ctrl-C (SIGINT) or SIGTERM. It prints the ws:// URL of each WebSocket "
        "endpoint; a browser at the http:// URL gets a page listing them with a small client. "
        "Connect with e.g. `wscat -c ws://127.0.0.1:8765/echo`.",
        epilog="Demo endpoints: /echo, /json, /chat (subprotocol chat.v2), /countdown?n=3, "
        "/close?code=4000&reason=bye, /rooms/{room}?name=you (broadcast), /members?token=sesame "
        "(denial response otherwise). Exit status: 0 after a clean stop, 2 for bad input.",
    )
    serve.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        help="serve this ASGI app instead of the demo endpoints, e.g. main:app "
        "(imported with the current directory on sys.path; ATTR defaults to 'app')",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: 127.0.0.1, loopback only; any other address warns, "
        "since other machines can then reach the endpoints)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"TCP port (default: {DEFAULT_PORT}, fixed so wscat users can type it; 0 lets the OS pick a free one)",
    )
    serve.add_argument(
        "--ws",
        choices=_WS_CHOICES,
        default="auto",
        help="uvicorn's WebSocket implementation (default: auto, which is websockets-sansio)",
    )
    serve.add_argument(
        "--root-path",
        type=_root_path,
        default="",
        metavar="PREFIX",
        help="the path prefix a proxy serves the app under, e.g. /user/ann/proxy/8765 (uvicorn's root_path; "
        "routes still match without it, FastAPI's /docs finds its openapi.json through it)",
    )
    serve.add_argument(
        "--quiet",
        action="store_true",
        help="print no line per connection, message and close (by default each is one line on stdout, "
        "such as: #1 /echo open; secrets masked, long payloads cut)",
    )
    from .swarm import add_command  # `wsbench load`: Locust in subprocesses (wsbench/swarm.py)

    add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wsbench`` command with *argv* (default: ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, --version (0) and usage errors (2): a status, as documented
        return exit.code if isinstance(exit.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "load":
            from .swarm import run_command

            return run_command(args, _load_app)
        return _serve(args)
    except UsageError as exc:
        print(f"wsbench serve: error: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from .demo import demo_app, websocket_routes
    from .errors import BenchError
    from .server import Bench

    app = _load_app(args.app) if args.app else demo_app()
    paths: Any = _Paths(app)  # Bench serves any ASGI app, though its annotation names FastAPI
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bench = Bench(
                paths, ws=args.ws, host=args.host, port=args.port, name="wsbench serve", root_path=args.root_path
            )
        except BenchError as exc:
            raise UsageError(str(exc).replace("pass port=0", "pass --port 0")) from None
    for warning in caught:
        print(f"wsbench serve: warning: {warning.message}", file=sys.stderr)

    log = None if args.quiet else _ConnectionLog(bench.transcript, paths.taken, _say)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        http = "http" + bench.url[2:]
        print(f"wsbench serve: {args.app or 'demo endpoints'} on {bench.url} (uvicorn ws={args.ws})", flush=True)
        routes = websocket_routes(app)
        if routes:
            width = max(len(bench.url + path) for path, _ in routes)
            for path, doc in routes:
                print(f"  {bench.url + path:<{width}}  {doc}", flush=True)
        if not args.app:
            print(f"  a browser at {http}/ gets a page with a small client", flush=True)
        proxied = _proxied_url(bench.port)
        if proxied:
            print(f"  behind Jupyter, a browser on this server's page opens {proxied}", flush=True)
        if args.root_path:
            print(f"  root path {args.root_path} (uvicorn's root_path)", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(_POLL):
            if log is not None:
                log.poll()
            if not bench.running:
                print("wsbench serve: the server stopped on its own; see the log above", file=sys.stderr)
                return 1
    finally:
        bench.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if log is not None:
        log.poll()  # what the stop did to open connections (1012, service restart)
    print("wsbench serve: stopped", flush=True)
    return 0


def _proxied_url(port: int) -> str | None:
    """The path a browser reaches *port* at through jupyter-server-proxy, when this runs under a
    Jupyter server with a base URL (a hub's terminal); None locally."""
    from ._jupyter import browser_url

    url = browser_url(port, "/")
    return None if url.startswith("ws://") else url


def _say(line: str) -> None:
    print(line, flush=True)


def _key(scope: dict[str, Any]) -> int:
    """The key a connection's events carry in the bench's transcript (``Event.conn``): the client's
    TCP port, as :class:`wsbench.server.Recorder` keys them."""
    client = scope.get("client")
    return int(client[1]) if client else id(scope)


class _Paths:
    """ASGI wrapper noting the path and query each WebSocket connection asked for, by its key.

    The bench's transcript records every ASGI message of a connection but not its scope; this
    is the one thing the log needs from the scope. Entries are taken (removed) by the log when
    it first sees the connection, so at most the connections not yet logged are held.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._paths: dict[int, str] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            query = bytes(scope.get("query_string") or b"").decode("latin-1")
            path, root = str(scope.get("path") or "/"), str(scope.get("root_path") or "")
            if root and path.startswith(root + "/"):  # uvicorn prefixes root_path; the app's routes do not
                path = path[len(root) :]
            self._paths[_key(scope)] = path + (f"?{query}" if query else "")
        await self.app(scope, receive, send)

    def taken(self, key: int) -> str:
        """The path and query connection *key* asked for, removed from here ("?" if not noted)."""
        return self._paths.pop(key, "?")


class _Connection:
    """What the log knows of one connection: its number and path, and how far it got."""

    def __init__(self, number: int, path: str) -> None:
        self.number, self.path = number, path
        self.accepted = self.closed = False


class _ConnectionLog:
    """Lines for the server-side events of a bench's transcript: one per connection, message and close.

    ``#1 /echo open``, ``#1 /echo ← text 'hi'``, ``#1 /echo → text 'echo: hi'``,
    ``#1 /echo closed 1000 (OK)``; a refused handshake, an endpoint's exception or a message
    that did not go out are one line each too. :meth:`poll` writes the lines for the events
    recorded since the last call. Secrets are masked (:mod:`wsbench.secrets`); payloads past
    :data:`_SHOWN` characters are cut, with their size.
    """

    def __init__(self, transcript: Transcript, path_of: Callable[[int], str], write: Callable[[str], None]) -> None:
        self._transcript = transcript
        self._path_of = path_of
        self._write = write
        self._seen = 0
        self._count = 0
        self._live: dict[int, _Connection] = {}  # by key, until the endpoint returns or raises

    def poll(self) -> None:
        """Write the lines of the events recorded since the last call."""
        events = self._transcript.since(self._seen)
        self._seen += len(events)
        for event in events:
            if event.side != "server":
                continue
            line = self._line(event)
            if line is not None:
                self._write(line)

    def _line(self, event: Event) -> str | None:
        from .codes import describe
        from .secrets import mask_text, mask_url

        event = event.masked()  # the subprotocol of an accept, URLs in a detail
        conn = self._live.get(event.conn)
        if conn is None:
            self._count += 1
            conn = self._live[event.conn] = _Connection(self._count, mask_url(self._path_of(event.conn)))
        head = f"#{conn.number} {conn.path}"
        kind = event.kind
        if kind in ("return", "exception"):
            del self._live[event.conn]
            return f"{head} ! {event.detail}" if kind == "exception" else None
        if kind == "websocket.accept":
            conn.accepted = True
            return f"{head} open" + (f" ({event.detail})" if event.detail else "")
        if kind in ("websocket.receive", "websocket.send"):
            return f"{head} {'←' if kind == 'websocket.receive' else '→'} {_shown(event.data)}"
        if kind == "websocket.http.response.start":
            conn.closed = True
            return f"{head} rejected: HTTP {event.code} (denial response)"
        if kind in ("websocket.close", "websocket.disconnect") and not conn.closed:
            conn.closed = True
            if kind == "websocket.close" and not conn.accepted:
                return f"{head} rejected: HTTP 403 (closed before accept)"
            closed = mask_text(describe(event.code or 1000, event.reason if isinstance(event.reason, str) else ""))
            return f"{head} closed {closed}" + (" [by the server]" if kind == "websocket.close" else "")
        if kind in ("send failed", "blocked"):
            return f"{head} ! {event.detail}"
        return None


def _shown(data: str | bytes | None) -> str:
    """A payload in a log line: its repr, cut past :data:`_SHOWN` characters, secrets in URLs masked."""
    from .secrets import mask_text

    if data is None:
        return "(nothing)"
    shown = repr(data[:_SHOWN])  # a bytes repr may be 4 characters a byte: cut the repr too
    if len(data) > _SHOWN or len(shown) > _SHOWN + 3:
        shown = shown[:_SHOWN] + "…"
    shown = mask_text(shown)
    if isinstance(data, bytes):
        return f"bytes {shown} ({len(data)} bytes)"
    return f"text {shown} ({len(data)} characters)" if shown.endswith("…") else f"text {shown}"


def _load_app(spec: str) -> Any:
    """Import ``module:attr`` and check that it is an ASGI app; UsageError naming the problem otherwise."""
    module_name, _, attr = spec.partition(":")
    attr = attr or "app"
    if not module_name:
        raise UsageError(f"--app {spec!r} names no module; write MODULE:ATTR, e.g. main:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    app: Any = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not _is_asgi(app):
        raise UsageError(
            f"{spec} is a {type(app).__name__}, not an ASGI app "
            "(a FastAPI/Starlette app, or an async callable taking scope, receive, send)"
        )
    return app


def _is_asgi(app: Any) -> bool:
    if inspect.isclass(app) or not callable(app):
        return False
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else getattr(app, "__call__", None)  # noqa: B004
    if not inspect.iscoroutinefunction(call):
        return False
    try:
        inspect.signature(call).bind(None, None, None)
    except TypeError:
        return False
    return True
