from __future__ import annotations

import math

import pytest

from zvans.core.ewt import AbandonRate, AsteriskHoldtime, MeanWindow, digamma, expected_wait


def test_digamma() -> None:
    assert digamma(1.0) == pytest.approx(-0.5772156649015329, abs=1e-12)
    assert digamma(0.5) == pytest.approx(-1.9635100260214235, abs=1e-12)
    assert digamma(100.0) == pytest.approx(4.600161852738087, abs=1e-12)


def test_expected_wait_without_abandonment_is_k_aht_over_n() -> None:
    assert expected_wait(3, 2, 180) == pytest.approx(270)
    assert expected_wait(0, 2, 180) == 0.0


def test_expected_wait_with_abandonment_matches_the_sum() -> None:
    for k in (1, 5, 16, 17, 40, 500):
        rate, theta = 10 / 180, 1 / 300
        direct = math.fsum(1 / (rate + j * theta) for j in range(k))
        assert expected_wait(k, 10, 180, theta) == pytest.approx(direct, rel=1e-10)
        assert expected_wait(k, 10, 180, theta) <= k * 18


def test_learners() -> None:
    w = MeanWindow(3, prior=100)
    assert w.mean() == 100
    for v in (10, 20, 30, 40):
        w.add(v)
    assert w.mean() == pytest.approx(30) and len(w) == 3
    r = AbandonRate(1000)
    r.departed(100, True)
    r.departed(100, False)
    assert r.rate() == pytest.approx(1 / 200, rel=1e-2)
    a = AsteriskHoldtime()
    a.answered(40)
    a.answered(40)
    assert a.estimate() == pytest.approx(17.5)
