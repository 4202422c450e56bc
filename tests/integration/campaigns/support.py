"""Builders for campaign tests: an organisation with a queue, a supervisor and agents."""

from __future__ import annotations

from dataclasses import dataclass

from zvans.app import Zvans
from zvans.store import catalog, orgs, users
from zvans.store.users import UserInput

PASSWORD = "secret-pass-1"


@dataclass
class Org:
    id: int
    queue_id: int
    supervisor_id: int
    admin_id: int
    agent_ids: list[int]
    slug: str


def make_org(z: Zvans, slug: str = "acme", agents: int = 2) -> Org:
    with z.sessions.begin() as s:
        org = orgs.add_org(s, slug, f"{slug} service")
        queue = catalog.add_queue(s, org.id, "Sales", caller_id="+37167000000")
        sup = users.add_user(s, org.id, UserInput(
            username=f"{slug}.super", password=PASSWORD, email=f"super@{slug}.invalid",
            role="supervisor", first_name="Sue", surname="Pervisor", language="en"))
        admin = users.add_user(s, org.id, UserInput(
            username=f"{slug}.admin", password=PASSWORD, email=f"admin@{slug}.invalid",
            role="admin", language="en"))
        ids = []
        for i in range(agents):
            agent = users.add_user(s, org.id, UserInput(
                username=f"{slug}.agent{i + 1}", password=PASSWORD,
                email=f"agent{i + 1}@{slug}.invalid", role="agent",
                first_name=f"Agent{i + 1}", surname=slug.capitalize(), language="en"))
            ids.append(agent.id)
        return Org(org.id, queue.id, sup.id, admin.id, ids, slug)


def csv_bytes(text: str, *, bom: bool = False) -> bytes:
    data = text.encode("utf-8")
    return b"\xef\xbb\xbf" + data if bom else data
