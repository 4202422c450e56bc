"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 8760 SHA-256, RFC 7616 qop=auth).

Server side: :class:`DigestServer` issues stateless nonces (timestamp + HMAC, so a restart
or a second process needs no shared table), answers a stale nonce with ``stale=true``, and
checks responses against *HA1* values only.  The database never holds a SIP password:
:func:`ha1` turns (username, realm, password) into the per-algorithm hash once, when the
password is set.

Client side: :func:`build_authorization` answers a 401/407 challenge (outbound
registration to an operator trunk, outbound calls through it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from .message import Request

log = logging.getLogger(__name__)

HASHES: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}


def _h(algorithm: str, text: str) -> str:
    return HASHES[algorithm](text.encode("utf-8")).hexdigest()


def normalise_algorithm(name: str | None) -> str:
    """``md5`` -> ``MD5``; ``sha-256`` -> ``SHA-256``; unknown -> ``ValueError``."""
    value = (name or "MD5").strip().upper()
    if value not in HASHES:
        raise ValueError(f"unsupported digest algorithm {name!r}")
    return value


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """H(username:realm:password) — what to store instead of a SIP password."""
    return _h(normalise_algorithm(algorithm), f"{username}:{realm}:{password}")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A SIP user's secrets as stored: one HA1 per algorithm, never the password."""

    username: str
    realm: str
    ha1: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_password(
        cls,
        username: str,
        realm: str,
        password: str,
        algorithms: Iterable[str] = ("MD5", "SHA-256"),
    ) -> Credentials:
        return cls(
            username,
            realm,
            {normalise_algorithm(a): ha1(username, realm, password, a) for a in algorithms},
        )


CredentialLookup = Callable[[str], Awaitable[Credentials | None]]


def parse_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """Split ``Digest k="v", k2=v2`` into the scheme and a dict (lower-case keys)."""
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t,":
            i += 1
        start = i
        while i < n and rest[i] not in "=, \t":
            i += 1
        key = rest[start:i].strip().lower()
        while i < n and rest[i] in " \t":
            i += 1
        if i >= n or rest[i] != "=":
            if key:
                params[key] = ""
            continue
        i += 1
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            buf: list[str] = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(rest[i])
                i += 1
            i += 1
            params[key] = "".join(buf)
        else:
            start = i
            while i < n and rest[i] not in ", \t":
                i += 1
            params[key] = rest[start:i]
    return scheme, params


def digest_response(
    algorithm: str,
    ha1_hex: str,
    nonce: str,
    method: str,
    uri: str,
    *,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1_hex}:{nonce}:{ha2}")


