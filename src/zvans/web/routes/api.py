"""JSON API for the agent desktop and integrations: /api/v1/…

Every route needs a session and a role; state-changing routes need the CSRF header.
Errors are ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zvans.errors import Forbidden, InvalidInput, NotFound, ZvansError
from zvans.store import catalog, validate
from zvans.store.models import (
    AgentProfile,
    Event,
    Interaction,
    Queue,
    UnansweredEntry,
)
from zvans.store.models import (
    Request as RequestRow,
)
from zvans.web import request_service as rs
from zvans.web.deps import SessionUser, csrf_protect, db_session, get_zvans, require_role

router = APIRouter(prefix="/api/v1", tags=["api"])

ANY_ROLE = require_role("agent", "supervisor", "admin")
TAKES_CALLS = require_role("agent", "supervisor")
ADMIN = require_role("admin")


class TelephonyUnavailable(ZvansError):
    code = "telephony-unavailable"
    status = 501


def cc_of(request: Request) -> Any:
    cc = get_zvans(request).services.get("cc")
    if cc is None:
        raise ZvansError("The call engine is not running.", code="acd-unavailable")
    return cc


# --- wrap-up codes, pause reasons, queues ---------------------------------------------

@router.get("/wrapup-codes")
def wrapup_codes(user: SessionUser = Depends(ANY_ROLE),
                 session: Session = Depends(db_session)) -> dict[str, Any]:
    rows = catalog.list_wrapup_codes(session, user.org_id, active_only=True)
    return {"items": [{"id": r.id, "code": r.code, "position": r.position,
                       "name": r.name(user.language), "names": r.names} for r in rows]}


@router.get("/pause-reasons")
def pause_reasons(user: SessionUser = Depends(ANY_ROLE),
                  session: Session = Depends(db_session)) -> dict[str, Any]:
    rows = [r for r in catalog.list_pause_reasons(session, user.org_id) if r.active]
    return {"items": [{"code": r.code, "name": r.names.get(user.language)
                       or r.names.get("en") or r.code} for r in rows]}


# --- requests --------------------------------------------------------------------------

class RequestBody(BaseModel):
    phone: str = Field("", description="Caller's phone number (required)")
    name: str = Field("", description="Client's name (required)")
    wrapup_codes: list[int] = Field(default_factory=list, description="Wrap-up code ids")
    comment: str = ""
    interaction_id: int | None = Field(None, description="The call this request is about")


def parse_filter(wrapup_code: str, agent: str, date_from: str, date_to: str, q: str,
                 page: str) -> rs.RequestFilter:
    def opt_int(value: str, name: str) -> int | None:
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(name, "Must be a whole number.") from None

    def opt_date(value: str, name: str) -> date | None:
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(name, "Date must look like 2026-01-31.") from None

    f = rs.RequestFilter(wrapup_code_id=opt_int(wrapup_code, "wrapup_code"),
                         agent_id=opt_int(agent, "agent"),
                         date_from=opt_date(date_from, "date_from"),
                         date_to=opt_date(date_to, "date_to"), q=q[:200],
                         page=opt_int(page, "page") or 1)
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise InvalidInput("date_to", "The end date is before the start date.")
    f.page = max(1, min(f.page, 1_000_000))
    return f


@router.get("/requests")
def list_requests(
    wrapup_code: str = "", agent: str = "", date_from: str = "", date_to: str = "",
    q: str = "", page: str = "1",
    user: SessionUser = Depends(ANY_ROLE), session: Session = Depends(db_session),
) -> dict[str, Any]:
    f = parse_filter(wrapup_code, agent, date_from, date_to, q, page)
    rows, total = rs.search_requests(session, user.org_id, f)
    agents, queues = rs.names_by_id(session, user.org_id, user.language)
    zone = rs.org_zone(session, user.org_id)
    inter = rs.interactions_by_id(session, rows)
    return {"items": [rs.request_dict(r, user.language, agents, queues, zone,
                                      inter.get(r.interaction_id or 0)) for r in rows],
            "total": total, "page": f.page, "per_page": f.per_page}


@router.post("/requests", status_code=201, dependencies=[Depends(csrf_protect)])
def create_request(body: RequestBody, request: Request,
                   user: SessionUser = Depends(TAKES_CALLS),
                   session: Session = Depends(db_session)) -> dict[str, Any]:
    row = rs.create_request(session, user.org_id, user.id, rs.RequestInput(
        phone=body.phone, name=body.name, wrapup_code_ids=body.wrapup_codes,
        comment=body.comment, interaction_id=body.interaction_id))
    session.commit()
    _end_card_wrapup(request, session, user, row)
    return _one(session, user, row)


def _end_card_wrapup(request: Request, session: Session, user: SessionUser,
                     row: RequestRow) -> None:
    """In a queue whose wrap-up lasts "until the client card is saved", saving the request
    for the call the agent is wrapping up ends the wrap-up (seed 001 status 7)."""
    cc = get_zvans(request).services.get("cc")
    if cc is None or row.interaction_id is None or row.queue_id is None:
        return
    queue = session.get(Queue, row.queue_id)
    if queue is None or not queue.wrapup_until_card:
        return
    try:
        view = cc.agent_view(user.org_id, user.id)
        if view.get("activity") == "wrap_up" and view.get("interaction_id") in (
                None, row.interaction_id):
            cc.wrapup_done(user.org_id, user.id)
    except ZvansError:
        pass


def _one(session: Session, user: SessionUser, row: RequestRow) -> dict[str, Any]:
    agents, queues = rs.names_by_id(session, user.org_id, user.language)
    inter = rs.interactions_by_id(session, [row])
    return rs.request_dict(row, user.language, agents, queues, rs.org_zone(session, user.org_id),
                           inter.get(row.interaction_id or 0))


@router.get("/requests/{request_id}")
def get_request(request_id: int, user: SessionUser = Depends(ANY_ROLE),
                session: Session = Depends(db_session)) -> dict[str, Any]:
    row = rs.get_request(session, user.org_id, request_id)
    result = _one(session, user, row)
    result["history"] = [{"edited_at": e.edited_at.isoformat(timespec="seconds"),
                          "edited_by": who, "before": e.before}
                         for e, who in rs.edits_of(session, user.org_id, row.id)]
    return result


@router.put("/requests/{request_id}", dependencies=[Depends(csrf_protect)])
def update_request(request_id: int, body: RequestBody, user: SessionUser = Depends(ANY_ROLE),
                   session: Session = Depends(db_session)) -> dict[str, Any]:
    row = rs.update_request(session, user.org_id, request_id, user.id, user.role,
                            rs.RequestInput(phone=body.phone, name=body.name,
                                            wrapup_code_ids=body.wrapup_codes,
                                            comment=body.comment))
    session.commit()
    return _one(session, user, row)


# --- client card -----------------------------------------------------------------------

@router.get("/customers/card")
def customer_card(phone: str = "", interaction_id: int | None = None,
                  user: SessionUser = Depends(TAKES_CALLS),
                  session: Session = Depends(db_session)) -> dict[str, Any]:
    if not phone and interaction_id is None:
        raise InvalidInput("phone", "Give a phone number or a call.")
    caller = validate.phone(phone) if phone else ""
    return rs.client_card(session, user.org_id, caller, user.language, interaction_id)


# --- unanswered register ---------------------------------------------------------------

class UnansweredMark(BaseModel):
    callback_state: str


@router.get("/unanswered")
def unanswered(open_only: bool = False, page: int = Query(1, ge=1, le=1_000_000),
               user: SessionUser = Depends(ANY_ROLE),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    items, total = rs.list_unanswered(session, user.org_id, open_only=open_only, page=page,
                                       language=user.language)
    return {"items": items, "total": total, "page": page, "per_page": rs.PER_PAGE}


@router.post("/unanswered/{entry_id}/state", dependencies=[Depends(csrf_protect)])
def unanswered_state(entry_id: int, body: UnansweredMark,
                     user: SessionUser = Depends(TAKES_CALLS),
                     session: Session = Depends(db_session)) -> dict[str, Any]:
    row = rs.mark_unanswered(session, user.org_id, entry_id, body.callback_state, user.id)
    session.commit()
    return {"id": row.id, "callback_state": row.callback_state,
            "resolved": row.resolved_at is not None}


@router.get("/unanswered/{entry_id}/voicemail")
def unanswered_voicemail(entry_id: int, request: Request,
                         user: SessionUser = Depends(TAKES_CALLS),
                         session: Session = Depends(db_session)) -> FileResponse:
    """Play a voice message (WAV); the first play counts it as listened to (seed 000)."""
    z = get_zvans(request)
    row = session.get(UnansweredEntry, entry_id)
    if row is None or row.org_id != user.org_id or not row.voicemail_ref:
        raise NotFound(f"No voice message {entry_id}.", code="no-such-voicemail")
    base = z.settings.data_dir.resolve()
    path = (base / row.voicemail_ref).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise NotFound("The voice message file is missing.", code="voicemail-file-missing")
    cc = z.services.get("cc")
    if cc is not None:
        cc.voicemail_listened(user.org_id, entry_id, user.id)
    return FileResponse(path, media_type="audio/wav", filename=f"voicemail-{entry_id}.wav")


@router.post("/unanswered/{entry_id}/callback", dependencies=[Depends(csrf_protect)])
def unanswered_callback(entry_id: int, request: Request,
                        user: SessionUser = Depends(TAKES_CALLS),
                        session: Session = Depends(db_session)) -> dict[str, Any]:
    row = session.get(UnansweredEntry, entry_id)
    if row is None or row.org_id != user.org_id:
        raise NotFound(f"No unanswered call {entry_id}.", code="no-such-entry")
    telephony = get_zvans(request).services.get("telephony")  # click-to-call (issue 7)
    queue_id = row.queue_id or session.scalar(
        select(Queue.id).where(Queue.org_id == user.org_id).order_by(Queue.id))
    if telephony is not None and hasattr(telephony, "click_to_call") and queue_id is not None:
        result: dict[str, Any] = telephony.click_to_call(user.org_id, user.id, row.caller,
                                                         queue_id)
        return result
    raise TelephonyUnavailable(
        "Calling back from the desktop is not available until telephony is connected. "
        "Call the number from your phone and mark the row as called back.")


# --- the agent's own state --------------------------------------------------------------

class PauseBody(BaseModel):
    reason: str


class RingTargetBody(BaseModel):
    ring_target: str = Field("", description="Empty = registered SIP phone; else a number")


def _profile(session: Session, user: SessionUser) -> AgentProfile:
    profile = session.scalar(select(AgentProfile).where(AgentProfile.user_id == user.id))
    if profile is None:
        raise NotFound("You have no agent profile.", code="no-agent-profile")
    return profile


def my_state(request: Request, session: Session, user: SessionUser) -> dict[str, Any]:
    profile = _profile(session, user)
    cc = get_zvans(request).services.get("cc")
    view: dict[str, Any] = {"availability": "logged_out", "activity": "idle",
                            "pause_reason": None, "pending_pause": None,
                            "interaction_id": None, "desktop_connected": False,
                            "calls_today": 0}
    if cc is not None:
        view = dict(cc.agent_view(user.org_id, user.id))
    view["ring_target"] = profile.ring_target
    view["extension"] = profile.extension
    return view


@router.get("/agents/me")
def agents_me(request: Request, user: SessionUser = Depends(TAKES_CALLS),
              session: Session = Depends(db_session)) -> dict[str, Any]:
    return my_state(request, session, user)


@router.post("/agents/me/pause", dependencies=[Depends(csrf_protect)], name="agents_me_pause")
def agents_me_pause(body: PauseBody, request: Request, user: SessionUser = Depends(TAKES_CALLS),
                    session: Session = Depends(db_session)) -> dict[str, Any]:
    codes = {r.code for r in catalog.list_pause_reasons(session, user.org_id) if r.active}
    if body.reason not in codes:
        raise InvalidInput("reason", "Choose a pause reason from the list.")
    cc_of(request).agent_pause(user.org_id, user.id, body.reason)
    return my_state(request, session, user)


@router.post("/agents/me/{action}", dependencies=[Depends(csrf_protect)])
def agents_me_action(action: str, request: Request, user: SessionUser = Depends(TAKES_CALLS),
                     session: Session = Depends(db_session)) -> dict[str, Any]:
    cc = cc_of(request)
    commands = {"login": cc.agent_login, "ready": cc.agent_ready, "logout": cc.agent_logout,
                "wrapup-done": cc.wrapup_done}
    if action not in commands:
        raise NotFound(f"No action {action!r}.", code="no-such-action")
    commands[action](user.org_id, user.id)
    return my_state(request, session, user)


@router.put("/agents/me/ring-target", dependencies=[Depends(csrf_protect)])
def agents_me_ring_target(body: RingTargetBody, request: Request,
                          user: SessionUser = Depends(TAKES_CALLS),
                          session: Session = Depends(db_session)) -> dict[str, Any]:
    value = body.ring_target.strip()
    if value and not value.lower().startswith("sip:"):
        value = validate.phone(value, "ring_target")
    elif len(value) > 200 or any(ch.isspace() or ch in "<>\"'" for ch in value):
        raise InvalidInput("ring_target", "Not a valid SIP address.")
    profile = _profile(session, user)
    profile.ring_target = value
    session.commit()
    cc = get_zvans(request).services.get("cc")
    if cc is not None:
        cc.reload(user.org_id)
    return my_state(request, session, user)


@router.get("/agents/me/stats")
def agents_me_stats(request: Request, user: SessionUser = Depends(TAKES_CALLS),
                    session: Session = Depends(db_session)) -> dict[str, Any]:
    return my_stats_today(session, user)


def my_stats_today(session: Session, user: SessionUser) -> dict[str, Any]:
    """Today's figures for one agent, read from the event log (a report is a query)."""
    zone = rs.org_zone(session, user.org_id)
    today = datetime.now(zone).date()
    start = rs.day_start(today, zone)
    end = rs.day_start(today + timedelta(days=1), zone)
    base = [Event.org_id == user.org_id, Event.agent_id == user.id, Event.at >= start,
            Event.at < end]
    counts = dict(session.execute(
        select(Event.type, func.count()).where(*base).group_by(Event.type)).all())
    talk_s = 0.0
    wrap_s = 0.0
    pause_s: dict[str, float] = {}
    events = session.scalars(select(Event).where(
        *base, Event.type.in_(("completed", "wrapup_done", "agent_paused", "agent_ready",
                               "agent_logout"))).order_by(Event.id))
    paused_at: tuple[datetime, str] | None = None
    for ev in events:
        data = ev.data or {}
        if ev.type == "completed":
            talk_s += float(data.get("talk_s") or 0)
        elif ev.type == "wrapup_done":
            wrap_s += float(data.get("wrapup_s") or 0)
        elif ev.type == "agent_paused":
            paused_at = (ev.at, str(data.get("reason") or ""))
        elif paused_at is not None:
            pause_s[paused_at[1]] = pause_s.get(paused_at[1], 0.0) + (
                ev.at - paused_at[0]).total_seconds()
            paused_at = None
    answered = int(counts.get("answered", 0))
    requests_today = session.scalar(select(func.count()).select_from(RequestRow).where(
        RequestRow.org_id == user.org_id, RequestRow.agent_id == user.id,
        RequestRow.created_at >= start, RequestRow.created_at < end)) or 0
    return {
        "date": today.isoformat(),
        "offered": int(counts.get("offered", 0)),
        "answered": answered,
        "missed": int(counts.get("ring_no_answer", 0)),
        "talk_s": round(talk_s),
        "avg_talk_s": round(talk_s / answered) if answered else None,
        "wrapup_s": round(wrap_s),
        "pause_s": {k: round(v) for k, v in pause_s.items()},
        "requests": int(requests_today),
    }


