"""Helpers for the in-call controls tests: tone pcaps for sipp, a sipp phone (UAS) on a
known port, tone baresip phones, and a tap on what Zvans sends to a media leg."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.telephony import support
from tests.integration.telephony.support import Baresip, SippUas, start_phone
from zvans.telephony.media import g711
from zvans.telephony.media.session import MediaLeg


def tone_pcap(path: Path, freq: float, seconds: float = 40.0) -> Path:
    """A pcap of A-law RTP (PT 8, 20 ms) carrying a sine tone, for sipp's play_pcap_audio."""
    n = int(seconds * 50)
    t = np.arange(n * 160) / 8000
    pcm = (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)
    payload = g711.encode(pcm, "PCMA")
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # Ethernet
    for k in range(n):
        rtp = struct.pack("!BBHII", 0x80, 8, k & 0xFFFF, k * 160, 0x1234) \
            + payload[k * 160:(k + 1) * 160]
        udp = struct.pack("!HHHH", 6000, 6002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), k & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        usec = k * 20000
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame),
                               len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


class SippPhone(SippUas):
    """sipp as an agent's phone (UAS) on a known port, sending to Zvans at ``server_port``."""

    def __init__(self, scenario: str, server_port: int, workdir: Path, *, pause_ms: int,
                 variables: dict[str, str] | None = None) -> None:
        super().__init__(scenario, workdir, pause_ms=pause_ms, remote_port=server_port,
                         variables=variables, user="agent")


def tone_phone(monkeypatch: pytest.MonkeyPatch, home: Path, user: str, password: str,
               server_port: int, registered: Any, freq: float) -> Baresip:
    """A baresip agent whose microphone is a ``freq`` Hz tone."""
    original = support.tone_wav
    with monkeypatch.context() as m:
        m.setattr(support, "tone_wav",
                  lambda path, seconds=30.0, freq_=600.0: original(path, 90.0, freq))
        return start_phone(home, user, password, server_port, lambda _p: registered(user))


class Tap:
    """What Zvans sends on a leg's own stream (mixer output), decoded to PCM."""

    def __init__(self) -> None:
        self.chunks: dict[int, list[np.ndarray[Any, Any]]] = {}
        self._undo: list[Any] = []

    def watch(self, leg: MediaLeg) -> None:
        chunks = self.chunks.setdefault(leg.id, [])
        original = leg.send_own

        def spy(payload: bytes, pt: int, *args: Any, **kwargs: Any) -> bool:
            if pt == leg.payload_type:
                chunks.append(g711.decode(payload, leg.codec))
            return original(payload, pt, *args, **kwargs)

        leg.send_own = spy  # type: ignore[method-assign]

    def mark(self, leg: MediaLeg) -> int:
        return len(self.chunks.get(leg.id, []))

    def audio(self, leg: MediaLeg, start: int = 0) -> np.ndarray[Any, Any]:
        parts = self.chunks.get(leg.id, [])[start:]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def level(pcm: np.ndarray[Any, Any], freq: float) -> float:
    """Amplitude of ``freq`` in the signal (FFT, Hann window), in PCM units."""
    if len(pcm) < 800:
        return 0.0
    x = pcm.astype(np.float64) * np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(x)) / (len(pcm) / 4)
    freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
    band = (freqs > freq - 15) & (freqs < freq + 15)
    return float(spectrum[band].max())


@contextmanager
def stopping(*things: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in things:
            if thing is not None:
                (thing.kill if hasattr(thing, "kill") else thing.stop)()
