"""Facts: per-hour sums read straight from the event log (the raw scan).

Three kinds, each with the same shape whether it comes from this raw scan or from the
rollup tables (``zvans.reports.rollup``):

* call facts — one row of counters per (hour, queue, agent), columns of ``ReportCallHour``;
* agent time — logged-in and paused milliseconds per (hour, agent, kind, reason), folded
  from the agent's login/pause/ready/logout events and split exactly at hour boundaries;
* ratings — counts per (hour, queue, agent, channel, scale, rating).

Queue and agent 0 mean "none" (an IVR event has no queue, an abandoned call no agent).
Events of simulated interactions are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from zvans.core.events import EventType as T
from zvans.core.metrics import DEFAULT_SHORT_ABANDON_S, DEFAULT_SL_THRESHOLD_S, WAIT_BUCKETS
from zvans.reports.sql import data_ms, data_str, hour_start, not_callback, parse_hour
from zvans.store.models import Event, Interaction, Queue, ReportCallHour

HOUR = timedelta(hours=1)
#: How far back the agent-time fold looks for the state an agent was in when a range starts.
AGENT_LOOKBACK = timedelta(days=31)

KEY_COLUMNS = ("org_id", "hour", "queue_id", "agent_id")
CALL_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in ReportCallHour.__table__.columns if c.name not in KEY_COLUMNS)
#: Columns combined with max() instead of sum().
MAX_COLUMNS = frozenset({"wait_max_ms"})

Dims = tuple[str, ...]  # a subset of ("hour", "queue", "agent"), in that order
DIM_ORDER = ("hour", "queue", "agent")

CALL_TYPES = (
    T.ARRIVED, T.ENQUEUED, T.ANSWERED, T.ABANDONED, T.OVERFLOWED, T.RING_NO_ANSWER,
    T.CALLBACK_REQUESTED, T.CALLBACK_STARTED, T.VOICEMAIL_LEFT, T.TRANSFERRED, T.COMPLETED,
    T.HELD, T.RESUMED, T.WRAPUP_DONE,
)
AGENT_TYPES = (T.AGENT_LOGIN, T.AGENT_LOGOUT, T.AGENT_PAUSED, T.AGENT_READY)


def _not_simulated() -> ColumnElement[bool]:
    return or_(Interaction.simulated.is_(None), Interaction.simulated == false())


def _call_aggregates() -> dict[str, ColumnElement[Any]]:
    """One SQL aggregate per call-fact column: DESIGN.md's metric definitions in SQL."""
    direction = data_str("direction", "in")
    channel = data_str("channel", "voice")
    inbound = direction == "in"
    outbound = direction == "out"
    wait = data_ms("wait_s")
    threshold_ms = func.coalesce(Queue.sl_threshold_s, DEFAULT_SL_THRESHOLD_S) * 1000
    short_ms = func.coalesce(Queue.short_abandon_s, DEFAULT_SHORT_ABANDON_S) * 1000
    answered = and_(Event.type == T.ANSWERED, inbound, not_callback())
    abandoned = Event.type == T.ABANDONED

    def count(cond: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((cond, 1), else_=0))

    def total(cond: ColumnElement[bool], value: ColumnElement[int]) -> ColumnElement[Any]:
        return func.sum(case((cond, value), else_=0))

    limits = [int(limit * 1000) for _, limit in WAIT_BUCKETS]
    buckets: dict[str, ColumnElement[Any]] = {}
    lower: int | None = None
    for name, upper in zip(
            ("wait_le_5", "wait_le_15", "wait_le_30", "wait_le_60", "wait_le_120"), limits,
            strict=True):
        cond = wait <= upper if lower is None else and_(wait > lower, wait <= upper)
        buckets[name] = count(and_(answered, cond))
        lower = upper
    buckets["wait_gt_120"] = count(and_(answered, wait > limits[-1]))

    aggs: dict[str, ColumnElement[Any]] = {
        "calls_in": count(and_(Event.type == T.ARRIVED, inbound, channel == "voice")),
        "chats_in": count(and_(Event.type == T.ARRIVED, inbound, channel == "chat")),
        "emails_in": count(and_(Event.type == T.ARRIVED, inbound, channel == "email")),
        "offered": count(Event.type == T.ENQUEUED),
        "answered": count(answered),
        "answered_in_sl": count(and_(answered, wait <= threshold_ms)),
        "answered_wait_ms": total(answered, wait),
        **buckets,
        "wait_max_ms": func.max(case((or_(answered, abandoned), wait), else_=0)),
        "abandoned": count(abandoned),
        "abandoned_short": count(and_(abandoned, wait < short_ms)),
        "abandoned_wait_ms": total(abandoned, wait),
        "overflowed": count(Event.type == T.OVERFLOWED),
        "ring_no_answer": count(Event.type == T.RING_NO_ANSWER),
        "callbacks_requested": count(Event.type == T.CALLBACK_REQUESTED),
        "callbacks_made": count(Event.type == T.CALLBACK_STARTED),
        "voicemails": count(Event.type == T.VOICEMAIL_LEFT),
        "transferred": count(Event.type == T.TRANSFERRED),
        "talk_n": count(and_(Event.type == T.COMPLETED, inbound)),
        "talk_ms": total(and_(Event.type == T.COMPLETED, inbound), data_ms("talk_s")),
        "holds": count(Event.type == T.HELD),
        "hold_ms": total(Event.type == T.RESUMED, data_ms("hold_s")),
        # inbound handle time: the wrap-up after an outgoing call (direction "out") is not
        "wrapup_n": count(and_(Event.type == T.WRAPUP_DONE, inbound)),
        "wrapup_ms": total(and_(Event.type == T.WRAPUP_DONE, inbound), data_ms("wrapup_s")),
        "out_calls": count(and_(Event.type == T.ARRIVED, outbound)),
        "out_answered": count(and_(Event.type == T.ANSWERED, outbound)),
        "out_talk_n": count(and_(Event.type == T.COMPLETED, outbound)),
        "out_talk_ms": total(and_(Event.type == T.COMPLETED, outbound), data_ms("talk_s")),
    }
    assert tuple(aggs) == CALL_COLUMNS, "call facts and ReportCallHour columns differ"
    return aggs


