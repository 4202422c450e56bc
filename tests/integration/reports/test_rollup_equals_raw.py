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
from zvans.store.models import (
    Interaction,
    Queue,
    ReportCallDay,
    ReportTopicHour,
    ReportUnanswered,
    Request,
    User,
    WrapupCode,
)
from zvans.web.request_service import RequestInput, update_request

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
        # A call with two unanswered events in different hours (the first event's hour
        # counts, the out-of-hours category wins), and a call with two requests of the same
        # topic either side of the 13:00 rollup boundary (one call, counted once).
        odd = Interaction(org_id=org.org_id, direction="in", caller="+37129990001",
                          started_at=at("2026-03-15T12:59:00"))
        s.add(odd)
        s.flush()
        append_event(s, org.org_id, "ivr_abandoned", interaction_id=odd.id,
                     at=at("2026-03-15T12:59:59"))
        append_event(s, org.org_id, "out_of_hours", interaction_id=odd.id,
                     queue_id=org.queue_ids[0], at=at("2026-03-15T13:00:30"))
        twice = Interaction(org_id=org.org_id, direction="in", caller="+37129990002",
                            started_at=at("2026-03-15T12:40:00"),
                            answered_at=at("2026-03-15T12:40:05"), queue_id=org.queue_ids[1],
                            agent_id=a)
        s.add(twice)
        s.flush()
        topic = s.get(WrapupCode, org.topic_ids[0])
        for created, duration in (("2026-03-15T12:50:00", 600), ("2026-03-15T13:10:00", 1800)):
            r = Request(org_id=org.org_id, created_at=at(created), phone="+37129990002",
                        name="Twice", agent_id=a, queue_id=org.queue_ids[1],
                        interaction_id=twice.id, duration_s=duration)
            r.wrapup_codes = [topic]
            s.add(r)
    return org.org_id


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


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
    # The rollups behind unanswered and topics hold something, and the figures are not
    # trivial: repeat callers, callers reached later and not.
    with zv.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ReportUnanswered)) > 300
        assert session.scalar(select(func.count()).select_from(ReportTopicHour)) > 300
    un = raw[RANGES[0]]["unanswered"]["tables"][0]["total"]
    assert un["calls"] > un["callers"] > un["reached"] > 0 and un["unanswered_unique"] > 0
    topics = raw[RANGES[0]]["topics"]["tables"][0]["rows"]
    assert sum(r["requests"] for r in topics) > sum(r["calls"] for r in topics) > 0
    # Rebuilding from scratch gives the same again.
    reports.rebuild(zv.sessions, month, now=NOW)
    assert snapshot(zv, month, "auto", *RANGES[1]) == raw[RANGES[1]]


def test_later_answer_and_request_edit_reach_the_rollups(zv: Zvans, month: int) -> None:
    """After the rollups are complete: a caller answered later (in a new hour) becomes
    reached, and editing a request's topics changes the topic rows, once the job runs."""
    reports.catch_up(zv.sessions, month, now=NOW)
    before = snapshot(zv, month, "auto", *RANGES[0])
    with zv.sessions.begin() as s:
        caller = s.scalar(select(ReportUnanswered.caller).where(
            ReportUnanswered.org_id == month, ReportUnanswered.reached.is_(False),
            ReportUnanswered.caller != "").order_by(ReportUnanswered.at.desc()).limit(1))
        assert caller
        s.add(Interaction(org_id=month, direction="in", caller=caller,
                          started_at=at("2026-04-02T12:30:00"),
                          answered_at=at("2026-04-02T12:30:09")))
        request = s.scalars(select(Request).where(Request.org_id == month)
                            .order_by(Request.created_at).limit(1)).one()
        codes = list(s.scalars(select(WrapupCode.id).where(WrapupCode.org_id == month)))
        editor = s.scalar(select(func.min(User.id)).where(User.org_id == month))
        assert editor is not None
        new_codes = [c for c in codes if c not in {w.id for w in request.wrapup_codes}][:2]
        update_request(s, month, request.id, editor, "supervisor", RequestInput(
            phone=request.phone, name=request.name, wrapup_code_ids=new_codes))
    reports.catch_up(zv.sessions, month, now=datetime(2026, 4, 2, 13, 10, tzinfo=UTC))
    for r in RANGES:
        assert snapshot(zv, month, "auto", *r) == snapshot(zv, month, "raw", *r), r
    after = snapshot(zv, month, "auto", *RANGES[0])
    un0 = before["unanswered"]["tables"][0]["total"]
    un1 = after["unanswered"]["tables"][0]["total"]
    assert un1["reached"] > un0["reached"] and un1["callers"] == un0["callers"]
    assert after["topics"] != before["topics"]


def test_catch_up_on_empty_org_does_nothing(zv: Zvans) -> None:
    org = setup_org(zv.engine, "empty", queues=1, agents=1)
    result = reports.catch_up(zv.sessions, org.org_id, now=NOW)
    assert (result.hours, result.done_until) == (0, None)