# --- calls -----------------------------------------------------------------------------

class SimulateBody(BaseModel):
    queue: str = Field(..., description="Queue name or id")
    caller: str = Field(..., description="Caller's number")
    ivr_topic: str = ""


def _queue(session: Session, org_id: int, ref: str) -> Queue:
    q = select(Queue).where(Queue.org_id == org_id)
    row = session.scalar(q.where(Queue.id == int(ref))) if ref.isdigit() else \
        session.scalar(q.where(func.lower(Queue.name) == ref.strip().lower()))
    if row is None:
        raise InvalidInput("queue", f"No queue {ref!r}.")
    return row


@router.post("/calls/simulate", status_code=201, dependencies=[Depends(csrf_protect)])
def simulate_call(body: SimulateBody, request: Request, user: SessionUser = Depends(ADMIN),
                  session: Session = Depends(db_session)) -> dict[str, Any]:
    """A simulated caller enters a queue (flagged, excluded from reports): for demos and tests."""
    queue = _queue(session, user.org_id, body.queue)
    caller = validate.phone(body.caller, "caller", required=True)
    topic = validate.text(body.ivr_topic, "ivr_topic", max_len=64)
    interaction_id = cc_of(request).call_arrived(user.org_id, queue.id, caller,
                                                 ivr_topic=topic, simulated=True)
    return {"interaction_id": interaction_id, "queue_id": queue.id}


