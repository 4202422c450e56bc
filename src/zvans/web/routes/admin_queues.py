"""Administration: queues (numbers, hours, service level, routing) and the skill matrix
(agents × queues: empty = not in the queue, 1 = primary, 2 … = served when no lower-level
call waits). Every change reloads the running ACD at once (seed 002: re-configure in seconds).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from zvans.app import Zvans
from zvans.errors import InvalidInput, ZvansError
from zvans.store import catalog, users
from zvans.store.models import NO_AGENT_ACTIONS, STRATEGIES, Queue
from zvans.web.deps import SessionUser, csrf_protect, db_session, get_zvans
from zvans.web.render import render
from zvans.web.routes.admin_forms import (
    admin_only,
    commit_and_reload,
    errors_of,
    flash,
    form_data,
    record,
    take_flashes,
    translator,
)

router = APIRouter(tags=["administration"], dependencies=[Depends(admin_only)])

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NAME_LANGUAGES = ("lv", "en")
INT_FIELDS = ("priority", "sl_threshold_s", "short_abandon_s", "ring_timeout_s", "wrapup_s",
              "sticky_days", "sticky_wait_s")
OPTIONAL_INT_FIELDS = ("max_wait_s", "max_length", "callback_offer_ewt_s")
BOOL_FIELDS = ("wrapup_until_card", "record_calls", "rating_enabled", "active")
CHOICE_FIELDS = ("language", "strategy", "no_agents_action")


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated when the page is rendered."""
    return message


STRATEGY_LABELS = {
    "longest_idle": N_("Longest idle agent first"),
    "round_robin": N_("Round robin"),
    "fewest_calls": N_("Fewest calls today first"),
    "least_talk_time": N_("Least talk time today first"),
    "linear": N_("Always in the same order"),
}
NO_AGENTS_LABELS = {
    "wait": N_("Callers wait in the queue"),
    "overflow": N_("Send callers to the overflow target"),
    "voicemail": N_("Offer voicemail"),
}
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
HOURS_HELP = "Write opening hours as 08:30-17:00 (several separated by commas)."


def queue_view(row: Queue, dids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id, "name": row.name, "names": dict(row.names), "dids": dids,
        "business_hours": dict(row.business_hours), "holidays": list(row.holidays),
        "overflow_target": row.overflow_target, "caller_id": row.caller_id,
    }
    for key in (*INT_FIELDS, *OPTIONAL_INT_FIELDS, *BOOL_FIELDS, *CHOICE_FIELDS):
        out[key] = getattr(row, key)
    return out


def _dids_by_queue(session: Session, org_id: int) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for did in catalog.list_dids(session, org_id):
        if did.queue_id is not None:
            out.setdefault(did.queue_id, []).append(did.number)
    return out


def _time(value: str, field: str) -> str:
    match = TIME_RE.match(value.strip())
    if not match:
        raise InvalidInput(field, HOURS_HELP)
    hours, minutes = int(match.group(1)), int(match.group(2))
    if not (hours < 24 and minutes < 60) and (hours, minutes) != (24, 0):
        raise InvalidInput(field, HOURS_HELP)
    return f"{hours:02d}:{minutes:02d}"


