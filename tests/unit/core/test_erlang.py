"""Published vectors (they reproduce the pyworkforce project's tests) to 1e-4."""

from __future__ import annotations

import math

import pytest

from zvans.core.erlang import ErlangA, ErlangC, erlang_b, erlang_c_agents

TOL = 1e-4


def test_erlang_b() -> None:
    assert erlang_b(10, 14) == pytest.approx(0.0568, abs=TOL)  # classic table value
    assert erlang_b(1, 1) == pytest.approx(0.5)
    assert erlang_b(0, 3) == 0.0


def test_erlang_c_vectors() -> None:
    c = ErlangC(traffic=10, servers=14, aht_s=180)
    assert c.p_wait() == pytest.approx(0.1741, abs=TOL)
    assert c.service_level(20) == pytest.approx(0.8884, abs=TOL)
    assert round(c.asa(), 1) == 7.8
    assert c.occupancy() == pytest.approx(10 / 14)


def test_erlang_c_unstable() -> None:
    c = ErlangC(traffic=15, servers=14, aht_s=180)
    assert c.p_wait() == 1.0 and c.service_level(20) == 0.0 and math.isinf(c.asa())


def test_agents_for_target() -> None:
    assert erlang_c_agents(10, 180, 0.8, 20) == 14  # 13 agents give SL < 0.8
    assert ErlangC(10, 13, 180).service_level(20) < 0.8


def test_erlang_a_vectors() -> None:
    a = ErlangA(traffic=10, servers=14, aht_s=180, patience_s=300)
    assert a.p_wait() == pytest.approx(0.14526, abs=TOL)
    assert a.p_abandon() == pytest.approx(0.013984, abs=TOL)
    assert a.service_level(20) == pytest.approx(0.916792, abs=TOL)


def test_erlang_a_consistency() -> None:
    a = ErlangA(traffic=10, servers=14, aht_s=180, patience_s=300)
    # answered + abandoned = 1, computed two independent ways
    assert a.p_answered() + a.p_abandon() == pytest.approx(1.0, abs=1e-9)
    # service level grows to P(answered) with t
    assert a.service_level(1e6) == pytest.approx(a.p_answered(), abs=1e-6)
    assert a.service_level(0) == pytest.approx(1 - a.p_wait(), abs=1e-9)
    # very patient callers: Erlang A tends to Erlang C
    patient = ErlangA(traffic=10, servers=14, aht_s=180, patience_s=1e9)
    c = ErlangC(10, 14, 180)
    assert patient.p_wait() == pytest.approx(c.p_wait(), abs=1e-5)
    assert patient.service_level(20) == pytest.approx(c.service_level(20), abs=1e-5)
    assert patient.asa() == pytest.approx(c.asa() / c.p_wait() * c.p_wait(), rel=1e-3)


def test_erlang_a_overloaded_is_stable() -> None:
    a = ErlangA(traffic=20, servers=14, aht_s=180, patience_s=120)
    assert 0 < a.p_abandon() < 1
    assert a.p_wait() > 0.85
    # flow balance: served + abandoned = offered, so served load = (1 - P(ab)) * A < N
    assert (1 - a.p_abandon()) * 20 < 14
