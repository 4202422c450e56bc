"""Calls Zvans places through a real outbound trunk: click-to-call and the campaigns' call
button, against sipp peers on 127.0.0.1.

The trunk (the operator, with the customer behind it) is a sipp UAS; the agent's phone is
another (the agent's ``ring_target``). Every message both receive is traced, so the tests
read what Zvans really sent: the agent's INVITE (rung first, showing the customer's
number), the trunk's INVITEs (challenged with digest auth, then the request-URI with the
customer's number, From and P-Asserted-Identity with the queue's number, a correct digest
credential), RTP counted both ways on both legs, the BYE that ends both legs. Then the
event log, the interaction, the outgoing-calls report and the campaign's progress, with
figures worked out by hand. The service runs in-process (``support.Service``) on the demo
data, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.telephony.support import (
    WWW_AUTH,
    Service,
    SippUas,
    digest_ok,
    event_types,
    events,
    have_peers,
    scenario_variant,
    start_phone,
    uri_user,
    wait_until,
)
from tests.integration.telephony.test_features import (
    CALLER_ID,
    _login,
    interaction,
    outbound_done,
    queue_id,
    ring_at,
)
from zvans import demo
from zvans.app import Zvans, build
from zvans.config import Settings
from zvans.reports import ReportParams, run_report
from zvans.store import migrate
from zvans.store.models import CampaignContact, Interaction, Organisation
from zvans.telephony.sip import TrunkConfig

pytestmark = [pytest.mark.sip,
              pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")]

NUMBER = "+37129000077"
TRUNK_USER = "zvans-out"
TRUNK_PASSWORD = "trunk-pw-7"
CSRF = "X-CSRF-Token"


@pytest.fixture
def z(db_url: str, tmp_path: Path) -> Iterator[Zvans]:
    settings = Settings(database_url=db_url, data_dir=tmp_path / "var", secret_key="test",
                        sip_port=0, rtp_port_min=32000, rtp_port_max=39999)
    migrate.upgrade(settings.database_url)
    zv = build(settings)
    with zv.sessions.begin() as session:
        demo.load_demo(session, settings.sip_domain)
    yield zv
    zv.close()


def trunk_to(uas: SippUas, *, auth: bool) -> TrunkConfig:
    return TrunkConfig(name="operator", host="127.0.0.1", port=uas.port,
                       username=TRUNK_USER if auth else None,
                       password=TRUNK_PASSWORD if auth else None)


def outgoing_report(z: Zvans) -> dict[str, Any]:
    """The outgoing-calls report's total row, over the days around now."""
    with z.sessions() as session:
        org = session.scalar(select(Organisation).where(Organisation.slug == demo.DEMO_ORG))
        assert org is not None
        today = datetime.now(ZoneInfo(org.timezone)).date()
        report = run_report(session, org.id, "outgoing",
                            ReportParams(today - timedelta(days=1), today + timedelta(days=1)),
                            now=datetime.now(ZoneInfo("UTC")))
    table = report.tables[0]
    assert table.total is not None
    return dict(table.total)


def assert_nothing_left(service: Service) -> None:
    """No outbound call, media leg or SIP dialog outlives the call."""
    b2bua = service.telephony.b2bua
    out = service.z.services["telephony"]
    wait_until(lambda: not out.calls and not b2bua.media.legs and not b2bua.stack._dialogs,
               "the call's legs and dialogs to be released", 30)


