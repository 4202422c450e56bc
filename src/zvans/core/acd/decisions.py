"""Decisions: what the engine asks the adapters (telephony, web) to do."""

from __future__ import annotations

from dataclasses import dataclass, field

from zvans.core.events import DomainEvent


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring this agent's phone with this call for at most ``timeout_s`` seconds."""

    agent_id: int
    call_id: int
    queue_id: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class StopRinging:
    agent_id: int
    call_id: int


@dataclass(frozen=True, slots=True)
class Announce:
    """Tell the waiting caller their position (1 = next) and estimated wait."""

    call_id: int
    position: int
    ewt_s: float


@dataclass(frozen=True, slots=True)
class Overflow:
    """The call left its queue for ``target`` ("queue:<id>" or "voicemail").

    For a queue target the engine has already moved the call (informational: new prompts,
    music); for "voicemail" a :class:`ToVoicemail` follows and is the one to act on."""

    call_id: int
    target: str


@dataclass(frozen=True, slots=True)
class StartCallback:
    """Dial ``number`` through ``agent_id`` for the callback ``call_id``; report the result
    with ``callback_answered`` or ``callback_failed``."""

    call_id: int
    agent_id: int
    number: str


@dataclass(frozen=True, slots=True)
class ToVoicemail:
    """Send the caller to voicemail; reason is one of out-of-hours, max-wait, max-length,
    no-agents."""

    call_id: int
    reason: str


Decision = Ring | StopRinging | Announce | Overflow | StartCallback | ToVoicemail


@dataclass(slots=True)
class Outcome:
    """What one command produced: events for the log, decisions for the adapters."""

    events: list[DomainEvent] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.events.extend(other.events)
        self.decisions.extend(other.decisions)


_new = object.__new__
_ring_agent, _ring_call, _ring_queue, _ring_timeout = (
    Ring.__dict__[name].__set__ for name in ("agent_id", "call_id", "queue_id", "timeout_s")
)


def make_ring(agent_id: int, call_id: int, queue_id: int, timeout_s: float) -> Ring:
    """A Ring built without the frozen dataclass's per-field ``object.__setattr__`` (about
    twice as fast); one per routed call. Equal to ``Ring(...)`` in every way."""
    ring: Ring = _new(Ring)
    _ring_agent(ring, agent_id)
    _ring_call(ring, call_id)
    _ring_queue(ring, queue_id)
    _ring_timeout(ring, timeout_s)
    return ring


def new_outcome() -> Outcome:
    """An empty Outcome without the dataclass's default-factory machinery (one per
    command on the routing path)."""
    out: Outcome = _new(Outcome)
    out.events = []
    out.decisions = []
    return out
