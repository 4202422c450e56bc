"""Agents busy on calls the ACD did not route (click-to-call, transfer targets, conference
members, monitoring): never offered a call meanwhile; what follows when those calls end.
docs/decisions/0014-agent-busy-on-external-calls.md"""

from __future__ import annotations

import pytest

from tests.unit.core.helpers import Harness, decisions, events, only, state_of
from zvans.core.acd import Activity, Availability, Ring, StopRinging
from zvans.core.errors import CoreError
from zvans.core.events import EventType as T


def _activity(h: Harness, agent: int) -> Activity:
    return h.engine.agent_snapshot(agent).activity


def test_busy_agent_is_skipped_and_the_call_goes_to_the_free_one(h: Harness) -> None:
    h.queue(1)
    h.login(1, {1: 1})
    h.clock.advance(1)
    h.login(2, {1: 1})  # agent 1 has been idle longer: would be first
    out = h.engine.external_call_started(1, "click:7", kind="click", interaction_id=7)
    ev = only(events(out, T.EXTERNAL_CALL_STARTED))
    assert (ev.agent_id, ev.call_id) == (1, None)
    assert ev.data == {"ref": "click:7", "kind": "click", "calls": 1, "interaction_id": 7}
    snap = h.engine.agent_snapshot(1)
    assert snap.activity is Activity.ON_CALL and snap.call_id is None
    assert snap.external_calls == ("click:7",) and not snap.offerable
    _cid, out = h.call(1)
    assert only(decisions(out, Ring)).agent_id == 2  # type: ignore[attr-defined]


def test_only_agent_busy_call_waits_and_is_offered_when_the_external_call_ends(
    h: Harness,
) -> None:
    h.queue(1, wrapup_s=30)
    h.login(1, {1: 1})
    h.engine.external_call_started(1, "t1", kind="transfer")
    cid, out = h.call(1)
    assert not decisions(out, Ring)
    assert [w.call_id for w in h.engine.waiting(1)] == [cid]
    h.clock.advance(40)
    out = h.engine.external_call_ended(1, "t1")  # not an outgoing call: no wrap-up
    ended = only(events(out, T.EXTERNAL_CALL_ENDED))
    assert ended.data["talk_s"] == 40 and ended.data["kind"] == "transfer"
    ring = only(decisions(out, Ring))
    assert (ring.agent_id, ring.call_id) == (1, cid)  # type: ignore[attr-defined]


def test_outgoing_call_is_followed_by_the_queues_wrap_up_then_an_offer(h: Harness) -> None:
    h.queue(1, wrapup_s=30, aht_prior_s=100)
    h.login(1, {1: 1})
    h.engine.external_call_started(1, "click:5", kind="click", interaction_id=5)
    cid, _ = h.call(1)
    h.clock.advance(120)
    out = h.engine.external_call_ended(1, "click:5", wrapup_queue_id=1)
    assert not decisions(out, Ring)
    assert _activity(h, 1) is Activity.WRAP_UP
    out = h.advance(29.9)
    assert not out.decisions and _activity(h, 1) is Activity.WRAP_UP
    out = h.advance(0.1)
    done = only(events(out, T.WRAPUP_DONE))
    assert done.data == {"wrapup_s": 30.0, "direction": "out"} and done.queue_id == 1
    assert only(decisions(out, Ring)).call_id == cid  # type: ignore[attr-defined]
    # the outgoing call's talk and wrap-up are not inbound handle time (EWT's AHT)
    assert h.engine.queue_snapshot(1).aht_s == 100


def test_outgoing_call_wrap_up_until_the_card_is_saved(h: Harness) -> None:
    h.queue(1, wrapup_until_card=True)
    h.login(1, {1: 1})
    h.engine.external_call_started(1, "c", kind="click")
    h.engine.external_call_ended(1, "c", wrapup_queue_id=1)
    h.advance(3600)
    assert _activity(h, 1) is Activity.WRAP_UP
    h.engine.wrapup_done(1)
    assert h.engine.agent_snapshot(1).offerable


def test_unanswered_outgoing_call_has_no_wrap_up(h: Harness) -> None:
    h.queue(1, wrapup_s=30)
    h.login(1, {1: 1})
    h.engine.external_call_started(1, "c", kind="click")
    h.engine.external_call_ended(1, "c")  # the adapter gives no queue: nobody answered
    assert h.engine.agent_snapshot(1).offerable


def test_paused_agent_returns_to_the_same_pause_without_wrap_up(h: Harness) -> None:
    h.queue(1, wrapup_s=30)
    h.login(1, {1: 1})
    h.engine.agent_pause(1, "card filling")
    h.engine.external_call_started(1, "c", kind="click")
    snap = h.engine.agent_snapshot(1)
    assert (snap.availability, snap.activity) == (Availability.PAUSED, Activity.ON_CALL)
    h.call(1)
    out = h.engine.external_call_ended(1, "c", wrapup_queue_id=1)
    snap = h.engine.agent_snapshot(1)
    assert (snap.availability, snap.activity, snap.pause_reason) == (
        Availability.PAUSED, Activity.IDLE, "card filling")
    assert not out.decisions and not events(out, T.AGENT_PAUSED, T.AGENT_READY)


