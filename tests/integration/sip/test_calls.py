"""Calls with real sipp: retransmitted INVITE, dropped BYE answers, toll-fraud refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.sip.support import (
    finish_sipp,
    free_port,
    run,
    run_sipp,
    start_sipp,
    wait_until,
)
from zvans.telephony.sip import (
    Credentials,
    DigestServer,
    IncomingCall,
    Peer,
    Registrar,
    Response,
    SipStack,
    StackConfig,
    TimerConfig,
    Transaction,
)

SDP = (
    b"v=0\r\no=zvans 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
DID = "37160000100"


def test_retransmitted_invite_creates_exactly_one_call(tmp_path: Path) -> None:
    async def main() -> None:
        stack = SipStack(StackConfig(udp_port=0, tcp_port=0, dids=frozenset({DID})))
        calls: list[IncomingCall] = []

        async def on_invite(call: IncomingCall) -> None:
            calls.append(call)
            # ring and answer only once the retransmission has been absorbed
            await wait_until(
                lambda: stack.layer.stats["requests_absorbed"] >= 1, what="INVITE retransmission"
            )
            call.provisional(180)
            call.answer(SDP)

        stack.on_invite = on_invite
        await stack.start()
        try:
            res = await run_sipp(
                "invite_retransmitted.xml", stack.port(), tmp_path, service=DID, extra=("-nr",)
            )
            assert res.ok, res.explain()
            assert len(calls) == 1
            assert stack.stats["calls_in"] == 1
            # in Proceeding (180 replayed) and once more in Accepted (after the 200)
            assert stack.layer.stats["requests_absorbed"] >= 2
            assert res.messages.count("SIP/2.0 100 Trying") >= 2  # the replay reached sipp
            await wait_until(lambda: calls[0].is_ended, what="call end")
            assert calls[0].ended.result() == "remote-bye"
            assert calls[0].number == DID
        finally:
            await stack.stop()

    run(main)


def _bye_stack(t1: float) -> tuple[SipStack, list[tuple[str, str, int]], list[Response]]:
    timers = TimerConfig(t1=t1, t2=8 * t1, t4=4 * t1)
    stack = SipStack(StackConfig(udp_port=0, tcp_port=0, dids=frozenset({DID}), timers=timers))
    ended: list[tuple[str, str, int]] = []
    bye_responses: list[Response] = []

    def on_terminated(txn: Transaction, reason: str) -> None:
        ended.append((txn.method, reason, txn.retransmissions))

    stack.layer.on_terminated = on_terminated

    async def on_invite(call: IncomingCall) -> None:
        call.provisional(180)
        call.answer(SDP)
        await call.confirmed.wait()
        bye_responses.append(await call.bye())

    stack.on_invite = on_invite
    return stack, ended, bye_responses


def test_bye_whose_answer_is_dropped_is_retransmitted_and_ends_by_timer_k(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        stack, ended, bye_responses = _bye_stack(t1=0.05)
        await stack.start()
        try:
            res = await run_sipp("bye_answer_dropped.xml", stack.port(), tmp_path, service=DID)
            assert res.ok, res.explain()
            await wait_until(lambda: any(m == "BYE" for m, _, _ in ended), what="BYE end")
            assert [r.status for r in bye_responses] == [200]
            ((_, reason, retransmissions),) = [e for e in ended if e[0] == "BYE"]
            assert reason == "timer K"
            assert retransmissions >= 1  # timer E fired while our 200 was "lost"
            assert res.messages.count("BYE sip:") >= 2  # sipp saw the retransmission too
        finally:
            await stack.stop()

    run(main)


def test_bye_never_answered_ends_by_timer_f(tmp_path: Path) -> None:
    async def main() -> None:
        stack, ended, bye_responses = _bye_stack(t1=0.02)
        await stack.start()
        try:
            res = await run_sipp("bye_never_answered.xml", stack.port(), tmp_path, service=DID)
            assert res.ok, res.explain()
            await wait_until(lambda: bool(bye_responses), what="BYE outcome")
            assert [r.status for r in bye_responses] == [408]
            ((_, reason, retransmissions),) = [e for e in ended if e[0] == "BYE"]
            assert reason == "timer F"
            assert retransmissions >= 2
        finally:
            await stack.stop()

    run(main)


@pytest.mark.parametrize(("sipp_transport", "transport"), [("u1", "UDP"), ("t1", "TCP")])
def test_unauthenticated_invite_to_external_number_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, sipp_transport: str, transport: str
) -> None:
    async def main() -> None:
        async def lookup(username: str) -> Credentials | None:
            if username != "agent7":
                return None
            return Credentials.from_password("agent7", "zvans", "pw")

        registrar = Registrar(DigestServer("zvans"), lookup)
        stack = SipStack(
            StackConfig(udp_port=0, tcp_port=0, dids=frozenset({DID})), registrar=registrar
        )
        calls: list[IncomingCall] = []
        stack.on_invite = calls.append
        await stack.start()
        try:
            res = await run_sipp(
                "invite_external_unauthenticated.xml",
                stack.port(transport),
                tmp_path,
                service="0037129999999",
                transport=sipp_transport,
            )
            assert res.ok, res.explain()
            assert calls == []
            assert stack.stats["toll_fraud_refused"] == 1
        finally:
            await stack.stop()

    with caplog.at_level("WARNING", logger="zvans.telephony.sip.stack"):
        run(main)
    assert any(
        "toll-fraud guard" in r.message and "0037129999999" in r.getMessage()
        for r in caplog.records
    )


def test_outgoing_call_follows_contact_and_record_route(tmp_path: Path) -> None:
    """Zvans calls sipp; ACK and BYE must use the 200's Contact and the route set."""

    async def main() -> None:
        stack = SipStack(StackConfig(udp_port=0, tcp_port=None))
        await stack.start()
        uas_port = free_port()
        proc, local, files = await start_sipp(
            "uas_route_set.xml", None, tmp_path, local_port=uas_port
        )
        try:
            # the Request-URI names a dead port; only the first hop goes to sipp (if sipp
            # is still binding its socket, timer A's retransmission covers it)
            leg = await stack.invite(
                "sip:agent@127.0.0.1:9",
                from_uri="sip:queue@zvans.test",
                body=SDP,
                peer=Peer("UDP", "127.0.0.1", uas_port),
            )
            assert (await leg.final()).status == 200
            assert leg.dialog is not None
            assert [r.uri.params.get("proxy") for r in leg.dialog.route_set] == ["two", "one"]
            await leg.confirmed.wait()
            bye = await leg.bye()
            assert bye.status == 200
            res = await finish_sipp(proc, local, files, 60)
            assert res.ok, res.explain()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await stack.stop()

    run(main)