def test_click_to_call_through_a_trunk_that_asks_for_digest_auth(z: Zvans,
                                                                 tmp_path: Path) -> None:
    trunk = SippUas("trunk_uas_auth.xml", tmp_path / "trunk")
    agent_phone = SippUas("features_uas_agent.xml", tmp_path / "agent")
    anna = ring_at(z, "anna.berzina", agent_phone.uri)
    english = queue_id(z, "English")
    service = Service(z, trunk=trunk_to(trunk, auth=True))
    client = TestClient(create_app(z), base_url="http://127.0.0.1")
    admin = TestClient(create_app(z), base_url="http://127.0.0.1")
    try:
        # toll fraud: no call without a signed-in user who takes calls, or with a bad number
        for forged in ({}, {CSRF: "forged"}):  # nobody signed in: no session, no token
            anonymous = client.post("/api/v1/calls/click-to-call",
                                    json={"number": NUMBER, "queue": english}, headers=forged)
            assert anonymous.status_code == 403, anonymous.text
            assert anonymous.json()["error"]["code"] == "csrf-failed"
        assert client.get("/api/v1/calls/click-to-call/queues").status_code == 401
        admin_token = _login(admin, "admin", demo.ADMIN[1])
        r = admin.post("/api/v1/calls/click-to-call", json={"number": NUMBER, "queue": english},
                       headers={CSRF: admin_token})
        assert r.status_code == 403, r.text
        token = _login(client, "anna.berzina", demo.AGENT_PASSWORD)
        for bad in ("+371 2900 007x", "1234567890123456", "*100#"):
            r = client.post("/api/v1/calls/click-to-call", json={"number": bad, "queue": english},
                            headers={CSRF: token})
            assert r.status_code == 422, r.text
            assert r.json()["error"]["details"]["field"] == "number"
        with z.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Interaction)) == 0
        assert service.telephony.b2bua.stack.stats["invites_sent"] == 0  # nothing dialled

        r = client.post("/api/v1/calls/click-to-call",
                        json={"number": "+371 2900 0077", "queue": english},
                        headers={CSRF: token})
        assert r.status_code == 202, r.text
        assert r.json()["caller_id"] == CALLER_ID and r.json()["number"] == NUMBER
        iid = r.json()["interaction_id"]
        url = f"/api/v1/calls/click-to-call/{iid}"
        wait_until(lambda: client.get(url).json()["state"] == "connected",
                   "the desktop to see the call connected", 30)
        assert agent_phone.wait() == 0, agent_phone.errors()
        assert trunk.wait() == 0, trunk.errors()
        record = outbound_done(service, iid)
        assert_nothing_left(service)
        progress = client.get(url).json()
    finally:
        client.close()
        admin.close()
        agent_phone.kill()
        trunk.kill()
        service.stop()

    # the agent's phone rang first, showing the customer's number
    [to_agent] = agent_phone.received("INVITE")
    assert uri_user(to_agent.header("From")) == NUMBER
    assert NUMBER in (to_agent.header("From") or "")
    assert to_agent.header("X-Zvans-Interaction") == str(iid)
    # then the trunk: challenged once, asked again with a good digest credential
    first, second = trunk.received("INVITE")
    assert first.header("Proxy-Authorization") is None
    credential = second.header("Proxy-Authorization") or ""
    assert f'username="{TRUNK_USER}"' in credential and 'realm="trunk.test"' in credential
    assert digest_ok(credential, "INVITE", TRUNK_PASSWORD)
    assert not digest_ok(credential, "INVITE", "another-password")
    for invite in (first, second):
        assert invite.request_uri == f"sip:{NUMBER}@127.0.0.1:{trunk.port}"
        assert uri_user(invite.header("From")) == CALLER_ID
        assert uri_user(invite.header("P-Asserted-Identity")) == CALLER_ID
    # audio both ways on both legs; the customer's BYE ended the agent's leg too
    assert record["result"] == "answered"
    for leg in ("agent_leg", "customer_leg"):
        assert record["legs"][leg]["rx_packets"] > 50, record["legs"]
        assert record["legs"][leg]["tx_packets"] > 50, record["legs"]
    assert len(agent_phone.received("BYE")) == 1
    assert trunk.received("BYE") == []  # the customer hung up: Zvans did not BYE them

    row = interaction(z, iid)
    assert (row.direction, row.caller, row.callee, row.agent_id, row.queue_id,
            row.outcome) == ("out", CALLER_ID, NUMBER, anna, english, "answered")
    evs = events(z, iid)
    assert [e.type for e in evs] == ["arrived", "answered", "completed"]
    assert all(e.data["direction"] == "out" and e.agent_id == anna for e in evs)
    talk_s = float(evs[-1].data["talk_s"])
    assert talk_s >= 5.0  # the customer hangs up 6 s after answering
    assert (progress["state"], progress["outcome"]) == ("ended", "answered")
    assert progress["talk_s"] == pytest.approx(talk_s, abs=0.2)  # the same call, two clocks
    # one call placed, answered, its talk time: what the outgoing-calls report shows
    total = outgoing_report(z)
    assert (total["out_calls"], total["out_answered"]) == (1, 1)
    assert total["out_talk_s"] == pytest.approx(talk_s, abs=0.001)
    assert total["avg_out_talk_s"] == pytest.approx(talk_s, abs=0.001)


