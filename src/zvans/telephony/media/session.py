"""Media legs and the engine facade the B2BUA drives.

A :class:`MediaLeg` is one RTP port facing one SIP peer: its negotiated codec and
telephone-event payload type, the latched remote address, a DTMF callback and a mode —
idle, playing our audio, relaying to another leg, or listening (decoding for voicemail).
The :class:`MediaEngine` allocates legs from the port range, turns SDP into negotiated legs,
bridges, plays, records and closes them, and keeps the process-wide counters.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import relay, sdp
from .audio import AudioClip, read_wav
from .dtmf import (
    DigitCallback,
    DtmfDigit,
    DtmfReceiver,
    InbandDetector,
    event_payloads,
    parse_info,
)
from .errors import DtmfError, MediaError
from .g711 import Codec, decode
from .mixer import Mixer
from .player import Playback
from .ports import PortAllocator
from .recorder import Recorder

log = logging.getLogger(__name__)
_leg_ids = itertools.count(1)


class LegMode(enum.Enum):
    IDLE = "idle"
    PLAY = "play"
    RELAY = "relay"
    LISTEN = "listen"
    CONFERENCE = "conference"


class MediaLeg(relay.RtpEndpoint):
    """One RTP port and everything negotiated for it."""

    def __init__(self, port: int, local: sdp.LocalMedia,
                 on_closed: Callable[[relay.RtpEndpoint], None]) -> None:
        super().__init__(port, on_closed)
        self.id = next(_leg_ids)
        self.local = local
        self.negotiated: sdp.Negotiated | None = None
        self.mode = LegMode.IDLE
        self.playback: Playback | None = None
        self.recorder: Recorder | None = None
        self.ptime = 20
        self.on_dtmf: DigitCallback | None = None
        self.dtmf = DtmfReceiver(self._digit)
        self.is_closed = False
        self.listen_recorder: Recorder | None = None
        #: in-band DTMF detection (decodes audio when not bridged); automatic when the peer
        #: did not negotiate telephone-event, or set with MediaEngine.inband_dtmf()
        self.inband: InbandDetector | None = None
        self.inband_forced: bool | None = None
        self.mixer: Mixer | None = None

    def refresh_sink(self) -> None:
        """What happens to received audio when the leg is not bridged."""
        if self.mixer is not None:
            return  # the conference owns the audio
        if self.inband is not None:
            self.sink = self._sink_inband
        elif self.listen_recorder is not None:
            self.sink = self.listen_recorder.feed
        else:
            self.sink = None

    def _sink_inband(self, channel: int, data: bytes) -> None:
        if self.listen_recorder is not None:
            self.listen_recorder.feed(channel, data)
        if self.inband is not None and data[1] & 0x7F == self.payload_type:
            payload = data[12:] if data[0] == 0x80 else relay._payload(data)
            self.inband.feed(decode(payload, self.codec))

    def _update_inband(self) -> None:
        want = self.inband_forced
        if want is None:  # automatic: only when there is no telephone-event
            want = self.negotiated is not None and self.negotiated.telephone_event_pt is None
        if want and self.inband is None:
            self.inband = InbandDetector(self._digit)
        elif not want:
            self.inband = None
        self.refresh_sink()

    def _digit(self, digit: DtmfDigit) -> None:
        if self.on_dtmf is not None:
            try:
                self.on_dtmf(digit)
            except Exception:
                # raised into the datagram callback it would be logged for every packet
                log.exception("DTMF callback of leg %s failed", self.id)

    def apply(self, negotiated: sdp.Negotiated) -> None:
        self.negotiated = negotiated
        self.codec = negotiated.codec
        self.payload_type = negotiated.payload_type
        self.te_pt = -1 if negotiated.telephone_event_pt is None \
            else negotiated.telephone_event_pt
        self.ptime = negotiated.ptime
        self.send_enabled = negotiated.direction in ("sendrecv", "sendonly")
        self.expect_remote(negotiated.remote)
        self._update_inband()

    @property
    def on_hold(self) -> bool:
        return self.negotiated is not None and self.negotiated.direction != "sendrecv"

    def __repr__(self) -> str:
        return f"<MediaLeg {self.id} port={self.port} {self.mode.value} remote={self.remote}>"


def _primary_address(wildcard: str) -> str:
    """The address this host would use towards the internet (no packet is sent): what to
    put in SDP when RTP binds every interface and no advertise address was configured."""
    family = socket.AF_INET6 if wildcard == "::" else socket.AF_INET
    probe = "2001:db8::1" if family == socket.AF_INET6 else "192.0.2.1"  # documentation nets
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))
            address = str(sock.getsockname()[0])
    except OSError as exc:
        raise MediaError("RTP binds a wildcard address and no advertise address is set, "
                         f"and the host's own address cannot be found: {exc}",
                         code="bad-config") from None
    log.warning("RTP advertises %s (set an advertise address for NAT or several interfaces)",
                address)
    return address


AudioSource = AudioClip | Sequence[AudioClip] | str | os.PathLike[str]


class MediaEngine:
    """The media side of the B2BUA, in the same event loop.

    ``host`` is where RTP sockets bind, ``advertise`` the address written into SDP (when
    binding 0.0.0.0 without one, the host's primary address is used and a warning logged).
    ``continuity`` makes a relayed stream keep the SSRC/sequence/timestamp line of a prompt
    or MOH the leg was hearing before the bridge.
    """

    def __init__(self, host: str = "127.0.0.1", advertise: str | None = None,
                 port_start: int = 20000, port_end: int = 30000,
                 codecs: Sequence[Codec] = ("PCMA", "PCMU"), telephone_event_pt: int = 101,
                 flush_interval: float = 0.5, continuity: bool = True) -> None:
        if advertise is None:
            advertise = host if host not in ("0.0.0.0", "::") else _primary_address(host)
        self.host = host
        self.advertise = advertise
        self.ports = PortAllocator(host, port_start, port_end)
        self.codecs = tuple(codecs)
        self.telephone_event_pt = telephone_event_pt
        self.flush_interval = flush_interval
        self.continuity = continuity
        self.legs: dict[int, MediaLeg] = {}
        self.recorders: set[Recorder] = set()
        #: the legs each recorder was attached to (stop_recording detaches them without a
        #: scan of every leg: that scan made each call end O(calls up))
        self._recorded_legs: dict[Recorder, list[MediaLeg]] = {}
        self._housekeeping: asyncio.Task[None] | None = None
        self._closed_totals: dict[str, int] = {}
        self.recording_errors = 0
        self.mixers: set[Mixer] = set()
        self._playback_clip_cache: dict[str, AudioClip] = {}
        #: called with the legs whose media was lost (a media worker died; see workers.py)
        self.on_lost: Callable[[list[MediaLeg]], None] | None = None

    # -- legs ----------------------------------------------------------------------------
    async def allocate_leg(self) -> MediaLeg:
        """A leg on a fresh port of the range, not yet negotiated."""
        loop = asyncio.get_running_loop()
        self._ensure_housekeeping(loop)
        sock = self.ports.allocate()
        port = sock.getsockname()[1]
        local = sdp.LocalMedia(self.advertise, port, self.codecs, self.telephone_event_pt)
        leg = MediaLeg(port, local, self._released)
        try:
            await self._open(loop, leg, sock)
        except BaseException:
            sock.close()
            self.ports.release(port)
            raise
        self.legs[leg.id] = leg
        return leg

    async def _open(self, loop: asyncio.AbstractEventLoop, leg: MediaLeg,
                    sock: socket.socket) -> None:
        """Start the leg's transport on its bound socket."""
        await loop.create_datagram_endpoint(lambda: leg, sock=sock)

    def _released(self, endpoint: relay.RtpEndpoint) -> None:
        self.ports.release(endpoint.port)

    # -- SDP -----------------------------------------------------------------------------
    def answer(self, leg: MediaLeg, offer_sdp: str | bytes) -> str:
        """Answer an incoming offer (INVITE or re-INVITE) on ``leg``; raises SdpError (488)."""
        text, negotiated = sdp.answer(offer_sdp, leg.local)
        self._apply(leg, negotiated)
        return text

    def offer(self, leg: MediaLeg, direction: sdp.Direction = "sendrecv") -> str:
        """Our offer for an outgoing leg (agent INVITE); ``direction`` for a hold re-INVITE."""
        leg.local.direction = direction
        return sdp.offer(leg.local)

    def accept_answer(self, leg: MediaLeg, answer_sdp: str | bytes) -> sdp.Negotiated:
        """Apply the answer to our offer (200 OK or ACK body)."""
        negotiated = sdp.accept_answer(answer_sdp, leg.local)
        self._apply(leg, negotiated)
        return negotiated

    def _apply(self, leg: MediaLeg, negotiated: sdp.Negotiated) -> None:
        leg.apply(negotiated)
        if leg.peer is not None:  # re-negotiated while bridged: rebuild the adaptation
            relay.connect(leg, leg.peer, self.continuity)

    # -- audio paths ---------------------------------------------------------------------
    def bridge(self, a: MediaLeg, b: MediaLeg, recorder: Recorder | None = None) -> None:
        """Relay ``a`` ↔ ``b``; with a recorder, ``a`` is recorded left and ``b`` right."""
        if a is b or a.is_closed or b.is_closed:
            raise MediaError("cannot bridge a leg with itself or a closed leg", code="bad-bridge")
        if recorder is not None and recorder.channels != 2:
            raise MediaError("a bridged call is recorded in stereo", code="bad-bridge")
        for leg in (a, b):
            self._stop_playback(leg)
            self.leave(leg)
            if leg.peer is not None and leg.peer not in (a, b):
                self.unbridge(leg)
            leg.listen_recorder = None
            leg.refresh_sink()
        relay.connect(a, b, self.continuity)
        a.mode = b.mode = LegMode.RELAY
        if recorder is not None:
            self.recorders.add(recorder)
            self._recorded_legs.setdefault(recorder, []).extend((a, b))
            for channel, leg in enumerate((a, b)):
                leg.tap = recorder.feed
                leg.tap_channel = channel
                leg.recorder = recorder

    def unbridge(self, leg: MediaLeg) -> None:
        peer = leg.peer
        relay.disconnect(leg)
        for one in (leg, peer):
            if isinstance(one, MediaLeg) and one.mode is LegMode.RELAY:
                one.mode = LegMode.IDLE

    def start_recording(self, path: str | os.PathLike[str], channels: int = 2) -> Recorder:
        """A recorder on the loop's clock, flushed by the engine; pass it to bridge/listen."""
        loop = asyncio.get_running_loop()
        self._ensure_housekeeping(loop)
        recorder = Recorder(path, channels=channels, clock=loop.time)
        self.recorders.add(recorder)
        return recorder

    def stop_recording(self, recorder: Recorder) -> float:
        """Close the file; its duration in seconds."""
        self.recorders.discard(recorder)
        for leg in self._recorded_legs.pop(recorder, ()):
            if leg.recorder is recorder:
                leg.recorder = None
                leg.tap = None
            if leg.listen_recorder is recorder:
                leg.listen_recorder = None
                leg.refresh_sink()
        return recorder.close()

    def play(self, leg: MediaLeg, source: AudioSource, loop: bool = False,
             start: float = 0.0) -> Playback:
        """Play a clip, a list of clips or an 8 kHz WAV file to the leg, paced at real time.

        A bridged leg stops hearing its peer while the playback runs (music on hold) and
        hears it again when it ends or is stopped. ``start`` skips that many seconds (use a
        previous playback's ``position`` to resume music on hold).
        """
        clips = self._clips(source)
        self._stop_playback(leg)
        playback = Playback(leg, clips, loop, leg.codec, leg.payload_type, leg.ptime, start)
        leg.playback = playback
        leg.relay_tx = False
        if leg.peer is None:
            leg.mode = LegMode.PLAY
        playback.start()
        playback.add_done_callback(lambda _p: self._playback_ended(leg, playback))
        return playback

    def _clips(self, source: AudioSource) -> list[AudioClip]:
        if isinstance(source, AudioClip):
            return [source]
        if isinstance(source, str | os.PathLike):
            key = str(Path(source).resolve())
            clip = self._playback_clip_cache.get(key)
            if clip is None:
                clip = read_wav(Path(source))
                if len(self._playback_clip_cache) > 256:
                    self._playback_clip_cache.clear()
                self._playback_clip_cache[key] = clip
            return [clip]
        return list(source)

    def _playback_ended(self, leg: MediaLeg, playback: Playback) -> None:
        if leg.playback is playback:
            leg.playback = None
            leg.relay_tx = True
            if leg.mode is LegMode.PLAY:
                leg.mode = LegMode.IDLE

    def _stop_playback(self, leg: MediaLeg) -> None:
        if leg.playback is not None:
            leg.playback.stop()
            leg.playback = None
        leg.relay_tx = True

    def stop(self, leg: MediaLeg) -> None:
        """Stop whatever is being played to the leg."""
        self._stop_playback(leg)
        if leg.mode is LegMode.PLAY:
            leg.mode = LegMode.IDLE

    def listen(self, leg: MediaLeg, recorder: Recorder | None = None) -> None:
        """Receive the leg's audio ourselves: DTMF always, into a (mono) recorder if given."""
        if leg.peer is not None:
            self.unbridge(leg)
        self.leave(leg)
        leg.mode = LegMode.LISTEN
        if recorder is not None:
            self.recorders.add(recorder)
            self._recorded_legs.setdefault(recorder, []).append(leg)
            leg.recorder = recorder
            leg.tap_channel = 0
        leg.listen_recorder = recorder
        leg.refresh_sink()

    def inband_dtmf(self, leg: MediaLeg, enabled: bool | None) -> None:
        """Force in-band DTMF detection on or off; None = automatic (on when the peer
        negotiated no telephone-event). It runs only while the leg is not bridged."""
        leg.inband_forced = enabled
        leg._update_inband()

    # -- conferences ---------------------------------------------------------------------
    def conference(self, legs: Sequence[MediaLeg], recorder: Recorder | None = None) -> Mixer:
        """Mix the legs so that each hears all the others (three-party calls, supervisors).

        The first leg is recorded left, everyone else mixed right.
        """
        if recorder is not None and recorder.channels != 2:
            raise MediaError("a conference is recorded in stereo", code="bad-conference")
        mixer = Mixer(recorder)
        self.mixers.add(mixer)
        if recorder is not None:
            self.recorders.add(recorder)
        for leg in legs:
            self.join(mixer, leg)
        return mixer

    def join(self, mixer: Mixer, leg: MediaLeg) -> None:
        if leg.is_closed:
            raise MediaError("cannot add a closed leg to a conference", code="bad-conference")
        if leg.mixer is mixer:
            return
        self._stop_playback(leg)
        if leg.peer is not None:
            self.unbridge(leg)
        self.leave(leg)
        leg.listen_recorder = None
        leg.mixer = mixer
        mixer.add(leg)
        leg.mode = LegMode.CONFERENCE

    def leave(self, leg: MediaLeg) -> None:
        """Take the leg out of its conference (if any); it becomes idle."""
        mixer = leg.mixer
        if mixer is None:
            return
        mixer.remove(leg)
        leg.mixer = None
        leg.refresh_sink()
        if leg.mode is LegMode.CONFERENCE:
            leg.mode = LegMode.IDLE
        if not mixer.members and mixer in self.mixers:
            self.end_conference(mixer)  # the last one left: stop mixing and recording

    def end_conference(self, mixer: Mixer) -> float | None:
        """Stop mixing; the legs stay open and idle. The recording's duration, if any."""
        for leg in list(self.legs.values()):
            if leg.mixer is mixer:
                self.leave(leg)
        mixer.close()
        self.mixers.discard(mixer)
        if mixer.recorder is not None:
            return self.stop_recording(mixer.recorder)
        return None

    # -- DTMF ----------------------------------------------------------------------------
    def info_dtmf(self, leg: MediaLeg, body: str | bytes,
                  content_type: str = "application/dtmf-relay") -> DtmfDigit:
        """A digit from a SIP INFO: delivered to ``leg.on_dtmf`` like an RFC 4733 one."""
        digit = parse_info(body, content_type)
        leg._digit(digit)
        return digit

    async def send_dtmf(self, leg: MediaLeg, digits: str, duration_ms: int = 160,
                        gap_ms: int = 80) -> None:
        """Send digits as RFC 4733 events on the leg's own stream, paced by ptime."""
        if leg.te_pt < 0:
            raise DtmfError("the peer did not negotiate telephone-event", code="no-rfc4733")
        loop = asyncio.get_running_loop()
        interval = leg.ptime / 1000
        for digit in digits:
            packets = event_payloads(digit, duration_ms, leg.ptime)
            leg.resync_own(loop.time())
            start_ts = leg.tx_ts
            start = loop.time()
            for k, (payload, marker) in enumerate(packets):
                leg.send_own(payload, leg.te_pt, marker, timestamp=start_ts, now=loop.time())
                if k < len(packets) - 3:
                    await asyncio.sleep(max(0.0, start + (k + 1) * interval - loop.time()))
            leg.tx_ts = (start_ts + 8 * duration_ms) & 0xFFFFFFFF
            await asyncio.sleep(gap_ms / 1000)

    # -- teardown ------------------------------------------------------------------------
    def close(self, leg: MediaLeg) -> dict[str, int]:
        """Stop everything on the leg, close its recorder, free its port; final counters."""
        if leg.is_closed:
            return leg.stats()
        leg.is_closed = True
        self._stop_playback(leg)
        if leg.recorder is not None:
            recorder = leg.recorder
            self.stop_recording(recorder)
        if leg.peer is not None:
            self.unbridge(leg)
        self.leave(leg)
        if leg.transport is not None:
            leg.transport.close()
        self.legs.pop(leg.id, None)
        stats = leg.stats()
        for key, value in stats.items():
            self._closed_totals[key] = self._closed_totals.get(key, 0) + value
        return stats

    async def aclose(self) -> None:
        for leg in list(self.legs.values()):
            self.close(leg)
        for mixer in list(self.mixers):
            self.end_conference(mixer)
        for recorder in list(self.recorders):
            self.stop_recording(recorder)
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            self._housekeeping = None
        await asyncio.sleep(0)  # let transports finish closing and release their ports

    # -- housekeeping and counters -------------------------------------------------------
    def _ensure_housekeeping(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._housekeeping is None or self._housekeeping.done():
            self._housekeeping = loop.create_task(self._flush_loop(), name="zvans-media-flush")

    async def _flush_loop(self) -> None:
        """Flush every recording once per ``flush_interval``, a slice at a time.

        Flushing all of them at once blocks the loop for 30–70 µs per recording (28 ms at
        400 calls, measured); spread over one tick per 20 ms, each tick stays near 1 ms.
        """
        slices = max(1, round(self.flush_interval / self.FLUSH_TICK))
        turn = 0
        while True:
            await asyncio.sleep(self.flush_interval / slices)
            recorders = list(self.recorders)
            self.flush_recordings(recorders[turn::slices])
            turn = (turn + 1) % slices

    FLUSH_TICK = 0.02

    def flush_recordings(self, recorders: Sequence[Recorder] | None = None) -> None:
        for recorder in list(self.recorders) if recorders is None else recorders:
            try:
                recorder.flush()
            except OSError as exc:
                # disk full or file gone: stop this recording (what is on disk stays a valid
                # WAV up to the last good flush), keep the call
                self.recording_errors += 1
                log.error("recording %s failed: %s", recorder.path, exc)
                self.recorders.discard(recorder)
                recorder.abort()

    def sync(self) -> None:
        """Bring the legs' counters up to date (they always are in process; media workers
        report theirs every second, see workers.py)."""

    def counters(self) -> dict[str, Any]:
        totals = dict(self._closed_totals)
        for leg in self.legs.values():
            for key, value in leg.stats().items():
                totals[key] = totals.get(key, 0) + value
        return {
            "legs": len(self.legs),
            "bridged_legs": sum(1 for leg in self.legs.values() if leg.peer is not None),
            "playing_legs": sum(1 for leg in self.legs.values() if leg.playback is not None),
            "conferences": len(self.mixers),
            "recordings": len(self.recorders),
            "recording_errors": self.recording_errors,
            "ports_in_use": self.ports.in_use,
            "port_bind_failures": self.ports.bind_failures,
            **totals,
        }
