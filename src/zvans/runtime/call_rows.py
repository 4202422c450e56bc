"""Interaction rows on the ACD's hot path, with prepared Core statements instead of the ORM.

Every call runs ``call_arrived``, ``offer_answered`` and ``call_ended``; with the ORM each
loaded its interaction (an identity-map object), changed it and flushed a unit of work,
which cost more CPU than everything else the runtime does for a call (docs/performance.md,
"SIP B2BUA"). Here a call's columns are a plain :class:`CallRow`, read with one prepared
SELECT and written back with one UPDATE of the changed columns. Rows a transaction already
knows are kept in ``session.info`` so a group commit reads each at most once. Code that
needs the ORM object (callbacks, IVR, voicemail) still loads it: :func:`find` returns the
ORM object whenever the session holds one, so the two never disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from zvans.store.models import CustomerPhone, Interaction, UnansweredEntry

_ROWS = "zvans_call_rows"

COLUMNS = ("caller", "simulated", "queue_id", "agent_id", "enqueued_at", "answered_at",
           "ended_at", "outcome")

_SELECT = select(*(getattr(Interaction, c) for c in COLUMNS)).where(
    Interaction.id == bindparam("call_id"))
_UPDATE = update(Interaction).where(Interaction.id == bindparam("call_id"))
_CUSTOMER = select(CustomerPhone.customer_id).where(
    CustomerPhone.org_id == bindparam("org_id"), CustomerPhone.number == bindparam("number"))
_INSERT = insert(Interaction).returning(Interaction.id)
_RECORDING = update(Interaction).where(
    Interaction.id == bindparam("call_id"), Interaction.org_id == bindparam("b_org_id"),
).values(recording_ref=bindparam("ref"))
_RESOLVE = update(UnansweredEntry).where(
    UnansweredEntry.org_id == bindparam("b_org_id"),
    UnansweredEntry.caller == bindparam("b_caller"),
    UnansweredEntry.resolved_at.is_(None),
).values(resolved_at=bindparam("b_resolved_at"), callback_state=bindparam("b_state"),
         resolved_by_interaction_id=bindparam("call_id"))


class CallRow:
    """An interaction's columns the runtime reads and writes, as plain attributes."""

    __slots__ = ("_was", "agent_id", "answered_at", "caller", "ended_at", "enqueued_at",
                 "id", "outcome", "queue_id", "simulated")

    def __init__(self, id_: int, caller: str, simulated: bool, queue_id: int | None,
                 agent_id: int | None, enqueued_at: datetime | None,
                 answered_at: datetime | None, ended_at: datetime | None,
                 outcome: str) -> None:
        self.id = id_
        self.caller, self.simulated, self.queue_id, self.agent_id = (
            caller, simulated, queue_id, agent_id)
        self.enqueued_at, self.answered_at, self.ended_at, self.outcome = (
            _aware(enqueued_at), _aware(answered_at), _aware(ended_at), outcome)
        self._was = self._values()

    def _values(self) -> tuple[Any, ...]:
        return (self.caller, self.simulated, self.queue_id, self.agent_id, self.enqueued_at,
                self.answered_at, self.ended_at, self.outcome)

    def write(self, session: Session) -> None:
        """One UPDATE of the columns changed since it was read or last written."""
        now = self._values()
        changed = {c: v for c, v, was in zip(COLUMNS, now, self._was, strict=True)
                   if v != was}
        if changed:
            session.connection().execute(_UPDATE, {"call_id": self.id, **changed})
            self._was = now


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _known(session: Session) -> dict[int, CallRow]:
    rows: dict[int, CallRow] = session.info.setdefault(_ROWS, {})
    return rows


def find(session: Session, call_id: int, *, orm: bool = False) -> Interaction | CallRow | None:
    """The interaction: the ORM object if the session holds it (or ``orm``), else a
    :class:`CallRow` (from this transaction's cache, else one SELECT)."""
    obj = session.identity_map.get(identity_key(Interaction, call_id))
    if obj is None and orm:
        write_all(session)  # the ORM object must see what CallRows changed
        _known(session).pop(call_id, None)
        obj = session.get(Interaction, call_id)
    rows = _known(session)
    if isinstance(obj, Interaction):
        rows.pop(call_id, None)  # the ORM object is the truth from now on
        return obj
    row = rows.get(call_id)
    if row is not None:
        return row
    found = session.connection().execute(_SELECT, {"call_id": call_id}).first()
    if found is None:
        return None
    rows[call_id] = row = CallRow(call_id, *found)
    return row


def write_all(session: Session) -> None:
    for row in _known(session).values():
        row.write(session)


def forget(session: Session) -> None:
    """After a rollback (of a SAVEPOINT too): the cached rows may hold undone changes."""
    session.info.pop(_ROWS, None)


def insert_call(session: Session, *, org_id: int, caller: str, did: str,
                queue_id: int | None, ivr_topic: str, simulated: bool,
                started_at: datetime, channel: str = "voice",
                direction: str = "in") -> CallRow:
    """A new interaction in one INSERT (and the customer lookup of the calling number)."""
    conn = session.connection()
    customer_id = conn.execute(_CUSTOMER, {"org_id": org_id, "number": caller}).scalar() \
        if caller else None
    new_id = conn.execute(_INSERT, {
        "org_id": org_id, "channel": channel, "direction": direction, "caller": caller,
        "callee": "", "did": did, "queue_id": queue_id, "ivr_topic": ivr_topic,
        "simulated": simulated, "customer_id": customer_id, "started_at": started_at,
        "outcome": "", "identified": False,
    }).scalar_one()
    row = CallRow(new_id, caller, simulated, queue_id, None, None, None, None, "")
    _known(session)[new_id] = row
    return row


def resolve_unanswered(session: Session, org_id: int, row: Interaction | CallRow,
                       state: str) -> None:
    """The caller got through: close their open unanswered-register entries."""
    if not row.caller or row.simulated:
        return
    if session.new or session.dirty:  # entries added or changed in this transaction
        session.flush()
    session.connection().execute(_RESOLVE, {
        "b_org_id": org_id, "b_caller": row.caller, "b_resolved_at": row.answered_at,
        "b_state": state, "call_id": row.id})


def set_recording(session: Session, org_id: int, call_id: int, ref: str) -> None:
    session.connection().execute(_RECORDING, {"call_id": call_id, "b_org_id": org_id,
                                              "ref": ref})
