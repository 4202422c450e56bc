"""A voice message survives `zvans serve` being killed while the caller is still speaking.

The message is registered in the unanswered register when recording starts, and the WAV
header is kept valid while it is written, so after SIGKILL and a restart the message is in
the register and plays in the browser.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import wave
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from tests.integration.telephony.support import (
    Serve,
    Sipp,
    api_login,
    free_udp_port,
    have_peers,
    wait_until,
)
from zvans.store.models import Queue, UnansweredEntry

pytestmark = [pytest.mark.sip,
              pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")]

LITHUANIAN_DID = "+37160000102"


def _entry(db: str) -> UnansweredEntry | None:
    engine = create_engine(db)
    try:
        with Session(engine) as session:
            return session.scalar(select(UnansweredEntry).where(
                UnansweredEntry.reason == "voicemail"))
    finally:
        engine.dispose()


def test_voice_message_survives_a_kill_during_recording(tmp_path: Path, port: int) -> None:
    db = f"sqlite:///{tmp_path}/z.db"
    sip_port = free_udp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZVANS_")}
    env.update(ZVANS_DATABASE_URL=db, ZVANS_DATA_DIR=str(tmp_path),
               ZVANS_RTP_PORT_MIN="38000", ZVANS_RTP_PORT_MAX="38999")
    for args in (["db", "upgrade"], ["demo"]):
        subprocess.run([sys.executable, "-m", "zvans.cli", *args], env=env, check=True,
                       cwd=tmp_path, capture_output=True)
    today = datetime.now(ZoneInfo("Europe/Riga")).date().isoformat()
    engine = create_engine(db)
    with Session(engine) as session, session.begin():  # closed all day: voicemail
        session.execute(update(Queue).where(Queue.name == "Lithuanian")
                        .values(holidays=[today]))
    engine.dispose()
    log = tmp_path / "serve.log"
    server = Serve(env, tmp_path, port, sip_port, log)
    caller = Sipp("b2bua_caller.xml", LITHUANIAN_DID, sip_port, tmp_path / "caller",
                  pause_ms=30000)  # still speaking when the server dies
    try:
        entry = wait_until(lambda: _entry(db), "the voice message to be registered", 60)
        assert entry.voicemail_ref is not None
        wav_path = tmp_path / entry.voicemail_ref
        wait_until(lambda: wav_path.exists() and wav_path.stat().st_size > 44 + 2 * 16000,
                   "two seconds of the message on disk", 30)
        os.kill(server.proc.pid, signal.SIGKILL)  # no clean shutdown at all
        server.proc.wait(10)
        caller.kill()
        server = Serve(env, tmp_path, port, sip_port, log)
        client, _token = api_login(f"http://127.0.0.1:{port}", "anna.berzina", "agent-demo-1")
        try:
            listing = client.get("/api/v1/unanswered").json()["items"]
            row = next(i for i in listing if i["id"] == entry.id)
            assert (row["reason"], row["voicemail"], row["resolved"]) == (
                "voicemail", True, False)
            r = client.get(f"/api/v1/unanswered/{entry.id}/voicemail")
            assert r.status_code == 200
            with wave.open(io.BytesIO(r.content), "rb") as w:
                assert (w.getnchannels(), w.getframerate()) == (1, 8000)
                assert w.getnframes() >= 8000  # the header lags the data by one flush
        finally:
            client.close()
    finally:
        caller.kill()
        server.stop()
