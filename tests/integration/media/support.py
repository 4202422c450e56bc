"""A test phone: a real UDP socket on 127.0.0.1 that sends and collects RTP."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from zvans.telephony.media import g711, rtp, sdp
from zvans.telephony.media.session import MediaEngine


class Phone(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.received: list[rtp.RtpPacket] = []
        self.sources: list[Any] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.ssrc = 0x1000 + id(self) % 0xFFFF
        self.seq = 1000
        self.ts = 50_000

    @classmethod
    async def open(cls) -> Phone:
        loop = asyncio.get_running_loop()
        _, phone = await loop.create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0))
        return phone

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        packet = rtp.parse(data)
        if packet is None:
            return
        self.received.append(packet)
        self.sources.append(addr)
        for count, fut in list(self._waiters):
            if len(self.received) >= count and not fut.done():
                fut.set_result(None)

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        if len(self.received) >= count:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((count, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AssertionError(
                f"expected {count} packets, got {len(self.received)}") from None

    def offer(self, codecs: tuple[g711.Codec, ...] = ("PCMA", "PCMU"), te_pt: int = 101,
              port: int | None = None) -> str:
        return sdp.offer(sdp.LocalMedia("127.0.0.1", port or self.port, codecs, te_pt))

    def answer(self, offer: str, codecs: tuple[g711.Codec, ...] = ("PCMA", "PCMU"),
               te_pt: int = 101) -> str:
        text, _ = sdp.answer(offer, sdp.LocalMedia("127.0.0.1", self.port, codecs, te_pt))
        return text

    def send(self, port: int, payload: bytes, pt: int = 8, seq: int | None = None,
             ts: int | None = None, marker: bool = False) -> None:
        assert self.transport is not None
        packet = rtp.RtpPacket(pt, self.seq if seq is None else seq,
                               self.ts if ts is None else ts, self.ssrc, payload, marker)
        self.transport.sendto(packet.build(), ("127.0.0.1", port))
        if seq is None:
            self.seq = (self.seq + 1) & 0xFFFF
        if ts is None:
            self.ts = (self.ts + 160) & 0xFFFFFFFF

    async def send_tone(self, port: int, freq: float, frames: int, codec: g711.Codec,
                        paced: bool = False) -> None:
        """``frames`` 20 ms frames of a sine; unpaced bursts yield every 10 frames."""
        t = np.arange(frames * 160) / 8000
        pcm = (np.sin(2 * np.pi * freq * t) * 12000).astype(np.int16)
        data = g711.encode(pcm, codec)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for k in range(frames):
            self.send(port, data[k * 160:(k + 1) * 160], pt=g711.PAYLOAD_TYPE[codec])
            if paced:
                await asyncio.sleep(max(0.0, start + (k + 1) * 0.02 - loop.time()))
            elif k % 10 == 9:
                await asyncio.sleep(0.002)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def answered_leg(engine: MediaEngine, phone: Phone, **offer_kw: Any) -> Any:
    """An incoming call: the phone offers, the engine answers."""
    leg = await engine.allocate_leg()
    engine.answer(leg, phone.offer(**offer_kw))
    return leg


async def offered_leg(engine: MediaEngine, phone: Phone, **answer_kw: Any) -> Any:
    """An outgoing call: the engine offers, the phone answers."""
    leg = await engine.allocate_leg()
    engine.accept_answer(leg, phone.answer(engine.offer(leg), **answer_kw))
    return leg


def dominant_frequency(samples: np.ndarray) -> float:
    x = samples.astype(np.float64)
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * 8000 / len(x))


def tone_purity(samples: np.ndarray, freq: float) -> float:
    """Share of spectral energy within ±20 Hz of ``freq``."""
    x = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x - x.mean())) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    band = (freqs > freq - 20) & (freqs < freq + 20)
    return float(spectrum[band].sum() / max(spectrum.sum(), 1e-9))


def voiced(channel: np.ndarray) -> np.ndarray:
    """From the first to the last loud sample (silence before the first packet trimmed)."""
    loud = np.nonzero(np.abs(channel) > 100)[0]
    assert len(loud), "the channel is silent"
    return channel[loud[0]:loud[-1] + 1]
