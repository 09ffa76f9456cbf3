"""Two facts every layer needs, in one home: which hosts are loopback, and uvicorn's WebSocket
implementations by name (standard library only, so the command line and the views need no server)."""

from __future__ import annotations

import ipaddress

__all__ = ["WS_IMPLEMENTATIONS", "is_loopback"]

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
