"""The agent desktop page (seed 001's "receive calls"): state bar, call panel, client card,
request form, my statistics today. The live parts are ES modules in /static/js/."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from zvans.store import catalog
from zvans.web.deps import SessionUser, db_session, require_role
from zvans.web.render import render
from zvans.web.routes.api import my_state, my_stats_today

router = APIRouter(include_in_schema=False)


@router.get("/desktop")
def desktop(request: Request, user: SessionUser = Depends(require_role("agent", "supervisor")),
            session: Session = Depends(db_session)) -> Response:
    reasons = [{"code": r.code, "name": r.names.get(user.language) or r.names.get("en")
                or r.code} for r in catalog.list_pause_reasons(session, user.org_id)
               if r.active]
    codes = [{"id": c.id, "code": c.code, "name": c.name(user.language)}
             for c in catalog.list_wrapup_codes(session, user.org_id, active_only=True)]
    return render(request, "agent/desktop.html", {
        "active": "desktop", "title": "",
        "boot": {"state": my_state(request, session, user), "pause_reasons": reasons,
                 "wrapup_codes": codes, "stats": my_stats_today(session, user),
                 "user_id": user.id},
        "pause_reasons": reasons,
    })
