"""The one exception tree of wsbench, rooted at :class:`WsbenchError`.

Messages name the problem and, where there is one, the fix; several are also a ValueError, TypeError
or TimeoutError. Server-side code never sees these: an endpoint meets Starlette's own
``WebSocketDisconnect``. Pure logic: no I/O, no third-party imports. The tree:
``docs/modules/wsbench.errors.md``.
"""

from __future__ import annotations

import os
import sys
import traceback
from types import TracebackType

__all__ = [
    "BenchError",
    "ConnectError",
    "ConnectionClosed",
    "ConnectionRefused",
    "HandshakeRejected",
    "InvalidCloseCode",
    "InvalidJSON",
    "InvalidPath",
    "InvalidTranscript",
    "InvalidURL",
    "ReasonTooLong",
    "SubprotocolNotAccepted",
    "TLSFailure",
    "Timeout",
    "UnsendableText",
    "UpgradeError",
    "WrongMessageType",
    "WsbenchError",
]


class WsbenchError(Exception):
    """Base class of every error wsbench raises itself.

    In IPython (a notebook) it shows as the caller's own lines and the message: the frames from the
    first one inside wsbench on are wsbench's internals, left out (``_render_traceback_``);
    ``%xmode Verbose`` shows them all."""

    def _render_traceback_(self) -> list[str]:
        return _caller_traceback(self)


class InvalidURL(WsbenchError, ValueError):
    """Raised when a URL is not a ws:// or wss:// URL that can be connected to."""


class InvalidCloseCode(WsbenchError, ValueError):
    """Raised when a close code may not be sent; nothing was sent."""

    def __init__(self, message: str, *, code: object = None) -> None:
        super().__init__(message)
        self.code = code


class ReasonTooLong(WsbenchError, ValueError):
    """Raised when a close reason exceeds 123 bytes of UTF-8; nothing was sent."""

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.size = size


class ConnectError(WsbenchError):
    """Raised when the opening handshake does not complete."""


class ConnectionRefused(ConnectError):
    """Raised when nothing accepts a TCP connection at the URL's host and port."""


class HandshakeRejected(ConnectError):
    """Raised when the server answers the handshake with an HTTP response, not 101."""

    def __init__(self, message: str, *, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers
        self.body = body


class SubprotocolNotAccepted(ConnectError):
    """Raised when the client offered subprotocols and the server chose none of them."""


class TLSFailure(ConnectError):
    """Raised when the TLS handshake of a wss:// URL fails."""


class Timeout(WsbenchError, TimeoutError):
    """Raised when an awaited event does not happen in time; the connection stays usable."""


class UnsendableText(WsbenchError, ValueError):
    """Raised when text holds a lone surrogate, which UTF-8 cannot encode; nothing was sent."""


class WrongMessageType(WsbenchError, TypeError):
    """Raised when a message of the other kind arrives (bytes for ``receive_text``).

    The message stays queued: take it with the matching ``receive_*`` or ``receive()``.
    """


class InvalidJSON(WsbenchError, ValueError):
    """Raised when ``receive_json`` gets text that is not JSON; the message stays queued."""


class ConnectionClosed(WsbenchError):
    """Raised when using a connection that has closed, with both close frames.

    ``code``/``reason`` are what the peer sent (1006 when no close frame came);
    ``sent_code``/``sent_reason`` what this side sent, if anything.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int,
        reason: str,
        sent_code: int | None = None,
        sent_reason: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.sent_code = sent_code
        self.sent_reason = sent_reason

    @property
    def ok(self) -> bool:
        """True for a normal closure (1000 or 1001), as ``websockets`` judges it."""
        return self.code in (1000, 1001)


class InvalidTranscript(WsbenchError, ValueError):
    """Raised when a JSON Lines transcript cannot be read (the message names the line and field), or
    when a transcript cannot be replayed or turned into a test as it is: no client side, several
    connections and no ``conn=``, or secrets saved masked (the message says what to pass)."""


class BenchError(WsbenchError):
    """Raised when the embedded server cannot start, or is used after ``stop()``."""


class InvalidPath(BenchError, ValueError):
    """Raised when a path is one no WebSocket URL carries as given (not a str, no leading "/", whitespace or
    control characters, "#"; for an endpoint also "?"), by every entry point that takes a path
    (one check: ``wsbench._paths.check_path``)."""


class UpgradeError(WsbenchError):
    """Raised when the upgrade check cannot make an environment or its app does not start
    (the message carries uv's or the server's own words)."""


_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _caller_traceback(error: BaseException) -> list[str]:
    """What IPython shows for *error*: its traceback cut before the first frame inside wsbench (and
    without IPython's own frames, marked ``__tracebackhide__``), formatted by IPython as usual, so a
    learner sees the cell that called wsbench and the message, not wsbench's internals."""
    kept: list[tuple[object, int, int]] = []
    tb = error.__traceback__
    while tb is not None and not os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_HERE):
        if not tb.tb_frame.f_locals.get("__tracebackhide__"):
            kept.append((tb.tb_frame, tb.tb_lasti, tb.tb_lineno))
        tb = tb.tb_next
    short: TracebackType | None = None
    for frame, lasti, lineno in reversed(kept):
        short = TracebackType(short, frame, lasti, lineno)  # type: ignore[arg-type]
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    formatter = getattr(shell, "InteractiveTB", None)
    if formatter is not None and getattr(formatter, "mode", "") == "Verbose":  # %xmode Verbose: everything
        return list(formatter.structured_traceback(type(error), error, error.__traceback__))
    if formatter is not None:
        return list(formatter.structured_traceback(type(error), error, short, tb_offset=0))
    return "".join(traceback.format_exception(type(error), error, short)).rstrip("\n").split("\n")
