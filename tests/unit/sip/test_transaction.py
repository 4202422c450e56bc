"""RFC 3261 §17 state machines on a virtual clock: every timer, no wall-clock waits."""

from __future__ import annotations

import pytest

from zvans.telephony.sip.clock import VirtualScheduler
from zvans.telephony.sip.errors import InvalidTransition
from zvans.telephony.sip.message import Request, Response, make_response, parse_message
from zvans.telephony.sip.transaction import (
    InviteServerTransaction,
    ServerTransaction,
    TimerConfig,
    TransactionLayer,
    TxState,
)
from zvans.telephony.sip.transport import Peer

UDP = Peer("UDP", "192.0.2.5", 5060)
TCP = Peer("TCP", "192.0.2.5", 5060)


def request(method: str, branch: str = "z9hG4bKabc", to_tag: str | None = None) -> Request:
    to = "<sip:b@example.test>" + (f";tag={to_tag}" if to_tag else "")
    cseq_method = method
    raw = (
        f"{method} sip:b@example.test SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 192.0.2.5:5060;branch={branch}\r\n"
        "From: <sip:a@example.test>;tag=f1\r\n"
        f"To: {to}\r\n"
        "Call-ID: call-1@test\r\n"
        f"CSeq: 1 {cseq_method}\r\n"
        "Contact: <sip:a@192.0.2.5>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    msg = parse_message(raw)
    assert isinstance(msg, Request)
    return msg


class Wire:
    """Captures what the layer hands to the transport."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Peer]] = []

    def __call__(self, data: bytes, peer: Peer) -> None:
        self.sent.append((data, peer))

    def first_lines(self) -> list[str]:
        return [d.split(b"\r\n", 1)[0].decode() for d, _ in self.sent]


@pytest.fixture
def clock() -> VirtualScheduler:
    return VirtualScheduler()


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def layer(clock: VirtualScheduler, wire: Wire) -> TransactionLayer:
    return TransactionLayer(wire, clock, TimerConfig())


class Tu:
    def __init__(self, layer: TransactionLayer) -> None:
        self.requests: list[tuple[Request, ServerTransaction]] = []
        self.acks: list[Request] = []
        self.responses: list[Response] = []
        self.timeouts: list[str] = []
        self.ended: list[str] = []
        layer.tu_request = lambda req, txn, peer: self.requests.append((req, txn))
        layer.tu_ack = lambda req, peer: self.acks.append(req)
        layer.on_terminated = lambda txn, reason: self.ended.append(reason)


# --------------------------------------------------------------------- INVITE client


def test_ict_timer_a_doubles_and_timer_b_times_out(layer, clock, wire) -> None:
    tu = Tu(layer)
    layer.send_request(request("INVITE"), UDP, tu.responses.append, tu.timeouts.append)
    assert len(wire.sent) == 1
    clock.advance(31.9)
    # retransmissions at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s (T1 doubling, no cap for INVITE)
    assert len(wire.sent) == 7
    clock.advance(0.2)
    assert tu.timeouts == ["timer B"]
    assert layer.client == {}
    clock.advance(100)
    assert len(wire.sent) == 7


def test_ict_over_tcp_never_retransmits(layer, clock, wire) -> None:
    tu = Tu(layer)
    layer.send_request(request("INVITE"), TCP, tu.responses.append, tu.timeouts.append)
    clock.advance(31)
    assert len(wire.sent) == 1
    clock.advance(2)
    assert tu.timeouts == ["timer B"]


def test_ict_provisional_stops_retransmission_and_timer_b(layer, clock, wire) -> None:
    tu = Tu(layer)
    req = request("INVITE")
    txn = layer.send_request(req, UDP, tu.responses.append, tu.timeouts.append)
    layer.receive_response(make_response(req, 180, to_tag="x"), UDP)
    assert txn.state is TxState.PROCEEDING
    clock.advance(120)  # ringing may last: no timer B in Proceeding
    assert len(wire.sent) == 1
    assert tu.timeouts == []
    assert [r.status for r in tu.responses] == [180]


def test_ict_non_2xx_gets_ack_and_absorbs_retransmissions(layer, clock, wire) -> None:
    tu = Tu(layer)
    req = request("INVITE")
    txn = layer.send_request(req, UDP, tu.responses.append, tu.timeouts.append)
    busy = make_response(req, 486, to_tag="x")
    layer.receive_response(busy, UDP)
    layer.receive_response(busy, UDP)  # retransmitted final
    assert [r.status for r in tu.responses] == [486]  # TU sees it once
    lines = wire.first_lines()
    assert lines[1].startswith("ACK ") and lines[2].startswith("ACK ")
    ack = parse_message(wire.sent[1][0])
    assert ack.top_via.branch == "z9hG4bKabc"  # same branch as the INVITE (§17.1.1.3)
    assert ack.to.tag == "x"
    assert txn.state is TxState.COMPLETED
    clock.advance(TimerConfig().timeout + 0.1)
    assert tu.ended == ["timer D"]
    assert layer.client == {}


def test_ict_2xx_goes_accepted_and_passes_retransmissions_to_tu(layer, clock, wire) -> None:
    tu = Tu(layer)
    req = request("INVITE")
    txn = layer.send_request(req, UDP, tu.responses.append, tu.timeouts.append)
    ok = make_response(req, 200, to_tag="x")
    layer.receive_response(ok, UDP)
    layer.receive_response(ok, UDP)
    assert txn.state is TxState.ACCEPTED
    assert [r.status for r in tu.responses] == [200, 200]  # the dialog re-ACKs each
    assert len(wire.sent) == 1  # the transaction itself never ACKs a 2xx
    clock.advance(32.1)
    assert tu.ended == ["timer M"]


# --------------------------------------------------------------------- non-INVITE client


def test_nict_timer_e_caps_at_t2_and_timer_f_times_out(layer, clock, wire) -> None:
    tu = Tu(layer)
    txn = layer.send_request(
        request("BYE", to_tag="t"), UDP, tu.responses.append, tu.timeouts.append
    )
    clock.advance(0.5)
    clock.advance(1.0)
    clock.advance(2.0)
    assert len(wire.sent) == 4  # 0, 0.5, 1.5, 3.5
    clock.advance(4.0)
    assert len(wire.sent) == 5  # 7.5: interval capped at T2 = 4 s
    clock.advance(4.0)
    assert len(wire.sent) == 6  # 11.5
    clock.advance(32 - 11.5 - 0.01)
    assert tu.timeouts == []
    clock.advance(0.02)
    assert tu.timeouts == ["timer F"]
    assert txn.state is TxState.TERMINATED
    assert txn.retransmissions == len(wire.sent) - 1


def test_nict_final_response_then_timer_k(layer, clock, wire) -> None:
    tu = Tu(layer)
    req = request("BYE", to_tag="t")
    txn = layer.send_request(req, UDP, tu.responses.append, tu.timeouts.append)
    clock.advance(0.6)  # one retransmission: the first 200 was "lost"
    assert txn.retransmissions == 1
    ok = make_response(req, 200)
    layer.receive_response(ok, UDP)
    layer.receive_response(ok, UDP)
    assert [r.status for r in tu.responses] == [200]
    assert txn.state is TxState.COMPLETED
    clock.advance(4.9)
    assert txn.state is TxState.COMPLETED
    clock.advance(0.2)  # T4 = 5 s
    assert tu.ended == ["timer K"]
    assert len(wire.sent) == 2


def test_nict_provisional_keeps_retransmitting_at_t2(layer, clock, wire) -> None:
    tu = Tu(layer)
    req = request("OPTIONS")
    layer.send_request(req, UDP, tu.responses.append, tu.timeouts.append)
    layer.receive_response(make_response(req, 100), UDP)
    clock.advance(0.5)  # first E after T1
    assert len(wire.sent) == 2
    clock.advance(3.9)
    assert len(wire.sent) == 2
    clock.advance(0.2)  # then every T2
    assert len(wire.sent) == 3


def test_nict_over_tcp_timer_k_is_zero(layer, clock, wire) -> None:
    tu = Tu(layer)
    req = request("OPTIONS")
    layer.send_request(req, TCP, tu.responses.append, tu.timeouts.append)
    layer.receive_response(make_response(req, 200), TCP)
    clock.advance(0)
    assert tu.ended == ["timer K"]


def test_client_key_is_branch_and_method(layer) -> None:
    tu = Tu(layer)
    inv = request("INVITE", branch="z9hG4bKsame")
    layer.send_request(inv, UDP, tu.responses.append, tu.timeouts.append)
    cancel = request("CANCEL", branch="z9hG4bKsame")
    layer.send_request(cancel, UDP, tu.responses.append, tu.timeouts.append)
    assert set(layer.client) == {("z9hG4bKsame", "INVITE"), ("z9hG4bKsame", "CANCEL")}


# --------------------------------------------------------------------- INVITE server


def test_ist_retransmitted_invite_creates_one_transaction_and_replays_provisional(
    layer, clock, wire
) -> None:
    tu = Tu(layer)
    inv = request("INVITE")
    layer.receive_request(inv, UDP)
    assert len(tu.requests) == 1
    txn = tu.requests[0][1]
    txn.respond(make_response(inv, 100))
    txn.respond(make_response(inv, 180, to_tag="s"))
    layer.receive_request(request("INVITE"), UDP)  # retransmission
    layer.receive_request(request("INVITE"), UDP)
    assert len(tu.requests) == 1
    assert wire.first_lines() == [
        "SIP/2.0 100 Trying",
        "SIP/2.0 180 Ringing",
        "SIP/2.0 180 Ringing",
        "SIP/2.0 180 Ringing",
    ]
    assert layer.stats["requests_absorbed"] == 2


def test_ist_2xx_accepted_absorbs_late_invites_then_timer_l(layer, clock, wire) -> None:
    tu = Tu(layer)
    inv = request("INVITE")
    layer.receive_request(inv, UDP)
    txn = tu.requests[0][1]
    txn.respond(make_response(inv, 200, to_tag="s"))
    assert txn.state is TxState.ACCEPTED
    layer.receive_request(request("INVITE"), UDP)  # late retransmission: still one call
    assert len(tu.requests) == 1
    assert len(wire.sent) == 1  # the TU, not the transaction, retransmits 2xx
    clock.advance(32.1)
    assert tu.ended == ["timer L"]
    layer.receive_request(request("INVITE"), UDP)  # after L it would be new (RFC 6026)
    assert len(tu.requests) == 2


def test_ist_non_2xx_timer_g_then_ack_then_timer_i(layer, clock, wire) -> None:
    tu = Tu(layer)
    inv = request("INVITE")
    layer.receive_request(inv, UDP)
    txn = tu.requests[0][1]
    txn.respond(make_response(inv, 486, to_tag="s"))
    clock.advance(0.5)
    clock.advance(1.0)
    assert len(wire.sent) == 3  # G at T1, then 2·T1
    ack = request("ACK", to_tag="s")
    layer.receive_request(ack, UDP)
    assert txn.state is TxState.CONFIRMED
    assert tu.acks == []  # ACK for non-2xx stays inside the transaction
    layer.receive_request(ack, UDP)  # retransmitted ACK absorbed in Confirmed
    clock.advance(10)
    assert len(wire.sent) == 3
    assert tu.ended == ["timer I"]


def test_ist_timer_h_without_ack(layer, clock, wire) -> None:
    tu = Tu(layer)
    inv = request("INVITE")
    layer.receive_request(inv, UDP)
    txn = tu.requests[0][1]
    assert isinstance(txn, InviteServerTransaction)
    fired: list[str] = []
    txn.on_timeout = lambda t: fired.append("H")
    txn.respond(make_response(inv, 603, to_tag="s"))
    clock.advance(32.1)
    assert fired == ["H"]
    assert tu.ended == ["timer H"]
    # G at 0.5, 1.5, 3.5, 7.5, then every T2: 11.5 ... 31.5 -> 10 retransmissions
    assert len(wire.sent) == 1 + 10


def test_ist_cannot_send_after_final(layer) -> None:
    tu = Tu(layer)
    inv = request("INVITE")
    layer.receive_request(inv, UDP)
    txn = tu.requests[0][1]
    txn.respond(make_response(inv, 486, to_tag="s"))
    with pytest.raises(InvalidTransition):
        txn.respond(make_response(inv, 200, to_tag="s"))


def test_ack_for_2xx_goes_to_tu(layer) -> None:
    tu = Tu(layer)
    layer.receive_request(request("ACK", branch="z9hG4bKnew", to_tag="s"), UDP)
    assert len(tu.acks) == 1
    assert tu.requests == []


def test_cancel_finds_its_invite(layer) -> None:
    tu = Tu(layer)
    layer.receive_request(request("INVITE"), UDP)
    cancel = request("CANCEL")
    assert layer.find_invite_server(cancel) is tu.requests[0][1]
    layer.receive_request(cancel, UDP)
    assert [r.method for r, _ in tu.requests] == ["INVITE", "CANCEL"]


# --------------------------------------------------------------------- non-INVITE server


def test_nist_replays_final_and_timer_j(layer, clock, wire) -> None:
    tu = Tu(layer)
    bye = request("BYE", to_tag="s")
    layer.receive_request(bye, UDP)
    layer.receive_request(request("BYE", to_tag="s"), UDP)  # in Trying: discarded
    assert wire.sent == []
    txn = tu.requests[0][1]
    txn.respond(make_response(bye, 200))
    layer.receive_request(request("BYE", to_tag="s"), UDP)
    assert wire.first_lines() == ["SIP/2.0 200 OK", "SIP/2.0 200 OK"]
    assert len(tu.requests) == 1
    clock.advance(32.1)
    assert tu.ended == ["timer J"]
    with pytest.raises(InvalidTransition):
        txn.respond(make_response(bye, 500))


def test_nist_over_tcp_ends_at_once(layer, clock) -> None:
    tu = Tu(layer)
    bye = request("BYE", to_tag="s")
    layer.receive_request(bye, TCP)
    tu.requests[0][1].respond(make_response(bye, 200))
    clock.advance(0)
    assert tu.ended == ["timer J"]
    assert layer.server == {}


def test_server_lookup_is_by_key_not_scan(layer) -> None:
    tu = Tu(layer)
    for i in range(1000):
        layer.receive_request(request("OPTIONS", branch=f"z9hG4bK{i}"), UDP)
    assert len(layer.server) == 1000
    assert ("z9hG4bK999", "192.0.2.5:5060", "OPTIONS") in layer.server
    assert len(tu.requests) == 1000
