"""Two real SipStacks on loopback: outgoing calls, CANCEL, re-INVITE, INFO, digest with
SHA-256, outbound registration, overload 503.  (sipp cannot place SHA-256 digests.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.integration.sip.support import run, wait_until
from zvans.telephony.sip import (
    AuthResult,
    Credentials,
    DigestServer,
    IncomingCall,
    IncomingRequest,
    NameAddr,
    Peer,
    Registrar,
    RegistrationClient,
    Request,
    SipStack,
    StackConfig,
    TimerConfig,
    TrunkConfig,
    make_response,
    parse_message,
)

SDP_A = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
SDP_B = b"v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
DID = "37160000100"
FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.2)


@pytest.fixture(autouse=True)
def _need_sipp() -> None:
    """Overrides the package's sipp check: two real stacks talk to each other here."""


@asynccontextmanager
async def stacks(
    transport: str = "UDP", **server_kw: object
) -> AsyncIterator[tuple[SipStack, SipStack, Peer]]:
    server = SipStack(
        StackConfig(udp_port=0, tcp_port=0, dids=frozenset({DID}), timers=FAST), **server_kw
    )  # type: ignore[arg-type]
    client = SipStack(StackConfig(udp_port=0, tcp_port=0, contact_user="caller", timers=FAST))
    await server.start()
    await client.start()
    host, port = server.addresses[transport]
    try:
        yield server, client, Peer(transport, host, port)
    finally:
        await client.stop()
        await server.stop()


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_outgoing_call_ring_answer_and_bye(transport: str) -> None:
    async def main() -> None:
        async with stacks(transport) as (server, client, peer):
            incoming: list[IncomingCall] = []

            async def on_invite(call: IncomingCall) -> None:
                incoming.append(call)
                call.provisional(180)
                call.answer(SDP_B)

            server.on_invite = on_invite
            suffix = ";transport=tcp" if transport == "TCP" else ""
            leg = await client.invite(
                f"sip:{DID}@{peer.host}:{peer.port}{suffix}",
                from_uri="sip:caller@example.test",
                body=SDP_A,
            )
            provisional: list[int] = []
            leg.on_provisional = lambda r: provisional.append(r.status)
            final = await leg.final()
            assert final.status == 200
            assert leg.remote_body == SDP_B
            assert incoming[0].remote_body == SDP_A
            await asyncio.wait_for(incoming[0].confirmed.wait(), 10)  # our ACK arrived
            assert leg.dialog is not None and incoming[0].dialog is not None
            # UAC's remote target is the UAS's Contact, not the address we dialled
            assert leg.dialog.remote_target.user == "zvans"
            assert leg.dialog.id.call_id == incoming[0].dialog.id.call_id
            assert leg.dialog.remote_tag == incoming[0].dialog.local_tag
            bye = await leg.bye()
            assert bye.status == 200
            assert await asyncio.wait_for(incoming[0].ended, 10) == "remote-bye"
            assert leg.ended.result() == "local-bye"
            assert server._dialogs == {} and client._dialogs == {}

    run(main)


def test_cancel_before_answer() -> None:
    async def main() -> None:
        async with stacks() as (server, client, peer):
            incoming: list[IncomingCall] = []
            cancelled: list[str] = []

            def on_invite(call: IncomingCall) -> None:
                incoming.append(call)
                call.on_cancel = lambda c: cancelled.append(c.call_id)
                call.provisional(180)

            server.on_invite = on_invite
            leg = await client.invite(
                f"sip:{DID}@{peer.host}:{peer.port}", from_uri="sip:caller@example.test", body=SDP_A
            )
            await wait_until(lambda: bool(leg.provisionals), what="180")
            await leg.hangup()  # unanswered: CANCEL
            final = await asyncio.wait_for(leg.final(), 10)
            assert final.status == 487
            assert await asyncio.wait_for(incoming[0].ended, 10) == "cancelled"
            assert cancelled == [leg.call_id]
            assert leg.ended.result() == "cancelled"

    run(main)


