"""Queue reports: queue / skill statistics, the yearly summary (seed 000) and the live
skills display (seed 001)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import false, func, or_, select

from zvans.core import metrics as core
from zvans.core.events import EventType as T
from zvans.reports import common, rollup
from zvans.reports import metrics as m
from zvans.reports.facts import Filters, floor_hour
from zvans.reports.params import Context
from zvans.reports.sql import data_str, not_callback
from zvans.reports.table import Column, Report, Table, _, ratio, seconds
from zvans.store.models import Event, Interaction

HISTOGRAM = (("wait_le_5", _("Answered after <= 5 s")),
             ("wait_le_15", _("Answered after <= 15 s")),
             ("wait_le_30", _("Answered after <= 30 s")),
             ("wait_le_60", _("Answered after <= 60 s")),
             ("wait_le_120", _("Answered after <= 120 s")),
             ("wait_gt_120", _("Answered after > 120 s")))


def _queue_figures(v: dict[str, int]) -> dict[str, Any]:
    answered, abandoned = v.get("answered", 0), v.get("abandoned", 0)
    short = v.get("abandoned_short", 0)
    row: dict[str, Any] = {
        "offered": v.get("offered", 0),
        "answered": answered,
        "abandoned": abandoned,
        "abandoned_short": short,
        "overflowed": v.get("overflowed", 0),
        "callbacks_requested": v.get("callbacks_requested", 0),
        "callbacks_made": v.get("callbacks_made", 0),
        "sl": ratio(core.service_level_counts(
            v.get("answered_in_sl", 0), answered, abandoned - short)),
        "sl1": ratio(m.sl1_counts(v.get("answered_in_sl", 0), answered)),
        "asa_s": seconds(m.asa_counts(v.get("answered_wait_ms", 0), answered)),
        "abandon_rate": ratio(core.abandon_rate(abandoned, v.get("offered", 0))),
        "wait_max_s": seconds(v.get("wait_max_ms", 0)),
        "talk_s": seconds(v.get("talk_ms", 0)),
        "avg_talk_s": seconds(m.mean_of(v.get("talk_ms", 0), v.get("talk_n", 0))),
        "wait_s": seconds(v.get("answered_wait_ms", 0)),
        "avg_wait_s": seconds(m.mean_of(v.get("answered_wait_ms", 0), answered)),
    }
    for key, _label in HISTOGRAM:
        row[key] = v.get(key, 0)
    return row


QUEUE_COLUMNS = [
    Column("offered", _("Offered"), "int", _("calls that entered the queue"), "offered"),
    Column("answered", _("Answered"), "int", _("calls answered by an agent"), "answered"),
    Column("abandoned", _("Abandoned"), "int",
           _("caller hung up while queued (callbacks are not abandons)"), "abandoned"),
    Column("abandoned_short", _("Short abandons"), "int",
           _("abandoned after waiting less than the queue's short-abandon limit (5 s)"),
           "abandoned_short"),
    Column("overflowed", _("Overflowed"), "int", _("sent on to the overflow target"),
           "overflowed"),
    Column("callbacks_requested", _("Callbacks requested"), "int", "", "callbacks_requested"),
    Column("callbacks_made", _("Callbacks made"), "int", "", "callbacks_made"),
    Column("sl", _("SL(T)"), "ratio",
           _("answered within T / (answered + abandoned after the short-abandon limit); "
             "T per queue, default 20 s")),
    Column("sl1", _("SL1"), "ratio", _("answered within T / answered")),
    Column("asa_s", _("ASA"), "seconds", _("mean wait of answered calls")),
    Column("abandon_rate", _("Abandonment rate"), "ratio", _("abandoned / offered")),
    Column("wait_max_s", _("Longest wait"), "seconds",
           _("longest wait of an answered or abandoned call")),
    Column("talk_s", _("Talk time"), "seconds", _("talk time of completed calls")),
    Column("avg_talk_s", _("Average talk time"), "seconds", _("talk time / completed calls")),
    Column("wait_s", _("Wait time (answered)"), "seconds",
           _("summed wait of answered calls")),
    Column("avg_wait_s", _("Average wait (answered)"), "seconds",
           _("wait time / answered calls")),
    *(Column(key, label, "int",
             _("answered calls by wait: <= 5, <= 15, <= 30, <= 60, <= 120, > 120 s"),
             key) for key, label in HISTOGRAM),
]


def queues(ctx: Context) -> Report:
    calls = common.calls(ctx, ("queue",))
    keys = sorted((k for k in calls if k[1] != 0), key=lambda k: (k[0], ctx.queue_name(k[1])))
    cols = [*([Column("period", _("Period"), "text")]
              if common.period_column_needed(ctx) else []),
            Column("queue", _("Queue"), "text"), *QUEUE_COLUMNS]
    rows = [{"period": p, "queue_id": q, "queue": ctx.queue_name(q),
             **_queue_figures(calls[(p, q)])} for p, q in keys]
    total = {"period": "", "queue_id": None, "queue": _("Total"),
             **_queue_figures(common.add_up([calls[k] for k in keys]))}
    return Report("queues", _("Queue statistics"), ctx.params.as_dict(),
                  [Table("queues", _("Queues"), cols, rows, total)])


def yearly(ctx: Context) -> Report:
    """Per local calendar year, whatever the grouping asked for: one total per year (so
    long ranges read daily rollups)."""
    years: dict[str, dict[str, int]] = {}
    rated: dict[str, dict[str, list[int]]] = {}
    for y in range(ctx.params.date_from.year, ctx.params.date_to.year + 1):
        first = max(ctx.params.date_from, date(y, 1, 1))
        last = min(ctx.params.date_to, date(y, 12, 31))
        sub = ctx.for_days(first, last)
        totals = common.calls(sub, ())
        if totals:
            years[str(y)] = common.add_up(list(totals.values()))
        for (_period, channel, _scale, rating), n in common.ratings(sub, ()).items():
            acc = rated.setdefault(str(y), {}).setdefault(channel, [0, 0])
            acc[0] += rating * n
            acc[1] += n
    cols = [Column("year", _("Year"), "text"),
            Column("calls_in", _("Incoming calls"), "int", _("voice calls that arrived")),
            Column("calls_out", _("Outgoing calls"), "int", _("calls placed")),
            Column("calls_total", _("Calls in and out"), "int"),
            Column("avg_call_min", _("Average call, min"), "number",
                   _("(talk time in + out) / completed calls, in minutes")),
            Column("transferred", _("Transferred"), "int", "", "transferred"),
            Column("voicemails", _("Voice messages"), "int", "", "voicemails"),
            Column("chats", _("Chats"), "int"),
            Column("emails", _("E-mails"), "int"),
            Column("avg_call_rating", _("Average call rating"), "number"),
            Column("avg_chat_rating", _("Average chat rating"), "number")]

    def figures(v: dict[str, int], r: dict[str, list[int]]) -> dict[str, Any]:
        talk = v.get("talk_ms", 0) + v.get("out_talk_ms", 0)
        n = v.get("talk_n", 0) + v.get("out_talk_n", 0)
        avg = m.mean_of(talk / 60000, n)
        voice, chat = r.get("voice", [0, 0]), r.get("chat", [0, 0])
        v_avg, c_avg = m.mean_of(voice[0], voice[1]), m.mean_of(chat[0], chat[1])
        return {
            "calls_in": v.get("calls_in", 0), "calls_out": v.get("out_calls", 0),
            "calls_total": v.get("calls_in", 0) + v.get("out_calls", 0),
            "avg_call_min": None if avg is None else round(avg, 3),
            "transferred": v.get("transferred", 0), "voicemails": v.get("voicemails", 0),
            "chats": v.get("chats_in", 0), "emails": v.get("emails_in", 0),
            "avg_call_rating": None if v_avg is None else round(v_avg, 3),
            "avg_chat_rating": None if c_avg is None else round(c_avg, 3),
        }

    rows = [{"year": y, **figures(years[y], rated.get(y, {}))} for y in sorted(years)]
    all_r: dict[str, list[int]] = {}
    for per in rated.values():
        for ch, (s, n) in per.items():
            acc = all_r.setdefault(ch, [0, 0])
            acc[0] += s
            acc[1] += n
    total = {"year": _("Total"), **figures(common.add_up(list(years.values())), all_r)}
    return Report("yearly", _("Yearly summary"), ctx.params.as_dict(),
                  [Table("yearly", _("Per year"), cols, rows, total)])


#: Calls waiting longer than this are not shown live (a row left open by a crash).
LIVE_HORIZON = timedelta(hours=24)


def live(ctx: Context) -> Report:
    """Per queue: calls served today (local day), waiting now, the oldest wait now."""
    today = ctx.now.astimezone(ctx.tz).date()
    midnight = datetime.combine(today, time(0), tzinfo=ctx.tz)
    not_sim = or_(Interaction.simulated.is_(None), Interaction.simulated == false())
    # Served today: the hourly rollups up to done_until, the log after it.
    since = midnight.astimezone(UTC)
    served: dict[int, int] = {}
    done = rollup.done_until(ctx.session, ctx.org_id) if ctx.params.source != "raw" else None
    if done is not None and floor_hour(since) == since and done > since:
        r_end = min(done, floor_hour(ctx.now.astimezone(UTC)))
        if r_end > since:
            p = rollup.Plan(((since, r_end),), None)
            for (q,), v in rollup.call_facts(ctx.session, ctx.org_id, p, ("queue",),
                                              Filters(ctx.filters.queue_ids)
                                              ).items():
                if q:
                    served[q] = served.get(q, 0) + v.get("answered", 0)
            since = r_end
    served_q = (
        select(Event.queue_id, func.count())
        .select_from(Event)
        .outerjoin(Interaction, Interaction.id == Event.interaction_id)
        .where(Event.org_id == ctx.org_id, Event.type == T.ANSWERED,
               data_str("direction", "in") == "in", not_callback(), Event.at >= since,
               Event.at <= ctx.now, Event.queue_id.is_not(None), not_sim)
        .group_by(Event.queue_id))
    waiting_q = (
        select(Interaction.queue_id, func.count(), func.min(Interaction.enqueued_at))
        .where(Interaction.org_id == ctx.org_id, Interaction.queue_id.is_not(None),
               Interaction.enqueued_at.is_not(None), Interaction.answered_at.is_(None),
               Interaction.ended_at.is_(None), Interaction.direction == "in",
               Interaction.enqueued_at >= ctx.now - LIVE_HORIZON,
               Interaction.enqueued_at <= ctx.now, not_sim)
        .group_by(Interaction.queue_id))
    if ctx.filters.queue_ids:
        served_q = served_q.where(Event.queue_id.in_(ctx.filters.queue_ids))
        waiting_q = waiting_q.where(Interaction.queue_id.in_(ctx.filters.queue_ids))
    for q, n in ctx.session.execute(served_q):
        served[int(q or 0)] = served.get(int(q or 0), 0) + int(n)
    waiting = {int(q or 0): (int(n), oldest) for q, n, oldest in ctx.session.execute(waiting_q)}
    ids = [q for q in ctx.queues if (not ctx.filters.queue_ids or q in ctx.filters.queue_ids)
           and (ctx.queues[q].active or q in served or q in waiting)]
    cols = [Column("queue", _("Queue"), "text"),
            Column("served_today", _("Served today"), "int",
                   _("calls answered since local midnight")),
            Column("waiting", _("Waiting now"), "int", _("callers in the queue now")),
            Column("oldest_wait_s", _("Oldest wait now"), "seconds",
                   _("how long the longest-waiting caller has waited"))]
    rows: list[dict[str, Any]] = []
    for q in sorted(ids, key=ctx.queue_name):
        n, oldest = waiting.get(q, (0, None))
        rows.append({"queue_id": q, "queue": ctx.queue_name(q),
                     "served_today": served.get(q, 0), "waiting": n,
                     "oldest_wait_s": None if oldest is None else
                     seconds((ctx.now - oldest) // timedelta(milliseconds=1))})
    oldest_all = [r["oldest_wait_s"] for r in rows if r["oldest_wait_s"] is not None]
    total = {"queue_id": None, "queue": _("Total"),
             "served_today": sum(r["served_today"] for r in rows),
             "waiting": sum(r["waiting"] for r in rows),
             "oldest_wait_s": max(oldest_all) if oldest_all else None}
    params = {**ctx.params.as_dict(), "now": ctx.now.isoformat()}
    return Report("live", _("Live skills display"), params,
                  [Table("live", _("Queues now"), cols, rows, total)])
