"""Report pages (issue 6): every report with date range and filters, formulas on hover and
as footnotes, drill-down to the calls behind a number, server-side SVG charts, a printable
view and CSV / XLSX / JSON downloads. Agents see only their own statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from zvans import reports
from zvans.errors import InvalidInput, NotFound
from zvans.reports.charts import charts_for
from zvans.reports.export import format_value
from zvans.reports.params import GROUPS, parse_date
from zvans.reports.table import localize
from zvans.store.models import Organisation
from zvans.web.deps import SessionUser, db_session, require_role
from zvans.web.render import render, translator

router = APIRouter(include_in_schema=False)
ANY_ROLE = require_role("agent", "supervisor", "admin")
TITLES = {
    "agents": "Agent detailed statistics", "queues": "Queue statistics",
    "unanswered": "Unanswered unique calls", "outgoing": "Outgoing calls",
    "topics": "Topics", "absence": "Absence by reason", "quality": "Conversation quality",
    "yearly": "Yearly summary", "kpis": "Agent KPIs", "live": "Live skills display",
}
MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _only(user: SessionUser) -> int | None:
    return user.id if user.role == "agent" else None


def _allowed(user: SessionUser) -> list[str]:
    return [n for n in reports.NAMES if user.role != "agent" or reports.REPORTS[n][1]]


def _ids(request: Request, key: str) -> tuple[int, ...]:
    out = []
    for value in request.query_params.getlist(key):
        if value == "":
            continue
        if not value.isdigit():
            raise InvalidInput(key, f"{key}: expected an id, got {value!r}")
        out.append(int(value))
    return tuple(out)


def _params(request: Request, session: Session, user: SessionUser) -> reports.ReportParams:
    org = session.get(Organisation, user.org_id)
    today = datetime.now(ZoneInfo(org.timezone if org else "UTC")).date()
    q = request.query_params
    first = parse_date(q["from"], "from") if q.get("from") else today
    last = parse_date(q["to"], "to") if q.get("to") else first
    group = q.get("group") or "total"
    return reports.ReportParams(first, last, group=group, queue_ids=_ids(request, "queue"),
                                agent_ids=_ids(request, "agent"))


def _name(name: str) -> str:
    if name not in reports.REPORTS:
        raise NotFound(f"No report {name!r}.", code="no-such-report")
    return name


def _query(params: reports.ReportParams) -> list[tuple[str, str]]:
    pairs = [("from", params.date_from.isoformat()), ("to", params.date_to.isoformat()),
             ("group", params.group)]
    pairs += [("queue", str(i)) for i in params.queue_ids]
    pairs += [("agent", str(i)) for i in params.agent_ids]
    return pairs


@router.get("/reports")
def reports_index(request: Request, user: SessionUser = Depends(ANY_ROLE)) -> Response:
    items = [{"name": n, "title": TITLES[n]} for n in _allowed(user)]
    return render(request, "reports/index.html", {"active": "reports", "items": items})


@router.get("/reports/{name}")
def report_page(name: str, request: Request, user: SessionUser = Depends(ANY_ROLE),
                session: Session = Depends(db_session)) -> Response:
    name = _name(name)
    params = _params(request, session, user)
    report = reports.run_report(session, user.org_id, name, params, only_agent_id=_only(user))
    ctx = reports.context(session, user.org_id, name, params, only_agent_id=_only(user))
    query = urlencode(_query(params))
    footnotes: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for table in report.tables:
        for col in table.columns:
            if col.formula and col.formula not in seen:
                seen[col.formula] = len(footnotes) + 1
                footnotes.append({"label": col.label, "formula": col.formula})
    template = "reports/print.html" if request.query_params.get("print") else \
        "reports/report.html"
    return render(request, template, {
        "active": "reports", "report": report, "name": name, "title": TITLES[name],
        "params": params, "query": query, "footnotes": footnotes, "note_of": seen,
        "charts": charts_for(report, translator(request)), "fmt": format_value,
        "groups": GROUPS,
        "queues": [{"id": q.id, "name": q.name} for q in ctx.queues.values()],
        "agents": [{"id": a.id, "name": a.display_name} for a in ctx.agents.values()
                   if a.role in ("agent", "supervisor")] if _only(user) is None else [],
        "allowed": [{"name": n, "title": TITLES[n]} for n in _allowed(user)],
        "drill_url": _drill_url(name, params),
    })


def _drill_url(name: str, params: reports.ReportParams) -> Any:
    base = _query(params)

    def url(metric: str, row: dict[str, Any]) -> str:
        pairs = [*base, ("metric", metric)]
        for key in ("queue_id", "agent_id"):
            if row.get(key):
                pairs.append((key, str(row[key])))
        if row.get("period"):
            pairs.append(("period", str(row["period"])))
        if row.get("category_key"):
            pairs.append(("category", str(row["category_key"])))
        return f"/reports/{name}/calls?{urlencode(pairs)}"

    return url


@router.get("/reports/{name}/export.{fmt}")
def report_export(name: str, fmt: str, request: Request,
                  user: SessionUser = Depends(ANY_ROLE),
                  session: Session = Depends(db_session)) -> Response:
    name = _name(name)
    if fmt not in MEDIA:
        raise NotFound(f"No export format {fmt!r}.", code="no-such-format")
    params = _params(request, session, user)
    report = reports.run_report(session, user.org_id, name, params, only_agent_id=_only(user))
    body: bytes | str
    if fmt in ("csv", "xlsx"):  # for people: in their language (JSON stays as computed)
        report = localize(report, translator(request))
    if fmt == "csv":
        body = "\ufeff" + reports.to_csv(report)
    elif fmt == "xlsx":
        body = reports.to_xlsx(report)
    else:
        body = reports.to_json(report)
    filename = f"{name}-{params.date_from.isoformat()}-{params.date_to.isoformat()}.{fmt}"
    return Response(body, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/reports/{name}/calls")
def report_calls(name: str, request: Request, user: SessionUser = Depends(ANY_ROLE),
                 session: Session = Depends(db_session)) -> Response:
    name = _name(name)
    params = _params(request, session, user)
    q = request.query_params
    ctx = reports.context(session, user.org_id, name, params, only_agent_id=_only(user))

    def one(key: str) -> int | None:
        value = q.get(key, "")
        if not value:
            return None
        if not value.isdigit():
            raise InvalidInput(key, f"{key}: expected an id")
        return int(value)

    calls = reports.calls_behind(ctx, q.get("metric", ""), queue_id=one("queue_id"),
                                 agent_id=one("agent_id"), period=q.get("period", ""),
                                 category=q.get("category", ""))
    return render(request, "reports/calls.html", {
        "active": "reports", "name": name, "title": TITLES[name], "calls": calls,
        "metric": q.get("metric", ""), "period": q.get("period", ""),
        "back": f"/reports/{name}?{urlencode(_query(params))}"})
