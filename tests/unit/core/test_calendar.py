from __future__ import annotations

import datetime as dt

import pytest

from zvans.core.calendar import BusinessHours

RIGA = "Europe/Riga"
H = BusinessHours.from_spec(
    {0: [("08:30", "12:00"), ("13:00", "17:00")], 4: [("08:30", "15:00")]},
    holidays=["2026-12-25"],
    tz=RIGA,
)


def ts(y: int, mo: int, d: int, hh: int, mm: int = 0, tz: str = RIGA) -> float:
    from zoneinfo import ZoneInfo

    return dt.datetime(y, mo, d, hh, mm, tzinfo=ZoneInfo(tz)).timestamp()


def test_is_open_in_local_time() -> None:
    assert H.is_open(ts(2026, 11, 23, 9))  # Monday 09:00 Riga
    assert not H.is_open(ts(2026, 11, 23, 12, 30))  # lunch gap
    assert not H.is_open(ts(2026, 11, 23, 17))  # close is exclusive
    assert not H.is_open(ts(2026, 11, 24, 9))  # Tuesday: no hours
    assert H.is_open(ts(2026, 11, 23, 7, 0, "UTC"))  # 09:00 in Riga (UTC+2)


def test_holiday_closed() -> None:
    assert not H.is_open(ts(2026, 12, 25, 10))  # a Friday, but a holiday


def test_next_opening() -> None:
    assert H.next_opening(ts(2026, 11, 23, 9)) == ts(2026, 11, 23, 9)
    assert H.next_opening(ts(2026, 11, 23, 12, 15)) == ts(2026, 11, 23, 13)
    assert H.next_opening(ts(2026, 11, 23, 18)) == ts(2026, 11, 27, 8, 30)
    assert H.next_opening(ts(2026, 12, 24, 18)) == ts(2026, 12, 28, 8, 30)  # skips holiday


def test_always_and_errors() -> None:
    assert BusinessHours.always().is_open(0.0)
    with pytest.raises(ValueError):
        BusinessHours.from_spec({7: [("08:00", "09:00")]})
    with pytest.raises(ValueError):
        BusinessHours.from_spec({0: [("10:00", "09:00")]})
    with pytest.raises(ValueError):
        BusinessHours.from_spec({}).next_opening(0.0)