@dataclass
class Filters:
    queue_ids: Sequence[int] = ()
    agent_ids: Sequence[int] = ()


def _key(row: Sequence[Any], dims: Dims) -> tuple[Any, ...]:
    out: list[Any] = []
    for i, d in enumerate(dims):
        out.append(parse_hour(row[i]) if d == "hour" else int(row[i] or 0))
    return tuple(out)


def raw_call_facts(
    session: Session, org_id: int, start: datetime, end: datetime, dims: Dims,
    filters: Filters,
) -> dict[tuple[Any, ...], dict[str, int]]:
    """Call facts of [start, end) straight from the event log, grouped by ``dims``."""
    dim_cols: dict[str, ColumnElement[Any]] = {
        "hour": hour_start(Event.at),
        "queue": func.coalesce(Event.queue_id, literal_column("0")),
        "agent": func.coalesce(Event.agent_id, literal_column("0")),
    }
    keys = [dim_cols[d].label(f"k_{d}") for d in dims]
    aggs = _call_aggregates()
    stmt = (
        select(*keys, *(agg.label(name) for name, agg in aggs.items()))
        .select_from(Event)
        .outerjoin(Interaction, Interaction.id == Event.interaction_id)
        .outerjoin(Queue, Queue.id == Event.queue_id)
        .where(Event.org_id == org_id, Event.at >= start, Event.at < end,
               Event.type.in_([str(t) for t in CALL_TYPES]), _not_simulated())
    )
    if filters.queue_ids:
        stmt = stmt.where(Event.queue_id.in_(filters.queue_ids))
    if filters.agent_ids:
        stmt = stmt.where(Event.agent_id.in_(filters.agent_ids))
    if keys:
        stmt = stmt.group_by(*(dim_cols[d] for d in dims))
    out: dict[tuple[Any, ...], dict[str, int]] = {}
    for row in session.execute(stmt):
        values = {name: int(row[len(dims) + i] or 0) for i, name in enumerate(aggs)}
        if not any(values.values()):
            continue
        out[_key(row, dims)] = values
    return out


