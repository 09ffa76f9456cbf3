"""wsbench.cli and wsbench.demo: ``wsbench serve`` in a real process, and its bad inputs."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from jupyter_run import CHROMIUM, FLAGS, jupyter
from ports import free_port

import wsbench
from wsbench.cli import DEFAULT_PORT, _Lines, main

WAIT = 10.0  # seconds any one wait may take (start-up, a message, an exit)


class Served:
    """A ``wsbench serve`` process, its output lines so far and the ws:// URL it printed."""

    def __init__(self, proc: subprocess.Popen, url: str, lines: list[str], rest: queue.Queue) -> None:
        self.proc, self.url, self.lines, self._rest = proc, url, lines, rest

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def expect(self, *expected: str, within: int = 1_000) -> None:
        """Read stdout until each of the *expected* lines has come, in this order, each within the next
        *within* lines (each read bounded)."""
        got: list[str] = []
        for want in expected:
            for _ in range(within):  # bounded in count; each get is bounded in time
                try:
                    line = self._rest.get(timeout=WAIT)
                except queue.Empty:
                    raise AssertionError(f"no line {want!r} within {WAIT} s; came: {''.join(got)}") from None
                assert line is not None, f"serve exited before printing {want!r}; came: {''.join(got)}"
                self.lines.append(line)
                got.append(line)
                if line.rstrip("\n") == want:
                    break
            else:
                raise AssertionError(f"no line {want!r} in {within:,} lines: {''.join(got[-20:])}")

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        """Send *sig*, wait (bounded) for the exit; return the exit status and the rest of stdout."""
        self.proc.send_signal(sig)
        status = self.proc.wait(WAIT)
        out = []
        for _ in range(10_000):  # bounded in count; each get is bounded in time
            line = self._rest.get(timeout=WAIT)
            if line is None:
                return status, "".join(out)
            out.append(line)
        raise AssertionError(f"serve printed more than 10,000 lines after {sig}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Factory: ``serve(*args, cwd=...)`` starts ``python -m wsbench serve --port 0 *args`` and waits for its URL."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, cwd: Path = tmp_path, argv: list[str] | None = None) -> Served:
        command = argv or [sys.executable, "-m", "wsbench", "serve", "--port", "0", *args]
        proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        lines: queue.Queue = queue.Queue()

        def pump() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        seen: list[str] = []
        deadline = time.monotonic() + WAIT
        for _ in range(100):  # bounded: the banner is a few lines, all within WAIT
            if seen and seen[-1].startswith("Press Ctrl-C"):
                break
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line is not None, f"serve exited early: {''.join(seen)}{proc.stderr.read()}"  # type: ignore[union-attr]
            seen.append(line)
        else:
            raise AssertionError(f"no 'Press Ctrl-C' line in the first 100: {''.join(seen)}")
        match = re.search(r"ws://127\.0\.0\.1:\d+", seen[0])
        assert match, seen[0]
        return Served(proc, match.group(0), seen, lines)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        for stream in (proc.stdout, proc.stderr):
            stream.close()  # type: ignore[union-attr]


