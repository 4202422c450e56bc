"""ACD engine (API skeleton; implementation follows)."""

from __future__ import annotations

from dataclasses import dataclass

from zvans.core.acd.config import EngineConfig, QueueConfig
from zvans.core.acd.decisions import Outcome
from zvans.core.acd.states import Activity, Availability
from zvans.core.clock import Clock


@dataclass(frozen=True, slots=True)
class WaitingCall:
    call_id: int
    position: int
    ewt_s: float
    waited_s: float


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    agent_id: int
    availability: Availability
    activity: Activity
    pause_reason: str | None
    pending_pause: str | None
    call_id: int | None
    queues: dict[int, int]
    desktop_connected: bool
    desktop_lost_since: float | None
    offerable: bool
    calls_today: int
    talk_today_s: float
    ring_misses: int
    since: float


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    queue_id: int
    waiting: int
    callbacks_waiting: int
    oldest_wait_s: float
    ewt_s: float
    agents_logged_in: int
    agents_ready: int
    agents_free: int
    aht_s: float


class Engine:
    def __init__(self, clock: Clock, config: EngineConfig | None = None) -> None:
        self.clock = clock
        self.config = config or EngineConfig()

    def configure_queue(self, q: QueueConfig) -> Outcome: raise NotImplementedError
    def remove_queue(self, queue_id: int) -> Outcome: raise NotImplementedError
    def set_agent_skills(self, agent_id: int, skills: dict[int, int]) -> Outcome:
        raise NotImplementedError
    def agent_login(self, agent_id: int, queues: dict[int, int] | None = None) -> Outcome:
        raise NotImplementedError
    def agent_logout(self, agent_id: int) -> Outcome: raise NotImplementedError
    def agent_ready(self, agent_id: int) -> Outcome: raise NotImplementedError
    def agent_pause(self, agent_id: int, reason: str) -> Outcome: raise NotImplementedError
    def desktop_connected(self, agent_id: int) -> Outcome: raise NotImplementedError
    def desktop_lost(self, agent_id: int) -> Outcome: raise NotImplementedError
    def call_arrived(
        self, call_id: int, queue_id: int, caller: str, priority_bonus_s: float = 0.0,
        simulated: bool = False,
    ) -> Outcome: raise NotImplementedError
    def offer_answered(self, agent_id: int, call_id: int) -> Outcome: raise NotImplementedError
    def offer_rejected(self, agent_id: int, call_id: int) -> Outcome: raise NotImplementedError
    def caller_abandoned(self, call_id: int) -> Outcome: raise NotImplementedError
    def call_ended(self, call_id: int) -> Outcome: raise NotImplementedError
    def wrapup_done(self, agent_id: int) -> Outcome: raise NotImplementedError
    def callback_requested(self, call_id: int, number: str) -> Outcome: raise NotImplementedError
    def callback_answered(self, call_id: int) -> Outcome: raise NotImplementedError
    def callback_failed(self, call_id: int, reason: str = "no-answer") -> Outcome:
        raise NotImplementedError
    def voicemail_left(self, call_id: int) -> Outcome: raise NotImplementedError
    def tick(self) -> Outcome: raise NotImplementedError
    def next_deadline(self) -> float | None: raise NotImplementedError
    def waiting(self, queue_id: int) -> list[WaitingCall]: raise NotImplementedError
    def agent_snapshot(self, agent_id: int) -> AgentSnapshot: raise NotImplementedError
    def queue_snapshot(self, queue_id: int) -> QueueSnapshot: raise NotImplementedError
