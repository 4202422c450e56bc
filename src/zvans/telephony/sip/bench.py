"""Signalling benchmark: sipp's built-in UAC against a SipStack that answers at once.

Measures the SIP layer alone (parser, transactions, dialogs, 2xx/ACK, BYE), no media and
no database: call setups per second, failures, SIP retransmissions seen by sipp, the
server's CPU and event-loop lag.  The server runs in this process (uvloop when available)
pinned to one CPU, sipp in a child process pinned to another.

    python -m zvans.telephony.sip.bench --rate 300 --calls 6000

Prints one JSON object.  A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .stack import IncomingCall, SipStack, StackConfig

SDP = (
    b"v=0\r\no=zvans 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cpu: int | None) -> None:
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {cpu})


def _read_stats(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


async def run(
    *,
    rate: int = 200,
    calls: int = 4000,
    hold_ms: int = 0,
    server_cpu: int | None = 0,
    sipp_cpu: int | None = 1,
) -> dict[str, Any]:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("sipp is not installed (apt-get install sip-tester)")
    _pin(server_cpu)
    stack = SipStack(
        StackConfig(udp_port=0, tcp_port=None, dids=frozenset({"bench"}), rate=1e9, burst=1e9)
    )

    def on_invite(call: IncomingCall) -> None:
        call.provisional(180)
        call.answer(SDP)

    stack.on_invite = on_invite
    await stack.start()
    lags: list[float] = []
    stop = asyncio.Event()

    async def sample_lag() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(0.01)
            lags.append(max(0.0, loop.time() - t0 - 0.01))

    sampler = asyncio.get_running_loop().create_task(sample_lag())
    with tempfile.TemporaryDirectory(prefix="zvans-sip-bench-") as tmp:
        stat_file = Path(tmp) / "stats.csv"
        args = [
            sipp,
            f"127.0.0.1:{stack.port()}",
            "-sn",
            "uac",
            "-s",
            "bench",
            "-r",
            str(rate),
            "-m",
            str(calls),
            "-l",
            str(max(rate * 4, 100)),
            "-d",
            str(hold_ms),
            "-i",
            "127.0.0.1",
            "-p",
            str(_free_port()),
            "-nostdin",
            "-timeout",
            f"{calls // max(rate, 1) + 60}s",
            "-trace_stat",
            "-stf",
            str(stat_file),
            "-fd",
            "1",
        ]
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=(lambda: _pin(sipp_cpu)) if sipp_cpu is not None else None,
        )
        _, err = await proc.communicate()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stats = _read_stats(stat_file)
    stop.set()
    await sampler
    await stack.stop()
    ok = int(stats.get("SuccessfulCall(C)", "0") or 0)
    failed = int(stats.get("FailedCall(C)", "0") or 0)
    lags_ms = sorted(x * 1000 for x in lags) or [0.0]
    return {
        "benchmark": "sip-signalling",
        "offered_rate_per_s": rate,
        "calls": calls,
        "successful": ok,
        "failed": failed,
        "setups_per_s": round(ok / wall, 1) if wall else 0.0,
        "wall_s": round(wall, 2),
        "server_cpu_percent": round(100 * cpu / wall, 1) if wall else 0.0,
        "sipp_retransmissions": int(stats.get("Retransmissions(C)", "0") or 0),
        "server_stats": {k: v for k, v in stack.stats.items()},
        "transaction_stats": dict(stack.layer.stats),
        "loop_lag_ms": {
            "p50": round(statistics.median(lags_ms), 2),
            "p99": round(lags_ms[int(0.99 * (len(lags_ms) - 1))], 2),
            "max": round(lags_ms[-1], 2),
        },
        "sipp_exit": proc.returncode,
        "sipp_stderr_tail": err.decode(errors="replace")[-500:] if proc.returncode else "",
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=int, default=200, help="offered call setups per second")
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--hold-ms", type=int, default=0, help="call length before BYE")
    parser.add_argument("--asyncio", action="store_true", help="stock loop instead of uvloop")
    ns = parser.parse_args(argv)
    coro = run(rate=ns.rate, calls=ns.calls, hold_ms=ns.hold_ms)
    if not ns.asyncio:
        try:
            import uvloop

            print(json.dumps(uvloop.run(coro), indent=2))
            return
        except ImportError:
            pass
    print(json.dumps(asyncio.run(coro), indent=2))


if __name__ == "__main__":
    main()
