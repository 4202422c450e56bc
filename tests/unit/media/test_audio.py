from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from zvans.telephony.media import audio
from zvans.telephony.media.errors import AudioFormatError


def write(path: Path, rate: int, channels: int, width: int, frames: int = 800) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x01" * frames * channels * width)
    return path


def test_reads_valid_prompt(tmp_path: Path) -> None:
    clip = audio.read_wav(write(tmp_path / "ok.wav", 8000, 1, 2))
    assert clip.duration == 0.1
    assert len(clip.encoded("PCMA")) == 800


@pytest.mark.parametrize(
    ("rate", "channels", "width", "fragment"),
    [(16000, 1, 2, "16000 Hz"), (8000, 2, 2, "2 channels"), (8000, 1, 1, "8-bit")],
)
def test_rejects_wrong_format(tmp_path: Path, rate: int, channels: int, width: int,
                              fragment: str) -> None:
    with pytest.raises(AudioFormatError) as err:
        audio.read_wav(write(tmp_path / "bad.wav", rate, channels, width))
    assert fragment in err.value.message
    assert err.value.code == "bad-audio-file"


def test_rejects_non_wav(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    path.write_bytes(b"ID3\x03\x00 this is an mp3, honest")
    with pytest.raises(AudioFormatError, match="not a PCM WAV"):
        audio.read_wav(path)
    with pytest.raises(AudioFormatError):
        audio.read_wav(tmp_path / "missing.wav")


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_converts_with_sox(tmp_path: Path) -> None:
    src = tmp_path / "upload.wav"
    t = np.arange(44100) / 44100
    pcm = (np.sin(2 * np.pi * 440 * t) * 10000).astype("<i2")
    stereo = np.repeat(pcm, 2)
    with wave.open(str(src), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(stereo.tobytes())
    clip = audio.load_prompt(src, convert_dir=tmp_path / "converted")
    assert abs(clip.duration - 1.0) < 0.01
    spectrum = np.abs(np.fft.rfft(clip.pcm.astype(float)))
    assert abs(np.argmax(spectrum) * 8000 / len(clip.pcm) - 440) < 3
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioFormatError, match="sox"):
        audio.load_prompt(junk, convert_dir=tmp_path / "converted")


def test_default_moh_is_audible_and_loops_cleanly() -> None:
    moh = audio.default_moh()
    assert moh.duration == 16.0
    pcm = moh.pcm.astype(float)
    assert np.sqrt(np.mean(pcm**2)) > 1000
    assert abs(pcm[0]) < 50 and abs(pcm[-1]) < 50  # no click at the loop point
    assert np.max(np.abs(pcm)) < 32767 * 0.5


def test_tone_frequency() -> None:
    pcm = audio.tone(1000, 1.0)
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    assert np.argmax(spectrum) == 1000
