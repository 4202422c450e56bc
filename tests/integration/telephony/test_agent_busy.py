"""An agent on a call the ACD did not route is not offered queue calls (issue 7), against
real SIP peers on 127.0.0.1.

Agents' phones and the customer behind the outbound trunk are sipp UASes
(``features_uas_agent.xml``: answers, streams audio, waits for BYE;
``features_uas_customer.xml``: answers, hangs up after -d ms); callers are sipp UACs
(``controls_caller.xml``: a tone, -d ms, BYE) calling the Latvian queue's number. The
service runs in-process (``support.Service``) on the demo data.
docs/decisions/0014-agent-busy-on-external-calls.md
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.integration.telephony.controls_support import tone_pcap
from tests.integration.telephony.support import (
    Service,
    Sipp,
    SippUas,
    demo_zvans,
    events,
    have_peers,
    org_id,
    user_id,
    wait_until,
)
from zvans.app import Zvans
from zvans.config import Settings
from zvans.store.models import AgentProfile, Event, Queue
from zvans.telephony.sip import TrunkConfig

pytestmark = [pytest.mark.sip,
              pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")]

LATVIAN_DID = "+37160000100"  # straight into the Latvian queue (no IVR)
CUSTOMER = "+37129000077"
WRAPUP_S = 2  # the Latvian queue's wrap-up in these tests


def _plain_queues(session: Session, settings: Settings) -> None:
    for queue in session.scalars(select(Queue)):
        queue.callback_offer_ewt_s = None  # waiting callers just wait
        queue.wrapup_s = WRAPUP_S


@pytest.fixture
def demo_z(tmp_path: Path) -> Iterator[Zvans]:
    z = demo_zvans(tmp_path, _plain_queues)
    yield z
    z.close()


def latvian(z: Zvans) -> int:
    with z.sessions() as session:
        qid = session.scalar(select(Queue.id).where(Queue.name == "Latvian"))
        assert qid is not None
        return qid


def ring_at(z: Zvans, username: str, uri: str) -> int:
    uid = user_id(z, username)
    with z.sessions.begin() as session:
        profile = session.scalar(select(AgentProfile).where(AgentProfile.user_id == uid))
        assert profile is not None
        profile.ring_target = uri
    return uid


def caller(service: Service, workdir: Path, pause_ms: int) -> Sipp:
    workdir.mkdir(parents=True, exist_ok=True)
    tone_pcap(workdir / "tone.pcap", 440.0)
    return Sipp("controls_caller.xml", LATVIAN_DID, service.port, workdir, pause_ms=pause_ms)


def event(z: Zvans, type_: str, *, agent: int | None = None, after: int = 0,
          what: str = "", timeout: float = 30.0) -> Event:
    def find() -> Event | None:
        return next((e for e in events(z) if e.type == type_ and e.id > after
                     and (agent is None or e.agent_id == agent)), None)
    return wait_until(find, what or type_, timeout)


def inbound_calls(z: Zvans) -> list[int]:
    return [e.interaction_id for e in events(z)
            if e.type == "arrived" and (e.data or {}).get("direction", "in") == "in"
            and e.interaction_id is not None]


def offers(z: Zvans) -> list[tuple[int | None, int | None]]:
    return [(e.interaction_id, e.agent_id) for e in events(z) if e.type == "offered"]


@pytest.fixture
def customer(tmp_path: Path) -> Iterator[SippUas]:
    # answers the click-to-call, talks 8 s, hangs up
    phone = SippUas("features_uas_customer.xml", tmp_path / "customer", pause_ms=8000)
    yield phone
    phone.kill()


@pytest.fixture
def service(demo_z: Zvans, customer: SippUas) -> Iterator[Service]:
    svc = Service(demo_z, trunk=TrunkConfig(name="test", host="127.0.0.1", port=customer.port))
    yield svc
    svc.stop()


def click(service: Service, agent: int, queue: int) -> int:
    """Anna's click-to-call, answered by her phone and by the customer; its interaction."""
    z = service.z
    answer = z.services["telephony"].click_to_call(org_id(z), agent, CUSTOMER, queue)
    iid = int(answer["interaction_id"])
    wait_until(lambda: any(e.type == "answered" for e in events(z, iid)),
               "the customer to answer the click-to-call", 30)
    return iid


def test_agent_on_click_to_call_is_skipped_for_the_free_one(
        service: Service, customer: SippUas, tmp_path: Path) -> None:
    z = service.z
    oid, lv = org_id(z), latvian(z)
    anna_phone = SippUas("features_uas_agent.xml", tmp_path / "anna")
    martins_phone = SippUas("features_uas_agent.xml", tmp_path / "martins")
    inbound: Sipp | None = None
    try:
        anna = ring_at(z, "anna.berzina", anna_phone.uri)
        martins = ring_at(z, "martins.ozols", martins_phone.uri)
        service.cc.agent_login(oid, anna)  # idle longest: she would be rung first
        service.cc.agent_login(oid, martins)
        out_iid = click(service, anna, lv)
        view = service.cc.agent_view(oid, anna)
        assert (view["activity"], view["external_calls"]) == ("on_call", 1)
        inbound = caller(service, tmp_path / "caller", pause_ms=4000)
        offered = event(z, "offered", what="the queue call to be offered")
        (in_iid,) = inbound_calls(z)
        assert (offered.interaction_id, offered.agent_id) == (in_iid, martins)
        assert inbound.wait() == 0, inbound.errors()
        assert martins_phone.wait() == 0, martins_phone.errors()
        assert customer.wait() == 0, customer.errors()
        assert anna_phone.wait() == 0, anna_phone.errors()
        ended = event(z, "external_call_ended", agent=anna, what="anna's call to end")
    finally:
        for proc in (inbound, anna_phone, martins_phone):
            if proc is not None:
                proc.kill()
    started = event(z, "external_call_started", agent=anna)
    assert started.data["interaction_id"] == out_iid and started.data["kind"] == "click"
    assert (ended.data["interaction_id"], ended.queue_id) == (out_iid, lv)  # wrap-up due
    assert offers(z) == [(in_iid, martins)]  # anna was never rung with it
    assert started.id < offered.id < ended.id
    wrap = event(z, "wrapup_done", agent=anna, what="anna's wrap-up after the call")
    assert wrap.data["direction"] == "out"


