"""HTTP API v1 of the booking service (API.md)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, available_timezones

import asyncpg
from fastapi import APIRouter, Depends, Query
from pydantic import Field, field_validator

from cowork.booking import commands, domain, store
from cowork.shared.api import (
    DEFAULT_PAGE_SIZE,
    ApiDate,
    ApiDateTime,
    Cents,
    Code,
    CursorParam,
    DateOrDateTime,
    Limit,
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

    @field_validator("plan_codes")
    @classmethod
    def distinct_plans(cls, codes: list[str] | None) -> list[str] | None:
        if codes is not None and len(set(codes)) != len(codes):
            raise ValueError("plan codes repeat")
        return codes


class NewBooking(Strict):
    member_id: UUID
    resource_id: UUID | None = None
    space_id: UUID | None = Field(None, description="with resource_kind: any free resource")
    resource_kind: Kind | None = None
    start: ApiDateTime
    end: ApiDateTime


class NewSeries(Strict):
    member_id: UUID
    resource_id: UUID
    start: ApiDateTime
    end: ApiDateTime
    weeks: Annotated[int, Field(ge=1, le=52)]
    mode: Literal["all_or_nothing", "skip_conflicts"] = "all_or_nothing"


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


class WaitlistEntryOut(Representation):
    id: UUID
    member_id: UUID
    resource_id: UUID
    start: datetime
    end: datetime
    status: str


class FreeInterval(Representation):
    start: datetime
    end: datetime


class AvailabilityOut(Representation):
    resource_id: UUID
    date: date
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
            "plan_codes")
    return {"id": str(r["id"]), "space_id": str(r["space_id"]), **{k: r[k] for k in keys}}


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
            "via_waitlist": b["via_waitlist"]}


def waitlist_view(w: asyncpg.Record, zone: str) -> dict[str, Any]:
    tz = ZoneInfo(zone)
    return {"id": str(w["id"]), "member_id": str(w["member_id"]),
            "resource_id": str(w["resource_id"]), "start": w["starts_at"].astimezone(tz),
            "end": w["ends_at"].astimezone(tz),
            "status": w["status"]}


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

    # Resources and their spaces cannot be changed once created (the API has no update), so a
    # replica may keep the rows it has read: one query less on every booking. An update
    # endpoint would have to come with invalidation across replicas.
    known_resources: dict[UUID, asyncpg.Record] = {}

    async def resource_or_404(conn: asyncpg.Connection, resource_id: UUID) -> asyncpg.Record:
        resource = known_resources.get(resource_id)
        if resource is None:
            resource = await store.resource_by_id(conn, resource_id)
            if resource is None:
                raise NotFound("resource", resource_id)
            if len(known_resources) < 10_000:
                known_resources[resource_id] = resource
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
            resource = await resource_or_404(conn, resource_id)
            space = store.space_rules(resource)
            ranges = domain.opening_ranges(space, date)
            taken = await store.taken_intervals(
                conn, resource_id, *(ranges[0][0], ranges[-1][1]) if ranges else
                (datetime.now(space.tz), datetime.now(space.tz)))
        free = domain.free_intervals(ranges, taken)
        return {"resource_id": str(resource_id), "date": date.isoformat(),
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

        async def work(conn: asyncpg.Connection) -> asyncpg.Record:
            if body.resource_id is not None:
                resource = await resource_or_404(conn, body.resource_id)
                return await commands.book(conn, member_id=body.member_id, resource=resource,
                                           start=body.start, end=body.end, now=now,
                                           policy=policy, booked_by=booked_by(caller))
            return await commands.book_any(conn, member_id=body.member_id,
                                           space_id=body.space_id,  # type: ignore[arg-type]
                                           kind=body.resource_kind,  # type: ignore[arg-type]
                                           start=body.start, end=body.end, now=now,
                                           policy=policy, booked_by=booked_by(caller))

        # No transaction: commands.book writes in one statement (see store.book_drawing_on).
        async with translated_errors(), runtime.db.acquire() as conn:
            booking = await work(conn)
            return booking_view(booking, await store.space_timezone(conn, booking["space_id"]))

    @api.post("/bookings/series", status_code=201, tags=["bookings"], response_model=SeriesOut)
    async def create_series(body: NewSeries, caller: Caller) -> dict[str, Any]:
        """Weekly occurrences: all_or_nothing books every one or none (409 with the report);
        skip_conflicts books those it can and reports each occurrence."""
        require_self_or_roles(caller, body.member_id, "staff")
        series_id, now = uuid4(), runtime.clock()
        report: list[dict[str, Any]] = []

        async def work(conn: asyncpg.Connection) -> None:
            resource = await resource_or_404(conn, body.resource_id)
            tz = ZoneInfo(resource["timezone"])
            for week in range(body.weeks):
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
                raise ApiError(409, "series_conflict",
                               "not every occurrence can be booked; nothing was booked",
                               details={"occurrences": [
                                   {**e, "status": "not_booked"} if e["status"] == "booked"
                                   else e for e in report]})

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
            conn, booking_id, now=runtime.clock(), policy=policy)))

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

    return api
