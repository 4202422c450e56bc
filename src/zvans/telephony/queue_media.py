"""What a waiting caller hears: music on hold, position/wait announcements, ringback.

One :class:`QueueAudio` per caller leg. The ACD's ``Announce`` decisions interrupt the
music with a spoken sentence in the queue's language, after which the music starts again;
when an agent's phone rings (180) the caller hears the European ringback tone (425 Hz,
1 s on, 4 s off) instead, and back to music if that agent does not answer.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import math

import numpy as np

from zvans.telephony.media import AudioClip, MediaEngine, MediaLeg, PromptCache
from zvans.telephony.media.audio import silence, tone

log = logging.getLogger(__name__)

#: Sentences besides the media package's PHRASES, in the same four languages.
TEXTS: dict[str, dict[str, str]] = {
    "voicemail": {
        "lv": "Visi konsultanti pašlaik ir aizņemti. Pēc signāla lūdzu atstājiet ziņu.",
        "lt": "Visi konsultantai šiuo metu užimti. Po signalo palikite žinutę.",
        "et": "Kõik konsultandid on praegu hõivatud. Palun jätke pärast signaali sõnum.",
        "en": "All our agents are busy. Please leave a message after the tone.",
    },
}


@functools.cache
def ringback() -> AudioClip:
    return AudioClip(np.concatenate([tone(425, 1.0, amplitude=0.25), silence(4.0)]), "ringback")


@functools.cache
def beep() -> AudioClip:
    return AudioClip(np.concatenate([tone(1000, 0.4, amplitude=0.3), silence(0.1)]), "beep")


def minutes_of(ewt_s: float) -> int:
    """Whole minutes to announce; under a minute is announced as 'less than one minute'."""
    if not math.isfinite(ewt_s) or ewt_s < 60:
        return 0
    return round(ewt_s / 60)


class Mode(enum.Enum):
    OFF = "off"
    MUSIC = "music"
    ANNOUNCE = "announce"
    RINGBACK = "ringback"


class QueueAudio:
    def __init__(self, media: MediaEngine, prompts: PromptCache, leg: MediaLeg,
                 music: AudioClip, language: str) -> None:
        self.media = media
        self.prompts = prompts
        self.leg = leg
        self.music_clip = music
        self.language = language
        self.mode = Mode.OFF
        self._task: asyncio.Task[None] | None = None
        self.announcements = 0

    def music(self) -> None:
        if self.mode is Mode.MUSIC or self.leg.is_closed:
            return
        self._cancel_task()
        self.mode = Mode.MUSIC
        self.media.play(self.leg, self.music_clip, loop=True)

    def ringback(self) -> None:
        if self.mode is Mode.RINGBACK or self.leg.is_closed:
            return
        self._cancel_task()
        self.mode = Mode.RINGBACK
        self.media.play(self.leg, ringback(), loop=True)

    def announce(self, position: int, ewt_s: float) -> None:
        """Speak position and wait, then music again (skipped while an agent's phone rings)."""
        if self.mode in (Mode.RINGBACK, Mode.OFF) or self.leg.is_closed:
            return
        self._cancel_task()
        self.mode = Mode.ANNOUNCE
        self._task = asyncio.get_running_loop().create_task(
            self._announce(position, minutes_of(ewt_s)))

    async def _announce(self, position: int, minutes: int) -> None:
        try:
            clip = await self.prompts.announce_position(self.language, position, minutes)
        except Exception as exc:
            log.error("announcement in %s cannot be spoken: %s", self.language, exc)
            clip = None
        if clip is not None and self.mode is Mode.ANNOUNCE and not self.leg.is_closed:
            self.announcements += 1
            await self.media.play(self.leg, clip).wait()
        if self.mode is Mode.ANNOUNCE:
            self.mode = Mode.OFF
            self.music()

    async def say(self, clip: AudioClip) -> None:
        """Play one clip to the end (voicemail greeting, goodbye); stops music first."""
        self.stop()
        if not self.leg.is_closed:
            await self.media.play(self.leg, clip).wait()

    def _cancel_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def stop(self) -> None:
        self._cancel_task()
        self.mode = Mode.OFF
        if not self.leg.is_closed:
            self.media.stop(self.leg)
