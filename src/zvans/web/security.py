"""Login checks: account lockout after repeated wrong passwords, a per-address rate limit,
and signed one-hour password-reset tokens that stop working once the password changes."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from zvans.security.passwords import hash_password, verify_password
from zvans.store import users
from zvans.store.models import User
from zvans.store.types import utcnow

MAX_FAILED_LOGINS = 10
LOCK_DURATION = timedelta(minutes=15)
RESET_TOKEN_MAX_AGE_S = 3600
#: A per-address brake on guessing across many accounts: attempts per window.
ADDRESS_LIMIT = 50
ADDRESS_WINDOW_S = 300.0

#: Verified against when the user does not exist, so both cases take the same time.
_DUMMY_HASH = hash_password("not-a-real-password-zvans")


class LoginOutcome:
    OK = "ok"
    BAD = "bad-credentials"
    LOCKED = "locked"


def check_login(session: Session, username: str, password: str) -> tuple[str, User | None]:
    """Verify a password, counting failures; the caller commits the session."""
    user = users.find_user(session, username) if username.strip() else None
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return LoginOutcome.BAD, None
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        return LoginOutcome.LOCKED, user
    if not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCK_DURATION
            user.failed_logins = 0
            return LoginOutcome.LOCKED, user
        return LoginOutcome.BAD, user
    user.failed_logins = 0
    user.locked_until = None
    return LoginOutcome.OK, user


class AddressLimiter:
    """Counts failed sign-ins per client address in a sliding window (in memory): a brake on
    guessing across many accounts from one place. Successful sign-ins are not counted."""

    def __init__(self, limit: int = ADDRESS_LIMIT, window_s: float = ADDRESS_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, address: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(address, deque())
        while hits and hits[0] < now - self.window_s:
            hits.popleft()
        return hits

    def blocked(self, address: str) -> bool:
        with self._lock:
            return len(self._trim(address, time.monotonic())) >= self.limit

    def failed(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._trim(address, now).append(now)
            if len(self._hits) > 10_000:  # bounded memory
                self._hits = {k: v for k, v in self._hits.items() if v}


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="zvans-password-reset")


def make_reset_token(secret: str, user: User) -> str:
    return _serializer(secret).dumps({"uid": user.id, "pw": user.password_hash[-16:]})


def read_reset_token(session: Session, secret: str, token: str) -> User | None:
    try:
        data = _serializer(secret).loads(token, max_age=RESET_TOKEN_MAX_AGE_S)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    user = session.get(User, data.get("uid"))
    if user is None or user.deleted_at is not None or user.password_hash[-16:] != data.get("pw"):
        return None
    return user
