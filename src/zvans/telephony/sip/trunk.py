"""Operator trunks: configuration and outbound registration (RFC 3261 §10.2).

A trunk is reached either by IP (the operator's SBC sends INVITEs from a known address:
``allow_from``) or by registration (Zvans REGISTERs to the operator with a username and
password, and refreshes before the binding expires, as Asterisk's ``registration``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .dialog import new_call_id
from .message import Response
from .security import IpAllowList
from .transport import Peer

if TYPE_CHECKING:
    from .stack import SipStack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrunkConfig:
    name: str
    host: str
    port: int = 5060
    transport: str = "UDP"
    username: str | None = None
    password: str | None = None
    #: auth username when it differs from the From/To user
    auth_username: str | None = None
    #: the operator's realm-less domain for From/To/Request-URI (defaults to host)
    domain: str | None = None
    from_user: str | None = None
    caller_id: str | None = None
    register: bool = False
    expires: int = 600
    allow_from: tuple[str, ...] = ()
    dids: tuple[str, ...] = field(default_factory=tuple)

    @property
    def peer(self) -> Peer:
        return Peer(self.transport.upper(), self.host, self.port)

    @property
    def sip_domain(self) -> str:
        return self.domain or (self.host if self.port == 5060 else f"{self.host}:{self.port}")

    @property
    def credentials(self) -> tuple[str, str] | None:
        if self.password is None or (self.auth_username or self.username) is None:
            return None
        return (self.auth_username or self.username or "", self.password)

    def matches_source(self, host: str) -> bool:
        return IpAllowList(self.allow_from).contains(host)

    def request_uri(self, number: str) -> str:
        return f"sip:{number}@{self.sip_domain}"

    def from_uri(self) -> str:
        user = self.caller_id or self.from_user or self.username or "zvans"
        return f"sip:{user}@{self.sip_domain}"


def granted_expires(response: Response, our_contact: str, asked: int) -> int:
    """The expiry the registrar granted us: our Contact's expires, else Expires, else asked."""
    for contact in response.contacts:
        if str(contact.uri) in our_contact and "expires" in contact.params:
            value = contact.params["expires"] or ""
            if value.isdigit():
                return int(value)
    header = response.headers.get("Expires")
    if header is not None and header.strip().isdigit():
        return int(header)
    return asked


def refresh_delay(expires: int) -> float:
    """Refresh well before expiry: half-way for short bindings, 30 s early otherwise."""
    if expires <= 60:
        return max(1.0, expires / 2)
    return float(expires - 30)


class RegistrationClient:
    """Keeps Zvans registered to one trunk; ``state`` is ``registered`` or ``failed``."""

    def __init__(self, stack: SipStack, trunk: TrunkConfig, *, retry_after: float = 30.0):
        self.stack = stack
        self.trunk = trunk
        self.retry_after = retry_after
        self.state = "idle"
        self.expires = 0
        self.last_response: Response | None = None
        self.registered = asyncio.Event()
        self._call_id = ""
        self._cseq = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def register_once(self, expires: int | None = None) -> Response:
        trunk = self.trunk
        host, _ = self.stack.local_address(trunk.peer.transport)
        if not self._call_id:
            self._call_id = new_call_id(host)
        user = trunk.username or "zvans"
        aor = f"sip:{user}@{trunk.sip_domain}"
        contact = self.stack.contact(trunk.peer.transport).replace(
            f"sip:{self.stack.config.contact_user}@", f"sip:{user}@"
        )
        asked = trunk.expires if expires is None else expires
        self._cseq += 3  # request() may use up to three CSeq numbers for auth retries
        response = await self.stack.request(
            "REGISTER",
            f"sip:{trunk.sip_domain}",
            peer=trunk.peer,
            from_uri=aor,
            to_uri=aor,
            headers=[("Contact", contact), ("Expires", str(asked))],
            credentials=trunk.credentials,
            call_id=self._call_id,
            cseq=self._cseq,
        )
        self.last_response = response
        if response.status == 423 and expires is None:
            # Interval Too Brief: ask again with the registrar's minimum (§10.2.8)
            minimum = (response.headers.get("Min-Expires") or "").strip()
            if minimum.isdigit() and int(minimum) > asked:
                return await self.register_once(int(minimum))
        if 200 <= response.status < 300:
            self.expires = granted_expires(response, contact, asked)
        return response

    async def _run(self) -> None:
        while True:
            try:
                response = await self.register_once()
            except (OSError, ValueError) as exc:
                log.warning("trunk %s: registration error %s", self.trunk.name, exc)
                response = None
            if response is not None and 200 <= response.status < 300 and self.expires > 0:
                self.state = "registered"
                self.registered.set()
                await asyncio.sleep(refresh_delay(self.expires))
            else:
                self.state = "failed"
                self.registered.clear()
                status = response.status if response is not None else "no response"
                log.warning("trunk %s: registration failed (%s)", self.trunk.name, status)
                await asyncio.sleep(self.retry_after)

    async def stop(self, *, unregister: bool = True) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if unregister and self.state == "registered":
            await self.register_once(expires=0)
        self.state = "idle"
        self.registered.clear()
