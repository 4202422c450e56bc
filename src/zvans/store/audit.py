"""The audit trail: configuration changes and supervisor actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from zvans.store.models import AuditEntry


def audit(
    session: Session,
    org_id: int,
    user_id: int | None,
    action: str,
    target: str = "",
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(org_id=org_id, user_id=user_id, action=action, target=target,
                       details=details)
    session.add(entry)
    return entry
