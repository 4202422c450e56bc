"""Routing benchmark for the ACD engine (not a test): ``zvans bench acd``.

Builds an engine with many agents and queues, then replays simulated traffic (Poisson
arrivals spread over the queues with a skewed popularity, exponential talk times, some
rejections and pauses) as fast as the engine can take it. Every engine command is timed with
``perf_counter_ns``; the simulated world around it is not.

Figures:
* ``decisions_per_s``: routing decisions (Ring, StartCallback, Overflow, ToVoicemail) per
  second of engine time;
* ``p50_us`` / ``p99_us``: latency of the commands that produced a routing decision;
* ``p50_all_us`` / ``p99_all_us`` / ``max_us``: latency over every command;
* ``decisions_per_cpu_s``: routing decisions per CPU second of the whole measured loop
  (engine *and* the simulated world around it): a lower bound that other processes on a
  shared machine cannot distort, unlike the wall-clock figures;
* ``peak_rss_mb``: peak resident memory of the process.
"""

from __future__ import annotations

import gc
import heapq
import math
import os
import random
import resource
import sys
import time

from zvans.core.acd import (
    Engine,
    EngineConfig,
    Outcome,
    Overflow,
    QueueConfig,
    Ring,
    StartCallback,
    ToVoicemail,
)
from zvans.core.clock import VirtualClock

_ROUTING = (Ring, StartCallback, Overflow, ToVoicemail)
_ARRIVE, _END, _ABANDON, _READY = range(4)


