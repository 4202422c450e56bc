"""The live WebSocket: events carry their sequence id, a reconnect replays what was missed,
a client too far behind gets a snapshot, and the socket's presence is desktop_connected."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.integration.web.conftest import Web, signed_in, ws_headers
from zvans.web.routes import ws as ws_module


def desktop_connected(client: Any) -> bool:
    """The agent's desktop flag, once the closing socket's handler has finished."""
    value = True
    for _ in range(100):  # bounded: the handler's last step runs in a worker thread
        value = bool(client.get("/api/v1/agents/me").json()["desktop_connected"])
        if not value:
            break
        time.sleep(0.05)
    return value


def next_event(conn: Any, kind: str = "event") -> dict[str, Any]:
    for _ in range(50):
        msg = conn.receive_json()
        if msg["kind"] == kind:
            return dict(msg)
    raise AssertionError(f"no {kind} message")


def test_unauthenticated_socket_is_closed(web: Web) -> None:
    with web.client().websocket_connect("/ws") as conn:
        assert conn.receive_json() == {"kind": "error", "code": "login-required"}
        with pytest.raises(WebSocketDisconnect) as info:
            conn.receive_json()
        assert info.value.code == 4401


def test_presence_resume_and_snapshot(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    agent, token = signed_in(web, "anna.berzina")
    h = {"X-CSRF-Token": token}
    agent.post("/api/v1/agents/me/login", headers=h)
    assert agent.get("/api/v1/agents/me").json()["desktop_connected"] is False
    with agent.websocket_connect("/ws", headers=ws_headers(agent)) as conn:
        snap = next_event(conn, "snapshot")
        # The socket itself made the desktop connected before the snapshot was taken.
        assert snap["agent"]["availability"] == "ready"
        assert snap["agent"]["desktop_connected"] is True
        assert agent.get("/api/v1/agents/me").json()["desktop_connected"] is True
        agent.post("/api/v1/agents/me/pause", json={"reason": "lunch"}, headers=h)
        paused = next_event(conn)
        assert paused["event"]["type"] == "agent_paused" and paused["id"] > snap["id"]
        last_seen = paused["id"]
    # Closing the only tab is losing the desktop.
    assert desktop_connected(agent) is False
    # While away: two more events. Reconnecting with the last id replays exactly those.
    agent.post("/api/v1/agents/me/ready", headers=h)
    agent.post("/api/v1/agents/me/pause", json={"reason": "training"}, headers=h)
    with agent.websocket_connect(f"/ws?last_id={last_seen}", headers=ws_headers(agent)) as conn:
        replayed = [next_event(conn) for _ in range(3)]
        types = [m["event"]["type"] for m in replayed]
        assert types[:3] == ["desktop_lost", "agent_ready", "agent_paused"]
        ids = [m["id"] for m in replayed]
        assert ids == sorted(ids) and ids[0] > last_seen
        assert replayed[2]["event"]["data"].get("reason") == "training"
    # Too far behind: a snapshot instead of a replay.
    monkeypatch.setattr(ws_module, "REPLAY_LIMIT", 2)
    with agent.websocket_connect("/ws?last_id=0", headers=ws_headers(agent)) as conn:
        snap = next_event(conn, "snapshot")
        assert snap["agent"]["availability"] == "paused"
        assert snap["id"] >= ids[-1]


def test_two_tabs_do_not_flap_the_desktop_state(web: Web) -> None:
    agent, token = signed_in(web, "anna.berzina")
    agent.post("/api/v1/agents/me/login", headers={"X-CSRF-Token": token})
    with agent.websocket_connect("/ws", headers=ws_headers(agent)) as one:
        next_event(one, "snapshot")
        with agent.websocket_connect("/ws", headers=ws_headers(agent)) as two:
            next_event(two, "snapshot")
        assert agent.get("/api/v1/agents/me").json()["desktop_connected"] is True
    assert desktop_connected(agent) is False


def test_supervisor_sees_the_organisation_and_only_it(web: Web) -> None:
    boss, _btoken = signed_in(web, "supervisor")
    agent, token = signed_in(web, "anna.berzina")
    with boss.websocket_connect("/ws", headers=ws_headers(boss)) as conn:
        snap = next_event(conn, "snapshot")
        assert snap["wallboard"] is not None and snap["wallboard"]["queues"]
        agent.post("/api/v1/agents/me/login", headers={"X-CSRF-Token": token})
        msg = next_event(conn)
        assert msg["event"]["type"] == "agent_login"
        assert msg["event"]["agent_id"] == web.user_id("anna.berzina")
        assert msg["event"]["org_id"] == web.org_id()


def test_a_slow_tab_is_closed_not_waited_for(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    from zvans.eventbus import LoggedEvent
    from zvans.store.types import utcnow

    monkeypatch.setattr(ws_module, "QUEUE_SIZE", 2)
    boss, _token = signed_in(web, "supervisor")
    org_id = web.org_id()
    with boss.websocket_connect("/ws", headers=ws_headers(boss)) as conn:
        next_event(conn, "snapshot")
        # More events at once than the connection's queue holds: the publisher does not wait.
        web.z.bus.publish([LoggedEvent(id=10_000 + i, at=utcnow(), org_id=org_id,
                                       type="agent_ready") for i in range(5)])
        with pytest.raises(WebSocketDisconnect) as info:
            for _ in range(10):
                conn.receive_json()
        assert info.value.code == 4000
