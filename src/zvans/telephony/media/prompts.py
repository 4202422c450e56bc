"""Spoken prompts: text → espeak-ng → 8 kHz mono 16-bit WAV, cached on disk.

The cache key is a hash of (voice, speed, text), so an IVR edited at run time gets new audio
the first time the new text is played and the old files simply stop being used. Generation
runs in a subprocess (``asyncio.create_subprocess_exec``) and never blocks the event loop;
concurrent requests for the same prompt share one synthesis.

Position/wait announcements are built from whole sentences per language, with the number
spoken by espeak-ng in that language. The number is never followed by a full stop: Latvian,
Lithuanian and Estonian write ordinals as "3.", which espeak would read as "third".
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import wave
from pathlib import Path

import numpy as np

from .audio import RATE, AudioClip, read_wav, write_wav
from .errors import PromptError

LANGUAGES = ("lv", "lt", "et", "en")
VOICES = {"lv": "lv", "lt": "lt", "et": "et", "en": "en"}


def _minutes_lv(m: int) -> str:
    return "minūte" if m % 10 == 1 and m % 100 != 11 else "minūtes"


def _minutes_lt(m: int) -> str:
    if m % 10 == 1 and m % 100 != 11:
        return "minutė"
    if 2 <= m % 10 <= 9 and not 12 <= m % 100 <= 19:
        return "minutės"
    return "minučių"


def _minutes_et(m: int) -> str:
    return "minut" if m == 1 else "minutit"


def _minutes_en(m: int) -> str:
    return "minute" if m == 1 else "minutes"


def position_phrase(language: str, position: int, minutes: int) -> str:
    """'Your position in the queue is N, estimated waiting time M minutes' in one language."""
    if language not in LANGUAGES:
        raise PromptError(f"no announcement texts for language {language!r}",
                          code="unknown-language", language=language)
    if language == "lv":
        wait = (f"{minutes} {_minutes_lv(minutes)}" if minutes > 0
                else "mazāk nekā viena minūte")
        return f"Jūsu kārtas numurs rindā ir {position}, paredzamais gaidīšanas laiks ir {wait}."
    if language == "lt":
        wait = f"{minutes} {_minutes_lt(minutes)}" if minutes > 0 else "mažiau nei viena minutė"
        return f"Jūsų eilės numeris yra {position}, numatomas laukimo laikas yra {wait}."
    if language == "et":
        wait = f"{minutes} {_minutes_et(minutes)}" if minutes > 0 else "vähem kui üks minut"
        return f"Teie järjekorranumber on {position}, eeldatav ooteaeg on {wait}."
    wait = f"{minutes} {_minutes_en(minutes)}" if minutes > 0 else "less than one minute"
    return f"Your position in the queue is {position}, the estimated waiting time is {wait}."


#: Default texts the IVR can use until an organisation writes its own.
PHRASES: dict[str, dict[str, str]] = {
    "greeting": {
        "lv": "Labdien! Jūs esat sazvanījis klientu atbalsta centru.",
        "lt": "Laba diena! Jūs paskambinote į klientų aptarnavimo centrą.",
        "et": "Tere! Te helistasite klienditoe keskusesse.",
        "en": "Hello, you have reached the customer support centre.",
    },
    "please_hold": {
        "lv": "Lūdzu, uzgaidiet, jūs tiksiet savienots ar pirmo brīvo konsultantu.",
        "lt": "Prašome palaukti, jus sujungsime su pirmu laisvu konsultantu.",
        "et": "Palun oodake, teid ühendatakse esimese vaba konsultandiga.",
        "en": "Please hold, you will be connected to the first available agent.",
    },
    "invalid_choice": {
        "lv": "Nepareiza izvēle. Lūdzu, mēģiniet vēlreiz.",
        "lt": "Neteisingas pasirinkimas. Prašome bandyti dar kartą.",
        "et": "Vale valik. Palun proovige uuesti.",
        "en": "That is not a valid choice. Please try again.",
    },
    "out_of_hours": {
        "lv": "Šobrīd darba laiks ir beidzies. Pēc signāla lūdzu atstājiet ziņu.",
        "lt": "Šiuo metu nedirbame. Po signalo palikite žinutę.",
        "et": "Praegu on tööaeg lõppenud. Palun jätke pärast signaali sõnum.",
        "en": "We are closed at the moment. Please leave a message after the tone.",
    },
    "goodbye": {
        "lv": "Paldies par zvanu. Uz redzēšanos!",
        "lt": "Ačiū, kad paskambinote. Viso gero!",
        "et": "Aitäh helistamast. Head aega!",
        "en": "Thank you for calling. Goodbye!",
    },
}


def _resample(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Fallback when sox is absent: windowed-sinc low-pass at 3.6 kHz, then interpolation."""
    x = pcm.astype(np.float64)
    if rate > RATE:
        taps = 101
        cutoff = 3600 / rate
        n = np.arange(taps) - (taps - 1) / 2
        h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(taps)
        x = np.convolve(x, h / h.sum(), mode="same")
    out_len = int(len(x) * RATE / rate)
    positions = np.arange(out_len) * (rate / RATE)
    y = np.interp(positions, np.arange(len(x)), x)
    out: np.ndarray = np.clip(np.round(y), -32768, 32767).astype(np.int16)
    return out


