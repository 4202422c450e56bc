"""Exports of a report: JSON, CSV, XLSX (openpyxl) and a plain-text table for terminals.

All of them write the numbers of ``Report`` unchanged (seconds as seconds, ratios as
fractions); only the text table and the XLSX number formats change how they look."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from zvans.reports.table import Column, Report, Table

XLSX_FORMATS = {"int": "#,##0", "seconds": "#,##0.0", "ratio": "0.0%", "number": "0.00"}


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, default=str)


def _rows(table: Table) -> list[dict[str, Any]]:
    return table.rows + ([table.total] if table.total is not None else [])


def to_csv(report: Report) -> str:
    """One block per table: a title line when there are several, the header, the rows and
    the total row; blocks are separated by an empty line."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for i, table in enumerate(report.tables):
        if i:
            writer.writerow([])
        if len(report.tables) > 1:
            writer.writerow([table.title])
        writer.writerow([c.label for c in table.columns])
        for row in _rows(table):
            writer.writerow(["" if row.get(c.key) is None else row.get(c.key)
                             for c in table.columns])
    return buf.getvalue()


def to_xlsx(report: Report) -> bytes:
    """One worksheet per table: bold header row with the formula as a cell comment, number
    formats per column kind, panes frozen below the header and right of the first column."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for table in report.tables:
        ws = wb.create_sheet(_sheet_title(table.key))
        for j, col in enumerate(table.columns, start=1):
            cell = ws.cell(row=1, column=j, value=col.label)
            cell.font = bold
            if col.formula:
                cell.comment = Comment(col.formula, "Zvans")
            ws.column_dimensions[get_column_letter(j)].width = max(10, min(40, len(col.label) + 2))
        for i, row in enumerate(_rows(table), start=2):
            is_total = table.total is not None and row is table.total
            for j, col in enumerate(table.columns, start=1):
                cell = ws.cell(row=i, column=j, value=row.get(col.key))
                fmt = XLSX_FORMATS.get(col.kind)
                if fmt:
                    cell.number_format = fmt
                if is_total:
                    cell.font = bold
        ws.freeze_panes = "B2"
    meta = wb.create_sheet("about")
    meta.append(["report", report.name])
    meta.append(["title", report.title])
    for key, value in report.params.items():
        meta.append([key, json.dumps(value) if isinstance(value, list | dict) else value])
    for note in report.notes:
        meta.append(["note", note])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sheet_title(key: str) -> str:
    return "".join(ch for ch in key if ch not in "[]:*?/\\")[:31] or "report"


def format_value(col: Column, value: Any) -> str:
    if value is None:
        return "–"
    if col.kind == "seconds":
        total = round(float(value))
        h, rest = divmod(total, 3600)
        mnt, s = divmod(rest, 60)
        return f"{h}:{mnt:02d}:{s:02d}"
    if col.kind == "ratio":
        return f"{float(value) * 100:.1f} %"
    if col.kind == "number":
        return f"{float(value):.2f}"
    return str(value)


def to_text(report: Report) -> str:
    """Aligned columns for a terminal (durations as h:mm:ss, ratios in %)."""
    parts = [report.title, ""]
    for table in report.tables:
        if len(report.tables) > 1:
            parts.append(f"## {table.title}")
        header = [c.label for c in table.columns]
        body = [[format_value(c, row.get(c.key)) for c in table.columns]
                for row in _rows(table)]
        widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
                  for i, h in enumerate(header)]

        def line(cells: list[str], widths: list[int] = widths) -> str:
            return "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

        parts.append(line(header))
        parts.append(line(["-" * w for w in widths]))
        parts.extend(line(r) for r in body)
        parts.append("")
    parts.extend(report.notes)
    return "\n".join(parts).rstrip() + "\n"
