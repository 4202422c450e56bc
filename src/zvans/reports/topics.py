"""Topics (seed 000): requests and calls per wrap-up code, conversation duration shortest /
longest / average per topic and per agent. Durations are the call duration each request
keeps (``Request.duration_s``).

*Calls* are the distinct calls behind the requests: a call counts in the row of its first
request of that key (topic, agent) — with one request per call, as usual, simply the
call of each request. Counted that way, calls add up over hours, so the per-hour rollup
``report_topic_hour`` (and its daily sums) holds them like any other count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from zvans.reports import rollup
from zvans.reports.facts import floor_hour
from zvans.reports.params import Context
from zvans.reports.sql import parse_hour
from zvans.reports.table import Column, Report, Table, _, seconds
from zvans.store.models import ReportTopicDay, ReportTopicHour, Request, request_wrapup

#: topic_id / agent_id / queue_id of subtotal rows ("all of them").
ALL = -1
Acc = list[Any]  # requests, calls, min, max, sum, n
Key = tuple[Any, ...]  # (hour or None, topic, agent, queue)


def _new() -> Acc:
    return [0, 0, None, None, 0, 0]


def _merge(acc: Acc, more: Sequence[Any]) -> None:
    acc[0] += int(more[0] or 0)
    acc[1] += int(more[1] or 0)
    if more[2] is not None:
        acc[2] = more[2] if acc[2] is None else min(acc[2], more[2])
    if more[3] is not None:
        acc[3] = more[3] if acc[3] is None else max(acc[3], more[3])
    acc[4] += int(more[4] or 0)
    acc[5] += int(more[5] or 0)


def raw_rows(session: Session, org_id: int, start: datetime, end: datetime, *,
             queue_ids: Sequence[int] = (), agent_ids: Sequence[int] = (),
             by_hour: bool = False, per_queue: bool = False) -> dict[Key, Acc]:
    """Figures of the requests created in [start, end) from the request tables, keyed by
    (hour or None, topic or ALL, agent or ALL, queue or ALL). Requests outside the filters
    are left out; a call counts under a key at its first request with that key (earlier
    requests of the same call are looked up before ``start``)."""
    R = Request
    cond = [R.org_id == org_id]
    if queue_ids:
        cond.append(func.coalesce(R.queue_id, 0).in_(queue_ids))
    if agent_ids:
        cond.append(func.coalesce(R.agent_id, 0).in_(agent_ids))
    in_range = [*cond, R.created_at >= start, R.created_at < end]
    calls_in_range = select(R.interaction_id).where(*in_range, R.interaction_id.is_not(None))
    earlier = [*cond, R.created_at < start, R.interaction_id.in_(calls_in_range)]
    cols = (R.id, R.created_at, R.interaction_id, R.agent_id, R.queue_id, R.duration_s)
    reqs: dict[int, tuple[Any, ...]] = {}
    topics: dict[int, list[int]] = {}
    for where in (in_range, earlier):
        for row in session.execute(select(*cols).where(*where)):
            reqs[int(row[0])] = tuple(row)
        for rid, tid in session.execute(
                select(request_wrapup.c.request_id, request_wrapup.c.wrapup_code_id)
                .join(R, R.id == request_wrapup.c.request_id).where(*where)):
            topics.setdefault(int(rid), []).append(int(tid))
    seen: set[tuple[int, int, int, int]] = set()
    out: dict[Key, Acc] = {}
    for rid, at, iid, agent, queue, dur in sorted(reqs.values(), key=lambda r: (r[1], r[0])):
        a, q = int(agent or 0), int(queue or 0)
        counted = start <= at < end
        hour = floor_hour(at) if by_hour else None
        for t in (*sorted(topics.get(rid, ())), ALL):
            for ak in (a, ALL):
                for qk in ((q, ALL) if per_queue else (ALL,)):
                    opens = iid is not None and (iid, t, ak, qk) not in seen
                    if opens:
                        seen.add((iid, t, ak, qk))
                    if counted:
                        _merge(out.setdefault((hour, t, ak, qk), _new()),
                               (1, int(opens), dur, dur, dur or 0, int(dur is not None)))
    return out


def _rollup_rows(ctx: Context, p: rollup.Plan, by_hour: bool) -> dict[Key, Acc]:
    """The same keys (queue ALL) from the rollups for the spans of ``p``: the queue filter
    (one queue) picks that queue's rows; an agent filter (one agent) that agent's rows,
    also reported under ALL."""
    f = ctx.filters
    agent = f.agent_ids[0] if f.agent_ids else None
    out: dict[Key, Acc] = {}
    spans = [(ReportTopicHour, s) for s in p.hourly] + [(ReportTopicDay, s) for s in p.daily]
    for table, (lo, hi) in spans:
        at = ReportTopicHour.hour if table is ReportTopicHour else ReportTopicDay.day
        keys: list[Any] = [at] if by_hour else []
        stmt = (select(*keys, table.topic_id, table.agent_id, func.sum(table.requests),
                       func.sum(table.calls), func.min(table.dur_min), func.max(table.dur_max),
                       func.sum(table.dur_sum), func.sum(table.dur_n))
                .where(table.org_id == ctx.org_id, at >= lo, at < hi,
                       table.queue_id == (f.queue_ids[0] if f.queue_ids else ALL))
                .group_by(*keys, table.topic_id, table.agent_id))
        if agent is not None:
            stmt = stmt.where(table.agent_id == agent)
        for row in ctx.session.execute(stmt):
            hour = parse_hour(row[0]) if by_hour else None
            t, a = int(row[len(keys)]), int(row[len(keys) + 1])
            for ak in ((a, ALL) if agent is not None else (a,)):
                _merge(out.setdefault((hour, t, ak, ALL), _new()), row[len(keys) + 2:])
    return out


def _rows(ctx: Context) -> dict[tuple[Any, int, int], Acc]:
    """(period, topic or ALL, agent or ALL) → figures, over the report's range."""
    f = ctx.filters
    by_hour = ctx.params.group != "total"
    source = ctx.params.source
    if len(f.queue_ids) > 1 or len(f.agent_ids) > 1:
        source = "raw"  # several queues or agents: a call may count under two of them
    p = rollup.plan(ctx.session, ctx.org_id, ctx.start, ctx.end, source, hours_needed=by_hour)
    keyed = _rollup_rows(ctx, p, by_hour) if (p.hourly or p.daily) else {}
    if p.raw is not None:
        for k, acc in raw_rows(ctx.session, ctx.org_id, *p.raw, queue_ids=f.queue_ids,
                               agent_ids=f.agent_ids, by_hour=by_hour).items():
            _merge(keyed.setdefault(k, _new()), acc)
    out: dict[tuple[Any, int, int], Acc] = {}
    for (hour, t, a, _q), acc in keyed.items():
        period = ctx.period(hour) if by_hour else ""
        _merge(out.setdefault((period, t, a), _new()), acc)
    return out


