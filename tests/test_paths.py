"""One check of a path (wsbench._paths): every entry point that takes a path gives the same mistake the
same words, as InvalidPath."""

from __future__ import annotations

import pytest

import wsbench
from wsbench._jupyter import browser_url

#: Each entry point that takes a path, called with *path* on a running bench.
ENTRY_POINTS = {
    "Bench.websocket": lambda bench, path: bench.websocket(path),
    "Bench.browser_connect": lambda bench, path: bench.browser_connect(path),
    "browser_url": lambda bench, path: browser_url(bench.port, path),
    "Bench.url_for": lambda bench, path: bench.url_for(path),
    "Bench.connect": lambda bench, path: bench.connect(path),
}

#: Paths every entry point refuses, and the words that say why.
BAD_PATHS = [
    (b"/echo", "must be a str, got bytes"),
    ("echo", "must start with '/', got 'echo' (try '/echo')"),
    ("", "must start with '/', got ''"),
    ("ws://127.0.0.1:8765/echo", "(give the path only: '/echo')"),
    ("/my echo", "holds a space at position 3; percent-encode it (%20) first"),
    ("/echo\x00", "holds the control character '\\x00' at position 5; percent-encode it (%00) first"),
]


def _message(call, bench, path) -> str:
    with pytest.raises(wsbench.InvalidPath) as raised:
        call(bench, path)
    return str(raised.value)


@pytest.mark.parametrize(("path", "words"), BAD_PATHS, ids=[repr(path) for path, _ in BAD_PATHS])
def test_every_entry_point_gives_a_bad_path_the_same_message(bench, path, words):
    """The same message from each (an endpoint's path is called "endpoint path"), naming the problem."""
    messages = {name: _message(call, bench, path) for name, call in ENTRY_POINTS.items()}
    assert words in messages["browser_url"]
    assert messages["Bench.websocket"] == "endpoint " + messages["browser_url"]
    assert {name: m for name, m in messages.items() if name != "Bench.websocket"} == dict.fromkeys(
        [name for name in ENTRY_POINTS if name != "Bench.websocket"], messages["browser_url"]
    )


def test_a_route_parameter_is_an_endpoint_path_but_not_a_path_to_open(bench):
    """``{param}`` is a route's template when registering, and a value not filled in when connecting."""
    bench.websocket("/items/{item}")(lambda websocket: None)
    with pytest.raises(wsbench.InvalidPath, match="a route's path parameter: put the value in its place"):
        bench.url_for("/items/{item}")
    assert bench.url_for("/items/7?q={x}").endswith("/items/7?q={x}")  # braces in a query are data


def test_a_fragment_is_refused_where_a_page_or_route_would_take_it(bench):
    """'#' starts a fragment: refused when registering or opening in a page; a client connecting records the
    URL (masked) and refuses it (tests/test_secret_planting.py), so url_for lets it through."""
    words = "'/echo#top' holds '#', which starts a URL's fragment (never sent to a server)"
    assert _message(ENTRY_POINTS["Bench.websocket"], bench, "/echo#top") == "endpoint path " + words
    assert _message(ENTRY_POINTS["Bench.browser_connect"], bench, "/echo#top") == "path " + words
    assert _message(ENTRY_POINTS["browser_url"], bench, "/echo#top") == "path " + words
    assert bench.url_for("/echo#top").endswith("/echo#top")


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_a_secret_in_a_bad_path_stays_out_of_the_message(bench, name):
    """The message shows the path as every view does: a token in its query masked."""
    secret = "Zq8vN3xKp2LmW7rT"
    message = _message(ENTRY_POINTS[name], bench, f"echo?access_token={secret}")
    assert secret not in message and "access_token=***" in message
