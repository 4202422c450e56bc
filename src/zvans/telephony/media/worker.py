"""A media worker process: relays and records the bridged pairs the B2BUA hands it.

Started by :class:`zvans.telephony.media.workers.WorkerPool` as
``python -m zvans.telephony.media.worker --fd N`` with one end of a ``SOCK_SEQPACKET``
socket pair. Messages (JSON, descriptors as SCM_RIGHTS, see :mod:`.handoff`):

B2BUA → worker
  ``{"op": "take", "pair": n, "legs": [a, b], "rec": state|null, "continuity": bool}``
  with the two RTP sockets (and the recording's file) attached: relay a ↔ b, record.
  ``{"op": "give", "pair": n, "req": r}``: stop reading the pair, reply with its state.
  ``{"op": "stats", "req": r}``: send the stats now, then ``{"reply": r}``.
  ``{"op": "stop"}``: exit (the B2BUA has taken every pair back first).

worker → B2BUA
  ``{"reply": r, "legs": [...], "rec": ...}``: answer to ``give``.
  ``{"ev": "dtmf", "pair": n, "side": 0|1, "digit": "5", "duration_ms": 160}``.
  ``{"ev": "stats", "pairs": {n: [a, b]}, "cpu": seconds, "pid": p}``: every second, in
  chunks, so the B2BUA's RTP-timeout watch and counters see the worker's packets.
  ``{"ev": "rec-error", "pair": n, "error": text}``: writing the recording failed.

The worker exits when told to or when the control socket closes (the B2BUA is gone); it
ignores SIGINT and SIGTERM, which a terminal or a service manager sends to the whole group.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import os
import resource
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from . import handoff, relay
from .dtmf import DtmfDigit, DtmfReceiver
from .rawudp import RawDatagramTransport
from .recorder import Recorder

log = logging.getLogger("zvans.telephony.media.worker")
STATS_EVERY = 1.0
STATS_CHUNK = 250  # pairs per stats message (~70 kB, under the datagram limit)
FLUSH_INTERVAL = 0.5
FLUSH_TICK = 0.02
CONTROL_EVERY = 0.005


@dataclass
class _Pair:
    id: int
    legs: list[relay.RtpEndpoint]
    recorder: Recorder | None = None
    transports: list[RawDatagramTransport] = field(default_factory=list)


class Worker:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.pairs: dict[int, _Pair] = {}
        self.done = asyncio.Event()
        self.outbox: collections.deque[dict[str, Any]] = collections.deque()
        self._checked = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.control.setblocking(False)
        loop.add_reader(self.control.fileno(), self._readable)
        tasks = [loop.create_task(self._stats_loop()), loop.create_task(self._flush_loop())]
        try:
            await self.done.wait()
        finally:
            with contextlib.suppress(Exception):
                loop.remove_reader(self.control.fileno())
            for task in tasks:
                task.cancel()
            for pair in list(self.pairs.values()):
                self._release(pair)
            await asyncio.sleep(0)

    def _between_batches(self) -> None:
        """Called before each RTP read batch: every CONTROL_EVERY seconds, serve the control
        socket first. A worker starved of CPU may take a second per loop iteration over its
        sockets; the B2BUA waiting for a take-back should not wait for all of them."""
        now = time.monotonic()
        if now - self._checked >= CONTROL_EVERY:
            self._checked = now
            self._readable()

    def _readable(self) -> None:
        """Handle every waiting control message, in order, synchronously."""
        while not self.done.is_set():
            try:
                got = handoff.receive(self.control)
            except BlockingIOError:
                return
            except OSError:
                got = None
            if got is None:
                self.done.set()  # the B2BUA is gone
                return
            message, fds = got
            try:
                if not self._handle(message, fds):
                    self.done.set()
            except Exception:
                log.exception("media worker: %s failed", message.get("op"))
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _send(self, message: dict[str, Any], droppable: bool = False) -> None:
        """Never blocks: the B2BUA may be busy, and the socket holds only a few messages
        (``net.unix.max_dgram_qlen``). Counters (``droppable``) are skipped when it is
        full — the next ones follow in a second; replies and digits wait in an outbox."""
        if self.outbox:
            if not droppable:
                self.outbox.append(message)
            return
        try:
            handoff.send(self.control, message)
        except BlockingIOError:
            if not droppable:
                self.outbox.append(message)
                asyncio.get_running_loop().add_writer(self.control.fileno(), self._flush)
        except OSError:
            pass  # the B2BUA is gone: the reader sees the end of stream

    def _flush(self) -> None:
        while self.outbox:
            try:
                handoff.send(self.control, self.outbox[0])
            except BlockingIOError:
                return
            except OSError:
                self.outbox.clear()
                break
            self.outbox.popleft()
        asyncio.get_running_loop().remove_writer(self.control.fileno())

    def _handle(self, message: dict[str, Any], fds: list[int]) -> bool:
        op = message.get("op")
        if op == "take":
            self._take(message, fds)
        elif op == "give":
            pair = self.pairs.pop(message["pair"], None)
            reply: dict[str, Any] = {"reply": message["req"], "legs": None, "rec": None}
            try:
                if pair is not None:
                    recorder = pair.recorder
                    if recorder is not None and not recorder.closed:
                        with contextlib.suppress(OSError):  # the B2BUA sees the file as is
                            recorder.flush()
                        reply["rec"] = handoff.export_recorder(recorder)
                    self._release(pair)  # synchronous: no packet lands in between
                    reply["legs"] = [handoff.export_leg(leg) for leg in pair.legs]
                self._send(reply)
            except Exception as exc:
                # whatever went wrong, answer: the B2BUA continues from the file on disk
                log.exception("media worker: giving pair %s back failed", message["pair"])
                self._send({"reply": message["req"], "error": str(exc)})
        elif op == "stats":
            self._send_stats(droppable=False)  # asked for: all of them, before the reply
            self._send({"reply": message["req"]})
        elif op == "stop":
            return False
        return True

    def _take(self, message: dict[str, Any], fds: list[int]) -> None:
        loop = asyncio.get_running_loop()
        pair_id = message["pair"]
        legs = []
        for side, state in enumerate(message["legs"]):
            leg = relay.RtpEndpoint(state["port"])
            handoff.import_leg(leg, state)
            leg.dtmf = DtmfReceiver(self._dtmf_callback(pair_id, side))
            legs.append(leg)
        pair = _Pair(pair_id, legs)
        if message.get("rec") is not None:
            pair.recorder = handoff.recorder_from(message["rec"], fds[2], time.monotonic)
        relay.connect(legs[0], legs[1], bool(message.get("continuity", True)))
        if pair.recorder is not None:
            for channel, leg in enumerate(legs):
                leg.tap = pair.recorder.feed
                leg.tap_channel = channel
        # both legs are wired before either socket is read: a packet waiting in one socket
        # must find its peer's socket ready to send
        transports = [RawDatagramTransport(loop, socket.socket(fileno=fd), leg,
                                           self._between_batches)
                      for leg, fd in zip(legs, fds[:2], strict=True)]
        for transport in transports:
            transport.start(reading=False)
        for transport in transports:
            transport.resume_reading()
        pair.transports = transports
        self.pairs[pair_id] = pair

    def _dtmf_callback(self, pair_id: int, side: int) -> Any:
        def report(digit: DtmfDigit) -> None:
            self._send({"ev": "dtmf", "pair": pair_id, "side": side, "digit": digit.digit,
                        "duration_ms": digit.duration_ms})
        return report

    def _release(self, pair: _Pair) -> None:
        """Stop reading the pair and close our copies of its descriptors (the B2BUA keeps
        its own, so the ports stay bound); the recorder is *not* finalised."""
        for transport in pair.transports:
            transport.close()  # our copy of the socket; connection_lost is harmless here
        pair.transports.clear()
        for leg in pair.legs:
            leg.transport = None
        if pair.recorder is not None:
            with contextlib.suppress(OSError):
                os.close(pair.recorder._fd)
            pair.recorder.closed = True  # our copy only; the state goes back to the B2BUA

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY)
            self._send_stats()

    def _send_stats(self, droppable: bool = True) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        items = list(self.pairs.items())
        chunks = [items[i:i + STATS_CHUNK] for i in range(0, len(items), STATS_CHUNK)] or [[]]
        for chunk in chunks:
            self._send({"ev": "stats", "cpu": cpu, "pid": os.getpid(), "count": len(items),
                        "pairs": {str(n): [handoff.export_counters(leg) for leg in pair.legs]
                                  for n, pair in chunk}}, droppable=droppable)

    async def _flush_loop(self) -> None:
        """Flush every recording once per FLUSH_INTERVAL, a slice per tick (as the engine)."""
        slices = max(1, round(FLUSH_INTERVAL / FLUSH_TICK))
        turn = 0
        while True:
            await asyncio.sleep(FLUSH_INTERVAL / slices)
            pairs = list(self.pairs.values())[turn::slices]
            turn = (turn + 1) % slices
            for pair in pairs:
                recorder = pair.recorder
                if recorder is None or recorder.closed:
                    continue
                try:
                    recorder.flush()
                except OSError as exc:
                    recorder.abort()
                    pair.recorder = None
                    for leg in pair.legs:
                        leg.tap = None
                    self._send({"ev": "rec-error", "pair": pair.id, "error": str(exc)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Zvans media worker (started by zvans serve)")
    parser.add_argument("--fd", type=int, required=True, help="control socket descriptor")
    parser.add_argument("--cpu", type=int, default=-1, help="core to pin to (-1: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="media-worker %(process)d: %(levelname)s %(message)s")
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {args.cpu})
    # Ctrl+C in a terminal, or a service manager's SIGTERM to the whole group, reaches us
    # too: the B2BUA takes its calls back and stops us itself; we also exit when it is gone
    # (end of the control socket)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    control = socket.socket(fileno=args.fd)
    try:
        import uvloop
    except ImportError:
        asyncio.run(Worker(control).run())
    else:
        uvloop.run(Worker(control).run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
