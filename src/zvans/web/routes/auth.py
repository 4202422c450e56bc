"""Sign in and out, forgotten passwords, the user's own settings (language, password)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from zvans.errors import InvalidInput
from zvans.security.passwords import verify_password
from zvans.store import users, validate
from zvans.store.models import User
from zvans.web import i18n
from zvans.web.deps import (
    SESSION_AUTH_VERSION,
    SESSION_USER,
    SessionUser,
    csrf_protect,
    current_user,
    db_session,
    get_zvans,
    optional_user,
    password_fingerprint,
)
from zvans.web.forms import form_fields, safe_next
from zvans.web.mail import send_mail
from zvans.web.render import flash, render, translator
from zvans.web.security import (
    AddressLimiter,
    LoginOutcome,
    check_login,
    make_reset_token,
    read_reset_token,
)

log = logging.getLogger("zvans.web.auth")
router = APIRouter(include_in_schema=False)


def limiter_of(request: Request) -> AddressLimiter:
    """One limiter per process (kept with the other services)."""
    services = get_zvans(request).services
    found = services.get("web_login_limiter")
    if not isinstance(found, AddressLimiter):
        found = AddressLimiter()
        services["web_login_limiter"] = found
    return found


def home_for(role: str) -> str:
    return {"admin": "/admin", "supervisor": "/supervisor/wallboard"}.get(role, "/desktop")


def sign_in(request: Request, user: User) -> None:
    request.session.clear()
    request.session[SESSION_USER] = user.id
    request.session[SESSION_AUTH_VERSION] = password_fingerprint(user.password_hash)


@router.get("/")
def index(request: Request) -> Response:
    user = optional_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_for(user.role), status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    user = optional_user(request)
    if user is not None:
        return RedirectResponse(safe_next(next, home_for(user.role)), status_code=303)
    return render(request, "auth/login.html", {"next": safe_next(next, ""), "username": "",
                                                "errors": {}})


@router.post("/login", dependencies=[Depends(csrf_protect)])
async def login(request: Request, session: Session = Depends(db_session)) -> Response:
    fields = await form_fields(request)
    username = fields.get("username", "").strip()
    password = fields.get("password", "")
    nxt = safe_next(fields.get("next"), "")
    _ = translator(request)
    ctx: dict[str, Any] = {"next": nxt, "username": username, "errors": {}}
    if not username:
        ctx["errors"]["username"] = _("User name is required.")
    if not password:
        ctx["errors"]["password"] = _("Password is required.")
    if ctx["errors"]:
        return render(request, "auth/login.html", ctx, status_code=422)
    address = request.client.host if request.client else "?"
    limiter = limiter_of(request)
    if limiter.blocked(address):
        ctx["errors"]["_form"] = _("Too many sign-in attempts from this address. "
                                   "Wait a few minutes and try again.")
        return render(request, "auth/login.html", ctx, status_code=429)
    outcome, user = check_login(session, username, password)
    session.commit()
    if outcome != LoginOutcome.OK:
        limiter.failed(address)
    if outcome == LoginOutcome.LOCKED and user is not None:
        log.warning("login locked for %s", username)
        ctx["errors"]["_form"] = _(
            "Too many wrong passwords: this account is locked for a while. "
            "Try again later or set a new password with \"Forgot password?\".")
        return render(request, "auth/login.html", ctx, status_code=429)
    if outcome != LoginOutcome.OK or user is None:
        ctx["errors"]["_form"] = _("Wrong user name or password.")
        return render(request, "auth/login.html", ctx, status_code=401)
    sign_in(request, user)
    return RedirectResponse(nxt or home_for(user.role), status_code=303)


@router.post("/logout", dependencies=[Depends(csrf_protect)])
def logout(request: Request) -> Response:
    user = optional_user(request)
    if user is not None:
        cc = get_zvans(request).services.get("cc")
        if cc is not None and user.role in ("agent", "supervisor"):
            try:
                cc.agent_logout(user.org_id, user.id)
            except Exception as exc:  # already logged out of the queues is fine
                log.debug("agent_logout on sign-out: %s", exc)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.post("/language", dependencies=[Depends(csrf_protect)])
async def choose_language(request: Request) -> Response:
    """Language before signing in (kept in the session)."""
    fields = await form_fields(request)
    language = fields.get("language", "")
    if language in i18n.LANGUAGES:
        request.session["lang"] = language
    return RedirectResponse(safe_next(fields.get("next"), "/login"), status_code=303)


@router.get("/forgot-password")
def forgot_page(request: Request) -> Response:
    return render(request, "auth/forgot.html", {"sent": False, "login": "", "errors": {}})


@router.post("/forgot-password", dependencies=[Depends(csrf_protect)])
async def forgot(request: Request, session: Session = Depends(db_session)) -> Response:
    fields = await form_fields(request)
    login_value = fields.get("login", "").strip()
    _ = translator(request)
    if not login_value:
        return render(request, "auth/forgot.html", {
            "sent": False, "login": "",
            "errors": {"login": _("Enter your user name or e-mail address.")}},
            status_code=422)
    user = users.find_user(session, login_value)
    if user is None and "@" in login_value:
        user = session.query(User).filter(User.email == login_value,
                                          User.deleted_at.is_(None)).first()
    if user is not None:
        z = get_zvans(request)
        token = make_reset_token(z.settings.session_secret(), user)
        link = f"{str(request.base_url).rstrip('/')}/reset-password?token={token}"
        tr = i18n.gettext_for(user.language).gettext
        body = tr("Hello,\n\nto set a new Zvans password for the user {username}, open this "
                  "link within one hour:\n\n{link}\n\nIf you did not ask for it, ignore this "
                  "message.\n").format(username=user.username, link=link)
        send_mail(z.settings, user.email, tr("Zvans: set a new password"), body)
        log.info("password reset requested for user %s", user.username)
    return render(request, "auth/forgot.html", {"sent": True, "login": "", "errors": {}})


@router.get("/reset-password")
def reset_page(request: Request, token: str = "",
               session: Session = Depends(db_session)) -> Response:
    user = read_reset_token(session, get_zvans(request).settings.session_secret(), token)
    return render(request, "auth/reset.html", {"valid": user is not None, "token": token,
                                               "errors": {}})


@router.post("/reset-password", dependencies=[Depends(csrf_protect)])
async def reset(request: Request, session: Session = Depends(db_session)) -> Response:
    fields = await form_fields(request)
    token = fields.get("token", "")
    user = read_reset_token(session, get_zvans(request).settings.session_secret(), token)
    if user is None:
        return render(request, "auth/reset.html", {"valid": False, "token": "", "errors": {}},
                      status_code=400)
    errors = _check_new_password(request, fields)
    if errors:
        return render(request, "auth/reset.html", {"valid": True, "token": token,
                                                   "errors": errors}, status_code=422)
    users.set_password(session, user, fields["password"])
    session.commit()
    flash(request, translator(request)("Your password has been changed. Sign in with it."))
    return RedirectResponse("/login", status_code=303)


def _check_new_password(request: Request, fields: dict[str, str]) -> dict[str, str]:
    _ = translator(request)
    password = fields.get("password", "")
    try:
        validate.password(password)
    except InvalidInput as exc:
        return {"password": _(exc.message)}
    if password != fields.get("password2", ""):
        return {"password2": _("The passwords do not match.")}
    return {}


@router.get("/settings")
def settings_page(request: Request, user: SessionUser = Depends(current_user)) -> Response:
    return render(request, "auth/settings.html", {"errors": {}, "active": "settings"})


@router.post("/settings/language", dependencies=[Depends(csrf_protect)])
async def settings_language(request: Request, user: SessionUser = Depends(current_user),
                            session: Session = Depends(db_session)) -> Response:
    fields = await form_fields(request)
    language = fields.get("language", "")
    if language not in i18n.LANGUAGES:
        return render(request, "auth/settings.html", {
            "errors": {"language": translator(request)("Choose a language from the list.")},
            "active": "settings"}, status_code=422)
    row = users.get_user(session, user.org_id, user.id)
    row.language = language
    session.commit()
    request.state.user = SessionUser(user.id, user.org_id, user.username, user.role, language,
                                     user.display_name)
    flash(request, i18n.gettext_for(language).gettext("Saved."))
    return RedirectResponse("/settings", status_code=303)


@router.post("/settings/password", dependencies=[Depends(csrf_protect)])
async def settings_password(request: Request, user: SessionUser = Depends(current_user),
                            session: Session = Depends(db_session)) -> Response:
    fields = await form_fields(request)
    row = users.get_user(session, user.org_id, user.id)
    errors: dict[str, str] = {}
    if not verify_password(row.password_hash, fields.get("current", "")):
        errors["current"] = translator(request)("The current password is wrong.")
    else:
        errors = _check_new_password(request, fields)
    if errors:
        return render(request, "auth/settings.html", {"errors": errors, "active": "settings"},
                      status_code=422)
    users.set_password(session, row, fields["password"])
    row.failed_logins = 0
    session.commit()
    sign_in(request, row)
    flash(request, translator(request)("Your password has been changed."))
    return RedirectResponse("/settings", status_code=303)

