"""Playing audio to a leg: prompts, tones and music on hold, paced at real time.

Pacing is drift-free: frame *k* is due at ``start + k·ptime`` on the event loop's clock, so a
late wake-up is made up by the next sleep instead of accumulating. After a long stall (the
loop blocked for more than ``MAX_BEHIND``) the schedule restarts instead of bursting a
second of audio at the phone's jitter buffer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from . import g711
from .audio import AudioClip
from .relay import RtpEndpoint

MAX_BEHIND = 0.2


class Playback:
    """One running playback; ``await playback.wait()`` until it ends or is stopped."""

    def __init__(self, leg: RtpEndpoint, clips: Sequence[AudioClip], loop: bool,
                 codec: g711.Codec, payload_type: int, ptime: int = 20,
                 start: float = 0.0) -> None:
        if not clips:
            raise ValueError("nothing to play")
        self.leg = leg
        self.clips = list(clips)
        self.loop = loop
        self.codec = codec
        self.payload_type = payload_type
        self.ptime = ptime
        self.frames_sent = 0
        self.offset = max(0.0, start)
        self._total_frames = 0
        self._first_frame = 0
        self.stopped = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Playback:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="zvans-playback")
        return self

    def _frames(self) -> list[bytes]:
        size = 8 * self.ptime
        silence = bytes([g711.SILENCE_BYTE[self.codec]])
        data = b"".join(clip.encoded(self.codec) for clip in self.clips)
        if len(data) % size:
            data += silence * (size - len(data) % size)
        return [data[i:i + size] for i in range(0, len(data), size)]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        frames = self._frames()
        self._total_frames = len(frames)
        first = round(self.offset * 1000 / self.ptime)
        if self.loop:
            first %= len(frames)
        self._first_frame = first
        self.offset = first * self.ptime / 1000
        interval = self.ptime / 1000
        samples = 8 * self.ptime
        leg = self.leg
        pt = self.payload_type
        start = loop.time()
        leg.resync_own(start)
        leg.own_busy = self
        k = 0
        marker = True
        try:
            while True:
                for frame in frames[first:] if first else frames:
                    now = loop.time()
                    leg.send_own(frame, pt, marker, samples, now=now)
                    marker = False
                    self.frames_sent += 1
                    k += 1
                    due = start + k * interval
                    delay = due - loop.time()
                    if delay < -MAX_BEHIND:
                        start, k = loop.time(), 0
                        delay = 0.0
                    await asyncio.sleep(delay)
                first = 0
                if not self.loop:
                    break
        finally:
            self.stopped = True
            if leg.own_busy is self:
                leg.own_busy = None

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.stopped = True

    async def wait(self) -> None:
        if self._task is not None:
            try:
                await asyncio.shield(self._task)
            except asyncio.CancelledError:
                if not self._task.cancelled():
                    raise

    @property
    def position(self) -> float:
        """Seconds into the content (modulo its length when looping): pass it as ``start``
        to resume music on hold where an announcement interrupted it."""
        if not self._total_frames:
            return self.offset
        frame = self._first_frame + self.frames_sent
        if self.loop:
            frame %= self._total_frames
        return frame * self.ptime / 1000

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()
