"""Media benchmark (not a test): N recorded bridged calls relayed on one core.

``run(calls=400, seconds=10)`` builds N calls in this process — two legs each, negotiated
through the real SDP offer/answer code, bridged, recorded to stereo WAV — and starts a
traffic generator in a separate process that sends every leg 50 packets/s (20 ms G.711
frames) from one UDP socket and counts what comes back. The relay process is pinned to one
CPU and the generator to another, so the relay's CPU% is the cost of the media path alone.

The figures cover the generator's whole sending time (warm-up included); if
``generator_max_late_ms`` is large, the generator, not the relay, fell behind.

Loss is counted end to end: each payload carries (stream, packet number), and a packet is
lost when it was sent after the warm-up second and never came back out of the other leg.
``--moh N`` adds N legs playing the default music on hold (queued callers) to a socket that is
never read; its overflow then shows up in ``udp_rcvbuf_errors``, which is only meaningful for
the relay without ``--moh``.

``--workers N`` relays and records in N media worker processes (:mod:`.workers`) and adds
each worker's CPU, the pairs it relayed and the capacity that implies; the relay figures
then count the B2BUA-side process (which only hands off and collects counters).

Run: ``python -m zvans.telephony.media.bench --calls 400 --seconds 10`` (prints JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import select
import socket
import struct
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any

import psutil

from . import sdp
from .audio import default_moh
from .session import MediaEngine
from .workers import WorkerMediaEngine

RATE = 50  # packets per second per leg
WARMUP = 1.0  # seconds before packets count (latching happens on the first packet)
_HDR = struct.Struct("!BBHII")
_MARK = struct.Struct("!II")


def _pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})


def _generator(host: str, ports: list[int], seconds: float, cpu: int | None,
               conn: Connection) -> None:
    """Send RATE packets/s to each port from one socket; count returns per stream."""
    _pin(cpu)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
    sock.bind((host, 0))
    sock.setblocking(False)
    streams = len(ports)
    warm_packets = int(WARMUP * RATE)
    total_packets = warm_packets + int(seconds * RATE)
    received = [0] * streams
    sent_counted = 0
    packet = bytearray(12 + 160)
    packet[12:] = b"\xd5" * 160
    recv_buf = bytearray(2048)
    groups = 10
    per_group = (streams + groups - 1) // groups
    dests = [(host, p) for p in ports]
    conn.send("started")
    start = time.perf_counter()
    send_errors = 0

    def drain() -> None:
        while True:
            try:
                n = sock.recv_into(recv_buf)
            except BlockingIOError:
                return
            if n >= 20:
                stream, number = _MARK.unpack_from(recv_buf, 12)
                if number >= warm_packets and stream < streams:
                    received[stream] += 1

    max_late = 0.0
    for k in range(total_packets):
        for g in range(groups):
            due = start + k / RATE + g / (RATE * groups)
            max_late = max(max_late, time.perf_counter() - due)
            while True:
                delay = due - time.perf_counter()
                if delay <= 0:
                    break
                select.select([sock], [], [], delay)
                drain()
            for i in range(g * per_group, min(streams, (g + 1) * per_group)):
                _HDR.pack_into(packet, 0, 0x80, 8, k & 0xFFFF, (k * 160) & 0xFFFFFFFF,
                               i + 1)
                _MARK.pack_into(packet, 12, i, k)
                try:
                    sock.sendto(packet, dests[i])
                except BlockingIOError:
                    send_errors += 1
                    continue
                if k >= warm_packets:
                    sent_counted += 1
        drain()
    conn.send("sent")
    # wait for stragglers: until nothing came for a second (a lagging relay still sends)
    quiet_since = time.perf_counter()
    give_up = quiet_since + 15
    while time.perf_counter() - quiet_since < 1.0 and time.perf_counter() < give_up:
        before = sum(received)
        select.select([sock], [], [], 0.05)
        drain()
        if sum(received) != before:
            quiet_since = time.perf_counter()
    conn.send({
        "sent": sent_counted, "received": sum(received), "send_errors": send_errors,
        "streams_with_loss": sum(1 for r in received if r < total_packets - warm_packets),
        "cpu_seconds": sum(os.times()[:2]),
        "max_late_ms": round(1000 * max_late, 1),
        "send_seconds": round(time.perf_counter() - start, 2),
    })
    sock.close()


def _autogroup_nice() -> int | None:
    """With CONFIG_SCHED_AUTOGROUP, niceness only counts inside a session's group; the
    group's own niceness is what competes with other sessions' processes."""
    try:
        with open("/proc/self/autogroup") as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _set_autogroup_nice(value: int) -> None:
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as f:
        f.write(str(value))


def _udp_rcvbuf_errors() -> int:
    try:
        with open("/proc/net/snmp") as f:
            lines = [line.split() for line in f if line.startswith("Udp:")]
        header, values = lines[0], lines[1]
        return int(values[header.index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        return -1


async def _lag_monitor(samples: list[float], stop: asyncio.Event) -> None:
    # perf_counter, not loop.time(): uvloop's clock has millisecond resolution
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        samples.append(time.perf_counter() - before - 0.01)


async def _bench(calls: int, seconds: float, record: bool, rewrite: bool, host: str,
                 port_start: int, relay_cpu: int | None, gen_cpu: int | None,
                 moh: int, workers: int = 0, worker_cpus: list[int] | None = None) \
        -> dict[str, Any]:
    port_end = port_start + 4 * (calls + moh) + 200
    if workers:
        engine: MediaEngine = WorkerMediaEngine(host, port_start=port_start, port_end=port_end,
                                                workers=workers, pin=False)
    else:
        engine = MediaEngine(host, port_start=port_start, port_end=port_end)
    tmp = tempfile.TemporaryDirectory(prefix="zvans-bench-media-")
    legs = []
    recorders = []
    peer_offer = sdp.offer(sdp.LocalMedia(host, 9, ("PCMA",), 101))
    for i in range(calls):
        a = await engine.allocate_leg()
        b = await engine.allocate_leg()
        engine.answer(a, peer_offer)
        answer, _ = sdp.answer(engine.offer(b), sdp.LocalMedia(host, 9, ("PCMA",), 101))
        engine.accept_answer(b, answer)
        if rewrite:  # as if both legs had heard a prompt: every packet is rewritten
            a.tx_own_used = b.tx_own_used = True
        recorder = engine.start_recording(os.path.join(tmp.name, f"{i}.wav")) if record \
            else None
        engine.bridge(a, b, recorder)
        legs += [a, b]
        if recorder is not None:
            recorders.append(recorder)
    moh_legs = []
    sink = None
    if moh:
        # music on hold goes to a socket nobody reads: the kernel drops what overflows
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sink.bind((host, 0))
        music = default_moh()
        sink_offer = sdp.offer(sdp.LocalMedia(host, sink.getsockname()[1], ("PCMA",), 101))
        for _ in range(moh):
            leg = await engine.allocate_leg()
            engine.answer(leg, sink_offer)
            engine.play(leg, music, loop=True)
            moh_legs.append(leg)
    worker_procs: list[psutil.Process] = []
    if isinstance(engine, WorkerMediaEngine):
        await asyncio.sleep(0.05)  # the hand-offs (scheduled right after each bridge)
        for slot, worker in enumerate(engine.workers):
            assert worker is not None
            proc_ = psutil.Process(worker.pid)
            if worker_cpus:
                with contextlib.suppress(OSError):
                    proc_.cpu_affinity([worker_cpus[slot % len(worker_cpus)]])
            worker_procs.append(proc_)
    ports = [leg.port for leg in legs]
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_generator, args=(host, ports, seconds, gen_cpu, child),
                       daemon=True)
    loop = asyncio.get_running_loop()
    lag: list[float] = []
    stop = asyncio.Event()
    me = psutil.Process()
    proc.start()
    await loop.run_in_executor(None, parent.recv)  # "started"
    # measured over the generator's whole sending time, warm-up second included
    monitor = loop.create_task(_lag_monitor(lag, stop))
    cpu0 = me.cpu_times()
    wcpu0 = [p.cpu_times() for p in worker_procs]
    t0 = time.perf_counter()
    engine.sync()
    tx0 = sum(leg.tx_packets for leg in legs)
    moh0 = sum(leg.tx_packets for leg in moh_legs)
    rcvbuf0 = _udp_rcvbuf_errors()
    await loop.run_in_executor(None, parent.recv)  # "sent"
    t1 = time.perf_counter()
    cpu1 = me.cpu_times()
    wcpu1 = [p.cpu_times() for p in worker_procs]
    engine.sync()
    tx1 = sum(leg.tx_packets for leg in legs)
    moh1 = sum(leg.tx_packets for leg in moh_legs)
    rcvbuf1 = _udp_rcvbuf_errors()
    gen = await loop.run_in_executor(None, parent.recv)
    stop.set()
    await monitor
    proc.join(5)
    engine.sync()
    counters = engine.counters()
    pairs_per_worker = [w["pairs"] for w in counters.get("media_workers", [])]
    stops = []
    durations = []
    for r in recorders:  # with workers, each one takes its pair back (a round trip)
        before = time.perf_counter()
        durations.append(engine.stop_recording(r))
        stops.append(time.perf_counter() - before)
    stops.sort()
    await engine.aclose()
    if sink is not None:
        sink.close()
    tmp.cleanup()
    lag.sort()
    wall = t1 - t0
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    worker_cpu = [(b.user - a.user) + (b.system - a.system) for a, b in zip(wcpu0, wcpu1,
                                                                          strict=True)]
    relayed = max(1, tx1 - tx0)
    lost = gen["sent"] - gen["received"]
    return {
        "calls": calls,
        "legs": len(legs),
        "seconds": round(wall, 2),
        "recording": record,
        "rewrite_every_packet": rewrite,
        "event_loop": type(loop).__module__.split(".")[0],
        "relayed_packets_per_s": round((tx1 - tx0) / wall),
        "offered_packets_per_s": calls * 2 * RATE,
        "moh_legs": moh,
        "moh_packets_per_s": round((moh1 - moh0) / wall),
        "sent_after_warmup": gen["sent"],
        "returned": gen["received"],
        "lost": lost,
        "loss_ratio": round(lost / gen["sent"], 6) if gen["sent"] else None,
        "streams_with_loss": gen["streams_with_loss"],
        "relay_rx_lost_by_seq": counters.get("rx_lost", 0),
        "udp_rcvbuf_errors": rcvbuf1 - rcvbuf0 if rcvbuf0 >= 0 else None,
        "loop_lag_p50_ms": round(1000 * lag[len(lag) // 2], 2) if lag else None,
        "loop_lag_p99_ms": round(1000 * lag[int(len(lag) * 0.99)], 2) if lag else None,
        "loop_lag_max_ms": round(1000 * lag[-1], 2) if lag else None,
        "relay_cpu_percent": round(100 * cpu / wall, 1),
        # CPU time per relayed packet (recording, MOH and flushes included): less sensitive
        # to other load on the machine than lag; the extrapolation is not a measurement
        "relay_cpu_us_per_packet": round(1e6 * cpu / max(1, tx1 - tx0), 2),
        "extrapolated_calls_per_core": int(1e6 / (1e6 * cpu / max(1, tx1 - tx0) * 2 * RATE))
        if cpu > 0 else None,
        **_worker_figures(workers, worker_cpu, pairs_per_worker, cpu, wall, relayed, calls),
        "generator_cpu_seconds": round(gen["cpu_seconds"], 1),
        "generator_max_late_ms": gen["max_late_ms"],
        "recordings": len(durations),
        "stop_recording_ms_p50": round(1000 * stops[len(stops) // 2], 3) if stops else None,
        "stop_recording_ms_max": round(1000 * stops[-1], 3) if stops else None,
        "mean_recording_seconds": round(sum(durations) / len(durations), 2) if durations
        else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "niceness": os.nice(0),
        "autogroup_niceness": _autogroup_nice(),
        "cpus": os.cpu_count(),
        "relay_cpu": relay_cpu,
        "generator_cpu": gen_cpu,
    }


def _worker_figures(workers: int, worker_cpu: list[float], pairs: list[int], main_cpu: float,
                    wall: float, relayed: int, calls: int) -> dict[str, Any]:
    """Per-worker CPU and the capacity it implies (each worker on a core of its own; the
    main process's share — SIP, ACD, hand-offs, counters — not included)."""
    if not workers:
        return {}
    per_call = [100 * c / wall / max(1, p) for c, p in zip(worker_cpu, pairs, strict=True)]
    us_per_packet = 1e6 * sum(worker_cpu) / relayed
    return {
        "media_workers": workers,
        "pairs_per_worker": pairs,
        "worker_cpu_percent": [round(100 * c / wall, 1) for c in worker_cpu],
        "worker_cpu_us_per_packet": round(us_per_packet, 2),
        "main_process_cpu_percent": round(100 * main_cpu / wall, 1),
        # a worker's core full at the measured cost per call, times the workers
        "extrapolated_calls_per_worker_core": int(100 / (sum(per_call) / len(per_call)))
        if sum(per_call) > 0 else None,
        "extrapolated_calls_all_workers": int(workers * 100 / (sum(per_call) / len(per_call)))
        if sum(per_call) > 0 else None,
        "calls_measured": calls,
    }


def run(calls: int = 400, seconds: float = 10.0, record: bool = True, rewrite: bool = False,
        host: str = "127.0.0.1", port_start: int = 30000, use_uvloop: bool = True,
        pin: bool = True, moh: int = 0, nice: int = 0, workers: int = 0) -> dict[str, Any]:
    """Run the benchmark; returns the figures (also printed by ``main``).

    ``nice`` < 0 raises the relay's scheduling priority (needs root), as a deployment would
    for its media process on a shared machine; the generator inherits it, so the figures
    approach those of a machine without the other load.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    relay_cpu = cpus[0] if pin and len(cpus) >= 2 else None
    gen_cpu = cpus[1] if pin and len(cpus) >= 2 else None
    worker_cpus: list[int] | None = None
    if workers:
        # the workers spread over the cores; the B2BUA side and the generator float
        worker_cpus = cpus if pin and len(cpus) >= 2 else None
        relay_cpu = gen_cpu = None
    saved = set(cpus)
    _pin(relay_cpu)
    old_nice = os.nice(0)
    old_group = _autogroup_nice()
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
        _set_autogroup_nice(nice)
    try:
        coro = _bench(calls, seconds, record, rewrite, host, port_start, relay_cpu, gen_cpu,
                      moh, workers, worker_cpus)
        if use_uvloop:
            try:
                import uvloop
            except ImportError:
                return asyncio.run(coro)
            return uvloop.run(coro)
        return asyncio.run(coro)
    finally:
        if nice:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, old_nice)
            if old_group is not None:
                _set_autogroup_nice(old_group)
        if saved and hasattr(os, "sched_setaffinity"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, saved)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--rewrite", action="store_true",
                        help="rewrite SSRC/seq/timestamp of every relayed packet")
    parser.add_argument("--asyncio", action="store_true", help="plain asyncio, not uvloop")
    parser.add_argument("--port-start", type=int, default=30000)
    parser.add_argument("--nice", type=int, default=0,
                        help="change the relay's niceness (negative needs root)")
    parser.add_argument("--moh", type=int, default=0,
                        help="also play music on hold to this many more legs (queued callers)")
    parser.add_argument("--workers", type=int, default=0,
                        help="relay and record in this many media worker processes")
    args = parser.parse_args(argv)
    result = run(args.calls, args.seconds, not args.no_record, args.rewrite,
                 port_start=args.port_start, use_uvloop=not args.asyncio, moh=args.moh,
                 nice=args.nice, workers=args.workers)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
