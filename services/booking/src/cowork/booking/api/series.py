"""Weekly series of bookings: booked together, cancelled together (in OpenAPI under
bookings)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg

from cowork.booking import commands, domain, store
from cowork.booking.api.dependencies import Policy, Transaction, booked_by, resource_or_404
from cowork.booking.api.representations import SeriesCancelledOut, SeriesOut, booking_view
from cowork.booking.api.schemas import NewSeries, SeriesCancellation
from cowork.shared.api import v1_router
from cowork.shared.auth import Caller, require_self_or_roles
from cowork.shared.http import ApiError, not_found
from cowork.shared.service import Runtime

router = v1_router(tags=["bookings"])


def _weekly(body: NewSeries, tz: ZoneInfo, weeks: int) -> Iterator[tuple[datetime, datetime]]:
    for week in range(weeks):
        # Same wall-clock time each week, whatever DST does in between.
        start = (body.start.astimezone(tz).replace(tzinfo=None)
                 + timedelta(weeks=week)).replace(tzinfo=tz)
        end = start.astimezone(UTC) + (body.end - body.start)  # real elapsed time
        yield start, end


async def _book_occurrence(conn: asyncpg.Connection, book: dict[str, Any], start: datetime,
                           end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """One occurrence in its own savepoint: booked, or why not (the series goes on)."""
    entry: dict[str, Any] = {"start": start.isoformat(), "end": end.astimezone(tz).isoformat()}
    try:
        async with conn.transaction():
            booking = await commands.book(conn, start=start, end=end, **book)
        entry.update(status="booked", booking_id=str(booking["id"]))
    except commands.Taken as exc:
        entry.update(status="conflict", reason=str(exc))
    except domain.RuleViolation as exc:
        entry.update(status="refused", code=exc.code, reason=str(exc))
    return entry


def _series_conflict(report: list[dict[str, Any]]) -> ApiError:
    # The occurrences that could be booked are rolled back with the rest: their booking ids
    # never existed, so the report does not give them.
    return ApiError(409, "series_conflict",
                    "not every occurrence can be booked; nothing was booked",
                    details={"occurrences": [
                        {"start": e["start"], "end": e["end"], "status": "not_booked"}
                        if e["status"] == "booked" else e for e in report]})


@router.post("/bookings/series", status_code=201, response_model=SeriesOut)
async def create_series(body: NewSeries, caller: Caller, runtime: Runtime, policy: Policy,
                        in_tx: Transaction) -> dict[str, Any]:
    """Weekly occurrences: all_or_nothing books every one or none (409 with the report);
    skip_conflicts books those it can and reports each occurrence."""
    require_self_or_roles(caller, body.member_id, "staff")
    weeks = body.occurrences()
    series_id, now = uuid4(), runtime.clock()
    report: list[dict[str, Any]] = []

    async def work(conn: asyncpg.Connection) -> None:
        resource = await resource_or_404(conn, body.resource_id)
        tz = ZoneInfo(resource["timezone"])
        book = {"member_id": body.member_id, "resource": resource, "now": now,
                "policy": policy, "booked_by": booked_by(caller), "series_id": series_id}
        for start, end in _weekly(body, tz, weeks):
            report.append(await _book_occurrence(conn, book, start, end, tz))
        if body.mode == "all_or_nothing" and any(e["status"] != "booked" for e in report):
            raise _series_conflict(report)

    await in_tx(work)
    return {"series_id": str(series_id), "mode": body.mode, "occurrences": report}


@router.post("/bookings/series/{series_id}/cancel", response_model=SeriesCancelledOut)
async def cancel_series(series_id: UUID, caller: Caller, runtime: Runtime, policy: Policy,
                        in_tx: Transaction, body: SeriesCancellation | None = None
                        ) -> dict[str, Any]:
    """The whole series, or its occurrences from a local day on; occurrences already
    started, checked in or cancelled are left as they are."""
    async with runtime.db.acquire() as conn:
        occurrences = await store.bookings_of_series(conn, series_id)
    if not occurrences:
        raise not_found("series", series_id)
    require_self_or_roles(caller, occurrences[0]["member_id"], "staff")
    cancelled = await in_tx(lambda conn: commands.cancel_series(
        conn, series_id, from_day=body.from_ if body else None, by=booked_by(caller),
        now=runtime.clock(), policy=policy))
    zone = occurrences[0]["timezone"]  # one resource, so one space
    return {"series_id": str(series_id),
            "cancelled": [booking_view(b, zone) for b in cancelled],
            "charged_cents": sum(b["charged_cents"] for b in cancelled)}
