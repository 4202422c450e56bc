"""DTMF: RFC 4733 telephone-events in both directions, and SIP INFO bodies.

A sender repeats an event's end packet three times and may retransmit any packet; all packets
of one event share its RTP timestamp. The receiver therefore keys events on (SSRC, timestamp)
and reports each digit once, when its first end packet arrives, with the final duration. An
event whose end packets were all lost is reported when the next event starts.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .errors import DtmfError

EVENTS = "0123456789*#ABCD"
EVENT_OF: dict[str, int] = {ch: i for i, ch in enumerate(EVENTS)}
_PAYLOAD = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    digit: str
    duration_ms: int
    source: str  # "rfc4733", "info" or "inband"


DigitCallback = Callable[[DtmfDigit], None]


def parse_event(payload: bytes | bytearray | memoryview) -> tuple[int, bool, int, int] | None:
    """(event, end, volume, duration in timestamp units), or None if not a 4-byte event."""
    if len(payload) < 4:
        return None
    event, flags, duration = _PAYLOAD.unpack_from(payload)
    return event, bool(flags & 0x80), flags & 0x3F, duration


def build_event(event: int, end: bool, duration: int, volume: int = 10) -> bytes:
    return _PAYLOAD.pack(event, (0x80 if end else 0) | (volume & 0x3F), min(duration, 0xFFFF))


class DtmfReceiver:
    """Turns a stream of telephone-event payloads into one report per key press."""

    __slots__ = ("_current", "_duration", "_event", "_reported", "callback", "clock_rate", "digits")

    def __init__(self, callback: DigitCallback | None = None, clock_rate: int = 8000) -> None:
        self.callback = callback
        self.clock_rate = clock_rate
        self._current: tuple[int, int] | None = None  # (ssrc, timestamp) of the open event
        self._event = -1
        self._duration = 0
        self._reported = False
        self.digits: list[DtmfDigit] = []

    def feed(self, ssrc: int, timestamp: int, payload: bytes | bytearray | memoryview) -> None:
        parsed = parse_event(payload)
        if parsed is None:
            return
        event, end, _volume, duration = parsed
        key = (ssrc, timestamp)
        if key != self._current:
            if self._current is not None and not self._reported:
                self._report()  # the previous event lost all its end packets
            self._current = key
            self._event = event
            self._duration = duration
            self._reported = False
        elif duration > self._duration:
            self._duration = duration
        if end and not self._reported:
            self._report()

    def _report(self) -> None:
        self._reported = True
        if not 0 <= self._event < len(EVENTS):
            return  # flash-hook or other non-DTMF events are not digits
        digit = DtmfDigit(EVENTS[self._event], self._duration * 1000 // self.clock_rate,
                          "rfc4733")
        self.digits.append(digit)
        if len(self.digits) > 64:
            del self.digits[:32]
        if self.callback is not None:
            self.callback(digit)


def event_payloads(digit: str, duration_ms: int = 160, ptime: int = 20,
                   clock_rate: int = 8000, volume: int = 10) -> list[tuple[bytes, bool]]:
    """Payloads of one key press, one per ptime: (payload, marker). Ends with 3 end packets."""
    if digit.upper() not in EVENT_OF:
        raise DtmfError(f"not a DTMF digit: {digit!r}")
    event = EVENT_OF[digit.upper()]
    step = clock_rate * ptime // 1000
    total = max(step, clock_rate * duration_ms // 1000)
    packets: list[tuple[bytes, bool]] = []
    elapsed = step
    while elapsed < total:
        packets.append((build_event(event, False, elapsed, volume), not packets))
        elapsed += step
    end = build_event(event, True, total, volume)
    packets.extend([(end, not packets), (end, False), (end, False)])
    return packets


def parse_info(body: str | bytes, content_type: str = "application/dtmf-relay") -> DtmfDigit:
    """The digit carried by a SIP INFO body.

    ``application/dtmf-relay`` (``Signal=5\\r\\nDuration=160``) and ``application/dtmf``
    (the digit alone, as Cisco and some PBXs send) are understood.
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/dtmf":
        value = body.strip()
        return DtmfDigit(_digit(value), 0, "info")
    fields: dict[str, str] = {}
    for line in body.replace("\r\n", "\n").split("\n"):
        name, sep, value = line.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    if "signal" not in fields:
        raise DtmfError("SIP INFO body has no Signal=")
    duration = 0
    if fields.get("duration", "").isdigit():
        duration = int(fields["duration"])
    return DtmfDigit(_digit(fields["signal"]), duration, "info")


