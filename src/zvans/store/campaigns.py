"""Outbound call campaigns (seed 001): a CSV list of numbers, assigned to agents, preview
dialing, result codes and progress. Design notes: docs/decisions/0008-campaigns.md.

Every function takes the caller's organisation and answers a row of another organisation
exactly like a missing one (``NotFound``). Functions change the session and flush; the
caller commits. A ``ZvansError`` means nothing should be saved (roll back).

Claiming the next contact is a conditional UPDATE (``… WHERE state = 'pending'``) whose row
count tells whether this agent won: portable across SQLite and PostgreSQL, and two agents
never hold the same contact.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zvans.errors import Conflict, InvalidInput, NotFound, ZvansError
from zvans.store import validate
from zvans.store.db import append_event
from zvans.store.models import (
    AgentProfile,
    Campaign,
    CampaignContact,
    CustomerPhone,
    Did,
    Interaction,
    Queue,
    User,
)
from zvans.store.types import utcnow

log = logging.getLogger("zvans.campaigns")

STATES = ("draft", "active", "paused", "finished")
CONTACT_STATES = ("pending", "in_progress", "done", "failed")
#: Allowed campaign state changes.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("active", "finished"),
    "active": ("paused", "finished"),
    "paused": ("active", "finished"),
    "finished": (),
}

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 20_000
MAX_RESULT_CODES = 30
MAX_VALUE_LEN = 500

#: Header names recognised as the phone and the name column (lower case, trimmed).
PHONE_HEADERS = ("phone", "phone number", "telephone", "tel", "tel.", "number", "mobile",
                 "tālrunis", "telefons", "telefona numurs", "telefon", "telefonas",
                 "telefoni number", "tālr.", "tālr")
NAME_HEADERS = ("name", "full name", "client", "customer", "vārds", "vārds uzvārds",
                "klients", "nimi", "vardas")


def _(message: str) -> str:
    """Marks an English message for translation extraction; the web layer translates it."""
    return message


#: The list a new campaign starts with (the supervisor may edit it). ``retry`` = the
#: contact goes back to the list until ``max_attempts`` calls were made, then it fails.
DEFAULT_RESULT_CODES: list[dict[str, Any]] = [
    {"code": "REACHED", "name": _("Reached, done"), "retry": False},
    {"code": "INTERESTED", "name": _("Interested"), "retry": False},
    {"code": "REFUSED", "name": _("Not interested"), "retry": False},
    {"code": "NO_ANSWER", "name": _("No answer"), "retry": True},
    {"code": "BUSY", "name": _("Busy"), "retry": True},
    {"code": "CALL_LATER", "name": _("Call again later"), "retry": True},
    {"code": "WRONG_NUMBER", "name": _("Wrong number"), "retry": False},
]


class TelephonyNotRunning(ZvansError):
    code = "telephony-not-running"
    status = 503


class CallFailed(ZvansError):
    """Telephony raised while placing the call (the attempt stays recorded)."""

    code = "call-failed"
    status = 502


class CsvRejected(ZvansError):
    """The upload had bad rows; ``details["errors"]`` lists each with its line number."""

    code = "csv-invalid"
    status = 422


# --- campaigns ---------------------------------------------------------------------------

def normalise_result_codes(items: Iterable[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInput("result_codes", _("Each result code needs a code and a name."))
        code = validate.code(str(item.get("code", "")), "result_codes")
        if code in seen:
            raise InvalidInput("result_codes", f"Result code {code} is listed twice.")
        seen.add(code)
        name = validate.text(str(item.get("name") or code), "result_codes", max_len=100)
        out.append({"code": code, "name": name, "retry": bool(item.get("retry", False))})
    if not out:
        raise InvalidInput("result_codes", _("A campaign needs at least one result code."))
    if len(out) > MAX_RESULT_CODES:
        raise InvalidInput("result_codes",
                           f"A campaign may have at most {MAX_RESULT_CODES} result codes.")
    return out


def parse_result_codes(text: str) -> list[dict[str, Any]]:
    """The form's text area: one code a line, ``CODE | name | retry`` (name and retry
    optional)."""
    items = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        parts = [p.strip() for p in raw.split("|")]
        retry = len(parts) > 2 and parts[2].lower() in ("retry", "1", "yes", "true", "y")
        items.append({"code": parts[0], "name": parts[1] if len(parts) > 1 else parts[0],
                      "retry": retry})
    return normalise_result_codes(items)


def format_result_codes(codes: Sequence[dict[str, Any]]) -> str:
    return "\n".join(f"{c['code']} | {c['name']}{' | retry' if c.get('retry') else ''}"
                     for c in codes)


def _queue(session: Session, org_id: int, queue_id: Any) -> Queue:
    try:
        qid = int(queue_id)
    except (TypeError, ValueError):
        raise InvalidInput("queue_id", _("Choose a queue.")) from None
    queue = session.get(Queue, qid)
    if queue is None or queue.org_id != org_id:
        raise InvalidInput("queue_id", _("Choose a queue."))
    return queue


def create_campaign(
    session: Session, org_id: int, created_by: int | None, *, name: str, queue_id: Any,
    result_codes: Iterable[Any] | None = None, max_attempts: Any = 3,
) -> Campaign:
    clean_name = validate.text(name, "name", required=True, max_len=100)
    queue = _queue(session, org_id, queue_id)
    codes = normalise_result_codes(
        result_codes if result_codes is not None else DEFAULT_RESULT_CODES)
    attempts = validate.int_range(max_attempts, "max_attempts", 1, 20)
    exists = session.scalar(select(Campaign.id).where(
        Campaign.org_id == org_id, Campaign.name == clean_name))
    if exists is not None:
        raise InvalidInput("name", _("A campaign with this name already exists."))
    row = Campaign(org_id=org_id, name=clean_name, queue_id=queue.id, created_by=created_by,
                   state="draft", result_codes=codes, max_attempts=attempts)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # created by someone else meanwhile; the caller rolls back
        raise Conflict(_("A campaign with this name already exists."),
                       code="campaign-exists") from None
    return row


def update_campaign(
    session: Session, row: Campaign, *, name: str | None = None, queue_id: Any = None,
    result_codes: Iterable[Any] | None = None, max_attempts: Any = None,
) -> Campaign:
    if row.state == "finished":
        raise Conflict(_("This campaign is finished and cannot be changed."),
                       code="campaign-finished")
    if name is not None:
        clean = validate.text(name, "name", required=True, max_len=100)
        if clean != row.name and session.scalar(select(Campaign.id).where(
                Campaign.org_id == row.org_id, Campaign.name == clean)) is not None:
            raise InvalidInput("name", _("A campaign with this name already exists."))
        row.name = clean
    if queue_id is not None:
        row.queue_id = _queue(session, row.org_id, queue_id).id
    if result_codes is not None:
        codes = normalise_result_codes(result_codes)
        kept = {c["code"] for c in codes}
        used = session.execute(
            select(CampaignContact.result_code, func.count())
            .where(CampaignContact.campaign_id == row.id, CampaignContact.result_code != "")
            .group_by(CampaignContact.result_code)).all()
        for code, n in used:
            if code not in kept:
                raise InvalidInput("result_codes", f"Result code {code} is already used by "
                                   f"{n} contact(s) and cannot be removed.")
        row.result_codes = codes
    if max_attempts is not None:
        row.max_attempts = validate.int_range(max_attempts, "max_attempts", 1, 20)
    row.updated_at = utcnow()
    session.flush()
    return row


def get_campaign(session: Session, org_id: int, campaign_id: int) -> Campaign:
    row = session.get(Campaign, campaign_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"No campaign {campaign_id}.", code="no-such-campaign")
    return row


def list_campaigns(session: Session, org_id: int) -> list[Campaign]:
    return list(session.scalars(
        select(Campaign).where(Campaign.org_id == org_id).order_by(Campaign.id.desc())))


def set_state(session: Session, row: Campaign, state: str) -> Campaign:
    validate.choice(state, "state", STATES)
    if state == row.state:
        return row
    if state not in TRANSITIONS[row.state]:
        raise InvalidInput("state", f"A {row.state} campaign cannot become {state}.",
                           code="invalid-transition")
    row.state = state
    row.updated_at = utcnow()
    session.flush()
    return row


def caller_id_of(session: Session, queue_id: int) -> str:
    """The number outgoing calls show: the queue's caller id, else its first DID."""
    queue = session.get(Queue, queue_id)
    if queue is not None and queue.caller_id:
        return queue.caller_id
    number = session.scalar(
        select(Did.number).where(Did.queue_id == queue_id).order_by(Did.id).limit(1))
    return number or ""


