"""Booking use cases: each changes state and writes its events (outbox) in the caller's
transaction, and schedules or cancels the time-driven work it implies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.booking import domain, store
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.http import NotFound
from cowork.shared.outbox import add_event, outbox_values

SOURCE = "/cowork/booking"
NO_SHOW_JOB = "booking.no_show"
COMPLETE_JOB = "booking.complete"


@dataclass(frozen=True)
class Policy:
    cancel_cutoff: timedelta = timedelta(hours=24)
    check_in_early: timedelta = timedelta(minutes=15)
    no_show_grace: timedelta = timedelta(minutes=30)


class Taken(Exception):
    """The resource is booked (buffer included) for part of the interval."""

    def __init__(self, start: datetime, end: datetime) -> None:
        super().__init__(f"taken from {start.isoformat()} to {end.isoformat()}")
        self.start = start
        self.end = end


# ---------------------------------------------------------------- catalogue


async def create_space(conn: asyncpg.Connection, *, now: datetime, space_id: UUID | None = None,
                       **space: Any) -> asyncpg.Record:
    """`space_id` is for demo data other services know in advance (cowork.shared.demo_ids)."""
    return await store.insert_space(conn, space_id=space_id or uuid4(), now=now, **space)


async def create_resource(conn: asyncpg.Connection, space_id: UUID, resource: dict[str, Any],
                          now: datetime) -> asyncpg.Record:
    if await store.space_by_id(conn, space_id) is None:
        raise NotFound("space", space_id)
    row = await store.insert_resource(conn, resource, resource_id=uuid4(), space_id=space_id,
                                      now=now)
    await add_event(conn, ev.ResourcePublished(
        resource_id=row["id"], space_id=space_id, name=row["name"], kind=row["kind"],
        seats=row["seats"], price_per_hour_cents=row["price_per_hour_cents"]), source=SOURCE)
    return row


# ---------------------------------------------------------------- booking


CLAIM_ATTEMPTS = 5


async def book(conn: asyncpg.Connection, *, member_id: UUID, resource: asyncpg.Record,
               start: datetime, end: datetime, now: datetime, policy: Policy, booked_by: str,
               series_id: UUID | None = None, via_waitlist: bool = False) -> asyncpg.Record:
    """Check every rule, then write the booking with its event and jobs in one statement;
    PostgreSQL's exclusion constraint has the last word on overlaps, the membership's usage
    version on limits. Needs no transaction of its own (two round trips in all); inside a
    caller's transaction or savepoint it joins it."""
    space = store.space_rules(resource)  # the resource row carries its space's calendar
    rules = store.resource_rules(resource)
    domain.check_interval(space, rules, start, end, now)
    day = domain.local(start, space).date()
    minutes = domain.minutes_between(start, end)
    booking_id, price = uuid4(), domain.price_cents(rules, start, end)
    _, event_values = outbox_values(ev.BookingConfirmed(
        booking_id=booking_id, member_id=member_id, space_id=resource["space_id"],
        resource_id=resource["id"], resource_kind=resource["kind"], start=start.astimezone(UTC),
        end=end.astimezone(UTC), price_cents=price, series_id=series_id,
        via_waitlist=via_waitlist), source=SOURCE)
    for _ in range(CLAIM_ATTEMPTS):
        held = await store.memberships_with_usage(conn, member_id, day)
        rights = domain.choose_membership([(m.rights, m.usage) for m in held], resource["kind"],
                                          day, minutes, store.plans_allowed(resource))
        drawn_on = next(m for m in held if m.rights is rights)
        booking = await store.book_drawing_on(
            conn, drawn_on, booking_id=booking_id, member_id=member_id, resource=resource,
            start=start, end=end, local_day=day, minutes=minutes, price=price,
            series_id=series_id, via_waitlist=via_waitlist, booked_by=booked_by, now=now,
            event_values=event_values,
            jobs=[(NO_SHOW_JOB, start + policy.no_show_grace), (COMPLETE_JOB, end)])
        if booking is None:
            clash = await store.clashing_booking(conn, resource, start, end)
            if clash is None:  # freed again in between: report the requested interval
                raise Taken(start, end)
            raise Taken(clash["starts_at"], clash["ends_at"])
        if not isinstance(booking, str):
            return booking
        # CLAIM_LOST: another booking of this member was decided first; decide again on the
        # usage as it is now.
    raise domain.RuleViolation("member_busy", "other bookings of this member are being made; "
                               "try again", "member_id", status=409)


async def book_any(conn: asyncpg.Connection, *, member_id: UUID, space_id: UUID, kind: str,
                   start: datetime, end: datetime, now: datetime, policy: Policy,
                   booked_by: str) -> asyncpg.Record:
    """'Any hot desk': the resources of the kind that were free when asked, by name, tried in
    turn; the exclusion constraint keeps it race-free when another request takes one first.
    A resource reserved for plans the member does not hold is passed over."""
    candidates = await store.resources_of(conn, space_id, kind, free_from=start, free_until=end)
    if not candidates:
        raise NotFound(f"{kind} in space", space_id)
    reserved: domain.RuleViolation | None = None
    raced = False
    for resource in candidates:
        if resource["taken"]:
            continue
        try:
            return await book(conn, member_id=member_id, resource=resource, start=start,
                              end=end, now=now, policy=policy, booked_by=booked_by)
        except Taken:
            raced = True  # taken in between: the next one
        except domain.RuleViolation as refusal:
            if refusal.code != "resource_reserved_for_other_plans":
                raise  # the same answer for every resource: tell it at once
            reserved = refusal
    if reserved is not None and not raced:  # free ones there were, but not for this member
        raise reserved
    raise domain.RuleViolation("none_free", f"no {kind} is free for that interval", "start",
                               status=409)


