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

from .errors import DtmfError

EVENTS = "0123456789*#ABCD"
EVENT_OF: dict[str, int] = {ch: i for i, ch in enumerate(EVENTS)}
_PAYLOAD = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    digit: str
    duration_ms: int
    source: str  # "rfc4733" or "info"


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
