"""Recording a bridged call: stereo layout, duration from RTP timestamps, and crash safety."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np

from tests.integration.media.support import (
    Phone,
    answered_leg,
    dominant_frequency,
    offered_leg,
    tone_purity,
    voiced,
)
from tests.integration.media.test_relay import run
from zvans.telephony.media.session import MediaEngine

ROOT = Path(__file__).resolve().parents[3]


def read_stereo(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


def test_bridged_call_records_caller_left_agent_right(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"

    async def body(engine: MediaEngine) -> tuple[float, float]:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller, codecs=("PCMA",))
        b = await offered_leg(engine, agent, codecs=("PCMU",))
        recorder = engine.start_recording(path)
        loop = asyncio.get_running_loop()
        started = loop.time()
        engine.bridge(a, b, recorder=recorder)
        await asyncio.gather(caller.send_tone(a.port, 440, 100, "PCMA"),
                             agent.send_tone(b.port, 1000, 100, "PCMU"))
        await agent.wait_for(100)
        await caller.wait_for(100)
        elapsed = loop.time() - started
        duration = engine.stop_recording(recorder)
        assert recorder.stats()["packets"] == 200 and recorder.stats()["late_packets"] == 0
        # both legs let go of the closed recorder: the relay goes on without a tap
        assert (a.recorder, a.tap, b.recorder, b.tap) == (None, None, None, None)
        assert recorder not in engine.recorders
        caller.close()
        agent.close()
        return duration, elapsed

    duration, elapsed = run(body)
    frames = read_stereo(path)
    assert duration == len(frames) / 8000
    # 100 frames of 20 ms by RTP timestamp, placed after the wall-clock offset of the first
    assert 2.0 <= duration <= 2.0 + elapsed
    voiced_left, voiced_right = voiced(frames[:, 0]), voiced(frames[:, 1])
    assert len(voiced_left) >= 15000 and len(voiced_right) >= 15000
    assert abs(dominant_frequency(voiced_left) - 440) < 5
    assert abs(dominant_frequency(voiced_right) - 1000) < 5
    assert tone_purity(voiced_left, 440) > 0.9 and tone_purity(voiced_right, 1000) > 0.9
    assert tone_purity(voiced_left, 1000) < 0.01 and tone_purity(voiced_right, 440) < 0.01


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from tests.integration.media.support import Phone, answered_leg, offered_leg
    from zvans.telephony.media.session import MediaEngine

    async def main():
        engine = MediaEngine(port_start=42000, port_end=42999, flush_interval=0.1)
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await offered_leg(engine, agent)
        engine.bridge(a, b, recorder=engine.start_recording({path!r}))
        print("bridged", flush=True)
        while True:  # one-second blocks: whole cycles of both tones, so no phase jumps
            await asyncio.gather(caller.send_tone(a.port, 440, 50, "PCMA", paced=True),
                                 agent.send_tone(b.port, 1000, 50, "PCMA", paced=True))

    asyncio.run(main())
    """
)


def header_frames(path: Path) -> int:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes()
    except (wave.Error, EOFError, FileNotFoundError):
        return -1


def test_recording_survives_sigkill_of_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT), path=str(path)))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                             cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"bridged"
        deadline = time.monotonic() + 60
        while header_frames(path) < 8000 * 1.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)  # mid-call, no chance to close the file
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    frames = read_stereo(path)  # the header the killed writer left is valid
    assert len(frames) >= 8000 * 1.5
    assert path.stat().st_size >= 44 + len(frames) * 4
    assert abs(dominant_frequency(voiced(frames[:, 0])) - 440) < 5
    assert abs(dominant_frequency(voiced(frames[:, 1])) - 1000) < 5
