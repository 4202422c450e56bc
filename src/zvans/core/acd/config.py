"""Configuration of the ACD engine and of its queues."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from zvans.core.calendar import BusinessHours

NoAgentsAction = Literal["wait", "overflow", "voicemail"]
OutOfHoursAction = Literal["voicemail", "callback"]


class Strategy(StrEnum):
    """How a queue chooses among its free agents of the same skill level."""

    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"
    LEAST_TALK_TIME = "least_talk_time"
    LINEAR = "linear"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Settings shared by all queues of one engine (one organisation)."""

    max_ring_misses: int = 3
    """Consecutive ring-no-answers (or rejections) after which the agent is paused."""
    no_answer_pause_reason: str = "no answer"
    desktop_lost_limit_s: float = 900.0
    """Seed 001: an agent whose web panel is closed longer than this is no longer offered."""
    sticky_days: float = 30.0
    """A repeat caller is sticky to the agent who last answered them within this many days."""
    callback_timeout_s: float = 120.0
    """How long the engine waits for the result of a StartCallback before treating it failed."""
    callback_retry_s: float = 300.0
    max_callback_attempts: int = 3
    aht_window: int = 2000
    """Handled calls remembered per queue to learn the average handle time."""
    abandon_window: int = 500
    """Queue departures remembered per queue to learn the abandonment rate."""
    timezone: str = "UTC"
    """Where 'today' begins for the fewest-calls / least-talk-time strategies."""


@dataclass(frozen=True, slots=True)
class QueueConfig:
    id: int
    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    ring_timeout_s: float = 20.0
    wrapup_s: float = 0.0
    wrapup_until_card: bool = False
    """Wrap-up lasts until the agent saves the client card (wrapup_done), not a timer."""
    max_wait_s: float | None = None
    max_length: int | None = None
    overflow_target: str | None = None
    """"queue:<id>" or "voicemail"; None means voicemail when an overflow is needed."""
    no_agents_action: NoAgentsAction = "wait"
    hours: BusinessHours | None = None
    out_of_hours_action: OutOfHoursAction = "voicemail"
    sl_threshold_s: float = 20.0
    short_abandon_s: float = 5.0
    sticky_wait_s: float = 30.0
    """How long a repeat caller waits for their previous agent; 0 disables sticky routing."""
    aht_prior_s: float = 180.0
    """Average handle time assumed until the queue has handled calls of its own."""
    announce_every_s: float | None = None
    """Repeat Announce for every waiting call at this period (None: only on entering)."""

    def overflow_queue_id(self) -> int | None:
        t = self.overflow_target
        if t is not None and t.startswith("queue:"):
            return int(t.removeprefix("queue:"))
        return None
