"""Drill-down: the calls behind a number of a report.

A column's ``drill`` names one of ``METRICS``; the same conditions as the SQL that counted
the number select the events, and their interactions are listed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select

from zvans.core.events import EventType as T
from zvans.core.metrics import DEFAULT_SHORT_ABANDON_S
from zvans.errors import InvalidInput
from zvans.reports.params import Context, local_range
from zvans.reports.sql import data_ms, data_str, not_callback
from zvans.reports.unanswered import unanswered_calls
from zvans.store.models import Event, Interaction, Queue

Cond = Callable[[], ColumnElement[bool]]


def _answered_wait(lo: int | None, hi: int | None) -> Cond:
    def cond() -> ColumnElement[bool]:
        wait = data_ms("wait_s")
        parts = [Event.type == T.ANSWERED, data_str("direction", "in") == "in",
                 not_callback()]
        if lo is not None:
            parts.append(wait > lo)
        if hi is not None:
            parts.append(wait <= hi)
        return and_(*parts)
    return cond


def _typed(etype: str, direction: str | None = None) -> Cond:
    def cond() -> ColumnElement[bool]:
        if direction is None:
            return Event.type == etype
        return and_(Event.type == etype, data_str("direction", "in") == direction)
    return cond


def _short_abandon() -> ColumnElement[bool]:
    limit = func.coalesce(Queue.short_abandon_s, DEFAULT_SHORT_ABANDON_S) * 1000
    return and_(Event.type == T.ABANDONED, data_ms("wait_s") < limit)


METRICS: dict[str, Cond] = {
    "offered": _typed(T.ENQUEUED),
    "answered": _answered_wait(None, None),
    "talked": _typed(T.COMPLETED, "in"),
    "abandoned": _typed(T.ABANDONED),
    "abandoned_short": _short_abandon,
    "overflowed": _typed(T.OVERFLOWED),
    "callbacks_requested": _typed(T.CALLBACK_REQUESTED),
    "callbacks_made": _typed(T.CALLBACK_STARTED),
    "transferred": _typed(T.TRANSFERRED),
    "voicemails": _typed(T.VOICEMAIL_LEFT),
    "out_calls": _typed(T.ARRIVED, "out"),
    "out_answered": _typed(T.ANSWERED, "out"),
    "wait_le_5": _answered_wait(None, 5000),
    "wait_le_15": _answered_wait(5000, 15000),
    "wait_le_30": _answered_wait(15000, 30000),
    "wait_le_60": _answered_wait(30000, 60000),
    "wait_le_120": _answered_wait(60000, 120000),
    "wait_gt_120": _answered_wait(120000, None),
}


def _period_range(ctx: Context, period: str) -> tuple[datetime, datetime]:
    try:
        if len(period) == 10:
            return local_range(ctx.tz, date.fromisoformat(period), date.fromisoformat(period))
        local = datetime.strptime(period, "%Y-%m-%d %H:%M").replace(tzinfo=ctx.tz)
    except ValueError:
        raise InvalidInput("period", f"not a period: {period!r}") from None
    start = local.astimezone(ctx.start.tzinfo)
    return start, start + timedelta(hours=1)


def calls_behind(
    ctx: Context, metric: str, *, queue_id: int | None = None, agent_id: int | None = None,
    period: str = "", category: str = "", limit: int = 1000,
) -> list[dict[str, Any]]:
    """The interactions counted in one cell: metric (a column's ``drill``), the row's queue
    and/or agent and period. Restricted like the report (filters, the viewing agent)."""
    start, end = ctx.start, ctx.end
    if period:
        p_start, p_end = _period_range(ctx, period)
        start, end = max(start, p_start), min(end, p_end)
    if metric == "unanswered":
        wanted = [c for c in unanswered_calls(ctx)
                  if (not category or c["category"] == category)
                  and (queue_id is None or c["queue_id"] == queue_id)
                  and start <= c["at"] < end]
        return _interactions(ctx, [c["interaction_id"] for c in wanted][:limit])
    cond = METRICS.get(metric)
    if cond is None:
        raise InvalidInput("metric", f"no drill-down for {metric!r}")
    if ctx.only_agent_id is not None:
        agent_id = ctx.only_agent_id
    stmt = (
        select(Event.interaction_id, func.min(Event.at))
        .select_from(Event)
        .outerjoin(Interaction, Interaction.id == Event.interaction_id)
        .outerjoin(Queue, Queue.id == Event.queue_id)
        .where(Event.org_id == ctx.org_id, Event.at >= start, Event.at < end, cond(),
               Event.interaction_id.is_not(None),
               or_(Interaction.simulated.is_(None), Interaction.simulated == false()))
        .group_by(Event.interaction_id)
        .order_by(func.min(Event.at))
        .limit(limit)
    )
    if queue_id is not None:
        stmt = stmt.where(Event.queue_id == queue_id)
    elif ctx.filters.queue_ids:
        stmt = stmt.where(Event.queue_id.in_(ctx.filters.queue_ids))
    if agent_id is not None:
        stmt = stmt.where(Event.agent_id == agent_id)
    elif ctx.filters.agent_ids:
        stmt = stmt.where(Event.agent_id.in_(ctx.filters.agent_ids))
    ids = [int(iid or 0) for iid, _at in ctx.session.execute(stmt)]
    return _interactions(ctx, ids)


def _interactions(ctx: Context, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = ctx.session.execute(
        select(Interaction).where(Interaction.org_id == ctx.org_id, Interaction.id.in_(ids))
    ).scalars()
    by_id = {r.id: r for r in rows}
    out = []
    for iid in ids:
        r = by_id.get(iid)
        if r is None:
            continue
        out.append({
            "id": r.id, "channel": r.channel, "direction": r.direction, "caller": r.caller,
            "callee": r.callee, "queue": ctx.queue_name(r.queue_id) if r.queue_id else "",
            "agent": ctx.agent_name(r.agent_id) if r.agent_id else "",
            "started_at": r.started_at.isoformat(),
            "answered_at": r.answered_at.isoformat() if r.answered_at else None,
            "ended_at": r.ended_at.isoformat() if r.ended_at else None,
            "outcome": r.outcome})
    return out
