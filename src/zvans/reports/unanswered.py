"""Unanswered unique calls (seed 001): out of hours, IVR not finished, abandoned in queue —
per distinct caller, and how many of those callers were reached later.

An *unanswered call* is an incoming interaction with at least one ``out_of_hours``,
``ivr_abandoned`` or ``abandoned`` event. It belongs to the time of its first such event
(``at``), its category is the first in ``CATEGORIES`` order among its events, its queue is
that event's. It is *reached* when a later interaction of the organisation (started after
it) was answered: an incoming call from the number or an outgoing call to it. Per row of
the report a caller counts once, reached or not by their last unanswered call in the row
(by ``at``); an anonymous call is its own caller, never reached.

The same facts come from the raw log (``raw_facts``) or from ``report_unanswered`` (one
row per unanswered call, kept by the catch-up job in ``zvans.reports.rollup``), whose
``prev_*`` / ``next_*`` columns (the same caller's neighbouring unanswered calls) turn
"distinct callers over a range" into a plain count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import Table as SqlTable
from sqlalchemy.orm import Session, aliased

from zvans.core.events import EventType as T
from zvans.errors import InvalidInput
from zvans.reports import rollup
from zvans.reports.facts import floor_hour
from zvans.reports.params import Context
from zvans.reports.table import Column, Report, Table, _
from zvans.store.models import Event, Interaction, ReportUnanswered

#: Category of an unanswered call, by the event that made it one; the first wins.
CATEGORIES = (
    ("out_of_hours", T.OUT_OF_HOURS, _("Out of hours")),
    ("ivr_not_finished", T.IVR_ABANDONED, _("IVR not finished")),
    ("abandoned", T.ABANDONED, _("Abandoned in queue")),
)
ORDER = [k for k, _t, _l in CATEGORIES]
_RANK = {str(t): i for i, (_k, t, _l) in enumerate(CATEGORIES)}
#: An interaction answered at most this long after it started still marks earlier
#: unanswered calls of its number as reached when the catch-up job next runs.
REACH_LOOKBACK = timedelta(days=1)
_CHUNK = 500  # numbers per IN (...) list


@dataclass
class Fact:
    interaction_id: int
    at: datetime
    started_at: datetime
    category: str
    queue_id: int
    caller: str
    reached: bool

    @property
    def who(self) -> str:
        return self.caller or f"#{self.interaction_id}"


# --- the raw scan ----------------------------------------------------------------------------

def _not_simulated(model: Any) -> ColumnElement[bool]:
    return or_(model.simulated.is_(None), model.simulated == false())


def _reached_expr() -> ColumnElement[bool]:
    later = aliased(Interaction)
    answered_later = and_(
        later.org_id == Interaction.org_id, later.started_at > Interaction.started_at,
        later.answered_at.is_not(None), _not_simulated(later))
    return or_(
        exists().where(answered_later, later.direction == "in",
                       later.caller == Interaction.caller),
        exists().where(answered_later, later.direction == "out",
                       later.callee == Interaction.caller))


def raw_facts(session: Session, org_id: int, start: datetime, end: datetime) -> list[Fact]:
    """The unanswered calls whose first unanswered event is in [start, end), from the log,
    ordered by (at, interaction id)."""
    types = [str(t) for _k, t, _l in CATEGORIES]
    in_range = (select(Event.interaction_id)
                .where(Event.org_id == org_id, Event.type.in_(types), Event.at >= start,
                       Event.at < end, Event.interaction_id.is_not(None)))
    stmt = (
        select(Event.interaction_id, Event.type, Event.at, Event.queue_id, Interaction.caller,
               Interaction.started_at, _reached_expr())
        .join(Interaction, Interaction.id == Event.interaction_id)
        .where(Event.org_id == org_id, Event.type.in_(types),
               Event.interaction_id.in_(in_range),
               Interaction.org_id == org_id, Interaction.direction == "in",
               _not_simulated(Interaction))
        .order_by(Event.at, Event.id)
    )
    calls: dict[int, Fact] = {}
    for iid, etype, at, queue_id, caller, started_at, reached in session.execute(stmt):
        have = calls.get(int(iid or 0))
        if have is None:
            calls[int(iid or 0)] = Fact(int(iid or 0), at, started_at, ORDER[_RANK[etype]],
                                   int(queue_id or 0), caller or "",
                                   bool(reached) and bool(caller))
        elif _RANK[etype] < ORDER.index(have.category):
            have.category, have.queue_id = ORDER[_RANK[etype]], int(queue_id or 0)
    facts = [f for f in calls.values() if start <= f.at < end]
    return sorted(facts, key=lambda f: (f.at, f.interaction_id))


def unanswered_calls(ctx: Context) -> list[dict[str, Any]]:
    """One dict per unanswered call in the report's range (raw scan; for the drill-down)."""
    return [{"interaction_id": f.interaction_id, "category": f.category,
             "caller": f.caller, "queue_id": f.queue_id, "at": f.at, "reached": f.reached}
            for f in raw_facts(ctx.session, ctx.org_id, ctx.start, ctx.end)
            if not ctx.filters.queue_ids or f.queue_id in ctx.filters.queue_ids]


