"""Call recording to WAV, written while the call runs.

Stereo for a bridged call (caller left, agent right), mono for a voicemail; 8 kHz 16-bit.
Each channel's samples are placed by RTP timestamp, not by arrival: a stream is anchored to
the wall clock when its first packet (or a new SSRC, or a timestamp jump) arrives, and every
later packet lands at ``anchor + (timestamp - anchor timestamp)``. Missing packets leave
silence, jitter does not shift audio, and both channels share the recording's start time.

The hot-path tap (:meth:`Recorder.feed`) only copies the G.711 payload into a per-channel
byte buffer. :meth:`flush` (called about twice a second by the engine) decodes everything
older than ``margin`` seconds with one numpy lookup per channel, interleaves, writes with
``os.pwrite`` and then rewrites the RIFF and data sizes, so the file on disk is a valid WAV
after every flush: a killed process leaves a playable recording that is at most one flush
interval short.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .g711 import ALAW_DECODE, ULAW_DECODE

SAMPLE_RATE = 8000
HEADER_BYTES = 44
#: a packet further than this from its stream's expected position re-anchors the stream
MAX_JUMP = SAMPLE_RATE * 10
_TS_SSRC = struct.Struct("!II")


def wav_header(channels: int, frames: int, rate: int = SAMPLE_RATE) -> bytes:
    block = 2 * channels
    data = frames * block
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, 1, channels, rate,
        rate * block, block, 16, b"data", data,
    )


class _Channel:
    __slots__ = ("anchor_pos", "anchor_ts", "buf", "codec_pt", "late", "packets", "ssrc")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.ssrc = -1
        self.anchor_ts = 0
        self.anchor_pos = 0
        self.codec_pt = 8
        self.late = 0
        self.packets = 0


class Recorder:
    """Records one call; ``feed`` is the relay tap, ``close`` returns the duration."""

    def __init__(self, path: str | os.PathLike[str], channels: int = 2, margin: float = 0.3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if channels not in (1, 2):
            raise ValueError("1 or 2 channels")
        self.path = Path(path)
        self.channels = channels
        self._clock = clock
        self._margin = int(margin * SAMPLE_RATE)
        self._start = clock()
        self._ch = [_Channel() for _ in range(channels)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.write(self._fd, wav_header(channels, 0))
        self.frames = 0  # frames written to disk
        self.closed = False

    # -- hot path ------------------------------------------------------------------------
    def feed(self, channel: int, packet: bytes) -> None:
        """Take one received RTP packet of ``channel`` (0 caller/left, 1 agent/right)."""
        pt = packet[1] & 0x7F
        if (pt != 8 and pt != 0) or self.closed:
            return  # telephone-event, comfort noise, …: not audio we record
        c = self._ch[channel]
        ts, ssrc = _TS_SSRC.unpack_from(packet, 4)
        first = packet[0]
        if first == 0x80:
            payload = packet[12:]
        else:
            from .relay import _payload

            payload = _payload(packet)
        if ssrc != c.ssrc:
            self._anchor(c, ssrc, ts)
        index = c.anchor_pos + (((ts - c.anchor_ts) + 0x80000000) & 0xFFFFFFFF) - 0x80000000 \
            - self.frames
        if not -MAX_JUMP < index < MAX_JUMP:
            self._anchor(c, ssrc, ts)
            index = c.anchor_pos - self.frames
        if index < 0:
            c.late += 1  # arrived after its place was written out
            return
        c.codec_pt = pt
        c.packets += 1
        buf = c.buf
        size = len(buf)
        if index > size:
            buf.extend(b"\xd5" * (index - size) if pt == 8 else b"\xff" * (index - size))
        buf[index:index + len(payload)] = payload

    def _anchor(self, c: _Channel, ssrc: int, ts: int) -> None:
        c.ssrc = ssrc
        c.anchor_ts = ts
        c.anchor_pos = max(self.frames, round((self._clock() - self._start) * SAMPLE_RATE))

    # -- periodic ------------------------------------------------------------------------
    def flush(self, final: bool = False) -> int:
        """Write out what is older than the margin (everything when ``final``); frames written."""
        if self.closed:
            return 0
        if final:
            upto = self.frames + max(len(c.buf) for c in self._ch)
        else:
            upto = round((self._clock() - self._start) * SAMPLE_RATE) - self._margin
        count = upto - self.frames
        if count <= 0:
            return 0
        out = np.zeros((count, self.channels), dtype=np.int16)
        for i, c in enumerate(self._ch):
            have = min(count, len(c.buf))
            if have:
                table = ALAW_DECODE if c.codec_pt == 8 else ULAW_DECODE
                out[:have, i] = table[np.frombuffer(c.buf[:have], dtype=np.uint8)]
                del c.buf[:have]
        os.pwrite(self._fd, out.tobytes(), HEADER_BYTES + self.frames * 2 * self.channels)
        self.frames = upto
        header = wav_header(self.channels, self.frames)
        os.pwrite(self._fd, header[4:8], 4)
        os.pwrite(self._fd, header[40:44], 40)
        return count

    def close(self) -> float:
        """Write the rest, fix the header, close the file; the duration in seconds."""
        if not self.closed:
            self.flush(final=True)
            self.closed = True
            os.close(self._fd)
        return self.duration

    def abort(self) -> None:
        """Stop after a write error: drop buffered audio, keep the file as last flushed."""
        if not self.closed:
            self.closed = True
            for c in self._ch:
                c.buf.clear()
            with contextlib.suppress(OSError):
                os.close(self._fd)

    @property
    def duration(self) -> float:
        return self.frames / SAMPLE_RATE

    def stats(self) -> dict[str, int]:
        return {
            "frames": self.frames,
            "late_packets": sum(c.late for c in self._ch),
            "packets": sum(c.packets for c in self._ch),
        }
