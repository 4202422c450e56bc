"""In-call controls on a connected call: hold, transfer, conference, supervisor monitoring.

The B2BUA owns the call (caller leg, agent leg, phase); this module adds the parties Zvans
dials *during* a call — the target of a transfer, the person consulted before an attended
transfer, a conference participant, a supervisor — and moves the audio between a private
bridge, music on hold and a mix. Everything runs on the B2BUA's event loop; ContactCenter
commands go through the B2BUA's one command thread so they keep their order with the
call's other commands. Decisions and the event-log contract: docs/decisions/0011.

Targets are written ``queue:<id>``, ``agent:<user id>`` or ``number:<phone number>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import select

from zvans.errors import Conflict, InvalidInput, NotFound, ZvansError
from zvans.store.audit import audit
from zvans.store.models import AgentProfile, Queue, User
from zvans.telephony.media import MediaLeg, SdpError
from zvans.telephony.monitor import MODES, SelectiveMixer, muted_pairs, start_monitor
from zvans.telephony.queue_media import QueueAudio
from zvans.telephony.sip import IncomingRequest, OutgoingCall

if TYPE_CHECKING:
    from zvans.telephony.b2bua import B2bua, InboundCall

log = logging.getLogger(__name__)
T = TypeVar("T")

TargetKind = Literal["queue", "agent", "number"]
TARGET_HELP = 'A target is "queue:<id>", "agent:<id>" or "number:<phone number>".'
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
#: how long a transfer target, a conference participant or a supervisor's phone may ring
RING_S = 25.0


class TransferFailed(ZvansError):
    code = "target-no-answer"
    status = 409


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    value: str

    @property
    def id(self) -> int:
        return int(self.value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_target(text: str) -> Target:
    """``queue:3`` / ``agent:12`` / ``number:+37120000000``; InvalidInput (422) otherwise."""
    kind, sep, value = (text or "").strip().partition(":")
    value = value.strip()
    if not sep or kind not in ("queue", "agent", "number"):
        raise InvalidInput("target", TARGET_HELP, code="bad-target")
    if kind in ("queue", "agent") and not value.isdigit():
        raise InvalidInput("target", f"A {kind} is given by its number: {kind}:<id>.",
                           code="bad-target")
    if kind == "number" and not _NUMBER.match(value.replace(" ", "")):
        raise InvalidInput("target", "A phone number is 3 to 20 digits, optionally with +.",
                           code="bad-target")
    return Target(kind, value.replace(" ", ""))  # type: ignore[arg-type]


@dataclass(eq=False)
class Party:
    """A leg Zvans dialled during the call."""

    target: Target
    sip: OutgoingCall
    leg: MediaLeg
    agent_id: int | None
    answered_at: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class Extras:
    """What the controls add to one call."""

    hold_started: float | None = None
    hold_by: str = ""
    consult: Party | None = None
    pending: asyncio.Task[Any] | None = None
    mixer: SelectiveMixer | None = None
    members: list[Party] = field(default_factory=list)
    monitor: Party | None = None
    monitor_mode: str = ""
    supervisor_id: int | None = None
    #: the agent side is a party the ACD does not track (after a transfer to an agent or
    #: a number): its talk ends with a ``completed`` the controls write themselves
    direct: Party | None = None
    recording_parts: int = 0


class Controls:
    def __init__(self, b2bua: B2bua) -> None:
        self.b = b2bua
        self.extras: dict[int, Extras] = {}
        #: calls with a direct agent side already wound up (the ACD must not be told again)
        self._direct_done: set[int] = set()

    # --- helpers ------------------------------------------------------------------------
    def _x(self, call: InboundCall) -> Extras:
        assert call.iid is not None
        x = self.extras.get(call.iid)
        if x is None:
            x = self.extras[call.iid] = Extras()
        return x

    def _live(self, org_id: int, iid: int) -> InboundCall:
        from zvans.telephony.b2bua import Phase

        call = self.b.by_iid.get(iid)
        if call is None or call.org_id != org_id:
            raise NotFound("No such call on this server.", code="no-such-call")
        if call.phase is not Phase.CONNECTED or call.agent_sip is None \
                or call.agent_leg is None:
            raise Conflict("The call is not connected to an agent right now.",
                           code="call-not-connected")
        return call

    async def _cmd(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A ContactCenter command on the B2BUA's command thread; its errors are raised."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.b._executor, lambda: fn(*args, **kwargs))

    async def _note(self, call: InboundCall, type_: str, agent_id: int | None,
                    **data: Any) -> None:
        try:
            await self._cmd(self.b.cc.call_note, call.org_id, call.iid, type_,
                            agent_id=agent_id, data=data)
        except ZvansError as exc:
            log.warning("call %s: %s not logged: %s", call.iid, type_, exc.message)

    def _agent_org(self, user_id: int) -> int | None:
        with self.b.directory.z.sessions() as session:
            return session.scalar(select(User.org_id).where(User.id == user_id,
                                                            User.deleted_at.is_(None)))

    def _agent_by_sip_user(self, org_id: int, username: str) -> int | None:
        with self.b.directory.z.sessions() as session:
            return session.scalar(
                select(User.id).join(AgentProfile, AgentProfile.user_id == User.id)
                .where(User.org_id == org_id, AgentProfile.sip_username == username,
                       User.deleted_at.is_(None)))

    def _queue_active(self, org_id: int, queue_id: int) -> bool:
        with self.b.directory.z.sessions() as session:
            row = session.get(Queue, queue_id)
            return row is not None and row.org_id == org_id and bool(row.active)

    async def check_target(self, call: InboundCall, target: Target) -> None:
        """Refuse a target that cannot work before anything changes (422)."""
        b = self.b
        if target.kind == "queue":
            if not await b._db(self._queue_active, call.org_id, target.id):
                raise InvalidInput("target", f"There is no active queue {target.id}.",
                                   code="unknown-target")
        elif target.kind == "agent":
            if await b._db(self._agent_org, target.id) != call.org_id:
                raise InvalidInput("target", f"There is no agent {target.id}.",
                                   code="unknown-target")
            if target.id == call.agent_id:
                raise InvalidInput("target", "This agent is already on the call.",
                                   code="target-on-call")
            agent = await b._db(b.directory.agent, target.id)
            if agent is None or not b._targets(agent):
                raise InvalidInput("target", f"Agent {target.id} has no phone registered.",
                                   code="target-unreachable")
        elif b.config.trunk is None:
            raise InvalidInput("target", "Calling external numbers needs a SIP trunk, and none "
                               "is configured.", code="no-trunk")

    async def _dial(self, call: InboundCall, target: Target, display: str, *,
                    kind: str = "transfer") -> Party:
        """Ring the target (every registered phone of an agent, or the trunk); first 2xx
        wins. TransferFailed when nobody answers within RING_S. An agent who answers is
        busy for the ACD until their leg ends (``kind`` names why, for the log)."""
        b = self.b
        agent_id: int | None = None
        if target.kind == "agent":
            agent_id = target.id
            agent = await b._db(b.directory.agent, target.id)
            targets = b._targets(agent) if agent is not None else []
        else:
            trunk = b.config.trunk
            targets = [] if trunk is None else [(trunk.request_uri(target.value), trunk.peer,
                                                 trunk)]
        if not targets:
            raise TransferFailed(f"{target} cannot be reached.", target=str(target))
        leg = await b.media.allocate_leg()
        sdp = b.media.offer(leg).encode()
        forks: list[OutgoingCall] = []
        for uri, peer, trunk in targets[: b.config.max_forks]:
            if trunk is not None:
                from_uri, credentials = trunk.from_uri(), trunk.credentials
                if call.queue is not None and call.queue.caller_id:
                    from_uri = f"sip:{call.queue.caller_id}@{trunk.sip_domain}"
            else:
                from_uri = f"sip:{_sip_user(call.caller)}@{b.config.domain}"
                credentials = None
            try:
                forks.append(await b.stack.invite(
                    uri, from_uri=from_uri, from_display=display, body=sdp, peer=peer,
                    credentials=credentials,
                    headers=[("X-Zvans-Interaction", str(call.iid))]))
            except (OSError, ValueError, ZvansError) as exc:
                log.warning("cannot INVITE %s: %s", uri, exc)
        winner: tuple[OutgoingCall, Any] | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RING_S
        waits = {asyncio.ensure_future(f.final()): f for f in forks}
        try:
            while waits and winner is None:
                done, _ = await asyncio.wait(waits, timeout=max(0.0, deadline - loop.time()),
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    break
                for fut in done:
                    fork = waits.pop(fut)
                    response = fut.result()
                    if 200 <= response.status < 300:
                        if winner is None:
                            winner = (fork, response)
                        else:
                            b.spawn(_quiet(fork.hangup()))
        finally:
            for fork in forks:
                if winner is None or fork is not winner[0]:
                    b.spawn(_quiet(fork.hangup()))
            for fut in waits:
                fut.cancel()
        if winner is None:
            b.media.close(leg)
            raise TransferFailed(f"{target} did not answer.", target=str(target))
        fork, response = winner
        try:
            b.media.accept_answer(leg, response.body)
        except SdpError:
            b.spawn(_quiet(fork.hangup()))
            b.media.close(leg)
            raise TransferFailed(f"{target} answered with unusable audio.",
                                 target=str(target)) from None
        if b.config.keepalive_s > 0:
            fork.start_keepalive(b.config.keepalive_s)
        if agent_id is not None:
            b.busy.watch(call.org_id, agent_id, fork, kind=kind, interaction_id=call.iid)
        return Party(target, fork, leg, agent_id)

    def _end_recording(self, call: InboundCall, x: Extras) -> None:
        """The agent side changes: close this part of the recording under its own name, so
        the next agent's recording (same path) does not overwrite it."""
        if call.recorder is None or call.recording is None:
            return
        self.b.media.stop_recording(call.recorder)
        call.recorder = None
        x.recording_parts += 1
        part = call.recording.with_name(f"{call.recording.stem}-{x.recording_parts}.wav")
        with contextlib.suppress(OSError):
            Path(call.recording).replace(part)

    def _watch_party(self, call: InboundCall, party: Party) -> None:
        """The party's BYE: as the agent's BYE when it is the agent side, else it leaves."""
        def gone(fut: asyncio.Future[str]) -> None:
            reason = fut.result()
            if reason == "local-bye":
                return
            if call.agent_sip is party.sip:
                self.b._agent_gone(call, party.sip, reason)
            else:
                self.b.spawn(self._party_left(call, party))
        party.sip.ended.add_done_callback(gone)

    # --- hold ---------------------------------------------------------------------------
    async def hold(self, org_id: int, iid: int, *, by: str = "desktop") -> dict[str, Any]:
        call = self._live(org_id, iid)
        x = self._x(call)
        if x.hold_started is not None:
            raise Conflict("The call is already on hold.", code="already-on-hold")
        if x.mixer is not None:
            raise Conflict("A conference cannot be put on hold.", code="in-conference")
        self._start_hold(call, x, by)
        await self._note(call, "held", call.agent_id, by=by)
        return {"state": "held"}

    def _start_hold(self, call: InboundCall, x: Extras, by: str) -> None:
        self.b.media.play(call.leg, self.b.moh, loop=True)
        if call.agent_leg is not None and by == "desktop":
            call.agent_leg.relay_tx = False  # the agent hears silence, not the caller
        x.hold_started = time.monotonic()
        x.hold_by = by

    async def resume(self, org_id: int, iid: int, *, by: str = "desktop") -> dict[str, Any]:
        call = self._live(org_id, iid)
        x = self._x(call)
        if x.hold_started is None:
            raise Conflict("The call is not on hold.", code="not-on-hold")
        if x.consult is not None:
            raise Conflict("Complete or cancel the transfer first.", code="consulting")
        await self._end_hold(call, x, by)
        return {"state": "talking"}

    async def _end_hold(self, call: InboundCall, x: Extras, by: str) -> None:
        if x.hold_started is None:
            return
        self.b.media.stop(call.leg)
        if call.agent_leg is not None:
            call.agent_leg.relay_tx = True
        held = time.monotonic() - x.hold_started
        x.hold_started = None
        await self._note(call, "resumed", call.agent_id, by=by, hold_s=round(held, 3))

    async def phone_hold(self, call: InboundCall, direction: str) -> bool:
        """The agent's phone sent a hold (or resume) re-INVITE: music to the caller instead
        of passing the hold on. True when handled."""
        if call.iid is None:
            return False
        x = self._x(call)
        if direction != "sendrecv" and x.hold_started is None and x.mixer is None:
            self._start_hold(call, x, "phone")
            await self._note(call, "held", call.agent_id, by="phone")
            return True
        if direction == "sendrecv" and x.hold_started is not None and x.consult is None:
            await self._end_hold(call, x, "phone")
            return True
        return x.hold_started is not None

    # --- transfer -----------------------------------------------------------------------
    async def transfer(self, org_id: int, iid: int, target_text: str, *,
                       attended: bool = False, notify: OutgoingCall | None = None,
                       ) -> dict[str, Any]:
        call = self._live(org_id, iid)
        target = parse_target(target_text)
        x = self._x(call)
        if x.consult is not None or x.mixer is not None or x.monitor is not None:
            raise Conflict("Finish the consultation, conference or monitoring first.",
                           code="call-busy")
        await self.check_target(call, target)
        if attended:
            if target.kind == "queue":
                raise InvalidInput("target", "An attended transfer goes to an agent or a "
                                   "number; a queue takes blind transfers.", code="bad-target")
            return await self._consult(call, x, target)
        return await self._blind(call, x, target, notify)

    def _detach_agent(self, call: InboundCall, x: Extras) -> tuple[Any, Any, int | None,
                                                                    float | None]:
        """Take the agent side off the call (not hung up yet); what it was."""
        old_sip, old_leg, old_agent = call.agent_sip, call.agent_leg, call.agent_id
        talk = None
        if x.direct is not None:
            talk = time.monotonic() - x.direct.answered_at
        self._end_recording(call, x)
        self.b.media.stop(call.leg)
        self.b.media.unbridge(call.leg)
        call.agent_sip = call.agent_leg = None
        call.agent_id = None
        return old_sip, old_leg, old_agent, talk

    async def _release(self, call: InboundCall, old_sip: Any, old_leg: Any,
                       notify: OutgoingCall | None) -> None:
        if notify is not None and not notify.is_ended:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(notify.request_in_dialog(
                    "NOTIFY", body=b"SIP/2.0 200 OK\r\n",
                    content_type="message/sipfrag;version=2.0",
                    headers=[("Event", "refer"),
                             ("Subscription-State", "terminated;reason=noresource")]), 5.0)
        if old_sip is not None and not old_sip.is_ended:
            self.b.spawn(_quiet(old_sip.hangup()))
        if old_leg is not None:
            self.b.media.close(old_leg)

    async def _blind(self, call: InboundCall, x: Extras, target: Target,
                     notify: OutgoingCall | None) -> dict[str, Any]:
        from zvans.telephony.b2bua import Phase

        b = self.b
        if x.hold_started is not None:
            await self._end_hold(call, x, "transfer")
        direct = x.direct
        old_sip, old_leg, old_agent, talk = self._detach_agent(call, x)
        x.direct = None
        to_queue = target.id if target.kind == "queue" else None
        if to_queue is not None:
            queue = await b._db(b.directory.queue, to_queue)
            assert queue is not None
            call.queue = queue
            call.phase = Phase.QUEUED
        call.audio = QueueAudio(b.media, b.prompts, call.leg, b.moh,
                                call.queue.language if call.queue is not None else "en")
        call.audio.music()
        try:
            await self._cmd(b.cc.call_transferred, call.org_id, call.iid, kind="blind",
                            target=str(target), agent_id=old_agent, talk_s=talk,
                            to_queue=to_queue)
        except ZvansError:
            # nothing changed in the ACD: the agent gets the caller back
            call.audio.stop()
            call.phase = Phase.CONNECTED
            call.agent_sip, call.agent_leg, call.agent_id = old_sip, old_leg, old_agent
            x.direct = direct
            b.media.bridge(call.leg, old_leg)
            raise
        if direct is not None:
            await self._note(call, "completed", direct.agent_id, talk_s=talk or 0.0)
        await self._release(call, old_sip, old_leg, notify)
        if to_queue is None:
            x.pending = b.spawn(self._ring_blind(call, x, target))
            return {"state": "ringing", "target": str(target)}
        self.extras.pop(call.iid or 0, None)
        return {"state": "queued", "target": str(target)}

    async def _ring_blind(self, call: InboundCall, x: Extras, target: Target) -> None:
        from zvans.telephony.b2bua import Phase

        b = self.b
        if call.audio is not None:
            call.audio.ringback()
        try:
            party = await self._dial(call, target, f"{call.caller} (transfer)")
        except ZvansError as exc:
            x.pending = None
            if call.phase is not Phase.CONNECTED:
                return
            log.info("call %s: blind transfer to %s failed (%s): back to its queue", call.iid,
                     target, exc.message)
            if call.queue is None:
                await b._hangup_all(call, "transfer-failed")
                return
            call.phase = Phase.QUEUED
            if call.audio is not None:
                call.audio.music()
            try:
                await self._cmd(b.cc.call_transferred, call.org_id, call.iid, kind="return",
                                target=f"queue:{call.queue.id}", agent_id=None, talk_s=0.0,
                                to_queue=call.queue.id)
            except ZvansError:
                await b._hangup_all(call, "transfer-failed")
            return
        x.pending = None
        if call.phase is not Phase.CONNECTED or call.leg.is_closed:
            b.spawn(_quiet(party.sip.hangup()))
            b.media.close(party.leg)
            return
        self._connect_party(call, x, party)

    def _connect_party(self, call: InboundCall, x: Extras, party: Party) -> None:
        """The party becomes the agent side of the call."""
        if call.audio is not None:
            call.audio.stop()
        call.agent_sip, call.agent_leg, call.agent_id = party.sip, party.leg, party.agent_id
        party.answered_at = time.monotonic()
        x.direct = party
        self.b.media.bridge(call.leg, party.leg)
        self._watch_party(call, party)

    async def _consult(self, call: InboundCall, x: Extras, target: Target) -> dict[str, Any]:
        if x.hold_started is None:
            self._start_hold(call, x, "consult")
            await self._note(call, "held", call.agent_id, by="consult")
        try:
            party = await self._dial(call, target, f"{call.caller} (consultation)",
                                     kind="consult")
        except ZvansError:
            if call.agent_leg is not None and not call.leg.is_closed:
                await self._end_hold(call, x, "consult")
            raise
        if call.agent_leg is None or call.leg.is_closed:
            self.b.spawn(_quiet(party.sip.hangup()))
            self.b.media.close(party.leg)
            raise Conflict("The call ended during the consultation.", code="call-ended")
        x.consult = party
        call.agent_leg.relay_tx = True
        self.b.media.bridge(call.agent_leg, party.leg)
        self._watch_party(call, party)
        return {"state": "consulting", "target": str(target)}

    async def complete_transfer(self, org_id: int, iid: int) -> dict[str, Any]:
        call = self._live(org_id, iid)
        x = self._x(call)
        party = x.consult
        if party is None:
            raise Conflict("No transfer is being prepared on this call.", code="no-consultation")
        direct = x.direct
        hold_s = time.monotonic() - (x.hold_started or time.monotonic())
        x.hold_started = None
        old_sip, old_leg, old_agent, talk = self._detach_agent(call, x)
        x.consult = None
        try:
            await self._cmd(self.b.cc.call_transferred, call.org_id, call.iid, kind="attended",
                            target=str(party.target), agent_id=old_agent, talk_s=talk)
        except ZvansError as exc:
            log.error("call %s: attended transfer not logged: %s", call.iid, exc.message)
        await self._note(call, "resumed", old_agent, by="transfer", hold_s=round(hold_s, 3))
        if direct is not None:
            await self._note(call, "completed", direct.agent_id, talk_s=talk or 0.0)
        await self._release(call, old_sip, old_leg, None)
        self._connect_party(call, x, party)
        return {"state": "transferred", "target": str(party.target)}

    async def cancel_transfer(self, org_id: int, iid: int) -> dict[str, Any]:
        call = self._live(org_id, iid)
        x = self._x(call)
        party = x.consult
        if party is None:
            raise Conflict("No transfer is being prepared on this call.", code="no-consultation")
        await self._drop_consult(call, x, party)
        return {"state": "talking"}

    async def _drop_consult(self, call: InboundCall, x: Extras, party: Party) -> None:
        x.consult = None
        if not party.sip.is_ended:
            self.b.spawn(_quiet(party.sip.hangup()))
        self.b.media.close(party.leg)
        if call.agent_leg is not None and not call.agent_leg.is_closed:
            self.b.media.bridge(call.leg, call.agent_leg, call.recorder)
            call.agent_leg.relay_tx = True
        if x.hold_started is not None:
            held = time.monotonic() - x.hold_started
            x.hold_started = None
            await self._note(call, "resumed", call.agent_id, by="consult",
                             hold_s=round(held, 3))

    # --- conference ---------------------------------------------------------------------
    async def conference_add(self, org_id: int, iid: int, target_text: str) -> dict[str, Any]:
        call = self._live(org_id, iid)
        target = parse_target(target_text)
        x = self._x(call)
        if target.kind == "queue":
            raise InvalidInput("target", "A conference participant is an agent or a number.",
                               code="bad-target")
        if x.consult is not None or x.monitor is not None or x.hold_started is not None:
            raise Conflict("Finish the hold, consultation or monitoring first.",
                           code="call-busy")
        await self.check_target(call, target)
        party = await self._dial(call, target, f"{call.caller} (conference)",
                                 kind="conference")
        if call.agent_leg is None or call.leg.is_closed:
            self.b.spawn(_quiet(party.sip.hangup()))
            self.b.media.close(party.leg)
            raise Conflict("The call ended while the participant was rung.", code="call-ended")
        media = self.b.media
        if x.mixer is None:
            self._end_recording(call, x)
            x.mixer = SelectiveMixer()
            media.mixers.add(x.mixer)
            for leg in (call.leg, call.agent_leg):
                media.join(x.mixer, leg)
        media.join(x.mixer, party.leg)
        x.members.append(party)
        self._watch_party(call, party)
        await self._note(call, "conferenced", call.agent_id, participant=str(target),
                         participants=len(x.members) + 2)
        return {"state": "conference", "participants": len(x.members) + 2}

    async def _party_left(self, call: InboundCall, party: Party) -> None:
        """A conference member, the consulted person or a supervisor hung up."""
        x = self.extras.get(call.iid or 0)
        if x is None:
            return
        if party is x.consult:
            await self._drop_consult(call, x, party)
        elif party is x.monitor:
            self._stop_monitor(call, x)
        elif party in x.members:
            x.members.remove(party)
            self.b.media.close(party.leg)
            if party.agent_id is not None:
                await self._note(call, "completed", party.agent_id,
                                 talk_s=round(time.monotonic() - party.answered_at, 3),
                                 role="conference")
            if not x.members:
                self._unmix(call, x)

    def _unmix(self, call: InboundCall, x: Extras) -> None:
        mixer, x.mixer = x.mixer, None
        if mixer is not None:
            self.b.media.end_conference(mixer)
        if call.agent_leg is not None and not call.agent_leg.is_closed \
                and not call.leg.is_closed:
            self.b.media.bridge(call.leg, call.agent_leg, call.recorder)

    def continues_without_agent(self, call: InboundCall) -> bool:
        """Would the call go on if the agent side hung up now (a conference)?"""
        x = self.extras.get(call.iid or 0)
        return x is not None and x.mixer is not None and bool(x.members) \
            and x.monitor is None

    async def agent_left(self, call: InboundCall) -> bool:
        """The agent side hung up. In a conference the others go on: True (handled)."""
        x = self.extras.get(call.iid or 0)
        if x is None or x.mixer is None or not x.members or call.iid is None:
            return False
        old_agent, direct = call.agent_id, x.direct
        old_leg = call.agent_leg
        if old_leg is not None:
            self.b.media.close(old_leg)
        talk = time.monotonic() - direct.answered_at if direct is not None else None
        if direct is None:
            with contextlib.suppress(ZvansError):
                await self._cmd(self.b.cc.call_ended, call.org_id, call.iid)
        else:
            await self._note(call, "completed", old_agent, talk_s=round(talk or 0.0, 3))
        heir = x.members.pop(0)
        call.agent_sip, call.agent_leg, call.agent_id = heir.sip, heir.leg, heir.agent_id
        x.direct = heir
        if not x.members:
            self._unmix(call, x)
        return True

    # --- supervisor ---------------------------------------------------------------------
    async def monitor(self, org_id: int, iid: int, supervisor_id: int,
                      mode: str = "listen") -> dict[str, Any]:
        if mode not in MODES:
            raise InvalidInput("mode", "The mode is listen, whisper or barge.", code="bad-mode")
        call = self._live(org_id, iid)
        x = self._x(call)
        if x.monitor is not None:
            if x.supervisor_id != supervisor_id:
                raise Conflict("Another supervisor is on this call.", code="monitored")
            assert x.mixer is not None and call.agent_leg is not None
            x.mixer.set_muted(muted_pairs(mode, call.leg, call.agent_leg,
                                          x.monitor.leg))
            x.monitor_mode = mode
            await self._audit(call, supervisor_id, mode)
            return {"state": "monitoring", "mode": mode}
        if x.mixer is not None or x.consult is not None or x.hold_started is not None:
            raise Conflict("The call is in a conference, a consultation or on hold.",
                           code="call-busy")
        b = self.b
        if await b._db(self._agent_org, supervisor_id) != org_id:
            raise InvalidInput("supervisor", "No such supervisor.", code="no-such-user")
        agent = await b._db(b.directory.agent, supervisor_id)
        if agent is None or not b._targets(agent):
            raise InvalidInput("supervisor", "Your phone is not registered: give your user a "
                               "SIP account and register a phone, then try again.",
                               code="no-phone")
        party = await self._dial(call, Target("agent", str(supervisor_id)),
                                 f"{mode}: {call.caller}", kind="monitor")
        if call.agent_leg is None or call.leg.is_closed or x.mixer is not None:
            b.spawn(_quiet(party.sip.hangup()))
            b.media.close(party.leg)
            raise Conflict("The call changed while your phone rang.", code="call-busy")
        x.monitor, x.monitor_mode, x.supervisor_id = party, mode, supervisor_id
        x.mixer = start_monitor(b.media, call.leg, call.agent_leg, party.leg,
                                mode)
        self._watch_party(call, party)
        await self._audit(call, supervisor_id, mode)
        return {"state": "monitoring", "mode": mode}

    async def _audit(self, call: InboundCall, supervisor_id: int, mode: str) -> None:
        def write() -> None:
            with self.b.directory.z.sessions.begin() as session:
                audit(session, call.org_id, supervisor_id, f"call.{mode}",
                      target=f"interaction:{call.iid}", agent_id=call.agent_id,
                      caller=call.caller)
        await self.b._db(write)

    def _stop_monitor(self, call: InboundCall, x: Extras) -> None:
        party, x.monitor = x.monitor, None
        x.supervisor_id = None
        if party is not None:
            if not party.sip.is_ended:
                self.b.spawn(_quiet(party.sip.hangup()))
            self.b.media.close(party.leg)
        self._unmix(call, x)

    async def stop_monitor(self, org_id: int, iid: int, supervisor_id: int) -> dict[str, Any]:
        call = self._live(org_id, iid)
        x = self._x(call)
        if x.monitor is None or x.supervisor_id != supervisor_id:
            raise Conflict("You are not monitoring this call.", code="not-monitoring")
        self._stop_monitor(call, x)
        return {"state": "talking"}

    # --- hang up and the end of the call -------------------------------------------------
    async def hangup(self, org_id: int, iid: int) -> dict[str, Any]:
        """The agent's hang-up button: in a conference the agent leaves, else the call ends."""
        call = self._live(org_id, iid)
        x = self._x(call)
        if x.consult is not None:
            raise Conflict("Complete or cancel the transfer first.", code="consulting")
        agent_sip = call.agent_sip
        if x.mixer is not None and x.members:
            await self.agent_left(call)
            if agent_sip is not None:
                self.b.spawn(_quiet(agent_sip.hangup()))
            return {"state": "left"}
        await self.b._hangup_all(call, "agent-hangup")
        return {"state": "ended"}

    async def call_ending(self, call: InboundCall) -> bool:
        """The call is over: hang up every party Zvans dialled. True when the agent side
        was a direct party (its ``completed`` is written here, not by the ACD)."""
        if call.iid in self._direct_done:  # already wound up when the agent hung up
            self._direct_done.discard(call.iid)
            return True
        x = self.extras.pop(call.iid or 0, None)
        if x is None:
            return False
        if x.pending is not None:
            x.pending.cancel()
        parties = [p for p in (x.consult, x.monitor, *x.members) if p is not None]
        for party in parties:
            if not party.sip.is_ended:
                self.b.spawn(_quiet(party.sip.hangup()))
            self.b.media.close(party.leg)
        if x.mixer is not None:
            self.b.media.end_conference(x.mixer)
        if x.hold_started is not None:
            await self._note(call, "resumed", call.agent_id, by="hangup",
                             hold_s=round(time.monotonic() - x.hold_started, 3))
        if x.direct is not None or (call.agent_sip is None and x.pending is not None):
            if call.iid is not None:
                self._direct_done.add(call.iid)
                if len(self._direct_done) > 10_000:
                    self._direct_done.clear()
            if x.direct is not None:
                await self._note(call, "completed", x.direct.agent_id,
                                 talk_s=round(time.monotonic() - x.direct.answered_at, 3))
            return True
        return False

    # --- REFER from the agent's phone ---------------------------------------------------
    async def on_refer(self, call: InboundCall, req: IncomingRequest) -> None:
        """Blind transfer asked by the agent's phone: 202, the transfer, NOTIFY 200."""
        refer_to = req.refer_to
        if refer_to is None:
            req.respond(400, "Bad Refer-To")
            return
        if "replaces" in str(refer_to.uri).lower():
            # attended transfer by phone needs the agent's consult call to go through Zvans,
            # which outgoing agent calls do not yet do
            req.respond(501, "Attended transfer by REFER not supported")
            return
        user = refer_to.uri.user_unescaped or ""
        target = await self._refer_target(call, user)
        if target is None:
            req.respond(404, "Unknown transfer target")
            return
        try:
            call_now = self._live(call.org_id, call.iid or 0)
            await self.check_target(call_now, target)
        except ZvansError as exc:
            req.respond(403 if exc.status != 409 else 491, exc.message[:60])
            return
        req.respond(202)
        notify = call.agent_sip
        try:
            await self.transfer(call.org_id, call.iid or 0, str(target),
                                notify=notify)
        except ZvansError as exc:
            log.info("call %s: REFER to %s failed: %s", call.iid, target, exc.message)

    async def _refer_target(self, call: InboundCall, user: str) -> Target | None:
        b = self.b
        if not user:
            return None
        agent = await b._db(self._agent_by_sip_user, call.org_id, user)
        if agent is not None:
            return Target("agent", str(agent))
        route = await b._db(b.directory.route, user)
        if route is not None and route.org_id == call.org_id and route.queue_id is not None:
            return Target("queue", str(route.queue_id))
        if _NUMBER.match(user) and b.config.trunk is not None:
            return Target("number", user)
        return None

    def snapshot(self, iid: int) -> dict[str, Any]:
        x = self.extras.get(iid)
        if x is None:
            return {}
        return {"on_hold": x.hold_started is not None, "consulting": x.consult is not None,
                "conference": len(x.members) + 2 if x.mixer is not None and x.members else 0,
                "monitor": x.monitor_mode if x.monitor is not None else None,
                "direct_agent": x.direct.agent_id if x.direct is not None else None}


