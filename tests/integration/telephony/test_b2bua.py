"""The B2BUA against real SIP peers: sipp callers, baresip agents registered with digest auth.

The telephony service runs in-process on free ports over a migrated SQLite database with
the demo data (IVR on +37160000000: 1 Latvian, 2 English, 3 Lithuanian).
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select

from tests.integration.telephony.support import (
    Baresip,
    Service,
    Sipp,
    demo_zvans,
    event_types,
    events,
    finished,
    have_peers,
    org_id,
    start_phone,
    user_id,
    wait_until,
)
from zvans import demo
from zvans.app import Zvans
from zvans.store.models import Interaction, Queue, UnansweredEntry
from zvans.telephony.queue_media import Mode

pytestmark = pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")

IVR = demo.IVR_DID
PASSWORD = demo.AGENT_PASSWORD


@pytest.fixture
def demo_z(tmp_path: Path) -> Iterator[Zvans]:
    z = demo_zvans(tmp_path)
    yield z
    z.close()


@pytest.fixture
def service(demo_z: Zvans) -> Iterator[Service]:
    svc = Service(demo_z)
    yield svc
    svc.stop()


def queue_row(z: Zvans, name: str) -> Queue:
    with z.sessions() as session:
        row = session.scalar(select(Queue).where(Queue.name == name))
        assert row is not None
        session.expunge(row)
        return row


def interaction_ids(z: Zvans) -> list[int]:
    with z.sessions() as session:
        return list(session.scalars(select(Interaction.id).order_by(Interaction.id)))


def first_interaction(z: Zvans) -> Interaction:
    with z.sessions() as session:
        row = session.scalars(select(Interaction).order_by(Interaction.id)).first()
        assert row is not None
        session.expunge(row)
        return row


def first_event(z: Zvans, type_: str) -> int | None:
    for e in events(z):
        if e.type == type_:
            return e.interaction_id
    return None


def agent(service: Service, tmp_path: Path, username: str, *, auto: bool = True) -> Baresip:
    return start_phone(tmp_path / username, username, PASSWORD, service.port,
                       lambda _phone: service.registered(username), auto_answer=auto)


def event_id(z: Zvans, type_: str, what: str) -> int:
    iid = wait_until(lambda: first_event(z, type_), what, 30)
    assert iid is not None
    return iid


def test_ivr_queue_agent_bridged_and_recorded(service: Service, tmp_path: Path) -> None:
    z = service.z
    oid = org_id(z)
    caller = Sipp("b2bua_caller.xml", IVR, service.port, tmp_path / "caller", pause_ms=11000)
    anna = None
    try:
        # the caller pressed 1 (RFC 2833) and waits: no agent is logged in yet
        iid = event_id(z, "enqueued", "the call to be queued")
        b2bua = service.telephony.b2bua

        def announced() -> bool:
            audio = b2bua.by_iid[iid].audio
            return audio is not None and audio.announcements >= 1 and audio.mode is Mode.MUSIC

        wait_until(announced, "the position announcement, then music again", 30)
        anna = agent(service, tmp_path, "anna.berzina")
        service.cc.agent_login(oid, user_id(z, "anna.berzina"))
        assert caller.wait() == 0, caller.errors()
        record = finished(service, iid)
    finally:
        caller.kill()
        if anna is not None:
            anna.stop()
    assert event_types(z, iid) == ["ivr_entered", "ivr_choice", "arrived", "enqueued",
                                   "offered", "answered", "completed"]
    evs = {e.type: e for e in events(z, iid)}
    assert evs["ivr_choice"].data["choice"] == "1"
    assert evs["answered"].agent_id == user_id(z, "anna.berzina")
    assert record["phase"] == "connected" and record["reason"] == "remote-bye"
    # the caller heard the IVR, music and the announcement before the bridge
    assert int(record["sent_before_bridge"]) > 100  # type: ignore[call-overload]
    caller_leg = record["caller_leg"]
    agent_leg = record["agent_leg"]
    assert isinstance(caller_leg, dict) and isinstance(agent_leg, dict)
    # everything sipp sent arrived (the 7 s capture and the digit's 10 packets), none lost
    assert caller_leg["rx_packets"] == 236 + 10 and caller_leg["rx_lost"] == 0
    # both directions flowed through the bridge
    assert agent_leg["rx_packets"] > 50  # baresip's tone
    assert caller_leg["tx_packets"] - int(record["sent_before_bridge"]) > 50  # type: ignore[call-overload]
    assert agent_leg["tx_packets"] > 50  # sipp's audio relayed to baresip
    # the recording: stereo, as long as the talk, caller left and agent right both audible
    ref = first_interaction(z).recording_ref
    assert ref is not None and ref.endswith(f"{iid}.wav")
    path = Path(str(record["recording"]))
    assert path.exists()
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 8000)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        duration = w.getnframes() / 8000
    talk = float(evs["completed"].data["talk_s"])
    assert abs(duration - talk) < 0.5, (duration, talk)
    assert np.abs(pcm[:, 0]).max() > 1000 and np.abs(pcm[:, 1]).max() > 1000


def test_ring_no_answer_moves_the_call_to_the_second_agent(service: Service,
                                                           tmp_path: Path) -> None:
    z = service.z
    oid = org_id(z)
    with z.sessions.begin() as session:
        q = session.scalar(select(Queue).where(Queue.name == "Latvian"))
        assert q is not None
        q.ring_timeout_s = 3
    service.cc.reload(oid)
    liga = agent(service, tmp_path, "liga.kalnina", auto=False)  # rings, never answers
    martins = agent(service, tmp_path, "martins.ozols")
    caller = None
    try:
        service.cc.agent_login(oid, user_id(z, "liga.kalnina"))  # idle longest: rung first
        service.cc.agent_login(oid, user_id(z, "martins.ozols"))
        caller = Sipp("b2bua_caller.xml", IVR, service.port, tmp_path / "caller",
                      pause_ms=5000)
        assert caller.wait() == 0, caller.errors()
        iid = interaction_ids(z)[0]
        record = finished(service, iid)
        liga_log = liga.output()
    finally:
        if caller is not None:
            caller.kill()
        liga.stop()
        martins.stop()
    evs = [(e.type, e.agent_id) for e in events(z, iid)
           if e.type in ("offered", "ring_no_answer", "answered", "completed")]
    liga_id, martins_id = user_id(z, "liga.kalnina"), user_id(z, "martins.ozols")
    assert evs == [("offered", liga_id), ("ring_no_answer", liga_id), ("offered", martins_id),
                   ("answered", martins_id), ("completed", martins_id)]
    assert record["agent_id"] == martins_id and record["phase"] == "connected"
    assert "Incoming call" in liga_log or "incoming call" in liga_log.lower()


def test_caller_hangs_up_while_queued(service: Service, tmp_path: Path) -> None:
    z = service.z
    caller = Sipp("b2bua_caller.xml", IVR, service.port, tmp_path / "caller", pause_ms=500)
    assert caller.wait() == 0, caller.errors()
    iid = interaction_ids(z)[0]
    record = finished(service, iid)
    assert record["phase"] == "queued"
    assert event_types(z, iid) == ["ivr_entered", "ivr_choice", "arrived", "enqueued",
                                   "abandoned"]
    with z.sessions() as session:
        entries = list(session.scalars(select(UnansweredEntry)))
    assert [(u.reason, u.caller, u.interaction_id) for u in entries] == [
        ("abandoned", "+37129000001", iid)]


def test_caller_hangs_up_in_the_ivr(service: Service, tmp_path: Path) -> None:
    z = service.z
    caller = Sipp("b2bua_caller_silent.xml", IVR, service.port, tmp_path / "caller",
                  pause_ms=2000)
    assert caller.wait() == 0, caller.errors()
    iid = interaction_ids(z)[0]
    assert finished(service, iid)["phase"] == "ivr"
    assert event_types(z, iid) == ["ivr_entered", "ivr_abandoned"]
    with z.sessions() as session:
        entries = list(session.scalars(select(UnansweredEntry)))
    assert [(u.reason, u.interaction_id) for u in entries] == [("ivr_not_finished", iid)]


def test_sip_info_digit_and_an_edited_menu_apply_without_restart(service: Service,
                                                                 tmp_path: Path) -> None:
    z = service.z
    from zvans.store.models import Ivr

    english = queue_row(z, "English")
    lithuanian = queue_row(z, "Lithuanian")
    with z.sessions.begin() as session:  # the menu is edited while the server runs
        ivr = session.scalar(select(Ivr))
        assert ivr is not None
        definition = dict(ivr.definition)
        definition["options"] = {**definition["options"],
                                 "2": {"queue_id": lithuanian.id, "topic": "moved"}}
        ivr.definition = definition
    caller = Sipp("b2bua_caller_info.xml", IVR, service.port, tmp_path / "caller",
                  pause_ms=500)
    assert caller.wait() == 0, caller.errors()
    iid = interaction_ids(z)[0]
    finished(service, iid)
    evs = {e.type: e for e in events(z, iid)}
    assert evs["ivr_choice"].data == {"choice": "2", "topic": "moved"}
    assert evs["arrived"].queue_id == lithuanian.id != english.id


def test_out_of_hours_caller_leaves_a_voice_message(service: Service, tmp_path: Path) -> None:
    z = service.z
    oid = org_id(z)
    today = datetime.now(ZoneInfo("Europe/Riga")).date().isoformat()
    with z.sessions.begin() as session:
        q = session.scalar(select(Queue).where(Queue.name == "Lithuanian"))
        assert q is not None
        q.holidays = [today]  # closed all day today
    service.cc.reload(oid)
    caller = Sipp("b2bua_caller.xml", "+37160000102", service.port, tmp_path / "caller",
                  pause_ms=6000)
    assert caller.wait() == 0, caller.errors()
    iid = interaction_ids(z)[0]
    record = finished(service, iid)
    assert record["phase"] == "voicemail"
    assert event_types(z, iid) == ["arrived", "out_of_hours", "voicemail_left"]
    ref = first_interaction(z).recording_ref
    assert ref is not None and ref.startswith("voicemail/")
    path = z.settings.data_dir / ref
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate()) == (1, 8000)
        assert w.getnframes() > 8000  # the caller spoke after the greeting and the tone
    with z.sessions() as session:  # in the register for the next working day
        entry = session.scalar(select(UnansweredEntry).where(
            UnansweredEntry.interaction_id == iid))
        assert entry is not None
        assert (entry.reason, entry.voicemail_ref, entry.callback_state) == (
            "voicemail", ref, "not_called_back")
        assert entry.duration_s >= 1


def test_hold_is_passed_through_to_the_agent(service: Service, tmp_path: Path) -> None:
    z = service.z
    oid = org_id(z)
    anna = agent(service, tmp_path, "anna.berzina")
    caller = None
    try:
        service.cc.agent_login(oid, user_id(z, "anna.berzina"))
        caller = Sipp("b2bua_caller_hold.xml", IVR, service.port, tmp_path / "caller",
                      pause_ms=3000)
        assert caller.wait() == 0, caller.errors()
        iid = interaction_ids(z)[0]
        record = finished(service, iid)
        phone_log = anna.output()
    finally:
        if caller is not None:
            caller.kill()
        anna.stop()
    stats = service.telephony.b2bua.stats
    assert stats["hold_passed"] == 1 and stats["resume_passed"] == 1
    assert record["phase"] == "connected"
    assert event_types(z, iid)[-2:] == ["answered", "completed"]
    assert "sendonly" in phone_log or "hold" in phone_log.lower()


@pytest.fixture
def impatient(demo_z: Zvans) -> Iterator[Service]:
    svc = Service(demo_z, rtp_timeout_s=3.0)
    yield svc
    svc.stop()


def test_a_caller_whose_media_stopped_is_hung_up(impatient: Service, tmp_path: Path) -> None:
    z = impatient.z
    caller = Sipp("b2bua_caller_silent.xml", "+37160000101", impatient.port,
                  tmp_path / "caller", pause_ms=30000)
    try:
        iid = event_id(z, "abandoned", "the dead call to end")
        record = finished(impatient, iid)
    finally:
        caller.kill()
    assert record["reason"] == "rtp-timeout" and record["phase"] == "queued"
    assert event_types(z, iid) == ["arrived", "enqueued", "abandoned"]


@pytest.fixture
def sha256_service(demo_z: Zvans) -> Iterator[Service]:
    svc = Service(demo_z, offered=("SHA-256", "MD5"))
    yield svc
    svc.stop()


def test_sha256_digest_against_the_stored_ha1(sha256_service: Service) -> None:
    """A client that picks the topmost challenge answers SHA-256 (RFC 8760); the registrar
    checks it against agent_profile.sip_ha1_sha256 (no password stored)."""
    from zvans.store.models import AgentProfile
    from zvans.telephony.sip import SipStack, StackConfig

    port = sha256_service.port
    with sha256_service.z.sessions.begin() as session:  # only SHA-256 can succeed now
        profile = session.scalar(select(AgentProfile).where(
            AgentProfile.sip_username == "liga.kalnina"))
        assert profile is not None and profile.sip_ha1_sha256
        profile.sip_ha1_md5 = None

    async def register(password: str) -> tuple[int, str]:
        client = SipStack(StackConfig(udp_port=0, tcp_port=None))
        await client.start()
        try:
            aor = f"sip:liga.kalnina@127.0.0.1:{port}"
            response = await client.request(
                "REGISTER", f"sip:127.0.0.1:{port}", from_uri=aor, to_uri=aor,
                credentials=("liga.kalnina", password),
                headers=[("Contact", f"<sip:liga@127.0.0.1:{client.port()}>"),
                         ("Expires", "300")])
        finally:
            await client.stop()
        return response.status, response.reason

    ok = sha256_service.call(register(PASSWORD))
    bad = sha256_service.call(register("wrong"))
    assert ok[0] == 200, ok
    assert bad[0] == 403, bad
    assert sha256_service.registered("liga.kalnina")


def test_every_registered_phone_of_the_agent_rings_and_the_first_answer_wins(
        service: Service, tmp_path: Path) -> None:
    z = service.z
    oid = org_id(z)
    desk = start_phone(tmp_path / "desk", "anna.berzina", PASSWORD, service.port,
                       lambda p: "200 OK" in p.output(), auto_answer=False)
    soft = start_phone(tmp_path / "soft", "anna.berzina", PASSWORD, service.port,
                       lambda _p: len(service.telephony.registrar.contacts_for(
                           "anna.berzina")) == 2)
    caller = None
    try:
        service.cc.agent_login(oid, user_id(z, "anna.berzina"))
        caller = Sipp("b2bua_caller.xml", IVR, service.port, tmp_path / "caller",
                      pause_ms=2000)
        assert caller.wait() == 0, caller.errors()
        iid = interaction_ids(z)[0]
        record = finished(service, iid)
        desk_log = desk.output()
    finally:
        if caller is not None:
            caller.kill()
        desk.stop()
        soft.stop()
    stats = service.telephony.b2bua.stats
    assert stats["rings"] == 1 and stats["agent_invites"] == 2  # one ring, two forks
    assert record["phase"] == "connected"
    assert event_types(z, iid)[-3:] == ["offered", "answered", "completed"]
    # the desk phone rang, never answered, and its ringing session was closed (our CANCEL:
    # libre reports it as "session closed: Connection reset by peer")
    assert "press 'a' to accept" in desk_log and "session closed" in desk_log