def port_is_free(port: int) -> bool:
    """True if a server may listen on *port* again (SO_REUSEADDR, as uvicorn and wsbench bind:
    connections the server closed first linger in TIME_WAIT, which is no listener)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


# -- serve: the demo endpoints over a real process ------------------------------------


def test_serve_demo_endpoints_talk_and_stop_cleanly(serve):
    """Each demo endpoint answers as documented; SIGINT stops the process with status 0 and frees the port."""
    served = serve()
    banner = "".join(served.lines)
    for path in ("/echo", "/json", "/chat", "/countdown", "/close", "/rooms/{room}", "/members"):
        assert f"{served.url}{path} " in banner
    url = served.url

    with wsbench.connect(url + "/echo", timeout=WAIT) as conn:
        conn.send_text("hi")
        assert conn.receive_text() == "echo: hi"
        conn.send_bytes(b"\x00\x01")
        assert conn.receive_bytes() == b"\x00\x01"

    with wsbench.connect(url + "/json", timeout=WAIT) as conn:
        conn.send_json({"a": [1, 2]})
        assert conn.receive_json() == {"type": "dict", "data": {"a": [1, 2]}}

    conn = wsbench.connect(url + "/chat", subprotocols=["chat.v2"], timeout=WAIT)
    assert conn.subprotocol == "chat.v2"
    assert conn.response_headers["x-server"] == "wsbench"
    conn.send_text("yo")
    assert conn.receive_text() == "echo: yo"
    conn.send_text("bye")
    with pytest.raises(wsbench.ConnectionClosed) as closed:
        conn.receive_text()
    assert (closed.value.code, closed.value.reason) == (4001, "you said bye")

    conn = wsbench.connect(url + "/countdown", params={"n": 3}, timeout=WAIT)
    assert list(conn.iter_text(limit=3)) == ["3", "2", "1"]
    with pytest.raises(wsbench.ConnectionClosed) as closed:
        conn.receive_text()
    assert (closed.value.code, closed.value.reason) == (4000, "liftoff")

    conn = wsbench.connect(url + "/close", params={"code": 4321, "reason": "asked"}, timeout=WAIT)
    with pytest.raises(wsbench.ConnectionClosed) as closed:
        conn.receive()
    assert (closed.value.code, closed.value.reason) == (4321, "asked")

    with (
        wsbench.connect(url + "/rooms/a", params={"name": "ann"}, timeout=WAIT) as ann,
        wsbench.connect(url + "/rooms/a", params={"name": "bob"}, timeout=WAIT) as bob,
    ):
        ann.send_text("hello")  # both are in the room once their handshakes are done
        assert ann.receive_text() == bob.receive_text() == "ann: hello"

    with pytest.raises(wsbench.HandshakeRejected) as rejected:
        wsbench.connect(url + "/members", timeout=WAIT)
    assert (rejected.value.status, rejected.value.body) == (401, b"members only")
    assert rejected.value.headers["www-authenticate"] == "Bearer"
    with wsbench.connect(url + "/members", params={"token": "sesame"}, timeout=WAIT) as conn:
        conn.send_text("ann")
        assert conn.receive_text() == "welcome, ann"

    with urllib.request.urlopen("http" + url[2:] + "/", timeout=WAIT) as page:
        body = page.read().decode()
    assert "new WebSocket(" in body and 'data-path="/rooms/{room}"' in body

    status, rest = served.stop(signal.SIGINT)
    assert status == 0
    assert "stopped" in rest
    assert port_is_free(served.port)


def test_serve_logs_each_connection_message_and_close(serve):
    """One stdout line per connection, message and close; secrets in the path masked; long payloads cut."""
    served = serve()
    with wsbench.connect(served.url + "/echo", timeout=WAIT) as conn:
        conn.send_text("hi")
        assert conn.receive_text() == "echo: hi"
    served.expect("#1 /echo open", "#1 /echo ← text 'hi'", "#1 /echo → text 'echo: hi'", "#1 /echo closed 1000 (OK)")

    conn = wsbench.connect(served.url + "/chat", subprotocols=["chat.v2"], timeout=WAIT)
    conn.send_text("x" * 500)
    assert conn.receive_text() == "echo: " + "x" * 500
    conn.send_text("bye")
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text()
    served.expect(
        "#2 /chat open (subprotocol 'chat.v2')",
        f"#2 /chat ← text '{'x' * 60}'…",  # as every view shows a payload (wsbench._text.preview)
        "#2 /chat closed 4001 (private use) you said bye [by the server]",
    )

    with wsbench.connect(served.url + "/members", params={"token": "sesame"}, timeout=WAIT) as conn:
        conn.send_text("ann")
        assert conn.receive_text() == "welcome, ann"
    with pytest.raises(wsbench.HandshakeRejected):
        wsbench.connect(served.url + "/nowhere", timeout=WAIT)
    served.expect(
        "#3 /members?token=*** open",
        "#3 /members?token=*** closed 1000 (OK)",
        "#4 /nowhere rejected: HTTP 403 (closed before accept)",
    )
    with wsbench.connect(served.url + "/echo?pad=" + "A" * 5000, timeout=WAIT) as conn:  # a line stays short
        conn.send_text("y" * 5000)
        conn.receive_text()
    path = "/echo?pad=" + "A" * 190 + "…"
    served.expect(f"#5 {path} open", f"#5 {path} ← text '{'y' * 60}'…")
    status, rest = served.stop()
    assert status == 0
    logged = [line for line in served.lines + rest.splitlines() if line.startswith("#")]
    assert len(logged) >= 9 and not any("sesame" in line for line in logged)  # the banner names the demo token


def test_a_peer_cannot_write_into_the_terminal(serve):
    """Control characters a peer puts in a path, a query, a close reason or a payload are escaped in every
    log line (as a repr writes them): no forged line, no escape sequence reaches the operator's terminal."""
    served = serve()
    with pytest.raises(wsbench.HandshakeRejected):  # a path that is no route, decoded by uvicorn: \n, ESC, BEL
        wsbench.connect(served.url + "/echo%0a%23999%20/admin%20open%1b]0;pwned%07", timeout=WAIT)
    with wsbench.connect(served.url + "/echo?q=%0d%1b[2J", timeout=WAIT) as conn:
        conn.send_text("a\u202eb\x1b[31mred")
        assert conn.receive_text() == "echo: a\u202eb\x1b[31mred"
        conn.close(4000, "bye\n#7 /members open\x1b[31mRED")
    served.expect(
        "#1 /echo\\n#999 /admin open\\x1b]0;pwned\\x07 rejected: HTTP 403 (closed before accept)",
        "#2 /echo?q=%0d%1b[2J open",
        "#2 /echo?q=%0d%1b[2J ← text 'a\\u202eb\\x1b[31mred'",
        "#2 /echo?q=%0d%1b[2J → text 'echo: a\\u202eb\\x1b[31mred'",
        "#2 /echo?q=%0d%1b[2J closed 4000 (private use) bye\\n#7 /members open\\x1b[31mRED",
    )
    status, rest = served.stop()
    assert status == 0
    printed = "".join(served.lines) + rest
    assert not any(char in printed for char in "\x1b\x07\r\u202e")
    assert not any(line.startswith(("#999", "#7")) for line in printed.splitlines())


