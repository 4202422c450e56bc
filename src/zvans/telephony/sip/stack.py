"""The user-agent core: transports + transactions + dialogs, and the call legs the B2BUA uses.

Incoming call::

    async def on_invite(call: IncomingCall) -> None:
        call.provisional(180)                     # ringing (creates the early dialog)
        call.answer(sdp_answer)                   # 200 OK, retransmitted until ACK
        reason = await call.ended                 # "remote-bye", "local-bye", "no-ack"...

    stack.on_invite = on_invite

Outgoing call::

    leg = await stack.invite("sip:agent@192.0.2.7:5062", from_uri="sip:queue@zvans",
                             body=sdp_offer)
    leg.on_provisional = lambda resp: ...     # 180/183 (ringback to the caller)
    final = await leg.final()                 # 2xx (ACK already sent) or the failure
    ...
    await leg.hangup()                        # CANCEL before answer, BYE after

SDP stays an opaque body here: the media package owns offer/answer.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..random_pool import random_hex
from .auth import AuthResult, CredentialLookup, DigestServer, build_authorization, pick_challenge
from .clock import LoopScheduler, Scheduler, TimerHandle
from .dialog import Dialog, DialogId, DialogState, new_call_id, new_tag
from .errors import InvalidTransition, SipParseError
from .message import REASONS, Request, Response, make_response
from .registrar import Registrar
from .security import IpAllowList, RateLimiter, is_authorised_to_dial
from .transaction import (
    MAGIC_COOKIE,
    ClientTransaction,
    InviteServerTransaction,
    ServerTransaction,
    TimerConfig,
    TransactionLayer,
)
from .transport import Peer, TransportManager
from .uri import NameAddr, SipUri, Via

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY, REGISTER"
SUPPORTED: frozenset[str] = frozenset()
DIALOG_METHODS = frozenset({"BYE", "INFO", "UPDATE", "REFER", "NOTIFY", "PRACK"})


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    udp_port: int | None = 5060
    tcp_port: int | None = 5060
    public_host: str | None = None
    contact_user: str = "zvans"
    user_agent: str = "Zvans"
    timers: TimerConfig = field(default_factory=TimerConfig)
    realm: str = "zvans"
    #: numbers anyone may call (normalised by ``security.normalise_number``)
    dids: frozenset[str] = frozenset()
    #: sources trusted like a trunk (operator's SBC): no auth, DIDs only
    trusted_sources: tuple[str, ...] = ()
    #: if set, authenticated users may dial only numbers with these prefixes
    allowed_prefixes: tuple[str, ...] | None = None
    rate: float = 50.0
    burst: float = 200.0
    max_lag: float = 0.5
    retry_after: int = 5
    #: an incoming INVITE the application leaves unanswered this long gets 480 (0: never)
    invite_timeout: float = 600.0


def _maybe_task(stack: SipStack, result: object) -> None:
    if inspect.isawaitable(result):
        stack.spawn(result)


class IncomingRequest:
    """A request inside a dialog handed to the application (re-INVITE, INFO, REFER...)."""

    def __init__(self, leg: CallLeg, request: Request, txn: ServerTransaction) -> None:
        self.leg = leg
        self.request = request
        self.txn = txn

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def refer_to(self) -> NameAddr | None:
        """The transfer target of a REFER (``Refer-To``/``r``), or None if absent or bad."""
        value = self.request.headers.get("Refer-To")
        if value is None:
            return None
        try:
            return NameAddr.parse(value)
        except SipParseError:
            return None

    def respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        body: bytes = b"",
        content_type: str = "application/sdp",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        dialog = self.leg.dialog
        assert dialog is not None
        resp = self.leg.stack.response(self.request, status, reason, headers=headers)
        _set_to_tag(resp, dialog.local_tag)
        if body:
            resp.headers.add("Content-Type", content_type)
            resp.body = body
        if self.method == "INVITE" and 200 <= status < 300:
            resp.headers.add("Contact", dialog.local_contact)
            self.leg.local_body = body or self.leg.local_body
            self.leg._send_2xx(self.txn, resp)
            return
        self.txn.respond(resp)


class CallLeg:
    """What both call directions share: the dialog, its end, in-dialog requests."""

    def __init__(self, stack: SipStack, request: Request, peer: Peer) -> None:
        self.stack = stack
        self.request = request
        self.peer = peer
        self.dialog: Dialog | None = None
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.local_body = b""
        self.remote_body = request.body
        #: the application's handler for in-dialog requests (re-INVITE, INFO, REFER...)
        self.on_request: Callable[[IncomingRequest], Awaitable[None] | None] | None = None
        #: (username, password) answering challenges to our requests (outgoing legs)
        self.credentials: tuple[str, str] | None = None
        #: set when the dialog is confirmed: ACK received (incoming) or sent (outgoing)
        self.confirmed = asyncio.Event()
        self._pending_2xx: dict[int, _Reliable2xx] = {}
        #: ACKs we sent for 2xx to our INVITEs, by CSeq: re-sent on each 2xx retransmission
        self._acks: dict[int, tuple[bytes, Peer] | None] = {}

    @property
    def call_id(self) -> str:
        return self.request.call_id

    async def next_peer(self) -> Peer:
        """Where our next in-dialog request goes (§12.2.1.1, with NAT repairs).

        The first Route or the remote target, as the RFC says — except without a route
        set when (a) the dialog runs over TCP: reuse the peer's connection, a phone behind
        NAT cannot be connected to; (b) the remote target is a private address but the
        peer talks to us from another one: the phone is behind NAT, use the address its
        packets come from (Asterisk's ``rewrite_contact``/``force_rport``).
        """
        dialog = self.dialog
        assert dialog is not None
        if not dialog.route_set:
            if self.peer.reliable and dialog.transport == self.peer.transport:
                return self.peer
            if _behind_nat(dialog.remote_target.host, self.peer.host):
                return self.peer
        return await self.stack.peer_for(dialog.next_hop(), dialog.transport)

    @property
    def is_ended(self) -> bool:
        return self.ended.done()

    def _end(self, reason: str) -> None:
        for pending in self._pending_2xx.values():
            pending.stop()
        self._pending_2xx.clear()
        if self.dialog is not None:
            self.dialog.terminate(reason)
            self.stack._dialogs.pop(self.dialog.id, None)
        if isinstance(self, IncomingCall):
            self.stack._invite_index.pop(self.invite_key, None)
        if not self.ended.done():
            self.ended.set_result(reason)
            self.stack.stats[f"leg_ended:{reason}"] += 1
            if self.stack.on_leg_ended is not None:
                self.stack.on_leg_ended(self, reason)

    # --- in-dialog requests from us ---
    async def request_in_dialog(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str = "application/sdp",
        headers: Iterable[tuple[str, str]] = (),
    ) -> Response:
        if self.dialog is None or self.dialog.state is DialogState.TERMINATED:
            raise InvalidTransition("call leg", "no dialog", method)
        hdrs = list(headers)
        if body:
            hdrs.append(("Content-Type", content_type))
        req = self.dialog.create_request(method, body=body, headers=hdrs)
        peer = await self.next_peer()
        on_2xx = self._on_any_2xx if method == "INVITE" else None
        response = await self.stack.send_request(req, peer, on_2xx=on_2xx)
        if response.status in (401, 407) and self.credentials is not None:
            auth = _answer_challenge(response, method, req.uri, self.credentials)
            if auth is not None:  # an operator challenging in-dialog requests: once more
                req = self.dialog.create_request(method, body=body, headers=[*hdrs, auth])
                response = await self.stack.send_request(req, peer, on_2xx=on_2xx)
        if method == "INVITE" and 200 <= response.status < 300:
            self.local_body = body or self.local_body
        elif response.status in (408, 481):
            self._end(f"{method.lower()}-{response.status}")
        return response

    async def bye(self) -> Response:
        """End a confirmed dialog; waits for the BYE's final response (or 408)."""
        self._end("local-bye")
        if self.dialog is None:
            raise InvalidTransition("call leg", "no dialog", "BYE")
        req = self.dialog.create_request("BYE")
        peer = await self.next_peer()
        response = await self.stack.send_request(req, peer)
        if response.status in (401, 407) and self.credentials is not None:
            auth = _answer_challenge(response, "BYE", req.uri, self.credentials)
            if auth is not None:
                req = self.dialog.create_request("BYE", headers=[auth])
                response = await self.stack.send_request(req, peer)
        return response

    def start_keepalive(self, interval: float) -> None:
        """Probe the confirmed dialog with an in-dialog OPTIONS every ``interval`` seconds;
        a 408 (no answer) or 481 (the peer forgot the dialog) ends the leg with
        ``options-408``/``options-481``: a dead phone or a crashed peer is noticed without
        relying on RFC 4028 session timers, which many phones do not implement."""

        async def loop() -> None:
            while not self.is_ended:
                await asyncio.sleep(interval)
                if self.is_ended or self.dialog is None or not self.dialog.active:
                    return
                await self.request_in_dialog("OPTIONS")

        self.stack.spawn(loop())

    async def reinvite(self, body: bytes, content_type: str = "application/sdp") -> Response:
        return await self.request_in_dialog("INVITE", body=body, content_type=content_type)

    async def info(self, body: bytes, content_type: str) -> Response:
        return await self.request_in_dialog("INFO", body=body, content_type=content_type)

    async def hangup(self) -> None:
        raise NotImplementedError

    # --- in-dialog requests from the peer ---
    def _dialog_request(self, request: Request, txn: ServerTransaction) -> None:
        assert self.dialog is not None
        if not self.dialog.accept_remote_cseq(request):
            txn.respond(self.stack.response(request, 500, "CSeq out of order"))
            return
        if request.method == "BYE":
            txn.respond(self._tagged(request, 200))
            self._on_remote_bye()
            return
        if request.method == "INVITE":
            if self._pending_2xx or self._has_pending_invite():
                txn.respond(self._tagged(request, 491))
                return
            self.dialog.refresh_target(request)
            if request.body:
                self.remote_body = request.body
        inreq = IncomingRequest(self, request, txn)
        if self.on_request is not None:
            try:
                _maybe_task(self.stack, self.on_request(inreq))
            except Exception:
                log.exception("on_request handler failed")
                txn.respond(self._tagged(request, 500))
            return
        if request.method == "INVITE":
            inreq.respond(200, body=self.local_body)
        elif request.method == "REFER":
            inreq.respond(405, headers=[("Allow", ALLOW)])
        elif request.method == "UPDATE" and request.body:
            inreq.respond(488)  # a new offer needs the application (media) to answer
        else:
            inreq.respond(200)  # INFO, OPTIONS, NOTIFY, and UPDATE as a session refresh

    def _has_pending_invite(self) -> bool:
        return False

    def _on_remote_bye(self) -> None:
        self._end("remote-bye")

    def _tagged(self, request: Request, status: int) -> Response:
        resp = self.stack.response(request, status)
        if self.dialog is not None:
            _set_to_tag(resp, self.dialog.local_tag)
        return resp

    def _on_ack(self, request: Request) -> None:
        number, _ = request.cseq
        pending = self._pending_2xx.pop(number, None)
        if pending is not None:
            pending.stop()
            self.confirmed.set()
        if request.body:
            self.remote_body = request.body

    def _on_any_2xx(self, response: Response) -> None:
        """A 2xx to one of our INVITEs (first or retransmitted): ACK it (§13.2.2.4)."""
        number, _ = response.cseq
        if number in self._acks:
            sent = self._acks[number]
            if sent is not None:
                self.stack.transport.send(*sent)
            return
        dialog = self.dialog
        if dialog is None:
            return
        dialog.refresh_target(response)
        if response.body:
            self.remote_body = response.body
        ack = dialog.create_request("ACK", cseq=number)
        if dialog.is_uac:  # same credentials as the INVITE (§22.1); never the caller's
            for name in ("Authorization", "Proxy-Authorization"):
                for value in self.request.headers.get_all(name):
                    ack.headers.add(name, value)
        self._acks[number] = None
        self.stack.spawn(self._send_ack(ack, number))

    async def _send_ack(self, ack: Request, number: int) -> None:
        assert self.dialog is not None
        peer = await self.next_peer()
        self.stack._add_via(ack, peer, branch=None)
        data = ack.to_bytes()
        self._acks[number] = (data, peer)
        self.stack.transport.send(data, peer)
        self.confirmed.set()

    def _send_2xx(self, txn: ServerTransaction, response: Response) -> None:
        """§13.3.1.4: the TU retransmits its 2xx to INVITE until the ACK comes."""
        number, _ = response.cseq
        txn.respond(response)
        self._pending_2xx[number] = _Reliable2xx(self, response.to_bytes(), txn.peer, number)


class _Reliable2xx:
    def __init__(self, leg: CallLeg, data: bytes, peer: Peer, cseq: int) -> None:
        self.leg = leg
        self.data = data
        self.peer = peer
        self.cseq = cseq
        timers = leg.stack.timers
        self.interval = timers.t1
        self.deadline = leg.stack.scheduler.now() + timers.timeout
        self.handle: TimerHandle | None = leg.stack.scheduler.call_later(self.interval, self.fire)
        self.sent = 1

    def fire(self) -> None:
        stack = self.leg.stack
        if stack.scheduler.now() >= self.deadline:
            self.handle = None
            self.leg._pending_2xx.pop(self.cseq, None)
            stack.stats["no_ack"] += 1
            log.warning("no ACK for 2xx on %s: hanging up", self.leg.call_id)
            if self.leg.dialog is not None and self.leg.dialog.active:
                stack.spawn(self._bye())
            return
        self.sent += 1
        stack.stats["2xx_retransmitted"] += 1
        stack.transport.send(self.data, self.peer)
        self.interval = min(2 * self.interval, stack.timers.t2)
        self.handle = stack.scheduler.call_later(self.interval, self.fire)

    async def _bye(self) -> None:
        self.leg._end("no-ack")
        dialog = self.leg.dialog
        if dialog is None:
            return
        req = dialog.create_request("BYE")
        peer = await self.leg.next_peer()
        await self.leg.stack.send_request(req, peer)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class IncomingCall(CallLeg):
    """An INVITE we received.  The application answers it with the methods below."""

    def __init__(
        self,
        stack: SipStack,
        request: Request,
        peer: Peer,
        txn: InviteServerTransaction,
        authenticated_user: str | None,
    ) -> None:
        super().__init__(stack, request, peer)
        self.txn = txn
        self.authenticated_user = authenticated_user
        self.local_tag = new_tag()
        self.invite_key = _invite_key(request)
        self.cancelled = False
        #: called (sync) when the caller sends CANCEL before we answered
        self.on_cancel: Callable[[IncomingCall], None] | None = None

    @property
    def number(self) -> str:
        """The dialled number (Request-URI user part, unescaped)."""
        return self.request.request_uri.user_unescaped or ""

    @property
    def caller(self) -> NameAddr:
        return self.request.from_

    @property
    def answered(self) -> bool:
        return self.dialog is not None and self.dialog.state is DialogState.CONFIRMED

    def _ensure_dialog(self) -> Dialog:
        if self.dialog is None:
            self.dialog = Dialog.from_uas(
                self.request,
                self.local_tag,
                self.stack.contact(self.peer.transport),
                self.peer.transport,
            )
            self.stack._dialogs[self.dialog.id] = self
        return self.dialog

    def _check_open(self, what: str) -> None:
        if self.txn.final_sent or self.is_ended:
            raise InvalidTransition("incoming call", "final response sent", what)

    def provisional(
        self,
        status: int = 180,
        *,
        body: bytes = b"",
        content_type: str = "application/sdp",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """180 Ringing / 183 Session Progress (with early media SDP)."""
        self._check_open(f"send {status}")
        if not 100 < status < 200:
            raise ValueError("provisional status must be 101-199")
        dialog = self._ensure_dialog()
        resp = self.stack.response(self.request, status, headers=headers)
        _set_to_tag(resp, self.local_tag)
        resp.headers.add("Contact", dialog.local_contact)
        if body:
            resp.headers.add("Content-Type", content_type)
            resp.body = body
        self.txn.respond(resp)

    def answer(
        self,
        body: bytes,
        *,
        content_type: str = "application/sdp",
        headers: Iterable[tuple[str, str]] = (),
    ) -> Dialog:
        """200 OK; retransmitted until the ACK arrives (or BYE after 64·T1)."""
        self._check_open("answer")
        dialog = self._ensure_dialog()
        resp = self.stack.response(self.request, 200, headers=headers)
        _set_to_tag(resp, self.local_tag)
        resp.headers.add("Contact", dialog.local_contact)
        if body:
            resp.headers.add("Content-Type", content_type)
            resp.body = body
        self.local_body = body
        dialog.confirm()
        self.stack._incoming.pop(self.txn.key, None)
        self._send_2xx(self.txn, resp)
        return dialog

    def reject(
        self,
        status: int = 486,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Refuse the call with a 3xx-6xx final response."""
        self._check_open(f"send {status}")
        if status < 300:
            raise ValueError("reject needs a 3xx-6xx status")
        resp = self.stack.response(self.request, status, reason, headers=headers)
        _set_to_tag(resp, self.local_tag)
        self.txn.respond(resp)
        self.stack._incoming.pop(self.txn.key, None)
        self._end("rejected" if not self.cancelled else "cancelled")

    async def hangup(self) -> None:
        if self.is_ended:
            return
        if not self.txn.final_sent:
            self.reject(480)
        else:
            await self.bye()

    def _expire(self) -> None:
        """Safety net: the application never gave a final answer."""
        if not self.txn.final_sent and not self.is_ended:
            log.warning("INVITE %s unanswered for too long: 480", self.call_id)
            self.reject(480)

    def _on_cancel(self) -> None:
        if self.txn.final_sent:
            return
        self.cancelled = True
        if self.on_cancel is not None:
            try:
                self.on_cancel(self)
            except Exception:
                log.exception("on_cancel handler failed")
        if not self.txn.final_sent:
            self.reject(487)

    def _on_remote_bye(self) -> None:
        if not self.txn.final_sent:  # BYE in an early dialog: terminate the INVITE too
            self.reject(487)
        self._end("remote-bye")

    def _has_pending_invite(self) -> bool:
        return not self.txn.final_sent


class OutgoingCall(CallLeg):
    """An INVITE we sent (agent leg, outbound trunk call)."""

    def __init__(
        self,
        stack: SipStack,
        request: Request,
        peer: Peer,
        credentials: tuple[str, str] | None,
    ) -> None:
        super().__init__(stack, request, peer)
        self.remote_body = b""
        self.local_body = request.body
        self.credentials = credentials
        self.on_provisional: Callable[[Response], None] | None = None
        self.provisionals: list[Response] = []
        self._final: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._txn: ClientTransaction | None = None
        self._auth_tries = 0
        self._cancel_wanted = False
        self._cancel_sent = False

    def _start(self) -> None:
        self._txn = self.stack.layer.send_request(
            self.request, self.peer, self._on_response, self._on_timeout
        )

    async def final(self) -> Response:
        """The final response (after auth retries). 408 if the peer never answered."""
        return await asyncio.shield(self._final)

    def _on_timeout(self, reason: str) -> None:
        if not self._final.done():
            self._final.set_result(self.stack.response(self.request, 408, f"Timeout ({reason})"))
        self._end("timeout")

    def _on_response(self, response: Response) -> None:
        status = response.status
        if status < 200:
            self.provisionals.append(response)
            if status > 100 and response.to.tag and self.dialog is None and response.contacts:
                self.dialog = Dialog.from_uac(self.request, response, self.peer.transport)
                self.stack._dialogs[self.dialog.id] = self
            if self._cancel_wanted and not self._cancel_sent:
                self._send_cancel()
            if self.on_provisional is not None:
                try:
                    self.on_provisional(response)
                except Exception:
                    log.exception("on_provisional handler failed")
            return
        if status < 300:
            self._on_2xx(response)
            return
        if status in (401, 407) and self._retry_with_auth(response):
            return
        if self.dialog is not None:
            self.stack._dialogs.pop(self.dialog.id, None)
        if not self._final.done():
            self._final.set_result(response)
        self._end("cancelled" if self._cancel_sent else "rejected")

    def _on_2xx(self, response: Response) -> None:
        tag = response.to.tag or ""
        if self.dialog is not None and self.dialog.state is DialogState.CONFIRMED:
            if self.dialog.remote_tag != tag:
                self._refuse_fork(response)
            else:  # 2xx retransmission: repeat the ACK
                self._on_any_2xx(response)
            return
        if self.dialog is None or self.dialog.remote_tag != tag:
            if self.dialog is not None:
                self.stack._dialogs.pop(self.dialog.id, None)
            self.dialog = Dialog.from_uac(self.request, response, self.peer.transport)
            self.stack._dialogs[self.dialog.id] = self
        else:
            routes = [NameAddr.parse(v) for v in response.headers.get_all("Record-Route")]
            if routes:
                routes.reverse()
                self.dialog.route_set = routes
        self.dialog.confirm()
        self._on_any_2xx(response)
        if not self._final.done():
            self._final.set_result(response)
        if self._cancel_wanted:
            self.stack.spawn(self.bye())  # the 200 crossed our CANCEL

    def _refuse_fork(self, response: Response) -> None:
        """A second 2xx from another fork: ACK it and hang it up at once (§13.2.2.4)."""
        fork = Dialog.from_uac(self.request, response, self.peer.transport)
        number, _ = response.cseq

        async def ack_and_bye() -> None:
            peer = await self.stack.peer_for(fork.next_hop(), fork.transport)
            self.stack.send_stateless(fork.create_request("ACK", cseq=number), peer)
            await self.stack.send_request(fork.create_request("BYE"), peer)

        self.stack.stats["forks_refused"] += 1
        self.stack.spawn(ack_and_bye())

    def _retry_with_auth(self, response: Response) -> bool:
        if self.credentials is None or self._auth_tries >= 2:
            return False
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenge = pick_challenge(response.headers.get_all(header))
        if challenge is None:
            return False
        self._auth_tries += 1
        username, password = self.credentials
        old = self.request
        req = Request(method="INVITE", uri=old.uri, body=old.body)
        for name, value in old.headers.items():
            if name in ("Via", "CSeq", "Authorization", "Proxy-Authorization"):
                continue
            req.headers.add(name, value)
        req.headers.set("CSeq", f"{old.cseq[0] + 1} INVITE")
        auth_name = "Authorization" if response.status == 401 else "Proxy-Authorization"
        req.headers.add(
            auth_name,
            build_authorization(challenge, "INVITE", old.uri, username, password=password),
        )
        self.stack._add_via(req, self.peer, branch=None)
        self.request = req
        self._start()
        return True

    def cancel(self) -> None:
        """CANCEL the INVITE (sent once a provisional has arrived, §9.1)."""
        if self._final.done() or self._cancel_wanted:
            return
        self._cancel_wanted = True
        if self.provisionals:
            self._send_cancel()

    def _send_cancel(self) -> None:
        self._cancel_sent = True
        self.stack.scheduler.call_later(self.stack.timers.timeout, self._cancel_expired)
        old = self.request
        req = Request(method="CANCEL", uri=old.uri)
        req.headers.add("Via", old.headers.get("Via") or "")
        req.headers.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            req.headers.add(name, old.headers.get(name) or "")
        req.headers.add("CSeq", f"{old.cseq[0]} CANCEL")
        for route in old.headers.get_all("Route"):
            req.headers.add("Route", route)
        self.stack.spawn(self.stack.send_request(req, self.peer, add_via=False))

    def _cancel_expired(self) -> None:
        """No final answer 64·T1 after our CANCEL: give the INVITE up (§9.1)."""
        if not self._final.done():
            self._final.set_result(self.stack.response(self.request, 408, "Cancel timeout"))
            if self._txn is not None:
                self._txn._terminate("cancel timeout")
            self._end("cancelled")

    async def hangup(self) -> None:
        if self.is_ended:
            return
        if not self._final.done():
            self.cancel()
            return
        await self.bye()


_NAT_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)


def _nat_private(host: str) -> bool | None:
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return any(addr in net for net in _NAT_NETWORKS if net.version == addr.version)


def _behind_nat(target_host: str, source_host: str) -> bool:
    """An RFC 1918/6598/4193 target while packets come from a non-private address."""
    return _nat_private(target_host) is True and _nat_private(source_host) is False


def _answer_challenge(
    response: Response, method: str, uri: str, credentials: tuple[str, str]
) -> tuple[str, str] | None:
    """The (header, value) answering a 401/407, or None if no usable challenge."""
    header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
    challenge = pick_challenge(response.headers.get_all(header))
    if challenge is None:
        return None
    name = "Authorization" if response.status == 401 else "Proxy-Authorization"
    return name, build_authorization(
        challenge, method, uri, credentials[0], password=credentials[1]
    )


def _invite_key(request: Request) -> tuple[str, str, int]:
    return (request.call_id, request.from_.tag or "", request.cseq[0])


def _set_to_tag(response: Response, tag: str) -> None:
    value = response.headers.get("To")
    if value is None:
        return
    try:
        addr = NameAddr.parse(value)
    except SipParseError:
        return
    if addr.tag is None:
        response.headers.set("To", f"{value};tag={tag}")


class SipStack:
    """One SIP endpoint: listens, routes requests, keeps dialogs, places calls."""

    def __init__(
        self,
        config: StackConfig | None = None,
        *,
        scheduler: Scheduler | None = None,
        registrar: Registrar | None = None,
        digest: DigestServer | None = None,
        lookup: CredentialLookup | None = None,
        lag_probe: Callable[[], float] | None = None,
    ) -> None:
        self.config = config or StackConfig()
        self.scheduler: Scheduler = scheduler or LoopScheduler()
        self.timers = self.config.timers
        self.transport = TransportManager(
            self._on_message, self._on_parse_error, self._on_send_error
        )
        self.layer = TransactionLayer(self.transport.send, self.scheduler, self.timers)
        self.layer.tu_request = self._on_request
        self.layer.tu_ack = self._on_ack
        self.layer.tu_stray_response = self._on_stray_response
        self.registrar = registrar
        self.digest = digest or (registrar.digest if registrar is not None else None)
        self.lookup = lookup or (registrar.lookup if registrar is not None else None)
        self.lag_probe = lag_probe
        # an operator's SBC carries every caller's traffic: never rate-limit it
        self.rate_limiter = RateLimiter(
            self.config.rate, self.config.burst, exempt=self.config.trusted_sources
        )
        self.trusted = IpAllowList(self.config.trusted_sources)
        self.stats: Counter[str] = Counter()
        #: application hooks
        self.on_invite: Callable[[IncomingCall], Awaitable[None] | None] | None = None
        self.on_leg_ended: Callable[[CallLeg, str], None] | None = None
        self._dialogs: dict[DialogId, CallLeg] = {}
        self._incoming: dict[tuple[str, ...], IncomingCall] = {}
        #: live incoming calls by (Call-ID, From tag, CSeq): catches merged requests and
        #: retransmissions arriving after the transaction is gone (>64·T1 late)
        self._invite_index: dict[tuple[str, str, int], IncomingCall] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ---
    async def start(self) -> None:
        cfg = self.config
        if cfg.udp_port is not None:
            await self.transport.listen_udp(cfg.host, cfg.udp_port)
        if cfg.tcp_port is not None:
            port = cfg.tcp_port
            if port == 0 and "UDP" in self.transport.addresses:
                port = self._same_port_or_zero(self.transport.addresses["UDP"][1])
            await self.transport.listen_tcp(cfg.host, port)

    def _same_port_or_zero(self, port: int) -> int:
        """Try to use the UDP port for TCP too (nicer to read); 0 if it is taken."""
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((self.config.host, port))
            except OSError:
                return 0
        return port

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for leg in list(self._dialogs.values()):
            for pending in leg._pending_2xx.values():
                pending.stop()
        self.layer.shutdown()
        await self.transport.close()

    @property
    def addresses(self) -> dict[str, tuple[str, int]]:
        return dict(self.transport.addresses)

    def port(self, transport: str = "UDP") -> int:
        return self.transport.addresses[transport.upper()][1]

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Task[Any]:
        async def run() -> Any:
            try:
                return await awaitable
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("SIP task failed")
                return None

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- addressing ---
    def local_address(self, transport: str) -> tuple[str, int]:
        host, port = self.transport.addresses.get(transport) or next(
            iter(self.transport.addresses.values())
        )
        host = self.config.public_host or host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # IPv6 reference in Via/Contact (RFC 3261 §19.1.1)
        return host, port

    def contact(self, transport: str = "UDP") -> str:
        host, port = self.local_address(transport)
        suffix = ";transport=tcp" if transport == "TCP" else ""
        return f"<sip:{self.config.contact_user}@{host}:{port}{suffix}>"

    async def peer_for(self, uri: SipUri, default_transport: str = "UDP") -> Peer:
        """Where to send a request for ``uri`` (no DNS SRV/NAPTR: A/AAAA records only)."""
        transport = uri.transport or default_transport
        if transport not in ("UDP", "TCP"):
            transport = "UDP"
        port = uri.port or 5060
        host = uri.host.strip("[]")
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            host = str(infos[0][4][0])
        return Peer(transport, host, port)

    def _add_via(self, request: Request, peer: Peer, branch: str | None) -> None:
        host, port = self.local_address(peer.transport)
        branch = branch or f"{MAGIC_COOKIE}{random_hex(10)}"
        request.headers.remove("Via")
        via = Via(
            transport=peer.transport, host=host, port=port, params={"branch": branch, "rport": None}
        )
        request.headers.add("Via", str(via))
        if "Max-Forwards" not in request.headers:
            request.headers.add("Max-Forwards", "70")
        if "User-Agent" not in request.headers and request.method != "ACK":
            request.headers.add("User-Agent", self.config.user_agent)

    def response(
        self,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Response:
        resp = make_response(request, status, reason, headers=headers)
        resp.headers.add("Server", self.config.user_agent)
        return resp

    # --- sending ---
    def send_stateless(self, request: Request, peer: Peer) -> None:
        """Send without a transaction (ACK for 2xx)."""
        if "Via" not in request.headers:
            self._add_via(request, peer, branch=None)
        self.transport.send(request.to_bytes(), peer)

    async def send_request(
        self,
        request: Request,
        peer: Peer,
        *,
        add_via: bool = True,
        on_2xx: Callable[[Response], None] | None = None,
    ) -> Response:
        """Send through a client transaction; resolves with the final response.

        Provisional responses are skipped; a timeout resolves with a local 408.
        """
        if add_via:
            self._add_via(request, peer, branch=None)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def on_response(resp: Response) -> None:
            if on_2xx is not None and 200 <= resp.status < 300:
                on_2xx(resp)  # every copy: the first and each retransmission
            if resp.status >= 200 and not future.done():
                future.set_result(resp)

        def on_timeout(reason: str) -> None:
            if not future.done():
                future.set_result(make_response(request, 408, f"Timeout ({reason})"))

        self.layer.send_request(request, peer, on_response, on_timeout)
        return await future

    async def request(
        self,
        method: str,
        uri: str,
        *,
        peer: Peer | None = None,
        from_uri: str | None = None,
        to_uri: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        credentials: tuple[str, str] | None = None,
        call_id: str | None = None,
        cseq: int = 1,
    ) -> Response:
        """An out-of-dialog non-INVITE request (OPTIONS, REGISTER, MESSAGE...).

        Answers one 401/407 challenge when ``credentials`` are given.
        """
        target = SipUri.parse(uri)
        if peer is None:
            peer = await self.peer_for(target)
        host, _ = self.local_address(peer.transport)
        from_uri = from_uri or f"sip:{self.config.contact_user}@{host}"
        call_id = call_id or new_call_id(host)
        from_tag = new_tag()
        extra = list(headers)
        response: Response | None = None
        for attempt in range(3):
            req = Request(method=method, uri=uri, body=body)
            req.headers.add("From", f"<{from_uri}>;tag={from_tag}")
            req.headers.add("To", f"<{to_uri or uri}>")
            req.headers.add("Call-ID", call_id)
            req.headers.add("CSeq", f"{cseq + attempt} {method}")
            for name, value in extra:
                req.headers.add(name, value)
            if body and content_type:
                req.headers.add("Content-Type", content_type)
            response = await self.send_request(req, peer)
            if response.status not in (401, 407) or credentials is None or attempt == 2:
                return response
            header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            challenge = pick_challenge(response.headers.get_all(header))
            if challenge is None:
                return response
            auth = build_authorization(
                challenge, method, uri, credentials[0], password=credentials[1]
            )
            name = "Authorization" if response.status == 401 else "Proxy-Authorization"
            extra = [(n, v) for n, v in extra if n.lower() != name.lower()] + [(name, auth)]
        assert response is not None
        return response

    async def invite(
        self,
        target: str,
        *,
        from_uri: str,
        to_uri: str | None = None,
        from_display: str | None = None,
        body: bytes = b"",
        content_type: str = "application/sdp",
        headers: Iterable[tuple[str, str]] = (),
        peer: Peer | None = None,
        credentials: tuple[str, str] | None = None,
        call_id: str | None = None,
    ) -> OutgoingCall:
        """Start an outgoing call; returns at once with the leg (await ``leg.final()``)."""
        target_uri = SipUri.parse(target)
        if peer is None:
            peer = await self.peer_for(target_uri)
        host, _ = self.local_address(peer.transport)
        req = Request(method="INVITE", uri=target, body=body)
        from_addr = NameAddr(uri=SipUri.parse(from_uri), display=from_display)
        req.headers.add("From", str(from_addr.with_tag(new_tag())))
        req.headers.add("To", f"<{to_uri or target}>")
        req.headers.add("Call-ID", call_id or new_call_id(host))
        req.headers.add("CSeq", f"{int(random_hex(2), 16) + 1} INVITE")
        req.headers.add("Contact", self.contact(peer.transport))
        req.headers.add("Allow", ALLOW)
        for name, value in headers:
            req.headers.add(name, value)
        if body:
            req.headers.add("Content-Type", content_type)
        self._add_via(req, peer, branch=None)
        leg = OutgoingCall(self, req, peer, credentials)
        leg._start()
        self.stats["invites_sent"] += 1
        return leg

    # --- receiving ---
    def _on_message(self, message: Request | Response, peer: Peer) -> None:
        if isinstance(message, Response):
            self.layer.receive_response(message, peer)
            return
        if not self.rate_limiter.allow(peer.host):
            self.stats["rate_limited"] += 1
            if self.rate_limiter.refused % 100 == 1:
                log.warning("rate limit: dropping requests from %s", peer.host)
            return
        self.layer.receive_request(message, peer)

    def _on_parse_error(self, error: SipParseError, peer: Peer) -> None:
        self.stats["parse_errors"] += 1
        log.info("bad message from %s: %s", peer, error.reason)
        stub = error.stub
        if stub is None or stub.method == "ACK":
            return
        if not self.rate_limiter.allow(peer.host):
            return
        reason = REASONS.get(error.status, "Bad Request")
        detail = "".join(c for c in error.reason if 32 <= ord(c) < 127)[:80]
        try:
            resp = make_response(stub, error.status, f"{reason} ({detail})")
            self.transport.send(resp.to_bytes(), peer)
        except (ValueError, SipParseError):
            return

    def _on_send_error(self, peer: Peer, exc: Exception) -> None:
        self.layer.transport_failed(peer)

    def _on_ack(self, request: Request, peer: Peer) -> None:
        try:
            did = DialogId(request.call_id, request.to.tag or "", request.from_.tag or "")
        except SipParseError:
            return
        leg = self._dialogs.get(did)
        if leg is not None:
            leg._on_ack(request)

    def _on_stray_response(self, response: Response, peer: Peer) -> None:
        try:
            did = DialogId(response.call_id, response.from_.tag or "", response.to.tag or "")
        except SipParseError:
            return
        leg = self._dialogs.get(did)
        if leg is not None and 200 <= response.status < 300 and response.cseq[1] == "INVITE":
            leg._on_any_2xx(response)

    def _on_request(self, request: Request, txn: ServerTransaction, peer: Peer) -> None:
        method = request.method
        if method == "INVITE":
            assert isinstance(txn, InviteServerTransaction)
            txn.respond(self.response(request, 100))
        if method == "CANCEL":
            self._on_cancel(request, txn)
            return
        try:
            to_tag = request.to.tag
            from_tag = request.from_.tag or ""
        except SipParseError:
            txn.respond(self.response(request, 400))
            return
        unsupported = self._unsupported(request)
        if unsupported:
            txn.respond(self.response(request, 420, headers=[("Unsupported", unsupported)]))
            return
        if to_tag:
            leg = self._dialogs.get(DialogId(request.call_id, to_tag, from_tag))
            if leg is None:
                txn.respond(self.response(request, 481))
                return
            leg._dialog_request(request, txn)
            return
        lag = self.lag_probe() if self.lag_probe is not None else 0.0
        if lag > self.config.max_lag and method != "OPTIONS":
            self.stats["overload_503"] += 1
            txn.respond(
                self.response(request, 503, headers=[("Retry-After", str(self.config.retry_after))])
            )
            return
        if method == "INVITE":
            assert isinstance(txn, InviteServerTransaction)
            if _invite_key(request) in self._invite_index:
                self.stats["invite_merged_or_late"] += 1
                txn.respond(self.response(request, 482))
                return
            self.spawn(self._on_new_invite(request, txn, peer))
        elif method == "OPTIONS":
            txn.respond(self._options_response(request))
        elif method == "REGISTER":
            if self.registrar is None:
                txn.respond(self.response(request, 405, headers=[("Allow", ALLOW)]))
            else:
                self.spawn(self._on_register(request, txn, peer))
        elif method in DIALOG_METHODS:
            txn.respond(self.response(request, 481))
        elif method in ("MESSAGE", "SUBSCRIBE", "PUBLISH"):
            txn.respond(self.response(request, 405, headers=[("Allow", ALLOW)]))
        else:
            txn.respond(self.response(request, 501))

    def _unsupported(self, request: Request) -> str:
        if request.method in ("ACK", "CANCEL"):
            return ""
        tags: list[str] = []
        for value in request.headers.get_all("Require"):
            tags.extend(t.strip() for t in value.split(",") if t.strip())
        return ", ".join(t for t in tags if t.lower() not in SUPPORTED)

    def _options_response(self, request: Request) -> Response:
        return self.response(
            request,
            200,
            headers=[("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", "")],
        )

    def _on_cancel(self, request: Request, txn: ServerTransaction) -> None:
        invite_txn = self.layer.find_invite_server(request)
        if invite_txn is None:
            txn.respond(self.response(request, 481))
            return
        call = self._incoming.get(invite_txn.key)
        resp = self.response(request, 200)
        if call is not None:
            _set_to_tag(resp, call.local_tag)
        txn.respond(resp)
        if call is not None:
            call._on_cancel()
        elif not invite_txn.final_sent:
            invite_txn.respond(self.response(invite_txn.request, 487))

    async def _on_register(self, request: Request, txn: ServerTransaction, peer: Peer) -> None:
        assert self.registrar is not None
        response = await self.registrar.handle(request, peer)
        response.headers.add("Server", self.config.user_agent)
        txn.respond(response)

    async def _authorise_invite(
        self, request: Request, txn: InviteServerTransaction, peer: Peer
    ) -> tuple[bool, str | None]:
        """Toll-fraud gate. Returns (allowed, authenticated user); answers refusals itself."""
        uri = request.request_uri
        number = uri.user_unescaped or ""
        cfg = self.config
        if is_authorised_to_dial(number, dids=cfg.dids, authenticated_user=None):
            return True, None
        if self.trusted.contains(peer.host):
            txn.respond(self.response(request, 404))
            return False, None
        outcome = None
        if self.digest is not None and self.lookup is not None:
            outcome = await self.digest.verify(request, self.lookup, proxy=True)
            if outcome.result is AuthResult.OK:
                user = outcome.username
                if is_authorised_to_dial(
                    number,
                    dids=cfg.dids,
                    authenticated_user=user,
                    allowed_prefixes=cfg.allowed_prefixes,
                ):
                    return True, user
                log.warning(
                    "toll-fraud guard: user %s may not dial %r (from %s)", user, number, peer
                )
                txn.respond(self.response(request, 403, "Number not allowed"))
                return False, None
            known_phone = self.registrar is not None and self.registrar.has_source(peer.host)
            if outcome.result is AuthResult.STALE or (
                outcome.result is AuthResult.MISSING and known_phone
            ):
                txn.respond(
                    self.response(
                        request,
                        407,
                        headers=self.digest.challenge_headers(
                            proxy=True, stale=outcome.result is AuthResult.STALE
                        ),
                    )
                )
                return False, None
        self.stats["toll_fraud_refused"] += 1
        log.warning(
            "toll-fraud guard: refused %s INVITE from %s (From %s) to %r",
            "unauthenticated"
            if outcome is None or outcome.result is not AuthResult.FAILED
            else "badly authenticated",
            peer,
            request.headers.get("From"),
            number,
        )
        txn.respond(self.response(request, 403))
        return False, None

    async def _on_new_invite(
        self, request: Request, txn: InviteServerTransaction, peer: Peer
    ) -> None:
        try:
            contacts = request.contacts
        except SipParseError:
            contacts = []
        if not contacts:
            txn.respond(self.response(request, 400, "Missing Contact"))
            return
        allowed, user = await self._authorise_invite(request, txn, peer)
        if not allowed or txn.final_sent:  # refused, or CANCELled while we checked
            return
        if self.on_invite is None:
            txn.respond(self.response(request, 480))
            return
        call = IncomingCall(self, request, peer, txn, user)
        self._incoming[txn.key] = call
        self._invite_index[call.invite_key] = call
        if self.config.invite_timeout:
            self.scheduler.call_later(self.config.invite_timeout, call._expire)
        txn.on_timeout = lambda _txn: call._end("no-ack")
        self.stats["calls_in"] += 1
        try:
            result = self.on_invite(call)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_invite failed")
            if not txn.final_sent:
                call.reject(500)
