"""Turns the stored configuration into the ACD engine's configuration."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.core.acd import QueueConfig, Strategy
from zvans.core.calendar import BusinessHours
from zvans.store.models import Holiday, Organisation, Queue

#: Waiting callers hear their position and wait again this often (telephony, issue 4);
#: one value for every queue until queues get their own setting.
ANNOUNCE_EVERY_S = 60.0

DAY_INDEX = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def business_hours(row: Queue, org: Organisation, org_holidays: list[str]) -> BusinessHours | None:
    """None means always open (no weekly hours configured)."""
    if not row.business_hours:
        return None
    weekly = {
        DAY_INDEX[day]: [(span[0], span[1]) for span in spans]
        for day, spans in row.business_hours.items()
    }
    holidays = sorted(set(row.holidays or []) | set(org_holidays))
    return BusinessHours.from_spec(weekly, holidays, tz=org.timezone)


def org_holidays(session: Session, org_id: int) -> list[str]:
    return [
        h.isoformat()
        for h in session.scalars(select(Holiday.day).where(Holiday.org_id == org_id))
    ]


def queue_config(row: Queue, org: Organisation, holidays: list[str]) -> QueueConfig:
    return QueueConfig(
        id=row.id,
        name=row.name,
        strategy=Strategy(row.strategy),
        ring_timeout_s=float(row.ring_timeout_s),
        wrapup_s=float(row.wrapup_s),
        wrapup_until_card=row.wrapup_until_card,
        max_wait_s=float(row.max_wait_s) if row.max_wait_s else None,
        max_length=row.max_length,
        overflow_target=row.overflow_target,
        no_agents_action=row.no_agents_action,  # type: ignore[arg-type]
        hours=business_hours(row, org, holidays),
        sl_threshold_s=float(row.sl_threshold_s),
        short_abandon_s=float(row.short_abandon_s),
        sticky_wait_s=float(row.sticky_wait_s) if row.sticky_days else 0.0,
        announce_every_s=ANNOUNCE_EVERY_S,
    )
