"""Reports for staff: occupancy of a space, computed in SQL."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

import csv
import io
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query, Request
from fastapi.responses import PlainTextResponse

from cowork.booking import domain, store
from cowork.booking.api.representations import REPORT_COLUMNS, OccupancyOut, report_line
from cowork.shared.api import ApiDate, v1_router
from cowork.shared.auth import StaffCaller, require_roles
from cowork.shared.http import invalid, not_found
from cowork.shared.service import Runtime

router = v1_router(tags=["reports"])


def _as_csv(lines: list[dict[str, Any]]) -> PlainTextResponse:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(REPORT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)
    return PlainTextResponse(out.getvalue(), media_type="text/csv")


@router.get("/reports/occupancy", response_model=OccupancyOut,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "JSON, or CSV with `Accept: text/csv`"}})
async def occupancy(request: Request, caller: StaffCaller, runtime: Runtime, space_id: UUID,
                    from_: Annotated[ApiDate, Query(alias="from")], to: ApiDate,
                    by: Literal["day", "month"] = "day") -> Any:
    """Per period (local day or month), per resource, per kind and for the space: open
    minutes, booked minutes, utilisation (booked ÷ open), bookings, check-ins, no-shows,
    cancellations — computed in SQL. JSON, or CSV with `Accept: text/csv`."""
    require_roles(caller, "staff")
    if to < from_:
        raise invalid("to", "to is before from")
    if (to - from_).days > 731:
        raise invalid("to", "at most two years at once")
    async with runtime.db.acquire() as conn:
        if await store.space_by_id(conn, space_id) is None:
            raise not_found("space", space_id)
        rows = await store.occupancy(conn, space_id, from_, to,
                                     domain.public_holidays(from_, to), by)
    lines = [report_line(r, by) for r in rows]
    if "text/csv" in request.headers.get("accept", ""):
        return _as_csv(lines)
    return {"space_id": str(space_id), "from": from_.isoformat(), "to": to.isoformat(),
            "by": by, "items": lines}
