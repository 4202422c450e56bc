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