def result_code_map(row: Campaign) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in row.result_codes}


# --- CSV upload --------------------------------------------------------------------------

@dataclass
class RowError:
    line: int
    field: str
    msgid: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.msgid % self.params if self.params else self.msgid

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message,
                "msgid": self.msgid, "params": self.params}


@dataclass
class ImportReport:
    imported: int = 0
    rows: int = 0
    errors: list[RowError] = dataclasses.field(default_factory=list)
    delimiter: str = ","
    columns: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "rows": self.rows,
                "skipped": len({e.line for e in self.errors if e.line > 1}),
                "delimiter": self.delimiter, "columns": self.columns,
                "errors": [e.as_dict() for e in self.errors]}


@dataclass
class _Row:
    line: int
    phone: str
    name: str
    data: dict[str, str]


def normalise_phone(value: str) -> str:
    """Digits with an optional leading +; ``00`` becomes ``+`` so duplicates are found."""
    cleaned = validate.phone(value, "phone", required=True)
    if cleaned.startswith("00") and len(cleaned) > 4:
        cleaned = "+" + cleaned[2:]
    return cleaned


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvRejected(
            f"The file is not UTF-8 text (line {line}). Save it as \"CSV UTF-8\".",
            errors=[RowError(line, "", _("The file is not UTF-8 text. Save it as "
                                         "\"CSV UTF-8\" and upload it again.")).as_dict()],
        ) from None


