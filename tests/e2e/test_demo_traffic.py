"""`zvans serve --demo-traffic` brings the real ACD to life: simulated callers are answered
by simulated agents, visible on the supervisor's wallboard API, flagged as simulated."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, "--demo-traffic")
    yield srv
    stop_server(srv)


def sign_in(client: httpx.Client, username: str, password: str) -> str:
    import re

    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
    assert token
    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": token.group(1)})
    assert r.status_code in (200, 303)
    return token.group(1)


def test_demo_traffic_answers_simulated_calls(demo_server: Server) -> None:
    with httpx.Client(base_url=demo_server.base_url, timeout=10) as client:
        sign_in(client, "supervisor", "super-demo-1")
        answered = 0
        deadline = time.monotonic() + 90  # a bound on the wait, not a speed requirement
        while time.monotonic() < deadline:
            board = client.get("/api/v1/wallboard")
            assert board.status_code == 200, board.text
            answered = sum(q["answered_today"] for q in board.json()["queues"])
            if answered >= 1:
                break
            time.sleep(0.5)
        assert answered >= 1, demo_server.log()[-3000:]
        agents = board.json()["agents"]
        assert any(a["availability"] != "logged_out" for a in agents)
    rows = demo_server.sql("SELECT count(*), sum(CASE WHEN simulated THEN 1 ELSE 0 END) "
                           "FROM interaction")
    total, simulated = rows[0]
    assert total >= 1 and simulated == total
