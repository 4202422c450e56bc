"""Field checks shared by the services, the CLI and the web forms."""

from __future__ import annotations

import re

from zvans.errors import InvalidInput

#: Seed 001: "only letters, numbers, underscores, dots and @" (letters include ā, ž, õ …).
EMAIL_RE = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")
PHONE_RE = re.compile(r"^\+?[0-9]{2,20}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def username(value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput("username", "User name is required.")
    if len(value) > 64:
        raise InvalidInput("username", "User name must be at most 64 characters.")
    if not all(ch.isalnum() or ch in "_.@" for ch in value):
        raise InvalidInput(
            "username",
            "User name may contain only letters, digits, underscores (_), dots (.) and @.",
        )
    return value


def password(value: str) -> str:
    if len(value) < 8:
        raise InvalidInput("password", "Password must be at least 8 characters.")
    if len(value) > 256:
        raise InvalidInput("password", "Password must be at most 256 characters.")
    return value


def email(value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput("email", "E-mail is required.")
    if len(value) > 254 or not EMAIL_RE.match(value):
        raise InvalidInput("email", "E-mail address is not valid.")
    return value


def phone(value: str, field: str = "phone", required: bool = False) -> str:
    cleaned = re.sub(r"[\s()-]", "", value or "")
    if not cleaned:
        if required:
            raise InvalidInput(field, "Phone number is required.")
        return ""
    if not PHONE_RE.match(cleaned):
        raise InvalidInput(field, "Phone number may contain only digits and a leading +.")
    return cleaned


def text(value: str, field: str, *, required: bool = False, max_len: int = 200) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(field, f"{field.replace('_', ' ').capitalize()} is required.")
    if len(value) > max_len:
        raise InvalidInput(field, f"Must be at most {max_len} characters.")
    return value


def choice(value: str, field: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInput(field, f"Must be one of: {', '.join(allowed)}.")
    return value


def slug(value: str) -> str:
    value = value.strip()
    if not SLUG_RE.match(value):
        raise InvalidInput(
            "slug", "Organisation id may contain only lower-case letters, digits and '-'."
        )
    return value


def code(value: str, field: str = "code") -> str:
    value = value.strip()
    if not CODE_RE.match(value):
        raise InvalidInput(field, "Code may contain only letters, digits, '_', '.' and '-'.")
    return value


def int_range(value: int | str | None, field: str, low: int, high: int) -> int:
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(field, "Must be a whole number.") from None
    if not low <= number <= high:
        raise InvalidInput(field, f"Must be between {low} and {high}.")
    return number
