"""SIP B2BUA benchmark (not a test): ``zvans bench sip`` prints JSON.

It builds a throw-away SQLite database (one queue that records every call, one DID straight
into it, enough agents whose ``ring_target`` is a sipp UAS), starts the server — the same
``zvans.server.serve`` that ``zvans serve`` runs, with the SIP starter — pinned to one core
with ``taskset``, logs the agents in, and drives it with sipp from the other cores:

1. **Concurrency.** sipp callers arrive at ``rate`` per second until ``calls`` calls are up;
   every call is answered by the UAS "agent", bridged, recorded (stereo WAV) and both sides
   stream G.711 (a looped copy of sipp's stock capture, 50 packets/s each way) for
   ``hold_s`` seconds. On the plateau (all calls bridged) the server reports: bridged calls,
   relayed packets/s, RTP packets lost (RFC 3550 count on every leg, both directions),
   event-loop lag p99 (a 20 ms timer's lateness) and recording errors.
2. **Setup rate.** ``setup_calls`` short calls (no media, 3 s) offered at ``setup_rate``/s:
   INVITE → 200 to the caller → ACD → INVITE to the agent → 200 → bridge → BYE both ways,
   with every ContactCenter command written to the database. Reported: completed setups
   per second over the phase, and sipp's failed calls.

The server writes its counters to ``stats.json`` in the work directory twice a second; the
figures come from there, sipp's own statistics only count failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CALLER_HOLD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="zvans bench caller">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+3712[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio MEDIA_PORT RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+3712[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  MEDIA
  <pause/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+3712[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""

AGENT_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="zvans bench agent">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]A[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:agent@[local_ip]:[local_port]>
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]A[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:agent@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio MEDIA_PORT RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv request="ACK"/>
  MEDIA
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
</scenario>
"""

#: sipp's RTP streaming over ordinary UDP sockets, looping raw A-law for the whole call.
#: Not ``play_pcap_audio``: that sends through one raw socket per playing call, and the kernel
#: checks every UDP packet on the host against every raw UDP socket (``raw_local_deliver``),
#: so with 400 calls the load generator made each packet cost the *server* ~20 µs of system
#: time (perf: 78 % of CPU 0). See docs/performance.md.
PLAY = '<nop><action><exec rtp_stream="{audio},-1,8"/></action></nop>'
STREAM_PORT = "[rtpstream_audio_port]"
DID = "+37160009999"
STOCK_PCAP = Path("/usr/share/sip-tester/g711a.pcap")


