from __future__ import annotations

import pytest

from zvans.core import metrics as m


def test_service_level_counts_long_abandons_only() -> None:
    answered = [3, 10, 25, 40]
    abandoned = [2, 4, 30]  # two short abandons (< 5 s) are left out
    assert m.service_level(answered, abandoned) == pytest.approx(2 / 5)
    assert m.sl1(answered) == pytest.approx(2 / 4)
    assert m.service_level([], []) is None
    assert m.service_level_counts(2, 4, 1) == pytest.approx(0.4)


def test_asa_aht_occupancy_rates() -> None:
    assert m.asa([10, 20]) == 15
    assert m.asa([]) is None
    assert m.abandon_rate(1, 4) == 0.25
    assert m.aht(600, 60, 140, 4) == 200
    assert m.occupancy(600, 60, 140, 3600, 2000) == pytest.approx(0.5)
    assert m.is_short_abandon(4.9) and not m.is_short_abandon(5.0)


def test_wait_buckets() -> None:
    assert [m.wait_bucket(w) for w in (0, 5, 5.1, 15, 30, 60, 120, 121)] == [
        "<=5",
        "<=5",
        "<=15",
        "<=15",
        "<=30",
        "<=60",
        "<=120",
        ">120",
    ]
    assert m.wait_histogram([1, 200, 3]) == {
        "<=5": 2,
        "<=15": 0,
        "<=30": 0,
        "<=60": 0,
        "<=120": 0,
        ">120": 1,
    }
