"""Roles on every page and API route, organisation isolation, CSRF, no XSS."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from tests.integration.web.conftest import Web, signed_in
from zvans.store import orgs, users
from zvans.store.models import Interaction, Request
from zvans.web import request_service as rs
from zvans.web.deps import current_user

#: What the issue and docs/decisions/0005-web.md promise, by path prefix (first match wins).
EXPECTED: list[tuple[str, set[str]]] = [
    ("/api/v1/admin", {"admin"}),
    ("/api/v1/wallboard", {"supervisor", "admin"}),
    ("/api/v1/agents/me", {"agent", "supervisor"}),
    ("/admin", {"admin"}),
    ("/supervisor", {"supervisor", "admin"}),
    ("/desktop", {"agent", "supervisor"}),
    ("/requests", {"agent", "supervisor", "admin"}),
    ("/unanswered", {"agent", "supervisor", "admin"}),
]
PUBLIC = {"/", "/login", "/forgot-password", "/reset-password", "/healthz", "/openapi.json",
          "/docs", "/docs/oauth2-redirect", "/redoc", "/language", "/logout"}
ALL_ROLES = {"admin", "supervisor", "agent"}
USERS = {"admin": "admin", "supervisor": "supervisor", "agent": "anna.berzina"}


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and hasattr(inner, "routes"):
            out.extend(api_routes(list(inner.routes)))
    return out


def declared_roles(route: APIRoute) -> set[str] | None:
    """The roles a route lets in, read from its dependencies (None: no sign-in needed)."""
    found: set[str] | None = None

    def walk(dep: Any) -> None:
        nonlocal found
        call = dep.call
        if call is current_user and found is None:
            found = set(ALL_ROLES)
        if getattr(call, "__qualname__", "").startswith("require_role."):
            cells = dict(zip(call.__code__.co_freevars, call.__closure__ or (), strict=True))
            roles = set(cells["roles"].cell_contents)
            found = roles if found is None or found == ALL_ROLES else found & roles
        for sub in dep.dependencies:
            walk(sub)

    walk(route.dependant)
    return found


def expected(path: str) -> set[str] | None:
    for prefix, roles in EXPECTED:
        if path == prefix or path.startswith(prefix + "/"):
            return roles
    return None


def all_routes(web: Web) -> list[APIRoute]:
    app: Any = web.app_client.app
    return api_routes(list(app.routes))


def get_routes(web: Web) -> list[APIRoute]:
    return [r for r in all_routes(web) if "GET" in (r.methods or set()) and "{" not in r.path]


def test_every_route_declares_who_may_use_it(web: Web) -> None:
    routes = all_routes(web)
    assert len(routes) > 30
    missing = sorted({f"{sorted(r.methods or set())} {r.path}" for r in routes
                      if r.path not in PUBLIC and declared_roles(r) is None})
    assert missing == []
    wrong = []
    for r in routes:
        want = expected(r.path)
        roles = declared_roles(r)
        if want is not None and roles is not None and not roles <= want:
            wrong.append((r.path, roles, want))
    assert wrong == []


@pytest.mark.parametrize("role", ["admin", "supervisor", "agent"])
def test_each_role_gets_403_on_forbidden_pages_and_200_on_its_own(web: Web, role: str) -> None:
    client, _token = signed_in(web, USERS[role])
    checked = forbidden = 0
    for route in get_routes(web):
        allowed = declared_roles(route)
        if allowed is None:
            continue
        r = client.get(route.path, follow_redirects=False)
        if role in allowed:
            assert r.status_code in (200, 303, 404, 422), \
                f"{role} {route.path}: {r.status_code} {r.text[:300]}"
            if r.status_code == 303:
                assert not r.headers["location"].startswith("/login"), route.path
        else:
            assert r.status_code == 403, f"{role} {route.path}: {r.status_code}"
            if route.path.startswith("/api/"):
                assert r.json()["error"]["code"] == "forbidden"
            forbidden += 1
        checked += 1
    assert checked >= 10 and forbidden >= 1


def test_state_changing_api_routes_check_the_role(web: Web) -> None:
    agent, token = signed_in(web, "anna.berzina")
    r = agent.post("/api/v1/calls/simulate", json={"queue": "Latvian", "caller": "+37120000001"},
                   headers={"X-CSRF-Token": token})
    assert r.status_code == 403
    admin, atoken = signed_in(web, "admin")
    r = admin.post("/api/v1/requests", json={"phone": "+37120000001", "name": "X"},
                   headers={"X-CSRF-Token": atoken})
    assert r.status_code == 403
    r = admin.post("/api/v1/agents/me/login", headers={"X-CSRF-Token": atoken})
    assert r.status_code == 403


def _other_org_request(web: Web) -> tuple[int, int]:
    with web.z.sessions.begin() as s:
        org = orgs.add_org(s, "other", "Other Agency")
        user = users.add_user(s, org.id, users.UserInput(
            username="other.agent", password="other-pass-1", email="o@other.invalid",
            role="agent"))
        call = Interaction(org_id=org.id, caller="+37129999999")
        s.add(call)
        s.flush()
        row = rs.create_request(s, org.id, user.id, rs.RequestInput(
            phone="+37129999999", name="Secret Client", comment="secret matter"))
        return row.id, call.id


def test_another_organisations_request_is_not_found(web: Web) -> None:
    request_id, call_id = _other_org_request(web)
    client, token = signed_in(web, "supervisor")
    assert client.get(f"/requests/{request_id}").status_code == 404
    r = client.get(f"/api/v1/requests/{request_id}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "no-such-request"
    r = client.put(f"/api/v1/requests/{request_id}", json={"phone": "+37120000000",
                   "name": "Hacked"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 404
    r = client.post(f"/requests/{request_id}", data={"phone": "+37120000000", "name": "Hacked",
                                                      "csrf_token": token})
    assert r.status_code == 404
    assert client.get(f"/api/v1/customers/card?interaction_id={call_id}").status_code == 404
    listing = client.get("/api/v1/requests?q=secret").json()
    assert listing["total"] == 0
    assert "Secret Client" not in client.get("/requests").text
    assert "Secret Client" not in client.get("/requests/export.csv").text
    card = client.get("/api/v1/customers/card?phone=%2B37129999999").json()
    assert card["earlier_calls"] == [] and card["earlier_requests"] == []
    with web.z.sessions() as s:
        assert s.get(Request, request_id).name == "Secret Client"  # type: ignore[union-attr]


def test_state_changes_without_csrf_token_are_refused(web: Web) -> None:
    client, token = signed_in(web, "anna.berzina")
    r = client.post("/api/v1/requests", json={"phone": "+37120000001", "name": "No Token"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf-failed"
    r = client.post("/api/v1/requests", json={"phone": "+37120000001", "name": "No Token"},
                    headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    created = client.post("/api/v1/requests", json={"phone": "+37120000001", "name": "Real"},
                          headers={"X-CSRF-Token": token}).json()
    r = client.post(f"/requests/{created['id']}", data={"phone": "+37120000002",
                                                         "name": "Changed"})
    assert r.status_code == 403
    assert "Reload the page" in r.text or "Pārlādējiet" in r.text
    r = client.post("/api/v1/agents/me/login")
    assert r.status_code == 403
    with web.z.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Request)) == 1
        row = s.get(Request, created["id"])
        assert row is not None and row.name == "Real" and row.edited_at is None


def test_html_in_a_comment_is_shown_as_text(web: Web) -> None:
    client, token = signed_in(web, "anna.berzina")
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    created = client.post("/api/v1/requests", json={
        "phone": "+37120000001", "name": '"><b>bold</b>', "comment": evil},
        headers={"X-CSRF-Token": token}).json()
    for page in (client.get("/requests").text, client.get(f"/requests/{created['id']}").text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page or \
            "&lt;script&gt;" in page
        assert "<b>bold</b>" not in page
    # The JSON API returns the text as it was typed; the desktop writes it with textContent.
    assert client.get(f"/api/v1/requests/{created['id']}").json()["comment"] == evil


def test_pages_forbid_inline_scripts_and_framing(web: Web) -> None:
    r = web.client().get("/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