def _digit(value: str) -> str:
    if value.isdigit() and 10 <= int(value) <= 15:
        return EVENTS[int(value)]  # some phones send event numbers: 10 = *, 11 = #
    if len(value) == 1 and value.upper() in EVENT_OF:
        return value.upper()
    raise DtmfError(f"not a DTMF digit: {value!r}")


def info_digit(body: str | bytes) -> str:
    """The SIP engineer's hook: ``Signal=5\\r\\nDuration=160`` → ``"5"``."""
    return parse_info(body).digit


# -- in-band DTMF (tones in the audio) ---------------------------------------------------------

LOW_FREQS = (697.0, 770.0, 852.0, 941.0)
HIGH_FREQS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")


class InbandDetector:
    """DTMF tones in decoded audio, for peers that did not negotiate telephone-event.

    Blocks of 205 samples (the classic Goertzel size: bins fall close to all eight
    frequencies at 8 kHz) are projected on the eight DTMF frequencies with one matrix
    product. A block holds a digit when one low and one high tone clearly dominate: both
    well above the other tones of their group, twist within ITU-T Q.24 limits (high group
    at most 8 dB below / 4 dB above the low group), and together most of the block's
    energy, which is what keeps speech and music from "talking off" digits. A digit is
    reported once it is seen in two blocks in a row (51 ms, over the 40 ms minimum) and
    re-armed after a block without it.
    """

    BLOCK = 205
    MIN_RMS = 200.0  # about -44 dBm0: quieter is line noise
    MIN_SHARE = 0.7  # the two tones hold at least this share of the energy
    MIN_DOMINANCE = 6.3  # strongest tone in a group vs the group's next one (8 dB power)

    def __init__(self, callback: DigitCallback | None = None) -> None:
        self.callback = callback
        n = np.arange(self.BLOCK)
        window = np.hamming(self.BLOCK)
        freqs = np.array(LOW_FREQS + HIGH_FREQS)
        angles = 2 * np.pi * np.outer(n, freqs) / 8000
        self._window = window
        self._basis = np.concatenate([np.cos(angles), np.sin(angles)], axis=1) \
            * window[:, None]
        self._window_energy = float(np.sum(window**2))
        self._pending = np.zeros(0, dtype=np.float64)
        self._candidate = ""
        self._candidate_blocks = 0
        self.digits: list[DtmfDigit] = []

    def feed(self, pcm: npt.ArrayLike) -> None:
        samples = np.concatenate([self._pending, np.asarray(pcm, dtype=np.float64)])
        blocks = len(samples) // self.BLOCK
        if blocks:
            self._blocks(samples[: blocks * self.BLOCK].reshape(blocks, self.BLOCK))
        self._pending = samples[blocks * self.BLOCK:]

    def _blocks(self, blocks: npt.NDArray[np.float64]) -> None:
        proj = blocks @ self._basis
        power = proj[:, :8] ** 2 + proj[:, 8:] ** 2
        totals = np.sum((blocks * self._window) ** 2, axis=1)
        for row, total in zip(power, totals, strict=True):
            self._decide(self._classify(row, float(total)))

    def _classify(self, p: npt.NDArray[np.float64], total: float) -> str:
        if total / self._window_energy < self.MIN_RMS**2:
            return ""
        low, high = p[:4], p[4:]
        li, hi = int(np.argmax(low)), int(np.argmax(high))
        lp, hp = float(low[li]), float(high[hi])
        if lp <= 0 or hp <= 0:
            return ""
        if np.partition(low, -2)[-2] * self.MIN_DOMINANCE > lp:
            return ""
        if np.partition(high, -2)[-2] * self.MIN_DOMINANCE > hp:
            return ""
        twist = hp / lp
        if not 10 ** (-0.8) <= twist <= 10 ** 0.4:
            return ""
        # a pure tone's projection holds about (BLOCK/2)·amplitude²/… of the block energy:
        # compare like with like by normalising with the window's energy
        share = 2 * (lp + hp) / (total * self._window_energy) if total else 0.0
        if share < self.MIN_SHARE:
            return ""
        return KEYPAD[li][hi]

    def _decide(self, digit: str) -> None:
        if digit and digit == self._candidate:
            self._candidate_blocks += 1
            if self._candidate_blocks == 2:  # once per key press
                self._emit(digit)
            return
        self._candidate = digit
        self._candidate_blocks = 1 if digit else 0

    def _emit(self, digit: str) -> None:
        found = DtmfDigit(digit, 2 * self.BLOCK * 1000 // 8000, "inband")
        self.digits.append(found)
        if len(self.digits) > 64:
            del self.digits[:32]
        if self.callback is not None:
            self.callback(found)
