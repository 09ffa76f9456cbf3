"""What other designs of the sync client would give: benchmarks/echo.py's sync 256 B echo against
the raw ``websockets.sync`` client, for wsbench as shipped and for three designs that are not.

A diagnostic, not a target, and not the product: the designs below reach into wsbench internals
and skip what the product needs (bounded writes, flow control, the thread safety of a protocol
shared by two threads), to say how far each could go before anyone builds it. Cases, each a
median of alternating pairs (as echo.py): the rate ratio and the CPU ratio, raw / wsbench.
  * as shipped: since the "Eighth look" (benchmarks/README.md), a bench's sync connection is
    read by the bench's loop and written by the caller's thread (wsbench.client.shared); before,
    websockets' sync connection, its reader thread handing messages to the inbox;
  * read by the bench's loop, bare: no reader thread; the bench's loop reads the socket
    (``add_reader``) into websockets' sans-I/O protocol and a queue, the caller writes: no
    recording, no inbox (what the thread hop alone costs the raw client);
  * aconnect on the bench's loop, written by the caller: a wsbench connection living on the
    bench's loop (reader, recording, inbox as shipped) whose sends the caller's thread writes
    straight into its transport (unsafe beside the loop's own writes: a diagnostic only);
  * aconnect on the bench's loop, written by the loop: the same, each send handed to the loop and
    waited for (safe, and what using an aconnect() connection from sync code comes to).

Run: .venv/bin/python benchmarks/sync_designs.py [--rounds N] [--runs N]
"""

from __future__ import annotations

import _thread
import argparse
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import echo
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.uri import parse_uri

import wsbench
from wsbench import loop
from wsbench.transcript import record_message

PAYLOAD = "x" * 256


def loop_read_bare(url: str, n: int) -> float:
    """Round trips/s of a client whose socket the bench's loop reads (no recording, no inbox)."""
    uri = parse_uri(url)
    sock = socket.create_connection((uri.host, uri.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    protocol = ClientProtocol(uri, max_size=None)
    protocol.send_request(protocol.connect())
    for data in protocol.data_to_send():
        sock.sendall(data)
    for _ in range(100):  # the handshake response: a few reads at most
        protocol.receive_data(sock.recv(65536))
        if protocol.events_received():
            break
    sock.setblocking(False)
    lock, arrived = threading.Lock(), queue.SimpleQueue[str]()

    def readable() -> None:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        with lock:
            protocol.receive_data(data)
            events = protocol.events_received()
        for event in events:
            if event.opcode is Opcode.TEXT:
                arrived.put(event.data.decode())

    bench_loop = loop.get_loop()
    added = threading.Event()
    bench_loop.call_soon_threadsafe(lambda: (bench_loop.add_reader(sock.fileno(), readable), added.set()))
    added.wait(10)
    try:
        start = time.perf_counter()
        for _ in range(n):
            with lock:
                protocol.send_text(PAYLOAD.encode())
                for data in protocol.data_to_send():
                    sock.sendall(data)
            arrived.get(timeout=10)
        return n / (time.perf_counter() - start)
    finally:
        removed = threading.Event()
        bench_loop.call_soon_threadsafe(lambda: (bench_loop.remove_reader(sock.fileno()), removed.set()))
        removed.wait(10)
        sock.close()


def on_the_loop(bench: wsbench.Bench, n: int, *, written_by_caller: bool) -> float:
    """Round trips/s of an aconnect() connection living on the bench's loop, used from this thread."""
    conn = loop.run(bench.aconnect("/echo", max_size=None), timeout=10, what="sync_designs")
    ws, bench_loop = conn._async, loop.get_loop()
    assert ws is not None
    sink, key, name = conn._sink, conn._key, conn.name
    assert sink is not None

    def by_caller(text: str) -> None:
        record_message(sink, "client", "send", key, text, name)
        ws.protocol.send_text(text.encode())
        for data in ws.protocol.data_to_send():
            ws.transport.write(data)

    def by_loop(text: str) -> None:
        done = _thread.allocate_lock()
        done.acquire()

        def send() -> None:
            try:
                by_caller(text)
            finally:
                done.release()

        bench_loop.call_soon_threadsafe(send)
        done.acquire(True, 10)

    send = by_caller if written_by_caller else by_loop
    try:
        start = time.perf_counter()
        for _ in range(n):
            send(PAYLOAD)
            conn.receive_text()
        return n / (time.perf_counter() - start)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000, help="round trips per measurement (256 B)")
    parser.add_argument("--runs", type=int, default=9, help="alternating measurements per case")
    args = parser.parse_args()
    bench = echo.make_bench()
    url = bench.url + "/echo"
    cases: dict[str, Callable[[], Any]] = {
        "as shipped": lambda: echo.wsbench_sync(bench, PAYLOAD, args.rounds),
        "read by the bench's loop, bare": lambda: loop_read_bare(url, args.rounds),
        "aconnect on the loop, caller writes": lambda: on_the_loop(bench, args.rounds, written_by_caller=True),
        "aconnect on the loop, loop writes": lambda: on_the_loop(bench, args.rounds, written_by_caller=False),
    }
    print(f"{'case (sync 256 B echo)':<40}{'ratio':>8}{'cpu':>6}")
    for case, ours in cases.items():
        _, _, ratio, cpu = echo.paired(args.runs, lambda: echo.raw_sync(url, PAYLOAD, args.rounds), ours)
        print(f"{case:<40}{ratio:>8.2f}{cpu:>6.2f}", flush=True)
    bench.stop()
    print(f"(medians of {args.runs} alternating pairs against websockets.sync, on the same bench)")


if __name__ == "__main__":
    main()
