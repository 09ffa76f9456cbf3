"""Will an endpoint behave the same after an upgrade? Replay a transcript against the app twice.

:func:`upgrade_check` serves the same app under two sets of versions (the ones installed here,
or ``baseline=``, and those with ``to=`` applied), each in an isolated environment that ``uv``
makes and caches, the server in a subprocess on 127.0.0.1. It replays every connection of the
transcript against each (:func:`wsbench.replay`) and reports what differs between the two: the
client-side lines of each replay and uvicorn's log lines (addresses masked). Against the
recording itself each replay is a :class:`~wsbench.replay.ReplayResult` as usual.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .errors import UpgradeError
from .replay import ReplayResult, replay
from .secrets import mask_url
from .transcript import Transcript

__all__ = ["UPSTREAM", "UpgradeReport", "upgrade_check"]

#: the packages whose versions decide how an endpoint behaves on the wire
UPSTREAM = ("uvicorn", "starlette", "fastapi", "websockets", "wsproto")

_SERVER = Path(__file__).with_name("_app_server.py")
_READY = "WSBENCH-READY"  # the server's mark on stderr: its log from there on is the conversation's
_ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}:\d+\b|\[[0-9a-f:]+\]:\d+")
_PROCESS = re.compile(r"\[\d+\]")
_REQUEST = re.compile(r'"WebSocket ([^"]*)"')


@dataclass(frozen=True)
class Side:
    """One set of versions: its pins, and what each replay and uvicorn's log showed under them."""

    pins: tuple[str, ...]
    results: tuple[ReplayResult, ...]
    log: tuple[str, ...]

    def lines(self) -> list[str]:
        """Every replay's client-side lines, then uvicorn's log lines: what the two sides compare."""
        found: list[str] = []
        for result in self.results:
            found += [f"{result.label}: {line}" for line in result.got]
        return found + [f"uvicorn log: {line}" for line in self.log]


@dataclass(frozen=True)
class UpgradeReport:
    """What the upgrade changes: ``ok`` when both sides answered and logged the same.

    ``str(report)`` is a unified diff (``-`` baseline, ``+`` upgraded) of the client-side lines
    of every replayed connection and of uvicorn's log lines; no ports, addresses or times.
    """

    baseline: Side
    upgraded: Side

    @property
    def ok(self) -> bool:
        return self.baseline.lines() == self.upgraded.lines()

    def __bool__(self) -> bool:
        return self.ok

    def text(self) -> str:
        """A header naming the versions that changed, then the diff (or "same answers and log")."""
        old, new = _describe(self.baseline.pins, self.upgraded.pins), _describe(self.upgraded.pins, self.baseline.pins)
        if self.ok:
            return f"upgrade {old} -> {new}: same answers and log ({len(self.baseline.results)} connections replayed)"
        diff = difflib.unified_diff(self.baseline.lines(), self.upgraded.lines(), old, new, lineterm="", n=1)
        return "\n".join([f"upgrade {old} -> {new}: behaviour changed (- baseline, + upgraded)", *diff])

    __str__ = text

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(self.text())  # type: ignore[attr-defined]


