"""Composition root: builds and wires everything one Zvans process needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from zvans.config import Settings
from zvans.eventbus import EventBus
from zvans.store import migrate
from zvans.store.db import make_engine, make_sessions


@dataclass
class Zvans:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus
    #: Services added by later layers (ACD runtime, telephony, …), by name.
    services: dict[str, Any] = field(default_factory=dict)

    def database_info(self) -> dict[str, str | None]:
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                version = conn.execute(text("select sqlite_version()")).scalar()
            else:
                version = conn.execute(text("show server_version")).scalar()
        return {
            "backend": self.engine.dialect.name,
            "server_version": str(version),
            "schema_revision": migrate.current_revision(self.engine),
        }

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings) -> Zvans:
    engine = make_engine(settings.database_url)
    bus = EventBus()
    return Zvans(settings=settings, engine=engine, sessions=make_sessions(engine, bus), bus=bus)
