from __future__ import annotations

import pytest

from zvans.telephony.media import dtmf
from zvans.telephony.media.errors import DtmfError


def press(receiver: dtmf.DtmfReceiver, digit: str, ts: int, duration_ms: int = 100,
          ssrc: int = 1, drop_ends: int = 0) -> None:
    packets = dtmf.event_payloads(digit, duration_ms)
    if drop_ends:
        packets = packets[:-drop_ends]
    for payload, _marker in packets:
        receiver.feed(ssrc, ts, payload)


def test_three_end_packets_report_once_with_duration() -> None:
    seen: list[dtmf.DtmfDigit] = []
    receiver = dtmf.DtmfReceiver(seen.append)
    press(receiver, "5", ts=1000, duration_ms=100)
    assert [(d.digit, d.duration_ms) for d in seen] == [("5", 100)]
    # a retransmission of the whole event changes nothing
    press(receiver, "5", ts=1000, duration_ms=100)
    assert len(seen) == 1
    press(receiver, "5", ts=5000)  # the same key pressed again is a new event
    press(receiver, "#", ts=9000)
    assert [d.digit for d in seen] == ["5", "5", "#"]


def test_event_with_all_ends_lost_is_reported_when_next_starts() -> None:
    seen: list[dtmf.DtmfDigit] = []
    receiver = dtmf.DtmfReceiver(seen.append)
    press(receiver, "1", ts=100, drop_ends=3)
    assert seen == []
    press(receiver, "2", ts=2000)
    assert [d.digit for d in seen] == ["1", "2"]


def test_event_payload_sequence() -> None:
    packets = dtmf.event_payloads("*", duration_ms=100)
    assert packets[0][1] is True and not any(m for _, m in packets[1:])
    events = [dtmf.parse_event(p) for p, _ in packets]
    assert all(e is not None and e[0] == 10 for e in events)
    ends = [e for e in events if e and e[1]]
    assert len(ends) == 3 and {e[3] for e in ends} == {800}
    durations = [e[3] for e in events if e]
    assert durations == sorted(durations)
    with pytest.raises(DtmfError):
        dtmf.event_payloads("x")


def test_short_and_non_digit_events_are_ignored() -> None:
    seen: list[dtmf.DtmfDigit] = []
    receiver = dtmf.DtmfReceiver(seen.append)
    receiver.feed(1, 1, b"\x05")
    receiver.feed(1, 2, dtmf.build_event(16, True, 800))  # flash hook
    assert seen == []


@pytest.mark.parametrize(
    ("body", "ctype", "digit", "duration"),
    [
        ("Signal=5\r\nDuration=160", "application/dtmf-relay", "5", 160),
        ("Signal= #\nDuration= 250\n", "application/dtmf-relay", "#", 250),
        ("signal=11\r\n", "application/dtmf-relay; charset=x", "#", 0),
        ("*", "application/dtmf", "*", 0),
        (b"Signal=a\r\nDuration=100", "application/dtmf-relay", "A", 100),
    ],
)
def test_sip_info_bodies(body: str, ctype: str, digit: str, duration: int) -> None:
    got = dtmf.parse_info(body, ctype)
    assert (got.digit, got.duration_ms, got.source) == (digit, duration, "info")


def test_info_digit_hook_and_errors() -> None:
    assert dtmf.info_digit("Signal=5\r\nDuration=160") == "5"
    for bad in ("Duration=160", "Signal=xyz", "Signal=", ""):
        with pytest.raises(DtmfError):
            dtmf.info_digit(bad)
