"""Agent reports: detailed statistics (seed 001), absence, outgoing calls, KPIs (seed 002)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zvans.core import metrics as core
from zvans.reports import common
from zvans.reports import metrics as m
from zvans.reports.facts import Filters
from zvans.reports.params import Context
from zvans.reports.table import Column, Report, Table, _, ratio, seconds

TimeBag = dict[tuple[str, str], list[int]]


def _period_cols(ctx: Context) -> list[Column]:
    if common.period_column_needed(ctx):
        return [Column("period", _("Period"), "text")]
    return []


def _reason_name(ctx: Context, code: str) -> str:
    for r in ctx.pause_reasons:
        if r.code == code:
            lang = ctx.org.language
            return str(r.names.get(lang) or r.names.get("en") or r.code)
    return code


def _reason_codes(ctx: Context, times: list[TimeBag]) -> list[str]:
    codes = [r.code for r in ctx.pause_reasons]
    seen = sorted({reason for bag in times for (kind, reason) in bag if kind == "pause"})
    return codes + [c for c in seen if c not in codes]


def _ms(bag: TimeBag, kind: str, reason: str = "") -> int:
    return bag.get((kind, reason), [0, 0])[0]


def _pause_ms(bag: TimeBag) -> int:
    return sum(v[0] for (kind, _r), v in bag.items() if kind == "pause")


def _add_bags(bags: list[TimeBag]) -> TimeBag:
    out: TimeBag = {}
    for bag in bags:
        for k, (ms, starts) in bag.items():
            acc = out.setdefault(k, [0, 0])
            acc[0] += ms
            acc[1] += starts
    return out


def _agent_figures(v: dict[str, int], bag: TimeBag, codes: list[str]) -> dict[str, Any]:
    talk_all = v.get("talk_ms", 0) + v.get("out_talk_ms", 0)
    hold, wrap = v.get("hold_ms", 0), v.get("wrapup_ms", 0)
    handled = v.get("talk_n", 0) + v.get("out_talk_n", 0)
    login, paused = _ms(bag, "login"), _pause_ms(bag)
    row: dict[str, Any] = {
        "work_s": seconds(login),
        "answered": v.get("answered", 0),
        "answered_talk_s": seconds(v.get("talk_ms", 0)),
        "avg_talk_s": seconds(m.mean_of(v.get("talk_ms", 0), v.get("talk_n", 0))),
    }
    for code in codes:
        row[f"pause_{code}_s"] = seconds(_ms(bag, "pause", code))
    row.update({
        "pause_total_s": seconds(paused),
        "out_calls": v.get("out_calls", 0),
        "out_talk_s": seconds(v.get("out_talk_ms", 0)),
        "hold_s": seconds(hold),
        "wrapup_s": seconds(wrap),
        "aht_s": seconds(core.aht(talk_all, hold, wrap, handled)),
        "occupancy": ratio(core.occupancy(talk_all, hold, wrap, login, paused)),
    })
    return row


def agents(ctx: Context) -> Report:
    calls = common.calls(ctx, ("agent",))
    times = common.agent_time(ctx)
    keys = {k for k in calls if ctx.agent_wanted(k[1])} | {
        k for k in times if ctx.agent_wanted(k[1])}
    codes = _reason_codes(ctx, list(times.values()))
    cols = [*_period_cols(ctx), Column("agent", _("Agent"), "text"),
            Column("work_s", _("Work time"), "seconds",
                   _("logged-in time (login to logout, pauses included)")),
            Column("answered", _("Answered calls"), "int",
                   _("incoming calls the agent answered"), drill="answered"),
            Column("answered_talk_s", _("Answered calls: time"), "seconds",
                   _("talk time of incoming calls"), drill="talked"),
            Column("avg_talk_s", _("Average talk time"), "seconds",
                   _("talk time / completed incoming calls"))]
    for code in codes:
        cols.append(Column(f"pause_{code}_s", _("Pause") + f": {_reason_name(ctx, code)}",
                           "seconds", _("time paused with this reason")))
    cols += [
        Column("pause_total_s", _("Pause total"), "seconds", _("sum of all pauses")),
        Column("out_calls", _("Outgoing calls"), "int", _("calls the agent placed"),
               drill="out_calls"),
        Column("out_talk_s", _("Outgoing calls: time"), "seconds",
               _("talk time of outgoing calls")),
        Column("hold_s", _("Hold time"), "seconds"),
        Column("wrapup_s", _("Wrap-up time"), "seconds"),
        Column("aht_s", _("AHT"), "seconds",
               _("AHT = (talk + hold + wrap-up) / handled calls (incoming and outgoing)")),
        Column("occupancy", _("Occupancy"), "ratio",
               _("occupancy = (talk + hold + wrap-up) / (logged-in − paused) time")),
    ]
    rows = []
    for key in sorted(keys, key=lambda k: (k[0], ctx.agent_name(k[1]))):
        period, agent = key
        row: dict[str, Any] = {"period": period, "agent_id": agent,
                               "agent": ctx.agent_name(agent)}
        row.update(_agent_figures(calls.get(key, {}), times.get(key, {}), codes))
        rows.append(row)
    total_v = common.add_up([calls[k] for k in keys if k in calls])
    total_bag = _add_bags([times[k] for k in keys if k in times])
    total = {"period": "", "agent_id": None, "agent": _("Total"),
             **_agent_figures(total_v, total_bag, codes)}
    notes = []
    if ctx.params.queue_ids:
        notes.append(_("Work and pause time are not per queue: the queue filter applies to "
                       "calls only."))
    return Report("agents", _("Agent detailed statistics"), ctx.params.as_dict(),
                  [Table("agents", _("Agents"), cols, rows, total)], notes)


def absence(ctx: Context) -> Report:
    times = common.agent_time(ctx)
    keys = sorted((k for k in times if ctx.agent_wanted(k[1])),
                  key=lambda k: (k[0], ctx.agent_name(k[1])))
    codes = _reason_codes(ctx, [times[k] for k in keys])
    cols = [*_period_cols(ctx), Column("agent", _("Agent"), "text")]
    for code in codes:
        cols.append(Column(f"pause_{code}_s", _reason_name(ctx, code), "seconds",
                           _("time paused with this reason")))
    cols += [Column("pause_total_s", _("Pause total"), "seconds", _("sum of all pauses")),
             Column("pauses", _("Pauses"), "int", _("number of pauses started")),
             Column("work_s", _("Work time"), "seconds", _("logged-in time")),
             Column("pause_share", _("Pause share"), "ratio",
                    _("pause total / work time"))]

    def figures(bag: TimeBag) -> dict[str, Any]:
        out: dict[str, Any] = {f"pause_{c}_s": seconds(_ms(bag, "pause", c)) for c in codes}
        paused = _pause_ms(bag)
        out["pause_total_s"] = seconds(paused)
        out["pauses"] = sum(v[1] for (kind, _r), v in bag.items() if kind == "pause")
        out["work_s"] = seconds(_ms(bag, "login"))
        out["pause_share"] = ratio(m.mean_of(paused, _ms(bag, "login")))
        return out

    rows = [{"period": p, "agent_id": a, "agent": ctx.agent_name(a), **figures(times[(p, a)])}
            for p, a in keys]
    all_bag = _add_bags([times[k] for k in keys])
    by_agent = Table("by_agent", _("Pause time per agent"), cols, rows,
                     {"period": "", "agent_id": None, "agent": _("Total"),
                      **figures(all_bag)})
    total_pause = _pause_ms(all_bag)
    rcols = [Column("reason", _("Reason"), "text"), Column("code", _("Code"), "text"),
             Column("pauses", _("Pauses"), "int", _("number of pauses started")),
             Column("time_s", _("Time"), "seconds"),
             Column("avg_s", _("Average pause"), "seconds", _("time / pauses")),
             Column("share", _("Share"), "ratio", _("time / all pause time"))]
    rrows: list[dict[str, Any]] = []
    for code in codes:
        ms, starts = all_bag.get(("pause", code), [0, 0])
        rrows.append({"reason": _reason_name(ctx, code), "code": code, "pauses": starts,
                      "time_s": seconds(ms), "avg_s": seconds(m.mean_of(ms, starts)),
                      "share": ratio(m.mean_of(ms, total_pause))})
    n_all = sum(r["pauses"] for r in rrows)
    by_reason = Table("by_reason", _("Pause time per reason"), rcols, rrows, {
        "reason": _("Total"), "code": "", "pauses": n_all, "time_s": seconds(total_pause),
        "avg_s": seconds(m.mean_of(total_pause, n_all)),
        "share": ratio(1.0 if total_pause else None)})
    return Report("absence", _("Absence by reason"), ctx.params.as_dict(),
                  [by_agent, by_reason])


def outgoing(ctx: Context) -> Report:
    calls = common.calls(ctx, ("agent",))
    keys = sorted((k for k in calls if calls[k].get("out_calls") or calls[k].get("out_talk_n")
                   or calls[k].get("out_answered")),
                  key=lambda k: (k[0], ctx.agent_name(k[1]) if k[1] else ""))
    cols = [*_period_cols(ctx), Column("agent", _("Agent"), "text"),
            Column("out_calls", _("Outgoing calls"), "int", _("calls placed"),
                   drill="out_calls"),
            Column("out_answered", _("Answered"), "int", _("placed calls the far end answered"),
                   drill="out_answered"),
            Column("out_talk_s", _("Talk time"), "seconds"),
            Column("avg_out_talk_s", _("Average talk time"), "seconds",
                   _("talk time / completed outgoing calls"))]

    def figures(v: dict[str, int]) -> dict[str, Any]:
        return {"out_calls": v.get("out_calls", 0), "out_answered": v.get("out_answered", 0),
                "out_talk_s": seconds(v.get("out_talk_ms", 0)),
                "avg_out_talk_s": seconds(m.mean_of(v.get("out_talk_ms", 0),
                                                    v.get("out_talk_n", 0)))}

    rows = [{"period": p, "agent_id": a or None,
             "agent": ctx.agent_name(a) if a else _("(no agent)"), **figures(calls[(p, a)])}
            for p, a in keys]
    total = {"period": "", "agent_id": None, "agent": _("Total"),
             **figures(common.add_up([calls[k] for k in keys]))}
    return Report("outgoing", _("Outgoing calls"), ctx.params.as_dict(),
                  [Table("outgoing", _("Outgoing calls"), cols, rows, total)])


KPI_COLUMNS = (
    ("avg_answer_s", _("Average answer time"), "seconds",
     _("mean wait of the calls the agent answered; shorter is better")),
    ("answered", _("Calls served"), "int", _("incoming calls answered; more is better")),
    ("avg_call_s", _("Average call"), "seconds",
     _("talk time / completed incoming calls; shorter is better")),
    ("answered_per_hour", _("Answered per work hour"), "number",
     _("answered calls / logged-in hours; higher is better")),
)


def kpis(ctx: Context) -> Report:
    """Each agent against the team average (the team = every agent with calls or time, in
    the queues filtered, whoever is looking)."""
    team_ctx = replace(ctx, filters=Filters(queue_ids=ctx.filters.queue_ids))
    calls = common.calls(team_ctx, ("agent",))
    times = common.agent_time(team_ctx)
    keys = sorted({k for k in (set(calls) | set(times)) if k[1] != 0},
                  key=lambda k: (k[0], ctx.agent_name(k[1])))
    values: dict[tuple[Any, ...], dict[str, float | None]] = {}
    for key in keys:
        v, bag = calls.get(key, {}), times.get(key, {})
        values[key] = {
            "avg_answer_s": m.asa_counts(v.get("answered_wait_ms", 0) / 1000,
                                         v.get("answered", 0)),
            "answered": float(v.get("answered", 0)),
            "avg_call_s": m.mean_of(v.get("talk_ms", 0) / 1000, v.get("talk_n", 0)),
            "answered_per_hour": m.per_hour(v.get("answered", 0), _ms(bag, "login") / 1000),
        }
    periods = sorted({k[0] for k in keys})
    averages = {p: {name: m.team_average(values[k][name] for k in keys if k[0] == p)
                    for name, *_rest in KPI_COLUMNS} for p in periods}
    cols = [*_period_cols(ctx), Column("agent", _("Agent"), "text")]
    for name, label, kind, formula in KPI_COLUMNS:
        cols.append(Column(name, label, kind, formula))
        cols.append(Column(f"{name}_vs_avg", label + " " + _("vs team average"), "ratio",
                           _("agent / team average − 1")))

    def fmt(name: str, kind: str, value: float | None) -> Any:
        if value is None:
            return None
        if kind == "int":
            return int(value)
        return round(value, 3)

    rows = []
    for key in keys:
        if not ctx.agent_wanted(key[1]) or (
                ctx.only_agent_id is not None and key[1] != ctx.only_agent_id):
            continue
        row: dict[str, Any] = {"period": key[0], "agent_id": key[1],
                               "agent": ctx.agent_name(key[1])}
        for name, _l, kind, _f in KPI_COLUMNS:
            row[name] = fmt(name, kind, values[key][name])
            row[f"{name}_vs_avg"] = ratio(m.relative_to(values[key][name],
                                                         averages[key[0]][name]))
        rows.append(row)
    total = None
    if len(periods) == 1:
        total = {"period": "", "agent_id": None, "agent": _("Team average")}
        for name, _l, _k, _f in KPI_COLUMNS:
            total[name] = fmt(name, "number", averages[periods[0]][name])
            total[f"{name}_vs_avg"] = None
    return Report("kpis", _("Agent KPIs against the team average"), ctx.params.as_dict(),
                  [Table("kpis", _("KPIs"), cols, rows, total)],
                  [_("Team average = the plain mean of the agents' own values.")])
