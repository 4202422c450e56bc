"""Starts telephony inside ``zvans serve``: SIP stack, registrar, media engine and B2BUA.

``start(z)`` binds SIP (UDP and TCP) on ``settings.sip_host:sip_port`` and RTP in
``rtp_port_min..rtp_port_max``, authenticates agents' phones against the HA1 values in
``agent_profile`` (realm ``settings.sip_domain``), accepts unauthenticated calls only to the
numbers in the ``did`` table (re-read every few seconds and on every call), and hands the
ACD's decisions to the B2BUA. It returns the coroutine that stops it all.

Registrations live in memory (as in Asterisk); the service writes them to
``data_dir/sip-registrations.json`` whenever they change, which is what
``zvans sip registrations`` reads from another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zvans.app import Zvans
from zvans.runtime import attach
from zvans.telephony.b2bua import B2bua, B2buaConfig
from zvans.telephony.controls import install as install_controls
from zvans.telephony.directory import Directory
from zvans.telephony.features import attach_features, features_of
from zvans.telephony.media import MediaEngine
from zvans.telephony.media.workers import WorkerMediaEngine
from zvans.telephony.outbound import parse_trunk
from zvans.telephony.retention import purge_recordings
from zvans.telephony.sip import (
    Credentials,
    DigestServer,
    LagMonitor,
    Peer,
    RateLimiter,
    Registrar,
    Request,
    Response,
    SipStack,
    StackConfig,
)

log = logging.getLogger(__name__)

REGISTRATIONS_FILE = "sip-registrations.json"
DID_REFRESH_S = 5.0
RETENTION_EVERY_S = 3600.0

Stop = Callable[[], Awaitable[None]]


class _Registrar(Registrar):
    """The registrar, telling the service when a binding changed."""

    on_change: Callable[[], None] | None = None

    async def handle(self, request: Request, peer: Peer) -> Response:
        response = await super().handle(request, peer)
        if self.on_change is not None and 200 <= response.status < 300:
            self.on_change()
        return response


def registrations_path(data_dir: Path) -> Path:
    return data_dir / REGISTRATIONS_FILE


def write_registrations(registrar: Registrar, path: Path) -> None:
    now = time.time()
    rows = [
        {"user": b.aor, "contact": str(b.contact.uri), "source": str(b.source),
         "transport": b.source.transport, "expires_in": b.expires_in(now),
         "expires_at": round(b.expires_at), "user_agent": b.user_agent or ""}
        for b in sorted(registrar.bindings(), key=lambda b: (b.aor, -b.expires_at))
    ]
    data = {"pid": os.getpid(), "written_at": round(now), "registrations": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    os.replace(tmp, path)


def read_registrations(data_dir: Path) -> dict[str, Any] | None:
    """What the running server last wrote, live rows only; None if it never ran."""
    path = registrations_path(data_dir)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    now = time.time()
    rows = [r for r in data.get("registrations", []) if r.get("expires_at", 0) > now]
    for row in rows:
        row["expires_in"] = round(row["expires_at"] - now)
    data["registrations"] = rows
    try:
        os.kill(int(data.get("pid", 0)), 0)
        data["server_running"] = True
    except (OSError, ValueError):
        data["server_running"] = False
    return data


class _Digest(DigestServer):
    """Verifies MD5 and SHA-256 answers but challenges with ``offered`` algorithms only.

    baresip 1.0's libre (Debian's softphone, as many desk phones) fails the whole
    registration with ENOSYS when one of the challenges names an algorithm it does not
    know, instead of skipping it (measured here), so by default only MD5 is offered, as
    Asterisk does. ``offered=("SHA-256", "MD5")`` restores RFC 8760's preference order."""

    def __init__(self, realm: str, offered: tuple[str, ...] = ("MD5",)) -> None:
        super().__init__(realm, algorithms=("SHA-256", "MD5"))
        self.offered = offered

    def challenges(self, *, stale: bool = False) -> list[str]:
        return [c for c in super().challenges(stale=stale)
                if any(f"algorithm={a}," in c for a in self.offered)]


@dataclass
class Telephony:
    """The running parts, for the starter's stop, the bench and the tests."""

    stack: SipStack
    media: MediaEngine
    b2bua: B2bua
    registrar: Registrar
    lag: LagMonitor
    refresher: asyncio.Task[None] | None = None
    retention: asyncio.Task[None] | None = None

    @property
    def sip_port(self) -> int:
        return self.stack.port("UDP")

    async def stop(self) -> None:
        for task in (self.refresher, self.retention):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        features = features_of(self.b2bua)
        if features is not None:
            await features.stop()
        await self.b2bua.close()
        await self.media.aclose()
        await self.stack.stop()
        self.lag.stop()


