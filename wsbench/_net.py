"""Two facts every layer needs, in one home: which hosts are loopback (and what of a loopback URL
is shown), and uvicorn's WebSocket implementations by name (standard library only, so the
command line and the views need no server)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["WS_IMPLEMENTATIONS", "is_loopback", "loopback_path"]

#: uvicorn's WebSocket implementations, as ``Bench(ws=...)`` and ``wsbench serve --ws`` take them
WS_IMPLEMENTATIONS = ("auto", "websockets-sansio", "wsproto", "websockets")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and every loopback address (127.0.0.0/8, ::1, with or without brackets)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_path(url: str) -> str:
    """The path and query of a URL to a loopback host (a Bench or FaultProxy: its port changes
    from run to run); any other URL, or text that is no URL, as it is. Masks nothing: shown
    masked, it is :func:`wsbench.secrets.display_url`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except (ValueError, TypeError, AttributeError):  # not a URL urllib can split ("ws://[::1")
        return url
    if is_loopback(host):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url
