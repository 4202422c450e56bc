"""What a report returns: tables of typed columns that explain themselves.

The same ``Report`` feeds the web page, the printable view, the CLI table and every export,
so a number is computed once. Each column carries its formula (shown on hover / as a
footnote) and, where it counts calls, the drill-down metric that lists the calls behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

#: Column kinds: text; int (a count); seconds (a duration); ratio (0..1, shown as %);
#: number (a plain decimal, e.g. an average rating).
KINDS = ("text", "int", "seconds", "ratio", "number")


def _(message: str) -> str:
    """Marks a UI string for translation (looked up at render time)."""
    return message


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "int"
    formula: str = ""
    #: Drill-down metric (see ``zvans.reports.drill.METRICS``); empty = no drill-down.
    drill: str = ""


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "columns": [
                {"key": c.key, "label": c.label, "kind": c.kind, "formula": c.formula,
                 "drill": c.drill}
                for c in self.columns],
            "rows": self.rows,
            "total": self.total,
        }


@dataclass
class Report:
    name: str
    title: str
    params: dict[str, Any]
    tables: list[Table]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"report": self.name, "title": self.title, "params": self.params,
                "tables": [t.as_dict() for t in self.tables], "notes": self.notes}

    def table(self, key: str) -> Table:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(key)


def localize(report: Report, gettext: Callable[[str], str]) -> Report:
    """The report with its words in another language, as the web page shows them: titles,
    column labels, formulas, notes and text cells (row labels such as "Total" or a category;
    names that are not in the catalogue stay as they are). Numbers are untouched."""
    def text(row: dict[str, Any] | None, table: Table) -> dict[str, Any] | None:
        if row is None:
            return None
        out = dict(row)
        for c in table.columns:
            if c.kind == "text" and isinstance(out.get(c.key), str) and out[c.key]:
                out[c.key] = gettext(out[c.key])
        return out

    tables = [Table(t.key, gettext(t.title),
                    [replace(c, label=gettext(c.label),
                             formula=gettext(c.formula) if c.formula else "")
                     for c in t.columns],
                    [text(r, t) or {} for r in t.rows], text(t.total, t))
              for t in report.tables]
    return Report(report.name, gettext(report.title), report.params, tables,
                  [gettext(n) for n in report.notes])


def seconds(ms: int | float | None) -> float | None:
    """Milliseconds as seconds, rounded to the millisecond (what JSON and XLSX show)."""
    return None if ms is None else round(ms / 1000.0, 3)


def ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def number(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
