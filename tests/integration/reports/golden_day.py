"""A hand-built event log of one small day (2026-01-14, Europe/Riga = UTC+2) with every kind
of call, plus a second organisation whose events must never be counted.

Times below are UTC. The expected figures are worked out by hand in test_golden.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from zvans.store import catalog, orgs
from zvans.store.db import append_event
from zvans.store.models import AgentProfile, Interaction, Request, User, WrapupCode

DAY = datetime(2026, 1, 14, tzinfo=UTC)
NOW = datetime(2026, 1, 14, 16, 0, 0, tzinfo=UTC)


def t(hms: str, day: datetime = DAY) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return day.replace(hour=h, minute=m, second=s)


@dataclass
class Golden:
    org_id: int = 0
    other_org_id: int = 0
    q1: int = 0  # Sales: T = 20 s, short abandon 5 s
    q2: int = 0  # Support: T = 30 s, short abandon 5 s
    a: int = 0  # Anna A
    b: int = 0  # Berta B
    other_agent: int = 0
    calls: dict[str, int] = field(default_factory=dict)


def _user(session: Session, org_id: int, username: str, first: str, surname: str) -> int:
    # No password hashing needed here: these users never log in.
    u = User(org_id=org_id, username=username, password_hash="x", email=f"{username}@ex.test",
             role="agent", first_name=first, surname=surname)
    session.add(u)
    session.flush()
    session.add(AgentProfile(org_id=org_id, user_id=u.id))
    return u.id


def build(session: Session) -> Golden:
    g = Golden()
    org = orgs.add_org(session, "gold", "Golden Org", timezone="Europe/Riga", language="en")
    g.org_id = org.id
    g.q1 = catalog.add_queue(session, org.id, "Sales", sl_threshold_s=20, short_abandon_s=5).id
    g.q2 = catalog.add_queue(session, org.id, "Support", sl_threshold_s=30,
                             short_abandon_s=5).id
    g.a = _user(session, org.id, "anna", "Anna", "A")
    g.b = _user(session, org.id, "berta", "Berta", "B")
    for code, name in (("card", "Card filling"), ("lunch", "Lunch"), ("other", "Other")):
        catalog.add_pause_reason(session, org.id, code, {"en": name})
    reg = catalog.add_wrapup_code(session, org.id, "REG", {"en": "Registration"})
    pay = catalog.add_wrapup_code(session, org.id, "PAY", {"en": "Payments"})
    session.flush()

    def call(name: str, started: str, *, caller: str = "", callee: str = "",
             direction: str = "in", channel: str = "voice", queue: int | None = None,
             agent: int | None = None, enqueued: str | None = None,
             answered: str | None = None, ended: str | None = None,
             simulated: bool = False, day: datetime = DAY, org_id: int = org.id) -> int:
        row = Interaction(
            org_id=org_id, channel=channel, direction=direction, caller=caller, callee=callee,
            queue_id=queue, agent_id=agent, started_at=t(started, day),
            enqueued_at=t(enqueued, day) if enqueued else None,
            answered_at=t(answered, day) if answered else None,
            ended_at=t(ended, day) if ended else None, simulated=simulated)
        session.add(row)
        session.flush()
        g.calls[name] = row.id
        return row.id

    def ev(at: str, type: str, iid: int | None = None, q: int | None = None,
           a: int | None = None, day: datetime = DAY, org_id: int = org.id,
           **data: Any) -> None:
        append_event(session, org_id, type, interaction_id=iid, queue_id=q, agent_id=a,
                     data=data, at=t(at, day))

    A, B, Q1, Q2 = g.a, g.b, g.q1, g.q2
    # Agents. A: 08:00-16:00, lunch 11:00-11:30, card 13:00-13:05. B: 09:00-15:30, other
    # 10:00-10:10.
    ev("08:00:00", "agent_login", a=A)
    ev("11:00:00", "agent_paused", a=A, reason="lunch")
    ev("11:30:00", "agent_ready", a=A)
    ev("13:00:00", "agent_paused", a=A, reason="card")
    ev("13:05:00", "agent_ready", a=A)
    ev("16:00:00", "agent_logout", a=A)
    ev("09:00:00", "agent_login", a=B)
    ev("10:00:00", "agent_paused", a=B, reason="other")
    ev("10:10:00", "agent_ready", a=B)
    ev("15:30:00", "agent_logout", a=B)

    # c1: answered fast (3 s) in Sales by A, talk 120, wrap-up 10, rated 5.
    c = call("c1", "08:10:00", caller="+371200001", queue=Q1, agent=A, enqueued="08:10:05",
             answered="08:10:08", ended="08:12:08")
    ev("08:10:00", "arrived", c, direction="in", channel="voice")
    ev("08:10:05", "enqueued", c, Q1)
    ev("08:10:05", "offered", c, Q1, A)
    ev("08:10:08", "answered", c, Q1, A, wait_s=3)
    ev("08:12:08", "completed", c, Q1, A, talk_s=120)
    ev("08:12:18", "wrapup_done", c, Q1, A, wrapup_s=10)
    ev("08:12:30", "rated", c, Q1, A, rating=5)
    # c2: answered slow (45 s) in Sales by B, held 30 s, talk 300, wrap-up 20, rated 3.
    c = call("c2", "09:20:00", caller="+371200002", queue=Q1, agent=B, enqueued="09:20:00",
             answered="09:20:45", ended="09:25:45")
    ev("09:20:00", "arrived", c, direction="in")
    ev("09:20:00", "enqueued", c, Q1)
    ev("09:20:40", "offered", c, Q1, B)
    ev("09:20:45", "answered", c, Q1, B, wait_s=45)
    ev("09:21:00", "held", c, Q1, B)
    ev("09:21:30", "resumed", c, Q1, B, hold_s=30)
    ev("09:25:45", "completed", c, Q1, B, talk_s=300)
    ev("09:26:05", "wrapup_done", c, Q1, B, wrapup_s=20)
    ev("09:26:10", "rated", c, Q1, B, rating=3)
    # c3: short abandon (3 s) in Sales; the same caller calls again as c14 and is answered.
    c = call("c3", "10:00:00", caller="+371200003", queue=Q1, enqueued="10:00:00",
             ended="10:00:03")
    ev("10:00:00", "arrived", c)
    ev("10:00:00", "enqueued", c, Q1)
    ev("10:00:03", "abandoned", c, Q1, wait_s=3)
    # c4: long abandon (90 s) in Support; B later calls that number back (c10, answered).
    c = call("c4", "10:30:00", caller="+371200004", queue=Q2, enqueued="10:30:00",
             ended="10:31:30")
    ev("10:30:00", "arrived", c)
    ev("10:30:00", "enqueued", c, Q2)
    ev("10:31:30", "abandoned", c, Q2, wait_s=90)
    # c5: rung at B with no answer, then answered by A after 25 s in Support; rated 4.
    c = call("c5", "12:00:00", caller="+371200005", queue=Q2, agent=A, enqueued="12:00:00",
             answered="12:00:25", ended="12:03:25")
    ev("12:00:00", "arrived", c)
    ev("12:00:00", "enqueued", c, Q2)
    ev("12:00:02", "offered", c, Q2, B)
    ev("12:00:17", "ring_no_answer", c, Q2, B)
    ev("12:00:18", "offered", c, Q2, A)
    ev("12:00:25", "answered", c, Q2, A, wait_s=25)
    ev("12:03:25", "completed", c, Q2, A, talk_s=180)
    ev("12:03:35", "wrapup_done", c, Q2, A, wrapup_s=10)
    ev("12:03:40", "rated", c, Q2, A, rating=4)
    # c6: answered by A in Sales (10 s), talk 60, transferred to Support, answered there by
    # B (10 s), talk 120.
    c = call("c6", "13:10:00", caller="+371200006", queue=Q2, agent=B, enqueued="13:10:00",
             answered="13:10:10", ended="13:13:20")
    ev("13:10:00", "arrived", c)
    ev("13:10:00", "enqueued", c, Q1)
    ev("13:10:10", "answered", c, Q1, A, wait_s=10)
    ev("13:11:10", "transferred", c, Q1, A, target="queue:Support")
    ev("13:11:10", "completed", c, Q1, A, talk_s=60)
    ev("13:11:10", "enqueued", c, Q2)
    ev("13:11:15", "wrapup_done", c, Q1, A, wrapup_s=5)
    ev("13:11:20", "answered", c, Q2, B, wait_s=10)
    ev("13:13:20", "completed", c, Q2, B, talk_s=120)
    ev("13:13:30", "wrapup_done", c, Q2, B, wrapup_s=10)
    # c7: callback requested after 60 s in Sales; A calls back (c7b, answered, talk 120).
    c = call("c7", "14:00:00", caller="+371200007", queue=Q1, enqueued="14:00:00",
             ended="14:01:00")
    ev("14:00:00", "arrived", c)
    ev("14:00:00", "enqueued", c, Q1)
    ev("14:01:00", "callback_requested", c, Q1, wait_s=60)
    ev("14:20:00", "callback_started", c, Q1, A)
    # The engine marks the agent reaching the caller as an answer with callback=true and
    # the wait since the original call: not a queue answer (no answered/SL/ASA change).
    ev("14:20:10", "answered", c, Q1, A, callback=True, wait_s=1210)
    c = call("c7b", "14:20:00", callee="+371200007", direction="out", queue=Q1, agent=A,
             answered="14:20:10", ended="14:22:10")
    ev("14:20:00", "arrived", c, Q1, A, direction="out")
    ev("14:20:10", "answered", c, Q1, A, direction="out")
    ev("14:22:10", "completed", c, Q1, A, direction="out", talk_s=120)
    ev("14:22:20", "wrapup_done", c, Q1, A, wrapup_s=10)
    # c8: out of hours (07:30 local), leaves a voice message.
    c = call("c8", "05:30:00", caller="+371200008", queue=Q1, ended="05:31:00")
    ev("05:30:00", "arrived", c)
    ev("05:30:01", "out_of_hours", c, Q1)
    ev("05:31:00", "voicemail_left", c, Q1)
    # c9: hangs up in the IVR.
    c = call("c9", "15:00:00", caller="+371200009", ended="15:00:20")
    ev("15:00:00", "arrived", c)
    ev("15:00:01", "ivr_entered", c)
    ev("15:00:20", "ivr_abandoned", c)
    # c10: B calls +371200004 (c4's caller): answered, talk 300, wrap-up 10.
    c = call("c10", "14:30:00", callee="+371200004", direction="out", agent=B,
             answered="14:30:15", ended="14:35:15")
    ev("14:30:00", "arrived", c, a=B, direction="out")
    ev("14:30:15", "answered", c, a=B, direction="out")
    ev("14:35:15", "completed", c, a=B, direction="out", talk_s=300)
    ev("14:35:25", "wrapup_done", c, a=B, wrapup_s=10)
    # c11: A calls out, nobody answers.
    c = call("c11", "15:10:00", callee="+371200099", direction="out", agent=A,
             ended="15:10:40")
    ev("15:10:00", "arrived", c, a=A, direction="out")
    # c12: overflows from Support after 120 s to Sales, answered there by A after 30 s.
    c = call("c12", "15:15:00", caller="+371200012", queue=Q1, agent=A, enqueued="15:15:00",
             answered="15:17:30", ended="15:19:30")
    ev("15:15:00", "arrived", c)
    ev("15:15:00", "enqueued", c, Q2)
    ev("15:17:00", "overflowed", c, Q2, wait_s=120, target="queue:Sales")
    ev("15:17:00", "enqueued", c, Q1)
    ev("15:17:30", "answered", c, Q1, A, wait_s=30)
    ev("15:19:30", "completed", c, Q1, A, talk_s=120)
    ev("15:19:40", "wrapup_done", c, Q1, A, wrapup_s=10)
    # c13: a simulated call: never counted.
    c = call("c13", "11:40:00", caller="+371200013", queue=Q1, agent=A, enqueued="11:40:00",
             answered="11:40:05", ended="11:42:05", simulated=True)
    ev("11:40:00", "arrived", c)
    ev("11:40:00", "enqueued", c, Q1)
    ev("11:40:05", "answered", c, Q1, A, wait_s=5)
    ev("11:42:05", "completed", c, Q1, A, talk_s=120)
    ev("11:42:06", "rated", c, Q1, A, rating=1)
    ev("11:42:07", "abandoned", c, Q2, wait_s=50)
    # c14: c3's caller again, answered by A after 4 s, talk 60, wrap-up 5.
    c = call("c14", "15:30:00", caller="+371200003", queue=Q1, agent=A, enqueued="15:30:00",
             answered="15:30:04", ended="15:31:04")
    ev("15:30:00", "arrived", c)
    ev("15:30:00", "enqueued", c, Q1)
    ev("15:30:04", "answered", c, Q1, A, wait_s=4)
    ev("15:31:04", "completed", c, Q1, A, talk_s=60)
    ev("15:31:09", "wrapup_done", c, Q1, A, wrapup_s=5)
    # c15: a chat rated 8 on a 9-point scale (B); c16: an e-mail.
    c = call("c15", "11:45:00", caller="+371200015", channel="chat", agent=B)
    ev("11:45:00", "arrived", c, channel="chat")
    ev("11:55:00", "rated", c, a=B, channel="chat", scale=9, rating=8)
    c = call("c16", "12:30:00", caller="mail@ex.test", channel="email")
    ev("12:30:00", "arrived", c, channel="email")
    # c17, c18: waiting in Support now (since 15:55 and 15:58); c19: a row left open since
    # yesterday (more than 24 h before NOW: not shown live).
    for name, at in (("c17", "15:55:00"), ("c18", "15:58:00")):
        c = call(name, at, caller=f"+3712000{name[1:]}", queue=Q2, enqueued=at)
        ev(at, "arrived", c)
        ev(at, "enqueued", c, Q2)
    yesterday = DAY.replace(day=13)
    c = call("c19", "10:00:00", caller="+371200019", queue=Q2, enqueued="10:00:00",
             day=yesterday)
    ev("10:00:00", "enqueued", c, Q2, day=yesterday)

    # Requests (topics): durations are the call's, kept on the request.
    def request(iid: int | None, agent: int, at: str, codes: list[WrapupCode],
                duration: int | None) -> None:
        r = Request(org_id=org.id, created_at=t(at), phone="+371200000", name="Client",
                    agent_id=agent, interaction_id=iid, duration_s=duration)
        r.wrapup_codes = list(codes)
        session.add(r)

    request(g.calls["c1"], A, "08:12:10", [reg], 120)
    request(g.calls["c2"], B, "09:25:50", [reg, pay], 300)
    request(g.calls["c5"], A, "12:03:30", [pay], 180)
    request(g.calls["c6"], B, "13:13:25", [pay], 120)
    request(None, A, "14:50:00", [reg], None)

    # The other organisation: same day, same numbers, must never show up in "gold".
    other = orgs.add_org(session, "other", "Other Org", timezone="Europe/Riga")
    g.other_org_id = other.id
    oq = catalog.add_queue(session, other.id, "Elsewhere").id
    oa = _user(session, other.id, "olga", "Olga", "O")
    g.other_agent = oa
    catalog.add_pause_reason(session, other.id, "lunch", {"en": "Lunch"})
    ocode = catalog.add_wrapup_code(session, other.id, "REG", {"en": "Registration"})
    session.flush()
    o = other.id
    ev("08:00:00", "agent_login", a=oa, org_id=o)
    ev("10:00:00", "agent_paused", a=oa, org_id=o, reason="lunch")
    ev("12:00:00", "agent_logout", a=oa, org_id=o)
    # Caller +371200009 (gold's IVR hang-up) is answered here: gold must still count c9
    # as not reached.
    c = call("o1", "15:40:00", caller="+371200009", queue=oq, agent=oa, enqueued="15:40:00",
             answered="15:40:05", ended="15:41:45", org_id=o)
    ev("15:40:00", "arrived", c, org_id=o)
    ev("15:40:00", "enqueued", c, oq, org_id=o)
    ev("15:40:05", "answered", c, oq, oa, org_id=o, wait_s=5)
    ev("15:41:45", "completed", c, oq, oa, org_id=o, talk_s=100)
    ev("15:41:50", "rated", c, oq, oa, org_id=o, rating=2)
    c = call("o2", "09:00:00", caller="+371200077", queue=oq, enqueued="09:00:00",
             ended="09:01:00", org_id=o)
    ev("09:00:00", "enqueued", c, oq, org_id=o)
    ev("09:01:00", "abandoned", c, oq, org_id=o, wait_s=60)
    ev("09:30:00", "out_of_hours", c, oq, org_id=o)
    r = Request(org_id=o, created_at=t("15:42:00"), phone="+371200009", name="X",
                agent_id=oa, interaction_id=g.calls["o1"], duration_s=100)
    r.wrapup_codes = [ocode]
    session.add(r)
    session.flush()
    return g
