"""What ``zvans report`` needs besides the report itself: names to ids, and output."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.errors import InvalidInput, ZvansError
from zvans.reports.export import to_csv, to_json, to_text, to_xlsx
from zvans.reports.params import ReportParams, parse_date
from zvans.reports.table import Report
from zvans.store.models import Organisation, Queue, User


def _resolve(session: Session, org_id: int, values: list[str], what: str) -> tuple[int, ...]:
    out: list[int] = []
    for value in values:
        if what == "queue":
            rows = session.execute(select(Queue.id, Queue.name).where(Queue.org_id == org_id))
        else:
            rows = session.execute(select(User.id, User.username).where(User.org_id == org_id))
        found = [i for i, n in rows if str(i) == value or n.casefold() == value.casefold()]
        if not found:
            raise InvalidInput(what, f"no {what} {value!r} in this organisation",
                               code=f"no-such-{what}")
        out.append(found[0])
    return tuple(out)


def params(session: Session, org_id: int, date_from: str | None, date_to: str | None,
           queues: list[str], agents: list[str], group: str) -> ReportParams:
    org = session.get(Organisation, org_id)
    tz = ZoneInfo(org.timezone if org is not None else "UTC")
    first = parse_date(date_from, "from") if date_from else datetime.now(tz).date()
    last = parse_date(date_to, "to") if date_to else first
    return ReportParams(first, last, group=group,
                        queue_ids=_resolve(session, org_id, queues, "queue"),
                        agent_ids=_resolve(session, org_id, agents, "agent"))


def emit(report: Report, fmt: str, output: str | None) -> None:
    if fmt == "xlsx":
        data: bytes | str = to_xlsx(report)
    elif fmt == "csv":
        data = to_csv(report)
    elif fmt == "json":
        data = to_json(report) + "\n"
    else:
        data = to_text(report)
    if output is None:
        typer.echo(data if isinstance(data, str) else "", nl=False)
        return
    path = Path(output)
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise ZvansError(f"cannot write {output}: {exc.strerror}", code="write-failed") from None
    typer.echo(f"Report {report.name} written to {output}.", err=True)
