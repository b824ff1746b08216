"""HTTP API v1 of the booking service (API.md)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

import contextlib
import csv
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from cowork.booking import commands, domain, store
from cowork.shared.auth import Principal, require_roles, require_self_or_roles
from cowork.shared.http import ApiError, NotFound, invalid, not_found
from cowork.shared.service import ServiceRuntime

Kind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
Text = Annotated[str, Field(min_length=1, max_length=200)]
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_CLOSURE = re.compile(r"^(\d{4}-)?(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NewSpace(Strict):
    name: Text
    address: Text
    timezone: str = "Europe/Rome"
    opening_hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        list[tuple[str, str]]]
    closures: list[str] = Field(default_factory=list,
                                description="'YYYY-MM-DD' once, or 'MM-DD' every year")

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("opening_hours")
    @classmethod
    def ranges_are_times(cls, hours: dict[str, list[tuple[str, str]]]
                         ) -> dict[str, list[tuple[str, str]]]:
        for day, ranges in hours.items():
            for opens, closes in ranges:
                if not (_HHMM.match(opens) and _HHMM.match(closes)):
                    raise ValueError(f"{day}: times are HH:MM")
                if closes != "24:00" and closes <= opens:
                    raise ValueError(f"{day}: {opens}-{closes} closes before it opens")
        return hours

    @field_validator("closures")
    @classmethod
    def closures_are_dates(cls, closures: list[str]) -> list[str]:
        for closure in closures:
            if not _CLOSURE.match(closure):
                raise ValueError(f"{closure!r} is neither YYYY-MM-DD nor MM-DD")
            if len(closure) == 10:
                date.fromisoformat(closure)
        return closures


class NewResource(Strict):
    name: Text
    kind: Kind
    seats: Annotated[int, Field(ge=1, le=1000)] = 1
    price_per_hour_cents: Annotated[int, Field(ge=0)]
    price_per_day_cents: Annotated[int, Field(ge=0)] | None = None
    slot_minutes: Annotated[int, Field(ge=5, le=1440)] = 30
    min_minutes: Annotated[int, Field(ge=5)] = 30
    max_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] = 600
    advance_days: Annotated[int, Field(ge=0, le=730)] = 60
    buffer_minutes: Annotated[int, Field(ge=0, le=240)] = 0
    plan_codes: Annotated[list[Text], Field(min_length=1, max_length=50)] | None = Field(
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
    timezone: str | None = None
    opening_hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        list[tuple[str, str]]] | None = None
    closures: list[str] | None = None

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str | None) -> str | None:
        return None if value is None else NewSpace.known_timezone(value)

    @field_validator("opening_hours")
    @classmethod
    def ranges_are_times(cls, hours: dict[str, list[tuple[str, str]]] | None
                         ) -> dict[str, list[tuple[str, str]]] | None:
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
    price_per_hour_cents: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    price_per_day_cents: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    slot_minutes: Annotated[int, Field(ge=5, le=1440)] | None = None
    min_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] | None = None
    max_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] | None = None
    advance_days: Annotated[int, Field(ge=0, le=730)] | None = None
    buffer_minutes: Annotated[int, Field(ge=0, le=240)] | None = None
    plan_codes: Annotated[list[Text], Field(min_length=1, max_length=50)] | None = None
    pay_per_use: bool | None = None
    in_service: bool | None = None

    @field_validator("plan_codes")
    @classmethod
    def distinct_plans(cls, codes: list[str] | None) -> list[str] | None:
        return NewResource.distinct_plans(codes)


NULLABLE_RESOURCE_FIELDS = frozenset({"price_per_day_cents", "plan_codes"})


class NewClosure(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    reason: Annotated[str, Field(min_length=3, max_length=500, pattern=r"^[^\x00]*$")]


class NewBooking(Strict):
    member_id: UUID
    resource_id: UUID | None = None
    space_id: UUID | None = Field(None, description="with resource_kind: any free resource")
    resource_kind: Kind | None = None
    start: AwareDatetime
    end: AwareDatetime


class NewSeries(Strict):
    member_id: UUID
    resource_id: UUID
    start: AwareDatetime
    end: AwareDatetime
    weeks: Annotated[int, Field(ge=1, le=52)]
    mode: Literal["all_or_nothing", "skip_conflicts"] = "all_or_nothing"


class SeriesCancellation(Strict):
    from_: date | None = Field(None, alias="from", description="the first local day to cancel "
                               "(absent: every occurrence not yet started)")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeskCheckIn(Strict):
    member_id: UUID


class NewWaitlistEntry(Strict):
    member_id: UUID
    resource_id: UUID
    start: AwareDatetime
    end: AwareDatetime


# ---------------------------------------------------------------- representations


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


def booking_view(b: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(b["id"]), "member_id": str(b["member_id"]),
            "resource_id": str(b["resource_id"]), "space_id": str(b["space_id"]),
            "resource_kind": b["resource_kind"], "start": b["starts_at"], "end": b["ends_at"],
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


def agenda_view(b: asyncpg.Record) -> dict[str, Any]:
    return {**booking_view(b), "resource_name": b["resource_name"]}


def waitlist_view(w: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(w["id"]), "member_id": str(w["member_id"]),
            "resource_id": str(w["resource_id"]), "start": w["starts_at"], "end": w["ends_at"],
            "status": w["status"], "created_at": w["created_at"],
            "booking_id": str(w["booking_id"]) if w["booking_id"] else None}


Limit = Annotated[int, Query(ge=1, le=500)]


@contextlib.asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    try:
        yield
    except commands.Taken as exc:
        raise ApiError(409, "slot_taken", f"the resource is {exc}", field="start",
                       details={"conflict": {"start": exc.start.isoformat(),
                                             "end": exc.end.isoformat()}}) from exc
    except domain.RuleViolation as exc:
        raise ApiError(exc.status, exc.code, str(exc), field=exc.field) from exc
    except asyncpg.UniqueViolationError as exc:
        raise ApiError(409, "conflict", "conflicts with an existing record") from exc
    except asyncpg.DeadlockDetectedError as exc:  # PostgreSQL rolled this one back: nothing half-done
        raise ApiError(409, "concurrent_change", "a concurrent change got in the way; "
                       "nothing was changed, try again") from exc


def router(runtime: ServiceRuntime, policy: commands.Policy) -> APIRouter:
    Caller = Annotated[Principal, Depends(runtime.authenticator().principal())]
    api = APIRouter(prefix="/v1")

    async def in_tx(work: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        async with translated_errors(), runtime.db.acquire() as conn, conn.transaction():
            return await work(conn)

    def booked_by(caller: Principal) -> str:
        return "staff" if caller.has("staff") else "member"

    # Read on every request, never cached: staff change resources and spaces (PATCH, closures)
    # through any replica, and the booking statement re-checks in SQL what a change may have
    # made impossible meanwhile (see store.book_drawing_on).
    async def resource_or_404(conn: asyncpg.Connection, resource_id: UUID) -> asyncpg.Record:
        resource = await store.resource_by_id(conn, resource_id)
        if resource is None:
            raise NotFound("resource", resource_id)
        return resource

    # -- spaces and resources

    @api.post("/spaces", status_code=201, tags=["spaces"])
    async def create_space(body: NewSpace, caller: Caller) -> dict[str, Any]:
        require_roles(caller, "staff")
        space = await in_tx(lambda conn: commands.create_space(
            conn, now=runtime.clock(), **body.model_dump()))
        return space_view(space)

    @api.get("/spaces", tags=["spaces"])
    async def spaces(caller: Caller) -> list[dict[str, Any]]:
        async with runtime.db.acquire() as conn:
            return [space_view(s) for s in await store.list_spaces(conn)]

    @api.get("/spaces/{space_id}", tags=["spaces"])
    async def space(space_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            row = await store.space_by_id(conn, space_id)
        if row is None:
            raise not_found("space", space_id)
        return space_view(row)

    @api.patch("/spaces/{space_id}", tags=["spaces"])
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
        return space_view(space)

    @api.post("/spaces/{space_id}/closures", status_code=201, tags=["spaces"])
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
        return {**closure_view(closure), "cancelled_bookings": cancelled}

    @api.get("/spaces/{space_id}/closures", tags=["spaces"])
    async def closures(space_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            if await store.space_by_id(conn, space_id) is None:
                raise not_found("space", space_id)
            return {"items": [closure_view(c) for c in await store.closures_of(conn, space_id)],
                    "next_cursor": None}

    @api.patch("/resources/{resource_id}", tags=["spaces"])
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
        return resource_view(resource)

    @api.get("/resources/{resource_id}", tags=["spaces"])
    async def read_resource(resource_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            row = await store.resource_by_id(conn, resource_id)
        if row is None:
            raise not_found("resource", resource_id)
        return resource_view(row)

    @api.post("/spaces/{space_id}/resources", status_code=201, tags=["spaces"])
    async def create_resource(space_id: UUID, body: NewResource, caller: Caller
                              ) -> dict[str, Any]:
        require_roles(caller, "staff")
        if body.max_minutes < body.min_minutes:
            raise invalid("max_minutes", "max_minutes is below min_minutes")
        resource = await in_tx(lambda conn: commands.create_resource(
            conn, space_id, body.model_dump(), runtime.clock()))
        return resource_view(resource)

    @api.get("/spaces/{space_id}/resources", tags=["spaces"])
    async def resources(space_id: UUID, caller: Caller) -> list[dict[str, Any]]:
        async with runtime.db.acquire() as conn:
            return [resource_view(r) for r in await store.resources_of(conn, space_id)]

    @api.get("/resources/{resource_id}/availability", tags=["bookings"])
    async def availability(resource_id: UUID, date: date, caller: Caller) -> dict[str, Any]:
        """Free intervals that day, in the space's timezone."""
        async with translated_errors(), runtime.db.acquire() as conn:
            resource = await resource_or_404(conn, resource_id)
            space = store.space_rules(resource)
            ranges = domain.opening_ranges(space, date)
            taken = await store.taken_intervals(
                conn, resource_id, *(ranges[0][0], ranges[-1][1]) if ranges else
                (datetime.now(space.tz), datetime.now(space.tz)))
        free = domain.free_intervals(ranges, taken) if resource["in_service"] else []
        return {"resource_id": str(resource_id), "date": date.isoformat(),
                "in_service": resource["in_service"],
                "closed": domain.closed_reason(space, date),
                "free": [{"start": a.astimezone(space.tz).isoformat(),
                          "end": b.astimezone(space.tz).isoformat()} for a, b in free]}

    # -- bookings

    @api.post("/bookings", status_code=201, tags=["bookings"])
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
            return booking_view(await work(conn))

    @api.post("/bookings/series", status_code=201, tags=["bookings"])
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
                entry: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat()}
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

    @api.get("/bookings", tags=["bookings"])
    async def list_bookings(caller: Caller, member_id: UUID | None = None,
                            from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
                            to: AwareDatetime | None = None) -> list[dict[str, Any]]:
        if not caller.has("staff"):
            if member_id is None and caller.has("member"):
                member_id = UUID(caller.sub)
            require_self_or_roles(caller, member_id, "staff")
        async with runtime.db.acquire() as conn:
            return [booking_view(b) for b in await store.bookings_of(conn, member_id, from_, to)]

    @api.get("/bookings/{booking_id}", tags=["bookings"])
    async def read_booking(booking_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            booking = await store.booking_by_id(conn, booking_id)
        if booking is None:
            raise not_found("booking", booking_id)
        require_self_or_roles(caller, booking["member_id"], "staff")
        return booking_view(booking)

    async def owned(booking_id: UUID, caller: Caller) -> None:
        async with runtime.db.acquire() as conn:
            booking = await store.booking_by_id(conn, booking_id)
        if booking is None:
            raise not_found("booking", booking_id)
        require_self_or_roles(caller, booking["member_id"], "staff")

    @api.post("/bookings/{booking_id}/cancel", tags=["bookings"])
    async def cancel(booking_id: UUID, caller: Caller) -> dict[str, Any]:
        await owned(booking_id, caller)
        return booking_view(await in_tx(lambda conn: commands.cancel(
            conn, booking_id, by=booked_by(caller), now=runtime.clock(), policy=policy)))

    @api.post("/bookings/{booking_id}/check-in", tags=["bookings"])
    async def check_in(booking_id: UUID, caller: Caller) -> dict[str, Any]:
        await owned(booking_id, caller)
        return booking_view(await in_tx(lambda conn: commands.check_in(
            conn, booking_id, now=runtime.clock(), policy=policy, by=booked_by(caller))))

    @api.post("/waitlist", status_code=201, tags=["bookings"])
    async def join_waitlist(body: NewWaitlistEntry, caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, body.member_id, "staff")

        async def work(conn: asyncpg.Connection) -> asyncpg.Record:
            resource = await resource_or_404(conn, body.resource_id)
            return await commands.join_waitlist(conn, member_id=body.member_id,
                                                resource=resource, start=body.start,
                                                end=body.end, now=runtime.clock())

        return waitlist_view(await in_tx(work))

    @api.get("/waitlist", tags=["bookings"])
    async def list_waitlist(caller: Caller, member_id: UUID | None = None,
                            resource_id: UUID | None = None,
                            status: Literal["waiting", "promoted", "withdrawn"] | None = None,
                            cursor: UUID | None = None, limit: Limit = 100) -> dict[str, Any]:
        """A member's own requests (staff: anyone's, or a resource's queue), first come first
        served; `cursor` is the `next_cursor` of the page before."""
        if not caller.has("staff"):
            if member_id is None and caller.has("member"):
                member_id = UUID(caller.sub)
            require_self_or_roles(caller, member_id, "staff")
        async with runtime.db.acquire() as conn:
            rows = await store.waitlist_entries(conn, member_id=member_id,
                                                resource_id=resource_id, status=status,
                                                after=cursor, limit=limit + 1)
        page = rows[:limit]
        return {"items": [waitlist_view(w) for w in page],
                "next_cursor": str(page[-1]["id"]) if len(rows) > limit else None}

    @api.delete("/waitlist/{entry_id}", status_code=204, tags=["bookings"])
    async def withdraw(entry_id: UUID, caller: Caller) -> Response:
        async with runtime.db.acquire() as conn:
            entry = await store.waitlist_entry(conn, entry_id)
        if entry is None:
            raise not_found("waitlist entry", entry_id)
        require_self_or_roles(caller, entry["member_id"], "staff")
        await in_tx(lambda conn: commands.withdraw_from_waitlist(conn, entry_id))
        return Response(status_code=204)

    @api.post("/bookings/series/{series_id}/cancel", tags=["bookings"])
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
        return {"series_id": str(series_id),
                "cancelled": [booking_view(b) for b in cancelled],
                "charged_cents": sum(b["charged_cents"] for b in cancelled)}

    # -- reports

    @api.get("/reports/occupancy", tags=["reports"])
    async def occupancy(request: Request, caller: Caller, space_id: UUID,
                        from_: Annotated[date, Query(alias="from")], to: date,
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

    @api.get("/spaces/{space_id}/agenda", tags=["front desk"])
    async def agenda(space_id: UUID, caller: Caller,
                     date: Annotated[date | None, Query(description="a local day; today when "
                                                       "absent")] = None) -> dict[str, Any]:
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
                "items": [agenda_view(b) for b in bookings],
                "in_now": [agenda_view(b) for b in present]}

    @api.post("/spaces/{space_id}/check-in", tags=["front desk"])
    async def check_in_at_desk(space_id: UUID, body: DeskCheckIn, caller: Caller
                               ) -> dict[str, Any]:
        """Staff check in a member who shows up at the desk: their booking here whose check-in
        window is open now (409 `nothing_to_check_in` otherwise: book a walk-in first)."""
        require_roles(caller, "staff")
        return booking_view(await in_tx(lambda conn: commands.check_in_at_desk(
            conn, space_id, body.member_id, now=runtime.clock(), policy=policy)))

    @api.get("/members/{member_id}/no-shows", tags=["front desk"])
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
                "latest": [booking_view(b) for b in latest]}

    return api
