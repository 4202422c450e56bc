"""The report pages speak Latvian: every string the report modules (``zvans.reports``), the
report routes and the report templates mark for translation has a Latvian translation, and
a Latvian user's report pages show Latvian headings (an English user's stay English)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import select

import zvans.reports
from tests.integration.web.conftest import Web, signed_in, web  # noqa: F401 (fixture)
from zvans.reports.params import GROUPS
from zvans.store.models import User
from zvans.web import i18n
from zvans.web.routes.reports import TITLES

WEB = Path(i18n.__file__).parent
REPORTS = Path(zvans.reports.__file__).parent
OURS = ("routes/reports.py", "templates/reports/")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "InvalidInput": (2,),
            "NotFound": (1,), "Forbidden": (1,), "ZvansError": (1,)}
#: The row-grouping labels, written as a dict literal in templates/reports/report.html
#: (which extraction cannot see); checked against ``GROUPS`` so a new group is noticed.
GROUP_LABELS = {"total": "Total", "day": "Per day", "hour": "Per hour"}


def _messages(message: str | tuple[str, ...]) -> list[str]:
    return [m for m in (message if isinstance(message, tuple) else (message,)) if m]


def extracted() -> set[str]:
    found: set[str] = set()
    for _f, _l, message, _c, _x in extract_from_dir(
            str(REPORTS), method_map=[("**.py", "python")], keywords=KEYWORDS):
        found.update(_messages(message))
    for filename, _l, message, _c, _x in extract_from_dir(
            str(WEB), method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
            keywords=KEYWORDS):
        if filename.startswith(OURS):
            found.update(_messages(message))
    # Strings the pages pass to _() at render time but that are not literals in a _() call.
    found.update(TITLES.values())
    found.update(GROUP_LABELS.values())
    return found


def latvian() -> dict[str, str]:
    with (WEB / "locale/lv/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="lv")
    return {m.id: m.string for m in catalog
            if isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string}


def test_every_report_string_has_a_latvian_translation() -> None:
    assert set(GROUP_LABELS) == set(GROUPS)
    messages = extracted()
    assert len(messages) > 150
    assert {"Queue statistics", "Abandoned", "Printable view", "Per day"} <= messages
    assert sorted(messages - set(latvian())) == []


def test_report_translations_keep_their_placeholders() -> None:
    lv = latvian()
    for msgid in extracted():
        for mark in ("%(", "{"):
            assert lv[msgid].count(mark) == msgid.count(mark), msgid


def _set_language(web: Web, username: str, language: str) -> None:  # noqa: F811
    with web.z.sessions.begin() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        user.language = language


@pytest.mark.parametrize("language", ["lv", "en"])
def test_report_pages_in_the_users_language(web: Web, language: str) -> None:  # noqa: F811
    _set_language(web, "supervisor", language)
    client, _token = signed_in(web, "supervisor")
    lv = language == "lv"

    index = client.get("/reports")
    assert index.status_code == 200
    assert f'<html lang="{language}">' in index.text
    assert ("<h1>Pārskati</h1>" if lv else "<h1>Reports</h1>") in index.text
    for name, title in TITLES.items():
        shown = latvian()[title] if lv else title
        assert f'data-report="{name}">{shown}</a>' in index.text

    page = client.get("/reports/queues?group=day")
    assert page.status_code == 200
    expected = (["<h1>Rindu statistika</h1>", ">Piedāvāti<", ">Pamesti<", ">Īsi pamesti<",
                 ">Ilgākā gaidīšana<", "Drukas skats", ">Pa dienām</option>",
                 "pamestie / piedāvātie"] if lv else
                ["<h1>Queue statistics</h1>", ">Offered<", ">Abandoned<", ">Short abandons<",
                 ">Longest wait<", "Printable view", ">Per day</option>",
                 "abandoned / offered"])
    for text in expected:
        assert text in page.text, text
    english_only = ["Queue statistics", ">Offered<", ">Abandoned<", "Printable view"]
    if lv:
        for text in english_only:
            assert text not in page.text, text

    agents = client.get("/reports/agents")
    assert agents.status_code == 200
    assert ("<h1>Aģentu detalizēta statistika</h1>" if lv
            else "<h1>Agent detailed statistics</h1>") in agents.text
    assert (">Pēcapstrādes laiks<" if lv else ">Wrap-up time<") in agents.text

    drill = client.get("/reports/queues/calls?metric=offered")
    assert drill.status_code == 200
    assert ("<h1>Zvani, kas veido šo skaitli</h1>" if lv
            else "<h1>Calls behind the number</h1>") in drill.text


@pytest.mark.parametrize("language", ["lv", "en"])
def test_exports_and_charts_in_the_users_language(web: Web, language: str) -> None:  # noqa: F811
    """CSV and XLSX headers, text cells and the SVG charts follow the user's language; the
    JSON export stays as computed (English labels, stable for programs)."""
    import io

    from openpyxl import load_workbook

    _set_language(web, "supervisor", language)
    client, _token = signed_in(web, "supervisor")
    lv = language == "lv"
    csv = client.get("/reports/queues/export.csv")
    assert csv.status_code == 200
    header = csv.text.lstrip("\ufeff").splitlines()[0]
    words = (["Rinda", "Piedāvāti", "Pamesti", "Atbildēti pēc <= 5 s"] if lv else
             ["Queue", "Offered", "Abandoned", "Answered after <= 5 s"])
    for word in words:
        assert word in header.split(","), word
    assert csv.text.rstrip().splitlines()[-1].startswith("Kopā," if lv else "Total,")
    xlsx = client.get("/reports/queues/export.xlsx")
    ws = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert ws.cell(row=1, column=2).value == ("Piedāvāti" if lv else "Offered")
    assert client.get("/reports/queues/export.json").json()["tables"][0]["columns"][1][
        "label"] == "Offered"
    page = client.get("/reports/queues?group=day")
    svg = page.text[page.text.index("<svg"):]
    assert ("Atbildēto zvanu gaidīšana" if lv else "Wait of answered calls") in svg
    if lv:
        assert "Wait of answered calls" not in svg
