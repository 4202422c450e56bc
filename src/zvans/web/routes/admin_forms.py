"""Shared helpers of the administration and supervisor routes (no ``router`` here).

Every configuration change follows one path: validate through the store services, write an
``AuditEntry`` in the same transaction, commit, then ``cc.reload(org_id)`` so the running ACD
uses the new configuration at once. A ``ZvansError`` rolls everything back, and the form is
shown again with the message next to the field it names.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from zvans.app import Zvans
from zvans.errors import ZvansError
from zvans.store.audit import audit
from zvans.web.deps import SessionUser, require_role

log = logging.getLogger("zvans.web.admin")

#: Field key used for an error that belongs to the whole form rather than one field.
FORM = "_form"

ADMIN = ("admin",)
SUPERVISORS = ("supervisor", "admin")

#: Module-level so that FastAPI runs each check once per request (dependency cache).
admin_only = require_role(*ADMIN)
supervisor_only = require_role(*SUPERVISORS)


async def form_data(request: Request) -> dict[str, str]:
    """The submitted form as plain strings (the last value wins; files are ignored)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def form_lists(request: Request, key: str) -> list[str]:
    form = await request.form()
    return [v for v in form.getlist(key) if isinstance(v, str)]


def field_of(exc: ZvansError) -> str:
    field = exc.details.get("field")
    return field if isinstance(field, str) and field else FORM


def errors_of(exc: ZvansError, translate: Any = None) -> dict[str, str]:
    message = translate(exc.message) if translate else exc.message
    return {field_of(exc): message}


def record(session: Session, user: SessionUser, action: str, target: str = "",
           **details: Any) -> None:
    """The audit entry of a change made by ``user``, in the change's own transaction."""
    audit(session, user.org_id, user.id, action, target, **details)


def reload_runtime(z: Zvans, org_id: int) -> None:
    """Make the running ACD read the organisation's configuration again."""
    cc = z.services.get("cc")
    if cc is None:
        log.warning("no contact-center runtime attached; configuration reload skipped")
        return
    cc.reload(org_id)


def commit_and_reload(z: Zvans, session: Session, org_id: int) -> None:
    session.commit()
    reload_runtime(z, org_id)


def translator(request: Request) -> Any:
    """The gettext function in the signed-in user's language (for flash messages)."""
    from zvans.web import i18n
    from zvans.web.deps import optional_user
    from zvans.web.render import language_of

    return i18n.gettext_for(language_of(request, optional_user(request))).gettext


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A one-shot message shown on the next page this session renders (see ``take_flashes``)."""
    items = list(request.session.get("admin_flash", []))
    items.append({"text": text, "kind": kind})
    request.session["admin_flash"] = items[-5:]


def take_flashes(request: Request) -> list[dict[str, str]]:
    items = request.session.pop("admin_flash", [])
    return [i for i in items if isinstance(i, dict)]


def optional_int(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        return None
