"""Outbound call campaigns (seed 001's menu item): pages and the JSON API.

Supervisors and admins create a campaign, upload its CSV, assign contacts and watch the
progress; agents (and supervisors who take calls) work their own contacts by preview
dialing: see the next contact, press call, save a result, get the next one.
The rules live in ``zvans.store.campaigns``; see docs/decisions/0008-campaigns.md.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from zvans.app import Zvans
from zvans.errors import InvalidInput, ZvansError
from zvans.store import campaigns as cs
from zvans.store import catalog
from zvans.store.audit import audit
from zvans.store.models import Campaign, CampaignContact
from zvans.web.deps import SessionUser, csrf_protect, db_session, get_zvans, require_role
from zvans.web.render import flash, render, translator

log = logging.getLogger("zvans.web.campaigns")

router = APIRouter(tags=["campaigns"])

MANAGERS = require_role("supervisor", "admin")
CALLERS = require_role("agent", "supervisor")
ANYONE = require_role("agent", "supervisor", "admin")


def _(message: str) -> str:
    """Marks a string for extraction; translated at render time."""
    return message


STATE_NAMES = {"draft": _("Draft"), "active": _("Active"), "paused": _("Paused"),
               "finished": _("Finished"), "pending": _("Pending"),
               "in_progress": _("Being called"), "done": _("Done"), "failed": _("Failed")}
ACTION_NAMES = {"active": _("Start"), "paused": _("Pause"), "finished": _("Finish")}


# --- shared steps ------------------------------------------------------------------------

def _translated_errors(tr: Any, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        msgid, params = e.get("msgid") or e.get("message", ""), e.get("params") or {}
        try:
            text = tr(msgid) % params if params else tr(msgid)
        except (KeyError, TypeError, ValueError):
            text = e.get("message", "")
        out.append({**e, "text": text})
    return out


def _queue_names(session: Session, org_id: int, language: str) -> dict[int, str]:
    return {q.id: str(q.names.get(language) or q.name)
            for q in catalog.list_queues(session, org_id)}


async def _read_upload(request: Request, upload: Any) -> bytes:
    if upload is None or not hasattr(upload, "read"):
        raise InvalidInput("file", "Choose a CSV file to upload.")
    data: bytes = await upload.read(cs.MAX_FILE_BYTES + 1)
    return data


def _call_step(z: Zvans, user: SessionUser, contact_id: int) -> cs.CallStarted:
    with z.sessions.begin() as s:
        row = cs.my_contact(s, user.org_id, user.id, contact_id)
        campaign = cs.get_campaign(s, user.org_id, row.campaign_id)
        return cs.record_call(s, campaign, row, user.id)


def _not_connected(z: Zvans, org_id: int, interaction_id: int, outcome: str) -> None:
    with z.sessions.begin() as s:
        cs.mark_not_connected(s, org_id, interaction_id, outcome)


async def place_call(z: Zvans, user: SessionUser, contact_id: int) -> dict[str, Any]:
    """Record the outgoing interaction (committed first), then ask telephony to dial.

    Without telephony the interaction stays recorded, closed as "not_connected", and
    ``TelephonyNotRunning`` tells the agent to dial from their phone."""
    started = await run_in_threadpool(_call_step, z, user, contact_id)
    telephony = z.services.get("telephony")
    try:
        result = cs.dial(telephony, user.org_id, user.id, started)
        if inspect.isawaitable(result):
            result = await result
    except ZvansError as exc:
        await run_in_threadpool(_not_connected, z, user.org_id, started.interaction_id,
                                "not_connected")
        # the call is recorded either way: the desktop links the result to it
        exc.details.setdefault("interaction_id", started.interaction_id)
        raise
    except Exception:
        log.exception("click-to-call failed for interaction %s", started.interaction_id)
        await run_in_threadpool(_not_connected, z, user.org_id, started.interaction_id,
                                "failed")
        raise cs.CallFailed("Telephony could not place the call. Call the number from "
                            "your phone, then save the result.",
                            interaction_id=started.interaction_id) from None
    return {"interaction_id": started.interaction_id, "caller_id": started.caller_id,
            "number": started.number, "status": "dialing",
            "telephony": result if isinstance(result, dict | str | int) else None}


def record(session: Session, user: SessionUser, action: str, campaign_id: int,
           **details: Any) -> None:
    """The audit entry of a supervisor's campaign action, in the action's transaction."""
    audit(session, user.org_id, user.id, f"campaign.{action}", f"campaign:{campaign_id}",
          **details)


def _contact_for_page(row: CampaignContact | None) -> dict[str, Any] | None:
    return cs.contact_view(row) if row is not None else None


# --- pages: list and create --------------------------------------------------------------

@router.get("/campaigns", include_in_schema=False)
def campaigns_page(request: Request, user: SessionUser = Depends(ANYONE),
                   session: Session = Depends(db_session)) -> Response:
    manager = user.role in ("supervisor", "admin")
    rows = []
    if manager:
        for c in cs.list_campaigns(session, user.org_id):
            rows.append({**cs.campaign_view(c), "progress": cs.progress(session, c)})
    mine = cs.agent_summary(session, user.org_id, user.id) if user.role != "admin" else []
    return render(request, "campaigns/list.html", {
        "active": "campaigns", "manager": manager, "rows": rows, "mine": mine,
        "queues": _queue_names(session, user.org_id, user.language),
        "state_names": STATE_NAMES})


def _form_page(request: Request, session: Session, user: SessionUser, values: dict[str, Any],
               errors: dict[str, str], status_code: int = 200,
               campaign_id: int | None = None) -> Response:
    return render(request, "campaigns/form.html", {
        "active": "campaigns", "values": values, "errors": errors,
        "campaign_id": campaign_id,
        "action": f"/campaigns/{campaign_id}/edit" if campaign_id else "/campaigns/new",
        "queues": _queue_names(session, user.org_id, user.language)},
        status_code=status_code)


@router.get("/campaigns/new", include_in_schema=False)
def campaign_new(request: Request, user: SessionUser = Depends(MANAGERS),
                 session: Session = Depends(db_session)) -> Response:
    _ = translator(request)
    defaults = [{**c, "name": _(c["name"])} for c in cs.DEFAULT_RESULT_CODES]
    return _form_page(request, session, user, {
        "name": "", "queue_id": "", "max_attempts": 3,
        "result_codes": cs.format_result_codes(defaults)}, {})


@router.post("/campaigns/new", include_in_schema=False, dependencies=[Depends(csrf_protect)])
async def campaign_create(request: Request, user: SessionUser = Depends(MANAGERS),
                          session: Session = Depends(db_session)) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    _ = translator(request)
    try:
        codes = cs.parse_result_codes(values.get("result_codes", ""))
        row = cs.create_campaign(session, user.org_id, user.id, name=values.get("name", ""),
                                 queue_id=values.get("queue_id"), result_codes=codes,
                                 max_attempts=values.get("max_attempts") or 3)
        record(session, user, "create", row.id, **cs.campaign_view(row))
        session.commit()
    except ZvansError as exc:
        session.rollback()
        field = str(exc.details.get("field") or "_form")
        return _form_page(request, session, user, values, {field: _(exc.message)},
                          status_code=422)
    flash(request, _("Campaign %(name)s created. Upload its contacts next.")
          % {"name": row.name})
    return RedirectResponse(f"/campaigns/{row.id}", status_code=303)


@router.get("/campaigns/{campaign_id:int}/edit", include_in_schema=False)
def campaign_edit(campaign_id: int, request: Request, user: SessionUser = Depends(MANAGERS),
                  session: Session = Depends(db_session)) -> Response:
    row = cs.get_campaign(session, user.org_id, campaign_id)
    return _form_page(request, session, user, {
        "name": row.name, "queue_id": row.queue_id, "max_attempts": row.max_attempts,
        "result_codes": cs.format_result_codes(row.result_codes)}, {},
        campaign_id=row.id)


@router.post("/campaigns/{campaign_id:int}/edit", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def campaign_edit_submit(campaign_id: int, request: Request,
                               user: SessionUser = Depends(MANAGERS),
                               session: Session = Depends(db_session)) -> Response:
    row = cs.get_campaign(session, user.org_id, campaign_id)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    _ = translator(request)
    try:
        before = cs.campaign_view(row)
        cs.update_campaign(session, row, name=values.get("name", ""),
                           queue_id=values.get("queue_id"),
                           result_codes=cs.parse_result_codes(values.get("result_codes", "")),
                           max_attempts=values.get("max_attempts") or 3)
        record(session, user, "update", row.id, before=before, after=cs.campaign_view(row))
        session.commit()
    except ZvansError as exc:
        session.rollback()
        field = str(exc.details.get("field") or "_form")
        return _form_page(request, session, user, values, {field: _(exc.message)},
                          status_code=422, campaign_id=campaign_id)
    flash(request, _("Campaign %(name)s saved.") % {"name": row.name})
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


# --- pages: one campaign (supervisors) -----------------------------------------------------

def _detail(request: Request, session: Session, user: SessionUser, campaign: Campaign,
            *, upload_report: dict[str, Any] | None = None,
            errors: dict[str, str] | None = None, status_code: int = 200,
            state_filter: str = "") -> Response:
    _ = translator(request)
    agents = cs.eligible_agents(session, user.org_id)
    names = {a.id: a.display_name for a in agents}
    if upload_report is not None:
        upload_report = {**upload_report, "errors": _translated_errors(
            _, upload_report.get("errors", []))}
    rows = cs.list_contacts(session, campaign, state=state_filter or None)
    return render(request, "campaigns/detail.html", {
        "active": "campaigns", "campaign": cs.campaign_view(campaign),
        "progress": cs.progress(session, campaign), "agents": agents, "agent_names": names,
        "contacts": [cs.contact_view(r) for r in rows], "state_filter": state_filter,
        "queue_name": _queue_names(session, user.org_id, user.language).get(
            campaign.queue_id, ""),
        "caller_id": cs.caller_id_of(session, campaign.queue_id),
        "transitions": cs.TRANSITIONS[campaign.state], "state_names": STATE_NAMES,
        "action_names": ACTION_NAMES, "report": upload_report, "errors": errors or {},
        "max_mb": cs.MAX_FILE_BYTES // (1024 * 1024), "max_rows": cs.MAX_ROWS,
    }, status_code=status_code)


@router.get("/campaigns/{campaign_id:int}", include_in_schema=False)
def campaign_page(campaign_id: int, request: Request, state: str = "",
                  user: SessionUser = Depends(MANAGERS),
                  session: Session = Depends(db_session)) -> Response:
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    state = state if state in cs.CONTACT_STATES else ""
    return _detail(request, session, user, campaign, state_filter=state)


@router.get("/campaigns/{campaign_id:int}/export.csv", include_in_schema=False)
def campaign_export(campaign_id: int, user: SessionUser = Depends(MANAGERS),
                    session: Session = Depends(db_session)) -> Response:
    """Every contact with its result (UTF-8 CSV with BOM, `;`)."""
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    return Response(cs.export_csv(session, campaign), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="campaign-{campaign.id}.csv"'})


@router.post("/campaigns/{campaign_id:int}/state", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def campaign_state(campaign_id: int, request: Request,
                         user: SessionUser = Depends(MANAGERS),
                         session: Session = Depends(db_session)) -> Response:
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    form = await request.form()
    _ = translator(request)
    try:
        before = campaign.state
        cs.set_state(session, campaign, str(form.get("state", "")))
        record(session, user, "state", campaign.id, before=before, after=campaign.state)
        session.commit()
    except ZvansError as exc:
        session.rollback()
        return _detail(request, session, user, campaign, errors={"state": _(exc.message)},
                       status_code=422)
    flash(request, _("The campaign is now: %(state)s.") % {
        "state": _(STATE_NAMES[campaign.state])})
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{campaign_id:int}/upload", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def campaign_upload(campaign_id: int, request: Request,
                          user: SessionUser = Depends(MANAGERS),
                          session: Session = Depends(db_session)) -> Response:
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    form = await request.form()
    _ = translator(request)
    valid_only = form.get("valid_only") in ("1", "on", "true")
    try:
        raw = await _read_upload(request, form.get("file"))
        report = cs.import_csv(session, campaign, raw, valid_only=valid_only)
        record(session, user, "upload", campaign.id, imported=report.imported,
               rows=report.rows, skipped=len(report.errors))
        session.commit()
    except ZvansError as exc:
        session.rollback()
        campaign = cs.get_campaign(session, user.org_id, campaign_id)
        errors = list(exc.details.get("errors") or [])
        if not errors:
            errors = [{"line": 0, "field": str(exc.details.get("field", "file")),
                       "message": exc.message}]
        return _detail(request, session, user, campaign, status_code=422,
                       upload_report={"imported": 0, "rejected": True, "errors": errors},
                       errors={"file": _("Nothing was imported.")})
    result = report.as_dict()
    if result["errors"]:
        return _detail(request, session, user, campaign, upload_report=result)
    flash(request, _("%(n)s contacts imported.") % {"n": report.imported})
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{campaign_id:int}/assign", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def campaign_assign(campaign_id: int, request: Request,
                          user: SessionUser = Depends(MANAGERS),
                          session: Session = Depends(db_session)) -> Response:
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    form = await request.form()
    _ = translator(request)
    chosen = [v for v in form.getlist("agent_ids") if isinstance(v, str)]
    everyone = form.get("mode") == "all"
    try:
        given = cs.assign(session, campaign, None if everyone else chosen,
                          reassign=form.get("reassign") in ("1", "on", "true"))
        record(session, user, "assign", campaign.id,
               assigned={str(k): v for k, v in given.items()})
        session.commit()
    except ZvansError as exc:
        session.rollback()
        campaign = cs.get_campaign(session, user.org_id, campaign_id)
        return _detail(request, session, user, campaign,
                       errors={"assign": _(exc.message)}, status_code=422)
    flash(request, _("%(n)s contacts assigned.") % {"n": sum(given.values())})
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


# --- pages: preview dialing (agents) ------------------------------------------------------

def _work(request: Request, session: Session, user: SessionUser, campaign: Campaign,
          *, errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    row = cs.current_contact(session, campaign, user.id)
    summary = next((c for c in cs.agent_summary(session, user.org_id, user.id)
                    if c["id"] == campaign.id), None)
    return render(request, "campaigns/work.html", {
        "active": "campaigns", "campaign": cs.campaign_view(campaign),
        "contact": _contact_for_page(row), "summary": summary,
        "caller_id": cs.caller_id_of(session, campaign.queue_id),
        "errors": errors or {}, "state_names": STATE_NAMES,
    }, status_code=status_code)


@router.get("/campaigns/{campaign_id:int}/work", include_in_schema=False)
def work_page(campaign_id: int, request: Request, user: SessionUser = Depends(CALLERS),
              session: Session = Depends(db_session)) -> Response:
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    return _work(request, session, user, campaign)


@router.post("/campaigns/{campaign_id:int}/work/next", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
def work_next(campaign_id: int, request: Request, user: SessionUser = Depends(CALLERS),
              session: Session = Depends(db_session)) -> Response:
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    _ = translator(request)
    try:
        row = cs.claim_next(session, campaign, user.id)
        session.commit()
    except ZvansError as exc:
        session.rollback()
        return _work(request, session, user, campaign, errors={"_form": _(exc.message)},
                     status_code=exc.status)
    if row is None:
        flash(request, _("No contacts are left for you in this campaign."))
    return RedirectResponse(f"/campaigns/{campaign_id}/work", status_code=303)


@router.post("/campaigns/contacts/{contact_id:int}/call", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def work_call(contact_id: int, request: Request, user: SessionUser = Depends(CALLERS),
                    z: Zvans = Depends(get_zvans)) -> Response:
    """The call button without JavaScript (the page's script uses the API instead)."""
    _ = translator(request)
    campaign_id = await run_in_threadpool(_campaign_of_contact, z, user, contact_id)
    try:
        result = await place_call(z, user, contact_id)
        flash(request, _("Calling %(number)s …") % {"number": result["number"]})
    except ZvansError as exc:
        flash(request, _(exc.message), "error")
    return RedirectResponse(f"/campaigns/{campaign_id}/work", status_code=303)


def _campaign_of_contact(z: Zvans, user: SessionUser, contact_id: int) -> int:
    with z.sessions() as s:
        return cs.my_contact(s, user.org_id, user.id, contact_id).campaign_id


@router.post("/campaigns/contacts/{contact_id:int}/result", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def work_result(contact_id: int, request: Request, user: SessionUser = Depends(CALLERS),
                      session: Session = Depends(db_session)) -> Response:
    row = cs.my_contact(session, user.org_id, user.id, contact_id)
    campaign = cs.get_campaign(session, user.org_id, row.campaign_id)
    form = await request.form()
    _ = translator(request)
    try:
        cs.set_result(session, campaign, row, str(form.get("result_code", "")),
                      str(form.get("comment", "")))
        following = cs.claim_next(session, campaign, user.id) \
            if campaign.state == "active" else None
        session.commit()
    except ZvansError as exc:
        session.rollback()
        campaign = cs.get_campaign(session, user.org_id, row.campaign_id)
        return _work(request, session, user, campaign,
                     errors={str(exc.details.get("field") or "_form"): _(exc.message)},
                     status_code=422)
    flash(request, _("Result saved."))
    if following is None:
        flash(request, _("No contacts are left for you in this campaign."))
    return RedirectResponse(f"/campaigns/{campaign.id}/work", status_code=303)


@router.post("/campaigns/contacts/{contact_id:int}/skip", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
def work_skip(contact_id: int, request: Request, user: SessionUser = Depends(CALLERS),
              session: Session = Depends(db_session)) -> Response:
    row = cs.my_contact(session, user.org_id, user.id, contact_id)
    campaign_id = row.campaign_id
    cs.release(session, row)
    session.commit()
    _ = translator(request)
    flash(request, _("The contact was put back at the end of your list."))
    return RedirectResponse(f"/campaigns/{campaign_id}/work", status_code=303)


# --- JSON API ----------------------------------------------------------------------------

class ResultCodeIn(BaseModel):
    code: str
    name: str = ""
    retry: bool = False


class CampaignIn(BaseModel):
    name: str
    queue_id: int
    result_codes: list[ResultCodeIn] | None = None
    max_attempts: int = 3


class CampaignPatch(BaseModel):
    name: str | None = None
    queue_id: int | None = None
    result_codes: list[ResultCodeIn] | None = None
    max_attempts: int | None = None


class StateIn(BaseModel):
    state: str


class AssignIn(BaseModel):
    agent_ids: list[int] | None = Field(None, description="None = every agent (role agent)")
    contact_ids: list[int] | None = None
    reassign: bool = False


class ResultIn(BaseModel):
    result_code: str
    comment: str = ""


api = APIRouter(prefix="/api/v1", tags=["campaigns"])


@api.get("/campaigns")
def api_list(user: SessionUser = Depends(ANYONE),
             session: Session = Depends(db_session)) -> dict[str, Any]:
    """Supervisors: every campaign with its progress. Agents: campaigns with work for them."""
    if user.role in ("supervisor", "admin"):
        items = [{**cs.campaign_view(c), "progress": cs.progress(session, c)}
                 for c in cs.list_campaigns(session, user.org_id)]
    else:
        items = cs.agent_summary(session, user.org_id, user.id)
    return {"items": items}


@api.post("/campaigns", status_code=201, dependencies=[Depends(csrf_protect)])
def api_create(body: CampaignIn, user: SessionUser = Depends(MANAGERS),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    codes = [c.model_dump() for c in body.result_codes] if body.result_codes else None
    row = cs.create_campaign(session, user.org_id, user.id, name=body.name,
                             queue_id=body.queue_id, result_codes=codes,
                             max_attempts=body.max_attempts)
    record(session, user, "create", row.id, **cs.campaign_view(row))
    session.commit()
    return cs.campaign_view(row)


@api.get("/campaigns/{campaign_id}")
def api_get(campaign_id: int, user: SessionUser = Depends(MANAGERS),
            session: Session = Depends(db_session)) -> dict[str, Any]:
    row = cs.get_campaign(session, user.org_id, campaign_id)
    return {**cs.campaign_view(row), "progress": cs.progress(session, row),
            "caller_id": cs.caller_id_of(session, row.queue_id)}


@api.patch("/campaigns/{campaign_id}", dependencies=[Depends(csrf_protect)])
def api_update(campaign_id: int, body: CampaignPatch, user: SessionUser = Depends(MANAGERS),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    row = cs.get_campaign(session, user.org_id, campaign_id)
    before = cs.campaign_view(row)
    codes = [c.model_dump() for c in body.result_codes] if body.result_codes else None
    cs.update_campaign(session, row, name=body.name, queue_id=body.queue_id,
                       result_codes=codes, max_attempts=body.max_attempts)
    record(session, user, "update", row.id, before=before, after=cs.campaign_view(row))
    session.commit()
    return cs.campaign_view(row)


@api.get("/campaigns/{campaign_id}/progress")
def api_progress(campaign_id: int, user: SessionUser = Depends(MANAGERS),
                 session: Session = Depends(db_session)) -> dict[str, Any]:
    return cs.progress(session, cs.get_campaign(session, user.org_id, campaign_id))


@api.post("/campaigns/{campaign_id}/state", dependencies=[Depends(csrf_protect)])
def api_state(campaign_id: int, body: StateIn, user: SessionUser = Depends(MANAGERS),
              session: Session = Depends(db_session)) -> dict[str, Any]:
    row = cs.get_campaign(session, user.org_id, campaign_id)
    before = row.state
    cs.set_state(session, row, body.state)
    record(session, user, "state", row.id, before=before, after=row.state)
    session.commit()
    return cs.campaign_view(row)


@api.post("/campaigns/{campaign_id}/contacts", status_code=201,
          dependencies=[Depends(csrf_protect)])
async def api_upload(campaign_id: int, file: UploadFile, valid_only: bool = False,
                     user: SessionUser = Depends(MANAGERS),
                     z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    """Upload a CSV (multipart field ``file``). All or nothing unless ``valid_only``."""
    raw = await file.read(cs.MAX_FILE_BYTES + 1)

    def step() -> dict[str, Any]:
        with z.sessions.begin() as s:
            campaign = cs.get_campaign(s, user.org_id, campaign_id)
            report = cs.import_csv(s, campaign, raw, valid_only=valid_only)
            record(s, user, "upload", campaign.id, imported=report.imported,
                   rows=report.rows, skipped=len(report.errors))
            return report.as_dict()

    return await run_in_threadpool(step)


@api.get("/campaigns/{campaign_id}/contacts")
def api_contacts(campaign_id: int, state: str = "", agent_id: int | None = None,
                 offset: int = Query(0, ge=0), limit: int = Query(200, ge=1, le=1000),
                 user: SessionUser = Depends(MANAGERS),
                 session: Session = Depends(db_session)) -> dict[str, Any]:
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    rows = cs.list_contacts(session, campaign, state=state or None, agent_id=agent_id,
                            limit=limit, offset=offset)
    return {"items": [cs.contact_view(r) for r in rows]}


@api.post("/campaigns/{campaign_id}/assign", dependencies=[Depends(csrf_protect)])
def api_assign(campaign_id: int, body: AssignIn, user: SessionUser = Depends(MANAGERS),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    given = cs.assign(session, campaign, body.agent_ids, contact_ids=body.contact_ids,
                      reassign=body.reassign)
    record(session, user, "assign", campaign.id,
           assigned={str(k): v for k, v in given.items()})
    session.commit()
    return {"assigned": {str(k): v for k, v in given.items()},
            "progress": cs.progress(session, campaign)}


@api.post("/campaigns/{campaign_id}/next", dependencies=[Depends(csrf_protect)])
def api_next(campaign_id: int, user: SessionUser = Depends(CALLERS),
             session: Session = Depends(db_session)) -> dict[str, Any]:
    """The contact to preview now (held until a result is saved or it is released)."""
    campaign = cs.get_campaign(session, user.org_id, campaign_id)
    row = cs.claim_next(session, campaign, user.id)
    session.commit()
    return {"contact": _contact_for_page(row)}


@api.post("/campaign-contacts/{contact_id}/call", dependencies=[Depends(csrf_protect)])
async def api_call(contact_id: int, user: SessionUser = Depends(CALLERS),
                   z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    """Click-to-call the contact: the outgoing interaction is recorded in any case; 503
    ``telephony-not-running`` when no telephony is attached."""
    return await place_call(z, user, contact_id)


@api.post("/campaign-contacts/{contact_id}/result", dependencies=[Depends(csrf_protect)])
def api_result(contact_id: int, body: ResultIn, user: SessionUser = Depends(CALLERS),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    row = cs.my_contact(session, user.org_id, user.id, contact_id)
    campaign = cs.get_campaign(session, user.org_id, row.campaign_id)
    cs.set_result(session, campaign, row, body.result_code, body.comment)
    session.commit()
    return {"contact": cs.contact_view(row)}


@api.post("/campaign-contacts/{contact_id}/release", dependencies=[Depends(csrf_protect)])
def api_release(contact_id: int, user: SessionUser = Depends(ANYONE),
                session: Session = Depends(db_session)) -> dict[str, Any]:
    """Put a held contact back: the agent's own, or (supervisors) anyone's, e.g. when an
    agent left with a contact open."""
    if user.role in ("supervisor", "admin"):
        row = cs.get_contact(session, user.org_id, contact_id)
        record(session, user, "release", row.campaign_id, contact_id=row.id,
               agent_id=row.agent_id)
    else:
        row = cs.my_contact(session, user.org_id, user.id, contact_id)
    cs.release(session, row)
    session.commit()
    return {"contact": cs.contact_view(row)}


router.include_router(api)
