from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from zvans.core.acd import Engine, EngineConfig, Outcome, QueueConfig
from zvans.core.clock import VirtualClock
from zvans.core.events import EventType

# Monday 2026-11-23 10:00 UTC
MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC).timestamp()


class Harness:
    """An engine on a virtual clock plus small helpers to read what it decided."""

    def __init__(self, config: EngineConfig | None = None, start: float = MONDAY_10) -> None:
        self.clock = VirtualClock(start)
        self.engine = Engine(self.clock, config)
        self.next_call = 1000

    def queue(self, qid: int, **kw: object) -> QueueConfig:
        cfg = QueueConfig(id=qid, name=f"q{qid}", **kw)  # type: ignore[arg-type]
        self.engine.configure_queue(cfg)
        return cfg

    def login(self, agent_id: int, queues: dict[int, int]) -> Outcome:
        return self.engine.agent_login(agent_id, queues)

    def call(self, queue_id: int, caller: str = "", bonus: float = 0.0) -> tuple[int, Outcome]:
        self.next_call += 1
        cid = self.next_call
        return cid, self.engine.call_arrived(cid, queue_id, caller or f"+3712{cid:07d}", bonus)

    def advance(self, s: float) -> Outcome:
        self.clock.advance(s)
        return self.engine.tick()

    def handle(self, agent_id: int, call_id: int, talk: float = 60.0) -> Outcome:
        """Answer, talk, hang up; returns what happened at the hang-up."""
        self.engine.offer_answered(agent_id, call_id)
        self.clock.advance(talk)
        return self.engine.call_ended(call_id)


def decisions(out: Outcome, kind: type) -> list:  # type: ignore[type-arg]
    return [d for d in out.decisions if isinstance(d, kind)]


def events(out: Outcome, *types: EventType) -> list:  # type: ignore[type-arg]
    return [e for e in out.events if not types or e.type in types]


def kinds(out: Outcome) -> list[str]:
    return [type(d).__name__ for d in out.decisions]


def state_of(engine: Engine) -> object:
    """A deep, comparable picture of the engine (for 'state unchanged' checks)."""
    agents = [engine.agent_snapshot(a) for a in engine.agent_ids()]
    queues = [
        (engine.queue_snapshot(q), engine.waiting(q), engine.queue_config(q))
        for q in engine.queue_ids()
    ]
    calls = [engine.call_snapshot(c) for c in engine.call_ids()]
    return (agents, queues, calls, engine.next_deadline())


def only(items: Iterable[object]) -> object:
    lst = list(items)
    assert len(lst) == 1, lst
    return lst[0]
