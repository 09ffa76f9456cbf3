"""The connection options, declared once: :class:`Options` (a field each, with its meaning).

Everything else comes from it: :class:`ConnectOptions` (the ``**options`` of ``connect()``,
``bench.connect()``, ``proxy.connect()`` and ``Connection()`` for type checkers; a test keeps it
equal to the fields), the signatures and the "Options" section of those functions' help
(:func:`takes_options`), ``docs/connection_options.md`` (:func:`markdown`, checked by a test),
and the error an unknown option name gets (:meth:`Options.given`).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

from ..errors import InvalidURL
from ..secrets import mask_url
from .bounds import MAX_QUEUE, check_max_queue, check_name, check_timeout
from .handshake import check_proxy, tls_context
from .reconnect import check_reconnect

__all__ = ["ConnectOptions", "Options", "markdown", "option_names", "takes_options"]

F = TypeVar("F", bound=Callable[..., Any])


def _option(default: Any, doc: str) -> Any:
    """A field that is a connection option, with its one-line meaning (shown in help() and the docs)."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Options:
    """Everything a caller chose for a connection, checked, in one place: a reconnect
    opens with the same object. :meth:`websockets_kwargs` is what websockets' connect() takes."""

    # HTTP handshake
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = _option(
        None, "extra handshake headers: a mapping, or (name, value) pairs to repeat a name"
    )
    subprotocols: Sequence[str] | None = _option(None, "subprotocols to offer in the handshake")
    require_subprotocol: bool = _option(
        True, "a server that picks none of the offered subprotocols is a SubprotocolNotAccepted (False: allowed)"
    )
    origin: str | None = _option(None, "the Origin header")
    cookies: Mapping[str, str] | None = _option(None, "cookies, sent as one Cookie header")
    proxy: str | bool | None = _option(
        None,
        "an http://, socks5://, socks5h://, socks4:// or socks4a:// proxy URL; True: the environment's "
        "HTTPS_PROXY / ALL_PROXY; None: connect directly",
    )
    # WebSocket
    compression: bool = _option(True, "offer permessage-deflate")
    max_size: int | None = _option(
        2**20, "the largest message accepted, in bytes (a bigger one fails the connection with 1009); None: no limit"
    )
    ping_interval: float | None = _option(20.0, "seconds between keepalive pings; None: no pings")
    max_queue: int | tuple[int | None, int | None] | None = _option(
        MAX_QUEUE,
        "received messages that may wait unread before the socket is no longer read (TCP then slows the "
        "server down), reading again at a quarter of it; (high, low) sets both; None: never stop; nothing is dropped",
    )
    # TLS
    ca_file: str | None = _option(None, "a CA bundle to trust for wss://")
    cert_file: str | None = _option(None, "a client certificate to present (wss://)")
    key_file: str | None = _option(None, "the client certificate's key, when not in cert_file")
    insecure: bool = _option(False, "skip the server certificate's checks (with a warning)")
    # Timeouts, in seconds
    open_timeout: float = _option(10.0, "seconds the opening handshake may take")
    close_timeout: float = _option(
        10.0, "seconds close() waits for the closing handshake; then TCP is aborted, and the transcript says so"
    )
    timeout: float = _option(
        10.0,
        "the default wait of receive_*, iter_*, ping and wait_*, and the longest a send waits for a server "
        "that does not read (then the connection is aborted)",
    )
    # Reconnecting after a drop (opt-in)
    auto_reconnect: int = _option(
        0,
        "after a drop (a close code in wsbench.client.RECONNECT_CODES, never after your own close()), the next "
        "send, receive or ping reconnects, up to this many attempts; messages already received stay queued, each "
        "attempt is recorded, and a send that raced the drop is not sent again",
    )
    backoff: tuple[float, float] = _option(
        (0.1, 5.0), "(first, longest): seconds before the first reconnect attempt, doubling up to the longest"
    )
    name: str | None = _option(None, 'what every view calls the connection ("ann"); a Bench says "c1", "c2" ...')
    #: the TLS context :meth:`check` builds for a wss:// URL (not an option: made from them)
    tls: ssl.SSLContext | None = field(default=None, compare=False)

    @classmethod
    def given(cls, options: Mapping[str, Any]) -> Options:
        """The options a caller passed by name, unchecked; TypeError naming an unknown one and the known ones."""
        unknown = [name for name in options if name not in _NAMES]
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(name, _NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"unknown connection option {name!r}{hint}; the options are: {', '.join(_NAMES)}")
        return cls(**options)

    def chosen(self) -> dict[str, Any]:
        """The options as keyword arguments (what :meth:`given` takes): a connection like this one."""
        return {name: getattr(self, name) for name in _NAMES}

    def check(self, url: str) -> Options:
        """These options, validated for *url* (a checked URL), with the TLS context built."""
        check_reconnect(self.auto_reconnect, self.backoff)
        check_proxy(self.proxy)
        for name in ("open_timeout", "close_timeout", "timeout"):
            check_timeout(getattr(self, name), name, none=False)
        check_timeout(self.ping_interval, "ping_interval")
        check_max_queue(self.max_queue)
        if self.name is not None:
            check_name(self.name)
        if url.startswith("wss://"):
            context = tls_context(self.ca_file, self.insecure, self.cert_file, self.key_file)
            return dataclasses.replace(self, tls=context)
        if self.ca_file or self.insecure or self.cert_file or self.key_file:
            raise InvalidURL(
                f"{mask_url(url)} is not a wss:// URL, so ca_file / cert_file / key_file / insecure have no TLS "
                "to apply to"
            )
        return self

    def websockets_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of websockets' ``connect()`` these options stand for."""
        extra = list(self.headers.items() if isinstance(self.headers, Mapping) else self.headers or [])
        if self.cookies:
            extra.append(("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())))
        kwargs: dict[str, Any] = dict(
            additional_headers=extra or None,
            subprotocols=list(self.subprotocols) if self.subprotocols else None,
            origin=self.origin,
            proxy=self.proxy,
            compression="deflate" if self.compression else None,
            max_size=self.max_size,
            ping_interval=self.ping_interval,
            open_timeout=self.open_timeout,
            close_timeout=self.close_timeout,
        )
        if self.tls is not None:
            kwargs["ssl"] = self.tls
        return kwargs


_FIELDS = [f for f in dataclasses.fields(Options) if f.compare]
_NAMES = [f.name for f in _FIELDS]


def option_names() -> list[str]:
    """The connection options' names, in their declared order."""
    return list(_NAMES)


class ConnectOptions(TypedDict, total=False):
    """The connection options as keyword arguments, for type checkers (``**options: Unpack[ConnectOptions]``).

    The same names and types as :class:`Options`' fields (tests/client/test_options.py keeps them so);
    what each means is there."""

    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None
    subprotocols: Sequence[str] | None
    require_subprotocol: bool
    origin: str | None
    cookies: Mapping[str, str] | None
    proxy: str | bool | None
    compression: bool
    max_size: int | None
    ping_interval: float | None
    max_queue: int | tuple[int | None, int | None] | None
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    insecure: bool
    open_timeout: float
    close_timeout: float
    timeout: float
    auto_reconnect: int
    backoff: tuple[float, float]
    name: str | None


def _lines() -> list[str]:
    return [f"{f.name}={f.default!r}: {f.metadata['doc']}" for f in _FIELDS]


def takes_options(function: F) -> F:
    """*function*, whose ``**options`` are the connection options: its signature (what help() and
    Jupyter's ``?`` show) lists each option with its default, and its docstring ends with what each means."""
    signature = inspect.signature(function)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    taken = {p.name for p in params}
    params += [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
        for f in _FIELDS
        if f.name not in taken
    ]
    function.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    section = "\n".join(f"    {line}" for line in _lines())
    function.__doc__ = f"{inspect.cleandoc(function.__doc__ or '')}\n\nOptions (keyword-only):\n\n{section}\n"
    return function


def markdown() -> str:
    """``docs/connection_options.md``: the options as a table, made from :class:`Options`."""
    rows = [f"| `{f.name}` | `{f.default!r}` | {f.metadata['doc'].replace('|', '&#124;')} |" for f in _FIELDS]
    return "\n".join(
        [
            "# Connection options",
            "",
            "<!-- Made from wsbench/client/options.py (Options): edit the fields there, then run",
            "     python -c 'from wsbench.client.options import markdown; print(markdown(), end=\"\")' "
            "> docs/connection_options.md -->",
            "",
            "Keyword arguments of `wsbench.connect(url, ...)`, `aconnect`, `bench.connect(path, ...)`,",
            "`bench.aconnect`, `proxy.connect(path, ...)` and `wsbench.Connection(url, ...)`; besides them,",
            "`params=` adds query parameters to the URL. An unknown name is a TypeError that lists these.",
            "",
            "| option | default | what |",
            "| --- | --- | --- |",
            *rows,
            "",
        ]
    )
