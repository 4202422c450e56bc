"""Supervisor listen / whisper / barge-in: a mixer where not everyone hears everyone.

The media engine's :class:`Mixer` sends each member the sum of all the others. Monitoring
needs a choice per pair: in *listen* the supervisor hears caller and agent and nobody hears
the supervisor; in *whisper* the agent hears the supervisor too, the caller still does not;
*barge* is a three-party conference. :class:`SelectiveMixer` keeps the engine's input path
(FIFOs, codecs, own RTP streams) and replaces only the summing: member *i* is sent the sum
of the members it ``hears``. The caller never receives a sample of a supervisor in listen or
whisper mode, by construction (the test checks the caller's audio spectrum).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from zvans.telephony.media import MediaEngine, MediaLeg, Mixer, Recorder, g711
from zvans.telephony.media.mixer import FRAME

MonitorMode = Literal["listen", "whisper", "barge"]
MODES: tuple[MonitorMode, ...] = ("listen", "whisper", "barge")


class SelectiveMixer(Mixer):
    """A mixer with a "who hears whom" relation; unlisted pairs hear each other."""

    def __init__(self, recorder: Recorder | None = None) -> None:
        super().__init__(recorder)
        #: (listener leg id, speaker leg id) pairs that must NOT be heard
        self.muted: set[tuple[int, int]] = set()

    def set_muted(self, pairs: set[tuple[int, int]]) -> None:
        self.muted = pairs

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
        ids = [id(m.leg) for m in members]
        for i, member in enumerate(members):
            leg = member.leg
            if leg.own_busy is not None:
                continue
            total = np.zeros(FRAME, dtype=np.int32)
            for j in range(len(members)):
                if j != i and (ids[i], ids[j]) not in self.muted:
                    total += frames[j]
            out = np.clip(total, -32768, 32767).astype(np.int16)
            if not member.started:
                leg.resync_own(now)
            leg.send_own(g711.ENCODE_TABLE[leg.codec][out.view(np.uint16)].tobytes(),
                         leg.payload_type, not member.started, FRAME, now=now)
            member.started = True
        self.frames_mixed += 1
        if self.recorder is not None and not self.recorder.closed:
            # the recording is what the call sounds like to the caller and to the agent:
            # a listening or whispering supervisor is not on it
            heard = np.zeros((len(members), FRAME), dtype=np.int32)
            for j in range(len(members)):
                if (ids[0], ids[j]) not in self.muted or j == 0:
                    heard[j] = frames[j]
            self._record(heard, heard.sum(axis=0))


def muted_pairs(mode: MonitorMode, caller: MediaLeg, agent: MediaLeg,
                supervisor: MediaLeg) -> set[tuple[int, int]]:
    """Who must not hear whom in ``mode`` (listener, speaker) by leg identity."""
    c, a, s = id(caller), id(agent), id(supervisor)
    if mode == "listen":
        return {(c, s), (a, s)}
    if mode == "whisper":
        return {(c, s)}
    return set()


def start_monitor(engine: MediaEngine, caller: MediaLeg, agent: MediaLeg,
                  supervisor: MediaLeg, mode: MonitorMode,
                  recorder: Recorder | None = None) -> SelectiveMixer:
    """Move a bridged call into a selective mix with the supervisor's leg."""
    mixer = SelectiveMixer(recorder)
    mixer.set_muted(muted_pairs(mode, caller, agent, supervisor))
    engine.mixers.add(mixer)
    for leg in (caller, agent, supervisor):
        engine.join(mixer, leg)
    return mixer
