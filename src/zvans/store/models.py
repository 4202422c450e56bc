"""The data model. Every row belongs to one organisation (tenant).

Times are aware UTC datetimes (``UTCDateTime``). Free-form, per-language names are JSON
objects ``{"lv": "...", "en": "..."}``. Enumerations are short strings checked in the
services (``zvans.store.services``) so that adding a value needs no schema change.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from zvans.store.types import BigId, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "supervisor", "agent")
CHANNELS = ("voice", "chat", "email", "callback", "voicemail")
DIRECTIONS = ("in", "out")
STRATEGIES = ("longest_idle", "round_robin", "fewest_calls", "least_talk_time", "linear")
NO_AGENT_ACTIONS = ("wait", "overflow", "voicemail")
UNANSWERED_REASONS = ("out_of_hours", "ivr_not_finished", "abandoned", "voicemail", "callback")
CALLBACK_STATES = ("not_called_back", "client_called_back", "called_back", "callback_failed",
                   "not_needed")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Riga")
    language: Mapped[str] = mapped_column(String(8), default="lv")
    recording_retention_days: Mapped[int] = mapped_column(Integer, default=90)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(254))
    first_name: Mapped[str] = mapped_column(String(100), default="")
    surname: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="lv")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
    agent: Mapped[AgentProfile | None] = relationship(back_populates="user", uselist=False)

    @property
    def display_name(self) -> str:
        full = f"{self.first_name} {self.surname}".strip()
        return full or self.username


class AgentProfile(Base):
    """The telephony side of a user who takes calls."""

    __tablename__ = "agent_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), unique=True)
    extension: Mapped[str] = mapped_column(String(32), default="")
    #: Where calls are rung: empty = the user's registered SIP contacts, else a number or URI.
    ring_target: Mapped[str] = mapped_column(String(200), default="")
    sip_username: Mapped[str | None] = mapped_column(String(64), unique=True)
    sip_ha1_md5: Mapped[str | None] = mapped_column(String(64))
    sip_ha1_sha256: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(back_populates="agent")


class Queue(Base):
    __tablename__ = "queue"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(String(8), default="lv")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    strategy: Mapped[str] = mapped_column(String(24), default="longest_idle")
    sl_threshold_s: Mapped[int] = mapped_column(Integer, default=20)
    short_abandon_s: Mapped[int] = mapped_column(Integer, default=5)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=15)
    wrapup_s: Mapped[int] = mapped_column(Integer, default=10)
    wrapup_until_card: Mapped[bool] = mapped_column(Boolean, default=False)
    max_wait_s: Mapped[int | None]
    max_length: Mapped[int | None]
    overflow_target: Mapped[str | None] = mapped_column(String(64))
    no_agents_action: Mapped[str] = mapped_column(String(16), default="wait")
    #: {"mon": [["08:30", "17:00"]], ...}; empty = always open.
    business_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    holidays: Mapped[list[Any]] = mapped_column(default=list)
    record_calls: Mapped[bool] = mapped_column(Boolean, default=True)
    rating_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    callback_offer_ewt_s: Mapped[int | None]
    caller_id: Mapped[str] = mapped_column(String(40), default="")
    sticky_days: Mapped[int] = mapped_column(Integer, default=0)
    sticky_wait_s: Mapped[int] = mapped_column(Integer, default=30)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Did(Base):
    """A dialled number (DID) and where it enters: an IVR or straight into a queue."""

    __tablename__ = "did"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id"))
    ivr_id: Mapped[int | None] = mapped_column(ForeignKey("ivr.id"))


class Ivr(Base):
    """An IVR flow described as data (greeting, menu, branches), editable without restart."""

    __tablename__ = "ivr"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(8), default="lv")
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SkillLevel(Base):
    __tablename__ = "skill_level"
    __table_args__ = (UniqueConstraint("user_id", "queue_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    queue_id: Mapped[int] = mapped_column(ForeignKey("queue.id"), index=True)
    level: Mapped[int] = mapped_column(Integer, default=1)


class PauseReason(Base):
    __tablename__ = "pause_reason"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32))
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


request_wrapup = Table(
    "request_wrapup",
    Base.metadata,
    Column("request_id", ForeignKey("request.id", ondelete="CASCADE"), primary_key=True),
    Column("wrapup_code_id", ForeignKey("wrapup_code.id"), primary_key=True),
)


class WrapupCode(Base):
    __tablename__ = "wrapup_code"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32))
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def name(self, language: str) -> str:
        return str(self.names.get(language) or self.names.get("en") or self.code)


class Customer(Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )


class CustomerPhone(Base):
    __tablename__ = "customer_phone"
    __table_args__ = (UniqueConstraint("org_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    number: Mapped[str] = mapped_column(String(40))

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Interaction(Base):
    """One contact: a call (in or out), a chat, an e-mail, a callback or a voice message."""

    __tablename__ = "interaction"
    __table_args__ = (
        Index("ix_interaction_org_started", "org_id", "started_at"),
        Index("ix_interaction_org_caller", "org_id", "caller"),
        Index("ix_interaction_org_callee", "org_id", "callee"),
        # The live report's "waiting now" reads the calls enqueued in the last 24 hours.
        Index("ix_interaction_org_enqueued", "org_id", "enqueued_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    channel: Mapped[str] = mapped_column(String(16), default="voice")
    direction: Mapped[str] = mapped_column(String(4), default="in")
    caller: Mapped[str] = mapped_column(String(64), default="")
    callee: Mapped[str] = mapped_column(String(64), default="")
    did: Mapped[str] = mapped_column(String(40), default="")
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("interaction.id"))
    ivr_topic: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(32), default="")
    recording_ref: Mapped[str | None] = mapped_column(String(300))
    rating: Mapped[int | None]
    identified: Mapped[bool] = mapped_column(Boolean, default=False)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)


class Request(Base):
    """The ticket an agent registers during or after a call (seed 001's "pieteikums")."""

    __tablename__ = "request"
    __table_args__ = (
        Index("ix_request_org_created", "org_id", "created_at"),
        # The topics report finds the other requests of a call (its first one counts it).
        Index("ix_request_interaction", "interaction_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    phone: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id"))
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interaction.id"))
    duration_s: Mapped[int | None]
    edited_at: Mapped[datetime | None]
    edited_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    wrapup_codes: Mapped[list[WrapupCode]] = relationship(secondary=request_wrapup)


class RequestEdit(Base):
    """The previous content of a request, kept each time it is edited."""

    __tablename__ = "request_edit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id"), index=True)
    edited_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)


