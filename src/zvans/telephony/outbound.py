"""Calls Zvans places itself: callbacks and click-to-call (agent first, then the customer).

Both ring the agent's phone first (the registered contacts, or ``ring_target``) like an
offer; when the agent answers they hear ringback while the customer's number is dialled
through the outbound trunk with the queue's ``caller_id`` as the From user; when the
customer answers the two legs are bridged (recorded if the queue records: customer left,
agent right); a BYE on either side ends both.

- **Callback** (the ACD's ``StartCallback``): answered → ``cc.callback_answered``, end →
  ``cc.call_ended``; the agent not answering, the customer busy or not answering →
  ``cc.callback_failed(reason)`` and the engine retries on its schedule.
- **Click-to-call** (``z.services["telephony"].click_to_call``): an outgoing interaction
  (``direction="out"``, or the campaign's when ``interaction_id`` is given) with the events
  ``arrived``/``answered``/``completed`` carrying ``data.direction = "out"`` and ``talk_s``,
  which is what the reports count as outgoing calls.

The outbound route is ``B2buaConfig.trunk``: ``outbound_trunk`` in the settings
(``sip:[user[:password]@]host[:port][;transport=tcp]``) or ``start_telephony(z,
trunk=TrunkConfig(...))``. Without one nothing is dialled (callbacks fail at once with
``no-route`` before any agent is rung; click-to-call answers 409 ``no-outbound-route``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sqlalchemy import select

from zvans.core.acd import StartCallback
from zvans.errors import Conflict, InvalidInput, NotFound, ZvansError
from zvans.store.db import append_event
from zvans.store.models import AgentProfile, CustomerPhone, Interaction, Queue, User
from zvans.telephony.media import MediaError, MediaLeg, Recorder, SdpError
from zvans.telephony.queue_media import ringback
from zvans.telephony.sip import IncomingRequest, OutgoingCall, Response, TrunkConfig

if TYPE_CHECKING:
    from zvans.telephony.features import CallFeatures, QueueFeatures

log = logging.getLogger(__name__)

DEFAULT_RING_S = 20.0
CUSTOMER_RING_S = 30.0
MIN_DIGITS = 3
MAX_DIGITS = 15

BUSY = frozenset({486, 600})
NO_ANSWER = frozenset({408, 480, 487})


def parse_trunk(url: str, name: str = "outbound") -> TrunkConfig:
    """``sip:[user[:password]@]host[:port][;transport=udp|tcp]`` → a TrunkConfig."""
    raw = url.strip()
    if not raw.startswith("sip:"):
        raise InvalidInput("outbound_trunk", "The trunk must look like sip:user:pw@host:port.")
    rest, _, params = raw[4:].partition(";")
    userinfo, at, hostport = rest.rpartition("@")
    if not at:
        hostport, userinfo = rest, ""
    user, _, password = userinfo.partition(":")
    host, _, port = hostport.partition(":")
    transport = "UDP"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "transport" and value:
            transport = value.strip().upper()
    if not host or (port and not port.isdigit()) or transport not in ("UDP", "TCP"):
        raise InvalidInput("outbound_trunk", f"Cannot read the trunk {url!r}.")
    return TrunkConfig(name=name, host=host, port=int(port or 5060), transport=transport,
                       username=unquote(user) or None,
                       password=unquote(password) if password else None)


def dial_number(raw: str, field: str = "number") -> str:
    """A number Zvans may dial: 3 to 15 digits, an optional leading +; spaces, dashes and
    brackets are dropped. InvalidInput (422) with a readable message otherwise."""
    cleaned = "".join(c for c in (raw or "").strip() if c not in " -().")
    body = cleaned[1:] if cleaned.startswith("+") else cleaned
    if not body:
        raise InvalidInput(field, "Enter the phone number to call.")
    if not body.isdigit():
        raise InvalidInput(field, "A phone number may contain only digits and a leading +.")
    if not MIN_DIGITS <= len(body) <= MAX_DIGITS:
        raise InvalidInput(field, f"A phone number has {MIN_DIGITS} to {MAX_DIGITS} digits.")
    return cleaned


def failure_reason(status: int) -> str:
    if status in BUSY:
        return "busy"
    if status == 603:
        return "declined"
    if status in NO_ANSWER:
        return "no-answer"
    return f"failed-{status}"


@dataclass(eq=False)
class OutCall:
    kind: str  # "callback" or "click"
    org_id: int
    iid: int
    agent_id: int
    number: str
    queue: QueueFeatures | None
    agent_sip: OutgoingCall | None = None
    agent_leg: MediaLeg | None = None
    customer_sip: OutgoingCall | None = None
    customer_leg: MediaLeg | None = None
    recorder: Recorder | None = None
    recording: Path | None = None
    started: float = field(default_factory=time.monotonic)
    answered: float | None = None
    result: str = ""
    caller_id: str = ""
    customer_from: str = ""
    #: RTP counters of the closed legs (agent_leg, customer_leg)
    legs: dict[str, dict[str, int]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "interaction_id": self.iid, "agent_id": self.agent_id,
                "number": self.number, "result": self.result, "caller_id": self.caller_id,
                "customer_from": self.customer_from,
                "recording": str(self.recording) if self.recording else None,
                "legs": dict(self.legs),
                "talk_s": round(time.monotonic() - self.answered, 3) if self.answered else 0.0}


class Outbound:
    """``z.services["telephony"]``: click-to-call for the web, callbacks for the ACD."""

    def __init__(self, features: CallFeatures) -> None:
        self.features = features
        self.b2bua = features.b2bua
        self.calls: set[OutCall] = set()
        #: the last calls' outcomes, newest last (tests and diagnostics)
        self.finished: deque[dict[str, Any]] = deque(maxlen=1000)
        self.customer_ring_s = CUSTOMER_RING_S

    @property
    def trunk(self) -> TrunkConfig | None:
        return self.b2bua.config.trunk

    async def close(self) -> None:
        for call in list(self.calls):
            for leg in (call.agent_sip, call.customer_sip):
                if leg is not None and not leg.is_ended:
                    await _quiet(leg.hangup())

    # --- callbacks (the ACD's StartCallback) ----------------------------------------------
    async def callback(self, org_id: int, decision: StartCallback) -> None:
        b2bua = self.b2bua
        queue_id = await asyncio.to_thread(self._queue_of, decision.call_id)
        queue = self.features.queue(queue_id)
        call = OutCall("callback", org_id, decision.call_id, decision.agent_id,
                       decision.number, queue)
        b2bua.stats["callbacks_started"] += 1
        if self.trunk is None:
            log.warning("callback %s cannot be dialled: no outbound trunk configured",
                        decision.call_id)
            await self._failed(call, "no-route")
            return
        await self._run(call)

    def _queue_of(self, iid: int) -> int | None:
        with self.b2bua.directory.z.sessions() as session:
            row = session.get(Interaction, iid)
            return row.queue_id if row is not None else None

    # --- click-to-call ----------------------------------------------------------------------
    def click_to_call(self, org_id: int, user_id: int, number: str, queue_id: int, *,
                      interaction_id: int | None = None) -> dict[str, Any]:
        """Ring the agent's phone, then ``number`` with the queue's caller id. Thread-safe;
        returns at once (``status: "dialing"``); raises ZvansError, changing nothing, for a
        bad number, an unknown queue or agent, no route, or an agent without a phone."""
        number = dial_number(number)
        if self.trunk is None:
            raise Conflict("No outbound SIP trunk is configured (outbound_trunk), so Zvans "
                           "cannot dial. Call the number from your phone.",
                           code="no-outbound-route")
        agent = self.b2bua.directory.agent(user_id)
        if agent is None:
            raise NotFound(f"No agent {user_id}.", code="no-such-agent")
        if not self.b2bua._targets(agent):
            raise Conflict("Your phone is not registered, so Zvans cannot ring it. Register "
                           "your SIP phone (or set a ring number) and try again.",
                           code="agent-unreachable")
        iid, caller_id = self._record(org_id, user_id, number, queue_id, interaction_id)
        call = OutCall("click", org_id, iid, user_id, number, self.features.queue(queue_id))
        call.caller_id = caller_id
        loop = self.b2bua._loop
        if loop is None or loop.is_closed():
            raise ZvansError("Telephony is stopping.", code="telephony-unavailable")
        loop.call_soon_threadsafe(lambda: self.b2bua.spawn(self._run(call)))
        return {"interaction_id": iid, "status": "dialing", "number": number,
                "caller_id": caller_id}

    def progress(self, iid: int) -> str | None:
        """Where a click-to-call Zvans is placing stands: ``ringing-agent``,
        ``ringing-customer`` or ``connected``; None when it is not in flight (then the
        interaction row has the outcome). Read from the web's threads: ``list`` copies the
        set in one step under the GIL."""
        for call in list(self.calls):
            if call.iid == iid and call.kind == "click":
                if call.answered is not None:
                    return "connected"
                return "ringing-customer" if call.customer_sip is not None else "ringing-agent"
        return None

    def _record(self, org_id: int, user_id: int, number: str, queue_id: int,
                interaction_id: int | None) -> tuple[int, str]:
        """The outgoing interaction and its ``arrived`` event (or the campaign's)."""
        z = self.b2bua.directory.z
        with z.sessions.begin() as session:
            queue = session.get(Queue, queue_id)
            if queue is None or queue.org_id != org_id:
                raise NotFound(f"No queue {queue_id}.", code="no-such-queue")
            user = session.get(User, user_id)
            if user is None or user.org_id != org_id or user.deleted_at is not None \
                    or session.scalar(select(AgentProfile.id).where(
                        AgentProfile.user_id == user_id)) is None:
                raise NotFound(f"No agent {user_id}.", code="no-such-agent")
            caller_id = queue.caller_id or ""
            if interaction_id is not None:
                row = session.get(Interaction, interaction_id)
                if row is None or row.org_id != org_id or row.direction != "out":
                    raise NotFound("No such outgoing call.", code="no-such-call")
                return row.id, caller_id
            now = datetime.now(UTC)
            customer_id = session.scalar(select(CustomerPhone.customer_id).where(
                CustomerPhone.org_id == org_id, CustomerPhone.number == number))
            row = Interaction(org_id=org_id, channel="voice", direction="out",
                              caller=caller_id, callee=number, queue_id=queue_id,
                              agent_id=user_id, customer_id=customer_id, started_at=now)
            session.add(row)
            session.flush()
            append_event(session, org_id, "arrived", interaction_id=row.id, queue_id=queue_id,
                         agent_id=user_id, at=now,
                         data={"direction": "out", "channel": "voice", "caller": caller_id,
                               "callee": number, "click_to_call": True})
            return row.id, caller_id

    # --- the two legs ---------------------------------------------------------------------
    async def _run(self, call: OutCall) -> None:
        self.calls.add(call)
        busy = self.b2bua.busy
        ref: str | None = None
        if call.kind == "click":
            # the ACD routed callbacks itself; a click-to-call makes the agent busy from the
            # click (their phone is about to ring with it) to the end, whatever the end
            ref = busy.new_ref("click")
            busy.start(call.org_id, call.agent_id, ref, kind="click", interaction_id=call.iid)
        try:
            await self._dial(call)
        except Exception:
            log.exception("outbound call %s failed", call.iid)
            if not call.result:
                await self._failed(call, "error")
        finally:
            if ref is not None:
                # an answered outgoing call is followed by its queue's wrap-up
                wrap = call.queue.id if call.queue is not None and call.result == "answered" \
                    else None
                busy.end(ref, wrapup_queue_id=wrap)
            self.calls.discard(call)
            for sip in (call.agent_sip, call.customer_sip):
                if sip is not None and not sip.is_ended:
                    await _quiet(sip.hangup())
            media = self.b2bua.media
            if call.recorder is not None:
                media.stop_recording(call.recorder)
            for name, leg in (("agent_leg", call.agent_leg), ("customer_leg", call.customer_leg)):
                if leg is not None:
                    call.legs[name] = media.close(leg)
            self.finished.append(call.summary())

    async def _dial(self, call: OutCall) -> None:
        b2bua = self.b2bua
        media = b2bua.media
        agent = await asyncio.to_thread(b2bua.directory.agent, call.agent_id)
        targets = b2bua._targets(agent) if agent is not None else []
        if not targets:
            log.info("outbound %s: agent %s has no phone", call.iid, call.agent_id)
            await self._failed(call, "agent-unreachable")
            return
        trunk = self.trunk
        if trunk is None:
            await self._failed(call, "no-route")
            return
        try:
            call.agent_leg = await media.allocate_leg()
        except MediaError as exc:
            log.warning("no RTP port for an outbound agent leg: %s", exc)
            await self._failed(call, "no-media")
            return
        ring_s = float(call.queue.ring_timeout_s) if call.queue is not None else DEFAULT_RING_S
        label = "Callback" if call.kind == "callback" else "Call"
        queue_name = f" ({call.queue.name})" if call.queue is not None else ""
        winner = await self._ring_agent(call, targets, ring_s,
                                        f"{label} {call.number}{queue_name}")
        if winner is None:
            await self._failed(call, "agent-no-answer")
            return
        call.agent_sip = winner
        # the agent hears ringback while the customer's phone rings
        media.play(call.agent_leg, ringback(), loop=True)
        caller_id = call.caller_id or (call.queue.caller_id if call.queue is not None else "")
        call.caller_id = caller_id
        try:
            call.customer_leg = await media.allocate_leg()
        except MediaError:
            await self._failed(call, "no-media")
            return
        from_uri = f"sip:{caller_id}@{trunk.sip_domain}" if caller_id else trunk.from_uri()
        call.customer_from = from_uri
        # operators take the presented number from P-Asserted-Identity (RFC 3325) when the
        # trunk trusts us, from From otherwise: both carry the queue's number
        identity = [("P-Asserted-Identity", f"<{from_uri}>")] if caller_id else []
        try:
            customer = await b2bua.stack.invite(
                trunk.request_uri(call.number), from_uri=from_uri, from_display=None,
                body=media.offer(call.customer_leg).encode(), peer=trunk.peer,
                credentials=trunk.credentials, headers=identity)
        except (OSError, ValueError, ZvansError) as exc:
            log.warning("cannot INVITE %s through the trunk: %s", call.number, exc)
            await self._failed(call, "no-route")
            return
        call.customer_sip = customer
        customer.on_request = lambda req: self._in_dialog(call, req)
        status, response = await self._await_customer(call, customer)
        if response is None or not 200 <= status < 300:
            reason = "agent-hung-up" if status == 0 else failure_reason(status)
            await self._failed(call, reason)
            return
        try:
            media.accept_answer(call.customer_leg, response.body)
        except SdpError as exc:
            log.warning("customer %s answered with unusable SDP: %s", call.number, exc)
            await self._failed(call, "bad-sdp")
            return
        if not await self._answered(call):
            return
        media.stop(call.agent_leg)
        if call.queue is not None and call.queue.record_calls:
            day = datetime.now(UTC).strftime("%Y/%m/%d")
            data_dir = b2bua.config.data_dir
            call.recording = data_dir / "recordings" / str(call.org_id) / day / f"{call.iid}.wav"
            call.recorder = media.start_recording(call.recording, 2)
            await asyncio.to_thread(b2bua.directory.set_recording, call.iid,
                                    str(call.recording.relative_to(data_dir)))
        media.bridge(call.customer_leg, call.agent_leg, call.recorder)
        if b2bua.config.keepalive_s > 0:
            customer.start_keepalive(b2bua.config.keepalive_s)
            winner.start_keepalive(b2bua.config.keepalive_s)
        await asyncio.wait({winner.ended, customer.ended}, return_when=asyncio.FIRST_COMPLETED)
        call.result = "answered"
        for sip in (winner, customer):
            if not sip.is_ended:
                await _quiet(sip.hangup())
        await self._ended(call)

    async def _ring_agent(self, call: OutCall, targets: list[tuple[str, Any, Any]],
                          ring_s: float, display: str) -> OutgoingCall | None:
        """INVITE the agent's contacts (forked); the first 2xx within ``ring_s`` wins."""
        b2bua = self.b2bua
        assert call.agent_leg is not None
        sdp = b2bua.media.offer(call.agent_leg).encode()
        forks: list[OutgoingCall] = []
        for uri, peer, trunk in targets[: b2bua.config.max_forks]:
            from_uri = (f"sip:{call.number}@{trunk.sip_domain}" if trunk is not None
                        else f"sip:{call.number}@{b2bua.config.domain}")
            try:
                fork = await b2bua.stack.invite(
                    uri, from_uri=from_uri, from_display=display, body=sdp, peer=peer,
                    credentials=trunk.credentials if trunk is not None else None,
                    headers=[("X-Zvans-Interaction", str(call.iid)),
                             ("X-Zvans-Direction", call.kind)])
            except (OSError, ValueError, ZvansError) as exc:
                log.warning("cannot INVITE %s: %s", uri, exc)
                continue
            fork.on_request = lambda req: self._in_dialog(call, req)
            forks.append(fork)
        if not forks:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ring_s
        waits = {asyncio.ensure_future(f.final()): f for f in forks}
        winner: tuple[OutgoingCall, Response] | None = None
        try:
            while waits and winner is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                done, _ = await asyncio.wait(waits, timeout=remaining,
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
                            b2bua.spawn(_quiet(fork.hangup()))
        finally:
            for fut in waits:
                fut.cancel()
            for fork in forks:
                if (winner is None or fork is not winner[0]) and not fork.is_ended:
                    fork.cancel()
        if winner is None:
            return None
        fork, response = winner
        try:
            b2bua.media.accept_answer(call.agent_leg, response.body)
        except SdpError as exc:
            log.warning("agent %s answered with unusable SDP: %s", call.agent_id, exc)
            await _quiet(fork.hangup())
            return None
        return fork

    async def _await_customer(self, call: OutCall, customer: OutgoingCall
                              ) -> tuple[int, Response | None]:
        """(status, response); status 0 when the agent hung up first, 408 on our timeout."""
        assert call.agent_sip is not None
        final: asyncio.Future[Any] = asyncio.ensure_future(customer.final())
        agent_gone: asyncio.Future[Any] = call.agent_sip.ended
        try:
            done, _ = await asyncio.wait({final, agent_gone}, timeout=self.customer_ring_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not final.done():
                final.cancel()
        if final in done:
            response = final.result()
            return response.status, response
        customer.cancel()
        return (0 if agent_gone in done else 408), None

    async def _in_dialog(self, call: OutCall, req: IncomingRequest) -> None:
        """INFO (DTMF) is acknowledged; a re-INVITE is answered on its own leg."""
        if req.method == "INVITE" and req.request.body:
            leg = call.agent_leg if req.leg is call.agent_sip else call.customer_leg
            if leg is None or leg.is_closed:
                req.respond(481)
                return
            try:
                answer = self.b2bua.media.answer(leg, req.request.body)
            except SdpError:
                req.respond(488)
                return
            req.respond(200, body=answer.encode())
            return
        if req.method in ("UPDATE", "REFER"):
            req.respond(501)
            return
        req.respond(200)

    # --- reporting ------------------------------------------------------------------------
    async def _answered(self, call: OutCall) -> bool:
        call.answered = time.monotonic()
        b2bua = self.b2bua
        if call.kind == "callback":
            ok = await b2bua._do(b2bua.cc.callback_answered, call.org_id, call.iid)
            if not ok:  # the ACD gave up on this attempt (its own timeout): too late
                call.result = "too-late"
                return False
            b2bua.stats["callbacks_answered"] += 1
            return True
        wait = call.answered - call.started
        await asyncio.to_thread(self._write, call, "answered", {"wait_s": round(wait, 3)})
        b2bua.stats["click_to_call_answered"] += 1
        return True

    async def _ended(self, call: OutCall) -> None:
        b2bua = self.b2bua
        if call.kind == "callback":
            await b2bua._do(b2bua.cc.call_ended, call.org_id, call.iid)
            return
        talk = time.monotonic() - (call.answered or time.monotonic())
        await asyncio.to_thread(self._write, call, "completed", {"talk_s": round(talk, 3)})

    async def _failed(self, call: OutCall, reason: str) -> None:
        call.result = reason
        b2bua = self.b2bua
        b2bua.stats[f"outbound_failed:{reason}"] += 1
        log.info("%s %s to %s not connected: %s", call.kind, call.iid, call.number, reason)
        if call.kind == "callback":
            await b2bua._do(b2bua.cc.callback_failed, call.org_id, call.iid, reason)
        else:
            await asyncio.to_thread(self._write, call, None, {"reason": reason})

    def _write(self, call: OutCall, event: str | None, data: dict[str, Any]) -> None:
        """A click-to-call's interaction row and event (the ACD does not know these calls)."""
        now = datetime.now(UTC)
        with self.b2bua.directory.z.sessions.begin() as session:
            row = session.get(Interaction, call.iid)
            if row is None:
                return
            if event == "answered":
                row.answered_at = now
                row.agent_id = call.agent_id
            elif event == "completed":
                row.ended_at = now
                row.outcome = "answered"
            else:
                row.ended_at = now
                row.outcome = str(data.get("reason", "failed"))[:32]
            if event is not None:
                append_event(session, call.org_id, event, interaction_id=call.iid,
                             queue_id=row.queue_id, agent_id=call.agent_id, at=now,
                             data={"direction": "out", "callee": call.number, **data})


async def _quiet(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable
