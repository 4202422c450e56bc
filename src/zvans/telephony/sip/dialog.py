"""Dialogs (RFC 3261 §12): identity, CSeq spaces, route set and remote target.

In-dialog requests go to the remote target learnt from the peer's Contact, through the
route set learnt from Record-Route — not to the address the first INVITE was sent to.
That is exactly what aiosipua's outbound dialogs got wrong behind a proxy.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from ..random_pool import random_hex, random_int
from .errors import InvalidTransition, SipParseError
from .message import Request, Response
from .uri import NameAddr, SipUri


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


DIALOG_TRANSITIONS: dict[DialogState, frozenset[DialogState]] = {
    DialogState.EARLY: frozenset({DialogState.CONFIRMED, DialogState.TERMINATED}),
    DialogState.CONFIRMED: frozenset({DialogState.TERMINATED}),
    DialogState.TERMINATED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class DialogId:
    call_id: str
    local_tag: str
    remote_tag: str


def new_tag() -> str:
    return random_hex(6)


def new_call_id(host: str) -> str:
    return f"{random_hex(12)}@{host}"


class Dialog:
    """One side of a SIP dialog.  Holds no I/O; the stack sends what it builds."""

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_uri: NameAddr,
        remote_uri: NameAddr,
        remote_target: SipUri,
        route_set: list[NameAddr],
        local_seq: int,
        remote_seq: int | None,
        local_contact: str,
        transport: str,
        is_uac: bool,
        state: DialogState = DialogState.EARLY,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_uri = local_uri
        self.remote_uri = remote_uri
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.local_contact = local_contact
        self.transport = transport
        self.is_uac = is_uac
        self.state = state
        self.end_reason: str | None = None

    # --- creation ---
    @classmethod
    def from_uas(
        cls, request: Request, local_tag: str, local_contact: str, transport: str
    ) -> Dialog:
        """§12.1.1: the UAS side, built from the dialog-creating request."""
        contacts = request.contacts
        if not contacts:
            raise SipParseError("dialog-creating request without Contact")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_.tag or "",
            local_uri=_without_tag(request.to),
            remote_uri=_without_tag(request.from_),
            remote_target=contacts[0].uri,
            route_set=[NameAddr.parse(v) for v in request.headers.get_all("Record-Route")],
            local_seq=random_int(3) % 2**20 + 1,
            remote_seq=request.cseq[0],
            local_contact=local_contact,
            transport=transport,
            is_uac=False,
        )

    @classmethod
    def from_uac(cls, request: Request, response: Response, transport: str) -> Dialog:
        """§12.1.2: the UAC side, built from our request and the 1xx/2xx that made it."""
        contacts = response.contacts
        target = contacts[0].uri if contacts else request.request_uri
        routes = [NameAddr.parse(v) for v in response.headers.get_all("Record-Route")]
        routes.reverse()
        state = DialogState.CONFIRMED if 200 <= response.status < 300 else DialogState.EARLY
        return cls(
            call_id=request.call_id,
            local_tag=request.from_.tag or "",
            remote_tag=response.to.tag or "",
            local_uri=_without_tag(request.from_),
            remote_uri=_without_tag(request.to),
            remote_target=target,
            route_set=routes,
            local_seq=request.cseq[0],
            remote_seq=None,
            local_contact=request.headers.get("Contact") or "",
            transport=transport,
            is_uac=True,
            state=state,
        )

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # --- state ---
    def _move(self, target: DialogState) -> None:
        if target not in DIALOG_TRANSITIONS[self.state]:
            raise InvalidTransition("dialog", self.state, target)
        self.state = target

    def confirm(self) -> None:
        if self.state is DialogState.EARLY:
            self._move(DialogState.CONFIRMED)

    def terminate(self, reason: str) -> bool:
        """End the dialog; False if it had already ended."""
        if self.state is DialogState.TERMINATED:
            return False
        self._move(DialogState.TERMINATED)
        self.end_reason = reason
        return True

    @property
    def active(self) -> bool:
        return self.state is not DialogState.TERMINATED

    # --- requests ---
    def accept_remote_cseq(self, request: Request) -> bool:
        """§12.2.2: lower CSeq than the last one seen is out of order (answer 500)."""
        number, _ = request.cseq
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and number <= self.remote_seq:
            return False
        self.remote_seq = number
        return True

    def refresh_target(self, message: Request | Response) -> None:
        """Target refresh (re-INVITE and its 2xx carry a new Contact)."""
        contacts = message.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    def next_hop(self) -> SipUri:
        """Where an in-dialog request is sent: first route if any, else the target."""
        if self.route_set:
            return self.route_set[0].uri
        return self.remote_target

    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        cseq: int | None = None,
    ) -> Request:
        """§12.2.1.1 request within the dialog (without Via: the stack adds it)."""
        if cseq is None:
            if method not in ("ACK", "CANCEL"):
                self.local_seq += 1
            cseq = self.local_seq
        routes = list(self.route_set)
        if routes and "lr" not in routes[0].uri.params:
            # strict router: it becomes the Request-URI, our target goes last (§12.2.1.1)
            first = routes.pop(0).uri
            uri = SipUri(
                first.scheme, first.user, first.password, first.host, first.port, dict(first.params)
            )
            routes.append(NameAddr(uri=self.remote_target))
            ruri = str(uri)
        else:
            ruri = str(self.remote_target)
        req = Request(method=method, uri=ruri, body=body)
        req.headers.add("Max-Forwards", "70")
        req.headers.add("From", str(self.local_uri.with_tag(self.local_tag)))
        to = self.remote_uri.with_tag(self.remote_tag) if self.remote_tag else self.remote_uri
        req.headers.add("To", str(to))
        req.headers.add("Call-ID", self.call_id)
        req.headers.add("CSeq", f"{cseq} {method}")
        for route in routes:
            req.headers.add("Route", str(route))
        if method in ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER") and self.local_contact:
            req.headers.add("Contact", self.local_contact)
        for name, value in headers:
            req.headers.add(name, value)
        return req

    def __repr__(self) -> str:
        return f"<Dialog {self.call_id} {self.state.value} uac={self.is_uac}>"


def _without_tag(addr: NameAddr) -> NameAddr:
    params = {k: v for k, v in addr.params.items() if k != "tag"}
    return NameAddr(uri=addr.uri, display=addr.display, params=params)
