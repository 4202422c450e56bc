"""The same media behaviour in process and with media workers (real UDP on 127.0.0.1).

Every test runs against ``MediaEngine`` (media in this process) and ``WorkerMediaEngine``
with two worker processes (on asyncio and on uvloop, which ``zvans serve`` runs); for the
workers the test also checks that the bridged pair really was relayed by a worker (not
silently kept here). The last tests are about the workers only: a worker killed mid-call,
and shutdown.
"""

from __future__ import annotations

import asyncio
import os
import signal
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvloop

from tests.integration.media.support import (
    Phone,
    answered_leg,
    dominant_frequency,
    offered_leg,
    voiced,
)
from zvans.telephony.media import audio, dtmf
from zvans.telephony.media.mixer import Mixer
from zvans.telephony.media.session import LegMode, MediaEngine, MediaLeg
from zvans.telephony.media.workers import WorkerMediaEngine

KINDS = ["in-process", "workers", "workers-uvloop"]


def run(kind: str, body: Callable[[MediaEngine], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        if kind.startswith("workers"):
            engine: MediaEngine = WorkerMediaEngine(port_start=43000, port_end=43999, workers=2)
        else:
            engine = MediaEngine(port_start=43000, port_end=43999)
        try:
            return await body(engine)
        finally:
            await engine.aclose()

    if kind.endswith("uvloop"):  # `zvans serve` runs uvloop
        return uvloop.run(main())
    return asyncio.run(main())


async def settle() -> None:
    """Let a scheduled hand-off happen (it runs right after the current callbacks)."""
    for _ in range(3):
        await asyncio.sleep(0)


def in_worker(engine: MediaEngine, *legs: MediaLeg) -> bool:
    return isinstance(engine, WorkerMediaEngine) and all(leg.id in engine._pairs for leg in legs)


def expect_where(engine: MediaEngine, *legs: MediaLeg) -> None:
    """In worker mode a plainly bridged pair must be in a worker."""
    assert in_worker(engine, *legs) == isinstance(engine, WorkerMediaEngine)


def read_stereo(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("kind", KINDS)
def test_relay_counts_both_ways(kind: str) -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await offered_leg(engine, agent)
        engine.bridge(a, b)
        await settle()
        expect_where(engine, a, b)
        sent_up = [bytes([i]) * 160 for i in range(50)]
        for payload in sent_up:
            caller.send(a.port, payload)
        for i in range(30):
            agent.send(b.port, bytes([200 + i % 50]) * 160)
        await agent.wait_for(50)
        await caller.wait_for(30)
        assert [p.payload for p in agent.received] == sent_up
        assert {p.ssrc for p in agent.received} == {caller.ssrc}
        assert all(src[1] == b.port for src in agent.sources)
        engine.sync()
        assert (a.rx_packets, b.tx_packets, b.rx_packets, a.tx_packets) == (50, 50, 30, 30)
        assert a.rx_lost == 0
        counters = engine.counters()
        assert counters["rx_packets"] == 80 and counters["bridged_legs"] == 2
        assert engine.close(a)["rx_packets"] == 50
        assert engine.close(b)["tx_packets"] == 50
        caller.close()
        agent.close()

    run(kind, body)


@pytest.mark.parametrize("kind", KINDS)
def test_recording_of_a_bridged_call(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "call.wav"

    async def body(engine: MediaEngine) -> tuple[float, float]:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller, codecs=("PCMA",))
        b = await offered_leg(engine, agent, codecs=("PCMU",))
        recorder = engine.start_recording(path)
        loop = asyncio.get_running_loop()
        started = loop.time()
        engine.bridge(a, b, recorder=recorder)
        await settle()
        expect_where(engine, a, b)
        await asyncio.gather(caller.send_tone(a.port, 440, 100, "PCMA", paced=True),
                             agent.send_tone(b.port, 1000, 100, "PCMU", paced=True))
        await agent.wait_for(100)
        await caller.wait_for(100)
        elapsed = loop.time() - started
        duration = engine.stop_recording(recorder)
        assert recorder.stats()["packets"] == 200 and recorder.stats()["late_packets"] == 0
        caller.close()
        agent.close()
        return duration, elapsed

    duration, elapsed = run(kind, body)
    frames = read_stereo(path)
    assert duration == len(frames) / 8000
    # 100 frames of 20 ms by RTP timestamp, after the wall-clock offset of the first one
    assert 2.0 <= duration <= 2.0 + elapsed
    assert abs(dominant_frequency(voiced(frames[:, 0])) - 440) < 5
    assert abs(dominant_frequency(voiced(frames[:, 1])) - 1000) < 5


@pytest.mark.parametrize("kind", KINDS)
def test_hold_music_to_a_bridged_leg_then_back_to_the_relay(kind: str) -> None:
    """Music on hold on a bridged call (the pair comes back from its worker to play it)
    and the relay again when it stops (the pair goes back out)."""
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await offered_leg(engine, agent)
        engine.bridge(a, b)
        await settle()
        expect_where(engine, a, b)
        clip = audio.AudioClip(audio.tone(700, 0.2))  # 10 frames
        playback = engine.play(a, clip)
        assert not in_worker(engine, a, b)
        await playback.wait()
        await caller.wait_for(10)
        assert len(caller.received) == 10
        assert abs(dominant_frequency(
            np.concatenate([audio_of(p.payload) for p in caller.received])) - 700) < 10
        await settle()
        expect_where(engine, a, b)  # plainly bridged again
        for i in range(20):
            agent.send(b.port, bytes([i]) * 160)
        await caller.wait_for(30)
        assert [p.payload for p in caller.received[10:]] == [bytes([i]) * 160 for i in range(20)]
        caller.close()
        agent.close()

    run(kind, body)


def audio_of(payload: bytes) -> np.ndarray:
    from zvans.telephony.media.g711 import decode

    return decode(payload, "PCMA")


@pytest.mark.parametrize("kind", KINDS)
def test_dtmf_detected_on_a_bridged_leg(kind: str) -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller, te_pt=97)
        b = await offered_leg(engine, agent, te_pt=97)
        digits: list[dtmf.DtmfDigit] = []
        a.on_dtmf = digits.append
        engine.bridge(a, b)
        await settle()
        expect_where(engine, a, b)
        for digit, ts in (("7", 20000), ("#", 30000)):
            for payload, marker in dtmf.event_payloads(digit, 100):
                caller.send(a.port, payload, pt=97, ts=ts, marker=marker)
        await agent.wait_for(14)  # 4 progress and 3 end packets per digit, all relayed
        await until(lambda: len(digits) >= 2)
        assert [(d.digit, d.duration_ms, d.source) for d in digits] == \
            [("7", 100, "rfc4733"), ("#", 100, "rfc4733")]
        caller.close()
        agent.close()

    run(kind, body)


@pytest.mark.parametrize("kind", KINDS)
def test_reinvite_codec_change_while_bridged(kind: str) -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller, codecs=("PCMA",))
        b = await offered_leg(engine, agent, codecs=("PCMA",))
        engine.bridge(a, b)
        await settle()
        engine.answer(a, caller.offer(codecs=("PCMU",)))  # the caller switches to µ-law
        assert a.codec == "PCMU"
        await settle()
        expect_where(engine, a, b)
        caller.send(a.port, b"\xff" * 160, pt=0)  # µ-law silence
        await agent.wait_for(1)
        assert agent.received[0].payload_type == 8
        assert agent.received[0].payload == b"\xd5" * 160  # A-law silence
        caller.close()
        agent.close()

    run(kind, body)


@pytest.mark.parametrize("kind", KINDS)
def test_conference_of_bridged_legs_mixes_in_process(kind: str) -> None:
    """A conference takes the pair back: mixing stays in the main process."""
    async def body(engine: MediaEngine) -> None:
        phones = [await Phone.open() for _ in range(3)]
        a = await answered_leg(engine, phones[0])
        b = await offered_leg(engine, phones[1])
        c = await offered_leg(engine, phones[2])
        engine.bridge(a, b)
        await settle()
        mixer = engine.conference([a, b, c])
        assert isinstance(mixer, Mixer) and not in_worker(engine, a) and not in_worker(engine, b)
        assert a.mode is b.mode is c.mode is LegMode.CONFERENCE
        await phones[0].send_tone(a.port, 440, 25, "PCMA", paced=True)
        await phones[2].wait_for(20)
        engine.end_conference(mixer)
        for phone in phones:
            phone.close()

    run(kind, body)


def test_pairs_spread_over_the_least_loaded_worker() -> None:
    async def body(engine: MediaEngine) -> None:
        assert isinstance(engine, WorkerMediaEngine)
        phones = [await Phone.open() for _ in range(6)]
        legs = []
        for k in range(3):
            a = await answered_leg(engine, phones[2 * k])
            b = await offered_leg(engine, phones[2 * k + 1])
            engine.bridge(a, b)
            legs.append((a, b))
            await settle()
        assert sorted(w["pairs"] for w in engine.workers_info()) == [1, 2]
        for a, b in legs:  # both legs of a call in the same worker
            assert engine._pairs[a.id] is engine._pairs[b.id]
        engine.close(legs[0][0])
        engine.close(legs[1][0])
        a = await answered_leg(engine, phones[0])
        b = await answered_leg(engine, phones[2])
        engine.bridge(a, b)
        await settle()
        assert sorted(w["pairs"] for w in engine.workers_info()) in ([0, 2], [1, 1])
        for phone in phones:
            phone.close()

    run("workers", body)


def test_killed_worker_ends_its_calls_keeps_the_recording_and_is_replaced(
        tmp_path: Path) -> None:
    path = tmp_path / "call.wav"

    async def body(engine: MediaEngine) -> None:
        assert isinstance(engine, WorkerMediaEngine)
        lost: list[list[MediaLeg]] = []
        engine.on_lost = lost.append
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await offered_leg(engine, agent)
        recorder = engine.start_recording(path)
        engine.bridge(a, b, recorder)
        await settle()
        assert in_worker(engine, a, b)
        worker = engine._pairs[a.id].worker
        # 1.5 s of tones, then wait until the worker has flushed at least one second
        await asyncio.gather(caller.send_tone(a.port, 440, 75, "PCMA", paced=True),
                             agent.send_tone(b.port, 1000, 75, "PCMA", paced=True))
        await until(lambda: path.stat().st_size >= 44 + 4 * 8000)
        os.kill(worker.pid, signal.SIGKILL)
        await until(lambda: bool(lost))
        assert {leg.id for leg in lost[0]} == {a.id, b.id}
        assert not in_worker(engine, a) and engine.worker_deaths == 1
        pids = [w["pid"] for w in engine.workers_info()]
        assert len(pids) == 2 and worker.pid not in pids  # replaced
        # what the B2BUA does next: stop the recording, close the legs
        duration = engine.stop_recording(recorder)
        engine.close(a)
        engine.close(b)
        frames = read_stereo(path)
        assert duration == len(frames) / 8000 and duration >= 1.0
        assert abs(dominant_frequency(voiced(frames[:, 0])) - 440) < 5
        assert abs(dominant_frequency(voiced(frames[:, 1])) - 1000) < 5
        # the new worker takes new calls
        c = await answered_leg(engine, caller)
        d = await offered_leg(engine, agent)
        engine.bridge(c, d)
        await settle()
        assert in_worker(engine, c, d)
        caller.close()
        agent.close()

    run("workers", body)


def test_shutdown_stops_the_workers() -> None:
    procs: list[Any] = []

    async def body(engine: MediaEngine) -> None:
        assert isinstance(engine, WorkerMediaEngine)
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await offered_leg(engine, agent)
        engine.bridge(a, b)
        await settle()
        procs.extend(w.proc for w in engine.workers if w is not None)
        assert len(procs) == 2
        caller.close()
        agent.close()

    run("workers", body)  # aclose() with a pair still in a worker
    assert all(proc.poll() == 0 for proc in procs)


def test_a_burst_of_hand_offs() -> None:
    """150 bridges in one go (300 sockets and 150 messages at once): every pair arrives in
    a worker and relays, none is lost on the way and no worker is declared dead."""
    async def body(engine: MediaEngine) -> None:
        assert isinstance(engine, WorkerMediaEngine)
        caller, agent = await Phone.open(), await Phone.open()
        pairs = []
        for _ in range(150):
            a = await answered_leg(engine, caller)
            b = await offered_leg(engine, agent)
            pairs.append((a, b))
        for a, b in pairs:
            engine.bridge(a, b)
        await settle()
        assert sum(w["pairs"] for w in engine.workers_info()) == 150
        for a, _b in pairs:
            caller.send(a.port, b"\x33" * 160)
        await agent.wait_for(150)
        engine.sync()
        assert sum(b.tx_packets for _a, b in pairs) == 150
        assert engine.worker_deaths == 0
        caller.close()
        agent.close()

    run("workers", body)


@pytest.mark.parametrize("kind", KINDS)
def test_recording_with_audio_far_ahead_survives_hold_and_hand_offs(kind: str,
                                                                    tmp_path: Path) -> None:
    """A packet timestamped 8 s ahead is placed 8 s in (and, with workers, the recorder's
    unwritten 8 s travel back and forth with the pair when music on hold takes it back)."""
    path = tmp_path / "ahead.wav"

    async def body(engine: MediaEngine) -> float:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller, codecs=("PCMA",))
        b = await offered_leg(engine, agent, codecs=("PCMA",))
        recorder = engine.start_recording(path)
        engine.bridge(a, b, recorder)
        await settle()
        expect_where(engine, a, b)
        caller.send(a.port, b"\xaa" * 160, ts=80_000)
        caller.send(a.port, b"\x2a" * 160, ts=80_000 + 8 * 8000)  # 8 s later, at once
        await agent.wait_for(2)
        await engine.play(a, audio.AudioClip(audio.tone(500, 0.06))).wait()  # takes it back
        await settle()
        expect_where(engine, a, b)  # and out again, with the 8 s still unwritten
        duration = engine.stop_recording(recorder)
        caller.close()
        agent.close()
        return duration

    duration = run(kind, body)
    frames = read_stereo(path)
    assert duration == len(frames) / 8000 and duration >= 8.02
    left = frames[:, 0]
    loud = np.nonzero(np.abs(left) > 1000)[0]
    # two loud 20 ms bursts 8 s apart on the left (A-law 0xaa and 0x2a: full scale)
    assert len(loud) == 320
    assert loud[-1] - loud[0] == 8 * 8000 + 159
