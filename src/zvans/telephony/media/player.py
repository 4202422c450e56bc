"""Playing audio to a leg: prompts, tones and music on hold, paced at real time.

All playbacks of an event loop share one :class:`Pacer`, a 10 ms ticker: a timer wake-up per
playback per frame cost more than the frame's ``sendto`` (400 legs on music on hold took
~15 % of a core with one task each). Each playback's frames are due on a grid of the pacer's
ticks — frame *k* at ``start + k·ptime`` — so the pace does not drift, and a late tick is
made up at the next one. After a long stall (the loop blocked for more than ``MAX_BEHIND``)
the schedule restarts instead of bursting a second of audio at the phone's jitter buffer.
The first frame goes out at once, when the playback starts.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from typing import ClassVar

from . import g711
from .audio import AudioClip, frames_of
from .relay import RtpEndpoint

MAX_BEHIND = 0.2
TICK = 0.01


class Pacer:
    """The shared clock of every playback in one event loop."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer]] = \
        weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self._playing: dict[Playback, None] = {}  # insertion-ordered set
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0

    @classmethod
    def of_running_loop(cls) -> Pacer:
        loop = asyncio.get_running_loop()
        pacer = cls._by_loop.get(loop)
        if pacer is None:
            pacer = cls._by_loop[loop] = cls()
        return pacer

    def add(self, playback: Playback) -> None:
        self._playing[playback] = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="zvans-pacer")

    def remove(self, playback: Playback) -> None:
        self._playing.pop(playback, None)

    def __len__(self) -> int:
        return len(self._playing)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        k = 0
        while self._playing:
            k += 1
            due = start + k * TICK
            delay = due - loop.time()
            if delay < -MAX_BEHIND:
                start, k, delay = loop.time(), 0, 0.0
            await asyncio.sleep(delay)
            now = loop.time()
            self.ticks += 1
            for playback in list(self._playing):
                playback._tick(now)


class Playback:
    """One running playback; ``await playback.wait()`` until it ends or is stopped."""

    def __init__(self, leg: RtpEndpoint, clips: Sequence[AudioClip], loop: bool,
                 codec: g711.Codec, payload_type: int, ptime: int = 20,
                 start: float = 0.0, pacer: Pacer | None = None) -> None:
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
        self.stopped = False
        self._pacer = pacer
        self._frames: list[bytes] = []
        self._total_frames = 0
        self._first_frame = 0
        self._index = 0
        self._next_due = 0.0
        self._marker = True
        self._done: asyncio.Future[None] | None = None
        self._callbacks: list[Callable[[Playback], None]] = []

    def start(self) -> Playback:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._frames = self._build_frames()
        self._total_frames = len(self._frames)
        first = round(self.offset * 1000 / self.ptime)
        if self.loop:
            first %= self._total_frames
        first = min(first, self._total_frames)
        self._first_frame = self._index = first
        self.offset = first * self.ptime / 1000
        if self._pacer is None:
            self._pacer = Pacer.of_running_loop()
        now = loop.time()
        self.leg.resync_own(now)
        self.leg.own_busy = self
        self._next_due = now
        self._pacer.add(self)
        self._tick(now)  # the first frame at once
        return self

    def _build_frames(self) -> list[bytes]:
        if len(self.clips) == 1:  # music, ringback, a prompt: the clip's shared frames
            return self.clips[0].frames(self.codec, self.ptime)
        return frames_of(b"".join(clip.encoded(self.codec) for clip in self.clips), self.codec,
                         self.ptime)

    def _tick(self, now: float) -> None:
        if self.stopped:
            return
        if now - self._next_due > MAX_BEHIND:
            self._next_due = now  # after a stall: restart the schedule, do not burst
        interval = self.ptime / 1000
        frames = self._frames
        leg = self.leg
        samples = 8 * self.ptime
        while self._next_due <= now + TICK / 2:
            if self._index >= self._total_frames:
                if not self.loop:
                    self._finish()
                    return
                self._index = 0
            leg.send_own(frames[self._index], self.payload_type, self._marker, samples,
                         now=now)
            self._marker = False
            self._index += 1
            self.frames_sent += 1
            self._next_due += interval
        if not self.loop and self._index >= self._total_frames \
                and now + TICK / 2 >= self._next_due:
            self._finish()  # the last frame is out and its time has passed

    def _finish(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self._pacer is not None:
            self._pacer.remove(self)
        if self.leg.own_busy is self:
            self.leg.own_busy = None
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def stop(self) -> None:
        self._finish()

    def add_done_callback(self, callback: Callable[[Playback], None]) -> None:
        """Called once when the playback ends or is stopped (at once if it already has)."""
        if self.stopped:
            callback(self)
        else:
            self._callbacks.append(callback)

    async def wait(self) -> None:
        if self._done is not None:
            await asyncio.shield(self._done)

    @property
    def done(self) -> bool:
        return self.stopped

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
