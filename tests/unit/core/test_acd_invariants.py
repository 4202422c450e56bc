"""Random command sequences against the engine, checking its invariants after every step:
no call is lost, no free agent idles while a call it may take waits, ringing is one-to-one,
counters match a recount, a refused command changes nothing, and an agent on a call the ACD
did not route (an external call) is never offered one."""

from __future__ import annotations

import dataclasses
import random

import pytest

from tests.unit.core.helpers import Harness, state_of
from zvans.core.acd import EngineConfig, Outcome, Ring, Strategy
from zvans.core.acd.engine import Engine
from zvans.core.acd.states import Activity, Availability, CallState
from zvans.core.calendar import BusinessHours
from zvans.core.errors import CoreError

# queue 3 opens and closes every 5 minutes on the harness's Monday
FLICKERING = BusinessHours.from_spec(
    {
        0: [
            (f"{h:02d}:{m:02d}", f"{h:02d}:{m + 5:02d}")
            for h in range(8, 18)
            for m in (0, 10, 20, 30, 40, 50)
        ]
    }
)


def check_invariants(e: Engine) -> None:
    agents = e._agents
    calls = e._calls
    listed: set[int] = set()
    for q in e._queues.values():
        assert q.waiting == sorted(q.waiting)
        for _, _, cid in q.waiting:
            c = calls[cid]
            assert c.queue_id == q.id and c.in_list
            assert c.state in (CallState.QUEUED, CallState.CALLBACK_WAITING)
            listed.add(cid)
        members = [a for a in agents.values() if q.id in a.queues]
        assert q.logged_in == len(members)
        assert q.ready == sum(1 for a in members if a.availability is Availability.READY)
        for lvl in q.levels:
            live = e._free_count(q, lvl)
            assert live == sum(1 for a in members if a.in_pool and a.queues[q.id] == lvl)
            fifo = q.fifo[lvl]
            assert all(agents[x].in_pool for x in fifo)
            if q.strategy is Strategy.LONGEST_IDLE:  # entry order is idle order
                idles = [agents[x].idle_since for x in fifo]
                assert idles == sorted(idles)
            else:
                assert not fifo
        assert q.reserved == sum(
            1 for c in calls.values() if c.queue_id == q.id and c.reserved_for is not None
        )
    for cid, c in calls.items():
        if c.state is CallState.QUEUED:
            # a waiting call is in its queue's line or reserved for a sticky agent: never lost
            assert (cid in listed) != (c.reserved_for is not None), cid
        if c.state in (CallState.RINGING, CallState.CALLBACK_DIALING, CallState.CONNECTED):
            a = agents[c.agent_id]  # type: ignore[index]
            assert a.call_id == cid
            want = Activity.ON_CALL if c.state is CallState.CONNECTED else Activity.RINGING
            assert a.activity is want
            if c.state is CallState.RINGING:
                assert not a.external, (a.id, cid)  # never offered while on an external call
    for a in agents.values():
        assert a.in_pool == (
            a.availability is Availability.READY
            and a.activity is Activity.IDLE
            and not a.desktop_expired
        ), a.id
        if a.external:
            assert a.activity is not Activity.IDLE and not a.in_pool, a.id
        if a.activity is Activity.ON_CALL and a.call_id is None:
            assert a.external, a.id  # on_call without an ACD call: only on external calls
        elif a.activity in (Activity.RINGING, Activity.ON_CALL):
            assert a.call_id is not None and calls[a.call_id].agent_id == a.id
        if a.availability is Availability.LOGGED_OUT:
            assert not a.queues
            assert a.activity is Activity.IDLE or (
                a.activity is Activity.ON_CALL and a.call_id is None
            )
        if a.in_pool:
            # nobody free while a call they may take waits in line
            for qid in a.queues:
                assert not e._queues[qid].waiting, (a.id, qid)
            assert not a.reserved


def check_no_ring_to_busy(e: Engine, out: Outcome) -> None:
    for d in out.decisions:
        if isinstance(d, Ring):
            assert not e._agents[d.agent_id].external, d


