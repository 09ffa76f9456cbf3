"""A real local JupyterHub: user A's browser reaches a bench through A's server's jupyter-server-proxy; B cannot.

JupyterHub (from PyPI) with configurable-http-proxy (from npm, installed by the Makefile's setup
into .tools/node), DummyAuthenticator with a password, SimpleLocalProcessSpawner (homes under
tmp_path), users "alice" and "bob", everything on 127.0.0.1 with free ports; the hub's database,
cookie secret and proxy pid file live in tmp_path. Each user logs in from their own Chromium
context, which starts their single-user server (JupyterLab with jupyter-server-proxy).

The bench runs in this test's process, not in alice's kernel: with a local spawner every user
shares this machine's loopback, so the bench is as reachable from alice's server as one her
kernel started would be. That sharing is also why the refusal checked here is the hub's and
alice's server's authentication, not the network: on Kubernetes (Zero to JupyterHub) each
user's pod has its own loopback as well.

Every wait is bounded; the hub, the proxy and both servers are stopped at the end, and
killed (by their recorded pids) if they do not go. Screenshots go to artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TIMEOUT_SCALE, wait_until
from jupyter_run import CHROMIUM, FLAGS
from ports import free_port

import wsbench
from wsbench._jupyter import browser_url

pytestmark = pytest.mark.hub

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
NODE_BIN = ROOT / ".tools" / "node" / "node_modules" / ".bin"  # where `make setup` installs configurable-http-proxy
PASSWORD = "class-of-2025"  # DummyAuthenticator's shared password: a test hub on loopback only
WAIT = 60.0  # seconds for the hub to answer, or a server to spawn
WAIT_MS = 60_000  # milliseconds for anything in a page

#: Runs in the page: open a WebSocket, send one text, note what happens, close; bounded by a timer.
TALK = """async ([url, text]) => await new Promise((resolve) => {
  const seen = [];
  const ws = new WebSocket(url);
  const done = () => resolve(seen);
  setTimeout(() => { seen.push("timeout"); done(); }, 10000);
  ws.onopen = () => { seen.push("open"); ws.send(text); };
  ws.onmessage = (event) => { seen.push("message " + event.data); ws.close(1000, "done"); };
  ws.onerror = () => seen.push("error");
  ws.onclose = (event) => { seen.push("close " + event.code); done(); };
})"""


def _chp() -> str:
    """configurable-http-proxy from .venv/node (or PATH); the test fails, not skips, without it."""
    found = shutil.which("configurable-http-proxy", path=f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, (
        "configurable-http-proxy is missing: run `make setup` (npm installs it into .tools/node), "
        "or `npm install --prefix .tools/node configurable-http-proxy@5`"
    )
    return found


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_pids(home: Path) -> list[int]:
    """The pids in the running-server files of a user's home (the single-user servers this test started)."""
    pids = []
    for file in sorted(home.glob("**/jpserver-*.json"))[:20]:
        try:
            pid = json.loads(file.read_text(encoding="utf-8")).get("pid")
        except (OSError, ValueError):
            continue
        if isinstance(pid, int):
            pids.append(pid)
    return pids


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[str]:
    """A JupyterHub on 127.0.0.1 with users alice and bob; yields its http:// root."""
    chp = _chp()
    port, hub_port, proxy_api_port = free_port(), free_port(), free_port()
    homes = tmp_path / "home"
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(
        "c = get_config()  # noqa\n"
        f"c.JupyterHub.bind_url = 'http://127.0.0.1:{port}'\n"
        f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{hub_port}'\n"
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{proxy_api_port}'\n"
        f"c.ConfigurableHTTPProxy.command = [{chp!r}]\n"
        f"c.ConfigurableHTTPProxy.pid_file = {str(tmp_path / 'proxy.pid')!r}\n"
        f"c.JupyterHub.db_url = 'sqlite:///{tmp_path / 'hub.sqlite'}'\n"
        f"c.JupyterHub.cookie_secret_file = {str(tmp_path / 'cookie_secret')!r}\n"
        f"c.JupyterHub.pid_file = {str(tmp_path / 'hub.pid')!r}\n"
        "c.JupyterHub.authenticator_class = 'dummy'\n"
        f"c.DummyAuthenticator.password = {PASSWORD!r}\n"
        "c.Authenticator.allowed_users = {'alice', 'bob'}\n"
        "c.JupyterHub.spawner_class = 'simple'\n"
        f"c.SimpleLocalProcessSpawner.home_dir_template = {str(homes / '{username}')!r}\n"
        f"c.Spawner.cmd = [{sys.executable!r}, '-m', 'jupyterhub.singleuser']\n"
        "c.Spawner.args = ['--ServerApp.allow_root=True']  # CI runs as root\n"
        "c.Spawner.ip = '127.0.0.1'\n"
        # a user's server binds its port a while after it is chosen: from below the ephemeral range
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from ports import free_port\n"
        "c.Spawner.pre_spawn_hook = lambda spawner: setattr(spawner, 'port', free_port())\n"
        f"c.Spawner.start_timeout = {int(WAIT)}\n"
        f"c.Spawner.http_timeout = {int(WAIT)}\n"
        "c.JupyterHub.cleanup_servers = True\n"
    )
    log = (tmp_path / "hub.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PATH=f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"),
        start_new_session=True,
    )
    root = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, f"JupyterHub exited: {(tmp_path / 'hub.log').read_text()[-3000:]}"
        try:
            return _status(f"{root}/hub/api") == 200
        except OSError:
            return False

    try:
        wait_until(answers, timeout=WAIT)
        yield root
    finally:
        started = _server_pids(homes)
        proxy_pid_file = tmp_path / "proxy.pid"
        if proxy_pid_file.exists():
            started.append(int(proxy_pid_file.read_text().strip() or 0))
        process.send_signal(signal.SIGTERM)  # the hub stops its servers and its proxy (cleanup_servers)
        try:
            process.wait(30 * TIMEOUT_SCALE)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        for pid in started:  # only the processes this hub started, by the pids they recorded
            if pid > 0 and _alive(pid):
                try:
                    wait_until(lambda pid=pid: not _alive(pid), timeout=10)
                except AssertionError:
                    os.kill(pid, signal.SIGKILL)
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "jupyterhub.log").write_bytes((tmp_path / "hub.log").read_bytes())


