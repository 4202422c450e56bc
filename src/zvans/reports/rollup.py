"""Per-hour rollups and the idempotent catch-up job that maintains them.

The rollup tables hold exactly what the raw scan of ``zvans.reports.facts`` returns for
whole hours. ``catch_up`` rolls up every complete hour (older than ``SETTLE``) not yet rolled
up, one chunk per transaction; running it twice changes nothing. Reports read the rollups
for hours before ``done_until`` and scan the event log for the rest, so a rollup is never
the only source: with no rollup at all a report gives the same figures, only slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, func, insert, literal, select
from sqlalchemy.orm import Session, sessionmaker

from zvans.reports.facts import (
    CALL_COLUMNS,
    HOUR,
    MAX_COLUMNS,
    AgentTime,
    Dims,
    Filters,
    floor_hour,
    group_agent_time,
    merge_calls,
    raw_agent_time,
    raw_call_facts,
    raw_ratings,
)
from zvans.reports.sql import parse_hour
from zvans.store.models import (
    Event,
    Organisation,
    ReportAgentDay,
    ReportAgentHour,
    ReportCallDay,
    ReportCallHour,
    ReportRatingDay,
    ReportRatingHour,
    ReportRollupState,
    ReportTopicDay,
    ReportTopicHour,
    ReportUnanswered,
)
from zvans.store.types import UTCDateTime, utcnow

#: Only hours that ended at least this long ago are rolled up (late commits settle first).
SETTLE = timedelta(minutes=5)
CHUNK = timedelta(days=1)
#: queue_id / agent_id of the subtotal rows of ``report_call_hour`` / ``report_call_day``.
ALL = -1
DAY = timedelta(days=1)
#: (hourly table, daily table) pairs; a daily row is the sum of its day's hourly rows.
PAIRS = ((ReportCallHour, ReportCallDay), (ReportAgentHour, ReportAgentDay),
         (ReportRatingHour, ReportRatingDay), (ReportTopicHour, ReportTopicDay))
#: Columns of the daily tables combined with min() (max() for ``MAX_COLUMNS``, else sum()).
MIN_COLUMNS = frozenset({"dur_min"})
DAY_MAX_COLUMNS = MAX_COLUMNS | {"dur_max"}


@dataclass
class CatchUpResult:
    org_id: int
    hours: int
    done_until: datetime | None


def done_until(session: Session, org_id: int) -> datetime | None:
    value = session.execute(
        select(ReportRollupState.done_until).where(ReportRollupState.org_id == org_id)
    ).scalar()
    return value


def catch_up(
    sessions: sessionmaker[Session], org_id: int, *, now: datetime | None = None,
    chunk: timedelta = CHUNK,
) -> CatchUpResult:
    """Roll up every complete hour since the last run (or since the first event)."""
    now = now or utcnow()
    target = floor_hour(now - SETTLE)
    with sessions.begin() as session:
        state = session.execute(
            select(ReportRollupState).where(ReportRollupState.org_id == org_id)
            .with_for_update()
        ).scalar_one_or_none()
        if state is not None:
            start = state.done_until
        else:
            first = session.execute(
                select(func.min(Event.at)).where(Event.org_id == org_id)).scalar()
            if first is None:
                return CatchUpResult(org_id, 0, None)
            start = floor_hour(first)
    hours = 0
    first_start = start
    max_chunks = int((target - start) / chunk) + 2 if target > start else 0
    for _ in range(max_chunks):  # bounded: one transaction per chunk
        if start >= target:
            break
        stop = min(start + chunk, floor_day(start) + DAY, target)
        with sessions.begin() as session:
            _roll(session, org_id, start, stop)
            if stop == floor_day(stop) and stop > start:
                _roll_day(session, org_id, stop - DAY)
            state = session.get(ReportRollupState, org_id, with_for_update=True)
            if state is None:
                from zvans.store.models import RequestEdit

                seen = session.execute(select(func.coalesce(func.max(RequestEdit.id), 0))
                                       .where(RequestEdit.org_id == org_id)).scalar()
                session.add(ReportRollupState(org_id=org_id, done_until=stop, updated_at=now,
                                              request_edits_seen=int(seen or 0)))
            elif state.done_until != start:
                # Another job moved on meanwhile: ours is a duplicate; drop it.
                session.rollback()
                break
            else:
                state.done_until = stop
                state.updated_at = now
        hours += int((stop - start) / HOUR)
        start = stop
    with sessions.begin() as session:
        _after_edits(session, org_id)
    with sessions.begin() as session:
        from zvans.reports.unanswered import REACH_LOOKBACK, refresh_reached

        refresh_reached(session, org_id, first_start - REACH_LOOKBACK)
    with sessions() as session:
        return CatchUpResult(org_id, hours, done_until(session, org_id))


def _after_edits(session: Session, org_id: int) -> None:
    """Roll the topic rows again for the hours a request edit (new since the last run)
    may have changed, and their days."""
    from zvans.reports.topics import edited_hours
    from zvans.reports.topics import roll as roll_topics

    state = session.get(ReportRollupState, org_id, with_for_update=True)
    if state is None:
        return
    hours, newest = edited_hours(session, org_id, state.request_edits_seen,
                                        state.done_until)
    for hour in sorted(hours):
        roll_topics(session, org_id, hour, hour + HOUR)
    for day in sorted({floor_day(h) for h in hours}):
        if day + DAY <= state.done_until:
            _roll_day(session, org_id, day, pairs=((ReportTopicHour, ReportTopicDay),))
    state.request_edits_seen = newest


def catch_up_all(sessions: sessionmaker[Session], *, now: datetime | None = None
                 ) -> list[CatchUpResult]:
    with sessions() as session:
        org_ids = list(session.execute(select(Organisation.id).order_by(Organisation.id))
                       .scalars())
    return [catch_up(sessions, org_id, now=now) for org_id in org_ids]


def rebuild(sessions: sessionmaker[Session], org_id: int, *, now: datetime | None = None
            ) -> CatchUpResult:
    """Forget the rollups of one organisation and roll everything up again (after a
    queue's SL threshold or short-abandon limit changed, or events were imported late)."""
    with sessions.begin() as session:
        for pair in PAIRS:
            for table in pair:
                session.execute(delete(table).where(table.org_id == org_id))
        session.execute(delete(ReportUnanswered).where(ReportUnanswered.org_id == org_id))
        session.execute(delete(ReportRollupState).where(ReportRollupState.org_id == org_id))
    return catch_up(sessions, org_id, now=now)


def floor_day(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def _roll_day(session: Session, org_id: int, day: datetime,
              pairs: tuple[tuple[Any, Any], ...] = PAIRS) -> None:
    """Sum one complete UTC day of hourly rows into the daily tables (SQL only)."""
    for hourly, daily in pairs:
        h, d = cast(Table, hourly.__table__), cast(Table, daily.__table__)
        session.execute(delete(daily).where(daily.org_id == org_id, daily.day == day))
        keys = [c.name for c in h.primary_key.columns if c.name not in ("org_id", "hour")]
        values = [c.name for c in h.columns if not c.primary_key]
        cols: list[Any] = [h.c.org_id, literal(day, UTCDateTime()).label("day"),
                           *(h.c[k] for k in keys)]
        cols += [(func.min if v in MIN_COLUMNS else func.max if v in DAY_MAX_COLUMNS
                  else func.sum)(h.c[v]).label(v) for v in values]
        sel = (select(*cols).where(h.c.org_id == org_id, h.c.hour >= day,
                                   h.c.hour < day + DAY)
               .group_by(h.c.org_id, *(h.c[k] for k in keys)))
        session.execute(insert(d).from_select(["org_id", "day", *keys, *values], sel))


def _roll(session: Session, org_id: int, start: datetime, stop: datetime) -> None:
    for table in (ReportCallHour, ReportAgentHour, ReportRatingHour):
        session.execute(delete(table).where(
            table.org_id == org_id, table.hour >= start, table.hour < stop))
    every = Filters()
    dims: Dims = ("hour", "queue", "agent")
    calls = raw_call_facts(session, org_id, start, stop, dims, every)
    # Subtotal rows: queue_id = ALL (every queue, per agent) and agent_id = ALL (every agent,
    # per queue), so reports that need one dimension read a few rows instead of the
    # queue × agent cross product.
    subtotals: dict[tuple[Any, ...], dict[str, int]] = {}
    for (h, q, a), values in calls.items():
        merge_calls(subtotals, {(h, q, ALL): values, (h, ALL, a): values})
    calls.update(subtotals)
    if calls:
        session.execute(insert(ReportCallHour), [
            {"org_id": org_id, "hour": h, "queue_id": q, "agent_id": a, **values}
            for (h, q, a), values in calls.items()])
    time = raw_agent_time(session, org_id, start, stop, every)
    if time.all_keys():
        session.execute(insert(ReportAgentHour), [
            {"org_id": org_id, "hour": h, "agent_id": a, "kind": k, "reason": r,
             "ms": time.ms.get((h, a, k, r), 0), "starts": time.starts.get((h, a, k, r), 0)}
            for (h, a, k, r) in time.all_keys()])
    from zvans.reports.topics import roll as roll_topics
    from zvans.reports.unanswered import roll as roll_unanswered

    roll_unanswered(session, org_id, start, stop)
    roll_topics(session, org_id, start, stop)
    ratings = raw_ratings(session, org_id, start, stop, dims, every)
    for (h, q, a, c, sc, r), n in list(ratings.items()):  # subtotal rows, as for calls
        for key in ((h, q, ALL, c, sc, r), (h, ALL, a, c, sc, r)):
            ratings[key] = ratings.get(key, 0) + n
    if ratings:
        session.execute(insert(ReportRatingHour), [
            {"org_id": org_id, "hour": h, "queue_id": q, "agent_id": a, "channel": c,
             "scale": s, "rating": r, "n": n}
            for (h, q, a, c, s, r), n in ratings.items()])


# --- reading: rollup where complete, raw scan for the rest ----------------------------------

@dataclass(frozen=True)
class Plan:
    """Which parts of [start, end) come from the daily rollups, the hourly rollups and the
    raw scan. Daily rows are used only when no per-hour split is asked for."""

    hourly: tuple[tuple[datetime, datetime], ...]
    raw: tuple[datetime, datetime] | None
    daily: tuple[tuple[datetime, datetime], ...] = ()

    @property
    def rollup(self) -> tuple[datetime, datetime] | None:  # kept for callers and tests
        return self.hourly[0] if self.hourly else None


def plan(session: Session, org_id: int, start: datetime, end: datetime, source: str,
         *, hours_needed: bool = True) -> Plan:
    if source == "raw":
        return Plan((), (start, end))
    done = done_until(session, org_id)
    aligned = floor_hour(start) == start and floor_hour(end) == end
    if done is None or not aligned or done <= start:
        return Plan((), (start, end))
    r_end = min(end, done)
    raw = (done, end) if done < end else None
    d0 = floor_day(start) if floor_day(start) == start else floor_day(start) + DAY
    d1 = floor_day(r_end)
    if hours_needed or d1 <= d0:
        return Plan(((start, r_end),), raw)
    hourly = tuple(span for span in ((start, d0), (d1, r_end)) if span[1] > span[0])
    return Plan(hourly, raw, ((d0, d1),))


def _dim_cols(table: Any, dims: Dims) -> list[ColumnElement[Any]]:
    names = {"hour": "hour", "queue": "queue_id", "agent": "agent_id"}
    return [table.__table__.c[names[d]] for d in dims]


def _spans(p: Plan, hourly: Any, daily: Any) -> list[tuple[Any, tuple[datetime, datetime]]]:
    return [(hourly, span) for span in p.hourly] + [(daily, span) for span in p.daily]


def _key(row: Sequence[Any], dims: Dims, extra: int = 0) -> tuple[Any, ...]:
    out: list[Any] = []
    for i, d in enumerate(dims):
        out.append(parse_hour(row[i]) if d == "hour" else int(row[i]))
    return (*out, *row[len(dims):len(dims) + extra])


def _filtered(stmt: Any, table: Any, org_id: int, span: tuple[datetime, datetime],
              filters: Filters, has_queue: bool = True) -> Any:
    at = table.__table__.c["hour"] if "hour" in table.__table__.c else table.__table__.c["day"]
    stmt = stmt.where(table.org_id == org_id, at >= span[0], at < span[1])
    if filters.queue_ids and has_queue:
        stmt = stmt.where(table.queue_id.in_(filters.queue_ids))
    if filters.agent_ids:
        stmt = stmt.where(table.agent_id.in_(filters.agent_ids))
    return stmt


def _subtotals(stmt: Any, table: Any, dims: Dims, filters: Filters) -> Any:
    """Read the rows that need no summing over the other dimension: the full queue × agent
    rows, or the subtotal rows of every queue (per agent) or every agent (per queue)."""
    need_agent = "agent" in dims or bool(filters.agent_ids)
    need_queue = "queue" in dims or bool(filters.queue_ids)
    if need_agent and need_queue:
        return stmt.where(table.queue_id != ALL, table.agent_id != ALL)
    if need_agent:
        return stmt.where(table.queue_id == ALL)
    return stmt.where(table.agent_id == ALL)


def call_facts(session: Session, org_id: int, p: Plan, dims: Dims, filters: Filters
               ) -> dict[tuple[Any, ...], dict[str, int]]:
    out: dict[tuple[Any, ...], dict[str, int]] = {}
    for table, span in _spans(p, ReportCallHour, ReportCallDay):
        keys = _dim_cols(table, dims)
        aggs = [(func.max if name in MAX_COLUMNS else func.sum)(
            table.__table__.c[name]) for name in CALL_COLUMNS]
        stmt = select(*keys, *aggs)
        stmt = _subtotals(_filtered(stmt, table, org_id, span, filters), table, dims, filters)
        if keys:
            stmt = stmt.group_by(*keys)
        part: dict[tuple[Any, ...], dict[str, int]] = {}
        for row in session.execute(stmt):
            values = {n: int(row[len(dims) + i] or 0) for i, n in enumerate(CALL_COLUMNS)}
            if any(values.values()):
                part[_key(row, dims)] = values
        merge_calls(out, part)
    if p.raw is not None:
        merge_calls(out, raw_call_facts(session, org_id, p.raw[0], p.raw[1], dims, filters))
    return out


def agent_time(session: Session, org_id: int, p: Plan, dims: Dims, filters: Filters,
               now: datetime) -> dict[tuple[Any, ...], list[int]]:
    """Key = kept dims among (hour, agent) + (kind, reason); value = [ms, starts]."""
    adims: Dims = tuple(d for d in dims if d in ("hour", "agent"))
    out: dict[tuple[Any, ...], list[int]] = {}
    for table, span in _spans(p, ReportAgentHour, ReportAgentDay):
        keys = _dim_cols(table, adims)
        stmt = select(*keys, table.kind, table.reason, func.sum(table.ms),
                      func.sum(table.starts))
        stmt = _filtered(stmt, table, org_id, span, filters, has_queue=False)
        stmt = stmt.group_by(*keys, table.kind, table.reason)
        for row in session.execute(stmt):
            k = _key(row, adims, extra=2)
            acc = out.setdefault(k, [0, 0])
            acc[0] += int(row[-2] or 0)
            acc[1] += int(row[-1] or 0)
    if p.raw is not None:
        end = min(p.raw[1], max(now, p.raw[0]))
        raw = raw_agent_time(session, org_id, p.raw[0], end, filters) \
            if end > p.raw[0] else AgentTime()
        for k, (ms, starts) in group_agent_time(raw, adims).items():
            acc = out.setdefault(k, [0, 0])
            acc[0] += ms
            acc[1] += starts
    return out


def ratings(session: Session, org_id: int, p: Plan, dims: Dims, filters: Filters
            ) -> dict[tuple[Any, ...], int]:
    """Key = dims + (channel, scale, rating); value = number of ratings."""
    out: dict[tuple[Any, ...], int] = {}
    for t, span in _spans(p, ReportRatingHour, ReportRatingDay):
        keys = _dim_cols(t, dims)
        stmt = select(*keys, t.channel, t.scale, t.rating, func.sum(t.n))
        stmt = _subtotals(_filtered(stmt, t, org_id, span, filters), t, dims, filters)
        stmt = stmt.group_by(*keys, t.channel, t.scale, t.rating)
        for row in session.execute(stmt):
            k = _key(row, dims, extra=3)
            out[k] = out.get(k, 0) + int(row[-1] or 0)
    if p.raw is not None:
        for k, n in raw_ratings(session, org_id, p.raw[0], p.raw[1], dims, filters).items():
            out[k] = out.get(k, 0) + n
    return out