#: ``wsbench serve`` that, on SIGUSR1, writes what it retains to the file named by its first argument:
#: the events all its transcripts hold (on disk too) and the bytes Python allocated since the first
#: SIGUSR1 (when tracing starts: a traced start-up would be slow) and has not freed.
RETAINING = """
import gc, signal, sys, tracemalloc
from pathlib import Path
from wsbench.cli import main
from wsbench.transcript import Transcript

def report(*_):
    gc.collect()
    tracemalloc.start()
    events = sum(len(o) for o in gc.get_objects() if isinstance(o, Transcript))
    Path(sys.argv[1]).write_text(f"{events} {tracemalloc.get_traced_memory()[0]}")

signal.signal(signal.SIGUSR1, report)
sys.exit(main(["serve", "--port", "0", *sys.argv[2:]]))
"""


def retained(served: Served, report: Path) -> tuple[int, int]:
    """(events held, bytes allocated) in a serve process started with RETAINING, after a collection."""
    report.unlink(missing_ok=True)
    served.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: report.exists() and report.read_text(), WAIT)
    events, allocated = report.read_text().split()
    return int(events), int(allocated)


def test_serve_keeps_no_history_of_messages_or_ended_connections(serve, tmp_path):
    """A long conversation and many short connections leave nothing behind in serve: no event is held (the
    bench's transcript would keep every one, then spill them to $TMPDIR), and memory stays where it was."""
    script, report = tmp_path / "retaining.py", tmp_path / "report"
    script.write_text(RETAINING)
    served = serve(argv=[sys.executable, str(script), str(report)])

    def talk(messages: int, connections: int) -> None:
        with wsbench.connect(served.url + "/echo", timeout=WAIT, max_queue=None) as conn:
            for n in range(messages):
                conn.send_text(f"message {n} " + "x" * 100)
                conn.receive_text()
        for _ in range(connections):
            with wsbench.connect(served.url + "/echo?pad=" + "A" * 1000, timeout=WAIT):
                pass
        with wsbench.connect(served.url + "/echo?last", timeout=WAIT):
            pass
        count[0] += connections + 2
        served.expect(f"#{count[0]} /echo?last closed 1000 (OK)", within=3 * messages + 3 * connections + 10)

    count = [0]
    talk(100, 10)  # warm-up: every code path has run once
    events_before, bytes_before = retained(served, report)
    talk(2000, 200)
    events_after, bytes_after = retained(served, report)
    assert (events_before, events_after) == (0, 0)
    assert bytes_after - bytes_before < 256 * 1024, (bytes_before, bytes_after)
    assert served.stop()[0] == 0


def test_quiet_serve_keeps_nothing_of_a_connection(serve, tmp_path):
    """--quiet: no connection's path or query is kept (nothing would ever print it): 300 connections with a
    7 kB query each leave memory where it was."""
    script, report = tmp_path / "retaining.py", tmp_path / "report"
    script.write_text(RETAINING)
    served = serve(argv=[sys.executable, str(script), str(report), "--quiet"])

    def connections(count: int) -> None:
        for n in range(count):
            with wsbench.connect(f"{served.url}/echo?pad={'A' * 7000}{n}", timeout=WAIT) as conn:
                conn.send_text("hi")
                conn.receive_text()

    connections(10)
    events_before, bytes_before = retained(served, report)
    connections(300)  # 2 MB of queries
    events_after, bytes_after = retained(served, report)
    assert (events_before, events_after) == (0, 0)
    assert bytes_after - bytes_before < 256 * 1024, (bytes_before, bytes_after)
    assert served.stop()[0] == 0


