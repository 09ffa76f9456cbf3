"""The suite's parts: every name in the slow list is a real test, and the markers select what they say."""

from __future__ import annotations

import importlib.util
import json
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import SLOW, wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(SLOW))
def test_slow_list_names_real_tests(name: str) -> None:
    """A slow test that was renamed or removed must leave the list too (else make check grows slow)."""
    path, _, function = name.partition("::")
    assert (ROOT / path).is_file(), f"{path} does not exist"
    if function:
        assert f"\ndef {function}(" in (ROOT / path).read_text(), f"{name}: no such test"


def test_longest_first_names_real_files() -> None:
    """The root conftest's run order names files that exist (a renamed one would silently go back
    to its place in the alphabet, and could again start last)."""
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    missing = [path for path in root.LONGEST_FIRST if not (ROOT / path).is_file()]
    assert not missing and len(set(root.LONGEST_FIRST)) == len(root.LONGEST_FIRST), missing


def test_kernels_of_the_suite_take_ports_below_the_ephemeral_range() -> None:
    """The root conftest gives kernels ports an outgoing connection is never handed (on Linux)."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if not ranges.exists():
        pytest.skip("not Linux: the ports come from jupyter_client as they are")
    from jupyter_client.connect import LocalPortCache

    cache = LocalPortCache.instance()
    ports = [cache.find_available_port("127.0.0.1") for _ in range(5)]
    for port in ports:
        cache.return_port(port)
    assert len(set(ports)) == 5 and all(port < int(ranges.read_text().split()[0]) for port in ports), ports


def _dying_kernelspec(folder: Path, name: str, deaths: int, hang: float = 0) -> None:
    """A kernelspec *name* under *folder* whose kernel writes to stderr and exits its first
    *deaths* times, and is a real IPython kernel after that."""
    spec = folder / "kernels" / name
    spec.mkdir(parents=True)
    count = folder / f"{name}.deaths"
    launcher = spec / "launch.py"
    launcher.write_text(
        "import runpy, sys, time\n"
        f"count = {str(count)!r}\n"
        "try:\n"
        "    died = int(open(count).read())\n"
        "except OSError:\n"
        "    died = 0\n"
        f"if died < {deaths}:\n"
        "    open(count, 'w').write(str(died + 1))\n"
        "    sys.stderr.write(f'no room for this kernel (death {died + 1})\\n')\n"
        "    sys.stderr.flush()\n"
        f"    time.sleep({hang})  # a kernel that does not answer (bounded), or 0: one that dies\n"
        "    sys.exit(3)\n"
        "sys.argv = ['ipykernel_launcher', *sys.argv[1:]]\n"
        "runpy.run_module('ipykernel_launcher', run_name='__main__')\n"
    )
    argv = [sys.executable, str(launcher), "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))


@pytest.mark.notebooks
def test_a_notebook_kernel_that_dies_at_start_says_why_and_starts_again(tmp_path, monkeypatch) -> None:
    """nbval's kernels, through the root conftest: one death at start is a warning that shows the
    kernel's stderr and a kernel that works; two are an error that shows it."""
    nbval_kernel = pytest.importorskip("nbval.kernel")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    _dying_kernelspec(tmp_path, "dies-once", deaths=1)
    _dying_kernelspec(tmp_path, "dies-twice", deaths=2)

    first_death = r"(?s)died before replying.*started again.*no room for this kernel \(death 1\)"
    with pytest.warns(UserWarning, match=first_death):
        kernel = nbval_kernel.RunningKernel("dies-once", cwd=str(tmp_path), startup_timeout=60)
    try:
        assert kernel.is_alive()
    finally:
        kernel.stop()

    second_death = r"(?s)died before replying.*twice.*no room for this kernel \(death 2\)"
    with pytest.warns(UserWarning, match=first_death), pytest.raises(RuntimeError, match=second_death):
        nbval_kernel.RunningKernel("dies-twice", cwd=str(tmp_path), startup_timeout=60)


@pytest.mark.notebooks
def test_a_notebook_kernel_that_does_not_answer_at_start_is_started_again(tmp_path, monkeypatch) -> None:
    """A kernel alive but silent past the startup timeout is stopped and started once more, with
    the same warning (a fresh-clone run saw one: "Kernel didn't respond in 60 seconds")."""
    nbval_kernel = pytest.importorskip("nbval.kernel")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    _dying_kernelspec(tmp_path, "silent-once", deaths=1, hang=60)
    with pytest.warns(UserWarning, match=r"(?s)didn't respond.*started again.*no room for this kernel"):
        kernel = nbval_kernel.RunningKernel("silent-once", cwd=str(tmp_path), startup_timeout=3)
    try:
        assert kernel.is_alive()
    finally:
        kernel.stop()


def test_kernels_of_a_test_jupyter_server_take_ports_below_the_ephemeral_range(tmp_path) -> None:
    """The Jupyter servers the browser tests start (tests/jupyter_run.py) run the same port rule:
    a kernel started there binds ports an outgoing connection is never handed."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if not ranges.exists():
        pytest.skip("not Linux: the ports come from jupyter_client as they are")
    from jupyter_run import jupyter

    with jupyter(tmp_path, tmp_path, app="jupyter_server", log="server.log") as (root, token):
        started = urllib.request.Request(f"{root}api/kernels?token={token}", method="POST", data=b"{}")
        with urllib.request.urlopen(started, timeout=30) as response:
            kernel = json.load(response)["id"]
        connection = json.loads(wait_until(lambda: _read(tmp_path / "runtime" / f"kernel-{kernel}.json")))
    ports = [connection[name] for name in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")]
    assert all(port < int(ranges.read_text().split()[0]) for port in ports), ports


def _read(path: Path) -> str:
    """*path*'s text once it is there and whole (a JSON object), else ""."""
    try:
        text = path.read_text()
    except OSError:
        return ""
    return text if text.rstrip().endswith("}") else ""
