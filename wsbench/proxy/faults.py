"""The fault model: which faults are in force, the checks on what a cell asks for, and how each
fault reads in a transcript ("latency 0.1 s each way", "cut after 3 frames (to_client)").

Pure data and text (no socket, no loop); the data plane (:mod:`.link`) reads it as it forwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DIRECTIONS", "Cut", "Faults", "check_number", "directions_of", "rate", "where"]

#: Where a fault applies: the bytes the client sends, the bytes the server sends, or both.
DIRECTIONS = ("both", "to_server", "to_client")


def directions_of(direction: str) -> tuple[str, ...]:
    """The one-way directions *direction* stands for; ValueError naming the choices if it is none."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(map(repr, DIRECTIONS))}, not {direction!r}")
    return ("to_server", "to_client") if direction == "both" else (direction,)


def check_number(value: Any, name: str) -> float:
    """*value* as a float; ValueError unless it is a finite int or float (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    return float(value)


def where(direction: str) -> str:
    """How a transcript line names *direction*."""
    return "each way" if direction == "both" else direction


def rate(bytes_per_second: float) -> str:
    """How a transcript line shows a rate."""
    return f"{bytes_per_second:g} B/s"


@dataclass(frozen=True)
class Cut:
    """A cut armed on every connection: reset both TCP connections after *count* bytes or frames."""

    mode: str  # "bytes" or "frames"
    count: int
    direction: str

    def describe(self) -> str:
        """How the transcript names it: "cut after 3 frames (to_client)"."""
        unit = self.mode if self.count != 1 else self.mode[:-1]
        return f"cut after {self.count} {unit} ({'either way' if self.direction == 'both' else self.direction})"


@dataclass
class Faults:
    """The faults in force, per one-way direction where a fault has one."""

    latency: dict[str, float] = field(default_factory=lambda: {"to_server": 0.0, "to_client": 0.0})
    bandwidth: dict[str, float | None] = field(default_factory=lambda: {"to_server": None, "to_client": None})
    half_open: set[str] = field(default_factory=set)
    slow_reader: float | None = None
    cut: Cut | None = None

    def lines(self) -> list[tuple[str, str]]:
        """(event kind, detail) of each fault in force, in a fixed order."""
        out: list[tuple[str, str]] = []
        out += _paired("latency", self.latency, lambda v: f"{v:g} s")
        out += _paired("bandwidth", self.bandwidth, rate)
        if self.slow_reader is not None:
            out.append(("fault", f"slow reader {rate(self.slow_reader)} (reads from the server)"))
        if self.half_open:
            both = len(self.half_open) == 2
            out.append(("half-open", f"stop forwarding ({where('both' if both else next(iter(self.half_open)))})"))
        if self.cut is not None:
            out.append(("fault", self.cut.describe()))
        return out


def _paired(name: str, values: dict[str, Any], show: Callable[[Any], str]) -> list[tuple[str, str]]:
    up, down = values["to_server"], values["to_client"]
    if up == down:
        return [("fault", f"{name} {show(up)} each way")] if up else []
    return [("fault", f"{name} {show(v)} ({d})") for d, v in (("to_server", up), ("to_client", down)) if v]
