"""sipp (a real, independent RTP sender) streams its stock captures at a media leg.

The SIP side here is a deliberately tiny UAS (INVITE → 200 with our SDP answer, BYE → 200):
the real B2BUA lives in zvans.telephony.sip; this test is about what arrives on the media
port: every packet of g711a.pcap, decodable audio, and the digit of dtmf_2833_1.pcap once.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zvans.bench.sip import free_port_block
from zvans.telephony.media import dtmf
from zvans.telephony.media.session import MediaEngine, MediaLeg

PCAPS = Path("/usr/share/sip-tester")
SCENARIOS = Path(__file__).resolve().parents[2] / "sipp"

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(shutil.which("sipp") is None or not (PCAPS / "g711a.pcap").exists(),
                       reason="sipp (sip-tester) is not installed"),
]


def pcap_rtp(path: Path) -> list[bytes]:
    """RTP payloads (UDP data) of an Ethernet/IPv4 pcap, read independently of our code."""
    data = path.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    offset, packets = 24, []
    while offset + 16 <= len(data):
        _, _, incl, _ = struct.unpack_from(endian + "IIII", data, offset)
        frame = data[offset + 16:offset + 16 + incl]
        offset += 16 + incl
        ihl = (frame[14] & 0x0F) * 4
        packets.append(frame[14 + ihl + 8:])
    return packets


def free_media_port() -> int:
    """An even port with the next three free too (sipp binds RTP, RTCP and video ports)."""
    return free_port_block(4, 46000, 47000)


class TinyUas(asyncio.DatagramProtocol):
    def __init__(self, engine: MediaEngine) -> None:
        self.engine = engine
        self.transport: asyncio.DatagramTransport | None = None
        self.leg: MediaLeg | None = None
        self.digits: list[dtmf.DtmfDigit] = []
        self.bye = asyncio.Event()
        self.recording: Path | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        asyncio.get_running_loop().create_task(self.handle(data.decode(), addr))

    async def handle(self, text: str, addr: Any) -> None:
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        method = lines[0].split(" ")[0]
        headers = [h for h in lines[1:] if h.split(":")[0].lower() in
                   ("via", "from", "to", "call-id", "cseq")]
        if method == "INVITE":
            if self.leg is None:
                self.leg = await self.engine.allocate_leg()
                self.leg.on_dtmf = self.digits.append
                assert self.recording is not None
                self.engine.listen(self.leg, self.engine.start_recording(self.recording, 1))
            answer = self.engine.answer(self.leg, body)
            headers = [h + ";tag=zvans" if h.lower().startswith("to:") else h for h in headers]
            self.reply(addr, "200 OK", headers, answer)
        elif method == "BYE":
            self.reply(addr, "200 OK", headers, "")
            self.bye.set()

    def reply(self, addr: Any, status: str, headers: list[str], body: str) -> None:
        extra = ["Contact: <sip:media@127.0.0.1>"]
        if body:
            extra.append("Content-Type: application/sdp")
        message = "\r\n".join([f"SIP/2.0 {status}", *headers, *extra,
                               f"Content-Length: {len(body)}", "", body])
        assert self.transport is not None
        self.transport.sendto(message.encode(), addr)


async def call_from_sipp(scenario: str, tmp_path: Path) -> tuple[MediaLeg, TinyUas, int]:
    """sipp calls a tiny UAS whose media leg listens (recording mono); the leg's counters."""
    engine = MediaEngine(port_start=44000, port_end=44999)
    loop = asyncio.get_running_loop()
    transport, uas = await loop.create_datagram_endpoint(
        lambda: TinyUas(engine), local_addr=("127.0.0.1", 0))
    uas.recording = tmp_path / "sipp.wav"
    port = transport.get_extra_info("sockname")[1]
    proc = await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", "0",
        "-mp", str(free_media_port()),
        "-m", "1", "-l", "1", "-timeout", "60s", "-timeout_error", "-nostdin",
        "-trace_err", f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        cwd=str(tmp_path),
    )
    _, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()[-2000:]
    await asyncio.wait_for(uas.bye.wait(), 5)
    leg = uas.leg
    assert leg is not None
    stats = engine.close(leg)
    await engine.aclose()
    transport.close()
    return leg, uas, stats["rx_packets"]


def test_sipp_pcap_audio_and_rfc2833_digit(tmp_path: Path) -> None:
    audio_packets = pcap_rtp(PCAPS / "g711a.pcap")
    dtmf_packets = pcap_rtp(PCAPS / "dtmf_2833_1.pcap")

    leg, uas, received = asyncio.run(call_from_sipp("media_uac_pcap.xml", tmp_path))
    assert leg.te_pt == 101 and leg.codec == "PCMA"
    assert received == len(audio_packets) + len(dtmf_packets)
    assert leg.rx_malformed == 0 and leg.rx_lost == 0
    # the digit "1" once, although its end packet came three times
    assert [d.digit for d in uas.digits] == ["1"]
    assert uas.digits[0].duration_ms > 0
    with wave.open(str(tmp_path / "sipp.wav"), "rb") as w:
        assert w.getnchannels() == 1
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    # every audio packet of the capture is in the recording (placed by timestamp)
    assert len(pcm) >= 160 * len(audio_packets)
    assert np.sqrt(np.mean(pcm.astype(float) ** 2)) > 100


def test_sipp_all_twelve_rfc2833_captures(tmp_path: Path) -> None:
    names = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "star", "pound"]
    packets = sum(len(pcap_rtp(PCAPS / f"dtmf_2833_{n}.pcap")) for n in names)
    leg, uas, received = asyncio.run(call_from_sipp("media_uac_dtmf.xml", tmp_path))
    assert leg.te_pt == 101
    assert received == packets
    # each capture repeats its end packet three times; each key is reported once
    assert "".join(d.digit for d in uas.digits) == "1234567890*#"
    assert all(d.source == "rfc4733" and d.duration_ms > 0 for d in uas.digits)
