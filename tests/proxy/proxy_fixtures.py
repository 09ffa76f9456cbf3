"""Fixtures and helpers the proxy tests share (a test module imports the fixtures it uses).

Kept here rather than in a ``conftest.py``: tests/proxy has no ``__init__.py``, and a second
module named ``conftest`` would shadow the suite's own (``from conftest import wait_until``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import wsbench
from wsbench.proxy import FaultProxy
from wsbench.transcript import Transcript

__all__ = ["ProxyFactory", "held", "kinds", "make_proxy", "proxy"]

ProxyFactory = Callable[..., FaultProxy]


@pytest.fixture
def make_proxy(request: pytest.FixtureRequest) -> Iterator[ProxyFactory]:
    """Factory: ``make_proxy(target, **options)`` -> a running FaultProxy with a name unique to the test."""
    made: list[FaultProxy] = []

    def make(target: object, **options: object) -> FaultProxy:
        options.setdefault("name", f"{request.node.nodeid}-{len(made)}")
        proxy = FaultProxy(target, **options)  # type: ignore[arg-type]
        made.append(proxy)
        return proxy

    yield make
    for proxy in reversed(made):
        proxy.stop()


@pytest.fixture
def proxy(bench: wsbench.Bench, make_proxy: ProxyFactory) -> FaultProxy:
    """A FaultProxy in front of the test bench."""
    return make_proxy(bench)


def kinds(transcript: Transcript, side: str) -> list[str]:
    """The kinds of *side*'s events in *transcript*, in order."""
    return [e.kind for e in transcript if e.side == side]


def held(proxy: FaultProxy, direction: str) -> int:
    """Bytes the proxy has read in *direction* and not forwarded yet, over its live connections:
    the marker that a fault holds what it read (looks into the data plane, :mod:`wsbench.proxy.link`)."""
    with proxy._plane.idle.lock:  # links come and go on the loop thread under this lock
        links = list(proxy._plane.links)
    return sum(pipe.queued for link in links for pipe in link.pipes if pipe.direction == direction)
