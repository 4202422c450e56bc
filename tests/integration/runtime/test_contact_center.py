"""The runtime on both engines: engine decisions persisted as events and interaction rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from zvans.app import Zvans
from zvans.core.acd import Ring, StopRinging
from zvans.errors import ZvansError
from zvans.store import orgs
from zvans.store.models import Event, Interaction, UnansweredEntry


def event_types(zv: Zvans, interaction_id: int | None = None) -> list[str]:
    with zv.sessions() as s:
        q = select(Event.type).order_by(Event.id)
        if interaction_id is not None:
            q = q.where(Event.interaction_id == interaction_id)
        return list(s.scalars(q))


def test_call_is_routed_answered_completed_and_logged(zv: Zvans, setup) -> None:
    cc, clock, control, ids = setup
    published = []
    zv.bus.on_event(published.append)
    org, anna = ids["org"], ids["anna"]
    cc.agent_login(org, anna)
    call = cc.call_arrived(org, ids["lv"], "+37129000001")
    rings = [d for _, d in control.take() if isinstance(d, Ring)]
    assert rings == [Ring(agent_id=anna, call_id=call, queue_id=ids["lv"],
                          timeout_s=15.0)]
    assert cc.agent_view(org, anna)["activity"] == "ringing"
    clock.advance(4)
    cc.offer_answered(org, anna, call)
    clock.advance(60)
    cc.call_ended(org, call)
    assert cc.agent_view(org, anna)["activity"] == "wrap_up"
    clock.advance(10)  # the demo queue's wrap-up is 10 s
    cc.tick()
    assert cc.agent_view(org, anna)["activity"] == "idle"
    assert event_types(zv, call) == ["arrived", "enqueued", "offered", "answered", "completed"]
    with zv.sessions() as s:
        row = s.get(Interaction, call)
        assert row is not None
        assert row.agent_id == anna
        assert row.outcome == "answered"
        assert row.answered_at is not None and row.ended_at is not None
        assert (row.ended_at - row.answered_at).total_seconds() == pytest.approx(60)
        answered = s.scalar(select(Event).where(Event.type == "answered"))
        assert answered is not None and answered.data["wait_s"] == pytest.approx(4)
        completed = s.scalar(select(Event).where(Event.type == "completed"))
        assert completed is not None and completed.data["talk_s"] == pytest.approx(60)
        wrapped = s.scalar(select(Event).where(Event.type == "wrapup_done"))
        assert wrapped is not None and wrapped.data["wrapup_s"] == pytest.approx(10)
    assert [e.type for e in published][-1] == "wrapup_done"
    board = cc.wallboard(org)
    lv = next(q for q in board["queues"] if q["id"] == ids["lv"])
    assert (lv["answered_today"], lv["abandoned_today"], lv["sl_today"]) == (1, 0, 1.0)


def test_ring_no_answer_moves_to_next_agent(zv: Zvans, setup) -> None:
    cc, clock, control, ids = setup
    org = ids["org"]
    for agent in (ids["anna"], ids["martins"]):
        cc.agent_login(org, agent)
        clock.advance(1)
    call = cc.call_arrived(org, ids["lv"], "+37129000002")
    first = next(d for _, d in control.take() if isinstance(d, Ring))
    clock.advance(15)
    cc.tick()
    decisions = [d for _, d in control.take()]
    assert StopRinging(agent_id=first.agent_id, call_id=call) in decisions
    second = next(d for d in decisions if isinstance(d, Ring))
    assert second.agent_id != first.agent_id
    assert "ring_no_answer" in event_types(zv, call)


def test_abandon_creates_unanswered_entry_resolved_by_later_answer(zv: Zvans, setup) -> None:
    cc, clock, _control, ids = setup
    org = ids["org"]
    call = cc.call_arrived(org, ids["lv"], "+37129000003")
    clock.advance(42)
    cc.caller_abandoned(org, call)
    with zv.sessions() as s:
        entry = s.scalar(select(UnansweredEntry))
        assert entry is not None
        assert (entry.caller, entry.reason, entry.duration_s) == ("+37129000003", "abandoned", 42)
        assert entry.resolved_at is None
    cc.agent_login(org, ids["anna"])
    again = cc.call_arrived(org, ids["lv"], "+37129000003")
    cc.offer_answered(org, ids["anna"], again)
    with zv.sessions() as s:
        entry = s.scalar(select(UnansweredEntry))
        assert entry is not None
        assert entry.callback_state == "client_called_back"
        assert entry.resolved_by_interaction_id == again


def test_bad_commands_raise_and_write_nothing(zv: Zvans, setup) -> None:
    cc, _clock, _control, ids = setup
    org = ids["org"]
    before = event_types(zv)
    with pytest.raises(ZvansError) as err:
        cc.offer_answered(org, ids["anna"], 999)
    assert err.value.code in ("no-such-offer", "no-such-call")
    with pytest.raises(ZvansError) as err:
        cc.agent_ready(org, 424242)
    assert err.value.code == "no-such-agent"
    cc.agent_login(org, ids["anna"])
    with pytest.raises(ZvansError):
        cc.agent_login(org, ids["anna"])
    with pytest.raises(ZvansError) as err:
        cc.agent_pause(org, ids["anna"], "siesta")
    assert err.value.code == "no-such-pause-reason"
    with pytest.raises(ZvansError) as err:
        cc.call_arrived(org, 9999, "+37129000004")
    assert err.value.code == "no-such-queue"
    assert event_types(zv) == [*before, "agent_login"]
    with zv.sessions() as s:
        assert s.scalar(select(Interaction)) is None


def test_pause_during_call_takes_effect_after(zv: Zvans, setup) -> None:
    cc, clock, _control, ids = setup
    org, anna = ids["org"], ids["anna"]
    cc.agent_login(org, anna)
    call = cc.call_arrived(org, ids["lv"], "+37129000005")
    cc.offer_answered(org, anna, call)
    cc.agent_pause(org, anna, "lunch")
    view = cc.agent_view(org, anna)
    assert (view["availability"], view["pending_pause"]) == ("ready", "lunch")
    clock.advance(30)
    cc.call_ended(org, call)
    clock.advance(10)
    cc.tick()
    view = cc.agent_view(org, anna)
    assert (view["availability"], view["pause_reason"]) == ("paused", "lunch")


def test_other_organisation_cannot_drive_our_agents(zv: Zvans, setup) -> None:
    cc, _clock, _control, ids = setup
    with zv.sessions.begin() as s:
        other = orgs.add_org(s, "other", "Other").id
    with pytest.raises(ZvansError) as err:
        cc.agent_login(other, ids["anna"])
    assert err.value.code == "no-such-agent"
    with pytest.raises(ZvansError):
        cc.call_arrived(other, ids["lv"], "+37129000006")
