"""Traffic simulator: drives the real :class:`Engine` on a virtual clock.

Poisson arrivals, exponential handle times and exponential patience, so that with one queue
the results can be held against Erlang C (infinite patience) and Erlang A. It also measures
how good the engine's announced wait (EWT) is, next to Asterisk's moving average on the very
same trace.

Statistics cover the calls that arrive after the warm-up and before the end; the run then
drains (no new arrivals) until those calls are finished. Standard errors come from batch
means (20 batches by arrival time), which respects the autocorrelation of queue traffic.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

from zvans.core.acd import (
    Announce,
    Engine,
    EngineConfig,
    Outcome,
    Overflow,
    QueueConfig,
    Ring,
    StartCallback,
    StopRinging,
    ToVoicemail,
)
from zvans.core.clock import VirtualClock
from zvans.core.erlang import ErlangA, ErlangC
from zvans.core.ewt import AsteriskHoldtime

_ARRIVAL, _END, _ABANDON = 0, 1, 2
_BATCHES = 20


@dataclass(slots=True)
class _SimCall:
    queue_id: int
    arrived: float
    counted: bool
    answered_at: float | None = None
    gone: bool = False
    ewt: float | None = None
    asterisk: float | None = None


@dataclass(slots=True)
class _Stats:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_within: int = 0
    long_abandoned: int = 0
    delayed: int = 0
    waits: list[float] = field(default_factory=list)
    ewt_pairs: list[tuple[float, float, float]] = field(default_factory=list)
    batch_offered: list[int] = field(default_factory=lambda: [0] * _BATCHES)
    batch_within: list[int] = field(default_factory=lambda: [0] * _BATCHES)
    batch_abandoned: list[int] = field(default_factory=lambda: [0] * _BATCHES)


def _error_summary(pairs: list[tuple[float, float]]) -> dict[str, float | int | None]:
    """pairs = (announced, actual) for delayed answered callers."""
    n = len(pairs)
    if n == 0:
        return {"n": 0, "rmse_s": None, "bias_s": None, "within_share": None}
    errs = [e - w for e, w in pairs]
    mean_wait = math.fsum(w for _, w in pairs) / n
    rmse = math.sqrt(math.fsum(x * x for x in errs) / n)
    within = sum(1 for e, w in pairs if abs(e - w) <= max(30.0, 0.25 * w)) / n
    return {
        "n": n,
        "rmse_s": rmse,
        "bias_s": math.fsum(errs) / n,
        "mae_s": math.fsum(abs(x) for x in errs) / n,
        "within_share": within,
        "mean_wait_s": mean_wait,
        "rmse_over_mean_wait": rmse / mean_wait if mean_wait > 0 else None,
    }


def _se(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return math.nan
    m = math.fsum(values) / n
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (n - 1) / n)


def simulate(
    agents: int,
    arrivals_per_hour: float,
    aht_s: float,
    patience_s: float | None,
    hours: float,
    seed: int = 1,
    queues: int = 1,
    levels: int = 1,
    wrapup_s: float = 0.0,
    sl_threshold_s: float = 20.0,
    short_abandon_s: float = 5.0,
    warmup_hours: float | None = None,
) -> dict[str, object]:
    """Run ``hours`` of traffic and return one JSON-ready dict of results.

    ``queues`` > 1 splits arrivals uniformly over the queues; agent i has queue i mod Q at
    level 1 and, with ``levels`` = L > 1, the next L - 1 queues at levels 2..L.
    ``patience_s`` None (or <= 0, or inf) means callers never give up.
    """
    if agents < 1 or queues < 1 or levels < 1 or hours <= 0 or arrivals_per_hour <= 0:
        raise ValueError("agents, queues, levels, hours and arrivals must be positive")
    rng = random.Random(seed)
    start = 1_700_000_000.0
    clock = VirtualClock(start)
    engine = Engine(clock, EngineConfig())
    for q in range(1, queues + 1):
        engine.configure_queue(
            QueueConfig(
                id=q,
                name=f"sim{q}",
                wrapup_s=wrapup_s,
                sl_threshold_s=sl_threshold_s,
                short_abandon_s=short_abandon_s,
                sticky_wait_s=0.0,
            )
        )
    for i in range(agents):
        skills = {(i + k) % queues + 1: k + 1 for k in range(min(levels, queues))}
        engine.agent_login(i + 1, skills)

    impatient = patience_s is not None and 0 < patience_s < math.inf
    lam = arrivals_per_hour / 3600.0
    warm = hours * 0.1 if warmup_hours is None else warmup_hours
    t_from = start + warm * 3600.0
    t_to = start + (warm + hours) * 3600.0
    batch_len = (t_to - t_from) / _BATCHES

    calls: dict[int, _SimCall] = {}
    agent_call: dict[int, int] = {}
    busy_time = 0.0
    asterisk = {q: AsteriskHoldtime() for q in range(1, queues + 1)}
    st = _Stats()
    heap: list[tuple[float, int, int, int]] = []
    seq = 0

    def push(t: float, kind: int, ident: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, kind, ident))

    def apply(out: Outcome) -> None:
        nonlocal busy_time
        pending = list(out.decisions)
        while pending:
            d = pending.pop(0)
            now = clock.now()
            if isinstance(d, Ring):
                c = calls[d.call_id]
                engine.offer_answered(d.agent_id, d.call_id)
                c.answered_at = now
                agent_call[d.agent_id] = d.call_id
                wait = now - c.arrived
                asterisk[c.queue_id].answered(wait)
                talk = rng.expovariate(1.0 / aht_s)
                lo, hi = max(now, t_from), min(now + talk + wrapup_s, t_to)
                if hi > lo:
                    busy_time += hi - lo
                push(now + talk, _END, d.call_id)
                if c.counted:
                    st.answered += 1
                    st.waits.append(wait)
                    b = min(_BATCHES - 1, int((c.arrived - t_from) / batch_len))
                    if wait <= sl_threshold_s:
                        st.answered_within += 1
                        st.batch_within[b] += 1
                    if c.ewt is not None and c.asterisk is not None:
                        st.ewt_pairs.append((c.ewt, c.asterisk, wait))
            elif isinstance(d, Announce):
                c = calls[d.call_id]
                if c.ewt is None:
                    c.ewt = d.ewt_s
                    c.asterisk = asterisk[c.queue_id].estimate()
                    if c.counted:
                        st.delayed += 1
                    if impatient:
                        assert patience_s is not None
                        push(now + rng.expovariate(1.0 / patience_s), _ABANDON, d.call_id)
            elif isinstance(d, (StopRinging, Overflow, ToVoicemail, StartCallback)):
                pass  # not produced by this configuration (no timeouts, no overflow)

    t = start
    push(t + rng.expovariate(lam), _ARRIVAL, 0)
    next_id = 0
    while heap or engine.next_deadline() is not None:
        deadline = engine.next_deadline()
        if heap and (deadline is None or heap[0][0] <= deadline):
            t, _, kind, ident = heapq.heappop(heap)
        else:
            assert deadline is not None
            clock.set(deadline)
            apply(engine.tick())
            continue
        clock.set(t)
        if kind == _ARRIVAL:
            if t >= t_to:
                continue  # stop arrivals; drain what is in the system
            next_id += 1
            qid = rng.randrange(queues) + 1 if queues > 1 else 1
            counted = t >= t_from
            calls[next_id] = _SimCall(qid, t, counted)
            if counted:
                st.offered += 1
                st.batch_offered[min(_BATCHES - 1, int((t - t_from) / batch_len))] += 1
            apply(engine.call_arrived(next_id, qid, f"sim-{next_id}", simulated=True))
            push(t + rng.expovariate(lam), _ARRIVAL, 0)
        elif kind == _END:
            c = calls.pop(ident)
            apply(engine.call_ended(ident))
        elif kind == _ABANDON:
            c = calls.get(ident)  # type: ignore[assignment]
            if c is not None and c.answered_at is None and not c.gone:
                c.gone = True
                apply(engine.caller_abandoned(ident))
                calls.pop(ident)
                if c.counted:
                    wait = t - c.arrived
                    st.abandoned += 1
                    st.batch_abandoned[
                        min(_BATCHES - 1, int((c.arrived - t_from) / batch_len))
                    ] += 1
                    if wait < short_abandon_s:
                        st.short_abandoned += 1
                    else:
                        st.long_abandoned += 1

    duration = t_to - t_from
    ours = _error_summary([(e, w) for e, _a, w in st.ewt_pairs])
    theirs = _error_summary([(a, w) for _e, a, w in st.ewt_pairs])
    offered = st.offered
    sl_den = st.answered + st.long_abandoned
    batch_sl = [w / o for w, o in zip(st.batch_within, st.batch_offered, strict=True) if o]
    batch_ab = [a / o for a, o in zip(st.batch_abandoned, st.batch_offered, strict=True) if o]
    result: dict[str, object] = {
        "params": {
            "agents": agents,
            "arrivals_per_hour": arrivals_per_hour,
            "aht_s": aht_s,
            "patience_s": patience_s if impatient else None,
            "hours": hours,
            "warmup_hours": warm,
            "seed": seed,
            "queues": queues,
            "levels": levels,
            "wrapup_s": wrapup_s,
        },
        "offered": offered,
        "answered": st.answered,
        "abandoned": st.abandoned,
        "short_abandoned": st.short_abandoned,
        "delayed": st.delayed,
        "service_level_20s": st.answered_within / sl_den if sl_den else None,
        "sl1_20s": st.answered_within / st.answered if st.answered else None,
        "answered_within_20s_share": st.answered_within / offered if offered else None,
        "asa_s": math.fsum(st.waits) / len(st.waits) if st.waits else None,
        "abandon_rate": st.abandoned / offered if offered else None,
        "p_wait": st.delayed / offered if offered else None,
        "occupancy": None,
        "standard_errors": {
            "answered_within_20s_share": _se(batch_sl),
            "abandon_rate": _se(batch_ab),
            "method": f"batch means over {_BATCHES} batches",
        },
        "ewt": ours,
        "ewt_asterisk": theirs,
    }
    result["occupancy"] = busy_time / (agents * duration)
    if queues == 1:
        traffic = arrivals_per_hour * (aht_s + wrapup_s) / 3600.0
        theory: dict[str, object] = {"traffic_erlangs": traffic}
        if impatient:
            assert patience_s is not None
            ea = ErlangA(traffic, agents, aht_s + wrapup_s, patience_s)
            theory.update(
                model="erlang_a",
                p_wait=ea.p_wait(),
                abandon_rate=ea.p_abandon(),
                answered_within_20s_share=ea.service_level(sl_threshold_s),
            )
        elif traffic < agents:
            ec = ErlangC(traffic, agents, aht_s + wrapup_s)
            theory.update(
                model="erlang_c",
                p_wait=ec.p_wait(),
                abandon_rate=0.0,
                answered_within_20s_share=ec.service_level(sl_threshold_s),
                asa_s=ec.asa(),
            )
        result["erlang"] = theory
    return result
