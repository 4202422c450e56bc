"""Untrusted input never raises anything but our typed errors (hypothesis)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from zvans.telephony.media import dtmf, rtp, sdp
from zvans.telephony.media.errors import DtmfError, SdpError
from zvans.telephony.media.recorder import Recorder
from zvans.telephony.media.relay import RtpEndpoint, connect


@given(st.binary(max_size=300))
def test_rtp_parse_never_raises(data: bytes) -> None:
    packet = rtp.parse(data)
    if packet is not None:
        assert packet.payload_type < 128 and len(packet.payload) <= len(data)


@given(st.lists(st.sampled_from([
    "v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.2", "c=IN IP6 ::1", "t=0 0",
    "m=audio 4000 RTP/AVP 0 8 101", "m=video 0 RTP/AVP 31", "m=audio 70000 RTP/AVP 0",
    "a=rtpmap:101 telephone-event/8000", "a=rtpmap:8 PCMA", "a=ptime:0", "a=sendonly",
    "a=fmtp:101 0-15", "x", "a=rtpmap:abc", "m=audio", "c=IN IP4", "a=ptime:20",
]), max_size=12), st.text(max_size=40))
def test_sdp_answer_raises_only_sdp_errors(lines: list[str], junk: str) -> None:
    text = "\r\n".join([*lines, junk])
    with contextlib.suppress(SdpError):
        sdp.answer(text, sdp.LocalMedia("127.0.0.1", 20000))


@given(st.text(max_size=60))
def test_info_body_raises_only_dtmf_errors(body: str) -> None:
    with contextlib.suppress(DtmfError):
        dtmf.parse_info(body)


class _Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append(data)


_rtp_like = st.builds(
    lambda first, second, rest: bytes([first, second]) + rest,
    st.sampled_from([0x80, 0x81, 0x8F, 0x90, 0xA0, 0xB3, 0x40]),
    st.sampled_from([0, 8, 101, 0x88, 0xE5, 13]),
    st.binary(max_size=200),
)


@settings(max_examples=300)
@given(st.lists(st.one_of(st.binary(max_size=200), _rtp_like), max_size=20))
def test_relay_and_recorder_survive_garbage(packets: list[bytes]) -> None:

    async def main() -> None:
        a, b = RtpEndpoint(1), RtpEndpoint(2)
        sink = _Sink()
        a.transport = b.transport = sink  # type: ignore[assignment]
        a.te_pt = 101
        a.dtmf = dtmf.DtmfReceiver()
        b.remote = ("127.0.0.1", 9)
        b.tx_own_used = True  # exercise the rewriting path too
        b.codec = "PCMU"
        connect(a, b)
        with tempfile.TemporaryDirectory() as tmp:
            recorder = Recorder(f"{tmp}/x.wav")
            a.tap = recorder.feed
            for data in packets:
                a.datagram_received(data, ("127.0.0.1", 5))
            recorder.close()
        assert a.rx_packets == len(packets)
        assert len(sink.sent) + a.rx_malformed + b.tx_dropped <= len(packets)

    asyncio.run(main())