def _log_in(browser, root: str, user: str):
    """A new browser context in which *user* logged in and their server (JupyterLab) started; returns its page."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{root}/hub/login")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(f"**/user/{user}/lab**", timeout=WAIT_MS)  # spawned, then logged in to the server (OAuth)
    return page


def test_alice_reaches_her_bench_and_bob_does_not(hub: str, bench: wsbench.Bench, monkeypatch):
    """Via the hub, alice's page opens her bench's /echo through her server's proxy; bob and no login get 403."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")  # what alice's kernels see
    path = browser_url(bench.port, "/echo")
    assert path == f"/user/alice/proxy/127.0.0.1:{bench.port}/echo"
    ws_url = "ws" + hub[4:] + path

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=WAIT_MS)
        pages = []
        try:
            alice = _log_in(browser, hub, "alice")
            pages.append(alice)
            seen = alice.evaluate(TALK, [path, "hi from alice"])  # the relative path, as browser_url gives it
            assert seen == ["open", "message hi from alice", "close 1000"], seen  # the proxy answers her close
            received = [e for e in bench.transcript.events if e.side == "server" and e.kind == "websocket.receive"]
            assert [e.data for e in received] == ["hi from alice"]
            alice.screenshot(path=str(ARTIFACTS / "jupyterhub_alice.png"))

            bob = _log_in(browser, hub, "bob")
            pages.append(bob)
            seen = bob.evaluate(TALK, [path, "hi from bob"])
            assert "open" not in seen and seen[-1] == "close 1006", seen  # a browser never learns why
            # ... so the same handshake with bob's cookies, from Python, shows the status alice's server answers.
            cookies = "; ".join(f"{c['name']}={c['value']}" for c in bob.context.cookies())
            with pytest.raises(wsbench.HandshakeRejected) as bobs:
                wsbench.connect(ws_url, headers={"Cookie": cookies}, timeout=10)
            assert bobs.value.status == 403, bobs.value
            page = bob.goto(f"{hub}/user/alice/proxy/127.0.0.1:{bench.port}/")  # HTTP: alice's server asks the hub
            assert page is not None and page.status == 403  # the hub's verdict: bob may not access alice's server
            bob.screenshot(path=str(ARTIFACTS / "jupyterhub_bob_refused.png"))

            with pytest.raises(wsbench.HandshakeRejected) as nobody:
                wsbench.connect(ws_url, timeout=10)
            assert nobody.value.status == 403, nobody.value
        except BaseException:
            for n, page in enumerate(pages):
                page.screenshot(path=str(ARTIFACTS / f"jupyterhub_failure_{n}.png"))
            raise
        finally:
            browser.close()
    accepted = [e for e in bench.transcript.events if e.side == "server" and e.kind == "websocket.accept"]
    assert len(accepted) == 1  # only alice's connection ever reached the bench
