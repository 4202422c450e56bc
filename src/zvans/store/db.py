"""Engine and session factory, with the event-log publishing hooks installed.

Events appended through ``append_event`` are captured at flush (with their ids) and
published to the bus only after the transaction commits; a rollback drops them. This is
Zulip's ``send_event_on_commit`` idea bound to SQLAlchemy's session events.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, create_engine, event, insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from zvans.eventbus import EventBus, LoggedEvent
from zvans.store.models import Event
from zvans.store.types import utcnow

_PENDING = "zvans_pending_events"


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_sessions(engine: Engine, bus: EventBus) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False)

    @event.listens_for(factory, "after_flush")
    def _capture(session: Session, _ctx: Any) -> None:
        captured: list[LoggedEvent] = session.info.setdefault(_PENDING, [])
        for obj in session.new:
            if isinstance(obj, Event):
                captured.append(
                    LoggedEvent(
                        id=obj.id,
                        at=obj.at,
                        org_id=obj.org_id,
                        type=obj.type,
                        interaction_id=obj.interaction_id,
                        queue_id=obj.queue_id,
                        agent_id=obj.agent_id,
                        data=dict(obj.data or {}),
                    )
                )

    @event.listens_for(factory, "after_commit")
    def _publish(session: Session) -> None:
        if session.in_nested_transaction():
            return  # a SAVEPOINT released (SQLAlchemy fires this for it too): not yet
        captured = session.info.pop(_PENDING, [])
        if captured:
            bus.publish(sorted(captured, key=lambda e: e.id))

    @event.listens_for(factory, "after_rollback")
    def _drop(session: Session) -> None:
        if session.in_nested_transaction():
            return  # ROLLBACK TO SAVEPOINT: whoever opened it drops its own events
        session.info.pop(_PENDING, None)

    return factory


def pending_events(session: Session) -> list[LoggedEvent]:
    """The events captured in this transaction and not yet published (a SAVEPOINT that
    rolls back truncates it to what it was)."""
    captured: list[LoggedEvent] = session.info.setdefault(_PENDING, [])
    return captured


_EVENT_COLUMNS = ("org_id", "type", "interaction_id", "queue_id", "agent_id", "data", "at")


def append_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append several events with one Core INSERT ... RETURNING (no ORM unit of work:
    the runtime's hot path). Each row has every key of ``_EVENT_COLUMNS``; like
    :func:`append_event` they are published only after the transaction commits."""
    if not rows:
        return
    table = cast(Table, Event.__table__)
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids = session.connection().execute(stmt, rows).scalars().all()
    captured = pending_events(session)
    for id_, row in zip(ids, rows, strict=True):
        captured.append(LoggedEvent(id=id_, at=row["at"], org_id=row["org_id"],
                                    type=row["type"], interaction_id=row["interaction_id"],
                                    queue_id=row["queue_id"], agent_id=row["agent_id"],
                                    data=dict(row["data"])))


def append_event(
    session: Session,
    org_id: int,
    type: str,
    *,
    interaction_id: int | None = None,
    queue_id: int | None = None,
    agent_id: int | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    """Append one event to the log in the session's transaction (published after commit)."""
    row = Event(
        org_id=org_id,
        type=type,
        interaction_id=interaction_id,
        queue_id=queue_id,
        agent_id=agent_id,
        data=data or {},
        at=at or utcnow(),
    )
    session.add(row)
    return row
