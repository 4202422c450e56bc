"""Small helpers for HTML forms: read fields, collect one message per field."""

from __future__ import annotations

from fastapi import Request

from zvans.errors import InvalidInput, ZvansError


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def form_lists(request: Request, name: str) -> list[str]:
    form = await request.form()
    return [v for v in form.getlist(name) if isinstance(v, str)]


def error_map(exc: ZvansError) -> dict[str, str]:
    """``{field: message}`` for a form; errors without a field go under ``"_form"``."""
    many = exc.details.get("errors")
    if isinstance(many, dict) and many:
        return {str(k): str(v) for k, v in many.items()}
    field = exc.field if isinstance(exc, InvalidInput) else exc.details.get("field")
    return {str(field or "_form"): exc.message}


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site relative paths, never ``//host`` or a scheme."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
