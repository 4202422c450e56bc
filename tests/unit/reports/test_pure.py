"""Pure pieces of the reports: formulas, hour splitting of agent time, output formatting and
SVG escaping."""

from __future__ import annotations

from datetime import datetime

from zvans.reports import metrics as m
from zvans.reports.charts import bars
from zvans.reports.export import format_value, to_csv, to_text
from zvans.reports.facts import AgentTime, _AgentState, _apply, _split
from zvans.reports.table import Column, Report, Table, seconds


def test_formulas_on_counts() -> None:
    assert m.mean_of(10, 4) == 2.5
    assert m.mean_of(10, 0) is None
    assert m.asa_counts(92, 5) == 18.4
    assert m.sl1_counts(3, 5) == 0.6
    assert m.sl1_counts(0, 0) is None
    assert m.per_hour(5, 8 * 3600) == 0.625
    assert m.per_hour(5, 0) is None
    assert m.team_average([1.0, None, 3.0]) == 2.0
    assert m.team_average([None]) is None
    assert m.relative_to(15, 10) == 0.5
    assert m.relative_to(None, 10) is None and m.relative_to(1, 0) is None


def t(hms: str) -> datetime:
    return datetime.fromisoformat(f"2026-01-14T{hms}+00:00")


def test_split_cuts_intervals_at_hour_boundaries() -> None:
    out = AgentTime()
    _split(out, 7, "pause", "lunch", t("12:30:00"), t("14:15:30"))
    assert out.ms == {
        (t("12:00:00"), 7, "pause", "lunch"): 30 * 60_000,
        (t("13:00:00"), 7, "pause", "lunch"): 60 * 60_000,
        (t("14:00:00"), 7, "pause", "lunch"): 15 * 60_000 + 30_000,
    }
    empty = AgentTime()
    _split(empty, 7, "login", "", t("12:00:00"), t("12:00:00"))
    assert empty.ms == {}


def test_agent_state_moves() -> None:
    st = _AgentState(since=t("08:00:00"))
    assert _apply(st, "agent_login", {}) == (True, False)
    assert _apply(st, "agent_paused", {"reason": "lunch"}) == (False, True)
    # Another reason while paused starts a new pause; the same reason does not.
    assert _apply(st, "agent_paused", {"reason": "lunch"}) == (False, False)
    assert _apply(st, "agent_paused", {"reason": "card"}) == (False, True)
    assert _apply(st, "agent_ready", {}) == (False, False) and st.reason is None
    assert _apply(st, "agent_logout", {}) == (False, False) and not st.logged_in
    # A pause while logged out implies a login (a paused agent is logged in).
    assert _apply(st, "agent_paused", {}) == (True, True) and st.reason == "other"


def test_formats() -> None:
    assert format_value(Column("x", "x", "seconds"), 3725.4) == "1:02:05"
    assert format_value(Column("x", "x", "ratio"), 0.625) == "62.5 %"
    assert format_value(Column("x", "x", "number"), 4.0) == "4.00"
    assert format_value(Column("x", "x", "int"), None) == "–"
    assert seconds(1500) == 1.5 and seconds(None) is None


def test_csv_and_text_of_a_small_report() -> None:
    table = Table("t", "T", [Column("name", "Name", "text"), Column("n", "Count", "int"),
                             Column("s", "Time", "seconds")],
                  [{"name": "a,b", "n": 2, "s": 61.5}], {"name": "Total", "n": 2, "s": None})
    report = Report("x", "X", {}, [table])
    assert to_csv(report) == 'Name,Count,Time\n"a,b",2,61.5\nTotal,2,\n'
    text = to_text(report)
    assert "a,b" in text and "0:01:02" in text and "Total" in text


def test_chart_escapes_labels() -> None:
    chart = bars("<b>", ["<script>", "x"], [("a&b", [1.0, 2.0])])
    assert "<script>" not in chart.svg and "&lt;script&gt;" in chart.svg
    assert "a&amp;b" in chart.svg and chart.svg.startswith("<svg")
