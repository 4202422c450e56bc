"""Requests register (filters, search, pages, CSV), a request's page with edit and history,
and the unanswered-calls register (seed 001)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from zvans.errors import ZvansError
from zvans.store import catalog, users
from zvans.store.models import CALLBACK_STATES
from zvans.web import request_service as rs
from zvans.web.deps import SessionUser, csrf_protect, db_session, require_role
from zvans.web.forms import error_map, form_fields, form_lists
from zvans.web.render import flash, render, translator
from zvans.web.routes.api import parse_filter

router = APIRouter(include_in_schema=False)
ANY_ROLE = require_role("agent", "supervisor", "admin")
FILTER_KEYS = ("wrapup_code", "agent", "date_from", "date_to", "q")


def _choices(session: Session, user: SessionUser) -> dict[str, Any]:
    return {
        "codes": [{"id": c.id, "code": c.code, "name": c.name(user.language)}
                  for c in catalog.list_wrapup_codes(session, user.org_id)],
        "agents": [{"id": u.id, "name": u.display_name}
                   for u in users.list_users(session, user.org_id)
                   if u.role in ("agent", "supervisor")],
    }


@router.get("/requests")
def requests_page(request: Request, user: SessionUser = Depends(ANY_ROLE),
                  session: Session = Depends(db_session)) -> Response:
    params = {k: request.query_params.get(k, "") for k in (*FILTER_KEYS, "page")}
    ctx: dict[str, Any] = {"active": "requests", "params": params, "errors": {}, "items": [],
                           "total": 0, "page": 1, "pages": 1, **_choices(session, user)}
    try:
        f = parse_filter(params["wrapup_code"], params["agent"], params["date_from"],
                         params["date_to"], params["q"], params["page"] or "1")
    except ZvansError as exc:
        ctx["errors"] = error_map(exc)
        return render(request, "requests/list.html", ctx, status_code=422)
    rows, total = rs.search_requests(session, user.org_id, f)
    agents, queues = rs.names_by_id(session, user.org_id, user.language)
    zone = rs.org_zone(session, user.org_id)
    inter = rs.interactions_by_id(session, rows)
    query = {k: params[k] for k in FILTER_KEYS if params[k]}
    ctx.update(items=[rs.request_dict(r, user.language, agents, queues, zone,
                                      inter.get(r.interaction_id or 0)) for r in rows],
               total=total, page=f.page, pages=max(1, -(-total // f.per_page)),
               query=urlencode(query))
    return render(request, "requests/list.html", ctx)


@router.get("/requests/export.csv")
def requests_csv(request: Request, user: SessionUser = Depends(ANY_ROLE),
                 session: Session = Depends(db_session)) -> Response:
    p = {k: request.query_params.get(k, "") for k in FILTER_KEYS}
    f = parse_filter(p["wrapup_code"], p["agent"], p["date_from"], p["date_to"], p["q"], "1")
    body = rs.export_csv(session, user.org_id, f, user.language)
    return Response("\ufeff" + body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="requests.csv"'})


def _detail_ctx(session: Session, user: SessionUser, request_id: int) -> dict[str, Any]:
    row = rs.get_request(session, user.org_id, request_id)
    agents, queues = rs.names_by_id(session, user.org_id, user.language)
    zone = rs.org_zone(session, user.org_id)
    inter = rs.interactions_by_id(session, [row])
    item = rs.request_dict(row, user.language, agents, queues, zone,
                           inter.get(row.interaction_id or 0))
    history = [{"edited_at": e.edited_at.astimezone(zone).isoformat(timespec="seconds"),
                "edited_by": who, "before": e.before}
               for e, who in rs.edits_of(session, user.org_id, row.id)]
    return {"active": "requests", "item": item, "history": history,
            "may_edit": rs.may_edit(row, user.id, user.role),
            "form": {"phone": item["phone"], "name": item["name"], "comment": item["comment"],
                     "wrapup_codes": [c["id"] for c in item["wrapup_codes"]]},
            "errors": {}, **_choices(session, user)}


@router.get("/requests/{request_id}")
def request_page(request_id: int, request: Request, user: SessionUser = Depends(ANY_ROLE),
                 session: Session = Depends(db_session)) -> Response:
    return render(request, "requests/detail.html", _detail_ctx(session, user, request_id))


@router.post("/requests/{request_id}", dependencies=[Depends(csrf_protect)])
async def request_edit(request_id: int, request: Request, user: SessionUser = Depends(ANY_ROLE),
                       session: Session = Depends(db_session)) -> Response:
    ctx = _detail_ctx(session, user, request_id)
    fields = await form_fields(request)
    codes = await form_lists(request, "wrapup_codes")
    data = rs.RequestInput(phone=fields.get("phone", ""), name=fields.get("name", ""),
                           comment=fields.get("comment", ""),
                           wrapup_code_ids=[int(c) if c.isdigit() else -1 for c in codes])
    try:
        rs.update_request(session, user.org_id, request_id, user.id, user.role, data)
    except ZvansError as exc:
        if exc.status in (403, 404):
            raise
        session.rollback()
        ctx["errors"] = error_map(exc)
        ctx["form"] = {"phone": data.phone, "name": data.name, "comment": data.comment,
                       "wrapup_codes": [c for c in data.wrapup_code_ids if c > 0]}
        return render(request, "requests/detail.html", ctx, status_code=422)
    session.commit()
    flash(request, translator(request)("Request saved."))
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


# --- unanswered register ----------------------------------------------------------------

@router.get("/unanswered")
def unanswered_page(request: Request, user: SessionUser = Depends(ANY_ROLE),
                    session: Session = Depends(db_session)) -> Response:
    open_only = request.query_params.get("open") == "1"
    raw_page = request.query_params.get("page", "1")
    page = max(1, min(int(raw_page) if raw_page.isdigit() else 1, 1_000_000))
    items, total = rs.list_unanswered(session, user.org_id, open_only=open_only, page=page,
                                       language=user.language)
    return render(request, "requests/unanswered.html", {
        "active": "unanswered", "items": items, "total": total, "page": page,
        "pages": max(1, -(-total // rs.PER_PAGE)), "open_only": open_only,
        "states": CALLBACK_STATES, "may_act": user.role in ("agent", "supervisor")})


@router.post("/unanswered/{entry_id}", dependencies=[Depends(csrf_protect)])
async def unanswered_mark(entry_id: int, request: Request,
                          user: SessionUser = Depends(require_role("agent", "supervisor")),
                          session: Session = Depends(db_session)) -> Response:
    fields = await form_fields(request)
    _ = translator(request)
    try:
        rs.mark_unanswered(session, user.org_id, entry_id, fields.get("callback_state", ""),
                           user.id)
    except ZvansError as exc:
        if exc.status == 404:
            raise
        flash(request, _("Choose a callback state from the list."), "error")
        return RedirectResponse("/unanswered", status_code=303)
    session.commit()
    flash(request, _("Saved."))
    return RedirectResponse("/unanswered", status_code=303)
