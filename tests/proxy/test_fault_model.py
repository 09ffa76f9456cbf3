"""The fault model (wsbench.proxy.faults): what a setter accepts, and how the faults in force read."""

from __future__ import annotations

import pytest

from wsbench.proxy.faults import Cut, Faults

pytest_plugins = ["proxy_fixtures"]  # make_proxy, proxy


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda p: p.latency(-1), "latency must be 0 or more"),
        (lambda p: p.latency(float("inf")), "latency must be finite"),
        (lambda p: p.latency("1"), "latency must be a number"),
        (lambda p: p.bandwidth(0), "bandwidth must be more than 0"),
        (lambda p: p.bandwidth(-5), "bandwidth must be more than 0"),
        (lambda p: p.latency(1, direction="up"), "direction must be one of"),
        (lambda p: p.half_open(direction="sideways"), "direction must be one of"),
        (lambda p: p.cut(after_bytes=1, after_frames=1), "not both"),
        (lambda p: p.cut(after_frames=-1), "whole number"),
        (lambda p: p.cut(after_bytes=1.5), "whole number"),
        (lambda p: p.cut(after_bytes=True), "whole number"),
        (lambda p: p.slow_reader(0), "slow_reader must be more than 0"),
    ],
)
def test_bad_fault_arguments_raise_value_error(proxy, call, says):
    """Bad fault arguments raise ValueError naming the problem; nothing changes."""
    with pytest.raises(ValueError, match=says):
        call(proxy)
    assert proxy.faults == []


def test_repr_and_faults_hold_no_port(proxy):
    """repr and the fault list name the target and the faults, never a port."""
    proxy.latency(0.25)
    proxy.bandwidth(1000, direction="to_server")
    assert proxy.faults == ["latency 0.25 s each way", "bandwidth 1000 B/s (to_server)"]
    assert str(proxy.port) not in repr(proxy)
    assert "latency 0.25 s each way" in repr(proxy)
    proxy.clear()
    assert proxy.faults == []


def test_fault_lines_in_a_fixed_order():
    """Faults.lines(): latency, bandwidth, slow reader, half-open, cut; equal directions read "each way"."""
    faults = Faults(slow_reader=500.0, half_open={"to_client"}, cut=Cut("frames", 1, "both"))
    faults.latency["to_server"] = faults.latency["to_client"] = 0.5
    faults.bandwidth["to_client"] = 2000.0
    assert faults.lines() == [
        ("fault", "latency 0.5 s each way"),
        ("fault", "bandwidth 2000 B/s (to_client)"),
        ("fault", "slow reader 500 B/s (reads from the server)"),
        ("half-open", "stop forwarding (to_client)"),
        ("fault", "cut after 1 frame (either way)"),
    ]
    assert Faults().lines() == []
