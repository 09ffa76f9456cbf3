"""Text that is safe to print to a terminal: the one escaping function of every line wsbench prints.

A peer chooses paths, queries, close reasons, subprotocols and payloads; printed raw, a newline
forges a line and ESC or BEL write colours or a window title into the reader's terminal.
"""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: str) -> str:
    """*text* with each character that is not printable (C0 and C1 controls such as ESC, newline
    and BEL, DEL, bidirectional overrides, line separators) written as a Python repr writes it
    (``\\n``, ``\\x1b``, ``\\u202e``), the rest as it is."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
