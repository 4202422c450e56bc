"""The runtime on both engines: an agent on a call the ACD did not route is not offered a
queue call; the events are logged; outgoing calls' wrap-up is not inbound handle time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.integration.runtime.conftest import T0
from zvans.app import Zvans
from zvans.core.acd import Ring, StopRinging
from zvans.errors import ZvansError
from zvans.reports import facts
from zvans.runtime import RecordingCallControl
from zvans.store.models import Event


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def logged(zv: Zvans, *types: str) -> list[Event]:
    with zv.sessions() as s:
        return list(s.scalars(select(Event).where(Event.type.in_(types)).order_by(Event.id)))


def rings(control: RecordingCallControl) -> list[Ring]:
    return [d for _, d in control.take() if isinstance(d, Ring)]


def test_busy_agent_is_skipped_then_offered_after_the_outgoing_wrap_up(zv: Zvans,
                                                                        setup) -> None:
    cc, clock, control, ids = setup
    org, anna, martins, lv = ids["org"], ids["anna"], ids["martins"], ids["lv"]
    published = []
    zv.bus.on_event(published.append)
    cc.agent_login(org, anna)
    clock.advance(1)
    cc.agent_login(org, martins)
    cc.external_call_started(org, anna, "click:1", kind="click", interaction_id=None)
    view = cc.agent_view(org, anna)
    assert (view["activity"], view["external_calls"], view["offerable"]) == ("on_call", 1,
                                                                            False)
    first = cc.call_arrived(org, lv, "+37129000001")
    assert [(r.agent_id, r.call_id) for r in rings(control)] == [(martins, first)]
    cc.offer_answered(org, martins, first)
    second = cc.call_arrived(org, lv, "+37129000002")  # both agents busy: it waits
    assert rings(control) == []
    clock.advance(90)
    cc.external_call_ended(org, anna, "click:1", wrapup_queue_id=lv)
    assert cc.agent_view(org, anna)["activity"] == "wrap_up" and rings(control) == []
    clock.advance(10)  # the demo queue's wrap-up is 10 s
    cc.tick()
    assert [(r.agent_id, r.call_id) for r in rings(control)] == [(anna, second)]
    started, ended = logged(zv, "external_call_started", "external_call_ended")
    assert (started.agent_id, started.data) == (anna, {"ref": "click:1", "kind": "click",
                                                      "calls": 1})
    assert (ended.agent_id, ended.queue_id) == (anna, lv)
    assert ended.data["talk_s"] == pytest.approx(90) and ended.data["calls"] == 0
    wrap = logged(zv, "wrapup_done")
    assert [(w.agent_id, w.data) for w in wrap] == [(anna, {"wrapup_s": 10.0,
                                                            "direction": "out"})]
    # published after the commit, like every other event
    assert [e.type for e in published if e.type.startswith("external")] == [
        "external_call_started", "external_call_ended"]
    # the reports' call facts: martins' inbound wrap-up counts, anna's after the outgoing
    # call does not (it is not inbound handle time)
    clock.advance(30)
    cc.call_ended(org, first)
    clock.advance(10)
    cc.tick()
    with zv.sessions() as s:
        rows = facts.raw_call_facts(s, org, _ts(T0 - 60), _ts(clock.now() + 60), ("agent",),
                                    facts.Filters())
    assert rows[(martins,)]["wrapup_n"] == 1
    assert rows.get((anna,), {}).get("wrapup_n", 0) == 0

def test_ringing_offer_is_withdrawn_without_a_miss(zv: Zvans, setup) -> None:
    cc, _clock, control, ids = setup
    org, anna, lv = ids["org"], ids["anna"], ids["lv"]
    cc.agent_login(org, anna)
    call = cc.call_arrived(org, lv, "+37129000003")
    assert [r.agent_id for r in rings(control)] == [anna]
    cc.external_call_started(org, anna, "transfer:7", kind="transfer")
    assert [d for _, d in control.take() if isinstance(d, StopRinging)] == [
        StopRinging(anna, call)]
    assert logged(zv, "ring_no_answer") == []
    started = logged(zv, "external_call_started")[0]
    assert started.data["withdrawn_call_id"] == call
    cc.external_call_ended(org, anna, "transfer:7")
    cc.external_call_ended(org, anna, "transfer:7")  # a second end changes nothing
    assert [r.call_id for r in rings(control)] == [call]
    assert len(logged(zv, "external_call_ended")) == 1


def test_errors_are_typed_and_write_nothing(zv: Zvans, setup) -> None:
    cc, _clock, _control, ids = setup
    org, anna = ids["org"], ids["anna"]
    cc.agent_login(org, anna)
    before = len(logged(zv, "external_call_started", "external_call_ended"))
    cases = [
        (lambda: cc.external_call_started(org, 999_999, "x"), "no-such-agent"),
        (lambda: cc.external_call_started(org, ids["admin"], "x"), "not-an-agent"),
        (lambda: cc.external_call_ended(org, anna, "never"), "no-such-external-call"),
        (lambda: cc.external_call_started(org, anna, ""), "invalid-call-ref"),
    ]
    for command, code in cases:
        with pytest.raises(ZvansError) as info:
            command()
        assert info.value.code == code
    assert len(logged(zv, "external_call_started", "external_call_ended")) == before
    assert cc.agent_view(org, anna)["activity"] == "idle"