# --- figures ---------------------------------------------------------------------------------

Figures = list[int]  # calls, callers, reached callers


def fold(facts: Iterable[Fact], key: Any) -> dict[Any, Figures]:
    """Figures per key(fact) (a list of keys) over facts in (at, id) order: a caller is
    reached by their last call under each key."""
    calls: dict[Any, int] = {}
    last: dict[Any, dict[str, bool]] = {}
    for f in facts:
        for k in key(f):
            calls[k] = calls.get(k, 0) + 1
            last.setdefault(k, {})[f.who] = f.reached
    return {k: [calls[k], len(last[k]), sum(1 for r in last[k].values() if r)] for k in calls}


def _add(into: dict[Any, Figures], more: dict[Any, Figures], sign: int = 1) -> None:
    for k, v in more.items():
        acc = into.setdefault(k, [0, 0, 0])
        for i in range(3):
            acc[i] += sign * v[i]


def _total_keys(f: Fact) -> list[Any]:
    return [f.category, ""]


def _rollup_rows(session: Session, org_id: int, start: datetime, end: datetime,
                 queue_ids: Sequence[int] = (), callers: Sequence[str] | None = None
                 ) -> list[Fact]:
    R = ReportUnanswered
    base = select(R.interaction_id, R.at, R.started_at, R.category, R.queue_id, R.caller,
                  R.reached).where(R.org_id == org_id, R.hour >= start, R.hour < end)
    if queue_ids:
        base = base.where(R.queue_id.in_(queue_ids))
    chunks: list[Any] = [base]
    if callers is not None:
        numbers = sorted(set(callers))
        chunks = [base.where(R.caller.in_(numbers[i:i + _CHUNK]))
                  for i in range(0, len(numbers), _CHUNK)]
    out = [Fact(int(r[0]), r[1], r[2], r[3], int(r[4]), r[5], bool(r[6]))
           for stmt in chunks for r in session.execute(stmt)]
    return sorted(out, key=lambda f: (f.at, f.interaction_id))


def _pointer_totals(session: Session, org_id: int, start: datetime, end: datetime
                    ) -> dict[Any, Figures]:
    """Per category and in total ("") over rolled-up [start, end), with no filter: a
    caller's first call in the range is the one whose previous call is before it, their
    last the one whose next call is after it."""
    R = ReportUnanswered

    def first(prev: Any) -> ColumnElement[Any]:
        return func.sum(case((or_(prev.is_(None), prev < start), 1), else_=0))

    def reached_last(nxt: Any) -> ColumnElement[Any]:
        return func.sum(case((and_(or_(nxt.is_(None), nxt >= end), R.reached == true()), 1),
                             else_=0))

    out: dict[Any, Figures] = {}
    for cat in ORDER:  # one index range each (ix_report_unanswered_totals), no sorting
        stmt = (select(func.count(), first(R.prev_cat_at), reached_last(R.next_cat_at),
                       first(R.prev_at), reached_last(R.next_at))
                .where(R.org_id == org_id, R.category == cat, R.hour >= start, R.hour < end))
        n, callers, reached, callers_any, reached_any = session.execute(stmt).one()
        if n:
            out[cat] = [int(n), int(callers or 0), int(reached or 0)]
            _add(out, {"": [int(n), int(callers_any or 0), int(reached_any or 0)]})
    return out


def figures(ctx: Context) -> tuple[dict[Any, Figures], dict[Any, Figures]]:
    """(rows keyed by (period, category), totals keyed by category and "")."""
    session, org_id = ctx.session, ctx.org_id
    p = rollup.plan(session, org_id, ctx.start, ctx.end, ctx.params.source)
    span = p.hourly[0] if p.hourly else None
    tail = raw_facts(session, org_id, *p.raw) if p.raw is not None else []
    queues = ctx.filters.queue_ids
    if queues:
        tail = [f for f in tail if f.queue_id in queues]
    grouped = ctx.params.group != "total"
    if span is not None and not queues and not grouped:
        # Totals over the rollup: plain counts, then the callers who also called in the raw
        # tail are counted again from all their calls.
        totals = _pointer_totals(session, org_id, *span)
        if tail:
            both = _rollup_rows(session, org_id, *span,
                                callers=[f.caller for f in tail if f.caller])
            _add(totals, fold(both, _total_keys), -1)
            _add(totals, fold([*both, *tail], _total_keys))
        return {("", k): v for k, v in totals.items() if k}, totals
    facts = (_rollup_rows(session, org_id, *span, queue_ids=queues) if span else []) + tail
    rows = fold(facts, lambda f: [(ctx.period(f.at), f.category)]) if grouped else {}
    totals = fold(facts, _total_keys)
    if not grouped:
        rows = {("", k): v for k, v in totals.items() if k}
    return rows, totals


