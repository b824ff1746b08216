"""Spaces and resources: creating and changing them, and cancelling the bookings a change
forbids."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.booking import domain, store
from cowork.booking.commands.cancellation import cancel_by_system
from cowork.booking.commands.policy import SOURCE, Policy
from cowork.shared.events import contracts as ev
from cowork.shared.http import NotFound
from cowork.shared.outbox import add_event


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
