"""Durable callbacks: the callback_task table mirrors the engine's promised callbacks.

The engine keeps a callback's place in line in memory; this module writes every change to
``callback_task`` in the same transaction as the event, and after a restart puts each
pending callback back into the engine at its original place (its arrival time).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.core.acd import Engine
from zvans.core.errors import CoreError
from zvans.core.events import DomainEvent, EventType
from zvans.store.models import CallbackTask, Interaction, UnansweredEntry

E = EventType
PENDING = ("waiting", "dialing")


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def record(session: Session, org_id: int, ev: DomainEvent, row: Interaction) -> None:
    """Mirror one engine event on the callback's task and its unanswered-register entry."""
    at = _ts(ev.at)
    if ev.type is E.CALLBACK_REQUESTED:
        not_before = ev.data.get("not_before")
        session.add(CallbackTask(
            org_id=org_id, interaction_id=row.id, queue_id=ev.queue_id or row.queue_id,
            caller=row.caller, number=str(ev.data.get("number", "")),
            arrived_at=row.enqueued_at or row.started_at, requested_at=at,
            not_before=_ts(float(not_before)) if isinstance(not_before, int | float) else None,
            state="waiting", updated_at=at,
        ))
        if not row.simulated:
            session.add(UnansweredEntry(
                org_id=org_id, created_at=at, queue_id=row.queue_id, caller=row.caller,
                reason="callback", duration_s=int(float(ev.data.get("wait_s", 0) or 0)),  # type: ignore[arg-type]
                callback_state="not_called_back", interaction_id=row.id,
            ))
        return
    task = session.scalar(select(CallbackTask).where(CallbackTask.interaction_id == row.id))
    if task is None:
        return
    if ev.type is E.CALLBACK_STARTED:
        task.state, task.agent_id = "dialing", ev.agent_id
        task.attempts += 1
    elif ev.type is E.ANSWERED and ev.data.get("callback"):
        task.state, task.result = "done", "answered"
        _resolve(session, org_id, row.id, "called_back", at)
    elif ev.type is E.CALLBACK_FAILED:
        final = bool(ev.data.get("final"))
        task.state = "failed" if final else "waiting"
        task.result = str(ev.data.get("reason", ""))
        if final:
            _resolve(session, org_id, row.id, "callback_failed", at)
    task.updated_at = at


def _resolve(session: Session, org_id: int, interaction_id: int, state: str,
             at: datetime) -> None:
    for entry in session.scalars(select(UnansweredEntry).where(
        UnansweredEntry.org_id == org_id, UnansweredEntry.interaction_id == interaction_id,
        UnansweredEntry.reason == "callback", UnansweredEntry.resolved_at.is_(None),
    )):
        entry.callback_state = state
        entry.resolved_at = at
        entry.resolved_by_interaction_id = interaction_id


def restore(session: Session, org_id: int, engine: Engine, now: float) -> int:
    """Put pending callbacks back in line; returns how many. No events are written: the
    log already holds their callback_requested; an interrupted dial counts as not made."""
    count = 0
    tasks = session.scalars(
        select(CallbackTask)
        .where(CallbackTask.org_id == org_id, CallbackTask.state.in_(PENDING))
        .order_by(CallbackTask.arrived_at)
    )
    for task in tasks:
        try:
            engine.restore_callback(
                task.interaction_id, task.queue_id, task.caller, task.number,
                arrived_at=task.arrived_at.timestamp(),
                not_before=task.not_before.timestamp() if task.not_before else None,
                attempts=task.attempts,
            )
        except CoreError:  # its queue was removed since: it cannot be kept in line
            task.state, task.result = "cancelled", "queue-removed"
            continue
        task.state = "waiting"
        count += 1
    return count