async def _quiet(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception as exc:
        log.debug("hangup failed: %s", exc)


def _sip_user(number: str) -> str:
    keep = "".join(c for c in number if c.isalnum() or c in "+-_.")
    return keep or "anonymous"


class CallControlService:
    """The synchronous face of the controls for the web (``z.services["telephony"]``):
    each method runs on the telephony event loop and waits for its answer. Errors are
    ``ZvansError``s (422 bad target, 409 wrong state, 404 unknown call)."""

    TIMEOUT_S = RING_S + 15.0

    def __init__(self, controls: Controls, loop: asyncio.AbstractEventLoop) -> None:
        self.controls = controls
        self.loop = loop

    def _run(self, coro: Any) -> dict[str, Any]:
        if self.loop.is_closed():
            coro.close()
            raise ZvansError("Telephony is not running.", code="telephony-unavailable")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            result: dict[str, Any] = fut.result(self.TIMEOUT_S)
        except TimeoutError:
            fut.cancel()
            raise ZvansError("Telephony did not answer in time.",
                             code="telephony-timeout") from None
        return result

    def hold(self, org_id: int, interaction_id: int) -> dict[str, Any]:
        return self._run(self.controls.hold(org_id, interaction_id))

    def resume(self, org_id: int, interaction_id: int) -> dict[str, Any]:
        return self._run(self.controls.resume(org_id, interaction_id))

    def transfer(self, org_id: int, interaction_id: int, target: str,
                 attended: bool = False) -> dict[str, Any]:
        return self._run(self.controls.transfer(org_id, interaction_id, target,
                                                attended=attended))

    def complete_transfer(self, org_id: int, interaction_id: int) -> dict[str, Any]:
        return self._run(self.controls.complete_transfer(org_id, interaction_id))

    def cancel_transfer(self, org_id: int, interaction_id: int) -> dict[str, Any]:
        return self._run(self.controls.cancel_transfer(org_id, interaction_id))

    def conference_add(self, org_id: int, interaction_id: int, target: str) -> dict[str, Any]:
        return self._run(self.controls.conference_add(org_id, interaction_id, target))

    def hangup(self, org_id: int, interaction_id: int) -> dict[str, Any]:
        return self._run(self.controls.hangup(org_id, interaction_id))

    def monitor(self, org_id: int, interaction_id: int, supervisor_user_id: int,
                mode: str = "listen") -> dict[str, Any]:
        return self._run(self.controls.monitor(org_id, interaction_id, supervisor_user_id,
                                               mode))

    def stop_monitor(self, org_id: int, interaction_id: int,
                     supervisor_user_id: int) -> dict[str, Any]:
        return self._run(self.controls.stop_monitor(org_id, interaction_id,
                                                    supervisor_user_id))


SERVICE_METHODS = ("hold", "resume", "transfer", "complete_transfer", "cancel_transfer",
                   "conference_add", "hangup", "monitor", "stop_monitor")


def install(z: Any, b2bua: B2bua) -> Controls:
    """Attach the controls to the B2BUA and publish ``z.services["telephony"]``. If another
    part already published a telephony object (click-to-call), the control methods are
    added to it rather than replacing it."""
    controls = Controls(b2bua)
    b2bua.controls = controls
    service = CallControlService(controls, asyncio.get_running_loop())
    existing = z.services.get("telephony")
    if existing is None:
        z.services["telephony"] = service
    else:
        for name in SERVICE_METHODS:
            if hasattr(existing, name):
                log.warning("telephony service already has %s(): the controls' one is not "
                            "installed", name)
                continue
            with contextlib.suppress(AttributeError, TypeError):
                setattr(existing, name, getattr(service, name))
    z.services["call_controls"] = service
    return controls
