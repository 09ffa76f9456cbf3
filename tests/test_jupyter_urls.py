"""wsbench._jupyter: where a browser reaches a bench, read from the environment and Jupyter's runtime directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wsbench._jupyter import browser_url, server_base_url
from wsbench.errors import InvalidPath


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Jupyter runtime directory, no hub prefix and no launcher pid: a plain Python process."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    return tmp_path


def server_file(runtime: Path, pid: int, base_url: str) -> Path:
    """A running-server file as jupyter_server writes it (the fields read here, and a few more)."""
    path = runtime / f"jpserver-{pid}.json"
    path.write_text(json.dumps({"base_url": base_url, "pid": pid, "port": 8888, "hostname": "127.0.0.1"}))
    return path


def test_no_jupyter_server_is_local(runtime):
    """No hub and no server file for this process: plain ws://127.0.0.1, wss:// for a TLS bench."""
    assert server_base_url() is None
    assert browser_url(8765, "/echo") == "ws://127.0.0.1:8765/echo"
    assert browser_url(8765, "/echo", secure=True) == "wss://127.0.0.1:8765/echo"


def test_hub_prefix_gives_the_proxy_path(runtime, monkeypatch):
    """JUPYTERHUB_SERVICE_PREFIX (a hub, Binder): {prefix}proxy/127.0.0.1:{port}{path}, query kept."""
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ann/")
    assert server_base_url() == "/user/ann/"
    assert browser_url(8765, "/echo") == "/user/ann/proxy/127.0.0.1:8765/echo"
    assert browser_url(8765, "/rooms/a?name=ann") == "/user/ann/proxy/127.0.0.1:8765/rooms/a?name=ann"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "user/ann")  # slashes as some spawners leave them
    assert browser_url(1, "/") == "/user/ann/proxy/127.0.0.1:1/"


def test_hub_prefix_wins_over_server_files(runtime, monkeypatch):
    """On a hub the prefix decides, even when a server file names this kernel's launcher."""
    server_file(runtime, 4242, "/elsewhere/")
    monkeypatch.setenv("JPY_PARENT_PID", "4242")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ann/")
    assert browser_url(8765, "/echo") == "/user/ann/proxy/127.0.0.1:8765/echo"


def test_launcher_server_file_gives_its_base_url(runtime, monkeypatch):
    """The server file whose pid is JPY_PARENT_PID decides; other servers' files are not read as ours."""
    server_file(runtime, 1111, "/")
    server_file(runtime, 4242, "/lab-base/")
    monkeypatch.setenv("JPY_PARENT_PID", "4242")
    assert server_base_url() == "/lab-base/"
    assert browser_url(8765, "/echo") == "/lab-base/proxy/127.0.0.1:8765/echo"
    monkeypatch.setenv("JPY_PARENT_PID", "1111")
    assert browser_url(8765, "/echo") == "ws://127.0.0.1:8765/echo"  # base_url "/": the browser is local
    monkeypatch.setenv("JPY_PARENT_PID", "999999")
    assert server_base_url() is None


def test_parent_process_is_the_launcher_without_jpy_parent_pid(runtime):
    """Without JPY_PARENT_PID the parent process is taken as the server that launched the kernel."""
    server_file(runtime, os.getppid(), "/base")
    assert server_base_url() == "/base/"


def test_broken_or_odd_server_files_are_skipped(runtime, monkeypatch):
    """Half-written, non-JSON, non-object, pid-less and directory entries are skipped, not fatal."""
    monkeypatch.setenv("JPY_PARENT_PID", "4242")
    (runtime / "jpserver-1.json").write_text('{"pid": 42')
    (runtime / "jpserver-2.json").write_text("[4242]")
    (runtime / "jpserver-3.json").write_text('{"pid": "4242", "base_url": "/no/"}')
    (runtime / "jpserver-4.json").mkdir()
    assert server_base_url() is None
    server_file(runtime, 4242, "")  # no base_url: jupyter_server's default, "/"
    assert server_base_url() == "/"


def test_missing_runtime_dir_is_local(tmp_path, monkeypatch):
    """A runtime directory that does not exist means no server found."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    assert browser_url(80, "/x") == "ws://127.0.0.1:80/x"


@pytest.mark.parametrize(
    ("port", "path", "error", "message"),
    [
        (0, "/echo", ValueError, "port 0 is not a TCP port a server listens on (1-65535)"),
        (65536, "/echo", ValueError, "port 65536 is not a TCP port"),
        (-1, "/echo", ValueError, "port -1 is not a TCP port"),
        ("8765", "/echo", TypeError, "port must be an int, got str '8765'"),
        (True, "/echo", TypeError, "port must be an int, got bool True"),
        (8765, "echo", InvalidPath, "path must start with '/', got 'echo' (try '/echo')"),
        (8765, "", InvalidPath, "path must start with '/', got ''"),
        (8765, "ws://127.0.0.1:8765/echo", InvalidPath, "path must start with '/'"),
        (8765, b"/echo", InvalidPath, "path must be a str, got bytes"),  # one error for every bad path
        (8765, "/my echo", InvalidPath, "holds a space at position 3; percent-encode it (%20) first"),
    ],
)
def test_bad_input_names_the_problem(runtime, port, path, error, message):
    """A bad port or path raises, naming what is wrong and how to write it."""
    with pytest.raises(error) as raised:
        browser_url(port, path)
    assert message in str(raised.value)


def test_tls_bench_behind_the_proxy_is_refused(runtime, monkeypatch):
    """secure=True behind the proxy: jupyter-server-proxy reaches /proxy/<port>/ over plain HTTP only."""
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ann/")
    with pytest.raises(ValueError, match="a TLS bench cannot be reached through jupyter-server-proxy"):
        browser_url(8765, "/echo", secure=True)
