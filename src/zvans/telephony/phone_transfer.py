"""Attended transfer from the agent's own phone (RFC 5589 §7: REFER with Replaces).

The phone holds the caller (dialog D1, Zvans ↔ phone), places a consultation call through
Zvans (D2: an INVITE authenticated by digest to a colleague's SIP user name or, through the
configured trunk, to a number), then sends REFER on D1 with ``Refer-To: <sip:...?Replaces=
<D2>>``. D2 ends at Zvans, so no INVITE with Replaces is sent anywhere: the B2BUA bridges
the caller with the consulted party, writes the same events as the desktop's attended
transfer, answers the REFER's implicit subscription with NOTIFY (100, then 200) and hangs
up both of the phone's dialogs. Decisions: docs/decisions/0013.

A phone may only place such a call while its agent has a connected call on this server
(the consultation belongs to that call); anything else is refused, so an agent's phone is
never an unlogged way out to the trunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sqlalchemy import select

from zvans.errors import InvalidInput, ZvansError
from zvans.store.models import AgentProfile, User
from zvans.telephony.media import MediaError, MediaLeg, SdpError
from zvans.telephony.sip import CallLeg, IncomingCall, IncomingRequest

if TYPE_CHECKING:
    from zvans.telephony.b2bua import InboundCall
    from zvans.telephony.controls import Controls, Extras, Party, Target

log = logging.getLogger(__name__)

#: the status a refused consultation INVITE gets, by the controls' error code
REFUSALS = {"unknown-target": 404, "target-unreachable": 480, "target-on-call": 403,
            "no-trunk": 403, "bad-target": 404}


@dataclass(frozen=True)
class Replaces:
    """The dialog named by a Replaces header (RFC 3891 §6.1), as the recipient sees it:
    ``to_tag`` is the recipient's (our) tag, ``from_tag`` the other side's."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False


def parse_replaces(uri_headers: str | None) -> Replaces | None:
    """The Replaces in a Refer-To URI's headers (``?Replaces=id%3Bto-tag%3Dx%3Bfrom-tag%3Dy``,
    several headers joined by ``&``); None when there is none or it lacks a part."""
    if not uri_headers:
        return None
    for part in uri_headers.split("&"):
        name, sep, value = part.partition("=")
        if not sep or name.strip().lower() != "replaces":
            continue
        fields = unquote(value).split(";")
        call_id = fields[0].strip()
        params: dict[str, str] = {}
        for field_ in fields[1:]:
            key, _, val = field_.partition("=")
            params[key.strip().lower()] = val.strip()
        to_tag, from_tag = params.get("to-tag", ""), params.get("from-tag", "")
        if not call_id or not to_tag or not from_tag:
            return None
        return Replaces(call_id, to_tag, from_tag, "early-only" in params)
    return None


@dataclass(eq=False)
class PhoneConsult:
    """The consultation call the agent's phone placed through Zvans (D2)."""

    sip: IncomingCall
    leg: MediaLeg
    target: Target
    party: Party | None = None
    task: asyncio.Task[Any] | None = None
    transferred: bool = False

    def matches(self, replaces: Replaces) -> bool:
        dialog = self.sip.dialog
        return dialog is not None and self.sip.call_id == replaces.call_id \
            and dialog.local_tag == replaces.to_tag and dialog.remote_tag == replaces.from_tag


