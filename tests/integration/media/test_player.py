"""Playing prompts and music on hold to a real UDP peer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.integration.media.support import Phone, answered_leg, offered_leg
from tests.integration.media.test_relay import run
from zvans.telephony.media import audio, g711
from zvans.telephony.media.session import LegMode, MediaEngine


def test_plays_clip_frame_by_frame_in_negotiated_law() -> None:
    async def body(engine: MediaEngine) -> None:
        phone = await Phone.open()
        leg = await answered_leg(engine, phone, codecs=("PCMU",))
        clip = audio.AudioClip(audio.tone(600, 0.23))  # 11.5 frames: the last is padded
        playback = engine.play(leg, clip)
        assert leg.mode is LegMode.PLAY
        await playback.wait()
        await phone.wait_for(12)
        got = phone.received
        assert len(got) == 12 and playback.frames_sent == 12
        assert all(p.payload_type == 0 for p in got)
        assert [p.sequence - got[0].sequence for p in got] == list(range(12))
        assert [p.timestamp - got[0].timestamp for p in got] == [160 * i for i in range(12)]
        assert got[0].marker and not any(p.marker for p in got[1:])
        pcm = g711.decode(b"".join(p.payload for p in got), "PCMU")
        assert np.array_equal(pcm[:1840], g711.decode(clip.encoded("PCMU"), "PCMU"))
        assert np.all(pcm[1840:] == 0)
        assert leg.mode.value == "idle"  # back to idle once the prompt ended
        phone.close()

    run(body)


def test_music_on_hold_loops_until_stopped() -> None:
    async def body(engine: MediaEngine) -> None:
        phone = await Phone.open()
        leg = await answered_leg(engine, phone)
        short = audio.AudioClip(audio.tone(500, 0.06))  # 3 frames per loop
        playback = engine.play(leg, short, loop=True)
        await phone.wait_for(10)
        engine.stop(leg)
        await asyncio.sleep(0.1)
        count = len(phone.received)
        await asyncio.sleep(0.1)
        assert len(phone.received) == count  # stopped means stopped
        assert playback.stopped and leg.playback is None
        phone.close()

    run(body)


def test_play_while_bridged_is_hold_music_and_relay_resumes() -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await offered_leg(engine, agent)
        engine.bridge(a, b)
        playback = engine.play(a, audio.AudioClip(audio.tone(400, 0.1)))
        agent.send(b.port, b"\x33" * 160)  # not heard by the caller while on hold music
        await playback.wait()
        await caller.wait_for(5)
        await asyncio.sleep(0.05)
        assert all(p.payload != b"\x33" * 160 for p in caller.received)
        assert a.tx_dropped >= 1
        agent.send(b.port, b"\x44" * 160)
        await caller.wait_for(6)
        assert caller.received[-1].payload == b"\x44" * 160
        assert a.mode is LegMode.RELAY
        caller.close()
        agent.close()

    run(body)


def test_play_wav_file_path(tmp_path: Path) -> None:
    path = audio.write_wav(tmp_path / "p.wav", audio.tone(800, 0.1))

    async def body(engine: MediaEngine) -> None:
        phone = await Phone.open()
        leg = await answered_leg(engine, phone)
        await engine.play(leg, path).wait()
        await phone.wait_for(5)
        pcm = g711.decode(b"".join(p.payload for p in phone.received), "PCMA")
        assert abs(np.argmax(np.abs(np.fft.rfft(pcm))) * 8000 / len(pcm) - 800) < 20
        phone.close()

    run(body)


def test_negotiated_ptime_sets_the_frame_size() -> None:
    async def body(engine: MediaEngine) -> None:
        phone = await Phone.open()
        leg = await engine.allocate_leg()
        answer = engine.answer(leg, phone.offer().replace("a=ptime:20", "a=ptime:30"))
        assert "a=ptime:30" in answer and leg.ptime == 30
        await engine.play(leg, audio.AudioClip(audio.tone(300, 0.3))).wait()
        await phone.wait_for(10)
        got = phone.received
        assert len(got) == 10 and {len(p.payload) for p in got} == {240}
        assert [p.timestamp - got[0].timestamp for p in got] == [240 * i for i in range(10)]
        phone.close()

    run(body)


def test_music_resumes_where_it_was_interrupted() -> None:
    async def body(engine: MediaEngine) -> None:
        phone = await Phone.open()
        leg = await answered_leg(engine, phone)
        # five 20 ms frames, each a different constant level, so a frame tells its index
        levels = [1000 * (i + 1) for i in range(5)]
        clip = audio.AudioClip(np.repeat(np.array(levels, dtype=np.int16), 160))
        first = engine.play(leg, clip, loop=True)
        await phone.wait_for(7)
        engine.stop(leg)
        sent = first.frames_sent
        assert first.position == pytest.approx((sent % 5) * 0.02)
        await asyncio.sleep(0.05)
        before = len(phone.received)
        second = engine.play(leg, clip, loop=True, start=first.position)
        await phone.wait_for(before + 2)
        engine.stop(leg)

        def index(packet: object) -> int:
            value = int(g711.decode(packet.payload[:1], "PCMA")[0])  # type: ignore[attr-defined]
            return min(range(5), key=lambda i: abs(levels[i] - value))

        assert index(phone.received[before]) == sent % 5
        assert index(phone.received[before + 1]) == (sent + 1) % 5
        assert second.offset == pytest.approx((sent % 5) * 0.02)
        phone.close()

    run(body)


def test_many_playbacks_share_one_pacer_and_each_gets_every_frame() -> None:
    from zvans.telephony.media.player import Pacer

    async def body(engine: MediaEngine) -> None:
        phones = [await Phone.open() for _ in range(30)]
        legs = [await answered_leg(engine, phone) for phone in phones]
        clip = audio.AudioClip(audio.tone(500, 0.2))  # 10 frames
        playbacks = [engine.play(leg, clip) for leg in legs]
        assert len(Pacer.of_running_loop()) == 30
        await asyncio.gather(*(p.wait() for p in playbacks))
        for phone in phones:
            await phone.wait_for(10)
            got = phone.received
            assert len(got) == 10
            assert [p.sequence - got[0].sequence for p in got] == list(range(10))
            assert [p.timestamp - got[0].timestamp for p in got] == [160 * i for i in range(10)]
            phone.close()
        assert len(Pacer.of_running_loop()) == 0

    run(body)
