from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from zvans.eventbus import EventBus, LoggedEvent


def ev(i: int, org: int = 1) -> LoggedEvent:
    return LoggedEvent(id=i, at=datetime.now(UTC), org_id=org, type="arrived")


def test_slow_subscriber_overflows_without_blocking_others() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=3)
    fast = bus.subscribe(maxsize=100)
    bus.publish([ev(i) for i in range(1, 6)])
    assert slow.overflowed
    assert slow.drain() == []
    assert [e.id for e in fast.drain()] == [1, 2, 3, 4, 5]


def test_subscription_filters_by_organisation() -> None:
    bus = EventBus()
    sub = bus.subscribe(org_id=2)
    bus.publish([ev(1, org=1), ev(2, org=2)])
    assert [e.id for e in sub.drain()] == [2]


def test_async_subscriber_is_woken_from_another_thread() -> None:
    async def main() -> list[int]:
        bus = EventBus()
        sub = bus.subscribe()
        threading.Timer(0.05, lambda: bus.publish([ev(7)])).start()
        batch = await sub.next_batch(timeout=5)
        sub.close()
        assert bus.subscriber_count == 0
        return [e.id for e in batch]

    assert asyncio.run(main()) == [7]
