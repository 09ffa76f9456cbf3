"""The ``wsbench`` command (also ``python -m wsbench``).

``wsbench serve`` runs the embedded uvicorn server (a :class:`~wsbench.Bench`) with the
notebooks' demo endpoints (:mod:`wsbench.demo`) or your own app, on loopback, until
Ctrl-C or SIGTERM, so a browser or ``wscat`` can connect. Bad input is one line on
stderr and exit status 2.
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
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["DEFAULT_PORT", "main"]

#: The port ``wsbench serve`` listens on unless told otherwise (the one the websockets docs use).
DEFAULT_PORT = 8765

_WS_CHOICES = ("auto", "websockets-sansio", "wsproto", "websockets")  # wsbench.server.WS_IMPLEMENTATIONS


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
        return _serve(args)
    except UsageError as exc:
        print(f"wsbench serve: error: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from .demo import demo_app, websocket_routes
    from .errors import BenchError
    from .server import Bench

    app = _load_app(args.app) if args.app else demo_app()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bench = Bench(app, ws=args.ws, host=args.host, port=args.port, name="wsbench serve")
        except BenchError as exc:
            raise UsageError(str(exc).replace("pass port=0", "pass --port 0")) from None
    for warning in caught:
        print(f"wsbench serve: warning: {warning.message}", file=sys.stderr)

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
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            if not bench.running:
                print("wsbench serve: the server stopped on its own; see the log above", file=sys.stderr)
                return 1
    finally:
        bench.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("wsbench serve: stopped", flush=True)
    return 0


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
