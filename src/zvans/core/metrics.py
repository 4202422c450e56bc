"""Metric definitions of DESIGN.md, as pure functions: every report and wallboard uses these,
so a figure means the same thing everywhere."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

DEFAULT_SL_THRESHOLD_S = 20.0
DEFAULT_SHORT_ABANDON_S = 5.0
WAIT_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<=5", 5.0),
    ("<=15", 15.0),
    ("<=30", 30.0),
    ("<=60", 60.0),
    ("<=120", 120.0),
)
OVER_LAST_BUCKET = ">120"
BUCKET_LABELS: tuple[str, ...] = (*(label for label, _ in WAIT_BUCKETS), OVER_LAST_BUCKET)


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def service_level(
    answered_waits: Iterable[float],
    abandoned_waits: Iterable[float],
    threshold_s: float = DEFAULT_SL_THRESHOLD_S,
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S,
) -> float | None:
    """SL(T) = answered within T / (answered + abandoned after the short-abandon threshold).

    Returns None when there is nothing to measure (no call), not a made-up 100 %."""
    answered = list(answered_waits)
    within = sum(1 for w in answered if w <= threshold_s)
    long_abandons = sum(1 for w in abandoned_waits if w >= short_abandon_s)
    return _ratio(within, len(answered) + long_abandons)


def service_level_counts(answered_within: int, answered: int, abandoned_long: int) -> float | None:
    """SL(T) from counts already aggregated (e.g. by SQL)."""
    return _ratio(answered_within, answered + abandoned_long)


def sl1(
    answered_waits: Iterable[float], threshold_s: float = DEFAULT_SL_THRESHOLD_S
) -> float | None:
    """SL1 = answered within T / answered."""
    answered = list(answered_waits)
    return _ratio(sum(1 for w in answered if w <= threshold_s), len(answered))


def asa(answered_waits: Sequence[float]) -> float | None:
    """Average speed of answer: mean wait of answered calls."""
    return _ratio(sum(answered_waits), len(answered_waits))


def abandon_rate(abandoned: int, offered: int) -> float | None:
    """Abandoned / offered (callbacks are not abandons; short abandons are included here,
    reports show them apart with :func:`is_short_abandon`)."""
    return _ratio(abandoned, offered)


def is_short_abandon(wait_s: float, short_abandon_s: float = DEFAULT_SHORT_ABANDON_S) -> bool:
    return wait_s < short_abandon_s


def aht(talk_s: float, hold_s: float, wrapup_s: float, handled: int) -> float | None:
    """Average handle time = (talk + hold + wrap-up) / handled."""
    return _ratio(talk_s + hold_s + wrapup_s, handled)


def occupancy(
    talk_s: float, hold_s: float, wrapup_s: float, logged_in_s: float, paused_s: float
) -> float | None:
    """(talk + hold + wrap-up) / (logged-in − paused) time."""
    return _ratio(talk_s + hold_s + wrapup_s, logged_in_s - paused_s)


def wait_bucket(wait_s: float) -> str:
    """Histogram bucket of a wait (seed 001): <=5, <=15, <=30, <=60, <=120, >120 s."""
    for label, limit in WAIT_BUCKETS:
        if wait_s <= limit:
            return label
    return OVER_LAST_BUCKET


def wait_histogram(waits: Iterable[float]) -> dict[str, int]:
    hist = dict.fromkeys(BUCKET_LABELS, 0)
    for w in waits:
        hist[wait_bucket(w)] += 1
    return hist
