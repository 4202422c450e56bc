"""A web app on a migrated database with the demo organisation, driven by a real HTTP client
(Starlette's TestClient runs the ASGI app in-process, with the lifespan)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from zvans import demo
from zvans.app import Zvans
from zvans.store.models import Organisation, User
from zvans.web.app import create_app

CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


@dataclass
class Web:
    z: Zvans
    app_client: TestClient

    def client(self) -> TestClient:
        return TestClient(self.app_client.app, base_url="http://127.0.0.1")

    def user_id(self, username: str) -> int:
        with self.z.sessions() as s:
            uid = s.scalar(select(User.id).where(User.username == username))
            assert uid is not None
            return uid

    def org_id(self, slug: str = "demo") -> int:
        with self.z.sessions() as s:
            oid = s.scalar(select(Organisation.id).where(Organisation.slug == slug))
            assert oid is not None
            return oid


def csrf_of(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    match = CSRF_RE.search(page.text)
    assert match, f"no csrf token on {path}"
    return match.group(1)


def login(client: TestClient, username: str, password: str) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    token = csrf_of(client)
    r = client.post("/login", data={"username": username, "password": password,
                                     "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return csrf_of(client, "/settings")


@pytest.fixture
def web(zv: Zvans) -> Iterator[Web]:
    with zv.sessions.begin() as s:
        demo.load_demo(s)
    app = create_app(zv)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Web(zv, client)


DEMO_PASSWORDS = {"admin": "admin-demo-1", "supervisor": "super-demo-1",
                  "anna.berzina": "agent-demo-1", "martins.ozols": "agent-demo-1"}


def signed_in(web: Web, username: str) -> tuple[TestClient, str]:
    """A fresh client signed in as a demo user, and its CSRF token."""
    client = web.client()
    token = login(client, username, DEMO_PASSWORDS[username])
    return client, token


def ws_headers(client: TestClient) -> dict[str, str]:
    """The session cookie for a WebSocket handshake (TestClient does not send the jar)."""
    return {"cookie": f"zvans_session={client.cookies['zvans_session']}"}
