"""Per-organisation configuration lists: wrap-up codes, pause reasons, queues, skills, DIDs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zvans.errors import Conflict, InvalidInput, NotFound
from zvans.store import validate
from zvans.store.models import (
    NO_AGENT_ACTIONS,
    STRATEGIES,
    Did,
    Holiday,
    PauseReason,
    Queue,
    SkillLevel,
    User,
    WrapupCode,
)

LANGUAGES = ("lv", "en", "lt", "et")


def _names(names: Mapping[str, str], required_field: str = "name") -> dict[str, str]:
    cleaned = {}
    for lang, value in names.items():
        if lang not in LANGUAGES:
            raise InvalidInput(f"{required_field}_{lang}", f"Unknown language {lang!r}.")
        text = validate.text(value, f"{required_field}_{lang}", max_len=200)
        if text:
            cleaned[lang] = text
    if not cleaned:
        raise InvalidInput(required_field, "A name is required (in at least one language).")
    return cleaned


# --- wrap-up codes -------------------------------------------------------------------------

def add_wrapup_code(
    session: Session, org_id: int, code: str, names: Mapping[str, str],
    position: int | None = None, active: bool = True,
) -> WrapupCode:
    code = validate.code(code)
    cleaned = _names(names)
    if position is None:
        last = session.scalar(
            select(func.max(WrapupCode.position)).where(WrapupCode.org_id == org_id)
        )
        position = (last or 0) + 10
    position = validate.int_range(position, "position", 0, 1_000_000)
    if session.scalar(
        select(WrapupCode.id).where(WrapupCode.org_id == org_id, WrapupCode.code == code)
    ):
        raise Conflict(f"Wrap-up code {code!r} already exists.", code="duplicate-code",
                       field="code")
    row = WrapupCode(org_id=org_id, code=code, names=cleaned, position=position, active=active)
    session.add(row)
    session.flush()
    return row


def update_wrapup_code(
    session: Session, row: WrapupCode, *, code: str | None = None,
    names: Mapping[str, str] | None = None, position: int | None = None,
    active: bool | None = None,
) -> WrapupCode:
    new_code = validate.code(code) if code is not None else row.code
    new_names = _names(names) if names is not None else row.names
    new_pos = validate.int_range(position, "position", 0, 1_000_000) if position is not None \
        else row.position
    if new_code != row.code and session.scalar(
        select(WrapupCode.id).where(WrapupCode.org_id == row.org_id, WrapupCode.code == new_code)
    ):
        raise Conflict(f"Wrap-up code {new_code!r} already exists.", code="duplicate-code",
                       field="code")
    row.code, row.names, row.position = new_code, new_names, new_pos
    if active is not None:
        row.active = active
    return row


def list_wrapup_codes(session: Session, org_id: int, active_only: bool = False) -> list[WrapupCode]:
    q = select(WrapupCode).where(WrapupCode.org_id == org_id)
    if active_only:
        q = q.where(WrapupCode.active.is_(True))
    return list(session.scalars(q.order_by(WrapupCode.position, WrapupCode.id)))


def get_wrapup_code(session: Session, org_id: int, code_id: int) -> WrapupCode:
    row = session.get(WrapupCode, code_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"No wrap-up code {code_id}.", code="no-such-wrapup-code")
    return row


# --- pause reasons -------------------------------------------------------------------------

def add_pause_reason(
    session: Session, org_id: int, code: str, names: Mapping[str, str],
    position: int | None = None,
) -> PauseReason:
    code = validate.code(code)
    cleaned = _names(names)
    if position is None:
        last = session.scalar(
            select(func.max(PauseReason.position)).where(PauseReason.org_id == org_id)
        )
        position = (last or 0) + 10
    if session.scalar(
        select(PauseReason.id).where(PauseReason.org_id == org_id, PauseReason.code == code)
    ):
        raise Conflict(f"Pause reason {code!r} already exists.", code="duplicate-code",
                       field="code")
    row = PauseReason(org_id=org_id, code=code, names=cleaned, position=position)
    session.add(row)
    session.flush()
    return row


def list_pause_reasons(session: Session, org_id: int) -> list[PauseReason]:
    return list(
        session.scalars(
            select(PauseReason)
            .where(PauseReason.org_id == org_id)
            .order_by(PauseReason.position, PauseReason.id)
        )
    )


# --- queues --------------------------------------------------------------------------------

QUEUE_INT_FIELDS = {
    "priority": (0, 1000),
    "sl_threshold_s": (1, 3600),
    "short_abandon_s": (0, 600),
    "ring_timeout_s": (3, 300),
    "wrapup_s": (0, 3600),
    "sticky_days": (0, 365),
    "sticky_wait_s": (0, 600),
}
QUEUE_OPTIONAL_INT_FIELDS = {
    "max_wait_s": (1, 24 * 3600),
    "max_length": (1, 100_000),
    "callback_offer_ewt_s": (0, 24 * 3600),
}


def _queue_fields(session: Session, org_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            out[key] = validate.text(value, "name", required=True, max_len=100)
        elif key == "names":
            out[key] = _names(value)
        elif key == "language":
            out[key] = validate.choice(value, "language", LANGUAGES)
        elif key == "strategy":
            out[key] = validate.choice(value, "strategy", STRATEGIES)
        elif key == "no_agents_action":
            out[key] = validate.choice(value, "no_agents_action", NO_AGENT_ACTIONS)
        elif key in QUEUE_INT_FIELDS:
            out[key] = validate.int_range(value, key, *QUEUE_INT_FIELDS[key])
        elif key in QUEUE_OPTIONAL_INT_FIELDS:
            out[key] = None if value in (None, "") else validate.int_range(
                value, key, *QUEUE_OPTIONAL_INT_FIELDS[key])
        elif key in ("wrapup_until_card", "record_calls", "rating_enabled", "active"):
            out[key] = bool(value)
        elif key == "overflow_target":
            out[key] = _overflow_target(session, org_id, value)
        elif key == "caller_id":
            out[key] = validate.phone(value, "caller_id")
        elif key == "business_hours":
            out[key] = _business_hours(value)
        elif key == "holidays":
            out[key] = _holidays(value)
        else:
            raise InvalidInput(key, f"Unknown queue setting {key!r}.")
    return out


def _overflow_target(session: Session, org_id: int, value: str | None) -> str | None:
    if value in (None, ""):
        return None
    assert value is not None
    if value == "voicemail":
        return value
    if value.startswith("queue:"):
        try:
            target = int(value.removeprefix("queue:"))
        except ValueError:
            target = -1
        row = session.get(Queue, target)
        if row is not None and row.org_id == org_id:
            return value
    raise InvalidInput("overflow_target", "Overflow target must be 'voicemail' or a queue.")


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _business_hours(value: Mapping[str, Any]) -> dict[str, Any]:
    import re

    hhmm = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
    out: dict[str, Any] = {}
    for day, spans in value.items():
        if day not in DAYS:
            raise InvalidInput("business_hours", f"Unknown day {day!r}; use {', '.join(DAYS)}.")
        checked = []
        for span in spans:
            if len(span) != 2 or not all(isinstance(s, str) and hhmm.match(s) for s in span) \
                    or span[0] >= span[1]:
                raise InvalidInput("business_hours", f"Bad opening hours {span!r} on {day}.")
            checked.append([span[0], span[1]])
        out[day] = checked
    return out


def _holidays(value: list[Any]) -> list[str]:
    from datetime import date

    out = []
    for item in value:
        try:
            out.append(date.fromisoformat(str(item)).isoformat())
        except ValueError:
            raise InvalidInput("holidays", f"Bad date {item!r}; use YYYY-MM-DD.") from None
    return sorted(set(out))


def add_queue(session: Session, org_id: int, name: str, **fields: Any) -> Queue:
    cleaned = _queue_fields(session, org_id, {"name": name, **fields})
    if session.scalar(
        select(Queue.id).where(Queue.org_id == org_id, Queue.name == cleaned["name"])
    ):
        raise Conflict(f"Queue {cleaned['name']!r} already exists.", code="duplicate-queue",
                       field="name")
    row = Queue(org_id=org_id, **cleaned)
    session.add(row)
    session.flush()
    return row


def update_queue(session: Session, row: Queue, **fields: Any) -> Queue:
    cleaned = _queue_fields(session, row.org_id, fields)
    if "name" in cleaned and cleaned["name"] != row.name and session.scalar(
        select(Queue.id).where(Queue.org_id == row.org_id, Queue.name == cleaned["name"])
    ):
        raise Conflict(f"Queue {cleaned['name']!r} already exists.", code="duplicate-queue",
                       field="name")
    for key, value in cleaned.items():
        setattr(row, key, value)
    return row


def list_queues(session: Session, org_id: int) -> list[Queue]:
    return list(session.scalars(select(Queue).where(Queue.org_id == org_id).order_by(Queue.id)))


def get_queue(session: Session, org_id: int, queue_id: int) -> Queue:
    row = session.get(Queue, queue_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"No queue {queue_id}.", code="no-such-queue", queue_id=queue_id)
    return row


def set_skill(
    session: Session, org_id: int, user_id: int, queue_id: int, level: int | None
) -> None:
    """Set an agent's level in a queue (1 = primary); None removes the agent from the queue."""
    user = session.get(User, user_id)
    if user is None or user.org_id != org_id or user.deleted_at is not None:
        raise NotFound(f"No user {user_id}.", code="no-such-user")
    get_queue(session, org_id, queue_id)
    row = session.scalar(
        select(SkillLevel).where(SkillLevel.user_id == user_id, SkillLevel.queue_id == queue_id)
    )
    if level is None:
        if row is not None:
            session.delete(row)
        return
    level = validate.int_range(level, "level", 1, 99)
    if row is None:
        session.add(SkillLevel(org_id=org_id, user_id=user_id, queue_id=queue_id, level=level))
    else:
        row.level = level


