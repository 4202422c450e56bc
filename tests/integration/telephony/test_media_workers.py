"""The B2BUA with two media workers (``zvans serve --media-workers 2``) and real SIP peers.

A sipp caller goes through the IVR into the queue, a baresip agent answers: the bridged,
recorded call is relayed by a worker process. Killing that worker mid-call ends the call
with a BYE to both sides, keeps the recording playable and starts a new worker. And
``zvans serve --media-workers 2`` starts two workers and stops them with itself.
"""

from __future__ import annotations

import os
import signal
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
import uvloop
from sqlalchemy import select

from tests.integration.telephony.support import (
    Service,
    Sipp,
    demo_zvans,
    event_types,
    events,
    finished,
    free_udp_port,
    have_peers,
    org_id,
    serve_demo,
    start_phone,
    user_id,
    wait_until,
)
from zvans import demo
from zvans.app import Zvans
from zvans.store.models import Interaction
from zvans.telephony.media.workers import WorkerMediaEngine

pytestmark = [pytest.mark.sip,
              pytest.mark.skipif(not have_peers(), reason="sipp, baresip or espeak-ng missing")]

IVR = demo.IVR_DID
PASSWORD = demo.AGENT_PASSWORD


@pytest.fixture
def demo_z(tmp_path: Path) -> Iterator[Zvans]:
    z = demo_zvans(tmp_path, media_workers=2)
    yield z
    z.close()


@pytest.fixture
def service(demo_z: Zvans) -> Iterator[Service]:
    svc = Service(demo_z, loop_factory=uvloop.new_event_loop)  # as `zvans serve` runs
    yield svc
    svc.stop()


def only_interaction(z: Zvans) -> Interaction:
    with z.sessions() as session:
        rows = list(session.scalars(select(Interaction)))
        assert len(rows) == 1
        session.expunge(rows[0])
        return rows[0]


def engine(service: Service) -> WorkerMediaEngine:
    media = service.telephony.media
    assert isinstance(media, WorkerMediaEngine)
    return media


def read_stereo(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


def test_bridged_recorded_call_is_relayed_by_a_worker(service: Service, tmp_path: Path) -> None:
    z = service.z
    media = engine(service)
    assert len(media.workers_info()) == 2  # started with the service
    anna = start_phone(tmp_path / "anna", "anna.berzina", PASSWORD, service.port,
                       lambda _p: service.registered("anna.berzina"))
    caller = None
    try:
        service.cc.agent_login(org_id(z), user_id(z, "anna.berzina"))
        caller = Sipp("b2bua_caller.xml", IVR, service.port, tmp_path / "caller", pause_ms=1000)
        wait_until(lambda: service.telephony.b2bua.stats["connected"] >= 1,
                   "the agent to answer", 60)
        # while the call is bridged, its two legs are in one worker
        try:
            wait_until(lambda: sum(w["pairs"] for w in media.workers_info()) == 1,
                       "the bridged pair in a worker", 10)
        except AssertionError:
            raise AssertionError(f"no pair in a worker: {media.handoffs} hand-offs, "
                                 f"{media.takebacks} take-backs, {media.worker_deaths} deaths, "
                                 f"{dict(service.telephony.b2bua.stats)}") from None
        assert caller.wait() == 0, caller.errors()
        iid = only_interaction(z).id
        record = finished(service, iid)
    finally:
        if caller is not None:
            caller.kill()
        anna.stop()
    assert media.handoffs >= 1 and media.worker_deaths == 0
    assert event_types(z, iid)[-3:] == ["offered", "answered", "completed"]
    assert record["phase"] == "connected" and record["reason"] == "remote-bye"
    caller_leg, agent_leg = record["caller_leg"], record["agent_leg"]
    assert isinstance(caller_leg, dict) and isinstance(agent_leg, dict)
    # everything sipp sent (7 s capture, 236 packets, and the digit's 10) arrived, none lost,
    # counted in the main process and in the worker alike
    assert caller_leg["rx_packets"] == 236 + 10 and caller_leg["rx_lost"] == 0
    assert agent_leg["rx_packets"] > 50 and agent_leg["tx_packets"] > 50
    assert caller_leg["tx_packets"] - int(record["sent_before_bridge"]) > 50  # type: ignore[call-overload]
    path = Path(str(record["recording"]))
    frames = read_stereo(path)
    talk = float({e.type: e for e in events(z, iid)}["completed"].data["talk_s"])
    assert abs(len(frames) / 8000 - talk) < 0.5, (len(frames) / 8000, talk)
    assert np.abs(frames[:, 0]).max() > 1000 and np.abs(frames[:, 1]).max() > 1000


def test_a_killed_worker_ends_its_call_with_bye_and_is_replaced(service: Service,
                                                                tmp_path: Path) -> None:
    z = service.z
    media = engine(service)
    anna = start_phone(tmp_path / "anna", "anna.berzina", PASSWORD, service.port,
                       lambda _p: service.registered("anna.berzina"))
    caller = None
    try:
        service.cc.agent_login(org_id(z), user_id(z, "anna.berzina"))
        caller = Sipp("media_workers_caller_bye.xml", IVR, service.port, tmp_path / "caller",
                      pause_ms=1000)
        busy = wait_until(lambda: [w for w in media.workers_info() if w["pairs"]],
                          "the bridged pair in a worker", 30)
        iid = only_interaction(z).id
        recording = Path(str(z.settings.data_dir)) / "recordings"
        # two seconds of the call on disk, written by the worker
        wait_until(lambda: any(p.stat().st_size > 44 + 4 * 16000
                               for p in recording.rglob(f"*{iid}.wav")),
                   "the worker to write the recording", 30)
        os.kill(busy[0]["pid"], signal.SIGKILL)
        # the caller gets a BYE and answers it: the scenario ends well
        assert caller.wait() == 0, caller.errors()
        record = finished(service, iid)
        wait_until(lambda: "terminated" in anna.output() or "closed" in anna.output(),
                   "the agent's phone to be hung up", 20)
    finally:
        if caller is not None:
            caller.kill()
        anna.stop()
    assert record["reason"] == "media-worker-lost" and record["phase"] == "connected"
    assert event_types(z, iid)[-1] == "completed"
    assert media.worker_deaths == 1
    pids = [w["pid"] for w in media.workers_info()]
    assert len(pids) == 2 and busy[0]["pid"] not in pids
    frames = read_stereo(Path(str(record["recording"])))
    assert len(frames) >= 2 * 8000 and record["recording_s"] == len(frames) / 8000
    assert np.abs(frames[:, 0]).max() > 1000 and np.abs(frames[:, 1]).max() > 1000


def test_serve_starts_and_stops_its_media_workers(tmp_path: Path, port: int) -> None:
    _env, proc, log = serve_demo(tmp_path, port, free_udp_port(), "--media-workers", "2")
    try:
        server = psutil.Process(proc.pid)

        def workers() -> list[psutil.Process]:
            return [p for p in server.children()
                    if "zvans.telephony.media.worker" in " ".join(p.cmdline())]

        found = wait_until(lambda: len(workers()) == 2 and workers(), "two media workers", 60)
        wait_until(lambda: "SIP listening" in log.read_text(errors="replace"), "SIP up", 60)
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                   .status_code == 200, "the web server", 30)
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal after a clean shutdown
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log.read_text(errors="replace")
        _gone, alive = psutil.wait_procs(found, timeout=10)
        assert not alive
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
