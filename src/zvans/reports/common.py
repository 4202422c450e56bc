"""Loading facts for a report and regrouping them by the report's period."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from zvans.reports import rollup
from zvans.reports.facts import MAX_COLUMNS, Dims
from zvans.reports.params import Context


def _dims(ctx: Context, entity: Dims) -> Dims:
    return (("hour",) if ctx.params.group != "total" else ()) + entity


def _period_key(ctx: Context, dims: Dims, key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Replace the hour (first key part, when grouped) by the period label; '' for totals."""
    if dims and dims[0] == "hour":
        return (ctx.period(key[0]), *key[1:])
    return ("", *key)


def calls(ctx: Context, entity: Dims) -> dict[tuple[Any, ...], dict[str, int]]:
    """Call facts keyed by (period, *entity ids)."""
    dims = _dims(ctx, entity)
    p = rollup.plan(ctx.session, ctx.org_id, ctx.start, ctx.end, ctx.params.source,
                     hours_needed="hour" in dims)
    raw = rollup.call_facts(ctx.session, ctx.org_id, p, dims, ctx.filters)
    out: dict[tuple[Any, ...], dict[str, int]] = {}
    for key, values in raw.items():
        k = _period_key(ctx, dims, tuple(key))
        have = out.get(k)
        if have is None:
            out[k] = dict(values)
        else:
            for n, v in values.items():
                have[n] = max(have[n], v) if n in MAX_COLUMNS else have[n] + v
    return out


def agent_time(ctx: Context, *, by_agent: bool = True
               ) -> dict[tuple[Any, ...], dict[tuple[str, str], list[int]]]:
    """(period[, agent]) → {(kind, reason): [ms, starts]}."""
    dims = _dims(ctx, ("agent",) if by_agent else ())
    p = rollup.plan(ctx.session, ctx.org_id, ctx.start, ctx.end, ctx.params.source,
                     hours_needed="hour" in dims)
    raw = rollup.agent_time(ctx.session, ctx.org_id, p, dims, ctx.filters, ctx.now)
    out: dict[tuple[Any, ...], dict[tuple[str, str], list[int]]] = defaultdict(dict)
    for key, (ms, starts) in raw.items():
        *entity, kind, reason = key
        k = _period_key(ctx, dims, tuple(entity))
        acc = out[k].setdefault((kind, reason), [0, 0])
        acc[0] += ms
        acc[1] += starts
    return dict(out)


def ratings(ctx: Context, entity: Dims) -> dict[tuple[Any, ...], int]:
    """(period, *entity, channel, scale, rating) → count."""
    dims = _dims(ctx, entity)
    p = rollup.plan(ctx.session, ctx.org_id, ctx.start, ctx.end, ctx.params.source,
                     hours_needed="hour" in dims)
    raw = rollup.ratings(ctx.session, ctx.org_id, p, dims, ctx.filters)
    out: dict[tuple[Any, ...], int] = {}
    for key, n in raw.items():
        k = _period_key(ctx, dims, tuple(key))
        out[k] = out.get(k, 0) + n
    return out


def add_up(rows: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for values in rows:
        for n, v in values.items():
            total[n] = max(total.get(n, 0), v) if n in MAX_COLUMNS else total.get(n, 0) + v
    return total


def period_column_needed(ctx: Context) -> bool:
    return ctx.params.group != "total"
