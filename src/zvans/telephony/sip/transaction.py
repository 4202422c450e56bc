"""The RFC 3261 §17 transaction layer (with the RFC 6026 "Accepted" state).

Four state machines — INVITE client (ICT), non-INVITE client (NICT), INVITE server (IST),
non-INVITE server (NIST) — each an enum state plus a checked transition table.  Timers A,
B, D, E, F, G, H, I, J, K (and L, M from RFC 6026) run on an injected :class:`Scheduler`,
so tests drive them on a virtual clock.

Transactions live in two dicts keyed by (branch, sent-by, method) for servers and
(branch, method) for clients: matching is O(1) whatever the call rate.

RFC 6026 matters for a B2BUA: after a 2xx, the INVITE server transaction stays in
*Accepted* for 64·T1 and swallows retransmitted INVITEs, so a late retransmission can
never start a second call.  The 2xx itself is retransmitted by the TU (the dialog layer,
see ``stack.py``) until the ACK arrives, as §13.3.1.4 asks.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from .clock import Scheduler, TimerHandle
from .errors import InvalidTransition, SipParseError
from .message import Request, Response
from .transport import Peer

log = logging.getLogger(__name__)

MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 base timers; tests shrink them, production keeps the defaults."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def timeout(self) -> float:
        """64·T1: timers B, F, H, J, L, M."""
        return 64 * self.t1


class TxState(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


S = TxState
_T = S.TERMINATED
TRANSITIONS: dict[str, dict[TxState, frozenset[TxState]]] = {
    "ICT": {
        S.CALLING: frozenset({S.PROCEEDING, S.COMPLETED, S.ACCEPTED, _T}),
        S.PROCEEDING: frozenset({S.PROCEEDING, S.COMPLETED, S.ACCEPTED, _T}),
        S.COMPLETED: frozenset({_T}),
        S.ACCEPTED: frozenset({_T}),
    },
    "NICT": {
        S.TRYING: frozenset({S.PROCEEDING, S.COMPLETED, _T}),
        S.PROCEEDING: frozenset({S.PROCEEDING, S.COMPLETED, _T}),
        S.COMPLETED: frozenset({_T}),
    },
    "IST": {
        S.PROCEEDING: frozenset({S.PROCEEDING, S.COMPLETED, S.ACCEPTED, _T}),
        S.COMPLETED: frozenset({S.CONFIRMED, _T}),
        S.CONFIRMED: frozenset({_T}),
        S.ACCEPTED: frozenset({_T}),
    },
    "NIST": {
        S.TRYING: frozenset({S.PROCEEDING, S.COMPLETED, _T}),
        S.PROCEEDING: frozenset({S.PROCEEDING, S.COMPLETED, _T}),
        S.COMPLETED: frozenset({_T}),
    },
}

ServerKey = tuple[str, ...]
ClientKey = tuple[str, str]


def server_key(request: Request) -> ServerKey:
    """RFC 3261 §17.2.3 matching key; ACK and CANCEL map onto INVITE's own key only for ACK."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        return (branch, via.sent_by.lower(), method)
    # RFC 2543 peer: no usable branch, fall back to the dialog-ish tuple (§17.2.3)
    number, _ = request.cseq
    return (
        "2543",
        request.call_id,
        request.from_.tag or "",
        request.to.tag or "" if method != "INVITE" else "",
        str(number),
        via.sent_by.lower(),
        method,
    )


