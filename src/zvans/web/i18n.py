"""UI translations: gettext catalogs (Babel), English msgids, Latvian catalog.

Only the ``.po`` source is kept in the repository; it is compiled in memory the first time
a language is asked for (Babel's ``write_mo``), so a fresh clone needs no build step and no
binary file is committed. A compiled ``.mo`` beside the ``.po``, if present and newer, is used.
"""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("lv", "en")
DEFAULT_LANGUAGE = "lv"
LANGUAGE_NAMES = {"lv": "Latviešu", "en": "English"}


@lru_cache(maxsize=8)
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of one language; English (the msgid language) and unknown ones pass through."""
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    mo_path = po_path.with_suffix(".mo")
    if mo_path.exists() and (not po_path.exists()
                             or mo_path.stat().st_mtime >= po_path.stat().st_mtime):
        with mo_path.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def normalise(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def gettext_for(language: str) -> gettext.NullTranslations:
    return translations(normalise(language))
