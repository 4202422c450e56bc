"""Administration: the audit log page — who changed what, and when (filter by user and
action, newest first, paginated)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zvans.store.models import AuditEntry, User
from zvans.web.deps import SessionUser, db_session
from zvans.web.render import render
from zvans.web.routes.admin_forms import admin_only

router = APIRouter(tags=["administration"], dependencies=[Depends(admin_only)])

PAGE_SIZE = 50


def audit_page(session: Session, org_id: int, *, user_id: int | None = None,
               action: str = "", page: int = 1, page_size: int = PAGE_SIZE
               ) -> tuple[list[dict[str, Any]], int]:
    """One page of the organisation's audit entries, newest first, and the total count.

    ``action`` matches exactly or as a prefix ending at a dot ("user" finds "user.add")."""
    where = [AuditEntry.org_id == org_id]
    if user_id is not None:
        where.append(AuditEntry.user_id == user_id)
    if action:
        where.append((AuditEntry.action == action) | AuditEntry.action.startswith(
            action.rstrip(".") + ".", autoescape=True))
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    rows = session.execute(
        select(AuditEntry, User.username)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .where(*where)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(page_size).offset((max(page, 1) - 1) * page_size)
    ).all()
    return [
        {"id": e.id, "at": e.at.isoformat(), "user_id": e.user_id, "username": name or "",
         "action": e.action, "target": e.target, "details": e.details}
        for e, name in rows
    ], int(total)


def audit_actions(session: Session, org_id: int) -> list[str]:
    return list(session.scalars(
        select(AuditEntry.action).where(AuditEntry.org_id == org_id).distinct()
        .order_by(AuditEntry.action)))


def audit_users(session: Session, org_id: int) -> list[tuple[int, str]]:
    """Everyone who appears in the log, deleted users included (their entries stay)."""
    rows = session.execute(
        select(User.id, User.username).where(
            User.org_id == org_id,
            User.id.in_(select(AuditEntry.user_id).where(AuditEntry.org_id == org_id)))
        .order_by(User.username)).all()
    return [(uid, name) for uid, name in rows]


def _user_filter(raw: str | None) -> int | None:
    return int(raw) if raw and raw.strip().isdigit() else None


@router.get("/admin/audit", include_in_schema=False)
def audit_view(request: Request, user: str | None = None, action: str = "",
               page: int = Query(1, ge=1, le=100_000),
               actor: SessionUser = Depends(admin_only),
               session: Session = Depends(db_session)) -> Response:
    user_id = _user_filter(user)
    entries, total = audit_page(session, actor.org_id, user_id=user_id, action=action,
                                page=page)
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return render(request, "admin/audit.html", {
        "active": "admin", "section": "audit", "entries": entries, "total": total,
        "page": page, "pages": pages, "user_id": user_id, "action": action,
        "actions": audit_actions(session, actor.org_id),
        "users": audit_users(session, actor.org_id),
    })


@router.get("/api/v1/admin/audit")
def api_audit(user_id: int | None = None, action: str = "",
              page: int = Query(1, ge=1, le=100_000),
              page_size: int = Query(PAGE_SIZE, ge=1, le=500),
              actor: SessionUser = Depends(admin_only),
              session: Session = Depends(db_session)) -> dict[str, Any]:
    entries, total = audit_page(session, actor.org_id, user_id=user_id, action=action,
                                page=page, page_size=page_size)
    return {"entries": entries, "total": total, "page": page, "page_size": page_size}
