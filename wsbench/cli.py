"""The ``wsbench`` command (also ``python -m wsbench``).

``wsbench serve`` runs the embedded uvicorn server (a :class:`~wsbench.Bench`) with the
notebooks' demo endpoints (:mod:`wsbench.demo`) or your own app, on loopback, until
Ctrl-C or SIGTERM, printing one line per connection, message and close. It keeps no
history (a server may run for days) and escapes control characters, so a peer cannot
write into the operator's terminal. Bad input is one line on stderr and exit status 2.
Specification (log, bounds, path prefixes): ``docs/modules/wsbench.cli.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from ._net import WS_IMPLEMENTATIONS
from ._text import preview, printable

if TYPE_CHECKING:
    from .loop import Blockage

__all__ = ["DEFAULT_PORT", "main"]

#: The port ``wsbench serve`` listens on unless told otherwise (the one the websockets docs use).
DEFAULT_PORT = 8765

_POLL = 0.1  # seconds between two looks at the transcript while serving: lines show within this
_SHOWN = 60  # characters of a payload shown in a log line; longer ones are cut, with their size
_LINES = 10_000  # log lines waiting for the terminal at most; past it, newer ones are counted, not kept
_PATH = 200  # characters of a connection's path and query shown in its lines; longer ones are cut
_LINE = 500  # characters of a log line at most (an endpoint's exception may quote a whole message)


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
        choices=WS_IMPLEMENTATIONS,
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
    _add_upgrade_check(commands)
    from .swarm import add_command  # `wsbench load`: Locust in subprocesses (wsbench/swarm.py)

    add_command(commands)
    return parser


def _add_upgrade_check(commands: Any) -> None:
    check = commands.add_parser(
        "upgrade-check",
        help="replay a transcript against your app under two sets of versions and show what changes",
        description="Serve your app under the versions installed here (or --baseline) and under --to, each in "
        "an environment uv makes (cached in ~/.cache/wsbench/envs), replay every connection of the transcript "
        "against each on 127.0.0.1, and print the difference: the client-side lines and uvicorn's log lines. "
        "Exit status: 0 when nothing changed, 1 when something did, 2 for bad input or an environment that "
        "could not be made.",
    )
    check.add_argument("transcript", help="a transcript saved with transcript.save(path) (JSON Lines)")
    check.add_argument("--app", required=True, metavar="MODULE:ATTR", help="the ASGI app, e.g. main:app")
    check.add_argument("--app-dir", default=".", help="the folder the app is imported from (default: .)")
    check.add_argument(
        "--to", required=True, action="append", metavar="PKG==VERSION", help="a version to try (repeatable)"
    )
    check.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="PKG==VERSION",
        help="a version for the baseline instead of the installed one (repeatable)",
    )
    check.add_argument(
        "--with",
        dest="requirements",
        action="append",
        default=[],
        metavar="REQUIREMENT",
        help="something else the app imports, installed on both sides (repeatable)",
    )
    check.add_argument(
        "--ws", choices=WS_IMPLEMENTATIONS[1:], default="websockets-sansio", help="uvicorn's implementation"
    )


def _upgrade_check(args: argparse.Namespace) -> int:
    from .errors import WsbenchError
    from .transcript import Transcript
    from .upgrade import upgrade_check

    try:
        report = upgrade_check(
            Transcript.load(args.transcript),
            args.app,
            args.to,
            baseline=args.baseline,
            app_dir=args.app_dir,
            requirements=args.requirements,
            ws=args.ws,
        )
    except (WsbenchError, ValueError, OSError) as exc:
        print(f"wsbench upgrade-check: error: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.ok else 1


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
    if args.command == "upgrade-check":
        return _upgrade_check(args)
    try:
        if args.command == "load":
            from .swarm import run_command

            return run_command(args, _load_app)
        return _serve(args)
    except UsageError as exc:
        _say(f"wsbench serve: error: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from . import loop
    from .demo import demo_app, websocket_routes
    from .errors import BenchError
    from .server import Bench
    from .transcript import relay

    app = _load_app(args.app) if args.app else demo_app()
    lines = _Lines()
    log = None if args.quiet else _ConnectionLog(app, lines)
    served: Any = log or app  # Bench serves any ASGI app, though its annotation names FastAPI
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bench = Bench(
                served, ws=args.ws, host=args.host, port=args.port, name="wsbench serve", root_path=args.root_path
            )
        except BenchError as exc:
            raise UsageError(str(exc).replace("pass port=0", "pass --port 0")) from None
    for warning in caught:
        _say(f"wsbench serve: warning: {warning.message}", file=sys.stderr)
    # A server that runs for days keeps no history: the bench records into a sink that keeps
    # nothing (its transcript would hold every event of every connection), and the log has its lines
    # from the messages as they pass.
    bench._recorder.transcript = bench.transcript = relay(0)
    if log is not None:
        loop.on_blocked(log.blocked)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        http = "http" + bench.url[2:]
        _say(f"wsbench serve: {args.app or 'demo endpoints'} on {bench.url} (uvicorn ws={args.ws})")
        routes = websocket_routes(app)
        if routes:
            width = max(len(bench.url + path) for path, _ in routes)
            for path, doc in routes:
                _say(f"  {bench.url + path:<{width}}  {doc}")
        if not args.app:
            _say(f"  a browser at {http}/ gets a page with a small client")
        proxied = _proxied_url(bench.port)
        if proxied:
            _say(f"  behind Jupyter, a browser on this server's page opens {proxied}")
        if args.root_path:
            _say(f"  root path {args.root_path} (uvicorn's root_path)")
        _say("Press Ctrl-C to stop.")
        while not stop.wait(_POLL):
            lines.flush()
            if not bench.running:
                _say("wsbench serve: the server stopped on its own; see the log above", file=sys.stderr)
                return 1
    finally:
        bench.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lines.flush()  # what came last, and what the stop did to open connections (1012, service restart)
    _say("wsbench serve: stopped")
    return 0


def _proxied_url(port: int) -> str | None:
    """The path a browser reaches *port* at through jupyter-server-proxy, when this runs under a
    Jupyter server with a base URL (a hub's terminal); None locally."""
    from ._jupyter import browser_url

    url = browser_url(port, "/")
    return None if url.startswith("ws://") else url


def _say(line: str, *, file: TextIO | None = None) -> None:
    print(printable(line), file=file or sys.stdout, flush=True)


class _Lines:
    """serve's log lines on their way from the bench's loop to the terminal: the loop adds them
    (:meth:`add`, never waiting on the terminal), the main thread prints them (:meth:`flush`).

    At most :data:`_LINES` wait: a peer that floods faster than the terminal takes lines has the
    newer ones counted, and the count printed, instead of growing the process.
    """

    def __init__(self, write: Callable[[str], None] = _say, limit: int = _LINES) -> None:
        self._write = write
        self._limit = limit
        self._lock = threading.Lock()
        self._waiting: list[str] = []
        self._dropped = 0

    def add(self, line: str) -> None:
        """Queue *line* (any thread); counted instead when :data:`_LINES` wait already."""
        with self._lock:
            if len(self._waiting) < self._limit:
                self._waiting.append(line)
            else:
                self._dropped += 1

    def waiting(self) -> int:
        """How many lines wait to be printed."""
        with self._lock:
            return len(self._waiting)

    def flush(self) -> None:
        """Print the waiting lines, then how many were not kept (if any)."""
        with self._lock:
            lines, self._waiting = self._waiting, []
            dropped, self._dropped = self._dropped, 0
        for line in lines:
            self._write(line)
        if dropped:
            self._write(f"wsbench serve: {dropped} log lines not shown (they came faster than the terminal took them)")


class _Connection:
    """What the log knows of one connection while it runs: its number and path, and how far it got."""

    __slots__ = ("accepted", "closed", "number", "path")

    def __init__(self, number: int, path: str) -> None:
        self.number, self.path = number, path
        self.accepted = self.closed = False


class _ConnectionLog:
    """ASGI wrapper writing serve's log from the messages each WebSocket connection's app receives
    and sends, as they pass: one line per connection, message and close.

    ``#1 /echo open``, ``#1 /echo ← text 'hi'``, ``#1 /echo → text 'echo: hi'``,
    ``#1 /echo closed 1000 (OK)``; a refused handshake, an endpoint's exception, a message that did
    not go out, or a blocked loop are one line each too. Secrets are masked
    (:mod:`wsbench.secrets`); payloads past :data:`_SHOWN` characters are cut, with their size.

    It keeps no history: a connection's number, path and state live in the call that serves it
    and go with it, and lines (of at most :data:`_LINE` characters, the path cut at :data:`_PATH`)
    wait in a bounded :class:`_Lines` until printed.
    """

    def __init__(self, app: Any, lines: _Lines) -> None:
        self.app = app
        self._lines = lines
        self._count = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        from .secrets import mask_text, mask_url
        from .server import request_path  # the one reading of root_path: as the bench's recorder reads it

        self._count += 1
        path = mask_url(request_path(scope))
        conn = _Connection(self._count, path if len(path) <= _PATH else path[:_PATH] + "…")

        async def logged_receive() -> dict[str, Any]:
            message = await receive()
            self._note(conn, message)
            return message

        async def logged_send(message: dict[str, Any]) -> None:
            self._note(conn, message)
            try:
                await send(message)
            except Exception as exc:  # logged as sent above: say that it did not go out
                self._add(conn, mask_text(f"! {message['type']} failed: {type(exc).__name__}: {exc}".rstrip(": ")))
                raise

        try:
            await self.app(scope, logged_receive, logged_send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._add(conn, mask_text(f"! endpoint raised {type(exc).__name__}: {exc}"))
            raise

    def _add(self, conn: _Connection, words: str) -> None:
        line = f"#{conn.number} {conn.path} {words}"
        self._lines.add(line if len(line) <= _LINE else line[:_LINE] + "…")

    def _note(self, conn: _Connection, message: dict[str, Any]) -> None:
        """The line for one ASGI message of *conn*, if it has one."""
        from .codes import describe
        from .secrets import mask_subprotocol, mask_text

        kind = message.get("type")
        if kind == "websocket.accept":
            conn.accepted = True
            subprotocol = message.get("subprotocol")
            self._add(conn, "open" + (f" (subprotocol {mask_subprotocol(subprotocol)!r})" if subprotocol else ""))
        elif kind in ("websocket.receive", "websocket.send"):
            data = message.get("text")
            arrow = "←" if kind == "websocket.receive" else "→"
            self._add(conn, f"{arrow} {_shown(message.get('bytes') if data is None else data)}")
        elif kind == "websocket.http.response.start":
            conn.closed = True
            self._add(conn, f"rejected: HTTP {message.get('status')} (denial response)")
        elif kind in ("websocket.close", "websocket.disconnect") and not conn.closed:
            conn.closed = True
            if kind == "websocket.close" and not conn.accepted:
                self._add(conn, "rejected: HTTP 403 (closed before accept)")
                return
            reason = message.get("reason")
            closed = mask_text(describe(int(message.get("code") or 1000), reason if isinstance(reason, str) else ""))
            self._add(conn, f"closed {closed}" + (" [by the server]" if kind == "websocket.close" else ""))

    def blocked(self, blockage: Blockage) -> None:
        """The watchdog's listener: a line naming the connection whose endpoint blocked the loop.

        Its ``conn`` is found in the frame of :meth:`__call__` among the frames the loop ran while
        blocked (the watchdog tells after the block, when the connection may have ended already, its
        frame kept by the blockage): nothing of a connection is kept here for it."""
        frame = next((f for f in blockage.stack if f.f_code is _ConnectionLog.__call__.__code__), None)
        conn = frame.f_locals.get("conn") if frame is not None else None
        if isinstance(conn, _Connection):
            self._add(
                conn,
                f"! blocked the loop for {blockage.seconds:.1f} s: use `await asyncio.sleep`, or run blocking "
                "work in a thread (`await asyncio.to_thread(...)`)",
            )


def _shown(data: object) -> str:
    """A payload in a log line as every view shows it (:func:`~wsbench._text.preview`), cut past
    :data:`_SHOWN` characters, secrets in URLs masked."""
    from .secrets import mask_text

    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        return "(nothing)"
    return mask_text(preview(data, _SHOWN))


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
    except SystemExit as exc:  # a script's sys.exit(main()) run at import: not an app, and not a status of ours
        raise UsageError(
            f"cannot import module {module_name!r}: it called sys.exit({exc.code!r}) at import "
            "(a script's `sys.exit(main())` without `if __name__ == '__main__':`?)"
        ) from None
    except Exception as exc:
        raise UsageError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    app: Any = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
        except Exception as exc:  # a module __getattr__ or property that raises
            raise UsageError(f"{spec}: reading {part!r} raised {type(exc).__name__}: {exc}") from None
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
