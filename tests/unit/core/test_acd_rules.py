"""One test group per routing rule of issue 3, on a virtual clock."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.unit.core.helpers import MONDAY_10, Harness, decisions, events, only
from zvans.core.acd import (
    Activity,
    Announce,
    Availability,
    EngineConfig,
    Overflow,
    Ring,
    StartCallback,
    StopRinging,
    Strategy,
    ToVoicemail,
)
from zvans.core.calendar import BusinessHours
from zvans.core.events import EventType as E


def ring_of(out) -> Ring:  # type: ignore[no-untyped-def]
    return only(decisions(out, Ring))  # type: ignore[return-value]


# ---------------------------------------------------------------- rule 1: skill levels
class TestSkillLevels:
    def test_primary_queue_first_even_if_other_call_waited_longer(self, h: Harness) -> None:
        h.queue(1)  # English
        h.queue(2)  # Latvian
        _lv, _ = h.call(2)
        h.advance(10)
        en, _ = h.call(1)
        h.advance(10)
        out = h.login(7, {1: 1, 2: 2})  # native English speaker
        assert ring_of(out).call_id == en

    def test_secondary_queue_served_when_primary_is_empty(self, h: Harness) -> None:
        h.queue(1)
        h.queue(2)
        lv, _ = h.call(2)
        out = h.login(7, {1: 1, 2: 2})
        assert ring_of(out).call_id == lv

    def test_equal_levels_take_longest_waiting_across_queues(self, h: Harness) -> None:
        h.queue(1)
        h.queue(2)
        first, _ = h.call(2)
        h.advance(5)
        h.call(1)
        out = h.login(7, {1: 1, 2: 1})
        assert ring_of(out).call_id == first

    def test_arriving_call_prefers_primary_agent(self, h: Harness) -> None:
        h.queue(1)
        h.queue(2)
        h.login(7, {1: 1, 2: 2})  # idle longer, but level 2 on queue 2
        h.advance(60)
        h.login(8, {2: 1})
        _, out = h.call(2)
        assert ring_of(out).agent_id == 8

    def test_level_two_agent_used_when_no_primary_agent_free(self, h: Harness) -> None:
        h.queue(1)
        h.queue(2)
        h.login(7, {1: 1, 2: 2})
        _, out = h.call(2)
        assert ring_of(out).agent_id == 7


# ---------------------------------------------------------------- rule 2: agent choice
def _finish(h: Harness, out) -> int:  # type: ignore[no-untyped-def]
    r = ring_of(out)
    h.handle(r.agent_id, r.call_id, talk=10)
    return r.agent_id


class TestStrategies:
    def test_longest_idle(self, h: Harness) -> None:
        h.queue(1, strategy=Strategy.LONGEST_IDLE)
        for a in (1, 2, 3):
            h.login(a, {1: 1})
            h.advance(1)
        order = [_finish(h, h.call(1)[1]) for _ in range(4)]
        assert order == [1, 2, 3, 1]

    def test_round_robin(self, h: Harness) -> None:
        h.queue(1, strategy=Strategy.ROUND_ROBIN)
        for a in (3, 1, 2):
            h.login(a, {1: 1})
        order = [_finish(h, h.call(1)[1]) for _ in range(6)]
        assert order[:3] == sorted(order[:3]) == [1, 2, 3]
        assert order[3:] == order[:3]

    def test_fewest_calls_today(self, h: Harness) -> None:
        h.queue(1, strategy=Strategy.LINEAR)
        h.queue(2, strategy=Strategy.FEWEST_CALLS)
        h.login(1, {1: 1, 2: 1})
        h.login(2, {1: 1, 2: 1})
        for _ in range(2):  # linear queue gives agent 1 two calls
            assert _finish(h, h.call(1)[1]) == 1
        h.advance(100)  # agent 2 is now idle much longer than agent 1... and has fewer calls
        h.engine.agent_pause(2, "lunch")
        h.engine.agent_ready(2)  # agent 2 now idle for less time than agent 1
        h.advance(1)
        _, out = h.call(2)
        assert ring_of(out).agent_id == 2

    def test_fewest_calls_resets_at_midnight(self) -> None:
        h = Harness(EngineConfig(timezone="Europe/Riga"))
        h.queue(1, strategy=Strategy.LINEAR)
        h.queue(2, strategy=Strategy.FEWEST_CALLS)
        h.login(1, {1: 1, 2: 1})
        h.login(2, {1: 1, 2: 1})
        _finish(h, h.call(1)[1])  # agent 1: one call today
        h.engine.agent_pause(2, "x")
        h.advance(86400)  # next day
        h.engine.agent_ready(2)
        _, out = h.call(2)
        assert ring_of(out).agent_id == 1  # counts reset: tie, agent 1 idle longer

    def test_least_talk_time(self, h: Harness) -> None:
        h.queue(1, strategy=Strategy.LINEAR)
        h.queue(2, strategy=Strategy.LEAST_TALK_TIME)
        h.login(1, {1: 1, 2: 1})
        h.login(2, {1: 1, 2: 1})
        r = ring_of(h.call(1)[1])
        h.handle(r.agent_id, r.call_id, talk=300)  # agent 1: one long call
        h.engine.agent_pause(1, "x")
        for _ in range(3):  # agent 2: three short calls
            r = ring_of(h.call(1)[1])
            assert r.agent_id == 2
            h.handle(2, r.call_id, talk=10)
        h.engine.agent_ready(1)
        h.advance(1)
        _, out = h.call(2)
        assert ring_of(out).agent_id == 2

    def test_linear_fixed_order(self, h: Harness) -> None:
        h.queue(1, strategy=Strategy.LINEAR)
        for a in (3, 2, 1):
            h.login(a, {1: 1})
        assert [_finish(h, h.call(1)[1]) for _ in range(3)] == [1, 1, 1]

    def test_change_strategy_rekeys_free_agents(self, h: Harness) -> None:
        h.queue(1, strategy=Strategy.LONGEST_IDLE)
        for a in (3, 2, 1):
            h.login(a, {1: 1})
            h.advance(1)
        h.queue(1, strategy=Strategy.LINEAR)
        assert ring_of(h.call(1)[1]).agent_id == 1

    def test_paused_and_logged_out_agents_are_not_offered(self, h: Harness) -> None:
        h.queue(1)
        h.login(1, {1: 1})
        h.login(2, {1: 1})
        h.login(3, {1: 1})
        h.engine.agent_pause(1, "lunch")
        h.engine.agent_logout(2)
        assert ring_of(h.call(1)[1]).agent_id == 3
        _, out = h.call(1)
        assert decisions(out, Ring) == []

    def test_lost_desktop_offered_until_limit(self, h: Harness) -> None:
        h.queue(1)
        h.login(1, {1: 1})
        h.engine.desktop_connected(1)
        h.advance(1)
        h.login(2, {1: 1})
        h.engine.desktop_lost(1)
        h.advance(899)
        r = ring_of(h.call(1)[1])
        assert r.agent_id == 1  # panel closed < 15 min: calls keep coming
        h.engine.offer_rejected(1, r.call_id)  # (rings agent 2 next)
        h.advance(2)  # now 901 s without a panel
        assert not h.engine.agent_snapshot(1).offerable
        assert h.engine.agent_snapshot(1).availability is Availability.READY
        h.engine.offer_answered(2, r.call_id)
        _, out = h.call(1)
        assert decisions(out, Ring) == []  # agent 1 is ready but not offered
        out = h.engine.desktop_connected(1)
        assert ring_of(out).agent_id == 1


# ---------------------------------------------------------------- rule 3: one phone at a time
class TestOnePhoneAtATime:
    def test_one_ring_then_next_agent_on_no_answer(self, h: Harness) -> None:
        h.queue(1, ring_timeout_s=15)
        for a in (1, 2, 3):
            h.login(a, {1: 1})
            h.advance(1)
        cid, out = h.call(1)
        assert decisions(out, Ring) == [Ring(1, cid, 1, 15)]
        assert h.advance(14).decisions == []
        out = h.advance(1)
        assert out.decisions == [StopRinging(1, cid), Ring(2, cid, 1, 15)]
        assert [e.agent_id for e in events(out, E.RING_NO_ANSWER)] == [1]

    def test_reject_goes_to_next_agent(self, h: Harness) -> None:
        h.queue(1)
        h.login(1, {1: 1})
        h.login(2, {1: 1})
        cid, _ = h.call(1)
        out = h.engine.offer_rejected(1, cid)
        assert ring_of(out) == Ring(2, cid, 1, 20.0)

    def test_auto_pause_after_n_misses(self) -> None:
        h = Harness(EngineConfig(max_ring_misses=2))
        h.queue(1, ring_timeout_s=10)
        h.login(1, {1: 1})
        cid, _ = h.call(1)
        out = h.advance(10)  # miss 1: nobody else, rings agent 1 again
        assert ring_of(out).agent_id == 1
        assert h.engine.agent_snapshot(1).availability is Availability.READY
        out = h.engine.offer_rejected(1, cid)  # miss 2 (a rejection counts)
        assert [(e.type, e.data.get("reason")) for e in events(out, E.AGENT_PAUSED)] == [
            (E.AGENT_PAUSED, "no answer")
        ]
        snap = h.engine.agent_snapshot(1)
        assert snap.availability is Availability.PAUSED and snap.pause_reason == "no answer"
        assert [w.call_id for w in h.engine.waiting(1)] == [cid]
        assert h.advance(100).decisions == []

    def test_answer_resets_miss_count(self) -> None:
        h = Harness(EngineConfig(max_ring_misses=2))
        h.queue(1, ring_timeout_s=10)
        h.login(1, {1: 1})
        cid, _ = h.call(1)
        h.advance(10)  # one miss, rung again
        h.handle(1, cid)
        _cid2, _ = h.call(1)
        h.advance(10)  # one miss again: not paused since the answer reset it
        assert h.engine.agent_snapshot(1).availability is Availability.READY


# ---------------------------------------------------------------- rule 4: priority
class TestPriority:
    def test_bonus_raises_call(self, h: Harness) -> None:
        h.queue(1)
        _plain, _ = h.call(1)
        h.advance(10)
        vip, out = h.call(1, bonus=30)
        assert only(decisions(out, Announce)).position == 1  # type: ignore[attr-defined]
        assert ring_of(h.login(1, {1: 1})).call_id == vip

    def test_no_starvation(self, h: Harness) -> None:
        h.queue(1)
        old, _ = h.call(1)
        h.advance(50)
        for _ in range(5):
            h.call(1, bonus=30)  # each only 20 s ahead of arrival time: behind the old call
        assert ring_of(h.login(1, {1: 1})).call_id == old
        positions = [w.call_id for w in sorted(h.engine.waiting(1), key=lambda w: w.position)]
        assert old not in positions


# ---------------------------------------------------------------- rule 5: sticky agent
class TestStickyAgent:
    def _serve_once(self, h: Harness, agent: int, caller: str) -> None:
        cid, out = h.call(1, caller=caller)
        assert ring_of(out).agent_id == agent
        h.handle(agent, cid)

    def test_repeat_caller_goes_to_previous_agent(self, h: Harness) -> None:
        h.queue(1, strategy=Strategy.LINEAR)
        h.login(1, {1: 1})
        h.login(2, {1: 1})
        h.engine.agent_pause(1, "x")
        self._serve_once(h, 2, "+37120000001")
        h.engine.agent_ready(1)
        _, out = h.call(1, caller="+37120000001")
        assert ring_of(out).agent_id == 2  # linear would pick agent 1

    def test_waits_for_busy_previous_agent(self, h: Harness) -> None:
        h.queue(1, sticky_wait_s=30)
        h.login(2, {1: 1})
        self._serve_once(h, 2, "+37120000001")
        other, _ = h.call(1)  # agent 2 busy with another call
        h.engine.offer_answered(2, other)
        h.login(1, {1: 1})
        cid, out = h.call(1, caller="+37120000001")
        assert decisions(out, Ring) == []  # agent 1 is free but the caller waits for agent 2
        h.advance(20)
        out = h.engine.call_ended(other)
        assert ring_of(out) == Ring(2, cid, 1, 20.0)

    def test_falls_back_to_anyone_after_sticky_wait(self, h: Harness) -> None:
        h.queue(1, sticky_wait_s=30)
        h.login(2, {1: 1})
        self._serve_once(h, 2, "+37120000001")
        other, _ = h.call(1)
        h.engine.offer_answered(2, other)
        h.login(1, {1: 1})
        cid, _ = h.call(1, caller="+37120000001")
        assert h.advance(29).decisions == []
        assert ring_of(h.advance(1)) == Ring(1, cid, 1, 20.0)

    def test_forgotten_after_sticky_days(self) -> None:
        h = Harness(EngineConfig(sticky_days=1))
        h.queue(1, strategy=Strategy.LINEAR)
        h.login(1, {1: 1})
        h.login(2, {1: 1})
        h.engine.agent_pause(1, "x")
        self._serve_once(h, 2, "+37120000001")
        h.engine.agent_ready(1)
        h.advance(2 * 86400)
        _, out = h.call(1, caller="+37120000001")
        assert ring_of(out).agent_id == 1

    def test_callback_while_held_for_sticky_agent_goes_to_a_free_agent(self, h: Harness) -> None:
        h.queue(1, sticky_wait_s=30)
        h.login(2, {1: 1})
        self._serve_once(h, 2, "+37120000001")
        other, _ = h.call(1)
        h.engine.offer_answered(2, other)
        h.login(1, {1: 1})
        cid, _ = h.call(1, caller="+37120000001")  # held for busy agent 2, agent 1 free
        out = h.engine.callback_requested(cid, "+37120000001")
        assert out.decisions == [StartCallback(cid, 1, "+37120000001")]

    def test_sticky_memory_is_bounded(self) -> None:
        h = Harness(EngineConfig(sticky_days=1))
        h.queue(1)
        h.login(1, {1: 1})
        for i in range(50):
            cid, _ = h.call(1, caller=f"+3712100{i:04d}")
            h.handle(1, cid, talk=3600)  # 50 distinct callers over ~2 days
        assert len(h.engine._sticky) <= 26


# ---------------------------------------------------------------- rule 6: wrap-up
class TestWrapUp:
    def test_timed_wrapup_delays_next_offer(self, h: Harness) -> None:
        h.queue(1, wrapup_s=30)
        h.login(1, {1: 1})
        cid, _ = h.call(1)
        h.handle(1, cid)
        assert h.engine.agent_snapshot(1).activity is Activity.WRAP_UP
        nxt, out = h.call(1)
        assert decisions(out, Ring) == []
        assert h.advance(29).decisions == []
        out = h.advance(1)
        assert [e.type for e in out.events][:1] == [E.WRAPUP_DONE]
        assert ring_of(out) == Ring(1, nxt, 1, 20.0)

    def test_wrapup_until_card_saved(self, h: Harness) -> None:
        h.queue(1, wrapup_until_card=True, wrapup_s=10)
        h.login(1, {1: 1})
        cid, _ = h.call(1)
        h.handle(1, cid)
        nxt, _ = h.call(1)
        assert h.advance(3600).decisions == []
        assert h.engine.agent_snapshot(1).activity is Activity.WRAP_UP
        out = h.engine.wrapup_done(1)
        assert ring_of(out).call_id == nxt

    def test_pause_during_call_takes_effect_after_wrapup(self, h: Harness) -> None:
        h.queue(1, wrapup_s=10)
        h.login(1, {1: 1})
        cid, _ = h.call(1)
        h.engine.offer_answered(1, cid)
        out = h.engine.agent_pause(1, "lunch")
        assert out.events == [] and out.decisions == []
        snap = h.engine.agent_snapshot(1)
        assert snap.availability is Availability.READY and snap.pending_pause == "lunch"
        h.clock.advance(60)
        h.engine.call_ended(cid)
        h.call(1)
        out = h.advance(10)
        assert [(e.type, e.data.get("reason")) for e in events(out, E.AGENT_PAUSED)] == [
            (E.AGENT_PAUSED, "lunch")
        ]
        assert decisions(out, Ring) == []
        assert h.engine.agent_snapshot(1).availability is Availability.PAUSED

    def test_logout_during_call_takes_effect_after(self, h: Harness) -> None:
        h.queue(1)
        h.login(1, {1: 1})
        cid, _ = h.call(1)
        h.engine.offer_answered(1, cid)
        assert h.engine.agent_logout(1).events == []
        h.call(1)
        out = h.engine.call_ended(cid)
        assert events(out, E.AGENT_LOGOUT) and not decisions(out, Ring)


# ---------------------------------------------------------------- rule 7: overflow and limits
class TestOverflow:
    def test_max_wait_to_other_queue(self, h: Harness) -> None:
        h.queue(1, max_wait_s=60, overflow_target="queue:2")
        h.queue(2)
        cid, _ = h.call(1)
        h.login(9, {2: 1})  # only in the overflow queue
        assert h.advance(59).decisions == []
        out = h.advance(1)
        assert decisions(out, Overflow) == [Overflow(cid, "queue:2")]
        assert ring_of(out) == Ring(9, cid, 2, 20.0)
        assert events(out, E.OVERFLOWED)[0].data["reason"] == "max-wait"

    def test_max_wait_to_voicemail(self, h: Harness) -> None:
        h.queue(1, max_wait_s=60, overflow_target="voicemail")
        cid, _ = h.call(1)
        out = h.advance(60)
        assert decisions(out, ToVoicemail) == [ToVoicemail(cid, "max-wait")]
        assert h.engine.waiting(1) == []
        assert h.engine.voicemail_left(cid).events[0].type is E.VOICEMAIL_LEFT

    def test_max_wait_while_ringing_applies_when_ring_ends(self, h: Harness) -> None:
        h.queue(1, max_wait_s=30, ring_timeout_s=20, overflow_target="voicemail")
        h.login(1, {1: 1})
        h.engine.agent_pause(1, "x")
        cid, _ = h.call(1)
        h.advance(25)
        out = h.engine.agent_ready(1)
        assert ring_of(out).call_id == cid
        assert h.advance(10).decisions == []  # t=35: still ringing
        out = h.advance(10)  # ring timeout at t=45 → overflow instead of requeue
        assert decisions(out, ToVoicemail) == [ToVoicemail(cid, "max-wait")]

    def test_max_length(self, h: Harness) -> None:
        h.queue(1, max_length=2, overflow_target="queue:2")
        h.queue(2)
        h.call(1)
        h.call(1)
        cid, out = h.call(1)
        assert decisions(out, Overflow) == [Overflow(cid, "queue:2")]
        assert [w.call_id for w in h.engine.waiting(2)] == [cid]
        assert len(h.engine.waiting(1)) == 2

    @pytest.mark.parametrize(
        ("action", "target", "expected"),
        [
            ("voicemail", "queue:2", [Overflow, ToVoicemail]),
            ("overflow", "queue:2", [Overflow, Announce]),
            ("overflow", None, [Overflow, ToVoicemail]),
            ("wait", "queue:2", [Announce]),
        ],
    )
    def test_no_agents_logged_in(
        self, h: Harness, action: str, target: str | None, expected: list[type]
    ) -> None:
        h.queue(1, no_agents_action=action, overflow_target=target)
        h.queue(2)
        _, out = h.call(1)
        assert [type(d) for d in out.decisions] == expected

    def test_paused_agents_count_as_logged_in(self, h: Harness) -> None:
        h.queue(1, no_agents_action="voicemail")
        h.login(1, {1: 1})
        h.engine.agent_pause(1, "lunch")
        _, out = h.call(1)
        assert [type(d) for d in out.decisions] == [Announce]


# ---------------------------------------------------------------- rule 8: callback
class TestCallback:
    def test_callback_keeps_place_and_is_not_an_abandon(self, h: Harness) -> None:
        h.queue(1)
        a, _ = h.call(1)
        h.advance(1)
        b, _ = h.call(1)
        h.advance(1)
        c, _ = h.call(1)
        h.advance(10)  # asking later must not move the caller back
        out = h.engine.callback_requested(b, "+37129999999")
        assert events(out, E.CALLBACK_REQUESTED) and not events(out, E.ABANDONED)
        assert [(w.call_id, w.position) for w in h.engine.waiting(1)] == [(a, 1), (b, 2), (c, 3)]
        assert ring_of(h.login(1, {1: 1})).call_id == a
        out = h.login(2, {1: 1})
        assert out.decisions == [StartCallback(b, 2, "+37129999999")]
        assert events(out, E.CALLBACK_STARTED)
        out = h.engine.callback_answered(b)
        assert events(out, E.ANSWERED)[0].data["callback"] is True
        assert h.engine.agent_snapshot(2).activity is Activity.ON_CALL
        out = h.engine.call_ended(b)
        assert ring_of(out).call_id == c

    def test_failed_callback_retries_at_same_place(self) -> None:
        h = Harness(EngineConfig(callback_retry_s=300, max_callback_attempts=2))
        h.queue(1)
        b, _ = h.call(1)
        h.engine.callback_requested(b, "+37129999999")
        h.advance(100)
        late, _ = h.call(1)
        h.login(1, {1: 1})
        out = h.engine.callback_failed(b)
        assert events(out, E.CALLBACK_FAILED)[0].data["final"] is False
        assert ring_of(out).call_id == late  # the callback rests for 5 minutes
        h.handle(1, late)
        out = h.advance(300)
        assert out.decisions == [StartCallback(b, 1, "+37129999999")]
        out = h.engine.callback_failed(b)
        assert events(out, E.CALLBACK_FAILED)[0].data["final"] is True
        assert h.engine.call_ids() == []

    def test_callback_dial_timeout(self) -> None:
        h = Harness(EngineConfig(callback_timeout_s=60))
        h.queue(1)
        b, _ = h.call(1)
        h.engine.callback_requested(b, "+37129999999")
        h.login(1, {1: 1})
        out = h.advance(60)
        assert events(out, E.CALLBACK_FAILED)[0].data["reason"] == "timeout"
        assert h.engine.agent_snapshot(1).activity is Activity.IDLE

    def test_callback_not_overflowed_by_max_wait(self, h: Harness) -> None:
        h.queue(1, max_wait_s=30, overflow_target="voicemail")
        b, _ = h.call(1)
        h.engine.callback_requested(b, "+37129999999")
        assert h.advance(600).decisions == []
        assert [w.call_id for w in h.engine.waiting(1)] == [b]


# ---------------------------------------------------------------- rule 9: business hours
HOURS = BusinessHours.from_spec(
    {d: [("08:00", "17:00")] for d in range(5)},
    holidays=["2026-11-18"],
    tz="Europe/Riga",
)


class TestBusinessHours:
    def test_out_of_hours_goes_to_voicemail_even_with_free_agents(self) -> None:
        sat = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC).timestamp()
        h = Harness(start=sat)
        h.queue(1, hours=HOURS)
        h.login(1, {1: 1})
        cid, out = h.call(1)
        assert out.decisions == [ToVoicemail(cid, "out-of-hours")]
        assert (
            events(out, E.OUT_OF_HOURS)[0].data["next_opening"]
            == dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC).timestamp()
        )  # Monday 08:00 in Riga

    def test_holiday_is_closed(self) -> None:
        wed_holiday = dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.UTC).timestamp()
        h = Harness(start=wed_holiday)
        h.queue(1, hours=HOURS)
        h.login(1, {1: 1})
        _, out = h.call(1)
        assert [type(d) for d in out.decisions] == [ToVoicemail]

    def test_open_hours_route_normally(self, h: Harness) -> None:
        h.queue(1, hours=HOURS)  # Monday 10:00 UTC = 12:00 Riga
        h.login(1, {1: 1})
        _, out = h.call(1)
        assert ring_of(out).agent_id == 1

    def test_after_hours_callback_on_next_working_day(self) -> None:
        fri_evening = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC).timestamp()
        h = Harness(start=fri_evening)
        h.queue(1, hours=HOURS, out_of_hours_action="callback")
        h.login(1, {1: 1})
        cid, out = h.call(1)
        assert out.decisions == []
        h.engine.callback_requested(cid, "+37120000002")
        monday_8 = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC).timestamp()
        assert h.engine.next_deadline() == monday_8
        h.clock.set(monday_8 - 1)
        assert h.engine.tick().decisions == []
        h.clock.set(monday_8)
        assert h.engine.tick().decisions == [StartCallback(cid, 1, "+37120000002")]


# ---------------------------------------------------------------- rule 10: EWT
class TestEstimatedWait:
    def _busy_queue(self, h: Harness, agents: int, **kw: object) -> None:
        h.queue(1, **kw)
        for a in range(1, agents + 1):
            h.login(a, {1: 1})
            cid, _ = h.call(1)
            h.engine.offer_answered(a, cid)

    def test_position_and_ewt_on_entry(self, h: Harness) -> None:
        self._busy_queue(h, 2, aht_prior_s=180)
        anns = [only(decisions(h.call(1)[1], Announce)) for _ in range(3)]
        assert [(a.position, a.ewt_s) for a in anns] == [(1, 90.0), (2, 180.0), (3, 270.0)]  # type: ignore[attr-defined]
        waiting = h.engine.waiting(1)
        assert [(w.position, w.ewt_s) for w in waiting] == [(1, 90.0), (2, 180.0), (3, 270.0)]

    def test_aht_is_learned_from_handled_calls(self, h: Harness) -> None:
        h.queue(1, aht_prior_s=180, wrapup_s=20)
        h.login(1, {1: 1})
        for _ in range(5):
            cid, _ = h.call(1)
            h.handle(1, cid, talk=40)
            h.advance(20)  # wrap-up: handle time = 40 + 20
        cid, _ = h.call(1)
        h.engine.offer_answered(1, cid)
        ann = only(decisions(h.call(1)[1], Announce))
        assert ann.ewt_s == pytest.approx(60.0)  # type: ignore[attr-defined]
        assert h.engine.queue_snapshot(1).aht_s == pytest.approx(60.0)

    def test_abandonment_shortens_the_estimate(self, h: Harness) -> None:
        self._busy_queue(h, 1, aht_prior_s=100)
        calls = [h.call(1)[0] for _ in range(10)]
        before = h.engine.waiting(1)[-1].ewt_s
        h.advance(100)
        for cid in calls[:5]:
            h.engine.caller_abandoned(cid)
        after = h.engine.waiting(1)[-1]
        assert after.position == 5
        assert after.ewt_s < 5 * 100.0 and before == pytest.approx(1000.0)
        assert h.engine.queue_snapshot(1).abandon_rate_per_s > 0

    def test_periodic_announcements(self, h: Harness) -> None:
        self._busy_queue(h, 1, announce_every_s=60)
        cid, _ = h.call(1)
        assert h.advance(59).decisions == []
        assert [d.call_id for d in decisions(h.advance(1), Announce)] == [cid]  # type: ignore[attr-defined]

    def test_queue_snapshot(self, h: Harness) -> None:
        self._busy_queue(h, 2, aht_prior_s=120)
        h.call(1)
        h.advance(30)
        h.call(1)
        snap = h.engine.queue_snapshot(1)
        assert (snap.waiting, snap.oldest_wait_s, snap.agents_ready, snap.agents_free) == (
            2,
            30.0,
            2,
            0,
        )
        assert snap.ewt_s == pytest.approx(180.0)


def test_monday_constant_is_a_monday() -> None:
    assert dt.datetime.fromtimestamp(MONDAY_10, dt.UTC).weekday() == 0
