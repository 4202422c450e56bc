"""The campaign pages and JSON API through HTTP (httpx via Starlette's TestClient) on the
real application from ``create_app``, on both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.campaigns.support import PASSWORD, Org, csv_bytes, make_org
from zvans.app import Zvans
from zvans.store.models import CampaignContact, Event, Interaction
from zvans.web.app import create_app

CSV = ("\ufeffphone;name;city\n+37120000001;Anna;Riga\n+37120000002;Berta;Cesis\n"
       "+37120000003;Cilda;Liepaja\n+37120000004;Dace;Ogre\n")


class Web:
    """A signed-in browser-like client: keeps the cookie and sends the CSRF header."""

    def __init__(self, z: Zvans, username: str) -> None:
        self.client = TestClient(create_app(z), base_url="http://127.0.0.1")
        page = self.client.get("/login")
        token = _csrf(page.text)
        r = self.client.post("/login", data={"username": username, "password": PASSWORD,
                                             "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        self.csrf = _csrf(self.client.get("/settings").text)

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.client.post(url, headers=headers, **kw)

    def close(self) -> None:
        self.client.close()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "no csrf token on the page"
    return match.group(1)


@pytest.fixture
def org(zv: Zvans) -> Org:
    return make_org(zv)


@pytest.fixture
def web(zv: Zvans) -> Iterator[dict[str, Web]]:
    clients: dict[str, Web] = {}

    class Lazy(dict[str, Web]):
        def __missing__(self, username: str) -> Web:
            clients[username] = Web(zv, username)
            return clients[username]

    yield Lazy()
    for c in clients.values():
        c.close()


def create(sup: Web, org: Org, name: str = "Survey") -> int:
    r = sup.post("/api/v1/campaigns", json={"name": name, "queue_id": org.queue_id})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def upload(sup: Web, cid: int, data: bytes, **params: Any) -> Any:
    return sup.post(f"/api/v1/campaigns/{cid}/contacts", params=params,
                    files={"file": ("list.csv", data, "text/csv")})


def test_supervisor_flow_and_agent_preview_call_result(zv: Zvans, org: Org,
                                                       web: dict[str, Web]) -> None:
    sup = web["acme.super"]
    cid = create(sup, org)
    r = upload(sup, cid, csv_bytes(CSV))
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 4 and r.json()["delimiter"] == ";"
    a1, a2 = org.agent_ids
    r = sup.post(f"/api/v1/campaigns/{cid}/assign", json={"agent_ids": [a1, a2]})
    assert r.json()["assigned"] == {str(a1): 2, str(a2): 2}
    assert sup.post(f"/api/v1/campaigns/{cid}/state", json={"state": "active"}).status_code \
        == 200

    agent = web["acme.agent1"]
    listed = agent.get("/api/v1/campaigns").json()["items"]
    assert [(c["id"], c["open"]) for c in listed] == [(cid, 2)]
    contact = agent.post(f"/api/v1/campaigns/{cid}/next").json()["contact"]
    assert contact["name"] == "Anna" and contact["data"] == {"city": "Riga"}
    r = agent.post(f"/api/v1/campaign-contacts/{contact['id']}/call")
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "telephony-not-running"
    iid = error["details"]["interaction_id"]
    with zv.sessions() as s:
        call = s.get(Interaction, iid)
        assert call is not None
        assert (call.direction, call.caller, call.callee, call.agent_id) == (
            "out", "+37167000000", "+37120000001", a1)
        assert call.outcome == "not_connected" and call.ended_at is not None
        ev = s.scalars(select(Event).where(Event.interaction_id == iid)).one()
        assert ev.type == "arrived" and ev.data["direction"] == "out"
    r = agent.post(f"/api/v1/campaign-contacts/{contact['id']}/result",
                   json={"result_code": "BOGUS"})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "result_code"
    r = agent.post(f"/api/v1/campaign-contacts/{contact['id']}/result",
                   json={"result_code": "INTERESTED", "comment": "wants a brochure"})
    assert r.status_code == 200 and r.json()["contact"]["state"] == "done"
    following = agent.post(f"/api/v1/campaigns/{cid}/next").json()["contact"]
    assert following["name"] == "Cilda"  # a1's second contact (even split: 1st and 3rd)

    progress = sup.get(f"/api/v1/campaigns/{cid}/progress").json()
    assert progress["total"] == 4 and progress["closed"] == 1
    assert progress["by_result"]["INTERESTED"] == 1
    assert {p["agent_id"]: p["done"] for p in progress["per_agent"]} == {a1: 1, a2: 0}
    page = sup.get(f"/campaigns/{cid}")
    assert page.status_code == 200 and "1 of 4 contacts closed" in page.text


def test_telephony_service_is_asked_to_dial(zv: Zvans, org: Org,
                                            web: dict[str, Web]) -> None:
    dialed: list[tuple[Any, ...]] = []

    class Telephony:  # stands in for the B2BUA's click-to-call entry point only
        def click_to_call(self, org_id: int, user_id: int, number: str, queue_id: int,
                          *, interaction_id: int | None = None) -> dict[str, str]:
            dialed.append((org_id, user_id, number, queue_id, interaction_id))
            return {"state": "ringing-agent"}

    zv.services["telephony"] = Telephony()
    sup = web["acme.super"]
    cid = create(sup, org)
    upload(sup, cid, csv_bytes("phone\n+37120000001\n"))
    sup.post(f"/api/v1/campaigns/{cid}/state", json={"state": "active"})
    agent = web["acme.agent2"]
    contact = agent.post(f"/api/v1/campaigns/{cid}/next").json()["contact"]
    r = agent.post(f"/api/v1/campaign-contacts/{contact['id']}/call")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["telephony"] == {"state": "ringing-agent"}
    assert dialed == [(org.id, org.agent_ids[1], "+37120000001", org.queue_id,
                       body["interaction_id"])]
    with zv.sessions() as s:
        call = s.get(Interaction, body["interaction_id"])
        assert call is not None and call.ended_at is None  # telephony owns it now


def test_bad_csv_reports_the_line_and_imports_nothing(zv: Zvans, org: Org,
                                                      web: dict[str, Web]) -> None:
    sup = web["acme.super"]
    cid = create(sup, org)
    lines = ["phone,name"] + [f"+3712000000{i},C{i}" for i in range(1, 6)] + ["+371-abc,Bad"]
    r = upload(sup, cid, csv_bytes("\n".join(lines)))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "csv-invalid"
    assert [e["line"] for e in err["details"]["errors"]] == [7]
    with zv.sessions() as s:
        assert s.scalars(select(CampaignContact)).all() == []
    r = upload(sup, cid, csv_bytes("\n".join(lines)), valid_only="true")
    assert r.status_code == 201 and r.json()["imported"] == 5
    # the page form shows the same report with line numbers
    page = sup.post(f"/campaigns/{cid}/upload",
                    files={"file": ("l.csv", csv_bytes("phone\n+37120000001\n"), "text/csv")},
                    data={"csrf_token": sup.csrf})
    assert page.status_code == 422
    assert 'data-line="2"' in page.text and "already in this campaign" in page.text


def test_roles_csrf_and_isolation(zv: Zvans, org: Org, web: dict[str, Web]) -> None:
    other = make_org(zv, "other")
    sup = web["acme.super"]
    cid = create(sup, org)
    upload(sup, cid, csv_bytes("phone\n+37120000001\n+37120000002\n"))
    sup.post(f"/api/v1/campaigns/{cid}/assign", json={"agent_ids": [org.agent_ids[0]]})
    sup.post(f"/api/v1/campaigns/{cid}/state", json={"state": "active"})
    # agents cannot manage
    agent = web["acme.agent1"]
    assert agent.post("/api/v1/campaigns", json={"name": "x", "queue_id": org.queue_id}
                      ).status_code == 403
    assert agent.get(f"/api/v1/campaigns/{cid}/progress").status_code == 403
    assert agent.get(f"/campaigns/{cid}").status_code == 403
    # an admin manages and watches, but does not take contacts
    admin = web["acme.admin"]
    assert admin.get(f"/api/v1/campaigns/{cid}/progress").json()["total"] == 2
    assert admin.post(f"/api/v1/campaigns/{cid}/next").status_code == 403
    assert admin.get("/campaigns").status_code == 200
    # the other agent sees nothing of agent1's
    agent2 = web["acme.agent2"]
    assert agent2.post(f"/api/v1/campaigns/{cid}/next").json()["contact"] is None
    mine = agent.post(f"/api/v1/campaigns/{cid}/next").json()["contact"]
    r = agent2.post(f"/api/v1/campaign-contacts/{mine['id']}/call")
    assert r.status_code == 404
    r = agent2.post(f"/api/v1/campaign-contacts/{mine['id']}/result",
                    json={"result_code": "REACHED"})
    assert r.status_code == 404
    assert agent2.post(f"/api/v1/campaign-contacts/{mine['id']}/release").status_code == 404
    # a supervisor may put back a contact an agent left open
    r = sup.post(f"/api/v1/campaign-contacts/{mine['id']}/release")
    assert r.status_code == 200 and r.json()["contact"]["state"] == "pending"
    assert r.json()["contact"]["agent_id"] == org.agent_ids[0]
    mine = agent.post(f"/api/v1/campaigns/{cid}/next").json()["contact"]
    # another organisation: 404 everywhere, as for a missing campaign
    osup = web["other.super"]
    assert osup.get(f"/api/v1/campaigns/{cid}").status_code == 404
    assert osup.get(f"/campaigns/{cid}").status_code == 404
    assert upload(osup, cid, csv_bytes("phone\n+37120000009\n")).status_code == 404
    assert osup.post(f"/api/v1/campaigns/{cid}/assign", json={}).status_code == 404
    assert osup.get("/api/v1/campaigns").json()["items"] == []
    oagent = web["other.agent1"]
    assert oagent.post(f"/api/v1/campaigns/{cid}/next").status_code == 404
    assert oagent.post(f"/api/v1/campaign-contacts/{mine['id']}/call").status_code == 404
    assert osup.post(f"/api/v1/campaign-contacts/{mine['id']}/release").status_code == 404
    # CSRF: without the header nothing changes
    r = sup.client.post(f"/api/v1/campaigns/{cid}/state", json={"state": "paused"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf-failed"
    r = sup.client.post(f"/campaigns/{cid}/state", data={"state": "paused"})
    assert r.status_code == 403
    assert sup.get(f"/api/v1/campaigns/{cid}").json()["state"] == "active"
    assert other.id != org.id


def test_pages_create_upload_assign_work(zv: Zvans, org: Org, web: dict[str, Web]) -> None:
    sup = web["acme.super"]
    r = sup.post("/campaigns/new", data={"csrf_token": sup.csrf, "name": "", "queue_id": "",
                                          "result_codes": "OK | Fine"})
    assert r.status_code == 422 and 'data-error-for="name"' in r.text
    r = sup.post("/campaigns/new", data={"csrf_token": sup.csrf, "name": "Page campaign",
                                          "queue_id": str(org.queue_id), "max_attempts": "2",
                                          "result_codes": "OK | Fine\nNA | No answer | retry"},
                 follow_redirects=False)
    assert r.status_code == 303
    cid = int(r.headers["location"].rsplit("/", 1)[1])
    r = sup.post(f"/campaigns/{cid}/upload", data={"csrf_token": sup.csrf},
                 files={"file": ("l.csv", csv_bytes(CSV), "text/csv")},
                 follow_redirects=False)
    assert r.status_code == 303
    r = sup.post(f"/campaigns/{cid}/assign", data={"csrf_token": sup.csrf, "mode": "chosen",
                                                    "agent_ids": [str(org.agent_ids[1])]},
                 follow_redirects=False)
    assert r.status_code == 303
    sup.post(f"/campaigns/{cid}/state", data={"csrf_token": sup.csrf, "state": "active"})
    agent = web["acme.agent2"]
    assert "Page campaign" in agent.get("/campaigns").text
    work = agent.get(f"/campaigns/{cid}/work").text
    assert 'data-action="next"' in work
    agent.post(f"/campaigns/{cid}/work/next", data={"csrf_token": agent.csrf})
    work = agent.get(f"/campaigns/{cid}/work").text
    assert "Anna" in work and "Riga" in work
    contact_id = int(re.search(r'data-contact="(\d+)"', work).group(1))  # type: ignore[union-attr]
    r = agent.post(f"/campaigns/contacts/{contact_id}/call", data={"csrf_token": agent.csrf})
    assert "Telephony is not running" in r.text  # flash on the page it redirects to
    r = agent.post(f"/campaigns/contacts/{contact_id}/result",
                   data={"csrf_token": agent.csrf, "result_code": ""})
    assert r.status_code == 422 and 'data-error-for="result_code"' in r.text
    r = agent.post(f"/campaigns/contacts/{contact_id}/result",
                   data={"csrf_token": agent.csrf, "result_code": "OK", "comment": "fine"})
    assert r.status_code == 200 and "Berta" in r.text and "Result saved" in r.text


def test_edit_campaign_keeps_used_result_codes_and_audits(zv: Zvans, org: Org,
                                                          web: dict[str, Web]) -> None:
    from zvans.store.models import AuditEntry

    sup = web["acme.super"]
    cid = create(sup, org)
    upload(sup, cid, csv_bytes("phone\n+37120000001\n"))
    sup.post(f"/api/v1/campaigns/{cid}/state", json={"state": "active"})
    agent = web["acme.agent1"]
    contact = agent.post(f"/api/v1/campaigns/{cid}/next").json()["contact"]
    agent.post(f"/api/v1/campaign-contacts/{contact['id']}/result",
               json={"result_code": "REFUSED"})
    r = sup.client.patch(f"/api/v1/campaigns/{cid}", headers={"X-CSRF-Token": sup.csrf},
                         json={"result_codes": [{"code": "OK", "name": "Fine"}]})
    assert r.status_code == 422 and "REFUSED" in r.json()["error"]["message"]
    assert sup.get(f"/api/v1/campaigns/{cid}").json()["result_codes"][2]["code"] == "REFUSED"
    r = sup.client.patch(f"/api/v1/campaigns/{cid}", headers={"X-CSRF-Token": sup.csrf},
                         json={"name": "Renamed", "max_attempts": 5})
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    page = sup.get(f"/campaigns/{cid}/edit")
    assert page.status_code == 200 and "REFUSED | Not interested" in page.text
    r = sup.post(f"/campaigns/{cid}/edit", data={
        "csrf_token": sup.csrf, "name": "Renamed again", "queue_id": str(org.queue_id),
        "max_attempts": "4", "result_codes": "REFUSED | Said no\nNEW | New code"},
        follow_redirects=False)
    assert r.status_code == 303
    body = sup.get(f"/api/v1/campaigns/{cid}").json()
    assert body["name"] == "Renamed again" and body["max_attempts"] == 4
    assert [c["code"] for c in body["result_codes"]] == ["REFUSED", "NEW"]
    with zv.sessions() as s:
        actions = [a.action for a in s.scalars(
            select(AuditEntry).where(AuditEntry.target == f"campaign:{cid}")
            .order_by(AuditEntry.id))]
    assert actions == ["campaign.create", "campaign.upload", "campaign.state",
                       "campaign.update", "campaign.update"]


@pytest.mark.parametrize("kind", ["async", "raises"])
def test_async_and_failing_telephony(zv: Zvans, org: Org, web: dict[str, Web],
                                     kind: str) -> None:
    calls: list[str] = []

    class AsyncTelephony:
        async def click_to_call(self, org_id: int, user_id: int, number: str,
                                queue_id: int) -> str:
            calls.append(number)
            return "queued"

    class BrokenTelephony:
        def click_to_call(self, org_id: int, user_id: int, number: str,
                          queue_id: int) -> None:
            calls.append(number)
            raise RuntimeError("trunk down")

    zv.services["telephony"] = AsyncTelephony() if kind == "async" else BrokenTelephony()
    sup = web["acme.super"]
    cid = create(sup, org)
    upload(sup, cid, csv_bytes("phone\n+37120000001\n"))
    sup.post(f"/api/v1/campaigns/{cid}/state", json={"state": "active"})
    agent = web["acme.agent1"]
    contact = agent.post(f"/api/v1/campaigns/{cid}/next").json()["contact"]
    r = agent.post(f"/api/v1/campaign-contacts/{contact['id']}/call")
    assert calls == ["+37120000001"]
    if kind == "async":
        assert r.status_code == 200 and r.json()["telephony"] == "queued"
        iid = r.json()["interaction_id"]
    else:
        assert r.status_code == 502 and r.json()["error"]["code"] == "call-failed"
        iid = r.json()["error"]["details"]["interaction_id"]
    with zv.sessions() as s:
        call = s.get(Interaction, iid)
        assert call is not None and call.direction == "out"
        assert call.outcome == ("" if kind == "async" else "failed")


def test_export_has_results_and_no_formulas(zv: Zvans, org: Org, web: dict[str, Web]) -> None:
    import csv
    import io

    sup = web["acme.super"]
    cid = create(sup, org)
    upload(sup, cid, csv_bytes("phone;name;note\n+37120000001;=HYPERLINK(\"x\");hi\n"
                               "+37120000002;Berta;\n"))
    sup.post(f"/api/v1/campaigns/{cid}/state", json={"state": "active"})
    agent = web["acme.agent1"]
    contact = agent.post(f"/api/v1/campaigns/{cid}/next").json()["contact"]
    agent.post(f"/api/v1/campaign-contacts/{contact['id']}/result",
               json={"result_code": "REFUSED", "comment": "@no thanks"})
    r = sup.get(f"/campaigns/{cid}/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["line", "phone", "name", "note"]
    assert rows[1][:4] == ["2", "+37120000001", "'=HYPERLINK(\"x\")", "hi"]
    assert rows[1][4:9] == ["Agent1 Acme", "done", "REFUSED", "Not interested",
                            "'@no thanks"]
    assert rows[2][5] == "pending"
    assert web["acme.agent1"].get(f"/campaigns/{cid}/export.csv").status_code == 403
    make_org(zv, "other")
    assert web["other.super"].get(f"/campaigns/{cid}/export.csv").status_code == 404
