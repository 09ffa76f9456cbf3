"""One way every view shows a payload and a URL (issue 22, item 2: one home per idea):
``wsbench._text.preview`` and ``cut`` for payloads, ``wsbench._net.loopback_path`` for what a view
keeps of a loopback URL, ``wsbench.server.route_path`` for the path below root_path."""

from __future__ import annotations

import pytest

from wsbench._net import loopback_path
from wsbench._text import cut, preview
from wsbench.replay import _payload
from wsbench.secrets import display_url
from wsbench.server import request_path, route_path
from wsbench.transcript import Event
from wsbench.widgets._render import log_line
from wsbench.widgets._svg import timeline_html


def test_preview_is_the_repr_cut_at_the_width_with_the_size_of_bytes():
    assert preview("hi", 72) == "text 'hi'"
    assert preview("x" * 80, 72) == f"text '{'x' * 72}'…"
    assert preview(b"\x00\xff", 72) == r"bytes b'\x00\xff' (2 bytes)"
    assert preview(bytearray(b"ab"), 72) == "bytes b'ab' (2 bytes)"
    assert preview(None, 72) == ""


def test_a_preview_stays_short_when_escapes_make_the_repr_long():
    """72 zero bytes are a 291-character repr: the line is cut near the width all the same."""
    shown = preview(b"\x00" * 72, 72)
    assert shown.startswith("bytes b'\\x00") and shown.endswith("… (72 bytes)")
    assert len(shown) <= len("bytes ") + 72 + 3 + len("… (72 bytes)")
    assert len(Event(1, 0.0, "client", "send", data=b"\x00" * 500).text()) < 120


@pytest.mark.parametrize("payload", ["\x1b[31mred\x07", "a\nforged line", "\u202eevil", "\x85next"])
def test_every_view_of_a_payload_escapes_control_characters(payload):
    event = Event(1, 0.0, "client", "send", data=payload)
    views = [
        preview(payload, 60),
        event.text(),
        _payload(payload),  # a replay's diff line
        log_line(event, 0.0).text,  # the panel's log_lines()
        _picture(timeline_html([event])),
    ]
    for shown in views:
        assert payload not in shown
        assert not any(char in shown for char in "\x1b\x07\n\u202e\x85" if char in payload), shown


def _picture(html: str) -> str:
    """The SVG of a timeline's HTML (its style sheet has newlines of its own)."""
    return html[html.index("<svg") : html.rindex("</svg>")]


def test_cut_escapes_then_cuts():
    assert cut("a\nb", 10) == "a\\nb"
    assert cut("abcdef", 3) == "abc…"


def test_loopback_path_keeps_only_the_path_of_a_loopback_url():
    assert loopback_path("ws://127.0.0.1:5555/echo?x=1") == "/echo?x=1"
    assert loopback_path("ws://[::1]:5555/echo") == "/echo"
    assert loopback_path("ws://localhost:5555/") == "/"
    assert loopback_path("wss://example.org/feed") == "wss://example.org/feed"
    assert loopback_path("ws://[::1") == "ws://[::1"  # no URL urllib can split: as written


def test_a_host_that_only_starts_like_loopback_is_shown():
    """127.example.org is a name, not a loopback address: a view keeps it (the widgets took it for loopback)."""
    url = "ws://127.example.org:8000/feed"
    assert loopback_path(url) == url
    connect = Event(1, 0.0, "client", "connect", conn=1, data=url)
    assert "127.example.org" in log_line(connect, 0.0).text
    assert "#1 ws://127.example.org:8000/feed" in timeline_html([connect])


def test_display_url_is_loopback_path_masked():
    """secrets.display_url is the one masking display of a URL; loopback_path masks nothing."""
    url = "ws://127.0.0.1:5555/echo?token=sesame"
    assert display_url(url) == "/echo?token=***"
    assert loopback_path(url) == "/echo?token=sesame"


@pytest.mark.parametrize(
    ("path", "root", "below"),
    [
        ("/api/echo", "/api", "/echo"),
        ("/api", "/api", ""),
        ("/apiary", "/api", "/apiary"),  # not under /api: the old server copy made it "ary"
        ("/echo", "", "/echo"),
    ],
)
def test_route_path_reads_root_path_as_starlette_does(path, root, below):
    assert route_path({"path": path, "root_path": root}) == below


def test_request_path_adds_the_query_and_never_is_empty():
    assert request_path({"path": "/api", "root_path": "/api", "query_string": b"a=1"}) == "/?a=1"
    assert request_path({"path": "/api/echo", "root_path": "/api", "query_string": b""}) == "/echo"
