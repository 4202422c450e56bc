"""Errors as data: every user-facing failure carries a stable code, a message and details.

Adapters turn a ``ZvansError`` into an HTTP JSON body, a CLI line or a SIP response; the
code is what clients and tests rely on, the message is for people.
"""

from __future__ import annotations

from typing import Any


class ZvansError(Exception):
    """Base class for errors a user or client can cause and should be told about."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __str__(self) -> str:
        return self.message


class InvalidInput(ZvansError):
    """A field had a value that is not allowed. ``details['field']`` names it."""

    code = "invalid-input"
    status = 422

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, field=field)
        self.field = field


class NotFound(ZvansError):
    code = "not-found"
    status = 404


class Conflict(ZvansError):
    code = "conflict"
    status = 409


class Forbidden(ZvansError):
    code = "forbidden"
    status = 403


class ConfigError(ZvansError):
    code = "bad-config"
