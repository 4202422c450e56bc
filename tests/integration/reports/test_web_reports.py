"""Report pages through the real web app: filters, formulas, drill-down, charts, printable
view, downloads; agents see only their own statistics and not the supervisor reports."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tests.integration.web.conftest import Web, signed_in, web  # noqa: F401 (fixture)
from zvans.store.db import append_event
from zvans.store.models import Interaction, Queue, User

DAY = "2026-01-14"
QS = f"from={DAY}&to={DAY}"


@pytest.fixture
def day(web: Web) -> dict[str, int]:  # noqa: F811
    anna, martins = web.user_id("anna.berzina"), web.user_id("martins.ozols")
    org = web.org_id()
    with web.z.sessions.begin() as s:
        q = s.scalar(select(Queue.id).where(Queue.org_id == org, Queue.name == "Latvian"))
        assert q is not None

        def at(hms: str) -> datetime:
            return datetime.fromisoformat(f"{DAY}T{hms}+00:00").astimezone(UTC)

        ids = {}
        for name, agent, wait, talk, hour in (("a", anna, 10, 100, "09"),
                                               ("m", martins, 40, 200, "10")):
            row = Interaction(org_id=org, caller=f"+37120000{wait:03d}",
                              queue_id=q, agent_id=agent, started_at=at(f"{hour}:00:00"))
            s.add(row)
            s.flush()
            ids[name] = row.id
            append_event(s, org, "agent_login", agent_id=agent, at=at("08:00:00"))
            append_event(s, org, "enqueued", interaction_id=row.id, queue_id=q,
                         at=at(f"{hour}:00:00"))
            append_event(s, org, "answered", interaction_id=row.id, queue_id=q,
                         agent_id=agent, data={"wait_s": wait}, at=at(f"{hour}:00:{wait}"))
            append_event(s, org, "completed", interaction_id=row.id, queue_id=q,
                         agent_id=agent, data={"talk_s": talk}, at=at(f"{hour}:05:00"))
            append_event(s, org, "agent_logout", agent_id=agent, at=at("16:00:00"))
        ids["queue"] = q
        ids["anna"], ids["martins"] = anna, martins
    return ids


def test_supervisor_sees_every_agent_with_formulas_charts_and_drill_down(
        web: Web, day: dict[str, int]) -> None:  # noqa: F811
    with web.z.sessions.begin() as s:  # English UI: the checks below read the English texts
        sup = s.get(User, web.user_id("supervisor"))
        assert sup is not None
        sup.language = "en"
    client, _token = signed_in(web, "supervisor")
    page = client.get(f"/reports/agents?{QS}")
    assert page.status_code == 200
    with web.z.sessions() as s:
        for uid in (day["anna"], day["martins"]):
            user = s.get(User, uid)
            assert user is not None and user.display_name in page.text
    assert 'title="occupancy = (talk + hold + wrap-up) / (logged-in − paused) time"' in page.text
    assert "<svg" in page.text  # answered calls per agent
    queues = client.get(f"/reports/queues?{QS}&group=hour&queue={day['queue']}")
    assert queues.status_code == 200
    assert 'data-drill="answered"' in queues.text and "Wait of answered calls" in queues.text
    drill = client.get(f"/reports/queues/calls?{QS}&metric=answered&queue_id={day['queue']}")
    assert drill.status_code == 200
    assert f'data-call="{day["a"]}"' in drill.text and f'data-call="{day["m"]}"' in drill.text
    printable = client.get(f"/reports/queues?{QS}&print=1")
    assert printable.status_code == 200 and 'class="topbar"' not in printable.text
    assert "@media print" in client.get("/static/reports.css").text
    xlsx = client.get(f"/reports/queues/export.xlsx?{QS}")
    assert xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(xlsx.content))["queues"]
    assert ws.cell(row=2, column=1).value == "Latvian" and ws.cell(row=2, column=3).value == 2
    csv_body = client.get(f"/reports/queues/export.csv?{QS}").text
    assert csv_body.lstrip("\ufeff").startswith("Queue,Offered,Answered")
    assert client.get(f"/reports/unanswered?{QS}").status_code == 200
    assert client.get(f"/reports/live?{QS}").status_code == 200


def test_agent_sees_only_own_figures(web: Web, day: dict[str, int]) -> None:  # noqa: F811
    client, _token = signed_in(web, "anna.berzina")
    data = json.loads(client.get(f"/reports/agents/export.json?{QS}").text)
    rows = data["tables"][0]["rows"]
    assert [r["agent_id"] for r in rows] == [day["anna"]]
    assert rows[0]["answered"] == 1 and rows[0]["answered_talk_s"] == 100
    # Asking for another agent's figures is refused; so are supervisor reports.
    assert client.get(f"/reports/agents?{QS}&agent={day['martins']}").status_code == 403
    assert client.get(f"/reports/unanswered?{QS}").status_code == 403
    assert client.get(f"/reports/live?{QS}").status_code == 403
    index = client.get("/reports").text
    assert 'data-report="agents"' in index and 'data-report="unanswered"' not in index
    drill = client.get(f"/reports/queues/calls?{QS}&metric=answered")
    assert f'data-call="{day["a"]}"' in drill.text and f'data-call="{day["m"]}"' not in drill.text


def test_bad_report_parameters(web: Web, day: dict[str, int]) -> None:  # noqa: F811
    client, _token = signed_in(web, "supervisor")
    assert client.get("/reports/nosuch").status_code == 404
    bad_date = client.get("/reports/agents?from=2026-02-30")
    assert bad_date.status_code == 422 and "expected a date" in bad_date.text
    assert client.get(f"/reports/agents?{QS}&group=week").status_code == 422
    assert client.get(f"/reports/agents?{QS}&queue=abc").status_code == 422
    assert client.get(f"/reports/agents/export.pdf?{QS}").status_code == 404
    assert client.get("/reports/agents", follow_redirects=False).status_code == 200
    anonymous = web.client().get("/reports", follow_redirects=False)
    assert anonymous.status_code == 303
