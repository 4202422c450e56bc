"""Outbound campaign walk-through in Chromium against a real `zvans serve` with demo data:
a supervisor creates a campaign, uploads a CSV (BOM, `;`), assigns it to an agent and starts
it; the agent previews the first contact, presses call (the outgoing interaction is
recorded whether or not telephony can dial), saves a result and sees the next contact; the
supervisor sees the progress, 1 of 4 closed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, shot, sign_in, start_server, stop_server
from tests.integration.telephony.support import SippUas, api_login, have_peers

pytestmark = pytest.mark.browser

CSV = ("\ufeffPhone;Name;Farm;Region\n"
       "+37120000101;Jānis Kalns;Ābeles;Vidzeme\n"
       "+37120000102;Marta Lejiņa;Ozoli;Kurzeme\n"
       "+37120000103;Pēteris Sils;Lazdas;Latgale\n"
       "+37120000104;Ieva Upe;Priedes;Zemgale\n")


def test_supervisor_uploads_agent_previews_calls_and_sets_result(
        server: Server, browser: Any, tmp_path: Path) -> None:
    queue_id = server.sql("SELECT id FROM queue WHERE name = 'Latvian'")[0][0]
    anna_id = server.sql("SELECT id FROM user_account WHERE username = 'anna.berzina'")[0][0]
    csv_path = tmp_path / "farmers.csv"
    csv_path.write_bytes(CSV.encode("utf-8"))
    boss_ctx = browser.new_context(locale="en-GB")
    agent_ctx = browser.new_context(locale="en-GB")
    boss = boss_ctx.new_page()
    agent = agent_ctx.new_page()
    try:
        # The supervisor creates the campaign.
        sign_in(boss, server.base_url, "supervisor", "super-demo-1")
        boss.goto(server.base_url + "/campaigns/new")
        boss.fill("#name", "Spring survey")
        boss.select_option("#queue_id", str(queue_id))
        boss.click('[data-action="create"]')
        expect(boss.locator("#campaign-state")).to_have_attribute("data-state", "draft")
        campaign_url = boss.url
        campaign_id = int(campaign_url.rstrip("/").rsplit("/", 1)[1])

        # Uploads the CSV, assigns everything to Anna and starts the campaign.
        boss.set_input_files("#file", str(csv_path))
        boss.click('[data-action="upload"]')
        expect(boss.locator("#progress-summary")).to_have_attribute("data-total", "4")
        expect(boss.locator("#contacts tbody tr")).to_have_count(4)
        boss.check('#assign-form input[name="mode"][value="chosen"]')
        boss.check('#assign-agents input[data-username="anna.berzina"]')
        boss.click('[data-action="assign"]')
        expect(boss.locator(f'#progress-agents tr[data-agent="{anna_id}"] td').nth(1)
               ).to_have_text("4")
        boss.click('[data-action="state-active"]')
        expect(boss.locator("#campaign-state")).to_have_attribute("data-state", "active")
        shot(boss, "campaigns-01-supervisor-ready")

        # The agent opens her campaigns and previews the first contact.
        sign_in(agent, server.base_url, "anna.berzina", "agent-demo-1")
        agent.goto(server.base_url + "/campaigns")
        agent.click(f'#my-campaign-list tr[data-campaign="{campaign_id}"] '
                    '[data-action="work"]')
        agent.click('[data-action="next"]')
        expect(agent.locator("#contact-name")).to_have_text("Jānis Kalns")
        expect(agent.locator("#contact-phone")).to_have_text("+37120000101")
        expect(agent.locator('dd[data-field="Farm"]')).to_have_text("Ābeles")
        shot(agent, "campaigns-02-agent-preview")

        # Presses call: the outgoing interaction is recorded in any case.
        agent.click("#btn-call")
        status = agent.locator("#call-status")
        # The demo server runs SIP with no outbound trunk and the agent has no phone
        # registered: telephony refuses clearly, and the call is still recorded.
        expect(status).to_have_attribute(
            "data-outcome", re.compile(r"^(no-outbound-route|call-failed|agent-unreachable)$"))
        expect(status).not_to_be_empty()
        shot(agent, "campaigns-03-agent-called")
        interaction_id = int(status.get_attribute("data-interaction") or "0")
        rows = server.sql(
            "SELECT direction, channel, caller, callee, agent_id, queue_id FROM interaction "
            "WHERE id = :id", id=interaction_id)
        assert rows == [("out", "voice", "+37160000000", "+37120000101", anna_id, queue_id)]
        events = server.sql("SELECT type, data FROM event_log WHERE interaction_id = :id",
                            id=interaction_id)
        assert [e[0] for e in events] == ["arrived"]
        data = events[0][1]
        data = json.loads(data) if isinstance(data, str) else data
        assert data["direction"] == "out" and data["campaign_id"] == campaign_id

        # Sets a result and sees the next contact.
        agent.select_option("#result_code", "INTERESTED")
        agent.fill("#comment", "Wants the application form by e-mail")
        agent.click('[data-action="save-result"]')
        expect(agent.locator("#contact-name")).to_have_text("Marta Lejiņa")
        shot(agent, "campaigns-04-agent-next")

        # The supervisor sees the progress: 1 of 4 closed, one INTERESTED.
        boss.goto(campaign_url)
        summary = boss.locator("#progress-summary")
        expect(summary).to_have_attribute("data-closed", "1")
        expect(summary).to_have_attribute("data-total", "4")
        expect(boss.locator('#progress-results tr[data-result="INTERESTED"] td').nth(1)
               ).to_have_text("1")
        expect(boss.locator('#contacts tr[data-state="done"]')).to_have_count(1)
        expect(boss.locator('#contacts tr[data-state="in_progress"]')).to_have_count(1)
        shot(boss, "campaigns-05-supervisor-progress")
    finally:
        boss_ctx.close()
        agent_ctx.close()


@pytest.mark.sip
@pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")
def test_campaign_call_through_a_busy_trunk_shows_busy_and_the_retry_is_counted(
        tmp_path: Path, browser: Any) -> None:
    """The call button dials for real: the agent's sipp phone rings, then the trunk (a sipp
    answering 486, checking the queue's caller id); the page says the number is busy; the
    agent saves BUSY (a retry code), so the contact waits for another call."""
    trunk = SippUas("features_uas_busy.xml", tmp_path / "trunk")
    agent_phone = SippUas("features_uas_agent.xml", tmp_path / "agent")
    (tmp_path / "zvans.toml").write_text(f'outbound_trunk = "sip:127.0.0.1:{trunk.port}"\n')
    srv = start_server(tmp_path, prepare=[
        f"UPDATE agent_profile SET ring_target = '{agent_phone.uri}' WHERE user_id = "
        "(SELECT id FROM user_account WHERE username = 'anna.berzina')"])
    queue_id = srv.sql("SELECT id FROM queue WHERE name = 'Latvian'")[0][0]
    anna_id = srv.sql("SELECT id FROM user_account WHERE username = 'anna.berzina'")[0][0]
    boss, token = api_login(srv.base_url, "supervisor", "super-demo-1")
    context = browser.new_context(locale="en-GB")
    try:
        # the supervisor prepares the campaign through the API: CSV, Anna, active
        r = boss.post("/api/v1/campaigns", json={"name": "Renewals", "queue_id": queue_id},
                      headers={"X-CSRF-Token": token})
        assert r.status_code == 201, r.text
        campaign_id = r.json()["id"]
        r = boss.post(f"/api/v1/campaigns/{campaign_id}/contacts",
                      files={"file": ("list.csv", CSV.encode(), "text/csv")},
                      headers={"X-CSRF-Token": token})
        assert r.status_code == 201 and r.json()["imported"] == 4, r.text
        for path, body in ((f"/api/v1/campaigns/{campaign_id}/assign", {"agent_ids": [anna_id]}),
                           (f"/api/v1/campaigns/{campaign_id}/state", {"state": "active"})):
            r = boss.post(path, json=body, headers={"X-CSRF-Token": token})
            assert r.status_code == 200, r.text

        agent = context.new_page()
        sign_in(agent, srv.base_url, "anna.berzina", "agent-demo-1")
        agent.goto(f"{srv.base_url}/campaigns/{campaign_id}/work")
        agent.click('[data-action="next"]')
        expect(agent.locator("#contact-phone")).to_have_text("+37120000101")
        agent.click("#btn-call")
        status = agent.locator("#call-status")
        # anna's page is in Latvian (her profile): "… ir aizņemts." = "… is busy."
        expect(status).to_have_attribute("data-outcome", "busy", timeout=60000)
        expect(status).to_have_text("+37120000101 ir aizņemts.")
        shot(agent, "campaigns-06-agent-busy")
        assert trunk.wait(60) == 0, trunk.errors()  # it checked the queue's caller id
        assert agent_phone.wait(60) == 0, agent_phone.errors()  # rung first, then BYE
        agent.select_option("#result_code", "BUSY")
        agent.click('[data-action="save-result"]')
        expect(agent.locator("#contact-name")).to_have_text("Marta Lejiņa")
        progress = boss.get(f"/api/v1/campaigns/{campaign_id}/progress").json()
    finally:
        boss.close()
        context.close()
        stop_server(srv)
        trunk.kill()
        agent_phone.kill()
    # BUSY is a retry code: nothing closed, the contact waits (one call made, one BUSY)
    assert (progress["total"], progress["closed"], progress["calls"]) == (4, 0, 1)
    assert progress["by_result"]["BUSY"] == 1
    assert (progress["by_state"]["pending"], progress["by_state"]["in_progress"]) == (3, 1)
    calls = srv.sql("SELECT direction, callee, outcome, answered_at FROM interaction")
    assert [tuple(c) for c in calls] == [("out", "+37120000101", "busy", None)]
    events = srv.sql("SELECT type FROM event_log WHERE interaction_id IS NOT NULL")
    assert [e[0] for e in events] == ["arrived"]
