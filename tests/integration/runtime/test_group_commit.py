"""Group commit (docs/decisions/0017-group-commit.md) on both engines: one transaction for
several commands, a failing command rolls back only itself, and nothing is published or
handed to call control before the commit."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from sqlalchemy import func, select

from zvans import demo
from zvans.app import Zvans
from zvans.core.acd import Ring
from zvans.core.clock import VirtualClock
from zvans.errors import ZvansError
from zvans.runtime import ContactCenter, RecordingCallControl
from zvans.runtime import contact_center as contact_center_module
from zvans.runtime.group_executor import GroupExecutor
from zvans.store import orgs, users
from zvans.store.models import Event, Interaction, Queue

T0 = 1_790_000_000.0  # a Tuesday in 2026, 14:13 UTC


def _interactions(zv: Zvans, caller: str) -> int:
    with zv.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Interaction)
                            .where(Interaction.caller == caller)) or 0)


def test_group_commits_once_and_rolls_back_only_the_failing_command(zv: Zvans) -> None:
    with zv.sessions.begin() as s:
        demo.load_demo(s)
        org = orgs.get_org(s, demo.DEMO_ORG)
        org_id = org.id
        anna = users.user_by_name(s, org_id, "anna.berzina").id
        martins = users.user_by_name(s, org_id, "martins.ozols").id
        lv = s.scalar(select(Queue.id).where(Queue.org_id == org_id, Queue.language == "lv"))
        closed = Queue(org_id=org_id, name="Closed", language="lv", active=False, names={},
                       business_hours={}, holidays=[])
        s.add(closed)
        s.flush()
        closed_id = closed.id
    control = RecordingCallControl()
    cc = ContactCenter(zv, clock=VirtualClock(T0), call_control=control)
    cc.agent_login(org_id, anna)
    cc.agent_login(org_id, martins)
    control.take()
    published: list[Any] = []
    zv.bus.on_event(published.append)
    with zv.sessions() as s:
        events_before = int(s.scalar(select(func.count()).select_from(Event)) or 0)
    seen_mid_group: dict[str, Any] = {}

    def look_inside() -> None:
        # the first call is in the group's transaction, not committed: nobody sees it yet
        seen_mid_group["decisions"] = control.take()
        seen_mid_group["published"] = list(published)
        seen_mid_group["rows"] = _interactions(zv, "+37120000001")

    results = cc.group([
        lambda: cc.call_arrived(org_id, lv, "+37120000001"),
        look_inside,
        # an inactive queue: the interaction row is inserted, then the engine refuses
        lambda: cc.call_arrived(org_id, closed_id, "+37120000002"),
        lambda: cc.call_arrived(org_id, lv, "+37120000003"),
    ])

    assert [ok for ok, _ in results] == [True, True, False, True]
    first, refused, third = results[0][1], results[2][1], results[3][1]
    assert isinstance(refused, ZvansError)
    assert seen_mid_group == {"decisions": [], "published": [], "rows": 0}
    # after the commit: both calls saved, the refused one left no row and no event
    assert _interactions(zv, "+37120000001") == 1
    assert _interactions(zv, "+37120000002") == 0
    assert _interactions(zv, "+37120000003") == 1
    with zv.sessions() as s:
        saved = list(s.execute(select(Event.id, Event.type, Event.interaction_id)
                               .order_by(Event.id).offset(events_before)))
    # each call: arrived, enqueued, offered (two agents free, one each)
    assert [(t, i) for _, t, i in saved] == [
        ("arrived", first), ("enqueued", first), ("offered", first),
        ("arrived", third), ("enqueued", third), ("offered", third)]
    assert [e.id for e in published] == [row[0] for row in saved]
    rings = [d for _, d in control.take() if isinstance(d, Ring)]
    assert [r.call_id for r in rings] == [first, third]
    assert {r.agent_id for r in rings} == {anna, martins}


def test_contact_center_commands_take_their_transaction_from_tx() -> None:
    """A command opening its own ``z.sessions.begin()`` inside a group commit would wait
    for the group's write lock (SQLite) and save outside the group: every command must use
    ``self._tx()`` (transactions.py)."""
    source = inspect.getsource(contact_center_module.ContactCenter)
    assert "sessions.begin(" not in source.replace("``z.sessions.begin()``", "")


def test_group_executor_runs_commands_in_order_and_refuses_after_shutdown(zv: Zvans) -> None:
    with zv.sessions.begin() as s:
        demo.load_demo(s)
        org_id = orgs.get_org(s, demo.DEMO_ORG).id
        anna = users.user_by_name(s, org_id, "anna.berzina").id
        lv = s.scalar(select(Queue.id).where(Queue.org_id == org_id, Queue.language == "lv"))
    cc = ContactCenter(zv, clock=VirtualClock(T0), call_control=RecordingCallControl())
    executor = GroupExecutor(cc)
    futures = [executor.submit(cc.call_arrived, org_id, lv, f"+3712000002{i}")
               for i in range(3)]
    refused = executor.submit(cc.offer_answered, org_id, anna, 999_999)
    ids = [f.result(timeout=30) for f in futures]
    assert ids == sorted(ids) and len(set(ids)) == 3  # in submission order
    with pytest.raises(ZvansError):
        refused.result(timeout=30)
    assert executor.commands == 4 and 1 <= executor.groups <= 4
    executor.shutdown()
    with pytest.raises(RuntimeError):
        executor.submit(cc.wallboard, org_id)
