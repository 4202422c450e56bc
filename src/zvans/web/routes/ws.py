"""The live event stream: one WebSocket per browser tab at /ws.

Each message carries the event-log sequence id. A client that reconnects sends the last id
it saw (``/ws?last_id=N``) and gets what it missed replayed from the event log; if it missed
more than ``REPLAY_LIMIT`` it gets a fresh snapshot instead. Each connection reads from its
own bounded bus subscription: a tab that cannot keep up is closed (4000) and resyncs on
reconnect, it never slows the ACD. For agents the socket's presence is the desktop's:
the first open socket calls ``cc.desktop_connected``, the last one closing ``desktop_lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import func, select

from zvans.app import Zvans
from zvans.eventbus import LoggedEvent
from zvans.store.models import AgentProfile, Event
from zvans.web.deps import SessionUser, load_session_user

log = logging.getLogger("zvans.web.ws")
router = APIRouter()

REPLAY_LIMIT = 500
QUEUE_SIZE = 1000
PING_S = 20.0
CLOSE_UNAUTHORISED = 4401
CLOSE_OVERFLOW = 4000


class Presence:
    """Counts open sockets per agent so several tabs do not flap the desktop state."""

    def __init__(self) -> None:
        self._count: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    def opened(self, key: tuple[int, int]) -> bool:
        with self._lock:
            self._count[key] = self._count.get(key, 0) + 1
            return self._count[key] == 1

    def closed(self, key: tuple[int, int]) -> bool:
        with self._lock:
            left = self._count.get(key, 1) - 1
            if left <= 0:
                self._count.pop(key, None)
                return True
            self._count[key] = left
            return False


def presence_of(z: Zvans) -> Presence:
    p = z.services.get("web_presence")
    if not isinstance(p, Presence):
        p = Presence()
        z.services["web_presence"] = p
    return p


def visible(user: SessionUser, event: LoggedEvent | Event) -> bool:
    """Everyone sees their own organisation's events (the desktop picks its own)."""
    return event.org_id == user.org_id


def event_message(event: LoggedEvent) -> dict[str, Any]:
    return {"kind": "event", "id": event.id, "event": event.as_dict()}


def _logged(row: Event) -> LoggedEvent:
    return LoggedEvent(id=row.id, at=row.at, org_id=row.org_id, type=row.type,
                       interaction_id=row.interaction_id, queue_id=row.queue_id,
                       agent_id=row.agent_id, data=dict(row.data or {}))


def replay(z: Zvans, user: SessionUser, last_id: int) -> list[LoggedEvent] | None:
    """Events after ``last_id`` the user may see, or None if too many were missed."""
    with z.sessions() as s:
        conds = [Event.org_id == user.org_id, Event.id > last_id]
        missed = s.scalar(select(func.count()).select_from(Event).where(*conds)) or 0
        if missed > REPLAY_LIMIT:
            return None
        return [_logged(r) for r in s.scalars(select(Event).where(*conds).order_by(Event.id))]


def snapshot(z: Zvans, user: SessionUser) -> dict[str, Any]:
    with z.sessions() as s:
        last = s.scalar(select(func.max(Event.id)).where(Event.org_id == user.org_id)) or 0
        has_profile = s.scalar(select(AgentProfile.id).where(
            AgentProfile.user_id == user.id)) is not None
    cc = z.services.get("cc")
    msg: dict[str, Any] = {"kind": "snapshot", "id": last, "agent": None, "wallboard": None}
    if cc is not None:
        if has_profile and user.role in ("agent", "supervisor"):
            with contextlib.suppress(Exception):
                msg["agent"] = cc.agent_view(user.org_id, user.id)
        if user.role in ("supervisor", "admin"):
            with contextlib.suppress(Exception):
                msg["wallboard"] = cc.wallboard(user.org_id)
    return msg


def _desktop(z: Zvans, user: SessionUser, connected: bool) -> None:
    cc = z.services.get("cc")
    if cc is None or user.role not in ("agent", "supervisor"):
        return
    try:
        if connected:
            cc.desktop_connected(user.org_id, user.id)
        else:
            cc.desktop_lost(user.org_id, user.id)
    except Exception as exc:  # e.g. a supervisor without queues: nothing to tell the ACD
        log.debug("desktop presence for user %s: %s", user.id, exc)


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    z: Zvans = websocket.app.state.zvans
    user = await asyncio.to_thread(load_session_user, z, dict(websocket.session))
    await websocket.accept()
    if user is None:
        await websocket.send_json({"kind": "error", "code": "login-required"})
        await websocket.close(code=CLOSE_UNAUTHORISED)
        return
    raw_last = websocket.query_params.get("last_id", "")
    last_id = int(raw_last) if raw_last.isdigit() else None
    sub = z.bus.subscribe(maxsize=QUEUE_SIZE, org_id=user.org_id)
    key = (user.org_id, user.id)
    presence = presence_of(z)
    if presence.opened(key):
        await asyncio.to_thread(_desktop, z, user, True)
    receiver = asyncio.create_task(_drain_incoming(websocket))
    try:
        sent = 0
        events = await asyncio.to_thread(replay, z, user, last_id) \
            if last_id is not None else None
        if events is None:
            snap = await asyncio.to_thread(snapshot, z, user)
            sent = int(snap["id"])
            await websocket.send_json(snap)
        else:
            sent = last_id or 0
            for ev in events:
                await websocket.send_json(event_message(ev))
                sent = ev.id
        while not receiver.done():
            waiter = asyncio.create_task(sub.next_batch(timeout=PING_S))
            done, _pending = await asyncio.wait({waiter, receiver},
                                                return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
                break
            batch = waiter.result()
            if sub.overflowed:
                await websocket.close(code=CLOSE_OVERFLOW, reason="too far behind")
                break
            if not batch:
                await websocket.send_json({"kind": "ping", "id": sent})
                continue
            for ev in batch:
                if ev.id <= sent or not visible(user, ev):
                    continue
                await websocket.send_json(event_message(ev))
                sent = ev.id
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass
    finally:
        sub.close()
        receiver.cancel()
        if presence.closed(key):
            # Runs to the end even if this handler is being cancelled (server shutdown).
            lost = asyncio.get_running_loop().run_in_executor(None, _desktop, z, user, False)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(lost)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver


async def _drain_incoming(websocket: WebSocket) -> None:
    """Reads (and ignores) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
