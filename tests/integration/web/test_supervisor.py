"""Supervisor pages and API through the real app (SQLite and PostgreSQL): the wallboard JSON
from the running ACD, the monitoring log, forced pause / log out with audit entries, and the
live event stream the wallboard page listens to."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.web.conftest import Web, login
from zvans.store import orgs, users
from zvans.store.models import AuditEntry, Queue


def supervisor(web: Web) -> tuple[TestClient, str]:
    c = web.client()
    return c, login(c, "supervisor", "super-demo-1")


def cc(web: Web) -> Any:
    return web.z.services["cc"]


def queue_id(web: Web, name: str) -> int:
    with web.z.sessions() as s:
        qid = s.scalar(select(Queue.id).where(Queue.name == name))
        assert qid is not None
        return qid


def agent_row(board: dict[str, Any], user_id: int) -> dict[str, Any]:
    return next(a for a in board["agents"] if a["user_id"] == user_id)


def queue_row(board: dict[str, Any], qid: int) -> dict[str, Any]:
    return next(q for q in board["queues"] if q["id"] == qid)


def test_wallboard_json_follows_agents_and_calls(web: Web) -> None:
    org_id, anna = web.org_id(), web.user_id("anna.berzina")
    lv = queue_id(web, "Latvian")
    c, _tok = supervisor(web)
    board = c.get("/api/v1/wallboard").json()
    assert agent_row(board, anna)["availability"] == "logged_out"
    assert {q["name"] for q in board["queues"]} >= {"Latvian", "English"}
    assert [r["code"] for r in board["pause_reasons"]][:2] == ["card", "lunch"]
    center = cc(web)
    center.agent_login(org_id, anna)
    row = agent_row(c.get("/api/v1/wallboard").json(), anna)
    assert row["availability"] == "ready" and row["queues"][str(lv)] == 1
    # two callers: one is offered to Anna, the other waits
    first = center.call_arrived(org_id, lv, "+37120000001", simulated=True)
    center.call_arrived(org_id, lv, "+37120000002", simulated=True)
    board = c.get("/api/v1/wallboard").json()
    assert agent_row(board, anna)["activity"] == "ringing"
    assert queue_row(board, lv)["waiting"] >= 1
    center.offer_answered(org_id, anna, first)
    board = c.get("/api/v1/wallboard").json()
    assert agent_row(board, anna)["activity"] == "on_call"
    assert queue_row(board, lv)["answered_today"] == 1
    center.call_ended(org_id, first)
    assert agent_row(c.get("/api/v1/wallboard").json(), anna)["activity"] in ("wrap_up", "idle",
                                                                               "ringing")


def test_wallboard_and_log_pages_render(web: Web) -> None:
    org_id, anna = web.org_id(), web.user_id("anna.berzina")
    cc(web).agent_login(org_id, anna)
    c, _tok = supervisor(web)
    page = c.get("/supervisor/wallboard")
    assert page.status_code == 200
    assert f'data-agent-id="{anna}"' in page.text and "Bērziņa" in page.text
    assert '<script type="module" src="/static/supervisor.js">' in page.text
    assert c.get("/supervisor", follow_redirects=False).headers["location"] == \
        "/supervisor/wallboard"
    log = c.get("/supervisor/log")
    assert log.status_code == 200 and "agent_login" in log.text
    filtered = c.get(f"/supervisor/log?type=agent_paused&agent={anna}").text
    assert "agent_login" not in filtered.split("<tbody>")[1]
    # the static scripts the pages load are served
    for js in ("/static/supervisor.js", "/static/supervisor_log.js", "/static/admin.js"):
        assert c.get(js).status_code == 200


def test_force_pause_and_logout_are_audited(web: Web) -> None:
    org_id, anna = web.org_id(), web.user_id("anna.berzina")
    center = cc(web)
    center.agent_login(org_id, anna)
    c, tok = supervisor(web)
    h = {"X-CSRF-Token": tok}
    r = c.post(f"/api/v1/supervisor/agents/{anna}/pause", json={"reason": "training"},
               headers=h)
    assert r.status_code == 200, r.text
    view = center.agent_view(org_id, anna)
    assert view["availability"] == "paused" and view["pause_reason"] == "training"
    with web.z.sessions() as s:
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "agent.force_pause"))
        assert e is not None and e.user_id == web.user_id("supervisor")
        assert e.target == f"user:{anna}" and e.details["reason"] == "training"
    events = c.get(f"/api/v1/events?type=agent_paused&agent_id={anna}").json()["events"]
    assert events and events[0]["data"].get("reason") == "training"
    assert events[0]["agent"] == "Anna Bērziņa"
    # bad reason: refused, nothing changes, nothing audited
    r = c.post(f"/api/v1/supervisor/agents/{anna}/pause", json={"reason": "nap"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "reason"
    assert center.agent_view(org_id, anna)["pause_reason"] == "training"
    # log out (the form variant used without JavaScript)
    r = c.post(f"/supervisor/agents/{anna}/logout", data={"csrf_token": tok},
               follow_redirects=False)
    assert r.status_code == 303
    assert center.agent_view(org_id, anna)["availability"] == "logged_out"
    # pausing a logged-out agent is refused with the ACD's error, nothing audited
    r = c.post(f"/api/v1/supervisor/agents/{anna}/pause", json={"reason": "lunch"}, headers=h)
    assert r.status_code >= 400
    with web.z.sessions() as s:
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["agent.force_pause", "agent.force_logout"]


def test_force_pause_during_a_call_waits_for_the_end_of_the_call(web: Web) -> None:
    org_id, anna = web.org_id(), web.user_id("anna.berzina")
    center = cc(web)
    for name in ("martins.ozols", "liga.kalnina", "edgars.liepa", "ilze.vitola",
                 "karlis.egle", "john.miller"):
        assert center.agent_view(org_id, web.user_id(name))["availability"] == "logged_out"
    center.agent_login(org_id, anna)
    call = center.call_arrived(org_id, queue_id(web, "Latvian"), "+37120000003",
                               simulated=True)
    center.offer_answered(org_id, anna, call)
    c, tok = supervisor(web)
    r = c.post(f"/api/v1/supervisor/agents/{anna}/pause", json={"reason": "lunch"},
               headers={"X-CSRF-Token": tok})
    assert r.status_code == 200, r.text
    assert r.json()["pending_pause"] == "lunch" and r.json()["activity"] == "on_call"
    row = agent_row(c.get("/api/v1/wallboard").json(), anna)
    assert row["pending_pause"] == "lunch"


def test_supervisor_sees_only_their_organisation(web: Web) -> None:
    with web.z.sessions.begin() as s:
        other = orgs.add_org(s, "other", "Other agency")
        users.add_user(s, other.id, users.UserInput(
            username="other.sup", password="other-pass-1", email="o@x.invalid",
            role="supervisor"))
    org_id, anna = web.org_id(), web.user_id("anna.berzina")
    cc(web).agent_login(org_id, anna)
    c = web.client()
    tok = login(c, "other.sup", "other-pass-1")
    board = c.get("/api/v1/wallboard").json()
    assert all(a["user_id"] != anna for a in board["agents"])
    assert board["queues"] == []
    assert c.get("/api/v1/events").json()["events"] == []
    assert "Bērziņa" not in c.get("/supervisor/log").text
    r = c.post(f"/api/v1/supervisor/agents/{anna}/pause", json={"reason": "lunch"},
               headers={"X-CSRF-Token": tok})
    assert r.status_code == 404
    r = c.post(f"/api/v1/supervisor/agents/{anna}/logout", headers={"X-CSRF-Token": tok})
    assert r.status_code == 404
    assert cc(web).agent_view(org_id, anna)["availability"] == "ready"


def test_the_live_stream_tells_the_wallboard_about_a_state_change(web: Web) -> None:
    """What the wallboard page does: on an event from /ws it re-fetches /api/v1/wallboard."""
    org_id, anna = web.org_id(), web.user_id("anna.berzina")
    c, _tok = supervisor(web)
    cookie = {"cookie": "zvans_session=" + c.cookies["zvans_session"]}
    with c.websocket_connect("/ws", headers=cookie) as ws:
        first = ws.receive_json()
        assert first["kind"] == "snapshot"
        cc(web).agent_login(org_id, anna)
        seen = []
        for _ in range(10):
            msg = ws.receive_json()
            if msg["kind"] == "event":
                seen.append(msg["event"]["type"])
                if msg["event"]["type"] == "agent_login":
                    assert msg["id"] > first["id"]
                    break
        assert "agent_login" in seen
        assert agent_row(c.get("/api/v1/wallboard").json(), anna)["availability"] == "ready"
