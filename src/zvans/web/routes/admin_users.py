"""Administration: users (seed 001's user administration), pages and JSON API.

Only administrators reach these routes. A user is soft-deleted: requests and statistics
keep pointing at them and the user name stays taken.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from zvans.app import Zvans
from zvans.errors import InvalidInput, ZvansError
from zvans.store import users
from zvans.store.models import ROLES, User
from zvans.web.deps import SessionUser, csrf_protect, db_session, get_zvans
from zvans.web.render import render
from zvans.web.routes.admin_forms import (
    admin_only,
    commit_and_reload,
    errors_of,
    flash,
    form_data,
    record,
    take_flashes,
    translator,
)

router = APIRouter(tags=["administration"], dependencies=[Depends(admin_only)])

LANGUAGES = ("lv", "en")
PROFILE_FIELDS = ("email", "role", "first_name", "surname", "phone", "language")
FORM_FIELDS = ("username", "password", *PROFILE_FIELDS, "extension", "ring_target")


def user_view(user: User) -> dict[str, Any]:
    profile = user.agent
    return {
        "id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "surname": user.surname,
        "phone": user.phone,
        "email": user.email,
        "role": user.role,
        "language": user.language,
        "extension": profile.extension if profile else "",
        "ring_target": profile.ring_target if profile else "",
    }


def create_user(session: Session, actor: SessionUser, data: dict[str, str]) -> User:
    user = users.add_user(session, actor.org_id, users.UserInput(
        username=data.get("username", ""),
        password=data.get("password", ""),
        email=data.get("email", ""),
        role=data.get("role", ""),
        first_name=data.get("first_name", ""),
        surname=data.get("surname", ""),
        phone=data.get("phone", ""),
        language=data.get("language") or "lv",
        extension=data.get("extension", ""),
    ))
    if data.get("ring_target"):
        users.set_ring_target(session, user, ring_target=data["ring_target"])
    record(session, actor, "user.add", f"user:{user.id}", username=user.username,
           role=user.role)
    return user


def update_user(session: Session, actor: SessionUser, user: User,
                data: dict[str, str]) -> list[str]:
    """Apply the given fields; an empty password leaves the password as it is."""
    if user.id == actor.id and data.get("role", user.role) != user.role:
        raise InvalidInput("role", "You cannot change your own role.")
    before = user_view(user)
    users.update_user(session, user, **{k: data[k] for k in PROFILE_FIELDS if k in data})
    if "extension" in data or "ring_target" in data:
        users.set_ring_target(session, user, extension=data.get("extension"),
                              ring_target=data.get("ring_target"))
    session.flush()
    changed = [k for k, v in user_view(user).items() if before[k] != v]
    if data.get("password"):
        users.set_password(session, user, data["password"])
        changed.append("password")
    if changed:
        record(session, actor, "user.update", f"user:{user.id}", username=user.username,
               fields=changed)
    return changed


def delete_user(session: Session, actor: SessionUser, user: User) -> None:
    if user.id == actor.id:
        raise InvalidInput("user", "You cannot delete your own account.")
    users.delete_user(session, user)
    record(session, actor, "user.delete", f"user:{user.id}", username=user.username)


# --- pages ---------------------------------------------------------------------------------

def _form_page(request: Request, user: User | None, values: dict[str, Any],
               errors: dict[str, str], status_code: int = 200) -> Response:
    return render(request, "admin/user_form.html", {
        "active": "admin", "edit_user": user, "values": values, "errors": errors,
        "roles": ROLES, "languages": LANGUAGES,
    }, status_code=status_code)


@router.get("/admin", include_in_schema=False)
def admin_home(request: Request, _user: SessionUser = Depends(admin_only)) -> Response:
    return render(request, "admin/index.html", {"active": "admin",
                                                  "flashes": take_flashes(request)})


@router.get("/admin/users", include_in_schema=False)
def users_page(request: Request, _user: SessionUser = Depends(admin_only),
               session: Session = Depends(db_session)) -> Response:
    rows = [user_view(u) for u in users.list_users(session, _user.org_id)]
    return render(request, "admin/users.html", {
        "active": "admin", "users": rows, "flashes": take_flashes(request)})


@router.get("/admin/users/new", include_in_schema=False)
def new_user_page(request: Request, _user: SessionUser = Depends(admin_only)
                  ) -> Response:
    return _form_page(request, None, {"role": "agent", "language": "lv"}, {})


@router.post("/admin/users/new", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def new_user_submit(request: Request, actor: SessionUser = Depends(admin_only),
                          session: Session = Depends(db_session),
                          z: Zvans = Depends(get_zvans)) -> Response:
    data = await form_data(request)
    _ = translator(request)
    try:
        user = create_user(session, actor, data)
        commit_and_reload(z, session, actor.org_id)
    except ZvansError as exc:
        session.rollback()
        values = {k: v for k, v in data.items() if k in FORM_FIELDS and k != "password"}
        return _form_page(request, None, values, errors_of(exc, _), status_code=422)
    flash(request, _("User %(name)s added.") % {"name": user.username})
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/users/{user_id}", include_in_schema=False)
def edit_user_page(user_id: int, request: Request,
                   actor: SessionUser = Depends(admin_only),
                   session: Session = Depends(db_session)) -> Response:
    user = users.get_user(session, actor.org_id, user_id)
    return _form_page(request, user, user_view(user), {})


@router.post("/admin/users/{user_id}", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def edit_user_submit(user_id: int, request: Request,
                           actor: SessionUser = Depends(admin_only),
                           session: Session = Depends(db_session),
                           z: Zvans = Depends(get_zvans)) -> Response:
    user = users.get_user(session, actor.org_id, user_id)
    data = await form_data(request)
    _ = translator(request)
    try:
        update_user(session, actor, user, data)
        commit_and_reload(z, session, actor.org_id)
    except ZvansError as exc:
        session.rollback()
        user = users.get_user(session, actor.org_id, user_id)
        values = {**user_view(user),
                  **{k: v for k, v in data.items() if k in FORM_FIELDS and k != "password"}}
        return _form_page(request, user, values, errors_of(exc, _), status_code=422)
    flash(request, _("User %(name)s saved.") % {"name": user.username})
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}/delete", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
def delete_user_submit(user_id: int, request: Request,
                       actor: SessionUser = Depends(admin_only),
                       session: Session = Depends(db_session),
                       z: Zvans = Depends(get_zvans)) -> Response:
    user = users.get_user(session, actor.org_id, user_id)
    _ = translator(request)
    try:
        delete_user(session, actor, user)
        commit_and_reload(z, session, actor.org_id)
    except ZvansError as exc:
        session.rollback()
        flash(request, _(exc.message), "error")
        return RedirectResponse("/admin/users", status_code=303)
    flash(request, _("User %(name)s deleted.") % {"name": user.username})
    return RedirectResponse("/admin/users", status_code=303)


# --- JSON API ------------------------------------------------------------------------------

class UserCreate(BaseModel):
    username: str
    password: str
    email: str
    role: str
    first_name: str = ""
    surname: str = ""
    phone: str = ""
    language: str = "lv"
    extension: str = ""
    ring_target: str = ""


class UserUpdate(BaseModel):
    password: str | None = None
    email: str | None = None
    role: str | None = None
    first_name: str | None = None
    surname: str | None = None
    phone: str | None = None
    language: str | None = None
    extension: str | None = None
    ring_target: str | None = None


@router.get("/api/v1/admin/users")
def api_list_users(actor: SessionUser = Depends(admin_only),
                   session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    return [user_view(u) for u in users.list_users(session, actor.org_id)]


@router.post("/api/v1/admin/users", status_code=201, dependencies=[Depends(csrf_protect)])
def api_add_user(body: UserCreate, actor: SessionUser = Depends(admin_only),
                 session: Session = Depends(db_session),
                 z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    user = create_user(session, actor, body.model_dump())
    commit_and_reload(z, session, actor.org_id)
    return user_view(user)


@router.get("/api/v1/admin/users/{user_id}")
def api_get_user(user_id: int, actor: SessionUser = Depends(admin_only),
                 session: Session = Depends(db_session)) -> dict[str, Any]:
    return user_view(users.get_user(session, actor.org_id, user_id))


@router.patch("/api/v1/admin/users/{user_id}", dependencies=[Depends(csrf_protect)])
def api_update_user(user_id: int, body: UserUpdate,
                    actor: SessionUser = Depends(admin_only),
                    session: Session = Depends(db_session),
                    z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    user = users.get_user(session, actor.org_id, user_id)
    update_user(session, actor, user, body.model_dump(exclude_none=True))
    commit_and_reload(z, session, actor.org_id)
    return user_view(user)


@router.delete("/api/v1/admin/users/{user_id}", status_code=204,
               dependencies=[Depends(csrf_protect)])
def api_delete_user(user_id: int, actor: SessionUser = Depends(admin_only),
                    session: Session = Depends(db_session),
                    z: Zvans = Depends(get_zvans)) -> Response:
    delete_user(session, actor, users.get_user(session, actor.org_id, user_id))
    commit_and_reload(z, session, actor.org_id)
    return Response(status_code=204)
