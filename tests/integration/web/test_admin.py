"""Administration pages and API through the real app (SQLite and PostgreSQL): users,
wrap-up codes, queues, skill matrix, pause reasons, audit log. Bad input shows a message next
to the field and saves nothing; every change is audited and live in the ACD at once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.web.conftest import Web, csrf_of, login
from zvans.store import catalog, orgs, users
from zvans.store.audit import audit
from zvans.store.models import AuditEntry, Did, Queue, Request, SkillLevel, User, WrapupCode

#: Field-by-field validation cases run on SQLite only: the checks do not depend on the
#: database; the rollback of a refused form is covered on both engines by the other tests.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def admin(web: Web) -> tuple[TestClient, str]:
    """The demo admin, signed in, with the interface in English (the messages asserted)."""
    c = web.client()
    tok = login(c, "admin", "admin-demo-1")
    r = c.post("/settings/language", data={"language": "en", "csrf_token": tok},
               follow_redirects=False)
    assert r.status_code == 303
    return c, tok


def audit_count(web: Web, action: str | None = None) -> int:
    with web.z.sessions() as s:
        q = select(func.count()).select_from(AuditEntry)
        if action:
            q = q.where(AuditEntry.action == action)
        return s.scalar(q) or 0


def field_error(html: str, field: str) -> str:
    """The text of the error shown next to ``field`` (empty if none)."""
    m = re.search(rf'id="err-{re.escape(field)}"[^>]*>([^<]*)<', html)
    return m.group(1) if m else ""


def cc(web: Web) -> Any:
    return web.z.services["cc"]


# --- users ---------------------------------------------------------------------------------

NEW_USER = {"username": "jana.liepa@lad", "password": "secret-pass-1", "email": "jana@x.invalid",
            "role": "agent", "first_name": "Jana", "surname": "Liepa", "phone": "+37129990000",
            "language": "en", "extension": "109", "ring_target": ""}


def test_admin_adds_a_user_who_can_then_sign_in(web: Web) -> None:
    c, tok = admin(web)
    assert "Add user" in c.get("/admin/users/new").text or c.get("/admin/users/new").status_code \
        == 200
    r = c.post("/admin/users/new", data={**NEW_USER, "csrf_token": tok}, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    page = c.get("/admin/users").text
    assert "jana.liepa@lad" in page and "jana@x.invalid" in page and "+37129990000" in page
    with web.z.sessions() as s:
        user = s.scalar(select(User).where(User.username == "jana.liepa@lad"))
        assert user is not None and user.role == "agent" and user.agent is not None
        assert user.agent.extension == "109"
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "user.add"))
        assert entry is not None and entry.target == f"user:{user.id}"
        assert entry.user_id == web.user_id("admin")
        assert "password" not in str(entry.details)
    # the runtime knows the new agent at once: it can log in to the ACD
    cc(web).agent_login(web.org_id(), user.id)
    assert cc(web).agent_view(web.org_id(), user.id)["availability"] != "logged_out"
    other = web.client()
    login(other, "jana.liepa@lad", "secret-pass-1")
    assert other.get("/desktop").status_code == 200


@SQLITE_ONLY
@pytest.mark.parametrize(("change", "field"), [
    ({"username": "bad name!"}, "username"),
    ({"username": ""}, "username"),
    ({"username": "anna.berzina"}, "username"),  # taken
    ({"password": "short"}, "password"),
    ({"email": ""}, "email"),
    ({"email": "not-an-address"}, "email"),
    ({"role": "boss"}, "role"),
    ({"phone": "call me"}, "phone"),
    ({"ring_target": "sip:nohost"}, "ring_target"),
])
def test_bad_user_input_is_shown_next_to_the_field_and_nothing_is_saved(
        web: Web, change: dict[str, str], field: str) -> None:
    c, tok = admin(web)
    with web.z.sessions() as s:
        before = s.scalar(select(func.count()).select_from(User))
    audits = audit_count(web)
    r = c.post("/admin/users/new", data={**NEW_USER, **change, "csrf_token": tok})
    assert r.status_code == 422
    assert field_error(r.text, field), r.text[:3000]
    # what was typed is kept (except the password)
    if field != "username" and change.get("username") is None:
        assert 'value="jana.liepa@lad"' in r.text
    assert 'value="secret-pass-1"' not in r.text
    with web.z.sessions() as s:
        assert s.scalar(select(func.count()).select_from(User)) == before
    assert audit_count(web) == audits


def test_admin_edits_role_and_password_and_deletes_softly(web: Web) -> None:
    c, tok = admin(web)
    uid = web.user_id("martins.ozols")
    r = c.post(f"/admin/users/{uid}", data={
        "csrf_token": tok, "email": "m@x.invalid", "role": "supervisor", "first_name": "Mārtiņš",
        "surname": "Ozols", "phone": "", "language": "lv", "extension": "102",
        "ring_target": "+37126000000", "password": "new-password-9"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    with web.z.sessions() as s:
        u = s.get(User, uid)
        assert u is not None and u.role == "supervisor" and u.email == "m@x.invalid"
        assert u.agent is not None and u.agent.ring_target == "+37126000000"
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "user.update"))
        assert e is not None and set(e.details["fields"]) >= {"role", "email", "password",
                                                              "ring_target"}
    m = web.client()
    login(m, "martins.ozols", "new-password-9")
    # bad edit: nothing changes
    r = c.post(f"/admin/users/{uid}", data={"csrf_token": tok, "email": "broken",
                                             "role": "agent"})
    assert r.status_code == 422 and field_error(r.text, "email")
    with web.z.sessions() as s:
        u = s.get(User, uid)
        assert u is not None and u.role == "supervisor" and u.email == "m@x.invalid"
    # delete (soft): gone from the list, cannot sign in, row kept
    r = c.post(f"/admin/users/{uid}/delete", data={"csrf_token": tok}, follow_redirects=False)
    assert r.status_code == 303
    assert 'data-user="martins.ozols"' not in c.get("/admin/users").text
    with web.z.sessions() as s:
        u = s.get(User, uid)
        assert u is not None and u.deleted_at is not None
    assert m.get("/desktop", follow_redirects=False).status_code == 303  # signed out at once
    assert audit_count(web, "user.delete") == 1


def test_admin_cannot_delete_or_demote_themselves(web: Web) -> None:
    c, tok = admin(web)
    me = web.user_id("admin")
    r = c.post(f"/admin/users/{me}/delete", data={"csrf_token": tok})
    assert r.status_code == 200 and "cannot delete your own account" in r.text
    r = c.post(f"/admin/users/{me}", data={"csrf_token": tok, "email": "admin@demo.invalid",
                                            "role": "agent"})
    assert r.status_code == 422 and field_error(r.text, "role")
    with web.z.sessions() as s:
        u = s.get(User, me)
        assert u is not None and u.role == "admin" and u.deleted_at is None


def test_users_json_api(web: Web) -> None:
    c, tok = admin(web)
    h = {"X-CSRF-Token": tok}
    r = c.post("/api/v1/admin/users", json={**NEW_USER, "username": "api.user"}, headers=h)
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert any(u["username"] == "api.user" for u in c.get("/api/v1/admin/users").json())
    r = c.post("/api/v1/admin/users", json={**NEW_USER, "username": "a b"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "username"
    r = c.patch(f"/api/v1/admin/users/{uid}", json={"role": "admin"}, headers=h)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert c.delete(f"/api/v1/admin/users/{uid}", headers=h).status_code == 204
    assert c.get(f"/api/v1/admin/users/{uid}").status_code == 404


def test_admin_pages_speak_the_users_language(web: Web) -> None:
    c = web.client()
    login(c, "admin", "admin-demo-1")  # the demo admin's language is Latvian
    page = c.get("/admin/users").text
    assert "Pievienot lietotāju" in page and "Add user" not in page


# --- wrap-up codes -------------------------------------------------------------------------

def test_wrapup_codes_add_save_and_add_another_edit_and_order(web: Web) -> None:
    c, tok = admin(web)
    page = c.get("/admin/wrapup-codes").text
    assert page.index("REG") < page.index("EPS") < page.index("OTHER")  # ordered 10, 20, 30 …
    r = c.post("/admin/wrapup-codes/new", data={
        "csrf_token": tok, "code": "PEST", "name_lv": "Augu aizsardzība",
        "name_en": "Plant protection", "position": "", "active": "1", "then": "another"},
        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/wrapup-codes/new"
    r = c.post("/admin/wrapup-codes/new", data={
        "csrf_token": tok, "code": "FIRST", "name_lv": "Pirmais", "name_en": "",
        "position": "5", "active": "1", "then": "return"}, follow_redirects=False)
    assert r.headers["location"] == "/admin/wrapup-codes"
    page = c.get("/admin/wrapup-codes").text
    assert "Augu aizsardzība" in page and "Plant protection" in page
    table = page.split("<tbody>")[1]
    assert table.index("FIRST") < table.index("REG") < table.index("PEST")
    with web.z.sessions() as s:
        pest = s.scalar(select(WrapupCode).where(WrapupCode.code == "PEST"))
        assert pest is not None and pest.position == 190  # after the demo's 18 codes
    # the agents' list (API) has it at once
    agent = web.client()
    login(agent, "anna.berzina", "agent-demo-1")
    codes = [i["code"] for i in agent.get("/api/v1/wrapup-codes").json()["items"]]
    assert codes[0] == "FIRST" and codes[-1] == "PEST"
    r = c.post(f"/admin/wrapup-codes/{pest.id}", data={
        "csrf_token": tok, "code": "PEST", "name_lv": "Augu aizsardzība", "name_en": "Plants",
        "position": "1", "active": "1", "then": "return"}, follow_redirects=False)
    assert r.status_code == 303
    table = c.get("/admin/wrapup-codes").text.split("<tbody>")[1]
    assert table.index("PEST") < table.index("FIRST")
    assert audit_count(web, "wrapup_code.add") == 2
    assert audit_count(web, "wrapup_code.update") == 1


@SQLITE_ONLY
@pytest.mark.parametrize(("data", "field"), [
    ({"code": ""}, "code"),
    ({"code": "has space"}, "code"),
    ({"code": "REG"}, "code"),  # taken
    ({"name_lv": "", "name_en": ""}, "name"),
    ({"position": "ten"}, "position"),
    ({"name_en": "x" * 201}, "name_en"),
])
def test_bad_wrapup_code_input_saves_nothing(web: Web, data: dict[str, str], field: str) -> None:
    c, tok = admin(web)
    with web.z.sessions() as s:
        before = s.scalar(select(func.count()).select_from(WrapupCode))
    form = {"csrf_token": tok, "code": "NEWCODE", "name_lv": "Jauns", "name_en": "New",
            "position": "", "active": "1", "then": "return", **data}
    r = c.post("/admin/wrapup-codes/new", data=form)
    assert r.status_code == 422
    assert field_error(r.text, field), r.text[:3000]
    with web.z.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WrapupCode)) == before
    assert audit_count(web) == 0


def test_delete_unused_code_removes_it_and_used_code_is_deactivated(web: Web) -> None:
    c, tok = admin(web)
    org_id = web.org_id()
    with web.z.sessions.begin() as s:
        used = s.scalar(select(WrapupCode).where(WrapupCode.code == "EPS"))
        unused = s.scalar(select(WrapupCode).where(WrapupCode.code == "FISH"))
        assert used is not None and unused is not None
        req = Request(org_id=org_id, phone="+37120000000", name="Client")
        req.wrapup_codes.append(used)
        s.add(req)
        used_id, unused_id = used.id, unused.id
    r = c.post(f"/admin/wrapup-codes/{unused_id}/delete", data={"csrf_token": tok})
    assert r.status_code == 200 and "FISH deleted" in r.text
    r = c.post(f"/admin/wrapup-codes/{used_id}/delete", data={"csrf_token": tok})
    assert "deactivated" in r.text
    with web.z.sessions() as s:
        assert s.get(WrapupCode, unused_id) is None
        row = s.get(WrapupCode, used_id)
        assert row is not None and row.active is False
        assert [c.code for c in s.scalars(select(Request)).one().wrapup_codes] == ["EPS"]
    assert audit_count(web, "wrapup_code.delete") == 1
    assert audit_count(web, "wrapup_code.deactivate") == 1


# --- queues and skills ---------------------------------------------------------------------

def queue_form(web: Web, name: str) -> dict[str, str]:
    """The edit form of a queue as the page would submit it (parsed from the page)."""
    with web.z.sessions() as s:
        q = s.scalar(select(Queue).where(Queue.name == name))
        assert q is not None
        qid = q.id
    c, tok = admin(web)
    html = c.get(f"/admin/queues/{qid}").text
    data: dict[str, str] = {"csrf_token": tok}
    for m in re.finditer(r'<input id="f-([a-z_]+)" name="([a-z_]+)" type="([a-z]+)"'
                         r'(?: value="([^"]*)")?([^>]*)>', html):
        _, key, typ, value, _rest = m.groups()
        if typ == "checkbox":
            continue
        data[key] = value or ""
    for m in re.finditer(r'<input type="checkbox" id="f-([a-z_]+)" name="[a-z_]+" value="1"'
                         r'( checked)?>', html):
        if m.group(2):
            data[m.group(1)] = "1"
    for m in re.finditer(r'<select id="f-([a-z_]+)" name="[a-z_]+"[^>]*>(.*?)</select>', html,
                         re.S):
        sel = re.search(r'<option value="([^"]*)" selected>', m.group(2))
        data[m.group(1)] = sel.group(1) if sel else ""
    for m in re.finditer(r'<textarea id="f-([a-z_]+)" name="[a-z_]+"[^>]*>([^<]*)</textarea>',
                         html):
        data[m.group(1)] = m.group(2)
    data["_id"] = str(qid)
    return data


def test_queue_settings_change_is_live_and_audited(web: Web) -> None:
    c, tok = admin(web)
    form = queue_form(web, "English")
    qid = form.pop("_id")
    assert form["dids"] == "+37160000101" and form["strategy"] == "longest_idle"
    form.update(csrf_token=tok, name="English desk", ring_timeout_s="25", sl_threshold_s="30",
                max_wait_s="600", dids="+37160000101\n+37160000199", always_open="",
                hours_mon="08:00-12:00, 13:00-17:00", hours_tue="8:00-17:00",
                holidays="2026-12-24\n2026-12-25", overflow_target="voicemail",
                wrapup_until_card="1", callback_offer_ewt_s="")
    r = c.post(f"/admin/queues/{qid}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text[:3000]
    with web.z.sessions() as s:
        q = s.get(Queue, int(qid))
        assert q is not None
        assert (q.name, q.ring_timeout_s, q.sl_threshold_s, q.max_wait_s) == \
            ("English desk", 25, 30, 600)
        assert q.business_hours["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]]
        assert q.business_hours["tue"] == [["08:00", "17:00"]] and q.business_hours["sun"] == []
        assert q.holidays == ["2026-12-24", "2026-12-25"]
        assert q.overflow_target == "voicemail" and q.wrapup_until_card is True
        assert q.callback_offer_ewt_s is None
        assert sorted(d.number for d in s.scalars(select(Did).where(Did.queue_id == q.id))) \
            == ["+37160000101", "+37160000199"]
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "queue.update"))
        assert e is not None and e.details["changes"]["ring_timeout_s"] == {"from": 15, "to": 25}
    board = cc(web).wallboard(web.org_id())
    assert "English desk" in [q["name"] for q in board["queues"]]  # live without restart


@SQLITE_ONLY
@pytest.mark.parametrize(("change", "field"), [
    ({"hours_mon": "8-17"}, "hours_mon"),
    ({"hours_wed": "17:00-08:00"}, "hours_wed"),
    ({"hours_fri": "25:00-26:00"}, "hours_fri"),
    ({"holidays": "2026-13-40"}, "holidays"),
    ({"ring_timeout_s": "1"}, "ring_timeout_s"),
    ({"sl_threshold_s": "abc"}, "sl_threshold_s"),
    ({"max_length": "-3"}, "max_length"),
    ({"dids": "+37160000100"}, "dids"),  # the Latvian queue's number
    ({"dids": "phone"}, "dids"),
    ({"name": ""}, "name"),
    ({"name": "Latvian"}, "name"),  # taken
    ({"strategy": "random"}, "strategy"),
])
def test_bad_queue_input_saves_nothing(web: Web, change: dict[str, str], field: str) -> None:
    form = queue_form(web, "English")
    qid = form.pop("_id")
    c, tok = admin(web)
    form.update({"csrf_token": tok, "always_open": "", "ring_timeout_s": "40", **change})
    r = c.post(f"/admin/queues/{qid}", data=form)
    assert r.status_code == 422
    assert field_error(r.text, field), r.text[:4000]
    with web.z.sessions() as s:
        q = s.get(Queue, int(qid))
        assert q is not None and q.ring_timeout_s == 15 and q.name == "English"
        assert q.business_hours == {}
        assert [d.number for d in s.scalars(select(Did).where(Did.queue_id == q.id))] == \
            ["+37160000101"]
    assert audit_count(web) == 0


def test_admin_adds_a_queue(web: Web) -> None:
    c, tok = admin(web)
    assert c.get("/admin/queues/new").status_code == 200
    r = c.post("/admin/queues/new", data={
        "csrf_token": tok, "name": "Russian", "name_lv": "Krievu", "name_en": "Russian",
        "dids": "+37160000103", "language": "lv", "priority": "0", "strategy": "round_robin",
        "ring_timeout_s": "20", "wrapup_s": "5", "sl_threshold_s": "20", "short_abandon_s": "5",
        "max_wait_s": "", "max_length": "", "no_agents_action": "voicemail",
        "overflow_target": "", "callback_offer_ewt_s": "", "sticky_days": "0",
        "sticky_wait_s": "30", "caller_id": "", "active": "1", "always_open": "1",
        "record_calls": "1"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:3000]
    assert "Russian" in [q["name"] for q in cc(web).wallboard(web.org_id())["queues"]]
    assert "+37160000103" in c.get("/admin/queues").text


def skill_cells(web: Web) -> dict[str, str]:
    c, _tok = admin(web)
    html = c.get("/admin/skills").text
    return {m.group(1): m.group(2) for m in
            re.finditer(r'<input name="(skill_\d+_\d+)" id="[^"]+" value="([^"]*)"', html)}


def test_skill_matrix_change_is_live_in_the_acd(web: Web) -> None:
    org_id = web.org_id()
    with web.z.sessions() as s:
        qids = {q.name: q.id for q in s.scalars(select(Queue))}
    martins = web.user_id("martins.ozols")
    cells = skill_cells(web)
    assert cells[f"skill_{martins}_{qids['Latvian']}"] == "1"
    assert cells[f"skill_{martins}_{qids['English']}"] == ""
    # Mārtiņš is the only agent ready; he serves only the Latvian queue for now
    center = cc(web)
    center.agent_login(org_id, martins)
    assert center.agent_view(org_id, martins)["availability"] == "ready"
    assert center.agent_view(org_id, martins)["queues"] == {str(qids["Latvian"]): 1}
    c, tok = admin(web)
    cells[f"skill_{martins}_{qids['English']}"] = "1"
    cells[f"skill_{martins}_{qids['Latvian']}"] = "2"
    r = c.post("/admin/skills", data={**cells, "csrf_token": tok}, follow_redirects=False)
    assert r.status_code == 303, r.text[:3000]
    assert center.agent_view(org_id, martins)["queues"] == {
        str(qids["English"]): 1, str(qids["Latvian"]): 2}
    # and the ACD routes an English call to him at once
    call = center.call_arrived(org_id, qids["English"], "+37120001111", simulated=True)
    view = center.agent_view(org_id, martins)
    assert view["activity"] == "ringing" and view["interaction_id"] == call
    with web.z.sessions() as s:
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "skills.update"))
        assert e is not None
        assert {"user_id": martins, "queue_id": qids["English"], "from": None, "to": 1} \
            in e.details["changes"]
    # removing him from the queue (empty cell) is live too
    cells[f"skill_{martins}_{qids['English']}"] = ""
    c.post("/admin/skills", data={**cells, "csrf_token": tok})
    assert str(qids["English"]) not in center.agent_view(org_id, martins)["queues"]


@SQLITE_ONLY
@pytest.mark.parametrize("bad", ["x", "0", "100", "1.5", "-1"])
def test_bad_skill_level_saves_nothing(web: Web, bad: str) -> None:
    with web.z.sessions() as s:
        qids = {q.name: q.id for q in s.scalars(select(Queue))}
        before = sorted((r.user_id, r.queue_id, r.level) for r in s.scalars(select(SkillLevel)))
    anna, liga = web.user_id("anna.berzina"), web.user_id("liga.kalnina")
    cells = skill_cells(web)
    cells[f"skill_{anna}_{qids['English']}"] = ""  # a good change in the same form …
    key = f"skill_{liga}_{qids['English']}"
    cells[key] = bad  # … and a bad one
    c, tok = admin(web)
    r = c.post("/admin/skills", data={**cells, "csrf_token": tok})
    assert r.status_code == 422
    assert field_error(r.text, key)
    assert f'value="{bad}"' in r.text
    with web.z.sessions() as s:
        after = sorted((r.user_id, r.queue_id, r.level) for r in s.scalars(select(SkillLevel)))
    assert after == before
    assert audit_count(web) == 0


def test_skills_json_api(web: Web) -> None:
    c, tok = admin(web)
    with web.z.sessions() as s:
        qid = s.scalar(select(Queue.id).where(Queue.name == "English"))
    karlis = web.user_id("karlis.egle")
    cc(web).agent_login(web.org_id(), karlis)
    r = c.put("/api/v1/admin/skills", json=[{"user_id": karlis, "queue_id": qid, "level": 3}],
              headers={"X-CSRF-Token": tok})
    assert r.status_code == 200 and len(r.json()["changes"]) == 1
    assert {"user_id": karlis, "queue_id": qid, "level": 3} in c.get("/api/v1/admin/skills").json()
    assert cc(web).agent_view(web.org_id(), karlis)["queues"][str(qid)] == 3


def test_public_holidays_close_the_queues_at_once(web: Web) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from zvans.store.models import Event, Holiday

    org_id = web.org_id()
    with web.z.sessions.begin() as s:
        q = s.scalar(select(Queue).where(Queue.name == "Lithuanian"))
        assert q is not None
        catalog.update_queue(s, q, business_hours={
            d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
        qid = q.id
    center = cc(web)
    center.reload(org_id)

    def outcome(call: int) -> set[str]:
        with web.z.sessions() as s:
            return set(s.scalars(select(Event.type).where(Event.interaction_id == call)))

    assert "enqueued" in outcome(center.call_arrived(org_id, qid, "+37120000011"))
    today = datetime.now(ZoneInfo("Europe/Riga")).date().isoformat()
    c, tok = admin(web)
    for bad, message in (("24.12.2026", "YYYY-MM-DD"), ("", "YYYY-MM-DD")):
        r = c.post("/admin/holidays", data={"csrf_token": tok, "day": bad, "name": "x"})
        assert r.status_code == 422 and message in field_error(r.text, "day")
    r = c.post("/admin/holidays", data={"csrf_token": tok, "day": today, "name": "Test day"},
               follow_redirects=False)
    assert r.status_code == 303
    r = c.post("/admin/holidays", data={"csrf_token": tok, "day": today, "name": "Again"})
    assert r.status_code == 422 and field_error(r.text, "day")
    assert "Test day" in c.get("/admin/holidays").text
    assert "out_of_hours" in outcome(center.call_arrived(org_id, qid, "+37120000012"))
    with web.z.sessions() as s:
        hid = s.scalar(select(Holiday.id))
    r = c.post(f"/admin/holidays/{hid}/delete", data={"csrf_token": tok}, follow_redirects=False)
    assert r.status_code == 303
    assert "enqueued" in outcome(center.call_arrived(org_id, qid, "+37120000013"))
    assert audit_count(web, "holiday.add") == 1 and audit_count(web, "holiday.delete") == 1


# --- pause reasons -------------------------------------------------------------------------

def test_pause_reasons_add_edit_deactivate_live(web: Web) -> None:
    c, tok = admin(web)
    org_id = web.org_id()
    r = c.post("/admin/pause-reasons/new", data={
        "csrf_token": tok, "code": "coffee", "name_lv": "Kafija", "name_en": "Coffee",
        "position": "", "active": "1", "then": "return"}, follow_redirects=False)
    assert r.status_code == 303
    table = c.get("/admin/pause-reasons").text.split("<tbody>")[1]
    assert table.index("card") < table.index("coffee")
    anna = web.user_id("anna.berzina")
    center = cc(web)
    center.agent_login(org_id, anna)
    center.agent_pause(org_id, anna, "coffee")  # usable at once
    assert center.agent_view(org_id, anna)["pause_reason"] == "coffee"
    with web.z.sessions() as s:
        rid = catalog.list_pause_reasons(s, org_id)[-1].id
    r = c.post(f"/admin/pause-reasons/{rid}", data={
        "csrf_token": tok, "code": "coffee", "name_lv": "Kafija", "name_en": "Coffee break",
        "position": "50", "then": "return"}, follow_redirects=False)  # active unticked
    assert r.status_code == 303
    center.agent_ready(org_id, anna)
    with pytest.raises(Exception, match="coffee"):
        center.agent_pause(org_id, anna, "coffee")
    r = c.post("/admin/pause-reasons/new", data={
        "csrf_token": tok, "code": "lunch", "name_lv": "x", "then": "return"})
    assert r.status_code == 422 and field_error(r.text, "code")
    assert audit_count(web, "pause_reason.add") == 1
    assert audit_count(web, "pause_reason.update") == 1


# --- audit log -----------------------------------------------------------------------------

def test_audit_log_page_filters_and_pages(web: Web) -> None:
    org_id, admin_id, sup_id = web.org_id(), web.user_id("admin"), web.user_id("supervisor")
    with web.z.sessions.begin() as s:
        for i in range(60):
            audit(s, org_id, admin_id, "queue.update", f"queue:{i}", n=i)
        audit(s, org_id, sup_id, "agent.force_pause", "user:5", reason="lunch")
        other = orgs.add_org(s, "other", "Other org")
        audit(s, other.id, None, "user.add", "user:999", username="secret-other-org")
    c, _tok = admin(web)
    page = c.get("/admin/audit").text
    assert "agent.force_pause" in page and "61 entries" in page
    assert "secret-other-org" not in page
    assert "queue:59" in page and "queue:5<" not in page  # newest first, 50 a page
    page2 = c.get("/admin/audit?page=2").text
    assert "queue:0<" in page2 and "queue:59" not in page2
    only = c.get(f"/admin/audit?user={sup_id}").text
    assert "agent.force_pause" in only and "queue.update" not in only.split("<tbody>")[1]
    by_action = c.get("/admin/audit?action=agent").text
    assert "1 entries" in by_action
    api = c.get("/api/v1/admin/audit?action=queue.update&page_size=10").json()
    assert api["total"] == 60 and len(api["entries"]) == 10


# --- roles, CSRF, organisations ------------------------------------------------------------

def _protected_routes(web: Web) -> list[tuple[str, str]]:
    """Every route of the administration and supervisor modules (method, path)."""
    from zvans.web.routes import admin_audit, admin_queues, admin_users, admin_wrapup, supervisor

    out = []
    for module in (admin_users, admin_wrapup, admin_queues, admin_audit, supervisor):
        for route in module.router.routes:
            for method in sorted(getattr(route, "methods", set()) - {"HEAD"}):
                out.append((method, getattr(route, "path", "")))
    return out


def _fill(path: str, web: Web) -> str:
    anna = web.user_id("anna.berzina")
    return re.sub(r"\{[a-z_]+\}", str(anna), path)


def test_every_admin_and_supervisor_route_is_refused_to_an_agent(web: Web) -> None:
    routes = _protected_routes(web)
    assert len(routes) > 40
    c = web.client()
    tok = login(c, "anna.berzina", "agent-demo-1")
    for method, path in routes:
        r = c.request(method, _fill(path, web), headers={"X-CSRF-Token": tok},
                      json={} if method != "GET" else None, follow_redirects=False)
        assert r.status_code == 403, (method, path, r.status_code)
    assert audit_count(web) == 0


def test_a_supervisor_may_supervise_but_not_administer(web: Web) -> None:
    c = web.client()
    tok = login(c, "supervisor", "super-demo-1")
    for method, path in _protected_routes(web):
        if "{" in path and method == "GET":
            continue
        r = c.request(method, _fill(path, web), headers={"X-CSRF-Token": tok},
                      json={} if method != "GET" else None, follow_redirects=False)
        if path.startswith(("/admin", "/api/v1/admin")):
            assert r.status_code == 403, (method, path)
        elif method == "GET":
            assert r.status_code in (200, 303), (method, path, r.status_code)


def test_without_a_session_pages_redirect_and_api_answers_401(web: Web) -> None:
    c = web.client()
    for method, path in _protected_routes(web):
        r = c.request(method, _fill(path, web), follow_redirects=False)
        if path.startswith("/api/"):
            assert r.status_code in (401, 403), (method, path)
        elif method == "GET":
            assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_forms_without_csrf_token_are_refused_and_save_nothing(web: Web) -> None:
    c, _tok = admin(web)
    r = c.post("/admin/users/new", data=NEW_USER)
    assert r.status_code == 403
    r = c.post("/admin/wrapup-codes/new", data={"code": "X1", "name_en": "x"})
    assert r.status_code == 403
    r = c.post("/api/v1/admin/users", json={**NEW_USER, "username": "nocsrf"},
               headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    with web.z.sessions() as s:
        assert s.scalar(select(User).where(User.username.in_(["jana.liepa@lad", "nocsrf"]))) \
            is None
        assert s.scalar(select(WrapupCode).where(WrapupCode.code == "X1")) is None


def test_an_admin_never_sees_or_changes_another_organisations_data(web: Web) -> None:
    with web.z.sessions.begin() as s:
        other = orgs.add_org(s, "other", "Other agency")
        users.add_user(s, other.id, users.UserInput(
            username="other.admin", password="other-pass-1", email="o@x.invalid", role="admin"))
        oq = catalog.add_queue(s, other.id, "Other queue")
        ocode = catalog.add_wrapup_code(s, other.id, "OTHERCODE", {"en": "Other code"})
        oreason = catalog.add_pause_reason(s, other.id, "otherpause", {"en": "Other pause"})
        oq_id, ocode_id, oreason_id = oq.id, ocode.id, oreason.id
    c = web.client()
    tok = login(c, "other.admin", "other-pass-1")
    anna = web.user_id("anna.berzina")
    with web.z.sessions() as s:
        demo_queue = s.scalar(select(Queue.id).where(Queue.name == "Latvian"))
        demo_code = s.scalar(select(WrapupCode.id).where(WrapupCode.code == "REG"))
    assert "anna.berzina" not in c.get("/admin/users").text
    assert "REG" not in c.get("/admin/wrapup-codes").text
    assert "Latvian" not in c.get("/admin/queues").text
    assert "anna" not in c.get("/admin/skills").text.lower()
    assert c.get(f"/admin/users/{anna}").status_code == 404
    assert c.get(f"/admin/queues/{demo_queue}").status_code == 404
    assert c.get(f"/admin/wrapup-codes/{demo_code}").status_code == 404
    h = {"X-CSRF-Token": tok}
    assert c.patch(f"/api/v1/admin/users/{anna}", json={"role": "admin"},
                   headers=h).status_code == 404
    assert c.post(f"/admin/users/{anna}/delete", data={"csrf_token": tok}).status_code == 404
    assert c.patch(f"/api/v1/admin/queues/{demo_queue}", json={"ring_timeout_s": 60},
                   headers=h).status_code == 404
    assert c.delete(f"/api/v1/admin/wrapup-codes/{demo_code}", headers=h).status_code == 404
    r = c.put("/api/v1/admin/skills", json=[{"user_id": anna, "queue_id": oq_id, "level": 1}],
              headers=h)
    assert r.status_code == 404
    r = c.put("/api/v1/admin/skills", json=[{"user_id": web.user_id("other.admin"),
                                             "queue_id": demo_queue, "level": 1}], headers=h)
    assert r.status_code == 404
    r = c.post("/api/v1/admin/queues", json={"name": "Q2", "overflow_target":
                                             f"queue:{demo_queue}"}, headers=h)
    assert r.status_code == 422
    r = c.patch(f"/api/v1/admin/queues/{oq_id}", json={"dids": ["+37160000100"]}, headers=h)
    assert r.status_code == 409  # the number belongs to someone else: refused, nothing moves
    # the demo organisation's admin cannot reach the other's rows either
    d, _dtok = admin(web)
    assert d.get(f"/admin/wrapup-codes/{ocode_id}").status_code == 404
    assert d.get(f"/admin/pause-reasons/{oreason_id}").status_code == 404
    with web.z.sessions() as s:
        a = s.get(User, anna)
        assert a is not None and a.role == "agent" and a.deleted_at is None
        did = s.scalar(select(Did).where(Did.number == "+37160000100"))
        assert did is not None and did.queue_id == demo_queue
    assert csrf_of(d, "/admin")
