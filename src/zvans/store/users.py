"""Users: administrators, supervisors and agents (seed 001's user administration)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.errors import Conflict, InvalidInput, NotFound
from zvans.security.passwords import hash_password
from zvans.store import validate
from zvans.store.models import ROLES, AgentProfile, User
from zvans.store.types import utcnow


@dataclass
class UserInput:
    username: str
    password: str
    email: str
    role: str
    first_name: str = ""
    surname: str = ""
    phone: str = ""
    language: str = "lv"
    extension: str = ""


def add_user(session: Session, org_id: int, data: UserInput) -> User:
    """Create a user (and an agent profile for agents and supervisors who take calls)."""
    username = validate.username(data.username)
    password = validate.password(data.password)
    email = validate.email(data.email)
    role = validate.choice(data.role, "role", ROLES)
    first_name = validate.text(data.first_name, "first_name", max_len=100)
    surname = validate.text(data.surname, "surname", max_len=100)
    phone = validate.phone(data.phone)
    language = validate.choice(data.language, "language", ("lv", "en"))
    extension = validate.phone(data.extension, "extension")
    existing = session.scalar(select(User.id).where(User.username == username))
    if existing is not None:
        raise Conflict(
            f"User name {username!r} is already taken.", code="duplicate-username",
            field="username",
        )
    user = User(
        org_id=org_id,
        username=username,
        password_hash=hash_password(password),
        email=email,
        role=role,
        first_name=first_name,
        surname=surname,
        phone=phone,
        language=language,
    )
    session.add(user)
    session.flush()
    if role in ("agent", "supervisor"):
        session.add(AgentProfile(org_id=org_id, user_id=user.id, extension=extension))
        session.flush()
    return user


def get_user(session: Session, org_id: int, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.org_id != org_id or user.deleted_at is not None:
        raise NotFound(f"No user {user_id}.", code="no-such-user", user_id=user_id)
    return user


def find_user(session: Session, username: str) -> User | None:
    """A live user by login name, across organisations (names are unique installation-wide)."""
    return session.scalar(
        select(User).where(User.username == username.strip(), User.deleted_at.is_(None))
    )


def user_by_name(session: Session, org_id: int, username: str) -> User:
    user = find_user(session, username)
    if user is None or user.org_id != org_id:
        raise NotFound(f"No user {username!r}.", code="no-such-user", username=username)
    return user


def list_users(session: Session, org_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.org_id == org_id, User.deleted_at.is_(None))
            .order_by(User.id)
        )
    )


def set_password(session: Session, user: User, password: str) -> None:
    user.password_hash = hash_password(validate.password(password))
    user.failed_logins = 0
    user.locked_until = None


def update_user(session: Session, user: User, **fields: str) -> User:
    """Change profile fields; unknown field names are a programming error."""
    checks: dict[str, Callable[[str], str]] = {
        "email": validate.email,
        "role": lambda v: validate.choice(v, "role", ROLES),
        "first_name": lambda v: validate.text(v, "first_name", max_len=100),
        "surname": lambda v: validate.text(v, "surname", max_len=100),
        "phone": validate.phone,
        "language": lambda v: validate.choice(v, "language", ("lv", "en")),
    }
    cleaned = {}
    for name, value in fields.items():
        if name not in checks:
            raise InvalidInput(name, f"Field {name!r} cannot be changed here.")
        cleaned[name] = checks[name](value)
    for name, value in cleaned.items():
        setattr(user, name, value)
    if user.role in ("agent", "supervisor") and user.agent is None:
        session.add(AgentProfile(org_id=user.org_id, user_id=user.id))
    return user


def delete_user(session: Session, user: User) -> None:
    """Soft delete: statistics and requests keep pointing at the user; the name stays taken."""
    user.deleted_at = utcnow()


def set_ring_target(
    session: Session, user: User, *, extension: str | None = None,
    ring_target: str | None = None,
) -> None:
    """Where the user's calls ring (seed 001: a short extension, or a mobile in an emergency).

    ``ring_target`` is empty (the registered SIP phone), a phone number or a ``sip:`` URI."""
    import re

    ext = validate.phone(extension, "extension") if extension is not None else None
    target = None
    if ring_target is not None:
        value = ring_target.strip()
        if value.startswith("sip:"):
            if not re.fullmatch(r"sip:[A-Za-z0-9_.+\-]+@[A-Za-z0-9.\-]+(:\d{1,5})?", value):
                raise InvalidInput("ring_target", "SIP address must look like sip:user@host.")
            target = value
        else:
            target = validate.phone(value, "ring_target")
    profile = user.agent
    if profile is None:
        if not (ext or target):
            return
        profile = AgentProfile(org_id=user.org_id, user_id=user.id)
        session.add(profile)
        user.agent = profile
    if ext is not None:
        profile.extension = ext
    if target is not None:
        profile.ring_target = target
