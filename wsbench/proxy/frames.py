"""Counting WebSocket frames in one direction of a TCP byte stream: bytes in, frame ends out.

Pure (no socket, no loop), so the fault model's "cut after N frames" can be tested on bytes alone.
"""

from __future__ import annotations

import struct

__all__ = ["FrameCounter"]

_HEAD_LIMIT = 65536  # an HTTP head longer than this is not a WebSocket upgrade: stop parsing


class FrameCounter:
    """Counts WebSocket frames in one direction of a TCP byte stream (pure: bytes in, offsets out).

    The stream starts with an HTTP head (request or response) ended by an empty line; after a
    ``101`` answer (or any request) come frames. Only headers are read: byte 1's mask bit and
    7-bit length, the 16- or 64-bit extended length, the 4-byte masking key; the payload is
    skipped, never decoded. A head longer than 64 KiB, a non-101 response, or ``opaque=True``
    (a TLS stream) leaves the stream opaque: nothing more is counted.
    """

    def __init__(self, *, response: bool, opaque: bool = False) -> None:
        self.response = response
        self.state = "opaque" if opaque else "http"  #: "http", "frames" or "opaque"
        self.status: int | None = None  #: the response's status code, once read
        self.frames = 0  #: frames completed so far
        self._head = bytearray()
        self._header = bytearray()
        self._need = 2  # header bytes needed for the frame being read
        self._payload = 0  # payload bytes still to skip

    def feed(self, data: bytes) -> list[int]:
        """Offsets in *data* just past the last byte of each frame that ends in it."""
        start = 0
        if self.state == "http":
            start = self._read_head(data)
            if start < 0:
                return []
        if self.state != "frames":
            return []
        ends: list[int] = []
        i, n = start, len(data)
        while i < n:
            if self._payload:
                step = min(self._payload, n - i)
                i += step
                self._payload -= step
                if not self._payload:
                    ends.append(i)
                    self.frames += 1
                continue
            step = min(self._need - len(self._header), n - i)
            self._header += data[i : i + step]
            i += step
            if len(self._header) < self._need:
                break
            if len(self._header) == 2:  # the first two bytes say how long the header is
                length7, masked = self._header[1] & 0x7F, self._header[1] & 0x80
                self._need = 2 + {126: 2, 127: 8}.get(length7, 0) + (4 if masked else 0)
                if self._need > 2:
                    continue
            self._payload = self._length()
            self._header.clear()
            self._need = 2
            if not self._payload:
                ends.append(i)
                self.frames += 1
        return ends

    def _length(self) -> int:
        length7 = self._header[1] & 0x7F
        if length7 == 126:
            return int(struct.unpack("!H", self._header[2:4])[0])
        if length7 == 127:
            return int(struct.unpack("!Q", self._header[2:10])[0])
        return length7

    def _read_head(self, data: bytes) -> int:
        """Offset in *data* where the frames start, or -1 while the head goes on."""
        before = len(self._head)
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > _HEAD_LIMIT:
                self.state, self._head = "opaque", bytearray()
            return -1
        head, self._head = bytes(self._head[:end]), bytearray()
        if self.response:
            parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            if self.status != 101:
                self.state = "opaque"
                return -1
        self.state = "frames"
        return end + 4 - before
