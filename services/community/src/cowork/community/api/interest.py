"""Expressions of interest: the public form's endpoint and the council's demand summary
(JSON, CSV or a PNG chart)."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

import asyncio
import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import Header, Query, Response
from pydantic import AfterValidator, EmailStr, Field, field_validator

from cowork.community import charts
from cowork.community.commands.interest import demand_summary, express_interest
from cowork.community.domain.demand import DESK_KINDS_NEEDING_A_DESK, DemandSummary
from cowork.community.domain.interest import (
    TIME_BANDS,
    WEEKDAYS,
    DeskKind,
    Frequency,
    TimeBand,
    Weekday,
    Who,
    duplicates,
)
from cowork.shared.api import ApiDate, Representation, Strict, error_responses, v1_router
from cowork.shared.api import translated_errors as api_errors
from cowork.shared.auth import OfficerOrStaffCaller, require_roles
from cowork.shared.http import invalid
from cowork.shared.service import Runtime

router = v1_router(public=True, tags=["interest"])
# The council's town: a day of the summary's `from`/`to` is a day there.
TOWN = ZoneInfo("Europe/Rome")
_errors = api_errors()


def _unique(values: list[str]) -> list[str]:
    if twice := duplicates(values):
        raise ValueError(f"chosen more than once: {', '.join(twice)}")
    return values


DeskKinds = Annotated[list[DeskKind], Field(min_length=1, max_length=5), AfterValidator(_unique)]
Weekdays = Annotated[list[Weekday], Field(min_length=1, max_length=7), AfterValidator(_unique)]
TimeBands = Annotated[list[TimeBand], Field(min_length=1, max_length=3),
                      AfterValidator(_unique)]


class Consents(Strict):
    privacy: bool = Field(description="must be true: the privacy notice was read and accepted")

    @field_validator("privacy")
    @classmethod
    def accepted(cls, value: bool) -> bool:
        if not value:
            raise ValueError("the privacy notice must be accepted")
        return value


class NewInterest(Strict):
    who: Who
    residence_istat: Annotated[str, Field(pattern=r"^[0-9]{6}$",
                                          description="ISTAT municipality code")] | None = None
    desk_kinds: DeskKinds
    weekdays: Weekdays
    time_bands: TimeBands
    frequency: Frequency
    would_help_run: bool
    email: Annotated[EmailStr, Field(max_length=254)] | None = Field(
        None, description="only to erase it later, or be told when the space opens; "
                          "never leaves this service")
    consents: Consents


class InterestCreated(Representation):
    id: UUID


@router.post("/interest", status_code=201, response_model=InterestCreated,
             responses=error_responses(422))
async def express(body: NewInterest, runtime: Runtime) -> dict[str, Any]:
    """Public: the "manifestazione di interesse" form. Stored with its event
    (`interest.expressed`, without the address) in one transaction."""
    spec = body.model_dump(exclude={"consents"})
    async with _errors(), runtime.db.acquire() as conn, conn.transaction():
        interest_id = await express_interest(conn, spec, runtime.clock())
    return {"id": interest_id}


# ---------------------------------------------------------------- the council's summary


def _bounds(from_: date | None, to: date | None) -> tuple[datetime | None, datetime | None]:
    """[from 00:00, the day after `to` 00:00) in the town's time."""
    if from_ is not None and to is not None and to < from_:
        raise invalid("to", "`to` is before `from`")
    start = datetime.combine(from_, time(), TOWN) if from_ else None
    end = datetime.combine(to + timedelta(days=1), time(), TOWN) if to else None
    return start, end


def summary_view(summary: DemandSummary, from_: date | None, to: date | None) -> dict[str, Any]:
    return {
        "from": from_, "to": to,
        "total_respondents": summary.total,
        "by_who": summary.by_who,
        "would_help_run": {"count": summary.helpers, "share": summary.helper_share},
        "demand": [{"desk_kind": kind, "weekday": day, "time_band": band, "respondents": n}
                   for (kind, day, band), n in summary.cells.items()],
        "implied_desks": {
            "desks": summary.peak.desks,
            "peak_weekday": summary.peak.weekday, "peak_time_band": summary.peak.time_band,
            "expected_desk_users_at_peak": float(summary.peak.expected),
            "desk_kinds": list(DESK_KINDS_NEEDING_A_DESK),
            "rule": "for each weekday x time band, the respondents wanting a desk on it, "
                    "weighted by frequency (daily 1, weekly 1, monthly 0.25, occasional 0.1); "
                    "the peak cell, rounded up",
        },
    }


def summary_csv(summary: DemandSummary) -> bytes:
    """One row per desk kind x weekday x time band: what a spreadsheet pivots."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["desk_kind", "weekday", "time_band", "respondents"])
    for (kind, day, band), n in summary.cells.items():
        writer.writerow([kind, day, band, n])
    return out.getvalue().encode()


class SummaryView(Representation):
    total_respondents: int
    by_who: dict[str, int]
    would_help_run: dict[str, float]
    demand: list[dict[str, Any]]
    implied_desks: dict[str, Any]


From = Annotated[ApiDate | None, Query(alias="from")]
_SUMMARY = {200: {"description": "JSON, or CSV with `Accept: text/csv` (one row per desk "
                                 "kind x weekday x time band); `X-Implied-Desks`, "
                                 "`X-Total-Respondents`",
                  "content": {"text/csv": {"schema": {"type": "string"}}}},
            **error_responses(401, 403, 422)}


@router.get("/interest/summary", response_model=SummaryView, responses=_SUMMARY)
async def interest_summary(runtime: Runtime, caller: OfficerOrStaffCaller, from_: From = None,
                           to: ApiDate | None = None,
                           accept: Annotated[str | None, Header()] = None) -> Response:
    """The demand for the council: by desk kind x weekday x time band, the desk count the
    peak implies, the share willing to help run the space, the respondents by `who`."""
    require_roles(caller, "officer", "staff")
    start, end = _bounds(from_, to)
    async with runtime.db.acquire() as conn:
        summary = await demand_summary(conn, start, end)
    headers = {"X-Implied-Desks": str(summary.peak.desks),
               "X-Total-Respondents": str(summary.total)}
    if accept and "text/csv" in accept:
        headers["Content-Disposition"] = 'attachment; filename="interest-summary.csv"'
        return Response(summary_csv(summary), media_type="text/csv; charset=utf-8",
                        headers=headers)
    body = SummaryView.model_validate(summary_view(summary, from_, to))
    return Response(body.model_dump_json(), media_type="application/json", headers=headers)


@router.get("/interest/summary.png", responses={
    200: {"description": "A heatmap of respondents by weekday x time band",
          "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
    **error_responses(401, 403, 422)}, response_class=Response)
async def interest_summary_chart(runtime: Runtime, caller: OfficerOrStaffCaller,
                                 from_: From = None, to: ApiDate | None = None) -> Response:
    require_roles(caller, "officer", "staff")
    start, end = _bounds(from_, to)
    async with runtime.db.acquire() as conn:
        summary = await demand_summary(conn, start, end)
    # Drawing takes tens of milliseconds of CPU: off the event loop.
    png = await asyncio.to_thread(charts.demand_heatmap, summary.respondents_by_slot(),
                                  WEEKDAYS, TIME_BANDS)
    return Response(png, media_type="image/png")
