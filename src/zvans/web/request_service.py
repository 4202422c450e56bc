"""Requests (seed 001's "pieteikumi"): create, edit with history, search, export; and the
client card and unanswered register the agent desktop reads. Every function takes the
organisation id and never returns another organisation's rows (they are "not found")."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from zvans.errors import Forbidden, InvalidInput, NotFound
from zvans.store import validate
from zvans.store.models import (
    CALLBACK_STATES,
    Customer,
    CustomerPhone,
    Interaction,
    Organisation,
    Queue,
    Request,
    RequestEdit,
    UnansweredEntry,
    User,
    WrapupCode,
    request_wrapup,
)
from zvans.store.types import utcnow

COMMENT_MAX = 5000
PER_PAGE = 25
EXPORT_MAX = 100_000


@dataclass
class RequestInput:
    phone: str
    name: str
    wrapup_code_ids: list[int] = field(default_factory=list)
    comment: str = ""
    interaction_id: int | None = None


def _codes(session: Session, org_id: int, ids: Sequence[int]) -> list[WrapupCode]:
    unique: list[int] = []
    for raw in ids:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise InvalidInput("wrapup_codes", "Unknown wrap-up code.") from None
        if value not in unique:
            unique.append(value)
    if len(unique) > 50:
        raise InvalidInput("wrapup_codes", "Choose at most 50 wrap-up codes.")
    if not unique:
        return []
    rows = list(session.scalars(select(WrapupCode).where(
        WrapupCode.org_id == org_id, WrapupCode.id.in_(unique), WrapupCode.active.is_(True))))
    if len(rows) != len(unique):
        raise InvalidInput("wrapup_codes", "Unknown wrap-up code.")
    return sorted(rows, key=lambda r: (r.position, r.id))


class FieldErrors(InvalidInput):
    """Several fields wrong at once: ``details['errors']`` maps each field to its message;
    ``field``/``message`` are the first one (what single-error clients show)."""

    def __init__(self, errors: dict[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self.details["errors"] = dict(errors)


def _clean(session: Session, org_id: int, data: RequestInput
           ) -> tuple[str, str, str, list[WrapupCode], Interaction | None]:
    errors: dict[str, str] = {}

    def check(field: str, fn: Any) -> Any:
        try:
            return fn()
        except InvalidInput as exc:
            errors.setdefault(field, exc.message)
            return None

    def name_check() -> str:
        name = validate.text(data.name, "name", max_len=200)
        if not name:
            raise InvalidInput("name", "Name is required.")
        return name

    def comment_check() -> str:
        comment = (data.comment or "").strip()
        if len(comment) > COMMENT_MAX:
            raise InvalidInput("comment", f"Must be at most {COMMENT_MAX} characters.")
        return comment

    def interaction_check() -> Interaction | None:
        if data.interaction_id is None:
            return None
        row = session.get(Interaction, data.interaction_id)
        if row is None or row.org_id != org_id:
            raise InvalidInput("interaction_id", "Unknown call.")
        return row

    phone = check("phone", lambda: validate.phone(data.phone, "phone", required=True))
    name = check("name", name_check)
    codes = check("wrapup_codes", lambda: _codes(session, org_id, data.wrapup_code_ids))
    comment = check("comment", comment_check)
    interaction = check("interaction_id", interaction_check)
    if errors:
        raise FieldErrors(errors)
    return phone, name, comment, codes, interaction


def call_duration_s(interaction: Interaction | None) -> int | None:
    if interaction is None or interaction.answered_at is None:
        return None
    end = interaction.ended_at or utcnow()
    return max(0, round((end - interaction.answered_at).total_seconds()))


def create_request(session: Session, org_id: int, agent_id: int | None,
                   data: RequestInput) -> Request:
    phone, name, comment, codes, interaction = _clean(session, org_id, data)
    row = Request(org_id=org_id, phone=phone, name=name, comment=comment, agent_id=agent_id,
                  interaction_id=interaction.id if interaction else None,
                  queue_id=interaction.queue_id if interaction else None,
                  duration_s=call_duration_s(interaction) if interaction and
                  interaction.ended_at else None)
    row.wrapup_codes = codes
    session.add(row)
    session.flush()
    return row


def snapshot(row: Request) -> dict[str, Any]:
    return {"phone": row.phone, "name": row.name, "comment": row.comment,
            "wrapup_codes": [c.code for c in row.wrapup_codes],
            "edited_at": row.edited_at.isoformat() if row.edited_at else None}


def get_request(session: Session, org_id: int, request_id: int) -> Request:
    row = session.get(Request, request_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"No request {request_id}.", code="no-such-request",
                       request_id=request_id)
    return row


def may_edit(row: Request, user_id: int, role: str) -> bool:
    return role in ("supervisor", "admin") or row.agent_id == user_id


def update_request(session: Session, org_id: int, request_id: int, editor_id: int, role: str,
                   data: RequestInput) -> Request:
    row = get_request(session, org_id, request_id)
    if not may_edit(row, editor_id, role):
        raise Forbidden("Only the agent who saved the request or a supervisor may edit it.",
                        code="not-your-request")
    data.interaction_id = row.interaction_id
    phone, name, comment, codes, _interaction = _clean(session, org_id, data)
    before = snapshot(row)
    after_codes = [c.code for c in codes]
    if (phone, name, comment, after_codes) == (row.phone, row.name, row.comment,
                                               before["wrapup_codes"]):
        return row
    now = utcnow()
    session.add(RequestEdit(org_id=org_id, request_id=row.id, edited_at=now,
                            edited_by=editor_id, before=before))
    row.phone, row.name, row.comment = phone, name, comment
    row.wrapup_codes = codes
    row.edited_at, row.edited_by = now, editor_id
    session.flush()
    return row


def edits_of(session: Session, org_id: int, request_id: int) -> list[tuple[RequestEdit, str]]:
    rows = session.execute(
        select(RequestEdit, User).outerjoin(User, User.id == RequestEdit.edited_by)
        .where(RequestEdit.org_id == org_id, RequestEdit.request_id == request_id)
        .order_by(RequestEdit.edited_at.desc(), RequestEdit.id.desc()))
    return [(edit, user.display_name if user else "") for edit, user in rows]


# --- search ----------------------------------------------------------------------------

@dataclass
class RequestFilter:
    wrapup_code_id: int | None = None
    agent_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    page: int = 1
    per_page: int = PER_PAGE


def org_zone(session: Session, org_id: int) -> ZoneInfo:
    org = session.get(Organisation, org_id)
    try:
        return ZoneInfo(org.timezone if org else "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(session: Session, org_id: int, f: RequestFilter) -> list[Any]:
    zone = org_zone(session, org_id)
    conds: list[Any] = [Request.org_id == org_id]
    if f.wrapup_code_id is not None:
        conds.append(exists().where(request_wrapup.c.request_id == Request.id,
                                    request_wrapup.c.wrapup_code_id == f.wrapup_code_id))
    if f.agent_id is not None:
        conds.append(Request.agent_id == f.agent_id)
    if f.date_from is not None:
        conds.append(Request.created_at >= day_start(f.date_from, zone))
    if f.date_to is not None:
        conds.append(Request.created_at < day_start(f.date_to + timedelta(days=1), zone))
    q = f.q.strip()
    if q:
        # Small per-organisation lists (codes in every language, agents, queues) are matched
        # in Python, case-folded; the request's own columns in SQL.
        code_rows = list(session.scalars(select(WrapupCode).where(WrapupCode.org_id == org_id)))
        agent_rows = list(session.scalars(select(User).where(User.org_id == org_id)))
        queue_rows = list(session.scalars(select(Queue).where(Queue.org_id == org_id)))
        for word in q.split()[:8]:
            folded = word.casefold()
            pattern = f"%{_escape_like(word.lower())}%"
            code_ids = [c.id for c in code_rows if folded in c.code.casefold() or any(
                folded in str(n).casefold() for n in (c.names or {}).values())]
            agent_ids = [u.id for u in agent_rows if folded in u.username.casefold()
                         or folded in u.display_name.casefold()]
            queue_ids = [qu.id for qu in queue_rows if folded in qu.name.casefold() or any(
                folded in str(n).casefold() for n in (qu.names or {}).values())]
            alternatives: list[Any] = [
                func.lower(Request.phone).like(pattern, escape="\\"),
                func.lower(Request.name).like(pattern, escape="\\"),
                func.lower(Request.comment).like(pattern, escape="\\"),
                # and as typed, for letters SQLite's lower() does not fold (ā, š, ž …)
                Request.name.like(f"%{_escape_like(word)}%", escape="\\"),
                Request.comment.like(f"%{_escape_like(word)}%", escape="\\"),
            ]
            if word.isdigit():
                alternatives.append(Request.id == int(word))
            if code_ids:
                alternatives.append(exists().where(
                    request_wrapup.c.request_id == Request.id,
                    request_wrapup.c.wrapup_code_id.in_(code_ids)))
            if agent_ids:
                alternatives.append(Request.agent_id.in_(agent_ids))
            if queue_ids:
                alternatives.append(Request.queue_id.in_(queue_ids))
            conds.append(or_(*alternatives))
    return conds


def search_requests(session: Session, org_id: int, f: RequestFilter
                    ) -> tuple[list[Request], int]:
    conds = _where(session, org_id, f)
    total = session.scalar(select(func.count()).select_from(Request).where(and_(*conds))) or 0
    page = max(1, f.page)
    rows = list(session.scalars(
        select(Request).where(and_(*conds))
        .order_by(Request.created_at.desc(), Request.id.desc())
        .offset((page - 1) * f.per_page).limit(f.per_page)))
    return rows, int(total)


def names_by_id(session: Session, org_id: int, language: str = ""
                ) -> tuple[dict[int, str], dict[int, str]]:
    """Agents' display names and queues' names (in ``language`` where one is configured)."""
    agents = {u.id: u.display_name for u in session.scalars(
        select(User).where(User.org_id == org_id))}
    queues = {q.id: str((q.names or {}).get(language) or q.name)
              for q in session.scalars(select(Queue).where(Queue.org_id == org_id))}
    return agents, queues


def request_dict(row: Request, language: str, agents: dict[int, str], queues: dict[int, str],
                 zone: ZoneInfo, interaction: Interaction | None = None) -> dict[str, Any]:
    duration = row.duration_s
    if duration is None and interaction is not None:
        duration = call_duration_s(interaction)
    return {
        "id": row.id,
        "created_at": row.created_at.astimezone(zone).isoformat(timespec="seconds"),
        "phone": row.phone,
        "name": row.name,
        "comment": row.comment,
        "agent_id": row.agent_id,
        "agent": agents.get(row.agent_id or 0, ""),
        "queue_id": row.queue_id,
        "queue": queues.get(row.queue_id or 0, ""),
        "interaction_id": row.interaction_id,
        "duration_s": duration,
        "wrapup_codes": [{"id": c.id, "code": c.code, "name": c.name(language)}
                         for c in sorted(row.wrapup_codes, key=lambda c: (c.position, c.id))],
        "edited_at": row.edited_at.astimezone(zone).isoformat(timespec="seconds")
        if row.edited_at else None,
    }


def interactions_by_id(session: Session, rows: Iterable[Request]) -> dict[int, Interaction]:
    ids = {r.interaction_id for r in rows if r.interaction_id}
    if not ids:
        return {}
    return {i.id: i for i in session.scalars(select(Interaction).where(Interaction.id.in_(ids)))}


def export_csv(session: Session, org_id: int, f: RequestFilter, language: str) -> str:
    f.page, f.per_page = 1, EXPORT_MAX
    rows, _total = search_requests(session, org_id, f)
    agents, queues = names_by_id(session, org_id, language)
    zone = org_zone(session, org_id)
    inter = interactions_by_id(session, rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "created_at", "phone", "name", "wrapup_codes", "agent", "queue",
                     "duration_s", "comment"])
    for row in rows:
        d = request_dict(row, language, agents, queues, zone, inter.get(row.interaction_id or 0))
        writer.writerow([d["id"], d["created_at"], _cell(d["phone"]), _cell(d["name"]),
                         _cell("; ".join(c["name"] for c in d["wrapup_codes"])),
                         _cell(d["agent"]), _cell(d["queue"]), d["duration_s"] or "",
                         _cell(d["comment"])])
    return out.getvalue()


def _cell(value: str) -> str:
    """Spreadsheet formula injection guard: a cell never starts with = + - @."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


