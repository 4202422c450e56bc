"""POST /api/v1/calls/click-to-call without telephony: validation, roles, CSRF, and a
clear 501 (telephony itself is tested with SIP peers in tests/integration/telephony)."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.integration.web.conftest import Web, signed_in
from zvans.store.models import Interaction, Queue

URL = "/api/v1/calls/click-to-call"


def _queue(web: Web) -> int:
    with web.z.sessions() as s:
        qid = s.scalar(select(Queue.id).order_by(Queue.id))
        assert qid is not None
        return qid


def test_click_to_call_validates_and_says_when_telephony_is_missing(web: Web) -> None:
    qid = _queue(web)
    client, token = signed_in(web, "anna.berzina")
    h = {"X-CSRF-Token": token}
    # anna works in Latvian: the messages come translated
    for number, message in (("12ab", "tikai cipari"), ("12", "no 3 līdz 15 cipariem"),
                            ("", "Ievadiet tālruņa numuru")):
        r = client.post(URL, json={"number": number, "queue": qid}, headers=h)
        assert r.status_code == 422, r.text
        body = r.json()["error"]
        assert body["details"]["field"] == "number" and message in body["message"]
    r = client.post(URL, json={"number": "+37129000077"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "queue"
    r = client.post(URL, json={"number": "+37129000077", "queue": qid})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf-failed"
    r = client.post(URL, json={"number": "+37129000077", "queue": qid}, headers=h)
    assert r.status_code == 501 and r.json()["error"]["code"] == "telephony-unavailable"
    admin, admin_token = signed_in(web, "admin")
    r = admin.post(URL, json={"number": "+37129000077", "queue": qid},
                   headers={"X-CSRF-Token": admin_token})
    assert r.status_code == 403
    with web.z.sessions() as s:  # nothing was recorded by any refusal
        assert s.scalar(select(func.count()).select_from(Interaction)) == 0


def test_the_desktop_follows_only_the_agents_own_outgoing_call(web: Web) -> None:
    from datetime import UTC, datetime, timedelta

    from zvans.store.models import User

    qid = _queue(web)
    with web.z.sessions.begin() as s:
        anna = s.scalar(select(User).where(User.username == "anna.berzina"))
        assert anna is not None
        start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        placed = Interaction(org_id=anna.org_id, channel="voice", direction="out",
                             caller="+37160000000", callee="+37129000077", queue_id=qid,
                             agent_id=anna.id, started_at=start)
        busy = Interaction(org_id=anna.org_id, channel="voice", direction="out",
                           caller="+37160000000", callee="+37129000078", queue_id=qid,
                           agent_id=anna.id, started_at=start,
                           ended_at=start + timedelta(seconds=9), outcome="busy")
        talked = Interaction(org_id=anna.org_id, channel="voice", direction="out",
                             caller="+37160000000", callee="+37129000079", queue_id=qid,
                             agent_id=anna.id, started_at=start,
                             answered_at=start + timedelta(seconds=8),
                             ended_at=start + timedelta(seconds=73, milliseconds=440),
                             outcome="answered")
        inbound = Interaction(org_id=anna.org_id, channel="voice", direction="in",
                              caller="+37129000080", callee="+37160000000", queue_id=qid,
                              agent_id=anna.id, started_at=start)
        s.add_all([placed, busy, talked, inbound])
        s.flush()
        ids = placed.id, busy.id, talked.id, inbound.id
    client, _ = signed_in(web, "anna.berzina")
    # no telephony in this app: a call not ended is still "dialing"
    assert client.get(f"{URL}/{ids[0]}").json() == {
        "interaction_id": ids[0], "number": "+37129000077", "state": "dialing",
        "outcome": None, "talk_s": None}
    assert client.get(f"{URL}/{ids[1]}").json()["outcome"] == "busy"
    ended = client.get(f"{URL}/{ids[2]}").json()
    assert (ended["state"], ended["outcome"], ended["talk_s"]) == ("ended", "answered", 65.4)
    for missing in (ids[3], 999999):  # an incoming call, no call at all
        r = client.get(f"{URL}/{missing}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "no-such-call"
    other, _ = signed_in(web, "martins.ozols")  # another agent: not theirs
    assert other.get(f"{URL}/{ids[0]}").status_code == 404
    admin, _ = signed_in(web, "admin")  # no agent role
    assert admin.get(f"{URL}/{ids[0]}").status_code == 403
