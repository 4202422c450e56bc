"""Timer scheduling behind a small protocol, so SIP timers run on a virtual clock in tests.

Production uses :class:`LoopScheduler` (``loop.call_later``); unit tests use
:class:`VirtualScheduler` and move time with :meth:`VirtualScheduler.advance`, so timer B's
32 seconds take no wall time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...


class LoopScheduler:
    """The real thing: the running asyncio loop's monotonic clock and ``call_later``."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        return self.loop.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return self.loop.call_later(max(0.0, delay), callback)


@dataclass(slots=True)
class _VirtualTimer:
    due: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualScheduler:
    """Deterministic clock: callbacks run only inside :meth:`advance`, in due order."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _VirtualTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _VirtualTimer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer due on the way (including new ones)."""
        target = self._now + seconds
        while self._heap and self._heap[0][0] <= target:
            due, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            if not timer.cancelled:
                timer.callback()
        self._now = target

    def pending(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)