class AuthResult(Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials for our realm: challenge
    STALE = "stale"  # right password, old nonce: challenge with stale=true
    FAILED = "failed"  # wrong password, unknown user, forged nonce, bad syntax


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    result: AuthResult
    username: str | None = None


class DigestServer:
    """Challenges and verifies requests for one realm."""

    def __init__(
        self,
        realm: str,
        *,
        secret: bytes | None = None,
        nonce_ttl: float = 300.0,
        algorithms: Iterable[str] = ("SHA-256", "MD5"),
        offer: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        max_tracked_nonces: int = 10_000,
    ) -> None:
        """``algorithms``: answers we accept; ``offer``: challenges we send (default: the
        same), most preferred first.  Offering only MD5 while accepting both suits UAs
        that read only the first challenge (sipp 3.6) or fail on an unknown algorithm
        (baresip 1.0's libre), as Asterisk does by default."""
        self.realm = realm
        self.secret = secret or os.urandom(32)
        self.nonce_ttl = nonce_ttl
        self.algorithms = [normalise_algorithm(a) for a in algorithms]
        self.offer = [normalise_algorithm(a) for a in offer] if offer else list(self.algorithms)
        self.clock = clock
        self._nc: OrderedDict[str, int] = OrderedDict()
        self._max_tracked = max_tracked_nonces

    def make_nonce(self) -> str:
        stamp = f"{int(self.clock() * 1000):x}.{secrets.token_hex(6)}"
        mac = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{stamp}.{mac}"

    def _nonce_state(self, nonce: str) -> AuthResult:
        parts = nonce.split(".")
        if len(parts) != 3:
            return AuthResult.FAILED
        stamp = f"{parts[0]}.{parts[1]}"
        mac = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        if not hmac.compare_digest(mac, parts[2]):
            return AuthResult.FAILED
        try:
            issued = int(parts[0], 16) / 1000
        except ValueError:
            return AuthResult.FAILED
        if self.clock() - issued > self.nonce_ttl:
            return AuthResult.STALE
        return AuthResult.OK

    def challenges(self, *, stale: bool = False) -> list[str]:
        """One challenge per algorithm, most preferred first (RFC 8760 §2.4)."""
        nonce = self.make_nonce()
        out = []
        for algorithm in self.offer:
            value = (
                f'Digest realm="{self.realm}", nonce="{nonce}", algorithm={algorithm}, qop="auth"'
            )
            if stale:
                value += ", stale=true"
            out.append(value)
        return out

    def challenge_headers(self, *, proxy: bool, stale: bool = False) -> list[tuple[str, str]]:
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        return [(name, value) for value in self.challenges(stale=stale)]

    async def verify(
        self, request: Request, lookup: CredentialLookup, *, proxy: bool
    ) -> AuthOutcome:
        """Check the request's (Proxy-)Authorization for our realm."""
        name = "Proxy-Authorization" if proxy else "Authorization"
        for value in request.headers.get_all(name):
            scheme, params = parse_auth_header(value)
            if scheme.lower() != "digest" or params.get("realm") != self.realm:
                continue
            return await self._verify_one(request, params, lookup)
        return AuthOutcome(AuthResult.MISSING)

    async def _verify_one(
        self, request: Request, params: dict[str, str], lookup: CredentialLookup
    ) -> AuthOutcome:
        username = params.get("username", "")
        try:
            algorithm = normalise_algorithm(params.get("algorithm"))
        except ValueError:
            return AuthOutcome(AuthResult.FAILED, username)
        nonce, uri, given = params.get("nonce", ""), params.get("uri", ""), params.get("response")
        qop = params.get("qop") or None
        nc, cnonce = params.get("nc", ""), params.get("cnonce", "")
        if not username or not nonce or not given or algorithm not in self.algorithms:
            return AuthOutcome(AuthResult.FAILED, username)
        if qop is not None and (qop != "auth" or not nc or not cnonce):
            return AuthOutcome(AuthResult.FAILED, username)
        if uri != request.uri:
            return AuthOutcome(AuthResult.FAILED, username)
        nonce_state = self._nonce_state(nonce)
        if nonce_state is AuthResult.FAILED:
            return AuthOutcome(AuthResult.FAILED, username)
        creds = await lookup(username)
        if creds is None or algorithm not in creds.ha1:
            return AuthOutcome(AuthResult.FAILED, username)
        expected = digest_response(
            algorithm,
            creds.ha1[algorithm],
            nonce,
            request.method,
            uri,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
        )
        if not hmac.compare_digest(expected, given.lower()):
            return AuthOutcome(AuthResult.FAILED, username)
        if nonce_state is AuthResult.STALE:
            return AuthOutcome(AuthResult.STALE, username)
        if qop is not None and not self._fresh_nc(nonce, nc):
            return AuthOutcome(AuthResult.STALE, username)  # replay: make it re-challenge
        return AuthOutcome(AuthResult.OK, username)

    def _fresh_nc(self, nonce: str, nc: str) -> bool:
        try:
            count = int(nc, 16)
        except ValueError:
            return False
        last = self._nc.get(nonce, 0)
        if count <= last:
            return False
        self._nc[nonce] = count
        self._nc.move_to_end(nonce)
        while len(self._nc) > self._max_tracked:
            self._nc.popitem(last=False)
        return True


# ----------------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str
    qop: tuple[str, ...]
    opaque: str | None
    stale: bool

    @classmethod
    def parse(cls, value: str) -> Challenge | None:
        scheme, params = parse_auth_header(value)
        if scheme.lower() != "digest" or "nonce" not in params:
            return None
        try:
            algorithm = normalise_algorithm(params.get("algorithm"))
        except ValueError:
            return None
        qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=params.get("realm", ""),
            nonce=params["nonce"],
            algorithm=algorithm,
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )


def pick_challenge(values: Iterable[str]) -> Challenge | None:
    """The topmost challenge with an algorithm we support (RFC 8760 §2.4)."""
    for value in values:
        challenge = Challenge.parse(value)
        if challenge is not None:
            return challenge
    return None


def build_authorization(
    challenge: Challenge,
    method: str,
    uri: str,
    username: str,
    *,
    password: str | None = None,
    ha1_hex: str | None = None,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization/Proxy-Authorization value answering ``challenge``."""
    if ha1_hex is None:
        if password is None:
            raise ValueError("need a password or an HA1")
        ha1_hex = ha1(username, challenge.realm, password, challenge.algorithm)
    qop = "auth" if "auth" in challenge.qop else None
    cnonce = cnonce or secrets.token_hex(8)
    nc_text = f"{nc:08x}"
    response = digest_response(
        challenge.algorithm,
        ha1_hex,
        challenge.nonce,
        method,
        uri,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
    )
    value = (
        f'Digest username="{username}", realm="{challenge.realm}", nonce="{challenge.nonce}", '
        f'uri="{uri}", response="{response}", algorithm={challenge.algorithm}'
    )
    if qop:
        value += f', qop={qop}, nc={nc_text}, cnonce="{cnonce}"'
    if challenge.opaque is not None:
        value += f', opaque="{challenge.opaque}"'
    return value
