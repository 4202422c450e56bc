"""What telephony reads from the database: DIDs, IVRs, queues, agents, SIP credentials.

Every method is synchronous (SQLAlchemy) and is called from a worker thread, never on the
event loop. Queue and agent rows are cached for ``ttl`` seconds so a busy B2BUA does not
read the same row for every call; DIDs are read on every call (a new number works at once)
and IVR definitions too (an edited menu applies to the next call, no restart).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from zvans.app import Zvans
from zvans.store.models import AgentProfile, Did, Interaction, Ivr, Organisation, Queue, User
from zvans.telephony.sip import Credentials, normalise_number


@dataclass(frozen=True, slots=True)
class Route:
    """Where a dialled number enters: an IVR, or straight into a queue."""

    org_id: int
    did: str
    queue_id: int | None
    ivr_id: int | None


@dataclass(frozen=True, slots=True)
class QueueInfo:
    id: int
    org_id: int
    name: str
    language: str
    record_calls: bool
    caller_id: str


@dataclass(frozen=True, slots=True)
class AgentInfo:
    user_id: int
    name: str
    sip_username: str | None
    ring_target: str


@dataclass(frozen=True, slots=True)
class IvrRow:
    id: int
    org_id: int
    language: str
    definition: dict[str, Any]


#: how many agents one cache miss loads (a contact center's agents, in one query)
AGENTS_AT_ONCE = 5000


class Directory:
    def __init__(self, z: Zvans, *, ttl: float = 2.0) -> None:
        self.z = z
        self.ttl = ttl
        self._cache: dict[tuple[str, object], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def cached(self, kind: str, key: object) -> Any:
        """A fresh cached ``route`` (by number), ``queue`` or ``agent`` (by id), or None:
        the event loop asks this first and goes to a thread only on a miss."""
        return self._cached(kind, key)

    def _cached(self, kind: str, key: object) -> Any:
        with self._lock:
            hit = self._cache.get((kind, key))
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    def _store(self, kind: str, key: object, value: Any) -> Any:
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[(kind, key)] = (time.monotonic(), value)
        return value

    # --- numbers --------------------------------------------------------------------------
    def dids(self) -> frozenset[str]:
        with self.z.sessions() as session:
            return frozenset(session.scalars(select(Did.number)))

    def route(self, number: str) -> Route | None:
        """The route of a dialled number; found ones are cached for ``ttl`` (an unknown
        number is looked up again on every call, so a new DID works at once)."""
        hit = self._cached("route", number)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        wanted = normalise_number(number) or number
        with self.z.sessions() as session:
            row = session.scalar(select(Did).where(Did.number == number))
            if row is None:
                row = next((d for d in session.scalars(select(Did))
                            if (normalise_number(d.number) or d.number) == wanted), None)
            if row is None:
                return None
            route = Route(row.org_id, row.number, row.queue_id, row.ivr_id)
        return self._store("route", number, route)  # type: ignore[no-any-return]

    # --- configuration --------------------------------------------------------------------
    def ivr(self, ivr_id: int) -> IvrRow | None:
        with self.z.sessions() as session:
            row = session.get(Ivr, ivr_id)
            if row is None:
                return None
            return IvrRow(row.id, row.org_id, row.language, dict(row.definition or {}))

    def queue(self, queue_id: int) -> QueueInfo | None:
        hit = self._cached("queue", queue_id)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        with self.z.sessions() as session:
            row = session.get(Queue, queue_id)
            if row is None:
                return None
            info = QueueInfo(row.id, row.org_id, row.name, row.language, row.record_calls,
                             row.caller_id)
        return self._store("queue", queue_id, info)  # type: ignore[no-any-return]

    def agent(self, user_id: int) -> AgentInfo | None:
        """An agent's ringing details. A miss reloads every agent in one query: each call
        rings a different agent, so single-row caching would miss on almost every call."""
        hit = self._cached("agent", user_id)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        with self.z.sessions() as session:
            rows = session.execute(
                select(User.id, User.first_name, User.surname, User.username,
                       AgentProfile.sip_username, AgentProfile.ring_target)
                .join(AgentProfile, AgentProfile.user_id == User.id)
                .where(User.deleted_at.is_(None))
                .limit(AGENTS_AT_ONCE)
            ).all()
        found = None
        for uid, first, last, username, sip_username, ring_target in rows:
            name = f"{first} {last}".strip() or username
            info = self._store("agent", uid, AgentInfo(uid, name, sip_username,
                                                       ring_target or ""))
            if uid == user_id:
                found = info
        if found is None and len(rows) >= AGENTS_AT_ONCE:  # beyond the bulk load
            return self._agent(user_id)
        return found

    def _agent(self, user_id: int) -> AgentInfo | None:
        with self.z.sessions() as session:
            found = session.execute(
                select(User, AgentProfile).join(AgentProfile, AgentProfile.user_id == User.id)
                .where(User.id == user_id, User.deleted_at.is_(None))
            ).first()
            if found is None:
                return None
            user, profile = found
            name = f"{user.first_name} {user.surname}".strip() or user.username
            info = AgentInfo(user.id, name, profile.sip_username, profile.ring_target or "")
        return self._store("agent", user_id, info)  # type: ignore[no-any-return]

    def org_language(self, org_id: int) -> str:
        with self.z.sessions() as session:
            org = session.get(Organisation, org_id)
            return org.language if org is not None else "en"

    # --- SIP users ------------------------------------------------------------------------
    def credentials(self, username: str) -> Credentials | None:
        """The stored HA1 values of an agent's SIP account (never a password)."""
        with self.z.sessions() as session:
            profile = session.scalar(
                select(AgentProfile).join(User, User.id == AgentProfile.user_id)
                .where(AgentProfile.sip_username == username, User.deleted_at.is_(None))
            )
            if profile is None:
                return None
            hashes = {}
            if profile.sip_ha1_md5:
                hashes["MD5"] = profile.sip_ha1_md5
            if profile.sip_ha1_sha256:
                hashes["SHA-256"] = profile.sip_ha1_sha256
            if not hashes:
                return None
            return Credentials(username, self.z.settings.sip_domain, hashes)

    # --- writes ---------------------------------------------------------------------------
    def set_recording(self, interaction_id: int, ref: str) -> None:
        with self.z.sessions.begin() as session:
            row = session.get(Interaction, interaction_id)
            if row is not None:
                row.recording_ref = ref
