"""SQL pieces that must read the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, cast, false, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from zvans.store.models import Event


class hour_start(FunctionElement[Any]):
    """The UTC hour a stored (naive UTC) timestamp falls in."""

    inherit_cache = True
    name = "hour_start"


@compiles(hour_start)
def _hour_start_default(element: hour_start, compiler: Any, **kw: Any) -> str:
    # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff"; qmark paramstyle, so '%' is literal here.
    return f"strftime('%Y-%m-%d %H:00:00', {compiler.process(element.clauses, **kw)})"


@compiles(hour_start, "postgresql")
def _hour_start_pg(element: hour_start, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('hour', {compiler.process(element.clauses, **kw)})"


def parse_hour(value: Any) -> datetime:
    """The value of ``hour_start`` (a string on SQLite, a naive timestamp on PostgreSQL),
    or of a stored ``UTCDateTime``, as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not an hour: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def data_str(key: str, default: str) -> ColumnElement[str]:
    return func.coalesce(Event.data[key].as_string(), default, type_=String)


def data_ms(key: str) -> ColumnElement[int]:
    """A number of seconds in ``data[key]`` as whole milliseconds (0 when missing).

    Sums of integers are exact, so the rollup and the raw scan agree to the last digit."""
    return func.coalesce(
        cast(func.round(Event.data[key].as_float() * 1000), BigInteger), 0, type_=BigInteger)


def not_callback() -> ColumnElement[bool]:
    """False for the ``answered`` event of a callback (``data.callback`` true): the agent
    reaching a caller who asked to be called back is not a queue answer — its "wait" is the
    time since the original call — so it stays out of answered, SL, ASA and the histogram."""
    return func.coalesce(Event.data["callback"].as_boolean(), false()) == false()


def naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)