def test_ringing_offer_is_withdrawn_without_a_miss_and_keeps_its_place(h: Harness) -> None:
    h.queue(1)
    h.login(1, {1: 1})
    first, out = h.call(1)
    assert only(decisions(out, Ring)).agent_id == 1  # type: ignore[attr-defined]
    h.clock.advance(5)
    second, _ = h.call(1)
    out = h.engine.external_call_started(1, "c", kind="click")
    assert decisions(out, StopRinging) == [StopRinging(1, first)]
    assert not events(out, T.RING_NO_ANSWER)
    assert only(events(out, T.EXTERNAL_CALL_STARTED)).data["withdrawn_call_id"] == first
    assert h.engine.agent_snapshot(1).ring_misses == 0
    assert [(w.call_id, w.position) for w in h.engine.waiting(1)] == [(first, 1), (second, 2)]
    out = h.engine.external_call_ended(1, "c")
    assert only(decisions(out, Ring)).call_id == first  # type: ignore[attr-defined]


def test_withdrawn_offer_goes_to_the_next_free_agent(h: Harness) -> None:
    h.queue(1)
    h.login(1, {1: 1})
    h.clock.advance(1)
    h.login(2, {1: 1})
    cid, _ = h.call(1)
    out = h.engine.external_call_started(1, "c")
    ring = only(decisions(out, Ring))
    assert (ring.agent_id, ring.call_id) == (2, cid)  # type: ignore[attr-defined]


def test_several_external_calls_keep_the_agent_busy_until_the_last_ends(h: Harness) -> None:
    h.queue(1, wrapup_s=10)
    h.login(1, {1: 1})
    h.engine.external_call_started(1, "a", kind="click")
    h.engine.external_call_started(1, "b", kind="conference")
    cid, _ = h.call(1)
    out = h.engine.external_call_ended(1, "a", wrapup_queue_id=1)
    assert not out.decisions and _activity(h, 1) is Activity.ON_CALL
    assert h.engine.agent_snapshot(1).external_calls == ("b",)
    h.engine.external_call_ended(1, "b")
    assert _activity(h, 1) is Activity.WRAP_UP  # the outgoing call's wrap-up still follows
    out = h.advance(10)
    assert only(decisions(out, Ring)).call_id == cid  # type: ignore[attr-defined]


def test_acd_call_ending_during_an_external_call_leaves_the_agent_busy(h: Harness) -> None:
    h.queue(1, wrapup_s=10)
    h.login(1, {1: 1})
    first, _ = h.call(1)
    h.engine.offer_answered(1, first)
    h.engine.external_call_started(1, "conf", kind="conference")
    h.engine.agent_pause(1, "lunch")  # asked during the ACD call: pending
    h.clock.advance(30)
    h.engine.call_ended(first)
    assert _activity(h, 1) is Activity.WRAP_UP
    second, _ = h.call(1)
    out = h.advance(10)  # wrap-up over, the external call goes on: busy, pause still pending
    assert not decisions(out, Ring) and _activity(h, 1) is Activity.ON_CALL
    assert h.engine.agent_snapshot(1).pending_pause == "lunch"
    out = h.engine.external_call_ended(1, "conf")  # now the pause asked for applies
    snap = h.engine.agent_snapshot(1)
    assert (snap.availability, snap.pause_reason, snap.activity) == (
        Availability.PAUSED, "lunch", Activity.IDLE)
    assert not decisions(out, Ring)
    h.engine.agent_ready(1)
    assert h.engine.call_snapshot(second).agent_id == 1


def test_pause_and_logout_during_an_external_call_apply_at_once(h: Harness) -> None:
    h.queue(1)
    h.login(1, {1: 1})
    h.engine.external_call_started(1, "c")
    out = h.engine.agent_pause(1, "lunch")
    assert only(events(out, T.AGENT_PAUSED)).data == {"reason": "lunch"}
    out = h.engine.agent_logout(1)
    assert events(out, T.AGENT_LOGOUT)
    assert h.engine.agent_snapshot(1).availability is Availability.LOGGED_OUT
    cid, _ = h.call(1)
    out = h.engine.agent_login(1, {1: 1})  # logs in while still on the external call
    assert not decisions(out, Ring) and _activity(h, 1) is Activity.ON_CALL
    out = h.engine.external_call_ended(1, "c")
    assert only(decisions(out, Ring)).call_id == cid  # type: ignore[attr-defined]


def test_logged_out_agent_external_call_is_tracked(h: Harness) -> None:
    h.queue(1)
    h.engine.set_agent_skills(1, {1: 1})
    h.engine.external_call_started(1, "monitor:9", kind="monitor")
    h.engine.external_call_ended(1, "monitor:9")
    snap = h.engine.agent_snapshot(1)
    assert (snap.availability, snap.activity) == (Availability.LOGGED_OUT, Activity.IDLE)


def test_errors_change_nothing_and_end_is_idempotent(h: Harness) -> None:
    h.queue(1)
    h.login(1, {1: 1})
    h.engine.external_call_started(1, "c")
    before = state_of(h.engine)
    bad = [
        (lambda: h.engine.external_call_started(99, "x"), "no-such-agent"),
        (lambda: h.engine.external_call_started(1, " "), "invalid-call-ref"),
        (lambda: h.engine.external_call_started(1, "c"), "external-call-exists"),
        (lambda: h.engine.external_call_ended(99, "c"), "no-such-agent"),
        (lambda: h.engine.external_call_ended(1, "nope"), "no-such-external-call"),
        (lambda: h.engine.external_call_ended(1, "c", wrapup_queue_id=42), "no-such-queue"),
    ]
    for command, code in bad:
        with pytest.raises(CoreError) as info:
            command()
        assert info.value.code == code
        assert state_of(h.engine) == before
    h.engine.external_call_ended(1, "c")
    after = state_of(h.engine)
    again = h.engine.external_call_ended(1, "c")  # a second BYE, a retry: nothing happens
    assert not again.events and not again.decisions and state_of(h.engine) == after
    # the same reference may be used again later (a new call)
    h.engine.external_call_started(1, "c")
    assert _activity(h, 1) is Activity.ON_CALL