class Transaction:
    kind: ClassVar[str] = ""

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer) -> None:
        self.layer = layer
        self.request = request
        self.peer = peer
        self.state: TxState = TxState.TRYING
        self.retransmissions = 0
        self.end_reason: str | None = None
        self._timers: dict[str, TimerHandle] = {}

    @property
    def method(self) -> str:
        return self.request.method

    def _move(self, target: TxState) -> None:
        allowed = TRANSITIONS[self.kind].get(self.state, frozenset())
        if target not in allowed:
            raise InvalidTransition(self.kind, self.state, target)
        self.state = target

    def _start(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._stop(name)
        self._timers[name] = self.layer.scheduler.call_later(delay, callback)

    def _stop(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _terminate(self, reason: str) -> None:
        if self.state is TxState.TERMINATED:
            return
        self._move(TxState.TERMINATED)
        self.end_reason = reason
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self.layer._forget(self, reason)

    def _send(self, data: bytes) -> None:
        self.layer.send(data, self.peer)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.method} {self.state.value} {self.request.call_id!r}>"


# ----------------------------------------------------------------------------- server


class ServerTransaction(Transaction):
    """Common server behaviour: remember the last response to replay it."""

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer) -> None:
        super().__init__(layer, request, peer)
        self.key = server_key(request)
        self.last_response: Response | None = None
        self._last_bytes: bytes | None = None
        self.on_timeout: Callable[[ServerTransaction], None] | None = None

    @property
    def final_sent(self) -> bool:
        return self.last_response is not None and self.last_response.status >= 200

    def _emit(self, response: Response) -> None:
        self.last_response = response
        self._last_bytes = response.to_bytes()
        self._send(self._last_bytes)

    def _replay(self) -> None:
        if self._last_bytes is not None:
            self.layer.stats["responses_replayed"] += 1
            self._send(self._last_bytes)

    def respond(self, response: Response) -> None:
        raise NotImplementedError

    def receive(self, request: Request) -> None:
        raise NotImplementedError


class InviteServerTransaction(ServerTransaction):
    kind = "IST"

    def __init__(self, layer: TransactionLayer, request: Request, peer: Peer) -> None:
        super().__init__(layer, request, peer)
        self.state = TxState.PROCEEDING
        self._g_interval = layer.timers.t1

    def respond(self, response: Response) -> None:
        status = response.status
        if self.state is TxState.ACCEPTED and 200 <= status < 300:
            self._emit(response)  # the TU retransmitting its 2xx
            return
        if self.state is not TxState.PROCEEDING:
            raise InvalidTransition(self.kind, self.state, f"send {status}")
        if status < 200:
            self._emit(response)
            return
        if status < 300:
            self._move(TxState.ACCEPTED)
            self._emit(response)
            self._start("L", self.layer.timers.timeout, lambda: self._terminate("timer L"))
            return
        self._move(TxState.COMPLETED)
        self._emit(response)
        if not self.peer.reliable:
            self._start("G", self._g_interval, self._timer_g)
        self._start("H", self.layer.timers.timeout, self._timer_h)

    def receive(self, request: Request) -> None:
        if request.method == "ACK":
            if self.state is TxState.COMPLETED:
                self._move(TxState.CONFIRMED)
                self._stop("G")
                self._stop("H")
                delay = 0.0 if self.peer.reliable else self.layer.timers.t4
                self._start("I", delay, lambda: self._terminate("timer I"))
            elif self.state is TxState.ACCEPTED:
                self.layer.tu_ack(request, self.peer)
            return
        self.layer.stats["requests_absorbed"] += 1
        if self.state in (TxState.PROCEEDING, TxState.COMPLETED):
            self._replay()

    def _timer_g(self) -> None:
        if self.state is not TxState.COMPLETED:
            return
        self.retransmissions += 1
        self._replay()
        self._g_interval = min(2 * self._g_interval, self.layer.timers.t2)
        self._start("G", self._g_interval, self._timer_g)

    def _timer_h(self) -> None:
        self.layer.stats["timeouts"] += 1
        self._terminate("timer H")
        if self.on_timeout is not None:
            self.on_timeout(self)


class NonInviteServerTransaction(ServerTransaction):
    kind = "NIST"

    def respond(self, response: Response) -> None:
        if self.state not in (TxState.TRYING, TxState.PROCEEDING):
            raise InvalidTransition(self.kind, self.state, f"send {response.status}")
        if response.status < 200:
            self._move(TxState.PROCEEDING)
            self._emit(response)
            return
        self._move(TxState.COMPLETED)
        self._emit(response)
        delay = 0.0 if self.peer.reliable else self.layer.timers.timeout
        self._start("J", delay, lambda: self._terminate("timer J"))

    def receive(self, request: Request) -> None:
        self.layer.stats["requests_absorbed"] += 1
        if self.state in (TxState.PROCEEDING, TxState.COMPLETED):
            self._replay()


# ----------------------------------------------------------------------------- client

ResponseCallback = Callable[[Response], None]
TimeoutCallback = Callable[[str], None]