class PromptCache:
    """Synthesises and caches prompts under ``directory``."""

    def __init__(self, directory: str | os.PathLike[str], espeak: str | None = None,
                 sox: str | None = None, speed: int = 150) -> None:
        self.directory = Path(directory)
        self.espeak = espeak or shutil.which("espeak-ng")
        self.sox = sox if sox is not None else shutil.which("sox")
        self.speed = speed
        self._memory: dict[Path, AudioClip] = {}
        self._pending: dict[Path, asyncio.Future[Path]] = {}
        self.syntheses = 0
        #: syntheses running at once: a burst of uncached announcements (a full queue, each
        #: caller at another position) must not fork a process per caller from the event loop
        self.max_parallel = max(1, (os.cpu_count() or 1) // 2)
        self._slots: asyncio.Semaphore | None = None

    def path_for(self, language: str, text: str) -> Path:
        voice = VOICES.get(language, language)
        key = hashlib.sha256(f"{voice}\0{self.speed}\0{text}".encode()).hexdigest()[:32]
        return self.directory / f"{voice}-{key}.wav"

    async def speak(self, language: str, text: str) -> AudioClip:
        """The prompt as a playable clip (from memory, disk, or freshly synthesised)."""
        path = await self.speak_to_file(language, text)
        clip = self._memory.get(path)
        if clip is None:
            clip = read_wav(path)
            if len(self._memory) > 512:
                self._memory.clear()
            self._memory[path] = clip
        return clip

    async def speak_to_file(self, language: str, text: str) -> Path:
        if language not in VOICES:
            raise PromptError(f"no voice for language {language!r}", code="unknown-language",
                              language=language)
        if not text.strip():
            raise PromptError("empty prompt text", code="empty-prompt")
        path = self.path_for(language, text)
        if path.exists():
            return path
        pending = self._pending.get(path)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._pending[path] = future
        try:
            await self._synthesise(VOICES[language], text, path)
            future.set_result(path)
            return path
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            del self._pending[path]

    async def announce_position(self, language: str, position: int, minutes: int) -> AudioClip:
        return await self.speak(language, position_phrase(language, position, minutes))

    async def _synthesise(self, voice: str, text: str, path: Path) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_parallel)
        async with self._slots:
            await self._synthesise_now(voice, text, path)
        self.syntheses += 1

    async def _synthesise_now(self, voice: str, text: str, path: Path) -> None:
        if self.espeak is None:
            raise PromptError("espeak-ng is not installed", code="no-tts")
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.directory) as tmp:
            raw = Path(tmp) / "raw.wav"
            await self._run(self.espeak, "-v", voice, "-s", str(self.speed), "-w", str(raw),
                            "--", text)
            out = Path(tmp) / "out.wav"
            if self.sox:
                await self._run(self.sox, "-V1", str(raw), "-r", str(RATE), "-c", "1", "-b",
                                "16", "-e", "signed-integer", str(out))
            else:
                with wave.open(str(raw), "rb") as w:
                    pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
                    rate = w.getframerate()
                write_wav(out, _resample(pcm, rate))
            read_wav(out)  # refuse to cache anything we could not play
            os.replace(out, path)

    @staticmethod
    async def _run(*argv: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise PromptError(f"{Path(argv[0]).name} timed out", code="tts-timeout") from None
        if proc.returncode != 0:
            raise PromptError(f"{Path(argv[0]).name} failed: {err.decode(errors='replace')[-300:]}",
                              code="tts-failed")