def test_log_lines_waiting_for_the_terminal_are_bounded():
    """Lines the terminal has not taken yet: at most the limit wait; the rest are counted and the count printed."""
    printed: list[str] = []
    lines = _Lines(printed.append, limit=3)
    for n in range(10):
        lines.add(f"line {n}")
    assert lines.waiting() == 3
    lines.flush()
    assert printed == [
        "line 0",
        "line 1",
        "line 2",
        "wsbench serve: 7 log lines not shown (they came faster than the terminal took them)",
    ]
    lines.add("line 10")
    lines.flush()
    assert printed[-1] == "line 10" and lines.waiting() == 0


def test_quiet_prints_no_log_lines(serve):
    """--quiet: the banner and the stop line, and no line for the connections."""
    served = serve("--quiet")
    with wsbench.connect(served.url + "/echo", timeout=WAIT) as conn:
        conn.send_text("hi")
        assert conn.receive_text() == "echo: hi"
    with pytest.raises(wsbench.HandshakeRejected):
        wsbench.connect(served.url + "/members", timeout=WAIT)
    status, rest = served.stop()  # the log (when on) prints everything recorded before "stopped"
    assert status == 0
    assert rest.splitlines() == ["wsbench serve: stopped"]
    assert not any(line.startswith("#") for line in served.lines)


def test_sigterm_stops_cleanly(serve):
    """SIGTERM, as from a process manager, also ends with status 0 and the port released."""
    served = serve("--ws", "wsproto")
    assert "ws=wsproto" in served.lines[0]
    status, _ = served.stop(signal.SIGTERM)
    assert status == 0
    assert port_is_free(served.port)


def test_serve_app_from_a_module(serve, tmp_path):
    """--app module:attr serves that app, imported from the current directory, and lists its endpoints."""
    (tmp_path / "myapp.py").write_text(
        "from fastapi import FastAPI, WebSocket\n"
        "api = FastAPI()\n"
        "@api.websocket('/upper')\n"
        "async def upper(websocket: WebSocket):\n"
        '    """Answers each text in capitals."""\n'
        "    await websocket.accept()\n"
        "    async for text in websocket.iter_text():\n"
        "        await websocket.send_text(text.upper())\n"
    )
    served = serve("--app", "myapp:api")
    assert "myapp:api" in served.lines[0]
    assert any(line.strip() == f"{served.url}/upper  Answers each text in capitals." for line in served.lines)
    with wsbench.connect(served.url + "/upper", timeout=WAIT) as conn:
        conn.send_text("shout")
        assert conn.receive_text() == "SHOUT"
    assert served.stop()[0] == 0


def test_an_endpoint_that_blocks_the_loop_is_named_in_the_log(serve, tmp_path):
    """An --app endpoint that blocks the loop (time.sleep) gets a line naming its connection and the fix."""
    (tmp_path / "slowapp.py").write_text(
        "import time\n"
        "from fastapi import FastAPI, WebSocket\n"
        "api = FastAPI()\n"
        "@api.websocket('/slow')\n"
        "async def slow(websocket: WebSocket):\n"
        "    await websocket.accept()\n"
        "    time.sleep(1.5)  # blocks the loop\n"
        "    await websocket.send_text('late')\n"
    )
    served = serve("--app", "slowapp:api")
    with wsbench.connect(served.url + "/slow", timeout=WAIT) as conn:
        assert conn.receive_text() == "late"
    served.expect("#1 /slow open", "#1 /slow → text 'late'")
    status, rest = served.stop()
    assert status == 0
    blocked = [line for line in served.lines + rest.splitlines(True) if " ! blocked the loop for " in line]
    assert len(blocked) == 1 and blocked[0].startswith("#1 /slow ! blocked the loop for 1."), blocked
    assert "await asyncio.sleep" in blocked[0]


