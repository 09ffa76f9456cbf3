"""The suite's parts: every name in the slow list is a real test, and the markers select what they say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import SLOW

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(SLOW))
def test_slow_list_names_real_tests(name: str) -> None:
    """A slow test that was renamed or removed must leave the list too (else make check grows slow)."""
    path, _, function = name.partition("::")
    assert (ROOT / path).is_file(), f"{path} does not exist"
    if function:
        assert f"\ndef {function}(" in (ROOT / path).read_text(), f"{name}: no such test"


def test_longest_first_names_real_files() -> None:
    """The root conftest's run order names files that exist (a renamed one would silently go back
    to its place in the alphabet, and could again start last)."""
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    missing = [path for path in root.LONGEST_FIRST if not (ROOT / path).is_file()]
    assert not missing and len(set(root.LONGEST_FIRST)) == len(root.LONGEST_FIRST), missing


def test_kernels_of_the_suite_take_ports_below_the_ephemeral_range() -> None:
    """The root conftest gives kernels ports an outgoing connection is never handed (on Linux)."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if not ranges.exists():
        pytest.skip("not Linux: the ports come from jupyter_client as they are")
    from jupyter_client.connect import LocalPortCache

    cache = LocalPortCache.instance()
    ports = [cache.find_available_port("127.0.0.1") for _ in range(5)]
    for port in ports:
        cache.return_port(port)
    assert len(set(ports)) == 5 and all(port < int(ranges.read_text().split()[0]) for port in ports), ports
