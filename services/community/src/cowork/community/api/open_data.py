"""Open data: the public list, the DCAT-AP_IT catalogue, the frozen CSVs at stable URLs and
the latest charts (drawn from the published, suppressed data only); the build for operators
and officers."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

import asyncio
import json
from typing import Annotated, Any

from fastapi import Depends, Query, Response

from cowork.community import charts_report
from cowork.community.commands.open_data import BuildSettings, build_month, dataset_url
from cowork.community.domain import dcat
from cowork.community.domain import statistics as stats
from cowork.community.store import statistics as store
from cowork.shared.api import error_responses, v1_router
from cowork.shared.auth import Principal, caller_with_roles
from cowork.shared.http import invalid, not_found
from cowork.shared.service import Runtime

router = v1_router(public=True, tags=["open-data"])
BuilderCaller = Annotated[Principal, Depends(caller_with_roles("operator", "officer"))]
Period = Annotated[str, Query(min_length=7, max_length=7, description="YYYY-MM")]


def build_settings(runtime: Any) -> BuildSettings:
    s = runtime.settings
    return BuildSettings(public_base_url=s.public_base_url, k=s.open_data_k,
                         open_hours_per_weekday=s.open_hours_per_weekday)


def checked_period(period: str) -> str:
    if not stats.is_period(period):
        raise invalid("period", "a period is YYYY-MM")
    return period


@router.get("/open-data")
async def open_data(runtime: Runtime) -> dict[str, Any]:
    """Every dataset built, month by month, with its URL and SHA-256; the DCAT-AP_IT record is
    at /v1/open-data/catalog.jsonld."""
    async with runtime.db.acquire() as conn:
        rows = await store.releases(conn)
    base = runtime.settings.public_base_url  # type: ignore[attr-defined]
    return {"catalog": f"{base.rstrip('/')}/v1/open-data/catalog.jsonld",
            "licence": dcat.LICENCE,
            "items": [{"dataset": r["dataset"], "period": r["period"], "sha256": r["sha256"],
                       "url": dataset_url(base, r["dataset"], r["period"]),
                       "built_at": r["built_at"].isoformat()} for r in rows]}


@router.get("/open-data/catalog.jsonld",
            responses={200: {"content": {"application/ld+json": {}}}})
async def open_data_catalog(runtime: Runtime) -> Response:
    async with runtime.db.acquire() as conn:
        rows = await store.releases(conn)
    s: Any = runtime.settings
    document = dcat.catalog(rows, base_url=s.public_base_url, ipa_code=s.open_data_ipa_code,
                            holder_name=s.open_data_rights_holder, now=runtime.clock())
    return Response(json.dumps(document, ensure_ascii=False), media_type="application/ld+json")


@router.post("/open-data/build", status_code=201, responses=error_responses(401, 403, 422))
async def build_open_data(period: Period, runtime: Runtime, caller: BuilderCaller) -> dict[str, Any]:
    """Freezes the month's datasets (a month already built keeps its bytes)."""
    checked_period(period)
    # Frozen is for good: a month built before it ends would keep its first days only.
    if stats.month_bounds(period)[1] > runtime.clock():
        raise invalid("period", "a month can be built once it is over")
    async with runtime.db.acquire() as conn, conn.transaction():
        items = await build_month(conn, period, build_settings(runtime), runtime.clock())
    return {"period": period, "items": items}


@router.get("/open-data/charts/{name}.png", responses={200: {"content": {"image/png": {}}}})
async def open_data_chart(name: str, runtime: Runtime, lang: str = "it") -> Response:
    """The latest month's chart, drawn from the published CSV only."""
    if name not in charts_report.PUBLIC_CHARTS:
        raise not_found("chart", name)
    dataset = charts_report.PUBLIC_CHARTS[name]
    async with runtime.db.acquire() as conn:
        latest = await conn.fetchrow(
            "SELECT period, csv FROM open_data_releases WHERE dataset = $1 "
            "ORDER BY period DESC LIMIT 1", dataset)
    if latest is None:
        raise not_found("chart", name)
    # Drawn in a worker thread, like the report: a chart takes a CPU's tenths of a second
    # that the event loop (every other request) must not wait for.
    png = await asyncio.to_thread(charts_report.public_chart_png, name, bytes(latest["csv"]),
                                  latest["period"], "en" if lang == "en" else "it")
    return Response(png, media_type="image/png")


@router.get("/open-data/{dataset}/{period}.csv",
            responses={200: {"content": {"text/csv": {}}}})
async def dataset_csv(dataset: str, period: str, runtime: Runtime) -> Response:
    checked_period(period)
    if dataset not in stats.DATASETS:
        raise not_found("dataset", dataset)
    async with runtime.db.acquire() as conn:
        release = await store.release(conn, dataset, period)
    if release is None:
        raise not_found("dataset month", f"{dataset}/{period}")
    return Response(bytes(release["csv"]), media_type="text/csv; charset=utf-8",
                    headers={"ETag": f'"{release["sha256"]}"',
                             "X-Content-SHA256": release["sha256"],
                             "Content-Disposition":
                                 f'attachment; filename="{dataset}-{period}.csv"'})