@pytest.mark.parametrize("seed", range(80))
def test_random_commands_keep_invariants(seed: int) -> None:
    rng = random.Random(seed)
    h = Harness(EngineConfig(max_ring_misses=2, desktop_lost_limit_s=50, callback_timeout_s=40))
    strategies = list(Strategy)
    cfgs = {}
    for qid in (1, 2, 3):
        cfgs[qid] = h.queue(
            qid,
            strategy=rng.choice(strategies),
            ring_timeout_s=rng.choice([5, 15]),
            wrapup_s=rng.choice([0, 10]),
            wrapup_until_card=rng.random() < 0.2,
            max_wait_s=rng.choice([None, 60, 200]),
            max_length=rng.choice([None, 3]),
            overflow_target=rng.choice([None, "voicemail", f"queue:{qid % 3 + 1}"]),
            no_agents_action=rng.choice(["wait", "overflow", "voicemail"]),
            sticky_wait_s=rng.choice([0, 20]),
            hours=FLICKERING if qid == 3 else None,
            out_of_hours_action=rng.choice(["voicemail", "callback"]),
        )
    agents = list(range(1, 7))
    for a in agents:
        k = rng.randint(1, 3)
        h.engine.set_agent_skills(a, {q: rng.randint(1, 2) for q in rng.sample([1, 2, 3], k)})
    callers = [f"+3712000000{i}" for i in range(5)]
    next_call = 0
    e = h.engine
    refs = 0
    for _step in range(250):
        op = rng.randrange(21)
        known = e.call_ids()
        wanted = {
            5: CallState.RINGING,
            6: CallState.RINGING,
            8: CallState.CONNECTED,
            11: CallState.CALLBACK_DIALING,
        }.get(op)
        fitting = [c for c in known if e.call_snapshot(c).state is wanted]
        cid = rng.choice(fitting if fitting and rng.random() < 0.8 else known or [999])
        a = rng.choice(agents)
        snap_call = e.call_snapshot(cid) if cid in known else None
        before = state_of(e)
        out = Outcome()
        try:
            if op == 0:
                next_call += 1
                out = e.call_arrived(
                    next_call, rng.randint(1, 3), rng.choice(callers), rng.choice([0, 0, 30])
                )
            elif op == 1:
                out = e.agent_login(a)
            elif op == 2:
                out = e.agent_logout(a)
            elif op == 3:
                out = e.agent_ready(a)
            elif op == 4:
                out = e.agent_pause(a, "x")
            elif op == 5:
                target = snap_call.agent_id if snap_call and snap_call.agent_id else a
                out = e.offer_answered(target, cid)
            elif op == 6:
                target = snap_call.agent_id if snap_call and snap_call.agent_id else a
                out = e.offer_rejected(target, cid)
            elif op == 7:
                out = e.caller_abandoned(cid)
            elif op == 8:
                out = e.call_ended(cid)
            elif op == 9:
                out = e.wrapup_done(a)
            elif op == 10:
                out = e.callback_requested(cid, "+37129999999")
            elif op == 11:
                out = e.callback_answered(cid)
            elif op == 12:
                out = e.callback_failed(cid)
            elif op == 13:
                out = e.desktop_connected(a)
            elif op == 14:
                out = e.desktop_lost(a)
            elif op == 15:
                out = e.voicemail_left(cid)
            elif op == 16:
                out = h.advance(rng.choice([1, 5, 20, 60]))
            elif op == 18:  # change a (maybe logged-in, maybe busy) agent's skills
                k = rng.randint(1, 3)
                out = e.set_agent_skills(
                    a, {q: rng.randint(1, 2) for q in rng.sample([1, 2, 3], k)}
                )
            elif op == 19:  # a call the ACD did not route starts (sometimes a known ref)
                refs += 1
                mine = list(e._agents[a].external)
                ref = rng.choice(mine) if mine and rng.random() < 0.1 else f"x{refs}"
                out = e.external_call_started(a, ref, kind=rng.choice(["click", "transfer"]))
            elif op == 20:  # ... and ends (sometimes twice, sometimes an unknown ref)
                mine = list(e._agents[a].external)
                ref = f"x{rng.randint(0, refs)}"
                if mine and rng.random() < 0.9:
                    ref = rng.choice(mine)
                out = e.external_call_ended(
                    a, ref, wrapup_queue_id=rng.choice([None, None, 1, 2, 3, 9])
                )
            else:  # switch a queue's strategy with agents free and calls waiting
                qid = rng.randint(1, 3)
                cfgs[qid] = dataclasses.replace(cfgs[qid], strategy=rng.choice(strategies))
                out = e.configure_queue(cfgs[qid])
        except CoreError:
            assert state_of(e) == before
        check_invariants(e)
        check_no_ring_to_busy(e, out)
        if rng.random() < 0.3:
            check_no_ring_to_busy(e, h.advance(rng.choice([1, 3, 10])))
            check_invariants(e)
