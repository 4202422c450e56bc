from __future__ import annotations

import pytest

from zvans.telephony.media import rtp


def test_round_trip_with_csrc_extension_and_padding() -> None:
    packet = rtp.RtpPacket(
        payload_type=8, sequence=65535, timestamp=0xFFFFFFFF, ssrc=0x12345678,
        payload=b"\x01\x02\x03", marker=True, csrc=[1, 2, 3],
        extension=(0xBEDE, b"\xaa\xbb\xcc\xdd"), padding=5,
    )
    data = packet.build()
    assert len(data) == 12 + 12 + 4 + 4 + 3 + 5
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    parsed = rtp.parse(data)
    assert parsed is not None
    assert parsed.payload == b"\x01\x02\x03"
    assert parsed.csrc == [1, 2, 3]
    assert parsed.extension == (0xBEDE, b"\xaa\xbb\xcc\xdd")
    assert parsed.marker and parsed.payload_type == 8
    assert (parsed.sequence, parsed.timestamp, parsed.ssrc) == (65535, 0xFFFFFFFF, 0x12345678)
    assert rtp.payload_offset(data) == 12 + 12 + 8
    assert rtp.payload_end(data) == len(data) - 5


def test_plain_packet_bytes() -> None:
    data = rtp.RtpPacket(0, 1, 160, 7, b"\xff" * 160).build()
    assert data[:12] == bytes([0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x08\x00",  # shorter than the header
        bytes([0x40, 8]) + bytes(10),  # version 1
        bytes([0x83, 8]) + bytes(10),  # 3 CSRC announced, none present
        bytes([0x90, 8]) + bytes(10) + b"\x00\x00\x00\x05",  # extension longer than packet
        bytes([0xA0, 8]) + bytes(10) + b"\x00",  # padding count 0
        bytes([0xA0, 8]) + bytes(10) + b"\x01\x02\x40",  # padding longer than packet
        bytes([0x80, 200]) + bytes(10),  # RTCP sender report on the RTP port
    ],
)
def test_malformed_is_none(data: bytes) -> None:
    assert rtp.parse(data) is None


def test_build_rejects_bad_fields() -> None:
    with pytest.raises(ValueError):
        rtp.RtpPacket(0, 0, 0, 0, csrc=list(range(16))).build()
    with pytest.raises(ValueError):
        rtp.RtpPacket(0, 0, 0, 0, extension=(1, b"abc")).build()


def test_sequence_tracker_counts_loss_across_wrap_and_new_ssrc() -> None:
    tracker = rtp.SequenceTracker()
    for seq in [65530, 65531, 65533, 65535, 0, 1, 3]:  # 65532, 65534, 2 lost
        tracker.update(1, seq)
    assert tracker.lost == 3
    tracker.update(1, 2)  # late arrival repairs one
    assert tracker.lost == 2
    for seq in [100, 101, 104]:  # new source: its own count (102, 103 lost)
        tracker.update(2, seq)
    assert tracker.lost == 4
