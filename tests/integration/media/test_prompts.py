"""Real espeak-ng and sox: spoken prompts in the four languages."""

from __future__ import annotations

import asyncio
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from zvans.telephony.media import prompts
from zvans.telephony.media.errors import PromptError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not installed")


@pytest.mark.parametrize("language", prompts.LANGUAGES)
def test_position_announcement_is_speech_at_8khz(language: str, tmp_path: Path) -> None:
    async def main() -> None:
        cache = prompts.PromptCache(tmp_path)
        text = prompts.position_phrase(language, 3, 5)
        path = await cache.speak_to_file(language, text)
        with wave.open(str(path), "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
        assert len(pcm) / 8000 > 2.0  # a whole sentence, not a beep
        assert np.sqrt(np.mean(pcm**2)) > 300
        clip = await cache.speak(language, text)
        assert cache.syntheses == 1  # the second request came from the cache
        assert len(clip.encoded("PCMA")) == len(pcm)
        # a different text in the same language is a different file
        other = await cache.announce_position(language, 4, 1)
        assert cache.syntheses == 2 and len(other.pcm) > 8000

    asyncio.run(main())


def test_without_sox_python_resampling_is_used(tmp_path: Path) -> None:
    async def main() -> None:
        cache = prompts.PromptCache(tmp_path, sox="")
        clip = await cache.speak("en", "Please hold.")
        assert clip.duration > 0.5 and np.abs(clip.pcm).max() > 1000

    asyncio.run(main())


def test_concurrent_requests_share_one_synthesis(tmp_path: Path) -> None:
    async def main() -> None:
        cache = prompts.PromptCache(tmp_path)
        clips = await asyncio.gather(*(cache.speak("lv", "Labdien!") for _ in range(5)))
        assert cache.syntheses == 1 and all(len(c.pcm) == len(clips[0].pcm) for c in clips)

    asyncio.run(main())


def test_a_burst_of_different_announcements_runs_few_syntheses_at_once(tmp_path: Path) -> None:
    """A full queue after a restart: every caller at another position, none cached yet."""
    running: list[int] = []

    class Watched(prompts.PromptCache):
        now = 0

        async def _synthesise_now(self, voice: str, text: str, path: Path) -> None:
            self.now += 1
            running.append(self.now)
            try:
                await super()._synthesise_now(voice, text, path)
            finally:
                self.now -= 1

    async def main() -> None:
        cache = Watched(tmp_path)
        cache.max_parallel = 2
        clips = await asyncio.gather(*(cache.announce_position("en", n, 2) for n in range(1, 9)))
        assert cache.syntheses == 8 and all(c.duration > 2.0 for c in clips)
        assert max(running) == 2  # queued behind two slots, and two did run side by side

    asyncio.run(main())


def test_bad_requests(tmp_path: Path) -> None:
    async def main() -> None:
        cache = prompts.PromptCache(tmp_path)
        with pytest.raises(PromptError):
            await cache.speak("xx", "hello")
        with pytest.raises(PromptError):
            await cache.speak("en", "   ")

    asyncio.run(main())
    with pytest.raises(PromptError):
        prompts.position_phrase("de", 1, 1)


def test_plural_forms() -> None:
    assert prompts.position_phrase("lv", 2, 21).endswith("21 minūte.")
    assert prompts.position_phrase("lv", 2, 11).endswith("11 minūtes.")
    assert prompts.position_phrase("lt", 2, 3).endswith("3 minutės.")
    assert prompts.position_phrase("lt", 2, 12).endswith("12 minučių.")
    assert prompts.position_phrase("lt", 2, 21).endswith("21 minutė.")
    assert prompts.position_phrase("et", 2, 1).endswith("1 minut.")
    assert prompts.position_phrase("en", 2, 0).endswith("less than one minute.")
    for language in prompts.LANGUAGES:
        assert all(language in phrases for phrases in prompts.PHRASES.values())