class UnansweredEntry(Base):
    __tablename__ = "unanswered_entry"
    __table_args__ = (Index("ix_unanswered_org_created", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id"))
    caller: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(24))
    duration_s: Mapped[int] = mapped_column(Integer, default=0)
    callback_state: Mapped[str] = mapped_column(String(24), default="not_called_back")
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interaction.id"))
    voicemail_ref: Mapped[str | None] = mapped_column(String(300))
    resolved_at: Mapped[datetime | None]
    resolved_by_interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interaction.id"))
    resolved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: A voice message counts as listened to once an agent played it (seed 000's table).
    listened_at: Mapped[datetime | None]
    listened_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class CallbackTask(Base):
    """A promised callback. Kept so that a restart never loses one: pending tasks re-enter
    the ACD at their original place (``arrived_at``) when the organisation is loaded."""

    __tablename__ = "callback_task"
    __table_args__ = (Index("ix_callback_task_org_state", "org_id", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interaction.id"), unique=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queue.id"))
    caller: Mapped[str] = mapped_column(String(64), default="")
    number: Mapped[str] = mapped_column(String(40))
    arrived_at: Mapped[datetime]
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime | None]
    #: waiting, dialing, done, failed, cancelled
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    result: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Base):
    """An outbound call campaign (seed 001): a list of numbers that agents preview and call.

    ``result_codes`` is the campaign's own list ``[{"code", "name", "retry"}]`` (see
    docs/decisions/0008-campaigns.md); ``state`` is draft, active, paused or finished."""

    __tablename__ = "campaign"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: Calls go out with this queue's caller id and count in its outgoing statistics.
    queue_id: Mapped[int] = mapped_column(ForeignKey("queue.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    result_codes: Mapped[list[Any]] = mapped_column(default=list)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignContact(Base):
    """One number of a campaign. ``state``: pending, in_progress (locked by ``agent_id``),
    done or failed. Unique per campaign, so a number is never called twice by mistake."""

    __tablename__ = "campaign_contact"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone"),
        Index("ix_campaign_contact_queue", "campaign_id", "state", "agent_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    line: Mapped[int] = mapped_column(Integer, default=0)
    phone: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    result_code: Mapped[str] = mapped_column(String(32), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interaction.id"))
    locked_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """The append-only event log. Application code never updates or deletes a row."""

    __tablename__ = "event_log"
    __table_args__ = (
        Index("ix_event_org_at", "org_id", "at"),
        Index("ix_event_org_type_at", "org_id", "type", "at"),
        Index("ix_event_interaction", "interaction_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    interaction_id: Mapped[int | None] = mapped_column(BigId)
    queue_id: Mapped[int | None]
    agent_id: Mapped[int | None]
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditEntry(Base):
    """Who changed what in the configuration, and supervisor actions on agents."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_org_at", "org_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Holiday(Base):
    """Organisation-wide public holidays (queues may add their own in ``Queue.holidays``)."""

    __tablename__ = "holiday"
    __table_args__ = (UniqueConstraint("org_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100), default="")


# --- report rollups (zvans.reports.rollup): derived from event_log, rebuilt at will ----------

class CallMeasures:
    """The additive call figures of a call rollup row (hourly and daily tables alike)."""

    calls_in: Mapped[int] = mapped_column(Integer, default=0)
    chats_in: Mapped[int] = mapped_column(Integer, default=0)
    emails_in: Mapped[int] = mapped_column(Integer, default=0)
    offered: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    answered_in_sl: Mapped[int] = mapped_column(Integer, default=0)
    answered_wait_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    wait_le_5: Mapped[int] = mapped_column(Integer, default=0)
    wait_le_15: Mapped[int] = mapped_column(Integer, default=0)
    wait_le_30: Mapped[int] = mapped_column(Integer, default=0)
    wait_le_60: Mapped[int] = mapped_column(Integer, default=0)
    wait_le_120: Mapped[int] = mapped_column(Integer, default=0)
    wait_gt_120: Mapped[int] = mapped_column(Integer, default=0)
    wait_max_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    abandoned_short: Mapped[int] = mapped_column(Integer, default=0)
    abandoned_wait_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    overflowed: Mapped[int] = mapped_column(Integer, default=0)
    ring_no_answer: Mapped[int] = mapped_column(Integer, default=0)
    callbacks_requested: Mapped[int] = mapped_column(Integer, default=0)
    callbacks_made: Mapped[int] = mapped_column(Integer, default=0)
    voicemails: Mapped[int] = mapped_column(Integer, default=0)
    transferred: Mapped[int] = mapped_column(Integer, default=0)
    talk_n: Mapped[int] = mapped_column(Integer, default=0)
    talk_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    holds: Mapped[int] = mapped_column(Integer, default=0)
    hold_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    wrapup_n: Mapped[int] = mapped_column(Integer, default=0)
    wrapup_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    out_calls: Mapped[int] = mapped_column(Integer, default=0)
    out_answered: Mapped[int] = mapped_column(Integer, default=0)
    out_talk_n: Mapped[int] = mapped_column(Integer, default=0)
    out_talk_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class TopicMeasures:
    """The additive request figures of a topic rollup row (hourly and daily tables alike)."""

    requests: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    dur_min: Mapped[int | None] = mapped_column(BigInteger)
    dur_max: Mapped[int | None] = mapped_column(BigInteger)
    dur_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    dur_n: Mapped[int] = mapped_column(Integer, default=0)


class ReportCallHour(CallMeasures, Base):
    """Per-hour sums of call events by queue and agent (0 = none). Times in milliseconds.

    Derived data: the catch-up job in ``zvans.reports.rollup`` fills it from the event log;
    reports read it for hours already rolled up and scan the log for the rest."""

    __tablename__ = "report_call_hour"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ReportAgentHour(Base):
    """Per-hour logged-in (kind "login") and paused (kind "pause", by reason) time, in ms."""

    __tablename__ = "report_agent_hour"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    ms: Mapped[int] = mapped_column(BigInteger, default=0)
    starts: Mapped[int] = mapped_column(Integer, default=0)


class ReportRatingHour(Base):
    """Per-hour count of ratings by queue, agent, channel, scale and value."""

    __tablename__ = "report_rating_hour"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    scale: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class ReportCallDay(CallMeasures, Base):
    """``report_call_hour`` summed per UTC day (``day`` = 00:00 UTC), for long ranges."""

    __tablename__ = "report_call_day"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[datetime] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ReportAgentDay(Base):
    """``report_agent_hour`` summed per UTC day."""

    __tablename__ = "report_agent_day"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[datetime] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    ms: Mapped[int] = mapped_column(BigInteger, default=0)
    starts: Mapped[int] = mapped_column(Integer, default=0)


class ReportRatingDay(Base):
    """``report_rating_hour`` summed per UTC day."""

    __tablename__ = "report_rating_day"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[datetime] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    scale: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class ReportUnanswered(Base):
    """One row per unanswered incoming call (``zvans.reports.unanswered``): its first
    out-of-hours / IVR-abandoned / abandoned event, category, caller and whether the caller
    was reached later. ``prev_*`` / ``next_*`` are the times of the same caller's previous /
    next unanswered call (any category, and the same category), so distinct callers over a
    range are a plain count of the rows whose previous call lies before the range."""

    __tablename__ = "report_unanswered"
    __table_args__ = (
        Index("ix_report_unanswered_hour", "org_id", "hour"),
        Index("ix_report_unanswered_caller", "org_id", "caller"),
        # Covers the totals query (per category, a range of hours): no table lookups.
        Index("ix_report_unanswered_totals", "org_id", "category", "hour", "reached",
              "prev_at", "next_at", "prev_cat_at", "next_cat_at"),
    )

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interaction_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hour: Mapped[datetime]
    at: Mapped[datetime]
    started_at: Mapped[datetime]
    category: Mapped[str] = mapped_column(String(24))
    queue_id: Mapped[int] = mapped_column(Integer, default=0)
    caller: Mapped[str] = mapped_column(String(64), default="")
    reached: Mapped[bool] = mapped_column(Boolean, default=False)
    prev_at: Mapped[datetime | None]
    next_at: Mapped[datetime | None]
    prev_cat_at: Mapped[datetime | None]
    next_cat_at: Mapped[datetime | None]


class ReportTopicHour(TopicMeasures, Base):
    """Per-hour requests by topic, agent and queue (``zvans.reports.topics``); -1 in
    ``topic_id`` / ``agent_id`` / ``queue_id`` = all of them (a subtotal row; topic -1
    counts every request once, with or without a topic). ``calls`` counts the calls whose
    first request of that key lies in the hour, so it adds up over hours. Durations in s."""

    __tablename__ = "report_topic_hour"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The key starts with the queue: an unfiltered report reads only the queue -1 rows.
    queue_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ReportTopicDay(TopicMeasures, Base):
    """``report_topic_hour`` summed per UTC day."""

    __tablename__ = "report_topic_day"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The key starts with the queue: an unfiltered report reads only the queue -1 rows.
    queue_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[datetime] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ReportRollupState(Base):
    """How far the rollups are complete: every hour before ``done_until`` is rolled up."""

    __tablename__ = "report_rollup_state"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    done_until: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Request edits (``request_edit.id``) already re-rolled into the topic rollups.
    request_edits_seen: Mapped[int] = mapped_column(BigInteger, default=0)
