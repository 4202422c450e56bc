"""Runs one Zvans process: web (and, as they land, SIP and the ACD) on one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import uvicorn

from zvans.app import Zvans

log = logging.getLogger("zvans")

#: Coroutines started beside the web server, e.g. the SIP stack: ``async def start(z) -> stop``.
Starter = Callable[[Zvans], Awaitable[Callable[[], Awaitable[None]]]]
STARTERS: list[Starter] = []


async def serve(z: Zvans, host: str, port: int) -> None:
    from zvans.runtime import attach
    from zvans.web.app import create_app

    cc = attach(z)
    app = create_app(z)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=z.settings.log_level.lower(), loop="none",
        lifespan="on", ws="websockets-sansio" if _has_sansio() else "auto",
    )
    server = uvicorn.Server(config)
    cc.start()
    rollups = asyncio.get_running_loop().create_task(_rollup_loop(z))
    stops = []
    for start in STARTERS:
        stops.append(await start(z))
    try:
        await server.serve()
    finally:
        for stop in reversed(stops):
            await stop()
        rollups.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await rollups
        await cc.stop()


async def _rollup_loop(z: Zvans, period_s: float = 300.0) -> None:
    """Keep the reports' per-hour rollups current (idempotent catch-up, off the loop)."""
    from zvans.reports import catch_up_all

    while True:
        try:
            await asyncio.to_thread(catch_up_all, z.sessions)
        except Exception:
            log.exception("report rollup catch-up failed")
        await asyncio.sleep(period_s)


def _has_sansio() -> bool:
    try:
        from uvicorn.protocols.websockets import websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True


def run(z: Zvans, host: str, port: int) -> None:
    try:
        import uvloop

        uvloop.run(serve(z, host, port))
    except ImportError:  # pragma: no cover - uvloop is a dependency, but keep running
        asyncio.run(serve(z, host, port))
