"""Quality (seed 000): post-call ratings (5-point) and chat ratings (their own scale):
averages and distributions per agent and per queue."""

from __future__ import annotations

from typing import Any

from zvans.reports import common
from zvans.reports.params import Context
from zvans.reports.table import Column, Report, Table, _


def quality(ctx: Context) -> Report:
    tables = []
    for dim, title, label in (("agent", _("Per agent"), _("Agent")),
                              ("queue", _("Per queue"), _("Queue"))):
        data = common.ratings(ctx, (dim,))
        groups: dict[tuple[Any, ...], dict[int, int]] = {}
        for (period, ent, channel, scale, rating), n in data.items():
            if dim == "agent" and ctx.only_agent_id is not None and ent != ctx.only_agent_id:
                continue
            for key in ((period, ent, channel, scale), (period, None, channel, scale)):
                dist = groups.setdefault(key, {})
                dist[rating] = dist.get(rating, 0) + n
        top = max([5, *(k[3] for k in groups)])

        def name(ent: int | None, dim: str = dim) -> str:
            if ent is None:
                return _("Total")
            if ent == 0:
                return _("(none)")
            return ctx.agent_name(ent) if dim == "agent" else ctx.queue_name(ent)

        cols = [*([Column("period", _("Period"), "text")] if ctx.params.group != "total"
                  else []),
                Column(dim, label, "text"), Column("channel", _("Channel"), "text"),
                Column("scale", _("Scale"), "int", _("highest possible rating")),
                Column("ratings", _("Ratings"), "int", _("number of ratings")),
                Column("average", _("Average"), "number", _("sum of ratings / ratings")),
                *(Column(f"r{i}", str(i), "int", _("ratings of this value"))
                  for i in range(1, top + 1))]
        rows = []
        for key in sorted(groups, key=lambda k: (k[0], k[1] is None, name(k[1]), k[2], k[3])):
            period, ent, channel, scale = key
            dist = groups[key]
            count = sum(dist.values())
            row: dict[str, Any] = {
                "period": period, f"{dim}_id": ent, dim: name(ent), "channel": channel,
                "scale": scale, "ratings": count,
                "average": round(sum(r * n for r, n in dist.items()) / count, 3)}
            for i in range(1, top + 1):
                row[f"r{i}"] = dist.get(i, 0)
            rows.append(row)
        tables.append(Table(f"by_{dim}", title, cols, rows))
    return Report("quality", _("Conversation quality ratings"), ctx.params.as_dict(), tables,
                  [_("Rows named Total add up every agent (or queue) per channel and scale.")])
