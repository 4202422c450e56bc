"""Every user-visible string of the agent-side web (templates and Python messages) has a
Latvian translation, and the catalog compiles from the .po alone (nothing binary in git)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from zvans.web import i18n

WEB = Path(i18n.__file__).parent
#: Areas owned by the agent-side web; administration and supervision keep their own check.
OURS = ("templates/base.html", "templates/error.html", "templates/auth/",
        "templates/agent/", "templates/requests/", "routes/auth.py", "routes/requests.py",
        "routes/api.py", "routes/desktop.py", "render.py", "app.py")
KEYWORDS = {"_": None, "InvalidInput": (2,), "NotFound": (1,), "Forbidden": (1,),
            "ZvansError": (1,), "TelephonyUnavailable": (1,), "LoginRequired": (1,),
            "CsrfFailed": (1,)}


def extracted() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = set()
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(WEB), method_map=method_map, keywords=KEYWORDS):
        if not filename.startswith(OURS):
            continue
        if isinstance(message, tuple):
            message = message[0]
        if message:
            found.add(message)
    return found


def test_every_agent_side_string_has_a_latvian_translation() -> None:
    with (WEB / "locale/lv/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="lv")
    translated = {m.id for m in catalog if m.id and m.string}
    messages = extracted()
    assert len(messages) > 150
    assert sorted(messages - translated) == []


def test_catalog_compiles_in_memory() -> None:
    i18n.translations.cache_clear()
    assert i18n.gettext_for("lv").gettext("Receive calls") == "Pieņemt zvanus"
    assert i18n.gettext_for("en").gettext("Receive calls") == "Receive calls"
    assert i18n.gettext_for("xx").gettext("Receive calls") == "Pieņemt zvanus"  # default lv
    assert not list(WEB.glob("locale/**/*.mo"))
