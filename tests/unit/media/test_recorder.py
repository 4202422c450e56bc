from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from zvans.telephony.media import g711
from zvans.telephony.media.recorder import Recorder
from zvans.telephony.media.rtp import RtpPacket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def packet(seq: int, ts: int, payload: bytes, pt: int = 8, ssrc: int = 1) -> bytes:
    return RtpPacket(pt, seq, ts, ssrc, payload).build()


def read(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getsampwidth()) == (8000, 2)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return w.getnchannels(), data.reshape(-1, w.getnchannels())


def test_samples_placed_by_timestamp_with_gaps_and_reordering(tmp_path: Path) -> None:
    clock = Clock()
    rec = Recorder(tmp_path / "r.wav", clock=clock, margin=0.1)
    loud = g711.encode(np.full(160, 1000), "PCMA")
    # caller: frames 0,1,(2 lost),4,3 (reordered); agent starts 0.5 s later, µ-law
    for seq, ts in [(0, 0), (1, 160), (4, 640), (3, 480)]:
        rec.feed(0, packet(seq, 5000 + ts, loud))
    clock.now += 0.5
    rec.feed(1, packet(7, 90000, g711.encode(np.full(160, -2000), "PCMU"), pt=0, ssrc=9))
    rec.feed(0, packet(9, 5000, b"\x00" * 160, pt=101))  # telephone-event: not recorded
    duration = rec.close()
    channels, frames = read(tmp_path / "r.wav")
    assert channels == 2
    assert duration == len(frames) / 8000 == (4000 + 160) / 8000
    left, right = frames[:, 0], frames[:, 1]
    assert np.all(left[0:320] == g711.decode(loud[:1], "PCMA")[0])
    assert np.all(np.abs(left[320:480]) <= 8)  # the lost frame is silence
    assert np.all(left[480:800] == left[0])
    assert np.all(right[:4000] == 0)  # the agent leg began half a second later
    assert np.all(np.abs(right[4000:4160] + 2000) < 80)


def test_header_valid_after_each_flush(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "live.wav"
    rec = Recorder(path, channels=1, clock=clock, margin=0.0)
    assert read(path)[1].shape == (0, 1)
    ts = 0
    for second in range(1, 4):
        for _ in range(50):
            rec.feed(0, packet(ts // 160, ts, b"\xd5" * 160))
            ts += 160
        clock.now += 1.0
        rec.flush()
        assert read(path)[1].shape == (8000 * second, 1)  # readable while recording
    rec.close()


def test_timestamp_jump_reanchors_to_wall_clock(tmp_path: Path) -> None:
    clock = Clock()
    rec = Recorder(tmp_path / "j.wav", channels=1, clock=clock, margin=0.0)
    rec.feed(0, packet(1, 0, b"\xaa" * 160))
    clock.now += 1.0
    rec.feed(0, packet(2, 3_000_000_000, b"\xaa" * 160))  # a wild jump: placed at 1.0 s
    assert rec.close() == (8000 + 160) / 8000


def test_timestamp_wraparound_and_late_packets(tmp_path: Path) -> None:
    clock = Clock()
    rec = Recorder(tmp_path / "w.wav", channels=1, clock=clock, margin=0.0)
    start = 2**32 - 320  # the third frame's timestamp wraps to 0
    for i in range(6):
        rec.feed(0, packet(i, (start + 160 * i) & 0xFFFFFFFF, b"\xaa" * 160))
    clock.now += 0.12
    rec.flush()  # 960 frames written
    rec.feed(0, packet(2, (start + 320) & 0xFFFFFFFF, b"\xaa" * 160))  # too late now
    assert rec.stats()["late_packets"] == 1
    assert rec.close() == 960 / 8000
    _, frames = read(tmp_path / "w.wav")
    assert np.all(frames[:, 0] == frames[0, 0]) and abs(int(frames[0, 0])) > 10000