def _my_call(session: Session, user: SessionUser, interaction_id: int) -> Interaction:
    row = session.get(Interaction, interaction_id)
    if row is None or row.org_id != user.org_id:
        raise NotFound("No such call.", code="no-such-call")
    return row


class CallActionBody(BaseModel):
    target: str = Field("", description='"queue:<id>", "agent:<id>" or "number:<phone>"')
    attended: bool = Field(False, description="Consult the target before completing")
    mode: str = Field("listen", description="Supervisor monitoring: listen, whisper, barge")


CALL_ACTIONS = ("answer", "hangup", "hold", "resume", "transfer", "transfer-complete",
                "transfer-cancel", "conference", "monitor", "monitor-stop")
SUPERVISES = require_role("supervisor", "admin")


def telephony_of(request: Request, action: str) -> Any:
    telephony = get_zvans(request).services.get("telephony")
    if telephony is None or not hasattr(telephony, "hold"):
        raise TelephonyUnavailable(
            "This call control is not available until telephony is connected.",
            action=action)
    return telephony


@router.post("/calls/{interaction_id}/{action}", dependencies=[Depends(csrf_protect)])
def call_action(interaction_id: int, action: str, request: Request,
                body: CallActionBody | None = None,
                user: SessionUser = Depends(ANY_ROLE),
                session: Session = Depends(db_session)) -> dict[str, Any]:
    """Call controls. Answer and hang up work on simulated calls (there is no phone to use);
    the others go to telephony's server-side controls (telephony/controls.py). Monitoring
    (listen / whisper / barge) is for supervisors and is audited."""
    row = _my_call(session, user, interaction_id)
    if action not in CALL_ACTIONS:
        raise NotFound(f"No action {action!r}.", code="no-such-action")
    if action.startswith("monitor"):
        SUPERVISES(user)
    elif user.role not in ("agent", "supervisor"):
        raise Forbidden("Only agents and supervisors control calls.", code="forbidden")
    if action in ("answer", "hangup") and row.simulated:
        cc = cc_of(request)
        if action == "answer":
            cc.offer_answered(user.org_id, user.id, interaction_id)
        else:
            cc.call_ended(user.org_id, interaction_id)
        return {"ok": True, "interaction_id": interaction_id}
    if action == "answer":
        raise ZvansError("Answer the call on your phone.", code="answer-on-phone")
    body = body or CallActionBody(target="", attended=False, mode="listen")
    tel = telephony_of(request, action)
    org = user.org_id
    if action in ("transfer", "conference") and not body.target.strip():
        raise InvalidInput("target", "Choose where the call goes: queue:<id>, agent:<id> or "
                           "number:<phone number>.", code="no-target")
    if action == "hold":
        result = tel.hold(org, interaction_id)
    elif action == "resume":
        result = tel.resume(org, interaction_id)
    elif action == "transfer":
        result = tel.transfer(org, interaction_id, body.target, attended=body.attended)
    elif action == "transfer-complete":
        result = tel.complete_transfer(org, interaction_id)
    elif action == "transfer-cancel":
        result = tel.cancel_transfer(org, interaction_id)
    elif action == "conference":
        result = tel.conference_add(org, interaction_id, body.target)
    elif action == "monitor":
        result = tel.monitor(org, interaction_id, user.id, body.mode)
    elif action == "monitor-stop":
        result = tel.stop_monitor(org, interaction_id, user.id)
    else:
        result = tel.hangup(org, interaction_id)
    return {"ok": True, "interaction_id": interaction_id, **result}

