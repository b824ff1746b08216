"""HTTP API v1 of the booking service (API.md)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, available_timezones

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import ConfigDict, Field, field_validator

from cowork.booking import commands, domain, store
from cowork.booking.resource_cache import ResourceCache
from cowork.shared.api import (
    DEFAULT_PAGE_SIZE,
    ApiDate,
    ApiDateTime,
    Cents,
    Code,
    CursorParam,
    DateOrDateTime,
    Limit,
    LongText,
    Page,
    Representation,
    Strict,
    Text,
    decode_cursor,
    encode_cursor,
    page_in_memory,
    transactions,
    v1_router,
)
from cowork.shared.api import translated_errors as api_errors
from cowork.shared.auth import Authenticator, Principal, require_roles, require_self_or_roles
from cowork.shared.http import ApiError, NotFound, invalid, not_found
from cowork.shared.service import ServiceRuntime

Kind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_OPENS = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_CLOSES = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_CLOSURE = re.compile(r"^(\d{4}-)?(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
Closure = Annotated[str, Field(max_length=10)]
# A space's day of opening: a few ranges, each ["HH:MM" opens, "HH:MM" closes].
DayRanges = Annotated[list[Annotated[list[Annotated[str, Field(max_length=5)]],
                                     Field(min_length=2, max_length=2)]],
                      Field(max_length=8)]


@cache
def _iana_zones() -> frozenset[str]:
    # Not `localtime`/`posixrules`: they name the server's own zone, not a place.
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def check_day_ranges(day: str, ranges: list[list[str]]) -> None:
    """Each range opens before it closes (24:00 only closes), and the ranges of a day are in
    order without overlapping: an availability over them must be computable."""
    previous_close = ""
    for opens, closes in ranges:
        if not _OPENS.match(opens):
            raise ValueError(f"{day}: a range opens at HH:MM between 00:00 and 23:59, "
                             f"not {opens!r}")
        if not _CLOSES.match(closes):
            raise ValueError(f"{day}: a range closes at HH:MM between 00:01 and 24:00, "
                             f"not {closes!r}")
        if closes <= opens:
            raise ValueError(f"{day}: {opens}-{closes} closes before it opens")
        if opens < previous_close:
            raise ValueError(f"{day}: the ranges overlap or are out of order at {opens}")
        previous_close = closes


class NewSpace(Strict):
    name: Text
    address: Text
    timezone: Annotated[str, Field(max_length=64, description="an IANA zone, e.g. Europe/Rome")
                        ] = "Europe/Rome"
    opening_hours: dict[Weekday, DayRanges]
    closures: Annotated[list[Closure], Field(max_length=400)] = Field(
        default_factory=list, description="'YYYY-MM-DD' once, or 'MM-DD' every year")

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str) -> str:
        if value not in _iana_zones():
            raise ValueError(f"unknown timezone {value!r}; use an IANA zone such as Europe/Rome")
        ZoneInfo(value)
        return value

    @field_validator("opening_hours")
    @classmethod
    def ranges_are_times(cls, hours: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
        for day, ranges in hours.items():
            check_day_ranges(day, ranges)
        return hours

    @field_validator("closures")
    @classmethod
    def closures_are_dates(cls, closures: list[str]) -> list[str]:
        for closure in closures:
            if not _CLOSURE.match(closure):
                raise ValueError(f"{closure!r} is neither YYYY-MM-DD nor MM-DD")
            if len(closure) == 10:
                day = date.fromisoformat(closure)
                if not 1900 <= day.year <= 2199:
                    raise ValueError(f"{closure!r} is out of range")
        return closures


class NewResource(Strict):
    name: Text
    kind: Kind
    seats: Annotated[int, Field(ge=1, le=1000)] = 1
    # At most 10,000 euros an hour / a day: a week's booking still fits an `integer` of cents.
    price_per_hour_cents: Annotated[Cents, Field(le=1_000_000)]
    price_per_day_cents: Annotated[Cents, Field(le=1_000_000)] | None = None
    slot_minutes: Annotated[int, Field(ge=5, le=1440)] = 30
    min_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] = 30
    max_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] = 600
    advance_days: Annotated[int, Field(ge=0, le=730)] = 60
    buffer_minutes: Annotated[int, Field(ge=0, le=240)] = 0
    plan_codes: Annotated[list[Code], Field(min_length=1, max_length=50)] | None = Field(
        None, description="only members on these plans may book it (absent: any plan that "
                          "includes its kind)")
    pay_per_use: bool = Field(False, description="members whose plan does not cover it may "
                                                 "book it at the tariff")

    @field_validator("plan_codes")
    @classmethod
    def distinct_plans(cls, codes: list[str] | None) -> list[str] | None:
        if codes is not None and len(set(codes)) != len(codes):
            raise ValueError("plan codes repeat")
        return codes


class SpaceChanges(Strict):
    """Any field of creation; what is absent stays as it is."""

    name: Text | None = None
    address: Text | None = None
    timezone: Annotated[str, Field(max_length=64, description="an IANA zone, e.g. Europe/Rome")
                        ] | None = None
    opening_hours: dict[Weekday, DayRanges] | None = None
    closures: Annotated[list[Closure], Field(max_length=400)] | None = None

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str | None) -> str | None:
        return None if value is None else NewSpace.known_timezone(value)

    @field_validator("opening_hours")
    @classmethod
    def ranges_are_times(cls, hours: dict[str, list[list[str]]] | None
                         ) -> dict[str, list[list[str]]] | None:
        return None if hours is None else NewSpace.ranges_are_times(hours)

    @field_validator("closures")
    @classmethod
    def closures_are_dates(cls, closures: list[str] | None) -> list[str] | None:
        return None if closures is None else NewSpace.closures_are_dates(closures)


class ResourceChanges(Strict):
    """Any field of creation, and `in_service`; what is absent stays as it is."""

    name: Text | None = None
    kind: Kind | None = None
    seats: Annotated[int, Field(ge=1, le=1000)] | None = None
    price_per_hour_cents: Annotated[Cents, Field(le=1_000_000)] | None = None
    price_per_day_cents: Annotated[Cents, Field(le=1_000_000)] | None = None
    slot_minutes: Annotated[int, Field(ge=5, le=1440)] | None = None
    min_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] | None = None
    max_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] | None = None
    advance_days: Annotated[int, Field(ge=0, le=730)] | None = None
    buffer_minutes: Annotated[int, Field(ge=0, le=240)] | None = None
    plan_codes: Annotated[list[Code], Field(min_length=1, max_length=50)] | None = None
    pay_per_use: bool | None = None
    in_service: bool | None = None

    @field_validator("plan_codes")
    @classmethod
    def distinct_plans(cls, codes: list[str] | None) -> list[str] | None:
        return NewResource.distinct_plans(codes)


NULLABLE_RESOURCE_FIELDS = frozenset({"price_per_day_cents", "plan_codes"})


class NewClosure(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    from_: ApiDate = Field(alias="from")
    to: ApiDate
    # Free text a person reads on the booking it cancelled: no NUL or hidden characters.
    reason: Annotated[LongText, Field(min_length=3, max_length=500)]


class NewBooking(Strict):
    member_id: UUID
    resource_id: UUID | None = None
    space_id: UUID | None = Field(None, description="with resource_kind: any free resource")
    resource_kind: Kind | None = None
    start: ApiDateTime
    end: ApiDateTime


MAX_SERIES_WEEKS = 52


class NewSeries(Strict):
    member_id: UUID
    resource_id: UUID
    start: ApiDateTime
    end: ApiDateTime
    # The weekly recurrence, said one way of three: how many weeks (`weeks`, or `count` as
    # RFC 5545 names it), or the last local day an occurrence may fall on (`until`).
    weeks: Annotated[int | None, Field(ge=1, le=MAX_SERIES_WEEKS, description=(
        "how many weekly occurrences, the first included"))] = None
    count: Annotated[int | None, Field(ge=1, le=MAX_SERIES_WEEKS, description=(
        "the same as weeks"))] = None
    until: ApiDate | None = Field(None, description="the last day (in the start's own offset) "
                                  "an occurrence may fall on, instead of weeks")
    recurrence: Literal["weekly"] = Field("weekly", description="only weekly series exist")
    mode: Literal["all_or_nothing", "skip_conflicts"] = "all_or_nothing"

    def occurrences(self) -> int:
        """How many weeks the series spans; exactly one of weeks, count and until is given."""
        given = [name for name in ("weeks", "count", "until") if getattr(self, name) is not None]
        if len(given) != 1:
            raise invalid(given[1] if given else "weeks",
                          "give the series' length once: weeks, count or until")
        if self.until is None:
            return int(self.weeks or self.count or 0)
        days = (self.until - self.start.date()).days
        if days < 0 or days // 7 + 1 > MAX_SERIES_WEEKS:
            raise invalid("until", f"must fall between the first occurrence's day and "
                                   f"{MAX_SERIES_WEEKS} weeks after it")
        return days // 7 + 1


class SeriesCancellation(Strict):
    from_: ApiDate | None = Field(None, alias="from", description="the first local day to cancel "
                               "(absent: every occurrence not yet started)")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeskCheckIn(Strict):
    member_id: UUID


class NewWaitlistEntry(Strict):
    member_id: UUID
    resource_id: UUID
    start: ApiDateTime
    end: ApiDateTime


# ---------------------------------------------------------------- representations
# Output enums are plain strings: a value added later must not fail a response.


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


def _rule_violation(exc: Exception) -> ApiError | None:
    if isinstance(exc, commands.Taken):
        return ApiError(409, "slot_taken", f"the resource is {exc}", field="start",
                        details={"conflict": {"start": exc.start.isoformat(),
                                              "end": exc.end.isoformat()}})
    if isinstance(exc, domain.RuleViolation):
        return ApiError(exc.status, exc.code, str(exc), field=exc.field)
    return None


# The rules' and the database's refusals (a deadlock PostgreSQL rolled back: nothing
# half-done, 409 try again) become API.md errors.
translated_errors = api_errors(_rule_violation)


def router(runtime: ServiceRuntime, policy: commands.Policy) -> APIRouter:
    Caller = Annotated[Principal,
                       Depends(Authenticator.from_settings(runtime.settings).principal())]
    api = v1_router()
    in_tx = transactions(runtime, translated_errors)

    def booked_by(caller: Principal) -> str:
        return "staff" if caller.has("staff") else "member"

    # Bookings and availability try the resource row kept from an earlier request
    # (resource_cache: the booking statement and the availability query check its version; a
    # refusal or an answer on a stale row is made again on a fresh one); everything else reads
    # it on every request: staff change resources and spaces (PATCH, closures) through any
    # replica.
    kept_resources = ResourceCache()

    async def resource_or_404(conn: asyncpg.Connection, resource_id: UUID) -> asyncpg.Record:
        resource = await store.resource_by_id(conn, resource_id)
        if resource is None:
            raise NotFound("resource", resource_id)
        return resource

    # -- spaces and resources

    @api.post("/spaces", status_code=201, tags=["spaces"], response_model=SpaceOut)
    async def create_space(body: NewSpace, caller: Caller) -> dict[str, Any]:
        require_roles(caller, "staff")
        space = await in_tx(lambda conn: commands.create_space(
            conn, now=runtime.clock(), **body.model_dump()))
        return space_view(space)

    @api.get("/spaces", tags=["spaces"], response_model=Page[SpaceOut])
    async def spaces(caller: Caller, cursor: CursorParam = None,
                     limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            return page_in_memory([space_view(s) for s in await store.list_spaces(conn)],
                                  cursor, limit)

    @api.get("/spaces/{space_id}", tags=["spaces"], response_model=SpaceOut)
    async def space(space_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            row = await store.space_by_id(conn, space_id)
        if row is None:
            raise not_found("space", space_id)
        return space_view(row)

    @api.patch("/spaces/{space_id}", tags=["spaces"], response_model=SpaceOut)
    async def change_space(space_id: UUID, body: SpaceChanges, caller: Caller) -> dict[str, Any]:
        """Any field of creation. Confirmed future bookings the new calendar forbids are
        cancelled by the system (`space_closed`, `opening_hours_changed`)."""
        require_roles(caller, "staff")
        changes = body.model_dump(exclude_unset=True)
        for field, value in changes.items():
            if value is None:
                raise invalid(field, f"{field} cannot be removed")
        space = await in_tx(lambda conn: commands.change_space(
            conn, space_id, changes, now=runtime.clock(), policy=policy))
        kept_resources.forget()
        return space_view(space)

    @api.post("/spaces/{space_id}/closures", status_code=201, tags=["spaces"],
              response_model=NewClosureOut)
    async def close_space(space_id: UUID, body: NewClosure, caller: Caller) -> dict[str, Any]:
        """Closes the space from `from` to `to` (dates, inclusive) for `reason`; the confirmed
        bookings on those days are cancelled by the system (`space_closed`)."""
        require_roles(caller, "staff")
        if body.to < body.from_:
            raise invalid("to", "to is before from")
        if (body.to - body.from_).days > 366:
            raise invalid("to", "a closure lasts at most 367 days")
        if body.to < runtime.clock().date():
            raise invalid("to", "the closure is over already")
        closure, cancelled = await in_tx(lambda conn: commands.close_space(
            conn, space_id, from_day=body.from_, to_day=body.to, reason=body.reason,
            now=runtime.clock(), policy=policy))
        kept_resources.forget()
        return {**closure_view(closure), "cancelled_bookings": cancelled}

    @api.get("/spaces/{space_id}/closures", tags=["spaces"], response_model=Page[ClosureOut])
    async def closures(space_id: UUID, caller: Caller, cursor: CursorParam = None,
                       limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            if await store.space_by_id(conn, space_id) is None:
                raise not_found("space", space_id)
            return page_in_memory([closure_view(c) for c in
                                   await store.closures_of(conn, space_id)], cursor, limit)

    @api.patch("/resources/{resource_id}", tags=["spaces"], response_model=ResourceOut)
    async def change_resource(resource_id: UUID, body: ResourceChanges, caller: Caller
                              ) -> dict[str, Any]:
        """Any field of creation, and `in_service`; `resource.published` again. Out of service:
        its confirmed future bookings are cancelled by the system (`resource_out_of_service`)."""
        require_roles(caller, "staff")
        changes = body.model_dump(exclude_unset=True)
        for field, value in changes.items():
            if value is None and field not in NULLABLE_RESOURCE_FIELDS:
                raise invalid(field, f"{field} cannot be removed")
        resource = await in_tx(lambda conn: commands.change_resource(
            conn, resource_id, changes, now=runtime.clock(), policy=policy))
        kept_resources.forget()
        return resource_view(resource)

    @api.get("/resources/{resource_id}", tags=["spaces"], response_model=ResourceOut)
    async def read_resource(resource_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            row = await store.resource_by_id(conn, resource_id)
        if row is None:
            raise not_found("resource", resource_id)
        return resource_view(row)

    @api.post("/spaces/{space_id}/resources", status_code=201, tags=["spaces"],
              response_model=ResourceOut)
    async def create_resource(space_id: UUID, body: NewResource, caller: Caller
                              ) -> dict[str, Any]:
        require_roles(caller, "staff")
        if body.max_minutes < body.min_minutes:
            raise invalid("max_minutes", "max_minutes is below min_minutes")
        resource = await in_tx(lambda conn: commands.create_resource(
            conn, space_id, body.model_dump(), runtime.clock()))
        return resource_view(resource)

    @api.get("/spaces/{space_id}/resources", tags=["spaces"], response_model=Page[ResourceOut])
    async def resources(space_id: UUID, caller: Caller, cursor: CursorParam = None,
                        limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            return page_in_memory([resource_view(r) for r in
                                   await store.resources_of(conn, space_id)], cursor, limit)

    @api.get("/resources/{resource_id}/availability", tags=["bookings"],
             response_model=AvailabilityOut)
    async def availability(resource_id: UUID, date: ApiDate, caller: Caller) -> dict[str, Any]:
        """Free intervals that day, in the space's timezone."""

        async with translated_errors(), runtime.db.acquire() as conn:

            async def taken_that_day(resource: asyncpg.Record
                                     ) -> tuple[int | None, tuple[list[Any], list[Any]]]:
                """The day's opening ranges from the row and what is taken of them, with the
                resource's calendar_version as the database has it now."""
                ranges = domain.opening_ranges(store.space_rules(resource), date)
                now = datetime.now(UTC)
                taken = await store.taken_intervals(
                    conn, resource_id, *(ranges[0][0], ranges[-1][1]) if ranges else (now, now))
                return (None, (ranges, [])) if taken is None else (taken[0], (ranges, taken[1]))

            answered = await kept_resources.answer_on_current(conn, resource_id, taken_that_day)
        if answered is None:
            raise NotFound("resource", resource_id)
        (ranges, taken), resource = answered
        space = store.space_rules(resource)
        free = domain.free_intervals(ranges, taken) if resource["in_service"] else []
        return {"resource_id": str(resource_id), "date": date.isoformat(),
                "in_service": resource["in_service"],
                "closed": domain.closed_reason(space, date),
                "free": [{"start": a.astimezone(space.tz).isoformat(),
                          "end": b.astimezone(space.tz).isoformat()} for a, b in free]}

    # -- bookings

    @api.post("/bookings", status_code=201, tags=["bookings"], response_model=BookingOut)
    async def create_booking(body: NewBooking, caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, body.member_id, "staff")
        if body.resource_id is None and (body.space_id is None or body.resource_kind is None):
            raise invalid("resource_id", "give resource_id, or space_id with resource_kind")
        now = runtime.clock()

        async def on(conn: asyncpg.Connection, resource: asyncpg.Record) -> asyncpg.Record:
            return await commands.book(conn, member_id=body.member_id, resource=resource,
                                       start=body.start, end=body.end, now=now, policy=policy,
                                       booked_by=booked_by(caller))

        # No transaction: commands.book writes in one statement (see store.book_drawing_on).
        async with translated_errors(), runtime.db.acquire() as conn:
            if body.resource_id is None:
                booking = await commands.book_any(
                    conn, member_id=body.member_id, space_id=body.space_id,  # type: ignore[arg-type]
                    kind=body.resource_kind, start=body.start, end=body.end,  # type: ignore[arg-type]
                    now=now, policy=policy, booked_by=booked_by(caller))
                return booking_view(booking, await store.space_timezone(conn,
                                                                        booking["space_id"]))
            booked = await kept_resources.book_kept_or_fresh(
                conn, body.resource_id, lambda resource: on(conn, resource))
            if booked is None:
                raise NotFound("resource", body.resource_id)
            # The row the booking was written against carries its space's timezone (current:
            # the statement checked the row's version; a space with bookings keeps its zone).
            booking, resource = booked
            return booking_view(booking, resource["timezone"])

    @api.post("/bookings/series", status_code=201, tags=["bookings"], response_model=SeriesOut)
    async def create_series(body: NewSeries, caller: Caller) -> dict[str, Any]:
        """Weekly occurrences: all_or_nothing books every one or none (409 with the report);
        skip_conflicts books those it can and reports each occurrence."""
        require_self_or_roles(caller, body.member_id, "staff")
        weeks = body.occurrences()
        series_id, now = uuid4(), runtime.clock()
        report: list[dict[str, Any]] = []

        async def work(conn: asyncpg.Connection) -> None:
            resource = await resource_or_404(conn, body.resource_id)
            tz = ZoneInfo(resource["timezone"])
            for week in range(weeks):
                # Same wall-clock time each week, whatever DST does in between.
                start = (body.start.astimezone(tz).replace(tzinfo=None)
                         + timedelta(weeks=week)).replace(tzinfo=tz)
                end = start.astimezone(UTC) + (body.end - body.start)  # real elapsed time
                entry: dict[str, Any] = {"start": start.isoformat(),
                                         "end": end.astimezone(tz).isoformat()}
                try:
                    async with conn.transaction():
                        booking = await commands.book(
                            conn, member_id=body.member_id, resource=resource, start=start,
                            end=end, now=now, policy=policy, booked_by=booked_by(caller),
                            series_id=series_id)
                    entry.update(status="booked", booking_id=str(booking["id"]))
                except commands.Taken as exc:
                    entry.update(status="conflict", reason=str(exc))
                except domain.RuleViolation as exc:
                    entry.update(status="refused", code=exc.code, reason=str(exc))
                report.append(entry)
            if body.mode == "all_or_nothing" and any(e["status"] != "booked" for e in report):
                # The occurrences that could be booked are rolled back with the rest: their
                # booking ids never existed, so the report does not give them.
                raise ApiError(409, "series_conflict",
                               "not every occurrence can be booked; nothing was booked",
                               details={"occurrences": [
                                   {"start": e["start"], "end": e["end"], "status": "not_booked"}
                                   if e["status"] == "booked" else e for e in report]})

        await in_tx(work)
        return {"series_id": str(series_id), "mode": body.mode, "occurrences": report}

    @api.get("/bookings", tags=["bookings"], response_model=Page[BookingOut])
    async def list_bookings(caller: Caller, member_id: UUID | None = None,
                            from_: Annotated[DateOrDateTime | None, Query(alias="from")] = None,
                            to: DateOrDateTime | None = None, cursor: CursorParam = None,
                            limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """Bookings overlapping [from, to), in start order, a page at a time (a date alone
        means its midnight UTC)."""
        if not caller.has("staff"):
            if member_id is None and caller.has("member"):
                member_id = UUID(caller.sub)
            require_self_or_roles(caller, member_id, "staff")
        after = None
        if cursor is not None:
            start_text, id_text = decode_cursor(cursor, 2)
            try:
                after = (datetime.fromisoformat(start_text), UUID(id_text))
            except ValueError as exc:
                raise invalid("cursor", "not a cursor this API gave out") from exc
        async with runtime.db.acquire() as conn:
            rows = await store.bookings_page(conn, member_id, from_, to, after=after,
                                             limit=limit + 1)
        page = rows[:limit]
        more = len(rows) > limit
        return {"items": [booking_view(b, b["timezone"]) for b in page],
                "next_cursor": encode_cursor(page[-1]["starts_at"], page[-1]["id"])
                if more else None}

    async def shown(booking: asyncpg.Record) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            return booking_view(booking, await store.space_timezone(conn, booking["space_id"]))

    @api.get("/bookings/{booking_id}", tags=["bookings"], response_model=BookingOut)
    async def read_booking(booking_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            booking = await store.booking_by_id(conn, booking_id)
        if booking is None:
            raise not_found("booking", booking_id)
        require_self_or_roles(caller, booking["member_id"], "staff")
        return await shown(booking)

    async def owned(booking_id: UUID, caller: Caller) -> None:
        async with runtime.db.acquire() as conn:
            booking = await store.booking_by_id(conn, booking_id)
        if booking is None:
            raise not_found("booking", booking_id)
        require_self_or_roles(caller, booking["member_id"], "staff")

    @api.post("/bookings/{booking_id}/cancel", tags=["bookings"], response_model=BookingOut)
    async def cancel(booking_id: UUID, caller: Caller) -> dict[str, Any]:
        await owned(booking_id, caller)
        return await shown(await in_tx(lambda conn: commands.cancel(
            conn, booking_id, by=booked_by(caller), now=runtime.clock(), policy=policy)))

    @api.post("/bookings/{booking_id}/check-in", tags=["bookings"], response_model=BookingOut)
    async def check_in(booking_id: UUID, caller: Caller) -> dict[str, Any]:
        await owned(booking_id, caller)
        return await shown(await in_tx(lambda conn: commands.check_in(
            conn, booking_id, now=runtime.clock(), policy=policy, by=booked_by(caller))))

    @api.post("/waitlist", status_code=201, tags=["bookings"], response_model=WaitlistEntryOut)
    async def join_waitlist(body: NewWaitlistEntry, caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, body.member_id, "staff")

        async def work(conn: asyncpg.Connection) -> dict[str, Any]:
            resource = await resource_or_404(conn, body.resource_id)
            entry = await commands.join_waitlist(conn, member_id=body.member_id,
                                                 resource=resource, start=body.start,
                                                 end=body.end, now=runtime.clock())
            return waitlist_view(entry, resource["timezone"])

        return await in_tx(work)

    @api.get("/waitlist", tags=["bookings"], response_model=Page[WaitlistEntryOut])
    async def list_waitlist(caller: Caller, member_id: UUID | None = None,
                            resource_id: UUID | None = None,
                            status: Literal["waiting", "promoted", "withdrawn"] | None = None,
                            cursor: CursorParam = None,
                            limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """A member's own requests (staff: anyone's, or a resource's queue), first come first
        served; `cursor` is the `next_cursor` of the page before."""
        if not caller.has("staff"):
            if member_id is None and caller.has("member"):
                member_id = UUID(caller.sub)
            require_self_or_roles(caller, member_id, "staff")
        after = None
        if cursor is not None:
            (id_text,) = decode_cursor(cursor, 1)
            try:
                after = UUID(id_text)
            except ValueError as exc:
                raise invalid("cursor", "not a cursor this API gave out") from exc
        async with runtime.db.acquire() as conn:
            rows = await store.waitlist_entries(conn, member_id=member_id,
                                                resource_id=resource_id, status=status,
                                                after=after, limit=limit + 1)
        page = rows[:limit]
        return {"items": [waitlist_view(w, w["timezone"]) for w in page],
                "next_cursor": encode_cursor(page[-1]["id"]) if len(rows) > limit else None}

    @api.delete("/waitlist/{entry_id}", status_code=204, tags=["bookings"])
    async def withdraw(entry_id: UUID, caller: Caller) -> Response:
        async with runtime.db.acquire() as conn:
            entry = await store.waitlist_entry(conn, entry_id)
        if entry is None:
            raise not_found("waitlist entry", entry_id)
        require_self_or_roles(caller, entry["member_id"], "staff")
        await in_tx(lambda conn: commands.withdraw_from_waitlist(conn, entry_id))
        return Response(status_code=204)

    @api.post("/bookings/series/{series_id}/cancel", tags=["bookings"],
              response_model=SeriesCancelledOut)
    async def cancel_series(series_id: UUID, caller: Caller,
                            body: SeriesCancellation | None = None) -> dict[str, Any]:
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

    # -- reports

    @api.get("/reports/occupancy", tags=["reports"], response_model=OccupancyOut,
             responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                              "description": "JSON, or CSV with `Accept: text/csv`"}})
    async def occupancy(request: Request, caller: Caller, space_id: UUID,
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
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(REPORT_COLUMNS), lineterminator="\n")
            writer.writeheader()
            writer.writerows(lines)
            return PlainTextResponse(out.getvalue(), media_type="text/csv")
        return {"space_id": str(space_id), "from": from_.isoformat(), "to": to.isoformat(),
                "by": by, "items": lines}

    # -- the front desk

    @api.get("/spaces/{space_id}/agenda", tags=["front desk"], response_model=AgendaOut)
    async def agenda(space_id: UUID, caller: Caller,
                     date: Annotated[ApiDate | None, Query(description="a local day; today "
                                                          "when absent")] = None
                     ) -> dict[str, Any]:
        """That day's bookings, each with its check-in state, and who is in now."""
        require_roles(caller, "staff")
        now = runtime.clock()
        async with runtime.db.acquire() as conn:
            space = await store.space_by_id(conn, space_id)
            if space is None:
                raise not_found("space", space_id)
            day = date or now.astimezone(ZoneInfo(space["timezone"])).date()
            bookings = await store.agenda(conn, space_id, day)
            present = await store.in_now(conn, space_id, now)
        return {"space_id": str(space_id), "date": day.isoformat(),
                "closed": domain.closed_reason(store.space_rules(space), day),
                "items": [agenda_view(b, space["timezone"]) for b in bookings],
                "in_now": [agenda_view(b, space["timezone"]) for b in present]}

    @api.post("/spaces/{space_id}/check-in", tags=["front desk"], response_model=BookingOut)
    async def check_in_at_desk(space_id: UUID, body: DeskCheckIn, caller: Caller
                               ) -> dict[str, Any]:
        """Staff check in a member who shows up at the desk: their booking here whose check-in
        window is open now (409 `nothing_to_check_in` otherwise: book a walk-in first)."""
        require_roles(caller, "staff")
        return await shown(await in_tx(lambda conn: commands.check_in_at_desk(
            conn, space_id, body.member_id, now=runtime.clock(), policy=policy)))

    @api.get("/members/{member_id}/no-shows", tags=["front desk"], response_model=NoShowsOut)
    async def no_shows(member_id: UUID, caller: Caller) -> dict[str, Any]:
        """A member's no-shows (all, and in the last 90 days), late cancellations and
        check-ins, with the latest no-shows: what the suspension policy is decided on."""
        require_self_or_roles(caller, member_id, "staff")
        since = runtime.clock() - timedelta(days=90)
        async with runtime.db.acquire() as conn:
            record = await store.no_show_record(conn, member_id, since)
            latest = await store.recent_no_shows(conn, member_id, 20)
        return {"member_id": str(member_id), "no_shows": record["no_shows"],
                "no_shows_last_90_days": record["recent_no_shows"],
                "last_no_show_at": record["last_no_show_at"],
                "late_cancellations": record["late_cancellations"],
                "check_ins": record["check_ins"],
                "latest": [booking_view(b, b["timezone"]) for b in latest]}

    return api