def _delimiter(header_line: str) -> str:
    semis, commas = header_line.count(";"), header_line.count(",")
    return ";" if semis > commas else ","


def _fail(msgid: str, field_name: str = "file", line: int = 1, **params: Any) -> CsvRejected:
    err = RowError(line, field_name, msgid, params)
    return CsvRejected(err.message, errors=[err.as_dict()])


def parse_csv(raw: bytes) -> tuple[list[_Row], ImportReport]:
    """Read and check a whole file. Returns the good rows and a report naming every bad row
    by its line number (the header is line 1)."""
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(_("The file is larger than %(limit)s MB."),
                    limit=MAX_FILE_BYTES // (1024 * 1024))
    text = _decode(raw)
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise _fail(_("The file is empty."))
    report = ImportReport(delimiter=_delimiter(lines[first]))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=report.delimiter)
    header: list[str] | None = None
    columns: tuple[int, int | None] = (0, None)
    rows: list[_Row] = []
    seen_phones: dict[str, int] = {}
    previous_end = 0
    try:
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [c.strip().lstrip("\ufeff").strip() for c in record]
                while header and not header[-1]:  # "phone;name;" from spreadsheets
                    header.pop()
                columns = _check_header(header, start)
                report.columns = header
                continue
            report.rows += 1
            if report.rows > MAX_ROWS:
                raise _fail(_("The file has more than %(limit)s rows."), limit=MAX_ROWS)
            row = _check_row(record, header, columns, start, report, seen_phones)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        raise _fail(_("The file is not valid CSV: %(reason)s."), line=reader.line_num,
                    reason=str(exc)) from None
    return rows, report


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _check_header(header: list[str], line: int) -> tuple[int, int | None]:
    """The phone and name column indexes; a bad header rejects the whole file."""
    for i, name in enumerate(header):
        if not name:
            raise _fail(_("Column %(column)s of the header row has no name."), "header", line,
                        column=i + 1)
        if len(name) > 100:
            raise _fail(_("Column %(column)s of the header row has a name longer than "
                          "100 characters."), "header", line, column=i + 1)
    lowered = [h.lower() for h in header]
    for name in lowered:
        if lowered.count(name) > 1:
            raise _fail(_("The header row names the column \"%(name)s\" twice."), "header",
                        line, name=name)
    phone_col = _column(header, PHONE_HEADERS)
    if phone_col is None:
        raise _fail(_("The header row has no phone column (name one column \"phone\")."),
                    "header", line)
    return phone_col, _column(header, NAME_HEADERS)