def skills_of(session: Session, org_id: int) -> dict[int, dict[int, int]]:
    """{user_id: {queue_id: level}} for the organisation."""
    out: dict[int, dict[int, int]] = {}
    for row in session.scalars(select(SkillLevel).where(SkillLevel.org_id == org_id)):
        out.setdefault(row.user_id, {})[row.queue_id] = row.level
    return out


def add_did(session: Session, org_id: int, number: str, *, queue_id: int | None = None,
            ivr_id: int | None = None) -> Did:
    number = validate.phone(number, "number", required=True)
    if session.scalar(select(Did.id).where(Did.number == number)):
        raise Conflict(f"Number {number} is already in use.", code="duplicate-did", field="number")
    if queue_id is not None:
        get_queue(session, org_id, queue_id)
    row = Did(org_id=org_id, number=number, queue_id=queue_id, ivr_id=ivr_id)
    session.add(row)
    session.flush()
    return row


# --- administration helpers (web admin pages) ----------------------------------------------

def wrapup_code_in_use(session: Session, row: WrapupCode) -> bool:
    """Whether any saved request is tagged with this code (then it can only be deactivated)."""
    from zvans.store.models import request_wrapup

    return session.scalar(
        select(request_wrapup.c.request_id)
        .where(request_wrapup.c.wrapup_code_id == row.id)
        .limit(1)
    ) is not None