def free_sip_port() -> int:
    """A loopback port free for both UDP and TCP (SIP listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def free_port_block(size: int = 4, start: int = 40000, end: int = 60000,
                    spread: bool = False) -> int:
    """An even port with ``size - 1`` free ports after it (sipp's media ports).

    ``spread`` starts the search at a place that depends on the process id, so that test
    processes running side by side do not race for the same block."""
    first = start
    if spread:
        first = start + (os.getpid() * 16) % (end - start - 1000)
        first -= first % 2
    for base in range(first, end - size, size):
        socks = []
        try:
            for offset in range(size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free port block")


def alaw_payloads(src: Path, dst: Path) -> Path:
    """The A-law audio of sipp's stock capture as a raw file, for ``rtp_stream``."""
    data = src.read_bytes()
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    out = bytearray()
    offset = 24
    while offset + 16 <= len(data):
        _, _, incl, _ = struct.unpack_from(endian + "IIII", data, offset)
        frame = data[offset + 16:offset + 16 + incl]
        offset += 16 + incl
        ihl = (frame[14] & 0x0F) * 4
        rtp = frame[14 + ihl + 8:]
        if len(rtp) > 12 and rtp[1] & 0x7F == 8:
            out += rtp[12:]
    dst.write_bytes(bytes(out))
    return dst


def _prepare_database(workdir: Path, agents: int, uas_port: int,
                      record: bool = True) -> dict[str, str]:
    from zvans.app import build
    from zvans.config import load_settings
    from zvans.store import migrate
    from zvans.store.models import AgentProfile, Did, Organisation, Queue, SkillLevel, User

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZVANS_")}
    env.update(ZVANS_DATABASE_URL=f"sqlite:///{workdir}/bench.db", ZVANS_DATA_DIR=str(workdir),
               ZVANS_LOG_LEVEL="WARNING", ZVANS_SECRET_KEY="bench",
               ZVANS_RTP_PORT_MIN="20000", ZVANS_RTP_PORT_MAX="29998")
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    migrate.upgrade(settings.database_url)
    z = build(settings)
    with z.sessions.begin() as session:
        org = Organisation(slug="bench", name="SIP bench", language="en")
        session.add(org)
        session.flush()
        queue = Queue(org_id=org.id, name="Bench", language="en", record_calls=record,
                      wrapup_s=0, ring_timeout_s=15, names={}, business_hours={},
                      holidays=[])
        session.add(queue)
        session.flush()
        session.add(Did(org_id=org.id, number=DID, queue_id=queue.id))
        for i in range(agents):
            user = User(org_id=org.id, username=f"bench{i}", password_hash="!",
                        email=f"bench{i}@bench.invalid", role="agent")
            session.add(user)
            session.flush()
            session.add(AgentProfile(org_id=org.id, user_id=user.id,
                                     ring_target=f"sip:agent{i}@127.0.0.1:{uas_port}"))
            session.add(SkillLevel(org_id=org.id, user_id=user.id, queue_id=queue.id,
                                   level=1))
    z.close()
    return env


# --- the server side (runs in the pinned child process) -----------------------------------

async def _stats_starter(z: Any) -> Any:
    """Logs every agent in, samples event-loop lag, writes stats.json twice a second."""
    from sqlalchemy import select

    from zvans.runtime import attach
    from zvans.store.models import AgentProfile, Organisation

    cc = attach(z)
    with z.sessions() as session:
        org_id = session.scalar(select(Organisation.id))
        agent_ids = list(session.scalars(select(AgentProfile.user_id)))
    for uid in agent_ids:
        await asyncio.to_thread(cc.agent_login, org_id, uid)
    telephony = z.services["sip"]
    path = Path(z.settings.data_dir) / "stats.json"
    lags: list[float] = []
    loop = asyncio.get_running_loop()

    async def sample() -> None:
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.02)
            lags.append(loop.time() - t0 - 0.02)

    async def dump() -> None:
        while True:
            await asyncio.sleep(0.5)
            window = sorted(lags)
            lags.clear()
            p99 = window[min(len(window) - 1, int(len(window) * 0.99))] if window else 0.0
            data = {
                "t": time.monotonic(), "cpu_s": time.process_time(),
                "thread_cpu_s": _thread_cpu(),
                "calls": len(telephony.b2bua.calls),
                "pending_commands": telephony.b2bua.pending_commands,
                "b2bua": {**telephony.b2bua.stats,
                          # group commits and the commands they ran (group_executor.py)
                          "cc_groups": getattr(telephony.b2bua._executor, "groups", 0),
                          "cc_commands": getattr(telephony.b2bua._executor, "commands", 0)},
                "media": telephony.media.counters(),
                "sip": dict(telephony.stack.stats),
                "lag_p99_ms": round(p99 * 1000, 2),
                "lag_max_ms": round(window[-1] * 1000, 2) if window else 0.0,
            }
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, path)

    tasks = [loop.create_task(sample()), loop.create_task(dump())]
    (path.parent / "ready").write_text(str(len(agent_ids)))

    async def stop() -> None:
        for task in tasks:
            task.cancel()

    return stop


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread, summed by kind (the event loop is MainThread,
    ContactCenter commands run on zvans-cc, ``asyncio.to_thread`` work on asyncio_N)."""
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            cpu = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, AttributeError):
            continue
        kind = thread.name.split("_")[0].split("-")[0] if thread.name.startswith(
            ("asyncio", "ThreadPoolExecutor")) else thread.name
        out[kind] = round(out.get(kind, 0.0) + cpu, 4)
    return out


async def _telephony_starter(z: Any) -> Any:
    """The SIP starter of `zvans serve`, with sipp's address trusted like an operator's SBC
    (all calls come from one address, as through a trunk: not rate-limited per source)."""
    from zvans.telephony.service import start_telephony

    telephony = await start_telephony(z, trusted_sources=("127.0.0.1",))
    return telephony.stop


def serve_for_bench(web_port: int) -> None:
    from zvans import server
    from zvans.app import build
    from zvans.config import load_settings

    server.STARTERS.append(_telephony_starter)
    server.STARTERS.append(_stats_starter)
    z = build(load_settings())
    server.run(z, "127.0.0.1", web_port)


# --- the driver ------------------------------------------------------------------------------

class _Run:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str] | None = None,
              log: str = "proc.log") -> subprocess.Popen[bytes]:
        out = open(self.workdir / log, "wb")  # noqa: SIM115
        proc = subprocess.Popen(argv, env=env, cwd=self.workdir, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def stats(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.workdir / "stats.json").read_text())
            return data
        except (OSError, ValueError):
            return {}

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(10)


#: ``nice`` for the server and sipp (negative needs root): on a machine shared with other
#: work, the scheduler otherwise decides the figures (see docs/performance.md)
NICE = 0


def _niced() -> list[str]:
    return ["nice", "-n", str(NICE)] if NICE else []


def _pin(cpu: int) -> list[str]:
    if cpu < 0 or shutil.which("taskset") is None:
        return _niced()
    return [*_niced(), "taskset", "-c", str(cpu)]


def _others(cpu: int) -> list[str]:
    count = os.cpu_count() or 1
    rest = [str(c) for c in range(count) if c != cpu]
    if cpu < 0 or not rest or shutil.which("taskset") is None:
        return _niced()
    return [*_niced(), "taskset", "-c", ",".join(rest)]


def _sipp_failed(workdir: Path, stem: str) -> dict[str, int]:
    """Successful and failed calls from sipp's -trace_stat CSV (last line)."""
    files = sorted(workdir.glob(f"{stem}*.csv"))
    if not files:
        return {}
    lines = files[-1].read_text(errors="replace").strip().splitlines()
    if len(lines) < 2:
        return {}
    head, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(head, last, strict=False))
    out = {}
    for key in ("SuccessfulCall(C)", "FailedCall(C)"):
        with contextlib.suppress(KeyError, ValueError):
            out[key.removesuffix("(C)").lower()] = int(row[key])
    return out


