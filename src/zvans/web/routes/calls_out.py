"""Click-to-call from the desktop: ``POST /api/v1/calls/click-to-call``.

Zvans rings the agent's own phone first, then the number, with the queue's number as caller
id (``zvans.telephony.outbound``). The answer comes at once (``status: "dialing"``); the
call's progress arrives as events (``answered``, ``completed`` with direction "out"), and
``GET /api/v1/calls/click-to-call/{id}`` tells the desktop where the agent's own call stands
(also when it was not connected, which writes no event).
A bad number is a 422 naming the field; no telephony, no trunk or no registered phone are
clear errors, and nothing is recorded for them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from zvans.errors import NotFound
from zvans.store.models import Interaction, Queue
from zvans.telephony.outbound import dial_number
from zvans.web.deps import SessionUser, csrf_protect, db_session, get_zvans, require_role
from zvans.web.routes.api import TelephonyUnavailable

router = APIRouter(prefix="/api/v1", tags=["calls"])

TAKES_CALLS = require_role("agent", "supervisor")


class ClickToCall(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    number: str = Field(..., max_length=40, description="The number to call")
    queue_id: int = Field(..., alias="queue", description="Whose caller id to show")


@router.post("/calls/click-to-call", status_code=202, dependencies=[Depends(csrf_protect)])
async def click_to_call(body: ClickToCall, request: Request,
                        user: SessionUser = Depends(TAKES_CALLS)) -> dict[str, Any]:
    number = dial_number(body.number)  # 422 before anything else is looked at
    telephony = get_zvans(request).services.get("telephony")
    if telephony is None or not hasattr(telephony, "click_to_call"):
        raise TelephonyUnavailable("Telephony is not running, so Zvans cannot dial. Call the "
                                   "number from your phone.")
    result: dict[str, Any] = await run_in_threadpool(
        telephony.click_to_call, user.org_id, user.id, number, body.queue_id)
    return result


@router.get("/calls/click-to-call/queues")
def caller_ids(user: SessionUser = Depends(TAKES_CALLS),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    """The queues an agent may call on behalf of (their number is shown to the customer)."""
    rows = session.scalars(select(Queue).where(Queue.org_id == user.org_id,
                                               Queue.active.is_(True)).order_by(Queue.id))
    return {"items": [{"id": q.id, "name": str((q.names or {}).get(user.language) or q.name),
                       "caller_id": q.caller_id} for q in rows]}


@router.get("/calls/click-to-call/{interaction_id}")
def call_progress(interaction_id: int, request: Request,
                  user: SessionUser = Depends(TAKES_CALLS),
                  session: Session = Depends(db_session)) -> dict[str, Any]:
    """The state of the agent's own outgoing call: ``dialing``, ``ringing-agent``,
    ``ringing-customer``, ``connected`` or ``ended`` (with ``outcome``: ``answered``, or
    why it was not connected: ``busy``, ``no-answer``, ``agent-no-answer``, ...)."""
    row = session.get(Interaction, interaction_id)
    if row is None or row.org_id != user.org_id or row.direction != "out" \
            or row.agent_id != user.id:
        raise NotFound("No such outgoing call.", code="no-such-call")
    telephony = get_zvans(request).services.get("telephony")
    progress = getattr(telephony, "progress", None)
    state = progress(row.id) if progress is not None else None
    if state is None:
        state = "ended" if row.ended_at is not None else "dialing"
    talk_s = None
    if row.answered_at is not None and row.ended_at is not None:
        talk_s = round((row.ended_at - row.answered_at).total_seconds(), 1)
    return {"interaction_id": row.id, "number": row.callee, "state": state,
            "outcome": row.outcome if state == "ended" else None, "talk_s": talk_s}