def delete_wrapup_code(session: Session, row: WrapupCode) -> str:
    """Delete an unused code; a code that requests refer to is deactivated instead, so the
    requests keep their topic. Returns ``"deleted"`` or ``"deactivated"``."""
    if wrapup_code_in_use(session, row):
        row.active = False
        return "deactivated"
    session.delete(row)
    session.flush()
    return "deleted"


def get_pause_reason(session: Session, org_id: int, reason_id: int) -> PauseReason:
    row = session.get(PauseReason, reason_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"No pause reason {reason_id}.", code="no-such-pause-reason")
    return row


def update_pause_reason(
    session: Session, row: PauseReason, *, code: str | None = None,
    names: Mapping[str, str] | None = None, position: int | None = None,
    active: bool | None = None,
) -> PauseReason:
    new_code = validate.code(code) if code is not None else row.code
    new_names = _names(names) if names is not None else row.names
    new_pos = validate.int_range(position, "position", 0, 1_000_000) if position is not None \
        else row.position
    if new_code != row.code and session.scalar(
        select(PauseReason.id).where(PauseReason.org_id == row.org_id,
                                     PauseReason.code == new_code)
    ):
        raise Conflict(f"Pause reason {new_code!r} already exists.", code="duplicate-code",
                       field="code")
    row.code, row.names, row.position = new_code, new_names, new_pos
    if active is not None:
        row.active = active
    return row


