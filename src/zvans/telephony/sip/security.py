"""Toll-fraud and abuse protection: who may dial what, per-source rate limits, overload.

Policy, as in a locked-down Asterisk (``allowguest=no``, ``alwaysauthreject=yes``):
an INVITE is allowed when it is addressed to one of our DIDs (anyone may call the contact
center), or when it comes from an authenticated local user.  Everything else is a 403
and a log line — the classic attack is an anonymous INVITE to ``00...`` numbers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection

log = logging.getLogger(__name__)


def normalise_number(number: str) -> str:
    """Digits only, keeping a leading ``+``: ``+371 6000-0000`` -> ``+37160000000``."""
    number = number.strip()
    plus = number.startswith("+")
    digits = "".join(c for c in number if c.isdigit())
    return f"+{digits}" if plus else digits


_memo: tuple[object, frozenset[str]] = (None, frozenset())


def _normalised(dids: Collection[str]) -> frozenset[str]:
    """The DIDs in normal form, recomputed only when the app swaps in a new collection
    (checked per INVITE, so a large DID list must not be normalised each time)."""
    global _memo
    source, normal = _memo
    if source is not dids:
        normal = frozenset(normalise_number(d) or d for d in dids)
        if isinstance(dids, frozenset):  # immutable: safe to remember by identity
            _memo = (dids, normal)
    return normal


def is_authorised_to_dial(
    number: str,
    *,
    dids: Collection[str],
    authenticated_user: str | None,
    allowed_prefixes: Collection[str] | None = None,
) -> bool:
    """May this caller start a call to ``number``?

    - a configured DID: yes, anyone (inbound calls to the contact center);
    - otherwise only an authenticated user, and if ``allowed_prefixes`` is given only to
      numbers starting with one of them (e.g. national numbers, no premium ranges).
    """
    wanted = normalise_number(number) or number
    if wanted in _normalised(dids):
        return True
    if authenticated_user is None:
        return False
    if allowed_prefixes is None:
        return True
    return any(wanted.startswith(normalise_number(p) or p) for p in allowed_prefixes)


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    __slots__ = ("burst", "clock", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.stamp = clock()

    def take(self, cost: float = 1.0) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


class RateLimiter:
    """One token bucket per source IP, with an LRU cap so a spoofing flood cannot grow it."""

    def __init__(
        self,
        rate: float = 50.0,
        burst: float = 100.0,
        *,
        max_sources: int = 10_000,
        exempt: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_sources = max_sources
        self.clock = clock
        self.exempt = IpAllowList(exempt)
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.refused = 0

    def allow(self, source_ip: str) -> bool:
        if self.exempt.contains(source_ip):
            return True
        bucket = self._buckets.get(source_ip)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self.clock)
            self._buckets[source_ip] = bucket
            while len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source_ip)
        if bucket.take():
            return True
        self.refused += 1
        return False


class IpAllowList:
    """Addresses and networks (``192.0.2.10``, ``198.51.100.0/24``)."""

    def __init__(self, entries: Collection[str] = ()) -> None:
        self.networks = [ipaddress.ip_network(e, strict=False) for e in entries]

    def contains(self, host: str) -> bool:
        if not self.networks:
            return False
        try:
            addr = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return any(addr in net for net in self.networks)


class LagMonitor:
    """Measures event-loop lag: how late a periodic ``call_later`` tick fires.

    ``lag()`` — the worst lag seen over the last ``window`` seconds — is the probe
    :class:`SipStack` consults to answer 503 + Retry-After when the loop is overloaded,
    instead of accepting calls it cannot serve.
    """

    def __init__(self, interval: float = 0.1, window: float = 2.0) -> None:
        self.interval = interval
        self.window = window
        self.current = 0.0
        self._samples: deque[tuple[float, float]] = deque()
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        expected = loop.time() + self.interval

        def tick() -> None:
            nonlocal expected
            now = loop.time()
            self.current = max(0.0, now - expected)
            self._samples.append((now, self.current))
            while self._samples and self._samples[0][0] < now - self.window:
                self._samples.popleft()
            expected = now + self.interval
            self._handle = loop.call_later(self.interval, tick)

        self._handle = loop.call_later(self.interval, tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def lag(self) -> float:
        if self._loop is None or not self._samples:
            return self.current
        horizon = self._loop.time() - self.window
        return max((lag for t, lag in self._samples if t >= horizon), default=0.0)
