"""Requests: bad input changes nothing and names the field; edits keep history; the register
filters, searches, pages and exports; the unanswered register."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.web.conftest import Web, signed_in
from zvans.store.models import Request, RequestEdit, UnansweredEntry, WrapupCode
from zvans.store.types import utcnow


def codes(web: Web) -> dict[str, int]:
    with web.z.sessions() as s:
        return {c.code: c.id for c in s.scalars(select(WrapupCode))}


def count(web: Web, model: Any = Request) -> int:
    with web.z.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def post(client: TestClient, token: str, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/requests", json=body, headers={"X-CSRF-Token": token})


def test_bad_request_input_names_the_field_and_saves_nothing(web: Web) -> None:
    client, token = signed_in(web, "anna.berzina")
    c = codes(web)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"phone": "", "name": "Jānis"}, "phone"),
        ({"phone": "abc", "name": "Jānis"}, "phone"),
        ({"phone": "+37120000001", "name": "   "}, "name"),
        ({"phone": "+37120000001", "name": "x" * 201}, "name"),
        ({"phone": "+37120000001", "name": "Jānis", "wrapup_codes": [999999]}, "wrapup_codes"),
        ({"phone": "+37120000001", "name": "Jānis", "comment": "x" * 5001}, "comment"),
        ({"phone": "+37120000001", "name": "Jānis", "interaction_id": 424242},
         "interaction_id"),
        ({"phone": "+37120000001", "name": "Jānis", "wrapup_codes": ["abc"]}, "wrapup_codes"),
    ]
    for body, field in cases:
        r = post(client, token, body)
        assert r.status_code == 422, (body, r.text)
        err = r.json()["error"]
        assert err["details"]["field"] == field, (body, err)
        assert err["message"]
    assert count(web) == 0
    both = post(client, token, {"phone": "", "name": ""}).json()["error"]["details"]
    assert set(both["errors"]) == {"phone", "name"}
    ok = post(client, token, {"phone": "+371 2000 0001", "name": "Jānis",
                              "wrapup_codes": [c["PAYMENT"], c["REG"], c["REG"]]})
    assert ok.status_code == 201
    body = ok.json()
    assert body["phone"] == "+37120000001"
    assert [w["code"] for w in body["wrapup_codes"]] == ["REG", "PAYMENT"]


def test_edit_keeps_history_and_bad_edit_changes_nothing(web: Web) -> None:
    client, token = signed_in(web, "anna.berzina")
    c = codes(web)
    rid = post(client, token, {"phone": "+37120000001", "name": "Jānis",
                               "wrapup_codes": [c["REG"]], "comment": "first"}).json()["id"]
    r = client.post(f"/requests/{rid}", data={"phone": "12a", "name": "", "comment": "x",
                                              "wrapup_codes": [str(c["AREA"])],
                                              "csrf_token": token})
    assert r.status_code == 422
    assert 'data-error-for="phone"' in r.text and 'data-error-for="name"' in r.text
    assert count(web, RequestEdit) == 0
    r = client.post(f"/requests/{rid}", data={
        "phone": "+37120000002", "name": "Jānis Bērziņš", "comment": "second",
        "wrapup_codes": [str(c["AREA"]), str(c["FOREST"])], "csrf_token": token},
        follow_redirects=False)
    assert r.status_code == 303
    detail = client.get(f"/api/v1/requests/{rid}").json()
    assert detail["name"] == "Jānis Bērziņš" and detail["comment"] == "second"
    assert [w["code"] for w in detail["wrapup_codes"]] == ["AREA", "FOREST"]
    assert len(detail["history"]) == 1
    assert detail["history"][0]["before"]["comment"] == "first"
    assert detail["history"][0]["before"]["wrapup_codes"] == ["REG"]
    page = client.get(f"/requests/{rid}").text
    assert 'id="request-history"' in page and "first" in page
    # Another agent may read it but not change it; a supervisor may.
    other, otoken = signed_in(web, "martins.ozols")
    r = other.put(f"/api/v1/requests/{rid}", json={"phone": "+37120000003", "name": "X"},
                  headers={"X-CSRF-Token": otoken})
    assert r.status_code == 403
    boss, btoken = signed_in(web, "supervisor")
    r = boss.put(f"/api/v1/requests/{rid}", json={"phone": "+37120000003", "name": "Y",
                                                  "wrapup_codes": [c["OTHER"]]},
                 headers={"X-CSRF-Token": btoken})
    assert r.status_code == 200
    assert count(web, RequestEdit) == 2


def test_register_filters_search_pages_and_export(web: Web) -> None:
    anna, atoken = signed_in(web, "anna.berzina")
    martins, mtoken = signed_in(web, "martins.ozols")
    c = codes(web)
    for i in range(27):
        post(anna, atoken, {"phone": f"+3712000{i:04d}", "name": f"Client {i}",
                            "wrapup_codes": [c["AREA"]], "comment": f"note {i}"})
    post(martins, mtoken, {"phone": "+37129990000", "name": "Ozola klients",
                           "wrapup_codes": [c["FOREST"], c["PAYMENT"]],
                           "comment": "=HYPERLINK(\"http://x\")"})
    anna_id, martins_id = web.user_id("anna.berzina"), web.user_id("martins.ozols")

    def listing(**params: Any) -> Any:
        r = anna.get("/api/v1/requests", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    assert listing()["total"] == 28
    assert len(listing()["items"]) == 25 and len(listing(page=2)["items"]) == 3
    assert listing(wrapup_code=c["FOREST"])["total"] == 1
    assert listing(agent=martins_id)["total"] == 1
    assert listing(agent=anna_id)["total"] == 27
    assert listing(q="Meža")["total"] == 1          # a wrap-up code's Latvian name
    assert listing(q="payment status")["total"] == 1  # its English name, two words
    assert listing(q="Ozols")["total"] == 1          # the agent's surname
    assert listing(q="NOTE")["total"] == 27          # case does not matter
    assert listing(q="note klients")["total"] == 0   # every word must match
    assert listing(q="100_%")["total"] == 0          # LIKE wildcards are literal
    today = utcnow().date()
    assert listing(date_from=(today - timedelta(days=1)).isoformat(),
                   date_to=(today + timedelta(days=1)).isoformat())["total"] == 28
    assert listing(date_from=(today + timedelta(days=2)).isoformat())["total"] == 0
    bad = anna.get("/api/v1/requests", params={"date_from": "31.12.2026"})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "date_from"
    bad = anna.get("/api/v1/requests", params={"date_from": "2026-02-02",
                                               "date_to": "2026-02-01"})
    assert bad.json()["error"]["details"]["field"] == "date_to"
    page = anna.get("/requests", params={"date_from": "not-a-date"})
    assert page.status_code == 422 and 'data-error-for="date_from"' in page.text
    page = anna.get("/requests", params={"q": "Ozola"})
    assert "Ozola klients" in page.text and "Client 3<" not in page.text
    exported = anna.get("/requests/export.csv", params={"wrapup_code": c["FOREST"]})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert rows[0][0] == "id" and len(rows) == 2
    assert rows[1][3] == "Ozola klients"
    assert rows[1][8].startswith("'=")  # no formula injection into spreadsheets
    everything = anna.get("/requests/export.csv")
    assert len(list(csv.reader(io.StringIO(everything.text)))) == 29


def test_unanswered_register_lists_and_marks_rows(web: Web) -> None:
    org_id = web.org_id()
    with web.z.sessions.begin() as s:
        s.add(UnansweredEntry(org_id=org_id, caller="+37120000009", reason="abandoned",
                              duration_s=42))
    client, token = signed_in(web, "anna.berzina")
    listing = client.get("/api/v1/unanswered").json()
    assert listing["total"] == 1
    entry = listing["items"][0]
    assert entry["callback_state"] == "not_called_back" and not entry["resolved"]
    page = client.get("/unanswered").text
    assert "+37120000009" in page and "0:42" in page
    r = client.post(f"/api/v1/unanswered/{entry['id']}/callback",
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 501 and r.json()["error"]["code"] == "telephony-unavailable"
    r = client.post(f"/api/v1/unanswered/{entry['id']}/state",
                    json={"callback_state": "bogus"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 422
    r = client.post(f"/unanswered/{entry['id']}", data={"callback_state": "called_back",
                                                         "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/unanswered?open_only=true").json()["total"] == 0
    with web.z.sessions() as s:
        row = s.scalar(select(UnansweredEntry))
        assert row is not None and row.callback_state == "called_back"
        assert row.resolved_by_user_id == web.user_id("anna.berzina")


def test_unanswered_rows_resolve_when_the_client_calls_again(web: Web) -> None:
    cc = web.z.services["cc"]
    org_id = web.org_id()
    client, token = signed_in(web, "anna.berzina")
    with web.z.sessions() as s:
        from zvans.store.models import Queue

        queue_id = s.scalar(select(Queue.id).where(Queue.name == "Latvian"))
    # Nobody is logged in: the caller waits and hangs up — a row in the register.
    first = cc.call_arrived(org_id, queue_id, "+37120000042")
    cc.caller_abandoned(org_id, first)
    rows = client.get("/api/v1/unanswered?open_only=true").json()["items"]
    assert [(r["caller"], r["reason"], r["resolved"]) for r in rows] == [
        ("+37120000042", "abandoned", False)]
    # The client calls again and is answered: the row resolves by itself.
    client.post("/api/v1/agents/me/login", headers={"X-CSRF-Token": token})
    second = cc.call_arrived(org_id, queue_id, "+37120000042")
    cc.offer_answered(org_id, web.user_id("anna.berzina"), second)
    listing = client.get("/api/v1/unanswered").json()["items"]
    assert listing[0]["resolved"] is True
    assert listing[0]["callback_state"] == "client_called_back"
    assert client.get("/api/v1/unanswered?open_only=true").json()["total"] == 0


def test_saving_the_card_ends_a_wrapup_that_waits_for_it(web: Web) -> None:
    from zvans.store.models import Queue

    cc = web.z.services["cc"]
    org_id = web.org_id()
    with web.z.sessions.begin() as s:
        queue = s.scalar(select(Queue).where(Queue.name == "Latvian"))
        assert queue is not None
        queue.wrapup_until_card = True
        queue_id = queue.id
    cc.reload(org_id)
    client, token = signed_in(web, "anna.berzina")
    h = {"X-CSRF-Token": token}
    client.post("/api/v1/agents/me/login", headers=h)
    iid = cc.call_arrived(org_id, queue_id, "+37120000043")
    uid = web.user_id("anna.berzina")
    cc.offer_answered(org_id, uid, iid)
    cc.call_ended(org_id, iid)
    assert client.get("/api/v1/agents/me").json()["activity"] == "wrap_up"
    r = post(client, token, {"phone": "+37120000043", "name": "Kalns", "interaction_id": iid})
    assert r.status_code == 201
    assert r.json()["duration_s"] is not None and r.json()["queue"] == "Latviešu"
    me = client.get("/api/v1/agents/me").json()
    assert me["activity"] == "idle" and me["availability"] == "ready"
