"""Text that is safe to print to a terminal: the one escaping function of every line wsbench
prints (:func:`printable`), and the one way every view shows a payload in a line (:func:`preview`).

A peer chooses paths, queries, close reasons, subprotocols and payloads; printed raw, a newline
forges a line and ESC or BEL write colours or a window title into the reader's terminal.
"""

from __future__ import annotations

__all__ = ["cut", "preview", "printable"]


def printable(text: str) -> str:
    """*text* with each character that is not printable (C0 and C1 controls such as ESC, newline
    and BEL, DEL, bidirectional overrides, line separators) written as a Python repr writes it
    (``\\n``, ``\\x1b``, ``\\u202e``), the rest as it is."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def cut(text: str, width: int) -> str:
    """*text* :func:`printable`, and past *width* characters cut, ending in "…"."""
    text = printable(text)
    return text if len(text) <= width else text[:width] + "…"


def preview(data: str | bytes | bytearray | memoryview | None, width: int) -> str:
    """A payload as every view of an event shows it in one line: ``text 'hi'``,
    ``bytes b'\\x00\\xff' (2 bytes)``; "" for none.

    The repr of its first *width* characters (bytes), so control characters are escaped
    (:func:`printable`), followed by "…" when the payload is longer; a repr that escapes made
    longer than the payload (a byte may take 4 characters) is cut too, so the line stays short.

    *width* is the view's: the transcript's text lines 72 (a line of a checked text file, with the
    ASGI states beside it), ``wsbench serve``'s log 60 (each line also carries the connection's
    number and path), a replay's diff 200 (a diff shows where two payloads differ, which may be far
    in). The widgets draw bytes as hex and text unquoted in the room a picture has, through :func:`cut`.
    """
    if data is None:
        return ""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    shown = repr(data[:width])
    if len(shown) > width + 3:  # escapes made it longer (quotes and b take 3)
        shown = shown[: width + 3] + "…"
    elif len(data) > width:
        shown += "…"
    if isinstance(data, bytes):
        return f"bytes {shown} ({len(data)} bytes)"
    return f"text {shown}"
