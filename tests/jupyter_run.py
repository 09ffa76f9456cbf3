"""A real Jupyter server for the browser tests, and how they drive Debian's Chromium.

:func:`jupyter` starts JupyterLab (or a bare jupyter_server) on 127.0.0.1 with a token, a free
port and its own runtime, workspace and settings folders, waits (bounded) until it answers, and
stops it at the end: a shutdown request (which stops its kernels too), then SIGTERM and SIGKILL to
the process group it started if it has not gone. Shared by tests/test_browser.py,
tests/test_browser_proxied.py and tests/test_cli.py.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import wait_until
from ports import free_port

__all__ = ["CHROMIUM", "FLAGS", "START_TIMEOUT", "jupyter", "request"]

CHROMIUM = os.environ.get("WSBENCH_CHROMIUM", "/usr/bin/chromium")
#: Headless, and none of the background traffic this machine's closed network refuses.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 90.0  # seconds for a Jupyter server to answer


def request(url: str, method: str = "GET") -> int:
    """The HTTP status of a GET (or an empty POST) to *url*, bounded."""
    with urllib.request.urlopen(
        urllib.request.Request(url, method=method, data=b"" if method == "POST" else None), timeout=5
    ) as response:
        return response.status


@contextmanager
def jupyter(
    folder: Path, root_dir: Path, *, app: str = "jupyterlab", base_url: str = "/", log: str = "lab.log"
) -> Iterator[tuple[str, str]]:
    """*app* (``jupyterlab`` or ``jupyter_server``) serving *root_dir* at *base_url*, its log and
    folders in *folder*; yields (``http://127.0.0.1:<port><base_url>``, token)."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTERLAB_WORKSPACES_DIR=str(folder / "workspaces"),  # no tabs from earlier sessions
        JUPYTERLAB_SETTINGS_DIR=str(folder / "user-settings"),  # none of this user's settings
        JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
    )
    # its kernels take their ports from below the ephemeral range, as the suite's own do (tests/ports.py)
    config = folder / "jupyter_server_config.py"
    config.write_text(
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from ports import kernel_ports_below_the_ephemeral_range\n"
        "kernel_ports_below_the_ephemeral_range()\n"
    )
    log_path = folder / log
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                app,
                "--allow-root",
                "--no-browser",
                f"--config={config}",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.base_url={base_url}",
                f"--ServerApp.root_dir={root_dir}",
                f"--IdentityProvider.token={token}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    root = f"http://127.0.0.1:{port}{base_url}"

    def answers() -> bool:
        assert process.poll() is None, f"{app} exited: {log_path.read_text()[-2000:]}"
        try:
            return request(f"{root}api/status?token={token}") == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        wait_until(answers, timeout=START_TIMEOUT)
        yield root, token
    finally:
        try:  # shuts the kernels down too
            request(f"{root}api/shutdown?token={token}", method="POST")
            process.wait(timeout=20)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            pass
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the session this helper started
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
