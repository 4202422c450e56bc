"""Voice messages are played in the browser; the first play counts as listened to."""

from __future__ import annotations

import wave

from sqlalchemy import func, select

from tests.integration.web.conftest import Web, signed_in
from zvans.runtime import attach
from zvans.store import orgs
from zvans.store.models import Event, Interaction, UnansweredEntry


def voicemail(web: Web, org_id: int, ref: str, write: bool = True) -> int:
    if write:
        path = web.z.settings.data_dir / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\x00\x01" * 8000)
    cc = attach(web.z)
    iid = cc.ivr_entered(org_id, "+37129000777", "+37160000000")
    return cc.voicemail_started(org_id, iid, ref)


def listened_events(web: Web) -> int:
    with web.z.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Event).where(
            Event.type == "voicemail_listened")) or 0)


def test_agent_plays_a_voice_message_and_it_counts_once(web: Web) -> None:
    entry = voicemail(web, web.org_id(), "voicemail/1/42.wav")
    client, _ = signed_in(web, "anna.berzina")
    page = client.get("/unanswered")
    assert f'src="/api/v1/unanswered/{entry}/voicemail"' in page.text
    for _ in range(2):
        r = client.get(f"/api/v1/unanswered/{entry}/voicemail")
        assert r.status_code == 200
        assert r.headers["content-type"] == "audio/wav"
        assert r.content[:4] == b"RIFF"
    assert listened_events(web) == 1
    with web.z.sessions() as s:
        row = s.get(UnansweredEntry, entry)
        assert row is not None and row.listened_by_user_id == web.user_id("anna.berzina")


def test_other_organisation_missing_file_and_path_escape_are_404(web: Web) -> None:
    with web.z.sessions.begin() as s:
        other = orgs.add_org(s, "other", "Other").id
    foreign = voicemail(web, other, "voicemail/2/1.wav")
    missing = voicemail(web, web.org_id(), "voicemail/1/none.wav", write=False)
    escape = voicemail(web, web.org_id(), "../../../etc/passwd", write=False)
    client, _ = signed_in(web, "anna.berzina")
    for entry in (foreign, missing, escape):
        r = client.get(f"/api/v1/unanswered/{entry}/voicemail")
        assert r.status_code == 404
        assert r.json()["error"]["code"] in ("no-such-voicemail", "voicemail-file-missing")
    assert listened_events(web) == 0
    admin, _ = signed_in(web, "admin")
    assert admin.get(f"/api/v1/unanswered/{missing}/voicemail").status_code == 403
    with web.z.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 3
