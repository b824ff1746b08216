"""Booking a resource: every rule checked, then one statement writes the booking, its event
and its jobs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg

from cowork.booking import domain, store
from cowork.booking.commands.policy import COMPLETE_JOB, NO_SHOW_JOB, SOURCE, Policy, Taken
from cowork.shared.events import contracts as ev
from cowork.shared.http import NotFound
from cowork.shared.outbox import outbox_values

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
        decision = await decide(conn, member_id, resource, held, day, minutes, tariff)
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


async def decide(conn: asyncpg.Connection, member_id: UUID, resource: asyncpg.Record,
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
