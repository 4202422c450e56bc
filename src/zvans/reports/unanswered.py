"""Unanswered unique calls (seed 001): out of hours, IVR not finished, abandoned in queue —
per distinct caller, and how many of those callers were reached later."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import aliased

from zvans.core.events import EventType as T
from zvans.errors import InvalidInput
from zvans.reports.params import Context
from zvans.reports.table import Column, Report, Table, _

#: Category of an unanswered call, by the event that made it one; the first wins.
CATEGORIES = (
    ("out_of_hours", T.OUT_OF_HOURS, _("Out of hours")),
    ("ivr_not_finished", T.IVR_ABANDONED, _("IVR not finished")),
    ("abandoned", T.ABANDONED, _("Abandoned in queue")),
)


def unanswered_calls(ctx: Context) -> list[dict[str, Any]]:
    """One dict per unanswered interaction in range: id, category, caller, at, reached."""
    from zvans.store.models import Event, Interaction

    later = aliased(Interaction)
    answered_later = and_(
        later.org_id == Interaction.org_id, later.started_at > Interaction.started_at,
        later.answered_at.is_not(None),
        or_(later.simulated.is_(None), later.simulated == false()))
    reached_in = exists().where(answered_later, later.direction == "in",
                                later.caller == Interaction.caller)
    reached_out = exists().where(answered_later, later.direction == "out",
                                 later.callee == Interaction.caller)
    stmt = (
        select(Event.interaction_id, Event.type, Event.at, Event.queue_id, Interaction.caller,
               or_(reached_in, reached_out))
        .join(Interaction, Interaction.id == Event.interaction_id)
        .where(Event.org_id == ctx.org_id, Event.at >= ctx.start, Event.at < ctx.end,
               Event.type.in_([str(t) for _k, t, _l in CATEGORIES]),
               Interaction.org_id == ctx.org_id, Interaction.direction == "in",
               or_(Interaction.simulated.is_(None), Interaction.simulated == false()))
        .order_by(Event.at, Event.id)
    )
    if ctx.filters.queue_ids:
        stmt = stmt.where(Event.queue_id.in_(ctx.filters.queue_ids))
    rank = {str(t): i for i, (_k, t, _l) in enumerate(CATEGORIES)}
    calls: dict[int, dict[str, Any]] = {}
    for row in ctx.session.execute(stmt):
        iid, etype, at, queue_id, caller, reached = int(row[0] or 0), *row[1:]
        have = calls.get(iid)
        if have is not None and rank[have["type"]] <= rank[etype]:
            continue
        calls[iid] = {"interaction_id": iid, "type": etype,
                      "category": CATEGORIES[rank[etype]][0], "caller": caller or "",
                      "queue_id": queue_id, "at": at if have is None else have["at"],
                      "reached": bool(reached) and bool(caller)}
    return sorted(calls.values(), key=lambda c: (c["at"], c["interaction_id"]))


def unanswered(ctx: Context) -> Report:
    if ctx.filters.agent_ids:
        raise InvalidInput("agent", "unanswered calls have no agent: drop the agent filter")
    calls = unanswered_calls(ctx)
    # Per group: the caller's last unanswered call decides whether the caller was reached
    # after it (an anonymous call is its own caller, never reached).
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    totals: dict[str, Any] = {"calls": 0, "last": {}}
    for c in calls:
        who = c["caller"] or f"#{c['interaction_id']}"
        g = groups.setdefault((ctx.period(c["at"]), c["category"]), {"calls": 0, "last": {}})
        for acc in (g, totals):
            acc["calls"] += 1
            acc["last"][who] = c["reached"]
    cols = [*([Column("period", _("Period"), "text")] if ctx.params.group != "total" else []),
            Column("category", _("Reason"), "text"),
            Column("calls", _("Unanswered calls"), "int", "", "unanswered"),
            Column("callers", _("Unique callers"), "int", _("distinct caller numbers")),
            Column("reached", _("Reached later"), "int",
                   _("callers with a later answered call, in or out")),
            Column("unanswered_unique", _("Unanswered unique calls"), "int",
                   _("distinct callers with no later answered call or callback"))]
    labels = {k: label for k, _t, label in CATEGORIES}
    order = [k for k, _t, _l in CATEGORIES]

    def figures(acc: dict[str, Any]) -> dict[str, Any]:
        reached = sum(1 for r in acc["last"].values() if r)
        return {"calls": acc["calls"], "callers": len(acc["last"]), "reached": reached,
                "unanswered_unique": len(acc["last"]) - reached}

    rows = [{"period": p, "category_key": cat, "category": labels[cat], **figures(g)}
            for (p, cat), g in sorted(groups.items(), key=lambda kv: (kv[0][0],
                                                                       order.index(kv[0][1])))]
    total = {"period": "", "category_key": "", "category": _("Total"), **figures(totals)}
    return Report("unanswered", _("Unanswered unique calls"), ctx.params.as_dict(),
                  [Table("unanswered", _("Unanswered calls"), cols, rows, total)],
                  [_("A caller is counted once per row; the total counts each caller once.")])
