"""The supervisor's live pages in a real browser against a real `zvans serve`: the wallboard
follows an agent's state changes (driven through the agent's API, as their desktop would)
without a page reload, time in state ticks in the browser, the supervisor pauses and logs
the agent out with the buttons (audited), and the monitoring log shows events as they come."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, shot, sign_in
from tests.e2e.test_admin import ApiUser, one

pytestmark = pytest.mark.browser


def test_wallboard_updates_live_and_supervisor_changes_agent_state(
        server: Server, browser: Any) -> None:
    liga = one(server, "SELECT id FROM user_account WHERE username = 'liga.kalnina'")
    agent = ApiUser(server, "liga.kalnina", "agent-demo-1")
    ctx = browser.new_context(locale="en-GB")
    page = ctx.new_page()
    try:
        sign_in(page, server.base_url, "supervisor", "super-demo-1")
        page.goto(server.base_url + "/settings")
        page.select_option("#language", "en")
        page.click('form[action="/settings/language"] button[type=submit]')
        page.goto(server.base_url + "/supervisor/wallboard")
        expect(page.locator("#wb-status")).to_have_attribute("data-status", "open")
        page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
        row = page.locator(f'#wb-agents tr[data-agent-id="{liga}"]')
        expect(row).to_have_attribute("data-availability", "logged_out")

        agent.call("POST", "/api/v1/agents/me/login")
        expect(row).to_have_attribute("data-availability", "ready")
        expect(row.locator(".state")).to_contain_text("Ready")
        expect(row.locator(".queues")).to_contain_text("Latvian (1)")
        last_event = page.locator("#wallboard").get_attribute("data-last-event-id")

        assert agent.call("POST", "/api/v1/agents/me/pause",
                          {"reason": "lunch"}).status_code == 200
        expect(row).to_have_attribute("data-availability", "paused")
        expect(row.locator(".reason")).to_have_text("Lunch")
        expect(page.locator("#wallboard")).not_to_have_attribute("data-last-event-id",
                                                                 last_event or "")
        # time in state ticks in the browser (no server round trip needed)
        since = row.locator(".since")
        first = since.inner_text()
        expect(since).not_to_have_text(first)
        shot(page, "supervisor-01-wallboard-paused")

        # a waiting caller shows on the queue row
        agent.call("POST", "/api/v1/agents/me/ready")
        expect(row).to_have_attribute("data-availability", "ready")
        call_id = server.simulate_call("Latvian", "+37120009999")
        expect(row).to_have_attribute("data-activity", "ringing")
        latvian = one(server, "SELECT id FROM queue WHERE name = 'Latvian'")
        assert agent.call("POST", f"/api/v1/calls/{call_id}/answer").status_code == 200
        expect(row).to_have_attribute("data-activity", "on_call")
        expect(page.locator('#wb-totals [data-total="on_call"]')).to_have_text("1")
        qrow = page.locator(f'#wb-queues tr[data-queue-id="{latvian}"]')
        expect(qrow.locator(".answered")).to_have_text("1")
        assert agent.call("POST", f"/api/v1/calls/{call_id}/hangup").status_code == 200
        expect(row).not_to_have_attribute("data-activity", "on_call")
        agent.call("POST", "/api/v1/agents/me/wrapup-done")
        expect(row.locator(".calls")).to_have_text("1")

        # the supervisor pauses her with a reason, then logs her out (buttons, no reload)
        row.locator('select[data-role="reason"]').select_option("training")
        row.locator('[data-action="force-pause"]').click()
        expect(row).to_have_attribute("data-availability", "paused")
        expect(row.locator(".reason")).to_have_text("Training")
        assert agent.call("GET", "/api/v1/agents/me").json()["pause_reason"] == "training"
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator('[data-action="force-logout"]').click()
        expect(row).to_have_attribute("data-availability", "logged_out")
        expect(row.locator('[data-action="force-pause"]')).to_be_hidden()
        shot(page, "supervisor-02-wallboard-logged-out")
        assert page.evaluate("window.__sameDocument") is True
        audited = server.sql("SELECT action, target FROM audit_entry WHERE action LIKE "
                             "'agent.%' ORDER BY id")
        assert [tuple(r) for r in audited] == [("agent.force_pause", f"user:{liga}"),
                                               ("agent.force_logout", f"user:{liga}")]
    finally:
        agent.close()
        ctx.close()


def test_monitoring_log_shows_new_events_live_with_filters(server: Server, browser: Any) -> None:
    karlis = one(server, "SELECT id FROM user_account WHERE username = 'karlis.egle'")
    agent = ApiUser(server, "karlis.egle", "agent-demo-1")
    ctx = browser.new_context(locale="en-GB")
    page = ctx.new_page()
    everything = ctx.new_page()
    try:
        sign_in(page, server.base_url, "supervisor", "super-demo-1")
        page.goto(server.base_url + f"/supervisor/log?type=agent_paused&agent={karlis}")
        everything.goto(server.base_url + "/supervisor/log")
        for p in (page, everything):
            expect(p.locator("#wb-status")).to_have_attribute("data-status", "open")
        before = page.locator("#event-log tbody tr").count()
        agent.call("POST", "/api/v1/agents/me/login")
        agent.call("POST", "/api/v1/agents/me/pause", {"reason": "card"})
        top = page.locator("#event-log tbody tr").first
        expect(top).to_have_attribute("data-type", "agent_paused")
        expect(top).to_contain_text("Kārlis Egle")
        expect(top).to_contain_text("card")
        # the filtered page shows only the paused event, the unfiltered one both
        assert page.locator("#event-log tbody tr").count() == before + 1
        expect(everything.locator('#event-log tbody tr[data-type="agent_login"]').first) \
            .to_contain_text("Kārlis Egle")
        expect(everything.locator("#event-log tbody tr").first) \
            .to_have_attribute("data-type", "agent_paused")
        shot(everything, "supervisor-03-monitoring-log")
    finally:
        agent.call("POST", "/api/v1/agents/me/logout")
        agent.close()
        ctx.close()