def _figures(acc: Acc) -> dict[str, Any]:
    return {"requests": acc[0], "calls": acc[1],
            "shortest_s": seconds(None if acc[2] is None else acc[2] * 1000),
            "longest_s": seconds(None if acc[3] is None else acc[3] * 1000),
            "average_s": seconds(None if not acc[5] else acc[4] * 1000 / acc[5])}


def topics(ctx: Context) -> Report:
    codes = {c.id: c for c in ctx.wrapup_codes}
    lang = ctx.org.language
    position = {c.id: i for i, c in enumerate(ctx.wrapup_codes)}

    def topic_name(cid: int) -> str:
        c = codes.get(cid)
        return c.name(lang) if c is not None else f"#{cid}"

    period_cols = [Column("period", _("Period"), "text")] if ctx.params.group != "total" else []
    figure_cols = [
        Column("requests", _("Requests"), "int", _("requests registered with this topic")),
        Column("calls", _("Calls"), "int",
               _("distinct calls behind those requests (each at its first request)")),
        Column("shortest_s", _("Shortest"), "seconds", _("shortest conversation")),
        Column("longest_s", _("Longest"), "seconds", _("longest conversation")),
        Column("average_s", _("Average"), "seconds",
               _("summed conversation time / requests with a duration")),
    ]
    rows = _rows(ctx)
    names = {a: ctx.agent_name(a) if a else "" for _p, _t, a in rows}  # once per agent
    by_topic = {(p, t): acc for (p, t, a), acc in rows.items() if t != ALL and a == ALL}
    t_rows = [{"period": p, "topic_id": cid, "code": codes[cid].code if cid in codes else "",
               "topic": topic_name(cid), **_figures(acc)}
              for (p, cid), acc in sorted(by_topic.items(),
                                          key=lambda kv: (kv[0][0], position.get(kv[0][1], 1e9)))]
    t1 = Table("by_topic", _("Per topic"), [*period_cols, Column("code", _("Code"), "text"),
                                             Column("topic", _("Topic"), "text"),
                                             *figure_cols], t_rows)
    by_ta = {k: acc for k, acc in rows.items() if k[1] != ALL and k[2] != ALL}
    ta_rows = [{"period": p, "topic_id": cid, "code": codes[cid].code if cid in codes else "",
                "topic": topic_name(cid), "agent_id": aid or None,
                "agent": names[aid], **_figures(acc)}
               for (p, cid, aid), acc in sorted(
                   by_ta.items(), key=lambda kv: (kv[0][0], position.get(kv[0][1], 1e9),
                                                  names[kv[0][2]]))]
    t2 = Table("by_topic_agent", _("Per topic and agent"),
               [*period_cols, Column("code", _("Code"), "text"),
                Column("topic", _("Topic"), "text"), Column("agent", _("Agent"), "text"),
                *figure_cols], ta_rows)
    by_agent = {(p, a): acc for (p, t, a), acc in rows.items() if t == ALL and a != ALL}
    a_rows = [{"period": p, "agent_id": aid or None, "agent": names[aid], **_figures(acc)}
              for (p, aid), acc in sorted(by_agent.items(),
                                          key=lambda kv: (kv[0][0], names[kv[0][1]]))]
    everything = _new()
    for (_p, t, a), acc in rows.items():
        if t == ALL and a == ALL:
            _merge(everything, acc)
    t3 = Table("by_agent", _("Per agent (all requests)"),
               [*period_cols, Column("agent", _("Agent"), "text"), *figure_cols], a_rows,
               {"period": "", "agent_id": None, "agent": _("Total"), **_figures(everything)})
    return Report("topics", _("Topics"), ctx.params.as_dict(), [t1, t2, t3])


