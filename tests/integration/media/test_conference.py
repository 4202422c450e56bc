"""Three-party conference: everyone hears the others and not themselves; recorded."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np

from tests.integration.media.support import Phone, answered_leg, tone_purity, voiced
from tests.integration.media.test_relay import run
from zvans.telephony.media import dtmf, g711
from zvans.telephony.media.session import LegMode, MediaEngine

TONES = (440.0, 1000.0, 1500.0)


def heard(phone: Phone) -> np.ndarray:
    audio = [p for p in phone.received if p.payload_type in (0, 8)]
    return np.concatenate([g711.decode(p.payload, "PCMA" if p.payload_type == 8 else "PCMU")
                           for p in audio])


def test_each_member_hears_the_other_two(tmp_path: Path) -> None:
    path = tmp_path / "conf.wav"

    async def body(engine: MediaEngine) -> float:
        phones = [await Phone.open() for _ in TONES]
        legs = [await answered_leg(engine, phone, codecs=codecs)
                for phone, codecs in zip(phones, (("PCMA",), ("PCMU",), ("PCMA",)),
                                         strict=True)]
        recorder = engine.start_recording(path)
        mixer = engine.conference(legs, recorder)
        assert all(leg.mode is LegMode.CONFERENCE for leg in legs)
        digits: list[str] = []
        legs[1].on_dtmf = lambda d: digits.append(d.digit)
        await asyncio.gather(*(phone.send_tone(leg.port, freq, 75, leg.codec, paced=True)
                               for phone, leg, freq in zip(phones, legs, TONES, strict=True)))
        for payload, marker in dtmf.event_payloads("8", 60):
            phones[1].send(legs[1].port, payload, pt=101, ts=123456, marker=marker)
        await asyncio.sleep(0.1)
        assert digits == ["8"]
        assert mixer.frames_mixed >= 70
        for i, phone in enumerate(phones):
            pcm = voiced(heard(phone))
            own = TONES[i]
            others = [f for f in TONES if f != own]
            assert tone_purity(pcm, others[0]) > 0.25, (i, others[0])
            assert tone_purity(pcm, others[1]) > 0.25, (i, others[1])
            assert tone_purity(pcm, own) < 0.02, (i, own)
        duration = engine.end_conference(mixer)
        assert duration is not None
        assert all(leg.mode is LegMode.IDLE for leg in legs) and not engine.mixers
        for phone in phones:
            phone.close()
        return duration

    duration = run(body)
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 2 and w.getnframes() == round(duration * 8000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    left, right = voiced(frames[:, 0]), voiced(frames[:, 1])
    assert tone_purity(left, 440) > 0.8
    assert tone_purity(right, 1000) > 0.25 and tone_purity(right, 1500) > 0.25
    assert tone_purity(right, 440) < 0.02


def test_leaving_and_closing_end_the_conference() -> None:
    async def body(engine: MediaEngine) -> None:
        phones = [await Phone.open() for _ in range(3)]
        legs = [await answered_leg(engine, phone) for phone in phones]
        mixer = engine.conference(legs)
        engine.leave(legs[0])
        assert legs[0] not in mixer and legs[0].mode is LegMode.IDLE
        engine.bridge(legs[0], legs[1])  # taken out of the conference to talk privately
        assert legs[1] not in mixer and legs[0].peer is legs[1]
        engine.close(legs[2])  # the last member gone: the conference ends
        assert not engine.mixers and engine.counters()["conferences"] == 0
        for phone in phones:
            phone.close()

    run(body)