def test_non_loopback_host_warns(serve, tmp_path):
    """A host that is not loopback draws a warning on stderr (simulated: loopback judged otherwise)."""
    script = (
        "import sys, wsbench._service as s; s.is_loopback = lambda host: False\n"
        "from wsbench.cli import main; sys.exit(main(['serve', '--port', '0']))\n"
    )
    served = serve(argv=[sys.executable, "-c", script])
    assert served.stop()[0] == 0
    warning = served.proc.stderr.read()  # type: ignore[union-attr]
    assert "warning: Bench binds 127.0.0.1, which is not loopback" in warning


# -- bad input: one line on stderr, status 2 -----------------------------------------------


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory, with a module holding a non-app and one that fails to import."""
    (tmp_path / "notapp_mod.py").write_text("app = 42\nasync def two(scope, receive):\n    pass\n")
    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('half-written module')\n")
    (tmp_path / "exit_mod.py").write_text("import sys\nsys.exit(0)  # a script without a __main__ guard\n")
    (tmp_path / "exit3_mod.py").write_text("raise SystemExit(3)\n")
    (tmp_path / "lines_mod.py").write_text("raise RuntimeError('first line\\nsecond line\\x1b[31m')\n")
    (tmp_path / "syntax_mod.py").write_text("def (:\n")
    (tmp_path / "needs_mod.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "getattr_mod.py").write_text("def __getattr__(name):\n    raise KeyError(name)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name in [path.stem for path in tmp_path.glob("*_mod.py")]:
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app", "no_such_module_xyz:app"], "cannot import module 'no_such_module_xyz': ModuleNotFoundError"),
        (["--app", "broken_mod:app"], "cannot import module 'broken_mod': RuntimeError: half-written module"),
        (["--app", "exit_mod:app"], "cannot import module 'exit_mod': it called sys.exit(0) at import"),
        (["--app", "exit3_mod"], "cannot import module 'exit3_mod': it called sys.exit(3) at import"),
        (["--app", "lines_mod"], "cannot import module 'lines_mod': RuntimeError: first line\\nsecond line\\x1b[31m"),
        (["--app", "syntax_mod"], "cannot import module 'syntax_mod': SyntaxError: invalid syntax (syntax_mod.py"),
        (["--app", "needs_mod"], "cannot import module 'needs_mod': ModuleNotFoundError: No module named 'no_such_dep"),
        (["--app", "getattr_mod:app"], "getattr_mod:app: reading 'app' raised KeyError: 'app'"),
        (["--app", "notapp_mod:missing"], "module 'notapp_mod' has no attribute 'missing'"),
        (["--app", "notapp_mod:app"], "notapp_mod:app is a int, not an ASGI app"),
        (["--app", "notapp_mod:two"], "notapp_mod:two is a function, not an ASGI app"),
        (["--app", ":app"], "names no module"),
        (["--port", "70000"], "70000 is not a port number (0-65535)"),
        (["--port", "http"], "'http' is not a port number"),
        (["--ws", "tornado"], "invalid choice: 'tornado'"),
        (["--root-path", "user/ann"], "'user/ann' is not a path prefix: start it with '/', e.g. /user/ann"),
        (["--root-path", "/a b?x"], "ASCII without spaces, '?' or '#'"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(app_dir, capsys, args, message):
    """Each bad input is one line on stderr naming the problem, and exit status 2."""
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_port_in_use_exits_2(capsys):
    """A port another socket listens on: exit 2, naming the address and the fix."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot bind 127.0.0.1:{port}" in err and "--port 0" in err
    assert err.count("\n") == 1


