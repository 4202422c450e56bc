"""The desktop's call controls and the wallboard's listen button in Chromium, on a real call:
`zvans serve` with SIP, a sipp caller through the demo IVR, anna's baresip phone."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, shot, sign_in, start_server, stop_server
from tests.integration.telephony.support import Sipp, have_peers, start_phone
from zvans import demo

pytestmark = [pytest.mark.browser, pytest.mark.sip,
              pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")]


@pytest.fixture(scope="module")
def sip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    tmp = tmp_path_factory.mktemp("e2e-controls")
    md5, sha = demo.sip_ha1("supervisor", "zvans.local", demo.AGENT_PASSWORD)
    srv = start_server(tmp, prepare=[  # the supervisor gets a SIP account (no phone yet)
        f"UPDATE agent_profile SET sip_username = 'supervisor', sip_ha1_md5 = '{md5}', "
        f"sip_ha1_sha256 = '{sha}' WHERE user_id = (SELECT id FROM user_account "
        "WHERE username = 'supervisor')"])
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            found = re.search(r"SIP listening on \(?'?127\.0\.0\.1'?[,:] ?(\d+)", srv.log())
            if found:
                port = int(found.group(1))
            elif time.monotonic() > deadline:
                raise AssertionError(f"no SIP port in the server log:\n{srv.log()}")
            else:
                time.sleep(0.1)
        yield srv, port
    finally:
        stop_server(srv)


def test_hold_resume_bad_transfer_and_hang_up_from_the_desktop(
        sip_server: tuple[Server, int], browser: Any, tmp_path: Path) -> None:
    server, sip_port = sip_server
    anna_id = server.sql("SELECT id FROM user_account WHERE username = 'anna.berzina'")[0][0]
    phone = start_phone(tmp_path / "anna", "anna.berzina", demo.AGENT_PASSWORD, sip_port,
                        lambda p: "200 OK" in p.output())
    agent_ctx = browser.new_context(locale="en-GB")
    boss_ctx = browser.new_context(locale="en-GB")
    caller = None
    try:
        agent = agent_ctx.new_page()
        sign_in(agent, server.base_url, "anna.berzina", demo.AGENT_PASSWORD)
        agent.goto(server.base_url + "/settings")
        agent.select_option("#language", "en")
        agent.click('form[action="/settings/language"] button[type=submit]')
        agent.goto(server.base_url + "/desktop")
        expect(agent.locator("#live-status")).to_have_text("live")
        agent.click("#btn-login")
        expect(agent.locator("#agent-state")).to_have_attribute("data-availability", "ready")

        caller = Sipp("b2bua_caller.xml", demo.IVR_DID, sip_port, tmp_path / "caller",
                      pause_ms=40000)
        expect(agent.locator("#agent-state")).to_have_attribute("data-activity", "on_call",
                                                                timeout=30000)
        iid = server.sql("SELECT interaction_id FROM event_log WHERE type = 'answered'")[0][0]

        agent.click("#btn-hold")
        expect(agent.locator("#call-error")).to_be_hidden()
        _wait(lambda: server.sql("SELECT count(*) FROM event_log WHERE type = 'held'")[0][0])
        agent.click("#btn-resume")
        _wait(lambda: server.sql("SELECT count(*) FROM event_log WHERE type = 'resumed'")[0][0])

        agent.fill("#call-target", "agent:99999")
        agent.click("#btn-transfer")
        expect(agent.locator("#call-error")).to_be_visible()
        expect(agent.locator("#call-error")).to_contain_text("99999")
        shot(agent, "controls-01-bad-transfer")
        expect(agent.locator("#agent-state")).to_have_attribute("data-activity", "on_call")

        # the supervisor's Listen button: no phone registered yet, a clear error
        boss = boss_ctx.new_page()
        sign_in(boss, server.base_url, "supervisor", "super-demo-1")
        boss.goto(server.base_url + "/supervisor/wallboard")
        row = boss.locator(f'#wb-agents tr[data-agent-id="{anna_id}"]')
        expect(row).to_have_attribute("data-activity", "on_call")
        row.locator('[data-action="monitor-listen"]').click()
        expect(row.locator(".field-error")).to_be_visible()
        expect(row.locator(".field-error")).to_contain_text("phone")
        shot(boss, "controls-02-listen-without-phone")

        agent.click("#btn-hangup")
        expect(agent.locator("#agent-state")).not_to_have_attribute("data-activity", "on_call",
                                                                    timeout=15000)
        types = [r[0] for r in server.sql(
            "SELECT type FROM event_log WHERE interaction_id = :i ORDER BY id", i=iid)]
        assert types.count("held") == 1 and types.count("resumed") == 1
        assert "transferred" not in types
        _wait(lambda: "completed" in [r[0] for r in server.sql(
            "SELECT type FROM event_log WHERE interaction_id = :i", i=iid)])
    finally:
        if caller is not None:
            caller.kill()
        phone.stop()
        agent_ctx.close()
        boss_ctx.close()


def _wait(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_supervisor_listens_from_the_wallboard(sip_server: tuple[Server, int], browser: Any,
                                               tmp_path: Path) -> None:
    server, sip_port = sip_server
    anna_id = server.sql("SELECT id FROM user_account WHERE username = 'anna.berzina'")[0][0]
    sup_id = server.sql("SELECT id FROM user_account WHERE username = 'supervisor'")[0][0]
    phones = [start_phone(tmp_path / user, user, demo.AGENT_PASSWORD, sip_port,
                          lambda p: "200 OK" in p.output())
              for user in ("anna.berzina", "supervisor")]
    ctx = browser.new_context(locale="en-GB")
    caller = None
    try:
        agent = ctx.new_page()
        sign_in(agent, server.base_url, "anna.berzina", demo.AGENT_PASSWORD)
        agent.goto(server.base_url + "/desktop")
        expect(agent.locator("#live-status")).not_to_have_text("…")
        state = agent.locator("#agent-state")
        if state.get_attribute("data-availability") != "ready":
            agent.click("#btn-login")
            expect(state).to_have_attribute("data-availability", "ready")
        before = server.sql("SELECT count(*) FROM event_log WHERE type = 'answered'")[0][0]
        caller = Sipp("b2bua_caller.xml", demo.IVR_DID, sip_port, tmp_path / "caller",
                      pause_ms=40000)
        _wait(lambda: server.sql("SELECT count(*) FROM event_log WHERE type = 'answered'")
              [0][0] > before, 40)
        boss_ctx = browser.new_context(locale="en-GB")
        boss = boss_ctx.new_page()
        sign_in(boss, server.base_url, "supervisor", "super-demo-1")
        boss.goto(server.base_url + "/supervisor/wallboard")
        row = boss.locator(f'#wb-agents tr[data-agent-id="{anna_id}"]')
        expect(row).to_have_attribute("data-activity", "on_call")
        row.locator('[data-action="monitor-listen"]').click()
        _wait(lambda: server.sql("SELECT action FROM audit_entry WHERE user_id = :u "
                                 "AND action = 'call.listen'", u=sup_id))
        expect(row.locator(".field-error")).to_be_hidden()
        row.locator('[data-action="monitor-whisper"]').click()
        _wait(lambda: server.sql("SELECT action FROM audit_entry WHERE user_id = :u "
                                 "AND action = 'call.whisper'", u=sup_id))
        shot(boss, "controls-03-listening")
        target = server.sql("SELECT target FROM audit_entry WHERE action = 'call.listen'")
        assert target[0][0].startswith("interaction:")
        boss_ctx.close()
    finally:
        if caller is not None:
            caller.kill()
        for phone in phones:
            phone.stop()
        ctx.close()