def test_reinvite_and_info_in_dialog() -> None:
    async def main() -> None:
        async with stacks() as (server, client, peer):
            seen: list[tuple[str, bytes]] = []
            incoming: list[IncomingCall] = []

            targets: list[NameAddr] = []

            async def on_request(req: IncomingRequest) -> None:
                if req.method == "REFER":
                    assert req.refer_to is not None
                    targets.append(req.refer_to)
                    req.respond(202)
                    return
                seen.append((req.method, req.request.body))
                if req.method == "INVITE":
                    req.respond(200, body=b"v=0\r\nhold-answer\r\n")
                else:
                    req.respond(200)

            def on_invite(call: IncomingCall) -> None:
                incoming.append(call)
                call.on_request = on_request
                call.answer(SDP_B)

            server.on_invite = on_invite
            leg = await client.invite(
                f"sip:{DID}@{peer.host}:{peer.port}", from_uri="sip:caller@example.test", body=SDP_A
            )
            assert (await leg.final()).status == 200
            held = b"v=0\r\na=sendonly\r\n"
            resp = await leg.reinvite(held)
            assert resp.status == 200
            assert leg.remote_body == b"v=0\r\nhold-answer\r\n"
            refer = await leg.request_in_dialog(
                "REFER", headers=[("r", "<sip:expert@example.test?Replaces=abc%40x>")]
            )
            assert refer.status == 202
            assert str(targets[0].uri) == "sip:expert@example.test?Replaces=abc%40x"
            info = await leg.info(b"Signal=5\r\nDuration=160\r\n", "application/dtmf-relay")
            assert info.status == 200
            assert seen == [("INVITE", held), ("INFO", b"Signal=5\r\nDuration=160\r\n")]
            assert incoming[0].remote_body == held
            await wait_until(lambda: not incoming[0]._pending_2xx, what="re-INVITE ACK")
            await leg.bye()

    run(main)


def test_rejected_call_and_no_handler() -> None:
    async def main() -> None:
        async with stacks() as (server, client, peer):
            leg = await client.invite(
                f"sip:{DID}@{peer.host}:{peer.port}", from_uri="sip:caller@example.test"
            )
            assert (await leg.final()).status == 480  # no on_invite installed
            server.on_invite = lambda call: call.reject(486)
            leg2 = await client.invite(
                f"sip:{DID}@{peer.host}:{peer.port}", from_uri="sip:caller@example.test"
            )
            assert (await leg2.final()).status == 486
            assert leg2.ended.result() == "rejected"

    run(main)


def _auth_server_kw(algorithms: tuple[str, ...] = ("SHA-256", "MD5")) -> dict[str, object]:
    creds = Credentials.from_password("agent7", "zvans", "pw-7")

    async def lookup(username: str) -> Credentials | None:
        return creds if username == "agent7" else None

    return {
        "registrar": Registrar(DigestServer("zvans", algorithms=algorithms), lookup, min_expires=1)
    }


def test_outbound_registration_with_sha256_then_authenticated_external_call() -> None:
    async def main() -> None:
        # SHA-256 only: a successful registration proves the SHA-256 path end to end
        async with stacks(**_auth_server_kw(("SHA-256",))) as (server, client, peer):
            assert server.registrar is not None
            trunk = TrunkConfig(
                name="op",
                host=peer.host,
                port=peer.port,
                username="agent7",
                password="pw-7",
                register=True,
                expires=2,
            )
            reg = RegistrationClient(client, trunk, retry_after=0.2)
            reg.start()
            await asyncio.wait_for(reg.registered.wait(), 10)
            assert reg.last_response is not None and reg.last_response.status == 200
            (binding,) = server.registrar.bindings("agent7")
            first_expiry = binding.expires_at
            # refreshed before expiry (refresh at expires/2 for short bindings)
            await wait_until(
                lambda: any(
                    b.expires_at > first_expiry for b in server.registrar.bindings("agent7")
                ),
                what="registration refresh",
            )

            incoming: list[IncomingCall] = []
            server.on_invite = lambda call: (incoming.append(call), call.reject(486))[-1]
            # external number: the registered phone is challenged (407), answers, is let in
            leg = await client.invite(
                f"sip:0037120000000@{peer.host}:{peer.port}",
                from_uri="sip:agent7@example.test",
                peer=peer,
                credentials=("agent7", "pw-7"),
            )
            assert (await leg.final()).status == 486
            assert incoming[0].authenticated_user == "agent7"
            assert "algorithm=SHA-256" in (leg.request.headers.get("Proxy-Authorization") or "")

            bad = await client.invite(
                f"sip:0037120000000@{peer.host}:{peer.port}",
                from_uri="sip:agent7@example.test",
                peer=peer,
                credentials=("agent7", "wrong"),
            )
            assert (await bad.final()).status == 403
            await reg.stop()
            assert server.registrar.bindings("agent7") == []

    run(main)