def merge_calls(into: dict[tuple[Any, ...], dict[str, int]],
                more: dict[tuple[Any, ...], dict[str, int]]) -> None:
    for key, values in more.items():
        have = into.get(key)
        if have is None:
            into[key] = dict(values)
            continue
        for name, v in values.items():
            have[name] = max(have[name], v) if name in MAX_COLUMNS else have[name] + v


# --- agent time ------------------------------------------------------------------------------

AgentKey = tuple[datetime, int, str, str]  # hour, agent, kind ("login"/"pause"), reason


@dataclass
class _AgentState:
    since: datetime
    logged_in: bool = False
    reason: str | None = None


@dataclass
class AgentTime:
    """Milliseconds and interval starts per (hour, agent, kind, reason)."""

    ms: dict[AgentKey, int] = field(default_factory=dict)
    starts: dict[AgentKey, int] = field(default_factory=dict)

    def add(self, key: AgentKey, ms: int, starts: int) -> None:
        if ms:
            self.ms[key] = self.ms.get(key, 0) + ms
        if starts:
            self.starts[key] = self.starts.get(key, 0) + starts

    def all_keys(self) -> set[AgentKey]:
        return set(self.ms) | set(self.starts)


def floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _split(out: AgentTime, agent: int, kind: str, reason: str, a: datetime, b: datetime) -> None:
    """Add the interval [a, b) to ``out``, cut at hour boundaries."""
    hour = floor_hour(a)
    steps = int((b - hour) / HOUR) + 2  # bounded: one step per hour touched
    for _ in range(steps):
        if hour >= b:
            break
        lo, hi = max(a, hour), min(b, hour + HOUR)
        if hi > lo:
            out.add((hour, agent, kind, reason), (hi - lo) // timedelta(milliseconds=1), 0)
        hour += HOUR


def _apply(state: _AgentState, etype: str, data: dict[str, Any]) -> tuple[bool, bool]:
    """Move ``state`` by one event; returns (a login started, a pause started)."""
    was_in, was_reason = state.logged_in, state.reason
    if etype == T.AGENT_LOGOUT:
        state.logged_in, state.reason = False, None
    elif etype == T.AGENT_LOGIN or etype == T.AGENT_READY:
        state.logged_in, state.reason = True, None
    elif etype == T.AGENT_PAUSED:
        state.logged_in = True
        state.reason = str(data.get("reason") or "other")
    login_started = state.logged_in and not was_in
    pause_started = state.reason is not None and state.reason != was_reason
    return login_started, pause_started


def raw_agent_time(
    session: Session, org_id: int, start: datetime, end: datetime, filters: Filters,
) -> AgentTime:
    """Logged-in and paused time in [start, end), folded from agent events.

    A paused or ready event implies the agent is logged in; paused time is part of the
    logged-in time. The state at ``start`` comes from each agent's last event before it
    (looking back at most ``AGENT_LOOKBACK``). Intervals still open at ``end`` are cut there."""
    types = [str(t) for t in AGENT_TYPES]
    base = [Event.org_id == org_id, Event.type.in_(types), Event.agent_id.is_not(None)]
    if filters.agent_ids:
        base.append(Event.agent_id.in_(filters.agent_ids))
    last = (
        select(Event.agent_id, func.max(Event.at).label("at"))
        .where(*base, Event.at < start, Event.at >= start - AGENT_LOOKBACK)
        .group_by(Event.agent_id)
        .subquery()
    )
    prior = session.execute(
        select(Event.agent_id, Event.type, Event.data)
        .join(last, and_(Event.agent_id == last.c.agent_id, Event.at == last.c.at))
        .where(*base)
        .order_by(Event.agent_id, Event.at, Event.id)
    )
    states: dict[int, _AgentState] = {}
    for agent_id, etype, data in prior:
        st = states.setdefault(int(agent_id), _AgentState(since=start))
        _apply(st, etype, data or {})
    out = AgentTime()
    rows = session.execute(
        select(Event.agent_id, Event.type, Event.data, Event.at)
        .where(*base, Event.at >= start, Event.at < end)
        .order_by(Event.agent_id, Event.at, Event.id)
    )
    for agent_id, etype, data, at in rows:
        agent = int(agent_id)
        st = states.setdefault(agent, _AgentState(since=start))
        _close(out, agent, st, at)
        login_started, pause_started = _apply(st, etype, data or {})
        hour = floor_hour(at)
        if login_started:
            out.add((hour, agent, "login", ""), 0, 1)
        if pause_started and st.reason is not None:
            out.add((hour, agent, "pause", st.reason), 0, 1)
    for agent, st in states.items():
        _close(out, agent, st, end)
    return out


def _close(out: AgentTime, agent: int, st: _AgentState, at: datetime) -> None:
    if at > st.since and st.logged_in:
        _split(out, agent, "login", "", st.since, at)
        if st.reason is not None:
            _split(out, agent, "pause", st.reason, st.since, at)
    st.since = max(st.since, at)


# --- ratings ---------------------------------------------------------------------------------

RatingKey = tuple[Any, ...]  # dims..., channel, scale, rating


def raw_ratings(
    session: Session, org_id: int, start: datetime, end: datetime, dims: Dims,
    filters: Filters,
) -> dict[RatingKey, int]:
    """Number of ratings per dims + (channel, scale, rating); scale defaults to 5."""
    inner_cols: list[Any] = [
        hour_start(Event.at).label("k_hour"),
        func.coalesce(Event.queue_id, 0).label("k_queue"),
        func.coalesce(Event.agent_id, 0).label("k_agent"),
        data_str("channel", "voice").label("channel"),
        func.coalesce(Event.data["scale"].as_integer(), literal(5, Integer)).label("scale"),
        Event.data["rating"].as_integer().label("rating"),
    ]
    inner = (
        select(*inner_cols)
        .select_from(Event)
        .outerjoin(Interaction, Interaction.id == Event.interaction_id)
        .where(Event.org_id == org_id, Event.at >= start, Event.at < end,
               Event.type == T.RATED, _not_simulated())
    )
    if filters.queue_ids:
        inner = inner.where(Event.queue_id.in_(filters.queue_ids))
    if filters.agent_ids:
        inner = inner.where(Event.agent_id.in_(filters.agent_ids))
    sub = inner.subquery()
    group = [sub.c[f"k_{d}"] for d in dims] + [sub.c.channel, sub.c.scale, sub.c.rating]
    stmt = (select(*group, func.count().label("n")).where(sub.c.rating.is_not(None))
            .group_by(*group))
    out: dict[RatingKey, int] = {}
    for row in session.execute(stmt):
        key = (*_key(row, dims), str(row[len(dims)]), int(row[len(dims) + 1]),
               int(row[len(dims) + 2]))
        out[key] = out.get(key, 0) + int(row[-1])
    return out


def group_agent_time(time: AgentTime, dims: Dims) -> dict[tuple[Any, ...], list[int]]:
    """Agent time summed over the dims kept: key = dims (hour/agent) + (kind, reason)."""
    out: dict[tuple[Any, ...], list[int]] = {}
    for key in time.all_keys():
        hour, agent, kind, reason = key
        parts: list[Any] = []
        if "hour" in dims:
            parts.append(hour)
        if "agent" in dims:
            parts.append(agent)
        k = (*parts, kind, reason)
        acc = out.setdefault(k, [0, 0])
        acc[0] += time.ms.get(key, 0)
        acc[1] += time.starts.get(key, 0)
    return out


__all__ = [
    "AGENT_TYPES", "CALL_COLUMNS", "CALL_TYPES", "AgentTime", "Filters", "floor_hour",
    "group_agent_time", "merge_calls", "raw_agent_time", "raw_call_facts", "raw_ratings",
]