def _percentile(sorted_values: list[int], p: float) -> float:
    if not sorted_values:
        return math.nan
    i = min(len(sorted_values) - 1, max(0, math.ceil(p * len(sorted_values)) - 1))
    return sorted_values[i] / 1000.0


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run(
    agents: int = 10_000,
    queues: int = 500,
    skills_per_agent: int = 5,
    seconds: float = 10.0,
    load: float = 0.95,
    aht_s: float = 180.0,
    patience_s: float = 120.0,
    reject_share: float = 0.02,
    pause_share: float = 0.01,
    seed: int = 1,
    warmup_s: float = 900.0,
) -> dict[str, object]:
    """Run for about ``seconds`` of wall time and return the figures as a dict.

    The first ``warmup_s`` of simulated time (agents filling up to the target load) are
    played but not measured, so the figures are those of a busy steady state."""
    rng = random.Random(seed)
    clock = VirtualClock(1_700_000_000.0)
    engine = Engine(clock, EngineConfig(max_ring_misses=1_000_000))
    setup_start = time.perf_counter()
    for q in range(1, queues + 1):
        engine.configure_queue(QueueConfig(id=q, name=f"q{q}", ring_timeout_s=15.0))
    # queue popularity ~ 1/rank (Zipf): a few big queues, a long tail of small ones
    weights = [1.0 / r for r in range(1, queues + 1)]
    cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    total_w = acc
    k = min(skills_per_agent, queues)
    for a in range(1, agents + 1):
        chosen: dict[int, int] = {}
        while len(chosen) < k:
            qid = _pick(rng, cum, total_w)
            if qid not in chosen:
                chosen[qid] = 1 if not chosen else rng.randint(1, 3)
        engine.agent_login(a, chosen)
    setup_s = time.perf_counter() - setup_start

    lam = load * agents / aht_s  # arrivals per virtual second
    heap: list[tuple[float, int, int, int]] = []
    seq = 0
    waiting_since: dict[int, float] = {}

    def push(t: float, kind: int, ident: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, kind, ident))

    lat_all: list[int] = []
    lat_routing: list[int] = []
    routing = 0
    commands = 0
    engine_ns = 0
    perf = time.perf_counter_ns

    measuring = False

    def timed(fn: object, *args: object) -> Outcome:
        nonlocal routing, commands, engine_ns
        if not measuring:
            return fn(*args)  # type: ignore[operator, no-any-return]
        t0 = perf()
        out: Outcome = fn(*args)  # type: ignore[operator]
        dt_ns = perf() - t0
        engine_ns += dt_ns
        commands += 1
        lat_all.append(dt_ns)
        n = 0
        for d in out.decisions:
            if isinstance(d, _ROUTING):
                n += 1
        if n:
            routing += n
            lat_routing.append(dt_ns)
        return out

    def react(out: Outcome) -> None:
        now = clock.now()
        for d in out.decisions:
            if isinstance(d, Ring):
                waiting_since.pop(d.call_id, None)
                if rng.random() < reject_share:
                    react(timed(engine.offer_rejected, d.agent_id, d.call_id))
                else:
                    timed(engine.offer_answered, d.agent_id, d.call_id)
                    push(now + rng.expovariate(1.0 / aht_s), _END, d.call_id)

    gc.collect()
    gc.freeze()  # setup objects are long-lived: keep them out of every later collection
    next_call = 0
    push(clock.now() + rng.expovariate(lam), _ARRIVE, 0)
    virtual_start = clock.now()
    wall_start = time.perf_counter()
    deadline = math.inf
    iterations = 0
    cpu_start = time.process_time()
    load_start = os.getloadavg()[0]
    while heap:
        iterations += 1
        if not measuring and clock.now() >= virtual_start + warmup_s:
            measuring = True
            virtual_start = clock.now()
            cpu_start = time.process_time()
            load_start = os.getloadavg()[0]
            wall_start = time.perf_counter()
            deadline = wall_start + seconds
        if iterations % 256 == 0 and time.perf_counter() >= deadline:
            break
        t, _, kind, ident = heapq.heappop(heap)
        nd = engine.next_deadline()
        if nd is not None and nd < t:
            heapq.heappush(heap, (t, _, kind, ident))
            clock.set(nd)
            react(timed(engine.tick))
            continue
        clock.set(t)
        if kind == _ARRIVE:
            next_call += 1
            qid = _pick(rng, cum, total_w)
            waiting_since[next_call] = t
            react(timed(engine.call_arrived, next_call, qid, f"+3712{next_call:07d}"))
            if next_call in waiting_since:
                push(t + rng.expovariate(1.0 / patience_s), _ABANDON, next_call)
            push(t + rng.expovariate(lam), _ARRIVE, 0)
        elif kind == _END:
            out = timed(engine.call_ended, ident)
            agent = next((e.agent_id for e in out.events if e.agent_id is not None), None)
            react(out)
            if agent is not None and rng.random() < pause_share:
                snap = engine.agent_snapshot(agent)
                if snap.activity.value == "idle" and snap.availability.value == "ready":
                    timed(engine.agent_pause, agent, "coffee")
                    push(t + rng.expovariate(1.0 / 120.0), _READY, agent)
        elif kind == _ABANDON:
            if ident in waiting_since:
                del waiting_since[ident]
                react(timed(engine.caller_abandoned, ident))
        elif kind == _READY:
            react(timed(engine.agent_ready, ident))
    wall_s = time.perf_counter() - wall_start
    cpu_s = time.process_time() - cpu_start
    gc.unfreeze()
    lat_routing.sort()
    lat_all.sort()
    engine_s = engine_ns / 1e9
    return {
        "agents": agents,
        "queues": queues,
        "skills_per_agent": k,
        "load": load,
        "decisions_per_s": routing / engine_s if engine_s else None,
        "decisions": routing,
        "commands": commands,
        "commands_per_s": commands / engine_s if engine_s else None,
        "p50_us": _percentile(lat_routing, 0.50),
        "p99_us": _percentile(lat_routing, 0.99),
        "p50_all_us": _percentile(lat_all, 0.50),
        "p99_all_us": _percentile(lat_all, 0.99),
        "max_us": lat_all[-1] / 1000.0 if lat_all else None,
        "engine_s": engine_s,
        "wall_s": wall_s,
        "decisions_per_wall_s": routing / wall_s if wall_s else None,
        "cpu_s": cpu_s,
        "decisions_per_cpu_s": routing / cpu_s if cpu_s else None,
        "loadavg_1min_at_start": load_start,
        "cpus": os.cpu_count(),
        "simulated_s": clock.now() - virtual_start,
        "warmup_s": warmup_s,
        "setup_s": setup_s,
        "calls_waiting_at_end": len(waiting_since),
        "peak_rss_mb": _peak_rss_mb(),
        "python": sys.version.split()[0],
    }


def _pick(rng: random.Random, cum: list[float], total: float) -> int:
    from bisect import bisect_left

    return bisect_left(cum, rng.random() * total) + 1


def main() -> None:  # pragma: no cover - convenience entry point
    import json

    print(json.dumps(run(), indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
