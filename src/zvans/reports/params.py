"""Report parameters, their validation, and the organisation context a report needs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.errors import Forbidden, InvalidInput, NotFound
from zvans.reports.facts import Filters
from zvans.store.models import (
    AgentProfile,
    Organisation,
    PauseReason,
    Queue,
    User,
    WrapupCode,
)

GROUPS = ("total", "day", "hour")
SOURCES = ("auto", "raw")
MAX_DAYS = 366 * 10


@dataclass(frozen=True)
class ReportParams:
    """A date range in the organisation's time zone (both days included), a grouping and
    filters. ``source="raw"`` ignores the rollups (used to prove they agree)."""

    date_from: date
    date_to: date
    group: str = "total"
    queue_ids: tuple[int, ...] = ()
    agent_ids: tuple[int, ...] = ()
    source: str = "auto"

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "group": self.group, "queue_ids": list(self.queue_ids),
                "agent_ids": list(self.agent_ids)}


def parse_date(value: str, field_name: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(field_name, f"{field_name}: expected a date YYYY-MM-DD, got "
                                       f"{value!r}") from None


@dataclass
class Context:
    """Everything a report builder needs besides the facts."""

    session: Session
    org: Organisation
    params: ReportParams
    tz: ZoneInfo
    start: datetime
    end: datetime
    now: datetime
    queues: dict[int, Queue]
    agents: dict[int, User]
    pause_reasons: list[PauseReason]
    wrapup_codes: list[WrapupCode]
    #: Set when the viewer is an agent: every figure is restricted to this agent.
    only_agent_id: int | None = None
    filters: Filters = field(default_factory=Filters)

    @property
    def org_id(self) -> int:
        return self.org.id

    def period(self, at: datetime) -> str:
        """The row label of an instant: '' for totals, the local day or the local hour."""
        if self.params.group == "total":
            return ""
        local = at.astimezone(self.tz)
        if self.params.group == "day":
            return local.date().isoformat()
        return local.strftime("%Y-%m-%d %H:00")

    def with_group(self, group: str) -> Context:
        return replace(self, params=replace(self.params, group=group))

    def for_days(self, first: date, last: date) -> Context:
        """The same context over other days (totals only)."""
        start, end = local_range(self.tz, first, last)
        params = replace(self.params, date_from=first, date_to=last, group="total")
        return replace(self, params=params, start=start, end=end)

    def queue_name(self, queue_id: int) -> str:
        q = self.queues.get(queue_id)
        return q.name if q is not None else f"#{queue_id}"

    def agent_name(self, agent_id: int) -> str:
        u = self.agents.get(agent_id)
        return u.display_name if u is not None else f"#{agent_id}"

    def agent_wanted(self, agent_id: int) -> bool:
        if agent_id == 0:
            return False
        return not self.filters.agent_ids or agent_id in self.filters.agent_ids


def local_range(tz: ZoneInfo, date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[local midnight of date_from, local midnight after date_to) as UTC instants."""
    start = datetime.combine(date_from, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def make_context(
    session: Session, org_id: int, params: ReportParams, *, now: datetime,
    only_agent_id: int | None = None, agent_level: bool = True,
) -> Context:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"no organisation with id {org_id}", code="no-such-org")
    if params.group not in GROUPS:
        raise InvalidInput("group", f"group must be one of {', '.join(GROUPS)}")
    if params.source not in SOURCES:
        raise InvalidInput("source", f"source must be one of {', '.join(SOURCES)}")
    if params.date_to < params.date_from:
        raise InvalidInput("to", "the end date is before the start date")
    if (params.date_to - params.date_from).days >= MAX_DAYS:
        raise InvalidInput("to", f"a report covers at most {MAX_DAYS} days")
    try:
        tz = ZoneInfo(org.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    queues = {q.id: q for q in session.execute(
        select(Queue).where(Queue.org_id == org_id).order_by(Queue.name)).scalars()}
    agents = {u.id: u for u in session.execute(
        select(User).where(User.org_id == org_id).order_by(User.username)).scalars()}
    for qid in params.queue_ids:
        if qid not in queues:
            raise InvalidInput("queue", f"no queue with id {qid} in this organisation",
                               code="no-such-queue")
    for aid in params.agent_ids:
        if aid not in agents:
            raise InvalidInput("agent", f"no user with id {aid} in this organisation",
                               code="no-such-agent")
    agent_ids = params.agent_ids
    if only_agent_id is not None:
        if not agent_level:
            raise Forbidden("this report is for supervisors", code="report-forbidden")
        if agent_ids and set(agent_ids) != {only_agent_id}:
            raise Forbidden("an agent sees only their own statistics", code="report-forbidden")
        agent_ids = (only_agent_id,)
    pause_reasons = list(session.execute(
        select(PauseReason).where(PauseReason.org_id == org_id)
        .order_by(PauseReason.position, PauseReason.id)).scalars())
    wrapup_codes = list(session.execute(
        select(WrapupCode).where(WrapupCode.org_id == org_id)
        .order_by(WrapupCode.position, WrapupCode.id)).scalars())
    start, end = local_range(tz, params.date_from, params.date_to)
    return Context(
        session=session, org=org, params=params, tz=tz, start=start, end=end, now=now,
        queues=queues, agents=agents, pause_reasons=pause_reasons, wrapup_codes=wrapup_codes,
        only_agent_id=only_agent_id,
        filters=Filters(queue_ids=params.queue_ids, agent_ids=agent_ids),
    )


def agent_user_ids(session: Session, org_id: int) -> set[int]:
    return set(session.execute(
        select(AgentProfile.user_id).where(AgentProfile.org_id == org_id)).scalars())