@pytest.mark.parametrize(("scenario", "agent_scenario", "outcome"), [
    ("features_uas_busy.xml", "features_uas_agent.xml", "busy"),
    ("trunk_uas_noanswer.xml", "features_uas_agent.xml", "no-answer"),
    # the agent gives up (BYE 1.5 s after answering) while the customer's phone rings
    ("trunk_uas_noanswer.xml", "features_uas_agent_bye.xml", "agent-hung-up"),
])
def test_customer_busy_or_not_answering_ends_the_agent_leg(
        z: Zvans, tmp_path: Path, scenario: str, agent_scenario: str, outcome: str) -> None:
    trunk = SippUas(scenario, tmp_path / "trunk")
    agent_phone = SippUas(agent_scenario, tmp_path / "agent", pause_ms=1500)
    anna = ring_at(z, "anna.berzina", agent_phone.uri)
    service = Service(z, trunk=trunk_to(trunk, auth=False))
    if outcome == "no-answer":
        z.services["telephony"].customer_ring_s = 3.0  # our no-answer timeout, shortened
    client = TestClient(create_app(z), base_url="http://127.0.0.1")
    other = TestClient(create_app(z), base_url="http://127.0.0.1")
    try:
        token = _login(client, "anna.berzina", demo.AGENT_PASSWORD)
        r = client.post("/api/v1/calls/click-to-call",
                        json={"number": NUMBER, "queue": queue_id(z, "Latvian")},
                        headers={CSRF: token})
        assert r.status_code == 202, r.text
        iid = r.json()["interaction_id"]
        url = f"/api/v1/calls/click-to-call/{iid}"
        # the desktop follows the call: first the agent's phone rings
        seen = {client.get(url).json()["state"]}
        assert seen <= {"dialing", "ringing-agent", "ringing-customer"}, seen
        assert trunk.wait() == 0, trunk.errors()
        assert agent_phone.wait() == 0, agent_phone.errors()  # rung, answered, then BYE
        record = outbound_done(service, iid)
        assert_nothing_left(service)
        progress = client.get(url).json()
        # another agent does not see Anna's call
        _login(other, "martins.ozols", demo.AGENT_PASSWORD)
        assert other.get(url).status_code == 404
    finally:
        client.close()
        other.close()
        agent_phone.kill()
        trunk.kill()
        service.stop()
    assert progress == {"interaction_id": iid, "number": NUMBER, "state": "ended",
                        "outcome": outcome, "talk_s": None}
    assert record["result"] == outcome
    # the agent's leg ended with a BYE: Zvans's, or the agent's own
    assert len(agent_phone.received("BYE")) == (0 if outcome == "agent-hung-up" else 1)
    [invite] = trunk.received("INVITE")
    assert uri_user(invite.header("From")) == CALLER_ID
    if outcome != "busy":  # the ringing customer's call was cancelled
        assert len(trunk.received("CANCEL")) == 1
    row = interaction(z, iid)
    assert (row.outcome, row.answered_at, row.agent_id) == (outcome, None, anna)
    assert row.ended_at is not None
    assert event_types(z, iid) == ["arrived"]  # placed, never answered
    total = outgoing_report(z)
    assert (total["out_calls"], total["out_answered"], total["out_talk_s"]) == (1, 0, 0.0)


CSV = ("\ufeffphone;name;plan\n"
       "+371 2900 0101;Customer One;basic\n"
       "0037129000102;Customer Two;gold\n").encode()