# --- the rollup (called by zvans.reports.rollup.catch_up) ------------------------------------

def roll(session: Session, org_id: int, start: datetime, stop: datetime) -> None:
    """Write the topic rows of the hours in [start, stop) (replacing what was there)."""
    T = ReportTopicHour
    session.execute(delete(T).where(T.org_id == org_id, T.hour >= start, T.hour < stop))
    rows = raw_rows(session, org_id, start, stop, by_hour=True, per_queue=True)
    if rows:
        session.execute(insert(T), [
            {"org_id": org_id, "hour": h, "topic_id": t, "agent_id": a, "queue_id": q,
             "requests": acc[0], "calls": acc[1], "dur_min": acc[2], "dur_max": acc[3],
             "dur_sum": acc[4], "dur_n": acc[5]}
            for (h, t, a, q), acc in rows.items()])


def edited_hours(session: Session, org_id: int, seen: int, before: datetime
                 ) -> tuple[set[datetime], int]:
    """The rolled-up hours (before ``before``) whose topic rows a request edit newer than
    edit id ``seen`` may change: the edited requests' hours and those of the other requests
    of the same calls. Returns them and the newest edit id."""
    from zvans.store.models import RequestEdit

    edits = list(session.execute(
        select(RequestEdit.id, RequestEdit.request_id)
        .where(RequestEdit.org_id == org_id, RequestEdit.id > seen)))
    if not edits:
        return set(), seen
    ids = sorted({int(r) for _e, r in edits})
    hours: set[datetime] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        calls = select(Request.interaction_id).where(Request.id.in_(chunk),
                                                     Request.interaction_id.is_not(None))
        for (at,) in session.execute(
                select(Request.created_at).where(
                    Request.org_id == org_id,
                    Request.id.in_(chunk) | Request.interaction_id.in_(calls))):
            if at < before:
                hours.add(floor_hour(at))
    return hours, max(int(e) for e, _r in edits)