def unanswered(ctx: Context) -> Report:
    if ctx.filters.agent_ids:
        raise InvalidInput("agent", "unanswered calls have no agent: drop the agent filter")
    groups, totals = figures(ctx)
    cols = [*([Column("period", _("Period"), "text")] if ctx.params.group != "total" else []),
            Column("category", _("Reason"), "text"),
            Column("calls", _("Unanswered calls"), "int", "", "unanswered"),
            Column("callers", _("Unique callers"), "int", _("distinct caller numbers")),
            Column("reached", _("Reached later"), "int",
                   _("callers with a later answered call, in or out")),
            Column("unanswered_unique", _("Unanswered unique calls"), "int",
                   _("distinct callers with no later answered call or callback"))]
    labels = {k: label for k, _t, label in CATEGORIES}

    def row(v: Figures) -> dict[str, Any]:
        return {"calls": v[0], "callers": v[1], "reached": v[2],
                "unanswered_unique": v[1] - v[2]}

    rows = [{"period": p, "category_key": cat, "category": labels[cat], **row(v)}
            for (p, cat), v in sorted(groups.items(),
                                      key=lambda kv: (kv[0][0], ORDER.index(kv[0][1])))
            if v[0]]
    total = {"period": "", "category_key": "", "category": _("Total"),
             **row(totals.get("", [0, 0, 0]))}
    return Report("unanswered", _("Unanswered unique calls"), ctx.params.as_dict(),
                  [Table("unanswered", _("Unanswered calls"), cols, rows, total)],
                  [_("A caller is counted once per row; the total counts each caller once.")])


# --- the rollup (called by zvans.reports.rollup.catch_up) ------------------------------------

def roll(session: Session, org_id: int, start: datetime, stop: datetime) -> None:
    """Write the unanswered calls of [start, stop) and link them to the same callers' calls
    already rolled up (every row already there is earlier)."""
    R = ReportUnanswered
    session.execute(delete(R).where(R.org_id == org_id, R.hour >= start, R.hour < stop))
    facts = raw_facts(session, org_id, start, stop)
    if not facts:
        return
    numbers = sorted({f.caller for f in facts if f.caller})
    # (caller,) or (caller, category) → (interaction id, at, already stored)
    last_any: dict[tuple[str, ...], tuple[int, datetime, bool]] = {}
    last_cat: dict[tuple[str, ...], tuple[int, datetime, bool]] = {}
    for i in range(0, len(numbers), _CHUNK):
        for iid, caller, cat, at, nxt, nxt_cat in session.execute(
                select(R.interaction_id, R.caller, R.category, R.at, R.next_at, R.next_cat_at)
                .where(R.org_id == org_id, R.caller.in_(numbers[i:i + _CHUNK]),
                       or_(R.next_at.is_(None), R.next_cat_at.is_(None)))):
            if nxt is None:
                last_any[(caller,)] = (int(iid), at, True)
            if nxt_cat is None:
                last_cat[(caller, cat)] = (int(iid), at, True)
    rows: dict[int, dict[str, Any]] = {}
    next_updates: list[dict[str, Any]] = []
    next_cat_updates: list[dict[str, Any]] = []
    for f in facts:
        row = {"org_id": org_id, "interaction_id": f.interaction_id, "hour": floor_hour(f.at),
               "at": f.at, "started_at": f.started_at, "category": f.category,
               "queue_id": f.queue_id, "caller": f.caller, "reached": f.reached,
               "prev_at": None, "next_at": None, "prev_cat_at": None, "next_cat_at": None}
        rows[f.interaction_id] = row
        if not f.caller:
            continue
        for links, key, prev_col, next_col, updates in (
                (last_any, (f.caller,), "prev_at", "next_at", next_updates),
                (last_cat, (f.caller, f.category), "prev_cat_at", "next_cat_at",
                 next_cat_updates)):
            prev = links.get(key)
            if prev is not None:
                row[prev_col] = prev[1]
                if prev[2]:
                    updates.append({"o": org_id, "i": prev[0], "v": f.at})
                else:
                    rows[prev[0]][next_col] = f.at
            links[key] = (f.interaction_id, f.at, False)
    session.execute(insert(R), list(rows.values()))
    for col, updates in (("next_at", next_updates), ("next_cat_at", next_cat_updates)):
        if updates:
            t = cast(SqlTable, R.__table__)
            session.connection().execute(
                t.update().where(t.c.org_id == bindparam("o"),
                                 t.c.interaction_id == bindparam("i"))
                .values({col: bindparam("v")}), updates)


def refresh_reached(session: Session, org_id: int, since: datetime) -> None:
    """Mark rolled-up calls reached by an interaction answered since they were rolled up
    (interactions started from ``since`` on; re-running it changes nothing)."""
    R = ReportUnanswered
    later = aliased(Interaction)
    answered = and_(later.org_id == org_id, later.started_at > R.started_at,
                    later.started_at >= since, later.answered_at.is_not(None),
                    _not_simulated(later))
    session.execute(
        update(R).where(
            R.org_id == org_id, R.reached == false(), R.caller != "",
            or_(exists().where(answered, later.direction == "in", later.caller == R.caller),
                exists().where(answered, later.direction == "out", later.callee == R.caller)))
        .values(reached=True).execution_options(synchronize_session=False))
