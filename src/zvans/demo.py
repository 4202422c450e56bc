"""Demo data: one invented organisation with queues, agents and the seed's topic list.

Every name and number here is invented. Loading twice changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.store import catalog, orgs, users
from zvans.store.models import AgentProfile, Ivr, Organisation

DEMO_ORG = "demo"
ADMIN = ("admin", "admin-demo-1")
SUPERVISOR = ("supervisor", "super-demo-1")
AGENT_PASSWORD = "agent-demo-1"

AGENTS = [
    ("anna.berzina", "Anna", "Bērziņa", "101", {"lv": 1, "en": 2}),
    ("martins.ozols", "Mārtiņš", "Ozols", "102", {"lv": 1}),
    ("liga.kalnina", "Līga", "Kalniņa", "103", {"lv": 1, "lt": 2}),
    ("john.miller", "John", "Miller", "104", {"en": 1, "lv": 2}),
    ("ruta.petraite", "Rūta", "Petraitė", "105", {"lt": 1, "en": 2}),
    ("edgars.liepa", "Edgars", "Liepa", "106", {"lv": 1, "en": 3}),
    ("ilze.vitola", "Ilze", "Vītola", "107", {"lv": 2, "lt": 1}),
    ("karlis.egle", "Kārlis", "Egle", "108", {"lv": 1}),
]

#: Topics in the style of a rural-support agency's list (seed 001), in English and Latvian.
WRAPUP_CODES = [
    ("REG", "Client registration and changes", "Klientu reģistrācija un izmaiņas"),
    ("EPS", "Electronic application system", "Elektroniskā pieteikšanās sistēma"),
    ("AREA", "Area payments", "Platību maksājumi"),
    ("FOREST", "Forest projects", "Meža projekti"),
    ("COVID", "Crisis support", "Krīzes atbalsts"),
    ("ANIMAL", "Livestock payments", "Dzīvnieku maksājumi"),
    ("INVEST", "Investment projects", "Investīciju projekti"),
    ("YOUNG", "Young farmers", "Jaunie lauksaimnieki"),
    ("MARKET", "Market measures", "Tirgus pasākumi"),
    ("FISH", "Fisheries support", "Zivsaimniecības atbalsts"),
    ("LEADER", "Local development projects", "Vietējās attīstības projekti"),
    ("CONTROL", "On-the-spot checks", "Pārbaudes uz vietas"),
    ("DECISION", "Decisions and appeals", "Lēmumi un apstrīdēšana"),
    ("PAYMENT", "Payment status", "Maksājumu statuss"),
    ("MAP", "Field maps", "Lauku kartes"),
    ("EMAIL", "E-mail and documents", "E-pasts un dokumenti"),
    ("TECH", "Technical problems", "Tehniskas problēmas"),
    ("OTHER", "Other question", "Cits jautājums"),
]

PAUSE_REASONS = [
    ("card", "Filling the client card", "Klienta kartiņas aizpildīšana"),
    ("lunch", "Lunch", "Pusdienas"),
    ("training", "Training", "Apmācības"),
    ("other", "Other reason", "Cits iemesls"),
]

WEEKDAYS = {d: [["08:30", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}

QUEUES = [
    # name, names, language, priority, hours, DID
    ("Latvian", {"lv": "Latviešu", "en": "Latvian"}, "lv", 10, {}, "+37160000100"),
    ("English", {"lv": "Angļu", "en": "English"}, "en", 5, {}, "+37160000101"),
    ("Lithuanian", {"lv": "Lietuviešu", "en": "Lithuanian"}, "lt", 1, WEEKDAYS, "+37160000102"),
]
IVR_DID = "+37160000000"


@dataclass
class DemoResult:
    created: bool
    org_slug: str


def sip_ha1(username: str, realm: str, password: str) -> tuple[str, str]:
    """HA1 for digest auth, MD5 and SHA-256 (RFC 8760)."""
    raw = f"{username}:{realm}:{password}".encode()
    return hashlib.md5(raw).hexdigest(), hashlib.sha256(raw).hexdigest()


def load_demo(session: Session, sip_realm: str = "zvans.local") -> DemoResult:
    if session.scalar(select(Organisation.id).where(Organisation.slug == DEMO_ORG)):
        return DemoResult(created=False, org_slug=DEMO_ORG)
    org = orgs.add_org(session, DEMO_ORG, "Demo Rural Support Agency", language="lv")
    for code, en, lv in WRAPUP_CODES:
        catalog.add_wrapup_code(session, org.id, code, {"en": en, "lv": lv})
    for code, en, lv in PAUSE_REASONS:
        catalog.add_pause_reason(session, org.id, code, {"en": en, "lv": lv})
    queue_ids: dict[str, int] = {}
    for name, names, lang, prio, hours, did in QUEUES:
        q = catalog.add_queue(
            session, org.id, name, names=names, language=lang, priority=prio,
            business_hours=hours, caller_id="+37160000000", callback_offer_ewt_s=120,
            rating_enabled=True, sticky_days=7,
        )
        queue_ids[lang] = q.id
        catalog.add_did(session, org.id, did, queue_id=q.id)
    ivr = Ivr(
        org_id=org.id,
        name="main",
        language="lv",
        definition={
            "greeting": {
                "lv": "Labdien! Jūs esat sazvanījis demonstrācijas atbalsta dienestu.",
                "en": "Hello! You have reached the demo support service.",
            },
            "menu": {
                "lv": "Latviešu valodā spiediet 1. For English press 2. Lietuviškai spauskite 3.",
            },
            "options": {
                "1": {"queue_id": queue_ids["lv"], "topic": "lv"},
                "2": {"queue_id": queue_ids["en"], "topic": "en"},
                "3": {"queue_id": queue_ids["lt"], "topic": "lt"},
            },
            "timeout_s": 6,
            "max_attempts": 3,
            "on_fail": {"queue_id": queue_ids["lv"]},
        },
    )
    session.add(ivr)
    session.flush()
    catalog.add_did(session, org.id, IVR_DID, ivr_id=ivr.id)

    users.add_user(session, org.id, users.UserInput(
        username=ADMIN[0], password=ADMIN[1], email="admin@demo.invalid", role="admin",
        first_name="Demo", surname="Administrator"))
    users.add_user(session, org.id, users.UserInput(
        username=SUPERVISOR[0], password=SUPERVISOR[1], email="supervisor@demo.invalid",
        role="supervisor", first_name="Dace", surname="Priede", extension="100"))
    for username, first, last, ext, skills in AGENTS:
        user = users.add_user(session, org.id, users.UserInput(
            username=username, password=AGENT_PASSWORD, email=f"{username}@demo.invalid",
            role="agent", first_name=first, surname=last, extension=ext))
        profile = session.scalar(select(AgentProfile).where(AgentProfile.user_id == user.id))
        assert profile is not None
        profile.sip_username = username
        profile.sip_ha1_md5, profile.sip_ha1_sha256 = sip_ha1(username, sip_realm,
                                                              AGENT_PASSWORD)
        for lang, level in skills.items():
            catalog.set_skill(session, org.id, user.id, queue_ids[lang], level)
    session.flush()
    return DemoResult(created=True, org_slug=DEMO_ORG)
