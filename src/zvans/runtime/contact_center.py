"""``ContactCenter``: one ACD engine per organisation, persisted and published.

Every command runs under one lock, in one database transaction: the engine decides, the
events are appended to the event log and the interaction rows updated, the transaction
commits (the store then publishes the events), and only then are the decisions handed to
call control. A ``CoreError`` rolls the transaction back; the engine guarantees its own
state is unchanged when it raises one. Several commands can share one transaction and one
commit (:meth:`ContactCenter.group`, used by the B2BUA's command thread under load): each
then runs in a SAVEPOINT, and nothing is published or handed over before the commit
(transactions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.app import Zvans
from zvans.core.acd import Engine, EngineConfig, Outcome
from zvans.core.clock import Clock, SystemClock
from zvans.core.errors import CoreError
from zvans.core.events import DomainEvent, EventType
from zvans.errors import InvalidInput, NotFound, ZvansError
from zvans.runtime import call_rows, callbacks
from zvans.runtime.call_control import CallControl, NullCallControl
from zvans.runtime.call_rows import CallRow
from zvans.runtime.loader import org_holidays, queue_config
from zvans.runtime.today import TodayStats
from zvans.runtime.transactions import Transactions
from zvans.store.db import append_event, append_events
from zvans.store.models import (
    AgentProfile,
    Customer,
    CustomerPhone,
    Interaction,
    Organisation,
    PauseReason,
    Queue,
    SkillLevel,
    UnansweredEntry,
    User,
)

log = logging.getLogger("zvans.runtime")
E = EventType
CALLBACK_EVENTS = frozenset({E.CALLBACK_REQUESTED, E.CALLBACK_STARTED, E.CALLBACK_FAILED,
                             E.ANSWERED})
MAX_PIN_ATTEMPTS = 3
NO_ANSWER_REASON = "no answer"


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _json_safe(data: dict[str, object]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None or isinstance(value, bool | int | str):
            out[key] = value
        elif isinstance(value, float):
            out[key] = round(value, 3)
        elif isinstance(value, list | tuple):
            out[key] = [v if isinstance(v, bool | int | float | str) else str(v) for v in value]
        elif isinstance(value, dict):
            out[key] = _json_safe(value)
        else:
            out[key] = str(value)
    return out


class _Org:
    """What the runtime keeps for one organisation besides its engine."""

    def __init__(self, org: Organisation, engine: Engine, today: TodayStats) -> None:
        self.id = org.id
        self.timezone = org.timezone
        self.engine = engine
        self.today = today
        self.queue_names: dict[int, str] = {}
        self.agent_names: dict[int, str] = {}
        self.pause_reasons: set[str] = set()
        #: agent_id -> time the last call's talk ended (for wrapup_s in wrapup_done)
        self.talk_ended: dict[int, float] = {}


class ContactCenter:
    def __init__(
        self,
        z: Zvans,
        clock: Clock | None = None,
        call_control: CallControl | None = None,
        engine_config: EngineConfig | None = None,
    ) -> None:
        self.z = z
        self.clock = clock or SystemClock()
        self.call_control: CallControl = call_control or NullCallControl()
        self.engine_config = engine_config or EngineConfig(
            desktop_lost_limit_s=float(z.settings.desktop_lost_limit_s),
            no_answer_pause_reason=NO_ANSWER_REASON,
        )
        self._orgs: dict[int, _Org] = {}
        self._lock = threading.RLock()
        self._txs = Transactions(z.sessions, self._lock)
        self._tick_task: asyncio.Task[None] | None = None
        self._pin_failures: dict[int, int] = {}

    # --- loading ------------------------------------------------------------------------

    def _org(self, session: Session, org_id: int) -> _Org:
        state = self._orgs.get(org_id)
        if state is not None:
            return state
        org = session.get(Organisation, org_id)
        if org is None:
            raise NotFound(f"No organisation {org_id}.", code="no-such-org")
        engine = Engine(self.clock, replace(self.engine_config, timezone=org.timezone))
        state = _Org(org, engine, TodayStats(org.timezone))
        self._orgs[org_id] = state
        self._configure(session, state)
        state.today.load(session, org_id, self.clock.now())
        with self._tx() as restore_session:
            restored = callbacks.restore(restore_session, org_id, engine, self.clock.now())
        if restored:
            log.info("organisation %s: %d pending callbacks back in line", org_id, restored)
        return state

    def _configure(self, session: Session, state: _Org) -> None:
        org = session.get(Organisation, state.id)
        assert org is not None
        holidays = org_holidays(session, state.id)
        queues = list(session.scalars(select(Queue).where(Queue.org_id == state.id)))
        engine = state.engine
        wanted = {q.id for q in queues if q.active}
        # queues first (skills refer to them); overflow targets once every queue exists
        configs = [queue_config(q, org, holidays) for q in queues if q.active]
        for cfg in configs:
            if not _has_queue(engine, cfg.id):
                engine.configure_queue(replace(cfg, overflow_target=None))
        for cfg in configs:
            engine.configure_queue(cfg)
        for q in queues:
            state.queue_names[q.id] = q.name
        for qid in list(state.queue_names):
            if qid not in wanted and _has_queue(engine, qid):
                engine.remove_queue(qid)
        skills: dict[int, dict[int, int]] = {}
        for row in session.scalars(select(SkillLevel).where(SkillLevel.org_id == state.id)):
            if row.queue_id in wanted:
                skills.setdefault(row.user_id, {})[row.queue_id] = row.level
        agents = session.execute(
            select(User.id, User.first_name, User.surname, User.username)
            .join(AgentProfile, AgentProfile.user_id == User.id)
            .where(User.org_id == state.id, User.deleted_at.is_(None))
        ).all()
        for uid, first, last, username in agents:
            state.agent_names[uid] = f"{first} {last}".strip() or username
            engine.set_agent_skills(uid, skills.get(uid, {}))
        state.pause_reasons = set(
            session.scalars(
                select(PauseReason.code).where(
                    PauseReason.org_id == state.id, PauseReason.active.is_(True)
                )
            )
        )

    def reload(self, org_id: int) -> None:
        """Apply configuration changes (queues, skills, users, pause reasons) at once."""
        with self._lock, self.z.sessions() as session:
            state = self._orgs.get(org_id)
            if state is None:
                self._org(session, org_id)
                return
            try:
                self._configure(session, state)
            except CoreError as exc:
                raise ZvansError(exc.message, code=exc.code, **exc.details) from None
            outcome = state.engine.tick()
        if outcome.events or outcome.decisions:
            self._commit(org_id, lambda s, st: outcome)

    # --- the one place commands run -----------------------------------------------------

    def _tx(self) -> contextlib.AbstractContextManager[Session]:
        """Every command's transaction (its own, or a SAVEPOINT in a group's): never open
        ``z.sessions.begin()`` in a command, it would wait for the group's write lock."""
        return self._txs.tx()

    def group(self, commands: Sequence[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        """Run commands (closures calling this object's methods) in one transaction with
        one commit; per command ``(True, result)`` or ``(False, exception)``, returned
        after the commit and after every decision was handed to call control."""
        return self._txs.group(commands)

    def _commit(self, org_id: int, step: Callable[[Session, _Org], Outcome]) -> Outcome:
        with self._tx() as session:
            state = self._org(session, org_id)
            try:
                outcome = step(session, state)
            except CoreError as exc:
                raise ZvansError(exc.message, code=exc.code, **exc.details) from None
            self._persist(session, state, outcome.events)
            self._txs.after_commit(lambda: self._hand_over(org_id, state, outcome))
        return outcome

    def _hand_over(self, org_id: int, state: _Org, outcome: Outcome) -> None:
        """After the commit: today's counters, then the decisions to call control."""
        for event in outcome.events:
            state.today.apply(event)
        for decision in outcome.decisions:
            try:
                self.call_control.execute(org_id, decision)
            except Exception:  # call control must never break the ACD
                log.exception("call control failed on %r", decision)

    def _persist(self, session: Session, state: _Org, events: list[DomainEvent]) -> None:
        rows: list[dict[str, Any]] = []
        orm_ids = {ev.call_id for ev in events if _needs_callbacks(ev)}
        for ev in events:
            data = dict(ev.data)
            row = call_rows.find(session, ev.call_id, orm=ev.call_id in orm_ids) \
                if ev.call_id is not None else None
            at = _ts(ev.at)
            if row is not None:
                self._update_interaction(session, state, row, ev, at, data)
                if _needs_callbacks(ev):
                    assert isinstance(row, Interaction)
                    session.flush()
                    callbacks.record(session, state.id, ev, row)
            if ev.type is E.COMPLETED and ev.agent_id is not None:
                state.talk_ended[ev.agent_id] = ev.at
            if ev.type is E.WRAPUP_DONE and ev.agent_id is not None and "wrapup_s" not in data:
                ended = state.talk_ended.pop(ev.agent_id, None)
                if ended is not None:
                    data["wrapup_s"] = max(0.0, ev.at - ended)
            rows.append({"org_id": state.id, "type": ev.type.value,
                         "interaction_id": ev.call_id, "queue_id": ev.queue_id,
                         "agent_id": ev.agent_id, "data": _json_safe(data), "at": at})
        call_rows.write_all(session)
        append_events(session, rows)

    def _update_interaction(
        self, session: Session, state: _Org, row: Interaction | CallRow, ev: DomainEvent,
        at: datetime,
        data: dict[str, object],
    ) -> None:
        t = ev.type
        if t is E.ENQUEUED:
            row.enqueued_at = row.enqueued_at or at
            if ev.queue_id is not None:
                row.queue_id = ev.queue_id
        elif t is E.ANSWERED:
            row.answered_at = at
            row.agent_id = ev.agent_id
            if "wait_s" not in data and row.enqueued_at is not None:
                data["wait_s"] = (at - row.enqueued_at).total_seconds()
            resolution = "called_back" if data.get("callback") else "client_called_back"
            call_rows.resolve_unanswered(session, state.id, row, resolution)
        elif t is E.ABANDONED:
            row.ended_at = at
            row.outcome = "abandoned"
            wait = data.get("wait_s")
            if wait is None and row.enqueued_at is not None:
                wait = (at - row.enqueued_at).total_seconds()
                data["wait_s"] = wait
            if not row.simulated:
                session.add(UnansweredEntry(
                    org_id=state.id, created_at=at, queue_id=row.queue_id, caller=row.caller,
                    reason="abandoned", duration_s=int(float(wait or 0)),  # type: ignore[arg-type]
                    interaction_id=row.id,
                ))
        elif t is E.COMPLETED:
            row.ended_at = at
            row.outcome = row.outcome or "answered"
            if "talk_s" not in data and row.answered_at is not None:
                data["talk_s"] = (at - row.answered_at).total_seconds()
        elif t is E.CALLBACK_REQUESTED:
            row.outcome = "callback"
        elif t is E.OUT_OF_HOURS:
            row.outcome = "out_of_hours"

    # --- agent commands -----------------------------------------------------------------

    def _agent_cmd(self, org_id: int, user_id: int, fn: Callable[[Engine], Outcome]) -> Outcome:
        def step(session: Session, state: _Org) -> Outcome:
            self._check_agent(session, state, user_id)
            return fn(state.engine)

        return self._commit(org_id, step)

    def _check_agent(self, session: Session, state: _Org, user_id: int) -> None:
        if user_id in state.agent_names:
            return
        user = session.get(User, user_id)
        if user is None or user.org_id != state.id or user.deleted_at is not None:
            raise NotFound(f"No agent {user_id}.", code="no-such-agent", agent_id=user_id)
        if user.agent is None:
            raise InvalidInput("user", "This user does not take calls.", code="not-an-agent")
        self._configure(session, state)

    def agent_login(self, org_id: int, user_id: int) -> None:
        self._agent_cmd(org_id, user_id, lambda e: e.agent_login(user_id))

    def agent_logout(self, org_id: int, user_id: int) -> None:
        self._agent_cmd(org_id, user_id, lambda e: e.agent_logout(user_id))

    def agent_ready(self, org_id: int, user_id: int) -> None:
        self._agent_cmd(org_id, user_id, lambda e: e.agent_ready(user_id))

    def agent_pause(self, org_id: int, user_id: int, reason: str) -> None:
        def step(session: Session, state: _Org) -> Outcome:
            self._check_agent(session, state, user_id)
            if reason not in state.pause_reasons and reason != NO_ANSWER_REASON:
                raise InvalidInput("reason", f"Unknown pause reason {reason!r}.",
                                   code="no-such-pause-reason")
            return state.engine.agent_pause(user_id, reason)

        self._commit(org_id, step)

    def desktop_connected(self, org_id: int, user_id: int) -> None:
        self._agent_cmd(org_id, user_id, lambda e: e.desktop_connected(user_id))

    def desktop_lost(self, org_id: int, user_id: int) -> None:
        self._agent_cmd(org_id, user_id, lambda e: e.desktop_lost(user_id))

    def wrapup_done(self, org_id: int, user_id: int) -> None:
        self._agent_cmd(org_id, user_id, lambda e: e.wrapup_done(user_id))

    # --- calls the ACD did not route (docs/decisions/0014) -------------------------------

    def external_call_started(
        self, org_id: int, user_id: int, call_ref: str, *, kind: str = "other",
        interaction_id: int | None = None,
    ) -> None:
        """The agent is on a call the ACD did not route (click-to-call, a transfer or
        conference they were brought into, monitoring): never offered a call until
        :meth:`external_call_ended`. ``not-an-agent`` for a user who takes no calls."""
        self._agent_cmd(org_id, user_id, lambda e: e.external_call_started(
            user_id, call_ref, kind=kind, interaction_id=interaction_id))

    def external_call_ended(
        self, org_id: int, user_id: int, call_ref: str, *, wrapup_queue_id: int | None = None,
    ) -> None:
        """That call ended (again: no-op). ``wrapup_queue_id``: an answered outgoing call
        of that queue, so its wrap-up follows (unless the agent is paused)."""
        self._agent_cmd(org_id, user_id, lambda e: e.external_call_ended(
            user_id, call_ref, wrapup_queue_id=wrapup_queue_id))

    # --- call commands ------------------------------------------------------------------

    def new_interaction(
        self, session: Session, org_id: int, caller: str, *, did: str = "",
        queue_id: int | None = None, ivr_topic: str = "", simulated: bool = False,
        channel: str = "voice", direction: str = "in",
    ) -> Interaction:
        customer_id = session.scalar(
            select(CustomerPhone.customer_id).where(
                CustomerPhone.org_id == org_id, CustomerPhone.number == caller
            )
        ) if caller else None
        row = Interaction(
            org_id=org_id, channel=channel, direction=direction, caller=caller, did=did,
            queue_id=queue_id, ivr_topic=ivr_topic, simulated=simulated,
            customer_id=customer_id, started_at=_ts(self.clock.now()),
        )
        session.add(row)
        session.flush()
        return row

    def call_arrived(
        self, org_id: int, queue_id: int, caller: str, *, did: str = "", ivr_topic: str = "",
        simulated: bool = False, priority_bonus_s: float = 0.0,
        interaction_id: int | None = None,
    ) -> int:
        """A call enters a queue; returns its interaction id (created here unless given)."""
        created: list[int] = []

        def step(session: Session, state: _Org) -> Outcome:
            if queue_id not in state.queue_names:  # else: known, of this organisation
                queue = session.get(Queue, queue_id)
                if queue is None or queue.org_id != org_id:
                    raise NotFound(f"No queue {queue_id}.", code="no-such-queue",
                                   queue_id=queue_id)
            if interaction_id is not None:
                row = session.get(Interaction, interaction_id)
                if row is None or row.org_id != org_id:
                    raise NotFound("No such call.", code="no-such-call")
                row.queue_id = queue_id
                row.ivr_topic = ivr_topic or row.ivr_topic
                created.append(row.id)
            else:  # the hot path: no ORM object (call_rows.py)
                created.append(call_rows.insert_call(
                    session, org_id=org_id, caller=caller, did=did, queue_id=queue_id,
                    ivr_topic=ivr_topic, simulated=simulated,
                    started_at=_ts(self.clock.now())).id)
            new_id = created[-1]
            return state.engine.call_arrived(new_id, queue_id, caller,
                                             priority_bonus_s=priority_bonus_s,
                                             simulated=simulated)

        self._commit(org_id, step)
        return created[0]

    def _call_cmd(self, org_id: int, fn: Callable[[Engine], Outcome]) -> Outcome:
        return self._commit(org_id, lambda _s, state: fn(state.engine))

    def offer_answered(self, org_id: int, user_id: int, interaction_id: int, *,
                       recording_ref: str | None = None) -> None:
        """The agent took the call; ``recording_ref``: where it is being recorded (saved in
        the same transaction, one commit per call less than :meth:`recording_started`)."""
        if recording_ref is None:
            self._call_cmd(org_id, lambda e: e.offer_answered(user_id, interaction_id))
            return

        def step(session: Session, state: _Org) -> Outcome:
            outcome = state.engine.offer_answered(user_id, interaction_id)
            call_rows.set_recording(session, org_id, interaction_id, recording_ref)
            return outcome

        self._commit(org_id, step)

    def offer_rejected(self, org_id: int, user_id: int, interaction_id: int) -> None:
        self._call_cmd(org_id, lambda e: e.offer_rejected(user_id, interaction_id))

    def caller_abandoned(self, org_id: int, interaction_id: int) -> None:
        self._call_cmd(org_id, lambda e: e.caller_abandoned(interaction_id))

    def call_ended(self, org_id: int, interaction_id: int) -> None:
        self._call_cmd(org_id, lambda e: e.call_ended(interaction_id))

    def callback_requested(self, org_id: int, interaction_id: int, number: str) -> None:
        self._call_cmd(org_id, lambda e: e.callback_requested(interaction_id, number))

    def callback_answered(self, org_id: int, interaction_id: int) -> None:
        self._call_cmd(org_id, lambda e: e.callback_answered(interaction_id))

    def callback_failed(self, org_id: int, interaction_id: int, reason: str = "no-answer") -> None:
        self._call_cmd(org_id, lambda e: e.callback_failed(interaction_id, reason))

    def voicemail_started(self, org_id: int, interaction_id: int, ref: str) -> int:
        """A voice message is being recorded to ``ref``: register it now, so a crash during
        or after recording still leaves it in the unanswered register. Returns the entry id."""
        with self._tx() as session:
            row = self._interaction(session, org_id, interaction_id)
            entry = UnansweredEntry(
                org_id=org_id, created_at=_ts(self.clock.now()), queue_id=row.queue_id,
                caller=row.caller, reason="voicemail", voicemail_ref=ref,
                callback_state="not_called_back", interaction_id=row.id,
            )
            session.add(entry)
            session.flush()
            return entry.id

    def recording_started(self, org_id: int, interaction_id: int, ref: str) -> None:
        """The call (or voice message) is being recorded to ``ref`` (under data_dir)."""
        with self._tx() as session:
            self._interaction(session, org_id, interaction_id).recording_ref = ref

    def voicemail_left(self, org_id: int, interaction_id: int, duration_s: float = 0.0) -> None:
        def step(session: Session, state: _Org) -> Outcome:
            row = self._interaction(session, org_id, interaction_id)
            row.outcome = "voicemail"
            row.ended_at = _ts(self.clock.now())
            for entry in session.scalars(select(UnansweredEntry).where(
                UnansweredEntry.interaction_id == interaction_id,
                UnansweredEntry.reason == "voicemail",
            )):
                entry.duration_s = int(duration_s)
            return state.engine.voicemail_left(interaction_id)

        self._commit(org_id, step)

    def voicemail_listened(self, org_id: int, entry_id: int, user_id: int) -> None:
        """An agent played a voice message (counted in the yearly summary, seed 000)."""
        with self._tx() as session:
            entry = session.get(UnansweredEntry, entry_id)
            if entry is None or entry.org_id != org_id or entry.reason != "voicemail":
                raise NotFound("No such voice message.", code="no-such-voicemail")
            if entry.listened_at is not None:
                return
            now = _ts(self.clock.now())
            entry.listened_at, entry.listened_by_user_id = now, user_id
            append_event(session, org_id, "voicemail_listened",
                         interaction_id=entry.interaction_id, queue_id=entry.queue_id,
                         agent_id=user_id, data={"entry_id": entry.id}, at=now)

    # --- identification and rating ------------------------------------------------------

    def verify_pin(self, org_id: int, interaction_id: int, pin: str) -> bool:
        """Check the caller's PIN against the customer of the calling number (seed 004).

        Digits only; after MAX_PIN_ATTEMPTS wrong tries the call cannot be identified."""
        if not pin.isdigit() or not 4 <= len(pin) <= 12:
            raise InvalidInput("pin", "A PIN is 4 to 12 digits.", code="bad-pin-format")
        from zvans.security.passwords import verify_password

        with self._tx() as session:
            row = self._interaction(session, org_id, interaction_id)
            now = _ts(self.clock.now())
            failed = self._pin_failures.get(interaction_id, 0)
            if failed >= MAX_PIN_ATTEMPTS:
                raise ZvansError("Too many wrong PINs for this call.", code="pin-locked")
            customer = session.scalar(
                select(Customer).join(CustomerPhone).where(
                    CustomerPhone.org_id == org_id, CustomerPhone.number == row.caller)
            )
            ok = bool(customer and customer.pin_hash and verify_password(customer.pin_hash, pin))
            if ok and customer is not None:
                row.identified, row.customer_id = True, customer.id
                append_event(session, org_id, "identified", interaction_id=row.id,
                             data={"customer_id": customer.id, "method": "pin"}, at=now)
                self._pin_failures.pop(interaction_id, None)
            else:
                self._pin_failures[interaction_id] = failed + 1
                append_event(session, org_id, "pin_failed", interaction_id=row.id,
                             data={"attempt": failed + 1}, at=now)
            return ok

    def rate(self, org_id: int, interaction_id: int, rating: int, scale: int = 5) -> None:
        """A post-call rating (1..scale) given by the caller (seed 000: 4.6 of 5)."""
        if not isinstance(rating, int) or not 1 <= rating <= scale:
            raise InvalidInput("rating", f"A rating is a whole number from 1 to {scale}.")
        with self._tx() as session:
            row = self._interaction(session, org_id, interaction_id)
            row.rating = rating
            append_event(session, org_id, E.RATED.value, interaction_id=row.id,
                         queue_id=row.queue_id, agent_id=row.agent_id,
                         data={"rating": rating, "scale": scale, "channel": row.channel},
                         at=_ts(self.clock.now()))

    # --- in-call controls (issue 7; docs/decisions/0011-in-call-controls.md) --------------

    NOTE_TYPES = frozenset({E.HELD, E.RESUMED, E.CONFERENCED, E.COMPLETED})

    def call_note(self, org_id: int, interaction_id: int, type_: str, *,
                  agent_id: int | None = None, data: dict[str, Any] | None = None) -> None:
        """Log held / resumed / conferenced, or ``completed`` of a party the ACD does not
        track (an agent reached by a direct transfer): the ACD's state does not change."""
        etype = next((t for t in self.NOTE_TYPES if t.value == type_), None)
        if etype is None:
            raise InvalidInput("type", f"{type_!r} cannot be noted.", code="bad-event-type")
        with self._tx() as session:
            row = self._interaction(session, org_id, interaction_id)
            append_event(session, org_id, etype.value, interaction_id=row.id,
                         queue_id=row.queue_id, agent_id=agent_id,
                         data=_json_safe(dict(data or {})), at=_ts(self.clock.now()))

    def call_transferred(
        self, org_id: int, interaction_id: int, *, kind: str, target: str,
        agent_id: int | None, talk_s: float | None = None, to_queue: int | None = None,
    ) -> None:
        """One transaction: ``transferred``; if the ACD has the call connected, its agent's
        ``completed`` (talk ends, wrap-up starts); with ``to_queue`` the same interaction
        enters that queue again, its ``arrived`` marked ``direction: "transfer"`` so that
        reports do not count a second incoming call."""

        def step(session: Session, state: _Org) -> Outcome:
            row = self._interaction(session, org_id, interaction_id)
            engine = state.engine
            if to_queue is not None and not _has_queue(engine, to_queue):
                raise NotFound(f"No queue {to_queue}.", code="no-such-queue", queue_id=to_queue)
            out = Outcome()
            talk = talk_s
            queue_id = row.queue_id
            try:
                snap = engine.call_snapshot(interaction_id)
            except CoreError:
                snap = None
            if snap is not None and snap.state.value == "connected":
                ended = engine.call_ended(interaction_id)
                queue_id = snap.queue_id
                for ev in ended.events:
                    if ev.type is E.COMPLETED and talk is None:
                        talk = float(ev.data.get("talk_s", 0.0))  # type: ignore[arg-type]
                out.extend(ended)
            elif snap is not None:
                raise ZvansError("The call is not connected.", code="invalid-transition")
            moved = DomainEvent(E.TRANSFERRED, self.clock.now(), interaction_id, queue_id,
                                agent_id, {"kind": kind, "target": target,
                                           "from_agent": agent_id, "talk_s": talk or 0.0})
            out.events.insert(0, moved)
            if to_queue is not None:
                # no caller for the engine: its sticky rule would hold the call for the
                # agent who just passed it on; the log keeps the number
                arrived = engine.call_arrived(interaction_id, to_queue, "")
                arrived.events = [
                    replace(ev, data={**ev.data, "caller": row.caller,
                                      **({"direction": "transfer"} if ev.type is E.ARRIVED
                                         else {})})
                    if "caller" in ev.data or ev.type is E.ARRIVED else ev
                    for ev in arrived.events]
                out.extend(arrived)
                row.queue_id = to_queue
            return out

        self._commit(org_id, step)

    # --- IVR (before the ACD knows the call) ---------------------------------------------

    def ivr_entered(self, org_id: int, caller: str, did: str, *, simulated: bool = False) -> int:
        with self._tx() as session:
            row = self.new_interaction(session, org_id, caller, did=did, simulated=simulated)
            append_event(session, org_id, E.IVR_ENTERED.value, interaction_id=row.id,
                         data={"caller": caller, "did": did}, at=row.started_at)
            return row.id

    def ivr_choice(self, org_id: int, interaction_id: int, choice: str, topic: str = "") -> None:
        with self._tx() as session:
            row = self._interaction(session, org_id, interaction_id)
            row.ivr_topic = topic or choice
            append_event(session, org_id, E.IVR_CHOICE.value, interaction_id=row.id,
                         data={"choice": choice, "topic": topic}, at=_ts(self.clock.now()))

    def ivr_abandoned(self, org_id: int, interaction_id: int) -> None:
        with self._tx() as session:
            row = self._interaction(session, org_id, interaction_id)
            now = _ts(self.clock.now())
            row.ended_at = now
            row.outcome = "ivr_abandoned"
            duration = int((now - row.started_at).total_seconds())
            append_event(session, org_id, E.IVR_ABANDONED.value, interaction_id=row.id,
                         data={"duration_s": duration}, at=now)
            if not row.simulated:
                session.add(UnansweredEntry(
                    org_id=org_id, created_at=now, queue_id=row.queue_id, caller=row.caller,
                    reason="ivr_not_finished", duration_s=duration, interaction_id=row.id))

    def _interaction(self, session: Session, org_id: int, interaction_id: int) -> Interaction:
        row = session.get(Interaction, interaction_id)
        if row is None or row.org_id != org_id:
            raise NotFound("No such call.", code="no-such-call", interaction_id=interaction_id)
        return row

    # --- timers ------------------------------------------------------------------------

    def tick(self) -> None:
        """Fire due timers of every organisation (ring timeouts, wrap-up ends, max waits)."""
        now = self.clock.now()
        for org_id, state in list(self._orgs.items()):
            deadline = state.engine.next_deadline()
            if deadline is not None and deadline <= now:
                self._commit(org_id, lambda _s, st: st.engine.tick())

    async def run_timers(self, period_s: float = 0.1) -> None:
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("ACD tick failed")
            await asyncio.sleep(period_s)

    def start(self) -> None:
        if self._tick_task is None:
            self._tick_task = asyncio.get_running_loop().create_task(self.run_timers())

    async def stop(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
            self._tick_task = None

    # --- views -------------------------------------------------------------------------

    def agent_view(self, org_id: int, user_id: int) -> dict[str, Any]:
        with self._lock, self.z.sessions() as session:
            state = self._org(session, org_id)
            self._check_agent(session, state, user_id)
            snap = state.engine.agent_snapshot(user_id)
        return {
            "user_id": user_id,
            "name": state.agent_names.get(user_id, ""),
            "availability": snap.availability.value,
            "activity": snap.activity.value,
            "pause_reason": snap.pause_reason,
            "pending_pause": snap.pending_pause,
            "pending_logout": snap.pending_logout,
            "since": _ts(snap.since).isoformat(),
            "interaction_id": snap.call_id,
            "desktop_connected": snap.desktop_connected,
            "offerable": snap.offerable,
            "calls_today": snap.calls_today,
            "talk_today_s": round(snap.talk_today_s, 1),
            "queues": {str(q): lvl for q, lvl in snap.queues.items()},
            "external_calls": len(snap.external_calls),
        }

    def wallboard(self, org_id: int) -> dict[str, Any]:
        with self._lock, self.z.sessions() as session:
            state = self._org(session, org_id)
            state.today.roll(self.clock.now())
            queues = []
            for qid, name in sorted(state.queue_names.items()):
                if not _has_queue(state.engine, qid):
                    continue
                snap = state.engine.queue_snapshot(qid)
                stats = state.today.queue(qid)
                queues.append({
                    "id": qid, "name": name, "waiting": snap.waiting,
                    "callbacks_waiting": snap.callbacks_waiting,
                    "oldest_wait_s": round(snap.oldest_wait_s, 1),
                    "ewt_s": round(snap.ewt_s, 1),
                    "agents_logged_in": snap.agents_logged_in, "agents_ready": snap.agents_ready,
                    "agents_free": snap.agents_free,
                    "answered_today": stats.answered, "abandoned_today": stats.abandoned,
                    "sl_today": stats.service_level(),
                })
            agents = []
            for uid, name in sorted(state.agent_names.items(), key=lambda kv: kv[1]):
                snap_a = state.engine.agent_snapshot(uid)
                agents.append({
                    "user_id": uid, "name": name,
                    "availability": snap_a.availability.value,
                    "activity": snap_a.activity.value,
                    "pause_reason": snap_a.pause_reason,
                    "pending_pause": snap_a.pending_pause,
                    "since": _ts(snap_a.since).isoformat(),
                    "interaction_id": snap_a.call_id,
                    "desktop_connected": snap_a.desktop_connected,
                    "calls_today": snap_a.calls_today,
                    "external_calls": len(snap_a.external_calls),
                })
        return {"at": _ts(self.clock.now()).isoformat(), "queues": queues, "agents": agents}


def _needs_callbacks(ev: DomainEvent) -> bool:
    """Only these events touch callback tasks (an answer only when it was a callback's)."""
    return ev.type in CALLBACK_EVENTS and (ev.type is not E.ANSWERED
                                           or bool(ev.data.get("callback")))


def _has_queue(engine: Engine, queue_id: int) -> bool:
    try:
        engine.queue_snapshot(queue_id)
    except CoreError:
        return False
    return True


def attach(z: Zvans, **kwargs: Any) -> ContactCenter:
    """Create the process's ContactCenter once and register it as ``z.services['cc']``."""
    existing = z.services.get("cc")
    if isinstance(existing, ContactCenter):
        return existing
    cc = ContactCenter(z, **kwargs)
    z.services["cc"] = cc
    return cc


def local_midnight(t: float, tz: str) -> datetime:
    local = datetime.fromtimestamp(t, ZoneInfo(tz))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC)

