"""Response bodies of the booking API and the views that make them from store rows.

Output enums are plain strings: a value added later must not fail a response."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import Field

from cowork.shared.api import Representation


class SpaceOut(Representation):
    id: UUID
    name: str
    address: str
    timezone: str
    opening_hours: dict[str, list[list[str]]]
    closures: list[str]


class ResourceOut(Representation):
    id: UUID
    space_id: UUID
    name: str
    kind: str
    seats: int
    price_per_hour_cents: int
    price_per_day_cents: int | None
    slot_minutes: int
    min_minutes: int
    max_minutes: int
    advance_days: int
    buffer_minutes: int
    plan_codes: list[str] | None
    pay_per_use: bool
    in_service: bool


class ClosureOut(Representation):
    id: UUID
    space_id: UUID
    from_: date = Field(alias="from")
    to: date
    reason: str


class NewClosureOut(ClosureOut):
    cancelled_bookings: int = Field(description="confirmed bookings the closure cancelled")


class BookingOut(Representation):
    id: UUID
    member_id: UUID
    resource_id: UUID
    space_id: UUID
    resource_kind: str
    start: datetime = Field(description="with its offset in the space's timezone")
    end: datetime = Field(description="with its offset in the space's timezone")
    status: str = Field(description="confirmed | checked_in | cancelled | no_show | ...")
    price_cents: int
    charged_cents: int
    series_id: UUID | None
    via_waitlist: bool
    checked_in_at: datetime | None
    checked_in_by: str | None = Field(description="member | staff")
    cancelled_by: str | None = Field(description="member | staff | system")
    cancel_reason: str | None


class AgendaBookingOut(BookingOut):
    resource_name: str


class AgendaOut(Representation):
    space_id: UUID
    date: date
    closed: str | None = Field(description="why the space is closed that day, if it is")
    items: list[AgendaBookingOut]
    in_now: list[AgendaBookingOut] = Field(description="checked in and not yet over")


class SeriesCancelledOut(Representation):
    series_id: UUID
    cancelled: list[BookingOut]
    charged_cents: int


class NoShowsOut(Representation):
    member_id: UUID
    no_shows: int
    no_shows_last_90_days: int
    last_no_show_at: datetime | None
    late_cancellations: int
    check_ins: int
    latest: list[BookingOut]


class OccupancyLine(Representation):
    period: str = Field(description="YYYY-MM-DD, or YYYY-MM by month")
    scope: str = Field(description="resource | kind | space")
    resource_id: UUID | None
    resource_name: str | None
    kind: str | None
    open_minutes: int
    booked_minutes: int
    utilisation: float | None
    bookings: int
    check_ins: int
    no_shows: int
    cancellations: int


class OccupancyOut(Representation):
    space_id: UUID
    from_: date = Field(alias="from")
    to: date
    by: str
    items: list[OccupancyLine]


class WaitlistEntryOut(Representation):
    id: UUID
    member_id: UUID
    resource_id: UUID
    start: datetime = Field(description="with its offset in the space's timezone")
    end: datetime = Field(description="with its offset in the space's timezone")
    status: str = Field(description="waiting | promoted | withdrawn")
    created_at: datetime
    booking_id: UUID | None = Field(description="the booking it was promoted to")


class FreeInterval(Representation):
    start: datetime
    end: datetime


class AvailabilityOut(Representation):
    resource_id: UUID
    date: date
    in_service: bool
    closed: str | None = Field(description="why the space is closed that day, if it is")
    free: list[FreeInterval]


class Occurrence(Representation):
    start: datetime
    end: datetime
    status: str = Field(description="booked | conflict | refused")
    booking_id: UUID | None = None
    code: str | None = None
    reason: str | None = None


class SeriesOut(Representation):
    series_id: UUID
    mode: str
    occurrences: list[Occurrence]


# ---------------------------------------------------------------- views of store rows


def space_view(s: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(s["id"]), "name": s["name"], "address": s["address"],
            "timezone": s["timezone"], "opening_hours": s["opening_hours"],
            "closures": list(s["closures"])}


def resource_view(r: asyncpg.Record) -> dict[str, Any]:
    keys = ("name", "kind", "seats", "price_per_hour_cents", "price_per_day_cents",
            "slot_minutes", "min_minutes", "max_minutes", "advance_days", "buffer_minutes",
            "plan_codes", "pay_per_use", "in_service")
    return {"id": str(r["id"]), "space_id": str(r["space_id"]), **{k: r[k] for k in keys}}


def closure_view(c: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(c["id"]), "space_id": str(c["space_id"]), "from": c["from_day"],
            "to": c["to_day"], "reason": c["reason"]}


def booking_view(b: asyncpg.Record, zone: str) -> dict[str, Any]:
    """Times with their offset in the space's zone (what the member reads on the door)."""
    tz = ZoneInfo(zone)
    return {"id": str(b["id"]), "member_id": str(b["member_id"]),
            "resource_id": str(b["resource_id"]), "space_id": str(b["space_id"]),
            "resource_kind": b["resource_kind"], "start": b["starts_at"].astimezone(tz),
            "end": b["ends_at"].astimezone(tz),
            "status": b["status"], "price_cents": b["price_cents"],
            "charged_cents": b["charged_cents"],
            "series_id": str(b["series_id"]) if b["series_id"] else None,
            "via_waitlist": b["via_waitlist"], "checked_in_at": b["checked_in_at"],
            "checked_in_by": b["checked_in_by"], "cancelled_by": b["cancelled_by"],
            "cancel_reason": b["cancel_reason"]}


REPORT_COLUMNS = ("period", "scope", "resource_id", "resource_name", "kind", "open_minutes",
                  "booked_minutes", "utilisation", "bookings", "check_ins", "no_shows",
                  "cancellations")


def report_line(r: asyncpg.Record, by: str) -> dict[str, Any]:
    period = r["period"].isoformat()[:7] if by == "month" else r["period"].isoformat()
    return {**{k: r[k] for k in REPORT_COLUMNS}, "period": period,
            "resource_id": str(r["resource_id"]) if r["resource_id"] else None,
            "utilisation": float(r["utilisation"]) if r["utilisation"] is not None else None}


def agenda_view(b: asyncpg.Record, zone: str) -> dict[str, Any]:
    return {**booking_view(b, zone), "resource_name": b["resource_name"]}


def waitlist_view(w: asyncpg.Record, zone: str) -> dict[str, Any]:
    tz = ZoneInfo(zone)
    return {"id": str(w["id"]), "member_id": str(w["member_id"]),
            "resource_id": str(w["resource_id"]), "start": w["starts_at"].astimezone(tz),
            "end": w["ends_at"].astimezone(tz),
            "status": w["status"], "created_at": w["created_at"],
            "booking_id": str(w["booking_id"]) if w["booking_id"] else None}

