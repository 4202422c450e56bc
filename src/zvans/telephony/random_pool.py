"""Cryptographically random bytes from the OS, fetched 4 KiB at a time.

One ``getrandom`` syscall per few hundred draws instead of one per tag, Call-ID, branch,
CSeq and RTP stream identity (about 20 per B2BUA call; the syscall cost 10-250 µs each on
a loaded VM). The bytes are the OS's own (``secrets``): values meant to be unguessable
(tags, branches, RTP SSRC/sequence/timestamp origins, RFC 3550 §5.1) stay unguessable. A
forked child refills its own buffer rather than repeat its parent's bytes.
"""

from __future__ import annotations

import os
import secrets
import threading


class RandomPool:
    SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = b""
        self._pos = 0
        self._pid = 0

    def take(self, nbytes: int) -> bytes:
        with self._lock:
            if self._pos + nbytes > len(self._buf) or self._pid != os.getpid():
                self._buf, self._pos, self._pid = secrets.token_bytes(self.SIZE), 0, os.getpid()
            start = self._pos
            self._pos += nbytes
            return self._buf[start:self._pos]

    def hex(self, nbytes: int) -> str:
        return self.take(nbytes).hex()

    def int(self, nbytes: int) -> int:
        """A random integer of ``nbytes`` bytes: 0 ≤ n < 256**nbytes."""
        return int.from_bytes(self.take(nbytes), "big")


pool = RandomPool()
random_hex = pool.hex
random_int = pool.int
