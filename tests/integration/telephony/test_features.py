"""Call features (issue 7) against real SIP peers on 127.0.0.1: callbacks, click-to-call,
post-call rating, PIN identification.

Agents' phones and the customers behind the outbound trunk are sipp UASes
(``tests/sipp/features_uas_*.xml``): the agent's ``ring_target`` is the agent sipp's URI
and the B2BUA's trunk points at the customer sipp, whose scenario checks that the From
user is the queue's caller id. Callers are sipp UACs sending their digits by SIP INFO.
The service runs in-process (``support.Service``) on the demo data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.integration.telephony.support import (
    Service,
    Sipp,
    SippUas,
    demo_zvans,
    event_types,
    events,
    finished,
    have_peers,
    org_id,
    queue_id,
    user_id,
    wait_until,
)
from zvans import demo
from zvans.app import Zvans
from zvans.config import Settings
from zvans.store import customers
from zvans.store.models import (
    AgentProfile,
    Interaction,
    Ivr,
    Organisation,
    Queue,
    UnansweredEntry,
)
from zvans.telephony.sip import TrunkConfig

pytestmark = [pytest.mark.sip,
              pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")]

LATVIAN_DID = "+37160000100"  # straight into the Latvian queue (no IVR)
CALLER = "+37129000001"        # the number the sipp callers call from
CALLER_ID = "+37160000000"     # the demo queues' caller id, checked by the customer sipp


def _offer_callbacks(session: Session, settings: Settings) -> None:
    for queue in session.scalars(select(Queue)):
        queue.callback_offer_ewt_s = 1  # every waiting caller is offered a callback


@pytest.fixture
def demo_z(tmp_path: Path) -> Iterator[Zvans]:
    z = demo_zvans(tmp_path, _offer_callbacks)
    yield z
    z.close()


def ring_at(z: Zvans, username: str, uri: str) -> int:
    """Point the agent's ring target at a sipp phone; returns the agent's id."""
    uid = user_id(z, username)
    with z.sessions.begin() as session:
        profile = session.scalar(select(AgentProfile).where(AgentProfile.user_id == uid))
        assert profile is not None
        profile.ring_target = uri
    return uid


def interaction(z: Zvans, iid: int) -> Interaction:
    with z.sessions() as session:
        row = session.get(Interaction, iid)
        assert row is not None
        session.expunge(row)
        return row


def interaction_of(z: Zvans, caller: str) -> list[int]:
    with z.sessions() as session:
        return list(session.scalars(select(Interaction.id).where(Interaction.caller == caller)
                                    .order_by(Interaction.id)))


def first_event(z: Zvans, type_: str, after: int = 0) -> int | None:
    for e in events(z):
        if e.type == type_ and (e.interaction_id or 0) > after:
            return e.interaction_id
    return None


def outbound_done(service: Service, iid: int) -> dict[str, Any]:
    out = service.z.services["telephony"]
    return wait_until(lambda: next((r for r in out.finished if r["interaction_id"] == iid),
                                   None), f"outbound call {iid} to end", 60)


@pytest.fixture
def customer_phone(tmp_path: Path) -> Iterator[SippUas]:
    phone = SippUas("features_uas_customer.xml", tmp_path / "customer", pause_ms=3000)
    yield phone
    phone.kill()


@pytest.fixture
def service(demo_z: Zvans, customer_phone: SippUas) -> Iterator[Service]:
    trunk = TrunkConfig(name="test", host="127.0.0.1", port=customer_phone.port)
    svc = Service(demo_z, trunk=trunk)
    yield svc
    svc.stop()


def test_callback_keeps_place_rings_agent_then_customer(demo_z: Zvans, tmp_path: Path,
                                                        customer_phone: SippUas) -> None:
    z = demo_z
    oid = org_id(z)
    agent_phone = SippUas("features_uas_agent.xml", tmp_path / "agent")
    anna = ring_at(z, "anna.berzina", agent_phone.uri)
    trunk = TrunkConfig(name="test", host="127.0.0.1", port=customer_phone.port)
    svc = Service(z, trunk=trunk)
    later = None
    try:
        # nobody is logged in: the caller hears the position and the offer, presses 1,
        # confirms their number with 1, is thanked and hung up
        caller = Sipp("features_caller_callback.xml", LATVIAN_DID, svc.port,
                      tmp_path / "caller")
        assert caller.wait() == 0, caller.errors()
        iid = wait_until(lambda: first_event(z, "callback_requested"), "the callback", 30)
        assert event_types(z, iid) == ["arrived", "enqueued", "callback_requested"]
        assert finished(svc, iid)["phase"] == "callback"
        # a caller who arrives later waits on the line (silent, no digits)
        later = Sipp("b2bua_caller_silent.xml", LATVIAN_DID, svc.port, tmp_path / "later",
                     pause_ms=60000)
        later_iid = wait_until(lambda: first_event(z, "enqueued", after=iid),
                               "the later caller to be queued", 30)
        # the agent logs in: the callback, earlier in line, is served first
        svc.cc.agent_login(oid, anna)
        assert agent_phone.wait() == 0, agent_phone.errors()
        assert customer_phone.wait() == 0, customer_phone.errors()
        record = outbound_done(svc, iid)
    finally:
        if later is not None:
            later.kill()
        agent_phone.kill()
        svc.stop()
    types = event_types(z, iid)
    assert types[:6] == ["arrived", "enqueued", "callback_requested", "callback_started",
                         "answered", "completed"], types
    assert "abandoned" not in types
    evs = events(z)
    started = next(e for e in evs if e.interaction_id == iid and e.type == "callback_started")
    assert started.agent_id == anna and started.data["number"] == CALLER
    later_offers = [e.id for e in evs if e.interaction_id == later_iid and e.type == "offered"]
    assert all(eid > started.id for eid in later_offers)
    # the customer was called with the queue's caller id and audio flowed both ways
    assert record["result"] == "answered" and record["kind"] == "callback"
    assert record["customer_from"].startswith(f"sip:{CALLER_ID}@")
    legs = record["legs"]
    assert legs["customer_leg"]["rx_packets"] > 50 and legs["agent_leg"]["rx_packets"] > 50
    assert legs["customer_leg"]["tx_packets"] > 50 and legs["agent_leg"]["tx_packets"] > 50
    assert record["recording"] and Path(record["recording"]).exists()
    with z.sessions() as session:
        entries = list(session.scalars(select(UnansweredEntry)
                                       .where(UnansweredEntry.interaction_id == iid)))
    assert [(u.reason, u.callback_state) for u in entries] == [("callback", "called_back")]


def test_callback_number_with_letters_is_refused_and_the_call_continues(
        service: Service, tmp_path: Path) -> None:
    z = service.z
    caller = Sipp("features_caller_callback_bad.xml", LATVIAN_DID, service.port,
                  tmp_path / "caller", pause_ms=4000)
    assert caller.wait() == 0, caller.errors()
    iid = interaction_of(z, CALLER)[0]
    wait_until(lambda: "abandoned" in event_types(z, iid), "the caller to hang up", 30)
    assert event_types(z, iid) == ["arrived", "enqueued", "abandoned"]
    stats = service.telephony.b2bua.stats
    assert stats["callback_dialogs"] == 1 and stats["callback_bad_number"] == 1
    assert finished(service, iid)["phase"] == "queued"  # still in line when they hung up


def test_click_to_call_rings_agent_then_customer(service: Service, tmp_path: Path,
                                                 customer_phone: SippUas) -> None:
    from zvans.web.app import create_app

    z = service.z
    agent_phone = SippUas("features_uas_agent.xml", tmp_path / "agent")
    anna = ring_at(z, "anna.berzina", agent_phone.uri)
    qid = queue_id(z, "English")
    client = TestClient(create_app(z), base_url="http://127.0.0.1")
    try:
        token = _login(client, "anna.berzina", demo.AGENT_PASSWORD)
        bad = client.post("/api/v1/calls/click-to-call", json={"number": "12ab", "queue": qid},
                          headers={"X-CSRF-Token": token})
        assert bad.status_code == 422
        assert bad.json()["error"]["details"]["field"] == "number"
        assert "cipari" in bad.json()["error"]["message"]  # "digits", in anna's Latvian
        no_csrf = client.post("/api/v1/calls/click-to-call",
                              json={"number": "+37129000077", "queue": qid})
        assert no_csrf.status_code == 403
        with z.sessions() as session:
            assert session.scalar(select(Interaction.id)) is None  # nothing recorded
        r = client.post("/api/v1/calls/click-to-call",
                        json={"number": "+371 2900 0077", "queue": qid},
                        headers={"X-CSRF-Token": token})
        assert r.status_code == 202, r.text
        answer = r.json()
        assert answer["status"] == "dialing" and answer["caller_id"] == CALLER_ID
        iid = answer["interaction_id"]
        assert agent_phone.wait() == 0, agent_phone.errors()
        assert customer_phone.wait() == 0, customer_phone.errors()
        record = outbound_done(service, iid)
    finally:
        client.close()
        agent_phone.kill()
    assert record["result"] == "answered" and record["kind"] == "click"
    assert record["customer_from"].startswith(f"sip:{CALLER_ID}@")
    assert record["legs"]["customer_leg"]["rx_packets"] > 50
    assert record["legs"]["agent_leg"]["rx_packets"] > 50
    row = interaction(z, iid)
    assert (row.direction, row.callee, row.caller, row.agent_id, row.outcome) == (
        "out", "+37129000077", CALLER_ID, anna, "answered")
    evs = [e for e in events(z, iid)]
    assert [e.type for e in evs] == ["arrived", "answered", "completed"]
    assert all(e.data["direction"] == "out" and e.agent_id == anna for e in evs)
    assert float(evs[-1].data["talk_s"]) > 1.0


def test_rating_after_the_agent_hangs_up(service: Service, tmp_path: Path) -> None:
    z = service.z
    oid = org_id(z)
    agent_phone = SippUas("features_uas_agent_bye.xml", tmp_path / "agent", pause_ms=3000)
    anna = ring_at(z, "anna.berzina", agent_phone.uri)
    try:
        service.cc.agent_login(oid, anna)
        caller = Sipp("features_caller_rating.xml", LATVIAN_DID, service.port,
                      tmp_path / "caller", pause_ms=9000)
        assert caller.wait() == 0, caller.errors()
        assert agent_phone.wait() == 0, agent_phone.errors()
    finally:
        agent_phone.kill()
    iid = interaction_of(z, CALLER)[0]
    wait_until(lambda: "rated" in event_types(z, iid), "the rating", 30)
    assert interaction(z, iid).rating == 4
    types = event_types(z, iid)
    assert types[:6] == ["arrived", "enqueued", "offered", "answered", "completed", "rated"]
    rated = next(e for e in events(z, iid) if e.type == "rated")
    assert (rated.data["rating"], rated.data["scale"], rated.agent_id) == (4, 5, anna)
    record = finished(service, iid)
    assert record["phase"] == "rating" and record["reason"] == "rated"


def _pin_ivr(z: Zvans) -> None:
    with z.sessions.begin() as session:
        ivr = session.scalar(select(Ivr))
        assert ivr is not None
        ivr.definition = {**ivr.definition, "pin": {"priority_bonus_s": 90}}
        org = session.scalar(select(Organisation))
        assert org is not None
        customer = customers.add_customer(session, org.id, "Ilze Test", [CALLER])
        customers.set_pin(session, customer, "4321")


def test_pin_identifies_the_caller_and_raises_priority(service: Service,
                                                       tmp_path: Path) -> None:
    z = service.z
    _pin_ivr(z)
    caller = Sipp("features_caller_pin.xml", demo.IVR_DID, service.port, tmp_path / "caller",
                  pause_ms=6000)
    try:
        iid = wait_until(lambda: first_event(z, "enqueued"), "the call to be queued", 40)
        state = service.cc._orgs[org_id(z)]
        snapshot = state.engine.call_snapshot(iid)
        assert snapshot.priority_bonus_s == 90
        assert caller.wait() == 0, caller.errors()
    finally:
        caller.kill()
    row = interaction(z, iid)
    assert row.identified and row.customer_id is not None
    types = event_types(z, iid)
    assert types[:5] == ["ivr_entered", "ivr_choice", "identified", "arrived", "enqueued"]
    assert service.telephony.b2bua.stats["pin_identified"] == 1


def test_a_pin_with_letters_gets_an_error_and_the_call_continues(service: Service,
                                                                 tmp_path: Path) -> None:
    z = service.z
    _pin_ivr(z)
    caller = Sipp("features_caller_pin_letters.xml", demo.IVR_DID, service.port,
                  tmp_path / "caller", pause_ms=3000)
    assert caller.wait() == 0, caller.errors()
    iid = interaction_of(z, CALLER)[0]
    wait_until(lambda: "abandoned" in event_types(z, iid), "the caller to hang up", 30)
    assert event_types(z, iid) == ["ivr_entered", "ivr_choice", "arrived", "enqueued",
                                   "abandoned"]
    assert not interaction(z, iid).identified
    stats = service.telephony.b2bua.stats
    assert stats["pin_not_digits"] == 1 and stats["pin_identified"] == 0


def _login(client: TestClient, username: str, password: str) -> str:
    import re

    def csrf(path: str) -> str:
        match = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text)
        assert match, f"no csrf token on {path}"
        return match.group(1)

    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": csrf("/login")}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return csrf("/settings")


def test_campaign_call_button_dials_through_telephony(service: Service, tmp_path: Path,
                                                      customer_phone: SippUas) -> None:
    from zvans.store import campaigns as cs
    from zvans.web.app import create_app

    z = service.z
    agent_phone = SippUas("features_uas_agent.xml", tmp_path / "agent")
    anna = ring_at(z, "anna.berzina", agent_phone.uri)
    with z.sessions.begin() as session:
        org = org_id(z)
        campaign = cs.create_campaign(session, org, None, name="Renewals",
                                      queue_id=queue_id(z, "Latvian"))
        cs.set_state(session, campaign, "active")
        cs.import_csv(session, campaign, b"phone;name\n+37129000088;Test Customer\n")
        cs.assign(session, campaign, [anna])
        contact = cs.claim_next(session, campaign, anna)
        assert contact is not None
        contact_id = contact.id
    client = TestClient(create_app(z), base_url="http://127.0.0.1")
    try:
        token = _login(client, "anna.berzina", demo.AGENT_PASSWORD)
        r = client.post(f"/api/v1/campaign-contacts/{contact_id}/call",
                        headers={"X-CSRF-Token": token})
        assert r.status_code == 200, r.text
        iid = r.json()["interaction_id"]
        assert r.json()["telephony"]["interaction_id"] == iid  # one interaction, not two
        assert agent_phone.wait() == 0, agent_phone.errors()
        assert customer_phone.wait() == 0, customer_phone.errors()
        record = outbound_done(service, iid)
    finally:
        client.close()
        agent_phone.kill()
    assert record["result"] == "answered" and record["number"] == "+37129000088"
    with z.sessions() as session:
        assert list(session.scalars(select(Interaction.id))) == [iid]
    evs = events(z, iid)
    assert [e.type for e in evs] == ["arrived", "answered", "completed"]
    assert evs[0].data["campaign_id"] == campaign.id
    assert all(e.data["direction"] == "out" for e in evs)


def test_unanswered_register_call_back_button_dials(service: Service, tmp_path: Path,
                                                    customer_phone: SippUas) -> None:
    from zvans.web.app import create_app

    z = service.z
    agent_phone = SippUas("features_uas_agent.xml", tmp_path / "agent")
    anna = ring_at(z, "anna.berzina", agent_phone.uri)
    with z.sessions.begin() as session:
        entry = UnansweredEntry(org_id=org_id(z), caller="+37129000099", reason="abandoned",
                                queue_id=queue_id(z, "English"), duration_s=30)
        session.add(entry)
        session.flush()
        entry_id = entry.id
    client = TestClient(create_app(z), base_url="http://127.0.0.1")
    try:
        token = _login(client, "anna.berzina", demo.AGENT_PASSWORD)
        r = client.post(f"/api/v1/unanswered/{entry_id}/callback",
                        headers={"X-CSRF-Token": token})
        assert r.status_code == 200, r.text
        iid = r.json()["interaction_id"]
        assert agent_phone.wait() == 0, agent_phone.errors()
        assert customer_phone.wait() == 0, customer_phone.errors()
        record = outbound_done(service, iid)
    finally:
        client.close()
        agent_phone.kill()
    assert record["result"] == "answered" and record["number"] == "+37129000099"
    row = interaction(z, iid)
    assert (row.direction, row.callee, row.agent_id) == ("out", "+37129000099", anna)
    assert event_types(z, iid) == ["arrived", "answered", "completed"]


def test_busy_customer_fails_the_callback_attempt(demo_z: Zvans, tmp_path: Path) -> None:
    from zvans.store.models import CallbackTask

    z = demo_z
    oid = org_id(z)
    busy = SippUas("features_uas_busy.xml", tmp_path / "busy")
    agent_phone = SippUas("features_uas_agent.xml", tmp_path / "agent")
    anna = ring_at(z, "anna.berzina", agent_phone.uri)
    svc = Service(z, trunk=TrunkConfig(name="test", host="127.0.0.1", port=busy.port))
    try:
        caller = Sipp("features_caller_callback.xml", LATVIAN_DID, svc.port,
                      tmp_path / "caller")
        assert caller.wait() == 0, caller.errors()
        iid = wait_until(lambda: first_event(z, "callback_requested"), "the callback", 30)
        svc.cc.agent_login(oid, anna)
        assert busy.wait() == 0, busy.errors()
        assert agent_phone.wait() == 0, agent_phone.errors()  # rung first, then hung up
        record = outbound_done(svc, iid)
    finally:
        busy.kill()
        agent_phone.kill()
        svc.stop()
    assert record["result"] == "busy"
    types = event_types(z, iid)
    assert types == ["arrived", "enqueued", "callback_requested", "callback_started",
                     "callback_failed"], types
    failed = events(z, iid)[-1]
    assert failed.data["reason"] == "busy" and failed.data["final"] is False
    with z.sessions() as session:
        task = session.scalar(select(CallbackTask).where(CallbackTask.interaction_id == iid))
        assert task is not None and (task.state, task.attempts) == ("waiting", 1)