def run(*, calls: int = 400, rate: float = 50.0, hold_s: float = 20.0,
        setup_calls: int = 2000, setup_rate: float = 200.0, cpu: int = 0,
        keep: bool = False, nice: int = 0, record: bool = True,
        media_workers: int = 0) -> dict[str, Any]:
    global NICE
    NICE = nice
    if media_workers:
        cpu = -1  # pinned by taskset, the workers would inherit the one core
    if shutil.which("sipp") is None or not STOCK_PCAP.exists():
        from zvans.errors import ZvansError

        raise ZvansError("sipp (Debian package sip-tester) is needed for this benchmark",
                         code="no-sipp")
    workdir = Path(tempfile.mkdtemp(prefix="zvans-bench-sip-"))
    # a setup-phase call holds its agent for its 3 s plus ringing and the ACD's turnaround:
    # with only rate × 3 agents, calls queue for want of agents and the phase measures
    # queueing (music, announcements) instead of call setups
    agents = max(calls, int(setup_rate * 5)) + 20
    sip_port, uas_port, web_port = free_sip_port(), free_sip_port(), free_sip_port()
    env = _prepare_database(workdir, agents, uas_port, record)
    env["ZVANS_MEDIA_WORKERS"] = str(media_workers)
    audio = alaw_payloads(STOCK_PCAP, workdir / "loop.al")
    for name, template in (("caller", CALLER_HOLD), ("agent", AGENT_UAS)):
        (workdir / f"{name}.xml").write_text(
            template.replace("MEDIA_PORT", STREAM_PORT)
            .replace("MEDIA", PLAY.format(audio=audio)))
        (workdir / f"{name}_silent.xml").write_text(
            template.replace("MEDIA_PORT", "[media_port]").replace("MEDIA", ""))
    r = _Run(workdir)
    result: dict[str, Any] = {"cpu_pinned": cpu, "nice": nice, "record": record,
                              "media_workers": media_workers,
                              "cpus": os.cpu_count(),
                              "agents": agents,
                              "load_average_1m_before": round(os.getloadavg()[0], 2)}
    try:
        r.start([*_pin(cpu), sys.executable, "-m", "zvans.bench.sip", "--serve",
                 str(web_port)], env={**env, "ZVANS_SIP_PORT": str(sip_port)},
                log="server.log")
        deadline = time.monotonic() + 120
        while not (workdir / "ready").exists():
            if time.monotonic() > deadline or r.procs[0].poll() is not None:
                raise RuntimeError("the server did not start: " +
                                   (workdir / "server.log").read_text()[-2000:])
            time.sleep(0.2)
        result["concurrency"] = _concurrency(r, sip_port, uas_port, calls, rate, hold_s, cpu)
        if setup_calls:
            result["setup"] = _setup_rate(r, sip_port, uas_port, setup_calls, setup_rate, cpu)
        result["recordings"] = _recordings(workdir)
        result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    finally:
        r.stop_all()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def _m(stats: dict[str, Any], key: str, part: str = "media") -> int:
    return int(stats.get(part, {}).get(key, 0))


