"""The pytest plugin: the ``wsbench_client`` and ``wsbench_bench`` fixtures.

Loaded into every pytest run of an environment where wsbench is installed (entry point
``pytest11``), so importing it loads pytest only: wsbench's client and server load when a
fixture is used. The live client the fixtures build is :mod:`wsbench.testing`'s.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .server import Bench
    from .testing import LiveClient

__all__ = ["wsbench_bench", "wsbench_client"]

_names = itertools.count(1)


@pytest.fixture
def wsbench_client() -> Iterator[Callable[..., LiveClient]]:
    """Factory: ``wsbench_client(app, **options)`` -> a :class:`~wsbench.testing.LiveClient` serving *app*, stopped
    after the test.

    Options: ``raise_server_exceptions``, ``root_path``, ``ws`` (uvicorn's WebSocket
    implementation), ``timeout``. Swap it in for ``TestClient(app)``::

        @pytest.fixture
        def client(wsbench_client):
            return wsbench_client(app)      # was: TestClient(app)
    """
    from .testing import LiveClient

    made: list[LiveClient] = []

    def make(app: Any, **options: Any) -> LiveClient:
        client = LiveClient(app, **options)
        made.append(client)
        return client

    yield make
    for client in reversed(made):
        client.close()


@pytest.fixture
def wsbench_bench() -> Iterator[Bench]:
    """A fresh :class:`~wsbench.Bench` with no endpoints (add them with ``@wsbench_bench.websocket``), stopped after."""
    from .server import Bench

    bench = Bench(name=f"wsbench.testing-bench-{os.getpid()}-{next(_names)}")
    try:
        yield bench
    finally:
        bench.stop()
