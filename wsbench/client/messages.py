"""The rules of a message, shared by every client wsbench has (Connection, the pytest
plugin's session): what may be sent, how JSON is written and read, and the errors that
say what to do when a message is not what the caller asked for.

Pure: no I/O, no third-party imports.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidJSON, UnsendableText, WrongMessageType

__all__ = [
    "Message",
    "check_encodable",
    "encode_json",
    "json_kind",
    "kind_of",
    "parse_json",
    "require",
    "wrong_type",
]

Message = str | bytes


def kind_of(message: Message) -> str:
    """ "text" or "bytes": the ``receive_<kind>()`` that takes *message*."""
    return "text" if isinstance(message, str) else "bytes"


def check_encodable(message: Message, what: str) -> None:
    """Text must encode as UTF-8; a lone surrogate would fail deep inside websockets' send()."""
    if isinstance(message, str) and not message.isascii():
        try:
            message.encode()
        except UnicodeEncodeError as exc:
            raise UnsendableText(
                f"{what}: the text holds a lone surrogate {message[exc.start]!r} at position {exc.start}, "
                "which UTF-8 cannot encode; nothing was sent"
            ) from None


def require(data: Any, kinds: type | tuple[type, ...], method: str, other: str) -> Any:
    """*data* if it is of *kinds*; else a TypeError naming the *other* method that takes it."""
    if not isinstance(data, kinds):
        raise TypeError(
            f"{method}() takes {'str' if kinds is str else 'bytes'}, not {type(data).__name__}; "
            f"{'use ' + other + '()' if isinstance(data, (str, bytes)) else 'convert it first'}"
        )
    return data


def encode_json(data: Any, mode: str) -> Message:
    """Compact JSON as Starlette's ``send_json`` writes it: text, or UTF-8 bytes for ``mode="binary"``."""
    kind = json_kind(mode)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text if kind is str else text.encode("utf-8")


def json_kind(mode: str) -> type:
    """str for ``mode="text"``, bytes for ``"binary"``; ValueError for anything else."""
    if mode not in ("text", "binary"):
        raise ValueError(f'mode must be "text" or "binary", not {mode!r}')
    return str if mode == "text" else bytes


def parse_json(message: Message) -> Any:
    """*message* parsed as JSON; InvalidJSON (the message stays queued) if it is not."""
    try:
        return json.loads(message)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSON(
            f"receive_json: the message is not JSON ({exc}); it starts {message[:40]!r} and stays "
            f"queued: take it with receive_{kind_of(message)}()"
        ) from None


def wrong_type(what: str, message: Message) -> WrongMessageType:
    """The error for a ``receive_<kind>()`` that found the other kind of message first."""
    got = (
        f"a text message ({len(message)} characters)"
        if isinstance(message, str)
        else f"a binary message ({len(message)} bytes)"
    )
    return WrongMessageType(
        f"{what}: received {got}; it stays queued: take it with receive_{kind_of(message)}() or receive()"
    )
