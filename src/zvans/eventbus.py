"""In-process event bus: one publisher (the store, after commit), many subscribers.

Each subscriber has a bounded queue. A subscriber that falls behind is marked
``overflowed`` and gets nothing more until it resubscribes: it must resync from the event
log (by its last seen id) or take a fresh snapshot. It never slows the publisher.
Publishing is safe from any thread; asyncio subscribers are woken on their own loop.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as it was committed to the event log; ``id`` is its sequence number."""

    id: int
    at: datetime
    org_id: int
    type: str
    interaction_id: int | None = None
    queue_id: int | None = None
    agent_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "org_id": self.org_id,
            "type": self.type,
            "interaction_id": self.interaction_id,
            "queue_id": self.queue_id,
            "agent_id": self.agent_id,
            "data": self.data,
        }


class Subscription:
    def __init__(
        self,
        bus: EventBus,
        maxsize: int,
        org_id: int | None,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self._bus = bus
        self.maxsize = maxsize
        self.org_id = org_id
        self.overflowed = False
        self._items: collections.deque[LoggedEvent] = collections.deque()
        self._lock = threading.Lock()
        self._loop = loop
        self._wakeup = asyncio.Event() if loop is not None else None

    def _offer(self, event: LoggedEvent) -> None:
        if self.org_id is not None and event.org_id != self.org_id:
            return
        with self._lock:
            if self.overflowed:
                return
            if len(self._items) >= self.maxsize:
                self.overflowed = True
                self._items.clear()
            else:
                self._items.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._loop is None or self._wakeup is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wakeup.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wakeup.set)

    def drain(self) -> list[LoggedEvent]:
        """Take everything queued now (non-blocking)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items

    async def next_batch(self, timeout: float | None = None) -> list[LoggedEvent]:
        """Wait until something is queued (or the subscription overflowed) and take it."""
        assert self._wakeup is not None, "subscribe from inside a running event loop"
        while True:
            items = self.drain()
            if items or self.overflowed:
                return items
            self._wakeup.clear()
            if self._items or self.overflowed:
                continue
            if timeout is None:
                await self._wakeup.wait()
            else:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
                except TimeoutError:
                    return []

    def close(self) -> None:
        self._bus._remove(self)
        self._wake()


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._callbacks: list[Callable[[LoggedEvent], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, maxsize: int = 1000, org_id: int | None = None) -> Subscription:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        sub = Subscription(self, maxsize, org_id, loop)
        with self._lock:
            self._subs.append(sub)
        return sub

    def on_event(self, callback: Callable[[LoggedEvent], None]) -> None:
        """A synchronous listener, called in the publisher's thread; keep it quick."""
        with self._lock:
            self._callbacks.append(callback)

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, events: Iterable[LoggedEvent]) -> None:
        with self._lock:
            subs = list(self._subs)
            callbacks = list(self._callbacks)
        for event in events:
            for sub in subs:
                sub._offer(event)
            for callback in callbacks:
                callback(event)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)
