"""Who noticed what (wsbench.proxy.report): FaultProxy.report() rows and the timeline drawn from them."""

from __future__ import annotations

import pytest

import wsbench

pytest_plugins = ["proxy_fixtures"]  # make_proxy, proxy


def cut_after_one_echo(proxy) -> wsbench.Connection:
    """A connection whose first echo is the last frame before a cut toward the client."""
    proxy.cut(after_frames=1, direction="to_client")
    conn = proxy.connect("/echo")
    conn.send_text("a")
    assert conn.receive_text(timeout=5) == "a"
    with pytest.raises(wsbench.ConnectionClosed):
        conn.receive_text(timeout=5)
    conn.wait_endpoint(5)
    return conn


def test_report_says_how_long_each_side_took_to_notice(proxy):
    """report(): the cut, what the client and the server saw, and a number of seconds after it for each."""
    cut_after_one_echo(proxy)
    (row,) = proxy.report()
    assert row["conn"] == 1
    assert row["fault"].startswith("cut: after 1 frame (to_client)")
    assert row["client"].startswith("closed 1006")
    assert row["server"].startswith("websocket.disconnect")
    assert isinstance(row["client_after"], float) and isinstance(row["server_after"], float)


def test_timeline_draws_a_proxy_lane_and_how_long_each_side_took(proxy):
    """proxy.timeline(): a proxy lane, and "ms after cut" beside the client's and the server's notice."""
    pytest.importorskip("ipywidgets")
    cut_after_one_echo(proxy)
    timeline = proxy.timeline(live=False)
    html = timeline.to_html()
    timeline.close()
    assert ">proxy</text>" in html
    assert html.count("ms after cut</tspan>") == 2  # a label beside the client's and the server's notice
