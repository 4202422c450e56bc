"""Golden test: every report on a hand-built day, figures worked out by hand (not copied
from output). Run on SQLite and PostgreSQL, once from the raw event log and once through
the rollups made by the catch-up job: both must give these numbers.

The day (see golden_day.py; UTC times, Riga is UTC+2 so all fall on 2026-01-14 local):
agents A (Anna A) 08:00-16:00 with lunch 30 min and card filling 5 min; B (Berta B)
09:00-15:30 with "other" 10 min. Queues Sales (T=20 s) and Support (T=30 s), short
abandon 5 s in both."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pytest import approx

from tests.integration.reports.golden_day import NOW, Golden, build
from zvans import reports
from zvans.app import Zvans
from zvans.reports import ReportParams

DAY = date(2026, 1, 14)


@pytest.fixture
def gold(zv: Zvans) -> Golden:
    with zv.sessions.begin() as session:
        return build(session)


def run(zv: Zvans, g: Golden, name: str, source: str, **kw: object) -> reports.Report:
    params = ReportParams(DAY, DAY, source=source, **kw)  # type: ignore[arg-type]
    with zv.sessions() as session:
        return reports.run_report(session, g.org_id, name, params, now=NOW)


def by(rows: list[dict[str, object]], key: str) -> dict[object, dict[str, object]]:
    return {r[key]: r for r in rows}


@pytest.fixture(params=["raw", "rollup"])
def source(request: pytest.FixtureRequest, zv: Zvans, gold: Golden) -> str:
    if request.param == "rollup":
        # Roll up everything up to 2026-01-15 00:00 UTC (the report day ends 22:00 UTC).
        result = reports.catch_up(zv.sessions, gold.org_id, now=datetime.fromisoformat(
            "2026-01-15T00:10:00+00:00"))
        assert result.hours > 0
        return "auto"
    return "raw"


def test_agents(zv: Zvans, gold: Golden, source: str) -> None:
    t = run(zv, gold, "agents", source).table("agents")
    rows = by(t.rows, "agent")
    a, b = rows["Anna A"], rows["Berta B"]
    # A: logged in 08:00-16:00 = 8 h = 28 800 s; pauses lunch 1 800 + card 300 = 2 100.
    assert a["work_s"] == 28800 and a["pause_lunch_s"] == 1800 and a["pause_card_s"] == 300
    assert a["pause_other_s"] == 0 and a["pause_total_s"] == 2100
    # A answered c1, c5, c6 (first leg), c12, c14 = 5 (c13 is simulated);
    # talk 120 + 180 + 60 + 120 + 60 = 540, average 540 / 5 = 108.
    assert a["answered"] == 5 and a["answered_talk_s"] == 540 and a["avg_talk_s"] == 108
    # A placed c7b (callback, answered, talk 120) and c11 (no answer).
    assert a["out_calls"] == 2 and a["out_talk_s"] == 120
    # Wrap-up 10 (c1) + 10 (c5) + 5 (c6) + 10 (c7b) + 10 (c12) + 5 (c14) = 50; no hold.
    assert a["wrapup_s"] == 50 and a["hold_s"] == 0
    # AHT = (540 + 120 + 0 + 50) / (5 in + 1 out) = 710 / 6.
    assert a["aht_s"] == approx(710 / 6, abs=1e-3)
    # Occupancy = 710 / (28 800 − 2 100).
    assert a["occupancy"] == approx(710 / 26700, abs=1e-6)
    # B: 09:00-15:30 = 23 400 s, pause other 600; answered c2 (talk 300) and c6's second
    # leg (talk 120): 2 calls, 420 s, average 210; c10 out (talk 300); hold 30 (c2);
    # wrap-up 20 + 10 + 10 = 40.
    assert (b["work_s"], b["pause_other_s"], b["pause_total_s"]) == (23400, 600, 600)
    assert (b["answered"], b["answered_talk_s"], b["avg_talk_s"]) == (2, 420, 210)
    assert (b["out_calls"], b["out_talk_s"], b["hold_s"], b["wrapup_s"]) == (1, 300, 30, 40)
    # AHT = (420 + 300 + 30 + 40) / 3 = 790 / 3; occupancy = 790 / (23 400 − 600).
    assert b["aht_s"] == approx(790 / 3, abs=1e-3)
    assert b["occupancy"] == approx(790 / 22800, abs=1e-6)
    total = t.total
    assert total is not None
    # Totals: work 52 200, answered 7, talk 960 (avg 960/7), pauses 2 700, out 3 / 420 s.
    assert (total["work_s"], total["answered"], total["answered_talk_s"]) == (52200, 7, 960)
    assert total["avg_talk_s"] == approx(960 / 7, abs=1e-3)
    assert (total["pause_total_s"], total["out_calls"], total["out_talk_s"]) == (2700, 3, 420)
    # AHT = (960 + 420 + 30 + 90) / 9 = 1 500 / 9; occupancy = 1 500 / (52 200 − 2 700).
    assert total["aht_s"] == approx(1500 / 9, abs=1e-3)
    assert total["occupancy"] == approx(1500 / 49500, abs=1e-6)
    # Pause columns follow the organisation's list: card, lunch, other.
    keys = [c.key for c in t.columns if c.key.startswith("pause_")]
    assert keys == ["pause_card_s", "pause_lunch_s", "pause_other_s", "pause_total_s"]
    assert set(rows) == {"Anna A", "Berta B"}  # the other organisation's Olga never shows


def test_queues(zv: Zvans, gold: Golden, source: str) -> None:
    t = run(zv, gold, "queues", source).table("queues")
    rows = by(t.rows, "queue")
    s, p = rows["Sales"], rows["Support"]
    # Sales entered by c1, c2, c3, c6, c7, c12 (after overflow), c14 = 7.
    # Answered: c1 (3 s), c2 (45), c6 (10), c12 (30), c14 (4) = 5; within 20 s: 3.
    # Abandoned: c3 after 3 s = 1, a short one. Callback requested (c7) is no abandon.
    assert (s["offered"], s["answered"], s["abandoned"], s["abandoned_short"]) == (7, 5, 1, 1)
    assert (s["overflowed"], s["callbacks_requested"], s["callbacks_made"]) == (0, 1, 1)
    # SL = 3 / (5 + 0 long abandons) = 0.6; SL1 = 3 / 5.
    assert s["sl"] == approx(0.6) and s["sl1"] == approx(0.6)
    # ASA = (3 + 45 + 10 + 30 + 4) / 5 = 92 / 5 = 18.4; abandon rate = 1 / 7.
    assert s["asa_s"] == approx(18.4) and s["wait_s"] == 92 and s["avg_wait_s"] == approx(18.4)
    assert s["abandon_rate"] == approx(1 / 7, abs=1e-6)
    # Longest wait 45 s; talk 120 + 300 + 60 + 120 + 60 = 660 over 5 calls = 132.
    assert s["wait_max_s"] == 45 and s["talk_s"] == 660 and s["avg_talk_s"] == 132
    # Waits 3, 4 -> <=5; 10 -> <=15; 30 -> <=30; 45 -> <=60.
    assert [s[k] for k in ("wait_le_5", "wait_le_15", "wait_le_30", "wait_le_60",
                           "wait_le_120", "wait_gt_120")] == [2, 1, 1, 1, 0, 0]
    # Support entered by c4, c5, c6 (transfer), c12, c17, c18 = 6; answered c5 (25 s) and
    # c6 (10 s), both within 30 s; c4 abandoned after 90 s (long); c12 overflowed.
    assert (p["offered"], p["answered"], p["abandoned"], p["abandoned_short"]) == (6, 2, 1, 0)
    assert p["overflowed"] == 1
    # SL = 2 / (2 + 1) ; SL1 = 2 / 2; ASA = 35 / 2; abandon rate 1 / 6; longest 90.
    assert p["sl"] == approx(2 / 3, abs=1e-6) and p["sl1"] == approx(1.0)
    assert p["asa_s"] == approx(17.5) and p["abandon_rate"] == approx(1 / 6, abs=1e-6)
    assert p["wait_max_s"] == 90
    # Talk 180 + 120 = 300 over 2 = 150; histogram 10 -> <=15, 25 -> <=30.
    assert (p["talk_s"], p["avg_talk_s"]) == (300, 150)
    assert [p[k] for k in ("wait_le_5", "wait_le_15", "wait_le_30")] == [0, 1, 1]
    total = t.total
    assert total is not None
    # Total: offered 13, answered 7, within T 5, abandoned 2 (1 short):
    # SL = 5 / (7 + 1) = 0.625; SL1 = 5 / 7; ASA = 127 / 7; abandon rate 2 / 13.
    assert (total["offered"], total["answered"], total["abandoned"]) == (13, 7, 2)
    assert total["sl"] == approx(0.625) and total["sl1"] == approx(5 / 7, abs=1e-6)
    assert total["asa_s"] == approx(127 / 7, abs=1e-3)
    assert total["abandon_rate"] == approx(2 / 13, abs=1e-6)
    assert total["wait_max_s"] == 90 and total["talk_s"] == 960


def test_queues_by_hour_and_filters(zv: Zvans, gold: Golden, source: str) -> None:
    t = run(zv, gold, "queues", source, group="hour").table("queues")
    rows = {(r["period"], r["queue"]): r for r in t.rows}
    # 08:10 UTC = 10:10 Riga: c1 entered Sales and was answered within T.
    assert rows[("2026-01-14 10:00", "Sales")]["offered"] == 1
    assert rows[("2026-01-14 10:00", "Sales")]["sl"] == approx(1.0)
    # 15:xx UTC = 17:xx Riga: Sales got c12 (30 s) and c14 (4 s): SL = 1 / 2.
    assert rows[("2026-01-14 17:00", "Sales")]["sl"] == approx(0.5)
    day = run(zv, gold, "queues", source, group="day").table("queues")
    assert [r["period"] for r in day.rows] == ["2026-01-14", "2026-01-14"]
    # Agent filter: only the calls B answered: c2 in Sales (45 s), c6 in Support (10 s).
    only_b = run(zv, gold, "queues", source, agent_ids=(gold.b,)).table("queues")
    assert {r["queue"]: r["answered"] for r in only_b.rows} == {"Sales": 1, "Support": 1}
    assert only_b.total is not None and only_b.total["asa_s"] == approx(27.5)
    # Queue filter: Support only.
    sup = run(zv, gold, "queues", source, queue_ids=(gold.q2,)).table("queues")
    assert [r["queue"] for r in sup.rows] == ["Support"]


def test_unanswered(zv: Zvans, gold: Golden, source: str) -> None:
    t = run(zv, gold, "unanswered", source).table("unanswered")
    rows = by(t.rows, "category_key")
    # c8 out of hours (voice message), never called back: 1 caller, not reached.
    assert {k: rows["out_of_hours"][k] for k in
            ("calls", "callers", "reached", "unanswered_unique")} == {
        "calls": 1, "callers": 1, "reached": 0, "unanswered_unique": 1}
    # c9 hung up in the IVR; the same number answered in the OTHER organisation does not
    # count as reached here.
    assert (rows["ivr_not_finished"]["calls"], rows["ivr_not_finished"]["reached"]) == (1, 0)
    # c3 (called again as c14, answered) and c4 (B called the number back, answered):
    # 2 calls, 2 callers, both reached.
    assert {k: rows["abandoned"][k] for k in
            ("calls", "callers", "reached", "unanswered_unique")} == {
        "calls": 2, "callers": 2, "reached": 2, "unanswered_unique": 0}
    assert t.total is not None
    assert (t.total["calls"], t.total["callers"], t.total["reached"],
            t.total["unanswered_unique"]) == (4, 4, 2, 2)


def test_outgoing(zv: Zvans, gold: Golden, source: str) -> None:
    t = run(zv, gold, "outgoing", source).table("outgoing")
    rows = by(t.rows, "agent")
    # A: c7b (answered, 120 s) and c11 (not answered); B: c10 (answered, 300 s).
    assert (rows["Anna A"]["out_calls"], rows["Anna A"]["out_answered"],
            rows["Anna A"]["out_talk_s"], rows["Anna A"]["avg_out_talk_s"]) == (2, 1, 120, 120)
    assert (rows["Berta B"]["out_calls"], rows["Berta B"]["out_answered"],
            rows["Berta B"]["out_talk_s"]) == (1, 1, 300)
    # Total 3 placed, 2 answered, 420 s, average 420 / 2 = 210.
    assert t.total is not None
    assert (t.total["out_calls"], t.total["out_answered"], t.total["out_talk_s"],
            t.total["avg_out_talk_s"]) == (3, 2, 420, 210)


def test_topics(zv: Zvans, gold: Golden, source: str) -> None:
    r = run(zv, gold, "topics", source)
    topics = by(r.table("by_topic").rows, "code")
    # REG: requests for c1 (120 s), c2 (300 s) and one without a call: 3 requests, 2 calls,
    # shortest 120, longest 300, average (120 + 300) / 2 = 210.
    reg = topics["REG"]
    assert (reg["requests"], reg["calls"], reg["shortest_s"], reg["longest_s"],
            reg["average_s"]) == (3, 2, 120, 300, 210)
    # PAY: c2 (300), c5 (180), c6 (120): 3 requests, 3 calls, 120 / 300 / 600 / 3 = 200.
    pay = topics["PAY"]
    assert (pay["requests"], pay["calls"], pay["shortest_s"], pay["longest_s"],
            pay["average_s"]) == (3, 3, 120, 300, 200)
    ta = {(x["code"], x["agent"]): x for x in r.table("by_topic_agent").rows}
    # PAY by B: c2 (300) and c6 (120): average 210.
    assert (ta[("PAY", "Berta B")]["requests"], ta[("PAY", "Berta B")]["average_s"]) == (2, 210)
    assert (ta[("REG", "Anna A")]["requests"], ta[("REG", "Anna A")]["calls"]) == (2, 1)
    agents = by(r.table("by_agent").rows, "agent")
    # A: c1 (120), c5 (180) and one without duration: 3 requests, 2 calls, average 150.
    assert (agents["Anna A"]["requests"], agents["Anna A"]["calls"],
            agents["Anna A"]["average_s"]) == (3, 2, 150)
    total = r.table("by_agent").total
    # All: 5 requests, 4 calls, (120 + 300 + 180 + 120) / 4 = 180.
    assert total is not None and (total["requests"], total["calls"], total["average_s"]) == (
        5, 4, 180)


def test_absence(zv: Zvans, gold: Golden, source: str) -> None:
    r = run(zv, gold, "absence", source)
    agents = by(r.table("by_agent").rows, "agent")
    # A: 2 pauses, 2 100 s of 28 800 s logged in.
    assert (agents["Anna A"]["pauses"], agents["Anna A"]["pause_total_s"]) == (2, 2100)
    assert agents["Anna A"]["pause_share"] == approx(2100 / 28800, abs=1e-6)
    reasons = by(r.table("by_reason").rows, "code")
    # card 300 + lunch 1 800 + other 600 = 2 700 s in 3 pauses.
    assert (reasons["card"]["time_s"], reasons["lunch"]["time_s"],
            reasons["other"]["time_s"]) == (300, 1800, 600)
    assert reasons["lunch"]["share"] == approx(1800 / 2700, abs=1e-6)
    total = r.table("by_reason").total
    assert total is not None and (total["pauses"], total["time_s"], total["avg_s"]) == (
        3, 2700, 900)


def test_quality(zv: Zvans, gold: Golden, source: str) -> None:
    r = run(zv, gold, "quality", source)
    rows = {(x["agent"], x["channel"]): x for x in r.table("by_agent").rows}
    # A: calls rated 5 (c1) and 4 (c5): average 4.5 (c13's 1 is simulated).
    a = rows[("Anna A", "voice")]
    assert (a["ratings"], a["average"], a["r4"], a["r5"], a["r1"]) == (2, 4.5, 1, 1, 0)
    # B: a call rated 3 (c2) and a chat rated 8 on a 9-point scale.
    assert rows[("Berta B", "voice")]["average"] == 3
    chat = rows[("Berta B", "chat")]
    assert (chat["scale"], chat["ratings"], chat["r8"]) == (9, 1, 1)
    # All calls: (5 + 3 + 4) / 3 = 4.
    assert rows[("Total", "voice")]["average"] == 4 and rows[("Total", "voice")]["ratings"] == 3
    queues = {(x["queue"], x["channel"]): x for x in r.table("by_queue").rows}
    # Sales: 5 (c1) and 3 (c2) = 4; Support: 4 (c5).
    assert queues[("Sales", "voice")]["average"] == 4 and queues[("Support", "voice")][
        "ratings"] == 1


def test_yearly(zv: Zvans, gold: Golden, source: str) -> None:
    t = run(zv, gold, "yearly", source).table("yearly")
    (y,) = t.rows
    # Voice calls in: c1-c9 minus the outgoing c7b = c1, c2, c3, c4, c5, c6, c7, c8, c9,
    # c12, c14, c17, c18 = 13 (c13 simulated); out: c7b, c10, c11 = 3.
    assert (y["year"], y["calls_in"], y["calls_out"], y["calls_total"]) == ("2026", 13, 3, 16)
    # Average call = (960 in + 420 out) / (7 + 2) calls = 153.33 s = 2.556 min.
    assert y["avg_call_min"] == approx(1380 / 9 / 60, abs=1e-3)
    assert (y["transferred"], y["voicemails"], y["chats"], y["emails"]) == (1, 1, 1, 1)
    assert (y["avg_call_rating"], y["avg_chat_rating"]) == (4, 8)


def test_kpis(zv: Zvans, gold: Golden, source: str) -> None:
    t = run(zv, gold, "kpis", source).table("kpis")
    rows = by(t.rows, "agent")
    a, b = rows["Anna A"], rows["Berta B"]
    # A: waits 3, 25, 10, 30, 4 -> 72 / 5 = 14.4; 5 calls; average call 108; 5 / 8 h.
    # B: waits 45, 10 -> 27.5; 2 calls; average call 210; 2 / 6.5 h.
    assert (a["avg_answer_s"], a["answered"], a["avg_call_s"]) == (14.4, 5, 108)
    assert a["answered_per_hour"] == approx(0.625)
    assert (b["avg_answer_s"], b["answered"], b["avg_call_s"]) == (27.5, 2, 210)
    assert b["answered_per_hour"] == approx(2 / 6.5, abs=1e-3)
    # Team averages: (14.4 + 27.5) / 2 = 20.95; 3.5 calls; (108 + 210) / 2 = 159.
    avg = t.total
    assert avg is not None
    assert (avg["avg_answer_s"], avg["answered"], avg["avg_call_s"]) == (20.95, 3.5, 159)
    # A against them: 14.4 / 20.95 − 1, 5 / 3.5 − 1, 108 / 159 − 1.
    assert a["avg_answer_s_vs_avg"] == approx(14.4 / 20.95 - 1, abs=1e-5)
    assert a["answered_vs_avg"] == approx(5 / 3.5 - 1, abs=1e-5)
    assert b["avg_call_s_vs_avg"] == approx(210 / 159 - 1, abs=1e-5)
    per_hour_avg = (0.625 + 2 / 6.5) / 2
    assert a["answered_per_hour_vs_avg"] == approx(0.625 / per_hour_avg - 1, abs=1e-5)


def test_live(zv: Zvans, gold: Golden, source: str) -> None:
    t = run(zv, gold, "live", source).table("live")
    rows = by(t.rows, "queue")
    # Served today: Sales c1, c2, c6, c12, c14 = 5 (the callback c7b is outgoing);
    # Support c5, c6 = 2. Waiting at 16:00: c17 (since 15:55) and c18 (15:58) in Support;
    # c19 (open since yesterday) is too old to be a live caller.
    assert (rows["Sales"]["served_today"], rows["Sales"]["waiting"]) == (5, 0)
    assert rows["Sales"]["oldest_wait_s"] is None
    assert (rows["Support"]["served_today"], rows["Support"]["waiting"],
            rows["Support"]["oldest_wait_s"]) == (2, 2, 300)


def test_drill_down_lists_the_calls_behind_a_number(zv: Zvans, gold: Golden) -> None:
    with zv.sessions() as session:
        ctx = reports.context(session, gold.org_id, "queues", ReportParams(DAY, DAY), now=NOW)
        answered = reports.calls_behind(ctx, "answered", queue_id=gold.q1)
        ids = {c["id"] for c in answered}
        assert ids == {gold.calls[n] for n in ("c1", "c2", "c6", "c12", "c14")}
        short = reports.calls_behind(ctx, "abandoned_short", queue_id=gold.q1)
        assert [c["id"] for c in short] == [gold.calls["c3"]]
        unanswered = reports.calls_behind(ctx, "unanswered", category="abandoned")
        assert {c["id"] for c in unanswered} == {gold.calls["c3"], gold.calls["c4"]}
