"""RTP packets (RFC 3550 §5.1): parse and build, with CSRC list, header extension and padding.

The relay does not use :class:`RtpPacket` on its hot path (it peeks at four header bytes in
place); this module serves the legs Zvans itself plays to or listens on, the DTMF code and
tests. A malformed datagram parses to ``None`` and the caller counts it: RTP from the network
is untrusted and must never raise into the event loop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
HEADER = struct.Struct("!BBHII")
HEADER_SIZE = HEADER.size  # 12


@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: list[int] = field(default_factory=list)
    #: (profile-defined 16 bits, extension data whose length is a multiple of 4) or None
    extension: tuple[int, bytes] | None = None
    #: number of padding bytes to add when building (the parsed padding is stripped)
    padding: int = 0

    def build(self) -> bytes:
        if len(self.csrc) > 15:
            raise ValueError("at most 15 CSRC identifiers")
        first = (RTP_VERSION << 6) | len(self.csrc)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        parts = [
            HEADER.pack(
                first, second, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                self.ssrc & 0xFFFFFFFF,
            )
        ]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise ValueError("extension data length must be a multiple of 4")
            parts.append(struct.pack("!HH", profile, len(data) // 4))
            parts.append(data)
        parts.append(self.payload)
        if self.padding:
            if not 1 <= self.padding <= 255:
                raise ValueError("padding must be 1..255 bytes")
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def parse(data: bytes | bytearray | memoryview) -> RtpPacket | None:
    """Parse one datagram; ``None`` when it is not a well-formed RTP version 2 packet."""
    n = len(data)
    if n < HEADER_SIZE:
        return None
    first, second, seq, ts, ssrc = HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        return None
    pt = second & 0x7F
    if 72 <= pt <= 76:  # RTCP packet types 200..204 sent on the RTP port (RFC 5761 §4)
        return None
    cc = first & 0x0F
    offset = HEADER_SIZE + 4 * cc
    if offset > n:
        return None
    csrc = list(struct.unpack_from(f"!{cc}I", data, HEADER_SIZE)) if cc else []
    extension = None
    if first & 0x10:
        if offset + 4 > n:
            return None
        profile, words = struct.unpack_from("!HH", data, offset)
        offset += 4
        end = offset + 4 * words
        if end > n:
            return None
        extension = (profile, bytes(data[offset:end]))
        offset = end
    end = n
    if first & 0x20:
        pad = data[n - 1]
        if pad == 0 or offset + pad > n:
            return None
        end = n - pad
    return RtpPacket(
        payload_type=pt, sequence=seq, timestamp=ts, ssrc=ssrc,
        payload=bytes(data[offset:end]), marker=bool(second & 0x80),
        csrc=csrc, extension=extension,
    )


def payload_offset(data: bytes | bytearray | memoryview) -> int:
    """Start of the payload in a packet already known to be RTP (-1 when malformed).

    Used by the recorder tap to slice audio without building an :class:`RtpPacket`.
    """
    first = data[0]
    offset = HEADER_SIZE + 4 * (first & 0x0F)
    if first & 0x10:
        if offset + 4 > len(data):
            return -1
        offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
    return offset if offset <= len(data) else -1


def payload_end(data: bytes | bytearray | memoryview) -> int:
    """End of the payload (padding removed)."""
    n = len(data)
    if data[0] & 0x20:
        return n - data[n - 1]
    return n


class SequenceTracker:
    """Loss and reordering bookkeeping for one received stream (RFC 3550 appendix A.1, lite).

    ``expected - received`` is the loss; a new SSRC restarts the count so that a peer that
    switches sources (e.g. a PBX playing a prompt and then bridging) is not charged for it.
    """

    __slots__ = ("base", "cycles", "highest", "lost_before", "received", "ssrc")

    def __init__(self) -> None:
        self.ssrc = -1
        self.base = 0
        self.highest = 0
        self.cycles = 0
        self.received = 0
        self.lost_before = 0

    def update(self, ssrc: int, seq: int) -> None:
        if ssrc != self.ssrc:
            if self.ssrc != -1:
                self.lost_before += self._lost()
            self.ssrc = ssrc
            self.base = seq
            self.highest = seq
            self.cycles = 0
            self.received = 1
            return
        self.received += 1
        delta = (seq - self.highest) & 0xFFFF
        if 0 < delta < 0x8000:
            if seq < self.highest:
                self.cycles += 0x10000
            self.highest = seq

    def _lost(self) -> int:
        expected = self.cycles + self.highest - self.base + 1
        return max(0, expected - self.received)

    @property
    def lost(self) -> int:
        return self.lost_before + (self._lost() if self.ssrc != -1 else 0)
