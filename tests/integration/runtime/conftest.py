"""The runtime on a real database with the demo organisation, a virtual clock and a call
control that records what the ContactCenter asks of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from zvans import demo
from zvans.app import Zvans
from zvans.core.clock import VirtualClock
from zvans.runtime import ContactCenter, RecordingCallControl
from zvans.store import orgs, users
from zvans.store.models import Queue

T0 = 1_790_000_000.0  # a Tuesday in 2026, 14:13 UTC


@pytest.fixture
def setup(zv: Zvans) -> Iterator[tuple[ContactCenter, VirtualClock, RecordingCallControl, dict]]:
    with zv.sessions.begin() as s:
        demo.load_demo(s)
        org = orgs.get_org(s, demo.DEMO_ORG)
        ids = {
            "org": org.id,
            "anna": users.user_by_name(s, org.id, "anna.berzina").id,
            "martins": users.user_by_name(s, org.id, "martins.ozols").id,
            "admin": users.user_by_name(s, org.id, demo.ADMIN[0]).id,
            "lv": s.scalar(select(Queue.id).where(Queue.org_id == org.id,
                                                  Queue.language == "lv")),
        }
    clock = VirtualClock(T0)
    control = RecordingCallControl()
    cc = ContactCenter(zv, clock=clock, call_control=control)
    yield cc, clock, control, ids
