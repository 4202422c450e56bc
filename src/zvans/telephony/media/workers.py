"""Media on several cores: bridged pairs relayed and recorded by worker processes.

:class:`WorkerMediaEngine` is a :class:`MediaEngine` (same methods, same legs, so the B2BUA,
the IVR, the queue and the in-call controls do not know the difference) that hands each
*bridged pair* — two legs relayed to each other, and the call's recorder — to the least
loaded of N worker processes (:mod:`.worker`). Everything else stays in this process:
allocating ports, SDP, prompts, music on hold, announcements, voicemail, DTMF before the
bridge, conferences and supervisor monitoring.

Hand-off: once a ``bridge()`` leaves two legs relaying each other (no playback, no mixer),
the engine pauses reading their sockets here and sends the sockets, the recording's file
descriptor and the legs' state to a worker (:mod:`.handoff`). Any later operation on either
leg — ``play`` (hold music), ``unbridge``, ``join`` (conference, monitoring), ``listen``,
``answer``/``accept_answer`` (re-INVITE), ``send_dtmf``, ``stop_recording``, ``close`` —
first takes the pair back (a synchronous request, answered in well under a millisecond by
an idle worker), then runs in process exactly as without workers; when the pair is plainly
bridged again, it goes back out. RFC 4733 digits received by a worker are sent back to the
leg's ``on_dtmf``; the legs' counters come back every second (the RTP-timeout watch reads
them).

A worker that dies (or does not answer a take-back within ``REPLY_TIMEOUT``): its pairs
are taken back from the last state it reported, the recordings continue from what is on
disk (every flush leaves a valid WAV), ``on_lost`` is called with the legs (the B2BUA hangs
those calls up), the death is logged and a new worker started.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import handoff, relay
from .dtmf import DtmfDigit
from .mixer import Mixer
from .player import Playback
from .rawudp import RawDatagramTransport
from .recorder import Recorder
from .session import AudioSource, LegMode, MediaEngine, MediaLeg

log = logging.getLogger(__name__)
#: a live worker that does not answer a take-back in this long is killed (it answers in
#: well under a millisecond normally; seconds only when the machine starves it of CPU, and
#: killing it then would drop its calls, so this is generous)
REPLY_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0
#: restarts allowed per minute per slot before the slot stays empty (media then in process)
MAX_RESTARTS = 5
_requests = itertools.count(1)
_pair_ids = itertools.count(1)


class WorkerDied(Exception):
    pass


@dataclass
class _Pair:
    id: int
    a: MediaLeg
    b: MediaLeg
    recorder: Recorder | None
    worker: WorkerProcess


@dataclass
class WorkerProcess:
    """One child process and our end of its control socket."""

    slot: int
    proc: subprocess.Popen[bytes]
    control: socket.socket
    pairs: dict[int, _Pair] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    alive: bool = True
    handed_off: int = 0
    outbox: collections.deque[tuple[dict[str, Any], list[int]]] = field(
        default_factory=collections.deque)

    @property
    def pid(self) -> int:
        return self.proc.pid


def spawn_worker(slot: int, cpu: int | None = None) -> WorkerProcess:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for sock in (ours, theirs):
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, 4 * handoff.MAX_MESSAGE)
    command = [sys.executable, "-m", "zvans.telephony.media.worker", "--fd",
               str(theirs.fileno())]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    env = dict(os.environ)
    # the same zvans as ours, whatever the child's sys.path would say
    here = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.Popen(command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                env=env)
    finally:
        theirs.close()
    ours.setblocking(False)
    log.info("media worker %d started (pid %d)", slot, proc.pid)
    return WorkerProcess(slot, proc, ours)


class WorkerMediaEngine(MediaEngine):
    """A MediaEngine whose bridged pairs run in ``workers`` child processes."""

    def __init__(self, *args: Any, workers: int = 2, pin: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if workers < 1:
            raise ValueError("at least one media worker")
        self.worker_count = workers
        self.pin = pin
        self.workers: list[WorkerProcess | None] = [None] * workers
        self._restarts: dict[int, list[float]] = {}
        self._pairs: dict[int, _Pair] = {}  # by leg id
        self._pending: set[int] = set()  # leg ids with a hand-off scheduled
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.worker_deaths = 0
        self.handoffs = 0
        self.takebacks = 0

    # -- workers -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers now (otherwise with the first leg); needs the running loop."""
        self._start_workers(asyncio.get_running_loop())

    def _start_workers(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not None:
            return
        self._loop = loop
        for slot in range(self.worker_count):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        assert self._loop is not None
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        cpu = cpus[slot % len(cpus)] if self.pin and cpus else None
        worker = spawn_worker(slot, cpu)
        self.workers[slot] = worker
        self._loop.add_reader(worker.control.fileno(), self._readable, worker)

    def _readable(self, worker: WorkerProcess) -> None:
        while worker.alive:
            try:
                got = handoff.receive(worker.control)
            except BlockingIOError:
                return
            except OSError:
                got = None
            if got is None:
                self._died(worker, "control socket closed")
                return
            self._dispatch(worker, got[0])
            for fd in got[1]:
                os.close(fd)

    def _dispatch(self, worker: WorkerProcess, message: dict[str, Any]) -> None:
        event = message.get("ev")
        if event == "stats":
            worker.cpu_seconds = float(message.get("cpu", 0.0))
            for key, states in message.get("pairs", {}).items():
                pair = worker.pairs.get(int(key))
                if pair is not None:
                    handoff.import_counters(pair.a, states[0])
                    handoff.import_counters(pair.b, states[1])
        elif event == "dtmf":
            pair = worker.pairs.get(message["pair"])
            if pair is not None:
                leg = pair.a if message["side"] == 0 else pair.b
                digit = DtmfDigit(message["digit"], int(message["duration_ms"]), "rfc4733")
                assert self._loop is not None
                self._loop.call_soon(leg._digit, digit)
        elif event == "rec-error":
            pair = worker.pairs.get(message["pair"])
            if pair is not None and pair.recorder is not None:
                self.recording_errors += 1
                log.error("recording %s failed in media worker %d: %s", pair.recorder.path,
                          worker.slot, message.get("error"))
                handoff.recover_recorder(pair.recorder)
                pair.recorder.abort()
                pair.recorder = None

    def _request(self, worker: WorkerProcess, message: dict[str, Any]) -> dict[str, Any]:
        """Send and wait for the reply (other messages are handled meanwhile)."""
        req = next(_requests)
        message["req"] = req
        self._send(worker, message)
        deadline = time.monotonic() + REPLY_TIMEOUT
        poller = select.poll()
        poller.register(worker.control.fileno(), select.POLLIN)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerDied(f"no reply within {REPLY_TIMEOUT} s")
            if not poller.poll(min(left, 0.2) * 1000):
                if worker.proc.poll() is not None:
                    raise WorkerDied("exited")
                continue
            try:
                got = handoff.receive(worker.control)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise WorkerDied(str(exc)) from None
            if got is None:
                raise WorkerDied("control socket closed")
            reply, fds = got
            for fd in fds:
                os.close(fd)
            if reply.get("reply") == req:
                return reply
            self._dispatch(worker, reply)

    def _post(self, worker: WorkerProcess, message: dict[str, Any],
              fds: Sequence[int] = ()) -> None:
        """Send without blocking the loop: what the socket cannot take now waits in the
        worker's outbox (in order; descriptors are duplicated when really sent)."""
        if not worker.outbox:
            try:
                handoff.send(worker.control, message, list(fds))
                return
            except BlockingIOError:
                assert self._loop is not None
                self._loop.add_writer(worker.control.fileno(), self._writable, worker)
            except OSError as exc:
                raise WorkerDied(str(exc)) from None
        worker.outbox.append((message, list(fds)))

    def _writable(self, worker: WorkerProcess) -> None:
        try:
            while worker.outbox:
                message, fds = worker.outbox[0]
                try:
                    handoff.send(worker.control, message, fds)
                except BlockingIOError:
                    return
                worker.outbox.popleft()
        except OSError as exc:
            self._died(worker, str(exc))
            return
        assert self._loop is not None
        self._loop.remove_writer(worker.control.fileno())

    def _send(self, worker: WorkerProcess, message: dict[str, Any],
              fds: Sequence[int] = ()) -> None:
        """Send now, after whatever waits in the outbox (blocking up to REPLY_TIMEOUT)."""
        poller = select.poll()
        poller.register(worker.control.fileno(), select.POLLOUT)
        deadline = time.monotonic() + REPLY_TIMEOUT
        queue = [*worker.outbox, (message, list(fds))]
        worker.outbox.clear()
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_writer(worker.control.fileno())
        for item, item_fds in queue:
            while True:
                try:
                    handoff.send(worker.control, item, item_fds)
                    break
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0 or not poller.poll(left * 1000):
                        raise WorkerDied("control socket full") from None
                except OSError as exc:
                    raise WorkerDied(str(exc)) from None

    def _died(self, worker: WorkerProcess, why: str) -> None:
        if not worker.alive:
            return
        worker.alive = False
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(worker.control.fileno())
            with contextlib.suppress(Exception):
                self._loop.remove_writer(worker.control.fileno())
        worker.outbox.clear()
        worker.control.close()
        if self._closing and not worker.pairs:
            return  # stopping: stop_workers() waits for the exit
        with contextlib.suppress(OSError):
            worker.proc.kill()  # a worker that stopped answering is not left running
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.proc.wait(1.0)
        lost: list[MediaLeg] = []
        for pair in list(worker.pairs.values()):
            self._resume(pair, None)
            if pair.recorder is not None:
                handoff.recover_recorder(pair.recorder)
            lost += [pair.a, pair.b]
        worker.pairs.clear()
        if self.workers[worker.slot] is worker:
            self.workers[worker.slot] = None
        if self._closing:
            return
        self.worker_deaths += 1
        log.error("media worker %d (pid %d) died: %s (exit %s); %d legs taken back, "
                  "their calls end", worker.slot, worker.pid, why, worker.proc.returncode,
                  len(lost))
        now = time.monotonic()
        recent = [t for t in self._restarts.get(worker.slot, []) if now - t < 60]
        if len(recent) < MAX_RESTARTS:
            recent.append(now)
            self._restarts[worker.slot] = recent
            self._spawn(worker.slot)
        else:
            log.error("media worker %d keeps dying: its share of the calls stays in process",
                      worker.slot)
        if lost and self.on_lost is not None:
            try:
                self.on_lost(lost)
            except Exception:
                log.exception("on_lost failed")

    def sync(self) -> None:
        """Bring the legs' counters up to date from the workers now (tests, benchmarks)."""
        for worker in list(self.workers):
            if worker is not None and worker.alive:
                try:
                    self._request(worker, {"op": "stats"})
                except WorkerDied as exc:
                    self._died(worker, str(exc))

    def workers_info(self) -> list[dict[str, Any]]:
        return [{"slot": w.slot, "pid": w.pid, "pairs": len(w.pairs),
                 "cpu_seconds": round(w.cpu_seconds, 3), "handed_off": w.handed_off}
                for w in self.workers if w is not None]

    # -- hand-off ------------------------------------------------------------------------
    def _schedule(self, leg: MediaLeg) -> None:
        """Hand the leg's pair off after the current call stack (callers often set
        ``relay_tx`` right after ``bridge``/``stop``)."""
        if self._loop is None or leg.id in self._pending or leg.id in self._pairs:
            return
        self._pending.add(leg.id)
        self._loop.call_soon(self._try_handoff, leg)

    def _eligible(self, a: MediaLeg) -> bool:
        b = a.peer
        if not isinstance(b, MediaLeg) or b.peer is not a:
            return False
        for leg in (a, b):
            if (leg.is_closed or leg.playback is not None or leg.mixer is not None
                    or leg.mode is not LegMode.RELAY
                    or not isinstance(leg.transport, RawDatagramTransport)
                    or leg.id in self._pairs or leg.own_busy is not None):
                return False
        return a.recorder is b.recorder  # a listen/voicemail recorder on one side: keep here

    def _try_handoff(self, leg: MediaLeg) -> None:
        self._pending.discard(leg.id)
        if self._closing or not self._eligible(leg):
            return
        live = [w for w in self.workers if w is not None and w.alive]
        if not live:
            return
        worker = min(live, key=lambda w: len(w.pairs))
        b = leg.peer
        assert isinstance(b, MediaLeg)
        a = leg
        if a.tap_channel != 0 and b.tap_channel == 0:
            a, b = b, a  # keep the recording's left/right
        recorder = a.recorder
        pair = _Pair(next(_pair_ids), a, b, recorder, worker)
        socks = []
        for one in (a, b):
            assert isinstance(one.transport, RawDatagramTransport)
            one.transport.pause_reading()
            socks.append(one.transport.get_extra_info("socket").fileno())
        fds = list(socks)
        message: dict[str, Any] = {"op": "take", "pair": pair.id,
                                   "legs": [handoff.export_leg(a), handoff.export_leg(b)],
                                   "rec": None, "continuity": self.continuity}
        if recorder is not None:
            self.flush_recordings([recorder])  # what is older than the margin: keeps it small
            if not recorder.closed:  # (a write error aborts it: then the call goes unrecorded)
                message["rec"] = handoff.export_recorder(recorder)
                fds.append(recorder._fd)
        try:
            self._post(worker, message, fds)
        except (WorkerDied, ValueError) as exc:
            for one in (a, b):
                if isinstance(one.transport, RawDatagramTransport):
                    one.transport.resume_reading()
            if isinstance(exc, WorkerDied):
                self._died(worker, str(exc))
            else:
                log.warning("pair %d stays in process: %s", pair.id, exc)
            return
        if recorder is not None:
            self.recorders.discard(recorder)  # the worker flushes it now
        worker.pairs[pair.id] = pair
        self._pairs[a.id] = self._pairs[b.id] = pair
        worker.handed_off += 1
        self.handoffs += 1

    def _take_back(self, *legs: MediaLeg | None) -> None:
        """Bring the pairs of ``legs`` back into this process (no-op for local legs)."""
        for leg in legs:
            if leg is None:
                continue
            pair = self._pairs.get(leg.id)
            if pair is None:
                continue
            worker = pair.worker
            try:
                reply = self._request(worker, {"op": "give", "pair": pair.id})
            except WorkerDied as exc:
                self._died(worker, str(exc))  # resumes the pair from the last stats
                continue
            worker.pairs.pop(pair.id, None)
            state: dict[str, Any] | None = reply
            if reply.get("error"):
                log.error("media worker %d could not give pair %d back (%s): continuing from "
                          "the last counters and the recording on disk", worker.slot, pair.id,
                          reply["error"])
                if pair.recorder is not None:
                    handoff.recover_recorder(pair.recorder)
                state = None
            self._resume(pair, state)
            self.takebacks += 1

    def _resume(self, pair: _Pair, reply: dict[str, Any] | None) -> None:
        self._pairs.pop(pair.a.id, None)
        self._pairs.pop(pair.b.id, None)
        if reply is not None and reply.get("legs"):
            handoff.import_leg(pair.a, reply["legs"][0])
            handoff.import_leg(pair.b, reply["legs"][1])
        if reply is not None and reply.get("rec") and pair.recorder is not None:
            handoff.import_recorder(pair.recorder, reply["rec"])
        if pair.recorder is not None and not pair.recorder.closed:
            self.recorders.add(pair.recorder)
        if pair.a.peer is pair.b and pair.b.peer is pair.a:
            relay.connect(pair.a, pair.b, self.continuity)  # fresh rewriting offsets
        for leg in (pair.a, pair.b):
            if isinstance(leg.transport, RawDatagramTransport) and not leg.is_closed:
                leg.transport.resume_reading()

    # -- MediaEngine, with take-back / hand-off around it ------------------------------
    async def _open(self, loop: asyncio.AbstractEventLoop, leg: MediaLeg,
                    sock: socket.socket) -> None:
        # a transport that can stop reading on any loop (uvloop's UDP one cannot)
        RawDatagramTransport(loop, sock, leg).start()

    async def allocate_leg(self) -> MediaLeg:
        self._start_workers(asyncio.get_running_loop())
        return await super().allocate_leg()

    def start_recording(self, path: str | os.PathLike[str], channels: int = 2) -> Recorder:
        self._start_workers(asyncio.get_running_loop())
        return super().start_recording(path, channels)

    def answer(self, leg: MediaLeg, offer_sdp: str | bytes) -> str:
        self._take_back(leg)
        text = super().answer(leg, offer_sdp)
        self._schedule(leg)
        return text

    def accept_answer(self, leg: MediaLeg, answer_sdp: str | bytes) -> Any:
        self._take_back(leg)
        negotiated = super().accept_answer(leg, answer_sdp)
        self._schedule(leg)
        return negotiated

    def bridge(self, a: MediaLeg, b: MediaLeg, recorder: Recorder | None = None) -> None:
        self._take_back(a, b, a.peer if isinstance(a.peer, MediaLeg) else None,
                        b.peer if isinstance(b.peer, MediaLeg) else None)
        super().bridge(a, b, recorder)
        self._schedule(a)

    def unbridge(self, leg: MediaLeg) -> None:
        self._take_back(leg)
        super().unbridge(leg)

    def stop_recording(self, recorder: Recorder) -> float:
        for pair in list(self._pairs.values()):
            if pair.recorder is recorder:
                self._take_back(pair.a)
        return super().stop_recording(recorder)

    def play(self, leg: MediaLeg, source: AudioSource, loop: bool = False,
             start: float = 0.0) -> Playback:
        self._take_back(leg)
        return super().play(leg, source, loop, start)

    def _playback_ended(self, leg: MediaLeg, playback: Playback) -> None:
        super()._playback_ended(leg, playback)
        if leg.peer is not None:
            self._schedule(leg)

    def stop(self, leg: MediaLeg) -> None:
        super().stop(leg)
        if leg.peer is not None:
            self._schedule(leg)

    def listen(self, leg: MediaLeg, recorder: Recorder | None = None) -> None:
        self._take_back(leg)
        super().listen(leg, recorder)

    def inband_dtmf(self, leg: MediaLeg, enabled: bool | None) -> None:
        self._take_back(leg)
        super().inband_dtmf(leg, enabled)

    def join(self, mixer: Mixer, leg: MediaLeg) -> None:
        self._take_back(leg)
        super().join(mixer, leg)

    async def send_dtmf(self, leg: MediaLeg, digits: str, duration_ms: int = 160,
                        gap_ms: int = 80) -> None:
        self._take_back(leg)
        try:
            await super().send_dtmf(leg, digits, duration_ms, gap_ms)
        finally:
            if leg.peer is not None:
                self._schedule(leg)

    def close(self, leg: MediaLeg) -> dict[str, int]:
        self._take_back(leg)
        return super().close(leg)

    async def aclose(self) -> None:
        self._closing = True
        for pair in list(self._pairs.values()):
            self._take_back(pair.a)
        await super().aclose()
        await self.stop_workers()

    async def stop_workers(self) -> None:
        self._closing = True
        for worker in self.workers:
            if worker is None or not worker.alive:
                continue
            with contextlib.suppress(WorkerDied):
                self._send(worker, {"op": "stop"})
        loop = asyncio.get_running_loop()
        for slot, worker in enumerate(self.workers):
            if worker is None:
                continue
            try:
                await loop.run_in_executor(None, worker.proc.wait, STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("media worker %d did not stop: killed", slot)
                worker.proc.kill()
                await loop.run_in_executor(None, worker.proc.wait)
            if worker.alive:
                worker.alive = False
                with contextlib.suppress(Exception):
                    loop.remove_reader(worker.control.fileno())
                worker.control.close()
            self.workers[slot] = None

    def counters(self) -> dict[str, Any]:
        counters = super().counters()
        counters["recordings"] += sum(1 for w in self.workers if w is not None
                                      for p in w.pairs.values() if p.recorder is not None)
        counters["media_workers"] = self.workers_info()
        counters["media_worker_deaths"] = self.worker_deaths
        counters["handed_off_legs"] = 2 * sum(len(w.pairs) for w in self.workers
                                              if w is not None)
        return counters
