"""The council's monthly report and the public charts, drawn with matplotlib (Agg, no
display): each chart a function of plain numbers, titled in Italian or English.

Drawn in worker threads, several at once: each figure is a `Figure` on its own Agg canvas
(`charts.new_figure`), never pyplot, whose current-figure state is global and not thread-safe
(and whose figures stay open until closed)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from cowork.community.charts import new_figure

# matplotlib is imported when a chart is drawn, not when the service starts (charts.py: why).
if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PAGE = (8.27, 5.8)  # inches: an A4 page's width, landscape-ish

WEEKDAYS = {"it": ["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
            "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}
TITLES = {
    "cover": {"it": "Coworking comunale: rapporto mensile {period}",
              "en": "Municipal coworking: monthly report {period}"},
    "burn_down": {"it": "Budget residuo per programma", "en": "Budget burn-down per programme"},
    "heatmap": {"it": "Occupazione per giorno e ora (ore prenotate)",
                "en": "Occupancy by weekday and hour (booked hours)"},
    "members": {"it": "Iscritti nel tempo", "en": "Members over time"},
    "demand": {"it": "Domanda dalle manifestazioni di interesse",
               "en": "Demand from the expressions of interest"},
    "meetings": {"it": "Incontri pubblici e partecipazione",
                 "en": "Public meetings and attendance"},
    "age_bands": {"it": "Nuovi iscritti per fascia d'età", "en": "New members by age band"},
}
PUBLIC_CHARTS = {"members-by-age-band": "members", "occupancy-heatmap": "occupancy-hours"}


def title(key: str, lang: str, **values: str) -> str:
    return TITLES[key][lang].format(**values)


@dataclass
class ReportData:
    period: str
    burn_down: dict[str, list[tuple[date, int]]] = field(default_factory=dict)  # remaining
    heatmap: dict[tuple[int, int], float] = field(default_factory=dict)
    members_by_month: list[tuple[str, int]] = field(default_factory=list)  # cumulative
    demand: dict[str, int] = field(default_factory=dict)  # "desk kind / weekday" -> count
    meetings: list[tuple[str, int, int]] = field(default_factory=list)  # title, capacity, came


def _figure(heading: str) -> tuple[Figure, Axes]:
    fig = new_figure(figsize=PAGE)
    ax = fig.add_subplot()
    ax.set_title(heading, fontsize=13)
    return fig, ax


def _empty(ax: Axes, lang: str) -> None:
    ax.text(0.5, 0.5, "Nessun dato" if lang == "it" else "No data", ha="center", va="center",
            fontsize=14, transform=ax.transAxes)


def burn_down_chart(series: Mapping[str, Sequence[tuple[date, int]]], lang: str) -> Figure:
    fig, ax = _figure(title("burn_down", lang))
    for name, points in series.items():
        if points:
            ax.step([d for d, _ in points], [c / 100 for _, c in points], where="post",
                    label=name)
    if any(series.values()):
        ax.set_ylabel("€")
        ax.legend(loc="upper right")
        fig.autofmt_xdate()
    else:
        _empty(ax, lang)
    return fig


def heatmap_chart(cells: Mapping[tuple[int, int], float], lang: str, subtitle: str = "") -> Figure:
    fig, ax = _figure(title("heatmap", lang) + (f" {subtitle}" if subtitle else ""))
    grid = [[cells.get((d, h), 0.0) for h in range(24)] for d in range(7)]
    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_yticks(range(7), WEEKDAYS[lang])
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    fig.colorbar(image, ax=ax)
    return fig


def members_chart(points: Sequence[tuple[str, int]], lang: str) -> Figure:
    fig, ax = _figure(title("members", lang))
    if points:
        ax.plot([p for p, _ in points], [n for _, n in points], marker="o")
        ax.fill_between(range(len(points)), [n for _, n in points], alpha=0.2)
        ax.tick_params(axis="x", rotation=45)
    else:
        _empty(ax, lang)
    return fig


def bars_chart(heading: str, values: Mapping[str, float | None], lang: str) -> Figure:
    fig, ax = _figure(heading)
    shown = {k: v for k, v in values.items() if v}
    if shown:
        ax.barh(list(shown), list(shown.values()), color="#1f6f8b")
    else:
        _empty(ax, lang)
    return fig


def meetings_chart(meetings: Sequence[tuple[str, int, int]], lang: str) -> Figure:
    fig, ax = _figure(title("meetings", lang))
    if meetings:
        names = [m[0][:30] for m in meetings]
        ax.barh(names, [m[1] for m in meetings], color="#cccccc",
                label="Capienza" if lang == "it" else "Capacity")
        ax.barh(names, [m[2] for m in meetings], color="#1f6f8b",
                label="Presenti" if lang == "it" else "Attendance")
        ax.legend()
    else:
        _empty(ax, lang)
    return fig


def report_pdf(data: ReportData, lang: str) -> bytes:
    """The multi-page PDF: a cover, then one chart per page."""
    cover = new_figure(figsize=PAGE)
    cover.text(0.5, 0.6, title("cover", lang, period=data.period), ha="center", fontsize=18)
    cover.text(0.5, 0.45, "Comune di Novi Ligure", ha="center", fontsize=12)
    pages = [cover, burn_down_chart(data.burn_down, lang), heatmap_chart(data.heatmap, lang),
             members_chart(data.members_by_month, lang),
             bars_chart(title("demand", lang), dict(data.demand), lang),
             meetings_chart(data.meetings, lang)]
    out = io.BytesIO()
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(out, metadata={"Title": title("cover", lang, period=data.period)}) as pdf:
        for fig in pages:
            pdf.savefig(fig)
    return out.getvalue()


def public_chart_png(name: str, published_csv: bytes, period: str, lang: str) -> bytes:
    """A public chart from a published (suppressed) CSV: hidden values are left out, never
    estimated."""
    rows = list(csv.DictReader(io.StringIO(published_csv.decode())))
    if name == "members-by-age-band":
        values = {r["age_band"]: float(r["members"]) for r in rows
                  if r["residence_istat"] == "total" and r["age_band"] != "total"
                  and r["members"]}
        fig = bars_chart(f"{title('age_bands', lang)} {period}", values, lang)
    else:
        index = {w: n for n, w in enumerate(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])}
        cells: dict[tuple[int, int], float] = defaultdict(float)
        for r in rows:
            cells[(index[r["weekday"]], int(r["hour"]))] = float(r["booked_hours"])
        fig = heatmap_chart(cells, lang, period)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=80)
    return out.getvalue()
