"""Today's per-queue figures for the live wallboard, projected from the event log.

Rebuilt from the log when an organisation is loaded and fed every committed event after
that; it resets at local midnight. The reports never read it: they query the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.core.events import DomainEvent, EventType
from zvans.store.models import Event, Queue


@dataclass
class QueueToday:
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    sl_threshold_s: float = 20.0
    short_abandon_s: float = 5.0

    def add(self, kind: str, wait_s: float) -> None:
        if kind == "answered":
            self.answered += 1
            if wait_s <= self.sl_threshold_s:
                self.answered_in_sl += 1
        elif kind == "abandoned":
            self.abandoned += 1
            if wait_s < self.short_abandon_s:
                self.short_abandoned += 1

    def service_level(self) -> float | None:
        """SL(T) = answered within T / (answered + abandoned after the short threshold)."""
        denominator = self.answered + self.abandoned - self.short_abandoned
        return round(self.answered_in_sl / denominator, 4) if denominator else None


class TodayStats:
    def __init__(self, tz: str) -> None:
        self.tz = ZoneInfo(tz)
        self.day: str = ""
        self._queues: dict[int, QueueToday] = {}
        self._thresholds: dict[int, tuple[float, float]] = {}

    def _day_of(self, t: float) -> str:
        return datetime.fromtimestamp(t, self.tz).date().isoformat()

    def roll(self, now: float) -> None:
        day = self._day_of(now)
        if day != self.day:
            self.day = day
            self._queues = {}

    def queue(self, queue_id: int) -> QueueToday:
        q = self._queues.get(queue_id)
        if q is None:
            sl, short = self._thresholds.get(queue_id, (20.0, 5.0))
            q = self._queues[queue_id] = QueueToday(sl_threshold_s=sl, short_abandon_s=short)
        return q

    def load(self, session: Session, org_id: int, now: float) -> None:
        for qid, sl, short in session.execute(
            select(Queue.id, Queue.sl_threshold_s, Queue.short_abandon_s).where(
                Queue.org_id == org_id)
        ):
            self._thresholds[qid] = (float(sl), float(short))
        self.roll(now)
        local = datetime.fromtimestamp(now, self.tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        rows = session.execute(
            select(Event.type, Event.queue_id, Event.data).where(
                Event.org_id == org_id,
                Event.at >= midnight,
                Event.type.in_(("answered", "abandoned")),
            )
        )
        for kind, qid, data in rows:
            if qid is not None:
                self.queue(qid).add(kind, float((data or {}).get("wait_s", 0.0)))

    def apply(self, event: DomainEvent) -> None:
        if event.type not in (EventType.ANSWERED, EventType.ABANDONED):
            return
        if event.queue_id is None:
            return
        self.roll(event.at)
        if self._day_of(event.at) != self.day:
            return
        wait = event.data.get("wait_s", 0.0)
        self.queue(event.queue_id).add(
            event.type.value, float(wait) if isinstance(wait, int | float) else 0.0
        )
