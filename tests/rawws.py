"""RFC 6455 by hand, for the tests' raw peers: frames, close payloads and the opening handshake.

The one copy of the wire format the suite writes itself (test_bad_inputs, test_faults, the hostile
peers and the proxy's frame counter use it), so a lying server or client is a few lines.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable

__all__ = [
    "GUID",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "accept_value",
    "close_payload",
    "frame",
    "read_frame",
    "request_headers",
    "switching",
    "unmask",
    "upgrade_request",
]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
KEY = b"\x01\x02\x03\x04"  # a fixed masking key: the tests compare bytes


def unmask(key: bytes, payload: bytes) -> bytes:
    """*payload* XOR the 4-byte *key* (masking and unmasking are the same operation)."""
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = False, key: bytes = KEY
) -> bytes:
    """One frame of any length, unmasked as a server writes it, or masked with *key* as a client must."""
    length = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    masked = 0x80 if mask else 0
    if length < 126:
        head += bytes([masked | length])
    elif length < 1 << 16:
        head += bytes([masked | 126]) + struct.pack("!H", length)
    else:
        head += bytes([masked | 127]) + struct.pack("!Q", length)
    return head + key + unmask(key, payload) if mask else head + payload


def read_frame(take: Callable[[int], bytes]) -> tuple[int, bytes]:
    """One frame, read with *take(n)* (exactly n bytes or an error): (opcode, unmasked payload)."""
    first, second = take(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", take(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", take(8))[0]
    key = take(4) if second & 0x80 else b"\0\0\0\0"
    return first & 0x0F, unmask(key, take(length))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """The payload of a close frame."""
    return struct.pack("!H", code) + reason


def accept_value(key: str) -> str:
    """The Sec-WebSocket-Accept answer to the client's Sec-WebSocket-Key *key*."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def switching(key: str, extra: str = "") -> bytes:
    """A 101 response accepting *key*, plus *extra* header lines (each ending in CRLF)."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_value(key)}\r\n{extra}\r\n"
    ).encode()


def upgrade_request(host: str, path: str, key: str) -> bytes:
    """A client's opening handshake for *path* on *host* with *key*."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def request_headers(head: bytes) -> dict[str, str]:
    """The headers of an HTTP head (request line dropped), names lower-cased."""
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
    return {
        name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines if ":" in line)
    }
