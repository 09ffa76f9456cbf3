"""Handshake failures name the cause websockets saw (a header line too long, too many headers, a
status line that is not HTTP, a body too large), at once, while the server keeps TCP open; a
Timeout is left for real silence."""

from __future__ import annotations

import asyncio
import re

import pytest
from peers import MiB, Peer, answer, finishes, huge_body

import wsbench

CASES = [
    (
        "1 MiB header",
        answer(b"HTTP/1.1 101 Switching Protocols\r\nX-Big: " + b"a" * MiB + b"\r\n\r\n"),
        # websockets 17 says how long a line may be; 16 says only that it was too long
        r"expected no more than 8192 bytes|line too long",
    ),
    ("garbage status line", answer(b"SSH-2.0-OpenSSH_9.0\r\n\r\n"), r"invalid HTTP status line: SSH-2\.0-OpenSSH_9\.0"),
    ("100 MB 401 body", huge_body("401 Unauthorized", 100 * MiB), r"body too large: 104857600 bytes"),
    (
        "300 headers",
        answer(b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-A: b\r\n" * 300 + b"\r\n"),
        r"expected no more than 128 headers|too many HTTP headers",
    ),
]


@pytest.mark.parametrize(("script", "cause"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_handshake_failure_names_the_cause(script, cause):
    """A response websockets cannot parse: ConnectError naming why, not "no handshake response within"."""
    with Peer(script) as peer:
        conn = wsbench.Connection(peer.url, open_timeout=15)
        with pytest.raises(wsbench.ConnectError) as info:
            finishes(conn.open)
    assert not isinstance(info.value, wsbench.Timeout)
    assert "did not receive a valid HTTP response" in str(info.value)
    assert re.search(cause, str(info.value)), str(info.value)
    assert conn.state == "closed"
    assert conn.transcript[-1].kind == "error"


@pytest.mark.parametrize(("script", "cause"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_async_handshake_failure_names_the_cause(script, cause):
    """aconnect(): the same responses give the same ConnectError naming the cause."""
    with Peer(script) as peer:
        with pytest.raises(wsbench.ConnectError) as info:
            finishes(lambda: asyncio.run(wsbench.aconnect(peer.url, open_timeout=15)))
    assert not isinstance(info.value, wsbench.Timeout)
    assert re.search(cause, str(info.value)), str(info.value)


def test_a_long_cause_is_shortened():
    """A status line of 8000 characters is named, shortened: the server's bytes do not flood the message."""
    with Peer(answer(b"X" * 8000 + b"\r\n\r\n")) as peer:
        with pytest.raises(wsbench.ConnectError) as info:
            finishes(lambda: wsbench.connect(peer.url, open_timeout=15))
    assert "invalid HTTP status line" in str(info.value)
    assert len(str(info.value)) < 400
