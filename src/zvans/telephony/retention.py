"""Recording retention: delete call recordings and voice messages older than the
organisation's ``recording_retention_days`` and clear ``Interaction.recording_ref``.

Runs hourly inside `zvans serve` (the telephony starter). A retention of 0 days keeps
recordings forever. Files already gone are not an error (someone cleaned up by hand).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from zvans.app import Zvans
from zvans.store.models import Interaction, Organisation

log = logging.getLogger(__name__)
BATCH = 500


def purge_recordings(z: Zvans, now: datetime | None = None) -> int:
    """Delete expired recordings of every organisation; the number of files removed."""
    now = now or datetime.now(UTC)
    data_dir = Path(z.settings.data_dir).resolve()
    removed = 0
    with z.sessions() as session:
        policies = list(session.execute(
            select(Organisation.id, Organisation.recording_retention_days)))
    for org_id, days in policies:
        if not days or days <= 0:
            continue
        cutoff = now - timedelta(days=days)
        while True:
            with z.sessions.begin() as session:
                rows = list(session.scalars(
                    select(Interaction).where(
                        Interaction.org_id == org_id,
                        Interaction.recording_ref.is_not(None),
                        Interaction.started_at < cutoff,
                    ).limit(BATCH)))
                for row in rows:
                    ref = row.recording_ref or ""
                    path = (data_dir / ref).resolve()
                    if path.is_relative_to(data_dir):  # never outside data_dir
                        path.unlink(missing_ok=True)
                        removed += 1
                    row.recording_ref = None
            if len(rows) < BATCH:
                break
    if removed:
        log.info("retention: deleted %d recordings", removed)
    return removed
