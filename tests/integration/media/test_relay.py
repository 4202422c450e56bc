"""Bridged relay on real UDP sockets: forwarding, counters, latching, adaptation, DTMF."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.integration.media.support import Phone, answered_leg, offered_leg
from zvans.telephony.media import audio, dtmf, g711
from zvans.telephony.media.session import LegMode, MediaEngine


def run(body: Callable[[MediaEngine], Awaitable[Any]], use_uvloop: bool = False) -> Any:
    async def main() -> Any:
        engine = MediaEngine(port_start=41000, port_end=41999)
        try:
            return await body(engine)
        finally:
            await engine.aclose()

    if use_uvloop:
        uvloop = pytest.importorskip("uvloop")
        return uvloop.run(main())
    return asyncio.run(main())


@pytest.mark.parametrize("use_uvloop", [False, True], ids=["asyncio", "uvloop"])
def test_relay_forwards_both_ways_unchanged_with_counts(use_uvloop: bool) -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await offered_leg(engine, agent)
        engine.bridge(a, b)
        assert a.mode is b.mode is LegMode.RELAY
        sent_up = [bytes([i]) * 160 for i in range(50)]
        for payload in sent_up:
            caller.send(a.port, payload)
        for i in range(30):
            agent.send(b.port, bytes([200 + i % 50]) * 160)
        await agent.wait_for(50)
        await caller.wait_for(30)
        assert [p.payload for p in agent.received] == sent_up
        # forwarded raw: the caller's own SSRC and sequence numbers reach the agent
        assert {p.ssrc for p in agent.received} == {caller.ssrc}
        assert [p.sequence for p in agent.received] == list(range(1000, 1050))
        assert all(src[1] == b.port for src in agent.sources)  # sent out of the agent leg
        assert (a.rx_packets, b.tx_packets, b.rx_packets, a.tx_packets) == (50, 50, 30, 30)
        assert a.rx_bytes == 50 * 172 and b.tx_bytes == 50 * 172
        assert a.rx_lost == 0
        counters = engine.counters()
        assert counters["rx_packets"] == 80 and counters["bridged_legs"] == 2
        engine.unbridge(a)
        caller.send(a.port, b"\x00" * 160)
        await asyncio.sleep(0.05)
        assert len(agent.received) == 50 and a.rx_packets == 51
        caller.close()
        agent.close()

    run(body, use_uvloop)


def test_latches_to_real_source_and_ignores_strangers() -> None:
    async def body(engine: MediaEngine) -> None:
        caller, decoy, agent, stranger = [await Phone.open() for _ in range(4)]
        # the caller's SDP names the decoy's port (a NAT in between), packets come from caller
        a = await answered_leg(engine, caller, port=decoy.port)
        b = await offered_leg(engine, agent)
        engine.bridge(a, b)
        agent.send(b.port, b"\x01" * 160)
        await decoy.wait_for(1)  # before any packet from the caller: the SDP address
        caller.send(a.port, b"\x02" * 160)
        await agent.wait_for(1)
        for _ in range(3):
            agent.send(b.port, b"\x03" * 160)
        await caller.wait_for(3)
        assert len(decoy.received) == 1
        assert a.remote == ("127.0.0.1", caller.port)
        # a stranger spraying the port is not relayed and does not steal the stream
        for _ in range(3):
            stranger.send(a.port, b"\x66" * 160)
        caller.send(a.port, b"\x04" * 160)
        await agent.wait_for(2)
        await asyncio.sleep(0.05)
        assert [p.payload[0] for p in agent.received] == [2, 4]
        assert a.rx_foreign == 3
        agent.send(b.port, b"\x05" * 160)
        await caller.wait_for(4)
        assert len(stranger.received) == 0
        for phone in (caller, decoy, agent, stranger):
            phone.close()

    run(body)


def test_loss_and_malformed_are_counted_not_forwarded() -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await offered_leg(engine, agent)
        engine.bridge(a, b)
        for seq in [1, 2, 5, 6, 10]:  # 3, 4, 7, 8, 9 lost
            caller.send(a.port, b"\xd5" * 160, seq=seq)
        assert caller.transport is not None
        caller.transport.sendto(b"\x00garbage", ("127.0.0.1", a.port))
        caller.transport.sendto(b"\x80", ("127.0.0.1", a.port))
        # an RTCP receiver report multiplexed on the RTP port is counted, not relayed
        caller.transport.sendto(bytes([0x81, 201, 0, 7]) + bytes(28), ("127.0.0.1", a.port))
        await agent.wait_for(5)
        await asyncio.sleep(0.05)
        assert len(agent.received) == 5
        assert a.rx_lost == 5
        assert a.rx_malformed == 2 and a.rx_rtcp == 1
        caller.close()
        agent.close()

    run(body)


def test_transcodes_law_and_maps_payload_types() -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller, codecs=("PCMA",), te_pt=101)
        b = await offered_leg(engine, agent, codecs=("PCMU",), te_pt=96)
        assert (a.codec, b.codec) == ("PCMA", "PCMU")
        # the agent answered our offer: our offer carries 101, the agent must use it
        assert b.te_pt == 101
        # force a different telephone-event number on the agent leg as a peer could
        b.te_pt = 96
        engine.bridge(a, b)
        tone = audio.tone(440, 0.02)
        caller.send(a.port, g711.encode(tone, "PCMA"), pt=8)
        caller.send(a.port, dtmf.build_event(5, True, 800), pt=101)
        await agent.wait_for(2)
        audio_packet, event_packet = agent.received
        assert audio_packet.payload_type == 0
        assert audio_packet.payload == g711.encode(g711.decode(g711.encode(tone, "PCMA"),
                                                               "PCMA"), "PCMU")
        assert event_packet.payload_type == 96
        assert event_packet.payload == dtmf.build_event(5, True, 800)
        caller.close()
        agent.close()

    run(body)


def test_continuity_after_prompt_keeps_ssrc_and_sequence() -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await offered_leg(engine, agent)
        playback = engine.play(a, audio.AudioClip(audio.tone(425, 0.1)))
        await playback.wait()
        await caller.wait_for(5)
        last = caller.received[-1]
        engine.bridge(a, b)
        for _ in range(3):
            agent.send(b.port, b"\x11" * 160)
        await caller.wait_for(8)
        relayed = caller.received[5:]
        assert {p.ssrc for p in relayed} == {last.ssrc}
        assert [p.sequence for p in relayed] == [last.sequence + i for i in (1, 2, 3)]
        assert relayed[0].marker and not relayed[1].marker
        assert relayed[0].timestamp > last.timestamp
        assert [p.timestamp - relayed[0].timestamp for p in relayed] == [0, 160, 320]
        # the other direction had no prompt: forwarded untouched
        caller.send(a.port, b"\x22" * 160)
        await agent.wait_for(1)
        assert agent.received[0].ssrc == caller.ssrc
        caller.close()
        agent.close()

    run(body)


def test_dtmf_reported_once_per_digit_on_any_mode() -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller, te_pt=97)
        assert a.te_pt == 97
        digits: list[dtmf.DtmfDigit] = []
        a.on_dtmf = digits.append
        for digit, ts in (("4", 1000), ("#", 9000)):
            for payload, marker in dtmf.event_payloads(digit, 120):
                caller.send(a.port, payload, pt=97, ts=ts, marker=marker)
        await asyncio.sleep(0.1)
        assert [(d.digit, d.duration_ms) for d in digits] == [("4", 120), ("#", 120)]
        # bridged: still detected, and passed through to the agent
        b = await offered_leg(engine, agent, te_pt=97)
        engine.bridge(a, b)
        for payload, marker in dtmf.event_payloads("7", 100):
            caller.send(a.port, payload, pt=97, ts=20000, marker=marker)
        await agent.wait_for(7)  # 4 progress packets and 3 end packets, all relayed
        assert [d.digit for d in digits] == ["4", "#", "7"]
        # SIP INFO lands on the same callback
        engine.info_dtmf(a, "Signal=9\r\nDuration=160")
        assert digits[-1] == dtmf.DtmfDigit("9", 160, "info")
        caller.close()
        agent.close()

    run(body)


def test_send_dtmf_is_understood_by_a_receiver() -> None:
    async def body(engine: MediaEngine) -> None:
        phone = await Phone.open()
        leg = await answered_leg(engine, phone)
        await engine.send_dtmf(leg, "12", duration_ms=100)
        receiver = dtmf.DtmfReceiver()
        for packet in phone.received:
            assert packet.payload_type == 101
            receiver.feed(packet.ssrc, packet.timestamp, packet.payload)
        assert [(d.digit, d.duration_ms) for d in receiver.digits] == [("1", 100), ("2", 100)]
        phone.close()

    run(body)


def test_reinvite_hold_stops_sending_and_resume_restarts() -> None:
    async def body(engine: MediaEngine) -> None:
        caller, agent = await Phone.open(), await Phone.open()
        a = await answered_leg(engine, caller)
        b = await answered_leg(engine, agent)
        engine.bridge(a, b)
        held = agent.offer().replace("a=sendrecv", "a=sendonly")
        assert "a=recvonly" in engine.answer(b, held)
        assert b.on_hold
        caller.send(a.port, b"\x01" * 160)
        agent.send(b.port, b"\x02" * 160)  # the holding side may still send (e.g. its MOH)
        await caller.wait_for(1)
        await asyncio.sleep(0.05)
        assert agent.received == [] and b.tx_dropped == 1
        assert "a=sendrecv" in engine.answer(b, agent.offer())
        caller.send(a.port, b"\x03" * 160)
        await agent.wait_for(1)
        assert agent.received[0].payload == b"\x03" * 160
        caller.close()
        agent.close()

    run(body)
