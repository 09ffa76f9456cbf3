"""A bench's sync connection (wsbench.client.shared): read by the bench's loop, written by the
caller's thread, its handshake on the caller's thread. It must behave as websockets' sync client
did for every peer: the same messages in the same order, the same errors for a peer that lies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import TIMEOUT_SCALE, wait_until
from fastapi import WebSocket

import wsbench
from wsbench import Connection
from wsbench._gate import Gate
from wsbench.client.shared import SharedConnection

Reply = Callable[[socket.socket, bytes], None]  # the server's side: its socket and the request it read

_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
)


def _accept_key(request: bytes) -> bytes:

    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    return base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())


def _frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


class RawPairing:
    """What a client needs of a bench (wsbench._service.Pairing), in front of a raw TCP server on
    127.0.0.1 that answers the handshake as *reply* says: a server that lies, to the shared path."""

    def __init__(self, reply: Reply) -> None:
        self.transcript = wsbench.Transcript()
        self.endpoint_ended = Gate()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10 * TIMEOUT_SCALE)
        self.address = self._listener.getsockname()[:2]
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(reply,), daemon=True)
        self._thread.start()

    def _serve(self, reply: Reply) -> None:
        try:
            peer, _ = self._listener.accept()
        except OSError:
            return
        with peer:
            peer.settimeout(10 * TIMEOUT_SCALE)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:  # bounded: one request head
                chunk = peer.recv(65536)
                if not chunk:
                    return
                request += chunk
            try:
                reply(peer, request)
            except OSError:
                pass
            self.done.wait(10 * TIMEOUT_SCALE)  # keep TCP open until the test is done with it

    def url_for(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.address[1]}{path}"

    def pair(self, port: int, transcript: Any, name: str | None = None) -> None:
        pass

    def blocked_since(self, started: float) -> str | None:
        return None

    def close(self) -> None:
        self.done.set()
        self._listener.close()
        self._thread.join(10 * TIMEOUT_SCALE)


@pytest.fixture
def lying() -> Iterator[Callable[[Reply], RawPairing]]:
    made: list[RawPairing] = []

    def make(reply: Reply) -> RawPairing:
        made.append(RawPairing(reply))
        return made[-1]

    yield make
    for pairing in made:
        pairing.close()


def _open(pairing: RawPairing, shared: bool, **options: Any) -> Connection:
    """A connection through *pairing* (the shared path), or straight to its URL (websockets' sync client)."""
    url = pairing.url_for("/")
    return Connection(url, pairing=pairing if shared else None, **options).open()  # type: ignore[arg-type]


def _client_frames(peer: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """The next *count* frames a client sent (small, masked): (opcode, unmasked payload)."""
    frames = []
    for _ in range(count):
        head = peer.recv(2, socket.MSG_WAITALL)
        mask = peer.recv(4, socket.MSG_WAITALL)
        length = head[1] & 0x7F
        payload = peer.recv(length, socket.MSG_WAITALL) if length else b""
        frames.append((head[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))))
    return frames


def test_frames_that_came_with_the_handshake_response_are_delivered_after_open(lying):
    """A server that sends a ping, a message and its close in the same write as its 101: the
    message is delivered after "open", the close code is the server's, and the client's pong and
    close reply go out, in that order."""
    replies: list[list[tuple[int, bytes]]] = []

    def at_once(peer: socket.socket, request: bytes) -> None:
        close = _frame(8, (1008).to_bytes(2, "big") + b"go")
        peer.sendall(_101 % _accept_key(request) + _frame(9, b"p") + _frame(1, b"early") + close)
        replies.append(_client_frames(peer, 2))

    conn = _open(lying(at_once), shared=True, timeout=5)
    assert isinstance(conn._async, SharedConnection)
    assert conn.receive_text() == "early"
    assert conn.wait_closed(5) == 1008 and conn.close_reason == "go"
    assert [e.kind for e in conn.transcript.filter(side="client")][:4] == ["connect", "open", "receive", "closed"]
    wait_until(lambda: replies)
    assert replies[0] == [(10, b"p"), (8, (1008).to_bytes(2, "big") + b"go")]  # the pong, then the close echoed


def _garbage(peer: socket.socket, request: bytes) -> None:
    peer.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


def _hang_up(peer: socket.socket, request: bytes) -> None:
    peer.shutdown(socket.SHUT_RDWR)


def _reset(peer: socket.socket, request: bytes) -> None:
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()


def _forbidden(peer: socket.socket, request: bytes) -> None:
    peer.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nContent-Type: text/plain\r\n\r\nno, ann")


def _silent(peer: socket.socket, request: bytes) -> None:
    pass


def _wrong_accept(peer: socket.socket, request: bytes) -> None:
    peer.sendall(_101 % b"bm90IHRoZSByaWdodCBrZXk=")


def _unoffered_subprotocol(peer: socket.socket, request: bytes) -> None:
    peer.sendall((_101 % _accept_key(request))[:-2] + b"Sec-WebSocket-Protocol: chat\r\n\r\n")


def _unoffered_extension(peer: socket.socket, request: bytes) -> None:
    peer.sendall((_101 % _accept_key(request))[:-2] + b"Sec-WebSocket-Extensions: x-unknown\r\n\r\n")


@pytest.mark.parametrize(
    "reply",
    [_garbage, _hang_up, _reset, _forbidden, _silent, _wrong_accept, _unoffered_subprotocol, _unoffered_extension],
)
def test_a_server_that_lies_in_the_handshake_gets_the_error_websockets_sync_client_gets(lying, reply):
    """The handshake on the caller's thread fails as websockets' own client does: the same wsbench
    error, type and words, and a transcript that says the same (a 403's body too)."""
    outcomes = []
    for shared in (False, True):
        pairing = lying(reply)
        with pytest.raises(wsbench.errors.WsbenchError) as info:
            _open(pairing, shared=shared, open_timeout=0.5)
        said = str(info.value).replace(str(pairing.address[1]), "PORT")
        outcomes.append((type(info.value), said, getattr(info.value, "body", None)))
    assert outcomes[1] == outcomes[0]


def test_a_bench_connection_holds_no_thread(bench):
    """websockets' sync client holds a reader thread per connection; a bench's sync connection none."""
    before = threading.active_count()
    conns = [bench.connect("/echo") for _ in range(5)]
    for conn in conns:
        conn.send_text("hi")
        assert conn.receive_text() == "hi"
    assert threading.active_count() == before
    for conn in conns:
        conn.close()


@pytest.mark.parametrize("compression", [False, True])
def test_a_message_the_socket_cannot_take_at_once_is_finished_by_the_loop_in_order(bench, compression):
    """A 4 MiB message does not fit the socket's buffer: its end goes to the loop, and the small
    messages sent right after it reach the server after it, whole and in order."""
    big = bytes(range(256)) * (4 * 2**12)
    with bench.connect("/echo", max_size=None, compression=compression, timeout=20) as conn:
        conn.send_bytes(big)
        for i in range(50):
            conn.send_text(f"after {i}")
        assert conn.receive_bytes() == big
        assert [conn.receive_text() for _ in range(50)] == [f"after {i}" for i in range(50)]


def test_threads_sending_at_once_keep_each_thread_order_with_compression(bench):
    """Four threads send on one compressed connection while its loop reads the echoes: every
    message arrives intact (one compressor, one frame order), each thread's in its order."""
    with bench.connect("/echo", compression=True, timeout=20) as conn:

        def send(who: int) -> None:
            for i in range(200):
                conn.send_text(f"{who}:{i}:" + "abc" * (i % 40))

        threads = [threading.Thread(target=send, args=(who,)) for who in range(4)]
        for thread in threads:
            thread.start()
        got = [conn.receive_text() for _ in range(800)]
        for thread in threads:
            thread.join(20 * TIMEOUT_SCALE)
    for who in range(4):
        mine = [text for text in got if text.startswith(f"{who}:")]
        assert mine == [f"{who}:{i}:" + "abc" * (i % 40) for i in range(200)]


def test_an_endpoint_that_blocks_the_loop_after_accept_leaves_the_connection_usable_from_its_thread(bench):
    """The handshake is the caller's: open() returns although the endpoint blocks the bench's loop
    right after accept(); a send goes out from the caller's thread, and close() returns after
    close_timeout, the abort recorded, as websockets' sync client did. The loop reads what came
    once it runs again (here: the server's receive of what was sent while it blocked)."""
    release = threading.Event()

    @bench.websocket("/late")
    async def late(websocket: WebSocket) -> None:
        await websocket.accept()
        release.wait(30)  # the mistake under test: blocks the loop until released
        await websocket.receive_text()

    try:
        conn = bench.connect("/late", close_timeout=0.5)
        assert conn.state == "open"
        conn.send_text("while it blocks")
        conn.close()
        assert conn.state == "closed" and conn.close_code == 1006
        [closed] = conn.transcript.filter(side="client", kind="closed")
        assert "TCP aborted" in (closed.detail or "")
    finally:
        release.set()
    wait_until(lambda: conn.transcript.filter(side="server", kind="websocket.receive"))
    assert conn.transcript.filter(side="server", kind="websocket.receive").events[0].data == "while it blocks"


def _opens_then_never_reads(peer: socket.socket, request: bytes) -> None:
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast: the client's writes back up
    peer.sendall(_101 % _accept_key(request) + _frame(1, b"before"))


def test_a_send_to_a_server_that_never_reads_ends_with_a_timeout_and_keeps_what_came(lying):
    """The caller's thread writes what the socket takes; the rest goes to the loop, and the send
    waits there: a server that never reads gets a Timeout after ``timeout`` (TCP aborted), and what
    came before stays queued."""
    conn = _open(lying(_opens_then_never_reads), shared=True, timeout=0.5, close_timeout=0.5, ping_interval=None)
    assert isinstance(conn._async, SharedConnection)
    assert conn.receive_text() == "before"
    with pytest.raises(wsbench.Timeout) as info:
        for _ in range(64):  # bounded: one 16 MiB send fills every buffer on the way
            conn.send_bytes(bytes(16 * 2**20))
    assert "not reading" in str(info.value)
    assert conn.state == "closed"
    [closed] = conn.transcript.filter(side="client", kind="closed")
    assert "TCP aborted" in (closed.detail or "")
    conn.close()  # closing the aborted connection does nothing


def test_ping_and_close_against_a_server_that_never_answers_are_bounded(lying):
    """ping() to a server that never reads times out and leaves the connection open; close() returns
    after close_timeout, the abort recorded."""
    conn = _open(lying(_opens_then_never_reads), shared=True, timeout=2, close_timeout=0.5, ping_interval=None)
    with pytest.raises(wsbench.Timeout, match="no pong"):
        conn.ping(timeout=0.3)
    assert conn.state == "open"
    conn.close()
    assert conn.state == "closed"
    [closed] = conn.transcript.filter(side="client", kind="closed")
    assert closed.code == 1006
    assert "no closing handshake within close_timeout 0.5 s: TCP aborted" in (closed.detail or "")


def test_the_loop_reads_a_bench_connection_in_reads_of_websockets_size(bench, monkeypatch):
    """The loop reads at most READ_SIZE bytes at once, as websockets' sync reader did: asyncio's
    256 KiB could hold 40,000 small compressed messages, all parsed and queued in one go (RSS 60 B
    a message at 3*10^5 pushed messages, against 33)."""
    from wsbench.client import shared

    sizes: list[int] = []
    received = shared.SharedConnection.data_received

    def counted(self: SharedConnection, data: bytes) -> None:
        sizes.append(len(data))
        received(self, data)

    monkeypatch.setattr(shared.SharedConnection, "data_received", counted)
    with bench.connect("/echo", max_size=None, compression=False) as conn:
        conn.send_bytes(bytes(4 * 2**20))  # its echo is in the kernel at once: the loop wrote it
        assert len(conn.receive_bytes()) == 4 * 2**20
    assert sizes and max(sizes) <= shared.READ_SIZE


def _opens_then_talks_nonsense(peer: socket.socket, request: bytes) -> None:
    peer.sendall(_101 % _accept_key(request) + _frame(1, b"fine") + b"\x8f\x00")  # opcode 15: reserved


def test_a_frame_that_breaks_the_protocol_right_after_the_response_ends_it_as_websockets_does(lying):
    """A reserved opcode in the same write as the 101: the client fails the connection with 1002 after
    delivering what came before it, and records the end as websockets' sync client does."""
    ends = []
    for shared in (False, True):
        conn = _open(lying(_opens_then_talks_nonsense), shared=shared, timeout=5, close_timeout=0.5)
        assert conn.receive_text() == "fine"
        conn.wait_closed(5)
        [closed] = conn.transcript.filter(side="client", kind="closed")
        ends.append((conn.close_code, closed.code, closed.by, (closed.detail or "").split(";")[0]))
    assert ends[1] == ends[0]
    assert ends[0][0] == 1002


def test_a_connection_the_loop_could_not_take_over_ends_and_nothing_waits_for_it(bench, monkeypatch):
    """If the loop cannot give the socket a transport after the handshake (it is closing), the
    connection ends there: a send already waiting on the loop for the transport raises
    ConnectionClosed instead of waiting for ever, and a receive says it is closed."""
    target = wsbench.loop.get_loop()
    go = threading.Event()

    async def refused(*args: Any, **kwargs: Any) -> Any:
        await asyncio.get_running_loop().run_in_executor(None, go.wait, 10 * TIMEOUT_SCALE)
        raise OSError("the loop is closing")

    monkeypatch.setattr(target, "create_connection", refused)
    conn = bench.connect("/echo", timeout=2, close_timeout=0.5)
    ws = conn._async
    assert isinstance(ws, SharedConnection)

    async def send_from_another_loop() -> None:
        sending = asyncio.ensure_future(conn.asend_text("x"))
        await asyncio.to_thread(wait_until, lambda: ws._attached._callbacks)  # it waits for the transport
        go.set()
        with pytest.raises(wsbench.ConnectionClosed):
            await asyncio.wait_for(sending, 10 * TIMEOUT_SCALE)

    asyncio.run(send_from_another_loop())
    monkeypatch.undo()
    conn.wait_closed(5)
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=1)
