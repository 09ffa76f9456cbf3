"""The auto_reconnect policy: after which close codes a dropped connection is worth
opening again, which opening errors are worth another attempt, and how long to wait
before each (bounded exponential backoff). Pure: no I/O.
"""

from __future__ import annotations

from ..errors import ConnectError, HandshakeRejected, SubprotocolNotAccepted, Timeout, TLSFailure

__all__ = ["RECONNECT_CODES", "check_reconnect", "delays", "worth_retrying"]

#: Close codes after which ``auto_reconnect`` tries again: the connection dropped (1006), the
#: server is going away or restarting (1001, 1012), failed (1011), is busy (1013), or a
#: gateway failed (1014). Not 1000 and not a policy or protocol verdict: those would repeat.
RECONNECT_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})


def check_reconnect(attempts: int, backoff: tuple[float, float]) -> int:
    """*attempts*, checked: an int >= 0 (not a bool), with a finite backoff 0 < first <= longest."""
    if type(attempts) is not int or attempts < 0:  # bool is not a count: say auto_reconnect=3
        raise ValueError(f"auto_reconnect must be a number of attempts (an int >= 0), not {attempts!r}")
    try:
        first, cap = backoff
        valid = 0 < first <= cap and cap < float("inf")
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            f"backoff must be (first delay, longest delay) in seconds, 0 < first <= longest, not {backoff!r}"
        )
    return attempts


def worth_retrying(exc: ConnectError | Timeout) -> bool:
    """Refused, timed out, reset, or a 5xx from the server or a proxy: may pass; a 4xx, TLS or URL error will not."""
    if isinstance(exc, HandshakeRejected):
        return exc.status >= 500
    return not isinstance(exc, (TLSFailure, SubprotocolNotAccepted))


def delays(attempts: int, backoff: tuple[float, float]) -> list[float]:
    """The wait before each of *attempts* reconnect attempts: ``backoff[0]``, doubling, at most ``backoff[1]``."""
    first, cap = backoff
    return [min(cap, first * 2**k) for k in range(attempts)]
