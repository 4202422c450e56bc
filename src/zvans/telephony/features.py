"""Call features around the B2BUA (issue 7): the hub the B2BUA's hooks call.

The B2BUA (``b2bua.py``) owns the caller's leg; this module adds what happens around it
without changing its flow: the callback offer while queued (:mod:`callback_offer`), the
post-call rating when the agent hangs up (:mod:`rating`), PIN identification in the IVR
(:mod:`pin`) and the calls Zvans places itself — callbacks and click-to-call
(:mod:`outbound`). The B2BUA calls :class:`CallFeatures` at four points: an ``Announce``
decision, a ``StartCallback`` decision, the agent hanging up, and the end of the IVR.

Queue settings the hooks need synchronously (rating on, callback threshold) are kept in
memory and refreshed every few seconds, so an admin's change applies within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from zvans.core.acd import Announce, StartCallback
from zvans.store.models import Queue
from zvans.telephony.media import AudioClip

if TYPE_CHECKING:
    from zvans.telephony.b2bua import B2bua, InboundCall
    from zvans.telephony.directory import IvrRow

log = logging.getLogger(__name__)

REFRESH_S = 5.0

#: Sentences of the features, per language (espeak-ng voices lv, lt, et, en).
TEXTS: dict[str, dict[str, str]] = {
    "callback_offer": {
        "lv": "Ja vēlaties, lai jums atzvana, spiediet 1.",
        "lt": "Jei norite, kad jums paskambintume, spauskite 1.",
        "et": "Kui soovite tagasihelistamist, vajutage 1.",
        "en": "To be called back instead of waiting, press 1.",
    },
    "callback_confirm": {
        "lv": "Mēs jums atzvanīsim uz numuru {number}. Lai apstiprinātu, spiediet 1. "
              "Lai ievadītu citu numuru, spiediet 2.",
        "lt": "Paskambinsime numeriu {number}. Norėdami patvirtinti, spauskite 1. "
              "Norėdami įvesti kitą numerį, spauskite 2.",
        "et": "Helistame teile numbril {number}. Kinnitamiseks vajutage 1. "
              "Muu numbri sisestamiseks vajutage 2.",
        "en": "We will call you back on {number}. To confirm, press 1. "
              "To enter another number, press 2.",
    },
    "callback_enter": {
        "lv": "Lūdzu, ievadiet tālruņa numuru un nospiediet restīti.",
        "lt": "Įveskite telefono numerį ir paspauskite grotelių klavišą.",
        "et": "Palun sisestage telefoninumber ja vajutage trellide klahvi.",
        "en": "Please enter your phone number, then press the hash key.",
    },
    "callback_bad_number": {
        "lv": "Šis numurs nav derīgs. Numurā jābūt no sešiem līdz piecpadsmit cipariem. "
              "Jūs joprojām esat rindā.",
        "lt": "Šis numeris netinkamas. Numeris turi turėti nuo šešių iki penkiolikos "
              "skaitmenų. Jūs vis dar eilėje.",
        "et": "See number ei sobi. Numbris peab olema kuus kuni viisteist numbrit. "
              "Te olete endiselt järjekorras.",
        "en": "That number is not valid. A phone number has six to fifteen digits. "
              "You are still in the queue.",
    },
    "callback_refused": {
        "lv": "Atvainojiet, atzvanu nevarēja pieteikt. Jūs joprojām esat rindā.",
        "lt": "Atsiprašome, skambučio atgal užsakyti nepavyko. Jūs vis dar eilėje.",
        "et": "Vabandust, tagasihelistamist ei õnnestunud tellida. Te olete endiselt järjekorras.",
        "en": "Sorry, the callback could not be booked. You are still in the queue.",
    },
    "callback_thanks": {
        "lv": "Paldies. Jūsu vieta rindā ir saglabāta, un mēs jums atzvanīsim. Uz redzēšanos.",
        "lt": "Ačiū. Jūsų vieta eilėje išsaugota, mes jums paskambinsime. Viso gero.",
        "et": "Aitäh. Teie koht järjekorras on hoitud ja me helistame teile. Head aega.",
        "en": "Thank you. Your place in the queue is kept and we will call you back. "
              "Goodbye.",
    },
    "rating_ask": {
        "lv": "Lūdzu, novērtējiet sarunu no viena līdz pieci, nospiežot atbilstošo ciparu.",
        "lt": "Įvertinkite pokalbį nuo vieno iki penkių, paspausdami atitinkamą skaitmenį.",
        "et": "Palun hinnake vestlust ühest viieni, vajutades vastavat numbrit.",
        "en": "Please rate this call from one to five by pressing a digit.",
    },
    "rating_invalid": {
        "lv": "Lūdzu, spiediet ciparu no viena līdz pieci.",
        "lt": "Paspauskite skaitmenį nuo vieno iki penkių.",
        "et": "Palun vajutage number ühest viieni.",
        "en": "Please press a digit from one to five.",
    },
    "rating_thanks": {
        "lv": "Paldies par novērtējumu. Uz redzēšanos.",
        "lt": "Ačiū už įvertinimą. Viso gero.",
        "et": "Aitäh hinnangu eest. Head aega.",
        "en": "Thank you for your rating. Goodbye.",
    },
    "pin_ask": {
        "lv": "Ja jums ir klienta PIN kods, ievadiet to un nospiediet restīti. "
              "Ja nav, nospiediet restīti.",
        "lt": "Jei turite kliento PIN kodą, įveskite jį ir paspauskite grotelių klavišą. "
              "Jei ne, paspauskite grotelių klavišą.",
        "et": "Kui teil on kliendi PIN-kood, sisestage see ja vajutage trellide klahvi. "
              "Kui ei, vajutage trellide klahvi.",
        "en": "If you have a customer PIN, enter it and press the hash key. "
              "If not, press the hash key.",
    },
    "pin_ok": {
        "lv": "Paldies, jūs esat identificēts.",
        "lt": "Ačiū, jūs atpažintas.",
        "et": "Aitäh, teid on tuvastatud.",
        "en": "Thank you, you are identified.",
    },
    "pin_wrong": {
        "lv": "PIN kods nav pareizs.",
        "lt": "PIN kodas neteisingas.",
        "et": "PIN-kood ei ole õige.",
        "en": "That PIN is not correct.",
    },
    "pin_digits_only": {
        "lv": "PIN kodā var būt tikai cipari.",
        "lt": "PIN kode gali būti tik skaitmenys.",
        "et": "PIN-koodis võivad olla ainult numbrid.",
        "en": "A PIN has digits only.",
    },
    "pin_give_up": {
        "lv": "Jūs savienosim bez identifikācijas.",
        "lt": "Sujungsime jus be atpažinimo.",
        "et": "Ühendame teid ilma tuvastamiseta.",
        "en": "We will connect you without identification.",
    },
}


def text(key: str, language: str, **values: str) -> tuple[str, str]:
    """(voice language, sentence) for a feature text; English when the language has none."""
    texts = TEXTS[key]
    lang = language if language in texts else "en"
    return lang, texts[lang].format(**values)


def spoken_digits(number: str) -> str:
    """'+37129000001' -> '+ 3 7 1 2 9 ...': espeak reads each digit, not one big number."""
    return " ".join(number)


@dataclass(frozen=True, slots=True)
class QueueFeatures:
    id: int
    language: str
    rating_enabled: bool
    callback_offer_ewt_s: int | None
    ring_timeout_s: int
    caller_id: str
    record_calls: bool
    name: str


class CallFeatures:
    """Created by ``start_telephony`` and set as ``b2bua.features``."""

    def __init__(self, b2bua: B2bua) -> None:
        from zvans.telephony.callback_offer import CallbackOffer
        from zvans.telephony.outbound import Outbound
        from zvans.telephony.pin import PinCheck
        from zvans.telephony.rating import Rating

        self.b2bua = b2bua
        self.queues: dict[int, QueueFeatures] = {}
        self.callback_offer = CallbackOffer(self)
        self.rating = Rating(self)
        self.pin = PinCheck(self)
        self.outbound = Outbound(self)
        self._refresher: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.refresh()
        self._refresher = asyncio.get_running_loop().create_task(
            self._refresh_loop(), name="zvans-features-refresh")

    async def stop(self) -> None:
        await self.outbound.close()
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("cannot refresh queue features: %s", exc)

    async def refresh(self) -> None:
        self.queues = await asyncio.to_thread(self._load_queues)

    def _load_queues(self) -> dict[int, QueueFeatures]:
        with self.b2bua.directory.z.sessions() as session:
            return {q.id: QueueFeatures(q.id, q.language, bool(q.rating_enabled),
                                        q.callback_offer_ewt_s, q.ring_timeout_s,
                                        q.caller_id or "", bool(q.record_calls), q.name)
                    for q in session.scalars(select(Queue))}

    def queue(self, queue_id: int | None) -> QueueFeatures | None:
        return self.queues.get(queue_id) if queue_id is not None else None

    # --- shared helpers -------------------------------------------------------------------
    async def say(self, key: str, language: str, **values: str) -> AudioClip | None:
        """A feature sentence as a clip; None (logged) when it cannot be synthesised."""
        lang, sentence = text(key, language, **values)
        try:
            return await self.b2bua.prompts.speak(lang, sentence)
        except Exception as exc:  # a missing voice must not drop the call
            log.error("feature prompt %s in %s cannot be spoken: %s", key, lang, exc)
            return None

    # --- the B2BUA's hooks ----------------------------------------------------------------
    def on_announce(self, call: InboundCall, decision: Announce) -> bool:
        """True when the callback offer took over this announcement."""
        return self.callback_offer.on_announce(call, decision)

    def on_start_callback(self, org_id: int, decision: StartCallback) -> None:
        self.b2bua.spawn(self.outbound.callback(org_id, decision))

    def on_agent_hangup(self, call: InboundCall, reason: str) -> bool:
        """True when the caller is kept on the line (post-call rating)."""
        return self.rating.on_agent_hangup(call, reason)

    async def identify(self, call: InboundCall, ivr: IvrRow | None, language: str) -> float:
        """PIN identification at the end of the IVR; the priority bonus in seconds."""
        if ivr is None:
            return 0.0
        return await self.pin.run(call, ivr.definition, language)


def attach_features(b2bua: B2bua) -> CallFeatures:
    features = CallFeatures(b2bua)
    b2bua.features = features
    return features


def features_of(b2bua: Any) -> CallFeatures | None:
    value = getattr(b2bua, "features", None)
    return value if isinstance(value, CallFeatures) else None
