"""Topics (seed 000): requests and calls per wrap-up code, conversation duration shortest /
longest / average per topic and per agent. Durations are the call duration each request
keeps (``Request.duration_s``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select

from zvans.reports.params import Context
from zvans.reports.sql import hour_start, parse_hour
from zvans.reports.table import Column, Report, Table, _, seconds
from zvans.store.models import Request, request_wrapup

Acc = dict[str, Any]


def _new() -> Acc:
    return {"requests": 0, "calls": 0, "min": None, "max": None, "sum": 0, "n": 0}


def _merge(acc: Acc, requests: int, calls: int, lo: Any, hi: Any, total: Any, n: Any) -> None:
    acc["requests"] += int(requests or 0)
    acc["calls"] += int(calls or 0)
    if lo is not None:
        acc["min"] = lo if acc["min"] is None else min(acc["min"], lo)
        acc["max"] = hi if acc["max"] is None else max(acc["max"], hi)
    acc["sum"] += int(total or 0)
    acc["n"] += int(n or 0)


def _figures(acc: Acc) -> dict[str, Any]:
    return {"requests": acc["requests"], "calls": acc["calls"],
            "shortest_s": seconds(None if acc["min"] is None else acc["min"] * 1000),
            "longest_s": seconds(None if acc["max"] is None else acc["max"] * 1000),
            "average_s": seconds(None if not acc["n"] else acc["sum"] * 1000 / acc["n"])}


def _query(ctx: Context, by_topic: bool, by_agent: bool) -> dict[tuple[Any, ...], Acc]:
    keys: list[ColumnElement[Any]] = []
    if ctx.params.group != "total":
        keys.append(hour_start(Request.created_at))
    if by_topic:
        keys.append(request_wrapup.c.wrapup_code_id)
    if by_agent:
        keys.append(func.coalesce(Request.agent_id, literal_column("0")))
    stmt = select(*keys, func.count(func.distinct(Request.id)),
                  func.count(func.distinct(Request.interaction_id)),
                  func.min(Request.duration_s), func.max(Request.duration_s),
                  func.sum(Request.duration_s), func.count(Request.duration_s))
    if by_topic:
        stmt = stmt.select_from(Request).join(
            request_wrapup, request_wrapup.c.request_id == Request.id)
    stmt = stmt.where(Request.org_id == ctx.org_id, Request.created_at >= ctx.start,
                      Request.created_at < ctx.end)
    if ctx.filters.queue_ids:
        stmt = stmt.where(Request.queue_id.in_(ctx.filters.queue_ids))
    if ctx.filters.agent_ids:
        stmt = stmt.where(Request.agent_id.in_(ctx.filters.agent_ids))
    if keys:
        stmt = stmt.group_by(*keys)
    out: dict[tuple[Any, ...], Acc] = {}
    for row in ctx.session.execute(stmt):
        parts = list(row[:len(keys)])
        period = ctx.period(parse_hour(parts.pop(0))) if ctx.params.group != "total" else ""
        key = (period, *(int(p) for p in parts))
        _merge(out.setdefault(key, _new()), *row[len(keys):])
    return out


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
        Column("calls", _("Calls"), "int", _("distinct calls behind those requests")),
        Column("shortest_s", _("Shortest"), "seconds", _("shortest conversation")),
        Column("longest_s", _("Longest"), "seconds", _("longest conversation")),
        Column("average_s", _("Average"), "seconds",
               _("summed conversation time / requests with a duration")),
    ]
    by_topic = _query(ctx, True, False)
    t_rows = [{"period": p, "topic_id": cid, "code": codes[cid].code if cid in codes else "",
               "topic": topic_name(cid), **_figures(acc)}
              for (p, cid), acc in sorted(by_topic.items(),
                                          key=lambda kv: (kv[0][0], position.get(kv[0][1], 1e9)))]
    t1 = Table("by_topic", _("Per topic"), [*period_cols, Column("code", _("Code"), "text"),
                                             Column("topic", _("Topic"), "text"),
                                             *figure_cols], t_rows)
    by_ta = _query(ctx, True, True)
    ta_rows = [{"period": p, "topic_id": cid, "code": codes[cid].code if cid in codes else "",
                "topic": topic_name(cid), "agent_id": aid or None,
                "agent": ctx.agent_name(aid) if aid else "", **_figures(acc)}
               for (p, cid, aid), acc in sorted(
                   by_ta.items(), key=lambda kv: (kv[0][0], position.get(kv[0][1], 1e9),
                                                  ctx.agent_name(kv[0][2])))]
    t2 = Table("by_topic_agent", _("Per topic and agent"),
               [*period_cols, Column("code", _("Code"), "text"),
                Column("topic", _("Topic"), "text"), Column("agent", _("Agent"), "text"),
                *figure_cols], ta_rows)
    by_agent = _query(ctx, False, True)
    a_rows = [{"period": p, "agent_id": aid or None,
               "agent": ctx.agent_name(aid) if aid else "", **_figures(acc)}
              for (p, aid), acc in sorted(by_agent.items(),
                                          key=lambda kv: (kv[0][0], ctx.agent_name(kv[0][1])))]
    everything = _query(ctx.with_group("total"), False, False).get(("",), _new())
    t3 = Table("by_agent", _("Per agent (all requests)"),
               [*period_cols, Column("agent", _("Agent"), "text"), *figure_cols], a_rows,
               {"period": "", "agent_id": None, "agent": _("Total"), **_figures(everything)})
    return Report("topics", _("Topics"), ctx.params.as_dict(), [t1, t2, t3])
