"""The MediaEngine facade as the B2BUA uses it: errors, counters, voicemail, teardown."""

from __future__ import annotations

import asyncio
import os
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.integration.media.support import Phone, answered_leg, dominant_frequency, voiced
from tests.integration.media.test_relay import run
from zvans.telephony.media import MediaError, NoCommonCodec, SdpError, audio, dtmf
from zvans.telephony.media.session import LegMode, MediaEngine


def test_bad_offers_raise_typed_errors_and_leave_the_leg_usable() -> None:
    async def body(engine: MediaEngine) -> None:
        phone = await Phone.open()
        leg = await engine.allocate_leg()
        with pytest.raises(NoCommonCodec):
            engine.answer(leg, phone.offer().replace("RTP/AVP 8 0 101", "RTP/AVP 18 101"))
        with pytest.raises(SdpError):
            engine.answer(leg, "v=0\r\nnonsense")
        assert leg.negotiated is None
        assert "a=rtpmap:8 PCMA/8000" in engine.answer(leg, phone.offer())
        phone.close()

    run(body)


def test_voicemail_listen_records_mono_and_still_reports_digits(tmp_path: Path) -> None:
    path = tmp_path / "vm.wav"

    async def body(engine: MediaEngine) -> float:
        phone = await Phone.open()
        leg = await answered_leg(engine, phone)
        digits: list[str] = []
        leg.on_dtmf = lambda d: digits.append(d.digit)
        recorder = engine.start_recording(path, channels=1)
        engine.listen(leg, recorder)
        assert leg.mode is LegMode.LISTEN
        await phone.send_tone(leg.port, 700, 50, "PCMA")
        for payload, marker in dtmf.event_payloads("#", 100):
            phone.send(leg.port, payload, pt=101, ts=777, marker=marker)
        await asyncio.sleep(0.1)
        assert digits == ["#"]
        duration = engine.stop_recording(recorder)
        phone.close()
        return duration

    duration = run(body)
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getnframes() == round(duration * 8000)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    loud = voiced(pcm)
    assert len(loud) >= 50 * 160 - 10  # the sine starts at 0: its first samples are quiet
    assert abs(dominant_frequency(loud) - 700) < 5


def test_close_is_idempotent_frees_everything_and_counters_add_up(tmp_path: Path) -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await answered_leg(engine, agent)
        recorder = engine.start_recording(tmp_path / "c.wav")
        engine.bridge(a, b, recorder)
        for _ in range(5):
            caller.send(a.port, b"\xd5" * 160)
        await agent.wait_for(5)
        first = engine.close(a)
        assert first["rx_packets"] == 5
        assert engine.close(a) == first
        assert recorder.closed and b.peer is None and b.mode is LegMode.IDLE
        with pytest.raises(MediaError):
            engine.bridge(a, b)
        engine.close(b)
        await asyncio.sleep(0)
        counters = engine.counters()
        assert counters["legs"] == 0 and counters["ports_in_use"] == 0
        assert counters["rx_packets"] == 5 and counters["tx_packets"] == 5
        assert counters["recordings"] == 0
        caller.close()
        agent.close()

    run(body)


def test_disk_error_stops_only_the_recording(tmp_path: Path) -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await answered_leg(engine, agent)
        recorder = engine.start_recording(tmp_path / "full.wav")
        with pytest.raises(MediaError):
            engine.bridge(a, b, engine.start_recording(tmp_path / "mono.wav", channels=1))
        engine.bridge(a, b, recorder)
        caller.send(a.port, b"\xd5" * 160)
        await agent.wait_for(1)
        full = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
        os.close(recorder._fd)
        recorder._fd = full
        await asyncio.sleep(0.6)  # a flush happens
        engine.flush_recordings([recorder])
        assert engine.counters()["recording_errors"] == 1
        assert recorder.closed and recorder not in engine.recorders
        caller.send(a.port, b"\xd5" * 160)  # the call goes on
        await agent.wait_for(2)
        caller.close()
        agent.close()

    run(body)


def test_a_failing_dtmf_callback_does_not_break_the_leg(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    async def body(engine: MediaEngine) -> None:
        phone = await Phone.open()
        leg = await answered_leg(engine, phone)
        seen: list[str] = []

        def callback(digit: dtmf.DtmfDigit) -> None:
            seen.append(digit.digit)
            if digit.digit == "1":
                raise RuntimeError("bug in the IVR")

        leg.on_dtmf = callback
        for digit, ts in (("1", 100), ("2", 5000)):
            for payload, marker in dtmf.event_payloads(digit, 60):
                phone.send(leg.port, payload, pt=101, ts=ts, marker=marker)
        await asyncio.sleep(0.1)
        assert seen == ["1", "2"]
        phone.close()

    run(body)
    assert "DTMF callback" in caplog.text


def test_inband_dtmf_when_the_peer_has_no_telephone_event() -> None:
    from tests.unit.media.test_inband import sequence
    from zvans.telephony.media import g711

    async def body(engine: MediaEngine) -> None:
        phone = await Phone.open()
        leg = await engine.allocate_leg()
        answer = engine.answer(leg, phone.offer().replace(" 101\r\n", "\r\n")
                               .replace("a=rtpmap:101 telephone-event/8000\r\n", "")
                               .replace("a=fmtp:101 0-16\r\n", ""))
        assert "telephone-event" not in answer and leg.inband is not None
        seen: list[dtmf.DtmfDigit] = []
        leg.on_dtmf = seen.append
        engine.play(leg, audio.AudioClip(audio.silence(0.5)))  # prompts do not disturb it
        coded = g711.encode(sequence("42#"), "PCMA")
        for i in range(0, len(coded), 160):
            phone.send(leg.port, coded[i:i + 160])
            if i % 1600 == 0:
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.1)
        assert [(d.digit, d.source) for d in seen] == [("4", "inband"), ("2", "inband"),
                                                       ("#", "inband")]
        # with telephone-event negotiated, audio is not decoded for DTMF
        other = await answered_leg(engine, phone)
        assert other.inband is None
        engine.inband_dtmf(other, True)
        assert other.inband is not None
        phone.close()

    run(body)