def _sipp(r: _Run, scenario: str, sip_port: int, cpu: int, args: list[str],
          log: str) -> subprocess.Popen[bytes]:
    return r.start([*_others(cpu), "sipp", "-sf", str(r.workdir / scenario), "-i",
                    "127.0.0.1", *args, "-nostdin", "-trace_stat", "-fd", "1",
                    "-stf", str(r.workdir / f"{log}.csv"), f"127.0.0.1:{sip_port}"],
                   log=f"{log}.log")


def _uas(r: _Run, scenario: str, uas_port: int, cpu: int) -> subprocess.Popen[bytes]:
    return r.start([*_others(cpu), "sipp", "-sf", str(r.workdir / scenario), "-i",
                    "127.0.0.1", "-p", str(uas_port), "-mp", str(free_port_block()),
                    "-nostdin",
                    "-trace_stat", "-fd", "1", "-stf", str(r.workdir / "uas.csv")],
                   log="uas.log")


def _wait_calls_done(r: _Run, proc: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(20)


def _concurrency(r: _Run, sip_port: int, uas_port: int, calls: int, rate: float,
                 hold_s: float, cpu: int) -> dict[str, Any]:
    uas = _uas(r, "agent.xml", uas_port, cpu)
    time.sleep(1)
    before = r.stats()
    caller = _sipp(r, "caller.xml", sip_port, cpu,
                   ["-s", DID, "-p", str(free_sip_port()), "-mp", str(free_port_block(start=44000)),
                    "-r", str(rate),
                    "-l", str(calls), "-m", str(calls), "-d", str(int(hold_s * 1000)),
                    "-timeout", str(int(hold_s + calls / rate + 120)) + "s"], "caller")
    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + hold_s + calls / rate + 180
    while caller.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
        stats = r.stats()
        if stats:
            samples.append(stats)
    _wait_calls_done(r, caller, 5)
    time.sleep(2)
    after = r.stats()
    os.kill(uas.pid, signal.SIGTERM)
    uas.wait(20)
    peak = max((s["media"]["bridged_legs"] // 2 for s in samples), default=0)
    plateau = [s for s in samples if s["media"]["bridged_legs"] // 2 >= max(1, peak * 0.98)]
    out: dict[str, Any] = {"offered_calls": calls, "rate_per_s": rate, "hold_s": hold_s,
                           "peak_bridged_calls": peak,
                           "peak_recordings": max((s["media"]["recordings"] for s in samples),
                                                  default=0)}
    if len(plateau) >= 2:
        a, b = plateau[0], plateau[-1]
        span = b["t"] - a["t"]
        relayed = (_m(b, "tx_packets") - _m(a, "tx_packets")) / span if span else 0
        out.update({
            "plateau_s": round(span, 1),
            "relayed_packets_per_s": round(relayed),
            "server_cpu_share": round((b["cpu_s"] - a["cpu_s"]) / span, 2) if span else None,
            # CPU per relayed packet on the plateau (media, recording, timers): what one
            # core could carry if it were ours alone, whatever else the machine was doing
            "server_cpu_us_per_relayed_packet": round(
                1e6 * (b["cpu_s"] - a["cpu_s"]) / (relayed * span), 2) if relayed else None,
            "event_loop_lag_p99_ms": max(s["lag_p99_ms"] for s in plateau),
            "event_loop_lag_max_ms": max(s["lag_max_ms"] for s in plateau),
        })
        out.update(_worker_shares(a, b, span, relayed))
    if after:
        rx = _m(after, "rx_packets") - _m(before, "rx_packets")
        lost = _m(after, "rx_lost") - _m(before, "rx_lost")
        out.update({
            "rx_packets": rx, "rx_lost": lost,
            "packet_loss_pct": round(100 * lost / (rx + lost), 4) if rx + lost else None,
            "tx_dropped": _m(after, "tx_dropped") - _m(before, "tx_dropped"),
            "recording_errors": _m(after, "recording_errors"),
            "connected": _m(after, "connected", "b2bua") - _m(before, "connected", "b2bua"),
        })
    out["sipp"] = _sipp_failed(r.workdir, "caller")
    return out


def _worker_shares(a: dict[str, Any], b: dict[str, Any], span: float,
                   relayed: float) -> dict[str, Any]:
    """With media workers: each one's CPU share and pairs on the plateau (by pid, so a
    restarted worker is left out rather than mis-counted)."""
    before = {w["pid"]: w for w in a.get("media", {}).get("media_workers", [])}
    after = b.get("media", {}).get("media_workers", [])
    if not after or not span:
        return {}
    shares = [round((w["cpu_seconds"] - before[w["pid"]]["cpu_seconds"]) / span, 2)
              for w in after if w["pid"] in before]
    return {
        "worker_pairs": [w["pairs"] for w in after],
        "worker_cpu_share": shares,
        "workers_cpu_us_per_relayed_packet": round(1e6 * sum(shares) / relayed, 2)
        if relayed else None,
        "media_worker_deaths": b.get("media", {}).get("media_worker_deaths", 0),
    }


def _setup_rate(r: _Run, sip_port: int, uas_port: int, count: int, rate: float,
                cpu: int) -> dict[str, Any]:
    uas = _uas(r, "agent_silent.xml", uas_port, cpu)
    time.sleep(1)
    before = r.stats()
    start = time.monotonic()
    caller = _sipp(r, "caller_silent.xml", sip_port, cpu,
                   ["-s", DID, "-p", str(free_sip_port()), "-mp", str(free_port_block(start=46000)),
                    "-r", str(rate),
                    "-l", str(int(rate * 30)), "-m", str(count), "-d", "3000",
                    "-timeout", str(int(count / rate + 120)) + "s"], "setup")
    _wait_calls_done(r, caller, count / rate + 150)
    elapsed = time.monotonic() - start
    time.sleep(2)
    after = r.stats()
    os.kill(uas.pid, signal.SIGTERM)
    uas.wait(20)
    connected = _m(after, "connected", "b2bua") - _m(before, "connected", "b2bua")
    cpu_s = after["cpu_s"] - before["cpu_s"]
    threads_before = before.get("thread_cpu_s", {})
    by_thread = {
        name: round(1000 * (cpu - threads_before.get(name, 0.0)) / connected, 2)
        for name, cpu in after.get("thread_cpu_s", {}).items()
        if connected and cpu - threads_before.get(name, 0.0) > 0.0005
    }
    groups = _m(after, "cc_groups", "b2bua") - _m(before, "cc_groups", "b2bua")
    return {
        "offered": count, "offered_rate_per_s": rate,
        "connected": connected,
        # each call is up 3 s: subtract it from the phase to get the setup throughput
        "setups_per_s": round(connected / max(0.001, elapsed - 3.0), 1),
        "server_cpu_ms_per_call": round(1000 * cpu_s / connected, 2) if connected else None,
        # what "on one core" means when the core is shared: calls per CPU-second used
        "setups_per_cpu_second": round(connected / cpu_s, 1) if cpu_s > 0 else None,
        "server_cpu_ms_per_call_by_thread": by_thread,
        "cc_commands_per_commit": round(
            (_m(after, "cc_commands", "b2bua") - _m(before, "cc_commands", "b2bua"))
            / groups, 2) if groups else None,
        "server_cpu_share": round(cpu_s / elapsed, 2),
        "sipp": _sipp_failed(r.workdir, "setup"),
        "sip_503_loop_lag": _m(after, "overload_503", "sip") - _m(before, "overload_503", "sip"),
        "sip_503_acd_backlog": _m(after, "backlog_503", "b2bua")
        - _m(before, "backlog_503", "b2bua"),
    }


def _recordings(workdir: Path) -> dict[str, Any]:
    files = list((workdir / "recordings").rglob("*.wav"))
    return {"files": len(files),
            "bytes": sum(f.stat().st_size for f in files)}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve_for_bench(int(sys.argv[2]))
    else:
        import argparse

        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--calls", type=int, default=400)
        parser.add_argument("--rate", type=float, default=50)
        parser.add_argument("--hold", type=float, default=20)
        parser.add_argument("--setup-calls", type=int, default=2000)
        parser.add_argument("--setup-rate", type=float, default=200)
        parser.add_argument("--cpu", type=int, default=0)
        parser.add_argument("--keep", action="store_true")
        parser.add_argument("--nice", type=int, default=0)
        parser.add_argument("--no-record", action="store_true")
        parser.add_argument("--media-workers", type=int, default=0)
        ns = parser.parse_args()
        print(json.dumps(run(calls=ns.calls, rate=ns.rate, hold_s=ns.hold,
                             setup_calls=ns.setup_calls, setup_rate=ns.setup_rate, cpu=ns.cpu,
                             keep=ns.keep, nice=ns.nice, record=not ns.no_record,
                             media_workers=ns.media_workers),
                         indent=1))
