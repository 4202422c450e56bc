"""FastAPI dependencies shared by every route module: who is asking, may they, which database.

Conventions (docs/decisions/0005-web.md):
- ``current_user`` loads the signed-in user from the session cookie on every request (a
  deleted or locked user is signed out at once). Pages without a session redirect to
  /login; /api and /ws answer 401 JSON.
- ``require_role("admin")`` → 403 for anyone else.
- ``csrf_protect`` on every state-changing route (form field ``csrf_token`` or header
  ``X-CSRF-Token`` must equal the session's token).
- ``db_session`` gives a Session per request; routes call ``session.commit()`` themselves,
  anything not committed is rolled back when the request ends.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from zvans.app import Zvans
from zvans.errors import Forbidden, ZvansError
from zvans.store.models import User
from zvans.store.types import utcnow

SESSION_USER = "uid"
SESSION_CSRF = "csrf"
SESSION_AUTH_VERSION = "pwv"


@dataclass(frozen=True)
class SessionUser:
    id: int
    org_id: int
    username: str
    role: str
    language: str
    display_name: str


class LoginRequired(ZvansError):
    """No (valid) session: pages redirect to /login, the API answers 401."""

    code = "login-required"
    status = 401


class CsrfFailed(ZvansError):
    code = "csrf-failed"
    status = 403


def get_zvans(request: Request) -> Zvans:
    z: Zvans = request.app.state.zvans
    return z


def db_session(request: Request) -> Iterator[Session]:
    """One Session per request; commit explicitly, the rest is rolled back at the end."""
    session = get_zvans(request).sessions()
    try:
        yield session
    finally:
        session.close()


def password_fingerprint(password_hash: str) -> str:
    """A short tag of the password hash kept in the session: a password change signs out."""
    return password_hash[-12:]


def load_session_user(z: Zvans, session_data: dict[str, Any]) -> SessionUser | None:
    uid = session_data.get(SESSION_USER)
    if not isinstance(uid, int):
        return None
    with z.sessions() as s:
        user = s.get(User, uid)
        if user is None or user.deleted_at is not None:
            return None
        if user.locked_until is not None and user.locked_until > utcnow():
            return None
        if session_data.get(SESSION_AUTH_VERSION) != password_fingerprint(user.password_hash):
            return None
        return SessionUser(id=user.id, org_id=user.org_id, username=user.username,
                           role=user.role, language=user.language,
                           display_name=user.display_name)


def current_user(request: Request) -> SessionUser:
    cached = getattr(request.state, "user", None)
    if isinstance(cached, SessionUser):
        return cached
    user = load_session_user(get_zvans(request), request.session)
    if user is None:
        request.session.pop(SESSION_USER, None)
        raise LoginRequired("Please sign in.")
    request.state.user = user
    return user


def optional_user(request: Request) -> SessionUser | None:
    try:
        return current_user(request)
    except LoginRequired:
        return None


def require_role(*roles: str) -> Callable[..., SessionUser]:
    """A dependency that passes the user on if their role is one of ``roles``, else 403."""

    def check(user: SessionUser = Depends(current_user)) -> SessionUser:
        if user.role not in roles:
            raise Forbidden("You do not have access to this page.", code="forbidden",
                            role=user.role)
        return user

    return check


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


async def csrf_protect(request: Request) -> None:
    expected = request.session.get(SESSION_CSRF)
    given = request.headers.get("x-csrf-token")
    if not given:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise CsrfFailed("The form has expired or did not come from this site. "
                         "Reload the page and try again.")
