"""Booking use cases: each changes state and writes its events (outbox) in the caller's
transaction, and schedules or cancels the time-driven work it implies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    await add_event(conn, published(row), source=SOURCE)
    return row


async def change_space(conn: asyncpg.Connection, space_id: UUID, changes: dict[str, Any], *,
                       now: datetime, policy: Policy) -> asyncpg.Record:
    """Change any field of a space; confirmed future bookings the new calendar forbids (a day
    now closed, hours now shut) are cancelled by the system. The timezone cannot change once the
    space has bookings: their local days were reckoned in the old one."""
    before = await store.space_for_update(conn, space_id)
    if before is None:
        raise NotFound("space", space_id)
    if changes.get("timezone", before["timezone"]) != before["timezone"] and \
            await store.space_has_bookings(conn, space_id):
        raise domain.RuleViolation("timezone_in_use", "the space has bookings: its timezone "
                                   "cannot change", "timezone", status=409)
    after = await store.update_space(conn, space_id, changes)
    await store.calendar_changed(conn, space_id)
    await _cancel_what_the_calendar_forbids(conn, after, now=now, policy=policy)
    return after


async def _cancel_what_the_calendar_forbids(conn: asyncpg.Connection, space: asyncpg.Record, *,
                                            now: datetime, policy: Policy,
                                            first_day: date | None = None,
                                            last_day: date | None = None) -> int:
    rules = store.space_rules(space)
    closed, shut = [], []
    for booking in await store.future_bookings_in_space(conn, space["id"], now, first_day,
                                                        last_day):
        if domain.closed_reason(rules, booking["local_day"]):
            closed.append(booking)
        elif not domain.within_opening_hours(rules, booking["starts_at"], booking["ends_at"]):
            shut.append(booking)
    return (await cancel_by_system(conn, closed, reason="space_closed", now=now, policy=policy)
            + await cancel_by_system(conn, shut, reason="opening_hours_changed", now=now,
                                     policy=policy))


async def close_space(conn: asyncpg.Connection, space_id: UUID, *, from_day: date,
                      to_day: date, reason: str, now: datetime,
                      policy: Policy) -> tuple[asyncpg.Record, int]:
    """An ad-hoc closure (a date range with a reason): its days are closed to new bookings and
    the confirmed bookings on them are cancelled by the system. Answers the closure and how
    many bookings it cancelled."""
    if await store.space_for_update(conn, space_id) is None:
        raise NotFound("space", space_id)
    closure = await store.insert_closure(conn, closure_id=uuid4(), space_id=space_id,
                                         from_day=from_day, to_day=to_day, reason=reason,
                                         now=now)
    await store.calendar_changed(conn, space_id)
    space = await store.space_by_id(conn, space_id)
    assert space is not None
    cancelled = await _cancel_what_the_calendar_forbids(conn, space, now=now, policy=policy,
                                                        first_day=from_day, last_day=to_day)
    return closure, cancelled


async def change_resource(conn: asyncpg.Connection, resource_id: UUID,
                          changes: dict[str, Any], *, now: datetime,
                          policy: Policy) -> asyncpg.Record:
    """Change any field of a resource and publish it again. New rules (price, grid, lengths,
    buffer, plans) apply to new bookings; taking it out of service cancels its confirmed future
    bookings (system, `resource_out_of_service`) and withdraws the requests waiting for it."""
    before = await store.resource_for_update(conn, resource_id)
    if before is None:
        raise NotFound("resource", resource_id)
    merged = {**dict(before), **changes}
    if merged["max_minutes"] < merged["min_minutes"]:
        raise domain.RuleViolation("max_below_min", "max_minutes is below min_minutes",
                                   "max_minutes")
    await store.update_resource(conn, resource_id, changes)
    if before["in_service"] and not merged["in_service"]:
        await store.withdraw_waiting_for_resource(conn, resource_id)
        await cancel_by_system(conn, await store.future_bookings_of_resource(conn, resource_id,
                                                                             now),
                               reason="resource_out_of_service", now=now, policy=policy)
    after = await store.resource_by_id(conn, resource_id)
    assert after is not None
    await add_event(conn, published(after), source=SOURCE)
    return after


def published(row: asyncpg.Record) -> ev.ResourcePublished:
    return ev.ResourcePublished(
        resource_id=row["id"], space_id=row["space_id"], name=row["name"], kind=row["kind"],
        seats=row["seats"], price_per_hour_cents=row["price_per_hour_cents"],
        in_service=row["in_service"], pay_per_use=row["pay_per_use"])


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
    check_in_service(resource)
    domain.check_interval(space, rules, start, end, walk_in_earliest(rules, now, booked_by))
    day = domain.local(start, space).date()
    minutes = domain.minutes_between(start, end)
    booking_id, price = uuid4(), domain.price_cents(rules, start, end)
    tariff = domain.Tariff(price, rules.price_per_hour_cents)
    for _ in range(CLAIM_ATTEMPTS):
        held = await store.memberships_with_usage(conn, member_id, day)
        decision = await _decide(conn, member_id, resource, held, day, minutes, tariff)
        drawn_on = next((m for m in held if m.rights is decision.rights), None)
        _, event_values = outbox_values(ev.BookingConfirmed(
            booking_id=booking_id, member_id=member_id, space_id=resource["space_id"],
            resource_id=resource["id"], resource_kind=resource["kind"],
            start=start.astimezone(UTC), end=end.astimezone(UTC), price_cents=price,
            charged_cents=decision.charged_cents, series_id=series_id,
            via_waitlist=via_waitlist), source=SOURCE)
        booking = await store.book_drawing_on(
            conn, drawn_on, booking_id=booking_id, member_id=member_id, resource=resource,
            start=start, end=end, local_day=day, minutes=minutes, price=price,
            charged=decision.charged_cents, series_id=series_id, via_waitlist=via_waitlist,
            booked_by=booked_by, now=now,
            event_values=event_values,
            jobs=[(NO_SHOW_JOB, start + policy.no_show_grace), (COMPLETE_JOB, end)])
        if booking is None:
            clash = await store.clashing_booking(conn, resource, start, end)
            # In the space's own offset, as every other booking answer gives times.
            if clash is None:  # freed again in between: report the requested interval
                raise Taken(domain.local(start, space), domain.local(end, space))
            raise Taken(domain.local(clash["starts_at"], space),
                        domain.local(clash["ends_at"], space))
        if booking == store.UNAVAILABLE:
            raise domain.RuleViolation(
                "resource_unavailable", "the resource or its space's calendar changed while "
                "booking: try again", "resource_id", status=409)
        if not isinstance(booking, str):
            return booking
        # CLAIM_LOST: another booking of this member was decided first; decide again on the
        # usage as it is now.
    raise domain.RuleViolation("member_busy", "other bookings of this member are being made; "
                               "try again", "member_id", status=409)


def walk_in_earliest(rules: domain.Resource, now: datetime, booked_by: str) -> datetime:
    """The earliest start the rules accept: now — except that staff may book a walk-in into
    the slot under way (a start up to one slot ago), since a booking must start on the grid
    and the person is standing at the desk."""
    return now - timedelta(minutes=rules.slot_minutes) if booked_by == "staff" else now


def check_in_service(resource: asyncpg.Record) -> None:
    if not resource["in_service"]:
        raise domain.RuleViolation("out_of_service", "the resource is out of service",
                                   "resource_id", status=409)


async def _decide(conn: asyncpg.Connection, member_id: UUID, resource: asyncpg.Record,
                  held: list[store.Drawable], day: date, minutes: int,
                  tariff: domain.Tariff) -> domain.Decision:
    """The membership to draw on and the charge; pay-per-use (at the tariff) only when no
    membership allows the booking and the resource is open to it — then, and only then, is it
    asked whether the service knows the member (one query off the hot path)."""
    options = [(m.rights, m.usage) for m in held]
    try:
        return domain.decide(options, resource["kind"], day, minutes,
                             store.plans_allowed(resource), tariff)
    except domain.RuleViolation:
        if not resource["pay_per_use"]:
            raise
        return domain.decide(options, resource["kind"], day, minutes,
                             store.plans_allowed(resource), tariff, pay_per_use=True,
                             known_member=await store.is_known_member(conn, member_id))


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
                 policy: Policy, reason: str | None = None) -> asyncpg.Record:
    """`by`: member, staff or system (with a `reason` code). Only a member's own late
    cancellation is charged."""
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
    late, charged = domain.cancellation_charge(booking["charged_cents"], booking["starts_at"],
                                               now, policy.cancel_cutoff)
    if by in ("staff", "system"):
        late, charged = False, 0  # the house cancelled: never the member's fault
    await store.set_booking_status(conn, booking_id, "cancelled", now, charged)
    cancelled = await store.record_cancellation(conn, booking_id, by=by, reason=reason,
                                                late=late)
    await add_event(conn, ev.BookingCancelled(
        booking_id=booking_id, member_id=booking["member_id"], cancelled_by=by,  # type: ignore[arg-type]
        late=late, charged_cents=charged, cancelled_at=now, reason=reason), source=SOURCE)
    await _release(conn, booking, now, policy)
    return cancelled


async def cancel_by_system(conn: asyncpg.Connection, bookings: list[asyncpg.Record], *,
                           reason: str, now: datetime, policy: Policy) -> int:
    """Cancel what a change made impossible; `booking.cancelled` says `system` and why, so
    vouchers reverse their redemptions and notifications tell the member. Bookings a member or
    staff already moved on from (no longer confirmed) are left alone."""
    cancelled = 0
    for booking in bookings:
        current = await store.booking_by_id(conn, booking["id"])
        if current is None or current["status"] != "confirmed":
            continue
        await cancel(conn, booking["id"], by="system", now=now, policy=policy, reason=reason)
        cancelled += 1
    return cancelled


async def follow_ended_membership(conn: asyncpg.Connection, member_id: UUID,
                                  membership_id: UUID, *, ended_at: datetime, reason: str,
                                  now: datetime, policy: Policy) -> None:
    """A membership was cancelled or expired: each confirmed booking drawn on it from then on
    moves to another live membership of the member that allows it at no higher charge, or is
    cancelled by the system."""
    orphans = []
    for booking in await store.future_bookings_drawn_on(conn, membership_id, ended_at):
        other = await _covering_membership(conn, member_id, booking)
        if other is None:
            orphans.append(booking)
        else:
            await store.redraw_booking(conn, booking["id"], other)
    await cancel_by_system(conn, orphans, reason=reason, now=now, policy=policy)


async def _covering_membership(conn: asyncpg.Connection, member_id: UUID,
                               booking: asyncpg.Record) -> UUID | None:
    resource = await store.resource_by_id(conn, booking["resource_id"])
    assert resource is not None
    held = await store.memberships_with_usage(conn, member_id, booking["local_day"])
    try:
        decision = domain.decide(
            [(m.rights, m.usage) for m in held if m.rights.membership_id != booking["membership_id"]],
            booking["resource_kind"], booking["local_day"], booking["minutes"],
            store.plans_allowed(resource),
            domain.Tariff(booking["price_cents"], resource["price_per_hour_cents"]))
    except domain.RuleViolation:
        return None
    if decision.rights is None or decision.charged_cents > booking["charged_cents"]:
        return None
    return decision.rights.membership_id


async def follow_erased_member(conn: asyncpg.Connection, member_id: UUID, *,
                               erased_at: datetime, now: datetime, policy: Policy) -> None:
    """Every booking of an erased member from the erasure on is cancelled by the system."""
    await cancel_by_system(conn, await store.future_bookings_of_member(conn, member_id, erased_at),
                           reason="member_erased", now=now, policy=policy)


async def check_in(conn: asyncpg.Connection, booking_id: UUID, *, now: datetime,
                   policy: Policy, by: str = "member") -> asyncpg.Record:
    booking = await booking_for_update(conn, booking_id)
    if booking["status"] != "confirmed":
        raise domain.RuleViolation("not_checkable", f"the booking is {booking['status']}",
                                   status=409)
    if await store.member_is_suspended(conn, booking["member_id"]):
        raise domain.RuleViolation("membership_suspended",
                                   "the member's membership is suspended: no check-in",
                                   "member_id", status=403)
    if not domain.check_in_allowed(booking["starts_at"], now, policy.check_in_early,
                                   policy.no_show_grace):
        raise domain.RuleViolation(
            "outside_check_in_window",
            f"check-in opens {int(policy.check_in_early.total_seconds() // 60)} minutes before "
            f"the start and closes {int(policy.no_show_grace.total_seconds() // 60)} after it",
            status=409)
    checked = await store.mark_checked_in(conn, booking_id, now, by)
    await scheduler.cancel(conn, NO_SHOW_JOB, str(booking_id))
    await add_event(conn, ev.BookingCheckedIn(booking_id=booking_id,
                                              member_id=booking["member_id"], at=now),
                    source=SOURCE)
    return checked


async def check_in_at_desk(conn: asyncpg.Connection, space_id: UUID, member_id: UUID, *,
                           now: datetime, policy: Policy) -> asyncpg.Record:
    """Staff check a member in at the desk: the member's booking in the space whose check-in
    window is open now (the earliest, when two are)."""
    booking = await store.checkable_booking(conn, space_id, member_id,
                                            now - policy.no_show_grace, now + policy.check_in_early)
    if booking is None:
        raise domain.RuleViolation("nothing_to_check_in", "the member has no booking here to "
                                   "check in now: book a walk-in first", "member_id",
                                   status=409)
    return await check_in(conn, booking["id"], now=now, policy=policy, by="staff")


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
    check_in_service(resource)
    domain.check_interval(space, store.resource_rules(resource), start, end, now)
    day = domain.local(start, space).date()
    held = [store.Drawable(m.rights, domain.Usage(), m.usage_version)
            for m in await store.memberships_with_usage(conn, member_id, day)]
    await _decide(conn, member_id, resource, held, day, domain.minutes_between(start, end),
                  domain.Tariff())
    if await store.clashing_booking(conn, resource, start, end) is None:
        raise domain.RuleViolation("slot_is_free", "the slot is free: book it instead", "start",
                                   status=409)
    return await store.insert_waitlist(conn, entry_id=uuid4(), member_id=member_id,
                                       resource_id=resource["id"], start=start, end=end, now=now)


async def withdraw_from_waitlist(conn: asyncpg.Connection, entry_id: UUID) -> asyncpg.Record:
    """A waiting request is withdrawn (again: nothing changes); a promoted one is a booking
    now — cancel that instead (409)."""
    entry = await store.waitlist_entry(conn, entry_id, for_update=True)
    if entry is None:
        raise NotFound("waitlist entry", entry_id)
    if entry["status"] == "promoted":
        raise domain.RuleViolation("already_promoted", "the request became a booking: cancel "
                                   "the booking instead", status=409)
    await store.withdraw_entry(conn, entry_id)
    return entry


async def cancel_series(conn: asyncpg.Connection, series_id: UUID, *, from_day: date | None,
                        by: str, now: datetime, policy: Policy) -> list[asyncpg.Record]:
    """Every confirmed occurrence not yet started (from the local day `from_day` on, when
    given) is cancelled as one cancellation each: each its own `booking.cancelled`, late and
    charged by the same rule as a single booking. Answers the cancelled bookings."""
    cancelled = []
    for booking in await store.bookings_of_series(conn, series_id):
        if booking["status"] != "confirmed" or booking["starts_at"] <= now:
            continue
        if from_day is not None and booking["local_day"] < from_day:
            continue
        cancelled.append(await cancel(conn, booking["id"], by=by, now=now, policy=policy))
    return cancelled


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