def upgrade_check(
    transcript: Transcript,
    app: str,
    to: Mapping[str, str] | Iterable[str],
    *,
    baseline: Mapping[str, str] | Iterable[str] | None = None,
    app_dir: str | os.PathLike[str] = ".",
    requirements: Iterable[str] = (),
    ws: str = "websockets-sansio",
    python: str | None = None,
    ignore: str | Iterable[str] = (),
    timeout: float = 5.0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> UpgradeReport:
    """Replay *transcript* against *app* under the baseline versions and under *to*; report the difference.

    *app* is ``"module:attribute"``, imported from *app_dir* in a subprocess. *to* and *baseline*
    are pins (``{"uvicorn": "0.55.0"}`` or ``["uvicorn==0.55.0"]``): the baseline is the versions of
    :data:`UPSTREAM` installed here with *baseline*'s pins applied, and *to* changes some of those. *requirements* adds
    what else the app imports. Each environment is made once with ``uv`` (``pip install uv``) under
    *cache_dir* (default ``~/.cache/wsbench/envs``) for *python* (default: this interpreter).
    Raises :class:`UpgradeError` when an environment cannot be made or the app does not start,
    with uv's or the server's own words; replay's errors otherwise.
    """
    base = {**_installed(), **(_pins(baseline) if baseline is not None else {})}
    upgraded = {**base, **_pins(to)}
    extra = tuple(requirements)
    root = Path(cache_dir) if cache_dir is not None else Path.home() / ".cache" / "wsbench" / "envs"
    interpreter = python or sys.executable
    sides = []
    for pins in (base, upgraded):
        spec = tuple(f"{name}=={pin}" for name, pin in sorted(pins.items())) + extra
        env = _environment(root, interpreter, spec)
        with _served(env, app, Path(app_dir), ws, timeout) as (url, log):
            results = tuple(
                replay(transcript, url, conn=number, ignore=ignore, timeout=timeout)
                for number in range(1, _connections(transcript) + 1)
            )
        sides.append(Side(spec, results, tuple(log)))
    return UpgradeReport(sides[0], sides[1])


def _pins(given: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    """``{"uvicorn": "0.55.0"}`` from a mapping or from ``["uvicorn==0.55.0"]``; ValueError otherwise."""
    if isinstance(given, Mapping):
        items = list(given.items())
    else:
        items = []
        for pin in [given] if isinstance(given, str) else given:
            name, sep, pinned = str(pin).partition("==")
            if not sep:
                raise ValueError(f"{pin!r} is not a pin: write it as 'package==version', e.g. 'uvicorn==0.55.0'")
            items.append((name, pinned))
    found = {}
    for name, pinned in items:
        name, pinned = str(name).strip().lower(), str(pinned).strip()
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name) or not re.fullmatch(r"[0-9A-Za-z.+!-]+", pinned):
            raise ValueError(f"{name}=={pinned} is not a pin: a package and an exact version, e.g. uvicorn==0.55.0")
        found[name] = pinned
    return found


def _installed() -> dict[str, str]:
    """The versions of :data:`UPSTREAM` installed here (those that are)."""
    found = {}
    for name in UPSTREAM:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def _describe(spec: tuple[str, ...], other: tuple[str, ...]) -> str:
    """The pins of *spec* that *other* lacks (all of them when none differ)."""
    return " ".join([pin for pin in spec if pin not in other] or spec)


def _connections(transcript: Transcript) -> int:
    return len({event.conn for event in transcript if event.side == "client"})


def _uv() -> str:
    """The uv executable: $WSBENCH_UV, `uv` on PATH, or the one the `uv` package ships."""
    found = os.environ.get("WSBENCH_UV") or shutil.which("uv")
    if found:
        return found
    try:
        uv = importlib.import_module("uv")  # the uv package ships its binary
    except ImportError:
        raise UpgradeError("the upgrade check makes its environments with uv: `pip install uv`") from None
    return str(uv.find_uv_bin())


def _environment(root: Path, interpreter: str, spec: tuple[str, ...]) -> Path:
    """An environment with exactly *spec*, made once and kept under *root* (keyed by what it holds)."""
    key = hashlib.sha256("\n".join((interpreter, *spec)).encode()).hexdigest()[:16]
    env = root / key
    done = env / ".wsbench-ready"
    if done.exists():
        return env
    uv = _uv()
    root.mkdir(parents=True, exist_ok=True)
    for command in (
        [uv, "venv", "--quiet", "--allow-existing", "--python", interpreter, str(env)],
        [uv, "pip", "install", "--quiet", "--python", str(env / "bin" / "python"), *spec],
    ):
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if run.returncode != 0:
            words = (run.stderr or run.stdout).strip().splitlines()[-6:]
            raise UpgradeError(f"could not make an environment with {' '.join(spec)}:\n" + "\n".join(words))
    done.touch()
    return env


@contextmanager
def _served(env: Path, app: str, app_dir: Path, ws: str, timeout: float) -> Iterator[tuple[str, list[str]]]:
    """Serve *app* with *env*'s interpreter; yield its base URL and a list that holds its log lines
    once the block ends (the server is stopped and waited for first, so the log is complete)."""
    # its source through -c, not its path: the script's folder (wsbench/) must not come first on
    # sys.path, where wsbench/secrets.py would hide the standard library's secrets
    command = [str(env / "bin" / "python"), "-c", _SERVER.read_text(), app, "--ws", ws]
    process = subprocess.Popen(
        command,
        cwd=app_dir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(app_dir.resolve())},
    )
    assert process.stdout is not None and process.stderr is not None and process.stdin is not None
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    ready: list[str] = []
    waiter = threading.Thread(target=lambda: ready.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    waiter.start()
    waiter.join(max(timeout, 30.0))
    log: list[str] = []
    try:
        line = ready[0] if ready else ""
        if not line.startswith("WSBENCH-READY "):
            process.kill()
            process.wait(timeout=10)
            reader.join(timeout=5)
            said = "".join(errors).strip().splitlines()[-8:]
            raise UpgradeError(f"{app} did not start under {env.name}:\n" + "\n".join(said or ["(no output)"]))
        yield f"ws://127.0.0.1:{int(line.split()[1])}", log
    finally:
        if process.poll() is None:
            process.stdin.close()  # the server stops when its stdin closes
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        reader.join(timeout=10)
    log.extend(_log_after_ready(errors))


def _log_after_ready(errors: list[str]) -> list[str]:
    """The log lines after the server's :data:`_READY` mark on stderr, cleaned, without shutdown's:
    what the conversation made. Counted from the mark, not from as many lines as the reader had when
    stdout said ready: the reader may take the start-up lines before or after that."""
    mark = next((n for n, line in enumerate(errors) if line.rstrip("\n") == _READY), None)
    if mark is None:
        return []
    return [_clean(line) for line in errors[mark + 1 :] if not _shutdown(line)]


def _clean(line: str) -> str:
    """A log line with addresses, process ids and the secrets of a request's query masked."""
    line = _ADDRESS.sub("<address>", line.rstrip("\n"))
    line = _REQUEST.sub(lambda m: f'"WebSocket {mask_url(m.group(1))}"', line)
    return _PROCESS.sub("[pid]", line)


def _shutdown(line: str) -> bool:
    """A line of uvicorn stopping (the start-up ones come before the ready mark)."""
    return line.startswith(
        (
            "INFO: Shutting down",
            "INFO: Waiting for application",
            "INFO: Application shutdown",
            "INFO: Finished server process",
        )
    )