class ClientTransaction(Transaction):
    def __init__(
        self,
        layer: TransactionLayer,
        request: Request,
        peer: Peer,
        on_response: ResponseCallback,
        on_timeout: TimeoutCallback,
    ) -> None:
        super().__init__(layer, request, peer)
        via = request.top_via
        if not (via.branch or "").startswith(MAGIC_COOKIE):
            raise ValueError("client requests need an RFC 3261 branch")
        self.key: ClientKey = (via.branch or "", request.method)
        self.on_response = on_response
        self.on_timeout = on_timeout
        self._bytes = request.to_bytes()
        self._interval = layer.timers.t1

    def start(self) -> None:
        raise NotImplementedError

    def receive(self, response: Response) -> None:
        raise NotImplementedError

    def _retransmit(self) -> None:
        self.retransmissions += 1
        self.layer.stats["requests_retransmitted"] += 1
        self._send(self._bytes)

    def _timed_out(self, reason: str) -> None:
        self.layer.stats["timeouts"] += 1
        self._terminate(reason)
        self.on_timeout(reason)

    def transport_failed(self) -> None:
        if self.state in (TxState.CALLING, TxState.TRYING, TxState.PROCEEDING):
            self._timed_out("transport error")


class InviteClientTransaction(ClientTransaction):
    kind = "ICT"
    _ack: bytes = b""

    def start(self) -> None:
        self.state = TxState.CALLING
        self._send(self._bytes)
        if not self.peer.reliable:
            self._start("A", self._interval, self._timer_a)
        self._start("B", self.layer.timers.timeout, self._timer_b)

    def _timer_a(self) -> None:
        if self.state is not TxState.CALLING:
            return
        self._retransmit()
        self._interval *= 2
        self._start("A", self._interval, self._timer_a)

    def _timer_b(self) -> None:
        if self.state is TxState.CALLING:
            self._timed_out("timer B")

    def receive(self, response: Response) -> None:
        status = response.status
        if self.state in (TxState.CALLING, TxState.PROCEEDING):
            self._stop("A")
            if status < 200:
                self._stop("B")
                self._move(TxState.PROCEEDING)
            elif status < 300:
                self._move(TxState.ACCEPTED)
                self._stop("B")
                self._start("M", self.layer.timers.timeout, lambda: self._terminate("timer M"))
            else:
                self._move(TxState.COMPLETED)
                self._stop("B")
                self._ack = self._build_ack(response).to_bytes()
                self._send(self._ack)
                delay = 0.0 if self.peer.reliable else self.layer.timers.timeout  # >= 32 s
                self._start("D", delay, lambda: self._terminate("timer D"))
            self.on_response(response)
        elif self.state is TxState.ACCEPTED:
            if 200 <= status < 300:
                self.on_response(response)  # 2xx retransmission: the dialog re-sends ACK
        elif self.state is TxState.COMPLETED and status >= 300:
            self.layer.stats["responses_absorbed"] += 1
            self._send(self._ack)

    def _build_ack(self, response: Response) -> Request:
        """ACK for a non-2xx final response, §17.1.1.3."""
        req = self.request
        ack = Request(method="ACK", uri=req.uri)
        ack.headers.add("Via", req.headers.get("Via") or "")
        for name in ("Max-Forwards",):
            if name in req.headers:
                ack.headers.add(name, req.headers.get(name) or "")
        ack.headers.add("From", req.headers.get("From") or "")
        ack.headers.add("To", response.headers.get("To") or "")
        ack.headers.add("Call-ID", req.call_id)
        ack.headers.add("CSeq", f"{req.cseq[0]} ACK")
        for route in req.headers.get_all("Route"):
            ack.headers.add("Route", route)
        return ack


class NonInviteClientTransaction(ClientTransaction):
    kind = "NICT"

    def start(self) -> None:
        self.state = TxState.TRYING
        self._send(self._bytes)
        if not self.peer.reliable:
            self._start("E", self._interval, self._timer_e)
        self._start("F", self.layer.timers.timeout, lambda: self._timed_out("timer F"))

    def _timer_e(self) -> None:
        if self.state not in (TxState.TRYING, TxState.PROCEEDING):
            return
        self._retransmit()
        t2 = self.layer.timers.t2
        self._interval = t2 if self.state is TxState.PROCEEDING else min(2 * self._interval, t2)
        self._start("E", self._interval, self._timer_e)

    def receive(self, response: Response) -> None:
        if self.state in (TxState.TRYING, TxState.PROCEEDING):
            if response.status < 200:
                self._move(TxState.PROCEEDING)
            else:
                self._move(TxState.COMPLETED)
                self._stop("E")
                self._stop("F")
                delay = 0.0 if self.peer.reliable else self.layer.timers.t4
                self._start("K", delay, lambda: self._terminate("timer K"))
            self.on_response(response)
        else:
            self.layer.stats["responses_absorbed"] += 1


