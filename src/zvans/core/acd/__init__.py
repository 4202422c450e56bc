"""The automatic call distributor: queues, skill levels, agent choice and timers.

Use: build ``Engine(clock, EngineConfig())``, ``configure_queue(QueueConfig(...))`` for each
queue, ``set_agent_skills`` / ``agent_login`` for agents, then feed it commands
(``call_arrived``, ``offer_answered``, ``offer_rejected``, ``caller_abandoned``,
``call_ended``, ``wrapup_done``, ``agent_pause``, ``agent_ready``, ``agent_logout``,
``desktop_connected`` / ``desktop_lost``, ``callback_requested`` / ``callback_answered`` /
``callback_failed``, ``voicemail_left``, ``external_call_started`` /
``external_call_ended`` for calls the ACD did not route) and call ``tick()`` at
``next_deadline()``. Each command returns an :class:`Outcome`: ``events`` for the log,
``decisions`` for the adapters.
A command that raises :class:`zvans.core.errors.CoreError` changed nothing.
Design notes: docs/decisions/0002-acd-engine.md, 0014-agent-busy-on-external-calls.md.
"""

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
from zvans.core.acd.engine import (
    AgentSnapshot,
    CallSnapshot,
    Engine,
    QueueSnapshot,
    WaitingCall,
)
from zvans.core.acd.states import Activity, Availability, CallState

AgentState = Availability  # the availability axis; see Activity for the other one

__all__ = [
    "Activity",
    "AgentSnapshot",
    "AgentState",
    "Announce",
    "Availability",
    "CallSnapshot",
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
