"""The bounds a connection keeps: how long any wait may last, and how many received
messages may wait unread before wsbench stops reading the socket.

One check for every timeout a caller passes (connect options, and the ``timeout=`` of
``receive_*`` / ``iter_*`` / ``ping`` / ``wait_*``), so a bad value fails where it is given,
naming the argument, instead of hanging (nan), overflowing deep inside (inf, 1e10) or
failing in a comparison (``"2"``). Pure: no I/O.
"""

from __future__ import annotations

import math
import threading
from typing import Any

__all__ = ["MAX_QUEUE", "TIMEOUT_MAX", "check_max_queue", "check_name", "check_timeout"]

#: The longest wait the OS accepts (``threading.TIMEOUT_MAX``, about 292 years on Linux).
TIMEOUT_MAX = float(threading.TIMEOUT_MAX)

#: Default high-water mark of a connection's inbox, in messages (websockets' ``max_queue``):
#: past it, wsbench stops reading the socket until the inbox is down to a quarter of it.
MAX_QUEUE = 16


def check_timeout(value: Any, name: str, *, none: bool = True) -> float | None:
    """*value* as a number of seconds: finite, >= 0, at most :data:`TIMEOUT_MAX`; None only if *none*.

    TypeError for a bool, a str or anything not a real number; ValueError for nan, inf,
    a negative or too large value. Both name the argument.
    """
    if value is None and none:
        return None
    if value.__class__ is float and 0 <= value <= TIMEOUT_MAX:  # the usual case (nan fails the test)
        return value
    allowed = "a number of seconds >= 0" + (" or None" if none else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {allowed}, not {type(value).__name__} {value!r}")
    if not math.isfinite(value) or not 0 <= value <= TIMEOUT_MAX:
        raise ValueError(f"{name} must be {allowed} (finite, at most {TIMEOUT_MAX:.0f}), not {value!r}")
    return float(value)


def check_max_queue(value: Any) -> tuple[int | None, int | None]:
    """``max_queue`` as (high, low) water marks, in messages, as websockets takes it: an int
    *high* (low = high // 4), a (high, low) pair with 0 <= low <= high, or None (no bound)."""
    if value is None:
        return None, None
    pair = isinstance(value, tuple)
    high, low = value if pair and len(value) == 2 else (value, None)
    for mark in (high, low):
        if (pair and len(value) != 2) or (
            mark is not None and (isinstance(mark, bool) or not isinstance(mark, int) or mark < 0)
        ):
            raise ValueError(
                "max_queue must be a number of messages (an int >= 0), a (high, low) pair of them, or None; "
                f"not {value!r}"
            )
    if high is None and low is not None:
        high = 4 * low
    if low is None and high is not None:
        low = high // 4
    if high is not None and low is not None and low > high:
        raise ValueError(f"max_queue=(high, low) needs low <= high, not {value!r}")
    return high, low


def check_name(name: object) -> str:
    """A connection name as every view prints it: printable text, 1-40 characters, no
    surrounding space; TypeError for what is not text, ValueError naming the problem otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"a connection's name is text, not {type(name).__name__}: {name!r}")
    if not 1 <= len(name) <= 40 or not name.isprintable() or name != name.strip() or name.startswith("#"):
        raise ValueError(
            f"a connection's name is 1-40 printable characters, without surrounding space or a leading '#' "
            f"(which numbers unnamed connections), not {name!r}"
        )
    return name
