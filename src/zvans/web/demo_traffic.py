"""`zvans serve --demo-traffic`: simulated callers and simulated agents on the real ACD.

Callers arrive at random (Poisson) in the organisation's queues from a pool of invented
numbers, through ``cc.call_arrived(..., simulated=True)`` — the same command telephony
uses — so the wallboard, the unanswered register and the desktops come alive without a
phone. Some give up if they wait too long (``caller_abandoned``). Agents of the role
"agent" whose desktop is not open are driven by the simulator: logged in, they answer
the demo calls offered to them after a short ring, talk for a while, hang up and
sometimes take a pause. When a person opens the desktop of such an agent, the simulator
leaves that agent alone. Simulated interactions are flagged (``Interaction.simulated``)
and excluded from real reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from zvans.app import Zvans
from zvans.eventbus import LoggedEvent
from zvans.store.models import Organisation, PauseReason, Queue, User

log = logging.getLogger("zvans.demo_traffic")

TOPICS = ("registration", "payments", "forest", "documents", "other")


@dataclass
class Rates:
    mean_interarrival_s: float = 6.0
    ring_s: tuple[float, float] = (1.0, 4.0)
    talk_s: tuple[float, float] = (15.0, 75.0)
    patience_s: tuple[float, float] = (40.0, 180.0)
    pause_chance: float = 0.15
    pause_s: tuple[float, float] = (20.0, 60.0)
    first_call_s: float = 1.0


@dataclass(order=True)
class _Job:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class DemoTraffic:
    def __init__(self, z: Zvans, rates: Rates | None = None, seed: int | None = None) -> None:
        self.z = z
        self.rates = rates or Rates()
        self.rng = random.Random(seed)
        self.jobs: list[_Job] = []
        self.seq = itertools.count()
        self.ours: set[int] = set()         # interactions this simulator created
        self.answered: set[int] = set()
        self.org_id: int | None = None
        self.queue_ids: list[int] = []
        self.agents: list[int] = []
        self.pause_codes: list[str] = []
        self.callers = [f"+3712{self.rng.randrange(1000000, 9999999)}" for _ in range(40)]
        self.stopped = False
        self.lock = threading.Lock()
        self.clock = time.monotonic

    @property
    def cc(self) -> Any:
        return self.z.services["cc"]

    def schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        """Safe from the loop and from the worker threads that run the actions."""
        with self.lock:
            heapq.heappush(self.jobs, _Job(self.clock() + delay_s, next(self.seq), action))

    def due(self) -> list[Callable[[], None]]:
        now = self.clock()
        with self.lock:
            out = []
            while self.jobs and self.jobs[0].at <= now:
                out.append(heapq.heappop(self.jobs).action)
            return out

    def next_at(self) -> float | None:
        with self.lock:
            return self.jobs[0].at if self.jobs else None

    # --- setup -----------------------------------------------------------------------

    def load(self) -> bool:
        with self.z.sessions() as s:
            org = s.scalar(select(Organisation).where(Organisation.slug == "demo")) or \
                s.scalar(select(Organisation).order_by(Organisation.id))
            if org is None:
                return False
            self.org_id = org.id
            self.queue_ids = list(s.scalars(select(Queue.id).where(
                Queue.org_id == org.id, Queue.active.is_(True)).order_by(Queue.id)))
            self.agents = list(s.scalars(select(User.id).where(
                User.org_id == org.id, User.role == "agent", User.deleted_at.is_(None))))
            self.pause_codes = list(s.scalars(select(PauseReason.code).where(
                PauseReason.org_id == org.id, PauseReason.active.is_(True),
                PauseReason.code != "card")))
        return bool(self.queue_ids)

    def simulated_agent(self, user_id: int) -> bool:
        """An agent the simulator may drive: no desktop open in a browser."""
        if user_id not in self.agents or self.org_id is None:
            return False
        try:
            view = self.cc.agent_view(self.org_id, user_id)
        except Exception:
            return False
        return not view.get("desktop_connected")

    def _safe(self, what: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:  # the world moved on (caller left, agent paused by hand…)
            log.debug("demo traffic: %s: %s", what, exc)

    def login_agents(self) -> None:
        assert self.org_id is not None
        for uid in self.agents:
            if not self.simulated_agent(uid):
                continue
            view = self.cc.agent_view(self.org_id, uid)
            if view["availability"] == "logged_out":
                try:
                    self.cc.agent_login(self.org_id, uid)
                except Exception as exc:
                    log.debug("demo traffic: login: %s", exc)

    # --- callers ---------------------------------------------------------------------

    def new_caller(self) -> None:
        assert self.org_id is not None
        org_id = self.org_id
        queue_id = self.rng.choice(self.queue_ids)
        caller = self.rng.choice(self.callers)
        try:
            iid = self.cc.call_arrived(org_id, queue_id, caller, ivr_topic=self.rng.choice(
                TOPICS), simulated=True)
        except Exception as exc:
            log.debug("demo traffic: call_arrived: %s", exc)
        else:
            self.ours.add(iid)
            patience = self.rng.uniform(*self.rates.patience_s)
            self.schedule(patience, lambda: self.give_up(iid))
        self.schedule(self.rng.expovariate(1.0 / self.rates.mean_interarrival_s),
                      self.new_caller)

    def give_up(self, iid: int) -> None:
        if iid in self.answered or iid not in self.ours or self.org_id is None:
            return
        org_id = self.org_id
        self._safe("abandon", lambda: self.cc.caller_abandoned(org_id, iid))
        self.ours.discard(iid)

    # --- agents ----------------------------------------------------------------------

    def on_event(self, ev: LoggedEvent) -> None:
        if ev.org_id != self.org_id or ev.agent_id is None:
            return
        uid = ev.agent_id
        if ev.type == "offered" and ev.interaction_id in self.ours and \
                self.simulated_agent(uid):
            iid = ev.interaction_id
            self.schedule(self.rng.uniform(*self.rates.ring_s), lambda: self.answer(uid, iid))
        elif ev.type == "wrapup_done" and self.simulated_agent(uid) and self.pause_codes and \
                self.rng.random() < self.rates.pause_chance:
            self.schedule(0.5, lambda: self.pause(uid))

    def answer(self, uid: int, iid: int) -> None:
        if not self.simulated_agent(uid) or self.org_id is None:
            return
        org_id = self.org_id
        try:
            self.cc.offer_answered(org_id, uid, iid)
        except Exception as exc:
            log.debug("demo traffic: answer: %s", exc)
            return
        self.answered.add(iid)
        self.schedule(self.rng.uniform(*self.rates.talk_s), lambda: self.hang_up(iid))

    def hang_up(self, iid: int) -> None:
        if self.org_id is None:
            return
        org_id = self.org_id
        self._safe("hang up", lambda: self.cc.call_ended(org_id, iid))
        self.ours.discard(iid)
        self.answered.discard(iid)

    def pause(self, uid: int) -> None:
        if not self.simulated_agent(uid) or self.org_id is None:
            return
        org_id = self.org_id
        code = self.rng.choice(self.pause_codes)
        self._safe("pause", lambda: self.cc.agent_pause(org_id, uid, code))
        self.schedule(self.rng.uniform(*self.rates.pause_s), lambda: self.ready(uid))

    def ready(self, uid: int) -> None:
        if not self.simulated_agent(uid) or self.org_id is None:
            return
        org_id = self.org_id
        self._safe("ready", lambda: self.cc.agent_ready(org_id, uid))

    # --- loop ------------------------------------------------------------------------

    async def run(self) -> None:
        if "cc" not in self.z.services or not await asyncio.to_thread(self.load):
            log.warning("demo traffic: no organisation with queues (run `zvans demo`)")
            return
        sub = self.z.bus.subscribe(maxsize=10_000, org_id=self.org_id)
        try:
            await asyncio.to_thread(self.login_agents)
            log.warning("demo traffic: simulated callers on %d queues, %d simulated agents",
                        len(self.queue_ids), len(self.agents))
            self.schedule(self.rates.first_call_s, self.new_caller)
            self.schedule(30.0, self.relogin)
            while not self.stopped:
                next_at = self.next_at()
                timeout = max(0.0, next_at - self.clock()) if next_at is not None else 1.0
                events = await sub.next_batch(timeout=min(timeout, 1.0))
                if sub.overflowed:  # resubscribe; nothing important is lost in a demo
                    sub.close()
                    sub = self.z.bus.subscribe(maxsize=10_000, org_id=self.org_id)
                for ev in events:
                    self.on_event(ev)
                for action in self.due():
                    try:
                        await asyncio.to_thread(action)
                    except Exception:
                        log.exception("demo traffic: a step failed")
        finally:
            sub.close()

    def relogin(self) -> None:
        """Agents logged out by a supervisor come back after a while (it is a demo)."""
        self.login_agents()
        self.schedule(30.0, self.relogin)


def start(z: Zvans, rates: Rates | None = None) -> Callable[[], Awaitable[None]]:
    """Start the simulator on the running loop; returns an async stop function."""
    sim = DemoTraffic(z, rates)
    task = asyncio.get_running_loop().create_task(sim.run())
    z.services["demo_traffic_sim"] = sim

    async def stop() -> None:
        sim.stopped = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    return stop
