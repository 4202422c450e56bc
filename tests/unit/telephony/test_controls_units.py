"""Transfer targets and the selective (monitoring) mixer without the network."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from zvans.errors import InvalidInput
from zvans.telephony.controls import Target, parse_target
from zvans.telephony.media import g711
from zvans.telephony.monitor import SelectiveMixer, muted_pairs


@pytest.mark.parametrize(("text", "target"), [
    ("queue:3", Target("queue", "3")), (" agent:12 ", Target("agent", "12")),
    ("number:+371 2000 0000", Target("number", "+37120000000")),
])
def test_targets(text: str, target: Target) -> None:
    assert parse_target(text) == target
    assert str(parse_target(text)) == str(target)


@pytest.mark.parametrize("text", ["", "3", "queue:", "queue:abc", "agent:-1", "team:4",
                                  "number:12", "number:+3712000000000000000000", "number:abc"])
def test_bad_targets_are_refused_with_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_target(text)
    assert err.value.field == "target" and err.value.code == "bad-target"
    assert err.value.message


class _Leg:
    """What the mixer needs from a leg: codec, payload type, its own stream."""

    def __init__(self) -> None:
        self.codec = "PCMA"
        self.payload_type = 8
        self.own_busy = None
        self.sink = None
        self.relay_tx = True
        self.sent: list[np.ndarray] = []

    def resync_own(self, now: float) -> None:
        pass

    def send_own(self, payload: bytes, pt: int, marker: bool, samples: int,
                 now: float = 0.0) -> bool:
        self.sent.append(g711.decode(payload, "PCMA"))
        return True


def _packet(value: int) -> bytes:
    pcm = np.full(160, value, dtype=np.int16)
    return bytes([0x80, 8]) + bytes(10) + g711.encode(pcm, "PCMA")


@pytest.mark.parametrize(("mode", "caller_hears_sup", "agent_hears_sup"), [
    ("listen", False, False), ("whisper", False, True), ("barge", True, True)])
def test_who_hears_whom(mode: str, caller_hears_sup: bool, agent_hears_sup: bool) -> None:
    caller, agent, sup = _Leg(), _Leg(), _Leg()

    async def mix() -> None:  # the mixer starts its 20 ms task on the running loop
        mixer = SelectiveMixer()
        for leg in (caller, agent, sup):
            mixer.add(leg)  # type: ignore[arg-type]
        mixer.set_muted(muted_pairs(mode, caller, agent, sup))  # type: ignore[arg-type]
        for leg, value in ((caller, 1000), (agent, 2000), (sup, 4000)):
            leg.sink(0, _packet(value))  # type: ignore[misc]
        mixer.mix_once()
        mixer.close()

    # a thread of its own: a test run that used Playwright's sync API leaves a loop set
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(mix())).result()
    heard = {name: int(np.median(leg.sent[0])) for name, leg in
             (("caller", caller), ("agent", agent), ("sup", sup))}
    # G.711 is not exact: compare with a tolerance of a few per cent
    assert heard["sup"] == pytest.approx(3000, rel=0.05)  # caller + agent, never itself
    assert heard["caller"] == pytest.approx(2000 + (4000 if caller_hears_sup else 0), rel=0.05)
    assert heard["agent"] == pytest.approx(1000 + (4000 if agent_hears_sup else 0), rel=0.05)
