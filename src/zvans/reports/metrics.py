"""Formulas the reports need on top of ``zvans.core.metrics``, which works on lists of
waits; reports have sums and counts already aggregated by SQL. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable


def mean_of(total: float, count: int) -> float | None:
    """total / count, or None when nothing was counted."""
    return None if count <= 0 else total / count


def asa_counts(answered_wait_s: float, answered: int) -> float | None:
    """ASA = summed wait of answered calls / answered calls."""
    return mean_of(answered_wait_s, answered)


def sl1_counts(answered_within: int, answered: int) -> float | None:
    """SL1 = answered within T / answered."""
    return mean_of(answered_within, answered)


def per_hour(count: int, seconds: float) -> float | None:
    """count per hour of ``seconds`` (e.g. answered calls per logged-in hour)."""
    return None if seconds <= 0 else count / (seconds / 3600.0)


def team_average(values: Iterable[float | None]) -> float | None:
    """Plain mean over the agents that have a value (each agent weighs the same)."""
    present = [v for v in values if v is not None]
    return None if not present else sum(present) / len(present)


def relative_to(value: float | None, average: float | None) -> float | None:
    """value / average − 1: +0.1 = 10 % above the team average."""
    if value is None or average is None or average == 0:
        return None
    return value / average - 1.0
