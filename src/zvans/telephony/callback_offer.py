"""The callback offer while queued (virtual hold, seeds 000 and 003).

When an ``Announce`` says the caller's estimated wait exceeds the queue's
``callback_offer_ewt_s``, the announcement is followed by "to be called back, press 1", and
the caller's digits are listened to while they wait. On 1 the caller confirms the number
they call from or enters another one (ended by #). A number that is not 6 to 15 digits gets
a spoken error and the caller stays in line. A good number → ``cc.callback_requested``
(the engine keeps the place, the runtime makes it durable), a thank-you, and the call ends
without an abandon. If an agent's phone starts ringing meanwhile, the dialog gives way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from zvans.core.acd import Announce
from zvans.telephony.features import spoken_digits
from zvans.telephony.queue_media import Mode, minutes_of

if TYPE_CHECKING:
    from zvans.telephony.b2bua import InboundCall
    from zvans.telephony.features import CallFeatures

log = logging.getLogger(__name__)

MIN_DIGITS = 6
MAX_DIGITS = 15
DIGIT_TIMEOUT_S = 8.0
#: how long the caller has to press 1 after the offer before digits are ignored again
#: (kept long: the offer is repeated with every announcement anyway)
LISTEN_POLL_S = 1.0


def callback_number(raw: str) -> str | None:
    """The entered number if it is 6 to 15 digits (an optional leading +), else None."""
    body = raw[1:] if raw.startswith("+") else raw
    if not body.isdigit() or not MIN_DIGITS <= len(body) <= MAX_DIGITS:
        return None
    return raw


class CallbackOffer:
    def __init__(self, features: CallFeatures) -> None:
        self.features = features
        self.b2bua = features.b2bua
        #: calls whose digits are being listened to / that are in the number dialog
        self.listening: set[InboundCall] = set()
        self.in_dialog: set[InboundCall] = set()

    def _queued(self, call: InboundCall) -> bool:
        from zvans.telephony.b2bua import Phase

        return call.phase is Phase.QUEUED and call.offer is None and not call.leg.is_closed

    def on_announce(self, call: InboundCall, decision: Announce) -> bool:
        if call in self.in_dialog:
            return True  # the caller is entering a number: no announcement over it
        queue = self.features.queue(call.queue.id if call.queue is not None else None)
        if queue is None or queue.callback_offer_ewt_s is None or call.audio is None:
            return False
        if decision.ewt_s <= queue.callback_offer_ewt_s or not self._queued(call) \
                or call.audio.mode in (Mode.RINGBACK, Mode.OFF) or call.iid is None:
            return False
        self.b2bua.spawn(self._announce_and_offer(call, decision, queue.language))
        if call not in self.listening:
            self.listening.add(call)
            self.b2bua.spawn(self._listen(call))
        return True

    async def _announce_and_offer(self, call: InboundCall, decision: Announce,
                                  language: str) -> None:
        audio = call.audio
        assert audio is not None
        audio.stop()
        audio.mode = Mode.ANNOUNCE
        clips = []
        try:
            clips.append(await self.b2bua.prompts.announce_position(
                language, decision.position, minutes_of(decision.ewt_s)))
        except Exception as exc:
            log.error("announcement in %s cannot be spoken: %s", language, exc)
        offer = await self.features.say("callback_offer", language)
        if offer is not None:
            clips.append(offer)
        if clips and audio.mode is Mode.ANNOUNCE and self._queued(call) \
                and call not in self.in_dialog:
            audio.announcements += 1
            await self.b2bua.media.play(call.leg, clips).wait()
        if audio.mode is Mode.ANNOUNCE and self._queued(call) and call not in self.in_dialog:
            audio.mode = Mode.OFF
            audio.music()

    async def _listen(self, call: InboundCall) -> None:
        """Digits pressed while queued; bounded by the call's stay in the queue."""
        from zvans.telephony.b2bua import Phase

        try:
            while call.phase is Phase.QUEUED and not call.leg.is_closed:
                try:
                    digit = await asyncio.wait_for(call.digits.get(), LISTEN_POLL_S)
                except TimeoutError:
                    continue
                if digit == "1" and self._queued(call):
                    await self._dialog(call)
        finally:
            self.listening.discard(call)

    async def _collect(self, call: InboundCall, clip: object, *, until_hash: bool,
                       max_len: int = 1) -> str | None:
        """Play ``clip`` (a digit interrupts it), then read one digit or digits up to #."""
        from zvans.telephony.b2bua import Phase

        media = self.b2bua.media
        digits = ""
        playback = media.play(call.leg, clip) if clip is not None else None  # type: ignore[arg-type]
        try:
            while len(digits) < max_len:
                try:
                    digit = await asyncio.wait_for(call.digits.get(), DIGIT_TIMEOUT_S
                                                   + (_length(clip) if not digits else 0))
                except TimeoutError:
                    return digits or None
                if playback is not None:
                    media.stop(call.leg)
                    playback = None
                if call.phase is not Phase.QUEUED:
                    return None
                if until_hash and digit == "#":
                    return digits
                digits += digit
                if not until_hash:
                    return digits
            return digits
        finally:
            if playback is not None and not call.leg.is_closed:
                media.stop(call.leg)

    async def _dialog(self, call: InboundCall) -> None:
        from zvans.telephony.b2bua import Phase

        queue = self.features.queue(call.queue.id if call.queue is not None else None)
        language = queue.language if queue is not None else "en"
        audio = call.audio
        assert audio is not None and call.iid is not None
        self.in_dialog.add(call)
        self.b2bua.stats["callback_dialogs"] += 1
        try:
            audio.stop()
            number = None
            own = callback_number(call.caller)
            if own is not None:
                clip = await self.features.say("callback_confirm", language,
                                               number=spoken_digits(own))
                choice = await self._collect(call, clip, until_hash=False)
                if choice == "1":
                    number = own
                elif choice != "2":
                    return  # no answer: back to the music
            if not self._queued(call):
                return
            if number is None:
                clip = await self.features.say("callback_enter", language)
                entered = await self._collect(call, clip, until_hash=True, max_len=24)
                if not self._queued(call):
                    return
                number = callback_number(entered or "")
                if number is None:
                    log.info("call %s: callback number %r refused", call.iid, entered)
                    self.b2bua.stats["callback_bad_number"] += 1
                    await self._say(call, "callback_bad_number", language)
                    return
            ok = await self.b2bua._do(self.b2bua.cc.callback_requested, call.org_id, call.iid,
                                      number)
            if not ok:
                if self._queued(call):
                    await self._say(call, "callback_refused", language)
                return
            call.phase = Phase.CALLBACK
            self.b2bua.stats["callbacks_requested"] += 1
            await self._say(call, "callback_thanks", language)
            await self.b2bua._caller_done(call, "callback-requested")
        finally:
            self.in_dialog.discard(call)
            if self._queued(call) and audio.mode is not Mode.RINGBACK:
                audio.mode = Mode.OFF
                audio.music()

    async def _say(self, call: InboundCall, key: str, language: str) -> None:
        clip = await self.features.say(key, language)
        if clip is not None and not call.leg.is_closed:
            await self.b2bua.media.play(call.leg, clip).wait()


def _length(clip: object) -> float:
    seconds = getattr(clip, "duration", None)
    return float(seconds) if isinstance(seconds, int | float) else 0.0
