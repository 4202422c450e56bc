"""Domain events: one per change of a call or an agent; the store appends them to the log."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class EventType(StrEnum):
    ARRIVED = "arrived"
    IVR_ENTERED = "ivr_entered"
    IVR_CHOICE = "ivr_choice"
    IVR_ABANDONED = "ivr_abandoned"
    OUT_OF_HOURS = "out_of_hours"
    ENQUEUED = "enqueued"
    OFFERED = "offered"
    RING_NO_ANSWER = "ring_no_answer"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"
    CALLBACK_REQUESTED = "callback_requested"
    CALLBACK_STARTED = "callback_started"
    VOICEMAIL_LEFT = "voicemail_left"
    HELD = "held"
    RESUMED = "resumed"
    TRANSFERRED = "transferred"
    CONFERENCED = "conferenced"
    COMPLETED = "completed"
    WRAPUP_DONE = "wrapup_done"
    RATED = "rated"
    AGENT_LOGIN = "agent_login"
    AGENT_LOGOUT = "agent_logout"
    AGENT_PAUSED = "agent_paused"
    AGENT_READY = "agent_ready"
    DESKTOP_CONNECTED = "desktop_connected"
    DESKTOP_LOST = "desktop_lost"
    # additions of the ACD (not in DESIGN.md's list, documented in docs/decisions/0002)
    CALLBACK_FAILED = "callback_failed"


@dataclass(frozen=True, slots=True)
class DomainEvent:
    type: EventType
    at: float
    call_id: int | None = None
    queue_id: int | None = None
    agent_id: int | None = None
    data: dict[str, object] = field(default_factory=dict)
