"""Administration in a real browser against a real `zvans serve`: an admin adds a user and a
wrap-up code (bad input shows a message next to the field and saves nothing), edits the
skill matrix and the change is live in the ACD (a call is routed by the new level at once).
And the roles: an agent gets 403 on every administration and supervisor page and API."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, shot, sign_in

pytestmark = pytest.mark.browser

META_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


class ApiUser:
    """A signed-in HTTP client (what a browser tab does, without the browser)."""

    def __init__(self, server: Server, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=server.base_url, timeout=10)
        token = self._csrf("/login")
        r = self.http.post("/login", data={"username": username, "password": password,
                                           "csrf_token": token})
        assert r.status_code == 303, r.text[:500]
        self.token = self._csrf("/settings")

    def _csrf(self, path: str) -> str:
        m = META_CSRF.search(self.http.get(path).text)
        assert m, path
        return m.group(1)

    def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return self.http.request(method, path, json=json,
                                 headers={"X-CSRF-Token": self.token,
                                          "Accept": "application/json"})

    def close(self) -> None:
        self.http.close()


def one(server: Server, sql: str, **params: Any) -> Any:
    rows = server.sql(sql, **params)
    return rows[0][0] if rows else None


def test_admin_adds_a_user_and_bad_input_saves_nothing(server: Server, browser: Any) -> None:
    ctx = browser.new_context(locale="en-GB")
    page = ctx.new_page()
    try:
        sign_in(page, server.base_url, "admin", "admin-demo-1")
        page.goto(server.base_url + "/settings")
        page.select_option("#language", "en")
        page.click('form[action="/settings/language"] button[type=submit]')
        page.goto(server.base_url + "/admin/users")
        expect(page.locator('#users tr[data-user="anna.berzina"]')).to_be_visible()
        page.click('[data-action="add-user"]')
        page.fill("#f-username", "ieva kalna")  # a space is not allowed
        page.fill("#f-password", "agent-pass-77")
        page.fill("#f-email", "ieva@demo.invalid")
        page.select_option("#f-role", "agent")
        page.fill("#f-first_name", "Ieva")
        page.fill("#f-surname", "Kalna")
        page.fill("#f-extension", "110")
        page.click('[data-action="save"]')
        error = page.locator("#err-username")
        expect(error).to_contain_text("only letters, digits")
        expect(page.locator("#f-username")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#f-first_name")).to_have_value("Ieva")  # what was typed is kept
        shot(page, "admin-01-user-bad-input")
        assert one(server, "SELECT count(*) FROM user_account WHERE email = 'ieva@demo.invalid'") \
            == 0
        page.fill("#f-username", "ieva.kalna")
        page.fill("#f-password", "agent-pass-77")  # passwords are never sent back to the page
        page.click('[data-action="save"]')
        expect(page).to_have_url(server.base_url + "/admin/users")
        row = page.locator('#users tr[data-user="ieva.kalna"]')
        expect(row).to_contain_text("ieva@demo.invalid")
        expect(row).to_contain_text("Kalna")
        shot(page, "admin-02-user-added")
        assert one(server, "SELECT count(*) FROM audit_entry WHERE action = 'user.add'") == 1
        # the new agent can sign in at once
        newbie = ApiUser(server, "ieva.kalna", "agent-pass-77")
        assert newbie.call("GET", "/api/v1/agents/me").status_code == 200
        newbie.close()
    finally:
        ctx.close()


def test_admin_adds_wrapup_codes_with_save_and_add_another(server: Server, browser: Any) -> None:
    ctx = browser.new_context(locale="en-GB")
    page = ctx.new_page()
    try:
        sign_in(page, server.base_url, "admin", "admin-demo-1")
        page.goto(server.base_url + "/admin/wrapup-codes")
        page.click('[data-action="add-item"]')
        page.fill("#f-code", "VET")
        page.click('[data-action="save-another"]')  # no name in any language
        expect(page.locator('[data-error-for="name"]')).to_be_visible()
        assert one(server, "SELECT count(*) FROM wrapup_code WHERE code = 'VET'") == 0
        page.fill("#f-name_lv", "Veterinārie jautājumi")
        page.fill("#f-name_en", "Veterinary questions")
        page.click('[data-action="save-another"]')
        expect(page).to_have_url(server.base_url + "/admin/wrapup-codes/new")
        expect(page.locator(".flash")).to_contain_text("VET")
        page.fill("#f-code", "SEED")
        page.fill("#f-name_lv", "Sēklas")
        page.fill("#f-position", "15")
        page.click('[data-action="save-return"]')
        expect(page).to_have_url(server.base_url + "/admin/wrapup-codes")
        rows = page.locator("#items tbody tr")
        codes = [c.strip() for c in rows.locator("td:nth-child(2)").all_inner_texts()]
        assert codes[:3] == ["REG", "SEED", "EPS"]  # position 15 sits between 10 and 20
        assert codes[-1] == "VET"
        shot(page, "admin-03-wrapup-codes")
        # an agent's request form offers the new code at once
        agent = ApiUser(server, "liga.kalnina", "agent-demo-1")
        items = agent.call("GET", "/api/v1/wrapup-codes").json()["items"]
        assert [i["code"] for i in items][:2] == ["REG", "SEED"]
        agent.close()
    finally:
        ctx.close()


def test_skill_matrix_edit_is_live_in_the_acd(server: Server, browser: Any) -> None:
    martins = one(server, "SELECT id FROM user_account WHERE username = 'martins.ozols'")
    english = one(server, "SELECT id FROM queue WHERE name = 'English'")
    latvian = one(server, "SELECT id FROM queue WHERE name = 'Latvian'")
    agent = ApiUser(server, "martins.ozols", "agent-demo-1")
    ctx = browser.new_context(locale="en-GB")
    page = ctx.new_page()
    try:
        state = agent.call("POST", "/api/v1/agents/me/login").json()
        assert state["availability"] == "ready"
        assert state["queues"] == {str(latvian): 1}  # Mārtiņš serves only Latvian callers
        sign_in(page, server.base_url, "admin", "admin-demo-1")
        page.goto(server.base_url + "/admin/skills")
        cell = page.locator(f'input[name="skill_{martins}_{english}"]')
        expect(cell).to_have_value("")
        cell.fill("x")
        page.click('[data-action="save-skills"]')
        expect(page.locator(f"#err-skill_{martins}_{english}")).to_be_visible()
        assert one(server, "SELECT count(*) FROM skill_level WHERE user_id = :u AND "
                           "queue_id = :q", u=martins, q=english) == 0
        page.locator(f'input[name="skill_{martins}_{english}"]').fill("1")
        page.locator(f'input[name="skill_{martins}_{latvian}"]').fill("2")
        page.click('[data-action="save-skills"]')
        expect(page.locator(".flash")).to_contain_text("2 changes")
        shot(page, "admin-04-skill-matrix")
        # live: the running ACD has the new levels, and routes an English call to him
        state = agent.call("GET", "/api/v1/agents/me").json()
        assert state["queues"] == {str(english): 1, str(latvian): 2}
        call_id = server.simulate_call(str(english), "+37120005555")  # by id: names change
        state = agent.call("GET", "/api/v1/agents/me").json()
        assert state["activity"] == "ringing" and state["interaction_id"] == call_id
        assert one(server, "SELECT count(*) FROM audit_entry WHERE action = 'skills.update'") \
            == 1
    finally:
        agent.call("POST", "/api/v1/agents/me/logout")
        agent.close()
        ctx.close()


def _routes() -> list[tuple[str, str]]:
    from zvans.web.routes import admin_audit, admin_queues, admin_users, admin_wrapup, supervisor

    out = []
    for module in (admin_users, admin_wrapup, admin_queues, admin_audit, supervisor):
        for route in module.router.routes:
            for method in sorted(getattr(route, "methods", set()) - {"HEAD"}):
                out.append((method, getattr(route, "path", "")))
    return out


def test_an_agent_gets_403_on_every_admin_and_supervisor_page_and_api(
        server: Server, browser: Any) -> None:
    anna = one(server, "SELECT id FROM user_account WHERE username = 'anna.berzina'")
    agent = ApiUser(server, "anna.berzina", "agent-demo-1")
    try:
        routes = _routes()
        assert len(routes) > 40
        for method, path in routes:
            url = re.sub(r"\{[a-z_]+\}", str(anna), path)
            r = agent.call(method, url, json={} if method != "GET" else None)
            assert r.status_code == 403, (method, path, r.status_code)
    finally:
        agent.close()
    ctx = browser.new_context(locale="en-GB")
    page = ctx.new_page()
    try:
        sign_in(page, server.base_url, "anna.berzina", "agent-demo-1")
        for path in ("/admin", "/admin/users", "/admin/skills", "/supervisor/wallboard",
                     "/supervisor/log"):
            response = page.goto(server.base_url + path)
            assert response is not None and response.status == 403, path
        expect(page.locator("nav.mainnav")).not_to_contain_text("Administr")
        shot(page, "admin-05-agent-forbidden")
    finally:
        ctx.close()


def test_admin_edits_a_queue_and_the_change_is_live(server: Server, browser: Any) -> None:
    english = one(server, "SELECT id FROM queue WHERE name = 'English'")
    ctx = browser.new_context(locale="en-GB")
    page = ctx.new_page()
    try:
        sign_in(page, server.base_url, "admin", "admin-demo-1")
        page.goto(server.base_url + "/admin/queues")
        page.click(f'a[href="/admin/queues/{english}"]')
        expect(page.locator("#queue-members")).to_contain_text("John Miller")
        page.fill("#f-name", "English desk")
        page.fill("#f-ring_timeout_s", "25")
        page.uncheck("#f-always_open")
        page.fill("#f-hours_mon", "8-17")  # not the HH:MM-HH:MM form
        page.fill("#f-hours_tue", "08:00-17:00")
        page.click('[data-action="save"]')
        expect(page.locator("#err-hours_mon")).to_contain_text("08:30-17:00")
        expect(page.locator("#f-hours_tue")).to_have_value("08:00-17:00")
        shot(page, "admin-06-queue-bad-hours")
        assert one(server, "SELECT ring_timeout_s FROM queue WHERE id = :q", q=english) == 15
        page.fill("#f-hours_mon", "08:00-12:00, 13:00-17:00")
        page.click('[data-action="save"]')
        expect(page).to_have_url(server.base_url + "/admin/queues")
        expect(page.locator('#queues tr[data-queue="English desk"]')).to_contain_text("25")
        assert one(server, "SELECT ring_timeout_s FROM queue WHERE id = :q", q=english) == 25
        # live: the supervisor's wallboard (the running ACD) has the new name
        boss = ApiUser(server, "supervisor", "super-demo-1")
        names = [q["name"] for q in boss.call("GET", "/api/v1/wallboard").json()["queues"]]
        boss.close()
        assert "English desk" in names and "English" not in names
    finally:
        ctx.close()