def parse_hours(text: str, field: str) -> list[list[str]]:
    """'08:30-12:00, 13:00-17:00' → [["08:30", "12:00"], ["13:00", "17:00"]]; empty = closed."""
    spans: list[list[str]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        if part.count("-") != 1:
            raise InvalidInput(field, HOURS_HELP)
        start, end = (_time(p, field) for p in part.split("-"))
        if start >= end:
            raise InvalidInput(field, "The opening time must be before the closing time.")
        spans.append([start, end])
    return spans


def format_hours(spans: list[list[str]]) -> str:
    return ", ".join(f"{a}-{b}" for a, b in spans)


def fields_from_form(data: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The form as keyword arguments of ``catalog.update_queue`` and the list of numbers."""
    fields: dict[str, Any] = {"name": data.get("name", "")}
    names = {lang: data.get(f"name_{lang}", "").strip() for lang in NAME_LANGUAGES}
    names = {k: v for k, v in names.items() if v}
    fields["names"] = names or {"en": fields["name"].strip() or "-"}
    for key in (*INT_FIELDS, *OPTIONAL_INT_FIELDS, *CHOICE_FIELDS):
        if key in data:
            fields[key] = data[key]
    for key in BOOL_FIELDS:
        fields[key] = bool(data.get(key))
    fields["overflow_target"] = data.get("overflow_target") or None
    fields["caller_id"] = data.get("caller_id", "")
    if data.get("always_open"):
        fields["business_hours"] = {}
    else:
        fields["business_hours"] = {
            day: parse_hours(data.get(f"hours_{day}", ""), f"hours_{day}") for day in DAYS}
    holidays = [h for h in re.split(r"[\s,;]+", data.get("holidays", "")) if h]
    fields["holidays"] = holidays
    dids = [d for d in re.split(r"[\s,;]+", data.get("dids", "")) if d]
    return fields, dids


def form_values(row: Queue | None, dids: list[str]) -> dict[str, Any]:
    if row is None:
        values: dict[str, Any] = {
            "language": "lv", "strategy": "longest_idle", "no_agents_action": "wait",
            "priority": 0, "sl_threshold_s": 20, "short_abandon_s": 5, "ring_timeout_s": 15,
            "wrapup_s": 10, "sticky_days": 0, "sticky_wait_s": 30, "record_calls": True,
            "active": True, "always_open": True}
        return values
    values = queue_view(row, dids)
    for lang in NAME_LANGUAGES:
        values[f"name_{lang}"] = row.names.get(lang, "")
    values["always_open"] = not row.business_hours
    for day in DAYS:
        values[f"hours_{day}"] = format_hours(row.business_hours.get(day, []))
    values["holidays"] = "\n".join(row.holidays)
    values["dids"] = "\n".join(dids)
    values["overflow_target"] = row.overflow_target or ""
    return values


def save_queue(session: Session, actor: SessionUser, row: Queue | None,
               fields: dict[str, Any], dids: list[str] | None) -> Queue:
    if row is None:
        name = fields.pop("name")
        row = catalog.add_queue(session, actor.org_id, name, **fields)
        before: dict[str, Any] | None = None
    else:
        before = queue_view(row, _dids_by_queue(session, actor.org_id).get(row.id, []))
        catalog.update_queue(session, row, **fields)
    if dids is not None:
        catalog.set_queue_dids(session, actor.org_id, row.id, dids)
    session.flush()
    after = queue_view(row, _dids_by_queue(session, actor.org_id).get(row.id, []))
    if before is None:
        record(session, actor, "queue.add", f"queue:{row.id}", name=row.name)
    else:
        changed = {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}
        record(session, actor, "queue.update", f"queue:{row.id}", name=row.name,
               changes=changed)
    return row


# --- queue pages ---------------------------------------------------------------------------

def _overflow_options(session: Session, org_id: int, queue_id: int | None,
                      _: Any) -> list[tuple[str, str]]:
    options = [("", _("None")), ("voicemail", _("Voicemail"))]
    for q in catalog.list_queues(session, org_id):
        if q.id != queue_id:
            options.append((f"queue:{q.id}", _("Queue %(name)s") % {"name": q.name}))
    return options


def _queue_form(request: Request, session: Session, actor: SessionUser, row: Queue | None,
                values: dict[str, Any], errors: dict[str, str],
                status_code: int = 200) -> Response:
    _ = translator(request)
    members: list[tuple[int, str]] = []
    if row is not None:
        levels = catalog.skills_of(session, actor.org_id)
        members = sorted((levels[u.id][row.id], u.display_name)
                         for u in skill_people(session, actor.org_id)
                         if row.id in levels.get(u.id, {}))
    return render(request, "admin/queue_form.html", {
        "members": members,
        "active": "admin", "section": "queues", "row": row, "values": values,
        "errors": errors, "days": DAYS,
        "strategy_options": [(k, _(STRATEGY_LABELS.get(k, k))) for k in STRATEGIES],
        "no_agents_options": [(k, _(NO_AGENTS_LABELS.get(k, k))) for k in NO_AGENT_ACTIONS],
        "queue_languages": catalog.LANGUAGES,
        "name_languages": NAME_LANGUAGES,
        "overflow_options": _overflow_options(session, actor.org_id,
                                              row.id if row else None, _),
        "flashes": take_flashes(request),
    }, status_code=status_code)


@router.get("/admin/queues", include_in_schema=False)
def queues_page(request: Request, actor: SessionUser = Depends(admin_only),
                session: Session = Depends(db_session)) -> Response:
    dids = _dids_by_queue(session, actor.org_id)
    skills = catalog.skills_of(session, actor.org_id)
    members: dict[int, int] = {}
    for levels in skills.values():
        for qid in levels:
            members[qid] = members.get(qid, 0) + 1
    rows = [{**queue_view(q, dids.get(q.id, [])), "members": members.get(q.id, 0)}
            for q in catalog.list_queues(session, actor.org_id)]
    return render(request, "admin/queues.html", {
        "active": "admin", "section": "queues", "queues": rows,
        "strategy_labels": STRATEGY_LABELS,
        "flashes": take_flashes(request)})


@router.get("/admin/queues/new", include_in_schema=False)
def queue_new(request: Request, actor: SessionUser = Depends(admin_only),
              session: Session = Depends(db_session)) -> Response:
    return _queue_form(request, session, actor, None, form_values(None, []), {})


async def _queue_submit(request: Request, actor: SessionUser, session: Session, z: Zvans,
                        queue_id: int | None) -> Response:
    row = catalog.get_queue(session, actor.org_id, queue_id) if queue_id else None
    data = await form_data(request)
    _ = translator(request)
    try:
        fields, dids = fields_from_form(data)
        saved = save_queue(session, actor, row, fields, dids)
        commit_and_reload(z, session, actor.org_id)
    except ZvansError as exc:
        session.rollback()
        if queue_id:
            row = catalog.get_queue(session, actor.org_id, queue_id)
        values = {**data, **{k: bool(data.get(k)) for k in (*BOOL_FIELDS, "always_open")}}
        return _queue_form(request, session, actor, row, values, errors_of(exc, _),
                           status_code=422)
    flash(request, _("Queue %(name)s saved.") % {"name": saved.name})
    return RedirectResponse("/admin/queues", status_code=303)


@router.post("/admin/queues/new", include_in_schema=False, dependencies=[Depends(csrf_protect)])
async def queue_new_submit(request: Request, actor: SessionUser = Depends(admin_only),
                           session: Session = Depends(db_session),
                           z: Zvans = Depends(get_zvans)) -> Response:
    return await _queue_submit(request, actor, session, z, None)


@router.get("/admin/queues/{queue_id}", include_in_schema=False)
def queue_edit(queue_id: int, request: Request, actor: SessionUser = Depends(admin_only),
               session: Session = Depends(db_session)) -> Response:
    row = catalog.get_queue(session, actor.org_id, queue_id)
    dids = _dids_by_queue(session, actor.org_id).get(row.id, [])
    return _queue_form(request, session, actor, row, form_values(row, dids), {})


@router.post("/admin/queues/{queue_id}", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def queue_edit_submit(queue_id: int, request: Request,
                            actor: SessionUser = Depends(admin_only),
                            session: Session = Depends(db_session),
                            z: Zvans = Depends(get_zvans)) -> Response:
    return await _queue_submit(request, actor, session, z, queue_id)


# --- skill matrix --------------------------------------------------------------------------

def skill_people(session: Session, org_id: int) -> list[Any]:
    """Users who can take calls (agents and supervisors), in name order."""
    people = [u for u in users.list_users(session, org_id) if u.role in ("agent", "supervisor")]
    return sorted(people, key=lambda u: (u.display_name.lower(), u.id))


def parse_matrix(data: dict[str, str], user_ids: list[int], queue_ids: list[int]
                 ) -> tuple[dict[int, dict[int, int | None]], dict[str, str]]:
    """Cells ``skill_<user>_<queue>``: empty = not in the queue, else a level 1–99."""
    matrix: dict[int, dict[int, int | None]] = {}
    errors: dict[str, str] = {}
    for uid in user_ids:
        for qid in queue_ids:
            key = f"skill_{uid}_{qid}"
            if key not in data:
                continue
            raw = data[key].strip()
            if not raw:
                matrix.setdefault(uid, {})[qid] = None
            elif raw.isdigit() and 1 <= int(raw) <= 99:
                matrix.setdefault(uid, {})[qid] = int(raw)
            else:
                errors[key] = "Level must be a whole number from 1 to 99, or empty."
    return matrix, errors


def save_matrix(session: Session, actor: SessionUser,
                matrix: dict[int, dict[int, int | None]]) -> list[dict[str, Any]]:
    changes = catalog.set_skill_matrix(session, actor.org_id, matrix)
    out = [{"user_id": u, "queue_id": q, "from": old, "to": new} for u, q, old, new in changes]
    if out:
        record(session, actor, "skills.update", "skills", changes=out)
    return out


def _matrix_page(request: Request, session: Session, actor: SessionUser,
                 values: dict[str, str], errors: dict[str, str],
                 status_code: int = 200) -> Response:
    queues = catalog.list_queues(session, actor.org_id)
    return render(request, "admin/skills.html", {
        "active": "admin", "section": "skills", "queues": queues,
        "people": skill_people(session, actor.org_id), "values": values, "errors": errors,
        "flashes": take_flashes(request),
    }, status_code=status_code)


def _matrix_values(session: Session, org_id: int) -> dict[str, str]:
    return {f"skill_{u}_{q}": str(level)
            for u, levels in catalog.skills_of(session, org_id).items()
            for q, level in levels.items()}


@router.get("/admin/skills", include_in_schema=False)
def skills_page(request: Request, actor: SessionUser = Depends(admin_only),
                session: Session = Depends(db_session)) -> Response:
    return _matrix_page(request, session, actor, _matrix_values(session, actor.org_id), {})


@router.post("/admin/skills", include_in_schema=False, dependencies=[Depends(csrf_protect)])
async def skills_submit(request: Request, actor: SessionUser = Depends(admin_only),
                        session: Session = Depends(db_session),
                        z: Zvans = Depends(get_zvans)) -> Response:
    data = await form_data(request)
    _ = translator(request)
    user_ids = [u.id for u in skill_people(session, actor.org_id)]
    queue_ids = [q.id for q in catalog.list_queues(session, actor.org_id)]
    matrix, errors = parse_matrix(data, user_ids, queue_ids)
    if not errors:
        try:
            changes = save_matrix(session, actor, matrix)
            commit_and_reload(z, session, actor.org_id)
        except ZvansError as exc:
            session.rollback()
            errors = errors_of(exc, _)
    if errors:
        errors = {k: _(v) for k, v in errors.items()}
        return _matrix_page(request, session, actor, data, errors, status_code=422)
    flash(request, _("Skill levels saved (%(n)d changes).") % {"n": len(changes)})
    return RedirectResponse("/admin/skills", status_code=303)


# --- JSON API ------------------------------------------------------------------------------

class QueueIn(BaseModel):
    """Any subset of the queue settings (see ``catalog.update_queue``); ``dids`` replaces the
    queue's numbers."""

    model_config = {"extra": "allow"}
    dids: list[str] | None = None


class SkillCell(BaseModel):
    user_id: int
    queue_id: int
    level: int | None


@router.get("/api/v1/admin/queues")
def api_queues(actor: SessionUser = Depends(admin_only),
               session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    dids = _dids_by_queue(session, actor.org_id)
    return [queue_view(q, dids.get(q.id, [])) for q in catalog.list_queues(session, actor.org_id)]


@router.post("/api/v1/admin/queues", status_code=201, dependencies=[Depends(csrf_protect)])
def api_queue_add(body: QueueIn, actor: SessionUser = Depends(admin_only),
                  session: Session = Depends(db_session),
                  z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    fields = dict(body.model_extra or {})
    if "name" not in fields:
        raise InvalidInput("name", "Name is required.")
    row = save_queue(session, actor, None, fields, body.dids)
    commit_and_reload(z, session, actor.org_id)
    return queue_view(row, _dids_by_queue(session, actor.org_id).get(row.id, []))


@router.patch("/api/v1/admin/queues/{queue_id}", dependencies=[Depends(csrf_protect)])
def api_queue_update(queue_id: int, body: QueueIn, actor: SessionUser = Depends(admin_only),
                     session: Session = Depends(db_session),
                     z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    row = catalog.get_queue(session, actor.org_id, queue_id)
    save_queue(session, actor, row, dict(body.model_extra or {}), body.dids)
    commit_and_reload(z, session, actor.org_id)
    return queue_view(row, _dids_by_queue(session, actor.org_id).get(row.id, []))


@router.get("/api/v1/admin/skills")
def api_skills(actor: SessionUser = Depends(admin_only),
               session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    return [{"user_id": u, "queue_id": q, "level": level}
            for u, levels in sorted(catalog.skills_of(session, actor.org_id).items())
            for q, level in sorted(levels.items())]


@router.put("/api/v1/admin/skills", dependencies=[Depends(csrf_protect)])
def api_skills_set(cells: list[SkillCell], actor: SessionUser = Depends(admin_only),
                   session: Session = Depends(db_session),
                   z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    """Set the given cells (level null = remove the agent from the queue)."""
    matrix: dict[int, dict[int, int | None]] = {}
    for cell in cells:
        matrix.setdefault(cell.user_id, {})[cell.queue_id] = cell.level
    changes = save_matrix(session, actor, matrix)
    commit_and_reload(z, session, actor.org_id)
    return {"changes": changes}


# --- organisation-wide public holidays -----------------------------------------------------

def _holidays_page(request: Request, session: Session, actor: SessionUser,
                   values: dict[str, str], errors: dict[str, str],
                   status_code: int = 200) -> Response:
    return render(request, "admin/holidays.html", {
        "active": "admin", "section": "holidays", "values": values, "errors": errors,
        "holidays": catalog.list_holidays(session, actor.org_id),
        "flashes": take_flashes(request)}, status_code=status_code)


@router.get("/admin/holidays", include_in_schema=False)
def holidays_page(request: Request, actor: SessionUser = Depends(admin_only),
                  session: Session = Depends(db_session)) -> Response:
    return _holidays_page(request, session, actor, {}, {})


@router.post("/admin/holidays", include_in_schema=False, dependencies=[Depends(csrf_protect)])
async def holiday_add(request: Request, actor: SessionUser = Depends(admin_only),
                      session: Session = Depends(db_session),
                      z: Zvans = Depends(get_zvans)) -> Response:
    data = await form_data(request)
    _ = translator(request)
    try:
        row = catalog.add_holiday(session, actor.org_id, data.get("day", ""),
                                  data.get("name", ""))
        record(session, actor, "holiday.add", f"holiday:{row.id}", day=row.day.isoformat(),
               name=row.name)
        commit_and_reload(z, session, actor.org_id)
    except ZvansError as exc:
        session.rollback()
        return _holidays_page(request, session, actor, data, errors_of(exc, _),
                              status_code=422)
    flash(request, _("Holiday saved."))
    return RedirectResponse("/admin/holidays", status_code=303)


@router.post("/admin/holidays/{holiday_id}/delete", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
def holiday_delete(holiday_id: int, request: Request, actor: SessionUser = Depends(admin_only),
                   session: Session = Depends(db_session),
                   z: Zvans = Depends(get_zvans)) -> Response:
    row = catalog.delete_holiday(session, actor.org_id, holiday_id)
    record(session, actor, "holiday.delete", f"holiday:{holiday_id}", day=row.day.isoformat(),
           name=row.name)
    commit_and_reload(z, session, actor.org_id)
    flash(request, translator(request)("Holiday deleted."))
    return RedirectResponse("/admin/holidays", status_code=303)
