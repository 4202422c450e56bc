"""The IVR: an organisation's menu described as data, and the runner that plays it.

A definition (the ``ivr.definition`` JSON) looks like::

    {"greeting": {"lv": "Labdien! ...", "en": "Hello! ..."},
     "menu": {"lv": "Latviešu valodā spiediet 1. ..."},
     "options": {"1": {"queue_id": 3, "topic": "lv"}, "2": {"queue_id": 4, "topic": "en"}},
     "timeout_s": 6, "max_attempts": 3,
     "invalid": {"lv": "..."},                 # optional: a default text exists per language
     "on_fail": {"queue_id": 3}}               # or {"hangup": true}

Texts are spoken with espeak-ng in the IVR's language (cached); a text may also be a path
to an uploaded 8 kHz WAV (``{"lv": {"wav": "/path/greeting.wav"}}``). Keys are single DTMF
digits. The runner allows barge-in: a digit pressed during a prompt stops it and counts.
It is re-read from the database for every call, so an edited menu applies to the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from zvans.errors import InvalidInput
from zvans.telephony.media import AudioClip, MediaEngine, MediaLeg, PromptCache, load_prompt
from zvans.telephony.media.prompts import PHRASES

log = logging.getLogger(__name__)

DIGITS = "0123456789*#ABCD"


@dataclass(frozen=True, slots=True)
class IvrOption:
    digit: str
    queue_id: int
    topic: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """Text to speak, or an uploaded WAV to play."""

    text: str = ""
    wav: str = ""

    def __bool__(self) -> bool:
        return bool(self.text or self.wav)


@dataclass(frozen=True, slots=True)
class IvrDefinition:
    language: str
    greeting: Prompt
    menu: Prompt
    invalid: Prompt
    goodbye: Prompt
    options: dict[str, IvrOption] = field(default_factory=dict)
    timeout_s: float = 6.0
    max_attempts: int = 3
    on_fail_queue: int | None = None

    @classmethod
    def parse(cls, data: dict[str, Any], language: str) -> IvrDefinition:
        """Validate a stored definition; raises InvalidInput naming the bad field."""
        if not isinstance(data, dict):
            raise InvalidInput("definition", "The IVR definition must be an object.")
        options: dict[str, IvrOption] = {}
        raw_options = data.get("options") or {}
        if not isinstance(raw_options, dict):
            raise InvalidInput("options", "Options must map a digit to a queue.")
        for digit, spec in raw_options.items():
            if len(str(digit)) != 1 or str(digit) not in DIGITS:
                raise InvalidInput("options", f"{digit!r} is not a single DTMF digit.")
            if not isinstance(spec, dict) or not isinstance(spec.get("queue_id"), int):
                raise InvalidInput("options", f"Option {digit} needs a queue_id.")
            options[str(digit)] = IvrOption(str(digit), spec["queue_id"],
                                            str(spec.get("topic") or digit))
        timeout = data.get("timeout_s", 6)
        attempts = data.get("max_attempts", 3)
        if not isinstance(timeout, int | float) or not 1 <= timeout <= 60:
            raise InvalidInput("timeout_s", "The timeout must be 1 to 60 seconds.")
        if not isinstance(attempts, int) or not 1 <= attempts <= 10:
            raise InvalidInput("max_attempts", "Attempts must be 1 to 10.")
        on_fail = data.get("on_fail") or {}
        fail_queue = on_fail.get("queue_id") if isinstance(on_fail, dict) else None
        if fail_queue is not None and not isinstance(fail_queue, int):
            raise InvalidInput("on_fail", "on_fail.queue_id must be a queue id.")
        return cls(
            language=language,
            greeting=_prompt(data.get("greeting"), language, None),
            menu=_prompt(data.get("menu"), language, None),
            invalid=_prompt(data.get("invalid"), language, PHRASES["invalid_choice"]),
            goodbye=_prompt(data.get("goodbye"), language, PHRASES["goodbye"]),
            options=options,
            timeout_s=float(timeout),
            max_attempts=attempts,
            on_fail_queue=fail_queue,
        )


def _prompt(value: Any, language: str, default: dict[str, str] | None) -> Prompt:
    """The prompt in ``language``, else English, else the first one written."""
    if value is None or value == "" or value == {}:
        if default is None:
            return Prompt()
        return Prompt(text=default.get(language) or default["en"])
    if isinstance(value, str):
        return Prompt(text=value)
    if isinstance(value, dict):
        if "wav" in value or "text" in value:
            return Prompt(text=str(value.get("text") or ""), wav=str(value.get("wav") or ""))
        chosen = value.get(language) or value.get("en") or next(iter(value.values()), "")
        return _prompt(chosen, language, default)
    raise InvalidInput("definition", f"A prompt must be text or a WAV reference, not {value!r}.")


@dataclass(frozen=True, slots=True)
class IvrResult:
    """What the caller chose: ``option`` None with ``failed`` when they never chose."""

    option: IvrOption | None
    choice: str
    failed: bool = False


class IvrRunner:
    """Plays one definition to one caller leg and collects their choice."""

    def __init__(self, media: MediaEngine, prompts: PromptCache, leg: MediaLeg,
                 digits: asyncio.Queue[str]) -> None:
        self.media = media
        self.prompts = prompts
        self.leg = leg
        self.digits = digits

    async def clip(self, prompt: Prompt, language: str) -> AudioClip | None:
        try:
            if prompt.wav:
                return await asyncio.to_thread(load_prompt, prompt.wav)
            if prompt.text:
                return await self.prompts.speak(language, prompt.text)
        except Exception as exc:  # a broken prompt must not drop the call
            log.error("IVR prompt %r cannot be played: %s", prompt, exc)
        return None

    async def play(self, clip: AudioClip | None, *, interruptible: bool = True) -> str | None:
        """Play a clip; with barge-in the first digit stops it and is returned."""
        if clip is None:
            return None
        if interruptible and not self.digits.empty():
            return self.digits.get_nowait()
        playback = self.media.play(self.leg, clip)
        if not interruptible:
            await playback.wait()
            return None
        getter = asyncio.ensure_future(self.digits.get())
        waiter = asyncio.ensure_future(playback.wait())
        try:
            done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
        if getter in done and not getter.cancelled():
            self.media.stop(self.leg)
            return getter.result()
        return None

    async def wait_digit(self, timeout: float) -> str | None:
        try:
            return await asyncio.wait_for(self.digits.get(), timeout)
        except TimeoutError:
            return None

    async def run(self, d: IvrDefinition) -> IvrResult:
        lang = d.language
        greeting, menu, invalid = await asyncio.gather(
            self.clip(d.greeting, lang), self.clip(d.menu, lang), self.clip(d.invalid, lang))
        digit = await self.play(greeting)
        last = ""
        for attempt in range(d.max_attempts):
            if digit is None:
                digit = await self.play(menu)
            if digit is None:
                digit = await self.wait_digit(d.timeout_s)
            if digit is not None:
                last = digit
                option = d.options.get(digit)
                if option is not None:
                    return IvrResult(option, digit)
                log.info("IVR: invalid choice %r (attempt %d)", digit, attempt + 1)
            if attempt + 1 < d.max_attempts:
                digit = await self.play(invalid) if digit is not None else None
        return IvrResult(None, last, failed=True)
