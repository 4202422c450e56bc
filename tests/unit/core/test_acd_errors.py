"""Bad commands raise a typed CoreError and change nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.unit.core.helpers import Harness, state_of
from zvans.core.acd import Engine, QueueConfig
from zvans.core.errors import CoreError, InvalidTransition


@pytest.fixture
def busy() -> Harness:
    """Two queues, three agents in various states, calls waiting and ringing."""
    h = Harness()
    h.queue(1, wrapup_s=30)
    h.queue(2, max_wait_s=100, overflow_target="queue:1")
    h.login(1, {1: 1, 2: 2})
    h.login(2, {2: 1})
    h.login(3, {1: 1})
    h.engine.agent_pause(3, "lunch")
    h.engine.desktop_connected(1)
    a, _ = h.call(1)
    h.engine.offer_answered(1, a)
    _b, _ = h.call(2)  # rings agent 2
    h.call(1)
    h.call(2, bonus=10)
    h.advance(5)
    return h


CASES: list[tuple[str, str, Callable[[Engine], object]]] = [
    ("unknown agent ready", "no-such-agent", lambda e: e.agent_ready(999)),
    ("unknown agent pause", "no-such-agent", lambda e: e.agent_pause(999, "x")),
    ("unknown agent logout", "no-such-agent", lambda e: e.agent_logout(999)),
    ("unknown agent login without queues", "no-such-agent", lambda e: e.agent_login(999)),
    ("unknown agent answers", "no-such-agent", lambda e: e.offer_answered(999, 1001)),
    ("unknown agent desktop", "no-such-agent", lambda e: e.desktop_lost(999)),
    ("double login", "already-logged-in", lambda e: e.agent_login(1, {1: 1})),
    ("double login paused", "already-logged-in", lambda e: e.agent_login(3)),
    ("answer an offer never made", "no-such-offer", lambda e: e.offer_answered(3, 1002)),
    ("answer someone else's offer", "no-such-offer", lambda e: e.offer_answered(1, 1002)),
    ("answer an unknown call", "no-such-offer", lambda e: e.offer_answered(2, 4242)),
    ("answer twice", "no-such-offer", lambda e: e.offer_answered(1, 1001)),
    ("reject an offer never made", "no-such-offer", lambda e: e.offer_rejected(2, 1003)),
    ("login to unknown queue", "no-such-queue", lambda e: e.agent_login(50, {77: 1})),
    ("bad skill level", "invalid-skill-level", lambda e: e.agent_login(50, {1: 0})),
    ("skills with unknown queue", "no-such-queue", lambda e: e.set_agent_skills(2, {9: 1})),
    ("call to unknown queue", "no-such-queue", lambda e: e.call_arrived(5000, 9, "x")),
    ("duplicate call id", "call-exists", lambda e: e.call_arrived(1001, 1, "x")),
    ("negative priority", "invalid-priority", lambda e: e.call_arrived(5000, 1, "x", -5)),
    ("abandon unknown call", "no-such-call", lambda e: e.caller_abandoned(4242)),
    ("abandon an answered call", "invalid-transition", lambda e: e.caller_abandoned(1001)),
    ("end a ringing call", "invalid-transition", lambda e: e.call_ended(1002)),
    ("wrap-up while on call", "invalid-transition", lambda e: e.wrapup_done(1)),
    ("ready when ready", "invalid-transition", lambda e: e.agent_ready(2)),
    ("pause without reason", "invalid-reason", lambda e: e.agent_pause(2, "")),
    (
        "callback for answered call",
        "invalid-transition",
        lambda e: e.callback_requested(1001, "+3712"),
    ),
    ("callback without number", "invalid-number", lambda e: e.callback_requested(1003, " ")),
    ("callback answer w/o dialing", "no-such-callback", lambda e: e.callback_answered(1003)),
    ("desktop connected twice", "invalid-transition", lambda e: e.desktop_connected(1)),
    ("desktop lost never connected", "invalid-transition", lambda e: e.desktop_lost(2)),
    ("voicemail for queued call", "invalid-transition", lambda e: e.voicemail_left(1003)),
    ("remove a queue with calls", "queue-not-empty", lambda e: e.remove_queue(1)),
    (
        "bad overflow target",
        "invalid-queue",
        lambda e: e.configure_queue(QueueConfig(id=1, name="x", overflow_target="queue:x")),
    ),
    (
        "bad ring timeout",
        "invalid-queue",
        lambda e: e.configure_queue(QueueConfig(id=1, name="x", ring_timeout_s=0)),
    ),
    ("unknown queue snapshot", "no-such-queue", lambda e: e.queue_snapshot(99)),
]


@pytest.mark.parametrize(("code", "command"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_command_is_typed_and_changes_nothing(
    busy: Harness, code: str, command: Callable[[Engine], object]
) -> None:
    before = state_of(busy.engine)
    with pytest.raises(CoreError) as info:
        command(busy.engine)
    assert info.value.code == code
    assert info.value.message
    assert info.value.as_dict()["error"]["code"] == code  # type: ignore[index]
    assert state_of(busy.engine) == before


def test_invalid_transition_is_a_core_error(busy: Harness) -> None:
    with pytest.raises(InvalidTransition) as info:
        busy.engine.wrapup_done(2)
    assert isinstance(info.value, CoreError)
    assert info.value.details["machine"] == "agent activity"


def test_state_picture_notices_changes(busy: Harness) -> None:
    """Guard for the tests above: the picture does see a real change."""
    before = state_of(busy.engine)
    busy.engine.agent_ready(3)
    assert state_of(busy.engine) != before
