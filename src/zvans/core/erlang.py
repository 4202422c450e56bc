"""Queue maths for staffing and for checking the simulator: Erlang B, Erlang C (M/M/N) and
Erlang A (M/M/N+M, exponential patience).

Erlang A is computed exactly: the stationary distribution of the birth-death chain, and the
waiting-time distribution by uniformization of the pure-death chain a waiting caller walks
down (position j ... 0, then served; abandoning at any step). Uniformization sums only
positive terms, so it keeps its precision where the closed-form hypoexponential sum (an
alternating sum of exponentials) cancels catastrophically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_b(traffic: float, servers: int) -> float:
    """Blocking probability of M/M/N/N (stable recurrence)."""
    if servers < 0 or traffic < 0:
        raise ValueError("traffic and servers must be >= 0")
    b = 1.0
    for n in range(1, servers + 1):
        b = traffic * b / (n + traffic * b)
    return b


@dataclass(frozen=True)
class ErlangC:
    """M/M/N with infinite patience. ``traffic`` in erlangs, ``aht_s`` in seconds."""

    traffic: float
    servers: int
    aht_s: float

    def stable(self) -> bool:
        return self.traffic < self.servers

    def p_wait(self) -> float:
        if not self.stable():
            return 1.0
        b = erlang_b(self.traffic, self.servers)
        rho = self.traffic / self.servers
        return b / (1.0 - rho * (1.0 - b))

    def service_level(self, t_s: float) -> float:
        """P(wait <= t)."""
        if not self.stable():
            return 0.0
        rate = (self.servers - self.traffic) / self.aht_s
        return 1.0 - self.p_wait() * math.exp(-rate * t_s)

    def asa(self) -> float:
        """Mean wait of all callers (average speed of answer)."""
        if not self.stable():
            return math.inf
        return self.p_wait() * self.aht_s / (self.servers - self.traffic)

    def occupancy(self) -> float:
        return min(1.0, self.traffic / self.servers) if self.servers else 1.0


def erlang_c_agents(
    traffic: float, aht_s: float, target_sl: float, t_s: float, max_servers: int = 100_000
) -> int:
    """Fewest agents whose Erlang C service level SL(t) reaches ``target_sl``."""
    n = max(1, math.floor(traffic) + 1)
    while n <= max_servers:
        if ErlangC(traffic, n, aht_s).service_level(t_s) >= target_sl:
            return n
        n += 1
    raise ValueError("target service level not reachable")


@dataclass(frozen=True)
class ErlangA:
    """M/M/N+M: Poisson arrivals, exponential handle time and patience."""

    traffic: float
    servers: int
    aht_s: float
    patience_s: float

    def _chain(self) -> tuple[list[float], list[float]]:
        """Stationary probabilities of the number in system and the queue's death rates."""
        lam = self.traffic / self.aht_s
        mu = 1.0 / self.aht_s
        theta = 1.0 / self.patience_s
        n_srv = self.servers
        # unnormalised, in log space for the server part to avoid overflow
        logs = [0.0]
        for n in range(1, n_srv + 1):
            logs.append(logs[-1] + math.log(lam / (n * mu)))
        top = max(logs)
        weights = [math.exp(v - top) for v in logs]
        rates: list[float] = []
        w = weights[-1]
        j = 0
        while True:
            j += 1
            death = n_srv * mu + j * theta
            w *= lam / death
            weights.append(w)
            rates.append(death)
            if death > lam and w < 1e-18 * weights[n_srv]:
                break
            if j > 10_000_000:
                raise ValueError("Erlang A chain did not converge")
        total = math.fsum(weights)
        return [x / total for x in weights], rates

    def p_wait(self) -> float:
        probs, _ = self._chain()
        return math.fsum(probs[self.servers :])

    def mean_queue(self) -> float:
        probs, _ = self._chain()
        n_srv = self.servers
        return math.fsum((n - n_srv) * p for n, p in enumerate(probs) if n > n_srv)

    def p_abandon(self) -> float:
        """Little's law on the queue: abandonment flow = theta * E[queue length]."""
        lam = self.traffic / self.aht_s
        return self.mean_queue() / self.patience_s / lam

    def asa(self) -> float:
        """Mean wait of answered callers."""
        served, _abandoned, wait_served = self._outcomes(math.inf)
        return wait_served / served if served > 0 else 0.0

    def _outcomes(self, t_s: float) -> tuple[float, float, float]:
        """(P(answered within t), P(abandoned within t), E[wait; answered]) for an arrival.

        With t = inf the first two are the total probabilities."""
        probs, _rates = self._chain()
        n_srv = self.servers
        theta = 1.0 / self.patience_s
        mu_n = n_srv / self.aht_s
        # an arrival seeing N + j in the system starts at position j (j callers ahead)
        start = probs[n_srv:]  # start[j] = P(arrival sees j ahead), j >= 0
        served_now = math.fsum(probs[:n_srv])
        jmax = len(start) - 1
        # phase j: progress rate mu_n + j*theta (someone ahead served or gone), own abandon theta
        prog = [mu_n + j * theta for j in range(jmax + 1)]
        if math.isinf(t_s):
            # closed forms per phase: P(progress) = r/(r+theta), E[time in phase] = 1/(r+theta)
            served = 0.0
            wait_served = 0.0
            p_serve_from = [0.0] * (jmax + 1)
            e_wait_from = [0.0] * (jmax + 1)  # E[W; served | start j]
            for j in range(jmax + 1):
                r = prog[j]
                q = r / (r + theta)
                prev_p = 1.0 if j == 0 else p_serve_from[j - 1]
                prev_w = 0.0 if j == 0 else e_wait_from[j - 1]
                p_serve_from[j] = q * prev_p
                e_wait_from[j] = q * (prev_w + prev_p / (r + theta))
            for j in range(jmax + 1):
                served += start[j] * p_serve_from[j]
                wait_served += start[j] * e_wait_from[j]
            total_wait = math.fsum(start)
            return served_now + served, total_wait - served, wait_served
        # uniformization of the killed pure-death chain
        lam_u = max(p + theta for p in prog)
        vec = list(start)
        served_mass = 0.0
        aband_mass = 0.0
        x = lam_u * t_s
        # Poisson weights computed incrementally in log space
        k = 0
        log_w = -x
        cum_served = 0.0
        cum_aband = 0.0
        tail_left = 1.0
        kmax = int(x + 12.0 * math.sqrt(x + 1.0) + 50)
        while k <= kmax:
            wk = math.exp(log_w)
            cum_served += wk * served_mass
            cum_aband += wk * aband_mass
            tail_left -= wk
            # one uniformized step
            new = [0.0] * len(vec)
            for j, m in enumerate(vec):
                if m == 0.0:
                    continue
                r = prog[j]
                p_prog = r / lam_u
                p_ab = theta / lam_u
                aband_mass += m * p_ab
                if j == 0:
                    served_mass += m * p_prog
                else:
                    new[j - 1] += m * p_prog
                new[j] += m * (1.0 - p_prog - p_ab)
            vec = new
            k += 1
            log_w += math.log(x / k) if x > 0 else -math.inf
        # the mass beyond kmax is negligible (< 1e-15); absorbed masses are monotone
        cum_served += max(0.0, tail_left) * served_mass
        cum_aband += max(0.0, tail_left) * aband_mass
        return served_now + cum_served, cum_aband, math.nan

    def service_level(self, t_s: float) -> float:
        """P(answered within t) over all arrivals (abandoners count as not served)."""
        return self._outcomes(t_s)[0]

    def p_abandon_within(self, t_s: float) -> float:
        return self._outcomes(t_s)[1]

    def p_answered(self) -> float:
        return self._outcomes(math.inf)[0]
