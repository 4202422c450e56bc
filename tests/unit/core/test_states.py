from __future__ import annotations

import pytest

from zvans.core.acd.states import (
    ACTIVITY_MOVES,
    AVAILABILITY_MOVES,
    CALL_MOVES,
    TERMINAL_CALL_STATES,
    Activity,
    Availability,
    CallState,
    check_activity,
    check_availability,
    check_call,
)
from zvans.core.errors import InvalidTransition
from zvans.core.events import EventType


@pytest.mark.parametrize(
    ("check", "moves", "enum"),
    [
        (check_availability, AVAILABILITY_MOVES, Availability),
        (check_activity, ACTIVITY_MOVES, Activity),
        (check_call, CALL_MOVES, CallState),
    ],
)
def test_every_pair_is_checked(check, moves, enum) -> None:  # type: ignore[no-untyped-def]
    for a in enum:
        for b in enum:
            if b in moves[a]:
                check(a, b)
            else:
                with pytest.raises(InvalidTransition):
                    check(a, b)


def test_some_moves() -> None:
    check_activity(Activity.IDLE, Activity.ON_CALL)  # an external call (no ring first)
    with pytest.raises(InvalidTransition):
        check_activity(Activity.WRAP_UP, Activity.ON_CALL)
    with pytest.raises(InvalidTransition):
        check_call(CallState.COMPLETED, CallState.QUEUED)
    check_call(CallState.CALLBACK_WAITING, CallState.CALLBACK_DIALING)
    assert CallState.ABANDONED in TERMINAL_CALL_STATES
    assert CallState.QUEUED not in TERMINAL_CALL_STATES


def test_event_types_include_design_list() -> None:
    design = (
        "arrived, ivr_entered, ivr_choice, ivr_abandoned, out_of_hours, enqueued, offered, "
        "ring_no_answer, answered, abandoned, overflowed, callback_requested, callback_started, "
        "voicemail_left, held, resumed, transferred, conferenced, completed, wrapup_done, rated, "
        "agent_login, agent_logout, agent_paused, agent_ready, desktop_connected, desktop_lost"
    )
    names = {e.value for e in EventType}
    assert {n.strip() for n in design.split(",")} <= names


def test_make_event_is_an_ordinary_frozen_event() -> None:
    import dataclasses

    from zvans.core.events import DomainEvent, make_event

    fast = make_event(EventType.ANSWERED, 5.0, 1, 2, 3, {"wait_s": 4.0})
    slow = DomainEvent(EventType.ANSWERED, 5.0, 1, 2, 3, {"wait_s": 4.0})
    assert fast == slow and repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.at = 6.0  # type: ignore[misc]


def test_fast_constructors_match_the_dataclasses() -> None:
    import dataclasses

    from zvans.core.acd.decisions import Ring, make_ring
    from zvans.core.events import DomainEvent, emit

    assert make_ring(1, 2, 3, 15.0) == Ring(1, 2, 3, 15.0)
    assert repr(make_ring(1, 2, 3, 15.0)) == repr(Ring(1, 2, 3, 15.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_ring(1, 2, 3, 15.0).agent_id = 5  # type: ignore[misc]
    out: list[DomainEvent] = []
    emit(out, EventType.OFFERED, 1.0, 7, 8, 9, timeout_s=15.0)
    assert out == [DomainEvent(EventType.OFFERED, 1.0, 7, 8, 9, {"timeout_s": 15.0})]
    from zvans.core.acd.decisions import Outcome, new_outcome

    a, b = new_outcome(), new_outcome()
    assert a == Outcome() and a.events is not b.events and a.decisions is not b.decisions
