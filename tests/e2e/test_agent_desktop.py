"""The acceptance walk-through: an agent signs in and goes ready, a (simulated) call is routed
to them, the client card pops with the caller's history, the agent saves a request with two
wrap-up codes, and a supervisor's wallboard in a second browser context shows the agent on
the call and then in wrap-up. Calls are driven from outside, like telephony would, through
`zvans call simulate` (the admin-only /api/v1/calls/simulate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, shot, sign_in

pytestmark = pytest.mark.browser

CALLER = "+37120000077"


def agent_row(page: Any, user_id: int) -> Any:
    return page.locator(f'#wb-agents tr[data-agent-id="{user_id}"]')


def test_agent_takes_a_call_with_card_request_and_wallboard(server: Server, browser: Any) -> None:
    anna_id = server.sql("SELECT id FROM user_account WHERE username = 'anna.berzina'")[0][0]
    agent_ctx = browser.new_context(locale="en-GB")
    super_ctx = browser.new_context(locale="en-GB")
    agent = agent_ctx.new_page()
    boss = super_ctx.new_page()
    try:
        # The agent signs in, switches the interface to English and logs in to the queues.
        sign_in(agent, server.base_url, "anna.berzina", "agent-demo-1")
        expect(agent).to_have_url(server.base_url + "/desktop")
        agent.goto(server.base_url + "/settings")
        agent.select_option("#language", "en")
        agent.click('form[action="/settings/language"] button[type=submit]')
        agent.goto(server.base_url + "/desktop")
        expect(agent.locator("#btn-login")).to_have_text("Log in to queues")
        expect(agent.locator("#live-status")).to_have_text("live")
        agent.click("#btn-login")
        expect(agent.locator("#agent-state")).to_have_attribute("data-availability", "ready")
        shot(agent, "01-agent-ready")

        # A supervisor opens the wallboard in a second browser context.
        sign_in(boss, server.base_url, "supervisor", "super-demo-1")
        boss.goto(server.base_url + "/supervisor/wallboard")
        expect(agent_row(boss, anna_id)).to_have_attribute("data-availability", "ready")

        # First call from the number: answered, a request saved, hung up, wrap-up finished.
        first = server.simulate_call("Latvian", CALLER, topic="payments")
        expect(agent.locator("#agent-state")).to_have_attribute("data-activity", "ringing")
        expect(agent.locator("#client-card")).to_be_visible()
        expect(agent.locator("#card-caller")).to_have_text(CALLER)
        expect(agent.locator("#card-calls-none")).to_be_visible()
        agent.click("#btn-answer")
        expect(agent.locator("#agent-state")).to_have_attribute("data-activity", "on_call")
        expect(agent_row(boss, anna_id)).to_have_attribute("data-activity", "on_call")
        shot(boss, "02-wallboard-on-call")
        agent.fill("#req-name", "Pēteris <b>Tests</b>")
        agent.fill("#wrapup-input", "area")
        agent.keyboard.press("Enter")
        agent.fill("#req-comment", "First call about area payments")
        agent.click("#req-save")
        expect(agent.locator("#req-saved")).to_be_visible()
        agent.click("#btn-hangup")
        expect(agent.locator("#agent-state")).to_have_attribute("data-activity", "wrap_up")
        agent.click("#btn-wrapup-done")
        expect(agent.locator("#agent-state")).to_have_attribute("data-activity", "idle")

        # Second call from the same number: the card shows the earlier call and request.
        second = server.simulate_call("Latvian", CALLER, topic="forest")
        assert second != first
        expect(agent.locator("#agent-state")).to_have_attribute("data-activity", "ringing")
        expect(agent.locator("#card-topic")).to_have_text("forest")
        calls = agent.locator("#card-calls tbody tr")
        expect(calls).to_have_count(1)
        expect(calls.first).to_contain_text("Latvian")
        expect(calls.first).to_contain_text("Anna Bērziņa")
        expect(agent.locator("#card-last-agent")).to_have_text("Anna Bērziņa")
        reqs = agent.locator("#card-requests tbody tr")
        expect(reqs).to_have_count(1)
        expect(reqs.first).to_contain_text("First call about area payments")
        expect(agent.locator("#card-name")).to_have_text("Pēteris <b>Tests</b>")
        expect(agent.locator("#req-phone")).to_have_value(CALLER)
        shot(agent, "03-client-card-with-history")
        agent.click("#btn-answer")
        expect(agent_row(boss, anna_id)).to_have_attribute("data-activity", "on_call")

        # The request: two wrap-up codes chosen by typing, saved with the call.
        agent.fill("#wrapup-input", "forest")
        agent.keyboard.press("Enter")
        agent.fill("#wrapup-input", "paym")
        expect(agent.locator("#wrapup-suggestions li").first).to_contain_text("Payment status")
        agent.keyboard.press("Enter")
        expect(agent.locator("#wrapup-chips .chip")).to_have_count(2)
        agent.fill("#req-comment", "<img src=x onerror=alert(1)> asked about forest payments")
        agent.click("#req-save")
        expect(agent.locator("#req-saved")).to_be_visible()
        shot(agent, "04-request-saved")
        agent.click("#btn-hangup")
        expect(agent.locator("#agent-state")).to_have_attribute("data-activity", "wrap_up")
        expect(agent_row(boss, anna_id)).to_have_attribute("data-activity", "wrap_up")
        shot(boss, "05-wallboard-wrap-up")

        # The saved request, in the register, with both codes in the configured order.
        rows = server.sql(
            "SELECT r.id, r.interaction_id, r.comment FROM request r "
            "WHERE r.interaction_id = :iid", iid=second)
        assert len(rows) == 1
        request_id = rows[0][0]
        codes = [c for (c,) in server.sql(
            "SELECT w.code FROM request_wrapup rw JOIN wrapup_code w ON w.id = rw.wrapup_code_id"
            " WHERE rw.request_id = :rid ORDER BY w.position", rid=request_id)]
        assert codes == ["FOREST", "PAYMENT"]
        agent.goto(server.base_url + f"/requests/{request_id}")
        expect(agent.locator("#view-codes .pill")).to_have_count(2)
        # HTML typed by the agent is shown as text, never run.
        expect(agent.locator("#view-comment")).to_have_text(
            "<img src=x onerror=alert(1)> asked about forest payments")
        assert agent.locator("#view-comment img").count() == 0
        shot(agent, "06-request-page")
    finally:
        agent_ctx.close()
        super_ctx.close()


def test_bad_input_on_the_desktop_is_shown_next_to_the_field(server: Server, browser: Any
                                                             ) -> None:
    before = server.sql("SELECT count(*) FROM request")[0][0]
    ctx = browser.new_context(locale="lv-LV")
    page = ctx.new_page()
    try:
        sign_in(page, server.base_url, "edgars.liepa", "agent-demo-1")
        expect(page).to_have_url(server.base_url + "/desktop")
        # The interface is in Latvian (the user's language).
        expect(page.locator("#btn-login")).to_have_text("Pieslēgties rindām")
        page.click("#req-save")
        expect(page.locator('[data-error-for="phone"]')).to_have_text(
            "Tālruņa numurs ir obligāts.")
        expect(page.locator('[data-error-for="name"]')).to_have_text("Vārds ir obligāts.")
        expect(page.locator("#req-phone")).to_have_attribute("aria-invalid", "true")
        page.fill("#req-phone", "call me")
        page.fill("#req-name", "Anita")
        page.click("#req-save")
        expect(page.locator('[data-error-for="phone"]')).to_have_text(
            "Tālruņa numurā drīkst būt tikai cipari un + sākumā.")
        expect(page.locator('[data-error-for="name"]')).to_be_hidden()
        shot(page, "07-desktop-field-errors")
        assert server.sql("SELECT count(*) FROM request")[0][0] == before
        # The ring target: a bad value is refused next to the field, a number is saved.
        page.fill("#ring-target", "my mobile")
        page.click("#ring-form button[type=submit]")
        expect(page.locator("#err-ring_target")).to_be_visible()
        page.fill("#ring-target", "+371 2612 3456")
        page.click("#ring-form button[type=submit]")
        expect(page.locator("#err-ring_target")).to_be_hidden()
        expect(page.locator("#ring-saved")).to_have_text("Saglabāts.")
        assert server.sql("SELECT a.ring_target FROM agent_profile a JOIN user_account u "
                          "ON u.id = a.user_id WHERE u.username = 'edgars.liepa'")[0][0] \
            == "+37126123456"
        # Pause with a reason from the organisation's list, then ready, then leave.
        page.click("#btn-login")
        expect(page.locator("#agent-state")).to_have_attribute("data-availability", "ready")
        page.select_option("#pause-reason", "lunch")
        page.click("#btn-pause")
        expect(page.locator("#agent-state")).to_have_attribute("data-availability", "paused")
        expect(page.locator("#agent-state")).to_contain_text("Pusdienas")
        page.click("#btn-ready")
        expect(page.locator("#agent-state")).to_have_attribute("data-availability", "ready")
        page.click("#btn-leave")
        expect(page.locator("#agent-state")).to_have_attribute("data-availability",
                                                               "logged_out")
        expect(page.locator("#btn-login")).to_be_visible()
    finally:
        ctx.close()


def test_requests_register_filters_searches_resets_and_exports(server: Server, browser: Any
                                                                ) -> None:
    ctx = browser.new_context(locale="lv-LV", accept_downloads=True)
    page = ctx.new_page()
    try:
        sign_in(page, server.base_url, "karlis.egle", "agent-demo-1")
        for phone, name, topic, comment in (
                ("+37120001001", "Ieva Meža", "Meža", "par meža projektu"),
                ("+37120001002", "Oskars Lauks", "Tehn", "nevar ielogoties")):
            page.fill("#req-phone", phone)
            page.fill("#req-name", name)
            page.fill("#wrapup-input", topic)
            page.keyboard.press("Enter")
            page.fill("#req-comment", comment)
            page.click("#req-save")
            expect(page.locator("#req-saved")).to_be_visible()
        page.click('nav a[data-nav="requests"]')
        karlis = server.sql("SELECT id FROM user_account WHERE username = 'karlis.egle'")[0][0]
        page.select_option("#f-agent", str(karlis))
        page.click("#request-filters button[type=submit]")
        expect(page.locator("#requests-table tbody tr")).to_have_count(2)
        page.fill("#f-q", "ielogoties")
        page.click("#request-filters button[type=submit]")
        rows = page.locator("#requests-table tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Oskars Lauks")
        expect(rows.first).to_contain_text("Tehniskas problēmas")
        shot(page, "08-requests-register")
        with page.expect_download() as info:
            page.click("#export-csv")
        text = Path(info.value.path()).read_text(encoding="utf-8-sig")
        assert "Oskars Lauks" in text and "Ieva Meža" not in text
        page.fill("#f-from", "2026-02-02")
        page.fill("#f-to", "2026-02-01")
        page.click("#request-filters button[type=submit]")
        expect(page.locator('[data-error-for="date_to"]')).to_have_text(
            "Beigu datums ir pirms sākuma datuma.")
        page.click("#filters-reset")
        expect(page.locator("#f-q")).to_have_value("")
        expect(page.locator("#f-agent")).to_have_value("")
        # Back on the desktop, the state bar's own "Log out" ends the session.
        page.click('nav a[data-nav="desktop"]')
        page.click("#btn-signout")
        expect(page).to_have_url(server.base_url + "/login")
    finally:
        ctx.close()
