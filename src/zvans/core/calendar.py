"""Business hours of a queue: weekly opening intervals in a local timezone, plus holidays."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

Interval = tuple[dt.time, dt.time]


def _parse_time(value: str | dt.time) -> dt.time:
    if isinstance(value, dt.time):
        return value
    hh, _, mm = value.partition(":")
    if hh == "24" and mm in ("", "00"):
        return dt.time.max
    return dt.time(int(hh), int(mm or 0))


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours.

    ``weekly`` maps a weekday (0 = Monday … 6 = Sunday) to a list of ``(open, close)``
    intervals in local time, close exclusive (``"24:00"`` allowed). ``holidays`` are local
    dates on which the queue is closed all day. ``tz`` is an IANA timezone name.
    """

    weekly: Mapping[int, Sequence[Interval]]
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    tz: str = "UTC"

    @classmethod
    def from_spec(
        cls,
        weekly: Mapping[int, Iterable[tuple[str | dt.time, str | dt.time]]],
        holidays: Iterable[dt.date | str] = (),
        tz: str = "UTC",
    ) -> BusinessHours:
        """Build from strings, e.g. ``{0: [("08:30", "17:00")]}`` and ISO holiday dates."""
        week: dict[int, list[Interval]] = {}
        for day, intervals in weekly.items():
            if not 0 <= day <= 6:
                raise ValueError(f"weekday {day} out of range 0..6")
            parsed = sorted((_parse_time(a), _parse_time(b)) for a, b in intervals)
            for a, b in parsed:
                if not a < b:
                    raise ValueError(f"empty interval {a}-{b}")
            week[day] = parsed
        hol = frozenset(h if isinstance(h, dt.date) else dt.date.fromisoformat(h) for h in holidays)
        ZoneInfo(tz)  # fail early on an unknown zone
        return cls(weekly=week, holidays=hol, tz=tz)

    @classmethod
    def always(cls) -> BusinessHours:
        return cls.from_spec({d: [("00:00", "24:00")] for d in range(7)})

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def _local(self, t: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(t, self._zone())

    def is_open(self, t: float) -> bool:
        local = self._local(t)
        if local.date() in self.holidays:
            return False
        now = local.time().replace(tzinfo=None)
        return any(a <= now < b for a, b in self.weekly.get(local.weekday(), ()))

    def next_opening(self, t: float) -> float:
        """The first instant >= t at which the queue is open (t itself if open now).

        Raises ValueError when the calendar never opens within a year."""
        if self.is_open(t):
            return t
        zone = self._zone()
        day = self._local(t).date()
        for offset in range(370):
            d = day + dt.timedelta(days=offset)
            if d in self.holidays:
                continue
            for a, _b in self.weekly.get(d.weekday(), ()):
                ts = dt.datetime.combine(d, a, tzinfo=zone).timestamp()
                if ts >= t:
                    return ts
        raise ValueError("business hours never open")