# ----------------------------------------------------------------------------- layer


class TransactionLayer:
    """Matches messages to transactions and owns their lifetimes.

    The transaction user (the stack) sets ``tu_request`` (a new server transaction),
    ``tu_ack`` (an ACK outside any non-2xx transaction: it belongs to a dialog) and
    ``tu_stray_response`` (a response no client transaction claims, e.g. a 2xx
    retransmitted after timer M).
    """

    def __init__(
        self,
        send: Callable[[bytes, Peer], None],
        scheduler: Scheduler,
        timers: TimerConfig | None = None,
    ) -> None:
        self.send = send
        self.scheduler = scheduler
        self.timers = timers or TimerConfig()
        self.server: dict[ServerKey, ServerTransaction] = {}
        self.client: dict[ClientKey, ClientTransaction] = {}
        self.stats: Counter[str] = Counter()
        self.tu_request: Callable[[Request, ServerTransaction, Peer], None] = self._no_tu
        self.tu_ack: Callable[[Request, Peer], None] = lambda req, peer: None
        self.tu_stray_response: Callable[[Response, Peer], None] = lambda resp, peer: None
        self.on_terminated: Callable[[Transaction, str], None] | None = None

    @staticmethod
    def _no_tu(request: Request, txn: ServerTransaction, peer: Peer) -> None:
        log.warning("no transaction user for %r", request)

    # --- incoming ---
    def receive_request(self, request: Request, peer: Peer) -> None:
        try:
            key = server_key(request)
        except SipParseError:
            return
        txn = self.server.get(key)
        if txn is not None:
            txn.receive(request)
            return
        if request.method == "ACK":
            self.tu_ack(request, peer)
            return
        new: ServerTransaction
        if request.method == "INVITE":
            new = InviteServerTransaction(self, request, peer)
        else:
            new = NonInviteServerTransaction(self, request, peer)
        self.server[key] = new
        self.stats["server_created"] += 1
        self.tu_request(request, new, peer)

    def receive_response(self, response: Response, peer: Peer) -> None:
        try:
            branch = response.top_via.branch or ""
            _, method = response.cseq
        except SipParseError:
            return
        txn = self.client.get((branch, method))
        if txn is None:
            self.tu_stray_response(response, peer)
            return
        txn.receive(response)

    def find_invite_server(self, cancel: Request) -> InviteServerTransaction | None:
        """The INVITE server transaction a CANCEL targets (same branch and sent-by)."""
        try:
            key = server_key(cancel)
        except SipParseError:
            return None
        txn = self.server.get((*key[:-1], "INVITE"))
        return txn if isinstance(txn, InviteServerTransaction) else None

    # --- outgoing ---
    def send_request(
        self,
        request: Request,
        peer: Peer,
        on_response: ResponseCallback,
        on_timeout: TimeoutCallback,
    ) -> ClientTransaction:
        txn: ClientTransaction
        if request.method == "INVITE":
            txn = InviteClientTransaction(self, request, peer, on_response, on_timeout)
        elif request.method == "ACK":
            raise ValueError("ACK is not a transaction; send it directly")
        else:
            txn = NonInviteClientTransaction(self, request, peer, on_response, on_timeout)
        self.client[txn.key] = txn
        self.stats["client_created"] += 1
        txn.start()
        return txn

    def shutdown(self) -> None:
        """Stop every timer and forget every transaction (the stack is stopping)."""
        for txn in [*self.server.values(), *self.client.values()]:
            for handle in txn._timers.values():
                handle.cancel()
            txn._timers.clear()
        self.server.clear()
        self.client.clear()

    def transport_failed(self, peer: Peer) -> None:
        for txn in [t for t in self.client.values() if t.peer == peer]:
            txn.transport_failed()

    def _forget(self, txn: Transaction, reason: str) -> None:
        if isinstance(txn, ServerTransaction):
            if self.server.get(txn.key) is txn:
                del self.server[txn.key]
        elif isinstance(txn, ClientTransaction) and self.client.get(txn.key) is txn:
            del self.client[txn.key]
        self.stats[f"ended:{reason}"] += 1
        if self.on_terminated is not None:
            self.on_terminated(txn, reason)
