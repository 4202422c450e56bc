"""Charts as inline SVG drawn on the server: they look the same in the browser, in the
printable view and on paper, need no JavaScript, and every text in them is escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from zvans.reports.table import Report
from zvans.reports.table import _ as _identity

WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T = 640, 220, 48, 48, 24
COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5")


@dataclass
class Chart:
    title: str
    svg: Markup


def bars(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]],
         *, percent: bool = False) -> Chart:
    """Grouped vertical bars, one group per label, one colour per series."""
    values = [v for _name, vs in series for v in vs]
    top = max([*values, 1.0 if percent else 0.0]) or 1.0
    n, k = max(1, len(labels)), max(1, len(series))
    plot_w, plot_h = WIDTH - PAD_L - 8, HEIGHT - PAD_B - PAD_T
    group_w = plot_w / n
    bar_w = max(1.0, group_w * 0.8 / k)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'class="chart" role="img" aria-label="{escape(title)}">',
             f'<line x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{WIDTH - 8}" '
             f'y2="{PAD_T + plot_h}" stroke="#555"/>']
    for frac in (0.5, 1.0):
        y = PAD_T + plot_h * (1 - frac)
        label = f"{top * frac * 100:.0f} %" if percent else f"{top * frac:.4g}"
        parts.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="10">{escape(label)}</text>')
        parts.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
    step = max(1, n // 12)
    for i, label in enumerate(labels):
        x0 = PAD_L + i * group_w + group_w * 0.1
        for j, (name, vs) in enumerate(series):
            v = vs[i] if i < len(vs) else 0.0
            h = plot_h * (v / top) if top else 0.0
            shown = f"{v * 100:.1f} %" if percent else f"{v:g}"
            parts.append(
                f'<rect x="{x0 + j * bar_w:.1f}" y="{PAD_T + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}" fill="{COLOURS[j % len(COLOURS)]}">'
                f'<title>{escape(label)} · {escape(name)}: {escape(shown)}</title></rect>')
        if i % step == 0:
            parts.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{PAD_T + plot_h + 14}" '
                         f'text-anchor="middle" font-size="10">{escape(label[-11:])}</text>')
    for j, (name, _vs) in enumerate(series):
        x = PAD_L + j * 150
        parts.append(f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" '
                     f'fill="{COLOURS[j % len(COLOURS)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 7}" font-size="11">{escape(name)}'
                     '</text>')
    parts.append("</svg>")
    return Chart(title, Markup("".join(parts)))  # every text above went through escape()


def _num(v: object) -> float:
    return float(v) if isinstance(v, int | float) else 0.0


def charts_for(report: Report, gettext: Callable[[str], str] | None = None) -> list[Chart]:
    """The charts the issue asks for: calls and SL per period, the wait histogram, the
    pause breakdown; plus answered calls per agent. Words go through ``gettext`` (the
    request's language)."""
    _ = gettext or _identity
    out: list[Chart] = []
    if report.name == "queues":
        t = report.tables[0]
        if t.rows and t.rows[0].get("period"):
            periods = sorted({str(r["period"]) for r in t.rows})
            per: dict[str, dict[str, float]] = {p: {"offered": 0.0, "answered": 0.0}
                                                for p in periods}
            for r in t.rows:
                per[str(r["period"])]["offered"] += _num(r["offered"])
                per[str(r["period"])]["answered"] += _num(r["answered"])
            out.append(bars(_("Calls per period"), periods, [
                (_("Offered"), [per[p]["offered"] for p in periods]),
                (_("Answered"), [per[p]["answered"] for p in periods])]))
            sl = {str(r["period"]): _num(r["sl"]) for r in t.rows}
            if len({str(r["queue"]) for r in t.rows}) == 1:
                out.append(bars(_("SL(T) per period"), periods,
                                [(_("SL(T)"), [sl.get(p, 0.0) for p in periods])],
                                percent=True))
        if t.total:
            keys = ("wait_le_5", "wait_le_15", "wait_le_30", "wait_le_60", "wait_le_120",
                    "wait_gt_120")
            out.append(bars(_("Wait of answered calls"),
                            ["<= 5 s", "<= 15 s", "<= 30 s", "<= 60 s", "<= 120 s", "> 120 s"],
                            [(_("Answered"), [_num(t.total[k]) for k in keys])]))
    elif report.name == "absence":
        t = report.table("by_reason")
        out.append(bars(_("Pause time by reason, minutes"), [str(r["reason"]) for r in t.rows],
                        [(_("Minutes"), [round(_num(r["time_s"]) / 60, 1) for r in t.rows])]))
    elif report.name == "agents":
        t = report.tables[0]
        if t.rows and not t.rows[0].get("period"):
            out.append(bars(_("Answered calls per agent"), [str(r["agent"]) for r in t.rows],
                            [(_("Answered"), [_num(r["answered"]) for r in t.rows])]))
    return out