def list_dids(session: Session, org_id: int) -> list[Did]:
    return list(session.scalars(select(Did).where(Did.org_id == org_id).order_by(Did.number)))


def set_queue_dids(session: Session, org_id: int, queue_id: int, numbers: list[str]) -> list[str]:
    """Make ``numbers`` exactly the numbers that ring straight into the queue.

    A number that belongs to another queue, an IVR or another organisation is refused
    (field ``dids``); nothing changes then."""
    get_queue(session, org_id, queue_id)
    wanted: list[str] = []
    for raw in numbers:
        if not raw.strip():
            continue
        number = validate.phone(raw, "dids", required=True)
        if number not in wanted:
            wanted.append(number)
    current = {d.number: d for d in session.scalars(
        select(Did).where(Did.org_id == org_id, Did.queue_id == queue_id))}
    for number in wanted:
        if number in current:
            continue
        other = session.scalar(select(Did).where(Did.number == number))
        if other is not None:
            raise Conflict(f"Number {number} is already in use elsewhere.",
                           code="duplicate-did", field="dids")
    for number, row in current.items():
        if number not in wanted:
            session.delete(row)
    session.flush()
    for number in wanted:
        if number not in current:
            session.add(Did(org_id=org_id, number=number, queue_id=queue_id))
    session.flush()
    return wanted


def set_skill_matrix(
    session: Session, org_id: int, matrix: Mapping[int, Mapping[int, int | None]]
) -> list[tuple[int, int, int | None, int | None]]:
    """Apply ``{user_id: {queue_id: level or None}}``; returns the changed cells as
    ``(user_id, queue_id, old, new)``. Cells not mentioned are left alone."""
    before = skills_of(session, org_id)
    changes: list[tuple[int, int, int | None, int | None]] = []
    for user_id, row in matrix.items():
        for queue_id, level in row.items():
            old = before.get(user_id, {}).get(queue_id)
            if level is not None:
                level = validate.int_range(level, f"skill_{user_id}_{queue_id}", 1, 99)
            if old == level:
                continue
            set_skill(session, org_id, user_id, queue_id, level)
            changes.append((user_id, queue_id, old, level))
    session.flush()
    return changes


def list_holidays(session: Session, org_id: int) -> list[Holiday]:
    return list(session.scalars(
        select(Holiday).where(Holiday.org_id == org_id).order_by(Holiday.day)))


def add_holiday(session: Session, org_id: int, day: str, name: str = "") -> Holiday:
    """An organisation-wide public holiday: every queue with opening hours is closed."""
    from datetime import date

    try:
        parsed = date.fromisoformat(day.strip())
    except ValueError:
        raise InvalidInput("day", "Write the date as YYYY-MM-DD.") from None
    name = validate.text(name, "name", max_len=100)
    if session.scalar(select(Holiday.id).where(Holiday.org_id == org_id,
                                               Holiday.day == parsed)):
        raise Conflict("This date is already a holiday.", code="duplicate-holiday", field="day")
    row = Holiday(org_id=org_id, day=parsed, name=name)
    session.add(row)
    session.flush()
    return row


def delete_holiday(session: Session, org_id: int, holiday_id: int) -> Holiday:
    row = session.get(Holiday, holiday_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"No holiday {holiday_id}.", code="no-such-holiday")
    session.delete(row)
    session.flush()
    return row
