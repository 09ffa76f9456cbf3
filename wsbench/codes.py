"""Close codes: RFC 6455 §7.4 and the IANA WebSocket Close Code Number Registry.

Every code is shown as ``"1000 (OK)"``, with the same short labels as the
``websockets`` library, so messages from both libraries read alike.
:func:`check_close` applies the sending rules *before* anything goes on the wire.
Pure logic: no I/O, no third-party imports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import InvalidCloseCode, ReasonTooLong

__all__ = [
    "MAX_REASON_BYTES",
    "REGISTERED",
    "SENDABLE_RANGES",
    "CloseCode",
    "CodeInfo",
    "check_close",
    "describe",
    "lookup",
]

#: A close frame's payload is at most 125 bytes; 2 of them hold the code.
MAX_REASON_BYTES = 123

#: What may be put in a close frame, as it reads in error messages.
SENDABLE_RANGES = "1000-1003, 1007-1014, 3000-4999"


class CloseCode(enum.IntEnum):
    """The close codes with a name (RFC 6455 and IANA)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015
    UNAUTHORIZED = 3000
    FORBIDDEN = 3003
    TIMEOUT = 3008


@dataclass(frozen=True)
class CodeInfo:
    """What one close code means and whether an endpoint may send it."""

    code: int
    label: str  #: short label, as in "1000 (OK)"
    meaning: str  #: one sentence: when the code is used
    may_send: bool
    rule: str  #: why it may not be sent ("" when it may)
    fastapi_name: str | None  #: the ``fastapi.status`` constant, if any

    def __str__(self) -> str:
        return f"{self.code} ({self.label})"


_NEVER_SENT = "RFC 6455 §7.4.1: reserved for {what}; endpoints must never send it"

# code: (label, meaning, rule-if-not-sendable, fastapi.status name)
_TABLE: dict[int, tuple[str, str, str, str | None]] = {
    1000: ("OK", "normal closure: the purpose of the connection was fulfilled", "", "WS_1000_NORMAL_CLOSURE"),
    1001: ("going away", "an endpoint is going away: server shutdown, page left", "", "WS_1001_GOING_AWAY"),
    1002: ("protocol error", "an endpoint received a frame that breaks the protocol", "", "WS_1002_PROTOCOL_ERROR"),
    1003: ("unsupported data", "an endpoint received a type of data it cannot accept", "", "WS_1003_UNSUPPORTED_DATA"),
    1004: ("reserved", "reserved by RFC 6455; no meaning defined", "RFC 6455 §7.4.1: 1004 is reserved", None),
    1005: (
        "no status received [internal]",
        "stands for 'the close frame carried no code'",
        _NEVER_SENT.format(what='"no status received"'),
        "WS_1005_NO_STATUS_RCVD",
    ),
    1006: (
        "abnormal closure [internal]",
        "stands for 'the connection dropped without a close frame'",
        _NEVER_SENT.format(what='"abnormal closure"'),
        "WS_1006_ABNORMAL_CLOSURE",
    ),
    1007: (
        "invalid frame payload data",
        "data did not match the message type (e.g. bad UTF-8)",
        "",
        "WS_1007_INVALID_FRAME_PAYLOAD_DATA",
    ),
    1008: (
        "policy violation",
        "a message broke the endpoint's policy (generic refusal)",
        "",
        "WS_1008_POLICY_VIOLATION",
    ),
    1009: ("message too big", "a message was too big to process", "", "WS_1009_MESSAGE_TOO_BIG"),
    1010: (
        "mandatory extension",
        "the client needed an extension the server did not offer",
        "",
        "WS_1010_MANDATORY_EXT",
    ),
    1011: ("internal error", "the server met an unexpected condition", "", "WS_1011_INTERNAL_ERROR"),
    1012: ("service restart", "the server is restarting; reconnect later", "", "WS_1012_SERVICE_RESTART"),
    1013: ("try again later", "the server is overloaded; reconnect later", "", "WS_1013_TRY_AGAIN_LATER"),
    1014: ("bad gateway", "a gateway got a bad answer from upstream", "", "WS_1014_BAD_GATEWAY"),
    1015: (
        "TLS handshake failure [internal]",
        "stands for 'the TLS handshake failed'",
        _NEVER_SENT.format(what='"TLS handshake failure"'),
        "WS_1015_TLS_HANDSHAKE",
    ),
    3000: ("unauthorized", "IANA-registered: the request lacks valid authentication", "", None),
    3003: ("forbidden", "IANA-registered: authenticated but not allowed", "", None),
    3008: ("timeout", "IANA-registered: the endpoint timed out", "", None),
}

#: The codes with their own entry, in order (ranges are described by :func:`lookup`).
REGISTERED: tuple[CodeInfo, ...] = tuple(
    CodeInfo(code, label, meaning, not rule, rule, fastapi_name)
    for code, (label, meaning, rule, fastapi_name) in _TABLE.items()
)
_BY_CODE = {info.code: info for info in REGISTERED}


def lookup(code: int) -> CodeInfo:
    """Return what *code* means and whether it may be sent, for any integer. Raises InvalidCloseCode for a non-int."""
    if type(code) is not int and not isinstance(code, enum.IntEnum):
        raise InvalidCloseCode(f"close code must be an int, not {type(code).__name__} {code!r}")
    if code in _BY_CODE:
        return _BY_CODE[code]
    if 3000 <= code <= 3999:
        return CodeInfo(code, "registered", "registered with IANA for libraries and frameworks", True, "", None)
    if 4000 <= code <= 4999:
        return CodeInfo(code, "private use", "free for applications to agree on", True, "", None)
    if 1016 <= code <= 2999:
        rule = "RFC 6455 §7.4.2: 1016-2999 are reserved for future revisions and extensions"
        return CodeInfo(code, "reserved", "reserved for the protocol and its extensions", False, rule, None)
    rule = "RFC 6455 §7.4.2: codes outside 1000-4999 are never used"
    return CodeInfo(code, "invalid", "outside every range a close code may take", False, rule, None)


def describe(code: int | None, reason: str = "") -> str:
    """Render a close as ``"4001 (private use) bye"``; ``None`` reads "no close code". Raises as :func:`lookup`."""
    if code is None:
        return "no close code"
    text = str(lookup(code))
    return f"{text} {reason}" if reason else text


def check_close(code: int, reason: str = "") -> None:
    """Raise unless an endpoint may send a close frame with *code* and *reason*.

    Raises :class:`InvalidCloseCode` or :class:`ReasonTooLong`, naming the rule.
    """
    info = lookup(code)
    if not info.may_send:
        raise InvalidCloseCode(f"close code {code} may not be sent ({info.rule}); use {SENDABLE_RANGES}", code=code)
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be a str, not {type(reason).__name__}")
    size = len(reason.encode("utf-8"))
    if size > MAX_REASON_BYTES:
        raise ReasonTooLong(
            f"close reason is {size} bytes of UTF-8; RFC 6455 §5.5 allows at most "
            f"{MAX_REASON_BYTES} (a control frame carries 125 bytes, 2 of them the code): shorten it",
            size=size,
        )