# --- client card -----------------------------------------------------------------------

def client_card(session: Session, org_id: int, caller: str, language: str,
                interaction_id: int | None = None, limit: int = 20) -> dict[str, Any]:
    zone = org_zone(session, org_id)
    agents, queues = names_by_id(session, org_id, language)
    current = None
    if interaction_id is not None:
        current = session.get(Interaction, interaction_id)
        if current is None or current.org_id != org_id:
            raise NotFound("No such call.", code="no-such-call")
        caller = caller or current.caller
    customer_name = ""
    customer_id = current.customer_id if current else None
    if customer_id is None and caller:
        customer_id = session.scalar(select(CustomerPhone.customer_id).where(
            CustomerPhone.org_id == org_id, CustomerPhone.number == caller))
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        customer_name = customer.name if customer else ""
    calls_q = select(Interaction).where(Interaction.org_id == org_id,
                                        Interaction.caller == caller)
    if current is not None:
        calls_q = calls_q.where(Interaction.id != current.id)
    calls = list(session.scalars(calls_q.order_by(Interaction.started_at.desc()).limit(limit)))
    requests = list(session.scalars(
        select(Request).where(Request.org_id == org_id, Request.phone == caller)
        .order_by(Request.created_at.desc()).limit(limit))) if caller else []
    if not customer_name and requests:
        customer_name = requests[0].name
    last_agent = next((agents.get(c.agent_id, "") for c in calls
                       if c.agent_id and c.answered_at), "")
    wait_s = None
    if current is not None and current.enqueued_at is not None:
        end = current.answered_at or utcnow()
        wait_s = max(0, round((end - current.enqueued_at).total_seconds()))
    inter = interactions_by_id(session, requests)
    return {
        "caller": caller,
        "customer_name": customer_name,
        "interaction_id": current.id if current else None,
        "queue": queues.get(current.queue_id or 0, "") if current else "",
        "ivr_topic": current.ivr_topic if current else "",
        "wait_s": wait_s,
        "last_agent": last_agent,
        "earlier_calls": [{
            "id": c.id,
            "started_at": c.started_at.astimezone(zone).isoformat(timespec="seconds"),
            "queue": queues.get(c.queue_id or 0, ""),
            "agent": agents.get(c.agent_id or 0, ""),
            "outcome": c.outcome,
            "duration_s": call_duration_s(c) if c.ended_at else None,
        } for c in calls],
        "earlier_requests": [request_dict(r, language, agents, queues, zone,
                                          inter.get(r.interaction_id or 0)) for r in requests],
    }


