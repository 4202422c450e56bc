"""Clocks: the core never reads the wall clock itself, so tests and simulations can run
hours of traffic in milliseconds."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the time in seconds (epoch-like, float)."""

    def now(self) -> float: ...


class SystemClock:
    """Wall clock for adapters; the core only receives it by injection."""

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """A clock that moves only when told to; time never goes backwards."""

    __slots__ = ("_t",)

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance(self, s: float) -> float:
        if s < 0:
            raise ValueError("a clock cannot go backwards")
        self._t += s
        return self._t

    def set(self, t: float) -> None:
        if t < self._t:
            raise ValueError("a clock cannot go backwards")
        self._t = float(t)
