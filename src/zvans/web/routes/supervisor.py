"""Supervisor pages: the live wallboard, the live monitoring log, and changing an agent's
state (force pause with a reason, force log out) with an audit entry.

The pages render a first snapshot on the server; ``supervisor.js`` then listens to the
WebSocket ``/ws`` and, on every event, re-fetches ``/api/v1/wallboard`` (the runtime's
``cc.wallboard``) or appends the event to the log — no page reload.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.app import Zvans
from zvans.errors import InvalidInput, ZvansError
from zvans.store import catalog, users
from zvans.store.models import Event, User
from zvans.web.deps import SessionUser, csrf_protect, db_session, get_zvans
from zvans.web.render import render
from zvans.web.routes.admin_forms import (
    flash,
    form_data,
    record,
    supervisor_only,
    take_flashes,
    translator,
)

router = APIRouter(tags=["supervisor"], dependencies=[Depends(supervisor_only)])

#: Event types shown in the monitoring log's filter (DESIGN.md's list).
EVENT_TYPES = (
    "arrived", "ivr_entered", "ivr_choice", "ivr_abandoned", "out_of_hours", "enqueued",
    "offered", "ring_no_answer", "answered", "abandoned", "overflowed", "callback_requested",
    "callback_started", "callback_failed", "voicemail_left", "held", "resumed", "transferred",
    "conferenced", "completed", "wrapup_done", "rated", "agent_login", "agent_logout",
    "agent_paused", "agent_ready", "desktop_connected", "desktop_lost",
    "external_call_started", "external_call_ended",
)
LOG_LIMIT = 200


def _cc(z: Zvans) -> Any:
    cc = z.services.get("cc")
    if cc is None:
        raise ZvansError("The contact-center runtime is not running.", code="no-runtime")
    return cc


def wallboard_data(z: Zvans, session: Session, org_id: int) -> dict[str, Any]:
    """``cc.wallboard`` plus, per agent, the queues they serve now (read from the running
    ACD, so a skill change shows here the moment it is live) and the pause reasons."""
    cc = _cc(z)
    board: dict[str, Any] = cc.wallboard(org_id)
    for agent in board.get("agents", []):
        try:
            view = cc.agent_view(org_id, agent["user_id"])
        except ZvansError:
            view = {}
        agent["queues"] = view.get("queues", {})
        agent["pending_logout"] = view.get("pending_logout", False)
    board["pause_reasons"] = [
        {"code": r.code, "name": r.names} for r in catalog.list_pause_reasons(session, org_id)
        if r.active]
    return board


def event_rows(session: Session, org_id: int, *, types: list[str] | None = None,
               queue_id: int | None = None, agent_id: int | None = None,
               after_id: int | None = None, before_id: int | None = None,
               limit: int = LOG_LIMIT) -> list[dict[str, Any]]:
    """The organisation's event log, newest first, with queue and agent names."""
    q = select(Event).where(Event.org_id == org_id)
    if types:
        q = q.where(Event.type.in_(types))
    if queue_id is not None:
        q = q.where(Event.queue_id == queue_id)
    if agent_id is not None:
        q = q.where(Event.agent_id == agent_id)
    if after_id is not None:
        q = q.where(Event.id > after_id)
    if before_id is not None:
        q = q.where(Event.id < before_id)
    events = list(session.scalars(q.order_by(Event.id.desc()).limit(limit)))
    queues = {row.id: row.name for row in catalog.list_queues(session, org_id)}
    names = {u.id: u.display_name for u in session.scalars(
        select(User).where(User.org_id == org_id))}
    return [
        {"id": e.id, "at": e.at.isoformat(), "type": e.type,
         "interaction_id": e.interaction_id, "queue_id": e.queue_id,
         "queue": queues.get(e.queue_id, "") if e.queue_id is not None else "",
         "agent_id": e.agent_id,
         "agent": names.get(e.agent_id, "") if e.agent_id is not None else "",
         "data": e.data}
        for e in events
    ]


def _agent_user(session: Session, org_id: int, user_id: int) -> User:
    user = users.get_user(session, org_id, user_id)  # 404 for another organisation's id
    if user.agent is None:
        raise InvalidInput("user", "This user does not take calls.", code="not-an-agent")
    return user


def force_pause(z: Zvans, session: Session, actor: SessionUser, user_id: int,
                reason: str) -> None:
    user = _agent_user(session, actor.org_id, user_id)
    active = {r.code for r in catalog.list_pause_reasons(session, actor.org_id) if r.active}
    if reason not in active:
        raise InvalidInput("reason", "Choose a pause reason from the list.",
                           code="no-such-pause-reason")
    _cc(z).agent_pause(actor.org_id, user.id, reason)
    record(session, actor, "agent.force_pause", f"user:{user.id}", username=user.username,
           reason=reason)
    session.commit()


def force_logout(z: Zvans, session: Session, actor: SessionUser, user_id: int) -> None:
    user = _agent_user(session, actor.org_id, user_id)
    _cc(z).agent_logout(actor.org_id, user.id)
    record(session, actor, "agent.force_logout", f"user:{user.id}", username=user.username)
    session.commit()


