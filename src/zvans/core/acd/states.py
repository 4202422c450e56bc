"""Agent and call state machines: enums plus the table of legal moves.

An illegal move raises :class:`InvalidTransition`; nothing passes silently."""

from __future__ import annotations

from enum import StrEnum

from zvans.core.errors import InvalidTransition


class Availability(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    PAUSED = "paused"


class Activity(StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    """Being offered a call, or reserved for a callback being dialled."""
    ON_CALL = "on_call"
    """On a call the ACD routed, or only on calls it did not (``external_call_started``:
    click-to-call, a transfer or conference the agent was brought into, monitoring)."""
    WRAP_UP = "wrap_up"


class CallState(StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    CONNECTED = "connected"
    CALLBACK_WAITING = "callback_waiting"
    """The caller hung up after asking for a callback; the call keeps its place in line."""
    CALLBACK_DIALING = "callback_dialing"
    OUT_OF_HOURS = "out_of_hours"
    """Arrived while the queue was closed; waits for voicemail or a callback request."""
    # terminal states
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"
    VOICEMAIL = "voicemail"
    CALLBACK_FAILED = "callback_failed"


AVAILABILITY_MOVES: dict[Availability, frozenset[Availability]] = {
    Availability.LOGGED_OUT: frozenset({Availability.READY, Availability.PAUSED}),
    Availability.READY: frozenset({Availability.PAUSED, Availability.LOGGED_OUT}),
    Availability.PAUSED: frozenset(
        {Availability.READY, Availability.LOGGED_OUT, Availability.PAUSED}
    ),
}

ACTIVITY_MOVES: dict[Activity, frozenset[Activity]] = {
    # idle -> on_call only for an external call (the ACD's own calls ring first)
    Activity.IDLE: frozenset({Activity.RINGING, Activity.ON_CALL}),
    Activity.RINGING: frozenset({Activity.IDLE, Activity.ON_CALL}),
    Activity.ON_CALL: frozenset({Activity.WRAP_UP, Activity.IDLE}),
    Activity.WRAP_UP: frozenset({Activity.IDLE}),
}

_S = CallState
CALL_MOVES: dict[CallState, frozenset[CallState]] = {
    _S.QUEUED: frozenset(
        {
            _S.RINGING,
            _S.ABANDONED,
            _S.VOICEMAIL,
            _S.CALLBACK_WAITING,
            _S.QUEUED,
            _S.OUT_OF_HOURS,
        }
    ),
    _S.RINGING: frozenset({_S.QUEUED, _S.CONNECTED, _S.ABANDONED}),
    _S.CONNECTED: frozenset({_S.COMPLETED}),
    _S.CALLBACK_WAITING: frozenset({_S.CALLBACK_DIALING}),
    _S.CALLBACK_DIALING: frozenset({_S.CONNECTED, _S.CALLBACK_WAITING, _S.CALLBACK_FAILED}),
    _S.OUT_OF_HOURS: frozenset({_S.VOICEMAIL, _S.CALLBACK_WAITING, _S.ABANDONED}),
    _S.COMPLETED: frozenset(),
    _S.ABANDONED: frozenset(),
    _S.OVERFLOWED: frozenset(),
    _S.VOICEMAIL: frozenset(),
    _S.CALLBACK_FAILED: frozenset(),
}
TERMINAL_CALL_STATES = frozenset(s for s, moves in CALL_MOVES.items() if not moves)


def check_availability(current: Availability, target: Availability) -> None:
    if target not in AVAILABILITY_MOVES[current]:
        raise InvalidTransition("agent availability", current.value, target.value)


def check_activity(current: Activity, target: Activity) -> None:
    if target not in ACTIVITY_MOVES[current]:
        raise InvalidTransition("agent activity", current.value, target.value)


def check_call(current: CallState, target: CallState) -> None:
    if target not in CALL_MOVES[current]:
        raise InvalidTransition("call", current.value, target.value)
