"""Conference mixing: three or more legs hear each other.

Unlike the relay, a conference must decode: every member's audio goes into a small sample
FIFO, and every 20 ms (loop clock, drift-free schedule like the player) one frame is taken
from each, summed in 32 bits, and each member is sent the sum minus its own contribution,
encoded in that member's law on the member's own RTP stream. A member that sent nothing
contributes silence; a FIFO longer than ``MAX_BUFFER`` loses its oldest samples, so a fast
clock on one phone cannot build up delay. Members' DTMF keeps working (it is detected
before the audio reaches the mixer).

A recorder gets the first member (normally the caller) on the left and the mix of everyone
else on the right, as a bridged call is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from . import g711
from .recorder import Recorder
from .relay import RtpEndpoint, _payload
from .rtp import HEADER

FRAME = 160  # 20 ms
MAX_BUFFER = FRAME * 6  # 120 ms


class _Member:
    __slots__ = ("fifo", "leg", "restore_sink", "started")

    def __init__(self, leg: RtpEndpoint,
                 restore_sink: Callable[[int, bytes], None] | None) -> None:
        self.leg = leg
        self.fifo = np.zeros(0, dtype=np.int16)
        self.restore_sink = restore_sink
        self.started = False


class Mixer:
    def __init__(self, recorder: Recorder | None = None) -> None:
        self.members: dict[int, _Member] = {}
        self.recorder = recorder
        self.frames_mixed = 0
        self._task: asyncio.Task[None] | None = None
        self._rec_seq = 0
        self._rec_ts = 0

    # -- membership ----------------------------------------------------------------------
    def add(self, leg: RtpEndpoint) -> None:
        if id(leg) in self.members:
            return
        member = _Member(leg, leg.sink)
        self.members[id(leg)] = member
        leg.sink = lambda _channel, data, m=member: self._receive(m, data)
        leg.relay_tx = False
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="zvans-conference")

    def remove(self, leg: RtpEndpoint) -> None:
        member = self.members.pop(id(leg), None)
        if member is not None:
            leg.sink = member.restore_sink
            leg.relay_tx = True

    def close(self) -> None:
        for member in list(self.members.values()):
            self.remove(member.leg)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def __contains__(self, leg: object) -> bool:
        return id(leg) in self.members

    @property
    def legs(self) -> list[RtpEndpoint]:
        return [m.leg for m in self.members.values()]

    # -- audio in ------------------------------------------------------------------------
    def _receive(self, member: _Member, data: bytes) -> None:
        leg = member.leg
        pt = data[1] & 0x7F
        if pt != leg.payload_type:
            return
        payload = data[12:] if data[0] == 0x80 else _payload(data)
        pcm = g711.decode(payload, leg.codec)
        fifo = np.concatenate([member.fifo, pcm])
        if len(fifo) > MAX_BUFFER:
            fifo = fifo[-MAX_BUFFER:]
        member.fifo = fifo

    # -- audio out -----------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        k = 0
        while True:
            self.mix_once(loop.time())
            k += 1
            delay = start + k * 0.02 - loop.time()
            if delay < -0.2:
                start, k, delay = loop.time(), 0, 0.0
            await asyncio.sleep(delay)

    def mix_once(self, now: float = 0.0) -> None:
        members = list(self.members.values())
        if not members:
            return
        frames = np.zeros((len(members), FRAME), dtype=np.int32)
        for i, member in enumerate(members):
            fifo = member.fifo
            take = min(FRAME, len(fifo))
            if take:
                frames[i, :take] = fifo[:take]
                member.fifo = fifo[take:]
        total = frames.sum(axis=0)
        for i, member in enumerate(members):
            leg = member.leg
            if leg.own_busy is not None:  # a prompt is being played to this member
                continue
            out = np.clip(total - frames[i], -32768, 32767).astype(np.int16)
            if not member.started:
                leg.resync_own(now)
            leg.send_own(g711.ENCODE_TABLE[leg.codec][out.view(np.uint16)].tobytes(),
                         leg.payload_type, not member.started, FRAME, now=now)
            member.started = True
        self.frames_mixed += 1
        if self.recorder is not None and not self.recorder.closed:
            self._record(frames, total)

    def _record(self, frames: npt.NDArray[np.int32], total: npt.NDArray[np.int32]) -> None:
        assert self.recorder is not None
        caller = np.clip(frames[0], -32768, 32767).astype(np.int16)
        others = np.clip(total - frames[0], -32768, 32767).astype(np.int16)
        for channel, pcm in ((0, caller), (1, others)):
            packet = HEADER.pack(0x80, 8, self._rec_seq, self._rec_ts, 0x2EC0 + channel) \
                + g711.encode(pcm, "PCMA")
            self.recorder.feed(channel, packet)
        self._rec_seq = (self._rec_seq + 1) & 0xFFFF
        self._rec_ts = (self._rec_ts + FRAME) & 0xFFFFFFFF


def conference_of(legs: Iterable[RtpEndpoint], recorder: Recorder | None = None) -> Mixer:
    mixer = Mixer(recorder)
    for leg in legs:
        mixer.add(leg)
    return mixer
