"""In-call controls against real SIP peers on 127.0.0.1 (issue 7, items 3-6).

Callers are sipp (a 440 Hz A-law tone from a pcap), agents are baresip softphones whose
microphone is a tone (anna 1000 Hz, the second party 1800 Hz) or a sipp phone that sends
REFER. Audio checks use an FFT of what Zvans sends on each leg's own stream while the legs
are mixed (conference, monitoring): that is exactly what goes on the wire to each party.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.integration.telephony.controls_support import (
    SippPhone,
    Tap,
    free_tcp_port,
    level,
    register,
    stopping,
    tone_pcap,
    tone_phone,
)
from tests.integration.telephony.support import (
    Service,
    Sipp,
    demo_zvans,
    events,
    free_udp_port,
    have_peers,
    org_id,
    queue_id,
    user_id,
    wait_until,
)
from zvans import demo
from zvans.app import Zvans
from zvans.config import Settings
from zvans.errors import InvalidInput
from zvans.store import catalog
from zvans.store.models import AgentProfile, AuditEntry, Organisation, Queue, User

pytestmark = [pytest.mark.sip,
              pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")]

DID = "+37160000077"  # straight into the Latvian queue (no IVR)
PASSWORD = demo.AGENT_PASSWORD


def _did_and_supervisor_phone(session: Session, settings: Settings) -> None:
    org = session.scalar(select(Organisation).where(Organisation.slug == demo.DEMO_ORG))
    assert org is not None
    lv = session.scalar(select(Queue).where(Queue.name == "Latvian"))
    assert lv is not None
    catalog.add_did(session, org.id, DID, queue_id=lv.id)
    # the supervisor gets a SIP account so that a phone can ring for listening
    sup = session.scalar(select(User).where(User.username == demo.SUPERVISOR[0]))
    assert sup is not None
    md5, sha = demo.sip_ha1("supervisor", settings.sip_domain, PASSWORD)
    profile = session.scalar(select(AgentProfile).where(AgentProfile.user_id == sup.id))
    if profile is None:
        profile = AgentProfile(org_id=org.id, user_id=sup.id)
        session.add(profile)
    profile.sip_username, profile.sip_ha1_md5, profile.sip_ha1_sha256 = \
        "supervisor", md5, sha


@pytest.fixture
def demo_z(tmp_path: Path) -> Iterator[Zvans]:
    z = demo_zvans(tmp_path, _did_and_supervisor_phone)
    yield z
    z.close()


@pytest.fixture
def service(demo_z: Zvans) -> Iterator[Service]:
    svc = Service(demo_z)
    yield svc
    svc.stop()


def caller(service: Service, tmp_path: Path, pause_ms: int) -> Sipp:
    work = tmp_path / "caller"
    work.mkdir(parents=True, exist_ok=True)
    tone_pcap(work / "tone.pcap", 440.0)
    return Sipp("controls_caller.xml", DID, service.port, work, pause_ms=pause_ms)


def phone(service: Service, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, user: str,
          freq: float) -> Any:
    return tone_phone(monkeypatch, tmp_path / user, user, PASSWORD, service.port,
                      service.registered, freq)


def anna_sipp_phone(service: Service, tmp_path: Path, scenario: str, *,
                    workdir: str = "anna-sipp", **options: Any) -> SippPhone:
    """Anna's phone as a sipp scenario playing a 1 kHz tone, set as her ring target."""
    work = tmp_path / workdir
    work.mkdir()
    tone_pcap(work / "tone.pcap", 1000.0)
    sipp = SippPhone(scenario, service.port, work, **options)
    z = service.z
    with z.sessions.begin() as session:
        profile = session.scalar(select(AgentProfile).where(
            AgentProfile.user_id == user_id(z, "anna.berzina")))
        assert profile is not None
        profile.ring_target = sipp.uri
    return sipp


