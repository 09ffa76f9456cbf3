"""Fixtures: a real uvicorn server (``wsbench.Bench``) on 127.0.0.1 with a few endpoints.

``make_bench`` is the one factory: it starts a Bench with a name unique to the test
(so no test replaces another's server) and stops every Bench it made afterwards.
``bench`` is the common case: one running Bench with the endpoints below.

Endpoints (all ``await``-based; none blocks the loop):

* ``/echo``            echoes each text message as text and each binary one as bytes
* ``/json``            receives JSON and sends it back (Starlette's ``receive_json`` / ``send_json``)
* ``/send``            after ``delay`` seconds sends ``n`` messages (``kind`` text, bytes or json), then closes
                       with ``code`` / ``reason``
* ``/close-early``     closes before accepting (uvicorn answers HTTP 403)
* ``/raise``           raises after accepting
* ``/return``          returns after accepting, without closing
* ``/reject``          raises ``HTTPException(401)`` with a body before accepting
* ``/chat``            accepts with subprotocol "chat" when the client offers it (none otherwise), then echoes
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, WebSocket

import wsbench
from wsbench.transcript import record

_counter = itertools.count(1)

#: Every bound a test waits with is multiplied by this (WSBENCH_TEST_TIMEOUT_SCALE): a slow
#: machine raises it instead of a test raising its own numbers. Bounds only, never assertions.
TIMEOUT_SCALE = float(os.environ.get("WSBENCH_TEST_TIMEOUT_SCALE", "1"))


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll *predicate* until it returns something truthy and return that; fail the test after
    *timeout* seconds (scaled by TIMEOUT_SCALE). The one polling helper of the suite: it waits
    for a marker (a state, an event in a transcript), never for time to pass."""
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    while not (result := predicate()):
        assert time.monotonic() < deadline, (
            f"still not true after {timeout} s: {getattr(predicate, '__name__', predicate)}"
        )
        time.sleep(0.005)
    return result


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, noted, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def blocked_in(thread: threading.Thread, function: Callable[..., object]) -> bool:
    """True while *thread* waits on a lock or condition inside a call of *function*: the marker that a
    blocking call has started waiting (read from the thread's current stack, not guessed from time)."""
    frame = sys._current_frames().get(thread.ident or 0)
    innermost = frame
    for _ in range(200):  # bounded: a stack is never this deep here
        if frame is None:
            return False
        if frame.f_code is function.__code__:
            return innermost is not None and innermost.f_code.co_name == "wait"
        frame = frame.f_back
    return False


def add_endpoints(bench: wsbench.Bench) -> None:
    """Register the test endpoints on *bench*."""

    @bench.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])

    @bench.websocket("/json")
    async def json_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for value in websocket.iter_json():
            await websocket.send_json(value)

    @bench.websocket("/send")
    async def send(
        websocket: WebSocket, n: int = 3, code: int = 1000, reason: str = "", kind: str = "text", delay: float = 0.0
    ) -> None:
        await websocket.accept()
        await asyncio.sleep(delay)
        for i in range(n):
            if kind == "bytes":
                await websocket.send_bytes(f"msg {i}".encode())
            elif kind == "json":
                await websocket.send_json({"i": i})
            else:
                await websocket.send_text(f"msg {i}")
        await websocket.close(code, reason)

    @bench.websocket("/close-early")
    async def close_early(websocket: WebSocket) -> None:
        await websocket.close(4003, "not you")

    @bench.websocket("/raise")
    async def raise_after_accept(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("boom")

    @bench.websocket("/return")
    async def return_after_accept(websocket: WebSocket) -> None:
        await websocket.accept()

    @bench.websocket("/reject")
    async def reject(websocket: WebSocket) -> None:
        raise HTTPException(status_code=401, detail="no token")

    @bench.websocket("/chat")
    async def chat(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol="chat" if "chat" in offered else None)
        async for text in websocket.iter_text():
            await websocket.send_text(text)


@pytest.fixture
def make_bench(request: pytest.FixtureRequest) -> Iterator[Callable[..., wsbench.Bench]]:
    """Factory: ``make_bench(ws=..., app=..., name=..., endpoints=True, **Bench options)`` -> a running Bench,
    stopped after the test."""
    made: list[wsbench.Bench] = []

    def make(
        *,
        ws: str = "auto",
        app: FastAPI | None = None,
        name: str | None = None,
        endpoints: bool = True,
        **options: object,
    ) -> wsbench.Bench:
        bench = wsbench.Bench(app=app, ws=ws, name=name or f"{request.node.nodeid}-{next(_counter)}", **options)
        made.append(bench)
        if endpoints:
            add_endpoints(bench)
        return bench

    yield make
    for bench in reversed(made):
        bench.stop()


@pytest.fixture
def bench(make_bench: Callable[..., wsbench.Bench]) -> wsbench.Bench:
    """A running Bench on 127.0.0.1 with the endpoints of this module."""
    return make_bench()


def pipelined_echo(transcript: wsbench.Transcript, rounds: int, ahead: int) -> wsbench.Transcript:
    """Record into *transcript* an echo conversation (connection 7) as it is recorded when the client
    sends *ahead* messages before the first answer: windows of it cut sends from their receives."""
    sent = received = 0
    for step in range(rounds + ahead):
        if sent < rounds:
            record(transcript, side="client", kind="send", conn=7, data=f"m{sent}")
            sent += 1
        if step >= ahead:
            record(transcript, side="server", kind="websocket.receive", conn=7, data=f"m{received}")
            record(transcript, side="server", kind="websocket.send", conn=7, data=f"echo m{received}")
            record(transcript, side="client", kind="receive", conn=7, data=f"echo m{received}")
            received += 1
    return transcript
