"""Opening a connection: the URL, proxy and TLS checks that name the fix before anything is
sent, and the translation of whatever opening raised into the wsbench error that says what
to do. The options themselves are declared in :mod:`.options`.

Nothing here opens a socket: :mod:`wsbench.client.connection` does, with these pieces.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import ssl
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import websockets
from websockets.sync.client import connect as sync_connect

from ..errors import ConnectError, ConnectionRefused, HandshakeRejected, InvalidURL, Timeout, TLSFailure
from ..secrets import mask_netloc, mask_text, mask_url

__all__ = ["check_proxy", "check_url", "connect_error", "tls_context"]

# websockets 17 asks sync connect() callers to pick the plain-connection form explicitly.
PLAIN_CONNECTION = {"legacy": True} if "legacy" in inspect.signature(sync_connect).parameters else {}
# websockets' sync connect() follows redirects from 17.1 on (17 needs Python 3.11); its asyncio one always did.
SYNC_FOLLOWS_REDIRECTS = tuple(map(int, re.findall(r"\d+", websockets.__version__)[:2])) >= (17, 1)


def check_url(url: str, params: Mapping[str, Any] | None) -> str:
    """*url* checked (a ws:// or wss:// URL with a host; no raw spaces or control characters) with *params*
    added to its query; InvalidURL naming the problem, secrets masked, otherwise."""
    if not isinstance(url, str):
        raise InvalidURL(f"{url!r} isn't a valid WebSocket URL: expected a str, got {type(url).__name__}")
    shown = mask_url(url)  # error messages end up in notebooks and logs: no tokens in them
    bad = next((i for i, ch in enumerate(url) if ch <= " " or ch == "\x7f"), None)
    if bad is not None:  # it would go raw into the request line, and the server would answer 400
        what = "a space" if url[bad] == " " else f"the control character {url[bad]!r}"
        raise InvalidURL(
            f"{shown!r} isn't a valid WebSocket URL: it contains {what} at position {bad}; "
            f"percent-encode it (%{ord(url[bad]):02X})"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"{shown!r} isn't a valid WebSocket URL: {exc}") from None
    if parts.scheme not in ("ws", "wss"):
        hint = {"http": " (use ws:// for http://)", "https": " (use wss:// for https://)"}.get(parts.scheme, "")
        raise InvalidURL(f"{shown!r} isn't a valid WebSocket URL: the scheme must be ws:// or wss://{hint}")
    if not parts.hostname:
        raise InvalidURL(f"{shown!r} isn't a valid WebSocket URL: it has no host")
    if port == 0:
        raise InvalidURL(f"{shown!r} isn't a valid WebSocket URL: port 0 cannot be connected to")
    if params:
        query = "&".join(q for q in (parts.query, urlencode(params, doseq=True)) if q)
        url = urlunsplit(parts._replace(query=query))
    return url


_PROXY_SCHEMES = ("http", "socks5h", "socks5", "socks4a", "socks4")


def check_proxy(proxy: Any) -> None:
    """A proxy URL websockets can use (https:// proxies need TLS options wsbench does not pass), True, or None."""
    if proxy is None or proxy is True:
        return
    scheme = urlsplit(proxy).scheme if isinstance(proxy, str) else None
    if scheme not in _PROXY_SCHEMES or not urlsplit(proxy).hostname:
        shown = mask_url(proxy) if isinstance(proxy, str) else proxy  # a proxy URL may hold user:password
        raise InvalidURL(
            f"proxy={shown!r} is not a proxy URL wsbench can use: give http://host:port or "
            "socks5://, socks5h://, socks4://, socks4a://host:port (or True for the environment's proxy)"
        )


def tls_context(ca_file: str | None, insecure: bool, cert_file: str | None, key_file: str | None) -> ssl.SSLContext:
    """The client TLS context: system CAs or *ca_file*, a client certificate, or no checks when *insecure*."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TLSFailure(f"cannot load the CA file {ca_file!r}: {exc}") from None
    if key_file is not None and cert_file is None:
        raise TLSFailure("key_file needs cert_file: pass the client certificate it belongs to")
    if cert_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSFailure(f"cannot load the client certificate {cert_file!r} / key {key_file!r}: {exc}") from None
    if insecure:
        warnings.warn("insecure=True: the server's TLS certificate is not checked", stacklevel=5)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect_error(
    exc: BaseException,
    real_url: str,
    url: str,
    open_timeout: float,
    redirect: tuple[int, str] | None = None,
    proxy: Any = None,
) -> BaseException:
    """Translate what opening a connection raised into the wsbench error that names the fix."""
    host = mask_netloc(urlsplit(real_url).netloc)  # *url* is the display form: no loopback host and port
    if isinstance(proxy, str):  # every TCP connection goes to the proxy: name it, not the target
        import python_socks  # here, not at import: only a failed proxied connection needs it

        parts = urlsplit(proxy)
        shown = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")  # no credentials
        if isinstance(exc, (python_socks.ProxyError, websockets.InvalidProxyStatus, websockets.InvalidProxyMessage)):
            return ConnectError(f"the proxy {shown} did not open a tunnel to {host}: {mask_text(str(exc))}")
        if isinstance(exc, (ConnectionRefusedError, python_socks.ProxyConnectionError)):
            return ConnectionRefused(
                f"nothing accepts connections at the proxy {shown} (connection refused): is the proxy running?"
            )
    unfollowed = ""  # why a redirect was not followed, where websockets did not say
    if isinstance(exc, ValueError) and isinstance(exc.__context__, websockets.InvalidStatus):
        exc = exc.__context__  # a bench connection's own socket cannot follow a redirect
    elif isinstance(exc, websockets.InvalidStatus) and not SYNC_FOLLOWS_REDIRECTS:
        location = exc.response.headers.get("Location")
        if 300 <= exc.response.status_code < 400 and location:
            unfollowed = (
                f"; it redirects to {mask_url(urljoin(real_url, location))}, which websockets "
                f"{websockets.__version__}'s sync connect() does not follow (17.1 and later do, on Python 3.11+; "
                "aconnect() does on every version): connect to that URL"
            )
    elif redirect is not None and isinstance(exc, OSError):  # websockets followed it, then failed there
        where = mask_netloc(urlsplit(urljoin(real_url, redirect[1])).netloc)
        host = f"{where}, where {url} redirected to (HTTP {redirect[0]})"
    if isinstance(exc, websockets.InvalidStatus):
        response = exc.response
        body = bytes(response.body or b"")
        return HandshakeRejected(
            f"{url} rejected the WebSocket handshake with HTTP {response.status_code}"
            + (f" {response.reason_phrase}" if response.reason_phrase else "")
            + (f": {body[:80]!r}" if body else " (empty body)")
            + unfollowed,
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.raw_items()},
            body=body,
        )
    if isinstance(exc, websockets.InvalidURI):  # its message holds the whole URL: mask it
        return InvalidURL(mask_text(str(exc)))
    if isinstance(exc, ssl.SSLError):
        # Fix: the ca_file hint only fits a certificate that did not verify; a server that does
        # not speak TLS at all (a plain ws:// server) answers with WRONG_VERSION_NUMBER.
        if isinstance(exc, ssl.SSLCertVerificationError):
            hint = "pass ca_file=... to trust its certificate"
        elif exc.reason == "WRONG_VERSION_NUMBER":
            hint = "the server does not speak TLS there: use ws:// instead of wss://"
        else:
            hint = "check that the server speaks TLS at this port and that its certificate is trusted (ca_file=...)"
        return TLSFailure(f"TLS handshake with {host} failed: {mask_text(str(exc.reason or exc))}; {hint}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return Timeout(f"opening {url}: no handshake response within {open_timeout} s")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(f"nothing accepts connections at {host} (connection refused): is the server running?")
    if isinstance(exc, websockets.ConnectionClosed) or (
        isinstance(exc, websockets.InvalidMessage) and isinstance(exc.__cause__, EOFError)
    ):  # the server hung up before (or while) the request was written, or before answering it
        hint = (
            "; over TLS, this is what a server that requires a client certificate does when none, or an "
            "untrusted one, is presented (cert_file=..., key_file=...)"
            if real_url.startswith("wss://")
            else ""
        )
        return ConnectError(f"{url} closed the connection without answering the WebSocket handshake{hint}")
    if isinstance(exc, websockets.InvalidProxy):
        reason = mask_text(str(exc))  # websockets prints the proxy URL, user:password included
        return InvalidURL(f"{reason}: use an http://, socks5://, socks5h://, socks4:// or socks4a:// proxy URL")
    if isinstance(exc, websockets.InvalidHandshake):
        # websockets names the cause apart (the header too long, the status line not HTTP, the
        # body too large): say it, in a bounded length, as the server's bytes may be anything.
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        if len(cause) > 200:
            cause = cause[:200] + "…"
        return ConnectError(f"the WebSocket handshake with {url} failed: {mask_text(f'{exc}{cause}')}")
    if isinstance(exc, OSError):
        return ConnectError(f"cannot connect to {host}: {mask_text(str(exc.strerror or exc))}")
    return exc