def test_console_script_reports_bad_input(tmp_path):
    """The installed ``wsbench`` script exits 2 on bad input, as main() returns."""
    script = shutil.which("wsbench", path=os.path.dirname(sys.executable))
    assert script, "the wsbench console script is not installed next to this Python"
    done = subprocess.run(
        [script, "serve", "--app", "nope_mod_xyz"], cwd=tmp_path, capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 2
    assert "cannot import module 'nope_mod_xyz'" in done.stderr


def test_an_app_module_that_exits_at_import_is_one_line_and_status_2(tmp_path):
    """``--app mod`` where mod calls sys.exit() at import (a script without a __main__ guard): one line
    naming it on stderr, nothing on stdout, status 2, not a silent status 0."""
    (tmp_path / "script_mod.py").write_text("import sys\nprint('ran at import')\nsys.exit(0)\n")
    done = subprocess.run(
        [sys.executable, "-m", "wsbench", "serve", "--port", "0", "--app", "script_mod"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "wsbench serve: error: cannot import module 'script_mod': it called sys.exit(0) at import "
        "(a script's `sys.exit(main())` without `if __name__ == '__main__':`?)"
    ]
    assert done.stdout == "ran at import\n"  # what the module printed itself


# -- help and version ----------------------------------------------------------------------


def test_help_lists_every_command_and_option(capsys):
    """``--help`` names the serve command; ``serve --help`` every option, the default port and the endpoints."""
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert "serve" in top and "--version" in top
    assert main(["serve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    options = ("--app MODULE:ATTR", "--host", "--port", "--ws", "wsproto", "websockets-sansio", "--quiet")
    for option in (*options, "--root-path PREFIX"):
        assert option in text
    assert f"default: {DEFAULT_PORT}" in text
    for path in ("/echo", "/json", "/chat", "/countdown", "/close", "/rooms/{room}", "/members"):
        assert path in text


def test_version(capsys):
    """``--version`` prints the package version."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"wsbench {wsbench.__version__}"


def test_no_command_prints_help(capsys):
    """``wsbench`` alone prints the help and exits 2: there is nothing to do."""
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


# -- behind jupyter-server-proxy ------------------------------------------------------------

BASE = "/base/"  # the Jupyter server's base_url, as a hub's /user/<name>/ would be


def _get(url: str) -> tuple[int, str]:
    """Status and body of a GET (an HTTP error's too), bounded."""
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


@pytest.fixture
def jupyter_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A Jupyter server (jupyter-server-proxy enabled) on 127.0.0.1, base_url /base/; yields (http root, token)."""
    (tmp_path / "root").mkdir()
    with jupyter(tmp_path, tmp_path / "root", app="jupyter_server", base_url=BASE, log="server.log") as server:
        yield server


def test_serve_behind_jupyter_server_proxy(serve, jupyter_server):
    """Through a real jupyter-server-proxy at {base_url}proxy/127.0.0.1:<port>/ (and proxy/<port>/), with
    --root-path: the page's own client talks to /echo from Chromium, /docs finds its schema, and no token, no way in."""
    from playwright.sync_api import sync_playwright

    root, token = jupyter_server
    port = free_port()
    prefix = f"{BASE}proxy/127.0.0.1:{port}"
    served = serve("--port", str(port), "--root-path", prefix)
    assert f"  root path {prefix} (uvicorn's root_path)\n" in served.lines
    proxied = f"http://127.0.0.1:{root.split(':')[2].split('/')[0]}{prefix}"

    status, docs = _get(f"{proxied}/docs?token={token}")
    assert status == 200 and f"'{prefix}/openapi.json'" in docs  # root_path reached FastAPI
    with wsbench.connect("ws" + proxied[4:] + f"/echo?token={token}", timeout=WAIT) as conn:
        conn.send_text("through the proxy")
        assert conn.receive_text() == "echo: through the proxy"
    with wsbench.connect(f"ws{root[4:]}proxy/{port}/echo?token={token}", timeout=WAIT) as conn:  # via "localhost"
        conn.send_text("and the short form")
        assert conn.receive_text() == "echo: and the short form"
    with pytest.raises(wsbench.HandshakeRejected) as refused:  # Jupyter's auth, before the bench is reached
        wsbench.connect("ws" + proxied[4:] + "/echo", timeout=WAIT)
    assert refused.value.status == 403
    # The log shows the route path (no prefix). jupyter-server-proxy (4.6) closes its leg to the bench
    # with no code, whatever the client sent: the bench sees 1005, and a client sees 1005 for the bench's close.
    served.expect("#1 /echo?token=*** open", "#1 /echo?token=*** closed 1005 (no status received [internal])")

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    artifacts = Path(__file__).resolve().parent.parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=WAIT * 1000)
        page = browser.new_page()
        try:
            page.set_default_timeout(WAIT * 1000)
            page.goto(f"{proxied}/?token={token}")  # logs in: the page's WebSocket carries Jupyter's cookie
            assert page.locator("#url").input_value() == f"ws{proxied[4:]}/echo"
            page.locator("#open").click()
            page.locator("#log", has_text="open ").wait_for()
            page.locator("#msg").fill("from the page")
            page.locator("#send").click()
            page.locator("#log", has_text="< echo: from the page").wait_for()
            page.screenshot(path=str(artifacts / "serve_behind_proxy.png"))
        except BaseException:
            page.screenshot(path=str(artifacts / "serve_behind_proxy_failure.png"))
            raise
        finally:
            browser.close()
    served.expect("#3 /echo open", "#3 /echo ← text 'from the page'")  # no token in the URL: the cookie
    assert served.stop()[0] == 0
