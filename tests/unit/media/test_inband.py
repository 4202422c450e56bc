"""In-band DTMF: every key, robustness to noise and level, no talk-off on speech or music."""

from __future__ import annotations

import numpy as np
import pytest

from zvans.telephony.media import audio, dtmf, g711


def key(ch: str, seconds: float = 0.1, amplitude: float = 0.25,
        twist_db: float = 0.0) -> np.ndarray:
    row = next(i for i, r in enumerate(dtmf.KEYPAD) if ch in r)
    col = dtmf.KEYPAD[row].index(ch)
    t = np.arange(int(seconds * 8000)) / 8000
    high_gain = 10 ** (twist_db / 20)
    x = np.sin(2 * np.pi * dtmf.LOW_FREQS[row] * t) + \
        high_gain * np.sin(2 * np.pi * dtmf.HIGH_FREQS[col] * t)
    return (x / (1 + high_gain) * amplitude * 32767).astype(np.int16)


def detect(pcm: np.ndarray, frame: int = 160) -> str:
    detector = dtmf.InbandDetector()
    for i in range(0, len(pcm), frame):
        detector.feed(pcm[i:i + frame])
    return "".join(d.digit for d in detector.digits)


def sequence(keys: str, **kw: float) -> np.ndarray:
    gap = np.zeros(480, dtype=np.int16)
    return np.concatenate([np.concatenate([key(k, **kw), gap]) for k in keys])


def test_all_sixteen_keys_once_each_through_g711() -> None:
    pcm = sequence("0123456789*#ABCD")
    assert detect(pcm) == "0123456789*#ABCD"
    for codec in ("PCMA", "PCMU"):
        coded = g711.decode(g711.encode(pcm, codec), codec)
        assert detect(coded, frame=240) == "0123456789*#ABCD"


def test_same_key_twice_needs_a_gap() -> None:
    assert detect(np.concatenate([key("5", 0.3)])) == "5"
    assert detect(sequence("55")) == "55"


@pytest.mark.parametrize("twist_db", [-6.0, 3.0])
def test_twist_within_limits_and_quiet_keys(twist_db: float) -> None:
    assert detect(sequence("19#", twist_db=twist_db)) == "19#"
    assert detect(sequence("19#", amplitude=0.03)) == "19#"


def test_noisy_line() -> None:
    rng = np.random.default_rng(7)
    pcm = sequence("2580").astype(np.float64)
    noisy = pcm + rng.normal(0, 400, len(pcm))  # about 20 dB SNR
    assert detect(noisy.astype(np.int16)) == "2580"


def test_rejects_short_bursts_single_tones_and_bad_twist() -> None:
    assert detect(sequence("1", seconds=0.03)) == ""
    assert detect(audio.tone(1000, 1.0)) == ""
    assert detect(audio.tone([697, 770], 0.5)) == ""  # two low-group tones
    assert detect(sequence("1", twist_db=12.0)) == ""


def test_no_talk_off_on_music_on_hold() -> None:
    assert detect(audio.default_moh().pcm) == ""


def test_no_talk_off_on_speech(tmp_path: object) -> None:
    import asyncio
    import shutil
    from pathlib import Path

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from zvans.telephony.media import prompts

    async def speak() -> list[np.ndarray]:
        cache = prompts.PromptCache(Path(str(tmp_path)))
        texts = [prompts.position_phrase(lang, 7, 12) for lang in prompts.LANGUAGES]
        texts += [prompts.PHRASES["greeting"][lang] for lang in prompts.LANGUAGES]
        langs = list(prompts.LANGUAGES) * 2
        return [(await cache.speak(lang, text)).pcm for lang, text in zip(langs, texts,
                                                                            strict=True)]

    for pcm in asyncio.run(speak()):
        assert detect(pcm) == ""
