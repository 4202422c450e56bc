"""Recordings older than the organisation's retention are deleted (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from zvans.app import Zvans
from zvans.store import orgs
from zvans.store.models import Interaction
from zvans.telephony.retention import purge_recordings


def _call(session: object, org_id: int, started: datetime, ref: str | None) -> Interaction:
    row = Interaction(org_id=org_id, caller="+37120000000", started_at=started,
                      recording_ref=ref)
    session.add(row)  # type: ignore[attr-defined]
    return row


def test_expired_recordings_are_deleted_and_unreferenced(zv: Zvans) -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    data = Path(zv.settings.data_dir)
    files = {}
    for name in ("old", "new", "kept"):
        path = data / "recordings" / "x" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")
        files[name] = path
    with zv.sessions.begin() as session:
        short = orgs.add_org(session, "short", "Short retention")
        short.recording_retention_days = 30
        forever = orgs.add_org(session, "forever", "Keeps everything")
        forever.recording_retention_days = 0
        session.flush()
        _call(session, short.id, now - timedelta(days=31), "recordings/x/old.wav")
        _call(session, short.id, now - timedelta(days=29), "recordings/x/new.wav")
        _call(session, short.id, now - timedelta(days=40), "../outside.wav")
        _call(session, short.id, now - timedelta(days=40), "recordings/x/gone.wav")
        _call(session, forever.id, now - timedelta(days=400), "recordings/x/kept.wav")
    outside = data.parent / "outside.wav"
    outside.write_bytes(b"RIFF")

    removed = purge_recordings(zv, now)

    assert removed == 2  # old.wav, and gone.wav whose file was already missing
    assert not files["old"].exists()
    assert files["new"].exists() and files["kept"].exists()
    assert outside.exists()  # a reference outside data_dir is never followed
    with zv.sessions() as session:
        refs = sorted(r or "-" for r in session.scalars(select(Interaction.recording_ref)))
    assert refs == ["-", "-", "-", "recordings/x/kept.wav", "recordings/x/new.wav"]
    assert purge_recordings(zv, now) == 0  # nothing left to do
