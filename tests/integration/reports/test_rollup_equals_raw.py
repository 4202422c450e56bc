"""A rollup is never the only source: on a generated month, every report gives exactly the
same figures from the raw event log as through the rollups, on both engines — with the
rollups complete, and with them stopping mid-month (rollup + raw tail)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from zvans import reports
from zvans.app import Zvans
from zvans.bench.reports import generate, setup_org
from zvans.reports import ReportParams, rollup
from zvans.reports.params import local_range
from zvans.store.db import append_event
from zvans.store.models import Queue, ReportCallDay, User

START = date(2026, 3, 1)
DAYS = 31
NOW = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def month(zv: Zvans) -> int:
    org = setup_org(zv.engine, "gen", queues=4, agents=12)
    generate(zv.engine, org, start=START, days=DAYS, calls_per_day=150, seed=7)
    # Sessions the generator does not make: one across midnight (UTC and local) and one
    # lasting two days, paused across an hour boundary and a rollup chunk boundary.
    a, b = org.agent_ids[0], org.agent_ids[1]
    with zv.sessions.begin() as s:
        def ev(at: str, type_: str, agent: int, **data: Any) -> None:
            append_event(s, org.org_id, type_, agent_id=agent, data=data,
                         at=datetime.fromisoformat(at).replace(tzinfo=UTC))
        ev("2026-03-10T20:30:00", "agent_login", a)
        ev("2026-03-10T21:45:10", "agent_paused", a, reason="card")
        ev("2026-03-10T22:15:20", "agent_ready", a)
        ev("2026-03-11T01:10:00", "agent_logout", a)
        ev("2026-03-14T23:20:00", "agent_login", b)
        ev("2026-03-15T23:50:00", "agent_paused", b, reason="other")
        ev("2026-03-16T00:20:00", "agent_paused", b, reason="lunch")
        ev("2026-03-16T23:30:00", "agent_logout", b)
    return org.org_id


def snapshot(zv: Zvans, org_id: int, source: str, d0: date, d1: date, group: str,
             queues: tuple[int, ...] = (), agents: tuple[int, ...] = ()) -> dict[str, Any]:
    out = {}
    with zv.sessions() as session:
        for name in reports.NAMES:
            if agents and name == "unanswered":
                continue
            params = ReportParams(d0, d1, group=group, source=source, queue_ids=queues,
                                  agent_ids=agents)
            out[name] = reports.run_report(session, org_id, name, params, now=NOW).as_dict()
    return out


RANGES = [
    (date(2026, 3, 1), date(2026, 3, 31), "total"),
    (date(2026, 3, 1), date(2026, 3, 31), "day"),
    (date(2026, 3, 10), date(2026, 3, 16), "hour"),
    (date(2026, 3, 15), date(2026, 3, 15), "total"),
]


def test_rollup_equals_raw_scan(zv: Zvans, month: int) -> None:
    raw = {r: snapshot(zv, month, "raw", *r) for r in RANGES}
    # Nothing rolled up yet: "auto" is the raw scan.
    assert snapshot(zv, month, "auto", *RANGES[0]) == raw[RANGES[0]]
    # Rolled up until the middle of 2026-03-15 (a chunk boundary inside a pause).
    half = reports.catch_up(zv.sessions, month, now=datetime(2026, 3, 15, 13, 7, tzinfo=UTC))
    assert half.done_until == datetime(2026, 3, 15, 13, 0, tzinfo=UTC)
    with zv.sessions() as session:
        # The month total reads daily rows, edge hours, and the raw log after 13:00.
        start, end = local_range(ZoneInfo("Europe/Riga"), *RANGES[0][:2])
        p = rollup.plan(session, month, start, end, "auto", hours_needed=False)
        assert p.daily and p.hourly and p.raw
        assert session.scalar(select(func.count()).select_from(ReportCallDay)) > 0
    for r in RANGES:
        assert snapshot(zv, month, "auto", *r) == raw[r], r
    # Everything rolled up; a second run adds nothing (idempotent).
    full = reports.catch_up(zv.sessions, month, now=NOW)
    assert full.hours > 0
    again = reports.catch_up(zv.sessions, month, now=NOW)
    assert again.hours == 0 and again.done_until == full.done_until
    for r in RANGES:
        assert snapshot(zv, month, "auto", *r) == raw[r], r
    # The figures are not trivially empty.
    total = raw[RANGES[0]]["queues"]["tables"][0]["total"]
    assert total["offered"] > 3000 and total["answered"] > 2000
    agents = raw[RANGES[0]]["agents"]["tables"][0]["total"]
    assert agents["work_s"] > 0 and agents["pause_total_s"] > 0
    # With filters: a queue, an agent, both (subtotal rows versus the full cross product).
    with zv.sessions() as session:
        q = session.scalar(select(func.min(Queue.id)).where(Queue.org_id == month))
        a = session.scalar(select(func.min(User.id)).where(User.org_id == month))
    assert q is not None and a is not None
    for queues, agents in (((q,), ()), ((), (a,)), ((q,), (a,))):
        for r in (RANGES[0], RANGES[2]):
            assert snapshot(zv, month, "auto", *r, queues, agents) == snapshot(
                zv, month, "raw", *r, queues, agents), (r, queues, agents)
    # Rebuilding from scratch gives the same again.
    reports.rebuild(zv.sessions, month, now=NOW)
    assert snapshot(zv, month, "auto", *RANGES[1]) == raw[RANGES[1]]


def test_catch_up_on_empty_org_does_nothing(zv: Zvans) -> None:
    org = setup_org(zv.engine, "empty", queues=1, agents=1)
    result = reports.catch_up(zv.sessions, org.org_id, now=NOW)
    assert (result.hours, result.done_until) == (0, None)
