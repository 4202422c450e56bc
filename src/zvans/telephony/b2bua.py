"""The B2BUA: turns SIP into ContactCenter commands and the ACD's decisions into SIP.

Caller leg: an INVITE to a DID is answered at once (the IVR and the queue need media), the
IVR collects a choice, ``cc.call_arrived`` puts the call in a queue and the caller hears
music and announcements. Agent leg: the ACD's ``Ring`` becomes an INVITE to every contact the
agent registered (forked; the first 200 wins) or to the agent's ``ring_target``; 180 gives the
caller ringback; 486/603/no answer tells the ACD; ``StopRinging`` CANCELs. On 200 the two
RTP legs are bridged packet for packet (nothing decoded) and, if the queue records, tapped
into a stereo WAV. A BYE on either side ends both.

Threading: ContactCenter commands write to the database, so they run on one worker thread
(one FIFO executor: the commands of a call keep their order). The thread takes every
command waiting at once and runs them as one group commit (runtime/group_executor.py: one
transaction, one commit, each command in its own SAVEPOINT); callers learn their result only
after the commit. The ACD's decisions come back through :meth:`B2bua.execute` from any
thread and are handed to the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from zvans.core.acd import (
    Announce,
    Decision,
    Overflow,
    Ring,
    StartCallback,
    StopRinging,
    ToVoicemail,
)
from zvans.errors import ZvansError
from zvans.runtime import CallControl, ContactCenter
from zvans.runtime.group_executor import GroupExecutor
from zvans.telephony.busy import AgentBusy
from zvans.telephony.directory import Directory, QueueInfo
from zvans.telephony.ivr import IvrDefinition, IvrRunner
from zvans.telephony.media import (
    AudioClip,
    MediaEngine,
    MediaError,
    MediaLeg,
    PromptCache,
    Recorder,
    SdpError,
    default_moh,
    read_wav,
)
from zvans.telephony.media.prompts import PHRASES
from zvans.telephony.queue_media import TEXTS, QueueAudio, beep
from zvans.telephony.sip import (
    CallLeg,
    IncomingCall,
    IncomingRequest,
    OutgoingCall,
    Registrar,
    Response,
    SipStack,
    TrunkConfig,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
            "inactive": "inactive"}


@dataclass
class B2buaConfig:
    domain: str = "zvans.local"
    data_dir: Path = Path("var")
    #: a leg that should be sending RTP and sent nothing for this long is hung up
    rtp_timeout_s: float = 60.0
    voicemail_max_s: float = 120.0
    #: WAV played to waiting callers; None: the generated default
    moh_file: Path | None = None
    #: outbound trunk for agents whose ring_target is a phone number
    trunk: TrunkConfig | None = None
    max_forks: int = 5
    #: in-dialog OPTIONS on answered legs this often (0: off); 408/481 ends the call
    keepalive_s: float = 30.0
    #: new calls get 503 + Retry-After while this many ContactCenter commands wait
    max_pending_commands: int = 200


class Phase(enum.Enum):
    ROUTING = "routing"
    IVR = "ivr"
    QUEUED = "queued"
    CONNECTED = "connected"
    VOICEMAIL = "voicemail"
    #: issue 7 (features.py): the caller left with a callback booked / is rating the call;
    #: the ContactCenter was told already, so the end reports nothing more
    CALLBACK = "callback"
    RATING = "rating"
    ENDED = "ended"


@dataclass(eq=False)
class AgentOffer:
    """One Ring: the INVITE forks towards one agent for one call."""

    agent_id: int
    call: InboundCall
    leg: MediaLeg | None = None
    forks: list[OutgoingCall] = field(default_factory=list)
    winner: OutgoingCall | None = None
    #: StopRinging or the caller left: the failure is not ours to report
    withdrawn: bool = False
    ringing: bool = False

    def withdraw(self) -> None:
        self.withdrawn = True
        for fork in self.forks:
            if fork is not self.winner and not fork.is_ended:
                fork.cancel()


@dataclass(eq=False)
class InboundCall:
    sip: IncomingCall
    leg: MediaLeg
    caller: str
    org_id: int = 0
    did: str = ""
    iid: int | None = None
    phase: Phase = Phase.ROUTING
    queue: QueueInfo | None = None
    audio: QueueAudio | None = None
    offer: AgentOffer | None = None
    agent_id: int | None = None
    agent_sip: OutgoingCall | None = None
    agent_leg: MediaLeg | None = None
    recorder: Recorder | None = None
    recording: Path | None = None
    voicemail: Recorder | None = None
    digits: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[Any] | None = None
    ivr_task: asyncio.Future[Any] | None = None
    started: float = field(default_factory=time.monotonic)
    rx_seen: dict[int, tuple[int, float]] = field(default_factory=dict)
    end_reported: bool = False
    #: packets we played to the caller (IVR, music, announcements) before the bridge
    sent_before_bridge: int = 0


class B2bua:
    def __init__(self, stack: SipStack, media: MediaEngine, cc: ContactCenter,
                 directory: Directory, config: B2buaConfig, *,
                 registrar: Registrar | None = None) -> None:
        self.stack = stack
        self.media = media
        self.cc = cc
        self.directory = directory
        self.config = config
        self.registrar = registrar or stack.registrar
        self.prompts = PromptCache(config.data_dir / "prompts")
        self.moh: AudioClip = read_wav(config.moh_file) if config.moh_file else default_moh()
        self.calls: set[InboundCall] = set()
        self.by_iid: dict[int, InboundCall] = {}
        self.stats: Counter[str] = Counter()
        #: the last calls' summaries (phase reached, RTP counters, recording), newest last
        self.finished: deque[dict[str, Any]] = deque(maxlen=1000)
        self.fallback: CallControl | None = None
        #: issue 7's call features (features.CallFeatures), set by start_telephony
        self.features: Any = None
        self._executor = GroupExecutor(cc, name="zvans-cc", initializer=self._note_thread)
        self._cc_thread = -1
        #: ContactCenter commands submitted and not finished (the database's backlog)
        self.pending_commands = 0
        self._arriving: InboundCall | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: in-call controls (controls.Controls: hold, transfer, conference, monitoring)
        self.controls: Any = None
        #: agents on calls the ACD did not route (busy.py, docs/decisions/0014)
        self.busy = AgentBusy(self)

    # --- wiring ---------------------------------------------------------------------------
    def install(self) -> None:
        """Take over the stack's INVITEs and the ACD's call control (others fall through)."""
        self._loop = asyncio.get_running_loop()
        self.stack.on_invite = self.on_invite
        previous = self.cc.call_control
        self.fallback = None if previous is self else previous
        self.cc.call_control = self
        self._watchdog = self._loop.create_task(self._watch(), name="zvans-b2bua-watchdog")
        self.media.on_lost = self._media_lost  # a media worker died (media/workers.py)

    async def close(self) -> None:
        if self.cc.call_control is self:
            self.cc.call_control = self.fallback or _Null()
        if self._watchdog is not None:
            self._watchdog.cancel()
        for call in list(self.calls):
            await self._hangup_all(call, "shutdown")
        pending = [t for t in self._tasks if t is not asyncio.current_task()]
        if pending:  # let the BYEs just spawned leave before the stack stops
            await asyncio.wait(pending, timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        self._executor.shutdown(wait=True, cancel_futures=False)
        self.busy.close()  # nothing may stay busy: the legs are gone

    def _note_thread(self) -> None:
        self._cc_thread = threading.get_ident()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("B2BUA task failed", exc_info=task.exception())

    async def _cc(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Run a ContactCenter command on the command thread; None if it refused."""
        loop = asyncio.get_running_loop()
        self.pending_commands += 1
        try:
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        except ZvansError as exc:
            log.info("contact center refused %s: %s (%s)", getattr(fn, "__name__", fn),
                     exc.message, exc.code)
            self.stats["cc_refused"] += 1
            return None
        finally:
            self.pending_commands -= 1

    async def _do(self, fn: Callable[..., Any], *args: Any) -> bool:
        """A ContactCenter command without a result: True if it was accepted."""
        loop = asyncio.get_running_loop()
        self.pending_commands += 1
        try:
            await loop.run_in_executor(self._executor, lambda: fn(*args))
        except ZvansError as exc:
            log.info("contact center refused %s: %s (%s)", getattr(fn, "__name__", fn),
                     exc.message, exc.code)
            self.stats["cc_refused"] += 1
            return False
        finally:
            self.pending_commands -= 1
        return True

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def _look_up(self, kind: str, fn: Callable[[Any], T], key: Any) -> T:
        """A directory row: from its cache on the loop, else from the database on a thread
        (a thread hop costs more CPU than the cached lookup itself)."""
        hit = self.directory.cached(kind, key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        return await asyncio.to_thread(fn, key)

    # --- call control (the ACD's decisions) -------------------------------------------------
    def execute(self, org_id: int, decision: Decision) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        arriving = self._arriving
        if arriving is not None and decision.call_id not in self.by_iid \
                and threading.get_ident() == self._cc_thread:
            self._bind(arriving, decision.call_id)
        loop.call_soon_threadsafe(self._decide, org_id, decision)

    def _bind(self, call: InboundCall, iid: int) -> None:
        call.iid = iid
        self.by_iid[iid] = call

    def _decide(self, org_id: int, decision: Decision) -> None:
        if isinstance(decision, StartCallback) and self.features is not None:
            self.features.on_start_callback(org_id, decision)  # outbound.py dials it
            return
        call_id = decision.call_id
        call = self.by_iid.get(call_id)
        if call is None or call.phase is Phase.ENDED:
            if self.fallback is not None:
                try:
                    self.fallback.execute(org_id, decision)
                except Exception:
                    log.exception("fallback call control failed")
            return
        if isinstance(decision, Ring):
            self.spawn(self._ring(call, decision))
        elif isinstance(decision, StopRinging):
            offer = call.offer
            if offer is not None and offer.agent_id == decision.agent_id:
                offer.withdraw()
        elif isinstance(decision, Announce):
            if self.features is not None and self.features.on_announce(call, decision):
                return  # the announcement ends with the callback offer
            if call.audio is not None and call.phase is Phase.QUEUED and call.offer is None:
                call.audio.announce(decision.position, decision.ewt_s)
        elif isinstance(decision, Overflow):
            if decision.target.startswith("queue:"):
                self.spawn(self._moved(call, int(decision.target.removeprefix("queue:"))))
        elif isinstance(decision, ToVoicemail):
            self.spawn(self._voicemail(call, decision.reason))
        elif self.fallback is not None:
            self.fallback.execute(org_id, decision)

    # --- the caller -------------------------------------------------------------------------
    async def on_invite(self, sip: IncomingCall) -> None:
        self.stats["invites"] += 1
        if self.pending_commands >= self.config.max_pending_commands:
            # the ACD/database cannot keep up: refuse now rather than queue a caller whose
            # every step would wait behind hundreds of commands (Retry-After, as overload)
            self.stats["backlog_503"] += 1
            sip.reject(503, headers=[("Retry-After", "5")])
            return
        route = await self._look_up("route", self.directory.route, sip.number)
        if route is None and sip.authenticated_user and self.controls is not None:
            await self.controls.phone.on_invite(sip)  # a consultation from an agent's phone
            return
        if route is None:
            log.info("INVITE to %r (user %s): no such number", sip.number,
                     sip.authenticated_user)
            sip.reject(404)
            return
        try:
            leg = await self.media.allocate_leg()
        except MediaError as exc:
            log.warning("no RTP port for a new call: %s", exc)
            sip.reject(503, headers=[("Retry-After", "5")])
            return
        try:
            answer = self.media.answer(leg, sip.request.body)
        except SdpError as exc:
            self.media.close(leg)
            sip.reject(488, headers=[("Warning", f'304 zvans "{exc.message[:80]}"')])
            return
        if sip.is_ended:  # CANCEL while we looked the number up
            self.media.close(leg)
            return
        caller = sip.caller.uri.user_unescaped or "anonymous"
        call = InboundCall(sip=sip, leg=leg, caller=caller[:64], org_id=route.org_id,
                           did=route.did)
        self.calls.add(call)
        leg.on_dtmf = lambda d: call.digits.put_nowait(d.digit)
        sip.on_request = lambda req: self._in_dialog(call, req)
        sip.ended.add_done_callback(lambda f: self._caller_gone(call, f.result()))
        sip.answer(answer.encode())
        self.stats["answered"] += 1
        if self.config.keepalive_s > 0:
            sip.start_keepalive(self.config.keepalive_s)
        call.task = self.spawn(self._run(call, route.queue_id, route.ivr_id))

    async def _run(self, call: InboundCall, queue_id: int | None, ivr_id: int | None) -> None:
        topic = ""
        bonus = 0.0
        if ivr_id is not None:
            row = await self._db(self.directory.ivr, ivr_id)
            call.iid = await self._cc(self.cc.ivr_entered, call.org_id, call.caller, call.did)
            if call.iid is None:
                await self._hangup_all(call, "cc-refused")
                return
            self.by_iid[call.iid] = call
            if call.phase is Phase.ENDED:  # hung up while the call was being registered
                await self._do(self.cc.ivr_abandoned, call.org_id, call.iid)
                self._forget(call)
                return
            call.phase = Phase.IVR
            language = row.language if row is not None else "en"
            try:
                if row is None:
                    raise ZvansError("the IVR of this number no longer exists", code="no-ivr")
                definition = IvrDefinition.parse(row.definition, language)
            except ZvansError as exc:
                log.error("IVR %s cannot run: %s", ivr_id, exc.message)
                await self._goodbye(call, language)
                return
            runner = IvrRunner(self.media, self.prompts, call.leg, call.digits)
            call.ivr_task = asyncio.ensure_future(runner.run(definition))
            try:
                result = await call.ivr_task
            except asyncio.CancelledError:
                if call.phase is Phase.ENDED:
                    return  # the caller hung up: _caller_done reported ivr_abandoned
                raise
            finally:
                call.ivr_task = None
            if call.phase is not Phase.IVR:
                return
            if result.option is not None:
                queue_id = result.option.queue_id
                topic = result.option.topic
                await self._do(self.cc.ivr_choice, call.org_id, call.iid, result.choice, topic)
            else:
                queue_id = definition.on_fail_queue
                if queue_id is None:
                    await self._goodbye(call, language, definition.goodbye.text)
                    return
            if self.features is not None:  # PIN identification (pin.py), if the IVR asks
                bonus = await self.features.identify(call, row, language)
                if call.phase is not Phase.IVR:
                    return
        assert queue_id is not None
        if call.phase is Phase.ENDED:
            return
        await self._enqueue(call, queue_id, topic, bonus)

    def _arrive(self, call: InboundCall, queue_id: int) -> int:
        """On the command thread: a call without an IVR enters its queue; ``call_arrived``
        creates the interaction, and its decisions (Ring...) name an id we do not know yet:
        :meth:`execute` binds them to ``self._arriving`` (only this thread's command can
        produce them while it runs). One transaction per call less than creating the
        interaction first."""
        self._arriving = call
        try:
            iid = self.cc.call_arrived(call.org_id, queue_id, call.caller, did=call.did)
        finally:
            self._arriving = None
        # in a group commit the decisions are handed over after the commit, when
        # ``_arriving`` is gone: bind now (the loop only reads ``by_iid``)
        self._bind(call, iid)
        return iid

    async def _enqueue(self, call: InboundCall, queue_id: int, topic: str,
                       bonus: float = 0.0) -> None:
        queue = await self._look_up("queue", self.directory.queue, queue_id)
        if queue is None or queue.org_id != call.org_id:
            log.error("call %s: queue %s does not exist", call.iid, queue_id)
            await self._goodbye(call, "en")
            return
        if call.phase is Phase.ENDED:
            return
        call.queue = queue
        call.audio = QueueAudio(self.media, self.prompts, call.leg, self.moh, queue.language)
        call.phase = Phase.QUEUED
        call.audio.music()
        if call.iid is None:
            iid = await self._cc(self._arrive, call, queue_id)
            if iid is not None:
                self._bind(call, iid)
                if call.phase is Phase.ENDED:  # hung up while the call was being queued
                    if not call.end_reported:
                        call.end_reported = True
                        await self._do(self.cc.caller_abandoned, call.org_id, iid)
                    self._forget(call)
                    return
            done = iid
        else:
            done = await self._cc(self.cc.call_arrived, call.org_id, queue_id, call.caller,
                                  did=call.did, ivr_topic=topic, interaction_id=call.iid,
                                  priority_bonus_s=bonus)
        if done is None and call.phase is Phase.QUEUED:
            await self._goodbye(call, queue.language)

    async def _moved(self, call: InboundCall, queue_id: int) -> None:
        queue = await self._look_up("queue", self.directory.queue, queue_id)
        if queue is not None:
            call.queue = queue
            if call.audio is not None:
                call.audio.language = queue.language

    async def _goodbye(self, call: InboundCall, language: str, text: str = "") -> None:
        """Say goodbye and hang up (the IVR failed, or the call cannot be queued)."""
        phase = call.phase
        call.phase = Phase.ENDED
        try:
            clip = await self.prompts.speak(language if language in PHRASES["goodbye"] else "en",
                                            text or PHRASES["goodbye"].get(language, "")
                                            or PHRASES["goodbye"]["en"])
            if not call.sip.is_ended:
                await self.media.play(call.leg, clip).wait()
        except Exception as exc:
            log.error("goodbye prompt failed: %s", exc)
        call.phase = phase
        await self._caller_done(call, "goodbye")

    def _caller_gone(self, call: InboundCall, reason: str) -> None:
        if reason == "local-bye" or call.phase is Phase.ENDED:
            return
        self.spawn(self._caller_done(call, reason))

    async def _caller_done(self, call: InboundCall, reason: str) -> None:
        """The caller's leg ended (BYE, dead media, goodbye): tell the ACD what it was."""
        phase = call.phase
        if phase is Phase.ENDED:
            return
        call.phase = Phase.ENDED
        self.stats[f"caller_end:{phase.value}"] += 1
        if call.ivr_task is not None:
            call.ivr_task.cancel()
        offer = call.offer
        if offer is not None:
            offer.withdraw()
        if call.audio is not None:
            call.audio.stop()
        if not call.sip.is_ended:
            self.spawn(_quiet(call.sip.hangup()))
        if call.agent_sip is not None and not call.agent_sip.is_ended:
            self.spawn(_quiet(call.agent_sip.hangup()))
        summary = self._summary(call, phase, reason)
        iid = call.iid
        if iid is not None:
            call.end_reported = True
            if phase is Phase.IVR:
                await self._do(self.cc.ivr_abandoned, call.org_id, iid)
            elif phase is Phase.QUEUED:
                await self._do(self.cc.caller_abandoned, call.org_id, iid)
            elif phase is Phase.CONNECTED:
                if self.controls is None or not await self.controls.call_ending(call):
                    await self._do(self.cc.call_ended, call.org_id, iid)
            elif phase is Phase.VOICEMAIL:
                await self._finish_voicemail(call)
        self._forget(call)
        self.finished.append(summary)
        log.info("call %s from %s ended in %s (%s)", iid, call.caller, phase.value, reason)

    def _summary(self, call: InboundCall, phase: Phase, reason: str) -> dict[str, Any]:
        """Close the call's media and describe it (tests and the benchmark read these)."""
        recording_s = None
        if call.recorder is not None:
            recording_s = self.media.stop_recording(call.recorder)
        caller = self.media.close(call.leg)
        agent = self.media.close(call.agent_leg) if call.agent_leg is not None else None
        return {
            "interaction_id": call.iid, "phase": phase.value, "reason": reason,
            "caller": call.caller, "agent_id": call.agent_id,
            "queue_id": call.queue.id if call.queue is not None else None,
            "caller_leg": caller, "agent_leg": agent,
            "sent_before_bridge": call.sent_before_bridge,
            "announcements": call.audio.announcements if call.audio is not None else 0,
            "recording": str(call.recording) if call.recording is not None else None,
            "recording_s": recording_s,
            "seconds": round(time.monotonic() - call.started, 3),
        }

    def _forget(self, call: InboundCall) -> None:
        self.calls.discard(call)
        if call.iid is not None and self.by_iid.get(call.iid) is call:
            del self.by_iid[call.iid]

    async def _hangup_all(self, call: InboundCall, reason: str) -> None:
        if call.agent_sip is not None and not call.agent_sip.is_ended:
            await _quiet(call.agent_sip.hangup())
        await self._caller_done(call, reason)

    def _media_lost(self, legs: list[MediaLeg]) -> None:
        """A media worker died: the calls it relayed end (BYE to both sides)."""
        lost = {leg.id for leg in legs}
        for call in list(self.calls):
            if call.leg.id in lost or (call.agent_leg is not None and call.agent_leg.id in lost):
                self.stats["media_worker_lost"] += 1
                self.spawn(self._hangup_all(call, "media-worker-lost"))

    # --- in-dialog requests (both legs) -----------------------------------------------------
    async def _in_dialog(self, call: InboundCall, req: IncomingRequest) -> None:
        caller_side = req.leg is call.sip
        leg = call.leg if caller_side else call.agent_leg
        method = req.method
        if leg is None or leg.is_closed:
            req.respond(481)
            return
        if method == "INFO":
            ctype = req.request.headers.get("Content-Type") or ""
            if "dtmf" in ctype.lower():
                try:
                    digit = self.media.info_dtmf(leg, req.request.body, ctype)
                except MediaError:
                    req.respond(400)
                    return
                self.stats["info_dtmf"] += 1
                if not caller_side and call.agent_sip is not None:
                    log.debug("agent sent DTMF %s", digit.digit)
            req.respond(200)
            return
        if method == "INVITE":
            await self._reinvite(call, req, leg, caller_side)
            return
        if method == "UPDATE":
            req.respond(501)
        elif method == "REFER" and self.controls is not None and not caller_side:
            await self.controls.on_refer(call, req)  # blind transfer from the agent's phone
        elif method == "REFER":
            req.respond(405, headers=[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO")])
        else:
            req.respond(200)

    async def _reinvite(self, call: InboundCall, req: IncomingRequest, leg: MediaLeg,
                        caller_side: bool) -> None:
        """Answer a re-INVITE (hold, resume, new address) and pass the hold to the other leg."""
        body = req.request.body
        if not body:
            req.respond(200, body=req.leg.local_body)
            return
        before = leg.negotiated.direction if leg.negotiated is not None else "sendrecv"
        try:
            answer = self.media.answer(leg, body)
        except SdpError:
            req.respond(488)
            return
        req.respond(200, body=answer.encode())
        after = leg.negotiated.direction if leg.negotiated is not None else "sendrecv"
        other_sip: CallLeg | None = call.agent_sip if caller_side else call.sip
        other_leg = call.agent_leg if caller_side else call.leg
        if not caller_side and after != before and self.controls is not None \
                and call.phase is Phase.CONNECTED and await self.controls.phone_hold(call, after):
            return  # the agent's phone holds: the caller hears music (controls.py)
        if after == before or call.phase is not Phase.CONNECTED or other_sip is None \
                or other_leg is None or other_sip.is_ended:
            return
        self.stats["hold_passed" if after != "sendrecv" else "resume_passed"] += 1
        offer = self.media.offer(other_leg, direction=_REVERSE[after])  # type: ignore[arg-type]
        response = await other_sip.reinvite(offer.encode())
        if 200 <= response.status < 300 and response.body:
            with contextlib.suppress(SdpError):
                self.media.accept_answer(other_leg, response.body)

    # --- agents -----------------------------------------------------------------------------
    async def _ring(self, call: InboundCall, ring: Ring) -> None:
        if call.offer is not None:
            call.offer.withdraw()
        offer = AgentOffer(ring.agent_id, call)
        call.offer = offer
        self.stats["rings"] += 1
        agent = await self._look_up("agent", self.directory.agent, ring.agent_id)
        queue = call.queue
        targets = self._targets(agent) if agent is not None else []
        if not targets:
            log.info("agent %s has no phone registered: offer %s rejected", ring.agent_id,
                     call.iid)
            self.stats["agent_unreachable"] += 1
            await self._offer_failed(offer)
            return
        if offer.withdrawn or call.phase is not Phase.QUEUED:
            await self._offer_ended(offer)
            return
        try:
            offer.leg = await self.media.allocate_leg()
        except MediaError as exc:
            log.warning("no RTP port for an agent leg: %s", exc)
            await self._offer_failed(offer)
            return
        sdp = self.media.offer(offer.leg).encode()
        display = call.caller
        if queue is not None:
            display = f"{call.caller} ({queue.name})"
        for uri, peer, trunk in targets[: self.config.max_forks]:
            if trunk is not None:
                from_uri = trunk.from_uri()
                if queue is not None and queue.caller_id:
                    from_uri = f"sip:{queue.caller_id}@{trunk.sip_domain}"
                credentials = trunk.credentials
            else:
                from_uri = f"sip:{_sip_user(call.caller)}@{self.config.domain}"
                credentials = None
            try:
                fork = await self.stack.invite(
                    uri, from_uri=from_uri, from_display=display, body=sdp, peer=peer,
                    credentials=credentials,
                    headers=[("X-Zvans-Interaction", str(call.iid))],
                )
            except (OSError, ValueError, ZvansError) as exc:
                log.warning("cannot INVITE %s: %s", uri, exc)
                continue
            fork.on_provisional = lambda resp, o=offer: self._ringing(o, resp)
            fork.on_request = lambda req, c=call: self._in_dialog(c, req)
            offer.forks.append(fork)
        if not offer.forks:
            await self._offer_failed(offer)
            return
        self.stats["agent_invites"] += len(offer.forks)
        if offer.withdrawn:
            offer.withdraw()
        await self._await_forks(offer)

    def _targets(self, agent: Any) -> list[tuple[str, Any, TrunkConfig | None]]:
        target = (agent.ring_target or "").strip()
        if target:
            if target.startswith(("sip:", "sips:")):
                return [(target, None, None)]
            trunk = self.config.trunk
            if trunk is None:
                log.warning("agent %s rings %r but no trunk is configured", agent.user_id,
                            target)
                return []
            return [(trunk.request_uri(target), trunk.peer, trunk)]
        if self.registrar is None or not agent.sip_username:
            return []
        return [(str(b.contact.uri), b.source, None)
                for b in self.registrar.contacts_for(agent.sip_username)]

    def _ringing(self, offer: AgentOffer, response: Response) -> None:
        call = offer.call
        if response.status in (180, 183) and not offer.ringing and not offer.withdrawn \
                and call.offer is offer and call.phase is Phase.QUEUED:
            offer.ringing = True
            if call.audio is not None:
                call.audio.ringback()

    async def _await_forks(self, offer: AgentOffer) -> None:
        waits = {asyncio.ensure_future(f.final()): f for f in offer.forks}
        failures: list[int] = []
        while waits:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                fork = waits.pop(fut)
                response = fut.result()
                if 200 <= response.status < 300:
                    if offer.winner is None and not offer.withdrawn:
                        offer.winner = fork
                        for other in offer.forks:
                            if other is not fork and not other.is_ended:
                                other.cancel()
                        self.spawn(self._connect(offer, fork, response))
                    else:
                        self.spawn(_quiet(fork.hangup()))  # crossed our CANCEL: bye
                else:
                    failures.append(response.status)
        if offer.winner is None:
            self.stats["agent_failures"] += 1
            log.info("agent %s did not take call %s (%s)", offer.agent_id, offer.call.iid,
                     failures or "withdrawn")
            if offer.withdrawn:
                await self._offer_ended(offer)
            else:
                await self._offer_failed(offer)

    async def _offer_failed(self, offer: AgentOffer) -> None:
        """The agent refused or could not be reached: the ACD picks the next agent."""
        call = offer.call
        await self._offer_ended(offer)
        if not offer.withdrawn and call.iid is not None and call.phase is Phase.QUEUED:
            offer.withdrawn = True
            await self._do(self.cc.offer_rejected, call.org_id, offer.agent_id, call.iid)

    async def _offer_ended(self, offer: AgentOffer) -> None:
        call = offer.call
        if offer.leg is not None and offer.winner is None:
            self.media.close(offer.leg)
        if call.offer is offer:
            call.offer = None
            if call.phase is Phase.QUEUED and call.audio is not None:
                call.audio.music()

    async def _connect(self, offer: AgentOffer, fork: OutgoingCall, response: Response) -> None:
        call = offer.call
        leg = offer.leg
        assert leg is not None
        try:
            self.media.accept_answer(leg, response.body)
        except SdpError as exc:
            log.warning("agent %s answered with unusable SDP: %s", offer.agent_id, exc)
            await _quiet(fork.hangup())
            offer.winner = None
            await self._offer_failed(offer)
            return
        if offer.withdrawn or call.phase is not Phase.QUEUED or call.iid is None:
            await _quiet(fork.hangup())
            self.media.close(leg)
            return
        path = self._recording_path(call) \
            if call.queue is not None and call.queue.record_calls else None
        ok = await self._do(functools.partial(
            self.cc.offer_answered, recording_ref=str(path.relative_to(self.config.data_dir))
            if path is not None else None), call.org_id, offer.agent_id, call.iid)
        if not ok and call.phase is Phase.QUEUED:
            # the ring timed out in the ACD while the 200 was on its way: too late
            await _quiet(fork.hangup())
            self.media.close(leg)
            if call.offer is offer:
                call.offer = None
            return
        if call.phase is not Phase.QUEUED:
            await _quiet(fork.hangup())
            self.media.close(leg)
            return
        call.phase = Phase.CONNECTED
        call.offer = None
        call.agent_id = offer.agent_id
        call.agent_sip = fork
        call.agent_leg = leg
        if call.audio is not None:
            call.audio.stop()
        call.sent_before_bridge = call.leg.tx_packets
        if path is not None:  # its place is in the database since offer_answered
            call.recording = path
            call.recorder = self.media.start_recording(path, 2)
        self.media.bridge(call.leg, leg, call.recorder)
        self.stats["connected"] += 1
        if self.config.keepalive_s > 0:
            fork.start_keepalive(self.config.keepalive_s)
        fork.ended.add_done_callback(lambda f: self._agent_gone(call, fork, f.result()))

    def _recording_path(self, call: InboundCall) -> Path:
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        return self.config.data_dir / "recordings" / str(call.org_id) / day / f"{call.iid}.wav"

    def _agent_gone(self, call: InboundCall, fork: OutgoingCall, reason: str) -> None:
        if reason == "local-bye" or call.agent_sip is not fork or call.phase is Phase.ENDED:
            return
        if self.controls is not None and self.controls.continues_without_agent(call):
            self.spawn(self.controls.agent_left(call))  # a conference goes on without them
            return
        if self.controls is not None:  # parties Zvans dialled (supervisor...) leave too
            self.spawn(self.controls.call_ending(call))
        if self.features is not None and self.features.on_agent_hangup(call, reason):
            return  # the caller stays on the line to rate the call
        self.spawn(self._caller_done(call, f"agent {reason}"))

    # --- voicemail --------------------------------------------------------------------------
    async def _voicemail(self, call: InboundCall, reason: str) -> None:
        if call.phase not in (Phase.QUEUED, Phase.IVR):
            return
        call.phase = Phase.VOICEMAIL
        if call.offer is not None:
            call.offer.withdraw()
        language = call.queue.language if call.queue is not None else "en"
        audio = call.audio or QueueAudio(self.media, self.prompts, call.leg, self.moh, language)
        call.audio = audio
        texts = PHRASES["out_of_hours"] if reason == "out-of-hours" else TEXTS["voicemail"]
        try:
            clip = await self.prompts.speak(language if language in texts else "en",
                                            texts.get(language) or texts["en"])
            await audio.say(clip)
            await audio.say(beep())
        except Exception as exc:
            log.error("voicemail greeting failed: %s", exc)
        if call.phase is not Phase.VOICEMAIL or call.leg.is_closed:
            return
        path = self.config.data_dir / "voicemail" / str(call.org_id) / f"{call.iid}.wav"
        call.voicemail = self.media.start_recording(path, 1)
        self.media.listen(call.leg, call.voicemail)
        # registered now, so the message is in the unanswered register even if we crash
        ref = str(path.relative_to(self.config.data_dir))
        await self._do(self.cc.voicemail_started, call.org_id, call.iid, ref)
        await asyncio.sleep(self.config.voicemail_max_s)
        if call.phase is Phase.VOICEMAIL:
            await self._caller_done(call, "voicemail-full")

    async def _finish_voicemail(self, call: InboundCall) -> None:
        recorder = call.voicemail
        call.voicemail = None
        assert call.iid is not None
        if recorder is None:
            await self._do(self.cc.caller_abandoned, call.org_id, call.iid)
            return
        duration = self.media.stop_recording(recorder)
        await self._do(self.cc.recording_started, call.org_id, call.iid,
                       str(recorder.path.relative_to(self.config.data_dir)))
        await self._do(self.cc.voicemail_left, call.org_id, call.iid, duration)
        self.stats["voicemails"] += 1
        log.info("voice message of %.1f s from %s", duration, call.caller)

    # --- dead calls -------------------------------------------------------------------------
    async def _watch(self, period: float = 2.0) -> None:
        while True:
            await asyncio.sleep(min(period, self.config.rtp_timeout_s / 2))
            now = time.monotonic()
            for call in list(self.calls):
                if call.phase is Phase.ENDED or not call.sip.answered:
                    continue
                for leg in (call.leg, call.agent_leg):
                    if leg is None or leg.is_closed or leg.negotiated is None:
                        continue
                    seen = call.rx_seen.get(leg.id)
                    if seen is None or seen[0] != leg.rx_packets or not leg.negotiated.we_receive:
                        call.rx_seen[leg.id] = (leg.rx_packets, now)
                    elif now - seen[1] > self.config.rtp_timeout_s:
                        log.warning("call %s: no RTP on %r for %.0f s: hanging up", call.iid,
                                    leg, now - seen[1])
                        self.stats["rtp_timeouts"] += 1
                        await self._hangup_all(call, "rtp-timeout")
                        break

    # --- views ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        phases = Counter(call.phase.value for call in self.calls)
        return {"calls": len(self.calls), "phases": dict(phases), "stats": dict(self.stats),
                "media": self.media.counters(), "sip": dict(self.stack.stats)}


class _Null:
    def execute(self, org_id: int, decision: Decision) -> None:
        return None


async def _quiet(awaitable: Any) -> None:
    """Hang up / BYE without letting a dead peer's error escape."""
    try:
        await awaitable
    except Exception as exc:
        log.debug("hangup failed: %s", exc)


def _sip_user(number: str) -> str:
    keep = "".join(c for c in number if c.isalnum() or c in "+-_.")
    return keep or "anonymous"
