"""Callbacks that keep their place (also across a restart), voice messages, PIN, rating."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from zvans import demo
from zvans.app import Zvans
from zvans.core.acd import Ring, StartCallback
from zvans.core.clock import VirtualClock
from zvans.errors import ZvansError
from zvans.runtime import ContactCenter, RecordingCallControl
from zvans.store import customers, orgs, users
from zvans.store.models import CallbackTask, Event, Interaction, Queue, UnansweredEntry

T0 = 1_790_000_000.0


def make(zv: Zvans) -> tuple[ContactCenter, VirtualClock, RecordingCallControl, dict[str, int]]:
    with zv.sessions.begin() as s:
        if not demo.load_demo(s).created:
            pass
        org = orgs.get_org(s, demo.DEMO_ORG)
        ids = {
            "org": org.id,
            "anna": users.user_by_name(s, org.id, "anna.berzina").id,
            "lv": s.scalar(select(Queue.id).where(Queue.org_id == org.id,
                                                  Queue.language == "lv")) or 0,
        }
    clock = VirtualClock(T0)
    control = RecordingCallControl()
    return ContactCenter(zv, clock=clock, call_control=control), clock, control, ids


def served_order(cc: ContactCenter, clock: VirtualClock, control: RecordingCallControl,
                 org: int, agent: int, n: int) -> list[int]:
    """Serve n calls with one agent; the interaction ids in the order they reached her."""
    order = []
    for _ in range(n):
        decisions = [d for _, d in control.take()]
        offer = next(d for d in decisions if isinstance(d, Ring | StartCallback))
        order.append(offer.call_id)
        if isinstance(offer, Ring):
            cc.offer_answered(org, agent, offer.call_id)
        else:
            cc.callback_answered(org, offer.call_id)
        clock.advance(30)
        cc.call_ended(org, offer.call_id)
        clock.advance(10)
        cc.tick()
    return order


def test_callback_keeps_its_place_in_line(zv: Zvans) -> None:
    cc, clock, control, ids = make(zv)
    org = ids["org"]
    calls = []
    for i in range(5):
        calls.append(cc.call_arrived(org, ids["lv"], f"+3712900010{i}"))
        clock.advance(5)
    # the third caller asks to be called back and hangs up
    cc.callback_requested(org, calls[2], "+37129000999")
    later = cc.call_arrived(org, ids["lv"], "+37129000110")
    cc.agent_login(org, ids["anna"])
    order = served_order(cc, clock, control, org, ids["anna"], 6)
    assert order == [calls[0], calls[1], calls[2], calls[3], calls[4], later]
    with zv.sessions() as s:
        task = s.scalar(select(CallbackTask))
        assert task is not None
        assert (task.state, task.number, task.attempts) == ("done", "+37129000999", 1)
        entry = s.scalar(select(UnansweredEntry).where(UnansweredEntry.reason == "callback"))
        assert entry is not None and entry.callback_state == "called_back"
        types = list(s.scalars(select(Event.type).where(Event.interaction_id == calls[2])))
        assert "abandoned" not in types
        assert types[-3:] == ["callback_started", "answered", "completed"]


def test_pending_callback_survives_a_restart_with_its_place(zv: Zvans) -> None:
    cc, clock, _control, ids = make(zv)
    org = ids["org"]
    first = cc.call_arrived(org, ids["lv"], "+37129000201")
    clock.advance(5)
    second = cc.call_arrived(org, ids["lv"], "+37129000202")
    cc.callback_requested(org, first, "+37129000201")
    # the process dies: a new ContactCenter on the same database, the waiting caller is gone
    clock2 = VirtualClock(T0 + 60)
    control2 = RecordingCallControl()
    cc2 = ContactCenter(zv, clock=clock2, call_control=control2)
    late = cc2.call_arrived(org, ids["lv"], "+37129000203")
    cc2.agent_login(org, ids["anna"])
    cc2.tick()
    offers = [d for _, d in control2.take() if isinstance(d, Ring | StartCallback)]
    assert isinstance(offers[0], StartCallback)
    assert (offers[0].call_id, offers[0].number) == (first, "+37129000201")
    assert late != second


def test_voicemail_is_registered_before_the_recording_ends(zv: Zvans) -> None:
    cc, _clock, _control, ids = make(zv)
    org = ids["org"]
    with zv.sessions.begin() as s:
        q = s.get(Queue, ids["lv"])
        assert q is not None
        q.business_hours = {"sun": [["00:00", "00:01"]]}  # closed now
    cc.reload(org)
    call = cc.call_arrived(org, ids["lv"], "+37129000301")
    entry_id = cc.voicemail_started(org, call, "voicemail/1.wav")
    with zv.sessions() as s:  # already durable while the caller still speaks
        entry = s.get(UnansweredEntry, entry_id)
        assert entry is not None and entry.voicemail_ref == "voicemail/1.wav"
    cc.voicemail_left(org, call, duration_s=23.4)
    cc.voicemail_listened(org, entry_id, ids["anna"])
    cc.voicemail_listened(org, entry_id, ids["anna"])  # twice counts once
    with zv.sessions() as s:
        entry = s.get(UnansweredEntry, entry_id)
        assert entry is not None
        assert (entry.duration_s, entry.listened_by_user_id) == (23, ids["anna"])
        types = list(s.scalars(select(Event.type).where(Event.interaction_id == call)))
        assert "out_of_hours" in types and "voicemail_left" in types
        assert types.count("voicemail_listened") == 1
        assert s.get(Interaction, call).outcome == "voicemail"  # type: ignore[union-attr]


def test_pin_identifies_the_caller_and_wrong_pins_are_limited(zv: Zvans) -> None:
    cc, _clock, _control, ids = make(zv)
    org = ids["org"]
    with zv.sessions.begin() as s:
        c = customers.add_customer(s, org, "Zane Kļava", ["+37129000401"])
        customers.set_pin(s, c, "4321")
        assert c.pin_hash and "4321" not in c.pin_hash
        with pytest.raises(ZvansError):
            customers.set_pin(s, c, "12ab")
    call = cc.ivr_entered(org, "+37129000401", "+37160000000")
    with pytest.raises(ZvansError) as err:
        cc.verify_pin(org, call, "12a4")
    assert err.value.code == "bad-pin-format"
    assert cc.verify_pin(org, call, "4321") is True
    with zv.sessions() as s:
        row = s.get(Interaction, call)
        assert row is not None and row.identified and row.customer_id is not None
    other = cc.ivr_entered(org, "+37129000401", "+37160000000")
    assert [cc.verify_pin(org, other, "0000") for _ in range(3)] == [False] * 3
    with pytest.raises(ZvansError) as err:
        cc.verify_pin(org, other, "4321")
    assert err.value.code == "pin-locked"


def test_rating_is_stored_and_bad_ratings_refused(zv: Zvans) -> None:
    cc, _clock, _control, ids = make(zv)
    org = ids["org"]
    call = cc.call_arrived(org, ids["lv"], "+37129000501")
    for bad in (0, 6):
        with pytest.raises(ZvansError):
            cc.rate(org, call, bad)
    cc.rate(org, call, 5)
    with zv.sessions() as s:
        assert s.get(Interaction, call).rating == 5  # type: ignore[union-attr]
        rated = s.scalar(select(Event).where(Event.type == "rated"))
        assert rated is not None
        assert rated.data == {"rating": 5, "scale": 5, "channel": "voice"}