def test_overload_answers_503_with_retry_after() -> None:
    async def main() -> None:
        lag = {"value": 0.0}
        async with stacks(lag_probe=lambda: lag["value"]) as (server, client, peer):
            server.on_invite = lambda call: call.reject(486)
            lag["value"] = 2.0
            leg = await client.invite(
                f"sip:{DID}@{peer.host}:{peer.port}", from_uri="sip:caller@example.test"
            )
            final = await leg.final()
            assert final.status == 503
            assert final.headers.get("Retry-After") == "5"
            ping = await client.request("OPTIONS", f"sip:zvans@{peer.host}:{peer.port}", peer=peer)
            assert ping.status == 200  # keep-alives still answered
            lag["value"] = 0.0
            leg2 = await client.invite(
                f"sip:{DID}@{peer.host}:{peer.port}", from_uri="sip:caller@example.test"
            )
            assert (await leg2.final()).status == 486

    run(main)


def test_request_to_dead_peer_times_out() -> None:
    async def main() -> None:
        async with stacks() as (server, client, peer):
            await server.stop()
            resp = await client.request("OPTIONS", f"sip:zvans@{peer.host}:{peer.port}", peer=peer)
            assert resp.status == 408
            assert client.layer.client == {}

    run(main)


class RawPeer(asyncio.DatagramProtocol):
    """A hand-driven UAS on a real UDP socket, to play losses and forks exactly."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.queue.put_nowait(data)

    async def expect(self, method: str) -> bytes:
        for _ in range(50):
            data = await asyncio.wait_for(self.queue.get(), 10)
            if data.startswith(method.encode() + b" "):
                return data
        raise AssertionError(f"no {method}")


def answer(invite: bytes, status: str, tag: str, port: int) -> bytes:
    keep = []
    for line in invite.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name = line.split(b":", 1)[0].lower()
        if name in (b"via", b"from", b"call-id", b"cseq"):
            keep.append(line)
        elif name == b"to":
            keep.append(line + b";tag=" + tag.encode())
    keep.append(b"Contact: <sip:uas@127.0.0.1:%d>" % port)
    keep.append(b"Content-Length: 0")
    return b"SIP/2.0 " + status.encode() + b"\r\n" + b"\r\n".join(keep) + b"\r\n\r\n"


def test_retransmitted_2xx_is_acked_again_and_second_fork_is_hung_up() -> None:
    async def main() -> None:
        client = SipStack(StackConfig(udp_port=0, tcp_port=None, timers=FAST))
        await client.start()
        loop = asyncio.get_running_loop()
        transport, uas = await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        target = ("127.0.0.1", client.port())
        try:
            leg = await client.invite(f"sip:uas@127.0.0.1:{port}", from_uri="sip:zvans@x.test")
            invite = await uas.expect("INVITE")
            ok = answer(invite, "200 OK", "fork1", port)
            transport.sendto(ok, target)
            assert (await leg.final()).status == 200
            first_ack = await uas.expect("ACK")
            transport.sendto(ok, target)  # our ACK "was lost": 2xx retransmitted
            second_ack = await uas.expect("ACK")
            assert first_ack == second_ack  # the very same ACK, re-sent
            assert b"tag=fork1" in first_ack
            # a second fork answers too: ACK it and hang it up
            transport.sendto(answer(invite, "200 OK", "fork2", port), target)
            ack2 = await uas.expect("ACK")
            bye2 = await uas.expect("BYE")
            assert b"tag=fork2" in ack2 and b"tag=fork2" in bye2
            assert leg.dialog is not None and leg.dialog.remote_tag == "fork1"
            assert client.stats["forks_refused"] == 1
        finally:
            transport.close()
            await client.stop()

    run(main)


def test_keepalive_keeps_a_live_dialog_and_ends_a_dead_one() -> None:
    async def main() -> None:
        async with stacks() as (server, client, peer):
            incoming: list[IncomingCall] = []

            def on_invite(call: IncomingCall) -> None:
                incoming.append(call)
                call.answer(SDP_B)

            server.on_invite = on_invite
            leg = await client.invite(
                f"sip:{DID}@{peer.host}:{peer.port}", from_uri="sip:caller@example.test"
            )
            assert (await leg.final()).status == 200
            leg.start_keepalive(0.05)
            await wait_until(
                lambda: server.layer.stats["server_created"] >= 4, what="two OPTIONS probes"
            )
            assert not leg.is_ended
            await server.stop()  # the peer dies without a BYE
            assert await asyncio.wait_for(leg.ended, 30) == "options-408"

    run(main)


def test_update_without_body_is_a_session_refresh() -> None:
    async def main() -> None:
        async with stacks() as (server, client, peer):
            server.on_invite = lambda call: call.answer(SDP_B) and None
            leg = await client.invite(
                f"sip:{DID}@{peer.host}:{peer.port}", from_uri="sip:caller@example.test"
            )
            assert (await leg.final()).status == 200
            assert (await leg.request_in_dialog("UPDATE")).status == 200
            assert (await leg.request_in_dialog("UPDATE", body=SDP_A)).status == 488
            await leg.bye()

    run(main)


def test_same_invite_on_another_branch_is_482_not_a_second_call() -> None:
    """A merged request (or a retransmission later than the transaction) is refused."""

    async def main() -> None:
        server = SipStack(StackConfig(udp_port=0, tcp_port=None, dids=frozenset({DID})))
        calls: list[IncomingCall] = []
        server.on_invite = lambda call: (calls.append(call), call.answer(SDP_B))[0] and None
        await server.start()
        loop = asyncio.get_running_loop()
        transport, uac = await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))
        me = f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
        target = ("127.0.0.1", server.port())

        def invite(branch: str) -> bytes:
            return (
                f"INVITE sip:{DID}@127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {me};branch={branch}\r\n"
                "From: <sip:a@x.test>;tag=a1\r\nTo: <sip:b@x.test>\r\n"
                "Call-ID: merged-1\r\nCSeq: 5 INVITE\r\n"
                f"Contact: <sip:a@{me}>\r\nContent-Length: 0\r\n\r\n"
            ).encode()

        try:
            transport.sendto(invite("z9hG4bKfirst"), target)
            for _ in range(10):
                got = await asyncio.wait_for(uac.queue.get(), 10)
                if got.startswith(b"SIP/2.0 200"):
                    break
            transport.sendto(invite("z9hG4bKsecond"), target)
            statuses = []
            for _ in range(10):
                got = await asyncio.wait_for(uac.queue.get(), 10)
                if b"z9hG4bKsecond" in got:
                    statuses.append(int(got.split(b" ")[1]))
                    if statuses[-1] >= 200:
                        break
            assert statuses[-1] == 482
            assert len(calls) == 1
        finally:
            transport.close()
            await server.stop()

    run(main)


def test_flood_from_one_source_is_rate_limited() -> None:
    async def main() -> None:
        server = SipStack(StackConfig(udp_port=0, tcp_port=None, rate=0.01, burst=3))
        await server.start()
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            RawPeer, local_addr=("127.0.0.1", 0)
        )
        me = f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
        try:
            for n in range(10):
                transport.sendto(
                    (
                        f"OPTIONS sip:zvans@127.0.0.1 SIP/2.0\r\n"
                        f"Via: SIP/2.0/UDP {me};branch=z9hG4bKflood{n}\r\n"
                        f"From: <sip:a@x.test>;tag=f{n}\r\nTo: <sip:zvans@x.test>\r\n"
                        f"Call-ID: flood-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                    ).encode(),
                    ("127.0.0.1", server.port()),
                )
            await wait_until(lambda: server.stats["rate_limited"] == 7, what="7 drops")
            answered = [await asyncio.wait_for(client.queue.get(), 10) for _ in range(3)]
            assert all(a.startswith(b"SIP/2.0 200") for a in answered)
            assert client.queue.empty()
        finally:
            transport.close()
            await server.stop()

    run(main)


def test_ipv6_loopback_udp_and_tcp() -> None:
    async def main() -> None:
        fast = StackConfig(host="::1", udp_port=0, tcp_port=0, timers=FAST)
        try:
            server = SipStack(
                StackConfig(host="::1", udp_port=0, tcp_port=0, dids=frozenset({DID}), timers=FAST)
            )
            await server.start()
        except OSError:
            pytest.skip("optional: no IPv6 loopback here")
        client = SipStack(fast)
        await client.start()
        server.on_invite = lambda call: call.answer(SDP_B) and None
        try:
            assert server.port("UDP") == server.port("TCP")
            for suffix in ("", ";transport=tcp"):
                leg = await client.invite(
                    f"sip:{DID}@[::1]:{server.port()}{suffix}",
                    from_uri="sip:caller@[::1]",
                    body=SDP_A,
                )
                assert (await leg.final()).status == 200
                assert leg.dialog is not None and leg.dialog.remote_target.host == "[::1]"
                assert "[::1]" in (leg.request.headers.get("Via") or "")
                assert (await leg.bye()).status == 200
        finally:
            await client.stop()
            await server.stop()

    run(main)


def test_challenged_bye_is_answered_with_credentials() -> None:
    """Some operators challenge in-dialog requests: the leg's credentials answer them."""

    async def main() -> None:
        client = SipStack(StackConfig(udp_port=0, tcp_port=None, timers=FAST))
        await client.start()
        loop = asyncio.get_running_loop()
        transport, uas = await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        target = ("127.0.0.1", client.port())
        digest = DigestServer("operator", algorithms=("MD5",))
        creds = Credentials.from_password("trunkuser", "operator", "s3cret", ["MD5"])

        async def lookup(username: str) -> Credentials | None:
            return creds if username == "trunkuser" else None

        try:
            leg = await client.invite(
                f"sip:uas@127.0.0.1:{port}",
                from_uri="sip:zvans@x.test",
                credentials=("trunkuser", "s3cret"),
            )
            invite = await uas.expect("INVITE")
            transport.sendto(answer(invite, "200 OK", "op1", port), target)
            assert (await leg.final()).status == 200
            await uas.expect("ACK")
            bye_task = asyncio.ensure_future(leg.bye())
            bye = parse_message(await uas.expect("BYE"))
            assert isinstance(bye, Request)
            challenge = make_response(bye, 407, headers=digest.challenge_headers(proxy=True))
            transport.sendto(challenge.to_bytes(), target)
            second = parse_message(await uas.expect("BYE"))
            assert isinstance(second, Request)
            assert second.cseq[0] == bye.cseq[0] + 1
            outcome = await digest.verify(second, lookup, proxy=True)
            assert outcome.result is AuthResult.OK
            transport.sendto(make_response(second, 200).to_bytes(), target)
            assert (await asyncio.wait_for(bye_task, 10)).status == 200
        finally:
            transport.close()
            await client.stop()

    run(main)


def test_outbound_registration_follows_min_expires() -> None:
    async def main() -> None:
        kw = _auth_server_kw(("MD5",))
        registrar = kw["registrar"]
        assert isinstance(registrar, Registrar)
        registrar.min_expires = 120
        async with stacks(**kw) as (_server, client, peer):
            trunk = TrunkConfig(
                name="op", host=peer.host, port=peer.port, username="agent7",
                password="pw-7", expires=30,
            )  # fmt: skip
            reg = RegistrationClient(client, trunk)
            response = await reg.register_once()
            assert response.status == 200
            assert reg.expires == 120
            assert len(registrar.bindings("agent7")) == 1
            assert "expires=120" in (response.headers.get("Contact") or "")

    run(main)


def test_trusted_sources_are_not_rate_limited() -> None:
    stack_config = StackConfig(rate=0.01, burst=1, trusted_sources=("127.0.0.0/8",))
    stack = SipStack(stack_config)
    assert all(stack.rate_limiter.allow("127.0.0.1") for _ in range(100))
    assert stack.rate_limiter.allow("192.0.2.1") and not stack.rate_limiter.allow("192.0.2.1")
