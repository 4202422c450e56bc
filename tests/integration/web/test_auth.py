"""Sign in, sign out, lockout after ten wrong passwords, CSRF on the login form, forgotten
password by e-mail token (written to the log without SMTP)."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select

from tests.integration.web.conftest import Web, csrf_of, login
from zvans.store.models import User


def test_pages_redirect_to_login_and_api_answers_401(web: Web) -> None:
    c = web.client()
    r = c.get("/desktop", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fdesktop"
    r = c.get("/api/v1/requests")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "login-required"


def test_sign_in_lands_on_the_role_home_and_sign_out_ends_the_session(web: Web) -> None:
    c = web.client()
    token = csrf_of(c)
    r = c.post("/login", data={"username": "anna.berzina", "password": "agent-demo-1",
                               "csrf_token": token, "next": "/requests"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/requests"
    assert c.get("/requests").status_code == 200
    token = csrf_of(c, "/settings")
    assert c.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert c.get("/requests", follow_redirects=False).status_code == 303


def test_login_refuses_a_foreign_next_url(web: Web) -> None:
    c = web.client()
    r = c.post("/login", data={"username": "admin", "password": "admin-demo-1",
                               "csrf_token": csrf_of(c), "next": "//evil.example/x"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin"


def test_wrong_password_and_empty_fields_get_messages_next_to_the_fields(web: Web) -> None:
    c = web.client()
    r = c.post("/login", data={"username": "", "password": "", "csrf_token": csrf_of(c)})
    assert r.status_code == 422
    assert 'data-error-for="username"' in r.text and 'data-error-for="password"' in r.text
    r = c.post("/login", data={"username": "anna.berzina", "password": "nope-nope",
                               "csrf_token": csrf_of(c)})
    assert r.status_code == 401
    assert 'data-error-for="_form"' in r.text
    assert c.get("/desktop", follow_redirects=False).status_code == 303


def test_login_form_without_csrf_token_is_refused(web: Web) -> None:
    c = web.client()
    c.get("/login")
    r = c.post("/login", data={"username": "anna.berzina", "password": "agent-demo-1"},
               follow_redirects=False)
    assert r.status_code == 403
    assert c.get("/desktop", follow_redirects=False).status_code == 303


def test_ten_wrong_passwords_lock_the_login(web: Web) -> None:
    c = web.client()
    for _ in range(9):
        r = c.post("/login", data={"username": "martins.ozols", "password": "wrong-password",
                                   "csrf_token": csrf_of(c)})
        assert r.status_code == 401
    r = c.post("/login", data={"username": "martins.ozols", "password": "wrong-password",
                               "csrf_token": csrf_of(c)})
    assert r.status_code == 429
    # Even the right password is refused while the lock lasts.
    r = c.post("/login", data={"username": "martins.ozols", "password": "agent-demo-1",
                               "csrf_token": csrf_of(c)}, follow_redirects=False)
    assert r.status_code == 429
    assert "bloķēts" in r.text  # the default language is Latvian
    with web.z.sessions() as s:
        user = s.scalar(select(User).where(User.username == "martins.ozols"))
        assert user is not None and user.locked_until is not None
    # Other accounts are not affected.
    login(web.client(), "anna.berzina", "agent-demo-1")


def test_forgot_password_mails_a_one_time_link(web: Web, caplog: pytest.LogCaptureFixture
                                               ) -> None:
    c = web.client()
    r = c.post("/forgot-password", data={"login": "", "csrf_token": csrf_of(c)})
    assert r.status_code == 422 and 'data-error-for="login"' in r.text
    with caplog.at_level(logging.WARNING, logger="zvans.mail"):
        r = c.post("/forgot-password", data={"login": "anna.berzina@demo.invalid",
                                             "csrf_token": csrf_of(c)})
    assert r.status_code == 200
    match = re.search(r"/reset-password\?token=([\w.\-]+)", caplog.text)
    assert match, caplog.text
    token = match.group(1)
    # An unknown user gets the same answer and no mail.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zvans.mail"):
        r2 = c.post("/forgot-password", data={"login": "nobody", "csrf_token": csrf_of(c)})
    assert r2.status_code == 200 and "reset-password" not in caplog.text
    page = c.get(f"/reset-password?token={token}")
    assert 'name="password2"' in page.text
    r = c.post("/reset-password", data={"token": token, "password": "short",
                                        "password2": "short", "csrf_token": csrf_of(c)})
    assert r.status_code == 422 and 'data-error-for="password"' in r.text
    r = c.post("/reset-password", data={"token": token, "password": "new-password-1",
                                        "password2": "new-password-2",
                                        "csrf_token": csrf_of(c)})
    assert r.status_code == 422 and 'data-error-for="password2"' in r.text
    r = c.post("/reset-password", data={"token": token, "password": "new-password-1",
                                        "password2": "new-password-1",
                                        "csrf_token": csrf_of(c)}, follow_redirects=False)
    assert r.status_code == 303
    login(web.client(), "anna.berzina", "new-password-1")
    # The link works once: the password changed, so the token is void.
    r = c.post("/reset-password", data={"token": token, "password": "other-password-1",
                                        "password2": "other-password-1",
                                        "csrf_token": csrf_of(c)})
    assert r.status_code == 400


def test_language_is_per_user(web: Web) -> None:
    c = web.client()
    login(c, "anna.berzina", "agent-demo-1")
    assert "Pieņemt zvanus" in c.get("/desktop").text
    r = c.post("/settings/language", data={"language": "xx", "csrf_token": csrf_of(c,
               "/settings")})
    assert r.status_code == 422 and 'data-error-for="language"' in r.text
    c.post("/settings/language", data={"language": "en", "csrf_token": csrf_of(c, "/settings")})
    assert "Receive calls" in c.get("/desktop").text
    other = web.client()
    login(other, "martins.ozols", "agent-demo-1")
    assert "Pieņemt zvanus" in other.get("/desktop").text


def test_many_failures_from_one_address_are_slowed_down(web: Web) -> None:
    from zvans.web.security import AddressLimiter

    web.z.services["web_login_limiter"] = AddressLimiter(limit=3, window_s=3600)
    c = web.client()
    for name in ("nobody1", "nobody2", "nobody3"):
        r = c.post("/login", data={"username": name, "password": "x-wrong-1",
                                   "csrf_token": csrf_of(c)})
        assert r.status_code == 401
    r = c.post("/login", data={"username": "anna.berzina", "password": "agent-demo-1",
                               "csrf_token": csrf_of(c)})
    assert r.status_code == 429 and 'data-error-for="_form"' in r.text


def test_changing_ones_own_password(web: Web) -> None:
    c = web.client()
    login(c, "anna.berzina", "agent-demo-1")
    elsewhere = web.client()
    login(elsewhere, "anna.berzina", "agent-demo-1")
    token = csrf_of(c, "/settings")
    r = c.post("/settings/password", data={"current": "wrong-one", "password": "new-pass-123",
                                           "password2": "new-pass-123", "csrf_token": token})
    assert r.status_code == 422 and 'data-error-for="current"' in r.text
    r = c.post("/settings/password", data={"current": "agent-demo-1", "password": "short",
                                           "password2": "short", "csrf_token": token})
    assert r.status_code == 422 and 'data-error-for="password"' in r.text
    r = c.post("/settings/password", data={"current": "agent-demo-1",
                                           "password": "new-pass-123",
                                           "password2": "new-pass-124", "csrf_token": token})
    assert r.status_code == 422 and 'data-error-for="password2"' in r.text
    r = c.post("/settings/password", data={"current": "agent-demo-1",
                                           "password": "new-pass-123",
                                           "password2": "new-pass-123", "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303
    assert c.get("/desktop").status_code == 200  # this session goes on
    assert elsewhere.get("/desktop", follow_redirects=False).status_code == 303  # others end
    other = web.client()
    r = other.post("/login", data={"username": "anna.berzina", "password": "agent-demo-1",
                                   "csrf_token": csrf_of(other)})
    assert r.status_code == 401
    login(web.client(), "anna.berzina", "new-pass-123")
