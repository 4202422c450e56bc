"""Server-side pages: one Jinja2 environment (autoescape on), gettext per user.

``render(request, "agent/desktop.html", {...})`` adds to the context: ``user``
(SessionUser or None), ``csrf_token``, ``_`` / ``ngettext`` in the user's language,
``language``, ``languages`` and ``nav`` (menu items the user's role may open).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from zvans.web import i18n
from zvans.web.deps import SessionUser, csrf_token, optional_user

TEMPLATE_DIR = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class NavItem:
    key: str
    href: str
    label: str  # English msgid; translated at render time
    roles: tuple[str, ...]


def _(message: str) -> str:
    """Marks a string for extraction; translated later by the template's ``_``."""
    return message


NAV: list[NavItem] = [
    NavItem("desktop", "/desktop", _("Receive calls"), ("agent", "supervisor")),
    NavItem("unanswered", "/unanswered", _("Unanswered calls"),
            ("agent", "supervisor", "admin")),
    NavItem("requests", "/requests", _("Requests"), ("agent", "supervisor", "admin")),
    NavItem("campaigns", "/campaigns", _("Outbound call campaigns"),
            ("agent", "supervisor", "admin")),
    NavItem("reports", "/reports", _("Reports"), ("agent", "supervisor", "admin")),
    NavItem("supervisor", "/supervisor/wallboard", _("Call center"), ("supervisor", "admin")),
    NavItem("admin", "/admin", _("Administration"), ("admin",)),
    NavItem("settings", "/settings", _("Settings"), ("agent", "supervisor", "admin")),
]


def language_of(request: Request, user: SessionUser | None) -> str:
    if user is not None:
        return i18n.normalise(user.language)
    chosen = request.session.get("lang")
    if isinstance(chosen, str) and chosen in i18n.LANGUAGES:
        return chosen
    return i18n.normalise(request.app.state.zvans.settings.language)


def nav_for(user: SessionUser | None, language: str, active: str = "") -> list[dict[str, Any]]:
    if user is None:
        return []
    tr = i18n.gettext_for(language)
    return [
        {"key": item.key, "href": item.href, "label": tr.gettext(item.label),
         "active": item.key == active}
        for item in NAV if user.role in item.roles
    ]


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A one-time message shown on the next rendered page (already translated)."""
    request.session.setdefault("flashes", []).append({"text": text, "kind": kind})


def translator(request: Request) -> Any:
    """``_`` in the language of the current request (for messages built in Python)."""
    return i18n.gettext_for(language_of(request, optional_user(request))).gettext


def render(
    request: Request, template_name: str, context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    user = optional_user(request)
    language = language_of(request, user)
    tr = i18n.gettext_for(language)
    ctx: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf_token": csrf_token(request),
        "_": tr.gettext,
        "gettext": tr.gettext,
        "ngettext": tr.ngettext,
        "language": language,
        "languages": i18n.LANGUAGE_NAMES,
        "nav": nav_for(user, language, (context or {}).get("active", "")),
    }
    ctx["flashes"] = request.session.pop("flashes", []) if "flashes" in request.session else []
    ctx.update(context or {})
    html = env.get_template(template_name).render(ctx)
    return HTMLResponse(html, status_code=status_code)