def _check_row(record: list[str], header: list[str], columns: tuple[int, int | None],
               line: int, report: ImportReport, seen: dict[str, int]) -> _Row | None:
    phone_col, name_col = columns
    cells = [c.strip() for c in record]
    while len(cells) > len(header) and not cells[-1]:
        cells.pop()
    if len(cells) > len(header):
        report.errors.append(RowError(
            line, "", _("The row has %(found)s fields but the header has %(expected)s."),
            {"found": len(cells), "expected": len(header)}))
        return None
    cells += [""] * (len(header) - len(cells))
    raw_phone = cells[phone_col]
    if not raw_phone:
        report.errors.append(RowError(line, "phone", _("The phone number is missing.")))
        return None
    try:
        phone = normalise_phone(raw_phone)
    except InvalidInput:
        report.errors.append(RowError(
            line, "phone", _("\"%(value)s\" is not a phone number (digits and a leading + "
                             "only)."), {"value": raw_phone[:60]}))
        return None
    if phone in seen:
        report.errors.append(RowError(
            line, "phone", _("The number %(phone)s is also on line %(other)s."),
            {"phone": phone, "other": seen[phone]}))
        return None
    name = cells[name_col] if name_col is not None else ""
    if len(name) > 200:
        report.errors.append(RowError(line, "name",
                                      _("The name is longer than 200 characters.")))
        return None
    data: dict[str, str] = {}
    for i, column in enumerate(header):
        if i in (phone_col, name_col):
            continue
        if len(cells[i]) > MAX_VALUE_LEN:
            report.errors.append(RowError(
                line, column, _("The value of \"%(column)s\" is longer than %(limit)s "
                                "characters."), {"column": column, "limit": MAX_VALUE_LEN}))
            return None
        if cells[i]:
            data[column] = cells[i]
    seen[phone] = line
    return _Row(line=line, phone=phone, name=name, data=data)


def import_csv(session: Session, campaign: Campaign, raw: bytes, *,
               valid_only: bool = False) -> ImportReport:
    """Add the file's contacts to ``campaign``.

    All or nothing by default: any bad row (bad number, duplicate in the file or in the
    campaign, too many fields …) raises ``CsvRejected`` listing every bad row, and nothing
    is added. With ``valid_only`` the good rows are added and the report lists the rest.
    """
    if campaign.state == "finished":
        raise Conflict(_("This campaign is finished: contacts cannot be added."),
                       code="campaign-finished")
    rows, report = parse_csv(raw)
    existing = set(session.scalars(select(CampaignContact.phone).where(
        CampaignContact.campaign_id == campaign.id)))
    good: list[_Row] = []
    for row in rows:
        if row.phone in existing:
            report.errors.append(RowError(
                row.line, "phone", _("The number %(phone)s is already in this campaign."),
                {"phone": row.phone}))
        else:
            good.append(row)
    report.errors.sort(key=lambda e: e.line)
    if report.errors and not valid_only:
        first = report.errors[0]
        raise CsvRejected(
            f"Nothing was imported: {len({e.line for e in report.errors})} bad row(s); "
            f"first on line {first.line}: {first.message}",
            errors=[e.as_dict() for e in report.errors], rows=report.rows)
    if not good and not report.errors:
        raise _fail(_("The file has a header row but no contacts."))
    now = utcnow()
    session.add_all(CampaignContact(
        campaign_id=campaign.id, org_id=campaign.org_id, line=r.line, phone=r.phone,
        name=r.name, data=r.data, state="pending", updated_at=now) for r in good)
    try:
        session.flush()
    except IntegrityError:  # another upload added the same number meanwhile
        raise Conflict(_("Another upload added some of these numbers at the same time. "
                         "Upload the file again."), code="campaign-contact-exists") from None
    report.imported = len(good)
    campaign.updated_at = now
    return report


# --- assignment --------------------------------------------------------------------------

