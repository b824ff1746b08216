"""The open-data page: the published datasets month by month with their CSV downloads, the
DCAT-AP_IT catalogue, the licence (CC BY 4.0) and the public charts, each with a text
alternative that states what it shows, read from the same published (suppressed) CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cowork.community.charts_report import PUBLIC_CHARTS
from cowork.community.domain import dcat
from cowork.community.domain.interest import WEEKDAYS
from cowork.community.pages import i18n
from cowork.community.pages.rendering import render
from cowork.community.store import statistics as store
from cowork.shared.service import Runtime

router = APIRouter(include_in_schema=False)

CATALOG = "/v1/open-data/catalog.jsonld"


def _rows(published_csv: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(published_csv.decode())))


def _number(value: float) -> str:
    return f"{value:g}"


def age_bands_text(rows: list[dict[str, str]], lang: str, k: int) -> str:
    """The bars of members-by-age-band, as words: each band's count, or that it is hidden."""
    bands = [r for r in rows if r["residence_istat"] == "total" and r["age_band"] != "total"]
    if not bands:
        return i18n.text("chart.no_data", lang)
    hidden = i18n.text("chart.hidden", lang).format(k=k)
    values = "; ".join(f"{r['age_band']}: {r['members'] or hidden}" for r in bands)
    return i18n.text("chart.bands", lang).format(values=values)


def hours_text(rows: list[dict[str, str]], lang: str) -> str:
    """The heatmap of booked hours, as words: the total and the busiest slot."""
    cells = [(float(r["booked_hours"]), r["weekday"], int(r["hour"])) for r in rows
             if r["booked_hours"]]
    total = sum(hours for hours, _, _ in cells)
    if total == 0:
        return i18n.text("chart.no_data", lang)
    # The busiest slot; of equal ones the earliest in the week (the chart's reading order).
    peak, weekday, hour = max(cells, key=lambda c: (c[0], -WEEKDAYS.index(c[1]), -c[2]))
    return i18n.text("chart.hours", lang).format(
        total=_number(total), day=i18n.text(f"day.{weekday}", lang).lower(), hour=f"{hour:02d}",
        next=f"{(hour + 1) % 24:02d}", peak=_number(peak))


async def _charts(conn: Any, built: list[Any], lang: str, k: int) -> list[dict[str, str]]:
    latest = {r["dataset"]: r["period"] for r in built}  # releases come in period order
    charts = []
    for name, dataset in PUBLIC_CHARTS.items():
        if dataset not in latest:
            continue
        release = await store.release(conn, dataset, latest[dataset])
        rows = _rows(bytes(release["csv"]))
        title = i18n.text(f"chart.{name}", lang).format(period=latest[dataset])
        text = age_bands_text(rows, lang, k) if dataset == "members" else hours_text(rows, lang)
        charts.append({"src": f"/v1/open-data/charts/{name}.png?lang={lang}", "title": title,
                       "alt": f"{title}. {text}"})
    return charts


@router.get("/open-data", name="pages.open_data", response_class=HTMLResponse)
async def open_data(request: Request, runtime: Runtime, lang: str | None = None) -> HTMLResponse:
    lang = i18n.language(lang)
    k: int = runtime.settings.open_data_k  # type: ignore[attr-defined]
    async with runtime.db.acquire() as conn:
        built = list(await store.releases(conn))
        charts = await _charts(conn, built, lang, k)
    datasets = [{"name": r["dataset"], "period": r["period"],
                 "title": i18n.text(f"dataset.{r['dataset']}", lang),
                 "href": f"/v1/open-data/{r['dataset']}/{r['period']}.csv", "sha256": r["sha256"]}
                for r in sorted(built, key=lambda r: (r["dataset"], r["period"]), reverse=False)]
    return render(request, "open_data.html", lang, datasets=datasets, charts=charts,
                  catalog=CATALOG, licence=dcat.LICENCE,
                  lead=i18n.text("open_data.lead", lang).format(k=k))
