"""The JSON API: OpenAPI schema, error shape, the agent's own state, call controls, stats."""

from __future__ import annotations

from tests.integration.web.conftest import Web, signed_in


def test_openapi_lists_the_api(web: Web) -> None:
    schema = web.client().get("/openapi.json").json()
    for path in ("/api/v1/requests", "/api/v1/requests/{request_id}", "/api/v1/wrapup-codes",
                 "/api/v1/agents/me", "/api/v1/unanswered", "/api/v1/customers/card",
                 "/api/v1/calls/simulate"):
        assert path in schema["paths"], path


def test_errors_have_one_shape(web: Web) -> None:
    client, token = signed_in(web, "anna.berzina")
    for r in (client.get("/api/v1/nothing-here"),
              client.get("/api/v1/requests/999999"),
              client.post("/api/v1/requests", content=b"{not json",
                          headers={"X-CSRF-Token": token, "Content-Type": "application/json"}),
              client.get("/api/v1/customers/card")):
        body = r.json()
        assert r.status_code >= 400
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "details"}, body


def test_agent_state_commands(web: Web) -> None:
    client, token = signed_in(web, "anna.berzina")
    h = {"X-CSRF-Token": token}
    me = client.get("/api/v1/agents/me").json()
    assert me["availability"] == "logged_out" and me["extension"] == "101"
    me = client.post("/api/v1/agents/me/login", headers=h).json()
    assert me["availability"] == "ready"
    r = client.post("/api/v1/agents/me/pause", json={"reason": "nap"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "reason"
    me = client.post("/api/v1/agents/me/pause", json={"reason": "lunch"}, headers=h).json()
    assert me["availability"] == "paused" and me["pause_reason"] == "lunch"
    me = client.post("/api/v1/agents/me/ready", headers=h).json()
    assert me["availability"] == "ready"
    r = client.post("/api/v1/agents/me/ready", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid-transition"
    r = client.post("/api/v1/agents/me/fly", headers=h)
    assert r.status_code == 404
    r = client.put("/api/v1/agents/me/ring-target", json={"ring_target": "call me maybe"},
                   headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "ring_target"
    me = client.put("/api/v1/agents/me/ring-target", json={"ring_target": "+371 2612 3456"},
                    headers=h).json()
    assert me["ring_target"] == "+37126123456"
    me = client.put("/api/v1/agents/me/ring-target", json={"ring_target": ""}, headers=h).json()
    assert me["ring_target"] == ""
    me = client.post("/api/v1/agents/me/logout", headers=h).json()
    assert me["availability"] == "logged_out"


def test_a_pause_during_a_call_waits_for_the_call_to_end(web: Web) -> None:
    agent, token = signed_in(web, "anna.berzina")
    admin, atoken = signed_in(web, "admin")
    h = {"X-CSRF-Token": token}
    agent.post("/api/v1/agents/me/login", headers=h)
    r = admin.post("/api/v1/calls/simulate", json={"queue": "Latvian", "caller": "+37120000005",
                                                   "ivr_topic": "payments"},
                   headers={"X-CSRF-Token": atoken})
    assert r.status_code == 201
    iid = r.json()["interaction_id"]
    me = agent.get("/api/v1/agents/me").json()
    assert me["activity"] == "ringing" and me["interaction_id"] == iid
    card = agent.get(f"/api/v1/customers/card?interaction_id={iid}").json()
    assert card["caller"] == "+37120000005" and card["ivr_topic"] == "payments"
    assert card["queue"] == "Latviešu"  # the queue's name in the user's language
    assert agent.post(f"/api/v1/calls/{iid}/answer", headers=h).status_code == 200
    for action in ("hold", "transfer", "conference"):
        r = agent.post(f"/api/v1/calls/{iid}/{action}", headers=h)
        assert r.status_code == 501 and r.json()["error"]["code"] == "telephony-unavailable"
    me = agent.post("/api/v1/agents/me/pause", json={"reason": "lunch"}, headers=h).json()
    assert me["pending_pause"] == "lunch" and me["activity"] == "on_call"
    assert agent.post(f"/api/v1/calls/{iid}/hangup", headers=h).status_code == 200
    me = agent.get("/api/v1/agents/me").json()
    assert me["activity"] == "wrap_up"
    agent.post("/api/v1/agents/me/wrapup-done", headers=h)
    me = agent.get("/api/v1/agents/me").json()
    assert me["availability"] == "paused" and me["pause_reason"] == "lunch"
    stats = agent.get("/api/v1/agents/me/stats").json()
    assert stats["offered"] == 1 and stats["answered"] == 1
    # An unknown queue or a bad number is refused with the field named.
    r = admin.post("/api/v1/calls/simulate", json={"queue": "Nowhere", "caller": "+3712"},
                   headers={"X-CSRF-Token": atoken})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "queue"
    r = admin.post("/api/v1/calls/simulate", json={"queue": "Latvian", "caller": "nobody"},
                   headers={"X-CSRF-Token": atoken})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "caller"


def test_wrapup_codes_come_in_configured_order_in_the_users_language(web: Web) -> None:
    client, _token = signed_in(web, "anna.berzina")
    items = client.get("/api/v1/wrapup-codes").json()["items"]
    assert [i["position"] for i in items] == sorted(i["position"] for i in items)
    assert items[0]["code"] == "REG" and items[0]["name"] == "Klientu reģistrācija un izmaiņas"
