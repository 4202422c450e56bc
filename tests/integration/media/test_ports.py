from __future__ import annotations

import asyncio
import socket

import pytest

from zvans.telephony.media.errors import PortsExhausted
from zvans.telephony.media.ports import PortAllocator
from zvans.telephony.media.session import MediaEngine


def test_skips_ports_bound_by_someone_else_and_hands_out_even_ports() -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", 43000))
    try:
        ports = PortAllocator("127.0.0.1", 43000, 43007)
        got = [ports.allocate() for _ in range(3)]
        numbers = [s.getsockname()[1] for s in got]
        assert numbers == [43002, 43004, 43006]
        assert ports.bind_failures == 1
        with pytest.raises(PortsExhausted) as err:
            ports.allocate()
        assert err.value.status == 503
        got[0].close()
        ports.release(43002)
        again = ports.allocate()
        assert again.getsockname()[1] == 43002
        for sock in [*got[1:], again]:
            sock.close()
    finally:
        squatter.close()


def test_odd_start_is_rounded_up() -> None:
    ports = PortAllocator("127.0.0.1", 43101, 43104)
    sock = ports.allocate()
    assert sock.getsockname()[1] == 43102
    sock.close()


def test_engine_frees_the_port_when_the_leg_closes_and_can_rebind_at_once() -> None:
    async def main() -> None:
        engine = MediaEngine(port_start=43200, port_end=43203)
        first = await engine.allocate_leg()
        second = await engine.allocate_leg()
        with pytest.raises(PortsExhausted):
            await engine.allocate_leg()
        engine.close(first)
        await asyncio.sleep(0)  # the transport closes on the next loop iteration
        assert engine.ports.in_use == 1
        third = await engine.allocate_leg()
        assert third.port == first.port
        engine.close(second)
        engine.close(third)
        await engine.aclose()
        assert engine.ports.in_use == 0

    asyncio.run(main())


def test_wildcard_bind_advertises_a_real_address() -> None:
    engine = MediaEngine(host="0.0.0.0", port_start=43300, port_end=43310)
    assert engine.advertise not in ("0.0.0.0", "")
    socket.inet_aton(engine.advertise)  # a usable IPv4 address for SDP
    explicit = MediaEngine(host="0.0.0.0", advertise="203.0.113.7")
    assert explicit.advertise == "203.0.113.7"
