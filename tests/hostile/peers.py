"""Hostile peers: small hand-written servers on 127.0.0.1 (raw asyncio, no WebSocket library),
each misbehaving in one way a real server might.

A :class:`Peer` runs one *script* per accepted connection on its own event loop in a
thread. Scripts are coroutines ``script(peer, reader, writer)``; every loop in them is
bounded in count and every wait in time (``HOLD``: a peer that "keeps TCP open" does so
for at most that long, then hangs up). Frames the client sends that a script reads land
in ``peer.frames``; ``peer.marks`` is a set of markers tests wait for.

Imported by the tests in this folder as ``from peers import ...`` (pytest puts the test
file's folder on ``sys.path``), and run as ``python peers.py`` by the memory tests'
subprocesses through :func:`run_in_subprocess`.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rawws import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    close_payload,
    frame,
    request_headers,
    switching,
    unmask,
)

__all__ = [
    "HOLD",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_TEXT",
    "MiB",
    "Peer",
    "answer",
    "close_payload",
    "finishes",
    "flood",
    "frame",
    "handshake",
    "huge_body",
    "never_reads",
    "read_frames",
    "rss",
    "run_in_subprocess",
    "sends_then_holds",
]

MiB = 1 << 20
#: The longest any peer keeps a connection or waits for anything, in seconds.
HOLD = 30.0

Script = Callable[["Peer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Peer:
    """A raw server on 127.0.0.1 running *script* for each connection, on its own loop in a thread.

    Use as a context manager: on exit every connection is dropped and the thread joined (bounded).
    """

    def __init__(self, script: Script, **params: Any) -> None:
        self.script = script
        self.params = params
        self.frames: list[tuple[int, bytes]] = []  #: (opcode, payload) of what the client sent
        self.marks: set[str] = set()  #: markers the script sets ("handshake", "blocked", "done" ...)
        self.counts: dict[str, int] = {}  #: counters the script keeps (messages written ...)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """The ws:// URL of this peer."""
        return f"ws://127.0.0.1:{self.port}/hostile"

    def __enter__(self) -> Peer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the peer did not start within 10 s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await asyncio.wait_for(self.script(self, reader, writer), HOLD)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    def mark(self, name: str) -> None:
        """Set a marker tests can wait for."""
        self.marks.add(name)

    def count(self, name: str) -> None:
        """Add one to a counter."""
        self.counts[name] = self.counts.get(name, 0) + 1


async def read_request(reader: asyncio.StreamReader) -> dict[str, str]:
    """The client's handshake request headers, names lower-cased."""
    return request_headers(await reader.readuntil(b"\r\n\r\n"))


async def handshake(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Complete the opening handshake and mark "handshake"."""
    writer.write(switching((await read_request(reader))["sec-websocket-key"]))
    await writer.drain()
    peer.mark("handshake")


async def read_frames(
    peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None = None, limit: int = 1000
) -> None:
    """Read (at most *limit*) client frames into ``peer.frames`` until EOF; answer a close frame
    with the same payload only if ``params["answer_close"]`` (and never close TCP)."""
    for _ in range(limit):
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        key = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        peer.frames.append((first & 0x0F, unmask(key, await reader.readexactly(length))))
        if first & 0x0F == OP_CLOSE:
            peer.mark("close received")
            if writer is not None and peer.params.get("answer_close"):
                writer.write(frame(OP_CLOSE, peer.frames[-1][1]))
                await writer.drain()
                peer.mark("close answered")
                if peer.params.get("hang_up"):  # a well-behaved server closes TCP after the handshake
                    return


async def never_reads(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Complete the handshake, send ``params["frames"]`` (if any), then never read again (TCP kept open)."""
    await handshake(peer, reader, writer)
    writer.transport.pause_reading()  # nothing more is read: the client's writes fill the buffers
    writer.write(peer.params.get("frames", b""))
    await writer.drain()
    peer.mark("sent")
    await asyncio.sleep(HOLD)


async def sends_then_holds(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Complete the handshake, send ``params["frames"]``, then read what the client sends, answer
    its close frame only if ``params["answer_close"]``, and never close TCP (until HOLD)."""
    await handshake(peer, reader, writer)
    writer.write(peer.params.get("frames", b""))
    await writer.drain()
    peer.mark("sent")
    try:
        await read_frames(peer, reader, writer)
    except asyncio.IncompleteReadError:
        peer.mark("eof")
        return
    await asyncio.sleep(HOLD)


async def flood(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Complete the handshake, then send ``params["count"]`` binary messages of ``params["size"]``
    bytes as fast as TCP takes them (counted in ``counts["written"]``); mark "blocked" whenever
    a write waits for the client, "done" when all went out. Reads (and records) the client's frames."""
    await handshake(peer, reader, writer)
    reading = asyncio.ensure_future(read_frames(peer, reader, writer))
    message = frame(OP_BINARY, b"\xab" * peer.params.get("size", MiB))
    try:
        for _ in range(peer.params.get("count", 200)):
            if "close received" in peer.marks:
                break
            writer.write(message)
            if writer.transport.get_write_buffer_size() > 4 * MiB:
                peer.mark("blocked")
            await writer.drain()
            peer.count("written")
        peer.mark("done")
        await reading
    finally:
        reading.cancel()


def answer(response: bytes, *, hold: bool = True) -> Script:
    """Script: read the request, write *response* instead of a 101, then keep TCP open (if *hold*)."""

    async def script(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response)
        await writer.drain()
        peer.mark("answered")
        if hold:
            await asyncio.sleep(HOLD)

    return script


def huge_body(status: str, size: int, chunk: int = MiB) -> Script:
    """Script: answer the handshake with *status* and a Content-Length *size* body, streamed in chunks."""

    async def script(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n".encode())
        block = b"x" * chunk
        for _ in range(size // chunk):
            writer.write(block)
            await writer.drain()
            peer.count("chunks")
        peer.mark("answered")
        await asyncio.sleep(HOLD)

    return script


def finishes(call: Callable[[], Any], within: float = 20.0) -> Any:
    """``call()``'s result (or its exception), or fail the test if it has not returned within
    *within* seconds (times WSBENCH_TEST_TIMEOUT_SCALE): a watchdog for calls that used to hang,
    far above what the call should take; never a timing assertion."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the test's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within * float(os.environ.get("WSBENCH_TEST_TIMEOUT_SCALE", "1")))
    assert outcome, f"still waiting after {within} s: the call hangs"
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def rss() -> int:
    """This process's resident set size, in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def run_in_subprocess(code: str, timeout: float = 120.0) -> dict[str, Any]:
    """Run *code* (which must print one JSON line last) in a fresh interpreter with this folder
    and tests/ on sys.path; return that JSON. Memory is measured there, away from pytest's own."""
    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(here), str(here.parent), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env, check=False, cwd=here
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
