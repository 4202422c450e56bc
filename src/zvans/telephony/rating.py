"""Post-call rating (seed 000: "average call rating 4.6 on a 5-point scale").

If the queue has ``rating_enabled`` and the AGENT hangs up first, the caller is not hung
up: the call is reported ended (the agent goes to wrap-up at once), the bridge is taken
down and the caller hears "rate this call from 1 to 5" in the queue's language. A digit
1–5 → ``cc.rate`` (stored on the interaction, ``rated`` event) and a thank-you; another
digit or silence → asked once more; then the call ends either way. When the caller hangs
up first there is nobody to ask (as in every contact center that does this).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zvans.telephony.b2bua import InboundCall
    from zvans.telephony.features import CallFeatures
    from zvans.telephony.media import AudioClip

log = logging.getLogger(__name__)

WAIT_S = 8.0
ATTEMPTS = 2


class Rating:
    def __init__(self, features: CallFeatures) -> None:
        self.features = features
        self.b2bua = features.b2bua

    def on_agent_hangup(self, call: InboundCall, reason: str) -> bool:
        from zvans.telephony.b2bua import Phase

        queue = self.features.queue(call.queue.id if call.queue is not None else None)
        if queue is None or not queue.rating_enabled or call.phase is not Phase.CONNECTED \
                or call.iid is None or call.leg.is_closed or call.sip.is_ended:
            return False
        call.phase = Phase.RATING
        self.b2bua.spawn(self._run(call, queue.language))
        return True

    async def _run(self, call: InboundCall, language: str) -> None:
        b2bua = self.b2bua
        media = b2bua.media
        assert call.iid is not None
        if call.leg.peer is not None:
            media.unbridge(call.leg)
        await b2bua._do(b2bua.cc.call_ended, call.org_id, call.iid)
        b2bua.stats["rating_asked"] += 1
        while not call.digits.empty():  # what was pressed while talking does not count
            call.digits.get_nowait()
        ask = await self.features.say("rating_ask", language)
        again = await self.features.say("rating_invalid", language)
        rating = None
        for attempt in range(ATTEMPTS):
            if call.leg.is_closed:
                return
            clips = [c for c in ((again, ask) if attempt else (ask,)) if c is not None]
            digit = await self._ask(call, clips)
            if digit is not None and digit in "12345" and len(digit) == 1:
                rating = int(digit)
                break
            log.info("call %s: rating digit %r not accepted (attempt %d)", call.iid, digit,
                     attempt + 1)
        if rating is not None:
            if await b2bua._do(b2bua.cc.rate, call.org_id, call.iid, rating):
                b2bua.stats["rated"] += 1
            thanks = await self.features.say("rating_thanks", language)
            if thanks is not None and not call.leg.is_closed:
                await media.play(call.leg, thanks).wait()
        await b2bua._caller_done(call, "rated" if rating is not None else "not-rated")

    async def _ask(self, call: InboundCall, clips: list[AudioClip]) -> str | None:
        """Play the question (a digit interrupts it) and wait for one digit."""
        media = self.b2bua.media
        if call.leg.is_closed:
            return None
        playback = media.play(call.leg, clips) if clips else None
        length = sum(c.duration for c in clips)
        try:
            return await asyncio.wait_for(call.digits.get(), length + WAIT_S)
        except TimeoutError:
            return None
        finally:
            if playback is not None and not call.leg.is_closed:
                media.stop(call.leg)
