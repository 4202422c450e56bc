"""The campaign service on both databases: CSV upload, assignment, preview dialing,
results, progress and organisation isolation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.integration.campaigns.support import Org, csv_bytes, make_org
from zvans.app import Zvans
from zvans.errors import Conflict, InvalidInput, NotFound
from zvans.store import campaigns as cs
from zvans.store.models import Campaign, CampaignContact, Event, Interaction


def new_campaign(z: Zvans, org: Org, name: str = "Spring survey", **kw: Any) -> int:
    with z.sessions.begin() as s:
        return cs.create_campaign(s, org.id, org.supervisor_id, name=name,
                                  queue_id=org.queue_id, **kw).id


def upload(z: Zvans, org: Org, campaign_id: int, data: bytes,
           valid_only: bool = False) -> cs.ImportReport:
    with z.sessions.begin() as s:
        row = cs.get_campaign(s, org.id, campaign_id)
        return cs.import_csv(s, row, data, valid_only=valid_only)


def contacts(z: Zvans, campaign_id: int) -> list[CampaignContact]:
    with z.sessions() as s:
        return list(s.scalars(select(CampaignContact).where(
            CampaignContact.campaign_id == campaign_id).order_by(CampaignContact.id)))


def count(z: Zvans, model: type) -> int:
    with z.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def activate(z: Zvans, org: Org, campaign_id: int) -> None:
    with z.sessions.begin() as s:
        cs.set_state(s, cs.get_campaign(s, org.id, campaign_id), "active")


def claim(z: Zvans, org: Org, campaign_id: int, user_id: int) -> CampaignContact | None:
    with z.sessions.begin() as s:
        return cs.claim_next(s, cs.get_campaign(s, org.id, campaign_id), user_id)


NINE = "\n".join(["phone,name,city"] + [f"+3712000000{i},Client {i},Riga" for i in range(9)])


def test_upload_with_bom_and_semicolons_keeps_extra_columns(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    text = "Tālrunis;Vārds;Pilsēta;Piezīme\n+371 2000 0001;Jānis Bērziņš;Rīga;VIP\n" \
           "0037120000002;Anna;Cēsis;\n\n(+371) 2000-0003;;;\n"
    report = upload(zv, org, cid, csv_bytes(text, bom=True))
    assert report.delimiter == ";"
    assert report.imported == 3 and report.errors == []
    rows = contacts(zv, cid)
    assert [r.phone for r in rows] == ["+37120000001", "+37120000002", "+37120000003"]
    assert rows[0].name == "Jānis Bērziņš"
    assert rows[0].data == {"Pilsēta": "Rīga", "Piezīme": "VIP"}
    assert rows[1].data == {"Pilsēta": "Cēsis"}
    assert [r.line for r in rows] == [2, 3, 5]
    assert all(r.state == "pending" and r.agent_id is None for r in rows)


def test_comma_file_without_bom(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    report = upload(zv, org, cid, csv_bytes('phone,name\r\n+37120000001,"Ozols, Pēteris"\r\n'))
    assert report.delimiter == "," and report.imported == 1
    assert contacts(zv, cid)[0].name == "Ozols, Pēteris"


def test_missing_phone_column_is_refused(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    with pytest.raises(cs.CsvRejected) as err:
        upload(zv, org, cid, csv_bytes("name;city\nAnna;Riga\n"))
    assert err.value.details["errors"][0]["line"] == 1
    assert "phone column" in err.value.message
    assert count(zv, CampaignContact) == 0


def test_bad_phone_on_line_7_names_line_7_and_saves_nothing(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    lines = ["phone,name"] + [f"+3712000000{i},Client {i}" for i in range(1, 6)]
    lines.append("12-abc-34,Bad Number")  # line 7
    lines.append("+37120000009,Client 9")
    with pytest.raises(cs.CsvRejected) as err:
        upload(zv, org, cid, csv_bytes("\n".join(lines)))
    errors = err.value.details["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(7, "phone")]
    assert "line 7" in err.value.message
    assert "12-abc-34" in errors[0]["message"]
    assert count(zv, CampaignContact) == 0


def test_every_bad_row_is_reported_and_valid_only_imports_the_rest(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    text = ("phone;name\n+37120000001;A\n;B\n+37120000001;C\nabc;D\n+37120000005;E;extra\n"
            "+37120000006;F\n")
    with pytest.raises(cs.CsvRejected) as err:
        upload(zv, org, cid, csv_bytes(text))
    assert [e["line"] for e in err.value.details["errors"]] == [3, 4, 5, 6]
    assert "also on line 2" in err.value.details["errors"][1]["message"]
    assert count(zv, CampaignContact) == 0
    report = upload(zv, org, cid, csv_bytes(text), valid_only=True)
    assert report.imported == 2
    assert report.as_dict()["skipped"] == 4
    assert [r.phone for r in contacts(zv, cid)] == ["+37120000001", "+37120000006"]


def test_numbers_already_in_the_campaign_are_refused(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    upload(zv, org, cid, csv_bytes("phone\n+37120000001\n"))
    with pytest.raises(cs.CsvRejected) as err:
        upload(zv, org, cid, csv_bytes("phone\n+37120000002\n0037120000001\n"))
    assert err.value.details["errors"][0]["line"] == 3
    assert "already in this campaign" in err.value.details["errors"][0]["message"]
    assert len(contacts(zv, cid)) == 1
    # the same number may be in another campaign
    other = new_campaign(zv, org, "Autumn survey")
    assert upload(zv, org, other, csv_bytes("phone\n+37120000001\n")).imported == 1


@pytest.mark.parametrize(("data", "needle"), [
    (b"", "empty"),
    (b"phone,name\n", "no contacts"),
    (b"phone,name\n+37120000001,\xff\xfeAnna\n", "not UTF-8"),
    (b"phone,,name\n+37120000001,,A\n", "no name"),
    (b"phone,Phone\n1,2\n", "twice"),
    (b"phone\n" + b"+3712000000\n" * 0 + b"x" * (cs.MAX_FILE_BYTES + 1), "larger than"),
])
def test_bad_files_are_refused_with_a_reason(zv: Zvans, data: bytes, needle: str) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    with pytest.raises(cs.CsvRejected) as err:
        upload(zv, org, cid, data)
    assert needle in err.value.message
    assert count(zv, CampaignContact) == 0


def test_not_utf8_names_the_line(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    with pytest.raises(cs.CsvRejected) as err:
        upload(zv, org, cid, b"phone,name\n+37120000001,A\n+37120000002,B\xe9rzi\n")
    assert err.value.details["errors"][0]["line"] == 3


def test_campaign_checks_name_queue_and_result_codes(zv: Zvans) -> None:
    org = make_org(zv)
    other = make_org(zv, "other")
    new_campaign(zv, org)
    with zv.sessions() as s:
        with pytest.raises(InvalidInput) as err:
            cs.create_campaign(s, org.id, None, name="Spring survey", queue_id=org.queue_id)
        assert err.value.field == "name"
        with pytest.raises(InvalidInput) as err:
            cs.create_campaign(s, org.id, None, name="X", queue_id=other.queue_id)
        assert err.value.field == "queue_id"
        with pytest.raises(InvalidInput) as err:
            cs.create_campaign(s, org.id, None, name="X", queue_id=org.queue_id,
                               result_codes=[{"code": "A"}, {"code": "A"}])
        assert err.value.field == "result_codes"
        with pytest.raises(InvalidInput):
            cs.create_campaign(s, org.id, None, name="", queue_id=org.queue_id)
    assert count(zv, Campaign) == 1
    codes = cs.parse_result_codes("OK | Reached\nNA | No answer | retry\n\n")
    assert codes == [{"code": "OK", "name": "Reached", "retry": False},
                     {"code": "NA", "name": "No answer", "retry": True}]
    assert cs.parse_result_codes(cs.format_result_codes(codes)) == codes


def test_state_transitions(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    with zv.sessions.begin() as s:
        row = cs.get_campaign(s, org.id, cid)
        cs.set_state(s, row, "active")
        cs.set_state(s, row, "paused")
        cs.set_state(s, row, "finished")
        with pytest.raises(InvalidInput) as err:
            cs.set_state(s, row, "active")
        assert err.value.code == "invalid-transition"
        with pytest.raises(Conflict):
            cs.import_csv(s, row, csv_bytes("phone\n+37120000001\n"))


def test_another_organisations_campaign_is_not_found(zv: Zvans) -> None:
    org = make_org(zv)
    other = make_org(zv, "other")
    cid = new_campaign(zv, org)
    upload(zv, org, cid, csv_bytes("phone\n+37120000001\n"))
    contact_id = contacts(zv, cid)[0].id
    with zv.sessions() as s:
        with pytest.raises(NotFound):
            cs.get_campaign(s, other.id, cid)
        with pytest.raises(NotFound):
            cs.get_contact(s, other.id, contact_id)
        with pytest.raises(InvalidInput) as err:  # their agents cannot be given our contacts
            cs.assign(s, cs.get_campaign(s, org.id, cid), [other.agent_ids[0]])
        assert err.value.code == "no-such-agent"
        assert cs.list_campaigns(s, other.id) == []
        assert cs.agent_summary(s, other.id, other.agent_ids[0]) == []


def test_assign_evenly_then_to_chosen_agents(zv: Zvans) -> None:
    org = make_org(zv, agents=3)
    cid = new_campaign(zv, org)
    upload(zv, org, cid, csv_bytes(NINE))
    with zv.sessions.begin() as s:
        given = cs.assign(s, cs.get_campaign(s, org.id, cid), org.agent_ids[:2])
    assert given == {org.agent_ids[0]: 5, org.agent_ids[1]: 4}
    rows = contacts(zv, cid)
    assert [r.agent_id for r in rows[:4]] == [org.agent_ids[0], org.agent_ids[1]] * 2
    with zv.sessions.begin() as s:  # nothing unassigned is left: no change without reassign
        assert cs.assign(s, cs.get_campaign(s, org.id, cid), [org.agent_ids[2]]) == {
            org.agent_ids[2]: 0}
    with zv.sessions.begin() as s:  # evenly over all three, counting what they have
        given = cs.assign(s, cs.get_campaign(s, org.id, cid), None, reassign=True)
    by_agent: dict[int | None, int] = {}
    for r in contacts(zv, cid):
        by_agent[r.agent_id] = by_agent.get(r.agent_id, 0) + 1
    assert sorted(by_agent.values()) == [3, 3, 3]
    with zv.sessions.begin() as s:  # chosen contacts to one agent
        ids = [r.id for r in contacts(zv, cid)[:2]]
        cs.assign(s, cs.get_campaign(s, org.id, cid), [org.agent_ids[2]], contact_ids=ids,
                  reassign=True)
    assert {r.agent_id for r in contacts(zv, cid)[:2]} == {org.agent_ids[2]}
    with zv.sessions() as s, pytest.raises(InvalidInput):
        cs.assign(s, cs.get_campaign(s, org.id, cid), [])


def test_preview_call_result_and_next(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org, max_attempts=2)
    upload(zv, org, cid, csv_bytes("phone,name\n+37120000001,First\n+37120000002,Second\n"))
    agent = org.agent_ids[0]
    with zv.sessions.begin() as s:
        cs.assign(s, cs.get_campaign(s, org.id, cid), [agent])
    with zv.sessions() as s, pytest.raises(Conflict):  # a draft is not dialed
        cs.claim_next(s, cs.get_campaign(s, org.id, cid), agent)
    activate(zv, org, cid)
    first = claim(zv, org, cid, agent)
    assert first is not None and first.name == "First" and first.state == "in_progress"
    again = claim(zv, org, cid, agent)  # holding one: the same one again
    assert again is not None and again.id == first.id
    seen: list[Any] = []
    zv.bus.on_event(seen.append)
    with zv.sessions.begin() as s:
        campaign = cs.get_campaign(s, org.id, cid)
        row = cs.my_contact(s, org.id, agent, first.id)
        started = cs.record_call(s, campaign, row, agent)
    with pytest.raises(cs.TelephonyNotRunning):
        cs.dial(None, org.id, agent, started)
    with zv.sessions() as s:
        call = s.get(Interaction, started.interaction_id)
        assert call is not None
        assert (call.direction, call.channel, call.caller, call.callee, call.agent_id,
                call.queue_id) == ("out", "voice", "+37167000000", "+37120000001", agent,
                                   org.queue_id)
        event = s.scalars(select(Event).where(Event.interaction_id == call.id)).one()
        assert event.type == "arrived" and event.data["direction"] == "out"
        assert event.data["campaign_id"] == cid and event.agent_id == agent
    assert [e.type for e in seen] == ["arrived"]
    with zv.sessions.begin() as s:
        campaign = cs.get_campaign(s, org.id, cid)
        row = cs.my_contact(s, org.id, agent, first.id)
        with pytest.raises(InvalidInput):
            cs.set_result(s, campaign, row, "NOPE")
        cs.set_result(s, campaign, row, "NO_ANSWER", "rang out")
        assert row.state == "pending" and row.attempts == 1  # retry, attempts remain
    second = claim(zv, org, cid, agent)
    assert second is not None and second.name == "Second"  # untried contacts come first
    with zv.sessions.begin() as s:
        campaign = cs.get_campaign(s, org.id, cid)
        row = cs.my_contact(s, org.id, agent, second.id)
        cs.record_call(s, campaign, row, agent)
        cs.set_result(s, campaign, row, "INTERESTED", "send an offer")
    third = claim(zv, org, cid, agent)
    assert third is not None and third.id == first.id
    with zv.sessions.begin() as s:
        campaign = cs.get_campaign(s, org.id, cid)
        row = cs.my_contact(s, org.id, agent, third.id)
        cs.record_call(s, campaign, row, agent)
        cs.set_result(s, campaign, row, "NO_ANSWER")
        assert row.state == "failed"  # max_attempts reached
    assert claim(zv, org, cid, agent) is None
    with zv.sessions() as s:
        p = cs.progress(s, cs.get_campaign(s, org.id, cid))
    assert p["total"] == 2 and p["closed"] == 2 and p["calls"] == 3
    assert p["by_state"] == {"pending": 0, "in_progress": 0, "done": 1, "failed": 1}
    assert p["by_result"]["INTERESTED"] == 1 and p["by_result"]["NO_ANSWER"] == 1
    assert p["per_agent"] == [{"agent_id": agent, "name": "Agent1 Acme", "total": 2,
                               "calls": 3, "pending": 0, "in_progress": 0, "done": 1,
                               "failed": 1}]


def test_agents_see_only_their_own_contacts(zv: Zvans) -> None:
    org = make_org(zv)
    a, b = org.agent_ids
    cid = new_campaign(zv, org)
    upload(zv, org, cid, csv_bytes("phone\n+37120000001\n+37120000002\n"))
    with zv.sessions.begin() as s:
        cs.assign(s, cs.get_campaign(s, org.id, cid), [a])
    activate(zv, org, cid)
    mine = claim(zv, org, cid, a)
    assert mine is not None
    assert claim(zv, org, cid, b) is None  # everything is a's, nothing unassigned
    with zv.sessions() as s:
        with pytest.raises(NotFound):
            cs.my_contact(s, org.id, b, mine.id)
        assert cs.agent_summary(s, org.id, b) == []
        assert cs.agent_summary(s, org.id, a)[0]["open"] == 2


def test_two_agents_never_get_the_same_contact(zv: Zvans) -> None:
    org = make_org(zv, agents=4)
    cid = new_campaign(zv, org)
    n = 40
    upload(zv, org, cid, csv_bytes("phone\n" + "\n".join(f"+371200001{i:02d}" for i in range(n))))
    activate(zv, org, cid)  # nothing assigned: all four agents draw from the shared pool
    got: dict[int, list[int]] = {a: [] for a in org.agent_ids}
    barrier = threading.Barrier(len(org.agent_ids))
    failures: list[BaseException] = []

    def work(agent: int) -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(n + 1):
                with zv.sessions.begin() as s:
                    campaign = cs.get_campaign(s, org.id, cid)
                    row = cs.claim_next(s, campaign, agent)
                    if row is None:
                        return
                    got[agent].append(row.id)
                    cs.set_result(s, campaign, row, "REACHED")
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in org.agent_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    all_ids = [cid_ for ids in got.values() for cid_ in ids]
    assert len(all_ids) == n and len(set(all_ids)) == n
    rows = contacts(zv, cid)
    assert all(r.state == "done" for r in rows)
    owner = {cid_: a for a, ids in got.items() for cid_ in ids}
    assert all(owner[r.id] == r.agent_id for r in rows)


def test_release_puts_the_contact_back_for_the_same_agent(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    upload(zv, org, cid, csv_bytes("phone\n+37120000001\n"))
    activate(zv, org, cid)
    a, b = org.agent_ids
    row = claim(zv, org, cid, a)
    assert row is not None
    with zv.sessions.begin() as s:
        cs.release(s, cs.my_contact(s, org.id, a, row.id))
    assert claim(zv, org, cid, b) is None  # it stays a's
    again = claim(zv, org, cid, a)
    assert again is not None and again.id == row.id


def test_quoted_multiline_fields_keep_physical_line_numbers(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    text = ('phone;name;note\n+37120000001;A;"two\nlines"\n+37120000002;B;x\n'
            'bad;C;y\n')
    with pytest.raises(cs.CsvRejected) as err:
        upload(zv, org, cid, csv_bytes(text))
    assert [e["line"] for e in err.value.details["errors"]] == [5]
    report = upload(zv, org, cid, csv_bytes(text), valid_only=True)
    rows = contacts(zv, cid)
    assert report.imported == 2 and [r.line for r in rows] == [2, 4]
    assert rows[0].data == {"note": "two\nlines"}


def test_row_limit(zv: Zvans, monkeypatch: pytest.MonkeyPatch) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    monkeypatch.setattr(cs, "MAX_ROWS", 3)
    assert upload(zv, org, cid, csv_bytes("phone\n1001\n1002\n1003\n")).imported == 3
    with pytest.raises(cs.CsvRejected) as err:
        upload(zv, org, cid, csv_bytes("phone\n2001\n2002\n2003\n2004\n"))
    assert "more than 3 rows" in err.value.message
    assert len(contacts(zv, cid)) == 3


def test_paused_campaign_keeps_the_held_contact_but_dials_nothing(zv: Zvans) -> None:
    org = make_org(zv)
    cid = new_campaign(zv, org)
    upload(zv, org, cid, csv_bytes("phone\n+37120000001\n+37120000002\n"))
    activate(zv, org, cid)
    agent = org.agent_ids[0]
    held = claim(zv, org, cid, agent)
    assert held is not None
    with zv.sessions.begin() as s:
        cs.set_state(s, cs.get_campaign(s, org.id, cid), "paused")
    with zv.sessions() as s:
        campaign = cs.get_campaign(s, org.id, cid)
        with pytest.raises(Conflict) as err:
            cs.claim_next(s, campaign, agent)
        assert err.value.code == "campaign-not-active"
        with pytest.raises(Conflict):
            cs.record_call(s, campaign, cs.my_contact(s, org.id, agent, held.id), agent)
    assert count(zv, Interaction) == 0
    with zv.sessions.begin() as s:
        campaign = cs.get_campaign(s, org.id, cid)
        cs.set_result(s, campaign, cs.my_contact(s, org.id, agent, held.id), "REACHED")
    with zv.sessions() as s:
        assert cs.progress(s, cs.get_campaign(s, org.id, cid))["closed"] == 1
