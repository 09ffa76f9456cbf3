"""A bench that cannot start within its timeout (an app whose lifespan start-up is slow) stops what it
started, uvicorn and the lifespan, so nothing serves its port afterwards, and names the real cause:
the lifespan, not "an endpoint may block the loop". ``wsbench serve --app`` says it in one line.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import types
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from conftest import wait_until
from fastapi import FastAPI
from ports import free_port

import wsbench
from wsbench.cli import main


class SlowStart:
    """An app whose lifespan start-up waits for :attr:`go` (a threading.Event the test sets), then
    notes whether it went on (``resumed``) or was cancelled first (``cancelled``)."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.resumed = threading.Event()
        self.cancelled = threading.Event()

        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            try:
                while not self.go.is_set():  # e.g. waiting for a database; bounded by the test's go
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            self.resumed.set()
            yield

        self.app = FastAPI(lifespan=lifespan)


@pytest.fixture
def slow() -> Iterator[SlowStart]:
    start = SlowStart()
    yield start
    start.go.set()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_slow_lifespan_fails_bench_naming_it_and_leaves_nothing_serving(slow):
    """Bench(app, timeout=...) raises naming the lifespan; once the start-up could have gone on, it did
    not: it was cancelled, and nothing accepts connections on the bench's port."""
    port = free_port()
    with pytest.raises(wsbench.BenchError) as info:
        wsbench.Bench(slow.app, port=port, timeout=0.5, name="slow-lifespan")
    message = str(info.value)
    assert "did not start within its timeout of 0.5 s" in message
    assert "the app's lifespan start-up" in message and "did not finish" in message
    assert "block" not in message  # nothing blocked the loop: it awaited
    slow.go.set()  # on main the abandoned uvicorn now goes on and serves the port
    wait_until(lambda: slow.cancelled.is_set() or slow.resumed.is_set())
    assert slow.cancelled.is_set() and not slow.resumed.is_set()
    assert _refused(port)
    with wsbench.Bench(port=port, name="slow-lifespan") as again:  # the port is free for the next bench
        assert again.running


def test_serve_app_with_a_slow_lifespan_exits_non_zero_in_one_line(slow, monkeypatch, capsys):
    """``wsbench serve --app`` whose lifespan does not start in time: one line on stderr naming the
    lifespan, a non-zero status, no traceback."""
    module = types.ModuleType("slow_mod")
    module.app = slow.app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "slow_mod", module)
    monkeypatch.setitem(wsbench.Bench.__init__.__kwdefaults__, "timeout", 0.5)  # the CLI uses Bench's default
    status = main(["serve", "--app", "slow_mod:app"])
    err = capsys.readouterr().err
    assert status != 0
    assert "lifespan start-up" in err and "did not finish" in err and "Traceback" not in err
    assert err.count("\n") == 1
