"""Click-to-call from the agent desktop in Chromium, through a real `zvans serve`: a bad
number gets the field's error in the agent's language; a good one rings the agent's sipp
phone (``ring_target``), then goes out through the trunk set in ``zvans.toml`` (a sipp that
asks for digest auth, with the customer behind it); the desktop shows the call ringing,
connected, and ended with its talk time; the call is an outgoing interaction."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import shot, sign_in, start_server, stop_server
from tests.integration.telephony.support import SippUas, digest_ok, have_peers, uri_user

pytestmark = [pytest.mark.browser, pytest.mark.sip,
              pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")]

NUMBER = "+37129000066"


def test_agent_calls_a_customer_from_the_desktop(tmp_path: Path, browser: Any) -> None:
    customer = SippUas("trunk_uas_auth.xml", tmp_path / "customer")
    agent_phone = SippUas("features_uas_agent.xml", tmp_path / "agent")
    (tmp_path / "zvans.toml").write_text(
        f'outbound_trunk = "sip:zvans-out:trunk-pw-7@127.0.0.1:{customer.port}"\n')
    server = start_server(tmp_path, prepare=[
        f"UPDATE agent_profile SET ring_target = '{agent_phone.uri}' WHERE user_id = "
        "(SELECT id FROM user_account WHERE username = 'anna.berzina')"])
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, server.base_url, "anna.berzina", "agent-demo-1")
        page.goto(server.base_url + "/desktop")
        expect(page.locator("#ctc-queue option")).to_have_count(3)
        page.fill("#ctc-number", "12ab")
        page.click("#ctc-call")
        expect(page.locator("#ctc-error")).to_be_visible()
        expect(page.locator("#ctc-error")).to_contain_text("tikai cipari")  # digits only
        assert server.sql("SELECT count(*) FROM interaction")[0][0] == 0
        page.fill("#ctc-number", NUMBER)
        page.select_option("#ctc-queue", label="Angļu (+37160000000)")
        page.click("#ctc-call")
        status = page.locator("#ctc-status")
        expect(status).to_contain_text(f"Zvana uz {NUMBER}")
        expect(page.locator("#ctc-error")).to_be_hidden()
        # the agent's sipp answers, the customer answers: the desktop shows it connected
        expect(status).to_have_attribute("data-state", "connected", timeout=30000)
        expect(status).to_have_text(f"Savienots ar {NUMBER}.")
        shot(page, "click-to-call")
        assert agent_phone.wait(60) == 0, agent_phone.errors()
        assert customer.wait(60) == 0, customer.errors()
        # the customer hung up after 6 s: ended, with the talk time (m:ss)
        expect(status).to_have_attribute("data-state", "ended", timeout=30000)
        expect(status).to_have_attribute("data-outcome", "answered")
        ended = re.compile(rf"^Saruna ar {re.escape(NUMBER)} beidzās \((\d+):(\d\d)\)\.$")
        expect(status).to_have_text(ended)
        talk = ended.match(status.inner_text())
        assert talk is not None and int(talk[1]) * 60 + int(talk[2]) >= 5
        shot(page, "click-to-call-ended")
        rows: list[Any] = []
        for _ in range(100):  # the completed event is written as the BYEs finish
            rows = server.sql("SELECT type, data FROM event_log WHERE interaction_id IS NOT "
                              "NULL ORDER BY id")
            if any(r[0] == "completed" for r in rows):
                break
            page.wait_for_timeout(100)
    finally:
        context.close()
        stop_server(server)
        customer.kill()
        agent_phone.kill()
    assert [r[0] for r in rows] == ["arrived", "answered", "completed"]
    call = server.sql("SELECT direction, callee, outcome FROM interaction")
    assert [tuple(r) for r in call] == [("out", NUMBER, "answered")]
    # what the trunk got: challenged, then the digest answer with the queue's number
    _challenged, second = customer.received("INVITE")
    assert digest_ok(second.header("Proxy-Authorization") or "", "INVITE", "trunk-pw-7")
    assert second.request_uri == f"sip:{NUMBER}@127.0.0.1:{customer.port}"
    assert uri_user(second.header("From")) == "+37160000000"
    assert uri_user(second.header("P-Asserted-Identity")) == "+37160000000"
