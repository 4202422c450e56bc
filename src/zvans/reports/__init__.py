"""Reports and statistics from the event log (issue 6).

One module used by the CLI, the web pages and the exports::

    report = run_report(session, org_id, "queues", ReportParams(date(2026, 1, 1),
                        date(2026, 1, 31), group="day"), only_agent_id=None)
    to_xlsx(report); to_csv(report); to_json(report); to_text(report)
    calls_behind(ctx, "answered", queue_id=3, period="2026-01-05")

Figures follow the metric definitions of DESIGN.md (``zvans.core.metrics``). Reports read
the per-hour rollups where ``catch_up`` has made them and scan the event log for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from zvans.errors import InvalidInput
from zvans.reports import agents, queues
from zvans.reports.drill import METRICS, calls_behind
from zvans.reports.export import to_csv, to_json, to_text, to_xlsx
from zvans.reports.params import Context, ReportParams, make_context, parse_date
from zvans.reports.quality import quality
from zvans.reports.rollup import catch_up, catch_up_all, rebuild
from zvans.reports.table import Column, Report, Table
from zvans.reports.topics import topics
from zvans.reports.unanswered import unanswered
from zvans.store.types import utcnow

Builder = Callable[[Context], Report]

#: name → (builder, whether an agent may see it restricted to their own figures)
REPORTS: dict[str, tuple[Builder, bool]] = {
    "agents": (agents.agents, True),
    "queues": (queues.queues, True),
    "unanswered": (unanswered, False),
    "outgoing": (agents.outgoing, True),
    "topics": (topics, True),
    "absence": (agents.absence, True),
    "quality": (quality, True),
    "yearly": (queues.yearly, True),
    "kpis": (agents.kpis, True),
    "live": (queues.live, False),
}
NAMES = tuple(REPORTS)


def context(session: Session, org_id: int, name: str, params: ReportParams, *,
            only_agent_id: int | None = None, now: datetime | None = None) -> Context:
    if name not in REPORTS:
        raise InvalidInput("name", f"no report {name!r}; choose one of {', '.join(NAMES)}",
                           code="no-such-report")
    return make_context(session, org_id, params, now=now or utcnow(),
                        only_agent_id=only_agent_id, agent_level=REPORTS[name][1])


def run_report(session: Session, org_id: int, name: str, params: ReportParams, *,
               only_agent_id: int | None = None, now: datetime | None = None) -> Report:
    """Build report ``name`` for one organisation. ``only_agent_id`` = the viewer is that
    agent: every figure is restricted to them, and supervisor-only reports are refused."""
    ctx = context(session, org_id, name, params, only_agent_id=only_agent_id, now=now)
    return REPORTS[name][0](ctx)


__all__ = [
    "METRICS", "NAMES", "REPORTS", "Column", "Context", "Report", "ReportParams", "Table",
    "calls_behind", "catch_up", "catch_up_all", "context", "parse_date", "rebuild",
    "run_report", "to_csv", "to_json", "to_text", "to_xlsx",
]
