"""Administration: wrap-up codes (the ordered, multilingual list of request topics) and
pause reasons (the ordered list an agent picks from when pausing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from zvans.app import Zvans
from zvans.errors import ZvansError
from zvans.store import catalog, validate
from zvans.store.models import PauseReason, WrapupCode
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

#: Languages a name can be given in on the forms (the UI languages).
NAME_LANGUAGES = ("lv", "en")


def item_view(row: WrapupCode | PauseReason) -> dict[str, Any]:
    return {"id": row.id, "position": row.position, "code": row.code,
            "names": dict(row.names), "active": row.active}


def _names_from(data: dict[str, str]) -> dict[str, str]:
    return {lang: data.get(f"name_{lang}", "") for lang in NAME_LANGUAGES}


def _position_of(data: dict[str, Any]) -> int | None:
    """The position field: empty means "after the last one"."""
    raw = data.get("position")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return validate.int_range(raw, "position", 0, 1_000_000)


def _form_values(row: WrapupCode | PauseReason | None, data: dict[str, str] | None
                 ) -> dict[str, Any]:
    if data is not None:
        return {**data, "active": bool(data.get("active"))}
    if row is None:
        return {"active": True}
    values: dict[str, Any] = {"code": row.code, "position": row.position, "active": row.active}
    for lang in NAME_LANGUAGES:
        values[f"name_{lang}"] = row.names.get(lang, "")
    return values


# --- service steps shared by the pages and the API ------------------------------------------

def save_wrapup(session: Session, actor: SessionUser, row: WrapupCode | None,
                data: dict[str, Any]) -> WrapupCode:
    names = data["names"] if "names" in data else _names_from(data)
    position = _position_of(data)
    active = bool(data.get("active", True))
    if row is None:
        row = catalog.add_wrapup_code(session, actor.org_id, str(data.get("code", "")), names,
                                      position=position, active=active)
        record(session, actor, "wrapup_code.add", f"wrapup_code:{row.id}", **item_view(row))
        return row
    before = item_view(row)
    catalog.update_wrapup_code(session, row, code=data.get("code", row.code), names=names,
                               position=position, active=active)
    session.flush()
    record(session, actor, "wrapup_code.update", f"wrapup_code:{row.id}", before=before,
           after=item_view(row))
    return row


def remove_wrapup(session: Session, actor: SessionUser, row: WrapupCode) -> str:
    view = item_view(row)
    outcome = catalog.delete_wrapup_code(session, row)
    record(session, actor, f"wrapup_code.{'delete' if outcome == 'deleted' else 'deactivate'}",
           f"wrapup_code:{view['id']}", **view)
    return outcome


def save_pause_reason(session: Session, actor: SessionUser, row: PauseReason | None,
                      data: dict[str, Any]) -> PauseReason:
    names = data["names"] if "names" in data else _names_from(data)
    position = _position_of(data)
    active = bool(data.get("active", True))
    if row is None:
        row = catalog.add_pause_reason(session, actor.org_id, str(data.get("code", "")), names,
                                       position=position)
        row.active = active
        record(session, actor, "pause_reason.add", f"pause_reason:{row.id}", **item_view(row))
        return row
    before = item_view(row)
    catalog.update_pause_reason(session, row, code=data.get("code", row.code), names=names,
                                position=position, active=active)
    session.flush()
    record(session, actor, "pause_reason.update", f"pause_reason:{row.id}", before=before,
           after=item_view(row))
    return row


# --- the pages (wrap-up codes and pause reasons work alike) ---------------------------------

@dataclass(frozen=True)
class _Pages:
    kind: str  # the item_form template's name for it
    base: str
    get: Callable[[Session, int, int], WrapupCode | PauseReason]
    save: Callable[[Session, SessionUser, Any, dict[str, Any]], WrapupCode | PauseReason]
    saved: Callable[[Callable[[str], str], str], str]  # the flash, in the user's language

    def form(self, request: Request, row: WrapupCode | PauseReason | None,
             values: dict[str, Any], errors: dict[str, str], status_code: int = 200
             ) -> Response:
        return render(request, "admin/item_form.html", {
            "active": "admin", "section": self.kind, "row": row, "values": values,
            "errors": errors, "kind": self.kind, "base": self.base,
            "name_languages": NAME_LANGUAGES, "flashes": take_flashes(request),
        }, status_code=status_code)

    def listing(self, request: Request, rows: list[Any]) -> Response:
        return render(request, "admin/items.html", {
            "active": "admin", "section": self.kind, "kind": self.kind, "rows": rows,
            "base": self.base, "name_languages": NAME_LANGUAGES,
            "flashes": take_flashes(request)})

    def edit(self, request: Request, actor: SessionUser, session: Session,
             item_id: int) -> Response:
        row = self.get(session, actor.org_id, item_id)
        return self.form(request, row, _form_values(row, None), {})

    async def submit(self, request: Request, actor: SessionUser, session: Session, z: Zvans,
                     item_id: int | None) -> Response:
        row = self.get(session, actor.org_id, item_id) if item_id else None
        data = await form_data(request)
        data["active"] = data.get("active", "")  # an unticked checkbox is not sent at all
        _ = translator(request)
        try:
            saved = self.save(session, actor, row, data)
            commit_and_reload(z, session, actor.org_id)
        except ZvansError as exc:
            session.rollback()
            if item_id:
                row = self.get(session, actor.org_id, item_id)
            return self.form(request, row, _form_values(row, data), errors_of(exc, _),
                             status_code=422)
        flash(request, self.saved(_, saved.code))
        if data.get("then") == "another":
            return RedirectResponse(f"{self.base}/new", status_code=303)
        return RedirectResponse(self.base, status_code=303)


WRAPUP_PAGES = _Pages(
    "wrapup", "/admin/wrapup-codes", catalog.get_wrapup_code, save_wrapup,
    lambda _, code: _("Wrap-up code %(code)s saved.") % {"code": code})
PAUSE_PAGES = _Pages(
    "pause", "/admin/pause-reasons", catalog.get_pause_reason, save_pause_reason,
    lambda _, code: _("Pause reason %(code)s saved.") % {"code": code})


@router.get("/admin/wrapup-codes", include_in_schema=False)
def wrapup_list(request: Request, actor: SessionUser = Depends(admin_only),
                session: Session = Depends(db_session)) -> Response:
    return WRAPUP_PAGES.listing(request, catalog.list_wrapup_codes(session, actor.org_id))


@router.get("/admin/wrapup-codes/new", include_in_schema=False)
def wrapup_new(request: Request) -> Response:
    return WRAPUP_PAGES.form(request, None, _form_values(None, None), {})


@router.post("/admin/wrapup-codes/new", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def wrapup_new_submit(request: Request, actor: SessionUser = Depends(admin_only),
                            session: Session = Depends(db_session),
                            z: Zvans = Depends(get_zvans)) -> Response:
    return await WRAPUP_PAGES.submit(request, actor, session, z, None)


@router.get("/admin/wrapup-codes/{code_id}", include_in_schema=False)
def wrapup_edit(code_id: int, request: Request, actor: SessionUser = Depends(admin_only),
                session: Session = Depends(db_session)) -> Response:
    return WRAPUP_PAGES.edit(request, actor, session, code_id)


@router.post("/admin/wrapup-codes/{code_id}", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def wrapup_edit_submit(code_id: int, request: Request,
                             actor: SessionUser = Depends(admin_only),
                             session: Session = Depends(db_session),
                             z: Zvans = Depends(get_zvans)) -> Response:
    return await WRAPUP_PAGES.submit(request, actor, session, z, code_id)


@router.post("/admin/wrapup-codes/{code_id}/delete", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
def wrapup_delete(code_id: int, request: Request, actor: SessionUser = Depends(admin_only),
                  session: Session = Depends(db_session),
                  z: Zvans = Depends(get_zvans)) -> Response:
    row = catalog.get_wrapup_code(session, actor.org_id, code_id)
    code = row.code
    outcome = remove_wrapup(session, actor, row)
    commit_and_reload(z, session, actor.org_id)
    _ = translator(request)
    if outcome == "deleted":
        flash(request, _("Wrap-up code %(code)s deleted.") % {"code": code})
    else:
        flash(request, _("Wrap-up code %(code)s is used by saved requests, so it was "
                         "deactivated instead of deleted.") % {"code": code})
    return RedirectResponse("/admin/wrapup-codes", status_code=303)


@router.get("/admin/pause-reasons", include_in_schema=False)
def pause_list(request: Request, actor: SessionUser = Depends(admin_only),
               session: Session = Depends(db_session)) -> Response:
    return PAUSE_PAGES.listing(request, catalog.list_pause_reasons(session, actor.org_id))


@router.get("/admin/pause-reasons/new", include_in_schema=False)
def pause_new(request: Request) -> Response:
    return PAUSE_PAGES.form(request, None, _form_values(None, None), {})


@router.post("/admin/pause-reasons/new", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def pause_new_submit(request: Request, actor: SessionUser = Depends(admin_only),
                           session: Session = Depends(db_session),
                           z: Zvans = Depends(get_zvans)) -> Response:
    return await PAUSE_PAGES.submit(request, actor, session, z, None)


@router.get("/admin/pause-reasons/{reason_id}", include_in_schema=False)
def pause_edit(reason_id: int, request: Request, actor: SessionUser = Depends(admin_only),
               session: Session = Depends(db_session)) -> Response:
    return PAUSE_PAGES.edit(request, actor, session, reason_id)


@router.post("/admin/pause-reasons/{reason_id}", include_in_schema=False,
             dependencies=[Depends(csrf_protect)])
async def pause_edit_submit(reason_id: int, request: Request,
                            actor: SessionUser = Depends(admin_only),
                            session: Session = Depends(db_session),
                            z: Zvans = Depends(get_zvans)) -> Response:
    return await PAUSE_PAGES.submit(request, actor, session, z, reason_id)


# --- JSON API ------------------------------------------------------------------------------

class ItemIn(BaseModel):
    code: str | None = None
    names: dict[str, str] | None = None
    position: int | None = None
    active: bool | None = None


def _api_data(body: ItemIn, row: WrapupCode | PauseReason | None) -> dict[str, Any]:
    data = body.model_dump(exclude_none=True)
    if row is not None:
        data.setdefault("names", dict(row.names))
        data.setdefault("active", row.active)
    return data


@router.get("/api/v1/admin/wrapup-codes")
def api_wrapup_list(actor: SessionUser = Depends(admin_only),
                    session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    return [item_view(r) for r in catalog.list_wrapup_codes(session, actor.org_id)]


@router.post("/api/v1/admin/wrapup-codes", status_code=201,
             dependencies=[Depends(csrf_protect)])
def api_wrapup_add(body: ItemIn, actor: SessionUser = Depends(admin_only),
                   session: Session = Depends(db_session),
                   z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    data = _api_data(body, None)
    data.setdefault("names", {})
    row = save_wrapup(session, actor, None, data)
    commit_and_reload(z, session, actor.org_id)
    return item_view(row)


@router.patch("/api/v1/admin/wrapup-codes/{code_id}", dependencies=[Depends(csrf_protect)])
def api_wrapup_update(code_id: int, body: ItemIn, actor: SessionUser = Depends(admin_only),
                      session: Session = Depends(db_session),
                      z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    row = catalog.get_wrapup_code(session, actor.org_id, code_id)
    save_wrapup(session, actor, row, _api_data(body, row))
    commit_and_reload(z, session, actor.org_id)
    return item_view(row)


@router.delete("/api/v1/admin/wrapup-codes/{code_id}", dependencies=[Depends(csrf_protect)])
def api_wrapup_delete(code_id: int, actor: SessionUser = Depends(admin_only),
                      session: Session = Depends(db_session),
                      z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    row = catalog.get_wrapup_code(session, actor.org_id, code_id)
    outcome = remove_wrapup(session, actor, row)
    commit_and_reload(z, session, actor.org_id)
    return {"id": code_id, "outcome": outcome}


@router.get("/api/v1/admin/pause-reasons")
def api_pause_list(actor: SessionUser = Depends(admin_only),
                   session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    return [item_view(r) for r in catalog.list_pause_reasons(session, actor.org_id)]


@router.post("/api/v1/admin/pause-reasons", status_code=201,
             dependencies=[Depends(csrf_protect)])
def api_pause_add(body: ItemIn, actor: SessionUser = Depends(admin_only),
                  session: Session = Depends(db_session),
                  z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    data = _api_data(body, None)
    data.setdefault("names", {})
    row = save_pause_reason(session, actor, None, data)
    commit_and_reload(z, session, actor.org_id)
    return item_view(row)


@router.patch("/api/v1/admin/pause-reasons/{reason_id}", dependencies=[Depends(csrf_protect)])
def api_pause_update(reason_id: int, body: ItemIn, actor: SessionUser = Depends(admin_only),
                     session: Session = Depends(db_session),
                     z: Zvans = Depends(get_zvans)) -> dict[str, Any]:
    row = catalog.get_pause_reason(session, actor.org_id, reason_id)
    save_pause_reason(session, actor, row, _api_data(body, row))
    commit_and_reload(z, session, actor.org_id)
    return item_view(row)
