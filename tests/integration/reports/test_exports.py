"""Exports hold the report's numbers; organisation isolation; agents see only their own
statistics; the `zvans report` command."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.integration.reports.golden_day import NOW, Golden, build
from zvans import reports
from zvans.app import Zvans
from zvans.errors import Forbidden, InvalidInput
from zvans.reports import ReportParams
from zvans.reports.export import XLSX_FORMATS
from zvans.store.models import Organisation

DAY = date(2026, 1, 14)


@pytest.fixture
def gold(zv: Zvans) -> Golden:
    with zv.sessions.begin() as session:
        return build(session)


def run(zv: Zvans, org_id: int, name: str, **kw: object) -> reports.Report:
    only = kw.pop("only_agent_id", None)
    with zv.sessions() as session:
        return reports.run_report(session, org_id, name, ReportParams(DAY, DAY, **kw),  # type: ignore[arg-type]
                                  now=NOW, only_agent_id=only)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", reports.NAMES)
def test_xlsx_and_csv_hold_the_json_numbers(zv: Zvans, gold: Golden, name: str) -> None:
    report = run(zv, gold.org_id, name, group="day")
    as_json = json.loads(reports.to_json(report))
    wb = load_workbook(io.BytesIO(reports.to_xlsx(report)))
    csv_blocks = reports.to_csv(report).split("\n\n")
    assert len(csv_blocks) == len(as_json["tables"])
    for table, block in zip(as_json["tables"], csv_blocks, strict=True):
        ws = wb[table["key"]]
        cols = table["columns"]
        assert [c.value for c in ws[1]] == [c["label"] for c in cols]
        assert ws.freeze_panes == "B2"
        rows = table["rows"] + ([table["total"]] if table["total"] else [])
        assert ws.max_row == 1 + len(rows)
        for i, row in enumerate(rows, start=2):
            for j, col in enumerate(cols, start=1):
                cell = ws.cell(row=i, column=j)
                value = row.get(col["key"])
                # An empty text cell reads back as None in a spreadsheet.
                assert cell.value == (None if value == "" else value), (table["key"], col["key"])
                if col["kind"] in XLSX_FORMATS and cell.value is not None:
                    assert cell.number_format == XLSX_FORMATS[col["kind"]]
        lines = list(csv.reader(io.StringIO(block.strip("\n"))))
        if len(as_json["tables"]) > 1:
            assert lines.pop(0) == [table["title"]]
        assert lines[0] == [c["label"] for c in cols]
        for line, row in zip(lines[1:], rows, strict=True):
            expected = ["" if row.get(c["key"]) is None else str(row.get(c["key"]))
                        for c in cols]
            assert line == expected


def test_other_organisation_sees_only_its_own(zv: Zvans, gold: Golden) -> None:
    other = gold.other_org_id
    agents = run(zv, other, "agents").table("agents")
    # Olga: 08:00-12:00 logged in = 14 400 s, lunch from 10:00 = 7 200 s; 1 call, 100 s.
    assert [r["agent"] for r in agents.rows] == ["Olga O"]
    assert (agents.rows[0]["work_s"], agents.rows[0]["pause_lunch_s"],
            agents.rows[0]["answered"], agents.rows[0]["answered_talk_s"]) == (14400, 7200, 1, 100)
    queues = run(zv, other, "queues").table("queues")
    assert [(r["queue"], r["offered"], r["answered"], r["abandoned"]) for r in queues.rows] == [
        ("Elsewhere", 2, 1, 1)]
    quality = run(zv, other, "quality").table("by_agent")
    assert {(r["agent"], r["average"]) for r in quality.rows} == {("Olga O", 2), ("Total", 2)}
    topics = run(zv, other, "topics").table("by_topic")
    assert [(r["code"], r["requests"]) for r in topics.rows] == [("REG", 1)]
    unanswered = run(zv, other, "unanswered").table("unanswered")
    # o2 abandoned and then marked out of hours: one call, its first category wins.
    assert unanswered.total is not None and unanswered.total["calls"] == 1
    live = run(zv, other, "live").table("live")
    assert [(r["queue"], r["served_today"], r["waiting"]) for r in live.rows] == [
        ("Elsewhere", 1, 0)]
    # And gold's queue filter cannot name the other organisation's queue.
    oq = queues.rows[0]["queue_id"]
    with pytest.raises(InvalidInput):
        run(zv, gold.org_id, "queues", queue_ids=(oq,))
    with pytest.raises(InvalidInput):
        run(zv, gold.org_id, "agents", agent_ids=(gold.other_agent,))


def test_agent_sees_only_own_statistics(zv: Zvans, gold: Golden) -> None:
    a = gold.a
    agents = run(zv, gold.org_id, "agents", only_agent_id=a).table("agents")
    assert [r["agent"] for r in agents.rows] == ["Anna A"]
    assert agents.total is not None and agents.total["answered"] == 5
    # Queue figures restricted to A's own calls: Sales c1, c6, c12, c14; Support c5.
    queues = run(zv, gold.org_id, "queues", only_agent_id=a).table("queues")
    assert {r["queue"]: r["answered"] for r in queues.rows} == {"Sales": 4, "Support": 1}
    kpis = run(zv, gold.org_id, "kpis", only_agent_id=a).table("kpis")
    assert [r["agent"] for r in kpis.rows] == ["Anna A"]
    # The team average still covers the team: (14.4 + 27.5) / 2.
    assert kpis.total is not None and kpis.total["avg_answer_s"] == 20.95
    quality = run(zv, gold.org_id, "quality", only_agent_id=a).table("by_agent")
    assert {r["agent"] for r in quality.rows} == {"Anna A", "Total"}
    assert all(r["ratings"] == 2 for r in quality.rows)
    topics = run(zv, gold.org_id, "topics", only_agent_id=a).table("by_agent")
    assert [r["agent"] for r in topics.rows] == ["Anna A"]
    outgoing = run(zv, gold.org_id, "outgoing", only_agent_id=a).table("outgoing")
    assert [r["agent"] for r in outgoing.rows] == ["Anna A"]
    absence = run(zv, gold.org_id, "absence", only_agent_id=a).table("by_agent")
    assert [r["agent"] for r in absence.rows] == ["Anna A"]
    for name in ("unanswered", "live"):
        with pytest.raises(Forbidden):
            run(zv, gold.org_id, name, only_agent_id=a)
    with pytest.raises(Forbidden):
        run(zv, gold.org_id, "agents", only_agent_id=a, agent_ids=(gold.b,))
    with zv.sessions() as session:
        ctx = reports.context(session, gold.org_id, "queues", ReportParams(DAY, DAY),
                              now=NOW, only_agent_id=a)
        ids = {c["id"] for c in reports.calls_behind(ctx, "answered", queue_id=gold.q1)}
        assert ids == {gold.calls[n] for n in ("c1", "c6", "c12", "c14")}


def test_bad_parameters_are_refused(zv: Zvans, gold: Golden) -> None:
    with pytest.raises(InvalidInput):
        run(zv, gold.org_id, "nosuch")
    with pytest.raises(InvalidInput):
        run(zv, gold.org_id, "agents", group="week")
    with zv.sessions() as session, pytest.raises(InvalidInput):
        reports.run_report(session, gold.org_id, "agents",
                           ReportParams(date(2026, 1, 2), date(2026, 1, 1)))
    with pytest.raises(InvalidInput):
        run(zv, gold.org_id, "unanswered", agent_ids=(gold.a,))


# --- the command line ------------------------------------------------------------------------

def zvans_cli(tmp: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZVANS_")}
    env["ZVANS_DATABASE_URL"] = url
    env["ZVANS_DATA_DIR"] = str(tmp / "var")
    return subprocess.run([sys.executable, "-m", "zvans.cli", *args], capture_output=True,
                          text=True, env=env, cwd=tmp, timeout=120)


def test_cli_report_formats_and_mistakes(zv: Zvans, gold: Golden, tmp_path: Path) -> None:
    url = zv.settings.database_url
    base = ["report", "queues", "--from", "2026-01-14", "--to", "2026-01-14", "--org", "gold"]
    r = zvans_cli(tmp_path, url, *base, "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["tables"][0]["total"]["offered"] == 13
    r = zvans_cli(tmp_path, url, *base, "--queue", "Support", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith("Support,6,2,1,0,1")
    out = tmp_path / "q.xlsx"
    r = zvans_cli(tmp_path, url, *base, "--agent", "berta", "--format", "xlsx",
                  "--output", str(out))
    assert r.returncode == 0, r.stderr
    ws = load_workbook(out)["queues"]
    assert ws.cell(row=1, column=1).value == "Queue"
    table = zvans_cli(tmp_path, url, *base)
    assert "Sales" in table.stdout and "60.0 %" in table.stdout
    # Tables, CSV and XLSX speak the organisation's language; JSON stays as computed.
    with zv.sessions.begin() as s:
        org = s.get(Organisation, gold.org_id)
        assert org is not None
        org.language = "lv"
    r = zvans_cli(tmp_path, url, *base, "--format", "csv")
    assert r.stdout.splitlines()[0].startswith("Rinda,Piedāvāti,Atbildēti,Pamesti,")
    assert r.stdout.splitlines()[-1].startswith("Kopā,13,")
    r = zvans_cli(tmp_path, url, *base, "--format", "json")
    assert json.loads(r.stdout)["tables"][0]["columns"][0]["label"] == "Queue"
    for args, message in [
        (["report", "nosuch", "--org", "gold"], "no report 'nosuch'"),
        ([*base, "--queue", "Nowhere"], "no queue 'Nowhere'"),
        ([*base, "--format", "pdf"], "--format must be one of"),
        ([*base, "--format", "xlsx"], "add --output"),
        (["report", "agents", "--from", "2026-13-01", "--org", "gold"], "expected a date"),
        (["report", "agents", "--from", "2026-01-14", "--to", "2026-01-01", "--org", "gold"],
         "before the start"),
    ]:
        bad = zvans_cli(tmp_path, url, *args)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert message in bad.stderr and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    roll = zvans_cli(tmp_path, url, "report-rollup")
    assert roll.returncode == 0, roll.stderr
    assert {r["org_id"] for r in json.loads(roll.stdout)} == {gold.org_id, gold.other_org_id}