def eligible_agents(session: Session, org_id: int) -> list[User]:
    """Users who take calls (an agent profile), not deleted, by name."""
    return list(session.scalars(
        select(User).join(AgentProfile, AgentProfile.user_id == User.id)
        .where(User.org_id == org_id, User.deleted_at.is_(None))
        .order_by(User.first_name, User.surname, User.username)))


def _agent_ids(session: Session, org_id: int, agent_ids: Iterable[Any]) -> list[int]:
    allowed = {u.id for u in eligible_agents(session, org_id)}
    out: list[int] = []
    for value in agent_ids:
        try:
            uid = int(value)
        except (TypeError, ValueError):
            raise InvalidInput("agent_ids", _("Choose agents from the list.")) from None
        if uid not in allowed:
            raise InvalidInput("agent_ids", f"User {uid} is not an agent of this "
                                            "organisation.", code="no-such-agent")
        if uid not in out:
            out.append(uid)
    return out


def assign(
    session: Session, campaign: Campaign, agent_ids: Iterable[Any] | None = None, *,
    contact_ids: Iterable[Any] | None = None, reassign: bool = False,
) -> dict[int, int]:
    """Share pending contacts among agents, evenly (the agent with the fewest pending
    contacts gets the next one). ``agent_ids`` None = every user with the agent role
    (supervisors who take calls are given contacts only when chosen).
    Only unassigned contacts move unless ``reassign``; contacts being called, done or
    failed never move. ``contact_ids`` limits the change to those contacts.
    Returns {agent_id: contacts newly given}."""
    if campaign.state == "finished":
        raise Conflict(_("This campaign is finished."), code="campaign-finished")
    if agent_ids is None:
        agents = [u.id for u in eligible_agents(session, campaign.org_id)
                  if u.role == "agent"]
    else:
        agents = _agent_ids(session, campaign.org_id, agent_ids)
    if not agents:
        raise InvalidInput("agent_ids", _("Choose at least one agent."))
    query = select(CampaignContact.id).where(
        CampaignContact.campaign_id == campaign.id, CampaignContact.state == "pending")
    if not reassign:
        query = query.where(CampaignContact.agent_id.is_(None))
    if contact_ids is not None:
        wanted: list[int] = []
        for value in contact_ids:
            try:
                wanted.append(int(value))
            except (TypeError, ValueError):
                raise InvalidInput("contact_ids", _("Contact ids must be numbers.")) from None
        query = query.where(CampaignContact.id.in_(wanted))
    ids = list(session.scalars(query.order_by(CampaignContact.id)))
    load = dict.fromkeys(agents, 0)
    for agent_id, n in session.execute(
            select(CampaignContact.agent_id, func.count())
            .where(CampaignContact.campaign_id == campaign.id,
                   CampaignContact.state == "pending",
                   CampaignContact.agent_id.in_(agents),
                   CampaignContact.id.not_in(ids) if ids else true())
            .group_by(CampaignContact.agent_id)):
        if agent_id is not None:
            load[agent_id] = int(n)
    given = dict.fromkeys(agents, 0)
    plan: dict[int, list[int]] = {a: [] for a in agents}
    for cid in ids:
        target = min(agents, key=lambda a: (load[a], agents.index(a)))
        load[target] += 1
        plan[target].append(cid)
    now = utcnow()
    for agent_id, chunk in plan.items():
        for start in range(0, len(chunk), 500):
            part = chunk[start:start + 500]
            # conditional: a contact an agent claimed meanwhile is left alone
            result = session.execute(
                update(CampaignContact)
                .where(CampaignContact.id.in_(part), CampaignContact.state == "pending")
                .values(agent_id=agent_id, updated_at=now)
                .execution_options(synchronize_session=False))
            given[agent_id] += int(getattr(result, "rowcount", 0) or 0)
    session.expire_all()
    return given


# --- preview dialing ---------------------------------------------------------------------

def get_contact(session: Session, org_id: int, contact_id: int) -> CampaignContact:
    row = session.get(CampaignContact, contact_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"No campaign contact {contact_id}.", code="no-such-contact")
    return row


