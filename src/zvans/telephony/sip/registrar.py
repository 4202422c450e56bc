"""Registrar (RFC 3261 §10.3) with digest authentication and an in-memory location service.

Bindings live in memory: phones re-register every few minutes, so after a restart the
table refills by itself, as with Asterisk's default.  Credentials come from an injected
``async lookup(username) -> Credentials | None`` (the app wires it to the database).

A binding remembers the address the REGISTER came from (``source``): an agent's phone
behind NAT is reached there, not at the private address in its Contact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .auth import AuthResult, CredentialLookup, DigestServer
from .errors import SipParseError
from .message import Request, Response, make_response
from .transport import Peer
from .uri import NameAddr

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Binding:
    aor: str
    contact: NameAddr
    expires_at: float
    call_id: str
    cseq: int
    source: Peer
    user_agent: str | None = None

    def expires_in(self, now: float) -> int:
        return max(0, round(self.expires_at - now))


class Registrar:
    def __init__(
        self,
        digest: DigestServer,
        lookup: CredentialLookup,
        *,
        min_expires: int = 60,
        max_expires: int = 3600,
        default_expires: int = 3600,
        max_contacts: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.digest = digest
        self.lookup = lookup
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_contacts = max_contacts
        self.clock = clock
        self._table: dict[str, dict[str, Binding]] = {}
        #: called after every successful REGISTER (e.g. to persist the table for a CLI)
        self.on_change: Callable[[], None] | None = None

    # --- location service ---
    def bindings(self, aor: str | None = None) -> list[Binding]:
        """Live bindings (all users, or one user), oldest first."""
        now = self.clock()
        users = [aor] if aor is not None else list(self._table)
        out: list[Binding] = []
        for user in users:
            table = self._table.get(user)
            if not table:
                continue
            for key, binding in list(table.items()):
                if binding.expires_at <= now:
                    del table[key]
                else:
                    out.append(binding)
            if not table:
                self._table.pop(user, None)
        return out

    def contacts_for(self, aor: str) -> list[Binding]:
        """Where to ring user ``aor`` (most recent registration first)."""
        return sorted(self.bindings(aor), key=lambda b: -b.expires_at)

    def has_source(self, host: str) -> bool:
        """True if some live binding registered from IP ``host`` (used by the call gate)."""
        return any(b.source.host == host for b in self.bindings())

    # --- REGISTER ---
    async def handle(self, request: Request, peer: Peer) -> Response:
        try:
            to = request.to
        except SipParseError:
            return make_response(request, 400, "Bad To")
        aor = to.uri.user_unescaped or ""
        if not aor:
            return make_response(request, 404, "No user in To")
        outcome = await self.digest.verify(request, self.lookup, proxy=False)
        if outcome.result is not AuthResult.OK:
            if outcome.result is AuthResult.FAILED:
                log.warning("REGISTER for %s from %s: bad credentials", aor, peer)
                return make_response(request, 403, "Bad credentials")
            return make_response(
                request,
                401,
                headers=self.digest.challenge_headers(
                    proxy=False, stale=outcome.result is AuthResult.STALE
                ),
            )
        if outcome.username != aor:
            log.warning("user %s tried to register %s from %s", outcome.username, aor, peer)
            return make_response(request, 403, "Username does not match To")
        response = self._apply(request, peer, aor)
        if response.status == 200 and self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                log.exception("registrar on_change hook failed")
        return response

    def _apply(self, request: Request, peer: Peer, aor: str) -> Response:
        now = self.clock()
        raw_contacts = request.headers.get_all("Contact")
        header_expires = request.headers.get("Expires")
        default = int(header_expires) if header_expires is not None else self.default_expires
        call_id = request.call_id
        cseq = request.cseq[0]
        if any(v.strip() == "*" for v in raw_contacts):
            if len(raw_contacts) != 1 or header_expires is None or int(header_expires) != 0:
                return make_response(request, 400, "Wildcard Contact needs Expires: 0")
            self._table.pop(aor, None)
            log.info("unregistered all contacts of %s", aor)
            return make_response(request, 200)
        contacts = request.contacts
        table = self._table.setdefault(aor, {})
        for contact in contacts:
            raw = contact.params.get("expires")
            try:
                expires = int(raw) if raw is not None else default
            except ValueError:
                return make_response(request, 400, "Bad expires parameter")
            key = str(contact.uri)
            if expires == 0:
                table.pop(key, None)
                continue
            if expires < self.min_expires:
                return make_response(request, 423, headers=[("Min-Expires", str(self.min_expires))])
            old = table.get(key)
            if old is not None and old.call_id == call_id and old.cseq >= cseq:
                continue  # out-of-order retransmission of an older REGISTER
            params = {k: v for k, v in contact.params.items() if k != "expires"}
            table[key] = Binding(
                aor=aor,
                contact=NameAddr(uri=contact.uri, display=contact.display, params=params),
                expires_at=now + min(expires, self.max_expires),
                call_id=call_id,
                cseq=cseq,
                source=peer,
                user_agent=request.headers.get("User-Agent"),
            )
        while len(table) > self.max_contacts:
            oldest = min(table, key=lambda k: table[k].expires_at)
            del table[oldest]
        if not table:
            self._table.pop(aor, None)
        response = make_response(request, 200)
        for binding in self.bindings(aor):
            contact = NameAddr(
                uri=binding.contact.uri,
                display=binding.contact.display,
                params={**binding.contact.params, "expires": str(binding.expires_in(now))},
            )
            response.headers.add("Contact", str(contact))
        response.headers.add("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        return response