def _int_or_none(raw: str | None) -> int | None:
    return int(raw) if raw and raw.strip().isdigit() else None


# --- pages ---------------------------------------------------------------------------------

@router.get("/supervisor", include_in_schema=False)
def supervisor_home() -> Response:
    return RedirectResponse("/supervisor/wallboard", status_code=303)


@router.get("/supervisor/wallboard", include_in_schema=False)
def wallboard_page(request: Request, actor: SessionUser = Depends(supervisor_only),
                   session: Session = Depends(db_session),
                   z: Zvans = Depends(get_zvans)) -> Response:
    board = wallboard_data(z, session, actor.org_id)
    return render(request, "supervisor/wallboard.html", {
        "active": "supervisor", "section": "wallboard", "board": board,
        "flashes": take_flashes(request)})


@router.get("/supervisor/log", include_in_schema=False)
def log_page(request: Request, type: str = "", queue: str | None = None,
             agent: str | None = None, actor: SessionUser = Depends(supervisor_only),
             session: Session = Depends(db_session)) -> Response:
    types = [t for t in type.split(",") if t in EVENT_TYPES]
    queue_id, agent_id = _int_or_none(queue), _int_or_none(agent)
    rows = event_rows(session, actor.org_id, types=types or None, queue_id=queue_id,
                      agent_id=agent_id)
    people = [u for u in users.list_users(session, actor.org_id) if u.agent is not None]
    return render(request, "supervisor/log.html", {
        "active": "supervisor", "section": "log", "events": rows,
        "event_types": EVENT_TYPES, "type": ",".join(types), "queue_id": queue_id,
        "agent_id": agent_id, "queues": catalog.list_queues(session, actor.org_id),
        "people": people, "limit": LOG_LIMIT,
        "queues_map": {str(q.id): q.name for q in catalog.list_queues(session, actor.org_id)},
        "agents_map": {str(u.id): u.display_name for u in session.scalars(
            select(User).where(User.org_id == actor.org_id))}})


@router.post("/supervisor/agents/{user_id}/pause", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def pause_submit(user_id: int, request: Request,
                       actor: SessionUser = Depends(supervisor_only),
                       session: Session = Depends(db_session),
                       z: Zvans = Depends(get_zvans)) -> Response:
    data = await form_data(request)
    _ = translator(request)
    try:
        force_pause(z, session, actor, user_id, data.get("reason", ""))
        flash(request, _("The agent was paused."))
    except ZvansError as exc:
        session.rollback()
        flash(request, _(exc.message), "error")
    return RedirectResponse("/supervisor/wallboard", status_code=303)


@router.post("/supervisor/agents/{user_id}/logout", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
def logout_submit(user_id: int, request: Request,
                  actor: SessionUser = Depends(supervisor_only),
                  session: Session = Depends(db_session),
                  z: Zvans = Depends(get_zvans)) -> Response:
    _ = translator(request)
    try:
        force_logout(z, session, actor, user_id)
        flash(request, _("The agent was logged out."))
    except ZvansError as exc:
        session.rollback()
        flash(request, _(exc.message), "error")
    return RedirectResponse("/supervisor/wallboard", status_code=303)


# --- JSON API ------------------------------------------------------------------------------

class PauseIn(BaseModel):
    reason: str


@router.get("/api/v1/wallboard")
def api_wallboard(actor: SessionUser = Depends(supervisor_only),
                  session: Session = Depends(db_session),
                  z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    """Per queue: waiting, oldest wait, EWT, answered / abandoned / SL today; per agent:
    state, reason, since (ISO time), calls today, queues served. ``at`` is the server time."""
    return wallboard_data(z, session, actor.org_id)


@router.get("/api/v1/events")
def api_events(type: str = "", queue_id: int | None = None, agent_id: int | None = None,
               after_id: int | None = None, before_id: int | None = None,
               limit: int = Query(100, ge=1, le=1000),
               actor: SessionUser = Depends(supervisor_only),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    """The monitoring log: events newest first; ``type`` is a comma-separated list."""
    types = [t for t in type.split(",") if t]
    rows = event_rows(session, actor.org_id, types=types or None, queue_id=queue_id,
                      agent_id=agent_id, after_id=after_id, before_id=before_id, limit=limit)
    return {"events": rows}


@router.post("/api/v1/supervisor/agents/{user_id}/pause", dependencies=[Depends(csrf_protect)])
def api_force_pause(user_id: int, body: PauseIn, actor: SessionUser = Depends(supervisor_only),
                    session: Session = Depends(db_session),
                    z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    """Pause an agent with a reason (during a call it takes effect when the call ends)."""
    force_pause(z, session, actor, user_id, body.reason)
    view: dict[str, Any] = _cc(z).agent_view(actor.org_id, user_id)
    return view


@router.post("/api/v1/supervisor/agents/{user_id}/logout",
             dependencies=[Depends(csrf_protect)])
def api_force_logout(user_id: int, actor: SessionUser = Depends(supervisor_only),
                     session: Session = Depends(db_session),
                     z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    """Log an agent out of all queues (during a call: when the call ends)."""
    force_logout(z, session, actor, user_id)
    view: dict[str, Any] = _cc(z).agent_view(actor.org_id, user_id)
    return view