# --- unanswered register ---------------------------------------------------------------

def list_unanswered(session: Session, org_id: int, *, open_only: bool = False,
                    page: int = 1, per_page: int = PER_PAGE, language: str = ""
                    ) -> tuple[list[dict[str, Any]], int]:
    zone = org_zone(session, org_id)
    _agents, queues = names_by_id(session, org_id, language)
    conds: list[Any] = [UnansweredEntry.org_id == org_id]
    if open_only:
        conds.append(UnansweredEntry.resolved_at.is_(None))
    total = session.scalar(select(func.count()).select_from(UnansweredEntry)
                           .where(and_(*conds))) or 0
    rows = session.scalars(select(UnansweredEntry).where(and_(*conds))
                           .order_by(UnansweredEntry.created_at.desc(),
                                     UnansweredEntry.id.desc())
                           .offset((max(1, page) - 1) * per_page).limit(per_page))
    return [{
        "id": r.id,
        "created_at": r.created_at.astimezone(zone).isoformat(timespec="seconds"),
        "queue": queues.get(r.queue_id or 0, ""),
        "caller": r.caller,
        "reason": r.reason,
        "duration_s": r.duration_s,
        "callback_state": r.callback_state,
        "resolved": r.resolved_at is not None,
        "voicemail": bool(r.voicemail_ref),
        "listened": r.listened_at is not None,
    } for r in rows], int(total)


def mark_unanswered(session: Session, org_id: int, entry_id: int, state: str,
                    user_id: int) -> UnansweredEntry:
    row = session.get(UnansweredEntry, entry_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"No unanswered call {entry_id}.", code="no-such-entry")
    validate.choice(state, "callback_state", CALLBACK_STATES)
    row.callback_state = state
    if state in ("called_back", "client_called_back", "not_needed"):
        row.resolved_at = row.resolved_at or utcnow()
        row.resolved_by_user_id = user_id
    else:
        row.resolved_at = None
        row.resolved_by_user_id = None
    return row
