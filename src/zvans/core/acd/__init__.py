"""The automatic call distributor: queues, skill levels, agent choice and timers."""

from zvans.core.acd.config import EngineConfig, QueueConfig, Strategy
from zvans.core.acd.decisions import (
    Announce,
    Decision,
    Outcome,
    Overflow,
    Ring,
    StartCallback,
    StopRinging,
    ToVoicemail,
)
from zvans.core.acd.engine import AgentSnapshot, Engine, QueueSnapshot, WaitingCall
from zvans.core.acd.states import Activity, Availability, CallState

AgentState = Availability  # the availability axis; see Activity for the other one

__all__ = [
    "Activity",
    "AgentSnapshot",
    "AgentState",
    "Announce",
    "Availability",
    "CallState",
    "Decision",
    "Engine",
    "EngineConfig",
    "Outcome",
    "Overflow",
    "QueueConfig",
    "QueueSnapshot",
    "Ring",
    "StartCallback",
    "StopRinging",
    "Strategy",
    "ToVoicemail",
    "WaitingCall",
]
