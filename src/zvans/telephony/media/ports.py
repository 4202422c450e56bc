"""RTP port allocation over a configured range of even ports.

The allocator hands out *bound sockets*, not numbers: binding is the only reliable test that
a port is free (another process, or a socket of ours whose close has not completed yet, may
still hold it), and handing over the bound socket leaves no window for someone else to take
the port between the check and the use.

SO_REUSEADDR is deliberately *not* set: on Linux it lets two UDP sockets bind the same port,
which would make "never hand out a port still bound" impossible to guarantee. UDP has no
TIME_WAIT, so a port whose socket is really closed can be bound again at once without it.
A port is only returned to the pool when its transport reports the socket closed.
"""

from __future__ import annotations

import errno
import socket

from .errors import PortsExhausted


class PortAllocator:
    def __init__(self, host: str = "127.0.0.1", start: int = 20000, end: int = 30000) -> None:
        if start % 2:
            start += 1
        if end <= start + 1:
            raise ValueError(f"RTP port range {start}-{end} holds no even port")
        self.host = host
        self.start = start
        self.end = end
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._next = start
        self._in_use: set[int] = set()
        self.bind_failures = 0

    @property
    def capacity(self) -> int:
        return (self.end - self.start + 1) // 2

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocate(self) -> socket.socket:
        """A non-blocking UDP socket bound to the next free even port of the range."""
        for _ in range(self.capacity):
            port = self._next
            self._next = port + 2 if port + 2 <= self.end else self.start
            if port in self._in_use:
                continue
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            try:
                sock.bind((self.host, port))
            except OSError as exc:
                sock.close()
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    self.bind_failures += 1
                    continue
                raise
            sock.setblocking(False)
            self._in_use.add(port)
            return sock
        raise PortsExhausted(
            f"no free RTP port in {self.start}-{self.end} ({self.in_use} in use here)",
            start=self.start, end=self.end,
        )

    def release(self, port: int) -> None:
        """Give a port back; call only once its socket is closed."""
        self._in_use.discard(port)
