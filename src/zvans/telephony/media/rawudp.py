"""A datagram transport on ``loop.add_reader``: pausable on any event loop.

Media workers (:mod:`.workers`) hand a leg's socket to another process and must stop
reading it here without closing it. uvloop's UDP transport cannot pause reading, and
asyncio's is fine but private in how it reads; this one is a few lines on the public
``add_reader`` API, which both loops implement. It reads what is waiting in bounded
batches (one busy socket cannot starve the others) and drops a packet the kernel will not
take (``EAGAIN``) rather than buffering it: late RTP is worthless.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any


class RawDatagramTransport(asyncio.DatagramTransport):
    BATCH = 32

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol: asyncio.DatagramProtocol,
                 before_read: Callable[[], None] | None = None) -> None:
        super().__init__({"socket": sock})
        self._before_read = before_read
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._reading = False
        self._closed = False
        sock.setblocking(False)

    def start(self, reading: bool = True) -> None:
        """Tell the protocol it is connected, then start reading (unless told not to)."""
        self._protocol.connection_made(self)
        if reading:
            self.resume_reading()

    # -- reading ---------------------------------------------------------------------------
    def _read(self) -> None:
        if self._before_read is not None:
            self._before_read()  # may close us (a media worker giving the pair back)
            if not self._reading:
                return
        receive = self._sock.recvfrom
        handle = self._protocol.datagram_received
        for _ in range(self.BATCH):
            try:
                data, addr = receive(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error reported on the socket
                self._protocol.error_received(exc)
                continue
            handle(data, addr)

    def pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closed:
            self._reading = True
            self._loop.add_reader(self._fd, self._read)

    def is_reading(self) -> bool:
        return self._reading

    # -- writing ---------------------------------------------------------------------------
    def sendto(self, data: Any, addr: Any = None) -> None:
        with contextlib.suppress(OSError):  # full buffer, unreachable peer: dropped
            self._sock.sendto(data, addr)

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        self.close()

    # -- closing ---------------------------------------------------------------------------
    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self.pause_reading()
        self._closed = True
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, None)
