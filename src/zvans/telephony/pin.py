"""PIN identification in the IVR (seed 004: "each client gets a personal PIN code").

An IVR definition turns it on with ``"pin": true`` or with options::

    "pin": {"max_attempts": 3, "priority_bonus_s": 60, "prompt": {"lv": "...", "en": "..."}}

After the menu choice the caller is asked for their PIN, ended by #; a lone # (or
silence) skips it. ``cc.verify_pin`` checks it against the customer of the calling number
(hashed PINs, set from the client card). A correct PIN marks the interaction identified and
the call enters its queue with ``priority_bonus_s`` (it is ordered as if it had arrived
that much earlier). A wrong PIN is asked again up to ``max_attempts`` (at most the
runtime's own limit of 3), then the call continues unidentified. Keys that are not digits
(A–D, *, sent by SIP INFO or RFC 4733) get "a PIN has digits only" and count as a try.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zvans.errors import InvalidInput
from zvans.runtime.contact_center import MAX_PIN_ATTEMPTS

if TYPE_CHECKING:
    from zvans.telephony.b2bua import InboundCall
    from zvans.telephony.features import CallFeatures
    from zvans.telephony.media import AudioClip

log = logging.getLogger(__name__)

DEFAULT_BONUS_S = 60.0
DIGIT_TIMEOUT_S = 6.0
MAX_KEYS = 16


@dataclass(frozen=True, slots=True)
class PinOptions:
    max_attempts: int = MAX_PIN_ATTEMPTS
    priority_bonus_s: float = DEFAULT_BONUS_S
    prompt: str = ""

    @classmethod
    def parse(cls, value: Any, language: str) -> PinOptions | None:
        """None when the IVR does not ask for a PIN; InvalidInput for a bad option."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if not isinstance(value, dict):
            raise InvalidInput("pin", "pin must be true or an object of options.")
        attempts = value.get("max_attempts", MAX_PIN_ATTEMPTS)
        bonus = value.get("priority_bonus_s", DEFAULT_BONUS_S)
        if not isinstance(attempts, int) or not 1 <= attempts <= MAX_PIN_ATTEMPTS:
            raise InvalidInput("pin", f"pin.max_attempts must be 1 to {MAX_PIN_ATTEMPTS}.")
        if not isinstance(bonus, int | float) or not 0 <= bonus <= 3600:
            raise InvalidInput("pin", "pin.priority_bonus_s must be 0 to 3600 seconds.")
        prompt = value.get("prompt") or ""
        if isinstance(prompt, dict):
            prompt = prompt.get(language) or prompt.get("en") or ""
        return cls(attempts, float(bonus), str(prompt))


class PinCheck:
    def __init__(self, features: CallFeatures) -> None:
        self.features = features
        self.b2bua = features.b2bua

    async def run(self, call: InboundCall, definition: dict[str, Any], language: str) -> float:
        """Ask for the PIN; the priority bonus (0 when not identified)."""
        try:
            options = PinOptions.parse(definition.get("pin"), language)
        except InvalidInput as exc:
            log.error("IVR PIN option ignored: %s", exc.message)
            return 0.0
        if options is None or call.iid is None:
            return 0.0
        b2bua = self.b2bua
        say = self.features.say
        if options.prompt:
            try:
                ask: AudioClip | None = await b2bua.prompts.speak(language, options.prompt)
            except Exception as exc:
                log.error("PIN prompt cannot be spoken: %s", exc)
                ask = await say("pin_ask", language)
        else:
            ask = await say("pin_ask", language)
        for attempt in range(options.max_attempts):
            keys = await self._collect(call, ask)
            if keys is None or call.leg.is_closed:
                return 0.0  # skipped (lone #, silence) or hung up
            if not keys.isdigit():
                log.info("call %s: PIN with non-digit keys (attempt %d)", call.iid, attempt + 1)
                b2bua.stats["pin_not_digits"] += 1
                await self._say(call, "pin_digits_only", language)
                continue
            ok = await b2bua._cc(b2bua.cc.verify_pin, call.org_id, call.iid, keys)
            if ok:
                b2bua.stats["pin_identified"] += 1
                await self._say(call, "pin_ok", language)
                return options.priority_bonus_s
            b2bua.stats["pin_wrong"] += 1
            await self._say(call, "pin_wrong", language)
        await self._say(call, "pin_give_up", language)
        return 0.0

    async def _collect(self, call: InboundCall, ask: AudioClip | None) -> str | None:
        """Keys up to # (the prompt stops at the first); None when nothing was entered."""
        media = self.b2bua.media
        playback = media.play(call.leg, ask) if ask is not None and not call.leg.is_closed \
            else None
        keys = ""
        try:
            while len(keys) < MAX_KEYS:
                wait = DIGIT_TIMEOUT_S + (ask.duration if ask is not None and not keys else 0)
                try:
                    key = await asyncio.wait_for(call.digits.get(), wait)
                except TimeoutError:
                    break
                if playback is not None:
                    media.stop(call.leg)
                    playback = None
                if key == "#":
                    break
                keys += key
        finally:
            if playback is not None and not call.leg.is_closed:
                media.stop(call.leg)
        return keys or None

    async def _say(self, call: InboundCall, key: str, language: str) -> None:
        clip = await self.features.say(key, language)
        if clip is not None and not call.leg.is_closed:
            await self.b2bua.media.play(call.leg, clip).wait()
