"""Digest authentication: HA1 storage, challenges, stale nonces, replays, both algorithms."""

from __future__ import annotations

import asyncio

import pytest

from zvans.telephony.sip.auth import (
    AuthResult,
    Challenge,
    Credentials,
    DigestServer,
    build_authorization,
    ha1,
    parse_auth_header,
    pick_challenge,
)
from zvans.telephony.sip.message import Request


def test_ha1_known_vectors() -> None:
    # RFC 2617 §3.5 example user, computed independently (md5sum / sha256sum)
    assert ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == (
        "939e7578ed9e3c518a452acee763bce9"
    )
    assert ha1("Mufasa", "http-auth@example.org", "Circle of Life", "SHA-256") == (
        "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
    )
    with pytest.raises(ValueError):
        ha1("a", "b", "c", "SHA-512-256")


def test_credentials_hold_no_password() -> None:
    creds = Credentials.from_password("agent", "zvans", "hunter2")
    assert set(creds.ha1) == {"MD5", "SHA-256"}
    assert "hunter2" not in repr(creds)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def register(auth: str | None = None) -> Request:
    req = Request(method="REGISTER", uri="sip:zvans.test")
    req.headers.add("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx")
    req.headers.add("From", "<sip:agent@zvans.test>;tag=1")
    req.headers.add("To", "<sip:agent@zvans.test>")
    req.headers.add("Call-ID", "c1")
    req.headers.add("CSeq", "1 REGISTER")
    if auth:
        req.headers.add("Authorization", auth)
    return req


CREDS = Credentials.from_password("agent", "zvans", "pw")


async def lookup(username: str) -> Credentials | None:
    return CREDS if username == "agent" else None


def verify(server: DigestServer, req: Request) -> AuthResult:
    return asyncio.run(server.verify(req, lookup, proxy=False)).result


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_round_trip_each_algorithm(algorithm: str) -> None:
    server = DigestServer("zvans", algorithms=(algorithm,))
    challenge = Challenge.parse(server.challenges()[0])
    assert challenge is not None and challenge.algorithm == algorithm
    auth = build_authorization(challenge, "REGISTER", "sip:zvans.test", "agent", password="pw")
    assert verify(server, register(auth)) is AuthResult.OK
    wrong = build_authorization(challenge, "REGISTER", "sip:zvans.test", "agent", password="no")
    assert verify(server, register(wrong)) is AuthResult.FAILED
    assert verify(server, register()) is AuthResult.MISSING


def test_challenge_order_and_client_takes_topmost_supported() -> None:
    server = DigestServer("zvans")
    values = server.challenges()
    assert "SHA-256" in values[0] and "MD5" in values[1]  # RFC 8760: preferred first
    picked = pick_challenge(['Digest realm="x", nonce="n", algorithm=SHA-512-256', *values])
    assert picked is not None and picked.algorithm == "SHA-256"


def test_expired_nonce_is_stale_only_with_right_password() -> None:
    clock = Clock()
    server = DigestServer("zvans", nonce_ttl=60, clock=clock)
    challenge = Challenge.parse(server.challenges()[0])
    assert challenge is not None
    good = build_authorization(challenge, "REGISTER", "sip:zvans.test", "agent", password="pw")
    bad = build_authorization(challenge, "REGISTER", "sip:zvans.test", "agent", password="x")
    clock.now += 61
    assert verify(server, register(good)) is AuthResult.STALE
    assert verify(server, register(bad)) is AuthResult.FAILED
    assert "stale=true" in server.challenges(stale=True)[0]


def test_forged_nonce_and_replayed_nonce_count() -> None:
    server = DigestServer("zvans", algorithms=("MD5",))
    other = DigestServer("zvans", algorithms=("MD5",))  # different secret
    forged = Challenge.parse(other.challenges()[0])
    assert forged is not None
    auth = build_authorization(forged, "REGISTER", "sip:zvans.test", "agent", password="pw")
    assert verify(server, register(auth)) is AuthResult.FAILED
    real = Challenge.parse(server.challenges()[0])
    assert real is not None
    auth = build_authorization(real, "REGISTER", "sip:zvans.test", "agent", password="pw", nc=1)
    assert verify(server, register(auth)) is AuthResult.OK
    assert verify(server, register(auth)) is AuthResult.STALE  # same nc again: replay
    auth2 = build_authorization(real, "REGISTER", "sip:zvans.test", "agent", password="pw", nc=2)
    assert verify(server, register(auth2)) is AuthResult.OK


def test_uri_mismatch_and_unknown_user_fail() -> None:
    server = DigestServer("zvans")
    challenge = Challenge.parse(server.challenges()[0])
    assert challenge is not None
    other_uri = build_authorization(challenge, "REGISTER", "sip:elsewhere", "agent", password="pw")
    assert verify(server, register(other_uri)) is AuthResult.FAILED
    nobody = build_authorization(challenge, "REGISTER", "sip:zvans.test", "nobody", password="pw")
    assert verify(server, register(nobody)) is AuthResult.FAILED


def test_parse_auth_header_handles_quotes_and_commas() -> None:
    scheme, params = parse_auth_header(
        'Digest username="a,b", realm="r", nonce="n\\"q", qop=auth, nc=00000001'
    )
    assert scheme == "Digest"
    assert params == {
        "username": "a,b",
        "realm": "r",
        "nonce": 'n"q',
        "qop": "auth",
        "nc": "00000001",
    }


def test_offer_md5_only_but_accept_sha256() -> None:
    server = DigestServer("zvans", algorithms=("SHA-256", "MD5"), offer=("MD5",))
    values = server.challenges()
    assert len(values) == 1 and "algorithm=MD5" in values[0]
    nonce = Challenge.parse(values[0])
    assert nonce is not None
    sha = Challenge(nonce.realm, nonce.nonce, "SHA-256", ("auth",), None, False)
    auth = build_authorization(sha, "REGISTER", "sip:zvans.test", "agent", password="pw")
    assert verify(server, register(auth)) is AuthResult.OK
