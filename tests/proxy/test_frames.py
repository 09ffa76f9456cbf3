"""FrameCounter (wsbench.proxy.frames): pure, tested on bytes alone."""

from __future__ import annotations

import rawws

from wsbench.proxy import FrameCounter


def frame(payload: bytes, *, opcode: int = 1, mask: bool = False) -> bytes:
    """One WebSocket frame (RFC 6455 §5.2); only its length fields matter here."""
    return rawws.frame(opcode, payload, mask=mask)


RESPONSE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


def test_frame_counter_finds_each_frame_end():
    """Frame ends are found after the head, for 7-, 16- and 64-bit lengths, masked or not, and empty frames."""
    frames = [frame(b"hi"), frame(b"x" * 300, mask=True), frame(b"y" * 70000), frame(b"", opcode=9), frame(b"z")]
    stream = RESPONSE + b"".join(frames)
    counter = FrameCounter(response=True)
    ends = counter.feed(stream)
    expected, at = [], len(RESPONSE)
    for f in frames:
        at += len(f)
        expected.append(at)
    assert ends == expected
    assert counter.frames == 5 and counter.status == 101


def test_frame_counter_one_byte_at_a_time():
    """Fed a byte at a time, the counter finds the same frames."""
    stream = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + frame(b"a" * 200, mask=True) + frame(b"", opcode=8, mask=True)
    counter = FrameCounter(response=False)
    ends = [i + 1 for i in range(len(stream)) if counter.feed(stream[i : i + 1])]
    assert ends == [len(stream) - 6, len(stream)]


def test_frame_counter_stays_opaque_after_a_non_101_answer():
    """A 403 answer is not followed by frames: nothing is counted."""
    counter = FrameCounter(response=True)
    assert counter.feed(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n\x81\x00") == []
    assert counter.state == "opaque" and counter.status == 403


def test_frame_counter_gives_up_on_an_endless_head():
    """A head without an end within 64 KiB leaves the stream opaque."""
    counter = FrameCounter(response=False)
    counter.feed(b"x" * 70000)
    assert counter.state == "opaque"
    assert counter.feed(frame(b"a")) == []