async def start_telephony(z: Zvans, *, offered: tuple[str, ...] = ("MD5",),
                          trusted_sources: tuple[str, ...] = (),
                          **overrides: Any) -> Telephony:
    """Build and start everything; the result is also ``z.services['sip']``.

    ``trusted_sources`` are operator SBCs (addresses or networks): they may call DIDs
    without authentication like anyone, and are exempt from the per-source request rate
    limit, which a trunk carrying a whole contact center's calls would otherwise hit."""
    settings = z.settings
    cc = attach(z)
    directory = Directory(z)
    realm = settings.sip_domain

    async def lookup(username: str) -> Credentials | None:
        return await asyncio.to_thread(directory.credentials, username)

    digest = _Digest(realm, offered=offered)
    registrar = _Registrar(digest, lookup)
    lag = LagMonitor()
    lag.start()
    dids = await asyncio.to_thread(directory.dids)
    stack = SipStack(
        StackConfig(host=settings.sip_host, udp_port=settings.sip_port,
                    tcp_port=settings.sip_port, realm=realm, dids=dids,
                    contact_user="zvans", user_agent="Zvans", trusted_sources=trusted_sources),
        registrar=registrar, lag_probe=lag.lag,
    )
    if trusted_sources:
        stack.rate_limiter = RateLimiter(stack.config.rate, stack.config.burst,
                                         exempt=trusted_sources)
    await stack.start()
    if settings.media_workers:
        workers = WorkerMediaEngine(
            host=settings.sip_host, port_start=settings.rtp_port_min,
            port_end=settings.rtp_port_max, workers=settings.media_workers)
        workers.start()  # bridged calls are relayed and recorded there (media/workers.py)
        media: MediaEngine = workers
    else:
        media = MediaEngine(host=settings.sip_host, port_start=settings.rtp_port_min,
                            port_end=settings.rtp_port_max)
    if "trunk" not in overrides and settings.outbound_trunk:  # issue 7: outbound route
        overrides["trunk"] = parse_trunk(settings.outbound_trunk)
    config = B2buaConfig(domain=realm, data_dir=settings.data_dir, **overrides)
    b2bua = B2bua(stack, media, cc, directory, config, registrar=registrar)
    b2bua.install()
    features = attach_features(b2bua)  # callbacks, rating, PIN, click-to-call
    await features.start()
    z.services["telephony"] = features.outbound
    install_controls(z, b2bua)  # hold, transfer, conference, monitoring (controls.py)
    path = registrations_path(settings.data_dir)

    def save() -> None:
        try:
            write_registrations(registrar, path)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)

    pending_save: list[asyncio.TimerHandle] = []

    def save_soon() -> None:
        """A burst of REGISTERs (phones re-registering) writes the file once a second."""
        if not pending_save or pending_save[0].cancelled():
            pending_save[:] = [asyncio.get_running_loop().call_later(1.0, saved)]

    def saved() -> None:
        pending_save.clear()
        save()

    registrar.on_change = save_soon
    save()

    async def refresh() -> None:
        last_rows = -1
        while True:
            await asyncio.sleep(DID_REFRESH_S)
            try:
                stack.config.dids = await asyncio.to_thread(directory.dids)
            except Exception as exc:
                log.warning("cannot refresh DIDs: %s", exc)
            rows = len(registrar.bindings())  # also drops expired bindings
            if rows != last_rows:
                save()
                last_rows = rows

    async def retention() -> None:
        while True:
            try:
                await asyncio.to_thread(purge_recordings, z)
            except Exception:
                log.exception("recording retention failed")
            await asyncio.sleep(RETENTION_EVERY_S)

    telephony = Telephony(stack, media, b2bua, registrar, lag)
    telephony.retention = asyncio.get_running_loop().create_task(retention(),
                                                                 name="zvans-retention")
    telephony.refresher = asyncio.get_running_loop().create_task(refresh(),
                                                                 name="zvans-sip-refresh")
    z.services["sip"] = telephony
    log.info("SIP listening on %s (UDP/TCP), realm %s, RTP %d-%d, %d DIDs",
             stack.addresses.get("UDP"), realm, settings.rtp_port_min, settings.rtp_port_max,
             len(dids))
    return telephony


def _ensure_logging(level: str) -> None:
    """`zvans serve` configures no logging for our loggers: SIP refusals (toll fraud,
    bad passwords) must reach the operator's log, so give ``zvans`` a handler if none."""
    logger = logging.getLogger("zvans")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


async def start(z: Zvans) -> Stop:
    """The ``zvans.server`` starter."""
    _ensure_logging(z.settings.log_level)
    telephony = await start_telephony(z)

    async def stop() -> None:
        await telephony.stop()
        z.services.pop("sip", None)
        z.services.pop("telephony", None)

    return stop


def register() -> None:
    """Add the SIP starter to ``zvans serve`` (once)."""
    from zvans import server

    if start not in server.STARTERS:
        server.STARTERS.append(start)
