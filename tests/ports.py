"""Ports for what the suite starts, taken where no outgoing connection can take them first.

A port found by binding port 0 and closing it is an ephemeral one: until the server or kernel
meant for it binds it (a second or more later), any connect() of the machine may be given it as its
local port, and the suite makes many (a thousand at once in test_load, Locust swarms hundreds a
second). The server then fails to bind, or the kernel dies (jupyter_client #487: seen twice in ten
runs with four workers). Linux never gives a connect() a port below its ephemeral range, so the
ports here come from there, checked free by binding: kernels from one half, servers from the other,
each xdist worker from a slice of its own.

Imported by the root conftest (kernels nbval and the tests start), tests/conftest.py
(``free_port``), and the config a test's Jupyter server runs (its kernels).
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Container

__all__ = ["free_port", "kernel_ports_below_the_ephemeral_range"]

_RANGES = "/proc/sys/net/ipv4/ip_local_port_range"
_draw = random.Random(os.getpid()).randrange  # processes of one run draw different sequences


def _below_ephemeral(part: int) -> tuple[int, int] | None:
    """(first, past last) of the ports below Linux's ephemeral range used here, or None (not Linux,
    or too few ports there): its lower half for kernels (*part* 0), its upper half for the servers
    of tests (1), so that a server never binds a port a kernel was just given, nor the reverse."""
    try:
        with open(_RANGES) as ranges:
            ephemeral_low = int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    low = max(1024, min(20000, ephemeral_low - 4096))
    if ephemeral_low - low < 2000:
        return None
    middle = (low + ephemeral_low) // 2
    first, last = (low, middle) if part == 0 else (middle, ephemeral_low)
    # Each xdist worker (and what it starts: the environment passes on) draws from a slice of its
    # own: two workers' kernels drew the same port between one's check and its kernel's bind
    # ("Address already in use", twice in a fresh-clone run).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker) % workers if worker.isdigit() and workers > 0 else 0
    size = (last - first) // max(workers, 1)
    return first + index * size, first + (index + 1) * size


def _free_below(ip: str, part: int, taken: Container[int] = ()) -> int | None:
    """A port on *ip* in *part* of the range below the ephemeral one that binds now and is not in
    *taken*; None where there is no such range."""
    span = _below_ephemeral(part)
    if span is None:
        return None
    for _ in range(1000):
        port = _draw(*span)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((ip, port))
            except OSError:  # in use: another draw
                continue
        return port
    raise RuntimeError(f"no free port in {span[0]}-{span[1] - 1} after 1,000 draws")


def free_port(ip: str = "127.0.0.1") -> int:
    """A port on *ip* that nothing listens on, for a server a test starts next."""
    port = _free_below(ip, 1)
    if port is not None:
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # elsewhere: the system's choice
        sock.bind((ip, 0))
        return int(sock.getsockname()[1])


def kernel_ports_below_the_ephemeral_range() -> None:
    """Kernels this process starts take their five ports from :func:`free_port`'s range
    (jupyter_client's port cache, which its kernel managers use for local kernels)."""
    if _below_ephemeral(0) is None:
        return
    try:
        from jupyter_client.connect import LocalPortCache
    except ImportError:  # no Jupyter here
        return

    def find_available_port(self: LocalPortCache, ip: str) -> int:
        port = _free_below(ip, 0, self.currently_used_ports)
        assert port is not None
        self.currently_used_ports.add(port)
        return port

    LocalPortCache.find_available_port = find_available_port  # type: ignore[method-assign]
