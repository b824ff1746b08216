"""The council's monthly report: a PDF of charts, in Italian or English (officer, staff)."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

import asyncio
from collections import Counter
from typing import Literal

import asyncpg
from fastapi import Response

from cowork.community import charts_report
from cowork.community.api.open_data import checked_period
from cowork.community.domain import statistics as stats
from cowork.community.store import statistics as store
from cowork.shared.api import error_responses, v1_router
from cowork.shared.auth import OfficerOrStaffCaller
from cowork.shared.service import Runtime

router = v1_router(tags=["reports"])


async def report_data(conn: asyncpg.Connection, period: str) -> charts_report.ReportData:
    """The report's numbers up to the month's end (internal: not suppressed; the PDF goes to
    the council, never to the public pages)."""
    start, end = stats.month_bounds(period)
    data = charts_report.ReportData(period=period)
    programmes = {str(p["programme_id"]): p for p in await store.programmes(conn)}
    remaining = {pid: p["budget_cents"] for pid, p in programmes.items()}
    series: dict[str, list] = {p["name"]: [(p["valid_from"], p["budget_cents"])]
                               for p in programmes.values()}
    for flow in await store.flows_until(conn, end):
        pid = str(flow["programme_id"])
        if pid in programmes:
            remaining[pid] -= flow["cents"]
            series[programmes[pid]["name"]].append(
                (flow["at"].astimezone(stats.ROME).date(), remaining[pid]))
    data.burn_down = series
    data.heatmap = stats.heatmap(await store.bookings_between(conn, start, end))
    joined = Counter(m["joined_at"].astimezone(stats.ROME).strftime("%Y-%m")
                     for m in await store.members_until(conn, end))
    total = 0
    for month in sorted(joined):
        total += joined[month]
        data.members_by_month.append((month, total))
    demand: Counter[str] = Counter()
    for interest in await store.interest_until(conn, end):
        for kind in interest["desk_kinds"]:
            for day in interest["weekdays"]:
                demand[f"{kind} / {day}"] += 1
    data.demand = dict(demand.most_common(15))
    data.meetings = [(m["title"], m["capacity"],
                      m["attendance"] if m["attendance"] is not None else m["checked_in"])
                     for m in await store.meetings_until(conn, end)][-12:]
    return data


@router.get("/reports/{period}.pdf", responses={
    200: {"content": {"application/pdf": {}}}, **error_responses(401, 403, 422)})
async def monthly_report(period: str, runtime: Runtime, caller: OfficerOrStaffCaller,
                         lang: Literal["it", "en"] = "it") -> Response:
    checked_period(period)
    async with runtime.db.acquire() as conn:
        data = await report_data(conn, period)
    # Drawing takes a CPU-bound second: off the event loop.
    pdf = await asyncio.to_thread(charts_report.report_pdf, data, lang)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="report-{period}-{lang}.pdf"'})