def answered_call(service: Service) -> tuple[int, Any]:
    """The first answered call's id and the B2BUA's call object once it is bridged."""
    found: int | None = wait_until(lambda: next((e.interaction_id for e in events(service.z)
                                                 if e.type == "answered"), None),
                                   "an answered call", 60)
    assert found is not None
    iid: int = found
    b2bua = service.telephony.b2bua

    def bridged() -> Any:
        c = b2bua.by_iid.get(iid)
        return c if c is not None and c.phase.value == "connected" \
            and c.agent_sip is not None else None

    return iid, wait_until(bridged, "the call to be bridged", 30)


def typed(z: Zvans, iid: int, type_: str) -> list[Any]:
    return [e for e in events(z, iid) if e.type == type_]


def run(service: Service, coro: Any) -> Any:
    return service.call(coro, timeout=60)


# --- hold -----------------------------------------------------------------------------------

def test_hold_plays_music_to_the_caller_and_is_logged(service: Service, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    z = service.z
    oid = org_id(z)
    controls = service.telephony.b2bua.controls
    anna = phone(service, monkeypatch, tmp_path, "anna.berzina", 1000.0)
    call_sipp = None
    with stopping(anna):
        service.cc.agent_login(oid, user_id(z, "anna.berzina"))
        call_sipp = caller(service, tmp_path, pause_ms=12000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            assert run(service, controls.hold(oid, iid)) == {"state": "held"}
            with pytest.raises(Exception, match="already on hold"):
                run(service, controls.hold(oid, iid))
            to_caller, to_agent = call.leg.tx_packets, call.agent_leg.tx_packets
            # music flows to the caller (our own stream: a playback runs on the leg) ...
            wait_until(lambda: call.leg.tx_packets - to_caller >= 50, "music to the caller")
            assert call.leg.playback is not None
            # ... and nothing of the caller reaches the agent while on hold
            assert call.agent_leg.tx_packets == to_agent
            assert run(service, controls.resume(oid, iid)) == {"state": "talking"}
            assert call.leg.playback is None
            wait_until(lambda: call.agent_leg.tx_packets - to_agent >= 25,
                       "the caller heard by the agent again")
            assert call_sipp.wait() == 0, call_sipp.errors()
    held, resumed = typed(z, iid, "held"), typed(z, iid, "resumed")
    assert len(held) == 1 and held[0].data["by"] == "desktop"
    assert held[0].agent_id == user_id(z, "anna.berzina")
    assert len(resumed) == 1 and resumed[0].data["hold_s"] > 0


def test_hold_from_the_agents_phone_plays_music_to_the_caller(service: Service,
                                                              tmp_path: Path) -> None:
    z = service.z
    oid = org_id(z)
    anna_id = user_id(z, "anna.berzina")
    anna = anna_sipp_phone(service, tmp_path, "controls_agent_hold.xml", pause_ms=2000)
    b2bua = service.telephony.b2bua
    with stopping(anna):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=9000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            wait_until(lambda: call.leg.playback is not None, "music while the phone holds")
            wait_until(lambda: typed(z, iid, "resumed"), "the phone to resume")
            assert call.leg.playback is None
            assert call_sipp.wait() == 0, call_sipp.errors()
            assert anna.wait() == 0, anna.errors()
    held, resumed = typed(z, iid, "held"), typed(z, iid, "resumed")
    assert [e.data["by"] for e in held] == ["phone"]
    assert [e.data["by"] for e in resumed] == ["phone"] and resumed[0].data["hold_s"] > 0
    assert b2bua.stats["hold_passed"] == 0  # the caller got music, not a re-INVITE


# --- transfers ------------------------------------------------------------------------------

def test_blind_transfer_to_another_agent(service: Service, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    z = service.z
    oid = org_id(z)
    controls = service.telephony.b2bua.controls
    anna_id, martins_id = user_id(z, "anna.berzina"), user_id(z, "martins.ozols")
    anna = phone(service, monkeypatch, tmp_path, "anna.berzina", 1000.0)
    martins = phone(service, monkeypatch, tmp_path, "martins.ozols", 1800.0)
    with stopping(anna, martins):
        service.cc.agent_login(oid, anna_id)  # martins is not in the queue: rung directly
        call_sipp = caller(service, tmp_path, pause_ms=14000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            first = call.agent_sip
            result = run(service, controls.transfer(oid, iid, f"agent:{martins_id}"))
            assert result == {"state": "ringing", "target": f"agent:{martins_id}"}
            wait_until(lambda: call.agent_id == martins_id and call.agent_leg is not None
                       and call.agent_leg.peer is call.leg, "martins bridged to the caller")
            assert first.is_ended  # anna's leg is gone
            leg = call.agent_leg
            wait_until(lambda: leg.rx_packets > 25 and leg.tx_packets > 25,
                       "audio both ways with martins")
            assert service.cc.agent_view(oid, anna_id)["activity"] in ("wrap_up", "idle")
            assert call_sipp.wait() == 0, call_sipp.errors()
        wait_until(lambda: len(typed(z, iid, "completed")) == 2, "both talks completed")
    moved = typed(z, iid, "transferred")
    assert len(moved) == 1
    assert moved[0].data["kind"] == "blind"
    assert moved[0].data["target"] == f"agent:{martins_id}"
    assert moved[0].data["from_agent"] == anna_id and moved[0].data["talk_s"] > 0
    done = typed(z, iid, "completed")
    assert [e.agent_id for e in done] == [anna_id, martins_id]
    assert all(e.data["talk_s"] > 0 for e in done)


def test_attended_transfer_consult_cancel_then_complete(service: Service, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    z = service.z
    oid = org_id(z)
    controls = service.telephony.b2bua.controls
    anna_id, martins_id = user_id(z, "anna.berzina"), user_id(z, "martins.ozols")
    anna = phone(service, monkeypatch, tmp_path, "anna.berzina", 1000.0)
    martins = phone(service, monkeypatch, tmp_path, "martins.ozols", 1800.0)
    target = f"agent:{martins_id}"
    with stopping(anna, martins):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=16000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            first, agent_leg = call.agent_sip, call.agent_leg
            # consult, then change one's mind: the caller gets the agent back
            assert run(service, controls.transfer(oid, iid, target, attended=True)) == \
                {"state": "consulting", "target": target}
            consult = controls.extras[iid].consult
            assert consult is not None and agent_leg.peer is consult.leg
            assert call.leg.playback is not None  # the caller hears music meanwhile
            assert run(service, controls.cancel_transfer(oid, iid)) == {"state": "talking"}
            assert agent_leg.peer is call.leg and call.leg.playback is None
            wait_until(lambda: consult.sip.is_ended, "the consulted phone hung up")
            # consult again and complete: martins talks to the caller, anna is free
            run(service, controls.transfer(oid, iid, target, attended=True))
            assert run(service, controls.complete_transfer(oid, iid)) == \
                {"state": "transferred", "target": target}
            assert call.agent_id == martins_id and call.agent_leg.peer is call.leg
            wait_until(lambda: first.is_ended, "anna's leg ended")
            assert call_sipp.wait() == 0, call_sipp.errors()
        wait_until(lambda: len(typed(z, iid, "completed")) == 2, "both talks completed")
    moved = typed(z, iid, "transferred")
    assert [(e.data["kind"], e.data["target"], e.data["from_agent"]) for e in moved] == \
        [("attended", target, anna_id)]
    assert [e.data["by"] for e in typed(z, iid, "held")] == ["consult", "consult"]
    assert [e.data["by"] for e in typed(z, iid, "resumed")] == ["consult", "transfer"]
    assert [e.agent_id for e in typed(z, iid, "completed")] == [anna_id, martins_id]


def test_transfer_to_a_queue_reenters_the_acd_and_bad_targets_change_nothing(
        service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    z = service.z
    oid = org_id(z)
    controls = service.telephony.b2bua.controls
    anna_id, john_id = user_id(z, "anna.berzina"), user_id(z, "john.miller")
    english = queue_id(z, "English")
    anna = phone(service, monkeypatch, tmp_path, "anna.berzina", 1000.0)
    john = phone(service, monkeypatch, tmp_path, "john.miller", 1800.0)
    with stopping(anna, john):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=15000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            first = call.agent_sip
            for bad, code in (("agent:999999", "unknown-target"),
                              ("queue:999999", "unknown-target"),
                              (f"agent:{anna_id}", "target-on-call"),
                              ("number:+37120000000", "no-trunk"),
                              ("somewhere", "bad-target"), ("agent:x", "bad-target")):
                with pytest.raises(InvalidInput) as err:
                    run(service, controls.transfer(oid, iid, bad))
                assert err.value.code == code, (bad, err.value.code)
                assert err.value.message
            # the call goes on as it was
            assert call.agent_sip is first and not first.is_ended
            assert call.agent_leg.peer is call.leg
            service.cc.agent_login(oid, john_id)
            result = run(service, controls.transfer(oid, iid, f"queue:{english}"))
            assert result == {"state": "queued", "target": f"queue:{english}"}
            try:
                wait_until(lambda: call.agent_id == john_id and call.agent_sip is not None
                           and call.phase.value == "connected", "john answered the transfer")
            except AssertionError:
                print([(e.type, e.agent_id, e.queue_id, e.data) for e in events(z, iid)],
                      call.phase, call.agent_id, service.telephony.b2bua.stats)
                raise
            assert first.is_ended
            assert call_sipp.wait() == 0, call_sipp.errors()
        wait_until(lambda: len(typed(z, iid, "completed")) == 2, "both talks completed")
    kinds = [(e.type, e.agent_id, e.queue_id) for e in events(z, iid)
             if e.type in ("transferred", "completed", "arrived", "answered")]
    lv = queue_id(z, "Latvian")
    assert kinds == [
        ("arrived", None, lv), ("answered", anna_id, lv), ("transferred", anna_id, lv),
        ("completed", anna_id, lv), ("arrived", None, english), ("answered", john_id, english),
        ("completed", john_id, english)]
    arrivals = typed(z, iid, "arrived")
    assert arrivals[0].data.get("direction", "in") == "in"
    assert arrivals[1].data["direction"] == "transfer"  # not a second incoming call


def test_blind_transfer_by_refer_from_the_agents_phone(service: Service, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    z = service.z
    oid = org_id(z)
    anna_id, martins_id = user_id(z, "anna.berzina"), user_id(z, "martins.ozols")
    anna = anna_sipp_phone(service, tmp_path, "controls_agent_refer.xml",
                           pause_ms=3000, variables={"target": "martins.ozols"})
    martins = phone(service, monkeypatch, tmp_path, "martins.ozols", 1800.0)
    with stopping(anna, martins):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=12000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            assert anna.wait() == 0, anna.errors()  # REFER → 202, NOTIFY 200, our BYE
            wait_until(lambda: call.agent_id == martins_id and call.agent_leg is not None
                       and call.agent_leg.peer is call.leg, "martins bridged after REFER")
            assert call_sipp.wait() == 0, call_sipp.errors()
    moved = typed(z, iid, "transferred")
    assert len(moved) == 1 and moved[0].data["target"] == f"agent:{martins_id}"
    assert moved[0].data["from_agent"] == anna_id


def test_attended_transfer_from_the_agents_phone_with_replaces(
        service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 5589 §7 from a registered phone: hold (D1), consultation INVITE through Zvans
    with digest auth (D2), REFER on D1 with Replaces naming D2. Both of the phone's
    dialogs are sipp runs of the same phone (extended 3pcc passes D2's ids to D1)."""
    z = service.z
    oid = org_id(z)
    controls = service.telephony.b2bua.controls
    anna_id, martins_id = user_id(z, "anna.berzina"), user_id(z, "martins.ozols")
    d1_port = free_udp_port()
    register("anna.berzina", PASSWORD, d1_port, service.port, tmp_path / "anna-register")
    twins = tmp_path / "twins.cfg"
    twins.write_text(f"m;127.0.0.1:{free_tcp_port()}\ns;127.0.0.1:{free_tcp_port()}\n")
    work = tmp_path / "anna-d1"
    work.mkdir()
    tone_pcap(work / "tone.pcap", 1000.0)
    anna_d1 = SippPhone("phone_atransfer_agent.xml", service.port, work, pause_ms=3000,
                        port=d1_port, variables={"target": "martins.ozols"},
                        options=("-slave", "s", "-slave_cfg", str(twins)))
    martins = phone(service, monkeypatch, tmp_path, "martins.ozols", 1800.0)
    anna_d2 = None
    with stopping(anna_d1, martins):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=20000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            d1 = call.agent_sip
            wait_until(lambda: typed(z, iid, "held"), "the phone to hold the caller")
            assert call.leg.playback is not None  # music while anna consults
            anna_d2 = SippPhone(
                "phone_atransfer_consult.xml", service.port, tmp_path / "anna-d2",
                pause_ms=0, variables={"d1": d1.call_id},
                options=("-s", "martins.ozols", "-au", "anna.berzina", "-ap", PASSWORD,
                         "-auth_uri", f"martins.ozols@127.0.0.1:{service.port}",
                         "-cid_str", f"consult-{iid}-{d1_port}", "-master", "m",
                         "-slave_cfg", str(twins)))
            with stopping(anna_d2):
                consult = wait_until(lambda: getattr(controls.extras.get(iid), "phone", None)
                                     if getattr(getattr(controls.extras.get(iid), "phone",
                                                        None), "party", None) else None,
                                     "anna's consultation with martins", 40)
                assert consult.sip.authenticated_user == "anna.berzina"
                assert consult.leg.peer is consult.party.leg  # anna talks to martins
                assert call.agent_sip is d1  # the caller still waits on D1
                # REFER with Replaces → 202, NOTIFY 100 then 200, BYE on D1 and on D2
                assert anna_d2.wait() == 0, anna_d2.errors()
                assert anna_d1.wait() == 0, anna_d1.errors()
            assert d1.is_ended and consult.sip.is_ended
            assert call.agent_id == martins_id and call.agent_leg is consult.party.leg
            assert call.agent_leg.peer is call.leg and call.leg.playback is None
            leg = call.agent_leg
            from_martins, to_caller = leg.rx_packets, call.leg.tx_packets
            wait_until(lambda: leg.rx_packets - from_martins >= 25
                       and call.leg.tx_packets - to_caller >= 25,
                       "martins's audio relayed to the caller")
            assert call.leg.rx_packets > 0 and leg.tx_packets > 0
            assert service.cc.agent_view(oid, anna_id)["activity"] in ("wrap_up", "idle")
            assert call_sipp.wait() == 0, call_sipp.errors()
        wait_until(lambda: len(typed(z, iid, "completed")) == 2, "both talks completed")
    moved = typed(z, iid, "transferred")
    assert [(e.data["kind"], e.data["target"], e.data["from_agent"]) for e in moved] == \
        [("attended", f"agent:{martins_id}", anna_id)]
    assert moved[0].data["talk_s"] > 0
    assert [e.data["by"] for e in typed(z, iid, "held")] == ["phone"]
    assert [e.data["by"] for e in typed(z, iid, "resumed")] == ["transfer"]
    done = typed(z, iid, "completed")
    assert [e.agent_id for e in done] == [anna_id, martins_id]
    assert all(e.data["talk_s"] > 0 for e in done)
    assert service.telephony.b2bua.stats["phone_attended_transfers"] == 1


def test_replaces_naming_no_dialog_leaves_the_call_with_the_agent(service: Service,
                                                                  tmp_path: Path) -> None:
    z = service.z
    oid = org_id(z)
    anna_id = user_id(z, "anna.berzina")
    anna = anna_sipp_phone(service, tmp_path, "phone_atransfer_bad.xml", pause_ms=2000)
    b2bua = service.telephony.b2bua
    with stopping(anna):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=12000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            first = call.agent_sip
            wait_until(lambda: b2bua.stats["replaces_unknown"] == 1, "the refused REFER")
            assert call.agent_sip is first and not first.is_ended
            assert call.phase.value == "connected" and call.agent_id == anna_id
            wait_until(lambda: typed(z, iid, "resumed"), "the phone to resume")
            assert call.agent_leg.peer is call.leg and call.leg.playback is None
            assert call_sipp.wait() == 0, call_sipp.errors()
            assert anna.wait() == 0, anna.errors()  # 202, NOTIFY 481, resume, our BYE
    assert typed(z, iid, "transferred") == []
    assert [e.data["by"] for e in typed(z, iid, "resumed")] == ["phone"]
    assert [e.agent_id for e in typed(z, iid, "completed")] == [anna_id]


def test_the_phone_hangs_up_its_consultation_and_keeps_the_caller(
        service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """D2 ends before any REFER: the consulted phone is hung up, the call stays anna's."""
    z = service.z
    oid = org_id(z)
    controls = service.telephony.b2bua.controls
    anna_id = user_id(z, "anna.berzina")
    anna_d1 = anna_sipp_phone(service, tmp_path, "controls_agent_hold.xml",
                              pause_ms=2000, workdir="anna-d1")
    martins = phone(service, monkeypatch, tmp_path, "martins.ozols", 1800.0)
    with stopping(anna_d1, martins):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=16000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            d1 = call.agent_sip
            wait_until(lambda: typed(z, iid, "held"), "the phone to hold the caller")
            anna_d2 = Sipp("phone_consult_hangup.xml", "martins.ozols", service.port,
                           tmp_path / "anna-d2", pause_ms=4000, extra=(
                               "-au", "anna.berzina", "-ap", PASSWORD,
                               "-auth_uri", f"martins.ozols@127.0.0.1:{service.port}"))
            with stopping(anna_d2):
                consult = wait_until(lambda: getattr(controls.extras.get(iid), "phone", None)
                                     if getattr(getattr(controls.extras.get(iid), "phone",
                                                        None), "party", None) else None,
                                     "anna's consultation with martins", 40)
                assert anna_d2.wait() == 0, anna_d2.errors()
            wait_until(lambda: consult.party.sip.is_ended, "martins hung up by Zvans")
            assert consult.party.sip.ended.result() == "local-bye"
            assert controls.extras[iid].phone is None
            assert call.agent_sip is d1 and not d1.is_ended and call.agent_id == anna_id
            assert call_sipp.wait() == 0, call_sipp.errors()
            assert anna_d1.wait() == 0, anna_d1.errors()
    assert typed(z, iid, "transferred") == []
    assert [e.agent_id for e in typed(z, iid, "completed")] == [anna_id]


def test_a_phone_calls_through_zvans_only_to_consult_during_a_call(
        service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Authenticated, but anna has no call: 403, and martins's phone never rings."""
    b2bua = service.telephony.b2bua
    martins = phone(service, monkeypatch, tmp_path, "martins.ozols", 1800.0)
    with stopping(martins):
        anna = Sipp("phone_call_refused.xml", "martins.ozols", service.port,
                    tmp_path / "anna", extra=(
                        "-au", "anna.berzina", "-ap", PASSWORD,
                        "-auth_uri", f"martins.ozols@127.0.0.1:{service.port}"))
        with stopping(anna):
            assert anna.wait() == 0, anna.errors()  # 407, then 403 to the answered challenge
    assert b2bua.stats["phone_call_refused"] == 1
    assert service.telephony.stack.stats["invites_sent"] == 0
    assert events(service.z) == [] or all(e.type.startswith("agent_")
                                          for e in events(service.z))


# --- conference -----------------------------------------------------------------------------

def test_conference_each_party_hears_the_others(service: Service, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    z = service.z
    oid = org_id(z)
    controls = service.telephony.b2bua.controls
    anna_id, martins_id = user_id(z, "anna.berzina"), user_id(z, "martins.ozols")
    anna = phone(service, monkeypatch, tmp_path, "anna.berzina", 1000.0)
    martins = phone(service, monkeypatch, tmp_path, "martins.ozols", 1800.0)
    tap = Tap()
    with stopping(anna, martins):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=16000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            assert run(service, controls.conference_add(oid, iid, f"agent:{martins_id}")) \
                == {"state": "conference", "participants": 3}
            extras = controls.extras[iid]
            expert = extras.members[0].leg
            legs = {"caller": call.leg, "agent": call.agent_leg, "expert": expert}
            for leg in legs.values():
                tap.watch(leg)
            wait_until(lambda: all(len(tap.audio(leg)) >= 16000 for leg in legs.values()),
                       "two seconds of mixed audio to everyone")
            heard = {name: {f: level(tap.audio(leg)[-16000:], f) for f in (440, 1000, 1800)}
                     for name, leg in legs.items()}
            # the expert hangs up: caller and agent are bridged again
            martins.stop()
            wait_until(lambda: extras.mixer is None and call.agent_leg.peer is call.leg,
                       "caller and agent bridged again")
            assert call.agent_id == anna_id
            assert call_sipp.wait() == 0, call_sipp.errors()
    own = {"caller": 440, "agent": 1000, "expert": 1800}
    for name, levels in heard.items():
        for freq, amplitude in levels.items():
            if freq == own[name]:
                assert amplitude < 300, (name, levels)  # nobody hears themselves
            else:
                assert amplitude > 2000, (name, levels)  # everyone hears the two others
    conferenced = typed(z, iid, "conferenced")
    assert len(conferenced) == 1
    assert conferenced[0].data["participant"] == f"agent:{martins_id}"


# --- supervisor -----------------------------------------------------------------------------

def test_listen_whisper_barge(service: Service, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    z = service.z
    oid = org_id(z)
    controls = service.telephony.b2bua.controls
    anna_id, sup_id = user_id(z, "anna.berzina"), user_id(z, demo.SUPERVISOR[0])
    anna = phone(service, monkeypatch, tmp_path, "anna.berzina", 1000.0)
    sup = phone(service, monkeypatch, tmp_path, "supervisor", 1800.0)
    tap = Tap()
    heard: dict[str, dict[str, dict[int, float]]] = {}
    with stopping(anna, sup):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=20000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            assert run(service, controls.monitor(oid, iid, sup_id, "listen")) == \
                {"state": "monitoring", "mode": "listen"}
            extras = controls.extras[iid]
            assert extras.monitor is not None
            legs = {"caller": call.leg, "agent": call.agent_leg,
                    "supervisor": extras.monitor.leg}
            for leg in legs.values():
                tap.watch(leg)
            for mode in ("listen", "whisper", "barge"):
                if mode != "listen":
                    run(service, controls.monitor(oid, iid, sup_id, mode))
                marks = {name: tap.mark(leg) for name, leg in legs.items()}
                def enough(m: dict[str, int] = marks) -> bool:
                    return all(len(tap.audio(leg, m[n])) >= 12000 for n, leg in legs.items())

                wait_until(enough, f"audio in {mode} mode")
                heard[mode] = {name: {f: level(tap.audio(leg, marks[name] + 10), f)
                                      for f in (440, 1000, 1800)}
                               for name, leg in legs.items()}
            assert call_sipp.wait() == 0, call_sipp.errors()
    present, absent = 2000, 300
    for mode, by in heard.items():
        # the supervisor always hears both sides
        assert by["supervisor"][440] > present and by["supervisor"][1000] > present, by
        assert by["caller"][1000] > present and by["agent"][440] > present, by
        if mode in ("listen", "whisper"):
            assert by["caller"][1800] < absent, (mode, by)  # the caller never hears them
        else:
            assert by["caller"][1800] > present, (mode, by)
        if mode == "listen":
            assert by["agent"][1800] < absent, (mode, by)
        else:
            assert by["agent"][1800] > present, (mode, by)
    with z.sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(
            AuditEntry.user_id == sup_id).order_by(AuditEntry.id)))
    assert actions == ["call.listen", "call.whisper", "call.barge"]


# --- the desktop's API ----------------------------------------------------------------------

def test_desktop_buttons_call_the_controls(service: Service, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.web.conftest import login
    from zvans.web.app import create_app

    z = service.z
    oid = org_id(z)
    anna_id = user_id(z, "anna.berzina")
    anna = phone(service, monkeypatch, tmp_path, "anna.berzina", 1000.0)
    with stopping(anna):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=12000)
        # no lifespan: the telephony service (another loop) runs the ACD timers here
        client = TestClient(create_app(z))
        with stopping(call_sipp):
            token = login(client, "anna.berzina", PASSWORD)
            headers = {"X-CSRF-Token": token}
            iid, call = answered_call(service)
            first = call.agent_sip
            r = client.post(f"/api/v1/calls/{iid}/transfer", headers=headers,
                            json={"target": "agent:999999"})
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == "unknown-target"
            assert "999999" in r.json()["error"]["message"]
            r = client.post(f"/api/v1/calls/{iid}/transfer", headers=headers, json={})
            assert r.status_code == 422 and r.json()["error"]["code"] == "no-target"
            assert call.agent_sip is first and not first.is_ended  # the call continues
            r = client.post(f"/api/v1/calls/{iid}/hold", headers=headers)
            assert r.status_code == 200 and r.json()["state"] == "held", r.text
            r = client.post(f"/api/v1/calls/{iid}/resume", headers=headers)
            assert r.status_code == 200 and r.json()["state"] == "talking", r.text
            r = client.post(f"/api/v1/calls/{iid}/monitor", headers=headers,
                            json={"mode": "listen"})
            assert r.status_code == 403  # agents do not monitor
            r = client.post(f"/api/v1/calls/{iid}/hangup", headers=headers)
            assert r.status_code == 200 and r.json()["state"] == "ended", r.text
            wait_until(lambda: any(r["interaction_id"] == iid for r in service.records()),
                       "the call to end")
    types = [e.type for e in events(z, iid)]
    assert types.count("held") == 1 and types.count("resumed") == 1
    assert "completed" in types and "transferred" not in types


def test_the_agent_leaves_a_conference_and_the_others_go_on(
        service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    z = service.z
    oid = org_id(z)
    controls = service.telephony.b2bua.controls
    anna_id, martins_id = user_id(z, "anna.berzina"), user_id(z, "martins.ozols")
    anna = phone(service, monkeypatch, tmp_path, "anna.berzina", 1000.0)
    martins = phone(service, monkeypatch, tmp_path, "martins.ozols", 1800.0)
    with stopping(anna, martins):
        service.cc.agent_login(oid, anna_id)
        call_sipp = caller(service, tmp_path, pause_ms=14000)
        with stopping(call_sipp):
            iid, call = answered_call(service)
            first = call.agent_sip
            run(service, controls.conference_add(oid, iid, f"agent:{martins_id}"))
            assert run(service, controls.hangup(oid, iid)) == {"state": "left"}
            wait_until(lambda: first.is_ended, "anna's leg ended")
            assert call.agent_id == martins_id and call.agent_leg.peer is call.leg
            assert controls.extras[iid].mixer is None
            assert service.cc.agent_view(oid, anna_id)["activity"] in ("wrap_up", "idle")
            leg = call.agent_leg
            before = leg.tx_packets
            wait_until(lambda: leg.tx_packets - before > 25, "the caller heard by martins")
            assert call_sipp.wait() == 0, call_sipp.errors()
        wait_until(lambda: len(typed(z, iid, "completed")) == 2, "both talks completed")
    assert [e.agent_id for e in typed(z, iid, "completed")] == [anna_id, martins_id]