class PhoneTransfers:
    """Consultation calls from agents' phones and REFER with Replaces (one per Controls)."""

    def __init__(self, controls: Controls) -> None:
        self.c = controls
        self.b = controls.b

    # --- D2: the phone calls the person to consult --------------------------------------
    def _agent_of(self, sip_user: str) -> tuple[int, int] | None:
        with self.b.directory.z.sessions() as session:
            row = session.execute(
                select(User.id, User.org_id).join(AgentProfile, AgentProfile.user_id == User.id)
                .where(AgentProfile.sip_username == sip_user, User.deleted_at.is_(None))).first()
            return (row[0], row[1]) if row is not None else None

    def _connected_call(self, org_id: int, agent_id: int) -> InboundCall | None:
        from zvans.telephony.b2bua import Phase

        for call in self.b.calls:
            if call.org_id == org_id and call.agent_id == agent_id \
                    and call.phase is Phase.CONNECTED and call.agent_sip is not None \
                    and call.iid is not None:
                return call
        return None

    async def on_invite(self, sip: IncomingCall) -> None:
        """An authenticated phone dialled a number that is not a DID."""
        b, c = self.b, self.c
        user = sip.authenticated_user or ""
        who = await b._db(self._agent_of, user)
        call = self._connected_call(who[1], who[0]) if who is not None else None
        if call is None:
            log.info("phone %s dialled %r without a call to consult about: 403", user,
                     sip.number)
            b.stats["phone_call_refused"] += 1
            _refuse(sip, 403, "Only consultation calls during a call")
            return
        x = c._x(call)
        if not self._free(call, x):
            _refuse(sip, 486)
            return
        target = await c._refer_target(call, sip.number)
        if target is None or target.kind == "queue":
            _refuse(sip, 404)
            return
        try:
            await c.check_target(call, target)
        except InvalidInput as exc:
            _refuse(sip, REFUSALS.get(exc.code, 403), exc.message[:60])
            return
        try:
            leg = await b.media.allocate_leg()
        except MediaError:
            _refuse(sip, 503, headers=(("Retry-After", "5"),))
            return
        try:
            answer = b.media.answer(leg, sip.request.body)
        except SdpError:
            b.media.close(leg)
            _refuse(sip, 488)
            return
        if sip.is_ended or not self._free(call, x):  # CANCEL, or the call changed meanwhile
            b.media.close(leg)
            _refuse(sip, 486)
            return
        consult = PhoneConsult(sip, leg, target)
        x.phone = consult
        sip.on_request = lambda req: self._d2_request(call, consult, req)
        sip.on_cancel = lambda _sip: self._cancelled(consult)
        sip.ended.add_done_callback(lambda f: self._d2_ended(call, consult, f.result()))
        sip.provisional(180)
        consult.task = b.spawn(self._ring(call, x, consult, answer.encode()))

    async def _ring(self, call: InboundCall, x: Extras, consult: PhoneConsult,
                    answer: bytes) -> None:
        b, c = self.b, self.c
        try:
            party = await c._dial(call, consult.target, f"{call.caller} (consultation)",
                                 kind="consult")
        except asyncio.CancelledError:
            self._drop(call, x, consult)
            return
        except ZvansError as exc:
            log.info("call %s: consultation from the phone to %s failed: %s", call.iid,
                     consult.target, exc.message)
            if not consult.sip.is_ended:
                consult.sip.reject(480)
            self._drop(call, x, consult)
            return
        if consult.sip.is_ended or x.phone is not consult or not self._live(call, x):
            b.spawn(_quiet(party.sip.hangup()))
            b.media.close(party.leg)
            self._drop(call, x, consult)
            return
        consult.party = party
        party.answered_at = time.monotonic()
        consult.sip.answer(answer)
        if b.config.keepalive_s > 0:  # a phone that dies mid-consultation is noticed
            consult.sip.start_keepalive(b.config.keepalive_s)
        b.media.bridge(consult.leg, party.leg)
        b.stats["phone_consults"] += 1
        party.sip.ended.add_done_callback(
            lambda f: self._party_ended(call, consult, f.result()))

    def _live(self, call: InboundCall, x: Extras) -> bool:
        """Is the call still connected to its agent, with these extras?"""
        from zvans.telephony.b2bua import Phase

        return call.phase is Phase.CONNECTED and call.agent_sip is not None \
            and self.c.extras.get(call.iid or 0) is x

    def _free(self, call: InboundCall, x: Extras) -> bool:
        """Connected, and no consultation, conference or monitoring running."""
        return self._live(call, x) and x.consult is None and x.phone is None \
            and x.mixer is None and x.monitor is None

    @staticmethod
    def _cancelled(consult: PhoneConsult) -> None:
        if consult.task is not None:
            consult.task.cancel()

    def _drop(self, call: InboundCall, x: Extras, consult: PhoneConsult) -> None:
        """The consultation is over without a transfer: free its legs."""
        if x.phone is consult:
            x.phone = None
        if consult.party is not None:
            if not consult.party.sip.is_ended:
                self.b.spawn(_quiet(consult.party.sip.hangup()))
            self.b.media.close(consult.party.leg)
        if not consult.sip.is_ended:
            self.b.spawn(_quiet(consult.sip.hangup()))
        self.b.media.close(consult.leg)

    def _d2_ended(self, call: InboundCall, consult: PhoneConsult, reason: str) -> None:
        """The phone hung up (or cancelled) the consultation: the consulted party goes."""
        if consult.transferred or reason == "local-bye":
            return
        if consult.task is not None and consult.party is None:
            consult.task.cancel()
            return
        x = self.c.extras.get(call.iid or 0)
        if x is not None:
            self._drop(call, x, consult)

    def _party_ended(self, call: InboundCall, consult: PhoneConsult, reason: str) -> None:
        if consult.transferred or reason == "local-bye":
            return
        x = self.c.extras.get(call.iid or 0)
        if x is not None:
            self._drop(call, x, consult)

    async def _d2_request(self, call: InboundCall, consult: PhoneConsult,
                          req: IncomingRequest) -> None:
        """In-dialog requests on the consultation: re-INVITEs answered on its own leg."""
        if req.method == "INVITE":
            body = req.request.body
            if not body:
                req.respond(200, body=req.leg.local_body)
                return
            try:
                answer = self.b.media.answer(consult.leg, body)
            except SdpError:
                req.respond(488)
                return
            req.respond(200, body=answer.encode())
        elif req.method == "REFER":
            req.respond(501, "Transfer from the consultation call not supported")
        elif req.method == "UPDATE":
            req.respond(501)
        else:
            req.respond(200)

    # --- REFER with Replaces on D1 --------------------------------------------------------
    async def on_refer(self, call: InboundCall, req: IncomingRequest,
                       replaces: Replaces) -> None:
        x = self.c.extras.get(call.iid or 0)
        consult = x.phone if x is not None else None
        if consult is None or x is None or not consult.matches(replaces):
            if self._elsewhere_at_zvans(replaces):
                # a dialog of ours, but not this call's consultation (e.g. a call the phone
                # made to a DID): replacing it is not supported
                req.respond(501, "Replaces of this dialog not supported")
                return
            # RFC 3891 §3: no such dialog → 481, reported through the subscription
            req.respond(202)
            await self._notify(req.leg, "SIP/2.0 481 Call/Transaction Does Not Exist",
                               final=True)
            self.b.stats["replaces_unknown"] += 1
            return
        if consult.party is None or replaces.early_only:
            req.respond(501, "Transfer to a ringing consultation not supported")
            return
        # from here on a BYE from the phone on D1 or D2 (some phones send them as soon as
        # the REFER is accepted) no longer ends the call or the consultation
        consult.transferred = True
        req.respond(202)
        trying = self.b.spawn(self._notify(req.leg, "SIP/2.0 100 Trying", final=False))
        await self._complete(call, x, consult, trying)

    def _elsewhere_at_zvans(self, replaces: Replaces) -> bool:
        for leg in list(self.b.stack._dialogs.values()):
            dialog = leg.dialog
            if dialog is not None and leg.call_id == replaces.call_id \
                    and {dialog.local_tag, dialog.remote_tag} == {replaces.to_tag,
                                                                  replaces.from_tag}:
                return True
        return False

    async def _notify(self, leg: CallLeg | None, sipfrag: str, *, final: bool) -> None:
        """A NOTIFY of the REFER's implicit subscription on the phone's dialog D1."""
        if leg is None or leg.is_ended:
            return
        state = "terminated;reason=noresource" if final else "active;expires=60"
        with contextlib.suppress(Exception):
            await asyncio.wait_for(leg.request_in_dialog(
                "NOTIFY", body=f"{sipfrag}\r\n".encode(),
                content_type="message/sipfrag;version=2.0",
                headers=[("Event", "refer"), ("Subscription-State", state)]), 5.0)

    def transferring(self, call: InboundCall) -> bool:
        """Is the agent's phone handing this call over right now (its BYE changes nothing)?"""
        x = self.c.extras.get(call.iid or 0)
        return x is not None and x.phone is not None and x.phone.transferred

    async def _complete(self, call: InboundCall, x: Extras, consult: PhoneConsult,
                        trying: asyncio.Task[Any]) -> None:
        """As the desktop's *complete transfer*: caller ↔ consulted party, the agent freed."""
        c, b = self.c, self.b
        party = consult.party
        assert party is not None and call.iid is not None
        x.phone = None
        if party.sip.is_ended or call.leg.is_closed:  # the consulted party just hung up
            consult.transferred = False
            self._drop(call, x, consult)
            await trying
            await self._notify(call.agent_sip, "SIP/2.0 480 Temporarily Unavailable",
                               final=True)
            return
        direct = x.direct
        held_since = x.hold_started
        x.hold_started = None
        old_sip, old_leg, old_agent, talk = c._detach_agent(call, x)
        try:
            await c._cmd(b.cc.call_transferred, call.org_id, call.iid, kind="attended",
                         target=str(party.target), agent_id=old_agent, talk_s=talk)
        except ZvansError as exc:
            log.error("call %s: attended transfer not logged: %s", call.iid, exc.message)
        if held_since is not None:
            await c._note(call, "resumed", old_agent, by="transfer",
                          hold_s=round(time.monotonic() - held_since, 3))
        if direct is not None:
            await c._note(call, "completed", direct.agent_id, talk_s=round(talk or 0.0, 3))
        b.media.close(consult.leg)
        c._connect_party(call, x, party)
        b.stats["phone_attended_transfers"] += 1
        await trying  # the NOTIFYs keep their order
        await c._release(call, old_sip, old_leg, old_sip)  # NOTIFY 200, BYE on D1
        if not consult.sip.is_ended:
            b.spawn(_quiet(consult.sip.hangup()))  # BYE on D2

    def call_ending(self, call: InboundCall, x: Extras) -> None:
        """The call ends during a phone consultation: its legs end too."""
        consult, x.phone = x.phone, None
        if consult is None:
            return
        if consult.task is not None and consult.party is None:
            consult.task.cancel()
        self._drop(call, x, consult)


def _refuse(sip: IncomingCall, status: int, reason: str | None = None, *,
            headers: tuple[tuple[str, str], ...] = ()) -> None:
    """Reject the INVITE unless it already ended (CANCEL while we looked things up)."""
    if not sip.is_ended and not sip.txn.final_sent:
        sip.reject(status, reason, headers=headers)


async def _quiet(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception as exc:
        log.debug("hangup failed: %s", exc)
