"""Our RFC 4475-style torture corpus over real UDP and TCP sockets: every message is
answered as expected or dropped, the server never crashes and still answers OPTIONS
(checked with sipp at the end)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.sip.support import run, run_sipp
from tests.sipp.torture import CASES, Case
from zvans.telephony.sip import SipStack, StackConfig

PROBE = (
    "OPTIONS sip:zvans@{host}:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/{transport} {local};branch=z9hG4bKprobe{n}\r\n"
    "From: <sip:probe@example.test>;tag=p{n}\r\n"
    "To: <sip:zvans@{host}>\r\n"
    "Call-ID: probe-{n}\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n"
)


def status_of(data: bytes) -> int:
    first = data.split(b"\r\n", 1)[0].split(b" ")
    assert first[0] == b"SIP/2.0", data[:80]
    return int(first[1])


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.queue.put_nowait(data)


def make_stack() -> SipStack:
    # a flood of test traffic from one address must not trip the rate limiter here
    return SipStack(StackConfig(udp_port=0, tcp_port=0, rate=1e6, burst=1e6))


def check(case: Case, expected: int | None, answers: list[bytes]) -> None:
    statuses = [status_of(a) for a in answers if status_of(a) != 100]
    if expected is None:
        assert statuses == [], f"{case.name}: expected a silent drop, got {statuses}"
    else:
        assert statuses == [expected], f"{case.name}: expected {expected}, got {statuses}"


def test_torture_over_udp(tmp_path: Path) -> None:
    async def main() -> None:
        stack = make_stack()
        await stack.start()
        host, port = stack.addresses["UDP"]
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            UdpClient, local_addr=("127.0.0.1", 0)
        )
        local = f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
        try:
            for n, case in enumerate(CASES):
                data = case.render(host, port, local, f"torture-{n}@test", f"z9hG4bKt{n}")
                transport.sendto(data, (host, port))
                # the server handles datagrams in order: everything before the probe's
                # answer is the answer to the torture message
                probe = PROBE.format(host=host, port=port, transport="UDP", local=local, n=n)
                transport.sendto(probe.encode(), (host, port))
                answers: list[bytes] = []
                for _ in range(10):
                    got = await asyncio.wait_for(client.queue.get(), 10)
                    if f"probe-{n}".encode() in got:
                        assert status_of(got) == 200, case.name
                        break
                    answers.append(got)
                else:
                    pytest.fail(f"{case.name}: probe never answered")
                check(case, case.expect, answers)
            assert stack.stats["parse_errors"] >= 15
            res = await run_sipp("options.xml", port, tmp_path)
            assert res.ok, res.explain()
        finally:
            transport.close()
            await stack.stop()

    run(main)


async def read_message(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head + body


async def tcp_exchange(host: str, port: int, data: bytes, expect: int | None) -> list[bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    answers: list[bytes] = []
    try:
        if expect is not None:
            for _ in range(3):
                msg = await asyncio.wait_for(read_message(reader), 10)
                answers.append(msg)
                if status_of(msg) != 100:
                    break
        else:
            # nothing may come back; the connection may be closed by the server
            try:
                msg = await asyncio.wait_for(read_message(reader), 0.3)
                answers.append(msg)
            except (TimeoutError, asyncio.IncompleteReadError):
                pass
    finally:
        writer.close()
    return answers


def test_torture_over_tcp(tmp_path: Path) -> None:
    async def main() -> None:
        stack = make_stack()
        await stack.start()
        host, port = stack.addresses["TCP"]
        try:
            for n, case in enumerate(CASES):
                data = case.render(
                    host, port, "127.0.0.1:9", f"torture-{n}@test", f"z9hG4bKt{n}"
                ).replace(b"SIP/2.0/UDP 127.0.0.1:9", b"SIP/2.0/TCP 127.0.0.1:9")
                answers = await tcp_exchange(host, port, data, case.tcp_expect())
                check(case, case.tcp_expect(), answers)
                probe = PROBE.format(
                    host=host, port=port, transport="TCP", local="127.0.0.1:9", n=n
                ).encode()
                probe_answers = await tcp_exchange(host, port, probe, 200)
                assert [status_of(a) for a in probe_answers] == [200], case.name
            res = await run_sipp("options.xml", port, tmp_path, transport="t1")
            assert res.ok, res.explain()
        finally:
            await stack.stop()

    run(main)


def test_tcp_framing_split_and_pipelined_messages() -> None:
    """A message cut into small pieces, and two messages in one write, are both framed."""

    async def main() -> None:
        stack = make_stack()
        await stack.start()
        host, port = stack.addresses["TCP"]
        reader, writer = await asyncio.open_connection(host, port)
        try:
            one = PROBE.format(host=host, port=port, transport="TCP", local="127.0.0.1:9", n=1)
            two = PROBE.format(host=host, port=port, transport="TCP", local="127.0.0.1:9", n=2)
            data = ("\r\n\r\n" + one).encode()  # keep-alive CRLFs first
            for i in range(0, len(data), 7):
                writer.write(data[i : i + 7])
                await writer.drain()
                await asyncio.sleep(0)
            first = await asyncio.wait_for(read_message(reader), 10)
            assert status_of(first) == 200 and b"probe-1" in first
            writer.write((two + one.replace("probe-1", "probe-3")).encode())
            await writer.drain()
            second = await asyncio.wait_for(read_message(reader), 10)
            third = await asyncio.wait_for(read_message(reader), 10)
            assert b"probe-2" in second and b"probe-3" in third
        finally:
            writer.close()
            await stack.stop()

    run(main)


def test_one_address_cannot_take_every_tcp_slot() -> None:
    async def main() -> None:
        stack = make_stack()
        stack.transport.max_connections_per_host = 2
        await stack.start()
        host, port = stack.addresses["TCP"]
        conns = [await asyncio.open_connection(host, port) for _ in range(3)]
        try:
            # the third is closed by the server at once; the first two still work
            assert await asyncio.wait_for(conns[2][0].read(), 10) == b""
            for n, (reader, writer) in enumerate(conns[:2]):
                probe = PROBE.format(
                    host=host, port=port, transport="TCP", local="127.0.0.1:9", n=n
                )
                writer.write(probe.encode())
                assert status_of(await asyncio.wait_for(read_message(reader), 10)) == 200
            assert stack.transport.per_host == {"127.0.0.1": 2}
        finally:
            for _, writer in conns:
                writer.close()
            await stack.stop()

    run(main)