async def booking_for_update(conn: asyncpg.Connection, booking_id: UUID) -> asyncpg.Record:
    booking = await store.booking_by_id(conn, booking_id, for_update=True)
    if booking is None:
        raise NotFound("booking", booking_id)
    return booking


async def cancel(conn: asyncpg.Connection, booking_id: UUID, *, by: str, now: datetime,
                 policy: Policy) -> asyncpg.Record:
    seen = await store.booking_by_id(conn, booking_id)
    if seen is None:
        raise NotFound("booking", booking_id)
    # The membership's usage first, then the booking: the order every writer takes them in
    # (a booking claims the membership, then its insert may wait on a booking row), so a
    # cancellation and a series of the same member cannot deadlock.
    await store.usage_changed(conn, seen["membership_id"])
    booking = await booking_for_update(conn, booking_id)
    if booking["status"] != "confirmed":
        raise domain.RuleViolation("not_cancellable",
                                   f"a {booking['status'].replace('_', ' ')} booking cannot be "
                                   "cancelled", status=409)
    late, charged = domain.cancellation_charge(booking["price_cents"], booking["starts_at"],
                                               now, policy.cancel_cutoff)
    if by == "staff":
        late, charged = False, 0  # the house cancelled: never the member's fault
    cancelled = await store.set_booking_status(conn, booking_id, "cancelled", now, charged)
    await add_event(conn, ev.BookingCancelled(
        booking_id=booking_id, member_id=booking["member_id"], cancelled_by=by,  # type: ignore[arg-type]
        late=late, charged_cents=charged, cancelled_at=now), source=SOURCE)
    await _release(conn, booking, now, policy)
    return cancelled


async def check_in(conn: asyncpg.Connection, booking_id: UUID, *, now: datetime,
                   policy: Policy) -> asyncpg.Record:
    booking = await booking_for_update(conn, booking_id)
    if booking["status"] != "confirmed":
        raise domain.RuleViolation("not_checkable", f"the booking is {booking['status']}",
                                   status=409)
    if not domain.check_in_allowed(booking["starts_at"], now, policy.check_in_early,
                                   policy.no_show_grace):
        raise domain.RuleViolation(
            "outside_check_in_window",
            f"check-in opens {int(policy.check_in_early.total_seconds() // 60)} minutes before "
            f"the start and closes {int(policy.no_show_grace.total_seconds() // 60)} after it",
            status=409)
    checked = await store.set_booking_status(conn, booking_id, "checked_in", now)
    await scheduler.cancel(conn, NO_SHOW_JOB, str(booking_id))
    await add_event(conn, ev.BookingCheckedIn(booking_id=booking_id,
                                              member_id=booking["member_id"], at=now),
                    source=SOURCE)
    return checked


async def _release(conn: asyncpg.Connection, booking: asyncpg.Record, now: datetime,
                   policy: Policy) -> None:
    """A freed slot goes, in the same transaction, to the first waiting request that fits."""
    key = str(booking["id"])
    await scheduler.cancel(conn, NO_SHOW_JOB, key)
    await scheduler.cancel(conn, COMPLETE_JOB, key)
    resource = await store.resource_by_id(conn, booking["resource_id"])
    assert resource is not None
    for entry in await store.waiting_for(conn, booking["resource_id"], booking["starts_at"],
                                         booking["ends_at"], now):
        try:
            promoted = await book(conn, member_id=entry["member_id"], resource=resource,
                                  start=entry["starts_at"], end=entry["ends_at"], now=now,
                                  policy=policy, booked_by="waitlist", via_waitlist=True)
        except (Taken, domain.RuleViolation):
            continue  # does not fit (or no longer allowed): the next one may
        await store.mark_promoted(conn, entry["id"], promoted["id"])


async def join_waitlist(conn: asyncpg.Connection, *, member_id: UUID, resource: asyncpg.Record,
                        start: datetime, end: datetime, now: datetime) -> asyncpg.Record:
    space = store.space_rules(resource)
    domain.check_interval(space, store.resource_rules(resource), start, end, now)
    day = domain.local(start, space).date()
    domain.choose_membership([(m.rights, domain.Usage())
                              for m in await store.memberships_with_usage(conn, member_id, day)],
                             resource["kind"], day, domain.minutes_between(start, end),
                             store.plans_allowed(resource))
    if await store.clashing_booking(conn, resource, start, end) is None:
        raise domain.RuleViolation("slot_is_free", "the slot is free: book it instead", "start",
                                   status=409)
    return await store.insert_waitlist(conn, entry_id=uuid4(), member_id=member_id,
                                       resource_id=resource["id"], start=start, end=end, now=now)


# ---------------------------------------------------------------- time-driven (scheduler jobs)


def no_show_job(policy: Policy) -> scheduler.JobHandler:
    async def mark_no_show(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
        booking = await store.booking_by_id(conn, UUID(job.key), for_update=True)
        if booking is None or booking["status"] != "confirmed":
            return  # checked in or cancelled meanwhile
        await store.set_booking_status(conn, booking["id"], "no_show", now)
        await add_event(conn, ev.BookingNoShow(booking_id=booking["id"],
                                               member_id=booking["member_id"], at=now),
                        source=SOURCE)
        await _release(conn, booking, now, policy)

    return mark_no_show


async def complete_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    booking = await store.booking_by_id(conn, UUID(job.key), for_update=True)
    if booking is None or booking["status"] != "checked_in":
        return
    await store.set_booking_status(conn, booking["id"], "completed", now)
    await add_event(conn, ev.BookingCompleted(booking_id=booking["id"],
                                              member_id=booking["member_id"], at=now),
                    source=SOURCE)