def my_contact(session: Session, org_id: int, user_id: int, contact_id: int
               ) -> CampaignContact:
    """A contact the agent holds (in progress); anyone else's is answered as missing."""
    row = get_contact(session, org_id, contact_id)
    if row.agent_id != user_id:
        raise NotFound(f"No campaign contact {contact_id}.", code="no-such-contact")
    if row.state != "in_progress":
        raise Conflict(_("This contact is not open: take the next contact."),
                       code="contact-not-open")
    return row


def current_contact(session: Session, campaign: Campaign, user_id: int
                    ) -> CampaignContact | None:
    return session.scalar(
        select(CampaignContact).where(
            CampaignContact.campaign_id == campaign.id, CampaignContact.agent_id == user_id,
            CampaignContact.state == "in_progress").order_by(CampaignContact.id).limit(1))


def claim_next(session: Session, campaign: Campaign, user_id: int) -> CampaignContact | None:
    """The contact the agent should call now: the one they already hold, else the next
    pending contact assigned to them, else the next unassigned one (which becomes theirs).
    Untried contacts come first, then by last change (a skipped or retried contact goes to
    the end), then in file order. None when nothing is left."""
    if campaign.state != "active":
        raise Conflict(_("This campaign is not active."), code="campaign-not-active",
                       state=campaign.state)
    held = current_contact(session, campaign, user_id)
    if held is not None:
        return held
    mine_or_free = or_(CampaignContact.agent_id == user_id, CampaignContact.agent_id.is_(None))
    for _attempt in range(50):  # each lost race means another agent took one row
        candidate = session.scalar(
            select(CampaignContact.id)
            .where(CampaignContact.campaign_id == campaign.id,
                   CampaignContact.state == "pending", mine_or_free)
            .order_by(case((CampaignContact.agent_id.is_(None), 1), else_=0),
                      CampaignContact.attempts, CampaignContact.updated_at,
                      CampaignContact.id)
            .limit(1))
        if candidate is None:
            return None
        now = utcnow()
        result = session.execute(
            update(CampaignContact)
            .where(CampaignContact.id == candidate, CampaignContact.state == "pending",
                   mine_or_free)
            .values(state="in_progress", agent_id=user_id, locked_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
        if getattr(result, "rowcount", 0) == 1:
            row = session.get(CampaignContact, candidate, populate_existing=True)
            assert row is not None
            return row
    raise Conflict(_("Many agents are taking contacts at once; try again."), code="busy")


def release(session: Session, row: CampaignContact) -> CampaignContact:
    """Put a held contact back (it stays assigned to the same agent)."""
    if row.state != "in_progress":
        raise Conflict(_("This contact is not open."), code="contact-not-open")
    row.state = "pending"
    row.locked_at = None
    row.updated_at = utcnow()
    session.flush()
    return row


@dataclass
class CallStarted:
    interaction_id: int
    caller_id: str
    number: str
    queue_id: int


def record_call(session: Session, campaign: Campaign, row: CampaignContact, user_id: int,
                at: datetime | None = None) -> CallStarted:
    """The outgoing interaction and its ``arrived`` event (direction out), in the caller's
    transaction. Telephony is asked to dial only after this commits."""
    if campaign.state != "active":
        raise Conflict(_("This campaign is not active."), code="campaign-not-active",
                       state=campaign.state)
    now = at or utcnow()
    caller = caller_id_of(session, campaign.queue_id)
    customer_id = session.scalar(select(CustomerPhone.customer_id).where(
        CustomerPhone.org_id == campaign.org_id, CustomerPhone.number == row.phone))
    call = Interaction(org_id=campaign.org_id, channel="voice", direction="out", caller=caller,
                       callee=row.phone, queue_id=campaign.queue_id, agent_id=user_id,
                       customer_id=customer_id, started_at=now)
    session.add(call)
    session.flush()
    append_event(session, campaign.org_id, "arrived", interaction_id=call.id,
                 queue_id=campaign.queue_id, agent_id=user_id, at=now,
                 data={"direction": "out", "channel": "voice", "caller": caller,
                       "callee": row.phone, "campaign_id": campaign.id,
                       "contact_id": row.id})
    row.attempts += 1
    row.last_interaction_id = call.id
    row.updated_at = now
    session.flush()
    return CallStarted(call.id, caller, row.phone, campaign.queue_id)


def mark_not_connected(session: Session, org_id: int, interaction_id: int, outcome: str
                       ) -> None:
    """Close an outgoing interaction telephony could not start (no talk, no answer)."""
    call = session.get(Interaction, interaction_id)
    if call is not None and call.org_id == org_id and call.ended_at is None:
        call.ended_at = utcnow()
        call.outcome = outcome


def dial(telephony: Any, org_id: int, user_id: int, started: CallStarted) -> Any:
    """Ask telephony to ring the agent, then the number (click-to-call). Passes the
    recorded interaction id when telephony's ``click_to_call`` accepts it, so the call is
    one interaction, not two. Raises ``TelephonyNotRunning`` without telephony."""
    if telephony is None or not hasattr(telephony, "click_to_call"):
        raise TelephonyNotRunning(
            _("Telephony is not running, so Zvans cannot dial. Call the number from your "
              "phone, then save the result."), interaction_id=started.interaction_id)
    fn = telephony.click_to_call
    kwargs: dict[str, Any] = {}
    try:
        params = inspect.signature(fn).parameters
        if "interaction_id" in params or any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            kwargs["interaction_id"] = started.interaction_id
    except (TypeError, ValueError):
        pass
    return fn(org_id, user_id, started.number, started.queue_id, **kwargs)


def set_result(session: Session, campaign: Campaign, row: CampaignContact, result_code: str,
               comment: str = "") -> CampaignContact:
    """Close the contact with a result: done, or back to the list for a retry code while
    attempts remain (failed when they run out)."""
    codes = result_code_map(campaign)
    if result_code not in codes:
        raise InvalidInput("result_code", _("Choose a result from the list."),
                           code="no-such-result-code")
    if row.state != "in_progress":
        raise Conflict(_("This contact is not open."), code="contact-not-open")
    row.result_code = result_code
    row.comment = validate.text(comment, "comment", max_len=2000)
    if codes[result_code].get("retry"):
        row.state = "pending" if row.attempts < campaign.max_attempts else "failed"
    else:
        row.state = "done"
    row.locked_at = None
    row.updated_at = utcnow()
    session.flush()
    return row


# --- views -------------------------------------------------------------------------------

def contact_view(row: CampaignContact) -> dict[str, Any]:
    return {"id": row.id, "campaign_id": row.campaign_id, "line": row.line,
            "phone": row.phone, "name": row.name, "data": dict(row.data or {}),
            "agent_id": row.agent_id, "state": row.state, "result_code": row.result_code,
            "comment": row.comment, "attempts": row.attempts,
            "last_interaction_id": row.last_interaction_id,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None}


def campaign_view(row: Campaign) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "queue_id": row.queue_id, "state": row.state,
            "created_by": row.created_by, "created_at": row.created_at.isoformat(),
            "result_codes": list(row.result_codes), "max_attempts": row.max_attempts}


def progress(session: Session, campaign: Campaign) -> dict[str, Any]:
    """Totals by state, by result code and per agent (one grouped query each)."""
    cid = CampaignContact.campaign_id == campaign.id
    by_state = dict.fromkeys(CONTACT_STATES, 0)
    for state, n in session.execute(select(CampaignContact.state, func.count())
                                    .where(cid).group_by(CampaignContact.state)):
        by_state[state] = int(n)
    by_result: dict[str, int] = {c["code"]: 0 for c in campaign.result_codes}
    for code, n in session.execute(
            select(CampaignContact.result_code, func.count())
            .where(cid, CampaignContact.result_code != "")
            .group_by(CampaignContact.result_code)):
        by_result[code] = int(n)
    agents: dict[int | None, dict[str, Any]] = {}
    rows = session.execute(
        select(CampaignContact.agent_id, CampaignContact.state, func.count(),
               func.coalesce(func.sum(CampaignContact.attempts), 0))
        .where(cid).group_by(CampaignContact.agent_id, CampaignContact.state))
    for agent_id, state, n, calls in rows:
        entry = agents.setdefault(agent_id, {"agent_id": agent_id, "total": 0, "calls": 0,
                                             **dict.fromkeys(CONTACT_STATES, 0)})
        entry[state] = int(n)
        entry["total"] += int(n)
        entry["calls"] += int(calls)
    names = {u.id: u.display_name for u in session.scalars(
        select(User).where(User.id.in_([a for a in agents if a is not None])))} if agents else {}
    per_agent = sorted(agents.values(), key=lambda e: (e["agent_id"] is None,
                                                       names.get(e["agent_id"], "")))
    for entry in per_agent:
        entry["name"] = names.get(entry["agent_id"], "")
    total = sum(by_state.values())
    closed = by_state["done"] + by_state["failed"]
    return {"campaign_id": campaign.id, "total": total, "closed": closed,
            "by_state": by_state, "by_result": by_result, "per_agent": per_agent,
            "calls": sum(e["calls"] for e in per_agent)}


def agent_summary(session: Session, org_id: int, user_id: int) -> list[dict[str, Any]]:
    """Active and paused campaigns where the agent has work: their contacts and the pool."""
    mine = CampaignContact.agent_id == user_id
    rows = session.execute(
        select(Campaign, func.sum(case((and_(mine, CampaignContact.state.in_(
                   ("pending", "in_progress"))), 1), else_=0)),
               func.sum(case((and_(mine, CampaignContact.state.in_(("done", "failed"))), 1),
                             else_=0)),
               func.sum(case((and_(CampaignContact.agent_id.is_(None),
                                   CampaignContact.state == "pending"), 1), else_=0)))
        .join(CampaignContact, CampaignContact.campaign_id == Campaign.id)
        .where(Campaign.org_id == org_id, Campaign.state.in_(("active", "paused")))
        .group_by(Campaign.id).order_by(Campaign.id.desc()))
    out = []
    for campaign, open_n, closed_n, pool_n in rows:
        if (open_n or 0) + (closed_n or 0) + (pool_n or 0) == 0:
            continue
        out.append({**campaign_view(campaign), "open": int(open_n or 0),
                    "closed": int(closed_n or 0), "unassigned": int(pool_n or 0)})
    return out


def list_contacts(session: Session, campaign: Campaign, *, state: str | None = None,
                  agent_id: int | None = None, limit: int = 200, offset: int = 0
                  ) -> list[CampaignContact]:
    query = select(CampaignContact).where(CampaignContact.campaign_id == campaign.id)
    if state:
        query = query.where(CampaignContact.state == validate.choice(state, "state",
                                                                      CONTACT_STATES))
    if agent_id is not None:
        query = query.where(CampaignContact.agent_id == agent_id)
    return list(session.scalars(query.order_by(CampaignContact.id).offset(offset)
                                .limit(limit)))


def _cell(value: str) -> str:
    """A text cell safe to open in a spreadsheet: no formula from uploaded or typed text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(session: Session, campaign: Campaign) -> bytes:
    """Every contact with its result, as UTF-8 CSV with a BOM (spreadsheets read it right).
    The uploaded extra columns come after the fixed ones, in first-seen order."""
    rows = list(session.scalars(select(CampaignContact).where(
        CampaignContact.campaign_id == campaign.id).order_by(CampaignContact.id)))
    extra: list[str] = []
    for row in rows:
        for key in row.data or {}:
            if key not in extra:
                extra.append(key)
    agents = {u.id: u.display_name for u in session.scalars(select(User).where(
        User.org_id == campaign.org_id))}
    names = {c["code"]: c["name"] for c in campaign.result_codes}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["line", "phone", "name", *extra, "agent", "state", "result_code",
                     "result", "comment", "attempts", "updated_at"])
    for row in rows:
        data = row.data or {}
        writer.writerow([
            row.line, row.phone, _cell(row.name),
            *(_cell(str(data.get(k, ""))) for k in extra),
            _cell(agents.get(row.agent_id, "") if row.agent_id else ""), row.state,
            row.result_code, _cell(names.get(row.result_code, "")), _cell(row.comment),
            row.attempts, row.updated_at.isoformat() if row.updated_at else ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
