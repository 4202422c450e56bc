"""Organisations (tenants)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from zvans.errors import Conflict, InvalidInput, NotFound
from zvans.store import validate
from zvans.store.models import Organisation


def add_org(
    session: Session, slug: str, name: str, *, timezone: str = "Europe/Riga", language: str = "lv"
) -> Organisation:
    slug = validate.slug(slug)
    name = validate.text(name, "name", required=True)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone", f"Unknown time zone {timezone!r}.") from None
    language = validate.choice(language, "language", ("lv", "en", "lt", "et"))
    if session.scalar(select(Organisation.id).where(Organisation.slug == slug)) is not None:
        raise Conflict(f"Organisation {slug!r} already exists.", code="duplicate-org", field="slug")
    org = Organisation(slug=slug, name=name, timezone=timezone, language=language)
    session.add(org)
    session.flush()
    return org


def get_org(session: Session, slug: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None:
        raise NotFound(f"No organisation {slug!r}.", code="no-such-org", slug=slug)
    return org


def list_orgs(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.id)))
