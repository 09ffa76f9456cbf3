"""Where a browser in the same JupyterLab reaches a port on the kernel's loopback.

A bench listens on 127.0.0.1 of the machine (or pod) that runs the kernel. A browser on that
machine reaches it there; a browser anywhere else (JupyterHub, Binder) only through
jupyter-server-proxy, on the Jupyter server's own origin and behind its authentication:
:func:`server_base_url` finds that server's base URL, :func:`browser_url` the URL a page opens.
Standard library only; no network. Specification: ``docs/modules/wsbench._jupyter.md``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ._paths import check_path

__all__ = ["browser_url", "no_proxy_port", "server_base_url"]

# jupyter-server-proxy's path holds the bench's port, which changes from run to run
_PROXY_PORT = re.compile(r"/proxy/((?:absolute/)?(?:127\.0\.0\.1:|localhost:)?)\d{1,5}(?=/|$)")


def no_proxy_port(text: str) -> str:
    """*text* with a jupyter-server-proxy path's port written <port> (``/proxy/<port>/echo``), as
    every view leaves out loopback ports: they change from run to run."""
    return _PROXY_PORT.sub(r"/proxy/\1<port>", text)


#: How many jpserver-*.json files are read at most (a runtime directory full of stale ones stays cheap).
_MAX_SERVER_FILES = 200
_MAX_FILE_BYTES = 64 * 1024


def browser_url(port: int, path: str, *, secure: bool = False) -> str:
    """Where a browser in the same JupyterLab opens a WebSocket to *path* on 127.0.0.1:*port*.

    Behind a base URL (JupyterHub, Binder, ``--ServerApp.base_url``): the path
    ``{base_url}proxy/127.0.0.1:{port}{path}``, relative to the page's own host, through
    jupyter-server-proxy and Jupyter's authentication. The page picks the scheme: ``wss:``
    when it was loaded over ``https:``, ``ws:`` over ``http:``; ``new WebSocket(path)``
    does this itself in current browsers, and ``new URL(path, location.href)`` with the
    protocol swapped does it everywhere. The bench itself is reached over plain ``ws://``.

    Locally (base URL "/", or no Jupyter server): ``ws://127.0.0.1:{port}{path}``, or
    ``wss://`` with *secure* (a bench serving TLS).

    *path* starts with "/" and may carry a query (``/echo?token=...``).
    InvalidPath names a bad path (as every entry point that takes a path does); ValueError
    (TypeError for a wrong type) a bad port, and a TLS bench behind the proxy, which
    jupyter-server-proxy reaches over plain HTTP only.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {type(port).__name__} {port!r}")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not a TCP port a server listens on (1-65535)")
    check_path(path)
    base = server_base_url()
    if base is None or base == "/":
        return f"{'wss' if secure else 'ws'}://127.0.0.1:{port}{path}"
    if secure:
        raise ValueError(
            f"a TLS bench cannot be reached through jupyter-server-proxy (it speaks plain HTTP to {port}); "
            "serve the bench without certfile: the page's wss:// to Jupyter already encrypts the browser's side"
        )
    return f"{base}proxy/127.0.0.1:{port}{path}"


def server_base_url() -> str | None:
    """The base URL of the Jupyter server this kernel runs under ("/", "/user/ann/", ...), or None.

    ``JUPYTERHUB_SERVICE_PREFIX`` when set; else the ``base_url`` of the running-server file
    whose ``pid`` launched this process. Always starts and ends with "/".
    """
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "").strip()
    if prefix:
        return _slashed(prefix)
    info = _server_info(_launcher_pids())
    if info is None:
        return None
    base = info.get("base_url")
    return _slashed(base) if isinstance(base, str) and base else "/"


def _slashed(base: str) -> str:
    return "/" + base.strip("/") + "/" if base.strip("/") else "/"


def _launcher_pids() -> list[int]:
    """The pids that may be this kernel's Jupyter server: ``JPY_PARENT_PID``, then the parent process."""
    pids = []
    parent = os.environ.get("JPY_PARENT_PID", "")
    if parent.isdigit():
        pids.append(int(parent))
    pids.append(os.getppid())
    return pids


def _runtime_dir() -> Path:
    """Jupyter's runtime directory (``JUPYTER_RUNTIME_DIR`` or jupyter_core's default)."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:  # no Jupyter here: only the variable can say
        return Path(os.environ.get("JUPYTER_RUNTIME_DIR") or os.devnull)
    return Path(jupyter_runtime_dir())


def _server_info(pids: list[int]) -> dict[str, object] | None:
    """The running-server file of the first of *pids* that has one (only regular, small, JSON files)."""
    directory = _runtime_dir()
    try:
        files = sorted(directory.glob("jpserver-*.json"))[:_MAX_SERVER_FILES]
    except OSError:
        return None
    found: dict[int, dict[str, object]] = {}
    for file in files:
        try:
            if not file.is_file() or file.stat().st_size > _MAX_FILE_BYTES:
                continue
            info = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # half-written, unreadable or not JSON: not ours to judge
            continue
        if isinstance(info, dict) and isinstance(info.get("pid"), int):
            found.setdefault(info["pid"], info)
    return next((found[pid] for pid in pids if pid in found), None)
