"""Property tests: random interleavings of requests, retransmissions, responses and time.

Whatever the order, the transaction user never sees the same transaction twice while it is
alive, every illegal move is an InvalidTransition (nothing else escapes), the client side
reports at most one final outcome per transaction, and everything that got a final answer
is gone once the timers have run out.
"""

from __future__ import annotations

import contextlib
from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.unit.sip.test_transaction import UDP, request
from zvans.telephony.sip.clock import VirtualScheduler
from zvans.telephony.sip.errors import InvalidTransition
from zvans.telephony.sip.message import Response, make_response
from zvans.telephony.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TimerConfig,
    TransactionLayer,
    TxState,
)
from zvans.telephony.sip.transport import Peer

BRANCHES = [f"z9hG4bKp{i}" for i in range(3)]
METHODS = ["INVITE", "OPTIONS", "BYE"]
STATUSES = [100, 180, 200, 486, 503]


class Transactions(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualScheduler()
        self.sent: list[tuple[bytes, Peer]] = []
        self.layer = TransactionLayer(
            lambda data, peer: self.sent.append((data, peer)), self.clock, TimerConfig()
        )
        self.server_txns: list[ServerTransaction] = []
        self.layer.tu_request = lambda req, txn, peer: self.server_txns.append(txn)
        self.client_txns: list[ClientTransaction] = []
        self.outcomes: Counter[int] = Counter()  # id(txn) -> finals + timeouts seen by TU
        self.finals_after_timeout = 0

    # ---- server side ----
    @rule(branch=st.sampled_from(BRANCHES), method=st.sampled_from(METHODS))
    def peer_sends(self, branch: str, method: str) -> None:
        self.layer.receive_request(request(method, branch=branch), UDP)

    @rule(branch=st.sampled_from(BRANCHES))
    def peer_acks(self, branch: str) -> None:
        self.layer.receive_request(request("ACK", branch=branch, to_tag="s"), UDP)

    @rule(data=st.data(), status=st.sampled_from(STATUSES))
    def tu_responds(self, data: st.DataObject, status: int) -> None:
        if not self.server_txns:
            return
        txn = data.draw(st.sampled_from(self.server_txns))
        with contextlib.suppress(InvalidTransition):
            txn.respond(make_response(txn.request, status, to_tag="s"))

    # ---- client side ----
    @rule(branch=st.sampled_from(BRANCHES), method=st.sampled_from(METHODS))
    def tu_sends(self, branch: str, method: str) -> None:
        if (f"{branch}c", method) in self.layer.client:
            return
        txn_box: list[ClientTransaction] = []

        def on_response(resp: Response) -> None:
            if resp.status >= 200:
                self.outcomes[id(txn_box[0])] += 1

        def on_timeout(reason: str) -> None:
            self.outcomes[id(txn_box[0])] += 1

        txn = self.layer.send_request(
            request(method, branch=f"{branch}c"), UDP, on_response, on_timeout
        )
        txn_box.append(txn)
        self.client_txns.append(txn)

    @rule(data=st.data(), status=st.sampled_from(STATUSES))
    def peer_answers(self, data: st.DataObject, status: int) -> None:
        if not self.client_txns:
            return
        txn = data.draw(st.sampled_from(self.client_txns))
        self.layer.receive_response(make_response(txn.request, status, to_tag="t"), UDP)

    @rule(seconds=st.sampled_from([0.0, 0.3, 1.0, 4.0, 20.0, 40.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # ---- invariants ----
    @invariant()
    def one_live_transaction_per_key(self) -> None:
        live = [t.key for t in self.server_txns if t.state is not TxState.TERMINATED]
        assert len(live) == len(set(live))
        for txn in self.layer.server.values():
            assert txn.state is not TxState.TERMINATED

    @invariant()
    def layer_holds_only_live_transactions(self) -> None:
        for ctxn in self.layer.client.values():
            assert ctxn.state is not TxState.TERMINATED

    @invariant()
    def non_invite_clients_report_once(self) -> None:
        for ctxn in self.client_txns:
            if ctxn.method != "INVITE":
                assert self.outcomes[id(ctxn)] <= 1

    def teardown(self) -> None:
        # let every timer run out: whatever got a final answer must be gone
        self.clock.advance(200)
        for txn in self.layer.server.values():
            assert not txn.final_sent, txn
        for ctxn in self.layer.client.values():
            assert ctxn.kind == "ICT" and ctxn.state is TxState.PROCEEDING, ctxn  # ringing


TestTransactions = Transactions.TestCase
TestTransactions.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