def test_only_agent_busy_the_call_waits_and_is_offered_after_the_wrap_up(
        service: Service, customer: SippUas, tmp_path: Path) -> None:
    z = service.z
    oid, lv = org_id(z), latvian(z)
    # anna's phone answers twice: her click-to-call, then the queue call
    anna_phone = SippUas("features_uas_agent.xml", tmp_path / "anna", calls=2)
    inbound: Sipp | None = None
    try:
        anna = ring_at(z, "anna.berzina", anna_phone.uri)
        service.cc.agent_login(oid, anna)
        out_iid = click(service, anna, lv)
        inbound = caller(service, tmp_path / "caller", pause_ms=20000)
        enqueued = event(z, "enqueued", what="the queue call to wait")
        ended = event(z, "external_call_ended", agent=anna, what="the click-to-call to end")
        assert offers(z) == []  # nobody was rung while anna talked to the customer
        offered = event(z, "offered", what="the waiting call to be offered to anna")
        assert (offered.interaction_id, offered.agent_id) == (enqueued.interaction_id, anna)
        answered = event(z, "answered", agent=anna, after=offered.id,
                         what="anna to answer the queue call")
        assert answered.interaction_id == enqueued.interaction_id
        assert customer.wait() == 0, customer.errors()
        assert inbound.wait() == 0, inbound.errors()
        assert anna_phone.wait() == 0, anna_phone.errors()
    finally:
        for proc in (inbound, anna_phone):
            if proc is not None:
                proc.kill()
    wrap = [e for e in events(z) if e.type == "wrapup_done" and e.agent_id == anna]
    # the after-call work of the outgoing call came between its end and the offer
    assert wrap and wrap[0].data["direction"] == "out"
    assert ended.id < wrap[0].id < offered.id
    assert float(wrap[0].data["wrapup_s"]) == pytest.approx(WRAPUP_S, abs=0.5)
    assert ended.data["interaction_id"] == out_iid


def test_transfer_target_is_busy_until_the_transferred_call_ends(
        service: Service, tmp_path: Path) -> None:
    z = service.z
    oid = org_id(z)
    phones = {name: SippUas("features_uas_agent.xml", tmp_path / name)
              for name in ("anna", "martins", "liga")}
    callers: list[Sipp] = []
    try:
        anna = ring_at(z, "anna.berzina", phones["anna"].uri)
        martins = ring_at(z, "martins.ozols", phones["martins"].uri)
        liga = ring_at(z, "liga.kalnina", phones["liga"].uri)
        for agent in (anna, martins, liga):  # in this order of idle time
            service.cc.agent_login(oid, agent)
        callers.append(caller(service, tmp_path / "first", pause_ms=15000))
        first = event(z, "answered", agent=anna, what="anna to answer the first call")
        assert first.interaction_id is not None
        result = z.services["telephony"].transfer(oid, first.interaction_id,
                                                  f"agent:{martins}")
        assert result["state"] == "ringing"
        service.cc.agent_logout(oid, anna)  # after her wrap-up: only martins and liga left
        taken = event(z, "external_call_started", agent=martins,
                      what="martins to answer the transfer")
        assert taken.data["interaction_id"] == first.interaction_id
        callers.append(caller(service, tmp_path / "second", pause_ms=3000))
        second = event(z, "offered", after=first.id,
                       what="the second call to be offered")
        # martins has idled longer than liga, but he is talking to the caller anna passed
        # to him: the call goes to liga
        assert second.agent_id == liga and second.interaction_id != first.interaction_id
        for proc in callers:
            assert proc.wait() == 0, proc.errors()
        ended = event(z, "external_call_ended", agent=martins,
                      what="martins's transferred call to end")
        for name in ("anna", "martins", "liga"):
            assert phones[name].wait() == 0, phones[name].errors()
    finally:
        for proc in (*callers, *phones.values()):
            proc.kill()
    assert ended.data["kind"] == "transfer" and ended.queue_id is None  # no wrap-up
    assert service.cc.agent_view(oid, martins)["activity"] == "idle"
    assert [agent for _iid, agent in offers(z)] == [anna, liga]


def test_stopping_the_telephony_mid_call_leaves_nobody_busy(
        demo_z: Zvans, customer: SippUas, tmp_path: Path) -> None:
    z = demo_z
    oid, lv = org_id(z), latvian(z)
    anna_phone = SippUas("features_uas_agent.xml", tmp_path / "anna")
    service = Service(z, trunk=TrunkConfig(name="test", host="127.0.0.1", port=customer.port))
    try:
        anna = ring_at(z, "anna.berzina", anna_phone.uri)
        service.cc.agent_login(oid, anna)
        click(service, anna, lv)
        assert service.cc.agent_view(oid, anna)["external_calls"] == 1
    finally:
        service.stop()  # the customer is still talking
        anna_phone.kill()
    view = service.cc.agent_view(oid, anna)
    assert (view["activity"], view["external_calls"]) == ("wrap_up", 0)
    assert [e.type for e in events(z) if e.agent_id == anna
            and e.type.startswith("external")] == ["external_call_started",
                                                   "external_call_ended"]
