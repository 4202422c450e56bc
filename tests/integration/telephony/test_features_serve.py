"""A callback promised before a restart of `zvans serve` is dialled after it.

The real server process (web + SIP + ACD) with the outbound trunk from the environment
(``ZVANS_OUTBOUND_TRUNK``) pointing at a sipp customer: a caller books a callback, the
server is stopped (SIGTERM) and started again, the agent logs in through the web API,
and the callback rings the agent's sipp phone first, then the customer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from tests.integration.telephony.support import (
    Serve,
    Sipp,
    SippUas,
    api_login,
    free_udp_port,
    have_peers,
    wait_until,
)
from tests.integration.telephony.test_features import LATVIAN_DID
from zvans.store.models import AgentProfile, Event, Queue, User

pytestmark = [pytest.mark.sip,
              pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")]


def _types(db: str, iid: int | None = None) -> list[tuple[int | None, str]]:
    engine = create_engine(db)
    try:
        with Session(engine) as session:
            query = select(Event.interaction_id, Event.type).order_by(Event.id)
            if iid is not None:
                query = query.where(Event.interaction_id == iid)
            return [(r[0], r[1]) for r in session.execute(query)]
    finally:
        engine.dispose()


def test_pending_callback_is_dialled_after_a_restart(tmp_path: Path, port: int) -> None:
    customer = SippUas("features_uas_customer.xml", tmp_path / "customer", pause_ms=3000)
    agent_phone = SippUas("features_uas_agent.xml", tmp_path / "agent")
    db = f"sqlite:///{tmp_path}/z.db"
    sip_port = free_udp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZVANS_")}
    env.update(ZVANS_DATABASE_URL=db, ZVANS_DATA_DIR=str(tmp_path),
               ZVANS_RTP_PORT_MIN="37000", ZVANS_RTP_PORT_MAX="37999",
               ZVANS_OUTBOUND_TRUNK=f"sip:127.0.0.1:{customer.port}")
    for args in (["db", "upgrade"], ["demo"]):
        subprocess.run([sys.executable, "-m", "zvans.cli", *args], env=env, check=True,
                       cwd=tmp_path, capture_output=True)
    engine = create_engine(db)
    with Session(engine) as session, session.begin():
        session.execute(update(Queue).values(callback_offer_ewt_s=1))
        anna = session.scalar(select(User.id).where(User.username == "anna.berzina"))
        session.execute(update(AgentProfile).where(AgentProfile.user_id == anna)
                        .values(ring_target=agent_phone.uri))
    engine.dispose()
    log = tmp_path / "serve.log"
    server = Serve(env, tmp_path, port, sip_port, log)
    client = None
    try:
        caller = Sipp("features_caller_callback.xml", LATVIAN_DID, sip_port,
                      tmp_path / "caller")
        assert caller.wait() == 0, caller.errors()
        iid = wait_until(lambda: next((i for i, t in _types(db) if t == "callback_requested"),
                                      None), "the callback to be booked", 30)
        server.stop()
        server = Serve(env, tmp_path, port, sip_port, log)  # same ports, same database
        client, token = api_login(f"http://127.0.0.1:{port}", "anna.berzina", "agent-demo-1")
        r = client.post("/api/v1/agents/me/login", headers={"X-CSRF-Token": token})
        assert r.status_code == 200, r.text
        assert agent_phone.wait() == 0, agent_phone.errors()
        assert customer.wait() == 0, customer.errors()  # it checked the caller id
        wait_until(lambda: "completed" in [t for _, t in _types(db, iid)],
                   "the callback to end", 30)
    finally:
        if client is not None:
            client.close()
        server.stop()
        customer.kill()
        agent_phone.kill()
    types = [t for _, t in _types(db, iid)]
    assert types[:6] == ["arrived", "enqueued", "callback_requested", "callback_started",
                         "answered", "completed"], types
    assert "abandoned" not in types
