"""The per-leg RTP socket and the bridged-audio relay: the media hot path.

Each leg owns one :class:`RtpEndpoint`, an ``asyncio.DatagramProtocol`` on its own UDP port.
When two endpoints are bridged, a packet received on one is sent, unchanged, out of the
other's socket to that other peer's latched address. Nothing is decoded and nothing is
logged per packet; the receive path does one ``struct.unpack_from`` and a handful of integer
operations, and allocates nothing when no adaptation is needed.

Adaptation (a copy of the packet, rewritten) happens only when it must:
* the two legs negotiated different laws (PCMA ↔ PCMU: ``bytes.translate``, no PCM step) or
  different payload-type numbers (telephone-event 101 on one side, 96 on the other);
* *continuity*: the destination leg was hearing our own prompt/MOH stream, so the relayed
  stream takes over that SSRC and continues its sequence numbers and timestamps, as a PBX
  that mixes would; some endpoints mute a new SSRC or mis-handle the jump otherwise.

Symmetric RTP (RFC 4961 / "comedia"): we send to the address the peer's packets come from.
The first packet latches; after that, a different source is accepted only once it has sent
``RELATCH_AFTER`` packets in a row while the latched source stayed silent (a NAT rebinding),
so a stray or hostile sender on the port cannot steal the stream.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

from ..random_pool import random_int
from .dtmf import DtmfReceiver
from .g711 import Codec, transcode_table
from .rtp import HEADER

RELATCH_AFTER = 5
_u = HEADER.unpack_from
_SEQ_TS_SSRC = struct.Struct("!HII")

#: recorder tap: (channel, raw packet)
Tap = Callable[[int, bytes], None]


class RtpEndpoint(asyncio.DatagramProtocol):
    """One UDP port speaking RTP with one peer."""

    def __init__(self, port: int, on_closed: Callable[[RtpEndpoint], None] | None = None) -> None:
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self._on_closed = on_closed
        # where we send: from SDP, then latched
        self.remote: tuple[str, int] | None = None
        self.latched = False
        self._candidate: tuple[str, int] | None = None
        self._candidate_count = 0
        # negotiated payload types (set by the session layer)
        self.payload_type = 8
        self.te_pt = -1
        self.codec: Codec = "PCMA"
        self.send_enabled = True  # false when the peer is on hold towards us (sendonly)
        # outgoing stream identity: used by our own player and by continuity rewriting
        self.tx_ssrc = random_int(4)
        self.tx_seq = random_int(2)
        self.tx_ts = random_int(4)
        self.tx_own_used = False  # we have sent our own stream on this leg
        self.tx_own_time = 0.0
        self.own_busy: object | None = None  # the playback sending on this leg right now
        # relay state
        self.peer: RtpEndpoint | None = None
        self.relay_tx = True  # the peer's packets may be sent to us (false while playing)
        self._adapt: Callable[[bytes], bytes] | None = None  # rewriting for packets *to us*
        self.tap: Tap | None = None
        self.tap_channel = 0
        # listen mode (not bridged): every received packet, e.g. to a voicemail recorder
        self.sink: Callable[[int, bytes], None] | None = None
        self.dtmf: DtmfReceiver | None = None
        # counters
        self.rx_packets = 0
        self.rx_bytes = 0
        self.rx_malformed = 0
        self.rx_foreign = 0
        self.rx_rtcp = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.tx_dropped = 0  # relay had no address to send to, or the leg is on hold
        self._ssrc = -1
        self._base_seq = 0
        self._ext_seq = 0
        self._received = 0
        self._lost_before = 0

    # -- asyncio.DatagramProtocol -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._on_closed is not None:
            callback, self._on_closed = self._on_closed, None
            callback(self)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that went away: counted by the next send, no log.
        pass

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.rx_packets += 1
        self.rx_bytes += len(data)
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            self.rx_malformed += 1
            return
        if addr != self.remote and not self._learn(addr):
            return
        _first, second, seq, ts, ssrc = _u(data)
        pt = second & 0x7F
        if 72 <= pt <= 76:  # RTCP multiplexed on the RTP port (RFC 5761): not relayed
            self.rx_rtcp += 1
            return
        # loss bookkeeping (RFC 3550 A.1, without probation)
        if ssrc == self._ssrc:
            delta = (seq - self._ext_seq) & 0xFFFF
            if delta < 0x8000:
                self._ext_seq += delta
            self._received += 1
        else:
            self._new_source(ssrc, seq)
        if pt == self.te_pt and self.dtmf is not None:
            self.dtmf.feed(ssrc, ts, data[12:] if data[0] == 0x80 else _payload(data))
        peer = self.peer
        if peer is not None:
            tap = self.tap
            if tap is not None:
                tap(self.tap_channel, data)
            if peer.relay_tx and peer.send_enabled and peer.remote is not None:
                adapt = peer._adapt
                if adapt is not None:
                    data = adapt(data)
                transport = peer.transport
                if transport is not None:
                    transport.sendto(data, peer.remote)
                    peer.tx_packets += 1
                    peer.tx_bytes += len(data)
            else:
                peer.tx_dropped += 1
        elif self.sink is not None:
            self.sink(self.tap_channel, data)

    # -- helpers off the common path ---------------------------------------------------
    def _learn(self, addr: tuple[str, int]) -> bool:
        """Symmetric RTP latching; False drops the packet."""
        if not self.latched:
            self.remote = addr
            self.latched = True
            return True
        if addr == self._candidate:
            self._candidate_count += 1
            if self._candidate_count >= RELATCH_AFTER:
                self.remote = addr
                self._candidate = None
                return True
        else:
            self._candidate = addr
            self._candidate_count = 1
        self.rx_foreign += 1
        return False

    def expect_remote(self, remote: tuple[str, int] | None) -> None:
        """New address from SDP (answer, re-INVITE): send there until a packet re-latches."""
        if remote != self.remote:
            self.remote = remote
            self.latched = False
            self._candidate = None

    def _new_source(self, ssrc: int, seq: int) -> None:
        if self._ssrc != -1:
            self._lost_before += self._lost_now()
        self._ssrc = ssrc
        self._base_seq = seq
        self._ext_seq = seq
        self._received = 1

    def _lost_now(self) -> int:
        return max(0, self._ext_seq - self._base_seq + 1 - self._received)

    @property
    def rx_lost(self) -> int:
        return self._lost_before + (self._lost_now() if self._ssrc != -1 else 0)

    def stats(self) -> dict[str, int]:
        return {
            "rx_packets": self.rx_packets, "rx_bytes": self.rx_bytes, "rx_lost": self.rx_lost,
            "rx_malformed": self.rx_malformed, "rx_foreign": self.rx_foreign,
            "rx_rtcp": self.rx_rtcp,
            "tx_packets": self.tx_packets, "tx_bytes": self.tx_bytes,
            "tx_dropped": self.tx_dropped,
        }

    # -- our own stream (player, DTMF sender) ------------------------------------------
    def send_own(self, payload: bytes, pt: int, marker: bool = False, samples: int = 160,
                 timestamp: int | None = None, now: float = 0.0) -> bool:
        """Send one packet of our own stream; advances seq and (unless given) timestamp."""
        if self.transport is None or self.remote is None or not self.send_enabled:
            self.tx_dropped += 1
            return False
        ts = self.tx_ts if timestamp is None else timestamp
        packet = HEADER.pack(0x80, (0x80 if marker else 0) | pt, self.tx_seq, ts,
                             self.tx_ssrc) + payload
        self.transport.sendto(packet, self.remote)
        self.tx_seq = (self.tx_seq + 1) & 0xFFFF
        if timestamp is None:
            self.tx_ts = (self.tx_ts + samples) & 0xFFFFFFFF
        self.tx_own_used = True
        self.tx_own_time = now
        self.tx_packets += 1
        self.tx_bytes += len(packet)
        return True

    def resync_own(self, now: float) -> None:
        """Before our own stream resumes: advance the timestamp by the time that passed."""
        if self.tx_own_used:
            self.tx_ts = (self.tx_ts + max(160, int((now - self.tx_own_time) * 8000))) \
                & 0xFFFFFFFF


def _payload(data: bytes) -> bytes:
    first = data[0]
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10 and offset + 4 <= len(data):
        offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
    end = len(data) - data[-1] if first & 0x20 else len(data)
    return data[offset:end]


class _Adapter:
    """Rewrites packets relayed *to* a leg: payload types, law, and stream continuity."""

    __slots__ = ("_dst", "_pt_map", "_seq_off", "_src_ssrc", "_ts_off", "_xlate", "continuity",
                 "loop")

    def __init__(self, dst: RtpEndpoint, pt_map: dict[int, int], xlate: bytes | None,
                 continuity: bool, loop: asyncio.AbstractEventLoop) -> None:
        self._dst = dst
        self._pt_map = pt_map
        self._xlate = xlate
        self.continuity = continuity
        self.loop = loop
        self._src_ssrc = -1
        self._seq_off = 0
        self._ts_off = 0

    def __call__(self, data: bytes) -> bytes:
        packet = bytearray(data)
        second = packet[1]
        pt = second & 0x7F
        audio_pt = pt not in self._pt_map or self._pt_map[pt] != self._dst.te_pt
        if pt in self._pt_map:
            packet[1] = (second & 0x80) | self._pt_map[pt]
        if self._xlate is not None and audio_pt and packet[0] == 0x80:
            packet[12:] = packet[12:].translate(self._xlate)
        if self.continuity:
            seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(packet, 2)
            dst = self._dst
            if ssrc != self._src_ssrc:
                # take over where our own stream (or the previous source) stopped
                self._src_ssrc = ssrc
                self._seq_off = dst.tx_seq - seq
                gap = max(160, int((self.loop.time() - dst.tx_own_time) * 8000))
                self._ts_off = dst.tx_ts + (gap if dst.tx_own_used else 0) - ts
                packet[1] |= 0x80  # marker: new talkspurt / source
            out_seq = (seq + self._seq_off) & 0xFFFF
            out_ts = (ts + self._ts_off) & 0xFFFFFFFF
            _SEQ_TS_SSRC.pack_into(packet, 2, out_seq, out_ts, dst.tx_ssrc)
            dst.tx_seq = (out_seq + 1) & 0xFFFF
            dst.tx_ts = out_ts
            dst.tx_own_time = self.loop.time()
        return bytes(packet)


def connect(a: RtpEndpoint, b: RtpEndpoint, continuity: bool = True) -> None:
    """Bridge two endpoints so that each one's packets go out of the other."""
    loop = asyncio.get_running_loop()
    for src, dst in ((a, b), (b, a)):
        pt_map: dict[int, int] = {}
        if src.payload_type != dst.payload_type:
            pt_map[src.payload_type] = dst.payload_type
        if src.te_pt != dst.te_pt and src.te_pt >= 0 and dst.te_pt >= 0:
            pt_map[src.te_pt] = dst.te_pt
        xlate = None
        if src.codec != dst.codec:
            xlate = transcode_table(src.codec, dst.codec)
        cont = continuity and dst.tx_own_used
        if pt_map or xlate is not None or cont:
            dst._adapt = _Adapter(dst, pt_map, xlate, cont, loop)
        else:
            dst._adapt = None
        src.peer = dst


def disconnect(a: RtpEndpoint) -> None:
    b = a.peer
    for leg in (a, b):
        if leg is not None:
            leg.peer = None
            if leg._adapt is not None and isinstance(leg._adapt, _Adapter):
                # our own stream continues from where the relayed one stopped
                leg.tx_own_used = True
            leg._adapt = None
            leg.tap = None
