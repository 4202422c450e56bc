"""The store on both engines: migrations, the event log, validation, demo data, isolation."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select

from zvans import demo
from zvans.app import Zvans
from zvans.errors import Conflict, InvalidInput, NotFound
from zvans.store import catalog, migrate, orgs, users
from zvans.store.db import append_event
from zvans.store.models import Event, Organisation, User, WrapupCode


def count(z: Zvans, model: type) -> int:
    with z.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def new_org(z: Zvans, slug: str = "acme") -> int:
    with z.sessions.begin() as s:
        return orgs.add_org(s, slug, "Acme Service").id


def test_upgrade_on_empty_database_reaches_head_and_matches_models(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = create_engine(db_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert migrate.schema_diff(engine) == []
    finally:
        engine.dispose()


def test_committed_events_are_published_in_order(zv: Zvans) -> None:
    org_id = new_org(zv)
    seen = []
    zv.bus.on_event(seen.append)
    with zv.sessions.begin() as s:
        append_event(s, org_id, "arrived", interaction_id=7, data={"caller": "+37120000001"})
        append_event(s, org_id, "enqueued", interaction_id=7, queue_id=1)
        assert seen == []  # nothing before the commit
    assert [e.type for e in seen] == ["arrived", "enqueued"]
    assert seen[0].id < seen[1].id
    assert seen[0].data == {"caller": "+37120000001"}
    assert seen[0].at.tzinfo is not None


def test_rolled_back_transaction_publishes_nothing(zv: Zvans) -> None:
    org_id = new_org(zv)
    seen = []
    zv.bus.on_event(seen.append)
    with pytest.raises(RuntimeError), zv.sessions.begin() as s:
        append_event(s, org_id, "arrived", interaction_id=1)
        s.flush()  # the row got an id and was captured ...
        raise RuntimeError("boom")  # ... but the transaction rolls back
    assert seen == []
    assert count(zv, Event) == 0
    # the next transaction publishes only its own event
    with zv.sessions.begin() as s:
        append_event(s, org_id, "abandoned", interaction_id=2)
    assert [e.type for e in seen] == ["abandoned"]


@pytest.mark.parametrize("bad", ["with space", "a<b", "", "tab\tname", "semi;colon", "a/b"])
def test_bad_user_names_are_refused_and_nothing_is_written(zv: Zvans, bad: str) -> None:
    org_id = new_org(zv)
    with pytest.raises(InvalidInput) as err, zv.sessions.begin() as s:
        users.add_user(s, org_id, users.UserInput(bad, "long-enough-1", "a@b.lv", "agent"))
    assert err.value.field == "username"
    assert count(zv, User) == 0


def test_user_names_allow_letters_digits_underscore_dot_at(zv: Zvans) -> None:
    org_id = new_org(zv)
    with zv.sessions.begin() as s:
        user = users.add_user(
            s, org_id, users.UserInput("jānis_b.2@lad", "long-enough-1", "j@b.lv", "agent")
        )
        assert user.agent is not None
        assert user.password_hash.startswith("$argon2")
        assert "long-enough-1" not in user.password_hash


def test_duplicate_user_name_is_refused(zv: Zvans) -> None:
    org_id = new_org(zv)
    other = new_org(zv, "other")
    with zv.sessions.begin() as s:
        users.add_user(s, org_id, users.UserInput("anna", "long-enough-1", "a@b.lv", "agent"))
    with pytest.raises(Conflict) as err, zv.sessions.begin() as s:
        users.add_user(s, other, users.UserInput("anna", "long-enough-2", "c@d.lv", "admin"))
    assert err.value.code == "duplicate-username"
    assert count(zv, User) == 1


def test_bad_email_role_and_short_password_are_refused(zv: Zvans) -> None:
    org_id = new_org(zv)
    cases = [
        (users.UserInput("u1", "long-enough-1", "not-an-email", "agent"), "email"),
        (users.UserInput("u2", "long-enough-1", "a@b.lv", "boss"), "role"),
        (users.UserInput("u3", "short", "a@b.lv", "agent"), "password"),
    ]
    for data, field in cases:
        with pytest.raises(InvalidInput) as err, zv.sessions.begin() as s:
            users.add_user(s, org_id, data)
        assert err.value.field == field
    assert count(zv, User) == 0


def test_wrapup_code_with_empty_name_is_refused(zv: Zvans) -> None:
    org_id = new_org(zv)
    with pytest.raises(InvalidInput) as err, zv.sessions.begin() as s:
        catalog.add_wrapup_code(s, org_id, "REG", {"lv": "  ", "en": ""})
    assert err.value.field == "name"
    assert count(zv, WrapupCode) == 0


def test_wrapup_codes_are_numbered_10_20_30_and_listed_in_order(zv: Zvans) -> None:
    org_id = new_org(zv)
    with zv.sessions.begin() as s:
        catalog.add_wrapup_code(s, org_id, "A", {"en": "Alpha"})
        catalog.add_wrapup_code(s, org_id, "B", {"en": "Beta"})
        catalog.add_wrapup_code(s, org_id, "C", {"en": "Gamma"}, position=5)
    with zv.sessions() as s:
        rows = catalog.list_wrapup_codes(s, org_id)
        assert [(r.code, r.position) for r in rows] == [("C", 5), ("A", 10), ("B", 20)]


def test_unknown_organisation_is_refused(zv: Zvans) -> None:
    new_org(zv)
    with pytest.raises(NotFound) as err, zv.sessions() as s:
        orgs.get_org(s, "nobody")
    assert err.value.code == "no-such-org"


def test_duplicate_and_bad_organisations_are_refused(zv: Zvans) -> None:
    new_org(zv, "acme")
    with pytest.raises(Conflict), zv.sessions.begin() as s:
        orgs.add_org(s, "acme", "Again")
    for slug, tz in [("Bad Slug", "Europe/Riga"), ("ok", "Mars/Olympus")]:
        with pytest.raises(InvalidInput), zv.sessions.begin() as s:
            orgs.add_org(s, slug, "X", timezone=tz)
    assert count(zv, Organisation) == 1


def test_users_of_another_organisation_are_not_found(zv: Zvans) -> None:
    a, b = new_org(zv, "a"), new_org(zv, "b")
    with zv.sessions.begin() as s:
        uid = users.add_user(s, a, users.UserInput("ann", "long-enough-1", "a@b.lv", "agent")).id
    with zv.sessions() as s:
        assert users.get_user(s, a, uid).username == "ann"
        with pytest.raises(NotFound):
            users.get_user(s, b, uid)
        assert users.list_users(s, b) == []


def test_deleted_user_is_hidden_but_name_stays_reserved(zv: Zvans) -> None:
    org_id = new_org(zv)
    with zv.sessions.begin() as s:
        user = users.add_user(s, org_id, users.UserInput("ann", "long-enough-1", "a@b.lv", "agent"))
        users.delete_user(s, user)
    with zv.sessions() as s:
        assert users.list_users(s, org_id) == []
        assert users.find_user(s, "ann") is None
    with pytest.raises(Conflict), zv.sessions.begin() as s:
        users.add_user(s, org_id, users.UserInput("ann", "long-enough-1", "a@b.lv", "agent"))


def test_queue_settings_are_validated(zv: Zvans) -> None:
    org_id = new_org(zv)
    bad = [
        {"strategy": "random"},
        {"sl_threshold_s": 0},
        {"ring_timeout_s": "ten"},
        {"overflow_target": "queue:9999"},
        {"business_hours": {"mon": [["17:00", "08:00"]]}},
        {"holidays": ["2026-13-01"]},
    ]
    for fields in bad:
        with pytest.raises(InvalidInput), zv.sessions.begin() as s:
            catalog.add_queue(s, org_id, "Q", **fields)
    with zv.sessions.begin() as s:
        q = catalog.add_queue(s, org_id, "Q", business_hours={"mon": [["08:30", "17:00"]]},
                              holidays=["2026-12-24"])
        assert q.sl_threshold_s == 20
        assert q.strategy == "longest_idle"


def test_demo_data_loads_once(zv: Zvans) -> None:
    with zv.sessions.begin() as s:
        assert demo.load_demo(s).created
    before = {m: count(zv, m) for m in (Organisation, User, WrapupCode, Event)}
    with zv.sessions.begin() as s:
        assert not demo.load_demo(s).created
    after = {m: count(zv, m) for m in (Organisation, User, WrapupCode, Event)}
    assert before == after
    assert before[User] == 10  # eight agents, one admin, one supervisor
    with zv.sessions() as s:
        org = orgs.get_org(s, demo.DEMO_ORG)
        assert len(catalog.list_queues(s, org.id)) == 3
        assert {q.language for q in catalog.list_queues(s, org.id)} == {"lv", "en", "lt"}
        assert [r.code for r in catalog.list_pause_reasons(s, org.id)] == [
            "card", "lunch", "training", "other"]
        assert catalog.skills_of(s, org.id)  # agents have skill levels
