"""The buffered OS randomness behind tags, branches, CSeq and RTP stream identities."""

from __future__ import annotations

import os

from zvans.telephony.random_pool import RandomPool


def test_draws_do_not_repeat_across_refills() -> None:
    pool = RandomPool()
    draws = [pool.take(8) for _ in range(RandomPool.SIZE // 8 * 3)]  # three buffers' worth
    assert len(set(draws)) == len(draws)
    assert all(len(d) == 8 for d in draws)
    assert len(pool.hex(6)) == 12
    values = [pool.int(2) for _ in range(2000)]
    assert all(0 <= v < 65536 for v in values) and len(set(values)) > 1500


def test_a_forked_child_does_not_repeat_its_parents_bytes() -> None:
    pool = RandomPool()
    pool.take(1)  # the buffer is filled before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, pool.take(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16 and child != pool.take(16)
