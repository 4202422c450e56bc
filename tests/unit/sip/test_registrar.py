"""Registrar: auth, expiry bounds, several contacts, unregister, wildcard."""

from __future__ import annotations

import asyncio

from zvans.telephony.sip.auth import Challenge, Credentials, DigestServer, build_authorization
from zvans.telephony.sip.message import Request, Response
from zvans.telephony.sip.registrar import Registrar
from zvans.telephony.sip.transport import Peer

PEER = Peer("UDP", "198.51.100.7", 40001)


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock) -> Registrar:
    creds = {u: Credentials.from_password(u, "zvans", f"pw-{u}") for u in ("ann", "bob")}

    async def lookup(username: str) -> Credentials | None:
        return creds.get(username)

    return Registrar(
        DigestServer("zvans", algorithms=("MD5",)),
        lookup,
        min_expires=60,
        max_expires=3600,
        clock=clock,
    )


def request(
    user: str,
    contacts: list[str],
    expires: str | None = None,
    cseq: int = 1,
    auth_user: str | None = None,
) -> Request:
    req = Request(method="REGISTER", uri="sip:zvans.test")
    req.headers.add("Via", "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKr")
    req.headers.add("From", f"<sip:{user}@zvans.test>;tag=1")
    req.headers.add("To", f"<sip:{user}@zvans.test>")
    req.headers.add("Call-ID", f"reg-{user}")
    req.headers.add("CSeq", f"{cseq} REGISTER")
    for c in contacts:
        req.headers.add("Contact", c)
    if expires is not None:
        req.headers.add("Expires", expires)
    return req


def send(
    reg: Registrar, req: Request, password: str | None = None, auth_user: str | None = None
) -> Response:
    first = asyncio.run(reg.handle(req, PEER))
    if first.status != 401 or password is None:
        return first
    challenge = Challenge.parse(first.headers.get("WWW-Authenticate") or "")
    assert challenge is not None
    user = auth_user or req.to.uri.user or ""
    req.headers.set(
        "Authorization",
        build_authorization(challenge, "REGISTER", req.uri, user, password=password),
    )
    return asyncio.run(reg.handle(req, PEER))


def test_challenge_then_register_several_contacts() -> None:
    clock = Clock()
    reg = make(clock)
    resp = send(
        reg,
        request("ann", ["<sip:ann@10.0.0.7:5060>", "<sip:ann@10.0.0.8:5062>;expires=120"]),
        "pw-ann",
    )
    assert resp.status == 200
    assert len(resp.headers.get_all("Contact")) == 2
    bindings = reg.bindings("ann")
    assert {b.contact.uri.host for b in bindings} == {"10.0.0.7", "10.0.0.8"}
    assert all(b.source == PEER for b in bindings)
    assert reg.has_source("198.51.100.7")
    clock.now += 121
    assert [b.contact.uri.host for b in reg.bindings("ann")] == ["10.0.0.7"]  # one expired
    clock.now += 3600
    assert reg.bindings("ann") == []


def test_wrong_password_and_foreign_aor_are_forbidden() -> None:
    reg = make(Clock())
    assert send(reg, request("ann", ["<sip:ann@10.0.0.7>"]), "nope").status == 403
    # bob's credentials may not register ann
    assert (
        send(reg, request("ann", ["<sip:ann@10.0.0.7>"]), "pw-bob", auth_user="bob").status == 403
    )
    assert reg.bindings() == []


def test_expiry_bounds() -> None:
    reg = make(Clock())
    too_short = send(reg, request("ann", ["<sip:ann@10.0.0.7>"], expires="30"), "pw-ann")
    assert too_short.status == 423
    assert too_short.headers.get("Min-Expires") == "60"
    ok = send(reg, request("ann", ["<sip:ann@10.0.0.7>"], expires="999999"), "pw-ann")
    assert ok.status == 200
    assert "expires=3600" in (ok.headers.get("Contact") or "")


def test_unregister_one_and_wildcard() -> None:
    reg = make(Clock())
    send(reg, request("ann", ["<sip:ann@10.0.0.7>", "<sip:ann@10.0.0.8>"]), "pw-ann")
    resp = send(reg, request("ann", ["<sip:ann@10.0.0.7>;expires=0"], cseq=2), "pw-ann")
    assert resp.status == 200
    assert [b.contact.uri.host for b in reg.bindings("ann")] == ["10.0.0.8"]
    bad = send(reg, request("ann", ["*"], cseq=3), "pw-ann")
    assert bad.status == 400  # '*' needs Expires: 0
    gone = send(reg, request("ann", ["*"], expires="0", cseq=4), "pw-ann")
    assert gone.status == 200
    assert reg.bindings("ann") == []


def test_query_without_contact_lists_bindings() -> None:
    reg = make(Clock())
    send(reg, request("bob", ["<sip:bob@10.0.0.9>"]), "pw-bob")
    resp = send(reg, request("bob", [], cseq=2), "pw-bob")
    assert resp.status == 200
    assert resp.headers.get_all("Contact") == ["<sip:bob@10.0.0.9;expires=3600>"] or "10.0.0.9" in (
        resp.headers.get("Contact") or ""
    )