def test_campaign_preview_dialing_through_the_trunk(z: Zvans, tmp_path: Path) -> None:
    trunk = SippUas(scenario_variant("trunk_uas_auth.xml", tmp_path, WWW_AUTH),
                    tmp_path / "trunk")
    # the agent hangs up first this time, 3 s after answering
    agent_phone = SippUas("features_uas_agent_bye.xml", tmp_path / "agent", pause_ms=3000)
    anna = ring_at(z, "anna.berzina", agent_phone.uri)
    latvian = queue_id(z, "Latvian")
    service = Service(z, trunk=trunk_to(trunk, auth=True))
    boss = TestClient(create_app(z), base_url="http://127.0.0.1")
    agent = TestClient(create_app(z), base_url="http://127.0.0.1")
    try:
        boss_token = _login(boss, *demo.SUPERVISOR)
        r = boss.post("/api/v1/campaigns", json={"name": "Renewals", "queue_id": latvian},
                      headers={CSRF: boss_token})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        r = boss.post(f"/api/v1/campaigns/{cid}/contacts", headers={CSRF: boss_token},
                      files={"file": ("renewals.csv", CSV, "text/csv")})
        assert r.status_code == 201, r.text
        assert r.json()["imported"] == 2
        r = boss.post(f"/api/v1/campaigns/{cid}/assign", json={"agent_ids": [anna]},
                      headers={CSRF: boss_token})
        assert r.status_code == 200, r.text
        r = boss.post(f"/api/v1/campaigns/{cid}/state", json={"state": "active"},
                      headers={CSRF: boss_token})
        assert r.status_code == 200, r.text

        token = _login(agent, "anna.berzina", demo.AGENT_PASSWORD)
        contact = agent.post(f"/api/v1/campaigns/{cid}/next",
                             headers={CSRF: token}).json()["contact"]
        assert contact["phone"] == "+37129000101"
        r = agent.post(f"/api/v1/campaign-contacts/{contact['id']}/call", headers={CSRF: token})
        assert r.status_code == 200, r.text
        iid = r.json()["interaction_id"]
        assert agent_phone.wait() == 0, agent_phone.errors()
        assert trunk.wait() == 0, trunk.errors()
        record = outbound_done(service, iid)
        assert_nothing_left(service)
        r = agent.post(f"/api/v1/campaign-contacts/{contact['id']}/result",
                       json={"result_code": "INTERESTED", "comment": "send the offer"},
                       headers={CSRF: token})
        assert r.status_code == 200, r.text
        progress = boss.get(f"/api/v1/campaigns/{cid}/progress").json()
    finally:
        boss.close()
        agent.close()
        agent_phone.kill()
        trunk.kill()
        service.stop()

    first, second = trunk.received("INVITE")
    assert first.header("Authorization") is None
    assert digest_ok(second.header("Authorization") or "", "INVITE", TRUNK_PASSWORD)
    assert second.request_uri == f"sip:+37129000101@127.0.0.1:{trunk.port}"
    assert uri_user(second.header("From")) == CALLER_ID
    assert uri_user(second.header("P-Asserted-Identity")) == CALLER_ID
    assert record["result"] == "answered"
    assert record["legs"]["customer_leg"]["rx_packets"] > 50
    assert record["legs"]["agent_leg"]["rx_packets"] > 50
    assert len(trunk.received("BYE")) == 1  # the agent's BYE ended the customer's leg

    with z.sessions() as session:
        assert list(session.scalars(select(Interaction.id))) == [iid]  # one, not two
        saved = session.get(CampaignContact, contact["id"])
        assert saved is not None
        assert (saved.state, saved.result_code, saved.attempts) == ("done", "INTERESTED", 1)
    evs = events(z, iid)
    assert [e.type for e in evs] == ["arrived", "answered", "completed"]
    assert evs[0].data["campaign_id"] == cid
    # two contacts, one closed with INTERESTED after one call
    assert (progress["total"], progress["closed"], progress["calls"]) == (2, 1, 1)
    assert progress["by_result"]["INTERESTED"] == 1
    assert progress["by_state"]["done"] == 1
    total = outgoing_report(z)
    assert (total["out_calls"], total["out_answered"]) == (1, 1)
    assert total["out_talk_s"] == pytest.approx(float(evs[-1].data["talk_s"]), abs=0.001)


def create_app(z: Zvans) -> Any:
    from zvans.web.app import create_app as build_app

    return build_app(z)


def test_click_to_call_rings_the_agents_registered_softphone(z: Zvans, tmp_path: Path) -> None:
    """The agent's own phone (baresip, registered with digest auth, no ring target) is
    rung first; then the customer behind the trunk; the softphone's tone reaches them."""
    trunk = SippUas("features_uas_customer.xml", tmp_path / "trunk", pause_ms=3000)
    service = Service(z, trunk=trunk_to(trunk, auth=False))
    phone = None
    client = TestClient(create_app(z), base_url="http://127.0.0.1")
    try:
        phone = start_phone(tmp_path / "anna", "anna.berzina", demo.AGENT_PASSWORD,
                            service.port, lambda _p: service.registered("anna.berzina"))
        token = _login(client, "anna.berzina", demo.AGENT_PASSWORD)
        r = client.post("/api/v1/calls/click-to-call",
                        json={"number": NUMBER, "queue": queue_id(z, "Latvian")},
                        headers={CSRF: token})
        assert r.status_code == 202, r.text
        iid = r.json()["interaction_id"]
        assert trunk.wait() == 0, trunk.errors()  # it checked the queue's caller id
        record = outbound_done(service, iid)
        assert_nothing_left(service)
        output = phone.output()
    finally:
        client.close()
        if phone is not None:
            phone.stop()
        trunk.kill()
        service.stop()
    # the softphone was called from the customer's number, and the call ended with a BYE
    assert f"Call established: sip:{NUMBER}@" in output
    assert f"Call with sip:{NUMBER}@" in output and "terminated" in output
    assert record["result"] == "answered"
    legs = record["legs"]
    assert legs["agent_leg"]["rx_packets"] > 50 and legs["customer_leg"]["tx_packets"] > 50
    assert legs["customer_leg"]["rx_packets"] > 50 and legs["agent_leg"]["tx_packets"] > 50
    assert event_types(z, iid) == ["arrived", "answered", "completed"]
